"""helpers.net.augment: the nuisances applied to training batches and the stresses of chapter 2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from images import picture

from helpers.errors import ParameterError
from helpers.net import augment


def _galaxy(n: int = 4, size: int = 32) -> np.ndarray:
    return np.repeat(picture(size, noise=0, width=1 / 8)[None] + 10, n, axis=0)


def test_each_stress_changes_what_it_names_and_nothing_is_random_twice():
    img = _galaxy()
    f = img.astype(float)
    fainter = augment.stress(img, "fainter").astype(float)
    assert np.allclose(fainter, np.round(f * 0.5), atol=1)
    noisy_a, noisy_b = augment.stress(img, "noisier", seed=1), augment.stress(img, "noisier", seed=1)
    assert np.array_equal(noisy_a, noisy_b)  # seeded
    assert 8 < np.std(noisy_a.astype(float) - f) < 18  # 0.05 of 255, clipped at 0 in the sky
    blurred = augment.stress(img, "blurred").astype(float)
    assert blurred.max() < f.max() and abs(blurred.sum() - f.sum()) / f.sum() < 0.02  # flux kept
    redder = augment.stress(img, "redder").astype(float)
    assert redder[..., 0].sum() > f[..., 0].sum() and redder[..., 2].sum() < f[..., 2].sum()
    harder = augment.stress(img, "harder stretch").astype(float)
    assert harder[:, 0, 0].mean() > f[:, 0, 0].mean()  # x**0.6 lifts the faint sky
    with pytest.raises(ParameterError, match="condition="):
        augment.stress(img, "sharper")
    with pytest.raises(ParameterError, match="uint8"):
        augment.stress(f, "fainter")


def test_drawn_nuisances_stay_in_their_ranges_and_scale_with_strength():
    gen = torch.Generator().manual_seed(0)
    drawn = augment.draw(2000, 1.0, gen)
    for name in ("blur", "sky", "noise"):
        low, high = augment.RANGES[name]
        assert low - 1e-6 <= float(drawn[name].min()) and float(drawn[name].max()) <= high + 1e-6
    for name in ("gain", "stretch"):
        low, high = augment.RANGES[name]
        assert low * 0.999 <= float(drawn[name].min()) < 0.9 and 1.1 < float(drawn[name].max()) <= high * 1.001
    assert 0.06 < float(torch.log(drawn["colour"]).std()) < 0.10
    none = augment.draw(50, 0.0, gen)
    assert torch.all(none["gain"] == 1) and torch.all(none["noise"] == 0) and torch.all(none["colour"] == 1)


def test_stress_test_scores_each_network_on_each_condition():
    rng = np.random.default_rng(0)
    img = _galaxy(40)
    targets = rng.random((40, 37)).astype(np.float32)
    perfect = lambda x: targets  # noqa: E731 - ignores the images: unmoved by any stress
    brightness = lambda x: np.repeat(x.mean(axis=(1, 2, 3))[:, None] / 255, 37, axis=1)  # noqa: E731
    result = augment.stress_test({"perfect": perfect, "brightness": brightness}, img, targets, seed=0)
    assert list(result.table.index) == ["clean", *augment.STRESSES]
    assert all(e.value == 0 for e in result.table["perfect"])
    assert result.stressed["perfect"].value == 0
    assert result.difference("brightness", "perfect").low > 0
    assert "mean over the stresses" in result.formatted().index
    sentence = result.sentence({"brightness": "the brightness guess", "perfect": "the perfect one"})
    assert sentence.startswith("on the hold-out images as drawn, the brightness guess does worse than the perfect one")
    assert "; on the stressed images, the brightness guess does worse" in sentence
    alone = augment.stress_test({"brightness": brightness}, img, targets, seed=0)
    rise = alone.rise("brightness")  # the stresses move its guesses: resolved, whichever way
    assert rise.excludes(0) and rise.value == alone.stressed["brightness"].value - alone.table.loc["clean", "brightness"].value
    said = "falls" if rise.value < 0 else "rises"
    assert alone.sentence({"brightness": "the brightness guess"}).startswith(
        f"the hold-out RMSE of the brightness guess {said} when the pictures change")
