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
# becomes a number?

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from myst_nb import glue

from helpers import artifacts, plots, study
from helpers import cluster as C
from helpers import compare as K
from helpers import reduce as R
from helpers.imagecache import load_image_array
from helpers.schema import ALL_LABELS, ID_COLUMN

# %% tags=["parameters"]
data_dir = "data/synthetic/demo"  # Kaggle layout (and, on the mock, ground_truth.csv)
run_dir = "data/processed/demo"  # reads features, labels, clusters; adds "compare" to metrics.json
compare_k = 8  # the k at which the reductions are compared with each other
knn_k = 10  # neighbours of the k-nearest-neighbour probe
folds = 5  # cross-validation folds of both probes
pixel_size = 64  # the no-network baseline probes the raw pixels at this size (crop 212)
seed = 42  # seeds the folds

# %%
data_path, run_path, source = study.open_chapter(data_dir, run_dir, seed=seed)
galaxies, codes = R.load_codes(run_path, data_path)
clusters = C.read_clusters(run_path, galaxies[ID_COLUMN].to_numpy())
names = [c for c in clusters.columns if c != ID_COLUMN]
kmeans = [n for n in names if n.startswith("kmeans")]
density = [n for n in names if not n.startswith("kmeans")]
spaces = list(dict.fromkeys(n.split("_", 1)[1] for n in kmeans))
ks = sorted({int(n.split("_")[0].removeprefix("kmeans")) for n in kmeans})
print(f"{len(names)} clusterings of {len(galaxies)} galaxies: k-means k={ks} on {spaces}; {density}")

# %% [markdown]
# ## k-means at different k, within each space
#
# Does k-means on one space keep its groups as k grows (clusters split), or reshuffle them?
# High values next to the diagonal mean the partitions are nested and stable.

# %%
fig, axes = plt.subplots(2, len(spaces), figsize=(3.1 * len(spaces), 5.8), squeeze=False)
for j, space in enumerate(spaces):
    cols = [f"kmeans{k}_{space}" for k in ks]
    for i, metric in enumerate(K.SCORES):
        table = K.matrix(clusters, cols, metric=metric)
        table.index = table.columns = [f"k={k}" for k in ks]
        plots.score_heatmap(table, ax=axes[i, j], title=f"{metric}, {space}")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Across reductions, at the same k
#
# The same k-means on four different views of the same codes: where the views agree, the
# groups are a property of the codes, not of the reduction.

# %%
cols = [f"kmeans{compare_k}_{s}" for s in spaces]
if not all(c in clusters for c in cols):
    raise ValueError(f"compare_k={compare_k}: chapter 5 ran k-means for k={ks} only")
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
across = {}
for ax, metric in zip(axes, K.SCORES, strict=True):
    across[metric] = K.matrix(clusters, cols, metric=metric)
    shown = across[metric].set_axis(spaces, axis=0).set_axis(spaces, axis=1)
    plots.score_heatmap(shown, ax=ax, title=f"{metric} between spaces, k={compare_k}")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Density clusters against every k-means
#
# DBSCAN and HDBSCAN decide the number of clusters themselves and leave some galaxies as noise
# (which counts as one more group here, as in the seed study).

# %%
fig, axes = plt.subplots(2, 1, figsize=(12, 1.2 + 0.9 * len(density) * 2))
for ax, metric in zip(axes, K.SCORES, strict=True):
    plots.score_heatmap(K.matrix(clusters, density, kmeans, metric=metric), ax=ax,
                        title=f"{metric}: density clusterings (rows) against every k-means")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Against the labels, and against the truth
#
# What the seed study never measured: each clustering scored against the chapter-1 labels
# (galaxies whose label is missing or uncertain are left out) and, on the mock, against the
# morphology that was drawn. *Purity* is the share of galaxies whose cluster's most common label
# is their own; it rewards many small clusters, so read it beside ARI and AMI. The labels'
# own agreement with the truth is the ceiling a clustering of labels could reach.

# %%
usable = R.labelled_rows(galaxies["label"])
labels = galaxies["label"].where(usable)
vs_labels = K.against(clusters, names, labels)
has_truth = "true_label" in galaxies
if has_truth:
    vs_truth = K.against(clusters, names, galaxies["true_label"])
    ceiling = {m: K.score(galaxies.loc[usable, "label"], galaxies.loc[usable, "true_label"], m)
               for m in K.SCORES}
    table = pd.concat({"against labels": vs_labels, "against truth": vs_truth.drop(columns="clusters")},
                      axis=1)
else:
    table = pd.concat({"against labels": vs_labels}, axis=1)
blind = [n for n in names if "lda" not in n]  # LDA spaces were fitted on the labels themselves
best = vs_labels.loc[blind, "AMI"].idxmax()

# %%
# NBVAL_IGNORE_OUTPUT
table.sort_values(("against labels", "AMI"), ascending=False).round(3)

# %% [markdown]
# The labels come in families (round galaxies, edge-on disks, face-on disks, stars and
# artifacts). Scoring the density clusterings against the families as well as the labels says
# at which level the groups in the codes sit.

# %%
# NBVAL_IGNORE_OUTPUT
families = labels.str.split(":").str[0]
by_family = pd.DataFrame({"AMI vs labels": vs_labels.loc[density, "AMI"],
                          "AMI vs families": K.against(clusters, density, families)["AMI"]})
by_family.round(3)

# %%
fig, ax = plt.subplots(figsize=(10, 3.6))
order = vs_labels.sort_values("AMI", ascending=False).index
ax.bar(np.arange(len(order)) - 0.2, vs_labels.loc[order, "AMI"], 0.4, color="#08519c", label="AMI vs labels")
if has_truth:
    ax.bar(np.arange(len(order)) + 0.2, vs_truth.loc[order, "AMI"], 0.4, color="#fdae6b",
           label="AMI vs truth (mock)")
    ax.axhline(ceiling["AMI"], color="#b2182b", lw=0.8, ls="--", label="labels vs truth")
ax.set_xticks(np.arange(len(order)), order, rotation=60, ha="right", fontsize=7)
ax.set(ylabel="AMI", ylim=(0, 1))
ax.legend(frameon=False, fontsize=8)
plt.show()

# %% [markdown]
# ## Do the codes separate the labels? Two probes
#
# Clustering has to find the groups unaided. A *probe* asks the easier question of whether the
# labels can be read off the codes at all, with accuracy on galaxies the probe did not fit
# (`folds`-fold cross-validation): a k-nearest-neighbour vote (does a galaxy's neighbourhood in
# code space share its label?) and a linear probe (a logistic regression on the codes' 50
# leading, whitened principal components: a linear map of the 512 numbers).
# Two floors make the numbers meaningful: always answering the most common label, and the same
# probes on the raw pixels, PCA-reduced (is it the network, or would the pixels alone do?).
# Balanced accuracy averages the per-label recall, so rare labels count as much as common ones.

# %%
rows, rare = K.probe_rows(galaxies["label"], folds)
if rare:
    print(f"left out of the probes, fewer than {folds} galaxies each: {', '.join(rare)}")
y = galaxies.loc[rows, "label"].to_numpy()
x = codes[rows]
images = load_image_array(galaxies.loc[rows, "image_path"], size=pixel_size, crop=212)
pixels = K.pixel_codes(images, seed=seed)
pred = {
    ("CNN codes", "k-NN"): K.knn_predict(x, y, k=knn_k, folds=folds, seed=seed),
    ("CNN codes", "linear probe"): K.probe_predict(x, y, folds=folds, seed=seed),
    ("raw pixels", "k-NN"): K.knn_predict(pixels, y, k=knn_k, folds=folds, seed=seed),
    ("raw pixels", "linear probe"): K.probe_predict(pixels, y, folds=folds, seed=seed),
}
probes = pd.DataFrame({key: K.accuracy(p, y) for key, p in pred.items()}).T
probes.index.names = ["input", "probe"]
floor = K.majority(y)

# %%
# NBVAL_IGNORE_OUTPUT
print(f"always the most common label: accuracy {floor:.3f}")
probes.round(3)

# %% [markdown]
# Which labels the linear probe on the codes confuses, as a share of each true label (rows).

# %%
conf = K.confusion(pred[("CNN codes", "linear probe")], y, ALL_LABELS)
plots.confusion_heatmap(conf, title="linear probe on the CNN codes (cross-validated)")
plt.show()

# %% [markdown]
# The exact accuracies move a little with the training run; the replay of this page checks the
# verdicts below.

# %%
codes_acc = probes.loc[("CNN codes", "linear probe"), "accuracy"]
codes_knn = probes.loc[("CNN codes", "k-NN"), "accuracy"]
pixels_acc = probes.loc["raw pixels", "accuracy"].max()
print("the codes predict the labels at least twice as well as always the most common label"
      if min(codes_acc, codes_knn) >= 2 * floor else
      "WARNING: the codes barely beat always answering the most common label")
print("the codes beat the raw pixels" if max(codes_acc, codes_knn) > pixels_acc else
      "WARNING: the raw pixels do as well as the codes")

# %%
# NBVAL_IGNORE_OUTPUT
record = {
    "data_source": source["kind"], "galaxies": int(usable.sum()), "probed": int(rows.sum()),
    "majority_accuracy": round(floor, 4),
    "probes": {f"{i} / {p}": {k: round(float(v), 4) for k, v in row.items()}
               for (i, p), row in probes.iterrows()},
    "knn_accuracy": round(float(codes_knn), 4), "linear_probe_accuracy": round(float(codes_acc), 4),
    "vs_labels": {n: {k: round(float(v), 4) for k, v in r.items()} for n, r in vs_labels.iterrows()},
    "best_vs_labels": best,
    "density_vs_families": {k: round(float(v), 4) for k, v in by_family["AMI vs families"].items()},
    "across_reductions": {m: round(float(t.to_numpy()[np.triu_indices(len(t), 1)].mean()), 4)
                          for m, t in across.items()},
}
if has_truth:
    record["vs_truth"] = {n: {k: round(float(v), 4) for k, v in r.items()} for n, r in vs_truth.iterrows()}
    record["labels_vs_truth"] = {m: round(v, 4) for m, v in ceiling.items()}
metrics = artifacts.update_metrics(run_path, "compare", record)
glue("n_labelled", int(rows.sum()), display=False)
glue("knn_accuracy", f"{codes_knn:.1%}", display=False)
glue("probe_accuracy", f"{codes_acc:.1%}", display=False)
glue("probe_balanced", f"{probes.loc[('CNN codes', 'linear probe'), 'balanced']:.1%}", display=False)
glue("pixel_accuracy", f"{pixels_acc:.1%}", display=False)
glue("majority", f"{floor:.1%}", display=False)
glue("best_clustering", best, display=False)
glue("best_ami", f"{vs_labels.loc[best, 'AMI']:.2f}", display=False)
glue("best_ari", f"{vs_labels.loc[best, 'ARI']:.2f}", display=False)
glue("best_purity", f"{vs_labels.loc[best, 'purity']:.0%}", display=False)
glue("across_ami", f"{record['across_reductions']['AMI']:.2f}", display=False)
family_gain = float((by_family["AMI vs families"] - by_family["AMI vs labels"]).mean())
glue("family_sentence", (
    f"Scored against the four families of labels instead of the nine labels, the density "
    f"clusterings reach a mean AMI of {by_family['AMI vs families'].mean():.2f} (against "
    f"{by_family['AMI vs labels'].mean():.2f}): "
    + ("the groups they find are the families, and the finer labels sit within them"
       if family_gain > 0.1 else "they follow the labels about as well as the families")),
    display=False)
glue("truth_sentence", (
    f"Against the drawn morphology of the mock, the same clustering reaches an AMI of "
    f"{vs_truth.loc[best, 'AMI']:.2f}, where the vote labels themselves reach {ceiling['AMI']:.2f}."
    if has_truth else "This data has no ground truth beyond the votes."), display=False)
glue("probe_verdict", (
    "The network learned morphology: its codes predict the labels far better than chance and better "
    "than the raw pixels" if min(codes_acc, codes_knn) >= 2 * floor
    and max(codes_acc, codes_knn) > pixels_acc else
    "The codes do not clearly beat the floors: this run's network learned little morphology"),
    display=False)

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`: for the {glue:text}`n_labelled` labelled galaxies, a
# {glue:text}`knn_accuracy` k-nearest-neighbour accuracy and a {glue:text}`probe_accuracy` linear
# probe accuracy (balanced: {glue:text}`probe_balanced`), against {glue:text}`majority` for always
# the most common label and {glue:text}`pixel_accuracy` for the best probe on raw pixels.
# {glue:text}`probe_verdict`. Of the clusterings that never saw the labels (all but those on
# LDA), {glue:text}`best_clustering` agrees best with the labels (AMI {glue:text}`best_ami`, ARI {glue:text}`best_ari`, purity
# {glue:text}`best_purity`). {glue:text}`truth_sentence` The reductions agree with each other at
# k-means of the same k with a mean AMI of {glue:text}`across_ami`.
