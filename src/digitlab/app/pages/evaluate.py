"""Evaluate: the stored test-set results of the four models (read from disk, nothing retrained),
and the same models on a student's own labelled digits.

Every figure comes from ``weights/<model>.metrics.json`` through the same functions that render
the README's table (``evaluate.comparison_rows``), so the page and the README always agree. Own
digits (images plus a labels CSV, or a zip of ``0/``...``9/`` folders) get the report of
``digitlab evaluate-folder``, from ``evaluation.folder`` and ``evaluation.uploads``.
"""

from functools import partial

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from digitlab.app import images
from digitlab.app.loaders import mnist
from digitlab.app.text import plain
from digitlab.errors import DigitLabError
from digitlab.evaluation.calibration import trust
from digitlab.evaluation.folder import (
    GALLERY_MAX,
    evaluate_folder,
    miss_images,
    report_rows,
    summary_rows,
)
from digitlab.evaluation.mnist import comparison_rows, per_class_rows, stored_metrics
from digitlab.evaluation.report import temperature_cells
from digitlab.evaluation.tables import percent
from digitlab.evaluation.uploads import labelled_uploads
from digitlab.models.registry import DEFAULT_MODEL, display_name, model_ids

GALLERY_SIZE = 48
GALLERY_COLUMNS = 6
GALLERY_HEIGHT = 430  # px: beside the matrix (380 px high), scrolled inside, never below it
OWN_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff", "csv", "zip"]
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


def reliability_chart(figures: dict[str, dict]) -> alt.Chart:
    """Each model's reliability diagram on one chart: per bin of confidence, how often its
    answers were right; a calibrated model's points lie on the diagonal."""
    points = pd.DataFrame(
        [
            {
                "Model": display_name(m),
                "Confidence": b["confidence"],
                "Right": b["accuracy"],
                "Answers": b["count"],
            }
            for m, f in figures.items()
            for b in f["bins"]
        ]  # fmt: skip
    )
    diagonal = alt.Chart(pd.DataFrame({"Confidence": [0.0, 1.0], "Right": [0.0, 1.0]}))
    scale = alt.Scale(domain=[0, 1])
    ideal = diagonal.mark_line(color="grey", strokeDash=[4, 4]).encode(
        x=alt.X("Confidence:Q", scale=scale, title="Confidence (top probability)"),
        y=alt.Y("Right:Q", scale=scale, title="Share right"),
    )
    lines = (
        alt.Chart(points)
        .mark_line(point=True)
        .encode(
            x="Confidence:Q",
            y="Right:Q",
            color=alt.Color("Model:N", legend=alt.Legend(orient="bottom")),
            tooltip=[
                "Model",
                alt.Tooltip("Confidence:Q", format=".1%"),
                alt.Tooltip("Right:Q", format=".1%"),
                "Answers",
            ],
        )  # fmt: skip
    )
    return (ideal + lines).properties(height=320)


def show_reliability(model_ids: list[str]) -> None:
    """The reliability diagrams and what "unsure" means, from the stored validation figures
    of the weights loaded now."""
    st.subheader("How far confidence can be trusted")
    figures = {m: f for m in model_ids if (f := trust(m)) is not None}
    if not figures:
        st.info("No calibration figures are stored for these weights: run "
                "`.venv/bin/python benchmarks/bench_calibration.py` to measure them.")  # fmt: skip
        return
    digits = next(iter(figures.values()))["digits"]
    left, right = st.columns([1.3, 1])
    left.altair_chart(reliability_chart(figures), width="stretch")
    left.caption(f"On the {digits:,} validation digits no shipped model trained on, grouped by "
                 "confidence: points under the dashed diagonal are overconfident.")  # fmt: skip
    right.table(pd.DataFrame([
        {"Model": display_name(m), "ECE": percent(f["ece"], 2),
         **dict(zip(("Temperature", "ECE at temperature 1"), temperature_cells(f), strict=True)),
         "Sure answers wrong": percent(f["sure_wrong"], 2),
         "Unsure answers wrong": percent(f["unsure_wrong"], 0)}
        for m, f in figures.items()
    ]).set_index("Model"))  # fmt: skip
    right.caption(
        "ECE, the expected calibration error: how far confidence is from the share right, on "
        "average. The nets divide their scores by a temperature fitted on the validation "
        "digits (above 1 softens an overconfident net, below 1 sharpens an unsure one): it "
        "changes how sure they are, not what they answer. An answer is flagged unsure when its "
        "confidence is below the model's threshold; these are the error rates on each side of it."
    )


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
    st.markdown("**Misclassified test digits**")
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
    box = st.container(height=GALLERY_HEIGHT, border=False)
    columns = box.columns(GALLERY_COLUMNS)
    for i, m in enumerate(mistakes[:GALLERY_SIZE]):
        caption = f"{m['true']} → {m['predicted']} ({m['confidence']:.0%})"
        columns[i % GALLERY_COLUMNS].image(images.pixels(test_images[m["index"]], 3),
                                           caption=caption)  # fmt: skip


@st.cache_data(max_entries=2, show_spinner="Reading and answering your digits...")
def evaluate_own(files: tuple[tuple[str, bytes], ...], model_ids: tuple[str, ...]) -> dict:
    """The folder report of ``model_ids`` on uploaded ``(name, bytes)`` files, once per upload
    (the page reruns on every click): results, items, names left out, or one sentence."""
    try:
        items, left_out = labelled_uploads(list(files))
        results = evaluate_folder(items, model_ids)
    except DigitLabError as err:
        return {"error": str(err)}
    return {"results": list(results.values()), "items": items, "left_out": left_out}


def show_own_result(result: dict, items: list) -> None:
    """``digitlab evaluate-folder``'s report of one model: tables, then the misses gallery."""
    rows = report_rows(result)
    left, right = st.columns([1, 1.4])
    if len(rows["per_kind"]) > 1 or rows["per_kind"][0]["Kind"] != "all":
        left.dataframe(pd.DataFrame(rows["per_kind"]), hide_index=True)
    left.dataframe(pd.DataFrame(rows["per_digit"]), hide_index=True)
    if rows["confusions"]:
        left.caption("Most frequent confusions")
        left.dataframe(pd.DataFrame(rows["confusions"]), hide_index=True)
    misses = result["misses"][:GALLERY_MAX]
    shown = f"the first {len(misses)} of " if len(misses) < len(result["misses"]) else ""
    right.caption(f"Misses: {shown}{len(result['misses'])} (your image | what the model saw)"
                  if misses else "Misses: none.")  # fmt: skip
    if misses:
        by_file = {item.file: item for item in items}
        box = right.container(height=GALLERY_HEIGHT, border=False)
        columns = box.columns(6)
        for i, miss in enumerate(misses):
            source, seen = miss_images(by_file[miss["file"]], result["pipeline"])
            caption = f"{miss['truth']} → {miss['answer']} ({percent(miss['confidence'], 0)})"
            columns[2 * (i % 3)].image(images.to_uint8(source))
            columns[2 * (i % 3) + 1].image(images.pixels(seen, 2), caption=caption)
    with st.expander(f"Each miss and refusal by file ({len(result['misses'])} misses, "
                     f"{len(result['refused'])} refused or blank, counted as wrong)"):  # fmt: skip
        if rows["misses"]:
            st.dataframe(pd.DataFrame(rows["misses"]), hide_index=True)
        if rows["refused"]:
            st.dataframe(pd.DataFrame(rows["refused"]), hide_index=True)


def show_own_digits(trained: list[str]) -> None:
    """Upload labelled digits and see each model's report on them."""
    st.subheader("Your own digits")
    st.caption(
        "Upload a zip of folders 0 to 9 (each holding images of that digit), or images with a "
        "labels CSV (columns file,label and optionally kind, such as drawn or photo). Images "
        "that cannot be read or that a model refuses count as wrong and are listed apart."
    )
    files = st.file_uploader("Labelled digits", type=OWN_TYPES, accept_multiple_files=True,
                             key="own_digits")  # fmt: skip
    if not files:
        return
    if not trained:
        st.info("No model is trained yet: run `digitlab train` first.")
        return
    report = evaluate_own(tuple((f.name, f.getvalue()) for f in files), tuple(trained))
    if "error" in report:
        st.error(plain(report["error"]))
        return
    if report["left_out"]:
        st.caption(f"Not evaluated (not a labelled image): {len(report['left_out'])} file(s).")
    results = report["results"]
    st.dataframe(pd.DataFrame(summary_rows(results)), hide_index=True)
    for tab, result in zip(st.tabs([display_name(r["model"]) for r in results]), results,
                           strict=True):  # fmt: skip
        with tab:
            show_own_result(result, report["items"])


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
    st.caption("Click a cell of a confusion matrix to see those mistakes beside it.")
    matrices, gallery = st.columns([1, 1])
    with matrices:
        for tab, result in zip(st.tabs([r["display_name"] for r in results]), results,
                               strict=True):  # fmt: skip
            with tab:
                st.altair_chart(
                    confusion_chart(result),
                    width="stretch",
                    key=f"confusion-{result['model']}",
                    on_select=partial(filter_gallery, result["model"]),
                    selection_mode="cell",
                )
                st.caption("Confusion matrix: rows are the true digit, columns the answer.")
                with st.expander("Precision, recall and F1 per digit"):
                    st.table(pd.DataFrame(per_class_rows(result)).set_index("Digit"))
    with gallery:
        show_gallery(results)
    show_reliability([r["model"] for r in results])
show_own_digits([r["model"] for r in results])
