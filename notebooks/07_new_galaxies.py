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
# (chapter-new)=
# # Galaxies the study never saw
#
# A survey delivers galaxies faster than anyone can label them. This chapter takes images the
# study never used, turns them into codes with the trained network on a Dask cluster (the same
# code that runs on many machines; here a local cluster), places them on the study's t-SNE and
# UMAP maps without moving the map, gives each the label its nearest labelled neighbours vote
# for, and shows the galaxies most similar to a few of them. On the mock, a held-back set is
# generated for this chapter, so the predicted labels can be checked against the truth; it is
# delivered as a survey would deliver it: FITS cutouts named by sky position, listed in a
# manifest.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from helpers import artifacts, evaluate, paths, progress, study
from helpers.book import plots
from helpers.codes import place, reduce, similar, survey
from helpers.data import cutouts, images, store
from helpers.data.dataset import read_solutions
from helpers.data.labels import assign_labels
from helpers.data.schema import ID_COLUMN, TEST_IMAGES, TRAIN_IMAGES, TRUTH_FILE
from helpers.data.synth import write_mock

# %% tags=["parameters"]
data_dir = "data/synthetic/demo"  # the study's data (Kaggle layout)
run_dir = "data/processed/demo"  # reads model, features, labels, embeddings; writes new_galaxies.parquet
new_images = None  # a folder of <GalaxyID>.jpg, or a manifest (CSV/Parquet; path or URL) of JPEG/PNG/FITS cutouts
# (None: the unlabelled Kaggle images, or on the mock a held-back set as FITS cutouts with a manifest)
id_column = "id"  # a manifest's column of IDs (any text: survey names, positions)
path_column = "path"  # a manifest's column of paths or URLs (relative paths: from the manifest's folder)
fits_stretch = "asinh"  # FITS fluxes to display values: "asinh" or "linear" (8-bit FITS are used as they are)
heldback_n = 300  # on the mock: galaxies in the held-back set generated for this chapter
heldback_seed = 4242  # on the mock: its seed (not the study's)
workers = 2  # Dask local-cluster processes (None: one per core)
scheduler = None  # a Dask scheduler address (tcp://host:8786) to use instead of a local cluster
shard_size = 100  # images per Dask task
vote_k = 10  # labelled neighbours that vote for a new galaxy's label
similar_k = 6  # similar study galaxies shown per example
seed = 42  # seeds the Dask shards' order and the examples (the maps use chapter 4's own settings)

# %%
data_path, run_path, source = study.open_chapter(data_dir, run_dir, seed=seed)

# %% [markdown]
# ## The new images
#
# On real data these are the images without votes (`images_test_rev1/`, 79,975 in the Kaggle
# set) or any folder of cutouts. On the mock, a held-back set is drawn with another seed: its
# votes and truth are kept aside and used only to check the predictions.

# %%
heldback = None
if new_images is not None:
    images_in = new_images if store.is_url(new_images) else paths.resolve(new_images)
elif source["kind"] == "mock":
    heldback = data_path.parent / f"{data_path.name}-heldback"  # beside the study's mock
    if not (heldback / "mock.json").exists():
        with progress.step(f"generating {heldback_n} held-back mock galaxies"):
            write_mock(heldback, n=heldback_n, seed=heldback_seed, workers=workers)
    images_in = heldback / "survey" / "manifest.csv"
    if not images_in.exists():
        cutouts.write_fits_cutouts(heldback / TRAIN_IMAGES, images_in.parent, seed=heldback_seed)
else:
    images_in = data_path / TEST_IMAGES
if cutouts.is_manifest(images_in):
    listed = cutouts.read_manifest(images_in, id_column=id_column, path_column=path_column)
    print(f"new images: a manifest of {len(listed)} cutouts ({paths.relative(images_in)}), "
          f"with the columns {', '.join(map(str, listed.columns[2:])) or 'none'} beside their IDs")
    display(listed.drop(columns="source").head(3))  # the paths: in the manifest
else:
    print(f"new images: {len(survey.list_images(images_in))} in {paths.relative(images_in)}")

# %% [markdown]
# ## Codes on a Dask cluster
#
# `survey.featurize` (also `python -m helpers featurize`) cuts the images into shards, one
# task each, and every worker loads the network once. Finished shards are written atomically,
# so an interrupted run resumes where it stopped; unreadable images are listed, not fatal.

# %%
# NBVAL_IGNORE_OUTPUT
summary = survey.featurize(run_path, images_in, run_path / "new_codes", scheduler=scheduler,
                           workers=workers, shard_size=shard_size, overwrite=True, progress=progress.say,
                           id_column=id_column, path_column=path_column, fits_stretch=fits_stretch)
new = survey.read_codes(run_path / "new_codes")
new_codes = new[similar.code_columns(new)].to_numpy(np.float32)  # beside them: the manifest's columns
print(f"{len(new)} new codes from {summary['shards']} shards on {summary['workers']} worker(s); "
      f"{summary['bad']} unreadable")

# %%
galaxies, codes = reduce.load_codes(run_path, data_path)
emb = artifacts.read_aligned(run_path / "embeddings.parquet", galaxies[ID_COLUMN], "04_reduce")
assert new_codes.shape[1] == codes.shape[1]
print(f"{len(new)} new galaxies beside the study's {len(galaxies)}")

# %% [markdown]
# ## On the study's maps
#
# The study's t-SNE and UMAP maps are rebuilt from the run (UMAP with chapter 4's seed gives
# back chapter 4's map) with the settings chapter 4 recorded in the run, and the new galaxies are
# embedded into them without moving the study's galaxies: each lands among the study galaxies
# its code resembles.

# %%
settings = reduce.chapter4_settings(run_path)
maps = place.StudyMaps(codes, emb, pca_input=settings["pca_input"], perplexity=settings["tsne_perplexity"],
                   umap_neighbors=settings["umap_neighbors"], umap_min_dist=settings["umap_min_dist"],
                   seed=settings["seed"])
new_tsne = maps.tsne(new_codes)
study_umap, new_umap = maps.umap(new_codes)
votes = place.predict_labels(codes, galaxies["label"], new_codes, k=vote_k)

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
for ax, (name, study_xy, new_xy) in zip(axes, [("t-SNE", maps.tsne2, new_tsne),
                                               ("UMAP", study_umap, new_umap)], strict=True):
    plots.label_scatter(study_xy, galaxies["label"], ax=ax, s=3, legend=False)
    for coll in ax.collections:
        coll.set_alpha(0.25)
    colours = [plots.LABEL_COLORS.get(lab, "#999999") for lab in votes["predicted"]]
    ax.scatter(new_xy[:, 0], new_xy[:, 1], s=18, c=colours, edgecolors="black", linewidths=0.6)
    ax.set(title=f"{name}: new galaxies (outlined), coloured by predicted label", xticks=[], yticks=[])
plt.show()

# %% [markdown]
# ## Predicted labels, and how often they are right
#
# Each new galaxy takes the label most of its `vote_k` nearest labelled study galaxies carry.
# On the mock the held-back set has votes (turned into labels by chapter 1's tree) and a drawn
# truth, so the prediction can be scored against both, with 95% intervals (bootstrap over the
# new galaxies); "always the most common label" of the study is the floor.

# %%
result = pd.DataFrame({ID_COLUMN: new[ID_COLUMN], "tsne2_1": new_tsne[:, 0], "tsne2_2": new_tsne[:, 1],
                       "umap2_1": new_umap[:, 0], "umap2_2": new_umap[:, 1],
                       "predicted": votes["predicted"], "vote": votes["vote"],
                       "nearest": galaxies[ID_COLUMN].to_numpy()[votes["nearest"]]})
scores = {}
for column in new.columns.difference([ID_COLUMN, *similar.code_columns(new)], sort=False):
    result[column] = new[column].to_numpy()  # the manifest's columns (ra, dec, ...) travel with the codes
if heldback is not None:  # the held-back mock's votes and truth, keyed by its GalaxyID (mock_id)
    vote_labels = assign_labels(read_solutions(heldback))[[ID_COLUMN, "label"]]
    truth = pd.read_csv(heldback / TRUTH_FILE, usecols=[ID_COLUMN, "true_label"])
    result = (result.merge(vote_labels.rename(columns={ID_COLUMN: "mock_id"}), on="mock_id", how="left")
              .merge(truth.rename(columns={ID_COLUMN: "mock_id"}), on="mock_id", how="left"))
    most_common = galaxies["label"].value_counts().index[0]
    scores = {"vs_vote_label": evaluate.accuracy(result["predicted"], result["label"], seed=seed),
              "vs_truth": evaluate.accuracy(result["predicted"], result["true_label"], seed=seed),
              "vote_labels_vs_truth": evaluate.accuracy(result["label"], result["true_label"], seed=seed),
              "majority": evaluate.accuracy(np.full(len(result), most_common, dtype=object),
                                            result["true_label"], seed=seed)}
_ = artifacts.write_parquet(result, run_path / "new_galaxies.parquet")

# %%
# NBVAL_IGNORE_OUTPUT
result["predicted"].value_counts().rename("new galaxies").to_frame()

# %%
# NBVAL_IGNORE_OUTPUT
if scores:
    display(pd.DataFrame({"accuracy (95% interval)": {k: e.format(".3f") for k, e in scores.items()}}))
    plots.confusion_heatmap(pd.crosstab(result["true_label"].rename("true morphology"),
                                        result["predicted"].rename("predicted")),
                            title="held-back mock galaxies: truth against predicted label")
    plt.show()

# %% [markdown]
# The exact scores move with the training run; the replay of this page checks the verdict.

# %%
if scores:
    print("predicted labels match the truth at least twice as often as the most common label"
          if scores["vs_truth"].value >= 2 * scores["majority"].value else
          "WARNING: predicted labels barely beat always answering the most common label")
else:
    print("no truth for these galaxies: the predictions are shown, not scored")

# %% [markdown]
# ## The most similar study galaxies
#
# For one new galaxy per predicted label: the new galaxy, then the study galaxies whose codes
# are most similar to it (`python -m helpers similar IMAGE --run RUN` gives the same answer
# from the command line).

# %%
examples = result.groupby("predicted", sort=True).head(1).index.to_numpy()


def new_picture(i: int):
    """The new galaxy's cutout as the network saw it (a FITS file shown by the rule of helpers.data.cutouts)."""
    if not cutouts.is_manifest(images_in):
        return images_in / f"{result[ID_COLUMN].iloc[i]}.jpg"
    source = listed["source"].iloc[int(np.flatnonzero(listed["id"] == result[ID_COLUMN].iloc[i])[0])]
    return images.read(source, fits_stretch=fits_stretch)

rows, sims = similar.Index(codes).query(new_codes[examples], k=similar_k)
fig = plots.sheet([new_picture(i) for i in examples], galaxies["image_path"].to_numpy()[rows],
                  captions=[[f"{s:.3f}" for s in sim] for sim in sims], query_title="new galaxy",
                  row_labels=result["predicted"].iloc[examples].tolist(), size=72)
plots.show_photo(fig)

# %%
metrics = study.close_chapter(run_path, "new", {
    "data_source": source["kind"], "images": int(summary["images"]), "codes": int(len(new)),
    "unreadable": int(summary["bad"]), "vote_k": vote_k,
    "predicted_counts": result["predicted"].value_counts().to_dict(),
    **{k: e.to_dict() for k, e in scores.items()},
}, headlines={k: round(e.value, 4) for k, e in scores.items() if k in ("vs_truth", "vs_vote_label")},
    source=source, glued={"n_new": int(len(new)), "score_sentence": evaluate.heldback_sentence(scores)})

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, {glue:text}`n_new` galaxies the study never saw were
# featurized on a Dask cluster, placed on the study's t-SNE and UMAP maps, and labelled by
# their nearest labelled neighbours. {glue:text}`score_sentence`
