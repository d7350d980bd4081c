"""Similarity search over CNN codes: the galaxies whose codes are nearest a query's (cosine).

Two engines, one answer format:

* ``"exact"``: brute force on unit-normalised codes with blocked matrix products (BLAS). Exact,
  no index to build; a query against a million 512-d codes is about 0.5 GFLOP, so it stays
  interactive into the millions when the codes fit in memory (2 GB per million as float32).
* ``"ann"``: pynndescent's NN-descent graph (the approximate index umap-learn is built on):
  an index build of minutes, then far more queries per second; its recall against the exact
  answer is measured in benchmarks/bench_similar.py.

Feature sets are a run's ``features.parquet`` or a ``featurize`` output folder.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.errors import DataError, ParameterError
from helpers.schema import ID_COLUMN

ENGINES = ("exact", "ann")


def code_columns(frame: pd.DataFrame) -> list[str]:
    """The code columns (``f000`` ...) of a features table or featurize output, in order."""
    return [c for c in frame.columns if re.fullmatch(r"f\d{3,}", str(c))]


def feature_table(path: str | Path, storage_options: dict | None = None) -> pd.DataFrame:
    """A ``features.parquet`` file or a ``featurize`` output folder (a path or URL) as a table:
    GalaxyID, any carried columns (a manifest's RA, Dec ...), the codes ``f000`` ...."""
    from helpers import store

    where = store.place(path, storage_options)
    if where.local and Path(where.root).is_dir() or not where.local and not str(path).endswith(
            ".parquet"):
        from helpers.survey import read_codes

        frame = read_codes(path, storage_options)
    elif where.local and not Path(where.root).is_file():
        raise DataError(f"{path} does not exist: give a features.parquet or a featurize output folder")
    else:
        try:
            frame = pd.read_parquet(io.BytesIO(where.read()))
        except FileNotFoundError:
            raise DataError(f"{path} does not exist: give a features.parquet or a featurize "
                            "output folder") from None
        except Exception as exc:  # truncated or not Parquet
            raise DataError(f"{path} cannot be read ({type(exc).__name__}): rerun chapter 3 "
                            "(03_extract_features), or featurize, which write it") from None
    if ID_COLUMN not in frame.columns or not code_columns(frame):
        raise DataError(f"{path}: expected {ID_COLUMN} and code columns (f000 ...)")
    return frame


def read_feature_set(path: str | Path, storage_options: dict | None = None,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, codes)`` from a ``features.parquet`` file or a ``featurize`` output folder (a path
    or URL). IDs are int64 for ``<GalaxyID>.jpg`` images, text (object) for a manifest's."""
    return _ids_codes(feature_table(path, storage_options), path)


def _ids_codes(frame: pd.DataFrame, path) -> tuple[np.ndarray, np.ndarray]:
    codes = frame[code_columns(frame)].to_numpy(dtype=np.float32)
    if not np.isfinite(codes).all():
        raise DataError(f"{path}: codes hold NaN or infinite values")
    ids = frame[ID_COLUMN]
    ids = ids.to_numpy(dtype=np.int64) if pd.api.types.is_integer_dtype(ids) else \
        ids.astype(str).to_numpy(dtype=object)
    return ids, codes


def normalise(codes: np.ndarray) -> np.ndarray:
    """Unit-length rows (cosine similarity becomes a dot product); all-zero rows stay zero.

    >>> np.allclose(normalise(np.array([[3.0, 4.0], [0.0, 0.0]])), [[0.6, 0.8], [0.0, 0.0]])
    True
    """
    codes = np.asarray(codes, dtype=np.float32)
    norms = np.linalg.norm(codes, axis=1, keepdims=True)
    return np.divide(codes, norms, out=np.zeros_like(codes), where=norms > 0)


class Index:
    """Nearest neighbours by cosine similarity over a fixed set of codes."""

    def __init__(self, codes: np.ndarray, engine: str = "exact", *, seed: int = 0,
                 n_jobs: int | None = None) -> None:
        if engine not in ENGINES:
            raise ParameterError(f"engine={engine!r}: use one of {ENGINES}")
        self.engine = engine
        self.db = normalise(codes)
        if len(self.db) == 0:
            raise DataError("the feature set is empty")
        self._ann = None
        if engine == "ann":
            from pynndescent import NNDescent

            self._ann = NNDescent(self.db, metric="dot", n_neighbors=30, random_state=seed,
                                  n_jobs=n_jobs, low_memory=True, verbose=False)
            self._ann.prepare()

    def query(self, queries: np.ndarray, k: int = 12, *, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the ``k`` most similar codes for each query, and their cosine similarities.

        Both arrays are ``(n_queries, k)``, most similar first.
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ParameterError(f"k={k!r}: use a positive integer")
        k = min(int(k), len(self.db))
        q = normalise(np.atleast_2d(queries))
        if q.shape[1] != self.db.shape[1]:
            raise DataError(f"queries have {q.shape[1]} dimensions, the feature set {self.db.shape[1]}: "
                            "codes from different networks or layers cannot be compared")
        if self._ann is not None:
            rows, dist = self._ann.query(q, k=k)
            return rows.astype(np.int64), (1.0 - dist).astype(np.float32)
        rows = np.empty((len(q), k), np.int64)
        sims = np.empty((len(q), k), np.float32)
        for s in range(0, len(q), block):
            scores = q[s:s + block] @ self.db.T
            part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            top = np.take_along_axis(scores, part, axis=1)
            order = np.lexsort((part, -top), axis=1)  # by similarity, ties by row: deterministic
            rows[s:s + block] = np.take_along_axis(part, order, axis=1)
            sims[s:s + block] = np.take_along_axis(top, order, axis=1)
        return rows, sims


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of the true k nearest neighbours that a search found (rows of equal width).

    >>> recall(np.array([[1, 2, 3]]), np.array([[3, 2, 9]]))
    0.6666666666666666
    """
    hits = sum(len(set(f) & set(t)) for f, t in zip(found.tolist(), truth.tolist(), strict=True))
    return hits / truth.size


def _find_image(gid: int, folders: list[Path]) -> Path | None:
    for folder in folders:
        for ext in (".jpg", ".jpeg", ".png"):
            if (folder / f"{gid}{ext}").is_file():
                return folder / f"{gid}{ext}"
    return None


def _run_of(features: str | Path, storage_options: dict | None = None) -> str | None:
    """The run behind a feature set: a run's features.parquet sits in it; a featurize output
    records it in its manifest."""
    import json

    from helpers import store
    from helpers.survey import MANIFEST

    where = store.place(features, storage_options)
    if str(features).endswith(".parquet") and not (where.local and Path(where.root).is_dir()):
        return where.url.rsplit("/", 1)[0]
    try:
        return json.loads(where.read(MANIFEST)).get("run_dir") or None
    except (FileNotFoundError, ValueError):
        return None


def similar(query: str, *, features: str | Path, k: int = 12, run: str | Path | None = None,
            engine: str = "exact", images: list[str | Path] | None = None,
            fits_stretch: str = "asinh", storage_options: dict | None = None) -> pd.DataFrame:
    """The ``k`` galaxies of a feature set most similar to ``query``.

    ``query`` is a GalaxyID of the feature set (or a manifest's ID; it is left out of its own
    answer) or the path or URL of a cutout (JPEG, PNG or FITS), which the network of ``run``
    (default: the run that made ``features``) turns into a code first, cut as ``featurize``
    cuts it. Returns rank, GalaxyID, cosine similarity, the columns a manifest carried (RA,
    Dec ...), the chapter-1 label when the run has one, and the image path when ``images``
    folders hold it. (The codes are non-negative, so cosines crowd near 1: the ranks carry the
    meaning.)
    """
    from helpers import paths, store

    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ParameterError(f"-k {k!r}: the number of similar galaxies must be a whole number >= 1")
    features = str(features) if store.is_url(str(features)) else paths.resolve(features)
    frame = feature_table(features, storage_options)
    ids, codes = _ids_codes(frame, features)
    run_dir = (str(run) if store.is_url(str(run)) else paths.resolve(run)) if run else \
        _run_of(features, storage_options)
    folders = [paths.resolve(f) for f in images or []]
    name = Path(str(features)).name
    numeric = ids.dtype == np.int64
    where = (np.flatnonzero(ids == int(query)) if query.isdigit() else np.array([], int)) \
        if numeric else np.flatnonzero(ids == query)
    if len(where):
        q, exclude = codes[where[:1]], int(where[0])
    elif numeric and query.isdigit():
        raise DataError(f"GalaxyID {query} is not in {features} ({len(ids)} galaxies); give one of "
                        "its IDs or the path of an image")
    else:
        if not store.is_url(query) and not Path(query).is_file():
            raise DataError(f"{query} is neither a GalaxyID of {name} nor an image file")
        if run_dir is None or (not store.is_url(str(run_dir))
                               and not (Path(run_dir) / "model.json").is_file()):
            raise ParameterError("an image query needs the network that made the codes: pass --run "
                                 "RUN_DIR (a folder with model.json + model.safetensors)")
        from helpers.model import extract_features
        from helpers.survey import _model, decode, load_network

        net, config = _model(load_network(run_dir, storage_options))
        # the same cut as featurize: the same fraction of any image size as of the 424 px cutouts
        pixels = decode(query, int(config["image_size"]), int(config.get("crop", 212)),
                        fits_stretch=fits_stretch, storage_options=storage_options)
        q, exclude = extract_features(net, pixels[None], config), None
    index = Index(codes, engine)
    rows, sims = index.query(q, k + (exclude is not None))
    rows, sims = rows[0], sims[0]
    if exclude is not None:
        keep = rows != exclude
        rows, sims = rows[keep][:k], sims[keep][:k]
    table = pd.DataFrame({"rank": np.arange(1, len(rows) + 1), ID_COLUMN: ids[rows],
                          "similarity": sims.round(4)})
    carried = [c for c in frame.columns if c != ID_COLUMN and c not in code_columns(frame)]
    for column in carried:
        table[column] = frame[column].to_numpy()[rows]
    labels_file = Path(run_dir) / "labels.parquet" if run_dir and not store.is_url(str(run_dir)) \
        else None
    if numeric and labels_file is not None and labels_file.is_file():
        labels = pd.read_parquet(labels_file, columns=[ID_COLUMN, "label"])
        table = table.merge(labels, on=ID_COLUMN, how="left")
    if folders and numeric:
        table["image_path"] = [str(_find_image(g, folders) or "") for g in table[ID_COLUMN]]
    return table


def sheet(query_image: str | Path | None, table: pd.DataFrame, out: str | Path, title: str = "") -> Path:
    """A picture sheet: the query (when its image is known) then the neighbours, with similarity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.artifacts import write_atomic
    from helpers.plots import thumbnail

    missing = [g for g, p in zip(table[ID_COLUMN], table.get("image_path", [""] * len(table)),
                                 strict=True) if not p]
    if missing:
        raise DataError(f"no image found for {len(missing)} neighbours (e.g. {missing[:3]}): pass "
                        "--images with the folder(s) holding <GalaxyID>.jpg")
    cells = ([("query", query_image)] if query_image else []) + [
        (f"#{r.rank} {getattr(r, ID_COLUMN)}\n{r.similarity:.4f}", r.image_path) for r in table.itertuples()]
    cols = min(7, len(cells))
    rows = -(-len(cells) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 2.1 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (caption, path) in zip(axes.flat, cells, strict=False):
        ax.imshow(thumbnail(path, size=96))
        ax.set_title(caption, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    out = Path(out)
    write_atomic(out, lambda p: fig.savefig(p, format=out.suffix.lstrip(".") or "png", dpi=90))
    plt.close(fig)
    return out
