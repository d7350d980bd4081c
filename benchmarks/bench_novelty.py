"""Unusual galaxies and "more like these" (helpers.codes.novelty): which method, and how fast.

``--compare`` scores the methods on the demo run against the mock's truth, out of sample:

* novelty (the ``odd`` command): a score per galaxy computed on the whole table of 3,000 codes,
  as the command computes it; its AUC for odd galaxies against the rest is taken on the 1,400
  galaxies the network never trained on (``split.parquet``), with a 95% bootstrap interval over
  those galaxies (``helpers.scores.bootstrap``), beside the same score on raw pixels
  (``helpers.codes.compare.pixel_codes``: PCA-50 of the 64 px cut-outs, fitted on the training
  galaxies) and on the codes of the same network with random weights. *Odd*, as issue 21
  defines it: mergers, rings, lenses or arcs, disturbed and irregular galaxies, stars and
  artefacts (``kind`` other than galaxy) and satellite trails (``trail``). Not odd: "other"
  (the mock draws nothing for it: only its votes change, its image is an ordinary galaxy) and
  dust lanes (a common structure of edge-on disks, not an anomaly); the AUC without those two
  in the reference group is printed too. The settings (k, components) are picked on the 1,600
  *training* galaxies (the selection table), and only then read on the unseen ones.
* more like these (the ``like`` command): ``--draws`` random sets of 10, 25 and 50 examples of
  one feature (rings, mergers, lenses or arcs, stars or artefacts), drawn from the galaxies the
  network trained on; the table handed to ``resemblance`` is the examples plus the 1,400 unseen
  galaxies, and the score is the share of the feature among the 100 unseen galaxies ranked
  first (precision@100), against chance (the feature's share of the unseen galaxies) and the
  ceiling (its unseen galaxies / 100). Mean over the draws and the middle 95% of the draws;
  paired differences (the same examples) with a bootstrap interval over the draws (the same
  1,400 galaxies in every draw: which galaxies happen to be unseen is not in it). The
  settings (C, k) are picked the same way on the training galaxies alone.

``--timing`` times ``python -m helpers odd`` (the CLI, parquet in, CSV out) on ``--n`` x 512
codes (default 100,000: the demo codes grown with jitter as bench_tsne.py grows them), one
process, ``--threads`` threads (BLAS, numba, joblib): the default method, and the k-NN method on
pynndescent's approximate index against the same k-th-neighbour distances by the exact engine
(brute force, timed on ``--exact-queries`` of the galaxies: its cost is linear in the queries,
blocks of 1,024, so the time for all is scaled from them; its answers on those rows check the
approximate ones). Also ``like`` (logistic) at that size. ``--crossover`` times both engines of
the k-NN method at a few sizes (where ``novelty.ANN_ABOVE`` comes from).

    NUMBA_CACHE_DIR=.cache/numba .venv/bin/python benchmarks/bench_novelty.py --compare
    NUMBA_CACHE_DIR=.cache/numba .venv/bin/python benchmarks/bench_novelty.py --timing [--n 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.codes import novelty
from helpers.scores import bootstrap, difference

ODD = ("merger", "ring", "lens or arc", "disturbed", "irregular")
FEATURES = {"ring": lambda t: t["ring"].to_numpy(bool),
            "merger": lambda t: (t["odd_feature"] == "merger").to_numpy(),
            "lens or arc": lambda t: (t["odd_feature"] == "lens or arc").to_numpy(),
            "star or artefact": lambda t: (t["kind"] != "galaxy").to_numpy()}
N_EXAMPLES = (10, 25, 50)
TOP = 100


# --- the mock and its truth ----------------------------------------------------------------------

def load_mock(run: Path, data: Path) -> tuple[pd.DataFrame, np.ndarray, dict[str, np.ndarray]]:
    """The truth (one row per galaxy, in the codes' order), the set of each galaxy and the three
    representations: codes, raw pixels, untrained codes."""
    from helpers.codes.compare import pixel_codes
    from helpers.data.dataset import load_dataset
    from helpers.data.imagecache import load_image_array

    codes = pd.read_parquet(run / "features.parquet")
    untrained = pd.read_parquet(run / "features_untrained.parquet")
    ids = codes["GalaxyID"].to_numpy()
    if not np.array_equal(untrained["GalaxyID"].to_numpy(), ids):
        raise SystemExit("features.parquet and features_untrained.parquet list other galaxies")
    truth = pd.read_csv(data / "ground_truth.csv").set_index("GalaxyID").loc[ids].reset_index()
    sets = pd.read_parquet(run / "split.parquet").set_index("GalaxyID")["set"].reindex(ids) \
        .fillna("unused").to_numpy()
    frame, _ = load_dataset(data)
    paths = frame.set_index("GalaxyID").loc[ids, "image_path"]
    images = np.asarray(load_image_array(paths, size=64, crop=212))
    cols = [c for c in codes.columns if c.startswith("f")]
    reps = {"codes": codes[cols].to_numpy(np.float32),
            "raw pixels": pixel_codes(images, fit_rows=sets == "train"),
            "untrained codes": untrained[cols].to_numpy(np.float32)}
    return truth, sets, reps


def category(truth: pd.DataFrame) -> np.ndarray:
    """Each galaxy's kind of oddity: star or artefact, trail, the odd feature, or none."""
    feature = truth["odd_feature"].fillna("none").to_numpy(dtype=object)
    return np.where(truth["kind"] != "galaxy", "star or artefact",
                    np.where(truth["trail"].to_numpy(bool), "trail", feature))


def is_odd(cat: np.ndarray) -> np.ndarray:
    return np.isin(cat, [*ODD, "star or artefact", "trail"])


# --- novelty ------------------------------------------------------------------------------------

def auc(scores, y) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, scores))


def novelty_variants(x: np.ndarray, threads: int) -> dict[str, np.ndarray]:
    """The candidate scores of the selection table: every method over its setting."""
    from sklearn.ensemble import IsolationForest

    rows, dist = novelty.neighbour_distances(x, 100, engine="exact")
    out = {}
    for k in (10, 20, 50, 100):
        out[f"knn k={k}"] = dist[:, k - 1]
    for k in (5, 10, 20, 50):
        out[f"lof k={k}"] = novelty.local_outlier_factor(rows[:, :k], dist[:, :k])
    for m in (10, 20, 50):
        w = novelty.whiten(x, m)
        out[f"iforest PCA-{m}"] = -IsolationForest(n_estimators=novelty.IFOREST_TREES, random_state=0,
                                                   n_jobs=threads).fit(w).score_samples(w)
    out["iforest raw"] = -IsolationForest(n_estimators=novelty.IFOREST_TREES, random_state=0,
                                          n_jobs=threads).fit(x).score_samples(x)
    return out


def compare_novelty(truth, sets, reps, args) -> None:
    cat = category(truth)
    odd = is_odd(cat)
    unseen, train = sets != "train", sets == "train"
    print(f"\n== novelty: odd galaxies against the rest, AUC ({odd.sum()} of {len(odd)} odd; "
          f"unseen {unseen.sum()} galaxies, {odd[unseen].sum()} odd = {odd[unseen].mean():.1%})")
    print("   odd by kind (unseen): " + ", ".join(
        f"{k} {int(((cat == k) & unseen).sum())}" for k in (*ODD, "star or artefact", "trail")))

    print("\n-- selection: each setting's AUC on the 1,600 training galaxies (in sample) / on the "
          "1,400 unseen; codes")
    variants = novelty_variants(reps["codes"], args.threads)
    for name, s in variants.items():
        print(f"   {name:16s} train {auc(s[train], odd[train]):.3f}   unseen {auc(s[unseen], odd[unseen]):.3f}")

    print(f"\n-- the three methods at their chosen settings (knn k={novelty.DEFAULT_K['knn']}, lof "
          f"k={novelty.DEFAULT_K['lof']}, iforest PCA-{novelty.IFOREST_COMPONENTS}); AUC on the "
          f"unseen galaxies [95% bootstrap interval, {args.boot} resamples]")
    header = f"   {'method':8s}" + "".join(f" | {r:^22s}" for r in reps)
    print(header)
    scores = {}
    for method in novelty.NOVELTY_METHODS:
        cells = []
        for rep, x in reps.items():
            s = novelty.novelty_scores(x, method, n_jobs=args.threads)
            scores[method, rep] = s
            cells.append(str(bootstrap(auc, s[unseen], odd[unseen], n_boot=args.boot, seed=0)))
        print(f"   {method:8s}" + "".join(f" | {c:^22s}" for c in cells))
    print("   chance   " + " | ".join(f"{0.5:^22.3f}" for _ in reps))

    y = odd[unseen]

    def paired(a, b):
        return difference(lambda p, q, t: auc(p, t), lambda p, q, t: auc(q, t), a[unseen],
                          b[unseen], y, n_boot=args.boot, seed=0)

    default = novelty.NOVELTY_METHODS[0]
    print("\n-- paired differences of AUC (same unseen galaxies) [95% interval]")
    for other in novelty.NOVELTY_METHODS[1:]:
        print(f"   codes, {default} - {other}: {paired(scores[default, 'codes'], scores[other, 'codes'])}")
    for method in novelty.NOVELTY_METHODS:
        for rep in ("raw pixels", "untrained codes"):
            print(f"   {method}, codes - {rep}: {paired(scores[method, 'codes'], scores[method, rep])}")

    print(f"\n-- per kind of oddity: AUC of that kind against the not-odd galaxies (unseen; "
          f"{default})")
    normal = ~odd & unseen
    print(f"   {'kind':18s} {'n':>4s}" + "".join(f" {r:>16s}" for r in reps))
    for kind in (*ODD, "star or artefact", "trail", "other", "dust lane"):
        m = (cat == kind) & unseen
        yk = np.r_[np.ones(m.sum()), np.zeros(normal.sum())]
        cells = [f"{auc(np.r_[scores[default, r][m], scores[default, r][normal]], yk):16.3f}"
                 for r in reps]
        print(f"   {kind:18s} {m.sum():4d}" + "".join(cells))
    clear = unseen & ~np.isin(cat, ["other", "dust lane"])
    print("\n-- with 'other' and 'dust lane' left out of the reference group (unseen): " + ", ".join(
        f"{method} on codes {auc(scores[method, 'codes'][clear], odd[clear]):.3f}"
        for method in novelty.NOVELTY_METHODS))


# --- more like these ----------------------------------------------------------------------------

def precision_at(scores: np.ndarray, truth: np.ndarray, top: int = TOP) -> float:
    order = np.lexsort((np.arange(len(scores)), -scores))[:top]
    return float(truth[order].mean())


def draws_of(pool: np.ndarray, n: int, draws: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.choice(pool, n, replace=False) for _ in range(draws)]


def summary(values: np.ndarray) -> str:
    lo, hi = np.quantile(values, [0.025, 0.975])
    return f"{values.mean():.3f} [{lo:.3f}, {hi:.3f}]"


def mean_interval(values: np.ndarray, boot: int) -> str:
    return str(bootstrap(lambda v: float(np.mean(v)), np.asarray(values), n_boot=boot, seed=0))


def select_resemblance(truth, sets, reps, args) -> None:
    """The settings, picked on the training galaxies alone: examples and candidates both from them."""
    train_rows = np.flatnonzero(sets == "train")
    x = reps["codes"][train_rows]
    settings = {**{f"logistic C={c}": ("logistic", {"C": c}) for c in (0.001, 0.01, 0.1, 1.0)},
                **{f"nearest k={k}": ("nearest", {"k": k}) for k in (1, 3, 5, 10)},
                "centroid": ("centroid", {})}
    print(f"\n-- selection: precision@{TOP} on the 1,600 training galaxies alone (examples and "
          f"candidates both from them), codes, mean of {args.draws} draws")
    print(f"   {'setting':18s}" + "".join(f" {f'{f} n={n}':>13s}" for f in ("ring", "merger")
                                          for n in (10, 25)))
    cells = {name: [] for name in settings}
    for feature in ("ring", "merger"):
        has = FEATURES[feature](truth)[train_rows]
        for n in (10, 25):
            for ex in draws_of(np.flatnonzero(has), n, args.draws, seed=1):
                left = np.setdiff1d(np.arange(len(x)), ex)
                for name, (method, kw) in settings.items():
                    s = novelty.resemblance(x, ex, method, **kw)
                    cells[name].append((feature, n, precision_at(s[left], has[left])))
    for name, values in cells.items():
        frame = pd.DataFrame(values, columns=["f", "n", "p"]).groupby(["f", "n"], sort=False)["p"].mean()
        print(f"   {name:18s}" + "".join(f" {v:13.3f}" for v in frame.to_numpy()))


def compare_resemblance(truth, sets, reps, args) -> None:
    unseen = np.flatnonzero(sets != "train")
    print(f"\n== more like these: precision@{TOP} among the {len(unseen)} unseen galaxies, examples "
          f"drawn from the training galaxies ({args.draws} draws per line; mean [middle 95% of the "
          "draws])")
    select_resemblance(truth, sets, reps, args)
    results = []  # (feature, n, draw, rep, method, precision)
    print(f"\n   {'feature':17s} {'n':>3s} {'representation':16s}"
          + "".join(f" {m:>21s}" for m in novelty.RESEMBLANCE_METHODS) + f" {'chance':>7s} {'ceiling':>7s}")
    for feature, has_of in FEATURES.items():
        has = has_of(truth)
        pool = np.flatnonzero(has & (sets == "train"))
        target = has[unseen]
        for n in N_EXAMPLES:
            if n > len(pool):
                print(f"   {feature:17s} {n:3d} n/a: only {len(pool)} of them trained the network")
                continue
            draws = draws_of(pool, n, args.draws, seed=n)
            for rep, x in reps.items():
                cells = []
                for method in novelty.RESEMBLANCE_METHODS:
                    values = []
                    for d, ex in enumerate(draws):
                        table = x[np.r_[ex, unseen]]
                        s = novelty.resemblance(table, np.arange(n), method)[n:]
                        values.append(precision_at(s, target))
                        results.append((feature, n, d, rep, method, values[-1]))
                    cells.append(summary(np.array(values)))
                print(f"   {feature:17s} {n:3d} {rep:16s}" + "".join(f" {c:>21s}" for c in cells)
                      + f" {target.mean():7.3f} {min(TOP, target.sum()) / TOP:7.3f}", flush=True)
    frame = pd.DataFrame(results, columns=["feature", "n", "draw", "rep", "method", "p"])
    wide = frame.pivot_table(index=["feature", "n", "draw"], columns=["rep", "method"], values="p")
    default = novelty.RESEMBLANCE_METHODS[0]
    print(f"\n-- paired differences of precision@{TOP}, over every line and draw above "
          f"[95% bootstrap interval over the {len(wide)} draws]")
    for other in novelty.RESEMBLANCE_METHODS[1:]:
        diff = wide["codes", default] - wide["codes", other]
        print(f"   codes, {default} - {other}: {mean_interval(diff.to_numpy(), args.boot)}")
    for rep in ("raw pixels", "untrained codes"):
        for method in novelty.RESEMBLANCE_METHODS:
            diff = wide["codes", method] - wide[rep, method]
            print(f"   {method}, codes - {rep}: {mean_interval(diff.to_numpy(), args.boot)}")
    for feature in FEATURES:
        sub = wide.loc[feature] if feature in wide.index.get_level_values(0) else None
        if sub is None:
            continue
        diffs = ", ".join(f"{rep} {mean_interval((sub['codes', default] - sub[rep, default]).to_numpy(), args.boot)}"
                          for rep in ("raw pixels", "untrained codes"))
        print(f"   {feature}: {default} on codes minus on {diffs}")


# --- timing ---------------------------------------------------------------------------------------

def write_codes(codes: np.ndarray, folder: Path) -> Path:
    frame = pd.DataFrame(codes, columns=[f"f{i:03d}" for i in range(codes.shape[1])])
    frame.insert(0, "GalaxyID", np.arange(1, len(codes) + 1, dtype=np.int64))
    path = folder / "features.parquet"
    frame.to_parquet(path, index=False)
    return path


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def timing(args) -> None:
    import contextlib
    import io

    import numba
    from bench_tsne import load_codes  # same folder: the shared way to grow the demo codes
    from threadpoolctl import threadpool_limits

    from helpers import cli
    from helpers.codes.neighbours import Index

    threadpool_limits(args.threads)
    numba.set_num_threads(args.threads)
    codes, note = load_codes(args.features, args.n, 0.5, 0)
    print(f"\n== timing: {note}; {len(codes)} x {codes.shape[1]}; {args.threads} threads, one "
          f"process ({os.cpu_count()} CPUs); load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        features = write_codes(codes, tmp)
        quiet = contextlib.redirect_stdout(io.StringIO())

        def odd(*extra):
            with quiet:
                rc = cli.main(["odd", str(features), "--out", str(tmp / "odd.csv"), "-n", "10",
                               "--threads", str(args.threads), *extra])
            assert rc == 0, rc
            return pd.read_csv(tmp / "odd.csv")

        t_default, table = timed(odd)
        print(f"   odd (default: {novelty.NOVELTY_METHODS[0]}), end to end (read, score, write "
              f"{len(table):,} rows): {t_default:.1f} s", flush=True)

        t0 = time.perf_counter()
        Index(codes[:2000], "ann", seed=0, n_jobs=args.threads)  # numba compiles (or loads its cache)
        t_jit = time.perf_counter() - t0
        t_ann, table = timed(lambda: odd("--method", "knn", "--engine", "ann"))
        print(f"   odd --method knn (approximate index above {novelty.ANN_ABOVE:,}): {t_ann:.1f} s "
              f"end to end (after {t_jit:.1f} s of numba compilation or cache loading, paid once)",
              flush=True)
        k = novelty.DEFAULT_K["knn"]
        rows = np.random.default_rng(2).choice(len(codes), args.exact_queries, replace=False)
        index = Index(codes, "exact")
        t_part, (_, exact_sims) = timed(lambda: index.query(codes[rows], k=k, exclude=rows))
        t_exact = t_part * len(codes) / len(rows)
        got = table.set_index("GalaxyID")["novelty"].reindex(rows + 1).to_numpy()
        want = 1.0 - exact_sims[:, -1].astype(np.float64)
        from scipy.stats import spearmanr

        rel = np.abs(got - want) / np.maximum(want, 1e-12)
        print(f"   exact engine, same k-th-neighbour distances: {t_part:.1f} s for "
              f"{len(rows):,} galaxies -> {t_exact:.0f} s for all {len(codes):,} (scaled; linear "
              f"in the queries; the search alone, where the approximate side's time includes "
              f"reading and writing): approximate {t_exact / t_ann:.1f}x faster, "
              f"{t_exact / (t_ann + t_jit):.1f}x counting numba's {t_jit:.0f} s")
        print(f"   approximate vs exact on those {len(rows):,} galaxies: k-th distance median "
              f"relative error {np.median(rel):.4f} (90th percentile {np.quantile(rel, 0.9):.4f}), "
              f"Spearman {spearmanr(got, want).statistic:.4f}; top 1% by exact distance found in "
              f"the approximate top 1%: {_top_overlap(got, want):.3f}", flush=True)
        examples = tmp / "examples.txt"
        examples.write_text("\n".join(str(g) for g in range(1, 26)) + "\n")
        with quiet:
            t_like, rc = timed(lambda: cli.main(["like", str(examples), str(features), "--out",
                                                 str(tmp / "like.csv"), "-n", "10"]))
        assert rc == 0
        print(f"   like (logistic, 25 examples), end to end: {t_like:.1f} s")
    print(f"   load average at the end {os.getloadavg()[0]:.2f}")
    print(f"SUMMARY bench_novelty n={len(codes)}, {args.threads} threads: odd default "
          f"({novelty.NOVELTY_METHODS[0]}) {t_default:.1f} s; odd --method knn (approximate) "
          f"{t_ann:.1f} s against {t_exact:.0f} s exact (scaled from {len(rows):,} galaxies): "
          f"{t_exact / t_ann:.1f}x ({t_exact / (t_ann + t_jit):.1f}x counting numba's {t_jit:.0f} s "
          f"in a new process); like {t_like:.1f} s")


def _top_overlap(got: np.ndarray, want: np.ndarray, share: float = 0.01) -> float:
    n = max(1, int(len(want) * share))
    return len(set(np.argsort(-want)[:n]) & set(np.argsort(-got)[:n])) / n


def crossover(args) -> None:
    import numba
    from bench_tsne import load_codes
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    numba.set_num_threads(args.threads)
    from helpers.codes.neighbours import Index

    t_jit, _ = timed(lambda: Index(np.random.default_rng(0).random((2000, 512)), "ann", n_jobs=args.threads))
    print(f"\n== engines of the k-NN method (k={novelty.DEFAULT_K['knn']}), {args.threads} threads; "
          f"numba's compilation or cache loading first, apart: {t_jit:.1f} s (paid once a process)")
    for n in args.sizes:
        codes, _ = load_codes(args.features, n, 0.5, 0)
        t_e, _ = timed(lambda c=codes: novelty.novelty_scores(c, "knn", engine="exact",
                                                              n_jobs=args.threads))
        t_a, _ = timed(lambda c=codes: novelty.novelty_scores(c, "knn", engine="ann",
                                                              n_jobs=args.threads))
        print(f"   n={n:>7,}: exact {t_e:6.1f} s, approximate {t_a:6.1f} s (index build included)",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compare", action="store_true", help="the methods on the mock's truth")
    ap.add_argument("--timing", action="store_true", help="odd on --n generated codes")
    ap.add_argument("--crossover", action="store_true", help="exact vs approximate k-NN by size")
    ap.add_argument("--run", type=Path, default=Path("data/processed/demo"))
    ap.add_argument("--data", type=Path, default=Path("data/synthetic/demo"))
    ap.add_argument("--features", type=Path, default=Path("data/processed/demo/features.parquet"))
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 40_000, 60_000])
    ap.add_argument("--exact-queries", type=int, default=10_240)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--draws", type=int, default=20, help="example draws per line (like)")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    args = ap.parse_args()
    if not (args.compare or args.timing or args.crossover):
        args.compare = args.timing = True
    if args.compare:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        truth, sets, reps = load_mock(args.run, args.data)
        compare_novelty(truth, sets, reps, args)
        compare_resemblance(truth, sets, reps, args)
    if args.crossover:
        crossover(args)
    if args.timing:
        timing(args)


if __name__ == "__main__":
    main()
