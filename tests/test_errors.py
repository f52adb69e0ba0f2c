"""Every error DigitLab raises on purpose is one of ours, and the CLI prints it as one sentence."""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys

import pytest

import digitlab
from digitlab.errors import DigitLabError

# Modules that need a running Streamlit to import.
NOT_IMPORTABLE_ALONE = ("digitlab.app",)


def digitlab_modules():
    for info in pkgutil.walk_packages(digitlab.__path__, "digitlab."):
        # ``__main__`` modules run the command when imported: they define nothing to check.
        if not info.name.startswith(NOT_IMPORTABLE_ALONE) and not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def test_every_exception_type_of_ours_derives_from_digitlab_error():
    ours = [
        obj
        for module in digitlab_modules()
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and not issubclass(obj, Warning)  # warned about, never raised
        and obj.__module__.startswith("digitlab.")
    ]
    assert {cls.__name__ for cls in ours} >= {"DataError", "ChecksumError", "ModelError"}
    strays = [f"{c.__module__}.{c.__name__}" for c in ours if not issubclass(c, DigitLabError)]
    assert not strays, f"not derived from DigitLabError: {strays}"


@pytest.mark.slow  # a subprocess trying a dead mirror, about 4 s
def test_data_offline_is_one_sentence_and_no_traceback(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "empty-cache"),
           "DIGITLAB_MIRRORS": "http://127.0.0.1:1/", "DIGITLAB_NO_WHEEL": "1"}  # fmt: skip
    env.pop("DIGITLAB_DATA", None)
    done = subprocess.run([sys.executable, "-m", "digitlab.cli", "data"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("digitlab: error: Could not get MNIST from any source.")
    assert done.stdout == ""
