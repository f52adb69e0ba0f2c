"""k-Nearest Neighbours on pixel-derived features: deskew -> Gaussian blur -> PCA.

Why these features: deskewing removes slant, blurring makes the distance tolerant of
1-pixel stroke shifts, and PCA keeps the few dozen directions that carry most of the
variance, so a brute-force search over the training digits is fast (FAISS's exact flat
index) and more accurate than on 784-D pixels. The 30 nearest candidates are then re-ranked
by a distance that forgives the query small changes: either the nearest of its copies moved
one pixel, or its *tangent distance* (Simard, LeCun and Denker, 1993): the distance from the
candidate to the plane of the query's small shifts, turns, scalings, shears and thickenings,
found from the query's image gradients and measured in the PCA space. k, blur, PCA size and
the re-ranking are chosen on the validation split. Votes are weighted by inverse distance.

The index holds the 55,000 digits of the training split (``digitlab.data.splits``) and the
PCA is fitted on them alone: the 5,000 validation digits stay unseen, so the thresholds
calibrated on them describe the model that ships.

Only the PCA basis ships (a small npz); the index is built from the verified MNIST cache on
first load and kept, checked, in the user cache (``digitlab.models.knn_index``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np
import torch
from scipy import ndimage as ndi
from tqdm import tqdm

from digitlab.contract import NOT_A_DIGIT_CLASS
from digitlab.data.mnist import SPLIT_SIZES
from digitlab.data.splits import split_positions, stratified_subset
from digitlab.imaging.features import as_float_images, deskew, gaussian_blur
from digitlab.models import knn_index
from digitlab.models.base import NpzModel

if TYPE_CHECKING:  # only a type here: the models never import training or synthesis
    from digitlab.training.data import TrainingData

HPARAMS = {
    # How many validation digits calibration looks at (None: ``FULL_PROBE``; quick runs: fewer).
    "probe": None,
    # Tried on validation: every (blur, PCA size, k).
    "sigmas": (0.75, 1.0, 1.25),
    "dims": (40, 50, 60),
    "ks": (3, 4, 5, 6),
    # Then tried on validation with the chosen features: which small changes of the query the
    # re-ranking forgives (each with every k): none, one-pixel shifts, shifts and rotations,
    # or the tangent distance, its tangents taken on the features blurred once more by each of
    # ``tangent_blurs`` (smoother gradients are better tangents).
    "variant_choices": ((), ("shift",), ("shift", "rotate"), ("tangent",)),
    "tangent_blurs": (0.5, 1.0, 1.5),
    # Styled digits join the index of training digits; negatives ("not a digit") form their
    # own. 500 styled digits: the most that cost at most one of 5,000 plain validation digits
    # (``benchmarks/choose_knn_styles.py``); more read styled digits better but MNIST's worse.
    "extra": {"styled": 500, "negative": 4000},
}


def fit_pca(features: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top ``dims`` principal directions (rows) of ``features`` [N,D]."""
    mean = features.mean(0)
    x = torch.from_numpy(features - mean)
    _, _, v = torch.linalg.svd(x.T @ x)  # D x D covariance: fast for D = 784
    return mean.astype(np.float32), v[:dims].numpy().astype(np.float32)


def pixel_features(images: np.ndarray, sigma: float) -> np.ndarray:
    x = gaussian_blur(deskew(images), sigma)
    return x.reshape(len(x), -1)


# Small moves of a query that the distance forgives: a digit one pixel off, or turned a
# little, is still the same digit (a cheap cousin of tangent distance).
CANDIDATES = 30  # the nearest rows to the query as it is; the moves re-rank only these
ROTATION_DEG = 10.0


# The small changes the tangent distance forgives: shifts along x and y, a turn, a scaling,
# the two shears that keep the area (hyperbolic), and a thicker or thinner pen.
TANGENTS = ("x", "y", "turn", "scale", "shear_axes", "shear_diagonal", "thickness")


def tangent_vectors(pixels: np.ndarray, blur: float) -> np.ndarray:
    """[N,7,784]: how each image [N,784] (deskewed, blurred) changes under a small change of
    each of ``TANGENTS``, from the gradients of the image blurred once more by ``blur``."""
    images = pixels.reshape(-1, 28, 28)
    if blur > 0:
        images = ndi.gaussian_filter(images, (0, blur, blur))
    gy, gx = np.gradient(images, axis=(1, 2))
    c = np.arange(28, dtype=np.float32) - 13.5
    ys, xs = np.meshgrid(c, c, indexing="ij")
    directions = (gx, gy, ys * gx - xs * gy, xs * gx + ys * gy, xs * gx - ys * gy,
                  ys * gx + xs * gy, np.hypot(gx, gy))  # fmt: skip
    return np.stack([d.reshape(len(images), -1) for d in directions], 1).astype(np.float32)


def tangent_squared(query: np.ndarray, tangents: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """[N,C] squared one-sided tangent distances: from each of the C ``rows`` [N,C,D] to the
    plane through the ``query`` [N,D] spanned by its ``tangents`` [N,T,D]."""
    diff = query[:, None, :] - rows  # [N,C,D]
    gram = np.einsum("ntd,nsd->nts", tangents, tangents).astype(np.float64)
    gram += 1e-6 * np.eye(tangents.shape[1])[None]  # a blank image has no tangents
    along = np.einsum("ntd,ncd->nct", tangents, diff).astype(np.float64)
    steps = np.linalg.solve(gram[:, None], along[..., None])[..., 0]  # [N,C,T]
    residual = diff - np.einsum("nct,ntd->ncd", steps, tangents)
    return (residual.astype(np.float64) ** 2).sum(-1)


@dataclass(frozen=True)
class Queries:
    """What ``ExactSearch.search`` looks for: each query's features as it is, then its moved
    copies (``points`` [N,V,D]), and the tangents of the query in the same space ([N,T,D],
    or None) when the re-ranking is by tangent distance."""

    points: np.ndarray
    tangents: np.ndarray | None = None


def moved(pixels: np.ndarray, variants: tuple[str, ...]) -> list[np.ndarray]:
    """``pixels`` [N,784] (deskewed, blurred) and its moved copies, as [N,784] each."""
    images = pixels.reshape(-1, 28, 28)
    copies = [pixels]
    if "shift" in variants:
        for shift in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            copies.append(np.roll(images, shift, axis=(1, 2)).reshape(len(images), -1))
    if "rotate" in variants:
        for angle in (-ROTATION_DEG, ROTATION_DEG):
            turned = ndi.rotate(images, angle, axes=(1, 2), reshape=False, order=1)
            copies.append(turned.reshape(len(images), -1))
    return copies


class ExactSearch:
    """Exact Euclidean k-nearest-neighbour search over fixed rows.

    FAISS's flat L2 index compares every row, as brute force would, about 3x faster on this
    2-core CPU than our own matrix product + top-k in torch (which also held a 2,048 x 60,000
    distance matrix per batch). Built once per index: adding the rows copies them.
    """

    def __init__(self, rows: np.ndarray):
        self.size = len(rows)
        self.rows = np.ascontiguousarray(rows, np.float32)
        self._index = faiss.IndexFlatL2(rows.shape[1])
        self._index.add(self.rows)

    def __len__(self) -> int:
        return self.size

    def search(self, queries: np.ndarray | Queries, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, row indices), both [N, min(k, rows)], closest first.

        ``queries`` [N,D], or [N,V,D]: each query as it is, then V-1 moved copies; a row's
        distance is then to the nearest copy, among the ``CANDIDATES`` rows nearest to the
        query as it is. ``Queries`` with tangents re-rank those candidates by tangent
        distance instead."""
        if not isinstance(queries, Queries):
            queries = Queries(queries if queries.ndim == 3 else queries[:, None])
        points = queries.points
        upright = np.ascontiguousarray(points[:, 0], np.float32)
        if points.shape[1] == 1 and queries.tangents is None:
            squared, found = self._index.search(upright, min(k, self.size))
            return np.sqrt(np.maximum(squared, 0)), found
        _, found = self._index.search(upright, min(max(k, CANDIDATES), self.size))
        rows = self.rows[found]  # [N,C,D]
        if queries.tangents is not None:
            squared = tangent_squared(upright, queries.tangents, rows)
        else:
            squared = (
                (points**2).sum(-1)[:, :, None]
                + (rows**2).sum(-1)[:, None, :]
                - 2 * np.einsum("nvd,ncd->nvc", points, rows)
            ).min(1)
        order = np.argsort(squared, 1, kind="stable")[:, :k]
        squared = np.take_along_axis(squared, order, 1)
        return np.sqrt(np.maximum(squared, 0)), np.take_along_axis(found, order, 1)


def nearest(queries: np.ndarray, index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean k nearest rows of ``index`` for each query: (distances, indices), both [N,k]."""
    return ExactSearch(index).search(queries, k)


def vote(distances: np.ndarray, neighbour_labels: np.ndarray, classes: int = 10) -> np.ndarray:
    """Inverse-distance-weighted class votes -> [N,classes] probabilities."""
    weights = 1.0 / (distances + 1e-3)
    probs = np.zeros((len(distances), classes), np.float64)
    np.add.at(probs, (np.arange(len(distances))[:, None], neighbour_labels), weights)
    return (probs / probs.sum(1, keepdims=True)).astype(np.float32)


def vote_with_negatives(queries, digits, labels, negatives, k: int) -> np.ndarray:
    """[N,11] probabilities: the digits' vote among the ``k`` nearest ``digits``, times one
    minus the not-a-digit share of the vote among the ``k`` nearest of digits and negatives.

    ``digits`` and ``negatives`` are ``ExactSearch`` over their feature rows."""
    dist, idx = digits.search(queries, k)
    digit_probs = vote(dist, labels[idx])
    if len(negatives) == 0:
        return np.concatenate([digit_probs, np.zeros((len(dist), 1), np.float32)], 1)
    neg_dist, _ = negatives.search(queries, k)
    both = np.concatenate([dist, neg_dist], 1)
    both_labels = np.concatenate([labels[idx], np.full(neg_dist.shape, NOT_A_DIGIT_CLASS)], 1)
    order = np.argsort(both, axis=1)[:, :k]
    rows = np.arange(len(both))[:, None]
    share = vote(both[rows, order], both_labels[rows, order], classes=11)[:, NOT_A_DIGIT_CLASS:]
    return np.concatenate([digit_probs * (1 - share), share], 1).astype(np.float32)


def make_queries(pixels, mean, comps, variants: tuple[str, ...], tangent_blur: float):
    """``Queries`` of images' features ``pixels`` [N,784] (deskewed, blurred) in the PCA space
    (``mean``, ``comps``), with the moved copies or the tangents ``variants`` asks for."""
    copies = moved(pixels, variants)
    points = np.stack([(c - mean) @ comps.T for c in copies], 1).astype(np.float32)
    tangents = None
    if "tangent" in variants:
        tangents = (tangent_vectors(pixels, tangent_blur) @ comps.T).astype(np.float32)
    return Queries(points, tangents)


def choose_variants(tr, data: TrainingData, val_pixels, mean, comps, hp) -> tuple:
    """(validation accuracy, variants, tangent blur, k): how the candidates are re-ranked and
    the k that read the validation digits best (the simpler choice on a tie)."""
    search = ExactSearch(tr)
    best = None
    choices = [(tuple(v), blur) for v in hp["variant_choices"]
               for blur in (hp["tangent_blurs"] if "tangent" in v else (0.0,))]  # fmt: skip
    for variants, blur in tqdm(choices, desc="knn: choosing the re-ranking", leave=False):
        queries = make_queries(val_pixels, mean, comps, variants, blur)
        dist, idx = search.search(queries, max(hp["ks"]))
        for k in hp["ks"]:
            guess = vote(dist[:, :k], data.train_y[idx[:, :k]]).argmax(1)
            acc = float((guess == data.val_y).mean())
            if best is None or acc > best[0]:
                best = (acc, variants, blur, k)
    return best


def forgiving(config: dict) -> str:
    """How the nearest candidates are re-ranked, in words (``describe``)."""
    variants = config.get("variants", HPARAMS["variant_choices"][-1])
    if "tangent" in variants:
        return ("re-ranking the nearest candidates by tangent distance, which forgives your "
                "digit a small shift, turn, scaling, shear or thicker pen.")  # fmt: skip
    if "shift" in variants:
        return "forgiving your digit a one-pixel shift when it is compared with the nearest."
    return "comparing your digit with the nearest as it is."


class Model(NpzModel):
    id = "knn"
    HPARAMS = HPARAMS
    ARRAYS = ("mean", "components", "extra_features", "extra_labels")

    def __init__(self, mean, components, config: dict, extra_features=None, extra_labels=None):
        self.mean, self.components, self.config = mean, components, config
        dims = components.shape[0]
        self.extra_features = np.zeros((0, dims), np.float32) if extra_features is None else (
            extra_features)  # fmt: skip
        self.extra_labels = np.zeros(0, np.int64) if extra_labels is None else extra_labels
        self._index: tuple[np.ndarray, np.ndarray] | None = None
        self._digits: tuple[np.ndarray, np.ndarray] | None = None
        self._searches: tuple[ExactSearch, np.ndarray, ExactSearch] | None = None

    @classmethod
    def describe(cls, config: dict) -> str:
        choice = (f" (k = {config['k']}, blur {config['sigma']} px, {config['dims']} PCA "
                  "dimensions)" if "k" in config else "")  # fmt: skip
        return (
            "Compares your digit with the 55,000 digits of the training split and lets the closest "
            "ones vote, closer ones counting more. Digits are deskewed, blurred a little (so a "
            "stroke one pixel off still matches) and projected onto their main PCA directions "
            f"before distances are measured; these choices{choice} were made on the validation "
            f"digits, as was {forgiving(config)} A separate set of non-digits votes on whether "
            "the image is a digit at all."
        )

    # -- features and index ------------------------------------------------------------
    def features(self, images: np.ndarray) -> np.ndarray:
        """[N,dims]: the features the index holds."""
        x = pixel_features(as_float_images(images), self.config["sigma"])
        return ((x - self.mean) @ self.components.T).astype(np.float32)

    def queries(self, images: np.ndarray) -> Queries:
        """Each image's features, then those of its moved copies or its tangents (the
        config's ``variants``), as ``ExactSearch.search`` takes them."""
        x = pixel_features(as_float_images(images), self.config["sigma"])
        return make_queries(x, self.mean, self.components, tuple(self.config.get("variants", ())),
                            self.config.get("tangent_blur", 0.0))  # fmt: skip

    def index_cache_path(self) -> Path:
        return knn_index.index_cache_path(self.mean, self.components)

    def mnist_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(features [55000,d], labels [55000]) of the training split's digits, in the order of
        ``digitlab.data.splits``; built once and cached (``knn_index``). A learner's run
        trained on a subset (``train_subset`` in its config) searches that subset only."""
        if self._index is None:
            feats, labels = self._read_index() or self._build_index()
            subset = self.config.get("train_subset")
            if subset:
                keep = stratified_subset(labels, int(subset["size"]), int(subset["seed"]))
                feats, labels = feats[keep], labels[keep]
            self._index = (feats, labels)
        return self._index

    def index(self) -> tuple[np.ndarray, np.ndarray]:
        """The digits searched: the training split's MNIST digits, then the styled digits that
        ship with the model; built once."""
        if self._digits is None:
            feats, labels = self.mnist_index()
            digits = self.extra_labels != NOT_A_DIGIT_CLASS
            self._digits = (np.concatenate([feats, self.extra_features[digits]]),
                            np.concatenate([labels, self.extra_labels[digits]]))  # fmt: skip
        return self._digits

    def index_positions(self) -> np.ndarray:
        """Where each row of ``index()`` comes from: its position in ``load_mnist("train")``
        for an MNIST digit, or 60,000 + its number among the shipped styled digits."""
        styled = np.count_nonzero(self.extra_labels != NOT_A_DIGIT_CLASS)
        return np.concatenate([split_positions()[1], SPLIT_SIZES["train"] + np.arange(styled)])

    def styled_features(self) -> np.ndarray:
        """Features of the styled digits that ship with the model."""
        return self.extra_features[self.extra_labels != NOT_A_DIGIT_CLASS]

    def negative_index(self) -> np.ndarray:
        """Features of the negatives ("not a digit") that ship with the model."""
        return self.extra_features[self.extra_labels == NOT_A_DIGIT_CLASS]

    def _read_index(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The cached index if it passes every check, else None (and a line on stderr)."""
        return knn_index.read_cached_index(self.index_cache_path(), self.components.shape[0])

    def _build_index(self) -> tuple[np.ndarray, np.ndarray]:
        return knn_index.build_index(self.features, self.index_cache_path())

    # -- the model interface --------------------------------------------------------------
    def searches(self) -> tuple[ExactSearch, np.ndarray, ExactSearch]:
        """The search over ``index()`` with its labels, and the search over the negatives;
        built once."""
        if self._searches is None:
            feats, labels = self.index()
            self._searches = (ExactSearch(feats), labels, ExactSearch(self.negative_index()))
        return self._searches

    def kneighbors(self, images: np.ndarray, k: int | None = None):
        """(distances [N,k], positions [N,k] as ``index_positions`` gives them, labels [N,k])
        of the nearest digits, closest first."""
        digits, labels, _ = self.searches()
        dist, idx = digits.search(self.queries(images), k or self.config["k"])
        return dist, self.index_positions()[idx], labels[idx]

    def predict_proba_all(self, images: np.ndarray) -> np.ndarray:
        """[N,11]: the digits' vote among the k nearest digits, scaled by the share of the
        not-a-digit vote among the k nearest of digits and negatives together."""
        digits, labels, negatives = self.searches()
        return vote_with_negatives(self.queries(images), digits, labels, negatives,
                                   self.config["k"])  # fmt: skip

    def embed(self, images: np.ndarray) -> np.ndarray:
        """[N,D] float32: the PCA features the neighbours are searched in (``profiles``)."""
        return self.features(images)

    # -- training and artifacts ---------------------------------------------------------
    @classmethod
    def train(cls, data: TrainingData, seed: int = 0, **overrides) -> Model:
        """Choose blur, PCA size and k on validation, then calibrate the thresholds there.

        The PCA and the index use the training split only, so the model calibrated is the
        model that ships (with ``data`` from ``training_data()``, its index is exactly the one
        ``mnist_index`` builds)."""
        hp = cls.hparams(overrides)
        sigmas, dims, ks = hp["sigmas"], hp["dims"], hp["ks"]
        best = None
        grid = [(s, d, k) for s in sigmas for d in dims for k in ks]
        bar = tqdm(total=len(grid), desc="knn: choosing blur/PCA/k on validation", leave=False)
        for sigma in sigmas:
            train_f = pixel_features(data.train_x, sigma)
            val_f = pixel_features(data.val_x, sigma)
            mean, comps = fit_pca(train_f, max(dims))
            for dim in dims:
                tr = ((train_f - mean) @ comps[:dim].T).astype(np.float32)
                va = ((val_f - mean) @ comps[:dim].T).astype(np.float32)
                dist, idx = nearest(va, tr, max(ks))
                for k in ks:
                    guess = vote(dist[:, :k], data.train_y[idx[:, :k]]).argmax(1)
                    acc = float((guess == data.val_y).mean())
                    if best is None or acc > best[0]:
                        best = (acc, sigma, dim, k)
                    bar.update()
        bar.close()
        _, sigma, dim, _ = best
        train_f = pixel_features(data.train_x, sigma)
        mean, comps = fit_pca(train_f, dim)
        tr = ((train_f - mean) @ comps.T).astype(np.float32)
        val_f = pixel_features(data.val_x, sigma)
        val_acc, variants, tangent_blur, k = choose_variants(tr, data, val_f, mean, comps, hp)
        extra = hp["extra"]
        config = {"train_subset": data.subset, "sigma": sigma, "dims": dim, "k": k,
                  "variants": list(variants), "tangent_blur": tangent_blur,
                  "val_accuracy": val_acc, "seed": seed, "extra": extra}  # fmt: skip
        extra_x, extra_y = data.extra_examples(extra["styled"], extra["negative"], seed)
        model = cls(mean, comps, config)
        model = cls(mean, comps, config, model.features(extra_x), extra_y)
        model._index = (tr, data.train_y)
        model.calibrate(data, hp.get("probe"))
        model._index = model._digits = model._searches = None  # the index comes from the cache
        return model
