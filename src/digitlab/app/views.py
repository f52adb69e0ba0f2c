"""Sections of the Recognise page: each draws one thing from the library's answers."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from digitlab import explain
from digitlab.app import images
from digitlab.app.loaders import available_model, prepare
from digitlab.errors import ImageError, ModelError, NoDigitError
from digitlab.inference import Prediction, predict_preprocessed
from digitlab.models.registry import display_name, model_spec

logger = logging.getLogger("digitlab.app")

NO_DIGIT = "No digit found in this image: try darker ink, a plain background or a closer crop."
NOT_A_DIGIT = "This doesn't look like a single digit."
SEVERAL_DIGITS = "It looks like several digits: switch on *Read a number* to read them all."
UNEXPECTED = "Something went wrong while reading this image; please try another one."
DIGITS = [str(d) for d in range(10)]
INPUT_WIDTH = 240  # px on the page for the input, next to the 28x28 at 7x (196 px)
STEP_WIDTH = 150
WHY_WIDTH = 224  # 28x28 at 8x


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn any failure inside the block into one short ``st.error`` sentence, never a trace."""
    try:
        yield
    except (ImageError, ModelError) as err:
        st.error(str(err))
    except NoDigitError:
        st.warning(NO_DIGIT)
    except Exception:
        logger.exception("unexpected error while handling an input")
        st.error(UNEXPECTED)


def loaded_models(model_ids: list[str]) -> tuple[dict, dict]:
    """({id: model} for the models that load, {id: why not} for the others)."""
    loaded = {model_id: available_model(model_id) for model_id in model_ids}
    models = {m: model for m, (model, _) in loaded.items() if model is not None}
    return models, {m: why_not for m, (model, why_not) in loaded.items() if model is None}


def predictions_for(image28: np.ndarray, models: dict) -> dict[str, Prediction]:
    return {m: predict_preprocessed(image28, model) for m, model in models.items()}


# --- one image ------------------------------------------------------------------------------


def show_input(source: bytes | np.ndarray, caption: str) -> None:
    if isinstance(source, bytes):
        st.image(images.display_image(source)[0], caption=caption, width=INPUT_WIDTH)
    else:
        st.image(source, caption=caption, width=INPUT_WIDTH)


def show_single(name: str, source: bytes | np.ndarray, model_ids: list[str]) -> None:
    """The full view of one input: input, 28x28, answer(s), probabilities, steps, why."""
    with friendly_errors():
        models, missing = loaded_models(model_ids)  # once per server: not part of the answer
        start = time.perf_counter()
        try:
            prepared = prepare(source)
        except NoDigitError:
            show_input(source, name)
            st.warning(NO_DIGIT)
            return
        predictions = predictions_for(prepared.image, models)
        ms = (time.perf_counter() - start) * 1000  # preprocessing (cached on reruns) + models
        left, middle, right = st.columns([1.2, 1, 1.6])
        with left:
            show_input(source, name)
        with middle:
            st.image(images.pixels(prepared.image, 7), caption="What the model sees (28x28)")
        with right:
            for why_not in missing.values():
                st.error(why_not)
            if len(model_ids) == 1 and predictions:
                show_answer(model_ids[0], predictions[model_ids[0]], ms)
            elif predictions:
                show_agreement(predictions, ms)
            if any(p.digit is None for p in predictions.values()) and holds_several_digits(source):
                st.info(SEVERAL_DIGITS)
        if len(model_ids) == 1 and predictions:
            show_probabilities(predictions[model_ids[0]])
        elif predictions:
            show_comparison(predictions)
        with st.expander("Preprocessing steps"):
            show_steps(prepared.steps)
        if predictions:
            st.subheader("Why this answer?")
            show_why_tabs(prepared.image, predictions)


def holds_several_digits(source: bytes | np.ndarray) -> bool:
    """Whether *Read a number* finds two or more digits in the input."""
    from digitlab.number import read_number

    try:
        return len(read_number(source).digits) >= 2
    except (ImageError, NoDigitError, ModelError):
        return False


def show_answer(model_id: str, prediction: Prediction, ms: float) -> None:
    name = display_name(model_id)
    if prediction.digit is None:
        st.metric("Predicted digit", "none")
        st.warning(f"{NOT_A_DIGIT} {name} refuses to guess; the chart shows what it would say.")
        st.caption(f"{name}, answered in {ms:.0f} ms on the server.")
        return
    digit_column, confidence_column = st.columns(2)
    digit_column.metric("Predicted digit", prediction.digit)
    confidence_column.metric("Confidence", f"{prediction.confidence:.0%}")
    st.caption(f"{name}, answered in {ms:.0f} ms on the server.")
    if prediction.low_confidence:
        st.warning(
            f"Low confidence: {name} is unsure about this one, so treat the answer with care."
        )


def show_agreement(predictions: dict[str, Prediction], ms: float) -> None:
    """The answer most models give; green only when every model gives it and none is unsure."""
    answered = [p for p in predictions.values() if p.digit is not None]
    refused = len(predictions) - len(answered)
    # The most common answer; a tie goes to the answer with the larger summed confidence.
    support: dict[int, tuple[int, float]] = {}
    for p in answered:
        count, total = support.get(p.digit, (0, 0.0))
        support[p.digit] = (count + 1, total + p.confidence)
    if not support:
        st.metric("Predicted digit", "none")
        st.warning(f"{NOT_A_DIGIT} None of the {len(predictions)} models reads a digit here.")
        st.caption(f"{len(predictions)} models answered in {ms:.0f} ms on the server.")
        return
    best = max(support, key=support.get)
    st.metric("Predicted digit", best, help="The answer most models give.")
    unsure = sum(p.low_confidence for p in answered)
    if len(predictions) == 1:
        st.info("Only one model is available to compare.")
    elif refused:
        st.warning(f"{refused} of {len(predictions)} models say: {NOT_A_DIGIT}")
    elif len(support) > 1:
        st.warning("The models disagree: look at the table below.")
    elif unsure:
        st.warning(f"All {len(predictions)} models say {best}, but {unsure} of them are unsure.")
    else:
        st.success(f"All {len(predictions)} models agree.")
    st.caption(f"{len(predictions)} models answered in {ms:.0f} ms on the server.")


def show_probabilities(prediction: Prediction) -> None:
    frame = pd.DataFrame({"Digit": DIGITS, "Probability": prediction.probabilities})
    frame["Answer"] = frame["Digit"] == str(prediction.digit)
    chart = (
        alt.Chart(frame, height=200)
        .mark_bar()
        .encode(
            x=alt.X("Digit:N", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("Probability:Q", scale=alt.Scale(domain=[0, 1])),
            color=alt.condition(alt.datum.Answer, alt.value("#d62728"), alt.value("#8aa6c1")),
            tooltip=["Digit", alt.Tooltip("Probability:Q", format=".3f")],
        )
    )
    st.altair_chart(chart, width="stretch")


def comparison_frame(predictions: dict[str, Prediction]) -> pd.DataFrame:
    rows = []
    for model_id, p in predictions.items():
        row = {"Model": display_name(model_id),
               "Digit": "none" if p.digit is None else str(p.digit),
               "Confidence": p.confidence, "Unsure": p.low_confidence or p.digit is None,
               "Probabilities": [float(v) for v in p.probabilities]}  # fmt: skip
        row |= {d: float(v) for d, v in zip(DIGITS, p.probabilities, strict=True)}
        rows.append(row)
    return pd.DataFrame(rows)


def show_comparison(predictions: dict[str, Prediction]) -> None:
    number = st.column_config.NumberColumn(format="%.3f", width="small")
    st.dataframe(
        comparison_frame(predictions),
        hide_index=True,
        column_config={
            "Confidence": st.column_config.ProgressColumn(
                format="percent", min_value=0, max_value=1
            ),
            "Probabilities": st.column_config.BarChartColumn(y_min=0.0, y_max=1.0),
            **dict.fromkeys(DIGITS, number),
        },
    )


def show_steps(steps: list[tuple[str, np.ndarray]]) -> None:
    columns = st.columns(4)
    for i, (title, step) in enumerate(steps):
        picture = images.to_uint8(step)
        if max(picture.shape) <= 40:
            picture = images.pixels(picture, 5)
        columns[i % 4].image(picture, caption=f"{i + 1}. {title}", width=STEP_WIDTH)


# --- why ------------------------------------------------------------------------------------


def likeliest_digit(prediction: Prediction) -> int:
    """The answer, or for a refused one the digit it would have said (explained as such)."""
    return int(np.argmax(prediction.probabilities))


def show_why_tabs(image28: np.ndarray, predictions: dict[str, Prediction]) -> None:
    if len(predictions) == 1:
        [(model_id, prediction)] = predictions.items()
        show_why(model_id, image28, likeliest_digit(prediction))
        return
    tabs = st.tabs([display_name(m) for m in predictions])
    for tab, (model_id, prediction) in zip(tabs, predictions.items(), strict=True):
        with tab:
            show_why(model_id, image28, likeliest_digit(prediction))


def show_why(model_id: str, image28: np.ndarray, digit: int) -> None:
    """The model's own *Why* views (its registry entry lists them), one after another."""
    model, why_not = available_model(model_id)
    if model is None:
        st.error(why_not)
        return
    with friendly_errors():
        for name in model_spec(model_id).why:
            show_explanation(explain.VIEWS[name](model, image28, digit))


def show_explanation(view: explain.Explanation) -> None:
    columns = st.columns(max(len(view.pictures), 2))
    for column, p in zip(columns, view.pictures, strict=False):
        if p.kind == "heatmap":
            column.image(images.heatmap(p.values, p.under), caption=p.caption, width=WHY_WIDTH)
        else:
            column.image(images.pixels(p.values, 3), caption=p.caption)
    st.caption(view.caption)


# --- several images -------------------------------------------------------------------------


BATCH_COLUMNS = ["Thumbnail", "Seen as", "File", "Model", "Digit", "Confidence", "Note"]


def batch_rows(name: str, data: bytes, model_ids: list[str]) -> list[dict]:
    """One row per (file, model): digit, confidence and a note; errors become the note."""
    row = {"File": name}
    try:
        prepared = prepare(data)
    except ImageError as err:
        return [row | {"Note": str(err)}]
    except NoDigitError:
        return [row | {"Thumbnail": images.data_uri(images.thumbnail(data)), "Note": NO_DIGIT}]
    row |= {"Thumbnail": images.data_uri(images.thumbnail(data)),
            "Seen as": images.data_uri(images.pixels(prepared.image, 2))}  # fmt: skip
    models, missing = loaded_models(model_ids)
    rows = [row | {"Model": display_name(m), "Note": why} for m, why in missing.items()]
    for model_id, p in predictions_for(prepared.image, models).items():
        note = p.refusal or ("low confidence" if p.low_confidence else "")
        rows.append(row | {"Model": display_name(model_id), "Digit": p.digit,
                           "Confidence": round(p.confidence, 4), "Note": note})  # fmt: skip
    return rows


def show_batch(files: list[tuple[str, bytes]], model_ids: list[str]) -> None:
    rows = []
    progress = st.progress(0.0, text=f"Reading {len(files)} images...")
    for i, (name, data) in enumerate(files):
        try:
            rows += batch_rows(name, data, model_ids)
        except Exception:
            logger.exception("unexpected error on %s", name)
            rows.append({"File": name, "Note": UNEXPECTED})
        progress.progress((i + 1) / len(files), text=f"Read {i + 1} of {len(files)} images")
    progress.empty()
    frame = pd.DataFrame(rows, columns=BATCH_COLUMNS)
    frame["Digit"] = frame["Digit"].astype("Int64")
    frame["Note"] = frame["Note"].fillna("")
    st.dataframe(
        frame,
        hide_index=True,
        row_height=64,
        column_config={
            "Thumbnail": st.column_config.ImageColumn("Image", width="small"),
            "Seen as": st.column_config.ImageColumn(
                "Seen as", width="small", help="The 28x28 image the model sees"
            ),
            "Confidence": st.column_config.NumberColumn(format="percent"),
        },
    )
    csv = frame.drop(columns=["Thumbnail", "Seen as"]).to_csv(index=False).encode()
    st.download_button("Download CSV", csv, "digitlab-predictions.csv", "text/csv")


# --- a number -------------------------------------------------------------------------------


def warn_unsure_digits(reading) -> None:
    unsure = [str(i + 1) for i, d in enumerate(reading.digits) if d.low_confidence]
    if unsure:
        where = ", ".join(unsure)
        st.warning(f"Low confidence on digit {where} (counting from the left): check it.")


def show_number(name: str, source: bytes | np.ndarray, model_ids: list[str]) -> None:
    """Read a row of digits with each chosen model; boxes from the first reading on the image."""
    with friendly_errors():
        from digitlab.number import read_number

        readings = {}
        for model_id in model_ids:
            model, why_not = available_model(model_id)
            if model is None:
                st.error(why_not)
            else:
                readings[model_id] = read_number(source, model=model)
        if not readings:
            return
        first = next(iter(readings.values()))
        if isinstance(source, bytes):
            picture, scale = images.display_image(source)
        else:
            picture, scale = images.Image.fromarray(images.to_uint8(source)), 1.0
        boxes = [tuple(d.box) for d in first.digits]
        labels = [str(d.digit) for d in first.digits]
        left, right = st.columns([1.3, 1])
        left.image(images.draw_boxes(picture, boxes, labels, scale), caption=name)
        with right:
            if not first.found:
                st.warning("No digits found in this image.")
                return
            if len(readings) == 1:
                st.metric("Number read", first.text)
                warn_unsure_digits(first)
            else:
                st.dataframe(
                    pd.DataFrame(
                        [
                            {
                                "Model": display_name(m),
                                "Number": r.text,
                                "Lowest digit confidence": min(d.confidence for d in r.digits),
                            }
                            for m, r in readings.items()
                        ]  # fmt: skip
                    ),
                    hide_index=True,
                    column_config={
                        "Lowest digit confidence": st.column_config.NumberColumn(format="percent")
                    },
                )
        columns = st.columns(max(len(first.digits), 1))
        for column, d in zip(columns, first.digits, strict=False):
            column.image(images.pixels(d.image, 3), caption=f"{d.digit} ({d.confidence:.0%})")
