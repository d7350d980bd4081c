"""What several test modules share, built once per session: the real vote rows, a small mock
Galaxy Zoo, the small in-memory data set and the one small network trained on it
(tests/networks.py)."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from networks import small_data, train_small

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def real_rows() -> pd.DataFrame:
    """Six real Kaggle Galaxy Zoo rows with the label a careful reading of the tree gives."""
    return pd.read_csv(FIXTURES / "kaggle_real_rows.csv")


@pytest.fixture(scope="session")
def data():
    """48 small images whose targets follow their brightness: (images, targets, ids)."""
    return small_data()


@pytest.fixture(scope="session")
def trained(data, tmp_path_factory):
    """One epoch of a seeded resnet18 on ``data``, saved: (dls, learn, history, run_dir). Shared
    by the tests of helpers.net (network, training, inference): trained once per session."""
    return train_small(data, tmp_path_factory.mktemp("trained"))


@pytest.fixture(scope="session")
def small_mock(tmp_path_factory) -> Path:
    """A mock Galaxy Zoo of 36 galaxies (seed 11) and 2 without votes, written once: read it,
    or take a :func:`mock_copy` to change it."""
    from helpers.data import synth

    out = tmp_path_factory.mktemp("small-mock") / "mock"
    synth.write_mock(out, 36, seed=11, n_test=2, workers=2)
    return out


@pytest.fixture()
def mock_copy(small_mock, tmp_path) -> Path:
    """This test's own copy of :func:`small_mock`, to break or extend."""
    return Path(shutil.copytree(small_mock, tmp_path / "mock"))
