"""Project-wide pytest policy: a skipped test is a failing test (no silent gaps in `make test`),
and no test leaves the process environment changed for the tests after it."""

import os
import tempfile
import time
from pathlib import Path

import pytest

_skipped: list[str] = []

# `make test` runs on two processes (pytest-xdist, `-n 2`): the replay's chapters, in order, on
# one of them, the other tests beside it on the other core. Threads that spin while they wait
# take the other process's core, so both wait passively; in a worker the tests' own work uses
# one thread, while the replay's kernels keep the thread counts a chapter has on its own (see
# pytest_runtest_setup), so the replay computes what `make book` computes.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "NUMBA_NUM_THREADS", "GC_THREADS")}
REPLAY = "replay"
if os.environ.get("PYTEST_XDIST_WORKER"):  # set before numpy, torch or numba are imported here
    os.environ.update(ONE_THREAD, OMP_WAIT_POLICY="PASSIVE")


def _is_replay(item) -> bool:
    return type(item).__name__ == "IPyNbCell"


# While the replay trains chapter 2's network (every core, about 3 minutes), the other worker
# waits between two tests: beside it, training took half as long again and gained nothing. The
# rest of the replay (chapters 3-9, mostly one core) then runs beside the other tests.
TRAINING = "notebooks/02_train_resnet34.ipynb::"
WAIT_AT_MOST = 900  # seconds: a replay that died mid-training holds nobody for longer


def _training_flag() -> Path | None:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # one per `pytest -n` session, in every worker
    return Path(tempfile.gettempdir()) / f"galactic-clustering-{run}.training" if run else None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """xdist's scheduling by scope, with every notebook cell in one scope: the chapters read what
    the ones before them wrote, so one worker replays them all, in order (the largest unit,
    handed out first); every other test is a unit of its own. (xdist's `loadgroup` marks do not
    reach pytest 9's node ids.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ReplayInOrder(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return REPLAY if ".ipynb::" in nodeid else nodeid

    return ReplayInOrder(config, log)


# The generated data and the book's pages hold no tests (paths from this folder, so that the
# package's own helpers/data and helpers/book are still collected, with their doctests).
collect_ignore = ["data", "book"]


def pytest_runtest_logreport(report):
    if report.skipped:
        _skipped.append(report.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    if _skipped and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} skipped test(s) count as failures here: " + ", ".join(_skipped[:5]),
            red=True,
        )


@pytest.fixture(autouse=True)
def _environment_is_given_back():
    """Give ``os.environ`` back after each test. A Dask nanny writes its workers' variables
    (``OMP_NUM_THREADS=1``, ``MALLOC_TRIM_THRESHOLD_``) into the process that starts it and
    leaves them: every notebook kernel that nbval spawned afterwards inherited them and trained
    chapter 2 about 1.5x slower."""
    saved = dict(os.environ)
    yield
    for key in [k for k in os.environ if k not in saved]:
        del os.environ[key]
    os.environ.update(saved)


# The replay (pytest --nbval) compares each chapter's headline numbers through the report that
# helpers.replay prints (within the measured run-to-run tolerance of the committed run), not
# digit by digit through the glue records myst-nb reads for the book: those carry the same
# numbers to more digits than a run on another machine reproduces.
GLUE_RECORDS = ("application/papermill.record/text/plain", "application/papermill.record/text/html",
                "application/papermill.record/text/markdown")


def pytest_collection_modifyitems(items):
    for item in items:
        parent = getattr(item, "parent", None)
        skip = getattr(parent, "skip_compare", None)
        if skip is not None and GLUE_RECORDS[0] not in skip:
            parent.skip_compare = tuple(skip) + GLUE_RECORDS


def pytest_sessionstart(session):
    """The replay re-runs the committed chapters on the demo mock: without it, say what to run
    (one line) instead of a chapter failing deep inside."""
    if not getattr(session.config.option, "nbval", False):
        return
    from helpers import paths
    from helpers.data.schema import SOLUTIONS_CSV

    if not (paths.SYNTHETIC / "demo" / SOLUTIONS_CSV).exists():
        pytest.exit("the nbval replay needs the demo mock in data/synthetic/demo: run `make data` "
                    "(or `python -m helpers prepare`) first", returncode=4)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """In a `make test` worker: a replayed chapter's kernel starts (in its first cell's setup)
    without the worker's one-thread limits, so it trains and maps at the thread counts of `make
    book`; chapter 2's cells hold the other worker (the training flag); other tests wait for it."""
    flag = _training_flag()
    if flag is None or not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    if not _is_replay(item):
        deadline = time.monotonic() + WAIT_AT_MOST
        while flag.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        yield
        return
    alone = item.nodeid.startswith(TRAINING)
    if alone:
        flag.touch()
    saved = {name: os.environ.pop(name) for name in (*ONE_THREAD, *(["OMP_WAIT_POLICY"] if alone else []))
             if name in os.environ}  # training alone, its threads may spin as in `make book`
    try:
        yield
    finally:
        os.environ.update(saved)


def pytest_runtest_teardown(item, nextitem):
    flag = _training_flag()
    if flag is not None and item.nodeid.startswith(TRAINING) and not (
            nextitem is not None and nextitem.nodeid.startswith(TRAINING)):
        flag.unlink(missing_ok=True)  # chapter 2's last cell: the other worker goes on


def pytest_unconfigure(config):
    flag = _training_flag()
    if flag is not None and os.environ.get("PYTEST_XDIST_WORKER"):
        flag.unlink(missing_ok=True)
