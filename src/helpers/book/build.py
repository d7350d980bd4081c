"""The book: the executed notebooks and ``book/`` rendered by jupyter-book into ``_build/html``.

:func:`stage_book` lays out a copy of the book's sources with a run's executed notebooks in
``_build/source`` (tracked files are never touched), :func:`build_book` renders it (no
execution, warnings are errors) and :func:`build_committed_book` renders the committed notebooks
without running anything (``helpers run --committed``, ``make book-committed``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from helpers import paths
from helpers.errors import UserError
from helpers.profiles import chapter_sources
from helpers.progress import duration


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


__all__ = ["stage_book", "build_book", "build_committed_book"]
