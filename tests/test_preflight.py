"""Every bad value is refused before the long work: `helpers run --check` (and the same checks at
the start of every run) name each problem in one line, in seconds."""

import time

import pandas as pd
import pytest
import yaml

from helpers import cli, paths
from helpers.data.schema import COLUMNS, ID_COLUMN, SOLUTIONS_CSV, TRAIN_IMAGES


@pytest.fixture()
def kaggle_layout(tmp_path):
    """A folder laid out as the real download after unzipping the training archives only."""
    data = tmp_path / "galaxy-zoo"
    (data / TRAIN_IMAGES).mkdir(parents=True)
    row = {ID_COLUMN: 100008, **dict.fromkeys(COLUMNS, 0.0), "Class1.1": 1.0, "Class6.2": 1.0,
           "Class7.1": 1.0}
    pd.DataFrame([row]).to_csv(data / SOLUTIONS_CSV, index=False)
    (data / TRAIN_IMAGES / "100008.jpg").write_bytes(b"")
    return data


def profile(tmp_path, base="kaggle.yml", data_dir=None, **chapters):
    text = yaml.safe_load((paths.PARAMS / base).read_text())
    text["run"] = "check"
    if data_dir:
        text["data_dir"] = str(data_dir)
    for stem, values in chapters.items():
        text.setdefault("chapters", {}).setdefault(stem, {}).update(values)
    path = tmp_path / "p.yml"
    path.write_text(yaml.safe_dump(text))
    return path


def check(path, capsys) -> tuple[int, str, float]:
    start = time.perf_counter()
    code = cli.main(["run", "--params", str(path), "--check"])
    return code, capsys.readouterr().err, time.perf_counter() - start


def test_shipped_demo_profile_passes(capsys):
    assert cli.main(["run", "--params", str(paths.PARAMS / "demo.yml"), "--check"]) == 0
    assert "every check passed" in capsys.readouterr().out


def test_missing_test_images_are_named_within_seconds(tmp_path, kaggle_layout, capsys):
    path = profile(tmp_path, data_dir=kaggle_layout, **{"02_train_resnet34": {"pretrained": False}})
    code, err, seconds = check(path, capsys)
    assert code == 1 and seconds < 10
    assert "images_test_rev1/ is missing" in err and "unzip images_test_rev1.zip" in err
    assert "training_solutions_rev1.csv" not in err  # what is there is not reported
    (kaggle_layout / "images_test_rev1").mkdir()
    code, err, _ = check(path, capsys)
    assert code == 0, err


@pytest.mark.parametrize("stem, values, expected", [
    ("02_train_resnet34", {"epochs": "five"}, "02_train_resnet34.epochs = 'five': expected int"),
    ("02_train_resnet34", {"epochs": 0}, "epochs = 0: must be a whole number >= 1"),
    ("02_train_resnet34", {"heads": ["linear", "conv"]}, "heads"),
    ("02_train_resnet34", {"augment": "colour"}, "02_train_resnet34.augment = 'colour': must be one of"),
    ("02_train_resnet34", {"ablation": "rotation"}, "ablation = 'rotation': must be null"),
    ("05_cluster", {"k_values": []}, "05_cluster.k_values = []: must be a non-empty list"),
    ("05_cluster", {"gallery": "kmeans9_umap"}, "05_cluster.gallery = 'kmeans9_umap' names no clustering"),
    ("05_cluster", {"spaces": ["pca", "isomap"]}, "names no map of chapter 4: ['isomap']"),
    ("07_new_galaxies", {"workers": 0}, "07_new_galaxies.workers = 0: must be a whole number >= 1"),
    ("07_new_galaxies", {"vote_kk": 3}, "vote_kk"),
    ("07_new_galaxies", {"new_images": "nowhere/manifest.csv"}, "'nowhere/manifest.csv': the manifest does not exist"),
    ("07_new_galaxies", {"new_images": "nowhere"}, "is not a folder of cutouts nor a manifest"),
    ("07_new_galaxies", {"fits_stretch": "log"}, "07_new_galaxies.fits_stretch = 'log': must be one of"),
    ("04_reduce", {"tsne_perplexity": 5000}, "04_reduce.tsne_perplexity = 5000 needs more than 3 x 5000"),
    ("06_compare", {"compare_k": 9}, "06_compare.compare_k = 9 is not among 05_cluster.k_values"),
    ("01_labels", {"label_threshold": 2}, "label_threshold = 2: must be a number in [0, 1]"),
])
def test_each_bad_value_is_named_before_anything_runs(tmp_path, capsys, stem, values, expected):
    path = profile(tmp_path, "demo.yml", **{stem: values})
    code, err, seconds = check(path, capsys)
    assert code == 1 and expected in err and seconds < 10
    assert not (paths.PROCESSED / "check").exists()  # nothing ran, nothing was written


def test_all_problems_are_listed_at_once(tmp_path, capsys):
    path = profile(tmp_path, "demo.yml", **{"02_train_resnet34": {"epochs": "five"},
                                           "05_cluster": {"k_values": []}})
    code, err, _ = check(path, capsys)
    assert code == 1 and "2 problem(s)" in err and "epochs" in err and "k_values" in err


def test_unreachable_scheduler_is_reported_quickly(tmp_path, capsys):
    path = profile(tmp_path, "demo.yml", **{"07_new_galaxies": {"scheduler": "tcp://127.0.0.1:1"}})
    code, err, seconds = check(path, capsys)
    assert code == 1 and "scheduler tcp://127.0.0.1:1 does not answer" in err and seconds < 10


def test_mixed_precision_without_cuda_is_refused(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():  # pragma: no cover - a GPU machine: nothing to refuse
        return
    path = profile(tmp_path, "demo.yml", **{"02_train_resnet34": {"mixed_precision": True}})
    code, err, _ = check(path, capsys)
    assert code == 1 and "mixed_precision is true but this machine has no CUDA GPU" in err


def test_the_net_choices_it_retypes_are_the_nets_own():
    """preflight keeps a copy of helpers.net's choices so that `--check` never loads torch."""
    from helpers import preflight
    from helpers.net import augment, inference, network

    assert preflight.ARCHS == tuple(network.ARCHS)
    assert preflight.HEADS == network.HEADS and preflight.MIN_IMAGE_SIZE == network.MIN_IMAGE_SIZE
    assert preflight.AUGMENTS == augment.AUGMENTS and preflight.LAYERS == inference.LAYERS


def test_check_of_the_demo_profile_loads_no_network():
    import subprocess
    import sys

    code = ("import sys; from helpers import cli; assert cli.main(['run', '--check']) == 0; "
            "assert 'torch' not in sys.modules, 'run --check imported torch'")
    proc = subprocess.run([sys.executable, "-c", code], cwd=paths.ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
