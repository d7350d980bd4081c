"""Project-wide pytest policy: a skipped test is a failing test (no silent gaps in `make test`),
and no test leaves the process environment changed for the tests after it."""

import os

import pytest

_skipped: list[str] = []

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
