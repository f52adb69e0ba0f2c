"""Every model answering through a person's profile, with no retraining.

How the models adapt (``ProfiledModel``): each model embeds images in the space it decides in
(``model.embed``: k-NN's PCA features, the networks' penultimate layer, logistic
regression's deskewed pixels). The taught digits are prototypes in that space. For an
image, each taught digit votes for its label with a weight that falls with distance
(``exp(-d^2 / r^2)``); the share of the taught digits' vote in the answer is
``W / (W + prior)`` where ``W`` is the sum of the weights. A taught digit's radius ``r`` is
the model's ``radius``, but at most ``guard`` times its distance to the nearest MNIST
training digit of another class: it claims only the space MNIST's other digits leave free.
So:

- an empty profile, or an image farther than 3 radii from every taught digit, gets the base
  model's answer exactly (the weight is cut to zero there);
- a taught image gets weight 1 from itself and comes back as taught (``prior < 1``);
- influence stays local: ``radius``, ``guard`` and ``prior`` are chosen per model on
  simulated writers built from MNIST validation digits (``benchmarks/choose_profile_blend.py``)
  so that one writer's profile costs MNIST's validation digits at most 0.1 point.

They are the ``blend`` of the model's registry entry (``digitlab.models.registry``). A model
whose entry has no blend answers through a profile exactly as without one.

``with_profile(model, profile)`` is the one way to wrap a model; ``load_model`` (the public
``digitlab.load_model``) loads one by id and wraps it when given a profile.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from functools import cache
from pathlib import Path

import numpy as np

from digitlab.contract import split_not_digit
from digitlab.models import registry
from digitlab.models.base import DigitModel
from digitlab.profiles.store import Profile, resolve_profile

CUTOFF = 3.0  # a taught digit's weight is exp(-9) at 3 radii; beyond that it has none
REFERENCE_PER_DIGIT = 200  # MNIST training digits of each class that bound a taught digit's reach


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[N,M] squared Euclidean distances between the rows of ``a`` and ``b``."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    norms = (a64**2).sum(1)[:, None] + (b64**2).sum(1)[None]
    d2 = norms - 2 * a64 @ b64.T
    # Identical rows give exactly 0 (not rounding noise): a taught image is found again
    # however small its radius (see ``blend_distances``).
    return np.where(d2 <= 1e-9 * norms, 0.0, d2)


def blend(
    base: np.ndarray, queries: np.ndarray, taught: np.ndarray, labels: np.ndarray,
    radii: np.ndarray | float, prior: float,
) -> np.ndarray:  # fmt: skip
    """The base probabilities [N,C] moved towards the taught digits' vote, for embeddings
    ``queries`` [N,D] and ``taught`` [M,D] (see ``blend_distances``)."""
    if len(taught) == 0:
        return np.asarray(base, np.float32)
    return blend_distances(base, squared_distances(queries, taught), labels, radii, prior)


def blend_distances(
    base: np.ndarray, d2: np.ndarray, labels: np.ndarray, radii: np.ndarray | float,
    prior: float,
) -> np.ndarray:  # fmt: skip
    """The base probabilities [N,C] moved towards the taught digits' vote.

    ``d2`` [N,M] are squared distances to the taught digits. Taught digit j votes for its
    label with weight ``exp(-d^2 / radii[j]^2)``, cut to zero beyond ``CUTOFF`` radii so that
    influence is strictly local; the vote's share is ``W / (W + prior)``. Rows with no taught
    digit within reach come back unchanged, bit for bit. At distance 0 the weight is 1 even
    for a radius of 0 (a taught digit that MNIST holds with another label): the very image
    taught comes back as taught.
    """
    base = np.asarray(base, np.float32)
    r2 = np.maximum(np.asarray(radii, np.float64), 1e-12) ** 2
    weights = np.where(d2 <= CUTOFF**2 * r2, np.exp(-d2 / r2), 0.0)
    votes = weights @ np.eye(base.shape[1])[labels]  # [N,C]; class 10 ("not a digit") gets none
    total = votes.sum(1, keepdims=True)
    share = total / (total + prior)
    adapted = (1 - share) * base + share * (votes / np.maximum(total, 1e-300))
    touched = total[:, 0] > 0
    out = base.copy()
    out[touched] = adapted[touched].astype(np.float32)
    return out


@cache
def reference_digits() -> tuple[np.ndarray, np.ndarray]:
    """The first ``REFERENCE_PER_DIGIT`` MNIST training digits of each class (images, labels)."""
    from digitlab.data.mnist import load_mnist

    images, labels = load_mnist("train")
    pick = np.concatenate([np.flatnonzero(labels == d)[:REFERENCE_PER_DIGIT] for d in range(10)])
    return images[pick], labels[pick].astype(np.int64)


_reference_embeddings: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# One embedding at a time: a caller that finds another thread embedding (the app's warm-up)
# waits for its result instead of computing it a second time on the same cores.
_reference_lock = threading.Lock()


def reference_embeddings(model: DigitModel) -> tuple[np.ndarray, np.ndarray]:
    """``reference_digits`` embedded by ``model`` (once per loaded model)."""
    with _reference_lock:
        if model not in _reference_embeddings:
            images, labels = reference_digits()
            _reference_embeddings[model] = (model.embed(images), labels)
        return _reference_embeddings[model]


def guarded_radii(
    model: DigitModel, taught: np.ndarray, labels: np.ndarray, params: dict
) -> np.ndarray:
    """Each taught digit's radius: the model's ``radius``, but at most ``guard`` times the
    distance from the taught digit to the nearest MNIST digit of another class. A taught
    digit claims the space around it only as far as MNIST's own digits of other classes
    leave free: that is what keeps a profile from costing MNIST's digits. ``guard`` inf: no
    bound (not even for a taught digit at distance 0 from MNIST's, where inf * 0 is nan)."""
    if np.isinf(params["guard"]):
        return np.full(len(taught), float(params["radius"]))
    ref, ref_labels = reference_embeddings(model)
    d2 = squared_distances(taught, ref)
    other = np.where(ref_labels[None] != labels[:, None], d2, np.inf).min(1)
    return np.minimum(params["radius"], params["guard"] * np.sqrt(other))


def blend_for(model: DigitModel) -> dict | None:
    """The ``blend`` of ``model``'s registry entry: None (answers left as they are) for a
    model whose entry has none, or that has no entry."""
    if model.id not in registry.model_ids():
        return None
    return registry.model_spec(model.id).blend


def taught_key(image: np.ndarray, digit: int) -> bytes:
    """What a taught digit's embedding and radius depend on: its image and its label."""
    return hashlib.sha256(
        np.ascontiguousarray(image, np.float32).tobytes() + bytes([digit])
    ).digest()


class ProfiledModel:
    """A model answering through a profile: the same interface as the model it wraps (``id``,
    ``config``, ``predict_proba``, ``predict_proba_all``, ``embed``), so callers never branch.

    ``blend_params`` (``radius``, ``guard``, ``prior``) default to the registry entry's
    ``blend``; with none, the answers are the base model's, whatever the profile holds. The
    taught digits' embeddings are computed once per taught image and kept while the profile
    changes (teaching one more digit embeds one image). They are kept by content (the image's
    bytes and its label), never by sample id: a reset starts the ids again, and a kept wrapper
    must not pair an old image's embedding with a new digit."""

    def __init__(self, base: DigitModel, profile: Profile, blend_params: dict | None = None):
        self.base, self.profile = base, profile
        self.id, self.config = base.id, base.config
        self.blend_params = blend_params or blend_for(base)
        self._embedded: dict[bytes, tuple[np.ndarray, float]] = {}

    def __getattr__(self, name: str):
        # Anything else (k-NN's neighbours, logistic regression's templates) is the base's.
        return getattr(self.__dict__["base"], name)

    def embed(self, images: np.ndarray) -> np.ndarray:
        return self.base.embed(images)

    def taught(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(embeddings [M,D], labels [M], radii [M]) of the profile's digits (a blended model)."""
        content = self.profile.content()
        keys = [taught_key(image, s.digit) for image, s in
                zip(content.images, content.samples, strict=True)]  # fmt: skip
        self._embedded = {k: v for k, v in self._embedded.items() if k in set(keys)}
        missing = [i for i, key in enumerate(keys) if key not in self._embedded]
        if missing:
            rows = self.base.embed(content.images[missing])
            labels = content.labels[missing]
            radii = guarded_radii(self.base, rows, labels, self.blend_params)
            for i, row, radius in zip(missing, rows, radii, strict=True):
                self._embedded[keys[i]] = (row, radius)
        kept = [self._embedded[key] for key in keys]
        if not kept:
            return np.zeros((0, 1), np.float32), np.zeros(0, np.int64), np.zeros(0)
        return np.stack([e for e, _ in kept]), content.labels, np.array([r for _, r in kept])

    def predict_proba_all(self, images: np.ndarray) -> np.ndarray:
        base = self.base.predict_proba_all(images)
        if self.blend_params is None or len(self.profile) == 0:
            return base
        return self.adapt(base, self.base.embed(images))

    def adapt(self, base: np.ndarray, queries: np.ndarray) -> np.ndarray:
        """The base answers [N,C] for images embedded as ``queries`` [N,D], moved by the
        profile (``blend``); what ``predict_proba_all`` does after the base model's work."""
        if self.blend_params is None:
            return np.asarray(base, np.float32)
        taught, labels, radii = self.taught()
        return blend(base, queries, taught, labels, radii, self.blend_params["prior"])

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return split_not_digit(self.predict_proba_all(images))[0]


def with_profile(model: DigitModel, profile: Profile | str | None) -> DigitModel | ProfiledModel:
    """``model`` answering through ``profile`` (a Profile or a profile name); None: ``model``.

    The one way to wrap a model: a model whose registry entry has no ``blend`` is wrapped too,
    and answers as it would without the profile."""
    profile = resolve_profile(profile)
    if profile is None:
        return model
    if isinstance(model, ProfiledModel):
        model = model.base
    return ProfiledModel(model, profile)


def load_model(
    model_id: str, weights: str | Path | None = None, profile: Profile | str | None = None
) -> DigitModel | ProfiledModel:
    """Load a trained model by id (``digitlab.model_ids()``), once per process
    (``digitlab.models.registry.load_model``). With ``profile`` (a ``digitlab.Profile`` or a
    profile's name) the model answers through that person's taught digits (``with_profile``)."""
    return with_profile(registry.load_model(model_id, weights), profile)
