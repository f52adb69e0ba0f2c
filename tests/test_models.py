"""Each model's interface on a small subset: train briefly, save, reload, predict."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from digitlab import artifacts
from digitlab.augment import AugmentConfig, augment_batch
from digitlab.errors import ImageError, ModelError
from digitlab.features import as_float_images, deskew, gaussian_blur
from digitlab.models.base import low_confidence_threshold, training_data
from digitlab.models.registry import DISPLAY_NAMES, MODEL_IDS, load_model, model_class

# Fast settings per model: enough to learn something on 2,000 images in a few seconds.
SMALL_POOL = {"pipeline": 40, "coarse": 40, "styled": 60, "negative": 60}
EXTRA = {"styled": 60, "negative": 60}
QUICK = {
    "logreg": {"c_choices": (0.1,), "extra": EXTRA},
    "knn": {"sigmas": (0.75,), "dims": (30,), "ks": (3,), "extra": EXTRA},
    "ann": {"epochs": 2, "hidden": [64], "patience": 2, "pool": SMALL_POOL},
    "cnn": {"epochs": 3, "width": 8, "hidden": 32, "patience": 3, "pool": SMALL_POOL},
}


@pytest.fixture(scope="module")
def small_data():
    return training_data(limit=2000)


@pytest.fixture(scope="module")
def trained(small_data, tmp_path_factory):
    """Each model trained quickly on 2,000 images and saved to its own weights dir."""
    out = {}
    for model_id in MODEL_IDS:
        weights_dir = tmp_path_factory.mktemp(model_id)
        model = model_class(model_id).train(small_data, seed=0, **QUICK[model_id])
        artifacts.record_in_manifest(weights_dir, model.save(weights_dir))
        out[model_id] = (model, weights_dir)
    return out


def test_registry_names_and_unknown_id():
    assert DISPLAY_NAMES == {
        "logreg": "Logistic Regression",
        "knn": "k-Nearest Neighbours",
        "ann": "ANN (multilayer perceptron)",
        "cnn": "CNN",
    }
    with pytest.raises(ModelError, match="Unknown model"):
        load_model("svm")


@pytest.mark.parametrize("model_id", MODEL_IDS)
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
    assert model.config["val_digits_refused"] <= 0.01


@pytest.mark.parametrize("model_id", MODEL_IDS)
def test_save_load_round_trip(trained, small_data, model_id):
    model, weights_dir = trained[model_id]
    loaded = model_class(model_id).load(weights_dir)
    x = small_data.val_x[:20]
    assert np.allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-5)
    assert loaded.config == json.loads(json.dumps(model.config))


@pytest.mark.parametrize("model_id", MODEL_IDS)
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


def test_knn_neighbours_index_the_training_set(trained):
    from digitlab.data import load_mnist

    model, _ = trained["knn"]
    train_images, train_labels = load_mnist("train")
    dist, idx, labels = model.kneighbors(train_images[:3], k=2)
    assert idx.shape == (3, 2) and (idx[:, 0] == [0, 1, 2]).all()  # itself, at distance ~0
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
    from digitlab.augment import coarse_scan
    from digitlab.data import load_mnist

    digit = load_mnist("train")[0][0]
    scan = coarse_scan(digit, 8, np.random.default_rng(0))
    assert scan.shape == (8, 8) and scan.max() > 0.5
    assert set(np.unique(scan * 16)) <= set(range(17))  # 17 grey levels


def test_rendered_pool_keeps_labels(small_data):
    from digitlab.augment import rendered_pool

    x, y = rendered_pool(small_data.train_x[:30], small_data.train_y[:30], 10, 10, seed=0)
    assert x.shape[1:] == (28, 28) and len(x) == len(y) and 15 <= len(x) <= 20
    assert set(y) <= set(small_data.train_y[:30])
