"""The batch table's accuracy, on typed answers, without Streamlit."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from digitlab.answers.inference import Prediction
from digitlab.evaluation.batch import accuracy_summary, answer_cell, answers_table, safe_csv


def said(digit, unsure=False, model="cnn"):
    probabilities = np.full(10, 0.05)
    probabilities[7] = 0.55
    return Prediction(model, digit, 0.55 if digit is not None else 0.2, probabilities, unsure, None)


def test_marked_true_digits_give_an_accuracy_summary_in_its_own_csv():
    true_digits = pd.array([7, 1, None], dtype="Int64")
    answers = {"CNN": [7, 1, None], "k-NN": [7, 7, None]}  # what the cells show
    summary = accuracy_summary(answers, list(true_digits))
    assert summary.to_dict("records") == [
        {"Model": "CNN", "Marked": 2, "Right": 2, "Accuracy": "100%"},
        {"Model": "k-NN", "Marked": 2, "Right": 1, "Accuracy": "50%"},
    ]
    totals = safe_csv(summary).decode()
    assert totals.splitlines() == ["Model,Marked,Right,Accuracy", "CNN,2,2,100%", "k-NN,2,1,50%"]


def test_the_answers_csv_is_one_tidy_table_that_loads_straight_into_pandas():
    predictions = [{"cnn": said(7), "knn": said(7, model="knn")},
                   {"cnn": said(1, unsure=True), "knn": said(7, model="knn")},
                   {"cnn": said(None)}]  # fmt: skip  # k-NN never read the third
    table = answers_table(["a.png", "b.png", "c.png"], predictions, ["", "", "a note"],
                          [7, None, pd.NA])  # fmt: skip
    loaded = pd.read_csv(io.BytesIO(safe_csv(table)))
    assert len(loaded) == 3 and list(loaded.columns[:4]) == [
        "file",
        "true_digit",
        "cnn_digit",
        "cnn_confidence",
    ]
    assert [f"cnn_p{d}" for d in range(10)] + ["knn_digit"] == [
        c for c in loaded.columns if c.startswith("cnn_p") or c == "knn_digit"
    ]
    assert loaded["cnn_digit"].tolist()[:2] == [7, 1] and pd.isna(loaded["cnn_digit"][2])
    assert loaded["true_digit"].tolist()[0] == 7 and loaded["true_digit"][1:].isna().all()
    assert loaded["cnn_unsure"].tolist()[:2] == [False, True]
    assert loaded["cnn_p7"].tolist() == [0.55] * 3 and loaded["knn_confidence"].isna()[2]
    assert loaded.filter(like="cnn_p").sum(axis=1).round(6).tolist() == [1.0] * 3
    assert loaded["note"].fillna("").tolist() == ["", "", "a note"]
    assert "Model" not in safe_csv(table).decode()  # the summary is a download of its own


def test_no_marks_yet_and_refusals_never_count_as_right():
    summary = accuracy_summary({"CNN": [None, 3]}, [None, pd.NA])
    assert summary.to_dict("records") == [
        {"Model": "CNN", "Marked": 0, "Right": 0, "Accuracy": "no marks yet"}
    ]
    refused = accuracy_summary({"CNN": [None]}, [0])
    assert refused.to_dict("records")[0]["Right"] == 0


def test_answer_cells_show_the_typed_answer():
    assert [answer_cell(said(7)), answer_cell(said(7, True)), answer_cell(said(None))] == [
        "7",
        "7 (unsure)",
        "none",
    ]


def test_the_csv_never_holds_a_live_formula():
    names = ["+cmd|' -C calc'!A0.png", "-2+3.png", "@SUM(1,1).png", "\t=1+1.png", "=1+1.png",
             "\r=2.png", "plain.png"]  # fmt: skip
    n = len(names)
    notes = ['=HYPERLINK("x")'] + [""] * (n - 1)
    table = answers_table(names, [{"cnn": said(7)}] * n, notes, [7] * n)
    summary = accuracy_summary({"=CNN": [7] * n}, [7] * n)
    for text in (safe_csv(table).decode(), safe_csv(summary).decode()):
        rows = list(csv.reader(io.StringIO(text, newline="")))
        cells = [cell for row in rows for cell in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    rows = list(csv.reader(io.StringIO(safe_csv(table).decode(), newline="")))
    assert [row[0] for row in rows[1 : n + 1]] == ["'" + name for name in names[:-1]] + [
        "plain.png"
    ]
    assert rows[1][-1] == '\'=HYPERLINK("x")' and rows[1][1] == "7"
