"""Figures of galaxy pictures: the sheet of queries and neighbours, and JPEG display (light,
deterministic, the figure closed)."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from helpers.book import plots


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


def test_sheet_draws_one_row_per_query_with_captions_and_the_label_palette():
    pictures = np.random.default_rng(0).integers(0, 255, (5, 40, 40, 3), dtype=np.uint8)
    fig = plots.sheet([pictures[0], None], [pictures[1:4], pictures[2:4]],
                      captions=[["disk: spiral", "0.99", "star or artifact"], ["a", "b"]],
                      query_captions=["query one", float("nan")], row_labels=["disk: no spiral", "other"],
                      query_title="new galaxy", title="neighbours")
    axes = np.array(fig.axes).reshape(2, 4)
    assert [ax.get_title() for ax in axes[0]] == ["new galaxy", "neighbour 1", "neighbour 2", "neighbour 3"]
    assert axes[0, 1].get_xlabel() == "disk:\nspiral"
    assert axes[0, 1].xaxis.label.get_color() == plots.LABEL_COLORS["disk: spiral"]
    assert axes[0, 2].get_xlabel() == "0.99" and axes[0, 0].get_xlabel() == "query one"
    assert axes[1, 0].get_xlabel() == "" and not axes[1, 0].images  # no query picture: an empty frame
    assert len(axes[0, 3].images) == 1 and not axes[1, 3].images  # a shorter row leaves cells empty
    assert axes[0, 0].yaxis.label.get_color() == plots.LABEL_COLORS["disk: no spiral"]
    assert axes[0, 0].spines["left"].get_visible() and not axes[0, 1].spines["left"].get_visible()
    assert fig._suptitle.get_text() == "neighbours"
    plt.close(fig)
    with pytest.raises(ValueError, match="2 queries but 1 rows"):
        plots.sheet([pictures[0], pictures[1]], [pictures[2:4]])
