"""The Train page in a real browser: `digitlab app` on a local port, Playwright + Chromium.

A tiny CNN (500 digits, up to 30 epochs, 4 filters) is started from /train: its curves update
epoch by epoch, a second browser session sees the trainer busy and cannot start, and Stop ends
the run with nothing listed. The server keeps its runs in a folder of this test run. With
``DIGITLAB_SCREENSHOTS=docs/screenshots`` the page mid-run is saved as ``train.png`` there.
Needs Debian's ``/usr/bin/chromium`` (see ``test_browser.py``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api

from appserver import healthy, start_app_server, stop_app_server
from test_browser import CHROMIUM, CHROMIUM_ARGS, SLOW, VIEWPORT, free_port, open_tab

pytestmark = pytest.mark.slow

expect = sync_api.expect
RUN = "browser-cnn"


@pytest.fixture(scope="module")
def data_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("train-browser-data")


@pytest.fixture(scope="module")
def server(data_home, tmp_path_factory) -> Iterator[str]:
    """`digitlab app --port N` with its runs in ``data_home``, stopped at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("train-server") / "app.log"
    with pytest.MonkeyPatch.context() as patch, log_path.open("w") as log:
        patch.setenv("XDG_DATA_HOME", str(data_home))
        process = start_app_server(port, log)
        started = time.monotonic()
        try:
            while not healthy(url):
                if process.poll() is not None:
                    pytest.fail(f"`digitlab app` exited with {process.returncode}; see {log_path}")
                if time.monotonic() - started > 60:
                    pytest.fail(f"`digitlab app` did not answer within 60 s; see {log_path}")
                time.sleep(0.2)
            yield url
        finally:
            stop_app_server(process, url)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: install it with `apt-get install -y chromium`")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    named = os.environ.get("DIGITLAB_SCREENSHOTS")
    return Path(named) if named else tmp_path_factory.mktemp("screenshots")


def wait_until_idle(tab) -> None:
    expect(tab.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")
    expect(tab.locator('[data-stale="true"]')).to_have_count(0)


def type_into(tab, label: str, value: str) -> None:
    """Type a value into a labelled input and commit it (one page run), as a student would."""
    field = tab.get_by_label(label, exact=True)
    field.fill(value)
    field.press("Enter")
    wait_until_idle(tab)
    expect(field).to_have_value(value)


def screenshot_mid_run(tab, path: Path) -> None:
    """The page as it is (a run refreshes it every second, so it is never idle)."""
    expect(tab.locator('[data-testid^="stSkeleton"]')).to_have_count(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = tab.viewport_size
    content = tab.get_by_test_id("stMainBlockContainer").bounding_box()
    height = min(content["y"] + content["height"] + 24, size["height"])
    tab.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": size["width"], "height": height})


def open_train_page(browser, server: str):
    """A fresh session on the Train page, reached from the sidebar as students do. (A deep
    link to /train works too, but then the sidebar may list the pages folder's file names.)"""
    context, tab, offline = open_tab(browser, server, VIEWPORT)
    tab.get_by_test_id("stSidebarNav").get_by_role("link", name="Train").click()
    expect(tab).to_have_url(f"{server}/train")
    expect(tab.get_by_role("heading", name="Train your own model")).to_be_visible(timeout=SLOW)
    return context, tab, offline


def test_a_tiny_cnn_trains_live_blocks_other_sessions_and_stops(
    browser, server, data_home, screenshots
):
    context, tab, offline = open_train_page(browser, server)
    wait_until_idle(tab)
    type_into(tab, "Training digits", "500")
    type_into(tab, "Epochs", "30")  # the most allowed: still training at Stop
    type_into(tab, "Width (first-layer filters)", "4")
    type_into(tab, "Batch size", "16")  # more, smaller steps: time to look before it ends
    type_into(tab, "Run name", RUN)
    started = time.monotonic()
    tab.get_by_role("button", name="Train", exact=True).click()
    expect(tab.get_by_text(f"Training {RUN}")).to_be_visible()
    expect(tab.get_by_role("button", name="Stop")).to_be_visible()

    other, other_tab, other_offline = open_train_page(browser, server)
    expect(other_tab.get_by_text(f"Busy: someone is training {RUN}").first).to_be_visible()
    expect(other_tab.get_by_role("button", name="Train", exact=True)).to_be_disabled()
    other_offline.check()
    other.close()

    # Any epoch: a tiny epoch can end between two redraws of the page (one a second).
    expect(tab.get_by_text(re.compile(r"After epoch \d+:"))).to_be_visible(timeout=3 * SLOW)
    print(f"first epoch shown {time.monotonic() - started:.1f} s after Train")
    expect(tab.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
    expect(tab.get_by_text(re.compile(r"Epoch \d+ of 30"))).to_be_visible()  # the progress bar
    screenshot_mid_run(tab, screenshots / "train.png")
    tab.get_by_role("button", name="Stop").click()
    expect(tab.get_by_text("Stopped; nothing was saved.")).to_be_visible()
    print(f"stopped {time.monotonic() - started:.1f} s after Train")

    wait_until_idle(tab)
    expect(tab.get_by_role("button", name="Train", exact=True)).to_be_enabled()
    expect(tab.get_by_text("No runs yet")).to_be_visible()  # nothing listed as complete
    runs_dir = data_home / "digitlab" / "runs"
    assert not (runs_dir / RUN).exists()
    assert not list(runs_dir.glob(f".partial-{RUN}-*"))  # and nothing left half-written
    offline.check()
    context.close()
