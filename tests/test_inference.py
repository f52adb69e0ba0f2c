"""digitlab.answers end to end with the shipped CNN: answers, and the two kinds of refusal."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

import digitlab
from digitlab.answers.inference import NO_DIGIT, NOT_A_DIGIT
from digitlab.data.mnist import load_mnist


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def star() -> bytes:
    image = Image.new("L", (200, 200), 255)
    angles = np.linspace(-np.pi / 2, 1.5 * np.pi, 11)
    radii = [80 if i % 2 == 0 else 32 for i in range(11)]
    points = [
        (100 + r * np.cos(a), 100 + r * np.sin(a)) for r, a in zip(radii, angles, strict=True)
    ]
    ImageDraw.Draw(image).line(points, fill=0, width=9, joint="curve")
    return png(image)


def test_a_digit_is_answered():
    images, labels = load_mnist("test")
    digit = Image.fromarray(255 - images[3]).resize((112, 112))
    p = digitlab.predict(png(digit), raise_refusal=True)
    assert p.digit == labels[3] and p.refusal is None


def test_not_a_digit_is_refused_with_its_own_error():
    p = digitlab.predict(star())
    assert p.digit is None and p.refusal == NOT_A_DIGIT
    assert p.probabilities.shape == (10,)  # what it would have said, for display
    with pytest.raises(digitlab.NotADigitError, match="single digit"):
        digitlab.predict(star(), raise_refusal=True)


def test_blank_is_no_digit():
    blank = png(Image.new("L", (120, 120), 255))
    assert digitlab.predict(blank).refusal == NO_DIGIT
    with pytest.raises(digitlab.NoDigitError):
        digitlab.predict(blank, raise_refusal=True)


def test_a_model_whose_answer_is_not_a_number_is_an_error(tmp_path):
    """Weights that match their manifest but hold NaN (a training run that diverged): the
    answer must be an error, not "0 at 10%" (NaN scores split into ten calm tenths)."""
    from digitlab.errors import ModelError
    from digitlab.models import artifacts, logreg
    from digitlab.models.artifacts import WEIGHTS_DIR

    shipped = logreg.Model.load(WEIGHTS_DIR)
    diverged = logreg.Model(np.full_like(shipped.weights, np.nan), shipped.bias, shipped.config)
    artifacts.record_in_manifest(tmp_path, diverged.save(tmp_path))
    model = logreg.Model.load(tmp_path)
    images, _ = load_mnist("test")
    with pytest.raises(ModelError, match="^The logreg model's answer is not a number"):
        digitlab.predict(png(Image.fromarray(255 - images[0]).resize((112, 112))), model=model)
