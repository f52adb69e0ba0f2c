"""The ensemble rule: how far several models' answers for one image agree, in one sentence."""

from __future__ import annotations

from typing import NamedTuple

from digitlab.answers.inference import Prediction
from digitlab.contract import NOT_A_DIGIT
from digitlab.models.registry import display_name


class Agreement(NamedTuple):
    """How far the models agree: the answer most give, the alert's level and sentence, and the
    unsure models that sentence does not name yet."""

    best: int | None
    level: str  # "success" (green) only when all give the same answer and none is unsure
    message: str
    unsure_unnamed: list[str]


def names(model_ids: list[str]) -> str:
    """Display names joined as in a sentence: "A", "A and B", "A, B and C"."""
    shown = [display_name(m) for m in model_ids]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def verb(subjects: list) -> str:
    return "is" if len(subjects) == 1 else "are"


def agreement(predictions: dict[str, Prediction]) -> Agreement:
    """The answer most models give and how far they agree, from each model's ``Prediction``."""
    answered = {m: p for m, p in predictions.items() if p.digit is not None}
    refused = len(predictions) - len(answered)
    n = len(predictions)
    # The most common answer; a tie goes to the answer with the larger summed confidence.
    support: dict[int, tuple[int, float]] = {}
    for p in answered.values():
        count, total = support.get(p.digit, (0, 0.0))
        support[p.digit] = (count + 1, total + p.confidence)
    if not support:
        return Agreement(None, "warning", f"{NOT_A_DIGIT} None of the {n} models reads a digit "
                         "here.", [])  # fmt: skip
    best = max(support, key=support.get)
    unsure = [m for m, p in answered.items() if p.low_confidence]
    if n == 1:
        return Agreement(best, "info", "Only one model is available to compare.", unsure)
    if refused:
        return Agreement(best, "warning", f"{refused} of {n} models say: {NOT_A_DIGIT}", unsure)
    if len(support) > 1:
        message = f"The models disagree: {support[best][0]} of {n} say {best}."
        return Agreement(best, "warning", message, unsure)
    if unsure:
        message = f"All {n} models say {best}, but {names(unsure)} {verb(unsure)} unsure."
        return Agreement(best, "warning", message, [])
    return Agreement(best, "success", f"All {n} models agree: {best}.", [])
