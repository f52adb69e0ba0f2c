"""*Look inside*: the library's views on the shipped models and a hand-written run, and the
app's section under AppTest. No training: a run's snapshots are written here by hand."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

import digitlab
from digitlab.answers import inside
from digitlab.app.inside import NO_IMAGE
from digitlab.errors import ModelError
from digitlab.models import artifacts, runs
from digitlab.models.registry import load_model

TIMEOUT = 120  # s per AppTest run: the first one loads torch and the model


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    """A real MNIST test digit, through the one preprocessing pipeline (float32 28x28)."""
    images, _ = digitlab.load_mnist("test")
    return digitlab.preprocess(images[0])


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    return tmp_path


def write_run(name: str, family: str, snapshots: dict[str, np.ndarray] | None) -> None:
    """A run folder as training leaves it: run.json, a manifest, and optionally snapshots."""
    folder = runs.run_path(name)
    folder.mkdir(parents=True)
    (folder / runs.RUN_FILE).write_text(json.dumps({"settings": {"family": family}}))
    artifacts.record_in_manifest(folder, [])
    if snapshots is not None:
        artifacts.save_npz(folder / inside.SNAPSHOTS_FILE, snapshots)
        artifacts.record_in_manifest(folder, [inside.SNAPSHOTS_FILE])


# --- which views -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "views"),
    [("cnn", ["stages", "filters"]), ("ann", ["weights"]), ("logreg", ["templates"]),
     ("knn", [])],
)  # fmt: skip
def test_the_views_follow_from_the_models_structure(model_id, views):
    assert inside.inside_views(digitlab.load_model(model_id)) == views


def test_a_model_without_the_layer_asked_for_says_so():
    with pytest.raises(ModelError, match="no Conv2d layer"):
        inside.cnn_stages(digitlab.load_model("ann"), np.zeros((28, 28), np.float32))
    with pytest.raises(ModelError, match="no Linear layer"):
        inside.ann_first_layer(digitlab.load_model("logreg"))


# --- the CNN ---------------------------------------------------------------------------------


def test_cnn_stages_are_the_ends_of_its_conv_blocks(digit):
    model = digitlab.load_model("cnn")
    stages = inside.cnn_stages(model, digit)
    assert [s.name for s in stages] == [
        "block 1: 32 maps of 28x28",
        "block 2: 64 maps of 14x14",
        "block 3: 128 maps of 7x7",
    ]
    assert [s.maps.shape for s in stages] == [(32, 28, 28), (64, 14, 14), (128, 7, 7)]
    assert all(s.maps.dtype == np.float32 and s.maps.min() >= 0 for s in stages)
    assert all(s.maps.max() > 0 for s in stages)  # the digit lights something up
    # Block 1 is exactly the net's first six layers (conv, BN, ReLU twice) on the digit.
    with torch.inference_mode():
        expected = model.net[:6](torch.from_numpy(digit)[None, None])[0].numpy()
    np.testing.assert_allclose(stages[0].maps, expected, rtol=1e-5, atol=1e-6)


def test_cnn_stages_differ_between_digits(digit):
    model = digitlab.load_model("cnn")
    blank = inside.cnn_stages(model, np.zeros((28, 28), np.float32))
    drawn = inside.cnn_stages(model, digit)
    assert not np.allclose(blank[0].maps, drawn[0].maps)


def test_first_layer_filters_are_the_first_convolution():
    model = digitlab.load_model("cnn")
    filters = inside.first_layer_filters(model)
    assert filters.shape == (32, 3, 3)
    np.testing.assert_array_equal(filters, model.net[0].weight.detach().numpy()[:, 0])


# --- the ANN and Logistic Regression ---------------------------------------------------------


def test_ann_first_layer_shows_its_strongest_neurons_as_images():
    model = digitlab.load_model("ann")
    shown = inside.ann_first_layer(model)
    assert shown.shape == (32, 28, 28)
    rows = model.net[1].weight.detach().numpy()
    norms = np.sort(np.linalg.norm(rows, axis=1))[::-1]
    np.testing.assert_allclose(np.linalg.norm(shown.reshape(32, -1), axis=1), norms[:32],
                               rtol=1e-5)  # fmt: skip
    assert inside.ann_first_layer(model, count=5).shape == (5, 28, 28)


def test_logreg_templates_are_its_ten_templates():
    model = digitlab.load_model("logreg")
    templates = inside.logreg_templates(model)
    assert templates.shape == (10, 28, 28)
    np.testing.assert_array_equal(templates, model.templates())


# --- a run's snapshots -----------------------------------------------------------------------


def test_a_runs_snapshots_come_back_in_epoch_order_as_images(data_home):
    rng = np.random.default_rng(0)
    conv = {f"epoch{e}": rng.normal(size=(4, 1, 3, 3)).astype(np.float32) for e in (1, 2, 10)}
    write_run("tiny-cnn", "cnn", conv)
    snapshots = inside.run_snapshots("tiny-cnn")
    assert [epoch for epoch, _ in snapshots] == [1, 2, 10]
    assert all(images.shape == (4, 3, 3) for _, images in snapshots)
    np.testing.assert_array_equal(snapshots[2][1], conv["epoch10"][:, 0])

    dense = {"epoch1": rng.normal(size=(3, 784)).astype(np.float32)}
    write_run("tiny-ann", "ann", dense)
    [(epoch, images)] = inside.run_snapshots("tiny-ann")
    assert epoch == 1 and images.shape == (3, 28, 28)
    np.testing.assert_array_equal(images[1], dense["epoch1"][1].reshape(28, 28))


def test_a_run_without_snapshots_has_none(data_home):
    write_run("no-snaps", "knn", None)
    assert inside.run_snapshots("no-snaps") == []


def test_a_damaged_snapshot_file_is_one_sentence(data_home):
    write_run("damaged", "cnn", {"epoch1": np.zeros((2, 1, 3, 3), np.float32)})
    path = runs.run_path("damaged") / inside.SNAPSHOTS_FILE
    path.write_bytes(path.read_bytes()[:-5])  # no longer matches its SHA-256
    with pytest.raises(ModelError, match=r"^The weight snapshots of the run 'damaged' are damaged"):
        inside.run_snapshots("damaged")


def test_snapshots_of_an_unknown_shape_are_damaged(data_home):
    write_run("odd", "cnn", {"epoch1": np.zeros((2, 5), np.float32)})
    with pytest.raises(ModelError, match="damaged"):
        inside.run_snapshots("odd")
    write_run("odd-key", "cnn", {"weights": np.zeros((2, 1, 3, 3), np.float32)})
    with pytest.raises(ModelError, match="damaged"):
        inside.run_snapshots("odd-key")


# --- tiles -----------------------------------------------------------------------------------


def test_tile_lays_images_out_with_a_gap_each_normalised():
    stack = np.stack([np.arange(9.0).reshape(3, 3) * (i + 1) - 5 for i in range(5)])
    stack[4] = 7.0  # a flat tile
    mosaic = inside.tile(stack, columns=3)
    assert mosaic.shape == (2 * 3 + 1, 3 * 3 + 2) and mosaic.dtype == np.float32
    first = mosaic[:3, :3]
    assert first.min() == 0.0 and first.max() == 1.0
    np.testing.assert_allclose(mosaic[:3, 4:7], first)  # normalised on its own: same picture
    assert np.all(mosaic[3, :] == 0.5) and np.all(mosaic[:, 3] == 0.5)  # the 1-pixel gaps
    assert np.all(mosaic[4:, 4:7] == 0.0)  # the flat tile is black
    assert np.all(mosaic[4:, 8:] == 0.5)  # the empty slot of the last row
    assert inside.tile(stack[:2], columns=8).shape == (3, 7)  # fewer images than columns


def test_signed_tiles_keep_zero_mid_grey_and_nan_gaps_are_left_for_colouring():
    weights = np.array([[[-2.0, 0.0], [1.0, 2.0]], [[0.0, 0.0], [0.0, 0.0]]])
    mosaic = inside.tile(weights, columns=2, gap=np.nan, signed=True)
    np.testing.assert_allclose(mosaic[:, :2], [[0.0, 0.5], [0.75, 1.0]])
    assert np.all(mosaic[:, 3:] == 0.5)  # all zero: all mid-grey
    assert np.all(np.isnan(mosaic[:, 2]))


def test_tile_refuses_an_empty_stack():
    with pytest.raises(ValueError, match="non-empty"):
        inside.tile(np.zeros((0, 3, 3)), columns=4)


# --- the app's section -----------------------------------------------------------------------


def inside_page(model_id, image28):
    from digitlab.app.inside import show_inside

    show_inside(model_id, image28)


def run_inside(model_id: str, image28: np.ndarray | None) -> AppTest:
    at = AppTest.from_function(inside_page, args=(model_id, image28), default_timeout=TIMEOUT)
    at.run(timeout=TIMEOUT)
    assert not at.exception, [e.value for e in at.exception]
    return at


def captions(at: AppTest) -> list[str]:
    return [c for image in at.get("image") for c in image.captions]


def test_the_app_shows_the_cnns_stages_and_filters_for_a_digit(digit):
    at = run_inside("cnn", digit)
    shown = captions(at)
    assert len(shown) == 4  # three stages and the filters
    assert shown[0].startswith("Block 1: 32 maps of 28x28 (32x28x28).")
    assert any(c.startswith("Each square is one filter of the first layer") for c in shown)
    assert not at.info
    # The shipped CNN may be several nets: the page says whose pictures these are.
    count = len(load_model("cnn").members)
    said = [c.value for c in at.caption if "nets trained alike" in c.value]
    assert len(said) == (count > 1)
    assert all(note.startswith(f"CNN is {count} nets trained alike") for note in said)


@pytest.mark.parametrize("model_id", ["cnn", "ann", "logreg"])
def test_without_a_digit_the_app_shows_the_weights_only(model_id):
    at = run_inside(model_id, None)
    assert len(captions(at)) == 1
    said = [i.value for i in at.info]
    assert said == ([NO_IMAGE] if model_id == "cnn" else [])


def test_knn_says_it_has_no_layers():
    at = run_inside("knn", None)
    assert captions(at) == []
    assert "no layers of weights" in at.info[0].value


def test_a_runs_snapshots_have_an_epoch_slider(data_home, digit):
    shipped = artifacts.WEIGHTS_DIR
    snaps = {f"epoch{e}": np.full((4, 1, 3, 3), e, np.float32) for e in (1, 2, 3)}
    write_run("look", "cnn", snaps)
    folder = runs.run_path("look")
    for name in ("cnn.safetensors", "cnn.json"):
        shutil.copy(shipped / name, folder / name)
    artifacts.record_in_manifest(folder, ["cnn.safetensors", "cnn.json"])
    at = run_inside("run:look", digit)
    [slider] = at.select_slider
    assert slider.value == 3 and list(slider.options) == ["1", "2", "3"]
    assert any("after epoch 3" in c for c in captions(at))
    slider.set_value(1)
    at.run(timeout=TIMEOUT)
    assert not at.exception
    assert any("after epoch 1" in c for c in captions(at))
