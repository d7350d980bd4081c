"""Survey scale: featurize a folder of galaxy images with a trained run's network, in shards, on Dask.

The same code runs in one process (``scheduler="none"``), on a local cluster sized to the
machine (the default) or on any ``dask.distributed`` cluster (``scheduler="tcp://host:8786"``).
Work is cut into shards of ``shard_size`` images, one task each (never one task per image), and
every worker loads the network once. Each finished shard is written atomically as
``OUT_DIR/part-NNNNN.parquet`` (``GalaxyID`` + the code columns), so an interrupted run leaves
only whole shards, and a rerun with the same inputs skips them. ``OUT_DIR/_manifest.json``
records what the shards were cut from (model weights, image list, shard size, geometry), and a
rerun that does not match it is refused rather than mixing codes of two networks.
``OUT_DIR/_bad_images.csv`` lists images that could not be read; the others go on.

``pandas.read_parquet(OUT_DIR)`` reads all the shards back as one table (files starting with
``_`` are ignored by pyarrow).

Dask ships tasks between processes with pickle: connect only to a cluster you trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.artifacts import LOCK, folder_lock, write_atomic, write_json, write_parquet
from helpers.errors import DataError, ParameterError, UserError

MANIFEST = "_manifest.json"
BAD_IMAGES = "_bad_images.csv"
BAD_DIR = "_bad"  # one record per shard, merged into BAD_IMAGES
PART = "part-{:05d}.parquet"
MANIFEST_VERSION = 1
PLACES = ("image_dir", "run_dir")  # where the inputs were: moving them does not change the codes
SLOW_MALLOC = "MALLOC_TRIM_THRESHOLD_"  # Dask's nanny default; see worker_environ

_MODELS: dict[tuple[str, str], tuple] = {}  # per worker process: (run_dir, weights sha) -> (net, config)


@dataclass(frozen=True)
class Shard:
    index: int
    files: tuple[str, ...]

    @property
    def name(self) -> str:
        return PART.format(self.index)


def list_images(image_dir: str | Path) -> list[Path]:
    """``<GalaxyID>.jpg`` files of a folder, sorted by ID (other names are an error that lists them)."""
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise DataError(f"{image_dir} is not a folder of galaxy images")
    files = [f for f in image_dir.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png")]
    bad = sorted(f.name for f in files if not f.stem.isdigit())
    if bad:
        raise DataError(f"{image_dir}: image names must be <GalaxyID>.jpg (digits); not so: {bad[:5]}"
                        + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
    if not files:
        raise DataError(f"{image_dir} holds no .jpg/.png images")
    return sorted(files, key=lambda f: (int(f.stem), f.name))


def plan_shards(files: Sequence[Path], shard_size: int) -> list[Shard]:
    """Cut the sorted file list into shards of ``shard_size`` (the last may be smaller).

    >>> [s.files for s in plan_shards([Path("1.jpg"), Path("2.jpg"), Path("3.jpg")], 2)]
    [('1.jpg', '2.jpg'), ('3.jpg',)]
    """
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ParameterError(f"shard_size={shard_size!r}: use a positive integer (e.g. 512)")
    names = [str(f) for f in files]
    return [Shard(i, tuple(names[s:s + shard_size]))
            for i, s in enumerate(range(0, len(names), shard_size))]


def _model(run_dir: str):
    """The run's network, loaded once per process (keyed by the weights' SHA-256)."""
    from helpers.model import load_model

    cfg = json.loads((Path(run_dir) / "model.json").read_text())
    key = (str(run_dir), cfg.get("weights_sha256", ""))
    if key not in _MODELS:
        _MODELS.clear()
        _MODELS[key] = load_model(run_dir)
    return _MODELS[key]


def decode(path: Path, size: int, crop: int = 212) -> np.ndarray:
    """An image as the network saw its training cutouts: the central crop, resized to ``size``.

    Kaggle cutouts are 424 px and the run's ``crop`` is in their pixels; an image of another
    size (another survey, another generator) is cropped to the same *fraction* of its side
    (``crop / 424``), so the galaxy fills the input as it did in training.

    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "7.png"
    >>> Image.new("RGB", (128, 128)).save(f)
    >>> decode(f, 32).shape
    (32, 32, 3)
    """
    from helpers.dataset import read_image
    from helpers.imagecache import center_crop_resize
    from helpers.schema import IMAGE_SIZE

    image = read_image(path, size=None)  # raises DataError naming the file
    side = min(image.shape[:2])
    pixels = crop if side == IMAGE_SIZE else max(1, round(side * crop / IMAGE_SIZE))
    return center_crop_resize(image, size, min(pixels, side))


def featurize_shard(run_dir: str, shard: Shard, out_dir: str, *, layer: str = "body",
                    batch_size: int = 128, threads: int | None = None) -> dict:
    """Codes of one shard's images, written atomically to ``out_dir/part-NNNNN.parquet``.

    Unreadable images are skipped and returned in ``bad`` as ``(file, reason)``; the shard file
    holds the others (possibly none). Returns a small report.
    """
    import torch

    from helpers.model import extract_features, features_frame

    if threads:
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    net, config = _model(run_dir)
    size, crop = int(config["image_size"]), int(config.get("crop", 212))
    images, ids, bad = [], [], []
    for file in shard.files:
        try:
            images.append(decode(Path(file), size, crop))
            ids.append(int(Path(file).stem))
        except (UserError, OSError, ValueError) as exc:
            bad.append((file, str(exc).splitlines()[0]))
    width = int(config.get("n_features", 512)) if layer == "body" else 512
    if images:
        codes = extract_features(net, np.stack(images), config, layer=layer, bs=batch_size)
    else:
        codes = np.zeros((0, width), np.float32)
    # the shard's unreadable images first, so that a finished shard always has its record
    bad_table = pd.DataFrame(bad, columns=["file", "problem"])
    write_atomic(Path(out_dir) / BAD_DIR / f"{shard.name}.csv", lambda p: bad_table.to_csv(p, index=False))
    write_parquet(features_frame(np.asarray(ids, dtype=np.int64), codes),
                  Path(out_dir) / shard.name)
    return {"shard": shard.index, "galaxies": len(ids), "bad": bad,
            "seconds": time.perf_counter() - t0, "pid": os.getpid(),
            "malloc_trim": os.environ.get(SLOW_MALLOC)}


def _fingerprint(files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        st = f.stat()
        digest.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _manifest(run_dir: Path, image_dir: Path, files: Sequence[Path], shard_size: int, layer: str) -> dict:
    cfg = json.loads((run_dir / "model.json").read_text())
    return {"version": MANIFEST_VERSION, "weights_sha256": cfg.get("weights_sha256"),
            "arch": cfg.get("arch"), "image_size": cfg.get("image_size"), "crop": cfg.get("crop"),
            "layer": layer, "image_dir": str(image_dir), "run_dir": str(run_dir), "images": len(files),
            "images_sha256": _fingerprint(files), "shard_size": shard_size}


def _check_resume(out_dir: Path, manifest: dict, overwrite: bool) -> None:
    existing = out_dir / MANIFEST
    if not out_dir.exists():
        out_dir.mkdir(parents=True)
        return
    if not existing.exists():
        if any(p.name != LOCK for p in out_dir.iterdir()):  # --overwrite only deletes our own outputs
            raise UserError(f"{out_dir} exists and is not a featurize output (no {MANIFEST}): "
                            "choose an empty or new OUT_DIR" + (" (--overwrite replaces only a "
                                                                 "featurize output)" if overwrite else ""))
        return
    old = json.loads(existing.read_text())
    keys = [k for k in manifest if k not in PLACES and old.get(k) != manifest[k]]
    if keys and not overwrite:
        raise UserError(f"{out_dir} holds codes made from other inputs ({', '.join(keys)} differ): "
                        "use a new OUT_DIR, or --overwrite to start it again")
    if keys:
        for f in [*out_dir.glob("part-*.parquet"), *(out_dir / BAD_DIR).glob("part-*.csv")]:
            f.unlink()


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
              threads: int | None = None, progress: Callable[[str], None] | None = print) -> dict:
    """Featurize every image of ``image_dir`` with the network of ``run_dir`` into ``out_dir``.

    ``scheduler``: ``None`` starts a local Dask cluster of ``workers`` processes (default: one
    per core, each with an equal share of the threads); an address connects to that cluster;
    ``"none"`` runs the shards in this process (the reference path). ``threads``: torch threads
    per task (default: the cores shared out among a local cluster's workers; the worker's own
    setting on another cluster). Finished shards of an earlier, interrupted run with the same
    inputs are kept and skipped. Returns a summary.
    """
    from helpers import paths

    run_dir, image_dir, out_dir = paths.resolve(run_dir), paths.resolve(image_dir), paths.resolve(out_dir)
    for name in ("model.json", "model.safetensors"):
        if not (run_dir / name).is_file():
            raise UserError(f"{run_dir / name} does not exist: --run must be a run folder whose "
                            "training chapter (02) has finished")
    if layer not in ("body", "hidden"):
        raise ParameterError(f"layer={layer!r}: use 'body' or 'hidden'")
    files = list_images(image_dir)
    shards = plan_shards(files, shard_size)
    if scheduler not in (None, "none"):
        check_scheduler(scheduler)  # before anything is written: an unreachable one claims nothing
    manifest = _manifest(run_dir, image_dir, files, shard_size, layer)
    _check_resume(out_dir, manifest, overwrite)
    with folder_lock(out_dir, f"featurize into {out_dir.name}"):
        return _featurize(run_dir, out_dir, files, shards, manifest, scheduler=scheduler,
                          workers=workers, shard_size=shard_size, layer=layer,
                          batch_size=batch_size, threads=threads, progress=progress)


def _featurize(run_dir: Path, out_dir: Path, files: list[Path], shards: list, manifest: dict, *,
               scheduler, workers, shard_size, layer, batch_size, threads, progress) -> dict:
    from helpers import paths

    write_json(manifest, out_dir / MANIFEST)
    for tmp in [*out_dir.glob(".*.tmp"), *(out_dir / BAD_DIR).glob(".*.tmp")]:  # half-written
        tmp.unlink(missing_ok=True)  # leftovers of a killed run
    todo = [s for s in shards if not (out_dir / s.name).exists()]
    say = progress or (lambda _msg: None)
    say(f"[featurize] {len(files)} images in {len(shards)} shards of {shard_size}; "
        f"{len(shards) - len(todo)} already done, {len(todo)} to go")
    reports, t0 = [], time.perf_counter()
    if todo:
        if scheduler == "none":
            for shard in todo:
                reports.append(featurize_shard(str(run_dir), shard, str(out_dir), layer=layer,
                                               batch_size=batch_size, threads=threads))
                _progress(say, reports, len(todo), t0)
        else:
            reports = _on_dask(run_dir, todo, out_dir, scheduler, workers, layer, batch_size, say, t0,
                               threads)
    bad = _merge_bad(out_dir)
    done = sorted(out_dir.glob("part-*.parquet"))
    summary = {"images": len(files), "shards": len(shards), "computed": len(reports),
               "skipped": len(shards) - len(todo), "bad": len(bad), "files": len(done),
               "seconds": round(time.perf_counter() - t0, 2), "out_dir": str(out_dir),
               "workers": len({r["pid"] for r in reports})}
    where = paths.relative(out_dir)
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


def _on_dask(run_dir, todo, out_dir, scheduler, workers, layer, batch_size, say, t0,
             threads) -> list[dict]:
    from distributed import Client

    with ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler))
        else:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
            n = workers or cores or 1
            threads = threads or max(1, (cores or 1) // n)
            client = stack.enter_context(Client(stack.enter_context(local_cluster(n, threads))))
        return _run_shards(client, run_dir, todo, out_dir, layer, batch_size, say, t0, threads)


def _run_shards(client, run_dir, todo, out_dir, layer, batch_size, say, t0, threads) -> list[dict]:
    """One task per shard on ``client``; reports in the order the shards finish."""
    from distributed import as_completed

    futures = [client.submit(featurize_shard, str(run_dir), s, str(out_dir), layer=layer,
                             batch_size=batch_size, threads=threads, pure=False,
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


def _merge_bad(out_dir: Path) -> pd.DataFrame:
    """Gather the per-shard records of unreadable images (of finished shards) into BAD_IMAGES."""
    finished = {f.name for f in out_dir.glob("part-*.parquet")}
    records = [pd.read_csv(f) for f in sorted((out_dir / BAD_DIR).glob("part-*.csv"))
               if f.name.removesuffix(".csv") in finished]
    table = pd.concat(records, ignore_index=True) if records else pd.DataFrame(columns=["file", "problem"])
    table = table.sort_values("file", ignore_index=True)
    write_atomic(out_dir / BAD_IMAGES, lambda p: table.to_csv(p, index=False))
    return table


def read_codes(out_dir: str | Path) -> pd.DataFrame:
    """All shards of a featurize output as one table sorted by GalaxyID."""
    out_dir = Path(out_dir)
    if not (out_dir / MANIFEST).exists():
        raise DataError(f"{out_dir} is not a featurize output (no {MANIFEST})")
    parts = sorted(out_dir.glob("part-*.parquet"))
    if not parts:
        raise DataError(f"{out_dir} holds no finished shards yet")
    return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True).sort_values(
        "GalaxyID", ignore_index=True)
