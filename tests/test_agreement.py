"""The ensemble rule and several models on one image, without Streamlit."""

from __future__ import annotations

import numpy as np

from digitlab.answers.agreement import Agreement, agreement, names
from digitlab.answers.compare import loaded_models, predictions_for
from digitlab.answers.inference import Prediction, predict_preprocessed
from digitlab.models.registry import load_model, model_ids


def said(model_id: str, digit: int | None, unsure: bool = False) -> Prediction:
    return Prediction(model_id, digit, 0.9, np.full(10, 0.1), unsure, None)


def test_agreement_is_green_only_when_all_agree_and_are_sure_and_names_the_unsure():
    sure = {m: said(m, 3) for m in model_ids()}
    assert agreement(sure) == (3, "success", "All 4 models agree: 3.", [])
    unsure = sure | {"knn": said("knn", 3, unsure=True), "ann": said("ann", 3, unsure=True)}
    best, level, message, unnamed = agreement(unsure)
    assert (
        level == "warning"
        and unnamed == []
        and message.endswith("but k-Nearest Neighbours and ANN (multilayer perceptron) are unsure.")
    )
    split = unsure | {"logreg": said("logreg", 5)}
    assert agreement(split) == (3, "warning", "The models disagree: 3 of 4 say 3.", ["knn", "ann"])
    refused = sure | {"cnn": said("cnn", None)}
    assert agreement(refused).level == "warning"


def test_a_tie_goes_to_the_larger_summed_confidence_and_refusals_are_counted():
    tie = {"cnn": said("cnn", 1), "ann": Prediction("ann", 7, 0.95, np.full(10, 0.1), False, None)}
    assert agreement(tie) == Agreement(7, "warning", "The models disagree: 1 of 2 say 7.", [])
    none = {m: said(m, None) for m in ("cnn", "ann")}
    assert agreement(none).best is None and agreement(none).level == "warning"
    assert "1 of 2 models say" in agreement({"cnn": said("cnn", 4), "ann": said("ann", None)})[2]
    assert agreement({"cnn": said("cnn", 4)}).level == "info"


def test_names_read_as_in_a_sentence():
    assert names(["cnn"]) == "CNN"
    assert names(["cnn", "logreg", "knn"]).count(" and ") == 1


def test_predictions_for_answers_with_each_model_that_loads():
    def load(model_id: str):
        if model_id == "knn":
            return None, "k-NN is not available: no weights."
        return load_model(model_id), None

    models, missing = loaded_models(["logreg", "knn"], load)
    assert list(models) == ["logreg"] and missing == {"knn": "k-NN is not available: no weights."}
    image28 = np.zeros((28, 28), np.float32)
    image28[6:22, 13:15] = 1.0  # a one
    answers = predictions_for(image28, models)
    assert list(answers) == ["logreg"]
    alone = predict_preprocessed(image28, models["logreg"])
    assert (answers["logreg"].digit, answers["logreg"].confidence) == (
        alone.digit,
        alone.confidence,
    )
    assert np.array_equal(answers["logreg"].probabilities, alone.probabilities)
