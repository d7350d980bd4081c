"""Training the net of chapter 2 (helpers.net.training): split, data loaders, learner, lr finder.

Small and fast: resnet18 at 32 px on a few dozen in-memory images (tests/networks.py), one or a
few epochs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from networks import ARCH, SIZE

from helpers import scores
from helpers.errors import ParameterError
from helpers.net import inference, network, training


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
# training, lr finder


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
    threads = torch.get_num_threads()  # the process's (one in a `make test` worker)
    dls = training.make_dataloaders(images, targets, bs=8, augment=False)
    # without the bias initialisation the net starts far from the targets (0.5 everywhere)
    learn = training.build_learner(dls, arch=ARCH, head="linear", seed=1, init_bias=False)
    history = training.train(learn, epochs=3, lr=3e-3, one_cycle=False)
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history["train_loss"].is_monotonic_decreasing
    assert torch.get_num_threads() == threads


def test_tree_head_predictions_respect_the_tree(data):
    images, targets, _ = data
    dls = training.make_dataloaders(images, targets, bs=16)
    learn = training.build_learner(dls, arch=ARCH, head="tree", seed=1)
    assert float(np.abs(network.tree_sums(inference.predict(learn, images))).max()) < 1e-5
    # the bias initialisation starts the net at the training means
    start = inference.predict(learn, images[dls.split.valid])
    base = scores.mean_baseline_rmse(targets[dls.split.train], targets[dls.split.valid])
    assert scores.rmse(start, targets[dls.split.valid]) < base + 0.05
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


def test_same_seed_same_codes(data):
    images, targets, _ = data
    codes = []
    for _ in range(2):
        dls = training.make_dataloaders(images, targets, bs=16, seed=5)
        learn = training.build_learner(dls, arch=ARCH, head="tree", seed=5)
        training.train(learn, epochs=1, lr=1e-3)
        codes.append(inference.extract_features(learn.model, images, bs=16))
    assert np.array_equal(codes[0], codes[1])


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
