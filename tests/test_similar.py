"""The ``similar`` command: a GalaxyID or image query against a feature set, and its picture sheet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import cli
from helpers.codes import neighbours
from helpers.codes import similar as S
from helpers.errors import DataError


def codes(n=500, d=32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def test_the_search_is_the_one_engine():
    assert S.Index is neighbours.Index  # helpers.codes.neighbours, tested in test_neighbours.py


@pytest.fixture()
def feature_set(tmp_path):
    db = codes(60, 16)
    db[1] = db[0] * 3  # galaxy 1001 points the same way as 1000
    frame = pd.DataFrame(db, columns=[f"f{i:03d}" for i in range(16)])
    frame.insert(0, "GalaxyID", np.arange(1000, 1060))
    frame.to_parquet(tmp_path / "features.parquet")
    pd.DataFrame({"GalaxyID": np.arange(1000, 1060), "label": ["disk: spiral"] * 60}).to_parquet(
        tmp_path / "labels.parquet")
    return tmp_path / "features.parquet"


def test_similar_by_galaxy_id_leaves_the_query_out_and_adds_labels(feature_set):
    table = S.similar("1000", features=feature_set, k=5)
    assert table["GalaxyID"].iloc[0] == 1001 and table["similarity"].iloc[0] == pytest.approx(1.0)
    assert 1000 not in table["GalaxyID"].tolist() and len(table) == 5
    assert table["rank"].tolist() == [1, 2, 3, 4, 5] and (table["label"] == "disk: spiral").all()
    with pytest.raises(DataError, match="GalaxyID 5 is not in"):
        S.similar("5", features=feature_set)
    with pytest.raises(DataError, match="neither a GalaxyID"):
        S.similar("nowhere.jpg", features=feature_set)


def test_cli_prints_the_table_and_explains_what_an_image_query_needs(feature_set, tmp_path, capsys):
    assert cli.main(["similar", "1000", "-k", "3", "--features", str(feature_set)]) == 0
    out = capsys.readouterr().out
    assert "1001" in out and "similarity" in out
    image = tmp_path / "galaxy.jpg"
    image.write_bytes(b"\xff\xd8")
    assert cli.main(["similar", str(image), "--features", str(feature_set)]) == 1
    assert "needs the network" in capsys.readouterr().err
    assert cli.main(["similar", "1000", "--features", str(feature_set), "--sheet",
                     str(tmp_path / "s.png")]) == 1
    assert "--images" in capsys.readouterr().err


def test_sheet_draws_the_query_and_its_neighbours_into_a_png(feature_set, tmp_path):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    for gid in range(1000, 1060):
        Image.new("RGB", (64, 64), (gid % 255, 40, 90)).save(images / f"{gid}.jpg")
    table = S.similar("1000", features=feature_set, k=4, images=[images])
    out = S.sheet(images / "1000.jpg", table, tmp_path / "sheet.png", title="most similar to 1000")
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.width > 2 * picture.height  # one row of 5
    assert S.sheet(None, table, tmp_path / "no_query.png").is_file()  # an empty query frame
    assert cli.main(["similar", "1000", "-k", "3", "--features", str(feature_set), "--images",
                     str(images), "--sheet", str(tmp_path / "cli.png")]) == 0
    assert (tmp_path / "cli.png").is_file()
