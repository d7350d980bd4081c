"""A mock Galaxy Zoo: SDSS-like cutouts and simulated volunteer votes, in the Kaggle layout.

The real "Galaxy Zoo - The Galaxy Challenge" data cannot be downloaded where this project is
built, so :func:`write_mock` writes a stand-in with exactly its layout::

    OUT/training_solutions_rev1.csv        GalaxyID + 37 cumulative vote fractions
    OUT/images_training_rev1/<id>.jpg      424x424 RGB JPEG, galaxy centred
    OUT/images_test_rev1/<id>.jpg          (n_test > 0) extra galaxies without rows
    OUT/ground_truth.csv                   drawn class and structural parameters (mock only)
    OUT/mock.json                          generator, version, n, n_test, seed, label counts

The model, per galaxy (all of it drawn from a per-galaxy random stream, see below):

1. **Truth.** A class is drawn with Galaxy-Zoo-like frequencies (:data:`CLASS_WEIGHTS`): round
   ellipticals (completely round / in between / cigar, from the drawn axis ratio), edge-on disks
   (rounded / boxy / no bulge), face-on-ish disks with or without spiral arms, and a few stars or
   artifacts. Then the structure: Sersic bulge (n, half-light radius, axis ratio), bulge-to-total,
   exponential disk (scale length, thickness, inclination, position angle), logarithmic spiral
   arms (number 1-6, pitch angle, strength), bar, star-forming knots, ring, dust lane, an odd
   feature, magnitude, seeing, sky noise, neighbour stars, companion galaxies, satellite trails.
2. **Image.** Profiles come from GalSim (``Sersic``, ``InclinedExponential``, bars as flattened
   Sersics, boxy bulges as an X of two flattened Sersics), drawn without the pixel on a coarse
   160 px grid (2x oversampled, then binned, which integrates over the pixel). Arms, rings and
   dust lanes are numpy modulations of the GalSim disk in the deprojected disk plane
   (``I ~ disk(r) * ((1 + cos(m (theta - ln r / tan(pitch)))) / 2) ** p``); knots, stars,
   diffraction spikes and trails are point deposits. Each component has its own g, r, i colour
   (red bulges, bluer disks, blue arms and knots); each band is convolved once with a GalSim
   Moffat or Kolmogorov PSF (FFT in numpy), gets GalSim ``CCDNoise`` (sky + Poisson), and the
   three bands become an 8-bit RGB image with the Lupton et al. (2004) asinh stretch, resampled
   bicubically to 424x424 like the smooth Kaggle cutouts, then JPEG (quality 90).
3. **Votes.** 30-50 simulated volunteers walk the Galaxy Zoo 2 tree (:mod:`helpers.schema`).
   Each answers from probabilities set by the truth, blurred by visibility (size over seeing,
   signal to noise, inclination, arm contrast) and by a per-volunteer temperature and guessing
   rate. Fractions are counts over volunteers accumulated down the tree, so every tree sum holds
   exactly (up to the 6-decimal rounding of the CSV).

Determinism: galaxy ``k`` of split ``s`` uses ``numpy.random.SeedSequence([seed, s, k])`` (one
child stream each for truth, image and votes; GalSim's ``BaseDeviate`` is seeded from the image
stream), and GalaxyIDs come from a fixed permutation of 100000-999999 drawn from ``seed``
(training galaxies from its front, test galaxies from its back). So the output is byte-identical
for any number of workers, and a galaxy keeps its ID and looks the same whatever ``n`` is.

Sizes in ``ground_truth.csv`` are in pixels of the final 424 px image; angles in degrees.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

from helpers import schema
from helpers.errors import ParameterError, UserError

GENERATOR = "helpers.synth"
VERSION = "1.0"

FINE = schema.IMAGE_SIZE  # final image size (424)
COARSE = 160  # drawing grid; resampled to FINE at the end
OVERSAMPLE = 2  # analytic profiles are sampled 2x finer, then binned
SCALE = FINE / COARSE  # final pixels per coarse pixel
JPEG_QUALITY = 90
ZERO_POINT = 28.5
GAIN = 1.0  # counts per photo-electron  # r-band counts = 10 ** (-0.4 * (mag - ZERO_POINT))

CLASS_WEIGHTS: dict[str, float] = {
    "round: completely round": 0.12,
    "round: in between": 0.25,
    "round: cigar-shaped": 0.06,
    "edge-on disk: rounded bulge": 0.06,
    "edge-on disk: boxy bulge": 0.012,
    "edge-on disk: no bulge": 0.04,
    "disk: spiral": 0.33,
    "disk: no spiral": 0.12,
    "star or artifact": 0.015,
}
ODD_FEATURES = schema.QUESTIONS[8].answers  # ring, lens or arc, disturbed, irregular, other, merger, dust lane

# g, r, i flux per unit r flux of each component
_RED = np.array([0.42, 1.0, 1.38])
_DISK = np.array([0.66, 1.0, 1.18])
_BLUE = np.array([1.0, 1.0, 0.86])

_COL_INDEX = {c: i for i, c in enumerate(schema.COLUMNS)}
_SERIES = ("train", "test")


# --------------------------------------------------------------------------------------------
# truth


def _seeds(seed: int, split: int, index: int) -> list[np.random.Generator]:
    """Three independent generators (truth, image, votes) for one galaxy."""
    ss = np.random.SeedSequence([int(seed), int(split), int(index)])
    return [np.random.default_rng(s) for s in ss.spawn(3)]


def _galaxy_ids(seed: int, n: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Training IDs (front of a seeded permutation) and test IDs (its back)."""
    perm = np.random.default_rng(np.random.SeedSequence([int(seed), 7])).permutation(900_000)
    ids = perm + 100_000
    train = ids[:n]
    test = ids[len(ids) - n_test:] if n_test else ids[:0]
    return train, test


def _draw_truth(rng: np.random.Generator, galaxy_id: int, split: str) -> dict[str, Any]:
    """Draw the class and structural parameters of one galaxy (coarse-pixel units inside)."""
    labels = list(CLASS_WEIGHTS)
    w = np.array(list(CLASS_WEIGHTS.values()))
    label = labels[int(rng.choice(len(labels), p=w / w.sum()))]
    t: dict[str, Any] = {
        "GalaxyID": int(galaxy_id), "true_label": label, "split": split,
        "kind": "galaxy", "r_mag": 0.0, "bulge_n": 0.0, "bulge_hlr": 0.0, "bulge_q": 1.0,
        "bulge_to_total": 0.0, "boxy": False, "disk_scale": 0.0, "disk_h_over_r": 0.0,
        "inclination_deg": 0.0, "position_angle_deg": float(rng.uniform(0, 180)),
        "n_arms": 0, "pitch_deg": 0.0, "arm_strength": 0.0, "chirality": int(rng.choice([-1, 1])),
        "bar": False, "bar_strength": 0.0, "n_knots": 0, "ring": False, "dust_lane": False,
        "odd_feature": "", "companion": False, "companion_dist": 0.0, "n_stars": 0,
        "trail": False, "psf_fwhm": 0.0, "psf_kind": "", "sky_sigma": 0.0,
        "axis_ratio": 1.0, "hlr": 0.0, "snr": 0.0, "visibility": 0.0,
    }
    mag = float(np.clip(17.77 - rng.exponential(0.85), 13.0, 17.77))
    t["r_mag"] = mag
    t["flux_r"] = 10 ** (-0.4 * (mag - ZERO_POINT))
    # size grows with brightness (angular size ~ 10**(-0.2 m)), with scatter; coarse px
    base = 9.5 * 10 ** (-0.2 * (mag - 17.0)) * math.exp(rng.normal(0, 0.35))
    base = float(np.clip(base, 2.0, COARSE / 5.0))
    if label.startswith("round"):
        q = {"round: completely round": (0.82, 1.0), "round: in between": (0.5, 0.8),
             "round: cigar-shaped": (0.22, 0.47)}[label]
        t.update(bulge_n=float(np.round(rng.uniform(2.5, 5.5) * 4) / 4), bulge_hlr=base,
                 bulge_q=float(rng.uniform(*q)), bulge_to_total=1.0, axis_ratio=0.0)
        t["axis_ratio"] = t["bulge_q"]
        t["hlr"] = base
    elif label.startswith("edge-on") or label.startswith("disk"):
        h = base / 1.68 * float(rng.uniform(0.9, 1.4))
        t["disk_scale"] = h
        if label.startswith("edge-on"):
            inc = float(rng.uniform(82, 90))
            t["disk_h_over_r"] = float(rng.uniform(0.06, 0.16))
            if label.endswith("rounded bulge"):
                bt = float(rng.uniform(0.15, 0.5))
                t.update(bulge_n=float(rng.choice([2.0, 2.5, 3.0, 3.5, 4.0])),
                         bulge_q=float(rng.uniform(0.75, 1.0)))
            elif label.endswith("boxy bulge"):
                bt = float(rng.uniform(0.2, 0.45))
                t.update(bulge_n=1.0, bulge_q=0.5, boxy=True)
            else:
                bt = float(rng.uniform(0.0, 0.03))
                t.update(bulge_n=2.0, bulge_q=0.9)
            t["bulge_hlr"] = h * float(rng.uniform(0.45, 0.8))
            t["dust_lane"] = bool(rng.random() < 0.3 and inc > 85)
        else:
            spiral = label == "disk: spiral"
            inc = float(math.degrees(math.acos(rng.uniform(math.cos(math.radians(72)), 1.0))))
            t["disk_h_over_r"] = float(rng.uniform(0.1, 0.2))
            bt = float(rng.beta(2.0, 5.0) if spiral else rng.uniform(0.2, 0.7))
            t.update(bulge_n=float(rng.choice([1.5, 2.0, 2.5, 3.0, 3.5, 4.0])),
                     bulge_q=float(rng.uniform(0.75, 1.0)),
                     bulge_hlr=h * float(rng.uniform(0.25, 0.6)))
            if spiral:
                m = int(rng.choice([1, 2, 3, 4, 5, 6], p=[0.04, 0.5, 0.2, 0.13, 0.07, 0.06]))
                t.update(n_arms=m, pitch_deg=float(rng.uniform(7, 38)),
                         arm_strength=float(rng.uniform(0.35, 0.75)),
                         n_knots=int(rng.integers(8, 60)))
            t["bar"] = bool(rng.random() < (0.3 if spiral else 0.2))
            if t["bar"]:
                t["bar_strength"] = float(rng.uniform(0.08, 0.25))
            t["ring"] = bool(rng.random() < (0.05 if spiral else 0.15))
        t["inclination_deg"] = inc
        t["bulge_to_total"] = bt
        cos_i = math.cos(math.radians(inc))
        t["axis_ratio"] = float(math.hypot(cos_i, t["disk_h_over_r"]))
        t["hlr"] = 1.68 * h * (1 - bt) + t["bulge_hlr"] * bt
    else:  # star or artifact
        t["kind"] = str(rng.choice(["star", "star", "star", "bleed", "ghost", "trail"]))
        t["r_mag"] = mag = float(rng.uniform(11.5, 15.0))
        t["flux_r"] = 10 ** (-0.4 * (mag - ZERO_POINT))
        t["hlr"] = 1.0
    # odd features (everyone can have one)
    odd = ""
    if t["ring"]:
        odd = "ring"
    elif t["dust_lane"]:
        odd = "dust lane"
    elif t["kind"] == "galaxy" and rng.random() < 0.1:
        odd = str(rng.choice(["disturbed", "irregular", "merger", "merger", "lens or arc", "other"]))
    t["odd_feature"] = odd
    # environment and observation
    t["companion"] = bool(odd == "merger" or rng.random() < 0.25)
    t["companion_dist"] = float(
        (1.2 + rng.uniform(0, 1.0)) * max(t["hlr"], 3.0) if odd == "merger"
        else rng.uniform(25, 70))
    t["n_stars"] = int(rng.poisson(1.3))
    t["trail"] = bool(t["kind"] == "trail" or rng.random() < 0.03)
    t["psf_kind"] = "moffat" if rng.random() < 0.6 else "kolmogorov"
    t["psf_fwhm"] = float(rng.uniform(1.1, 2.3))
    t["sky_sigma"] = float(rng.uniform(12.0, 22.0))
    # visibility of structure: size over seeing and signal to noise
    res = t["hlr"] / t["psf_fwhm"]
    npix = math.pi * (4 * t["hlr"] ** 2 + t["psf_fwhm"] ** 2)
    t["snr"] = float(t["flux_r"] / (t["sky_sigma"] * math.sqrt(npix) + 1e-9))
    t["visibility"] = float((1 - math.exp(-res / 2.0)) * (1 - math.exp(-t["snr"] / 60.0)))
    return t


# --------------------------------------------------------------------------------------------
# image


def _grid(dx: float, dy: float, n: int, os_: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (coarse px) of the centres of an oversampled grid, relative to the galaxy."""
    c = (np.arange(n * os_) + 0.5) / os_ - n / 2
    return c[None, :] - dx, c[:, None] - dy


def _bin(a: np.ndarray, os_: int) -> np.ndarray:
    n = a.shape[0] // os_
    return a.reshape(n, os_, n, os_).sum(axis=(1, 3))


def _deposit(layer: np.ndarray, x: np.ndarray, y: np.ndarray, f: np.ndarray) -> None:
    """Add point fluxes at coarse positions (relative to the canvas centre) with bilinear weights."""
    n = layer.shape[-1]
    px = np.asarray(x, float) + n / 2 - 0.5
    py = np.asarray(y, float) + n / 2 - 0.5
    f = np.broadcast_to(np.asarray(f, float), px.shape)
    x0 = np.floor(px).astype(int)
    y0 = np.floor(py).astype(int)
    fx = px - x0
    fy = py - y0
    for ox, oy, wgt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                        (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi = x0 + ox
        yi = y0 + oy
        ok = (xi >= 0) & (xi < n) & (yi >= 0) & (yi < n)
        np.add.at(layer, (yi[ok], xi[ok]), f[ok] * wgt[ok])


def _line(layer: np.ndarray, x0: float, y0: float, ang: float, length: float, flux_per_px: float,
          fall: float = 0.0) -> None:
    """Deposit a straight line (a trail, or a spike falling off as 1/d**fall from its start)."""
    s = np.arange(0.5, length, 0.5)
    f = flux_per_px * 0.5 * (1.0 / (1.0 + s) ** fall if fall else np.ones_like(s))
    _deposit(layer, x0 + s * math.cos(ang), y0 + s * math.sin(ang), f)


def _psf_kernel(t: dict[str, Any], galsim: Any, size: int = 33) -> np.ndarray:
    """The seeing PSF (core + faint wide wing), integrated over coarse pixels, unit sum."""
    if t["psf_kind"] == "moffat":
        psf = galsim.Moffat(beta=3.0, fwhm=t["psf_fwhm"])
    else:
        psf = galsim.Kolmogorov(fwhm=t["psf_fwhm"])
    psf = 0.93 * psf + 0.07 * galsim.Moffat(beta=2.2, fwhm=3.5 * t["psf_fwhm"])
    os_ = OVERSAMPLE
    # odd size: the kernel's centre falls on the centre of a coarse pixel
    k = psf.drawImage(nx=size * os_, ny=size * os_, scale=1.0 / os_, method="no_pixel").array
    k = _bin(k, os_)
    return k / k.sum()


def _convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """FFT convolution of each band with a centred kernel (zero padded, same size)."""
    n = img.shape[-1]
    k = kernel.shape[0]
    m = n + k - 1  # no wrap-around (192 for 160 + 33: a fast FFT size)
    kpad = np.zeros((m, m))
    kpad[:k, :k] = kernel
    kpad = np.roll(kpad, (-(k // 2), -(k // 2)), axis=(0, 1))
    fk = np.fft.rfft2(kpad)
    out = np.fft.irfft2(np.fft.rfft2(img, s=(m, m)) * fk, s=(m, m))
    return out[..., :n, :n]


def _galsim() -> Any:
    """Import GalSim with its OpenMP pool limited to one thread.

    GalSim's libgomp threads do not survive ``fork``: a parent that once drew with several
    OpenMP threads deadlocks its forked workers. One thread per process is also what a
    process pool wants.
    """
    import galsim

    global _GALSIM_READY
    if not _GALSIM_READY:
        galsim.utilities.set_omp_threads(1)
        _GALSIM_READY = True
    return galsim


_GALSIM_READY = False


def _render_bands(t: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """The noisy g, r, i images (3, COARSE, COARSE) of one galaxy, in counts above sky."""
    galsim = _galsim()

    n, os_ = COARSE, OVERSAMPLE
    bands = np.zeros((3, n, n))
    dx, dy = rng.uniform(-0.5, 0.5, 2)
    pa = math.radians(t["position_angle_deg"])
    flux = t["flux_r"]
    big = galsim.ImageD(n * os_, n * os_, scale=1.0 / os_)
    offset = galsim.PositionD(dx * os_, dy * os_)

    def draw(prof: Any) -> np.ndarray:
        prof.drawImage(image=big, method="no_pixel", offset=offset)
        return big.array.copy()

    points = np.zeros((3, n, n))  # pre-PSF point deposits per band
    kind = t["kind"]
    if kind == "galaxy":
        bt = t["bulge_to_total"]
        bulge_img = None
        if bt > 0:
            if t["boxy"]:
                lobe = galsim.Sersic(n=1.0, half_light_radius=t["bulge_hlr"]).shear(
                    q=0.42, beta=0 * galsim.radians)
                core = galsim.Sersic(n=2.0, half_light_radius=0.5 * t["bulge_hlr"])
                prof = (0.38 * lobe.rotate(0.42 * galsim.radians)
                        + 0.38 * lobe.rotate(-0.42 * galsim.radians) + 0.24 * core)
                prof = prof.rotate(pa * galsim.radians)
            else:
                prof = galsim.Sersic(n=t["bulge_n"], half_light_radius=t["bulge_hlr"]).shear(
                    q=t["bulge_q"], beta=pa * galsim.radians)
            bulge_img = draw(prof)
            bands += _bin(bulge_img, os_)[None] * (flux * bt) * _RED[:, None, None]
        if t["disk_scale"] > 0:
            h = t["disk_scale"]
            inc = math.radians(t["inclination_deg"])
            cos_i = math.cos(inc)
            if t["inclination_deg"] > 65:  # thickness shows: the (slower, k-space) 3-D disk
                disk = galsim.InclinedExponential(
                    inc * galsim.radians, scale_radius=h, scale_h_over_r=t["disk_h_over_r"])
            else:  # a thin disk is a flattened exponential (fast real-space drawing)
                disk = galsim.Exponential(scale_radius=h).transform(1.0, 0.0, 0.0, cos_i)
            disk = disk.rotate(pa * galsim.radians)
            disk_img = draw(disk)
            x, y = _grid(dx, dy, n, os_)
            u = x * math.cos(pa) + y * math.sin(pa)
            w = -x * math.sin(pa) + y * math.cos(pa)
            r = np.hypot(u, w / max(cos_i, 0.05))
            theta = np.arctan2(w / max(cos_i, 0.05), u)
            f_disk = flux * (1 - bt)
            smooth = disk_img
            if t["n_arms"]:
                m = t["n_arms"]
                a = t["arm_strength"]
                cot = t["chirality"] / math.tan(math.radians(t["pitch_deg"]))
                phase0 = rng.uniform(0, 2 * math.pi)
                lnr = np.log(np.maximum(r, 0.05) / h)
                pattern = (0.5 * (1 + np.cos(m * (theta - cot * lnr) + phase0))) ** 3
                taper = 1 - np.exp(-((r / (0.9 * h)) ** 2))
                arms = disk_img * pattern * taper
                arms *= disk_img.sum() / max(arms.sum(), 1e-12)
                bands += _bin(arms, os_)[None] * (f_disk * a) * _BLUE[:, None, None]
                smooth = disk_img * (1 - a)
                # knots along the arm ridges
                nk = t["n_knots"]
                rk = rng.gamma(2.5, h, nk) + 0.6 * h
                arm_k = rng.integers(0, m, nk)
                th = cot * np.log(rk / h) + (2 * math.pi * arm_k - phase0) / m
                th += rng.normal(0, 0.12, nk)
                xd, yd = rk * np.cos(th), rk * np.sin(th) * cos_i
                kx = dx + xd * math.cos(pa) - yd * math.sin(pa)
                ky = dy + xd * math.sin(pa) + yd * math.cos(pa)
                kf = rng.exponential(1.0, nk)
                kf *= 0.12 * f_disk / kf.sum()
                for b in range(3):
                    _deposit(points[b], kx, ky, kf * _BLUE[b] * 1.1)
            bands += _bin(smooth, os_)[None] * f_disk * _DISK[:, None, None]
            if t["bar"]:
                bar = galsim.Sersic(n=0.6, half_light_radius=1.1 * h).shear(
                    q=0.28, beta=0 * galsim.radians)
                bar = bar.rotate(rng.uniform(0, math.pi) * galsim.radians)
                bar = bar.transform(1.0, 0.0, 0.0, max(cos_i, 0.1)).rotate(pa * galsim.radians)
                bands += _bin(draw(bar), os_)[None] * (flux * t["bar_strength"]) * (
                    0.5 * (_RED + _DISK))[:, None, None]
            if t["ring"]:
                rr = h * rng.uniform(1.8, 2.8)
                ring = disk_img * np.exp(-0.5 * ((r - rr) / (0.12 * rr)) ** 2)
                ring *= 1.0 / max(ring.sum(), 1e-12)
                bands += _bin(ring, os_)[None] * (0.18 * f_disk) * _BLUE[:, None, None]
            if t["dust_lane"]:
                lane = 1 - 0.75 * np.exp(-0.5 * (w / (0.5 * t["disk_h_over_r"] * h + 0.3)) ** 2)
                lane = lane * np.exp(-0.5 * (u / (3 * h)) ** 2) + (1 - np.exp(-0.5 * (u / (3 * h)) ** 2))
                bands *= _bin(lane, os_)[None] / os_**2
        odd = t["odd_feature"]
        if odd in ("disturbed", "irregular"):
            # lopsided clumps of star formation scattered over the galaxy
            nk = int(rng.integers(10, 30))
            sc = max(t["hlr"], 2.0)
            kx = dx + rng.normal(0.4 * sc, 0.6 * sc, nk) * (1 if rng.random() < 0.5 else -1)
            ky = dy + rng.normal(0, 0.6 * sc, nk)
            kf = rng.exponential(1.0, nk)
            kf *= (0.25 if odd == "irregular" else 0.12) * flux / kf.sum()
            for b in range(3):
                _deposit(points[b], kx, ky, kf * _BLUE[b])
        if odd == "lens or arc":
            rad = max(t["hlr"], 3.0) * rng.uniform(1.5, 2.5)
            ph = rng.uniform(0, 2 * math.pi)
            th = ph + np.linspace(-0.6, 0.6, 60)
            for b in range(3):
                _deposit(points[b], dx + rad * np.cos(th), dy + rad * np.sin(th),
                         0.06 * flux / 60 * _BLUE[b] * 1.2)
    else:
        # a bright star: core + wide halo + diffraction spikes (drawn as points, PSF'd below)
        gr = rng.uniform(0.45, 0.9)
        col = np.array([gr, 1.0, 1.0 / math.sqrt(gr)])
        sflux = flux if kind != "ghost" else flux * 0.2
        if kind in ("star", "bleed"):
            for b in range(3):
                _deposit(points[b], np.array([dx]), np.array([dy]), sflux * col[b])
            halo = galsim.Moffat(beta=1.8, fwhm=4.0 * t["psf_fwhm"])
            himg = _bin(draw(halo), os_)
            bands += himg[None] * 0.45 * sflux * col[:, None, None]
            for k in range(4):
                for b in range(3):
                    _line(points[b], dx, dy, k * math.pi / 2, n / 3.5, 0.01 * sflux * col[b], 1.5)
            if kind == "bleed":
                for b in range(3):
                    _line(points[b], dx, dy - n / 2, math.pi / 2, n, 0.004 * sflux * col[b])
        if kind == "ghost":
            x, y = _grid(dx, dy, n, os_)
            r = np.hypot(x, y)
            rr = rng.uniform(10, 25)
            ring = np.exp(-0.5 * ((r - rr) / (0.25 * rr)) ** 2)
            ring /= ring.sum()
            bands += _bin(ring, os_)[None] * sflux * np.array([0.8, 1.0, 0.9])[:, None, None]
    # companions
    if t["companion"]:
        ang = rng.uniform(0, 2 * math.pi)
        cx = dx + t["companion_dist"] * math.cos(ang)
        cy = dy + t["companion_dist"] * math.sin(ang)
        cf = flux * rng.uniform(0.15, 0.7) if t["odd_feature"] == "merger" else 10 ** (
            -0.4 * (rng.uniform(16.5, 19.5) - ZERO_POINT))
        chlr = float(np.clip(rng.lognormal(math.log(3.0), 0.4), 1.0, 12.0))
        cprof = galsim.Sersic(n=float(rng.choice([1.0, 2.0, 4.0])), half_light_radius=chlr).shear(
            q=rng.uniform(0.3, 1.0), beta=rng.uniform(0, math.pi) * galsim.radians)
        cprof.drawImage(image=big, method="no_pixel",
                        offset=galsim.PositionD(cx * os_, cy * os_))
        ccol = _RED if rng.random() < 0.5 else _DISK
        bands += _bin(big.array, os_)[None] * cf * ccol[:, None, None]
        if t["odd_feature"] == "merger":  # a tidal tail arcing away
            s = np.linspace(0, 1, 80)
            ta = ang + math.pi + rng.choice([-1, 1]) * 1.6 * s
            tr = max(t["hlr"], 3.0) * (1 + 2.5 * s)
            for b in range(3):
                _deposit(points[b], dx + tr * np.cos(ta), dy + tr * np.sin(ta),
                         0.08 * flux / 80 * _DISK[b])
    # neighbour stars
    for _ in range(t["n_stars"]):
        sx, sy = rng.uniform(-n / 2, n / 2, 2)
        if math.hypot(sx, sy) < 12:
            sx += 14 * np.sign(sx)
        sf = 10 ** (-0.4 * (rng.uniform(14.5, 21.0) - ZERO_POINT))
        gr = rng.uniform(0.35, 1.15)
        for b, c in enumerate((gr, 1.0, 1.0 / math.sqrt(gr))):
            _deposit(points[b], np.array([sx]), np.array([sy]), sf * c)
    # satellite trail: the bands were exposed at different times, so the line shifts per band
    if t["trail"]:
        ang = rng.uniform(0, math.pi)
        off = rng.uniform(-25, 25) if kind != "trail" else rng.uniform(-3, 3)
        nx_, ny_ = -math.sin(ang), math.cos(ang)
        fl = 10 ** (-0.4 * (rng.uniform(23.0, 25.0) - ZERO_POINT))
        start = -n
        for b in range(3):
            o = off + (b - 1) * 1.5
            _line(points[b], o * nx_ + start * math.cos(ang), o * ny_ + start * math.sin(ang), ang,
                  2 * n, fl)
    bands += points
    bands = _convolve(bands, _psf_kernel(t, galsim))
    # sky + photon noise per band on the coarse grid (Gaussian approximation of CCD noise,
    # variance = sky + signal), drawn with a GalSim deviate seeded from this galaxy's stream
    dev = galsim.GaussianDeviate(galsim.BaseDeviate(int(rng.integers(1, 2**31 - 1))))
    unit = np.zeros_like(bands)
    dev.generate(unit)
    sky = t["sky_sigma"] ** 2 * np.array([0.55, 1.0, 1.6])[:, None, None]
    bands += unit * np.sqrt(sky + np.maximum(bands, 0.0) / GAIN)
    return bands


def _to_rgb(bands: np.ndarray, sky_sigma: float) -> np.ndarray:
    """Lupton et al. (2004) asinh colour image (i, r, g -> R, G, B), resampled to FINE x FINE.

    The linear-to-logarithmic turnover and the black point follow the sky noise, so the
    background is dark with faint noise and bright cores saturate to their own colour.
    """
    from PIL import Image

    g, r, i = bands
    rgb = np.stack([i * 1.0, r * 1.2, g * 1.75])
    soft = 9.0 * sky_sigma  # where the stretch turns from linear to logarithmic
    q = 10.0
    intensity = rgb.mean(axis=0) - 0.45 * sky_sigma  # black point just above the sky
    pos = np.maximum(intensity, 1e-6)
    f = np.arcsinh(q * pos / soft) / q
    out = np.clip(rgb - 0.45 * sky_sigma, 0, None) * (f / np.maximum(rgb.mean(axis=0) - 0.45 * sky_sigma, 1e-6))[None]
    out = np.where(intensity[None] > 0, out * 0.85, 0.0)
    peak = out.max(axis=0)
    out = out / np.maximum(peak, 1.0)[None]  # keep the hue where saturated
    arr = np.ascontiguousarray((out.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8))
    return np.asarray(Image.fromarray(arr, "RGB").resize((FINE, FINE), Image.Resampling.BICUBIC))


def _draw_galaxy(t: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """The 424x424x3 uint8 image of one galaxy (the per-galaxy drawing step)."""
    return _to_rgb(_render_bands(t, rng), t["sky_sigma"])


# --------------------------------------------------------------------------------------------
# volunteers


def _soft(centres: list[float], x: float, width: float) -> np.ndarray:
    d = (np.asarray(centres, float) - x) / max(width, 1e-3)
    p = np.exp(-0.5 * d * d)
    return p / p.sum()


def _mix(p: np.ndarray | list[float], amount: float) -> np.ndarray:
    """Blend towards uniform by ``amount`` (0: unchanged, 1: uniform)."""
    p = np.asarray(p, float)
    p = p / p.sum()
    return (1 - amount) * p + amount / len(p)


def _answer_probs(t: dict[str, Any]) -> dict[int, np.ndarray]:
    """Probabilities a typical volunteer gives each answer of each question, from the truth."""
    label = t["true_label"]
    v = t["visibility"]
    fuzzy = 1 - v
    inc = t["inclination_deg"]
    face = math.cos(math.radians(min(inc, 89.0))) ** 0.5
    bt = t["bulge_to_total"]
    P: dict[int, np.ndarray] = {}
    if label == schema.STAR_LABEL:
        P[1] = _mix([0.22, 0.08, 0.70], 0.1)
    elif label.startswith("round"):
        pf = 0.1 + 0.25 * max(0.0, 0.55 - t["axis_ratio"])
        P[1] = np.array([1 - pf - 0.02, pf, 0.02])
    elif label.startswith("edge-on"):
        pf = 0.3 + 0.6 * v
        P[1] = np.array([1 - pf - 0.01, pf, 0.01])
    elif label == "disk: spiral":
        vis = v * (0.55 + 0.8 * t["arm_strength"]) * (0.5 + 0.5 * face)
        pf = float(np.clip(0.12 + 0.95 * vis, 0.05, 0.95))
        P[1] = np.array([1 - pf - 0.01, pf, 0.01])
    else:  # disk: no spiral (S0-like): often called smooth
        pf = float(np.clip(0.2 + 0.75 * v * (1.1 - 0.6 * bt), 0.05, 0.92))
        P[1] = np.array([1 - pf - 0.01, pf, 0.01])
    # Q2 edge-on
    if label.startswith("edge-on"):
        P[2] = _mix([0.92, 0.08], 0.5 * fuzzy)
    elif label.startswith("disk"):
        e = 1 / (1 + math.exp(-(inc - 76.0) / 3.0))
        P[2] = _mix([e + 0.03, 1 - e + 0.03], 0.3 * fuzzy)
    else:
        e = float(np.clip(0.7 - t["axis_ratio"], 0.02, 0.7))
        P[2] = np.array([e, 1 - e])
    # Q3 bar
    pb = 0.06 + (0.85 * v * face * min(1.0, t["bar_strength"] / 0.12) if t["bar"] else 0.0)
    P[3] = np.array([pb, 1 - pb])
    # Q4 spiral
    if t["n_arms"]:
        ps = float(np.clip(0.25 + 0.9 * v * (0.5 + t["arm_strength"]) * face, 0.1, 0.95))
    else:
        ps = 0.08 + 0.2 * fuzzy
    P[4] = np.array([ps, 1 - ps])
    # Q5 bulge prominence
    P[5] = _soft([0.0, 0.12, 0.35, 0.7], bt, 0.09 + 0.15 * fuzzy)
    # Q6 odd, Q8 what
    odd = t["odd_feature"]
    po = 0.06 + 0.05 * t["companion"] + 0.25 * t["trail"] + 0.04 * t["n_stars"]
    if odd:
        po += 0.3 + 0.45 * v
    po = min(po, 0.95)
    P[6] = np.array([po, 1 - po])
    if odd:
        p8 = np.full(7, 0.03)
        p8[ODD_FEATURES.index(odd)] += 0.75
    else:
        p8 = np.array([0.03, 0.05, 0.12, 0.08, 0.5, 0.15 + 0.3 * t["companion"], 0.03])
    P[8] = _mix(p8, 0.3 * fuzzy)
    # Q7 roundness from the apparent axis ratio
    P[7] = _soft([0.93, 0.63, 0.33], t["axis_ratio"], 0.09 + 0.1 * fuzzy)
    # Q9 edge-on bulge
    if t["boxy"]:
        p9 = [0.35, 0.55, 0.10]
    elif bt < 0.05:
        p9 = [0.22, 0.04, 0.74]
    else:
        p9 = [0.8, 0.08, 0.12]
    P[9] = _mix(p9, 0.4 * fuzzy)
    # Q10 tightness, Q11 arm number
    pitch = t["pitch_deg"] if t["n_arms"] else 20.0
    P[10] = _soft([10.0, 20.0, 32.0], pitch, 6 + 8 * fuzzy)
    m = t["n_arms"]
    p11 = np.full(6, 0.03)
    if m:
        k = min(m, 5) - 1
        p11[k] += 0.8 * v
        if k > 0:
            p11[k - 1] += 0.15
        if k < 4:
            p11[k + 1] += 0.15
    p11[5] += 0.15 + 0.6 * fuzzy
    P[11] = p11 / p11.sum()
    return P


def _votes(t: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Simulate volunteers walking the tree; return the 37 cumulative fractions and their number."""
    nv = int(rng.integers(30, 51))
    P = _answer_probs(t)
    beta = rng.lognormal(0.0, 0.35, nv)  # per-volunteer confidence (temperature)
    eps = rng.beta(1.0, 10.0, nv)  # per-volunteer guessing rate
    ans: dict[int, np.ndarray] = {}
    for qn, p in P.items():
        pv = np.maximum(p, 1e-9)[None, :] ** beta[:, None]
        pv /= pv.sum(axis=1, keepdims=True)
        pv = (1 - eps[:, None]) * pv + eps[:, None] / p.size
        u = rng.random(nv)
        ans[qn] = np.minimum((u[:, None] > np.cumsum(pv, axis=1)).sum(axis=1), p.size - 1)
    counts = np.zeros(len(schema.COLUMNS))
    reach = {1: np.ones(nv, bool), 6: np.ones(nv, bool)}
    reach[7] = ans[1] == 0
    reach[2] = ans[1] == 1
    reach[9] = reach[2] & (ans[2] == 0)
    reach[3] = reach[4] = reach[5] = reach[2] & (ans[2] == 1)
    reach[10] = reach[11] = reach[4] & (ans[4] == 0)
    reach[8] = ans[6] == 0
    for qn, q in schema.QUESTIONS.items():
        a = ans[qn][reach[qn]]
        base = _COL_INDEX[q.columns[0]]
        counts[base:base + len(q.answers)] += np.bincount(a, minlength=len(q.answers))
    return counts / nv, nv


# --------------------------------------------------------------------------------------------
# driver


def _make_one(seed: int, split: int, index: int, galaxy_id: int, folder: Path
              ) -> tuple[dict[str, Any], np.ndarray]:
    """Truth, votes and image (written to ``folder``) of one galaxy."""
    from PIL import Image

    r_truth, r_image, r_votes = _seeds(seed, split, index)
    t = _draw_truth(r_truth, galaxy_id, _SERIES[split])
    fractions, nv = _votes(t, r_votes)
    t["n_volunteers"] = nv
    img = _draw_galaxy(t, r_image)
    Image.fromarray(img, "RGB").save(folder / f"{galaxy_id}.jpg", quality=JPEG_QUALITY)
    return t, fractions


def _work_chunk(seed: int, jobs: list[tuple[int, int, int]], root: str
                ) -> list[tuple[dict[str, Any], np.ndarray]]:
    folders = {0: Path(root) / schema.TRAIN_IMAGES, 1: Path(root) / schema.TEST_IMAGES}
    return [_make_one(seed, split, index, gid, folders[split]) for split, index, gid in jobs]


def _check_params(n: Any, n_test: Any, workers: Any) -> None:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise ParameterError(f"n must be a whole number >= 1 (the number of labelled galaxies); got {n!r}")
    if not isinstance(n_test, int | np.integer) or isinstance(n_test, bool) or n_test < 0:
        raise ParameterError(f"n_test must be a whole number >= 0; got {n_test!r}")
    if n + n_test > 900_000:
        raise ParameterError(f"n + n_test must be at most 900000 (6-digit GalaxyIDs); got {n + n_test}")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ParameterError(f"workers must be a whole number >= 1 or None; got {workers!r}")


# the columns of ground_truth.csv, in order (sizes in final 424-px pixels)
_TRUTH_COLUMNS = [
    "GalaxyID", "true_label", "split", "kind", "r_mag", "flux_r", "hlr", "bulge_n", "bulge_hlr",
    "bulge_q", "bulge_to_total", "boxy", "disk_scale", "disk_h_over_r", "inclination_deg",
    "position_angle_deg", "axis_ratio", "n_arms", "pitch_deg", "arm_strength", "chirality", "bar",
    "bar_strength", "n_knots", "ring", "dust_lane", "odd_feature", "companion", "companion_dist",
    "n_stars", "trail", "psf_kind", "psf_fwhm", "sky_sigma", "snr", "visibility", "n_volunteers",
]
_SIZE_COLUMNS = ("hlr", "bulge_hlr", "disk_scale", "companion_dist", "psf_fwhm")


def write_mock(out_dir: str | os.PathLike[str], n: int, seed: int = 0, *, n_test: int = 0,
               workers: int | None = None, overwrite: bool = False, progress: bool = False
               ) -> dict[str, Any]:
    """Write a mock Galaxy Zoo of ``n`` labelled (and ``n_test`` unlabelled) galaxies to ``out_dir``.

    The folder gets the Kaggle layout plus ``ground_truth.csv`` and ``mock.json`` (see the
    module docstring). Everything is built in ``OUT.tmp-<pid>`` beside ``out_dir`` and renamed
    into place at the end, so an interrupted run leaves no half-written folder. The result is
    byte-identical for the same ``n``, ``n_test`` and ``seed`` whatever ``workers`` is.

    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "mock"
    >>> info = write_mock(out, n=3, seed=0, n_test=1, workers=1)
    >>> sorted(p.name for p in out.iterdir())
    ['ground_truth.csv', 'images_test_rev1', 'images_training_rev1', 'mock.json', 'training_solutions_rev1.csv']
    >>> sum(info["label_counts"].values())
    3

    Raises ``ParameterError`` for ``n < 1`` or ``n_test < 0`` and ``UserError`` if ``out_dir``
    exists, is not empty and ``overwrite`` is false. Returns a summary dict: ``out_dir``, ``n``,
    ``n_test``, ``seed``, ``workers``, ``seconds``, ``label_counts``.
    """
    import pandas as pd

    _check_params(n, n_test, workers)
    n, n_test, seed = int(n), int(n_test), int(seed)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder; pick another output folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise UserError(f"{out} already exists and is not empty; pass --overwrite "
                        "(overwrite=True) to replace it, or pick another folder")
    workers = workers or os.cpu_count() or 1
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        (tmp / schema.TRAIN_IMAGES).mkdir(parents=True)
        if n_test:
            (tmp / schema.TEST_IMAGES).mkdir()
        train_ids, test_ids = _galaxy_ids(seed, n, n_test)
        jobs = [(0, i, int(g)) for i, g in enumerate(train_ids)]
        jobs += [(1, j, int(g)) for j, g in enumerate(test_ids)]
        results = _run_jobs(seed, jobs, tmp, workers, progress)
        truths = [r[0] for r in results]
        fractions = np.array([r[1] for r in results])
        is_train = np.array([t["split"] == "train" for t in truths])
        ids = np.array([t["GalaxyID"] for t in truths])
        sol = pd.DataFrame(fractions[is_train], columns=schema.COLUMNS)
        sol.insert(0, schema.ID_COLUMN, ids[is_train])
        sol = sol.sort_values(schema.ID_COLUMN, kind="stable")
        sol.to_csv(tmp / schema.SOLUTIONS_CSV, index=False, float_format="%.6f",
                   lineterminator="\n")
        truth = pd.DataFrame(truths)[_TRUTH_COLUMNS]
        for c in _SIZE_COLUMNS:
            truth[c] = truth[c] * SCALE
        truth = truth.sort_values(["split", "GalaxyID"], key=None, kind="stable",
                                  ascending=[False, True])
        truth.to_csv(tmp / schema.TRUTH_FILE, index=False, float_format="%.6g",
                     lineterminator="\n")
        counts = Counter(t["true_label"] for t in truths if t["split"] == "train")
        label_counts = {lab: int(counts.get(lab, 0)) for lab in schema.LABELS}
        meta = {"generator": GENERATOR, "version": VERSION, "n": n, "n_test": n_test,
                "seed": seed, "image_size": FINE, "label_counts": label_counts}
        (tmp / "mock.json").write_text(json.dumps(meta, indent=2) + "\n")
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out_dir": out, "n": n, "n_test": n_test, "seed": seed, "workers": workers,
            "seconds": time.perf_counter() - t0, "label_counts": label_counts}


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` folder to ``out`` (replacing an old one only at the very end)."""
    old = None
    if out.exists():
        old = out.parent / f"{out.name}.old-{os.getpid()}"
        out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        if old is not None:
            old.rename(out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _run_jobs(seed: int, jobs: list[tuple[int, int, int]], tmp: Path, workers: int,
              progress: bool) -> list[tuple[dict[str, Any], np.ndarray]]:
    total = len(jobs)
    size = max(1, min(64, math.ceil(total / (workers * 6))))
    chunks = [jobs[i:i + size] for i in range(0, total, size)]
    done = 0
    results: list[list[tuple[dict[str, Any], np.ndarray]]] = [[] for _ in chunks]

    def report(k: int) -> None:
        if progress:
            print(f"\rsynth: {k}/{total} galaxies", end="" if k < total else "\n",
                  file=sys.stderr, flush=True)

    if workers == 1 or len(chunks) == 1:
        for c, chunk in enumerate(chunks):
            results[c] = _work_chunk(seed, chunk, str(tmp))
            done += len(chunk)
            report(done)
    else:
        # "spawn": fresh interpreters. Forking a process whose OpenMP runtime has started
        # (torch, or GalSim drawing with threads, earlier in the same process: a notebook, a
        # test session) deadlocks the children. Scripts that call this need the usual
        # ``if __name__ == "__main__"`` guard (``python -m helpers`` has it).
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=ctx)
        try:
            futures = {pool.submit(_work_chunk, seed, chunk, str(tmp)): c
                       for c, chunk in enumerate(chunks)}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for f in finished:
                    results[futures[f]] = f.result()  # re-raises a worker's error
                    done += len(chunks[futures[f]])
                report(done)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return [r for chunk in results for r in chunk]


def synth_cli(args: Any) -> int:
    """Run ``python -m helpers synth OUT_DIR -n N --seed S``: write the mock, print a summary."""
    info = write_mock(args.out_dir, args.n, args.seed, n_test=args.n_test, workers=args.workers,
                      overwrite=args.overwrite, progress=sys.stderr.isatty())
    counts = ", ".join(f"{k} {v}" for k, v in info["label_counts"].items() if v)
    test = f" (+{info['n_test']} unlabelled test images)" if info["n_test"] else ""
    print(f"Wrote a mock Galaxy Zoo of {info['n']} galaxies{test} to {info['out_dir']} "
          f"(seed {info['seed']}, {info['workers']} workers) in {info['seconds']:.1f} s. "
          f"True labels: {counts}.")
    return 0
