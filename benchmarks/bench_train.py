"""Benchmark of training throughput (helpers.net.training), in one process.

On the mock Galaxy Zoo (``--data-dir``, generated with ``--n`` galaxies and seed 42 when it is
missing) at ``--size`` px:

(1) fastai: :func:`helpers.net.training.build_learner` + ``fit`` over :func:`make_dataloaders`
    (in-memory ``uint8`` images, chapter 2's augmentation - ``--augment``, default
    ``nuisances``: flips, rotations and the randomised nuisances of :mod:`helpers.net.augment` -
    and normalisation as batch transforms, MSE loss, fastai Adam, channels-last as chapter 2
    unless ``--contiguous``), timed over ``--batches`` training batches after ``--warmup``;
(2) the machine's limit: forward + backward + ``torch.optim.AdamW`` step of the same net and
    batch size on float tensors already normalised in memory, in the same memory format (no
    data loading, no augmentation, no callbacks).

They alternate ``--rounds`` times and the best round of each counts (the machine may be
shared). Reported: images/s of each and the ratio (1)/(2) (goal >= 0.7), plus the projected
time of one epoch on 80 % of the data. The last line is a one-line summary::

    .venv/bin/python benchmarks/bench_train.py [--n 2000] [--size 64] [--arch resnet34]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from fastai.callback.core import Callback, CancelFitException

from helpers.data.dataset import load_dataset
from helpers.data.imagecache import load_image_array
from helpers.data.schema import COLUMNS
from helpers.net import network, training


class Timer(Callback):
    """Time ``n`` training batches after ``warmup`` ones, then stop the fit."""

    def __init__(self, warmup: int, n: int) -> None:
        self.warmup, self.n, self.count, self.t0, self.seconds = warmup, n, 0, None, None

    def before_batch(self) -> None:
        if self.count == self.warmup:
            self.t0 = time.perf_counter()

    def after_batch(self) -> None:
        self.count += 1
        if self.count == self.warmup + self.n:
            self.seconds = time.perf_counter() - self.t0
            raise CancelFitException()


def main() -> None:
    from bench_extract import ensure_data  # same folder

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--crop", type=int, default=212)
    ap.add_argument("--arch", default="resnet34", choices=list(network.ARCHS))
    ap.add_argument("--head", default="tree", choices=list(network.HEADS))
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("GC_THREADS", 0)) or None)
    ap.add_argument("--augment", default="nuisances", choices=["none", "rotations", "nuisances"])
    ap.add_argument("--contiguous", action="store_true", help="not channels-last (chapter 2 is)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    frame, _ = load_dataset(ensure_data(args.data_dir, args.n))
    images = load_image_array(frame["image_path"], size=args.size, crop=args.crop)
    targets = frame[COLUMNS].to_numpy(np.float32)
    dls = training.make_dataloaders(images, targets, bs=args.bs, seed=42, augment=args.augment)
    channels_last = not args.contiguous
    learn = training.build_learner(dls, arch=args.arch, head=args.head, seed=42, lr=1e-3,
                                   channels_last=channels_last)
    n_steps = args.warmup + args.batches
    if len(dls.train) < n_steps:
        raise SystemExit(f"only {len(dls.train)} training batches: lower --batches/--warmup")

    # the same net for the pure loop, on normalised float tensors already in memory
    net = network.build_model(args.arch, args.head, seed=42).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    rows = dls.split.train[: n_steps * args.bs]
    info = dls.gc_info
    mean = torch.tensor(info["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(info["std"]).view(1, 3, 1, 1)
    x_all = ((torch.from_numpy(np.asarray(images[rows])).permute(0, 3, 1, 2).float() / 255
              - mean) / std).contiguous()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x_all = x_all.contiguous(memory_format=torch.channels_last)
    y_all = torch.from_numpy(targets[rows])

    def fastai_round() -> float:
        timer = Timer(args.warmup, args.batches)
        learn.fit(1, 1e-3, cbs=timer)
        return timer.seconds

    def pure_round() -> float:
        t0 = None
        for i, (xb, yb) in enumerate(zip(x_all.split(args.bs), y_all.split(args.bs),
                                         strict=True)):
            if i == args.warmup:
                t0 = time.perf_counter()
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(net(xb), yb)
            loss.backward()
            opt.step()
        return time.perf_counter() - t0

    fa, pu = [], []
    for _ in range(args.rounds):
        fa.append(fastai_round())
        pu.append(pure_round())
    n_img = args.batches * args.bs
    fa_ips, pu_ips = n_img / min(fa), n_img / min(pu)
    epoch_s = info["n_train"] / fa_ips
    print(f"== training {args.arch} ({args.head} head) at {args.size} px, batch {args.bs}, "
          f"{args.batches} timed batches after {args.warmup}, {torch.get_num_threads()} threads, "
          f"augment={args.augment}, {'contiguous' if args.contiguous else 'channels-last'}")
    print(f"(1) fastai fit (augmentation + normalisation in the loop): {fa_ips:.1f} img/s "
          f"(rounds: {', '.join(f'{t:.2f}' for t in fa)} s)")
    print(f"(2) forward + backward + AdamW step on in-memory tensors: {pu_ips:.1f} img/s "
          f"(rounds: {', '.join(f'{t:.2f}' for t in pu)} s)")
    print(f"    ratio (1)/(2) = {fa_ips / pu_ips:.2f} (goal >= 0.7)")
    print(f"    one training epoch on {info['n_train']} images: about {epoch_s:.0f} s "
          "(plus validation)")
    print(f"\nSUMMARY bench_train {args.arch} {args.size}px bs{args.bs}: fastai {fa_ips:.1f} "
          f"img/s, pure step {pu_ips:.1f} img/s, ratio {fa_ips / pu_ips:.2f} (goal>=0.7), "
          f"epoch of {info['n_train']} images ~{epoch_s:.0f} s")


if __name__ == "__main__":
    main()
