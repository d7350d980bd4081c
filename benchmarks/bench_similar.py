"""Similarity search over 100,000 CNN codes: queries per second and recall against brute force.

The feature set is the demo run's 2,000 real codes grown to ``--n`` (default 100,000) the way
bench_tsne.py grows them (resampled, with jitter shaped like the local spread); the queries are
``--queries`` further jittered codes. Both engines of ``helpers.similar.Index`` answer the same
queries (k = 12):

* exact: blocked matrix products on unit vectors (no index);
* ann: pynndescent's NN-descent graph (index build timed apart), recall against exact.

    .venv/bin/python benchmarks/bench_similar.py [--n 100000] [--queries 2000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from bench_tsne import load_codes  # same folder: the shared way to grow the demo codes

from helpers.similar import Index, recall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--features", type=Path, default=Path("data/processed/demo/features.parquet"))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("-k", type=int, default=12)
    args = ap.parse_args()
    codes, note = load_codes(args.features, args.n + args.queries, 0.5, 0)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(codes))
    db, queries = codes[order[:args.n]], codes[order[args.n:]]
    print(f"feature set: {note}; {len(db)} codes x {db.shape[1]}, {len(queries)} queries, k={args.k}")

    t0 = time.perf_counter()
    exact_index = Index(db, "exact")
    exact, _ = exact_index.query(queries, k=args.k)
    t_exact = time.perf_counter() - t0
    print(f"  exact: {t_exact:.2f} s for {len(queries)} queries = {len(queries) / t_exact:,.0f} queries/s "
          "(no index; recall 1 by definition)", flush=True)

    t0 = time.perf_counter()
    ann_index = Index(db, "ann", seed=0)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    approx, _ = ann_index.query(queries, k=args.k)
    t_ann = time.perf_counter() - t0
    r = recall(approx, exact)
    print(f"  ann:   index built in {t_build:.1f} s; {t_ann:.2f} s for {len(queries)} queries = "
          f"{len(queries) / t_ann:,.0f} queries/s; recall@{args.k} {r:.3f}")
    single = queries[:50]
    t0 = time.perf_counter()
    for q in single:
        exact_index.query(q[None], k=args.k)
    t_one = (time.perf_counter() - t0) / len(single)
    print(f"  one query at a time (the CLI's case), exact: {1000 * t_one:.1f} ms per query")
    print(f"SUMMARY bench_similar n={len(db)}: exact {len(queries) / t_exact:,.0f} q/s "
          f"({1000 * t_one:.1f} ms single); ann {len(queries) / t_ann:,.0f} q/s after a "
          f"{t_build:.0f} s build, recall@{args.k} {r:.3f}")


if __name__ == "__main__":
    main()
