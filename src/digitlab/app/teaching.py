"""'Wrong? It's a [digit]': teach the active profile from an answer, in one click."""

from __future__ import annotations

import numpy as np
import streamlit as st

from digitlab.answers.compare import loaded_models, predictions_for
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
    return (f"Taught as {digit} to profile '{profile.name}' ({len(profile)} digits). "
            + what_changed(before, after, digit))  # fmt: skip


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
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    digit = left.selectbox("Wrong? It's a", list(range(10)), index=None, placeholder="digit",
                           key="teach_digit")  # fmt: skip
    if right.button("Teach it", disabled=digit is None, key="teach_button"):
        try:
            st.session_state.taught_message = teach(name, image28, digit, model_ids)
        except DigitLabError as err:
            st.error(str(err))
            return
        st.rerun()
