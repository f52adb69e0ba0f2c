"""Model ids -> display names and modules. A fifth model is one new module plus one line here.

Each module ``digitlab.models.<id>`` defines a class ``Model`` with:

- ``Model.train(split: TrainingData, seed: int) -> Model`` (progress bars on stderr),
- ``model.save(weights_dir) -> list[str]`` (artifact file names written) and
  ``Model.load(weights_dir) -> Model`` (verifies the manifest's SHA-256s),
- ``model.predict_proba(images) -> [N,10]`` for [N,28,28] uint8 0-255 or float [0,1] input,
- ``model.config`` (a JSON-able dict: hyper-parameters, seed, low-confidence threshold).
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from digitlab.artifacts import WEIGHTS_DIR
from digitlab.errors import ModelError

DISPLAY_NAMES = {
    "logreg": "Logistic Regression",
    "knn": "k-Nearest Neighbours",
    "ann": "ANN (multilayer perceptron)",
    "cnn": "CNN",
}
MODEL_IDS = tuple(DISPLAY_NAMES)


def check_model_id(model_id: str) -> str:
    if model_id not in DISPLAY_NAMES:
        raise ModelError(f"Unknown model {model_id!r}; choose one of {', '.join(MODEL_IDS)}.")
    return model_id


def model_class(model_id: str) -> type:
    return importlib.import_module(f"digitlab.models.{check_model_id(model_id)}").Model


@cache
def _load_cached(model_id: str, weights_dir: str):
    return model_class(model_id).load(Path(weights_dir))


def load_model(model_id: str, weights_dir: str | Path | None = None, profile=None):
    """Load a trained model by id (``logreg``, ``knn``, ``ann``, ``cnn``), once per process.

    With ``profile`` (a ``digitlab.Profile`` or a profile's name) the model answers through
    that person's taught digits (``digitlab.profiles.ProfiledModel``)."""
    model = _load_cached(check_model_id(model_id), str(weights_dir or WEIGHTS_DIR))
    if profile is None:
        return model
    from digitlab.profiles import with_profile

    return with_profile(model, profile)
