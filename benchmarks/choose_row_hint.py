"""How often the app's "Read a number?" hint fires, on validation data only (no test digits).

The hint (``digitlab.number.reads_as_row``) should fire on a row of digits and stay quiet on a
single digit. Prints, for a plain piece count (two or more pieces) and for the rule the app
uses (pieces of similar height, each read with confidence), how many single-digit user-like
images of eight kinds (40 each, ``split="val"``) and how many rows of 2-4 validation digits
written on paper it flags. ``ROW_MIN_HEIGHT`` was chosen with it. Run::

    .venv/bin/python benchmarks/choose_row_hint.py
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from digitlab.answers.number import read_number, reads_as_row
from digitlab.errors import ImageError, NoDigitError
from digitlab.models.registry import load_model
from digitlab.synth import userlike

KINDS = ("photo", "desk", "scan", "dark", "canvas", "thin", "thick", "slant")
PER_KIND = 40
ROWS = 30
SEED = 1


def row_of_validation_digits(rng: np.random.Generator) -> bytes:
    images, _ = userlike.mnist_validation_digits()
    chosen = rng.choice(len(images), size=int(rng.integers(2, 5)))
    tiles = [np.pad(255 - (images[i] * 255).astype(np.uint8), 10, constant_values=255)
             for i in chosen]  # fmt: skip
    row = np.concatenate(tiles, axis=1)
    picture = Image.fromarray(row).resize((row.shape[1] * 8, row.shape[0] * 8), Image.BICUBIC)
    out = io.BytesIO()
    picture.save(out, "PNG")
    return out.getvalue()


def flags(data: bytes, model) -> tuple[bool, bool]:
    """(a plain count says several digits, the app's rule says a row)."""
    try:
        reading = read_number(data, model=model)
    except (ImageError, NoDigitError):
        return False, False
    return len(reading.digits) >= 2, reads_as_row(reading)


def main() -> None:
    model = load_model("cnn")
    print(f"{'images':<28} {'count >= 2':>10} {'reads_as_row':>12}")
    for kind in KINDS:
        results = [flags(im.data, model) for im in userlike.generate(kind, PER_KIND, seed=SEED)]
        counted, ruled = (sum(column) for column in zip(*results, strict=True))
        print(f"{'one digit, ' + kind:<28} {counted:>7}/{PER_KIND} {ruled:>9}/{PER_KIND}")
    rng = np.random.default_rng(SEED)
    results = [flags(row_of_validation_digits(rng), model) for _ in range(ROWS)]
    counted, ruled = (sum(column) for column in zip(*results, strict=True))
    print(f"{'rows of 2-4 digits':<28} {counted:>7}/{ROWS} {ruled:>9}/{ROWS}")


if __name__ == "__main__":
    main()
