"""The synthetic optical/SAR pair: seeded, on two different grids, with changes of the promised size."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import rasterio
from rasterio.warp import transform_bounds
from scipy import ndimage

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.raster.align import open_pair
from oaip_qgis.core.raster.on_grid import read_on_grid
from oaip_qgis.core.sample_pair import main, make_sample_pair


def read(path: str) -> tuple[np.ndarray, dict]:
    with rasterio.open(path) as src:
        return src.read(), {"crs": src.crs, "res": src.res, "bounds": src.bounds, "nodata": src.nodata,
                            "shape": (src.height, src.width), "transform": src.transform}


def test_same_seed_same_pair_other_seed_other_pair(tmp_path):
    a = make_sample_pair(tmp_path / "a", size=96, seed=7)
    b = make_sample_pair(tmp_path / "b", size=96, seed=7)
    c = make_sample_pair(tmp_path / "c", size=96, seed=8)
    for name in ("t1", "t2", "truth"):
        assert np.array_equal(read(a[name])[0], read(b[name])[0])
    assert not np.array_equal(read(a["t1"])[0], read(c["t1"])[0])
    assert not np.array_equal(read(a["truth"])[0], read(c["truth"])[0])


def test_images_are_heterogeneous_and_on_different_grids(sample_pair):
    t1, g1 = read(sample_pair["t1"])
    t2, g2 = read(sample_pair["t2"])
    truth, gt = read(sample_pair["truth"])
    assert t1.shape[0] == 4 and t1.dtype == np.uint16 and t2.shape[0] == 1 and t2.dtype == np.float32
    assert g1["crs"].to_epsg() == 32633 and g2["crs"].to_epsg() == 3857
    assert gt["crs"] == g1["crs"] and gt["transform"] == g1["transform"] and gt["shape"] == g1["shape"]
    assert g2["shape"][0] == g1["shape"][0] // 2           # half the pixels over about the same ground
    left, bottom, right, top = transform_bounds(g2["crs"], g1["crs"], *g2["bounds"])
    b1 = g1["bounds"]
    overlap = (min(right, b1.right) - max(left, b1.left)) * (min(top, b1.top) - max(bottom, b1.bottom))
    assert 0.8 < overlap / ((b1.right - b1.left) * (b1.top - b1.bottom)) < 1.0   # overlapping, shifted
    ground_pixel = (right - left) / g2["shape"][1]
    assert 1.8 * g1["res"][0] < ground_pixel < 2.2 * g1["res"][0]
    assert g2["nodata"] == 0 and 0 < np.mean(t2 == 0) < 0.1   # the swath edge


def test_changes_have_the_expected_size_and_sar_tells_water(sample_pair):
    truth, _ = read(sample_pair["truth"])
    assert set(np.unique(truth)) == {0, 1}
    assert 0.03 < truth.mean() < 0.25
    t2, _ = read(sample_pair["t2"])
    db = 10 * np.log10(t2[t2 > 0])
    assert np.percentile(db, 99) - np.percentile(db, 1) > 15      # dark water to bright built-up


def test_small_pairs_are_fast_and_the_cli_writes_them(tmp_path, capsys):
    start = time.perf_counter()
    make_sample_pair(tmp_path / "timed", size=256, seed=0)
    assert time.perf_counter() - start < 2.0
    main([str(tmp_path / "cli"), "--size", "64", "--seed", "2"])
    paths = json.loads(capsys.readouterr().out)
    assert sorted(paths) == ["t1", "t2", "truth"]
    assert read(paths["t1"])[1]["shape"] == (64, 64)


def test_scenarios_make_the_stress_cases(tmp_path):
    """No change, under 1 % changed, a wide river beside a flood, a flood over a quarter or a third of the scene,
    an area of interest drawn tight around a flood, and date 2 misregistered by 3 px."""
    truth = {}
    for name in ("default", "unchanged", "rare", "flood-beside-river", "wide-flood", "flooded-third", "flooded-aoi",
                 "misregistered"):
        pair = make_sample_pair(tmp_path / name, size=200, seed=2, scenario=name)
        with rasterio.open(pair["truth"]) as ds:
            truth[name] = ds.read(1)
        with rasterio.open(pair["t2"]) as ds:
            truth[name + ".t2"] = ds.transform
    assert not truth["unchanged"].any()
    assert 0 < truth["rare"].mean() < 0.01
    assert truth["flood-beside-river"].mean() > truth["default"].mean()
    assert 0.2 < truth["wide-flood"].mean() < 0.4
    assert truth["wide-flood"].mean() < truth["flooded-third"].mean() < truth["flooded-aoi"].mean()
    assert 0.35 < truth["flooded-aoi"].mean() < 0.5
    assert np.array_equal(truth["misregistered"], truth["default"])     # same scene, same changes
    east = truth["misregistered.t2"].c - truth["default.t2"].c
    south = truth["misregistered.t2"].f - truth["default.t2"].f
    pixel = truth["default.t2"].a            # a t2 pixel is two t1 pixels
    assert east == pytest.approx(1.5 * pixel) and south == pytest.approx(1.0 * truth["default.t2"].e)
    with pytest.raises(InputError, match="Unknown scenario"):
        make_sample_pair(tmp_path / "x", size=64, scenario="volcano")


def test_sar_pair_scenarios_make_date_1_a_single_look_sar_image_of_the_same_ground(tmp_path):
    optical = make_sample_pair(tmp_path / "optical", size=120, seed=2)
    sar = make_sample_pair(tmp_path / "sar", size=120, seed=2, scenario="sar-pair")
    with rasterio.open(sar["t1"]) as ds, rasterio.open(optical["t1"]) as reference:
        image = ds.read(1)
        assert ds.count == 1 and ds.dtypes[0] == "float32"
        assert ds.crs == reference.crs and ds.transform == reference.transform
    assert (image > 0).all() and image.std() / image.mean() > 0.8     # single-look speckle: about 1
    with rasterio.open(sar["truth"]) as ds, rasterio.open(optical["truth"]) as reference:
        assert np.array_equal(ds.read(1), reference.read(1))        # the same ground and changes
    with rasterio.open(make_sample_pair(tmp_path / "still", size=120, seed=2,
                                        scenario="sar-pair-unchanged")["truth"]) as ds:
        assert not ds.read(1).any()


def test_optical_pair_scenarios_make_date_2_an_8_bit_image_of_another_optical_sensor(tmp_path):
    sar = make_sample_pair(tmp_path / "sar", size=120, seed=2)
    optical = make_sample_pair(tmp_path / "optical", size=120, seed=2, scenario="optical-pair")
    with rasterio.open(optical["t2"]) as ds, rasterio.open(sar["t2"]) as reference:
        image = ds.read()
        assert ds.count == 3 and ds.dtypes[0] == "uint8" and ds.nodata == 0
        assert ds.crs == reference.crs and ds.transform == reference.transform   # date 2's grid, as the SAR image
        corner = reference.read(1) == 0
    assert (image[:, corner] == 0).all() and (image[:, ~corner] > 0).all()   # the same swath edge
    assert image[2, ~corner].mean() > image[1, ~corner].mean()                # its NIR is the vegetation's band
    with rasterio.open(optical["truth"]) as ds, rasterio.open(sar["truth"]) as reference:
        assert np.array_equal(ds.read(1), reference.read(1))        # the same ground and changes
    with rasterio.open(make_sample_pair(tmp_path / "still", size=120, seed=2,
                                        scenario="optical-pair-unchanged")["truth"]) as ds:
        assert not ds.read(1).any()


def test_sar_finer_scenarios_make_date_2_a_sar_image_of_twice_the_pixels_over_the_same_ground(tmp_path):
    coarse = make_sample_pair(tmp_path / "coarse", size=120, seed=2)
    finer = make_sample_pair(tmp_path / "finer", size=120, seed=2, scenario="sar-finer")
    with rasterio.open(finer["t2"]) as ds, rasterio.open(coarse["t2"]) as reference:
        assert ds.crs == reference.crs and ds.count == 1 and ds.dtypes[0] == "float32"
        assert (ds.width, ds.height) == (4 * reference.width, 4 * reference.height)   # 5 m against 20 m
        assert np.allclose(ds.bounds, reference.bounds)                              # over the same ground
        assert np.mean(ds.read(1) == 0) > 0                                          # its swath edge too
    with rasterio.open(finer["truth"]) as ds, rasterio.open(coarse["truth"]) as reference:
        assert np.array_equal(ds.read(1), reference.read(1))        # the same ground and changes
    for scenario, changed in (("sar-finer-unchanged", False), ("sar-finer-rare", True)):
        with rasterio.open(make_sample_pair(tmp_path / scenario, size=120, seed=2, scenario=scenario)["truth"]) as ds:
            assert bool(ds.read(1).any()) is changed


def on_t1_grid(pair: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Date 1, date 2 and the truth on date 1's grid over their overlap, as a run aligns them, and where both hold
    data."""
    with open_pair(pair["t1"], pair["t2"], grid="t1") as aligned:
        x1, x2, valid = aligned.read()
        truth = read_on_grid(pair["truth"], aligned.grid) > 0
    return x1, x2, truth, valid


def test_fire_burns_one_scar_of_forest_that_both_sensors_see_darker(tmp_path):
    """A wildfire: forest (high NIR before) turned to char over one contiguous scar; the radar after sees the
    canopy's volume scattering lost, the other optical sensor its NIR lost."""
    fire = make_sample_pair(tmp_path / "fire", size=200, seed=2, scenario="fire")
    t1, sar, burnt, seen = on_t1_grid(fire)
    assert 0.02 < burnt.mean() < 0.2
    nir = t1[3] / 10_000
    assert np.median(nir[burnt]) > 0.25                                 # it was forest
    forest = (nir > 0.25) & ~burnt & (t1[2] / 10_000 < 0.05)            # intact forest: green, dark red
    _, pieces = ndimage.label(burnt, np.ones((3, 3)))
    assert pieces <= 10 < ndimage.label(forest, np.ones((3, 3)))[1]     # a few pieces of one scar, not parcels
    assert np.median(sar[0][burnt & seen]) < 0.6 * np.median(sar[0][forest & seen])   # about −4 dB
    optical = make_sample_pair(tmp_path / "optical", size=200, seed=2, scenario="optical-pair-fire")
    truth = read(fire["truth"])[0]
    assert np.array_equal(read(optical["truth"])[0], truth)            # the same ground and scar
    radar = make_sample_pair(tmp_path / "radar", size=200, seed=2, scenario="sar-pair-fire")
    assert np.array_equal(read(radar["truth"])[0], truth) and read(radar["t1"])[0].dtype == np.float32
    same = make_sample_pair(tmp_path / "same", size=200, seed=2, scenario="same-sensor-fire")
    assert np.array_equal(read(same["truth"])[0], truth)
    with rasterio.open(same["t2"]) as ds, rasterio.open(optical["t2"]) as other:
        assert ds.count == 4 and other.count == 3 and ds.dtypes[0] == "uint8"      # its own four bands
    _, other, _, seen2 = on_t1_grid(optical)
    nir2 = other[2]
    assert np.median(nir2[burnt & seen2]) < 0.5 * np.median(nir2[forest & seen2])


def test_earthquake_collapses_whole_built_up_parcels_around_one_epicentre(tmp_path):
    """An earthquake: built-up parcels nearest an epicentre turned to rubble, darker in the radar after (no
    double bounce); nothing else changes, and the radar pair and the two optical sensors see the same ground."""
    quake = make_sample_pair(tmp_path / "quake", size=200, seed=2, scenario="earthquake")
    truth = read(quake["truth"])[0][0] == 1
    assert 0.01 < truth.mean() < 0.1
    for name, scenario in (("sar", "sar-pair-earthquake"), ("optical", "optical-pair-earthquake")):
        other = make_sample_pair(tmp_path / name, size=200, seed=2, scenario=scenario)
        assert np.array_equal(read(other["truth"])[0][0] == 1, truth)
    t1, sar, truth, seen = on_t1_grid(quake)
    rows, cols = np.nonzero(truth)
    built = np.all(np.abs(t1[:3] / 10_000 - 0.125) < 0.04, axis=0) & (np.abs(t1[3] / 10_000 - 0.18) < 0.05)
    b_rows, b_cols = np.nonzero(built & ~truth)
    spread = np.hypot(rows - rows.mean(), cols - cols.mean()).mean()
    assert spread < 0.6 * np.hypot(b_rows - rows.mean(), b_cols - cols.mean()).mean()   # around one place
    assert built[truth].mean() > 0.8                                    # it was built-up
    assert np.median(sar[0][truth & seen]) < 0.5 * np.median(sar[0][built & ~truth & seen])   # about −6 dB
