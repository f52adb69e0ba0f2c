"""``benchmarks/choose_profile_blend.py``: the MNIST cost bound is kept in digits, and no
writer may end up worse off."""

from __future__ import annotations


def test_exactly_the_allowed_cost_is_allowed(benchmark_script):
    """4 of 4,000 digits lost is 0.1 point exactly, allowed, though 3962/4000 - 3958/4000 is
    a hair above 0.001 in floating point; 5 of 4,000 is not."""
    tool = benchmark_script("choose_profile_blend")
    assert tool.MAX_COST < 3962 / 4000 - 3958 / 4000  # why shares are not compared
    assert tool.within_cost(4 / 4000, 4000)
    assert not tool.within_cost(5 / 4000, 4000)
    rows = [
        {"k=5": 0.05, "radius": 0.0, "worst_cost": 0.0, "back": None},  # no profile: never
        {"k=5": 0.007, "radius": 1.4, "worst_cost": 0.0007, "back": 1.0},
        {"k=5": 0.003, "radius": 1.4, "worst_cost": 4 / 4000, "back": 1.0},
        {"k=5": 0.001, "radius": 1.4, "worst_cost": 5 / 4000, "back": 1.0},
        {"k=5": 0.002, "radius": 2.0, "worst_cost": 0.0, "back": 0.999},
    ]
    for row in rows:
        row["worst_writer"] = 0
    assert tool.choose(rows, 4000) is rows[2]
    rows[2]["worst_writer"] = 1  # one writer gets one digit more wrong with it
    assert tool.choose(rows, 4000) is rows[1]
