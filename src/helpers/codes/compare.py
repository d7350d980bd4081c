"""Chapter 6's helpers: clusterings compared with each other, with the labels and with the truth,
and how well the codes separate the labels (k-nearest-neighbour and linear-probe accuracy).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers.errors import DataError
from helpers.scores import partition_score, purity


def matrix(frame: pd.DataFrame, rows: Sequence[str], columns: Sequence[str] | None = None,
           metric: str = "ARI") -> pd.DataFrame:
    """The ``metric`` between every clustering in ``rows`` and every one in ``columns`` (default: rows)."""
    columns = list(rows) if columns is None else list(columns)
    missing = [c for c in [*rows, *columns] if c not in frame.columns]
    if missing:
        raise DataError(f"no clustering named {missing[0]!r}; have {list(frame.columns)}")
    out = pd.DataFrame(index=list(rows), columns=columns, dtype=float)
    for r in rows:
        for c in columns:
            out.loc[r, c] = 1.0 if r == c else partition_score(frame[r], frame[c], metric)
    return out


def mean_offdiagonal(table: pd.DataFrame) -> float:
    """Mean of a square agreement matrix off its diagonal (NaN for a 1x1 matrix).

    >>> mean_offdiagonal(pd.DataFrame([[1, 0.2, 0.4], [0.2, 1, 0.6], [0.4, 0.6, 1]]))
    0.4
    """
    values = table.to_numpy(dtype=float)
    if len(values) < 2:
        return float("nan")
    return round(float(values[np.triu_indices(len(values), 1)].mean()), 12)


def against(frame: pd.DataFrame, clusterings: Sequence[str], classes: pd.Series) -> pd.DataFrame:
    """ARI, AMI and purity of every clustering against one labelling (rows where it is known)."""
    rows = classes.notna().to_numpy()
    ref = classes[rows].to_numpy()
    records = []
    for name in clusterings:
        assign = frame[name].to_numpy()[rows]
        records.append({"clustering": name, "clusters": int(len(set(assign) - {-1})),
                        "ARI": partition_score(assign, ref, "ARI"), "AMI": partition_score(assign, ref, "AMI"),
                        "purity": purity(assign, ref)})
    return pd.DataFrame.from_records(records).set_index("clustering")


def probe_rows(labels: pd.Series, folds: int = 5) -> tuple[np.ndarray, list[str]]:
    """Galaxies the probes can use: a usable label held by at least ``folds`` galaxies.

    Returns the boolean mask and the labels left out for being too rare to cross-validate.

    >>> mask, rare = probe_rows(pd.Series(["a"] * 5 + ["b", None, "uncertain"]), folds=5)
    >>> int(mask.sum()), rare
    (5, ['b'])
    """
    from helpers.data.schema import UNCERTAIN_LABEL

    usable = labels.notna() & (labels != UNCERTAIN_LABEL)
    counts = labels[usable].value_counts()
    rare = sorted(counts[counts < folds].index)
    return (usable & ~labels.isin(rare)).to_numpy(), rare


def _folds(y: np.ndarray, folds: int, seed: int):
    from sklearn.model_selection import StratifiedKFold

    smallest = pd.Series(y).value_counts().min()
    if smallest < 2:
        raise DataError("every label needs at least 2 galaxies for cross-validation; "
                        f"the rarest has {smallest}")
    return StratifiedKFold(n_splits=min(folds, int(smallest)), shuffle=True, random_state=seed)


def knn_predict(x: np.ndarray, y: np.ndarray, *, k: int = 10, folds: int = 5, seed: int = 42) -> np.ndarray:
    """Cross-validated k-nearest-neighbour prediction (cosine similarity) of each galaxy's label.

    Each galaxy is predicted by a vote of the k nearest galaxies of the *other* folds
    (:func:`helpers.codes.neighbours.classify`; a tie goes to the label of the nearer galaxy).
    """
    from helpers.codes.neighbours import classify

    y = np.asarray(y)
    pred = np.empty(len(y), dtype=y.dtype)
    for train, test in _folds(y, folds, seed).split(x, y):
        pred[test] = classify(x[train], y[train], x[test], k=k)["predicted"].to_numpy()
    return pred


def probe_predict(x: np.ndarray, y: np.ndarray, *, folds: int = 5, seed: int = 42,
                  n_components: int = 50) -> np.ndarray:
    """Cross-validated linear-probe prediction: a multinomial logistic regression on the codes.

    The codes are standardised and whitened onto their ``n_components`` leading principal
    components (fitted within each training fold) first: still a linear map of the codes, but
    the 512 correlated ReLU outputs otherwise make the solver crawl (hundreds of iterations for
    the same accuracy).
    """
    from sklearn.model_selection import cross_val_predict

    cv = _folds(y, folds, seed)
    smallest_fit = len(x) - -(-len(x) // cv.get_n_splits())  # rows of the smallest training fold
    model = _linear_probe(smallest_fit - 1, x.shape[1], seed, n_components)
    return cross_val_predict(model, x, y, cv=cv)


def knn_fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *,
                    k: int = 10) -> np.ndarray:
    """Label of each test galaxy by a vote of its ``k`` nearest training galaxies (cosine).

    The out-of-sample k-NN probe: fitted on galaxies the network trained on, scored on the
    others (:func:`helpers.codes.neighbours.classify`; a tie goes to the label of the nearer galaxy).
    """
    from helpers.codes.neighbours import classify
    from helpers.progress import step

    with step(f"k-NN probe ({len(x_train):,} training, {len(x_test):,} test galaxies)"):
        return classify(x_train, y_train, x_test, k=k)["predicted"].to_numpy()


def _linear_probe(n_rows: int, n_cols: int, seed: int, n_components: int = 50):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_components = min(n_components, n_cols, n_rows - 1)
    return make_pipeline(StandardScaler(), PCA(n_components, whiten=True, random_state=seed),
                         LogisticRegression(C=0.1, max_iter=1000))


def probe_fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *,
                      seed: int = 42, n_components: int = 50) -> np.ndarray:
    """The linear probe of :func:`probe_predict`, fitted on the training galaxies, applied to the test ones."""
    from helpers.progress import step

    model = _linear_probe(len(x_train), x_train.shape[1], seed, n_components)
    with step(f"linear probe ({len(x_train):,} training, {len(x_test):,} test galaxies)"):
        return model.fit(x_train, y_train).predict(x_test)


def pixel_codes(images: np.ndarray, n_components: int = 50, seed: int = 0,
                fit_rows: np.ndarray | None = None) -> np.ndarray:
    """A no-network baseline: the images' raw pixels (flattened, scaled to 0..1), PCA-reduced.

    Probing these answers "is it the network, or would the pixels alone do?". ``fit_rows``
    (a boolean mask) fits the PCA on those images only (the training galaxies) and applies it
    to all.
    """
    from sklearn.decomposition import PCA

    flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
    fit = flat if fit_rows is None else flat[np.asarray(fit_rows)]
    n_components = min(n_components, *fit.shape)
    return PCA(n_components=n_components, random_state=seed).fit(fit).transform(flat).astype(np.float32)


def confusion(pred: np.ndarray, y: np.ndarray, order: Sequence[str]) -> pd.DataFrame:
    """Counts of (label, prediction) pairs with rows and columns in ``order`` (labels that occur)."""
    present = [o for o in order if o in set(y) | set(pred)]
    table = pd.crosstab(pd.Series(y, name="label"), pd.Series(pred, name="predicted"))
    return table.reindex(index=[o for o in present if o in table.index],
                         columns=present, fill_value=0)
