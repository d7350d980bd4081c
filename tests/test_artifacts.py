"""Run artifacts (helpers.artifacts): atomic files, metrics.json, locks, where the data came from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import artifacts
from helpers.data.schema import TRUTH_FILE
from helpers.errors import UserError


def test_a_failed_write_leaves_neither_file_nor_temporary(tmp_path: Path) -> None:
    target = tmp_path / "table.parquet"
    artifacts.write_parquet(pd.DataFrame({"GalaxyID": [1, 2]}), target)
    before = target.read_bytes()

    def half_then_fail(tmp: Path) -> None:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        artifacts.write_atomic(target, half_then_fail)
    assert target.read_bytes() == before  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.parquet"]  # no temporary left


def test_files_get_the_mode_the_umask_asks_for(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        path = artifacts.write_json({"a": 1}, tmp_path / "x.json")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_metrics_sections_are_replaced_one_at_a_time(tmp_path: Path) -> None:
    assert artifacts.read_metrics(tmp_path) == {}
    artifacts.update_metrics(tmp_path, "train", {"rmse": np.float32(0.125), "n": np.int64(3),
                                                 "run": tmp_path / "run"})
    artifacts.update_metrics(tmp_path, "reduce", {"kl": 0.6})
    whole = artifacts.update_metrics(tmp_path, "train", {"rmse": 0.1})
    assert whole == {"reduce": {"kl": 0.6}, "train": {"rmse": 0.1}}
    assert json.loads((tmp_path / artifacts.METRICS).read_text()) == whole
    with pytest.raises(TypeError, match="cannot write set"):
        artifacts.write_json({"bad": {1, 2}}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_a_live_lock_refuses_a_second_writer_and_a_dead_one_is_taken_over(tmp_path: Path,
                                                                         monkeypatch) -> None:
    monkeypatch.delenv(artifacts.LOCK_OWNER_ENV, raising=False)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / artifacts.LOCK).write_text(json.dumps({"pid": holder.pid, "what": "chapter 2"}))
        assert artifacts.lock_holder(tmp_path)["pid"] == holder.pid
        with pytest.raises(UserError, match=f"in use by process {holder.pid} \\(chapter 2"):
            artifacts.check_not_locked(tmp_path)
        with pytest.raises(UserError, match="in use"), artifacts.folder_lock(tmp_path, "a second run"):
            pass
        monkeypatch.setenv(artifacts.LOCK_OWNER_ENV, str(holder.pid))
        artifacts.check_not_locked(tmp_path)  # the runner's own chapters pass its lock
    finally:
        holder.kill()
        holder.wait()
    assert artifacts.lock_holder(tmp_path) is None  # its process is gone
    with artifacts.folder_lock(tmp_path, "a new run"):
        assert json.loads((tmp_path / artifacts.LOCK).read_text())["pid"] == os.getpid()
    assert not (tmp_path / artifacts.LOCK).exists()


def test_data_source_tells_mock_from_real(tmp_path: Path) -> None:
    mock, real = tmp_path / "mock", tmp_path / "real"
    mock.mkdir()
    real.mkdir()
    (mock / "mock.json").write_text(json.dumps({"n": 3000, "seed": 42}))
    (mock / TRUTH_FILE).write_text("GalaxyID,true_label\n")
    said = artifacts.data_source(mock)
    assert said["kind"] == "mock" and said["truth"]
    assert "3000 simulated galaxies, seed 42" in said["description"]
    assert "not real Galaxy Zoo data" in said["description"]
    said = artifacts.data_source(real)
    assert said == {"kind": "real", "truth": False, "description": said["description"]}
    assert said["description"].startswith("real data") and "no ground truth" in said["description"]
