"""From an upload to bright ink on a flat black background: the first half's steps.

Working size, pixel replication undone, polarity (which side is ink), background removal and
the threshold that marks pixels that may be ink. ``digitlab.imaging.pipeline.find_ink`` runs
them in order.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from digitlab.imaging.resample import resize, shrink

WORKING_SIDE = 400  # long side for finding the digit: fast, and enough for a digit's shape
SMALL_UPLOAD_SIDE = 64  # uploads this small (low-resolution scans) have a flat background
MIN_WORKING_SIDE = 128  # tiny images (8x8 scans) are enlarged smoothly to at least this
MIN_INK_CONTRAST = 0.06  # an ink peak below this (on a 0-1 scale) is not a digit
# Ink's edges rise to its peak within a few working pixels; light does not. The steepest slope
# of a blob (smoothed, per working pixel) over its peak: pen, pencil, chalk and marker strokes
# in generated photos, scans and desk shots measure 0.19 or more, the residue of a lighting
# gradient or a soft shadow on blank paper 0.08 or less.
MIN_INK_SHARPNESS = 0.14
# A coarse scan enlarged smoothly has soft edges too, but its digit is strongly contrasted:
# 0.29 or more in generated ones, where light's residue on blank paper reached 0.42 (0.59 for
# the steepest generated gradients).
MIN_ENLARGED_CONTRAST = 0.25  # for a blob clear of the image's edge
MAX_LIGHT_CONTRAST = 0.45  # for any blob
GRAIN_BLUR = 1.5  # px at working size: a blur that joins the grains of a chalk stroke


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


def blob_maxima(values: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """[count]: the largest of ``values`` on each blob 1..count of ``labels`` (``ndi.label``'s).

    What ``ndi.maximum(values, labels, index)`` gives, without its sort of the whole image:
    that took 4-8 ms an upload, twice, a third of the pipeline's time; this takes 0.1 ms.
    """
    found = np.full(count + 1, -np.inf, values.dtype)
    on_blob = labels > 0
    np.maximum.at(found, labels[on_blob], values[on_blob])
    return found[1:]


def drop_soft_blobs(foreground: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``candidates`` without the blobs whose edges are too soft to be ink.

    A smooth gradient or a soft shadow on blank paper leaves a broad, faint residue that the
    threshold keeps; its edges rise over tens of pixels where a stroke's rise over a few
    (``MIN_INK_SHARPNESS``). Only whole blobs are dropped: a digit inside a shadow keeps the
    shadow's blob, as before. When a residue is dropped, what it leaves must be clear ink: a
    sharp blob reaching 1.5 times ``MIN_INK_CONTRAST`` (after smoothing); else nothing is (faint
    paper grain and compression blocks that the residue's level let through).
    """
    labels, count = ndi.label(candidates)
    if count == 0:
        return candidates
    smooth = ndi.gaussian_filter(foreground, 1.0)
    rows, cols = np.gradient(smooth)
    slope = blob_maxima(np.hypot(rows, cols), labels, count)
    peak = blob_maxima(smooth, labels, count)
    sharp = slope >= MIN_INK_SHARPNESS * np.maximum(peak, 1e-6)
    # Light comes from beyond the page and is faint after background removal: its residue
    # reaches the image's edge or stays weak. A soft blob inside the image and clearly
    # contrasted, or strongly contrasted anywhere, is a digit enlarged smoothly from a coarse
    # scan.
    height, width = candidates.shape
    for i, (rows, cols) in enumerate(ndi.find_objects(labels)):
        inside = rows.start > 0 and cols.start > 0 and rows.stop < height and cols.stop < width
        sharp[i] |= (inside and peak[i] >= MIN_ENLARGED_CONTRAST) or peak[i] >= MAX_LIGHT_CONTRAST
    if sharp.all():
        return candidates
    if not sharp.any() or peak[sharp].max() < 1.5 * MIN_INK_CONTRAST:
        return np.zeros_like(candidates)
    return candidates & np.concatenate([[False], sharp])[labels]


def join_grains(foreground: np.ndarray) -> np.ndarray:
    """``foreground`` blurred just enough (``GRAIN_BLUR``) to join the grains of a textured
    stroke: chalk on a board breaks a small digit's strokes into specks, which a model sees as
    blobs, not strokes, and refuses."""
    return ndi.gaussian_filter(foreground, GRAIN_BLUR).astype(np.float32, copy=False)
