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
# (chapter-features)=
# # Every galaxy as a 512-d CNN code
#
# The trained network is cut before its head: the convolutional body's output, averaged over
# the image, is a 512-number summary of each galaxy, the "CNN code" that the rest of the study
# reduces, clusters and compares. The seed study fed its galaxies one at a time through the
# net; here they go in batches from the image cache, without augmentation, so the codes are
# the same every time.

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from helpers import records, study
from helpers.book import plots
from helpers.codes import features
from helpers.data import imagecache
from helpers.net import inference, network

# %% [markdown]
# This run's parameters (a profile such as `params/kaggle.yml` sets them; unfold to read):

# %% tags=["parameters", "hide-input"]
# This run's values (the defaults: params/demo.yml)
data_dir = "data/synthetic/demo"  # Kaggle layout
run_dir = "data/processed/demo"  # reads the model; writes the codes
layer = "body"  # "body": the pooled body (the seed's); or "hidden"
n_galaxies = None  # galaxies to featurize (None: all; the seed: 20,000)
include_unlabelled = False  # also the images without votes
batch_size = 256
seed = 42  # seeds the subsample and the galaxies shown

# %% [markdown]
# Every chapter first seeds its random generators and says whose data it shows:

# %%
chapter = study.open_chapter(data_dir, run_dir, seed=seed)

# %% [markdown]
# ## The trained network, rebuilt
#
# `model.json` says how to rebuild the net; `model.safetensors` holds its weights. Nothing is
# unpickled, and a pair that does not belong together is refused with a message naming the file.

# %%
net, config = chapter.run.model()
net = net.to(network.default_device())  # a GPU when there is one
print(network.describe(config))

# %% [markdown]
# ## Which galaxies
#
# Every galaxy chapter 1 accepted (or a seeded subsample of `n_galaxies`), and with
# `include_unlabelled` the images that have no votes, as in the Kaggle test folder.

# %%
galaxies = features.select_galaxies(chapter.run_path, chapter.data_path,
                                     n_galaxies=n_galaxies,
                                     include_unlabelled=include_unlabelled,
                                     seed=seed)
galaxies.groupby("set").size().rename("galaxies").to_frame()

# %% [markdown]
# ## The codes
#
# `layer="body"` averages the last convolutional block over the image: 512 numbers (2048 for a
# resnet50) that describe *what* is in the picture, learnt only to predict the votes.
# `layer="hidden"` takes the head's 512-unit layer instead, one step closer to the vote
# fractions and so more specialised to the questionnaire. One forward pass gives the codes and
# the network's predicted vote fractions.

# %%
images = imagecache.load_image_array(
    galaxies["image_path"], size=config["image_size"], crop=config["crop"])
codes, predicted = inference.extract_features(
    net, images, config, layer=layer, bs=batch_size, with_predictions=True)
ids = galaxies["GalaxyID"].to_numpy()
chapter.run.write_table("features.parquet",
                        inference.features_frame(ids, codes))
print(f"features.parquet: {len(ids)} x {codes.shape[1]} ({layer})")

# %% [markdown]
# Two more things the later chapters compare the codes with, computed on the same galaxies: the
# network's own predicted vote fractions (`predictions.parquet`: chapter 6 runs them through the
# decision tree), and the codes of the *same network with random weights*
# (`features_untrained.parquet`): whatever an untrained network of the same architecture
# already separates is not something the training taught it.

# %%
chapter.run.write_table("predictions.parquet",
                        inference.predictions_frame(ids, predicted))
untrained = network.untrained_like(config, seed=seed)
untrained_codes = inference.extract_features(untrained, images, config,
                                             layer=layer, bs=batch_size)
chapter.run.write_table("features_untrained.parquet",
                        inference.features_frame(ids, untrained_codes))

# %% [markdown]
# ## What the codes hold: a first look
#
# A PCA of the codes, coloured by the chapter-1 label. If the network learnt morphology,
# galaxies of one label should gather; chapter 4 looks at this properly.

# %%
xy, explained = features.pca_2d(codes)
plots.pca_scatter(xy, explained, galaxies["label"])
plt.show()

# %% [markdown]
# ## Nearest neighbours
#
# For a few galaxies, the five whose codes are closest (cosine distance). Neighbours that look
# alike, and share the label, are the first sign that the codes encode morphology.

# %%
neighbours = features.nearest_neighbours(codes, k=5)
queries = features.pick_queries(galaxies, per_label=1, seed=seed)
plots.show_photo(plots.neighbour_sheet(galaxies, neighbours, queries))

# %% [markdown]
# How often do neighbours share a label? Scored honestly, on the galaxies the network never
# trained on (chapter 2's hold-out and the galaxies it did not use, from `split.parquet`), each
# looked up among the galaxies it *did* train on. The same share for training galaxies among
# each other is the in-sample figure: the gap between the two is how much the network fitted
# its own galaxies. The untrained network's codes are the floor, and chance is the probability
# that two galaxies drawn at random share a label. Intervals: 95%, bootstrap over galaxies.

# %% tags=["nbval-ignore-output"]
unseen = chapter.run.unseen(galaxies)
agreement = features.agreement(codes, untrained_codes, galaxies["label"],
                               unseen, seed=seed)
agreement.table()

# %% [markdown]
# The chapter keeps the codes and these shares; the replay compares them with the committed
# run's.

# %% tags=["remove-cell"]
kept = records.features(agreement, layer=layer, galaxies=galaxies,
                        codes=codes)
study.close_chapter(chapter, "features", kept)

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, {glue:text}`n_codes` galaxies now have a 512-d code each
# (`features.parquet`). For the {glue:text}`n_unseen` galaxies the network never trained on, the
# five nearest training galaxies in code space share their label {glue:text}`knn_agreement` of
# the time (training galaxies among each other, in sample: {glue:text}`knn_agreement_train`;
# chance: {glue:text}`knn_chance`). Against the same network untrained, {glue:text}`knn_sentence`.
