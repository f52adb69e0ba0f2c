"""People's images -> MNIST-like 28x28 digits, as one pure function per step.

MNIST was made in a particular way, and models trained on it expect exactly that: each
binary NIST digit was scaled to fit a 20x20 box with its aspect ratio kept, anti-aliased by
the resampling (hence the grey edges), then placed in a 28x28 field so that its centre of
*mass* sits at the centre, white ink on black. Resizing a whole photo to 28x28 ignores all of
it, and the models fail on people's own handwriting. This module redoes each step:

1. decode safely (``digitlab.imageio``) and work at most ``WORKING_SIDE`` pixels on the long
   side (tiny images are enlarged smoothly to ``MIN_WORKING_SIDE``);
2. decide the polarity (is the ink darker or lighter than the paper?) and make ink white;
3. subtract a large-scale background estimate (uneven lighting, shadows, tinted paper);
4. threshold relative to the noise and the ink's contrast, label connected components and keep
   the digit: drop specks and artefacts along the border (scanner edges, paper edges);
5. crop the digit and binarise it at high resolution (``FINE_SIDE``), as NIST's digits were
   (a tiny upload, a coarse 8x8 to 64x64 scan, keeps its grey levels instead: they are its
   shape);
6. bring its stroke width into MNIST's range (thin pens, thick markers);
7. fit it into 20x20 keeping its aspect ratio, with area resampling for MNIST's anti-aliasing;
8. centre it by centre of mass in 28x28.

``preprocess(image)`` returns the float32 28x28 image in [0, 1]; ``preprocess(image,
steps=True)`` returns a ``Preprocessed`` with every intermediate image, for display.
``naive_preprocess`` is the baseline everyone starts with (resize the upload to 28x28).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from digitlab.errors import NoDigitError
from digitlab.imageio import ImageSource, decode_image

WORKING_SIDE = 400  # long side for finding the digit: fast, and enough for a digit's shape
SMALL_UPLOAD_SIDE = 64  # uploads this small (low-resolution scans) have a flat background
MIN_WORKING_SIDE = 128  # tiny images (8x8 scans) are enlarged smoothly to at least this
FINE_SIDE = 80  # the digit's long side when binarised; NIST's were about 128
MNIST_BOX = 20  # MNIST digits fit a 20x20 box...
MNIST_SIDE = 28  # ...centred by mass in a 28x28 field
# MNIST's stroke width in the 20x20 frame, measured on MNIST training digits with
# ``stroke_width``: 10th to 90th percentile (median 2.6). Widths outside are pulled inside.
MNIST_STROKE_RANGE = (1.9, 3.6)
MIN_INK_CONTRAST = 0.06  # an ink peak below this (on a 0-1 scale) is not a digit
NO_DIGIT = "No digit found in this image."

Box = tuple[int, int, int, int]


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

    ``candidates`` marks pixels bright enough to be ink; ``to_input`` converts working pixels
    to the decoded input's pixels; ``coarse`` says the upload was tiny (a low-resolution scan).
    """

    working: np.ndarray
    white_on_black: np.ndarray
    foreground: np.ndarray
    candidates: np.ndarray
    to_input: float
    coarse: bool = False


def preprocess(image: ImageSource, steps: bool = False) -> np.ndarray | Preprocessed:
    """Turn any upload into an MNIST-like float32 [28, 28] image in [0, 1], white on black.

    Raises ``ImageError`` for unusable input and ``NoDigitError`` when no digit is visible.
    """
    ink = find_ink(image)
    digit_mask = find_digit_components(ink.candidates, ink.foreground)
    result, digit_steps = render_digit(ink.foreground, digit_mask, coarse=ink.coarse)
    if not steps:
        return result
    shown = [
        ("Decoded (grey)", ink.working),
        ("Ink made white", ink.white_on_black),
        ("Background removed", ink.foreground),
        ("Digit found", digit_mask.astype(np.uint8) * 255),
        *digit_steps,
    ]
    return Preprocessed(result, shown, scale_box(mask_box(digit_mask), ink.to_input))


def naive_preprocess(image: ImageSource) -> np.ndarray:
    """The baseline: grey, resize the whole image to 28x28, scale to [0, 1]; no inversion."""
    grey = decode_image(image).grey
    return resize(grey, MNIST_SIDE, MNIST_SIDE, Image.BILINEAR)


# ---------------------------------------------------------------------------------------------
# First half: from an upload to bright ink on black


def find_ink(image: ImageSource) -> InkMap:
    """Decode, bring to working size, make ink white and remove the background."""
    decoded = decode_image(image, max_side=WORKING_SIDE)
    grey, block = undo_pixel_replication(decoded.grey)
    small_upload = max(grey.shape) <= SMALL_UPLOAD_SIDE
    working, factor = to_working_size(grey)
    white = to_white_on_black(working, detect_ink_is_dark(working))
    foreground = remove_flat_background(white) if small_upload else remove_background(white)
    candidates = threshold_ink(foreground)
    to_input = factor * block * decoded.scale
    return InkMap(working, white, foreground, candidates, to_input, coarse=small_upload)


def undo_pixel_replication(grey: np.ndarray) -> tuple[np.ndarray, int]:
    """Shrink an image enlarged by pixel replication (a blocky 8x8 scan) back to its pixels.

    Returns the image and the block size (1 when the image is not blocky).
    """
    height, width = grey.shape
    for block in (32, 16, 8, 4, 2):
        if height % block or width % block or min(height, width) // block < 8:
            continue
        pixels = grey[block // 2 :: block, block // 2 :: block]
        blocky = np.repeat(np.repeat(pixels, block, axis=0), block, axis=1)
        deviation = np.abs(blocky - grey)
        within = deviation.mean()
        # Blocky means flat inside *every* block (a drawing's sharp strokes are not) *and*
        # sharp steps between some blocks (a smooth, blurred photo has none).
        if within >= 0.01 or np.count_nonzero(deviation >= 0.2) > 0.001 * deviation.size:
            continue
        steps = np.concatenate([np.abs(np.diff(pixels, axis=0)).ravel(),
                                np.abs(np.diff(pixels, axis=1)).ravel()])  # fmt: skip
        if within < 0.05 * np.percentile(steps, 99):
            return pixels, block
    return grey, 1


def remove_flat_background(image: np.ndarray) -> np.ndarray:
    """Subtract a constant background: a tiny upload has no lighting to flatten, and its
    strokes are too wide for ``remove_background``'s window."""
    return np.clip(image - np.percentile(image, 10), 0.0, 1.0).astype(np.float32)


def resize(image: np.ndarray, height: int, width: int, resample: int) -> np.ndarray:
    """Resize a float image with PIL (mode F keeps full precision)."""
    resized = Image.fromarray(image.astype(np.float32, copy=False), "F").resize(
        (max(width, 1), max(height, 1)), resample
    )
    return np.asarray(resized, dtype=np.float32)


def to_working_size(grey: np.ndarray) -> tuple[np.ndarray, float]:
    """Shrink (area average) to ``WORKING_SIDE`` or enlarge (bicubic) to ``MIN_WORKING_SIDE``.

    Returns the image and the number of input pixels per working pixel.
    """
    long_side = max(grey.shape)
    if MIN_WORKING_SIDE <= long_side <= WORKING_SIDE:
        return grey.astype(np.float32, copy=False), 1.0
    target = WORKING_SIDE if long_side > WORKING_SIDE else MIN_WORKING_SIDE
    factor = long_side / target
    height = max(round(grey.shape[0] / factor), 1)
    width = max(round(grey.shape[1] / factor), 1)
    resample = Image.BOX if factor > 1 else Image.BICUBIC
    return np.clip(resize(grey, height, width, resample), 0.0, 1.0), factor


def detect_ink_is_dark(grey: np.ndarray) -> bool:
    """True when the ink is darker than the paper.

    The image's edge is usually bare paper; when its shade is ambiguous, paper is taken as the
    dominant shade: a coarse median follows it under lighting changes (and, unlike
    a blur, is not pulled towards the ink), so ink is whichever side of it holds more contrast
    beyond the noise. This holds for thin
    pens on big sheets as for 8x8 scans whose ink covers half the pixels.
    """
    small = shrink(grey, 128)
    border_says = border_shade_is_light(small)
    if border_says is not None:
        return border_says
    tiny = shrink(grey, 32)
    paper = ndi.median_filter(tiny, size=max(3, max(tiny.shape) // 3), mode="nearest")
    deviation = small - resize(paper, small.shape[0], small.shape[1], Image.BILINEAR)
    noise = 1.4826 * np.median(np.abs(deviation - np.median(deviation)))
    margin = 3.0 * noise + 0.02
    dark = np.clip(-deviation - margin, 0.0, None).sum()
    light = np.clip(deviation - margin, 0.0, None).sum()
    return bool(dark >= light)


def border_shade_is_light(image: np.ndarray) -> bool | None:
    """Whether the image's edge (usually paper) is clearly the light or the dark extreme.

    None when the edge's shade is ambiguous (shadows, ink crossing the edge).
    """
    low, high = np.percentile(image, [1, 99])
    if high - low < MIN_INK_CONTRAST:
        return None
    edge = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    position = (np.median(edge) - low) / (high - low)
    return None if 0.2 < position < 0.8 else bool(position >= 0.8)


def shrink(image: np.ndarray, long_side: int) -> np.ndarray:
    """Area-average ``image`` down so that its long side is at most ``long_side``."""
    factor = max(image.shape) / long_side
    if factor <= 1:
        return image
    height, width = (max(round(s / factor), 1) for s in image.shape)
    return resize(image, height, width, Image.BOX)


def to_white_on_black(grey: np.ndarray, ink_is_dark: bool) -> np.ndarray:
    """Invert dark-ink images so that ink is bright on a dark background, as in MNIST."""
    return (1.0 - grey).astype(np.float32) if ink_is_dark else grey


def remove_background(image: np.ndarray) -> np.ndarray:
    """Subtract a smooth estimate of the (dark) background: lighting gradients, shadows, tint.

    The estimate is a grey opening on a coarse copy: it erases bright things narrower than its
    window (strokes) and keeps what varies slowly (light, paper). The window is a fifth of the
    image, or wider when a first look finds a big digit whose strokes are wider than that.
    """
    coarse = shrink(image, 64)
    long_side = max(coarse.shape)
    size = opening_size(coarse, max(3, round(long_side / 5)))
    opened = ndi.grey_opening(coarse, size=(size, size), mode="nearest")
    smooth = ndi.uniform_filter(opened, size=max(3, size // 2), mode="nearest")
    # Smoothing blurs the edge of a sharp shadow and would leave a bright band beside it that
    # can swallow a digit: never go below the opening itself, nor above the image's local min.
    background = np.maximum(smooth, opened)
    background = np.minimum(background, ndi.grey_erosion(coarse, size=(3, 3), mode="nearest"))
    if background.shape != image.shape:
        background = resize(background, image.shape[0], image.shape[1], Image.BILINEAR)
    return np.clip(image - background, 0.0, 1.0).astype(np.float32)


def opening_size(coarse: np.ndarray, size: int) -> int:
    """Widen the opening window to 40% of the biggest ink blob's extent, if that is larger."""
    ink = coarse - ndi.grey_opening(coarse, size=(size, size), mode="nearest")
    if ink.max() <= MIN_INK_CONTRAST:
        return size
    labels, count = ndi.label(ink > 0.5 * ink.max())
    sizes = np.bincount(labels.ravel())[1:]
    rows, cols = ndi.find_objects(labels)[int(np.argmax(sizes))]
    extent = max(rows.stop - rows.start, cols.stop - cols.start)
    return max(size, round(0.4 * extent) + 1)


def threshold_ink(foreground: np.ndarray) -> np.ndarray:
    """Pixels that may be ink: above the noise and above 30% of the ink's peak contrast.

    The noise is measured on differences of neighbouring pixels, which ignore the ink however
    much of the image it covers.
    """
    noise = 1.4826 / np.sqrt(2) * np.median(np.abs(np.diff(foreground, axis=1)))
    peak = float(ndi.uniform_filter(foreground, size=2).max())
    if peak < MIN_INK_CONTRAST or peak < 8 * noise:
        return np.zeros(foreground.shape, bool)
    level = max(0.3 * peak, 5 * noise + np.median(foreground))
    return foreground > level


# ---------------------------------------------------------------------------------------------
# Finding the digit among the candidate pixels


@dataclass(frozen=True)
class Component:
    """One connected blob of candidate ink, with the measurements used to keep or drop it."""

    label: int
    area: int
    mass: float
    box: Box  # x0, y0, x1, y1 in working pixels (exclusive end)


def label_components(candidates: np.ndarray, foreground: np.ndarray) -> tuple[np.ndarray, list]:
    """Label blobs of candidates; return the label image and their ``Component`` records."""
    # Blobs within 2 pixels belong together (chalk and pencil strokes break up into grains).
    near = ndi.maximum_filter(candidates.view(np.uint8), size=5) > 0
    labels, count = ndi.label(near, structure=np.ones((3, 3), bool))
    labels = np.where(candidates, labels, 0)
    if count == 0:
        return labels, []
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    masses = np.bincount(labels.ravel(), weights=foreground.ravel(), minlength=count + 1)
    components = []
    for index, found in enumerate(ndi.find_objects(labels), start=1):
        if found is None:
            continue
        rows, cols = found
        box = (cols.start, rows.start, cols.stop, rows.stop)
        components.append(Component(index, int(areas[index]), float(masses[index]), box))
    return labels, components


def touches_border(component: Component, shape: tuple[int, int]) -> bool:
    """Whether the blob reaches the edge of the image."""
    x0, y0, x1, y1 = component.box
    return x0 == 0 or y0 == 0 or x1 == shape[1] or y1 == shape[0]


def is_border_artefact(component: Component, shape: tuple[int, int]) -> bool:
    """A blob on the image edge that looks like a scanner edge, a paper edge or a shadow line.

    It touches the border and either runs along most of that side or is a thin strip.
    """
    if not touches_border(component, shape):
        return False
    height, width = shape
    x0, y0, x1, y1 = component.box
    box_w, box_h = x1 - x0, y1 - y0
    long_run = box_h >= 0.85 * height or box_w >= 0.85 * width
    strip = min(box_w / width, box_h / height) <= 0.04 and max(box_w, box_h) > 10 * min(
        box_w, box_h
    )
    return long_run or strip


def box_gap(a: Box, b: Box) -> float:
    """The distance between two boxes (0 when they overlap)."""
    dx = max(a[0] - b[2], b[0] - a[2], 0)
    dy = max(a[1] - b[3], b[1] - a[3], 0)
    return float(np.hypot(dx, dy))


def select_digit(components: list[Component], shape: tuple[int, int]) -> list[Component]:
    """The components forming the most prominent digit: the heaviest blob plus nearby pieces.

    Specks (tiny next to the biggest blob) and border artefacts are dropped, unless nothing
    else is left (a digit drawn edge to edge is still a digit).
    """
    if not components:
        return []
    biggest = max(c.area for c in components)
    solid = [c for c in components if c.area >= 0.04 * biggest and c.area >= 4]
    inside = [c for c in solid if not is_border_artefact(c, shape)]
    pool = inside or solid
    main = max(pool, key=lambda c: c.mass)
    away_from_edge = [c for c in pool if not touches_border(c, shape)]
    if touches_border(main, shape) and away_from_edge:  # lighting residue sits on the edges
        runner_up = max(away_from_edge, key=lambda c: c.mass)
        if runner_up.mass >= 0.15 * main.mass:
            main = runner_up
    main_h = main.box[3] - main.box[1]
    main_w = main.box[2] - main.box[0]
    reach = 0.3 * max(main_h, main_w)
    return [
        c
        for c in pool
        if c is main or (box_gap(c.box, main.box) <= reach and c.area >= 0.02 * main.area)
    ]


def find_digit_components(candidates: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Boolean mask of the digit's pixels; raises ``NoDigitError`` when there is none."""
    labels, components = label_components(candidates, foreground)
    chosen = select_digit(components, candidates.shape)
    if not chosen:
        raise NoDigitError(NO_DIGIT)
    return np.isin(labels, [c.label for c in chosen])


def mask_box(mask: np.ndarray) -> Box:
    """(x0, y0, x1, y1) of the True pixels, end exclusive."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def scale_box(box: Box, factor: float) -> Box:
    """A box in working pixels converted to input pixels."""
    return tuple(int(round(v * factor)) for v in box)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Second half: from the digit's pixels to an MNIST digit


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
        return centred, [("Cropped", crop), ("Fitted in 20x20", fitted),
                         ("Centred by mass in 28x28", centred)]  # fmt: skip
    shape = binarise_fine(crop)
    if not shape.any():
        raise NoDigitError(NO_DIGIT)
    stroked = normalise_stroke_width(shape)
    fitted = fit_20x20(stroked)
    centred = center_by_mass(fitted)
    steps = [
        ("Cropped", crop),
        ("Binarised finely", shape.astype(np.uint8) * 255),
        ("Stroke width normalised", stroked.astype(np.uint8) * 255),
        ("Fitted in 20x20", fitted),
        ("Centred by mass in 28x28", centred),
    ]
    return centred, steps


def fit_20x20_soft(crop: np.ndarray) -> np.ndarray:
    """Scale a grey crop (ink brighter) so its ink's box fits 20x20, aspect kept, max 1."""
    peak = float(crop.max())
    if peak <= 0:
        raise NoDigitError(NO_DIGIT)
    grey = crop / peak
    x0, y0, x1, y1 = mask_box(grey > 0.25)  # the box of the ink, not of its faint halo
    tight = grey[y0:y1, x0:x1]
    factor = MNIST_BOX / max(tight.shape)
    height = min(max(round(tight.shape[0] * factor), 1), MNIST_BOX)
    width = min(max(round(tight.shape[1] * factor), 1), MNIST_BOX)
    fitted = np.clip(resize(tight, height, width, Image.BOX), 0.0, 1.0)
    return fitted / max(float(fitted.max()), 1e-6)


def crop_digit(foreground: np.ndarray, digit_mask: np.ndarray, margin: int = 2) -> np.ndarray:
    """The digit's ink (with its soft edges, nothing else) cut to its box plus ``margin``."""
    grown = ndi.maximum_filter(digit_mask.view(np.uint8), size=2 * margin + 1) > 0
    x0, y0, x1, y1 = mask_box(grown)
    return np.where(grown, foreground, 0.0)[y0:y1, x0:x1].astype(np.float32)


def binarise_fine(crop: np.ndarray) -> np.ndarray:
    """Resample the crop to ``FINE_SIDE`` on its long side and cut at half the ink's contrast.

    Half the stroke's peak is where a blurred edge really is, so widths survive blur; the
    binary shape is then anti-aliased again by ``fit_20x20`` as NIST's were.
    """
    factor = FINE_SIDE / max(crop.shape)
    height = max(round(crop.shape[0] * factor), 1)
    width = max(round(crop.shape[1] * factor), 1)
    resample = Image.BOX if factor < 1 else Image.BILINEAR
    fine = ndi.gaussian_filter(resize(crop, height, width, resample), sigma=FINE_SIDE / 60)
    ink = fine[fine > 0.2 * fine.max()]
    if ink.size == 0:
        return np.zeros(fine.shape, bool)
    return fine > 0.5 * float(np.percentile(ink, 90))


def stroke_width(shape: np.ndarray) -> float:
    """Typical stroke width of a binary digit, in pixels of its MNIST 20x20 frame.

    Twice the distance-to-background along the stroke's ridge (the medial axis), median.
    """
    if not shape.any():
        return 0.0
    distance = ndi.distance_transform_edt(np.pad(shape, 1))[1:-1, 1:-1]
    ridge = shape & (distance >= ndi.maximum_filter(distance, size=3))
    x0, y0, x1, y1 = mask_box(shape)
    return float(2 * np.median(distance[ridge]) * MNIST_BOX / max(x1 - x0, y1 - y0))


def normalise_stroke_width(shape: np.ndarray) -> np.ndarray:
    """Thicken thin-pen digits and thin marker digits into MNIST's range of stroke widths.

    Widths already within MNIST's range are left alone (they are what the models learnt).
    """
    width = stroke_width(shape)
    low, high = MNIST_STROKE_RANGE
    if low <= width <= high:
        return shape
    x0, y0, x1, y1 = mask_box(shape)
    per_frame_px = max(x1 - x0, y1 - y0) / MNIST_BOX
    change = ((low if width < low else high) - width) / 2 * per_frame_px
    pad = int(np.ceil(abs(change))) + 1
    padded = np.pad(shape, pad)
    if change > 0:
        return ndi.distance_transform_edt(~padded) <= change
    thinned = ndi.distance_transform_edt(padded) > -change
    return thinned if thinned.sum() >= 0.3 * shape.sum() else padded


def fit_20x20(shape: np.ndarray) -> np.ndarray:
    """Scale the digit's box so its long side is 20 pixels, aspect kept, by area averaging.

    Area averaging of a fine binary shape gives the same grey, anti-aliased edges as MNIST.
    """
    x0, y0, x1, y1 = mask_box(shape)
    tight = shape[y0:y1, x0:x1].astype(np.float32)
    factor = MNIST_BOX / max(tight.shape)
    height = min(max(round(tight.shape[0] * factor), 1), MNIST_BOX)
    width = min(max(round(tight.shape[1] * factor), 1), MNIST_BOX)
    return np.clip(resize(tight, height, width, Image.BOX), 0.0, 1.0)


def center_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place ``digit`` in a 28x28 field with its centre of mass at the centre, as MNIST did.

    Centring by mass rather than by box puts the visual weight where models expect it (a 7's
    mass sits high and right of its box centre). The shift is whole pixels, as in MNIST, and
    never pushes ink off the field.
    """
    height, width = digit.shape
    total = digit.sum()
    cy, cx = ndi.center_of_mass(digit) if total > 0 else ((height - 1) / 2, (width - 1) / 2)
    top = int(np.clip(round(MNIST_SIDE / 2 - cy), 0, MNIST_SIDE - height))
    left = int(np.clip(round(MNIST_SIDE / 2 - cx), 0, MNIST_SIDE - width))
    field = np.zeros((MNIST_SIDE, MNIST_SIDE), np.float32)
    field[top : top + height, left : left + width] = digit
    return field
