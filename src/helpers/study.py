"""What every chapter does first: seeds, thread counts, plot style, display options.

>>> info = setup(seed=1)
>>> info["seed"]
1
"""

from __future__ import annotations

import os
import random

import numpy as np
import pandas as pd

from helpers import paths


def _inline_figures() -> None:
    """In a notebook kernel, draw figures inline even if MPLBACKEND (e.g. Agg) is set."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        shell.run_line_magic("matplotlib", "inline")


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
