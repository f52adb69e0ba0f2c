"""What the Recognise page is showing, per input mode, kept in the session across reruns.

Streamlit forgets a widget's value when the widget is not drawn, so switching Upload / Draw /
Camera would throw the input away; and a multi-file uploader adds each new pick to the last.
Here each mode keeps its own input in ``st.session_state``: a new pick of files *replaces* what
was shown (several files chosen at once stay together), an example is one click, and each
mode's input is still there after a visit to another mode.

Uploads are bounded: at most ``MAX_FILES_PER_PICK`` files at once and ``MAX_SESSION_BYTES``
held per browser session. Once copied here, a pick is dropped from Streamlit's own upload
store, so the bytes live in one place and go with what they replace (or with the session).
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from digitlab.synth.examples import example

MODES = ("Upload", "Draw", "Camera")
MAX_FILES_PER_PICK = 30  # a class's worth of photos in one table
MAX_SESSION_BYTES = 100 * 1024 * 1024  # every mode's input together, per browser session
Input = tuple[str, bytes | np.ndarray]  # (a name to show, file bytes or the canvas's RGBA)


def _kept() -> dict[str, list[Input]]:
    return st.session_state.setdefault("kept_inputs", {mode: [] for mode in MODES})


def kept(mode: str) -> list[Input]:
    """The input that ``mode`` shows: [] when there is none."""
    return _kept()[mode]


def keep(mode: str, inputs: list[Input]) -> None:
    _kept()[mode] = inputs


def digest(source: bytes | np.ndarray) -> str:
    """A short fingerprint of an input (file bytes or a drawing), to key what belongs to it."""
    raw = source if isinstance(source, bytes) else np.ascontiguousarray(source).tobytes()
    return hashlib.sha256(raw).hexdigest()[:16]


def held_bytes(except_mode: str | None = None) -> int:
    """The bytes of input this session holds (all modes, but ``except_mode``'s)."""
    return sum(len(data) if isinstance(data, bytes) else data.nbytes
               for mode, inputs in _kept().items() if mode != except_mode
               for _, data in inputs)  # fmt: skip


def pick_refusal(sizes: list[int]) -> str | None:
    """Why a pick of files of these sizes is refused (one sentence), or None to take it."""
    if len(sizes) > MAX_FILES_PER_PICK:
        return (f"That is {len(sizes)} files: choose at most {MAX_FILES_PER_PICK} at once "
                "(a table of more would not fit a screen anyway).")  # fmt: skip
    total = sum(sizes) + held_bytes(except_mode="Upload")
    if total > MAX_SESSION_BYTES:
        return (f"Those files hold {total / 2**20:.0f} MB with your other inputs; at most "
                f"{MAX_SESSION_BYTES // 2**20} MB can be open at once: choose fewer or "
                "smaller files.")  # fmt: skip
    return None


def uploader_key() -> str:
    """A key per round: a fresh, empty uploader after each pick, so picks never pile up."""
    return f"upload-{st.session_state.setdefault('upload_round', 0)}"


def release(files) -> None:
    """Drop uploaded files from Streamlit's upload store (which keeps every file of a session
    until the session ends): once copied into the session, they are held once."""
    ctx = get_script_run_ctx()
    if ctx is None or ctx.uploaded_file_mgr is None:
        return
    for f in files:
        ctx.uploaded_file_mgr.remove_file(session_id=ctx.session_id, file_id=f.file_id)


def take_uploads() -> None:
    """The uploader's callback: the files just chosen replace what was shown (the last input
    and its message go, even when this pick is refused)."""
    files = st.session_state.get(uploader_key()) or []
    if files:
        refusal = pick_refusal([f.size for f in files])
        keep("Upload", [] if refusal else [(f.name, f.getvalue()) for f in files])
        st.session_state.upload_refusal = refusal
        st.session_state.example = None
        release(files)
    st.session_state.upload_round += 1


def upload_refusal() -> str | None:
    """The sentence refusing the last pick, or None."""
    return st.session_state.get("upload_refusal")


def take_example() -> None:
    """The example picker's callback: show that example (a row of digits as a number)."""
    name = st.session_state.get("example")
    if name is None:
        return
    chosen = example(name)
    keep("Upload", [(chosen.name, chosen.data)])
    st.session_state.upload_refusal = None
    st.session_state.number = chosen.is_number


def take_photo() -> None:
    """The camera's callback: keep the photo, so it survives a visit to another mode."""
    photo = st.session_state.get("camera")
    keep("Camera", [] if photo is None else [("Camera photo", photo.getvalue())])


def clear_uploads() -> None:
    keep("Upload", [])
    st.session_state.upload_refusal = None
    st.session_state.example = None


def keep_drawing(image: np.ndarray | None) -> None:
    """Remember the canvas's picture (the Draw mode's input); blank: no input."""
    blank = image is None or image[..., :3].max() < 32  # nothing drawn on the black background
    keep("Draw", [] if blank else [("Your drawing", image)])


# Draw mode's line under the canvas: for a finger as well as a keyboard (no Ctrl+Z on a phone).
# Short: on a phone the answer must still fit the first screen under the canvas.
DRAW_CAPTION = "One digit, large. Undo: the arrow above (or Ctrl+Z)."
CLEAR_LABEL = "Clear the drawing"
# The Clear button presses the canvas's own bin (in its shadow root), so that the canvas, its
# undo history and the answer all go back to empty exactly as with the bin.
CLEAR_JS = """
(() => {
  if (window.digitlabClear) return;
  window.digitlabClear = true;
  document.addEventListener("click", (event) => {
    if (!event.target.closest || !event.target.closest("button[data-digitlab-clear]")) return;
    const hosts = document.querySelectorAll('[data-testid="stBidiComponentIsolated"]');
    for (const host of hosts) {
      const bin = host.shadowRoot &&
        host.shadowRoot.querySelector('button[aria-label="Reset canvas & history"]');
      if (bin) bin.click();
    }
  });
})();
"""
CLEAR_HTML = (
    '<button type="button" data-digitlab-clear aria-label="{label}" '
    'style="font:inherit;padding:0.1rem 0.8rem;border-radius:0.5rem;cursor:pointer;'
    "border:1px solid rgba(49,51,63,0.3);background:transparent;color:inherit;"
    'min-height:2rem">🧹 Clear</button>'
)


def draw_controls() -> None:
    """Under the canvas: a labelled Clear button (large enough for a finger) and the caption."""
    # One element, on one line: on a phone the answer must still fit the first screen.
    caption = (
        '<span data-digitlab-draw-caption style="font-size:0.875rem;opacity:0.7;'
        f'margin-left:0.6rem">{DRAW_CAPTION}</span>'
    )
    st.html(
        CLEAR_HTML.format(label=CLEAR_LABEL) + caption + f"<script>{CLEAR_JS}</script>",
        unsafe_allow_javascript=True,
    )
