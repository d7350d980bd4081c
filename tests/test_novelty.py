"""Unusual galaxies and "more like these": the scores, the group ranking, the odd and like commands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from helpers import cli
from helpers.codes import novelty as N
from helpers.errors import DataError, ParameterError

OUTLIERS = [0, 1, 2, 3, 4]
CLUSTER = list(range(20, 40))  # galaxies that share one feature (dimension 7)


def blob(n=300, d=16, seed=0) -> np.ndarray:
    """Positive codes (as ReLU codes are) around one direction, five planted outliers each
    pointing its own way, and a planted group of twenty that share a strong extra feature."""
    rng = np.random.default_rng(seed)
    codes = (np.abs(rng.normal(size=(n, d))) + 1.0).astype(np.float32)
    for i, row in enumerate(OUTLIERS):
        codes[row] = 0.2
        codes[row, i] = 12.0
    if n > max(CLUSTER):
        codes[CLUSTER, 7] += 6.0
    return codes


def frame_of(codes: np.ndarray, ids=None) -> pd.DataFrame:
    frame = pd.DataFrame(codes, columns=[f"f{i:03d}" for i in range(codes.shape[1])])
    frame.insert(0, "GalaxyID", np.arange(1000, 1000 + len(codes)) if ids is None else ids)
    return frame


@pytest.fixture()
def run_dir(tmp_path):
    """A run folder: features.parquet (GalaxyID 1000 ...), model.json, labels.parquet."""
    run = tmp_path / "run"
    run.mkdir()
    codes = blob()
    frame_of(codes).to_parquet(run / "features.parquet")
    (run / "model.json").write_text(json.dumps({"n_features": codes.shape[1]}))
    pd.DataFrame({"GalaxyID": np.arange(1000, 1000 + len(codes)),
                  "label": ["disk: spiral"] * len(codes)}).to_parquet(run / "labels.parquet")
    return run


def one_line_error(capsys, *words) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


# --- novelty_scores ----------------------------------------------------------------------------

@pytest.mark.parametrize("method", N.NOVELTY_METHODS)
def test_every_method_puts_the_planted_outliers_first(method):
    scores = N.novelty_scores(blob(), method)
    assert scores.shape == (300,) and np.isfinite(scores).all()
    assert set(np.argsort(-scores)[:5].tolist()) == set(OUTLIERS)


def test_knn_is_the_cosine_distance_to_the_kth_other_galaxy():
    codes = np.random.default_rng(1).normal(size=(80, 6))
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    want = 1 - np.sort(sims, axis=1)[:, ::-1][:, 4]
    assert np.allclose(N.novelty_scores(codes, "knn", k=5), want, atol=1e-5)
    assert np.allclose(N.novelty_scores(codes, "knn", k=500), 1 - np.sort(sims, axis=1)[:, 1],
                       atol=1e-5)  # k capped by the table: the farthest other galaxy


def test_lof_equals_scikit_learns_local_outlier_factor_with_the_cosine_metric():
    from sklearn.neighbors import LocalOutlierFactor

    codes = np.random.default_rng(2).normal(size=(200, 8))
    want = -LocalOutlierFactor(n_neighbors=10, metric="cosine", algorithm="brute").fit(
        codes).negative_outlier_factor_
    assert np.allclose(N.novelty_scores(codes, "lof", k=10), want, atol=1e-3)


def test_the_forest_is_seeded_and_scores_between_zero_and_one():
    codes = blob()
    a, b = N.novelty_scores(codes, seed=3), N.novelty_scores(codes, seed=3)
    assert np.array_equal(a, b) and not np.array_equal(a, N.novelty_scores(codes, seed=4))
    assert ((a > 0) & (a < 1)).all() and np.median(a) < 0.5 < a[OUTLIERS].min()
    same = np.ones((10, 4))  # identical codes: nothing stands out
    assert np.array_equal(N.novelty_scores(same), np.full(10, 0.5))


def test_whitening_keeps_components_with_variance_only():
    x = N.whiten(np.c_[np.random.default_rng(0).normal(size=(50, 3)), np.zeros((50, 2))], 10)
    assert x.shape == (50, 3) and np.allclose(x.var(axis=0, ddof=1), 1.0, atol=1e-3)


def test_the_approximate_engine_takes_over_above_the_threshold(monkeypatch):
    engines = []
    real = N.Index

    def spy(codes, engine="exact", **kw):
        engines.append(engine)
        return real(codes, "exact")

    monkeypatch.setattr(N, "Index", spy)
    codes = blob(120)
    monkeypatch.setattr(N, "ANN_ABOVE", 100)
    N.novelty_scores(codes, "knn")
    N.novelty_scores(codes, "knn", engine="exact")
    N.novelty_scores(codes, "knn", k=N.ANN_MAX_K + 1)  # more than the approximate graph answers well
    monkeypatch.setattr(N, "ANN_ABOVE", 200)
    N.novelty_scores(codes, "lof")
    assert engines == ["ann", "exact", "exact", "exact"]
    with pytest.raises(ParameterError, match="k=21 with the approximate engine"):
        N.novelty_scores(codes, "knn", k=21, engine="ann")


def test_the_approximate_engine_finds_the_same_outliers():
    codes = blob(600)
    exact, approx = (N.novelty_scores(codes, "knn", k=10, engine=e) for e in ("exact", "ann"))
    assert np.corrcoef(exact, approx)[0, 1] > 0.99
    assert set(np.argsort(-approx)[:5].tolist()) == set(OUTLIERS)


@pytest.mark.parametrize("call, error, words", [
    (lambda: N.novelty_scores(blob(), "zscore"), ParameterError, "method='zscore'"),
    (lambda: N.novelty_scores(blob(), "knn", k=0), ParameterError, "k=0"),
    (lambda: N.novelty_scores(np.ones((1, 4))), DataError, "too few galaxies"),
    (lambda: N.novelty_scores(np.full((5, 4), np.nan)), DataError, "NaN"),
    (lambda: N.novelty_scores(np.ones(5)), DataError, "shape"),
])
def test_novelty_refuses_bad_input_in_one_line(call, error, words):
    with pytest.raises(error, match=words):
        call()


# --- resemblance --------------------------------------------------------------------------------

@pytest.mark.parametrize("method", N.RESEMBLANCE_METHODS)
def test_the_group_ranking_finds_the_rest_of_a_planted_group(method):
    codes = blob()
    examples = CLUSTER[:5]
    scores = N.resemblance(codes, examples, method)
    table = N.ranked(np.arange(300), scores, "score", leave_out=examples)
    assert len(table) == 295 and not set(examples) & set(table["GalaxyID"])
    assert set(table["GalaxyID"][:15]) == set(CLUSTER[5:])


def test_examples_as_a_mask_or_as_rows_are_the_same_and_repeats_count_once():
    codes = blob()
    mask = np.zeros(300, bool)
    mask[CLUSTER[:4]] = True
    by_rows = N.resemblance(codes, CLUSTER[:4])
    assert np.allclose(N.resemblance(codes, mask), by_rows)
    assert np.allclose(N.resemblance(codes, CLUSTER[:4] + CLUSTER[:2]), by_rows)


def test_logistic_learns_the_direction_that_sets_the_group_apart():
    """One example galaxy can be unlike its group in most dimensions: the regression weighs the
    dimension the examples share, a mean similarity does not."""
    rng = np.random.default_rng(5)
    codes = np.abs(rng.normal(size=(400, 32))) + 1.0
    group = np.arange(30)
    codes[group, 3] += 4.0
    codes[group] += np.abs(rng.normal(scale=3.0, size=(30, 32)))  # a noisy group
    examples = group[:10]
    precision = {}
    for method in N.RESEMBLANCE_METHODS:
        table = N.ranked(np.arange(400), N.resemblance(codes, examples, method), "s",
                         leave_out=examples)
        precision[method] = np.isin(table["GalaxyID"][:20], group).mean()
    assert precision["logistic"] >= 0.9 and precision["logistic"] >= max(precision.values())


@pytest.mark.parametrize("examples, error, words", [
    ([1, 2], DataError, "at least 3"),
    (list(range(10)), DataError, "nothing is left to rank"),
    ([1, 2, 99], ParameterError, "0..9"),
    (np.ones(4, bool), ParameterError, "mask of 4"),
])
def test_resemblance_refuses_too_few_or_too_many_examples(examples, error, words):
    with pytest.raises(error, match=words):
        N.resemblance(blob(10), examples)


def test_resemblance_refuses_an_unknown_method_and_bad_settings():
    with pytest.raises(ParameterError, match="method='svm'"):
        N.resemblance(blob(), [1, 2, 3], "svm")
    with pytest.raises(ParameterError, match="C=0"):
        N.resemblance(blob(), [1, 2, 3], C=0)
    with pytest.raises(ParameterError, match="k=0"):
        N.resemblance(blob(), [1, 2, 3], "nearest", k=0)


def test_ranked_orders_by_score_then_by_table_order():
    table = N.ranked(np.array(["c", "a", "b", "d"]), np.array([0.1, 0.5, 0.5, 0.9]), "x",
                     leave_out=[3])
    assert table["GalaxyID"].tolist() == ["a", "b", "c"] and table["x"].tolist() == [0.5, 0.5, 0.1]


# --- reading examples and codes ---------------------------------------------------------------

def test_examples_one_per_line_or_in_a_csv(tmp_path):
    ids = np.arange(1000, 1010)
    lines = tmp_path / "ids.txt"
    lines.write_text("# my rings\n1003\n\n1001\n01005\n1003\n")
    assert N.read_examples(lines, ids).tolist() == [3, 1, 5]
    table = tmp_path / "ids.csv"
    table.write_text("note,GalaxyID\nring,1002\nring,1004\nring,1006\n")
    assert N.read_examples(table, ids).tolist() == [2, 4, 6]
    text = tmp_path / "manifest_ids.txt"
    text.write_text("obj-3\nobj-1\nobj-2\n")
    assert N.read_examples(text, np.array(["obj-1", "obj-2", "obj-3"], dtype=object)).tolist() == [2, 0, 1]


@pytest.mark.parametrize("content, words", [
    ("1001\n1002\n7\n8\n9\n10\n11\n12\n", ["6 of 8", "7, 8, 9, 10, 11 ..."]),
    ("1001\n1002\n", ["2 example galaxies", "at least 3"]),
    ("", ["0 example galaxies"]),
    ("id,label\n1001,ring\n", ["needs a GalaxyID column"]),
])
def test_examples_are_refused_in_one_line(tmp_path, content, words):
    path = tmp_path / "examples.txt"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        N.read_examples(path, np.arange(1000, 1010))
    assert all(w in str(info.value) for w in words) and "\n" not in str(info.value)
    with pytest.raises(DataError, match="does not exist"):
        N.read_examples(tmp_path / "missing.txt", np.arange(3))


def test_codes_from_a_run_folder_its_features_file_or_a_featurize_output(run_dir, tmp_path):
    ids, codes, run = N.load_codes(run_dir)
    assert codes.shape == (300, 16) and ids[0] == 1000 and run == str(run_dir)
    ids2, codes2, run2 = N.load_codes(run_dir / "features.parquet")
    assert np.array_equal(ids, ids2) and np.array_equal(codes, codes2) and run2 == str(run_dir)
    out = tmp_path / "codes"
    out.mkdir()
    frame_of(blob(50), ids=[f"obj-{i}" for i in range(50)]).to_parquet(out / "part-00000.parquet")
    (out / "_manifest.json").write_text(json.dumps({"run_dir": str(run_dir), "layer": "body"}))
    ids3, codes3, run3 = N.load_codes(out)
    assert ids3.dtype == object and ids3[0] == "obj-0" and codes3.shape == (50, 16)
    assert run3 == str(run_dir)


def test_codes_of_the_wrong_shape_are_refused(run_dir, tmp_path):
    (run_dir / "model.json").write_text(json.dumps({"n_features": 512}))
    with pytest.raises(DataError, match="16 code columns, but the run's model.json makes 512-d"):
        N.load_codes(run_dir)
    gap = frame_of(blob(20)).drop(columns=["f005"])
    gap.to_parquet(tmp_path / "gap.parquet")
    with pytest.raises(DataError, match="found f006 where f005 belongs"):
        N.load_codes(tmp_path / "gap.parquet")
    frame_of(blob(20)).iloc[:0].to_parquet(tmp_path / "empty.parquet")
    with pytest.raises(DataError, match="empty"):
        N.load_codes(tmp_path / "empty.parquet")
    frame_of(blob(5), ids=[1, 2, 3, 2, 1]).to_parquet(tmp_path / "dup.parquet")
    with pytest.raises(DataError, match="2 GalaxyIDs appear more than once"):
        N.load_codes(tmp_path / "dup.parquet")
    with pytest.raises(DataError, match="does not exist"):
        N.load_codes(tmp_path / "nowhere")
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(DataError, match="neither features.parquet"):
        N.load_codes(tmp_path / "empty_folder")


# --- the commands -------------------------------------------------------------------------------

def test_odd_writes_every_galaxy_most_unusual_first(run_dir, tmp_path, capsys):
    out = tmp_path / "odd.csv"
    assert cli.main(["odd", str(run_dir), "-n", "5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out)
    assert table.columns.tolist() == ["GalaxyID", "novelty"] and len(table) == 300
    assert table["GalaxyID"].is_unique and table["novelty"].is_monotonic_decreasing
    assert set(table["GalaxyID"][:5]) == {1000 + i for i in OUTLIERS}
    assert "disk: spiral" in printed and str(table["GalaxyID"][0]) in printed
    assert len([ln for ln in printed.splitlines() if ln.strip()]) == 1 + 1 + 5  # summary, header, 5
    assert cli.main(["odd", str(run_dir / "features.parquet"), "--method", "knn", "-k", "3",
                     "--engine", "exact", "--threads", "1", "--out", str(out)]) == 0
    assert set(pd.read_csv(out)["GalaxyID"][:5]) == {1000 + i for i in OUTLIERS}


def test_like_ranks_the_rest_leaving_the_examples_out(run_dir, tmp_path, capsys):
    examples = tmp_path / "examples.csv"
    pd.DataFrame({"GalaxyID": [1000 + i for i in CLUSTER[:5]]}).to_csv(examples, index=False)
    out = tmp_path / "like.csv"
    assert cli.main(["like", str(examples), str(run_dir), "--out", str(out), "-n", "3"]) == 0
    table = pd.read_csv(out)
    assert table.columns.tolist() == ["GalaxyID", "score"] and len(table) == 295
    assert table["score"].is_monotonic_decreasing
    assert not set(table["GalaxyID"]) & {1000 + i for i in CLUSTER[:5]}
    assert set(table["GalaxyID"][:15]) == {1000 + i for i in CLUSTER[5:]}
    assert "5 examples" in capsys.readouterr().out
    assert cli.main(["like", str(examples), str(run_dir), "--method", "centroid"]) == 0  # no --out
    assert str(table["GalaxyID"][0]) in capsys.readouterr().out


def test_like_takes_text_ids_of_a_featurize_output(tmp_path, capsys):
    out = tmp_path / "codes"
    out.mkdir()
    frame_of(blob(), ids=[f"obj-{i:03d}" for i in range(300)]).to_parquet(out / "part-00000.parquet")
    (out / "_manifest.json").write_text(json.dumps({"layer": "body"}))
    examples = tmp_path / "examples.txt"
    examples.write_text("\n".join(f"obj-{i:03d}" for i in CLUSTER[:4]) + "\n")
    assert cli.main(["like", str(examples), str(out), "--out", str(tmp_path / "l.csv")]) == 0
    table = pd.read_csv(tmp_path / "l.csv", dtype={"GalaxyID": str})
    assert set(table["GalaxyID"][:16]) == {f"obj-{i:03d}" for i in CLUSTER[4:]}


def test_sheets_draw_the_top_and_the_examples(run_dir, tmp_path, capsys):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    for gid in range(1000, 1300):
        Image.new("RGB", (64, 64), (gid % 255, 40, 90)).save(images / f"{gid}.jpg")
    odd_png, like_png = tmp_path / "odd.png", tmp_path / "like.png"
    assert cli.main(["odd", str(run_dir), "-n", "8", "--out", str(tmp_path / "o.csv"), "--sheet",
                     str(odd_png), "--images", str(images)]) == 0
    examples = tmp_path / "examples.txt"
    examples.write_text("1020\n1021\n1022\n")
    assert cli.main(["like", str(examples), str(run_dir), "-n", "6", "--sheet", str(like_png),
                     "--images", str(images)]) == 0
    with Image.open(odd_png) as a, Image.open(like_png) as b:
        assert a.format == b.format == "PNG"
        assert b.height > a.height * 0.9  # two rows each: 8 in rows of 6; examples + 6
    assert cli.main(["odd", str(run_dir), "--out", str(tmp_path / "o.csv"), "--sheet",
                     str(tmp_path / "x.png")]) == 1
    one_line_error(capsys, "--images")
    assert not (tmp_path / "x.png").exists()


def test_the_commands_refuse_mistakes_in_one_line(run_dir, tmp_path, capsys):
    good = tmp_path / "good.txt"
    good.write_text("1001\n1002\n1003\n")
    odd_out = ["--out", str(tmp_path / "o.csv")]
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("1001\n77\n88\n")
    assert cli.main(["like", str(unknown), str(run_dir)]) == 1
    one_line_error(capsys, "2 of 3", "77, 88")
    few = tmp_path / "few.txt"
    few.write_text("1001\n1002\n")
    assert cli.main(["like", str(few), str(run_dir)]) == 1
    one_line_error(capsys, "at least 3")
    assert cli.main(["like", str(tmp_path / "missing.txt"), str(run_dir)]) == 1
    one_line_error(capsys, "missing.txt does not exist")
    assert cli.main(["odd", str(tmp_path / "nowhere"), *odd_out]) == 1
    one_line_error(capsys, "does not exist")
    assert cli.main(["like", str(good), str(tmp_path / "nowhere.parquet")]) == 1
    one_line_error(capsys, "does not exist")
    assert cli.main(["odd", str(run_dir), "-n", "0", *odd_out]) == 1
    one_line_error(capsys, "-n 0")
    assert cli.main(["odd", str(run_dir), "-k", "0", "--method", "knn", *odd_out]) == 1
    one_line_error(capsys, "-k 0")
    assert cli.main(["odd", str(run_dir), "--threads", "0", *odd_out]) == 1
    one_line_error(capsys, "--threads 0")
    (run_dir / "model.json").write_text(json.dumps({"n_features": 512}))
    assert cli.main(["odd", str(run_dir), *odd_out]) == 1
    one_line_error(capsys, "16 code columns", "512")
    assert cli.main(["like", str(good), str(run_dir)]) == 1
    one_line_error(capsys, "512")
    frame_of(blob(20)).rename(columns={"f003": "f0003"}).to_parquet(tmp_path / "gap.parquet")
    assert cli.main(["odd", str(tmp_path / "gap.parquet"), *odd_out]) == 1
    one_line_error(capsys, "f000 ... f015", "found f0003")
    frame_of(blob(20)).iloc[:0].to_parquet(tmp_path / "empty.parquet")
    for argv in (["odd", str(tmp_path / "empty.parquet"), *odd_out],
                 ["like", str(good), str(tmp_path / "empty.parquet")]):
        assert cli.main(argv) == 1
        one_line_error(capsys, "empty")
    frame_of(np.ones((1, 16), np.float32)).to_parquet(tmp_path / "one.parquet")
    assert cli.main(["odd", str(tmp_path / "one.parquet"), *odd_out]) == 1
    one_line_error(capsys, "too few galaxies")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    frame_of(blob(20)).to_parquet(tmp_path / "ok.parquet")
    assert cli.main(["odd", str(tmp_path / "ok.parquet"), "--out", str(folder)]) == 1  # a folder
    one_line_error(capsys, "cannot write --out")
    assert not (tmp_path / "o.csv").exists()  # nothing half-written by the refused runs


@pytest.mark.parametrize("command", ["odd", "like"])
def test_help_lists_the_exit_codes(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "exit status: 0 success; 1 a problem" in out and "130 interrupted" in out


def test_the_commands_offer_the_modules_methods():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    methods = {name: next(a for a in sub[name]._actions if a.dest == "method").choices
               for name in ("odd", "like")}
    assert tuple(methods["odd"]) == N.NOVELTY_METHODS
    assert tuple(methods["like"]) == N.RESEMBLANCE_METHODS


def test_codes_behind_an_fsspec_url(tmp_path, capsys):
    import io

    import fsspec

    fs = fsspec.filesystem("memory")
    buffer = io.BytesIO()
    frame_of(blob()).to_parquet(buffer)
    fs.pipe("/novelty-test/run/features.parquet", buffer.getvalue())
    fs.pipe("/novelty-test/run/model.json", json.dumps({"n_features": 16}).encode())
    try:
        ids, codes, run = N.load_codes("memory://novelty-test/run")
        assert codes.shape == (300, 16) and run == "memory://novelty-test/run"
        out = tmp_path / "odd.csv"
        assert cli.main(["odd", "memory://novelty-test/run/features.parquet", "--out", str(out)]) == 0
        assert set(pd.read_csv(out)["GalaxyID"][:5]) == {1000 + i for i in OUTLIERS}
        fs.pipe("/novelty-test/run/model.json", json.dumps({"n_features": 8}).encode())
        assert cli.main(["odd", "memory://novelty-test/run", "--out", str(out)]) == 1
        one_line_error(capsys, "8-d codes")
    finally:
        fs.rm("/novelty-test", recursive=True)
