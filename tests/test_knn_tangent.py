"""k-NN's tangent distance: it forgives small shifts, turns and thicker pens, and nothing else."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from digitlab.data.mnist import load_mnist
from digitlab.imaging.features import deskew, gaussian_blur
from digitlab.models.knn import (
    TANGENTS,
    ExactSearch,
    Queries,
    forgiving,
    tangent_squared,
    tangent_vectors,
)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    images, _ = load_mnist("test")
    return gaussian_blur(deskew(images[:50] / 255.0), 0.75).reshape(50, -1).astype(np.float32)


def test_a_row_on_the_querys_tangent_plane_is_at_no_distance_and_one_off_it_keeps_its_gap():
    rng = np.random.default_rng(0)
    query = rng.normal(size=(1, 8))
    tangents = rng.normal(size=(1, 2, 8))
    on_plane = query + 0.7 * tangents[:, 0] - 1.3 * tangents[:, 1]
    normal = np.linalg.svd(tangents[0], full_matrices=True)[2][-1]  # orthogonal to both
    off_plane = on_plane + 2.0 * normal
    squared = tangent_squared(query, tangents, np.stack([on_plane, off_plane], 1))
    assert squared[0, 0] == pytest.approx(0.0, abs=1e-9)
    assert squared[0, 1] == pytest.approx(4.0)


def test_a_blank_image_has_no_tangents_and_its_distance_is_plain():
    query, rows = np.zeros((1, 5)), np.ones((1, 3, 5))
    squared = tangent_squared(query, np.zeros((1, len(TANGENTS), 5)), rows)
    np.testing.assert_allclose(squared, [[5.0, 5.0, 5.0]])


def test_the_x_tangent_is_the_change_of_a_slightly_shifted_digit(digits):
    image = digits[0].reshape(28, 28)
    shifted = ndi.shift(image, (0, 0.2), order=1).reshape(-1)  # a fifth of a pixel to the right
    change = shifted - digits[0]
    tangent = tangent_vectors(digits[:1], 0.0)[0, 0]
    # A move right: the image's value at x becomes its value at x - dx, so d = -dx * grad_x.
    cos = change @ -tangent / np.linalg.norm(change) / np.linalg.norm(tangent)
    assert cos > 0.9


def test_tangent_distance_forgives_a_shifted_turned_copy_more_than_other_digits(digits):
    """The index: other digits and the query turned 6 degrees and shifted a pixel. Tangent
    distance shrinks the copy's distance far more than it shrinks other digits'."""
    query = digits[0]
    moved = ndi.shift(ndi.rotate(query.reshape(28, 28), 6, reshape=False, order=1), (0, 1))
    rows = np.concatenate([digits[1:], moved.reshape(1, -1)])
    search = ExactSearch(rows)
    plain = np.sqrt(((rows - query) ** 2).sum(1))
    tangent, found = search.search(
        Queries(query[None, None], tangent_vectors(query[None], 1.0)), 30
    )
    shrunk = dict(zip(found[0], tangent[0] / plain[found[0]], strict=True))
    copy = shrunk.pop(len(rows) - 1)
    assert copy < 0.75 * np.median(list(shrunk.values()))
    assert list(found[0]).index(len(rows) - 1) < list(np.argsort(plain)).index(len(rows) - 1)


def test_the_description_names_the_re_ranking_the_config_chose():
    assert "tangent distance" in forgiving({"variants": ["tangent"]})
    assert "one-pixel shift" in forgiving({"variants": ["shift"]})
    assert "as it is" in forgiving({"variants": []})
