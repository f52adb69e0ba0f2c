"""DigitLab: handwritten digit recognition you can trust with your own handwriting.

The public API::

    images, labels = digitlab.load_mnist("test")
    model = digitlab.load_model("cnn")           # any of digitlab.model_ids()
    model.predict_proba(images)                   # [N,10] probabilities
    x = digitlab.preprocess("my_digit.jpg")       # float32 [28,28], MNIST-style
    digitlab.predict("my_digit.jpg", model="cnn") # Prediction(digit=..., confidence=...)
    digitlab.read_number("house.jpg")             # NumberReading(text="2026", digits=[...])
    me = digitlab.Profile.open("me")              # your handwriting, taught digit by digit
    me.teach("my_seven.jpg", 7)
    digitlab.predict("another_seven.jpg", profile=me)

Names are imported on first use, so ``import digitlab`` stays fast (no torch until needed).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "preprocess": "digitlab.imaging.pipeline",
    "load_mnist": "digitlab.data.mnist",
    "load_model": "digitlab.profiles.adapt",
    "predict": "digitlab.answers.inference",
    "Prediction": "digitlab.answers.inference",
    "read_number": "digitlab.answers.number",
    "Profile": "digitlab.profiles.store",
    "ProfileError": "digitlab.profiles.store",
    "DigitLabError": "digitlab.errors",
    "DigitModel": "digitlab.models.base",
    "ImageError": "digitlab.errors",
    "NoDigitError": "digitlab.errors",
    "NotADigitError": "digitlab.errors",
    "ModelError": "digitlab.errors",
    "model_ids": "digitlab.models.registry",
    "display_name": "digitlab.models.registry",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'digitlab' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
