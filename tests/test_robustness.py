"""The robustness evaluation: table format always, real numbers when models are trained."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.robustness import evaluate_robustness, format_table, preprocess_or_blank


def test_format_table_has_a_row_per_model_and_pipeline():
    result = {
        "kinds": ["photo", "lowres"],
        "accuracy": {
            "cnn": {"ours": {"photo": 0.99, "lowres": 0.95}, "naive": {"photo": 0.2, "lowres": 0.3}}
        },
    }
    table = format_table(result).splitlines()
    assert table[0] == "| model | pipeline | photo | lowres |"
    assert "| cnn | ours | 99.0 | 95.0 |" in table and "| cnn | naive | 20.0 | 30.0 |" in table


def test_unreadable_images_count_as_blank():
    assert not preprocess_or_blank(b"not an image").any()


@pytest.mark.slow
def test_evaluate_robustness_with_a_trained_model():
    result = evaluate_robustness(["logreg"], n_per_kind=5, seed=0)
    accuracy = result["accuracy"]["logreg"]
    assert set(accuracy) == {"ours", "naive"}
    assert all(0.0 <= value <= 1.0 for value in accuracy["ours"].values())
    assert np.mean(list(accuracy["ours"].values())) > np.mean(list(accuracy["naive"].values()))
