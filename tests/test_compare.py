"""Chapter 6's helpers: clusterings against each other and the labels, and the two probes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import scores
from helpers.codes import compare as K
from helpers.errors import DataError


def test_matrix_is_symmetric_with_unit_diagonal():
    frame = pd.DataFrame({"a": [0, 0, 1, 1, 2, 2], "b": [1, 1, 0, 0, 2, 2], "c": [0, 1, 0, 1, 0, 1]})
    m = K.matrix(frame, ["a", "b", "c"], metric="AMI")
    np.testing.assert_allclose(m.to_numpy(), m.to_numpy().T)
    assert (np.diag(m) == 1).all() and m.loc["a", "b"] == pytest.approx(1.0)
    assert K.matrix(frame, ["a"], ["b", "c"]).shape == (1, 2)
    with pytest.raises(DataError, match="'zz'"):
        K.matrix(frame, ["a", "zz"])


def test_purity_and_against_skip_unknown_references():
    frame = pd.DataFrame({"k": [0, 0, 1, 1, -1]})
    ref = pd.Series(["x", "x", "y", None, "y"])
    table = K.against(frame, ["k"], ref)
    assert table.loc["k", "clusters"] == 2
    assert table.loc["k", "purity"] == pytest.approx(1.0)
    assert scores.purity([0, 0, 0, 0], ["a", "b", "c", "c"]) == 0.5


def separable(n_per: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(["spiral", "round", "edge-on"], n_per)
    x = rng.normal(size=(3 * n_per, 64)).astype(np.float32)
    x[:, :3] += 6 * (y[:, None] == np.array(["spiral", "round", "edge-on"]))
    return x, y


def test_probes_read_separable_labels_and_fail_on_noise():
    x, y = separable()
    for predict in (K.knn_predict, K.probe_predict):
        pred = predict(x, y, folds=4, seed=1)
        assert scores.accuracy_of(pred, y) > 0.95
    shuffled = np.random.default_rng(2).permutation(y)
    noise = K.probe_predict(x, shuffled, folds=4, seed=1)
    assert scores.accuracy_of(noise, shuffled) < 0.55  # chance is 1/3
    assert scores.balanced_accuracy_of(noise, shuffled) < 0.55


def test_knn_probes_are_the_engines_vote_on_each_fold():
    from helpers.codes.neighbours import classify

    x, y = separable(n_per=12, seed=3)
    x[:, :3] = 0  # no signal left: many ties, broken towards the nearer galaxy
    pred = K.knn_predict(x, y, k=4, folds=3, seed=0)
    for train, test in K._folds(y, 3, 0).split(x, y):
        np.testing.assert_array_equal(pred[test], classify(x[train], y[train], x[test], k=4)["predicted"])
    out = K.knn_fit_predict(x[:24], y[:24], x[24:], k=4)
    np.testing.assert_array_equal(out, classify(x[:24], y[:24], x[24:], k=4)["predicted"])
    assert pred.dtype == y.dtype


def test_probes_need_two_galaxies_per_label():
    x, y = separable(n_per=5)
    y = y.copy()
    y[0] = "lonely"
    with pytest.raises(DataError, match="at least 2 galaxies"):
        K.knn_predict(x, y)


def test_pixels_and_confusion():
    images = np.random.default_rng(0).integers(0, 255, (30, 8, 8, 3), dtype=np.uint8)
    assert K.pixel_codes(images, n_components=50).shape == (30, 30)  # capped by the galaxies
    conf = K.confusion(np.array(["a", "b", "b"]), np.array(["a", "a", "b"]), ["b", "a", "c"])
    assert conf.index.tolist() == ["b", "a"] and conf.columns.tolist() == ["b", "a"]
    assert conf.loc["a", "b"] == 1 and conf.to_numpy().sum() == 3
