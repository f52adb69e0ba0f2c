"""Negatives ("not a digit") made here: every kind renders, nothing looks like a plain 1."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.contract import NOT_A_DIGIT_CLASS as NOT_A_DIGIT
from digitlab.contract import split_not_digit
from digitlab.synth import negatives
from digitlab.training.data import extra_examples, training_data


@pytest.fixture(scope="module")
def digits():
    data = training_data(limit=1000)
    return data.train_x, data.train_y


@pytest.mark.parametrize("kind", list(negatives.KIND_WEIGHTS))
def test_each_kind_renders_mnist_like(kind, digits):
    rng = np.random.default_rng(0)
    made = [negatives.negative(kind, digits[0], rng) for _ in range(15)]
    made = [m for m in made if m is not None]
    assert made, f"{kind} never rendered"
    for image in made:
        assert image.shape == (28, 28) and image.min() >= 0 and image.max() <= 1
        assert not negatives.looks_like_a_one(image)


def test_a_single_stroke_is_never_a_negative():
    stroke = np.zeros((28, 28), np.float32)
    stroke[4:24, 13:15] = 1
    assert negatives.looks_like_a_one(stroke)


def test_not_digit_images_are_deterministic(digits):
    a = negatives.not_digit_images(digits[0], 20, seed=3)
    b = negatives.not_digit_images(digits[0], 20, seed=3)
    assert a.shape == (20, 28, 28)
    np.testing.assert_array_equal(a, b)


def test_extra_examples_label_negatives_as_the_eleventh_class(digits):
    x, y = extra_examples(*digits, n_styled=10, n_negative=10, seed=0)
    assert len(x) == len(y) == 20
    assert (y == NOT_A_DIGIT).sum() == 10


def test_split_not_digit_renormalises_the_digits():
    probs = np.array([[0.2, 0.2] + [0.0] * 8 + [0.6], [0.5, 0.5] + [0.0] * 8 + [0.0]])
    digits, not_digit = split_not_digit(probs)
    np.testing.assert_allclose(digits.sum(1), 1, rtol=1e-6)
    np.testing.assert_allclose(not_digit, [0.6, 0.0])
    ten = np.full((1, 10), 0.1)
    assert split_not_digit(ten)[1][0] == 0


@pytest.mark.slow  # makes two sets of extra examples, about 4 s
def test_fewer_extra_examples_are_the_first_of_more(digits):
    from digitlab.training.data import TrainingData

    data = TrainingData(digits[0], digits[1], digits[0][:300], digits[1][:300])
    data.validation_probe({"styled": 4, "negative": 4})  # other cached sets do not get in the way
    many_x, many_y = data.extra_examples(12, 12, seed=4)
    few_x, few_y = data.extra_examples(5, 7, seed=4)
    fresh_x, fresh_y = extra_examples(*digits, n_styled=5, n_negative=7, seed=4)
    np.testing.assert_array_equal(few_x, fresh_x)
    np.testing.assert_array_equal(few_y, fresh_y)
    assert len(many_x) == 24
