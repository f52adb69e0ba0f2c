"""The batch table's accuracy, on typed answers, without Streamlit."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from digitlab.answers.inference import Prediction
from digitlab.evaluation.batch import accuracy_summary, answer_cell, batch_csv


def test_marked_true_digits_give_an_accuracy_summary_in_the_csv():
    frame = pd.DataFrame(
        {"Image": [None] * 3, "Seen as": [None] * 3, "File": ["a.png", "b.png", "c.png"],
         "CNN": ["7", "1 (unsure)", "none"], "k-NN": ["7", "7", "-"], "Note": [""] * 3,
         "True digit": pd.array([7, 1, None], dtype="Int64")}
    )  # fmt: skip
    answers = {"CNN": [7, 1, None], "k-NN": [7, 7, None]}  # what the cells above show
    summary = accuracy_summary(answers, list(frame["True digit"]))
    assert summary.to_dict("records") == [
        {"Model": "CNN", "Marked": 2, "Right": 2, "Accuracy": "100%"},
        {"Model": "k-NN", "Marked": 2, "Right": 1, "Accuracy": "50%"},
    ]
    csv = batch_csv(frame, summary).decode()
    answers, totals = csv.split("\r\n\r\n")
    assert answers.splitlines()[0] == "File,CNN,k-NN,Note,True digit"
    assert totals.splitlines() == ["Model,Marked,Right,Accuracy", "CNN,2,2,100%", "k-NN,2,1,50%"]


def test_no_marks_yet_and_refusals_never_count_as_right():
    summary = accuracy_summary({"CNN": [None, 3]}, [None, pd.NA])
    assert summary.to_dict("records") == [
        {"Model": "CNN", "Marked": 0, "Right": 0, "Accuracy": "no marks yet"}
    ]
    refused = accuracy_summary({"CNN": [None]}, [0])
    assert refused.to_dict("records")[0]["Right"] == 0


def test_answer_cells_show_the_typed_answer():
    def said(digit, unsure=False):
        return Prediction("cnn", digit, 0.9, np.full(10, 0.1), unsure, None)

    assert [answer_cell(said(7)), answer_cell(said(7, True)), answer_cell(said(None))] == [
        "7",
        "7 (unsure)",
        "none",
    ]


def test_the_csv_never_holds_a_live_formula():
    names = ["+cmd|' -C calc'!A0.png", "-2+3.png", "@SUM(1,1).png", "\t=1+1.png", "=1+1.png",
             "\r=2.png", "plain.png"]  # fmt: skip
    n = len(names)
    frame = pd.DataFrame({"Image": [None] * n, "Seen as": [None] * n, "File": names,
                          "CNN": ["7"] * n, "Note": ["=HYPERLINK(\"x\")"] + [""] * (n - 1),
                          "True digit": pd.array([7] * n, dtype="Int64")})  # fmt: skip
    summary = accuracy_summary({"CNN": [7] * n}, list(frame["True digit"]))
    text = batch_csv(frame, summary).decode()
    rows = list(csv.reader(io.StringIO(text, newline="")))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert [row[0] for row in rows[1 : n + 1]] == ["'" + name for name in names[:-1]] + [
        "plain.png"
    ]
    assert rows[1][2] == '\'=HYPERLINK("x")' and rows[1][3] == "7"
