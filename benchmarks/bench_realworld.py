"""People's own images: every model, our pipeline and the naive one, on a labelled folder.

    .venv/bin/python benchmarks/bench_realworld.py DIR

DIR is a labelled folder (as ``digitlab evaluate-folder`` reads), for the README
``../shared/realworld-dev``: real digits lent to us for measuring only, never committed, never
trained or tuned on. Prints the table and stores its figures (never the folder's name or path) in
``src/digitlab/results/realworld.json``, from which ``benchmarks/update_readme.py`` renders the
README's "People's own images" table. Same figures as ``digitlab evaluate-folder DIR
--pipeline both --markdown``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from digitlab.evaluation import folder as folder_eval
from digitlab.evaluation.report import render_realworld, write_results
from digitlab.models.registry import model_ids

COMMAND = ".venv/bin/python benchmarks/bench_realworld.py DIR"
SUMMARY_KEYS = ("model", "pipeline", "n", "accuracy", "per_kind")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {COMMAND}")
    folder = Path(sys.argv[1])
    items = folder_eval.load_labelled_folder(folder)
    results = []
    for pipeline in ("ours", "naive"):
        for result in folder_eval.evaluate_folder(items, list(model_ids()), pipeline).values():
            summary = {key: result[key] for key in SUMMARY_KEYS}
            summary["per_kind"] = {kind: {"n": g["n"], "accuracy": g["accuracy"]}
                                   for kind, g in result["per_kind"].items()}  # fmt: skip
            results.append(summary)
    record = {"measured_at": f"{datetime.now(UTC):%Y-%m-%d}", "command": COMMAND,
              "results": results}  # fmt: skip
    write_results("realworld", record)
    print(render_realworld())


if __name__ == "__main__":
    main()
