"""Small networks for the tests: one saved as chapter 2 saves one (no training), for featurize
and similar; and a few dozen in-memory images with one net trained on them, which the tests of
helpers.net.network, helpers.net.training and helpers.net.inference share (built once per
session by the fixtures of tests/conftest.py)."""

from pathlib import Path

import numpy as np
import torch

from helpers.net import network, training

SIZE = 32
ARCH = "resnet18"


def save_small_network(run: Path) -> Path:
    """An untrained, seeded resnet18 (tree head, 32 px) written to ``run``; returns ``run``."""
    network.save_model(network.build_model("resnet18", "tree", seed=0), run,
                       {"image_size": 32, "crop": 212, "mean": [0.1, 0.1, 0.1], "std": [0.2, 0.2, 0.2]})
    return run


def _tree_targets(n: int, rng: np.random.Generator, brightness: np.ndarray) -> np.ndarray:
    """Targets that respect the tree and depend on the images (so there is something to learn)."""
    proto = network.TreeOutput()(torch.randn(2, 37) * 2).numpy().astype(np.float64)
    w = brightness[:, None]
    return (w * proto[0] + (1 - w) * proto[1]).astype(np.float32)


def small_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """48 images of SIZE px with an off-centre blob whose brightness the targets follow: (images,
    targets, ids)."""
    rng = np.random.default_rng(0)
    n = 48
    images = rng.integers(0, 60, (n, SIZE, SIZE, 3), dtype=np.uint8)
    bright = rng.random(n)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    blob = np.exp(-((yy - SIZE / 2) ** 2 + (xx - SIZE / 3) ** 2) / 30.0)  # off-centre: rotations show
    images = np.clip(images + (bright[:, None, None, None] * 190 * blob[None, :, :, None]), 0, 255)
    images = images.astype(np.uint8)
    targets = _tree_targets(n, rng, bright)
    ids = np.arange(100000, 100000 + n)
    return images, targets, ids


def train_small(data: tuple, run_dir: Path) -> tuple:
    """One epoch of a seeded resnet18 (linear head) on ``small_data()``, saved to ``run_dir``:
    (dls, learn, history, run_dir)."""
    images, targets, ids = data
    network.seed_everything(42)
    dls = training.make_dataloaders(images, targets, bs=16, seed=42, ids=ids)
    learn = training.build_learner(dls, arch=ARCH, head="linear", seed=42)
    history = training.train(learn, epochs=1, lr=2e-3)
    network.save_model(learn, run_dir, {"crop": 212, "note": "test"})
    return dls, learn, history, run_dir
