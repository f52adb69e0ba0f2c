"""The not-a-digit threshold holds on every kind of upload, and can be chosen again for
trained weights without training them again."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from digitlab.contract import (
    MAX_VALIDATION_DIGITS_REFUSED,
    MIN_VALIDATION_NEGATIVES_REFUSED,
    not_digit_threshold,
)
from digitlab.evaluation.mnist import evaluate_model, metrics_path
from digitlab.models import artifacts
from digitlab.models.registry import model_class
from digitlab.synth.userlike import KINDS
from digitlab.training.data import training_data
from digitlab.training.train import recalibrate_model

SMALL_PROBE = {"rendered": 20, "coarse": 10, "styled": 20, "negative": 40, "uploads": 4}


def test_a_kind_whose_digits_look_less_like_digits_raises_the_threshold_for_itself():
    rng = np.random.default_rng(0)
    plain = rng.uniform(0.0, 0.3, 2000)  # clean digits: never near refusal
    desk = rng.uniform(0.0, 0.9, 400)  # photos of a sheet on a desk: some look doubtful
    negatives = rng.uniform(0.92, 1.0, 1000)
    alone = not_digit_threshold(plain, negatives)
    assert alone["not_digit_threshold"] == 0.5  # never below "not a digit" being likeliest
    assert np.mean(desk > alone["not_digit_threshold"]) > 0.3  # what a single rule costs desks
    held = not_digit_threshold(plain, negatives, {"desk": desk, "canvas": plain[:400]})
    assert held["val_kinds_refused"]["desk"] <= MAX_VALIDATION_DIGITS_REFUSED
    assert held["val_kinds_refused"]["canvas"] == 0.0
    assert held["val_negatives_refused"] >= MIN_VALIDATION_NEGATIVES_REFUSED
    assert "val_kinds_refused" not in alone


def test_non_digits_stay_refused_when_a_kind_cannot_be_spared_and_the_cost_is_reported():
    rng = np.random.default_rng(1)
    plain, desk = rng.uniform(0.0, 0.3, 2000), rng.uniform(0.0, 0.9, 400)
    negatives = rng.uniform(0.6, 1.0, 1000)  # some non-digits look as doubtful as desks
    held = not_digit_threshold(plain, negatives, {"desk": desk})
    assert held["val_negatives_refused"] >= MIN_VALIDATION_NEGATIVES_REFUSED
    assert held["val_kinds_refused"]["desk"] > MAX_VALIDATION_DIGITS_REFUSED  # said, not hidden
    assert held["val_kinds_refused"]["desk"] == np.mean(desk > held["not_digit_threshold"])


def test_a_kind_beyond_reach_does_not_let_more_non_digits_through():
    rng = np.random.default_rng(2)
    plain, scan = rng.uniform(0.0, 0.3, 2000), rng.uniform(0.0, 0.7, 400)
    desk = np.concatenate([rng.uniform(0.0, 0.3, 380), rng.uniform(0.97, 1.0, 20)])  # 5% lost
    negatives = rng.uniform(0.75, 1.0, 1000)
    held = not_digit_threshold(plain, negatives, {"scan": scan, "desk": desk})
    assert held["not_digit_threshold"] == pytest.approx(np.quantile(scan, 0.995))  # scans held
    assert held["val_kinds_refused"]["scan"] <= MAX_VALIDATION_DIGITS_REFUSED
    assert held["val_kinds_refused"]["desk"] >= 0.04  # desks pay, and it is said
    assert held["val_negatives_refused"] > 0.95  # not only the floor of 90%


@pytest.fixture(scope="module")
def data():
    return training_data(limit=2000)


def test_the_upload_probe_holds_validation_digits_of_every_kind_read_by_the_pipeline(data):
    assert data.upload_probe({"uploads": 0}) == {}
    probe = data.upload_probe({"uploads": 3})
    assert tuple(probe) == KINDS
    for images in probe.values():
        assert images.shape[1:] == (28, 28) and 1 <= len(images) <= 3
        assert images.dtype == np.float32 and images.min() >= 0.0 and images.max() <= 1.0
        assert (images.reshape(len(images), -1).max(1) > 0.5).all()  # ink, not blanks
    assert data.upload_probe({"uploads": 3}) is not probe  # a dict each time...
    again = data.upload_probe({"uploads": 3})
    assert all(again[k] is probe[k] for k in KINDS)  # ...of the arrays made once


def test_thresholds_are_chosen_again_without_training(data, quick_models, tmp_path):
    _, shipped = quick_models["cnn"]
    weights = tmp_path / "weights"
    shutil.copytree(shipped, weights)
    model = model_class("cnn").load(weights)
    trained = model.net.state_dict()
    metrics = metrics_path("cnn", weights)
    artifacts.save_json(metrics, evaluate_model("cnn", weights, model=model) | {"seed": 7})
    artifacts.record_in_manifest(weights, [metrics.name])

    result = recalibrate_model("cnn", data, weights, SMALL_PROBE)
    again = model_class("cnn").load(weights)  # its files still match the manifest
    assert set(again.config["val_kinds_refused"]) == set(KINDS)
    assert 0.05 <= again.config["temperature"] <= 20.0  # fitted first, on the same digits
    for name, tensor in again.net.state_dict().items():
        assert (tensor == trained[name]).all(), name  # the weights themselves are untouched
    stored = artifacts.load_json(weights, metrics.name)
    assert stored["seed"] == 7 and "recalibrated_at" in stored  # what training wrote is kept
    assert stored["accuracy"] == result["accuracy"]
    # Again: the temperature is fitted to the raw logits, never on top of the last one.
    recalibrate_model("cnn", data, weights, SMALL_PROBE)
    twice = model_class("cnn").load(weights).config
    for key in ("temperature", "not_digit_threshold", "low_confidence_threshold"):
        assert twice[key] == pytest.approx(again.config[key], rel=1e-6), key


def test_a_trained_net_has_its_temperature_fitted_on_validation(data, quick_models):
    """Training ends by fitting the net's temperature: at it, the validation digits' log-loss
    is no higher than at the softmax as trained, or at any temperature a little off it."""
    from digitlab.models.torchnet import member_logits, softened

    model, _ = quick_models["cnn"]
    t = model.config["temperature"]
    logits = member_logits(model.members, data.val_x)
    labels = np.asarray(data.val_y, np.int64)

    def loss(temperature: float) -> float:
        p = softened(logits, temperature)[np.arange(len(labels)), labels]
        return float(-np.mean(np.log(p)))

    assert loss(t) <= min(loss(1.0), loss(t * 1.1), loss(t / 1.1)) + 1e-9
    assert np.allclose(model.predict_proba_all(data.val_x[:5]), softened(logits[:, :5], t),
                       atol=1e-5)  # fmt: skip
