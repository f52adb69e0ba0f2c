"""Median and p90 time to preprocess one upload (decode included), on this CPU, next to the
naive pipeline (decode and resize to 28x28) timed on the same uploads in the same run.

The figures are stored in ``src/digitlab/results/preprocess.json``, from which the README's
sentence is rendered (``benchmarks/update_readme.py``). Run::

    .venv/bin/python benchmarks/bench_preprocess.py
"""

from __future__ import annotations

import io
import time
from datetime import date

import numpy as np
from PIL import Image

from digitlab.evaluation.report import write_results
from digitlab.imaging.pipeline import naive_preprocess, preprocess
from digitlab.synth.userlike import make_canvas, make_photo, mnist_test_digits

RUNS = 200


def phone_photo_jpeg(seed: int = 0) -> bytes:
    """A 1200x900 JPEG photo of an MNIST test digit on paper (the generator's photo kind)."""
    digits, _ = mnist_test_digits()
    rng = np.random.default_rng(seed)
    photo = Image.open(io.BytesIO(make_photo(digits[0], 0, rng).data)).convert("RGB")
    buffer = io.BytesIO()
    photo.resize((1200, 900)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def canvas_png(seed: int = 0) -> bytes:
    digits, _ = mnist_test_digits()
    return make_canvas(digits[1], 2, np.random.default_rng(seed)).data


def time_ms(data: bytes, pipeline=preprocess, runs: int = RUNS) -> np.ndarray:
    pipeline(data)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        pipeline(data)
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times)


def main() -> None:
    print(f"{'upload':32s} {'median ms':>10s} {'p90 ms':>8s} {'naive ms':>9s}")
    rows = []
    for name, data in [
        ("a 1200x900 phone-photo JPEG", phone_photo_jpeg()),
        ("a canvas PNG (RGBA)", canvas_png()),
    ]:
        times, naive = time_ms(data), time_ms(data, naive_preprocess)
        rows.append({"upload": name, "median_ms": float(np.median(times)),
                     "p90_ms": float(np.percentile(times, 90)),
                     "naive_median_ms": float(np.median(naive))})  # fmt: skip
        print(f"{name:32s} {rows[-1]['median_ms']:10.1f} {rows[-1]['p90_ms']:8.1f} "
              f"{rows[-1]['naive_median_ms']:9.1f}")  # fmt: skip
    command = ".venv/bin/python benchmarks/bench_preprocess.py"
    write_results("preprocess", {"measured_at": date.today().isoformat(), "command": command,
                                 "runs": RUNS, "uploads": rows})  # fmt: skip


if __name__ == "__main__":
    main()
