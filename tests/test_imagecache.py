"""The image cache (helpers.data.imagecache): decoded, cropped, resized once, keyed by the files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from images import write_jpegs
from PIL import Image

from helpers.data import imagecache
from helpers.errors import DataError, ParameterError

SIZE = 32


def _write_jpegs(folder: Path, n: int = 5) -> list[Path]:
    return write_jpegs(folder, [100000 + i * 7 for i in range(n)], seed=1, noise=255)


def test_image_cache_hits_and_keys(tmp_path, monkeypatch):
    files = _write_jpegs(tmp_path / "img")
    cache = tmp_path / "cache"
    first = imagecache.load_image_array(files, size=SIZE, crop=212, cache_dir=cache, workers=2)
    assert first.shape == (5, SIZE, SIZE, 3) and first.dtype == np.uint8
    assert [p.name for p in cache.iterdir()] == [
        imagecache.cache_path(files, SIZE, 212, cache).name]  # one file, no temp left behind

    calls = []
    real = imagecache._decode_one

    def counting(*args):
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(imagecache, "_decode_one", counting)
    again = imagecache.load_image_array(files, size=SIZE, crop=212, cache_dir=cache)
    assert calls == [] and np.array_equal(again, first)
    assert isinstance(again, np.memmap) and not again.flags.writeable
    shuffled = imagecache.load_image_array(files[::-1], size=SIZE, crop=212, cache_dir=cache)
    assert calls == [] and np.array_equal(shuffled, first[::-1])

    key = imagecache.cache_key(files, SIZE, 212)
    st = os.stat(files[2])
    os.utime(files[2], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert imagecache.cache_key(files, SIZE, 212) != key
    assert imagecache.cache_key(files, SIZE, 200) != imagecache.cache_key(files, SIZE, 212)
    imagecache.load_image_array(files, size=SIZE, crop=212, cache_dir=cache)
    assert len(calls) == 5
    assert len(list(cache.glob("images-*.npy"))) == 2
    assert not [p for p in cache.iterdir() if not p.name.endswith(".npy")]


def test_image_cache_content_is_the_centre(tmp_path):
    folder = tmp_path / "img"
    folder.mkdir()
    arr = np.zeros((424, 424, 3), np.uint8)
    arr[106:318, 106:318] = 200  # exactly the central 212 px
    Image.fromarray(arr).save(folder / "1.png")
    (folder / "1.png").rename(folder / "1.jpg")  # PNG data: lossless for the check
    out = imagecache.load_image_array([folder / "1.jpg"], size=SIZE, crop=212, cache_dir=False)
    assert out.min() >= 195


def test_image_cache_is_atomic_and_names_bad_files(tmp_path, monkeypatch):
    files = _write_jpegs(tmp_path / "img", n=4)
    bad = files[2]
    bad.write_bytes(b"this is not a jpeg")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=bad.name):
        imagecache.load_image_array(files, size=SIZE, cache_dir=cache, workers=2)
    assert not cache.exists() or list(cache.iterdir()) == []
    with pytest.raises(DataError, match="missing.jpg|not found"):
        imagecache.load_image_array([tmp_path / "missing.jpg"], size=SIZE, cache_dir=cache)


def test_image_cache_parameters(tmp_path):
    files = _write_jpegs(tmp_path / "img", n=1)
    with pytest.raises(ParameterError, match="size"):
        imagecache.load_image_array(files, size=16, cache_dir=False)
    with pytest.raises(ParameterError, match="crop"):
        imagecache.load_image_array(files, size=64, crop=500, cache_dir=False)
