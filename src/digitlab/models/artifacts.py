"""Safe model artifacts: safetensors for torch, plain npz/JSON for the rest, all hashed.

Nothing here can run code on load: npz files are read with ``allow_pickle=False`` and
every file is checked against the SHA-256 recorded in ``manifest.json`` before use.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np

from digitlab.data.mnist import sha256, write_atomic
from digitlab.errors import ModelError

WEIGHTS_DIR = Path(__file__).parents[1] / "weights"
MANIFEST = "manifest.json"
RESTORE = "reinstall DigitLab to restore it."
MAX_MANIFEST_BYTES = 1 << 20  # a manifest lists a few file names and their digests
MAX_JSON_DEPTH = 32  # our JSON files nest a few levels; Python's parser recurses once per level
JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def json_depth(text: str) -> int:
    """How deep the arrays and objects of the JSON ``text`` nest (brackets inside strings do not
    count), found without parsing: vectorised, so a hostile file costs milliseconds."""
    shape = np.frombuffer(JSON_STRING.sub('""', text).encode("utf-8", "replace"), np.uint8)
    steps = np.isin(shape, (ord("["), ord("{"))).astype(np.int64) - np.isin(
        shape, (ord("]"), ord("}"))
    )
    return int(np.cumsum(steps).max(initial=0))


def load_shallow_json(raw: bytes | str, what: str, restore: str = RESTORE) -> object:
    """``json.loads(raw)`` for an artifact; ModelError naming ``what`` (ending with
    ``restore``) when it is not valid JSON or nests deeper than ``MAX_JSON_DEPTH``."""
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        if json_depth(text) > MAX_JSON_DEPTH:
            raise ValueError
        return json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ModelError(f"{what} is not valid JSON; {restore}") from None


def file_sha256(path: Path) -> str:
    return sha256(path.read_bytes())  # artifacts are a few MB


def save_json(path: Path, obj: dict) -> None:
    write_atomic(path, (json.dumps(obj, indent=1) + "\n").encode())


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def save_tensors(path: Path, tensors: dict) -> None:
    from safetensors.torch import save

    write_atomic(path, save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}))


def read_manifest(weights_dir: Path) -> dict[str, str]:
    """The manifest's {file name: SHA-256}; {} when there is none yet (a fresh weights dir).

    A manifest that is there but damaged is a ModelError: trusting part of it, or none of it
    silently, would let a file through unchecked.
    """
    path = weights_dir / MANIFEST
    if not path.is_file():
        return {}
    return manifest_hashes(path.read_bytes(), path)


def manifest_hashes(raw: bytes, path: Path, restore: str = RESTORE) -> dict[str, str]:
    """The {file name: SHA-256} of the manifest ``raw`` read from ``path``; ModelError (ending
    with ``restore``, what the user can do about it) when it is damaged."""
    manifest = load_shallow_json(raw, f"The model manifest {path}", restore)
    hashes = manifest.get("sha256") if isinstance(manifest, dict) else None
    if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()):
        raise ModelError(f"The model manifest {path} has no SHA-256 list; {restore}")
    return hashes


def record_in_manifest(weights_dir: Path, names: list[str]) -> None:
    """Record the SHA-256 of each named file in ``weights_dir/manifest.json``."""
    hashes = read_manifest(weights_dir)
    hashes.update({name: file_sha256(weights_dir / name) for name in names})
    save_json(weights_dir / MANIFEST, {"sha256": dict(sorted(hashes.items()))})


def verified_path(weights_dir: Path, name: str) -> Path:
    """Return the path of an artifact whose SHA-256 matches the manifest, else raise ModelError."""
    path = weights_dir / name
    if not (weights_dir / MANIFEST).is_file():
        raise ModelError(f"The model manifest {weights_dir / MANIFEST} is missing; {RESTORE}")
    expected = read_manifest(weights_dir).get(name)
    if not path.is_file() or expected is None:
        raise ModelError(f"Model file {name} is missing; run `digitlab train` to create it.")
    if file_sha256(path) != expected:
        raise ModelError(f"Model file {name} does not match its checksum in {MANIFEST}.")
    return path


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, read once, if it is a regular file (not a symlink, device or FIFO)
    of at most ``max_bytes``; else ModelError. Nothing past the cap is ever read."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise ModelError(f"{path} is not a regular file.")
        # O_NOFOLLOW and O_NONBLOCK: whatever replaced the file since lstat, opening it neither
        # follows a link nor waits for a FIFO's writer; fstat then sees what was opened.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ModelError(f"{path} is not a regular file.")
            if info.st_size > max_bytes:
                raise ModelError(f"{path} is larger than {max_bytes:,} bytes.")
            raw = f.read(max_bytes + 1)  # the size may have grown since fstat
    except OSError as err:
        raise ModelError(f"{path} cannot be read ({err.strerror or err}).") from None
    if len(raw) > max_bytes:
        raise ModelError(f"{path} is larger than {max_bytes:,} bytes.")
    return raw


def verified_bytes(directory: Path, name: str, max_bytes: int, restore: str = RESTORE) -> bytes:
    """The bytes of ``directory/name``, read once, if its SHA-256 matches ``manifest.json``;
    else ModelError. For files anything may have replaced (a cache): the file and its manifest
    are read with `read_regular_file`, the file up to ``max_bytes``."""
    manifest = directory / MANIFEST
    hashes = manifest_hashes(read_regular_file(manifest, MAX_MANIFEST_BYTES), manifest, restore)
    expected = hashes.get(name)
    if expected is None:
        raise ModelError(f"{directory / name} has no SHA-256 in {manifest}.")
    raw = read_regular_file(directory / name, max_bytes)
    if sha256(raw) != expected:
        raise ModelError(f"{directory / name} does not match its SHA-256 in {manifest}.")
    return raw


def load_json(weights_dir: Path, name: str) -> dict:
    path = verified_path(weights_dir, name)
    return load_shallow_json(path.read_bytes(), f"Model file {name}")


def load_npz(weights_dir: Path, name: str) -> dict[str, np.ndarray]:
    """The arrays of a verified npz; one that holds objects (pickles: never loaded) or is not a
    readable npz is a ModelError, even when its hash was updated to match it."""
    path = verified_path(weights_dir, name)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        raise ModelError(f"Model file {name} cannot be loaded safely ({unsafe_why(err)}); "
                         f"{RESTORE}") from None  # fmt: skip


def load_tensors(weights_dir: Path, name: str) -> dict:
    """The tensors of a verified safetensors file; a bad header is a ModelError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = verified_path(weights_dir, name)
    try:
        return load_file(path)
    except (SafetensorError, ValueError, OSError) as err:
        raise ModelError(f"Model file {name} cannot be loaded ({unsafe_why(err)}); "
                         f"{RESTORE}") from None  # fmt: skip


def unsafe_why(err: Exception) -> str:
    """The first line of a loader's complaint, short enough for one sentence."""
    lines = str(err).strip().splitlines() or [type(err).__name__]
    return lines[0].rstrip(".")[:120]
