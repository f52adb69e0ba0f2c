"""Several models on one image: the ones that load, and each one's answer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from digitlab.answers.inference import Prediction, predict_preprocessed
from digitlab.models.base import DigitModel

# (model, None) when the model can be used, else (None, a sentence saying why not).
ModelOrWhyNot = tuple[DigitModel | None, str | None]


def loaded_models(
    model_ids: list[str], load: Callable[[str], ModelOrWhyNot]
) -> tuple[dict[str, DigitModel], dict[str, str]]:
    """({id: model} for the models that ``load`` gives, {id: why not} for the others)."""
    loaded = {model_id: load(model_id) for model_id in model_ids}
    models = {m: model for m, (model, _) in loaded.items() if model is not None}
    return models, {m: why_not for m, (model, why_not) in loaded.items() if model is None}


def predictions_for(image28: np.ndarray, models: dict[str, DigitModel]) -> dict[str, Prediction]:
    """Each model's answer for one preprocessed 28x28 image, in the order of ``models``."""
    return {m: predict_preprocessed(image28, model) for m, model in models.items()}


def shown_probabilities(prediction: Prediction) -> np.ndarray | None:
    """The ten probabilities to show for a model's answer, the same in every view.

    A refusing model's probabilities are what it would say if it had to pick a digit; None
    when it has nothing to say at all: all its evidence was for "not a digit" (a k-NN whose
    neighbours are all non-digits), and an even 10% per digit would only be a made-up spread.
    """
    values = np.asarray(prediction.probabilities, np.float64)
    if prediction.digit is None and (values.sum() == 0 or np.ptp(values) < 1e-6):
        return None
    return prediction.probabilities
