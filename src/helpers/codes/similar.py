"""Similarity search over CNN codes: the galaxies whose codes are nearest a query's (cosine).

The ``similar`` command: a query (a GalaxyID of a feature set, or an image the run's network
turns into a code) against a feature set, answered by :class:`helpers.codes.neighbours.Index` (exact,
or pynndescent's approximate index with ``engine="ann"``), and drawn by :func:`sheet`.

Feature sets are a run's ``features.parquet`` or a ``featurize`` output folder.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.codes.neighbours import Index
from helpers.data.schema import ID_COLUMN
from helpers.errors import DataError, ParameterError
from helpers.run import code_columns


def feature_table(path: str | Path, storage_options: dict | None = None) -> pd.DataFrame:
    """A ``features.parquet`` file or a ``featurize`` output folder (a path or URL) as a table:
    GalaxyID, any carried columns (a manifest's RA, Dec ...), the codes ``f000`` ...."""
    from helpers.data import store

    where = store.locate(path, storage_options)
    if where.local and Path(where.root).is_dir() or not where.local and not str(path).endswith(
            ".parquet"):
        from helpers.codes.survey import read_codes

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


def find_image(gid: int, folders: list[Path]) -> Path | None:
    """The picture of galaxy ``gid``: the first ``<gid>.jpg``, ``.jpeg`` or ``.png`` found in
    ``folders``, in order (None when there is none)."""
    for folder in folders:
        for ext in (".jpg", ".jpeg", ".png"):
            if (folder / f"{gid}{ext}").is_file():
                return folder / f"{gid}{ext}"
    return None


def _run_of(features: str | Path, storage_options: dict | None = None) -> str | None:
    """The run behind a feature set: a run's features.parquet sits in it; a featurize output
    records it in its manifest."""
    import json

    from helpers.codes.survey import MANIFEST
    from helpers.data import store

    where = store.locate(features, storage_options)
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
    from helpers import paths
    from helpers.data import store

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
        from helpers.codes.survey import _model, load_network
        from helpers.data.images import read_cutout
        from helpers.net.inference import extract_features

        net, config = _model(load_network(run_dir, storage_options))
        pixels = read_cutout(query, int(config["image_size"]), int(config.get("crop", 212)),
                             fits_stretch=fits_stretch, storage_options=storage_options)
        q, exclude = extract_features(net, pixels[None], config), None
    rows, sims = Index(codes, engine).query(q, k, exclude=None if exclude is None else [exclude])
    rows, sims = rows[0], sims[0]
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
        table["image_path"] = [str(find_image(g, folders) or "") for g in table[ID_COLUMN]]
    return table


def sheet(query_image: str | Path | None, table: pd.DataFrame, out: str | Path, title: str = "") -> Path:
    """A ``similar`` answer as a picture sheet file (PNG, or the format of ``out``'s suffix): the
    query (an empty frame when its image is not known), then the neighbours captioned with
    GalaxyID and similarity, drawn by :func:`helpers.book.plots.sheet`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.artifacts import write_atomic
    from helpers.book import plots

    missing = [g for g, p in zip(table[ID_COLUMN], table.get("image_path", [""] * len(table)),
                                 strict=True) if not p]
    if missing:
        raise DataError(f"no image found for {len(missing)} neighbours (e.g. {missing[:3]}): pass "
                        "--images with the folder(s) holding <GalaxyID>.jpg")
    captions = [f"{getattr(r, ID_COLUMN)}\n{r.similarity:.4f}" for r in table.itertuples()]
    query_caption = str(query_image).replace("\\", "/").rsplit("/", 1)[-1] if query_image else "no image"
    fig = plots.sheet([query_image], [table["image_path"].tolist()], captions=[captions],
                      query_captions=[query_caption], title=title)
    out = Path(out)
    write_atomic(out, lambda p: fig.savefig(p, format=out.suffix.lstrip(".") or "png", dpi=90))
    plt.close(fig)
    return out
