"""The Train page under ``streamlit.testing.v1.AppTest``: its checks on settings, the result
card, the experiments table, the guided experiments, and a real (tiny) run started from it.

The runs live in this module's own ``XDG_DATA_HOME``: two tiny logistic regressions trained
through the library (seconds each, once the user-like renders are cached), so no other test
module sees them.
"""

from __future__ import annotations

import csv
import io
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from digitlab.app import lab, loaders
from digitlab.errors import ModelError
from digitlab.evaluation import lab as lab_figures
from digitlab.models import runs
from digitlab.models.registry import display_name, model_ids
from digitlab.training import runs as training_runs
from digitlab.training.runs import (
    KNOBS,
    MAX_EPOCHS,
    MAX_TRAIN,
    MIN_TRAIN,
    PRESETS,
    run_settings,
    train_run,
)

HOME = Path(__file__).resolve().parents[1] / "src" / "digitlab" / "app" / "Home.py"
TIMEOUT = 180  # s per run: the first loads torch and measures the shipped model's card
TINY = {"train_size": 200, "C": 0.05}


def small_measures(patch: pytest.MonkeyPatch) -> None:
    """Calibration and result cards look at few images: the figures are not what is tested."""
    patch.setattr(lab_figures, "RENDERS_PER_KIND", 2)
    patch.setattr(training_runs, "RUN_PROBE", {"rendered": 20, "coarse": 10, "styled": 20,
                                               "negative": 40})  # fmt: skip
    lab_figures._renders.cache_clear()


@pytest.fixture(scope="module")
def data_home(tmp_path_factory) -> Iterator[Path]:
    """This module's runs: ``tiny-a`` and ``tiny-b``, tiny logistic regressions."""
    base = tmp_path_factory.mktemp("train-page-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(base))
        small_measures(patch)
        train_run("tiny-a", run_settings("logreg", "quick", **TINY))
        train_run("tiny-b", run_settings("logreg", "quick", augment=False, **TINY))
        yield base
    lab_figures._renders.cache_clear()


@pytest.fixture(scope="module")
def empty_home(tmp_path_factory) -> Iterator[Path]:
    """No runs yet: the page as a student first opens it."""
    base = tmp_path_factory.mktemp("train-page-empty")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(base))
        small_measures(patch)
        yield base
    lab_figures._renders.cache_clear()


def run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_train_page() -> AppTest:
    at = run(AppTest.from_file(str(HOME), default_timeout=TIMEOUT))
    return run(at.switch_page("pages/train.py"))


@pytest.fixture
def page(data_home) -> AppTest:
    """The page with two runs trained (slow tests)."""
    return open_train_page()


@pytest.fixture
def fresh_page(empty_home) -> AppTest:
    """The page before any run (the fast tests)."""
    return open_train_page()


def button(at: AppTest, label: str):
    [found] = [b for b in at.button if b.label == label]
    return found


def train_with(at: AppTest, **values) -> AppTest:
    """Set the settings' widgets by key (``train-...``), then press Train."""
    for key, value in values.items():
        at.session_state[key] = value  # as if typed: the callback reads the session state
    button(at, "Train").click()
    return run(at)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


# --- settings ----------------------------------------------------------------------------------


def test_the_page_starts_with_a_quick_cnn_named_my_cnn_1(fresh_page):
    assert fresh_page.radio(key="train-family").value == "cnn"
    assert fresh_page.radio(key="train-preset").value == "quick"
    assert fresh_page.number_input(key="train-cnn-quick-width").value == 16
    assert fresh_page.number_input(key="train-cnn-quick-epochs").value == 2
    assert fresh_page.number_input(key="train-cnn-quick-size").value == 10_000
    assert fresh_page.text_input(key="train-name-cnn").value == "my-cnn-1"
    assert not button(fresh_page, "Train").disabled


def test_a_family_shows_its_own_knobs_from_the_preset(fresh_page):
    fresh_page.radio(key="train-family").set_value("logreg")
    run(fresh_page)
    fresh_page.radio(key="train-preset").set_value("full")
    run(fresh_page)
    assert fresh_page.number_input(key="train-logreg-full-C").value == 0.05
    assert fresh_page.number_input(key="train-logreg-full-size").value == 55_000
    assert not [n for n in fresh_page.number_input if n.label == "Epochs"]  # fitted in one go
    assert fresh_page.text_input(key="train-name-logreg").value == "my-logreg-1"


def test_a_bad_name_is_one_sentence_and_nothing_starts(fresh_page):
    before = lab.trainer().job
    train_with(fresh_page, **{"train-name-cnn": "my run!"})
    assert errors(fresh_page) == [f"A run's name must be {runs.NAME_RULE}."]
    assert lab.trainer().job is before


@pytest.mark.parametrize("family", ["logreg", "ann", "cnn"])
def test_every_number_is_bounded_as_the_library_checks_it(fresh_page, family):
    """The inputs refuse what ``run_settings`` would: a student cannot type a value out of range
    (Streamlit keeps the last good one), so only names and replacements need a sentence."""
    fresh_page.radio(key="train-family").set_value(family)
    run(fresh_page)
    for knob, (_kind, low, high, what) in KNOBS[family].items():
        widget = fresh_page.number_input(key=f"train-{family}-quick-{knob}")
        assert (widget.min, widget.max) == (low, high)
        assert widget.value == PRESETS["quick"][family][knob]
        assert what.capitalize() in widget.help
    size = fresh_page.number_input(key=f"train-{family}-quick-size")
    assert (size.min, size.max) == (MIN_TRAIN, MAX_TRAIN)
    if family != "logreg":
        assert fresh_page.number_input(key=f"train-{family}-quick-epochs").max == MAX_EPOCHS


@pytest.mark.slow  # trains runs and measures their cards
def test_an_existing_name_asks_before_replacing(page):
    page.radio(key="train-family").set_value("logreg")
    run(page)
    page.text_input(key="train-name-logreg").set_value("tiny-a")
    run(page)
    assert any("A run named tiny-a exists" in w.value for w in page.warning)
    assert page.checkbox(key="train-replace").value is False
    before = lab.trainer().job
    button(page, "Train").click()
    run(page)
    assert errors(page) == ["A run named tiny-a exists: tick “Replace it” or choose another name."]
    assert lab.trainer().job is before


# --- results -----------------------------------------------------------------------------------


@pytest.mark.slow  # trains runs and measures their cards
def test_the_result_card_sets_the_run_beside_the_shipped_model(page):
    page.selectbox(key="train-card-run").set_value("tiny-a")
    run(page)
    labels = [m.label for m in page.metric]
    assert labels[:3] == ["Validation accuracy", "User-like accuracy", "Examples accuracy"]
    record = runs.read_run("tiny-a")
    assert page.metric[0].value == f"{100 * record['val_accuracy']:.1f}%"
    assert "points vs the shipped model" in page.metric[0].delta
    card = page.dataframe[0].value
    assert list(card.columns) == ["Figure", "Measured on", "tiny-a", "Shipped Logistic Regression"]
    assert card["Measured on"].str.len().min() > 10  # each figure says what it is measured on
    assert card["tiny-a"][0] == round(100 * record["val_accuracy"], 1)
    assert any("Look inside" in h.value for h in page.subheader)
    hint = [i.value for i in page.info if "appears in Recognise" in i.value]
    assert hint and display_name("run:tiny-a") in hint[0]


@pytest.mark.slow  # trains runs and measures their cards
def test_the_experiments_table_lists_every_run_side_by_side(page):
    [table] = [d.value for d in page.dataframe if "Run" in d.value.columns]
    assert sorted(table["Run"]) == ["tiny-a", "tiny-b"]
    row = table.set_index("Run").loc["tiny-b"]
    assert row["Family"] == "Logistic Regression"
    assert row["Training digits"] == 200
    assert not row["Augmentation"]
    assert 0 < row["Validation accuracy (%)"] <= 100
    assert 0 <= row["User-like accuracy (%)"] <= 100
    assert row["Size on disk (MB)"] > 0
    assert page.multiselect(key="overlay").value == ["tiny-a", "tiny-b"]


@pytest.mark.slow  # trains runs and measures their cards
def test_a_run_is_removed_only_once_confirmed(page, data_home):
    shutil.copytree(runs.run_path("tiny-b"), runs.run_path("doomed"))
    run(page)
    page.selectbox(key="remove-run").set_value("doomed")
    run(page)
    assert button(page, "Remove").disabled
    page.checkbox(key="remove-sure").check()
    run(page)
    button(page, "Remove").click()
    run(page)
    assert "doomed" not in runs.run_names()
    assert any(i.value == "Removed doomed." for i in page.info)
    [table] = [d.value for d in page.dataframe if "Run" in d.value.columns]
    assert "doomed" not in set(table["Run"])


@pytest.mark.slow  # trains runs and measures their cards
def test_a_lessons_outcome_shows_once_its_runs_exist(page, data_home):
    titles = " ".join(m.value for m in page.markdown)
    assert "Why preprocessing matters" in titles
    assert "about 1 minute" in titles
    assert not [s for s in page.success if "Logistic regression trained in" in s.value]
    for name in ("lesson-budget-logreg", "lesson-budget-cnn"):  # stand-ins, measured figures
        shutil.copytree(runs.run_path("tiny-a"), runs.run_path(name))
    try:
        run(page)
        [outcome] = [s.value for s in page.success if "Logistic regression trained in" in s.value]
        assert f"{100 * runs.read_run('tiny-a')['val_accuracy']:.1f}%" in outcome
    finally:
        for name in ("lesson-budget-logreg", "lesson-budget-cnn"):
            runs.remove_run(name)


# --- CSV ---------------------------------------------------------------------------------------


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised():
    frame = pd.DataFrame(
        {"Run": ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "plain"], "n": [1, 2, 3, 4, 5]}
    )
    rows = list(csv.reader(io.StringIO(lab.csv_bytes(frame).decode())))
    assert [r[0] for r in rows[1:]] == ["'=cmd|' /C calc'!A0", "'+1", "'-2", "'@SUM(A1)", "plain"]
    assert rows[0] == ["Run", "n"]


@pytest.mark.slow  # trains runs and measures their cards
def test_the_experiments_csv_has_a_row_a_run(data_home):
    frame = lab.experiments_frame(runs.list_runs())
    rows = list(csv.DictReader(io.StringIO(lab.csv_bytes(frame).decode())))
    assert [r["Run"] for r in rows] == ["tiny-a", "tiny-b"]
    assert rows[0]["Knobs"] == "C=0.05, max_iter=30"


# --- runs in the model picker --------------------------------------------------------------------


@pytest.mark.slow  # trains runs and measures their cards
def test_runs_join_the_model_picker_after_the_shipped_models(data_home):
    shipped = [display_name(m) for m in model_ids()]
    choices = loaders.model_choices()
    assert choices[: len(shipped)] == shipped
    assert choices[len(shipped) :] == [
        display_name("run:tiny-a"),
        display_name("run:tiny-b"),
        loaders.COMPARE_ALL,
    ]
    assert loaders.chosen_model_ids(loaders.COMPARE_ALL)[-2:] == ["run:tiny-a", "run:tiny-b"]
    assert loaders.chosen_model_ids(display_name("run:tiny-b")) == ["run:tiny-b"]


@pytest.mark.slow  # trains runs and measures their cards
def test_a_replaced_or_removed_run_is_never_served_stale(data_home):
    train_run("stale", run_settings("logreg", "quick", **TINY))
    first = loaders.get_model("run:stale")
    assert loaders.get_model("run:stale") is first
    time.sleep(0.01)  # a different record time, even on a coarse clock
    train_run("stale", run_settings("logreg", "quick", **TINY, seed=1), replace_existing=True)
    assert loaders.get_model("run:stale") is not first
    runs.remove_run("stale")
    with pytest.raises(ModelError):
        loaders.get_model("run:stale")


# --- a real run, started from the page ---------------------------------------------------------


def wait_for_end(at: AppTest, limit_s: float = 120) -> None:
    """Wait for the trainer's run to end, keeping it alive as the page's fragment would."""
    trainer, owner = lab.trainer(), at.session_state["train-owner"]
    started = time.monotonic()
    while trainer.job.running:
        trainer.heartbeat(owner)
        assert time.monotonic() - started < limit_s, "the tiny run did not end in time"
        time.sleep(0.5)


@pytest.mark.slow  # trains runs and measures their cards
def test_a_run_started_here_trains_blocks_other_sessions_and_shows_its_card(page, data_home):
    page.radio(key="train-family").set_value("logreg")
    run(page)
    train_with(page, **{"train-logreg-quick-size": 200, "train-name-logreg": "from-page"})
    assert not errors(page)
    job = lab.trainer().job
    try:
        assert (job.name, job.settings.family, job.settings.train_size) == (
            "from-page",
            "logreg",
            200,
        )
        if job.running:  # a tiny run can end before the page is drawn again
            assert any("Fitting in one go" in i.value for i in page.info)
            other = run(AppTest.from_file(str(HOME), default_timeout=TIMEOUT))
            run(other.switch_page("pages/train.py"))
            if job.running:
                busy = [w.value for w in other.warning]
                assert "Busy: someone is training from-page on this server." in busy[0]
                assert button(other, "Train").disabled
                assert all(b.disabled for b in other.button if b.label == "Run this experiment")
        assert page.text_input(key="train-name-logreg").value == "my-logreg-1"
        wait_for_end(page)
    finally:
        lab.trainer().stop()
    assert job.state == "done", job.message
    run(page)
    assert [s.value for s in page.success][0] == job.message
    assert page.selectbox(key="train-card-run").value == "from-page"
    assert "from-page" in runs.run_names()
