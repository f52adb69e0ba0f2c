"""Every test runs against a temporary cache: the real ``~/.cache/digitlab`` is never touched.

One session-wide copy of the MNIST files is made once: the files of the real cache that pass
their SHA-256 are copied (copied, not hard-linked, so that no test can write into the real
ones); whatever the real cache lacks, the normal fetch puts into the copy when a test first
asks for it. The k-NN index is built there once per session. ``XDG_CACHE_HOME`` is set for the
whole session, so the servers and commands that tests start use the copy too.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from digitlab.data import mnist as data

# One thread per maths library, here and in the commands, servers and trainers tests start:
# the suite runs on small shared machines, where two threads of one process spin-waiting for
# each other made the quick CNN train about eight times slower under load (5 s -> 40 s).
# Set before torch is imported (it reads them once); numpy's BLAS is already loaded, so it is
# limited directly. A value the caller set is kept.
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
threadpool_limits(int(os.environ["OMP_NUM_THREADS"]))


def copy_verified_mnist(source: Path, target: Path) -> None:
    """Copy each MNIST file of ``source`` whose SHA-256 is right into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for res in data.RESOURCES.values():
        path = source / res.name
        if path.is_file():
            raw = path.read_bytes()
            if data.sha256(raw) == res.sha256:
                (target / res.name).write_bytes(raw)


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory) -> Iterator[Path]:
    """A temporary ``XDG_CACHE_HOME`` for the whole run, seeded with the verified MNIST files."""
    base = tmp_path_factory.mktemp("xdg-cache")
    copy_verified_mnist(data.cache_dir(), base / "digitlab" / "mnist")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(base))
        data._load_split.cache_clear()
        yield base
    data._load_split.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def session_data_home(tmp_path_factory) -> Iterator[Path]:
    """A temporary ``XDG_DATA_HOME`` (where profiles live): the user's own is never touched."""
    base = tmp_path_factory.mktemp("xdg-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_DATA_HOME", str(base))
        yield base


@pytest.fixture(scope="session")
def quick_models(tmp_path_factory, session_cache) -> dict:
    """Every registered model trained once per session with its registry ``quick`` overrides
    on 2,000 training images, each saved into its own temporary weights folder:
    {model id: (model, weights folder)}. Tests that need small trained models share these."""
    # Imported here: only sessions that ask for these models pay for torch and the data.
    from digitlab.models.registry import model_class, model_ids, model_spec
    from digitlab.training.data import training_data

    data = training_data(limit=2000)
    out = {}
    for model_id in model_ids():
        weights_dir = tmp_path_factory.mktemp(f"quick-{model_id}")
        model = model_class(model_id).train(data, seed=0, **model_spec(model_id).quick)
        model.save(weights_dir)
        out[model_id] = (model, weights_dir)
    return out


BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture
def benchmark_script():
    """``load(name)``: the script ``benchmarks/NAME.py`` as a module (the scripts are not a
    package), for testing the pieces a benchmark adds."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
