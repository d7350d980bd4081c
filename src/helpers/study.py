"""What every chapter does first: seeds, thread counts, plot style, display options, and the
banner saying where the chapter's data come from (:func:`open_chapter`).

>>> info = setup(seed=1)
>>> info["seed"]
1
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from helpers import paths


def _inline_figures() -> None:
    """In a notebook kernel, draw figures inline even if MPLBACKEND (e.g. Agg) is set."""
    if _in_kernel():
        from IPython import get_ipython

        get_ipython().run_line_magic("matplotlib", "inline")


def setup(seed: int = 42, threads: int | None = None) -> dict:
    """Seed every generator, fix thread counts and the figure style; return what was set."""
    threads = threads or int(os.environ.get("GC_THREADS", len(os.sched_getaffinity(0)) or 1))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(paths.ROOT / ".cache" / "numba"))
    # deterministic cuBLAS on a GPU: must be set before the first CUDA matrix product
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - libraries that still draw from the global state
    try:  # torch is only needed from the training chapter on
        import torch
    except ImportError:
        pass
    else:
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
    _inline_figures()
    from helpers.plots import style

    style()
    pd.set_option("display.precision", 3)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.width", 120)
    return {"seed": seed, "threads": threads}


class Chapter(NamedTuple):
    data_path: Path  # the data folder (Kaggle layout), resolved
    run_path: Path  # the run's artifact folder, resolved
    source: dict  # helpers.artifacts.data_source: kind ("mock"/"real") and a description


def open_chapter(data_dir: str | Path, run_dir: str | Path, *, seed: int = 42,
                 note: str | None = None) -> Chapter:
    """The first cell of every chapter: :func:`setup`, resolve the folders, say whose data.

    Glues ``data_source`` (the book's pages quote it) and, in a notebook, shows the banner
    "**Data:** <mock or real, and from where>." followed by ``note`` (Markdown) when given.

    >>> chapter = open_chapter("data/synthetic/demo", "data/processed/demo", seed=1)
    >>> chapter.run_path.name, chapter.source["kind"] in ("mock", "real")
    ('demo', True)
    """
    from helpers import artifacts

    setup(seed)
    data_path, run_path = paths.resolve(data_dir), paths.resolve(run_dir)
    source = artifacts.data_source(data_path)
    if _in_kernel():
        from IPython.display import Markdown, display
        from myst_nb import glue

        glue("data_source", source["description"], display=False)
        display(Markdown(f"**Data:** {source['description']}." + (f" {note}" if note else "")))
    return Chapter(data_path, run_path, source)


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
