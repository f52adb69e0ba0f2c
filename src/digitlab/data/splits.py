"""MNIST's training set cut once into a training and a validation split.

Every shipped model is fitted on the 55,000 training-split digits only; every choice (and
every threshold) is made on the 5,000 validation digits; MNIST's test set is for the final
report alone.
"""

from __future__ import annotations

import numpy as np

from digitlab.data.mnist import SPLIT_SIZES, load_mnist

VALIDATION_SIZE = 5_000  # held out of the 60k training images for every choice we make
SPLIT_SEED = 0


def split_positions(n: int = SPLIT_SIZES["train"]) -> tuple[np.ndarray, np.ndarray]:
    """(validation, train) positions in MNIST's training set: one fixed random split."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    return order[:VALIDATION_SIZE], order[VALIDATION_SIZE:]


def validation_digits(data_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """The validation split: float32 [N,28,28] in [0,1] (white on black) and int64 labels."""
    images, labels = load_mnist("train", data_dir)
    val, _ = split_positions(len(images))
    return images[val].astype(np.float32) / 255.0, labels[val].astype(np.int64)


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Positions of ``n`` training digits with each class in its share of the split."""
    rng = np.random.default_rng(seed)
    picked = []
    classes, counts = np.unique(labels, return_counts=True)
    quotas = np.floor(counts / counts.sum() * n).astype(int)
    quotas[: n - quotas.sum()] += 1  # the remainder, one each
    for c, quota in zip(classes, quotas, strict=True):
        members = np.flatnonzero(labels == c)
        picked.append(rng.choice(members, size=min(quota, len(members)), replace=False))
    return np.sort(np.concatenate(picked))
