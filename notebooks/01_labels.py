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
# (chapter-labels)=
# # The data and its labels
#
# Before a network can learn anything about galaxies we need to know what the data hold and
# what we will call each galaxy. This chapter reads the Galaxy Zoo vote table in the Kaggle
# layout, checks it (table and images), follows the Galaxy Zoo 2 decision tree to one
# morphology label per galaxy, and shows how those labels compare with the seed study's
# simpler rule and, on the mock data, with the morphology that was actually drawn.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from helpers import records, study
from helpers.book import plots
from helpers.data import dataset, labels

# %% [markdown]
# This run's parameters (a profile such as `params/kaggle.yml` sets them; unfold to read):

# %% tags=["parameters", "hide-input"]
# This run's values (the defaults: params/demo.yml)
data_dir = "data/synthetic/demo"  # Kaggle layout: votes and images
run_dir = "data/processed/demo"  # this run's artifacts
on_bad_image = "error"  # a broken image: "error" stops, "skip" drops it
label_threshold = None  # in [0, 1]: weaker galaxies -> "uncertain"
agreement = "leaf"  # what the threshold tests: "leaf" or every "step"
examples_per_label = 6  # galaxies shown per label in the gallery
seed = 42  # seeds the choice of example galaxies

# %% [markdown]
# Every chapter first seeds its random generators and says whose data it shows:

# %%
chapter = study.open_chapter(data_dir, run_dir, seed=seed)

# %% [markdown]
# ## Is the data usable?
#
# The reader checks the table (header, values in [0, 1], the decision-tree sums, duplicate IDs)
# and every image (missing, unreadable, truncated, of another size or colour mode). With
# `on_bad_image="skip"` a broken image removes its galaxy and the report lists it; by default it
# stops the run. The full report is kept as `validation.json`.

# %%
galaxies, report = dataset.load_dataset(chapter.data_path,
                                        on_bad_image=on_bad_image)
chapter.run.write_json("validation.json", report.to_dict())
print("\n".join(report.summary_lines()))

# %% [markdown]
# ## How decisive are the volunteers?
#
# Each column of the table is a *cumulative* vote fraction: the share of all volunteers who
# reached that answer. Divided by the share who reached the question, it becomes the
# fraction of votes that answer won at that step. Peaks near 0 and 1 mean easy decisions;
# mass in the middle means volunteers disagreed.

# %%
plots.vote_histograms(galaxies)
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
ours = labels.assign_labels(galaxies, threshold=label_threshold,
                            agreement=agreement)
counts = labels.label_counts(ours["label"])
plots.label_bar(counts)
plt.show()

# %% [markdown]
# The leaf probability says how confident the crowd was. Low values mean the path split the
# volunteers; a threshold (parameter `label_threshold`) turns such galaxies into "uncertain".
# The curve shows what share of the sample each threshold would set aside, and the table how
# confident the crowd was for each label.

# %%
plots.threshold_curve(labels.threshold_sweep(galaxies))
plt.show()
labels.confidence_table(ours)

# %% [markdown]
# ## What the galaxies of each label look like
#
# Random members of each label (the central half of each cutout), with their leaf probability.

# %%
examples = labels.with_images(ours, galaxies)
gallery = plots.label_gallery(examples, per_group=examples_per_label,
                              seed=seed)
plots.show_photo(gallery)

# %% [markdown]
# ## Our rule against the seed study's
#
# The seed study sent every galaxy that "smooth" did not win down the disk branch, so galaxies
# most volunteers called a star or an artifact were labelled as disks. The table lists every
# move between the seed's label and ours (with a threshold, weak galaxies also move to
# "uncertain").

# %%
seed_rule = labels.assign_labels(galaxies, rule="seed")
changed = labels.changed_share(seed_rule, ours)
print(f"{changed.count} of {changed.total} galaxies ({changed.share:.1%}) "
      "change label")
moves = labels.compare_rules(galaxies, threshold=label_threshold,
                             agreement=agreement)
labels.rule_changes(moves)

# %% [markdown]
# ## Do the labels recover the truth?
#
# Only the mock Galaxy Zoo knows what each galaxy really is: the generator drew a morphology,
# rendered it, and then let simulated volunteers vote on the picture. The real data has no
# such truth, and this section says so and shows nothing.

# %%
recovery = labels.recover_truth(ours, chapter.truth())
print(recovery.sentence)
if recovery.confusion is not None:
    plots.confusion_heatmap(recovery.confusion, title="drawn morphology "
                            "(rows) against tree label (columns)")
    plt.show()

# %% [markdown]
# ## What this chapter hands on
#
# `labels.parquet` (one row per galaxy: ID, label, leaf probability, the seed's label and the 37
# fractions) and the chapter's part of `metrics.json`; the replay compares its headline (how
# often the labels match the mock's truth) with the committed run's.

# %%
out = labels.labels_table(ours, seed_rule, galaxies)
chapter.run.write_table("labels.parquet", out)

# %% tags=["remove-cell"]
kept = records.labels(out, report, counts, changed, recovery)
study.close_chapter(chapter, "labels", kept)

# %% [markdown]
# ## Summary
#
# The results on this page come from {glue:text}`data_source`. Of {glue:text}`n_galaxies`
# galaxies, the most common label is "{glue:text}`top_label`"; {glue:text}`n_changed` galaxies
# change label between the seed study's rule and ours; {glue:text}`truth_sentence`. The leaf
# probability records how decisively the volunteers voted on each galaxy; later chapters can
# weigh or set aside the weak ones with `label_threshold`.
