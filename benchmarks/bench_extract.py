"""Benchmark of the CNN-code extraction (helpers.model.extract_features), in one process.

On the mock Galaxy Zoo (``--data-dir``, generated with ``--n`` galaxies and seed 42 when it is
missing) at the study's image size (``--size``, default 64 px from a 212 px centre crop):

(a) ``extract_features`` over the whole image cache (memory-mapped ``uint8``, normalised and
    batched inside the call);
(b) the machine's limit: the same body's forward pass + average pooling on float tensors that
    are already normalised and in memory (same batch size);
(c) the seed study's method: for each image, decode the JPEG with PIL, centre-crop, resize,
    ``ToTensor`` + ``Normalize``, then a batch of one through torchvision's ResNet without its
    last layer; timed on ``--seed-subset`` images and extrapolated to all of them.

(a) and (b) alternate ``--rounds`` times and the best round of each counts (the machine may
be shared). Reported: throughputs, (a)/(b) (goal >= 0.8), and the speed-up of (a) over (c),
both from a warm cache and counting the one-time cache build. ``--also-224`` repeats it at the
seed study's 224 px (crop 224) on ``--n-224`` images. Weights are random (the speed does not
depend on them). The last line is a one-line summary::

    .venv/bin/python benchmarks/bench_extract.py [--n 2000] [--size 64] [--also-224]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from helpers import model as M
from helpers import paths
from helpers.dataset import load_dataset
from helpers.imagecache import load_image_array
from helpers.synth import write_mock


def ensure_data(data_dir: Path | None, n: int) -> Path:
    if data_dir is None:
        data_dir = paths.SYNTHETIC / ("demo" if n == 2000 else f"bench-n{n}")
    data_dir = paths.resolve(data_dir)
    if not (data_dir / "training_solutions_rev1.csv").exists():
        print(f"writing a mock Galaxy Zoo of {n} galaxies (seed 42) to {data_dir} ...", flush=True)
        write_mock(data_dir, n=n, seed=42, overwrite=True)
    return data_dir


def seed_method(image_paths: list[str], size: int, crop: int, arch: str) -> float:
    """Seconds per image of the seed study's loop (decode + PIL transforms + batch of one)."""
    import torchvision
    from PIL import Image
    from torchvision import transforms

    net = getattr(torchvision.models, arch)(weights=None)
    net.fc = torch.nn.Identity()  # "the net without its last layer": avgpool output
    net.eval()
    tf = transforms.Compose([
        transforms.CenterCrop(crop),
        transforms.Resize(size),
        transforms.ToTensor(),
        transforms.Normalize(*M.IMAGENET_STATS),
    ])
    with torch.inference_mode():
        x = tf(Image.open(image_paths[0]).convert("RGB")).unsqueeze(0)
        net(x)  # warm-up
        t0 = time.perf_counter()
        for p in image_paths:
            x = tf(Image.open(p).convert("RGB")).unsqueeze(0)
            net(x).numpy()
        return (time.perf_counter() - t0) / len(image_paths)


def measure(frame, size: int, crop: int, arch: str, bs: int, rounds: int, seed_subset: int,
            cache_dir: Path | None) -> dict:
    n = len(frame)
    t0 = time.perf_counter()
    images = load_image_array(frame["image_path"], size=size, crop=crop, cache_dir=cache_dir)
    first_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    images = load_image_array(frame["image_path"], size=size, crop=crop, cache_dir=cache_dir)
    warm_load = time.perf_counter() - t0
    # cold cache build, measured on a copy-free re-decode of a subset (no cache written)
    k = min(n, 200)
    t0 = time.perf_counter()
    load_image_array(frame["image_path"][:k], size=size, crop=crop, cache_dir=False)
    build_per_image = (time.perf_counter() - t0) / k

    net = M.build_model(arch, "linear", seed=0).eval()
    flat = np.asarray(images[: min(n, 512)], dtype=np.float64) / 255
    mean, std = flat.mean((0, 1, 2)).tolist(), flat.std((0, 1, 2)).tolist()
    config = {"mean": mean, "std": std, "image_size": size}
    body = net[0]
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    ready = ((torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 255 - m) / s)
    ready = ready.contiguous()

    def pure() -> float:
        t = time.perf_counter()
        with torch.inference_mode():
            for xb in ready.split(bs):
                body(xb).mean(dim=(2, 3)).numpy()
        return time.perf_counter() - t

    def ours() -> float:
        t = time.perf_counter()
        M.extract_features(net, images, config, bs=bs)
        return time.perf_counter() - t

    M.extract_features(net, images[:bs], config, bs=bs)  # warm-up
    pure_t, ours_t = [], []
    for _ in range(rounds):
        ours_t.append(ours())
        pure_t.append(pure())
    best_ours, best_pure = min(ours_t), min(pure_t)
    subset = list(frame["image_path"][: min(seed_subset, n)])
    seed_per_image = seed_method(subset, size, crop, arch)
    seed_total = seed_per_image * n
    return {
        "n": n, "size": size, "crop": crop, "arch": arch, "bs": bs,
        "cache_first_call_s": first_load, "cache_warm_call_s": warm_load,
        "cache_build_s_est": build_per_image * n,
        "ours_img_s": n / best_ours, "pure_img_s": n / best_pure,
        "ratio": best_pure / best_ours,
        "seed_img_s": 1 / seed_per_image, "seed_total_s_est": seed_total,
        "ours_total_s": best_ours + warm_load,
        "speedup_warm": seed_total / (best_ours + warm_load),
        "speedup_cold": seed_total / (best_ours + build_per_image * n),
        "rounds_ours_s": ours_t, "rounds_pure_s": pure_t,
    }


def report(r: dict) -> str:
    print(f"\n== {r['arch']} at {r['size']} px (crop {r['crop']}), {r['n']} images, "
          f"batch {r['bs']}, {torch.get_num_threads()} threads")
    print(f"image cache: first call {r['cache_first_call_s']:.1f} s, warm call "
          f"{r['cache_warm_call_s'] * 1000:.0f} ms; building it costs about "
          f"{r['cache_build_s_est']:.1f} s (decode + crop + resize)")
    print(f"(a) extract_features from the cache: {r['ours_img_s']:.0f} img/s "
          f"(rounds: {', '.join(f'{t:.2f}' for t in r['rounds_ours_s'])} s)")
    print(f"(b) pure forward on in-memory tensors: {r['pure_img_s']:.0f} img/s "
          f"(rounds: {', '.join(f'{t:.2f}' for t in r['rounds_pure_s'])} s)")
    print(f"    ratio (a)/(b) = {r['ratio']:.2f} (goal >= 0.8)")
    print(f"(c) seed study's loop (decode + PIL transforms + batch of one): {r['seed_img_s']:.0f} "
          f"img/s -> {r['seed_total_s_est']:.0f} s for {r['n']} images (extrapolated)")
    print(f"    speed-up of (a) over (c): x{r['speedup_warm']:.1f} from a warm cache, "
          f"x{r['speedup_cold']:.1f} counting the cache build")
    return (f"size={r['size']}: cache/pure={r['ratio']:.2f} (goal>=0.8), "
            f"{r['ours_img_s']:.0f} img/s, speed-up vs seed method x{r['speedup_warm']:.1f} "
            f"(x{r['speedup_cold']:.1f} incl. cache build)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="Kaggle-layout folder (default: data/synthetic/demo, generated if missing)")
    ap.add_argument("--n", type=int, default=2000, help="galaxies of the mock when generated")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--crop", type=int, default=212)
    ap.add_argument("--arch", default="resnet34", choices=list(M.ARCHS))
    ap.add_argument("--bs", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed-subset", type=int, default=100)
    ap.add_argument("--also-224", action="store_true", help="also at 224 px, crop 224")
    ap.add_argument("--n-224", type=int, default=256, help="images for the 224 px run")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("GC_THREADS", 0)) or None)
    ap.add_argument("--cache-dir", type=Path, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data_dir = ensure_data(args.data_dir, args.n)
    frame, _ = load_dataset(data_dir)
    lines = [report(measure(frame, args.size, args.crop, args.arch, args.bs, args.rounds,
                            args.seed_subset, args.cache_dir))]
    if args.also_224:
        sub = frame.iloc[: args.n_224].reset_index(drop=True)
        lines.append(report(measure(sub, 224, 224, args.arch, min(args.bs, 64), args.rounds,
                                    min(args.seed_subset, 40), args.cache_dir)))
    print(f"\nSUMMARY bench_extract {args.arch} {len(frame)} galaxies, "
          f"{torch.get_num_threads()} threads: " + "; ".join(lines))


if __name__ == "__main__":
    main()
