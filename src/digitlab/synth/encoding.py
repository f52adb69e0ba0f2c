"""File bytes in many formats and modes, as people's uploads come: the user-like generator's
last step."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def encode(rgb: np.ndarray, fmt: str, mode: str, rng: np.random.Generator, **save) -> bytes:
    """Encode a float RGB(A) image in [0, 1] as ``fmt`` bytes in PIL ``mode``."""
    channels = "RGBA" if rgb.shape[2] == 4 else "RGB"
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), channels)
    if mode == "I;16":
        grey = np.asarray(image.convert("L"), np.uint16) * 257
        image = Image.fromarray(grey.astype(np.uint16))
    elif mode == "1":  # a 1-bit scan is thresholded, not dithered
        image = image.convert("L").point(lambda v: 255 if v > 128 else 0).convert("1")
    elif mode == "P":
        image = image.convert("P", palette=Image.ADAPTIVE, colors=int(rng.integers(16, 256)))
    elif mode != channels:
        image = image.convert(mode)
    if fmt == "JPEG":
        save.setdefault("quality", int(rng.integers(50, 96)))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def with_exif_orientation(rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Store the pixels rotated as a phone sensor does, with the EXIF tag that undoes it."""
    orientation = int(rng.choice([1, 3, 6, 8]))
    turns = {1: 0, 3: 2, 6: 1, 8: 3}[orientation]  # stored pixels: k quarter-turns anticlockwise
    stored = np.rot90(rgb, k=turns) if turns else rgb
    exif = Image.Exif()
    exif[0x0112] = orientation
    return np.ascontiguousarray(stored), {"exif": exif.tobytes()}
