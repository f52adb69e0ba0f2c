"""People's images -> MNIST-like 28x28 digits, as one pure function per step.

MNIST was made in a particular way, and models trained on it expect exactly that: each
binary NIST digit was scaled to fit a 20x20 box with its aspect ratio kept, anti-aliased by
the resampling (hence the grey edges), then placed in a 28x28 field so that its centre of
*mass* sits at the centre, white ink on black. Resizing a whole photo to 28x28 ignores all of
it, and the models fail on people's own handwriting. This module redoes each step,
one pure function per step; ``PIPELINE`` lists them as data (the README, the app and the
step pictures all read it), and ``pipeline_version()`` fingerprints what a model sees.

``preprocess(image)`` returns the float32 28x28 image in [0, 1]; ``preprocess(image,
steps=True)`` returns a ``Preprocessed`` with every intermediate image, for display.
``naive_preprocess`` is the baseline everyone starts with (resize the upload to 28x28).

The steps themselves live beside this module: ``ink`` (upload -> bright ink on black),
``page`` (a sheet of paper on a desk), ``components`` (which blobs are the digit) and
``render`` (the digit's pixels -> MNIST's 20x20 box centred by mass in 28x28).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image

from digitlab.contract import NO_DIGIT
from digitlab.errors import NoDigitError
from digitlab.imaging import ink as ink_steps
from digitlab.imaging import page as page_steps
from digitlab.imaging import render as render_steps
from digitlab.imaging.components import (
    EDGE_MAX_WIDTH,
    EDGE_MIN_BRIGHT_SIDE,
    GRAINY_PIECES,
    MIN_DIGIT_SIDE,
    Box,
    find_digit_components,
    is_grainy,
    is_light_edge,
    mask_box,
    scale_box,
)
from digitlab.imaging.decode import ImageSource, decode_image
from digitlab.imaging.ink import (
    SMALL_UPLOAD_SIDE,
    WORKING_SIDE,
    detect_ink_is_dark,
    drop_soft_blobs,
    join_grains,
    remove_background,
    remove_flat_background,
    threshold_ink,
    to_white_on_black,
    to_working_size,
    undo_pixel_replication,
)
from digitlab.imaging.page import isolate_page, paint_off_page, sheet_taken_for_ink
from digitlab.imaging.render import (
    FINE_SIDE,
    MNIST_BOX,
    MNIST_SIDE,
    binarise_fine,
    center_by_mass,
    crop_digit,
    fit_20x20,
    fit_20x20_soft,
    normalise_stroke_width,
)
from digitlab.imaging.resample import resize


@dataclass(frozen=True)
class Step:
    """One step of the pipeline: ``title`` names its picture on the Recognise page."""

    title: str
    what: str


PIPELINE = (
    Step("Decoded (grey)",
         "decode safely (`imageio.py`): the file's structure and pixel count are checked "
         "before any pixel is decoded; EXIF orientation applied; transparency flattened onto "
         "the right background; an animated GIF gives its first frame, other multi-frame files "
         f"are refused; then work at most {WORKING_SIDE} px on the long side"),
    Step("Page found",
         "find the sheet of paper when the photo shows one lying on a darker desk, lap or "
         "clipboard (the largest bright region that looks like a sheet: straight, steep edges, "
         "evenly lit) and paint everything off it in the paper's shade, so the sheet's outline "
         "is not kept as ink; most images have no such sheet and skip this. A sheet missed "
         "here (a hand over it, its tilt) makes the darker desk look like the paper: what the "
         "next steps then find is the sheet itself, so it is found again from that \"ink\" "
         "(its holes filled: a bright, nearly rectangular region with writing inside) and the "
         "image read again with the sheet isolated"),
    Step("Ink made white",
         "find the polarity (ink darker or lighter than the paper?) and make the ink white"),
    Step("Background removed",
         "subtract a coarse background estimate (grey opening): shadows, lighting gradients "
         "and tinted paper go"),
    Step("Digit found",
         "threshold relative to the noise and the ink's contrast, keep the digit's connected "
         f"pieces, drop specks (under {MIN_DIGIT_SIDE} px across) and border artefacts "
         "(scanner edges, paper edges); a lone straight line across the image, darker paper or "
         "desk on one side of it, is the edge of a sheet or of a shadow, not a 1. Light ink that "
         f"falls apart into {GRAINY_PIECES} or more grains (chalk on a board) is found again on "
         "the background-removed image blurred slightly, where its grains join into strokes"),
    Step("Cropped", "crop the digit with a small margin"),
    Step("Binarised finely",
         f"binarise it at {FINE_SIDE} px, as NIST's digits were binary; a tiny upload (a coarse "
         f"8x8 to {SMALL_UPLOAD_SIDE}x{SMALL_UPLOAD_SIDE} scan) keeps its grey levels instead: "
         "at that size they *are* the shape"),
    Step("Stroke width normalised",
         "pull its stroke width into MNIST's range (thin pens, thick markers)"),
    Step(f"Fitted in {MNIST_BOX}x{MNIST_BOX}",
         f"fit it into {MNIST_BOX}x{MNIST_BOX} keeping its aspect ratio, with area resampling "
         "(MNIST's anti-aliasing)"),
    Step(f"Centred by mass in {MNIST_SIDE}x{MNIST_SIDE}",
         f"centre it by centre of mass in {MNIST_SIDE}x{MNIST_SIDE}"),
)  # fmt: skip
(DECODED, PAGE_FOUND, INK_WHITE, BACKGROUND_REMOVED, DIGIT_FOUND, CROPPED, BINARISED,
 STROKE_NORMALISED, FITTED, CENTRED) = (step.title for step in PIPELINE)  # fmt: skip


def describe_pipeline() -> str:
    """The pipeline's steps as a numbered Markdown list."""
    return "\n".join(f"{i}. {step.what};" for i, step in enumerate(PIPELINE, 1))[:-1] + "."


# What a model sees depends on these values and on the steps' code. A model trained on
# pipeline-rendered digits records ``pipeline_version()``; a model loaded under another version
# warns (``digitlab.models.torchnet``). Sentences shown to people are not part of it.
PARAMS = {
    "WORKING_SIDE": ink_steps.WORKING_SIDE,
    "SMALL_UPLOAD_SIDE": ink_steps.SMALL_UPLOAD_SIDE,
    "MIN_WORKING_SIDE": ink_steps.MIN_WORKING_SIDE,
    "MIN_INK_CONTRAST": ink_steps.MIN_INK_CONTRAST,
    "MIN_DIGIT_SIDE": MIN_DIGIT_SIDE,
    "FINE_SIDE": render_steps.FINE_SIDE,
    "MNIST_BOX": render_steps.MNIST_BOX,
    "MNIST_SIDE": render_steps.MNIST_SIDE,
    "MNIST_STROKE_RANGE": render_steps.MNIST_STROKE_RANGE,
    "PAGE_SIDE": page_steps.PAGE_SIDE,
    "PAGE_SHARE": page_steps.PAGE_SHARE,
    "PAGE_MIN_CONTRAST": page_steps.PAGE_MIN_CONTRAST,
    "PAGE_MAX_HOLES": page_steps.PAGE_MAX_HOLES,
    "PAGE_HOLE_LEVEL": page_steps.PAGE_HOLE_LEVEL,
    "PAGE_MIN_SHARP": page_steps.PAGE_MIN_SHARP,
    "PAGE_MIN_SOME_SHARP": page_steps.PAGE_MIN_SOME_SHARP,
    "PAGE_MIN_HULL_SHARP": page_steps.PAGE_MIN_HULL_SHARP,
    "PAGE_MIN_SOLIDITY": page_steps.PAGE_MIN_SOLIDITY,
    "PAGE_MIN_RECTANGULAR": page_steps.PAGE_MIN_RECTANGULAR,
    "PAGE_LIGHT_WINDOW": page_steps.PAGE_LIGHT_WINDOW,
    "PAGE_EDGE": page_steps.PAGE_EDGE,
    "PAGE_MAX_OVERLAP": page_steps.PAGE_MAX_OVERLAP,
    "TAKEN_INSIDE": page_steps.TAKEN_INSIDE,
    "TAKEN_WRITING": page_steps.TAKEN_WRITING,
    "TAKEN_MAX_CONTRAST": page_steps.TAKEN_MAX_CONTRAST,
    "TAKEN_MIN_SOLIDITY": page_steps.TAKEN_MIN_SOLIDITY,
    "TAKEN_MIN_RECTANGULAR": page_steps.TAKEN_MIN_RECTANGULAR,
    "GRAINY_PIECES": GRAINY_PIECES,
    "GRAIN_BLUR": ink_steps.GRAIN_BLUR,
}
# Bump when a step's logic changes in a way that changes what a model sees (the values above
# are fingerprinted on their own).
# 2: the holes in a sheet are only what is darker than the paper; 3: a sheet the page step
# missed, which a light-on-dark reading took for ink, is found again from that ink; 4: a digit
# found in grains (chalk) is read again from a slightly blurred foreground.
ALGORITHM = 4

# A refusal that never changes an image the models still see (it only stops some before they
# reach a model) leaves the fingerprint, and the nets' stamps, as they are; what the pipeline
# makes does change, so caches of its output hash these too (``output_version``).
REFUSALS = 1  # 1: a straight edge of a sheet or a shadow is no digit (``is_light_edge``)
REFUSAL_PARAMS = {
    "EDGE_MAX_WIDTH": EDGE_MAX_WIDTH,
    "EDGE_MIN_BRIGHT_SIDE": EDGE_MIN_BRIGHT_SIDE,
}

# Version 1's fingerprint, stamped in the nets shipped before, predates ``PARAMS``: it hashed every
# upper-case constant of this module, which also took in the steps' titles and the no-digit
# sentence as they then read. They are kept here, frozen, so that version 1 hashes the same;
# editing a title or ``digitlab.contract`` no longer changes the fingerprint.
VERSION_1_TEXT = {
    "BACKGROUND_REMOVED": "Background removed",
    "BINARISED": "Binarised finely",
    "CENTRED": "Centred by mass in 28x28",
    "CROPPED": "Cropped",
    "DECODED": "Decoded (grey)",
    "DIGIT_FOUND": "Digit found",
    "FITTED": "Fitted in 20x20",
    "INK_WHITE": "Ink made white",
    "NO_DIGIT": "No digit found in this image.",
    "PAGE_FOUND": "Page found",
    "STROKE_NORMALISED": "Stroke width normalised",
}
VERSION_1_TITLES = [
    "Decoded (grey)", "Page found", "Ink made white", "Background removed", "Digit found",
    "Cropped", "Binarised finely", "Stroke width normalised", "Fitted in 20x20",
    "Centred by mass in 28x28",
]  # fmt: skip


def pipeline_version() -> str:
    """A fingerprint of the pipeline: a hash of ``PARAMS`` and of ``ALGORITHM``.

    Version 1 hashes as its fingerprint always did (see ``VERSION_1_TEXT``), so the shipped
    nets' stamps stay valid; later versions add ``ALGORITHM`` to what is hashed.
    """
    hashed: list = [{**PARAMS, **VERSION_1_TEXT}, VERSION_1_TITLES]
    if ALGORITHM != 1:
        hashed.append(ALGORITHM)
    text = json.dumps(hashed, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def output_version() -> str:
    """What caches of the pipeline's output are keyed by: the fingerprint, and the refusals
    that leave it as it is (``REFUSALS``, ``REFUSAL_PARAMS``)."""
    text = json.dumps([pipeline_version(), REFUSALS, REFUSAL_PARAMS], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Preprocessed:
    """The pipeline's result with its intermediate images (title, 2-D array) in order.

    ``bbox`` is (x0, y0, x1, y1) of the digit in the decoded input's full-resolution pixels.
    """

    image: np.ndarray
    steps: list[tuple[str, np.ndarray]]
    bbox: Box


@dataclass(frozen=True)
class InkMap:
    """The first half of the pipeline: the upload as bright ink on a flat black background.

    ``page`` is the working image with everything off the sheet of paper made paper-coloured
    (``working`` itself when there is no such sheet); ``candidates`` marks pixels bright enough
    to be ink; ``to_input`` converts working pixels to the decoded input's pixels; ``coarse``
    says the upload was tiny (a low-resolution scan).
    """

    working: np.ndarray
    page: np.ndarray
    white_on_black: np.ndarray
    foreground: np.ndarray
    candidates: np.ndarray
    to_input: float
    coarse: bool = False

    @cached_property
    def digit_mask(self) -> np.ndarray | None:
        """The pixels kept as the digit (``find_digit_components``), None when there is none;
        found once, though ``find_ink`` looks at them before ``preprocess_ink`` does."""
        try:
            return find_digit_components(self.candidates, self.foreground)
        except NoDigitError:
            return None


def preprocess(image: ImageSource, steps: bool = False) -> np.ndarray | Preprocessed:
    """Turn any upload into an MNIST-like float32 [28, 28] image in [0, 1], white on black.

    Raises ``ImageError`` for unusable input and ``NoDigitError`` when no digit is visible.
    """
    return preprocess_ink(find_ink(image), steps)


def preprocess_ink(ink: InkMap, steps: bool = False) -> np.ndarray | Preprocessed:
    """The second half of ``preprocess``, on ``find_ink``'s result (callers that also read the
    upload as a number find the ink once). Raises ``NoDigitError`` when no digit is visible."""
    digit_mask = ink.digit_mask
    if digit_mask is None:
        raise NoDigitError(NO_DIGIT)
    if not ink.coarse and is_light_edge(digit_mask, ink.white_on_black, ink.candidates):
        raise NoDigitError(NO_DIGIT)
    box = scale_box(mask_box(digit_mask), ink.to_input)
    if max(box[2] - box[0], box[3] - box[1]) < MIN_DIGIT_SIDE:
        raise NoDigitError(NO_DIGIT)
    result, digit_steps = render_digit(ink.foreground, digit_mask, coarse=ink.coarse)
    if not steps:
        return result
    shown = [
        (DECODED, ink.working),
        (PAGE_FOUND, ink.page),
        (INK_WHITE, ink.white_on_black),
        (BACKGROUND_REMOVED, ink.foreground),
        (DIGIT_FOUND, digit_mask.astype(np.uint8) * 255),
        *digit_steps,
    ]
    return Preprocessed(result, shown, box)


def naive_preprocess(image: ImageSource) -> np.ndarray:
    """The baseline: grey, resize the whole image to 28x28, scale to [0, 1]; no inversion."""
    grey = decode_image(image).grey
    return resize(grey, MNIST_SIDE, MNIST_SIDE, Image.BILINEAR)


def find_ink(image: ImageSource) -> InkMap:
    """Decode, bring to working size, make ink white and remove the background."""
    decoded = decode_image(image, max_side=WORKING_SIDE)
    grey, block = undo_pixel_replication(decoded.grey)
    small_upload = max(grey.shape) <= SMALL_UPLOAD_SIDE
    working, factor = to_working_size(grey)
    to_input = factor * block * decoded.scale
    if small_upload:  # a tiny scan: no sheet, and a flat background
        white = to_white_on_black(working, detect_ink_is_dark(working))
        foreground = remove_flat_background(white)
        candidates = threshold_ink(foreground)
        return InkMap(working, working, white, foreground, candidates, to_input, coarse=True)
    page = isolate_page(working)
    # Writing on a sheet found lying on a desk is darker than the sheet.
    ink_is_dark = page is not working or detect_ink_is_dark(page)
    ink = ink_on(working, page, ink_is_dark, to_input)
    if ink_is_dark or ink.digit_mask is None:
        return ink
    sheet = sheet_taken_for_ink(working, ink.digit_mask)
    if sheet is None:
        return ink
    on_sheet = ink_on(working, paint_off_page(working, sheet), True, to_input)
    return ink if on_sheet.digit_mask is None else on_sheet


def ink_on(working: np.ndarray, page: np.ndarray, ink_is_dark: bool, to_input: float) -> InkMap:
    """``find_ink``'s steps after the sheet and the polarity are settled."""
    white = to_white_on_black(page, ink_is_dark)
    foreground = remove_background(white)
    ink = ink_from_foreground(working, page, white, foreground, to_input)
    if ink_is_dark or ink.digit_mask is None or not is_grainy(ink.digit_mask):
        return ink
    # Chalk on a board left the digit in grains: read it again slightly blurred, where the
    # grains join into strokes. (Dark ink is left as it is: a pencil's grains on paper read
    # well enough, and blank paper's texture would join into digit-like blobs.)
    return ink_from_foreground(working, page, white, join_grains(foreground), to_input)


def ink_from_foreground(
    working: np.ndarray, page: np.ndarray, white: np.ndarray, foreground: np.ndarray,
    to_input: float,
) -> InkMap:  # fmt: skip
    """The ink map of a ``foreground``: its candidate ink pixels found."""
    # A tiny scan, enlarged smoothly, has soft edges of its own; nothing else here does.
    candidates = drop_soft_blobs(foreground, threshold_ink(foreground))
    return InkMap(working, page, white, foreground, candidates, to_input)


def render_digit(
    foreground: np.ndarray, digit_mask: np.ndarray, coarse: bool = False
) -> tuple[np.ndarray, list[tuple[str, np.ndarray]]]:
    """Crop, binarise finely, normalise the stroke, fit 20x20 and centre; also the steps.

    A ``coarse`` upload (an 8x8 to 64x64 scan) is not binarised: at that resolution its grey
    levels *are* the shape (a 9's small loop is one darker pixel), and a threshold would
    erase them. Its soft crop is fitted and centred as it is.
    """
    crop = crop_digit(foreground, digit_mask)
    if coarse:
        fitted = fit_20x20_soft(crop)
        centred = center_by_mass(fitted)
        return centred, [(CROPPED, crop), (FITTED, fitted), (CENTRED, centred)]
    shape = binarise_fine(crop)
    if not shape.any():
        raise NoDigitError(NO_DIGIT)
    stroked = normalise_stroke_width(shape)
    fitted = fit_20x20(stroked)
    centred = center_by_mass(fitted)
    steps = [
        (CROPPED, crop),
        (BINARISED, shape.astype(np.uint8) * 255),
        (STROKE_NORMALISED, stroked.astype(np.uint8) * 255),
        (FITTED, fitted),
        (CENTRED, centred),
    ]
    return centred, steps
