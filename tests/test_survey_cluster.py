"""featurize on a cluster that shares no disk, against real components started here:

a ``dask scheduler`` and two ``dask worker`` processes (the venv's CLI), each worker in its own
empty folder and never told where the run is, and an S3 server on the loopback address (moto in
server mode) that holds the cutouts and the manifest and receives the codes. The services start
and stop inside the module (finalizers; free ports; every wait has a timeout in seconds).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from PIL import Image

from helpers.codes import survey
from helpers.net import network

BUCKET = "survey"
N = 10
SHARD = 2
DASK = Path(sys.executable).with_name("dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it listened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on port {port} within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def s3(request):
    """A moto S3 server on 127.0.0.1 and the environment that points s3fs at it."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    request.addfinalizer(server.stop)
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    saved = dict(os.environ)
    os.environ.update(env)
    import s3fs

    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    fs.mkdir(BUCKET)
    for key, value in saved.items():  # the root conftest gives os.environ back after each test;
        os.environ[key] = value  # tests set these variables themselves (monkeypatch)
    for key in env:
        if key not in saved:
            del os.environ[key]
    return {"env": env, "fs": fs, "port": port}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, s3):
    """A run (an untrained, seeded resnet18 saved as chapter 2 saves one) and cutouts: JPEGs
    named by GalaxyID locally, the same pixels as 8-bit FITS named by survey ID in S3 with a
    manifest (RA/Dec carried), one FITS of a wrong shape among them; the same manifest and
    FITS files on the local disk too."""
    root = tmp_path_factory.mktemp("cluster")
    (root / "cutouts").mkdir()
    run = root / "run"
    net = network.build_model("resnet18", "tree", seed=0)
    network.save_model(net, run, {"image_size": 32, "crop": 212, "mean": [0.1, 0.1, 0.1],
                                  "std": [0.2, 0.2, 0.2]})
    jpg = root / "jpg"
    jpg.mkdir()
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:160, :160]
    fs, rows = s3["fs"], []
    for i in range(N):
        r2 = (yy - 80) ** 2 / rng.uniform(20, 300) + (xx - 80) ** 2 / rng.uniform(20, 300)
        img = np.clip(rng.normal(12, 4, (160, 160, 3)) + 235 * np.exp(-r2)[..., None], 0, 255)
        Image.fromarray(img.astype(np.uint8)).save(jpg / f"{900 + i}.jpg", quality=92)
        pixels = np.asarray(Image.open(jpg / f"{900 + i}.jpg").convert("RGB"))
        name = f"SDSS J{i:02d}"
        path = root / "cutouts" / f"{i}.fits"
        fits.PrimaryHDU(np.moveaxis(pixels, -1, 0)).writeto(path)
        fs.put_file(str(path), f"{BUCKET}/cutouts/{i}.fits")
        rows.append({"id": name, "path": f"cutouts/{i}.fits", "ra": 180.0 + i / 10, "dec": -1.0})
    fits.PrimaryHDU(np.zeros((5, 8, 8), np.float32)).writeto(root / "cutouts" / "bad.fits")
    fs.put_file(str(root / "cutouts" / "bad.fits"), f"{BUCKET}/cutouts/bad.fits")
    rows.insert(3, {"id": "SDSS bad", "path": "cutouts/bad.fits", "ra": 0.0, "dec": 0.0})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    fs.put_file(str(root / "manifest.csv"), f"{BUCKET}/manifest.csv")
    return {"root": root, "run": run, "jpg": jpg}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, s3, request):
    """``dask scheduler`` + two ``dask worker`` processes (no nanny: a killed worker is gone),
    each worker in an empty folder of its own, configured for S3 by its environment only."""
    port = free_port()
    home = tmp_path_factory.mktemp("scheduler")
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard", "--no-show"], cwd=home, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    request.addfinalizer(lambda: stop(scheduler))
    wait_for_port(port, scheduler, "dask scheduler")
    address = f"tcp://127.0.0.1:{port}"
    workers = []
    for i in range(2):
        folder = tmp_path_factory.mktemp(f"worker{i}")
        proc = subprocess.Popen(
            [str(DASK), "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
             "--name", f"w{i}", "--local-directory", str(folder)],
            cwd=folder, env={**env, **s3["env"], "OMP_NUM_THREADS": "1"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        request.addfinalizer(lambda p=proc: stop(p))
        workers.append(proc)
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
    return {"address": address, "workers": workers}


@pytest.fixture()
def deadline():
    """Fail, never hang, when a service stops answering: the test gets 150 s in all."""
    def expire(_signum, _frame):
        raise TimeoutError("the cluster test ran past 150 s: a service stopped answering")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(150)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_cluster_without_shared_disk_gives_the_local_codes_and_survives_a_killed_worker(
        workspace, cluster, s3, tmp_path, monkeypatch, deadline):
    for key, value in s3["env"].items():
        monkeypatch.setenv(key, value)
    local = tmp_path / "local"  # the local path: same manifest, local files, one thread like a worker
    survey.featurize(workspace["run"], workspace["root"] / "manifest.csv", local, scheduler="none",
                     shard_size=SHARD, threads=1, progress=None)
    run = tmp_path / "run"  # a copy that disappears once the client has read it
    shutil.copytree(workspace["run"], run)
    out = f"s3://{BUCKET}/codes"
    killed, messages = [], []

    def watch(message: str) -> None:
        messages.append(message)
        if run.exists():  # the first message comes after the network was read
            shutil.rmtree(run)
        if message.startswith("[featurize] 1/") and not killed:
            victim = cluster["workers"][0]
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
            killed.append(victim.pid)

    summary = survey.featurize(run, f"s3://{BUCKET}/manifest.csv", out,
                               scheduler=cluster["address"], shard_size=SHARD, progress=watch)
    assert killed and not run.exists()
    shards = -(-(N + 1) // SHARD)
    assert summary["shards"] == summary["computed"] == summary["files"] == shards
    assert summary["bad"] == 1
    codes, want = survey.read_codes(out), survey.read_codes(local)
    assert codes["GalaxyID"].tolist() == [f"SDSS J{i:02d}" for i in range(N)]  # none lost, none twice
    assert codes["ra"].tolist() == [180.0 + i / 10 for i in range(N)]
    columns = [c for c in want.columns if c.startswith("f")]
    pd.testing.assert_frame_equal(codes, want)  # equal, not close
    assert len(columns) == 512
    bad = pd.read_csv(s3["fs"].open(f"{BUCKET}/codes/{survey.BAD_IMAGES}"))
    assert bad["GalaxyID"].tolist() == ["SDSS bad"] and "(5, 8, 8)" in bad["problem"].iloc[0]

    # interrupted after two shards, then resumed: finished shards are checked and kept
    stopped = f"s3://{BUCKET}/codes-resumed"

    def interrupt(message: str) -> None:
        if message.startswith("[featurize] 2/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        survey.featurize(workspace["run"], f"s3://{BUCKET}/manifest.csv", stopped,
                         scheduler=cluster["address"], shard_size=SHARD, progress=interrupt)
    again = survey.featurize(workspace["run"], f"s3://{BUCKET}/manifest.csv", stopped,
                             scheduler=cluster["address"], shard_size=SHARD, progress=None)
    assert again["skipped"] >= 2 and again["skipped"] + again["computed"] == shards
    pd.testing.assert_frame_equal(survey.read_codes(stopped), codes)
    assert len(s3["fs"].ls(f"{BUCKET}/codes-resumed/{survey.BAD_DIR}")) == shards
