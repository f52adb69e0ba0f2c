"""Training-time augmentation for the neural models, on whole batches in torch.

The preprocessing pipeline removes what it can (position, size, polarity, lighting); these
cover what remains in people's digits: small rotations, scale, shear and shifts, elastic
wobble of the strokes, thinner or thicker pens, and coarse low-resolution scans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


@dataclass(frozen=True)
class AugmentConfig:
    rotate_deg: float = 10.0
    scale: float = 0.10  # +-10% size
    shear: float = 0.15
    shift_px: float = 1.5
    elastic_px: float = 1.2  # typical displacement of the smooth random field
    elastic_grid: int = 4  # coarse control grid: smooth, stroke-sized wobble
    p_thickness: float = 0.25
    p_lowres: float = 0.05
    lowres_sizes: tuple[int, ...] = (8, 10, 12, 14)
    p_pool: float = 0.4  # share of each batch drawn from the pool (rendered, styled, negative)


def random_affine(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """A sampling grid [B,28,28,2] for a random rotation/scale/shear/shift (plus elastic wobble)."""
    b = x.shape[0]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(b, generator=gen)

    angle = torch.deg2rad(uniform(-cfg.rotate_deg, cfg.rotate_deg))
    scale = 1.0 + uniform(-cfg.scale, cfg.scale)
    shear = uniform(-cfg.shear, cfg.shear)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin + shear
    theta[:, 1, 0], theta[:, 1, 1] = sin, cos
    theta[:, :, 2] = (torch.rand(b, 2, generator=gen) * 2 - 1) * (cfg.shift_px / 14.0)
    grid = F.affine_grid(theta, (b, 1, 28, 28), align_corners=False)
    if cfg.elastic_px > 0:
        g = cfg.elastic_grid
        coarse = torch.randn(b, 2, g, g, generator=gen) * (cfg.elastic_px / 14.0)
        field = F.interpolate(coarse, size=(28, 28), mode="bicubic", align_corners=True)
        grid = grid + field.permute(0, 2, 3, 1)
    return grid


def change_thickness(x: torch.Tensor, gen: torch.Generator, p: float) -> torch.Tensor:
    """Thicken (grey dilation) or thin (grey erosion) a random share ``p`` of the batch."""
    pick = torch.rand(x.shape[0], generator=gen)
    thicker = F.max_pool2d(x, 3, stride=1, padding=1)
    thinner = -F.max_pool2d(-x, 3, stride=1, padding=1)
    # Half-strength versions: a full 3x3 dilation is already a marker; blend to vary it.
    mix = torch.rand(x.shape[0], 1, 1, 1, generator=gen) * 0.5 + 0.5
    out = x.clone()
    up, down = pick < p / 2, (pick >= p / 2) & (pick < p)
    out[up] = (mix[up] * thicker[up] + (1 - mix[up]) * x[up]).clamp(0, 1)
    out[down] = (mix[down] * thinner[down] + (1 - mix[down]) * x[down]).clamp(0, 1)
    return out


def lower_resolution(x: torch.Tensor, gen: torch.Generator, p: float, sizes) -> torch.Tensor:
    """Make a random share ``p`` of the batch look like a coarse scan, upsampled back.

    The digit (20x20 of the 28x28 field) is averaged down to a few pixels, quantised to
    17 grey levels like old 8x8 scans, and smoothly interpolated back to 28x28.
    """
    pick = torch.rand(x.shape[0], generator=gen) < p
    if not pick.any():
        return x
    out = x.clone()
    size = sizes[int(torch.randint(len(sizes), (1,), generator=gen))]
    field = round(size * 28 / 20)  # the whole 28x28 field at that digit size
    small = F.interpolate(x[pick], size=(field, field), mode="area")
    small = torch.round(small * 16) / 16
    big = F.interpolate(small, size=(28, 28), mode="bilinear", align_corners=False)
    out[pick] = (big / big.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-3)).clamp(0, 1)
    return out


def augment_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Augment float images [B,1,28,28] in [0,1]; deterministic for a given generator state."""
    x = F.grid_sample(x, random_affine(x, cfg, gen), mode="bilinear", align_corners=False)
    x = change_thickness(x, gen, cfg.p_thickness)
    return lower_resolution(x, gen, cfg.p_lowres, cfg.lowres_sizes)


# ----------------------------------------------------------------------------- pools
# Whatever people upload reaches the models through `digitlab.preprocess`, which binarises,
# normalises the stroke width and re-renders each digit; a coarse 8x8 scan comes out as a
# smooth, thick shape. The models learn that look from a pool of *training* digits sent
# through the same pipeline, some first reduced to coarse scans like other writers' 8x8
# digits (UCI/sklearn: 32x32 bitmaps counted in 4x4 blocks, 17 grey levels).


def coarse_scan(digit: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit (uint8 28x28) as a coarse ``size`` x ``size`` scan, values in [0,1]."""
    ink = digit > 127
    ys, xs = np.nonzero(ink)
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.uint8) * 255
    h, w = crop.shape
    side = 32
    scale = side / max(h, w)
    # Other writers' scans were size-normalised to fill the box, often stretching narrow
    # digits: stretch the width part of the way, at random.
    nh = max(1, round(h * scale))
    nw_keep = max(1, round(w * scale))
    nw = round(nw_keep + rng.uniform(0, 0.6) * (side - nw_keep))
    bitmap = np.asarray(Image.fromarray(crop).resize((nw, nh), Image.NEAREST)) > 127
    canvas = np.zeros((side, side), np.float32)
    oy, ox = (side - nh) // 2, (side - nw) // 2
    canvas[oy : oy + nh, ox : ox + nw] = bitmap
    block = side // size
    counts = canvas[: size * block, : size * block].reshape(size, block, size, block).mean((1, 3))
    return np.round(counts * 16) / 16


def rendered_pool(
    images: np.ndarray, labels: np.ndarray, n_pipeline: int, n_coarse: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Training digits (float [N,28,28]) as the pipeline renders them: ([M,28,28], [M]).

    ``n_pipeline`` digits go through `digitlab.preprocess` as they are, ``n_coarse`` are
    first reduced to coarse scans (8x8 mostly, some 12x12 or 16x16).
    """
    from digitlab.errors import DigitLabError
    from digitlab.imaging.pipeline import preprocess

    rng = np.random.default_rng(seed)
    picks = rng.choice(len(images), min(len(images), n_pipeline + n_coarse), replace=False)
    out, out_labels = [], []
    for i, index in enumerate(picks):
        digit = np.rint(images[index] * 255).astype(np.uint8)
        if i >= n_pipeline:
            digit = coarse_scan(digit, int(rng.choice((8, 8, 8, 12, 16))), rng)
        else:  # as a photo or canvas would show it: large enough to be binarised finely
            digit = np.asarray(Image.fromarray(digit).resize((112, 112), Image.BILINEAR))
        try:
            out.append(preprocess(digit))
        except DigitLabError:  # a digit the pipeline rejects is simply left out
            continue
        out_labels.append(labels[index])
    return np.stack(out).astype(np.float32), np.array(out_labels, np.int64)
