"""Chapter 3's helpers around the CNN codes: which galaxies, a first PCA look, neighbours.

The codes themselves come from :func:`helpers.net.inference.extract_features`; this module chooses the
galaxies and measures what the codes hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from helpers.data.schema import ID_COLUMN, LABELS, TEST_IMAGES, TRAIN_IMAGES
from helpers.errors import DataError, ParameterError


def select_galaxies(run_dir: str | Path, data_dir: str | Path, *, n_galaxies: int | None = None,
                    include_unlabelled: bool = False, seed: int = 42) -> pd.DataFrame:
    """The galaxies to featurize: ``GalaxyID``, ``label`` (NaN when unlabelled), ``image_path``, ``set``.

    Labelled galaxies are those of chapter 1's ``labels.parquet`` (a seeded subsample of
    ``n_galaxies`` when given); with ``include_unlabelled``, every ``<GalaxyID>.jpg`` of
    ``DATA_DIR/images_test_rev1/`` joins them. Galaxies whose image is missing are an error
    that lists them: codes are never silently dropped.
    """
    from helpers.run import Run

    data_dir = Path(data_dir)
    if n_galaxies is not None and (not isinstance(n_galaxies, int) or n_galaxies < 1):
        raise ParameterError(f"n_galaxies={n_galaxies!r}: use a positive integer, or None for all")
    table = Run(run_dir).labels(["label"])
    if n_galaxies is not None and n_galaxies < len(table):
        table = table.sample(n=n_galaxies, random_state=seed).sort_values(ID_COLUMN)
    table = table.assign(image_path=[str(data_dir / TRAIN_IMAGES / f"{i}.jpg") for i in table[ID_COLUMN]],
                         set="labelled")
    frames = [table]
    if include_unlabelled:
        folder = data_dir / TEST_IMAGES
        if not folder.is_dir():
            raise ParameterError(f"include_unlabelled=True but {folder} does not exist: unzip the Kaggle "
                                 "images_test_rev1.zip there, or set include_unlabelled=False")
        files = sorted(folder.glob("*.jpg"))
        bad = [f.name for f in files if not f.stem.isdigit()]
        if bad:
            raise DataError(f"{folder}: file names must be <GalaxyID>.jpg; not so: {bad[:5]}")
        known = set(table[ID_COLUMN])
        extra = [f for f in files if int(f.stem) not in known]
        frames.append(pd.DataFrame({ID_COLUMN: [int(f.stem) for f in extra], "label": None,
                                    "image_path": [str(f) for f in extra], "set": "unlabelled"}))
    galaxies = pd.concat(frames, ignore_index=True)
    missing = [p for p in galaxies["image_path"] if not Path(p).exists()]
    if missing:
        raise DataError(f"{len(missing)} galaxies to featurize have no image, e.g. {missing[:3]}; "
                        "rerun chapter 1 on this data folder or point data_dir at the images")
    return galaxies


def pca_2d(codes: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal components of the codes and their explained-variance ratios.

    >>> xy, ratio = pca_2d(np.random.default_rng(0).normal(size=(50, 8)))
    >>> xy.shape, bool(ratio[0] >= ratio[1])
    ((50, 2), True)
    """
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed)
    return pca.fit_transform(codes), pca.explained_variance_ratio_


def nearest_neighbours(codes: np.ndarray, k: int = 5) -> np.ndarray:
    """Indices of each row's ``k`` nearest other rows by cosine similarity, closest first.

    The search is :class:`helpers.codes.neighbours.Index` with each row left out of its own answer
    (an exact duplicate of a row is still its neighbour); equal similarities go by row.

    >>> nearest_neighbours(np.array([[1.0, 0], [0.9, 0.1], [0, 1.0]]), k=1).ravel().tolist()
    [1, 0, 1]
    """
    from helpers.codes.neighbours import Index

    if not 1 <= k < len(codes):
        raise ParameterError(f"k={k}: needs 1 <= k < number of galaxies ({len(codes)})")
    rows, _ = Index(codes).query(codes, k, exclude=np.arange(len(codes)))
    return rows


def neighbour_label_agreement(neighbours: np.ndarray, labels: pd.Series) -> dict:
    """Mean share of a labelled galaxy's neighbours that carry its label, and the chance level.

    Chance is the probability that two galaxies drawn at random share a label (sum of squared
    label shares). Unlabelled galaxies (NaN) are left out on both sides.

    >>> neighbour_label_agreement(np.array([[1], [0], [3], [2]]), pd.Series(["a", "a", "b", "b"]))
    {'agreement': 1.0, 'chance': 0.5}
    """
    lab = labels.to_numpy(dtype=object)
    known = pd.notna(lab)
    if not known.any():
        return {"agreement": float("nan"), "chance": float("nan")}
    neigh = lab[neighbours]
    same = (neigh == lab[:, None]) & pd.notna(neigh)
    counted = pd.notna(neigh).sum(axis=1)
    rows = known & (counted > 0)
    agreement = float((same[rows].sum(axis=1) / counted[rows]).mean())
    shares = pd.Series(lab[known]).value_counts(normalize=True)
    return {"agreement": agreement, "chance": float((shares**2).sum())}


def agreement_per_galaxy(codes: np.ndarray, labels: pd.Series, query: np.ndarray,
                         reference: np.ndarray, k: int = 5) -> np.ndarray:
    """For each labelled galaxy of ``query`` (a boolean mask), the share of its ``k`` nearest
    labelled galaxies of ``reference`` (cosine similarity, :class:`helpers.codes.neighbours.Index`;
    itself excluded) that carry its label.

    Scoring galaxies the network never trained on against neighbours among the ones it did
    (``query=unseen, reference=train``) is the out-of-sample form of chapter 3's agreement.
    Returns one share per labelled query galaxy, in row order.

    >>> codes = np.array([[1.0, 0], [0.9, 0.1], [0, 1.0], [0.1, 0.9]])
    >>> labels = pd.Series(["a", "a", "b", "b"])
    >>> agreement_per_galaxy(codes, labels, np.array([1, 0, 1, 0], bool), np.array([0, 1, 0, 1], bool), k=1)
    array([1., 1.])
    """
    from helpers.codes.neighbours import Index

    lab = labels.to_numpy(dtype=object)
    query = np.flatnonzero(np.asarray(query) & pd.notna(lab))
    ref = np.flatnonzero(np.asarray(reference) & pd.notna(lab))
    if not 1 <= k < len(ref):
        raise ParameterError(f"k={k}: needs 1 <= k < number of reference galaxies ({len(ref)})")
    position = np.full(len(lab), -1)
    position[ref] = np.arange(len(ref))  # a query galaxy that is also a reference one: left out
    rows, _ = Index(codes[ref]).query(codes[query], k, exclude=position[query])
    return (lab[ref[rows]] == lab[query][:, None]).mean(axis=1)


def label_chance(labels: pd.Series) -> float:
    """Probability that two labelled galaxies drawn at random share a label.

    >>> label_chance(pd.Series(["a", "a", "b", None]))
    0.5555555555555556
    """
    shares = labels.dropna().value_counts(normalize=True)
    return float((shares**2).sum())


def pick_queries(galaxies: pd.DataFrame, per_label: int = 1, seed: int = 0) -> list[int]:
    """Row positions of ``per_label`` random galaxies of each label, in the study's label order."""
    rng = np.random.default_rng(seed)
    picks: list[int] = []
    for lab in LABELS:
        rows = np.flatnonzero((galaxies["label"] == lab).to_numpy())
        if len(rows):
            picks.extend(rng.choice(rows, size=min(per_label, len(rows)), replace=False).tolist())
    return picks


class Agreement(NamedTuple):
    """How often the nearest training galaxies share a galaxy's label (chapter 3)."""

    estimates: dict  # who -> Estimate of the share (95% interval over galaxies)
    chance: float  # that two galaxies drawn at random share a label
    gain: object  # Estimate: trained minus untrained on the unseen galaxies (paired)
    unseen: int  # galaxies the network never trained on

    OUT, IN, FLOOR = ("unseen galaxies (out of sample)", "training galaxies (in sample)",
                      "unseen, untrained network")

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"galaxies": [e.n for e in self.estimates.values()],
                             "share of 5 neighbours with the same label":
                                 [e.format(".1%") for e in self.estimates.values()]},
                            index=list(self.estimates)).assign(chance=f"{self.chance:.1%}")


def agreement(codes: np.ndarray, untrained: np.ndarray, labels: pd.Series, unseen: np.ndarray, *,
              k: int = 5, seed: int = 0) -> Agreement:
    """Neighbour agreement of the codes on the unseen galaxies (looked up among the training
    ones), in sample (training galaxies among each other), and of the untrained network's codes,
    with 95% intervals, chance, and the paired gain of training on the unseen galaxies."""
    from helpers import scores

    seen = ~np.asarray(unseen)
    shares = {Agreement.OUT: agreement_per_galaxy(codes, labels, unseen, seen, k=k),
              Agreement.IN: agreement_per_galaxy(codes, labels, seen, seen, k=k),
              Agreement.FLOOR: agreement_per_galaxy(untrained, labels, unseen, seen, k=k)}
    estimates = {name: scores.bootstrap(np.mean, share, seed=seed) for name, share in shares.items()}
    gain = scores.difference(lambda a, b: float(np.mean(a)), lambda a, b: float(np.mean(b)),
                             shares[Agreement.OUT], shares[Agreement.FLOOR], seed=seed)
    return Agreement(estimates, label_chance(pd.Series(labels)[np.asarray(unseen)]), gain,
                     int(np.sum(unseen)))
