"""Benchmark of chapter 4's t-SNE step against the seed study's method, in one process.

Input: the CNN codes of ``--features`` (a ``features.parquet``: GalaxyID + f000..f511; default
the demo run's 2,000 codes). When it has fewer than ``--n`` rows (default 20,000) it is grown:
the real rows are kept and ``n - rows`` more are drawn from them with replacement (seed
``--seed``), each with Gaussian jitter whose per-dimension standard deviation follows the
data's local spread: ``sigma_d`` is proportional to ``RMS_i(x_id - x_{nn5(i),d})``, where nn5(i)
is row i's 5th nearest other row (512-d, Euclidean), scaled so that the jitter vector's expected
length is ``--jitter`` (default 0.5) times the median distance to the 5th nearest neighbour: new
points sit among their source's neighbours rather than on top of it. (Real 20k codes need the Kaggle data.) With more
rows than ``--n``, a seeded subsample of ``--n`` rows is used.

Both methods get the SAME matrix: the codes projected to 50 principal components (sklearn
``PCA(50, random_state=0)``, no other scaling), as chapter 4 feeds openTSNE. Fits alternate,
``--repeats`` of each (default 3), and each method's fastest counts:

* ours: exactly chapter 4's call, ``helpers.codes.reduce.tsne(x, perplexity=200, learning_rate=lr,
  seed=0, n_jobs=2)`` (openTSNE, FFT gradients, PCA initialisation, exact neighbours up to
  50,000 points, 2 x perplexity of them per point (``reduce.NEIGHBOURS_PER_PERPLEXITY``; the
  custom is 3 x), chapter 4's iteration schedule; affinities included in the time), for each
  learning rate of ``--lrs`` (default the seed's ``50``). Learning rates are in scikit-learn's
  units, as the seed study gave them: openTSNE's gradient lacks the factor 4 that
  scikit-learn's carries, so the helper passes openTSNE ``4 x lr``; ``auto`` is openTSNE's rule;
* the seed's: scikit-learn ``TSNE(perplexity=200, learning_rate=50, n_jobs=2, random_state=0,
  init="pca", method="barnes_hut")`` with the default ``max_iter=1000`` (formerly ``n_iter``).

Both sides run in one process with n_jobs 2 and BLAS/OpenMP limited to 2 threads
(threadpoolctl). Quality is compared under one P: the exact KL divergence of each final map
under a shared reference P (perplexity 200 on 3 x 200 exact neighbours, as scikit-learn's, so
our sparser P is judged by the full one; exact Q normalisation; the worst
of our fits against the best of scikit-learn's), plus each library's own KL and trustworthiness
(``sklearn.manifold.trustworthiness``, 10 neighbours) of the 2-D map against the PCA-50 input on
a fixed random subsample of ``--trust-n`` points. Ratio: scikit-learn's best time / ours, with a
verdict on whether it is at equal or lower KL. The last line is a one-line summary::

    NUMBA_CACHE_DIR=.cache/numba .venv/bin/python benchmarks/bench_tsne.py [--n 20000]
        [--features data/processed/demo/features.parquet] [--repeats 3] [--skip-sklearn]
        [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

PERPLEXITY = 200
SEED_LR = 50
N_JOBS = 2
N_PCA = 50


def load_codes(path: Path, n: int, jitter: float, seed: int) -> tuple[np.ndarray, str]:
    """The ``n`` x 512 codes to embed and a sentence saying where they come from."""
    from sklearn.neighbors import NearestNeighbors

    table = pd.read_parquet(path)
    cols = [c for c in table.columns if re.fullmatch(r"f\d{3}", c)]
    codes = table[cols].to_numpy(np.float32)
    n0 = len(codes)
    rng = np.random.default_rng(seed)
    if n0 >= n:
        if n0 > n:
            codes = codes[np.sort(rng.choice(n0, n, replace=False))]
        return codes, f"{n} of {n0} codes from {path} (no resampling)"
    nn = NearestNeighbors(n_neighbors=6).fit(codes)  # the row itself + 5 others
    dist, idx = nn.kneighbors(codes)
    offsets = codes - codes[idx[:, 5]]
    spread = np.sqrt((offsets.astype(np.float64) ** 2).mean(axis=0))  # per dimension
    r5 = dist[:, 5]
    sigma = spread * jitter * np.median(r5) / np.sqrt((spread ** 2).sum())
    src = rng.integers(0, n0, size=n - n0)
    extra = codes[src] + rng.normal(size=(n - n0, codes.shape[1])) * sigma
    grown = np.vstack([codes, extra.astype(np.float32)])
    note = (f"{n0} demo codes resampled with jitter to {n} ({path}; the {n0} real rows + "
            f"{n - n0} drawn with replacement, seed {seed}, plus Gaussian jitter shaped per "
            f"dimension like the offsets to the 5th nearest neighbour, expected length "
            f"{np.sqrt((sigma ** 2).sum()):.2f} = {jitter} x the median 5th-NN distance "
            f"{np.median(r5):.2f})")
    return grown, note


def pca50(codes: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA

    return np.ascontiguousarray(PCA(n_components=N_PCA, random_state=0).fit_transform(codes),
                                dtype=np.float64)


def run_opentsne(x: np.ndarray, lr) -> dict:
    """One fit by exactly chapter 4's call, ``helpers.codes.reduce.tsne`` (affinities included)."""
    from helpers.codes import reduce as R

    t0 = time.perf_counter()
    y, kl, _ = R.tsne(x, perplexity=PERPLEXITY, learning_rate=lr, seed=0, n_jobs=N_JOBS)
    t_fit = time.perf_counter() - t0
    ee_iter, n_iter = R._tsne_iterations(len(x))
    return {"method": "openTSNE", "lr": lr, "fit_s": t_fit, "affinity_s": float("nan"),
            "iters": ee_iter + n_iter, "kl_own": kl, "kl_own_after_ee": float("nan"),
            "knn": "exact" if len(x) <= R.EXACT_NEIGHBOURS_UP_TO else "annoy",
            "y": np.asarray(y, dtype=np.float64)}


def run_sklearn(x: np.ndarray) -> dict:
    from sklearn.manifold import TSNE

    tsne = TSNE(n_components=2, perplexity=PERPLEXITY, learning_rate=SEED_LR, n_jobs=N_JOBS,
                random_state=0, init="pca", method="barnes_hut", verbose=2)
    log = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(log):
        y = tsne.fit_transform(x)
    t_fit = time.perf_counter() - t0
    text = log.getvalue()

    def seconds(pattern: str) -> float:
        m = re.search(pattern, text)
        return float(m.group(1)) if m else float("nan")

    t_aff = (seconds(r"Indexed \d+ samples in ([\d.]+)s") +
             seconds(r"Computed neighbors for \d+ samples in ([\d.]+)s") +
             seconds(r"Computed conditional probabilities in ([\d.]+)s"))
    # scikit-learn logs the objective with P exaggerated (x EE, summing to EE); the KL of the
    # map itself is that / EE - log EE (what openTSNE reports after its exaggerated phase)
    ee = float(tsne.early_exaggeration)
    kl_ee = seconds(r"KL divergence after \d+ iterations with early exaggeration: ([\d.]+)")
    kl_ee = kl_ee / ee - np.log(ee)
    return {"method": "scikit-learn", "lr": SEED_LR, "fit_s": t_fit, "affinity_s": t_aff,
            "iters": int(tsne.n_iter_) + 1, "kl_own": float(tsne.kl_divergence_),
            "kl_own_after_ee": kl_ee, "knn": "exact (NearestNeighbors auto)", "y": y}


class SharedKL:
    """Exact KL(P || Q) of any 2-D map under one reference P, the same for every method.

    P: perplexity-200 Gaussian affinities on exact nearest neighbours (openTSNE
    ``PerplexityBasedNN(method="exact")``, symmetrised, summing to 1); Q: Student-t over all
    pairs with its normalisation summed exactly (no Barnes-Hut or FFT approximation).
    """

    def __init__(self, x: np.ndarray) -> None:
        from openTSNE.affinity import PerplexityBasedNN

        t0 = time.perf_counter()
        p = PerplexityBasedNN(x, perplexity=PERPLEXITY, method="exact", n_jobs=N_JOBS,
                              random_state=0).P.tocoo()
        self.rows, self.cols, self.p = p.row, p.col, p.data
        self.p_log_p = float((self.p * np.log(self.p)).sum())
        self.seconds = time.perf_counter() - t0

    def __call__(self, y: np.ndarray, chunk: int = 500) -> float:
        y = np.asarray(y, dtype=np.float64)
        z = 0.0
        for start in range(0, len(y), chunk):
            part = y[start:start + chunk]
            d2 = (part[:, 0, None] - y[None, :, 0]) ** 2 + (part[:, 1, None] - y[None, :, 1]) ** 2
            z += float((1.0 / (1.0 + d2)).sum())
        z -= len(y)  # the diagonal, w_ii = 1
        d2 = ((y[self.rows] - y[self.cols]) ** 2).sum(-1)
        log_w = -np.log1p(d2)
        return self.p_log_p - float((self.p * log_w).sum()) + float(self.p.sum()) * np.log(z)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--features", type=Path,
                    default=Path("data/processed/demo/features.parquet"))
    ap.add_argument("--n", type=int, default=20000, help="points to embed")
    ap.add_argument("--jitter", type=float, default=0.5,
                    help="jitter length as a fraction of the median 5th-NN distance")
    ap.add_argument("--seed", type=int, default=0, help="resampling / subsample seed")
    ap.add_argument("--lrs", default="50",
                    help="learning rates for chapter 4's t-SNE, in scikit-learn's units, comma "
                         "list (the seed's 50; 'auto' is openTSNE's rule)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="fits per method, interleaved; the fastest counts")
    ap.add_argument("--trust-n", type=int, default=2000, help="subsample for trustworthiness")
    ap.add_argument("--skip-sklearn", action="store_true", help="openTSNE only (quick checks)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()

    from sklearn.manifold import trustworthiness
    from threadpoolctl import threadpool_limits

    threadpool_limits(N_JOBS)  # BLAS and OpenMP: the same cores for both sides
    t_start = time.perf_counter()
    codes, note = load_codes(args.features, args.n, args.jitter, args.seed)
    x = pca50(codes)
    print(f"input: {note}")
    print(f"both methods get the same {x.shape[0]} x {x.shape[1]} PCA-{N_PCA} matrix "
          f"(sklearn PCA, random_state 0); perplexity {PERPLEXITY}, n_jobs {N_JOBS} and "
          f"{N_JOBS} OpenMP/BLAS threads each, {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}; {args.repeats} interleaved fits per "
          f"method, the fastest counts", flush=True)

    trust_idx = np.sort(np.random.default_rng(0).choice(len(x), min(args.trust_n, len(x)),
                                                        replace=False))
    lrs = [lr if lr == "auto" else float(lr) for lr in args.lrs.split(",") if lr]
    jobs = [(f"chapter 4's t-SNE (helpers.codes.reduce.tsne) learning_rate={lr} (scikit-learn units)",
             lambda lr=lr: run_opentsne(x, lr)) for lr in lrs]
    if not args.skip_sklearn:
        jobs.append((f"scikit-learn Barnes-Hut learning_rate={SEED_LR}, max_iter 1000",
                     lambda: run_sklearn(x)))
    fits: dict[str, list[dict]] = {label: [] for label, _ in jobs}
    for rep in range(args.repeats):
        for label, job in jobs:
            load0 = os.getloadavg()[0]
            print(f"[{rep + 1}/{args.repeats}] {label} (load average {load0:.2f}) ...", flush=True)
            r = job()
            r["load"] = (load0 + os.getloadavg()[0]) / 2
            fits[label].append(r)
            print(f"  {r['fit_s']:.1f} s", flush=True)

    shared = SharedKL(x)
    results = []
    for label, _ in jobs:
        runs = fits[label]
        for r in runs:
            r["kl_shared"] = shared(r["y"])
        best = dict(min(runs, key=lambda r: r["fit_s"]))
        best["fits_s"] = [r["fit_s"] for r in runs]
        best["kl_shared_all"] = [r["kl_shared"] for r in runs]
        best["kl_worst"], best["kl_best"] = max(best["kl_shared_all"]), min(best["kl_shared_all"])
        best["load_max"] = max(r["load"] for r in runs)
        best["trust10"] = float(trustworthiness(x[trust_idx], best["y"][trust_idx], n_neighbors=10))
        results.append(best)
    sk = next((r for r in results if r["method"] == "scikit-learn"), None)

    print(f"\n== t-SNE of {len(x)} points (PCA-{N_PCA}), perplexity {PERPLEXITY}, "
          f"best of {args.repeats} fits each")
    head = (f"{'method':<13}{'lr':>6}{'iters':>6}{'best s':>9}{'KL own':>8}"
            f"{'KL shared':>10}{'trust@10':>9}{'sklearn/this':>13}{'max load':>9}")
    print(head)
    print("-" * len(head))
    for r in results:
        ratio = f"{sk['fit_s'] / r['fit_s']:.2f}x" if sk else "-"
        print(f"{r['method']:<13}{r['lr']!s:>6}{r['iters']:>6}{r['fit_s']:>9.1f}"
              f"{r['kl_own']:>8.3f}{r['kl_worst']:>10.3f}{r['trust10']:>9.4f}{ratio:>13}"
              f"{r['load_max']:>9.1f}")
    print(f"\nbest s: the fastest of the fits (all: see below), affinities included on both sides. "
          f"KL own: each library's value at its last iteration (openTSNE: FFT-interpolated Q "
          f"normaliser over its kNN P; scikit-learn: Barnes-Hut, theta 0.5, over its exact-kNN P). "
          f"KL shared: exact KL of each final map under one P (perplexity {PERPLEXITY}, exact "
          f"neighbours; built in {shared.seconds:.1f} s), the worst of the fits. trust@10 on "
          f"{len(trust_idx)} fixed random points against the PCA-{N_PCA} input. max load: the "
          f"highest 1-min load average around a fit (before/after mean; {os.cpu_count()} CPUs).")
    for r in results:
        extra = (f"; scikit-learn's own KL after early exaggeration {r['kl_own_after_ee']:.3f}, "
                 f"affinities {r['affinity_s']:.1f} s" if r["method"] == "scikit-learn" else "")
        print(f"  {r['method']} lr={r['lr']}: fits {', '.join(f'{t:.1f}' for t in r['fits_s'])} s; "
              f"KL shared {', '.join(f'{k:.4f}' for k in r['kl_shared_all'])}; neighbours: "
              f"{r['knn']}{extra}")
    elapsed = time.perf_counter() - t_start
    print(f"total elapsed {elapsed:.0f} s")

    parts = []
    for r in results:
        if r["method"] != "openTSNE":
            continue
        part = f"chapter 4 lr={r['lr']} {r['fit_s']:.1f} s KL {r['kl_worst']:.3f} trust {r['trust10']:.4f}"
        if sk:
            verdict = "at equal or lower KL" if r["kl_worst"] <= sk["kl_best"] else "at HIGHER KL"
            part += f" ({sk['fit_s'] / r['fit_s']:.2f}x faster {verdict})"
        parts.append(part)
    if sk:
        parts.append(f"sklearn BH lr=50 {sk['fit_s']:.1f} s KL {sk['kl_best']:.3f} "
                     f"trust {sk['trust10']:.4f}")
    print(f"SUMMARY bench_tsne n={len(x)}, best of {args.repeats}: " + "; ".join(parts))

    if args.json:
        out = {"n": len(x), "input": note, "perplexity": PERPLEXITY, "n_jobs": N_JOBS,
               "repeats": args.repeats, "trust_n": len(trust_idx), "shared_p_s": shared.seconds,
               "elapsed_s": elapsed,
               "results": [{k: v for k, v in r.items() if k != "y"} for r in results]}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
