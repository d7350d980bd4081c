"""Survey cutouts as the network sees them: JPEG/PNG and FITS, and the manifests that list them.

**FITS to RGB** (the rule ``featurize`` and ``similar`` apply to every FITS cutout):

1. The first HDU holding an image is read (``astropy.io.fits``; nothing is unpickled). Its
   array may be one band, ``(H, W)`` or ``(1, H, W)``, shown as grey (the band in all three
   channels), or three bands, ``(3, H, W)`` (FITS axis NAXIS3 = 3) or ``(H, W, 3)``, taken as
   R, G, B in that order (for SDSS-like cutouts: i, r, g). Any other shape is refused, naming
   the file and its shape.
2. Data that are already 8-bit display values (unsigned 8-bit pixels, ``BITPIX = 8``) are used
   as they are: such a FITS holds exactly the pixels of the JPEG or PNG it was made from and
   gives the same codes.
3. Other data (fluxes, counts: floats or wider integers) are stretched per image, all bands
   together so that colours keep their ratios: ``lo`` and ``hi`` are the 0.5th and 99.95th
   percentiles of the finite pixels (astropy's ``AsymmetricPercentileInterval``), ``x =
   (v - lo) / (hi - lo)`` clipped to [0, 1], then ``stretch="asinh"`` (the default) applies
   ``asinh(x / 0.1) / asinh(1 / 0.1)`` (astropy's ``AsinhStretch(a=0.1)``: faint outskirts
   brightened as in the SDSS colour images that Galaxy Zoo showed, after Lupton et al. 2004)
   and ``stretch="linear"`` leaves ``x`` as it is (for data already stretched for display).
   Then ``round(255 x)`` as ``uint8``. Non-finite pixels (masked, NaN) count as ``lo``.

How close the rule comes to the chapters' JPEGs is tested in ``tests/test_survey_inputs.py``:
an 8-bit FITS of a JPEG's channels gives that JPEG's codes exactly. A float FITS of them cannot
give them exactly (a flux has no display scale, so the stretch is per image): with
``stretch="linear"`` its codes have a cosine similarity of at least 0.995 with the JPEG's, with
``"asinh"`` at least 0.9 (it lifts the sky of data already stretched for display, which is
why such data want ``"linear"``); with ``"linear"`` the JPEG code nearest each FITS code is its
own galaxy's (measured on mock galaxies with a seeded, untrained ResNet18, which is more sensitive to
brightness than a trained one).

**Manifests** list cutouts by survey ID: a CSV or Parquet table with an ID column (any text)
and a path-or-URL column (relative paths are taken from the manifest's own folder); its other
columns (RA, Dec, ...) are carried into the codes.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from helpers.errors import DataError, ParameterError

STRETCHES = ("asinh", "linear")
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fz")
PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png")
MANIFEST_SUFFIXES = (".csv", ".parquet", ".pq")
PERCENTILES = (0.5, 99.95)
ASINH_A = 0.1


def check_stretch(stretch: str) -> str:
    if stretch not in STRETCHES:
        raise ParameterError(f"fits_stretch={stretch!r} (--fits-stretch): use one of "
                             f"{', '.join(STRETCHES)}")
    return stretch


def is_fits(name: str, raw: bytes | None = None) -> bool:
    """A FITS file by its name, or by its first bytes (``SIMPLE  =``)."""
    return name.lower().endswith(FITS_SUFFIXES) or (raw is not None and raw[:9] == b"SIMPLE  =")


def fits_to_rgb(data: np.ndarray, stretch: str = "asinh", *, name: str = "array") -> np.ndarray:
    """An ``HxWx3`` ``uint8`` picture of a one- or three-band cutout, by the rule above.

    >>> band = np.zeros((4, 4)); band[1:3, 1:3] = 100.0
    >>> rgb = fits_to_rgb(band)
    >>> rgb.shape, rgb.dtype, int(rgb[0, 0, 0]), int(rgb[1, 1, 2])
    ((4, 4, 3), dtype('uint8'), 0, 255)
    >>> fits_to_rgb(np.arange(27, dtype=np.uint8).reshape(3, 3, 3))[0, 0].tolist()  # 8-bit: as is
    [0, 9, 18]
    """
    check_stretch(stretch)
    data = np.asarray(data)
    shape = data.shape
    if data.ndim == 3 and data.shape[0] in (1, 3):
        data = np.moveaxis(data, 0, -1)  # FITS order (bands, H, W) -> (H, W, bands)
    if data.ndim == 2:
        data = data[..., None]
    if data.ndim != 3 or data.shape[-1] not in (1, 3) or min(data.shape[:2]) < 2:
        raise DataError(f"{name}: a FITS cutout of shape {shape} cannot be "
                        "shown as a galaxy: use one band (H, W) or three (3, H, W), R G B in that "
                        "order")
    if data.shape[-1] == 1:
        data = np.repeat(data, 3, axis=-1)
    if data.dtype == np.uint8:
        return np.ascontiguousarray(data)
    from astropy.visualization import AsinhStretch, AsymmetricPercentileInterval

    values = data.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        raise DataError(f"{name}: the FITS cutout holds no finite pixel (all NaN or infinite)")
    lo, hi = AsymmetricPercentileInterval(*PERCENTILES).get_limits(values[finite])
    x = (np.where(finite, values, lo) - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    x = np.clip(x, 0.0, 1.0)
    if stretch == "asinh":
        x = AsinhStretch(a=ASINH_A)(x, clip=True)
    return np.rint(x * 255.0).astype(np.uint8)


def read_fits(name: str, raw: bytes, stretch: str = "asinh") -> np.ndarray:
    """The first image HDU of a FITS file's bytes as an ``HxWx3`` ``uint8`` picture."""
    from astropy.io import fits

    try:
        with fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=False) as hdus:
            data = next((h.data for h in hdus if getattr(h, "is_image", False) and h.data is not None
                         and h.data.ndim >= 2), None)
            if data is None:
                raise DataError(f"{name}: the FITS file holds no image HDU (2-D or 3-D data)")
            data = np.array(data)  # own the pixels before the file closes
    except DataError:
        raise
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError ... on junk
        raise DataError(f"{name}: FITS cannot be read - {type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    if data.dtype.byteorder not in ("=", "|"):
        data = data.astype(data.dtype.newbyteorder("="))
    return fits_to_rgb(data, stretch, name=name)


def is_manifest(where) -> bool:
    return str(where).lower().endswith(MANIFEST_SUFFIXES)


def read_manifest(where, *, id_column: str = "id", path_column: str = "path",
                  storage_options: dict | None = None) -> pd.DataFrame:
    """A manifest as ``id`` (text), ``source`` (a path or URL) and its other columns, in its order.

    Refuses, naming the manifest, row and column: a missing ID or path column, empty IDs or
    paths, duplicate IDs.
    """
    from helpers.data import store

    text = str(where)
    try:
        raw = store.read_bytes(where, storage_options)
    except FileNotFoundError:
        raise DataError(f"{text}: the manifest does not exist") from None
    try:
        if text.lower().endswith(".csv"):
            frame = pd.read_csv(io.BytesIO(raw), dtype={id_column: str, path_column: str})
        else:
            frame = pd.read_parquet(io.BytesIO(raw))
    except Exception as exc:
        raise DataError(f"{text}: the manifest cannot be read as "
                        f"{'CSV' if text.lower().endswith('.csv') else 'Parquet'} "
                        f"({type(exc).__name__}: {exc})") from None
    for column, option in ((id_column, "--id-column"), (path_column, "--path-column")):
        if column not in frame.columns:
            raise DataError(f"{text}: no column {column!r} (its columns: "
                            f"{', '.join(map(str, frame.columns[:12]))}): name the "
                            f"{'ID' if option == '--id-column' else 'path/URL'} column with {option}")
    if not len(frame):
        raise DataError(f"{text}: the manifest lists no cutouts")
    ids = frame[id_column].astype("string").str.strip()
    sources = frame[path_column].astype("string").str.strip()
    for values, column in ((ids, id_column), (sources, path_column)):
        empty = np.flatnonzero((values.isna() | (values == "")).to_numpy())
        if len(empty):
            raise DataError(f"{text}: column {column!r} is empty in row {_row(empty[0])}"
                            + (f" and {len(empty) - 1} more" if len(empty) > 1 else "")
                            + ": every cutout needs an ID and a path or URL")
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = ids.iloc[rows[0]]
        again = np.flatnonzero((ids == first).to_numpy())
        raise DataError(f"{text}: ID {first!r} (column {id_column!r}) appears in rows "
                        f"{', '.join(_row(r) for r in again[:5])}; {dup.sum()} rows share an ID: "
                        "IDs must be unique, as the codes are keyed by them")
    base = text.rsplit("/", 1)[0] if "/" in text else "."
    if not store.is_url(text):
        from helpers import paths

        base = str(paths.resolve(text).parent)
    out = frame.drop(columns=[id_column, path_column]).copy()
    out.insert(0, "source", [store.join(base, s) for s in sources.tolist()])
    out.insert(0, "id", ids.tolist())
    return out.reset_index(drop=True)


def _row(i: int) -> str:
    """A table row as a user counts it (the header is line 1 of a CSV, so row 1 is line 2)."""
    return f"{int(i) + 1}"


def sky_name(ra: float, dec: float, prefix: str = "MOCK") -> str:
    """An IAU-style name from a position in degrees, as surveys name their objects.

    >>> sky_name(187.70593, 12.39112)
    'MOCK J123049.42+122328.0'
    """
    ra = float(ra) % 360.0
    h = ra / 15.0
    hh, mm = int(h), int((h * 60) % 60)
    ss = (h * 3600) % 60
    sign = "-" if dec < 0 else "+"
    d = abs(float(dec))
    dd, dm = int(d), int((d * 60) % 60)
    ds = (d * 3600) % 60
    return f"{prefix} J{hh:02d}{mm:02d}{ss:05.2f}{sign}{dd:02d}{dm:02d}{ds:04.1f}"


def write_fits_cutouts(image_dir, out_dir, *, seed: int = 0, prefix: str = "MOCK"):
    """A survey-style copy of a folder of ``<GalaxyID>.jpg`` cutouts: FITS files and a manifest.

    Each image becomes ``cutouts/<name>.fits``: its three channels as three 8-bit bands
    (``(3, H, W)``, R G B; by rule 2 above they give the JPEG's codes exactly), with ``OBJECT``,
    ``RA`` and ``DEC`` in the header; ``<name>`` is an IAU-style name (:func:`sky_name`) of a
    seeded random position in the SDSS footprint's declination range. ``manifest.csv`` lists
    them with columns ``id`` (the name), ``path`` (relative to the manifest), ``ra``, ``dec``
    and ``mock_id`` (the image's GalaxyID). Written into a temporary folder and renamed, so an
    interrupted call leaves nothing half-written. Returns the manifest's path.
    """
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from astropy.io import fits
    from PIL import Image

    from helpers import artifacts

    image_dir, out_dir = Path(image_dir), Path(out_dir)
    files = sorted(image_dir.glob("*.jpg"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise DataError(f"{image_dir}: no .jpg cutouts to copy")
    if out_dir.exists():
        raise DataError(f"{out_dir} exists already: remove it or write the copy elsewhere")
    rng = np.random.default_rng(seed)
    ra = rng.uniform(0.0, 360.0, len(files))
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-10.0)), np.sin(np.radians(70.0)), len(files))))
    names = [sky_name(r, d, prefix) for r, d in zip(ra, dec, strict=True)]
    if len(set(names)) != len(names):
        raise DataError("two cutouts drew the same sky name: use another seed")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        (tmp / "cutouts").mkdir()
        rows = []
        for path, name, r, d in zip(files, names, ra, dec, strict=True):
            with Image.open(path) as img:
                pixels = np.asarray(img.convert("RGB"), dtype=np.uint8)
            hdu = fits.PrimaryHDU(np.ascontiguousarray(np.moveaxis(pixels, -1, 0)))
            hdu.header["OBJECT"] = name
            hdu.header["RA"] = (round(float(r), 6), "deg")
            hdu.header["DEC"] = (round(float(d), 6), "deg")
            file = f"cutouts/{name.replace(' ', '_')}.fits"
            hdu.writeto(tmp / file)
            rows.append({"id": name, "path": file, "ra": round(float(r), 6), "dec": round(float(d), 6),
                         "mock_id": int(path.stem)})
        pd.DataFrame(rows).to_csv(tmp / "manifest.csv", index=False)
        os.chmod(tmp, 0o777 & ~artifacts._umask())  # mkdtemp makes 0700 folders
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir / "manifest.csv"
