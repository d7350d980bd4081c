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
from helpers.progress import in_kernel
from helpers.run import Run


def _inline_figures() -> None:
    """In a notebook kernel, draw figures inline even if MPLBACKEND (e.g. Agg) is set, as PNGs
    that record the size of their smallest text (:func:`helpers.book.plots.png_bytes`)."""
    if in_kernel():
        from IPython import get_ipython
        from matplotlib.figure import Figure

        from helpers.book.plots import png_bytes

        shell = get_ipython()
        shell.run_line_magic("matplotlib", "inline")
        shell.display_formatter.formatters["image/png"].for_type(Figure, png_bytes)


# The environment variables that choose torch's CPU kernels. By default torch uses the best
# the processor has (AVX-512 where there is one), which trained chapter 2's network 1.42x as
# fast as kernels pinned to AVX2 (benchmarks/README.md, "Learning per CPU-minute"). The choice
# changes the last bits of every sum, and training amplifies them: a run repeats bit for bit on
# one machine, while on another processor the headline numbers move within the tolerances that
# notebooks/tolerances.yml measured across kernels and thread counts. To repeat a run made on an
# AVX2-only machine, set ATEN_CPU_CAPABILITY=avx2 and ONEDNN_MAX_CPU_ISA=AVX2 before starting.
# Each chapter records the kernels it ran with (environment(), in metrics.json).
CPU_KERNELS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")


def environment() -> dict:
    """What decides whether a run repeats bit for bit: processor, threads, kernels, versions.

    >>> {'cpu', 'kernels', 'python', 'threads'} <= set(environment())
    True
    """
    import platform
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    packages = {}
    for name in ("torch", "numpy", "scikit-learn", "openTSNE", "umap-learn", "fastai", "galsim"):
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            packages[name] = None
    info = {"cpu": cpu, "python": platform.python_version(), "packages": packages,
            "threads": int(os.environ.get("GC_THREADS", len(os.sched_getaffinity(0)) or 1)),
            "kernels": {key: os.environ.get(key) for key in CPU_KERNELS}}
    try:
        import torch

        info["threads"] = torch.get_num_threads()
        info["kernels"]["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        pass
    return info


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
    from helpers.book.plots import style

    style()
    pd.set_option("display.precision", 3)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.width", 120)
    return {"seed": seed, "threads": threads}


class Chapter(NamedTuple):
    """What :func:`open_chapter` hands a chapter: its folders, whose data, and the run's reader."""

    data_path: Path  # the data folder (Kaggle layout), resolved
    run_path: Path  # the run's artifact folder, resolved
    source: dict  # helpers.artifacts.data_source: kind ("mock"/"real") and a description
    run: Run  # every artifact of the run (helpers.run.Run)

    def truth(self) -> pd.DataFrame | None:
        """The mock's ground truth (``ground_truth.csv``), or ``None`` on real data."""
        from helpers.data.schema import TRUTH_FILE

        path = self.data_path / TRUTH_FILE
        return pd.read_csv(path) if path.exists() else None


class Kept(NamedTuple):
    """What a chapter keeps (:mod:`helpers.records` builds it): its part of ``metrics.json``,
    the headline numbers the replay compares, and the values the book's prose quotes (glue)."""

    record: dict
    headlines: dict
    glued: dict


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
    artifacts.check_not_locked(run_path)
    source = artifacts.data_source(data_path)
    if in_kernel():
        from IPython.display import Markdown, display
        from myst_nb import glue

        glue("data_source", source["description"], display=False)
        display(Markdown(f"**Data:** {source['description']}." + (f" {note}" if note else "")))
    return Chapter(data_path, run_path, source, Run(run_path, data_path))


def close_chapter(chapter: Chapter, section: str, kept: Kept) -> None:
    """The last cell of every chapter: record, glue, and check the headline numbers.

    Writes ``kept.record`` (plus the headlines, the data source and the :func:`environment`) as
    the chapter's section of ``metrics.json``, glues ``kept.glued`` for the book's pages, and
    prints :func:`helpers.replay.report`: whether each headline lies within its run-to-run
    tolerance of the committed run. The replay compares that text (the cell is tagged
    ``remove-cell``: the reader sees neither it nor its output), so a drifting result fails
    ``pytest --nbval``. Returns nothing (a notebook would show what it returned).
    """
    from helpers import artifacts, replay

    record = {"data_source": chapter.source["kind"], **kept.record, "headlines": kept.headlines,
              "environment": environment()}
    artifacts.update_metrics(chapter.run_path, section, record)
    if in_kernel():
        from myst_nb import glue

        for name, value in kept.glued.items():
            glue(name, value, display=False)
    print(replay.report(section, kept.headlines, chapter.source["description"]))
