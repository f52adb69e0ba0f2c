"""DigitLab's exception types: each carries one sentence a person can act on."""


class DigitLabError(Exception):
    """Base class of every error DigitLab raises on purpose."""


class DataError(DigitLabError, RuntimeError):
    """The MNIST data could not be found, fetched or verified."""


class ImageError(DigitLabError, ValueError):
    """An input that is not a usable image (not an image, corrupt, too large, animated...)."""


class ModelError(DigitLabError, ValueError):
    """An unknown model id, or a model artifact that is missing or fails its checksum."""


class NoDigitError(DigitLabError):
    """A readable image in which no digit was found (blank, or only specks)."""


class NotADigitError(DigitLabError):
    """A readable image whose content does not look like a single handwritten digit."""
