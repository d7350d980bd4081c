# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-papermill,-execution
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -papermill,-widgets
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# (chapter-reduce)=
# # Four views of the codes: PCA, LDA, t-SNE and UMAP
#
# A 512-number code per galaxy is too much to look at. This chapter squeezes the codes of
# chapter 3 into two (and seven) dimensions in the four ways the seed study did, and then does
# what the seed study did not: it measures how faithfully each 2-D map keeps every galaxy's
# neighbourhood, so the views are compared by a number as well as by eye.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from helpers import artifacts, evaluate, replay, study
from helpers.book import plots
from helpers.codes import reduce
from helpers.data.schema import ID_COLUMN

# %% tags=["parameters"]
data_dir = "data/synthetic/demo"  # Kaggle layout (and, on the mock, ground_truth.csv)
run_dir = "data/processed/demo"  # reads features.parquet + labels.parquet; writes embeddings.parquet
pca_input = 50  # t-SNE and UMAP read this many principal components of the codes
pca_components = 7  # the k-D PCA space chapter 5 clusters in (a 2-D map is always made)
lda_components = 7  # the k-D LDA space (at most the number of labels - 1)
tsne_perplexity = 200  # the seed study's t-SNE perplexity
tsne_learning_rate = 50  # the seed study's learning rate, in scikit-learn's units ("auto": openTSNE's)
umap_neighbors = 50  # the seed study's UMAP n_neighbors
umap_min_dist = 0.15  # the seed study's UMAP min_dist
umap_components = 7  # the k-D UMAP space (a 2-D map is always made)
trust_neighbors = 10  # neighbourhood size for the trustworthiness of each 2-D map
seed = 42  # seeds every method

# %%
data_path, run_path, source = study.open_chapter(data_dir, run_dir, seed=seed)
galaxies, codes = reduce.load_codes(run_path, data_path)
print(f"{len(galaxies)} galaxies x {codes.shape[1]} dimensions from features.parquet")

# %% [markdown]
# ## PCA: the straight-line view
#
# Principal component analysis rotates the codes so that the first axes carry the most
# variance. It is linear and knows nothing of the labels. The bars show how much of the
# codes' variance each component holds; t-SNE and UMAP below start from the leading
# `pca_input` components, which keep almost all of it and make them faster.

# %%
x_in, share = reduce.pca(codes, pca_input, seed=seed)
pca2, pca2_share = x_in[:, :2], share[:2]
pcak = x_in[:, :pca_components]
fig, ax = plt.subplots(figsize=(7, 2.8))
shown = min(20, len(share))
ax.bar(np.arange(1, shown + 1), share[:shown], color="#6baed6", label="each component")
ax.plot(np.arange(1, shown + 1), np.cumsum(share[:shown]), "o-", color="#08519c", ms=3, label="cumulative")
ax.set(xlabel="principal component", ylabel="share of variance", ylim=(0, 1.02))
ax.legend(frameon=False, fontsize=8)
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
print(f"2 components keep {share[:2].sum():.1%} of the variance, {pca_components} keep "
      f"{share[:pca_components].sum():.1%}, {len(share)} keep {share.sum():.1%}")

# %% [markdown]
# ## LDA: the view that was told the answer
#
# Linear discriminant analysis chooses the axes that best *separate the labels* of chapter 1.
# Galaxies without a label are placed with the axes fitted on the others.
#
# :::{warning}
# LDA was fitted on the labels. Labels that separate on the LDA map (and clusters found in the
# LDA space in chapter 5) say less about the network than they seem to: LDA shows the best a
# linear view of the codes can do when told the answer, not what the codes show unaided.
# :::

# %%
lda2, _ = reduce.lda(codes, galaxies["label"], 2)
ldak, lda_used = reduce.lda(codes, galaxies["label"], lda_components)

# %% [markdown]
# ## t-SNE and UMAP: neighbourhood maps
#
# t-SNE (here openTSNE, whose FFT gradients scale to survey sizes and which can later place new
# galaxies on the same map) and UMAP both try to keep each galaxy next to the galaxies that
# are near it in code space, at the price of distances between far-apart groups, which mean
# little on these maps. Both use the seed study's settings; the t-SNE learning rate is given in
# scikit-learn's units, as the seed study's was (openTSNE's gradient lacks scikit-learn's
# factor 4, so the helper passes openTSNE four times the number). Each galaxy's t-SNE
# affinities are calibrated over its 2 x perplexity nearest neighbours rather than the
# customary 3 x: the farther third carries little affinity but costs half of every iteration,
# and at 20,000 galaxies the map ends at the same KL divergence under the full affinities
# (`benchmarks/bench_tsne.py`).

# %%
# NBVAL_IGNORE_OUTPUT
tsne2, tsne_kl, _ = reduce.tsne(x_in, perplexity=tsne_perplexity, learning_rate=tsne_learning_rate, seed=seed)
umap2 = reduce.umap_embed(x_in, 2, n_neighbors=umap_neighbors, min_dist=umap_min_dist, seed=seed)
umapk = reduce.umap_embed(x_in, umap_components, n_neighbors=umap_neighbors, min_dist=umap_min_dist, seed=seed)
print(f"t-SNE: KL divergence {tsne_kl:.3f} after optimisation")

# %% [markdown]
# ## The four maps side by side
#
# Every galaxy coloured by its chapter-1 label, in the palette used throughout the book:
# round galaxies warm, edge-on disks green, face-on disks blue, stars and artifacts grey.
# Each title carries the map's *trustworthiness*: the share of a galaxy's nearest neighbours on
# the map that are also near it in the 512-d codes (1 is perfect, about 0.5 is a random map).

# %%
maps2 = {"PCA": pca2, "LDA": lda2, "t-SNE": tsne2, "UMAP": umap2}
trust = {name: reduce.trustworthiness(codes, xy, n_neighbors=trust_neighbors, seed=seed)
         for name, xy in maps2.items()}
fig, axes = plt.subplots(2, 2, figsize=(10, 9))
for ax, (name, xy) in zip(axes.flat, maps2.items(), strict=True):
    plots.label_scatter(xy, galaxies["label"], ax=ax, s=4, legend=False)
    ax.set_title(f"{name} (trustworthiness {trust[name]:.3f})")
    ax.set_xticks([])
    ax.set_yticks([])
handles, names = axes.flat[0].get_legend_handles_labels()
fig.legend(handles, names, loc="lower center", ncol=4, fontsize=8, markerscale=3, frameon=False)
fig.subplots_adjust(bottom=0.1, hspace=0.12, wspace=0.05)
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
trust_table = pd.Series(trust, name="trustworthiness").to_frame()
trust_table["uses the labels"] = ["no", "yes", "no", "no"]
trust_table.round(3)

# %% [markdown]
# The values move with the training run: a second training on another processor moved each
# map's trustworthiness by up to the tolerance the replay allows (`notebooks/tolerances.yml`;
# PCA's moves most, since it follows the codes' few largest directions). So the label-blind
# maps are ranked only where they differ by more than twice that spread; closer than that, they
# keep neighbourhoods equally well.

# %%
# NBVAL_IGNORE_OUTPUT
blind = {name: value for name, value in trust.items() if name != "LDA"}
spread = {name: replay.tolerance_for("reduce", f"trustworthiness.{name.lower().replace('-', '')}",
                                        replay.load_tolerances()) for name in blind}
ranking = evaluate.ranking_sentence(blind, spread)
print(ranking)

# %% [markdown]
# ## On the mock: labels against the truth
#
# The mock Galaxy Zoo knows what each galaxy really is. Colouring the t-SNE map by that truth
# beside the vote labels shows where the votes (not the network) blur the picture. On real data
# this panel is absent.

# %%
if "true_label" in galaxies:
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    plots.label_scatter(tsne2, galaxies["label"], ax=axes[0], s=4, legend=False)
    plots.label_scatter(tsne2, galaxies["true_label"], ax=axes[1], s=4)
    axes[0].set_title("t-SNE, coloured by the vote label")
    axes[1].set_title("t-SNE, coloured by the true (drawn) morphology")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    plt.show()
else:
    display(Markdown("*No ground truth on this data: only the vote labels are known.*"))

# %% [markdown]
# ## Saving every coordinate
#
# `embeddings.parquet` keeps each map's coordinates (`pca2_1`, `pca2_2`, `pca7_1` ... `tsne2_2`,
# `umap7_7`), in the order of `features.parquet`; chapter 5 clusters them.

# %%
maps = {"pca2": pca2, f"pca{pca_components}": pcak, "lda2": lda2, f"lda{lda_used}": ldak,
        "tsne2": tsne2, "umap2": umap2, f"umap{umap_components}": umapk}
frame = reduce.embeddings_frame(galaxies[ID_COLUMN].to_numpy(), maps)
artifacts.write_parquet(frame, run_path / "embeddings.parquet")
print(f"embeddings.parquet: {len(frame)} galaxies, maps {sorted(maps)}")

# %%
headlines = {"trustworthiness": {name.lower().replace("-", ""): round(v, 4) for name, v in trust.items()},
             "pca_variance_2": round(float(share[:2].sum()), 4)}
metrics = study.close_chapter(run_path, "reduce", {
    "data_source": source["kind"], "galaxies": int(len(frame)), "pca_input": int(pca_input),
    "pca_variance_2": round(float(share[:2].sum()), 4),
    f"pca_variance_{pca_components}": round(float(share[:pca_components].sum()), 4),
    "lda_components": int(lda_used), "tsne_kl": round(tsne_kl, 4),
    "tsne_perplexity": tsne_perplexity, "tsne_learning_rate": tsne_learning_rate,
    "tsne_perplexity_used": reduce.usable_perplexity(len(x_in), tsne_perplexity),
    "settings": {"pca_input": pca_input, "tsne_perplexity": tsne_perplexity,  # chapters 5 and 7 rebuild maps with these
                 "tsne_learning_rate": tsne_learning_rate, "umap_neighbors": umap_neighbors,
                 "umap_min_dist": umap_min_dist, "umap_components": umap_components, "seed": seed},
    "trustworthiness": {k: round(v, 4) for k, v in trust.items()},
    "maps": sorted(maps),
}, headlines=headlines, source=source, glued={
    "n_galaxies": int(len(frame)), "pca2_variance": f"{share[:2].sum():.0%}", "ranking": ranking,
    **{f"trust_{name.lower().replace('-', '')}": f"{value:.3f}" for name, value in trust.items()},
})

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, the {glue:text}`n_galaxies` codes were reduced four ways. The
# first two principal components hold {glue:text}`pca2_variance` of the variance. By
# trustworthiness, {glue:text}`ranking`. LDA ({glue:text}`trust_lda`) has seen the labels and is
# shown only as a bound. Chapter 5 clusters these spaces.
