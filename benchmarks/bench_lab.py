"""The learning lab's speed on this machine: the quick presets, trained as the app trains
them (``digitlab train --run NAME --json``, a child process), and how fast an upload is still
answered while a run trains.

For each family the quick preset is trained twice into a throw-away data folder: *cold* (the
first run on a machine: the synthesised digits are made and cached) and *warm* (the next
run: they are read back). Both are wall-clock seconds of the whole command, result card
included. The validation accuracy is the run's own (the 5,000 validation digits).

While a quick CNN trains (niced, as the app starts it), one upload (a phone-photo example)
is answered the way *Compare all* answers it: decode, preprocess, all four shipped models.
Its median and slowest times are set beside the same measured just before, in the same
process, with nothing training.

The figures are stored in ``src/digitlab/results/lab.json``; the README's block is rendered
from it (``benchmarks/update_readme.py``). With ``--device auto`` (the default here) a GPU is
used where present, and the record says which device ran. Run::

    .venv/bin/python benchmarks/bench_lab.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from digitlab.data.mnist import cache_dir
from digitlab.evaluation.report import write_results
from digitlab.training.runs import PRESETS

TARGETS_S = {"logreg": 15, "ann": 30, "cnn": 60}
CNN_TARGET_ACCURACY = 0.975
ANSWER_TARGET_S = 2.0


def train_quick(family: str, name: str, env: dict, device: str) -> dict:
    cmd = [sys.executable, "-m", "digitlab.cli", "train", "--model", family, "--run", name,
           "--preset", "quick", "--json", "--device", device]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{family}: the run failed:\n{done.stderr[-2000:]}")
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    result = lines[-1]
    return {
        "seconds": round(seconds, 1),
        "train_seconds": result["train_seconds"],
        "val_accuracy": result["val_accuracy"],
        "userlike_accuracy": result["userlike_accuracy"],
        "epochs": len(lines) - 1,
    }


def answer_times(n: int) -> np.ndarray:
    """Seconds to answer one photo upload with all four shipped models, ``n`` times."""
    from digitlab.answers.inference import predict_preprocessed_batch
    from digitlab.imaging.pipeline import preprocess
    from digitlab.models.registry import load_model, model_ids
    from digitlab.synth.examples import example

    data = example("Photo").data
    models = [load_model(m) for m in model_ids()]
    times = []
    for _ in range(n):
        start = time.perf_counter()
        image28 = preprocess(data)
        for model in models:
            predict_preprocessed_batch([image28], model)
        times.append(time.perf_counter() - start)
    return np.array(times)


def answers_while_training(env: dict, device: str) -> dict:
    from digitlab.training.jobs import Trainer
    from digitlab.training.runs import run_settings

    answer_times(3)  # load the models and warm up
    quiet = answer_times(20)
    os.environ["XDG_DATA_HOME"] = env["XDG_DATA_HOME"]
    trainer = Trainer()
    job = trainer.start("bench-busy", run_settings("cnn", "quick", device=device), "bench")
    while job.running and not job.progress:
        trainer.heartbeat("bench")
        time.sleep(0.2)
    busy = []
    while job.running and len(busy) < 40:
        trainer.heartbeat("bench")
        busy.extend(answer_times(1))
    trainer.stop("bench")
    while job.running:
        time.sleep(0.2)
    busy = np.array(busy)
    return {
        "quiet_median_s": round(float(np.median(quiet)), 3),
        "busy_median_s": round(float(np.median(busy)), 3),
        "busy_max_s": round(float(busy.max()), 3),
        "answers_while_busy": len(busy),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    args = parser.parse_args()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    with tempfile.TemporaryDirectory() as tmp:
        families = {}
        for family in ("logreg", "ann", "cnn"):
            # A fresh cache holding only the verified MNIST files: each first run is cold.
            mnist = Path(tmp) / family / "cache" / "digitlab" / "mnist"
            shutil.copytree(cache_dir(), mnist)
            env = {**os.environ, "XDG_DATA_HOME": str(Path(tmp) / "data"),
                   "XDG_CACHE_HOME": str(Path(tmp) / family / "cache")}  # fmt: skip
            cold = train_quick(family, f"bench-{family}-cold", env, device)
            warm = train_quick(family, f"bench-{family}-warm", env, device)
            families[family] = {"preset": PRESETS["quick"][family], "cold": cold, "warm": warm,
                                "target_s": TARGETS_S[family]}  # fmt: skip
            target = TARGETS_S[family]
            print(f"{family}: cold {cold['seconds']:.1f} s, warm {warm['seconds']:.1f} s "
                  f"(target {target} s), validation {warm['val_accuracy']:.2%}")  # fmt: skip
        os.environ["XDG_CACHE_HOME"] = env["XDG_CACHE_HOME"]
        answers = answers_while_training(env, device)
    print(f"answering one upload (4 models): {answers['quiet_median_s']:.2f} s quiet, "
          f"{answers['busy_median_s']:.2f} s median and {answers['busy_max_s']:.2f} s at worst "
          "while a quick CNN trains")  # fmt: skip
    write_results("lab", {
        "measured_at": date.today().isoformat(),
        "command": ".venv/bin/python benchmarks/bench_lab.py",
        "device": device,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
        "families": families,
        "cnn_target_accuracy": CNN_TARGET_ACCURACY,
        "answers": answers | {"target_s": ANSWER_TARGET_S},
    })  # fmt: skip


if __name__ == "__main__":
    main()
