"""From the digit's pixels to an MNIST digit: the second half's steps.

MNIST's binary NIST digits were scaled to fit a 20x20 box with their aspect ratio kept,
anti-aliased by the resampling, then placed in a 28x28 field centred by mass. Each function
here redoes one of those steps; ``digitlab.imaging.pipeline.render_digit`` runs them in order.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from digitlab.contract import NO_DIGIT
from digitlab.errors import NoDigitError
from digitlab.imaging.components import mask_box
from digitlab.imaging.resample import resize

FINE_SIDE = 80  # the digit's long side when binarised; NIST's were about 128
MNIST_BOX = 20  # MNIST digits fit a 20x20 box...
MNIST_SIDE = 28  # ...centred by mass in a 28x28 field
# MNIST's stroke width in the 20x20 frame, measured on MNIST training digits with
# ``stroke_width``: 10th to 90th percentile (median 2.6). Widths outside are pulled inside.
MNIST_STROKE_RANGE = (1.9, 3.6)


def fit_20x20_soft(crop: np.ndarray) -> np.ndarray:
    """Scale a grey crop (ink brighter) so its ink's box fits 20x20, aspect kept, max 1."""
    peak = float(crop.max())
    if peak <= 0:
        raise NoDigitError(NO_DIGIT)
    grey = crop / peak
    x0, y0, x1, y1 = mask_box(grey > 0.25)  # the box of the ink, not of its faint halo
    fitted = long_side_to_20(grey[y0:y1, x0:x1])
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


def stroke_width_px(shape: np.ndarray) -> float:
    """Typical stroke width of a binary shape, in its own pixels (0 for an empty shape).

    Twice the distance-to-background along the stroke's ridge (the medial axis), median.
    """
    if not shape.any():
        return 0.0
    distance = ndi.distance_transform_edt(np.pad(shape, 1))[1:-1, 1:-1]
    ridge = shape & (distance >= ndi.maximum_filter(distance, size=3))
    return float(2 * np.median(distance[ridge]))


def stroke_width(shape: np.ndarray) -> float:
    """Typical stroke width of a binary digit, in pixels of its MNIST 20x20 frame."""
    if not shape.any():
        return 0.0
    x0, y0, x1, y1 = mask_box(shape)
    return stroke_width_px(shape) * MNIST_BOX / max(x1 - x0, y1 - y0)


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
    return long_side_to_20(shape[y0:y1, x0:x1].astype(np.float32))


def long_side_to_20(tight: np.ndarray) -> np.ndarray:
    """A crop tight around its ink, scaled so its long side is 20 pixels, aspect kept, by
    area averaging (MNIST's anti-aliasing), in [0, 1]."""
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
