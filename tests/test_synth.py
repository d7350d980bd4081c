"""Tests of the mock Galaxy Zoo generator (helpers.data.synth): layout, tree sums, determinism,
atomicity, parameter errors, the continuum of drawn parameters and votes that follow the image.
Small n throughout (the image statistics against real cutouts are in test_realism.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from helpers.data import schema, synth
from helpers.errors import ParameterError, UserError

N_MAIN = 36  # the shared sample (also used for the realism checks)
N_SMALL = 6


@pytest.fixture(scope="session")
def mock(small_mock: Path) -> Path:
    return small_mock  # tests/conftest.py: N_MAIN galaxies, seed 11, 2 without votes


@pytest.fixture(scope="session")
def small_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("det")
    a, b = base / "a", base / "b"
    synth.write_mock(a, N_SMALL, seed=5, workers=1)
    synth.write_mock(b, N_SMALL, seed=5, workers=2)
    return a, b


def _tree_label(row: pd.Series) -> str:
    """Argmax down the tree (the study's rule, star/artifact as its own label)."""
    q1 = int(np.argmax([row["Class1.1"], row["Class1.2"], row["Class1.3"]]))
    if q1 == 2:
        return schema.STAR_LABEL
    if q1 == 0:
        return schema.ROUND_LABELS[int(np.argmax(row[list(schema.QUESTIONS[7].columns)]))]
    if row["Class2.1"] > row["Class2.2"]:
        return schema.EDGE_ON_LABELS[int(np.argmax(row[list(schema.QUESTIONS[9].columns)]))]
    return "disk: spiral" if row["Class4.1"] > row["Class4.2"] else "disk: no spiral"


def test_layout(mock: Path) -> None:
    sol_text = (mock / schema.SOLUTIONS_CSV).read_text()
    assert sol_text.splitlines()[0].split(",") == schema.HEADER
    sol = pd.read_csv(mock / schema.SOLUTIONS_CSV)
    assert len(sol) == N_MAIN
    ids = sol[schema.ID_COLUMN]
    assert ids.is_unique and ids.is_monotonic_increasing
    assert ids.between(100_000, 999_999).all()
    images = sorted(p.name for p in (mock / schema.TRAIN_IMAGES).iterdir())
    assert images == sorted(f"{g}.jpg" for g in ids)
    for g in ids[:5]:
        with Image.open(mock / schema.TRAIN_IMAGES / f"{g}.jpg") as im:
            assert im.format == "JPEG" and im.mode == "RGB" and im.size == (424, 424)
    truth = pd.read_csv(mock / schema.TRUTH_FILE)
    assert set(truth["true_label"]) <= set(schema.LABELS)
    assert set(truth.loc[truth["split"] == "train", "GalaxyID"]) == set(ids)
    test_ids = truth.loc[truth["split"] == "test", "GalaxyID"]
    assert len(test_ids) == 2 and not set(test_ids) & set(ids)
    assert sorted(p.name for p in (mock / schema.TEST_IMAGES).iterdir()) == sorted(
        f"{g}.jpg" for g in test_ids)
    meta = json.loads((mock / "mock.json").read_text())
    assert meta["n"] == N_MAIN and meta["n_test"] == 2 and meta["seed"] == 11
    assert sum(meta["label_counts"].values()) == N_MAIN
    assert not list(mock.parent.glob("*.tmp-*"))


def test_tree_sums_and_range(mock: Path) -> None:
    sol = pd.read_csv(mock / schema.SOLUTIONS_CSV)
    values = sol[schema.COLUMNS].to_numpy()
    assert np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()
    for q in schema.QUESTIONS.values():
        parent = 1.0 if q.parent is None else sol[q.parent]
        np.testing.assert_allclose(sol[list(q.columns)].sum(axis=1), parent, atol=1e-4,
                                   err_msg=f"Q{q.number}")


def test_deterministic_across_workers(small_pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = small_pair
    for name in (schema.SOLUTIONS_CSV, schema.TRUTH_FILE, "mock.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    imgs = sorted((a / schema.TRAIN_IMAGES).iterdir())
    assert len(imgs) == N_SMALL
    for p in imgs:
        assert p.read_bytes() == (b / schema.TRAIN_IMAGES / p.name).read_bytes()
    other = tmp_path / "other"
    synth.write_mock(other, N_SMALL, seed=6, workers=1)
    assert (other / schema.SOLUTIONS_CSV).read_bytes() != (a / schema.SOLUTIONS_CSV).read_bytes()


def test_galaxy_independent_of_n(small_pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = small_pair
    fewer = tmp_path / "fewer"
    synth.write_mock(fewer, 3, seed=5, workers=1)
    for p in (fewer / schema.TRAIN_IMAGES).iterdir():
        assert p.read_bytes() == (a / schema.TRAIN_IMAGES / p.name).read_bytes()


def test_existing_folder_untouched(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="--overwrite"):
        synth.write_mock(out, 2, workers=1)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_overwrite_replaces_a_mock_and_refuses_anything_else(tmp_path: Path) -> None:
    out = tmp_path / "busy"
    synth.write_mock(out, 3, workers=1)
    (out / "stale.txt").write_text("left by an older mock")
    synth.write_mock(out, 2, workers=1, overwrite=True)
    assert not (out / "stale.txt").exists()
    assert (out / schema.SOLUTIONS_CSV).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]
    (out / "mock.json").unlink()  # no longer the generator's folder: never deleted
    with pytest.raises(UserError, match="did not write"):
        synth.write_mock(out, 2, workers=1, overwrite=True)
    assert (out / schema.SOLUTIONS_CSV).exists()


def test_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = synth._draw_galaxy
    calls = {"n": 0}

    def flaky(t, rng):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return real(t, rng)

    monkeypatch.setattr(synth, "_draw_galaxy", flaky)
    out = tmp_path / "mock"
    with pytest.raises(RuntimeError, match="boom"):
        synth.write_mock(out, 5, workers=1)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("kwargs", "name"), [({"n": 0}, "n"), ({"n": 2, "n_test": -1}, "n_test")])
def test_parameter_errors(tmp_path: Path, kwargs: dict, name: str) -> None:
    with pytest.raises(ParameterError, match=rf"^{name} "):
        synth.write_mock(tmp_path / "x", **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_cli_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from helpers import cli

    assert cli.main(["synth", str(tmp_path / "cli"), "-n", "2", "--seed", "3", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 galaxies" in out and "seed 3" in out


def test_votes_follow_truth(mock: Path) -> None:
    sol = pd.read_csv(mock / schema.SOLUTIONS_CSV).set_index(schema.ID_COLUMN)
    truth = pd.read_csv(mock / schema.TRUTH_FILE).set_index("GalaxyID").loc[sol.index]
    labels = sol.apply(_tree_label, axis=1)
    agreement = (labels == truth["true_label"]).mean()
    assert agreement >= 0.6, agreement


def test_vote_model_agreement_many() -> None:
    """The volunteer model alone (no images: fast) on 400 galaxies: clear but not perfect."""
    rows, truths = [], []
    for i in range(400):
        r_truth, _, r_votes = synth._seeds(123, 0, i)
        t = synth._draw_truth(r_truth, 100_000 + i, "train")
        f, nv = synth._votes(t, r_votes)
        assert 30 <= nv <= 50
        rows.append(f)
        truths.append(t["true_label"])
    sol = pd.DataFrame(rows, columns=schema.COLUMNS)
    agreement = (sol.apply(_tree_label, axis=1) == pd.Series(truths)).mean()
    assert 0.7 <= agreement <= 0.97, agreement


def _elongation(img: np.ndarray) -> float:
    """1 - minor/major axis from the second moments of the central object's isophote mask."""
    im = Image.fromarray(img).convert("L").filter(ImageFilter.GaussianBlur(3))
    a = np.asarray(im, float)[112:312, 112:312]
    bg = np.median(a)
    w = (a > bg + 0.2 * (a.max() - bg)).astype(float)
    y, x = np.mgrid[: w.shape[0], : w.shape[1]]
    s = w.sum()
    mx, my = (w * x).sum() / s, (w * y).sum() / s
    cxx = (w * (x - mx) ** 2).sum() / s
    cyy = (w * (y - my) ** 2).sum() / s
    cxy = (w * (x - mx) * (y - my)).sum() / s
    ev = np.linalg.eigvalsh([[cxx, cxy], [cxy, cyy]])
    return float(1 - np.sqrt(ev[0] / ev[1]))


def _clean(t: dict) -> dict:
    """The same galaxy alone in its frame (no field sources, companions or trails)."""
    return {**t, "n_field": 0, "n_stars": 0, "companion": False, "trail": False}


def test_edge_on_more_elongated_than_round() -> None:
    # pick galaxies by their drawn truth (cheap), then draw just those, alone in the frame
    edge, rnd = [], []
    for i in range(600):
        t = synth._draw_truth(synth._seeds(1, 0, i)[0], 100_000 + i, "train")
        if t["true_label"].startswith("edge-on") and len(edge) < 4:
            edge.append(t)
        elif t["true_label"] == "round: completely round" and len(rnd) < 4:
            rnd.append(t)
    rng = np.random.default_rng(0)
    e = [_elongation(synth._draw_galaxy(_clean(t), rng)) for t in edge]
    r = [_elongation(synth._draw_galaxy(_clean(t), rng)) for t in rnd]
    assert np.median(e) > 0.5 > np.median(r), (e, r)


@pytest.fixture(scope="module")
def truths() -> pd.DataFrame:
    """2,000 drawn truths (no images: fast)."""
    return pd.DataFrame([synth._draw_truth(synth._seeds(99, 0, i)[0], 100_000 + i, "train")
                         for i in range(2000)])


def test_inclinations_cover_the_range(truths: pd.DataFrame) -> None:
    inc = np.sort(truths.loc[truths["family"] == "disk", "inclination_deg"].to_numpy())
    assert inc[0] < 5 and inc[-1] > 88
    assert np.diff(inc).max() < 3.0  # no gap (the old generator skipped 72-82 degrees)
    edge = truths["true_label"].str.startswith("edge-on")
    assert truths.loc[edge, "inclination_deg"].min() == pytest.approx(synth.EDGE_ON_DEG, abs=0.5)


def test_classes_overlap(truths: pd.DataFrame) -> None:
    """Colour, bulge fraction, arm strength and axis ratio are continua shared by the classes."""
    sph = truths[truths["family"] == "spheroid"]
    spiral = truths[truths["true_label"] == "disk: spiral"]
    plain = truths[truths["true_label"] == "disk: no spiral"]
    # red spirals and blue spheroids exist: the colour ranges overlap widely
    assert spiral["redness"].quantile(0.9) > sph["redness"].quantile(0.2)
    assert sph["redness"].quantile(0.1) < spiral["redness"].quantile(0.6)
    # bulge fractions overlap between disks and spheroids
    assert truths.loc[truths["family"] == "disk", "bulge_to_total"].max() > sph["bulge_to_total"].min()
    # arms from barely visible to grand design, and weak arms in "no spiral" disks
    assert spiral["arm_strength"].min() < synth.SPIRAL_ARMS + 0.03
    assert spiral["arm_strength"].max() > 0.6
    assert (plain["arm_strength"].between(0.03, synth.SPIRAL_ARMS)).mean() > 0.2
    assert spiral["flocculence"].min() < 0.1 and spiral["flocculence"].max() > 0.8
    # roundness classes split one continuous axis-ratio distribution
    q = np.sort(sph["axis_ratio"].to_numpy())
    assert np.diff(q).max() < 0.05
    # observation nuisances vary per galaxy
    for c in ("sky_sigma", "psf_fwhm", "peak_display", "stretch", "sky_level"):
        assert truths[c].std() > 0.05 * abs(truths[c].mean()), c


def test_votes_follow_what_the_image_shows() -> None:
    """A galaxy seen small, blurred or faint draws more "smooth" votes than the same one seen well."""
    for i in range(200):
        t = synth._draw_truth(synth._seeds(4, 0, i)[0], 100_000 + i, "train")
        if t["true_label"] == "disk: spiral" and t["arm_strength"] > 0.3:
            break
    sharp = {**_clean(t), "psf_fwhm": t["hlr"] / 6, "sky_sigma": 2.5, "peak_display": 150.0}
    blurred = {**sharp, "psf_fwhm": t["hlr"] / 1.5, "sky_sigma": 9.0, "peak_display": 60.0}
    rng = np.random.default_rng(0)
    synth._draw_galaxy(sharp, rng)
    synth._draw_galaxy(blurred, rng)
    assert sharp["visibility"] > blurred["visibility"] + 0.2
    assert synth._answer_probs(sharp)[1][1] > synth._answer_probs(blurred)[1][1] + 0.1  # featured
    assert synth._answer_probs(sharp)[4][0] > synth._answer_probs(blurred)[4][0]  # spiral


def test_parallel_generation_after_torch_started_its_threads(tmp_path):
    """A notebook or test session that ran torch first must not deadlock the worker processes."""
    import subprocess
    import sys

    code = (
        "import torch\n"
        "torch.set_num_threads(2); (torch.ones(256, 256) @ torch.ones(256, 256)).sum()\n"
        "from helpers.data.synth import write_mock\n"
        f"write_mock({str(tmp_path / 'm')!r}, 6, seed=1, workers=2)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(list((tmp_path / "m" / "images_training_rev1").glob("*.jpg"))) == 6


@pytest.mark.parametrize("workers", [1, 2])
def test_the_command_reports_progress_to_a_log(tmp_path: Path, workers: int) -> None:
    """`synth OUT -n N > log` writes a line with counts and the time left at least every
    progress.EVERY seconds (10 by default, the promise is 30) although stdout is a file, in
    one process and with workers (where it once waited for every chunk before saying a word)."""
    import subprocess
    import sys

    from helpers import progress

    assert progress.EVERY <= 30
    log = tmp_path / "log"
    env = {**os.environ, "GC_PROGRESS_EVERY": "0.2"}
    with open(log, "w") as out:
        subprocess.run([sys.executable, "-m", "helpers", "synth", str(tmp_path / "m"), "-n", "40",
                        "--workers", str(workers)], stdout=out, stderr=subprocess.PIPE, env=env,
                       check=True)
    lines = log.read_text().splitlines()
    ticks = [line for line in lines if line.startswith("synth: ") and "left" in line]
    assert len(ticks) >= 2, lines
    assert lines[-2].startswith("synth: 40 galaxies done in") and lines[-1].startswith("Wrote a mock")
