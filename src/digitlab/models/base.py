"""What every model shares: the training data split and probability helpers."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from digitlab.data import load_mnist

VALIDATION_SIZE = 5_000  # held out of the 60k training images for every choice we make
SPLIT_SEED = 0


@dataclass(frozen=True)
class TrainingData:
    """Float images in [0,1]: ``train`` for fitting, ``val`` for choices and early stopping."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    _pools: dict = field(default_factory=dict, repr=False, compare=False)

    def rendered_pool(self, n_pipeline: int, n_coarse: int, seed: int):
        """Training-split digits as the preprocessing pipeline renders them (built once)."""
        from digitlab.augment import rendered_pool

        key = (n_pipeline, n_coarse, seed)
        if key not in self._pools:
            self._pools[key] = rendered_pool(self.train_x, self.train_y, n_pipeline, n_coarse, seed)
        return self._pools[key]

    @property
    def all_x(self) -> np.ndarray:
        return np.concatenate([self.train_x, self.val_x])

    @property
    def all_y(self) -> np.ndarray:
        return np.concatenate([self.train_y, self.val_y])


def training_data(limit: int | None = None, data_dir=None) -> TrainingData:
    """MNIST's training set as a fixed random train/validation split (the test set stays out)."""
    images, labels = load_mnist("train", data_dir)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    val, train = order[:VALIDATION_SIZE], order[VALIDATION_SIZE:]
    if limit is not None:
        val, train = val[: max(1, limit // 10)], train[:limit]
    x = images.astype(np.float32) / 255.0
    return TrainingData(
        x[train], labels[train].astype(np.int64), x[val], labels[val].astype(np.int64)
    )


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def low_confidence_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Median confidence of the model's wrong answers on the validation split.

    Answers below it are flagged as unsure: that catches half of the validation mistakes
    while flagging only a small share of the right answers.
    """
    predicted = probabilities.argmax(1)
    wrong = probabilities.max(1)[predicted != labels]
    return float(np.median(wrong)) if len(wrong) else 0.5
