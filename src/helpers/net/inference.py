"""What a trained network gives: predicted vote fractions and the "CNN codes" of chapter 3.

The net comes from :mod:`helpers.net.network` (:func:`~helpers.net.network.load_model`, or a learner
of :mod:`helpers.net.training`); this module imports the former and not the latter. Images are the
same ``(N, S, S, 3)`` ``uint8`` arrays training used, normalised with the statistics the
model's config carries (``model.json``), batched, in eval and inference mode, without
augmentation: :func:`predict` (optionally averaged over the 8 dihedral transforms) and
:func:`extract_features` (the body's pooled output or the head's hidden layer, and the
predictions of the same pass), then the tables they are written as (:func:`features_frame`,
:func:`predictions_frame`, :func:`write_features`). The chapter-3 notebook, in short::

    from helpers.net import inference, network

    net, config = network.load_model(run_dir)
    codes = inference.extract_features(net, images, config, layer="body")   # (N, 512) float32
    inference.write_features(inference.features_frame(ids, codes), run_dir / "features.parquet")
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from helpers.artifacts import write_parquet
from helpers.data.schema import COLUMNS, ID_COLUMN
from helpers.errors import ParameterError
from helpers.net.network import GalaxyHead, as_model, check_choice, check_images
from helpers.progress import Ticker

__all__ = [
    "LAYERS",
    "extract_features",
    "features_frame",
    "predict",
    "predictions_frame",
    "write_features",
]

LAYERS = ("body", "hidden")


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
    size = check_images(images)
    trained = cfg.get("image_size")
    if trained is not None and int(trained) != size:
        raise ParameterError(
            f"image_size={size}: the model was trained on {trained} px images; load the images "
            f"with size={trained} (helpers.data.imagecache.load_image_array)"
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
    (normalisation statistics) - e.g. the one :func:`helpers.net.network.load_model` returns.

    Example::

        pred = predict(learn, images[dls.split.valid], tta=True)
    """
    model = as_model(learner_or_model)
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
    same machine give the same codes. ``config`` is the dict :func:`helpers.net.network.load_model` returns
    (normalisation statistics, trained image size); default: the model's own.
    ``with_predictions=True`` also returns the predicted vote fractions of the same forward pass
    (``codes, predicted``; what :func:`predict` gives without TTA), at no extra cost.

    Example::

        net, config = network.load_model(run_dir)
        codes = extract_features(net, images, config)
        codes.shape, codes.dtype
        # ((2000, 512), dtype('float32'))
    """
    net = as_model(model)
    check_choice("layer", layer, LAYERS)
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


# --------------------------------------------------------------------------------------------
# tables


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
