"""The robustness evaluation: table format always, real numbers when models are trained."""

from __future__ import annotations

import json

import numpy as np
import pytest

from digitlab.evaluation.renders import (
    evaluate_robustness,
    format_table,
    parse_seeds,
    preprocess_or_blank,
    table_header,
)


def a_result(seeds: list[int]) -> dict:
    return {
        "split": "val",
        "kinds": ["photo", "lowres"],
        "imitated_by_training": ["lowres"],
        "n_per_kind": 100,
        "seeds": seeds,
        "accuracy": {
            "cnn": {"ours": {"photo": 0.99, "lowres": 0.95}, "naive": {"photo": 0.2, "lowres": 0.3}}
        },
        "min": {
            "cnn": {"ours": {"photo": 0.98, "lowres": 0.9}, "naive": {"photo": 0.1, "lowres": 0.3}}
        },
        "max": {
            "cnn": {"ours": {"photo": 1.0, "lowres": 0.97}, "naive": {"photo": 0.3, "lowres": 0.3}}
        },
    }


def test_format_table_has_a_row_per_model_and_pipeline_with_mean_and_spread():
    table = format_table(a_result([0, 1, 2])).splitlines()
    assert table[0] == "| model | pipeline | photo | lowres* |"
    assert "| cnn | ours | 99.0 (98.0-100.0) | 95.0 (90.0-97.0) |" in table
    assert "| cnn | naive | 20.0 (10.0-30.0) | 30.0 (30.0-30.0) |" in table


def test_one_seed_shows_the_accuracy_alone():
    assert "| cnn | ours | 99.0 | 95.0 |" in format_table(a_result([0])).splitlines()


def test_header_says_the_split_the_seeds_and_what_training_imitates():
    header = table_header(a_result([0, 1, 2]))
    assert "validation digits" in header and "0,1,2" in header
    assert "lowres" in header and "not out of distribution" in header
    assert "test digits" in table_header(a_result([0]) | {"split": "test"})


def test_seeds_are_parsed_from_a_comma_separated_list():
    assert parse_seeds("0,1,2") == (0, 1, 2) and parse_seeds("7") == (7,)
    with pytest.raises(Exception, match="integers"):
        parse_seeds("0,one")


def test_unreadable_images_count_as_blank():
    assert not preprocess_or_blank(b"not an image").any()


STATISTICS = ("accuracy", "min", "max")


@pytest.mark.slow
def test_evaluate_robustness_with_a_trained_model_over_seeds():
    result = evaluate_robustness(["logreg"], n_per_kind=5, seeds=(0, 1), split="val")
    assert result["seeds"] == [0, 1] and result["split"] == "val"
    assert "desk" in result["kinds"] and result["imitated_by_training"] == ["lowres", "coarse16"]
    for pipeline in ("ours", "naive"):
        for kind in result["kinds"]:
            per_seed = result["per_seed"]["logreg"][pipeline][kind]
            mean, low, high = (result[name]["logreg"][pipeline][kind] for name in STATISTICS)
            assert len(per_seed) == 2 and mean == pytest.approx(np.mean(per_seed))
            assert low <= mean <= high
    ours, naive = result["accuracy"]["logreg"]["ours"], result["accuracy"]["logreg"]["naive"]
    assert np.mean(list(ours.values())) > np.mean(list(naive.values()))


@pytest.mark.slow
def test_evaluate_real_command_reports_the_split_and_seeds(capsys):
    from digitlab.cli.main import main

    assert main(["evaluate-real", "--model", "logreg", "--n", "2", "--seeds", "0,1",
                 "--split", "test", "--json"]) == 0  # fmt: skip
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "test" and result["seeds"] == [0, 1] and result["n_per_kind"] == 2
    assert main(["evaluate-real", "--model", "logreg", "--n", "2", "--seeds", "3"]) == 0
    printed = capsys.readouterr().out
    assert "| logreg | ours |" in printed and "lowres*" in printed and "validation" in printed
