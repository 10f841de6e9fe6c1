"""The benchmarks' own helpers: a wrong best-threshold Kappa, unchanged square or size gap would flatter them."""
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from bench_accuracy import best_kappa, unchanged_square  # noqa: E402
from bench_scale import largest_against_first, object_recall  # noqa: E402


def test_the_unchanged_square_keeps_its_margin_from_every_changed_pixel():
    truth = np.zeros((50, 60), int)
    truth[10, 10] = 1
    assert unchanged_square(truth, margin=2) == (0, 13, 47)   # columns 13–59, clear of 8–12
    truth[:, 40] = 1   # now columns 0–37 below row 12 are the largest clear block
    row, col, side = unchanged_square(truth, margin=2)
    assert (row, col, side) == (13, 0, 37)
    assert truth[max(row - 2, 0):row + side + 2, max(col - 2, 0):col + side + 2].sum() == 0


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
