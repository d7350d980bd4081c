"""Tests of the realism instrument (helpers.data.realism) and of how close the mock comes to real cutouts.

The project's own measuring module must agree with the shared calibration instrument that
measured the real table (``../shared/calibration/image_stats.py``, read-only, beside the
repository), and a fresh mock must stay within a KS bound of that table.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import paths
from helpers.data import realism, schema, synth

SHARED = paths.ROOT.parent / "shared" / "calibration" / "image_stats.py"
N_AGREE = 30  # images measured by both instruments
N_KS = 300  # galaxies of the fresh mock compared with the real table
N_REAL = 2000  # rows of the real table
TARGET_KS = 0.15  # the target at 1,000 galaxies
# At 300 against 2,000 a two-sample KS statistic wanders by sampling alone: its 95% critical
# value is 1.36 * sqrt(1/300 + 1/2000) = 0.084. The bound is the target plus that allowance.
KS_BOUND = TARGET_KS + 1.36 * math.sqrt(1 / N_KS + 1 / N_REAL)


@pytest.fixture(scope="module")
def small_mock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("realism") / "mock"
    synth.write_mock(out, N_AGREE, seed=3, workers=1)
    return out / schema.TRAIN_IMAGES


@pytest.fixture(scope="module")
def fresh_stats(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("realism_ks") / "mock"
    synth.write_mock(out, N_KS, seed=2024, workers=2)
    return realism.measure(out / schema.TRAIN_IMAGES)


def _shared_instrument():
    if not SHARED.exists():
        pytest.skip(f"the shared calibration instrument is not at {SHARED} (outside this checkout)")
    spec = importlib.util.spec_from_file_location("shared_image_stats", SHARED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reference_table() -> None:
    real = realism.reference()
    assert list(real.columns) == list(realism.STATISTICS)
    assert len(real) == N_REAL
    assert (realism.REFERENCE.parent / "README.md").exists()


def test_agrees_with_shared_instrument(small_mock: Path) -> None:
    shared = _shared_instrument()
    files = sorted(small_mock.glob("*.jpg"))
    ours = realism.measure(files)
    theirs = pd.DataFrame([{k: (round(v, 5) if isinstance(v, float) else v)
                            for k, v in shared.stats(f).items()} for f in files])
    assert len(ours) == len(theirs) == N_AGREE
    for c in realism.STATISTICS:
        np.testing.assert_allclose(ours[c].to_numpy(float), theirs[c].to_numpy(float),
                                   rtol=1e-4, atol=1e-4, err_msg=c)


def test_folder_order_matches_shared_instrument(small_mock: Path) -> None:
    """A folder is sampled as the shared instrument samples it (sorted, shuffled with the seed)."""
    import random

    files = sorted(small_mock.glob("*.jpg"))
    random.Random(5).shuffle(files)
    pd.testing.assert_frame_equal(realism.measure(small_mock, n=7, seed=5), realism.measure(files[:7]))


def test_compare_shape() -> None:
    real = realism.reference()
    table = realism.compare(real, real.sample(300, random_state=0))
    assert list(table.index) == list(realism.STATISTICS)
    assert {"real_q10", "real_q50", "real_q90", "mock_q10", "mock_q50", "mock_q90", "ks"} <= set(table)
    assert (table["ks"] < 0.12).all()  # a random subset of the real table is close to it


def test_fresh_mock_close_to_real(fresh_stats: pd.DataFrame) -> None:
    table = realism.compare(realism.reference(), fresh_stats)
    assert len(fresh_stats) >= N_KS - 3
    worst = table["ks"].idxmax()
    assert table["ks"].max() <= KS_BOUND, (worst, table.round(4).to_string())
