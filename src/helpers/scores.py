"""Every score of the study, in one place, each with its 95% interval where it is a finding.

- **Intervals.** :class:`Estimate` is a score with its 95% interval (a bootstrap over galaxies,
  :func:`bootstrap`); :func:`difference` is the *paired* interval of a - b (both scores on the
  same resampled galaxies), which decides every comparison of the study.
- **Labels.** :func:`accuracy_of`, :func:`balanced_accuracy_of`, :func:`accuracy` (with its
  interval), :func:`accuracy_difference` (paired) and :func:`majority`, the floor.
- **Vote fractions.** :func:`rmse` (the Kaggle score, chapter 2), :func:`rmse_estimate`,
  :func:`rmse_difference`, :func:`per_question_rmse`, :func:`mean_baseline_rmse` and
  :data:`PUBLISHED_RMSE`, measured on the *real* Galaxy Zoo.
- **Partitions.** :func:`partition_score` (ARI or AMI between two partitions, :data:`SCORES`),
  :func:`purity` and :func:`cluster_agreement` (with its interval).
- **Verdicts.** :func:`verdict` says what a paired interval says (:data:`VERDICTS`);
  :func:`robust` whether a difference is larger than twice its run-to-run spread, the
  condition for the book to state it. The sentences that word them are
  :mod:`helpers.sentences`.

Every score of what the network learned is computed on galaxies it never trained on (the run's
split, :meth:`helpers.run.Run.split`).

>>> rng = np.random.default_rng(0)
>>> truth = rng.integers(0, 3, 500)
>>> good = np.where(rng.random(500) < 0.8, truth, (truth + 1) % 3)
>>> est = accuracy(good, truth, seed=1)
>>> 0.75 < est.value < 0.85 and est.low < est.value < est.high
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.data.schema import COLUMNS, QUESTIONS
from helpers.errors import DataError, ParameterError

N_BOOT = 1000  # bootstrap resamples: the interval's ends move by about 0.002 between seeds
LEVEL = 0.95
SCORES = ("ARI", "AMI")
VERDICTS = ("better", "worse", "not told apart")
#: Published hold-out RMSEs on the *real* Galaxy Zoo (points of comparison, not comparable to the mock).
PUBLISHED_RMSE: dict[str, float] = {
    "seed study: ResNet34, 8 epochs": 0.110,
    "Kaggle winner (Dieleman et al. 2015)": 0.0749,
}


# --- scores with intervals -------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """A score with its 95% interval (bootstrap over galaxies) and the number of galaxies."""

    value: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return self.format(".3f")

    def format(self, spec: str = ".3f") -> str:
        """``0.682 [0.641, 0.720]``; ``spec`` is a format spec such as ``".1%"``.

        >>> Estimate(0.5, 0.4, 0.6, 100).format(".0%")
        '50% [40%, 60%]'
        """
        return f"{self.value:{spec}} [{self.low:{spec}}, {self.high:{spec}}]"

    def to_dict(self, digits: int = 4) -> dict:
        return {"value": round(self.value, digits), "low": round(self.low, digits),
                "high": round(self.high, digits), "n": self.n}

    def excludes(self, x: float = 0.0) -> bool:
        """Whether ``x`` lies outside the interval (a resolved difference from ``x``)."""
        return x < self.low or x > self.high


def _resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _check_rows(arrays: tuple) -> int:
    if not arrays:
        raise ValueError("bootstrap needs at least one array")
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"arrays of different lengths: {[len(a) for a in arrays]}")
    if n == 0:
        raise DataError("no galaxies to score: the unseen set is empty (is the split all train?)")
    return n


def bootstrap(statistic: Callable[..., float], *arrays, n_boot: int = N_BOOT, seed: int = 0,
              level: float = LEVEL) -> Estimate:
    """``statistic(*arrays)`` with a percentile interval from ``n_boot`` resamples of the rows.

    Rows are galaxies: every array is resampled with the same indices.

    >>> est = bootstrap(lambda x: float(np.mean(x)), np.arange(100.0), seed=0)
    >>> round(est.value, 1), est.low < 49.5 < est.high, est.n
    (49.5, True, 100)
    """
    n = _check_rows(arrays)
    arrays = tuple(np.asarray(a) for a in arrays)
    value = float(statistic(*arrays))
    draws = np.array([statistic(*(a[idx] for a in arrays)) for idx in _resamples(n, n_boot, seed)])
    alpha = (1 - level) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return Estimate(value, float(low), float(high), n)


def difference(statistic_a: Callable[..., float], statistic_b: Callable[..., float], *arrays,
               n_boot: int = N_BOOT, seed: int = 0, level: float = LEVEL) -> Estimate:
    """``statistic_a - statistic_b`` on the same galaxies, with a *paired* bootstrap interval.

    Pairing removes the spread both scores share (which galaxies happened to be drawn), so a
    difference can be resolved although the two intervals overlap. For two predictions scored
    against the same truth, :func:`accuracy_difference` and :func:`rmse_difference` say it
    shorter.
    """
    return bootstrap(lambda *a: statistic_a(*a) - statistic_b(*a), *arrays, n_boot=n_boot,
                     seed=seed, level=level)


def _paired(score: Callable[[np.ndarray, np.ndarray], float], a, b, truth, seed: int,
            n_boot: int = N_BOOT) -> Estimate:
    """score(a, truth) - score(b, truth), paired over galaxies."""
    return bootstrap(lambda p, q, y: score(p, y) - score(q, y), np.asarray(a), np.asarray(b),
                     np.asarray(truth), seed=seed, n_boot=n_boot)


# --- labels ----------------------------------------------------------------------------------

def accuracy_of(predicted, truth) -> float:
    """Share of galaxies whose prediction equals the truth."""
    return float(np.mean(np.asarray(predicted) == np.asarray(truth)))


def balanced_accuracy_of(predicted, truth) -> float:
    """Mean recall over the true classes present (rare labels count as much as common ones)."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    return float(np.mean([np.mean(predicted[truth == c] == c) for c in np.unique(truth)]))


def accuracy(predicted, truth, *, balanced: bool = False, seed: int = 0) -> Estimate:
    """Accuracy (or balanced accuracy) of ``predicted`` against ``truth`` with its interval."""
    return bootstrap(balanced_accuracy_of if balanced else accuracy_of, predicted, truth, seed=seed)


def accuracy_difference(predicted_a, predicted_b, truth, *, seed: int = 0) -> Estimate:
    """Accuracy of ``predicted_a`` minus that of ``predicted_b`` on the same galaxies (paired).

    >>> y = np.array([0, 1, 1, 0] * 50)
    >>> accuracy_difference(y, 1 - y, y, seed=0).value
    1.0
    """
    return _paired(accuracy_of, predicted_a, predicted_b, truth, seed)


def majority(labels) -> float:
    """Accuracy of always answering the most common label: the floor every probe must beat.

    >>> majority(np.array(["a", "a", "b"]))
    0.6666666666666666
    """
    return float(pd.Series(np.asarray(labels)).value_counts(normalize=True).iloc[0])


# --- vote fractions --------------------------------------------------------------------------

def rmse(predicted, target) -> float:
    """Root mean squared error over every galaxy and every column (the Kaggle score).

    >>> rmse(np.zeros((2, 37)), np.full((2, 37), 0.1))
    0.1
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if predicted.shape != target.shape:
        raise ParameterError(f"predictions have shape {predicted.shape} but targets {target.shape}")
    return round(float(np.sqrt(np.mean((predicted - target) ** 2))), 12)


def rmse_estimate(predicted, target, *, seed: int = 0) -> Estimate:
    """:func:`rmse` with its interval over galaxies."""
    return bootstrap(rmse, predicted, target, seed=seed)


def rmse_difference(predicted_a, predicted_b, target, *, seed: int = 0) -> Estimate:
    """RMSE of ``predicted_a`` minus that of ``predicted_b`` on the same galaxies (paired;
    negative: ``a`` is better).

    >>> y = np.full((40, 37), 0.5)
    >>> rmse_difference(y, y + 0.1, y).value
    -0.1
    """
    return _paired(rmse, predicted_a, predicted_b, target, seed)


def per_question_rmse(predicted, target) -> pd.Series:
    """RMSE over each question's answer columns; index ``"Q1: <question text>"`` ... ``"Q11: ..."``.

    >>> s = per_question_rmse(np.zeros((2, 37)), np.full((2, 37), 0.1))
    >>> len(s), s.index[0][:4], float(s.iloc[0])
    (11, 'Q1: ', 0.1)
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if predicted.shape != target.shape or predicted.ndim != 2 or predicted.shape[1] != len(COLUMNS):
        raise ParameterError(f"predictions and targets must both be (N, {len(COLUMNS)}); got "
                             f"{predicted.shape} and {target.shape}")
    index = {c: i for i, c in enumerate(COLUMNS)}
    values, names = [], []
    for q in QUESTIONS.values():
        idx = [index[c] for c in q.columns]
        values.append(rmse(predicted[:, idx], target[:, idx]))
        names.append(f"Q{q.number}: {q.text}")
    return pd.Series(values, index=pd.Index(names, name="question"), name="rmse")


def mean_prediction(train_targets, n: int) -> np.ndarray:
    """``n`` rows of the training targets' column means: the prediction that sees no image."""
    return np.broadcast_to(np.asarray(train_targets, np.float64).mean(0, keepdims=True),
                           (n, np.asarray(train_targets).shape[1]))


def mean_baseline_rmse(train_targets, valid_targets) -> float:
    """RMSE on ``valid_targets`` of always predicting the training targets' column means.

    >>> mean_baseline_rmse(np.array([[0.0] * 37, [1.0] * 37]), np.full((3, 37), 0.5))
    0.0
    """
    return rmse(mean_prediction(train_targets, len(valid_targets)), valid_targets)


# --- partitions ------------------------------------------------------------------------------

def partition_score(a, b, metric: str = "ARI") -> float:
    """Adjusted Rand index or adjusted mutual information between two partitions.

    Both are 1 for identical partitions (whatever the cluster numbers) and about 0 for unrelated
    ones. Noise (``-1``) counts as one more group, as in the seed study.

    >>> partition_score([0, 0, 1, 1], [5, 5, 3, 3])
    1.0
    """
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    if metric not in SCORES:
        raise ValueError(f"metric must be one of {SCORES}, not {metric!r}")
    a, b = np.asarray(a), np.asarray(b)
    if len(a) != len(b):
        raise ValueError(f"partitions of different lengths: {len(a)} and {len(b)}")
    if metric == "ARI":
        return float(adjusted_rand_score(a, b))
    return float(adjusted_mutual_info_score(a, b))


def purity(assign: Sequence, classes: Sequence) -> float:
    """Share of galaxies whose cluster's most common class is their own class.

    Rises with the number of clusters (one cluster per galaxy is pure), so read it beside ARI/AMI.

    >>> purity([0, 0, 0, 1], ["a", "a", "b", "b"])
    0.75
    """
    table = pd.crosstab(np.asarray(assign), np.asarray(classes))
    return float(table.max(axis=1).sum() / table.to_numpy().sum())


def cluster_agreement(assign, labels, metric: str = "AMI", *, seed: int = 0,
                      n_boot: int = 300) -> Estimate:
    """AMI or ARI of a clustering against labels, with a bootstrap interval over galaxies.

    Noise (-1) counts as one more group, as everywhere in the study. 300 resamples: AMI is
    slow, and the interval's ends then move by about 0.005 between seeds.
    """
    return bootstrap(lambda a, y: partition_score(y, a, metric), np.asarray(assign), np.asarray(labels),
                     seed=seed, n_boot=n_boot)


def partition_difference(assign, classes_a, classes_b, metric: str = "AMI", *, seed: int = 0,
                         n_boot: int = 200) -> Estimate:
    """``metric`` of a clustering against ``classes_a`` minus against ``classes_b`` (paired)."""
    return bootstrap(lambda c, x, y: partition_score(x, c, metric) - partition_score(y, c, metric),
                     np.asarray(assign), np.asarray(classes_a), np.asarray(classes_b),
                     seed=seed, n_boot=n_boot)


# --- verdicts --------------------------------------------------------------------------------

def verdict(diff: Estimate, *, higher_is_better: bool = True) -> str:
    """``"better"``, ``"worse"`` or ``"not told apart"``: what the paired interval of a - b says.

    >>> verdict(Estimate(0.2, 0.15, 0.25, 400)), verdict(Estimate(0.02, -0.01, 0.05, 400))
    ('better', 'not told apart')
    >>> verdict(Estimate(0.01, 0.005, 0.02, 400), higher_is_better=False)
    'worse'
    """
    if not diff.excludes(0):
        return VERDICTS[2]
    return VERDICTS[0] if (diff.low > 0) == higher_is_better else VERDICTS[1]


def robust(diff: Estimate, spread: float | None) -> bool:
    """Whether a resolved difference is a finding that a second training would repeat: its
    interval excludes zero and it is more than twice ``spread``, the run-to-run tolerance of the
    difference (``notebooks/tolerances.yml``; ``None``: no spread known, the interval decides).

    >>> robust(Estimate(0.12, 0.09, 0.15, 900), 0.04), robust(Estimate(0.05, 0.02, 0.08, 900), 0.04)
    (True, False)
    """
    return diff.excludes(0) and (spread is None or abs(diff.value) > 2 * spread)


__all__ = ["Estimate", "bootstrap", "difference", "accuracy_of", "balanced_accuracy_of", "accuracy",
           "accuracy_difference", "majority", "rmse", "rmse_estimate", "rmse_difference",
           "per_question_rmse", "mean_prediction", "mean_baseline_rmse", "partition_score", "purity",
           "cluster_agreement", "partition_difference", "verdict", "robust", "SCORES", "VERDICTS",
           "PUBLISHED_RMSE", "N_BOOT", "LEVEL"]
