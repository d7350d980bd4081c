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

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers import artifacts, evaluate, replay, study
from helpers.book import plots
from helpers.codes import cluster, compare, reduce
from helpers.data import labels
from helpers.data.imagecache import load_image_array
from helpers.data.schema import ALL_LABELS, COLUMNS, ID_COLUMN

# %% tags=["parameters"]
data_dir = "data/synthetic/demo"  # Kaggle layout (and, on the mock, ground_truth.csv)
run_dir = "data/processed/demo"  # reads features, labels, clusters; adds "compare" to metrics.json
compare_k = 8  # the k at which the reductions are compared with each other
knn_k = 10  # neighbours of the k-nearest-neighbour probe
folds = 5  # cross-validation folds of the in-sample probes (within the training galaxies)
pixel_size = 64  # the no-network baseline probes the raw pixels at this size (crop 212)
seed = 42  # seeds the folds

# %%
data_path, run_path, source = study.open_chapter(data_dir, run_dir, seed=seed)
galaxies, codes = reduce.load_codes(run_path, data_path)
clusters = cluster.read_clusters(run_path, galaxies[ID_COLUMN].to_numpy())
names = [c for c in clusters.columns if c != ID_COLUMN]
kmeans = [n for n in names if n.startswith("kmeans")]
density = [n for n in names if not n.startswith("kmeans")]
spaces = list(dict.fromkeys(n.split("_", 1)[1] for n in kmeans))
ks = sorted({int(n.split("_")[0].removeprefix("kmeans")) for n in kmeans})
sets = evaluate.read_split(run_path, galaxies[ID_COLUMN])
unseen = evaluate.unseen(sets)
print(f"{int(unseen.sum())} of the galaxies were never seen by the network in training; ", end="")
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
    for i, metric in enumerate(evaluate.SCORES):
        table = compare.matrix(clusters, cols, metric=metric)
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
for ax, metric in zip(axes, evaluate.SCORES, strict=True):
    across[metric] = compare.matrix(clusters, cols, metric=metric)
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
for ax, metric in zip(axes, evaluate.SCORES, strict=True):
    plots.score_heatmap(compare.matrix(clusters, density, kmeans, metric=metric), ax=ax,
                        title=f"{metric}: density clusterings (rows) against every k-means")
fig.tight_layout()
plt.show()

# %% [markdown]
# The mean agreement between spaces leaves out the LDA space: it was fitted on the labels, so
# its agreement with the others is not a property of the codes alone.

# %%
blind_spaces = [sp for sp in spaces if not sp.startswith("lda")]
blind_across = {metric: compare.mean_offdiagonal(table.loc[[f"kmeans{compare_k}_{sp}" for sp in blind_spaces],
                                                     [f"kmeans{compare_k}_{sp}" for sp in blind_spaces]])
                for metric, table in across.items()}

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

# %%
usable = reduce.labelled_rows(galaxies["label"])
label_or_none = galaxies["label"].where(usable)
vs_labels = compare.against(clusters[unseen], names, label_or_none[unseen])
vs_labels_train = compare.against(clusters[~unseen], names, label_or_none[~unseen])
has_truth = "true_label" in galaxies
columns = {"AMI (unseen)": vs_labels["AMI"], "ARI (unseen)": vs_labels["ARI"],
           "purity (unseen)": vs_labels["purity"], "AMI (training, in sample)": vs_labels_train["AMI"]}
if has_truth:
    vs_truth = compare.against(clusters[unseen], names, galaxies.loc[unseen, "true_label"])
    columns["AMI vs truth (unseen)"] = vs_truth["AMI"]
    rows = usable & unseen
    votes_vs_truth = {m: evaluate.score(galaxies.loc[rows, "label"], galaxies.loc[rows, "true_label"], m)
                      for m in evaluate.SCORES}
table = pd.DataFrame(columns).assign(clusters=vs_labels["clusters"],
                                     **{"saw the labels": ["yes (LDA)" if "lda" in n else "" for n in names]})
blind = [n for n in names if "lda" not in n]
best = vs_labels_train.loc[blind, "AMI"].idxmax()  # chosen in sample, scored out of sample
best_ami = evaluate.cluster_agreement(clusters.loc[unseen & usable, best], galaxies.loc[unseen & usable, "label"],
                                      "AMI", seed=seed)
best_ari = evaluate.cluster_agreement(clusters.loc[unseen & usable, best], galaxies.loc[unseen & usable, "label"],
                                      "ARI", seed=seed)

# %%
# NBVAL_IGNORE_OUTPUT
table.loc[blind].sort_values("AMI (unseen)", ascending=False).round(3)

# %%
# NBVAL_IGNORE_OUTPUT
table.drop(index=blind).round(3)  # the LDA clusterings: fitted with the labels' help

# %% [markdown]
# The labels come in families (round galaxies, edge-on disks, face-on disks, stars and
# artifacts). Scoring the density clusterings against the families as well as the labels says
# at which level their groups sit. AMI is corrected for chance, so a partition into fewer groups
# gains no free agreement; a difference is claimed only where the paired interval (both scores
# on the same resampled unseen galaxies) excludes zero.

# %%
families = label_or_none.str.split(":").str[0]
family_rows = (unseen & usable)
family_est, family_diff = {}, {}
for name in density:
    a, f, y = clusters.loc[family_rows, name], families[family_rows], label_or_none[family_rows]
    family_est[name] = {"labels": evaluate.score(y, a, "AMI"), "families": evaluate.score(f, a, "AMI")}
    family_diff[name] = evaluate.difference(lambda a, f, y: evaluate.score(f, a, "AMI"),
                                            lambda a, f, y: evaluate.score(y, a, "AMI"), a, f, y,
                                            seed=seed, n_boot=200)
family_sentence = evaluate.family_sentence(family_est, family_diff)

# %%
# NBVAL_IGNORE_OUTPUT
pd.DataFrame({name: {"AMI vs labels": v["labels"], "AMI vs families": v["families"],
                     "difference (95% interval)": family_diff[name].format(".3f")}
              for name, v in family_est.items()}).T

# %%
fig, ax = plt.subplots(figsize=(10, 3.6))
order = table.loc[blind].sort_values("AMI (unseen)", ascending=False).index
ax.bar(np.arange(len(order)) - 0.2, table.loc[order, "AMI (unseen)"], 0.4, color="#08519c",
       label="AMI vs labels (unseen)")
if has_truth:
    ax.bar(np.arange(len(order)) + 0.2, vs_truth.loc[order, "AMI"], 0.4, color="#fdae6b",
           label="AMI vs truth (unseen, mock)")
    ax.axhline(votes_vs_truth["AMI"], color="#b2182b", lw=0.8, ls="--", label="vote labels vs truth")
ax.set_xticks(np.arange(len(order)), order, rotation=60, ha="right", fontsize=7)
ax.set(ylabel="AMI", ylim=(0, 1))
ax.legend(frameon=False, fontsize=8)
plt.show()

# %% [markdown]
# ## Do the codes separate the labels? Probes, out of sample
#
# Clustering has to find the groups unaided. A *probe* asks the easier question of whether the
# labels can be read off the codes at all: fitted on the galaxies the network trained on and
# scored on the galaxies it never saw. Two probes: a k-nearest-neighbour vote (does a galaxy's
# neighbourhood among the training galaxies share its label?) and a linear probe (a logistic
# regression on the codes' 50 leading, whitened principal components: a linear map of the 512
# numbers). The same probes, on the same galaxies, on three baselines: the raw pixels
# (PCA-reduced: is it the network, or would the pixels alone do?), the codes of the same network
# with random weights (what the architecture gives without training), and the network's own
# predicted vote fractions run through chapter 1's decision tree (what it was trained to say).
# Always answering the most common training label is the floor. The in-sample accuracy of the
# codes (cross-validated within the training galaxies) shows the size of the leak.

# %%
rows, rare = compare.probe_rows(galaxies["label"], folds)
if rare:
    print(f"left out of the probes, fewer than {folds} galaxies each: {', '.join(rare)}")
train_rows, test_rows = rows & ~unseen, rows & unseen
y_train, y_test = galaxies.loc[train_rows, "label"].to_numpy(), galaxies.loc[test_rows, "label"].to_numpy()
images = load_image_array(galaxies.loc[rows, "image_path"], size=pixel_size, crop=212)
pixel_rows = compare.pixel_codes(images, seed=seed, fit_rows=train_rows[rows])  # PCA fitted on training galaxies
pixels = np.zeros((len(galaxies), pixel_rows.shape[1]), np.float32)
pixels[rows] = pixel_rows
untrained = artifacts.read_aligned(run_path / "features_untrained.parquet", galaxies[ID_COLUMN],
                                   "03_extract_features").drop(columns=ID_COLUMN).to_numpy(np.float32)
fractions = artifacts.read_aligned(run_path / "predictions.parquet", galaxies[ID_COLUMN],
                                   "03_extract_features")
inputs = {"CNN codes": codes, "untrained network": untrained, "raw pixels": pixels}
pred = {}
for name, x in inputs.items():
    pred[(name, "k-NN")] = compare.knn_fit_predict(x[train_rows], y_train, x[test_rows], k=knn_k)
    pred[(name, "linear probe")] = compare.probe_fit_predict(x[train_rows], y_train, x[test_rows], seed=seed)
pred[("predicted fractions", "decision tree")] = labels.assign_labels(fractions[COLUMNS])["label"].to_numpy()[test_rows]
pred[("always the most common label", "-")] = np.full(len(y_test), pd.Series(y_train).mode()[0], dtype=object)
if has_truth:  # the votes themselves, against the drawn morphology (mock only): a different question
    votes_right = evaluate.accuracy(y_test, galaxies.loc[test_rows, "true_label"].to_numpy(), seed=seed)
probes = {key: evaluate.accuracy(p, y_test, seed=seed) for key, p in pred.items()}
balanced = {key: evaluate.accuracy(p, y_test, balanced=True, seed=seed) for key, p in pred.items()}
in_sample = {probe: compare.accuracy(fn(codes[train_rows], y_train, folds=folds, seed=seed), y_train)["accuracy"]
             for probe, fn in (("k-NN", lambda x, y, **kw: compare.knn_predict(x, y, k=knn_k, **kw)),
                               ("linear probe", compare.probe_predict))}

# %%
# NBVAL_IGNORE_OUTPUT
probe_table = pd.DataFrame({"accuracy (unseen)": {k: e.format(".3f") for k, e in probes.items()},
                            "balanced (unseen)": {k: e.format(".3f") for k, e in balanced.items()}})
probe_table.index.names = ["input", "probe"]
probe_table["accuracy (training, in sample)"] = [f"{in_sample[p]:.3f}" if i == "CNN codes" else ""
                                                 for i, p in probe_table.index]
print(f"{len(y_test)} unseen galaxies scored; probes fitted on {len(y_train)} training galaxies")
probe_table

# %% [markdown]
# Which labels the linear probe on the codes confuses, as a share of each true label (rows), on
# the unseen galaxies.

# %%
conf = compare.confusion(pred[("CNN codes", "linear probe")], y_test, ALL_LABELS)
plots.confusion_heatmap(conf, title="linear probe on the CNN codes (unseen galaxies)")
plt.show()

# %% [markdown]
# The verdicts compare the linear probe on the codes (the study's probe, chosen before any
# score was seen) with the better of the two probes on each baseline, on the same unseen
# galaxies; a difference is claimed only where the interval of the paired
# difference excludes zero. These intervals say how much the scores depend on *which galaxies*
# were drawn. They do not cover a second training of the network, which moves the differences
# too: by how much was measured by training again on other processors and is the replay's
# tolerance of each difference (`notebooks/tolerances.yml`). A verdict is drawn only where the
# difference is more than twice that spread; a smaller one is given with its interval, and no
# verdict.

# %%
def best_probe(name):
    return max((key for key in probes if key[0] == name), key=lambda key: probes[key].value)


codes_key = ("CNN codes", "linear probe")
baselines = {"raw_pixels": best_probe("raw pixels"), "untrained": best_probe("untrained network"),
             "predicted_fractions": ("predicted fractions", "decision tree"),
             "majority": ("always the most common label", "-")}
tolerances = replay.load_tolerances()
verdicts = {}
for key, other in baselines.items():
    diff = evaluate.difference(lambda p, q, y: evaluate.accuracy_of(p, y),
                               lambda p, q, y: evaluate.accuracy_of(q, y),
                               pred[codes_key], pred[other], y_test, seed=seed)
    spread = replay.tolerance_for("compare", f"margins.{key}", tolerances)
    verdicts[key] = (diff, evaluate.compare_sentence(
        f"the codes ({codes_key[1]})", probes[codes_key], f"{other[0]} ({other[1]})", probes[other], diff,
        what="accuracy on unseen galaxies", spread=spread))
claimed = replay.claimed("compare", tolerances)  # the verdicts the replay compares word for word
floor = probes[("always the most common label", "-")]

# %% [markdown]
# What the chapter keeps. The headlines are the numbers the replay compares with the committed
# run, each within its measured tolerance (`notebooks/tolerances.yml`):

# %%
headlines = {
    "linear_probe": {"unseen": round(probes[("CNN codes", "linear probe")].value, 4),
                     "in_sample": round(in_sample["linear probe"], 4)},
    "knn": {"unseen": round(probes[("CNN codes", "k-NN")].value, 4), "in_sample": round(in_sample["k-NN"], 4)},
    "baselines": {"raw_pixels": round(probes[best_probe("raw pixels")].value, 4),
                  "untrained": round(probes[best_probe("untrained network")].value, 4),
                  "predicted_fractions": round(probes[("predicted fractions", "decision tree")].value, 4),
                  "majority": round(floor.value, 4)},
    "best_clustering": {"ami_unseen": round(best_ami.value, 4), "ari_unseen": round(best_ari.value, 4)},
    "across_reductions_ami": round(blind_across["AMI"], 4),
    "margins": {key: round(diff.value, 4) for key, (diff, _) in verdicts.items()},
    "verdicts": {key: evaluate.verdict(verdicts[key][0]) for key in claimed},
}

# %% [markdown]
# The record is everything `metrics.json` keeps of this chapter: each score with its interval,
# out of sample and in sample, and the verdicts' paired differences:

# %%
record = {
    "data_source": source["kind"], "galaxies": int(usable.sum()), "unseen_scored": int(len(y_test)),
    "probe_training_galaxies": int(len(y_train)),
    "probes_unseen": {f"{i} / {p}": {"accuracy": probes[(i, p)].to_dict(), "balanced": balanced[(i, p)].to_dict()}
                      for i, p in probes},
    "probes_in_sample": {f"CNN codes / {p}": round(v, 4) for p, v in in_sample.items()},
    "majority_accuracy": floor.to_dict(),
    "knn_accuracy": probes[("CNN codes", "k-NN")].to_dict(),
    "linear_probe_accuracy": probes[("CNN codes", "linear probe")].to_dict(),
    "codes_vs_baselines": {b: d.to_dict() for b, (d, _) in verdicts.items()},
    "vs_labels_unseen": {n: {k: round(float(v), 4) for k, v in r.items()} for n, r in vs_labels.iterrows()},
    "vs_labels_in_sample": {n: round(float(r["AMI"]), 4) for n, r in vs_labels_train.iterrows()},
    "best_vs_labels": best, "best_ami_unseen": best_ami.to_dict(), "best_ari_unseen": best_ari.to_dict(),
    "density_vs_families": {n: {"labels": round(v["labels"], 4), "families": round(v["families"], 4),
                                "difference": family_diff[n].to_dict()} for n, v in family_est.items()},
    "across_reductions_label_blind": {m: round(v, 4) for m, v in blind_across.items()},
}
if has_truth:
    record["vs_truth_unseen"] = {n: {k: round(float(v), 4) for k, v in r.items()} for n, r in vs_truth.iterrows()}
    record["votes_vs_truth_unseen"] = {"accuracy": votes_right.to_dict(),
                                       **{m: round(v, 4) for m, v in votes_vs_truth.items()}}

# %% [markdown]
# The chapter closes by writing both, and by glueing the values its summary quotes, taken from
# the same numbers:

# %%
metrics = study.close_chapter(run_path, "compare", record, headlines=headlines, source=source, glued={
    "n_labelled": int(len(y_test)), "n_probe_train": int(len(y_train)),
    "knn_accuracy": probes[("CNN codes", "k-NN")].format(".1%"),
    "probe_accuracy": probes[("CNN codes", "linear probe")].format(".1%"),
    "probe_balanced": balanced[("CNN codes", "linear probe")].format(".1%"),
    "probe_in_sample": f"{in_sample['linear probe']:.1%}",
    "pixel_accuracy": probes[best_probe("raw pixels")].format(".1%"),
    "untrained_accuracy": probes[best_probe("untrained network")].format(".1%"),
    "tree_accuracy": probes[("predicted fractions", "decision tree")].format(".1%"),
    "majority": floor.format(".1%"),
    "verdict_pixels": verdicts["raw_pixels"][1], "verdict_untrained": verdicts["untrained"][1],
    "verdict_fractions": verdicts["predicted_fractions"][1], "verdict_majority": verdicts["majority"][1],
    "best_clustering": best, "best_ami": best_ami.format(".2f"), "best_ari": best_ari.format(".2f"),
    "best_purity": f"{vs_labels.loc[best, 'purity']:.0%}",
    "best_ami_train": f"{vs_labels_train.loc[best, 'AMI']:.2f}",
    "across_ami": f"{blind_across['AMI']:.2f}", "family_sentence": family_sentence,
    "truth_sentence": evaluate.truth_sentence(vs_truth.loc[best, "AMI"], votes_vs_truth["AMI"])
    if has_truth else "This data has no ground truth beyond the votes.",
})

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, scored on the {glue:text}`n_labelled` labelled galaxies the
# network never trained on: a linear probe fitted on the {glue:text}`n_probe_train` training
# galaxies reads their label off the codes with {glue:text}`probe_accuracy` accuracy
# (balanced: {glue:text}`probe_balanced`; in sample, on the training galaxies themselves:
# {glue:text}`probe_in_sample`), a vote of the ten nearest training galaxies with
# {glue:text}`knn_accuracy`. Always the most common label: {glue:text}`majority`. Against the
# baselines on the same galaxies: {glue:text}`verdict_pixels`; {glue:text}`verdict_untrained`;
# {glue:text}`verdict_fractions`. Of the clusterings that never saw the labels (all but those on
# LDA), {glue:text}`best_clustering` agrees best with the labels of the training galaxies (AMI
# {glue:text}`best_ami_train`); on the unseen galaxies it reaches AMI {glue:text}`best_ami`, ARI
# {glue:text}`best_ari`, purity {glue:text}`best_purity`. {glue:text}`truth_sentence`
# {glue:text}`family_sentence` The label-blind reductions agree with each other at k-means of
# the same k with a mean AMI of {glue:text}`across_ami`.
