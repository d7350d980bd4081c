from pathlib import Path

import pandas as pd
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def real_rows() -> pd.DataFrame:
    """Six real Kaggle Galaxy Zoo rows with the label a careful reading of the tree gives."""
    return pd.read_csv(FIXTURES / "kaggle_real_rows.csv")
