"""Survey-scale featurization: local Dask cluster vs one process, resume, bad images, refusals."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pandas as pd
import pytest
from images import write_jpegs
from networks import save_small_network
from PIL import Image

from helpers import cli
from helpers.codes import survey
from helpers.data.imagecache import load_image_array
from helpers.errors import DataError, UserError
from helpers.net import inference, network

N_IMAGES = 22
SHARD = 4


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An untrained, seeded resnet18 saved the way chapter 2 saves a network."""
    return save_small_network(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Galaxy-like 424 px JPEGs (the Kaggle size), one that is not an image and one cut short."""
    folder = tmp_path_factory.mktemp("images")
    for i in range(N_IMAGES):  # galaxies of different elongations
        write_jpegs(folder, [200000 + i], seed=i, elongation=1 + i % 4)
    (folder / "300001.jpg").write_text("not a picture")
    good = (folder / "200000.jpg").read_bytes()
    (folder / "300002.jpg").write_bytes(good[: len(good) // 3])
    return folder


def good_files(folder):
    return sorted(p for p in folder.glob("2*.jpg"))


def test_one_process_matches_the_chapter_3_path_and_reports_bad_images(run_dir, images, tmp_path):
    out = tmp_path / "codes"
    summary = survey.featurize(run_dir, images, out, scheduler="none", shard_size=SHARD, progress=None)
    assert summary["images"] == N_IMAGES + 2 and summary["bad"] == 2
    assert summary["shards"] == summary["computed"] == -(-(N_IMAGES + 2) // SHARD)
    codes = survey.read_codes(out)
    assert codes["GalaxyID"].tolist() == [200000 + i for i in range(N_IMAGES)]
    net, config = network.load_model(run_dir)
    expected = inference.extract_features(net, load_image_array(good_files(images), 32, 212), config)
    np.testing.assert_allclose(codes.iloc[:, 1:].to_numpy(), expected, rtol=1e-5, atol=1e-5)
    bad = pd.read_csv(out / survey.BAD_IMAGES)
    assert [os.path.basename(f) for f in bad["file"]] == ["300001.jpg", "300002.jpg"]
    assert bad["problem"].str.contains("300001.jpg").any()
    assert pd.read_parquet(out).shape == codes.shape  # the folder reads back as one table


@pytest.mark.slow
def test_local_cluster_gives_the_same_codes_and_survives_a_killed_worker(run_dir, images, tmp_path):
    import psutil

    reference = tmp_path / "one"
    survey.featurize(run_dir, images, reference, scheduler="none", shard_size=SHARD, progress=None)
    killed = []

    def kill_a_worker_once(message: str) -> None:
        if killed or "1/" not in message:
            return
        workers = [p for p in psutil.Process().children(recursive=True)  # the nannies' workers
                   if "spawn_main" in " ".join(p.cmdline())]
        if workers:
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)

    out = tmp_path / "dask"
    before = dict(os.environ)
    summary = survey.featurize(run_dir, images, out, workers=2, shard_size=SHARD,
                               progress=kill_a_worker_once)
    assert killed, "no Dask worker process was found to kill"
    assert dict(os.environ) == before  # not even the restarted worker's variables are left
    assert summary["files"] == summary["shards"] and summary["bad"] == 2
    a, b = survey.read_codes(reference), survey.read_codes(out)
    assert a["GalaxyID"].tolist() == b["GalaxyID"].tolist()
    np.testing.assert_allclose(a.iloc[:, 1:].to_numpy(), b.iloc[:, 1:].to_numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_workers_run_without_dasks_slow_malloc_setting_and_other_clusters_are_told(
        run_dir, images, tmp_path):
    """Dask's nannies set MALLOC_TRIM_THRESHOLD_, which cost the forward pass 30-40% here."""
    from distributed import Client, LocalCluster

    before = dict(os.environ)
    with survey.local_cluster(1, 2) as cluster, Client(cluster) as client:
        env = client.run(lambda: {k: os.environ.get(k) for k in (survey.SLOW_MALLOC, "OMP_NUM_THREADS")})
        assert dict(os.environ) == before  # the nanny's variables are not left in this process
    assert list(env.values()) == [{survey.SLOW_MALLOC: None, "OMP_NUM_THREADS": "2"}]
    assert dict(os.environ) == before

    messages = []
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as plain:  # a cluster started with Dask's defaults
        summary = survey.featurize(run_dir, images, tmp_path / "codes", scheduler=plain.scheduler_address,
                                   shard_size=3 * SHARD, progress=messages.append)
    assert summary["files"] == summary["shards"] and summary["bad"] == 2
    notes = [m for m in messages if survey.SLOW_MALLOC in m]
    assert len(notes) == 1 and "pre-spawn-environ" in notes[0]


def test_an_interrupted_run_resumes_where_it_stopped(run_dir, images, tmp_path):
    out = tmp_path / "codes"
    full = tmp_path / "full"
    survey.featurize(run_dir, images, full, scheduler="none", shard_size=SHARD, progress=None)

    def interrupt_after_two(message: str) -> None:
        if message.startswith("[featurize] 2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        survey.featurize(run_dir, images, out, scheduler="none", shard_size=SHARD,
                         progress=interrupt_after_two)
    assert len(list(out.glob("part-*.parquet"))) == 2
    (out / ".part-00003.parquet.abc.tmp").write_text("half")  # what a killed writer leaves
    summary = survey.featurize(run_dir, images, out, scheduler="none", shard_size=SHARD, progress=None)
    assert summary["skipped"] == 2 and summary["computed"] == summary["shards"] - 2
    assert not list(out.glob(".*.tmp"))
    pd.testing.assert_frame_equal(survey.read_codes(out), survey.read_codes(full))
    assert summary["bad"] == 2  # the bad images of skipped shards are still reported
    again = survey.featurize(run_dir, images, out, scheduler="none", shard_size=SHARD, progress=None)
    assert again["computed"] == 0 and again["skipped"] == again["shards"]


def test_images_of_another_size_are_cropped_to_the_same_fraction(run_dir, tmp_path):
    from helpers.data.images import center_crop_resize, read_cutout

    rng = np.random.default_rng(3)
    big = rng.integers(0, 255, (424, 424, 3), dtype=np.uint8)
    small = np.asarray(Image.fromarray(big).resize((212, 212), Image.Resampling.BILINEAR))
    folder = tmp_path / "other-survey"
    folder.mkdir()
    Image.fromarray(small).save(folder / "5.png")
    got = read_cutout(folder / "5.png", 32, crop=212)  # 106 central px of 212 = 212 of 424
    want = center_crop_resize(big, 32, 212)
    assert got.shape == (32, 32, 3)
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 25  # same field of view
    summary = survey.featurize(run_dir, folder, tmp_path / "o", scheduler="none", progress=None)
    assert summary["bad"] == 0 and len(survey.read_codes(tmp_path / "o")) == 1


def test_an_image_query_is_cut_like_featurize_and_finds_its_own_code(run_dir, tmp_path):
    """A 200 px image as query: the same crop fraction as featurize, the run read from the manifest."""
    from helpers.codes import similar as S

    rng = np.random.default_rng(4)
    folder = tmp_path / "survey-b"
    folder.mkdir()
    yy, xx = np.mgrid[:200, :200]
    for i in range(12):
        r2 = ((yy - 100) ** 2 / rng.uniform(20, 400) + (xx - 100) ** 2 / rng.uniform(20, 400))
        img = np.clip(rng.normal(15, 4, (200, 200, 3)) + 230 * np.exp(-r2)[..., None], 0, 255)
        Image.fromarray(img.astype(np.uint8)).save(folder / f"{700 + i}.png")
    out = tmp_path / "codes"
    survey.featurize(run_dir, folder, out, scheduler="none", progress=None)
    table = S.similar(str(folder / "705.png"), features=out, k=3)  # no run= : the manifest says
    assert table["GalaxyID"].iloc[0] == 705
    assert table["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-4)


def test_other_inputs_are_refused_unless_overwritten(run_dir, images, tmp_path):
    out = tmp_path / "codes"
    survey.featurize(run_dir, images, out, scheduler="none", shard_size=SHARD, progress=None)
    with pytest.raises(UserError, match="shard_size differ"):
        survey.featurize(run_dir, images, out, scheduler="none", shard_size=SHARD + 1, progress=None)
    summary = survey.featurize(run_dir, images, out, scheduler="none", shard_size=SHARD + 1,
                               overwrite=True, progress=None)
    assert summary["computed"] == summary["shards"]
    assert json.loads((out / survey.MANIFEST).read_text())["shard_size"] == SHARD + 1
    assert len(survey.read_codes(out)) == N_IMAGES
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not a featurize output"):
        survey.featurize(run_dir, images, stranger, scheduler="none", progress=None)


def test_bad_folders_and_runs_get_clear_errors(run_dir, images, tmp_path, capsys):
    with pytest.raises(DataError, match="not a folder"):
        survey.list_images(tmp_path / "nowhere")
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "galaxy.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="<GalaxyID>.jpg"):
        survey.list_images(odd)
    assert cli.main(["featurize", "--run", str(tmp_path), "--images", str(images),
                     "--out", str(tmp_path / "o")]) == 1
    assert "model.json does not exist" in capsys.readouterr().err
    assert cli.main(["featurize", "--run", str(run_dir), "--images", str(images),
                     "--out", str(tmp_path / "o"), "--workers", "0"]) == 1
    assert "--workers" in capsys.readouterr().err
