"""The one maker of synthetic pictures for the tests: a galaxy-like blob (or a bright square,
for the tests of cutting) over noise, as HxWx3 uint8 arrays or JPEG files."""

from pathlib import Path

import numpy as np
from PIL import Image


def picture(size: int = 424, seed: int = 0, *, noise: float = 20, width: float = 0.1,
            elongation: float = 1.0, square: bool = False) -> np.ndarray:
    """A galaxy-like picture: a centred Gaussian blob of ``width`` x ``size`` (stretched
    ``elongation`` times along y) in warm colours over uniform noise up to ``noise``; with
    ``square``, a bright noisy square filling the central half instead (what a 212 px crop of
    a 424 px picture keeps).

    >>> picture(32).shape, picture(32).dtype, bool((picture(32) == picture(32)).all())
    ((32, 32, 3), dtype('uint8'), True)
    """
    rng = np.random.default_rng(seed)
    out = rng.uniform(0, noise, (size, size, 3)) if noise else np.zeros((size, size, 3))
    if square:
        lo, hi = size // 4, size - size // 4
        out[lo:hi, lo:hi] = rng.uniform(150, 255, (hi - lo, hi - lo, 3))
        return out.astype(np.uint8)
    yy, xx = np.mgrid[:size, :size] - size / 2
    sigma = width * size
    g = np.exp(-(xx**2 + (yy / elongation) ** 2) / (2 * sigma**2))
    out += np.stack([g, 0.8 * g, 0.6 * g], axis=-1) * 220
    return np.clip(out, 0, 255).astype(np.uint8)


def pictures(n: int, size: int = 424, seed: int = 0, **kw) -> np.ndarray:
    """``n`` pictures of :func:`picture` (seeds ``seed``, ``seed + 1`` ...), stacked."""
    return np.stack([picture(size, seed + i, **kw) for i in range(n)])


def write_jpegs(folder: Path, ids, size: int = 424, seed: int = 0, quality: int = 90, **kw) -> list[Path]:
    """One ``<id>.jpg`` of :func:`picture` per id into ``folder`` (created); their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, gid in enumerate(ids):
        files.append(folder / f"{gid}.jpg")
        Image.fromarray(picture(size, seed + i, **kw)).save(files[-1], quality=quality)
    return files
