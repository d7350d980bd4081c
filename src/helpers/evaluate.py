"""How the study knows what it knows: which galaxies trained the network, and scores with intervals.

Chapter 2 records its split in the run (``split.parquet``: every labelled galaxy is ``train``,
``holdout`` or ``unused``). Every later score of what the network learned is computed on the
galaxies it never trained on (``holdout`` and ``unused``: :func:`unseen`), with the in-sample
figure beside it, and carries a 95% bootstrap interval over galaxies (:func:`bootstrap`).
Differences are claimed only where the interval of the *paired* difference (both scores on the
same resampled galaxies) excludes zero (:func:`difference`, :func:`compare_sentence`).

>>> rng = np.random.default_rng(0)
>>> truth = rng.integers(0, 3, 500)
>>> good = np.where(rng.random(500) < 0.8, truth, (truth + 1) % 3)
>>> est = bootstrap(accuracy_of, good, truth, seed=1)
>>> 0.75 < est.value < 0.85 and est.low < est.value < est.high
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.schema import ID_COLUMN
from helpers.errors import DataError

SPLIT_FILE = "split.parquet"
TRAIN, HOLDOUT, UNUSED = "train", "holdout", "unused"
N_BOOT = 1000  # bootstrap resamples: the interval's ends move by about 0.002 between seeds
LEVEL = 0.95


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
    difference can be resolved although the two intervals overlap.
    """
    return bootstrap(lambda *a: statistic_a(*a) - statistic_b(*a), *arrays, n_boot=n_boot,
                     seed=seed, level=level)


def accuracy_of(predicted, truth) -> float:
    """Share of galaxies whose prediction equals the truth."""
    return float(np.mean(np.asarray(predicted) == np.asarray(truth)))


def balanced_accuracy_of(predicted, truth) -> float:
    """Mean recall over the true classes present (rare labels count as much as common ones)."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    return float(np.mean([np.mean(predicted[truth == c] == c) for c in np.unique(truth)]))


def rmse_of(predicted, target) -> float:
    """Root mean squared error over every galaxy and every column."""
    return float(np.sqrt(np.mean((np.asarray(predicted, np.float64) - np.asarray(target, np.float64)) ** 2)))


def accuracy(predicted, truth, *, balanced: bool = False, seed: int = 0) -> Estimate:
    """Accuracy (or balanced accuracy) of ``predicted`` against ``truth`` with its interval."""
    return bootstrap(balanced_accuracy_of if balanced else accuracy_of, predicted, truth, seed=seed)


SCORES = ("ARI", "AMI")


def score(a, b, metric: str = "ARI") -> float:
    """Adjusted Rand index or adjusted mutual information between two partitions.

    Both are 1 for identical partitions (whatever the cluster numbers) and about 0 for unrelated
    ones. Noise (``-1``) counts as one more group, as in the seed study.

    >>> score([0, 0, 1, 1], [5, 5, 3, 3])
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


def cluster_agreement(assign, labels, metric: str = "AMI", *, seed: int = 0,
                      n_boot: int = 300) -> Estimate:
    """AMI or ARI of a clustering against labels, with a bootstrap interval over galaxies.

    Noise (-1) counts as one more group, as everywhere in the study. 300 resamples: AMI is
    slow, and the interval's ends then move by about 0.005 between seeds.
    """
    return bootstrap(lambda a, y: score(y, a, metric), np.asarray(assign), np.asarray(labels),
                     seed=seed, n_boot=n_boot)


VERDICTS = ("better", "worse", "not told apart")


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


def compare_sentence(name_a: str, a: Estimate, name_b: str, b: Estimate, diff: Estimate, *,
                     what: str = "accuracy", spec: str = ".1%", higher_is_better: bool = True,
                     singular: bool = False, spread: float | None = None) -> str:
    """One sentence comparing two scores on the same galaxies, claiming a difference only where
    the paired interval ``diff`` (a - b) excludes zero and, when the difference's run-to-run
    ``spread`` is given, only where it is more than twice that (:func:`robust`); otherwise the
    sentence gives the interval and says why it draws no verdict.

    >>> a, b = Estimate(0.7, 0.66, 0.74, 400), Estimate(0.5, 0.45, 0.55, 400)
    >>> compare_sentence("the codes", a, "raw pixels", b, Estimate(0.2, 0.15, 0.25, 400))
    'the codes do better than raw pixels: accuracy 70.0% [66.0%, 74.0%] against 50.0% [45.0%, 55.0%]'
    >>> compare_sentence("the codes", a, "raw pixels", b, Estimate(0.02, -0.01, 0.05, 400))[:60]
    'the codes and raw pixels are not told apart: accuracy 70.0% '
    >>> compare_sentence("the codes", a, "raw pixels", b, Estimate(0.05, 0.02, 0.08, 400),
    ...                  spread=0.04)[-77:]
    'a second training moves this difference by up to 4.0%, so no verdict is drawn'
    """
    scores = f"{what} {a.format(spec)} against {b.format(spec)}"
    said = verdict(diff, higher_is_better=higher_is_better)
    if said == VERDICTS[2]:
        return (f"{name_a} and {name_b} are not told apart: {scores} (the 95% interval of the "
                f"difference, {diff.format(spec)}, includes zero)")
    if not robust(diff, spread):
        return (f"{name_a} and {name_b} differ by {diff.format(spec)} on this run ({scores}); a "
                f"second training moves this difference by up to {spread:{spec}}, so no verdict is drawn")
    verb = "does" if singular else "do"  # name_a is one thing ("the network") or several ("the codes")
    return f"{name_a} {verb} {said} than {name_b}: {scores}"


def ranking_sentence(values: dict[str, float], spread: dict[str, float], *,
                     what: str = "keep neighbourhoods", spec: str = ".3f") -> str:
    """Which of ``values`` (higher is better) stand apart from the best, counting as tied every
    one within twice the run-to-run spread (``spread``: each value's tolerance) of the two: a
    ranking another training would not repeat is not stated.

    >>> ranking_sentence({"PCA": 0.97, "t-SNE": 0.99, "UMAP": 0.985},
    ...                  {"PCA": 0.09, "t-SNE": 0.005, "UMAP": 0.005})
    'PCA, t-SNE and UMAP keep neighbourhoods equally well within twice their run-to-run spread (PCA 0.970, t-SNE 0.990, UMAP 0.985)'
    >>> ranking_sentence({"PCA": 0.90, "t-SNE": 0.99}, {"PCA": 0.005, "t-SNE": 0.005})
    't-SNE keeps neighbourhoods best (PCA 0.900, t-SNE 0.990)'
    """
    top = max(values, key=values.get)
    tied = [k for k, v in values.items() if values[top] - v <= 2 * max(spread[top], spread[k])]
    shown = ", ".join(f"{k} {v:{spec}}" for k, v in values.items())
    if len(tied) == 1:
        verb = what.replace("keep ", "keeps ", 1) if what.startswith("keep ") else what
        return f"{top} {verb} best ({shown})"
    names = ", ".join(tied[:-1]) + f" and {tied[-1]}"
    behind = [k for k in values if k not in tied]
    rest = f"; {', '.join(behind)} less well" if behind else ""
    return f"{names} {what} equally well within twice their run-to-run spread{rest} ({shown})"


def family_sentence(scores: dict[str, dict[str, float]], differences: dict[str, Estimate]) -> str:
    """What the density clusterings' AMI against the label families (rather than the labels) says,
    claiming a level only where the paired interval of the difference excludes zero.

    >>> s = {"hdbscan_tsne2": {"labels": 0.30, "families": 0.45}}
    >>> family_sentence(s, {"hdbscan_tsne2": Estimate(0.15, 0.10, 0.20, 900)})[-68:]
    'hdbscan_tsne2 (difference 0.150 [0.100, 0.200]) sit at the families.'
    """
    if not scores:
        return "No density clustering was made."
    mean_l = float(np.mean([v["labels"] for v in scores.values()]))
    mean_f = float(np.mean([v["families"] for v in scores.values()]))
    groups = {"families": [], "labels": [], "unresolved": []}
    for name, diff in differences.items():
        key = "families" if diff.low > 0 else "labels" if diff.high < 0 else "unresolved"
        groups[key].append(f"{name} (difference {diff})")
    parts = []
    if groups["families"]:
        parts.append(f"{', '.join(groups['families'])} sit at the families.")
    if groups["labels"]:
        parts.append(f"{', '.join(groups['labels'])} follow the finer labels more closely than the families.")
    if groups["unresolved"]:
        parts.append(f"For {', '.join(groups['unresolved'])} the 95% interval of the difference "
                     "includes zero: the level is not resolved.")
    return (f"Scored on the unseen galaxies against the families of labels instead of the labels, the "
            f"density clusterings reach a mean AMI of {mean_f:.2f} (against {mean_l:.2f}). " + " ".join(parts))


def truth_sentence(clustering_ami: float, votes_ami: float) -> str:
    """The best clustering's AMI against the mock's truth, beside the vote labels' own.

    >>> truth_sentence(0.41, 0.55)[:60]
    'Against the drawn morphology of the mock, the same clusterin'
    """
    relation = ("more closely than the vote labels do (votes are noisy, so a clustering can beat them)"
                if clustering_ami > votes_ami else "less closely than the vote labels do")
    return (f"Against the drawn morphology of the mock, the same clustering reaches an AMI of "
            f"{clustering_ami:.2f} on the unseen galaxies, {relation} ({votes_ami:.2f}).")


def heldback_sentence(scores: dict[str, Estimate]) -> str:
    """Chapter 7's sentence on the held-back mock galaxies (``{}``: nothing to score).

    >>> e = {"vs_truth": Estimate(0.71, 0.66, 0.76, 300), "vote_labels_vs_truth": Estimate(0.8, 0.75, 0.84, 300),
    ...      "majority": Estimate(0.2, 0.16, 0.25, 300)}
    >>> heldback_sentence(e)[:84]
    'Against the drawn morphology of these held-back mock galaxies the predicted label is'
    """
    if not scores:
        return "These galaxies have no truth to score the predictions against."
    return (f"Against the drawn morphology of these held-back mock galaxies the predicted label is "
            f"right {scores['vs_truth'].format('.0%')} of the time (95% interval; the held-back "
            f"galaxies' own vote labels: {scores['vote_labels_vs_truth'].format('.0%')}; always the "
            f"most common label: {scores['majority'].format('.0%')}).")


# --- the split -------------------------------------------------------------------------------

def split_frame(ids, train_ids, holdout_ids) -> pd.DataFrame:
    """Every galaxy of ``ids`` with its set: ``train``, ``holdout`` or ``unused`` (not used by
    chapter 2 at all).

    >>> split_frame([1, 2, 3, 4], [2, 4], [1])["set"].tolist()
    ['holdout', 'train', 'unused', 'train']
    """
    ids = np.asarray(ids)
    train, holdout = set(np.asarray(train_ids).tolist()), set(np.asarray(holdout_ids).tolist())
    if train & holdout:
        raise ValueError(f"{len(train & holdout)} galaxies are in both the training and hold-out sets")
    sets = np.where(np.isin(ids, list(train)), TRAIN, np.where(np.isin(ids, list(holdout)), HOLDOUT, UNUSED))
    return pd.DataFrame({ID_COLUMN: ids, "set": sets})


def write_split(run_dir: str | Path, frame: pd.DataFrame) -> Path:
    from helpers.artifacts import write_parquet

    return write_parquet(frame, Path(run_dir) / SPLIT_FILE)


def read_split(run_dir: str | Path, ids) -> np.ndarray:
    """The set (``train``/``holdout``/``unused``) of each galaxy of ``ids``, in that order.

    Galaxies chapter 2 never listed (images without votes) are ``unused``.
    """
    path = Path(run_dir) / SPLIT_FILE
    if not path.exists():
        raise DataError(f"{path} is missing: it records which galaxies trained the network; "
                        "rerun chapter 2 (02_train_resnet34)")
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # truncated or not Parquet
        raise DataError(f"{path} cannot be read ({type(exc).__name__}); rerun chapter 2") from None
    sets = pd.Series(frame["set"].to_numpy(), index=frame[ID_COLUMN].to_numpy())
    return sets.reindex(np.asarray(ids)).fillna(UNUSED).to_numpy(dtype=object)


def unseen(sets: np.ndarray) -> np.ndarray:
    """True for galaxies the network never trained on."""
    return np.asarray(sets) != TRAIN


__all__ = ["Estimate", "bootstrap", "difference", "accuracy", "accuracy_of", "balanced_accuracy_of",
           "rmse_of", "score", "cluster_agreement", "compare_sentence", "ranking_sentence", "verdict", "robust", "VERDICTS", "family_sentence", "truth_sentence", "heldback_sentence", "split_frame", "write_split",
           "read_split", "unseen", "SPLIT_FILE", "TRAIN", "HOLDOUT", "UNUSED"]
