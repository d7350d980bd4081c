"""Training augmentation: the galaxy's orientation, and the nuisances of the instrument.

Chapter 2 changes every training batch (never a hold-out one) in two ways.

**Orientation** (``augment="rotations"``): a galaxy on the sky has no preferred orientation, so
each image is flipped at random about both axes (fastai ``Dihedral``) and turned by an angle
drawn uniformly in [-180, 180] degrees (fastai ``Rotate``), with reflection padding of the
corners.

**Nuisances** (``augment="nuisances"``: orientation plus :class:`Nuisances`): what differs
between two pictures of the same galaxy taken by different cameras, surveys or image pipelines
(or between the mock and the sky), and so must not be what the network leans on. Drawn per
image, independently, at ``strength=1`` (:data:`RANGES`):

==============  =========================================  ===============================
nuisance        change (pixel values ``x`` in 0..1)         range
==============  =========================================  ===============================
``blur``        Gaussian PSF of sigma ``s`` pixels          ``s`` in [0, 1.0] px at 64 px
``gain``        ``x * g`` (exposure, distance)              ``g`` log-uniform in [2/3, 3/2]
``colour``      ``x_c * g_c`` per channel (colour balance)  ``log g_c`` normal, sigma 0.08
``sky``         ``x + b`` (sky level left by the pipeline)  ``b`` uniform in [-0.02, 0.04]
``noise``       ``x + sigma * N(0, 1)`` per pixel           ``sigma`` uniform in [0, 0.03]
``stretch``     ``x ** gamma`` (display stretch)            ``gamma`` log-uniform [3/4, 4/3]
``zoom``        framing (fastai affine, zoom in only)       [1, 1.2]
==============  =========================================  ===============================

in that order (optics, then detector, then display), clipped to [0, 1]. The blur scales with
the image size (1 px at 64 px is 3.5 px at 224). Zoom only enlarges: zooming out would pad the
frame with mirrored copies of the galaxy.

:func:`stress` applies one nuisance at a fixed value *beyond* these ranges to a set of images
(:data:`STRESSES`): chapter 2 scores both networks on the hold-out galaxies shifted that way,
to measure what the randomisation buys when the images differ from the training ones.

Randomness comes from torch's generator, which :func:`helpers.net.training.build_learner` seeds: the
same seed gives the same augmented batches.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from helpers.errors import ParameterError

with warnings.catch_warnings():  # fastai's imports warn (torch.jit, pandas options): not ours
    warnings.simplefilter("ignore")
    from fastai.torch_core import TensorImage
    from fastai.vision.augment import RandTransform, aug_transforms

AUGMENTS = ("none", "rotations", "nuisances")
TRAINED = {"none": "without augmentation", "rotations": "with rotations only",
           "nuisances": "with randomised nuisances"}  # "the network trained ..."
RANGES = {"blur": (0.0, 1.0), "gain": (2 / 3, 3 / 2), "colour": 0.08, "sky": (-0.02, 0.04),
          "noise": (0.0, 0.03), "stretch": (3 / 4, 4 / 3), "zoom": (1.0, 1.2)}
STRESSES = {
    "fainter": {"gain": 0.5},
    "noisier": {"noise": 0.05},
    "blurred": {"blur": 1.6},
    "redder": {"colour": (1.15, 1.0, 0.87)},
    "harder stretch": {"stretch": 0.6},
}


def check_augment(augment: str | bool) -> str:
    """The augmentation's name; ``True`` means ``"rotations"`` and ``False`` ``"none"``.

    >>> check_augment(True), check_augment("nuisances")
    ('rotations', 'nuisances')
    """
    if augment is True:
        return "rotations"
    if augment is False or augment is None:
        return "none"
    if augment not in AUGMENTS:
        raise ParameterError(f"augment={augment!r}: use one of {', '.join(AUGMENTS)}")
    return augment


def transforms(augment: str | bool = "rotations", strength: float = 1.0) -> list:
    """fastai batch transforms for training batches (between ``IntToFloatTensor`` and ``Normalize``)."""
    augment = check_augment(augment)
    if augment == "none":
        return []
    zoom = RANGES["zoom"][1] if augment == "nuisances" else 1.0
    out = aug_transforms(do_flip=True, flip_vert=True, max_rotate=180.0, min_zoom=1.0,
                         max_zoom=1.0 + (zoom - 1.0) * strength, max_lighting=0.0, max_warp=0.0,
                         p_affine=1.0, pad_mode="reflection")
    if augment == "nuisances":
        out.append(Nuisances(strength))
    return out


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian blur (sigma in pixels, ``(B,)``) by a separable depthwise convolution."""
    if float(sigma.max()) <= 0.05:
        return x
    b, c, h, w = x.shape
    half = max(1, math.ceil(3 * float(sigma.max())))
    t = torch.arange(-half, half + 1, dtype=x.dtype, device=x.device)
    s = sigma.clamp(min=1e-3).to(x.dtype).view(b, 1)
    k = torch.exp(-0.5 * (t.view(1, -1) / s) ** 2)
    k = (k / k.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)      # (B*C, K)
    y = x.reshape(1, b * c, h, w)
    y = F.conv2d(F.pad(y, (half, half, 0, 0), mode="reflect"), k.view(b * c, 1, 1, -1), groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, half, half), mode="reflect"), k.view(b * c, 1, -1, 1), groups=b * c)
    return y.view(b, c, h, w)


def apply(x: torch.Tensor, *, blur=None, gain=None, colour=None, sky=None, noise=None,
          stretch=None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the nuisances to float images ``x`` ``(B, 3, H, W)`` in [0, 1]; each value per image.

    Every argument is a ``(B,)`` tensor (``colour``: ``(B, 3)``) or ``None`` (left alone).
    ``blur`` is in pixels at 64 px and scales with ``H``.

    >>> x = torch.full((2, 3, 8, 8), 0.5)
    >>> y = apply(x, gain=torch.tensor([2.0, 0.5]))
    >>> y[0].max().item(), y[1].max().item()
    (1.0, 0.25)
    """
    if blur is not None:
        x = _blur(x, blur.to(x.device) * x.shape[-1] / 64.0)
    if gain is not None:
        x = x * gain.to(x).view(-1, 1, 1, 1)
    if colour is not None:
        x = x * colour.to(x).view(-1, 3, 1, 1)
    if sky is not None:
        x = x + sky.to(x).view(-1, 1, 1, 1)
    if noise is not None:
        draw = torch.randn(x.shape, generator=generator, dtype=x.dtype,
                           device="cpu" if generator is not None else x.device).to(x.device)
        x = x + noise.to(x).view(-1, 1, 1, 1) * draw
    x = x.clamp(0.0, 1.0)
    if stretch is not None:
        x = x.pow(stretch.to(x).view(-1, 1, 1, 1))
    return x


def draw(n: int, strength: float = 1.0, generator: torch.Generator | None = None) -> dict:
    """Random nuisances for ``n`` images (see :data:`RANGES`), scaled by ``strength`` (0: none)."""

    def uniform(low, high, centre=0.0):
        u = torch.rand(n, generator=generator)
        return centre + (low - centre + (high - low) * u) * strength

    def log_uniform(low, high):
        return torch.exp(uniform(math.log(low), math.log(high)))

    return {
        "blur": uniform(*RANGES["blur"]),
        "gain": log_uniform(*RANGES["gain"]),
        "colour": torch.exp(torch.randn(n, 3, generator=generator) * RANGES["colour"] * strength),
        "sky": uniform(*RANGES["sky"]),
        "noise": uniform(*RANGES["noise"]),
        "stretch": log_uniform(*RANGES["stretch"]),
    }


class Nuisances(RandTransform):
    """fastai batch transform: random :func:`draw` nuisances on training batches only."""

    split_idx, order = 0, 45  # after the affine (30) and lighting (40), before Normalize (99)

    def __init__(self, strength: float = 1.0):
        super().__init__(p=1.0)
        if not 0 <= float(strength) <= 4:
            raise ParameterError(f"strength={strength!r}: use a value between 0 and 4 (1: the ranges)")
        self.strength = float(strength)

    def encodes(self, x):  # no annotation: fasttransform dispatches on it; the targets pass through
        if not isinstance(x, TensorImage):
            return x
        return TensorImage(apply(x, **draw(len(x), self.strength)))


def stress(images: np.ndarray, condition: str, seed: int = 0) -> np.ndarray:
    """``images`` ``(N, S, S, 3)`` uint8 with one nuisance of :data:`STRESSES` applied to all.

    >>> img = np.full((2, 16, 16, 3), 100, dtype=np.uint8)
    >>> int(stress(img, "fainter")[0, 0, 0, 0])
    50
    """
    if condition not in STRESSES:
        raise ParameterError(f"condition={condition!r}: use one of {', '.join(STRESSES)}")
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ParameterError(f"images must be (N, S, S, 3) uint8, got {images.shape} {images.dtype}")
    n = len(images)
    values = {}
    for name, value in STRESSES[condition].items():
        shape = (n, 3) if name == "colour" else (n,)
        values[name] = torch.tensor(value, dtype=torch.float32).expand(shape).clone()
    generator = torch.Generator().manual_seed(int(seed))
    out = []
    for i in range(0, n, 256):
        x = torch.from_numpy(images[i:i + 256].copy()).permute(0, 3, 1, 2).float() / 255.0
        y = apply(x, generator=generator, **{k: v[i:i + 256] for k, v in values.items()})
        out.append((y * 255.0).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out) if out else images.copy()


def _stressed_rmse(predicted, target) -> float:
    """Mean over conditions of the RMSE; ``predicted`` is ``(N, C, 37)``."""
    predicted = np.asarray(predicted, np.float64)
    target = np.asarray(target, np.float64)[:, None, :]
    return float(np.mean(np.sqrt(np.mean((predicted - target) ** 2, axis=(0, 2)))))


def stress_test(predictors: dict[str, Callable[[np.ndarray], np.ndarray]], images: np.ndarray,
                targets: np.ndarray, *, seed: int = 0) -> StressTest:
    """Score each predictor (images -> ``(N, 37)`` fractions) on ``images`` and on every stress.

    ``table``: one row per condition (``"clean"`` first, then :data:`STRESSES`) and one column
    per predictor, holding its RMSE with a 95% bootstrap interval over the galaxies
    (:class:`helpers.scores.Estimate`). ``stressed``: each predictor's RMSE averaged over the
    stresses, with its interval. ``difference(a, b)``: the paired interval of ``a - b`` for the
    averaged stressed RMSE (the same resampled galaxies for both).
    """
    from helpers import scores

    if not predictors:
        raise ParameterError("predictors is empty: give at least one network to score")
    conditions = ["clean", *STRESSES]
    predicted = {name: [] for name in predictors}
    for condition in conditions:
        shifted = images if condition == "clean" else stress(images, condition, seed)
        for name, fn in predictors.items():
            predicted[name].append(np.asarray(fn(shifted), np.float32))
    stacked = {name: np.stack(p, axis=1) for name, p in predicted.items()}  # (N, C, 37)
    table = pd.DataFrame({
        name: [scores.rmse_estimate(p[:, c], targets, seed=seed)
               for c in range(len(conditions))] for name, p in stacked.items()}, index=conditions)
    table.index.name = "images"
    stressed = {name: scores.bootstrap(_stressed_rmse, p[:, 1:], targets, seed=seed)
                for name, p in stacked.items()}
    return StressTest(table, stressed, stacked, np.asarray(targets), seed)


@dataclass(frozen=True)
class StressTest:
    """What :func:`stress_test` measured (see there)."""

    table: pd.DataFrame
    stressed: dict
    predicted: dict
    targets: np.ndarray
    seed: int

    def difference(self, a: str, b: str):
        """The averaged stressed RMSE of ``a`` minus that of ``b`` (paired over galaxies)."""
        from helpers import scores

        return scores.difference(lambda p, q, y: _stressed_rmse(p, y), lambda p, q, y: _stressed_rmse(q, y),
                                 self.predicted[a][:, 1:], self.predicted[b][:, 1:], self.targets,
                                 seed=self.seed)

    def clean_difference(self, a: str, b: str):
        """The RMSE of ``a`` minus that of ``b`` on the images as drawn (paired over galaxies)."""
        from helpers import scores

        return scores.rmse_difference(self.predicted[a][:, 0], self.predicted[b][:, 0], self.targets,
                                      seed=self.seed)

    def rise(self, a: str):
        """How much ``a``'s averaged stressed RMSE exceeds its RMSE on the images as drawn (paired)."""
        from helpers import scores

        return scores.bootstrap(lambda p, y: _stressed_rmse(p[:, 1:], y) - scores.rmse(p[:, 0], y),
                                self.predicted[a], self.targets, seed=self.seed)

    def sentence(self, names: dict[str, str]) -> str:
        """What this test says, in words (:mod:`helpers.sentences`): one network, how its error
        grows; two, how they compare on the images as drawn and stressed. ``names``: column ->
        how the sentence names it, in the order the sentence compares them."""
        from helpers import sentences

        columns = list(names)
        if len(columns) == 1:
            a = columns[0]
            return sentences.growth_sentence(names[a], self.table.loc["clean", a], self.stressed[a],
                                             self.rise(a))
        a, b = columns[:2]
        return sentences.stress_sentence(
            names[a], names[b],
            (self.table.loc["clean", a], self.table.loc["clean", b], self.clean_difference(a, b)),
            (self.stressed[a], self.stressed[b], self.difference(a, b)))

    def formatted(self, spec: str = ".4f") -> pd.DataFrame:
        """The table as text: ``0.1196 [0.1150, 0.1240]`` per cell, plus the averaged stresses."""
        out = self.table.map(lambda e: e.format(spec))
        out.loc["mean over the stresses"] = [self.stressed[name].format(spec) for name in self.table.columns]
        return out
