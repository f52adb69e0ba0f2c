"""Evaluate: the stored test-set results of the four models (read from disk, nothing retrained).

Every figure comes from ``weights/<model>.metrics.json`` through the same functions that render
the README's table (``evaluate.comparison_rows``), so the page and the README always agree.
"""

from functools import partial

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from digitlab.app import images
from digitlab.app.loaders import mnist
from digitlab.errors import DigitLabError
from digitlab.evaluation.mnist import comparison_rows, per_class_rows, stored_metrics
from digitlab.models.registry import DEFAULT_MODEL, display_name, model_ids

GALLERY_SIZE = 48
ANY = "Any"


def confusion_chart(result: dict) -> alt.Chart:
    matrix = np.array(result["confusion_matrix"])
    cells = pd.DataFrame(
        [
            {"True digit": t, "Predicted digit": p, "Count": int(matrix[t, p])}
            for t in range(10)
            for p in range(10)
        ]  # fmt: skip
    )
    cells["Shade"] = np.log1p(cells["Count"])  # log: the diagonal (~1000) would hide mistakes
    cell = alt.selection_point(name="cell", fields=["True digit", "Predicted digit"])
    base = alt.Chart(cells).encode(
        x=alt.X("Predicted digit:O", axis=alt.Axis(labelAngle=0)), y="True digit:O"
    )
    heat = (
        base.mark_rect()
        .encode(
            color=alt.Color("Shade:Q", scale=alt.Scale(scheme="blues"), legend=None),
            tooltip=["True digit", "Predicted digit", "Count"],
        )
        .add_params(cell)
    )
    text = base.mark_text(fontSize=11).encode(
        text="Count:Q",
        color=alt.condition(alt.datum.Shade > 4, alt.value("white"), alt.value("black")),
    )
    return (heat + text).properties(height=380)


def filter_gallery(model_id: str) -> None:
    """A confusion-matrix cell's callback: show that model's (true, predicted) mistakes."""
    chosen = st.session_state[f"confusion-{model_id}"].selection.get("cell") or []
    if chosen:
        st.session_state.gallery_model = display_name(model_id)
        st.session_state.gallery_true = int(chosen[0]["True digit"])
        st.session_state.gallery_predicted = int(chosen[0]["Predicted digit"])


def gallery_caption(count: int, model: str, true: object, predicted: object) -> str:
    """What the gallery shows, in words; with nothing to show, what that means and what next."""
    if count == 0:
        if true != ANY and true == predicted:
            return f"Right answers are not mistakes: pick two different digits for {model}."
        which = " ".join(
            part for part in (
                f"a true {true}" if true != ANY else "",
                f"read as {predicted}" if predicted != ANY else "",
            ) if part
        )  # fmt: skip
        return (
            f"{model} made no such mistake ({which}) on the 10,000 test digits: "
            "choose another digit, another model, or click a non-empty cell of a confusion matrix."
        )
    if count == 1:
        return "1 mistake matches; here it is."
    if count <= GALLERY_SIZE:
        return f"{count} mistakes match; here they all are, the most confident first."
    return f"{count} mistakes match; here are the {GALLERY_SIZE} the model was surest of."


def show_gallery(results: list[dict]) -> None:
    st.subheader("Misclassified test digits")
    by_name = {r["display_name"]: r for r in results}
    default = next((r for r in results if r["model"] == DEFAULT_MODEL), results[0])
    # The start comes from Session State, not ``index``: a matrix cell's click sets the same
    # keys, and a widget given both logs a Streamlit warning.
    if st.session_state.get("gallery_model") not in by_name:
        st.session_state.gallery_model = default["display_name"]
    a, b, c = st.columns(3)
    name = a.selectbox("Model", list(by_name), key="gallery_model")
    true = b.selectbox("True digit", [ANY, *range(10)], key="gallery_true")
    predicted = c.selectbox("Predicted digit", [ANY, *range(10)], key="gallery_predicted")
    mistakes = [
        m for m in sorted(by_name[name]["misclassified"], key=lambda m: -m["confidence"])
        if true in (ANY, m["true"]) and predicted in (ANY, m["predicted"])
    ]  # fmt: skip
    caption = gallery_caption(len(mistakes), name, true, predicted)
    (st.caption if mistakes else st.info)(caption)
    test_images, _ = mnist("test")
    columns = st.columns(8)
    for i, m in enumerate(mistakes[:GALLERY_SIZE]):
        caption = f"true {m['true']}, said {m['predicted']} ({m['confidence']:.0%})"
        columns[i % 8].image(images.pixels(test_images[m["index"]], 3), caption=caption)


st.title("Evaluate")
st.caption("The models on MNIST's 10,000 official test digits, as measured after training.")
stored = {}
for model_id in model_ids():
    try:
        stored[model_id] = stored_metrics(model_id)
    except DigitLabError as err:  # edited or damaged figures: say so, show the others
        st.error(str(err))
results = [r for r in stored.values() if r is not None]
missing = [display_name(m) for m, r in stored.items() if r is None]
if missing:
    st.info(f"No stored results yet for {', '.join(missing)}: run `digitlab train` to make them.")
if results:
    st.table(pd.DataFrame(comparison_rows(results)).set_index("Model"))
    st.caption(
        "The same stored figures as the README's table. Latency: median time of one "
        "already-preprocessed image through the model, on the machine that measured it. "
        "Training time includes choosing hyper-parameters."
    )
    st.subheader("Per model")
    st.caption("Click a cell of a confusion matrix to see those mistakes in the gallery below.")
    for tab, result in zip(st.tabs([r["display_name"] for r in results]), results, strict=True):
        with tab:
            left, right = st.columns([1.3, 1])
            left.altair_chart(
                confusion_chart(result),
                width="stretch",
                key=f"confusion-{result['model']}",
                on_select=partial(filter_gallery, result["model"]),
                selection_mode="cell",
            )
            left.caption("Confusion matrix: rows are the true digit, columns the answer.")
            right.table(pd.DataFrame(per_class_rows(result)).set_index("Digit"))
    show_gallery(results)
