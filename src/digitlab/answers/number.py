"""Reading a row of digits ("2026" on a house, a form field) with any of the models.

The upload goes through the first half of ``digitlab.preprocess`` (decode, polarity,
background, candidate ink); the ink is then cut into digits:

1. connected blobs, with specks and border artefacts dropped;
2. blobs that overlap horizontally are merged (the detached bar of a 5 or a 7, the dot of a
   broken stroke), because digits in a row sit side by side, not above each other;
3. a blob much wider than the row's digits are tall is split where the vertical ink profile
   is thinnest (touching digits);

and each digit is rendered the MNIST way (``render_digit``) and classified in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from digitlab.answers.inference import predict_preprocessed_batch, resolve_model
from digitlab.contract import NOT_A_DIGIT, NOT_DIGITS
from digitlab.imaging.components import (
    Box,
    Component,
    is_border_artefact,
    label_components,
    mask_box,
    scale_box,
)
from digitlab.imaging.decode import ImageSource
from digitlab.imaging.pipeline import InkMap, find_ink, render_digit
from digitlab.models.registry import DEFAULT_MODEL

# A digit whose top probability is under the model's ``low_confidence_threshold`` (chosen on
# the validation split when the model was trained, stored in ``model.config``) is flagged;
# this default serves models without one.
MAX_DIGIT_ASPECT = 1.25  # a blob wider than this times the row's height holds several digits
ROW_MIN_HEIGHT = 0.6  # in a row, every digit is at least this share of the tallest one's height


@dataclass(frozen=True)
class DigitReading:
    """One piece of a number: its box in the input's pixels, the answer and what the model saw.

    ``digit`` is the likeliest digit and ``confidence`` its probability; ``refused`` is the
    model's refusal rule (``contract.decide``) on this piece alone, as for a single digit, and
    ``low_confidence`` flags an answered piece under the model's low-confidence threshold (a
    refused piece is refused, not unsure).
    """

    box: Box
    digit: int
    confidence: float
    image: np.ndarray
    low_confidence: bool
    refused: bool = False

    @property
    def refusal(self) -> str | None:
        return NOT_A_DIGIT if self.refused else None


@dataclass(frozen=True)
class NumberReading:
    """A row of digits read left to right.

    ``found`` is False when there is no ink to read at all. A row with a piece the model
    refuses as not a digit is refused as a whole, as a single digit would be: ``text`` is then
    empty and ``refusal`` says why, while ``digits`` still holds every piece as read.
    """

    text: str
    digits: list[DigitReading] = field(default_factory=list)
    refusal: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.digits)

    @property
    def refused(self) -> bool:
        return self.refusal is not None

    @property
    def low_confidence(self) -> bool:
        """Whether any answered digit is unsure."""
        return any(d.low_confidence for d in self.digits)


def read_number(image: ImageSource, model: object = DEFAULT_MODEL, profile=None) -> NumberReading:
    """Read the digits of ``image`` left to right with ``model`` (an id or a ``predict_proba``),
    through ``profile`` (a ``digitlab.Profile`` or a profile's name) if given.

    Raises ``ImageError`` for unusable input; a blank image gives ``found == False``.
    """
    return read_number_from_ink(find_ink(image), resolve_model(model, profile)[1])


def read_number_from_ink(ink: InkMap, model: object) -> NumberReading:
    """``read_number`` on ``find_ink``'s result, with a loaded ``model`` (callers that also
    preprocess the upload as one digit find the ink once)."""
    masks = segment_digits(ink.candidates, ink.foreground)
    if not masks:
        return NumberReading("")
    rendered = [render_digit(ink.foreground, mask, coarse=ink.coarse)[0] for mask in masks]
    # Each piece goes through the model's refusal rule, as a single digit does: a letter, a
    # smiley or a circuit board cut into pieces is refused, not read as the likeliest digits.
    digits = [
        DigitReading(scale_box(mask_box(mask), ink.to_input), int(p.probabilities.argmax()),
                     p.confidence, p.image, p.low_confidence, p.digit is None)
        for mask, p in zip(masks, predict_preprocessed_batch(rendered, model), strict=True)
    ]  # fmt: skip
    if any(d.refused for d in digits):
        return NumberReading("", digits, NOT_DIGITS)
    return NumberReading("".join(str(d.digit) for d in digits), digits)


def segment_digits(candidates: np.ndarray, foreground: np.ndarray) -> list[np.ndarray]:
    """Boolean masks of the digits in a row, left to right."""
    labels, components = label_components(candidates, foreground)
    kept = keep_row_components(components, candidates.shape)
    if not kept:
        return []
    groups = merge_overlapping(kept)
    row_height = float(np.median([box_of(g)[3] - box_of(g)[1] for g in groups]))
    masks = []
    for group in groups:
        mask = np.isin(labels, [c.label for c in group])
        masks.extend(split_touching(mask, box_of(group), row_height))
    return [m for m in masks if m.any()]


def keep_row_components(components: list[Component], shape: tuple[int, int]) -> list[Component]:
    """Drop specks and border artefacts; keep blobs tall enough to be (part of) a digit."""
    if not components:
        return []
    inside = [c for c in components if not is_border_artefact(c, shape)] or components
    tallest = max(c.box[3] - c.box[1] for c in inside)
    biggest = max(c.area for c in inside)
    return [
        c
        for c in inside
        if c.area >= max(0.03 * biggest, 4) and (c.box[3] - c.box[1]) >= 0.15 * tallest
    ]


def box_of(group: list[Component]) -> Box:
    return (
        min(c.box[0] for c in group),
        min(c.box[1] for c in group),
        max(c.box[2] for c in group),
        max(c.box[3] for c in group),
    )


def merge_overlapping(components: list[Component]) -> list[list[Component]]:
    """Group blobs whose horizontal extents overlap by half of the narrower one, left to right."""
    groups: list[list[Component]] = []
    for component in sorted(components, key=lambda c: c.box[0]):
        if groups:
            x0, _, x1, _ = box_of(groups[-1])
            overlap = min(x1, component.box[2]) - max(x0, component.box[0])
            narrower = min(x1 - x0, component.box[2] - component.box[0])
            if overlap >= 0.5 * narrower:
                groups[-1].append(component)
                continue
        groups.append([component])
    return groups


def split_touching(mask: np.ndarray, box: Box, row_height: float) -> list[np.ndarray]:
    """Split a blob holding several touching digits at the columns with the least ink.

    How many digits it holds is the count whose cuts cross the least ink (a cut through the
    middle of a digit crosses its strokes; a cut where two digits touch crosses little),
    among the counts that give digits between 0.45 and 1.25 times the row's height wide.
    """
    x0, y0, x1, y1 = box
    width = x1 - x0
    if width <= MAX_DIGIT_ASPECT * row_height:
        return [mask]
    profile = mask[y0:y1, x0:x1].sum(axis=0).astype(float)
    counts = [c for c in range(2, 10) if 0.45 * row_height <= width / c <= 1.25 * row_height]
    if not counts:
        return [mask]
    # Equal ink at the cuts: more cuts that all found a gap is the stronger reading.
    best = min(counts, key=lambda c: (max(profile[x] for x in cut_columns(profile, c)), -c))
    cuts = [x0, *(x0 + x for x in cut_columns(profile, best)), x1]
    parts = []
    for left, right in zip(cuts, cuts[1:], strict=False):
        part = np.zeros_like(mask)
        part[:, left:right] = mask[:, left:right]
        parts.append(part)
    return parts


def cut_columns(profile: np.ndarray, count: int) -> list[int]:
    """The ``count - 1`` columns, near equal spacing, with the least ink around each."""
    width = len(profile)
    window = width // (3 * count)
    cuts = []
    for k in range(1, count):
        centre = k * width // count
        lo, hi = max(centre - window, 1), min(centre + window, width - 1)
        cuts.append(lo + int(np.argmin(profile[lo:hi])) if hi > lo else centre)
    return cuts


def reads_as_row(reading: NumberReading) -> bool:
    """Whether a reading looks like a real row of digits, not one digit cut into pieces.

    Two or more pieces, each at least ``ROW_MIN_HEIGHT`` of the tallest and each read with
    confidence: the pieces of a broken stroke are short or unreadable. On validation data,
    ``benchmarks/choose_row_hint.py`` counts what it flags: 2 of 320 user-like single digits
    (a plain piece count: 24) and all 30 rows of 2-4 digits.
    """
    if len(reading.digits) < 2:
        return False
    heights = [d.box[3] - d.box[1] for d in reading.digits]
    tall = all(h >= ROW_MIN_HEIGHT * max(heights) for h in heights)
    return tall and not any(d.low_confidence or d.refused for d in reading.digits)
