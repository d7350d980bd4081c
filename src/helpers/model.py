"""The network of chapters 2 and 3: a ResNet that regresses the 37 vote fractions, and its codes.

Everything about the net lives here: building it (torchvision ResNet body as fastai cuts it,
plus one of two heads), the fastai :class:`~fastai.learner.Learner` over in-memory images,
training with a per-epoch history, the learning-rate finder, prediction (optionally with
test-time augmentation), the metrics, saving and loading without pickle, and the "CNN codes".

**Input.** Images come as one ``(N, S, S, 3)`` ``uint8`` array (see
:func:`helpers.imagecache.load_image_array`): nothing is decoded inside the training loop. A
batch is divided by 255 and normalised per channel: with ImageNet statistics for pretrained
weights (``stats="imagenet"``), else with the training split's own mean and standard deviation
(``stats="train"``, the default: the galaxies are mostly dark sky, far from ImageNet's
statistics). The statistics travel in the model's config (``model.json``), so prediction and
feature extraction normalise exactly as training did.

**Augmentation** (training batches only; :mod:`helpers.augment`): ``"rotations"`` flips every
training image at random about both axes and turns it by any angle (a galaxy has no preferred
orientation); ``"nuisances"`` also randomises what the instrument and the pipeline change
(PSF, brightness, colour balance, sky, noise, display stretch, framing) so that the network
cannot lean on one camera's or the mock's fingerprints. The validation batches are not
augmented.

**Body.** torchvision ``resnet18`` / ``resnet34`` (default) / ``resnet50`` without its pooling
and classifier (fastai ``create_body(..., cut=-2)``). Its average-pooled output is the code the
seed study took from torchvision's ``avgpool``: 512-d for resnet18/34, **2048-d for resnet50**.

**Heads.** Both have the same layers (fastai's ``create_head`` with ``concat_pool=False``)::

    AdaptiveAvgPool2d(1) -> Flatten -> BatchNorm1d(nf) -> Dropout(ps/2)
    -> Linear(nf, 512) -> ReLU                      <- the 512-unit "hidden" layer (codes)
    -> BatchNorm1d(512) -> Dropout(ps) -> Linear(512, 37) -> output

- ``head="linear"``: output = ``sigmoid`` of the 37 numbers, so each prediction lies in (0, 1)
  like a vote fraction, but nothing ties the answers of a question together.
- ``head="tree"``: output respects the decision tree as in the Kaggle winner's net (Dieleman,
  Willett & Dambre 2015): the numbers of each question go through a ``softmax`` (non-negative,
  summing to 1: the conditional answer fractions), then are multiplied by the cumulative value
  of the question's parent answer (:data:`helpers.schema.QUESTIONS`; Q1 and Q6 hang from 1).
  The outputs are then cumulative fractions whose tree sums hold to float rounding. Dieleman
  used ReLU then division by the sum; the softmax is used here because a question whose
  answers all go negative would make that division 0/0.

The final layer's bias is set from the training targets' means (:func:`build_learner`), so the
untrained net starts at the mean-prediction baseline instead of at 0.5 everywhere.

**Files.** :func:`save_model` writes ``model.safetensors`` (the state dict) and
``model.json`` (everything needed to rebuild the net, plus the normalisation statistics, the
data fingerprint and the library versions); :func:`load_model` rebuilds it without a network
and without unpickling anything. The chapter-2 notebook, in short::

    from helpers import model as M

    dls = M.make_dataloaders(images, targets, valid_pct=0.2, seed=42, bs=64, ids=ids)
    learn = M.build_learner(dls, arch="resnet34", head="tree", pretrained=False, seed=42)
    history = M.train(learn, epochs=6, lr=2e-3)
    valid = dls.split.valid
    M.rmse(M.predict(learn, images[valid]), targets[valid])
    M.save_model(learn, run_dir, {"crop": 212, "data": "mock"})

and chapter 3::

    net, config = M.load_model(run_dir)
    codes = M.extract_features(net, images, config, layer="body")   # (N, 512) float32
    M.write_features(M.features_frame(ids, codes), run_dir / "features.parquet")
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import random
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch
from torch import nn

from helpers import paths
from helpers.artifacts import atomic_path, write_json, write_parquet
from helpers.errors import ParameterError, UserError
from helpers.progress import Ticker, duration, say
from helpers.schema import COLUMNS, ID_COLUMN, QUESTIONS

with warnings.catch_warnings():  # fastai's imports warn (torch.jit, pandas options): not ours
    warnings.simplefilter("ignore")
    import torchvision.models as tvm
    from fastai.callback.core import Callback
    from fastai.callback.progress import ProgressCallback
    from fastai.callback.schedule import LRFinder, ParamScheduler, valley
    from fastai.data.core import DataLoaders, TfmdDL
    from fastai.data.transforms import IntToFloatTensor, Normalize
    from fastai.learner import Learner, Recorder
    from fastai.losses import MSELossFlat
    from fastai.metrics import rmse as fastai_rmse
    from fastai.optimizer import Adam
    from fastai.torch_core import TensorImage, default_device, params
    from fastai.vision.learner import create_body

    from helpers import augment as augmentation

__all__ = [
    "ARCHS",
    "REFERENCE_RMSE",
    "default_device",
    "HEADS",
    "IMAGENET_STATS",
    "LRFind",
    "Split",
    "build_learner",
    "build_model",
    "check_pretrained",
    "extract_features",
    "features_frame",
    "find_lr",
    "load_model",
    "make_dataloaders",
    "mean_baseline_rmse",
    "per_question_rmse",
    "predict",
    "rmse",
    "save_model",
    "seed_everything",
    "train",
    "tree_sums",
    "weights_path",
    "write_features",
]

#: torchvision constructor name, ImageNet weights enum member, width of the body's output.
ARCHS: dict[str, tuple[str, str, int]] = {
    "resnet18": ("resnet18", "ResNet18_Weights.IMAGENET1K_V1", 512),
    "resnet34": ("resnet34", "ResNet34_Weights.IMAGENET1K_V1", 512),
    "resnet50": ("resnet50", "ResNet50_Weights.IMAGENET1K_V2", 2048),  # fastai's 'DEFAULT'
}
HEADS = ("linear", "tree")
HIDDEN = 512
N_OUT = len(COLUMNS)
MIN_IMAGE_SIZE = 32  # five stride-2 stages: 32 px -> 1 px
IMAGENET_STATS = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
STATS = ("train", "imagenet")
LAYERS = ("body", "hidden")
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"
FORMAT = "galactic-clustering/model/1"
HISTORY_COLUMNS = ["epoch", "train_loss", "valid_loss", "valid_rmse", "time"]
#: Published hold-out RMSEs on the *real* Galaxy Zoo (reference points, not comparable to the mock).
REFERENCE_RMSE: dict[str, float] = {
    "seed study: ResNet34, 8 epochs": 0.110,
    "Kaggle winner (Dieleman et al. 2015)": 0.0749,
}
# keys that fix the shape of the net: a config that disagrees with the model is refused
_STRUCTURAL = ("arch", "head", "n_out", "hidden", "n_features")


# --------------------------------------------------------------------------------------------
# seeds and checks


def seed_everything(seed: int = 42, *, deterministic: bool = True,
                    threads: int | None = None) -> None:
    """Seed Python, NumPy and torch; ask torch for deterministic kernels (warn-only).

    Two runs with the same seed on the same machine (same thread count) then give identical
    weights, predictions and codes. ``threads`` calls ``torch.set_num_threads`` (default: leave
    the thread count as :func:`helpers.study.setup` or the user set it).

    >>> seed_everything(1); a = torch.rand(2)
    >>> seed_everything(1); bool((a == torch.rand(2)).all())
    True
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the global generator is what others use
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(int(threads))
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ParameterError(f"{name}={value!r} is not known; use one of {', '.join(choices)}")
    return value


def _check_image_size(image_size: Any) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer):
        raise ParameterError(f"image_size must be an integer number of pixels, got {image_size!r}")
    if image_size < MIN_IMAGE_SIZE:
        raise ParameterError(
            f"image_size={image_size}: a ResNet needs images of at least {MIN_IMAGE_SIZE} px "
            f"(its body halves them five times); load the images with size >= {MIN_IMAGE_SIZE}"
        )
    return int(image_size)


def _check_images(images: Any, name: str = "images") -> int:
    """Check an (N, S, S, 3) uint8 array; return S."""
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
        raise ParameterError(
            f"{name} must be an (N, size, size, 3) uint8 array (helpers.imagecache."
            f"load_image_array), got shape {shape}"
        )
    if getattr(images, "dtype", None) != np.uint8:
        raise ParameterError(f"{name} must be uint8 (0-255), got {images.dtype}")
    if shape[0] == 0:
        raise ParameterError(f"{name} is empty")
    return _check_image_size(int(shape[1]))


def weights_path(arch: str = "resnet34") -> Path:
    """Where torch keeps the ImageNet weights of ``arch``: ``$TORCH_HOME/hub/checkpoints/<file>``.

    >>> weights_path("resnet34").name
    'resnet34-b627a593.pth'
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_weights_url(arch)).name


def _weights_url(arch: str) -> str:
    _check_choice("arch", arch, tuple(ARCHS))
    enum_name, member = ARCHS[arch][1].split(".")
    return getattr(tvm, enum_name)[member].url


def _fetch_weights(url: str, path: Path, timeout: float = 30.0) -> None:
    """Download ``url`` to ``path`` (atomically, hash-checked by torch): a machine with a network."""
    import socket

    path.parent.mkdir(parents=True, exist_ok=True)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        with atomic_path(path) as tmp:
            # torchvision's file names carry the first hex digits of the file's SHA-256
            torch.hub.download_url_to_file(url, str(tmp), hash_prefix=path.stem.split("-")[-1],
                                           progress=False)
    finally:
        socket.setdefaulttimeout(previous)


def check_pretrained(arch: str = "resnet34", *, download: bool = True) -> Path:
    """The path of ``arch``'s ImageNet weights, fetched once if absent; :class:`UserError` if that fails.

    The file lives in the torch hub cache (``$TORCH_HOME/hub/checkpoints``). When it is absent
    and ``download`` is true, one attempt is made to fetch it (30 s socket timeout, SHA-256
    prefix checked); offline that fails at once. Then the message says where to put the file,
    where to get it, and that ``pretrained=False`` works without it: never a raw ``URLError``.
    """
    path = weights_path(arch)
    if path.is_file():
        return path
    url = _weights_url(arch)
    reason = "downloading is off"
    if download:
        try:
            _fetch_weights(url, path)
            return path
        except Exception as exc:  # offline, proxy, bad hash: all end in the same advice
            reason = f"fetching it failed: {type(exc).__name__}: {exc}"
    raise UserError(
        f"ImageNet weights for {arch} are not on this machine ({reason}): put the file {path.name} "
        f"at {path} (download it from {url} on a machine with internet access; TORCH_HOME moves "
        "the folder), or train from scratch with pretrained=False"
    )


# --------------------------------------------------------------------------------------------
# the net


class TreeOutput(nn.Module):
    """Turn 37 numbers into cumulative vote fractions that respect the Galaxy Zoo tree.

    Per question a softmax gives the conditional answer fractions; they are multiplied by the
    cumulative value of the question's parent answer (questions are processed in order, and
    every parent belongs to an earlier question).

    >>> out = TreeOutput()(torch.randn(4, 37))
    >>> float(tree_sums(out).abs().max()) < 1e-5
    True
    """

    def __init__(self) -> None:
        super().__init__()
        index = {c: i for i, c in enumerate(COLUMNS)}
        self._slices = []
        start = 0
        for q in QUESTIONS.values():
            n = len(q.answers)
            self._slices.append((start, start + n, None if q.parent is None else index[q.parent]))
            start += n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts: list[torch.Tensor] = []
        for start, stop, parent in self._slices:
            p = torch.softmax(x[:, start:stop], dim=1)
            if parent is not None:
                done = torch.cat(parts, dim=1)
                p = p * done[:, parent:parent + 1]
            parts.append(p)
        return torch.cat(parts, dim=1)


def tree_sums(pred: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Per galaxy and question, the sum of the answers minus the parent's value: (N, 11).

    Zero for outputs that respect the tree (the ``tree`` head's, to float rounding).
    """
    index = {c: i for i, c in enumerate(COLUMNS)}
    cols = []
    for q in QUESTIONS.values():
        idx = [index[c] for c in q.columns]
        total = pred[:, idx].sum(1)
        cols.append(total - (1.0 if q.parent is None else pred[:, index[q.parent]]))
    return torch.stack(cols, 1) if isinstance(pred, torch.Tensor) else np.stack(cols, 1)


class GalaxyHead(nn.Module):
    """Pool, a 512-unit hidden layer, 37 outputs (``head="linear"``: sigmoid; ``"tree"``)."""

    def __init__(self, n_features: int, head: str = "linear", ps: float = 0.5,
                 n_out: int = N_OUT) -> None:
        super().__init__()
        _check_choice("head", head, HEADS)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.bn1 = nn.BatchNorm1d(n_features)
        self.drop1 = nn.Dropout(ps / 2)
        self.fc1 = nn.Linear(n_features, HIDDEN, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.bn2 = nn.BatchNorm1d(HIDDEN)
        self.drop2 = nn.Dropout(ps)
        self.fc2 = nn.Linear(HIDDEN, n_out)
        self.out = TreeOutput() if head == "tree" else nn.Sigmoid()
        self.kind = head

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The 512 activations of the hidden layer (after its ReLU) for body features ``x``."""
        return self.relu(self.fc1(self.drop1(self.bn1(self.flatten(self.pool(x))))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc2(self.drop2(self.bn2(self.hidden(x)))))

    @torch.no_grad()
    def init_bias(self, target_mean: Sequence[float]) -> None:
        """Set the final bias so that an untrained net predicts ``target_mean`` (37 values)."""
        m = torch.as_tensor(np.asarray(target_mean, dtype=np.float64)).clamp(1e-4, 1 - 1e-4)
        if self.kind == "linear":
            bias = torch.log(m / (1 - m))
        else:  # softmax bias: log of the conditional fractions
            index = {c: i for i, c in enumerate(COLUMNS)}
            bias = torch.empty_like(m)
            for q in QUESTIONS.values():
                idx = [index[c] for c in q.columns]
                parent = 1.0 if q.parent is None else max(float(m[index[q.parent]]), 1e-4)
                bias[idx] = torch.log((m[idx] / parent).clamp(1e-4, 1.0))
        self.fc2.bias.copy_(bias.to(self.fc2.bias.dtype))
        self.fc2.weight.mul_(0.1)  # small weights: the first predictions stay near the means


def build_model(arch: str = "resnet34", head: str = "linear", *, pretrained: bool = False,
                ps: float = 0.5, seed: int | None = None) -> nn.Sequential:
    """``nn.Sequential(body, head)``: the torchvision ResNet body and a :class:`GalaxyHead`.

    ``pretrained=True`` loads the ImageNet weights from the torch hub cache
    (:func:`check_pretrained` raises :class:`UserError` when the file is absent; nothing is
    downloaded). The model carries its structure in ``model.gc_config``.

    >>> m = build_model("resnet18", "tree")
    >>> m(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 37])
    >>> m.gc_config["n_features"]
    512
    """

    _check_choice("arch", arch, tuple(ARCHS))
    _check_choice("head", head, HEADS)
    if seed is not None:
        seed_everything(seed)
    net = getattr(tvm, ARCHS[arch][0])(weights=None)
    if pretrained:
        path = check_pretrained(arch)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except Exception as exc:
            raise UserError(
                f"{path}: cannot load the ImageNet weights of {arch} ({type(exc).__name__}: "
                f"{exc}); download the file again from {_weights_url(arch)}"
            ) from None
    n_features = ARCHS[arch][2]
    body = create_body(net, n_in=3, pretrained=bool(pretrained), cut=-2)
    model = nn.Sequential(body, GalaxyHead(n_features, head, ps=ps))
    model.gc_config = {
        "arch": arch, "head": head, "n_out": N_OUT, "hidden": HIDDEN,
        "n_features": n_features, "ps": ps, "pretrained": bool(pretrained),
    }
    return model


# --------------------------------------------------------------------------------------------
# data


class Split(NamedTuple):
    """Row positions of the training and validation images (sorted), and their ids if given."""

    train: np.ndarray
    valid: np.ndarray
    train_ids: np.ndarray | None = None
    valid_ids: np.ndarray | None = None


def split_indices(n: int, valid_pct: float = 0.2, seed: int = 42) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)``: (train, valid) positions, each sorted.

    ``round(n * valid_pct)`` images go to validation; the same ``n``, ``valid_pct`` and ``seed``
    always give the same split (NumPy ``default_rng(seed).permutation``).

    >>> train, valid = split_indices(10, 0.2, seed=42)
    >>> len(train), len(valid), sorted([*train, *valid]) == list(range(10))
    (8, 2, True)
    """
    if not 0 < valid_pct < 1:
        raise ParameterError(f"valid_pct={valid_pct}: use a fraction between 0 and 1, e.g. 0.2")
    n_valid = int(round(n * valid_pct))
    if n_valid < 1 or n - n_valid < 2:
        raise ParameterError(
            f"valid_pct={valid_pct} on {n} images leaves {n - n_valid} for training and "
            f"{n_valid} for validation; both need images (at least 2 to train on)"
        )
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])


def _fingerprint(images: np.ndarray, targets: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(repr((images.shape, targets.shape)).encode())
    step = max(1, 2**26 // max(1, images[0].nbytes))  # ~64 MB at a time (memory maps stay lazy)
    for i in range(0, len(images), step):
        h.update(np.ascontiguousarray(images[i:i + step]).data)
    h.update(np.ascontiguousarray(targets, dtype=np.float32).data)
    return h.hexdigest()


def _channel_stats(images: np.ndarray, rows: np.ndarray) -> tuple[list[float], list[float]]:
    total = np.zeros(3)
    total_sq = np.zeros(3)
    count = 0
    for i in range(0, len(rows), 256):
        x = np.asarray(images[rows[i:i + 256]], dtype=np.float64) / 255.0
        total += x.sum((0, 1, 2))
        total_sq += (x * x).sum((0, 1, 2))
        count += x.shape[0] * x.shape[1] * x.shape[2]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 1e-12))
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


class _ArrayDataset:
    """Items (CHW uint8 TensorImage, float32 target) from arrays at the given rows."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, rows: np.ndarray,
                 split_idx: int) -> None:
        self.images, self.rows = images, rows
        self.targets = torch.from_numpy(np.array(targets, dtype=np.float32))  # a writable copy
        self.split_idx = split_idx  # fastai: 0 applies the random transforms, 1 does not

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        j = self.rows[i]
        x = torch.from_numpy(np.array(self.images[j], dtype=np.uint8)).permute(2, 0, 1)
        return TensorImage(x), self.targets[j]


def augmentations(augment: str | bool = "rotations") -> list:
    """The training-batch transforms of ``augment`` (:data:`helpers.augment.AUGMENTS`)."""
    return augmentation.transforms(augment)


def make_dataloaders(images: np.ndarray, targets: np.ndarray, *, valid_pct: float = 0.2,
                     seed: int = 42, bs: int = 64, augment: str | bool = "rotations",
                     ids: Sequence[int] | np.ndarray | None = None, stats: str = "train",
                     device: str | torch.device | None = None):
    """fastai ``DataLoaders`` over in-memory images (no decoding in the loop, ``num_workers=0``).

    ``images``: ``(N, S, S, 3)`` uint8; ``targets``: ``(N, 37)`` vote fractions in
    :data:`~helpers.schema.COLUMNS` order. The seeded split (:func:`split_indices`) is
    ``dls.split`` (train/valid positions, and GalaxyIDs when ``ids`` is given). Training
    batches are shuffled, the last incomplete one dropped (BatchNorm needs more than one
    image), and augmented as ``augment`` says (``"none"``, ``"rotations"``, ``"nuisances"``;
    ``True`` is ``"rotations"``; see :mod:`helpers.augment`); validation batches
    (twice ``bs``) never are. ``stats``: ``"train"`` normalises with the training split's
    per-channel mean/std, ``"imagenet"`` with ImageNet's (use it with pretrained weights).
    ``dls.gc_info`` holds what :func:`save_model` records: image size, statistics, split sizes,
    seed, data fingerprint, training-target means.

    >>> rng = np.random.default_rng(0)
    >>> dls = make_dataloaders(rng.integers(0, 255, (20, 32, 32, 3), dtype=np.uint8),
    ...                        rng.random((20, 37), dtype=np.float32), bs=8)
    >>> len(dls.split.train), len(dls.split.valid), dls.gc_info["image_size"]
    (16, 4, 32)
    """

    size = _check_images(images)
    targets = np.asarray(targets, dtype=np.float32)
    if targets.shape != (len(images), N_OUT):
        raise ParameterError(
            f"targets must be ({len(images)}, {N_OUT}) (one row of vote fractions per image), "
            f"got {targets.shape}"
        )
    if not np.isfinite(targets).all():
        raise ParameterError("targets hold NaN or infinite values")
    if isinstance(bs, bool) or not isinstance(bs, int | np.integer) or bs < 2:
        raise ParameterError(f"bs={bs!r}: use a batch size of at least 2, e.g. 64")
    _check_choice("stats", stats, STATS)
    train_rows, valid_rows = split_indices(len(images), valid_pct, seed)
    id_arr = None if ids is None else np.asarray(ids)
    if id_arr is not None and len(id_arr) != len(images):
        raise ParameterError(f"ids has {len(id_arr)} entries for {len(images)} images")
    split = Split(train_rows, valid_rows,
                  None if id_arr is None else id_arr[train_rows],
                  None if id_arr is None else id_arr[valid_rows])
    if stats == "imagenet":
        mean, std = (list(v) for v in IMAGENET_STATS)
    else:
        mean, std = _channel_stats(images, train_rows)

    device = torch.device(device) if device is not None else default_device()
    norm = Normalize.from_stats(mean, std, cuda=device.type == "cuda")
    augment = augmentation.check_augment(augment)
    tfms = [IntToFloatTensor(), *augmentations(augment), norm]
    train_bs = min(int(bs), len(train_rows))
    train_dl = TfmdDL(_ArrayDataset(images, targets, train_rows, 0), bs=train_bs, shuffle=True,
                      drop_last=True, num_workers=0, after_batch=tfms, device=device)
    valid_dl = TfmdDL(_ArrayDataset(images, targets, valid_rows, 1), bs=2 * int(bs),
                      shuffle=False, drop_last=False, num_workers=0,
                      after_batch=[IntToFloatTensor(), norm], device=device)
    dls = DataLoaders(train_dl, valid_dl, device=device)
    dls.split = split
    dls.gc_info = {
        "image_size": size, "stats": stats, "mean": mean, "std": std, "seed": int(seed),
        "valid_pct": float(valid_pct), "n_train": len(train_rows), "n_valid": len(valid_rows),
        "bs": int(bs), "augment": augment,
        "data_fingerprint": _fingerprint(images, targets),
        "target_mean": [float(v) for v in targets[train_rows].mean(0)],
    }
    return dls


# --------------------------------------------------------------------------------------------
# learner, training, lr finder


class History(Callback):
    """One row per epoch (read from the Recorder after it has run): numbers, not text."""

    order = Recorder.order + 1

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.verbose = False

    def before_fit(self) -> None:
        self._fit_t0 = time.perf_counter()
        self._fit_epochs = 0

    def before_epoch(self) -> None:
        self._t0 = self._beat = time.perf_counter()

    def after_batch(self) -> None:
        if getattr(self.learn, "gc_finding_lr", False):
            return
        if not self.training or time.perf_counter() - self._beat < 10:
            return
        self._beat = time.perf_counter()
        say(f"epoch {self.epoch + 1}/{self.n_epoch}: batch {self.iter + 1}/{self.n_iter}, "
            f"training loss {float(self.smooth_loss):.4f}")

    def after_epoch(self) -> None:
        values = list(self.learn.recorder.values[-1]) if self.learn.recorder.values else []
        values += [math.nan] * (3 - len(values))
        row = {
            "epoch": len(self.rows) + 1,
            "train_loss": float(values[0]),
            "valid_loss": float(values[1]),
            "valid_rmse": float(values[2]),
            "time": round(time.perf_counter() - self._t0, 2),
        }
        self.rows.append(row)
        if getattr(self.learn, "gc_finding_lr", False):
            return
        self._fit_epochs += 1
        per_epoch = (time.perf_counter() - self._fit_t0) / self._fit_epochs
        left = self.n_epoch - self.epoch - 1
        say(f"epoch {self.epoch + 1}/{self.n_epoch}: training loss {row['train_loss']:.4f}, hold-out "
            f"loss {row['valid_loss']:.4f}, {row['time']:.0f} s"
            + (f"; about {duration(left * per_epoch)} left" if left else ""))
        if self.verbose:
            print(f"epoch {row['epoch']:>3}  train_loss {row['train_loss']:.5f}  "
                  f"valid_loss {row['valid_loss']:.5f}  valid_rmse {row['valid_rmse']:.4f}  "
                  f"{row['time']:.1f} s", flush=True)


def build_learner(dls, arch: str = "resnet34", head: str = "linear", *, pretrained: bool = False,
                  lr: float = 1e-3, wd: float = 0.01, ps: float = 0.5, seed: int = 42,
                  init_bias: bool = True, mixed_precision: bool = False, channels_last: bool = False):
    """A fastai ``Learner``: MSE loss, ``rmse`` metric, Adam (fastai's, decoupled ``wd``), no bars.

    The net is :func:`build_model` (seeded with ``seed``, so the same seed gives the same
    initial weights); with ``init_bias`` its final bias starts at the training targets' means.
    Parameters are split into body and head groups (``learn.freeze()`` trains the head only).
    No progress bar (papermill / nbval cannot hold widget bars) and no printed table:
    :func:`train` returns the history. ``pretrained=True`` needs the ImageNet weights on disk
    (:func:`check_pretrained`) and ImageNet normalisation (``make_dataloaders(...,
    stats="imagenet")``). Threads: whatever ``torch.set_num_threads`` says.

    The GPU profile's speed-ups are fastai's own callbacks: ``mixed_precision`` trains in
    float16 autocast with a gradient scaler (fastai's ``MixedPrecision``; CUDA only, an error
    elsewhere) and ``channels_last`` keeps activations channels-last (``ChannelsLast``), which
    recent GPUs' tensor cores convolve fastest.

    Example::

        learn = build_learner(dls, arch="resnet34", head="tree", seed=42)
    """
    info = getattr(dls, "gc_info", None)
    if info is None:
        raise ParameterError("dls must come from helpers.model.make_dataloaders")
    if pretrained and info["stats"] != "imagenet":
        raise ParameterError(
            "pretrained=True needs ImageNet normalisation: build the DataLoaders with "
            "make_dataloaders(..., stats='imagenet')"
        )
    model = build_model(arch, head, pretrained=pretrained, ps=ps, seed=seed)
    if init_bias:
        model[1].init_bias(info["target_mean"])
    # the shuffling and augmentation streams restart from the seed too, so that the same seed
    # gives the same training (and the same codes) however the DataLoaders were used before
    for i, dl in enumerate(dls.loaders):
        dl.rng = random.Random(seed + i)
    random.seed(seed)
    torch.manual_seed(seed)
    model.gc_config.update({
        "image_size": info["image_size"], "stats": info["stats"], "mean": info["mean"],
        "std": info["std"], "seed": int(seed), "data_fingerprint": info["data_fingerprint"],
        "n_train": info["n_train"], "n_valid": info["n_valid"], "valid_pct": info["valid_pct"],
        "bs": info["bs"], "augment": info["augment"], "lr": lr, "wd": wd,
    })

    def splitter(m: nn.Module) -> list:
        return [params(m[0]), params(m[1])]

    learn = Learner(dls, model, loss_func=MSELossFlat(), metrics=[fastai_rmse], opt_func=Adam,
                    lr=lr, wd=wd, splitter=splitter, cbs=[History()],
                    path=paths.ROOT / ".cache" / "fastai")
    if ProgressCallback in [type(cb) for cb in learn.cbs]:
        learn.remove_cb(ProgressCallback)
    learn.logger = lambda *args, **kwargs: None
    if mixed_precision:
        if not torch.cuda.is_available():
            raise ParameterError("mixed_precision=True needs a CUDA GPU and this machine has none: "
                                 "set mixed_precision: false (the CPU profiles train in float32)")
        from fastai.callback.fp16 import MixedPrecision

        learn.add_cb(MixedPrecision())
    if channels_last:
        from fastai.callback.channelslast import ChannelsLast

        learn.add_cb(ChannelsLast())
    model.gc_config.update({"mixed_precision": bool(mixed_precision), "channels_last": bool(channels_last)})
    return learn


def _history(learn):
    for cb in learn.cbs:
        if isinstance(cb, History):
            return cb
    raise ParameterError("learner must come from helpers.model.build_learner")


def train(learn, epochs: int, lr: float | None = None, *, one_cycle: bool = True,
          freeze_epochs: int = 0, verbose: bool = False) -> pd.DataFrame:
    """Train for ``epochs`` and return this call's history (one row per epoch).

    Columns: ``epoch`` (counted across calls), ``train_loss`` (fastai's smoothed MSE at the
    end of the epoch), ``valid_loss`` (MSE on the validation split), ``valid_rmse``, ``time``
    (seconds, training + validation). The whole net trains (``learn.unfreeze()``);
    ``one_cycle`` uses fastai's 1cycle schedule peaking at ``lr`` (default: the learner's
    ``lr``), else a constant ``lr``. ``freeze_epochs > 0`` first trains the head alone that
    many epochs (for pretrained bodies, fastai ``fine_tune`` style). ``verbose`` prints one
    plain line per epoch (mark the cell ``NBVAL_IGNORE_OUTPUT``: times vary). The model is
    left in eval mode.

    Example::

        history = train(learn, epochs=6, lr=2e-3)
        history.columns.tolist()
        # ['epoch', 'train_loss', 'valid_loss', 'valid_rmse', 'time']
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 1:
        raise ParameterError(f"epochs={epochs!r}: use a whole number of epochs >= 1")
    hist = _history(learn)
    hist.verbose = verbose
    lr = learn.lr if lr is None else float(lr)
    start = len(hist.rows)
    if freeze_epochs:
        learn.freeze()
        learn.fit_one_cycle(int(freeze_epochs), lr)
    learn.unfreeze()
    if one_cycle:
        learn.fit_one_cycle(int(epochs), lr)
    else:
        learn.fit(int(epochs), lr)
    learn.model.eval()
    return pd.DataFrame(hist.rows[start:], columns=HISTORY_COLUMNS)


class LRFind(NamedTuple):
    """What :func:`find_lr` found: the suggested rate and the curve to plot."""

    lr: float
    lrs: np.ndarray
    losses: np.ndarray


def find_lr(learn, num_it: int = 30, start_lr: float = 1e-6, end_lr: float = 1.0) -> LRFind:
    """fastai's learning-rate range test over ``num_it`` batches; the weights are put back after.

    The rate grows exponentially from ``start_lr`` to ``end_lr`` (stopping early when the loss
    diverges); the suggestion is fastai's "valley". Unlike ``learn.lr_find`` nothing is written
    to disk: the weights (and BatchNorm statistics) are copied in memory and restored, and the
    optimizer is reset. Plot with ``plt.semilogx(found.lrs, found.losses)``. Each iteration
    costs one training batch (about 1 s for resnet34 at 64 px, batch 64, on 2 CPU cores).

    Example::

        found = find_lr(learn, num_it=30)
        found.lr
    """
    if isinstance(num_it, bool) or not isinstance(num_it, int | np.integer) or num_it < 10:
        raise ParameterError(f"num_it={num_it!r}: use at least 10 iterations")
    say(f"learning-rate finder: {num_it} training batches")

    class InMemoryLRFinder(LRFinder):
        def before_fit(self) -> None:
            ParamScheduler.before_fit(self)
            self.best_loss = float("inf")

        def after_fit(self) -> None:
            self.learn.opt.zero_grad()
            ParamScheduler.after_fit(self)

    saved = {k: v.detach().clone() for k, v in learn.model.state_dict().items()}
    hist = _history(learn)
    rows = list(hist.rows)
    n_epoch = int(num_it) // max(1, len(learn.dls.train)) + 1
    try:
        with learn.no_logging():
            learn.gc_finding_lr = True  # History stays quiet: these are not training epochs
            try:
                learn.fit(n_epoch, cbs=InMemoryLRFinder(start_lr, end_lr, int(num_it), True))
            finally:
                learn.gc_finding_lr = False
        lrs = np.asarray(learn.recorder.lrs, dtype=np.float64)
        losses = np.asarray([float(v) for v in learn.recorder.losses], dtype=np.float64)
    finally:
        learn.model.load_state_dict(saved)
        learn.opt = None  # the next fit starts a fresh optimizer
        hist.rows[:] = rows
        learn.model.eval()
    lo, hi = int(num_it) // 10, len(lrs) - 5
    if hi - lo < 5:
        lo, hi = 0, len(lrs)
    sl_lrs, sl_losses = torch.tensor(lrs[lo:hi]), torch.tensor(losses[lo:hi])
    finite = torch.isfinite(sl_losses)
    if not finite.all():
        cut = int(torch.nonzero(~finite)[0])
        sl_lrs, sl_losses = sl_lrs[:cut], sl_losses[:cut]
    if len(sl_lrs) < 2:
        suggested = float(learn.lr)
    else:
        suggested = float(valley(sl_lrs, sl_losses, int(num_it))[0])
    return LRFind(suggested, lrs, losses)


# --------------------------------------------------------------------------------------------
# prediction and codes


def _as_model(learner_or_model) -> nn.Module:
    model = getattr(learner_or_model, "model", learner_or_model)
    if not isinstance(model, nn.Module):
        raise ParameterError("expected a fastai Learner or a torch model from this module")
    return model


def _model_config(model: nn.Module, config: dict | None) -> dict:
    cfg = dict(getattr(model, "gc_config", {}) or {})
    if config:
        cfg.update(config)
    for key in ("mean", "std"):
        if key not in cfg:
            raise ParameterError(
                f"the model's config has no {key!r} (normalisation statistics): use a model "
                "from build_learner or load_model, or pass its model.json config"
            )
    return cfg


def _batches(model: nn.Module, images: np.ndarray, cfg: dict, bs: int):
    """Yield normalised float batches (on the model's device) of ``images`` in order."""
    size = _check_images(images)
    trained = cfg.get("image_size")
    if trained is not None and int(trained) != size:
        raise ParameterError(
            f"image_size={size}: the model was trained on {trained} px images; load the images "
            f"with size={trained} (helpers.imagecache.load_image_array)"
        )
    if isinstance(bs, bool) or not isinstance(bs, int | np.integer) or bs < 1:
        raise ParameterError(f"bs={bs!r}: use a batch size >= 1")
    device = next(model.parameters()).device
    mean = torch.tensor(cfg["mean"], dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(cfg["std"], dtype=torch.float32, device=device).view(1, 3, 1, 1)
    ticker = Ticker(f"network on {len(images):,} images", len(images))
    for i in range(0, len(images), bs):
        ticker.tick(len(images[i:i + bs]))
        x = torch.from_numpy(np.array(images[i:i + bs], dtype=np.uint8)).to(device)  # writable
        x = x.permute(0, 3, 1, 2).float().div_(255.0)
        yield ((x - mean) / std).contiguous()


@contextlib.contextmanager
def _eval_mode(model: nn.Module):
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        model.train(was_training)


_DIHEDRAL = [(k, flip) for flip in (False, True) for k in range(4)]


def predict(learner_or_model, images: np.ndarray, *, bs: int = 256, tta: bool | int = False,
            config: dict | None = None) -> np.ndarray:
    """Predicted vote fractions, ``(N, 37)`` float32, in the order of ``images``.

    No augmentation; eval mode (BatchNorm running statistics, no dropout). ``tta=True``
    averages over the 8 dihedral transforms (4 quarter turns, with and without a flip: exact
    on a square pixel grid, no interpolation); ``tta=4`` uses the 4 quarter turns, ``tta=2``
    identity and flip. Costs ``tta`` forward passes. ``config`` overrides the model's own
    (normalisation statistics) - e.g. the one :func:`load_model` returns.

    Example::

        pred = predict(learn, images[dls.split.valid], tta=True)
    """
    model = _as_model(learner_or_model)
    cfg = _model_config(model, config)
    n_tta = 8 if tta is True else 1 if tta is False else int(tta)
    if n_tta not in (1, 2, 4, 8):
        raise ParameterError(f"tta={tta!r}: use False, True (8), 2, 4 or 8")
    views = {1: _DIHEDRAL[:1], 2: [(0, False), (0, True)], 4: _DIHEDRAL[:4], 8: _DIHEDRAL}[n_tta]
    out = []
    with _eval_mode(model):
        for x in _batches(model, images, cfg, bs):
            acc = None
            for k, flip in views:
                v = torch.flip(x, dims=(3,)) if flip else x
                v = torch.rot90(v, k, dims=(2, 3)) if k else v
                y = model(v).float()
                acc = y if acc is None else acc + y
            out.append((acc / len(views)).cpu().numpy())
    return np.concatenate(out).astype(np.float32, copy=False)


def extract_features(model, images: np.ndarray, config: dict | None = None, *,
                     layer: str = "body", bs: int = 256,
                     with_predictions: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The "CNN codes" of ``images``: ``(N, 512)`` float32 (``(N, 2048)`` for a resnet50 body).

    ``layer="body"``: the average-pooled output of the convolutional body - what the seed
    study's torchvision ``avgpool`` gave. ``layer="hidden"``: the head's 512-unit hidden layer
    (after its ReLU; 512-d for every arch). Batched, in eval and inference mode, without
    augmentation, so the result is deterministic: the same model, images and ``bs`` on the
    same machine give the same codes. ``config`` is the dict :func:`load_model` returns
    (normalisation statistics, trained image size); default: the model's own.
    ``with_predictions=True`` also returns the predicted vote fractions of the same forward pass
    (``codes, predicted``; what :func:`predict` gives without TTA), at no extra cost.

    Example::

        net, config = load_model(run_dir)
        codes = extract_features(net, images, config)
        codes.shape, codes.dtype
        # ((2000, 512), dtype('float32'))
    """
    net = _as_model(model)
    _check_choice("layer", layer, LAYERS)
    cfg = _model_config(net, config)
    try:
        body, head = net[0], net[1]
    except (TypeError, IndexError):
        raise ParameterError("expected a model from build_model / load_model") from None
    if layer == "hidden" and not isinstance(head, GalaxyHead):
        raise ParameterError("layer='hidden' needs the model's GalaxyHead (build_model / load_model)")
    out, predicted = [], []
    with _eval_mode(net):
        for x in _batches(net, images, cfg, bs):
            feats = body(x)
            codes = feats.mean(dim=(2, 3)) if layer == "body" else head.hidden(feats)
            out.append(codes.float().cpu().numpy())
            if with_predictions:
                predicted.append(head(feats).float().cpu().numpy())
    codes = np.concatenate(out).astype(np.float32, copy=False)
    if with_predictions:
        return codes, np.concatenate(predicted).astype(np.float32, copy=False)
    return codes


def features_frame(ids: Sequence[int] | np.ndarray, codes: np.ndarray) -> pd.DataFrame:
    """``GalaxyID`` + one float32 column per code dimension (``f000`` ... ``f511``).

    >>> features_frame([100008, 100023], np.zeros((2, 512), np.float32)).columns[[0, 1, -1]].tolist()
    ['GalaxyID', 'f000', 'f511']
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ParameterError(f"codes must be a 2-D (N, D) array, got shape {codes.shape}")
    ids = np.asarray(ids)
    if len(ids) != len(codes):
        raise ParameterError(f"{len(ids)} ids for {len(codes)} rows of codes")
    width = max(3, len(str(codes.shape[1] - 1)))
    names = [f"f{i:0{width}d}" for i in range(codes.shape[1])]
    frame = pd.DataFrame(codes.astype(np.float32, copy=False), columns=names)
    frame.insert(0, ID_COLUMN, ids.astype(np.int64))
    return frame


def predictions_frame(ids: Sequence[int] | np.ndarray, predicted: np.ndarray) -> pd.DataFrame:
    """``GalaxyID`` + the 37 predicted vote fractions under the Kaggle column names.

    >>> predictions_frame([7], np.zeros((1, 37), np.float32)).columns[[0, 1, -1]].tolist()
    ['GalaxyID', 'Class1.1', 'Class11.6']
    """
    predicted = np.asarray(predicted, dtype=np.float32)
    if predicted.shape != (len(ids), len(COLUMNS)):
        raise ParameterError(f"predictions of shape {predicted.shape} for {len(ids)} galaxies "
                             f"and {len(COLUMNS)} answers")
    frame = pd.DataFrame(predicted, columns=list(COLUMNS))
    frame.insert(0, ID_COLUMN, np.asarray(ids).astype(np.int64))
    return frame


def write_features(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write the codes table to Parquet atomically (see :func:`features_frame`)."""
    return write_parquet(frame, path)


# --------------------------------------------------------------------------------------------
# metrics


def rmse(pred: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error over all galaxies and all 37 columns (the Kaggle score).

    >>> rmse(np.zeros((2, 37)), np.full((2, 37), 0.1))
    0.1
    """
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ParameterError(f"pred has shape {pred.shape} but target {target.shape}")
    return round(float(np.sqrt(np.mean((pred - target) ** 2))), 12)


def per_question_rmse(pred: np.ndarray, target: np.ndarray) -> pd.Series:
    """RMSE over each question's answer columns; index ``"Q1: <question text>"`` ... ``"Q11: ..."``.

    >>> s = per_question_rmse(np.zeros((2, 37)), np.full((2, 37), 0.1))
    >>> len(s), s.index[0][:4], float(s.iloc[0])
    (11, 'Q1: ', 0.1)
    """
    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.ndim != 2 or pred.shape[1] != N_OUT:
        raise ParameterError(f"pred and target must both be (N, {N_OUT}); got {pred.shape} "
                             f"and {target.shape}")
    index = {c: i for i, c in enumerate(COLUMNS)}
    values, names = [], []
    for q in QUESTIONS.values():
        idx = [index[c] for c in q.columns]
        values.append(round(float(np.sqrt(np.mean((pred[:, idx] - target[:, idx]) ** 2))), 12))
        names.append(f"Q{q.number}: {q.text}")
    return pd.Series(values, index=pd.Index(names, name="question"), name="rmse")


def mean_baseline_rmse(train_targets: np.ndarray, valid_targets: np.ndarray) -> float:
    """RMSE on ``valid_targets`` of always predicting the training targets' column means.

    >>> mean_baseline_rmse(np.array([[0.0] * 37, [1.0] * 37]), np.full((3, 37), 0.5))
    0.0
    """
    train_targets = np.asarray(train_targets, dtype=np.float64)
    valid_targets = np.asarray(valid_targets, dtype=np.float64)
    mean = train_targets.mean(0, keepdims=True)
    return rmse(np.broadcast_to(mean, valid_targets.shape), valid_targets)


# --------------------------------------------------------------------------------------------
# files


def _versions() -> dict:
    import fastai
    import safetensors
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "fastai": fastai.__version__,
            "safetensors": safetensors.__version__, "numpy": np.__version__}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(learner_or_model, run_dir: str | Path, config: dict | None = None) -> Path:
    """Write ``run_dir/model.safetensors`` (weights) and ``run_dir/model.json`` atomically.

    ``model.json`` holds the model's own config (arch, head, n_out, hidden width, image size,
    normalisation statistics, pretrained flag, seed, training-data fingerprint, ...) updated
    with ``config`` (e.g. ``{"crop": 212, "epochs": 6}``; JSON-able values), the library
    versions and the SHA-256 of the weights file, so that :func:`load_model` can tell a pair
    that does not belong together. ``config`` cannot change the structure (arch, head, ...).
    Nothing is pickled. Returns the path of ``model.json``.

    Example::

        save_model(learn, run_dir, {"crop": 212, "epochs": 6})
    """
    from safetensors.torch import save_file

    model = _as_model(learner_or_model)
    cfg = dict(getattr(model, "gc_config", {}) or {})
    for key, value in (config or {}).items():
        if key in _STRUCTURAL and key in cfg and cfg[key] != value:
            raise ParameterError(
                f"config[{key!r}]={value!r} disagrees with the model ({key}={cfg[key]!r}); "
                "the structure comes from the model itself"
            )
        cfg[key] = value
    missing = [k for k in ("arch", "head", "mean", "std", "image_size") if k not in cfg]
    if missing:
        raise ParameterError(f"the model's config lacks {', '.join(missing)}: pass them in config")
    run_dir = paths.resolve(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    weights = run_dir / WEIGHTS_FILE
    with atomic_path(weights) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "arch": str(cfg["arch"]),
                                               "head": str(cfg["head"])})
        digest = _sha256(tmp)
    cfg.update({"format": FORMAT, "n_out": N_OUT, "columns": list(COLUMNS),
                "weights_file": WEIGHTS_FILE, "weights_sha256": digest,
                "versions": _versions()})
    return write_json(cfg, run_dir / CONFIG_FILE)


def load_model(run_dir: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the net from ``run_dir/model.json`` and load ``model.safetensors``: (model, config).

    The model is in eval mode on the CPU and carries ``config`` as ``model.gc_config``. No
    network, no pickle. Raises :class:`UserError` naming the file when either is missing or
    unreadable, when the weights file is not the one ``model.json`` was written with, or when
    the weights do not fit the net ``model.json`` describes (missing / unexpected tensors,
    wrong shapes).

    Example::

        net, config = load_model("data/processed/demo")
        config["arch"], config["head"]
        # ('resnet34', 'tree')
    """
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    run_dir = paths.resolve(run_dir)
    cfg_path, weights = run_dir / CONFIG_FILE, run_dir / WEIGHTS_FILE
    for p in (cfg_path, weights):
        if not p.is_file():
            raise UserError(f"{p} does not exist: run the training chapter (02) for this run "
                            "first, or point run_dir at a folder holding model.json and "
                            "model.safetensors")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{cfg_path} cannot be read as JSON ({exc}); train again") from None
    if not isinstance(cfg, dict):
        raise UserError(f"{cfg_path} is not a model config (a JSON object); train again")
    missing = [k for k in ("arch", "head", "mean", "std", "image_size") if k not in cfg]
    if missing:
        raise UserError(f"{cfg_path} lacks {', '.join(missing)}; it was not written by "
                        "save_model - train again")
    if cfg["arch"] not in ARCHS or cfg["head"] not in HEADS:
        raise UserError(f"{cfg_path}: arch={cfg['arch']!r} / head={cfg['head']!r} is not "
                        f"known (arch: {', '.join(ARCHS)}; head: {', '.join(HEADS)})")
    expected = cfg.get("weights_sha256")
    if not expected:
        raise UserError(f"{cfg_path} records no weights_sha256, so {weights} cannot be checked to be "
                        "the weights it was written with: train again (save_model records it)")
    if _sha256(weights) != expected:
        raise UserError(f"{weights} is not the weights file {cfg_path} was written with "
                        "(its SHA-256 differs): the pair comes from different runs - train again "
                        "or copy both files from the same run")
    try:
        with safe_open(str(weights), framework="pt") as f:
            meta = f.metadata() or {}
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{weights} cannot be read as safetensors ({exc}); train again") \
            from None
    for key in ("arch", "head"):  # a head swap leaves the tensors' names and shapes alike
        if key in meta and meta[key] != str(cfg[key]):
            raise UserError(
                f"{cfg_path} says {key}={cfg[key]!r} but {weights} holds the weights of a "
                f"{key}={meta[key]!r} net; keep model.json and model.safetensors of the same run "
                "together, or train again"
            )
    model = build_model(cfg["arch"], cfg["head"], pretrained=False, ps=float(cfg.get("ps", 0.5)))
    own = model.state_dict()
    unexpected = sorted(set(state) - set(own))
    absent = sorted(set(own) - set(state))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if unexpected or absent or wrong:
        what = []
        if absent:
            what.append(f"{len(absent)} tensors missing (e.g. {', '.join(absent[:3])})")
        if unexpected:
            what.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if wrong:
            k = wrong[0]
            what.append(f"{len(wrong)} of another shape (e.g. {k}: {tuple(state[k].shape)} in "
                        f"the file, {tuple(own[k].shape)} in the net)")
        raise UserError(
            f"{weights} does not fit the net {cfg_path} describes (arch={cfg['arch']}, "
            f"head={cfg['head']}): {'; '.join(what)}; keep model.json and model.safetensors of "
            "the same run together, or train again"
        )
    model.load_state_dict(state, strict=True)
    model.gc_config = {**model.gc_config, **cfg}
    model.eval()
    return model, cfg
