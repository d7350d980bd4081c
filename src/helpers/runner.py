"""Run the study: every chapter in order with papermill on a parameter profile, then the book.

A profile (``params/demo.yml``) names the run, the data, and the chapters' parameters::

    run: demo                      # artifacts and executed notebooks go to data/processed/demo/
    mock: {n: 2000, seed: 42}      # generate the mock Galaxy Zoo into data_dir when it is missing
    data_dir: data/synthetic/demo  # Kaggle layout; relative paths start at the repository root
    seed: 42                       # any parameter a chapter declares; passed to those that declare it
    chapters:
      01_labels: {label_threshold: null}   # parameters for one chapter only

The runner never edits tracked files: executed notebooks land in ``<run_dir>/notebooks/`` and the
book is rendered from a staged copy in ``_build/source`` into ``_build/html``. ``refresh=True``
is the one exception, on purpose: it writes the executed notebooks back as the committed
reference outputs, stripped of papermill's metadata so that the diff shows only real changes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from helpers import paths, progress, replay
from helpers.data.schema import SOLUTIONS_CSV
from helpers.errors import ParameterError, UserError
from helpers.progress import duration

RUNNER_KEYS = {"run", "mock", "chapters", "description"}
KERNEL = "python3"


@dataclass
class Profile:
    """A parameter profile, read and checked."""

    path: Path
    run: str
    data_dir: Path
    mock: dict | None
    common: dict[str, Any] = field(default_factory=dict)
    chapters: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return paths.PROCESSED / self.run


def load_profile(path: str | Path) -> Profile:
    """Read a YAML profile; every mistake is a ParameterError naming the file and key."""
    path = paths.resolve(path)
    if not path.exists():
        known = ", ".join(p.relative_to(paths.ROOT).as_posix() for p in sorted(paths.PARAMS.glob("*.yml")))
        raise ParameterError(f"profile {path} does not exist; known profiles: {known}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ParameterError(f"{path}: expected a mapping of parameters at the top level")
    run = raw.get("run")
    if not isinstance(run, str) or not run or "/" in run or run.startswith("."):
        raise ParameterError(f"{path}: 'run' must be a plain folder name such as 'demo' (got {run!r})")
    if not isinstance(raw.get("data_dir"), str) or not raw["data_dir"].strip():
        raise ParameterError(f"{path}: 'data_dir' must name the folder with {SOLUTIONS_CSV} "
                             f"(got {raw.get('data_dir')!r})")
    mock = raw.get("mock")
    if mock is not None:
        if not isinstance(mock, dict) or "n" not in mock:
            raise ParameterError(f"{path}: 'mock' must be a mapping with at least 'n' (and 'seed')")
        unknown = set(mock) - {"n", "seed", "n_test"}
        if unknown:
            raise ParameterError(f"{path}: unknown keys under 'mock': {sorted(unknown)} (use n, seed, n_test)")
        for key, low in (("n", 1), ("seed", 0), ("n_test", 0)):
            value = mock.get(key, low)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ParameterError(f"{path}: mock.{key} must be an integer >= {low} (got {value!r})")
    chapters = raw.get("chapters") or {}
    if not isinstance(chapters, dict) or not all(isinstance(v, dict) for v in chapters.values()):
        raise ParameterError(f"{path}: 'chapters' must map chapter names to parameter mappings")
    common = {k: v for k, v in raw.items() if k not in RUNNER_KEYS}
    return Profile(path=path, run=run, data_dir=paths.resolve(raw["data_dir"]), mock=mock,
                   common=common, chapters=chapters)


def chapter_sources() -> list[Path]:
    """The chapters' py:percent sources, in order (``notebooks/NN_name.py``)."""
    return sorted(paths.NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def read_chapter(source: Path):
    """The chapter as an nbformat notebook, outputs empty, with stable cell ids."""
    import jupytext

    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
        cell.metadata.setdefault("tags", [])  # papermill expects the key (empty ones are stripped)
    return nb


def declared_parameters(nb) -> dict[str, Any]:
    """Names and defaults of the parameters cell (the cell tagged ``parameters``)."""
    import tempfile

    import nbformat
    from papermill import inspect_notebook

    with tempfile.TemporaryDirectory() as tmp:  # papermill's public API reads a notebook file
        path = Path(tmp) / "chapter.ipynb"
        nbformat.write(nb, path)
        return {name: p["default"] for name, p in inspect_notebook(path).items()}


def chapter_parameters(profile: Profile, stem: str, declared: dict[str, Any]) -> dict[str, Any]:
    """The parameters papermill injects into chapter ``stem``: the profile's values it declares."""
    params = {k: v for k, v in profile.common.items() if k in declared}
    params.update(profile.chapters.get(stem, {}))
    if "run_dir" in declared:
        params["run_dir"] = paths.relative(profile.run_dir)
    if "data_dir" in declared:
        params["data_dir"] = paths.relative(profile.data_dir)
    unknown = set(profile.chapters.get(stem, {})) - set(declared)
    if unknown:
        raise ParameterError(
            f"{profile.path.name}: chapters.{stem} sets {sorted(unknown)}, which {stem} does not "
            f"declare; its parameters are {sorted(declared)}"
        )
    return params


def check_profile_keys(profile: Profile, declared_by_chapter: dict[str, dict[str, Any]]) -> None:
    """A key no chapter declares is a typo: say so before anything runs."""
    everything = set().union(*declared_by_chapter.values()) if declared_by_chapter else set()
    unknown = set(profile.common) - everything - {"data_dir"}
    if unknown:
        raise ParameterError(
            f"{profile.path.name}: {sorted(unknown)} is not a parameter of any chapter; "
            f"known parameters: {sorted(everything)}"
        )
    stray = set(profile.chapters) - set(declared_by_chapter)
    if stray:
        raise ParameterError(
            f"{profile.path.name}: no chapter named {sorted(stray)}; chapters: {sorted(declared_by_chapter)}"
        )


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


# What each chapter writes into the run folder: removed before the chapter (and every later
# one) runs again, so that a failed or interrupted rerun never leaves an older artifact that a
# later chapter would trust.
ARTIFACTS: dict[str, tuple[str, tuple[str, ...]]] = {  # chapter -> (metrics.json section, files)
    "01_labels": ("labels", ("labels.parquet", "validation.json")),
    "02_train_resnet34": ("train", ("model.safetensors", "model.json", "history.csv", "split.parquet")),
    "03_extract_features": ("features", ("features.parquet", "predictions.parquet",
                                         "features_untrained.parquet")),
    "04_reduce": ("reduce", ("embeddings.parquet",)),
    "05_cluster": ("cluster", ("clusters.parquet",)),
    "06_compare": ("compare", ()),
    "07_new_galaxies": ("new", ("new_galaxies.parquet", "new_codes")),
    "08_mock_realism": ("realism", ()),
}


def clear_downstream(profile: Profile, first: str) -> list[str]:
    """Delete the artifacts (and metrics sections) of chapter ``first`` and every later chapter."""
    from helpers.artifacts import read_metrics, write_json

    stems = [s.stem for s in chapter_sources()]
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


def strip_run_metadata(nb) -> None:
    """Remove what papermill and the kernel add that changes from run to run."""
    nb.metadata.pop("papermill", None)
    nb.metadata.pop("widgets", None)
    nb.metadata.get("language_info", {}).pop("version", None)  # the patch release churns diffs
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        tags = cell.metadata.get("tags")
        if tags is not None and not tags:
            cell.metadata.pop("tags")


def execute_chapter(source: Path, profile: Profile, *, refresh: bool = False) -> Path:
    """Execute one chapter with papermill into ``<run_dir>/notebooks/``; return the output path."""
    import nbformat
    import papermill as pm

    nb = read_chapter(source)
    declared = declared_parameters(nb)
    params = chapter_parameters(profile, source.stem, declared)
    out_dir = profile.run_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    input_path = out_dir / f".{source.stem}.input.ipynb"
    output_path = out_dir / f"{source.stem}.ipynb"
    nbformat.write(nb, input_path)
    # refresh writes the notebook's own defaults: the profile must agree with them (checked)
    inject = {} if refresh else params
    if refresh:
        differ = {k: (v, declared[k]) for k, v in params.items()
                  if k in declared and _literal(declared[k]) != v}
        if differ:
            raise ParameterError(
                f"refresh writes the committed run, so {profile.path.name} must equal the defaults "
                f"of {source.name}; these differ (profile, notebook): {differ}"
            )
    started = time.perf_counter()
    print(f"[{source.stem}] running with {inject or 'its defaults'}", flush=True)
    guess = estimate_seconds(source.stem, {**{k: _literal(v) for k, v in declared.items()}, **params},
                             profile)
    if guess:
        print(f"[{source.stem}] expected to take about {duration(guess)} on a 2-core CPU like the "
              "project's build machine", flush=True)
    kernel_log = out_dir / f"{source.stem}.kernel.log"
    try:
        with relay_progress(source.stem, out_dir / f".{source.stem}.progress"):
            _in_worker_thread(lambda: pm.execute_notebook(
                str(input_path), str(output_path), parameters=inject, kernel_name=KERNEL,
                cwd=str(paths.ROOT), progress_bar=False, log_output=False, report_mode=False,
                kernel_manager_class=_quiet_kernel_manager(kernel_log),
            ))
    except pm.PapermillExecutionError as exc:
        raise UserError(
            f"chapter {source.stem} failed in cell {exc.exec_count} ({exc.ename}: {exc.evalue}); "
            f"the executed notebook with the error is {paths.relative(output_path)}"
        ) from None
    except Exception as exc:  # dead kernel (out of memory), cell timeout, missing kernel spec
        raise UserError(
            f"chapter {source.stem} did not finish ({type(exc).__name__}: {exc}); what ran is in "
            f"{paths.relative(output_path)}, the kernel's own messages in "
            f"{paths.relative(kernel_log)}. A dead kernel usually means the machine ran out of "
            "memory: lower the batch size or the number of galaxies in the profile"
        ) from None
    finally:
        input_path.unlink(missing_ok=True)
    executed = nbformat.read(output_path, as_version=4)
    strip_run_metadata(executed)
    nbformat.write(executed, output_path)
    print(f"[{source.stem}] done in {time.perf_counter() - started:.1f} s -> "
          f"{paths.relative(output_path)}", flush=True)
    return output_path


def _in_worker_thread(work) -> Any:
    """Run ``work()`` in a daemon thread and wait for it in this one.

    nbclient answers SIGINT inside its event loop by killing the kernel and then raising an
    ordinary error, so Ctrl-C looked like a dead kernel (exit 1) or, depending on when it came,
    an interrupt. Off the main thread nbclient installs no signal handler: Ctrl-C raises
    KeyboardInterrupt here, the command exits 130, and the kernel, whose parent is gone, stops
    itself (ipykernel polls its parent).
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the main thread as it is
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="papermill", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _quiet_kernel_manager(log: Path):
    """A kernel manager whose kernel writes its own stderr to ``log``, not to the terminal: its
    start-up warnings, and the traceback a kernel prints when Ctrl-C stops the run mid-cell, are
    not for the user (cell errors are in the executed notebook)."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            if "stderr" not in kw:
                log.parent.mkdir(parents=True, exist_ok=True)
                kw["stderr"] = open(log, "ab")  # noqa: SIM115 - the kernel process owns it
            return await super().start_kernel(**kw)

    return QuietKernelManager


@contextmanager
def relay_progress(stem: str, path: Path, *, quiet_after: float = 25.0):
    """While a chapter runs, print the progress lines its kernel writes to ``path`` (see
    :mod:`helpers.progress`), prefixed with the chapter; after ``quiet_after`` seconds without
    one, say that the chapter is still working, so a slow run never looks hung."""
    path.unlink(missing_ok=True)
    path.touch()
    previous = os.environ.get(progress.ENV)
    os.environ[progress.ENV] = str(path)
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
        if previous is None:
            os.environ.pop(progress.ENV, None)
        else:
            os.environ[progress.ENV] = previous
        path.unlink(missing_ok=True)


# Rates measured on the project's 2-core build machine (README, "The chapters"), per image at
# 64 px; other sizes scale with the pixel count. Used only for the estimate printed before a
# chapter: real runs differ with the machine (a GPU is far faster at chapters 2-3).
RATES = {"train": 90.0, "forward": 250.0, "decode": 400.0}  # ResNet34; train: with its validation pass
ARCH_SPEED = {"resnet18": 2.0, "resnet34": 1.0, "resnet50": 0.45}  # images per second, relative


def _n_galaxies(profile: Profile) -> int:
    if profile.mock:
        return int(profile.mock["n"])
    csv = profile.data_dir / SOLUTIONS_CSV
    try:
        with open(csv, "rb") as f:
            return max(sum(1 for _ in f) - 1, 0)
    except OSError:
        return 0


def estimate_seconds(stem: str, params: dict, profile: Profile) -> float | None:
    """A rough time for chapter ``stem`` with these parameters on a 2-core CPU (None: no guess).

    >>> p = Profile(path=Path("p.yml"), run="r", data_dir=Path("d"), mock={"n": 3000})
    >>> round(estimate_seconds("02_train_resnet34", {"n_train": 2000, "epochs": 16, "image_size": 64,
    ...                                              "heads": ["tree"], "ablation": None, "arch": "resnet18",
    ...                                              "valid_pct": 0.2, "lr": 0.002}, p))
    169
    """
    n = _n_galaxies(profile)
    if not n:
        return None
    scale = (int(params.get("image_size") or 64) / 64) ** 2 / ARCH_SPEED.get(params.get("arch"), 1.0)
    if stem == "01_labels":
        return 5 + n / RATES["decode"]
    if stem == "02_train_resnet34":
        used = min(n, params.get("n_train") or n)
        train = used * (1 - float(params.get("valid_pct", 0.2)))
        heads = len(params.get("heads") or [1]) + bool(params.get("ablation"))
        epochs = int(params.get("epochs") or 1)
        finder = 64 * 30 / RATES["train"] if params.get("lr", 1) is None else 0
        return 20 + scale * (heads * epochs * train / RATES["train"] + finder
                             + 8 * used * 0.2 / RATES["forward"])
    if stem == "03_extract_features":
        coded = min(n, params.get("n_galaxies") or n)
        return 15 + 3 * coded / RATES["forward"]
    if stem in ("04_reduce", "05_cluster", "06_compare"):
        coded = min(n, 20_000)
        return {"04_reduce": 20 + coded / 40, "05_cluster": 25 + coded / 35,
                "06_compare": 20 + coded / 100}[stem]
    return None


def _literal(default: str) -> Any:
    """papermill reports defaults as source text: turn them into values for comparison."""
    import ast

    try:
        return ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return default


def refresh_committed(executed: Path) -> Path:
    """Copy an executed notebook over the committed ``notebooks/NN.ipynb``, checking the pair."""
    import jupytext

    target = paths.NOTEBOOKS / executed.name
    source = target.with_suffix(".py")
    cells = [(c.cell_type, c.source) for c in jupytext.read(executed).cells]
    if cells != [(c.cell_type, c.source) for c in jupytext.read(source).cells]:
        raise UserError(f"{paths.relative(executed)} does not hold the cells of {source.name}: "
                        "was the source edited during the run? Run `make refresh` again.")
    from helpers.artifacts import write_atomic

    write_atomic(target, lambda tmp: shutil.copyfile(executed, tmp))
    return target


def stage_book(executed: list[Path], build: Path | None = None) -> Path:
    """Lay out the book sources with these executed notebooks in ``<build>/source`` (default _build)."""
    stage = (build or paths.BUILD) / "source"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml", "references.bib"):
        if (paths.ROOT / name).exists():
            shutil.copy2(paths.ROOT / name, stage / name)
    shutil.copytree(paths.ROOT / "book", stage / "book")
    (stage / "notebooks").mkdir()
    for nb in executed:
        shutil.copy2(nb, stage / "notebooks" / nb.name)
    return stage


def build_book(stage: Path, build: Path | None = None) -> Path:
    """Render ``stage`` with jupyter-book 1.x (no execution, warnings are errors) into <build>/html.

    ``build`` must be a folder named ``_build`` (jupyter-book writes to ``<parent>/_build/html``).
    """
    build = build or paths.BUILD
    if build.name != "_build":
        raise ValueError(f"build folder must be named _build, not {build}")
    exe = Path(sys.executable).with_name("jupyter-book")
    if not exe.exists():
        raise UserError("jupyter-book is not installed in this environment: run `make setup`")
    html = build / "html"
    if html.exists():
        shutil.rmtree(html)
    # --path-output P renders into P/_build/html
    cmd = [str(exe), "build", str(stage), "--path-output", str(build.parent), "-n", "-W", "--keep-going"]
    print("[book] " + " ".join(cmd[1:]), flush=True)
    log = build / "book.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "w") as out:  # jupyter-book's own output goes to the log; a heartbeat here
        proc = subprocess.Popen(cmd, cwd=paths.ROOT, text=True, stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"[book]   still rendering ({duration(time.perf_counter() - started)}; "
                      f"log: {paths.relative(log)})", flush=True)
    text = log.read_text()
    if proc.returncode != 0:
        tail = "\n".join(text.strip().splitlines()[-15:])
        raise UserError(f"jupyter-book build failed (exit {proc.returncode}); full log: "
                        f"{paths.relative(log)}\n{tail}")
    index = html / "index.html"
    if not index.exists():
        raise UserError(f"jupyter-book exited 0 but wrote no {paths.relative(index)}; see {paths.relative(log)}")
    print(f"[book] {paths.relative(index)}", flush=True)
    return index


def preflight(profile: Profile, declared: dict[str, dict[str, Any]], stems: list[str], *,
              download: bool = True) -> None:
    """Check every value the selected chapters will run with, and everything they will read,
    before anything runs (:mod:`helpers.preflight`); one line per problem."""
    from helpers import preflight as checks

    defaults = {stem: {k: _literal(v) for k, v in declared[stem].items()} for stem in stems}
    values = {stem: {**defaults[stem], **chapter_parameters(profile, stem, declared[stem])} for stem in stems}
    found = checks.problems(profile, values, defaults, download=download)
    if found:
        raise ParameterError(f"{len(found)} problem(s) found before running anything:\n  "
                             + "\n  ".join(found))


def run(params: str | Path = "params/demo.yml", *, only: list[str] | None = None,
        book: bool = True, refresh: bool = False, check: bool = False) -> list[Path]:
    """Run the chapters of a profile in order, then (optionally) render the book."""
    profile = load_profile(params)
    sources = chapter_sources()
    if not sources:
        raise UserError(f"no chapters found in {paths.relative(paths.NOTEBOOKS)}")
    declared = {s.stem: declared_parameters(read_chapter(s)) for s in sources}
    check_profile_keys(profile, declared)
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
        if refresh:  # this run becomes the replay's reference: within tolerance of itself
            os.environ[replay.COMMITTED_ENV] = "1"
        try:
            executed = [execute_chapter(s, profile, refresh=refresh) for s in sources]
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
        all_executed = [profile.run_dir / "notebooks" / f"{s.stem}.ipynb" for s in chapter_sources()]
        missing = [p for p in all_executed if not p.exists()]
        if missing:
            raise UserError(f"cannot build the book: {paths.relative(missing[0])} has not run yet "
                            "(run without --only first)")
        build_book(stage_book(all_executed))
    return executed


def build_committed_book(build: Path | None = None) -> Path:
    """Render the committed notebooks (``notebooks/*.ipynb``) without running anything.

    This is the book exactly as committed (mock demo profile): about a minute, no training.
    """
    sources = chapter_sources()
    committed = [s.with_suffix(".ipynb") for s in sources]
    missing = [p for p in committed if not p.exists()]
    if missing:
        raise UserError(f"{paths.relative(missing[0])} is missing: run `make refresh` to create it")
    return build_book(stage_book(committed, build), build)


def run_cli(args: argparse.Namespace) -> int:
    if args.committed:
        build_committed_book()
        return 0
    run(args.params, only=args.only, book=not args.no_book, refresh=args.refresh, check=args.check)
    return 0


def prepare_cli(args: argparse.Namespace) -> int:
    profile = load_profile(args.params)
    print(paths.relative(prepare_data(profile)))
    return 0


__all__ = ["Profile", "load_profile", "run", "prepare_data"]
