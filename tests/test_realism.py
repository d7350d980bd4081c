"""Tests of the realism instrument (helpers.data.realism) and of how close the mock comes to real cutouts.

The project's own measuring module must agree with the calibration instrument that measured the
real table: ``tests/fixtures/realism/`` holds images and what that instrument measured on them
(its README gives the provenance), so the check runs from any clone. A fresh mock must stay
within a KS bound of the real table.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.data import realism, schema, synth

FIXTURES = Path(__file__).parent / "fixtures" / "realism"
N_KS = 300  # galaxies of the fresh mock compared with the real table
N_REAL = 2000  # rows of the real table
TARGET_KS = 0.15  # the target at 1,000 galaxies
# At 300 against 2,000 a two-sample KS statistic wanders by sampling alone: its 95% critical
# value is 1.36 * sqrt(1/300 + 1/2000) = 0.084. The bound is the target plus that allowance.
KS_BOUND = TARGET_KS + 1.36 * math.sqrt(1 / N_KS + 1 / N_REAL)


@pytest.fixture(scope="module")
def fresh_stats(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("realism_ks") / "mock"
    synth.write_mock(out, N_KS, seed=2024, workers=2)
    return realism.measure(out / schema.TRAIN_IMAGES)


@pytest.fixture(scope="module")
def instrument() -> pd.DataFrame:
    """What the calibration instrument measured on the fixture images (one row per file)."""
    return pd.read_csv(FIXTURES / "instrument_stats.csv")


def test_real_stats_table() -> None:
    real = realism.real_stats()
    assert list(real.columns) == list(realism.STATISTICS)
    assert len(real) == N_REAL
    assert (realism.REAL_STATS.parent / "README.md").exists()


def test_agrees_with_the_calibration_instrument(instrument: pd.DataFrame) -> None:
    """Every statistic of every fixture image as the instrument that measured the real table
    gave it, and no source where it found none."""
    found = instrument.dropna()
    assert len(found) == 12 and set(instrument["file"]) - set(found["file"]) == {"empty_sky.png"}
    assert realism.image_stats(FIXTURES / "empty_sky.png") is None
    ours = realism.measure([FIXTURES / name for name in found["file"]])
    assert len(ours) == len(found)
    for c in realism.STATISTICS:
        np.testing.assert_allclose(ours[c].to_numpy(float), found[c].to_numpy(float),
                                   rtol=1e-4, atol=1e-4, err_msg=c)


def test_a_folder_is_sampled_as_the_instrument_samples_it() -> None:
    """Sorted (JPEG then PNG), shuffled with the seed, then cut to ``n``."""
    import random

    files = sorted(FIXTURES.glob("*.jpg")) + sorted(FIXTURES.glob("*.png"))
    random.Random(5).shuffle(files)
    picked = [f for f in files[:7] if f.name != "empty_sky.png"]
    pd.testing.assert_frame_equal(realism.measure(FIXTURES, n=7, seed=5), realism.measure(picked))
    assert len(realism.measure(FIXTURES)) == 12  # the empty frame is left out


def test_compare_shape() -> None:
    real = realism.real_stats()
    table = realism.compare(real, real.sample(300, random_state=0))
    assert list(table.index) == list(realism.STATISTICS)
    assert {"real_q10", "real_q50", "real_q90", "mock_q10", "mock_q50", "mock_q90", "ks"} <= set(table)
    assert (table["ks"] < 0.12).all()  # a random subset of the real table is close to it


def test_fresh_mock_close_to_real(fresh_stats: pd.DataFrame) -> None:
    table = realism.compare(realism.real_stats(), fresh_stats)
    assert len(fresh_stats) >= N_KS - 3
    worst = table["ks"].idxmax()
    assert table["ks"].max() <= KS_BOUND, (worst, table.round(4).to_string())
