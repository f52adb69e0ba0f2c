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
    assert set(np.unique(y)) <= set(range(10))
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


def made(digits, name, count=60, seed=0):
    """Up to ``count`` training digits of the style's source class, each with its fine
    shape and what the style makes of it (None where it does not apply)."""
    x, y = digits
    source, _, make = styles.STYLES[name]
    rng = np.random.default_rng(seed)
    indices = np.arange(len(y)) if source is None else np.flatnonzero(y == source)
    return [(styles.fine_shape(x[i]), make(x[i], rng), y[i]) for i in indices[:count]]


def assert_renders(shape):
    image = styles.as_mnist(shape)
    assert image is not None and image.shape == (28, 28)
    assert image.min() >= 0 and image.max() <= 1 and image.sum() > 10


@pytest.mark.parametrize(
    ("name", "label", "least"),
    [("gapped_five", 5, 0.5), ("open_zero", 0, 0.5), ("open_nine", 9, 0.3),
     ("one_stroke_four", 4, 0.1), ("tight_crop", None, 0.95)],
)  # fmt: skip
def test_new_styles_apply_to_a_fair_share_and_keep_their_label(digits, name, label, least):
    results = made(digits, name)
    shapes = [shape for _, shape, _ in results if shape is not None]
    assert len(shapes) >= least * len(results)
    for shape in shapes[:10]:
        assert_renders(shape)
    assert styles.STYLES[name][1] == label


def bar_length(shape):
    bar = styles.five_top_bar(shape)
    return 0 if bar is None else np.ptp(np.nonzero(bar)[1])


def test_gapped_five_shortens_detaches_or_removes_the_top_bar(digits):
    results = [(plain, five) for plain, five, _ in made(digits, "gapped_five") if five is not None]
    for plain, five in results:
        removed = plain & ~five
        assert removed.any() and not (five & ~plain).any()  # only ink taken away
        bar = styles.five_top_bar(plain)
        assert removed[~bar].sum() == 0  # all of it from the top bar
    assert styles.gapped_five(one_stroke(), np.random.default_rng(0)) is None  # no bar


def test_open_zero_has_no_closed_loop_and_a_modest_gap(digits):
    for plain, zero, _ in made(digits, "open_zero"):
        if zero is None:
            continue
        assert styles.loop_of(plain) is not None and styles.loop_of(zero) is None
        # a gap, not half the ring gone: a 0, not a C or a 6
        assert (plain & ~zero).sum() < 0.2 * plain.sum()
    assert styles.open_zero(one_stroke(), np.random.default_rng(0)) is None


def test_open_nine_has_a_smaller_or_open_loop(digits):
    for plain, nine, _ in made(digits, "open_nine"):
        if nine is None:
            continue
        loop = styles.loop_of(nine)
        assert loop is None or loop.sum() < styles.loop_of(plain).sum()
    assert styles.open_nine(one_stroke(), np.random.default_rng(0)) is None


def test_one_stroke_four_closes_the_top_of_open_fours(digits):
    fours = [(plain, four) for plain, four, _ in made(digits, "one_stroke_four", count=150)]
    for plain, four in fours:
        if four is not None:
            assert styles.four_tops(plain) is not None  # made from an open 4
            assert styles.loop_of(four) is not None
    closed = [plain for plain, _ in fours if styles.loop_of(plain) is not None]
    assert closed  # closed 4s are left alone
    rng = np.random.default_rng(0)
    assert styles.one_stroke_four(one_stroke(), rng) is None


def test_tight_crop_clips_one_side_by_at_most_8_percent(digits):
    for plain, cropped, _ in made(digits, "tight_crop"):
        assert not (cropped & ~plain).any() and cropped.sum() < plain.sum()
        ys, xs = np.nonzero(plain & ~cropped)  # all the ink lost lies along one side
        rows, cols = np.flatnonzero(plain.any(1)), np.flatnonzero(plain.any(0))
        reach_y, reach_x = 0.08 * np.ptp(rows) + 1, 0.08 * np.ptp(cols) + 1
        assert (
            (ys < rows[0] + reach_y).all()
            or (ys > rows[-1] - reach_y).all()
            or (xs < cols[0] + reach_x).all()
            or (xs > cols[-1] - reach_x).all()
        )


def test_tight_crop_keeps_each_digits_own_label(digits, monkeypatch):
    x, y = digits
    monkeypatch.setattr(styles, "STYLE_WEIGHTS", {"tight_crop": 1.0})
    _, threes = styles.styled_digits(x[y == 3], y[y == 3], n=10, seed=0)
    assert (threes == 3).all()
    _, labels = styles.styled_digits(x, y, n=100, seed=0)
    assert len(np.unique(labels)) == 10  # drawn from every class
