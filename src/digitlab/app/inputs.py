"""What the Recognise page is showing, per input mode, kept in the session across reruns.

Streamlit forgets a widget's value when the widget is not drawn, so switching Upload / Draw /
Camera would throw the input away; and a multi-file uploader adds each new pick to the last.
Here each mode keeps its own input in ``st.session_state``: a new pick of files *replaces* what
was shown (several files chosen at once stay together), an example is one click, and each
mode's input is still there after a visit to another mode.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from digitlab.synth.examples import example

MODES = ("Upload", "Draw", "Camera")
Input = tuple[str, bytes | np.ndarray]  # (a name to show, file bytes or the canvas's RGBA)


def _kept() -> dict[str, list[Input]]:
    return st.session_state.setdefault("kept_inputs", {mode: [] for mode in MODES})


def kept(mode: str) -> list[Input]:
    """The input that ``mode`` shows: [] when there is none."""
    return _kept()[mode]


def keep(mode: str, inputs: list[Input]) -> None:
    _kept()[mode] = inputs


def uploader_key() -> str:
    """A key per round: a fresh, empty uploader after each pick, so picks never pile up."""
    return f"upload-{st.session_state.setdefault('upload_round', 0)}"


def take_uploads() -> None:
    """The uploader's callback: the files just chosen replace what was shown."""
    files = st.session_state.get(uploader_key()) or []
    if files:
        keep("Upload", [(f.name, f.getvalue()) for f in files])
        st.session_state.example = None
    st.session_state.upload_round += 1


def take_example() -> None:
    """The example picker's callback: show that example (a row of digits as a number)."""
    name = st.session_state.get("example")
    if name is None:
        return
    chosen = example(name)
    keep("Upload", [(chosen.name, chosen.data)])
    st.session_state.number = chosen.is_number


def take_photo() -> None:
    """The camera's callback: keep the photo, so it survives a visit to another mode."""
    photo = st.session_state.get("camera")
    keep("Camera", [] if photo is None else [("Camera photo", photo.getvalue())])


def clear_uploads() -> None:
    keep("Upload", [])
    st.session_state.example = None


def keep_drawing(json_data: dict | None, image: np.ndarray | None) -> None:
    """Remember the canvas's strokes (to redraw them later) and its picture (the input)."""
    st.session_state.drawing_json = json_data
    blank = image is None or image[..., :3].max() < 32  # nothing drawn on the black background
    keep("Draw", [] if blank else [("Your drawing", image)])


def restore_drawing() -> None:
    """The mode switch's callback: a canvas shown again starts with the last drawing's strokes.

    Taken once per switch, not on every rerun: a canvas whose starting drawing changes is
    redrawn from it and loses its undo history.
    """
    st.session_state.canvas_start = st.session_state.get("drawing_json")


def canvas_start() -> dict | None:
    return st.session_state.get("canvas_start")
