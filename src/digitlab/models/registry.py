"""Every model DigitLab knows, with what the rest of the project needs to know about it.

CLI, app, evaluation, benchmarks and tests iterate over ``model_ids()`` and read a model's
``ModelSpec``; nothing else names a model. A fifth model is one module (a ``Model`` class
honouring ``digitlab.models.base.DigitModel``, ``describe`` included) plus one
``register(ModelSpec(...))`` call, here or in the code that adds it.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from digitlab.errors import ModelError
from digitlab.models import runs
from digitlab.models.artifacts import WEIGHTS_DIR
from digitlab.models.base import DigitModel

DEFAULT_MODEL = "cnn"  # the answer the app, the CLI and the API give unless told otherwise
# The *Why* view any model can show: it needs nothing but ``predict_proba``. The built-in
# models each show their own instead: what that model itself computes.
GENERIC_WHY = ("occlusion",)


@dataclass(frozen=True)
class ModelSpec:
    """One model: its id, its name for people, the module that holds its ``Model`` class
    (whose ``describe(config) -> str`` is one paragraph for *How it works*), the *Why* views
    the app shows for it (names of ``digitlab.answers.explain.VIEWS``), the MNIST test accuracy
    its shipped weights must keep, the hyper-parameter overrides of a quick training run
    (tests), where its weights are (the package's own ``weights`` folder unless said
    otherwise), and how a person's profile moves its answers (``blend``: see below; None: a
    profile leaves its answers as they are)."""

    id: str
    display_name: str
    module: str
    short_name: str = ""  # for narrow table columns (the display name when empty)
    why: tuple[str, ...] = GENERIC_WHY
    bar: float = 0.0
    quick: dict = field(default_factory=dict)
    weights_dir: Path = WEIGHTS_DIR
    blend: dict | None = None

    @property
    def short(self) -> str:
        return self.short_name or self.display_name

    def model_class(self) -> type[DigitModel]:
        return importlib.import_module(self.module).Model

    def describe(self, config: dict) -> str:
        return self.model_class().describe(config)


_MODELS: dict[str, ModelSpec] = {}


_LOADING = threading.RLock()


@cache
def _load_cached(model_id: str, weights_dir: str, version: float = 0.0):
    # ``version``: a run's record time, so a run removed and trained again is read anew.
    model = model_class(model_id).load(Path(weights_dir))
    if runs.is_run_id(model_id):
        model.id = model_id  # answers as run:NAME (its class keeps the family's id)
    return model


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model (or replace the one with its id); returns ``spec``."""
    _MODELS[spec.id] = spec
    _load_cached.cache_clear()
    return spec


def unregister(model_id: str) -> None:
    _MODELS.pop(model_id, None)
    _load_cached.cache_clear()


def model_ids() -> tuple[str, ...]:
    """The registered models' ids, in the order they are shown."""
    return tuple(_MODELS)


def run_model_ids() -> tuple[str, ...]:
    """The learner's complete runs of registered families, as ``run:NAME`` ids."""
    ids = []
    for name in runs.run_names():
        try:
            if runs.run_family(name) in _MODELS:
                ids.append(runs.PREFIX + name)
        except ModelError:
            continue  # a damaged run is listed by `digitlab runs`, not offered as a model
    return tuple(ids)


def display_name(model_id: str) -> str:
    """A model's name for people (the id itself for an unknown model)."""
    if runs.is_run_id(model_id):
        try:
            return model_spec(model_id).display_name
        except ModelError:
            return model_id
    spec = _MODELS.get(model_id)
    return spec.display_name if spec else model_id


def check_model_id(model_id: str) -> str:
    if runs.is_run_id(model_id):
        model_spec(model_id)  # the run exists and its family is known
        return model_id
    if model_id not in _MODELS:
        raise ModelError(
            f"Unknown model {model_id!r}; choose one of {', '.join(_MODELS)} or run:NAME."
        )
    return model_id


def run_spec(model_id: str) -> ModelSpec:
    """A run's entry: its family's, named for the learner and read from the run's folder."""
    name = runs.run_name(model_id)
    family = runs.run_family(name)
    if family not in _MODELS:
        raise runs.RunError(f"The run {name!r} trained an unknown model {family!r}.")
    spec = _MODELS[family]
    return replace(
        spec,
        id=model_id,
        display_name=f"Your {spec.short} ({name})",
        short_name=f"{spec.short} ({name})",
        blend=None,  # the blends were chosen for the shipped weights, not for this run
        bar=0.0,
        weights_dir=runs.run_path(name),
    )


def model_spec(model_id: str) -> ModelSpec:
    if runs.is_run_id(model_id):
        return run_spec(model_id)
    return _MODELS[check_model_id(model_id)]


def model_class(model_id: str) -> type[DigitModel]:
    return model_spec(model_id).model_class()


def weights_dir(model_id: str) -> Path:
    """Where a model's weights, config and metrics are."""
    return model_spec(model_id).weights_dir


def load_model(model_id: str, weights: str | Path | None = None) -> DigitModel:
    """Load a trained model by id (``model_ids()``), once per process, from its registry
    entry's weights folder or ``weights``. (``digitlab.load_model`` also takes a profile.)"""
    folder = Path(weights or weights_dir(model_id))
    version = 0.0
    if runs.is_run_id(model_id):
        check_model_id(model_id)
        try:
            version = (folder / runs.RUN_FILE).stat().st_mtime_ns / 1e9
        except OSError as err:
            raise runs.RunError(f"The run {model_id[4:]!r} cannot be read.") from err
    # One lock: a page and a background warm-up asking at once get the same object, loaded once.
    with _LOADING:
        return _load_cached(check_model_id(model_id), str(folder), version)


# Quick-run settings: enough to learn something from 2,000 images in a few seconds (the
# tests' ``quick_models`` train all four once per session, so every second here is paid there).
_SMALL_EXTRA = {"styled": 30, "negative": 30}
_SMALL_PROBE = {"rendered": 50, "coarse": 25, "styled": 50, "negative": 100, "uploads": 0}
_SMALL_POOL = {"pipeline": 20, "coarse": 20, **_SMALL_EXTRA}

# Blends: the distance scale of a taught digit's influence in the model's ``embed`` space, its
# bound in units of the distance to MNIST's nearest digit of another class, and the prior
# weight of the base model's answer (``digitlab.profiles.adapt``). Chosen by
# ``benchmarks/choose_profile_blend.py`` on simulated writers made from MNIST validation
# digits, each with a few styled digits, confusable ways and a slant and pen of their own
# (fewest errors with 5 taught digits per class, among the choices that cost MNIST's
# validation digits at most 0.1 point for every writer).
#
# Bars: the shipped weights' MNIST test accuracy must stay at or above them, a little under
# what they measured (k-NN 98.86% since the tangent distance, ANN 99.35%, CNN 99.71% since it
# was distilled from the CNN and ANN before it; 99.67% before). The CNN is trained with the
# weight average, label smoothing and drawn faces among its non-digits (a first
# weight-averaged CNN, 99.61%, read a drawn smiley as a sure 0). The ANN is averaged
# too, over 40 epochs: at 20 it read 98.84% of the validation digits (98.9% averaged), at 40
# and at 60 epochs 99.14%, so the shorter of the two; two such nets answer together (99.20%).
register(ModelSpec("logreg", "Logistic Regression", "digitlab.models.logreg", "Log. Regr.",
                   why=("template",), bar=0.950,
                   blend={"radius": 2.716, "guard": 0.35, "prior": 0.03},
                   quick={"c_choices": (0.1,), "max_iter": 50, "extra": _SMALL_EXTRA,
                          "probe": _SMALL_PROBE}))  # fmt: skip
register(ModelSpec("knn", "k-Nearest Neighbours", "digitlab.models.knn", "k-NN",
                   why=("neighbours",), bar=0.9875,
                   blend={"radius": 1.75, "guard": 0.35, "prior": 0.03},
                   quick={"sigmas": (0.75,), "dims": (30,), "ks": (3,),
                          "variant_choices": ((), ("shift",)),
                          "extra": _SMALL_EXTRA, "probe": _SMALL_PROBE}))  # fmt: skip
register(ModelSpec("ann", "ANN (multilayer perceptron)", "digitlab.models.ann", "ANN",
                   why=("gradient",), bar=0.9935,
                   blend={"radius": 2.878, "guard": 0.5, "prior": 0.03},
                   quick={"epochs": 2, "hidden": [64], "patience": 2,
                          "pool": _SMALL_POOL, "probe": _SMALL_PROBE}))  # fmt: skip
register(ModelSpec("cnn", "CNN", "digitlab.models.cnn",
                   why=("occlusion",), bar=0.9970,
                   blend={"radius": 4.365, "guard": 0.5, "prior": 0.03},
                   quick={"epochs": 2, "width": 8, "hidden": 32, "patience": 2,
                          "pool": _SMALL_POOL, "probe": _SMALL_PROBE,
                          "distill": None}))  # fmt: skip
