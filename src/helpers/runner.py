"""Run the study: every chapter of a parameter profile, then the book.

:func:`run` reads the profile (:mod:`helpers.profiles`), checks everything the chapters will
need before anything runs (:func:`preflight`: :mod:`helpers.preflight`), makes the mock when
the profile asks for it (:func:`prepare_data`), removes what the rerun chapters and every later
one wrote (:func:`clear_downstream`), executes the chapters with papermill into
``<run_dir>/notebooks/`` (:mod:`helpers.chapters`), two at a time where one does not read the
other's results (:func:`execute_chapters`), and renders the book from a staged copy
(:mod:`helpers.book.build`). It never edits tracked files, except on purpose with
``refresh=True``: the executed notebooks become the committed outputs.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from helpers import paths, profiles, replay
from helpers.book.build import build_book, stage_book
from helpers.chapters import execute_chapter, refresh_committed
from helpers.data.schema import SOLUTIONS_CSV
from helpers.errors import ParameterError, UserError
from helpers.profiles import Profile
from helpers.run import ARTIFACTS


def prepare_data(profile: Profile) -> Path:
    """Make sure the profile's data exists: generate the mock when asked, else explain the download."""
    csv = profile.data_dir / SOLUTIONS_CSV
    if csv.exists() and (profile.mock is None or _mock_matches(profile)):
        return profile.data_dir
    if profile.mock is None:
        raise UserError(
            f"{paths.relative(csv)} is missing. Download the real data with the Kaggle CLI "
            "(see README, 'Real data'): kaggle competitions download -c galaxy-zoo-the-galaxy-challenge "
            f"-p {paths.relative(profile.data_dir)}, then unzip training_solutions_rev1.zip and "
            "images_training_rev1.zip there."
        )
    from helpers.data.synth import write_mock

    mock = profile.mock
    print(f"generating the mock Galaxy Zoo: {mock['n']} galaxies, seed {mock.get('seed', 0)} "
          f"-> {paths.relative(profile.data_dir)}", flush=True)
    write_mock(profile.data_dir, int(mock["n"]), int(mock.get("seed", 0)),
               n_test=int(mock.get("n_test", 0)), overwrite=profile.data_dir.exists(), progress=True)
    return profile.data_dir


def _mock_matches(profile: Profile) -> bool:
    """Whether the generated data in ``data_dir`` is what the profile's ``mock:`` asks for."""
    import json

    from helpers.data.synth import VERSION

    manifest = profile.data_dir / "mock.json"
    if not manifest.exists():
        raise UserError(
            f"{paths.relative(profile.data_dir)} holds data that the mock generator did not write, "
            f"but {profile.path.name} asks for a mock there: point data_dir elsewhere or remove "
            "the 'mock:' section"
        )
    have = json.loads(manifest.read_text())
    want = {"n": profile.mock["n"], "seed": profile.mock.get("seed", 0),
            "n_test": profile.mock.get("n_test", 0), "version": VERSION}
    stale = {k: (have.get(k), v) for k, v in want.items() if have.get(k) != v}
    if stale:
        print(f"the mock in {paths.relative(profile.data_dir)} differs from {profile.path.name} "
              f"(have, want): {stale}; generating it again", flush=True)
    return not stale


def clear_downstream(profile: Profile, first: str) -> list[str]:
    """Delete the artifacts (and metrics sections) of chapter ``first`` and every later chapter."""
    from helpers.artifacts import read_metrics, write_json

    stems = [s.stem for s in profiles.chapter_sources()]
    later = stems[stems.index(first):] if first in stems else []
    removed = []
    for stem in later:
        for name in ARTIFACTS.get(stem, ("", ()))[1]:
            path = profile.run_dir / name
            if path.is_dir():  # a featurize output folder
                shutil.rmtree(path)
                removed.append(name)
            elif path.exists():
                path.unlink()
                removed.append(name)
        (profile.run_dir / "notebooks" / f"{stem}.ipynb").unlink(missing_ok=True)
    metrics = read_metrics(profile.run_dir)
    stale = {ARTIFACTS[s][0] for s in later if s in ARTIFACTS}
    kept = {k: v for k, v in metrics.items() if k not in stale}
    if kept != metrics:
        write_json(kept, profile.run_dir / "metrics.json")
    return removed


def preflight(profile: Profile, declared: dict[str, dict[str, Any]], stems: list[str], *,
              download: bool = True) -> None:
    """Check every value the selected chapters will run with, and everything they will read,
    before anything runs (:mod:`helpers.preflight`); one line per problem."""
    from helpers import preflight as checks

    defaults, values = {}, {}
    for stem in stems:
        defaults[stem] = {k: profiles.default_value(v) for k, v in declared[stem].items()}
        values[stem] = {**defaults[stem], **profiles.chapter_parameters(profile, stem, declared[stem])}
    found = checks.problems(profile, values, defaults, download=download)
    if found:
        raise ParameterError(f"{len(found)} problem(s) found before running anything:\n  "
                             + "\n  ".join(found))


ALONE = {"02_train_resnet34"}  # trains with every core: nothing runs beside it


def execute_chapters(sources: list[Path], profile: Profile, *, refresh: bool = False,
                     jobs: int = 2) -> list[Path]:
    """Execute ``sources`` (in chapter order), at most ``jobs`` at a time; return the executed
    notebooks in chapter order.

    A chapter starts once every chapter it reads from (:data:`helpers.run.NEEDS`) among
    ``sources`` has finished, the earliest ready one first; chapter 2 runs alone (training uses
    every core, and a chapter beside it would slow it more than it gains). Each chapter seeds
    its own generators and keeps its thread counts, so the results are those of running the
    chapters one after the other (``jobs=1``). After a failure nothing new starts; the chapters
    under way finish, then the first error is raised. Ctrl-C stops the wait at once (the
    kernels, whose parent is gone, stop themselves).
    """
    import contextlib
    import queue
    import threading

    from helpers.run import NEEDS

    stems = {s.stem for s in sources}
    pending, running = list(sources), set()
    executed: dict[str, Path] = {}
    errors: list[BaseException] = []
    finished: queue.Queue[str] = queue.Queue()

    def work(source: Path) -> None:
        try:
            executed[source.stem] = execute_chapter(source, profile, refresh=refresh,
                                                    shared=jobs > 1 and source.stem not in ALONE)
        except BaseException as exc:  # handed to the waiting thread as it is
            errors.append(exc)
        finally:
            finished.put(source.stem)

    def ready(source: Path) -> bool:
        needs = [n for n in NEEDS.get(source.stem, ()) if n in stems]
        if any(n not in executed for n in needs):
            return False
        return not running if source.stem in ALONE else not (running & ALONE)

    while True:
        for source in [s for s in pending if not errors]:
            if len(running) < max(jobs, 1) and ready(source):
                pending.remove(source)
                running.add(source.stem)
                threading.Thread(target=work, args=(source,), name=source.stem, daemon=True).start()
        if not running:
            break
        done = None
        while done is None:  # short waits: Ctrl-C reaches this thread between two
            with contextlib.suppress(queue.Empty):
                done = finished.get(timeout=0.2)
        running.discard(done)
    if errors:
        raise errors[0]
    if pending:  # cannot happen with NEEDS in chapter order; say so rather than skip a chapter
        raise UserError(f"chapters {[s.stem for s in pending]} never became ready to run")
    return [executed[s.stem] for s in sources]


def run(params: str | Path = "params/demo.yml", *, only: list[str] | None = None,
        book: bool = True, refresh: bool = False, check: bool = False, jobs: int = 2) -> list[Path]:
    """Run the chapters of a profile (``jobs`` at a time where they do not depend on each other:
    :func:`execute_chapters`), then (optionally) render the book."""
    profile = profiles.load_profile(params)
    sources = profiles.chapter_sources()
    if not sources:
        raise UserError(f"no chapters found in {paths.relative(paths.NOTEBOOKS)}")
    declared = {s.stem: profiles.declared_parameters(profiles.read_chapter(s)) for s in sources}
    profiles.check_profile_keys(profile, declared)
    if only:
        missing = set(only) - set(declared)
        if missing:
            raise ParameterError(f"--only {sorted(missing)}: no such chapter; chapters: {sorted(declared)}")
        sources = [s for s in sources if s.stem in only]
    preflight(profile, declared, [s.stem for s in sources], download=not check)
    if check:
        print(f"{profile.path.name}: every check passed ({len(sources)} chapters)", flush=True)
        return []
    from helpers.artifacts import LOCK_OWNER_ENV, folder_lock

    with folder_lock(profile.run_dir, f"helpers run --params {profile.path.name}"):
        prepare_data(profile)
        clear_downstream(profile, sources[0].stem)
        os.environ[LOCK_OWNER_ENV] = str(os.getpid())  # our chapters may write the locked folder
        if refresh:  # this run becomes the committed run: within tolerance of itself
            os.environ[replay.COMMITTED_ENV] = "1"
        try:
            executed = execute_chapters(sources, profile, refresh=refresh, jobs=jobs)
        finally:
            os.environ.pop(replay.COMMITTED_ENV, None)
            os.environ.pop(LOCK_OWNER_ENV, None)
    if refresh:
        for nb in executed:
            print(f"[refresh] {paths.relative(refresh_committed(nb))}", flush=True)
        from helpers.artifacts import data_source

        sections = [ARTIFACTS[s.stem][0] for s in sources if s.stem in ARTIFACTS]
        written = replay.write_committed(profile.run_dir, sections, data_source(profile.data_dir)["description"])
        print(f"[refresh] {paths.relative(written)}", flush=True)
    if book:
        notebooks = profile.run_dir / "notebooks"
        all_executed = [notebooks / f"{s.stem}.ipynb" for s in profiles.chapter_sources()]
        missing = [p for p in all_executed if not p.exists()]
        if missing:
            raise UserError(f"cannot build the book: {paths.relative(missing[0])} has not run yet "
                            "(run without --only first)")
        build_book(stage_book(all_executed))
    return executed


__all__ = ["run", "execute_chapters", "prepare_data", "clear_downstream", "preflight", "ARTIFACTS"]
