# ruff: noqa: F811  (the fixtures imported from test_browser are used as arguments)
"""The app on a 390x844 phone (issue 18, "Phones and joining the class"), in a real browser.

Nothing wider than the screen (no horizontal scroll) on Recognise, with an answer and the Why
tabs, and on Evaluate; every tab of a tab row on screen; the Evaluate table shows its last
column; the sidebar closes after a page is picked; the drawing's caption does not ask a phone
for Ctrl+Z, and a labelled Clear button empties the canvas. Setup as in ``test_browser.py``
(its fixtures and helpers, imported): the app's own address only, every other request blocked.
"""

from __future__ import annotations

import re

import pytest

from test_browser import (  # noqa: F401  (fixtures: pytest finds them by name)
    PHONE,
    browser,
    choose_model,
    chromium_ready,
    draw_stroke,
    expect,
    open_tab,
    phone,
    predicted_digit,
    server,
    server_log,
    wait_until_idle,
)

pytestmark = pytest.mark.slow

WIDTH = "e => e.getBoundingClientRect().right > 1"  # the sidebar is out over the page
NO_OVERFLOW = "() => document.documentElement.scrollWidth <= window.innerWidth"


def overflow(tab) -> dict:
    return tab.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )


def off_the_right_edge(tab, locator) -> list[str]:
    """The texts of the elements that end beyond the window's right edge (or start left of 0)."""
    width = tab.viewport_size["width"]
    cut = []
    for element in locator.all():
        box = element.bounding_box()
        if box and (box["x"] < 0 or box["x"] + box["width"] > width + 1):
            cut.append(element.inner_text())
    return cut


def test_recognise_with_the_why_tabs_fits_a_phone(phone):
    phone.get_by_role("radio", name="Photo").click()
    expect(predicted_digit(phone)).to_have_text("3")
    wait_until_idle(phone)  # a choice made during a run can be lost with it
    choose_model(phone, "Compare all")
    # Four models at once, the first time on a possibly loaded machine: allow minutes.
    expect(phone.get_by_text("models answered in")).to_be_visible(timeout=180_000)
    wait_until_idle(phone)
    tabs = phone.get_by_role("tab")
    expect(tabs.filter(has_text="CNN").first).to_be_attached()
    assert off_the_right_edge(phone, tabs) == []  # the CNN tab is not hidden off the edge
    for name in [t.inner_text() for t in tabs.all()]:
        tabs.filter(has_text=name).first.click()  # each one opens
    wait_until_idle(phone)
    assert phone.evaluate(NO_OVERFLOW), overflow(phone)


def test_evaluate_fits_a_phone_with_its_tabs_and_its_whole_table(browser, server):
    context, tab, offline = open_tab(
        browser, server, PHONE, "evaluate", is_mobile=True, has_touch=True
    )
    expect(tab.get_by_role("heading", name="Evaluate", exact=True)).to_be_visible()
    wait_until_idle(tab)
    assert off_the_right_edge(tab, tab.get_by_role("tab")) == []
    table = tab.get_by_test_id("stTable").first
    table.scroll_into_view_if_needed()
    header = table.locator("thead th")
    last = header.last
    expect(last).to_be_visible()
    assert off_the_right_edge(tab, header) == []  # the last column is not cut
    assert tab.evaluate(NO_OVERFLOW), overflow(tab)
    offline.check()
    context.close()


def test_the_sidebar_closes_after_a_page_is_picked_on_a_phone(phone):
    sidebar = phone.get_by_test_id("stSidebar")
    phone.get_by_test_id("stExpandSidebarButton").click()
    phone.wait_for_function(WIDTH, arg=sidebar.element_handle())  # open over the page
    phone.get_by_test_id("stSidebarNav").get_by_role("link", name="How it works").click()
    expect(phone.get_by_role("heading", name="How it works", exact=True)).to_be_visible()
    phone.wait_for_function(f"e => !({WIDTH})(e)", arg=sidebar.element_handle(), timeout=10_000)
    box = sidebar.bounding_box()
    assert box is None or box["x"] + box["width"] <= 1, box  # nothing of it over the page


def test_drawing_on_a_phone_says_undo_without_a_keyboard_and_has_a_clear_button(phone):
    phone.get_by_test_id("stRadio").get_by_text("Draw", exact=True).click()
    expect(phone.locator("canvas.upper-canvas")).to_be_visible()
    caption = phone.locator("[data-digitlab-draw-caption]").filter(has_text="One digit")
    expect(caption).to_contain_text(re.compile("undo", re.IGNORECASE))
    expect(caption).not_to_contain_text(re.compile(r"^[^(]*Ctrl\+Z"))  # no keyboard-only hint
    clear = phone.get_by_role("button", name=re.compile("^Clear"))
    expect(clear).to_be_visible()
    draw_stroke(phone, (0.5, 0.15), (0.5, 0.85))
    expect(predicted_digit(phone)).to_have_text("1")
    clear.click()
    expect(predicted_digit(phone)).to_have_count(0)
    undo = phone.get_by_role("button", name="Undo", exact=True)  # the toolbar still works
    draw_stroke(phone, (0.5, 0.15), (0.5, 0.85))
    expect(predicted_digit(phone)).to_have_text("1")
    undo.click()
    expect(predicted_digit(phone)).to_have_count(0)
