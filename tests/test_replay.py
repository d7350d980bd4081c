"""The replay has teeth: each chapter prints whether its headline numbers lie within their
run-to-run tolerance of the committed run, and pytest --nbval compares that text with the
committed notebook's. These tests check the committed pieces fit together and that moving any
committed headline number of chapters 2-7 outside its tolerance changes the text the replay
compares (so the replay fails), while the committed values themselves reproduce it."""

import json

import nbformat
import pytest

from helpers import paths, replay
from helpers.errors import DataError

CHAPTERS = {"02_train_resnet34": "train", "03_extract_features": "features", "04_reduce": "reduce",
            "05_cluster": "cluster", "06_compare": "compare", "07_new_galaxies": "new"}


def lines(text: str) -> tuple[str, list[str]]:
    """A report as (header, its headline lines in name order): the chapter prints them in its own
    order, headlines.json keeps them sorted; the replay compares the chapter's text with itself."""
    head, *rest = text.rstrip("\n").splitlines()
    return head, sorted(rest)


def committed_report(stem: str) -> str:
    """The headline report the committed notebook printed (the cell that calls close_chapter)."""
    nb = nbformat.read(paths.NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "study.close_chapter(" in c.source]
    assert len(cells) == 1, f"{stem}: expected one close_chapter cell"
    cell = cells[0]
    assert "NBVAL_IGNORE_OUTPUT" not in cell.source, f"{stem}: the headline report must be compared"
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    assert text.startswith("Headline numbers against the committed run"), text[:200]
    return text.rstrip("\n")


@pytest.fixture(scope="module")
def committed():
    ref = replay.load_committed()
    assert ref, "notebooks/headlines.json is missing: make refresh writes it"
    return ref


@pytest.mark.parametrize("stem", sorted(CHAPTERS))
def test_the_committed_values_reproduce_the_committed_report(stem, committed):
    section = CHAPTERS[stem]
    values = committed["sections"][section]
    assert values, f"no headline numbers recorded for {section}"
    assert lines(replay.report(section, values, committed["source"])) == lines(committed_report(stem))
    assert "OUTSIDE" not in committed_report(stem)


@pytest.mark.parametrize("stem", sorted(CHAPTERS))
def test_moving_any_committed_headline_outside_its_tolerance_fails_the_replay(stem, committed):
    section = CHAPTERS[stem]
    tolerances = replay.load_tolerances()
    values = replay.flatten(committed["sections"][section])
    expected = committed_report(stem)
    for name, value in values.items():
        tol = replay.tolerance_for(section, name, tolerances)
        if tol == replay.EXACT:  # a verdict: test_a_verdict_that_changes_fails_the_replay
            continue
        for moved in (value + 1.5 * tol, value - 1.5 * tol):
            ref = {**committed, "sections": {**committed["sections"],
                                             section: {**values, name: moved}}}
            found = replay.check(section, values, committed["source"], committed=ref,
                                    tolerances=tolerances)
            text = "\n".join([expected.splitlines()[0], *(f"  {line}" for line in found)])
            assert lines(text) != lines(expected) and f"{name}: OUTSIDE tolerance" in text
        # and a move within half the tolerance leaves the compared text as it is
        ref = {**committed, "sections": {**committed["sections"], section: {**values, name: value + tol / 2}}}
        found = replay.check(section, values, committed["source"], committed=ref, tolerances=tolerances)
        assert lines("\n".join([expected.splitlines()[0], *(f"  {line}" for line in found)])) == lines(expected)


def test_every_headline_has_a_tolerance_and_the_refresh_run_matches_itself(monkeypatch):
    with pytest.raises(DataError, match="no tolerance for train.unknown"):
        replay.check("train", {"unknown": 1.0}, "mock", committed={}, tolerances={"train": {}})
    monkeypatch.setenv(replay.COMMITTED_ENV, "1")
    assert replay.check("train", {"rmse": 5.0}, "mock", committed={"source": "mock", "sections": {}},
                           tolerances={"train": {"rmse": 0.1}}) == ["rmse: within tolerance"]


def test_a_run_on_other_data_is_not_compared():
    ref = {"source": "the mock", "sections": {"train": {"rmse": 0.1}}}
    lines = replay.check("train", {"rmse": 0.5}, "real data", committed=ref,
                            tolerances={"train": {"rmse": 0.01}})
    assert lines == ["this run is not the committed run (its data differ): nothing to compare"]


def test_missing_and_extra_headlines_are_named():
    ref = {"source": "m", "sections": {"train": {"a": 1.0, "b": 2.0}}}
    lines = replay.check("train", {"a": 1.0, "c": 3.0}, "m", committed=ref,
                            tolerances={"train": {"a": 0.1, "b": 0.1, "c": 0.1}})
    assert lines == ["a: within tolerance", "c: NOT COMMITTED (run make refresh)",
                     "b: MISSING from this run"]


def test_write_committed_collects_the_sections_of_a_run(tmp_path):
    run = tmp_path / "demo"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"train": {"headlines": {"rmse": {"tree": 0.1}}},
                                                  "reduce": {"galaxies": 3}}))
    out = replay.write_committed(run, ["train", "reduce"], "the mock", path=tmp_path / "h.json")
    assert json.loads(out.read_text()) == {"source": "the mock", "run": "demo",
                                           "sections": {"train": {"rmse": {"tree": 0.1}}}}


def test_every_claimed_verdict_is_larger_than_its_noise(committed):
    """A verdict the book states (a claim) is compared word for word by the replay, which is
    sound only while its margin is well outside the run-to-run spread: the margin must be more
    than twice the tolerance of the margin itself and of every headline it compares."""
    tolerances = replay.load_tolerances()
    claims = replay.claims(tolerances)
    assert claims, "notebooks/tolerances.yml states no claim"
    for key, compared in claims.items():
        section, name = key.split(".", 1)
        flat = replay.flatten(committed["sections"][section])
        assert flat[f"verdicts.{name}"] in ("better", "worse"), (key, flat[f"verdicts.{name}"])
        margin = abs(flat[f"margins.{name}"])
        for headline in [f"margins.{name}", *compared]:
            assert headline in flat, f"{key} compares {headline}, which {section} does not record"
            tol = replay.tolerance_for(section, headline, tolerances)
            assert tol < margin / 2, f"{key}: the tolerance of {headline} ({tol}) is not below half its margin ({margin})"


def test_moving_a_compared_headline_by_half_a_claimed_margin_fails_the_replay(committed):
    """Each headline a claim compares, moved by half the claim's margin, leaves its tolerance."""
    tolerances = replay.load_tolerances()
    for key, compared in replay.claims(tolerances).items():
        section, name = key.split(".", 1)
        values = committed["sections"][section]
        flat = replay.flatten(values)
        half = abs(flat[f"margins.{name}"]) / 2
        for headline in compared:
            ref = {**committed, "sections": {**committed["sections"],
                                             section: {**flat, headline: flat[headline] + half}}}
            found = replay.check(section, values, committed["source"], committed=ref, tolerances=tolerances)
            assert f"{headline}: OUTSIDE tolerance" in "\n".join(found), (key, headline)


def test_a_verdict_that_changes_fails_the_replay(committed):
    tolerances = replay.load_tolerances()
    for key in replay.claims(tolerances):
        section, name = key.split(".", 1)
        values = committed["sections"][section]
        flat = replay.flatten(values)
        other = "not told apart" if flat[f"verdicts.{name}"] != "not told apart" else "better"
        ref = {**committed, "sections": {**committed["sections"], section: {**flat, f"verdicts.{name}": other}}}
        found = replay.check(section, values, committed["source"], committed=ref, tolerances=tolerances)
        assert f"verdicts.{name}: DIFFERS" in "\n".join(found)
