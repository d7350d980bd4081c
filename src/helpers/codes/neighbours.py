"""Nearest neighbours by cosine similarity: the one engine behind every k-NN lookup of the project.

Chapter 3's neighbours and neighbour agreement (:mod:`helpers.codes.features`), chapter 6's k-NN
probes (:mod:`helpers.codes.compare`), chapter 7's predicted labels (:mod:`helpers.codes.place`) and the
``similar`` command (:mod:`helpers.codes.similar`) all ask :class:`Index`, and the k-NN probes and
predicted labels all vote with :func:`classify`.

Two engines, one answer format:

* ``"exact"``: brute force on unit-normalised float32 codes with blocked matrix products (BLAS).
  Exact, no index to build; a query against a million 512-d codes is about 0.5 GFLOP, so it
  stays interactive into the millions when the codes fit in memory (2 GB per million as
  float32). Equal similarities are ordered by database row, so the answer is deterministic.
* ``"ann"``: pynndescent's NN-descent graph (the approximate index umap-learn is built on):
  an index build of minutes, then far more queries per second; its recall against the exact
  answer is measured in benchmarks/bench_similar.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.errors import DataError, ParameterError

ENGINES = ("exact", "ann")


def normalise(codes: np.ndarray) -> np.ndarray:
    """Unit-length rows (cosine similarity becomes a dot product); all-zero rows stay zero.

    >>> np.allclose(normalise(np.array([[3.0, 4.0], [0.0, 0.0]])), [[0.6, 0.8], [0.0, 0.0]])
    True
    """
    codes = np.asarray(codes, dtype=np.float32)
    norms = np.linalg.norm(codes, axis=1, keepdims=True)
    return np.divide(codes, norms, out=np.zeros_like(codes), where=norms > 0)


class Index:
    """Nearest neighbours by cosine similarity over a fixed set of codes (the database).

    >>> codes = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0]])
    >>> rows, sims = Index(codes).query(codes, k=1, exclude=np.arange(3))  # each row's nearest other
    >>> rows.ravel().tolist()
    [1, 0, 1]
    """

    def __init__(self, codes: np.ndarray, engine: str = "exact", *, seed: int = 0,
                 n_jobs: int | None = None) -> None:
        if engine not in ENGINES:
            raise ParameterError(f"engine={engine!r}: use one of {ENGINES}")
        self.engine = engine
        self.db = normalise(codes)
        if len(self.db) == 0:
            raise DataError("the feature set is empty")
        self._ann = None
        if engine == "ann":
            from pynndescent import NNDescent

            self._ann = NNDescent(self.db, metric="dot", n_neighbors=30, random_state=seed,
                                  n_jobs=n_jobs, low_memory=True, verbose=False)
            self._ann.prepare()

    def query(self, queries: np.ndarray, k: int = 12, *, exclude: np.ndarray | None = None,
              block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the ``k`` most similar codes for each query, and their cosine similarities.

        Both arrays are ``(n_queries, k)``, most similar first (``k`` is capped by the database).
        ``exclude`` names, for each query, one database row to leave out of its answer (``-1``:
        none): the query's own row when the queries are database galaxies, so that a galaxy is
        not its own neighbour (an exact duplicate of it still is).
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ParameterError(f"k={k!r}: use a positive integer")
        q = normalise(np.atleast_2d(queries))
        if q.shape[1] != self.db.shape[1]:
            raise DataError(f"queries have {q.shape[1]} dimensions, the feature set {self.db.shape[1]}: "
                            "codes from different networks or layers cannot be compared")
        if exclude is None:
            return self._search(q, min(int(k), len(self.db)), block)
        exclude = np.asarray(exclude, dtype=np.int64).reshape(-1)
        if len(exclude) != len(q):
            raise DataError(f"exclude names {len(exclude)} rows for {len(q)} queries")
        rows, sims = self._search(q, min(int(k) + 1, len(self.db)), block)
        hit = rows == exclude[:, None]  # at most one per query: the rows of an answer are distinct
        drop = np.where(hit.any(axis=1), hit.argmax(axis=1), rows.shape[1] - 1)
        keep = np.ones(rows.shape, bool)
        keep[np.arange(len(rows)), drop] = False
        width = rows.shape[1] - 1
        return rows[keep].reshape(-1, width), sims[keep].reshape(-1, width)

    def _search(self, q: np.ndarray, k: int, block: int) -> tuple[np.ndarray, np.ndarray]:
        if self._ann is not None:
            rows, dist = self._ann.query(q, k=k)
            return rows.astype(np.int64), (1.0 - dist).astype(np.float32)
        rows = np.empty((len(q), k), np.int64)
        sims = np.empty((len(q), k), np.float32)
        for s in range(0, len(q), block):
            scores = q[s:s + block] @ self.db.T
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            top = np.take_along_axis(scores, part, axis=1)
            order = np.lexsort((part, -top), axis=1)  # by similarity, ties by row: deterministic
            rows[s:s + block] = np.take_along_axis(part, order, axis=1)
            sims[s:s + block] = np.take_along_axis(top, order, axis=1)
        return rows, sims


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true k nearest neighbours that a search found (rows of equal width).

    >>> recall(np.array([[1, 2, 3]]), np.array([[3, 2, 9]]))
    0.6666666666666666
    """
    hits = sum(len(set(f) & set(t)) for f, t in zip(found.tolist(), truth.tolist(), strict=True))
    return hits / truth.size


def vote(labels, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The label most of each query's neighbours carry, and the share of them that carry it.

    ``rows`` (one row per query, nearest first, as :meth:`Index.query` returns them) index
    ``labels``. A tie between labels goes to the label of the nearest neighbour among the tied
    ones (with ties of similarity ordered by row, as :meth:`Index.query` orders them), so the
    answer is deterministic and does not depend on how the labels are named or sorted.

    >>> predicted, share = vote(np.array(["a", "b", "b", "c"]), np.array([[0, 1, 2], [3, 0, 1]]))
    >>> predicted.tolist(), share.round(3).tolist()
    (['b', 'c'], [0.667, 0.333])
    """
    labels = np.asarray(labels)
    rows = np.atleast_2d(np.asarray(rows, dtype=np.int64))
    ids, _ = pd.factorize(labels, use_na_sentinel=False)
    named = ids[rows]
    counts = np.zeros((len(rows), int(ids.max()) + 1 if len(ids) else 1), np.int64)
    np.add.at(counts, (np.arange(len(rows))[:, None], named), 1)
    top = counts.max(axis=1)
    winning = np.take_along_axis(counts, named, axis=1) == top[:, None]
    first = winning.argmax(axis=1)  # the nearest neighbour whose label has the most votes
    return labels[rows[np.arange(len(rows)), first]], top / rows.shape[1]


def classify(codes: np.ndarray, labels, queries: np.ndarray, k: int = 10, *,
             engine: str = "exact") -> pd.DataFrame:
    """Each query's label by a vote of its ``k`` nearest galaxies of ``codes`` (cosine), whose
    labels are ``labels``: the k-nearest-neighbour classifier of the project.

    Returns, one row per query, ``predicted``, ``vote`` (the share of the k that carry it) and
    ``nearest`` (the row, in ``codes``, of the most similar galaxy). Ties are broken as
    :func:`vote` says: to the label of the nearer galaxy. ``k`` is capped by the galaxies.

    >>> codes = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]])
    >>> classify(codes, ["a", "a", "b", "b"], np.array([[1.0, 0.2], [0.2, 1.0]]), k=3)
      predicted      vote  nearest
    0         a  0.666667        1
    1         b  0.666667        3
    """
    labels = np.asarray(labels)
    if len(labels) != len(codes):
        raise DataError(f"{len(codes)} codes but {len(labels)} labels")
    rows, _ = Index(codes, engine).query(queries, k=k)
    predicted, share = vote(labels, rows)
    return pd.DataFrame({"predicted": predicted, "vote": share, "nearest": rows[:, 0]})
