"""A small network saved as chapter 2 saves one, for tests of featurize and similar (no training)."""

from pathlib import Path

from helpers import network


def save_small_network(run: Path) -> Path:
    """An untrained, seeded resnet18 (tree head, 32 px) written to ``run``; returns ``run``."""
    network.save_model(network.build_model("resnet18", "tree", seed=0), run,
                       {"image_size": 32, "crop": 212, "mean": [0.1, 0.1, 0.1], "std": [0.2, 0.2, 0.2]})
    return run
