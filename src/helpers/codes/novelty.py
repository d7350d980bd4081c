"""Unusual galaxies and "more like these": two questions asked of a whole table of CNN codes.

* :func:`novelty_scores`: how unlike the rest of the table each galaxy is (higher: more unusual),
  the ``odd`` command. Three methods; the default was chosen on the mock (below):

  - ``"iforest"`` (default): scikit-learn's IsolationForest (200 trees of 256 galaxies) on the
    codes standardised and whitened onto their 50 leading principal components. The score is
    the forest's anomaly score, 2 ** (-mean path length / its expectation): about 0.5 for an
    ordinary galaxy, towards 1 for one that is isolated in few cuts. Seeded; its cost grows
    linearly with the table, and as each tree sees 256 galaxies, what counts as unusual does
    not change with the size of the table.
  - ``"knn"``: the cosine distance (1 - similarity) to the galaxy's k-th most similar other
    galaxy (``k`` = 20), from :class:`helpers.codes.neighbours.Index`, the engine behind every
    neighbour of the project: exact up to :data:`ANN_ABOVE` galaxies, pynndescent's approximate
    index above (``engine`` chooses). A group of more than ``k`` alike galaxies is not unusual to
    it, however rare the group is in a larger table.
  - ``"lof"``: the local outlier factor (Breunig et al. 2000) on the same neighbours (``k`` = 10):
    a galaxy's neighbourhood density against its neighbours' own; 1 is ordinary. It equals
    scikit-learn's LocalOutlierFactor with the cosine metric, but scales with the project's engine.

* :func:`resemblance`: every galaxy of a table ranked by how much it resembles a handful of
  examples taken *as a group* (higher: more alike), the ``like`` command:

  - ``"logistic"`` (default): a logistic regression of the examples against the rest of the
    table (positive-unlabelled: the rest holds more galaxies like the examples, unmarked), on
    standardised codes, with balanced class weights and L2 regularisation (``C`` = 0.1);
    the score is its log-odds. It learns which directions of the codes set the examples apart.
  - ``"nearest"``: the mean cosine similarity to the ``k`` (3) most similar examples (a k-NN
    score against the example set, :class:`helpers.codes.neighbours.Index`).
  - ``"centroid"``: the cosine similarity to the mean of the examples' unit codes.

How the defaults were chosen (``benchmarks/bench_novelty.py --compare``, on the codes of the demo run of
2026-12-05, a ResNet34 trained 4 epochs, before the demo became a ResNet18; against the
mock's truth: settings picked on the 1,600 galaxies the network trained on, then scored on the
1,400 it never saw, 213 of them odd: mergers, rings, lenses or arcs, disturbed, irregular, stars
and artefacts, satellite trails). Novelty, AUC of odd against the rest [95% bootstrap interval]:
iforest 0.691 [0.656, 0.726], knn 0.656 [0.619, 0.692], lof 0.548 [0.506, 0.592]; the forest
beats the k-NN distance by a paired 0.035 [0.003, 0.067] (with k = 50, 0.669, the two are not
told apart: 0.021 [-0.008, 0.051]), it is the only method whose score on the codes beats both
raw pixels (0.644) and the untrained network (0.654) with paired intervals excluding zero, and
it was best on the training galaxies. More
like these, precision among the top 100 (examples of rings, mergers, lenses, stars or artefacts
from the training galaxies, 20 random draws each): the logistic regression beats ``nearest`` by
0.071 [0.063, 0.079] and ``centroid`` by 0.064 [0.057, 0.071] on average (e.g. 25 rings: 0.139
against a chance of 0.044 and a ceiling of 0.62; 25 mergers: 0.142 against 0.028 and 0.39).
Neither question is answered well by the mock's codes: both numbers are far from perfect, and
the untrained network's codes come close (the logistic ranking on them: 0.008 [0.002, 0.014]
lower on average, better for mergers). Chapter 9 scores both on the current demo run's codes,
which are the network's after more training; what it measures there is in the book.

>>> rng = np.random.default_rng(0)
>>> codes = np.abs(rng.normal(size=(300, 16))).astype(np.float32)
>>> codes[:3] = 0.1
>>> codes[:3, 0] = 8.0  # three galaxies unlike the others
>>> scores = novelty_scores(codes)
>>> sorted(np.argsort(-scores)[:3].tolist())
[0, 1, 2]
>>> codes[10:20, 5] += 6.0  # ten galaxies that share a feature: three of them are the examples
>>> more = resemblance(codes, [10, 11, 12])
>>> table = ranked(np.arange(300), more, "score", leave_out=[10, 11, 12])  # GalaxyID, score
>>> sorted(table["GalaxyID"][:7].tolist())
[13, 14, 15, 16, 17, 18, 19]
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.codes.neighbours import Index, normalise
from helpers.data.schema import ID_COLUMN
from helpers.errors import DataError, ParameterError

NOVELTY_METHODS = ("iforest", "knn", "lof")
RESEMBLANCE_METHODS = ("logistic", "nearest", "centroid")
#: ``k`` of each neighbour method when none is given: chosen on the mock's training galaxies
#: (the k-NN's AUC there: 0.634, 0.642, 0.645, 0.642 for k = 10, 20, 50, 100; 20 is within the
#: noise of the best and within what the approximate engine answers well, :data:`ANN_MAX_K`).
DEFAULT_K = {"knn": 20, "lof": 10}
#: Above this many galaxies the neighbour methods use pynndescent's approximate index. The exact
#: engine's cost grows with the square of the table: for k = 20 on one thread, 3.8 s for 20,000
#: galaxies, 15.0 s for 40,000, 33.9 s for 60,000, against 2.1, 4.3 and 6.8 s approximate, plus
#: the 20 s a new process spends loading pynndescent's compiled code: counting that, the
#: approximate index wins above about 50,000 (benchmarks/bench_novelty.py --crossover).
ANN_ABOVE = 50_000
#: The most neighbours asked of the approximate engine: its graph keeps 30 per galaxy
#: (:class:`helpers.codes.neighbours.Index`), and asked for more its answers degrade. Measured
#: on 100,000 codes (the galaxy itself excluded): recall 0.998 for 21 neighbours, with 0.1% of
#: the 21st distances off by more than 10%; 0.993 and 3% for 31; 0.87 and 31% for 51. A larger
#: ``k`` is answered by the exact engine.
ANN_MAX_K = 20
#: Principal components the isolation forest sees (whitened): the probes' 50 of chapter 6.
IFOREST_COMPONENTS = 50
IFOREST_TREES = 200
#: The fewest examples ``like`` takes: one or two are a ``similar`` query, not a group.
MIN_EXAMPLES = 3


def _check_codes(codes, least: int = 2) -> np.ndarray:
    codes = np.asarray(codes, dtype=np.float32)
    if codes.ndim != 2 or codes.shape[1] == 0:
        raise DataError(f"codes must be a table of galaxies x dimensions, got shape {codes.shape}")
    if len(codes) < least:
        raise DataError(f"too few galaxies in the codes table ({len(codes)}): need at least {least}")
    if not np.isfinite(codes).all():
        raise DataError("the codes hold NaN or infinite values")
    return codes


def whiten(codes: np.ndarray, n_components: int = IFOREST_COMPONENTS, seed: int = 0) -> np.ndarray:
    """Codes standardised (each dimension), projected on their ``n_components`` leading principal
    components and scaled to unit variance along each: what the isolation forest sees.
    Components without variance are dropped (a table of identical codes gives zero columns).

    >>> x = whiten(np.random.default_rng(0).normal(size=(200, 8)) * [1, 2, 3, 4, 5, 6, 7, 100], 3)
    >>> x.shape, np.allclose(x.std(axis=0, ddof=1), 1.0, atol=1e-4)
    ((200, 3), True)
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    z = StandardScaler().fit_transform(np.asarray(codes, dtype=np.float32))
    n = int(min(n_components, z.shape[1], len(z) - 1))
    if n < 1 or not (z.var(axis=0) > 0).any():
        return np.zeros((len(z), 0), np.float32)
    pca = PCA(n, random_state=seed).fit(z)
    keep = pca.explained_variance_ > 1e-6 * max(float(pca.explained_variance_.max()), 1e-30)
    projected = pca.transform(z)[:, keep]
    return (projected / np.sqrt(pca.explained_variance_[keep])).astype(np.float32)


def _threads() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _engine(n: int, engine: str | None, k: int) -> str:
    if engine is None:
        return "ann" if n > ANN_ABOVE and k <= ANN_MAX_K else "exact"
    if engine == "ann" and k > ANN_MAX_K:
        raise ParameterError(f"k={k} with the approximate engine: its graph keeps 30 neighbours a "
                             f"galaxy and answers up to k={ANN_MAX_K} well; use a smaller k or the "
                             "exact engine")
    return engine


def neighbour_distances(codes: np.ndarray, k: int, *, engine: str | None = None, seed: int = 0,
                        n_jobs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each galaxy's ``k`` most similar *other* galaxies of the table: ``(rows, distances)``,
    cosine distance 1 - similarity, nearest first (:class:`helpers.codes.neighbours.Index`;
    ``engine=None``: exact up to :data:`ANN_ABOVE` galaxies, approximate above when ``k`` is
    at most :data:`ANN_MAX_K`).

    >>> rows, dist = neighbour_distances(np.array([[1.0, 0], [0.9, 0.1], [0, 1.0]]), k=1)
    >>> rows.ravel().tolist(), dist.round(3).ravel().tolist()
    ([1, 0, 1], [0.006, 0.006, 0.89])
    """
    codes = _check_codes(codes)
    k = min(int(k), len(codes) - 1)
    index = Index(codes, _engine(len(codes), engine, k), seed=seed, n_jobs=n_jobs)
    rows, sims = index.query(codes, k=k, exclude=np.arange(len(codes)))
    return rows, np.clip(1.0 - sims.astype(np.float64), 0.0, None)


def local_outlier_factor(rows: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """The local outlier factor of every galaxy from its neighbours (rows and distances, nearest
    first, as :func:`neighbour_distances` gives them): the mean local reachability density of
    its neighbours over its own (scikit-learn's definition; 1: ordinary).

    >>> rows = np.array([[1, 2], [0, 2], [1, 0], [2, 1]])
    >>> dist = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [5.0, 5.0]])
    >>> local_outlier_factor(rows, dist).round(2).tolist()
    [1.0, 1.0, 1.0, 5.0]
    """
    rows = np.asarray(rows, dtype=np.int64)
    distances = np.asarray(distances, dtype=np.float64)
    reach = np.maximum(distances, distances[:, -1][rows])  # reach-dist(a, b) = max(k-dist(b), d(a, b))
    density = 1.0 / (reach.mean(axis=1) + 1e-10)
    return density[rows].mean(axis=1) / density


def novelty_scores(codes, method: str = "iforest", *, k: int | None = None,
                   engine: str | None = None, seed: int = 0, n_jobs: int | None = None) -> np.ndarray:
    """How unlike the rest of the table each galaxy (row of ``codes``) is: higher, more unusual.

    ``method``: ``"iforest"`` (default), ``"knn"`` or ``"lof"`` (the module's docstring says what
    each measures and why the default is the default). ``k``: neighbours of ``"knn"`` and
    ``"lof"`` (default :data:`DEFAULT_K`; capped by the table). ``engine``: their neighbour
    engine, ``"exact"`` or ``"ann"`` (default: exact up to :data:`ANN_ABOVE` galaxies or above
    :data:`ANN_MAX_K` neighbours, approximate otherwise).
    ``seed`` seeds the forest (and the approximate index); ``n_jobs``: threads (default: all).

    >>> codes = np.array([[1.0, 0.0], [0.95, 0.05], [0.9, 0.1], [0.0, 1.0]])
    >>> [int(novelty_scores(codes, m, k=2).argmax()) for m in NOVELTY_METHODS]
    [3, 3, 3]
    """
    if method not in NOVELTY_METHODS:
        raise ParameterError(f"method={method!r}: use one of {NOVELTY_METHODS}")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1):
        raise ParameterError(f"k={k!r}: use a positive whole number of neighbours")
    codes = _check_codes(codes)
    if method == "iforest":
        from sklearn.ensemble import IsolationForest

        x = whiten(codes, IFOREST_COMPONENTS, seed)
        if x.shape[1] == 0:  # identical codes: nothing stands out
            return np.full(len(codes), 0.5)
        # the trees grow on n_jobs threads (each from its own seed: the same forest on any
        # number); the scores are summed over the trees in one thread, in tree order, so that
        # they repeat bit for bit (in threads, the sum's order, and its last bit, would vary)
        forest = IsolationForest(n_estimators=IFOREST_TREES, random_state=seed,
                                 n_jobs=n_jobs or _threads())
        return -forest.fit(x).score_samples(x)
    rows, dist = neighbour_distances(codes, k or DEFAULT_K[method], engine=engine, seed=seed,
                                     n_jobs=n_jobs)
    return dist[:, -1] if method == "knn" else local_outlier_factor(rows, dist)


def _example_rows(examples, n: int) -> np.ndarray:
    examples = np.asarray(examples)
    if examples.dtype == bool:
        if len(examples) != n:
            raise ParameterError(f"a mask of {len(examples)} galaxies for a table of {n}")
        examples = np.flatnonzero(examples)
    rows = pd.unique(examples.astype(np.int64).ravel())
    if len(rows) and (rows.min() < 0 or rows.max() >= n):
        raise ParameterError(f"example rows must lie in 0..{n - 1}")
    if len(rows) < MIN_EXAMPLES:
        raise DataError(f"{len(rows)} example galaxies: give at least {MIN_EXAMPLES} (for one "
                        "galaxy's neighbours, use the similar command)")
    if len(rows) >= n:
        raise DataError(f"all {n} galaxies of the table are examples: nothing is left to rank")
    return rows


def resemblance(codes, examples, method: str = "logistic", *, k: int = 3, C: float = 0.1,
                seed: int = 0) -> np.ndarray:
    """How much each galaxy (row of ``codes``) resembles the ``examples`` as a group: higher,
    more alike. ``examples``: their rows (integers) or a boolean mask, at least
    :data:`MIN_EXAMPLES`. Every row is scored, the examples too: leave them out of a ranking.

    ``method``: ``"logistic"`` (default; ``C`` its inverse regularisation), ``"nearest"`` (``k``
    most similar examples) or ``"centroid"``; the module's docstring says what each does.

    >>> codes = np.array([[1.0, 0.1], [1.0, 0.2], [1.0, 0.0], [0.1, 1.0], [1.0, 0.15], [0.0, 1.0]])
    >>> scores = resemblance(codes, [0, 1, 2])  # the examples: rows 0-2
    >>> ranked(np.arange(6), scores, "score", leave_out=[0, 1, 2])["GalaxyID"].tolist()
    [4, 3, 5]
    """
    if method not in RESEMBLANCE_METHODS:
        raise ParameterError(f"method={method!r}: use one of {RESEMBLANCE_METHODS}")
    codes = _check_codes(codes)
    rows = _example_rows(examples, len(codes))
    if method == "centroid":
        unit = normalise(codes)
        return (unit @ normalise(unit[rows].mean(axis=0, keepdims=True)).ravel()).astype(np.float64)
    if method == "nearest":
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ParameterError(f"k={k!r}: use a positive whole number of examples")
        _, sims = Index(codes[rows]).query(codes, k=min(int(k), len(rows)))
        return sims.astype(np.float64).mean(axis=1)
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if not C > 0:
        raise ParameterError(f"C={C!r}: the inverse regularisation must be positive")
    z = StandardScaler().fit_transform(codes)
    target = np.zeros(len(codes), bool)
    target[rows] = True
    # Newton's method with a Cholesky solve: the same optimum as lbfgs (the problem is strictly
    # convex), reached in ~6 steps instead of ~100, 7x faster on 1,450 x 512 codes
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=1000, random_state=seed,
                               solver="newton-cholesky")
    return model.fit(z, target).decision_function(z).astype(np.float64)


def ranked(ids: np.ndarray, scores: np.ndarray, column: str, leave_out=None) -> pd.DataFrame:
    """``GalaxyID`` and ``column`` (the scores), highest first; equal scores keep table order;
    rows in ``leave_out`` (indices) dropped.

    >>> ranked(np.array([7, 8, 9]), np.array([0.2, 0.9, 0.2]), "novelty")["GalaxyID"].tolist()
    [8, 7, 9]
    """
    keep = np.ones(len(ids), bool)
    if leave_out is not None:
        keep[np.asarray(leave_out, dtype=np.int64)] = False
    order = np.lexsort((np.arange(len(ids)), -np.asarray(scores, dtype=np.float64)))
    order = order[keep[order]]
    return pd.DataFrame({ID_COLUMN: np.asarray(ids)[order], column: np.asarray(scores)[order]})


# --- the commands' input: a codes table, a list of examples ------------------------------------

def _read_model_width(where, name: str = "model.json") -> int | None:
    try:
        return int(json.loads(where.read(name))["n_features"])
    except Exception:  # no model.json there, or one without n_features: nothing to check against
        return None


def load_codes(path: str | Path, storage_options: dict | None = None,
               ) -> tuple[np.ndarray, np.ndarray, str | None]:
    """``(ids, codes, run)`` of a codes table: a run folder (holding ``features.parquet``), a
    run's ``features.parquet`` or a ``featurize`` output folder (a path or fsspec URL); ``run``
    is the run folder that made them when known (for its labels), else ``None``.

    Refused with a :class:`~helpers.errors.DataError` in one line: a missing file, an empty
    table, code columns that are not exactly ``f000`` ... ``fNNN`` in order, a width that
    differs from the run's ``model.json`` (``n_features``), duplicate IDs, NaN codes.
    """
    from helpers import paths
    from helpers.codes.similar import _ids_codes, _run_of, feature_table
    from helpers.codes.survey import MANIFEST
    from helpers.data import store
    from helpers.run import code_columns

    url = store.is_url(str(path))
    path = str(path) if url else paths.resolve(path)
    where = store.locate(path, storage_options)
    folder = Path(where.root).is_dir() if where.local else not str(path).endswith(".parquet")
    if where.local and not where.exists():
        raise DataError(f"{path} does not exist: give a run folder, its features.parquet or a "
                        "featurize output folder")
    if not where.local:
        store.check_reachable(where, "CODES")
    expected, run = None, None
    if folder and where.exists("features.parquet") and not where.exists(MANIFEST):
        run, features = str(path), where.child("features.parquet") if url else \
            str(Path(path) / "features.parquet")
        expected = _read_model_width(where)
    elif folder and not where.exists(MANIFEST):
        raise DataError(f"{path} holds neither features.parquet (a run folder) nor {MANIFEST} (a "
                        "featurize output)")
    else:
        features = path
        run = _run_of(path, storage_options)
        if folder:  # a featurize output: its manifest names the run and the layer
            manifest = json.loads(where.read(MANIFEST))
            if run and manifest.get("layer", "body") == "body":
                expected = _read_model_width(_quiet_locate(run, storage_options))
        elif run:
            expected = _read_model_width(_quiet_locate(run, storage_options))
    frame = feature_table(features, storage_options)
    columns = code_columns(frame)
    wanted = [f"f{i:03d}" for i in range(len(columns))]
    if columns != wanted:
        odd = next(c for c, w in zip(columns, wanted, strict=True) if c != w)
        raise DataError(f"{path}: the code columns must run f000 ... f{len(columns) - 1:03d} in "
                        f"order, found {odd} where {wanted[columns.index(odd)]} belongs")
    if expected is not None and len(columns) != expected:
        raise DataError(f"{path}: {len(columns)} code columns, but the run's model.json makes "
                        f"{expected}-d codes (n_features): codes of another network or layer")
    if len(frame) == 0:
        raise DataError(f"{path}: the codes table is empty")
    ids, codes = _ids_codes(frame, path)
    dup = pd.Series(ids).duplicated()
    if dup.any():
        raise DataError(f"{path}: {int(dup.sum())} GalaxyIDs appear more than once (e.g. "
                        f"{ids[dup.to_numpy()][0]})")
    return ids, codes, run


def _quiet_locate(where: str, storage_options: dict | None):
    from helpers.data import store

    try:
        return store.locate(where, storage_options)
    except Exception:  # an unreachable run only skips the width check
        return None


def read_examples(path: str | Path, ids: np.ndarray, *, name: str = "EXAMPLES") -> np.ndarray:
    """Rows of ``ids`` (a codes table's GalaxyIDs) named by a file of example galaxies: one ID per
    line, or a CSV with a ``GalaxyID`` column. IDs are compared as text (a manifest's IDs are
    text, Kaggle's whole numbers); repeats count once; blank lines and ``#`` comments are skipped.

    Refused in one line: a missing file, IDs not in the table (named, up to five, and counted),
    fewer than :data:`MIN_EXAMPLES` examples.

    >>> import tempfile
    >>> f = Path(tempfile.mkdtemp()) / "examples.txt"
    >>> _ = f.write_text("# rings\\n102\\n100\\n\\n102\\n101\\n")
    >>> read_examples(f, np.array([100, 101, 102, 103])).tolist()
    [2, 0, 1]
    """
    from helpers import paths

    path = paths.resolve(path)
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "does not exist"
        raise DataError(f"{name} {path} {state}: give a file of GalaxyIDs (one a line, or a CSV "
                        f"with a {ID_COLUMN} column)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{name} {path} cannot be read as text ({type(exc).__name__})") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    header = [c.strip().strip('"') for c in lines[0].split(",")] if lines else []
    if ID_COLUMN in header:
        table = pd.read_csv(io.StringIO("\n".join(lines)), dtype=str, keep_default_na=False)
        given = [g.strip() for g in table[ID_COLUMN] if g.strip()]
    elif any("," in ln for ln in lines):
        raise DataError(f"{name} {path}: a CSV of examples needs a {ID_COLUMN} column (its header "
                        f"is {','.join(header)})")
    else:
        given = lines
    given = list(dict.fromkeys(given))
    lookup = {str(g): i for i, g in enumerate(np.asarray(ids).tolist())}
    unknown = [g for g in given if _canonical(g, ids) not in lookup]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise DataError(f"{name}: {len(unknown)} of {len(given)} GalaxyIDs are not in the codes "
                        f"table: {shown}")
    rows = np.array([lookup[_canonical(g, ids)] for g in given], dtype=np.int64)
    rows = pd.unique(rows)
    if len(rows) < MIN_EXAMPLES:
        raise DataError(f"{name} {path}: {len(rows)} example galaxies; give at least "
                        f"{MIN_EXAMPLES} (for one galaxy, use the similar command)")
    return rows


def _canonical(given: str, ids: np.ndarray) -> str:
    """A whole-number ID as the table writes it (``007`` -> ``7``); text IDs as they are."""
    if np.asarray(ids).dtype.kind in "iu" and re.fullmatch(r"[+-]?\d+", given):
        return str(int(given))
    return given


def run_labels(run: str | None, ids: np.ndarray) -> np.ndarray | None:
    """Chapter 1's label of each galaxy when ``run`` is a local run folder with labels.parquet."""
    if run is None or np.asarray(ids).dtype.kind not in "iu":
        return None
    from helpers.data import store

    if store.is_url(str(run)) or not (Path(run) / "labels.parquet").is_file():
        return None
    try:
        labels = pd.read_parquet(Path(run) / "labels.parquet", columns=[ID_COLUMN, "label"])
    except Exception:  # an unreadable labels file only leaves the column out
        return None
    return pd.Series(labels["label"].to_numpy(), index=labels[ID_COLUMN].to_numpy()) \
        .reindex(ids).to_numpy(dtype=object)


def sheet(table: pd.DataFrame, column: str, out: str | Path, images: list[str | Path], *,
          title: str = "", examples: np.ndarray | None = None, per_row: int = 6) -> Path:
    """The galaxies of ``table`` (GalaxyID and ``column``, best first) as a picture sheet file
    (PNG, or the format of ``out``'s suffix), ``per_row`` a row, captioned with rank, GalaxyID
    and score; a first row of ``examples`` (GalaxyIDs; the first ``per_row``) when given. Images are
    ``<GalaxyID>.jpg`` (or .jpeg, .png) in the ``images`` folders; drawn by
    :func:`helpers.book.plots.sheet`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers import paths
    from helpers.artifacts import write_atomic
    from helpers.book import plots
    from helpers.codes.similar import find_image

    folders = [paths.resolve(f) for f in images or []]
    shown = list(table[ID_COLUMN])
    wanted = shown + list(examples if examples is not None else [])
    found = {g: find_image(g, folders) for g in wanted}
    missing = [g for g in wanted if found[g] is None]
    if missing:
        raise DataError(f"no image found for {len(missing)} galaxies (e.g. {missing[:3]}): pass "
                        "--images with the folder(s) holding <GalaxyID>.jpg")
    pictures = [found[g] for g in shown]
    captions = [f"#{i + 1} {g}\n{s:.4g}" for i, (g, s) in enumerate(zip(shown, table[column],
                                                                            strict=True))]
    rows, texts, labels = [], [], []
    if examples is not None and len(examples):
        ex = list(examples)[:per_row]
        rows.append([found[g] for g in ex])
        texts.append([str(g) for g in ex])
        labels.append("examples")
    for s in range(0, len(pictures), per_row):
        rows.append(pictures[s:s + per_row])
        texts.append(captions[s:s + per_row])
        labels.append(f"{s + 1}-{min(s + per_row, len(pictures))}")
    fig = plots.ranked_sheet(rows, texts, row_labels=labels, title=title)
    out = Path(out)
    write_atomic(out, lambda p: fig.savefig(p, format=out.suffix.lstrip(".") or "png", dpi=90))
    plt.close(fig)
    return out


__all__ = ["NOVELTY_METHODS", "RESEMBLANCE_METHODS", "DEFAULT_K", "ANN_ABOVE", "ANN_MAX_K",
           "MIN_EXAMPLES", "novelty_scores", "resemblance", "neighbour_distances", "local_outlier_factor", "whiten",
           "ranked", "load_codes", "read_examples", "run_labels", "sheet"]
