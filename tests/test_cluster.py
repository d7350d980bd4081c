"""Chapter 5's helpers: k-means numbering, the knee rule, DBSCAN/HDBSCAN, galleries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.codes import cluster as C
from helpers.errors import DataError, ParameterError


def three_blobs(seed: int = 0):
    rng = np.random.default_rng(seed)
    sizes = (60, 40, 20)
    centres = np.array([[0, 0], [20, 0], [0, 20]], dtype=float)
    x = np.concatenate([c + rng.normal(size=(n, 2)) for c, n in zip(centres, sizes, strict=True)])
    truth = np.repeat([0, 1, 2], sizes)
    return x, truth


def test_kmeans_numbers_clusters_by_size_and_recovers_blobs():
    x, truth = three_blobs()
    assign = C.kmeans(x, 3, seed=1)
    np.testing.assert_array_equal(assign, truth)  # 0 is the largest blob, 2 the smallest
    with pytest.raises(ParameterError, match="k=0"):
        C.kmeans(x, 0)
    with pytest.raises(DataError, match="at least 500 galaxies"):
        C.kmeans(x, 500)


def test_elbow_drops_most_at_the_true_k():
    x, _ = three_blobs()
    curve = C.elbow(x, range(1, 6), seed=0)
    assert curve[1] == pytest.approx(1.0)
    drops = -curve.diff().dropna()
    assert drops.idxmax() in (2, 3) and curve[3] < 0.02  # nearly all spread gone at k=3
    assert (np.diff(curve.to_numpy()) <= 1e-9).all()


def test_knee_finds_the_bend_and_rejects_short_curves():
    y = np.r_[np.linspace(0, 1, 50), np.linspace(2, 30, 5)]
    assert C.knee(y) == 49
    assert C.knee(np.zeros(10)) == 9  # flat curve, no bend: the largest distance, all galaxies join
    with pytest.raises(DataError):
        C.knee(np.array([1.0, 2.0]))


def test_dbscan_with_eps_from_the_knee_finds_the_blobs_and_the_outliers():
    x, truth = three_blobs()
    x = np.r_[x, [[60, 60], [-50, 40]]]  # two lonely galaxies
    eps, curve, at = C.choose_eps(x, min_samples=5)
    assert 0 < eps < 10 and len(curve) == len(x) and curve[at] == eps
    assign = C.dbscan(x, eps, 5)
    assert (assign[-2:] == C.NOISE).all()
    assert C.summary(assign)["clusters"] == 3
    np.testing.assert_array_equal(assign[:120][truth == 0], 0)
    with pytest.raises(ParameterError, match="eps"):
        C.dbscan(x, 0.0, 5)
    with pytest.raises(ParameterError, match="dbscan_min_samples"):
        C.k_distance(x, len(x))


def test_hdbscan_finds_the_blobs():
    x, truth = three_blobs()
    assign = C.hdbscan(x, 10)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(truth, assign) > 0.9
    with pytest.raises(ParameterError, match="min_cluster_size"):
        C.hdbscan(x, 1)


def test_summary_and_label_mix():
    assign = np.array([0, 0, 1, -1])
    s = C.summary(assign)
    assert s == {"clusters": 2, "noise": 0.25, "largest": 0.5}
    mix = C.label_mix(assign, pd.Series(["a", "b", "a", None]))
    assert mix.loc[0, "galaxies"] == 2 and mix.loc[0, "a"] == 0.5
    assert mix.loc[-1, "no votes"] == 1.0


def test_gallery_members_are_central_then_random_and_disjoint():
    x, truth = three_blobs()
    members = C.gallery_members(x, truth, n_central=4, n_random=3, seed=2)
    assert sorted(members) == [0, 1, 2]
    for cluster, (central, random) in members.items():
        assert len(central) == 4 and len(random) == 3
        assert not set(central) & set(random)
        assert all(truth[i] == cluster for i in central + random)
        centre = x[truth == cluster].mean(axis=0)
        d = np.linalg.norm(x - centre, axis=1)
        assert max(d[central]) <= np.sort(d[truth == cluster])[3] + 1e-12
    assert C.gallery_members(x, truth, seed=2) == C.gallery_members(x, truth, seed=2)
    assert -1 not in C.gallery_members(x, np.where(truth == 2, -1, truth))


def test_clusters_frame(tmp_path):
    frame = C.clusters_frame(np.array([4, 5]), {"kmeans2_pca7": np.array([0, 1])})
    assert frame.dtypes["kmeans2_pca7"] == np.int32
    assert frame["GalaxyID"].tolist() == [4, 5]
    with pytest.raises(ValueError, match="has 1 rows for 2 galaxies"):
        C.clusters_frame(np.array([4, 5]), {"bad": np.array([0])})
