"""Placing galaxies the study never saw: onto chapter 4's t-SNE and UMAP maps, and a predicted label.

Chapter 4's maps are not pickled; they are rebuilt from what the run keeps. The PCA is refitted
on the study's codes (deterministic), t-SNE's affinities are recomputed on that PCA input and
joined to the stored t-SNE coordinates (openTSNE's ``TSNEEmbedding``), and UMAP is refitted
with chapter 4's seed, which reproduces its map. New codes then go through the same PCA and are
embedded with openTSNE's and UMAP's ``transform``: the study's map does not move.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.codes import neighbours, reduce
from helpers.errors import DataError


class StudyMaps:
    """Chapter 4's PCA input, t-SNE map and 2-D UMAP map, rebuilt to take new galaxies."""

    def __init__(self, codes: np.ndarray, embeddings: pd.DataFrame, *, pca_input: int = 50,
                 perplexity: float = 200, umap_neighbors: int = 50, umap_min_dist: float = 0.15,
                 seed: int = 42, n_jobs: int | None = None) -> None:
        from openTSNE import TSNEEmbedding

        if len(codes) != len(embeddings):
            raise DataError(f"{len(codes)} codes but {len(embeddings)} rows in embeddings.parquet: "
                            "rerun chapter 4 on this run")
        self.pca = reduce.pca_model(codes, pca_input, seed)
        self.x = self.pca.transform(codes).astype(np.float64)
        self.tsne2 = reduce.coordinates(embeddings, "tsne2").astype(np.float64)
        affinities = reduce.tsne_affinities(self.x, reduce.usable_perplexity(len(codes), perplexity),
                                            seed=seed, n_jobs=n_jobs)
        self._tsne = TSNEEmbedding(self.tsne2, affinities, negative_gradient_method="fft",
                                   n_jobs=n_jobs or reduce._threads(), random_state=seed)
        self._umap_args = {"n_neighbors": umap_neighbors, "min_dist": umap_min_dist, "seed": seed}
        self._umap = None

    def tsne(self, codes: np.ndarray) -> np.ndarray:
        """t-SNE coordinates of new galaxies on the study's map (openTSNE ``transform``)."""
        return np.asarray(self._tsne.transform(self._input(codes)), dtype=np.float32)

    def umap(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(study_xy, new_xy)``: the refitted 2-D UMAP map and the new galaxies placed on it."""
        return self.umap2, self._fitted_umap().transform(self._input(codes)).astype(np.float32)

    @property
    def umap2(self) -> np.ndarray:
        """The study's 2-D UMAP map, refitted with chapter 4's settings and seed."""
        return self._fitted_umap().embedding_.astype(np.float32)

    def _fitted_umap(self):
        if self._umap is None:
            self._umap = reduce.umap_model(self.x, 2, **self._umap_args)
        return self._umap

    def _input(self, codes: np.ndarray) -> np.ndarray:
        if codes.shape[1] != self.pca.n_features_in_:
            raise DataError(f"new codes have {codes.shape[1]} dimensions, the study's "
                            f"{self.pca.n_features_in_}: they come from another network or layer")
        return self.pca.transform(codes).astype(np.float64)


def study_maps(codes: np.ndarray, embeddings: pd.DataFrame, settings: dict) -> StudyMaps:
    """:class:`StudyMaps` with the settings chapter 4 recorded (``Run.settings("04_reduce")``)."""
    return StudyMaps(codes, embeddings, pca_input=settings["pca_input"],
                     perplexity=settings["tsne_perplexity"], umap_neighbors=settings["umap_neighbors"],
                     umap_min_dist=settings["umap_min_dist"], seed=settings["seed"])


def predict_labels(study_codes: np.ndarray, study_labels: pd.Series, codes: np.ndarray, *,
                   k: int = 10) -> pd.DataFrame:
    """Each new galaxy's label by a vote of its ``k`` nearest labelled study galaxies (cosine).

    Returns ``predicted``, ``vote`` (the winning share of the k) and ``nearest`` (the row, in
    ``study_codes``, of the most similar labelled galaxy). Ties go to the label of the nearer
    galaxy.
    """
    labelled = reduce.labelled_rows(study_labels)
    if not labelled.any():
        raise DataError("the study has no labelled galaxies to predict from")
    found = neighbours.classify(study_codes[labelled], study_labels.to_numpy()[labelled], codes, k=k)
    found["nearest"] = np.flatnonzero(labelled)[found["nearest"].to_numpy()]
    return found
