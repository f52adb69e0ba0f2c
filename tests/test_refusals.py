"""Refusals per kind of input: the shares ``benchmarks/bench_refusals.py`` stores, and the
README table rendered from them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitlab.answers.inference import Prediction
from digitlab.evaluation import refusals, report


def answer(likeliest: int, refused: bool = False) -> Prediction:
    probabilities = np.full(10, 0.01, np.float32)
    probabilities[likeliest] = 0.91
    return Prediction("cnn", None if refused else likeliest, 0.91, probabilities, False, None)


class ClassInFirstPixel:
    """A stand-in model: the class (0-9, or 10 for "not a digit") is the image's first pixel."""

    id = "fake"
    config = {"not_digit_threshold": 0.5}

    def predict_proba_all(self, batch: np.ndarray) -> np.ndarray:
        return np.eye(11, dtype=np.float32)[batch[:, 0, 0].astype(int)]


def image(value: int) -> np.ndarray:
    picture = np.zeros((28, 28), np.float32)
    picture[0, 0] = value
    return picture


def test_each_digit_is_counted_once_as_blank_refused_misread_or_right():
    labels = [1, 2, 3, 4, 5, 6, 7]
    predictions = [
        answer(1), answer(2),  # right
        answer(9),  # misread
        answer(4, refused=True),  # refused though its likeliest digit was right
        answer(8, refused=True), answer(6, refused=True),  # refused: one wrong, one right
        answer(7),
    ]  # fmt: skip
    tally = refusals.tally_digits(predictions, labels, blank=3)
    assert tally["n"] == 10
    assert tally["blank"] == pytest.approx(0.3)
    assert tally["refused"] == pytest.approx(0.3)
    assert tally["misread"] == pytest.approx(0.1)
    assert tally["refused_right"] == pytest.approx(0.2)
    empty = refusals.tally_digits([], [], blank=0)
    assert empty == {"n": 0, "blank": 0, "refused": 0, "misread": 0, "refused_right": 0}


def test_non_digits_refused_by_the_pipeline_and_by_the_model_add_up():
    predictions = [answer(3, refused=True), answer(3, refused=True), answer(1)]
    tally = refusals.tally_not_digits(predictions, found_nothing=5)
    assert tally["n"] == 8
    assert tally["pipeline"] == pytest.approx(5 / 8) and tally["model"] == pytest.approx(2 / 8)
    assert tally["refused"] == pytest.approx(7 / 8)


def test_blank_images_are_counted_apart_and_the_rest_answered_by_the_model():
    images = [image(3), None, image(10), image(5)]
    tally = refusals.measure_digits(images, [3, 1, 2, 4], ClassInFirstPixel())
    assert tally["n"] == 4
    assert (tally["blank"], tally["refused"], tally["misread"]) == (0.25, 0.25, 0.25)
    assert refusals.measure_digits([None], [1], ClassInFirstPixel())["blank"] == 1.0
    not_digits = refusals.measure_not_digits([None, image(10), image(10), image(1)],
                                             ClassInFirstPixel())  # fmt: skip
    assert (not_digits["pipeline"], not_digits["model"], not_digits["refused"]) == (
        0.25, 0.5, 0.75)  # fmt: skip


def test_the_target_needs_every_kind_of_digit_kept_and_most_non_digits_refused():
    assert refusals.meets_target([0.0, 0.005], [0.9, 0.99])
    assert not refusals.meets_target([0.0, 0.0051], [0.99])
    assert not refusals.meets_target([0.0], [0.95, 0.89])


def figures(refused: float) -> dict:
    return {"n": 400, "blank": 0.01, "refused": refused, "misread": 0.02, "refused_right": 0.0}


def not_digits(model: float) -> dict:
    return {
        "negatives": {"n": 1000, "pipeline": 0.0, "model": model, "refused": model},
        "paper_photos": {"n": 1000, "pipeline": 0.6, "model": model / 3,
                         "refused": 0.6 + model / 3},
    }  # fmt: skip


def stored_record(folder: bool) -> dict:
    models = {
        "logreg": {"userlike": {"photo": figures(0.0), "thin": figures(0.0)},
                   "not_digits": not_digits(0.0)},
        "cnn": {"userlike": {"photo": figures(0.0025), "thin": figures(0.0075)},
                "not_digits": not_digits(0.96)},
    }  # fmt: skip
    if folder:
        for m in models.values():
            m["folder"] = {"drawn": figures(0.0) | {"n": 12}}
    return {"measured_at": "2026-12-05", "command": "bench_refusals.py", "split": "val",
            "n_per_kind": 200, "seeds": [0, 1], "not_digit_seed": 777,
            "kinds": ["photo", "thin"], "folder_kinds": ["drawn"] if folder else None,
            "models": models}  # fmt: skip


@pytest.mark.parametrize("folder", [False, True])
def test_the_table_has_a_row_per_model_and_a_column_per_kind(tmp_path, monkeypatch, folder):
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    (tmp_path / "refusals.json").write_text(json.dumps(stored_record(folder)))
    text = report.RENDERERS["refusals"]()
    lines = text.splitlines()
    header = [cell.strip() for cell in lines[2].strip("|").split("|")]
    kinds = ["photo", "thin", *(["folder drawn"] if folder else [])]
    assert header == ["model", *kinds, "non-digits", "paper photos", "target met"]
    logreg = [cell.strip() for cell in lines[4].strip("|").split("|")]
    cnn = [cell.strip() for cell in lines[5].strip("|").split("|")]
    assert logreg[0] == "Logistic Regression" and logreg[-3:] == ["0.0%", "60.0%", "no"]
    assert cnn[1:3] == ["0.25%", "0.75%"] and cnn[-3:] == ["96.0%", "92.0%", "no"]
    assert "400 validation renders per kind, seeds 0,1" in lines[0]
    assert ("a labelled folder: drawn 12" in lines[0]) == folder
    assert "finds no digit in 60.0%" in text


def test_a_model_within_both_targets_meets_it(tmp_path, monkeypatch):
    record = stored_record(folder=False)
    record["models"]["cnn"]["userlike"]["thin"] = figures(0.005)
    monkeypatch.setattr(report, "RESULTS_DIR", tmp_path)
    report.write_results("refusals", record)
    cnn_row = report.render_refusals().splitlines()[5]
    assert cnn_row.rstrip(" |").endswith("yes")
