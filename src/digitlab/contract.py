"""What an answer is, in one place: the classes, the refusal rule and every sentence a person
reads when DigitLab will not give a digit.

The API, the CLI and the app all decide through ``decide`` and say it with these sentences, so
a refusal reads the same wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DIGITS = 10  # classes 0-9
NOT_A_DIGIT_CLASS = 10  # the eleventh class: "this doesn't look like a single digit"

# The sentences. Each is one complete sentence a person can act on.
NO_DIGIT = "No digit found in this image."
NO_DIGIT_TIP = "Try darker ink, a plain background or a closer crop."
NO_DIGITS = "No digits found in this image."
NOT_A_DIGIT = "This doesn't look like a single digit."
NOT_DIGITS = "This doesn't look like a row of digits: a model reads part of it as not a digit."

# A model's config without these thresholds never refuses and is never unsure.
NEVER_REFUSE = 1.0
NEVER_UNSURE = 0.0


def split_not_digit(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N,11] probabilities -> (the ten digits' probabilities renormalised [N,10], the
    not-a-digit probability [N]). [N,10] input (a model without the class) gives zeros."""
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.shape[1] == DIGITS:
        return probabilities.astype(np.float32), np.zeros(len(probabilities), np.float32)
    digits = probabilities[:, :DIGITS]
    total = digits.sum(1, keepdims=True)
    digits = np.where(total > 1e-12, digits / np.maximum(total, 1e-12), 0.1)
    return digits.astype(np.float32), probabilities[:, NOT_A_DIGIT_CLASS].astype(np.float32)


@dataclass(frozen=True)
class Decisions:
    """What a model answers for N images under the refusal rule.

    ``digit`` is the likeliest digit (-1 where refused), ``confidence`` its probability among
    the ten digits, ``refused`` where the not-a-digit share is above the model's
    ``not_digit_threshold``, ``unsure`` where an answered digit's confidence is below its
    ``low_confidence_threshold`` (both chosen on the validation split)."""

    digit: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray
    refused: np.ndarray
    unsure: np.ndarray


def thresholds(config: dict | None) -> tuple[float, float]:
    """(not-a-digit threshold, low-confidence threshold) of a model's config."""
    config = config or {}
    return (
        float(config.get("not_digit_threshold", NEVER_REFUSE)),
        float(config.get("low_confidence_threshold", NEVER_UNSURE)),
    )


def decide(probabilities_all: np.ndarray, config: dict | None) -> Decisions:
    """The refusal rule: [N,11] (or [N,10]) probabilities and a model's config -> answers."""
    digits, not_digit = split_not_digit(probabilities_all)
    refuse_above, unsure_below = thresholds(config)
    best = digits.argmax(1) if len(digits) else np.zeros(0, np.int64)
    confidence = digits.max(1) if len(digits) else np.zeros(0, np.float32)
    refused = not_digit > refuse_above
    return Decisions(
        digit=np.where(refused, -1, best),
        confidence=confidence,
        probabilities=digits,
        refused=refused,
        unsure=~refused & (confidence < unsure_below),
    )


def answered_digits(probabilities_all: np.ndarray, config: dict | None) -> np.ndarray:
    """The digit each row answers, -1 where the model refuses it as not a digit."""
    return decide(probabilities_all, config).digit


# How the thresholds are chosen, on validation data a model never trained on.
# At most this share of validation digits may be refused as "not a digit".
MAX_VALIDATION_DIGITS_REFUSED = 0.005


def low_confidence_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Median confidence of the model's wrong answers on the validation split.

    Answers below it are flagged as unsure: that catches half of the validation mistakes
    while flagging only a small share of the right answers.
    """
    predicted = probabilities.argmax(1)
    wrong = probabilities.max(1)[predicted != labels]
    return float(np.median(wrong)) if len(wrong) else 0.5


# ... and at least this share of validation negatives must be refused, even where holding
# every kind of upload under the cap above would need a threshold that lets more through.
MIN_VALIDATION_NEGATIVES_REFUSED = 0.9


def not_digit_threshold(
    digit_scores: np.ndarray, negative_scores: np.ndarray, kinds: dict | None = None
) -> dict:
    """The not-a-digit score above which an answer is refused, chosen on validation data.

    The threshold refuses at most ``MAX_VALIDATION_DIGITS_REFUSED`` of validation digits, and
    of the digits of each kind of upload in ``kinds`` ({kind: scores}: validation digits
    rendered as photos, scans, drawings...), so no kind of input pays for the others; but it
    stays low enough to refuse ``MIN_VALIDATION_NEGATIVES_REFUSED`` of the negatives. A kind
    that no such threshold can hold under the cap (the model cannot tell its digits from
    non-digits well enough) does not raise it at all: that would let more non-digits through
    without holding the kind anyway; it keeps paying, and the shares returned say what. It
    never sits below 0.5, where "not a digit" would not even be the likeliest answer. Returns
    it with the shares of validation digits (per kind too) and negatives it refuses.
    """
    kinds = kinds or {}
    needs = [float(np.quantile(g, 1 - MAX_VALIDATION_DIGITS_REFUSED))
             for g in (digit_scores, *kinds.values())]  # fmt: skip
    ceiling = np.inf
    if len(negative_scores):
        floor = float(np.quantile(negative_scores, 1 - MIN_VALIDATION_NEGATIVES_REFUSED))
        ceiling = float(np.nextafter(floor, -np.inf))
    held = [need for need in needs if need <= ceiling]
    spare_digits = max(held) if held else ceiling
    threshold = max(0.5, float(spare_digits))
    refused = {kind: float(np.mean(scores > threshold)) for kind, scores in kinds.items()}
    return {
        "not_digit_threshold": threshold,
        "val_digits_refused": float(np.mean(digit_scores > threshold)),
        **({"val_kinds_refused": refused} if refused else {}),
        "val_negatives_refused": float(np.mean(negative_scores > threshold)),
    }


def calibrate(probabilities_all, data, probe: dict | None = None) -> dict:
    """Low-confidence and not-a-digit thresholds of a model on validation data.

    ``probabilities_all`` maps images [N,28,28] to [N,11] probabilities, and must come from
    a model that has not seen the validation digits; ``data`` is the ``TrainingData`` it was
    trained with, and ``probe`` the sizes of its validation probe (a quick run's are small).
    """
    digits, labels, negatives = data.validation_probe(probe)
    plain, _ = split_not_digit(probabilities_all(data.val_x))
    _, digit_scores = split_not_digit(probabilities_all(digits))
    _, negative_scores = split_not_digit(probabilities_all(negatives))
    kinds = {kind: split_not_digit(probabilities_all(images))[1]
             for kind, images in data.upload_probe(probe).items()}  # fmt: skip
    return {
        "low_confidence_threshold": low_confidence_threshold(plain, data.val_y),
        **not_digit_threshold(digit_scores, negative_scores, kinds),
    }
