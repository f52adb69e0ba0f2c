"""Recognise: upload, draw or photograph a digit (or a number) and see what the models say."""

from pathlib import Path

import streamlit as st

from digitlab.app import inputs
from digitlab.app.loaders import chosen_model_ids, model_choices
from digitlab.app.profile_state import sidebar_picker
from digitlab.models.registry import DEFAULT_MODEL, display_name
from digitlab.synth.examples import NAMES as EXAMPLES

CANVAS_SIDE = 280  # 10x MNIST's 28 px, so a 20 px pen ends up about MNIST's stroke width
PEN_WIDTH = 20
CANVAS_TOOLS = Path(__file__).parents[1] / "canvas_tools.js"
NO_CAMERA = (
    "No camera here: take the photo with your phone and choose **Upload**, or **Draw** the "
    "digit instead."
)
# The browser knows whether it has a camera; the server does not. Without one, only the
# sentence above shows (no empty photo box, no dead "Take Photo" button); with one, only the
# camera. Until the browser has answered, both show.
CAMERA_CHECK = """
<style>
.dl-camera-none .st-key-camera_box, .dl-camera-found .st-key-camera_missing {display: none}
</style>
<script>
(async () => {
  let found = false;
  try {
    const devices = await navigator.mediaDevices.enumerateDevices();
    found = devices.some(d => d.kind === "videoinput");
  } catch (e) { found = false; }
  const root = document.documentElement;
  root.classList.toggle("dl-camera-found", found);
  root.classList.toggle("dl-camera-none", !found);
})();
</script>
"""
INTRO = (
    "DigitLab reads handwritten digits with four machine-learning models and shows why: "
    "upload an image or pick an example, draw one, or take a photo to start."
)
EXAMPLE_LABELS = {"Chalkboard": "Board", "Row of digits": "2026"}  # one row on a phone
PHOTO_TIPS = """\
- **Fill the frame** with the digit: hold the phone close, the digit large and in the middle.
- **Dark pen on plain, light paper** (or chalk on a board): no lines or squares behind it.
- **Even light**: no shadow of your hand or phone across the digit.
- **One digit** per picture, or switch on *Read a number* for a row of digits (2026).
"""
DRAWING_TIPS = """\
- Draw **one digit**, large, in the middle of the square; or switch on *Read a number* and
  write a row of digits.
- Above the canvas: **undo** (Ctrl+Z), **redo** (Ctrl+Shift+Z), **edit** (move or resize a
  stroke) and the **bin**, which clears the canvas.
"""


def upload_input() -> list[inputs.Input]:
    files, examples = st.columns([3, 2])
    files.file_uploader(
        "Upload digit images",
        accept_multiple_files=True,
        key=inputs.uploader_key(),
        on_change=inputs.take_uploads,
        help="PNG, JPEG, WebP, BMP, GIF or TIFF. A new pick replaces the last one; "
        "choose several files at once for a results table.",
    )
    examples.pills(
        "Or try an example",
        EXAMPLES,
        format_func=lambda name: EXAMPLE_LABELS.get(name, name),
        key="example",
        on_change=inputs.take_example,
        help="Made here from MNIST validation digits: a phone photo, a scan, chalk on a board, "
        "a drawing app's white-on-transparent export and a row of digits to read as a number.",
    )
    shown = inputs.kept("Upload")
    if shown:
        examples.button("Clear all", on_click=inputs.clear_uploads, help="Remove every image")
    if inputs.upload_refusal():
        st.error(inputs.upload_refusal())
    return shown


def drawn_input(shown: bool) -> list[inputs.Input]:
    """The canvas, drawn in every mode (hidden but in the others), so that it is never rebuilt:
    a rebuilt canvas would start from the last drawing, and its bin and undo could not go back
    past it."""
    # Imported here: importing the component outside a running Streamlit raises an error.
    from streamlit_drawable_canvas import st_canvas

    with st.container(key="draw_area"):
        # Always one element here, so that the canvas keeps its place (a moved one is rebuilt).
        st.html(f"<style>{'' if shown else '.st-key-draw_area{display:none}'}</style>")
        st.space("small")  # room for the canvas's toolbar, which sits above its top-right corner
        result = st_canvas(
            stroke_width=PEN_WIDTH,
            stroke_color="#FFFFFF",
            background_color="#000000",
            height=CANVAS_SIDE,
            width=CANVAS_SIDE,
            drawing_mode="freedraw",
            return_image_data=True,
            key="canvas",
        )
        if result.image_data is not None:  # None until the canvas sends its first drawing
            inputs.keep_drawing(result.image_data)
        if shown:
            inputs.draw_controls()
    return inputs.kept("Draw")


def camera_input() -> list[inputs.Input]:
    with st.container(key="camera_missing"):
        st.caption(NO_CAMERA)
    with st.container(key="camera_box"):
        st.camera_input(
            "Take a photo of a digit written on paper", key="camera", on_change=inputs.take_photo
        )
    st.html(CAMERA_CHECK, unsafe_allow_javascript=True)
    return inputs.kept("Camera")


def show_results(shown: list[inputs.Input], model_ids: list[str], source: str) -> None:
    # Imported here: the views pull in torch, and the widgets above should appear at once.
    from digitlab.app import batch, teaching, views

    if st.session_state.number:
        for name, data in shown:
            views.show_number(name, data, model_ids, present=st.session_state.present)
    elif len(shown) == 1:
        name, data = shown[0]
        # A drawing stays on its canvas: showing it again would only push the answer down.
        views.show_single(
            name, data, model_ids, show_input=source != "Draw", present=st.session_state.present,
            footer=lambda: teaching.offer_correction(name, data, model_ids),
        )  # fmt: skip
    else:
        batch.show_batch(shown, model_ids)


st.title("Recognise a digit")
source_column, model_column, mode_column = st.columns([1.4, 1, 1.2])
source = source_column.radio(
    "Input",
    inputs.MODES,
    horizontal=True,
    key="source",
    label_visibility="collapsed",  # still its name for screen readers; a line less on a phone
)
choices = model_choices()
choice = model_column.selectbox(
    "Model", choices, index=choices.index(display_name(DEFAULT_MODEL)), key="model"
)
with mode_column.container(horizontal=True):  # one line, on a phone too
    st.toggle("Read a number", key="number", help="A row of digits, e.g. 2026.")
    st.toggle("Presentation", key="present", help="The answer in large type, for a projector.")
chosen = chosen_model_ids(choice)
sidebar_picker()

drawn = drawn_input(shown=source == "Draw")  # first, at the same place in every mode
shown = {"Upload": upload_input, "Draw": lambda: drawn, "Camera": camera_input}[source]()
if shown:
    show_results(shown, chosen, source)
else:
    st.info(INTRO)
if source == "Draw":
    with st.expander("Tips for drawing"):
        st.markdown(DRAWING_TIPS)
    # Last on the page: an element between the canvas and the answer would push the answer down.
    st.html(f"<script>{CANVAS_TOOLS.read_text()}</script>", unsafe_allow_javascript=True)
else:
    with st.expander("Tips for a good photo"):
        st.markdown(PHOTO_TIPS)
