"""Tests for helpers.data.dataset: one folder per defect, built from six real Kaggle rows.

The clean folder is made here (not with the mock generator): the real rows from
tests/fixtures/kaggle_real_rows.csv and tiny synthetic 424x424 RGB JPEGs of a Gaussian blob.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from images import picture
from PIL import Image, ImageFile

from helpers.cli import main
from helpers.data.dataset import (
    Problem,
    ValidationReport,
    load_dataset,
    read_solutions,
    validate_dataset,
)
from helpers.data.images import read as read_image
from helpers.data.schema import (
    COLUMNS,
    HEADER,
    QUESTIONS,
    SOLUTIONS_CSV,
    TRAIN_IMAGES,
    TREE_TOLERANCE,
)
from helpers.errors import DataError, ParameterError

REAL_ROWS = Path(__file__).parent / "fixtures" / "kaggle_real_rows.csv"
IDS = [100008, 100143, 100134, 100123, 100445, 135453]


blob = picture  # a centred Gaussian blob with a little noise, HxWx3 uint8


def real_table() -> pd.DataFrame:
    return pd.read_csv(REAL_ROWS).drop(columns="expected_label")


@pytest.fixture(scope="session")
def clean_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kaggle") / "clean"
    (root / TRAIN_IMAGES).mkdir(parents=True)
    real_table().to_csv(root / SOLUTIONS_CSV, index=False)
    for i, gid in enumerate(IDS):
        Image.fromarray(blob(seed=i)).save(root / TRAIN_IMAGES / f"{gid}.jpg", quality=85)
    return root


@pytest.fixture
def data(clean_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the clean folder that a test may damage."""
    dst = tmp_path / "data"
    shutil.copytree(clean_template, dst)
    return dst


def csv_lines(root: Path) -> list[str]:
    return (root / SOLUTIONS_CSV).read_text().splitlines()


def write_lines(root: Path, lines: list[str]) -> None:
    (root / SOLUTIONS_CSV).write_text("\n".join(lines) + "\n")


def set_cell(root: Path, line: int, column: str, raw: str) -> None:
    """Put the raw text ``raw`` in CSV line ``line`` (1-based, header = 1), column ``column``."""
    lines = csv_lines(root)
    fields = lines[line - 1].split(",")
    fields[HEADER.index(column)] = raw
    lines[line - 1] = ",".join(fields)
    write_lines(root, lines)


def image(root: Path, gid: int) -> Path:
    return root / TRAIN_IMAGES / f"{gid}.jpg"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["validate", *argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out + out.err


def kinds(report: ValidationReport) -> set[str]:
    return {p.kind for p in report.problems}


def of_kind(report: ValidationReport, kind: str) -> list[Problem]:
    found = [p for p in report.problems if p.kind == kind]
    assert found, f"no {kind} problem in {report.summary_lines()}"
    return found


# ------------------------------------------------------------------------------------- clean


def test_clean_folder_is_usable(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = validate_dataset(data)
    assert report.problems == []
    assert (report.n_rows, report.n_images, report.extra_images) == (6, 6, 0)
    assert report.usable and report.exit_code == 0
    assert report.summary_lines()[0].startswith("6 galaxies, 6 images, 0 problems")
    code, out = run_cli(capsys, str(data))
    assert code == 0 and "6 galaxies" in out


def test_load_dataset_returns_rows_with_image_paths(data: Path) -> None:
    frame, report = load_dataset(data)
    assert report.exit_code == 0
    assert len(frame) == 6
    assert list(frame.columns) == [*HEADER, "image_path"]
    assert isinstance(frame.index, pd.RangeIndex)
    assert frame["GalaxyID"].tolist() == IDS
    assert all(Path(p).is_file() and Path(p).name == f"{g}.jpg"
               for p, g in zip(frame["image_path"], frame["GalaxyID"], strict=True))
    expected = real_table()
    np.testing.assert_allclose(frame[COLUMNS].to_numpy(), expected[COLUMNS].to_numpy())


def test_real_rows_pass_tree_check_at_default_tolerance(data: Path) -> None:
    table = read_solutions(data)
    assert table["GalaxyID"].dtype == np.int64
    assert list(table.columns) == HEADER and len(table) == 6
    # and they hold the sums much tighter than the tolerance
    values = table[COLUMNS].to_numpy()
    for q in QUESTIONS.values():
        got = table[list(q.columns)].sum(axis=1).to_numpy()
        expected = table[q.parent].to_numpy() if q.parent else np.ones(len(values))
        assert np.abs(got - expected).max() < TREE_TOLERANCE / 5


def test_read_image_gives_rgb_array(data: Path) -> None:
    arr = read_image(image(data, IDS[0]), size=424)
    assert arr.shape == (424, 424, 3) and arr.dtype == np.uint8


def test_json_report(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    set_cell(data, 3, "Class2.1", "abc")
    out_json = tmp_path / "report.json"
    code, _ = run_cli(capsys, str(data), "--json", str(out_json))
    assert code == 1
    payload = json.loads(out_json.read_text())
    assert payload["usable"] is False and payload["exit_code"] == 1
    assert payload["counts"]["non_numeric"] == {"severity": "error", "count": 1}
    assert payload["problems"][0]["row"] == 3


def test_json_to_missing_folder_is_a_clear_error(data: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, str(data), "--json", str(tmp_path / "no" / "r.json"))
    assert code == 1 and "cannot write --json" in out


# ------------------------------------------------------------------------- defects, one each


def _header(root: Path, header: list[str]) -> None:
    lines = csv_lines(root)
    lines[0] = ",".join(header)
    write_lines(root, lines)


def _swap(h: list[str], a: str, b: str) -> list[str]:
    h = list(h)
    i, j = h.index(a), h.index(b)
    h[i], h[j] = h[j], h[i]
    return h


def _dup_row(root: Path) -> None:
    lines = csv_lines(root)
    write_lines(root, [*lines, lines[1]])


def _tree(root: Path) -> None:
    # line 2 (GalaxyID 100008): Class2.2 = 0.616853 = Class1.2; make Q2 sum 0.1 too large
    set_cell(root, 2, "Class2.1", "0.1")


def _truncate(root: Path) -> None:
    p = image(root, IDS[1])
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])


def _random_bytes(root: Path) -> None:
    image(root, IDS[2]).write_bytes(np.random.default_rng(1).bytes(5000))


def _wrong_size(root: Path) -> None:
    Image.fromarray(blob(200)).save(image(root, IDS[3]), "JPEG")


def _extra_column(root: Path) -> None:
    lines = csv_lines(root)
    write_lines(root, [lines[0] + ",Comment"] + [line + ",x" for line in lines[1:]])


# (id, mutate, kind, substrings the first message of that kind must contain, exit code)
DEFECTS: list[tuple[str, Callable[[Path], None], str, list[str], int]] = [
    ("missing csv", lambda r: (r / SOLUTIONS_CSV).unlink(), "csv_missing",
     [SOLUTIONS_CSV, "kaggle competitions download -c galaxy-zoo-the-galaxy-challenge", "unzip"], 1),
    ("header missing column", lambda r: _header(r, [h for h in HEADER if h != "Class5.3"]),
     "bad_header", ["line 1", "missing", "Class5.3"], 1),
    ("header swapped", lambda r: _header(r, _swap(HEADER, "Class2.1", "Class2.2")),
     "bad_header", ["out of order", "'Class2.2'", "expected 'Class2.1'"], 1),
    ("header extra column", _extra_column, "bad_header", ["unexpected", "'Comment'"], 1),
    ("empty table", lambda r: write_lines(r, csv_lines(r)[:1]), "empty_table",
     [SOLUTIONS_CSV, "no rows"], 1),
    ("duplicate id", _dup_row, "duplicate_id", ["GalaxyID 100008", "lines 2, 8"], 1),
    ("non-numeric", lambda r: set_cell(r, 3, "Class2.1", "abc"), "non_numeric",
     ["line 3", "GalaxyID 100143", "Class2.1", "'abc'"], 1),
    ("empty value", lambda r: set_cell(r, 4, "Class7.1", ""), "missing_value",
     ["line 4", "GalaxyID 100134", "Class7.1"], 1),
    ("NaN", lambda r: set_cell(r, 4, "Class7.1", "NaN"), "missing_value",
     ["line 4", "GalaxyID 100134", "Class7.1"], 1),
    ("value > 1", lambda r: set_cell(r, 5, "Class6.2", "1.5"), "out_of_range",
     ["line 5", "GalaxyID 100123", "Class6.2 = 1.5", "[0, 1]"], 1),
    ("negative value", lambda r: set_cell(r, 6, "Class9.1", "-0.2"), "out_of_range",
     ["line 6", "GalaxyID 100445", "Class9.1 = -0.2"], 1),
    ("tree sum", _tree, "tree_sum",
     ["line 2", "GalaxyID 100008", "Q2 Class2.1+Class2.2", "expected 0.616853 (= Class1.2)",
      "sums to 0.716853", "tolerance"], 1),
    ("non-integer id", lambda r: set_cell(r, 7, "GalaxyID", "13545.3"), "bad_galaxy_id",
     ["line 7", "GalaxyID", "'13545.3'"], 1),
    ("ragged row", lambda r: write_lines(r, [*csv_lines(r), "999,0.5"]), "bad_row",
     ["line 8", "2 fields", "expected 38"], 1),
    ("missing image", lambda r: image(r, IDS[0]).unlink(), "image_missing",
     [f"{TRAIN_IMAGES}/100008.jpg", "GalaxyID 100008", "line 2", "--on-bad-image skip"], 1),
    ("unreadable image", _random_bytes, "image_unreadable",
     [f"{TRAIN_IMAGES}/100134.jpg", "line 4", "cannot be read"], 1),
    ("truncated image", _truncate, "image_truncated",
     [f"{TRAIN_IMAGES}/100143.jpg", "line 3", "truncated"], 1),
    ("wrong size", _wrong_size, "image_size",
     [f"{TRAIN_IMAGES}/100123.jpg", "200x200", "expected 424x424", "--image-size 0"], 1),
    ("missing image folder", lambda r: shutil.rmtree(r / TRAIN_IMAGES), "image_dir_missing",
     [TRAIN_IMAGES, "unzip", "--no-images"], 1),
]


@pytest.mark.parametrize(("mutate", "kind", "needles", "code"),
                         [d[1:] for d in DEFECTS], ids=[d[0] for d in DEFECTS])
def test_defect_is_reported(data: Path, capsys: pytest.CaptureFixture[str],
                            mutate: Callable[[Path], None], kind: str, needles: list[str],
                            code: int) -> None:
    mutate(data)
    report = validate_dataset(data)
    problem = of_kind(report, kind)[0]
    for needle in needles:
        assert needle in problem.message, (needle, problem.message)
    assert problem.severity == "error"
    assert report.usable is False and report.exit_code == code
    # the summary has one line for the kind, naming it
    summary = report.summary_lines()
    assert sum(line.startswith(f"{kind}: ") for line in summary) == 1
    json.dumps(report.to_dict())  # JSON-able
    cli_code, out = run_cli(capsys, str(data))
    assert cli_code == code and f"{kind}: " in out
    with pytest.raises(DataError, match=kind):
        load_dataset(data)


def test_table_defects_name_row_and_column(data: Path) -> None:
    set_cell(data, 3, "Class2.1", "abc")
    problem = of_kind(validate_dataset(data), "non_numeric")[0]
    assert (problem.row, problem.galaxy_id, problem.column) == (3, 100143, "Class2.1")
    with pytest.raises(DataError, match=r"line 3 \(GalaxyID 100143\).*Class2\.1"):
        read_solutions(data)


def test_every_faulty_row_is_reported_but_summary_is_bounded(data: Path) -> None:
    for line in range(2, 8):
        set_cell(data, line, "Class6.1", "2")
    report = validate_dataset(data, check_images=False)
    assert len(of_kind(report, "out_of_range")) == 6
    line = next(s for s in report.summary_lines() if s.startswith("out_of_range"))
    assert line.startswith("out_of_range: 6 x, e.g.") and line.endswith("+3 more")


def test_tiny_float_slop_is_tolerated(data: Path) -> None:
    set_cell(data, 2, "Class1.3", "-1e-9")  # the real value is 0
    set_cell(data, 3, "Class1.3", "1e-9")
    table = read_solutions(data)
    assert table["Class1.3"].min() == 0.0


def test_tolerance_is_honoured(data: Path) -> None:
    set_cell(data, 2, "Class2.1", "0.005")  # Q2 off by 0.005: within 0.01, not within 0.001
    assert validate_dataset(data).usable
    report = validate_dataset(data, tolerance=0.001)
    assert of_kind(report, "tree_sum")[0].row == 2


def test_missing_data_dir_and_file_instead_of_dir(tmp_path: Path, data: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    report = validate_dataset(tmp_path / "nowhere")
    assert of_kind(report, "data_dir_missing")[0].message.count("does not exist") == 1
    assert report.exit_code == 1
    report = validate_dataset(data / SOLUTIONS_CSV)
    assert "is a file, not a folder" in of_kind(report, "data_dir_missing")[0].message
    with pytest.raises(DataError, match="does not exist"):
        read_solutions(tmp_path / "nowhere")
    with pytest.raises(DataError, match="not a folder"):
        load_dataset(data / SOLUTIONS_CSV)
    code, out = run_cli(capsys, str(tmp_path / "nowhere"))
    assert code == 1 and "data_dir_missing" in out


def test_csv_hints_zip_and_nested_folder(tmp_path: Path, data: Path) -> None:
    (data / SOLUTIONS_CSV).rename(data / "sub.csv")
    (data / "training_solutions_rev1.zip").write_bytes(b"PK")
    assert "found training_solutions_rev1.zip" in of_kind(
        validate_dataset(data), "csv_missing")[0].message
    outer = tmp_path / "outer"
    outer.mkdir()
    shutil.copytree(data, outer / "galaxy-zoo")
    (outer / "galaxy-zoo" / "sub.csv").rename(outer / "galaxy-zoo" / SOLUTIONS_CSV)
    msg = of_kind(validate_dataset(outer), "csv_missing")[0].message
    assert "pass that folder instead" in msg and "galaxy-zoo" in msg


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00\x00garbage\x00\x81", b"a;b;c\n1;2;3\n"],
                         ids=["empty file", "binary", "semicolons"])
def test_unparseable_csv_is_a_problem(data: Path, content: bytes,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    (data / SOLUTIONS_CSV).write_bytes(content)
    report = validate_dataset(data)
    assert kinds(report) & {"empty_table", "csv_unreadable", "bad_header"}
    assert report.exit_code == 1
    code, _ = run_cli(capsys, str(data))
    assert code == 1


def test_semicolon_separated_header_gets_a_hint(data: Path) -> None:
    write_lines(data, [line.replace(",", ";") for line in csv_lines(data)])
    msg = of_kind(validate_dataset(data), "bad_header")[0].message
    assert "';'" in msg and "comma-separated" in msg


def test_headerless_table_gets_a_hint(data: Path) -> None:
    write_lines(data, csv_lines(data)[1:])
    assert "header line" in of_kind(validate_dataset(data), "bad_header")[0].message


# ----------------------------------------------------------------------------- image modes


def _save_mode(path: Path, mode: str, fmt: str = "JPEG") -> None:
    img = Image.fromarray(blob())
    if mode == "L":
        img = img.convert("L")
    elif mode == "RGBA":
        img = img.convert("RGBA")
    elif mode == "P":
        img = img.convert("P")
    elif mode == "CMYK":
        img = img.convert("CMYK")
    elif mode == "I;16":
        img = Image.fromarray(np.asarray(img.convert("L"), dtype=np.uint16) * 257)
    img.save(path, fmt)


@pytest.mark.parametrize(("mode", "fmt"), [("L", "JPEG"), ("RGBA", "PNG"), ("P", "PNG"),
                                           ("CMYK", "JPEG"), ("I;16", "PNG"), ("RGBA", "TIFF")])
def test_other_modes_are_converted(data: Path, capsys: pytest.CaptureFixture[str],
                                   mode: str, fmt: str) -> None:
    path = image(data, IDS[4])
    _save_mode(path, mode, fmt)
    assert Image.open(path).mode == mode
    report = validate_dataset(data)
    problem = of_kind(report, "converted")[0]
    assert problem.severity == "warning" and problem.galaxy_id == IDS[4]
    assert f"{TRAIN_IMAGES}/{IDS[4]}.jpg" in problem.message and "RGB" in problem.message
    if fmt != "JPEG":
        assert f"a {fmt} file" in problem.message
    assert report.converted_ids == [IDS[4]]
    assert report.usable and report.exit_code == 3
    arr = read_image(path)
    assert arr.shape == (424, 424, 3) and arr.dtype == np.uint8
    assert 150 < arr[212, 212].max() <= 255 and arr[0, 0].max() < 60  # the blob survived
    code, out = run_cli(capsys, str(data))
    assert code == 3 and "converted: 1 x" in out
    assert main(["validate", str(data), "--strict"]) == 1
    frame, _ = load_dataset(data)
    assert len(frame) == 6


def test_rgba_alpha_is_composited_onto_black(tmp_path: Path) -> None:
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[..., :3] = 200
    rgba[:5, :, 3] = 255  # top half opaque, bottom half transparent
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    arr = read_image(path, size=None)
    assert arr[0, 0].tolist() == [200, 200, 200] and arr[9, 9].tolist() == [0, 0, 0]


# ------------------------------------------------------------------------- image policies


def test_extra_images_are_a_note_only(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(image(data, IDS[0]), image(data, 999999))
    shutil.copy(image(data, IDS[0]), data / TRAIN_IMAGES / "notes.jpg")
    (data / TRAIN_IMAGES / ".DS_Store").write_bytes(b"x")
    report = validate_dataset(data)
    assert report.problems == [] and report.extra_images == 2 and report.exit_code == 0
    assert any("2 images" in s and "no row" in s for s in report.summary_lines())
    code, out = run_cli(capsys, str(data))
    assert code == 0 and "no row in the table" in out


def test_skip_drops_bad_galaxies(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image(data, IDS[0]).unlink()
    _truncate(data)
    report = validate_dataset(data, on_bad_image="skip")
    assert {p.severity for p in report.problems} == {"warning"}
    assert kinds(report) == {"image_missing", "image_truncated"}
    assert report.skipped_ids == sorted([IDS[0], IDS[1]])
    assert report.usable and report.exit_code == 3
    assert "skipped" in report.summary_lines()[-1]
    frame, report = load_dataset(data, on_bad_image="skip")
    assert sorted(frame["GalaxyID"]) == sorted(IDS[2:])
    assert isinstance(frame.index, pd.RangeIndex)
    code, out = run_cli(capsys, str(data), "--on-bad-image", "skip")
    assert code == 3 and "image_missing: 1 x" in out
    code, _ = run_cli(capsys, str(data))
    assert code == 1


def test_all_skipped_is_not_usable(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for gid in IDS:
        image(data, gid).unlink()
    report = validate_dataset(data, on_bad_image="skip")
    assert report.skipped_ids == sorted(IDS)
    problem = of_kind(report, "no_usable_galaxies")[0]
    assert problem.severity == "error" and "no usable galaxies" in problem.message
    assert not report.usable and report.exit_code == 1
    with pytest.raises(DataError, match="no usable galaxies"):
        load_dataset(data, on_bad_image="skip")
    code, _ = run_cli(capsys, str(data), "--on-bad-image", "skip")
    assert code == 1


def test_missing_image_folder_is_an_error_even_with_skip(data: Path) -> None:
    shutil.rmtree(data / TRAIN_IMAGES)
    report = validate_dataset(data, on_bad_image="skip")
    assert of_kind(report, "image_dir_missing")[0].severity == "error"
    assert report.exit_code == 1


def test_image_size_zero_accepts_any_size(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _wrong_size(data)
    assert validate_dataset(data, image_size=0).exit_code == 0
    assert read_image(image(data, IDS[3]), size=0).shape == (200, 200, 3)
    code, _ = run_cli(capsys, str(data), "--image-size", "0")
    assert code == 0


def test_no_images_checks_the_table_only(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(data / TRAIN_IMAGES)
    report = validate_dataset(data, check_images=False)
    assert report.exit_code == 0 and "images not checked" in report.summary_lines()[0]
    code, _ = run_cli(capsys, str(data), "--no-images")
    assert code == 0


def test_misnamed_image_gets_a_hint(data: Path) -> None:
    image(data, IDS[0]).rename(data / TRAIN_IMAGES / f"{IDS[0]}.png")
    msg = of_kind(validate_dataset(data), "image_missing")[0].message
    assert f"{IDS[0]}.png exists instead" in msg


@pytest.mark.parametrize("defect", [_truncate, _random_bytes, _wrong_size],
                         ids=["truncated", "unreadable", "wrong size"])
def test_read_image_raises_data_error_naming_the_file(data: Path, defect) -> None:
    defect(data)
    gid = {_truncate: IDS[1], _random_bytes: IDS[2], _wrong_size: IDS[3]}[defect]
    with pytest.raises(DataError, match=f"{gid}.jpg"):
        read_image(image(data, gid), size=424)
    with pytest.raises(DataError, match="not found"):
        read_image(data / "nope.jpg")


def test_truncation_caught_even_if_pil_flag_flipped(data: Path) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # importing helpers.data.dataset left it alone
    _truncate(data)
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        report = validate_dataset(data)
        assert of_kind(report, "image_truncated")[0].galaxy_id == IDS[1]
        with pytest.raises(DataError, match="truncated"):
            read_image(image(data, IDS[1]))
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored afterwards
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_workers_give_the_same_report(data: Path) -> None:
    _truncate(data)
    _random_bytes(data)
    one = validate_dataset(data, workers=1)
    many = validate_dataset(data, workers=3)
    assert one.to_dict() == many.to_dict()


# ------------------------------------------------------------------------------ parameters


@pytest.mark.parametrize("kwargs", [{"on_bad_image": "maybe"}, {"image_size": -1},
                                    {"tolerance": -0.1}, {"tolerance": float("nan")},
                                    {"workers": 0}, {"image_size": 1.5}])
def test_bad_parameters_raise(data: Path, kwargs: dict) -> None:
    with pytest.raises(ParameterError):
        validate_dataset(data, **kwargs)


def test_bad_parameters_raise_in_load_and_read(data: Path) -> None:
    with pytest.raises(ParameterError, match="maybe"):
        load_dataset(data, on_bad_image="maybe")
    with pytest.raises(ParameterError):
        read_solutions(data, tolerance=-1)
    with pytest.raises(ParameterError):
        read_image(image(data, IDS[0]), size=-5)


def test_cli_negative_image_size_is_one_line(data: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(capsys, str(data), "--image-size", "-3")
    assert code == 1 and "negative" in out


# ------------------------------------------------------------------------- property tests


def random_table(draw: st.DrawFn, n_rows: int) -> np.ndarray:
    """Cumulative fractions built by walking the tree with random conditional fractions."""
    index = {c: j for j, c in enumerate(COLUMNS)}
    out = np.zeros((n_rows, len(COLUMNS)))
    for r in range(n_rows):
        for q in QUESTIONS.values():
            parent = out[r, index[q.parent]] if q.parent else 1.0
            weights = draw(st.lists(
                st.one_of(st.just(0.0), st.floats(0.0, 1.0)),
                min_size=len(q.answers), max_size=len(q.answers)))
            total = sum(weights)
            shares = ([w / total for w in weights] if total > 0
                      else [1.0] + [0.0] * (len(weights) - 1))
            for c, s in zip(q.columns, shares, strict=True):
                out[r, index[c]] = parent * s
    return out


@st.composite
def tables(draw: st.DrawFn) -> np.ndarray:
    return random_table(draw, draw(st.integers(1, 4)))


def write_table(root: Path, values: np.ndarray) -> None:
    frame = pd.DataFrame(values, columns=COLUMNS)
    frame.insert(0, "GalaxyID", np.arange(100000, 100000 + len(values)))
    root.mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / SOLUTIONS_CSV, index=False, float_format="%.12g")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_valid_tables_pass_and_perturbations_are_caught(data: st.DataObject) -> None:
    values = data.draw(tables())
    n_rows = len(values)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_table(root, values)
        table = read_solutions(root)
        np.testing.assert_allclose(table[COLUMNS].to_numpy(), values, atol=1e-9)

        row = data.draw(st.integers(0, n_rows - 1))
        col = data.draw(st.sampled_from(COLUMNS))
        delta = data.draw(st.floats(TREE_TOLERANCE * 1.2, 0.5))
        j = COLUMNS.index(col)
        bad = values.copy()
        bad[row, j] += delta if bad[row, j] + delta <= 1.0 else -delta
        write_table(root, bad)
        with pytest.raises(DataError) as caught:
            read_solutions(root)
        message = str(caught.value)
        assert "tree_sum" in message and col in message and f"line {row + 2}" in message


def test_windows_export_with_bom_crlf_and_spaces_passes(data: Path) -> None:
    lines = csv_lines(data)
    lines[0] = ", ".join(lines[0].split(","))  # spaces after the commas in the header
    (data / SOLUTIONS_CSV).write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n\r\n").encode())
    assert validate_dataset(data).exit_code == 0
    assert read_solutions(data)["GalaxyID"].tolist() == IDS


def test_trailing_commas_get_a_hint_and_rows_are_counted(data: Path) -> None:
    write_lines(data, [line + "," for line in csv_lines(data)])
    report = validate_dataset(data)
    assert "trailing commas" in of_kind(report, "bad_header")[0].message
    assert report.n_rows == 6 and report.summary_lines()[0].startswith("6 galaxies")


def test_validate_reports_the_test_images_and_keeps_exit_codes_apart(data: Path, capsys) -> None:
    """Usable with warnings (3) never shares a code with argparse's usage error (2)."""
    code, out = run_cli(capsys, str(data))
    assert code == 0 and "images_test_rev1/: absent (chapter 7 of the real-data profile reads it" in out
    (data / "images_test_rev1").mkdir()
    shutil.copy(data / TRAIN_IMAGES / f"{IDS[0]}.jpg", data / "images_test_rev1" / "900001.jpg")
    (data / "images_test_rev1" / "900002.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    code, out = run_cli(capsys, str(data))
    assert code == 3 and "images_test_rev1/: 2 images, 1 unreadable (e.g. 900002.jpg)" in out
    with pytest.raises(SystemExit) as usage:
        main(["validate"])  # no DATA_DIR
    assert usage.value.code == 2
    capsys.readouterr()
