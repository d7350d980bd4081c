"""Acceptance check: featurize + similar on galaxy images the project has never seen.

The issue's test: "On a folder of galaxy images the project has never seen (a different
generator), ``featurize`` completes on a local cluster, resumes after interruption, and
``similar`` returns neighbours that share the query's morphology far more often than chance."

This script

1. draws ``--n`` galaxy images with its own small numpy generator (not ``helpers.data.synth``, not
   GalSim): five classes (smooth round, cigar, edge-on disk, face-on spiral, star), random
   size, position angle, brightness, tint, centre offset, Gaussian PSF, sky, Poisson and read
   noise, saved as ``<GalaxyID>.png`` / ``.jpg`` of ``--size`` px; the truth table
   (``truth.csv``) lies beside the image folder, not in it;
2. runs ``python -m helpers featurize`` (the real CLI, a local Dask cluster of 2 workers) and
   kills its whole process group (SIGKILL) once a few shards are finished, reruns the same
   command and checks that it resumed (finished shards skipped and left untouched) and
   completed, with no ``.tmp`` leftovers; the resumed codes must equal those of a clean,
   uninterrupted run;
3. searches, for every galaxy, its ``-k`` nearest other galaxies (``helpers.codes.similar``, the
   engine of the ``similar`` command) and compares the share of neighbours of the query's class
   with chance (random neighbours); runs the ``similar`` CLI once on a GalaxyID (with a picture
   sheet) and once on the path of one of the images, which must find its own galaxy first.

It exits non-zero, saying why, when a step fails, the lift (observed share / chance) is below
``--min-lift`` (2) or the image query misses its own galaxy. The last line starts with
``SUMMARY check_unseen``::

    .venv/bin/python benchmarks/check_unseen.py [--n 600] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from helpers import paths
from helpers.codes import similar as sim
from helpers.codes import survey

CLASSES = ("round", "cigar", "edge-on", "spiral", "star")
TINTS = {"old": (1.0, 0.80, 0.55), "young": (0.62, 0.78, 1.0), "mixed": (0.9, 0.82, 0.72),
         "star": (0.95, 0.95, 1.0)}


class CheckFailed(Exception):
    """A step of the acceptance check did not do what the issue asks."""


# ---------------------------------------------------------------- the generator (numpy only)

def _b(n: float) -> float:
    """Sersic b_n (Ciotti & Bertin 1999): half the light lies inside the effective radius."""
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n * n)


def _frame(size: int, cx: float, cy: float, pa: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates rotated to a position angle ``pa`` (radians) about ``(cx, cy)``."""
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    dx, dy = xx - cx, yy - cy
    return dx * np.cos(pa) + dy * np.sin(pa), -dx * np.sin(pa) + dy * np.cos(pa)


def sersic(u: np.ndarray, v: np.ndarray, re: float, n: float, q: float) -> np.ndarray:
    """A Sersic profile of effective radius ``re`` and axis ratio ``q``, normalised to sum 1."""
    r = np.hypot(u, v / q)
    img = np.exp(-_b(n) * ((r / re) ** (1.0 / n) - 1.0))
    return img / img.sum()


def spiral_disk(u: np.ndarray, v: np.ndarray, h: float, q: float, arms: int, pitch: float,
                phase: float, contrast: float) -> np.ndarray:
    """An exponential disk of scale ``h`` with ``arms`` logarithmic arms, normalised to sum 1."""
    x, y = u, v / q  # in the disk's plane
    r = np.hypot(x, y) + 1e-6
    theta = np.arctan2(y, x)
    wave = np.cos(arms * (theta - np.log(r / h) / np.tan(pitch)) + phase)
    arm = ((1.0 + wave) / 2.0) ** 4
    taper = 1.0 - np.exp(-((r / (0.8 * h)) ** 2))  # no arms in the bulge
    img = np.exp(-r / h) * (1.0 - contrast * taper + 3.0 * contrast * taper * arm)
    return img / img.sum()


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Convolve a 2-d image with a circular Gaussian PSF of ``sigma`` px (FFT, periodic edges)."""
    fy = np.fft.fftfreq(img.shape[0])[:, None]
    fx = np.fft.rfftfreq(img.shape[1])[None, :]
    kernel = np.exp(-2.0 * (np.pi * sigma) ** 2 * (fx ** 2 + fy ** 2))
    return np.fft.irfft2(np.fft.rfft2(img) * kernel, s=img.shape)


def point_source(size: int, cx: float, cy: float, sigma: float, spikes: bool) -> np.ndarray:
    """A star as the camera sees it: Gaussian core, Moffat halo, optional diffraction spikes."""
    u, v = _frame(size, cx, cy, 0.0)
    r2 = u ** 2 + v ** 2
    img = np.exp(-r2 / (2 * sigma ** 2)) + 0.02 * (1 + r2 / (3 * sigma) ** 2) ** -2.5
    if spikes:
        width = 0.6 * sigma
        img += 0.01 * (np.exp(-(v / width) ** 2) * np.exp(-np.abs(u) / (12 * sigma))
                       + np.exp(-(u / width) ** 2) * np.exp(-np.abs(v) / (12 * sigma)))
    return img / img.sum()


def _tint(rng: np.random.Generator, name: str) -> np.ndarray:
    return np.asarray(TINTS[name]) * rng.uniform(0.9, 1.1, 3)


def _pick(rng: np.random.Generator, first: str, second: str, p_first: float) -> str:
    return first if rng.random() < p_first else second


def render(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """One ``size`` x ``size`` RGB ``uint8`` image of a galaxy (or star) of class ``kind``.

    Lengths scale with ``size`` so that the object fills the central half of the frame the
    way a galaxy fills a 424 px Galaxy Zoo cutout.
    """
    s = size / 256.0
    off = rng.normal(0.0, 1.5 * s, 2)
    cx, cy = (size - 1) / 2 + off[0], (size - 1) / 2 + off[1]
    pa = rng.uniform(0, np.pi)
    psf = rng.uniform(1.0, 2.0) * s
    flux = 10 ** rng.uniform(4.6, 5.4)
    u, v = _frame(size, cx, cy, pa)
    layers: list[tuple[np.ndarray, np.ndarray]] = []  # (profile, rgb tint) pairs
    if kind == "round":
        layers.append((sersic(u, v, rng.uniform(5, 14) * s, rng.uniform(3.5, 4.5),
                              rng.uniform(0.8, 1.0)), _tint(rng, "old")))
    elif kind == "cigar":
        layers.append((sersic(u, v, rng.uniform(8, 15) * s, rng.uniform(1.5, 3.0),
                              rng.uniform(0.22, 0.4)), _tint(rng, _pick(rng, "old", "mixed", 0.7))))
    elif kind == "edge-on":
        re, q = rng.uniform(13, 22) * s, rng.uniform(0.07, 0.14)
        disk = sersic(u, v, re, 1.0, q)
        if rng.random() < 0.5:  # a dust lane along the mid-plane
            disk = disk * (1 - rng.uniform(0.5, 0.9) * np.exp(-(v / (0.35 * q * re)) ** 2))
        bt = rng.uniform(0.0, 0.3)
        layers.append(((1 - bt) * disk / disk.sum(), _tint(rng, "mixed")))
        layers.append((bt * sersic(u, v, rng.uniform(2, 4) * s, 2.5, rng.uniform(0.7, 1.0)),
                       _tint(rng, "old")))
    elif kind == "spiral":
        q, h = rng.uniform(0.65, 1.0), rng.uniform(5, 9) * s
        disk = spiral_disk(u, v, h, q, int(rng.choice([2, 2, 3])), np.radians(rng.uniform(12, 28)),
                           rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 0.9))
        bt = rng.uniform(0.1, 0.35)
        layers.append(((1 - bt) * disk, _tint(rng, _pick(rng, "young", "mixed", 0.7))))
        layers.append((bt * sersic(u, v, rng.uniform(1.5, 3.5) * s, rng.uniform(2, 4), q),
                       _tint(rng, "old")))
    elif kind == "star":
        flux *= 10 ** rng.uniform(-0.3, 0.8)
        layers.append((point_source(size, cx, cy, psf, rng.random() < 0.5), _tint(rng, "star")))
    else:
        raise ValueError(f"unknown class {kind!r}")
    counts = np.zeros((size, size, 3))
    for profile, tint in layers:
        counts += flux * (profile if kind == "star" else blur(profile, psf))[..., None] * tint
    for _ in range(rng.poisson(1.0)):  # faint field stars away from the centre
        fx, fy = rng.uniform(0, size, 2)
        if np.hypot(fx - cx, fy - cy) > 40 * s:
            counts += (10 ** rng.uniform(2.8, 3.8) * point_source(size, fx, fy, psf, False)[..., None]
                       * _tint(rng, "star"))
    sky = rng.uniform(20, 60)
    noisy = rng.poisson(np.clip(counts + sky, 0, None)) + rng.normal(0, 3, counts.shape) - sky
    beta = 8.0
    img = 4.0 + 255.0 * np.arcsinh(np.clip(noisy, -beta, None) / beta) / np.arcsinh(4000 / beta)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_images(folder: Path, n: int, seed: int, size: int) -> pd.DataFrame:
    """Draw ``n`` images into ``folder`` (classes in equal shares, shuffled); the truth table.

    GalaxyIDs are random 6-digit numbers (their order says nothing of the class); each image is
    a PNG or a JPEG (quality 85-95) at random.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    kinds = rng.permutation(np.resize(np.arange(len(CLASSES)), n))
    ids = 300000 + rng.choice(600000, size=n, replace=False)
    rows = []
    for gid, k in zip(ids.tolist(), kinds.tolist(), strict=True):
        img = Image.fromarray(render(CLASSES[k], rng, size))
        if rng.random() < 0.5:
            name = f"{gid}.png"
            img.save(folder / name, compress_level=1)
        else:
            name = f"{gid}.jpg"
            img.save(folder / name, quality=int(rng.integers(85, 96)))
        rows.append((gid, CLASSES[k], name))
    return pd.DataFrame(rows, columns=["GalaxyID", "class", "file"]).sort_values(
        "GalaxyID", ignore_index=True)


# ---------------------------------------------------------------- featurize through the CLI

DONE_LINE = re.compile(r"\[featurize\] (\d+) images in (\d+) shards of (\d+); "
                       r"(\d+) already done, (\d+) to go")


def featurize_command(run: Path, images: Path, out: Path, workers: int, shard_size: int) -> list[str]:
    """The ``featurize`` command line the issue names (the project's CLI, this interpreter)."""
    return [sys.executable, "-m", "helpers", "featurize", "--run", str(run), "--images", str(images),
            "--out", str(out), "--workers", str(workers), "--shard-size", str(shard_size)]


def run_cli(cmd: list[str], timeout: float, what: str) -> tuple[str, float]:
    """Run a CLI command to its end (in its own process group); its output and seconds taken."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=paths.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        raise CheckFailed(f"{what} did not finish within {timeout:.0f} s:\n{output[-2000:]}") from None
    if proc.returncode != 0:
        raise CheckFailed(f"{what} exited with {proc.returncode}:\n{output[-2000:]}")
    return output, time.perf_counter() - t0


def _group_gone(pgid: int, wait: float) -> bool:
    """Whether every process of the group ``pgid`` has ended within ``wait`` seconds."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def interrupt(cmd: list[str], out: Path, after: int, timeout: float) -> dict:
    """Start ``featurize`` and SIGKILL its whole process group once ``after`` shards are written.

    The Dask scheduler, nannies and workers all die with it, mid-shard: the hardest
    interruption (no cleanup code runs). Returns the finished shards' names and mtimes at the
    kill, and the ``.tmp`` files it left behind.
    """
    log = out.parent / f"{out.name}.interrupted.log"
    t0 = time.perf_counter()
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, cwd=paths.ROOT, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            while len(list(out.glob("part-*.parquet"))) < after:
                if proc.poll() is not None:
                    raise CheckFailed(f"featurize ended (exit {proc.returncode}) before {after} shards "
                                      f"were written, so it could not be interrupted; use a larger "
                                      f"--n:\n{log.read_text()[-2000:]}")
                if time.perf_counter() - t0 > timeout:
                    raise CheckFailed(f"featurize wrote fewer than {after} shards in {timeout:.0f} s:\n"
                                      f"{log.read_text()[-2000:]}")
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if not _group_gone(proc.pid, 20):
        raise CheckFailed(f"processes of the killed featurize (group {proc.pid}) are still running")
    parts = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    return {"parts": parts, "tmp": sorted(p.relative_to(out).as_posix() for p in out.rglob("*.tmp")),
            "seconds": time.perf_counter() - t0, "log": log}


def check_resume(output: str, out: Path, killed: dict, n: int, shard_size: int) -> dict:
    """The rerun must skip exactly the shards finished before the kill and finish the others."""
    found = DONE_LINE.search(output)
    if not found:
        raise CheckFailed(f"the rerun did not say how many shards were already done:\n{output[-2000:]}")
    images, shards, size, done, todo = map(int, found.groups())
    expected_shards = -(-n // shard_size)
    if (images, shards, size) != (n, expected_shards, shard_size):
        raise CheckFailed(f"the rerun saw {images} images in {shards} shards of {size}; expected "
                          f"{n} in {expected_shards} of {shard_size}")
    if done != len(killed["parts"]) or done + todo != shards:
        raise CheckFailed(f"the rerun reports {done} shards done, {todo} to go; {len(killed['parts'])} "
                          f"were finished before the kill, of {shards}")
    if "[featurize] done:" not in output:
        raise CheckFailed(f"the rerun did not report completion:\n{output[-2000:]}")
    parts = sorted(out.glob("part-*.parquet"))
    if len(parts) != shards:
        raise CheckFailed(f"{len(parts)} shard files after the rerun, expected {shards}")
    touched = [name for name, mtime in killed["parts"].items()
               if (out / name).stat().st_mtime_ns != mtime]
    if touched:
        raise CheckFailed(f"the rerun rewrote shards that were already finished: {touched}")
    leftovers = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.tmp"))
    if leftovers:
        raise CheckFailed(f"half-written files left after the rerun: {leftovers}")
    manifest = json.loads((out / survey.MANIFEST).read_text())
    if manifest.get("images") != n or manifest.get("shard_size") != shard_size:
        raise CheckFailed(f"unexpected {survey.MANIFEST}: {manifest}")
    bad = pd.read_csv(out / survey.BAD_IMAGES)
    if len(bad):
        raise CheckFailed(f"featurize could not read {len(bad)} images: {bad.head().to_dict('records')}")
    return {"skipped": done, "computed": todo, "shards": shards}


def compare_codes(resumed: Path, clean: Path, ids: np.ndarray) -> float:
    """Resumed and clean codes must cover the same galaxies and agree; the largest difference."""
    a, b = survey.read_codes(resumed), survey.read_codes(clean)
    for name, frame in (("resumed", a), ("clean", b)):
        if not np.array_equal(frame["GalaxyID"].to_numpy(), np.sort(ids)):
            raise CheckFailed(f"the {name} run's GalaxyIDs are not those of the images "
                              f"({len(frame)} codes for {len(ids)} images)")
    x, y = a.drop(columns="GalaxyID").to_numpy(), b.drop(columns="GalaxyID").to_numpy()
    if not np.allclose(x, y, rtol=1e-4, atol=1e-5):
        raise CheckFailed(f"resumed codes differ from a clean run's (max |diff| {np.abs(x - y).max():.3g})")
    return float(np.abs(x - y).max())


# ---------------------------------------------------------------- neighbours vs morphology

def neighbours(features: Path, truth: pd.DataFrame, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, class of each galaxy, rows of its k nearest other galaxies)`` of a feature set.

    The search is :class:`helpers.codes.similar.Index` (exact cosine), the engine the ``similar``
    command uses, over all galaxies at once; each query is left out of its own answer.
    """
    ids, codes = sim.read_feature_set(features)
    rows, _ = sim.Index(codes).query(codes, k + 1)
    keep = rows != np.arange(len(ids))[:, None]
    found = np.stack([r[m][:k] for r, m in zip(rows, keep, strict=True)])
    label = truth.set_index("GalaxyID")["class"]
    return ids, np.array([CLASSES.index(c) for c in label.loc[ids]]), found


def share_table(query: np.ndarray, found: np.ndarray) -> pd.DataFrame:
    """Per class: galaxies, share of same-class neighbours, its chance level, lift, confusion.

    Chance for a query of class c is ``(n_c - 1) / (N - 1)`` (k neighbours drawn at random among
    the other galaxies); over all queries it is ``sum_c p_c (n_c - 1) / (N - 1)``.
    """
    n = len(query)
    counts = np.bincount(query, minlength=len(CLASSES))
    same = (found == query[:, None]).mean(axis=1)
    rows = []
    for c, name in enumerate(CLASSES):
        mine = query == c
        chance = (counts[c] - 1) / (n - 1)
        spread = np.bincount(found[mine].ravel(), minlength=len(CLASSES)) / max(found[mine].size, 1)
        rows.append({"class": name, "n": int(counts[c]), "same": same[mine].mean(), "chance": chance,
                     "lift": same[mine].mean() / chance, **dict(zip(CLASSES, spread, strict=True))})
    chance = float(((counts / n) * (counts - 1) / (n - 1)).sum())
    rows.append({"class": "all", "n": n, "same": same.mean(), "chance": chance,
                 "lift": same.mean() / chance})
    return pd.DataFrame(rows).set_index("class")


def check_api_agrees(features: Path, ids: np.ndarray, found_ids: np.ndarray, k: int,
                     picks: int = 5) -> None:
    """``helpers.codes.similar.similar`` (one GalaxyID at a time) must return the batch search's answer."""
    rng = np.random.default_rng(0)
    for i in rng.choice(len(ids), size=min(picks, len(ids)), replace=False):
        table = sim.similar(str(ids[i]), features=features, k=k)
        if set(table["GalaxyID"]) != set(found_ids[i].tolist()):
            raise CheckFailed(f"similar({ids[i]}) answers {table['GalaxyID'].tolist()}, the batch "
                              f"search {found_ids[i].tolist()}")


def parse_similar(output: str, k: int) -> pd.DataFrame:
    """The table the ``similar`` command prints (rank, GalaxyID, similarity, ...)."""
    lines = [ln.split() for ln in output.splitlines() if ln.strip()]
    header = next((i for i, ln in enumerate(lines) if ln[:3] == ["rank", "GalaxyID", "similarity"]), None)
    if header is None:
        raise CheckFailed(f"the similar command printed no table:\n{output[-2000:]}")
    body = [ln[:3] for ln in lines[header + 1:header + 1 + k] if ln[0].isdigit()]
    if len(body) != k:
        raise CheckFailed(f"the similar command printed {len(body)} neighbours, expected {k}:\n{output}")
    return pd.DataFrame(body, columns=["rank", "GalaxyID", "similarity"]).astype(
        {"rank": int, "GalaxyID": int, "similarity": float})


# ---------------------------------------------------------------- the check

def check(args: argparse.Namespace, run: Path, root: Path) -> tuple[str, list[str]]:
    """All steps in ``root``, progress on stdout: the key figures and the failed checks.

    A step that cannot go on raises :class:`CheckFailed`; checks of the results (the lift, the
    image query finding its own galaxy) are returned as problems.
    """
    images, codes, clean = root / "images", root / "codes", root / "codes-clean"
    t0 = time.perf_counter()
    truth = make_images(images, args.n, args.seed, args.size)
    truth.to_csv(root / "truth.csv", index=False)
    counts = truth["class"].value_counts().reindex(list(CLASSES))
    print(f"[1/4] drew {args.n} images of {args.size} px in {time.perf_counter() - t0:.1f} s into "
          f"{images} ({', '.join(f'{c} {m}' for c, m in counts.items())}; "
          f"{(truth['file'].str.endswith('.png')).sum()} PNG, the rest JPEG); truth: {root / 'truth.csv'}",
          flush=True)

    cmd = featurize_command(run, images, codes, args.workers, args.shard_size)
    print(f"[2/4] {' '.join(cmd[1:])}", flush=True)
    killed = interrupt(cmd, codes, after=2, timeout=args.timeout)
    shards = -(-args.n // args.shard_size)
    print(f"      killed its process group after {killed['seconds']:.1f} s with "
          f"{len(killed['parts'])}/{shards} shards finished; .tmp files left: {killed['tmp'] or 'none'}",
          flush=True)
    output, t_resume = run_cli(cmd, args.timeout, "the resumed featurize")
    resumed = check_resume(output, codes, killed, args.n, args.shard_size)
    print(f"      rerun: {DONE_LINE.search(output).group(0)}; completed in {t_resume:.1f} s, "
          "finished shards untouched, no .tmp left", flush=True)
    _, t_clean = run_cli(featurize_command(run, images, clean, args.workers, args.shard_size),
                         args.timeout, "the clean featurize")
    diff = compare_codes(codes, clean, truth["GalaxyID"].to_numpy())
    print(f"      clean uninterrupted run: {t_clean:.1f} s ({args.n / t_clean:.0f} img/s with start-up); "
          f"resumed codes equal to it (max |diff| {diff:.2g})", flush=True)

    ids, query, rows = neighbours(codes, truth, args.k)
    table = share_table(query, query[rows])
    check_api_agrees(codes, ids, ids[rows], args.k)
    print(f"[3/4] k={args.k} nearest neighbours (cosine on the codes) of each of the {len(ids)} "
          "galaxies: share of the query's class\n"
          + table.to_string(float_format=lambda v: f"{v:.3f}"), flush=True)

    gid = int(ids[np.flatnonzero(query == CLASSES.index("spiral"))[0]])
    sheet = root / f"similar-{gid}.png"
    output, _ = run_cli([sys.executable, "-m", "helpers", "similar", str(gid), "-k", str(args.k),
                         "--features", str(codes), "--images", str(images), "--sheet", str(sheet)],
                        args.timeout, "similar (GalaxyID query)")
    answer = parse_similar(output, args.k)
    expected = set(ids[rows[int(np.flatnonzero(ids == gid)[0])]].tolist())
    if set(answer["GalaxyID"]) != expected or not sheet.is_file():
        raise CheckFailed(f"similar {gid} answered {answer['GalaxyID'].tolist()} (expected "
                          f"{sorted(expected)}); sheet written: {sheet.is_file()}")
    label = truth.set_index("GalaxyID")["class"]
    same_cli = (label.loc[answer["GalaxyID"]] == label.loc[gid]).mean()
    file = images / truth.set_index("GalaxyID").loc[gid, "file"]
    output, _ = run_cli([sys.executable, "-m", "helpers", "similar", str(file), "-k", str(args.k),
                         "--features", str(codes), "--run", str(run)],
                        args.timeout, "similar (image query)")
    by_image = parse_similar(output, args.k)
    top = by_image.iloc[0]
    same_img = (label.loc[by_image["GalaxyID"]] == label.loc[gid]).mean()
    hit = np.flatnonzero(by_image["GalaxyID"].to_numpy() == gid)
    self_rank = str(hit[0] + 1) if len(hit) else f">{args.k}"
    print(f"[4/4] similar {gid} (a spiral) --features OUT --images IMAGES --sheet: {args.k} neighbours "
          f"as the batch search, {same_cli:.0%} spirals; sheet {sheet}\n"
          f"      similar {file.name} (its image) --run RUN: top {int(top['GalaxyID'])} "
          f"(similarity {top['similarity']:.4f}), {same_img:.0%} spirals; the query galaxy itself at "
          f"rank {self_rank}", flush=True)

    problems = []
    overall = table.loc["all"]
    if overall["lift"] < args.min_lift:
        problems.append(f"neighbours share the query's class {overall['same']:.3f} of the time vs "
                        f"{overall['chance']:.3f} by chance: lift {overall['lift']:.2f} < {args.min_lift}")
    if self_rank != "1" or top["similarity"] < 0.999:
        problems.append(f"the image query {file.name}, whose code is in the feature set, does not find "
                        f"itself first (rank {self_rank}; top {int(top['GalaxyID'])} at similarity "
                        f"{top['similarity']:.4f}): the image path is not coded as featurize codes it "
                        f"(for {args.size} px images featurize crops the central {212 / 424:.0%} of the "
                        "side, as for 424 px cutouts)")
    per_class = ", ".join(f"{c} {table.loc[c, 'same']:.2f} (x{table.loc[c, 'lift']:.1f})" for c in CLASSES)
    summary = (f"n={args.n} ({args.size} px, own generator, {len(CLASSES)} classes): "
               f"featurize {t_clean:.1f} s clean on a local cluster of {args.workers} workers; killed after "
               f"{len(killed['parts'])}/{resumed['shards']} shards, rerun skipped {resumed['skipped']} "
               f"and computed {resumed['computed']} ({t_resume:.1f} s), codes equal to the clean run; "
               f"k={args.k} same-class share {overall['same']:.3f} vs chance {overall['chance']:.3f}, "
               f"lift {overall['lift']:.2f}; per class {per_class}; similar CLI: GalaxyID query + sheet "
               f"ok, image query finds itself at rank {self_rank}")
    return summary, problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=600, help="images to draw (default 600)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--size", type=int, default=256, help="image side in px (default 256)")
    ap.add_argument("--run", type=Path, default=Path("data/processed/demo"),
                    help="trained run folder (model.json + model.safetensors)")
    ap.add_argument("--workers", type=int, default=2, help="local cluster processes (default 2)")
    ap.add_argument("--shard-size", type=int, default=50)
    ap.add_argument("-k", "--k", type=int, default=12, help="neighbours per query (default 12)")
    ap.add_argument("--min-lift", type=float, default=2.0, help="fail below this lift (default 2)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds allowed per command")
    ap.add_argument("--keep", type=Path, default=None,
                    help="work in this new folder and keep it (images, truth, codes, sheet)")
    args = ap.parse_args()
    if args.n < 3 * args.shard_size:
        ap.error(f"--n {args.n}: use at least 3 shards of --shard-size {args.shard_size}")
    run = paths.resolve(args.run)
    if not (run / "model.json").is_file() or not (run / "model.safetensors").is_file():
        print(f"check_unseen FAILED: {run} is not a trained run (model.json + model.safetensors)",
              file=sys.stderr)
        return 1
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        ap.error(f"--keep {args.keep}: choose a new or empty folder")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="check_unseen-") as tmp:
        root = args.keep.resolve() if args.keep is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        try:
            summary, problems = check(args, run, root)
        except CheckFailed as exc:
            sys.stdout.flush()
            print(f"check_unseen FAILED: {exc}", file=sys.stderr, flush=True)
            print(f"SUMMARY check_unseen FAILED: {str(exc).splitlines()[0]}")
            return 1
    seconds = time.perf_counter() - t0
    sys.stdout.flush()
    for problem in problems:
        print(f"check_unseen FAILED: {problem}", file=sys.stderr, flush=True)
    status = f"FAILED ({len(problems)} check(s))" if problems else "passed"
    print(f"SUMMARY check_unseen {status} in {seconds:.0f} s: {summary}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
