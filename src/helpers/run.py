"""One reader for every artifact of a run: ``Run(run_dir).features()``, ``.split()``, ``.clusters()``...

A run's folder (``data/processed/<run>/``) holds what each chapter wrote (:data:`ARTIFACTS`).
Every chapter after the first reads the others' artifacts through :class:`Run`, so that all of
them agree on the galaxies' order and on the code columns (:func:`code_columns`), and a missing,
unreadable or mismatched artifact always says the same thing: which file, and which chapter to
rerun (:class:`MissingArtifact`).

In a chapter::

    run = Run(run_path, data_path)
    galaxies, codes = run.features()          # GalaxyID, label, image_path (true_label on the mock)
    unseen = run.unseen(galaxies)             # the galaxies the network never trained on
    clusters = run.clusters(galaxies)         # one column per clustering, in the same order

The split of chapter 2 is written here too (:func:`split_frame`, :meth:`Run.write_split`).

>>> import tempfile
>>> try:
...     Run(tempfile.mkdtemp()).clusters()
... except MissingArtifact as exc:
...     print(str(exc).rsplit("/", 1)[1])
clusters.parquet is missing: run chapter 05_cluster on this run first
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.schema import ID_COLUMN, TEST_IMAGES, TRAIN_IMAGES, TRUTH_FILE
from helpers.errors import DataError

#: What each chapter writes into the run's folder: chapter -> (metrics.json section, files).
#: The runner removes them before the chapter (and every later one) runs again, so that a
#: failed or interrupted rerun never leaves an older artifact that a later chapter would trust.
ARTIFACTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "01_labels": ("labels", ("labels.parquet", "validation.json")),
    "02_train_resnet34": ("train", ("model.safetensors", "model.json", "history.csv", "split.parquet")),
    "03_extract_features": ("features", ("features.parquet", "predictions.parquet",
                                         "features_untrained.parquet")),
    "04_reduce": ("reduce", ("embeddings.parquet",)),
    "05_cluster": ("cluster", ("clusters.parquet",)),
    "06_compare": ("compare", ()),
    "07_new_galaxies": ("new", ("new_galaxies.parquet", "new_codes")),
    "08_mock_realism": ("realism", ()),
    "09_codes_at_work": ("at_work", ("novelty.parquet",)),
}
# What each chapter reads, by the chapters that write it (the rest follows through these):
# `helpers run` starts a chapter once these have finished, two at a time.
NEEDS: dict[str, tuple[str, ...]] = {
    "02_train_resnet34": ("01_labels",),
    "03_extract_features": ("02_train_resnet34",),
    "04_reduce": ("03_extract_features",),
    "05_cluster": ("04_reduce",),
    "06_compare": ("05_cluster",),
    "07_new_galaxies": ("04_reduce",),
    "08_mock_realism": ("01_labels",),
    "09_codes_at_work": ("03_extract_features",),
}
CHAPTER_ENV = "GC_CHAPTER"  # helpers run names the chapter in its kernel's environment


def upstream(stem: str) -> set[str]:
    """Every chapter whose results ``stem`` reads, directly or through another (:data:`NEEDS`).

    >>> sorted(upstream("05_cluster"))
    ['01_labels', '02_train_resnet34', '03_extract_features', '04_reduce']
    """
    found, todo = set(), list(NEEDS.get(stem, ()))
    while todo:
        chapter = todo.pop()
        if chapter not in found:
            found.add(chapter)
            todo.extend(NEEDS.get(chapter, ()))
    return found


def check_needed(writer: str) -> None:
    """Inside a chapter that ``helpers run`` runs, refuse to read what a chapter outside its
    :data:`NEEDS` writes: run two at a time, that chapter may not have finished (or may be
    rewriting it). A table that forgot a dependency fails here, by name, on every run."""
    reader = os.environ.get(CHAPTER_ENV)
    if reader in NEEDS and writer != reader and writer not in upstream(reader):
        raise RuntimeError(f"chapter {reader} reads what chapter {writer} writes, but "
                           f"helpers.run.NEEDS does not say so: add {writer!r} to its line "
                           "(helpers run may run the two at the same time)")


METRICS = "metrics.json"
SPLIT_FILE = "split.parquet"
TRAIN, HOLDOUT, UNUSED = "train", "holdout", "unused"


class MissingArtifact(DataError):
    """A run's artifact is missing, unreadable or does not match the run: rerun its chapter."""


def writer_of(name: str) -> str:
    """The chapter that writes the artifact ``name``.

    >>> writer_of("embeddings.parquet")
    '04_reduce'
    """
    for chapter, (_, files) in ARTIFACTS.items():
        if name in files:
            return chapter
    raise ValueError(f"no chapter writes {name!r}")


def code_columns(frame: pd.DataFrame) -> list[str]:
    """The code columns (``f000`` ...) of a features table or a ``featurize`` output, in order.

    >>> code_columns(pd.DataFrame(columns=["GalaxyID", "f000", "f001", "ra"]))
    ['f000', 'f001']
    """
    return [c for c in frame.columns if re.fullmatch(r"f\d{3,}", str(c))]


def split_frame(ids, train_ids, holdout_ids) -> pd.DataFrame:
    """Every galaxy of ``ids`` with its set: ``train``, ``holdout`` or ``unused`` (not used by
    chapter 2 at all).

    >>> split_frame([1, 2, 3, 4], [2, 4], [1])["set"].tolist()
    ['holdout', 'train', 'unused', 'train']
    """
    ids = np.asarray(ids)
    train, holdout = set(np.asarray(train_ids).tolist()), set(np.asarray(holdout_ids).tolist())
    if train & holdout:
        raise ValueError(f"{len(train & holdout)} galaxies are in both the training and hold-out sets")
    sets = np.where(np.isin(ids, list(train)), TRAIN, np.where(np.isin(ids, list(holdout)), HOLDOUT, UNUSED))
    return pd.DataFrame({ID_COLUMN: ids, "set": sets})


def _ids(ids) -> pd.Index | None:
    if ids is None:
        return None
    if isinstance(ids, pd.DataFrame):
        ids = ids[ID_COLUMN]
    return pd.Index(np.asarray(ids))


class Run:
    """The artifacts of the run in ``run_dir`` (with its data folder, for images and truth)."""

    def __init__(self, run_dir: str | Path, data_dir: str | Path | None = None) -> None:
        self.path = Path(run_dir)
        self.data_dir = None if data_dir is None else Path(data_dir)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # --- the one way to read a table ----------------------------------------------------------

    def _file(self, name: str) -> Path:
        writer = next((c for c, (_, files) in ARTIFACTS.items() if name in files), None)
        if writer is not None:
            check_needed(writer)
        path = self.path / name
        if not path.exists():
            raise MissingArtifact(f"{path} is missing: run chapter {writer or writer_of(name)} on this run first")
        return path

    def read(self, name: str, ids=None, columns: list[str] | None = None) -> pd.DataFrame:
        """The run's table ``name`` (``GalaxyID`` + columns), in the order of ``ids`` (a sequence
        of GalaxyIDs or a frame with that column; ``None``: as stored), checked."""
        path = self._file(name)
        try:
            frame = pd.read_parquet(path, columns=columns)
        except Exception as exc:  # truncated, not Parquet, unreadable
            raise MissingArtifact(f"{path} cannot be read ({type(exc).__name__}); rerun chapter "
                                  f"{writer_of(name)}, which writes it") from None
        if ID_COLUMN not in frame.columns:
            raise MissingArtifact(f"{path} has no {ID_COLUMN} column; rerun chapter {writer_of(name)}")
        ids = _ids(ids)
        if ids is None:
            return frame
        frame = frame.set_index(ID_COLUMN)
        missing = ids.difference(frame.index)
        if len(missing):
            raise MissingArtifact(f"{path} lacks {len(missing)} of the run's galaxies (e.g. {missing[0]}); "
                                  f"rerun chapter {writer_of(name)}")
        return frame.loc[ids].reset_index()

    # --- chapter by chapter -------------------------------------------------------------------

    def labels(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Chapter 1's ``labels.parquet``: GalaxyID, label, leaf probability, the 37 fractions."""
        return self.read("labels.parquet", columns=None if columns is None else [ID_COLUMN, *columns])

    def model(self):
        """Chapter 2's network and its config (``model.safetensors`` + ``model.json``)."""
        from helpers.net.network import load_model

        check_needed("02_train_resnet34")
        return load_model(self.path)

    def config(self) -> dict:
        """Chapter 2's ``model.json``: how the network was built and trained (crop, image size ...)."""
        path = self._file("model.json")
        try:
            return json.loads(path.read_text())
        except ValueError:
            raise MissingArtifact(f"{path} cannot be read as JSON; rerun chapter 02_train_resnet34") from None

    # The writers return nothing: a chapter's cell that ends with one would show the path,
    # which differs from machine to machine (and the replay compares what cells show).

    def write_table(self, name: str, frame: pd.DataFrame) -> None:
        """Write the run's table ``name`` (a Parquet artifact of :data:`ARTIFACTS`) atomically."""
        from helpers.artifacts import write_parquet

        writer_of(name)  # an artifact the run knows
        write_parquet(frame, self.path / name)

    def write_csv(self, name: str, frame: pd.DataFrame) -> None:
        """Write the run's CSV artifact ``name`` (``history.csv``) atomically."""
        from helpers.artifacts import write_atomic

        writer_of(name)
        write_atomic(self.path / name, lambda tmp: frame.to_csv(tmp, index=False))

    def write_json(self, name: str, obj) -> None:
        """Write the run's JSON artifact ``name`` (``validation.json``) atomically."""
        from helpers.artifacts import write_json

        writer_of(name)
        write_json(obj, self.path / name)

    def write_split(self, frame: pd.DataFrame) -> None:
        """Record chapter 2's split (:func:`split_frame`) as ``split.parquet``."""
        from helpers.artifacts import write_parquet

        write_parquet(frame, self.path / SPLIT_FILE)

    def split(self, ids) -> np.ndarray:
        """The set (``train``/``holdout``/``unused``) of each galaxy of ``ids``, in that order.

        Galaxies chapter 2 never listed (images without votes) are ``unused``.
        """
        frame = self.read(SPLIT_FILE)
        sets = pd.Series(frame["set"].to_numpy(), index=frame[ID_COLUMN].to_numpy())
        return sets.reindex(np.asarray(_ids(ids))).fillna(UNUSED).to_numpy(dtype=object)

    def unseen(self, ids) -> np.ndarray:
        """True for the galaxies of ``ids`` the network never trained on."""
        return self.split(ids) != TRAIN

    def features(self, name: str = "features.parquet") -> tuple[pd.DataFrame, np.ndarray]:
        """Chapter 3's galaxies and their codes, row-aligned: ``(galaxies, codes)``.

        ``galaxies`` has ``GalaxyID``, ``label`` (NaN for galaxies without votes), and, with the
        data folder, ``image_path`` and, where the data has the mock's ground truth,
        ``true_label``; ``codes`` is the float32 (N, D) matrix of the code columns.
        """
        feats = self.read(name)
        columns = code_columns(feats)
        if not columns:
            raise MissingArtifact(f"{self.path / name}: expected {ID_COLUMN} and code columns "
                                  f"f000 ...; rerun chapter {writer_of(name)}")
        codes = feats[columns].to_numpy(dtype=np.float32)
        if not np.isfinite(codes).all():
            raise MissingArtifact(f"{self.path / name}: codes hold NaN or infinite values; rerun "
                                  f"chapter {writer_of(name)}")
        galaxies = feats[[ID_COLUMN]].merge(self.labels(["label"]), on=ID_COLUMN, how="left")
        if self.data_dir is not None:
            folders = np.where(galaxies["label"].notna(), TRAIN_IMAGES, TEST_IMAGES)
            galaxies["image_path"] = [str(self.data_dir / folder / f"{gid}.jpg")
                                      for folder, gid in zip(folders, galaxies[ID_COLUMN], strict=True)]
            truth_file = self.data_dir / TRUTH_FILE
            if truth_file.exists():
                truth = pd.read_csv(truth_file, usecols=[ID_COLUMN, "true_label"])
                galaxies = galaxies.merge(truth, on=ID_COLUMN, how="left")
        return galaxies, codes

    def codes(self, name: str, ids) -> np.ndarray:
        """The codes of another features table of the run (``features_untrained.parquet``) in
        the order of ``ids``."""
        frame = self.read(name, ids)
        return frame[code_columns(frame)].to_numpy(dtype=np.float32)

    def predictions(self, ids) -> pd.DataFrame:
        """Chapter 3's predicted vote fractions (``predictions.parquet``) in the order of ``ids``."""
        return self.read("predictions.parquet", ids)

    def embeddings(self, ids=None) -> pd.DataFrame:
        """Chapter 4's maps (``embeddings.parquet``: ``pca2_1`` ... ``umap7_7``)."""
        return self.read("embeddings.parquet", ids)

    def clusters(self, ids=None) -> pd.DataFrame:
        """Chapter 5's clusterings (``clusters.parquet``: one column per clustering)."""
        return self.read("clusters.parquet", ids)

    def metrics(self) -> dict:
        """The run's ``metrics.json`` so far (``{}`` when no chapter has finished)."""
        path = self.path / METRICS
        return json.loads(path.read_text()) if path.exists() else {}

    def settings(self, chapter: str = "04_reduce") -> dict:
        """The settings a chapter recorded for later ones (chapter 4's maps: perplexity, seeds ...)."""
        check_needed(chapter)
        section = ARTIFACTS[chapter][0]
        settings = self.metrics().get(section, {}).get("settings")
        if not settings:
            raise MissingArtifact(f"{self.path / METRICS} has no record of chapter {chapter}'s "
                                  f"settings: rerun chapter {chapter} on this run")
        return settings


__all__ = ["Run", "MissingArtifact", "ARTIFACTS", "NEEDS", "CHAPTER_ENV", "upstream", "check_needed", "code_columns", "split_frame", "writer_of",
           "SPLIT_FILE", "TRAIN", "HOLDOUT", "UNUSED"]
