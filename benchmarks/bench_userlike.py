"""The user-like generator's final figure: every model and pipeline, test-digit renders.

    .venv/bin/python benchmarks/bench_userlike.py

100 images per kind for each of the seeds 0, 1 and 2, made from MNIST *test* digits, as
``digitlab evaluate-real --split test --n 100``. Stores the figures in
``src/digitlab/results/userlike.json``, from which the README's table is rendered
(``benchmarks/update_readme.py``). Develop on ``--split val``, never on this.
"""

from __future__ import annotations

from datetime import UTC, datetime

from digitlab.evaluation.renders import evaluate_robustness
from digitlab.evaluation.report import render_userlike, write_results
from digitlab.models.registry import model_ids

COMMAND = ".venv/bin/python benchmarks/bench_userlike.py"


def main() -> None:
    result = evaluate_robustness(list(model_ids()), 100, (0, 1, 2), "test")
    write_results("userlike", {"measured_at": f"{datetime.now(UTC):%Y-%m-%d}",
                               "command": COMMAND, "result": result})  # fmt: skip
    print(render_userlike())


if __name__ == "__main__":
    main()
