"""The Train page's pieces that are not layout: the server's one trainer, who "I" am, the
experiments table and its CSV, the charts of curves and confusion, and the shipped model's
result card to set beside a run's.

Training itself lives in ``digitlab.training`` (runs, jobs, lessons); the figures come from
each run's record (``digitlab.models.runs``) and ``digitlab.evaluation.lab.result_card``.
"""

from __future__ import annotations

import uuid

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from digitlab.models.registry import display_name

OWNER_KEY = "train-owner"
CSV_UNSAFE = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads these as a formula
REFUSED = "refused"


@st.cache_resource(show_spinner=False)
def trainer():
    """The server's one ``Trainer``: every session sees the same run, and only one trains."""
    from digitlab.training.jobs import Trainer  # here: it pulls in torch

    return Trainer()


def start_training(name: str, settings, then=()):
    """``trainer().start`` for this session (raises ``TrainerBusy``, ``RunError``); the
    trainer starts its children from its own long-lived thread."""
    return trainer().start(name, settings, owner(), then=list(then))


def owner() -> str:
    """This browser session's id as the trainer knows it (a run belongs to one session)."""
    return st.session_state.setdefault(OWNER_KEY, uuid.uuid4().hex)


def family_name(family: str) -> str:
    return display_name(family)


def next_run_name(family: str, taken: set[str]) -> str:
    """``my-cnn-1``, or the first number not taken yet."""
    n = 1
    while f"my-{family}-{n}" in taken:
        n += 1
    return f"my-{family}-{n}"


def knobs_text(knobs: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in knobs.items())


def _pct(value) -> float | None:
    return round(100 * value, 1) if isinstance(value, int | float) else None


def experiments_frame(records: list[dict]) -> pd.DataFrame:
    """One row a run: what it trained and what it measured (accuracies in %)."""
    rows = []
    for r in records:
        s, card = r.get("settings", {}), r.get("card", {})
        family = s.get("family", "")
        rows.append(
            {
                "Run": r["name"],
                "Family": family_name(family) if family else "",
                "Training digits": s.get("train_size"),
                "Epochs": s.get("epochs"),
                "Knobs": knobs_text(s.get("knobs", {})),
                "Augmentation": s.get("augment"),
                "Pipeline": s.get("pipeline"),
                "Validation accuracy (%)": _pct(r.get("val_accuracy")),
                "User-like accuracy (%)": _pct(card.get("userlike_accuracy")),
                "Train time (s)": r.get("train_seconds"),
                "Size on disk (MB)": round(r.get("disk_bytes", 0) / 1e6, 2),
                "Created": r.get("created", ""),
                "Note": r.get("error", "") if r.get("damaged") else "",
            }
        )
    return pd.DataFrame(rows)


def csv_cell(value) -> str:
    """A cell as text a spreadsheet shows as text: one starting like a formula gets a quote."""
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    return "'" + text if text.startswith(CSV_UNSAFE) else text


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as UTF-8 CSV, every cell neutralised by ``csv_cell`` (headers too)."""
    safe = frame.map(csv_cell)
    safe.columns = [csv_cell(c) for c in frame.columns]
    return safe.to_csv(index=False).encode("utf-8")


def curves_frame(curves: list[dict], run: str = "") -> pd.DataFrame:
    """Per-epoch curves in long form: epoch, measure, value (and the run's name)."""
    names = {
        "train_loss": "Training loss",
        "train_accuracy": "Training accuracy",
        "val_accuracy": "Validation accuracy",
    }
    rows = [
        {"Run": run, "Epoch": line["epoch"], "Measure": label, "Value": line[key]}
        for line in curves
        for key, label in names.items()
        if isinstance(line.get(key), int | float)
    ]
    return pd.DataFrame(rows, columns=["Run", "Epoch", "Measure", "Value"])


def _line(frame: pd.DataFrame, title: str, color: str, percent: bool) -> alt.Chart:
    axis = alt.Axis(format="%") if percent else alt.Axis(format=".2f")
    return (
        alt.Chart(frame, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("Epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("Value:Q", title=None, axis=axis, scale=alt.Scale(zero=False)),
            color=alt.Color(f"{color}:N", legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["Run", "Epoch", "Measure", alt.Tooltip("Value:Q", format=".4f")],
        )
        .properties(height=260)
    )


def loss_chart(frame: pd.DataFrame, by: str = "Measure") -> alt.Chart:
    return _line(frame[frame["Measure"] == "Training loss"], "Training loss", by, False)


def accuracy_chart(frame: pd.DataFrame, by: str = "Measure", measures=None) -> alt.Chart:
    measures = measures or ("Training accuracy", "Validation accuracy")
    shown = frame[frame["Measure"].isin(measures)]
    return _line(shown, "Accuracy", by, True)


def confusion_chart(matrix: list[list[int]], title: str) -> alt.Chart:
    """The validation confusion matrix: true digit down, answer across, the last column the
    digits refused as "not a digit"; shaded on a log scale so the mistakes show."""
    answers = [str(d) for d in range(10)] + [REFUSED]
    cells = pd.DataFrame(
        [
            {"True digit": t, "Answer": answers[a], "Count": int(count)}
            for t, row in enumerate(matrix)
            for a, count in enumerate(row)
        ]
    )
    cells["Shade"] = np.log1p(cells["Count"])
    base = alt.Chart(cells, title=title).encode(
        x=alt.X("Answer:O", sort=answers, axis=alt.Axis(labelAngle=0)), y="True digit:O"
    )
    heat = base.mark_rect().encode(
        color=alt.Color("Shade:Q", scale=alt.Scale(scheme="blues"), legend=None),
        tooltip=["True digit", "Answer", "Count"],
    )
    text = base.mark_text(fontSize=10).encode(
        text="Count:Q",
        color=alt.condition(alt.datum.Shade > 4, alt.value("white"), alt.value("black")),
    )
    return (heat + text).properties(height=340)


@st.cache_data(show_spinner="Measuring the shipped model the same way...", max_entries=8)
def shipped_card(family: str, pipeline: str) -> dict:
    """``result_card`` of the shipped model of ``family`` (once per server per pipeline)."""
    from digitlab.app.loaders import get_model
    from digitlab.evaluation.lab import result_card  # here: synthesis and scipy

    return result_card(get_model(family), pipeline)


def card_rows(card: dict, shipped: dict | None, run: str, family: str) -> pd.DataFrame:
    """The result card's figures, each with what it is measured on, beside the shipped model's."""
    naive = card.get("pipeline") == "naive"
    through = "the naive tutorial preprocessing" if naive else "DigitLab's preprocessing"
    figures = [
        (
            "Validation accuracy",
            "val_accuracy",
            "MNIST's 5,000 validation digits, which no model trained on",
        ),
        (
            "User-like accuracy",
            "userlike_accuracy",
            f"{card.get('userlike_n', 200)} synthesised photos, scans and drawings of digits "
            f"(test renders), through {through}",
        ),
        (
            "Examples accuracy",
            "examples_accuracy",
            f"the app's {card.get('examples_n', '')} single-digit example images",
        ),
    ]
    rows = []
    for label, key, measured_on in figures:
        row = {"Figure": label, "Measured on": measured_on, run: _pct(card.get(key))}
        if shipped is not None:
            row[f"Shipped {family_name(family)}"] = _pct(shipped.get(key))
        rows.append(row)
    return pd.DataFrame(rows)


def by_kind_rows(card: dict, shipped: dict | None, run: str, family: str) -> pd.DataFrame:
    """User-like accuracy for each kind of render (photo, desk, scan...), in %."""
    kinds = card.get("userlike_by_kind", {})
    rows = []
    for kind, value in kinds.items():
        row = {"Kind": kind, run: _pct(value)}
        if shipped is not None:
            row[f"Shipped {family_name(family)}"] = _pct(shipped["userlike_by_kind"].get(kind))
        rows.append(row)
    return pd.DataFrame(rows)


def seconds_text(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{seconds // 60} min {seconds % 60:02d} s"
