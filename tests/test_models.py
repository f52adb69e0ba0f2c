"""Each model's interface on a small subset: train briefly, save, reload, predict."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from digitlab.contract import low_confidence_threshold
from digitlab.data.splits import split_positions
from digitlab.errors import ImageError, ModelError
from digitlab.imaging.features import as_float_images, deskew, gaussian_blur
from digitlab.models import artifacts
from digitlab.models.base import DigitModel
from digitlab.models.registry import display_name, load_model, model_class, model_ids, model_spec
from digitlab.synth.augment import AugmentConfig, augment_batch
from digitlab.training.data import training_data

# The quick k-NN searches the whole training split: its first answer builds a 55,000-digit
# index of its own (about 10 s), so the checks that ask it run with the slow tests.
ASKING_QUICK = [pytest.param(m, marks=pytest.mark.slow) if m == "knn" else m for m in model_ids()]


@pytest.fixture(scope="module")
def small_data():
    return training_data(limit=2000)


@pytest.fixture(scope="module")
def trained(quick_models):
    """Each model trained quickly on 2,000 images and saved to its own weights dir (once per
    session: ``conftest.quick_models``)."""
    return quick_models


def test_registry_names_and_unknown_id():
    assert model_ids() == ("logreg", "knn", "ann", "cnn")
    names = ["Logistic Regression", "k-Nearest Neighbours", "ANN (multilayer perceptron)", "CNN"]
    assert [display_name(m) for m in model_ids()] == names
    with pytest.raises(ModelError, match="Unknown model"):
        load_model("svm")


@pytest.mark.parametrize("model_id", model_ids())
def test_every_model_honours_the_interface(model_id):
    cls = model_class(model_id)
    assert issubclass(cls, DigitModel) and cls.id == model_id
    assert set(model_spec(model_id).quick) <= set(cls.HPARAMS)
    with pytest.raises(ValueError, match="no hyper-parameter"):
        cls.hparams({"no_such_setting": 1})
    assert model_spec(model_id).describe({}).strip()


@pytest.mark.parametrize("model_id", ASKING_QUICK)
def test_predict_proba_contract(trained, small_data, model_id):
    model, _ = trained[model_id]
    x = small_data.val_x[:50]
    probs = model.predict_proba(x)
    assert probs.shape == (50, 10)
    assert np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert (probs >= 0).all()
    # uint8 0-255 and float [0,1] inputs are the same images.
    as_uint8 = np.rint(x * 255).astype(np.uint8)
    assert (model.predict_proba(as_uint8).argmax(1) == probs.argmax(1)).mean() > 0.95
    # It learned something from 2,000 images (chance is 10%).
    assert (probs.argmax(1) == small_data.val_y[:50]).mean() > 0.5
    assert 0.0 < model.config["low_confidence_threshold"] <= 1.0
    # The eleventh class: "not a digit", with its threshold chosen on validation data.
    assert model.predict_proba_all(x).shape == (50, 11)
    assert 0.5 <= model.config["not_digit_threshold"] <= 1.0
    # At most 0.5% of validation digits refused, unless the threshold sits at its floor of 0.5
    # (a net trained two epochs is unsure; its fitted temperature sharpens it, and the
    # not-a-digit class then wins on a few digits): even then, few.
    refused = model.config["val_digits_refused"]
    assert refused <= 0.005 or (model.config["not_digit_threshold"] == 0.5 and refused <= 0.02)


@pytest.mark.parametrize("model_id", ASKING_QUICK)
def test_save_load_round_trip(trained, small_data, model_id):
    model, weights_dir = trained[model_id]
    loaded = model_class(model_id).load(weights_dir)
    x = small_data.val_x[:20]
    assert np.allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-5)
    assert loaded.config == json.loads(json.dumps(model.config))


@pytest.mark.parametrize("model_id", model_ids())
def test_tampered_artifact_is_refused(trained, model_id, tmp_path):
    _, weights_dir = trained[model_id]
    for f in weights_dir.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    victim = next(p for p in tmp_path.iterdir() if p.suffix in (".npz", ".safetensors"))
    raw = bytearray(victim.read_bytes())
    raw[-1] ^= 0xFF
    victim.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="checksum"):
        model_class(model_id).load(tmp_path)
    victim.unlink()
    with pytest.raises(ModelError, match="missing"):
        model_class(model_id).load(tmp_path)


def test_no_pickle_in_artifacts(trained):
    for _, weights_dir in trained.values():
        for path in weights_dir.glob("*.npz"):
            with np.load(path, allow_pickle=False) as npz:  # raises if anything is pickled
                assert all(npz[k].dtype != object for k in npz.files)


@pytest.mark.slow  # builds the quick k-NN's own index (see ASKING_QUICK)
def test_knn_neighbours_index_the_training_set(trained):
    from digitlab.data.mnist import load_mnist

    model, _ = trained["knn"]
    train_images, train_labels = load_mnist("train")
    _, train = split_positions()
    dist, idx, labels = model.kneighbors(train_images[train[:3]], k=2)
    assert idx.shape == (3, 2) and (idx[:, 0] == train[:3]).all()  # itself, at distance ~0
    assert np.allclose(dist[:, 0], 0, atol=1e-2)
    assert (labels == train_labels[idx]).all()


def test_logreg_templates_are_images(trained):
    model, _ = trained["logreg"]
    assert model.templates().shape == (10, 28, 28)


def test_as_float_images_checks_input():
    assert as_float_images(np.zeros((28, 28), np.uint8)).shape == (1, 28, 28)
    assert as_float_images(np.full((2, 28, 28), 255, np.uint8)).max() == 1.0
    with pytest.raises(ImageError, match="shape"):
        as_float_images(np.zeros((2, 27, 28)))
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        as_float_images(np.full((1, 28, 28), 3.0))
    with pytest.raises(ImageError):
        as_float_images(np.full((1, 28, 28), np.nan))


def test_deskew_straightens_a_slanted_stroke():
    img = np.zeros((1, 28, 28), np.float32)
    for row in range(6, 22):  # a stroke leaning right by 0.5 px per row
        img[0, row, 10 + (row - 6) // 2 : 12 + (row - 6) // 2] = 1.0
    out = deskew(img)[0]
    cols = [np.average(np.arange(28), weights=out[r] + 1e-9) for r in range(8, 20)]
    assert np.ptp(cols) < 1.5  # was 6 px of drift before
    assert abs(out.sum() - img.sum()) / img.sum() < 0.05


def test_gaussian_blur_keeps_mass():
    img = np.zeros((1, 28, 28), np.float32)
    img[0, 14, 14] = 1.0
    out = gaussian_blur(img, 1.0)
    assert abs(out.sum() - 1.0) < 1e-4 and out[0, 14, 14] < 0.5


def test_augmentation_is_seeded_and_in_range():
    x = torch.from_numpy(training_data(limit=64).train_x[:64])[:, None]
    a = augment_batch(x, AugmentConfig(), torch.Generator().manual_seed(1))
    b = augment_batch(x, AugmentConfig(), torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape
    assert a.min() >= 0 and a.max() <= 1
    assert not torch.equal(a, x)


def test_low_confidence_threshold_is_median_of_wrong_answers():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]])
    labels = np.array([0, 1, 0, 1])  # wrong: 0.6, 0.7, 0.8 -> median 0.7
    assert low_confidence_threshold(probs, labels) == pytest.approx(0.7)


def test_coarse_scan_looks_like_an_8x8_scan():
    from digitlab.data.mnist import load_mnist
    from digitlab.synth.augment import coarse_scan

    digit = load_mnist("train")[0][0]
    scan = coarse_scan(digit, 8, np.random.default_rng(0))
    assert scan.shape == (8, 8) and scan.max() > 0.5
    assert set(np.unique(scan * 16)) <= set(range(17))  # 17 grey levels


def test_rendered_pool_keeps_labels(small_data):
    from digitlab.synth.augment import rendered_pool

    x, y = rendered_pool(small_data.train_x[:30], small_data.train_y[:30], 10, 10, seed=0)
    assert x.shape[1:] == (28, 28) and len(x) == len(y) and 15 <= len(x) <= 20
    assert set(y) <= set(small_data.train_y[:30])


@pytest.mark.parametrize("model_id", ["ann", "cnn"])
def test_shipped_nets_were_trained_with_today_s_pipeline(model_id, tmp_path):
    """Changing a preprocessing parameter without retraining makes this fail, and loading
    weights trained with another pipeline warns."""
    import warnings

    from digitlab.imaging.pipeline import pipeline_version
    from digitlab.models.artifacts import WEIGHTS_DIR
    from digitlab.models.torchnet import PipelineChangedWarning, merged_state

    cls = model_class(model_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PipelineChangedWarning)
        model = cls.load(WEIGHTS_DIR)
    assert model.config["preprocessing"] == pipeline_version()
    names = [f"{model_id}.safetensors", f"{model_id}.json"]
    artifacts.save_tensors(tmp_path / names[0], merged_state(model.members))
    artifacts.save_json(tmp_path / names[1], model.config | {"preprocessing": "0123456789ab"})
    artifacts.record_in_manifest(tmp_path, names)
    with pytest.warns(PipelineChangedWarning, match="retrain"):
        cls.load(tmp_path)
