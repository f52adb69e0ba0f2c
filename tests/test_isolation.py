"""The test suite leaves the machine as it found it: a private cache, no hidden skips."""

from __future__ import annotations

import os
from pathlib import Path

from digitlab import data

TESTS = Path(__file__).parent


def test_tests_use_a_temporary_cache(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    assert Path(os.environ["XDG_CACHE_HOME"]).is_relative_to(base)
    assert data.cache_dir().is_relative_to(base)


def test_the_knn_index_goes_to_the_temporary_cache(tmp_path_factory):
    from digitlab.models.registry import load_model

    path = load_model("knn").index_cache_path()
    assert path.is_relative_to(tmp_path_factory.getbasetemp())
