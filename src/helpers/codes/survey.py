"""Survey scale: featurize galaxy cutouts with a trained run's network, in shards, on Dask.

The inputs are a folder of ``<GalaxyID>.jpg/.png`` images, or a *manifest* (CSV or Parquet) that
lists cutouts by any text ID with a path or URL each, JPEG, PNG or FITS
(:mod:`helpers.data.cutouts` says how a FITS cutout becomes a picture); the manifest's other columns
(RA, Dec, ...) are carried into the codes. Inputs and outputs may be local paths or fsspec URLs
(``s3://``, ``gs://``, ``file://`` ...; :mod:`helpers.data.store`), so the workers need no shared
disk: the network travels to them with the work (the bytes of ``model.safetensors`` and
``model.json``, checked against the SHA-256 that ``model.json`` records, sent once to each
worker), they read the cutouts from where the manifest says and write their shards to ``OUT``
themselves.

The same code runs in one process (``scheduler="none"``), on a local cluster sized to the
machine (the default) or on any ``dask.distributed`` cluster (``scheduler="tcp://host:8786"``).
Work is cut into shards of ``shard_size`` images, one task each (never one task per image), and
every worker loads the network once. Each finished shard is written as
``OUT/part-NNNNN.parquet`` (``GalaxyID``, the manifest's other columns, the code columns): on a
local disk atomically (temp file, then rename), on an object store in one upload; a rerun with
the same inputs checks every finished shard (it must read back with exactly the IDs of its
images less its unreadable ones), keeps it and skips it. ``OUT/_manifest.json`` records what
the shards were cut from (model weights, image list, shard size, geometry), and a rerun that
does not match it is refused rather than mixing codes of two networks. ``OUT/_bad_images.csv``
lists the images that could not be read (missing, corrupt, wrongly shaped), gathered from one
record per shard (``OUT/_bad/``); the others go on.

``pandas.read_parquet(OUT)`` reads all the shards back as one table (files starting with ``_``
are ignored by pyarrow); :func:`read_codes` does so for URLs too.

Dask ships tasks between processes with pickle: connect only to a cluster you trust. Nothing
read from the inputs is ever unpickled (images are decoded by PIL and astropy, the network by
safetensors).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.artifacts import LOCK, folder_lock
from helpers.data import images, store
from helpers.data.schema import ID_COLUMN
from helpers.errors import DataError, ParameterError, UserError

MANIFEST = "_manifest.json"
BAD_IMAGES = "_bad_images.csv"
BAD_DIR = "_bad"  # one record per shard, merged into BAD_IMAGES
BAD_COLUMNS = [ID_COLUMN, "file", "problem"]
PART = "part-{:05d}.parquet"
MANIFEST_VERSION = 1
LOCATIONS = ("image_dir", "run_dir")  # where the inputs were: moving them does not change the codes
SLOW_MALLOC = "MALLOC_TRIM_THRESHOLD_"  # Dask's nanny default; see worker_environ
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

_MODELS: dict[str, tuple] = {}  # per worker process: weights SHA-256 -> (net, config)


@dataclass(frozen=True)
class Shard:
    """One task: the cutouts (paths or URLs), their GalaxyIDs and the manifest's other columns."""

    index: int
    files: tuple[str, ...]
    ids: tuple = ()  # default: the files' names (<GalaxyID>.jpg)
    extra_columns: tuple[str, ...] = ()
    extra_rows: tuple[tuple, ...] = ()  # one tuple per file
    extra_dtypes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return PART.format(self.index)

    @property
    def galaxy_ids(self) -> tuple:
        return self.ids or tuple(int(Path(f).stem) for f in self.files)


@dataclass(frozen=True)
class Network:
    """A run's network as bytes, so that it travels to the workers with the work."""

    config: bytes = field(repr=False)  # model.json
    weights: bytes = field(repr=False)  # model.safetensors
    sha256: str = ""
    source: str = ""  # where it was read (for messages)

    @property
    def settings(self) -> dict:
        return json.loads(self.config)


def load_network(run: str | Path, storage_options: dict | None = None) -> Network:
    """Read a run's ``model.json`` + ``model.safetensors`` (path or URL) and check the weights'
    SHA-256 against the one ``model.json`` records."""
    where = store.locate(run, storage_options)
    store.check_reachable(where, "--run")
    raw = {}
    for name in ("model.json", "model.safetensors"):
        try:
            raw[name] = where.read(name)
        except (FileNotFoundError, IsADirectoryError):
            raise UserError(f"{where.child(name)} does not exist: --run must be a run folder whose "
                            "training chapter (02) has finished") from None
    try:
        settings = json.loads(raw["model.json"])
    except ValueError as exc:
        raise UserError(f"{where.child('model.json')} cannot be read as JSON ({exc}); train again") \
            from None
    expected = settings.get("weights_sha256") if isinstance(settings, dict) else None
    digest = hashlib.sha256(raw["model.safetensors"]).hexdigest()
    if not expected or digest != expected:
        raise UserError(f"{where.child('model.safetensors')} is not the weights file "
                        f"{where.child('model.json')} was written with (SHA-256 "
                        f"{digest[:12]}..., recorded {str(expected)[:12]}...): copy both files "
                        "of the same run, or train again")
    return Network(raw["model.json"], raw["model.safetensors"], digest, where.url)


def list_images(image_dir: str | Path) -> list[Path]:
    """``<GalaxyID>.jpg`` files of a folder, sorted by ID (other names are an error that lists them)."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DataError(f"{image_dir} is not a folder of galaxy images")
    files = [f for f in image_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES]
    return _by_id(image_dir, files, [f.name for f in files])


def _by_id(where, files: list, names: list[str]) -> list:
    bad = sorted(n for n in names if not Path(n).stem.isdigit())
    if bad:
        raise DataError(f"{where}: image names must be <GalaxyID>.jpg (digits); not so: {bad[:5]}"
                        + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                        + " (cutouts named otherwise are listed in a manifest: --images "
                          "manifest.csv with an ID and a path column)")
    if not files:
        raise DataError(f"{where} holds no .jpg/.png images")
    order = sorted(range(len(files)), key=lambda i: (int(Path(names[i]).stem), names[i]))
    return [files[i] for i in order]


def plan_shards(files: Sequence, shard_size: int, ids: Sequence | None = None,
                extras: pd.DataFrame | None = None) -> list[Shard]:
    """Cut the sorted file list into shards of ``shard_size`` (the last may be smaller).

    ``ids`` default to the files' names (``<GalaxyID>.jpg``); ``extras`` (one row per file) are
    carried into the shards' tables.

    >>> [s.files for s in plan_shards([Path("1.jpg"), Path("2.jpg"), Path("3.jpg")], 2)]
    [('1.jpg', '2.jpg'), ('3.jpg',)]
    >>> plan_shards(["s3://b/a.fits"], 5, ids=["J1030+0524"])[0].galaxy_ids
    ('J1030+0524',)
    """
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ParameterError(f"shard_size={shard_size!r}: use a positive integer (e.g. 512)")
    names = [str(f) for f in files]
    ids = tuple(ids) if ids is not None else tuple(int(Path(n).stem) for n in names)
    columns, rows, dtypes = (), (), ()
    if extras is not None and extras.shape[1]:
        columns = tuple(map(str, extras.columns))
        dtypes = tuple(str(t) for t in extras.dtypes)
        rows = tuple(tuple(r) for r in extras.astype(object).itertuples(index=False, name=None))
    return [Shard(i, tuple(names[s:s + shard_size]), ids[s:s + shard_size], columns,
                  rows[s:s + shard_size] if rows else (), dtypes)
            for i, s in enumerate(range(0, len(names), shard_size))]


def _model(network: Network):
    """The network, loaded once per process (keyed by the weights' SHA-256): the bytes are
    written to a private temporary folder and read back by :func:`helpers.net.network.load_model`,
    which checks them again."""
    import tempfile

    from helpers.net.network import load_model

    if network.sha256 not in _MODELS:
        _MODELS.clear()
        with tempfile.TemporaryDirectory(prefix="gc-network-") as tmp:
            (Path(tmp) / "model.json").write_bytes(network.config)
            (Path(tmp) / "model.safetensors").write_bytes(network.weights)
            _MODELS[network.sha256] = load_model(tmp)
    return _MODELS[network.sha256]


def _fetch(files: Sequence[str], storage_options: dict | None) -> dict:
    """The bytes of a shard's URLs, fetched concurrently (one ``cat`` per store: s3fs and gcsfs
    overlap the requests), as ``{url: bytes or the exception}``; local paths are read later."""
    groups: dict[str, list[str]] = {}
    for f in files:
        if store.is_url(f):
            groups.setdefault(f.split("://", 1)[0], []).append(f)
    fetched = {}
    for urls in groups.values():
        where = store.locate(urls[0], storage_options)
        inner = {where.fs._strip_protocol(u): u for u in urls}
        got = where.fs.cat(list(inner), on_error="return")
        fetched.update({inner[k]: v for k, v in got.items() if k in inner})
        for u in urls:  # a backend that keys its answer otherwise: read one by one
            fetched.setdefault(u, None)
    return fetched


def _table(shard: Shard, keep: list[int], codes: np.ndarray) -> pd.DataFrame:
    """A shard's table: GalaxyID, the manifest's other columns, then the codes (f000 ...)."""
    from helpers.net.inference import features_frame

    ids = [shard.galaxy_ids[i] for i in keep]
    if shard.ids and not all(isinstance(i, int | np.integer) for i in shard.ids):
        id_column = pd.Series(ids, dtype="string", name=ID_COLUMN)
    else:
        id_column = pd.Series(np.asarray(ids, dtype=np.int64), name=ID_COLUMN)
    frame = features_frame(np.zeros(len(keep), np.int64), codes).drop(columns=[ID_COLUMN])
    for j, (column, dtype) in enumerate(zip(shard.extra_columns, shard.extra_dtypes, strict=True)):
        values = pd.Series([shard.extra_rows[i][j] for i in keep], dtype=object)
        try:
            values = values.astype(dtype)
        except (TypeError, ValueError):
            values = values.astype("string")
        frame.insert(j, column, values.to_numpy() if len(values) else values.astype(dtype).to_numpy())
    frame.insert(0, ID_COLUMN, id_column.to_numpy() if id_column.dtype == np.int64 else id_column.array)
    return frame


def featurize_shard(network: Network, shard: Shard, out_dir: str, *, layer: str = "body",
                    batch_size: int = 128, threads: int | None = None,
                    fits_stretch: str = "asinh", storage_options: dict | None = None) -> dict:
    """Codes of one shard's images, written to ``out_dir/part-NNNNN.parquet`` (a path or URL).

    Unreadable images are skipped and returned in ``bad`` as ``(file, reason)``; the shard file
    holds the others (possibly none). Its record of unreadable images is written first, so a
    finished shard always has one. Returns a small report.
    """
    import torch

    from helpers.net.inference import extract_features

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    net, config = _model(network)
    out = store.locate(out_dir, storage_options)
    size, crop = int(config["image_size"]), int(config.get("crop", 212))
    pixels, keep, bad = [], [], []
    fetched = _fetch(shard.files, storage_options)
    for i, file in enumerate(shard.files):
        try:
            raw = fetched.get(file)
            if isinstance(raw, FileNotFoundError):
                raise DataError(f"{file}: image not found - the file does not exist")
            if isinstance(raw, BaseException):
                raise raw
            picture = (images.read(file, fits_stretch=fits_stretch, storage_options=storage_options)
                       if raw is None else images.decode(file, raw, fits_stretch=fits_stretch))
            pixels.append(images.cutout(picture, size, crop))
            keep.append(i)
        except (UserError, ValueError, FileNotFoundError, IsADirectoryError) as exc:
            bad.append((shard.galaxy_ids[i], file, str(exc).splitlines()[0]))
        except OSError as exc:  # on a local disk the file's fault; in a store maybe the network's:
            if store.is_url(file):  # then the task fails and a rerun tries the shard again
                raise
            bad.append((shard.galaxy_ids[i], file, str(exc).splitlines()[0]))
    width = int(config.get("n_features", 512)) if layer == "body" else 512
    if pixels:
        codes = extract_features(net, np.stack(pixels), config, layer=layer, bs=batch_size)
    else:
        codes = np.zeros((0, width), np.float32)
    bad_table = pd.DataFrame(bad, columns=BAD_COLUMNS)
    out.write(f"{BAD_DIR}/{shard.name}.csv", bad_table.to_csv(index=False).encode())
    buffer = io.BytesIO()
    _table(shard, keep, codes).to_parquet(buffer, index=False)
    out.write(shard.name, buffer.getvalue())
    return {"shard": shard.index, "galaxies": len(keep), "bad": [b[1:] for b in bad],
            "seconds": time.perf_counter() - t0, "pid": os.getpid(),
            "malloc_trim": os.environ.get(SLOW_MALLOC)}


def _fingerprint(files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        st = f.stat()
        digest.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


@dataclass
class Inputs:
    """What to featurize: sources, their IDs, the manifest's other columns, a fingerprint."""

    where: str
    sources: list
    ids: list | None
    extras: pd.DataFrame | None
    sha256: str
    manifest: dict


def find_inputs(images: str | Path, *, id_column: str = "id", path_column: str = "path",
                fits_stretch: str = "asinh", storage_options: dict | None = None) -> Inputs:
    """The cutouts of a folder (path or URL) of ``<GalaxyID>.jpg``, or of a manifest."""
    from helpers.data import cutouts

    cutouts.check_stretch(fits_stretch)
    where = store.locate(images, storage_options)
    if cutouts.is_manifest(images):
        if not store.check_reachable(where, "--images"):
            raise DataError(f"{where.url}: the manifest does not exist")
        table = cutouts.read_manifest(images, id_column=id_column, path_column=path_column,
                                      storage_options=storage_options)
        digest = hashlib.sha256(pd.util.hash_pandas_object(
            table.assign(source=table["source"].str.rsplit("/", n=1).str[-1]),
            index=False).to_numpy().tobytes()).hexdigest()
        extras = table.drop(columns=["id", "source"])
        return Inputs(where.url, table["source"].tolist(), table["id"].tolist(), extras, digest,
                      {"id_column": id_column, "path_column": path_column,
                       "fits_stretch": fits_stretch, "columns": list(map(str, extras.columns))})
    if where.local:
        files = list_images(where.root)
        return Inputs(where.url, files, None, None, _fingerprint(files), {})
    if not store.check_reachable(where, "--images"):
        raise DataError(f"{where.url} does not exist: give a folder of <GalaxyID>.jpg images or a "
                        "manifest (.csv/.parquet)")
    sizes = {n: s for n, s in where.sizes().items() if n.lower().endswith(IMAGE_SUFFIXES)}
    names = _by_id(where.url, list(sizes), list(sizes))
    digest = hashlib.sha256("".join(f"{n}\0{sizes[n]}\n" for n in names).encode()).hexdigest()
    return Inputs(where.url, [where.child(n) for n in names], None, None, digest, {})


def _manifest(network: Network, run: str, inputs: Inputs, shard_size: int, layer: str) -> dict:
    cfg = network.settings
    return {"version": MANIFEST_VERSION, "weights_sha256": cfg.get("weights_sha256"),
            "arch": cfg.get("arch"), "image_size": cfg.get("image_size"), "crop": cfg.get("crop"),
            "layer": layer, "image_dir": inputs.where, "run_dir": run,
            "images": len(inputs.sources), "images_sha256": inputs.sha256,
            "shard_size": shard_size, **inputs.manifest}


def _entries(out: store.Location) -> list[str]:
    """Names directly in ``out`` (files and folders)."""
    if out.local:
        return [p.name for p in Path(out.root).iterdir()]
    out.fs.invalidate_cache(out.root)
    return [e.rstrip("/").rsplit("/", 1)[-1] for e in out.fs.ls(out.root, detail=False)]


def _check_resume(out: store.Location, manifest: dict, overwrite: bool) -> None:
    if not store.check_reachable(out, "--out"):
        if out.local:
            Path(out.root).mkdir(parents=True)
        return
    if not out.exists(MANIFEST):
        if any(n != LOCK for n in _entries(out)):  # --overwrite only deletes our own outputs
            raise UserError(f"{out.url} exists and is not a featurize output (no {MANIFEST}): "
                            "choose an empty or new OUT_DIR" + (" (--overwrite replaces only a "
                                                                 "featurize output)" if overwrite else ""))
        return
    old = json.loads(out.read(MANIFEST))
    keys = [k for k in manifest if k not in LOCATIONS and old.get(k) != manifest[k]]
    if keys and not overwrite:
        raise UserError(f"{out.url} holds codes made from other inputs ({', '.join(keys)} differ): "
                        "use a new OUT_DIR, or --overwrite to start it again")
    if keys:
        for name in out.list(prefix="part-", suffix=".parquet"):
            out.remove(name)
        for name in out.list(BAD_DIR, prefix="part-", suffix=".csv"):
            out.remove(f"{BAD_DIR}/{name}")


def _finished(out: store.Location, shards: list[Shard], say) -> set[int]:
    """Indices of the shards whose part file reads back with the IDs of their images less
    their unreadable ones; a part that does not (cut short, of other inputs) is removed."""
    import pyarrow.parquet as pq

    parts = set(out.list(prefix="part-", suffix=".parquet"))
    records = set(out.list(BAD_DIR, suffix=".csv"))
    done = set()
    for shard in shards:
        if shard.name not in parts:
            continue
        try:
            skipped = set()
            if f"{shard.name}.csv" in records:
                skipped = set(pd.read_csv(io.BytesIO(out.read(f"{BAD_DIR}/{shard.name}.csv")))["file"])
            else:
                raise DataError("no record of its unreadable images")
            table = pq.read_table(out.path(shard.name), columns=[ID_COLUMN], filesystem=out.fs)
            expected = [str(i) for i, f in zip(shard.galaxy_ids, shard.files, strict=True)
                        if f not in skipped]
            if [str(i) for i in table.column(ID_COLUMN).to_pylist()] != expected:
                raise DataError(f"holds {table.num_rows} IDs, not the {len(expected)} expected")
        except Exception as exc:
            say(f"[featurize] {shard.name} does not read back as a finished shard "
                f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}): computed again")
            out.remove(shard.name)
            continue
        done.add(shard.index)
    return done


def check_scheduler(address: str, timeout: float = 3.0) -> None:
    """Refuse, in seconds, a Dask scheduler address that does not answer (UserError)."""
    import socket
    from urllib.parse import urlparse

    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    if not parsed.hostname or not parsed.port:
        raise UserError(f"--scheduler {address!r}: use tcp://host:port (or 'none' for one process)")
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=timeout):
            return
    except OSError as exc:
        raise UserError(f"the Dask scheduler {address} does not answer ({exc.strerror or exc}): start "
                        "it (dask scheduler) or leave --scheduler out for a local cluster") from None


def featurize(run_dir: str | Path, image_dir: str | Path, out_dir: str | Path, *,
              scheduler: str | None = None, workers: int | None = None, shard_size: int = 512,
              layer: str = "body", batch_size: int = 128, overwrite: bool = False,
              threads: int | None = None, progress: Callable[[str], None] | None = print,
              id_column: str = "id", path_column: str = "path", fits_stretch: str = "asinh",
              storage_options: dict | None = None) -> dict:
    """Featurize every cutout of ``image_dir`` with the network of ``run_dir`` into ``out_dir``.

    ``image_dir``: a folder of ``<GalaxyID>.jpg`` images, or a manifest (``.csv``/``.parquet``)
    whose ``id_column`` names each cutout and ``path_column`` gives its path or URL (JPEG, PNG
    or FITS; FITS shown by the rule of :mod:`helpers.data.cutouts` with ``fits_stretch``). Each of
    the three may be a local path or an fsspec URL; ``storage_options`` (e.g.
    ``{"endpoint_url": ...}``) go to the store's backend here and on the workers (which may
    also configure it themselves: for s3fs, ``AWS_*`` variables). ``scheduler``: ``None``
    starts a local Dask cluster of ``workers`` processes (default: one per core, each with an
    equal share of the threads); an address connects to that cluster; ``"none"`` runs the
    shards in this process (the reference path). ``threads``: torch threads per task (default:
    the cores shared out among a local cluster's workers; the worker's own setting on another
    cluster). Finished shards of an earlier, interrupted run with the same inputs are checked,
    kept and skipped. Returns a summary.
    """
    if layer not in ("body", "hidden"):
        raise ParameterError(f"layer={layer!r}: use 'body' or 'hidden'")
    network = load_network(run_dir, storage_options)  # read here: workers need no access to it
    inputs = find_inputs(image_dir, id_column=id_column, path_column=path_column,
                         fits_stretch=fits_stretch, storage_options=storage_options)
    shards = plan_shards(inputs.sources, shard_size, inputs.ids, inputs.extras)
    if scheduler not in (None, "none"):
        check_scheduler(scheduler)  # before anything is written: an unreachable one claims nothing
    out = store.locate(out_dir, storage_options)
    manifest = _manifest(network, network.source, inputs, shard_size, layer)
    _check_resume(out, manifest, overwrite)
    lock = folder_lock(out.root, f"featurize into {Path(out.root).name}") if out.local else nullcontext()
    with lock:
        return _featurize(network, out, inputs, shards, manifest, scheduler=scheduler,
                          workers=workers, shard_size=shard_size, layer=layer,
                          batch_size=batch_size, threads=threads, progress=progress,
                          fits_stretch=fits_stretch, storage_options=storage_options)


def _featurize(network: Network, out: store.Location, inputs: Inputs, shards: list[Shard],
               manifest: dict, *, scheduler, workers, shard_size, layer, batch_size, threads,
               progress, fits_stretch, storage_options) -> dict:
    from helpers import paths

    say = progress or (lambda _msg: None)
    out.write(MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    if out.local:  # half-written leftovers of a killed run
        root = Path(out.root)
        for tmp in [*root.glob(".*.tmp"), *(root / BAD_DIR).glob(".*.tmp")]:
            tmp.unlink(missing_ok=True)
    done = _finished(out, shards, say)
    todo = [s for s in shards if s.index not in done]
    say(f"[featurize] {len(inputs.sources)} images in {len(shards)} shards of {shard_size}; "
        f"{len(shards) - len(todo)} already done, {len(todo)} to go")
    reports, t0 = [], time.perf_counter()
    task = {"layer": layer, "batch_size": batch_size, "threads": threads,
            "fits_stretch": fits_stretch, "storage_options": storage_options}
    if todo:
        if scheduler == "none":
            for shard in todo:
                reports.append(featurize_shard(network, shard, out.url, **task))
                _progress(say, reports, len(todo), t0)
        else:
            reports = _on_dask(network, todo, out.url, scheduler, workers, task, say, t0)
    bad = _merge_bad(out)
    finished = out.list(prefix="part-", suffix=".parquet")
    summary = {"images": len(inputs.sources), "shards": len(shards), "computed": len(reports),
               "skipped": len(shards) - len(todo), "bad": len(bad), "files": len(finished),
               "seconds": round(time.perf_counter() - t0, 2), "out_dir": out.url,
               "workers": len({r["pid"] for r in reports})}
    where = paths.relative(out.root) if out.local else out.url
    say(f"[featurize] done: {summary['images'] - summary['bad']} codes in {where}, "
        f"{summary['bad']} unreadable images listed in {BAD_IMAGES}" if len(bad) else
        f"[featurize] done: {summary['images']} codes in {where}")
    return summary


def _progress(say, reports: list[dict], total: int, t0: float) -> None:
    n = sum(r["galaxies"] for r in reports)
    rate = n / max(time.perf_counter() - t0, 1e-9)
    say(f"[featurize] {len(reports)}/{total} shards, {n} galaxies, {rate:.0f} img/s")


def worker_environ(threads: int) -> dict[str, str]:
    """Environment for the worker processes of a local cluster running ``threads`` torch threads.

    Dask's nannies set ``MALLOC_TRIM_THRESHOLD_=65536`` by default, to give memory back to the
    system sooner. Setting it switches off glibc's adaptive mmap threshold, so every large tensor
    of the forward pass is a fresh ``mmap`` with its pages faulted in again: the forward pass of a
    ResNet34 ran 30-40% slower in such a worker on this machine (``benchmarks/bench_featurize.py``).
    The local cluster leaves it out and pins the thread pools to the task's threads.

    >>> worker_environ(2)["OMP_NUM_THREADS"], SLOW_MALLOC in worker_environ(2)
    ('2', False)
    """
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": "1"}


def restore_environ(saved: dict[str, str]) -> None:
    """Make ``os.environ`` equal to ``saved`` again (variables added since are removed)."""
    for key in [k for k in os.environ if k not in saved]:
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


@contextmanager
def local_cluster(workers: int, threads: int) -> Iterator:
    """A ``distributed.LocalCluster`` of ``workers`` processes, one task at a time each, for torch.

    The sampling profiler (it wakes every 10 ms in each worker and slowed the forward pass
    measurably here) is off, and the workers' environment is :func:`worker_environ`. A Dask
    nanny writes its workers' environment into *this* process's ``os.environ`` before it spawns
    one (and leaves it there: Dask's defaults would give every later subprocess, such as a
    notebook kernel, ``OMP_NUM_THREADS=1`` and the slow malloc setting); the caller's
    environment is given back once the cluster is up and again when it closes.
    """
    import dask
    from distributed import LocalCluster

    saved = dict(os.environ)
    env = worker_environ(threads)
    try:
        with dask.config.set({"distributed.worker.profile.enabled": False,
                              "distributed.nanny.pre-spawn-environ": env}):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40, env=env)
        restore_environ(saved)
        with cluster:
            yield cluster
    finally:
        restore_environ(saved)


def _on_dask(network, todo, out_url, scheduler, workers, task, say, t0) -> list[dict]:
    from distributed import Client

    with ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler))
        else:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
            n = workers or cores or 1
            task = {**task, "threads": task["threads"] or max(1, (cores or 1) // n)}
            client = stack.enter_context(Client(stack.enter_context(local_cluster(n, task["threads"]))))
        return _run_shards(client, network, todo, out_url, task, say, t0)


def _run_shards(client, network, todo, out_url, task, say, t0) -> list[dict]:
    """One task per shard on ``client``; reports in the order the shards finish. The network
    is sent once to every worker (a worker that joins later fetches it from a peer)."""
    from distributed import as_completed

    shared = client.scatter(network, broadcast=True, hash=False)
    futures = [client.submit(featurize_shard, shared, s, out_url, **task, pure=False,
                             key=f"featurize-{s.index}-{time.time_ns()}")
               for s in todo]
    reports, warned = [], False
    for future in as_completed(futures):
        reports.append(future.result())
        if reports[-1].get("malloc_trim") and not warned:
            warned = True
            say(f"[featurize] note: the workers run with {SLOW_MALLOC}="
                f"{reports[-1]['malloc_trim']} (Dask's nanny default), which slowed the forward "
                "pass 30-40% in our benchmark; start them with the dask config "
                "distributed.nanny.pre-spawn-environ without it (see README, survey scale)")
        _progress(say, reports, len(todo), t0)
    return reports


def _merge_bad(out: store.Location) -> pd.DataFrame:
    """Gather the per-shard records of unreadable images (of finished shards) into BAD_IMAGES."""
    finished = set(out.list(prefix="part-", suffix=".parquet"))
    records = [pd.read_csv(io.BytesIO(out.read(f"{BAD_DIR}/{name}")))
               for name in out.list(BAD_DIR, prefix="part-", suffix=".csv")
               if name.removesuffix(".csv") in finished]
    records = [r for r in records if len(r)]
    table = (pd.concat(records, ignore_index=True) if records else pd.DataFrame(columns=BAD_COLUMNS))
    table = table.sort_values("file", ignore_index=True)
    out.write(BAD_IMAGES, table.to_csv(index=False).encode())
    return table


def read_codes_and_table(out_dir: str | Path, storage_options: dict | None = None):
    """:func:`read_codes` and the codes alone as a float32 matrix: ``(table, codes)``."""
    from helpers.run import code_columns

    table = read_codes(out_dir, storage_options)
    return table, table[code_columns(table)].to_numpy(np.float32)


def read_codes(out_dir: str | Path, storage_options: dict | None = None) -> pd.DataFrame:
    """All shards of a featurize output (a path or URL) as one table sorted by GalaxyID."""
    out = store.locate(out_dir, storage_options)
    if not store.check_reachable(out, "features") or not out.exists(MANIFEST):
        raise DataError(f"{out.url} is not a featurize output (no {MANIFEST})")
    parts = out.list(prefix="part-", suffix=".parquet")
    if not parts:
        raise DataError(f"{out.url} holds no finished shards yet")
    frames = [pd.read_parquet(io.BytesIO(out.read(p))) for p in parts]
    frames = [f for f in frames if len(f)] or frames[:1]
    return pd.concat(frames, ignore_index=True).sort_values(ID_COLUMN, ignore_index=True)
