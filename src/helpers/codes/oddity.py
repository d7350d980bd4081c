"""Chapter 9: how well the novelty score and "more like these" find what the mock knows is odd.

The mock Galaxy Zoo knows, for every galaxy, what it drew (``ground_truth.csv``): the odd
features (:data:`ODD_FEATURES`: mergers, rings, lenses or arcs, disturbed, irregular), the
objects that are no galaxy at all (stars, bleeds, ghosts: ``kind``) and the satellite trails
crossing a frame. That truth says which galaxies a search for the unusual *should* find:

- :func:`kinds`: each galaxy's kind of oddity (or ``"none"``), and :func:`is_odd`;
- :func:`novelty_auc`: the area under the ROC curve of a novelty score for odd against the rest,
  on the galaxies the network never trained on, with its 95% interval, and the paired
  difference between two representations (:class:`Found`);
- :func:`by_kind`: the same AUC for each kind of oddity against the ordinary galaxies;
- :func:`search`: precision among the top ``top`` when ``n`` examples of one feature are given,
  over repeated random draws of the examples, for each representation, beside chance.

:func:`representations` gives the three tables every score is computed on (the codes, raw
pixels, the untrained network's codes) and :func:`searched` the features "more like these"
looks for.

"Other" odd features are drawn by the mock as nothing at all (only its simulated volunteers
answer them) and dust lanes are an ordinary structure of edge-on disks: neither counts as odd.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from helpers import scores
from helpers.scores import Estimate

ODD_FEATURES = ("merger", "ring", "lens or arc", "disturbed", "irregular")
NOT_GALAXIES = "star or artefact"
TRAIL = "trail"
KINDS = (*ODD_FEATURES, NOT_GALAXIES, TRAIL)
ORDINARY = "none"
#: The tables each score is computed on: the study's codes and its two baselines (chapter 6's).
REPRESENTATIONS = ("codes", "raw pixels", "untrained network")
#: What "more like these" looks for: features with enough training galaxies to draw examples
#: from (rings are drawn on their own and also beside another odd feature).
SEARCHED = ("ring", "merger", "lens or arc", NOT_GALAXIES)


def representations(run, galaxies: pd.DataFrame, codes: np.ndarray, *, seed: int = 42
                    ) -> dict[str, np.ndarray]:
    """The three tables of :data:`REPRESENTATIONS`, row-aligned with ``galaxies``: the codes,
    the images cut and sized as the network saw them and PCA-reduced with a PCA fitted on the
    training galaxies (:func:`helpers.codes.compare.raw_pixels`), and the codes of the same
    network with random weights (chapter 3's ``features_untrained.parquet``)."""
    from helpers.codes.compare import raw_pixels
    from helpers.run import TRAIN

    config = run.config()
    fit = run.split(galaxies) == TRAIN
    pixels = raw_pixels(galaxies, np.arange(len(galaxies)), fit, size=int(config["image_size"]),
                        crop=int(config["crop"]), seed=seed)
    return dict(zip(REPRESENTATIONS, (codes, pixels, run.codes("features_untrained.parquet", galaxies)),
                    strict=True))


def aligned(truth: pd.DataFrame | None, galaxies: pd.DataFrame) -> pd.DataFrame | None:
    """The mock's truth in the order of ``galaxies`` (``None`` on real data: nothing to score)."""
    from helpers.data.schema import ID_COLUMN

    if truth is None:
        return None
    return truth.set_index(ID_COLUMN).loc[galaxies[ID_COLUMN]].reset_index()


def searched(truth: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """For each feature of :data:`SEARCHED`, which galaxies have it (masks in table order; none
    without the mock's truth).

    >>> t = pd.DataFrame({"kind": ["galaxy", "star"], "ring": [True, False],
    ...                   "odd_feature": ["ring", None]})
    >>> {k: v.tolist() for k, v in searched(t).items()}["ring"]
    [True, False]
    """
    if truth is None:
        return {}
    feature = truth["odd_feature"].to_numpy(dtype=object)
    return {"ring": truth["ring"].to_numpy(bool), "merger": feature == "merger",
            "lens or arc": feature == "lens or arc",
            NOT_GALAXIES: truth["kind"].to_numpy() != "galaxy"}


def kinds(truth: pd.DataFrame | None, n: int | None = None) -> np.ndarray:
    """Each galaxy's kind of oddity from the mock's truth: a star or artefact, a satellite
    trail, one of :data:`ODD_FEATURES`, or ``"none"`` (``"other"`` and ``"dust lane"`` included);
    without truth (real data), ``n`` empty strings.

    >>> t = pd.DataFrame({"kind": ["galaxy", "star", "galaxy", "galaxy"], "trail": [False, False, True, False],
    ...                   "odd_feature": ["ring", None, None, "dust lane"]})
    >>> kinds(t).tolist()
    ['ring', 'star or artefact', 'trail', 'none']
    >>> kinds(None, 2).tolist()
    ['', '']
    """
    if truth is None:
        return np.full(n or 0, "", dtype=object)
    feature = truth["odd_feature"].fillna("none").to_numpy(dtype=object)
    feature = np.where(np.isin(feature, ODD_FEATURES), feature, ORDINARY)
    return np.where(truth["kind"].to_numpy() != "galaxy", NOT_GALAXIES,
                    np.where(truth["trail"].to_numpy(bool), TRAIL, feature)).astype(object)


def is_odd(kind: np.ndarray) -> np.ndarray:
    """True for the galaxies a search for the unusual should find (:data:`KINDS`)."""
    return np.isin(np.asarray(kind), KINDS)


def auc(score, truth) -> float:
    """The area under the ROC curve: the chance that an odd galaxy scores above an ordinary one."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(truth, bool), np.asarray(score, float)))


class Found(NamedTuple):
    """How well each representation's novelty score finds the odd galaxies (unseen ones)."""

    auc: dict[str, Estimate]  # representation -> AUC with its 95% interval
    differences: dict[str, Estimate]  # "codes minus <representation>" -> paired AUC difference
    odd: int  # odd galaxies among those scored
    scored: int

    def table(self) -> pd.DataFrame:
        """Each representation's AUC, and the codes' paired difference from it."""
        if not self.auc:
            return pd.DataFrame({"AUC": ["no truth to score against (real data)"]})
        diffs = {k: self.differences[k].format(".3f") if k in self.differences else "" for k in self.auc}
        return pd.DataFrame({"AUC (95% interval)": {k: e.format(".3f") for k, e in self.auc.items()},
                             "codes minus it": diffs})


def novelty_auc(novelty: dict[str, np.ndarray], odd: np.ndarray, rows: np.ndarray, *,
                base: str = "codes", seed: int = 42) -> Found:
    """AUC of each representation's novelty score (``novelty``: name -> a score per galaxy) for
    odd against the rest on ``rows`` (the unseen galaxies), and the paired difference between
    ``base`` and each other one (the same resampled galaxies for both)."""
    y = np.asarray(odd, bool)[rows]
    if y.all() or not y.any():  # no truth (real data), or nothing to tell apart
        return Found({}, {}, int(y.sum()), int(len(y)))
    found = {name: scores.bootstrap(auc, s[rows], y, seed=seed) for name, s in novelty.items()}
    ref = novelty[base][rows]
    diffs = {name: scores.bootstrap(lambda a, b, t: auc(a, t) - auc(b, t), ref, s[rows], y, seed=seed)
             for name, s in novelty.items() if name != base}
    return Found(found, diffs, int(y.sum()), int(len(y)))


def by_kind(novelty: np.ndarray, kind: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """For each kind of oddity: how many are among ``rows`` and the AUC of the score for that
    kind against the ordinary galaxies (kinds with fewer than 3 galaxies left out)."""
    kind = np.asarray(kind)[rows]
    score = np.asarray(novelty)[rows]
    ordinary = kind == ORDINARY
    out = {}
    if not ordinary.any():
        return pd.DataFrame({"galaxies": [], "AUC against the ordinary": []})
    for k in KINDS:
        these = kind == k
        if these.sum() >= 3:
            out[k] = {"galaxies": int(these.sum()),
                      "AUC against the ordinary": round(auc(score[these | ordinary], these[these | ordinary]), 3)}
    return pd.DataFrame(out).T


def novelty_table(ids, novelty: np.ndarray, trained: np.ndarray) -> pd.DataFrame:
    """``novelty.parquet``: GalaxyID, novelty (highest first) and whether the network trained on
    the galaxy.

    >>> novelty_table(np.array([7, 8]), np.array([0.4, 0.6]), np.array([True, False]))
       GalaxyID  novelty  trained
    0         8      0.6    False
    1         7      0.4     True
    """
    from helpers.codes.novelty import ranked
    from helpers.data.schema import ID_COLUMN

    table = ranked(np.asarray(ids), novelty, "novelty")
    seen = pd.Series(np.asarray(trained, bool), index=np.asarray(ids))
    return table.assign(trained=seen.loc[table[ID_COLUMN]].to_numpy())


def precision_at(score: np.ndarray, truth: np.ndarray, top: int = 100) -> float:
    """The share of galaxies with the feature among the ``top`` best scored (ties in table order).

    >>> precision_at(np.array([0.9, 0.8, 0.1, 0.7]), np.array([1, 0, 1, 1]), top=2)
    0.5
    """
    order = np.lexsort((np.arange(len(score)), -np.asarray(score)))[:top]
    return float(np.asarray(truth, float)[order].mean())


class Search(NamedTuple):
    """Precision among the top of "more like these", for each feature, number of examples and
    representation, over repeated draws of the examples."""

    table: pd.DataFrame  # feature, examples, representation, precision (mean [interval]), chance, ceiling
    precision: dict  # (feature, n, representation) -> Estimate of the mean precision over the draws
    differences: dict  # (feature, n, representation) -> codes minus it, paired over the same draws
    draws: dict  # (feature, n) -> the example rows of each draw (for the galleries)
    top: dict  # (feature, n) -> the rows the codes rank first in the first draw, best first
    counted: int  # precision is the share of the feature among this many best ranked

    def wide(self, n: int | list[int]) -> pd.DataFrame:
        """Precision among the top with ``n`` examples: one row per feature, one column per
        representation, then chance and the ceiling; for a list of numbers, one block each."""
        if self.table.empty:
            return pd.DataFrame({"precision": ["no truth to score against (real data)"]})
        if isinstance(n, list):
            return pd.concat({f"{m} examples": self.wide(m) for m in n}, names=["", "feature"])
        rows = self.table[self.table["examples"] == n]
        wide = rows.pivot(index="feature", columns="representation", values=rows.columns[3])
        extra = rows.groupby("feature")[["chance", "ceiling"]].first()
        order = [f for f in dict.fromkeys(rows["feature"])]
        return wide.join(extra).loc[order, [*[r for r in REPRESENTATIONS if r in wide], "chance", "ceiling"]]


def search(representations: dict[str, np.ndarray], has: dict[str, np.ndarray], pool: np.ndarray,
           rows: np.ndarray, *, examples: tuple[int, ...] = (10, 25, 50), draws: int = 10,
           top: int = 100, method: str = "logistic", seed: int = 42) -> Search:
    """For each feature of ``has`` (name -> a mask over all galaxies) and each number of
    ``examples``: draw the examples at random from the galaxies of ``pool`` with the feature
    (galaxies the network trained on), rank the galaxies of ``rows`` (those it never saw) by
    resemblance to them as a group (:func:`helpers.codes.novelty.resemblance`) on each
    representation, and take the precision among the ``top``; ``draws`` draws, each
    representation on the same ones. Chance is the feature's share among ``rows``; the ceiling is
    the best precision possible (all of them ranked first). The intervals are over the draws of
    examples (the same unseen galaxies in every draw); the first representation is the base
    of the paired differences, and the first draw's ranking by it is kept for the galleries."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # hundreds of small fits: BLAS threads cost more than they save
        return _search(representations, has, pool, rows, examples, draws, top, method, seed)


def _search(representations, has, pool, rows, examples, draws, top, method, seed) -> Search:
    from helpers.codes import novelty

    rng = np.random.default_rng(seed)
    records, precision, differences, drawn, best = [], {}, {}, {}, {}
    for feature, mask in has.items():
        candidates = np.flatnonzero(mask & pool)
        target = mask[rows]
        chance, ceiling = float(target.mean()), min(1.0, float(target.sum()) / top)
        for n in examples:
            if n > len(candidates):
                continue
            drawn[(feature, n)] = [rng.choice(candidates, n, replace=False) for _ in range(draws)]
            found = {}
            for name, x in representations.items():
                ranks = [novelty.resemblance(x[np.r_[ex, rows]], np.arange(n), method, seed=seed)[n:]
                         for ex in drawn[(feature, n)]]
                found[name] = np.array([precision_at(r, target, top) for r in ranks])
                if (feature, n) not in best:
                    best[(feature, n)] = rows[np.lexsort((np.arange(len(rows)), -ranks[0]))[:top]]
                est = scores.bootstrap(np.mean, found[name], seed=seed)
                precision[(feature, n, name)] = est
                records.append({"feature": feature, "examples": n, "representation": name,
                                f"precision among the top {top}": est.format(".3f"),
                                "chance": round(chance, 3), "ceiling": round(ceiling, 3)})
            base = next(iter(representations))
            for name in list(representations)[1:]:
                differences[(feature, n, name)] = scores.bootstrap(
                    lambda a, b: float(np.mean(a - b)), found[base], found[name], seed=seed)
    return Search(pd.DataFrame(records), precision, differences, drawn, best, top)


__all__ = ["ODD_FEATURES", "KINDS", "ORDINARY", "REPRESENTATIONS", "SEARCHED", "representations",
           "aligned", "searched", "novelty_table", "kinds", "is_odd", "auc", "Found", "novelty_auc", "by_kind",
           "precision_at", "Search", "search"]
