"""Decode, centre-crop and resize every image once, into a cache that training epochs reuse.

JPEG decoding of a 424x424 cutout costs a few milliseconds; a training epoch that decoded every
image again would spend most of its time there. :func:`load_image_array` decodes the images
once (on a thread pool), cuts each as the network sees it (:func:`helpers.data.images.cutout`: the
central ``crop`` x ``crop`` square of a 424 px Kaggle cutout, the same fraction of any other
side, resized to ``size`` x ``size``) and stores the stack as one ``.npy`` file::

    CACHE_DIR/images-<key>.npy        (N, size, size, 3) uint8, images in sorted file-name order

``key`` is the SHA-256 of the sorted list of (file name, file size, modification time in ns),
the crop, the size and a format version, so any change of the data (a file replaced, touched,
added or removed) or of the geometry gives a new file and the stale one is simply not used.
The file is written to a temporary name and renamed into place (an interrupted run leaves no
half cache), and read back memory-mapped without pickle. Example (the notebook call)::

    from helpers.data.dataset import load_dataset
    from helpers.data.imagecache import load_image_array

    frame, _ = load_dataset("data/synthetic/demo")
    images = load_image_array(frame["image_path"], size=64, crop=212)
    images.shape, images.dtype
    # ((2000, 64, 64, 3), dtype('uint8'))
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from helpers import paths
from helpers.data import images
from helpers.artifacts import atomic_path
from helpers.errors import DataError, ParameterError
from helpers.data.schema import IMAGE_SIZE

__all__ = ["DEFAULT_CACHE_DIR", "MIN_SIZE", "cache_key", "cache_path", "load_image_array"]

#: Bump when the decoding, crop or resize changes: old cache files are then ignored.
FORMAT_VERSION = "2"  # 2: images of another side than 424 px cut to the same fraction
#: Where the cache lives unless told otherwise (ignored by git, removed by ``make clean``).
DEFAULT_CACHE_DIR = paths.ROOT / ".cache" / "images"
#: The smallest image a ResNet can take (five stride-2 stages: 32 px -> 1 px).
MIN_SIZE = 32


def _check_geometry(size: int, crop: int) -> tuple[int, int]:
    if isinstance(size, bool) or not isinstance(size, int | np.integer):
        raise ParameterError(f"size must be an integer number of pixels, got {size!r}")
    if isinstance(crop, bool) or not isinstance(crop, int | np.integer):
        raise ParameterError(f"crop must be an integer number of pixels, got {crop!r}")
    size, crop = int(size), int(crop)
    if size < MIN_SIZE:
        raise ParameterError(
            f"size={size}: images must be at least {MIN_SIZE} px for a ResNet (its body halves "
            f"the image five times); use size >= {MIN_SIZE}, e.g. 64"
        )
    if not 1 <= crop <= IMAGE_SIZE:
        raise ParameterError(
            f"crop={crop}: the central square must lie inside the {IMAGE_SIZE} px cutouts; "
            f"use 1 <= crop <= {IMAGE_SIZE} (e.g. 212, or {IMAGE_SIZE} for the whole image)"
        )
    return size, crop


def _stat_entries(image_paths: Sequence[Path]) -> list[tuple[str, int, int]]:
    entries = []
    for p in image_paths:
        try:
            st = os.stat(p)
        except FileNotFoundError:
            raise DataError(f"{p}: image not found - restore it, or drop the galaxy") from None
        except OSError as exc:
            raise DataError(f"{p}: image cannot be read: {exc.strerror or exc}") from None
        entries.append((p.name, int(st.st_size), int(st.st_mtime_ns)))
    return entries


def _key(entries: Iterable[tuple[str, int, int]], size: int, crop: int) -> str:
    payload = json.dumps(
        {"files": sorted(entries), "crop": crop, "size": size, "version": FORMAT_VERSION},
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def cache_key(image_paths: Iterable[str | Path], size: int, crop: int = 212) -> str:
    """The cache key of these images at this geometry (a hex SHA-256, order-independent).

    Also a fingerprint of the image data a model was trained on (it goes into ``model.json``).
    Raises :class:`~helpers.errors.DataError` naming a file that cannot be found.
    """
    size, crop = _check_geometry(size, crop)
    return _key(_stat_entries([Path(p) for p in image_paths]), size, crop)


def cache_path(image_paths: Iterable[str | Path], size: int, crop: int = 212,
               cache_dir: str | Path | None = None) -> Path:
    """Where :func:`load_image_array` keeps (or would keep) the cache of these images."""
    cache_dir = DEFAULT_CACHE_DIR if cache_dir is None else paths.resolve(cache_dir)
    return cache_dir / f"images-{cache_key(image_paths, size, crop)}.npy"


def _decode_one(path: Path, size: int, crop: int) -> np.ndarray:
    return images.cutout(images.read(path), size, crop)  # raises DataError naming the file


def _decode_into(out: np.ndarray, image_paths: Sequence[Path], size: int, crop: int,
                 workers: int | None) -> None:
    from helpers.progress import Ticker

    n_workers = workers or min(4, os.cpu_count() or 1)
    ticker = Ticker(f"decoding images into the cache at {size} px", len(image_paths))

    def work(i: int) -> None:
        out[i] = _decode_one(image_paths[i], size, crop)

    if n_workers <= 1 or len(image_paths) < 2:
        for i in range(len(image_paths)):
            work(i)
            ticker.tick()
        return
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        for _ in pool.map(work, range(len(image_paths))):  # re-raises the first error
            ticker.tick()


def load_image_array(image_paths: Iterable[str | Path], size: int, crop: int = 212,
                     cache_dir: str | Path | None | bool = None,
                     workers: int | None = None) -> np.ndarray:
    """All images, centre-cropped to ``crop`` and resized to ``size``: ``(N, size, size, 3)`` uint8.

    Images come back in the order of ``image_paths``. The first call decodes them (on
    ``workers`` threads, default ``min(4, cpu_count)``) and writes the cache
    ``cache_dir/images-<key>.npy`` atomically (``cache_dir`` defaults to
    :data:`DEFAULT_CACHE_DIR`; ``False`` decodes without caching); later calls with the same
    files, crop and size read it back memory-mapped (read-only) instead of decoding. When the
    order asked for is the cache's own (sorted file names, the order of the Kaggle table), the
    memory map itself is returned; otherwise an in-memory copy in the order asked for.

    Raises :class:`~helpers.errors.ParameterError` naming ``size`` (below 32 px) or ``crop``
    (outside 1-424), and :class:`~helpers.errors.DataError` naming an image that is missing,
    or unreadable.

    >>> import tempfile
    >>> from PIL import Image
    >>> d = Path(tempfile.mkdtemp())
    >>> files = [d / f"{gid}.jpg" for gid in (100008, 100023, 100053)]
    >>> for f in files:
    ...     Image.new("RGB", (424, 424), (20, 30, 40)).save(f)
    >>> arr = load_image_array(files, size=32, cache_dir=d / "cache")
    >>> arr.shape, arr.dtype, len(list((d / "cache").glob("images-*.npy")))
    ((3, 32, 32, 3), dtype('uint8'), 1)
    """
    size, crop = _check_geometry(size, crop)
    image_paths = [Path(p) for p in image_paths]
    if not image_paths:
        raise ParameterError("image_paths is empty: there are no images to load")
    entries = _stat_entries(image_paths)
    if cache_dir is False:
        out = np.empty((len(image_paths), size, size, 3), dtype=np.uint8)
        _decode_into(out, image_paths, size, crop, workers)
        return out

    # The cache holds each distinct file once, sorted by (name, size, mtime, path).
    order = sorted(range(len(image_paths)),
                   key=lambda i: (*entries[i], str(image_paths[i])))
    unique: list[int] = []  # positions (into image_paths) of the distinct files, in cache order
    row_of: dict[str, int] = {}
    for i in order:
        p = str(image_paths[i])
        if p not in row_of:
            row_of[p] = len(unique)
            unique.append(i)
    rows = np.fromiter((row_of[str(p)] for p in image_paths), dtype=np.int64,
                       count=len(image_paths))

    cache_dir = DEFAULT_CACHE_DIR if cache_dir is None or cache_dir is True \
        else paths.resolve(cache_dir)
    target = cache_dir / f"images-{_key((entries[i] for i in unique), size, crop)}.npy"
    shape = (len(unique), size, size, 3)
    cached = _open_cache(target, shape)
    if cached is None:
        with atomic_path(target) as tmp:
            mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            try:
                _decode_into(mm, [image_paths[i] for i in unique], size, crop, workers)
                mm.flush()
            finally:
                del mm
        cached = _open_cache(target, shape)
        if cached is None:  # pragma: no cover - only if another process broke the file
            raise DataError(f"{target}: the image cache just written cannot be read back")
    if np.array_equal(rows, np.arange(len(unique))):
        return cached
    return np.ascontiguousarray(cached[rows])


def _open_cache(target: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The memory-mapped cache, or None when it is absent or not what it should be."""
    if not target.exists():
        return None
    try:
        arr = np.load(target, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None  # a damaged file is rebuilt (and replaced atomically)
    if arr.shape != shape or arr.dtype != np.uint8:
        return None
    return arr
