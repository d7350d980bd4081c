"""Dask featurization against the single-process path, on the same images, in one process.

Runs ``helpers.codes.survey.featurize`` over one folder of galaxy images three ways and reports the
wall times and ratios:

* the single-process path (``scheduler="none"``; torch on all cores);
* a local Dask cluster of 1 worker (all cores): the overhead of Dask itself (goal <= 15%);
* a local Dask cluster of 2 workers (one core each): scaling on this machine.

Fixed costs are reported apart from the per-image cost: each Dask cluster is started, and
each path warmed up on one shard (a worker's first task imports torch and fastai and loads the
network: seconds, paid once per worker, not per image), before the clock starts; the
one-process path is warmed the same way. The totals with the fixed costs are printed too.
Images: the demo mock's (``data/synthetic/demo`` and its held-back set when present), or
``--images DIR``; the run: ``--run`` (default data/processed/demo, trained by ``make book``).
Codes of the three paths are checked equal::

    .venv/bin/python benchmarks/bench_featurize.py [--images DIR] [--shard-size 200]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from helpers import paths
from helpers.codes import survey


def gather_images(folders: list[Path], into: Path) -> int:
    """Symlink the images of several folders into one (the first copy of an ID wins)."""
    into.mkdir(parents=True, exist_ok=True)
    n = 0
    for folder in folders:
        for f in survey.list_images(folder):
            target = into / f.name
            if not target.exists():
                target.symlink_to(f.resolve())
                n += 1
    return n


def timed(label: str, fn) -> tuple[float, dict]:
    t0 = time.perf_counter()
    summary = fn()
    dt = time.perf_counter() - t0
    print(f"  {label:<34} {dt:7.1f} s  ({summary['images'] / dt:5.0f} img/s)", flush=True)
    return dt, summary


def main() -> None:

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=Path("data/processed/demo"))
    ap.add_argument("--images", type=Path, action="append", default=None)
    ap.add_argument("--shard-size", type=int, default=200)
    args = ap.parse_args()
    run = paths.resolve(args.run)
    folders = args.images or [p for p in (paths.DATA / "synthetic" / "demo" / "images_training_rev1",
                                          paths.DATA / "synthetic" / "demo-heldback" / "images_training_rev1")
                              if p.is_dir()]
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n = gather_images([paths.resolve(f) for f in folders], tmp / "images")
        print(f"featurize {n} images with {run / 'model.json'} "
              f"(shards of {args.shard_size}, {cores} cores)")
        common = {"shard_size": args.shard_size, "progress": None}
        warm = tmp / "warm"
        warm.mkdir()
        for f in sorted((tmp / "images").iterdir())[:8]:
            (warm / f.name).symlink_to(f.resolve())
        t0 = time.perf_counter()
        survey.featurize(run, warm, tmp / "warm-one", scheduler="none", **common)
        fixed = {0: time.perf_counter() - t0}
        t_one, _ = timed("one process (no Dask)", lambda: survey.featurize(
            run, tmp / "images", tmp / "one", scheduler="none", **common))
        results = {}
        for workers in (1, 2):
            t0 = time.perf_counter()
            with survey.local_cluster(workers, cores // workers) as cluster:
                address = cluster.scheduler_address
                cluster.get_client().run(lambda: __import__("helpers.net.inference"))  # every worker imports
                for w in range(workers):  # and loads the network (one tiny shard per worker)
                    survey.featurize(run, warm, tmp / f"warm{workers}-{w}", scheduler=address,
                                     threads=cores // workers, shard_size=8 // workers, progress=None)
                fixed[workers] = time.perf_counter() - t0
                results[workers], _ = timed(
                    f"Dask, {workers} worker(s) x {cores // workers} thread(s)",
                    lambda w=workers, a=address: survey.featurize(
                        run, tmp / "images", tmp / f"dask{w}", scheduler=a, threads=cores // w,
                        **common))
            print(f"    (fixed cost: cluster start, imports, model load: {fixed[workers]:.1f} s; "
                  f"total {fixed[workers] + results[workers]:.1f} s)")
        a = survey.read_codes(tmp / "one")
        for workers in results:
            b = survey.read_codes(tmp / f"dask{workers}")
            assert np.array_equal(a["GalaxyID"], b["GalaxyID"])
            np.testing.assert_allclose(a.iloc[:, 1:], b.iloc[:, 1:], rtol=1e-4, atol=1e-5)
    overhead = results[1] / t_one - 1
    total = (fixed[1] + results[1]) / (fixed[0] + t_one) - 1
    print(f"one process: fixed cost (model load) {fixed[0]:.1f} s; total {fixed[0] + t_one:.1f} s")
    print(f"Dask overhead, 1 worker vs one process, per image: {overhead:+.1%} (goal <= +15%); "
          f"counting the fixed costs on these {n} images: {total:+.1%}")
    print(f"scaling, 2 workers vs 1: {results[1] / results[2]:.2f}x on {cores} cores")
    print(f"SUMMARY bench_featurize n={n}: one process {t_one:.1f} s; Dask 1 worker {results[1]:.1f} s "
          f"({overhead:+.1%} per image, {total:+.1%} with fixed costs); 2 workers {results[2]:.1f} s ({results[1] / results[2]:.2f}x); codes equal")


if __name__ == "__main__":
    main()
