"""The user-like image generator: deterministic, decodable, every kind."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.imageio import load_image
from digitlab.userlike import KINDS, generate, restroke, thin_to_skeleton


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_generates_decodable_files(kind):
    items = generate(kind, 2, seed=5)
    assert len(items) == 2
    for item in items:
        assert isinstance(item.data, bytes) and 0 <= item.label <= 9 and item.kind == kind
        assert load_image(item.data).ndim == 2


def test_generation_is_deterministic():
    first = [i.data for i in generate("photo", 2, seed=11)]
    again = [i.data for i in generate("photo", 2, seed=11)]
    other = [i.data for i in generate("photo", 2, seed=12)]
    assert first == again and first != other


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        generate("polaroid", 1)


def test_skeleton_and_restroke_change_width():
    bar = np.zeros((40, 60), np.float32)
    bar[15:25, 10:50] = 1.0
    skeleton = thin_to_skeleton(bar > 0.5)
    assert 0 < skeleton.sum() < 60 and skeleton[:, 25].sum() == 1
    assert (restroke(bar, 3.0) > 0.5)[:, 30].sum() in (3, 4)
