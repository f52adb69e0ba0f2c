"""The user-like image generator: deterministic, decodable, every kind, honest splits."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.imaging.decode import decode_image
from digitlab.synth.shapes import restroke, thin_to_skeleton
from digitlab.synth.userlike import (
    IMITATED_BY_TRAINING,
    KINDS,
    generate,
    other_writers_digits,
    source_digits,
)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_generates_decodable_files(kind):
    items = generate(kind, 2, seed=5)
    assert len(items) == 2
    for item in items:
        assert isinstance(item.data, bytes) and 0 <= item.label <= 9 and item.kind == kind
        assert decode_image(item.data).grey.ndim == 2


def test_desk_photos_are_big_photos_of_a_sheet():
    assert "desk" in KINDS
    for item in generate("desk", 3, seed=1):
        grey = decode_image(item.data).grey
        assert min(grey.shape) >= 360  # a phone photo, not a crop
        assert grey.min() < 0.45 < 0.65 < grey.max()  # a darker desk and a bright sheet


@pytest.mark.slow  # generates every kind twice, about 3 s
def test_generation_is_deterministic():
    first = [i.data for i in generate("photo", 2, seed=11)]
    again = [i.data for i in generate("photo", 2, seed=11)]
    other = [i.data for i in generate("photo", 2, seed=12)]
    assert first == again and first != other


def test_unknown_kind_or_split_is_refused():
    with pytest.raises(ValueError):
        generate("polaroid", 1)
    with pytest.raises(ValueError):
        generate("photo", 1, split="train")


def test_val_renders_the_validation_digits_the_models_hold_out():
    from digitlab.training.data import training_data

    images, labels = source_digits("photo", "val")
    held_out = training_data()
    assert np.array_equal(images, held_out.val_x) and np.array_equal(labels, held_out.val_y)


def test_val_and_test_renders_use_disjoint_source_digits():
    def fingerprints(images: np.ndarray) -> set[bytes]:
        return {np.round(image * 255).astype(np.uint8).tobytes() for image in images}

    val, _ = source_digits("photo", "val")
    test, _ = source_digits("photo", "test")
    assert len(val) == 5000 and len(test) == 10000
    assert not fingerprints(val) & fingerprints(test)
    low_val, _ = other_writers_digits("val")
    low_test, _ = other_writers_digits("test")
    assert len(low_val) + len(low_test) == 1797
    assert not fingerprints(low_val) & fingerprints(low_test)
    assert [i.data for i in generate("lowres", 3, 0, "val")] != [
        i.data for i in generate("lowres", 3, 0, "test")
    ]


def test_kinds_imitated_by_training_are_kinds():
    assert set(IMITATED_BY_TRAINING) == {"lowres", "coarse16"} <= set(KINDS)


def test_skeleton_and_restroke_change_width():
    bar = np.zeros((40, 60), np.float32)
    bar[15:25, 10:50] = 1.0
    skeleton = thin_to_skeleton(bar > 0.5)
    assert 0 < skeleton.sum() < 60 and skeleton[:, 25].sum() == 1
    assert (restroke(bar, 3.0) > 0.5)[:, 30].sum() in (3, 4)
