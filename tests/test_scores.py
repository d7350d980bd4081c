"""The study's scores (helpers.scores): bootstrap intervals that cover, paired differences that
resolve what overlapping intervals hide, the RMSE of vote fractions, partitions, verdicts."""

import numpy as np
import pytest

from helpers import scores
from helpers.errors import DataError, ParameterError


def test_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(60):
        truth = rng.integers(0, 4, 300)
        pred = np.where(rng.random(300) < 0.7, truth, (truth + 1) % 4)
        est = scores.accuracy(pred, truth, seed=trial)
        assert est.low <= est.value <= est.high and est.n == 300
        covered += est.low <= 0.7 <= est.high
    assert 51 <= covered <= 60  # 95% nominal: 57 expected


def test_paired_difference_resolves_what_overlapping_intervals_hide():
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 400)
    base = np.where(rng.random(400) < 0.6, truth, (truth + 1) % 3)
    better = base.copy()
    fix = np.flatnonzero(base != truth)[:20]  # 20 more right, nothing else changes
    better[fix] = truth[fix]
    a, b = scores.accuracy(better, truth), scores.accuracy(base, truth)
    assert a.low < b.high  # the two intervals overlap ...
    diff = scores.accuracy_difference(better, base, truth)
    assert diff.low > 0 and scores.verdict(diff) == "better"  # ... but the paired difference is resolved
    same = scores.accuracy_difference(base, base, truth)
    assert same.value == 0 and scores.verdict(same) == "not told apart"
    assert scores.verdict(scores.accuracy_difference(base, better, truth)) == "worse"


def test_a_difference_is_robust_only_beyond_twice_its_spread():
    diff = scores.Estimate(0.1, 0.07, 0.13, 900)
    assert scores.robust(diff, None) and scores.robust(diff, 0.049) and not scores.robust(diff, 0.05)
    assert not scores.robust(scores.Estimate(0.1, -0.01, 0.2, 900), None)


def test_rmse_its_interval_per_question_and_the_mean_baseline():
    rng = np.random.default_rng(2)
    y = rng.random((200, 37))
    assert scores.rmse(y, y) == 0.0 and scores.rmse(y + 0.1, y) == pytest.approx(0.1)
    est = scores.rmse_estimate(y + rng.normal(0, 0.1, y.shape), y)
    assert est.low < 0.1 < est.high
    assert scores.rmse_difference(y + 0.05, y + 0.1, y).value == pytest.approx(-0.05)
    per_q = scores.per_question_rmse(y + 0.1, y)
    assert len(per_q) == 11 and per_q.index[0].startswith("Q1: Is the galaxy")
    assert np.allclose(per_q.to_numpy(), 0.1)
    base = scores.mean_baseline_rmse(y[:100], y[100:])
    assert base == pytest.approx(scores.rmse(np.broadcast_to(y[:100].mean(0), (100, 37)), y[100:]))
    with pytest.raises(ParameterError, match="shape"):
        scores.rmse(y[:, :5], y)
    with pytest.raises(DataError, match="no galaxies"):
        scores.rmse_estimate(y[:0], y[:0])


def test_partitions_purity_majority_and_cluster_agreement():
    assert scores.partition_score([0, 0, 1, 1], [1, 1, 0, 0], "AMI") == pytest.approx(1.0)
    assert scores.partition_score([0, 1, 0, 1], [0, 0, 1, 1], "ARI") < 0
    with pytest.raises(ValueError, match="metric"):
        scores.partition_score([0], [0], "NMI")
    assert scores.purity([0, 0, 1, 1], ["a", "a", "b", "a"]) == 0.75
    assert scores.majority(["x", "y", "x"]) == pytest.approx(2 / 3)
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 300)
    est = scores.cluster_agreement(labels, labels, "ARI", seed=0)
    assert est.value == 1.0 and est.low == 1.0
    diff = scores.partition_difference(labels, labels, rng.integers(0, 3, 300), "AMI", seed=0)
    assert diff.low > 0.5


def test_scores_ignore_cluster_numbering_and_rate_unrelated_partitions_near_zero():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 2000)
    assert scores.partition_score(a, (a + 1) % 4, "ARI") == pytest.approx(1.0)
    assert scores.partition_score(a, (a + 1) % 4, "AMI") == pytest.approx(1.0)
    b = rng.integers(0, 4, 2000)
    assert abs(scores.partition_score(a, b, "ARI")) < 0.02 and abs(scores.partition_score(a, b, "AMI")) < 0.02
    with pytest.raises(ValueError, match="metric"):
        scores.partition_score(a, b, "NMI")
    with pytest.raises(ValueError, match="lengths"):
        scores.partition_score(a, b[:-1])
