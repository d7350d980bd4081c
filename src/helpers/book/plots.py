"""Figures shared by the chapters, with one label palette used everywhere.

Related labels share a hue: round galaxies are warm (reds/oranges), edge-on disks green,
face-on disks blue, star/artifact grey; "uncertain" is a pale grey.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.data.schema import ALL_LABELS, QUESTIONS

LABEL_COLORS: dict[str, str] = {
    "round: completely round": "#b2182b",
    "round: in between": "#ef6548",
    "round: cigar-shaped": "#fdae6b",
    "edge-on disk: rounded bulge": "#006d2c",
    "edge-on disk: boxy bulge": "#41ab5d",
    "edge-on disk: no bulge": "#a1d99b",
    "disk: spiral": "#08519c",
    "disk: no spiral": "#6baed6",
    "star or artifact": "#525252",
    "uncertain": "#d9d9d9",
}
assert set(LABEL_COLORS) == set(ALL_LABELS)


#: The PNG/JPEG text field in which every figure of a chapter records its smallest text, in
#: pixels of the image (tests/test_book_browser.py checks it is readable at the book's width).
TEXT_SIZE_KEY = "smallest-text-px"


def smallest_text_px(fig) -> float:
    """Height in pixels (at the figure's own resolution) of the smallest visible text it draws:
    tick labels, titles, legends, annotations (``inf`` for a figure without text).

    >>> fig, ax = plt.subplots(figsize=(2, 2), dpi=72)
    >>> _ = ax.set_title("t", fontsize=12); _ = ax.text(0, 0, "small", fontsize=6)
    >>> smallest_text_px(fig)
    6.0
    >>> plt.close(fig)
    """
    from matplotlib.text import Text

    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_alpha() != 0]
    return min(sizes) * fig.dpi / 72 if sizes else float("inf")


def png_bytes(fig) -> bytes:
    """The figure as the notebook shows it (PNG, tight box), recording :func:`smallest_text_px`."""
    from IPython.core.pylabtools import print_figure

    return print_figure(fig, "png", bbox_inches="tight",
                        metadata={TEXT_SIZE_KEY: f"{smallest_text_px(fig):.2f}"})


def style() -> None:
    """One matplotlib style for every chapter (deterministic PNGs, readable at book width)."""
    plt.rcParams.update({
        "figure.dpi": 80,
        "savefig.dpi": 80,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": "medium",
        "font.size": 10,
    })


def label_bar(counts: pd.Series, ax=None, title: str = "Galaxies per label"):
    """Horizontal bar chart of label counts in the palette, with counts printed on the bars."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.35 * len(counts) + 1))
    labels = list(counts.index)
    ax.barh(labels, counts.to_numpy(), color=[LABEL_COLORS.get(lab, "#999999") for lab in labels])
    ax.invert_yaxis()
    total = max(int(counts.sum()), 1)
    for y, value in enumerate(counts.to_numpy()):
        ax.text(value, y, f" {value} ({100 * value / total:.1f}%)", va="center", fontsize=8)
    ax.set_xlabel("galaxies")
    ax.set_title(title)
    ax.set_xlim(0, counts.max() * 1.3 if counts.max() > 0 else 1)
    return ax


def vote_histograms(frame: pd.DataFrame, questions: Sequence[int] = (1, 2, 4, 7, 9), bins: int = 20):
    """One panel per question: histograms of each answer's vote fraction, conditional on reaching it.

    Conditional fractions (answer / parent) show how decisive volunteers were at that step.
    """
    fig, axes = plt.subplots(1, len(questions), figsize=(3.2 * len(questions), 3.1), sharey=False)
    edges = np.linspace(0, 1, bins + 1)
    for ax, q in zip(np.atleast_1d(axes), questions, strict=True):
        question = QUESTIONS[q]
        parent = frame[question.parent].to_numpy() if question.parent else np.ones(len(frame))
        reached = parent > 0.05
        for col, name in zip(question.columns, question.answers, strict=True):
            cond = frame[col].to_numpy()[reached] / parent[reached]
            ax.hist(np.clip(cond, 0, 1), bins=edges, histtype="step", linewidth=1.5, label=name)
        ax.set_title(textwrap.fill(f"Q{q}: {question.text}", 36), fontsize=8)
        ax.set_xlabel("fraction of votes at this question")
        ax.legend(fontsize=7, frameon=False)
    np.atleast_1d(axes)[0].set_ylabel("galaxies")
    fig.tight_layout()
    return fig


def thumbnail(source: str | Path | np.ndarray, size: int = 96, crop: int = 212) -> np.ndarray:
    """A galaxy as the network sees it (:func:`helpers.data.images.cutout`), at ``size`` px for a figure.

    ``source`` is an image file (any format :func:`helpers.data.images.read` takes) or an ``HxWx3``
    uint8 picture; resized bicubic, which looks sharper in a figure than the network's bilinear.
    """
    from helpers.data import images

    picture = np.asarray(source, dtype=np.uint8) if isinstance(source, np.ndarray) else images.read(source)
    return images.cutout(picture, size, crop, resample="bicubic")


def galaxy_grid(
    table: pd.DataFrame,
    by: str = "label",
    per_group: int = 6,
    seed: int = 0,
    order: Sequence[str] | None = None,
    caption=None,
):
    """A grid of example galaxies: one row per value of ``by``, ``per_group`` random members each.

    ``table`` needs ``image_path`` and the ``by`` column. ``caption(row)`` may return a short text
    drawn under each stamp (e.g. the leaf probability).
    """
    groups = [g for g in (order or sorted(table[by].unique())) if (table[by] == g).any()]
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(groups), per_group, figsize=(1.3 * per_group + 1.6, 1.35 * len(groups)),
                             squeeze=False)
    for r, group in enumerate(groups):
        members = table[table[by] == group]
        pick = members.iloc[rng.permutation(len(members))[:per_group]]
        for c in range(per_group):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(pick):
                row = pick.iloc[c]
                ax.imshow(thumbnail(row["image_path"]))
                if caption is not None:
                    ax.set_xlabel(caption(row), fontsize=7, labelpad=1)
        axes[r, 0].set_ylabel(group.replace(": ", ":\n"), rotation=0, ha="right", va="center", fontsize=8,
                              color=LABEL_COLORS.get(group, "black"))
    fig.subplots_adjust(left=0.17, right=0.99, top=0.99, bottom=0.02, wspace=0.05, hspace=0.25)
    return fig


def threshold_curve(sweep: pd.DataFrame):
    """The share of galaxies a label threshold would call uncertain (:func:`labels.threshold_sweep`)."""
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(sweep["threshold"], sweep["leaf"], label="leaf probability below threshold")
    ax.plot(sweep["threshold"], sweep["step"], label="weakest step below threshold")
    ax.set(xlabel="agreement threshold", ylabel="share called uncertain")
    ax.legend(frameon=False, fontsize=8)
    return fig


def label_gallery(table: pd.DataFrame, per_group: int = 6, seed: int = 0):
    """Random members of each label in the palette's order, captioned with their leaf probability
    (``table``: ``image_path``, ``label``, ``leaf_probability``)."""
    present = set(table["label"])
    order = [lab for lab in ALL_LABELS if lab in present]
    return galaxy_grid(table, by="label", per_group=per_group, seed=seed, order=order,
                       caption=lambda row: f"p={row['leaf_probability']:.2f}")


def confusion_heatmap(table: pd.DataFrame, ax=None, title: str = "", normalize: bool = True):
    """Heatmap of a cross-tabulation (rows: reference, columns: prediction), annotated with counts."""
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * table.shape[1] + 3, 0.45 * table.shape[0] + 1.5))
    values = table.to_numpy(dtype=float)
    shown = values / np.maximum(values.sum(axis=1, keepdims=True), 1) if normalize else values
    ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None, aspect="auto")
    for (i, j), count in np.ndenumerate(values):
        if count:
            ax.text(j, i, f"{int(count)}", ha="center", va="center", fontsize=7,
                    color="white" if shown[i, j] > 0.6 else "black")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
    ax.set_xlabel(table.columns.name or "")
    ax.set_ylabel(table.index.name or "")
    ax.set_title(title)
    return ax


def label_scatter(xy: np.ndarray, labels: pd.Series, ax=None, s: float = 6, legend: bool = True):
    """A 2-D map of galaxies coloured by label in the shared palette; unlabelled ones as crosses."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 5))
    lab = labels.to_numpy(dtype=object)
    for name in ALL_LABELS:
        rows = lab == name
        if rows.any():
            ax.scatter(xy[rows, 0], xy[rows, 1], s=s, alpha=0.7, color=LABEL_COLORS[name], label=name)
    unlabelled = pd.isna(lab)
    if unlabelled.any():
        ax.scatter(xy[unlabelled, 0], xy[unlabelled, 1], s=s, marker="x", color="black", label="no votes")
    if legend:
        ax.legend(fontsize=7, markerscale=2, frameon=False, bbox_to_anchor=(1, 1))
    return ax


def cluster_colors(n: int) -> list[str]:
    """``n`` distinct, deterministic colours for cluster numbers 0..n-1 (noise is drawn grey)."""
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [matplotlib.colors.to_hex(cmap(i % cmap.N)) for i in range(n)]


NOISE_COLOR = "#cccccc"


def cluster_scatter(xy: np.ndarray, assign: np.ndarray, ax=None, s: float = 3, title: str = ""):
    """A 2-D map coloured by cluster number; noise (-1) in light grey, drawn first."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    assign = np.asarray(assign)
    noise = assign < 0
    ax.scatter(xy[noise, 0], xy[noise, 1], s=s, color=NOISE_COLOR, linewidths=0)
    n = int(assign.max()) + 1 if (~noise).any() else 0
    colors = np.array(cluster_colors(max(n, 1)))
    ax.scatter(xy[~noise, 0], xy[~noise, 1], s=s, c=colors[assign[~noise]], linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    return ax


def score_heatmap(table: pd.DataFrame, ax=None, title: str = "", vmin: float = 0.0, vmax: float = 1.0,
                  fmt: str = "{:.2f}"):
    """Heatmap of a score matrix (ARI, AMI, ...) annotated with its values."""
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * table.shape[1] + 2.5, 0.4 * table.shape[0] + 1.5))
    values = table.to_numpy(dtype=float)
    ax.imshow(values, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    if values.size <= 200:
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=6.5,
                    color="black" if v > vmin + 0.6 * (vmax - vmin) else "white")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=7)
    ax.set_title(title, fontsize=9)
    return ax


def cluster_gallery(galaxies: pd.DataFrame, members: dict[int, tuple[list[int], list[int]]],
                    mix: pd.DataFrame, size: int = 72):
    """One row per cluster: its galaxies nearest the centre, a gap, then random members.

    The row's caption gives the cluster's size and its two most common labels (from ``mix``,
    see :func:`helpers.codes.cluster.label_mix`). ``galaxies`` needs ``image_path``.
    """
    width = max(len(c) + len(r) for c, r in members.values()) + 1
    fig, axes = plt.subplots(len(members), width, figsize=(1.05 * width + 2.2, 1.1 * len(members)),
                             squeeze=False)
    for r, (cluster, (central, random)) in enumerate(members.items()):
        cells = [*central, None, *random]
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            row = cells[c] if c < len(cells) else None
            if row is not None:
                ax.imshow(thumbnail(galaxies["image_path"].iloc[row], size=size))
        shares = mix.loc[cluster].drop("galaxies").sort_values(ascending=False)
        top = ", ".join(f"{share:.0%} {name}" for name, share in shares.head(2).items() if share > 0)
        caption = f"cluster {cluster}\n{int(mix.loc[cluster, 'galaxies'])} galaxies\n" + textwrap.fill(top, 28)
        axes[r, 0].set_ylabel(caption, rotation=0, ha="right", va="center", fontsize=7)
    axes[0, 0].set_title("nearest the centre", fontsize=8, loc="left")
    first_random = len(members[next(iter(members))][0]) + 1
    if first_random < width:
        axes[0, first_random].set_title("random members", fontsize=8, loc="left")
    fig.subplots_adjust(left=0.2, right=0.99, top=0.93, bottom=0.02, wspace=0.05, hspace=0.12)
    return fig


def sheet(queries: Sequence, neighbours: Sequence[Sequence], *, captions: Sequence[Sequence[str]] | None = None,
          query_captions: Sequence[str] | None = None, row_labels: Sequence[str] | None = None,
          query_title: str = "query", title: str = "", size: int = 96):
    """Query galaxies and their nearest neighbours: one row per query, its picture first (framed),
    then its neighbours' pictures, nearest first, each with a caption under it.

    Pictures are what :func:`thumbnail` takes (an image file or an ``HxWx3`` uint8 array); a
    query picture of ``None`` leaves its cell empty (a query known only by its code). A caption
    or row label that is a label name is drawn in the label's colour, broken after its colon.
    The top row is titled ``query_title``, ``neighbour 1``, ...; ``row_labels`` go left of the
    rows. Chapter 3's neighbours of one galaxy per label (its notebook call):

    >>> pictures = np.zeros((3, 64, 64, 3), np.uint8)  # stand-ins for galaxies["image_path"]
    >>> names = np.array(["disk: spiral", "disk: spiral", "star or artifact"])
    >>> neighbours = np.array([[1, 2], [0, 2], [1, 0]])  # features.nearest_neighbours(codes, k=2)
    >>> queries = [0, 2]
    >>> fig = sheet(pictures[queries], pictures[neighbours[queries]], query_captions=names[queries],
    ...             captions=names[neighbours[queries]], query_title="galaxy")
    >>> fig.axes[1].get_xlabel().splitlines(), fig.axes[1].xaxis.label.get_color()
    (['disk:', 'spiral'], '#08519c')
    >>> plt.close(fig)
    """
    n = len(queries)
    if len(neighbours) != n:
        raise ValueError(f"{n} queries but {len(neighbours)} rows of neighbours")
    width = 1 + max((len(row) for row in neighbours), default=0)
    cell, gap = 1.3, 0.4  # inches: a picture, and the caption under it
    left, top = (1.5 if row_labels is not None else 0.1), (0.6 if title else 0.3)
    fig_w, fig_h = left + width * cell + 0.1, top + n * (cell + gap)
    fig, axes = plt.subplots(n, width, figsize=(fig_w, fig_h), squeeze=False)
    fig.subplots_adjust(left=left / fig_w, right=1 - 0.1 / fig_w, top=1 - top / fig_h, bottom=gap / fig_h,
                        wspace=0.05, hspace=gap / cell)
    for r in range(n):
        pictures = [queries[r], *neighbours[r]]
        texts = [query_captions[r] if query_captions is not None else "",
                 *(captions[r] if captions is not None else [""] * len(neighbours[r]))]
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(c == 0)
                spine.set_linewidth(2)
            if c < len(pictures):
                if pictures[c] is not None:
                    ax.imshow(thumbnail(pictures[c], size=size))
                text, colour = _caption(texts[c])
                ax.set_xlabel(text, fontsize=6, color=colour, labelpad=1)
        if row_labels is not None:
            text, colour = _caption(row_labels[r])
            axes[r, 0].set_ylabel(text, rotation=0, ha="right", va="center", fontsize=7, color=colour)
    axes[0, 0].set_title(query_title, fontsize=8)
    for c in range(1, width):
        axes[0, c].set_title(f"neighbour {c}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def _caption(text) -> tuple[str, str]:
    """A caption's text and colour: a label name in its palette colour, broken after its colon."""
    text = "" if text is None or text is pd.NA or (isinstance(text, float) and np.isnan(text)) else str(text)
    if text in LABEL_COLORS:
        return text.replace(": ", ":\n"), LABEL_COLORS[text]
    return text, "black"


def show_photo(fig, quality: int = 85) -> None:
    """Show a figure made of galaxy pictures as a JPEG (in a notebook) and close it.

    A grid of noisy galaxy cutouts compresses badly as PNG (a chapter's gallery was 0.9 MB);
    as JPEG at ``quality`` 85 it looks the same at a fifth of the size, which keeps the
    committed notebooks and the book light. The bytes are deterministic (Agg + Pillow).
    """
    import io

    from IPython.display import Image, display
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    text_px = smallest_text_px(fig)
    fig.savefig(buffer, format="png", dpi=fig.dpi, facecolor="white", bbox_inches="tight")
    plt.close(fig)
    rgb = PILImage.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    jpeg = io.BytesIO()
    rgb.save(jpeg, format="JPEG", quality=int(quality), optimize=True, progressive=False,
             comment=f"{TEXT_SIZE_KEY}={text_px:.2f}".encode())
    display(Image(data=jpeg.getvalue(), format="jpeg"))
