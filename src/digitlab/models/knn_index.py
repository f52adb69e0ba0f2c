"""The k-NN index in the user cache: where it lives, how it is checked, built and written.

The index holds the features and labels of the 55,000 digits of the training split
(``digitlab.data.splits``), computed with the shipped PCA basis from the verified MNIST cache
on first load. It is kept in a cache folder of its own (``knn-index/knn-index-KEY.npz``; KEY
comes from the PCA basis) whose ``manifest.json`` records its SHA-256, the way model artifacts
are recorded (``digitlab.models.artifacts``). The npz is written first and its digest after, so
a crash in between leaves no valid pair.

An index is used only if it is a regular file no larger than an index can be, its digest
matches the manifest, its arrays' headers declare the expected shapes and types (checked before
anything is allocated), its labels are MNIST's own labels of the training split, in order, and
its features are finite float32; anything else is rebuilt, with a line on stderr.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitlab.data.mnist import cache_dir, load_mnist, remove_stale_partials
from digitlab.data.splits import split_positions
from digitlab.errors import ModelError
from digitlab.models import artifacts

# Room in an index file beyond its arrays' data: the zip directory and the two npy headers
# take a few hundred bytes.
FILE_SLACK = 64 * 1024
REBUILT = "the index is rebuilt."
NPY_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error,
              NotImplementedError, RuntimeError)  # fmt: skip


def index_cache_path(mean: np.ndarray, components: np.ndarray) -> Path:
    """Where the index for this PCA basis is cached (its folder holds the manifest)."""
    key = hashlib.sha256(components.tobytes() + mean.tobytes()).hexdigest()[:16]
    return cache_dir().parent / "knn-index" / f"knn-index-{key}.npz"


def max_index_bytes(rows: int, dims: int) -> int:
    """The largest an index file of ``rows`` float32 features and int64 labels can be."""
    return rows * (dims * 4 + 8) + FILE_SLACK


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
    if not os.path.lexists(path):  # lexists: a dangling symlink is reported, not ignored
        return None
    _, expected = training_split()
    index, problem = read_index(path, dims, expected)
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


def write_index(path: Path, features: np.ndarray, labels: np.ndarray) -> None:
    """Write the index, then record its SHA-256 in its folder's manifest: a crash in between
    leaves a manifest without the new digest, so no valid pair."""
    artifacts.save_npz(path, {"features": features, "labels": labels})
    try:
        artifacts.record_in_manifest(path.parent, [path.name])
    except ModelError:  # a damaged manifest would block every rebuild: start a new one
        (path.parent / artifacts.MANIFEST).unlink()
        artifacts.record_in_manifest(path.parent, [path.name])


def read_index(
    path: Path, dims: int, expected_labels: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray] | None, str | None]:
    """((features, labels), None) for a sound index file, else (None, what is wrong with it)."""
    rows = len(expected_labels)
    try:  # read once, capped: the digest and the arrays come from the same bytes
        raw = artifacts.verified_bytes(path.parent, path.name, max_index_bytes(rows, dims),
                                       restore=REBUILT)  # fmt: skip
    except ModelError as err:
        return None, str(err).rstrip(".")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as npz:
            features, problem = read_npy(npz, "features", rows, dims)
            if problem is None:
                labels, problem = read_npy(npz, "labels", rows, dims)
    except NPY_ERRORS:
        return None, "it is not a readable npz file with features and labels"
    if problem is None:
        problem = index_problem(features, labels, expected_labels)
    return (None, problem) if problem else ((features, labels), None)


def read_npy(
    npz: zipfile.ZipFile, name: str, rows: int, dims: int
) -> tuple[np.ndarray | None, str | None]:
    """(array, None) for member ``name`` of an index's ``npz`` if its header declares what the
    index needs, else (None, what it declares instead). The header is checked before the
    array is allocated: it may declare any size."""
    member = f"{name}.npy"
    with npz.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            return None, f"its {name} are in npy format {version}, not 1.0 or 2.0"
    problem = header_problem(name, dtype, shape, rows, dims)
    if problem:
        return None, problem
    with npz.open(member) as f:
        return np.lib.format.read_array(f, allow_pickle=False), None


def header_problem(name: str, dtype: np.dtype, shape: tuple, rows: int, dims: int) -> str | None:
    """What is wrong with the type or shape an index's array declares, or None."""
    if name == "features" and (dtype != np.float32 or shape != (rows, dims)):
        return f"its features are {dtype} {shape}, not float32 {(rows, dims)}"
    if name == "labels" and (dtype.kind not in "iu" or shape != (rows,)):
        return f"its labels are {dtype} {shape}, not {rows} integers"
    return None


def index_problem(
    features: np.ndarray, labels: np.ndarray, expected_labels: np.ndarray
) -> str | None:
    """What is wrong with the values of an index's arrays (their shapes and types already
    checked), or None if they can be trusted.

    ``expected_labels`` are the labels of the training split read from verified MNIST."""
    if labels.min() < 0 or labels.max() > 9:
        return "its labels are not all digits 0-9"
    if not np.array_equal(labels, expected_labels):
        return "its labels are not MNIST's training labels"
    if not np.isfinite(features).all():
        return "its features are not all finite numbers"
    return None
