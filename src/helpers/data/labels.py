"""One morphology label per galaxy, by walking the Galaxy Zoo 2 decision tree.

At each question the most-voted answer is followed; the label is the leaf reached::

    Q1 smooth            -> Q7  round: completely round | in between | cigar-shaped
    Q1 features or disk  -> Q2 edge-on  -> Q9  edge-on disk: rounded | boxy | no bulge
                            Q2 not      -> Q4  disk: spiral | no spiral
    Q1 star or artifact  -> star or artifact

The *leaf probability* is the product of the conditional vote fractions along the path. Because
the Kaggle columns are cumulative, it equals the leaf's own column (e.g. ``Class7.1`` for
"round: completely round"), the fraction of all volunteers who would reach that leaf.

``rule="seed"`` reproduces the seed study: plain argmax, and whenever "smooth" does not win Q1
the galaxy goes down the disk branch, so star/artifact galaxies are labelled as disks.

An optional ``threshold`` turns weak galaxies into "uncertain": with ``agreement="leaf"`` a
galaxy needs a leaf probability of at least ``threshold``; with ``agreement="step"`` every
answer on its path must win at least ``threshold`` of the votes cast at that question.

>>> import pandas as pd
>>> from helpers.data.schema import COLUMNS
>>> row = dict.fromkeys(COLUMNS, 0.0)
>>> row.update({"Class1.1": 0.8, "Class1.2": 0.2, "Class7.1": 0.6, "Class7.2": 0.2,
...             "Class2.2": 0.2, "Class3.2": 0.2, "Class4.2": 0.2, "Class5.2": 0.2, "Class6.2": 1.0})
>>> assign_labels(pd.DataFrame([row]))[["label", "leaf_probability"]].round(3).to_dict("records")
[{'label': 'round: completely round', 'leaf_probability': 0.6}]
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from helpers.errors import ParameterError
from helpers.data.schema import (
    COLUMNS,
    DISK_LABELS,
    EDGE_ON_LABELS,
    ID_COLUMN,
    LABELS,
    QUESTIONS,
    ROUND_LABELS,
    STAR_LABEL,
    UNCERTAIN_LABEL,
)

Rule = Literal["tree", "seed"]
Agreement = Literal["leaf", "step"]

# leaf label -> the questions on its path and the answer column chosen at each
_PATHS: dict[str, tuple[str, ...]] = {
    **{lab: ("Class1.1", f"Class7.{i + 1}") for i, lab in enumerate(ROUND_LABELS)},
    **{lab: ("Class1.2", "Class2.1", f"Class9.{i + 1}") for i, lab in enumerate(EDGE_ON_LABELS)},
    DISK_LABELS[0]: ("Class1.2", "Class2.2", "Class4.1"),
    DISK_LABELS[1]: ("Class1.2", "Class2.2", "Class4.2"),
    STAR_LABEL: ("Class1.3",),
}


def _argmax(frame: pd.DataFrame, question: int) -> np.ndarray:
    """Index of the most-voted answer of ``question`` (first answer wins ties)."""
    return frame[list(QUESTIONS[question].columns)].to_numpy(dtype=float).argmax(axis=1)


def leaf_path(label: str) -> tuple[str, ...]:
    """The answer columns on the path to ``label``.

    >>> leaf_path("disk: spiral")
    ('Class1.2', 'Class2.2', 'Class4.1')
    """
    try:
        return _PATHS[label]
    except KeyError:
        raise ParameterError(f"unknown label {label!r}; expected one of {list(LABELS)}") from None


def assign_labels(
    fractions: pd.DataFrame,
    *,
    rule: Rule = "tree",
    threshold: float | None = None,
    agreement: Agreement = "leaf",
) -> pd.DataFrame:
    """Label every row of a Kaggle vote table.

    Returns a frame with ``GalaxyID`` (when present), ``label``, ``leaf_probability`` and
    ``step_agreement`` (the weakest conditional fraction on the path), in the input's order.
    """
    missing = [c for c in COLUMNS if c not in fractions.columns]
    if missing:
        raise ParameterError(f"the vote table lacks columns {missing[:5]}{'...' if len(missing) > 5 else ''}")
    if rule not in ("tree", "seed"):
        raise ParameterError(f"rule={rule!r}: use 'tree' (ours) or 'seed' (the seed study's argmax)")
    if agreement not in ("leaf", "step"):
        raise ParameterError(f"agreement={agreement!r}: use 'leaf' or 'step'")
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise ParameterError(f"threshold={threshold!r} must lie in [0, 1] (or be None for no threshold)")

    n = len(fractions)
    q1 = _argmax(fractions, 1)
    if rule == "seed":  # smooth or not: star/artifact winners go down the disk branch
        q1 = np.where(q1 == 0, 0, 1)
    q7, q2, q9, q4 = (_argmax(fractions, q) for q in (7, 2, 9, 4))

    labels = np.empty(n, dtype=object)
    smooth, features, star = q1 == 0, q1 == 1, q1 == 2
    edge_on, face_on = features & (q2 == 0), features & (q2 == 1)
    labels[smooth] = np.asarray(ROUND_LABELS, dtype=object)[q7[smooth]]
    labels[edge_on] = np.asarray(EDGE_ON_LABELS, dtype=object)[q9[edge_on]]
    labels[face_on] = np.asarray(DISK_LABELS, dtype=object)[q4[face_on]]
    labels[star] = STAR_LABEL

    values = fractions[COLUMNS].to_numpy(dtype=float)
    col_index = {c: i for i, c in enumerate(COLUMNS)}
    leaf = np.empty(n)
    step = np.empty(n)
    for lab in LABELS:
        rows = labels == lab
        if not rows.any():
            continue
        path = [col_index[c] for c in leaf_path(lab)]
        cum = values[rows][:, path]
        parents = np.concatenate([np.ones((cum.shape[0], 1)), cum[:, :-1]], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            cond = np.where(parents > 0, cum / parents, 0.0)
        leaf[rows] = np.prod(cond, axis=1)
        step[rows] = cond.min(axis=1)

    if threshold is not None:
        weak = (leaf if agreement == "leaf" else step) < float(threshold)
        labels[weak] = UNCERTAIN_LABEL

    out = pd.DataFrame(
        {"label": labels.astype(str), "leaf_probability": leaf, "step_agreement": step},
        index=fractions.index,
    )
    if ID_COLUMN in fractions.columns:
        out.insert(0, ID_COLUMN, fractions[ID_COLUMN].to_numpy())
    return out


def label_counts(labels: pd.Series, *, include_uncertain: bool = True) -> pd.Series:
    """Counts per label in the study's fixed label order (zeros kept).

    >>> label_counts(pd.Series(["disk: spiral", "disk: spiral", "star or artifact"])).loc["disk: spiral"]
    np.int64(2)
    """
    order = list(LABELS) + ([UNCERTAIN_LABEL] if include_uncertain else [])
    return labels.value_counts().reindex(order, fill_value=0).rename("galaxies")


def compare_rules(fractions: pd.DataFrame, **ours) -> pd.DataFrame:
    """Cross-tabulate the seed study's labels (rows) against ours (columns)."""
    seed = assign_labels(fractions, rule="seed")["label"]
    tree = assign_labels(fractions, rule="tree", **ours)["label"]
    table = pd.crosstab(seed.rename("seed rule"), tree.rename("our rule"))
    rows = [lab for lab in LABELS if lab in table.index]
    cols = [lab for lab in (*LABELS, UNCERTAIN_LABEL) if lab in table.columns]
    return table.reindex(index=rows, columns=cols, fill_value=0)


def rule_changes(table: pd.DataFrame) -> pd.DataFrame:
    """The off-diagonal cells of :func:`compare_rules`: which labels moved where, largest first.

    >>> t = pd.DataFrame([[3, 1], [0, 2]], index=["a", "b"], columns=["a", "b"])
    >>> rule_changes(t).to_dict("records")
    [{'seed rule': 'a', 'our rule': 'b', 'galaxies': 1}]
    """
    long = table.rename_axis(index="seed rule", columns="our rule").stack().rename("galaxies").reset_index()
    moved = long[(long["seed rule"] != long["our rule"]) & (long["galaxies"] > 0)]
    return moved.sort_values("galaxies", ascending=False, kind="stable").reset_index(drop=True)


def truth_recovery(labels: pd.DataFrame, truth: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """How well labels recover a known truth (the mock's ``true_label``).

    Returns headline numbers (coverage: share not "uncertain"; accuracy over all galaxies and
    over the labelled ones) and the truth x label cross-tabulation.
    """
    merged = labels.merge(truth[[ID_COLUMN, "true_label"]], on=ID_COLUMN, how="inner")
    if merged.empty:
        raise ParameterError("no GalaxyID in common between the labels and the ground truth")
    labelled = merged["label"] != UNCERTAIN_LABEL
    hits = merged["label"] == merged["true_label"]
    table = pd.crosstab(merged["true_label"].rename("true morphology"), merged["label"].rename("label"))
    table = table.reindex(
        index=[lab for lab in LABELS if lab in table.index],
        columns=[lab for lab in (*LABELS, UNCERTAIN_LABEL) if lab in table.columns],
        fill_value=0,
    )
    recall = (table.apply(lambda row: row.get(row.name, 0) / max(row.sum(), 1), axis=1)).rename("recall")
    numbers = {
        "galaxies": int(len(merged)),
        "coverage": float(labelled.mean()),
        "accuracy": float(hits.mean()),
        "accuracy_labelled": float(hits[labelled].mean()) if labelled.any() else float("nan"),
        "recall": {k: float(v) for k, v in recall.items()},
    }
    return numbers, table


def threshold_sweep(fractions: pd.DataFrame, thresholds=None) -> pd.DataFrame:
    """Share of galaxies called "uncertain" as the threshold grows, on the leaf and on each step.

    >>> from helpers.data.schema import COLUMNS
    >>> row = dict.fromkeys(COLUMNS, 0.0) | {"Class1.3": 1.0, "Class6.2": 1.0}
    >>> threshold_sweep(pd.DataFrame([row]), [0.5, 1.0]).round(2).to_dict("list")
    {'threshold': [0.5, 1.0], 'leaf': [0.0, 0.0], 'step': [0.0, 0.0]}
    """
    thresholds = np.linspace(0, 1, 21) if thresholds is None else np.asarray(thresholds, dtype=float)
    base = assign_labels(fractions)
    rows = [
        {"threshold": float(t),
         "leaf": float((base["leaf_probability"] < t).mean()),
         "step": float((base["step_agreement"] < t).mean())}
        for t in thresholds
    ]
    return pd.DataFrame(rows)


def confidence_table(labels: pd.DataFrame) -> pd.DataFrame:
    """How confident the crowd was, label by label: count and quartiles of the leaf probability."""
    stats = labels.groupby("label")["leaf_probability"].describe()
    return stats[["count", "mean", "25%", "50%", "75%"]].round(2)


def with_images(labels: pd.DataFrame, galaxies: pd.DataFrame) -> pd.DataFrame:
    """The labels (``GalaxyID``, ``label``, ``leaf_probability``) with each galaxy's ``image_path``."""
    return galaxies[[ID_COLUMN, "image_path"]].join(labels[["label", "leaf_probability"]])


class Changed(NamedTuple):
    """How many galaxies change label between two rules."""

    count: int
    total: int
    share: float


def changed_share(before: pd.DataFrame, after: pd.DataFrame) -> Changed:
    """How many galaxies carry another label under ``after`` than under ``before`` (same rows).

    >>> changed_share(pd.DataFrame({"label": ["a", "b"]}), pd.DataFrame({"label": ["a", "c"]}))
    Changed(count=1, total=2, share=0.5)
    """
    count = int((before["label"].to_numpy() != after["label"].to_numpy()).sum())
    return Changed(count, len(after), count / max(len(after), 1))


class Recovery(NamedTuple):
    """How the labels compare with the mock's truth (:func:`recover_truth`)."""

    accuracy: float | None  # share of galaxies whose label is the drawn morphology (None: no truth)
    accuracy_labelled: float | None  # the same among galaxies not called "uncertain"
    confusion: pd.DataFrame | None  # truth (rows) x label (columns)
    sentence: str


def recover_truth(labels: pd.DataFrame, truth: pd.DataFrame | None) -> Recovery:
    """:func:`truth_recovery` where the data has a truth (the mock), and a sentence either way."""
    if truth is None:
        return Recovery(None, None, None, "no ground truth in this data set (real data): nothing "
                                          "to compare with")
    numbers, table = truth_recovery(labels, truth)
    sentence = (f"labels agree with the drawn morphology for {numbers['accuracy']:.1%} of galaxies "
                f"({numbers['accuracy_labelled']:.1%} of those not called uncertain)")
    return Recovery(numbers["accuracy"], numbers["accuracy_labelled"], table, sentence)


def labels_table(ours: pd.DataFrame, seed_rule: pd.DataFrame, galaxies: pd.DataFrame) -> pd.DataFrame:
    """Chapter 1's ``labels.parquet``: ID, label, leaf probability, the seed's label, the 37 fractions."""
    return ours.assign(seed_label=seed_rule["label"].to_numpy()).join(galaxies[COLUMNS])
