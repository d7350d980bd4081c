# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -papermill,-execution
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -papermill,-widgets
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# (chapter-labels)=
# # The data and its labels
#
# Before a network can learn anything about galaxies we need to know what the data hold and
# what we will call each galaxy. This chapter reads the Galaxy Zoo vote table in the Kaggle
# layout, checks it (table and images), follows the Galaxy Zoo 2 decision tree to one
# morphology label per galaxy, and shows how those labels compare with the seed study's
# simpler rule and, on the mock data, with the morphology that was actually drawn.

# %%
import matplotlib.pyplot as plt
import pandas as pd

from helpers import artifacts, paths, study
from helpers.book import plots
from helpers.data import labels
from helpers.data.dataset import load_dataset
from helpers.data.schema import COLUMNS, ID_COLUMN, LABELS, TRUTH_FILE

# %% tags=["parameters"]
data_dir = "data/synthetic/demo"  # Kaggle layout: training_solutions_rev1.csv + images_training_rev1/
run_dir = "data/processed/demo"  # this run's artifacts (labels.parquet, metrics.json)
on_bad_image = "error"  # per-image problems: "error" stops, "skip" drops those galaxies
label_threshold = None  # None: plain tree walk; a number in [0, 1] calls weaker galaxies "uncertain"
agreement = "leaf"  # what the threshold applies to: "leaf" probability or every "step" of the path
examples_per_label = 6  # galaxies shown per label in the gallery
seed = 42  # seeds the choice of example galaxies

# %%
data_path, run_path, source = study.open_chapter(data_dir, run_dir, seed=seed)

# %% [markdown]
# ## Is the data usable?
#
# The reader checks the table (header, values in [0, 1], the decision-tree sums, duplicate IDs)
# and every image (missing, unreadable, truncated, of another size or colour mode). With
# `on_bad_image="skip"` a broken image removes its galaxy and the report lists it; by default it
# stops the run.

# %%
galaxies, report = load_dataset(data_path, on_bad_image=on_bad_image)
print("\n".join(report.summary_lines()))
artifacts.write_json(report.to_dict() | {"data_dir": paths.relative(data_path)},
                     run_path / "validation.json")
assert report.usable and len(galaxies) > 0

# %% [markdown]
# ## How decisive are the volunteers?
#
# Each column of the table is a *cumulative* vote fraction: the share of all volunteers who
# reached that answer. Divided by the share who reached the question, it becomes the
# fraction of votes that answer won at that step. Peaks near 0 and 1 mean easy decisions;
# mass in the middle means volunteers disagreed.

# %%
fig = plots.vote_histograms(galaxies)
plt.show()

# %% [markdown]
# ## One label per galaxy
#
# We walk the tree by the most-voted answer at each question: smooth galaxies are labelled by
# how round they are (Q7), edge-on disks by the shape of their bulge (Q9), other disks by
# whether they show spiral arms (Q4), and galaxies most volunteers called a star or an artifact
# get a label of their own. The *leaf probability* is the product of the vote fractions along
# that path: the share of volunteers who would have reached the same leaf.

# %%
ours = labels.assign_labels(galaxies, threshold=label_threshold, agreement=agreement)
seed_rule = labels.assign_labels(galaxies, rule="seed")
counts = labels.label_counts(ours["label"])
counts.to_frame().assign(share=lambda t: (t["galaxies"] / t["galaxies"].sum()).round(3))

# %%
plots.label_bar(counts)
plt.show()

# %% [markdown]
# The leaf probability says how confident the crowd was. Low values mean the path split the
# volunteers; a threshold (parameter `label_threshold`) turns such galaxies into "uncertain".
# The curve shows what share of the sample each threshold would set aside.

# %%
sweep = labels.threshold_sweep(galaxies)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(sweep["threshold"], sweep["leaf"], label="leaf probability below threshold")
ax.plot(sweep["threshold"], sweep["step"], label="weakest step below threshold")
ax.set_xlabel("agreement threshold")
ax.set_ylabel("share called uncertain")
ax.legend(frameon=False, fontsize=8)
plt.show()
ours.groupby("label")["leaf_probability"].describe()[["count", "mean", "25%", "50%", "75%"]].round(2)

# %% [markdown]
# ## What the galaxies of each label look like
#
# Random members of each label (the central half of each cutout), with their leaf probability.

# %%
table = galaxies[[ID_COLUMN, "image_path"]].join(ours[["label", "leaf_probability"]])
fig = plots.galaxy_grid(table, by="label", per_group=examples_per_label, seed=seed,
                        order=[lab for lab in (*LABELS, "uncertain") if lab in set(table["label"])],
                        caption=lambda row: f"p={row['leaf_probability']:.2f}")
plots.show_photo(fig)

# %% [markdown]
# ## Our rule against the seed study's
#
# The seed study sent every galaxy that "smooth" did not win down the disk branch, so galaxies
# most volunteers called a star or an artifact were labelled as disks. The table lists every
# move between the seed's label and ours (with a threshold, weak galaxies also move to
# "uncertain").

# %%
changes = labels.compare_rules(galaxies, threshold=label_threshold, agreement=agreement)
n_changed = int((seed_rule["label"] != ours["label"]).sum())
print(f"{n_changed} of {len(ours)} galaxies ({100 * n_changed / len(ours):.1f}%) change label")
labels.rule_changes(changes)

# %% [markdown]
# ## Do the labels recover the truth?
#
# Only the mock Galaxy Zoo knows what each galaxy really is: the generator drew a morphology,
# rendered it, and then let simulated volunteers vote on the picture. The real data has no
# such truth, and this section is skipped there.

# %%
truth_file = data_path / TRUTH_FILE
recovery = None
if truth_file.exists():
    truth = pd.read_csv(truth_file)
    recovery, confusion = labels.truth_recovery(ours, truth)
    print(f"labels agree with the drawn morphology for {recovery['accuracy']:.1%} of galaxies "
          f"({recovery['accuracy_labelled']:.1%} of those not called uncertain)")
    plots.confusion_heatmap(confusion, title="drawn morphology (rows) vs tree label (columns)")
    plt.show()
else:
    print("no ground truth in this data set (real data): nothing to compare with")

# %% [markdown]
# ## What this chapter hands on
#
# `labels.parquet` (one row per galaxy: ID, label, leaf probability, the seed's label and the 37
# fractions) and the chapter's part of `metrics.json`.

# %%
out = ours.assign(seed_label=seed_rule["label"].to_numpy()).join(galaxies[COLUMNS])
artifacts.write_parquet(out, run_path / "labels.parquet")
truth_sentence = labels.truth_sentence(None if recovery is None else recovery["accuracy"])
metrics = study.close_chapter(run_path, "labels", {
    "data_source": source["kind"],
    "galaxies": len(out),
    "images_checked": report.n_images,
    "skipped": len(report.skipped_ids),
    "converted": len(report.converted_ids),
    "label_counts": {k: int(v) for k, v in counts.items()},
    "changed_from_seed_rule": n_changed,
    "truth_accuracy": None if recovery is None else round(recovery["accuracy"], 4),
}, headlines={} if recovery is None else {"truth_accuracy": round(recovery["accuracy"], 4)},
    source=source, glued={"n_galaxies": len(out), "top_label": counts.idxmax(),
                          "truth_sentence": truth_sentence, "n_changed": n_changed})
metrics["labels"]["label_counts"]

# %% [markdown]
# ## Summary
#
# The results on this page come from {glue:text}`data_source`. Of {glue:text}`n_galaxies`
# galaxies, the most common label is "{glue:text}`top_label`"; {glue:text}`n_changed` galaxies
# change label between the seed study's rule and ours; {glue:text}`truth_sentence`. The leaf
# probability records how decisively the volunteers voted on each galaxy; later chapters can
# weigh or set aside the weak ones with `label_threshold`.
