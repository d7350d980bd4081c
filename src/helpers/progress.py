"""Progress of long steps, on the terminal that started the run and never in a notebook.

A chapter runs in a Jupyter kernel whose output (even what is written to file descriptor 2)
lands in the executed notebook. So progress goes through a side channel: ``helpers run`` names a
file in the environment variable ``GC_PROGRESS_FILE`` of each chapter's kernel and prints, prefixed
with the chapter, every line the kernel appends to it (:func:`relay_progress`, around each chapter
:mod:`helpers.chapters` runs). Outside a kernel (a script, the command line) :func:`say` writes
to stderr; inside a kernel without the variable (a notebook opened by hand, the nbval replay) it
stays silent, so no executed notebook or rendered page carries progress noise.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ENV = "GC_PROGRESS_FILE"
# seconds between two progress lines of one loop (the promise: at least every 30 s); the
# environment variable GC_PROGRESS_EVERY sets another interval (the tests use a short one)
EVERY = float(os.environ.get("GC_PROGRESS_EVERY", 10.0))
_STREAMS = ("stderr", "stdout")
_stream = "stderr"


def log_to(stream: str) -> None:
    """Send progress outside a kernel to ``"stdout"`` (a command whose output is a log) or
    ``"stderr"`` (the default: a command whose stdout is data, such as ``similar``)."""
    global _stream
    if stream not in _STREAMS:
        raise ValueError(f"stream must be one of {_STREAMS}, not {stream!r}")
    _stream = stream


def current_stream() -> str:
    """Where progress goes outside a kernel now (``"stderr"`` or ``"stdout"``)."""
    return _stream


def in_kernel() -> bool:
    """Whether this process is a Jupyter kernel whose output lands in a notebook (its stdout is
    ipykernel's stream)."""
    return "ipykernel" in sys.modules and hasattr(sys.stdout, "session")


def say(message: str) -> None:
    """One progress line (see the module docstring for where it goes)."""
    path = os.environ.get(ENV)
    if path:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(message.replace("\n", " ") + "\n")
        except OSError:  # a progress line is never worth failing the run for
            pass
    elif not in_kernel():
        print(message, file=sys.stdout if _stream == "stdout" else sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """``"45 s"``, ``"3 min 05 s"``, ``"2 h 10 min"``.

    >>> duration(45.2), duration(185), duration(7800)
    ('45 s', '3 min 05 s', '2 h 10 min')
    """
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Ticker:
    """Progress of a loop over ``total`` items: a line at most every ``every`` seconds, with the
    rate and the time left, and one at the end.

    >>> t = Ticker("decoding images", 3, every=0)
    >>> t.done = 1
    >>> t.line().split(",")[0]
    'decoding images: 1/3'
    """

    def __init__(self, what: str, total: int, *, every: float = EVERY, unit: str = "") -> None:
        self.what, self.total, self.every, self.unit = what, max(int(total), 0), every, unit
        self.done = 0
        self.start = self.last = time.perf_counter()

    def tick(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if self.done >= self.total or now - self.last >= self.every:
            self.last = now
            say(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.perf_counter()) - self.start
        if self.done >= self.total:
            return f"{self.what}: {self.total:,}{self.unit} done in {duration(elapsed)}"
        so_far = f"{self.what}: {self.done:,}/{self.total:,}{self.unit}, {duration(elapsed)} so far"
        if not self.done:
            return f"{so_far}, the time left is not known yet"
        return f"{so_far}, about {duration(elapsed / self.done * (self.total - self.done))} left"


class step:  # noqa: N801 - used as a context manager, reads as a phrase
    """``with step("t-SNE of 3,000 galaxies"):`` says when a step starts and how long it took."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> step:
        self.start = time.perf_counter()
        say(f"{self.what} ...")
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            say(f"{self.what}: done in {duration(time.perf_counter() - self.start)}")


@contextmanager
def relay_progress(stem: str, path: Path, *, quiet_after: float = 25.0):
    """While a chapter runs, print the progress lines its kernel writes to ``path`` (see the
    module docstring), prefixed with the chapter; after ``quiet_after`` seconds without one, say
    that the chapter is still working, so a slow run never looks hung. The caller starts the
    kernel with ``GC_PROGRESS_FILE=path`` in its own environment (not this process's: two
    chapters may run at once)."""
    path.unlink(missing_ok=True)
    path.touch()
    stop = threading.Event()
    started = time.perf_counter()

    def relay() -> None:
        last = time.perf_counter()
        with open(path, encoding="utf-8") as f:
            while True:
                line = f.readline()
                if line:
                    print(f"[{stem}]   {line.rstrip()}", flush=True)
                    last = time.perf_counter()
                    continue
                if stop.is_set():
                    return
                if time.perf_counter() - last > quiet_after:
                    print(f"[{stem}]   still working ({duration(time.perf_counter() - started)} "
                          "since the chapter started)", flush=True)
                    last = time.perf_counter()
                stop.wait(0.5)

    thread = threading.Thread(target=relay, name=f"progress-{stem}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        path.unlink(missing_ok=True)


__all__ = ["say", "log_to", "duration", "Ticker", "step", "relay_progress", "in_kernel", "ENV",
           "EVERY", "current_stream"]
