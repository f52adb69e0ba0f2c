"""Teaching in the app, timed in a real browser: from the click on *Teach it* to the updated
answer, for five MNIST digits each taught as another digit (the CNN, a fresh server).

    .venv/bin/python benchmarks/bench_teach_app.py

It runs the browser test that bounds this time (``tests/test_browser.py``, issue 18) and stores
what it measured as ``results/teach_app.json``; ``benchmarks/update_readme.py`` renders it.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from digitlab.evaluation.report import write_results

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/test_browser.py::test_teaching_updates_the_answer_within_a_second"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = os.environ | {"DIGITLAB_RESULTS": folder}
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", TEST]
        subprocess.run(cmd, cwd=ROOT, env=env, check=True)
        record = json.loads((Path(folder) / "teach_app.json").read_text())
    record |= {
        "measured_at": datetime.date.today().isoformat(),
        "command": ".venv/bin/python benchmarks/bench_teach_app.py",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
    }
    write_results("teach_app", record)
    print(f"teaching: median {record['median_s']:.2f} s, slowest {max(record['seconds']):.2f} s")


if __name__ == "__main__":
    main()
