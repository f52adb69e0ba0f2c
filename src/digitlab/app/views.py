"""Sections of the Recognise page: each draws one thing from the library's answers."""

from __future__ import annotations

import html
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from digitlab.answers import explain
from digitlab.answers.agreement import NOT_A_DIGIT_HEADLINE, agreement, names, verb
from digitlab.answers.compare import loaded_models, predictions_for, shown_probabilities
from digitlab.answers.inference import Prediction
from digitlab.app import images
from digitlab.app.loaders import available_model, ink_map, picture, prepare, reads_as_row
from digitlab.contract import NO_DIGIT, NO_DIGIT_TIP, NO_DIGITS, NOT_A_DIGIT
from digitlab.errors import ImageError, ModelError, NoDigitError
from digitlab.evaluation.calibration import trust_sentence
from digitlab.models.registry import DEFAULT_MODEL, display_name, model_spec

logger = logging.getLogger("digitlab.app")

NO_DIGIT_ADVICE = f"{NO_DIGIT.rstrip('.')}: {NO_DIGIT_TIP[0].lower()}{NO_DIGIT_TIP[1:]}"
SEVERAL_DIGITS = "It looks like several digits: switch on *Read a number* to read them all."
UNEXPECTED = "Something went wrong while reading this image; please try another one."
DIGITS = [str(d) for d in range(10)]
NO_VALUE = "–"  # a table cell with nothing honest to show
NO_DIGIT_EVIDENCE = (
    "No chart: all of this model's evidence is for “not a digit”, so it has no digit to "
    "lean towards."
)
REFUSED_IN_BRACKETS = "In brackets: what a model that refuses would say if it had to pick a digit."
INPUT_WIDTH = 240  # px on the page for the input, next to the 28x28 at 7x (196 px)
SMALL_INPUT_WIDTH = 140  # beside two tables
STEP_WIDTH = 150
WHY_WIDTH = 224  # 28x28 at 8x
# Off the screen but read out: the usual "visually hidden" recipe.
SR_ONLY = (
    "position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;"
    "clip:rect(0,0,0,0);white-space:nowrap;border:0"
)
PROJECTOR_SIDE = 900  # px: the input as large as half of a projector's window
# The projector view covers the window; everything else is hidden (and cannot scroll), so
# nothing but the input, the answer and the way back is on the screen.
PROJECTOR_CSS = """
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"],
[data-testid="stHeader"] {display: none !important}
html, body, [data-testid="stMain"], [data-testid="stAppViewContainer"] {overflow: hidden !important}
[data-testid="stMain"] {visibility: hidden}
.dl-projector, .st-key-projector_back {visibility: visible}
.dl-projector {position: fixed; inset: 0; z-index: 999990; background: #fff; color: #111;
  display: flex; align-items: center; justify-content: center; gap: 4vw; padding: 5vh 4vw;
  box-sizing: border-box}
.dl-projector-input {max-width: 46vw; max-height: 86vh; min-width: 30vw; object-fit: contain;
  border: 3px solid #999; border-radius: 0.5rem; background: #fff}
.dl-projector-answer {flex: 1; min-width: 0; text-align: center}
.dl-present-digit {font-weight: 700; line-height: 1; color: #d62728; overflow-wrap: anywhere}
.dl-present-detail {font-size: clamp(1.25rem, 4.2vh, 2.6rem); line-height: 1.25;
  margin-top: 3vh}
.st-key-projector_back {position: fixed; top: 2vh; left: 2vw; z-index: 999991;
  width: auto !important}
.st-key-projector_back button p {font-size: 1.3rem}
@media (max-aspect-ratio: 1/1) {
  .dl-projector {flex-direction: column; gap: 3vh}
  .dl-projector-input {max-width: 90vw; max-height: 42vh; min-width: 0}
}
"""


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn any failure inside the block into one short ``st.error`` sentence, never a trace."""
    try:
        yield
    except (ImageError, ModelError) as err:
        st.error(str(err))
    except NoDigitError:
        st.warning(NO_DIGIT_ADVICE)
    except Exception:
        logger.exception("unexpected error while handling an input")
        st.error(UNEXPECTED)


# --- one image ------------------------------------------------------------------------------


def show_source(source: bytes | np.ndarray, caption: str, width: int = INPUT_WIDTH) -> None:
    if isinstance(source, bytes):
        st.image(picture(source)[0], caption=caption, width=width)
    else:
        st.image(source, caption=caption, width=width)


def show_single(
    name: str,
    source: bytes | np.ndarray,
    model_ids: list[str],
    show_input: bool = True,
    present: bool = False,
    footer: Callable[[], None] | None = None,
) -> None:
    """The full view of one input: answer(s) first (right under the input on a phone), then
    the input, the 28x28 and the probabilities, the steps, why, and ``footer`` (the page's
    correction). The footer is drawn before the Why views are computed (they are the slow
    part), so a correction's confirmation shows at once."""
    with friendly_errors():
        # Once per server: not part of the answer.
        models, missing = loaded_models(model_ids, available_model)
        start = time.perf_counter()
        try:
            prepared = prepare(source)
        except NoDigitError:
            announce(NO_DIGIT_ADVICE)
            if present:
                show_presentation(projector_picture(source), "no digit", NO_DIGIT_ADVICE)
                return
            st.warning(NO_DIGIT_ADVICE)
            if show_input:
                show_source(source, name)
            return
        predictions = predictions_for(prepared.image, models)
        ms = (time.perf_counter() - start) * 1000  # preprocessing (cached on reruns) + models
        for why_not in missing.values():
            st.error(why_not)
        if not predictions:
            return
        if present:  # the projector view, alone: the details are one click away (Back)
            present_answers(source, predictions)
            if footer is not None:
                footer()
            return
        show_answers(predictions, ms)
        if looks_like_a_row(source):
            st.info(SEVERAL_DIGITS)
        show_pictures(source, name, prepared.image, predictions, show_input)
        with st.expander("Preprocessing steps"):
            show_steps(prepared.steps)
        st.subheader("Why this answer?")
        why = st.container()
        if footer is not None:
            footer()
        with why:
            show_why_tabs(prepared.image, predictions)


def show_answers(predictions: dict[str, Prediction], ms: float) -> None:
    """The answer, its warnings and a sentence for screen readers."""
    if len(predictions) == 1:
        [(model_id, prediction)] = predictions.items()
        show_answer(model_id, prediction, ms)
    else:
        show_agreement(predictions, ms)
    announce(spoken_answer(predictions))


def spoken_answer(predictions: dict[str, Prediction]) -> str:
    """The answer in words: one model's, or the models' agreement and each one's answer."""
    if len(predictions) == 1:
        [(model_id, prediction)] = predictions.items()
        return answer_sentence(model_id, prediction)
    sentences = " ".join(answer_sentence(m, p) for m, p in predictions.items())
    return f"{agreement(predictions).message} {sentences}"


def present_answers(source: bytes | np.ndarray, predictions: dict[str, Prediction]) -> None:
    """The projector view of one input: a model's answer, or what the models agree on."""
    if len(predictions) == 1:
        [(model_id, prediction)] = predictions.items()
        headline, detail = prediction.digit, answer_sentence(model_id, prediction)
    else:
        agreed = agreement(predictions)
        headline, detail = agreed.headline, agreed.message
    show_presentation(projector_picture(source), headline, detail)
    announce(spoken_answer(predictions))


def show_pictures(
    source: bytes | np.ndarray,
    name: str,
    image28: np.ndarray,
    predictions: dict[str, Prediction],
    show_input: bool,
) -> None:
    """The input and what the model sees beside the probabilities (tables when comparing)."""
    if len(predictions) == 1:
        left, middle, right = st.columns([1.1, 1, 1.9])
        with left:
            if show_input:
                show_source(source, name)
        middle.image(images.pixels(image28, 7), caption="What the model sees (28x28)")
        with right:
            show_probabilities(next(iter(predictions.values())))
        return
    # Three columns, so that all ten probabilities fit on a laptop's screen at once.
    pictures, answers, probabilities = st.columns([0.9, 1.3, 1.2])
    with pictures:
        if show_input:
            show_source(source, name, width=SMALL_INPUT_WIDTH)
        st.image(images.pixels(image28, 5), caption="What the models see (28x28)")
    answers.table(answers_frame(predictions).set_index("Model"))
    probabilities.table(probabilities_frame(predictions).set_index("Digit"))
    if any(p.digit is None for p in predictions.values()):
        probabilities.caption(REFUSED_IN_BRACKETS)


def looks_like_a_row(source: bytes | np.ndarray) -> bool:
    """Whether the input holds a row of digits, better read with *Read a number*."""
    try:
        return reads_as_row(source)
    except (ImageError, NoDigitError):
        return False


def answer_sentence(model_id: str, prediction: Prediction) -> str:
    """The answer in words, as a screen reader should say it."""
    name = display_name(model_id)
    if prediction.digit is None:
        return f"{name}: {NOT_A_DIGIT}"
    unsure = ", but it is unsure" if prediction.low_confidence else ""
    return f"{name} reads {prediction.digit} ({prediction.confidence:.0%} sure){unsure}."


def announce(sentence: str) -> None:
    """Say ``sentence`` to screen readers (an ARIA live region), invisible on the screen."""
    st.html(f'<p role="status" aria-live="polite" class="dl-sr-only" style="{SR_ONLY}">'
            f"{html.escape(sentence)}</p>")  # fmt: skip


def show_presentation(shown_input: Image.Image, answer: int | str | None, detail: str) -> None:
    """The projector view: the input and the answer side by side, filling the window, in type
    large enough for the back of a classroom; the title, the controls and the sidebar are
    hidden (nothing to scroll), and one button leads back."""
    shown = NOT_A_DIGIT_HEADLINE if answer is None else str(answer)
    # Longer headlines ("not a digit", "3 or 5?") shrink to fit their half of the window.
    size = "min(62vh,30vw)" if len(shown) <= 2 else f"min(62vh,{46 / (0.62 * len(shown)):.1f}vw)"
    st.html(
        f"<style>{PROJECTOR_CSS}</style>"
        '<div class="dl-projector" role="region" aria-label="Presentation">'
        f'<img class="dl-projector-input" src="{images.data_uri(shown_input)}" alt="The input">'
        '<div class="dl-projector-answer">'
        f'<div class="dl-present-digit" style="font-size:{size}">{html.escape(shown)}</div>'
        f'<div class="dl-present-detail">{html.escape(detail)}</div></div></div>'
    )
    with st.container(key="projector_back"):
        st.button("← Back", on_click=stop_presenting, help="Leave the presentation view")


def stop_presenting() -> None:
    st.session_state.present = False


def projector_picture(source: bytes | np.ndarray) -> Image.Image:
    """The input as the projector shows it: the upload or photo as people see it, or the
    drawing."""
    if isinstance(source, bytes):
        return picture(source, PROJECTOR_SIDE)[0]
    return Image.fromarray(images.to_uint8(source))


def show_answer(model_id: str, prediction: Prediction, ms: float) -> None:
    name = display_name(model_id)
    if prediction.digit is None:
        st.metric("Predicted digit", "none")
        would = (
            "the chart shows what it would say if it had to pick a digit"
            if shown_probabilities(prediction) is not None
            else "it leans to no digit"
        )
        st.warning(f"{NOT_A_DIGIT} {name} refuses to guess; {would}.")
        st.caption(f"{name}, answered in {ms:.0f} ms on the server.")
        return
    with st.container(horizontal=True):  # side by side on a phone too
        st.metric("Predicted digit", prediction.digit, width="content")
        st.metric("Confidence", f"{prediction.confidence:.0%}", width="content")
    st.caption(f"{name}, answered in {ms:.0f} ms on the server.")
    if prediction.low_confidence:
        st.warning(
            f"Low confidence: {name} is unsure about this one, so treat the answer with care. "
            + trust_sentence(model_id, name)
        )


def show_agreement(predictions: dict[str, Prediction], ms: float) -> None:
    """The answer most models give, how far they agree, and which ones are unsure."""
    _, level, message, unsure, headline = agreement(predictions)
    with st.container(horizontal=True, vertical_alignment="center"):  # wraps on a phone
        st.metric("Predicted digit", headline, width="content",
                  help="What more than half of the models say; a split or an unsure "
                  "answer ends with ?")  # fmt: skip
        with st.container():
            getattr(st, level)(message)
            if unsure:
                st.warning(f"Low confidence: {names(unsure)} {verb(unsure)} unsure about this one.")
    st.caption(f"{len(predictions)} models answered in {ms:.0f} ms on the server.")


def show_probabilities(prediction: Prediction) -> None:
    probabilities = shown_probabilities(prediction)
    if probabilities is None:
        st.caption(NO_DIGIT_EVIDENCE)
        return
    frame = pd.DataFrame({"Digit": DIGITS, "Probability": probabilities})
    frame["Answer"] = frame["Digit"] == str(prediction.digit)
    chart = (
        alt.Chart(frame, height=220)
        .mark_bar()
        .encode(
            x=alt.X("Digit:N", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("Probability:Q", scale=alt.Scale(domain=[0, 1])),
            color=alt.condition(alt.datum.Answer, alt.value("#d62728"), alt.value("#8aa6c1")),
            tooltip=["Digit", alt.Tooltip("Probability:Q", format=".3f")],
        )
    )
    st.altair_chart(chart, width="stretch", alt="The ten probabilities as a bar chart.")


def percent(value: float) -> str:
    """A probability for a table: 99.9%, 0.1%, and <0.1% rather than a misleading 0.0%."""
    return "<0.1%" if 0 < value < 0.0005 else f"{value:.1%}"


def answers_frame(predictions: dict[str, Prediction]) -> pd.DataFrame:
    """One row per model: its answer, confidence and whether it is sure. A refusal claims no
    confidence in a digit: its cell is a dash, never a percentage beside "not a digit"."""
    return pd.DataFrame(
        [
            {"Model": display_name(m),
             "Answer": "none" if p.digit is None else str(p.digit),
             "Confidence": NO_VALUE if p.digit is None else percent(p.confidence),
             "Sure?": "not a digit" if p.digit is None else
                      "unsure" if p.low_confidence else "sure"}
            for m, p in predictions.items()
        ]
    )  # fmt: skip


def probabilities_frame(predictions: dict[str, Prediction]) -> pd.DataFrame:
    """The ten probabilities, a row per digit and a column per model: narrow enough for a
    phone, all ten visible at once. A refusing model's column holds what it would say if it
    had to pick, in brackets, the same numbers as its chart; a dash where it has nothing to
    say (``shown_probabilities``)."""
    frame = pd.DataFrame({"Digit": DIGITS})
    for model_id, p in predictions.items():
        shown = shown_probabilities(p)
        if shown is None:
            cells = [NO_VALUE] * len(DIGITS)
        elif p.digit is None:
            cells = [f"({percent(float(v))})" for v in shown]
        else:
            cells = [percent(float(v)) for v in shown]
        frame[model_spec(model_id).short] = cells
    return frame


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
            show_explanation(explain.VIEWS[name](model, image28, digit), digit)


def show_explanation(view: explain.Explanation, digit: int) -> None:
    """A view's pictures side by side (digits beside heat maps at the maps' size), its key
    when it has heat maps, and its caption."""
    maps = any(p.kind == "heatmap" for p in view.pictures)
    columns = st.columns(max(len(view.pictures), 2))
    for column, p in zip(columns, view.pictures, strict=False):
        if p.kind == "heatmap":
            column.image(images.heatmap(p.values, p.under), caption=p.caption, width=WHY_WIDTH)
        elif maps:
            column.image(images.pixels(p.values, 8), caption=p.caption, width=WHY_WIDTH)
        else:
            column.image(images.pixels(p.values, 3), caption=p.caption)
    if maps:
        show_colour_scale(digit)
    st.caption(view.caption)


def show_colour_scale(digit: int) -> None:
    """The key to the heat maps: what blue, black and red mean, on a bar of their colours."""
    st.image(images.colour_scale(), width=WHY_WIDTH,
             caption=f"Blue: against {digit} · black: no effect · red: for {digit} "
             "(each map scaled to its strongest pixel)")  # fmt: skip


# --- a number -------------------------------------------------------------------------------

NOT_A_NUMBER = "not a number"  # the headline of a refused row


def unsure_digits(reading) -> str:
    """Which digits of a reading are unsure, e.g. "2nd (55%)", or "none" (a refused piece is
    refused, not unsure: ``refused_digits`` names those)."""
    unsure = [f"{ordinal(i + 1)} ({d.confidence:.0%})"
              for i, d in enumerate(reading.digits) if d.low_confidence]  # fmt: skip
    return ", ".join(unsure) or "none"


def refused_digits(reading) -> str:
    """Which pieces of a reading the model refuses as not digits, e.g. "1st and 3rd"."""
    refused = [ordinal(i + 1) for i, d in enumerate(reading.digits) if d.refused]
    return refused[0] if len(refused) == 1 else f"{', '.join(refused[:-1])} and {refused[-1]}"


def ordinal(n: int) -> str:
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n if n < 20 else n % 10, 'th') }"


def reading_model(model_ids: list[str]) -> str:
    """The model whose boxes and digits are drawn: the default one when it is there."""
    return DEFAULT_MODEL if DEFAULT_MODEL in model_ids else model_ids[0]


def number_text(reading) -> str:
    """The number as a table or a headline shows it: the digits, or "not a number"."""
    return NOT_A_NUMBER if reading.refused else reading.text


def piece_label(digit) -> str:
    """A piece's label on the picture and under its 28x28: the digit, or "?" when refused."""
    return "?" if digit.refused else str(digit.digit)


def piece_caption(digit) -> str:
    if digit.refused:
        return "not a digit"
    unsure = ", unsure" if digit.low_confidence else ""
    return f"{digit.digit} ({digit.confidence:.0%}{unsure})"


def read_numbers(source: bytes | np.ndarray, model_ids: list[str]) -> dict:
    """Each available model's reading of ``source`` (the ink found once for all of them); a
    model that cannot be used says why in an error."""
    from digitlab.answers.number import read_number_from_ink  # here to buy start-up time

    readings = {}
    for model_id in model_ids:
        model, why_not = available_model(model_id)
        if model is None:
            st.error(why_not)
        else:
            readings[model_id] = read_number_from_ink(ink_map(source), model)
    return readings


def show_number(
    name: str, source: bytes | np.ndarray, model_ids: list[str], present: bool = False
) -> None:
    """Read a row of digits with each chosen model; the boxes and digits of one of them, named."""
    with friendly_errors():
        readings = read_numbers(source, model_ids)
        if not readings:
            return
        shown_by = reading_model(list(readings))
        reading = readings[shown_by]
        if not reading.found:
            announce(NO_DIGITS)
            st.warning(NO_DIGITS)
            return
        if isinstance(source, bytes):
            shown, scale = picture(source)
        else:
            shown, scale = images.Image.fromarray(images.to_uint8(source)), 1.0
        boxes = [tuple(d.box) for d in reading.digits]
        labels = [piece_label(d) for d in reading.digits]
        boxed = images.draw_boxes(shown, boxes, labels, scale)
        if present:  # the projector view, alone
            show_presentation(boxed, number_text(reading), number_detail(readings, shown_by))
            announce(number_sentence(readings, shown_by))
            return
        show_number_answer(readings, shown_by)
        st.image(boxed, caption=f"{name}: the digits as {display_name(shown_by)} reads them")
        columns = st.columns(max(len(reading.digits), 1))
        for column, d in zip(columns, reading.digits, strict=False):
            column.image(images.pixels(d.image, 3), caption=piece_caption(d))
        st.caption(f"Each digit as {display_name(shown_by)} sees it, with its confidence.")


def number_detail(readings: dict, shown_by: str) -> str:
    """Under the projector's number: who read it, and what to doubt."""
    reading, name = readings[shown_by], display_name(shown_by)
    detail = f"Read by {name}."
    if reading.refused:
        detail += f" The {refused_digits(reading)} piece is not a digit."
    if any(d.low_confidence for d in reading.digits):
        detail += f" Unsure about the {unsure_digits(reading)} digit."
    if len({number_text(r) for r in readings.values()}) > 1:
        detail += " The models read different numbers."
    return detail


def number_sentence(readings: dict, shown_by: str) -> str:
    """The reading in words: who read what, which digits are unsure or not digits at all."""
    reading, name = readings[shown_by], display_name(shown_by)
    if reading.refused:
        sentence = f"{name}: {reading.refusal} Not a digit: the {refused_digits(reading)} piece."
    else:
        sentence = f"{name} reads the number {reading.text}."
    unsure = unsure_digits(reading)
    if unsure != "none":
        sentence += f" Unsure about the {unsure} digit."
    if len({number_text(r) for r in readings.values()}) > 1:
        sentence += " The models read different numbers."
    return sentence


def show_number_answer(readings: dict, shown_by: str) -> None:
    """The number, who read it, a warning on a refused row or on each unsure digit, and the
    others' readings."""
    reading = readings[shown_by]
    name = display_name(shown_by)
    st.metric("Number read", "none" if reading.refused else reading.text,
              help=f"As read by {name}")  # fmt: skip
    st.caption(f"Read by {name}.")
    if reading.refused:
        st.warning(f"{reading.refusal} {name} reads the {refused_digits(reading)} piece as "
                   "not a digit (marked ? on the picture).")  # fmt: skip
    unsure = unsure_digits(reading)
    if unsure != "none":
        st.warning(f"Low confidence on the {unsure} digit (counting from the left): "
                   f"{name} is unsure, check it.")  # fmt: skip
    if len(readings) > 1:
        texts = {number_text(r) for r in readings.values()}
        if len(texts) > 1:
            st.warning("The models read different numbers: see the table.")
        st.table(
            pd.DataFrame(
                [{"Model": display_name(m), "Number": number_text(r),
                  "Unsure digits": unsure_digits(r)}
                 for m, r in readings.items()]
            ).set_index("Model")
        )  # fmt: skip
    announce(number_sentence(readings, shown_by))
