"""Chapter 2 in a few calls: which galaxies train the network, which networks are trained, and
the training itself (:mod:`helpers.net.training` does the work, this module the bookkeeping).

- :func:`sample_galaxies`: a seeded sample of ``n_train`` labelled galaxies (the others are never
  seen by the network; chapters 3-7 score what it learned on them) as a :class:`Sample`;
- :func:`plan`: the networks to train, name -> (head, augmentation): one per head, and with an
  ``ablation`` the last head once more with that augmentation only;
- :func:`choose_lr`: the profile's learning rate, or fastai's range test when it sets none;
- :func:`train_all`: train every network of the plan from the same seed (:class:`Trained`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from helpers.data.schema import COLUMNS, ID_COLUMN, TRAIN_IMAGES
from helpers.errors import ParameterError


class Sample(NamedTuple):
    """The galaxies chapter 2 uses, in ``GalaxyID`` order, and every labelled galaxy of the run."""

    ids: np.ndarray
    targets: np.ndarray  # (N, 37) float32 vote fractions
    every_id: np.ndarray

    def paths(self, data_dir: str | Path) -> list[Path]:
        """The training images of the sample (``images_training_rev1/<GalaxyID>.jpg``)."""
        return [Path(data_dir) / TRAIN_IMAGES / f"{i}.jpg" for i in self.ids]

    def sets(self, split) -> pd.DataFrame:
        """Every labelled galaxy with its set (train, holdout or unused) for ``split.parquet``."""
        from helpers.run import split_frame

        return split_frame(self.every_id, self.ids[split.train], self.ids[split.valid])

    def describe(self, split, image_size: int) -> str:
        """One line: how many galaxies at what size, trained on, held out and never used.

        >>> s = Sample(np.arange(4), np.zeros((4, 37), np.float32), np.arange(6))
        >>> s.describe(type("S", (), {"train": [0, 1, 2], "valid": [3]}), 64)
        '4 galaxies at 64x64 px: 3 to train, 1 held out; 2 more never used here'
        """
        unused = len(self.every_id) - len(self.ids)
        return (f"{len(self.ids)} galaxies at {image_size}x{image_size} px: {len(split.train)} to "
                f"train, {len(split.valid)} held out; {unused} more never used here")


def sample_galaxies(labels: pd.DataFrame, n_train: int | None, *, seed: int = 42) -> Sample:
    """A seeded sample of ``n_train`` galaxies of chapter 1's ``labels`` (``None``: all).

    >>> t = pd.DataFrame({"GalaxyID": [5, 1, 3], **{c: [0.5] * 3 for c in COLUMNS}})
    >>> s = sample_galaxies(t, 2, seed=0)
    >>> len(s.ids), s.targets.shape, s.every_id.tolist()
    (2, (2, 37), [5, 1, 3])
    """
    every_id = labels[ID_COLUMN].to_numpy()
    table = labels
    if n_train is not None and n_train < len(labels):
        table = labels.sample(n=n_train, random_state=seed).sort_values(ID_COLUMN)
    return Sample(table[ID_COLUMN].to_numpy(), table[COLUMNS].to_numpy(dtype=np.float32), every_id)


def plan(heads: list[str], augment: str, ablation: str | None) -> dict[str, tuple[str, str]]:
    """The networks to train: name -> (head, augmentation). The last head is the one saved.

    >>> plan(["linear", "tree"], "nuisances", "rotations")
    {'linear': ('linear', 'nuisances'), 'tree': ('tree', 'nuisances'), 'tree_rotations': ('tree', 'rotations')}
    >>> plan(["tree"], "nuisances", None)
    {'tree': ('tree', 'nuisances')}
    """
    if not heads:
        raise ParameterError("heads is empty: name at least one head, e.g. ['tree']")
    planned = {head: (head, augment) for head in heads}
    if ablation is not None and ablation != augment:
        planned[f"{heads[-1]}_{ablation}"] = (heads[-1], ablation)
    return planned


def choose_lr(dls, lr: float | None, **learner: Any):
    """``(peak learning rate, the range test or None)``: the profile's ``lr``, or with ``lr=None``
    fastai's range test on a learner built with ``learner`` (:func:`training.find_lr`)."""
    from helpers.net import training

    if lr is not None:
        return float(lr), None
    found = training.find_lr(training.build_learner(dls, **learner))
    return found.lr, found


class Trained(NamedTuple):
    """The trained networks of a :func:`plan`: learners, per-epoch histories, training seconds."""

    learners: dict
    histories: dict[str, pd.DataFrame]
    seconds: dict[str, float]

    @property
    def history(self) -> pd.DataFrame:
        """Every network's history in one table (a ``network`` column first)."""
        return pd.concat(self.histories, names=["network"]).reset_index(level=0)


def train_all(planned: dict[str, tuple[str, str]], images: np.ndarray, sample: Sample, dls, *,
              augment: str, epochs: int, lr: float, valid_pct: float, batch_size: int, seed: int,
              **learner: Any) -> Trained:
    """Train every network of ``planned`` from the same seed for the same epochs, so that they
    differ only in their head or augmentation. ``dls`` serves the networks trained with
    ``augment``; others get loaders of their own over the same split. ``learner``: the rest of
    :func:`training.build_learner`'s options (arch, pretrained, mixed_precision, channels_last).
    """
    from helpers.net import training

    learners, histories, seconds = {}, {}, {}
    for name, (head, augmentation) in planned.items():
        loaders = dls if augmentation == augment else training.make_dataloaders(
            images, sample.targets, valid_pct=valid_pct, seed=seed, bs=batch_size, ids=sample.ids,
            augment=augmentation, stats=dls.gc_info["stats"])
        learners[name] = training.build_learner(loaders, head=head, seed=seed, **learner)
        started = time.perf_counter()
        histories[name] = training.train(learners[name], epochs=epochs, lr=lr)
        seconds[name] = time.perf_counter() - started
    return Trained(learners, histories, seconds)


__all__ = ["Sample", "Trained", "sample_galaxies", "plan", "choose_lr", "train_all"]
