"""Recognise: upload, draw or photograph a digit (or a number) and see what the models say."""

import streamlit as st

from digitlab.app.loaders import COMPARE_ALL, ID_BY_NAME, MODEL_CHOICES
from digitlab.app.profile_state import sidebar_picker
from digitlab.models.registry import MODEL_IDS

CANVAS_SIDE = 280  # 10x MNIST's 28 px, so a 20 px pen ends up about MNIST's stroke width
PEN_WIDTH = 20


def uploaded_inputs() -> list[tuple[str, bytes]]:
    files = st.file_uploader(
        "Upload digit images",
        accept_multiple_files=True,
        key="upload",
        help="PNG, JPEG, WebP, BMP, GIF or TIFF; several files give a results table.",
    )
    return [(f.name, f.getvalue()) for f in files or []]


def clear_canvas() -> None:
    # A new key gives a fresh, empty canvas (its toolbar also has undo, redo and delete).
    st.session_state.canvas_round += 1


def drawn_input() -> list[tuple[str, object]]:
    # Imported here: the component needs a running Streamlit (see STACK.md).
    from streamlit_drawable_canvas import st_canvas

    st.session_state.setdefault("canvas_round", 0)
    st.space("small")  # room for the canvas's toolbar, which sits above its top-right corner
    result = st_canvas(
        stroke_width=PEN_WIDTH,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=CANVAS_SIDE,
        width=CANVAS_SIDE,
        drawing_mode="freedraw",
        return_image_data=True,
        key=f"canvas-{st.session_state.canvas_round}",
    )
    st.button("Clear", on_click=clear_canvas)
    st.caption("Draw one digit, large, in the middle (or a row of digits with Read a number).")
    drawing = result.image_data
    if drawing is None or drawing[..., :3].max() < 32:  # nothing drawn yet (black background)
        return []
    return [("Your drawing", drawing)]


def camera_input() -> list[tuple[str, bytes]]:
    photo = st.camera_input("Take a photo of a digit written on paper")
    return [("Camera photo", photo.getvalue())] if photo else []


def show_results(inputs: list[tuple[str, object]], model_ids: list[str], number: bool) -> None:
    # Imported here: the views pull in torch, and the widgets above should appear at once.
    from digitlab.app import teaching, views

    if number:
        for name, data in inputs:
            views.show_number(name, data, model_ids)
    elif len(inputs) == 1:
        views.show_single(*inputs[0], model_ids)
        teaching.offer_correction(*inputs[0], model_ids)
    else:
        views.show_batch(inputs, model_ids)


st.title("Recognise a handwritten digit")
st.caption(
    "Upload a photo or scan, draw, or use your camera: four models trained on MNIST answer, "
    "and each shows why."
)
source_column, model_column, mode_column = st.columns([1.4, 1, 1])
source = source_column.radio("Input", ["Upload", "Draw", "Camera"], horizontal=True, key="source")
choice = model_column.selectbox(
    "Model", MODEL_CHOICES, index=MODEL_CHOICES.index("CNN"), key="model"
)
read_a_number = mode_column.toggle(
    "Read a number", key="number", help="A row of digits, e.g. 2026."
)
model_ids = list(MODEL_IDS) if choice == COMPARE_ALL else [ID_BY_NAME[choice]]
sidebar_picker()

inputs = {"Upload": uploaded_inputs, "Draw": drawn_input, "Camera": camera_input}[source]()
if inputs:
    show_results(inputs, model_ids, read_a_number)
else:
    st.info("Give me a digit: upload an image, draw one, or take a photo.")
