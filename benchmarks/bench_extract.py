"""Benchmark of the CNN-code extraction (helpers.net.inference.extract_features), in one process.

On the mock Galaxy Zoo (``--data-dir``, generated with ``--n`` galaxies and seed 42 when it is
missing) at the study's image size (``--size``, default 64 px from a 212 px centre crop):

(a) ``extract_features`` over the whole image cache (memory-mapped ``uint8``, normalised and
    batched inside the call);
(b) the machine's limit: the same body's forward pass + average pooling on float tensors that
    are already normalised and in memory (same batch size);
(c) the seed study's method: for each image, decode the JPEG with PIL, centre-crop, resize,
    ``ToTensor`` + ``Normalize``, then a batch of one through torchvision's ResNet without its
    last layer; timed on ``--seed-subset`` images and extrapolated per image to all of them.

Same work on every side: (c)'s torchvision net carries the weights of (a)'s body and normalises
with the same statistics, so all three give the same codes, and the run fails unless they agree
within ``--tol`` x the largest code (float32; batches of 256 against batches of one). (a) and
(b) alternate ``--rounds`` times and (c) runs ``--rounds`` times; the best round of each counts
(the machine may be shared). All in one process on the same torch threads (the cache build
decodes on up to 4 threads, as chapter 3's first call does). Reported: throughputs, (a)/(b)
(goal >= 0.8), and the speed-up of (a) over (c), both from a warm cache and counting the
one-off cache build a user pays on the first call, measured into an empty temporary cache.
``--also-224`` repeats it at the seed study's 224 px (crop 224) on ``--n-224`` images. Weights
are random (the speed does not depend on them). The last line is a one-line summary::

    .venv/bin/python benchmarks/bench_extract.py [--n 2000] [--size 64] [--also-224]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from helpers import paths
from helpers.data.dataset import load_dataset
from helpers.data.imagecache import load_image_array
from helpers.data.synth import write_mock
from helpers.net import inference, network


def ensure_data(data_dir: Path | None, n: int) -> Path:
    if data_dir is None:
        data_dir = paths.SYNTHETIC / ("demo" if n == 2000 else f"bench-n{n}")
    data_dir = paths.resolve(data_dir)
    if not (data_dir / "training_solutions_rev1.csv").exists():
        print(f"writing a mock Galaxy Zoo of {n} galaxies (seed 42) to {data_dir} ...", flush=True)
        write_mock(data_dir, n=n, seed=42, overwrite=True)
    return data_dir


def seed_method(image_paths: list[str], size: int, crop: int, arch: str, body, mean, std,
                rounds: int) -> tuple[float, np.ndarray]:
    """Best seconds per image over ``rounds`` of the seed study's loop (decode + PIL transforms +
    batch of one through torchvision's ResNet without its last layer), and its codes.

    The torchvision net gets the weights of ``body`` and the transforms normalise with the same
    statistics as ours, so both sides do the same work and must give the same codes.
    """
    import torchvision
    from PIL import Image
    from torchvision import transforms

    net = getattr(torchvision.models, arch)(weights=None)
    net.fc = torch.nn.Identity()  # "the net without its last layer": avgpool output
    for theirs, ours in zip(list(net.children())[:len(body)], body, strict=True):
        theirs.load_state_dict(ours.state_dict())
    net.eval()
    tf = transforms.Compose([
        transforms.CenterCrop(crop),
        transforms.Resize(size),
        transforms.ToTensor(),
        transforms.Normalize(mean, std),
    ])
    best, codes = float("inf"), None
    with torch.inference_mode():
        net(tf(Image.open(image_paths[0]).convert("RGB")).unsqueeze(0))  # warm-up
        for _ in range(rounds):
            out = []
            t0 = time.perf_counter()
            for p in image_paths:
                x = tf(Image.open(p).convert("RGB")).unsqueeze(0)
                out.append(net(x).numpy())
            best = min(best, (time.perf_counter() - t0) / len(image_paths))
            codes = np.concatenate(out)
    return best, codes


def check_equal(name: str, a: np.ndarray, b: np.ndarray, tol: float) -> float:
    """Max |a - b| relative to max |b|; fails the run above ``tol``."""
    rel = float(np.abs(a - b).max() / np.abs(b).max())
    np.testing.assert_allclose(a, b, rtol=0, atol=tol * float(np.abs(b).max()),
                               err_msg=f"{name}: the codes differ")
    return rel


def measure(frame, size: int, crop: int, arch: str, bs: int, rounds: int, seed_subset: int,
            tol: float) -> dict:
    with tempfile.TemporaryDirectory() as cache_dir:
        return _measure(frame, size, crop, arch, bs, rounds, seed_subset, tol, cache_dir)


def _measure(frame, size: int, crop: int, arch: str, bs: int, rounds: int, seed_subset: int,
             tol: float, cache_dir: str) -> dict:
    n = len(frame)
    # the one-off cost a user pays: decode + crop + resize every image into an empty cache
    t0 = time.perf_counter()
    load_image_array(frame["image_path"], size=size, crop=crop, cache_dir=cache_dir)
    cache_build = time.perf_counter() - t0
    warm = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        images = load_image_array(frame["image_path"], size=size, crop=crop, cache_dir=cache_dir)
        warm.append(time.perf_counter() - t0)
    warm_load = min(warm)  # the memory map (a) reads from, as chapter 3 does

    net = network.build_model(arch, "linear", seed=0).eval()
    flat = np.asarray(images[: min(n, 512)], dtype=np.float64) / 255
    mean, std = flat.mean((0, 1, 2)).tolist(), flat.std((0, 1, 2)).tolist()
    config = {"mean": mean, "std": std, "image_size": size}
    body = net[0]
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    ready = ((torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).float() / 255 - m) / s)
    ready = ready.contiguous()
    codes = {}

    def pure() -> float:
        t = time.perf_counter()
        with torch.inference_mode():
            codes["pure"] = np.concatenate([body(xb).mean(dim=(2, 3)).numpy()
                                            for xb in ready.split(bs)])
        return time.perf_counter() - t

    def ours() -> float:
        t = time.perf_counter()
        codes["ours"] = inference.extract_features(net, images, config, bs=bs)
        return time.perf_counter() - t

    inference.extract_features(net, images[:bs], config, bs=bs)  # warm-up
    pure_t, ours_t = [], []
    for _ in range(rounds):
        ours_t.append(ours())
        pure_t.append(pure())
    best_ours, best_pure = min(ours_t), min(pure_t)
    diff_pure = check_equal("extract_features vs pure forward", codes["ours"], codes["pure"], tol)
    subset = list(frame["image_path"][: min(seed_subset, n)])
    seed_per_image, seed_codes = seed_method(subset, size, crop, arch, body, mean, std, rounds)
    diff_seed = check_equal("extract_features vs the seed's loop", codes["ours"][: len(subset)],
                            seed_codes, tol)
    seed_total = seed_per_image * n
    return {
        "n": n, "size": size, "crop": crop, "arch": arch, "bs": bs, "rounds": rounds,
        "cache_build_s": cache_build, "cache_warm_call_s": warm_load,
        "ours_img_s": n / best_ours, "pure_img_s": n / best_pure,
        "ratio": best_pure / best_ours,
        "seed_img_s": 1 / seed_per_image, "seed_total_s_est": seed_total, "seed_n": len(subset),
        "ours_total_s": best_ours + warm_load,
        "speedup_warm": seed_total / (best_ours + warm_load),
        "speedup_cold": seed_total / (best_ours + cache_build),
        "rounds_ours_s": ours_t, "rounds_pure_s": pure_t,
        "diff_pure": diff_pure, "diff_seed": diff_seed, "tol": tol,
    }


def report(r: dict) -> str:
    print(f"\n== {r['arch']} at {r['size']} px (crop {r['crop']}), {r['n']} images, "
          f"batch {r['bs']}, {torch.get_num_threads()} threads, best of {r['rounds']} rounds "
          f"on every side (load average {os.getloadavg()[0]:.2f})")
    print(f"image cache (one-off): built from the JPEGs into an empty cache in "
          f"{r['cache_build_s']:.1f} s (decode + crop + resize); warm call "
          f"{r['cache_warm_call_s'] * 1000:.0f} ms")
    print(f"(a) extract_features from the cache: {r['ours_img_s']:.0f} img/s "
          f"(rounds: {', '.join(f'{t:.2f}' for t in r['rounds_ours_s'])} s)")
    print(f"(b) pure forward on in-memory tensors: {r['pure_img_s']:.0f} img/s "
          f"(rounds: {', '.join(f'{t:.2f}' for t in r['rounds_pure_s'])} s)")
    print(f"    ratio (a)/(b) = {r['ratio']:.2f} (goal >= 0.8); codes equal: max |(a) - (b)| = "
          f"{r['diff_pure']:.1e} of max |code| (tolerance {r['tol']:.0e})")
    print(f"(c) seed study's loop (decode + PIL transforms + batch of one, same weights and "
          f"normalisation): {r['seed_img_s']:.0f} img/s, best of {r['rounds']} rounds on "
          f"{r['seed_n']} images -> {r['seed_total_s_est']:.0f} s for {r['n']} images "
          f"(extrapolated per image)")
    print(f"    codes equal on those {r['seed_n']}: max |(a) - (c)| = {r['diff_seed']:.1e} of "
          f"max |code| (tolerance {r['tol']:.0e})")
    print(f"    speed-up of (a) over (c): x{r['speedup_warm']:.1f} from a warm cache, "
          f"x{r['speedup_cold']:.1f} counting the one-off cache build")
    return (f"size={r['size']}: cache/pure={r['ratio']:.2f} (goal>=0.8), "
            f"{r['ours_img_s']:.0f} img/s, speed-up vs seed method x{r['speedup_warm']:.1f} "
            f"(x{r['speedup_cold']:.1f} incl. cache build), codes equal within "
            f"{max(r['diff_pure'], r['diff_seed']):.0e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=None,
                    help="Kaggle-layout folder (default: data/synthetic/demo, generated if missing)")
    ap.add_argument("--n", type=int, default=2000, help="galaxies of the mock when generated")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--crop", type=int, default=212)
    ap.add_argument("--arch", default="resnet34", choices=list(network.ARCHS))
    ap.add_argument("--bs", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed-subset", type=int, default=100)
    ap.add_argument("--also-224", action="store_true", help="also at 224 px, crop 224")
    ap.add_argument("--n-224", type=int, default=256, help="images for the 224 px run")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("GC_THREADS", 0)) or None)
    ap.add_argument("--tol", type=float, default=1e-4,
                    help="codes must agree within tol x max |code| (float32 batch vs batch-of-one)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data_dir = ensure_data(args.data_dir, args.n)
    frame, _ = load_dataset(data_dir)
    lines = [report(measure(frame, args.size, args.crop, args.arch, args.bs, args.rounds,
                            args.seed_subset, args.tol))]
    if args.also_224:
        sub = frame.iloc[: args.n_224].reset_index(drop=True)
        lines.append(report(measure(sub, 224, 224, args.arch, min(args.bs, 64), args.rounds,
                                    min(args.seed_subset, 40), args.tol)))
    print(f"\nSUMMARY bench_extract {args.arch} {len(frame)} galaxies, "
          f"{torch.get_num_threads()} threads: " + "; ".join(lines))


if __name__ == "__main__":
    main()
