"""Writing styles synthesised from training digits: right labels, MNIST-like, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.synth import styles
from digitlab.training.data import training_data


@pytest.fixture(scope="module")
def digits():
    data = training_data(limit=3000)
    return data.train_x, data.train_y


def test_styled_digits_are_mnist_like_and_labelled(digits):
    x, y = styles.styled_digits(*digits, n=120, seed=0)
    assert x.shape == (120, 28, 28) and x.dtype == np.float32
    assert set(np.unique(y)) <= {1, 4, 7, 9}
    assert x.min() >= 0 and x.max() <= 1
    for image in x:  # fitted in 20x20 and centred by mass, as the pipeline renders digits
        rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 20


def test_styled_digits_are_deterministic(digits):
    a, la = styles.styled_digits(*digits, n=30, seed=5)
    b, lb = styles.styled_digits(*digits, n=30, seed=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)


def one_stroke() -> np.ndarray:
    """A plain vertical 1, as a 28x28 float image."""
    image = np.zeros((28, 28), np.float32)
    image[4:24, 13:15] = 1.0
    return image


def test_flagged_one_adds_short_strokes():
    rng = np.random.default_rng(0)
    plain = styles.fine_shape(one_stroke())
    for _ in range(10):
        flagged = styles.flagged_one(one_stroke(), rng)
        added = flagged & ~plain
        assert added.any()
        ys, xs = np.nonzero(added)
        # every flag or foot stays shorter than the stem: a 1, not a 7's long top
        assert xs.max() - xs.min() < 0.8 * np.ptp(np.flatnonzero(plain.any(1)))


def test_a_flag_hangs_left_of_the_stem_and_a_sevens_top_too():
    """Both sides of the 1/7 boundary put the new top stroke where people write it: left of
    an upright stem, going down (a flag on the right would be a style nobody writes)."""
    rng = np.random.default_rng(2)
    plain = styles.fine_shape(one_stroke())
    stem_left = np.flatnonzero(plain.any(0))[0]
    stem_top = np.flatnonzero(plain.any(1))[0]
    flags = 0
    for _ in range(20):
        flagged = styles.flagged_one(one_stroke(), rng)
        added = flagged & ~plain
        ys, xs = np.nonzero(added)
        upper = ys < stem_top + 0.6 * np.ptp(np.flatnonzero(plain.any(1)))
        if upper.sum() > 20:  # a flag (a foot sits at the base, on both sides)
            flags += 1
            assert np.median(xs[upper]) < stem_left
            assert np.median(ys[upper]) > stem_top  # hanging down from the top, not rising
    assert flags >= 10
    seven = styles.seven_from_one(one_stroke(), rng)
    ys, xs = np.nonzero(seven & ~plain)
    assert np.median(xs[ys < stem_top + 12]) < stem_left


def test_seven_from_one_has_a_long_top():
    rng = np.random.default_rng(1)
    plain = styles.fine_shape(one_stroke())
    stem_height = np.ptp(np.flatnonzero(plain.any(1)))
    seven = styles.seven_from_one(one_stroke(), rng)
    top_rows = seven[: np.flatnonzero(seven.any(1))[0] + 12]
    cols = np.flatnonzero(top_rows.any(0))
    assert np.ptp(cols) >= 0.45 * stem_height


def test_straight_nine_needs_a_loop():
    rng = np.random.default_rng(0)
    assert styles.straight_nine(one_stroke(), rng) is None
    ring = np.zeros((28, 28), np.float32)
    yy, xx = np.mgrid[0:28, 0:28]
    ring[(np.hypot(yy - 9, xx - 14) < 6) & (np.hypot(yy - 9, xx - 14) > 3.5)] = 1
    ring[9:25, 18:20] = 1
    nine = styles.straight_nine(ring, rng)
    assert nine is not None and styles.loop_of(nine) is not None
