"""The k-NN index in the user cache: where it lives, how it is checked, built and written.

The index holds the features and labels of the 55,000 digits of the training split
(``digitlab.data.splits``), computed with the shipped PCA basis from the verified MNIST cache
on first load. It is kept in the user cache with its SHA-256 beside it
(``knn-index-KEY.npz.sha256``, as ``sha256sum`` writes it; KEY comes from the PCA basis). An
index is used only if that digest matches, its labels are MNIST's own labels of the training
split, in order, and its features are finite float32; anything else is rebuilt.
"""

from __future__ import annotations

import hashlib
import io
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitlab.data.mnist import cache_dir, load_mnist, remove_stale_partials, sha256, write_atomic
from digitlab.data.splits import split_positions


def index_cache_path(mean: np.ndarray, components: np.ndarray) -> Path:
    """Where the index for this PCA basis is cached."""
    key = hashlib.sha256(components.tobytes() + mean.tobytes()).hexdigest()[:16]
    return cache_dir().parent / f"knn-index-{key}.npz"


def training_split() -> tuple[np.ndarray, np.ndarray]:
    """The training split's digits and labels, read from verified MNIST."""
    images, labels = load_mnist("train")
    train = split_positions(len(images))[1]
    return images[train], labels[train].astype(np.int64)


def read_cached_index(path: Path, dims: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The index cached at ``path`` if it passes every check, else None (and a line on
    stderr when a file was there but failed)."""
    if path.parent.is_dir():
        remove_stale_partials(path.parent)
    if not path.exists():
        return None
    try:
        _, expected = training_split()
        index, problem = read_index(path, dims, expected)
    except OSError as err:
        index, problem = None, f"it cannot be read: {err.strerror or err}"
    if problem:
        print(f"digitlab: the cached k-NN index {path.name} failed its check ({problem}); "
              "rebuilding it", file=sys.stderr)  # fmt: skip
        return None
    return index


def build_index(
    features: Callable[[np.ndarray], np.ndarray], path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of the training split, computed with ``features`` and cached at
    ``path`` (a cache that cannot be written only costs time on the next start)."""
    print("digitlab: building the k-NN index from MNIST (once)", file=sys.stderr)
    images, labels = training_split()
    feats = features(images)
    try:
        write_index(path, feats, labels)
    except OSError as err:
        print(f"digitlab: could not cache the k-NN index ({err})", file=sys.stderr)
    return feats, labels


def digest_path(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + ".sha256")


def write_index(path: Path, features: np.ndarray, labels: np.ndarray) -> None:
    """Write the index, then its SHA-256 beside it: a crash in between leaves no valid pair."""
    buf = io.BytesIO()
    np.savez(buf, features=features, labels=labels)
    raw = buf.getvalue()
    write_atomic(path, raw)
    write_atomic(digest_path(path), f"{sha256(raw)}  {path.name}\n".encode())


def read_index(
    path: Path, dims: int, expected_labels: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray] | None, str | None]:
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
    problem = index_problem(features, labels, dims, expected_labels)
    return (None, problem) if problem else ((features, labels), None)


def index_problem(
    features: np.ndarray, labels: np.ndarray, dims: int, expected_labels: np.ndarray
) -> str | None:
    """What is wrong with an index's arrays, or None if they can be trusted.

    ``expected_labels`` are the labels of the training split read from verified MNIST."""
    n = len(expected_labels)
    if features.dtype != np.float32 or features.shape != (n, dims):
        return f"its features are {features.dtype} {features.shape}, not float32 {(n, dims)}"
    if labels.dtype.kind not in "iu" or labels.shape != (n,):
        return f"its labels are {labels.dtype} {labels.shape}, not {n} integers"
    if labels.min() < 0 or labels.max() > 9:
        return "its labels are not all digits 0-9"
    if not np.array_equal(labels, expected_labels):
        return "its labels are not MNIST's training labels"
    if not np.isfinite(features).all():
        return "its features are not all finite numbers"
    return None
