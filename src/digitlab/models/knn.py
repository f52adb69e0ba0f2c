"""k-Nearest Neighbours on pixel-derived features: deskew -> Gaussian blur -> PCA.

Why these features: deskewing removes slant, blurring makes the distance tolerant of
1-pixel stroke shifts, and PCA keeps the few dozen directions that carry most of the
variance, so a brute-force search over all 60,000 training digits is one small matrix
product (much faster than 784-D pixels, and more accurate). k, blur and PCA size are
chosen on the validation split. Votes are weighted by inverse distance.

Only the PCA basis ships (a small npz); the index of the 60,000 training digits is built
from the verified MNIST cache on first load and kept in the user cache, with its SHA-256
beside it (``knn-index-KEY.npz.sha256``, as ``sha256sum`` writes it). An index is used only
if that digest matches, its labels are MNIST's own (their IDX checksum is the official one)
and its features are finite float32; anything else is rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from pathlib import Path

import faiss
import numpy as np
import torch
from tqdm import tqdm

from digitlab import artifacts
from digitlab.data import (
    RESOURCES,
    SPLIT_SIZES,
    cache_dir,
    load_mnist,
    remove_stale_partials,
    sha256,
    to_idx,
    write_atomic,
)
from digitlab.features import as_float_images, deskew, gaussian_blur
from digitlab.models.base import NOT_A_DIGIT, TrainingData, calibrate, split_not_digit

ID = "knn"
ARTIFACT = "knn.npz"
CONFIG = "knn.json"
K_CHOICES = (3, 4, 5, 6)
SIGMA_CHOICES = (0.75, 1.0, 1.25)
DIM_CHOICES = (40, 50, 60)
# Styled digits join the index of training digits; negatives ("not a digit") form their own.
# 500 styled digits: the most that cost at most one of 5,000 plain validation digits
# (``benchmarks/choose_knn_styles.py``); more read styled digits better but MNIST's worse.
EXTRA = {"styled": 500, "negative": 4000}


def fit_pca(features: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and the top ``dims`` principal directions (rows) of ``features`` [N,D]."""
    mean = features.mean(0)
    x = torch.from_numpy(features - mean)
    _, _, v = torch.linalg.svd(x.T @ x)  # D x D covariance: fast for D = 784
    return mean.astype(np.float32), v[:dims].numpy().astype(np.float32)


def pixel_features(images: np.ndarray, sigma: float) -> np.ndarray:
    x = gaussian_blur(deskew(images), sigma)
    return x.reshape(len(x), -1)


class ExactSearch:
    """Exact Euclidean k-nearest-neighbour search over fixed rows.

    FAISS's flat L2 index compares every row, as brute force would, about 3x faster on this
    2-core CPU than our own matrix product + top-k in torch (which also held a 2,048 x 60,000
    distance matrix per batch). Built once per index: adding the rows copies them.
    """

    def __init__(self, rows: np.ndarray):
        self.size = len(rows)
        self._index = faiss.IndexFlatL2(rows.shape[1])
        self._index.add(np.ascontiguousarray(rows, np.float32))

    def __len__(self) -> int:
        return self.size

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, row indices), both [N, min(k, rows)], closest first."""
        squared, found = self._index.search(
            np.ascontiguousarray(queries, np.float32), min(k, self.size)
        )
        return np.sqrt(np.maximum(squared, 0)), found


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
    both_labels = np.concatenate([labels[idx], np.full(neg_dist.shape, NOT_A_DIGIT)], 1)
    order = np.argsort(both, axis=1)[:, :k]
    rows = np.arange(len(both))[:, None]
    share = vote(both[rows, order], both_labels[rows, order], classes=11)[:, NOT_A_DIGIT:]
    return np.concatenate([digit_probs * (1 - share), share], 1).astype(np.float32)


def digest_path(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + ".sha256")


def write_index(path: Path, features: np.ndarray, labels: np.ndarray) -> None:
    """Write the index, then its SHA-256 beside it: a crash in between leaves no valid pair."""
    buf = io.BytesIO()
    np.savez(buf, features=features, labels=labels)
    raw = buf.getvalue()
    write_atomic(path, raw)
    write_atomic(digest_path(path), f"{sha256(raw)}  {path.name}\n".encode())


def read_index(path: Path, dims: int) -> tuple[tuple[np.ndarray, np.ndarray] | None, str | None]:
    """((features, labels), None) for a sound index file, else (None, what is wrong with it)."""
    raw = path.read_bytes()  # read once: the digest and the arrays come from the same bytes
    try:
        expected = digest_path(path).read_text().split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return None, "it has no readable SHA-256 beside it"
    if sha256(raw) != expected:
        return None, "it does not match its SHA-256"
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            features, labels = npz["features"], npz["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None, "it is not a readable npz file with features and labels"
    problem = index_problem(features, labels, dims)
    return (None, problem) if problem else ((features, labels), None)


def index_problem(features: np.ndarray, labels: np.ndarray, dims: int) -> str | None:
    """What is wrong with an index's arrays, or None if they can be trusted."""
    n = SPLIT_SIZES["train"]
    if features.dtype != np.float32 or features.shape != (n, dims):
        return f"its features are {features.dtype} {features.shape}, not float32 {(n, dims)}"
    if labels.dtype.kind not in "iu" or labels.shape != (n,):
        return f"its labels are {labels.dtype} {labels.shape}, not {n} integers"
    if labels.min() < 0 or labels.max() > 9:
        return "its labels are not all digits 0-9"
    # The labels must be MNIST's own, in order: their IDX file has the official SHA-256.
    if sha256(to_idx(labels.astype(np.uint8))) != RESOURCES["train", "labels"].sha256:
        return "its labels are not MNIST's training labels"
    if not np.isfinite(features).all():
        return "its features are not all finite numbers"
    return None


class Model:
    id = ID

    def __init__(self, mean, components, config: dict, extra_features=None, extra_labels=None):
        self.mean, self.components, self.config = mean, components, config
        dims = components.shape[0]
        self.extra_features = np.zeros((0, dims), np.float32) if extra_features is None else (
            extra_features)  # fmt: skip
        self.extra_labels = np.zeros(0, np.int64) if extra_labels is None else extra_labels
        self._index: tuple[np.ndarray, np.ndarray] | None = None
        self._digits: tuple[np.ndarray, np.ndarray] | None = None
        self._searches: tuple[ExactSearch, np.ndarray, ExactSearch] | None = None

    # -- features and index ------------------------------------------------------------
    def features(self, images: np.ndarray) -> np.ndarray:
        x = pixel_features(as_float_images(images), self.config["sigma"])
        return ((x - self.mean) @ self.components.T).astype(np.float32)

    def index_cache_path(self) -> Path:
        key = hashlib.sha256(self.components.tobytes() + self.mean.tobytes()).hexdigest()[:16]
        return cache_dir().parent / f"knn-index-{key}.npz"

    def mnist_index(self) -> tuple[np.ndarray, np.ndarray]:
        """(features [60000,d], labels [60000]) of MNIST's training set, built once and cached."""
        if self._index is None:
            self._index = self._read_index() or self._build_index()
        return self._index

    def index(self) -> tuple[np.ndarray, np.ndarray]:
        """The digits searched: MNIST's 60,000 training digits (indices below 60,000), then
        the styled digits that ship with the model; built once."""
        if self._digits is None:
            feats, labels = self.mnist_index()
            digits = self.extra_labels != NOT_A_DIGIT
            self._digits = (np.concatenate([feats, self.extra_features[digits]]),
                            np.concatenate([labels, self.extra_labels[digits]]))  # fmt: skip
        return self._digits

    def negative_index(self) -> np.ndarray:
        """Features of the negatives ("not a digit") that ship with the model."""
        return self.extra_features[self.extra_labels == NOT_A_DIGIT]

    def _read_index(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The cached index if it passes every check, else None (and a line on stderr)."""
        path = self.index_cache_path()
        if path.parent.is_dir():
            remove_stale_partials(path.parent)
        if not path.exists():
            return None
        try:
            index, problem = read_index(path, self.components.shape[0])
        except OSError as err:
            index, problem = None, f"it cannot be read: {err.strerror or err}"
        if problem:
            print(f"digitlab: the cached k-NN index {path.name} failed its check ({problem}); "
                  "rebuilding it", file=sys.stderr)  # fmt: skip
            return None
        return index

    def _build_index(self) -> tuple[np.ndarray, np.ndarray]:
        print("digitlab: building the k-NN index from MNIST (once)", file=sys.stderr)
        images, labels = load_mnist("train")
        feats = self.features(images)
        labels = labels.astype(np.int64)
        try:
            write_index(self.index_cache_path(), feats, labels)
        except OSError as err:  # a read-only cache only costs time on the next start
            print(f"digitlab: could not cache the k-NN index ({err})", file=sys.stderr)
        return feats, labels

    # -- the model interface --------------------------------------------------------------
    def searches(self) -> tuple[ExactSearch, np.ndarray, ExactSearch]:
        """The search over ``index()`` with its labels, and the search over the negatives;
        built once."""
        if self._searches is None:
            feats, labels = self.index()
            self._searches = (ExactSearch(feats), labels, ExactSearch(self.negative_index()))
        return self._searches

    def kneighbors(self, images: np.ndarray, k: int | None = None):
        """(distances [N,k], training-set indices [N,k], labels [N,k]) of the nearest digits."""
        digits, labels, _ = self.searches()
        dist, idx = digits.search(self.features(images), k or self.config["k"])
        return dist, idx, labels[idx]

    def predict_proba_all(self, images: np.ndarray) -> np.ndarray:
        """[N,11]: the digits' vote among the k nearest digits, scaled by the share of the
        not-a-digit vote among the k nearest of digits and negatives together."""
        digits, labels, negatives = self.searches()
        return vote_with_negatives(self.features(images), digits, labels, negatives,
                                   self.config["k"])  # fmt: skip

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        return split_not_digit(self.predict_proba_all(images))[0]

    def embed(self, images: np.ndarray) -> np.ndarray:
        """[N,D] float32: the PCA features the neighbours are searched in (``profiles``)."""
        return self.features(images)

    # -- training and artifacts ---------------------------------------------------------
    @classmethod
    def train(
        cls,
        data: TrainingData,
        seed: int = 0,
        sigmas=SIGMA_CHOICES,
        dims=DIM_CHOICES,
        ks=K_CHOICES,
        extra=None,
    ) -> Model:
        """Choose blur, PCA size and k on validation; then fit PCA on all training images."""
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
        val_acc, sigma, dim, k = best
        # The chosen features, refitted on all 60k training images (the index uses them all).
        mean, comps = fit_pca(pixel_features(data.all_x, sigma), dim)
        extra = EXTRA if extra is None else extra
        config = {"sigma": sigma, "dims": dim, "k": k, "val_accuracy": val_acc, "seed": seed,
                  "extra": extra}  # fmt: skip
        extra_x, extra_y = data.extra_examples(extra["styled"], extra["negative"], seed)
        model = cls(mean, comps, config)
        model = cls(mean, comps, config, model.features(extra_x), extra_y)
        # Thresholds from validation with the validation-era index (train split only).
        tr = ((pixel_features(data.train_x, sigma) - mean) @ comps.T).astype(np.float32)
        digits = extra_y != NOT_A_DIGIT
        tr_all = np.concatenate([tr, model.extra_features[digits]])
        tr_labels = np.concatenate([data.train_y, extra_y[digits]])

        tr_search, negatives = ExactSearch(tr_all), ExactSearch(model.negative_index())

        def validation_era(images):
            return vote_with_negatives(model.features(images), tr_search, tr_labels,
                                       negatives, k)  # fmt: skip

        model.config |= calibrate(validation_era, data)
        return model

    def save(self, weights_dir: Path) -> list[str]:
        arrays = {
            "mean": self.mean,
            "components": self.components,
            "extra_features": self.extra_features,
            "extra_labels": self.extra_labels,
        }
        artifacts.save_npz(weights_dir / ARTIFACT, arrays)
        artifacts.save_json(weights_dir / CONFIG, self.config)
        return [ARTIFACT, CONFIG]

    @classmethod
    def load(cls, weights_dir: Path) -> Model:
        arrays = artifacts.load_npz(weights_dir, ARTIFACT)
        config = artifacts.load_json(weights_dir, CONFIG)
        return cls(arrays["mean"], arrays["components"], config, arrays.get("extra_features"),
                   arrays.get("extra_labels"))  # fmt: skip
