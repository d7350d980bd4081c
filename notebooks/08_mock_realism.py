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

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from helpers import records, study
from helpers.book import plots
from helpers.data import realism
from helpers.data.schema import TRAIN_IMAGES

# %% [markdown]
# This run's parameters (a profile such as `params/kaggle.yml` sets them; unfold to read):

# %% tags=["parameters", "hide-input"]
# This run's values (the defaults: params/demo.yml)
data_dir = "data/synthetic/demo"  # Kaggle layout: its training images
run_dir = "data/processed/demo"  # adds "realism" to metrics.json
n_images = 1000  # images measured (a seeded sample of the folder)
examples = 6  # galaxies shown per class
seed = 42  # seeds the sample and the examples

# %% [markdown]
# Every chapter first seeds its random generators and says whose data it shows. Then the
# instrument measures a seeded sample of this run's images, and sets them beside the real table.

# %%
chapter = study.open_chapter(data_dir, run_dir, seed=seed)
real = realism.real_stats()
ours = realism.measure(chapter.data_path / TRAIN_IMAGES, n=n_images,
                       seed=seed)
table = realism.compare(real, ours)
print(f"{len(ours)} images of this run, {len(real)} real Kaggle cutouts")

# %% [markdown]
# ## The statistics side by side
#
# For each statistic, the 10th, 50th and 90th percentiles of the real cutouts and of this run's
# images, and the two-sample Kolmogorov-Smirnov distance between the two distributions (0: the
# same; 1: no overlap). At these sample sizes a distance below about 0.05 cannot be told from
# zero. The mock was calibrated to bring every distance near 0.15 or below; this run's
# largest is given in the summary at the end of the page.

# %% tags=["nbval-ignore-output"]
realism.formatted(table)

# %% [markdown]
# The whole distributions, not only three percentiles: the share of images below each value
# (empirical cumulative distribution) for the real cutouts and for this run.

# %%
plots.ecdf_grid(real, ours, table["ks"], realism.STATISTICS)
plt.show()

# %% [markdown]
# ## What the mock's galaxies look like
#
# Random galaxies of each class, by the morphology the generator drew (on the mock) or by the
# vote label (on real data). Classes overlap on purpose: round galaxies of every shape, disks at
# every inclination, arms from barely visible to grand design.

# %%
classes = realism.example_classes(chapter.data_path, chapter.truth(),
                                  chapter.run.labels(["label"]))
gallery = plots.class_gallery(classes, per_group=examples, seed=seed)
plots.show_photo(gallery)

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

# %% tags=["remove-cell"]
kept = records.realism(table, measured=len(ours), real=len(real))
study.close_chapter(chapter, "realism", kept)

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, {glue:text}`n_measured` images were measured against 2,000 real
# Kaggle cutouts. The largest Kolmogorov-Smirnov distance over the eleven statistics is
# {glue:text}`worst_ks` ({glue:text}`worst_statistic`); the median is {glue:text}`median_ks`.
