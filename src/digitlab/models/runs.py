"""A learner's own trained models ("runs"): where they live and how they are read back.

A run is a folder ``$XDG_DATA_HOME/digitlab/runs/NAME`` (else ``~/.local/share``): the
model's artifacts in the same safe formats as the shipped ones, with the same
``manifest.json`` of SHA-256s, plus ``run.json`` (its settings, per-epoch curves and
metrics). Training writes into a hidden partial folder and renames it into place only when
the run is complete, so a stopped or killed run is never listed. Training itself lives in
``digitlab.training.runs``; this module only reads, lists and removes.

A run answers wherever a model id does, as ``run:NAME``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

from digitlab.errors import ModelError

PREFIX = "run:"
RUN_FILE = "run.json"
PARTIAL_PREFIX = ".partial-"  # a run being written (or left by a killed trainer)
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
NAME_RULE = "1-40 letters, digits, '-' or '_', starting with a letter or digit"
MAX_RUN_JSON_BYTES = 4 * 1024 * 1024
STALE_PARTIAL_S = 24 * 3600  # a partial folder this old belongs to no live trainer


class RunError(ModelError):
    """A run that does not exist, is damaged, or a bad run name."""


def runs_dir() -> Path:
    """``$XDG_DATA_HOME/digitlab/runs`` (an absolute XDG_DATA_HOME), else ~/.local/share."""
    base = os.environ.get("XDG_DATA_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "digitlab" / "runs"


def check_run_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise RunError(f"A run's name must be {NAME_RULE}.")
    return name


def is_run_id(model_id: str) -> bool:
    return isinstance(model_id, str) and model_id.startswith(PREFIX)


def run_name(model_id: str) -> str:
    """``run:NAME`` -> ``NAME`` (checked)."""
    return check_run_name(model_id[len(PREFIX) :])


def run_path(name: str) -> Path:
    return runs_dir() / check_run_name(name)


def read_run(name: str) -> dict:
    """The run's record (settings, curves, metrics); one sentence if missing or damaged."""
    path = run_path(name) / RUN_FILE
    try:
        if not path.is_file():
            raise RunError(f"There is no run named {name!r}; see `digitlab runs`.")
        if path.stat().st_size > MAX_RUN_JSON_BYTES:
            raise RunError(f"The run {name!r} is damaged (its record is too large).")
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        if isinstance(err, RunError):
            raise
        raise RunError(f"The run {name!r} is damaged; remove it with `digitlab runs rm`.") from err
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict):
        raise RunError(f"The run {name!r} is damaged; remove it with `digitlab runs rm`.")
    return record


def run_family(name: str) -> str:
    """The registered model family (``cnn``, ``ann``...) a run trained."""
    family = read_run(name)["settings"].get("family")
    if not isinstance(family, str):
        raise RunError(f"The run {name!r} is damaged; remove it with `digitlab runs rm`.")
    return family


def run_names() -> list[str]:
    """Complete runs, by name (partial folders of stopped or killed runs are not runs)."""
    root = runs_dir()
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if NAME_PATTERN.fullmatch(p.name) and p.is_dir() and (p / RUN_FILE).is_file()
    )


def list_runs() -> list[dict]:
    """Every complete run's record, with ``name`` and ``disk_bytes``; a damaged one is listed
    with ``damaged: True`` instead of breaking the list."""
    records = []
    for name in run_names():
        try:
            record = read_run(name)
        except RunError as err:
            record = {"settings": {}, "damaged": True, "error": str(err)}
        record["name"] = name
        record["disk_bytes"] = folder_bytes(run_path(name))
        records.append(record)
    return records


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def remove_run(name: str) -> None:
    path = run_path(name)
    if not path.is_dir() or path.is_symlink():
        raise RunError(f"There is no run named {name!r}; see `digitlab runs`.")
    shutil.rmtree(path)


def remove_stale_partials(now: float | None = None) -> None:
    """Remove partial folders left by killed trainers (older than ``STALE_PARTIAL_S``)."""
    root = runs_dir()
    if not root.is_dir():
        return
    now = time.time() if now is None else now
    for p in root.iterdir():
        partial = p.name.startswith(PARTIAL_PREFIX) and p.is_dir() and not p.is_symlink()
        if partial and now - p.stat().st_mtime > STALE_PARTIAL_S:
            shutil.rmtree(p, ignore_errors=True)
