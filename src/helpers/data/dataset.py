"""Read and validate a Galaxy Zoo folder in the Kaggle "Galaxy Challenge" layout.

The layout (the same for the real download and the mock generator)::

    DATA_DIR/training_solutions_rev1.csv        GalaxyID + the 37 cumulative vote fractions
    DATA_DIR/images_training_rev1/<GalaxyID>.jpg 424x424 RGB JPEG

:func:`validate_dataset` checks everything a user can get wrong (table header, values,
decision-tree sums, duplicates, missing / corrupt / truncated / wrongly sized images, colour
modes) and returns a :class:`ValidationReport`; it never raises for data problems.
:func:`load_dataset` validates and returns the table with an ``image_path`` column, or raises
:class:`~helpers.errors.DataError` with the report's summary. Images are decoded by
:mod:`helpers.data.images` (one rule for every reader); this module reports what it found. Example::

    from helpers.data.dataset import load_dataset, validate_dataset

    report = validate_dataset("data/raw/galaxy-zoo")
    print("\\n".join(report.summary_lines()))
    # 61578 galaxies, 61578 images, 0 problems (0 errors, 0 warnings)
    frame, report = load_dataset("data/raw/galaxy-zoo", on_bad_image="skip")
    frame.columns[:2].tolist(), frame.columns[-1]
    # (['GalaxyID', 'Class1.1'], 'image_path')

Line numbers in messages count the CSV header as line 1, so they match what an editor shows.
"""

from __future__ import annotations

import array
import csv
import math
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from helpers.data.images import FAULT_TEXT, ImageFault, check_size, load_rgb
from helpers.data.schema import (
    COLUMNS,
    HEADER,
    ID_COLUMN,
    IMAGE_SIZE,
    QUESTIONS,
    SOLUTIONS_CSV,
    TEST_IMAGES,
    TRAIN_IMAGES,
    TREE_TOLERANCE,
)
from helpers.errors import DataError, ParameterError
from helpers.progress import Ticker

WARNINGS_EXIT = 3  # `validate`: usable, with warnings (not 2: argparse's usage error)

__all__ = [
    "Problem",
    "ValidationReport",
    "load_dataset",
    "read_solutions",
    "check_test_folder",
    "validate_dataset",
]

KAGGLE_COMMAND = "kaggle competitions download -c galaxy-zoo-the-galaxy-challenge"
ON_BAD_IMAGE = ("error", "skip")
#: Float slop around [0, 1] that is tolerated (and clipped away) in the vote fractions.
RANGE_SLOP = 1e-6
#: Cells that count as "missing" rather than "not a number" (compared lower-cased, stripped).
MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none"})
#: How many columns / lines one message lists before it says "+N more".
_LIST_MAX = 5

# Order in which kinds are reported (errors of the table first, then images).
KINDS = (
    "data_dir_missing", "csv_missing", "csv_unreadable", "bad_header", "empty_table",
    "bad_row", "bad_galaxy_id", "duplicate_id", "non_numeric", "missing_value",
    "out_of_range", "tree_sum", "image_dir_missing", "image_missing", "image_unreadable",
    "image_truncated", "image_size", "converted", "no_usable_galaxies",
)

_MODE_NAMES = {
    "1": "black-and-white (mode 1)", "L": "grayscale (mode L)",
    "LA": "grayscale with alpha (mode LA)", "P": "palette (mode P)",
    "PA": "palette with alpha (mode PA)", "RGBA": "RGB with alpha (mode RGBA)",
    "CMYK": "CMYK", "YCbCr": "YCbCr", "I;16": "16-bit grayscale (mode I;16)",
    "I": "32-bit integer (mode I)", "F": "32-bit float (mode F)",
}


# --------------------------------------------------------------------------------------------
# report objects


@dataclass
class Problem:
    """One thing wrong with the data folder.

    ``kind`` groups problems (e.g. ``"tree_sum"``, ``"image_missing"``); ``severity`` is
    ``"error"`` (the folder is not usable) or ``"warning"`` (usable, but look at it). ``path``
    is the file concerned, ``row`` the CSV line number (header = line 1), ``column`` the column.
    """

    kind: str
    severity: str
    message: str
    path: str | None = None
    galaxy_id: int | None = None
    row: int | None = None
    column: str | None = None


@dataclass
class ValidationReport:
    """What :func:`validate_dataset` found.

    ``n_rows``: data rows in the table; ``n_images``: ``.jpg`` files in the image folder;
    ``skipped_ids``: galaxies dropped by ``on_bad_image="skip"``; ``converted_ids``: images that
    are not RGB and are converted when read; ``extra_images``: images without a table row.
    """

    data_dir: Path
    n_rows: int = 0
    n_images: int = 0
    problems: list[Problem] = field(default_factory=list)
    skipped_ids: list[int] = field(default_factory=list)
    converted_ids: list[int] = field(default_factory=list)
    extra_images: int = 0
    images_checked: bool = True

    @property
    def errors(self) -> list[Problem]:
        """The error-severity problems."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """The warning-severity problems."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def usable(self) -> bool:
        """True when no error-severity problem is left (after the ``on_bad_image`` policy)."""
        return not self.errors

    @property
    def exit_code(self) -> int:
        """0: usable and clean; 3: usable with warnings; 1: not usable (2 is argparse's usage error)."""
        if not self.usable:
            return 1
        return WARNINGS_EXIT if self.warnings else 0

    def kinds(self) -> list[str]:
        """The problem kinds present, errors first, in a stable order."""
        seen = Counter(p.kind for p in self.problems)
        order = {k: i for i, k in enumerate(KINDS)}
        sev = {p.kind: p.severity for p in self.problems}
        return sorted(seen, key=lambda k: (sev[k] != "error", order.get(k, len(order)), k))

    def summary_lines(self, max_examples: int = 3) -> list[str]:
        """A bounded human summary: a header line, then one line per problem kind.

        ``"N galaxies, M images, K problems (...)"``, then ``"kind: count x, e.g. <msg>; <msg>"``
        (at most ``max_examples`` messages per kind), then notes (extra images, skipped galaxies).
        """
        n_err, n_warn = len(self.errors), len(self.warnings)
        images = (f"{_plural(self.n_images, 'image')}" if self.images_checked
                  else "images not checked")
        lines = [
            f"{_plural(self.n_rows, 'galaxy', 'galaxies')}, {images}, "
            f"{_plural(len(self.problems), 'problem')} "
            f"({_plural(n_err, 'error')}, {_plural(n_warn, 'warning')})"
        ]
        by_kind: dict[str, list[Problem]] = {}
        for p in self.problems:
            by_kind.setdefault(p.kind, []).append(p)
        for kind in self.kinds():
            probs = by_kind[kind]
            shown = "; ".join(p.message for p in probs[: max(1, max_examples)])
            more = len(probs) - max(1, max_examples)
            tail = f"; +{more} more" if more > 0 else ""
            lines.append(f"{kind}: {len(probs)} x, e.g. {shown}{tail}")
        if self.extra_images:
            lines.append(
                f"note: {_plural(self.extra_images, 'image')} in {TRAIN_IMAGES}/ "
                f"{'has' if self.extra_images == 1 else 'have'} no row in the table and "
                f"{'is' if self.extra_images == 1 else 'are'} ignored (fine for a subset)"
            )
        if self.skipped_ids:
            lines.append(
                f"note: {_plural(len(self.skipped_ids), 'galaxy', 'galaxies')} skipped "
                f"because of bad images: {_head(self.skipped_ids, 10)}"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The full report as JSON-able builtins (every problem, not only examples)."""
        counts: dict[str, dict[str, Any]] = {}
        for p in self.problems:
            entry = counts.setdefault(p.kind, {"severity": p.severity, "count": 0})
            entry["count"] += 1
        return {
            "data_dir": str(self.data_dir),
            "usable": self.usable,
            "exit_code": self.exit_code,
            "n_rows": self.n_rows,
            "n_images": self.n_images,
            "images_checked": self.images_checked,
            "extra_images": self.extra_images,
            "skipped_ids": [int(i) for i in self.skipped_ids],
            "converted_ids": [int(i) for i in self.converted_ids],
            "counts": counts,
            "summary": self.summary_lines(),
            "problems": [asdict(p) for p in self.problems],
        }


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _head(items: list[Any], n: int = _LIST_MAX) -> str:
    shown = ", ".join(str(i) for i in items[:n])
    return shown + (f" (+{len(items) - n} more)" if len(items) > n else "")


# --------------------------------------------------------------------------------------------
# parameters


def _check_params(on_bad_image: str, image_size: int | None, tolerance: float | None,
                  workers: int | None = None) -> tuple[int | None, float]:
    if on_bad_image not in ON_BAD_IMAGE:
        raise ParameterError(
            f"on_bad_image={on_bad_image!r} is not one of {', '.join(ON_BAD_IMAGE)}: 'error' stops "
            "on a bad image, 'skip' drops that galaxy (--on-bad-image error|skip)"
        )
    size = check_size(image_size)
    if tolerance is None:
        tol = TREE_TOLERANCE
    else:
        try:
            tol = float(tolerance)
        except (TypeError, ValueError):
            raise ParameterError(f"tolerance={tolerance!r} is not a number (e.g. 0.01)") from None
        if not math.isfinite(tol) or tol < 0:
            raise ParameterError(
                f"tolerance={tolerance!r} must be a finite number >= 0 "
                f"(the default {TREE_TOLERANCE} suits the real data)"
            )
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ParameterError(f"workers={workers!r} must be a whole number >= 1 (or None)")
    return size, tol


# --------------------------------------------------------------------------------------------
# the table


@dataclass
class _Table:
    """What was read from the CSV, valid or not (internal)."""

    path: Path
    rel: str
    problems: list[Problem] = field(default_factory=list)
    n_rows: int = 0
    lines: list[int] = field(default_factory=list)  # CSV line of each kept row
    ids: list[int | None] = field(default_factory=list)  # None where GalaxyID is bad
    raw_ids: list[str] = field(default_factory=list)
    values: np.ndarray | None = None  # (n, 37) float64, NaN where missing / non-numeric

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def frame(self) -> pd.DataFrame:
        """The table as a DataFrame (only meaningful when ``ok``)."""
        values = self.values if self.values is not None else np.empty((0, len(COLUMNS)))
        values = np.clip(values, 0.0, 1.0)  # removes the tolerated float slop only
        frame = pd.DataFrame(values, columns=list(COLUMNS))
        frame.insert(0, ID_COLUMN, np.asarray(self.ids, dtype=np.int64))
        return frame


def _where(table: _Table, i: int) -> str:
    gid = table.ids[i]
    ident = f"GalaxyID {gid}" if gid is not None else f"bad GalaxyID {table.raw_ids[i]!r}"
    return f"{table.rel} line {table.lines[i]} ({ident})"


def _locate(data_dir: Path | str) -> tuple[Path, Problem | None]:
    """Resolve the data folder; a Problem when it does not exist or is not a folder."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.exists():
        parent = data_dir.parent
        hint = "" if parent.is_dir() else f" (nor does its parent {parent})"
        return data_dir, Problem(
            "data_dir_missing", "error",
            f"data folder {data_dir} does not exist{hint}; create it and unzip the Kaggle download "
            f"there (`{KAGGLE_COMMAND}`), or pass the folder that holds {SOLUTIONS_CSV}",
            path=str(data_dir),
        )
    if not data_dir.is_dir():
        return data_dir, Problem(
            "data_dir_missing", "error",
            f"{data_dir} is a file, not a folder; pass the folder that holds {SOLUTIONS_CSV} "
            f"and {TRAIN_IMAGES}/ (perhaps {data_dir.parent})",
            path=str(data_dir),
        )
    return data_dir, None


def _find_hint(data_dir: Path, name: str) -> str:
    """Where the user may have left ``name`` instead: a zip next to it or a nested folder."""
    stem = Path(name).stem
    hints = []
    for candidate in (f"{name}.zip", f"{stem}.zip", "galaxy-zoo-the-galaxy-challenge.zip"):
        if (data_dir / candidate).is_file():
            hints.append(f"found {candidate} there: unzip it")
            break
    try:
        nested = sorted(p.parent for p in data_dir.glob(f"*/{name}"))
    except OSError:
        nested = []
    if nested:
        hints.append(f"found {name} in {nested[0]}: pass that folder instead")
    return ("; " + "; ".join(hints)) if hints else ""


def _read_table(data_dir: Path, tol: float) -> _Table:
    """Parse and check the CSV; never raises for data problems."""
    path = data_dir / SOLUTIONS_CSV
    table = _Table(path=path, rel=SOLUTIONS_CSV)
    add = table.problems.append
    if not path.is_file():
        what = "is a folder, not the CSV file" if path.is_dir() else "is missing"
        add(Problem(
            "csv_missing", "error",
            f"{SOLUTIONS_CSV} {what} (looked for {path}); download the data with "
            f"`{KAGGLE_COMMAND}` and unzip {SOLUTIONS_CSV} into {data_dir}"
            f"{_find_hint(data_dir, SOLUTIONS_CSV)}",
            path=str(path),
        ))
        return table

    ncol = len(HEADER)
    header: list[str] | None = None
    bad_rows: list[Problem] = []
    bad_ids: list[Problem] = []
    nonnum: dict[int, list[tuple[str, str]]] = {}  # row index -> [(column, raw)]
    missing_tok: dict[int, list[str]] = {}
    flat = array.array("d")
    line = 0
    header_ok = False
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            for fields in reader:
                line = reader.line_num
                if not fields or not any(f.strip() for f in fields):
                    continue  # blank line
                if header is None:
                    header = fields
                    header_ok = _check_header(table, header)
                    continue
                table.n_rows += 1
                if not header_ok:
                    continue  # only count the rows: their columns cannot be trusted
                if len(fields) != ncol:
                    gid = fields[0].strip() if fields else ""
                    bad_rows.append(Problem(
                        "bad_row", "error",
                        f"{table.rel} line {line} (GalaxyID {gid!r}) has {len(fields)} fields, "
                        f"expected {ncol} (GalaxyID + 37 fractions); the line is cut short or "
                        "has stray commas - fix or delete it",
                        path=str(path), row=line,
                    ))
                    continue
                gid = _parse_id(fields[0])
                if gid is None:
                    bad_ids.append(Problem(
                        "bad_galaxy_id", "error",
                        f"{table.rel} line {line}, column {ID_COLUMN}: {fields[0]!r} is not a "
                        "positive whole number; GalaxyIDs name the image files "
                        "(<GalaxyID>.jpg) - fix the ID or delete the row",
                        path=str(path), row=line, column=ID_COLUMN,
                    ))
                idx = len(table.ids)
                table.ids.append(gid)
                table.raw_ids.append(fields[0])
                table.lines.append(line)
                try:
                    flat.extend([float(x) for x in fields[1:]])
                except ValueError:
                    vals = []
                    for col, raw in zip(COLUMNS, fields[1:], strict=True):
                        try:
                            vals.append(float(raw))
                        except ValueError:
                            vals.append(math.nan)
                            if raw.strip().lower() in MISSING_TOKENS:
                                missing_tok.setdefault(idx, []).append(col)
                            else:
                                nonnum.setdefault(idx, []).append((col, raw))
                    flat.extend(vals)
    except UnicodeDecodeError as exc:
        add(Problem(
            "csv_unreadable", "error",
            f"{table.rel} is not UTF-8 text (byte {exc.start} after line {line}); is it still "
            "zipped, or a spreadsheet file? Unzip it / export it as comma-separated CSV",
            path=str(path), row=line or None,
        ))
        return table
    except csv.Error as exc:
        add(Problem(
            "csv_unreadable", "error",
            f"{table.rel} cannot be parsed as CSV at line {line + 1}: {exc}; re-export it as "
            "plain comma-separated text or download it again",
            path=str(path), row=line + 1,
        ))
        return table
    except OSError as exc:
        add(Problem(
            "csv_unreadable", "error",
            f"{table.rel} cannot be read: {exc.strerror or exc}; check its permissions",
            path=str(path),
        ))
        return table

    if header is None:
        add(Problem(
            "empty_table", "error",
            f"{table.rel} is empty (no header, no rows); download and unzip it again "
            f"(`{KAGGLE_COMMAND}`)",
            path=str(path),
        ))
        return table
    if not header_ok:
        return table
    if table.n_rows == 0:
        add(Problem(
            "empty_table", "error",
            f"{table.rel} has a header but no rows; it needs one row per galaxy "
            "(download and unzip it again)",
            path=str(path), row=2,
        ))
        return table

    table.values = np.frombuffer(flat, dtype=np.float64).reshape(-1, len(COLUMNS)).copy()
    table.problems += bad_rows + bad_ids
    table.problems += _duplicates(table)
    table.problems += _value_problems(table, nonnum, missing_tok)
    table.problems += _tree_problems(table, tol)
    return table


_ID_RE = re.compile(r"^\s*\+?(\d+)(?:\.0*)?\s*$")


def _parse_id(raw: str) -> int | None:
    """A positive integer GalaxyID ("100008", also "100008.0" from float exports) or None."""
    m = _ID_RE.match(raw)
    if not m:
        return None
    value = int(m.group(1))
    return value if value > 0 else None


def _check_header(table: _Table, header: list[str]) -> bool:
    got = [h.strip() for h in header]
    if got == HEADER:
        return True
    parts: list[str] = []
    first: str | None = None  # the first column at fault, for Problem.column
    if len(got) == 1 and any(sep in header[0] for sep in ";\t|"):
        sep = next(s for s in ";\t|" if s in header[0])
        parts.append(f"the columns seem separated by {sep!r}; save the file comma-separated")
    elif got and _parse_id(got[0]) is not None and all(_is_float(x) for x in got[1:]):
        parts.append("the first line holds numbers, not column names; the header line "
                     f"({', '.join(HEADER[:3])}, ..., {HEADER[-1]}) is missing")
    else:
        expected = set(HEADER)
        missing = [c for c in HEADER if c not in got]
        unexpected = [c for c in got if c not in expected]
        dupes = sorted({c for c in got if got.count(c) > 1})
        first = (missing or unexpected or dupes or [None])[0]
        if missing:
            parts.append(f"missing {_head(missing)}")
        if unexpected:
            near = {c.lower().replace(" ", ""): c for c in HEADER}
            shown = []
            for c in unexpected[:_LIST_MAX]:
                alt = near.get(c.lower().replace(" ", ""))
                shown.append(f"{c!r} (did you mean {alt!r}?)" if alt else repr(c))
            more = f" (+{len(unexpected) - _LIST_MAX} more)" if len(unexpected) > _LIST_MAX else ""
            parts.append(f"unexpected {', '.join(shown)}{more}")
            if "" in unexpected:
                parts.append("an empty column name usually means trailing commas - remove them")
        if dupes:
            parts.append(f"repeated {_head(dupes)}")
        if not missing and not unexpected and not dupes:
            pos = next(i for i, (a, b) in enumerate(zip(got, HEADER, strict=True)) if a != b)
            first = got[pos]
            parts.append(
                f"columns out of order: column {pos + 1} is {got[pos]!r}, expected {HEADER[pos]!r}"
            )
    table.problems.append(Problem(
        "bad_header", "error",
        f"{table.rel} line 1: the header is not GalaxyID + the 37 Class columns in order - "
        f"{'; '.join(parts)}; use the file exactly as in the Kaggle download",
        path=str(table.path), row=1, column=first,
    ))
    return False


def _is_float(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


def _duplicates(table: _Table) -> list[Problem]:
    where: dict[int, list[int]] = {}
    for gid, line in zip(table.ids, table.lines, strict=True):
        if gid is not None:
            where.setdefault(gid, []).append(line)
    out = []
    for gid, lines in where.items():
        if len(lines) > 1:
            out.append(Problem(
                "duplicate_id", "error",
                f"{table.rel}: GalaxyID {gid} appears {len(lines)} times, on lines "
                f"{_head(lines)}; keep one row per galaxy",
                path=str(table.path), galaxy_id=gid, row=lines[1], column=ID_COLUMN,
            ))
    return out


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _value_problems(table: _Table, nonnum: dict[int, list[tuple[str, str]]],
                    missing_tok: dict[int, list[str]]) -> list[Problem]:
    assert table.values is not None
    values = table.values
    out_nonnum, out_missing, out_range = [], [], []
    for i in sorted(nonnum):
        cells = nonnum[i]
        shown = ", ".join(f"{c} ({raw!r})" for c, raw in cells[:_LIST_MAX])
        more = f" (+{len(cells) - _LIST_MAX} more)" if len(cells) > _LIST_MAX else ""
        out_nonnum.append(Problem(
            "non_numeric", "error",
            f"{_where(table, i)}: not a number in {shown}{more}; "
            "put the vote fraction (a number in [0, 1]) there or delete the row",
            path=str(table.path), galaxy_id=table.ids[i], row=table.lines[i], column=cells[0][0],
        ))
    # NaN cells: explicit missing tokens plus "nan"/"NaN" text that float() accepted.
    bad_text = np.zeros(values.shape, dtype=bool)
    for i, cells in nonnum.items():
        for c, _ in cells:
            bad_text[i, COLUMNS.index(c)] = True
    nan_mask = np.isnan(values) & ~bad_text
    for i in np.flatnonzero(nan_mask.any(axis=1)):
        cols = [COLUMNS[j] for j in np.flatnonzero(nan_mask[i])]
        out_missing.append(Problem(
            "missing_value", "error",
            f"{_where(table, i)}: no value in {_head(cols)}; "
            "fill in the vote fraction (0 if nobody chose it) or delete the row",
            path=str(table.path), galaxy_id=table.ids[i], row=table.lines[i], column=cols[0],
        ))
    with np.errstate(invalid="ignore"):
        range_mask = (values < -RANGE_SLOP) | (values > 1 + RANGE_SLOP)
    for i in np.flatnonzero(range_mask.any(axis=1)):
        idx = np.flatnonzero(range_mask[i])
        cells = ", ".join(f"{COLUMNS[j]} = {_fmt(values[i, j])}" for j in idx[:_LIST_MAX])
        more = f" (+{len(idx) - _LIST_MAX} more)" if len(idx) > _LIST_MAX else ""
        out_range.append(Problem(
            "out_of_range", "error",
            f"{_where(table, i)}: {cells}{more} is outside [0, 1]; "
            "vote fractions lie between 0 and 1 - check the export (percentages? signs?)",
            path=str(table.path), galaxy_id=table.ids[i], row=table.lines[i],
            column=COLUMNS[idx[0]],
        ))
    return out_nonnum + out_missing + out_range


def _tree_problems(table: _Table, tol: float) -> list[Problem]:
    assert table.values is not None
    values = table.values
    col_index = {c: j for j, c in enumerate(COLUMNS)}
    faults: dict[int, list[tuple[str, str, str]]] = {}  # row -> [(columns, text, first col)]
    for q in QUESTIONS.values():
        cols = [col_index[c] for c in q.columns]
        got = values[:, cols].sum(axis=1)
        expected = values[:, col_index[q.parent]] if q.parent else np.ones(len(values))
        with np.errstate(invalid="ignore"):
            bad = np.abs(got - expected) > tol + 1e-12
        names = "+".join(q.columns)
        parent = f" (= {q.parent})" if q.parent else ""
        for i in np.flatnonzero(bad):
            text = (f"Q{q.number} {names} sums to {_fmt(got[i])}, expected "
                    f"{_fmt(expected[i])}{parent}")
            faults.setdefault(int(i), []).append((names, text, q.columns[0]))
    out = []
    for i in sorted(faults):
        items = faults[i]
        shown = "; ".join(t for _, t, _ in items[:3])
        more = f"; +{len(items) - 3} more questions" if len(items) > 3 else ""
        out.append(Problem(
            "tree_sum", "error",
            f"{_where(table, i)}: {shown}{more} "
            f"(tolerance {tol:g}); the columns must be the cumulative Kaggle fractions - fix "
            "the row, or pass a larger tolerance (--tolerance)",
            path=str(table.path), galaxy_id=table.ids[i], row=table.lines[i], column=items[0][0],
        ))
    return out


def _table_error(problems: list[Problem], data_dir: Path) -> DataError:
    report = ValidationReport(data_dir=data_dir, problems=problems, images_checked=False)
    return DataError("\n".join(report.summary_lines()))


def read_solutions(data_dir: Path | str, tolerance: float | None = None) -> pd.DataFrame:
    """Read and check ``DATA_DIR/training_solutions_rev1.csv``.

    Returns a DataFrame with ``GalaxyID`` (int64) and the 37 fractions (float64) in
    :data:`helpers.data.schema.HEADER` order, with a plain RangeIndex. Raises
    :class:`~helpers.errors.DataError` listing the table's problems (header, values, tree sums
    beyond ``tolerance`` - default :data:`~helpers.data.schema.TREE_TOLERANCE` -, duplicates, empty
    table), each naming the CSV line and column; :class:`~helpers.errors.ParameterError` for a
    bad ``tolerance``.
    """
    _, tol = _check_params("error", None, tolerance)
    data_dir, problem = _locate(data_dir)
    if problem is not None:
        raise _table_error([problem], data_dir)
    table = _read_table(data_dir, tol)
    if not table.ok:
        report = ValidationReport(data_dir=data_dir, n_rows=table.n_rows,
                                  problems=table.problems, images_checked=False)
        raise DataError("\n".join(report.summary_lines()))
    return table.frame()


# --------------------------------------------------------------------------------------------
# images


_FAULT_FIX = {
    "image_missing": "restore it from the Kaggle download (images_training_rev1.zip)",
    "image_unreadable": "replace it with the file from the Kaggle download",
    "image_truncated": "the copy or unzip was interrupted - unzip it again",
    "image_size": "resize it, or accept any size (--image-size 0 / image_size=0)",
}


def _check_one(path: Path, size: int | None) -> tuple[str | None, str, str | None]:
    """(fault kind or None, detail, original mode) for one image; never raises."""
    try:
        _, mode, fmt = load_rgb(path, size)
    except ImageFault as fault:
        return fault.kind, fault.detail, None
    except Exception as exc:  # pragma: no cover - last line of defence in a worker thread
        return "image_unreadable", f"{type(exc).__name__}: {exc}", None
    detail = "" if fmt in (None, "JPEG") else f"a {fmt} file"
    return None, detail, mode


def _check_images(data_dir: Path, table: _Table, report: ValidationReport, size: int | None,
                  on_bad_image: str, workers: int | None) -> None:
    img_dir = data_dir / TRAIN_IMAGES
    rel_dir = TRAIN_IMAGES
    if not img_dir.is_dir():
        what = "is a file, not a folder" if img_dir.exists() else "is missing"
        report.problems.append(Problem(
            "image_dir_missing", "error",
            f"image folder {rel_dir}/ {what} (looked for {img_dir}); unzip images_training_rev1.zip "
            f"from the Kaggle download (`{KAGGLE_COMMAND}`) into {data_dir}, or check the table "
            f"only (--no-images){_find_hint(data_dir, TRAIN_IMAGES)}",
            path=str(img_dir),
        ))
        return
    try:
        with os.scandir(img_dir) as it:
            names = {e.name for e in it if not e.name.startswith(".") and e.is_file()}
    except OSError as exc:
        report.problems.append(Problem(
            "image_dir_missing", "error",
            f"image folder {rel_dir}/ cannot be listed: {exc.strerror or exc}; check permissions",
            path=str(img_dir),
        ))
        return
    jpgs = [n for n in names if n.lower().endswith(".jpg")]
    report.n_images = len(jpgs)

    first_line: dict[int, int] = {}
    for gid, line in zip(table.ids, table.lines, strict=True):
        if gid is not None and gid not in first_line:
            first_line[gid] = line
    if table.values is not None:  # only meaningful when the table could be read
        report.extra_images = sum(
            1 for n in jpgs if not (n[:-4].isdigit() and int(n[:-4]) in first_line)
        )
    by_stem: dict[str, list[str]] = {}
    for n in names:
        by_stem.setdefault(n.rsplit(".", 1)[0], []).append(n)

    severity = "error" if on_bad_image == "error" else "warning"
    policy = ("or drop such galaxies (--on-bad-image skip / on_bad_image='skip')"
              if on_bad_image == "error" else "this galaxy is skipped")
    skipped: list[int] = []

    def bad(kind: str, gid: int, detail: str) -> None:
        line = first_line[gid]
        name = f"{gid}.jpg"
        report.problems.append(Problem(
            kind, severity,
            f"{rel_dir}/{name} (GalaxyID {gid}, {SOLUTIONS_CSV} line {line}): "
            f"{FAULT_TEXT[kind]}{': ' + detail if detail else ''}; {_FAULT_FIX[kind]}, {policy}",
            path=str(img_dir / name), galaxy_id=gid, row=line,
        ))
        skipped.append(gid)

    to_check: list[int] = []
    for gid in first_line:
        name = f"{gid}.jpg"
        if name in names:
            to_check.append(gid)
            continue
        others = [n for n in by_stem.get(str(gid), []) if n != name]
        detail = f"{others[0]} exists instead - rename or convert it to {name}" if others else ""
        bad("image_missing", gid, detail)

    n_workers = workers or min(4, os.cpu_count() or 1)
    paths = [img_dir / f"{gid}.jpg" for gid in to_check]
    if paths:
        ticker = Ticker("checking images", len(paths))
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            results = []
            for result in pool.map(_check_one, paths, [size] * len(paths)):
                results.append(result)
                ticker.tick()
    else:
        results = []
    for gid, (kind, detail, mode) in zip(to_check, results, strict=True):
        if kind is not None:
            bad(kind, gid, detail)
        elif mode != "RGB":
            line = first_line[gid]
            what = _MODE_NAMES.get(mode or "", f"mode {mode}")
            fmt = f" ({detail})" if detail else ""
            report.problems.append(Problem(
                "converted", "warning",
                f"{rel_dir}/{gid}.jpg (GalaxyID {gid}, {SOLUTIONS_CSV} line {line}) is {what}"
                f"{fmt}, not RGB; it is converted to RGB when read - nothing to do, or re-save "
                "it as an RGB JPEG to silence this",
                path=str(img_dir / f"{gid}.jpg"), galaxy_id=gid, row=line,
            ))
            report.converted_ids.append(gid)

    if on_bad_image == "skip":
        report.skipped_ids = sorted(set(skipped))
        if first_line and len(report.skipped_ids) == len(first_line):
            report.problems.append(Problem(
                "no_usable_galaxies", "error",
                f"no usable galaxies: all {len(first_line)} galaxies in {SOLUTIONS_CSV} have a "
                f"missing or bad image in {rel_dir}/; check that the images belong to this table",
                path=str(img_dir),
            ))


def _validate(data_dir: Path | str, on_bad_image: str, image_size: int | None,
              tolerance: float | None, check_images: bool, workers: int | None
              ) -> tuple[ValidationReport, _Table | None]:
    size, tol = _check_params(on_bad_image, image_size, tolerance, workers)
    data_dir, problem = _locate(data_dir)
    report = ValidationReport(data_dir=data_dir, images_checked=bool(check_images))
    if problem is not None:
        report.problems.append(problem)
        report.images_checked = False
        return report, None
    table = _read_table(data_dir, tol)
    report.n_rows = table.n_rows
    report.problems += table.problems
    if check_images:
        _check_images(data_dir, table, report, size, on_bad_image, workers)
    return report, table


def validate_dataset(data_dir: Path | str, *, on_bad_image: str = "error",
                     image_size: int | None = IMAGE_SIZE, tolerance: float | None = None,
                     check_images: bool = True, workers: int | None = None) -> ValidationReport:
    """Check a Kaggle-layout folder (table + images) and report every problem found.

    Never raises for problems with the data: they end up in ``report.problems``. Per-image
    problems (missing, unreadable, truncated, wrong size) are errors with
    ``on_bad_image="error"``; with ``"skip"`` they are warnings and the galaxies are listed in
    ``report.skipped_ids``. Non-RGB images are warnings (``converted``). ``image_size=0`` or
    ``None`` accepts any size; ``tolerance`` bounds the decision-tree sums (default
    :data:`~helpers.data.schema.TREE_TOLERANCE`); images are fully decoded on ``workers`` threads
    (default ``min(4, cpu_count)``). Raises :class:`~helpers.errors.ParameterError` for bad
    parameters.
    """
    report, _ = _validate(data_dir, on_bad_image, image_size, tolerance, check_images, workers)
    return report


def load_dataset(data_dir: Path | str, *, on_bad_image: str = "error",
                 image_size: int | None = IMAGE_SIZE, tolerance: float | None = None
                 ) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate the folder and return ``(frame, report)``.

    ``frame`` has a RangeIndex and the columns ``GalaxyID``, the 37 fractions and
    ``image_path`` (absolute path as ``str``); galaxies skipped under ``on_bad_image="skip"``
    are dropped (see ``report.skipped_ids``). Raises :class:`~helpers.errors.DataError` whose
    message is the report's summary lines when the folder is not usable.
    """
    report, table = _validate(data_dir, on_bad_image, image_size, tolerance, True, None)
    if not report.usable or table is None:
        raise DataError("\n".join(report.summary_lines()))
    frame = table.frame()
    if report.skipped_ids:
        frame = frame[~frame[ID_COLUMN].isin(report.skipped_ids)].reset_index(drop=True)
    img_dir = (report.data_dir / TRAIN_IMAGES).resolve()
    frame["image_path"] = [str(img_dir / f"{gid}.jpg") for gid in frame[ID_COLUMN]]
    return frame, report


# --------------------------------------------------------------------------------------------
# the unlabelled images


def check_test_folder(data_dir: Path) -> tuple[str, int]:
    """The unlabelled images (``images_test_rev1/``): present and readable? (line, unreadable)."""
    folder = data_dir / TEST_IMAGES
    if not folder.is_dir():
        return (f"{TEST_IMAGES}/: absent (chapter 7 of the real-data profile reads it: unzip "
                "images_test_rev1.zip here, or give that chapter new_images)"), 0
    files = sorted(folder.glob("*.jpg"))
    ticker = Ticker(f"checking {TEST_IMAGES}", len(files))
    bad = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.verify()
        except Exception:  # any decoder error: the file is not a readable image
            bad.append(f.name)
        ticker.tick()
    line = f"{TEST_IMAGES}/: {len(files)} images"
    if bad:
        line += f", {len(bad)} unreadable (e.g. {', '.join(bad[:3])}): featurize lists and skips them"
    return line, len(bad)
