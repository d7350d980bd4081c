"""The object-store path of featurize against the local-path path, on the same images, in one process.

``helpers.codes.survey.featurize`` runs over the same galaxy JPEGs twice, on the same cores, without
Dask (``scheduler="none"``; the per-image cost, not the cluster's, is in question):

* local: images read from a local folder, codes written to a local folder;
* store: the same images read from an S3 server on the loopback address (``moto_server``,
  started here in a process of its own) and the codes written back to it, through fsspec/s3fs.

Both sides are warmed once (imports, the network's load), then timed best of ``--repeats``,
alternating. Codes are checked equal. The ratio store / local is the object-store overhead per
image (goal: within 1.2x). A loopback server costs no network time: the ratio is the cost of the
S3 protocol and of s3fs, not of a real network's latency (which a survey hides with more shards
in flight)::

    nice -n 19 .venv/bin/python benchmarks/bench_store.py [--n 400] [--repeats 3] [--run RUN]

``--run``: a run folder (default: a seeded, untrained ResNet34 at 64 px, as fast as a trained
one; chapter 2's network when ``data/processed/demo`` exists).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from helpers import paths
from helpers.codes import survey


def make_images(folder: Path, n: int, side: int = 424) -> None:
    """Galaxy-like JPEGs at the Kaggle size (smooth blobs on noise)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[:side, :side]
    for i in range(n):
        r2 = (yy - side / 2) ** 2 / rng.uniform(100, 2000) + (xx - side / 2) ** 2 / rng.uniform(100, 2000)
        img = np.clip(rng.normal(12, 4, (side, side, 3)) + 235 * np.exp(-r2)[..., None], 0, 255)
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{100000 + i}.jpg", quality=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--shard-size", type=int, default=100)
    ap.add_argument("--run", type=Path, default=None)
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(150):  # its own process, as a store is: it does not share this one's GIL
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        server.kill()
        raise SystemExit(f"moto_server did not listen on 127.0.0.1:{port} within 15 s")
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.mkdir("bench")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            run = args.run or (paths.PROCESSED / "demo" if (paths.PROCESSED / "demo" / "model.json")
                               .exists() else None)
            if run is None:
                from helpers.net import network

                run = tmp / "run"
                network.save_model(network.build_model("resnet34", "tree", seed=0), run,
                                   {"image_size": 64, "crop": 212, "mean": [0.1] * 3, "std": [0.2] * 3})
            make_images(tmp / "images", args.n)
            fs.put(str(tmp / "images") + "/", "bench/images/", recursive=True)
            threads = len(os.sched_getaffinity(0))
            print(f"featurize {args.n} JPEGs (424 px) with {run}, shards of {args.shard_size}, "
                  f"{threads} threads, no Dask; S3 = moto on 127.0.0.1:{port}", flush=True)
            common = {"scheduler": "none", "shard_size": args.shard_size, "progress": None,
                      "threads": threads}
            sides = {"local": (tmp / "images", lambda r: tmp / f"out-{r}"),
                     "store": ("s3://bench/images", lambda r: f"s3://bench/out-{r}")}
            for images, out in sides.values():  # warm: imports, network, s3fs session
                survey.featurize(run, images, out("warm"), **common)
            times = {name: [] for name in sides}
            for r in range(args.repeats):
                for name, (images, out) in sides.items():
                    t0 = time.perf_counter()
                    summary = survey.featurize(run, images, out(f"{name}-{r}"), **common)
                    times[name].append(time.perf_counter() - t0)
                    assert summary["bad"] == 0 and summary["computed"] == summary["shards"]
                    print(f"  {name:<6} round {r + 1}: {times[name][-1]:6.2f} s "
                          f"({1000 * times[name][-1] / args.n:5.1f} ms/image)", flush=True)
            a = survey.read_codes(tmp / "out-local-0")
            b = survey.read_codes("s3://bench/out-store-0")
            pd.testing.assert_frame_equal(a, b)
    finally:
        server.terminate()
        server.wait(timeout=10)
    best = {k: min(v) for k, v in times.items()}
    ratio = best["store"] / best["local"]
    print(f"best of {args.repeats}: local {1000 * best['local'] / args.n:.1f} ms/image, store "
          f"{1000 * best['store'] / args.n:.1f} ms/image: ratio {ratio:.2f}x (goal <= 1.2x); "
          "codes equal")
    print(f"SUMMARY bench_store n={args.n}: object store / local path per image {ratio:.2f}x "
          f"(best of {args.repeats}; local {best['local']:.1f} s, store {best['store']:.1f} s)")


if __name__ == "__main__":
    main()
