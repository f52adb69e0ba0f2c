"""The k-NN index in the user cache is verified before use and rebuilt when it fails.

The index (features and labels of the 55,000 digits of the training split) is built from
verified data and kept in the cache; the cache is a file anyone or anything can damage. Each
case here is an index an older DigitLab would have trusted on its shape alone.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from digitlab.answers.inference import predict_preprocessed
from digitlab.data.mnist import load_mnist
from digitlab.models import artifacts, knn
from digitlab.models.artifacts import WEIGHTS_DIR


@pytest.fixture(scope="module")
def shipped() -> knn.Model:
    return knn.Model.load(WEIGHTS_DIR)


@pytest.fixture(scope="module")
def good_index(shipped) -> tuple[np.ndarray, np.ndarray]:
    """The index built from verified MNIST (in the session's cache, see conftest.py)."""
    return shipped.mnist_index()


@pytest.fixture
def private_cache(tmp_path, monkeypatch, session_cache):
    """An empty cache of this test's own; MNIST read (never written) from the session's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("DIGITLAB_DATA", str(session_cache / "digitlab" / "mnist"))
    return tmp_path / "cache"


def fresh(model: knn.Model) -> knn.Model:
    """The same model without the index it holds in memory."""
    return knn.Model(model.mean, model.components, model.config, model.extra_features,
                     model.extra_labels)  # fmt: skip


def write_index(model, features, labels, digest: bool):
    """Write an index where the model looks for it, as the old code did (npz only), or with a
    SHA-256 beside it that matches (someone who rewrote both)."""
    path = model.index_cache_path()
    artifacts.save_npz(path, {"features": features, "labels": labels})
    if digest:
        path.with_name(path.name + ".sha256").write_text(
            f"{artifacts.file_sha256(path)}  {path.name}\n"
        )
    return path


def a_seven() -> np.ndarray:
    images, labels = load_mnist("test")
    assert labels[0] == 7
    return images[0]


def with_nan(features):
    features = features.copy()
    features[::7, 3] = np.nan
    return features


def out_of_range(labels):
    labels = labels.copy()
    labels[:5] = [10, 11, -1, 99, 255]
    return labels


DAMAGE = {
    "shifted labels": lambda f, y: (f, (y + 1) % 10),
    "all-zero labels": lambda f, y: (f, np.zeros_like(y)),
    "NaN features": lambda f, y: (with_nan(f), y),
    "infinite features": lambda f, y: (np.full_like(f, np.inf), y),
    "out-of-range labels": lambda f, y: (f, out_of_range(y)),
    "float labels": lambda f, y: (f, y.astype(np.float64) + 0.5),
    "float64 features": lambda f, y: (f.astype(np.float64), y),
    "labels of another order": lambda f, y: (f, np.sort(y)),
}


@pytest.mark.parametrize("digest", [False, True], ids=["old npz", "with a matching digest"])
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_index_is_not_used(shipped, good_index, private_cache, capfd, damage, digest):
    features, labels = DAMAGE[damage](*good_index)
    path = write_index(shipped, features, labels, digest)
    assert fresh(shipped)._read_index() is None
    assert f"the cached k-NN index {path.name} failed its check" in capfd.readouterr().err


def test_an_index_without_its_digest_is_not_used(shipped, good_index, private_cache):
    write_index(shipped, *good_index, digest=False)
    assert fresh(shipped)._read_index() is None


def test_a_truncated_index_is_not_used(shipped, good_index, private_cache):
    path = write_index(shipped, *good_index, digest=True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert fresh(shipped)._read_index() is None
    path.with_name(path.name + ".sha256").write_text(f"{artifacts.file_sha256(path)}\n")
    assert fresh(shipped)._read_index() is None  # the digest matches; the zip is still broken


@pytest.mark.slow  # over ten seconds: builds an index
def test_a_built_index_is_verified_and_read_back(shipped, good_index, private_cache):
    path = shipped.index_cache_path()
    built = fresh(shipped)._build_index()
    assert path.is_file() and path.with_name(path.name + ".sha256").is_file()
    features, labels = fresh(shipped)._read_index()
    np.testing.assert_array_equal(features, built[0])
    np.testing.assert_array_equal(labels, good_index[1])


def test_a_partial_index_left_by_a_killed_build_is_removed(shipped, private_cache):
    path = shipped.index_cache_path()
    part = path.with_name(f".{path.name}.k9xq2m1z.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"PK" + bytes(1000))  # what `kill -9` midway through the write leaves
    os.utime(part, (time.time() - 600, time.time() - 600))
    assert fresh(shipped)._read_index() is None
    assert not part.exists()


@pytest.mark.slow  # over ten seconds: rebuilds an index
@pytest.mark.parametrize("damage", ["shifted labels", "truncated"])
def test_a_damaged_index_is_rebuilt_and_the_answer_is_right(
    shipped, good_index, private_cache, damage
):
    if damage == "truncated":
        path = write_index(shipped, *good_index, digest=False)
        path.write_bytes(path.read_bytes()[:100_000])
    else:
        path = write_index(shipped, *DAMAGE[damage](*good_index), digest=False)
    model = fresh(shipped)
    assert predict_preprocessed(a_seven(), model).digit == 7
    features, labels = fresh(shipped)._read_index()  # the file on disk is sound again
    np.testing.assert_array_equal(labels, good_index[1])
