"""What every model shares: the training data split and probability helpers."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digitlab.data.mnist import SPLIT_SIZES, load_mnist

VALIDATION_SIZE = 5_000  # held out of the 60k training images for every choice we make
SPLIT_SEED = 0
NOT_A_DIGIT = 10  # the eleventh class: "this doesn't look like a single digit"
VALIDATION_SEED_OFFSET = 10_000  # validation's styles and negatives never share training's seed
# At most this share of validation digits may be refused as "not a digit".
MAX_VALIDATION_DIGITS_REFUSED = 0.005


@dataclass(frozen=True)
class TrainingData:
    """Float images in [0,1]: ``train`` for fitting, ``val`` for choices and early stopping."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    _pools: dict = field(default_factory=dict, repr=False, compare=False)

    def _once(self, key: tuple, make):
        if key not in self._pools:
            self._pools[key] = make()
        return self._pools[key]

    def rendered_pool(self, n_pipeline: int, n_coarse: int, seed: int):
        """Training-split digits as the preprocessing pipeline renders them (built once)."""
        from digitlab.synth.augment import rendered_pool

        return self._once(
            ("rendered", n_pipeline, n_coarse, seed),
            lambda: rendered_pool(self.train_x, self.train_y, n_pipeline, n_coarse, seed),
        )

    def extra_examples(self, n_styled: int, n_negative: int, seed: int):
        """Training-split digits in the writing styles MNIST lacks (``digitlab.synth.styles``) and
        negatives labelled ``NOT_A_DIGIT`` (``digitlab.synth.negatives``): ([M,28,28], [M]).

        Both are generated in sequence from ``seed``, so fewer are the first ones of more:
        a larger set already made is cut instead of making a new one.
        """
        for key, made in self._pools.items():
            if key[0] == "extra" and key[3] == seed and key[1] >= n_styled and key[2] >= n_negative:
                return first_of_each(*made, n_styled, n_negative)
        return self._once(
            ("extra", n_styled, n_negative, seed),
            lambda: extra_examples(self.train_x, self.train_y, n_styled, n_negative, seed),
        )

    def validation_probe(self, n_styled: int = 1000, n_negative: int = 2000, seed: int = 0):
        """What thresholds are chosen on: validation digits (plain, as the pipeline renders
        them, and in the styles) and negatives made with other seeds than training's.

        Returns (digit images [N,28,28], their labels, negative images [M,28,28]).
        """

        def make():
            from digitlab.synth.augment import rendered_pool

            rendered, rendered_y = rendered_pool(self.val_x, self.val_y, 1000, 500, seed + 1)
            extra_x, extra_y = extra_examples(
                self.val_x, self.val_y, n_styled, n_negative, seed + VALIDATION_SEED_OFFSET
            )
            styled = extra_y != NOT_A_DIGIT
            digits = np.concatenate([self.val_x, rendered, extra_x[styled]])
            labels = np.concatenate([self.val_y, rendered_y, extra_y[styled]])
            return digits, labels, extra_x[~styled]

        return self._once(("probe", n_styled, n_negative, seed), make)


def split_positions(n: int = SPLIT_SIZES["train"]) -> tuple[np.ndarray, np.ndarray]:
    """(validation, train) positions in MNIST's training set: one fixed random split."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    return order[:VALIDATION_SIZE], order[VALIDATION_SIZE:]


def training_data(limit: int | None = None, data_dir=None) -> TrainingData:
    """MNIST's training set as a fixed random train/validation split (the test set stays out).

    Every shipped model is fitted on ``train`` only: ``val`` stays unseen, so the thresholds
    calibrated on it describe the shipped model itself.
    """
    images, labels = load_mnist("train", data_dir)
    val, train = split_positions(len(images))
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


def extra_examples(
    images: np.ndarray, labels: np.ndarray, n_styled: int, n_negative: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Styled digits made from ``images`` plus negatives (label ``NOT_A_DIGIT``)."""
    from digitlab.synth.negatives import not_digit_images
    from digitlab.synth.styles import styled_digits

    parts_x, parts_y = [], []
    if n_styled:
        styled_x, styled_y = styled_digits(images, labels, n_styled, seed)
        parts_x.append(styled_x)
        parts_y.append(styled_y)
    if n_negative:
        negatives = not_digit_images(images, n_negative, seed)
        parts_x.append(negatives)
        parts_y.append(np.full(len(negatives), NOT_A_DIGIT, np.int64))
    if not parts_x:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64)
    return np.concatenate(parts_x).astype(np.float32), np.concatenate(parts_y)


def first_of_each(x: np.ndarray, y: np.ndarray, n_styled: int, n_negative: int):
    """The first ``n_styled`` digits and first ``n_negative`` negatives of extra examples."""
    negative = y == NOT_A_DIGIT
    keep = np.zeros(len(y), bool)
    keep[np.flatnonzero(~negative)[:n_styled]] = True
    keep[np.flatnonzero(negative)[:n_negative]] = True
    return x[keep], y[keep]


def split_not_digit(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[N,11] probabilities -> (the ten digits' probabilities renormalised [N,10], the
    not-a-digit probability [N]). [N,10] input (a model without the class) gives zeros."""
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.shape[1] == 10:
        return probabilities.astype(np.float32), np.zeros(len(probabilities), np.float32)
    digits = probabilities[:, :10]
    total = digits.sum(1, keepdims=True)
    digits = np.where(total > 1e-12, digits / np.maximum(total, 1e-12), 0.1)
    return digits.astype(np.float32), probabilities[:, 10].astype(np.float32)


def not_digit_threshold(digit_scores: np.ndarray, negative_scores: np.ndarray) -> dict:
    """The not-a-digit score above which an answer is refused, chosen on validation data.

    The threshold refuses at most ``MAX_VALIDATION_DIGITS_REFUSED`` of validation digits (and
    never sits below 0.5, where "not a digit" would not even be the likeliest answer). Returns
    it with the shares of validation digits and negatives it refuses.
    """
    quantile = float(np.quantile(digit_scores, 1 - MAX_VALIDATION_DIGITS_REFUSED))
    threshold = max(0.5, quantile)
    return {
        "not_digit_threshold": threshold,
        "val_digits_refused": float(np.mean(digit_scores > threshold)),
        "val_negatives_refused": float(np.mean(negative_scores > threshold)),
    }


def calibrate(probabilities_all, data: TrainingData) -> dict:
    """Low-confidence and not-a-digit thresholds of a model on validation data.

    ``probabilities_all`` maps images [N,28,28] to [N,11] probabilities, and must come from
    a model that has not seen the validation digits.
    """
    digits, labels, negatives = data.validation_probe()
    plain, _ = split_not_digit(probabilities_all(data.val_x))
    _, digit_scores = split_not_digit(probabilities_all(digits))
    _, negative_scores = split_not_digit(probabilities_all(negatives))
    return {
        "low_confidence_threshold": low_confidence_threshold(plain, data.val_y),
        **not_digit_threshold(digit_scores, negative_scores),
    }


class DigitModel:
    """The interface every model honours, so callers never branch on the model type.

    A subclass sets ``id`` and ``HPARAMS`` (its hyper-parameters and their defaults, one
    plain dict) and implements ``train``, ``save``, ``load`` and ``predict_proba_all``:

    - ``Model.train(data, seed=0, **overrides) -> Model``: fit on ``data.train`` with
      ``HPARAMS`` (``overrides`` replace some, e.g. a quick run's), choose on ``data.val``
      and calibrate the thresholds there (``calibrate``); progress bars on stderr.
    - ``model.save(weights_dir) -> list[str]`` (the artifact files written) and
      ``Model.load(weights_dir) -> Model`` (through ``digitlab.models.artifacts``: safe formats,
      SHA-256s checked against the manifest).
    - ``model.predict_proba_all(images) -> [N,11]`` (the ten digits, then "not a digit"; a
      model without that class may return [N,10]) for [N,28,28] uint8 0-255 or float [0,1].
    - ``model.config``: a JSON-able dict of hyper-parameters, seed and thresholds.
    - ``model.embed(images) -> [N,D]``: where taught digits count as neighbours (profiles).
    """

    id: str = ""
    HPARAMS: dict = {}
    config: dict

    @classmethod
    def hparams(cls, overrides: dict) -> dict:
        """``HPARAMS`` with ``overrides`` applied; an unknown name is a mistake, not a no-op."""
        unknown = set(overrides) - set(cls.HPARAMS)
        if unknown:
            raise ValueError(f"{cls.id} has no hyper-parameter {', '.join(sorted(unknown))}")
        return copy.deepcopy(cls.HPARAMS) | overrides

    @classmethod
    def train(cls, data: TrainingData, seed: int = 0, **overrides) -> DigitModel:
        raise NotImplementedError

    def save(self, weights_dir: Path) -> list[str]:
        raise NotImplementedError

    @classmethod
    def load(cls, weights_dir: Path) -> DigitModel:
        raise NotImplementedError

    def predict_proba_all(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """[N,10]: the ten digits' probabilities (renormalised without "not a digit")."""
        return split_not_digit(self.predict_proba_all(images))[0]

    def embed(self, images: np.ndarray) -> np.ndarray:
        """[N,D] float32: the representation the model decides in, where a person's taught
        digits act as neighbours (``digitlab.profiles.store``). Here: the pixels themselves."""
        from digitlab.preprocess.features import as_float_images

        x = as_float_images(images)
        return x.reshape(len(x), -1)


class NpzModel(DigitModel):
    """A model whose parameters are a few numpy arrays: ``ID.npz`` plus ``ID.json``.

    ``ARRAYS`` names the constructor's array arguments (also its attributes); the
    constructor takes them and ``config`` as keywords.
    """

    ARRAYS: tuple[str, ...] = ()

    def save(self, weights_dir: Path) -> list[str]:
        from digitlab.models import artifacts

        names = [f"{self.id}.npz", f"{self.id}.json"]
        artifacts.save_npz(weights_dir / names[0], {a: getattr(self, a) for a in self.ARRAYS})
        artifacts.save_json(weights_dir / names[1], self.config)
        return names

    @classmethod
    def load(cls, weights_dir: Path) -> NpzModel:
        from digitlab.models import artifacts

        arrays = artifacts.load_npz(weights_dir, f"{cls.id}.npz")
        config = artifacts.load_json(weights_dir, f"{cls.id}.json")
        return cls(config=config, **{a: arrays[a] for a in cls.ARRAYS if a in arrays})
