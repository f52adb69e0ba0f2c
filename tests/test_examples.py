"""The demo examples: made here from validation digits, the same bytes every time, shown well."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from digitlab.answers.number import read_number, reads_as_row
from digitlab.app import images
from digitlab.imaging.decode import decode_image
from digitlab.synth.examples import NAMES, example


def test_every_example_is_a_readable_image_made_the_same_way_each_time():
    first = {name: example(name).data for name in NAMES}
    example.cache_clear()
    assert {name: example(name).data for name in NAMES} == first
    for name in NAMES:
        assert decode_image(first[name]).grey.size > 0, name  # decoded by the safe reader
    assert set(NAMES) == {"Photo", "Scan", "Chalkboard", "Drawing", "Row of digits"}


def test_the_row_example_holds_its_four_digits():
    row = example("Row of digits")
    assert row.is_number and row.text == "2026"
    reading = read_number(row.data)
    assert reading.text == "2026" and reads_as_row(reading)
    for name in ("Photo", "Scan", "Chalkboard", "Drawing"):
        assert not example(name).is_number
        assert not reads_as_row(read_number(example(name).data)), name


def test_white_ink_on_a_transparent_background_is_shown_on_a_dark_checkerboard():
    drawing = example("Drawing").data
    with Image.open(io.BytesIO(drawing)) as opened:
        assert opened.mode == "RGBA"  # white ink, transparent elsewhere: invisible on white
    for shown in (images.display_image(drawing)[0], images.thumbnail(drawing)):
        pixels = np.asarray(shown.convert("L"))
        assert pixels.max() == 255  # the ink
        assert pixels[:8, :8].max() < 128  # a dark square of the backdrop, not white
        assert len(np.unique(pixels[:16, :16])) >= 2  # checkered, so it reads as transparency


def test_an_opaque_image_is_shown_as_it_is():
    opaque = Image.new("RGB", (40, 30), "white")
    assert images.on_backdrop(opaque) is opaque


def test_the_colour_scale_runs_from_blue_through_black_to_red():
    scale = images.colour_scale(width=101).astype(int)
    left, middle, right = scale[0, 0], scale[0, 50], scale[0, 100]
    assert left[2] > left[0] and right[0] > right[2]  # blue end, red end
    assert middle.max() == 0  # no effect is black, as on the maps
