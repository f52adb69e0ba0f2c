"""Calibration figures: the ECE and its bins, what "unsure" means as an error rate, and the
stored figures that the app shows only for the weights they were measured on."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitlab.answers.inference import Prediction
from digitlab.evaluation import calibration, report
from digitlab.models.registry import model_ids


def answer(digit, confidence, low=False, refused=False):
    probabilities = np.full(10, (1 - confidence) / 9, np.float32)
    probabilities[digit] = confidence
    return Prediction("cnn", None if refused else digit, confidence, probabilities, low, None)


def test_a_calibrated_model_has_no_error_and_an_overconfident_one_has_its_gap():
    confidence = np.full(1000, 0.8)
    right = np.arange(1000) < 800
    ece, bins = calibration.reliability(confidence, right)
    assert ece == pytest.approx(0.0)
    assert bins == [{"from": 0.8, "count": 1000, "confidence": 0.8, "accuracy": 0.8}]
    ece, _ = calibration.reliability(np.ones(10), np.arange(10) < 5)
    assert ece == pytest.approx(0.5)
    # Two bins, weighted by how many answers each holds.
    ece, bins = calibration.reliability(np.r_[np.full(3, 0.95), np.full(1, 0.55)],
                                        np.array([True, True, True, True]))  # fmt: skip
    assert [b["count"] for b in bins] == [1, 3]
    assert ece == pytest.approx(0.75 * 0.05 + 0.25 * 0.45)
    assert calibration.reliability(np.zeros(0), np.zeros(0, bool)) == (0.0, [])


def test_sure_and_unsure_answers_have_their_own_error_rates_and_refusals_neither():
    labels = np.array([1, 1, 1, 1, 2, 2, 3, 3])
    answers = [
        answer(1, 0.99), answer(1, 0.99), answer(1, 0.99), answer(7, 0.98),  # sure: 1 of 4 wrong
        answer(2, 0.5, low=True), answer(5, 0.4, low=True),  # unsure: 1 of 2 wrong
        answer(3, 0.9, refused=True), answer(3, 0.9, refused=True),
    ]  # fmt: skip
    figures = calibration.measure(answers, labels)
    assert figures["sure_share"] == 0.5 and figures["sure_wrong"] == 0.25
    assert figures["unsure_share"] == 0.25 and figures["unsure_wrong"] == 0.5
    assert figures["refused"] == 0.25
    assert sum(b["count"] for b in figures["bins"]) == len(labels)


def test_the_stored_figures_are_those_of_the_shipped_weights():
    """``benchmarks/bench_calibration.py`` was run on the weights that ship: retrained
    weights without a new run of it would make the app show another model's figures."""
    record = report.read_results("calibration")
    for model_id in model_ids():
        figures = calibration.trust(model_id)
        assert figures is not None, f"{model_id}: calibration.json is stale, rerun the benchmark"
        assert figures["ece"] == record["models"][model_id]["ece"]
        sentence = calibration.trust_sentence(model_id, "It")
        assert f"{figures['sure_wrong']:.2%}" in sentence


def test_the_nets_temperature_scaling_brought_their_confidence_closer_to_the_truth():
    """The stored figures of each net at its fitted temperature and at temperature 1 (the
    softmax as trained): fitted on the validation digits' log-loss, the temperature also
    leaves their ECE no worse than before (on these same digits) and at most 2%."""
    from digitlab.models.registry import load_model

    for model_id in ("ann", "cnn"):
        figures = calibration.trust(model_id)
        assert figures["temperature"] == load_model(model_id).config["temperature"]
        assert figures["ece"] <= min(figures["untempered"]["ece"], 0.02)
        assert sum(b["count"] for b in figures["untempered"]["bins"]) == figures["digits"]


def test_figures_for_other_weights_are_not_shown(tmp_path, monkeypatch):
    record = report.read_results("calibration")
    record["models"]["cnn"]["weights"] = "cnn.safetensors=" + "0" * 64
    (tmp_path / "calibration.json").write_text(json.dumps(record))
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    assert calibration.trust("cnn") is None
    assert calibration.trust_sentence("cnn", "CNN") == ""
    assert calibration.trust("run:someone's-net") is None
    (tmp_path / "calibration.json").write_text("{ not json")
    assert calibration.trust("cnn") is None
