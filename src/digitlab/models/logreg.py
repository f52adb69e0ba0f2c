"""Logistic Regression (softmax) on deskewed pixels.

Deskewing first lifts a linear model markedly on MNIST: slant is the variation a single
weight template per class cannot absorb. The regularisation
strength C is chosen on the validation split; the weights are a plain [10,784] matrix,
which also makes each class's template easy to show.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from tqdm import tqdm

from digitlab.imaging.features import as_float_images, deskew
from digitlab.models.base import NpzModel, softmax

if TYPE_CHECKING:  # only a type here: the models never import training or synthesis
    from digitlab.training.data import TrainingData

HPARAMS = {
    # How many validation digits calibration looks at (None: ``FULL_PROBE``; quick runs: fewer).
    "probe": None,
    "c_choices": (0.01, 0.05, 0.2),  # regularisation strengths tried on validation
    "max_iter": 200,
    # Styled digits added to the training set. No negatives: on validation they cost a
    # linear model 0.36 point on MNIST's own digits and nothing gained on rendered or styled
    # digits, so logistic regression answers every image and only flags low confidence.
    "extra": {"styled": 6000, "negative": 0},
}


def flat_deskewed(images: np.ndarray) -> np.ndarray:
    x = deskew(as_float_images(images))
    return x.reshape(len(x), -1)


def fit_softmax(x: np.ndarray, y: np.ndarray, c: float, max_iter: int, seed: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, max_iter=max_iter, random_state=seed).fit(x, y)


class Model(NpzModel):
    id = "logreg"
    HPARAMS = HPARAMS
    ARRAYS = ("weights", "bias")

    def __init__(self, weights: np.ndarray, bias: np.ndarray, config: dict):
        self.weights, self.bias, self.config = weights, bias, config

    @classmethod
    def describe(cls, config: dict) -> str:
        strength = f" (C = {config['C']})" if "C" in config else ""
        return (
            "One weight per pixel and class, and a softmax over the ten scores: a template "
            "matcher. The digit is deskewed first (its slant straightened), the variation a "
            f"single template per class cannot absorb. The regularisation strength{strength} was "
            "chosen on the validation digits."
        )

    def templates(self) -> np.ndarray:
        """Each digit's weight template as a [10,28,28] image (positive = evidence for)."""
        return self.weights[:10].reshape(10, 28, 28)

    def predict_proba_all(self, images: np.ndarray) -> np.ndarray:
        """[N,11]: the ten digits, then "not a digit" (N,10 for a model without it)."""
        return softmax(flat_deskewed(images) @ self.weights.T + self.bias)

    def embed(self, images: np.ndarray) -> np.ndarray:
        """[N,784] float32: the deskewed pixels the templates are matched against (``profiles``)."""
        return flat_deskewed(images).astype(np.float32)

    @classmethod
    def train(cls, data: TrainingData, seed: int = 0, **overrides) -> Model:
        """Choose C on validation and calibrate the thresholds there.

        The model that ships is the one fitted on the training split: it has never seen the
        validation digits, so its thresholds describe it (a refit on all 60k would not be).
        """
        hp = cls.hparams(overrides)
        extra = hp["extra"]
        extra_x, extra_y = data.extra_examples(extra["styled"], extra["negative"], seed)
        train_x = flat_deskewed(np.concatenate([data.train_x, extra_x]))
        train_y = np.concatenate([data.train_y, extra_y])
        val_x = flat_deskewed(data.val_x)
        best = None
        for c in tqdm(hp["c_choices"], desc="logreg: choosing C on validation", leave=False):
            fitted = fit_softmax(train_x, train_y, c, hp["max_iter"], seed)
            acc = float((fitted.predict(val_x) == data.val_y).mean())
            if best is None or acc > best[0]:
                best = (acc, c, fitted)
        val_acc, c, fitted = best
        config = {"C": c, "max_iter": hp["max_iter"], "val_accuracy": val_acc, "seed": seed,
                  "extra": extra}  # fmt: skip
        model = cls(fitted.coef_.astype(np.float32), fitted.intercept_.astype(np.float32), config)
        model.calibrate(data, hp.get("probe"))
        return model
