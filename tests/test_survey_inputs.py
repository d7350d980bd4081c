"""Survey inputs as surveys hold them: manifests of string IDs, FITS cutouts, fsspec URLs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from networks import save_small_network
from PIL import Image

from helpers import cli
from helpers.codes import neighbours, survey
from helpers.codes import similar as S
from helpers.data import cutouts, images, store
from helpers.errors import DataError, ParameterError, UserError
from helpers.net import inference, network

N = 8


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """An untrained, seeded resnet18 saved the way chapter 2 saves a network."""
    return save_small_network(tmp_path_factory.mktemp("run"))


def galaxy(rng, side=200):
    yy, xx = np.mgrid[:side, :side]
    c = side / 2
    r2 = (yy - c) ** 2 / rng.uniform(20, 400) + (xx - c) ** 2 / rng.uniform(20, 400)
    tint = rng.uniform(0.6, 1.0, 3)
    return np.clip(rng.normal(12, 4, (side, side, 3)) + 235 * np.exp(-r2)[..., None] * tint, 0, 255)


@pytest.fixture(scope="module")
def cutout_set(tmp_path_factory):
    """The same galaxies as JPEG (by GalaxyID) and as FITS of the JPEG's decoded channels (by
    survey name): 8-bit (BITPIX 8, (3, H, W)) and float32; plus a one-band FITS, a FITS of the
    wrong shape and a file that is no FITS at all."""
    root = tmp_path_factory.mktemp("cutouts")
    (root / "jpg").mkdir()
    (root / "fits").mkdir()
    rng = np.random.default_rng(7)
    rows = []
    for i in range(N):
        jpg = root / "jpg" / f"{500 + i}.jpg"
        Image.fromarray(galaxy(rng).astype(np.uint8)).save(jpg, quality=92)
        pixels = np.asarray(Image.open(jpg).convert("RGB"))
        name = f"J{1030 + i:04d}+05{i:02d}"
        fits.PrimaryHDU(np.moveaxis(pixels, -1, 0)).writeto(root / "fits" / f"{name}.fits")
        fits.PrimaryHDU(np.moveaxis(pixels, -1, 0).astype(np.float32)).writeto(
            root / "fits" / f"{name}-f.fits")
        rows.append({"objid": name, "file": f"fits/{name}.fits", "ra": 150.0 + i, "dec": 2.0 - i})
    fits.PrimaryHDU(galaxy(rng)[..., 0].astype(np.float32)).writeto(root / "fits" / "grey.fits")
    fits.PrimaryHDU(np.zeros((4, 40, 40), np.float32)).writeto(root / "fits" / "four.fits")
    (root / "fits" / "junk.fits").write_text("SIMPLE  = not really")
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root


def test_the_fits_rule_one_band_three_bands_shapes_and_stretches():
    rng = np.random.default_rng(0)
    flux = rng.gamma(1.0, 1.0, (3, 30, 30)) * np.array([1.0, 2.0, 4.0])[:, None, None]
    linear = cutouts.fits_to_rgb(flux, "linear")
    asinh = cutouts.fits_to_rgb(flux, "asinh")
    assert linear.shape == asinh.shape == (30, 30, 3) and asinh.dtype == np.uint8
    assert (asinh.astype(int) >= linear.astype(int)).all()  # asinh lifts the faint pixels
    assert linear[..., 2].mean() > linear[..., 0].mean()  # one interval for all bands: colour kept
    grey = cutouts.fits_to_rgb(flux[0])
    assert (grey[..., 0] == grey[..., 2]).all()
    with_nan = flux.copy()
    with_nan[:, 0, 0] = np.nan
    assert cutouts.fits_to_rgb(with_nan)[0, 0].tolist() == [0, 0, 0]  # masked pixels are sky
    with pytest.raises(DataError, match=r"x.fits: a FITS cutout of shape \(4, 30, 30\)"):
        cutouts.fits_to_rgb(np.zeros((4, 30, 30)), name="x.fits")
    with pytest.raises(ParameterError, match="--fits-stretch"):
        cutouts.fits_to_rgb(flux, "log")


def test_fits_of_a_jpegs_channels_give_the_jpegs_codes(run_dir, cutout_set):
    """The stated tolerance (helpers.data.cutouts): 8-bit FITS exactly; float FITS, linear stretch,
    cosine >= 0.995 and each FITS code's nearest JPEG code its own galaxy's; asinh (the default,
    meant for fluxes, lifts the sky of data already stretched for display) cosine >= 0.9."""
    net, config = network.load_model(run_dir)

    def codes(paths, stretch="asinh"):
        return inference.extract_features(net, np.stack([images.read_cutout(p, 32, 212, fits_stretch=stretch)
                                                         for p in paths]), config)

    names = [f"J{1030 + i:04d}+05{i:02d}" for i in range(N)]
    jpeg = codes([cutout_set / "jpg" / f"{500 + i}.jpg" for i in range(N)])
    np.testing.assert_array_equal(codes([cutout_set / "fits" / f"{n}.fits" for n in names]), jpeg)
    for stretch, floor in (("linear", 0.995), ("asinh", 0.9)):
        got = codes([cutout_set / "fits" / f"{n}-f.fits" for n in names], stretch)
        cosine = neighbours.normalise(got) @ neighbours.normalise(jpeg).T
        assert np.diag(cosine).min() >= floor, (stretch, np.diag(cosine).round(4))
        if stretch == "linear":
            assert (cosine.argmax(axis=1) == np.arange(N)).all()


def test_a_manifest_of_fits_gives_the_jpeg_codes_with_string_ids_and_its_columns(
        run_dir, cutout_set, tmp_path):
    jpeg_out, fits_out = tmp_path / "jpeg", tmp_path / "fits"
    survey.featurize(run_dir, cutout_set / "jpg", jpeg_out, scheduler="none", shard_size=3,
                     progress=None)
    summary = survey.featurize(run_dir, cutout_set / "manifest.csv", fits_out, scheduler="none",
                               shard_size=3, id_column="objid", path_column="file", progress=None)
    assert summary["images"] == N and summary["bad"] == 0
    a, b = survey.read_codes(jpeg_out), survey.read_codes(fits_out)
    assert b["GalaxyID"].tolist() == [f"J{1030 + i:04d}+05{i:02d}" for i in range(N)]
    assert b[["ra", "dec"]].to_numpy().tolist() == [[150.0 + i, 2.0 - i] for i in range(N)]
    codes = [c for c in a.columns if c.startswith("f")]
    np.testing.assert_array_equal(a[codes].to_numpy(), b[codes].to_numpy())
    assert pd.read_parquet(fits_out).shape == b.shape  # the folder reads back as one table
    table = S.similar("J1031+0501", features=fits_out, k=3)  # a string ID, its RA/Dec carried
    assert "J1031+0501" not in table["GalaxyID"].tolist() and "ra" in table.columns
    query = S.similar(str(cutout_set / "fits" / "J1032+0502.fits"), features=fits_out, k=1)
    assert query["GalaxyID"].tolist() == ["J1032+0502"]  # a FITS query finds its own code
    assert query["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-4)


def test_bad_and_wrongly_shaped_cutouts_are_listed_per_shard(run_dir, cutout_set, tmp_path):
    manifest = tmp_path / "m.parquet"
    pd.DataFrame({"id": ["g1", "four", "junk", "gone", "g2", "grey"],
                  "path": [str(cutout_set / "fits" / "J1030+0500.fits"),
                           str(cutout_set / "fits" / "four.fits"),
                           str(cutout_set / "fits" / "junk.fits"),
                           str(cutout_set / "fits" / "missing.fits"),
                           f"file://{cutout_set}/jpg/501.jpg",
                           str(cutout_set / "fits" / "grey.fits")]}).to_parquet(manifest)
    out = tmp_path / "codes"
    summary = survey.featurize(run_dir, manifest, out, scheduler="none", shard_size=2, progress=None)
    assert summary["bad"] == 3 and summary["files"] == summary["shards"] == 3
    bad = pd.read_csv(out / survey.BAD_IMAGES)
    assert sorted(bad["GalaxyID"]) == ["four", "gone", "junk"]
    assert bad.set_index("GalaxyID").loc["four", "problem"].endswith(
        "use one band (H, W) or three (3, H, W), R G B in that order")
    assert sorted((out / survey.BAD_DIR).iterdir())[0].name == "part-00000.parquet.csv"
    assert survey.read_codes(out)["GalaxyID"].tolist() == ["g1", "g2", "grey"]
    # a part cut short is found on resume and computed again, the others are kept
    (out / "part-00001.parquet").write_bytes((out / "part-00001.parquet").read_bytes()[:50])
    messages = []
    again = survey.featurize(run_dir, manifest, out, scheduler="none", shard_size=2,
                             progress=messages.append)
    assert again["computed"] == 1 and again["skipped"] == 2
    assert any("part-00001.parquet does not read back" in m for m in messages)


def test_manifest_mistakes_name_the_file_row_and_column(run_dir, tmp_path, capsys):
    m = tmp_path / "m.csv"
    m.write_text("objid,path\na,x.fits\nb,y.fits\na,z.fits\n")
    with pytest.raises(DataError, match=r"m.csv: no column 'id' \(its columns: objid, path\).*--id-column"):
        cutouts.read_manifest(m)
    with pytest.raises(DataError, match=r"m.csv: ID 'a' \(column 'objid'\) appears in rows 1, 3"):
        cutouts.read_manifest(m, id_column="objid")
    m.write_text("id,path\na,x.fits\nb,\n")
    with pytest.raises(DataError, match=r"column 'path' is empty in row 2"):
        cutouts.read_manifest(m)
    assert cli.main(["featurize", "--run", str(run_dir), "--images", str(tmp_path / "none.csv"),
                     "--out", str(tmp_path / "o")]) == 1
    assert "none.csv: the manifest does not exist" in capsys.readouterr().err


def test_urls_without_a_backend_or_a_server_are_refused_in_one_line(run_dir, tmp_path, capsys):
    with pytest.raises(UserError, match=r"gs://b/x: reading gs:// needs its fsspec backend.*gcsfs"):
        store.locate("gs://b/x")
    with pytest.raises(UserError, match="not one fsspec knows"):
        store.locate("nosuch://b/x")
    import socket

    with socket.socket() as s:  # a free port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    options = {"endpoint_url": f"http://127.0.0.1:{port}", "key": "k", "secret": "s",
               "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 2}}
    with pytest.raises(UserError, match=rf"--images s3://cutouts/m.csv: the store at "
                                        rf"http://127.0.0.1:{port} cannot be reached"):
        survey.featurize(run_dir, "s3://cutouts/m.csv", tmp_path / "o", scheduler="none",
                         storage_options=options, progress=None)


def test_codes_go_to_any_fsspec_store(run_dir, cutout_set, tmp_path):
    """memory:// stands for a store without rename: parts are written whole and verified."""
    out = "memory://survey-test/codes"
    survey.featurize(run_dir, f"file://{cutout_set}/jpg", out, scheduler="none", shard_size=3,
                     progress=None)
    local = tmp_path / "local"
    survey.featurize(run_dir, cutout_set / "jpg", local, scheduler="none", shard_size=3,
                     progress=None)
    pd.testing.assert_frame_equal(survey.read_codes(out), survey.read_codes(local))
    ids, _ = S.read_feature_set(out)
    assert ids.dtype == np.int64 and len(ids) == N
    again = survey.featurize(run_dir, f"file://{cutout_set}/jpg", out, scheduler="none",
                             shard_size=3, progress=None)
    assert again["skipped"] == again["shards"]


def test_a_folder_of_jpegs_becomes_fits_cutouts_by_sky_name_with_a_manifest(cutout_set, tmp_path):
    manifest = cutouts.write_fits_cutouts(cutout_set / "jpg", tmp_path / "survey", seed=3)
    table = pd.read_csv(manifest)
    assert list(table.columns) == ["id", "path", "ra", "dec", "mock_id"]
    assert len(table) == N and table["id"].is_unique and table["id"].str.match(r"MOCK J\d{6}\.\d\d[+-]\d{6}\.\d$").all()
    assert sorted(table["mock_id"]) == [500 + i for i in range(N)]
    assert table["ra"].between(0, 360).all() and table["dec"].between(-10, 70).all()
    listed = cutouts.read_manifest(manifest)
    for row, source in zip(table.itertuples(), listed["source"], strict=True):
        with fits.open(source) as hdus:
            assert hdus[0].header["OBJECT"] == row.id and hdus[0].data.dtype == np.uint8
        pixels = np.asarray(Image.open(cutout_set / "jpg" / f"{row.mock_id}.jpg").convert("RGB"))
        assert np.array_equal(images.decode(source, store.read_bytes(source)), pixels)
    with pytest.raises(DataError, match="exists already"):
        cutouts.write_fits_cutouts(cutout_set / "jpg", tmp_path / "survey", seed=3)
    with pytest.raises(DataError, match="no .jpg cutouts"):
        cutouts.write_fits_cutouts(tmp_path / "survey", tmp_path / "again")
    assert not list(tmp_path.glob(".again-*"))  # nothing half-written left behind
