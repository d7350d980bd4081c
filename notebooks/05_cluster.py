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
# (chapter-cluster)=
# # Clusters in the codes
#
# If the network learnt morphology, galaxies of one kind should gather in code space without
# being told their labels. This chapter looks for such groups the seed study's ways, k-means
# with its elbow on every reduced space and DBSCAN on the t-SNE map, and with HDBSCAN, the
# modern density method. Every clustering is drawn on the t-SNE map, and for one of them a
# gallery shows the galaxies behind each cluster. Chapter 6 scores them all.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML
from myst_nb import glue

from helpers import artifacts, study
from helpers.book import interactive, plots
from helpers.codes import cluster, reduce
from helpers.data.imagecache import load_image_array
from helpers.data.schema import ID_COLUMN

# %% tags=["parameters"]
data_dir = "data/synthetic/demo"  # Kaggle layout (and, on the mock, ground_truth.csv)
run_dir = "data/processed/demo"  # reads embeddings.parquet; writes clusters.parquet
spaces = ["pca", "lda", "umap", "tsne"]  # a method: its k-D map from chapter 4; or a map by name ("pca2")
elbow_max_k = 10  # elbow curves for k from 1 to this
k_values = [3, 4, 5, 6, 7, 8]  # k-means is kept for these k on every space
dbscan_min_samples = 10  # DBSCAN on the t-SNE map; eps is read off the k-distance curve's knee
hdbscan_min_cluster_size = 25  # HDBSCAN's smallest cluster, on the t-SNE map and on umap7
gallery = "kmeans8_umap"  # the clustering whose clusters get a gallery (a space as in `spaces`)
gallery_central = 6  # galaxies nearest each cluster's centre
gallery_random = 4  # and random members
thumbnail_size = 48  # pixels of the hover images on the interactive map
map_points = None  # galaxies on the interactive map (None: all; a seeded sample keeps big runs light)
stability_seeds = 3  # seeds for the stability of the maps and clusterings (UMAP and k-means)
seed = 42  # seeds k-means, the galleries' random picks

# %%
data_path, run_path, source = study.open_chapter(data_dir, run_dir, seed=seed)
galaxies, codes = reduce.load_codes(run_path, data_path)
emb = artifacts.read_aligned(run_path / "embeddings.parquet", galaxies[ID_COLUMN], "04_reduce")
resolved = {name: reduce.resolve_space(emb, name) for name in spaces}  # "lda" -> "lda7" (or "lda4")
space = {name: reduce.coordinates(emb, name) for name in resolved.values()}
gallery = cluster.resolve_clustering(gallery, resolved)
tsne2 = reduce.coordinates(emb, "tsne2")
print(f"{len(galaxies)} galaxies; spaces {', '.join(f'{n} ({x.shape[1]}-D)' for n, x in space.items())}")

# %% [markdown]
# ## How many clusters? The elbow
#
# k-means splits the galaxies into k groups of least spread. The spread left (inertia, shown as
# a share of the total) always falls as k grows; an *elbow*, where adding a cluster stops
# paying, hints at the natural number of groups. Spaces whose curve bends sharply hold
# well-separated groups.

# %%
curves = pd.DataFrame({name: cluster.elbow(x, range(1, elbow_max_k + 1), seed=seed) for name, x in space.items()})
fig, ax = plt.subplots(figsize=(6.5, 3.5))
for name in curves:
    ax.plot(curves.index, curves[name], "o-", ms=3, label=name)
ax.set(xlabel="k", ylabel="inertia / inertia at k=1", xticks=curves.index)
ax.legend(frameon=False, fontsize=8)
plt.show()

# %% [markdown]
# ## k-means on every space, drawn on the t-SNE map
#
# As in the seed study, each k-means clustering is shown on the t-SNE map, whatever space it was
# computed in: clusters that follow the islands of the map agree with t-SNE's neighbourhoods.
# Clusters are numbered by size (0 is the largest), so colours mean nothing across panels.

# %%
clusterings = {f"kmeans{k}_{name}": cluster.kmeans(x, k, seed=seed) for name, x in space.items() for k in k_values}
fig, axes = plt.subplots(len(space), len(k_values), figsize=(1.9 * len(k_values), 1.9 * len(space)),
                         squeeze=False)
for r, name in enumerate(space):
    for c, k in enumerate(k_values):
        assign = clusterings[f"kmeans{k}_{name}"]
        plots.cluster_scatter(tsne2, assign, ax=axes[r, c], s=1.5, title=f"k={k}" if r == 0 else "")
    axes[r, 0].set_ylabel(name, fontsize=9)
fig.subplots_adjust(wspace=0.04, hspace=0.06)
plt.show()

# %% [markdown]
# ## DBSCAN, with eps from the data
#
# DBSCAN grows clusters from dense cores and leaves isolated galaxies as noise. Its radius
# `eps` decides everything; the seed study set it by hand. Here it is read off the k-distance
# curve (each galaxy's distance to its `dbscan_min_samples`-th neighbour on the t-SNE map,
# sorted): the knee, where distances start to climb, separates galaxies inside groups from
# those between them.

# %%
eps, kdist, knee_at = cluster.choose_eps(tsne2, dbscan_min_samples)
clusterings["dbscan_tsne2"] = cluster.dbscan(tsne2, eps, dbscan_min_samples)
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].plot(kdist, lw=1.2, color="#08519c")
axes[0].axhline(eps, color="#b2182b", lw=0.8, ls="--")
axes[0].plot(knee_at, eps, "o", color="#b2182b")
axes[0].set(xlabel="galaxies, sorted", ylabel=f"distance to neighbour {dbscan_min_samples}",
            title="k-distance curve and its knee")
plots.cluster_scatter(tsne2, clusterings["dbscan_tsne2"], ax=axes[1], s=3, title="DBSCAN on t-SNE")
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
dbscan_summary = cluster.summary(clusterings["dbscan_tsne2"])
print(f"eps = {eps:.3f} (knee at galaxy {knee_at} of {len(kdist)}): {dbscan_summary['clusters']} "
      f"clusters, {dbscan_summary['noise']:.1%} noise")

# %% [markdown]
# ## HDBSCAN: density clusters without eps
#
# HDBSCAN builds DBSCAN's clusters for every radius at once and keeps the most stable ones, so
# it needs only the smallest cluster size worth calling a group. It runs on the t-SNE map
# (for comparison with DBSCAN) and on the 7-D UMAP space (UMAP keeps more of the density
# structure than t-SNE does).

# %%
clusterings["hdbscan_tsne2"] = cluster.hdbscan(tsne2, hdbscan_min_cluster_size)
umap_space = next((n for n in space if n.startswith("umap")), None)
if umap_space:
    clusterings[f"hdbscan_{umap_space}"] = cluster.hdbscan(space[umap_space], hdbscan_min_cluster_size)
density = [n for n in clusterings if n.startswith("hdbscan")]
fig, axes = plt.subplots(1, len(density), figsize=(5 * len(density), 4), squeeze=False)
for ax, name in zip(axes[0], density, strict=True):
    plots.cluster_scatter(tsne2, clusterings[name], ax=ax, s=3, title=f"{name} (drawn on t-SNE)")
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
summaries = pd.DataFrame({name: cluster.summary(a) for name, a in clusterings.items()}).T
summaries.loc[["dbscan_tsne2", *density]].round(3)

# %% [markdown]
# ## Would another seed find the same clusters?
#
# UMAP and k-means start from random numbers. Here the 7-D UMAP space is rebuilt from the codes
# with `stability_seeds` different seeds (chapter 4's settings, read from the run; the first seed
# is chapter 4's own, so its map is taken from the run), and k-means and HDBSCAN are run on each. The ARI
# between the clusterings of every pair of seeds says how much of a clustering is the data and
# how much the seed. k-means on PCA-7 changes only its own starting centres. (t-SNE's seed
# spread is not measured here: more t-SNE maps would double the chapter's time.)

# %%
settings = reduce.chapter4_settings(run_path)
x_in, _ = reduce.pca(codes, settings["pca_input"], seed=settings["seed"])
seeds = [settings["seed"] + i for i in range(stability_seeds)]
own_map = space.get(f"umap{settings['umap_components']}")  # chapter 4's map is the first seed's
umaps = {s: own_map if s == seeds[0] and own_map is not None else
         reduce.umap_embed(x_in, settings["umap_components"], n_neighbors=settings["umap_neighbors"],
                           min_dist=settings["umap_min_dist"], seed=s) for s in seeds}
k_stable = max(k_values)
pca_space = next((n for n in space if n.startswith("pca")), None)
runs = {f"kmeans{k_stable} on UMAP-{settings['umap_components']} (map and k-means seed)":
        {s: cluster.kmeans(u, k_stable, seed=s) for s, u in umaps.items()},
        f"HDBSCAN on UMAP-{settings['umap_components']} (map seed)":
        {s: cluster.hdbscan(u, hdbscan_min_cluster_size) for s, u in umaps.items()}}
if pca_space:
    runs[f"kmeans{k_stable} on {pca_space} (k-means seed)"] = {
        s: cluster.kmeans(space[pca_space], k_stable, seed=s) for s in seeds}
stability = pd.DataFrame({name: cluster.seed_stability(a) for name, a in runs.items()}).T

# %%
# NBVAL_IGNORE_OUTPUT
stability.round(3)

# %% [markdown]
# ## What each cluster holds: a gallery
#
# Numbers say how clusters agree; pictures say what they *are*. For the clustering named by
# `gallery`, each row is one cluster: first the galaxies nearest its centre (its most typical
# members), then a few drawn at random (how typical the typical ones are), with the cluster's
# size and its most common chapter-1 labels.

# %%
if gallery not in clusterings:
    raise ValueError(f"gallery={gallery!r} is not one of this chapter's clusterings: "
                     f"{sorted(clusterings)}")
gallery_space = space[gallery.split("_", 1)[1]]
members = cluster.gallery_members(gallery_space, clusterings[gallery], n_central=gallery_central,
                            n_random=gallery_random, seed=seed)
mix = cluster.label_mix(clusterings[gallery], galaxies["label"])
fig = plots.cluster_gallery(galaxies, members, mix)
plots.show_photo(fig)

# %%
# NBVAL_IGNORE_OUTPUT
(mix.drop(columns="galaxies") * 100).round(0).astype(int).assign(galaxies=mix["galaxies"]).T  # % per cluster

# %% [markdown]
# ## Saving every assignment
#
# `clusters.parquet` has one column per clustering (`kmeans3_pca7` ... `hdbscan_umap7`; -1 is
# noise), in the order of `features.parquet`.

# %%
frame = cluster.clusters_frame(galaxies[ID_COLUMN].to_numpy(), clusterings)
artifacts.write_parquet(frame, run_path / "clusters.parquet")
print(f"clusters.parquet: {len(frame)} galaxies x {len(clusterings)} clusterings")

# %% [markdown]
# ## The interactive map
#
# The t-SNE map with every galaxy's picture on hover, built here and shown on its own page
# ({doc}`../book/map`): it is a static page with no server behind it.

# %%
# NBVAL_IGNORE_OUTPUT
on_map = np.arange(len(galaxies))
if map_points is not None and map_points < len(galaxies):
    on_map = np.sort(np.random.default_rng(seed).choice(len(galaxies), map_points, replace=False))
shown_galaxies = galaxies.iloc[on_map]
images = load_image_array(shown_galaxies["image_path"], size=64, crop=212)
points = pd.DataFrame({"x": tsne2[on_map, 0], "y": tsne2[on_map, 1],
                       ID_COLUMN: shown_galaxies[ID_COLUMN].to_numpy(),
                       "label": shown_galaxies["label"].fillna("no votes").to_numpy()})
colourings = ["label"]
if "true_label" in galaxies:
    points["true morphology"] = shown_galaxies["true_label"].fillna("unknown").to_numpy()
    colourings.append("true morphology")
for name in dict.fromkeys([gallery, "dbscan_tsne2", *density]):
    points[name] = clusterings[name][on_map].astype(str)
    colourings.append(name)
layout = interactive.galaxy_map(points, colourings,
                                interactive.thumbnail_uris(images, size=thumbnail_size),
                                palettes={name: plots.LABEL_COLORS for name in colourings
                                          if name in ("label", "true morphology")},
                                title=f"t-SNE map of {len(points)} galaxies ({source['kind']} data)",
                                width=650)
glue("galaxy_map", HTML(interactive.map_html(layout, bokehjs="book")), display=False)
print(f"map of {len(points)} galaxies, colourings: {', '.join(colourings)}")

# %%
# only k-means on PCA is a headline: how stable UMAP's clusterings are across seeds itself moves a
# lot with the network's codes (0.52 and 0.995 for HDBSCAN in two trainings that differed only in
# their CPU kernels), so it is shown, not compared
headlines = {"stability_mean_ari": {name.split(" (")[0].replace(" ", "_"): round(float(v), 4)
                                    for name, v in stability["mean_ari"].items() if "pca" in name}}
metrics = study.close_chapter(run_path, "cluster", {
    "data_source": source["kind"], "galaxies": int(len(frame)), "spaces": sorted(space),
    "k_values": k_values, "dbscan_eps": round(eps, 4), "dbscan_min_samples": dbscan_min_samples,
    "hdbscan_min_cluster_size": hdbscan_min_cluster_size,
    "summaries": {name: {k: round(float(v), 4) for k, v in s.items()} for name, s in summaries.iterrows()},
    "seed_stability": {name: row.to_dict() for name, row in stability.iterrows()},
}, headlines=headlines, source=source, glued={
    "n_clusterings": len(clusterings), "dbscan_eps": f"{eps:.2f}",
    "dbscan_clusters": int(dbscan_summary["clusters"]), "dbscan_noise": f"{dbscan_summary['noise']:.0%}",
    "hdbscan_clusters": int(summaries.loc["hdbscan_tsne2", "clusters"]), "gallery_name": gallery,
    "stability_seeds": stability_seeds,
    "stability_sentence": cluster.stability_sentence(stability["mean_ari"].to_dict()),
})

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, {glue:text}`n_clusterings` clusterings of the codes' reduced
# spaces are in `clusters.parquet`. DBSCAN, with eps = {glue:text}`dbscan_eps` read off the
# k-distance curve, finds {glue:text}`dbscan_clusters` clusters and calls
# {glue:text}`dbscan_noise` of the galaxies noise; HDBSCAN on the same map finds
# {glue:text}`hdbscan_clusters`. The gallery above shows what the clusters of
# {glue:text}`gallery_name` hold. Across {glue:text}`stability_seeds` seeds,
# {glue:text}`stability_sentence` Chapter 6 measures how these clusterings agree with each
# other, with the labels and, on the mock, with the truth.
