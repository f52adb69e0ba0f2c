"""Pixel-derived features shared by the classic models: image moments, deskewing, blur.

Deskewing (LeCun et al.; Ciresan et al.) shears each digit so that its principal axis is
vertical: slant is the largest variation between writers that carries no information
about the digit, and removing it helps models that compare pixels directly (k-NN, LR).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

BATCH = 8192


def as_float_images(images: np.ndarray) -> np.ndarray:
    """[N,28,28] (or one [28,28]) uint8 0-255 or float in [0,1] -> float32 [N,28,28] in [0,1]."""
    from digitlab.errors import ImageError

    arr = np.asarray(images)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (28, 28):
        raise ImageError(f"Expected images of shape [N,28,28], got {list(arr.shape)}.")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise ImageError(f"Expected uint8 or float images, got {arr.dtype}.")
    arr = arr.astype(np.float32)
    if arr.size and (not np.isfinite(arr).all() or arr.min() < -1e-3 or arr.max() > 1 + 1e-3):
        raise ImageError("Float images must hold values in [0, 1] (uint8 images: 0-255).")
    return np.clip(arr, 0.0, 1.0)


def as_image28(image: np.ndarray) -> np.ndarray:
    """One float32 [28,28] image in [0,1] from a preprocessed one (uint8 0-255 or float in
    [0,1], [28,28] or [1,28,28]); ``ImageError`` for anything else."""
    from digitlab.errors import ImageError

    x = as_float_images(image)
    if len(x) != 1:
        raise ImageError(f"Expected one 28x28 image, got {len(x)}.")
    return x[0]


def _deskew_batch(x: torch.Tensor) -> torch.Tensor:
    # Shear horizontally by alpha = cov(x, y) / var(y) around the centre of mass, so the
    # digit's main axis becomes vertical; the centre of mass moves to the image centre.
    n = x.shape[0]
    coords = torch.arange(28, dtype=x.dtype)
    mass = x.sum(dim=(1, 2)).clamp_min(1e-6)
    cy = (x.sum(dim=2) * coords).sum(1) / mass
    cx = (x.sum(dim=1) * coords).sum(1) / mass
    dy = coords[None, :, None] - cy[:, None, None]
    dx = coords[None, None, :] - cx[:, None, None]
    var_y = (x * dy * dy).sum(dim=(1, 2)) / mass
    cov_xy = (x * dx * dy).sum(dim=(1, 2)) / mass
    alpha = torch.where(var_y > 1e-6, cov_xy / var_y.clamp_min(1e-6), torch.zeros_like(var_y))
    # Output pixel (u, v) samples input (u + cx - 13.5 + alpha * (v - 13.5), v + cy - 13.5).
    theta = torch.zeros(n, 2, 3, dtype=x.dtype)
    theta[:, 0, 0] = 1.0
    theta[:, 0, 1] = alpha
    theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = (cx - 13.5) / 14.0
    theta[:, 1, 2] = (cy - 13.5) / 14.0
    grid = F.affine_grid(theta, (n, 1, 28, 28), align_corners=False)
    out = F.grid_sample(x[:, None], grid, mode="bilinear", align_corners=False)
    return out[:, 0]


def deskew(images: np.ndarray) -> np.ndarray:
    """Deskew float images [N,28,28] in [0,1] (see module docstring)."""
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    with torch.no_grad():
        parts = [_deskew_batch(x[i : i + BATCH]) for i in range(0, len(x), BATCH)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, 28, 28), np.float32)


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Blur [N,28,28] images with a separable Gaussian (sigma in pixels); 0 = unchanged."""
    if sigma <= 0:
        return images
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]
    with torch.no_grad():
        x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
        x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return x[:, 0].numpy()
