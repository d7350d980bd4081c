"""Benchmark of the mock Galaxy Zoo generator (helpers.synth).

Times ``write_mock`` for ``--n`` galaxies with 2 workers, a subset with 1 worker, and a naive
reference: the same galaxies drawn directly at the full 424x424 resolution with GalSim
(every component PSF-convolved by GalSim's FFT), single process, on ``--naive`` galaxies,
extrapolated per image.

    .venv/bin/python benchmarks/bench_synth.py [--n 2000] [--single 200] [--naive 20]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from helpers import synth


def naive_draw(t: dict, rng: np.random.Generator) -> np.ndarray:
    """The straightforward path: GalSim draws every galaxy component at 424x424 with the PSF."""
    import galsim

    scale = 1.0 / synth.SCALE  # coarse units per final pixel
    psf = galsim.Moffat(beta=3.0, fwhm=t["psf_fwhm"]) if t["psf_kind"] == "moffat" else \
        galsim.Kolmogorov(fwhm=t["psf_fwhm"])
    pa = t["position_angle_deg"] * galsim.degrees
    comps = []
    flux = t["flux_r"]
    if t["bulge_to_total"] > 0:
        comps.append((galsim.Sersic(n=t["bulge_n"], half_light_radius=max(t["bulge_hlr"], 0.3),
                                    flux=flux * t["bulge_to_total"]).shear(q=t["bulge_q"], beta=pa),
                      synth._RED))
    if t["disk_scale"] > 0:
        disk = galsim.InclinedExponential(t["inclination_deg"] * galsim.degrees,
                                          scale_radius=t["disk_scale"],
                                          scale_h_over_r=t["disk_h_over_r"],
                                          flux=flux * (1 - t["bulge_to_total"])).rotate(pa)
        comps.append((disk, synth._DISK))
        if t["n_knots"]:
            knots = galsim.RandomKnots(t["n_knots"], half_light_radius=1.68 * t["disk_scale"],
                                       flux=0.12 * flux, rng=galsim.BaseDeviate(1))
            comps.append((knots, synth._BLUE))
    if not comps:
        comps.append((galsim.Gaussian(sigma=0.1, flux=flux), np.ones(3)))
    bands = np.zeros((3, synth.FINE, synth.FINE))
    img = galsim.ImageD(synth.FINE, synth.FINE, scale=scale)
    for prof, col in comps:
        galsim.Convolve(prof, psf).drawImage(image=img)
        bands += img.array[None] * col[:, None, None]
    noise = galsim.ImageD(synth.FINE, synth.FINE)
    dev = galsim.BaseDeviate(int(rng.integers(1, 2**31 - 1)))
    for b in range(3):
        noise.setZero()
        noise.addNoise(galsim.GaussianNoise(dev, t["sky_sigma"] / synth.SCALE))
        bands[b] += noise.array
    g, r, i = bands
    rgb = np.stack([i, 1.2 * r, 1.75 * g])
    inten = np.maximum(rgb.mean(axis=0), 1e-6)
    out = rgb * (np.arcsinh(10 * inten / (9 * t["sky_sigma"])) / 10 / inten)[None]
    return (np.clip(out, 0, 1).transpose(1, 2, 0) * 255).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--single", type=int, default=200, help="galaxies for the 1-worker run")
    ap.add_argument("--naive", type=int, default=20, help="galaxies for the naive reference")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_synth") as d:
        root = Path(d)
        t0 = time.perf_counter()
        synth.write_mock(root / "two", a.n, seed=0, workers=2)
        t2 = time.perf_counter() - t0
        t0 = time.perf_counter()
        synth.write_mock(root / "one", a.single, seed=0, workers=1)
        t1 = (time.perf_counter() - t0) / a.single
        out = root / "naive"
        out.mkdir()
        t0 = time.perf_counter()
        for k in range(a.naive):
            r_truth, r_image, _ = synth._seeds(0, 0, k)
            t = synth._draw_truth(r_truth, 100_000 + k, "train")
            Image.fromarray(naive_draw(t, r_image)).save(out / f"{k}.jpg", quality=90)
        tn = (time.perf_counter() - t0) / a.naive
    rate2 = a.n / t2
    print(f"2 workers: {a.n} galaxies in {t2:.1f} s ({rate2:.1f} img/s, "
          f"{2 * t2 / a.n * 1e3:.0f} ms per image per core)")
    print(f"1 worker : {t1 * 1e3:.0f} ms per image ({1 / t1:.1f} img/s) on {a.single} galaxies; "
          f"{a.n} would take {t1 * a.n:.1f} s; parallel speed-up {t1 * a.n / t2:.2f}x")
    print(f"naive full-res GalSim draw: {tn * 1e3:.0f} ms per image on {a.naive} galaxies; "
          f"{a.n} would take {tn * a.n:.1f} s single-process")
    print(f"synth: {a.n} galaxies in {t2:.1f} s ({rate2:.1f} img/s, 2 workers); "
          f"speed-up vs naive full-res draw: {tn * a.n / t2:.1f}x"
          + ("" if math.isfinite(t2) else ""))


if __name__ == "__main__":
    main()
