"""Out-of-sample scoring: the recorded split, bootstrap intervals, paired differences, verdicts."""

import numpy as np
import pandas as pd
import pytest

from helpers import evaluate
from helpers.codes import features
from helpers.errors import DataError


def test_interval_covers_the_true_accuracy_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(60):
        truth = rng.integers(0, 4, 300)
        pred = np.where(rng.random(300) < 0.7, truth, (truth + 1) % 4)
        est = evaluate.accuracy(pred, truth, seed=trial)
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
    a, b = evaluate.accuracy(better, truth), evaluate.accuracy(base, truth)
    assert a.low < b.high  # the two intervals overlap ...
    diff = evaluate.difference(lambda p, q, y: evaluate.accuracy_of(p, y),
                               lambda p, q, y: evaluate.accuracy_of(q, y), better, base, truth)
    assert diff.low > 0  # ... but the paired difference is resolved
    assert evaluate.compare_sentence("A", a, "B", b, diff).startswith("A do better than B")
    same = evaluate.difference(lambda p, q, y: evaluate.accuracy_of(p, y),
                               lambda p, q, y: evaluate.accuracy_of(q, y), base, base, truth)
    assert "not told apart" in evaluate.compare_sentence("A", b, "B", b, same)


def test_lower_is_better_for_errors():
    a, b = evaluate.Estimate(0.09, 0.085, 0.095, 400), evaluate.Estimate(0.1, 0.095, 0.105, 400)
    text = evaluate.compare_sentence("tree", a, "linear", b, evaluate.Estimate(-0.01, -0.015, -0.005, 400),
                                     what="RMSE", spec=".3f", higher_is_better=False)
    assert text.startswith("tree do better than linear")


def test_rmse_interval_and_empty_input():
    rng = np.random.default_rng(2)
    y = rng.random((200, 37))
    est = evaluate.bootstrap(evaluate.rmse_of, y + rng.normal(0, 0.1, y.shape), y)
    assert est.low < 0.1 < est.high
    with pytest.raises(DataError, match="no galaxies"):
        evaluate.bootstrap(evaluate.rmse_of, y[:0], y[:0])


def test_split_is_recorded_and_read_back_in_any_order(tmp_path):
    frame = evaluate.split_frame([10, 11, 12, 13, 14], train_ids=[10, 12], holdout_ids=[13])
    evaluate.write_split(tmp_path, frame)
    sets = evaluate.read_split(tmp_path, [14, 13, 12, 99])
    assert sets.tolist() == ["unused", "holdout", "train", "unused"]  # 99: never listed (no votes)
    assert evaluate.unseen(sets).tolist() == [True, True, False, True]
    with pytest.raises(ValueError, match="both"):
        evaluate.split_frame([1, 2], [1], [1])


def test_missing_or_broken_split_names_chapter_2(tmp_path):
    with pytest.raises(DataError, match="rerun chapter 2"):
        evaluate.read_split(tmp_path, [1])
    (tmp_path / evaluate.SPLIT_FILE).write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match="rerun chapter 2"):
        evaluate.read_split(tmp_path, [1])


def test_out_of_sample_agreement_looks_only_among_the_reference_galaxies():
    codes = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0], [0.01, 0.99], [0.98, 0.02]])
    labels = pd.Series(["a", "b", "c", "c", "a"])
    train = np.array([False, True, True, True, False])
    shares = features.agreement_per_galaxy(codes, labels, ~train, train, k=1)
    # galaxies 0 and 4 are unseen: their nearest *training* galaxy is 1 ("b"), never each other
    assert shares.tolist() == [0.0, 0.0]
    in_sample = features.agreement_per_galaxy(codes, labels, train, train, k=1)
    assert in_sample.tolist() == [0.0, 1.0, 1.0]  # never a galaxy's own label through itself
