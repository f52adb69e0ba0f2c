"""Your handwriting: the profile's taught digits, teaching from a sheet, download and upload."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from digitlab.app.inputs import digest
from digitlab.app.loaders import available_model
from digitlab.app.profile_state import active_profile, disk_profiles_enabled, sidebar_picker
from digitlab.app.text import plain
from digitlab.errors import DigitLabError
from digitlab.models.registry import DEFAULT_MODEL

SHEET = "0123456789"
PER_ROW = 10
SHEET_CANVAS = (120, 640)  # px (height, width): room for ten digits side by side
SOURCE_SHOWN = 24  # characters of a taught digit's source under its picture


def digits(count: int) -> str:
    return f"{count} digit" if count == 1 else f"{count} digits"


def taught_chart(counts) -> alt.Chart:
    """How many of each digit are taught: whole numbers on the axis, 0 to at least 1, so an
    empty profile's axis reads 0 and 1, not "0.000000"."""
    frame = pd.DataFrame({"Digit": [str(d) for d in range(10)],
                          "Taught": [int(counts[d]) for d in range(10)]})  # fmt: skip
    top = max(1, int(frame["Taught"].max()))
    return (
        alt.Chart(frame, height=160)
        .mark_bar()
        .encode(
            x=alt.X("Digit:N", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("Taught:Q", scale=alt.Scale(domain=[0, top]),
                    axis=alt.Axis(format="d", tickMinStep=1)),
            tooltip=["Digit", "Taught"],
        )
    )  # fmt: skip


def show_taught(profile) -> None:
    """The taught digits, one row per class, each with a button to forget it."""
    samples, images = profile.samples(), profile.images()
    for digit in range(10):
        mine = [(s, img) for s, img in zip(samples, images, strict=True) if s.digit == digit]
        if not mine:
            continue
        st.markdown(f"**{digit}** ({len(mine)} taught)")
        columns = st.columns(PER_ROW)
        for i, (sample, image) in enumerate(mine[:PER_ROW]):
            column = columns[i % PER_ROW]
            column.image(np.clip(image, 0, 1), width=56, caption=f"#{sample.id}")
            if sample.source:  # any text an imported profile says: shown as plain text only
                column.text(sample.source[:SOURCE_SHOWN])
            if column.button("Remove", key=f"forget-{sample.id}"):
                profile.forget(sample.id)
                st.rerun()
        if len(mine) > PER_ROW:
            st.caption(f"and {len(mine) - PER_ROW} more")


def drawn_row():
    """The row drawn on a wide canvas (white ink on black), or None before any ink."""
    # Imported here: importing the component outside a running Streamlit raises an error.
    from streamlit_drawable_canvas import st_canvas

    drawn = st_canvas(stroke_width=12, stroke_color="#FFFFFF", background_color="#000000",
                      height=SHEET_CANVAS[0], width=SHEET_CANVAS[1], drawing_mode="freedraw",
                      return_image_data=True, key="sheet_canvas")  # fmt: skip
    ink = drawn.image_data
    return None if ink is None or ink[..., :3].max() < 32 else ink


def teach_from_sheet(profile) -> None:
    """Read a row 0 1 2 ... 9 with the number reader; teach the ten digits once confirmed."""
    # Imported here to buy start-up time: the number reader pulls in scipy.
    from digitlab.answers.number import read_number

    st.subheader("Teach from a sheet")
    way = st.radio("Your row of digits", ["Photo", "Draw"], horizontal=True, key="sheet_source")
    if way == "Photo":
        st.caption("Write 0 1 2 3 4 5 6 7 8 9 in a row on paper, take a photo and upload it.")
        upload = st.file_uploader("Photo of your row of digits", key="sheet")
        name, source = (upload.name, upload.getvalue()) if upload else ("", None)
    else:
        st.caption("Draw 0 1 2 3 4 5 6 7 8 9 in a row, each digit apart from the next.")
        name, source = "your drawing", drawn_row()
    if source is None:
        return
    model, why_not = available_model(DEFAULT_MODEL)
    if model is None:
        st.error(why_not)
        return
    try:
        reading = read_number(source, model=model)
    except DigitLabError as err:
        st.error(str(err))
        return
    if len(reading.digits) != len(SHEET):
        st.warning(f"I found {len(reading.digits)} digits, not 10: write them apart, in one row, "
                   "and try another photo.")  # fmt: skip
        return
    st.write(f"Read as **{reading.text}**. Check each digit, correct any, then confirm.")
    columns = st.columns(len(SHEET))
    labels = []
    for i, (column, digit) in enumerate(zip(columns, reading.digits, strict=True)):
        column.image(digit.image, width=56)
        choice = column.selectbox("digit", list(range(10)), index=int(SHEET[i]),
                                  key=f"sheet-digit-{i}", label_visibility="collapsed")  # fmt: skip
        labels.append(choice)
    sheet = digest(source)
    taught = st.session_state.get("sheet_taught") == sheet
    if taught:
        st.caption("These ten digits are taught: write a new row to teach more.")
    st.button("Teach these ten digits", key="sheet_confirm", disabled=taught,
              on_click=teach_sheet, args=(profile, sheet, name, reading, labels))  # fmt: skip


def teach_sheet(profile, sheet: str, name: str, reading, labels: list[int]) -> None:
    """The confirm button's callback: teach the row once. A second click (a double-click, or
    one that came in while the page ran) finds it taught and does nothing."""
    if st.session_state.get("sheet_taught") == sheet:
        return
    sources = [f"{name} #{i + 1}" for i in range(len(SHEET))]
    profile.teach_preprocessed([d.image for d in reading.digits], labels, sources)
    st.session_state.sheet_taught = sheet
    st.session_state.sheet_message = f"Taught 10 digits ({''.join(map(str, labels))})."


def download_and_upload(profile) -> None:
    st.subheader("Keep it, bring it back")
    left, right = st.columns(2)
    left.download_button("Download this profile", profile.export_bytes(),
                         file_name=f"{profile.name}.npz", key="download",
                         on_click="ignore")  # a download changes nothing: no rerun  # fmt: skip
    upload = right.file_uploader("Upload a profile (.npz)", type=["npz"], key="profile_upload")
    if upload is not None and right.button("Load it", key="load_profile"):
        try:
            count = profile.import_bytes(upload.getvalue(), upload.name)
        except DigitLabError as err:
            right.error(plain(str(err)))
            return
        st.session_state.sheet_message = f"Loaded {digits(count)} from {plain(upload.name)}."
        st.rerun()


st.title("Your handwriting")
st.caption(
    "Digits you teach change every model's answers at once, near the digits you taught "
    "and nowhere else. Say 'Wrong? It's a ...' under an answer on the Recognise page, or "
    "teach a whole row here."
)
sidebar_picker()
profile = active_profile()
if profile is None:
    st.info("Pick or make a profile in the sidebar first.")
    st.stop()
if not disk_profiles_enabled():
    st.caption("Demo mode: this profile lives in this browser session only; nothing is saved.")
try:
    counts = profile.counts()
except DigitLabError as err:
    st.error(str(err))
    if st.button("Reset this profile", key="reset_damaged"):
        profile.reset()
        st.rerun()
    st.stop()
message = st.session_state.pop("sheet_message", None)
if message:
    st.success(message)
st.metric("Digits taught", len(profile))
st.altair_chart(taught_chart(counts), width="stretch",
                alt="How many of each digit are taught, as a bar chart.")  # fmt: skip
show_taught(profile)
if len(profile) and st.button("Reset: forget every digit", key="reset"):
    profile.reset()
    st.rerun()
teach_from_sheet(profile)
download_and_upload(profile)
