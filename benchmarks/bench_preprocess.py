"""Median and p90 time to preprocess one upload (decode included), on this CPU.

python benchmarks/bench_preprocess.py
"""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

from digitlab.preprocess import preprocess
from digitlab.userlike import make_canvas, make_photo, mnist_test_digits

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


def time_ms(data: bytes, runs: int = RUNS) -> np.ndarray:
    preprocess(data)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        preprocess(data)
        times.append((time.perf_counter() - start) * 1000)
    return np.array(times)


def main() -> None:
    print(f"{'upload':32s} {'median ms':>10s} {'p90 ms':>8s}")
    for name, data in [
        ("phone photo JPEG 1200x900", phone_photo_jpeg()),
        ("canvas PNG (RGBA)", canvas_png()),
    ]:
        times = time_ms(data)
        print(f"{name:32s} {np.median(times):10.1f} {np.percentile(times, 90):8.1f}")


if __name__ == "__main__":
    main()
