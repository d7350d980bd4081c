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

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from helpers import records, replay, sentences, study
from helpers.book import plots
from helpers.codes import reduce

# %% [markdown]
# This run's parameters (a profile such as `params/kaggle.yml` sets them; unfold to read):

# %% tags=["parameters", "hide-input"]
# This run's values (the defaults: params/demo.yml)
data_dir = "data/synthetic/demo"  # Kaggle layout (on the mock: truth)
run_dir = "data/processed/demo"  # reads the codes; writes the maps
pca_input = 50  # t-SNE and UMAP read this many principal components
pca_components = 7  # the k-D PCA space chapter 5 clusters in
lda_components = 7  # the k-D LDA space (at most the number of labels - 1)
tsne_perplexity = 200  # the seed study's t-SNE perplexity
tsne_learning_rate = 50  # the seed's, in scikit-learn's units
umap_neighbors = 50  # the seed study's UMAP n_neighbors
umap_min_dist = 0.15  # the seed study's UMAP min_dist
umap_components = 7  # the k-D UMAP space (a 2-D map is always made)
trust_neighbors = 10  # neighbourhood size of the trustworthiness score
seed = 42  # seeds every method

# %% [markdown]
# Every chapter first seeds its random generators and says whose data it shows:

# %%
chapter = study.open_chapter(data_dir, run_dir, seed=seed)
galaxies, codes = chapter.run.features()
print(f"{len(galaxies)} galaxies x {codes.shape[1]} dimensions")

# %% [markdown]
# ## Four views, one call
#
# Principal component analysis (PCA) rotates the codes so that the first axes carry the most
# variance; it is linear and knows nothing of the labels. Linear discriminant analysis (LDA)
# chooses the axes that best *separate the labels* of chapter 1. t-SNE (here openTSNE, whose FFT
# gradients scale to survey sizes and which can later place new galaxies on the same map) and
# UMAP both try to keep each galaxy next to the galaxies that are near it in code space, at the
# price of distances between far-apart groups, which mean little on these maps. t-SNE and UMAP
# start from the leading `pca_input` principal components, which keep almost all the variance
# and make them faster. Every method uses the seed study's settings; the t-SNE learning rate is
# given in scikit-learn's units, as the seed study's was (the helper converts it), and each
# galaxy's t-SNE affinities are calibrated over its 2 x perplexity nearest neighbours rather
# than the customary 3 x: the farther third carries little affinity but costs half of every
# iteration (`benchmarks/bench_tsne.py`).

# %% tags=["nbval-ignore-output"]
views = reduce.all_maps(
    codes, galaxies["label"], pca_input=pca_input,
    pca_components=pca_components, lda_components=lda_components,
    tsne_perplexity=tsne_perplexity, tsne_learning_rate=tsne_learning_rate,
    umap_neighbors=umap_neighbors, umap_min_dist=umap_min_dist,
    umap_components=umap_components, seed=seed)
print(f"t-SNE: KL divergence {views.kl:.3f} after optimisation")

# %% [markdown]
# The bars show how much of the codes' variance each principal component holds.

# %%
plots.variance_bars(views.variance)
plt.show()

# %% [markdown]
# :::{warning}
# LDA was fitted on the labels. Labels that separate on the LDA map (and clusters found in the
# LDA space in chapter 5) say less about the network than they seem to: LDA shows the best a
# linear view of the codes can do when told the answer, not what the codes show unaided.
# :::
#
# ## The four maps side by side
#
# Every galaxy coloured by its chapter-1 label, in the palette used throughout the book:
# round galaxies warm, edge-on disks green, face-on disks blue, stars and artifacts grey.
# Each title carries the map's *trustworthiness*: the share of a galaxy's nearest neighbours on
# the map that are also near it in the 512-d codes (1 is perfect, about 0.5 is a random map).

# %%
trust = {name: reduce.trustworthiness(codes, xy, seed=seed,
                                      n_neighbors=trust_neighbors)
         for name, xy in views.two_d().items()}
plots.map_grid(views.two_d(), galaxies["label"], trust)
plt.show()

# %% [markdown]
# The values move with the training run: a second training on another processor moved each
# map's trustworthiness by up to the tolerance the replay allows (`notebooks/tolerances.yml`;
# PCA's moves most, since it follows the codes' few largest directions). So the label-blind
# maps are ranked only where they differ by more than twice that spread; closer than that, they
# keep neighbourhoods equally well.

# %% tags=["nbval-ignore-output"]
blind = {name: value for name, value in trust.items() if name != "LDA"}
spread = replay.spreads("reduce", "trustworthiness", blind)
ranking = sentences.ranking_sentence(blind, spread)
print(ranking)

# %% [markdown]
# ## On the mock: labels against the truth
#
# The mock Galaxy Zoo knows what each galaxy really is. Colouring the t-SNE map by that truth
# beside the vote labels shows where the votes (not the network) blur the picture. On real data
# there is no truth, and this panel says so.

# %%
if "true_label" in galaxies:
    plots.truth_panel(views.maps["tsne2"], galaxies["label"],
                      galaxies["true_label"])
    plt.show()
else:
    print("No ground truth on this data: only the vote labels are known.")

# %% [markdown]
# ## Saving every coordinate
#
# `embeddings.parquet` keeps each map's coordinates (`pca2_1`, `pca2_2`, `pca7_1` ... `tsne2_2`,
# `umap7_7`), in the order of `features.parquet`; chapter 5 clusters them, and chapter 7 rebuilds
# them with the settings recorded here.

# %%
ids = galaxies["GalaxyID"].to_numpy()
frame = reduce.embeddings_frame(ids, views.maps)
chapter.run.write_table("embeddings.parquet", frame)
print(f"embeddings.parquet: {len(frame)} galaxies, {sorted(views.maps)}")

# %% [markdown]
# The settings chapters 5 and 7 rebuild these maps with go into the run's record:

# %%
settings = {
    "pca_input": pca_input, "tsne_perplexity": tsne_perplexity,
    "tsne_learning_rate": tsne_learning_rate,
    "umap_neighbors": umap_neighbors, "umap_min_dist": umap_min_dist,
    "umap_components": umap_components, "pca_components": pca_components,
    "seed": seed}

# %% tags=["remove-cell"]
kept = records.reduce(views, trust, ranking, galaxies=len(frame),
                      settings=settings)
study.close_chapter(chapter, "reduce", kept)

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, the {glue:text}`n_galaxies` codes were reduced four ways. The
# first two principal components hold {glue:text}`pca2_variance` of the variance. By
# trustworthiness, {glue:text}`ranking`. LDA ({glue:text}`trust_lda`) has seen the labels and is
# shown only as a bound. Chapter 5 clusters these spaces.
