"""Another threshold after a run: new files with their own polygons and statistics; the run's stay as written."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from osgeo import gdal, ogr

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import run
from oaip_qgis.core.rethreshold import difference_histogram, rethreshold
from tests.helpers import make_raster


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def finished(sample_pair, tmp_path_factory):
    """A run with a manual threshold: the slider's own rule (an automatic one adds the evidence floor)."""
    folder = tmp_path_factory.mktemp("run")
    result = run(RunParams(t1=sample_pair["t1"], t2=sample_pair["t2"], reference=sample_pair["truth"], mode="prior",
                           threshold_method="manual", threshold=0.35,
                           out_change=str(folder / "change.tif"), out_difference=str(folder / "difference.tif"),
                           out_polygons=str(folder / "changes.gpkg"), out_stats=str(folder / "stats.json")))
    return folder, result.stats


def test_a_new_threshold_writes_its_own_files_and_leaves_the_runs_alone(finished, sample_pair, tmp_path):
    folder, stats = finished
    before = {name: digest(folder / name) for name in ("change.tif", "changes.gpkg", "stats.json")}
    out = {"out_polygons": str(tmp_path / "changes_0.9.gpkg"), "out_stats": str(tmp_path / "stats_0.9.json")}
    new = rethreshold(stats, str(folder / "difference.tif"), 0.9, str(tmp_path / "change_0.9.tif"),
                      reference=sample_pair["truth"], **out)
    assert {name: digest(folder / name) for name in before} == before
    difference = gdal.Open(str(folder / "difference.tif")).ReadAsArray()
    change = gdal.Open(str(tmp_path / "change_0.9.tif")).ReadAsArray()
    valid = difference >= 0
    assert np.array_equal(change[valid] == 1, difference[valid] > 0.9) and (change[~valid] == 255).all()
    written = json.loads(open(out["out_stats"]).read())
    assert written == new.to_dict() and written["threshold"] == 0.9 and written["run_threshold"] == stats.threshold
    assert written["changed_fraction"] == pytest.approx((change == 1).sum() / valid.sum(), abs=1e-6)
    assert written["metrics"]["tp"] + written["metrics"]["fp"] == (change == 1).sum()
    assert ogr.Open(out["out_polygons"]).GetLayer(0).GetFeatureCount() == written["polygons"]


@pytest.mark.parametrize("stop_at", [0.0, 0.6])   # as the difference image is cut; as its polygons are made
def test_a_cut_reports_its_progress_and_a_cancel_leaves_no_file(finished, tmp_path, stop_at):
    from oaip_qgis.core.errors import Cancelled
    from oaip_qgis.core.progress import Progress

    folder, stats = finished
    shown: list[tuple[float, str]] = [(0.0, "")]
    progress = Progress(report=lambda f, m: shown.append((f, m)),
                        is_cancelled=lambda: len(shown) > 1 and shown[-1][0] >= stop_at)
    with pytest.raises(Cancelled):
        rethreshold(stats, str(folder / "difference.tif"), 0.9, str(tmp_path / "change.tif"),
                    out_polygons=str(tmp_path / "changes.gpkg"), out_stats=str(tmp_path / "stats.json"),
                    progress=progress)
    assert list(tmp_path.iterdir()) == []
    assert shown[-1][1].startswith("Cutting the difference image at 0.900" if stop_at < 0.5 else
                                   "Writing the change polygons")


def test_a_cut_writes_new_files_only_and_takes_a_threshold_of_the_score(finished, sample_pair, tmp_path):
    """It wrote wherever it was told: over the run's T1, over the difference image it cuts (every later cut
    then gave one figure), over the run's own change layer; and 1.5, NaN or "0.4" ran or gave a traceback."""
    from oaip_qgis.core.errors import InputError

    folder, stats = finished
    difference = str(folder / "difference.tif")
    before = {name: digest(folder / name) for name in ("change.tif", "difference.tif", "stats.json")}
    t1_before = digest(sample_pair["t1"])
    for target, shown in ((sample_pair["t1"], "also an input of the run"), (difference, "also an input of the run"),
                          (str(folder / "change.tif"), "exists already"), (str(tmp_path / "c.png"), "GeoTIFF")):
        with pytest.raises(InputError, match=shown):
            rethreshold(stats, difference, 0.4, target)
    with pytest.raises(InputError, match="exists already"):
        rethreshold(stats, difference, 0.4, str(tmp_path / "new.tif"), out_stats=str(folder / "stats.json"))
    for threshold in (1.5, 1.0, -0.2, float("nan"), "0.4"):   # 1 marked nothing, the changed samples included
        with pytest.raises(InputError, match="needs a value from 0 to below 1, not|must be a number"):
            rethreshold(stats, difference, threshold, str(tmp_path / "new.tif"))
    with pytest.raises(InputError, match=r"needs a value from 0 to below 1, not 1\.5 "):   # the value named
        rethreshold(stats, difference, 1.5, str(tmp_path / "new.tif"))
    # The run's change map given as its difference image (every cut gave the run's map back), an image as the
    # reference (Kappa 0): refused, as a run refuses them.
    with pytest.raises(InputError, match="holds Byte values, not the change score"):
        rethreshold(stats, str(folder / "change.tif"), 0.4, str(tmp_path / "new.tif"))
    with pytest.raises(InputError, match="Reference: .* not a mask|Reference: .*different values"):
        rethreshold(stats, difference, 0.4, str(tmp_path / "new.tif"), reference=sample_pair["t2"])
    assert {name: digest(folder / name) for name in before} == before and digest(sample_pair["t1"]) == t1_before
    assert not (tmp_path / "new.tif").exists()


def test_at_the_runs_own_threshold_it_reproduces_the_run(finished, sample_pair, tmp_path):
    folder, stats = finished
    same = rethreshold(stats, str(folder / "difference.tif"), stats.threshold, str(tmp_path / "c.tif"),
                       reference=sample_pair["truth"])
    assert np.array_equal(
        gdal.Open(str(tmp_path / "c.tif")).ReadAsArray(), gdal.Open(str(folder / "change.tif")).ReadAsArray())
    assert same.metrics == stats.metrics
    assert same.changed_area == stats.changed_area
    without = rethreshold(stats, str(folder / "difference.tif"), 0.5, str(tmp_path / "d.tif"))
    assert without.metrics is None      # the run's were measured at another threshold


def test_a_wrong_or_missing_difference_image_is_one_sentence_and_writes_nothing(finished, tmp_path):
    """The dock's slider names the file and what to give instead: it was a ValueError in English only (not
    through tr) for another grid, and GDAL's own error for a missing file."""
    from oaip_qgis.core.errors import InputError

    folder, stats = finished
    other = tmp_path / "other.tif"
    gdal.Translate(str(other), str(folder / "difference.tif"), srcWin=[0, 0, 20, 10])
    with pytest.raises(InputError, match=r"'.*other\.tif' is 20 × 10 pixels, not the run's \d+ × \d+"):
        rethreshold(stats, str(other), 0.6, str(tmp_path / "c.tif"))
    with pytest.raises(InputError, match=r"Difference image: the file '.*absent\.tif' does not exist"):
        rethreshold(stats, str(tmp_path / "absent.tif"), 0.6, str(tmp_path / "c.tif"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.tif"]


def test_a_difference_image_of_the_runs_size_but_not_its_own_is_refused(finished, sample_pair, tmp_path):
    """Any raster of the grid's size was cut under the run's statistics: another run written into the same folder
    since (the dock keeps the first run's statistics while its slider reads the file), the confidence layer."""
    from oaip_qgis.core.errors import InputError

    folder, stats = finished
    later = run(RunParams(t1=sample_pair["t1"], t2=sample_pair["t2"], mode="prior", threshold_method="manual",
                          threshold=0.35, seed=1, out_difference=str(tmp_path / "later.tif"),
                          out_confidence=str(tmp_path / "confidence.tif")))
    assert later.stats.changed_fraction != stats.changed_fraction
    for name in ("later.tif", "confidence.tif"):
        with pytest.raises(InputError, match=rf"'.*{name}' is not the difference image of this run: cut at the run's "
                                             r"threshold \(0.35\) it marks .* of \d+ valid pixels changed, the run"):
            rethreshold(stats, str(tmp_path / name), 0.6, str(tmp_path / "c.tif"))
    assert not (tmp_path / "c.tif").exists()
    rethreshold(later.stats, str(tmp_path / "later.tif"), 0.6, str(tmp_path / "c.tif"))   # with its own: cut


def test_a_re_threshold_says_the_evidence_verdict_no_longer_decides(sample_pair, tmp_path):
    """A re-threshold kept the automatic run's `evidence.applied`: an unchanged scene's statistics said its verdict
    ("the prior marks no place changed") was applied beside the changed area the manual cut marks."""
    result = run(RunParams(t1=sample_pair["t1"], t2=sample_pair["t2"], mode="prior",
                           out_difference=str(tmp_path / "d.tif"), out_stats=str(tmp_path / "s.json")))
    assert result.stats.evidence["applied"] is True
    again = rethreshold(result.stats, str(tmp_path / "d.tif"), 0.3, str(tmp_path / "c.tif"))
    assert again.evidence["applied"] is False and again.evidence["verdict"] == result.stats.evidence["verdict"]


def test_pixels_without_a_prior_are_nodata_and_the_run_and_a_re_threshold_count_alike(tmp_path):
    """T1 with a fine checkerboard of nodata over its left half: pixels with data in both images but no whole
    block near enough for a prior were written as NaN into the difference image and counted as valid and
    unchanged by the run, while a re-threshold at the same threshold left them out."""

    rng = np.random.default_rng(0)
    base = np.kron(rng.random((20, 20)), np.ones((10, 10))).astype(np.float32) * 100 + rng.random((200, 200))
    t2 = base + rng.random((200, 200)).astype(np.float32) * 2
    t2[120:160, 130:170] = 300 - t2[120:160, 130:170]
    rows, cols = np.indices((200, 200))
    t1 = np.where(((rows // 2 + cols // 2) % 2 == 0) & (cols < 100), -9999, base)
    t1, t2 = make_raster(tmp_path / "t1.tif", t1, nodata=-9999), make_raster(tmp_path / "t2.tif", t2)
    result = run(RunParams(t1=t1, t2=t2, mode="prior", threshold_method="manual", threshold=0.3,
                           out_stats=str(tmp_path / "s.json"), out_difference=str(tmp_path / "d.tif"),
                           out_change=str(tmp_path / "c.tif")))
    difference = gdal.Open(str(tmp_path / "d.tif")).ReadAsArray()
    assert not np.isnan(difference).any() and (difference == -1).sum() > 10_000
    again = rethreshold(result.stats, str(tmp_path / "d.tif"), result.stats.threshold, str(tmp_path / "c2.tif"))
    assert (again.valid_pixels, again.changed_fraction) == (result.stats.valid_pixels, result.stats.changed_fraction)


def test_the_slider_s_histogram_counts_every_valid_value_once_and_names_an_unreadable_file(tmp_path):
    rng = np.random.default_rng(5)
    diff = rng.random((700, 90)).astype(np.float32)   # more rows than one strip
    diff[:3, :] = -1.0                                 # the difference image's nodata
    diff[5, 5] = 1.0
    counts = difference_histogram(make_raster(tmp_path / "difference.tif", diff, nodata=-1.0), bins=10)
    valid = diff[diff != -1.0]
    assert sum(counts) == valid.size   # 1.0 counted, nodata not
    assert counts[0] == np.count_nonzero(valid < 0.1)
    (tmp_path / "gone.tif").write_text("not a raster")
    with pytest.raises(InputError, match="Difference image: '.*gone.tif' is not a raster that GDAL can read"):
        difference_histogram(str(tmp_path / "gone.tif"))
