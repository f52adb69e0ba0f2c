"""Predict the digit in one image, end to end: decode -> preprocess -> model -> answer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitlab.contract import NO_DIGIT, NOT_A_DIGIT, decide
from digitlab.errors import ModelError, NoDigitError, NotADigitError
from digitlab.models.registry import DEFAULT_MODEL
from digitlab.profiles.adapt import load_model, with_profile


@dataclass(frozen=True)
class Prediction:
    """A model's answer for one image.

    ``digit`` is None when the answer is refused; ``refusal`` then says why, in one sentence:
    ``NO_DIGIT`` (nothing that looks like ink) or ``NOT_A_DIGIT`` (the model judges the ink
    not to be a single digit; ``probabilities`` still holds what it would have answered).
    ``low_confidence`` flags answers whose confidence is under the model's threshold (chosen
    on the validation split). ``image`` is the 28x28 float32 input the model saw (None when
    no digit was found).
    """

    model: str
    digit: int | None
    confidence: float
    probabilities: np.ndarray
    low_confidence: bool
    image: np.ndarray | None
    refusal: str | None = None

    @property
    def found(self) -> bool:
        return self.digit is not None


def resolve_model(model, profile=None):
    """A model id (``"cnn"``) or an already-loaded model object -> (id, model); with
    ``profile`` (a ``Profile`` or a name), the model answering through it."""
    if isinstance(model, str):
        return model, load_model(model, profile=profile)
    model = with_profile(model, profile)
    return model.id, model


def predict_preprocessed_batch(images28: list[np.ndarray], model=DEFAULT_MODEL) -> list[Prediction]:
    """Predict several already-preprocessed 28x28 images in one batch.

    A model with a not-a-digit class (``predict_proba_all``) refuses the images whose
    not-a-digit probability is above its ``not_digit_threshold`` (chosen on validation data).
    """
    model_id, net = resolve_model(model)
    d = decide(checked_probabilities(net, model_id, images28), net.config)
    return [
        Prediction(
            model_id,
            None if d.refused[i] else int(d.digit[i]),
            float(d.confidence[i]),
            d.probabilities[i],
            bool(d.unsure[i]),
            image28,
            NOT_A_DIGIT if d.refused[i] else None,
        )
        for i, image28 in enumerate(images28)
    ]


def checked_probabilities(net, model_id: str, images28) -> np.ndarray:
    """The model's [N,11] (or [N,10]) probabilities, refused if they are not numbers."""
    batch = np.stack([np.asarray(i) for i in images28])
    probabilities = np.asarray(net.predict_proba_all(batch))
    # Checked before the split, which would turn NaN digit scores into a calm 10% each.
    if not np.isfinite(probabilities).all():
        raise ModelError(
            f"The {model_id} model's answer is not a number; its files may be damaged."
        )
    return probabilities


def predict_preprocessed(image28: np.ndarray, model=DEFAULT_MODEL) -> Prediction:
    """Predict from an already-preprocessed 28x28 image (uint8 0-255 or float in [0,1])."""
    return predict_preprocessed_batch([image28], model)[0]


def predict(image, model=DEFAULT_MODEL, raise_refusal: bool = False, profile=None) -> Prediction:
    """Recognise the digit in ``image`` (path, bytes, PIL image or array) with ``model``.

    Raises `digitlab.errors.ImageError` for input that is not a usable image. A blank image,
    or one the model judges not to be a single digit, gives a Prediction with ``digit=None``
    and the reason in ``refusal``; with ``raise_refusal=True`` they raise ``NoDigitError`` and
    ``NotADigitError`` instead. ``profile`` (a ``digitlab.Profile`` or a profile's name):
    answer through that person's taught digits.
    """
    from digitlab.imaging.pipeline import preprocess

    model_id, net = resolve_model(model, profile)
    try:
        image28 = preprocess(image)
    except NoDigitError:
        if raise_refusal:
            raise
        return Prediction(model_id, None, 0.0, np.zeros(10, np.float32), False, None, NO_DIGIT)
    prediction = predict_preprocessed(image28, net)
    if raise_refusal and prediction.refusal == NOT_A_DIGIT:
        raise NotADigitError(NOT_A_DIGIT)
    return prediction
