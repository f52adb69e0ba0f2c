"""The app's expensive objects, each made once: models and MNIST per server, inputs per upload.

Each upload is decoded for the screen once (``picture``) and has its ink found once
(``ink_map``): the digit (``prepare``) and the row hint (``reads_as_row``) both start from
that ink. Streamlit's caches key the bytes by their digest.

Models come from ``digitlab.models.registry.load_model`` behind ``st.cache_resource``. A model
without weights raises ``ModelError``, which Streamlit does not cache, so a model trained while
the server runs appears on the next page run.
"""

from __future__ import annotations

import atexit
import logging
import threading

import numpy as np
import streamlit as st
from PIL import Image

from digitlab.app import images
from digitlab.data.mnist import load_mnist
from digitlab.errors import ModelError
from digitlab.models.registry import (
    DEFAULT_MODEL,
    display_name,
    load_model,
    model_ids,
    run_model_ids,
)
from digitlab.models.runs import is_run_id

logger = logging.getLogger("digitlab.app")

COMPARE_ALL = "Compare all"


def all_model_ids() -> list[str]:
    """The shipped models, then the learner's runs (``run:NAME``) as they are on disk now."""
    return [*model_ids(), *run_model_ids()]


def model_choices() -> list[str]:
    """The model picker's options: every registered model and run by name, then *Compare all*."""
    return [*map(display_name, all_model_ids()), COMPARE_ALL]


def chosen_model_ids(choice: str) -> list[str]:
    """The ids behind a model picker option."""
    if choice == COMPARE_ALL:
        return all_model_ids()
    return [m for m in all_model_ids() if display_name(m) == choice]


def get_model(model_id: str):
    """The trained model ``model_id`` (raises ``ModelError``): a shipped model loaded once per
    server; a run through ``load_model``, whose cache keys it by its record's time, so a run
    replaced or removed is never served stale."""
    if is_run_id(model_id):
        return load_model(model_id)
    return _shipped_model(model_id)


@st.cache_resource(show_spinner="Loading the model...")
def _shipped_model(model_id: str):
    return load_model(model_id)


def available_model(model_id: str):
    """(model, None) or (None, a sentence saying why the model cannot be used)."""
    # Imported here to buy start-up time: profiles pull in torch, which the Home page never needs.
    from digitlab.app.profile_state import through_profile

    try:
        return through_profile(model_id, get_model(model_id)), None
    except ModelError as err:
        return None, f"{display_name(model_id)} is not available: {err}"


@st.cache_resource(show_spinner="Loading MNIST...")
def mnist(split: str) -> tuple[np.ndarray, np.ndarray]:
    return load_mnist(split)


@st.cache_data(max_entries=64, show_spinner=False)
def picture(data: bytes, side: int = images.DISPLAY_SIDE) -> tuple[Image.Image, float]:
    """``images.display_image(data, side)``: the upload as people see it, decoded once."""
    return images.display_image(data, side)


@st.cache_data(max_entries=16, show_spinner=False)  # a few MB each: the working-size images
def ink_map(source: bytes | np.ndarray):
    """``find_ink(source)``, the expensive first half of preprocessing, once per input."""
    # Imported here to buy start-up time: scipy only once an image is read.
    from digitlab.imaging.pipeline import find_ink

    return find_ink(source)


@st.cache_data(max_entries=64, show_spinner=False)
def prepare(source: bytes | np.ndarray):
    """``preprocess(source, steps=True)``, once per distinct input (reruns reuse it)."""
    from digitlab.imaging.pipeline import preprocess_ink  # here to buy start-up time: scipy

    return preprocess_ink(ink_map(source), steps=True)


# Background work stops between models when the process exits, and exit waits for it: a
# thread still inside torch or FAISS while the interpreter shuts down aborts the process.
STOPPING = threading.Event()
_BACKGROUND: list[threading.Thread] = []


@atexit.register
def _finish_background_work() -> None:
    STOPPING.set()
    for thread in _BACKGROUND:
        thread.join()


def in_background(target, name: str, *args) -> threading.Thread:
    """Start ``target(*args)`` on a thread that the process's exit waits for."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    _BACKGROUND.append(thread)
    thread.start()
    return thread


def _warm(model_ids: tuple[str, ...]) -> None:
    # Imported here to buy start-up time: profiles pull in torch.
    from digitlab.profiles.adapt import reference_embeddings

    blank = np.zeros((1, 28, 28), np.float32)

    def answer(model) -> None:
        model.predict_proba(blank)  # loads torch, builds the k-NN index

    # The default model ready to answer and to be taught first, then the others.
    first, *others = model_ids
    steps = [(first, answer), (first, reference_embeddings)]
    steps += [(m, answer) for m in others] + [(m, reference_embeddings) for m in others]
    for model_id, step in steps:
        if STOPPING.is_set():
            return
        try:
            step(load_model(model_id))
        except ModelError:
            pass  # not trained yet: the page says so when the model is chosen
        except Exception:
            logger.exception("warming up %s failed", model_id)


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Load every model in the background once per server, so the first answer is instant,
    then embed the MNIST reference digits that bound a taught digit's reach
    (``profiles.adapt.guarded_radii``), so the first "Teach it" is as quick as the next.

    The page does not wait for it: it is usable at once, and ``load_model``'s own cache makes
    ``get_model`` instant once the thread has loaded a model. The default model comes first.
    """
    order = (DEFAULT_MODEL, *(m for m in model_ids() if m != DEFAULT_MODEL))
    return in_background(_warm, "digitlab-warm-up", order)


@st.cache_data(max_entries=64, show_spinner=False)
def reads_as_row(source: bytes | np.ndarray) -> bool:
    """Whether the default model reads the input as a row of several digits
    (``number.reads_as_row``)."""
    # Imported here to buy start-up time: scipy only once an image is read.
    from digitlab.answers.number import read_number_from_ink
    from digitlab.answers.number import reads_as_row as row

    model, _ = available_model(DEFAULT_MODEL)
    return model is not None and row(read_number_from_ink(ink_map(source), model))
