"""Faults a demanding user meets: two runs on one folder, destructive options on a folder the
project did not make, killed commands, unreadable artifacts, an unreachable scheduler. Each case
asserts the message, the exit code and that nothing was lost."""

import json
import os
import stat
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from networks import save_small_network

from helpers import artifacts, cli, paths
from helpers.data import synth
from helpers.errors import DataError, UserError

HOLD = "import sys, time; from helpers.artifacts import folder_lock\n" \
       "with folder_lock(sys.argv[1], 'helpers run --params other.yml'):\n" \
       "    print('locked', flush=True); time.sleep(60)\n"


@pytest.fixture()
def holder(tmp_path):
    """Another live process holding a folder's lock (as a running `helpers run` does)."""
    procs = []

    def hold(folder):
        proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "locked"
        procs.append(proc)
        return proc

    yield hold
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture()
def sandbox(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "PROCESSED", tmp_path / "processed")
    monkeypatch.setattr(paths, "BUILD", tmp_path / "_build")
    return tmp_path


def test_a_second_run_on_the_same_folder_is_refused_at_once(sandbox, holder, capsys):
    profile = sandbox / "p.yml"
    profile.write_text(f"run: shared\ndata_dir: {sandbox / 'mock'}\nmock: {{n: 20, seed: 1}}\n"
                       "chapters: {04_reduce: {tsne_perplexity: 5, umap_neighbors: 5}}\n")
    run_dir = sandbox / "processed" / "shared"
    (run_dir / "notebooks").mkdir(parents=True)
    (run_dir / "new_galaxies.parquet").write_text("chapter 7's output")  # must survive
    proc = holder(run_dir)
    start = time.perf_counter()
    code = cli.main(["run", "--params", str(profile), "--only", "04_reduce", "--no-book"])
    err = capsys.readouterr().err
    assert code == 1 and time.perf_counter() - start < 10
    assert f"in use by process {proc.pid}" in err and "helpers run --params other.yml" in err
    assert (run_dir / "new_galaxies.parquet").read_text() == "chapter 7's output"
    assert not (sandbox / "mock").exists()  # nothing was generated either


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_note(tmp_path, capsys):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True)
    dead = int(proc.stdout)
    (tmp_path / artifacts.LOCK).write_text(json.dumps({"pid": dead, "started": "yesterday"}))
    with artifacts.folder_lock(tmp_path, "a test"):
        assert json.loads((tmp_path / artifacts.LOCK).read_text())["pid"] == os.getpid()
    assert "taking over the lock" in capsys.readouterr().err
    assert not (tmp_path / artifacts.LOCK).exists()


def test_a_chapter_run_by_hand_is_refused_while_a_run_holds_its_folder(tmp_path, holder, monkeypatch):
    from helpers import study

    holder(tmp_path / "run")
    with pytest.raises(UserError, match="in use by process"):
        study.open_chapter(tmp_path / "data", tmp_path / "run")
    monkeypatch.setenv(artifacts.LOCK_OWNER_ENV, str(artifacts.lock_holder(tmp_path / "run")["pid"]))
    study.open_chapter(tmp_path / "data", tmp_path / "run")  # the runner's own chapters pass


def test_synth_overwrite_never_deletes_a_folder_it_did_not_make(tmp_path, capsys):
    user = tmp_path / "notes"
    user.mkdir()
    (user / "notes.txt").write_text("a week of work")
    assert cli.main(["synth", str(user), "-n", "3", "--workers", "1", "--overwrite"]) == 1
    assert "did not write (no mock.json)" in capsys.readouterr().err
    assert (user / "notes.txt").read_text() == "a week of work"
    mock = tmp_path / "mock"
    synth.write_mock(mock, 2, workers=1)
    synth.write_mock(mock, 3, workers=1, overwrite=True)  # its own folder: replaced
    assert json.loads((mock / "mock.json").read_text())["n"] == 3


def test_leftovers_of_a_killed_synth_are_cleared_at_the_next_start(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True)
    dead = int(proc.stdout)
    left = tmp_path / f"mock.tmp-{dead}"
    (left / "images_training_rev1").mkdir(parents=True)
    running = tmp_path / f"mock.tmp-{os.getppid()}"  # a live process's build: never touched
    running.mkdir()
    synth.write_mock(tmp_path / "mock", 2, workers=1)
    assert not left.exists() and running.exists()
    assert (tmp_path / "mock" / "mock.json").exists()


def test_featurize_overwrite_never_deletes_a_folder_it_did_not_make(tmp_path):
    from helpers.codes import survey

    out = tmp_path / "codes"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    run = save_small_network(tmp_path / "run")
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    Image.new("RGB", (64, 64)).save(images / "1.jpg")
    with pytest.raises(UserError, match="not a featurize output"):
        survey.featurize(run, images, out, scheduler="none", overwrite=True, progress=None)
    assert (out / "notes.txt").read_text() == "mine"


def test_unreachable_scheduler_fails_fast_and_claims_nothing(tmp_path):
    from helpers.codes import survey

    run = save_small_network(tmp_path / "run")
    images = tmp_path / "images"
    images.mkdir()
    from PIL import Image

    Image.new("RGB", (64, 64)).save(images / "1.jpg")
    start = time.perf_counter()
    with pytest.raises(UserError, match="does not answer"):
        survey.featurize(run, images, tmp_path / "out", scheduler="tcp://127.0.0.1:1", progress=None)
    assert time.perf_counter() - start < 10
    assert not (tmp_path / "out").exists()  # no manifest claiming the folder


def test_truncated_artifacts_name_the_chapter_to_rerun(tmp_path):
    ids = np.array([1, 2, 3])
    artifacts.write_parquet(pd.DataFrame({"GalaxyID": ids, "label": ["a", "b", "a"]}),
                            tmp_path / "labels.parquet")
    artifacts.write_parquet(pd.DataFrame({"GalaxyID": ids, "f000": [0.1, 0.2, 0.3]}),
                            tmp_path / "features.parquet")
    data = (tmp_path / "features.parquet").read_bytes()
    (tmp_path / "features.parquet").write_bytes(data[: len(data) // 2])
    from helpers.codes import similar
    from helpers.run import Run

    run = Run(tmp_path)
    with pytest.raises(DataError, match="rerun chapter 03_extract_features"):
        run.features()
    with pytest.raises(DataError, match="rerun chapter 3"):
        similar.read_feature_set(tmp_path / "features.parquet")
    (tmp_path / "split.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match="rerun chapter 02_train_resnet34"):
        run.split(ids)
    with pytest.raises(DataError, match="rerun chapter 03_extract_features"):
        run.codes("features.parquet", ids)


def test_artifacts_follow_the_users_umask(tmp_path):
    old = os.umask(0o002)
    try:
        path = artifacts.write_json({"a": 1}, tmp_path / "x.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o664  # group-readable, as a shared run folder needs


@pytest.mark.parametrize("k", ["0", "-3"])
def test_similar_refuses_a_k_below_one_naming_it(tmp_path, k, capsys):
    features = tmp_path / "features.parquet"
    artifacts.write_parquet(pd.DataFrame({"GalaxyID": [1, 2, 3], "f000": [0.1, 0.2, 0.3]}), features)
    assert cli.main(["similar", "1", "-k", k, "--features", str(features)]) == 1
    assert f"-k {int(k)}: the number of similar galaxies must be a whole number >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_stops_a_run_in_one_line_and_leaves_no_kernel(tmp_path, small_mock):
    """Ctrl-C mid-chapter: exit 130, one line on stderr (no kernel traceback), the folder's lock
    released, no kernel process left behind."""
    import shutil as sh
    import signal
    import uuid

    data = small_mock  # read only: the run writes into its own folder
    run = f"ctrlc-{uuid.uuid4().hex[:8]}"
    profile = tmp_path / "p.yml"
    profile.write_text(f"run: {run}\ndata_dir: {data}\nchapters:\n"
                       "  02_train_resnet34: {image_size: 32, epochs: 20, batch_size: 8, arch: resnet18,"
                       " n_train: null}\n  04_reduce: {tsne_perplexity: 5, umap_neighbors: 5}\n")
    proc = subprocess.Popen([sys.executable, "-m", "helpers", "run", "--params", str(profile), "--no-book"],
                            cwd=paths.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    seen = []
    try:
        for line in proc.stdout:  # wait until the training chapter is under way
            seen.append(line)
            if "[02_train_resnet34]   " in line:
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, f"stdout: {''.join(seen)[-1500:]}{out[-1500:]}\nstderr: {err[-2000:]}"
        assert err.strip().splitlines() == ["interrupted: nothing half-written was kept"], err[-2000:]
        run_dir = paths.PROCESSED / run
        assert not (run_dir / artifacts.LOCK).exists()
        assert not (run_dir / "model.safetensors").exists()  # the chapter did not finish: no weights
        deadline = time.monotonic() + 10  # an orphaned kernel notices its parent is gone within a second
        while _kernels_of(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _kernels_of(proc.pid) == [], "a kernel of the interrupted run is still alive"
    finally:
        proc.kill()
        sh.rmtree(paths.PROCESSED / run, ignore_errors=True)


def _kernels_of(parent: int) -> list[int]:
    """PIDs of live Jupyter kernels started by process ``parent`` (jupyter_client gives each
    kernel JPY_PARENT_PID)."""
    from pathlib import Path

    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"ipykernel" in cmdline and f"JPY_PARENT_PID={parent}".encode() in environ:
            found.append(int(proc.name))
    return found
