"""Several files at once: a row per file, a column per model, true digits to mark, downloads.

Each file is read once. Its answers are kept in the session by the file's digest, the models
and the profile's state, so marking a true digit (a rerun per keystroke) never reads the batch
again: only a new file, another model or a taught digit does. The table's key is the files'
digests, so its marks outlive any rerun and a change of model.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st

from digitlab.answers.compare import loaded_models, predictions_for
from digitlab.answers.inference import Prediction
from digitlab.app import images
from digitlab.app.inputs import digest
from digitlab.app.loaders import available_model, picture, prepare
from digitlab.app.profile_state import active_profile
from digitlab.app.views import NO_DIGIT_ADVICE, UNEXPECTED, looks_like_a_row
from digitlab.errors import DigitLabError, ImageError, NoDigitError
from digitlab.evaluation.batch import (
    NOT_READ,
    TRUE_DIGIT,
    accuracy_summary,
    answer_cell,
    answers_table,
    is_marked,
    safe_csv,
)
from digitlab.models.registry import display_name, model_spec

logger = logging.getLogger("digitlab.app")

ROW_HEIGHT, HEADER_HEIGHT = 64, 35  # px: rows tall enough for a thumbnail


@dataclass
class FileAnswers:
    """One file's row as shown, each model's answer (by id) and the 28x28 the models saw."""

    row: dict
    predictions: dict[str, Prediction] = field(default_factory=dict)
    image28: np.ndarray | None = None


def read_file(name: str, data: bytes, model_ids: list[str]) -> FileAnswers:
    """One row per file (thumbnail, what the models see, each model's answer, a note)."""
    row = {"Image": None, "Seen as": None, "File": name}
    row |= {display_name(m): NOT_READ for m in model_ids}
    row |= {"Note": "", TRUE_DIGIT: None}
    try:
        prepared = prepare(data)
    except ImageError as err:
        return FileAnswers(row | {"Note": str(err)})
    except NoDigitError:
        thumbnail = images.data_uri(picture(data, images.THUMBNAIL_SIDE)[0])
        return FileAnswers(row | {"Image": thumbnail, "Note": NO_DIGIT_ADVICE})
    row |= {"Image": images.data_uri(picture(data, images.THUMBNAIL_SIDE)[0]),
            "Seen as": images.data_uri(images.pixels(prepared.image, 2))}  # fmt: skip
    models, missing = loaded_models(model_ids, available_model)
    notes = list(missing.values())
    predictions = predictions_for(prepared.image, models)
    for model_id, p in predictions.items():
        row[display_name(model_id)] = answer_cell(p)
    if looks_like_a_row(data):
        notes.append("several digits: try Read a number")
    return FileAnswers(row | {"Note": "; ".join(notes)}, predictions, prepared.image)


def profile_state() -> str:
    """A fingerprint of the active profile's taught digits ("" without one): answers read
    through an older state are read again."""
    try:
        profile = active_profile()
        if profile is None or len(profile) == 0:
            return ""
        content = profile.content()
    except DigitLabError:
        return "damaged"
    taught = np.ascontiguousarray(content.images, np.float32).tobytes()
    return hashlib.sha256(taught + np.asarray(content.labels, np.int64).tobytes()).hexdigest()


def read_batch(files: list[tuple[str, bytes]], model_ids: list[str]) -> list[FileAnswers]:
    """Each file's answers, from the session's store when this file was read already by these
    models through this profile; a progress bar only while some file is new."""
    store: dict = st.session_state.setdefault("batch_answers", {})
    state = profile_state()
    keys = [(digest(data), name, tuple(model_ids), state) for name, data in files]
    new = [i for i, key in enumerate(keys) if key not in store]
    progress = st.progress(0.0, text=f"Reading {len(new)} images...") if new else None
    for done, i in enumerate(new, 1):
        name, data = files[i]
        try:
            store[keys[i]] = read_file(name, data, model_ids)
        except Exception:
            logger.exception("unexpected error on %s", name)
            store[keys[i]] = FileAnswers({"File": name, "Note": UNEXPECTED})
        progress.progress(done / len(new), text=f"Read {done} of {len(new)} images")
    if progress is not None:
        progress.empty()
    kept = {key: store[key] for key in keys}
    st.session_state.batch_answers = kept  # only this batch's: the memory goes with the files
    return [kept[key] for key in keys]


def batch_frame(answers: list[FileAnswers], model_ids: list[str]) -> pd.DataFrame:
    model_names = [display_name(m) for m in model_ids]
    columns = ["Image", "Seen as", "File", *model_names, "Note", TRUE_DIGIT]
    frame = pd.DataFrame([a.row for a in answers], columns=columns)
    frame[model_names] = frame[model_names].fillna(NOT_READ)
    frame["Note"] = frame["Note"].fillna("")
    frame[TRUE_DIGIT] = frame[TRUE_DIGIT].astype("Int64")
    return frame


def table_key(files: list[tuple[str, bytes]]) -> str:
    """The table's key: the files themselves (names and contents), never the run."""
    joined = "".join(f"{name}\0{digest(data)}\0" for name, data in files)
    return "batch-" + hashlib.sha256(joined.encode()).hexdigest()[:16]


def marked_rows(answers: list[FileAnswers], true_digits: list[object]) -> list[int]:
    """The rows with a true digit and an image the models saw: the ones that can be taught."""
    return [i for i, (a, t) in enumerate(zip(answers, true_digits, strict=True))
            if is_marked(t) and a.image28 is not None]  # fmt: skip


def teach_marked(key: str, names: list[str], images28: list[np.ndarray], digits: list[int]):
    """The button's callback: teach the marked rows once (a second click finds them taught)."""
    from digitlab.app.teaching import teach_many  # here: teaching pulls in the profiles

    taught = st.session_state.setdefault("batch_taught", set())
    todo = [i for i in range(len(names)) if (key, names[i], digits[i]) not in taught]
    if not todo:
        return
    try:
        st.session_state.batch_message = teach_many([names[i] for i in todo],
                                                    [images28[i] for i in todo],
                                                    [digits[i] for i in todo])  # fmt: skip
    except DigitLabError as err:
        st.session_state.batch_message = str(err)
        return
    taught.update((key, names[i], digits[i]) for i in todo)


def show_batch(files: list[tuple[str, bytes]], model_ids: list[str]) -> None:
    answers = read_batch(files, model_ids)
    frame = batch_frame(answers, model_ids)
    st.caption("One row per file, a column per model. Type the true digits in the last column "
               "to see how many each model got right.")  # fmt: skip
    key = table_key(files)
    edited = st.data_editor(
        frame,
        hide_index=True,
        row_height=ROW_HEIGHT,
        height=HEADER_HEIGHT + ROW_HEIGHT * len(frame) + 2,  # every row, no inner box
        width="stretch",
        key=key,
        disabled=[c for c in frame.columns if c != TRUE_DIGIT],
        column_config={
            "Image": st.column_config.ImageColumn("Image", width="small"),
            "Seen as": st.column_config.ImageColumn(
                "Seen as", width="small", help="The 28x28 image the models see"
            ),
            **{
                display_name(m): st.column_config.TextColumn(
                    model_spec(m).short, help=display_name(m)
                )
                for m in model_ids
            },  # short headers: the full names do not fit
            TRUE_DIGIT: st.column_config.NumberColumn(
                TRUE_DIGIT, min_value=0, max_value=9, step=1, help="Type the digit shown"
            ),
        },
    )
    true_digits = list(edited[TRUE_DIGIT])
    digits = {display_name(m): [a.predictions[m].digit if m in a.predictions else None
                                for a in answers] for m in model_ids}  # fmt: skip
    summary = accuracy_summary(digits, true_digits)
    st.table(summary.set_index("Model"))
    offer_teaching(key, files, answers, true_digits)
    table = answers_table([name for name, _ in files], [a.predictions for a in answers],
                          [a.row.get("Note", "") for a in answers], true_digits)  # fmt: skip
    with st.container(horizontal=True):
        st.download_button("Download answers (CSV)", safe_csv(table), "digitlab-answers.csv",
                           "text/csv", help="One row per file: each model's digit, confidence "
                           "and ten probabilities", on_click="ignore")  # fmt: skip
        st.download_button("Download accuracy (CSV)", safe_csv(summary),
                           "digitlab-accuracy.csv", "text/csv",
                           help="How many marked files each model got right",
                           on_click="ignore")  # fmt: skip


def offer_teaching(
    key: str, files: list[tuple[str, bytes]], answers: list[FileAnswers], true_digits: list
) -> None:
    """Teach the profile every marked row at once (their true digits), when there is one."""
    message = st.session_state.pop("batch_message", None)
    if message:
        st.success(message)
    if active_profile() is None:
        return
    rows = marked_rows(answers, true_digits)
    taught = st.session_state.get("batch_taught", set())
    names = [files[i][0] for i in rows]
    digits = [int(true_digits[i]) for i in rows]
    new = sum((key, n, d) not in taught for n, d in zip(names, digits, strict=True))
    st.button(
        f"Teach the {new} marked rows to your profile" if new != 1
        else "Teach the marked row to your profile",
        key="teach_marked",
        disabled=new == 0,
        on_click=teach_marked,
        args=(key, names, [answers[i].image28 for i in rows], digits),
        help="Each row whose True digit is filled in teaches that digit, as 'Wrong? It's a' does.",
    )  # fmt: skip
