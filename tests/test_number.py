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
from digitlab.contract import NOT_A_DIGIT, NOT_DIGITS
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


# --- issue 18, bug 4: a row whose pieces are not digits is refused, as a single digit is ---------


class RefusingModel:
    """A stand-in model with a not-a-digit class: answers 7 at 99% for the first piece and
    refuses every other piece as not a digit (though 7 would still be 99% of its digits)."""

    id = "refusing"
    config = {"low_confidence_threshold": 0.5, "not_digit_threshold": 0.5}

    def predict_proba_all(self, images):
        probs = np.zeros((len(images), 11))
        probs[:, 7] = 0.99
        probs[:, 1] = 0.01
        probs[1:] *= 0.1
        probs[1:, 10] = 0.9  # not a digit
        return probs


def test_a_piece_refused_as_not_a_digit_refuses_the_row_and_says_which():
    reading = read_number(written_row("2026"), model=RefusingModel())
    assert reading.found and reading.refused
    assert reading.text == "" and reading.refusal == NOT_DIGITS
    assert [d.refused for d in reading.digits] == [False, True, True, True]
    assert [d.refusal for d in reading.digits] == [None, NOT_A_DIGIT, NOT_A_DIGIT, NOT_A_DIGIT]
    # Refused is not "unsure": a 99% piece is never called low confidence.
    assert not any(d.low_confidence for d in reading.digits)
    assert reading.digits[1].confidence == pytest.approx(0.99)
    assert not reads_as_row(reading)


def test_a_row_of_sure_digits_is_not_refused():
    reading = read_number(written_row("2026"), model=RecordingModel())
    assert not reading.refused and reading.refusal is None and reading.text == "7777"
    assert not reading.low_confidence


def drawn_text(text: str, size: tuple[int, int] = (320, 200)) -> np.ndarray:
    """``text`` in a large PIL font, dark on light: letters, not digits."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("L", size, 255)
    font = ImageFont.load_default(size=150)
    ImageDraw.Draw(image).text((size[0] // 2, size[1] // 2), text, fill=0, font=font, anchor="mm")
    return np.asarray(image)


def smiley() -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.new("L", (200, 200), 255)
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 180, 180), outline=0, width=8)
    draw.ellipse((65, 65, 85, 85), fill=0)
    draw.ellipse((115, 65, 135, 85), fill=0)
    draw.arc((55, 70, 145, 150), 20, 160, fill=0, width=8)
    return np.asarray(image)


@pytest.mark.parametrize(
    "image", [drawn_text("A", (200, 200)), drawn_text("AB"), smiley()], ids=["A", "AB", "smiley"]
)
def test_letters_and_a_smiley_are_refused_by_the_cnn(image):
    """The issue saw a letter A read as "4" and a smiley as "0" at 99.3%."""
    reading = read_number(image, model=trained("cnn"))
    assert reading.found and reading.refused and reading.text == ""
    assert any(d.refused for d in reading.digits)


def test_a_random_texture_has_no_digits():
    texture = (np.random.default_rng(0).random((200, 300)) * 255).astype(np.uint8)
    reading = read_number(texture, model=trained("cnn"))
    assert not reading.found and not reading.refused


def test_printed_digits_are_still_read_by_the_cnn():
    reading = read_number(drawn_text("47"), model=trained("cnn"))
    assert reading.text == "47" and not reading.refused
