"""Simulated writers: many digits in one consistent hand, made from MNIST validation digits.

What profiles are tuned and tested on (never on other people's images). A person writes each
digit much the same way every time, in a slant, size and pen of their own, and some write a
flagged 1, a crossed 7 or an open 4 every time. A simulated writer is that:

- for each digit, two validation digits are the writer's own "ways" of writing it, some
  redrawn once in a style MNIST lacks (``digitlab.synth.styles``), chosen per writer;
- one slant (rotation and shear), size and pen thickness for all their digits;
- each sample is one of their ways with a small random wobble (affine and elastic), then
  the writer's slant and pen, rendered by the project's one pipeline (``digitlab.preprocess``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from digitlab.errors import NoDigitError
from digitlab.imaging.pipeline import preprocess
from digitlab.synth.augment import AugmentConfig, augment_batch
from digitlab.synth.styles import STYLES, as_mnist

WAYS_PER_DIGIT = 2
WOBBLE = AugmentConfig(rotate_deg=4.0, scale=0.05, shear=0.05, shift_px=0.5, elastic_px=0.8,
                       p_thickness=0.0, p_lowres=0.0, p_pool=0.0)  # fmt: skip
# Styles a writer may use for every sample of a digit, and how likely each is per writer.
WRITER_STYLES = {"flagged_one": 0.5, "crossed_seven": 0.4, "open_four": 0.3, "straight_nine": 0.3}


@dataclass(frozen=True)
class SimulatedWriter:
    """One writer's digits (float32 [N,28,28], as ``preprocess`` renders them), labels in
    writing order (each digit's samples in turn), and which source digits they used."""

    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray


def writer_ways(images, labels, pool, rng) -> tuple[dict[int, list[np.ndarray]], list[int]]:
    """Each digit's ways of writing it (28x28 float) drawn from ``pool`` indices, styled
    where this writer uses a style; and the source indices used."""
    styled = {STYLES[name][1]: STYLES[name] for name, p in WRITER_STYLES.items()
              if rng.random() < p}  # fmt: skip
    ways, used = {}, []
    for digit in range(10):
        ways[digit] = []
        candidates = pool[labels[pool] == digit]
        while len(ways[digit]) < WAYS_PER_DIGIT:
            source = int(rng.choice(candidates))
            image = images[source]
            if digit in styled:
                source_digit, _, make = styled[digit]
                pick = pool[labels[pool] == source_digit]
                source = int(rng.choice(pick))
                shape = make(images[source], rng)
                image = None if shape is None else as_mnist(shape)
                if image is None:
                    continue
            ways[digit].append(np.asarray(image, np.float32))
            used.append(source)
    return ways, used


def writer_hand(x: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """The writer's fixed slant, size and pen applied to a batch [B,1,28,28]."""
    angle = np.deg2rad(rng.uniform(-15, 15))
    shear, scale = rng.uniform(-0.3, 0.3), rng.uniform(0.85, 1.1)
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    theta = torch.tensor([[cos, -sin + shear, 0.0], [sin, cos, 0.0]], dtype=torch.float32)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), (len(x), 1, 28, 28), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", align_corners=False)
    pen = rng.choice(["thin", "plain", "thick"])
    if pen == "thick":
        x = 0.6 * F.max_pool2d(x, 3, stride=1, padding=1) + 0.4 * x
    elif pen == "thin":
        x = 0.6 * -F.max_pool2d(-x, 3, stride=1, padding=1) + 0.4 * x
    return x.clamp(0, 1)


def simulated_writer(
    images: np.ndarray, labels: np.ndarray, pool: np.ndarray, per_digit: int, seed: int
) -> SimulatedWriter:
    """A writer of ``per_digit`` samples of each digit, made from ``images[pool]``."""
    rng = np.random.default_rng(seed)
    ways, used = writer_ways(images, labels, pool, rng)
    picks = [(d, ways[d][i % WAYS_PER_DIGIT]) for d in range(10) for i in range(per_digit)]
    batch = torch.from_numpy(np.stack([w for _, w in picks]))[:, None]
    wobbled = augment_batch(batch, WOBBLE, torch.Generator().manual_seed(seed))
    written = writer_hand(wobbled, rng)[:, 0].numpy()
    out, out_labels = [], []
    for (digit, _), image in zip(picks, written, strict=True):
        try:
            out.append(preprocess((image * 255).round().astype(np.uint8)))
        except NoDigitError:
            continue
        out_labels.append(digit)
    return SimulatedWriter(np.stack(out), np.array(out_labels, np.int64), np.array(used))


def first_k_of_each(labels: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the first ``k`` samples of each digit, in order (what is taught)."""
    taught = np.zeros(len(labels), bool)
    for digit in np.unique(labels):
        taught[np.flatnonzero(labels == digit)[:k]] = True
    return taught
