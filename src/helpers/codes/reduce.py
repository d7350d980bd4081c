"""Chapter 4's helpers: the CNN codes seen through PCA, LDA, t-SNE and UMAP.

Every method returns plain arrays; :func:`embeddings_frame` gathers them into the run's
``embeddings.parquet`` (one column per coordinate, named ``<method><dims>_<axis>``, e.g.
``tsne2_1``), which chapters 5 and 6 read back with :func:`coordinates`.
"""

from __future__ import annotations

import os
import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd

from helpers.data.schema import ID_COLUMN, UNCERTAIN_LABEL
from helpers.errors import DataError, ParameterError
from helpers.progress import step


def labelled_rows(labels: pd.Series) -> np.ndarray:
    """Boolean mask of galaxies with a usable label (not missing, not ``uncertain``)."""
    return (labels.notna() & (labels != UNCERTAIN_LABEL)).to_numpy()


def pca(codes: np.ndarray, n_components: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PCA coordinates and each component's share of the variance.

    >>> xy, share = pca(np.random.default_rng(0).normal(size=(50, 8)), 2)
    >>> xy.shape, bool(share[0] >= share[1])
    ((50, 2), True)
    """
    model = pca_model(codes, n_components, seed)
    return model.transform(codes).astype(np.float32), model.explained_variance_ratio_


def pca_model(codes: np.ndarray, n_components: int, seed: int = 0):
    """The fitted scikit-learn PCA behind :func:`pca` (to project new galaxies the same way)."""
    from sklearn.decomposition import PCA

    n_components = _check_components("pca_components", n_components, np.inf)
    if n_components > min(codes.shape):
        warnings.warn(f"PCA: {len(codes)} galaxies x {codes.shape[1]} dimensions allow at most "
                      f"{min(codes.shape)} components, not {n_components}", stacklevel=2)
        n_components = min(codes.shape)
    return PCA(n_components=n_components, random_state=seed).fit(codes)


def lda(codes: np.ndarray, labels: pd.Series, n_components: int) -> tuple[np.ndarray, int]:
    """Linear discriminant axes, fitted on the labelled galaxies and applied to all of them.

    LDA *uses the labels*: a map where the labels separate well is partly built to do so.
    It has at most (number of labels - 1) axes; asking for more gives fewer, with a warning.
    Returns the coordinates and the number of axes actually used.
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    rows = labelled_rows(labels)
    classes = pd.unique(labels[rows])
    if len(classes) < 2:
        raise DataError(f"LDA needs galaxies of at least two labels; this run has {len(classes)}")
    n_components = _check_components("lda_components", n_components, codes.shape[1])
    usable = min(n_components, len(classes) - 1)
    if usable < n_components:
        warnings.warn(f"LDA: {len(classes)} labels allow at most {usable} axes, not {n_components}",
                      stacklevel=2)
    model = LinearDiscriminantAnalysis(n_components=usable, solver="svd")
    model.fit(codes[rows], labels[rows].to_numpy())
    return model.transform(codes).astype(np.float32), usable


EXACT_NEIGHBOURS_UP_TO = 50_000  # exact kNN beats openTSNE's Annoy at perplexity 200 up to here
#: Neighbours per point of the t-SNE affinities, as a multiple of the perplexity. The custom
#: (openTSNE's and scikit-learn's) is 3; at perplexity 200 the neighbours ranked 400-600 carry
#: little of a point's affinity, and the attractive forces over them were half the cost of every
#: iteration: with 2 the final map's exact KL under the full 3 x perplexity P was within 0.002
#: of the one with 3, at half the time per iteration (benchmarks/bench_tsne.py, 20,000 points).
NEIGHBOURS_PER_PERPLEXITY = 2
OPENTSNE_LR_FACTOR = 4  # openTSNE's gradient lacks scikit-learn's factor 4 (see tsne_model)


def tsne_model(n: int, *, perplexity: float = 200, learning_rate: float | str = 50, seed: int = 42,
               n_jobs: int | None = None):
    """The openTSNE ``TSNE`` chapter 4 fits on ``n`` points, with the seed study's settings.

    ``learning_rate`` is in scikit-learn's units, the seed study's (50): openTSNE's gradient
    leaves out the factor 4 that scikit-learn's includes, so the same step is openTSNE's
    ``4 x learning_rate`` (openTSNE's own 50 would move four times slower and leave the map
    under-converged; see benchmarks/bench_tsne.py). ``"auto"`` is openTSNE's own rule.
    ``perplexity`` above (n - 1) / 3 cannot be honoured on n points and is lowered, with a
    warning. :func:`tsne` gives it the affinities of :func:`tsne_affinities`: neighbours exact up
    to ``EXACT_NEIGHBOURS_UP_TO`` points (at perplexity 200 exact search was 8x faster than
    Annoy at 20,000 points), Annoy above.
    """
    from openTSNE import TSNE

    if n < 5:
        raise DataError(f"t-SNE needs at least 5 galaxies, got {n}")
    if isinstance(perplexity, bool) or not isinstance(perplexity, (int, float)) or perplexity <= 0:
        raise ParameterError(f"tsne_perplexity={perplexity!r}: use a positive number (the seed: 200)")
    if learning_rate != "auto" and (isinstance(learning_rate, bool)
                                    or not isinstance(learning_rate, (int, float)) or learning_rate <= 0):
        raise ParameterError(f"tsne_learning_rate={learning_rate!r}: use a positive number "
                             "(scikit-learn's units; the seed: 50) or 'auto'")
    usable = usable_perplexity(n, perplexity)
    if usable < perplexity:  # recorded as used by chapter 4, and said on the terminal
        message = f"t-SNE: perplexity {perplexity} is too high for {n} galaxies; using {usable:.1f}"
        warnings.warn(message, stacklevel=3)
        from helpers.progress import say

        say(message)
    lr = learning_rate if learning_rate == "auto" else OPENTSNE_LR_FACTOR * float(learning_rate)
    return TSNE(n_components=2, perplexity=usable, learning_rate=lr, initialization="pca",
                negative_gradient_method="fft", n_jobs=n_jobs or _threads(), random_state=seed,
                neighbors="exact" if n <= EXACT_NEIGHBOURS_UP_TO else "annoy", verbose=False)


def usable_perplexity(n: int, perplexity: float) -> float:
    """The perplexity t-SNE can honour on ``n`` points: at most (n - 1) / 3.

    >>> usable_perplexity(3000, 200), usable_perplexity(40, 200)
    (200.0, 13.0)
    """
    return min(float(perplexity), (n - 1) / 3)


def tsne(x: np.ndarray, *, perplexity: float = 200, learning_rate: float | str = 50,
         seed: int = 42, n_jobs: int | None = None):
    """A 2-D openTSNE map (FFT gradients, PCA initialisation). Returns ``(xy, kl_divergence, embedding)``.

    Parameters as :func:`tsne_model` (``learning_rate`` in the seed study's scikit-learn units).
    The returned openTSNE embedding can place new points with ``embedding.transform``.
    """
    model = tsne_model(len(x), perplexity=perplexity, learning_rate=learning_rate, seed=seed,
                       n_jobs=n_jobs)
    model.early_exaggeration_iter, model.n_iter = _TSNE_EE_ITER, _TSNE_N_ITER
    model.final_momentum = _TSNE_FINAL_MOMENTUM
    model.ints_in_interval = _TSNE_INTS_IN_INTERVAL
    x = np.ascontiguousarray(x, dtype=np.float64)
    embedding = model.fit(x, affinities=tsne_affinities(x, model.perplexity, seed=seed,
                                                        n_jobs=model.n_jobs))
    return np.asarray(embedding, dtype=np.float32), float(embedding.kl_divergence), embedding


def tsne_affinities(x: np.ndarray, perplexity: float, *, seed: int = 42, n_jobs: int | None = None):
    """The t-SNE affinities (openTSNE ``PerplexityBasedNN``) of chapter 4's map and of the new
    galaxies placed on it: Gaussian, calibrated to ``perplexity`` over each point's
    ``NEIGHBOURS_PER_PERPLEXITY x perplexity`` nearest neighbours (exact up to
    ``EXACT_NEIGHBOURS_UP_TO`` points, Annoy above), symmetrised.
    """
    from openTSNE.affinity import PerplexityBasedNN

    n = len(x)
    k = int(min(n - 1, np.ceil(NEIGHBOURS_PER_PERPLEXITY * perplexity)))
    return PerplexityBasedNN(np.ascontiguousarray(x, dtype=np.float64), perplexity=perplexity,
                             method="exact" if n <= EXACT_NEIGHBOURS_UP_TO else "annoy",
                             k_neighbors=k, n_jobs=n_jobs or _threads(), random_state=seed)



# Chapter 4's optimisation schedule (benchmarks/bench_tsne.py measured it at 20,000 points against
# the seed's scikit-learn Barnes-Hut TSNE, 250 + 750 iterations): past ~100 iterations the early
# exaggeration phase no longer changes where the normal phase ends (KL after 250 + 500 and
# 100 + 500 iterations agreed within 0.003), and momentum 0.9 after it reaches the same KL in
# fewer iterations than 0.8 (openTSNE's and scikit-learn's default; 0.95 ended higher). The
# normal phase stops at 650: with 2 x perplexity neighbours the exact KL under the full P then
# stands about 0.01 below where scikit-learn's 1,000 iterations end (0.622 vs 0.633 on the
# benchmark's 20,000 points, 0.608 after 750); it falls by under 0.01 per 50 iterations there.
_TSNE_EE_ITER = 100
_TSNE_N_ITER = 650
_TSNE_FINAL_MOMENTUM = 0.9
_TSNE_INTS_IN_INTERVAL = 1  # openTSNE's FFT grid: one interval per unit of the map (its default)


def umap_embed(x: np.ndarray, n_components: int = 2, *, n_neighbors: int = 50, min_dist: float = 0.15,
               seed: int = 42) -> np.ndarray:
    """UMAP coordinates (umap-learn; seeded, hence single-threaded and reproducible)."""
    model = umap_model(x, n_components, n_neighbors=n_neighbors, min_dist=min_dist, seed=seed)
    return model.embedding_.astype(np.float32)


def umap_model(x: np.ndarray, n_components: int = 2, *, n_neighbors: int = 50, min_dist: float = 0.15,
               seed: int = 42):
    """The fitted ``umap.UMAP`` behind :func:`umap_embed` (its ``transform`` places new points)."""
    with warnings.catch_warnings():  # pynndescent's tqdm.auto complains about ipywidgets in kernels
        warnings.filterwarnings("ignore", message="IProgress not found")
        warnings.filterwarnings("ignore", category=ImportWarning)  # no TensorFlow: no ParametricUMAP
        import umap

    n_components = _check_components("umap_components", n_components, x.shape[1])
    n_neighbors = min(int(n_neighbors), len(x) - 1)
    if n_neighbors < 2:
        raise DataError(f"UMAP needs at least 3 galaxies, got {len(x)}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs value 1 overridden.*")
        warnings.filterwarnings("ignore", message=".*is not a NumPy array.*")
        model = umap.UMAP(n_components=n_components, n_neighbors=n_neighbors, min_dist=min_dist,
                          random_state=seed, n_jobs=1)
        with step(f"UMAP to {n_components} dimensions of {len(x):,} galaxies (seed {seed})"):
            model.fit(x)
    return model


def trustworthiness(x: np.ndarray, y: np.ndarray, *, n_neighbors: int = 10, max_points: int = 5000,
                    seed: int = 0) -> float:
    """How well a map keeps each galaxy's nearest neighbours (1 = perfectly, ~0.5 = random).

    Computed on a seeded subsample of ``max_points`` galaxies for large runs (the measure is
    quadratic in N).

    >>> x = np.random.default_rng(0).normal(size=(200, 10))
    >>> trustworthiness(x, x[:, :2]) > trustworthiness(x, np.random.default_rng(1).normal(size=(200, 2)))
    True
    """
    from sklearn.manifold import trustworthiness as sk_trust

    if len(x) != len(y):
        raise ValueError(f"{len(x)} codes but {len(y)} map coordinates")
    if len(x) > max_points:
        rows = np.sort(np.random.default_rng(seed).choice(len(x), max_points, replace=False))
        x, y = x[rows], y[rows]
    n_neighbors = min(n_neighbors, len(x) // 2 - 1)
    with step(f"trustworthiness of a map of {len(x):,} galaxies"):
        return float(sk_trust(x, y, n_neighbors=n_neighbors))


def embeddings_frame(ids: np.ndarray, maps: dict[str, np.ndarray]) -> pd.DataFrame:
    """One table of every coordinate: ``GalaxyID`` then ``<name>_<axis>`` columns (axes from 1).

    >>> embeddings_frame(np.array([7, 8]), {"pca2": np.zeros((2, 2))}).columns.tolist()
    ['GalaxyID', 'pca2_1', 'pca2_2']
    """
    columns: dict[str, np.ndarray] = {ID_COLUMN: np.asarray(ids)}
    for name, xy in maps.items():
        if len(xy) != len(ids):
            raise ValueError(f"map {name!r} has {len(xy)} rows for {len(ids)} galaxies")
        for axis in range(xy.shape[1]):
            columns[f"{name}_{axis + 1}"] = np.asarray(xy[:, axis], dtype=np.float32)
    return pd.DataFrame(columns)


def map_names(frame: pd.DataFrame) -> list[str]:
    """The maps of an embeddings table (``pca2``, ``lda4``, ``tsne2`` ...), sorted."""
    return sorted({c.rsplit("_", 1)[0] for c in frame.columns if c != ID_COLUMN})


METHODS = ("pca", "lda", "tsne", "umap")


def resolve_space(frame: pd.DataFrame, name: str) -> str:
    """The map of ``frame`` that ``name`` means: itself, or for a bare method name (``"lda"``)
    that method's map with the most dimensions (chapter 4's k-D space).

    Chapter 4 writes ``lda<k>`` with as many axes as the labels allow (at most labels - 1), so a
    run on data with few labels has ``lda4`` where the demo has ``lda7``; asking for ``"lda"``
    works on both.

    >>> frame = embeddings_frame(np.array([1]), {"lda2": np.zeros((1, 2)), "lda4": np.zeros((1, 4))})
    >>> resolve_space(frame, "lda"), resolve_space(frame, "lda2")
    ('lda4', 'lda2')
    """
    maps = map_names(frame)
    if name in maps:
        return name
    if name in METHODS:
        found = [m for m in maps if m.rstrip("0123456789") == name]
        if found:
            return max(found, key=lambda m: int(m.removeprefix(name) or 0))
    hint = (f"use a bare method name ({', '.join(METHODS)}) for its k-D space, "
            if name.rstrip("0123456789") in METHODS else "")
    raise DataError(f"embeddings.parquet has no map {name!r}; it has {maps}: {hint}"
                    "name one of those, or rerun chapter 4 if one is missing that it should have written")


def coordinates(frame: pd.DataFrame, name: str) -> np.ndarray:
    """The (N, d) coordinates of map ``name`` (e.g. ``"tsne2"``, or ``"lda"``: see
    :func:`resolve_space`) from an embeddings table."""
    name = resolve_space(frame, name)
    columns = [c for c in frame.columns if c.rsplit("_", 1)[0] == name]
    columns.sort(key=lambda c: int(c.rsplit("_", 1)[1]))
    return frame[columns].to_numpy(dtype=np.float32)


def _check_components(name: str, value, limit: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ParameterError(f"{name}={value!r}: use a positive integer")
    if value > limit:
        raise ParameterError(f"{name}={value}: at most {limit}, the dimensions of the input")
    return int(value)


def _threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Maps(NamedTuple):
    """Chapter 4's views of the codes: every map by name (``pca2``, ``pca7``, ``lda2``, ``lda7``,
    ``tsne2``, ``umap2``, ``umap7``), the PCA variance shares, the t-SNE KL, LDA's axes."""

    maps: dict[str, np.ndarray]
    variance: np.ndarray
    kl: float
    lda_used: int

    def two_d(self) -> dict[str, np.ndarray]:
        """The 2-D maps by method name (PCA, LDA, t-SNE, UMAP), as chapter 4 draws them."""
        return {"PCA": self.maps["pca2"], "LDA": self.maps["lda2"], "t-SNE": self.maps["tsne2"],
                "UMAP": self.maps["umap2"]}


def all_maps(codes: np.ndarray, labels: pd.Series, *, pca_input: int, pca_components: int,
             lda_components: int, tsne_perplexity: float, tsne_learning_rate, umap_neighbors: int,
             umap_min_dist: float, umap_components: int, seed: int = 42) -> Maps:
    """Every map of chapter 4 with its settings: PCA to ``pca_input`` (t-SNE and UMAP start from
    it) and its 2-D and ``pca_components``-D views, LDA in 2 and ``lda_components`` dimensions,
    t-SNE in 2, UMAP in 2 and ``umap_components``."""
    x_in, share = pca(codes, pca_input, seed=seed)
    lda2, _ = lda(codes, labels, 2)
    ldak, lda_used = lda(codes, labels, lda_components)
    tsne2, kl, _ = tsne(x_in, perplexity=tsne_perplexity, learning_rate=tsne_learning_rate, seed=seed)
    umap = {n: umap_embed(x_in, n, n_neighbors=umap_neighbors, min_dist=umap_min_dist, seed=seed)
            for n in (2, umap_components)}
    maps = {"pca2": x_in[:, :2], f"pca{pca_components}": x_in[:, :pca_components], "lda2": lda2,
            f"lda{lda_used}": ldak, "tsne2": tsne2, "umap2": umap[2],
            f"umap{umap_components}": umap[umap_components]}
    return Maps(maps, share, float(kl), int(lda_used))


def resolved(frame: pd.DataFrame, names) -> dict[str, str]:
    """Each space as a profile names it (``"lda"``) -> the map chapter 4 wrote (``"lda7"``)."""
    return {name: resolve_space(frame, name) for name in names}


def spaces(frame: pd.DataFrame, names) -> dict[str, np.ndarray]:
    """The coordinates of each space of ``names`` (methods or map names), by resolved name."""
    return {full: coordinates(frame, full) for full in resolved(frame, names).values()}


def first_space(spaces: dict[str, np.ndarray], method: str) -> np.ndarray | None:
    """The coordinates of the first space of ``method`` (``"umap"`` -> ``umap7``), or None."""
    return next((x for name, x in spaces.items() if name.startswith(method)), None)


def named_space(spaces: dict[str, np.ndarray], method: str) -> tuple[str, np.ndarray] | None:
    """``(name, coordinates)`` of the first space of ``method``, or None."""
    return next(((name, x) for name, x in spaces.items() if name.startswith(method)), None)
