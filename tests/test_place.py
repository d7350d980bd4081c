"""Placing new galaxies on the study's maps (helpers.codes.place): the maps are rebuilt from what the
run keeps, and placing the study's own codes puts them where the study's map has them."""

import numpy as np
import pandas as pd
import pytest

from helpers.codes import place, reduce
from helpers.errors import DataError


@pytest.fixture(scope="module")
def study():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 6, (3, 20))
    codes = np.abs(np.vstack([c + rng.normal(0, 1, (60, 20)) for c in centres])).astype(np.float32)
    x, _ = reduce.pca(codes, 10, seed=1)
    maps = {"tsne2": reduce.tsne(x, perplexity=15, seed=1, n_jobs=1)[0],
            "umap2": reduce.umap_embed(x, 2, n_neighbors=10, seed=1)}
    emb = reduce.embeddings_frame(np.arange(len(codes)), maps)
    labels = pd.Series(np.repeat(["a", "b", "c"], 60))
    return codes, emb, labels


def test_umap_refit_with_the_chapters_seed_gives_back_its_map(study):
    codes, emb, _ = study
    maps = place.StudyMaps(codes, emb, pca_input=10, perplexity=15, umap_neighbors=10, seed=1)
    study_xy, new_xy = maps.umap(codes[:5])
    assert np.allclose(study_xy, reduce.coordinates(emb, "umap2"), atol=1e-4)
    assert new_xy.shape == (5, 2)


def test_study_galaxies_placed_again_land_among_their_own_group(study):
    codes, emb, labels = study
    maps = place.StudyMaps(codes, emb, pca_input=10, perplexity=15, umap_neighbors=10, seed=1)
    new = maps.tsne(codes[::20])  # 9 galaxies, 3 of each group
    tsne2 = reduce.coordinates(emb, "tsne2")
    nearest = np.argmin(((tsne2[None] - new[:, None]) ** 2).sum(axis=2), axis=1)
    assert (labels.to_numpy()[nearest] == labels.to_numpy()[::20]).mean() >= 8 / 9
    votes = place.predict_labels(codes, labels, codes[::20], k=5)
    assert (votes["predicted"] == labels.to_numpy()[::20]).all()


def test_codes_of_another_network_are_refused(study):
    codes, emb, _ = study
    maps = place.StudyMaps(codes, emb, pca_input=10, perplexity=15, umap_neighbors=10, seed=1)
    with pytest.raises(DataError, match="dimensions"):
        maps.tsne(np.zeros((2, 7), np.float32))
    with pytest.raises(DataError, match="rerun chapter 4"):
        place.StudyMaps(codes[:10], emb, pca_input=5, perplexity=3, umap_neighbors=5, seed=1)
