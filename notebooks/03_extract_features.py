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
# (chapter-features)=
# # Every galaxy as a 512-d CNN code
#
# The trained network is cut before its head: the convolutional body's output, averaged over
# the image, is a 512-number summary of each galaxy, the "CNN code" that the rest of the study
# reduces, clusters and compares. The seed study fed its galaxies one at a time through the
# net; here they go in batches from the image cache, without augmentation, so the codes are
# the same every time.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers import artifacts, evaluate, study
from helpers.book import plots
from helpers.codes import features
from helpers.data.imagecache import load_image_array
from helpers.data.schema import ID_COLUMN
from helpers.net import inference, network

# %% tags=["parameters"]
data_dir = "data/synthetic/demo"  # Kaggle layout
run_dir = "data/processed/demo"  # reads model.safetensors + model.json + labels.parquet; writes features.parquet
layer = "body"  # "body": average-pooled body output (the seed study's codes); "hidden": the head's 512-unit layer
n_galaxies = None  # labelled galaxies to featurize (None: all; the seed study used 20,000)
include_unlabelled = False  # also featurize images without votes (DATA_DIR/images_test_rev1/)
batch_size = 256
seed = 42  # seeds the subsample and the galaxies shown

# %%
data_path, run_path, source = study.open_chapter(data_dir, run_dir, seed=seed)

# %% [markdown]
# ## The trained network, rebuilt
#
# `model.json` says how to rebuild the net; `model.safetensors` holds its weights. Nothing is
# unpickled, and a pair that does not belong together is refused with a message naming the file.

# %%
net, config = network.load_model(run_path)
net = net.to(network.default_device())  # a GPU when there is one
print(f"{config['arch']} with the {config['head']} head, trained at {config['image_size']} px "
      f"(crop {config['crop']}) on {config['data_source']} data")

# %% [markdown]
# ## Which galaxies
#
# Every galaxy chapter 1 accepted (or a seeded subsample of `n_galaxies`), and with
# `include_unlabelled` the images that have no votes, as in the Kaggle test folder.

# %%
galaxies = features.select_galaxies(run_path, data_path, n_galaxies=n_galaxies,
                                     include_unlabelled=include_unlabelled, seed=seed)
galaxies.groupby("set").size().rename("galaxies").to_frame()

# %% [markdown]
# ## The codes
#
# `layer="body"` averages the last convolutional block over the image: 512 numbers (2048 for a
# resnet50) that
# describe *what* is in the picture, learnt only to predict the votes. `layer="hidden"` takes the
# head's 512-unit layer instead, one step closer to the vote fractions and so more specialised
# to the questionnaire.

# %%
images = load_image_array(galaxies["image_path"], size=config["image_size"], crop=config["crop"])
codes, predicted = inference.extract_features(net, images, config, layer=layer, bs=batch_size,
                                              with_predictions=True)  # one forward pass for both
frame = inference.features_frame(galaxies[ID_COLUMN].to_numpy(), codes)
width = config["n_features"] if layer == "body" else 512  # resnet50's body gives 2048
assert codes.shape == (len(galaxies), width) and codes.dtype == np.float32
assert np.isfinite(codes).all()
inference.write_features(frame, run_path / "features.parquet")
print(f"features.parquet: {frame.shape[0]} galaxies x {codes.shape[1]} float32 ({layer} layer)")

# %% [markdown]
# Two more things the later chapters compare the codes with, computed on the same galaxies: the
# network's own predicted vote fractions (`predictions.parquet`: chapter 6 runs them through the
# decision tree), and the codes of the *same network with random weights*
# (`features_untrained.parquet`): whatever an untrained network of the same architecture already separates is not
# something the training taught it.

# %%
artifacts.write_parquet(inference.predictions_frame(galaxies[ID_COLUMN].to_numpy(), predicted),
                        run_path / "predictions.parquet")
untrained = network.build_model(config["arch"], config["head"], seed=seed).to(network.default_device())
untrained_codes = inference.extract_features(untrained, images, config, layer=layer, bs=batch_size)
inference.write_features(inference.features_frame(galaxies[ID_COLUMN].to_numpy(), untrained_codes),
                         run_path / "features_untrained.parquet")
print(f"predictions.parquet: {predicted.shape[1]} fractions; features_untrained.parquet: "
      f"{untrained_codes.shape[1]} dimensions")

# %% [markdown]
# ## What the codes hold: a first look
#
# A PCA of the codes, coloured by the chapter-1 label. If the network learnt morphology,
# galaxies of one label should gather; chapter 4 looks at this properly.

# %%
labelled = galaxies["label"].notna().to_numpy()
xy, explained = features.pca_2d(codes)
ax = plots.label_scatter(xy, galaxies["label"])
ax.set(xlabel=f"PC1 ({explained[0]:.0%} of variance)", ylabel=f"PC2 ({explained[1]:.0%})")
plt.show()

# %% [markdown]
# ## Nearest neighbours
#
# For a few galaxies, the five whose codes are closest (cosine distance). Neighbours that look
# alike, and share the label, are the first sign that the codes encode morphology.

# %%
neighbours = features.nearest_neighbours(codes, k=5)
queries = features.pick_queries(galaxies, per_label=1, seed=seed)
pictures, names = galaxies["image_path"].to_numpy(), galaxies["label"].fillna("no votes").to_numpy()
fig = plots.sheet(pictures[queries], pictures[neighbours[queries]], query_captions=names[queries],
                  captions=names[neighbours[queries]], query_title="galaxy")
plots.show_photo(fig)

# %% [markdown]
# How often do neighbours share a label? Scored honestly, on the galaxies the network never
# trained on (chapter 2's hold-out and the galaxies it did not use, from `split.parquet`), each
# looked up among the galaxies it *did* train on. The same share for training galaxies among
# each other is the in-sample figure: the gap between the two is how much the network fitted
# its own galaxies. The untrained network's codes are the floor, and chance is the probability
# that two galaxies drawn at random share a label. Intervals: 95%, bootstrap over galaxies.

# %%
sets = evaluate.read_split(run_path, galaxies[ID_COLUMN])
unseen, seen = evaluate.unseen(sets), ~evaluate.unseen(sets)
shares = {
    "unseen galaxies (out of sample)": features.agreement_per_galaxy(codes, galaxies["label"], unseen, seen),
    "training galaxies (in sample)": features.agreement_per_galaxy(codes, galaxies["label"], seen, seen),
    "unseen, untrained network": features.agreement_per_galaxy(untrained_codes, galaxies["label"], unseen, seen),
}
agreement = {name: evaluate.bootstrap(np.mean, share, seed=seed) for name, share in shares.items()}
chance = features.label_chance(galaxies.loc[unseen, "label"])
out_name, base_name = "unseen galaxies (out of sample)", "unseen, untrained network"
gain = evaluate.difference(lambda a, b: float(np.mean(a)), lambda a, b: float(np.mean(b)),
                           shares[out_name], shares[base_name], seed=seed)
knn_sentence = evaluate.compare_sentence("the trained network's codes", agreement[out_name],
                                         "the untrained network's", agreement[base_name], gain,
                                         what="neighbour agreement on unseen galaxies")

# %%
# NBVAL_IGNORE_OUTPUT
pd.DataFrame({"galaxies": [e.n for e in agreement.values()],
              "share of 5 neighbours with the same label": [e.format(".1%") for e in agreement.values()]},
             index=list(agreement)).assign(chance=f"{chance:.1%}")

# %%
headlines = {"knn5_agreement": {"unseen": round(agreement[out_name].value, 4),
                                "train": round(agreement["training galaxies (in sample)"].value, 4),
                                "untrained": round(agreement[base_name].value, 4)}}
metrics = study.close_chapter(run_path, "features", {
    "data_source": source["kind"], "layer": layer, "galaxies": int(len(frame)),
    "unlabelled": int((~labelled).sum()), "dimensions": int(codes.shape[1]),
    "unseen_galaxies": int(unseen.sum()),
    "knn5_agreement": {name: e.to_dict() for name, e in agreement.items()},
    "knn5_gain_over_untrained": gain.to_dict(), "knn5_chance": round(chance, 4),
}, headlines=headlines, source=source, glued={
    "n_codes": int(len(frame)), "n_unseen": int(unseen.sum()),
    "knn_agreement": agreement[out_name].format(".1%"),
    "knn_agreement_train": agreement["training galaxies (in sample)"].format(".1%"),
    "knn_chance": f"{chance:.1%}", "knn_sentence": knn_sentence,
})

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, {glue:text}`n_codes` galaxies now have a 512-d code each
# (`features.parquet`). For the {glue:text}`n_unseen` galaxies the network never trained on, the
# five nearest training galaxies in code space share their label {glue:text}`knn_agreement` of
# the time (training galaxies among each other, in sample: {glue:text}`knn_agreement_train`;
# chance: {glue:text}`knn_chance`). Against the same network untrained, {glue:text}`knn_sentence`.
