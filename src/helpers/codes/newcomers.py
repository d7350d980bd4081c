"""Chapter 7's galaxies: which new images it codes, what they are compared with, and their score.

- :func:`choose`: the images a run places: a folder or manifest the user names, else the
  unlabelled Kaggle images (real data) or, on the mock, a held-back set drawn with its own seed
  and delivered as a survey would deliver it (FITS cutouts named by position, in a manifest);
- :func:`placed`: the new galaxies' codes placed on the study's maps and labelled by their
  nearest labelled study galaxies (:mod:`helpers.codes.place`), as one table;
- :func:`score`: on the mock, the predicted labels against the held-back set's own vote labels
  and drawn truth, beside always answering the study's most common label (paired);
- :func:`picture`: a new galaxy's cutout as the network saw it (for the picture sheets).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from helpers import paths
from helpers.data.schema import ID_COLUMN, TEST_IMAGES, TRAIN_IMAGES, TRUTH_FILE


class NewImages(NamedTuple):
    """What chapter 7 codes: a folder or manifest, the held-back mock (or None), the manifest's
    table (or None), and one line saying what it is."""

    path: Path | str
    heldback: Path | None
    listed: pd.DataFrame | None
    description: str


def choose(data_path: Path, source_kind: str, new_images: str | None, *, heldback_n: int,
           heldback_seed: int, workers: int | None, id_column: str = "id",
           path_column: str = "path") -> NewImages:
    """The new images of a run (see the module docstring); the held-back mock is generated
    beside the study's mock the first time (``<data>-heldback``) and kept."""
    from helpers import progress
    from helpers.codes import survey
    from helpers.data import cutouts, store
    from helpers.data.synth import write_mock

    heldback = None
    if new_images is not None:
        where = new_images if store.is_url(new_images) else paths.resolve(new_images)
    elif source_kind == "mock":
        heldback = data_path.parent / f"{data_path.name}-heldback"
        if not (heldback / "mock.json").exists():
            with progress.step(f"generating {heldback_n} held-back mock galaxies"):
                write_mock(heldback, n=heldback_n, seed=heldback_seed, workers=workers)
        where = heldback / "survey" / "manifest.csv"
        if not where.exists():
            cutouts.write_fits_cutouts(heldback / TRAIN_IMAGES, where.parent, seed=heldback_seed)
    else:
        where = data_path / TEST_IMAGES
    if cutouts.is_manifest(where):
        listed = cutouts.read_manifest(where, id_column=id_column, path_column=path_column)
        extra = ", ".join(map(str, listed.columns[2:])) or "none"
        return NewImages(where, heldback, listed, f"a manifest of {len(listed)} cutouts "
                         f"({paths.relative(where)}), with the columns {extra} beside their IDs")
    return NewImages(where, heldback, None, f"{len(survey.list_images(where))} images in "
                     f"{paths.relative(where)}")


def placed(new: pd.DataFrame, new_codes: np.ndarray, maps, galaxies: pd.DataFrame, codes: np.ndarray,
           *, k: int = 10) -> pd.DataFrame:
    """The new galaxies on the study's t-SNE and UMAP maps (``maps``: a
    :class:`helpers.codes.place.StudyMaps`), each with the label its ``k`` nearest labelled study
    galaxies vote for and the nearest one's ID; the manifest's own columns travel along."""
    from helpers.codes import place
    from helpers.run import code_columns

    new_tsne = maps.tsne(new_codes)
    _, new_umap = maps.umap(new_codes)
    votes = place.predict_labels(codes, galaxies["label"], new_codes, k=k)
    result = pd.DataFrame({ID_COLUMN: new[ID_COLUMN], "tsne2_1": new_tsne[:, 0], "tsne2_2": new_tsne[:, 1],
                           "umap2_1": new_umap[:, 0], "umap2_2": new_umap[:, 1],
                           "predicted": votes["predicted"], "vote": votes["vote"],
                           "nearest": galaxies[ID_COLUMN].to_numpy()[votes["nearest"]]})
    for column in new.columns.difference([ID_COLUMN, *code_columns(new)], sort=False):
        result[column] = new[column].to_numpy()  # ra, dec ... of a manifest
    return result


class Scored(NamedTuple):
    """The predicted labels of the held-back mock against its vote labels and its truth."""

    result: pd.DataFrame  # placed() with the held-back set's ``label`` and ``true_label``
    scores: dict  # name -> Estimate (vs_vote_label, vs_truth, vote_labels_vs_truth, majority)
    versus_majority: object  # Estimate: accuracy against the truth minus the most common label's


def score(result: pd.DataFrame, heldback: Path | None, study_labels: pd.Series, *,
          seed: int = 42) -> Scored:
    """On the mock, join the held-back set's vote labels (chapter 1's tree on its votes) and drawn
    truth to the predictions (by ``mock_id``) and score them; elsewhere nothing to score."""
    from helpers import scores
    from helpers.data.dataset import read_solutions
    from helpers.data.labels import assign_labels

    if heldback is None:
        return Scored(result, {}, None)
    votes = assign_labels(read_solutions(heldback))[[ID_COLUMN, "label"]]
    truth = pd.read_csv(heldback / TRUTH_FILE, usecols=[ID_COLUMN, "true_label"])
    result = (result.merge(votes.rename(columns={ID_COLUMN: "mock_id"}), on="mock_id", how="left")
              .merge(truth.rename(columns={ID_COLUMN: "mock_id"}), on="mock_id", how="left"))
    most_common = np.full(len(result), study_labels.value_counts().index[0], dtype=object)
    found = {"vs_vote_label": scores.accuracy(result["predicted"], result["label"], seed=seed),
             "vs_truth": scores.accuracy(result["predicted"], result["true_label"], seed=seed),
             "vote_labels_vs_truth": scores.accuracy(result["label"], result["true_label"], seed=seed),
             "majority": scores.accuracy(most_common, result["true_label"], seed=seed)}
    margin = scores.accuracy_difference(result["predicted"], most_common, result["true_label"], seed=seed)
    return Scored(result, found, margin)


def table(scored: Scored) -> pd.DataFrame:
    """The scores with their intervals, one row each."""
    return pd.DataFrame({"accuracy (95% interval)": {k: e.format(".3f") for k, e in scored.scores.items()}})


def one_per_label(result: pd.DataFrame) -> np.ndarray:
    """The rows of the first new galaxy of each predicted label (in label order)."""
    return result.groupby("predicted", sort=True).head(1).index.to_numpy()


def pictures(new_images: NewImages, galaxy_ids, *, fits_stretch: str = "asinh") -> list:
    """:func:`picture` of each galaxy of ``galaxy_ids``."""
    return [picture(new_images, galaxy_id, fits_stretch=fits_stretch) for galaxy_id in galaxy_ids]


def picture(new_images: NewImages, galaxy_id, *, fits_stretch: str = "asinh"):
    """A new galaxy's cutout as the network saw it: the image file in a folder, or the manifest's
    source decoded by the project's one image reader (FITS by the rule of :mod:`helpers.data.cutouts`)."""
    from helpers.data import images

    if new_images.listed is None:
        return Path(new_images.path) / f"{galaxy_id}.jpg"
    listed = new_images.listed
    source = listed["source"].iloc[int(np.flatnonzero(listed["id"] == galaxy_id)[0])]
    return images.read(source, fits_stretch=fits_stretch)


__all__ = ["NewImages", "Scored", "choose", "placed", "score", "table", "one_per_label", "pictures", "picture"]
