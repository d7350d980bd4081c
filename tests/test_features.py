import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.codes import features
from helpers.data.schema import TEST_IMAGES, TRAIN_IMAGES
from helpers.errors import DataError, ParameterError


@pytest.fixture()
def run(tmp_path):
    data, run_dir = tmp_path / "data", tmp_path / "run"
    (data / TRAIN_IMAGES).mkdir(parents=True)
    run_dir.mkdir()
    ids = [100008, 100023, 100053, 100078]
    for gid in ids:
        Image.new("RGB", (424, 424), (10, 10, 10)).save(data / TRAIN_IMAGES / f"{gid}.jpg")
    pd.DataFrame({"GalaxyID": ids, "label": ["disk: spiral", "disk: spiral", "star or artifact",
                                             "round: in between"]}).to_parquet(run_dir / "labels.parquet")
    return data, run_dir


def test_selects_the_labelled_galaxies_with_their_images(run):
    data, run_dir = run
    g = features.select_galaxies(run_dir, data)
    assert list(g["GalaxyID"]) == [100008, 100023, 100053, 100078]
    assert set(g["set"]) == {"labelled"}
    sub = features.select_galaxies(run_dir, data, n_galaxies=2, seed=1)
    assert len(sub) == 2 and sub.equals(features.select_galaxies(run_dir, data, n_galaxies=2, seed=1))


def test_galaxies_without_images_are_an_error_that_names_them(run):
    data, run_dir = run
    (data / TRAIN_IMAGES / "100053.jpg").unlink()
    with pytest.raises(DataError, match="100053.jpg"):
        features.select_galaxies(run_dir, data)


def test_missing_labels_says_which_chapter_to_run(run, tmp_path):
    data, _ = run
    with pytest.raises(DataError, match="01_labels"):
        features.select_galaxies(tmp_path / "elsewhere", data)


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_bad_n_galaxies_is_named(run, n):
    data, run_dir = run
    with pytest.raises(ParameterError, match="n_galaxies"):
        features.select_galaxies(run_dir, data, n_galaxies=n)


def test_unlabelled_images_join_when_asked(run):
    data, run_dir = run
    with pytest.raises(ParameterError, match=TEST_IMAGES):
        features.select_galaxies(run_dir, data, include_unlabelled=True)
    (data / TEST_IMAGES).mkdir()
    Image.new("RGB", (424, 424)).save(data / TEST_IMAGES / "900001.jpg")
    g = features.select_galaxies(run_dir, data, include_unlabelled=True)
    assert len(g) == 5
    assert g.loc[g["GalaxyID"] == 900001, "set"].item() == "unlabelled"
    assert g.loc[g["GalaxyID"] == 900001, "label"].isna().all()
    Image.new("RGB", (424, 424)).save(data / TEST_IMAGES / "notes.jpg")
    with pytest.raises(DataError, match="notes.jpg"):
        features.select_galaxies(run_dir, data, include_unlabelled=True)


def test_neighbours_and_agreement():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 10
    codes = np.vstack([centres[i] + rng.normal(size=(20, 3)) for i in range(3)])
    labels = pd.Series(np.repeat(["a", "b", "c"], 20))
    neighbours = features.nearest_neighbours(codes, k=4)
    assert neighbours.shape == (60, 4)
    assert not (neighbours == np.arange(60)[:, None]).any()
    result = features.neighbour_label_agreement(neighbours, labels)
    assert result["agreement"] > 0.95 and result["chance"] == pytest.approx(1 / 3)
    shuffled = features.neighbour_label_agreement(neighbours, labels.sample(frac=1, random_state=0)
                                                  .reset_index(drop=True))
    assert shuffled["agreement"] < 0.6
    with pytest.raises(ParameterError, match="k=60"):
        features.nearest_neighbours(codes, k=60)


def test_neighbours_leave_out_only_the_galaxy_itself_and_agree_with_a_full_sort():
    from helpers.codes.neighbours import normalise

    codes = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)
    codes[9] = 2 * codes[4]  # a duplicate in direction is still a neighbour, the nearest one
    neighbours = features.nearest_neighbours(codes, k=3)
    full = normalise(codes) @ normalise(codes).T
    np.fill_diagonal(full, -np.inf)
    np.testing.assert_array_equal(neighbours, np.argsort(-full, axis=1, kind="stable")[:, :3])
    assert neighbours[4, 0] == 9 and neighbours[9, 0] == 4


def test_out_of_sample_agreement_looks_only_among_the_training_galaxies():
    codes = np.array([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0], [0.01, 0.99], [0.98, 0.02]])
    labels = pd.Series(["a", "b", "c", "c", "a"])
    train = np.array([False, True, True, True, False])
    shares = features.agreement_per_galaxy(codes, labels, ~train, train, k=1)
    # galaxies 0 and 4 are unseen: their nearest *training* galaxy is 1 ("b"), never each other
    assert shares.tolist() == [0.0, 0.0]
    in_sample = features.agreement_per_galaxy(codes, labels, train, train, k=1)
    assert in_sample.tolist() == [0.0, 1.0, 1.0]  # never a galaxy's own label through itself
