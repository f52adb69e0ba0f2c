"""Students join from their phones (issue 18): `digitlab app --host ADDRESS` on purpose shows
the app's address and a QR code of it; without --host nothing changes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import segno
from PIL import Image
from streamlit.testing.v1 import AppTest

from digitlab.app import join
from digitlab.cli import main as cli

URL = "http://192.168.1.23:8501"


def join_box_app() -> None:
    from digitlab.app import join

    join.show_join_box()


def run_join_box(monkeypatch, url: str | None) -> AppTest:
    if url is None:
        monkeypatch.delenv(join.JOIN_ENV, raising=False)
    else:
        monkeypatch.setenv(join.JOIN_ENV, url)
    at = AppTest.from_function(join_box_app, default_timeout=30)
    at.run()
    assert not at.exception
    return at


def test_the_join_box_shows_the_address_and_a_qr_code_only_when_asked(monkeypatch):
    shown = run_join_box(monkeypatch, URL)
    assert [c.value for c in shown.sidebar.code] == [URL]
    assert any("Join from your phone" in m.value for m in shown.sidebar.markdown)
    assert len(shown.sidebar.get("image")) == 1
    hidden = run_join_box(monkeypatch, None)
    assert not hidden.sidebar.code and not hidden.sidebar.get("image")
    assert not hidden.sidebar.markdown


def modules(png: bytes, scale: int = 6, border: int = 4) -> np.ndarray:
    """The QR code's modules read back from its picture: True where dark."""
    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    centres = grey[scale // 2 :: scale, scale // 2 :: scale]
    return (centres < 128)[border:-border, border:-border]


def test_the_qr_code_is_the_exact_url(monkeypatch):
    png = join.qr_png(URL)
    assert png.startswith(b"\x89PNG")
    expected = np.array(segno.make(URL, error="m").matrix, dtype=bool)
    assert np.array_equal(modules(png), expected)
    other = np.array(segno.make(URL + "1", error="m").matrix, dtype=bool)
    assert modules(png).shape != other.shape or not np.array_equal(modules(png), other)


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("192.168.1.23", "http://192.168.1.23:8502"),
        ("10.0.0.5", "http://10.0.0.5:8502"),
        ("127.0.0.1", None),
        ("localhost", None),
        ("::1", None),
        ("fd00::5", "http://[fd00::5]:8502"),
    ],
)
def test_the_join_url_is_the_address_students_type(host, url):
    assert join.join_url_for(host, 8502) == url


def test_every_interface_means_this_machines_lan_address(monkeypatch):
    monkeypatch.setattr(join, "lan_address", lambda: "192.168.4.7")
    assert join.join_url_for("0.0.0.0", 8501) == "http://192.168.4.7:8501"
    monkeypatch.setattr(join, "lan_address", lambda: None)  # no network: nothing to show
    assert join.join_url_for("0.0.0.0", 8501) is None


def app_environment(monkeypatch, argv: list[str]) -> tuple[dict, list[str]]:
    """What `digitlab app ARGS` hands to the Streamlit server: its environment and command."""
    seen = {}

    def execv(path, cmd):
        seen["env"], seen["cmd"] = dict(os.environ), cmd
        raise SystemExit(0)

    monkeypatch.setattr(cli.os, "execv", execv)
    monkeypatch.setenv(join.JOIN_ENV, "http://stale.example:1")  # never inherited
    with pytest.raises(SystemExit):
        cli.main(["app", *argv])
    return seen["env"], seen["cmd"]


def test_the_app_command_passes_the_join_url_only_with_host(monkeypatch):
    env, cmd = app_environment(monkeypatch, ["--port", "8600"])
    assert join.JOIN_ENV not in env
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    env, cmd = app_environment(monkeypatch, ["--host", "192.168.1.23", "--port", "8600"])
    assert env[join.JOIN_ENV] == "http://192.168.1.23:8600"
    assert cmd[cmd.index("--server.address") + 1] == "192.168.1.23"


HOME = Path(__file__).resolve().parents[1] / "src" / "digitlab" / "app" / "Home.py"


@pytest.mark.parametrize("url", [URL, None])
def test_every_page_has_the_join_box_only_with_host(monkeypatch, url):
    if url is None:
        monkeypatch.delenv(join.JOIN_ENV, raising=False)
    else:
        monkeypatch.setenv(join.JOIN_ENV, url)
    at = AppTest.from_file(str(HOME), default_timeout=120)
    at.run()
    assert not at.exception
    assert [c.value for c in at.sidebar.code] == ([url] if url else [])
    assert len(at.sidebar.get("image")) == (1 if url else 0)
