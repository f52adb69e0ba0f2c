"""Profiles in the web app under AppTest: 'Wrong? It's a ...', the Your handwriting page,
the demo mode that writes nothing, and profiles on disk with ``digitlab app --profiles``."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from digitlab.data.mnist import load_mnist
from digitlab.models.registry import display_name
from digitlab.profiles.store import Profile, profiles_dir

HOME = Path(__file__).resolve().parents[1] / "src" / "digitlab" / "app" / "Home.py"
TIMEOUT = 120


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("DIGITLAB_PROFILES", raising=False)


def paper(digits: list[np.ndarray]) -> bytes:
    """MNIST digits side by side as dark ink on white paper, enlarged, as PNG bytes."""
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


def first_of_each_digit() -> list[np.ndarray]:
    images, labels = load_mnist("train")
    return [images[np.flatnonzero(labels == d)[0]] for d in range(10)]


def predicted(at: AppTest) -> str:
    [metric] = [m for m in at.metric if m.label == "Predicted digit"]
    return metric.value


def test_wrong_its_a_teaches_in_one_click_and_says_what_changed():
    at = home()
    at.selectbox(key="model").set_value(display_name("knn"))
    three = first_of_each_digit()[3]
    at.file_uploader[0].set_value(("three.png", paper([three]), "image/png"))
    run(at)
    assert predicted(at) == "3"
    at.selectbox(key="teach_digit").set_value(5)
    run(at)
    at.button(key="teach_button").click()
    run(at)
    [message] = [s.value for s in at.success]
    assert message == ("Taught as 5 to profile 'this-session' (1 digit). "
                       "k-Nearest Neighbours now says 5 (was 3).")  # fmt: skip
    assert predicted(at) == "5"
    assert not profiles_dir().exists()  # demo mode: nothing on disk


@pytest.mark.slow  # AppTest runs of 2-13 s; one-click teaching and the drawn sheet stay fast
def test_your_handwriting_page_teaches_a_sheet_then_removes_and_resets():
    at = run(home().switch_page("pages/handwriting.py"))
    assert at.title[0].value == "Your handwriting"
    assert at.metric[0].value == "0"
    at.file_uploader(key="sheet").set_value(("row.png", paper(first_of_each_digit()), "image/png"))
    run(at)
    assert any(m.value.startswith("Read as **0123456789**") for m in at.markdown)
    at.button(key="sheet_confirm").click()
    run(at)
    assert at.success[0].value == "Taught 10 digits (0123456789)."
    assert at.metric[0].value == "10"
    removes = [b for b in at.button if b.label == "Remove"]
    assert len(removes) == 10
    removes[0].click()
    run(at)
    assert at.metric[0].value == "9"
    at.button(key="reset").click()
    run(at)
    assert at.metric[0].value == "0"
    assert not profiles_dir().exists()


@pytest.mark.slow  # AppTest runs of 2-13 s; one-click teaching and the drawn sheet stay fast
def test_disk_profiles_are_picked_in_the_sidebar_and_a_bad_upload_is_one_sentence(monkeypatch):
    monkeypatch.setenv("DIGITLAB_PROFILES", "1")
    digits = first_of_each_digit()
    Profile.open("me").teach_preprocessed([d / 255 for d in digits[:4]], [0, 1, 2, 3])
    at = run(home().switch_page("pages/handwriting.py"))
    assert at.info[0].value == "Pick or make a profile in the sidebar first."
    picker = at.sidebar.selectbox(key="profile_choice")
    assert picker.options == ["(none)", "me", "New profile..."]
    picker.set_value("me")
    run(at)
    assert at.metric[0].value == "4"
    picker = at.sidebar.selectbox(key="profile_choice")
    picker.set_value("New profile...")
    run(at)
    at.sidebar.text_input(key="new_profile_name").set_value("copy")
    run(at)
    exported = Profile.open("me").export_bytes()
    at.file_uploader(key="profile_upload").set_value(("me.npz", exported, "application/zip"))
    run(at)
    at.button(key="load_profile").click()
    run(at)
    assert at.success[0].value == r"Loaded 4 digits from me\.npz."
    assert len(Profile.open("copy", create=False)) == 4
    at.file_uploader(key="profile_upload").set_value(("bad.npz", b"nonsense", "application/zip"))
    run(at)
    at.button(key="load_profile").click()
    run(at)
    assert at.error[0].value.startswith(r"bad\.npz is damaged \(")


def test_the_sheet_can_be_drawn_instead_of_photographed():
    at = run(home().switch_page("pages/handwriting.py"))
    at.radio(key="sheet_source").set_value("Draw")
    run(at)
    assert any("Draw 0 1 2 3 4 5 6 7 8 9 in a row" in c.value for c in at.caption)
    assert not [u for u in at.get("file_uploader") if getattr(u, "key", None) == "sheet"]
    assert not at.warning and not at.error  # an empty canvas: nothing read, nothing said


HOSTILE_SOURCE = "![x](http://127.0.0.1:8999/track.png) **bold** :red[colour] [link](http://x)"


def test_a_profiles_sources_are_shown_as_plain_text_never_markdown(monkeypatch):
    monkeypatch.setenv("DIGITLAB_PROFILES", "1")
    digits = first_of_each_digit()
    Profile.open("me").teach_preprocessed([digits[3] / 255], [3], [HOSTILE_SOURCE])
    at = run(home().switch_page("pages/handwriting.py"))
    at.sidebar.selectbox(key="profile_choice").set_value("me")
    run(at)
    assert at.metric[0].value == "1"
    assert [t.value for t in at.text] == [HOSTILE_SOURCE[:24]]  # st.text: never parsed
    captions = [c for image in at.get("image") for c in image.captions]
    markdown = [e.value for kind in ("markdown", "caption", "success", "error", "info", "warning")
                for e in getattr(at, kind)] + captions  # fmt: skip
    assert captions == ["#1"]
    assert not [m for m in markdown if "![" in m or "](" in m or "**bold" in m]
