"""One reader of a run's artifacts (helpers.run.Run): aligned rows, one set of code columns, and
one error naming the chapter to rerun, whatever is missing, broken or mismatched."""

import json

import numpy as np
import pandas as pd
import pytest

from helpers import artifacts, profiles
from helpers.run import ARTIFACTS, MissingArtifact, Run, code_columns, split_frame, writer_of


@pytest.fixture()
def run(tmp_path):
    run_dir, data = tmp_path / "run", tmp_path / "data"
    run_dir.mkdir()
    data.mkdir()
    feats = pd.DataFrame({"GalaxyID": [5, 3, 9], "f000": [1.0, 2.0, 3.0], "f001": [0.0, 0.5, 1.0]})
    artifacts.write_parquet(feats, run_dir / "features.parquet")
    artifacts.write_parquet(pd.DataFrame({"GalaxyID": [3, 5], "label": ["disk: spiral", "round: cigar-shaped"]}),
                            run_dir / "labels.parquet")
    pd.DataFrame({"GalaxyID": [3, 5, 9], "true_label": ["a", "b", "c"]}).to_csv(data / "ground_truth.csv")
    return Run(run_dir, data)


def test_features_align_labels_images_and_truth(run):
    galaxies, codes = run.features()
    assert galaxies["GalaxyID"].tolist() == [5, 3, 9]
    assert galaxies["label"].tolist()[:2] == ["round: cigar-shaped", "disk: spiral"]
    assert pd.isna(galaxies["label"].iloc[2])  # featurized without votes
    assert galaxies["image_path"].iloc[2].endswith("images_test_rev1/9.jpg")
    assert galaxies["image_path"].iloc[0].endswith("images_training_rev1/5.jpg")
    assert galaxies["true_label"].tolist() == ["b", "a", "c"]
    assert codes.shape == (3, 2) and codes.dtype == np.float32
    assert Run(run.path).features()[0].columns.tolist() == ["GalaxyID", "label"]  # no data folder


def test_tables_come_in_the_order_asked_for(run):
    artifacts.write_parquet(pd.DataFrame({"GalaxyID": [9, 5, 3], "kmeans2_pca7": [1, 0, 1]}),
                            run.path / "clusters.parquet")
    galaxies, _ = run.features()
    assert run.clusters(galaxies)["GalaxyID"].tolist() == [5, 3, 9]
    assert run.clusters([3, 9])["kmeans2_pca7"].tolist() == [1, 1]
    assert run.clusters()["GalaxyID"].tolist() == [9, 5, 3]  # as stored


def test_the_split_is_recorded_and_read_back_in_any_order(run):
    run.write_split(split_frame([10, 11, 12, 13, 14], train_ids=[10, 12], holdout_ids=[13]))
    assert run.split([14, 13, 12, 99]).tolist() == ["unused", "holdout", "train", "unused"]  # 99: no votes
    assert run.unseen([14, 13, 12, 99]).tolist() == [True, True, False, True]
    with pytest.raises(ValueError, match="both"):
        split_frame([1, 2], [1], [1])


@pytest.mark.parametrize("name", ["clusters.parquet", "embeddings.parquet", "split.parquet",
                                  "predictions.parquet", "labels.parquet"])
def test_every_missing_or_broken_table_names_its_chapter(tmp_path, name):
    run = Run(tmp_path)
    read = {"clusters.parquet": run.clusters, "embeddings.parquet": run.embeddings,
            "split.parquet": lambda: run.split([1]), "predictions.parquet": lambda: run.predictions([1]),
            "labels.parquet": run.labels}[name]
    chapter = writer_of(name)
    with pytest.raises(MissingArtifact, match=f"{name} is missing: run chapter {chapter} on this run first"):
        read()
    (tmp_path / name).write_bytes(b"PAR1 not really")
    with pytest.raises(MissingArtifact, match=f"{name} cannot be read .*rerun chapter {chapter}"):
        read()
    artifacts.write_parquet(pd.DataFrame({"x": [1]}), tmp_path / name)
    with pytest.raises(MissingArtifact, match=f"has no GalaxyID column; rerun chapter {chapter}"):
        read()


def test_a_table_that_lacks_galaxies_or_holds_broken_codes_says_so(run):
    with pytest.raises(MissingArtifact, match=r"lacks 1 of the run's galaxies \(e.g. 7\); rerun chapter 03"):
        run.codes("features.parquet", [5, 7])
    artifacts.write_parquet(pd.DataFrame({"GalaxyID": [1], "f000": [np.nan]}), run.path / "features.parquet")
    with pytest.raises(MissingArtifact, match="NaN"):
        run.features()
    artifacts.write_parquet(pd.DataFrame({"GalaxyID": [1], "x": [1.0]}), run.path / "features.parquet")
    with pytest.raises(MissingArtifact, match="code columns"):
        run.features()


def test_settings_and_model_config_name_their_chapter(run):
    with pytest.raises(MissingArtifact, match="rerun chapter 04_reduce"):
        run.settings("04_reduce")
    (run.path / "metrics.json").write_text(json.dumps({"reduce": {"settings": {"seed": 4}}}))
    assert run.settings("04_reduce") == {"seed": 4}
    with pytest.raises(MissingArtifact, match="model.json is missing: run chapter 02_train_resnet34"):
        run.config()


def test_every_artifact_has_one_writer_and_code_columns_are_one_rule():
    files = [f for _, names in ARTIFACTS.values() for f in names]
    assert len(files) == len(set(files))
    assert all(writer_of(f) in ARTIFACTS for f in files)
    assert code_columns(pd.DataFrame(columns=["GalaxyID", "f000", "f0001", "f12", "ra"])) == ["f000", "f0001"]


def test_a_chapter_may_read_only_what_its_needs_name(monkeypatch, tmp_path):
    """helpers run runs two chapters at once where NEEDS allows: a read outside a chapter's
    NEEDS (directly or through another) fails by name instead of racing the writer."""
    from helpers.run import CHAPTER_ENV, NEEDS, Run

    assert set(NEEDS) == {s.stem for s in profiles.chapter_sources()} - {"01_labels"}
    order = [s.stem for s in profiles.chapter_sources()]
    assert all(order.index(n) < order.index(stem) for stem, needs in NEEDS.items() for n in needs)
    run = Run(tmp_path)
    monkeypatch.setenv(CHAPTER_ENV, "09_codes_at_work")
    with pytest.raises(RuntimeError, match="09_codes_at_work reads what chapter 05_cluster writes"):
        run.clusters()
    with pytest.raises(RuntimeError, match="04_reduce"):
        run.settings("04_reduce")
    with pytest.raises(MissingArtifact, match="features.parquet is missing"):  # in its needs
        run.features()
    monkeypatch.setenv(CHAPTER_ENV, "06_compare")
    with pytest.raises(MissingArtifact, match="clusters.parquet is missing"):
        run.clusters()
    monkeypatch.delenv(CHAPTER_ENV)  # outside helpers run (a notebook by hand, the replay): no rule
    with pytest.raises(MissingArtifact, match="clusters.parquet is missing"):
        run.clusters()
