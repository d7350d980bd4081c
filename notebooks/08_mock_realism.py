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
# (mock-realism)=
# # How faithful is the mock?
#
# Every other page of the default book shows the mock Galaxy Zoo: simulated images with
# simulated votes. A network that never saw a real galaxy is only as good as the mock is close to
# real cutouts, so this page measures that closeness. Eleven statistics of each image (sky level
# and noise, the central galaxy's size, brightness, shape and colour, the other sources in the
# frame) are measured on this run's images and set beside the same statistics of 2,000 real
# Kaggle training cutouts (`data/calibration/`, numbers only, no pixels), measured by the same
# instrument. On real data the page checks the user's own cutouts against that table.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers import study
from helpers.book import plots
from helpers.data import realism
from helpers.data.schema import ID_COLUMN, LABELS, TRAIN_IMAGES, TRUTH_FILE

# %% tags=["parameters"]
data_dir = "data/synthetic/demo"  # Kaggle layout: the images measured are images_training_rev1/
run_dir = "data/processed/demo"  # adds "realism" to metrics.json
n_images = 1000  # images measured (a seeded sample of the folder)
examples = 6  # galaxies shown per class
seed = 42  # seeds the sample and the examples

# %%
data_path, run_path, source = study.open_chapter(data_dir, run_dir, seed=seed)
real = realism.real_stats()
ours = realism.measure(data_path / TRAIN_IMAGES, n=n_images, seed=seed)
table = realism.compare(real, ours)
print(f"{len(ours)} images of this run measured against {len(real)} real Kaggle cutouts")

# %% [markdown]
# ## The statistics side by side
#
# For each statistic, the 10th, 50th and 90th percentiles of the real cutouts and of this run's
# images, and the two-sample Kolmogorov-Smirnov distance between the two distributions (0: the
# same; 1: no overlap). At these sample sizes a distance below about 0.05 cannot be told from
# zero; the mock was calibrated to keep every distance at or below 0.15.

# %%
shown = table.rename(columns=lambda c: c.replace("mock_", "this run ").replace("real_", "real "))
shown.map(lambda v: f"{v:,.3g}")  # three significant digits

# %% [markdown]
# The whole distributions, not only three percentiles: the share of images below each value
# (empirical cumulative distribution) for the real cutouts and for this run.

# %%
fig, axes = plt.subplots(3, 4, figsize=(12, 7.5))
for ax, name in zip(axes.flat, realism.STATISTICS, strict=False):
    for values, label, colour in ((real[name], "real cutouts", "#252525"), (ours[name], "this run", "#e6550d")):
        x = np.sort(values.to_numpy(float))
        ax.step(x, np.arange(1, len(x) + 1) / len(x), where="post", color=colour, label=label, lw=1.2)
    ax.set_title(f"{name} (KS {table.loc[name, 'ks']:.2f})", fontsize=10)
    if name in ("flux", "area_px"):
        ax.set_xscale("log")
    ax.tick_params(labelsize=8)
axes.flat[-1].axis("off")
axes.flat[0].legend(frameon=False, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## What the mock's galaxies look like
#
# Random galaxies of each class, by the morphology the generator drew (on the mock) or by the
# vote label (on real data). Classes overlap on purpose: round galaxies of every shape, disks at
# every inclination, arms from barely visible to grand design.

# %%
truth_file = data_path / TRUTH_FILE
if truth_file.exists():
    classes = pd.read_csv(truth_file, usecols=[ID_COLUMN, "true_label"]).rename(columns={"true_label": "class"})
else:
    classes = pd.read_parquet(run_path / "labels.parquet", columns=[ID_COLUMN, "label"]).rename(
        columns={"label": "class"})
classes["image_path"] = [str(data_path / TRAIN_IMAGES / f"{i}.jpg") for i in classes[ID_COLUMN]]
classes = classes[classes["image_path"].map(lambda p: Path(p).exists())]  # the training images
fig = plots.galaxy_grid(classes, by="class", per_group=examples, seed=seed,
                        order=[lab for lab in LABELS if lab in set(classes["class"])])
plots.show_photo(fig)

# %% [markdown]
# ## What the mock still lacks, and what that means for the other chapters
#
# The numbers above are one-dimensional: two sets of images can agree on every statistic and
# still differ in what a network sees. The mock draws smooth analytic profiles (Sérsic bulges,
# exponential disks, logarithmic arms with clumps); real galaxies have dust lanes, bars, rings,
# tidal features, mergers and overlapping neighbours, which the mock does not draw. Its
# fine-grained noise is cut from one fixed noise field (at a random place and orientation per
# image), where real noise is fresh in every image. Its volunteers are simulated: their votes
# depend on the drawn morphology and on how visible it is in the image, not on the many habits
# of real volunteers.
#
# So the other chapters say how well the *method* recovers morphology from images like these.
# How well a network trained on the mock does on real galaxies is a separate question, answered
# only by scoring it on real cutouts (see the project's issues for those scores); a run on the
# real data (`params/kaggle.yml`) needs no mock at all.

# %%
worst = table["ks"].idxmax()
metrics = study.close_chapter(run_path, "realism", {
    "data_source": source["kind"], "images": int(len(ours)), "reference_images": int(len(real)),
    "ks": table["ks"].round(4).to_dict(), "worst": worst,
}, headlines={"worst_ks": round(float(table["ks"].max()), 4)}, source=source, glued={
    "n_measured": int(len(ours)), "worst_statistic": worst, "worst_ks": f"{table['ks'].max():.2f}",
    "median_ks": f"{table['ks'].median():.2f}",
})

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, {glue:text}`n_measured` images were measured against 2,000 real
# Kaggle cutouts. The largest Kolmogorov-Smirnov distance over the eleven statistics is
# {glue:text}`worst_ks` ({glue:text}`worst_statistic`); the median is {glue:text}`median_ks`.
