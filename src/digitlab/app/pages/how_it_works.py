"""How it works: the data, the preprocessing and each model in a paragraph, with results."""

import streamlit as st

from digitlab.app.loaders import available_model
from digitlab.evaluate import ratio, stored_metrics
from digitlab.models.base import VALIDATION_SIZE
from digitlab.models.registry import DISPLAY_NAMES, MODEL_IDS


def measured(model_id: str) -> str:
    r = stored_metrics(model_id)
    if r is None:
        return "Not trained yet, so nothing measured."
    return (
        f"Measured: **{ratio(r['accuracy'])}** test accuracy (macro F1 {ratio(r['f1_macro'])}), "
        f"{r['latency_ms']:.2f} ms per image, {r['artifact_bytes'] / 1024:.0f} KiB on disk."
    )


def config(model_id: str) -> dict:
    model, _ = available_model(model_id)
    return {} if model is None else model.config


def describe(model_id: str) -> str:
    c = config(model_id)
    if model_id == "logreg":
        strength = f" (C = {c['C']})" if "C" in c else ""
        return (
            "One weight per pixel and class, and a softmax over the ten scores: a template "
            "matcher. The digit is deskewed first (its slant straightened), the variation a "
            f"single template per class cannot absorb. The regularisation strength{strength} was "
            "chosen on the validation digits."
        )
    if model_id == "knn":
        choice = f" (k = {c['k']}, blur {c['sigma']} px, {c['dims']} PCA dimensions)" if c else ""
        return (
            "Compares your digit with all 60,000 training digits and lets the closest ones vote, "
            "closer ones counting more. Digits are deskewed, blurred a little (so a stroke one "
            "pixel off still matches) and projected onto their main PCA directions before "
            f"distances are measured; these choices{choice} were made on the validation digits."
        )
    if model_id == "ann":
        hidden = " -> ".join(map(str, c.get("hidden", []))) or "two hidden layers"
        return (
            f"A multilayer perceptron: 784 pixels -> {hidden} -> 10, with batch norm and dropout. "
            "It sees pixels, not shapes, so it is trained on randomly distorted digits (shifts, "
            "rotations, elastic warps, thicker and thinner strokes) to generalise."
        )
    width = c.get("width", 24)
    return (
        f"A convolutional network: stacks of 3x3 filters ({width}, {2 * width} and {4 * width} "
        "channels) with batch norm and pooling, then a small dense layer. Filters look for "
        "strokes and their combinations anywhere in the image; training on distorted digits "
        "makes it hold up on people's own handwriting. It is the default model."
    )


st.title("How it works")
st.header("The data")
st.markdown(
    "**MNIST**: 70,000 handwritten digits, 28x28 grey pixels, written by American census staff "
    "and students: 60,000 for training and 10,000 for testing, each file checked against its "
    f"published SHA-256. {VALIDATION_SIZE:,} training digits are held out for every choice "
    "(hyper-parameters, early stopping, the low-confidence thresholds), so the test set is only "
    "used to measure."
)
st.header("The preprocessing")
st.markdown(
    """MNIST digits were made in a particular way, and a model trained on them expects exactly
that; squeezing a whole photo into 28x28 does not give it. Every input (upload, drawing or photo)
goes through the same pipeline, whose steps you can see on the Recognise page:

1. decode the file safely (size checked before any pixel is read, EXIF rotation applied);
2. decide whether the ink is darker or lighter than the paper, and make the ink white on black;
3. remove uneven lighting and shadows;
4. find the digit: threshold the ink, drop specks and marks along the border;
5. crop the digit and bring its stroke width into MNIST's range;
6. fit it into a 20x20 box keeping its shape, and place it in 28x28 by its centre of mass.
"""
)
st.header("The four models")
for model_id in MODEL_IDS:
    st.subheader(DISPLAY_NAMES[model_id])
    st.markdown(f"{describe(model_id)}\n\n{measured(model_id)}")
st.header("Honest limits")
st.markdown(
    "A model answers with one of ten digits even for a letter or a scribble; its confidence is "
    "a better guide. When it falls under a threshold chosen on the validation digits (half of "
    "that model's validation mistakes fall below it), the app says the model is unsure."
)
