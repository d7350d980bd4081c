"""Learning per CPU-minute: what chapter 2's network has learned after a given training budget.

The question behind the demo's recipe (issue 20): on 2 CPU cores, which way of spending a few
minutes of training gives codes that separate morphology best on galaxies the network never saw?
For each *recipe* (network, image size, galaxies, epochs, batch size, learning rate,
augmentation, progressive resizing, bf16), this script trains chapter 2's network as the chapter does
(:func:`helpers.net.training.make_dataloaders`, :func:`~helpers.net.training.build_learner`,
:func:`~helpers.net.training.train`), then scores it as chapters 3 and 6 do:

- the codes (average-pooled body output) of every galaxy;
- a linear probe (:func:`helpers.codes.compare.probe_fit_predict`) fitted on the network's own
  training galaxies' codes and vote labels, scored on a fixed set of *evaluation* galaxies that
  no recipe ever trains on, with its 95% interval;
- the same probe on the raw pixels (:func:`helpers.codes.compare.pixel_codes`, 64 px as chapter
  6) and on the same network with random weights, fitted and scored on the same galaxies; the
  paired differences (codes minus each baseline) with their intervals;
- the RMSE of the 37 predicted vote fractions on the evaluation galaxies, beside predicting the
  training mean.

Timing: the training's wall time and its CPU time (``time.process_time``: both cores' seconds,
so a busy machine inflates wall time more than CPU time), counting everything chapter 2 pays
for a network (decoding into the image cache excepted: shared by every recipe), the validation
pass of each epoch included. Evaluation is not timed.

The mock (``--mock-n`` galaxies, seed ``--mock-seed``) is generated once into ``.cache/``. The
galaxies are put in a seeded order: the last ``--n-eval`` are the evaluation set; a recipe
with ``n`` galaxies trains on the first ``n`` (80% train, 20% hold-out, as chapter 2).

    .venv/bin/python benchmarks/bench_learning.py --recipes demo resnet34-e8 --out OUT.csv
    .venv/bin/python benchmarks/bench_learning.py --list       # the recipes and what they change
    .venv/bin/python benchmarks/bench_learning.py --report OUT.csv   # the curve as a Markdown table

Each recipe prints one line and is appended to ``--out`` (CSV), so a long sweep can be split
over several invocations. bf16 recipes need a CPU with bf16 units (AMX, AVX-512 BF16); the
script refuses them under ``ONEDNN_MAX_CPU_ISA=AVX2``, which turns bf16 into slow emulation. To see what the kernels buy, run a recipe again under
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`` (the kernels column says which ran).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np

from helpers import paths, scores
from helpers.codes import compare
from helpers.data import labels as labelling
from helpers.data.dataset import load_dataset
from helpers.data.imagecache import load_image_array
from helpers.data.schema import COLUMNS
from helpers.data.synth import write_mock

BASE = {"size": 64, "n": 2000, "epochs": 16, "bs": 64, "lr": 2e-3, "augment": "nuisances",
        "arch": "resnet18", "progressive": 0, "bf16": False, "wd": 0.01, "ps": 0.5, "seed": 42,
        "probe_fit": 0}
# name: what the recipe changes from BASE (chapter 2's demo recipe: one ResNet18, 16 epochs of
# 1,600 training galaxies at 64 px, batch 64, one-cycle peak lr 2e-3, randomised nuisances)
RECIPES: dict[str, dict] = {
    "demo": {},
    "demo-seed43": {"seed": 43},
    # the training budget: epochs over the same 1,600 galaxies, or more galaxies
    **{f"resnet18-e{e}": {"epochs": e} for e in (4, 8, 12, 24)},
    **{f"resnet34-e{e}": {"arch": "resnet34", "epochs": e} for e in (4, 8, 16)},
    "resnet18-n4000-e4": {"n": 4000, "epochs": 4},  # the passes of e8, on twice the galaxies
    "resnet18-n4000-e8": {"n": 4000, "epochs": 8},  # the passes of e16, on twice the galaxies
    # the knobs, each at 8 epochs (about a minute)
    "e8-lr5e-3": {"epochs": 8, "lr": 5e-3},
    "e8-lr1e-3": {"epochs": 8, "lr": 1e-3},
    "e8-bs32": {"epochs": 8, "bs": 32},
    "e8-px48": {"epochs": 8, "size": 48},
    "e8-px32": {"epochs": 8, "size": 32},
    "e8-progressive": {"epochs": 4, "progressive": 4},  # 4 epochs at 32 px, then 4 at 64 px
    "e8-rotations": {"epochs": 8, "augment": "rotations"},
    "e8-no-dropout": {"epochs": 8, "ps": 0.0},
    "e8-probe-unseen": {"epochs": 8, "probe_fit": 3000},  # the probe fitted on 3,000 unseen galaxies
    "bf16": {"bf16": True},  # needs the CPU's own kernels (see the module docstring)
}


def ensure_mock(n: int, seed: int) -> Path:
    folder = paths.ROOT / ".cache" / "bench-learning" / f"mock-n{n}-s{seed}"
    if not (folder / "training_solutions_rev1.csv").exists():
        print(f"writing a mock Galaxy Zoo of {n} galaxies (seed {seed}) to {paths.relative(folder)}",
              flush=True)
        write_mock(folder, n=n, seed=seed, overwrite=True, progress=True)
    return folder


class Data:
    """The galaxies in a seeded order, their vote labels, images by size, and the fixed sets."""

    def __init__(self, folder: Path, n_eval: int, seed: int = 42) -> None:
        frame, _ = load_dataset(folder)
        order = np.random.default_rng(seed).permutation(len(frame))
        self.frame = frame.iloc[order].reset_index(drop=True)
        self.targets = self.frame[COLUMNS].to_numpy(np.float32)
        self.labels = labelling.assign_labels(self.frame[COLUMNS])["label"].to_numpy()
        self.n_eval = n_eval
        self.eval_rows = np.arange(len(frame) - n_eval, len(frame))
        self._images: dict[int, np.ndarray] = {}

    def images(self, size: int) -> np.ndarray:
        if size not in self._images:
            self._images[size] = load_image_array(self.frame["image_path"], size=size, crop=212)
        return self._images[size]

    def check(self, n: int) -> None:
        if n > len(self.frame) - self.n_eval:
            raise SystemExit(f"a recipe trains on {n} galaxies but only {len(self.frame) - self.n_eval} "
                             "lie outside the evaluation set: raise --mock-n")


def train_recipe(data: Data, recipe: dict, seed: int):
    """Train as chapter 2 does; return (model, training rows, wall s, CPU s, per-epoch history)."""
    import torch

    from helpers.net import training

    n = recipe["n"]
    rows = np.arange(n)
    stages = [(32, recipe["progressive"])] if recipe["progressive"] else []
    stages.append((recipe["size"], recipe["epochs"]))
    for size, _ in stages:
        data.images(size)  # the shared image cache: not part of the timed training
    wall0, cpu0 = time.perf_counter(), time.process_time()
    learn, histories = None, []
    for size, epochs in stages:
        dls = training.make_dataloaders(data.images(size)[rows], data.targets[rows], valid_pct=0.2,
                                        seed=seed, bs=recipe["bs"], augment=recipe["augment"])
        if learn is None:
            learn = training.build_learner(dls, arch=recipe["arch"], head="tree", seed=seed,
                                           lr=recipe["lr"], wd=recipe["wd"], ps=recipe["ps"],
                                           channels_last=True)
            train_rows = rows[dls.split.train]
        else:  # progressive resizing: the same network, larger images
            learn.dls = dls
            learn.model.gc_config.update({"image_size": size, "mean": dls.gc_info["mean"],
                                          "std": dls.gc_info["std"]})
        if recipe["bf16"]:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                histories.append(training.train(learn, epochs=epochs, lr=recipe["lr"]))
        else:
            histories.append(training.train(learn, epochs=epochs, lr=recipe["lr"]))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return learn.model, train_rows, wall, cpu, histories


def score(data: Data, model, train_rows: np.ndarray, size: int, seed: int, probe_fit: int = 0) -> dict:
    """The probe on the codes and on both baselines, and the RMSE, on the evaluation galaxies.

    The probes are fitted on the network's training galaxies, or (``probe_fit``) on that many
    galaxies it never saw (those after its ``n``, before the evaluation set)."""
    from helpers.net import inference, network

    images = data.images(size)
    fit, test = train_rows, data.eval_rows
    if probe_fit:
        start = int(train_rows.max()) + 1  # past every galaxy the recipe used (its hold-out too)
        fit = np.arange(start, start + probe_fit)
        if fit[-1] >= test[0]:
            raise SystemExit(f"probe_fit={probe_fit}: not enough galaxies between training and evaluation")
    used = np.concatenate([fit, test])
    codes, predicted = inference.extract_features(model, images[used], model.gc_config,
                                                  with_predictions=True)
    untrained = network.build_model(model.gc_config["arch"], "tree", seed=seed)
    random_codes = inference.extract_features(untrained, images[used], model.gc_config)
    pixel_images = data.images(64)[used]
    fit_mask = np.zeros(len(used), bool)
    fit_mask[: len(fit)] = True
    pixels = compare.pixel_codes(pixel_images, seed=seed, fit_rows=fit_mask)
    y_fit, y_test = data.labels[fit], data.labels[test]
    inputs = {"codes": codes, "untrained": random_codes, "pixels": pixels}
    pred = {}
    for name, x in inputs.items():  # as chapter 6: the better of a linear probe and a k-NN vote
        linear = compare.probe_fit_predict(x[: len(fit)], y_fit, x[len(fit):], seed=seed)
        knn = compare.knn_fit_predict(x[: len(fit)], y_fit, x[len(fit):], k=10)
        pred[name] = max((linear, knn), key=lambda p: scores.accuracy_of(p, y_test))
        out_linear = scores.accuracy_of(linear, y_test)
        pred[f"{name}_linear"] = out_linear
    out = {"linear": {n: pred.pop(f"{n}_linear") for n in list(inputs)}}
    for name, p in pred.items():
        out[f"probe_{name}"] = scores.accuracy(p, y_test, seed=seed)
    for baseline in ("pixels", "untrained"):
        out[f"codes_minus_{baseline}"] = scores.accuracy_difference(
            pred["codes"], pred[baseline], y_test, seed=seed)
    out["rmse"] = scores.rmse(predicted[len(fit):], data.targets[test])
    out["rmse_mean"] = scores.mean_baseline_rmse(data.targets[fit], data.targets[test])
    return out


def report(path: Path) -> None:
    """The rows of a results CSV as a Markdown table, by training CPU-minutes."""
    import pandas as pd

    t = pd.read_csv(path).sort_values(["arch", "cpu_s"])
    print("| recipe | network | galaxies x epochs | train wall / CPU-min | RMSE (mean) | probe on codes "
          "[95%] | raw pixels | untrained | codes - pixels [95%] | kernels |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in t.itertuples():
        size = f"{r.size} px" + (f", {r.progressive} ep at 32 px first" if r.progressive else "")
        print(f"| {r.recipe} | {r.arch}, {size}, bs {r.bs}, lr {r.lr:g}, {r.augment} | "
              f"{int(r.n * 0.8)} x {r.epochs} | {r.wall_s:.0f} s / {r.cpu_s / 60:.2f} | "
              f"{r.eval_rmse:.4f} ({r.eval_rmse_mean:.4f}) | {r.probe_codes:.3f} [{r.probe_codes_low:.3f}, "
              f"{r.probe_codes_high:.3f}] | {r.probe_pixels:.3f} | {r.probe_untrained:.3f} | "
              f"{r.codes_minus_pixels:+.3f} [{r.cmp_low:+.3f}, {r.cmp_high:+.3f}] | {r.kernels} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipes", nargs="+", default=["demo"], help=f"any of {', '.join(RECIPES)}")
    ap.add_argument("--list", action="store_true", help="print the recipes and exit")
    ap.add_argument("--mock-n", type=int, default=8000)
    ap.add_argument("--mock-seed", type=int, default=42)
    ap.add_argument("--n-eval", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="append one CSV row per recipe")
    ap.add_argument("--report", type=Path, default=None, help="print the rows of this CSV as a table")
    args = ap.parse_args()
    if args.report:
        return report(args.report)
    if args.list:
        for name, change in RECIPES.items():
            print(f"{name:18s} {change or '(chapter 2 of the demo: ' + str(BASE) + ')'}")
        return
    unknown = [r for r in args.recipes if r not in RECIPES]
    if unknown:
        raise SystemExit(f"unknown recipe(s) {unknown}; --list shows them")
    import torch

    from helpers import study

    study.setup(args.seed, threads=args.threads)
    kernels = study.environment()["kernels"]
    if any(RECIPES[r].get("bf16") for r in args.recipes) and os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX2":
        raise SystemExit("bf16 needs the CPU's own kernels: run with ATEN_CPU_CAPABILITY=default "
                         "ONEDNN_MAX_CPU_ISA=ALL (bf16 on the AVX2 pin is emulated)")
    data = Data(ensure_mock(args.mock_n, args.mock_seed), args.n_eval, seed=args.seed)
    print(f"== learning per CPU-minute: {len(data.frame)} mock galaxies, {args.n_eval} for "
          f"evaluation; {torch.get_num_threads()} threads; kernels {kernels}", flush=True)
    fields = ["recipe", "size", "n", "epochs", "bs", "lr", "augment", "arch", "progressive", "bf16",
              "wall_s", "cpu_s", "holdout_rmse_last_epoch", "eval_rmse", "eval_rmse_mean",
              "probe_codes", "probe_codes_low", "probe_codes_high", "probe_pixels", "probe_untrained",
              "codes_minus_pixels", "cmp_low", "cmp_high", "codes_minus_untrained", "cmu_low",
              "cmu_high", "linear_codes", "linear_pixels", "linear_untrained", "wd", "ps", "seed", "probe_fit",
              "n_eval", "threads", "kernels", "cpu", "date"]
    for name in args.recipes:
        recipe = {**BASE, **RECIPES[name]}
        data.check(recipe["n"])
        model, train_rows, wall, cpu, histories = train_recipe(data, recipe, recipe["seed"])
        s = score(data, model, train_rows, recipe["size"], args.seed, recipe["probe_fit"])
        row = {"recipe": name, **{k: recipe[k] for k in BASE if k not in ("wd", "ps", "seed", "probe_fit")},
               "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
               "holdout_rmse_last_epoch": round(float(histories[-1]["valid_rmse"].iloc[-1]), 4),
               "eval_rmse": round(s["rmse"], 4), "eval_rmse_mean": round(s["rmse_mean"], 4),
               "probe_codes": round(s["probe_codes"].value, 4), "probe_codes_low": round(s["probe_codes"].low, 4),
               "probe_codes_high": round(s["probe_codes"].high, 4),
               "probe_pixels": round(s["probe_pixels"].value, 4),
               "probe_untrained": round(s["probe_untrained"].value, 4),
               "codes_minus_pixels": round(s["codes_minus_pixels"].value, 4),
               "cmp_low": round(s["codes_minus_pixels"].low, 4), "cmp_high": round(s["codes_minus_pixels"].high, 4),
               "codes_minus_untrained": round(s["codes_minus_untrained"].value, 4),
               "cmu_low": round(s["codes_minus_untrained"].low, 4),
               "cmu_high": round(s["codes_minus_untrained"].high, 4),
               **{f"linear_{k}": round(v, 4) for k, v in s["linear"].items()},
               "wd": recipe["wd"], "ps": recipe["ps"], "seed": recipe["seed"], "probe_fit": recipe["probe_fit"],
               "n_eval": args.n_eval, "threads": torch.get_num_threads(),
               "kernels": f"{torch.backends.cpu.get_cpu_capability()}/{os.environ.get('ONEDNN_MAX_CPU_ISA', 'ALL')}",
               "cpu": study.environment()["cpu"], "date": time.strftime("%Y-%m-%d")}
        print(f"{name:16s} train {wall:6.1f} s wall, {cpu / 60:5.2f} CPU-min | eval RMSE {s['rmse']:.4f} "
              f"(mean {s['rmse_mean']:.4f}) | probe codes {s['probe_codes']} pixels "
              f"{s['probe_pixels'].value:.3f} untrained {s['probe_untrained'].value:.3f} | codes-pixels "
              f"{s['codes_minus_pixels']} codes-untrained {s['codes_minus_untrained']}", flush=True)
        if args.out:
            new = not args.out.exists()
            with open(args.out, "a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                if new:
                    writer.writeheader()
                writer.writerow(row)


if __name__ == "__main__":
    sys.exit(main())
