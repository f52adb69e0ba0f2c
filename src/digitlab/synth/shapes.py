"""A digit as a high-resolution ink coverage map in [0, 1]: upscaled, re-stroked, warped and
cut tight, for the user-like generator (``digitlab.synth.userlike``)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage as ndi


def upscale(image: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Bicubic resize of a float image to ``height`` x ``width`` (square when width is None)."""
    width = height if width is None else width
    resized = Image.fromarray(image.astype(np.float32), "F").resize((width, height), Image.BICUBIC)
    return np.clip(np.asarray(resized), 0.0, 1.0)


def crisp_ink(soft: np.ndarray, level: float, edge: float = 0.08) -> np.ndarray:
    """Turn a blurry upscaled digit into pen-like coverage: a steep ramp around ``level``."""
    return np.clip((soft - level) / edge + 0.5, 0.0, 1.0)


def thin_to_skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean mask to one-pixel-wide lines (vectorised)."""
    skel = np.pad(mask.astype(bool), 1)
    while True:
        changed = False
        for first_pass in (True, False):
            p = skel
            n = [
                np.roll(p, shift, axis=(0, 1))
                for shift in [(1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1)]
            ]
            p2, p3, p4, p5, p6, p7, p8, p9 = n
            count = sum(x.astype(np.uint8) for x in n)
            ring = n + [p2]
            transitions = sum(
                (~a & b).astype(np.uint8) for a, b in zip(ring, ring[1:], strict=False)
            )
            if first_pass:
                cond = ~(p2 & p4 & p6) & ~(p4 & p6 & p8)
            else:
                cond = ~(p2 & p4 & p8) & ~(p2 & p6 & p8)
            remove = p & (count >= 2) & (count <= 6) & (transitions == 1) & cond
            if remove.any():
                skel = skel & ~remove
                changed = True
        if not changed:
            return skel[1:-1, 1:-1]


def restroke(coverage: np.ndarray, width: float) -> np.ndarray:
    """Redraw a digit with a round pen ``width`` pixels wide along its skeleton (anti-aliased)."""
    skeleton = thin_to_skeleton(coverage > 0.5)
    if not skeleton.any():
        return coverage
    distance = ndi.distance_transform_edt(~skeleton)
    return np.clip(width / 2.0 + 0.5 - distance, 0.0, 1.0).astype(np.float32)


def mnist_shape(digit: np.ndarray, height: int, rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit redrawn crisply at ``height`` pixels, its stroke width varied a little."""
    soft = upscale(digit, height)
    return crisp_ink(soft, level=rng.uniform(0.3, 0.6), edge=rng.uniform(0.05, 0.3))


def warp(coverage: np.ndarray, angle: float, shear: float) -> np.ndarray:
    """Rotate by ``angle`` degrees and shear horizontally, growing the canvas to fit."""
    h, w = coverage.shape
    pad = int(0.6 * max(h, w) * abs(shear)) + int(0.3 * max(h, w) * abs(np.sin(np.radians(angle))))
    padded = np.pad(coverage, pad + 2)
    image = Image.fromarray(padded.astype(np.float32), "F")
    if shear:
        ph = padded.shape[0]
        image = image.transform(
            image.size, Image.AFFINE, (1, shear, -shear * ph / 2, 0, 1, 0), Image.BILINEAR
        )
    if angle:
        image = image.rotate(angle, Image.BILINEAR)
    return np.clip(np.asarray(image), 0.0, 1.0)


def tight(coverage: np.ndarray, margin: int = 2) -> np.ndarray:
    """Crop a coverage map to its ink plus ``margin`` pixels."""
    rows = np.flatnonzero(coverage.max(axis=1) > 0.02)
    cols = np.flatnonzero(coverage.max(axis=0) > 0.02)
    if rows.size == 0:
        return coverage
    y0, y1 = max(rows[0] - margin, 0), rows[-1] + margin + 1
    x0, x1 = max(cols[0] - margin, 0), cols[-1] + margin + 1
    return coverage[y0:y1, x0:x1]
