"""How much a folder of cutouts looks like the real Galaxy Zoo: image statistics and their distance.

Eleven statistics per image, the same as the calibration instrument that measured 2,000
real Kaggle training cutouts (``data/calibration/real_cutout_stats.csv``; see its README):

============  ==========================================================================
bg_level      median of the 40-px border, luminance (mean of R, G, B), 0-255 counts
bg_sigma      robust (MAD) sigma of that border
area_px       pixels of the central source (3x3 mean filter, connected region above
              sky + max(sigma, 2) covering the centre, or the nearest one of 30+ px), at 424 px
r50_frac      radius holding half the source's light above sky, over the image side
flux          summed luminance above sky in the source (at 424 px)
peak          95th percentile of the source's luminance above sky
axis_ratio    minor / major axis from the light-weighted second moments of the source
colour_rg     (R - G) of the source's summed light above sky, over its summed R + G + B
colour_bg     (B - G), likewise
n_neighbours  other sources: regions above sky + 3 max(sigma, 2) of 30+ px not touching it
sat_frac      share of the source's pixels at 250 or more in any channel
============  ==========================================================================

:func:`compare` puts two tables side by side: the 10th, 50th and 90th percentiles of each
statistic and the two-sample Kolmogorov-Smirnov statistic (0: the same distribution, 1:
disjoint).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage, stats

from helpers.paths import DATA

STATISTICS = ("bg_level", "bg_sigma", "area_px", "r50_frac", "flux", "peak", "axis_ratio",
              "colour_rg", "colour_bg", "n_neighbours", "sat_frac")
REAL_STATS = DATA / "calibration" / "real_cutout_stats.csv"
BORDER = 40  # px of a 424-px image
MIN_AREA = 30  # px of a 424-px image, for a neighbour (or a fallback central source)


def image_stats(path: str | os.PathLike[str]) -> dict[str, float] | None:
    """The eleven statistics of one image, or ``None`` when nothing rises above the sky.

    >>> from PIL import Image; import numpy as np, tempfile, pathlib
    >>> y, x = np.mgrid[:424, :424]
    >>> blob = 200 * np.exp(-((x - 212) ** 2 + (y - 212) ** 2) / (2 * 30.0 ** 2))
    >>> img = np.clip(np.stack([blob] * 3, axis=2) + 3, 0, 255).astype(np.uint8)
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "g.png"; Image.fromarray(img).save(p)
    >>> s = image_stats(p)
    >>> round(s["axis_ratio"], 2), s["n_neighbours"], round(s["colour_rg"], 3)
    (1.0, 0, 0.0)
    """
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.float32)
    h, w, _ = rgb.shape
    lum = rgb.mean(axis=2)
    b = max(4, int(round(BORDER * h / 424)))
    border = np.concatenate([lum[:b].ravel(), lum[-b:].ravel(), lum[:, :b].ravel(), lum[:, -b:].ravel()])
    bg = float(np.median(border))
    sig = float(1.4826 * np.median(np.abs(border - bg))) or 1.0
    smooth = ndimage.uniform_filter(lum, 3)
    src = _central_source(smooth > bg + max(sig, 2.0), h, w)
    if src is None:
        return None
    ys, xs = np.nonzero(src)
    f = np.clip(lum[ys, xs] - bg, 0, None)
    tot = float(f.sum()) or 1.0
    my, mx = (f * ys).sum() / tot, (f * xs).sum() / tot
    r = np.hypot(ys - my, xs - mx)
    order = np.argsort(r)
    r50 = float(r[order][np.searchsorted(np.cumsum(f[order]), tot / 2)])
    cyy = (f * (ys - my) ** 2).sum() / tot
    cxx = (f * (xs - mx) ** 2).sum() / tot
    cxy = (f * (ys - my) * (xs - mx)).sum() / tot
    ev = np.linalg.eigvalsh(np.array([[cyy, cxy], [cxy, cxx]]))
    # colour: per-channel sky from the top and bottom border strips
    sky_rgb = np.median(np.concatenate([rgb[:b].reshape(-1, 3), rgb[-b:].reshape(-1, 3)]), axis=0)
    light = np.clip(rgb[ys, xs] - sky_rgb, 0, None).sum(axis=0)
    s = float(light.sum()) or 1.0
    area_scale = (424 / h) ** 2
    return {
        "bg_level": bg, "bg_sigma": sig, "area_px": float(src.sum()) * area_scale,
        "r50_frac": r50 / h, "flux": tot * area_scale, "peak": float(np.percentile(f, 95)),
        "axis_ratio": float(np.sqrt(max(ev[0], 1e-9) / max(ev[1], 1e-9))),
        "colour_rg": float((light[0] - light[1]) / s), "colour_bg": float((light[2] - light[1]) / s),
        "n_neighbours": _neighbours(smooth > bg + 3 * max(sig, 2.0), src, h),
        "sat_frac": float((rgb[ys, xs].max(axis=1) >= 250).mean()),
    }


def _central_source(mask: np.ndarray, h: int, w: int) -> np.ndarray | None:
    """The connected region covering the centre, else the nearest one of ``MIN_AREA``+ px."""
    lab, n = ndimage.label(mask)
    if n == 0:
        return None
    c = lab[int(h / 2), int(w / 2)]
    if c == 0:
        index = np.arange(1, n + 1)
        sizes = ndimage.sum(np.ones_like(mask, dtype=float), lab, index=index)
        coms = ndimage.center_of_mass(mask, lab, index=index)
        d = [np.hypot(y - h / 2, x - w / 2) if s >= MIN_AREA else 1e9
             for (y, x), s in zip(coms, sizes, strict=True)]
        c = int(np.argmin(d)) + 1
    return lab == c


def _neighbours(mask: np.ndarray, src: np.ndarray, h: int) -> int:
    """Regions of the (brighter) mask of ``MIN_AREA``+ px (at 424) that do not touch the source."""
    lab, n = ndimage.label(mask)
    if n == 0:
        return 0
    sizes = ndimage.sum(np.ones_like(mask, dtype=float), lab, index=np.arange(1, n + 1))
    central = set(np.unique(lab[src]).tolist()) - {0}
    big = sizes >= MIN_AREA * (h / 424) ** 2
    return int(sum(1 for i in np.nonzero(big)[0] + 1 if i not in central))


def measure(images: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], n: int | None = None,
            seed: int = 0) -> pd.DataFrame:
    """The statistics of ``n`` images (all if ``None``) of a folder or a list, one row each.

    A folder's ``.jpg`` then ``.png`` files are sorted by name and shuffled with ``seed`` (as
    the calibration instrument does), so the same call picks the same images. Images with nothing
    above the sky are skipped.

    >>> from helpers.data import realism, synth
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "mock"
    >>> _ = synth.write_mock(out, n=4, seed=0, workers=1)
    >>> table = realism.measure(out / "images_training_rev1")
    >>> list(table.columns) == list(realism.STATISTICS), len(table)
    (True, 4)
    """
    if isinstance(images, (str, os.PathLike)):
        folder = Path(images)
        paths = sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png"))
        random.Random(seed).shuffle(paths)
    else:
        paths = [Path(p) for p in images]
    rows = [s for s in (image_stats(p) for p in paths[:n]) if s is not None]
    # rounded as the calibration instrument writes them: the statistics are discrete (the sky's
    # level and sigma take a few values), and KS must see equal values as equal
    return pd.DataFrame(rows, columns=list(STATISTICS)).round(5)


def compare(real: pd.DataFrame | str | os.PathLike[str], mock: pd.DataFrame | str | os.PathLike[str]
            ) -> pd.DataFrame:
    """Quantiles of both tables and the two-sample KS statistic, one row per statistic.

    >>> from helpers.data import realism
    >>> real = realism.real_stats()
    >>> float(realism.compare(real, real)["ks"].max())
    0.0
    """
    a = pd.read_csv(real) if isinstance(real, (str, os.PathLike)) else real
    b = pd.read_csv(mock) if isinstance(mock, (str, os.PathLike)) else mock
    rows = []
    for c in STATISTICS:
        x, y = a[c].to_numpy(float), b[c].to_numpy(float)
        qx, qy = np.quantile(x, [0.1, 0.5, 0.9]), np.quantile(y, [0.1, 0.5, 0.9])
        rows.append({"statistic": c, "real_q10": qx[0], "real_q50": qx[1], "real_q90": qx[2],
                     "mock_q10": qy[0], "mock_q50": qy[1], "mock_q90": qy[2],
                     "ks": float(stats.ks_2samp(x, y).statistic)})
    return pd.DataFrame(rows).set_index("statistic")


def real_stats() -> pd.DataFrame:
    """The statistics of 2,000 real Kaggle training cutouts (``data/calibration/``)."""
    return pd.read_csv(REAL_STATS)


def example_classes(data_dir: str | os.PathLike[str], truth: pd.DataFrame | None,
                    labels: pd.DataFrame) -> pd.DataFrame:
    """The training images of ``data_dir`` with a class each for a gallery: the morphology the
    mock drew (``truth``), or on real data the vote label (``labels``): ``GalaxyID``, ``class``,
    ``image_path`` (images that exist only)."""
    from helpers.data.schema import ID_COLUMN, TRAIN_IMAGES

    source = (truth[[ID_COLUMN, "true_label"]] if truth is not None else labels[[ID_COLUMN, "label"]])
    classes = source.set_axis([ID_COLUMN, "class"], axis=1)
    classes = classes.assign(image_path=[str(Path(data_dir) / TRAIN_IMAGES / f"{i}.jpg") for i in classes[ID_COLUMN]])
    return classes[classes["image_path"].map(lambda p: Path(p).exists())].reset_index(drop=True)


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`compare`'s table as text with three significant digits, its columns named for a
    reader (``real q50``, ``this run q50``)."""
    shown = table.rename(columns=lambda c: c.replace("mock_", "this run ").replace("real_", "real "))
    return shown.map(lambda v: f"{v:,.3g}")
