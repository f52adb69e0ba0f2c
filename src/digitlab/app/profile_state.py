"""Which profile the app answers through, and the models answering through it.

By default (a public server) the app keeps a *demo* profile per browser session, in memory:
nothing is written to disk, and it is gone when the tab closes. ``digitlab app --profiles``
(the environment variable ``DIGITLAB_PROFILES=1``) turns on profiles on disk, picked by name
in the sidebar, as ``digitlab teach`` makes them. The logic lives in ``digitlab.profiles``.
"""

from __future__ import annotations

import os

import streamlit as st

from digitlab.errors import DigitLabError
from digitlab.profiles.adapt import with_profile
from digitlab.profiles.store import Profile, profile_names

PROFILES_ENV = "DIGITLAB_PROFILES"
DEMO_NAME = "this-session"
NO_PROFILE = "(none)"
NEW_PROFILE = "New profile..."


def disk_profiles_enabled() -> bool:
    return os.environ.get(PROFILES_ENV) == "1"


def active_profile() -> Profile | None:
    """The profile this browser session teaches and answers through (None: none chosen)."""
    if not disk_profiles_enabled():
        if "demo_profile" not in st.session_state:
            st.session_state.demo_profile = Profile.in_memory(DEMO_NAME)
        return st.session_state.demo_profile
    name = st.session_state.get("profile_name")
    return Profile.open(name) if name else None


def through_profile(model_id: str, model):
    """``model`` answering through the active profile once it holds a digit (one wrapper per
    session and profile, so the taught digits are embedded once)."""
    try:
        profile = active_profile()
        if profile is None or len(profile) == 0:
            return model
    except DigitLabError:
        return model  # a damaged profile: the handwriting page says so and offers a reset
    wrappers = st.session_state.setdefault("profiled_models", {})
    key = (model_id, profile.name, profile.directory is None)
    if key not in wrappers or wrappers[key].base is not model:
        wrappers[key] = with_profile(model, profile)
    return wrappers[key]


def sidebar_picker() -> None:
    """The sidebar's profile picker (disk profiles) or a note on the demo profile."""
    with st.sidebar:
        if not disk_profiles_enabled():
            profile = active_profile()
            taught = f"{len(profile)} digit" + ("" if len(profile) == 1 else "s")
            st.caption(f"Your handwriting: {taught} taught in this session "
                       "(demo: nothing is saved).")  # fmt: skip
            return
        names = profile_names()
        current = st.session_state.get("profile_name")
        options = [NO_PROFILE, *names, NEW_PROFILE]
        index = options.index(current) if current in names else 0
        choice = st.selectbox("Profile", options, index=index, key="profile_choice")
        if choice == NEW_PROFILE:
            new = st.text_input("New profile's name", key="new_profile_name")
            if new:
                try:
                    st.session_state.profile_name = Profile.open(new).name
                except DigitLabError as err:
                    st.error(str(err))
        else:
            st.session_state.profile_name = None if choice == NO_PROFILE else choice
