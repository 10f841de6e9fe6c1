"""The benchmarks' own helpers: a wrong best-threshold Kappa, unchanged square or size gap would flatter them."""
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_accuracy import best_kappa, crops_line, summarise_crops  # noqa: E402
from bench_pair_scale import rescaled, write_variant  # noqa: E402
from bench_scale import building_samples, largest_against_first, object_recall  # noqa: E402
from pair_scenes import missed_regions, part_aois, part_crops, unchanged_square  # noqa: E402
from rendering import render_as_published  # noqa: E402


def test_the_unchanged_square_keeps_its_margin_from_every_changed_pixel():
    truth = np.zeros((50, 60), int)
    truth[10, 10] = 1
    assert unchanged_square(truth, margin=2) == (0, 13, 47)   # columns 13–59, clear of 8–12
    truth[:, 40] = 1   # now columns 0–37 below row 12 are the largest clear block
    row, col, side = unchanged_square(truth, margin=2)
    assert (row, col, side) == (13, 0, 37)
    assert truth[max(row - 2, 0):row + side + 2, max(col - 2, 0):col + side + 2].sum() == 0


def test_missed_regions_are_the_large_ones_the_map_marks_little_of():
    truth = np.zeros((40, 40), np.uint8)
    truth[2:12, 2:12] = 1      # 100 px, marked whole
    truth[20:30, 2:12] = 1     # 100 px, a fifth marked: missed
    truth[20:30, 20:30] = 1    # 100 px, nothing marked: missed
    truth[35:37, 35:37] = 1    # 4 px: too small to draw
    change = np.zeros_like(truth)
    change[2:12, 2:12] = 1
    change[20:22, 2:12] = 1
    regions, missed = missed_regions(change, truth, least=50)
    assert sorted(regions[20, 2:3].tolist() + regions[20, 20:21].tolist()) == sorted(missed.tolist())
    assert len(missed) == 2


def test_best_kappa_finds_the_separating_threshold_and_none_with_one_class():
    score = np.array([0.1, 0.2, 0.3, 0.9, 0.8])
    assert best_kappa(score, np.array([0, 0, 0, 1, 1], bool)) == pytest.approx(1.0)
    assert best_kappa(score, np.zeros(5, bool)) is None


def test_the_size_gap_pairs_each_seed_with_itself_and_reports_the_worst():
    rows = [{"size": 1000, "seed": 0, "kappa": 0.74, "peak_rss_bytes": 2**30, "kappa_without_new_buildings": 0.9},
            {"size": 1000, "seed": 1, "kappa": 0.70, "peak_rss_bytes": 2**30, "kappa_without_new_buildings": 0.9},
            {"size": 10980, "seed": 0, "kappa": 0.72, "peak_rss_bytes": 3 * 2**29, "kappa_without_new_buildings": 0.95},
            {"size": 10980, "seed": 1, "kappa": 0.64, "peak_rss_bytes": 2**31, "kappa_without_new_buildings": 0.91}]
    report = largest_against_first(rows)
    assert report["kappa_gap_largest_vs_first"]["per_seed"] == pytest.approx([0.02, 0.06])
    assert report["kappa_gap_largest_vs_first"]["worst"] == pytest.approx(0.06)
    assert report["kappa_gap_largest_vs_first"]["mean"] == pytest.approx(0.04)
    assert report["peak_rss_largest_gib"] == 2.0
    assert report["kappa_without_new_buildings_gap_largest_vs_first"]["per_seed"] == pytest.approx([-0.05, -0.01])


def test_object_recall_counts_the_buildings_apart_from_the_rest(tmp_path):
    """A map that finds the flood and misses the one new building: recall 0, and the rest's Kappa 1."""
    objects, truth, change = (np.zeros((16, 16), dtype) for dtype in (np.int32, np.uint8, np.uint8))
    objects[2:6, 2:6] = 7                 # a 4-px building, parcel id 6 + 1
    truth[2:6, 2:6] = 1
    truth[10:, :] = 1                     # the flood: 96 px
    change[10:, :] = 1
    change[0, :] = 255                    # nodata along the top row: not counted
    paths = {}
    for name, data in (("objects", objects), ("truth", truth), ("change", change)):
        paths[name] = str(tmp_path / f"{name}.tif")
        with rasterio.open(paths[name], "w", driver="GTiff", width=16, height=16, count=1, dtype=data.dtype,
                           transform=from_origin(0, 16, 1, 1)) as ds:
            ds.write(data[None])
    report = object_recall(paths["change"], paths["objects"], paths["truth"])
    assert report["objects"] == 1 and report["recall"] == 0 and report["recall_10_20px"] is None
    assert report["built_share_of_change"] == pytest.approx(16 / 112, abs=1e-4)
    assert report["kappa_without_new_buildings"] == pytest.approx(1.0)
    change[10:12, :] = 0                  # now part of the flood is missed too
    with rasterio.open(paths["change"], "r+") as ds:
        ds.write(change[None])
    assert object_recall(paths["change"], paths["objects"], paths["truth"])["kappa_without_new_buildings"] < 0.9


def test_drawn_buildings_are_their_own_outlines_and_left_out_of_the_recall(tmp_path):
    """Three of four buildings drawn: each polygon covers its building's pixels and nothing else, and the
    recall over the one not drawn is the map's on that one alone."""
    from oaip_qgis.core.raster.grid import Grid
    from oaip_qgis.core.raster.samples import rasterize_samples

    objects = np.zeros((300, 300), np.int32)
    truth = np.zeros((300, 300), np.uint8)
    for i, (row, col) in enumerate(((10, 10), (10, 150), (150, 10), (150, 150))):
        objects[row:row + 20 + 5 * i, col:col + 20] = i + 1
    truth[objects > 0] = 1
    change = truth.copy()
    change[objects == 4] = 0              # the map misses building 4
    paths = {}
    for name, data in (("objects", objects), ("truth", truth), ("change", change)):
        paths[name] = str(tmp_path / f"{name}.tif")
        with rasterio.open(paths[name], "w", driver="GTiff", width=300, height=300, count=1, dtype=data.dtype,
                           crs="EPSG:32633", transform=from_origin(500000, 4000000, 10, 10), tiled=True,
                           blockxsize=128, blockysize=128) as ds:
            ds.write(data[None])
    drawn = building_samples(paths["objects"], tmp_path / "s.gpkg", 3, pixels=(300, 1000))
    assert len(set(drawn)) == 3 and set(drawn) <= {1, 2, 3, 4}
    grid = Grid(rasterio.open(paths["objects"]).crs.to_wkt(), (500000, 10, 0, 4000000, 0, -10), 300, 300)
    burnt, _ = rasterize_samples(str(tmp_path / "s.gpkg"), grid)
    assert np.array_equal(burnt == 1, np.isin(objects, drawn))
    left = ({1, 2, 3, 4} - set(drawn)).pop()
    report = object_recall(paths["change"], paths["objects"], paths["truth"], tuple(drawn))
    assert report["objects"] == 1 and report["recall"] == (0.0 if left == 4 else 1.0)


def test_the_pair_is_cut_into_parts_that_keep_their_place_on_the_ground(tmp_path):
    folder = tmp_path / "pair"
    folder.mkdir()
    for name in ("t1", "t2", "gt"):
        data = np.arange(12 * 18, dtype=np.uint8).reshape(1, 12, 18)
        with rasterio.open(folder / f"{name}.tif", "w", driver="GTiff", width=18, height=12, count=1,
                           dtype="uint8", transform=from_origin(100, 50, 2, 2)) as ds:
            ds.write(data)
    parts = part_crops(folder, tmp_path / "parts", splits=(2, 3))
    assert len(parts) == 4 + 9 and set(parts["3-12"]) == {"t1", "t2", "gt"}
    with rasterio.open(parts["3-12"]["gt"]) as ds:   # row 1, column 2 of 3 × 3: 4 × 6 px from (4, 12)
        assert (ds.height, ds.width) == (4, 6) and ds.transform.c == 100 + 12 * 2 and ds.transform.f == 50 - 4 * 2
        assert ds.read(1)[0, 0] == 4 * 18 + 12


def test_the_parts_drawn_as_aois_cover_the_parts_cut(tmp_path):
    from osgeo import ogr

    folder = tmp_path / "pair"
    folder.mkdir()
    with rasterio.open(folder / "gt.tif", "w", driver="GTiff", width=18, height=12, count=1, dtype="uint8",
                       transform=from_origin(100, 50, 2, 2), crs="EPSG:32633") as ds:
        ds.write(np.zeros((1, 12, 18), np.uint8))
    aois = part_aois(folder, tmp_path / "aois", splits=(2, 3))
    assert len(aois) == 13
    source = ogr.Open(aois["3-12"])   # row 1, column 2 of 3 × 3: 4 × 6 px from (4, 12)
    assert source.GetLayer(0).GetExtent() == (100 + 12 * 2, 100 + 18 * 2, 50 - 8 * 2, 50 - 4 * 2)
    assert source.GetLayer(0).GetSpatialRef().GetAuthorityCode(None) == "32633"


def test_a_pair_is_written_finer_wider_and_coarser_on_the_same_ground(tmp_path):
    folder = tmp_path / "pair"
    folder.mkdir()
    for name in ("t1", "t2", "gt"):
        data = (np.arange(6 * 8).reshape(1, 6, 8) % 2 if name == "gt" else np.arange(6 * 8).reshape(1, 6, 8))
        with rasterio.open(folder / f"{name}.tif", "w", driver="GTiff", width=8, height=6, count=1,
                           dtype="uint8", transform=from_origin(100, 50, 2, 2)) as ds:
            ds.write(data.astype(np.uint8))
    sides = {}
    for variant, shape in (("finer", (12, 16)), ("wider", (12, 16)), ("coarser", (3, 4))):
        paths = write_variant(folder, tmp_path / variant, variant)
        with rasterio.open(paths["t1"]) as ds:
            assert (ds.height, ds.width) == shape and (ds.transform.c, ds.transform.f) == (100, 50)
            sides[variant] = ds.transform.a
    assert sides == {"finer": 1, "wider": 2, "coarser": 4}


def test_finer_splits_pixels_wider_repeats_and_coarser_averages_with_change_where_half_changed():
    image = np.array([[[1, 2], [3, 4]]], np.uint8)
    assert (rescaled(image, "finer", truth=False)[0, :2, :2] == 1).all()
    wider = rescaled(image, "wider", truth=False)[0]
    assert wider.tolist() == [[1, 2, 1, 2], [3, 4, 3, 4], [1, 2, 1, 2], [3, 4, 3, 4]]   # a shift stays one shift
    values = np.array([[[10, 20, 7], [30, 40, 7]]], np.uint8)   # the odd column is left out
    assert rescaled(values, "coarser", truth=False).tolist() == [[[25]]]
    truth = np.array([[[1, 1, 1, 0], [0, 0, 0, 0]]], np.uint8)
    assert rescaled(truth, "coarser", truth=True).tolist() == [[[1, 0]]]   # half changed: changed; a quarter: not
    with pytest.raises(ValueError, match="finer, wider, coarser"):
        rescaled(image, "sharper", truth=False)


def test_the_crop_summary_keeps_strong_evidence_and_unchanged_crops_apart():
    rows = {"a": {"kappa": 0.8, "best_kappa": 0.9, "truth_fraction": 0.05, "changed_fraction": 0.05,
                  "significant": True, "peak": 6.0},
            "b": {"kappa": 0.2, "best_kappa": 0.7, "truth_fraction": 0.01, "changed_fraction": 0.1,
                  "significant": True, "peak": 3.0},      # weak evidence
            "c": {"kappa": 0.0, "best_kappa": None, "truth_fraction": 0.0, "changed_fraction": 0.04,
                  "significant": True, "peak": None}}     # a zero median: infinite peak, no change
    summary = summarise_crops(rows)
    assert summary["with_change"] == 2 and summary["mean_kappa"] == pytest.approx(0.5)
    assert summary["strong_with_change"] == 1 and summary["strong_mean_kappa"] == pytest.approx(0.8)
    assert summary["without_change"] == 1 and summary["unchanged_mean_marked"] == pytest.approx(0.04)


@pytest.mark.parametrize("sar_first", [False, True])
def test_a_generated_pair_is_rendered_as_the_public_pairs_are(tmp_path, sar_first):
    from oaip_qgis.core.sample_pair import make_sample_pair
    pair = make_sample_pair(tmp_path / "native", size=96, seed=1)
    rendered = render_as_published(pair, tmp_path / "rendered", sar_first)
    with rasterio.open(pair["truth"]) as ds:
        truth = ds.read(1)
    images = {}
    for name in ("t1", "t2", "gt"):
        with rasterio.open(rendered[name]) as ds:
            assert ds.dtypes[0] == "uint8" and ds.nodata is None and ds.crs.to_epsg() == 3857
            images[name] = ds.read()
    sar, optical = (images["t1"], images["t2"]) if sar_first else (images["t2"], images["t1"])
    assert sar.shape[0] == 1 and optical.shape[0] == 3
    side = images["gt"].shape[1]
    assert images["gt"].shape[1:] == (side, side) == sar.shape[1:] == optical.shape[1:]
    assert 60 < side < 96   # the swath edge's corner is cut off, the rest kept
    assert np.array_equal(images["gt"][0], truth[-side:, -side:])   # the truth keeps its place
    assert sar.min() >= 1 and optical.min() >= 1   # no nodata left: the corner is outside the square
    for band in np.concatenate([sar, optical]):   # each stretched between its own 1st and 99th percentiles
        assert np.percentile(band, 1) <= 3 and np.percentile(band, 99) >= 253


def test_a_sar_composite_holds_vv_a_noisier_vh_and_a_ratio_of_noise(tmp_path):
    from oaip_qgis.core.labels.band_weights import coherent_weights
    from oaip_qgis.core.sample_pair import make_sample_pair
    pair = make_sample_pair(tmp_path / "native", size=160, seed=1)
    single = render_as_published(pair, tmp_path / "single")
    composite = render_as_published(pair, tmp_path / "composite", composite=True)
    with rasterio.open(single["t2"]) as a, rasterio.open(composite["t2"]) as b:
        vv, sar = a.read(1), b.read().astype(np.float32)
    assert sar.shape[0] == 3 and np.array_equal(sar[0], vv)   # VV as the one-band rendering has it
    weights = coherent_weights(sar, np.ones(vv.shape, bool))
    assert weights[0] == 1 and weights[2] < 0.5 * weights[1]   # the ratio is VH's speckle alone


def test_a_crops_summary_without_crops_prints_dashes_instead_of_failing():
    """`--pairs italy` leaves the ONE_KIND crops (radar pairs only) empty: the summary line once raised a TypeError
    after the whole run; its figures are dashes instead."""
    empty = crops_line("prior_one_kind", summarise_crops({}))
    assert "0 with change" in empty and empty.endswith("0 without change, - % marked, 0 reported unchanged")
    one = {"a": {"kappa": 0.5, "best_kappa": 0.6, "changed_fraction": 0.1, "truth_fraction": 0.2, "significant": True,
                 "groups": 0, "peak": 5.0},
           "b": {"kappa": None, "best_kappa": None, "changed_fraction": 0.0123, "truth_fraction": 0.0,
                 "significant": False, "groups": 0, "peak": 1.5, "verdict": "none"}}
    assert crops_line("prior", summarise_crops(one)).endswith("1 without change, 1.23 % marked, 1 reported unchanged")


def test_the_engine_bench_times_its_three_training_steps(monkeypatch):
    """`make bench`'s first target failed on a runner's changed signature, and nothing ran it."""
    import bench_engine

    from oaip_qgis.core.model.init_weights import initial_weights

    monkeypatch.setattr(bench_engine, "STEPS", 3)
    spec = bench_engine.CONFIG.spec()
    row = bench_engine.compare(spec, initial_weights(spec, bench_engine.BANDS, 0), 2, 8)
    assert min(row["int8_step_seconds"], row["int8_torch_ops_step_seconds"], row["fp32_step_seconds"]) > 0
    assert 0 < row["memory_ratio"] < 1   # int8 holds less than fp32 for the same step


def test_every_constant_leave_one_pair_out_chooses_among_is_the_code_s_own():
    """A constant the code no longer has (structural_prior.COMBINE) made `make bench-accuracy` fail at its end."""
    from bench_accuracy import LOPO, shipped_value

    for name, (values, _mode) in LOPO.items():
        assert shipped_value(name) in values, name
