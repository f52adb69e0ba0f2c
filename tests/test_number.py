"""Reading rows of digits: segmentation with a stub model, and a real model when trained."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.answers.number import (
    DigitReading,
    NumberReading,
    read_number,
    reads_as_row,
    segment_digits,
)
from digitlab.imaging.pipeline import find_ink
from digitlab.synth.userlike import mnist_test_digits


class RecordingModel:
    """A stand-in model: answers 7 with confidence 0.9 and records what it was shown."""

    id = "recording"
    config = {"low_confidence_threshold": 0.5}

    def predict_proba_all(self, images):
        self.seen = np.asarray(images)
        probs = np.full((len(images), 10), 0.1 / 9)
        probs[:, 7] = 0.9
        return probs


def written_row(text: str, gap: int = 12) -> np.ndarray:
    """MNIST *test* digits of ``text`` written side by side in dark ink on light paper."""
    digits, labels = mnist_test_digits()
    tiles = []
    for char in text:
        index = int(np.flatnonzero(labels == int(char))[0])
        tile = np.kron(digits[index], np.ones((4, 4), np.float32))[8:-8, 12:-12]
        tiles.append(np.pad(tile, ((0, 0), (0, gap))))
    row = np.pad(np.concatenate(tiles, axis=1), 40)
    return (0.9 - 0.8 * row).astype(np.float32)


def test_segments_a_row_left_to_right_with_boxes():
    model = RecordingModel()
    reading = read_number(written_row("2026"), model=model)
    assert isinstance(reading, NumberReading) and reading.found
    assert reading.text == "7777" and len(reading.digits) == 4
    lefts = [d.box[0] for d in reading.digits]
    assert lefts == sorted(lefts)
    assert model.seen.shape == (4, 28, 28)
    assert all(d.image.shape == (28, 28) and not d.low_confidence for d in reading.digits)


def test_broken_digit_pieces_are_merged():
    image = np.full((120, 200), 0.9, np.float32)
    image[30:90, 60:66] = 0.1  # stem of a 7
    image[20:26, 60:100] = 0.1  # its detached bar, above the stem
    ink = find_ink(image)
    assert len(segment_digits(ink.candidates, ink.foreground)) == 1


def test_touching_digits_are_split():
    image = np.full((120, 260), 0.9, np.float32)
    for left in (40, 85, 130):  # three "0"-like boxes touching by a bar
        image[30:90, left : left + 40] = 0.1
        image[40:80, left + 8 : left + 32] = 0.9
    image[58:62, 40:170] = 0.1
    ink = find_ink(image)
    assert len(segment_digits(ink.candidates, ink.foreground)) == 3


def test_blank_image_is_not_found():
    reading = read_number(np.full((100, 200), 0.9, np.float32), model=RecordingModel())
    assert not reading.found and reading.text == ""


def trained(model_id: str):
    from digitlab.models.registry import load_model

    return load_model(model_id)  # the weights ship in the repo: missing ones are a failure


@pytest.mark.slow
@pytest.mark.parametrize("text", ["2026", "3817", "594"])
def test_reads_a_row_of_mnist_test_digits_with_the_cnn(text):
    reading = read_number(written_row(text), model=trained("cnn"))
    assert reading.text == text


def reading_of(heights: list[int], unsure: tuple[int, ...] = ()) -> NumberReading:
    digits = [
        DigitReading((10 * i, 0, 10 * i + 8, h), 7, 0.9, np.zeros((28, 28)), i in unsure)
        for i, h in enumerate(heights)
    ]
    return NumberReading("7" * len(heights), digits)


def test_a_row_is_pieces_of_similar_height_each_read_with_confidence():
    assert reads_as_row(reading_of([100, 90, 95]))
    assert not reads_as_row(reading_of([100]))  # one digit
    assert not reads_as_row(reading_of([100, 40]))  # a digit and a short broken-off stroke
    assert not reads_as_row(reading_of([100, 95], unsure=(1,)))  # a piece nobody can read
