"""One way to read and cut an image (helpers.data.images), whoever reads it."""

from __future__ import annotations

import io
from pathlib import Path

import fsspec
import numpy as np
import pytest
from astropy.io import fits
from images import picture
from PIL import Image

from helpers.book import plots
from helpers.data import imagecache, images
from helpers.errors import DataError, ParameterError


@pytest.fixture
def galaxy() -> np.ndarray:
    """A 424 px picture with a bright square in its central half and noise around it."""
    return picture(424, noise=60, square=True)


def test_every_reader_gives_the_same_pixels(galaxy: np.ndarray, tmp_path: Path) -> None:
    """PNG on disk, PNG behind a URL, 8-bit FITS on disk and under another name: one picture."""
    Image.fromarray(galaxy).save(tmp_path / "1.png")
    fits.PrimaryHDU(np.moveaxis(galaxy, -1, 0)).writeto(tmp_path / "1.fits")
    (tmp_path / "fits-without-suffix").write_bytes((tmp_path / "1.fits").read_bytes())
    with fsspec.open("memory://images-test/1.png", "wb") as f:
        f.write((tmp_path / "1.png").read_bytes())
    for source in (tmp_path / "1.png", "memory://images-test/1.png", tmp_path / "1.fits",
                   tmp_path / "fits-without-suffix"):
        assert np.array_equal(images.read(source), galaxy), source
    assert np.array_equal(images.decode("x.png", (tmp_path / "1.png").read_bytes()), galaxy)


def test_the_cache_the_survey_and_the_figures_cut_alike(galaxy: np.ndarray, tmp_path: Path) -> None:
    """The bug the one module ends: a fixed 212 px crop in one reader, a fraction in another."""
    small = np.asarray(Image.fromarray(galaxy).resize((212, 212), Image.Resampling.BILINEAR))
    Image.fromarray(small).save(tmp_path / "2.png")
    cached = imagecache.load_image_array([tmp_path / "2.png"], size=32, crop=212, cache_dir=False)[0]
    assert np.array_equal(cached, images.read_cutout(tmp_path / "2.png", 32, 212))
    assert images.crop_pixels(212, 212) == 106
    # same field of view as the 424 px original: the bright square fills the picture
    assert cached.mean() > 140 and images.cutout(galaxy, 32).mean() > 140
    assert np.abs(cached.astype(int) - images.cutout(galaxy, 32).astype(int)).mean() < 25
    figure = plots.thumbnail(tmp_path / "2.png", size=32)
    assert figure.shape == (32, 32, 3) and figure.mean() > 140
    assert np.array_equal(plots.thumbnail(small, size=32), figure)


def test_colour_modes_become_rgb(tmp_path: Path) -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")  # 16-bit grey
    for name in ("grey.png", "deep.png"):
        picture = images.read(tmp_path / name)
        assert picture.shape == (8, 8, 3) and picture.dtype == np.uint8
        assert np.array_equal(picture[..., 0], grey) and np.array_equal(picture[..., 2], grey)


@pytest.mark.parametrize("where", ["missing", "folder", "junk", "truncated", "size", "fits-size"])
def test_unusable_files_are_named_with_the_reason(where: str, galaxy: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / f"{where}.png"
    buffer = io.BytesIO()
    Image.fromarray(galaxy).save(buffer, "PNG")
    if where == "folder":
        path.mkdir()
    elif where == "junk":
        path.write_bytes(b"not an image at all")
    elif where == "truncated":
        path.write_bytes(buffer.getvalue()[:2000])
    elif where == "size":
        path.write_bytes(buffer.getvalue())
    elif where == "fits-size":
        path = tmp_path / "small.fits"
        fits.PrimaryHDU(np.zeros((3, 20, 20), np.uint8)).writeto(path)
    reason = {"missing": "not found", "folder": "a folder", "junk": "cannot be read",
              "truncated": "truncated", "size": "wrong size", "fits-size": "wrong size"}[where]
    with pytest.raises(DataError, match=reason) as caught:
        images.read(path, size=100 if where == "size" else 424 if where == "fits-size" else None)
    assert str(path) in str(caught.value)


def test_bad_geometry_is_a_parameter_error(galaxy: np.ndarray) -> None:
    for crop in (0, 425, 2.5, True):
        with pytest.raises(ParameterError, match="crop"):
            images.cutout(galaxy, 32, crop)
    with pytest.raises(ParameterError, match="resample"):
        images.resize(galaxy, 32, "nearest-ish")
    with pytest.raises(ParameterError, match="image_size"):
        images.read("x.png", size=-1)
