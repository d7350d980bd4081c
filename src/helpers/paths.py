"""Every path of the project, anchored on this file (never on the notebook's working folder).

>>> (ROOT / "pyproject.toml").exists()
True
>>> resolve("data/synthetic/demo") == ROOT / "data" / "synthetic" / "demo"
True
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PARAMS = ROOT / "params"
DATA = ROOT / "data"
RAW = DATA / "raw"
SYNTHETIC = DATA / "synthetic"
PROCESSED = DATA / "processed"
BUILD = ROOT / "_build"


def resolve(path: str | Path) -> Path:
    """An absolute path: relative paths are taken from the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else ROOT / p


def relative(path: str | Path) -> str:
    """``path`` relative to the repository root when inside it (for messages and the book)."""
    p = resolve(path)
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:
        return str(p)
