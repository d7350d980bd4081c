"""The RMSE scores of predicted vote fractions (helpers.net.metrics)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.errors import ParameterError
from helpers.net import metrics


def test_metrics():
    rng = np.random.default_rng(0)
    target = rng.random((20, 37))
    assert metrics.rmse(target, target) == 0.0
    assert metrics.rmse(target + 0.1, target) == pytest.approx(0.1)
    per_q = metrics.per_question_rmse(target + 0.1, target)
    assert len(per_q) == 11 and per_q.index[0].startswith("Q1: Is the galaxy")
    assert np.allclose(per_q.to_numpy(), 0.1)
    base = metrics.mean_baseline_rmse(target[:10], target[10:])
    assert base == pytest.approx(metrics.rmse(np.broadcast_to(target[:10].mean(0), (10, 37)),
                                              target[10:]))
    with pytest.raises(ParameterError):
        metrics.rmse(target[:, :5], target)
