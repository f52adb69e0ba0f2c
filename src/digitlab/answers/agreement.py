"""The ensemble rule: what several models' answers for one image agree on, in a headline and
one sentence.

The headline is what the models agree on, never one model's minority answer:

- a digit only when more than half of the models give it (and at least one of them is sure;
  when every one of them is unsure the headline says so with a question mark);
- "not a digit" when more than half refuse;
- otherwise the two strongest answers with a question mark ("3 or 5?", "4 or not a digit?"):
  the models split, and the room should see that.
"""

from __future__ import annotations

from typing import NamedTuple

from digitlab.answers.inference import Prediction
from digitlab.contract import NOT_A_DIGIT
from digitlab.models.registry import display_name

NOT_A_DIGIT_HEADLINE = "not a digit"


class Agreement(NamedTuple):
    """How far the models agree: the digit more than half give (None when none does), the
    alert's level and sentence, the unsure models that sentence does not name yet, and the
    headline to show in large type (a digit, "not a digit", or the split with a "?")."""

    best: int | None
    level: str  # "success" (green) only when all give the same answer and none is unsure
    message: str
    unsure_unnamed: list[str]
    headline: str


def names(model_ids: list[str]) -> str:
    """Display names joined as in a sentence: "A", "A and B", "A, B and C"."""
    shown = [display_name(m) for m in model_ids]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def verb(subjects: list) -> str:
    return "is" if len(subjects) == 1 else "are"


def tally(predictions: dict[str, Prediction]) -> list[tuple[int | None, int]]:
    """Each answer (a digit, or None for a refusal) and how many models give it, the most
    common first; a tie between digits goes to the larger summed confidence."""
    support: dict[int | None, tuple[int, float]] = {}
    for p in predictions.values():
        count, total = support.get(p.digit, (0, 0.0))
        support[p.digit] = (count + 1, total + (p.confidence if p.digit is not None else 0.0))
    ranked = sorted(support, key=lambda d: support[d], reverse=True)
    return [(d, support[d][0]) for d in ranked]


def said(answer: int | None) -> str:
    return NOT_A_DIGIT_HEADLINE if answer is None else str(answer)


def split_sentence(counts: list[tuple[int | None, int]], n: int) -> str:
    """The split in words: 'The models disagree: 2 of 4 say 3, 1 says 5, 1 says not a digit.'"""
    (first, first_count), *rest = counts
    parts = [f"{first_count} of {n} {'says' if first_count == 1 else 'say'} {said(first)}"]
    parts += [f"{c} {'says' if c == 1 else 'say'} {said(d)}" for d, c in rest]
    return f"The models disagree: {', '.join(parts)}."


def agreement(predictions: dict[str, Prediction]) -> Agreement:
    """What the models agree on and how far, from each model's ``Prediction``."""
    n = len(predictions)
    counts = tally(predictions)
    refused = sum(c for d, c in counts if d is None)
    digits = [(d, c) for d, c in counts if d is not None]
    if not digits:
        message = f"{NOT_A_DIGIT} None of the {n} models reads a digit here."
        return Agreement(None, "warning", message, [], NOT_A_DIGIT_HEADLINE)
    unsure = [m for m, p in predictions.items() if p.digit is not None and p.low_confidence]
    top, top_count = digits[0]
    if n == 1:
        headline = f"{top}?" if unsure else str(top)
        return Agreement(top, "info", "Only one model is available to compare.", unsure, headline)
    if 2 * refused > n:
        message = f"{refused} of {n} models say: {NOT_A_DIGIT}"
        return Agreement(None, "warning", message, unsure, NOT_A_DIGIT_HEADLINE)
    if 2 * top_count <= n:  # no answer has more than half: say the split, headline both
        options = [said(d) for d, _ in counts[:2]]
        return Agreement(None, "warning", split_sentence(counts, n), unsure,
                         f"{' or '.join(options)}?")  # fmt: skip
    agreeing = [m for m, p in predictions.items() if p.digit == top]
    all_unsure = all(m in unsure for m in agreeing)
    headline = f"{top}?" if all_unsure else str(top)
    if refused:
        message = f"{top_count} of {n} models say {top}; {refused} of {n} say: {NOT_A_DIGIT}"
        return Agreement(top, "warning", message, unsure, headline)
    if len(digits) > 1:
        message = f"The models disagree: {top_count} of {n} say {top}."
        return Agreement(top, "warning", message, unsure, headline)
    if unsure:
        message = f"All {n} models say {top}, but {names(unsure)} {verb(unsure)} unsure."
        return Agreement(top, "warning", message, [], headline)
    return Agreement(top, "success", f"All {n} models agree: {top}.", [], headline)
