"""The replay: the committed run's headline numbers, and how far each may move.

Every chapter ends by recording its headline numbers (``metrics.json`` → ``<section>.headlines``)
and printing :func:`report`: one line per headline saying whether this run's value lies within
its run-to-run tolerance of the committed run's. ``pytest --nbval`` compares that printed text
with the committed notebook's, so a headline that drifts beyond its tolerance fails the replay,
while the exact digits (which move a little between machines) are not compared.

- ``notebooks/headlines.json``: the committed run's values, written by ``make refresh`` from the
  refreshed run (``helpers.runner``), with the run and data they came from.
- ``notebooks/tolerances.yml``: the tolerance of each headline (or of a family of headlines,
  keyed by the name's first part), measured as run-to-run spread; see its comments.

A run on other data (or another profile) is not the committed run: :func:`report` says so and
compares nothing. During ``make refresh`` (environment ``GC_COMMITTED_RUN=1``) the run *is* the
new committed run, so every headline is within tolerance by definition.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from helpers import paths
from helpers.errors import DataError

HEADLINES = paths.NOTEBOOKS / "headlines.json"
TOLERANCES = paths.NOTEBOOKS / "tolerances.yml"
COMMITTED_ENV = "GC_COMMITTED_RUN"


EXACT = "exact"  # the tolerance of a verdict: compared word for word


def flatten(values: dict, prefix: str = "") -> dict[str, float | str]:
    """Nested headline dicts as dotted names; numbers as floats, verdicts as they are.

    >>> flatten({"rmse": {"tree": 0.1, "linear": 0.2}, "n": 3, "verdict": "better"})
    {'rmse.tree': 0.1, 'rmse.linear': 0.2, 'n': 3.0, 'verdict': 'better'}
    """
    out: dict[str, float | str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value if isinstance(value, str) else float(value)
    return out


def load_tolerances(path: Path | None = None) -> dict[str, dict[str, float]]:
    path = path or TOLERANCES
    return yaml.safe_load(path.read_text()) or {}


def load_committed(path: Path | None = None) -> dict:
    path = path or HEADLINES
    return json.loads(path.read_text()) if path.exists() else {}


def tolerance_for(section: str, name: str, tolerances: dict) -> float | str:
    """The tolerance of ``section.name``: its own entry, else the entry of its first part;
    :data:`EXACT` for a verdict, compared word for word.

    >>> tolerance_for("train", "holdout_rmse.tree", {"train": {"holdout_rmse": 0.008}})
    0.008
    >>> tolerance_for("compare", "verdicts.raw_pixels", {"compare": {"verdicts": "exact"}})
    'exact'
    """
    table = tolerances.get(section, {})
    for key in (name, name.split(".", 1)[0]):
        if key in table:
            return EXACT if table[key] == EXACT else float(table[key])
    raise DataError(f"{paths.relative(TOLERANCES)} gives no tolerance for {section}.{name}: "
                    "every headline number needs one (its measured run-to-run spread)")


def spreads(section: str, family: str, names, tolerances: dict | None = None) -> dict[str, float]:
    """The tolerance of ``section.family.<name>`` for each name (its measured spread, 1.5x), by
    name: what a sentence needs to rank values only beyond twice their spread.

    >>> spreads("reduce", "trustworthiness", ["PCA", "t-SNE"],
    ...         {"reduce": {"trustworthiness.pca": 0.09, "trustworthiness.tsne": 0.005}})
    {'PCA': 0.09, 't-SNE': 0.005}
    """
    tolerances = load_tolerances() if tolerances is None else tolerances
    return {name: tolerance_for(section, f"{family}.{name.lower().replace('-', '')}", tolerances)
            for name in names}


def claims(tolerances: dict | None = None) -> dict[str, list[str]]:
    """The verdicts the book states and the replay compares word for word (``claims`` in the
    tolerances): ``"section.comparison"`` -> the headlines the comparison sets against each
    other. Each needs its margin (``margins.<comparison>``) more than twice the tolerance of the
    margin and of every headline it compares: ``tests/test_replay.py`` checks the committed run.

    >>> claims({"claims": {"compare.majority": ["linear_probe.unseen", "baselines.majority"]}})
    {'compare.majority': ['linear_probe.unseen', 'baselines.majority']}
    """
    tolerances = load_tolerances() if tolerances is None else tolerances
    return {key: list(value) for key, value in (tolerances.get("claims") or {}).items()}


def claimed(section: str, tolerances: dict | None = None) -> list[str]:
    """The comparisons of ``section`` whose verdict is a headline (see :func:`claims`).

    >>> claimed("compare", {"claims": {"compare.majority": ["baselines.majority"]}})
    ['majority']
    """
    return [key.split(".", 1)[1] for key in claims(tolerances) if key.split(".", 1)[0] == section]


def check(section: str, values: dict, source: str, *, committed: dict | None = None,
          tolerances: dict | None = None) -> list[str]:
    """One line per headline of ``section``: within its tolerance of the committed run, or not.

    ``source`` is the run's data description; a run on other data than the committed run's is
    not compared (one line says so).

    >>> ref = {"source": "mock", "sections": {"train": {"rmse": 0.100}}}
    >>> check("train", {"rmse": 0.103}, "mock", committed=ref, tolerances={"train": {"rmse": 0.005}})
    ['rmse: within tolerance']
    >>> check("train", {"rmse": 0.110}, "mock", committed=ref, tolerances={"train": {"rmse": 0.005}})
    ['rmse: OUTSIDE tolerance: 0.11 against the committed 0.1 +/- 0.005']
    >>> check("compare", {"verdict": "better"}, "mock", tolerances={"compare": {"verdict": "exact"}},
    ...       committed={"source": "mock", "sections": {"compare": {"verdict": "not told apart"}}})
    ["verdict: DIFFERS: 'better' against the committed 'not told apart'"]
    """
    committed = load_committed() if committed is None else committed
    tolerances = load_tolerances() if tolerances is None else tolerances
    flat = flatten(values)
    for name, value in flat.items():  # every headline must have one, and a verdict no number
        tol = tolerance_for(section, name, tolerances)
        if isinstance(value, str) != (tol == EXACT):
            raise DataError(f"{paths.relative(TOLERANCES)}: {section}.{name} is "
                            f"{'a verdict' if isinstance(value, str) else 'a number'}; its tolerance "
                            f"must be {EXACT!r} for a verdict and a number for a number")
    if os.environ.get(COMMITTED_ENV) == "1":  # the run is the new committed run: each matches itself
        return [f"{name}: {value}, as committed" if isinstance(value, str) else
                f"{name}: within tolerance" for name, value in flat.items()]
    if committed.get("source") != source:
        return ["this run is not the committed run (its data differ): nothing to compare"]
    ref = flatten(committed.get("sections", {}).get(section, {}))
    lines = []
    for name, value in flat.items():
        if name not in ref:
            lines.append(f"{name}: NOT COMMITTED (run make refresh)")
            continue
        tol = tolerance_for(section, name, tolerances)
        if tol == EXACT:
            lines.append(f"{name}: {value}, as committed" if value == ref[name] else
                         f"{name}: DIFFERS: {value!r} against the committed {ref[name]!r}")
        elif isinstance(ref[name], str):
            lines.append(f"{name}: DIFFERS: {value:.4g} against the committed {ref[name]!r}")
        elif abs(value - ref[name]) <= tol:
            lines.append(f"{name}: within tolerance")
        else:
            lines.append(f"{name}: OUTSIDE tolerance: {value:.4g} against the committed "
                         f"{ref[name]:.4g} +/- {tol:g}")
    lines += [f"{name}: MISSING from this run" for name in ref if name not in flat]
    return lines


def report(section: str, values: dict, source: str) -> str:
    """The text a chapter prints (and the replay compares)."""
    lines = check(section, values, source)
    head = ("Headline numbers against the committed run (notebooks/headlines.json), each within "
            "its run-to-run tolerance (notebooks/tolerances.yml)?")
    return "\n".join([head, *(f"  {line}" for line in lines)])


def spread(runs: dict[str, dict]) -> dict[str, dict[str, float | str]]:
    """How far each headline moved across runs of the same profile: ``{section: {name: spread}}``,
    the largest difference between any two runs (a verdict: ``"same"`` or ``"differs"``).

    ``runs`` maps a name (the kernels and threads it ran with) to that run's ``metrics.json``.
    The tolerances in ``notebooks/tolerances.yml`` are set from it (about 1.5x the spread).

    >>> a = {"train": {"headlines": {"rmse": 0.110, "verdict": "better"}}}
    >>> b = {"train": {"headlines": {"rmse": 0.114, "verdict": "better"}}}
    >>> spread({"avx512": a, "avx2": b})
    {'train': {'rmse': 0.004, 'verdict': 'same'}}
    """
    out: dict[str, dict[str, float | str]] = {}
    flat = {name: {sec: flatten(part.get("headlines", {})) for sec, part in m.items()}
            for name, m in runs.items()}
    for sec in sorted({sec for m in flat.values() for sec in m}):
        names = sorted({n for m in flat.values() for n in m.get(sec, {})})
        out[sec] = {}
        for n in names:
            values = [m[sec][n] for m in flat.values() if n in m.get(sec, {})]
            if any(isinstance(v, str) for v in values):
                out[sec][n] = "same" if len(set(values)) == 1 else "differs"
            else:
                out[sec][n] = round(max(values) - min(values), 6)
    return out


def write_committed(run_dir: Path, sections: list[str], source: str, path: Path | None = None) -> Path:
    """Collect the headlines of ``sections`` from a run's ``metrics.json`` as the new committed run."""
    from helpers.artifacts import read_metrics, write_json

    path = path or HEADLINES
    metrics = read_metrics(run_dir)
    current = load_committed(path)
    kept = current.get("sections", {}) if current.get("source") == source else {}
    for section in sections:
        if "headlines" in metrics.get(section, {}):
            kept[section] = metrics[section]["headlines"]
    write_json({"source": source, "run": Path(run_dir).name, "sections": kept}, path)
    return path


__all__ = ["check", "spreads", "claims", "claimed", "report", "spread", "write_committed", "flatten", "tolerance_for", "HEADLINES", "TOLERANCES"]
