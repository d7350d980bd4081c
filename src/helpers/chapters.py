"""One chapter, executed with papermill into its run's folder, and the committed notebooks.

:func:`execute_chapter` runs ``notebooks/NN_name.py`` with the profile's parameters into
``<run_dir>/notebooks/NN_name.ipynb``, relaying the kernel's progress to the terminal
(:func:`helpers.progress.relay_progress`) after printing an estimate of its time
(:mod:`helpers.estimates`); a failing cell or a dead kernel ends in one
:class:`~helpers.errors.UserError` naming the executed notebook. It never edits tracked files:
:func:`refresh_committed` is the one exception, on purpose (``helpers run --refresh``): it writes
an executed notebook back as the committed output, stripped of papermill's metadata
(:func:`strip_run_metadata`) so that the diff shows only real changes.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from helpers import paths
from helpers.errors import ParameterError, UserError
from helpers.estimates import estimate_seconds
from helpers.profiles import (
    KERNEL,
    Profile,
    chapter_parameters,
    declared_parameters,
    default_value,
    read_chapter,
)
from helpers.progress import ENV as PROGRESS_ENV
from helpers.progress import duration, relay_progress
from helpers.run import CHAPTER_ENV


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


PARAMETERS_LABEL = "# This run's values"  # the first line of every chapter's parameters cell


def _python_literal(value: Any) -> str:
    """A value as the Python source a parameters cell holds (strings in double quotes).

    >>> _python_literal({"a": [1, "x", None]})
    '{"a": [1, "x", None]}'
    """
    import json

    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_python_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_python_literal(k)}: {_python_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


def merge_parameters(nb, values: dict[str, Any], origin: str) -> None:
    """Show a run's parameters once: write the values papermill injected into the chapter's own
    parameters cell (each line keeps its comment), label it with where they came from, and drop
    papermill's injected cell. The executed notebook then holds one cell of this run's values.

    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[
    ...     nbformat.v4.new_code_cell("# This run's values (the defaults)\\nk = 3  # clusters\\nseed = 1",
    ...                               metadata={"tags": ["parameters"]}),
    ...     nbformat.v4.new_code_cell("k = 5\\n", metadata={"tags": ["injected-parameters"]})])
    >>> merge_parameters(nb, {"k": 5}, "params/p.yml")
    >>> print(nb.cells[0].source), len(nb.cells)
    # This run's values (from params/p.yml)
    k = 5  # clusters
    seed = 1
    (None, 1)
    """
    import re

    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        return
    lines, seen = cells[0].source.splitlines(), set()
    for i, line in enumerate(lines):
        match = re.match(r"^(\w+)\s*=\s*(.*?)(\s+#.*)?$", line)
        if match and match.group(1) in values:
            name = match.group(1)
            lines[i] = f"{name} = {_python_literal(values[name])}{match.group(3) or ''}"
            seen.add(name)
        elif line.startswith(PARAMETERS_LABEL):
            lines[i] = f"{PARAMETERS_LABEL} (from {origin})"
    lines += [f"{name} = {_python_literal(v)}" for name, v in values.items() if name not in seen]
    cells[0].source = "\n".join(lines)
    nb.cells = [c for c in nb.cells if c not in injected]


def execute_chapter(source: Path, profile: Profile, *, refresh: bool = False,
                    shared: bool = False) -> Path:
    """Execute one chapter with papermill into ``<run_dir>/notebooks/``; return the output path.

    ``shared``: another chapter runs at the same time (``helpers run --jobs``); the kernel's
    OpenMP threads then sleep instead of spinning while they wait (``OMP_WAIT_POLICY=PASSIVE``:
    spinning threads of two chapters on two cores took each other's time, k-means 18 s instead of
    under 1). Thread counts, and so the results, stay those of a chapter run on its own."""
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
                  if k in declared and default_value(declared[k]) != v}
        if differ:
            raise ParameterError(
                f"refresh writes the committed run, so {profile.path.name} must equal the defaults "
                f"of {source.name}; these differ (profile, notebook): {differ}"
            )
    started = time.perf_counter()
    print(f"[{source.stem}] running with {inject or 'its defaults'}", flush=True)
    defaults = {k: default_value(v) for k, v in declared.items()}
    guess = estimate_seconds(source.stem, {**defaults, **params}, profile)
    if guess:
        print(f"[{source.stem}] expected to take about {duration(guess)} on a 2-core CPU like the "
              "project's build machine", flush=True)
    kernel_log = out_dir / f"{source.stem}.kernel.log"
    progress_file = out_dir / f".{source.stem}.progress"
    kernel_env = {PROGRESS_ENV: str(progress_file), CHAPTER_ENV: source.stem,
                  **({"OMP_WAIT_POLICY": "PASSIVE"} if shared else {})}
    try:
        with relay_progress(source.stem, progress_file):
            _in_worker_thread(lambda: pm.execute_notebook(
                str(input_path), str(output_path), parameters=inject, kernel_name=KERNEL,
                cwd=str(paths.ROOT), progress_bar=False, log_output=False, report_mode=False,
                kernel_manager_class=_quiet_kernel_manager(kernel_log, kernel_env),
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
    if inject:
        merge_parameters(executed, inject, paths.relative(profile.path))
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


def _quiet_kernel_manager(log: Path, env: dict[str, str] | None = None):
    """A kernel manager whose kernel writes its own stderr to ``log``, not to the terminal: its
    start-up warnings, and the traceback a kernel prints when Ctrl-C stops the run mid-cell, are
    not for the user (cell errors are in the executed notebook). ``env``: variables the kernel
    gets on top of this process's environment (this kernel's alone)."""
    from jupyter_client.manager import AsyncKernelManager

    class QuietKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:
            if "stderr" not in kw:
                log.parent.mkdir(parents=True, exist_ok=True)
                kw["stderr"] = open(log, "ab")  # noqa: SIM115 - the kernel process owns it
            if env:
                kw["env"] = {**(kw.get("env") or os.environ), **env}
            return await super().start_kernel(**kw)

    return QuietKernelManager


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


__all__ = ["execute_chapter", "merge_parameters", "strip_run_metadata", "refresh_committed"]
