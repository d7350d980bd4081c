"""Run artifacts: atomic writes, ``metrics.json``, and where the data came from.

Every file a chapter hands to a later one is written to a temporary name in the same folder
and renamed into place, so an interrupted run never leaves a half file that a later chapter
would trust.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from helpers.data.schema import SOLUTIONS_CSV, TRUTH_FILE

METRICS = "metrics.json"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "x.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "x.txt").read_text()
    'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if tmp.exists():  # mkstemp makes 0600 files: give the file the mode the user's umask asks for
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


LOCK = ".lock"
LOCK_OWNER_ENV = "GC_LOCK_OWNER"  # the runner's PID, so that its own chapters pass its lock


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def lock_holder(folder: str | Path) -> dict | None:
    """Who holds ``folder``'s lock (``pid``, ``started``, ``command``), if a live process does."""
    path = Path(folder) / LOCK
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    pid = int(info.get("pid", 0))
    return info if pid and _alive(pid) else None


@contextmanager
def folder_lock(folder: str | Path, what: str) -> Iterator[None]:
    """Hold ``folder/.lock`` while a run writes there; a second process is refused at once.

    The lock names its process and start time; a lock left by a process that no longer runs is
    taken over with a note. ``what`` says what holds it (in messages).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with folder_lock(d, "a test"):
    ...     (d / LOCK).exists()
    True
    >>> (d / LOCK).exists()
    False
    """
    import datetime
    import sys

    from helpers.errors import UserError

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    info = {"pid": os.getpid(), "what": what,
            "started": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)[:300]}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666 & ~_umask())
        except FileExistsError:
            holder = lock_holder(folder)
            if holder is not None:
                raise UserError(
                    f"{folder} is in use by process {holder['pid']} ({holder.get('what', '?')}, "
                    f"started {holder.get('started', '?')}): wait for it to finish or stop it; two "
                    "runs writing one folder would mix their results") from None
            print(f"note: taking over the lock of {folder}: the process that left it no longer runs",
                  file=sys.stderr, flush=True)
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        break
    else:  # pragma: no cover - another process won the race twice
        raise UserError(f"{folder}: could not take its lock; try again")
    try:
        yield
    finally:
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass


def check_not_locked(folder: str | Path) -> None:
    """Refuse to write ``folder`` while another live process holds its lock (a chapter run by
    hand while ``helpers run`` works on the same run), unless that process is our own runner."""
    from helpers.errors import UserError

    holder = lock_holder(folder)
    if holder is None or str(holder["pid"]) == os.environ.get(LOCK_OWNER_ENV):
        return
    raise UserError(f"{folder} is in use by process {holder['pid']} ({holder.get('what', '?')}, "
                    f"started {holder.get('started', '?')}): wait for it to finish")


def write_atomic(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_parquet(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame to Parquet atomically (no index)."""
    return write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_json(obj: Any, path: str | Path) -> Path:
    """Write JSON atomically, sorted and indented so that diffs are readable."""
    text = json.dumps(obj, indent=2, sort_keys=True, default=_jsonable) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return value.as_posix()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def read_metrics(run_dir: str | Path) -> dict:
    """The run's metrics so far ({} when none)."""
    path = Path(run_dir) / METRICS
    return json.loads(path.read_text()) if path.exists() else {}


METRICS_LOCK = ".metrics.lock"


def update_metrics(run_dir: str | Path, section: str, values: dict) -> dict:
    """Replace one chapter's ``section`` of ``metrics.json`` and return the whole document.

    Chapters that run at the same time (``helpers run`` runs two when they do not depend on each
    other) each replace their own section: the read and the write happen under one lock, so
    neither loses the other's.

    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> _ = update_metrics(d, "a", {"x": 1})
    >>> sorted(update_metrics(d, "b", {"y": 2}))
    ['a', 'b']
    """
    import fcntl

    with open(Path(run_dir) / METRICS_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        metrics = read_metrics(run_dir)
        metrics[section] = values
        write_json(metrics, Path(run_dir) / METRICS)
    return metrics


def data_source(data_dir: str | Path) -> dict:
    """Say whether ``data_dir`` holds the mock Galaxy Zoo (with ground truth) or real data.

    Every page states this, so that no reader takes mock numbers for real ones.
    """
    data_dir = Path(data_dir)
    mock_manifest = data_dir / "mock.json"
    if mock_manifest.exists():
        info = json.loads(mock_manifest.read_text())
        return {
            "kind": "mock",
            "truth": (data_dir / TRUTH_FILE).exists(),
            "description": (
                f"the mock Galaxy Zoo ({info.get('n', '?')} simulated galaxies, seed "
                f"{info.get('seed', '?')}): simulated images and volunteer votes with known truth, "
                "not real Galaxy Zoo data"
            ),
        }
    truth = (data_dir / TRUTH_FILE).exists()
    return {
        "kind": "real",
        "truth": truth,
        "description": (
            f"real data: the Galaxy Zoo vote table and images in the Kaggle layout, read from "
            f"{data_dir.name}/{SOLUTIONS_CSV}"
            + (f" (with a {TRUTH_FILE} of its own)" if truth else " (no ground truth beyond the votes)")
        ),
    }
