"""One training run at a time per server, off the page's thread, bounded and stoppable.

The app starts a run as a child process (``digitlab train --run NAME --json --progress``),
so Stop is a signal, a run that overstays its time or memory is killed, and nothing of it
lives in the server's memory. The child is niced, so pages answering uploads keep the CPU
first, and it dies with the server (``PR_SET_PDEATHSIG``). The page calls ``heartbeat`` while
it shows the run; a run nobody watches (the tab was closed) is stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from digitlab.errors import DigitLabError
from digitlab.models import runs
from digitlab.training.runs import ITERATIVE, RunSettings

MAX_SECONDS = 20 * 60  # the longest run the app allows (the full CNN preset fits)
MAX_RSS_BYTES = 4 * 1024**3  # the child's resident memory; beyond it the run is killed
HEARTBEAT_TIMEOUT_S = 20.0  # nobody has looked at the run for this long: the tab is gone
STOP_GRACE_S = 5.0  # after Stop, a model fitted in one go (no batches) is killed after this
POLL_S = 0.25
NICE = 10


class TrainerBusy(DigitLabError):
    """Someone is already training on this server."""


@dataclass
class Job:
    """A run being trained, as the page sees it."""

    name: str
    settings: RunSettings
    owner: str
    started: float = field(default_factory=time.monotonic)
    state: str = "running"  # running, done, stopped, failed
    message: str = ""
    curves: list = field(default_factory=list)
    progress: dict = field(default_factory=dict)  # epoch, seen, total of the latest batch
    result: dict = field(default_factory=dict)
    last_seen: float = field(default_factory=time.monotonic)
    process: subprocess.Popen | None = field(default=None, repr=False)
    # Runs to train after this one, in turn (a guided experiment); Stop ends them all.
    queue: list = field(default_factory=list)
    done_before: list = field(default_factory=list)  # names of the plan's finished runs

    @property
    def running(self) -> bool:
        return self.state == "running"

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def fraction(self) -> float | None:
        """Share of the training done (None for a model fitted in one go)."""
        if self.settings.family not in ITERATIVE:
            return None
        p = self.progress
        if not p:
            return 0.0
        done = (p["epoch"] - 1) * p["total"] + p["seen"]
        return min(1.0, done / max(1, self.settings.epochs * p["total"]))

    def seconds_left(self) -> float | None:
        """Estimated from the pace so far (None until there is a pace to go by)."""
        fraction = self.fraction()
        if not fraction or fraction <= 0.02:
            return None
        return self.elapsed() * (1 - fraction) / fraction


def command(name: str, settings: RunSettings, time_limit: float) -> list[str]:
    s = settings
    cmd = [
        sys.executable, "-m", "digitlab.cli", "train", "--model", s.family, "--run", name,
        "--json", "--progress", "--train-size", str(s.train_size), "--epochs", str(s.epochs),
        "--augment" if s.augment else "--no-augment", "--pipeline", s.pipeline,
        "--device", s.device, "--seed", str(s.seed), "--time-limit", str(time_limit),
        "--replace",
    ]  # fmt: skip
    for knob, value in s.knobs.items():
        cmd += [f"--{knob.replace('_', '-')}", str(value)]
    return cmd


def _child_setup() -> None:
    os.nice(NICE)
    # Die with the server (Linux); elsewhere the heartbeat still stops the run.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Trainer:
    """The server's one trainer: ``start`` a run, or be told it is busy."""

    def __init__(self, max_seconds: float = MAX_SECONDS, max_rss: int = MAX_RSS_BYTES,
                 heartbeat_timeout: float = HEARTBEAT_TIMEOUT_S):  # fmt: skip
        self.max_seconds, self.max_rss = max_seconds, max_rss
        self.heartbeat_timeout = heartbeat_timeout
        self._lock = threading.Lock()
        self.job: Job | None = None
        self._requests: queue.Queue = queue.Queue()
        threading.Thread(target=self._launcher, daemon=True, name="digitlab-trainer").start()

    def _launcher(self) -> None:
        """Start each requested child, for as long as the server lives."""
        while True:
            job, done = self._requests.get()
            try:
                job.process = subprocess.Popen(
                    command(job.name, job.settings, self.max_seconds),
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    stdin=subprocess.DEVNULL, text=True, preexec_fn=_child_setup,
                )  # fmt: skip
            except OSError:
                job.process = None
            done.set()

    def busy(self) -> bool:
        return self.job is not None and self.job.running

    def start(self, name: str, settings: RunSettings, owner: str, then=()) -> Job:
        """Train ``settings`` as run ``name``, then each ``(name, settings)`` of ``then``."""
        for run in (name, *(n for n, _ in then)):
            runs.check_run_name(run)
        with self._lock:
            if self.busy():
                raise TrainerBusy(
                    f"Someone is training {self.job.name!r} on this server; one run at a time."
                    " Try again when it ends."
                )
            return self._launch(Job(name, settings, owner, queue=list(then)))

    def _launch(self, job: Job) -> Job:
        # Every child is started by the one launcher thread: PR_SET_PDEATHSIG follows the
        # thread that forked, and a page's script thread (or a run's reader) ends early.
        done = threading.Event()
        self._requests.put((job, done))
        done.wait()
        if job.process is None:
            raise TrainerBusy("The trainer could not start a run here; try again.")
        self.job = job
        threading.Thread(target=self._read, args=(job,), daemon=True).start()
        threading.Thread(target=self._watch, args=(job,), daemon=True).start()
        return job

    def heartbeat(self, owner: str) -> None:
        job = self.job
        if job is not None and job.owner == owner:
            job.last_seen = time.monotonic()

    def stop(self, owner: str | None = None, why: str = "Stopped; nothing was saved.") -> None:
        job = self.job
        if job is None or not job.running or (owner is not None and job.owner != owner):
            return
        job.message = why
        if job.process and job.process.poll() is None:
            job.process.send_signal(signal.SIGTERM)
            threading.Thread(target=self._kill_after_grace, args=(job,), daemon=True).start()

    # -- the threads -------------------------------------------------------------------
    def _read(self, job: Job) -> None:
        for line in job.process.stdout:
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if not isinstance(item, dict):
                continue
            if "progress" in item:
                job.progress = item["progress"]
            elif "stopped" in item:
                job.message = job.message or item["stopped"]
            elif item.get("done"):
                job.result = item
            elif "epoch" in item:
                job.curves = [*job.curves, item]
        code = job.process.wait()
        if code == 0 and job.result and job.queue and not job.message:
            self._remove_partials(job.name)
            (name, settings), *rest = job.queue
            done = [*job.done_before, job.name]
            following = Job(name, settings, job.owner, queue=rest, done_before=done)
            following.last_seen = job.last_seen
            job.state = "done"
            with self._lock:
                self._launch(following)
            return
        if code == 0 and job.result:
            job.state = "done"
            job.message = f"Trained {job.name!r}: it now answers as run:{job.name}."
        elif code == 3 or job.message:
            job.state = "stopped"
            job.message = job.message or "Stopped; nothing was saved."
        else:
            job.state = "failed"
            job.message = "The run failed; nothing was saved."
        self._remove_partials(job.name)

    def _watch(self, job: Job) -> None:
        while job.process.poll() is None:
            now = time.monotonic()
            if now - job.last_seen > self.heartbeat_timeout:
                self.stop(why="Stopped: the page that started it was closed.")
            elif job.elapsed() > self.max_seconds + STOP_GRACE_S:
                self.stop(why=f"Stopped at the {self.max_seconds // 60:.0f}-minute limit.")
            elif resident_bytes(job.process.pid) > self.max_rss:
                job.message = (
                    f"Stopped: it needed over {self.max_rss / 1024**3:.0f} GiB of memory;"
                    " choose a smaller model."
                )
                job.process.kill()
            time.sleep(POLL_S)

    def _kill_after_grace(self, job: Job) -> None:
        try:
            job.process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            job.process.kill()

    @staticmethod
    def _remove_partials(name: str) -> None:
        root = runs.runs_dir()
        if root.is_dir():
            for p in root.glob(f"{runs.PARTIAL_PREFIX}{name}-*"):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
