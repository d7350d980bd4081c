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


#: The width a figure may take in the book's column without being scaled down (688 px at
#: 1280 px, at the 80 dpi of :func:`style`), and the smallest font that stays readable there
#: (8 pt = 8.9 px; tests/test_book_browser.py wants 8 px on screen).
BOOK_WIDTH_IN = 8.4
SMALLEST_PT = 8


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
    ncols = min(3, len(questions))
    nrows = -(-len(questions) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(BOOK_WIDTH_IN, 3.3 * nrows), squeeze=False)
    for ax in axes.ravel()[len(questions):]:
        ax.set_visible(False)
    edges = np.linspace(0, 1, bins + 1)
    for ax, q in zip(axes.ravel(), questions, strict=False):
        question = QUESTIONS[q]
        parent = frame[question.parent].to_numpy() if question.parent else np.ones(len(frame))
        reached = parent > 0.05
        for col, name in zip(question.columns, question.answers, strict=True):
            cond = frame[col].to_numpy()[reached] / parent[reached]
            ax.hist(np.clip(cond, 0, 1), bins=edges, histtype="step", linewidth=1.5, label=name)
        ax.set_title(textwrap.fill(f"Q{q}: {question.text}", 30), fontsize=SMALLEST_PT)
        ax.set_xlabel("fraction of votes here", fontsize=SMALLEST_PT)
        ax.tick_params(labelsize=SMALLEST_PT)
        ax.legend(fontsize=SMALLEST_PT, frameon=False)
    for row in axes:
        row[0].set_ylabel("galaxies")
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
    fig, axes = plt.subplots(len(groups), per_group, figsize=(1.1 * per_group + 1.8, 1.2 * len(groups)),
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
                    ax.set_xlabel(caption(row), fontsize=8, labelpad=1)
        axes[r, 0].set_ylabel(group.replace(": ", ":\n"), rotation=0, ha="right", va="center", fontsize=8,
                              color=LABEL_COLORS.get(group, "black"))
    fig.subplots_adjust(left=0.17, right=0.99, top=0.99, bottom=0.02, wspace=0.05, hspace=0.25)
    return fig


def batch_strip(batch, n: int = 8):
    """The first ``n`` images of a training batch as the network sees them (each stretched to
    its own range: the batch is normalised)."""
    fig, axes = plt.subplots(1, n, figsize=(8, 1.2))
    for ax, img in zip(axes, batch[:n].cpu(), strict=False):
        img = img.permute(1, 2, 0).numpy()
        ax.imshow((img - img.min()) / (img.max() - img.min() + 1e-9))
        ax.axis("off")
    return fig


def lr_curve(found):
    """fastai's learning-rate range test: the loss against the rate, and the suggestion."""
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.semilogx(found.lrs, found.losses)
    ax.axvline(found.lr, color="C3", linestyle="--", label=f"suggestion {found.lr:.1e}")
    ax.set(xlabel="learning rate", ylabel="training loss (MSE)")
    ax.legend(frameon=False)
    return fig


def training_curves(histories: dict[str, pd.DataFrame]):
    """Training and hold-out loss, and the hold-out RMSE, per epoch for every network."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3))
    for name, h in histories.items():
        ax1.plot(h["epoch"], h["train_loss"], label=f"{name}: train")
        ax1.plot(h["epoch"], h["valid_loss"], "--", label=f"{name}: hold-out")
        ax2.plot(h["epoch"], h["valid_rmse"], marker="o", ms=3, label=name)
    ax1.set(xlabel="epoch", ylabel="MSE", title="loss")
    ax2.set(xlabel="epoch", ylabel="RMSE", title="hold-out RMSE")
    for ax in (ax1, ax2):
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def per_question_bars(table: pd.DataFrame):
    """Hold-out RMSE per question (rows) for each network (columns)."""
    ax = table.plot.barh(figsize=(5.2, 4.5))
    ax.invert_yaxis()
    ax.set_xlabel("hold-out RMSE")
    ax.legend(frameon=False, fontsize=8)
    return ax.figure


def pca_scatter(xy: np.ndarray, explained: Sequence[float], labels: pd.Series):
    """The first two principal components of the codes, coloured by label."""
    ax = label_scatter(xy, labels)
    ax.set(xlabel=f"PC1 ({explained[0]:.0%} of variance)", ylabel=f"PC2 ({explained[1]:.0%})")
    return ax.figure


def neighbour_sheet(galaxies: pd.DataFrame, neighbours: np.ndarray, queries: Sequence[int]):
    """For each query galaxy (a row of ``galaxies``), its nearest galaxies, captioned by label."""
    pictures = galaxies["image_path"].to_numpy()
    names = galaxies["label"].fillna("no votes").to_numpy()
    return sheet(pictures[queries], pictures[neighbours[queries]], query_captions=names[queries],
                 captions=names[neighbours[queries]], query_title="galaxy")


def variance_bars(share: np.ndarray, shown: int = 20):
    """Each principal component's share of the variance, and the cumulative share."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    shown = min(shown, len(share))
    x = np.arange(1, shown + 1)
    ax.bar(x, share[:shown], color="#6baed6", label="each component")
    ax.plot(x, np.cumsum(share[:shown]), "o-", color="#08519c", ms=3, label="cumulative")
    ax.set(xlabel="principal component", ylabel="share of variance", ylim=(0, 1.02))
    ax.legend(frameon=False, fontsize=8)
    return fig


def map_grid(maps: dict[str, np.ndarray], labels: pd.Series, trust: dict[str, float]):
    """The 2-D maps side by side (two per row), coloured by label, titled with trustworthiness."""
    rows = -(-len(maps) // 2)
    fig, axes = plt.subplots(rows, 2, figsize=(8.4, 4.1 * rows), squeeze=False)
    for ax, (name, xy) in zip(axes.flat, maps.items(), strict=False):
        label_scatter(xy, labels, ax=ax, s=4, legend=False)
        ax.set_title(f"{name} (trustworthiness {trust[name]:.3f})")
        ax.set_xticks([])
        ax.set_yticks([])
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=3, fontsize=8, markerscale=3, frameon=False)
    fig.subplots_adjust(bottom=0.13, hspace=0.12, wspace=0.05)
    return fig


def truth_panel(xy: np.ndarray, labels: pd.Series, truth: pd.Series, name: str = "t-SNE"):
    """One map coloured by the vote labels and by the mock's drawn morphology, side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.4))
    label_scatter(xy, labels, ax=axes[0], s=4, legend=False)
    label_scatter(xy, truth, ax=axes[1], s=4, legend=False)
    axes[0].set_title(f"{name}, coloured by the vote label")
    axes[1].set_title(f"{name}, by the drawn morphology")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    handles, names = axes[1].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=3, fontsize=8, markerscale=3, frameon=False)
    fig.subplots_adjust(bottom=0.2, wspace=0.05)
    return fig


def elbow_curves(curves: pd.DataFrame):
    """k-means' inertia (share of k=1's) against k, one curve per space."""
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    for name in curves:
        ax.plot(curves.index, curves[name], "o-", ms=3, label=name)
    ax.set(xlabel="k", ylabel="inertia / inertia at k=1", xticks=curves.index)
    ax.legend(frameon=False, fontsize=8)
    return fig


def kmeans_grid(xy: np.ndarray, clusterings: dict[str, np.ndarray], spaces: Sequence[str],
                ks: Sequence[int]):
    """Every k-means clustering (rows: spaces, columns: k) drawn on one map (``xy``)."""
    fig, axes = plt.subplots(len(spaces), len(ks), figsize=(8.4, 8.4 * len(spaces) / len(ks)),
                             squeeze=False)
    for r, space in enumerate(spaces):
        for c, k in enumerate(ks):
            cluster_scatter(xy, clusterings[f"kmeans{k}_{space}"], ax=axes[r, c], s=1,
                            title=f"k={k}" if r == 0 else "")
        axes[r, 0].set_ylabel(space, fontsize=9)
    fig.subplots_adjust(wspace=0.04, hspace=0.06)
    return fig


def dbscan_panel(curve: dict, xy: np.ndarray, assign: np.ndarray, min_samples: int):
    """DBSCAN's k-distance curve with the knee that set eps, and its clusters on the map."""
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.6))
    axes[0].plot(curve["curve"], lw=1.2, color="#08519c")
    axes[0].axhline(curve["eps"], color="#b2182b", lw=0.8, ls="--")
    axes[0].plot(curve["knee"], curve["eps"], "o", color="#b2182b")
    axes[0].set(xlabel="galaxies, sorted", ylabel=f"distance to neighbour {min_samples}",
                title="k-distance curve and its knee")
    cluster_scatter(xy, assign, ax=axes[1], s=3, title="DBSCAN on t-SNE")
    return fig


def cluster_panels(xy: np.ndarray, clusterings: dict[str, np.ndarray], suffix: str = " (on t-SNE)"):
    """Several clusterings drawn on one map, side by side."""
    fig, axes = plt.subplots(1, len(clusterings), figsize=(8.4, 8.4 / len(clusterings) + 0.4), squeeze=False)
    for ax, (name, assign) in zip(axes[0], clusterings.items(), strict=True):
        cluster_scatter(xy, assign, ax=ax, s=3, title=f"{name}{suffix}")
    return fig


def agreement_grid(tables: dict[str, pd.DataFrame], metric: str, ncols: int = 2):
    """One annotated score matrix per space (k-means at each k against the others), in a grid."""
    rows = -(-len(tables) // ncols)
    fig, axes = plt.subplots(rows, ncols, figsize=(8.4, 3.9 * rows), squeeze=False)
    for ax, (space, table) in zip(axes.flat, tables.items(), strict=False):
        ks = [name.split("_", 1)[0].removeprefix("kmeans") for name in table.columns]
        shown = table.set_axis([f"k={k}" for k in ks], axis=0).set_axis([f"k={k}" for k in ks], axis=1)
        score_heatmap(shown, ax=ax, title=f"{metric}, {space}")
    for ax in list(axes.flat)[len(tables):]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def paired_heatmaps(tables: dict[str, pd.DataFrame], titles: dict[str, str] | None = None,
                    height: float = 3.8):
    """Two (or more) annotated score matrices side by side (e.g. ARI and AMI)."""
    fig, axes = plt.subplots(1, len(tables), figsize=(8.4, height), squeeze=False)
    for ax, (metric, table) in zip(axes[0], tables.items(), strict=True):
        score_heatmap(table, ax=ax, title=(titles or {}).get(metric, metric))
    fig.tight_layout()
    return fig


def clustering_bars(table: pd.DataFrame, order: Sequence[str], votes_ami: float | None):
    """AMI of each label-blind clustering against the labels and, on the mock, the truth."""
    fig, ax = plt.subplots(figsize=(8.4, 3.6))
    x = np.arange(len(order))
    ax.bar(x - 0.2, table.loc[order, "AMI (unseen)"], 0.4, color="#08519c", label="AMI vs labels (unseen)")
    if "AMI vs truth (unseen)" in table:
        ax.bar(x + 0.2, table.loc[order, "AMI vs truth (unseen)"], 0.4, color="#fdae6b",
               label="AMI vs truth (unseen, mock)")
        ax.axhline(votes_ami, color="#b2182b", lw=0.8, ls="--", label="vote labels vs truth")
    ax.set_xticks(x, order, rotation=60, ha="right", fontsize=8)
    ax.set(ylabel="AMI", ylim=(0, 1))
    ax.legend(frameon=False, fontsize=8)
    return fig


def placed_maps(maps, labels: pd.Series, result: pd.DataFrame):
    """The study's t-SNE and UMAP maps (faded, by label) with the new galaxies (``result`` of
    :func:`helpers.codes.newcomers.placed`) outlined and coloured by their predicted label."""
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 4.2))
    colours = [LABEL_COLORS.get(lab, "#999999") for lab in result["predicted"]]
    for ax, (name, study_xy, prefix) in zip(axes, [("t-SNE", maps.tsne2, "tsne2"),
                                                   ("UMAP", maps.umap2, "umap2")], strict=True):
        label_scatter(study_xy, labels, ax=ax, s=3, legend=False)
        for coll in ax.collections:
            coll.set_alpha(0.25)
        ax.scatter(result[f"{prefix}_1"], result[f"{prefix}_2"], s=16, c=colours, edgecolors="black",
                   linewidths=0.6)
        ax.set(title=f"{name}: new galaxies outlined", xticks=[], yticks=[])
    return fig


def crosstab(table: pd.DataFrame, rows: str, columns: str) -> pd.DataFrame:
    """Counts of (``rows``, ``columns``) value pairs of ``table``, for :func:`confusion_heatmap`."""
    return pd.crosstab(table[rows].rename(rows.replace("_", " ")), table[columns].rename(columns))


def similar_sheet(pictures: Sequence, galaxies: pd.DataFrame, rows: np.ndarray, similarity: np.ndarray,
                  row_labels: Sequence[str]):
    """Each new galaxy (``pictures``) then its most similar study galaxies (``rows`` of
    ``galaxies``), captioned with their cosine similarity, one row per example."""
    return sheet(list(pictures), galaxies["image_path"].to_numpy()[rows],
                 captions=[[f"{v:.3f}" for v in sims] for sims in similarity], query_title="new galaxy",
                 row_labels=list(row_labels), size=72)


def ecdf_grid(real: pd.DataFrame, ours: pd.DataFrame, ks: pd.Series, statistics: Sequence[str]):
    """For each statistic, the empirical cumulative distribution of the real cutouts and of this
    run's images, titled with their KS distance."""
    cols = 3
    rows = -(-len(statistics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(8.4, 2.3 * rows))
    for ax, name in zip(axes.flat, statistics, strict=False):
        for values, label, colour in ((real[name], "real cutouts", "#252525"), (ours[name], "this run", "#e6550d")):
            x = np.sort(values.to_numpy(float))
            ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", color=colour, label=label, lw=1.2)
        ax.set_title(f"{name} (KS {ks[name]:.2f})", fontsize=9)
        if name in ("flux", "area_px"):
            ax.set_xscale("log")
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(statistics):]:
        ax.axis("off")
    axes.flat[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def class_gallery(classes: pd.DataFrame, per_group: int = 6, seed: int = 0):
    """Random galaxies of each class (``classes``: ``image_path``, ``class``) in the labels' order."""
    present = set(classes["class"])
    return galaxy_grid(classes, by="class", per_group=per_group, seed=seed,
                       order=[lab for lab in ALL_LABELS if lab in present])


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
            ax.text(j, i, f"{int(count)}", ha="center", va="center", fontsize=8,
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
        ax.legend(fontsize=SMALLEST_PT, markerscale=2, frameon=False, bbox_to_anchor=(1, 1))
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
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                    color="black" if v > vmin + 0.6 * (vmax - vmin) else "white")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
    ax.set_title(title, fontsize=9)
    return ax


def cluster_gallery(galaxies: pd.DataFrame, members: dict[int, tuple[list[int], list[int]]],
                    mix: pd.DataFrame, size: int = 72):
    """One row per cluster: its galaxies nearest the centre, a gap, then random members.

    The row's caption gives the cluster's size and its two most common labels (from ``mix``,
    see :func:`helpers.codes.cluster.label_mix`). ``galaxies`` needs ``image_path``.
    """
    width = max(len(c) + len(r) for c, r in members.values()) + 1
    cell = min(1.05, (BOOK_WIDTH_IN - 2.2) / width)  # fit the book's column
    fig, axes = plt.subplots(len(members), width, figsize=(cell * width + 2.2, (cell + 0.05) * len(members)),
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
        axes[r, 0].set_ylabel(caption, rotation=0, ha="right", va="center", fontsize=SMALLEST_PT)
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
    left, top = (1.5 if row_labels is not None else 0.1), (0.6 if title else 0.3)
    cell = min(1.3, (BOOK_WIDTH_IN - left - 0.1) / width)  # inches a picture: fit the book's column
    gap = 0.45  # inches: the caption under a picture
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
                ax.set_xlabel(text, fontsize=SMALLEST_PT, color=colour, labelpad=1)
        if row_labels is not None:
            text, colour = _caption(row_labels[r])
            axes[r, 0].set_ylabel(text, rotation=0, ha="right", va="center", fontsize=SMALLEST_PT,
                                  color=colour)
    axes[0, 0].set_title(query_title, fontsize=8)
    for c in range(1, width):
        axes[0, c].set_title(f"neighbour {c}", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def ranked_sheet(rows: Sequence[Sequence], captions: Sequence[Sequence[str]], *,
                 row_labels: Sequence[str] | None = None, title: str = ""):
    """Galaxies in rows, best first (the oddest, the top of a search): pictures as
    :func:`sheet` takes them, a caption under each, a label left of each row; no frames.

    >>> fig = ranked_sheet([np.zeros((3, 64, 64, 3), np.uint8)], [["#1", "#2", "#3"]],
    ...                    row_labels=["1-3"])
    >>> len(fig.axes), fig.axes[0].get_xlabel()
    (3, '#1')
    >>> plt.close(fig)
    """
    fig = sheet([r[0] for r in rows], [list(r[1:]) for r in rows],
                captions=[list(t[1:]) for t in captions], query_captions=[t[0] for t in captions],
                row_labels=row_labels, query_title="", title=title)
    for ax in fig.axes:  # a ranked list, not a query and its neighbours: no frame, no titles
        ax.set_title("")
        for spine in ax.spines.values():
            spine.set_visible(False)
    return fig


def search_tops(search, paths: np.ndarray, kind: np.ndarray, n: int = 25, shown: int = 5):
    """The top of each search of :func:`helpers.codes.oddity.search` with ``n`` examples: one
    row per feature, one of its examples first, then the ``shown`` best ranked galaxies with
    what the mock drew (``kind``); ``None`` when nothing was searched (real data)."""
    picks = [(f, rows[:shown], search.draws[(f, m)][0][0]) for (f, m), rows in search.top.items() if m == n]
    if not picks:
        return None
    return ranked_sheet([[paths[example], *paths[best]] for _, best, example in picks],
                        [["example", *kind[best]] for _, best, _ in picks],
                        row_labels=[feature for feature, _, _ in picks])


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
    ``None`` (a gallery with nothing to show) shows nothing.
    """
    import io

    from IPython.display import Image, display
    from PIL import Image as PILImage

    if fig is None:
        return
    buffer = io.BytesIO()
    text_px = smallest_text_px(fig)
    fig.savefig(buffer, format="png", dpi=fig.dpi, facecolor="white", bbox_inches="tight")
    plt.close(fig)
    rgb = PILImage.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    jpeg = io.BytesIO()
    rgb.save(jpeg, format="JPEG", quality=int(quality), optimize=True, progressive=False,
             comment=f"{TEXT_SIZE_KEY}={text_px:.2f}".encode())
    display(Image(data=jpeg.getvalue(), format="jpeg"))
