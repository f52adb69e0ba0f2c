"""A per-user cache of arrays this project derives from MNIST (pipeline renders, styled
digits, negatives): made once, then read back in a moment.

Files are plain ``.npz`` read with ``allow_pickle=False`` (nothing read can run code), under
a size cap, regular files only; anything unreadable is made again. The key must name
everything the arrays depend on (sizes, seed, the pipeline's fingerprint).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitlab.data.mnist import cache_dir, write_atomic

MAX_BYTES = 512 * 1024 * 1024
KEY = re.compile(r"[A-Za-z0-9_.-]{1,160}")


def derived_dir() -> Path:
    return cache_dir().parent / "derived"


def cached_arrays(key: str, make: Callable[[], tuple[np.ndarray, ...]]) -> tuple:
    """``make()``'s arrays, from the cache when a readable copy exists."""
    if not KEY.fullmatch(key):
        raise ValueError(f"not a cache key: {key!r}")
    path = derived_dir() / f"{key}.npz"
    try:
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= MAX_BYTES:
            with np.load(path, allow_pickle=False) as found:
                return tuple(found[f"a{i}"] for i in range(len(found.files)))
    except (OSError, ValueError, KeyError, EOFError):
        pass  # damaged or foreign: made again below
    arrays = tuple(make())
    buffer = io.BytesIO()
    np.savez(buffer, **{f"a{i}": a for i, a in enumerate(arrays)})
    if buffer.tell() <= MAX_BYTES:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, buffer.getvalue())
        except OSError:
            pass  # a read-only cache only costs time
    return arrays
