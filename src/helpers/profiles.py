"""Parameter profiles and the chapters' own parameters: what a run will run with.

A profile (``params/demo.yml``) names the run, the data, and the chapters' parameters::

    run: demo                      # artifacts and executed notebooks go to data/processed/demo/
    mock: {n: 3000, seed: 42}      # generate the mock Galaxy Zoo into data_dir when it is missing
    data_dir: data/synthetic/demo  # Kaggle layout; relative paths start at the repository root
    seed: 42                       # any parameter a chapter declares; passed to those that declare it
    chapters:
      01_labels: {label_threshold: null}   # parameters for one chapter only

A chapter declares its parameters in the cell tagged ``parameters`` of its py:percent source
(``notebooks/NN_name.py``); a profile key that no chapter declares is a typo and is refused
before anything runs (:func:`check_profile_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from helpers import paths
from helpers.data.schema import SOLUTIONS_CSV
from helpers.errors import ParameterError

RUNNER_KEYS = {"run", "mock", "chapters", "description"}
KERNEL = "python3"


@dataclass
class Profile:
    """A parameter profile, read and checked."""

    path: Path
    run: str
    data_dir: Path
    mock: dict | None
    common: dict[str, Any] = field(default_factory=dict)
    chapters: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return paths.PROCESSED / self.run


def load_profile(path: str | Path) -> Profile:
    """Read a YAML profile; every mistake is a ParameterError naming the file and key."""
    path = paths.resolve(path)
    if not path.exists():
        known = ", ".join(p.relative_to(paths.ROOT).as_posix() for p in sorted(paths.PARAMS.glob("*.yml")))
        raise ParameterError(f"profile {path} does not exist; known profiles: {known}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ParameterError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ParameterError(f"{path}: expected a mapping of parameters at the top level")
    run = raw.get("run")
    if not isinstance(run, str) or not run or "/" in run or run.startswith("."):
        raise ParameterError(f"{path}: 'run' must be a plain folder name such as 'demo' (got {run!r})")
    if not isinstance(raw.get("data_dir"), str) or not raw["data_dir"].strip():
        raise ParameterError(f"{path}: 'data_dir' must name the folder with {SOLUTIONS_CSV} "
                             f"(got {raw.get('data_dir')!r})")
    mock = raw.get("mock")
    if mock is not None:
        if not isinstance(mock, dict) or "n" not in mock:
            raise ParameterError(f"{path}: 'mock' must be a mapping with at least 'n' (and 'seed')")
        unknown = set(mock) - {"n", "seed", "n_test"}
        if unknown:
            raise ParameterError(f"{path}: unknown keys under 'mock': {sorted(unknown)} (use n, seed, n_test)")
        for key, low in (("n", 1), ("seed", 0), ("n_test", 0)):
            value = mock.get(key, low)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ParameterError(f"{path}: mock.{key} must be an integer >= {low} (got {value!r})")
    chapters = raw.get("chapters") or {}
    if not isinstance(chapters, dict) or not all(isinstance(v, dict) for v in chapters.values()):
        raise ParameterError(f"{path}: 'chapters' must map chapter names to parameter mappings")
    common = {k: v for k, v in raw.items() if k not in RUNNER_KEYS}
    return Profile(path=path, run=run, data_dir=paths.resolve(raw["data_dir"]), mock=mock,
                   common=common, chapters=chapters)


def n_galaxies(profile: Profile) -> int | None:
    """The number of labelled galaxies the profile's run will read: the mock's ``n``, else the
    rows of the vote table (None when it cannot be read yet).

    >>> n_galaxies(Profile(path=Path("p.yml"), run="r", data_dir=Path("nowhere"), mock={"n": 3000}))
    3000
    >>> n_galaxies(Profile(path=Path("p.yml"), run="r", data_dir=Path("nowhere"), mock=None)) is None
    True
    """
    if profile.mock:
        return int(profile.mock["n"])
    try:
        with open(profile.data_dir / SOLUTIONS_CSV, "rb") as f:
            return max(sum(1 for _ in f) - 1, 0)
    except OSError:
        return None


def chapter_sources() -> list[Path]:
    """The chapters' py:percent sources, in order (``notebooks/NN_name.py``)."""
    return sorted(paths.NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def read_chapter(source: Path):
    """The chapter as an nbformat notebook, outputs empty, with stable cell ids."""
    import jupytext

    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
        cell.metadata.setdefault("tags", [])  # papermill expects the key (empty ones are stripped)
    return nb


def declared_parameters(nb) -> dict[str, Any]:
    """Names and defaults of the parameters cell (the cell tagged ``parameters``), the defaults
    as papermill reports them: source text (:func:`default_value` reads one)."""
    import tempfile

    import nbformat
    from papermill import inspect_notebook

    with tempfile.TemporaryDirectory() as tmp:  # papermill's public API reads a notebook file
        path = Path(tmp) / "chapter.ipynb"
        nbformat.write(nb, path)
        return {name: p["default"] for name, p in inspect_notebook(path).items()}


def default_value(default: str) -> Any:
    """papermill reports defaults as source text: the value it stands for (for comparison).

    >>> default_value("[3, 4]"), default_value("None"), default_value("np.pi")
    ([3, 4], None, 'np.pi')
    """
    import ast

    try:
        return ast.literal_eval(default)
    except (ValueError, SyntaxError):
        return default


def chapter_parameters(profile: Profile, stem: str, declared: dict[str, Any]) -> dict[str, Any]:
    """The parameters papermill injects into chapter ``stem``: the profile's values it declares."""
    params = {k: v for k, v in profile.common.items() if k in declared}
    params.update(profile.chapters.get(stem, {}))
    if "run_dir" in declared:
        params["run_dir"] = paths.relative(profile.run_dir)
    if "data_dir" in declared:
        params["data_dir"] = paths.relative(profile.data_dir)
    unknown = set(profile.chapters.get(stem, {})) - set(declared)
    if unknown:
        raise ParameterError(
            f"{profile.path.name}: chapters.{stem} sets {sorted(unknown)}, which {stem} does not "
            f"declare; its parameters are {sorted(declared)}"
        )
    return params


def check_profile_keys(profile: Profile, declared_by_chapter: dict[str, dict[str, Any]]) -> None:
    """A key no chapter declares is a typo: say so before anything runs."""
    everything = set().union(*declared_by_chapter.values()) if declared_by_chapter else set()
    unknown = set(profile.common) - everything - {"data_dir"}
    if unknown:
        raise ParameterError(
            f"{profile.path.name}: {sorted(unknown)} is not a parameter of any chapter; "
            f"known parameters: {sorted(everything)}"
        )
    stray = set(profile.chapters) - set(declared_by_chapter)
    if stray:
        raise ParameterError(
            f"{profile.path.name}: no chapter named {sorted(stray)}; chapters: {sorted(declared_by_chapter)}"
        )


__all__ = ["Profile", "load_profile", "n_galaxies", "chapter_sources", "read_chapter",
           "declared_parameters", "default_value", "chapter_parameters", "check_profile_keys",
           "KERNEL"]
