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
    from helpers.run import Run

    source = {"kind": "real", "description": "real data: a folder of someone's own"}
    chapter = study.Chapter(tmp_path / "data", tmp_path, source, Run(tmp_path))
    kept = study.Kept({"galaxies": 5}, {"holdout_rmse": {"tree": 0.1}}, {})
    assert study.close_chapter(chapter, "train", kept) is None  # a notebook would show it
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["train"]["galaxies"] == 5
    assert saved["train"]["headlines"] == {"holdout_rmse": {"tree": 0.1}}
    env = saved["train"]["environment"]
    assert env["threads"] >= 1 and env["kernels"]["torch_cpu_capability"] and env["packages"]["torch"]
    out = capsys.readouterr().out
    assert out.startswith("Headline numbers against the committed run")
    assert "this run is not the committed run (its data differ): nothing to compare" in out


def test_torch_uses_the_processors_own_kernels_unless_told_otherwise():
    """Importing helpers sets no kernels (torch picks the processor's best, 1.42x faster than
    AVX2 here for training); a user's own setting reaches torch and is recorded."""
    import os
    import subprocess
    import sys

    import torch

    code = ("import helpers, os, torch; from helpers import study; "
            "print(os.environ.get('ATEN_CPU_CAPABILITY', '-'), torch.backends.cpu.get_cpu_capability(), "
            "study.environment()['kernels']['ATEN_CPU_CAPABILITY'])")
    env = {k: v for k, v in os.environ.items() if k not in study.CPU_KERNELS}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.split()
    assert out[0] == "-" and out[2] == "None"
    assert out[1] == torch.backends.cpu.get_cpu_capability()  # what this process (unset) picked
    env["ATEN_CPU_CAPABILITY"] = "default"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout.split()
    assert out == ["default", "DEFAULT", "default"]
