"""Train: a student trains a model of their own and compares it with the shipped one.

Set up a run (family, preset, knobs, training size, epochs, augmentation, name), watch it learn
epoch by epoch, stop it when you like, then read its result card, compare runs side by side
and try the guided experiments. One run trains at a time per server (``training.jobs``); the
page that started it keeps it alive with a heartbeat, so closing the tab stops it.
"""

import math

import streamlit as st

from digitlab.app import lab
from digitlab.app.inside import show_inside
from digitlab.app.loaders import mnist
from digitlab.errors import DigitLabError, ModelError
from digitlab.models import runs
from digitlab.models.registry import display_name
from digitlab.training.jobs import TrainerBusy
from digitlab.training.lessons import LESSONS
from digitlab.training.runs import (
    FAMILIES,
    ITERATIVE,
    KNOBS,
    MAX_EPOCHS,
    MAX_TRAIN,
    MIN_TRAIN,
    PRESETS,
    RunSettingsError,
    run_settings,
)

PRESET_LABELS = {"quick": "Quick, about 30 s", "full": "Full (the shipped recipe, minutes)"}
ENDED = {"done": st.success, "stopped": st.info, "failed": st.error}
ss = st.session_state

# The knobs as a student reads them (the CLI's flags are the short names).
KNOB_LABELS = {
    "C": "C (inverse regularisation)",
    "max_iter": "Iterations",
    "k": "k (neighbours that vote)",
    "hidden": "Hidden neurons",
    "width": "Width (first-layer filters)",
    "lr": "Learning rate",
    "batch": "Batch size",
}


def widget_key(what: str) -> str:
    """Keys of the settings that depend on family and preset: each pair starts from its preset."""
    return f"train-{ss['train-family']}-{ss['train-preset']}-{what}"


def busy_sentence(job) -> str:
    return (
        f"Busy: someone is training {job.name} on this server. One run trains at a time; "
        "you can start yours when it ends."
    )


# --- starting and stopping (button callbacks: they run before the page is drawn again) ------
def start_run() -> None:
    family = ss["train-family"]
    name = ss[f"train-name-{family}"].strip()
    taken = set(runs.run_names())
    try:
        runs.check_run_name(name)
        settings = run_settings(
            family,
            ss["train-preset"],
            train_size=ss[widget_key("size")],
            epochs=ss.get(widget_key("epochs")) if family in ITERATIVE else None,
            augment=ss["train-augment"],
            seed=ss["train-seed"],
            pipeline=ss["train-pipeline"],
            **{knob: ss[widget_key(knob)] for knob in KNOBS[family]},
        )
        if name in taken and not ss.get("train-replace"):
            raise RunSettingsError(
                f"A run named {name} exists: tick “Replace it” or choose another name."
            )
        lab.start_training(name, settings)
    except (RunSettingsError, ModelError, TrainerBusy) as err:
        ss["train-error"] = str(err)
        return
    ss[f"train-name-{family}"] = lab.next_run_name(family, taken | {name})
    ss["train-replace"] = False


def start_lesson(lesson_id: str) -> None:
    (first, settings), *rest = LESSONS[lesson_id].plan()
    try:
        lab.start_training(first, settings, then=rest)
    except (TrainerBusy, DigitLabError) as err:
        ss["lesson-error"] = str(err)


def remove_run() -> None:
    name = ss["remove-run"]
    try:
        runs.remove_run(name)
        ss["remove-message"] = f"Removed {name}."
    except ModelError as err:
        ss["remove-message"] = str(err)
    ss["remove-sure"] = False


# --- while a run trains -------------------------------------------------------------------
def show_curves(curves: list[dict], run: str = "") -> None:
    frame = lab.curves_frame(curves, run)
    if frame.empty:
        return
    left, right = st.columns(2)
    if (frame["Measure"] == "Training loss").any():
        left.altair_chart(lab.loss_chart(frame), width="stretch")
    right.altair_chart(lab.accuracy_chart(frame), width="stretch")


def progress_text(job) -> str:
    p, left = job.progress, job.seconds_left()
    if not p:
        return "Preparing the training digits..."
    where = f"Epoch {p['epoch']} of {job.settings.epochs}: {p['seen']:,} of {p['total']:,} digits"
    if left is None:
        return f"{where}, estimating the time left..."
    return f"{where}, about {lab.seconds_text(left)} left"


@st.fragment(run_every=1.0)
def live_run() -> None:
    """The owner's view of their run, redrawn every second; the page reruns when it ends."""
    trainer, me = lab.trainer(), lab.owner()
    job = trainer.job
    if job is None or job.owner != me or not job.running:
        st.rerun()  # the whole page: the result (or the end message) shows
    trainer.heartbeat(me)
    st.subheader(f"Training {job.name}")
    plan = [*job.done_before, job.name, *(name for name, _ in job.queue)]
    if len(plan) > 1:
        st.caption(f"Guided experiment, run {len(job.done_before) + 1} of {len(plan)}: "
                   + ", ".join(plan))  # fmt: skip
    fraction = job.fraction()
    if fraction is None:
        st.info(
            f"Fitting in one go: {lab.family_name(job.settings.family)} has no epochs to watch "
            f"({lab.seconds_text(job.elapsed())} so far). Its result appears when it is done."
        )
    else:
        st.progress(fraction, text=progress_text(job))
    if job.message:
        st.caption("Stopping...")
    else:
        st.button("Stop", key="train-stop", on_click=trainer.stop, args=(me,))
    if job.curves:
        last = job.curves[-1]
        st.caption(
            f"After epoch {last['epoch']}: training loss {last['train_loss']:.3f}, "
            f"validation accuracy {100 * last['val_accuracy']:.1f}%."
        )
        show_curves(job.curves)
    elif fraction is not None:
        st.caption("The curves appear after the first epoch.")


@st.fragment(run_every=2.0)
def someone_else_training() -> None:
    """Another session's run: say so, and redraw the page (the Train button) once it ends."""
    trainer = lab.trainer()
    job = trainer.job
    if not trainer.busy():
        st.rerun()
    st.warning(busy_sentence(job))
    if job.progress and job.fraction() is not None:
        st.progress(job.fraction(), text=progress_text(job))


# --- the settings -------------------------------------------------------------------------
def number_step(value: float) -> float:
    """A step of the value's own order of magnitude: 0.005 steps by 0.001."""
    return 10.0 ** math.floor(math.log10(value))


def settings_form(trainer_busy: str | None) -> None:
    st.header("Set up a run")
    left, right = st.columns(2)
    ss.setdefault("train-family", "cnn")
    family = left.radio(
        "Model family", FAMILIES, format_func=lab.family_name, key="train-family", horizontal=True
    )
    preset = right.radio(
        "Preset", tuple(PRESETS), format_func=PRESET_LABELS.get, key="train-preset",
        horizontal=True,
        help="Quick: 10,000 training digits, a small model. Full: the shipped model's recipe "
        "on all 55,000 training digits.",
    )  # fmt: skip
    base = PRESETS[preset][family]

    knobs = KNOBS[family]
    for column, (knob, (kind, low, high, what)) in zip(st.columns(3), knobs.items(), strict=False):
        label = KNOB_LABELS.get(knob, knob)
        if kind is int:
            column.number_input(label, low, high, int(base[knob]), 1, help=f"{what.capitalize()}"
                                f" ({low} to {high}).", key=widget_key(knob))  # fmt: skip
        else:
            column.number_input(
                label, float(low), float(high), float(base[knob]), number_step(base[knob]),
                format="%g", help=f"{what.capitalize()} ({low:g} to {high:g}).",
                key=widget_key(knob),
            )  # fmt: skip

    size, epochs, augment = st.columns(3)
    size.number_input(
        "Training digits", MIN_TRAIN, MAX_TRAIN, int(base["train_size"]), 500,
        help=f"How many MNIST training digits it learns from ({MIN_TRAIN:,} to {MAX_TRAIN:,}).",
        key=widget_key("size"),
    )  # fmt: skip
    if family in ITERATIVE:
        epochs.number_input(
            "Epochs", 1, MAX_EPOCHS, int(base["epochs"]), 1,
            help="How many times it goes through the training digits.", key=widget_key("epochs"),
        )  # fmt: skip
    else:
        epochs.caption(f"{lab.family_name(family)} is fitted in one go: no epochs.")
    ss.setdefault("train-augment", True)
    augment.toggle(
        "Augmentation",
        key="train-augment",
        help="Also learn from distorted MNIST digits and synthesised ones (photos, scans).",
    )
    with st.expander("More settings"):
        ss.setdefault("train-seed", 0)
        ss.setdefault("train-pipeline", "ours")
        st.number_input("Seed", 0, 2**31 - 1, step=1, key="train-seed",
                        help="The same seed and settings train the same model.")  # fmt: skip
        st.radio(
            "Measure user-like images through", ("ours", "naive"), key="train-pipeline",
            format_func={"ours": "DigitLab's preprocessing",
                         "naive": "the naive tutorial one (grey, resize to 28x28)"}.get,
        )  # fmt: skip

    name_key = f"train-name-{family}"
    ss.setdefault(name_key, lab.next_run_name(family, set(runs.run_names())))
    st.text_input("Run name", key=name_key, max_chars=40, help=runs.NAME_RULE.capitalize() + ".")
    if ss[name_key].strip() in runs.run_names():
        st.warning(f"A run named {ss[name_key].strip()} exists: training replaces it.")
        st.checkbox("Replace it", key="train-replace")
    st.button(
        "Train", type="primary", disabled=trainer_busy is not None, help=trainer_busy,
        on_click=start_run,
    )  # fmt: skip
    if trainer_busy:
        st.caption(trainer_busy)
    if error := ss.pop("train-error", None):
        st.error(error)


# --- results ------------------------------------------------------------------------------
@st.cache_data(show_spinner=False)
def sample_digit():
    """A MNIST test digit (a 7) through the app's preprocessing, to look inside with."""
    import digitlab

    images, _ = mnist("test")
    return digitlab.preprocess(images[0])


def show_card(record: dict) -> None:
    name, family = record["name"], record["settings"]["family"]
    card = record["card"]
    lab.trainer().heartbeat(lab.owner())  # the shipped card may take a while the first time
    try:
        shipped = lab.shipped_card(family, card.get("pipeline", "ours"))
    except ModelError as err:
        st.warning(f"The shipped {lab.family_name(family)} is not available: {err}")
        shipped = None
    lab.trainer().heartbeat(lab.owner())
    shipped_name = f"Shipped {lab.family_name(family)}"
    cols = st.columns(3)
    for col, (label, key) in zip(
        cols,
        (("Validation accuracy", "val_accuracy"), ("User-like accuracy", "userlike_accuracy"),
         ("Examples accuracy", "examples_accuracy")),
        strict=True,
    ):  # fmt: skip
        delta = None
        if shipped is not None:
            delta = f"{100 * (card[key] - shipped[key]):+.1f} points vs the shipped model"
        col.metric(label, f"{100 * card[key]:.1f}%", delta)
    st.dataframe(lab.card_rows(card, shipped, name, family), hide_index=True)
    st.caption("A refusal (“not a digit”) counts as a wrong answer in every figure.")
    with st.expander("User-like accuracy by kind of image"):
        st.dataframe(lab.by_kind_rows(card, shipped, name, family), hide_index=True)

    st.markdown("**Confusion matrix on the 5,000 validation digits** (true digit down, its "
                "answer across; *refused* = answered “not a digit”)")  # fmt: skip
    left, right = st.columns(2)
    left.altair_chart(lab.confusion_chart(card["val_confusion"], name), width="stretch")
    if shipped is not None:
        right.altair_chart(
            lab.confusion_chart(shipped["val_confusion"], shipped_name), width="stretch"
        )
    st.markdown("**Learning curves**")
    show_curves(record.get("curves", []), name)

    st.subheader("Look inside")
    st.caption("Shown with a MNIST test digit (a 7).")
    show_inside(runs.PREFIX + name, sample_digit(), key="train-inside")
    st.info(
        f"Your run now appears in Recognise as “{display_name(runs.PREFIX + name)}”: "
        "pick it in the model list, or choose Compare all."
    )


def results(complete: list[dict]) -> None:
    st.header("Result card")
    if not complete:
        st.info("No runs yet: train one above and its result card appears here.")
        return
    newest = sorted(complete, key=lambda r: r.get("created", ""), reverse=True)
    names = [r["name"] for r in newest]
    if ss.get("train-card-run") not in names:
        ss["train-card-run"] = names[0]
    name = st.selectbox("Run", names, key="train-card-run")
    show_card(next(r for r in complete if r["name"] == name))


def experiments(records: list[dict], complete: list[dict]) -> None:
    st.header("Experiments")
    if not records:
        st.caption("Every run you train is listed here, side by side.")
        return
    frame = lab.experiments_frame(records)
    st.dataframe(frame, hide_index=True, key="experiments")
    st.download_button(
        "Download as CSV",
        lab.csv_bytes(frame),
        file_name="digitlab-runs.csv",
        mime="text/csv",
        on_click="ignore",  # a download changes nothing on the page: no rerun
    )
    names = [r["name"] for r in complete]
    picked = st.multiselect(
        "Overlay the curves of two runs", names, default=names[:2], max_selections=2,
        key="overlay",
    )  # fmt: skip
    if picked:
        import pandas as pd

        by_name = {r["name"]: r for r in complete}
        frame = pd.concat([lab.curves_frame(by_name[n]["curves"], n) for n in picked])
        left, right = st.columns(2)
        left.altair_chart(
            lab.accuracy_chart(frame, by="Run", measures=("Validation accuracy",)),
            width="stretch",
        )
        if (frame["Measure"] == "Training loss").any():
            right.altair_chart(lab.loss_chart(frame, by="Run"), width="stretch")
    with st.expander("Remove a run"):
        st.selectbox("Run to remove", [r["name"] for r in records], key="remove-run")
        sure = st.checkbox("Yes, remove it for good", key="remove-sure")
        st.button("Remove", disabled=not sure, on_click=remove_run)
    if message := ss.pop("remove-message", None):
        st.info(message)


def guided_experiments(complete: list[dict], trainer_busy: str | None) -> None:
    st.header("Guided experiments")
    st.caption("Each trains a few runs with one thing changed (named lesson-..., replaced when "
               "you run it again) and says what the measured figures show.")  # fmt: skip
    by_name = {r["name"]: r for r in complete}
    for lesson in LESSONS.values():
        with st.container(border=True):
            st.markdown(f"**{lesson.title}** ({lesson.minutes})")
            st.write(lesson.question)
            if all(name in by_name for name, _ in lesson.runs):
                st.success(lesson.outcome(by_name))
            st.button(
                "Run this experiment", key=f"lesson-{lesson.id}", disabled=bool(trainer_busy),
                help=trainer_busy, on_click=start_lesson, args=(lesson.id,),
            )  # fmt: skip
    if error := ss.pop("lesson-error", None):
        st.error(error)


# --- the page -----------------------------------------------------------------------------
st.title("Train your own model")
st.caption("Train a small model on MNIST, watch it learn, and compare it with the shipped one.")
trainer, me = lab.trainer(), lab.owner()
job = trainer.job
mine = job is not None and job.owner == me
busy = None
if job is not None and job.running and mine:
    live_run()
    busy = f"Your run {job.name} is training: stop it or wait until it ends."
elif trainer.busy():
    someone_else_training()
    busy = busy_sentence(job)
elif mine:
    ENDED.get(job.state, st.info)(job.message)
    if job.state == "done" and ss.get("train-announced") != (job.name, job.started):
        ss["train-announced"] = (job.name, job.started)
        ss["train-card-run"] = job.name

settings_form(busy)
records = runs.list_runs()
complete = [r for r in records if not r.get("damaged")]
results(complete)
experiments(records, complete)
guided_experiments(complete, busy)
