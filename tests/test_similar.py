"""Similarity search: exact engine against a plain reference, the approximate one by recall, the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import cli
from helpers import similar as S
from helpers.errors import DataError, ParameterError


def codes(n=500, d=32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_exact_engine_matches_a_full_sort_of_cosine_similarity():
    db, q = codes(), codes(20, seed=1)
    rows, sims = S.Index(db).query(q, k=7, block=6)  # several blocks
    full = S.normalise(q) @ S.normalise(db).T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_allclose(sims, np.take_along_axis(full, expected, axis=1), rtol=1e-5)
    assert (np.diff(sims, axis=1) <= 1e-7).all()  # most similar first


@pytest.mark.slow
def test_approximate_engine_has_high_recall():
    db = codes(3000, 32)
    q = db[:50] + 0.05 * codes(50, 32, seed=2)
    exact, _ = S.Index(db).query(q, k=10)
    approx, sims = S.Index(db, "ann", seed=0).query(q, k=10)
    assert S.recall(approx, exact) > 0.9
    assert sims.shape == (50, 10) and np.all(sims <= 1.0001)


def test_bad_queries_are_refused():
    index = S.Index(codes())
    with pytest.raises(ParameterError, match="k=0"):
        index.query(codes(1), k=0)
    with pytest.raises(DataError, match="dimensions"):
        index.query(codes(1, d=8))
    with pytest.raises(ParameterError, match="engine"):
        S.Index(codes(), "faiss")


@pytest.fixture()
def feature_set(tmp_path):
    db = codes(60, 16)
    db[1] = db[0] * 3  # galaxy 1001 points the same way as 1000
    frame = pd.DataFrame(db, columns=[f"f{i:03d}" for i in range(16)])
    frame.insert(0, "GalaxyID", np.arange(1000, 1060))
    frame.to_parquet(tmp_path / "features.parquet")
    pd.DataFrame({"GalaxyID": np.arange(1000, 1060), "label": ["disk: spiral"] * 60}).to_parquet(
        tmp_path / "labels.parquet")
    return tmp_path / "features.parquet"


def test_similar_by_galaxy_id_leaves_the_query_out_and_adds_labels(feature_set):
    table = S.similar("1000", features=feature_set, k=5)
    assert table["GalaxyID"].iloc[0] == 1001 and table["similarity"].iloc[0] == pytest.approx(1.0)
    assert 1000 not in table["GalaxyID"].tolist() and len(table) == 5
    assert table["rank"].tolist() == [1, 2, 3, 4, 5] and (table["label"] == "disk: spiral").all()
    with pytest.raises(DataError, match="GalaxyID 5 is not in"):
        S.similar("5", features=feature_set)
    with pytest.raises(DataError, match="neither a GalaxyID"):
        S.similar("nowhere.jpg", features=feature_set)


def test_cli_prints_the_table_and_explains_what_an_image_query_needs(feature_set, tmp_path, capsys):
    assert cli.main(["similar", "1000", "-k", "3", "--features", str(feature_set)]) == 0
    out = capsys.readouterr().out
    assert "1001" in out and "similarity" in out
    image = tmp_path / "galaxy.jpg"
    image.write_bytes(b"\xff\xd8")
    assert cli.main(["similar", str(image), "--features", str(feature_set)]) == 1
    assert "needs the network" in capsys.readouterr().err
    assert cli.main(["similar", "1000", "--features", str(feature_set), "--sheet",
                     str(tmp_path / "s.png")]) == 1
    assert "--images" in capsys.readouterr().err
