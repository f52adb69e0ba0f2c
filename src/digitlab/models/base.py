"""What every model shares: the interface (``DigitModel``), npz storage and ``softmax``."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from digitlab.contract import calibrate, split_not_digit

if TYPE_CHECKING:  # only a type here: the models never import training or synthesis
    from digitlab.training.data import TrainingData


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


class DigitModel(ABC):
    """The interface every model honours, so callers never branch on the model type.

    A subclass sets ``id`` and ``HPARAMS`` (its hyper-parameters and their defaults, one
    plain dict) and implements ``train``, ``save``, ``load``, ``predict_proba_all`` and
    ``describe``:

    - ``Model.train(data, seed=0, **overrides) -> Model``: fit on ``data.train`` with
      ``HPARAMS`` (``overrides`` replace some, e.g. a quick run's), choose on ``data.val``
      and calibrate the thresholds there (``calibrate``); progress bars on stderr.
    - ``model.save(weights_dir) -> list[str]``: writes the artifact files, records their
      SHA-256s in ``weights_dir``'s manifest and returns their names;
      ``Model.load(weights_dir) -> Model`` reads them back (through
      ``digitlab.models.artifacts``: safe formats, SHA-256s checked against the manifest).
    - ``model.predict_proba_all(images) -> [N,11]`` (the ten digits, then "not a digit"; a
      model without that class may return [N,10]) for [N,28,28] uint8 0-255 or float [0,1].
    - ``model.predict_proba(images) -> [N,10]``: the ten digits alone (given here).
    - ``model.config``: a JSON-able dict of hyper-parameters, seed and thresholds.
    - ``model.embed(images) -> [N,D]``: where taught digits count as neighbours (profiles;
      the pixels themselves unless the model decides in another space).
    - ``Model.describe(config) -> str``: one paragraph for *How it works* (``config`` may be
      {} when no weights are loaded).
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
    @abstractmethod
    def train(cls, data: TrainingData, seed: int = 0, **overrides) -> DigitModel: ...

    @abstractmethod
    def save(self, weights_dir: Path) -> list[str]: ...

    @classmethod
    @abstractmethod
    def load(cls, weights_dir: Path) -> DigitModel: ...

    @classmethod
    @abstractmethod
    def describe(cls, config: dict) -> str: ...

    @abstractmethod
    def predict_proba_all(self, images: np.ndarray) -> np.ndarray: ...

    def calibrate(self, data: TrainingData, probe: dict | None = None) -> None:
        """Choose the thresholds on the validation data of ``data`` (``contract.calibrate``)
        and keep them in the config; ``probe``: the probe's sizes (the full one unless given).
        A model whose probabilities are fitted there too (a net's temperature) does that first."""
        self.config |= calibrate(self.predict_proba_all, data, probe)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """[N,10]: the ten digits' probabilities (renormalised without "not a digit")."""
        return split_not_digit(self.predict_proba_all(images))[0]

    def embed(self, images: np.ndarray) -> np.ndarray:
        """[N,D] float32: the representation the model decides in, where a person's taught
        digits act as neighbours (``digitlab.profiles.adapt``). Here: the pixels themselves."""
        from digitlab.imaging.features import as_float_images

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

        names = [f"{type(self).id}.npz", f"{type(self).id}.json"]  # a run's id is run:NAME
        artifacts.save_npz(weights_dir / names[0], {a: getattr(self, a) for a in self.ARRAYS})
        artifacts.save_json(weights_dir / names[1], self.config)
        artifacts.record_in_manifest(weights_dir, names)
        return names

    @classmethod
    def load(cls, weights_dir: Path) -> NpzModel:
        from digitlab.models import artifacts

        arrays = artifacts.load_npz(weights_dir, f"{cls.id}.npz")
        config = artifacts.load_json(weights_dir, f"{cls.id}.json")
        return cls(config=config, **{a: arrays[a] for a in cls.ARRAYS if a in arrays})
