"""Reading a galaxy image, from any source, and cutting it as the network sees it.

Every image the project reads passes through this module: the Kaggle JPEGs and the mock's, a
survey's PNG or FITS cutout on disk or behind a URL, a picture drawn in the book. Two rules:

**Decoding** (:func:`read`, :func:`decode`): JPEG and PNG through Pillow, fully decoded (a
truncated file is always an error, whatever ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` says), any
colour mode converted to RGB (:func:`to_rgb`: grey, palette, CMYK, 16-bit scaled to 8-bit,
alpha composited onto black); FITS by the rule of :mod:`helpers.data.cutouts`. The result is an
``HxWx3`` ``uint8`` array. A file that cannot be used raises
:class:`~helpers.errors.DataError` naming it and saying why.

**The network's view** (:func:`cutout`): the central square, resized (Pillow bilinear with
antialiasing, like torchvision's ``Resize``). The run's ``crop`` is counted in the pixels of the
424 px Kaggle cutouts (the seed study: 212, the central half); an image of any other side is
cut to the same *fraction* of its side (``crop / 424``), so a galaxy fills the input as it did
in training whichever survey or generator drew it.

Example::

    from helpers.data import images

    picture = images.read("data/synthetic/demo/images_training_rev1/100008.jpg")
    images.cutout(picture, size=64).shape
    # (64, 64, 3)
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from helpers.errors import DataError, ParameterError
from helpers.data.schema import IMAGE_SIZE

__all__ = ["FAULT_TEXT", "ImageFault", "center_crop_resize", "check_size", "crop_pixels", "cutout", "decode",
           "load_rgb", "read", "read_cutout", "resize", "to_rgb"]

#: What each kind of unusable file is called in messages (the kinds of the dataset report).
FAULT_TEXT = {
    "image_missing": "image not found",
    "image_unreadable": "image cannot be read",
    "image_truncated": "image is truncated (the file was cut short)",
    "image_size": "image has the wrong size",
}
_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC,
             "lanczos": Image.Resampling.LANCZOS}


class ImageFault(Exception):
    """Why a file cannot be used as an image: ``kind`` (a key of :data:`FAULT_TEXT`) and ``detail``."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


# --------------------------------------------------------------------------------------------
# decoding


_strict_lock = threading.Lock()
_strict_depth = 0
_strict_saved = False


@contextlib.contextmanager
def _strict_truncation() -> Iterator[None]:
    """Make PIL raise on truncated files even if someone set LOAD_TRUNCATED_IMAGES = True.

    The flag is module-global in PIL; it is forced to False while any strict decode runs and
    restored afterwards (reference-counted, so concurrent callers do not clobber each other).
    """
    global _strict_depth, _strict_saved
    with _strict_lock:
        if _strict_depth == 0:
            _strict_saved = ImageFile.LOAD_TRUNCATED_IMAGES
            ImageFile.LOAD_TRUNCATED_IMAGES = False
        _strict_depth += 1
    try:
        yield
    finally:
        with _strict_lock:
            _strict_depth -= 1
            if _strict_depth == 0:
                ImageFile.LOAD_TRUNCATED_IMAGES = _strict_saved


def _decode(source: Path | BinaryIO) -> tuple[Image.Image, str | None]:
    """Fully decode a file (a path or an open binary file); returns the image and its format.

    Raises :class:`ImageFault`.
    """
    try:
        with Image.open(source) as im:
            im.load()
            return im, im.format
    except FileNotFoundError:
        raise ImageFault("image_missing", "the file does not exist") from None
    except UnidentifiedImageError:
        raise ImageFault("image_unreadable", "not an image file PIL can read") from None
    except Image.DecompressionBombError as exc:
        raise ImageFault("image_unreadable", f"refused as too large: {exc}") from None
    except OSError as exc:
        text = str(exc) or type(exc).__name__
        if "truncated" in text.lower():
            raise ImageFault("image_truncated", text) from None
        if isinstance(exc, PermissionError):
            raise ImageFault("image_unreadable", "permission denied") from None
        raise ImageFault("image_unreadable", f"corrupt: {text}") from None
    except Exception as exc:  # PIL raises SyntaxError, ValueError, struct.error ... on junk
        raise ImageFault("image_unreadable", f"corrupt: {type(exc).__name__}: {exc}") from None


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB (alpha composited onto black, 16-bit scaled to 8-bit)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        arr = np.clip(np.rint(arr / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if mode == "F":
        arr = np.nan_to_num(np.asarray(im, dtype=np.float64))
        if arr.size and arr.max() <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, (0, 0, 0))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return im.convert("RGB")


def load_rgb(source: Path | BinaryIO, size: int | None = None) -> tuple[Image.Image, str, str | None]:
    """Decode, size-check (``size`` x ``size`` unless ``size`` is None) and convert to RGB.

    Returns ``(rgb image, original mode, format)``; raises :class:`ImageFault`. The dataset
    check (:mod:`helpers.data.dataset`) reports the mode and format; everyone else uses :func:`read`.
    """
    with _strict_truncation():
        im, fmt = _decode(source)
    if size and im.size != (size, size):
        raise ImageFault("image_size", f"{im.size[0]}x{im.size[1]} pixels, expected {size}x{size}")
    mode = im.mode
    try:
        rgb = to_rgb(im)
    except Exception as exc:  # an exotic mode PIL cannot convert
        raise ImageFault("image_unreadable", f"mode {mode} cannot be converted to RGB: {exc}") \
            from None
    return rgb, mode, fmt


def check_size(size) -> int | None:
    """``size`` as a number of pixels, or None for any size (``None`` and ``0``)."""
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise ParameterError(f"image_size={size!r} must be a whole number of pixels (0 or None: any size)")
    if size < 0:
        raise ParameterError(f"image_size={size} is negative; use {IMAGE_SIZE} for the Kaggle cutouts "
                             "or 0 to accept any size (--image-size)")
    return int(size) or None


def decode(name: str, raw: bytes, *, size: int | None = None, fits_stretch: str = "asinh") -> np.ndarray:
    """A file's bytes (FITS by name or content, else JPEG/PNG/any Pillow format) as ``HxWx3`` uint8.

    ``name`` is the file's path or URL, used in messages and to recognise FITS by its suffix;
    ``size`` (None or 0: any) demands a ``size`` x ``size`` picture.

    >>> buffer = io.BytesIO(); Image.new("L", (8, 6), 7).save(buffer, "PNG")
    >>> decode("grey.png", buffer.getvalue()).shape
    (6, 8, 3)
    """
    from helpers.data import cutouts

    size = check_size(size)
    if cutouts.is_fits(name, raw):
        picture = cutouts.read_fits(name, raw, fits_stretch)
        if size and picture.shape[:2] != (size, size):
            raise DataError(f"{name}: {FAULT_TEXT['image_size']} - {picture.shape[1]}x{picture.shape[0]} "
                            f"pixels, expected {size}x{size}")
        return picture
    try:
        rgb, _, _ = load_rgb(io.BytesIO(raw), size)
    except ImageFault as fault:
        raise DataError(f"{name}: {FAULT_TEXT[fault.kind]} - {fault.detail}") from None
    return np.array(rgb, dtype=np.uint8)


def read(source: str | Path, size: int | None = None, *, fits_stretch: str = "asinh",
         storage_options: dict | None = None) -> np.ndarray:
    """One image, a local path or a URL (``s3://``, ``gs://``, ``https://`` ...), as ``HxWx3`` uint8.

    JPEG, PNG (any colour mode) or FITS (``fits_stretch`` as in :mod:`helpers.data.cutouts`).
    ``size`` (None or 0: any) demands a ``size`` x ``size`` picture. Raises
    :class:`~helpers.errors.DataError` naming the file when it is missing, a folder, not an
    image, corrupt, truncated or of the wrong size.
    """
    from helpers.data import cutouts, store

    name = str(source)
    if store.is_url(source) or cutouts.is_fits(name):
        try:
            raw = store.read_bytes(source, storage_options)
        except FileNotFoundError:
            raise DataError(f"{name}: {FAULT_TEXT['image_missing']} - the file does not exist") from None
        except IsADirectoryError:
            raise DataError(f"{name}: {FAULT_TEXT['image_unreadable']} - it is a folder") from None
        return decode(name, raw, size=size, fits_stretch=fits_stretch)
    size = check_size(size)
    path = Path(source)
    if path.is_dir():
        raise DataError(f"{name}: {FAULT_TEXT['image_unreadable']} - it is a folder")
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except FileNotFoundError:
        raise DataError(f"{name}: {FAULT_TEXT['image_missing']} - the file does not exist") from None
    except OSError as exc:
        raise DataError(f"{name}: {FAULT_TEXT['image_unreadable']} - {exc.strerror or exc}") from None
    if cutouts.is_fits(name, head):  # a FITS file by its content, whatever its name
        return decode(name, path.read_bytes(), size=size, fits_stretch=fits_stretch)
    try:
        rgb, _, _ = load_rgb(path, size)
    except ImageFault as fault:
        raise DataError(f"{name}: {FAULT_TEXT[fault.kind]} - {fault.detail}") from None
    return np.array(rgb, dtype=np.uint8)


# --------------------------------------------------------------------------------------------
# the network's view


def crop_pixels(side: int, crop: int = 212) -> int:
    """The side of the central square to keep of an image ``side`` pixels wide.

    ``crop`` is in the pixels of the 424 px Kaggle cutouts; other sides keep the same fraction.

    >>> crop_pixels(424, 212), crop_pixels(128, 212), crop_pixels(64, 424), crop_pixels(10, 1)
    (212, 64, 64, 1)
    """
    if isinstance(crop, bool) or not isinstance(crop, int | np.integer) or not 1 <= crop <= IMAGE_SIZE:
        raise ParameterError(f"crop={crop!r}: use a whole number of pixels from 1 to {IMAGE_SIZE} "
                             f"(of the {IMAGE_SIZE} px Kaggle cutouts; the seed study: 212)")
    if side == IMAGE_SIZE:
        return int(crop)
    return int(min(side, max(1, round(side * crop / IMAGE_SIZE))))


def resize(image: np.ndarray, size: int, resample: str = "bilinear") -> np.ndarray:
    """An ``HxWx3`` uint8 image resized to ``size`` x ``size`` (Pillow, with antialiasing).

    >>> resize(np.zeros((10, 10, 3), np.uint8), 4).shape
    (4, 4, 3)
    """
    if resample not in _RESAMPLE:
        raise ParameterError(f"resample={resample!r}: use one of {', '.join(_RESAMPLE)}")
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.shape[:2] == (size, size):
        return image
    resized = Image.fromarray(image).resize((int(size), int(size)), _RESAMPLE[resample])
    return np.asarray(resized, dtype=np.uint8)


def center_crop_resize(image: np.ndarray, size: int, crop: int = 212, resample: str = "bilinear") -> np.ndarray:
    """The central ``crop`` x ``crop`` square of an ``HxWx3`` image (in its own pixels), resized to ``size``.

    >>> img = np.zeros((424, 424, 3), np.uint8); img[200:224, 200:224] = 255
    >>> out = center_crop_resize(img, size=32, crop=212)
    >>> out.shape, out.dtype, int(out[16, 16, 0]), int(out[0, 0, 0])
    ((32, 32, 3), dtype('uint8'), 255, 0)
    """
    h, w = image.shape[:2]
    if h < crop or w < crop:
        raise ParameterError(f"crop={crop} is larger than the {w}x{h} image; use crop <= {min(h, w)}")
    top, left = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
    return resize(image[top:top + crop, left:left + crop], size, resample)


def cutout(image: np.ndarray, size: int, crop: int = 212, resample: str = "bilinear") -> np.ndarray:
    """What the network sees of an ``HxWx3`` picture: the central :func:`crop_pixels` square, resized.

    >>> big, small = np.zeros((424, 424, 3), np.uint8), np.zeros((128, 128, 3), np.uint8)
    >>> big[106:318, 106:318] = small[32:96, 32:96] = 200  # the same central half
    >>> bool((cutout(big, 16) == cutout(small, 16)).all())
    True
    """
    side = min(image.shape[:2])
    return center_crop_resize(image, size, crop_pixels(side, crop), resample)


def read_cutout(source: str | Path, size: int, crop: int = 212, *, fits_stretch: str = "asinh",
                storage_options: dict | None = None) -> np.ndarray:
    """:func:`read` then :func:`cutout`: an image file as the network sees it."""
    return cutout(read(source, fits_stretch=fits_stretch, storage_options=storage_options), size, crop)
