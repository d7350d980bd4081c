"""The net of chapters 2-3 (helpers.net.network): heads, ImageNet weights, saving and loading.

Small and fast: resnet18 at 32 px on a few dozen in-memory images (tests/networks.py), one epoch.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from networks import ARCH, SIZE

from helpers.data.schema import COLUMNS, QUESTIONS
from helpers.errors import ParameterError, UserError
from helpers.net import inference, network

# ------------------------------------------------------------------------------------------
# heads


@pytest.mark.parametrize("scale", [0.1, 1.0, 30.0])
def test_tree_output_respects_the_tree(scale):
    torch.manual_seed(0)
    out = network.TreeOutput()(torch.randn(256, 37) * scale)
    assert out.shape == (256, 37)
    assert float(network.tree_sums(out).abs().max()) < 1e-5
    assert float(out.min()) >= 0 and float(out.max()) <= 1 + 1e-6


def test_tree_head_model_respects_the_tree():
    net = network.build_model(ARCH, "tree", seed=0).eval()
    with torch.no_grad():
        out = net(torch.randn(8, 3, SIZE, SIZE))
    assert float(network.tree_sums(out).abs().max()) < 1e-5


def test_tree_sums_of_real_targets_are_small(real_rows):
    sums = network.tree_sums(real_rows[COLUMNS].to_numpy(np.float64))
    assert np.abs(sums).max() < 0.01
    assert sums.shape == (len(real_rows), len(QUESTIONS))


def test_both_heads_have_a_512_hidden_layer():
    for head in network.HEADS:
        net = network.build_model(ARCH, head, seed=0)
        assert net[1].fc1.out_features == 512 and net[1].fc2.in_features == 512


def test_unknown_arch_and_head():
    with pytest.raises(ParameterError, match="arch"):
        network.build_model("vgg16")
    with pytest.raises(ParameterError, match="head"):
        network.build_model(ARCH, "softmax")


# ------------------------------------------------------------------------------------------
# pretrained weights: one download attempt, then a clear error (never a raw URLError)


def test_pretrained_missing_names_the_path_fast(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    attempts = []

    def offline(url, dst, *args, **kwargs):
        attempts.append(url)
        Path(dst).write_bytes(b"half a file")  # what an interrupted download leaves
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "resnet34-b627a593.pth"
    t0 = time.perf_counter()
    with pytest.raises(UserError) as err:
        network.build_model("resnet34", pretrained=True)
    assert time.perf_counter() - t0 < 5
    assert attempts == ["https://download.pytorch.org/models/resnet34-b627a593.pth"]
    assert not any(expected.parent.iterdir())  # nothing half-written is left to be trusted
    assert "fetching it failed" in str(err.value)
    with pytest.raises(UserError, match="downloading is off"):
        network.check_pretrained("resnet34", download=False)
    assert len(attempts) == 1
    assert str(expected) in str(err.value)
    assert "pretrained=False" in str(err.value)
    assert "https://download.pytorch.org/models/resnet34-b627a593.pth" in str(err.value)
    assert network.weights_path("resnet18").name == "resnet18-f37072fd.pth"
    assert network.weights_path("resnet50").name == "resnet50-11ad3fa6.pth"


def test_pretrained_weights_are_fetched_once_when_a_network_exists(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = torchvision.models.resnet18(weights=None)

    def fetch(url, dst, hash_prefix=None, progress=True):
        assert hash_prefix == "f37072fd"
        torch.save(reference.state_dict(), dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fetch)
    assert network.check_pretrained("resnet18") == network.weights_path("resnet18")
    assert network.weights_path("resnet18").is_file()
    net = network.build_model("resnet18", pretrained=True)
    assert torch.equal(net[0][0].weight, reference.conv1.weight)


def test_pretrained_weights_are_loaded_from_the_hub_cache(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(3)
    reference = torchvision.models.resnet18(weights=None)
    path = network.weights_path("resnet18")
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)  # stands in for the ImageNet file
    net = network.build_model("resnet18", pretrained=True)
    assert torch.equal(net[0][0].weight, reference.conv1.weight)
    assert net.gc_config["pretrained"] is True
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot load"):
        network.build_model("resnet18", pretrained=True)


# ------------------------------------------------------------------------------------------
# save / load (no pickle)


def test_save_load_roundtrip(trained, data):
    images, _, _ = data
    _, learn, _, run_dir = trained
    assert sorted(p.name for p in run_dir.iterdir()) == ["model.json", "model.safetensors"]
    net, config = network.load_model(run_dir)
    assert not net.training
    assert config["arch"] == ARCH and config["head"] == "linear" and config["crop"] == 212
    assert config["image_size"] == SIZE and config["n_out"] == 37 and config["seed"] == 42
    assert len(config["data_fingerprint"]) == 64 and config["columns"] == COLUMNS
    assert np.array_equal(inference.predict(learn, images), inference.predict(net, images, config=config))
    for layer in inference.LAYERS:
        assert np.array_equal(inference.extract_features(learn.model, images, layer=layer),
                              inference.extract_features(net, images, config, layer=layer))


def test_no_pickle_anywhere(trained):
    _, _, _, run_dir = trained
    for p in run_dir.iterdir():
        head = p.read_bytes()[:2]
        assert head != b"\x80\x04" and head != b"\x80\x02" and head[:2] != b"PK", p
    meta = json.loads((run_dir / "model.json").read_text())
    assert meta["weights_file"] == "model.safetensors"


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    out.mkdir()
    for p in run_dir.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    return out


@pytest.mark.parametrize("change", [{"arch": "resnet34"}, {"head": "tree"}])
def test_mismatched_json_is_refused(trained, tmp_path, change):
    _, _, _, run_dir = trained
    copy = _copy_run(run_dir, tmp_path)
    meta = json.loads((copy / "model.json").read_text())
    meta.update(change)
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(UserError) as err:
        network.load_model(copy)
    assert "model.json" in str(err.value) and "model.safetensors" in str(err.value)


def test_mismatched_weights_shapes_are_listed(trained, tmp_path):
    _, _, _, run_dir = trained
    copy = _copy_run(run_dir, tmp_path)
    meta = json.loads((copy / "model.json").read_text())
    meta["arch"] = "resnet34"
    from safetensors.torch import load_file, save_file

    save_file(load_file(str(copy / "model.safetensors")), str(copy / "model.safetensors"))
    meta["weights_sha256"] = network._sha256(copy / "model.safetensors")  # a pair that agrees on the file
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="missing"):
        network.load_model(copy)


def test_weights_without_a_recorded_checksum_are_refused(trained, tmp_path):
    _, _, _, run_dir = trained
    copy = _copy_run(run_dir, tmp_path)
    meta = json.loads((copy / "model.json").read_text())
    meta.pop("weights_sha256")
    (copy / "model.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="records no weights_sha256"):
        network.load_model(copy)


def test_missing_or_foreign_files(trained, tmp_path):
    _, _, _, run_dir = trained
    with pytest.raises(UserError, match="model.json"):
        network.load_model(tmp_path)
    copy = _copy_run(run_dir, tmp_path)
    (copy / "model.safetensors").unlink()
    with pytest.raises(UserError, match="model.safetensors"):
        network.load_model(copy)
    copy2 = tmp_path / "c2"
    copy2.mkdir()
    (copy2 / "model.json").write_bytes((run_dir / "model.json").read_bytes())
    (copy2 / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(UserError, match="model.safetensors"):
        network.load_model(copy2)
