"""The papermill runner: profiles are checked before anything runs (helpers.profiles); chapters
run into the run's own folder (helpers.chapters); a failing chapter names its notebook; the book
renders from the run."""

import json
import shutil

import pandas as pd
import pytest

from helpers import cli, paths, profiles, runner
from helpers.errors import ParameterError, UserError


def write(tmp_path, text, name="p.yml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, match", [
    ("run: [x\n", "not valid YAML"),
    ("- a\n- b\n", "mapping"),
    ("data_dir: x\n", "'run'"),
    ("run: ../up\ndata_dir: x\n", "'run'"),
    ("run: r\n", "data_dir"),
    ("run: r\ndata_dir: x\nmock: {seed: 1}\n", "'mock'"),
    ("run: r\ndata_dir: x\nmock: {n: 5, colour: red}\n", "colour"),
    ("run: r\ndata_dir: x\nchapters: {01_labels: 3}\n", "chapters"),
    ("run: r\ndata_dir: null\n", "data_dir"),
    ("run: r\ndata_dir: x\nmock: {n: abc}\n", "mock.n"),
    ("run: r\ndata_dir: x\nmock: {n: 5, seed: -1}\n", "mock.seed"),
])
def test_bad_profiles_are_explained(tmp_path, text, match):
    with pytest.raises(ParameterError, match=match):
        profiles.load_profile(write(tmp_path, text))


def test_missing_profile_lists_the_known_ones(tmp_path):
    with pytest.raises(ParameterError, match="params/demo.yml"):
        profiles.load_profile(tmp_path / "nope.yml")


def test_typos_in_parameters_are_caught_before_running(tmp_path):
    declared = {s.stem: profiles.declared_parameters(profiles.read_chapter(s)) for s in profiles.chapter_sources()}
    typo = profiles.load_profile(write(tmp_path, "run: r\ndata_dir: x\nlabel_treshold: 0.5\n"))
    with pytest.raises(ParameterError, match="label_treshold"):
        profiles.check_profile_keys(typo, declared)
    stray = profiles.load_profile(write(tmp_path, "run: r\ndata_dir: x\nchapters: {09_nothing: {}}\n"))
    with pytest.raises(ParameterError, match="09_nothing"):
        profiles.check_profile_keys(stray, declared)
    wrong = profiles.load_profile(write(tmp_path, "run: r\ndata_dir: x\nchapters: {01_labels: {epochs: 3}}\n"))
    with pytest.raises(ParameterError, match="epochs"):
        profiles.chapter_parameters(wrong, "01_labels", declared["01_labels"])


def test_missing_real_data_says_how_to_download(tmp_path):
    profile = profiles.load_profile(write(tmp_path, f"run: r\ndata_dir: {tmp_path / 'kaggle'}\n"))
    with pytest.raises(UserError, match="kaggle competitions download"):
        runner.prepare_data(profile)


@pytest.fixture()
def sandbox(tmp_path, monkeypatch):
    """Run artifacts and the book go to tmp_path, not the repository."""
    monkeypatch.setattr(paths, "PROCESSED", tmp_path / "processed")
    monkeypatch.setattr(paths, "BUILD", tmp_path / "_build")
    return tmp_path


@pytest.mark.slow
def test_failing_chapter_names_its_notebook(sandbox, mock_copy, capsys):
    data = mock_copy
    broken = sorted((data / "images_training_rev1").glob("*.jpg"))[2]
    broken.write_bytes(broken.read_bytes()[:200])  # a truncated image: chapter 1 stops on it
    profile = write(sandbox, f"run: broken\nmock: {{n: 36, seed: 11, n_test: 2}}\ndata_dir: {data}\n"
                             "chapters: {04_reduce: {tsne_perplexity: 3, umap_neighbors: 5}}\n")
    assert cli.main(["run", "--params", str(profile), "--no-book"]) == 1
    err = capsys.readouterr().err
    assert "chapter 01_labels failed" in err and "01_labels.ipynb" in err
    assert not (sandbox / "processed" / "broken" / "labels.parquet").exists()
    shutil.rmtree(sandbox / "processed", ignore_errors=True)


def test_a_bad_value_is_refused_before_any_chapter_runs(sandbox, capsys):
    data = sandbox / "mock"
    profile = write(sandbox, f"run: broken\nmock: {{n: 6, seed: 3}}\ndata_dir: {data}\n"
                             "on_bad_image: maybe\n")
    assert cli.main(["run", "--params", str(profile), "--no-book"]) == 1
    err = capsys.readouterr().err
    assert "01_labels.on_bad_image = 'maybe': must be one of ['error', 'skip']" in err
    assert not data.exists() and not (sandbox / "processed" / "broken").exists()


def test_stale_mock_is_generated_again(sandbox):
    data = sandbox / "mock"
    first = write(sandbox, f"run: r\nmock: {{n: 3, seed: 1}}\ndata_dir: {data}\n", "a.yml")
    runner.prepare_data(profiles.load_profile(first))
    assert json.loads((data / "mock.json").read_text())["n"] == 3
    runner.prepare_data(profiles.load_profile(first))  # unchanged: kept as it is
    second = write(sandbox, f"run: r\nmock: {{n: 4, seed: 1}}\ndata_dir: {data}\n", "b.yml")
    runner.prepare_data(profiles.load_profile(second))
    assert json.loads((data / "mock.json").read_text())["n"] == 4
    (data / "mock.json").unlink()  # someone else's data in a folder the profile calls a mock
    with pytest.raises(UserError, match="did not write"):
        runner.prepare_data(profiles.load_profile(second))


def test_rerunning_a_chapter_removes_what_it_and_later_chapters_wrote(sandbox):
    profile = profiles.load_profile(write(sandbox, "run: r\ndata_dir: x\n"))
    run_dir = profile.run_dir
    run_dir.mkdir(parents=True)
    for name in ("labels.parquet", "model.safetensors", "model.json", "features.parquet"):
        (run_dir / name).write_text("old")
    (run_dir / "new_codes" / "_bad").mkdir(parents=True)  # chapter 7's featurize output folder
    (run_dir / "new_codes" / "part-00000.parquet").write_text("old")
    (run_dir / "metrics.json").write_text(json.dumps({"labels": {"galaxies": 3}, "train": {}, "features": {}}))
    removed = runner.clear_downstream(profile, "02_train_resnet34")
    assert sorted(removed) == ["features.parquet", "model.json", "model.safetensors", "new_codes"]
    assert not (run_dir / "new_codes").exists()
    assert (run_dir / "labels.parquet").exists()
    assert json.loads((run_dir / "metrics.json").read_text()) == {"labels": {"galaxies": 3}}


def kaggle_like_folder(root, *, n=80, n_test=8, seed=5, keep_labels=5):
    """A folder laid out as the real Kaggle download: vote table, training and test images, no
    ground truth and no mock manifest, and only ``keep_labels`` of the nine labels present."""
    from helpers.data.labels import assign_labels
    from helpers.data.schema import SOLUTIONS_CSV, TRAIN_IMAGES, TRUTH_FILE
    from helpers.data.synth import write_mock

    write_mock(root, n=n, seed=seed, n_test=n_test, workers=1)
    (root / TRUTH_FILE).unlink()
    (root / "mock.json").unlink()
    table = pd.read_csv(root / SOLUTIONS_CSV)
    label = assign_labels(table)["label"].to_numpy()
    kept = pd.Series(label).value_counts().index[:keep_labels]
    keep = pd.Series(label).isin(kept).to_numpy()
    for galaxy in table.loc[~keep, "GalaxyID"]:
        (root / TRAIN_IMAGES / f"{galaxy}.jpg").unlink()
    table[keep].to_csv(root / SOLUTIONS_CSV, index=False)
    return sorted(kept)


@pytest.mark.slow
def test_real_data_profile_runs_every_chapter_without_truth_and_renders_the_book(sandbox, capsys):
    """The path the project exists for: params/kaggle.yml, scaled down, on a Kaggle-layout folder
    with no truth sidecar and only some labels (chapter 4's LDA space then has fewer axes than
    the profile asks for, and chapters 5-7 must agree on its name; the map has no truth panel)."""
    import yaml

    data = sandbox / "galaxy-zoo"
    labels_present = kaggle_like_folder(data)
    profile = yaml.safe_load((paths.PARAMS / "kaggle.yml").read_text())
    profile["run"], profile["data_dir"] = "real-small", str(data)
    scaled = {  # the real-data profile's own values, lowered to a few dozen galaxies on a CPU
        "02_train_resnet34": {"image_size": 32, "epochs": 1, "batch_size": 16, "pretrained": False,
                              "arch": "resnet18", "tta": False},
        "03_extract_features": {"n_galaxies": None, "batch_size": 32},
        "04_reduce": {"tsne_perplexity": 10, "umap_neighbors": 10},
        "05_cluster": {"hdbscan_min_cluster_size": 5, "map_points": 40},
        "07_new_galaxies": {"workers": 1, "shard_size": 4},
    }
    for stem, values in scaled.items():
        profile["chapters"].setdefault(stem, {}).update(values)
    path = sandbox / "kaggle-small.yml"
    path.write_text(yaml.safe_dump(profile))
    assert cli.main(["run", "--params", str(path)]) == 0
    out = capsys.readouterr().out  # progress reaches the terminal, each line naming its chapter ...
    assert "[02_train_resnet34] expected to take about" in out
    assert "[02_train_resnet34]   epoch 1/1: training loss" in out
    assert "[04_reduce]   UMAP to 7 dimensions" in out and "[06_compare]   linear probe" in out

    run_dir = sandbox / "processed" / "real-small"
    for executed in (run_dir / "notebooks").glob("*.ipynb"):  # ... and never the notebooks
        assert "epoch 1/1" not in executed.read_text() and "UMAP to" not in executed.read_text()
    assert "tsne_perplexity = 10" in (run_dir / "notebooks" / "04_reduce.ipynb").read_text()  # injected
    assert "tsne_perplexity = 10" not in (paths.NOTEBOOKS / "04_reduce.ipynb").read_text()  # not leaked
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {section["data_source"] for section in metrics.values()} == {"real"}
    counts = metrics["labels"]["label_counts"]
    assert sorted(k for k, v in counts.items() if v) == labels_present
    lda = f"lda{len(labels_present) - 1}"  # as many axes as the labels allow, not the profile's 7
    assert metrics["reduce"]["lda_components"] == len(labels_present) - 1
    assert lda in metrics["cluster"]["spaces"] and "umap7" in metrics["cluster"]["spaces"]
    clusters = pd.read_parquet(run_dir / "clusters.parquet")
    assert f"kmeans8_{lda}" in clusters.columns
    compare = metrics["compare"]
    assert "vs_truth_unseen" not in compare and f"kmeans8_{lda}" in compare["vs_labels_unseen"]
    assert "lda" not in compare["best_vs_labels"]  # LDA saw the labels: never the label-blind best
    new = pd.read_parquet(run_dir / "new_galaxies.parquet")  # chapter 7: the test images, unscored
    assert len(new) == 8 and new["predicted"].notna().all() and "true_label" not in new
    oddest = pd.read_parquet(run_dir / "novelty.parquet")  # chapter 9: ranked, nothing scored
    assert len(oddest) == len(clusters) and oddest["novelty"].is_monotonic_decreasing
    assert "auc" not in metrics["at_work"] and metrics["at_work"]["headlines"] == {}
    html = sandbox / "_build" / "html"
    for page in ("01_labels", "04_reduce", "05_cluster", "06_compare", "07_new_galaxies",
                 "09_codes_at_work"):
        text = (html / "notebooks" / f"{page}.html").read_text()
        assert "real data" in text and "mock Galaxy Zoo (" not in text and "<img" in text
    findings = (html / "book" / "findings.html").read_text()
    assert "no ground truth beyond the votes" in findings
    page = (html / "book" / "map.html").read_text()
    assert "galaxy-map" in page and page.count("true morphology") == 1  # the prose only: no truth colouring


def _fake_chapters(monkeypatch, seconds, fail=None):
    """Stand-in chapters that record when each ran (threads, not kernels)."""
    import threading
    import time

    lock, spans = threading.Lock(), {}

    def execute(source, profile, *, refresh=False, shared=False):
        started = time.monotonic()
        time.sleep(seconds.get(source.stem, 0.05))
        with lock:
            spans[source.stem] = (started, time.monotonic())
        if source.stem == fail:
            raise UserError(f"chapter {source.stem} failed")
        return source.with_suffix(".ipynb")

    monkeypatch.setattr(runner, "execute_chapter", execute)
    return spans


def test_chapters_run_two_at_a_time_after_what_they_read(monkeypatch):
    from helpers.run import NEEDS

    sources = profiles.chapter_sources()
    spans = _fake_chapters(monkeypatch, {"04_reduce": 0.3, "05_cluster": 0.3, "09_codes_at_work": 0.3})
    executed = runner.execute_chapters(sources, profile=None, jobs=2)
    assert [p.stem for p in executed] == [s.stem for s in sources]  # chapter order, every one
    for stem, needs in NEEDS.items():
        for need in needs:  # never before what it reads has finished
            assert spans[stem][0] >= spans[need][1], (stem, need)
    train = spans["02_train_resnet34"]
    for stem, (start, end) in spans.items():  # nothing beside the training chapter
        assert stem == "02_train_resnet34" or end <= train[0] or start >= train[1], stem
    times = sorted({t for span in spans.values() for t in span})
    most = max(sum(s <= t < e for s, e in spans.values()) for t in times)
    assert most == 2  # two at once (chapter 9 beside chapters 4 and 5) ...
    spans = _fake_chapters(monkeypatch, {})
    runner.execute_chapters(sources, profile=None, jobs=1)
    order = sorted(spans, key=lambda stem: spans[stem][0])
    assert order == [s.stem for s in sources]  # ... and with jobs=1 one after the other, in order
    assert all(spans[a][1] <= spans[b][0] for a, b in zip(order, order[1:], strict=False))


def test_a_failing_chapter_stops_what_has_not_started(monkeypatch):
    spans = _fake_chapters(monkeypatch, {"03_extract_features": 0.2, "08_mock_realism": 0.0,
                                         "09_codes_at_work": 0.3}, fail="04_reduce")
    with pytest.raises(UserError, match="04_reduce failed"):
        runner.execute_chapters(profiles.chapter_sources(), profile=None, jobs=2)
    assert "09_codes_at_work" in spans  # under way when 4 failed: it finished
    assert not {"05_cluster", "06_compare", "07_new_galaxies"} & set(spans)  # never started


def test_jobs_must_be_a_whole_number_of_at_least_one(capsys):
    assert cli.main(["run", "--jobs", "0"]) == 1
    assert "--jobs 0" in capsys.readouterr().err
