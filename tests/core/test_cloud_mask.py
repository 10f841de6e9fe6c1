"""Cloud in an optical date: the note that names it, MASK_CLOUDS that leaves it out, and the rules beneath."""
import json

import numpy as np
import pytest
from osgeo import gdal
from scipy import ndimage

from oaip_qgis.core.decision.cut import CHANGE_NODATA
from oaip_qgis.core.decision.evidence import weigh_evidence
from oaip_qgis.core.errors import InputError
from oaip_qgis.core.labels.direct_comparison import Measures
from oaip_qgis.core.normalise import Normaliser
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import run
from oaip_qgis.core.progress import Progress
from oaip_qgis.core.raster.cloud_mask import CloudCells, cloud_cells, white_levels, white_share
from oaip_qgis.core.raster.grid import Window
from oaip_qgis.core.sample_pair import make_sample_pair
from oaip_qgis.core.stages import Blocks
from oaip_qgis.core.stages.prior import _white_places
from tests.helpers import write_samples

NOTE = "run again with MASK_CLOUDS"


def _optical(bands: int = 3) -> Normaliser:
    return Normaliser("optical", np.zeros(bands, np.float32), np.full(bands, 100.0, np.float32))


def test_only_an_optical_image_of_several_bands_has_white_places():
    assert white_levels(_optical(), radar=False).tolist() == pytest.approx([90.0] * 3)
    assert white_levels(_optical(1), radar=False) is None            # bright sand in a panchromatic image
    assert white_levels(_optical(), radar=True) is None              # a radar's decibels: a bright city
    assert white_levels(Normaliser("sar", np.zeros(2), np.ones(2), np.ones(2)), radar=True) is None


def test_a_cloud_is_its_white_core_and_the_hazy_edge_beside_it_not_bright_land_further_away():
    x = np.full((3, 9, 9), 10.0, np.float32)
    x[:, 4, 4] = 95.0          # white
    x[:, 4, 5] = 40.0          # hazy, beside it
    x[:, 0, 0] = 40.0          # as bright, away from any white place
    x[0, 8, 8], x[1:, 8, 8] = 95.0, 5.0   # bright in one band only: a coloured roof, vegetation in NIR
    cells = cloud_cells(x, _optical(), radar=False)
    assert cells[4, 4] and cells[4, 5]
    assert not cells[0, 0] and not cells[8, 8]
    assert cells.sum() == 2
    assert cloud_cells(x, _optical(), radar=True) is None


def test_a_large_cloud_s_hazy_edge_reaches_further_than_a_small_one_s():
    """The generated cloudy scene's cloud fades over some ten blocks: with an edge of one block the fading part was
    marked changed and the flood beside it not at all."""
    x = np.full((3, 40, 40), 10.0, np.float32)
    x[:, 5:15, 5:15] = 95.0     # a white region of 100 blocks: its edge reaches round(0.3 × 10) = 3 blocks
    x[:, 5:15, 15:20] = 40.0    # hazy beside it, 1 to 5 blocks away
    x[:, 30, 30] = 95.0         # one white block: its edge reaches one block
    x[:, 30, 31:34] = 40.0
    cells = cloud_cells(x, _optical(), radar=False)
    assert cells[5:15, 15:18].all() and not cells[5:15, 18:20].any()
    assert cells[30, 30:32].all() and not cells[30, 32:34].any()
    x[:, 10, 19] = 95.0         # a white speck beside the large cloud's edge does not shorten that edge
    assert cloud_cells(x, _optical(), radar=False)[5:15, 15:18].all()


def test_the_blocks_are_found_again_at_any_read_of_the_grid():
    cells = np.zeros((5, 5), bool)
    cells[1, 2] = True                       # grid 10 x 10 pixels: block (1, 2) is rows 2-3, columns 4-5
    found = CloudCells(cells, (10, 10))
    full = found.at(Window(0, 0, 10, 10), (10, 10))
    assert np.argwhere(full).tolist() == [[2, 4], [2, 5], [3, 4], [3, 5]]
    tile = found.at(Window(3, 1, 4, 4), (4, 4))   # columns 3-6, rows 1-4
    assert np.argwhere(tile).tolist() == [[1, 1], [1, 2], [2, 1], [2, 2]]
    assert found.at(Window(0, 0, 10, 10), (5, 5)).tolist() == cells.tolist()
    inner = CloudCells(cells, (10, 10), origin=(2, 3))   # a grid whose first pixel is the found grid's (2, 3)
    assert np.argwhere(inner.at(Window(0, 0, 7, 8), (8, 7))).tolist() == [[0, 1], [0, 2], [1, 1], [1, 2]]


def test_white_share_of_the_marked_change():
    white = np.array([[True, False], [False, False]])
    assert white_share(white, np.array([[True, True], [False, False]])) == 0.5
    assert white_share(white, np.zeros((2, 2), bool)) == 0.0


def test_the_cloudy_scenario_clouds_the_optical_date_and_leaves_the_truth_as_it_was(tmp_path):
    clear = make_sample_pair(tmp_path / "clear", size=120, seed=3)
    cloudy = make_sample_pair(tmp_path / "cloudy", size=120, seed=3, scenario="cloudy")
    read = [gdal.Open(path).ReadAsArray().astype(float) for path in (clear["truth"], cloudy["truth"],
                                                                     clear["t1"], cloudy["t1"])]
    assert np.array_equal(read[0], read[1])
    brighter = (read[3] - read[2]).min(axis=0)   # cloud brightens every band, NIR included
    assert 0.03 < (brighter > 2000).mean() < 0.3
    assert (brighter >= -1).all()
    assert np.array_equal(gdal.Open(clear["t2"]).ReadAsArray(), gdal.Open(cloudy["t2"]).ReadAsArray())


def test_cloud_over_the_second_optical_image_is_named_and_left_out_with_mask_clouds(tmp_path):
    """Thick cloud over about a tenth of the second optical sensor's image (200², seed 1): without MASK_CLOUDS
    most of the change marked is cloud, and the log and stats.json say so; with it the cloud is no data in the
    change layer and the flood is mapped (Kappa 0.17 → 0.78)."""
    pair = make_sample_pair(tmp_path / "scene", size=200, seed=1, scenario="optical-pair-cloudy")
    maps = {}
    for mask in (False, True):
        out = tmp_path / f"mask{mask}"
        out.mkdir()
        result = run(RunParams(t1=pair["t1"], t2=pair["t2"], mode="prior", reference=pair["truth"], mask_clouds=mask,
                               out_change=str(out / "change.tif"), out_stats=str(out / "stats.json")))
        stats = json.loads((out / "stats.json").read_text())
        maps[mask] = (result, stats, gdal.Open(str(out / "change.tif")).ReadAsArray())
    (plain, plain_stats, _), (masked, masked_stats, change) = maps[False], maps[True]
    assert any(NOTE in line for line in plain.log)
    assert plain_stats["white_places"]["T2"]["marked_on_white"] >= 1 / 3
    assert plain_stats["white_places"]["masked"] is False
    assert not any(NOTE in line for line in masked.log)
    assert any(line.startswith("MASK_CLOUDS:") for line in masked.log)
    assert masked_stats["white_places"]["masked"] is True
    assert masked_stats["parameters"]["mask_clouds"] is True
    assert masked.stats.metrics["kappa"] > plain.stats.metrics["kappa"] + 0.3
    # the white share is of the overlap as given, masked or not (it was of what the mask left, and larger)
    assert masked_stats["white_places"]["T2"]["white"] == plain_stats["white_places"]["T2"]["white"]
    assert 0.05 < (change == CHANGE_NODATA).mean() < 0.3


def test_a_cloud_fading_over_a_wide_edge_is_left_out_with_it(tmp_path):
    """Cloud over the optical T1 before a radar's flood (600², seed 2): the flood was not mapped (Kappa −0.06), nor
    with the cloud's white places and an edge of one block left out (−0.03)."""
    pair = make_sample_pair(tmp_path / "scene", size=600, seed=2, scenario="cloudy")
    kappas = [run(RunParams(t1=pair["t1"], t2=pair["t2"], mode="prior", reference=pair["truth"], mask_clouds=mask,
                            out_stats=str(tmp_path / "stats.json"))).stats.metrics["kappa"] for mask in (False, True)]
    assert kappas[0] < 0.2 and kappas[1] > 0.6


def test_a_clear_optical_pair_gets_no_cloud_note(tmp_path):
    pair = make_sample_pair(tmp_path / "scene", size=200, seed=1, scenario="optical-pair")
    result = run(RunParams(t1=pair["t1"], t2=pair["t2"], mode="prior", out_stats=str(tmp_path / "stats.json")))
    assert not any(NOTE in line for line in result.log)
    assert result.stats.white_places["T2"]["marked_on_white"] == 0.0


def test_mask_clouds_with_no_optical_image_of_several_bands_says_it_left_nothing_out(tmp_path):
    pair = make_sample_pair(tmp_path / "scene", size=120, seed=1, scenario="sar-pair")
    result = run(RunParams(t1=pair["t1"], t2=pair["t2"], mode="prior", mask_clouds=True,
                           out_stats=str(tmp_path / "stats.json")))
    assert any("MASK_CLOUDS left nothing out" in line for line in result.log)
    assert result.stats.white_places is None


def _masked_run(tmp_path, pair, **given):
    out = tmp_path / "masked"
    out.mkdir(exist_ok=True)
    return run(RunParams(t1=pair["t1"], t2=pair["t2"], mode="prior", mask_clouds=True,
                         out_change=str(out / "change.tif"), **given))


def test_samples_on_cloud_left_out_mark_nothing(tmp_path):
    """Samples were read before the cloud was found: drawn only on cloud they were counted as used (the
    outputs "keep their label" on what had become no data), and a changed one taught EXTEND_FROM_SAMPLES cloud."""
    pair = make_sample_pair(tmp_path / "scene", size=200, seed=1, scenario="optical-pair-cloudy")
    _masked_run(tmp_path, pair)
    ds = gdal.Open(str(tmp_path / "masked" / "change.tif"))
    cloud = ds.ReadAsArray() == CHANGE_NODATA
    cloud[:120] = False   # the radar-style swath corner is no data too: look for cloud away from it
    row, col = np.argwhere(ndimage.binary_erosion(cloud, iterations=4))[0]
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    left, top = x0 + (col - 2) * dx, y0 + (row - 2) * dy
    square = (f"POLYGON(({left} {top}, {left + 4 * dx} {top}, {left + 4 * dx} {top + 4 * dy}, "
              f"{left} {top + 4 * dy}, {left} {top}))")
    samples = write_samples(tmp_path / "samples.gpkg", [(square, 1)], ds.GetSpatialRef())
    with pytest.raises(InputError, match="lie only outside the area of interest, on no data of T1 or T2, or on "
                                         "cloud that MASK_CLOUDS left out"):
        _masked_run(tmp_path, pair, samples=samples)


def test_mask_clouds_that_leaves_too_little_to_compare_is_refused(tmp_path):
    """98 % of T2 white, a clear hole of 30 × 30 px: the run mapped change on the few hundred pixels left."""
    pair = make_sample_pair(tmp_path / "scene", size=200, seed=1, scenario="optical-pair")
    ds = gdal.Open(pair["t2"], gdal.GA_Update)
    image = ds.ReadAsArray()
    clouded = np.full_like(image, 250)
    clouded[:, 40:55, 40:55] = image[:, 40:55, 40:55]   # T2's pixels are two of the grid's
    clouded[image == 0] = 0                              # its no data stays
    for band in range(image.shape[0]):
        ds.GetRasterBand(band + 1).WriteArray(clouded[band])
    ds = None
    with pytest.raises(InputError, match="MASK_CLOUDS leaves about .* pixel\\(s\\) to compare .* at least 1024"):
        _masked_run(tmp_path, pair)


def test_an_image_that_cannot_hold_cloud_is_named_beside_one_that_can(tmp_path):
    pair = make_sample_pair(tmp_path / "scene", size=120, seed=1, scenario="optical-pair-cloudy")
    log = _masked_run(tmp_path, pair, bands2=[1]).log
    assert any("MASK_CLOUDS leaves T2 as it is" in line for line in log)
    assert any(line.startswith("MASK_CLOUDS: ") and "of T1" in line for line in log)


def test_much_white_is_named_even_where_no_change_is_marked_on_it():
    """Cloud over both dates hid the change instead of being marked (a probe's pair: Kappa −0.03, none of the marked
    change on white, no note; 0.79 with MASK_CLOUDS): 5 % of the overlap white is named too."""
    valid = np.ones((40, 40), bool)
    prior = np.zeros((40, 40), np.float32)
    for rows, noted in ((slice(0, 3), True), (slice(0, 1), False)):   # 7.5 % and 2.5 % white
        white = np.zeros((40, 40), bool)
        white[rows] = True
        blocks = Blocks(2, prior[None], prior[None], valid, None, None, Measures({}, refusal="bands"),
                        white=(None, white))
        progress = Progress()
        # no significant change in a flat prior: no cut is read, so no calibration is needed
        places = _white_places(blocks, prior, None, weigh_evidence(prior), progress)
        assert places["noted"] is noted and places["T2"]["marked_on_white"] == 0.0
        assert any("of the overlap is bright white in every band of T2" in line for line in progress.log) is noted


def test_compact_groups_marked_in_a_scene_without_significant_change_are_read_for_white_places():
    """A scene without significant change still marks its compact groups (evidence.found): a small cloud so marked
    was counted as no change on white, and no note named it."""
    from dataclasses import replace

    from oaip_qgis.core.decision.score import Calibration

    valid = np.ones((40, 40), bool)
    prior = np.full((40, 40), 0.2, np.float32)
    prior[10:15, 10:15] = 0.9
    white = np.zeros((40, 40), bool)
    white[10:15, 10:15] = True
    blocks = Blocks(2, prior[None], prior[None], valid, None, None, Measures({}, refusal="bands"), white=(None, white))
    evidence = replace(weigh_evidence(prior), significant=False, groups=1, group_share=25 / 1600)
    progress = Progress()
    places = _white_places(blocks, prior, Calibration(0.6, "otsu"), evidence, progress)
    assert places["T2"]["marked_on_white"] == 1.0 and places["noted"]
    assert any("of the change marked lies on places bright white" in line for line in progress.log)
