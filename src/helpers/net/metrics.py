"""How close predicted vote fractions are to the votes: the RMSE of chapter 2 (the Kaggle score).

Plain NumPy on ``(N, 37)`` arrays in :data:`helpers.data.schema.COLUMNS` order, whatever made them
(usually :func:`helpers.net.inference.predict`); this module imports none of the network's
modules. Over all answers (:func:`rmse`), per question (:func:`per_question_rmse`), and of
always predicting the training means (:func:`mean_baseline_rmse`), beside published reference
points on the real Galaxy Zoo (:data:`PUBLISHED_RMSE`). Intervals over galaxies are
:mod:`helpers.evaluate`'s job.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.data.schema import COLUMNS, QUESTIONS
from helpers.errors import ParameterError

__all__ = ["PUBLISHED_RMSE", "mean_baseline_rmse", "per_question_rmse", "rmse"]

N_OUT = len(COLUMNS)  # answers per galaxy (helpers.net.network.N_OUT, without importing torch)
#: Published hold-out RMSEs on the *real* Galaxy Zoo (reference points, not comparable to the mock).
PUBLISHED_RMSE: dict[str, float] = {
    "seed study: ResNet34, 8 epochs": 0.110,
    "Kaggle winner (Dieleman et al. 2015)": 0.0749,
}


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error over all galaxies and all 37 columns (the Kaggle score).

    >>> rmse(np.zeros((2, 37)), np.full((2, 37), 0.1))
    0.1
    """
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ParameterError(f"pred has shape {pred.shape} but target {target.shape}")
    return round(float(np.sqrt(np.mean((pred - target) ** 2))), 12)


def per_question_rmse(pred: np.ndarray, target: np.ndarray) -> pd.Series:
    """RMSE over each question's answer columns; index ``"Q1: <question text>"`` ... ``"Q11: ..."``.

    >>> s = per_question_rmse(np.zeros((2, 37)), np.full((2, 37), 0.1))
    >>> len(s), s.index[0][:4], float(s.iloc[0])
    (11, 'Q1: ', 0.1)
    """
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.ndim != 2 or pred.shape[1] != N_OUT:
        raise ParameterError(f"pred and target must both be (N, {N_OUT}); got {pred.shape} "
                             f"and {target.shape}")
    index = {c: i for i, c in enumerate(COLUMNS)}
    values, names = [], []
    for q in QUESTIONS.values():
        idx = [index[c] for c in q.columns]
        values.append(round(float(np.sqrt(np.mean((pred[:, idx] - target[:, idx]) ** 2))), 12))
        names.append(f"Q{q.number}: {q.text}")
    return pd.Series(values, index=pd.Index(names, name="question"), name="rmse")


def mean_baseline_rmse(train_targets: np.ndarray, valid_targets: np.ndarray) -> float:
    """RMSE on ``valid_targets`` of always predicting the training targets' column means.

    >>> mean_baseline_rmse(np.array([[0.0] * 37, [1.0] * 37]), np.full((3, 37), 0.5))
    0.0
    """
    train_targets = np.asarray(train_targets, dtype=np.float64)
    valid_targets = np.asarray(valid_targets, dtype=np.float64)
    mean = train_targets.mean(0, keepdims=True)
    return rmse(np.broadcast_to(mean, valid_targets.shape), valid_targets)
