"""``benchmarks/hash_training_sets.py``: per-item digests say how much of a set a change touched."""

from __future__ import annotations

import numpy as np


def test_item_digests_tell_which_items_changed(benchmark_script):
    tool = benchmark_script("hash_training_sets")
    x = np.random.default_rng(0).random((5, 28, 28), dtype=np.float32)
    y = np.array([0, 1, 2, 10, 10])
    before = tool.item_digests(x, y)
    assert len(set(before)) == 5
    assert tool.differences(before, tool.item_digests(x.copy(), y.copy())) == (
        "all 5 items the same"
    )
    x[3, 4, 4] += 0.5
    relabelled = y.copy()
    relabelled[4] = 7
    assert tool.differences(before, tool.item_digests(x, relabelled)) == (
        "2 of 5 items differ, the first at 3"
    )
    assert tool.differences(before, before[:4]) == "5 items before, 4 now"
