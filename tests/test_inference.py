"""Predictions and codes of a trained net (helpers.net.inference), and their tables.

Small and fast: resnet18 at 32 px on a few dozen in-memory images (tests/networks.py), one epoch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from networks import SIZE

from helpers.errors import ParameterError
from helpers.net import inference, network

# ------------------------------------------------------------------------------------------
# prediction


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


def test_resnet50_body_codes_are_2048_wide():
    net = network.build_model("resnet50", "tree", seed=0)
    images = np.random.default_rng(0).integers(0, 255, (3, SIZE, SIZE, 3), dtype=np.uint8)
    config = {"mean": [0.1] * 3, "std": [0.2] * 3, "image_size": SIZE}
    assert inference.extract_features(net, images, config).shape == (3, 2048)
    assert inference.extract_features(net, images, config, layer="hidden").shape == (3, 512)


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
