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
