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
# (chapter-compare)=
# # How the clusterings agree, and what the codes know
#
# The seed study compared its clusterings with each other. This chapter does that first (the
# adjusted Rand index, ARI, and adjusted mutual information, AMI: 1 for the same partition, about
# 0 for unrelated ones), and then asks the questions it never measured: do the clusters recover
# the decision-tree labels, and, on the mock, the morphology that was actually drawn? And how
# well do the 512-d codes separate the labels at all, so that "the network learned morphology"
# becomes a number? Every score of what the network learned is computed on the galaxies it never
# trained on (chapter 2's `split.parquet`), next to its baselines on the same galaxies and with
# a 95% interval; the in-sample figure stands beside it where it shows the size of the leak.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from helpers import records, replay, study
from helpers.book import plots
from helpers.codes import cluster, compare
from helpers.data.schema import ALL_LABELS

# %% [markdown]
# This run's parameters (a profile such as `params/kaggle.yml` sets them; unfold to read):

# %% tags=["parameters", "hide-input"]
# This run's values (the defaults: params/demo.yml)
data_dir = "data/synthetic/demo"  # Kaggle layout (on the mock: truth)
run_dir = "data/processed/demo"  # reads codes, labels and clusters
compare_k = 8  # the k at which the reductions are compared with each other
knn_k = 10  # neighbours of the k-nearest-neighbour probe
folds = 5  # cross-validation folds of the in-sample probes
pixel_size = 64  # the raw-pixel baseline's size (cut as the network's)
seed = 42  # seeds the folds

# %% [markdown]
# Every chapter first seeds its random generators and says whose data it shows. The chapter
# reads the codes, the clusterings of chapter 5 and chapter 2's record of which galaxies
# trained the network.

# %%
chapter = study.open_chapter(data_dir, run_dir, seed=seed)
galaxies, codes = chapter.run.features()
clusters = chapter.run.clusters(galaxies)
names = cluster.names_of(clusters.columns)
unseen = chapter.run.unseen(galaxies)
print(f"{int(unseen.sum())} of {len(galaxies)} galaxies never trained on")

# %% [markdown]
# ## k-means at different k, within each space
#
# Does k-means on one space keep its groups as k grows (clusters split), or reshuffle them?
# High values next to the diagonal mean the partitions are nested and stable. The adjusted
# mutual information (AMI) first:

# %%
within = compare.agreement_tables(clusters, names.kmeans_by_space())
plots.agreement_grid(within["AMI"], "AMI")
plt.show()

# %% [markdown]
# And the adjusted Rand index (ARI), which weighs the large groups more:

# %%
plots.agreement_grid(within["ARI"], "ARI")
plt.show()

# %% [markdown]
# ## Across reductions, at the same k
#
# The same k-means on four different views of the same codes: where the views agree, the
# groups are a property of the codes, not of the reduction.

# %%
at_k = names.kmeans_at(compare_k)
across = compare.agreement_tables(clusters, {"all": at_k})
plots.paired_heatmaps(compare.by_space(across, names.spaces))
plt.show()

# %% [markdown]
# ## Density clusters against every k-means
#
# DBSCAN and HDBSCAN decide the number of clusters themselves and leave some galaxies as noise
# (which counts as one more group here, as in the seed study). Each row is one k-means
# clustering; each column one density clustering.

# %%
strip = compare.agreement_tables(clusters, {"all": names.kmeans},
                                 names.density)
plots.paired_heatmaps({m: t["all"] for m, t in strip.items()}, height=8)
plt.show()

# %% [markdown]
# The mean agreement between spaces leaves out the LDA space: it was fitted on the labels, so
# its agreement with the others is not a property of the codes alone.

# %%
blind_across = compare.blind_mean(across, names.kmeans_at(
    compare_k, names.label_blind_spaces()))

# %% [markdown]
# ## Against the labels, and against the truth
#
# What the seed study never measured: each clustering scored against the chapter-1 labels
# (galaxies whose label is missing or uncertain are left out) and, on the mock, against the
# morphology that was drawn. The clusterings never saw a label, but the codes they group were
# trained on the votes of the training galaxies, so every clustering is scored on the **unseen**
# galaxies, with the training galaxies' score beside it (in sample). *Purity* is the share of
# galaxies whose cluster's most common label is their own; it rewards many small clusters, so
# read it beside ARI and AMI. On the mock, the vote labels' own agreement with the truth is shown
# for scale: the votes are noisy, so a clustering can agree with the truth *more* than they do.
# Clusterings of the LDA space saw the labels and are marked; they are never the "best".

# %% tags=["nbval-ignore-output"]
vs = compare.against_labels(clusters, names.all, galaxies, unseen,
                            seed=seed)
vs.blind_table().round(3)

# %% [markdown]
# The clusterings of the LDA space, fitted with the labels' help:

# %% tags=["nbval-ignore-output"]
vs.table.drop(index=vs.blind).round(3)

# %% [markdown]
# The same scores drawn, label-blind clusterings only:

# %%
plots.clustering_bars(vs.table, vs.blind_table().index, vs.votes_ami)
plt.show()

# %% [markdown]
# The labels come in families (round galaxies, edge-on disks, face-on disks, stars and
# artifacts). Scoring the density clusterings against the families as well as the labels says
# at which level their groups sit. AMI is corrected for chance, so a partition into fewer groups
# gains no free agreement; a difference is claimed only where the paired interval (both scores
# on the same resampled unseen galaxies) excludes zero.

# %% tags=["nbval-ignore-output"]
families = compare.against_families(clusters, names.density, galaxies,
                                    unseen, seed=seed)
families.table()

# %% [markdown]
# ## Do the codes separate the labels? Probes, out of sample
#
# Clustering has to find the groups unaided. A *probe* asks the easier question of whether the
# labels can be read off the codes at all: fitted on the galaxies the network trained on and
# scored on the galaxies it never saw. Two probes: a k-nearest-neighbour vote (does a galaxy's
# neighbourhood among the training galaxies share its label?) and a linear probe (a logistic
# regression on the codes' 50 leading, whitened principal components: a linear map of the 512
# numbers). The same probes, on the same galaxies, on three baselines: the raw pixels
# (PCA-reduced, cut as the network cut them: is it the network, or would the pixels alone
# do?), the codes of the same network with random weights (what the architecture gives without
# training), and the network's own predicted vote fractions run through chapter 1's decision
# tree (what it was trained to say). Always answering the most common training label is the
# floor. The in-sample accuracy of the codes (cross-validated within the training galaxies)
# shows the size of the leak.

# %% tags=["nbval-ignore-output"]
rows, rare = compare.probe_rows(galaxies["label"], folds)
untrained = chapter.run.codes("features_untrained.parquet", galaxies)
pixels = compare.raw_pixels(galaxies, rows, rows & ~unseen,
                            size=pixel_size, seed=seed,
                            crop=chapter.run.config()["crop"])
inputs = {"CNN codes": codes, "untrained network": untrained,
          "raw pixels": pixels}
found = compare.probes(galaxies, inputs, chapter.run.predictions(galaxies),
                       unseen, rows, knn_k=knn_k, folds=folds, seed=seed)
print(f"{len(found.truth)} unseen galaxies scored, {found.n_train} to fit")
found.table()

# %% [markdown]
# Which labels the linear probe on the codes confuses, as a share of each true label (rows), on
# the unseen galaxies.

# %%
confusion = compare.confusion(found.predictions[compare.CODES_PROBE],
                              found.truth, ALL_LABELS)
plots.confusion_heatmap(confusion, title="linear probe on the CNN codes "
                        "(unseen galaxies)")
plt.show()

# %% [markdown]
# The verdicts compare the linear probe on the codes (the study's probe, chosen before any
# score was seen) with the better of the two probes on each baseline, on the same unseen
# galaxies; a difference is claimed only where the interval of the paired difference excludes
# zero. These intervals say how much the scores depend on *which galaxies* were drawn. They do
# not cover a second training of the network, which moves the differences too: by how much
# was measured by training again on other processors and is the replay's tolerance of each
# difference (`notebooks/tolerances.yml`). A verdict is drawn only where the difference is more
# than twice that spread; a smaller one is given with its interval, and no verdict.

# %% tags=["nbval-ignore-output"]
spread = replay.spreads("compare", "margins", compare.BASELINES)
said = compare.verdicts(found, spread, seed=seed)
for _, sentence in said.values():
    print(sentence)

# %% tags=["remove-cell"]
kept = records.compare(found, said, vs, families, blind_across,
                       knn_k=knn_k)
study.close_chapter(chapter, "compare", kept)

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, scored on the {glue:text}`n_labelled` labelled galaxies the
# network never trained on: a linear probe fitted on the {glue:text}`n_probe_train` training
# galaxies reads their label off the codes with {glue:text}`probe_accuracy` accuracy
# (balanced: {glue:text}`probe_balanced`; in sample, on the training galaxies themselves:
# {glue:text}`probe_in_sample`), a vote of the {glue:text}`knn_k` nearest training galaxies with
# {glue:text}`knn_accuracy`. Always the most common label: {glue:text}`majority`. Against the
# baselines on the same galaxies: {glue:text}`verdict_pixels`; {glue:text}`verdict_untrained`;
# {glue:text}`verdict_fractions`. Of the clusterings that never saw the labels (all but those on
# LDA), {glue:text}`best_clustering` agrees best with the labels of the training galaxies (AMI
# {glue:text}`best_ami_train`); on the unseen galaxies it reaches AMI {glue:text}`best_ami`, ARI
# {glue:text}`best_ari`, purity {glue:text}`best_purity`. {glue:text}`truth_sentence`
# {glue:text}`family_sentence` The label-blind reductions agree with each other at k-means of
# the same k with a mean AMI of {glue:text}`across_ami`.
