"""The ensemble rule and several models on one image, without Streamlit."""

from __future__ import annotations

import numpy as np

from digitlab.answers.agreement import Agreement, agreement, names
from digitlab.answers.compare import loaded_models, predictions_for
from digitlab.answers.inference import Prediction, predict_preprocessed
from digitlab.models.registry import load_model, model_ids


def said(
    model_id: str, digit: int | None, unsure: bool = False, confidence: float = 0.9
) -> Prediction:
    return Prediction(model_id, digit, confidence, np.full(10, 0.1), unsure, None)


def test_agreement_is_green_only_when_all_agree_and_are_sure_and_names_the_unsure():
    sure = {m: said(m, 3) for m in model_ids()}
    assert agreement(sure) == (3, "success", "All 4 models agree: 3.", [], "3")
    unsure = sure | {"knn": said("knn", 3, unsure=True), "ann": said("ann", 3, unsure=True)}
    best, level, message, unnamed, _ = agreement(unsure)
    assert (
        level == "warning"
        and unnamed == []
        and message.endswith("but k-Nearest Neighbours and ANN (multilayer perceptron) are unsure.")
    )
    split = unsure | {"logreg": said("logreg", 5)}
    assert agreement(split) == (
        3, "warning", "The models disagree: 3 of 4 say 3.", ["knn", "ann"], "3"
    )  # fmt: skip
    refused = sure | {"cnn": said("cnn", None)}
    assert agreement(refused).level == "warning"


def test_a_tie_is_a_split_headlined_with_both_answers_the_more_confident_first():
    tie = {"cnn": said("cnn", 1), "ann": said("ann", 7, confidence=0.95)}
    assert agreement(tie) == Agreement(
        None, "warning", "The models disagree: 1 of 2 says 7, 1 says 1.", [], "7 or 1?"
    )
    none = {m: said(m, None) for m in ("cnn", "ann")}
    assert agreement(none).best is None and agreement(none).level == "warning"
    assert agreement(none).headline == "not a digit"
    half = agreement({"cnn": said("cnn", 4), "ann": said("ann", None)})
    assert (half.best, half.headline) == (None, "4 or not a digit?")
    assert half.message == "The models disagree: 1 of 2 says 4, 1 says not a digit."
    assert agreement({"cnn": said("cnn", 4)}).level == "info"


def test_the_headline_is_never_a_minority_answer():
    """The issue's letter A: Logistic Regression reads 2 at 58%, the other three refuse."""
    letter_a = {m: said(m, None) for m in model_ids()} | {
        "logreg": said("logreg", 2, confidence=0.58)
    }
    result = agreement(letter_a)
    assert (result.best, result.headline, result.level) == (None, "not a digit", "warning")
    assert result.message == "3 of 4 models say: This doesn't look like a single digit."
    # Two refuse, two read 4: no majority either way, and the headline says so.
    board = {m: said(m, None) for m in model_ids()} | {"cnn": said("cnn", 4), "ann": said("ann", 4)}
    assert (agreement(board).best, agreement(board).headline) == (None, "4 or not a digit?")
    # Three read 5 and one refuses: 5, with the refusal said.
    most = {m: said(m, 5) for m in model_ids()} | {"knn": said("knn", None)}
    assert (agreement(most).best, agreement(most).headline) == (5, "5")
    assert "1 of 4 say: This doesn't look" in agreement(most).message
    # A 2-2 split between digits.
    split = {"cnn": said("cnn", 3), "ann": said("ann", 3), "knn": said("knn", 5)}
    split |= {"logreg": said("logreg", 5, confidence=0.5)}
    assert agreement(split).headline == "3 or 5?" and agreement(split).best is None


def test_a_majority_that_is_all_unsure_is_headlined_with_a_question_mark():
    unsure = {m: said(m, 8, unsure=True) for m in model_ids()}
    result = agreement(unsure)
    assert (result.best, result.headline, result.level) == (8, "8?", "warning")
    assert "unsure" in result.message
    one_sure = unsure | {"cnn": said("cnn", 8)}
    assert agreement(one_sure).headline == "8"


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
