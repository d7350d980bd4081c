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

# %% tags=["hide-input"]
import matplotlib.pyplot as plt

from helpers import progress, records, study
from helpers.book import plots
from helpers.codes import newcomers, place, similar, survey

# %% [markdown]
# This run's parameters (a profile such as `params/kaggle.yml` sets them; unfold to read):

# %% tags=["parameters", "hide-input"]
# This run's values (the defaults: params/demo.yml)
data_dir = "data/synthetic/demo"  # the study's data (Kaggle layout)
run_dir = "data/processed/demo"  # reads the study; writes the new galaxies
new_images = None  # a folder of <GalaxyID>.jpg, or a manifest (CSV or
# Parquet, a path or URL) of JPEG/PNG/FITS cutouts; None: the unlabelled
# Kaggle images, or on the mock a held-back set as FITS cutouts
id_column = "id"  # a manifest's column of IDs (any text: names, positions)
path_column = "path"  # a manifest's paths or URLs (from its folder)
fits_stretch = "asinh"  # FITS fluxes to display: "asinh" or "linear"
heldback_n = 300  # on the mock: galaxies in the held-back set
heldback_seed = 4242  # on the mock: its seed (not the study's)
workers = 2  # Dask local-cluster processes (None: one per core)
scheduler = None  # a Dask scheduler (tcp://host:8786), not a local one
shard_size = 100  # images per Dask task
vote_k = 10  # labelled neighbours that vote for a new galaxy's label
similar_k = 6  # similar study galaxies shown per example
seed = 42  # seeds the shards' order and the examples

# %% [markdown]
# Every chapter first seeds its random generators and says whose data it shows:

# %%
chapter = study.open_chapter(data_dir, run_dir, seed=seed)

# %% [markdown]
# ## The new images
#
# On real data these are the images without votes (`images_test_rev1/`, 79,975 in the Kaggle
# set) or any folder of cutouts. On the mock, a held-back set is drawn with another seed: its
# votes and truth are kept aside and used only to check the predictions.

# %%
new_in = newcomers.choose(
    chapter.data_path, chapter.source["kind"], new_images,
    heldback_n=heldback_n, heldback_seed=heldback_seed, workers=workers,
    id_column=id_column, path_column=path_column)
print(f"new images: {new_in.description}")

# %% [markdown]
# ## Codes on a Dask cluster
#
# `survey.featurize` (also `python -m helpers featurize`) cuts the images into shards, one
# task each, and every worker loads the network once. Finished shards are written atomically,
# so an interrupted run resumes where it stopped; unreadable images are listed, not fatal.

# %% tags=["nbval-ignore-output"]
out = chapter.run_path / "new_codes"
summary = survey.featurize(
    chapter.run_path, new_in.path, out, scheduler=scheduler,
    workers=workers, shard_size=shard_size, overwrite=True,
    progress=progress.say, id_column=id_column, path_column=path_column,
    fits_stretch=fits_stretch)
new, new_codes = survey.read_codes_and_table(out)
print(f"{len(new)} new codes from {summary['shards']} shards on "
      f"{summary['workers']} worker(s); {summary['bad']} unreadable")

# %% [markdown]
# ## On the study's maps
#
# The study's t-SNE and UMAP maps are rebuilt from the run (UMAP with chapter 4's seed gives
# back chapter 4's map) with the settings chapter 4 recorded in the run, and the new galaxies
# are embedded into them without moving the study's galaxies: each lands among the study
# galaxies its code resembles, and takes the label most of its `vote_k` nearest labelled study
# galaxies carry.

# %%
galaxies, codes = chapter.run.features()
maps = place.study_maps(codes, chapter.run.embeddings(galaxies),
                        chapter.run.settings("04_reduce"))
result = newcomers.placed(new, new_codes, maps, galaxies, codes, k=vote_k)
plots.placed_maps(maps, galaxies["label"], result)
plt.show()

# %% [markdown]
# ## Predicted labels, and how often they are right
#
# On the mock the held-back set has votes (turned into labels by chapter 1's tree) and a drawn
# truth, so the prediction can be scored against both, with 95% intervals (bootstrap over the
# new galaxies); "always the most common label" of the study is the floor.

# %% tags=["nbval-ignore-output"]
scored = newcomers.score(result, new_in.heldback, galaxies["label"],
                         seed=seed)
chapter.run.write_table("new_galaxies.parquet", scored.result)
scored.result["predicted"].value_counts().rename("new galaxies").to_frame()

# %% [markdown]
# The scores with their intervals, and (on the mock) which truths the predictions confuse:

# %% tags=["nbval-ignore-output"]
if scored.scores:
    truth = plots.crosstab(scored.result, "true_label", "predicted")
    plots.confusion_heatmap(truth, title="held-back mock galaxies: truth "
                            "against prediction")
    plt.show()
newcomers.table(scored)

# %% [markdown]
# ## The most similar study galaxies
#
# For one new galaxy per predicted label: the new galaxy, then the study galaxies whose codes
# are most similar to it (`python -m helpers similar IMAGE --run RUN` gives the same answer
# from the command line).

# %%
examples = newcomers.one_per_label(scored.result)
rows, sims = similar.Index(codes).query(new_codes[examples], k=similar_k)
pictures = newcomers.pictures(new_in, new["GalaxyID"].iloc[examples],
                              fits_stretch=fits_stretch)
predicted = scored.result["predicted"].iloc[examples]
plots.show_photo(plots.similar_sheet(pictures, galaxies, rows, sims,
                                     predicted))

# %% tags=["remove-cell"]
kept = records.new(scored, summary, n_codes=len(new), vote_k=vote_k)
study.close_chapter(chapter, "new", kept)

# %% [markdown]
# ## Summary
#
# On {glue:text}`data_source`, {glue:text}`n_new` galaxies the study never saw were
# featurized on a Dask cluster, placed on the study's t-SNE and UMAP maps, and labelled by
# their nearest labelled neighbours. {glue:text}`score_sentence`
