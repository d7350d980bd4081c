"""Every chapter's opening and ending (helpers.study): seeds, the data banner, the lock check,
and the one call that records metrics, the environment and the headline report."""

import json

import numpy as np

from helpers import study


def test_setup_makes_the_global_generators_repeat():
    study.setup(seed=3)
    first = np.random.rand(3)  # noqa: NPY002 - the global state libraries still draw from
    study.setup(seed=3)
    assert np.array_equal(first, np.random.rand(3))  # noqa: NPY002


def test_open_chapter_resolves_the_folders_and_says_whose_data(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "mock.json").write_text(json.dumps({"n": 7, "seed": 1}))
    chapter = study.open_chapter(data, tmp_path / "run", seed=1)
    assert chapter.data_path == data and chapter.run_path == tmp_path / "run"
    assert chapter.source["kind"] == "mock" and "7 simulated galaxies" in chapter.source["description"]
    (data / "mock.json").unlink()
    assert study.open_chapter(data, tmp_path / "run").source["kind"] == "real"


def test_close_chapter_records_headlines_and_the_environment_and_prints_the_report(tmp_path, capsys):
    source = {"kind": "real", "description": "real data: a folder of someone's own"}
    metrics = study.close_chapter(tmp_path, "train", {"galaxies": 5},
                                  headlines={"holdout_rmse": {"tree": 0.1}}, source=source)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == metrics and saved["train"]["galaxies"] == 5
    assert saved["train"]["headlines"] == {"holdout_rmse": {"tree": 0.1}}
    env = saved["train"]["environment"]
    assert env["threads"] >= 1 and env["kernels"]["ATEN_CPU_CAPABILITY"] and env["packages"]["torch"]
    out = capsys.readouterr().out
    assert out.startswith("Headline numbers against the reference run")
    assert "this run is not the reference run (its data differ): nothing to compare" in out


def test_torch_kernels_are_pinned_before_torch_computes():
    """helpers sets the kernels before torch is imported (a user's own setting is kept), and
    torch then computes with them."""
    import os
    import subprocess
    import sys

    code = ("import helpers, os, torch; print(os.environ['ATEN_CPU_CAPABILITY'], "
            "torch.backends.cpu.get_cpu_capability())")
    env = {k: v for k, v in os.environ.items() if k not in study.CPU_KERNELS}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.split()
    assert out[0] == "avx2" and out[1] in ("AVX2", "DEFAULT")  # DEFAULT: a CPU without AVX2
    env["ATEN_CPU_CAPABILITY"] = "default"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.split()
    assert out == ["default", "DEFAULT"]
