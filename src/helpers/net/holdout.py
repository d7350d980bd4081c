"""How good chapter 2's networks are on the galaxies they held out, next to honest baselines.

:func:`evaluate` predicts the hold-out galaxies with every trained network (and the saved one
with 8-fold test-time augmentation), scores each by the RMSE of the 37 vote fractions with its
95% interval, beside always predicting the training mean, and compares on the same galaxies
(paired intervals): the saved network against the mean, and two heads against each other.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from helpers import scores, sentences
from helpers.scores import Estimate

MEAN = "training mean (no image)"


class Holdout(NamedTuple):
    """The held-out galaxies' images and targets, and the training targets (for the mean)."""

    images: np.ndarray
    targets: np.ndarray
    train_targets: np.ndarray


def holdout(images: np.ndarray, targets: np.ndarray, split) -> Holdout:
    """The hold-out of ``split`` (``dls.split``: train and valid row positions)."""
    return Holdout(images[split.valid], targets[split.valid], targets[split.train])


class Scores(NamedTuple):
    """What :func:`evaluate` measured."""

    predictions: dict[str, np.ndarray]  # network name -> hold-out predictions
    estimates: dict[str, Estimate]  # label (network, TTA, the mean) -> RMSE with interval
    networks: dict[str, Estimate]  # network name -> RMSE with interval
    mean_rmse: float  # always predicting the training mean
    versus_mean: Estimate  # saved network minus the mean, paired (negative: better)
    head_difference: Estimate | None  # first head minus second, paired (two heads only)
    head_sentence: str

    def table(self, data_kind: str) -> pd.DataFrame:
        """Every estimate beside the published RMSEs on the real Galaxy Zoo (for scale)."""
        rows = [{"model": label, "hold-out RMSE": round(e.value, 4), "95% interval": e.format(".4f"),
                 "data": data_kind} for label, e in self.estimates.items()]
        rows += [{"model": label, "hold-out RMSE": value, "95% interval": "",
                  "data": "real (published)"} for label, value in scores.PUBLISHED_RMSE.items()]
        return pd.DataFrame(rows)

    def verdict_line(self) -> str:
        """Whether every network beats the mean prediction (its interval below the mean's RMSE)."""
        behind = [name for name, e in self.networks.items() if e.high >= self.mean_rmse]
        if not behind:
            return "every network beats the mean prediction"
        return (f"WARNING: {', '.join(behind)} do(es) not beat the mean prediction: train longer "
                "or on more galaxies")


def evaluate(learners: dict, held: Holdout, *, arch: str, saved: str, heads: list[str],
             tta: bool = True, seed: int = 42) -> Scores:
    """Predict and score the hold-out with every network of ``learners`` (see the module)."""
    from helpers.net import inference

    predictions = {name: inference.predict(learn, held.images) for name, learn in learners.items()}
    shown = {f"{arch}, {name}": p for name, p in predictions.items()}
    if tta:
        shown[f"{arch}, {saved} + 8-fold TTA"] = inference.predict(learners[saved], held.images, tta=True)
    shown[MEAN] = scores.mean_prediction(held.train_targets, len(held.targets))
    estimates = {label: scores.rmse_estimate(p, held.targets, seed=seed) for label, p in shown.items()}
    networks = {name: estimates[f"{arch}, {name}"] for name in learners}
    versus_mean = scores.rmse_difference(predictions[saved], shown[MEAN], held.targets, seed=seed)
    head_difference, head_sentence = None, "Only one head was trained."
    if len(heads) >= 2:
        a, b = heads[0], heads[1]
        head_difference = scores.rmse_difference(predictions[a], predictions[b], held.targets, seed=seed)
        head_sentence = sentences.compare_sentence(
            f"the {a} head", networks[a], f"the {b} head", networks[b], head_difference,
            what="hold-out RMSE", spec=".4f", higher_is_better=False, singular=True)
    return Scores(predictions, estimates, networks, scores.mean_baseline_rmse(held.train_targets, held.targets),
                  versus_mean, head_difference, head_sentence)


class Stressed(NamedTuple):
    """The stress test of the saved network (and of the ablation's network, when trained)."""

    test: object  # helpers.net.augment.StressTest
    difference: Estimate | None  # saved minus ablation, averaged stressed RMSE (two networks)
    sentence: str


def stress(learners: dict, planned: dict[str, tuple[str, str]], held: Holdout, *, saved: str,
           augment: str, seed: int = 42) -> Stressed:
    """Score the saved network (and the ablation's, the last of ``planned`` when it differs in
    augmentation) on the hold-out with each nuisance pushed beyond its training range."""
    from helpers.net import augment as nuisances
    from helpers.net import inference

    names = {f"{saved}, {augment}": (saved, f"the network trained {nuisances.TRAINED[augment]}")}
    last, (_, other_augment) = list(planned.items())[-1]
    if other_augment != augment:
        names[f"{saved}, {other_augment}"] = (last, f"the one trained {nuisances.TRAINED[other_augment]}")
    predictors = {column: (lambda x, learn=learners[name]: inference.predict(learn, x))
                  for column, (name, _) in names.items()}
    test = nuisances.stress_test(predictors, held.images, held.targets, seed=seed)
    difference = test.difference(*names) if len(names) == 2 else None
    return Stressed(test, difference, test.sentence({column: said for column, (_, said) in names.items()}))


def per_question(predictions: dict[str, np.ndarray], held: Holdout) -> pd.DataFrame:
    """Hold-out RMSE per question (rows) for each network (columns)."""
    return pd.DataFrame({name: scores.per_question_rmse(p, held.targets) for name, p in predictions.items()})


def obeys_tree(predictions: np.ndarray, tolerance: float = 1e-4) -> bool:
    """Whether predicted fractions satisfy every decision-tree sum (the tree head's promise)."""
    from helpers.net.network import tree_sums

    return bool(np.abs(tree_sums(predictions)).max() < tolerance)


__all__ = ["Holdout", "Scores", "Stressed", "holdout", "evaluate", "stress", "per_question", "obeys_tree", "MEAN"]
