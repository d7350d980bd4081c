"""Chapter 5's helpers: k-means with its elbow, DBSCAN with eps from the k-distance curve, HDBSCAN.

Clusterings are integer arrays (``-1`` = noise for the density methods); :func:`clusters_frame`
gathers them into the run's ``clusters.parquet``, one column per clustering, named
``<method>_<space>`` (e.g. ``kmeans8_pca7``, ``dbscan_tsne2``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd

from helpers.data.schema import ID_COLUMN
from helpers.errors import DataError, ParameterError
from helpers.progress import step

NOISE = -1


def resolve_clustering(name: str, spaces: dict[str, str]) -> str:
    """A clustering named with a space as the profile gave it, renamed to the map chapter 4 wrote.

    >>> resolve_clustering("kmeans8_umap", {"umap": "umap7", "lda": "lda4"})
    'kmeans8_umap7'
    >>> resolve_clustering("dbscan_tsne2", {"tsne": "tsne2"})
    'dbscan_tsne2'
    """
    method, _, space = name.partition("_")
    return f"{method}_{spaces.get(space, space)}"


def elbow(x: np.ndarray, ks: Iterable[int] = range(1, 11), seed: int = 42) -> pd.Series:
    """k-means inertia (within-cluster sum of squares) for each k, scaled so that k=1 is 1.

    Scaling makes curves of spaces with different units comparable on one plot.

    >>> x = np.random.default_rng(0).normal(size=(40, 2)) + np.repeat([[0, 0], [30, 0]], 20, axis=0)
    >>> curve = elbow(x, ks=[1, 2, 3])
    >>> bool(curve[2] < 0.01)
    True
    """
    ks = list(ks)
    with step(f"k-means elbow, k = {ks[0]}..{ks[-1]}, on {len(x):,} galaxies x {x.shape[1]} dimensions"):
        inertia = [kmeans(x, k, seed=seed, return_inertia=True)[1] for k in ks]
    total = float(((x - x.mean(axis=0)) ** 2).sum()) or 1.0
    return pd.Series(np.asarray(inertia) / total, index=pd.Index(ks, name="k"), name="inertia")


def kmeans(x: np.ndarray, k: int, *, seed: int = 42, n_init: int = 10, return_inertia: bool = False):
    """k-means cluster of every galaxy (0..k-1, numbered by decreasing size, so the order is stable)."""
    from sklearn.cluster import KMeans

    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ParameterError(f"k={k!r}: use a positive integer")
    if k > len(x):
        raise DataError(f"k-means with k={k} needs at least {k} galaxies, got {len(x)}")
    model = KMeans(n_clusters=int(k), n_init=n_init, random_state=seed).fit(x)
    labels = _by_size(model.labels_)
    return (labels, float(model.inertia_)) if return_inertia else labels


def k_distance(x: np.ndarray, k: int) -> np.ndarray:
    """Each galaxy's distance to its k-th nearest neighbour, sorted ascending (the DBSCAN k-distance plot)."""
    from sklearn.neighbors import NearestNeighbors

    if k < 1 or k >= len(x):
        raise ParameterError(f"dbscan_min_samples={k}: use 1 <= min_samples < {len(x)} (galaxies)")
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return np.sort(dist[:, k])


def knee(curve: np.ndarray) -> int:
    """Index of the knee of an increasing curve: the point farthest below the chord from end to end.

    This is the "kneedle" rule (Satopaa et al. 2011) on the normalised curve.

    >>> knee(np.r_[np.linspace(0, 1, 90), np.linspace(1.5, 20, 10)])
    89
    """
    y = np.asarray(curve, dtype=float)
    if len(y) < 3:
        raise DataError(f"a k-distance curve of {len(y)} points has no knee")
    xs = np.linspace(0.0, 1.0, len(y))
    span = y[-1] - y[0]
    ys = (y - y[0]) / span if span > 0 else np.zeros_like(y)
    return int(np.argmax(xs - ys))


def choose_eps(x: np.ndarray, min_samples: int) -> tuple[float, np.ndarray, int]:
    """DBSCAN's eps read off the k-distance curve at its knee: ``(eps, curve, knee_index)``."""
    curve = k_distance(x, min_samples)
    i = knee(curve)
    return float(curve[i]), curve, i


def dbscan(x: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN clusters (numbered by decreasing size; ``-1`` marks noise)."""
    from sklearn.cluster import DBSCAN

    if not eps or eps <= 0:
        raise ParameterError(f"dbscan eps={eps!r}: must be positive")
    return _by_size(DBSCAN(eps=eps, min_samples=min_samples).fit_predict(x))


def hdbscan(x: np.ndarray, min_cluster_size: int, min_samples: int | None = None) -> np.ndarray:
    """HDBSCAN clusters (scikit-learn's; numbered by decreasing size; ``-1`` marks noise)."""
    from sklearn.cluster import HDBSCAN

    if not isinstance(min_cluster_size, (int, np.integer)) or min_cluster_size < 2:
        raise ParameterError(f"hdbscan_min_cluster_size={min_cluster_size!r}: use an integer >= 2")
    size = min(int(min_cluster_size), len(x))
    with step(f"HDBSCAN on {len(x):,} galaxies x {x.shape[1]} dimensions"):
        return _by_size(HDBSCAN(min_cluster_size=size, min_samples=min_samples, copy=True).fit_predict(x))


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0, 1, ... by decreasing size (ties by first member); noise stays -1."""
    labels = np.asarray(labels)
    out = np.full(len(labels), NOISE, dtype=np.int32)
    ids = [c for c in pd.unique(labels) if c != NOISE]
    sizes = {c: int((labels == c).sum()) for c in ids}
    for new, old in enumerate(sorted(ids, key=lambda c: -sizes[c])):
        out[labels == old] = new
    return out


def seed_stability(assignments: dict[int, np.ndarray]) -> dict:
    """Agreement (ARI) between the clusterings one method gave with different seeds.

    Returns the mean, lowest and highest ARI over every pair of seeds: 1 means the seed does not
    matter; well below 1 means the clusters are an accident of the seed.

    >>> stable = {s: np.array([0, 0, 1, 1]) for s in (1, 2, 3)}
    >>> seed_stability(stable)
    {'seeds': 3, 'mean_ari': 1.0, 'min_ari': 1.0, 'max_ari': 1.0}
    """
    from itertools import combinations

    from helpers.scores import partition_score as score

    values = [score(assignments[a], assignments[b], "ARI") for a, b in combinations(sorted(assignments), 2)]
    if not values:
        raise ParameterError("seed stability needs at least two seeds")
    return {"seeds": len(assignments), "mean_ari": round(float(np.mean(values)), 6),
            "min_ari": round(float(np.min(values)), 6), "max_ari": round(float(np.max(values)), 6)}


def summary(assign: np.ndarray) -> dict:
    """Number of clusters, noise share and the largest cluster's share of the galaxies."""
    assign = np.asarray(assign)
    members = assign[assign != NOISE]
    sizes = np.bincount(members) if len(members) else np.zeros(0, dtype=int)
    return {"clusters": int((sizes > 0).sum()), "noise": float((assign == NOISE).mean()),
            "largest": float(sizes.max() / len(assign)) if len(sizes) else 0.0}


def label_mix(assign: np.ndarray, labels: pd.Series) -> pd.DataFrame:
    """Share of each label within each cluster (rows: clusters, with their size; columns: labels)."""
    table = pd.crosstab(pd.Series(assign, name="cluster"), labels.fillna("no votes").rename("label"),
                        normalize="index")
    table.insert(0, "galaxies", pd.Series(assign).value_counts().reindex(table.index).to_numpy())
    return table


def gallery_members(x: np.ndarray, assign: np.ndarray, *, n_central: int = 5, n_random: int = 3,
                    seed: int = 42) -> dict[int, tuple[list[int], list[int]]]:
    """For every cluster, the row indices of its galaxies nearest its centre and of a few random others.

    The centre is the members' mean in ``x`` (the space the clustering used). Noise has no centre and
    is left out.
    """
    rng = np.random.default_rng(seed)
    out: dict[int, tuple[list[int], list[int]]] = {}
    for c in sorted(set(np.asarray(assign).tolist()) - {NOISE}):
        rows = np.flatnonzero(assign == c)
        dist = np.linalg.norm(x[rows] - x[rows].mean(axis=0), axis=1)
        central = rows[np.argsort(dist, kind="stable")[:n_central]]
        rest = np.setdiff1d(rows, central)
        random = rng.choice(rest, min(n_random, len(rest)), replace=False) if len(rest) else rest
        out[int(c)] = (central.tolist(), sorted(random.tolist()))
    return out


def clusters_frame(ids: np.ndarray, clusterings: dict[str, np.ndarray]) -> pd.DataFrame:
    """``GalaxyID`` plus one int32 column per clustering."""
    frame = pd.DataFrame({ID_COLUMN: np.asarray(ids)})
    for name, assign in clusterings.items():
        if len(assign) != len(frame):
            raise ValueError(f"clustering {name!r} has {len(assign)} rows for {len(frame)} galaxies")
        frame[name] = np.asarray(assign, dtype=np.int32)
    return frame


class ClusteringName(NamedTuple):
    """A clustering's name read back: ``kmeans8_umap7`` is k-means, k=8, on the ``umap7`` map."""

    method: str  # kmeans, dbscan, hdbscan
    k: int | None  # k-means' k (None for the density methods)
    space: str  # the map it was computed on (a column prefix of embeddings.parquet)


def parse_name(name: str) -> ClusteringName:
    """The parts of a clustering's name (the columns of ``clusters.parquet``).

    >>> parse_name("kmeans8_umap7"), parse_name("hdbscan_tsne2")
    (ClusteringName(method='kmeans', k=8, space='umap7'), ClusteringName(method='hdbscan', k=None, space='tsne2'))
    """
    import re

    match = re.fullmatch(r"([a-z]+?)(\d*)_(\w+)", name)
    if not match:
        raise ValueError(f"{name!r} is not a clustering name such as kmeans8_umap7 or hdbscan_tsne2")
    method, k, space = match.groups()
    return ClusteringName(method, int(k) if k else None, space)


class Names(NamedTuple):
    """The clusterings of a run, sorted by kind: every name, the k-means ones, the density ones,
    the spaces k-means ran on, and its values of k."""

    all: list[str]
    kmeans: list[str]
    density: list[str]
    spaces: list[str]
    ks: list[int]

    def kmeans_by_space(self) -> dict[str, list[str]]:
        """The k-means clusterings of each space, by k: ``{space: [kmeans3_space, ...]}``."""
        return {space: [f"kmeans{k}_{space}" for k in self.ks] for space in self.spaces}

    def label_blind_spaces(self) -> list[str]:
        """The spaces that never saw the labels (all but LDA's)."""
        return [space for space in self.spaces if not space.startswith("lda")]

    def kmeans_at(self, k: int, spaces: list[str] | None = None) -> list[str]:
        """The k-means clusterings with this k (on ``spaces``, default all), in space order."""
        return [f"kmeans{k}_{space}" for space in (spaces or self.spaces) if f"kmeans{k}_{space}" in self.all]


def names_of(columns) -> Names:
    """Sort the clusterings of ``clusters.parquet`` (its columns but ``GalaxyID``).

    >>> n = names_of(["GalaxyID", "kmeans3_pca7", "kmeans8_pca7", "kmeans3_umap7", "hdbscan_tsne2"])
    >>> n.spaces, n.ks, n.density
    (['pca7', 'umap7'], [3, 8], ['hdbscan_tsne2'])
    """
    names = [c for c in columns if c != "GalaxyID"]
    parsed = {n: parse_name(n) for n in names}
    kmeans_names = [n for n in names if parsed[n].method == "kmeans"]
    return Names(names, kmeans_names, [n for n in names if parsed[n].method != "kmeans"],
                 list(dict.fromkeys(parsed[n].space for n in kmeans_names)),
                 sorted({parsed[n].k for n in kmeans_names}))


def all_kmeans(spaces: dict[str, np.ndarray], k_values: Iterable[int], *, seed: int = 42) -> dict[str, np.ndarray]:
    """k-means for every k of ``k_values`` on every space: ``kmeans<k>_<space>`` -> assignment."""
    return {f"kmeans{k}_{name}": kmeans(x, k, seed=seed) for name, x in spaces.items() for k in k_values}


def density_clusterings(tsne2: np.ndarray, spaces: dict[str, np.ndarray], *, min_samples: int,
                        min_cluster_size: int) -> tuple[dict[str, np.ndarray], dict]:
    """DBSCAN on the t-SNE map (eps read off the k-distance curve's knee) and HDBSCAN on it and
    on the UMAP space: the clusterings, and the DBSCAN curve (eps, curve, knee)."""
    eps, kdist, knee_at = choose_eps(tsne2, min_samples)
    found = {"dbscan_tsne2": dbscan(tsne2, eps, min_samples),
             "hdbscan_tsne2": hdbscan(tsne2, min_cluster_size)}
    umap_space = next((n for n in spaces if n.startswith("umap")), None)
    if umap_space:
        found[f"hdbscan_{umap_space}"] = hdbscan(spaces[umap_space], min_cluster_size)
    return found, {"eps": eps, "curve": kdist, "knee": knee_at}


def stability(codes: np.ndarray, settings: dict, umap_space: np.ndarray | None, pca_space: tuple | None,
              *, n_seeds: int, k: int, min_cluster_size: int) -> pd.DataFrame:
    """How much the clusterings change with the seed: chapter 4's UMAP space rebuilt from the
    codes with ``n_seeds`` seeds (the first is chapter 4's own: ``umap_space``), k-means and
    HDBSCAN on each, and k-means with ``n_seeds`` starting seeds on the PCA space
    (``(name, coordinates)``); the mean ARI between every pair of seeds, per clustering."""
    from helpers.codes import reduce

    x_in, _ = reduce.pca(codes, settings["pca_input"], seed=settings["seed"])
    seeds = [settings["seed"] + i for i in range(n_seeds)]
    dims = settings["umap_components"]
    umaps = {s: umap_space if s == seeds[0] and umap_space is not None else
             reduce.umap_embed(x_in, dims, n_neighbors=settings["umap_neighbors"],
                               min_dist=settings["umap_min_dist"], seed=s) for s in seeds}
    runs = {f"kmeans{k} on UMAP-{dims} (map and k-means seed)": {s: kmeans(u, k, seed=s) for s, u in umaps.items()},
            f"HDBSCAN on UMAP-{dims} (map seed)": {s: hdbscan(u, min_cluster_size) for s, u in umaps.items()}}
    if pca_space is not None:
        name, x = pca_space
        runs[f"kmeans{k} on {name} (k-means seed)"] = {s: kmeans(x, k, seed=s) for s in seeds}
    return pd.DataFrame({name: seed_stability(a) for name, a in runs.items()}).T


def elbows(spaces: dict[str, np.ndarray], ks: Iterable[int], *, seed: int = 42) -> pd.DataFrame:
    """:func:`elbow` of every space: one column per space, one row per k."""
    return pd.DataFrame({name: elbow(x, ks, seed=seed) for name, x in spaces.items()})


def summaries(clusterings: dict[str, np.ndarray]) -> pd.DataFrame:
    """:func:`summary` of every clustering: clusters, noise share, largest cluster's share."""
    return pd.DataFrame({name: summary(a) for name, a in clusterings.items()}).T


def mix_percent(mix: pd.DataFrame) -> pd.DataFrame:
    """:func:`label_mix` in whole per cent, one column per cluster, with its size."""
    shares = (mix.drop(columns="galaxies") * 100).round(0).astype(int)
    return shares.assign(galaxies=mix["galaxies"]).T


def only(clusterings: dict[str, np.ndarray], method: str) -> dict[str, np.ndarray]:
    """The clusterings of one ``method`` (``"hdbscan"``, ``"kmeans"`` ...).

    >>> list(only({"hdbscan_tsne2": 1, "dbscan_tsne2": 2, "hdbscan_umap7": 3}, "hdbscan"))
    ['hdbscan_tsne2', 'hdbscan_umap7']
    """
    return {name: a for name, a in clusterings.items() if parse_name(name).method == method}
