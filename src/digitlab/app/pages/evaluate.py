"""Evaluate: the stored test-set results of the four models (read from disk, nothing retrained)."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from digitlab.app import images
from digitlab.app.loaders import mnist
from digitlab.evaluate import stored_metrics
from digitlab.models.registry import display_name, model_ids

GALLERY_SIZE = 48
ANY = "Any"


def comparison_frame(results: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Model": r["display_name"],
                "Accuracy": r["accuracy"],
                "Macro precision": r["precision_macro"],
                "Macro recall": r["recall_macro"],
                "Macro F1": r["f1_macro"],
                "Training time (s)": r.get("train_seconds"),
                "Latency (ms/image)": r["latency_ms"],
                "Artifact size (KiB)": r["artifact_bytes"] / 1024,
            }
            for r in results
        ]  # fmt: skip
    )


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
    base = alt.Chart(cells).encode(
        x=alt.X("Predicted digit:O", axis=alt.Axis(labelAngle=0)), y="True digit:O"
    )
    heat = base.mark_rect().encode(
        color=alt.Color("Shade:Q", scale=alt.Scale(scheme="blues"), legend=None),
        tooltip=["True digit", "Predicted digit", "Count"],
    )
    text = base.mark_text(fontSize=11).encode(
        text="Count:Q",
        color=alt.condition(alt.datum.Shade > 4, alt.value("white"), alt.value("black")),
    )
    return (heat + text).properties(height=380)


def per_class_frame(result: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Digit": d,
                "Precision": c["precision"],
                "Recall": c["recall"],
                "F1": c["f1"],
                "Support": c["support"],
            }
            for d, c in result["per_class"].items()
        ]  # fmt: skip
    )


def show_gallery(results: list[dict]) -> None:
    st.subheader("Misclassified test digits")
    by_name = {r["display_name"]: r for r in results}
    a, b, c = st.columns(3)
    name = a.selectbox("Model", list(by_name), key="gallery_model")
    true = b.selectbox("True digit", [ANY, *range(10)], key="gallery_true")
    predicted = c.selectbox("Predicted digit", [ANY, *range(10)], key="gallery_predicted")
    mistakes = [
        m for m in sorted(by_name[name]["misclassified"], key=lambda m: -m["confidence"])
        if true in (ANY, m["true"]) and predicted in (ANY, m["predicted"])
    ]  # fmt: skip
    shown = min(len(mistakes), GALLERY_SIZE)
    st.caption(f"{len(mistakes)} mistakes match; showing the {shown} most confident ones.")
    test_images, _ = mnist("test")
    columns = st.columns(8)
    for i, m in enumerate(mistakes[:GALLERY_SIZE]):
        caption = f"true {m['true']}, said {m['predicted']} ({m['confidence']:.0%})"
        columns[i % 8].image(images.pixels(test_images[m["index"]], 3), caption=caption)


st.title("Evaluate")
st.caption("The models on MNIST's 10,000 official test digits, as measured after training.")
results = [r for r in map(stored_metrics, model_ids()) if r is not None]
missing = [display_name(m) for m in model_ids() if stored_metrics(m) is None]
if missing:
    st.info(f"No stored results yet for {', '.join(missing)}: run `digitlab train` to make them.")
if results:
    percent = st.column_config.NumberColumn(format="percent")
    st.dataframe(
        comparison_frame(results),
        hide_index=True,
        column_config={
            "Accuracy": percent,
            "Macro precision": percent,
            "Macro recall": percent,
            "Macro F1": st.column_config.NumberColumn(format="%.4f"),
            "Training time (s)": st.column_config.NumberColumn(format="%.0f"),
            "Latency (ms/image)": st.column_config.NumberColumn(format="%.2f"),
            "Artifact size (KiB)": st.column_config.NumberColumn(format="%.0f"),
        },  # fmt: skip
    )
    st.caption(
        "Latency: median time of one already-preprocessed image through the model, on the "
        "machine that trained it. Training time includes choosing hyper-parameters."
    )
    st.subheader("Per model")
    for tab, result in zip(st.tabs([r["display_name"] for r in results]), results, strict=True):
        with tab:
            left, right = st.columns([1.3, 1])
            left.altair_chart(confusion_chart(result), width="stretch")
            left.caption("Confusion matrix: rows are the true digit, columns the answer.")
            right.dataframe(
                per_class_frame(result),
                hide_index=True,
                column_config={
                    k: st.column_config.NumberColumn(format="%.4f")
                    for k in ("Precision", "Recall", "F1")
                },  # fmt: skip
            )
    show_gallery(results)
