"""Several images at once: how many each model got right, once someone marks the true digits.

The answers stay typed (a digit, or None when a model refused or never read the file) next to
the table people see, so nothing here reads a digit back out of display text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from digitlab.answers.inference import Prediction

TRUE_DIGIT = "True digit"
NOT_READ = "-"  # the cell of a model that never read the file
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def answer_cell(prediction: Prediction) -> str:
    """A model's answer in the batch table: "7", "7 (unsure)" or "none" (not a digit)."""
    if prediction.digit is None:
        return "none"
    return f"{prediction.digit} (unsure)" if prediction.low_confidence else str(prediction.digit)


def is_marked(true_digit: object) -> bool:
    return true_digit is not None and not pd.isna(true_digit)


def accuracy_summary(
    answers: Mapping[str, Sequence[int | None]], true_digits: Sequence[object]
) -> pd.DataFrame:
    """Per model (``answers``: its name -> its digit per file, None for no answer), over the
    files whose true digit is marked (None or NA: not marked): how many it got right."""
    marked = [i for i, t in enumerate(true_digits) if is_marked(t)]
    rows = []
    for name, digits in answers.items():
        right = sum(digits[i] == int(true_digits[i]) for i in marked)
        share = f"{right / len(marked):.0%}" if marked else "no marks yet"
        rows.append({"Model": name, "Marked": len(marked), "Right": right, "Accuracy": share})
    return pd.DataFrame(rows)


def spreadsheet_cell(value: object) -> object:
    """A cell a spreadsheet shows as text, never runs: text starting like a formula (``= + - @``,
    tab or CR, as a file name may) gets a leading quote, as spreadsheet-safe exporters do."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell and header neutralised by ``spreadsheet_cell``."""
    safe = frame.map(spreadsheet_cell)
    safe.columns = [spreadsheet_cell(c) for c in frame.columns]
    return safe


def answers_table(
    files: Sequence[str],
    predictions: Sequence[Mapping[str, Prediction]],
    notes: Sequence[str],
    true_digits: Sequence[object],
) -> pd.DataFrame:
    """One tidy row per file: its name, its true digit (when marked), then per model (by id)
    its digit (empty when refused or not read), confidence, whether it is unsure and its ten
    probabilities, then the note. Numbers stay numbers, so it loads straight into pandas."""
    model_ids = list(dict.fromkeys(m for answered in predictions for m in answered))
    rows = []
    for name, answered, note, truth in zip(files, predictions, notes, true_digits, strict=True):
        marked = int(truth) if is_marked(truth) else None
        row: dict[str, object] = {"file": name, "true_digit": marked}
        for m in model_ids:
            p = answered.get(m)
            row[f"{m}_digit"] = None if p is None else p.digit
            row[f"{m}_confidence"] = None if p is None else round(float(p.confidence), 6)
            row[f"{m}_unsure"] = None if p is None or p.digit is None else p.low_confidence
            for d in range(10):
                row[f"{m}_p{d}"] = None if p is None else round(float(p.probabilities[d]), 6)
        rows.append(row | {"note": note})
    table = pd.DataFrame(rows, columns=list(rows[0]) if rows else ["file", "true_digit", "note"])
    digit_columns = ["true_digit", *(f"{m}_digit" for m in model_ids)]
    table[digit_columns] = table[digit_columns].astype("Int64")
    return table


def safe_csv(frame: pd.DataFrame) -> bytes:
    """``frame`` as CSV that no spreadsheet runs (``spreadsheet_safe``). Lines end in CRLF
    (RFC 4180), so a cell holding a CR or LF is quoted and can never start a forged row."""
    return spreadsheet_safe(frame).to_csv(index=False, lineterminator="\r\n").encode()
