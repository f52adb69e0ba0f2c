"""'Wrong? It's a [digit]': teach the active profile from an answer, in one click.

Teaching itself takes milliseconds (``Profile.teach_preprocessed``); what made it slow in the
app was around it: the click ran the whole page once before teaching and once after, and the
first digit a model was taught embedded MNIST's 2,000 reference digits (``guarded_radii``)
while the teacher waited. Here the button teaches in its callback, before the one rerun that
shows the new answers; those reference digits are embedded by the server's warm-up
(``loaders.warm_up``); and the correction is drawn before the Why views above it are computed
(``views.show_single``'s footer), so its confirmation shows at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from digitlab.answers.compare import loaded_models, predictions_for
from digitlab.app.inputs import digest
from digitlab.app.loaders import available_model, prepare
from digitlab.app.profile_state import active_profile
from digitlab.errors import DigitLabError
from digitlab.models.registry import display_name


def answers(image28: np.ndarray, model_ids: list[str]) -> dict[str, int | None]:
    """Each model's answer (through the active profile) for a preprocessed image."""
    models, _ = loaded_models(model_ids, available_model)
    return {m: p.digit for m, p in predictions_for(image28, models).items()}


def what_changed(before: dict, after: dict, digit: int) -> str:
    """One line per model whose answer changed, or a sentence saying none did."""
    changes = [f"{display_name(m)} now says {after[m]} (was {before[m]})"
               for m in after if after[m] != before.get(m)]  # fmt: skip
    if not changes:
        return f"Every model already said {digit}; the example is kept for next time."
    return "; ".join(changes) + "."


def teach(name: str, image28: np.ndarray, digit: int, model_ids: list[str]) -> str:
    """Teach ``image28`` as ``digit`` to the active profile; what changed, in words."""
    profile = active_profile()
    before = answers(image28, model_ids)
    profile.teach_preprocessed([image28], [digit], [name])
    after = answers(image28, model_ids)
    return (f"Taught as {digit} to profile '{profile.name}' ({digits_taught(len(profile))}). "
            + what_changed(before, after, digit))  # fmt: skip


def teach_many(names: Sequence[str], images28: Sequence[np.ndarray], digits: Sequence[int]) -> str:
    """Teach several images at once (a batch's marked rows); what was taught, in words."""
    profile = active_profile()
    profile.teach_preprocessed(list(images28), [int(d) for d in digits], list(names))
    return (f"Taught {digits_taught(len(digits))} ({''.join(map(str, digits))}) to profile "
            f"'{profile.name}', which now holds {len(profile)}.")  # fmt: skip


def digits_taught(count: int) -> str:
    return f"{count} digit" if count == 1 else f"{count} digits"


SELECTOR = "teach_digit"


def fresh_selector_for(source: bytes | np.ndarray) -> None:
    """Empty the digit selector when the input is a new one: a choice made for the last input
    must never stand for this one (nor default to a digit other than the answer)."""
    shown = digest(source)
    if st.session_state.get("teach_input") != shown:
        st.session_state.teach_input = shown
        st.session_state[SELECTOR] = None


def teach_chosen(name: str, image28: np.ndarray, model_ids: list[str]) -> None:
    """The Teach button's callback: teach the chosen digit before the page runs again, once.
    The selector is emptied, so a second click (or the next input) cannot teach it again."""
    digit = st.session_state.get(SELECTOR)
    if digit is None:
        return
    st.session_state[SELECTOR] = None
    try:
        st.session_state.taught_message = teach(name, image28, digit, model_ids)
    except DigitLabError as err:
        st.session_state.teach_error = str(err)


def offer_correction(name: str, source, model_ids: list[str]) -> None:
    """Under an answer: pick the right digit and teach it to the profile."""
    if active_profile() is None:
        st.caption("Pick a profile in the sidebar to teach DigitLab your handwriting.")
        return
    try:
        image28 = prepare(source).image
    except DigitLabError:
        return  # nothing to teach: the answer above already says why
    message = st.session_state.pop("taught_message", None)
    if message:
        st.success(message)
    error = st.session_state.pop("teach_error", None)
    if error:
        st.error(error)
    fresh_selector_for(source)
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    digit = left.selectbox("Wrong? It's a", list(range(10)), index=None, placeholder="digit",
                           key=SELECTOR)  # fmt: skip
    right.button("Teach it", disabled=digit is None, key="teach_button", on_click=teach_chosen,
                 args=(name, image28, model_ids))  # fmt: skip
