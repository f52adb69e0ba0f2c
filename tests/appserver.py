"""`digitlab app` as a test's server whose lifetime is tied to the test process.

The server runs in its own process group (so one signal stops it and anything it starts), is
stopped at interpreter exit if no fixture got to it, and is killed by the kernel when the
process that started it dies, however it dies (``prctl(PR_SET_PDEATHSIG)``: a test run killed
with ``kill -9`` or a closed terminal leaves no server listening).
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import IO

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: preexec_fn must not import
_running: set[subprocess.Popen] = set()


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def die_with(parent: int):
    """A ``preexec_fn``: the child gets SIGKILL when ``parent`` dies (execve keeps that)."""

    def arrange() -> None:
        if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(111)  # cannot promise to die with the parent: do not start at all
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(112)

    return arrange


def start_app_server(port: int, log: IO) -> subprocess.Popen:
    """Start ``digitlab app --port PORT`` (stdout and stderr to ``log``); stop it at exit."""
    cmd = [sys.executable, "-m", "digitlab.cli", "app", "--port", str(port)]
    process = subprocess.Popen(
        cmd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with(os.getpid()),
    )
    _running.add(process)
    return process


def stop_app_server(process: subprocess.Popen, url: str | None = None) -> None:
    """SIGTERM the server's process group, SIGKILL if it lingers, and wait until it is gone."""
    _running.discard(process)
    for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 30)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    while url and healthy(url):  # its port is free only once it answers no more
        time.sleep(0.2)


@atexit.register
def _stop_the_servers_no_fixture_stopped() -> None:
    for process in list(_running):
        stop_app_server(process)
