"""Similarity search over 100,000 CNN codes: queries per second and recall against brute force.

The feature set is the demo run's 2,000 real codes grown to ``--n`` (default 100,000) the way
bench_tsne.py grows them (resampled, with jitter shaped like the local spread); the queries are
``--queries`` further jittered codes. Both engines of ``helpers.codes.similar.Index`` answer the same
queries (k = 12), in one process, on the same ``--threads`` (BLAS threads for exact, numba
threads and ``n_jobs`` for pynndescent):

* exact: blocked matrix products on unit vectors (no index);
* ann: pynndescent's NN-descent graph. Its index build is a cost the user pays before the first
  answer, so it is reported twice: queries/s excluding the build, and queries/s amortised over
  the ``--queries`` queries (build + queries), with the number of queries at which ann starts to
  beat exact. numba's one-off compilation is timed apart (a 2,000-code build first; it is cached
  in ``NUMBA_CACHE_DIR`` when that is set, as ``make`` does).

The query timings are the best of ``--rounds`` on each side; the build is timed once (it is
paid once). Checked: ann's recall@k against exact (the run fails below ``--min-recall``), and
exact's answers against a float64 brute force on 200 queries (same rows; ties excepted).

    .venv/bin/python benchmarks/bench_similar.py [--n 100000] [--queries 2000] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from bench_tsne import load_codes  # same folder: the shared way to grow the demo codes

from helpers.codes.neighbours import Index, recall


def best_of(rounds: int, fn) -> tuple[float, object]:
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--features", type=Path, default=Path("data/processed/demo/features.parquet"))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("-k", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2, help="threads for both engines")
    ap.add_argument("--rounds", type=int, default=3, help="best-of rounds for the query timings")
    ap.add_argument("--min-recall", type=float, default=0.9)
    args = ap.parse_args()

    import numba
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    numba.set_num_threads(args.threads)
    codes, note = load_codes(args.features, args.n + args.queries, 0.5, 0)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(codes))
    db, queries = codes[order[:args.n]], codes[order[args.n:]]
    print(f"feature set: {note}; {len(db)} codes x {db.shape[1]}, {len(queries)} queries, "
          f"k={args.k}; {args.threads} threads for both engines ({os.cpu_count()} CPUs), "
          f"best of {args.rounds} rounds; load average {os.getloadavg()[0]:.2f}", flush=True)

    exact_index = Index(db, "exact")
    t_exact, (exact, _) = best_of(args.rounds, lambda: exact_index.query(queries, k=args.k))
    # exact really is exact: float64 brute force on a subset gives the same rows
    sub = queries[:200].astype(np.float64)
    sub /= np.linalg.norm(sub, axis=1, keepdims=True)
    ref = np.argsort(-(sub @ exact_index.db.astype(np.float64).T), axis=1, kind="stable")[:, :args.k]
    agree = recall(exact[:200], ref)
    print(f"  exact: best {t_exact:.2f} s for {len(queries)} queries = {len(queries) / t_exact:,.0f} "
          f"queries/s (no index); rows equal to a float64 brute force on 200 queries: {agree:.4f}",
          flush=True)

    t0 = time.perf_counter()
    Index(db[:2000], "ann", seed=0, n_jobs=args.threads)  # numba compiles here (or loads its cache)
    t_jit = time.perf_counter() - t0
    t0 = time.perf_counter()
    ann_index = Index(db, "ann", seed=0, n_jobs=args.threads)
    t_build = time.perf_counter() - t0
    ann_index.query(queries[:10], k=args.k)  # the query path's compilation, outside the timing
    t_ann, (approx, _) = best_of(args.rounds, lambda: ann_index.query(queries, k=args.k))
    r = recall(approx, exact)
    qps_ann = len(queries) / t_ann
    qps_amortised = len(queries) / (t_build + t_ann)
    per_q_gain = t_exact / len(queries) - t_ann / len(queries)
    break_even = t_build / per_q_gain if per_q_gain > 0 else float("inf")
    print(f"  ann:   numba compile / cache load {t_jit:.1f} s (a 2,000-code index), then index built "
          f"in {t_build:.1f} s; best {t_ann:.2f} s for {len(queries)} queries = {qps_ann:,.0f} "
          f"queries/s excluding the build, {qps_amortised:,.0f} queries/s counting it "
          f"({qps_amortised / (len(queries) / t_exact):.2f}x exact); recall@{args.k} {r:.3f}")
    print(f"  ann beats exact (build included) after {break_even:,.0f} queries")

    single = queries[:50]

    def one_by_one(index: Index) -> None:
        for q in single:
            index.query(q[None], k=args.k)

    t_one, _ = best_of(args.rounds, lambda: one_by_one(exact_index))
    t_one_ann, _ = best_of(args.rounds, lambda: one_by_one(ann_index))
    t_one, t_one_ann = t_one / len(single), t_one_ann / len(single)
    print(f"  one query at a time (the CLI's case): exact {1000 * t_one:.1f} ms, ann "
          f"{1000 * t_one_ann:.2f} ms per query (+ the build)")
    print(f"  load average at the end {os.getloadavg()[0]:.2f}")
    print(f"SUMMARY bench_similar n={len(db)}, {args.threads} threads: exact "
          f"{len(queries) / t_exact:,.0f} q/s ({1000 * t_one:.1f} ms single); ann "
          f"{qps_ann:,.0f} q/s excluding a {t_build:.0f} s build, {qps_amortised:,.0f} q/s "
          f"amortised over {len(queries)} queries, break-even {break_even:,.0f} queries, "
          f"recall@{args.k} {r:.3f}")
    if r < args.min_recall:
        raise SystemExit(f"recall@{args.k} {r:.3f} is below --min-recall {args.min_recall}")


if __name__ == "__main__":
    main()
