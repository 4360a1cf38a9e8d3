"""Progress lines for long lab steps: which step, and how long it has been running."""

import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from tests.lab import LabError


def say(message: str):
    print(f"[lab] {message}", file=sys.stderr, flush=True)


@contextmanager
def step(what: str, heartbeat: float = 30.0):
    """Announce a step, print the elapsed time every `heartbeat` seconds, and its total at the end."""
    start = time.monotonic()
    say(f"{what} ...")
    stop = threading.Event()

    def beat():
        while not stop.wait(heartbeat):
            say(f"{what}: still running, {time.monotonic() - start:.0f} s")

    ticker = threading.Thread(target=beat, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
    say(f"{what}: done in {time.monotonic() - start:.1f} s")


def run_logged(argv, log: Path, what: str):
    """Run a host command with its output in a log file; on failure, quote the log's tail."""
    with log.open("ab") as sink:
        done = subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-8:]
        raise LabError(f"{what} failed (exit {done.returncode}); last lines of {log}: " + " | ".join(tail))
