"""What a model is trained on: MNIST's training split, and the synthesised digits (pipeline
renders, writing styles, negatives) and augmentation that training mixes in.

Models receive a ``TrainingData`` and reach synthesis only through its methods, so the
models themselves (loaded to answer an upload) never import ``digitlab.synth``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from digitlab.contract import NOT_A_DIGIT_CLASS
from digitlab.data.derived import cached_arrays
from digitlab.data.mnist import load_mnist
from digitlab.data.splits import split_positions
from digitlab.errors import DigitLabError
from digitlab.imaging.pipeline import output_version, preprocess
from digitlab.synth.augment import AugmentConfig, augment_batch, rendered_pool
from digitlab.synth.negatives import not_digit_images
from digitlab.synth.styles import styled_digits
from digitlab.synth.userlike import KINDS, generate

# The validation digits calibration looks at, in full (``TrainingData.validation_probe``),
# and how many of them are rendered as each kind of upload (``TrainingData.upload_probe``).
FULL_PROBE = {"rendered": 1000, "coarse": 500, "styled": 1000, "negative": 2000, "uploads": 300}
# The uploads calibration looks at are made with this seed; the figures of
# ``benchmarks/bench_refusals.py`` use others (0 and 1), so they are measured on other images.
UPLOAD_PROBE_SEED = 5

VALIDATION_SEED_OFFSET = 10_000  # validation's styles and negatives never share training's seed


@dataclass(frozen=True)
class TrainingData:
    """Float images in [0,1]: ``train`` for fitting, ``val`` for choices and early stopping."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    _pools: dict = field(default_factory=dict, repr=False, compare=False)
    # Told of progress while a model trains (``digitlab.training.runs``): ``on_batch(epoch,
    # seen, total)`` and ``on_epoch(entry, first_layer_weights)``; either may raise to stop.
    observer: object | None = field(default=None, repr=False, compare=False)

    def on_batch(self, epoch: int, seen: int, total: int) -> None:
        if self.observer is not None:
            self.observer.on_batch(epoch, seen, total)

    def on_epoch(self, entry: dict, first_layer=None) -> None:
        if self.observer is not None:
            self.observer.on_epoch(entry, first_layer)

    # Set for a learner's run (``digitlab.training.runs``): names this training set, so the
    # synthesised pools are kept on disk and the next run of the same size starts at once.
    disk_key: str | None = field(default=None, compare=False)
    # A learner's run on part of the training split: {"size", "seed"} of
    # ``digitlab.data.splits.stratified_subset``, recorded by models that keep the split (k-NN).
    subset: dict | None = field(default=None, compare=False)

    def _once(self, key: tuple, make):
        if key not in self._pools:
            if self.disk_key is None:
                self._pools[key] = make()
            else:
                flat = [str(v) for k in key for v in (k if isinstance(k, tuple) else (k,))]
                name = "-".join([self.disk_key, *flat, output_version()])
                self._pools[key] = cached_arrays(name, make)
        return self._pools[key]

    def rendered_pool(self, n_pipeline: int, n_coarse: int, seed: int):
        """Training-split digits as the preprocessing pipeline renders them (built once)."""
        return self._once(
            ("rendered", n_pipeline, n_coarse, seed),
            lambda: rendered_pool(self.train_x, self.train_y, n_pipeline, n_coarse, seed),
        )

    def extra_examples(self, n_styled: int, n_negative: int, seed: int):
        """Training-split digits in the writing styles MNIST lacks (``digitlab.synth.styles``) and
        negatives labelled ``NOT_A_DIGIT_CLASS`` (``digitlab.synth.negatives``): ([M,28,28], [M]).

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

    def validation_probe(self, sizes: dict | None = None, seed: int = 0):
        """What thresholds are chosen on: validation digits (plain, as the pipeline renders
        them, and in the styles) and negatives made with other seeds than training's.
        ``sizes`` (``FULL_PROBE`` unless given; a quick run's are smaller) says how many of each.

        Returns (digit images [N,28,28], their labels, negative images [M,28,28]).
        """
        n = FULL_PROBE | (sizes or {})

        def make():
            rendered, rendered_y = rendered_pool(
                self.val_x, self.val_y, n["rendered"], n["coarse"], seed + 1
            )
            extra_x, extra_y = extra_examples(
                self.val_x, self.val_y, n["styled"], n["negative"], seed + VALIDATION_SEED_OFFSET
            )
            styled = extra_y != NOT_A_DIGIT_CLASS
            digits = np.concatenate([self.val_x, rendered, extra_x[styled]])
            labels = np.concatenate([self.val_y, rendered_y, extra_y[styled]])
            return digits, labels, extra_x[~styled]

        return self._once(("probe", *sorted(n.items()), seed), make)

    def upload_probe(self, sizes: dict | None = None) -> dict[str, np.ndarray]:
        """{kind: validation digits made into that kind of upload (``digitlab.synth.userlike``:
        photos, desks, scans, drawings...) and read by the pipeline, [n,28,28]}, so a
        threshold can be held on every kind; {} when ``sizes["uploads"]`` is 0 (quick runs).

        Made from MNIST's validation digits whatever this training set is (a learner's
        subset too), and cached on disk: reading thousands of made-up uploads takes minutes.
        """
        n = (FULL_PROBE | (sizes or {}))["uploads"]
        if not n:
            return {}

        def make():
            return tuple(upload_digits(kind, n, UPLOAD_PROBE_SEED) for kind in KINDS)

        key = f"upload-probe-{n}-{UPLOAD_PROBE_SEED}-{output_version()}"
        made = self._pools.get(key) or cached_arrays(key, make)
        self._pools[key] = made
        return dict(zip(KINDS, made, strict=True))

    @staticmethod
    def augmentation(spec: str | dict | None) -> AugmentConfig | None:
        """The augmentation a run asks for: ``"default"``, a dict of ``AugmentConfig``
        fields, or None (no augmentation)."""
        if spec is None:
            return None
        return AugmentConfig() if spec == "default" else AugmentConfig(**spec)

    @staticmethod
    def augmentation_settings(spec: str | dict | None) -> dict | None:
        """``augmentation(spec)`` as the plain dict a model's config records."""
        config = TrainingData.augmentation(spec)
        return None if config is None else asdict(config)

    @staticmethod
    def augment(batch: torch.Tensor, config: AugmentConfig, gen: torch.Generator):
        """Augment a float batch [B,1,28,28] (``digitlab.synth.augment``)."""
        return augment_batch(batch, config, gen)


def upload_digits(kind: str, n: int, seed: int) -> np.ndarray:
    """``n`` validation digits made into uploads of ``kind`` and read by the pipeline; an
    upload in which the pipeline finds no digit is left out (it never reaches a model)."""
    read = []
    for item in generate(kind, n, seed, "val"):
        try:
            read.append(preprocess(item.data))
        except DigitLabError:
            continue
    return np.stack(read).astype(np.float32) if read else np.zeros((0, 28, 28), np.float32)


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


def extra_examples(
    images: np.ndarray, labels: np.ndarray, n_styled: int, n_negative: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Styled digits made from ``images`` plus negatives (label ``NOT_A_DIGIT_CLASS``)."""
    parts_x, parts_y = [], []
    if n_styled:
        styled_x, styled_y = styled_digits(images, labels, n_styled, seed)
        parts_x.append(styled_x)
        parts_y.append(styled_y)
    if n_negative:
        negatives = not_digit_images(images, n_negative, seed)
        parts_x.append(negatives)
        parts_y.append(np.full(len(negatives), NOT_A_DIGIT_CLASS, np.int64))
    if not parts_x:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64)
    return np.concatenate(parts_x).astype(np.float32), np.concatenate(parts_y)


def first_of_each(x: np.ndarray, y: np.ndarray, n_styled: int, n_negative: int):
    """The first ``n_styled`` digits and first ``n_negative`` negatives of extra examples."""
    negative = y == NOT_A_DIGIT_CLASS
    keep = np.zeros(len(y), bool)
    keep[np.flatnonzero(~negative)[:n_styled]] = True
    keep[np.flatnonzero(negative)[:n_negative]] = True
    return x[keep], y[keep]
