"""Rewrite every results table of the README from the stored results JSON.

    .venv/bin/python benchmarks/update_readme.py

Tables sit between ``<!-- results:NAME -->`` markers; ``digitlab.evaluation.report``
renders each from what the benchmarks stored. Run the benchmarks first to refresh the
figures themselves.
"""

from __future__ import annotations

from pathlib import Path

from digitlab.evaluation.report import rendered_readme

README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> None:
    text = README.read_text()
    updated = rendered_readme(text)
    README.write_text(updated)
    print("README.md " + ("updated" if updated != text else "already up to date"))


if __name__ == "__main__":
    main()
