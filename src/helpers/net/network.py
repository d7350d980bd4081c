"""The network of chapters 2 and 3: a ResNet that regresses the 37 vote fractions, and its files.

The net is spread over three modules, one stage each; every import points down to this one:

- :mod:`helpers.net.network` (this module): the architecture (torchvision ResNet body as fastai
  cuts it, plus one of two heads), the ImageNet weights, seeding, and saving / loading the net
  without pickle. It knows nothing of data, training or prediction.
- :mod:`helpers.net.training` (imports this module): the split, the data loaders over in-memory
  images, the fastai ``Learner``, training with a per-epoch history, the learning-rate finder.
- :mod:`helpers.net.inference` (imports this module): predictions (optionally with test-time
  augmentation) and the "CNN codes" of a trained net, and the tables they are written as.

How good its predictions are (the RMSE of the vote fractions) is :mod:`helpers.scores`' job.

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
  of the question's parent answer (:data:`helpers.data.schema.QUESTIONS`; Q1 and Q6 hang from 1).
  The outputs are then cumulative fractions whose tree sums hold to float rounding. Dieleman
  used ReLU then division by the sum; the softmax is used here because a question whose
  answers all go negative would make that division 0/0.

The final layer's bias is set from the training targets' means
(:func:`helpers.net.training.build_learner` calls :meth:`GalaxyHead.init_bias`), so the untrained
net starts at the mean-prediction baseline instead of at 0.5 everywhere.

**Files.** :func:`save_model` writes ``model.safetensors`` (the state dict) and
``model.json`` (everything needed to rebuild the net, plus the normalisation statistics, the
data fingerprint and the library versions); :func:`load_model` rebuilds it without a network
and without unpickling anything. Chapter 2 saves what it trained, chapter 3 reads it back::

    network.save_model(learn, run_dir, {"crop": 212, "data": "mock"})
    net, config = network.load_model(run_dir)
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers import paths
from helpers.artifacts import atomic_path, write_json
from helpers.data.schema import COLUMNS, QUESTIONS
from helpers.errors import ParameterError, UserError

with warnings.catch_warnings():  # fastai's imports warn (torch.jit, pandas options): not ours
    warnings.simplefilter("ignore")
    import torchvision.models as tvm
    from fastai.torch_core import default_device
    from fastai.vision.learner import create_body

__all__ = [
    "ARCHS",
    "CONFIG_FILE",
    "default_device",
    "GalaxyHead",
    "HEADS",
    "N_OUT",
    "TreeOutput",
    "WEIGHTS_FILE",
    "as_model",
    "build_model",
    "check_choice",
    "check_images",
    "check_pretrained",
    "load_model",
    "save_model",
    "seed_everything",
    "tree_sums",
    "weights_path",
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
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "model.json"
FORMAT = "galactic-clustering/model/1"
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


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else :class:`ParameterError` naming ``name``."""
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


def check_images(images: Any, name: str = "images") -> int:
    """Check an (N, S, S, 3) uint8 array; return S."""
    shape = getattr(images, "shape", None)
    if shape is None or len(shape) != 4 or shape[3] != 3 or shape[1] != shape[2]:
        raise ParameterError(
            f"{name} must be an (N, size, size, 3) uint8 array (helpers.data.imagecache."
            f"load_image_array), got shape {shape}"
        )
    if getattr(images, "dtype", None) != np.uint8:
        raise ParameterError(f"{name} must be uint8 (0-255), got {images.dtype}")
    if shape[0] == 0:
        raise ParameterError(f"{name} is empty")
    return _check_image_size(int(shape[1]))


# --------------------------------------------------------------------------------------------
# pretrained weights


def weights_path(arch: str = "resnet34") -> Path:
    """Where torch keeps the ImageNet weights of ``arch``: ``$TORCH_HOME/hub/checkpoints/<file>``.

    >>> weights_path("resnet34").name
    'resnet34-b627a593.pth'
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(_weights_url(arch)).name


def _weights_url(arch: str) -> str:
    check_choice("arch", arch, tuple(ARCHS))
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


def start_note(arch: str, pretrained: bool) -> str:
    """The sentence chapter 2 shows under its data banner: where the network starts from.

    >>> start_note("resnet18", False)
    '**Network:** resnet18 from random weights (trained from scratch: no ImageNet weights offline).'
    """
    start = "ImageNet weights" if pretrained else "random weights (trained from scratch: no ImageNet weights offline)"
    return f"**Network:** {arch} from {start}."


def describe(config: dict) -> str:
    """One line on a saved network (its ``model.json``).

    >>> describe({"arch": "resnet18", "head": "tree", "image_size": 64, "crop": 212, "data_source": "mock"})
    'resnet18 with the tree head, trained at 64 px (crop 212) on mock data'
    """
    return (f"{config['arch']} with the {config['head']} head, trained at {config['image_size']} px "
            f"(crop {config['crop']}) on {config['data_source']} data")


def untrained_like(config: dict, seed: int = 42):
    """The network ``config`` describes, with seeded random weights (the untrained baseline), on
    the default device."""
    return build_model(config["arch"], config["head"], seed=seed).to(default_device())


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
        check_choice("head", head, HEADS)
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

    check_choice("arch", arch, tuple(ARCHS))
    check_choice("head", head, HEADS)
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
# files


def as_model(learner_or_model) -> nn.Module:
    """The torch model of a fastai ``Learner`` (its ``.model``), or the model itself."""
    model = getattr(learner_or_model, "model", learner_or_model)
    if not isinstance(model, nn.Module):
        raise ParameterError("expected a fastai Learner or a torch model from this module")
    return model


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

    model = as_model(learner_or_model)
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
