"""*Look inside* a model: the learning lab's section that shows what a model holds and, for
the current digit, what its layers compute. Layout only: the pictures come from
``digitlab.answers.inside``; which views a model has is its ``inside_views`` (no branching
on model names here)."""

from __future__ import annotations

import numpy as np
import streamlit as st

from digitlab.answers import inside
from digitlab.app import images
from digitlab.app.loaders import get_model
from digitlab.errors import ModelError
from digitlab.models.registry import display_name
from digitlab.models.runs import is_run_id, run_name

MOSAIC_WIDTH = 720  # px: every mosaic is blown up to about this width
GAP_COLOUR = np.array([0.20, 0.42, 0.75], np.float32)  # blue: apart from any grey of a tile
NO_IMAGE = "Draw or upload a digit to see what each stage of the network makes of it."
SEVERAL_NETS = (
    "{name} is {count} nets trained alike from different random starts, whose answers are "
    "averaged; these pictures are of the first of them."
)
NOTHING_INSIDE = (
    "{name} has no layers of weights to show: it keeps the training digits themselves. "
    "The *Why* view shows the ones nearest to your digit."
)


def mosaic_picture(stack: np.ndarray, columns: int, signed: bool) -> np.ndarray:
    """``stack`` tiled, the gaps blue, each pixel blown up (nearest neighbour) into a square."""
    mosaic = inside.tile(stack, columns, gap=np.nan, signed=signed)
    gaps = np.isnan(mosaic)
    rgb = np.repeat(np.nan_to_num(mosaic)[..., None], 3, axis=2)
    rgb[gaps] = GAP_COLOUR
    return images.pixels(rgb, max(1, MOSAIC_WIDTH // mosaic.shape[1]))


def show_mosaic(stack: np.ndarray, caption: str, columns: int = 0, signed: bool = False) -> None:
    """A stack of small images as one mosaic (8 a row, 16 for large stacks); ``signed`` for
    weights: grey is zero, bright positive, dark negative."""
    columns = columns or (8 if len(stack) <= 32 else 16)
    st.image(mosaic_picture(stack, columns, signed), caption=caption, clamp=True)


def show_stages(model, image28: np.ndarray | None) -> None:
    st.markdown("**What each stage sees**")
    for stage in inside.cnn_stages(model, image28):
        channels, height, width = stage.maps.shape
        show_mosaic(
            stage.maps,
            f"{stage.name[0].upper()}{stage.name[1:]} ({channels}x{height}x{width}). Each square"
            " is one map: bright where its filter found what it looks for in your digit.",
        )
    st.caption("Later stages have smaller maps and more of them: the first stage finds "
               "strokes, later ones combinations of strokes.")  # fmt: skip


def show_filters(model, image28: np.ndarray | None) -> None:
    st.markdown("**The first layer's filters**")
    filters = inside.first_layer_filters(model)
    side = filters.shape[1]
    show_mosaic(
        filters,
        f"Each square is one filter of the first layer ({len(filters)} filters of {side}x{side} "
        "weights): bright means the filter looks for ink there, dark for background.",
        signed=True,
    )


def show_ann_weights(model, image28: np.ndarray | None) -> None:
    st.markdown("**The first layer's neurons**")
    weights = inside.ann_first_layer(model)
    show_mosaic(
        weights,
        f"Each square is one neuron of the first layer: its 784 weights laid out as the 28x28 "
        f"image it looks at. Bright pixels switch it on when there is ink there, dark ones "
        f"switch it off. These are the {len(weights)} neurons with the strongest weights.",
        signed=True,
    )


def show_templates(model, image28: np.ndarray | None) -> None:
    st.markdown("**One template per digit**")
    show_mosaic(
        inside.logreg_templates(model),
        "The templates of 0 to 9, left to right: bright pixels are evidence for that digit, "
        "dark ones against it. A digit's score adds up your straightened digit times its template.",
        columns=5,
        signed=True,
    )


VIEWS = {
    "stages": show_stages,
    "filters": show_filters,
    "weights": show_ann_weights,
    "templates": show_templates,
}


def show_snapshots(model_id: str, key: str) -> None:
    """A run's first layer after each epoch, with a slider so a student sees it form."""
    try:
        snapshots = inside.run_snapshots(run_name(model_id))
    except ModelError as err:
        st.warning(str(err))
        return
    if not snapshots:
        return
    st.markdown("**How the first layer formed, epoch by epoch**")
    epochs = [epoch for epoch, _ in snapshots]
    epoch = epochs[0]
    if len(epochs) > 1:
        epoch = st.select_slider("Epoch", options=epochs, value=epochs[-1], key=f"{key}-epoch")
    stack = dict(snapshots)[epoch]
    show_mosaic(
        stack,
        f"The first {len(stack)} units of the first layer after epoch {epoch}. Slide back to "
        "epoch 1 to see them start as noise and turn into stroke detectors.",
        signed=True,
    )


def show_inside(model_id: str, image28: np.ndarray | None, key: str = "inside") -> None:
    """Draw *Look inside* for ``model_id``: its weights and, with ``image28`` (a preprocessed
    28x28 digit), what its layers compute for it. ``key`` keeps the widgets apart when the
    section appears on more than one page."""
    try:
        model = get_model(model_id)
    except ModelError as err:
        st.warning(f"{display_name(model_id)} is not available: {err}")
        return
    views = inside.inside_views(model)
    if not views:
        st.info(NOTHING_INSIDE.format(name=display_name(model_id)))
    if image28 is None and any(view in inside.NEEDS_IMAGE for view in views):
        st.info(NO_IMAGE)
    count = len(getattr(model, "members", ()))
    if views and count > 1:
        st.caption(SEVERAL_NETS.format(name=display_name(model_id), count=count))
    for view in views:
        if image28 is not None or view not in inside.NEEDS_IMAGE:
            VIEWS[view](model, image28)
    if is_run_id(model_id):
        show_snapshots(model_id, key)
