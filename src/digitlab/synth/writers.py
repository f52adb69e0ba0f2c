"""Simulated writers: many digits in one consistent hand, made from MNIST validation digits.

What profiles are tuned and tested on (never on other people's images). A person writes each
digit much the same way every time, in a slant, width and pen of their own; some write a
flagged 1, a crossed 7 or an open 4 every time, and most have a digit or two that a model
trained on MNIST reads as another (their 4 looks like a 9, their 7 like a 1). A simulated
writer is that:

- for each digit, two validation digits are the writer's own "ways" of writing it;
- a few digits (most writers 2-4) are redrawn in a style MNIST lacks, one style per digit for
  every sample of it, drawn from all of ``digitlab.synth.styles.STYLES`` by their weights;
- a share of the other digits are written the confusable way: each way is, of ``CANDIDATES``
  random validation digits of the class, the one that, in the writer's hand and through the
  pipeline, looks most like a class it is often taken for (``CONFUSABLE``): nearest in pixel
  distance to that class's mean image relative to its own class's mean;
- one slant (rotation and shear), width and pen (thin to thick) for all their digits;
- each sample is one of their ways with a small random wobble (affine and elastic), then
  the writer's hand, rendered by the project's one pipeline (``digitlab.preprocess``).

Deterministic given the seed; the hand and the ways do not depend on the number of samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from digitlab.errors import NoDigitError
from digitlab.imaging.pipeline import preprocess
from digitlab.synth.augment import AugmentConfig, augment_batch
from digitlab.synth.styles import STYLE_WEIGHTS, STYLES, as_mnist

WAYS_PER_DIGIT = 2
WOBBLE = AugmentConfig(rotate_deg=4.0, scale=0.05, shear=0.05, shift_px=0.5, elastic_px=0.8,
                       p_thickness=0.0, p_lowres=0.0, p_pool=0.0)  # fmt: skip
# How many digits a writer writes in a style (most 2-4), drawn by ``STYLE_WEIGHTS``.
STYLED_DIGITS = {1: 0.1, 2: 0.3, 3: 0.3, 4: 0.2, 5: 0.1}
# Pairs that MNIST-trained models confuse; a confusable way looks like its partner.
CONFUSABLE_PAIRS = ((1, 7), (4, 9), (3, 5), (5, 6), (7, 9), (0, 6), (2, 7), (3, 8))
CONFUSABLE = {
    d: [b if a == d else a for a, b in CONFUSABLE_PAIRS if d in (a, b)] for d in range(10)
}
CONFUSABLE_SHARE = 0.4  # of a writer's unstyled digits, written the confusable way
CANDIDATES = 8  # validation digits a confusable way is chosen from
MEAN_PER_CLASS = 40  # pool digits per class in the class means (the first ones, fixed)
# The writer's hand: rotation (degrees), shear (mostly leaning right), width, pen.
ROTATION_DEG = 15.0
SHEAR = (-0.2, 0.45)
WIDTH = (0.8, 1.15)
PENS = ("thin", "plain", "thick")


@dataclass(frozen=True)
class Hand:
    """One writer's slant, width and pen, the same for all their digits."""

    rotation_deg: float
    shear: float
    width: float
    pen: str


@dataclass(frozen=True)
class SimulatedWriter:
    """One writer's digits (float32 [N,28,28], as ``preprocess`` renders them), labels in
    writing order (each digit's samples in turn), which way each sample is written in, the
    source digits used, the ways themselves ([10, WAYS_PER_DIGIT, 28, 28], before the hand),
    the style of each styled digit, the digits written the confusable way (digit -> the class
    they look like) and the hand."""

    images: np.ndarray
    labels: np.ndarray
    sources: np.ndarray
    ways: np.ndarray
    way_images: np.ndarray
    styles: dict[int, str]
    confusable: dict[int, int]
    hand: Hand


def rendered(image: np.ndarray) -> np.ndarray | None:
    """A [28,28] float digit in [0,1] through the pipeline; None when no digit is left."""
    try:
        return preprocess((np.clip(image, 0, 1) * 255).round().astype(np.uint8))
    except NoDigitError:
        return None


def class_means(images: np.ndarray, labels: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Each class's mean image [10,28,28] after the pipeline, from its first pool digits."""
    means = []
    for digit in range(10):
        first = pool[labels[pool] == digit][:MEAN_PER_CLASS]
        shown = [r for r in (rendered(images[i]) for i in first) if r is not None]
        means.append(np.mean(shown, 0))
    return np.stack(means).astype(np.float32)


def look_alike(shown: np.ndarray, means: np.ndarray, digit: int, other: int) -> np.ndarray:
    """How much each image [N,28,28] of ``digit`` looks like ``other`` rather than itself:
    its squared pixel distance to ``other``'s mean minus that to its own class's mean
    (lower: more confusable). A plain distance to ``other``'s mean would favour faint,
    small digits, close to every mean."""
    to_other = ((shown - means[other]) ** 2).sum((1, 2))
    return to_other - ((shown - means[digit]) ** 2).sum((1, 2))


def writer_styles(rng: np.random.Generator) -> dict[int, str]:
    """Which digits this writer writes in a style, and in which (one style per digit)."""
    names = list(STYLE_WEIGHTS)
    weights = np.array([STYLE_WEIGHTS[name] for name in names])
    wanted = rng.choice(list(STYLED_DIGITS), p=list(STYLED_DIGITS.values()))
    styles = {}
    # The styles in a random order that favours the common ones; the first that fit are kept.
    for i in rng.choice(len(names), len(names), replace=False, p=weights / weights.sum()):
        digit = STYLES[names[i]][1]
        if digit is None:  # a style of any class: on one of the writer's unstyled digits
            digit = int(rng.choice([d for d in range(10) if d not in styles]))
        if digit not in styles:
            styles[digit] = names[i]
        if len(styles) == wanted:
            break
    return styles


def styled_way(images, labels, pool, digit, name, rng) -> tuple[np.ndarray, int] | None:
    """One way of ``digit`` in style ``name`` from a random pool digit, and its source."""
    source_digit = STYLES[name][0]
    source_digit = digit if source_digit is None else source_digit
    source = int(rng.choice(pool[labels[pool] == source_digit]))
    shape = STYLES[name][2](images[source], rng)
    image = None if shape is None else as_mnist(shape)
    return None if image is None else (image, source)


def writer_ways(images, labels, pool, hand, rng) -> tuple[np.ndarray, list[int], dict, dict]:
    """The writer's ways of each digit [10, WAYS_PER_DIGIT, 28, 28] from ``pool`` indices,
    styled or confusable where this writer writes so; the source indices, styles and
    confusable digits (digit -> the class it looks like)."""
    styles = writer_styles(rng)
    confusable = {d: int(rng.choice(CONFUSABLE[d])) for d in range(10)
                  if d not in styles and rng.random() < CONFUSABLE_SHARE}  # fmt: skip
    means = class_means(images, labels, pool) if confusable else None
    ways = np.zeros((10, WAYS_PER_DIGIT, 28, 28), np.float32)
    used = []
    for digit in range(10):
        candidates = pool[labels[pool] == digit]
        made = 0
        while made < WAYS_PER_DIGIT:
            if digit in styles:
                way = styled_way(images, labels, pool, digit, styles[digit], rng)
                if way is None:
                    continue
                image, source = way
            elif digit in confusable:
                # Judged as this writer would write it: in their hand, through the pipeline.
                some = rng.choice(candidates, min(CANDIDATES, len(candidates)), replace=False)
                shown = written_in(images[some], hand)
                ok = [i for i, image in enumerate(shown) if image is not None]
                score = look_alike(np.stack([shown[i] for i in ok]), means, digit,
                                   confusable[digit])  # fmt: skip
                source = int(some[ok[np.argmin(score)]])
                image = images[source]
            else:
                source = int(rng.choice(candidates))
                image = images[source]
            ways[digit, made] = image
            used.append(source)
            made += 1
    return ways, used, styles, confusable


def writer_hand(rng: np.random.Generator) -> Hand:
    """A writer's hand, drawn once."""
    return Hand(
        rotation_deg=float(rng.uniform(-ROTATION_DEG, ROTATION_DEG)),
        shear=float(rng.uniform(*SHEAR)),
        width=float(rng.uniform(*WIDTH)),
        pen=str(rng.choice(PENS)),
    )


def in_hand(x: torch.Tensor, hand: Hand) -> torch.Tensor:
    """A batch [B,1,28,28] written in ``hand``: its slant and width, then its pen."""
    angle = np.deg2rad(hand.rotation_deg)
    cos, sin = np.cos(angle), np.sin(angle)
    # The grid maps output to input coordinates: dividing x by the width widens the digit.
    theta = torch.tensor(
        [[cos / hand.width, -sin + hand.shear, 0.0], [sin / hand.width, cos, 0.0]],
        dtype=torch.float32,
    )
    grid = F.affine_grid(theta.expand(len(x), 2, 3), (len(x), 1, 28, 28), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", align_corners=False)
    if hand.pen == "thick":
        x = F.max_pool2d(x, 3, stride=1, padding=1)
    elif hand.pen == "thin":
        x = 0.7 * -F.max_pool2d(-x, 3, stride=1, padding=1) + 0.3 * x
    return x.clamp(0, 1)


def written_in(images: np.ndarray, hand: Hand) -> list[np.ndarray | None]:
    """Images [N,28,28] in [0,1] written in ``hand``, through the pipeline (None where no
    digit is left)."""
    x = in_hand(torch.from_numpy(np.asarray(images, np.float32))[:, None], hand)
    return [rendered(image) for image in x[:, 0].numpy()]


def simulated_writer(
    images: np.ndarray, labels: np.ndarray, pool: np.ndarray, per_digit: int, seed: int
) -> SimulatedWriter:
    """A writer of ``per_digit`` samples of each digit, made from ``images[pool]``."""
    rng = np.random.default_rng(seed)
    hand = writer_hand(rng)
    way_images, used, styles, confusable = writer_ways(images, labels, pool, hand, rng)
    picks = [(d, i % WAYS_PER_DIGIT) for d in range(10) for i in range(per_digit)]
    batch = torch.from_numpy(np.stack([way_images[d, w] for d, w in picks]))[:, None]
    wobbled = augment_batch(batch, WOBBLE, torch.Generator().manual_seed(seed))
    shown = written_in(wobbled[:, 0].numpy(), hand)
    kept = [(pick, image) for pick, image in zip(picks, shown, strict=True) if image is not None]
    return SimulatedWriter(
        images=np.stack([image for _, image in kept]),
        labels=np.array([d for (d, _), _ in kept], np.int64),
        sources=np.array(used),
        ways=np.array([w for (_, w), _ in kept], np.int64),
        way_images=way_images,
        styles=styles,
        confusable=confusable,
        hand=hand,
    )


def first_k_of_each(labels: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the first ``k`` samples of each digit, in order (what is taught)."""
    taught = np.zeros(len(labels), bool)
    for digit in np.unique(labels):
        taught[np.flatnonzero(labels == digit)[:k]] = True
    return taught
