"""Safe model artifacts: safetensors for torch, plain npz/JSON for the rest, all hashed.

Nothing here can run code on load: npz files are read with ``allow_pickle=False`` and
every file is checked against the SHA-256 recorded in ``manifest.json`` before use.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from digitlab.data.mnist import sha256, write_atomic
from digitlab.errors import ModelError

WEIGHTS_DIR = Path(__file__).parents[1] / "weights"
MANIFEST = "manifest.json"
RESTORE = "reinstall DigitLab to restore it."


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
    try:
        manifest = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise ModelError(f"The model manifest {path} is not valid JSON; {RESTORE}") from None
    hashes = manifest.get("sha256") if isinstance(manifest, dict) else None
    if not isinstance(hashes, dict) or not all(isinstance(v, str) for v in hashes.values()):
        raise ModelError(f"The model manifest {path} has no SHA-256 list; {RESTORE}")
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


def load_json(weights_dir: Path, name: str) -> dict:
    return json.loads(verified_path(weights_dir, name).read_text())


def load_npz(weights_dir: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(verified_path(weights_dir, name), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def load_tensors(weights_dir: Path, name: str) -> dict:
    from safetensors.torch import load_file

    return load_file(verified_path(weights_dir, name))
