"""Benchmark of the mock Galaxy Zoo generator (helpers.data.synth).

Two comparisons, each the best of ``--repeat`` runs:

1. **Per core, the same galaxies.** The fast path (``write_mock`` with 1 worker: GalSim
   profiles drawn on a 160 px grid, one numpy FFT convolution per band, resampled to 424 px)
   against a naive reference that draws *the same drawn galaxies* (the same truth: structure,
   seeing, noise, stretch, field counts) directly with GalSim at the full 424x424: every
   component convolved with the PSF by GalSim, arms and knots as GalSim ``RandomKnots``, field
   sources as PSF-convolved points, noise and stretch at 424 px, JPEG. Both single-process on
   ``--naive`` galaxies; the ratio of their times per galaxy.
2. **New against today.** ``write_mock`` of ``--n`` galaxies with ``--workers`` workers, this
   generator against the one committed at ``--ref`` (default: the newest commit whose
   generator has another ``VERSION``, i.e. the one this version replaced), imported from a
   temporary copy of ``git show REF:src/helpers/data/synth.py``.

    .venv/bin/python benchmarks/bench_synth.py [--n 2000] [--workers 2] [--naive 40] [--repeat 2]
"""

from __future__ import annotations

import argparse
import importlib
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import paths
from helpers.data import synth


def naive_draw(t: dict, rng: np.random.Generator) -> np.ndarray:
    """The straightforward path: GalSim draws every component of the galaxy at 424x424 with the PSF."""
    import galsim

    t = dict(t)
    scale = 1.0 / synth.SCALE  # coarse units per final pixel
    fwhm = t["psf_fwhm"]
    core = galsim.Moffat(beta=3.0, fwhm=fwhm) if t["psf_kind"] == "moffat" else galsim.Kolmogorov(fwhm=fwhm)
    psf = 0.93 * core + 0.07 * galsim.Moffat(beta=2.2, fwhm=3.5 * fwhm)
    pa = t["position_angle_deg"] * galsim.degrees
    colours = synth._component_colours(t, rng)
    bt = t["bulge_to_total"]
    comps = []
    if t["kind"] != "galaxy":
        comps.append((galsim.DeltaFunction(flux=1.0), synth._colour(0.5)))
    if t["kind"] == "galaxy" and bt > 0:
        comps.append((galsim.Sersic(n=t["bulge_n"], half_light_radius=max(t["bulge_hlr"], 0.3),
                                    flux=bt).shear(q=t["bulge_q"], beta=pa), colours["bulge"]))
    if t["kind"] == "galaxy" and bt < 1 and t["disk_scale"] > 0:
        a = t["arm_strength"] if t["n_arms"] else 0.0
        disk = galsim.InclinedExponential(t["inclination_deg"] * galsim.degrees,
                                          scale_radius=t["disk_scale"],
                                          scale_h_over_r=t["disk_h_over_r"], flux=(1 - bt) * (1 - a))
        comps.append((disk.rotate(pa), colours["disk"]))
        if a:
            knots = galsim.RandomKnots(max(t["n_knots"], 10) * 5, half_light_radius=1.68 * t["disk_scale"],
                                       flux=(1 - bt) * a, rng=galsim.BaseDeviate(int(rng.integers(1, 2**31))))
            comps.append((knots, colours["arms"]))
        if t["bar"]:
            bar = galsim.Sersic(n=0.6, half_light_radius=1.1 * t["disk_scale"],
                                flux=t["bar_strength"] / 0.6).shear(q=0.28, beta=pa)
            comps.append((bar, colours["bulge"]))
    if t["companion"]:
        ang = rng.uniform(0, 2 * math.pi)
        comp = galsim.Sersic(n=2.0, half_light_radius=max(0.3 * t["hlr"], 1.0), flux=0.05).shift(
            t["companion_dist"] * math.cos(ang), t["companion_dist"] * math.sin(ang))
        comps.append((comp, colours["disk"]))
    bands = np.zeros((3, synth.FINE, synth.FINE))
    img = galsim.ImageD(synth.FINE, synth.FINE, scale=scale)
    for prof, col in comps:
        galsim.Convolve(prof, psf).drawImage(image=img)
        bands += img.array[None] * col[:, None, None] / scale**2
    anchor = _anchor(bands.mean(axis=0), t["hlr"] / scale, t["axis_ratio"])
    unit = synth._slope_inverse(t, anchor) * 2 * math.pi * (fwhm / 2.355) ** 2
    if t["n_field"]:  # field sources: PSF-convolved points, as in the fast path
        half = synth.COARSE / 2
        x, y = rng.uniform(-half, half, (2, t["n_field"]))
        peak = 2.0 * rng.random(t["n_field"]) ** (-1.0 / 1.1)
        pts = galsim.Sum([galsim.DeltaFunction(flux=float(f * unit)).shift(float(a), float(b))
                          for f, a, b in zip(peak, x, y, strict=True)])
        galsim.Convolve(pts, psf).drawImage(image=img)
        bands += img.array[None] / scale**2
    noise = galsim.ImageD(synth.FINE, synth.FINE)
    dev = galsim.BaseDeviate(int(rng.integers(1, 2**31 - 1)))
    sig = t["sky_sigma"] * synth.NOISE_PER_CHANNEL * synth._slope_inverse(t, anchor)
    for b in range(3):
        noise.setZero()
        noise.addNoise(galsim.GaussianNoise(dev, sig))
        bands[b] += noise.array
    out = synth._stretch(bands, t, anchor) + t["sky_level"]
    out *= (255.0 / np.maximum(out.max(axis=0), 255.0))[None]
    return np.clip(out.transpose(1, 2, 0) + 0.5, 0, 255).astype(np.uint8)


def _anchor(intensity: np.ndarray, hlr_px: float, q: float) -> float:
    n = intensity.shape[0]
    y, x = np.ogrid[:n, :n]
    inside = (x - n / 2 + 0.5) ** 2 + (y - n / 2 + 0.5) ** 2 <= (2.3 * max(hlr_px, 1.0)) ** 2
    return float(max(np.quantile(intensity[inside], 1 - 0.05 * max(q, 0.25)), 1e-12))


def _best(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True,
                          check=True).stdout


def _previous_version() -> str:
    """The newest commit whose generator has another VERSION than this one."""
    mine = f'VERSION = "{synth.VERSION}"'
    for commit in _git("log", "--format=%H", "--", "src/helpers/data/synth.py").split():
        if mine not in _git("show", f"{commit}:src/helpers/data/synth.py"):
            return commit
    raise SystemExit("no earlier version of src/helpers/data/synth.py in the history")


def _today(ref: str, folder: Path):
    """The generator as committed at ``ref``, importable by spawned workers (a module on sys.path)."""
    src = _git("show", f"{ref}:src/helpers/data/synth.py")
    (folder / "synth_today.py").write_text(src)
    sys.path.insert(0, str(folder))
    return importlib.import_module("synth_today")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="galaxies for new against today")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--naive", type=int, default=40, help="galaxies for the per-core comparison")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each timing; the best counts")
    ap.add_argument("--ref", default=None,
                    help="git revision of the generator to compare with (default: the newest "
                         "commit with another synth.VERSION)")
    a = ap.parse_args()
    a.ref = a.ref or _previous_version()
    with tempfile.TemporaryDirectory(prefix="bench_synth") as d:
        root = Path(d)
        k = a.naive

        def fast() -> None:
            synth.write_mock(root / "fast", k, seed=0, workers=1, overwrite=True)

        def naive() -> None:
            out = root / "naive"
            out.mkdir(exist_ok=True)
            for i in range(k):
                r_truth, r_image, _ = synth._seeds(0, 0, i)  # the same galaxies as write_mock's
                t = synth._draw_truth(r_truth, 100_000 + i, "train")
                Image.fromarray(naive_draw(t, r_image)).save(out / f"{i}.jpg", quality=synth.JPEG_QUALITY)

        synth._galsim()  # one-off import cost out of both timings
        tf = _best(fast, a.repeat) / k
        tn = _best(naive, a.repeat) / k
        print(f"per core, the same {k} galaxies (best of {a.repeat}): fast path {tf * 1e3:.0f} ms, "
              f"naive full-res GalSim {tn * 1e3:.0f} ms per galaxy; ratio naive/fast {tn / tf:.1f}x")
        today = _today(a.ref, root)
        tt = _best(lambda: today.write_mock(root / "today", a.n, seed=0, workers=a.workers,
                                            overwrite=True), a.repeat)
        tw = _best(lambda: synth.write_mock(root / "new", a.n, seed=0, workers=a.workers,
                                            overwrite=True), a.repeat)
        print(f"{a.n} galaxies with {a.workers} workers (best of {a.repeat}): today's generator "
              f"({a.ref[:10]}, version {today.VERSION}) {tt:.1f} s, this one (version {synth.VERSION}) "
              f"{tw:.1f} s; ratio new/today {tw / tt:.2f}x")


if __name__ == "__main__":
    main()
