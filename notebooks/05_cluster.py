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

# %% tags=["hide-input"]
import matplotlib.pyplot as plt
from IPython.display import HTML
from myst_nb import glue

from helpers import records, study
from helpers.book import interactive, plots
from helpers.codes import cluster, novelty, reduce

# %% [markdown]
# This run's parameters (a profile such as `params/kaggle.yml` sets them; unfold to read):

# %% tags=["parameters", "hide-input"]
# This run's values (the defaults: params/demo.yml)
data_dir = "data/synthetic/demo"  # Kaggle layout (on the mock: truth)
run_dir = "data/processed/demo"  # reads the maps; writes clusters.parquet
spaces = ["pca", "lda", "umap", "tsne"]  # chapter 4's k-D maps
elbow_max_k = 10  # elbow curves for k from 1 to this
k_values = [3, 4, 5, 6, 7, 8]  # k-means is kept for these k on every space
dbscan_min_samples = 10  # DBSCAN on t-SNE (eps: the k-distance knee)
hdbscan_min_cluster_size = 25  # HDBSCAN's smallest cluster
gallery = "kmeans8_umap"  # the clustering whose clusters get a gallery
gallery_central = 6  # galaxies nearest each cluster's centre
gallery_random = 4  # and random members
thumbnail_size = 48  # pixels of the hover images on the interactive map
map_points = None  # galaxies on the interactive map (None: all)
stability_seeds = 3  # seeds for the stability of the maps and clusterings
seed = 42  # seeds k-means, the galleries' random picks

# %% [markdown]
# Every chapter first seeds its random generators and says whose data it shows. The spaces are
# chapter 4's maps, named as it wrote them (`lda` becomes `lda7`, or fewer axes with fewer
# labels).

# %%
chapter = study.open_chapter(data_dir, run_dir, seed=seed)
galaxies, codes = chapter.run.features()
emb = chapter.run.embeddings(galaxies)
space = reduce.spaces(emb, spaces)
gallery = cluster.resolve_clustering(gallery, reduce.resolved(emb, spaces))
tsne2 = reduce.coordinates(emb, "tsne2")

# %% [markdown]
# ## How many clusters? The elbow
#
# k-means splits the galaxies into k groups of least spread. The spread left (inertia, shown as
# a share of the total) always falls as k grows; an *elbow*, where adding a cluster stops
# paying, hints at the natural number of groups. Spaces whose curve bends sharply hold
# well-separated groups.

# %%
curves = cluster.elbows(space, range(1, elbow_max_k + 1), seed=seed)
plots.elbow_curves(curves)
plt.show()

# %% [markdown]
# ## k-means on every space, drawn on the t-SNE map
#
# As in the seed study, each k-means clustering is shown on the t-SNE map, whatever space it was
# computed in: clusters that follow the islands of the map agree with t-SNE's neighbourhoods.
# Clusters are numbered by size (0 is the largest), so colours mean nothing across panels.

# %%
clusterings = cluster.all_kmeans(space, k_values, seed=seed)
plots.kmeans_grid(tsne2, clusterings, list(space), k_values)
plt.show()

# %% [markdown]
# ## DBSCAN and HDBSCAN: density clusters
#
# DBSCAN grows clusters from dense cores and leaves isolated galaxies as noise. Its radius
# `eps` decides everything; the seed study set it by hand. Here it is read off the k-distance
# curve (each galaxy's distance to its `dbscan_min_samples`-th neighbour on the t-SNE map,
# sorted): the knee, where distances start to climb, separates galaxies inside groups from
# those between them. HDBSCAN builds DBSCAN's clusters for every radius at once and keeps the
# most stable ones, so it needs only the smallest cluster size worth calling a group; it runs
# on the t-SNE map (for comparison with DBSCAN) and on the 7-D UMAP space (UMAP keeps more of
# the density structure than t-SNE does).

# %%
density, curve = cluster.density_clusterings(
    tsne2, space, min_samples=dbscan_min_samples,
    min_cluster_size=hdbscan_min_cluster_size)
clusterings.update(density)
plots.dbscan_panel(curve, tsne2, density["dbscan_tsne2"],
                   dbscan_min_samples)
plt.show()

# %% [markdown]
# The HDBSCAN clusterings, drawn on the t-SNE map, and what every density clustering found: how
# many clusters, the share of galaxies left as noise, the largest cluster's share.

# %% tags=["nbval-ignore-output"]
plots.cluster_panels(tsne2, cluster.only(density, "hdbscan"))
plt.show()
cluster.summaries(density).round(3)

# %% [markdown]
# ## Would another seed find the same clusters?
#
# UMAP and k-means start from random numbers. Here the 7-D UMAP space is rebuilt from the codes
# with `stability_seeds` different seeds (chapter 4's settings, read from the run; the first seed
# is chapter 4's own, so its map is taken from the run), and k-means and HDBSCAN are run on each.
# The ARI between the clusterings of every pair of seeds says how much of a clustering is the
# data and how much the seed. k-means on PCA-7 changes only its own starting centres. (t-SNE's
# seed spread is not measured here: more t-SNE maps would double the chapter's time.)

# %% tags=["nbval-ignore-output"]
stability = cluster.stability(
    codes, chapter.run.settings("04_reduce"),
    reduce.first_space(space, "umap"), reduce.named_space(space, "pca"),
    n_seeds=stability_seeds, k=max(k_values),
    min_cluster_size=hdbscan_min_cluster_size)
stability.round(3)

# %% [markdown]
# ## What each cluster holds: a gallery
#
# Numbers say how clusters agree; pictures say what they *are*. For the clustering named by
# `gallery`, each row is one cluster: first the galaxies nearest its centre (its most typical
# members), then a few drawn at random (how typical the typical ones are), with the cluster's
# size and its most common chapter-1 labels.

# %%
members = cluster.gallery_members(
    space[cluster.parse_name(gallery).space], clusterings[gallery],
    n_central=gallery_central, n_random=gallery_random, seed=seed)
mix = cluster.label_mix(clusterings[gallery], galaxies["label"])
plots.show_photo(plots.cluster_gallery(galaxies, members, mix))

# %% [markdown]
# The label mix of each cluster, in per cent of its galaxies:

# %% tags=["nbval-ignore-output"]
cluster.mix_percent(mix)

# %% [markdown]
# ## Saving every assignment
#
# `clusters.parquet` has one column per clustering (`kmeans3_pca7` ... `hdbscan_umap7`; -1 is
# noise), in the order of `features.parquet`.

# %%
ids = galaxies["GalaxyID"].to_numpy()
chapter.run.write_table("clusters.parquet",
                        cluster.clusters_frame(ids, clusterings))
settings = {"dbscan_min_samples": dbscan_min_samples, "k_values": k_values,
            "hdbscan_min_cluster_size": hdbscan_min_cluster_size,
            "stability_seeds": stability_seeds}
print(f"clusters.parquet: {len(ids)} galaxies,"
      f" {len(clusterings)} clusterings")

# %% [markdown]
# ## The interactive map
#
# The t-SNE map with every galaxy's picture on hover, coloured by label, by the mock's truth, by
# several clusterings and by how *unusual* each galaxy is (its novelty score, chapter 9): select
# a region with the lasso or the box to list its galaxies and download their IDs. It is built
# here and shown on its own page ({doc}`../book/map`): a static page with no server behind it.

# %% tags=["nbval-ignore-output"]
oddness = novelty.novelty_scores(codes, seed=seed)
layout = interactive.study_map(
    galaxies, tsne2, clusterings, [gallery, *density], novelty=oddness,
    map_points=map_points, thumbnail_size=thumbnail_size, seed=seed,
    title=f"t-SNE map of the galaxies ({chapter.source['kind']} data)")
page = interactive.map_html(layout, bokehjs="book")
glue("galaxy_map", HTML(page), display=False)

# %% tags=["remove-cell"]
kept = records.cluster(clusterings, curve, density, stability,
                       gallery=gallery, space=space, settings=settings)
study.close_chapter(chapter, "cluster", kept)

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
