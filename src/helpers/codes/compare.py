"""Chapter 6's helpers: clusterings compared with each other, with the labels and with the truth,
and how well the codes separate the labels (k-nearest-neighbour and linear-probe accuracy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

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


# --- chapter 6 in a few calls ----------------------------------------------------------------

def agreement_tables(clusters: pd.DataFrame, groups: dict[str, list[str]],
                     columns: list[str] | None = None) -> dict[str, dict[str, pd.DataFrame]]:
    """ARI and AMI (:data:`helpers.scores.SCORES`) between the clusterings of each group (a
    square matrix per group), or of each group against ``columns``: ``{metric: {group: table}}``."""
    from helpers.scores import SCORES

    return {metric: {name: matrix(clusters, rows, columns, metric=metric) for name, rows in groups.items()}
            for metric in SCORES}


def by_space(tables: dict[str, dict[str, pd.DataFrame]], spaces: list[str]) -> dict[str, pd.DataFrame]:
    """The ``"all"`` table of each metric with its rows and columns named by space."""
    return {metric: t["all"].set_axis(spaces, axis=0).set_axis(spaces, axis=1) for metric, t in tables.items()}


def blind_mean(tables: dict[str, dict[str, pd.DataFrame]], names: list[str]) -> dict[str, float]:
    """Each metric's mean agreement between the clusterings ``names`` (off the diagonal)."""
    return {metric: mean_offdiagonal(t["all"].loc[names, names]) for metric, t in tables.items()}


class LabelScores(NamedTuple):
    """Every clustering against the labels (unseen and training galaxies) and, on the mock, the
    truth; and the best label-blind clustering (chosen in sample, scored out of sample)."""

    table: pd.DataFrame  # one row per clustering
    vs_labels: pd.DataFrame
    vs_labels_train: pd.DataFrame
    vs_truth: pd.DataFrame | None
    votes_vs_truth: dict | None  # the vote labels' own agreement with the truth
    best: str
    best_ami: object  # Estimate
    best_ari: object  # Estimate

    @property
    def blind(self) -> list[str]:
        """The clusterings that never saw the labels (all but those on LDA)."""
        return [n for n in self.table.index if "lda" not in n]

    def blind_table(self) -> pd.DataFrame:
        """The label-blind clusterings' rows, best AMI against the labels first."""
        return self.table.loc[self.blind].sort_values("AMI (unseen)", ascending=False)

    @property
    def votes_ami(self) -> float | None:
        """The vote labels' own AMI against the truth (None: no truth)."""
        return None if self.votes_vs_truth is None else self.votes_vs_truth["AMI"]


def against_labels(clusters: pd.DataFrame, names: list[str], galaxies: pd.DataFrame,
                   unseen: np.ndarray, *, seed: int = 42) -> LabelScores:
    """ARI, AMI and purity of every clustering against the labels (usable ones: not missing,
    not uncertain) on the unseen galaxies, AMI on the training galaxies, and on the mock AMI
    against the truth; the best label-blind clustering by AMI on the training galaxies, with
    its unseen AMI and ARI and their intervals."""
    from helpers import scores
    from helpers.codes.reduce import labelled_rows

    usable = labelled_rows(galaxies["label"])
    labels = galaxies["label"].where(usable)
    vs_labels = against(clusters[unseen], names, labels[unseen])
    vs_labels_train = against(clusters[~unseen], names, labels[~unseen])
    table = pd.DataFrame({"AMI (unseen)": vs_labels["AMI"], "ARI (unseen)": vs_labels["ARI"],
                          "purity (unseen)": vs_labels["purity"],
                          "AMI (training, in sample)": vs_labels_train["AMI"]})
    vs_truth = votes_vs_truth = None
    if "true_label" in galaxies:
        vs_truth = against(clusters[unseen], names, galaxies.loc[unseen, "true_label"])
        table["AMI vs truth (unseen)"] = vs_truth["AMI"]
        rows = usable & unseen
        votes_vs_truth = {m: scores.partition_score(galaxies.loc[rows, "label"], galaxies.loc[rows, "true_label"], m)
                          for m in scores.SCORES}
    table = table.assign(clusters=vs_labels["clusters"],
                         **{"saw the labels": ["yes (LDA)" if "lda" in n else "" for n in names]})
    blind = [n for n in names if "lda" not in n]
    best = vs_labels_train.loc[blind, "AMI"].idxmax()
    rows = unseen & usable
    best_ami = scores.cluster_agreement(clusters.loc[rows, best], galaxies.loc[rows, "label"], "AMI", seed=seed)
    best_ari = scores.cluster_agreement(clusters.loc[rows, best], galaxies.loc[rows, "label"], "ARI", seed=seed)
    return LabelScores(table, vs_labels, vs_labels_train, vs_truth, votes_vs_truth, best, best_ami, best_ari)


class Families(NamedTuple):
    """The density clusterings against the label families and the labels (unseen galaxies)."""

    scores: dict  # clustering -> {"labels": AMI, "families": AMI}
    differences: dict  # clustering -> Estimate of families minus labels (paired)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({name: {"AMI vs labels": v["labels"], "AMI vs families": v["families"],
                                    "difference (95% interval)": self.differences[name].format(".3f")}
                             for name, v in self.scores.items()}).T


def against_families(clusters: pd.DataFrame, density: list[str], galaxies: pd.DataFrame,
                     unseen: np.ndarray, *, seed: int = 42) -> Families:
    """AMI of each density clustering against the label families (round, edge-on, disk, star)
    and against the labels, on the unseen galaxies, with the paired difference."""
    from helpers import scores
    from helpers.codes.reduce import labelled_rows
    from helpers.data.schema import family_of

    rows = unseen & labelled_rows(galaxies["label"])
    labels = galaxies.loc[rows, "label"].to_numpy()
    families = np.array([family_of(lab) for lab in labels], dtype=object)
    found, diffs = {}, {}
    for name in density:
        assign = clusters.loc[rows, name].to_numpy()
        found[name] = {"labels": scores.partition_score(labels, assign, "AMI"),
                       "families": scores.partition_score(families, assign, "AMI")}
        diffs[name] = scores.partition_difference(assign, families, labels, "AMI", seed=seed)
    return Families(found, diffs)


def raw_pixels(galaxies: pd.DataFrame, rows: np.ndarray, fit: np.ndarray, *, size: int, crop: int,
               seed: int = 42) -> np.ndarray:
    """The no-network baseline's inputs for every galaxy (zeros outside ``rows``): the images
    cut as the network cut them (``crop``) at ``size`` px, PCA-reduced with the PCA fitted on
    the galaxies of ``fit`` (the training galaxies) only (:func:`pixel_codes`)."""
    from helpers.data.imagecache import load_image_array

    images = load_image_array(galaxies.loc[rows, "image_path"], size=size, crop=crop)
    found = pixel_codes(images, seed=seed, fit_rows=np.asarray(fit)[rows])
    out = np.zeros((len(galaxies), found.shape[1]), np.float32)
    out[rows] = found
    return out


PROBE_INPUTS = ("CNN codes", "untrained network", "raw pixels")
PREDICTED = ("predicted fractions", "decision tree")
MAJORITY = ("always the most common label", "-")
CODES_PROBE = ("CNN codes", "linear probe")  # the study's probe, chosen before any score was seen
BASELINES = ("raw_pixels", "untrained", "predicted_fractions", "majority")  # what the codes are set against


class Probes(NamedTuple):
    """The probes of chapter 6, fitted on the training galaxies and scored on the unseen ones."""

    predictions: dict  # (input, probe) -> labels predicted for the unseen galaxies
    accuracy: dict  # (input, probe) -> Estimate
    balanced: dict  # (input, probe) -> Estimate
    in_sample: dict  # probe -> cross-validated accuracy of the codes within the training galaxies
    truth: np.ndarray  # the unseen galaxies' labels
    n_train: int

    def best(self, name: str) -> tuple[str, str]:
        """The better of the two probes on input ``name`` (the baselines are given their best)."""
        return max((key for key in self.accuracy if key[0] == name), key=lambda key: self.accuracy[key].value)

    def table(self) -> pd.DataFrame:
        out = pd.DataFrame({"accuracy (unseen)": {k: e.format(".3f") for k, e in self.accuracy.items()},
                            "balanced (unseen)": {k: e.format(".3f") for k, e in self.balanced.items()}})
        out.index.names = ["input", "probe"]
        out["accuracy (training, in sample)"] = [f"{self.in_sample[p]:.3f}" if i == "CNN codes" else ""
                                                 for i, p in out.index]
        return out


def probes(galaxies: pd.DataFrame, inputs: dict[str, np.ndarray], fractions: pd.DataFrame,
           unseen: np.ndarray, rows: np.ndarray, *, knn_k: int = 10, folds: int = 5,
           seed: int = 42) -> Probes:
    """A k-NN vote and a linear probe on each of ``inputs`` (:data:`PROBE_INPUTS` -> codes),
    fitted on the training galaxies of ``rows`` and scored on the unseen ones, beside the
    network's predicted fractions through the decision tree and the most common label."""
    from helpers import scores
    from helpers.data.labels import assign_labels
    from helpers.data.schema import COLUMNS

    train, test = rows & ~unseen, rows & unseen
    y_train, y_test = galaxies.loc[train, "label"].to_numpy(), galaxies.loc[test, "label"].to_numpy()
    predicted = {}
    for name, x in inputs.items():
        predicted[(name, "k-NN")] = knn_fit_predict(x[train], y_train, x[test], k=knn_k)
        predicted[(name, "linear probe")] = probe_fit_predict(x[train], y_train, x[test], seed=seed)
    predicted[PREDICTED] = assign_labels(fractions[COLUMNS])["label"].to_numpy()[test]
    predicted[MAJORITY] = np.full(len(y_test), pd.Series(y_train).mode()[0], dtype=object)
    codes = inputs["CNN codes"][train]
    in_sample = {"k-NN": scores.accuracy_of(knn_predict(codes, y_train, k=knn_k, folds=folds, seed=seed), y_train),
                 "linear probe": scores.accuracy_of(probe_predict(codes, y_train, folds=folds, seed=seed), y_train)}
    return Probes(predicted, {k: scores.accuracy(p, y_test, seed=seed) for k, p in predicted.items()},
                  {k: scores.accuracy(p, y_test, balanced=True, seed=seed) for k, p in predicted.items()},
                  in_sample, y_test, int(train.sum()))


def verdicts(found: Probes, spread: dict[str, float], *, seed: int = 42) -> dict[str, tuple]:
    """The codes' linear probe against each baseline's better probe, on the same unseen galaxies:
    ``{baseline: (paired difference, sentence)}``, the sentence claiming a verdict only beyond
    twice the difference's run-to-run ``spread`` (:func:`helpers.sentences.compare_sentence`)."""
    from helpers import scores, sentences

    baselines = {"raw_pixels": found.best("raw pixels"), "untrained": found.best("untrained network"),
                 "predicted_fractions": PREDICTED, "majority": MAJORITY}
    out = {}
    for key, other in baselines.items():
        diff = scores.accuracy_difference(found.predictions[CODES_PROBE], found.predictions[other],
                                          found.truth, seed=seed)
        out[key] = (diff, sentences.compare_sentence(
            f"the codes ({CODES_PROBE[1]})", found.accuracy[CODES_PROBE], f"{other[0]} ({other[1]})",
            found.accuracy[other], diff, what="accuracy on unseen galaxies", spread=spread[key]))
    return out
