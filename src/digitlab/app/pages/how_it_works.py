"""How it works: the data, the preprocessing as pictures of each step on one real example
photo, and each model in a paragraph, with results."""

import streamlit as st

from digitlab.app.loaders import available_model, prepare
from digitlab.app.views import STEP_WIDTH, show_steps
from digitlab.data.splits import VALIDATION_SIZE
from digitlab.errors import DigitLabError
from digitlab.evaluation.calibration import trust_sentence
from digitlab.evaluation.mnist import ratio, stored_metrics
from digitlab.imaging.pipeline import describe_pipeline
from digitlab.models.registry import display_name, model_ids, model_spec
from digitlab.synth.examples import example

PIPELINE_EXAMPLE = "Photo"  # a phone photo: every step has something to do on it


def measured(model_id: str) -> str:
    try:
        r = stored_metrics(model_id)
    except DigitLabError as err:  # edited or damaged figures are never shown as measured
        return str(err)
    if r is None:
        return "Not trained yet, so nothing measured."
    return (
        f"Measured: **{ratio(r['accuracy'])}** test accuracy (macro F1 {ratio(r['f1_macro'])}), "
        f"{r['latency_ms']:.2f} ms per image, {r['artifact_bytes'] / 1024:.0f} KiB on disk. "
        + trust_sentence(model_id, display_name(model_id))
    )


def show_pipeline_on_example() -> None:
    """The example photo, then the picture each preprocessing step makes of it."""
    photo = example(PIPELINE_EXAMPLE)
    try:
        prepared = prepare(photo.data)
    except DigitLabError as err:  # the shipped example should always work: say it if not
        st.error(str(err))
        return
    st.image(photo.data, caption=f"The input: a phone photo of a {photo.text}", width=STEP_WIDTH)
    show_steps(prepared.steps)


def describe(model_id: str) -> str:
    model, _ = available_model(model_id)
    return model_spec(model_id).describe({} if model is None else model.config)


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
    "MNIST digits were made in a particular way, and a model trained on them expects exactly "
    "that; squeezing a whole photo into 28x28 does not give it. Every input (upload, drawing or "
    "photo) goes through the same pipeline. Here it is on one of the example photos; the "
    "Recognise page shows the same steps for yours."
)
show_pipeline_on_example()
with st.expander("Each step in words"):
    st.markdown(describe_pipeline())
st.header(f"The {len(model_ids())} models")
for model_id in model_ids():
    st.subheader(display_name(model_id))
    st.markdown(f"{describe(model_id)}\n\n{measured(model_id)}")
st.header("Honest limits")
st.markdown(
    "k-NN, the ANN and the CNN can say *this doesn't look like a single digit*: they learnt "
    "letters, scribbles and shapes made here, and refuse above a threshold chosen on the "
    "validation digits; real doodles can still get a digit, and Logistic Regression always "
    "answers one. Confidence is the better guide: when it falls under a threshold chosen on "
    "the validation digits, which no shipped model saw (half of that model's validation "
    "mistakes fall below it), the app says the model is unsure."
)
