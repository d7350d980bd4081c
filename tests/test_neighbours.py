"""The one nearest-neighbour engine: exact search against a full sort, the approximate one by
recall, a query's own row left out, and the k-NN vote with its tie rule."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.codes import neighbours as N
from helpers.errors import DataError, ParameterError


def codes(n=500, d=32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_exact_engine_matches_a_full_sort_of_cosine_similarity():
    db, q = codes(), codes(20, seed=1)
    rows, sims = N.Index(db).query(q, k=7, block=6)  # several blocks
    full = N.normalise(q) @ N.normalise(db).T
    expected = np.argsort(-full, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_allclose(sims, np.take_along_axis(full, expected, axis=1), rtol=1e-5)
    assert (np.diff(sims, axis=1) <= 1e-7).all()  # most similar first


def test_equal_similarities_go_by_row():
    db = np.array([[1.0, 0], [2.0, 0], [0, 1.0], [3.0, 0]])  # rows 0, 1, 3 point the same way
    rows, sims = N.Index(db).query(np.array([[1.0, 0.0]]), k=4)
    assert rows.tolist() == [[0, 1, 3, 2]]
    np.testing.assert_allclose(sims, [[1, 1, 1, 0]], atol=1e-6)


def test_exclude_leaves_out_each_querys_own_row_only():
    db = codes(200, 8)
    db[7] = db[3] * 2  # an exact duplicate (in direction) of row 3 stays its neighbour
    own = np.arange(len(db))
    rows, sims = N.Index(db).query(db, k=5, exclude=own)
    full = N.normalise(db) @ N.normalise(db).T
    np.fill_diagonal(full, -np.inf)
    np.testing.assert_array_equal(rows, np.argsort(-full, axis=1, kind="stable")[:, :5])
    assert not (rows == own[:, None]).any() and rows[3, 0] == 7 and rows[7, 0] == 3
    # -1 (or a row outside the top k + 1) leaves the answer as it is
    plain, _ = N.Index(db).query(db[:4], k=5)
    kept, _ = N.Index(db).query(db[:4], k=5, exclude=[-1, -1, -1, -1])
    np.testing.assert_array_equal(plain, kept)
    assert N.Index(db).query(db[:2], k=500, exclude=[0, 1])[0].shape == (2, 199)  # capped, self out
    with pytest.raises(DataError, match="exclude names 3 rows for 2 queries"):
        N.Index(db).query(db[:2], k=5, exclude=[0, 1, 2])


def test_bad_queries_are_refused():
    index = N.Index(codes())
    with pytest.raises(ParameterError, match="k=0"):
        index.query(codes(1), k=0)
    with pytest.raises(DataError, match="dimensions"):
        index.query(codes(1, d=8))
    with pytest.raises(ParameterError, match="engine"):
        N.Index(codes(), "faiss")
    with pytest.raises(DataError, match="empty"):
        N.Index(np.zeros((0, 4)))


@pytest.mark.slow
def test_approximate_engine_has_high_recall_and_leaves_out_own_rows():
    db = codes(3000, 32)
    q = db[:50] + 0.05 * codes(50, 32, seed=2)
    exact, _ = N.Index(db).query(q, k=10)
    ann = N.Index(db, "ann", seed=0)
    approx, sims = ann.query(q, k=10)
    assert N.recall(approx, exact) > 0.9
    assert sims.shape == (50, 10) and np.all(sims <= 1.0001)
    own, _ = ann.query(db[:50], k=10, exclude=np.arange(50))
    assert own.shape == (50, 10) and not (own == np.arange(50)[:, None]).any()


def test_vote_takes_the_majority_and_gives_ties_to_the_nearer_galaxy():
    labels = np.array(["b", "a", "a", "b", "c"])
    predicted, share = N.vote(labels, np.array([[1, 2, 0], [0, 1, 4], [3, 4, 1], [4, 0, 3]]))
    # a majority; a 1-1-1 tie (nearest: b); again (nearest: b, not the first in sorted order);
    # a 2-1 majority whatever the nearest says
    assert predicted.tolist() == ["a", "b", "b", "b"]
    np.testing.assert_allclose(share, [2 / 3, 1 / 3, 1 / 3, 2 / 3])
    # the labels' names or order do not matter: renamed, the same galaxies win
    renamed = np.array(["z", "y", "y", "z", "x"])
    assert N.vote(renamed, np.array([[0, 1, 4], [3, 4, 1]]))[0].tolist() == ["z", "z"]


def test_classify_votes_among_the_training_galaxies():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 10
    train = np.vstack([centres[i] + rng.normal(size=(20, 3)) for i in range(3)])
    labels = np.repeat(["a", "b", "c"], 20)
    queries = centres + 0.1
    out = N.classify(train, labels, queries, k=5)
    assert out["predicted"].tolist() == ["a", "b", "c"] and (out["vote"] == 1.0).all()
    nearest, _ = N.Index(train).query(queries, k=1)
    assert out["nearest"].tolist() == nearest.ravel().tolist()
    assert len(N.classify(train[:3], labels[:3], queries, k=10)) == 3  # k capped by the galaxies
    with pytest.raises(DataError, match="60 codes but 3 labels"):
        N.classify(train, labels[:3], queries)
