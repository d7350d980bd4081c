"""A mock Galaxy Zoo: SDSS-like cutouts and simulated volunteer votes, in the Kaggle layout.

The real "Galaxy Zoo - The Galaxy Challenge" data cannot be downloaded where this project is
built, so :func:`write_mock` writes a stand-in with exactly its layout::

    OUT/training_solutions_rev1.csv        GalaxyID + 37 cumulative vote fractions
    OUT/images_training_rev1/<id>.jpg      424x424 RGB JPEG, galaxy centred
    OUT/images_test_rev1/<id>.jpg          (n_test > 0) extra galaxies without rows
    OUT/ground_truth.csv                   drawn class and structural parameters (mock only)
    OUT/mock.json                          generator, version, n, n_test, seed, label counts

The model, per galaxy (all of it drawn from a per-galaxy random stream, see below). It is
calibrated against the statistics of 2,000 real Kaggle cutouts (``data/calibration/``, measured
with :mod:`helpers.data.realism`): framing, brightness, stretch, sky, noise, colour and crowding
follow their spread.

1. **Truth, a continuum.** A family is drawn (spheroid, disk, star or artifact) and then every
   structural parameter from overlapping distributions: bulge-to-total (spheroids 0.6-1 with a
   faint disk below 1, disks 0-0.9), intrinsic flattening, inclination over the whole 0-90
   degree range (``cos i`` uniform), arm strength from invisible to grand design (weaker in
   bulgier disks), pitch (tighter in bulgier disks), flocculence and lopsidedness of the arms,
   bar, ring, dust lane, odd features, colours (red bulges and blue disks on average, with a
   galaxy-wide scatter so that blue spheroids and red spirals exist). The label follows from
   the parameters by the Galaxy Zoo reading of them: roundness from the apparent axis ratio,
   edge-on above 78.5 degrees, spiral where the arms are stronger than 0.12, "no bulge" below
   a bulge-to-total of 0.15, boxy where the drawn bulge is. The observation is drawn too: the framing (half-light radius as a fraction
   of the image side, as the Kaggle cutouts are framed on each galaxy), the seeing relative to
   the galaxy, the peak brightness and stretch of the display, sky level, noise (and how much
   of it is correlated, as in cutouts resampled from coarser pixels), colour balance, and the
   field: faint and bright stars and galaxies, companions, satellite trails.
2. **Image.** Profiles come from GalSim (``Sersic``, ``InclinedExponential``, bars as flattened
   Sersics, boxy bulges as an X of two flattened Sersics), drawn without the pixel on a coarse
   160 px grid (2x oversampled, then binned, which integrates over the pixel). Arms, rings and
   dust lanes are numpy modulations of the GalSim disk in the deprojected disk plane
   (``I ~ disk(r) * ((1 + cos(m (theta - ln r / tan(pitch)) + phase noise)) / 2) ** p``, broken
   into clumps by the flocculence); knots, field sources, spikes and trails are point deposits.
   Each component has its own R, G, B weights. The three bands are convolved once with a GalSim
   Moffat or Kolmogorov PSF (FFT in numpy), get correlated sky noise, and become display counts
   with a hue-preserving asinh stretch (Lupton et al. 2004) anchored on the galaxy's bright
   core; they are resampled bicubically to 424x424, get fine-grained noise and the sky level,
   saturate to their own hue, and are saved as JPEG (quality 90).
3. **Votes.** 30-50 simulated volunteers walk the Galaxy Zoo 2 tree (:mod:`helpers.data.schema`).
   Each answers from probabilities set by the truth, blurred by what the rendered image shows
   (the galaxy's visible extent over the seeing and its contrast over the noise, measured on
   the image before its noise: small, blurred, faint or low-contrast galaxies drift towards
   "smooth" and "can't tell") and by a per-volunteer temperature and guessing rate. Fractions
   are counts over volunteers accumulated down the tree, so every tree sum holds exactly (up
   to the 6-decimal rounding of the CSV).

Determinism: galaxy ``k`` of split ``s`` uses ``numpy.random.SeedSequence([seed, s, k])`` (one
child stream each for truth, image and votes), and GalaxyIDs come from a fixed permutation of
100000-999999 drawn from ``seed`` (training galaxies from its front, test galaxies from its
back). So the output is byte-identical for any number of workers, and a galaxy keeps its ID and
looks the same whatever ``n`` is.

Sizes in ``ground_truth.csv`` are in pixels of the final 424 px image; angles in degrees.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np

from helpers.data import schema
from helpers.errors import ParameterError, UserError
from helpers.progress import EVERY, Ticker

GENERATOR = "helpers.data.synth"
VERSION = "2.0"

FINE = schema.IMAGE_SIZE  # final image size (424)
COARSE = 160  # drawing grid; resampled to FINE at the end
OVERSAMPLE = 2  # analytic profiles are sampled 2x finer, then binned
SCALE = FINE / COARSE  # final pixels per coarse pixel
JPEG_QUALITY = 90
ZERO_POINT = 28.5  # r-band flux = 10 ** (-0.4 * (mag - ZERO_POINT)) (recorded in the truth)

FAMILY_WEIGHTS: dict[str, float] = {"spheroid": 0.43, "disk": 0.555, "star": 0.015}
EDGE_ON_DEG = 78.5  # disks seen beyond this inclination are labelled edge-on
SPIRAL_ARMS = 0.12  # disks with stronger arms are labelled spiral
NO_BULGE = 0.15  # edge-on disks with a smaller bulge-to-total are labelled "no bulge"
ODD_FEATURES = schema.QUESTIONS[8].answers  # ring, lens or arc, disturbed, irregular, other, merger, dust lane

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


def _colour(redness: Any) -> np.ndarray:
    """R, G, B weights of a component of the given redness (about -0.3 blue to 1.1 red).

    Chosen so that ``(R - G) / (R + G + B)`` runs from about 0 to 0.08 and
    ``(B - G) / (R + G + B)`` from about +0.07 to -0.12, the range of the real cutouts.
    An array of rednesses gives a (3, k) array.
    """
    r = np.asarray(redness, float)
    return np.stack([0.99 + 0.3 * r, np.ones_like(r), 1.16 - 0.48 * r])


def _empty_truth(galaxy_id: int, split: str) -> dict[str, Any]:
    return {
        "GalaxyID": int(galaxy_id), "true_label": "", "split": split, "family": "",
        "kind": "galaxy", "r_mag": 0.0, "flux_r": 0.0, "bulge_n": 0.0, "bulge_hlr": 0.0,
        "bulge_q": 1.0, "bulge_to_total": 0.0, "boxy": False, "disk_scale": 0.0,
        "disk_h_over_r": 0.0, "inclination_deg": 0.0, "position_angle_deg": 0.0,
        "n_arms": 0, "pitch_deg": 0.0, "arm_strength": 0.0, "flocculence": 0.0,
        "arm_asymmetry": 0.0, "chirality": 1, "bar": False, "bar_strength": 0.0, "n_knots": 0,
        "ring": False, "dust_lane": False, "odd_feature": "", "companion": False,
        "companion_dist": 0.0, "n_stars": 0, "n_field": 0, "trail": False, "redness": 0.0,
        "psf_fwhm": 0.0, "psf_kind": "", "peak_display": 0.0, "stretch": 0.0,
        "sky_sigma": 0.0, "sky_level": 0.0, "noise_corr": 0.0, "axis_ratio": 1.0, "hlr": 0.0,
        "snr": 0.0, "visibility": 0.0,
    }


def _draw_spheroid(t: dict[str, Any], rng: np.random.Generator, hlr: float) -> None:
    """Ellipticals and bulge-dominated lenticulars: bulge-to-total 0.6-1, any flattening."""
    q = float(np.clip(rng.normal(0.68, 0.18), 0.2, 0.99))
    bt = float(np.clip(1.0 - rng.beta(0.8, 4.0), 0.6, 1.0))
    t.update(bulge_n=float(np.clip(rng.normal(3.2, 0.8), 2.0, 6.0)), bulge_q=q, bulge_to_total=bt,
             inclination_deg=float(math.degrees(math.acos(q))), disk_h_over_r=0.2,
             bulge_hlr=hlr * (1.0 if bt > 0.98 else float(rng.uniform(0.55, 0.9))))
    if bt < 1.0:
        t["disk_scale"] = max(hlr - bt * t["bulge_hlr"], 0.3 * hlr) / (1.68 * (1 - bt) + 1e-9)
        t["disk_scale"] = float(min(t["disk_scale"], 1.3 * hlr))
    t["axis_ratio"] = q


def _draw_disk(t: dict[str, Any], rng: np.random.Generator, hlr: float) -> None:
    """Disks at every inclination, with bulges, arms, bars and rings from continuous ranges."""
    bt = float(np.clip(rng.beta(1.3, 3.2), 0.0, 0.9))
    inc = float(math.degrees(math.acos(rng.uniform(0.0, 1.0))))
    h_over_r = float(rng.uniform(0.08, 0.22))
    ratio = float(rng.uniform(0.2, 0.55))  # bulge hlr over disk hlr
    disk_hlr = hlr / ((1 - bt) + bt * ratio)
    t.update(bulge_to_total=bt, inclination_deg=inc, disk_h_over_r=h_over_r,
             disk_scale=disk_hlr / 1.68, bulge_hlr=ratio * disk_hlr,
             bulge_n=float(np.clip(rng.normal(2.0 + 2.5 * bt, 0.7), 1.0, 5.0)),
             bulge_q=float(rng.uniform(0.7, 1.0)))
    t["boxy"] = bool(bt > NO_BULGE and rng.random() < 0.22)
    # arms: strength from invisible to grand design, weaker and tighter in bulgier disks
    strength = float(rng.beta(1.3, 2.4) * (1.05 - 0.9 * bt))
    t["arm_strength"] = strength
    if strength > 0.03:
        t.update(n_arms=int(rng.choice([1, 2, 3, 4, 5, 6], p=[0.05, 0.5, 0.2, 0.13, 0.07, 0.05])),
                 pitch_deg=float(np.clip(rng.normal(27 - 22 * bt, 6.5), 5.0, 42.0)),
                 flocculence=float(rng.beta(1.4, 2.0)), arm_asymmetry=float(rng.beta(1.2, 4.0)),
                 n_knots=int(rng.poisson(10 + 50 * strength)))
    t["bar"] = bool(rng.random() < 0.3)
    if t["bar"]:
        t["bar_strength"] = float(rng.uniform(0.04, 0.25))
    t["ring"] = bool(rng.random() < 0.04 + 0.12 * bt)
    t["dust_lane"] = bool(inc > 80 and rng.random() < 0.35)
    cos_i = math.cos(math.radians(inc))
    disk_q = math.hypot(cos_i, h_over_r)
    t["axis_ratio"] = float((1 - bt) * disk_q + bt * max(disk_q, t["bulge_q"] * 0.8))


def _label(t: dict[str, Any]) -> str:
    """The Galaxy Zoo reading of the drawn parameters (the class the volunteers aim at)."""
    if t["family"] == "star":
        return schema.STAR_LABEL
    if t["family"] == "spheroid":
        q = t["axis_ratio"]
        return schema.ROUND_LABELS[0 if q > 0.8 else 1 if q > 0.5 else 2]
    if t["inclination_deg"] > EDGE_ON_DEG:
        if t["bulge_to_total"] < NO_BULGE:
            return "edge-on disk: no bulge"
        return "edge-on disk: boxy bulge" if t["boxy"] else "edge-on disk: rounded bulge"
    return "disk: spiral" if t["arm_strength"] > SPIRAL_ARMS else "disk: no spiral"


def _draw_observation(t: dict[str, Any], rng: np.random.Generator) -> None:
    """Seeing, display peak and stretch, sky, noise, colour balance and the crowding of the field."""
    hlr = t["hlr"]
    res = float(np.clip(rng.lognormal(math.log(3.2), 0.4), 1.5, 12.0))  # hlr over seeing FWHM
    t["psf_fwhm"] = float(max(hlr / res, 1.0))
    t["psf_kind"] = "moffat" if rng.random() < 0.6 else "kolmogorov"
    bright = 16.9 - t["r_mag"]  # brighter galaxies show a brighter core
    t["peak_display"] = float(np.clip(rng.normal(162.0 + 3.0 * bright, 10.0), 45.0, 200.0))
    t["stretch"] = float(rng.lognormal(math.log(6.0), 0.35))  # anchor over asinh softening
    t["core_limit"] = float(rng.normal(180.0, 20.0))  # the display compresses cores to about this
    t["sky_sigma"] = float(np.clip(rng.lognormal(math.log(4.3), 0.2), 1.6, 14.0))
    t["sky_level"] = float(rng.normal(-0.17, 0.24) * t["sky_sigma"])  # black point near the sky
    t["noise_corr"] = float(rng.uniform(0.5, 0.75))  # share of the noise variance on coarse pixels
    t["colour_gain"] = [float(g) for g in np.exp(rng.normal(0.0, 0.035, 3))]
    # field sources: fewer distinct ones in a frame that spans fewer seeing discs
    crowd = min(1.0, 4.0 / t["psf_fwhm"])
    t["n_field"] = int(rng.poisson(crowd * rng.lognormal(math.log(135.0), 0.6)))
    t["n_stars"] = int(rng.poisson(1.0))  # bright stars with spikes
    t["trail"] = bool(t["kind"] == "trail" or rng.random() < 0.02)
    t["companion"] = bool(t["odd_feature"] == "merger" or rng.random() < 0.25)
    t["companion_dist"] = float(
        (1.2 + rng.uniform(0, 1.0)) * max(hlr, 3.0) if t["odd_feature"] == "merger"
        else rng.uniform(1.8, 4.5) * max(hlr, 3.0))


def _expected_visibility(t: dict[str, Any]) -> None:
    """What the image is expected to show, before it is drawn (the image step measures it)."""
    res = t["hlr"] / t["psf_fwhm"]
    contrast = t["peak_display"] / t["sky_sigma"]
    t["snr"] = float(contrast)
    t["visibility"] = float((1 - math.exp(-res / 2.0)) * (1 - math.exp(-contrast / 12.0)))


def _draw_truth(rng: np.random.Generator, galaxy_id: int, split: str) -> dict[str, Any]:
    """Draw the structure and the observation of one galaxy (coarse-pixel units inside)."""
    t = _empty_truth(galaxy_id, split)
    fam = list(FAMILY_WEIGHTS)
    w = np.array(list(FAMILY_WEIGHTS.values()))
    t["family"] = family = fam[int(rng.choice(len(fam), p=w / w.sum()))]
    t["position_angle_deg"] = float(rng.uniform(0, 180))
    t["chirality"] = int(rng.choice([-1, 1]))
    mag = float(np.clip(17.77 - rng.exponential(0.85), 13.0, 17.77))
    # framing: the cutouts are scaled to each galaxy, so its size is a fraction of the side
    hlr = COARSE * float(np.clip(0.051 + rng.gamma(1.5, 0.0075), 0.048, 0.3))
    t["hlr"] = hlr
    if family == "spheroid":
        _draw_spheroid(t, rng, hlr)
    elif family == "disk":
        _draw_disk(t, rng, hlr)
    else:
        t["kind"] = str(rng.choice(["star", "star", "star", "bleed", "ghost", "trail"]))
        mag = float(rng.uniform(11.5, 15.0))
        t["hlr"] = hlr = 0.35 * hlr
    t["r_mag"] = mag
    t["flux_r"] = 10 ** (-0.4 * (mag - ZERO_POINT))
    # colour: red bulges and bluer disks on average, a galaxy-wide shift for everyone
    bt = t["bulge_to_total"]
    t["redness"] = float(0.3 + 0.55 * bt + rng.normal(0.0, 0.19))
    odd = ""
    if t["ring"]:
        odd = "ring"
    elif t["dust_lane"]:
        odd = "dust lane"
    elif t["kind"] == "galaxy" and rng.random() < 0.1:
        odd = str(rng.choice(["disturbed", "irregular", "merger", "merger", "lens or arc", "other"]))
    t["odd_feature"] = odd
    t["true_label"] = _label(t)
    _draw_observation(t, rng)
    _expected_visibility(t)
    return t


# --------------------------------------------------------------------------------------------
# image: helpers


def _grid(dx: float, dy: float, n: int, os_: int) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates (coarse px) of the centres of an oversampled grid, relative to the galaxy."""
    c = (np.arange(n * os_) + 0.5) / os_ - n / 2
    return c[None, :] - dx, c[:, None] - dy


def _bin(a: np.ndarray, os_: int) -> np.ndarray:
    n = a.shape[0] // os_
    return a.reshape(n, os_, n, os_).sum(axis=(1, 3))


def _deposit(layer: np.ndarray, x: np.ndarray, y: np.ndarray, f: np.ndarray) -> None:
    """Add point fluxes at coarse positions (relative to the canvas centre) with bilinear weights.

    ``layer`` is one band (n, n) or all bands (3, n, n); for the latter ``f`` is (3, k) or a
    scalar / (k,) shared by the bands.
    """
    n = layer.shape[-1]
    px = np.atleast_1d(np.asarray(x, float)) + n / 2 - 0.5
    py = np.atleast_1d(np.asarray(y, float)) + n / 2 - 0.5
    x0 = np.floor(px).astype(np.int64)
    y0 = np.floor(py).astype(np.int64)
    fx = px - x0
    fy = py - y0
    idx, wgt = [], []
    for ox, oy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                      (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + ox, y0 + oy
        ok = (xi >= 0) & (xi < n) & (yi >= 0) & (yi < n)
        idx.append(np.where(ok, yi * n + xi, 0))
        wgt.append(np.where(ok, w, 0.0))
    index = np.concatenate(idx)
    weight = np.concatenate(wgt)
    f = np.asarray(f, float)
    bands = layer.reshape(-1, n * n) if layer.ndim == 3 else layer.reshape(1, n * n)
    for b in range(bands.shape[0]):
        fb = np.broadcast_to(f[b] if f.ndim == 2 else f, px.shape)
        bands[b] += np.bincount(index, weights=np.tile(fb, 4) * weight, minlength=n * n)


def _line(layer: np.ndarray, x0: float, y0: float, ang: float, length: float, flux_per_px: Any,
          fall: float = 0.0) -> None:
    """Deposit a straight line (a trail, or a spike falling off as 1/d**fall from its start)."""
    s = np.arange(0.5, length, 0.5)
    prof = 0.5 * (1.0 / (1.0 + s) ** fall if fall else np.ones_like(s))
    f = np.outer(np.asarray(flux_per_px, float), prof) if layer.ndim == 3 else flux_per_px * prof
    _deposit(layer, x0 + s * math.cos(ang), y0 + s * math.sin(ang), f)


def _psf_kernel(t: dict[str, Any], galsim: Any) -> np.ndarray:
    """The seeing PSF (core + faint wide wing), integrated over coarse pixels, unit sum."""
    fwhm = t["psf_fwhm"]
    if t["psf_kind"] == "moffat":
        psf = galsim.Moffat(beta=3.0, fwhm=fwhm)
    else:
        psf = galsim.Kolmogorov(fwhm=fwhm)
    psf = 0.93 * psf + 0.07 * galsim.Moffat(beta=2.2, fwhm=3.5 * fwhm)
    size = 2 * int(min(max(4.0 * fwhm, 8), 24)) + 1  # odd: centred on a coarse pixel
    os_ = OVERSAMPLE
    k = psf.drawImage(nx=size * os_, ny=size * os_, scale=1.0 / os_, method="no_pixel").array
    k = _bin(k, os_)
    return k / k.sum()


def _convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """FFT convolution of each band with a centred kernel (zero padded, same size)."""
    n = img.shape[-1]
    k = kernel.shape[0]
    m = n + k - 1
    m = m + (-m) % 16  # a fast FFT size
    key = (id(kernel), m)
    if _KERNEL_FFT.get("key") != key:  # the same kernel serves both calls of one galaxy
        kpad = np.zeros((m, m))
        kpad[:k, :k] = kernel
        kpad = np.roll(kpad, (-(k // 2), -(k // 2)), axis=(0, 1))
        _KERNEL_FFT.update(key=key, fft=np.fft.rfft2(kpad), kernel=kernel)
    out = np.fft.irfft2(np.fft.rfft2(img, s=(m, m)) * _KERNEL_FFT["fft"], s=(m, m))
    return out[..., :n, :n]


_KERNEL_FFT: dict[str, Any] = {}


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


class _Canvas:
    """The pre-PSF scene of one galaxy: smooth light per band plus point deposits.

    ``draw(profile)`` renders a GalSim profile on the oversampled grid at the galaxy's
    sub-pixel offset; ``add(image, weights)`` bins it into the bands with R, G, B weights.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.galsim = _galsim()
        self.n, self.os = COARSE, OVERSAMPLE
        self.bands = np.zeros((3, self.n, self.n))
        self.points = np.zeros((3, self.n, self.n))
        self.dx, self.dy = (float(v) for v in rng.uniform(-0.5, 0.5, 2))
        self.big = self.galsim.ImageD(self.n * self.os, self.n * self.os, scale=1.0 / self.os)

    def draw(self, prof: Any, dx: float | None = None, dy: float | None = None) -> np.ndarray:
        dx = self.dx if dx is None else dx
        dy = self.dy if dy is None else dy
        off = self.galsim.PositionD(dx * self.os, dy * self.os)
        prof.drawImage(image=self.big, method="no_pixel", offset=off)
        return self.big.array.copy()

    def add(self, fine: np.ndarray, flux: float, weights: np.ndarray) -> None:
        self.bands += _bin(fine, self.os)[None] * flux * weights[:, None, None]

    def add_coarse(self, coarse: np.ndarray, flux: float, weights: np.ndarray) -> None:
        self.bands += coarse[None] * flux * weights[:, None, None]

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        return _grid(self.dx, self.dy, self.n, self.os)


# --------------------------------------------------------------------------------------------
# image: the components of the scene


def _render_bulge(cv: _Canvas, t: dict[str, Any], pa: float, flux: float, colour: np.ndarray) -> None:
    """A Sersic bulge, or a boxy one drawn as an X of two flattened Sersics around a core."""
    g = cv.galsim
    if t["boxy"] and t["inclination_deg"] > 60:
        lobe = g.Sersic(n=1.0, half_light_radius=t["bulge_hlr"]).shear(q=0.42, beta=0 * g.radians)
        core = g.Sersic(n=2.0, half_light_radius=0.5 * t["bulge_hlr"])
        prof = (0.38 * lobe.rotate(0.42 * g.radians) + 0.38 * lobe.rotate(-0.42 * g.radians)
                + 0.24 * core).rotate(pa * g.radians)
    else:
        prof = g.Sersic(n=t["bulge_n"], half_light_radius=t["bulge_hlr"]).shear(
            q=t["bulge_q"], beta=pa * g.radians)
    cv.add(cv.draw(prof), flux, colour)


def _disk_plane(cv: _Canvas, pa: float, cos_i: float) -> tuple[np.ndarray, ...]:
    """Major-axis, minor-axis, deprojected radius and azimuth of every coarse pixel."""
    x, y = _grid(cv.dx, cv.dy, cv.n, 1)
    u = x * math.cos(pa) + y * math.sin(pa)
    w = -x * math.sin(pa) + y * math.cos(pa)
    wd = w / max(cos_i, 0.05)
    return u, w, np.hypot(u, wd), np.arctan2(wd, u)


def _arm_pattern(t: dict[str, Any], rng: np.random.Generator, r: np.ndarray, theta: np.ndarray,
                 h: float) -> tuple[np.ndarray, float, float]:
    """Logarithmic spiral arms with phase wander, clumps (flocculence) and lopsidedness."""
    m = t["n_arms"]
    cot = t["chirality"] / math.tan(math.radians(t["pitch_deg"]))
    phase0 = float(rng.uniform(0, 2 * math.pi))
    lnr = np.log(np.maximum(r, 0.05) / h)
    floc = t["flocculence"]
    wander = 0.0
    for k in range(3):  # slow random wander of the arm phase along the arm and around
        a_k, b_k, p_k = rng.normal(0, 1.2), rng.integers(1, 4), rng.uniform(0, 2 * math.pi)
        wander = wander + (0.15 + 0.9 * floc) / (k + 1) * np.cos(a_k * lnr + b_k * theta + p_k)
    sharp = 3.0 - 1.5 * floc
    pattern = (0.5 * (1 + np.cos(m * (theta - cot * lnr) + phase0 + wander))) ** sharp
    if floc > 0.05:  # break the arms into clumps
        clumps = 1.0
        for _ in range(2):
            kr, kt, p = rng.uniform(3, 7), int(rng.integers(4, 11)), rng.uniform(0, 2 * math.pi)
            clumps = clumps * (0.5 * (1 + np.cos(kr * lnr + kt * theta + p)))
        pattern = pattern * ((1 - floc) + floc * 2.5 * clumps)
    lop = 1 + t["arm_asymmetry"] * np.cos(theta - rng.uniform(0, 2 * math.pi))
    taper = 1 - np.exp(-((r / (0.9 * h)) ** 2))
    return pattern * lop * taper, cot, phase0


def _render_knots(cv: _Canvas, t: dict[str, Any], rng: np.random.Generator, pa: float, cos_i: float,
                  h: float, cot: float, phase0: float, flux: float, colour: np.ndarray) -> None:
    """Star-forming knots scattered along the arm ridges."""
    nk, m = t["n_knots"], t["n_arms"]
    if not nk:
        return
    rk = rng.gamma(2.5, h, nk) + 0.6 * h
    arm_k = rng.integers(0, m, nk)
    th = cot * np.log(rk / h) + (2 * math.pi * arm_k - phase0) / m
    th += rng.normal(0, 0.12 + 0.4 * t["flocculence"], nk)
    xd, yd = rk * np.cos(th), rk * np.sin(th) * cos_i
    kx = cv.dx + xd * math.cos(pa) - yd * math.sin(pa)
    ky = cv.dy + xd * math.sin(pa) + yd * math.cos(pa)
    kf = rng.exponential(1.0, nk)
    kf *= flux / kf.sum()
    _deposit(cv.points, kx, ky, np.outer(colour, kf))


def _render_disk(cv: _Canvas, t: dict[str, Any], rng: np.random.Generator, pa: float, flux: float,
                 colours: dict[str, np.ndarray]) -> None:
    """Exponential disk with its arms, knots, bar, ring and dust lane."""
    g = cv.galsim
    h = t["disk_scale"]
    inc = math.radians(t["inclination_deg"])
    cos_i = math.cos(inc)
    if t["inclination_deg"] > 65:  # thickness shows: the (slower, k-space) 3-D disk
        disk = g.InclinedExponential(inc * g.radians, scale_radius=h,
                                     scale_h_over_r=t["disk_h_over_r"])
    else:  # a thin disk is a flattened exponential (fast real-space drawing)
        disk = g.Exponential(scale_radius=h).transform(1.0, 0.0, 0.0, cos_i)
    disk_img = _bin(cv.draw(disk.rotate(pa * g.radians)), cv.os)
    u, w, r, theta = _disk_plane(cv, pa, cos_i)
    smooth = disk_img
    a = t["arm_strength"]
    if t["n_arms"]:
        pattern, cot, phase0 = _arm_pattern(t, rng, r, theta, h)
        arms = disk_img * pattern
        arms *= disk_img.sum() / max(arms.sum(), 1e-12)
        cv.add_coarse(arms, flux * a * 0.88, colours["arms"])
        smooth = disk_img * (1 - a)
        _render_knots(cv, t, rng, pa, cos_i, h, cot, phase0, 0.12 * a * flux, colours["arms"])
    cv.add_coarse(smooth, flux, colours["disk"])
    if t["bar"]:
        bar = g.Sersic(n=0.6, half_light_radius=1.1 * h).shear(q=0.28, beta=0 * g.radians)
        bar = bar.rotate(rng.uniform(0, math.pi) * g.radians)
        bar = bar.transform(1.0, 0.0, 0.0, max(cos_i, 0.1)).rotate(pa * g.radians)
        cv.add(cv.draw(bar), flux * t["bar_strength"] / 0.6, 0.5 * (colours["bulge"] + colours["disk"]))
    if t["ring"]:
        rr = h * rng.uniform(1.8, 2.8)
        ring = disk_img * np.exp(-0.5 * ((r - rr) / (0.12 * rr)) ** 2)
        cv.add_coarse(ring / max(ring.sum(), 1e-12), 0.18 * flux, colours["arms"])
    if t["dust_lane"]:
        across = np.exp(-0.5 * (u / (3 * h)) ** 2)
        lane = 1 - 0.75 * np.exp(-0.5 * (w / (0.5 * t["disk_h_over_r"] * h + 0.3)) ** 2)
        cv.bands *= (lane * across + (1 - across))[None]


def _render_odd(cv: _Canvas, t: dict[str, Any], rng: np.random.Generator, flux: float,
                colour: np.ndarray) -> None:
    """Clumps of a disturbed or irregular galaxy, or a lensed arc."""
    odd = t["odd_feature"]
    if odd in ("disturbed", "irregular"):  # lopsided clumps of star formation
        nk = int(rng.integers(10, 30))
        sc = max(t["hlr"], 2.0)
        kx = cv.dx + rng.normal(0.4 * sc, 0.6 * sc, nk) * (1 if rng.random() < 0.5 else -1)
        ky = cv.dy + rng.normal(0, 0.6 * sc, nk)
        kf = rng.exponential(1.0, nk)
        kf *= (0.25 if odd == "irregular" else 0.12) * flux / kf.sum()
        _deposit(cv.points, kx, ky, np.outer(colour, kf))
    elif odd == "lens or arc":
        rad = max(t["hlr"], 3.0) * rng.uniform(1.5, 2.5)
        th = rng.uniform(0, 2 * math.pi) + np.linspace(-0.6, 0.6, 60)
        _deposit(cv.points, cv.dx + rad * np.cos(th), cv.dy + rad * np.sin(th),
                 np.outer(colour * 1.2, np.full(60, 0.06 * flux / 60)))


def _render_star(cv: _Canvas, t: dict[str, Any], rng: np.random.Generator, flux: float) -> None:
    """The star-or-artifact class: a bright star (spikes, halo), a bleed trail or a ghost ring."""
    g = cv.galsim
    gr = rng.uniform(0.45, 0.9)
    col = np.array([1.0 / math.sqrt(gr), 1.0, gr])
    kind = t["kind"]
    sflux = flux if kind != "ghost" else flux * 0.2
    if kind in ("star", "bleed", "trail"):
        _deposit(cv.points, np.array([cv.dx]), np.array([cv.dy]), (sflux * col)[:, None])
        halo = g.Moffat(beta=1.8, fwhm=4.0 * t["psf_fwhm"])
        cv.add(cv.draw(halo), 0.45 * sflux, col)
        for k in range(4):
            _line(cv.points, cv.dx, cv.dy, k * math.pi / 2, cv.n / 3.5, 0.01 * sflux * col, 1.5)
        if kind == "bleed":
            _line(cv.points, cv.dx, cv.dy - cv.n / 2, math.pi / 2, cv.n, 0.004 * sflux * col)
    if kind == "ghost":
        x, y = cv.grid()
        rr = rng.uniform(10, 25)
        ring = np.exp(-0.5 * ((np.hypot(x, y) - rr) / (0.25 * rr)) ** 2)
        cv.add(ring / ring.sum(), sflux, np.array([0.9, 1.0, 0.8]))


def _render_companion(cv: _Canvas, t: dict[str, Any], rng: np.random.Generator, flux: float,
                      colours: dict[str, np.ndarray]) -> None:
    """A nearby galaxy; for a merger, a bright one with a tidal tail."""
    g = cv.galsim
    merger = t["odd_feature"] == "merger"
    ang = rng.uniform(0, 2 * math.pi)
    cx = cv.dx + t["companion_dist"] * math.cos(ang)
    cy = cv.dy + t["companion_dist"] * math.sin(ang)
    cf = flux * (rng.uniform(0.15, 0.7) if merger else rng.lognormal(math.log(0.05), 1.0))
    chlr = float(np.clip(t["hlr"] * rng.lognormal(math.log(0.3), 0.4), 1.0, 0.8 * t["hlr"] + 1))
    cprof = g.Sersic(n=float(rng.choice([1.0, 2.0, 4.0])), half_light_radius=chlr).shear(
        q=rng.uniform(0.3, 1.0), beta=rng.uniform(0, math.pi) * g.radians)
    cv.add(cv.draw(cprof, cx, cy), cf, _colour(float(rng.uniform(-0.1, 1.0))))
    if merger:  # a tidal tail arcing away
        s = np.linspace(0, 1, 80)
        ta = ang + math.pi + rng.choice([-1, 1]) * 1.6 * s
        tr = max(t["hlr"], 3.0) * (1 + 2.5 * s)
        _deposit(cv.points, cv.dx + tr * np.cos(ta), cv.dy + tr * np.sin(ta),
                 np.outer(colours["disk"], np.full(80, 0.08 * flux / 80)))


def _render_field(points: np.ndarray, t: dict[str, Any], rng: np.random.Generator,
                  unit: float) -> None:
    """Field stars and small background galaxies (``unit``: the flux of one display count peak).

    Their peak brightness in display counts follows a power law above 2 counts, so how many
    of them stand out of the noise depends on the noise, as in the real cutouts.
    """
    n = points.shape[-1]
    nf = t["n_field"]
    if nf:
        x, y = rng.uniform(-n / 2, n / 2, (2, nf))
        inner = (np.hypot(x, y) < 2.0 * t["hlr"]) & (rng.random(nf) < 0.8)  # most miss the galaxy
        x = np.where(inner, x + np.sign(x) * 2.0 * t["hlr"], x)
        peak = 2.0 * rng.random(nf) ** (-1.0 / 1.1)
        extended = rng.random(nf) < 0.5
        size = np.where(extended, rng.uniform(0.6, 2.2, nf), 0.0)
        flux = peak * unit * (1 + size**2 / 0.25)  # wider sources need more flux for that peak
        cols = _colour(rng.uniform(-0.2, 1.2, nf))
        for _ in range(4):  # extended ones as four offset deposits
            ox, oy = rng.normal(0, 1, (2, nf)) * size
            _deposit(points, x + ox, y + oy, cols * (flux / 4))
    for _ in range(t["n_stars"]):  # brighter stars with diffraction spikes
        sx, sy = rng.uniform(-n / 2, n / 2, 2)
        if math.hypot(sx, sy) < 1.5 * t["hlr"]:
            sx += 1.5 * t["hlr"] * np.sign(sx)
        sf = unit * 10 ** rng.uniform(1.3, 3.3)
        gr = rng.uniform(0.35, 1.15)
        col = np.array([1.0 / math.sqrt(gr), 1.0, gr])
        _deposit(points, np.array([sx]), np.array([sy]), (sf * col)[:, None])
        if sf > 300 * unit:
            for k in range(4):
                _line(points, sx, sy, k * math.pi / 2, n / 8, 0.004 * sf * col, 1.5)


def _render_trail(points: np.ndarray, t: dict[str, Any], rng: np.random.Generator,
                  unit: float) -> None:
    """A satellite trail; the bands were exposed at different times, so it shifts per band."""
    n = points.shape[-1]
    ang = rng.uniform(0, math.pi)
    off = rng.uniform(-25, 25) if t["kind"] != "trail" else rng.uniform(-3, 3)
    nx_, ny_ = -math.sin(ang), math.cos(ang)
    fl = unit * rng.uniform(8, 40)
    start = -n
    for b in range(3):
        o = off + (b - 1) * 1.5
        _line(points[b], o * nx_ + start * math.cos(ang), o * ny_ + start * math.sin(ang), ang,
              2 * n, fl)


def _component_colours(t: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """R, G, B weights of bulge, disk and arms from the galaxy's redness (bulges redder)."""
    red = t["redness"]
    bulge = red + 0.2 + rng.normal(0, 0.08)
    disk = red - 0.05 * (1 - t["bulge_to_total"]) + rng.normal(0, 0.08)
    return {"bulge": _colour(bulge), "disk": _colour(disk), "arms": _colour(disk - 0.45)}


def _render_bands(t: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The noise-free R, G, B scene (3, COARSE, COARSE) after the PSF, and its anchor value.

    The galaxy has unit total light; the anchor is the bright-core level (the 95th percentile
    of the light within the galaxy's expected footprint) that the display stretch maps to
    ``peak_display``.
    """
    cv = _Canvas(rng)
    pa = math.radians(t["position_angle_deg"])
    if t["kind"] == "galaxy":
        colours = _component_colours(t, rng)
        bt = t["bulge_to_total"]
        if bt > 0:
            _render_bulge(cv, t, pa, bt, colours["bulge"])
        if bt < 1 and t["disk_scale"] > 0:
            _render_disk(cv, t, rng, pa, 1 - bt, colours)
        _render_odd(cv, t, rng, 1.0, colours["arms"])
        if t["companion"]:
            _render_companion(cv, t, rng, 1.0, colours)
    else:
        colours = {"disk": _colour(0.5)}
        _render_star(cv, t, rng, 1.0)
    kernel = _psf_kernel(t, cv.galsim)
    intensity = _convolve((cv.bands + cv.points).mean(axis=0), kernel)
    anchor = _anchor(intensity, t)
    _fit_core(t, float(intensity[60:100, 60:100].max()) / anchor)
    # one display count of peak, in flux units, for a point source at the slope of the stretch
    unit = _slope_inverse(t, anchor) * 2 * math.pi * (t["psf_fwhm"] / 2.355) ** 2
    _render_field(cv.points, t, rng, unit)
    if t["trail"]:
        _render_trail(cv.points, t, rng, unit)
    return _convolve(cv.bands + cv.points, kernel), anchor


def _anchor(intensity: np.ndarray, t: dict[str, Any]) -> float:
    """The 95th percentile of the light in the galaxy's expected footprint (its bright core)."""
    n = intensity.shape[0]
    rad = 2.3 * max(t["hlr"], 1.0)
    y, x = np.ogrid[:n, :n]
    inside = (x - n / 2 + 0.5) ** 2 + (y - n / 2 + 0.5) ** 2 <= rad**2
    vals = intensity[inside]
    k = max(3, int(0.05 * vals.size * max(t["axis_ratio"], 0.25)))
    return float(max(np.partition(vals, vals.size - k)[vals.size - k], 1e-12))


def _fit_core(t: dict[str, Any], core: float) -> None:
    """Tame a bright core (``core`` times the anchor) to show at about ``core_limit``.

    The stretch may rise to twice its drawn value (which lifts the outskirts too); beyond
    that the whole display is dimmed (``peak_display`` falls).
    """
    def shown(beta: float) -> float:
        return t["peak_display"] * math.asinh(beta * core) / math.asinh(beta)

    beta = t["stretch"]
    if shown(beta) <= t["core_limit"]:
        return
    lo, hi = beta, 2.0 * beta
    if shown(hi) > t["core_limit"]:
        t["stretch"] = hi
        t["peak_display"] *= t["core_limit"] / shown(hi)
        return
    for _ in range(20):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if shown(mid) > t["core_limit"] else (lo, mid)
    t["stretch"] = hi


def _slope_inverse(t: dict[str, Any], anchor: float) -> float:
    """Linear flux per display count at the faint end of the stretch."""
    soft = anchor / t["stretch"]
    return soft * math.asinh(t["stretch"]) / t["peak_display"]


# --------------------------------------------------------------------------------------------
# image: from light to display counts

NOISE_PER_CHANNEL = 2.2  # per-channel display sigma over the intended luminance sigma


def _stretch(lin: np.ndarray, t: dict[str, Any], anchor: float) -> np.ndarray:
    """Hue-preserving asinh stretch (Lupton et al. 2004): the anchor maps to ``peak_display``."""
    soft = anchor / t["stretch"]
    x = lin.mean(axis=0) / soft
    small = np.abs(x) < 1e-6
    ratio = np.where(small, 1.0, np.arcsinh(x) / np.where(small, 1.0, x))
    return lin / soft * (t["peak_display"] / math.asinh(t["stretch"])) * ratio[None]


def _visible(display: np.ndarray, t: dict[str, Any]) -> None:
    """Record what the noise-free display shows: visible extent over seeing, contrast over noise."""
    lum = display.mean(axis=0)
    n = lum.shape[0]
    y, x = np.ogrid[:n, :n]
    near = (x - n / 2 + 0.5) ** 2 + (y - n / 2 + 0.5) ** 2 <= (3.0 * t["hlr"]) ** 2
    extent = float(np.count_nonzero((lum > 2.0 * t["sky_sigma"]) & near))
    seen_radius = math.sqrt(extent / math.pi)
    res = seen_radius / t["psf_fwhm"]
    contrast = float(np.percentile(lum[near], 99.5)) / t["sky_sigma"]
    t["snr"] = contrast
    t["visibility"] = float((1 - math.exp(-res / 4.0)) * (1 - math.exp(-contrast / 12.0)))


def _resize(display: np.ndarray) -> np.ndarray:
    """Bicubic resampling of each band from COARSE to FINE: a (3, FINE, FINE) float32 image."""
    from PIL import Image

    out = np.empty((3, FINE, FINE), np.float32)
    for b in range(3):
        im = Image.fromarray(np.ascontiguousarray(display[b], np.float32), "F")
        out[b] = np.asarray(im.resize((FINE, FINE), Image.Resampling.BICUBIC))
    return out


_BANK_SIZE = 512
_NOISE_BANK: list[np.ndarray] = []


def _noise_bank() -> np.ndarray:
    """A fixed (3, 512, 512) field of unit Gaussian noise, made once per process from a constant seed."""
    if not _NOISE_BANK:
        rng = np.random.default_rng(20240611)
        _NOISE_BANK.append(rng.standard_normal((3, _BANK_SIZE, _BANK_SIZE), np.float32))
    return _NOISE_BANK[0]


def _add_fine_noise(out: np.ndarray, sigma: float, rng: np.random.Generator) -> None:
    """Add pixel noise to a (3, FINE, FINE) image: windows of the bank at a random place,
    channel order, flip and transpose (views: no copy of the bank)."""
    bank = _noise_bank()
    y0, x0 = (int(v) for v in rng.integers(0, _BANK_SIZE - FINE, 2))
    order = rng.permutation(3)
    flip, swap = rng.random(2) < 0.5
    for b in range(3):
        win = bank[order[b], y0:y0 + FINE, x0:x0 + FINE]
        win = win[::-1] if flip else win
        win = win.T if swap else win
        out[b] += win * np.float32(sigma)


def _to_rgb(display: np.ndarray, t: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Sky level, saturation to the own hue, resampling, fine-grained noise: 8-bit RGB."""
    display = display + t["sky_level"]
    peak = display.max(axis=0)
    if peak.max() > 255.0:
        display *= (255.0 / np.maximum(peak, 255.0))[None]  # saturated pixels keep their hue
    out = _resize(display)
    _add_fine_noise(out, t["sky_sigma"] * NOISE_PER_CHANNEL * math.sqrt(1.0 - t["noise_corr"]), rng)
    out += np.float32(0.5)
    np.clip(out, 0, 255, out=out)
    return np.ascontiguousarray(out.astype(np.uint8).transpose(1, 2, 0))


def _draw_galaxy(t: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """The 424x424x3 uint8 image of one galaxy (the per-galaxy drawing step).

    Also records in ``t`` what the image shows (``visibility``, ``snr``), which the volunteers
    then see.
    """
    scene, anchor = _render_bands(t, rng)
    lin = scene * np.asarray(t["colour_gain"])[:, None, None]
    _visible(_stretch(lin, t, anchor), t)
    # correlated (coarse-pixel) sky noise plus a little photon noise of the source, then stretch
    sig = t["sky_sigma"] * NOISE_PER_CHANNEL * math.sqrt(t["noise_corr"])
    per_count = _slope_inverse(t, anchor)
    src = np.maximum(lin.mean(axis=0), 0.0) / anchor
    noise = rng.standard_normal(lin.shape) * (sig * per_count * np.sqrt(1.0 + 3.0 * src))[None]
    return _to_rgb(_stretch(lin + noise, t, anchor), t, rng)


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


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _p_featured(t: dict[str, Any], v: float, face: float) -> float:
    """Share of volunteers who answer "features or disk" (Q1), from structure and visibility."""
    bt, q = t["bulge_to_total"], t["axis_ratio"]
    if t["family"] == "spheroid":
        return 0.06 + 0.25 * max(0.0, 0.55 - q) + 0.3 * v * (1 - bt)
    if t["inclination_deg"] > EDGE_ON_DEG:
        return 0.3 + 0.6 * v
    plain = 0.2 + 0.75 * v * (1.1 - 0.6 * bt)
    arms = 0.12 + 0.95 * v * (0.55 + 0.8 * t["arm_strength"]) * (0.5 + 0.5 * face)
    return float(np.clip(plain if t["arm_strength"] <= SPIRAL_ARMS else max(plain, arms),
                         0.05, 0.95))


def _answer_probs(t: dict[str, Any]) -> dict[int, np.ndarray]:
    """Probabilities a typical volunteer gives each answer of each question.

    From the truth, blurred by ``visibility`` (what the image shows): a small, blurred or
    low-contrast galaxy draws more "smooth", more "can't tell" and flatter answers.
    """
    v = t["visibility"]
    fuzzy = 1 - v
    inc = t["inclination_deg"]
    face = math.cos(math.radians(min(inc, 89.0))) ** 0.5
    bt = t["bulge_to_total"]
    disk = t["family"] == "disk"
    P: dict[int, np.ndarray] = {}
    if t["family"] == "star":
        P[1] = _mix([0.22, 0.08, 0.70], 0.1)
    else:
        pf = _p_featured(t, v, face)
        P[1] = np.array([1 - pf - 0.01, pf, 0.01])
    # Q2 edge-on
    if disk:
        e = _sigmoid((inc - (EDGE_ON_DEG - 2.5)) / 3.0)
        P[2] = _mix([e + 0.03, 1 - e + 0.03], 0.3 * fuzzy)
    else:
        e = float(np.clip(0.7 - t["axis_ratio"], 0.02, 0.7))
        P[2] = np.array([e, 1 - e])
    # Q3 bar
    pb = 0.06 + (0.85 * v * face * min(1.0, t["bar_strength"] / 0.12) if t["bar"] else 0.0)
    P[3] = np.array([pb, 1 - pb])
    # Q4 spiral: a continuum in the arm strength that shows
    shown = t["arm_strength"] * v * (0.4 + 0.6 * face) if t["n_arms"] else 0.0
    ps = 0.06 + 0.88 * _sigmoid((shown - 0.075) / 0.03) if t["n_arms"] else 0.08 + 0.2 * fuzzy
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
    elif bt < NO_BULGE:
        p9 = [0.22 + 1.5 * bt, 0.04, 0.74 - 1.5 * bt]
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
    """Truth, image (written to ``folder``) and votes of one galaxy."""
    from PIL import Image

    r_truth, r_image, r_votes = _seeds(seed, split, index)
    t = _draw_truth(r_truth, galaxy_id, _SERIES[split])
    img = _draw_galaxy(t, r_image)  # records what the image shows, which the volunteers see
    fractions, nv = _votes(t, r_votes)
    t["n_volunteers"] = nv
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
    "GalaxyID", "true_label", "split", "family", "kind", "r_mag", "flux_r", "hlr", "bulge_n",
    "bulge_hlr", "bulge_q", "bulge_to_total", "boxy", "disk_scale", "disk_h_over_r",
    "inclination_deg", "position_angle_deg", "axis_ratio", "n_arms", "pitch_deg", "arm_strength",
    "flocculence", "arm_asymmetry", "chirality", "bar", "bar_strength", "n_knots", "ring",
    "dust_lane", "odd_feature", "redness", "companion", "companion_dist", "n_stars", "n_field",
    "trail", "psf_kind", "psf_fwhm", "peak_display", "stretch", "sky_sigma", "sky_level",
    "noise_corr", "snr", "visibility", "n_volunteers",
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
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise UserError(f"{out} already exists and is not empty; pass --overwrite "
                            "(overwrite=True) to replace it, or pick another folder")
        if not (out / "mock.json").exists():  # --overwrite deletes only what the generator made
            raise UserError(f"{out} holds files the mock generator did not write (no mock.json): "
                            "--overwrite replaces only a mock folder; pick another folder")
    workers = workers or os.cpu_count() or 1
    t0 = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(out)
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


def _clear_leftovers(out: Path) -> None:
    """Remove ``OUT.tmp-PID`` / ``OUT.old-PID`` folders left by a generator that was killed."""
    from helpers.artifacts import _alive

    for left in [*out.parent.glob(f"{out.name}.tmp-*"), *out.parent.glob(f"{out.name}.old-*")]:
        pid = left.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(left, ignore_errors=True)


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
    results: list[list[tuple[dict[str, Any], np.ndarray]]] = [[] for _ in chunks]
    ticker = Ticker("synth", total, unit=" galaxies")

    def report(k: int) -> None:
        if progress:  # a line at most every progress.EVERY seconds, and one at the end
            ticker.tick(k - ticker.done)

    done = 0
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
            while pending:  # wake at each finished chunk (and at least every EVERY seconds)
                finished, pending = wait(pending, timeout=EVERY, return_when=FIRST_COMPLETED)
                for f in finished:
                    results[futures[f]] = f.result()  # re-raises a worker's error
                    done += len(chunks[futures[f]])
                report(done)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return [r for chunk in results for r in chunk]

