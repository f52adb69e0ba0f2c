"""Scenes for the user-like generator: where the digit sits on the canvas, paper and ink
colours, ruled lines, uneven lighting and a camera's blur and noise."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def place(coverage: np.ndarray, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Paste ``coverage`` at a random (often off-centre) position on a blank canvas."""
    canvas = np.zeros((height, width), np.float32)
    ch, cw = coverage.shape
    ch, cw = min(ch, height), min(cw, width)
    y = int(rng.integers(0, height - ch + 1))
    x = int(rng.integers(0, width - cw + 1))
    canvas[y : y + ch, x : x + cw] = coverage[:ch, :cw]
    return canvas


def lighting(height: int, width: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A multiplicative light field: linear gradient, vignetting and perhaps a soft shadow."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy, xx = yy / height - 0.5, xx / width - 0.5
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + strength * rng.uniform(0.2, 1.0) * (np.cos(angle) * xx + np.sin(angle) * yy)
    light -= strength * rng.uniform(0.0, 0.8) * (xx**2 + yy**2)
    if rng.random() < 0.5:  # a soft shadow over part of the sheet (a hand, a phone)
        a = rng.uniform(0, 2 * np.pi)
        edge = np.cos(a) * xx + np.sin(a) * yy - rng.uniform(-0.1, 0.35)
        softness = rng.uniform(0.02, 0.15)
        shadow = 1.0 / (1.0 + np.exp(-edge / softness))
        light *= 1.0 - rng.uniform(0.15, 0.45) * shadow
    return np.clip(light, 0.2, 1.3).astype(np.float32)


def paint(
    coverage: np.ndarray, paper: np.ndarray, ink: np.ndarray, light: np.ndarray | float = 1.0
) -> np.ndarray:
    """RGB float image: ink colour over paper colour by coverage, then lit."""
    c = coverage[..., None]
    rgb = paper[None, None, :] * (1 - c) + ink[None, None, :] * c
    return rgb * (light[..., None] if isinstance(light, np.ndarray) else light)


def camera(rgb: np.ndarray, rng: np.random.Generator, blur: float, noise: float) -> np.ndarray:
    """Optical blur and sensor noise, clipped to [0, 1]."""
    if blur > 0:
        rgb = ndi.gaussian_filter(rgb, sigma=(blur, blur, 0))
    rgb = rgb + rng.normal(0.0, noise, rgb.shape[:2])[..., None]
    return np.clip(rgb, 0.0, 1.0)


def random_paper(rng: np.random.Generator) -> np.ndarray:
    """Off-white, cream, grey or pastel-tinted paper."""
    base = rng.uniform(0.72, 0.98)
    tint = rng.normal(0.0, 0.04, 3)
    return np.clip(base + tint, 0.5, 1.0).astype(np.float32)


def random_ink(rng: np.random.Generator) -> np.ndarray:
    """Black, blue, red-ish ballpoint or pencil grey."""
    choices = [(0.05, 0.05, 0.08), (0.1, 0.15, 0.5), (0.45, 0.1, 0.12), (0.35, 0.35, 0.38)]
    ink = np.array(choices[rng.integers(len(choices))], np.float32)
    return np.clip(ink + rng.uniform(-0.05, 0.1), 0.0, 1.0)


def ruled_lines(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Faint ruled-paper lines as extra coverage (a real-world distractor)."""
    lines = np.zeros((height, width), np.float32)
    gap = int(rng.integers(max(height // 12, 8), max(height // 5, 10)))
    lines[int(rng.integers(0, gap)) :: gap, :] = rng.uniform(0.08, 0.18)
    return lines
