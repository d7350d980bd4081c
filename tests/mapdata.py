"""Random galaxy-map points shared by the map tests (tests/test_interactive.py and the browser
test's small book): a table with coordinates, IDs, labels and two clusterings, and images."""

import numpy as np
import pandas as pd

from helpers.book.plots import LABEL_COLORS

COLOURINGS = ["label", "k-means k=8 (PCA-7)", "HDBSCAN (t-SNE)"]


def random_points(rng: np.random.Generator, n: int, image_size: int = 32) -> tuple[pd.DataFrame, np.ndarray]:
    points = pd.DataFrame({
        "x": rng.normal(size=n), "y": rng.normal(size=n),
        "GalaxyID": rng.choice(np.arange(100000, 999999), n, replace=False),
        "label": rng.choice(list(LABEL_COLORS), n),
        "k-means k=8 (PCA-7)": rng.integers(0, 8, n),
        "HDBSCAN (t-SNE)": rng.integers(-1, 12, n),
    })
    images = rng.integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8)
    return points, images
