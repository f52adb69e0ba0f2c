"""The k-NN index in the user cache is verified before use and rebuilt when it fails.

The index (features and labels of the 55,000 digits of the training split) is built from
verified data and kept in the cache; the cache is a file anyone or anything can damage. Each
case here is an index an older DigitLab would have trusted on its shape alone.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import time
import zipfile
from contextlib import contextmanager

import numpy as np
import pytest

from digitlab.answers.inference import predict_preprocessed
from digitlab.data.mnist import load_mnist
from digitlab.models import artifacts, knn, knn_index
from digitlab.models.artifacts import MANIFEST, WEIGHTS_DIR
from digitlab.models.knn_index import max_index_bytes


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
    """Write an index where the model looks for it, npz only (as an older DigitLab did, or a
    crash before the manifest), or with its SHA-256 recorded in the folder's manifest
    (someone who rewrote both)."""
    path = model.index_cache_path()
    artifacts.save_npz(path, {"features": features, "labels": labels})
    if digest:
        artifacts.record_in_manifest(path.parent, [path.name])
    return path


def record_any_digest(path):
    """A manifest entry for ``path`` without reading it: the size and type checks come first."""
    artifacts.save_json(path.parent / MANIFEST, {"sha256": {path.name: "0" * 64}})


@contextmanager
def bounded(seconds: float = 20, extra_bytes: int = 2 << 30):
    """Fail, rather than hang or exhaust the machine's memory, if the code inside waits for
    ``seconds`` or grows its address space by ``extra_bytes``."""

    def timeout(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    with open("/proc/self/status") as status:
        used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = used + extra_bytes if hard == resource.RLIM_INFINITY else min(used + extra_bytes, hard)
    previous = signal.signal(signal.SIGALRM, timeout)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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


@pytest.mark.parametrize("digest", [False, True], ids=["npz only", "with a matching digest"])
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_index_is_not_used(shipped, good_index, private_cache, capfd, damage, digest):
    features, labels = DAMAGE[damage](*good_index)
    path = write_index(shipped, features, labels, digest)
    assert fresh(shipped)._read_index() is None
    assert f"the cached k-NN index {path.name} failed its check" in capfd.readouterr().err


def test_an_index_without_its_digest_is_not_used(shipped, good_index, private_cache):
    write_index(shipped, *good_index, digest=False)
    assert fresh(shipped)._read_index() is None


def test_an_index_whose_manifest_entry_is_another_file_s_is_not_used(
    shipped, good_index, private_cache, capfd
):
    path = write_index(shipped, *good_index, digest=True)
    artifacts.save_npz(path, {"features": good_index[0] + 1, "labels": good_index[1]})
    assert fresh(shipped)._read_index() is None  # a crash between the npz and the manifest
    assert "does not match its SHA-256" in capfd.readouterr().err


def test_a_sound_index_with_its_manifest_entry_is_used(shipped, good_index, private_cache):
    path = write_index(shipped, *good_index, digest=True)
    assert path.parent.name == "knn-index" and (path.parent / MANIFEST).is_file()
    features, labels = fresh(shipped)._read_index()
    np.testing.assert_array_equal(features, good_index[0])
    np.testing.assert_array_equal(labels, good_index[1])


def test_a_damaged_manifest_is_reported_and_replaced_by_the_next_write(
    shipped, good_index, private_cache, capfd
):
    path = write_index(shipped, *good_index, digest=True)
    (path.parent / MANIFEST).write_text('{"sha256": ')
    assert fresh(shipped)._read_index() is None
    assert "is not valid JSON; the index is rebuilt" in capfd.readouterr().err
    knn_index.write_index(path, *good_index)
    assert fresh(shipped)._read_index() is not None


def test_a_truncated_index_is_not_used(shipped, good_index, private_cache):
    path = write_index(shipped, *good_index, digest=True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert fresh(shipped)._read_index() is None
    artifacts.record_in_manifest(path.parent, [path.name])
    assert fresh(shipped)._read_index() is None  # the digest matches; the zip is still broken


@pytest.mark.slow  # over ten seconds: builds an index
def test_a_built_index_is_verified_and_read_back(shipped, good_index, private_cache):
    path = shipped.index_cache_path()
    built = fresh(shipped)._build_index()
    assert path.is_file()
    assert artifacts.read_manifest(path.parent)[path.name] == artifacts.file_sha256(path)
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


def npy_declaring(descr: str, shape: tuple) -> bytes:
    """An npy file whose header declares ``shape`` over a few bytes of data."""
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        npy, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return npy.getvalue() + bytes(1024)


def npy_of(array: np.ndarray) -> bytes:
    npy = io.BytesIO()
    np.lib.format.write_array(npy, array)
    return npy.getvalue()


@pytest.mark.parametrize("huge", ["features", "labels"])
def test_an_index_declaring_a_huge_array_is_rebuilt_before_allocating(
    shipped, good_index, private_cache, capfd, huge
):
    features, labels = good_index
    members = {"features": npy_of(features), "labels": npy_of(labels)}
    members[huge] = npy_declaring("<f4", (10**12, features.shape[1]))
    if huge == "labels":
        members[huge] = npy_declaring("<i8", (10**15,))
    path = shipped.index_cache_path()
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as npz:
        for name, npy in members.items():
            npz.writestr(f"{name}.npy", npy)
    artifacts.record_in_manifest(path.parent, [path.name])  # the digest matches
    with bounded():
        assert fresh(shipped)._read_index() is None
    err = capfd.readouterr().err
    assert f"the cached k-NN index {path.name} failed its check (its {huge} are" in err


def test_an_index_linked_to_dev_zero_is_not_read(shipped, private_cache, capfd):
    path = shipped.index_cache_path()
    path.parent.mkdir(parents=True)
    path.symlink_to("/dev/zero")
    record_any_digest(path)
    with bounded():
        assert fresh(shipped)._read_index() is None
    err = capfd.readouterr().err
    assert f"{path.name} failed its check" in err and "is not a regular file" in err


def test_an_index_that_is_a_fifo_is_not_waited_for(shipped, private_cache, capfd):
    path = shipped.index_cache_path()
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    record_any_digest(path)
    with bounded(seconds=20):
        assert fresh(shipped)._read_index() is None
    err = capfd.readouterr().err
    assert f"{path.name} failed its check" in err and "is not a regular file" in err


def test_an_index_larger_than_an_index_can_be_is_not_read(shipped, private_cache, capfd):
    path = shipped.index_cache_path()
    path.parent.mkdir(parents=True)
    with open(path, "wb") as f:
        f.truncate(64 << 30)  # sparse: 64 GiB that take no disk
    record_any_digest(path)
    with bounded():
        assert fresh(shipped)._read_index() is None
    err = capfd.readouterr().err
    cap = max_index_bytes(55_000, shipped.components.shape[0])
    assert f"{path.name} failed its check" in err and f"is larger than {cap:,} bytes" in err


def test_the_size_cap_leaves_room_for_a_real_index(shipped, good_index, private_cache):
    path = write_index(shipped, *good_index, digest=True)
    cap = max_index_bytes(*good_index[0].shape)
    assert path.stat().st_size <= cap < 1.01 * path.stat().st_size
