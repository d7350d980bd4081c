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
# (chapter-at-work)=
# # The codes at work: the oddest galaxies, and more like these
#
# Two questions astronomers ask of a survey every day, put to the study's codes: which
# galaxies are *unlike the rest* (mergers, rings, lenses, artefacts are searched for that
# way), and, given a handful of examples of something the labels do not name, which other
# galaxies *resemble them*? Both are the project's commands (`python -m helpers odd` and
# `python -m helpers like`, see {doc}`../book/survey`); this chapter runs them on the study's
# galaxies and scores them against what the mock knows it drew, on galaxies the network never
# trained on, beside the same searches on raw pixels and on the untrained network. On real
# data, which has no such truth, the chapter ranks and shows the oddest galaxies and leaves
# the scores out.

# %% tags=["hide-input"]
import numpy as np

from helpers import records, study
from helpers.book import plots
from helpers.codes import novelty, oddity

# %% [markdown]
# This run's parameters (a profile such as `params/kaggle.yml` sets them; unfold to read):

# %% tags=["parameters", "hide-input"]
# This run's values (the defaults: params/demo.yml)
data_dir = "data/synthetic/demo"  # the study's data (Kaggle layout)
run_dir = "data/processed/demo"  # reads the codes; writes novelty.parquet
novelty_method = "iforest"  # "iforest", "knn" or "lof" (the odd command's)
like_method = "logistic"  # "logistic", "nearest" or "centroid" (like's)
examples = [10, 25, 50]  # examples given to "more like these"
shown_examples = 25  # of those, the number the gallery and summary use
draws = 10  # random draws of the examples, for each number
top = 100  # precision is counted among this many best ranked
oddest = 30  # galaxies in the gallery of the oddest
seed = 42  # seeds the forest, the pixels' PCA and the draws

# %% [markdown]
# Every chapter first seeds its random generators and says whose data it shows:

# %%
chapter = study.open_chapter(data_dir, run_dir, seed=seed)

# %% [markdown]
# ## Three tables of the same galaxies
#
# Every score below is computed three times: on the study's codes (chapter 3), on the raw
# pixels cut and sized as the network saw them (PCA-reduced, the PCA fitted on the training
# galaxies: chapter 6's baseline), and on the codes of the same network with random weights.
# The mock's truth says which galaxies are odd: mergers, rings, lenses or arcs, disturbed and
# irregular galaxies, stars and artefacts, and frames crossed by a satellite trail.

# %%
galaxies, codes = chapter.run.features()
tables = oddity.representations(chapter.run, galaxies, codes, seed=seed)
truth = oddity.aligned(chapter.truth(), galaxies)
kind = oddity.kinds(truth, len(galaxies))
unseen = chapter.run.unseen(galaxies)
odd = oddity.is_odd(kind)
print(f"{len(galaxies)} galaxies, {unseen.sum()} never trained on; "
      f"{odd.sum()} odd ({odd[unseen].sum()} of them unseen)")

# %% [markdown]
# ## The oddest galaxies
#
# `novelty.novelty_scores` gives every galaxy a score of how unlike the rest of the table it
# is (the `odd` command's default: an isolation forest on the whitened codes; how it was
# chosen: `benchmarks/bench_novelty.py`). The whole table is scored, as the command scores a
# survey; the thirty highest, with what the mock drew:

# %%
novelty_of = {name: novelty.novelty_scores(x, novelty_method, seed=seed)
              for name, x in tables.items()}
ranked = np.argsort(-novelty_of["codes"], kind="stable")[:oddest]
pictures = galaxies["image_path"].to_numpy()[ranked]
captions = [f"#{i + 1}\n{kind[r]}" for i, r in enumerate(ranked)]
rows = range(0, oddest, 6)
plots.show_photo(plots.ranked_sheet(
    [pictures[s:s + 6] for s in rows], [captions[s:s + 6] for s in rows],
    row_labels=[f"{s + 1}-{s + 6}" for s in rows]))

# %% [markdown]
# ## Are the oddest odd?
#
# The area under the ROC curve is the chance that an odd galaxy scores above an ordinary one
# (0.5: the score knows nothing). It is taken on the galaxies the network never trained on,
# with a 95% interval over them, and the codes' score is set against each baseline on the
# same galaxies:

# %%
found = oddity.novelty_auc(
    {"codes": novelty_of["codes"],
     "raw_pixels": novelty_of["raw pixels"],
     "untrained": novelty_of["untrained network"]},
    odd, np.flatnonzero(unseen), seed=seed)
found.table()

# %% [markdown]
# Which kinds of oddity the codes' score finds, each against the ordinary unseen galaxies:

# %%
oddity.by_kind(novelty_of["codes"], kind, np.flatnonzero(unseen))

# %% [markdown]
# ## More like these
#
# For each feature, examples are drawn at random from the galaxies the network trained on
# (`draws` times for each number of examples), every unseen galaxy is ranked by its
# resemblance to the examples as a group (the `like` command's default: a logistic
# regression of the examples against the rest), and precision is the share of the feature
# among the `top` best ranked. Chance is the feature's share of the unseen galaxies; the
# ceiling, every one of them ranked first. The interval is over the draws of examples.

# %%
search = oddity.search(tables, oddity.searched(truth), ~unseen,
                       np.flatnonzero(unseen), examples=tuple(examples),
                       draws=draws, top=top, method=like_method, seed=seed)
search.wide(shown_examples)

# %% [markdown]
# With each other number of examples (a feature with too few training galaxies for a
# number is left out):

# %%
search.wide([n for n in examples if n != shown_examples])

# %% [markdown]
# The top of each search on the codes with `shown_examples` examples (the first draw): one
# of the examples first, then the best ranked unseen galaxies, each with what the mock drew.

# %%
paths = galaxies["image_path"].to_numpy()
plots.show_photo(plots.search_tops(search, paths, kind, n=shown_examples))

# %% [markdown]
# ## What the mock's truth can and cannot tell
#
# The mock knows exactly what it drew, so a search can be scored without anyone looking at
# the pictures; that is its use. It cannot say how a search fares on the sky. Its odd
# features are simple (a ring is an analytic annulus, a merger two overlapping profiles), its
# artefacts are the few kinds it was written to draw, and the real rare objects a survey is
# searched for (lenses above all) are far subtler than the mock's. A "false" find may also be
# odd in a way the mock did not label: a galaxy whose random draw of arms, bars and companions
# happens to be unusual. Read the numbers as a comparison of the three tables on the same
# galaxies, not as what a search of real cutouts would find. The demo's unseen galaxies are
# few, and its odd ones fewer: a difference whose interval here does not exclude zero may be
# resolved on more galaxies (the mock-study profile's run of this chapter is recorded in
# `benchmarks/README.md`, "Novelty and more like these: which method").

# %% [markdown]
# ## Saving the scores
#
# `novelty.parquet` has every galaxy's novelty score on the codes and whether the network
# trained on it; chapter 5's interactive map is coloured by the same score.

# %%
chapter.run.write_table("novelty.parquet", oddity.novelty_table(
    galaxies["GalaxyID"], novelty_of["codes"], ~unseen))
print(f"novelty.parquet: {len(galaxies)} galaxies")

# %% [markdown]
# ## Summary
#
# The oddest galaxies, against the mock's truth: {glue:text}`novelty_sentence`.
#
# More like a few examples: {glue:text}`like_sentence`. Each verdict is drawn only where the
# difference is more than twice what a second training moves it by (the replay's tolerance).

# %% tags=["remove-cell"]
kept = records.at_work(
    found, search, n_examples=shown_examples, galaxies=len(galaxies),
    method=novelty_method, like_method=like_method)
study.close_chapter(chapter, "at_work", kept)
