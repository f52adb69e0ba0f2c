"""Resampling float images: the one resize every step uses, and a shrink for cheap looks."""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize(image: np.ndarray, height: int, width: int, resample: int) -> np.ndarray:
    """Resize a float image with PIL (mode F keeps full precision)."""
    resized = Image.fromarray(image.astype(np.float32, copy=False), "F").resize(
        (max(width, 1), max(height, 1)), resample
    )
    return np.asarray(resized, dtype=np.float32)


def shrink(image: np.ndarray, long_side: int) -> np.ndarray:
    """Area-average ``image`` down so that its long side is at most ``long_side``."""
    factor = max(image.shape) / long_side
    if factor <= 1:
        return image
    height, width = (max(round(s / factor), 1) for s in image.shape)
    return resize(image, height, width, Image.BOX)
