"""Figures of galaxy pictures are shown as JPEG: light, deterministic, and the figure is closed."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from helpers import plots


def noisy_sheet(seed: int = 0):
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(2, 4, figsize=(6, 3))
    for ax in axes.flat:
        ax.imshow(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
        ax.set_axis_off()
    return fig


def test_show_photo_displays_a_jpeg_smaller_than_the_png_and_closes_the_figure(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    fig = noisy_sheet()
    png = io.BytesIO()
    fig.savefig(png, format="png", bbox_inches="tight")
    assert plots.show_photo(fig) is None  # nothing for the cell to display a second time
    assert not plt.fignum_exists(fig.number)
    [image] = shown
    assert image.format == "jpeg"
    decoded = Image.open(io.BytesIO(image.data))
    assert decoded.format == "JPEG" and decoded.mode == "RGB" and decoded.size[0] > 300
    assert len(image.data) < len(png.getvalue()) / 2
    plots.show_photo(noisy_sheet())
    assert shown[1].data == image.data  # the same figure gives the same bytes
