"""The flows a live class hits (issue 18), under AppTest: a choice to teach that belongs to its
input, a batch read once however much it is marked, a sheet taught once, and uploads bounded
and replaced, with their message."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from digitlab.data.mnist import load_mnist

HOME = Path(__file__).resolve().parents[1] / "src" / "digitlab" / "app" / "Home.py"
TIMEOUT = 120


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("DIGITLAB_PROFILES", raising=False)


@pytest.fixture(scope="module")
def digits() -> list[np.ndarray]:
    """The first MNIST training image of each digit."""
    images, labels = load_mnist("train")
    return [images[np.flatnonzero(labels == d)[0]] for d in range(10)]


def paper(digits: list[np.ndarray]) -> bytes:
    row = np.concatenate([np.pad(255 - d, 10, constant_values=255) for d in digits], axis=1)
    image = Image.fromarray(row).resize((row.shape[1] * 6, row.shape[0] * 6), Image.BICUBIC)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def run(at: AppTest) -> AppTest:
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def home() -> AppTest:
    return run(AppTest.from_file(str(HOME), default_timeout=TIMEOUT))


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    chosen = [(name, data, "image/png") for name, data in files]
    at.file_uploader[0].set_value(chosen if len(chosen) > 1 else chosen[0])
    return run(at)


def predicted(at: AppTest) -> str:
    [metric] = [m for m in at.metric if m.label == "Predicted digit"]
    return metric.value


def test_the_digit_to_teach_is_chosen_afresh_for_each_input(digits):
    at = upload(home(), ("seven.png", paper([digits[7]])))
    at.selectbox(key="teach_digit").set_value(1)
    run(at)
    at.button(key="teach_button").click()
    run(at)
    assert at.success[0].value.startswith("Taught as 1 ")
    assert at.selectbox(key="teach_digit").value is None  # taught: nothing left to teach
    at.selectbox(key="teach_digit").set_value(1)  # chosen for this input, not taught
    run(at)
    upload(at, ("three.png", paper([digits[3]])))
    assert predicted(at) == "3"
    assert at.selectbox(key="teach_digit").value is None  # a new input: no digit chosen
    assert at.button(key="teach_button").disabled


def test_marking_a_batch_never_reads_it_again(digits, monkeypatch):
    from digitlab.app import batch

    reads = []
    read_file = batch.read_file
    monkeypatch.setattr(batch, "read_file", lambda *a: reads.append(a[0]) or read_file(*a))
    files = [(f"d{d}.png", paper([digits[d]])) for d in (1, 4, 7)]
    at = upload(home(), *files)
    assert sorted(reads) == ["d1.png", "d4.png", "d7.png"]
    key = batch.table_key(files)  # the files', not the run's
    assert key in at.session_state
    run(at)  # what each keystroke in the table does
    run(at)
    assert len(reads) == 3 and not at.get("progress")
    assert key in at.session_state  # the same table, so its marks stay
    downloads = [b.proto.label for b in at.get("download_button")]
    assert downloads == ["Download answers (CSV)", "Download accuracy (CSV)"]


def test_the_ten_digits_of_a_sheet_are_taught_once(digits):
    at = run(home().switch_page("pages/handwriting.py"))
    at.file_uploader(key="sheet").set_value(("row.png", paper(digits), "image/png"))
    run(at)
    at.button(key="sheet_confirm").click()
    run(at)
    assert at.metric[0].value == "10"
    assert at.button(key="sheet_confirm").disabled  # the same row cannot be taught again
    assert any("These ten digits are taught" in c.value for c in at.caption)
    run(at)
    assert at.metric[0].value == "10"


def test_a_new_pick_replaces_the_last_files_error(digits, monkeypatch):
    monkeypatch.setattr("digitlab.app.inputs.MAX_FILES_PER_PICK", 2)
    png = io.BytesIO()
    Image.new("L", (64, 64), 255).save(png, format="PNG")
    at = upload(home(), ("broken.png", png.getvalue()[:60]))
    assert "damaged" in at.error[0].value
    upload(at, *[(f"d{d}.png", paper([digits[d]])) for d in range(3)])  # one file too many
    assert [e.value for e in at.error] == [
        "That is 3 files: choose at most 2 at once (a table of more would not fit a screen anyway)."
    ]
    upload(at, ("two.png", paper([digits[2]])))
    assert predicted(at) == "2" and not at.error


def test_uploads_held_per_session_are_capped_and_not_kept_twice(digits, monkeypatch):
    from streamlit.runtime.uploaded_file_manager import UploadedFileManager

    monkeypatch.setattr("digitlab.app.inputs.MAX_SESSION_BYTES", 20_000)
    removed = []
    monkeypatch.setattr(UploadedFileManager, "remove_file", lambda self, **kw: removed.append(kw),
                        raising=False)  # fmt: skip
    big = paper(digits)  # a row of ten: larger than the cap
    assert len(big) > 20_000
    at = upload(home(), ("row.png", big))
    assert "MB can be open at once" in at.error[0].value
    assert at.session_state["kept_inputs"]["Upload"] == []
    upload(at, ("two.png", paper([digits[2]])))
    assert predicted(at) == "2" and not at.error
