"""The net of chapters 2-3 (helpers.network, .training, .inference, .metrics) and the image cache.

Small and fast: resnet18 at 32 px on a few dozen in-memory images, one or a few epochs.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from helpers import imagecache, inference, metrics, network, training
from helpers.errors import DataError, ParameterError, UserError
from helpers.schema import COLUMNS, QUESTIONS

SIZE = 32
ARCH = "resnet18"


def _tree_targets(n: int, rng: np.random.Generator, brightness: np.ndarray) -> np.ndarray:
    """Targets that respect the tree and depend on the images (so there is something to learn)."""
    proto = network.TreeOutput()(torch.randn(2, 37) * 2).numpy().astype(np.float64)
    w = brightness[:, None]
    return (w * proto[0] + (1 - w) * proto[1]).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 48
    images = rng.integers(0, 60, (n, SIZE, SIZE, 3), dtype=np.uint8)
    bright = rng.random(n)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    blob = np.exp(-((yy - SIZE / 2) ** 2 + (xx - SIZE / 3) ** 2) / 30.0)  # off-centre: rotations show
    images = np.clip(images + (bright[:, None, None, None] * 190 * blob[None, :, :, None]), 0, 255)
    images = images.astype(np.uint8)
    targets = _tree_targets(n, rng, bright)
    ids = np.arange(100000, 100000 + n)
    return images, targets, ids


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    images, targets, ids = data
    torch.set_num_threads(2)
    network.seed_everything(42)
    dls = training.make_dataloaders(images, targets, bs=16, seed=42, ids=ids)
    learn = training.build_learner(dls, arch=ARCH, head="linear", seed=42)
    history = training.train(learn, epochs=1, lr=2e-3)
    run_dir = tmp_path_factory.mktemp("run")
    network.save_model(learn, run_dir, {"crop": 212, "note": "test"})
    return dls, learn, history, run_dir


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


def test_pretrained_needs_imagenet_stats(data):
    images, targets, _ = data
    dls = training.make_dataloaders(images, targets, bs=16)
    with pytest.raises(ParameterError, match="imagenet"):
        training.build_learner(dls, arch=ARCH, pretrained=True)


# ------------------------------------------------------------------------------------------
# data loaders and augmentation


def _normalised(images: np.ndarray, info: dict) -> torch.Tensor:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    mean = torch.tensor(info["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(info["std"]).view(1, 3, 1, 1)
    return (x - mean) / std


def test_split_is_seeded_and_exposed(data):
    images, targets, ids = data
    a = training.make_dataloaders(images, targets, bs=16, seed=42, ids=ids)
    b = training.make_dataloaders(images, targets, bs=16, seed=42, ids=ids)
    c = training.make_dataloaders(images, targets, bs=16, seed=7, ids=ids)
    assert np.array_equal(a.split.valid, b.split.valid)
    assert not np.array_equal(a.split.valid, c.split.valid)
    assert len(a.split.valid) == round(0.2 * len(images))
    assert sorted([*a.split.train, *a.split.valid]) == list(range(len(images)))
    assert np.array_equal(a.split.valid_ids, ids[a.split.valid])


def test_valid_batches_are_unaugmented_and_in_order(data):
    images, targets, _ = data
    dls = training.make_dataloaders(images, targets, bs=16, augment=True)
    x, y = next(iter(dls.valid))
    rows = dls.split.valid[: len(x)]
    expected = _normalised(images[rows], dls.gc_info)
    assert torch.allclose(x.as_subclass(torch.Tensor), expected, atol=1e-5)
    assert torch.allclose(y, torch.from_numpy(targets[rows]))


def test_training_batches_are_really_rotated(data):
    images, targets, _ = data
    dls = training.make_dataloaders(images, targets, bs=16, augment=True)
    from fastai.torch_core import TensorImage

    raw = TensorImage(torch.from_numpy(images[:16]).permute(0, 3, 1, 2).contiguous())
    yb = torch.from_numpy(targets[:16])
    torch.manual_seed(1)
    aug, y_aug = dls.train.after_batch((raw.clone(), yb))
    plain, _ = dls.valid.after_batch((raw.clone(), yb))
    aug, plain = aug.as_subclass(torch.Tensor), plain.as_subclass(torch.Tensor)
    assert torch.equal(y_aug, yb)  # targets untouched
    assert torch.allclose(plain, _normalised(images[:16], dls.gc_info), atol=1e-5)
    # every training image changed, and most are not one of the 8 exact dihedral versions,
    # i.e. the rotation is by any angle, not only quarter turns
    not_dihedral = 0
    for a, p in zip(aug, plain, strict=True):
        views = [torch.rot90(v, k, (1, 2)) for v in (p, p.flip(2)) for k in range(4)]
        dist = min(float((a - v).abs().mean()) for v in views)
        assert float((a - p).abs().mean()) > 1e-3 or dist < 1e-4
        not_dihedral += dist > 1e-2
    assert not_dihedral >= 12
    # an iterated training batch is augmented too
    x, _ = dls.train.one_batch()
    assert x.shape == (16, 3, SIZE, SIZE)


def test_no_augmentation_when_asked(data):
    images, targets, _ = data
    dls = training.make_dataloaders(images, targets, bs=16, augment=False)
    from fastai.torch_core import TensorImage

    raw = TensorImage(torch.from_numpy(images[:4]).permute(0, 3, 1, 2).contiguous())
    x, _ = dls.train.after_batch((raw, torch.from_numpy(targets[:4])))
    assert torch.allclose(x.as_subclass(torch.Tensor), _normalised(images[:4], dls.gc_info),
                          atol=1e-5)


def test_nuisance_batches_differ_from_rotation_only_ones_and_keep_the_targets(data):
    images, targets, _ = data
    from fastai.torch_core import TensorImage

    raw = TensorImage(torch.from_numpy(images[:16]).permute(0, 3, 1, 2).contiguous())
    yb = torch.from_numpy(targets[:16])
    batches = {}
    for augment in ("rotations", "nuisances"):
        dls = training.make_dataloaders(images, targets, bs=16, augment=augment)
        assert dls.gc_info["augment"] == augment
        torch.manual_seed(3)
        x, y = dls.train.after_batch((raw.clone(), yb))
        assert torch.equal(y, yb) and x.shape == (16, 3, SIZE, SIZE)
        batches[augment] = x.as_subclass(torch.Tensor)
    per_image = (batches["nuisances"] - batches["rotations"]).abs().mean(dim=(1, 2, 3))
    assert (per_image > 1e-3).float().mean() > 0.9  # (nearly) every image got its own nuisances
    with pytest.raises(ParameterError, match="augment="):
        training.make_dataloaders(images, targets, bs=16, augment="everything")


def test_bad_inputs_name_the_parameter(data):
    images, targets, _ = data
    small = np.zeros((10, 16, 16, 3), np.uint8)
    with pytest.raises(ParameterError, match="image_size"):
        training.make_dataloaders(small, targets[:10])
    with pytest.raises(ParameterError, match="targets"):
        training.make_dataloaders(images, targets[:, :5])
    with pytest.raises(ParameterError, match="valid_pct"):
        training.make_dataloaders(images, targets, valid_pct=1.5)
    with pytest.raises(ParameterError, match="uint8"):
        training.make_dataloaders(images.astype(np.float32), targets)


# ------------------------------------------------------------------------------------------
# training, lr finder, prediction


def test_train_returns_a_history(trained):
    _, learn, history, _ = trained
    assert history.columns.tolist() == ["epoch", "train_loss", "valid_loss", "valid_rmse", "time"]
    assert history["epoch"].tolist() == [1]
    assert np.isfinite(history[["train_loss", "valid_loss", "valid_rmse"]].to_numpy()).all()
    assert history["valid_rmse"].iloc[0] == pytest.approx(np.sqrt(history["valid_loss"].iloc[0]),
                                                          rel=1e-4)
    assert not any(type(cb).__name__ == "ProgressCallback" for cb in learn.cbs)


def test_training_reduces_the_loss_and_keeps_threads(data):
    images, targets, _ = data
    torch.set_num_threads(2)
    dls = training.make_dataloaders(images, targets, bs=8, augment=False)
    # without the bias initialisation the net starts far from the targets (0.5 everywhere)
    learn = training.build_learner(dls, arch=ARCH, head="linear", seed=1, init_bias=False)
    history = training.train(learn, epochs=3, lr=3e-3, one_cycle=False)
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history["train_loss"].is_monotonic_decreasing
    assert torch.get_num_threads() == 2


def test_tree_head_predictions_respect_the_tree(data):
    images, targets, _ = data
    dls = training.make_dataloaders(images, targets, bs=16)
    learn = training.build_learner(dls, arch=ARCH, head="tree", seed=1)
    assert float(np.abs(network.tree_sums(inference.predict(learn, images))).max()) < 1e-5
    # the bias initialisation starts the net at the training means
    start = inference.predict(learn, images[dls.split.valid])
    base = metrics.mean_baseline_rmse(targets[dls.split.train], targets[dls.split.valid])
    assert metrics.rmse(start, targets[dls.split.valid]) < base + 0.05
    assert float(np.abs(network.tree_sums(inference.predict(learn, images, tta=True))).max()) < 1e-5


def test_find_lr_restores_the_weights(data):
    images, targets, _ = data
    dls = training.make_dataloaders(images, targets, bs=8)
    learn = training.build_learner(dls, arch=ARCH, seed=0)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    found = training.find_lr(learn, num_it=10)
    after = learn.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert np.isfinite(found.lr) and found.lr > 0
    assert len(found.lrs) == len(found.losses) >= 6
    assert not (Path(learn.path) / learn.model_dir).exists() or not any(
        (Path(learn.path) / learn.model_dir).rglob("*.pth"))


def test_predict_shapes_and_tta(trained, data):
    images, targets, _ = data
    _, learn, _, _ = trained
    pred = inference.predict(learn, images[:10], bs=4)
    assert pred.shape == (10, 37) and pred.dtype == np.float32
    assert np.array_equal(pred, inference.predict(learn, images[:10], bs=4))
    tta = inference.predict(learn, images[:10], tta=True)
    assert tta.shape == (10, 37) and not np.allclose(tta, pred)
    with pytest.raises(ParameterError, match="tta"):
        inference.predict(learn, images[:2], tta=3)


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


# ------------------------------------------------------------------------------------------
# codes


def test_features_shape_determinism_and_layers(trained, data):
    images, _, ids = data
    _, learn, _, _ = trained
    body = inference.extract_features(learn.model, images, bs=16)
    assert body.shape == (len(images), 512) and body.dtype == np.float32
    assert np.array_equal(body, inference.extract_features(learn.model, images, bs=16))
    hidden = inference.extract_features(learn.model, images, layer="hidden", bs=16)
    assert hidden.shape == (len(images), 512) and hidden.dtype == np.float32
    assert not np.allclose(hidden, body)
    assert (hidden >= 0).all()  # after the ReLU
    with pytest.raises(ParameterError, match="image_size"):
        inference.extract_features(learn.model, np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(ParameterError, match="layer"):
        inference.extract_features(learn.model, images, layer="fc")


def test_codes_and_predictions_from_one_pass_equal_the_separate_ones(trained, data):
    images, _, _ = data
    _, learn, _, _ = trained
    codes, predicted = inference.extract_features(learn.model, images, bs=16, with_predictions=True)
    assert np.array_equal(codes, inference.extract_features(learn.model, images, bs=16))
    assert np.array_equal(predicted, inference.predict(learn, images, bs=16))


def test_same_seed_same_codes(data):
    images, targets, _ = data
    codes = []
    for _ in range(2):
        dls = training.make_dataloaders(images, targets, bs=16, seed=5)
        learn = training.build_learner(dls, arch=ARCH, head="tree", seed=5)
        training.train(learn, epochs=1, lr=1e-3)
        codes.append(inference.extract_features(learn.model, images, bs=16))
    assert np.array_equal(codes[0], codes[1])


def test_features_frame_and_parquet(tmp_path):
    codes = np.random.default_rng(0).random((3, 512)).astype(np.float32)
    frame = inference.features_frame([100008, 100023, 100053], codes)
    assert frame.columns[0] == "GalaxyID" and frame.columns[1] == "f000"
    assert frame.columns[-1] == "f511" and frame.shape == (3, 513)
    path = inference.write_features(frame, tmp_path / "features.parquet")
    back = pd.read_parquet(path)
    assert back["f100"].dtype == np.float32
    assert np.array_equal(back.iloc[:, 1:].to_numpy(), codes)
    assert [p.name for p in tmp_path.iterdir()] == ["features.parquet"]
    wide = inference.features_frame([1], np.zeros((1, 2048), np.float32))
    assert wide.columns[-1] == "f2047"


# ------------------------------------------------------------------------------------------
# metrics


def test_metrics():
    rng = np.random.default_rng(0)
    target = rng.random((20, 37))
    assert metrics.rmse(target, target) == 0.0
    assert metrics.rmse(target + 0.1, target) == pytest.approx(0.1)
    per_q = metrics.per_question_rmse(target + 0.1, target)
    assert len(per_q) == 11 and per_q.index[0].startswith("Q1: Is the galaxy")
    assert np.allclose(per_q.to_numpy(), 0.1)
    base = metrics.mean_baseline_rmse(target[:10], target[10:])
    assert base == pytest.approx(metrics.rmse(np.broadcast_to(target[:10].mean(0), (10, 37)),
                                              target[10:]))
    with pytest.raises(ParameterError):
        metrics.rmse(target[:, :5], target)


# ------------------------------------------------------------------------------------------
# image cache


def _write_jpegs(folder: Path, n: int = 5) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    files = []
    for i in range(n):
        arr = rng.integers(0, 255, (424, 424, 3), dtype=np.uint8)
        arr[150:274, 150:274] = 40 * i
        f = folder / f"{100000 + i * 7}.jpg"
        Image.fromarray(arr).save(f, quality=90)
        files.append(f)
    return files


def test_image_cache_hits_and_keys(tmp_path, monkeypatch):
    files = _write_jpegs(tmp_path / "img")
    cache = tmp_path / "cache"
    first = imagecache.load_image_array(files, size=SIZE, crop=212, cache_dir=cache, workers=2)
    assert first.shape == (5, SIZE, SIZE, 3) and first.dtype == np.uint8
    assert [p.name for p in cache.iterdir()] == [
        imagecache.cache_path(files, SIZE, 212, cache).name]  # one file, no temp left behind

    calls = []
    real = imagecache._decode_one

    def counting(*args):
        calls.append(args[0])
        return real(*args)

    monkeypatch.setattr(imagecache, "_decode_one", counting)
    again = imagecache.load_image_array(files, size=SIZE, crop=212, cache_dir=cache)
    assert calls == [] and np.array_equal(again, first)
    assert isinstance(again, np.memmap) and not again.flags.writeable
    shuffled = imagecache.load_image_array(files[::-1], size=SIZE, crop=212, cache_dir=cache)
    assert calls == [] and np.array_equal(shuffled, first[::-1])

    key = imagecache.cache_key(files, SIZE, 212)
    st = os.stat(files[2])
    os.utime(files[2], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert imagecache.cache_key(files, SIZE, 212) != key
    assert imagecache.cache_key(files, SIZE, 200) != imagecache.cache_key(files, SIZE, 212)
    imagecache.load_image_array(files, size=SIZE, crop=212, cache_dir=cache)
    assert len(calls) == 5
    assert len(list(cache.glob("images-*.npy"))) == 2
    assert not [p for p in cache.iterdir() if not p.name.endswith(".npy")]


def test_image_cache_content_is_the_centre(tmp_path):
    folder = tmp_path / "img"
    folder.mkdir()
    arr = np.zeros((424, 424, 3), np.uint8)
    arr[106:318, 106:318] = 200  # exactly the central 212 px
    Image.fromarray(arr).save(folder / "1.png")
    (folder / "1.png").rename(folder / "1.jpg")  # PNG data: lossless for the check
    out = imagecache.load_image_array([folder / "1.jpg"], size=SIZE, crop=212, cache_dir=False)
    assert out.min() >= 195


def test_image_cache_is_atomic_and_names_bad_files(tmp_path, monkeypatch):
    files = _write_jpegs(tmp_path / "img", n=4)
    bad = files[2]
    bad.write_bytes(b"this is not a jpeg")
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=bad.name):
        imagecache.load_image_array(files, size=SIZE, cache_dir=cache, workers=2)
    assert not cache.exists() or list(cache.iterdir()) == []
    with pytest.raises(DataError, match="missing.jpg|not found"):
        imagecache.load_image_array([tmp_path / "missing.jpg"], size=SIZE, cache_dir=cache)


def test_image_cache_parameters(tmp_path):
    files = _write_jpegs(tmp_path / "img", n=1)
    with pytest.raises(ParameterError, match="size"):
        imagecache.load_image_array(files, size=16, cache_dir=False)
    with pytest.raises(ParameterError, match="crop"):
        imagecache.load_image_array(files, size=64, crop=500, cache_dir=False)


def test_resnet50_body_codes_are_2048_wide():
    net = network.build_model("resnet50", "tree", seed=0)
    images = np.random.default_rng(0).integers(0, 255, (3, SIZE, SIZE, 3), dtype=np.uint8)
    config = {"mean": [0.1] * 3, "std": [0.2] * 3, "image_size": SIZE}
    assert inference.extract_features(net, images, config).shape == (3, 2048)
    assert inference.extract_features(net, images, config, layer="hidden").shape == (3, 512)


def test_no_warnings_on_read_only_inputs(data, tmp_path):
    """Notebooks are replayed by nbval, where any warning on stderr is a failure."""
    import warnings

    images, targets, ids = data
    images = images.copy()
    images.setflags(write=False)  # like the image cache's memory map
    targets = targets.copy()
    targets.setflags(write=False)  # like DataFrame.to_numpy under copy-on-write
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dls = training.make_dataloaders(images, targets, bs=16, ids=ids)
        learn = training.build_learner(dls, arch=ARCH, head="tree", seed=0)
        training.train(learn, epochs=1)
        inference.predict(learn, images, tta=2)
        inference.extract_features(learn.model, images, layer="hidden")
        network.save_model(learn, tmp_path)
        network.load_model(tmp_path)
    assert [str(w.message) for w in caught] == []


def test_gpu_profile_switches_channels_last_trains_and_mixed_precision_needs_cuda(data):
    images, targets, ids = data
    dls = training.make_dataloaders(images, targets, bs=16, seed=1, ids=ids)
    learn = training.build_learner(dls, arch=ARCH, head="linear", seed=1, channels_last=True)
    history = training.train(learn, epochs=1, lr=1e-3)
    assert np.isfinite(history["valid_loss"]).all()
    conv = learn.model[0][0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert learn.model.gc_config["channels_last"] is True
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="mixed_precision=True needs a CUDA GPU"):
            training.build_learner(dls, arch=ARCH, head="linear", seed=1, mixed_precision=True)
