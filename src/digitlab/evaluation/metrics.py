"""The one definition of accuracy every evaluation uses."""

from __future__ import annotations

from collections.abc import Sequence


def accuracy(answers: Sequence, labels: Sequence) -> float:
    """The share of ``answers`` equal to their label; a refusal (``None``) counts as wrong.

    On MNIST and the user-like renders the answers are the models' top classes, the refusal
    rule not applied, so nothing there is refused; on a labelled folder a refused or
    unreadable image is ``None``.
    """
    if len(answers) != len(labels) or len(labels) == 0:
        raise ValueError(f"accuracy needs as many answers as labels, and some ({len(labels)})")
    right = sum(a is not None and a == y for a, y in zip(answers, labels, strict=True))
    return right / len(labels)
