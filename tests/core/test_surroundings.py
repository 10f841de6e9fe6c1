"""The ground around an area of interest that its prior is computed on (labels.surroundings, stages)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from osgeo import osr
from scipy import ndimage

from oaip_qgis.core.decision.evidence import verdict_word
from oaip_qgis.core.errors import InputError
from oaip_qgis.core.labels.blocks import MAX_CELLS
from oaip_qgis.core.labels.surroundings import frame_around
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import run
from oaip_qgis.core.raster.align import open_pair
from oaip_qgis.core.raster.coregister import Shift
from oaip_qgis.core.raster.grid import Window
from oaip_qgis.core.rethreshold import rethreshold
from oaip_qgis.core.sample_pair import make_sample_pair
from tests.helpers import write_polygon, write_samples

FAR = (10_000, 10_000, 10_000, 10_000)


def pixel_rectangle(path, raster: str, cols: tuple[int, int], rows: tuple[int, int]) -> str:
    """An AOI over columns and rows [start, stop) of `raster`'s grid, in its CRS."""
    with rasterio.open(raster) as ds:
        (xa, ya), (xb, yb) = ds.transform * (cols[0], rows[0]), ds.transform * (cols[1], rows[1])
    return write_polygon(path, f"POLYGON (({xa} {ya}, {xb} {ya}, {xb} {yb}, {xa} {yb}, {xa} {ya}))")


def test_the_frame_takes_the_whole_overlap_that_fits_in_whole_blocks_before_the_aoi():
    frame = frame_around((100, 61), (200, 100, 30, 7), block=2, bands=2)
    assert (frame.top, frame.left) == (100, 50)   # 200 and 100 px above and left: whole blocks of 2
    assert (frame.height, frame.width) == (200 + 100 + 30, 100 + 61 + 7)
    assert frame.origin == (200, 100)
    frame = frame_around((100, 61), (200, 100, 30, 7), block=3, bands=2)
    assert (frame.top, frame.left) == (66, 33) and (frame.height, frame.width) == (198 + 100 + 30, 99 + 61 + 7)


def test_the_frame_stops_where_the_overlap_ends():
    frame = frame_around((100, 60), (3, 0, 5, 20), block=2, bands=2)
    assert (frame.top, frame.left) == (1, 0)     # 3 px above: one whole block
    assert (frame.height, frame.width) == (2 + 100 + 5, 60 + 20)


def test_the_frame_holds_no_more_cells_than_the_prior_may_have_and_reaches_alike_each_way():
    frame = frame_around((2000, 2000), FAR, block=2, bands=2)
    cells = math.ceil(frame.height / 2) * math.ceil(frame.width / 2)
    assert cells <= MAX_CELLS and frame.top > 0 and frame.height == frame.width == 2000 + 4 * frame.top
    assert math.ceil((frame.height + 4) / 2) * math.ceil((frame.width + 4) / 2) > MAX_CELLS   # as wide as it may be


def test_the_cells_of_the_aoi_are_a_window_of_the_frames():
    frame = frame_around((5, 4), (4, 2, 0, 0), block=2, bands=2)
    cells = np.arange(frame.height // 2 * 10).reshape(frame.height // 2, 10)
    assert np.array_equal(frame.within(cells, (3, 2)), cells[2:5, 1:3])


def test_the_aois_pixels_are_spread_where_they_lie_on_the_wider_grid():
    frame = frame_around((5, 4), (4, 2, 0, 0), block=2, bands=2)
    samples = np.full((5, 4), -1, np.int8)
    samples[0, 0], samples[4, 3] = 1, 0
    wide = frame.spread(samples, -1)
    assert wide.shape == (frame.height, frame.width) == (9, 6) and wide.dtype == np.int8
    assert np.array_equal(wide[4:, 2:], samples) and (wide[:4] == -1).all() and (wide[:, :2] == -1).all()


def test_the_ground_around_reads_the_aois_pixels_where_they_lie_shifted_or_not(sample_pair, tmp_path):
    x0, dx, _, y0, _, dy = rasterio.open(sample_pair["t1"]).transform.to_gdal()
    aoi = write_polygon(tmp_path / "aoi.geojson", f"POLYGON (({x0 + 40 * dx} {y0 + 30 * dy}, {x0 + 100 * dx} "
                                                  f"{y0 + 30 * dy}, {x0 + 100 * dx} {y0 + 90 * dy}, "
                                                  f"{x0 + 40 * dx} {y0 + 30 * dy}))")
    with open_pair(sample_pair["t1"], sample_pair["t2"], aoi=aoi) as pair:
        for shift in (Shift(), Shift(2, -3)):
            if shift.found:
                pair.shift_second(shift)
            wider = pair.around(pair.overlap)
            row = round((pair.grid.transform[3] - pair.overlap.transform[3]) / pair.grid.transform[5])
            col = round((pair.grid.transform[0] - pair.overlap.transform[0]) / pair.grid.transform[1])
            assert row > 0 and col > 0 and pair.overlap.width > pair.grid.width
            own, around = pair.read(), wider.read(Window(col, row, pair.grid.width, pair.grid.height))
            assert np.array_equal(own[0], around[0], equal_nan=True)
            # T2 is warped onto each grid on its own: GDAL's approximate transformer moves a value by a hair
            assert np.array_equal(np.isnan(own[1]), np.isnan(around[1]))
            assert np.nanmedian(np.abs(own[1] - around[1]) / np.abs(own[1])) < 0.01
            assert around[2].all() and not own[2].all()   # the AOI's triangle masks the AOI's reads only


def test_an_aoi_drawn_tight_around_change_is_mapped_against_the_ground_around_it(tmp_path):
    """Half the AOI changed: its own prior found no contrast (Kappa 0.06 on this scene when the prior was computed on
    the AOI alone); against the ground around it the change stands out. The outputs are still the AOI's."""
    pair = make_sample_pair(tmp_path / "pair", size=400, seed=2, scenario="default")
    with rasterio.open(pair["truth"]) as truth:
        changed = truth.read(1) == 1
    labels, count = ndimage.label(changed)
    largest = labels == 1 + int(np.argmax(ndimage.sum(changed, labels, range(1, count + 1))))
    rows, cols = np.nonzero(largest)
    r0, r1, c0, c1 = max(rows.min() - 5, 0), rows.max() + 5, max(cols.min() - 5, 0), cols.max() + 5
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", pair["truth"], (c0, c1), (r0, r1))
    assert changed[r0:r1, c0:c1].mean() > 0.4
    result = run(RunParams(t1=pair["t1"], t2=pair["t2"], reference=pair["truth"], aoi=aoi, mode="prior",
                           out_change=str(tmp_path / "change.tif"), out_stats=str(tmp_path / "stats.json")))
    assert result.stats.metrics["kappa"] > 0.8
    assert (result.stats.grid.height, result.stats.grid.width) == (r1 - r0, c1 - c0)
    assert result.stats.evidence["within"] > 0.3 and verdict_word(result.stats.evidence) != "none"
    assert any("with the ground around it" in line for line in result.log)
    # A manual threshold kept the ground's verdict figures but said nothing of the AOI (aoi false, within null),
    # while a re-threshold at the same cut said both.
    manual = run(RunParams(t1=pair["t1"], t2=pair["t2"], aoi=aoi, mode="prior", threshold_method="manual",
                           threshold=0.3, out_change=str(tmp_path / "manual.tif")))
    with rasterio.open(tmp_path / "manual.tif") as layer:
        marked = layer.read(1)
    assert manual.stats.evidence["aoi"] and manual.stats.evidence["within"] == pytest.approx(
        (marked == 1).sum() / (marked != 255).sum())
    assert any("the change layer marks" in line and "of the area of interest" in line for line in manual.log)


def test_cloud_left_out_around_an_aoi_is_left_out_of_the_aois_reads_too(tmp_path):
    """MASK_CLOUDS finds the cloud on the wider ground the prior is computed on: the AOI's reads (its samples, the
    cloud share, its blocks) leave out the pixels the ground's reads (the network's tiles, the outputs) leave out.
    Read through the AOI's own blocks, which span other pixels than the ground's where its size is no multiple of a
    block, 202 pixels along the cloud's edge differed."""
    from oaip_qgis.core import stages
    from oaip_qgis.core.progress import Progress

    pair = make_sample_pair(tmp_path / "pair", size=300, seed=1, scenario="cloudy")
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", pair["t1"], (41, 258), (37, 261))
    params = RunParams(t1=pair["t1"], t2=pair["t2"], aoi=aoi, mode="prior", mask_clouds=True,
                       out_stats=str(tmp_path / "stats.json"))
    with stages.align_pair(params, []) as aligned:
        blocks = stages.read_blocks(aligned, params, Progress())
        surroundings = stages.read_surroundings(aligned, blocks, params, Progress())
        blocks, around, frame = surroundings.blocks, surroundings.around, surroundings.frame
        assert around.valid.shape[0] > blocks.valid.shape[0] and around.size == blocks.size
        whole = Window(0, 0, aligned.grid.width, aligned.grid.height)
        rows, cols = frame.origin
        ground = surroundings.pair.read(Window(cols, rows, whole.width, whole.height))[2]
        assert np.array_equal(aligned.read(whole)[2], ground)
        assert blocks.left_out.any() and aligned.cloud_cells.at(whole, blocks.valid.shape)[blocks.left_out].all()
    result = run(params)
    assert result.stats.white_places["masked"] and (result.stats.grid.width, result.stats.grid.height) == (217, 224)


def test_an_aoi_nearly_all_cloud_is_refused_as_the_aoi_not_the_images(tmp_path):
    """The refusal said the images were white nearly everywhere, of an AOI drawn on a cloud in a scene 7 % white."""
    pair = make_sample_pair(tmp_path / "pair", size=300, seed=1, scenario="cloudy")
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", pair["t1"], (115, 150), (170, 220))
    with pytest.raises(InputError) as refused:
        run(RunParams(t1=pair["t1"], t2=pair["t2"], aoi=aoi, mode="prior", mask_clouds=True,
                      out_stats=str(tmp_path / "s.json")))
    said = str(refused.value)
    assert "% of the area of interest)" in said and "draw it where the images are clear" in said
    assert not (tmp_path / "s.json").exists()


def test_an_aoi_leaves_out_the_cloud_found_around_it_and_says_how_much(tmp_path):
    """A clear-looking AOI beside the cloud: its own white level found no cloud in it, the ground around it found a
    tenth of it cloud or haze; the reads left out the ground's, while the log said and the AOI's blocks kept its own."""
    from oaip_qgis.core import stages
    from oaip_qgis.core.progress import Progress

    pair = make_sample_pair(tmp_path / "pair", size=300, seed=1, scenario="cloudy")
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", pair["t1"], (20, 120), (150, 280))
    params = RunParams(t1=pair["t1"], t2=pair["t2"], aoi=aoi, mode="prior", mask_clouds=True)
    progress = Progress()
    with stages.align_pair(params, []) as aligned:
        blocks = stages.read_blocks(aligned, params, progress)
        blocks = stages.read_surroundings(aligned, blocks, params, progress).blocks
        share = blocks.left_out.sum() / (blocks.valid | blocks.left_out).sum()
        found = aligned.cloud_cells.at(Window(0, 0, aligned.grid.width, aligned.grid.height), blocks.valid.shape)
        assert share > 0.05 and np.array_equal(blocks.left_out, found & (blocks.valid | blocks.left_out))
    said = [line for line in progress.log if line.startswith("MASK_CLOUDS: ") and "of T1" in line]
    assert len(said) == 1 and f"{100 * share:.1f} % of the area of interest is white" in said[0]


def test_an_aoi_over_the_whole_overlap_is_said_to_have_no_ground_beyond_it(sample_pair, tmp_path):
    x0, dx, _, y0, _, dy = rasterio.open(sample_pair["t1"]).transform.to_gdal()   # 160 px of 10 m
    # a triangle whose long side passes below the images' corner: every pixel of the overlap lies in it
    aoi = write_polygon(tmp_path / "aoi.geojson", f"POLYGON (({x0 - 5000} {y0 + 1000}, {x0 + 3000} {y0 + 1000}, "
                                                  f"{x0 + 3000} {y0 - 5000}, {x0 - 5000} {y0 + 1000}))")
    result = run(RunParams(t1=sample_pair["t1"], t2=sample_pair["t2"], aoi=aoi, mode="prior",
                           out_stats=str(tmp_path / "stats.json")))
    log = " ".join(result.log)
    assert "no ground beyond the area of interest's rectangle" in log and "with the ground around it" not in log


@pytest.mark.parametrize("mode", ["prior", "int8"])
def test_an_aoi_is_mapped_as_its_scene_where_the_ground_around_it_is_the_scene(tmp_path, mode):
    """The network learnt on the AOI alone (fewer labels than its cells) and its veto was weighed on it, and the
    AOI's own blocks left out those at its edge: the AOI's map differed from the scene's within it. Now the network
    learns on the ground around, its veto is weighed there, and the AOI's difference image is the ground's window:
    where that ground is the whole scene (its blocks in the scene's phase), the scene's, pixel for pixel."""
    pair = make_sample_pair(tmp_path / "pair", size=300, seed=2, scenario="default")   # the veto applies
    with rasterio.open(pair["truth"]) as truth:
        assert 0.01 < (truth.read(1)[61:182, 101:222] == 1).mean() < 0.5
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", pair["truth"], (101, 222), (61, 182))   # 121 px: a cut block
    common = dict(t1=pair["t1"], t2=pair["t2"], mode=mode, epochs=1)
    scene = run(RunParams(**common, out_difference=str(tmp_path / "scene.tif"),
                          out_confidence=str(tmp_path / "scene_c.tif")))
    result = run(RunParams(**common, aoi=aoi, out_difference=str(tmp_path / "aoi.tif"),
                           out_confidence=str(tmp_path / "aoi_c.tif")))
    with rasterio.open(tmp_path / "scene.tif") as whole, rasterio.open(tmp_path / "aoi.tif") as part:
        col, row = (round(v) for v in ~whole.transform * (part.transform.c, part.transform.f))
        assert col % 2 == row % 2 == 0 and part.width % 2 == 1   # the scene's blocks of 2 px are the AOI's
        assert np.array_equal(whole.read(1)[row:row + part.height, col:col + part.width], part.read(1))
    with rasterio.open(tmp_path / "scene_c.tif") as whole, rasterio.open(tmp_path / "aoi_c.tif") as part:
        # The confidence is low where the network overruled the prior: the ground's prior, which the map was made of.
        assert np.array_equal(whole.read(1)[row:row + part.height, col:col + part.width], part.read(1))
    if mode == "prior":
        return
    labels = result.stats.network.training["pseudo_labels"]
    assert labels["changed"] + labels["unchanged"] > (121 // labels["cell"]) ** 2   # more than the AOI's cells
    assert result.stats.network_confirmation == scene.stats.network_confirmation
    assert scene.stats.network_confirmation["applied"]   # so the confidence above weighs the prior it overruled
    assert any(line.startswith("The area of interest is mapped as the ground around it") for line in result.log)


def test_an_aoi_is_told_how_many_of_the_places_the_network_adds_lie_within_it(tmp_path):
    """With EXTEND_FROM_SAMPLES the log asks the analyst to check the places the network adds; counted on the ground
    around the AOI, most of them lay in no output."""
    pair = make_sample_pair(tmp_path / "pair", size=300, seed=1, scenario="default")
    with rasterio.open(pair["truth"]) as truth:
        changed = truth.read(1)[61:182, 101:222] == 1
    rows, cols = np.nonzero(changed)
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", pair["truth"], (101, 222), (61, 182))
    with rasterio.open(pair["truth"]) as ds:
        (xa, ya), (xb, yb) = ds.transform * (101 + cols[0], 61 + rows[0]), ds.transform * (105 + cols[0], 65 + rows[0])
        srs = osr.SpatialReference(wkt=ds.crs.to_wkt())
    samples = write_samples(tmp_path / "samples.gpkg",
                            [(f"POLYGON (({xa} {ya}, {xb} {ya}, {xb} {yb}, {xa} {yb}, {xa} {ya}))", 1)], srs)
    result = run(RunParams(t1=pair["t1"], t2=pair["t2"], aoi=aoi, samples=samples, mode="int8", epochs=1,
                           extend_from_samples=True, out_difference=str(tmp_path / "d.tif")))
    said = [line for line in result.log if line.startswith("Of the ")]
    added = result.stats.network_confirmation["added_pixels"]
    assert len(said) == 1 and f"Of the {added} pixel(s) the network adds" in said[0]
    within = int(said[0].split(", ")[1].split(" lie within")[0])
    assert 0 <= within <= added


def test_an_aois_samples_are_learnt_on_the_ground_around_it(tmp_path):
    pair = make_sample_pair(tmp_path / "pair", size=300, seed=1, scenario="default")
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", pair["truth"], (100, 220), (60, 180))
    with rasterio.open(pair["truth"]) as ds:
        (xa, ya), (xb, yb) = ds.transform * (150, 100), ds.transform * (154, 104)
        srs = osr.SpatialReference(wkt=ds.crs.to_wkt())
    samples = write_samples(tmp_path / "samples.gpkg",
                            [(f"POLYGON (({xa} {ya}, {xb} {ya}, {xb} {yb}, {xa} {yb}, {xa} {ya}))", 1)], srs)
    result = run(RunParams(t1=pair["t1"], t2=pair["t2"], aoi=aoi, samples=samples, mode="int8", epochs=1,
                           out_difference=str(tmp_path / "d.tif")))
    assert result.stats.network.training["pseudo_labels"]["analyst"] == 16
    with rasterio.open(tmp_path / "d.tif") as difference:
        assert (difference.read(1)[40:44, 50:54] == 1).all()   # a changed sample keeps its label in the AOI's window


def test_an_aoi_of_unchanged_land_beside_change_is_mapped_by_the_network_of_the_ground_around_it(tmp_path):
    """Nothing in the AOI is above the labels' changed margin: trained on the AOI alone, the run ended in "too few
    changed or unchanged places to train on", and then its map was the prior's; the network of the ground around it
    learns from that ground's change."""
    pair = make_sample_pair(tmp_path / "pair", size=300, seed=1, scenario="default")
    with rasterio.open(pair["truth"]) as truth:
        assert not truth.read(1)[0:60, 30:90].any()
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", pair["truth"], (30, 90), (0, 60))
    result = run(RunParams(t1=pair["t1"], t2=pair["t2"], aoi=aoi, mode="int8", out_stats=str(tmp_path / "s.json"),
                           out_difference=str(tmp_path / "d.tif")))
    assert result.stats.evidence["significant"] and result.stats.detector == "network"
    assert result.stats.changed_fraction == 0
    # The verdict is the ground's ("Change found"): it says that nothing is marked within the AOI, as the word does.
    assert result.stats.evidence["within"] == 0 and verdict_word(result.stats.evidence) == "none"
    assert "marks nothing within the area of interest" in result.stats.evidence["verdict"]
    assert any(line.startswith("The verdict's figures are of the area of interest") for line in result.log)
    # Cut again low, the layer marks the AOI: the copied evidence said nothing was marked there.
    with rasterio.open(tmp_path / "d.tif") as difference:
        low = 0.9 * float(difference.read(1).max())
    assert 0 < low < 0.5
    again = rethreshold(result.stats, str(tmp_path / "d.tif"), low, str(tmp_path / "c.tif"))
    assert again.changed_fraction > 0 and again.evidence["within"] > 0 and verdict_word(again.evidence) == "change"
    assert "marks nothing" not in again.evidence["verdict"]


def test_cloud_around_a_clear_aoi_is_no_ground_to_compare_it_with(tmp_path):
    """Thick cloud over a tenth of the optical image, beside a clear AOI: compared with the cloud, the AOI's change
    fell below the cut (Kappa 0, and a note that the change marked lay on white places). MASK_CLOUDS is not asked."""
    pair = make_sample_pair(tmp_path / "pair", size=300, seed=1, scenario="cloudy")
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", pair["t1"], (150, 290), (30, 130))
    result = run(RunParams(t1=pair["t1"], t2=pair["t2"], reference=pair["truth"], aoi=aoi, mode="prior",
                           out_stats=str(tmp_path / "stats.json")))
    assert result.stats.metrics["kappa"] > 0.4
    assert not result.stats.white_places["noted"] and not result.stats.white_places["masked"]
    assert any("of the ground around the area of interest is white" in line for line in result.log)


def test_an_aoi_in_a_scene_white_nearly_everywhere_keeps_its_pixels_without_mask_clouds(tmp_path):
    """Around a clear 20 × 20 px hole in a cloud over the whole optical image, the ground's masked read was refused
    (too little left) and the AOI compared with the ground as it is, but that read had already set the pair to leave
    out white pixels: without MASK_CLOUDS, 1 200 of the AOI's 1 600 pixels came out as no data."""
    from tests.helpers import make_raster

    rng = np.random.default_rng(0)
    fields = np.kron(rng.uniform(0.05, 0.3, (3, 16, 16)), np.ones((1, 8, 8))).astype(np.float32)
    t1 = fields + 0.01 * rng.uniform(0.05, 0.3, (3, 128, 128)).astype(np.float32)
    t2 = rng.uniform(0.88, 0.95, (3, 128, 128)).astype(np.float32)
    t2[:, 54:74, 54:74] = t1[:, 54:74, 54:74]
    make_raster(tmp_path / "t1.tif", t1)
    make_raster(tmp_path / "t2.tif", t2)
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", str(tmp_path / "t1.tif"), (44, 84), (44, 84))
    result = run(RunParams(t1=str(tmp_path / "t1.tif"), t2=str(tmp_path / "t2.tif"), aoi=aoi, mode="prior",
                           coregister=False, out_difference=str(tmp_path / "difference.tif")))
    with rasterio.open(tmp_path / "difference.tif") as ds:
        assert (ds.read(1) != ds.nodata).all()
    assert result.stats.valid_pixels == 40 * 40 and not result.stats.white_places["masked"]


def test_a_clouded_aoi_is_told_of_the_white_places_within_it(tmp_path):
    """An AOI drawn over a cloud, with more cloud around it: the ground's cloud left out of what it is compared with,
    its white places were counted over that ground (a few percent) and no note came, though most of what it marked
    lay on the cloud."""
    pair = make_sample_pair(tmp_path / "pair", size=300, seed=1, scenario="cloudy")
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", pair["t1"], (105, 160), (160, 230))
    result = run(RunParams(t1=pair["t1"], t2=pair["t2"], aoi=aoi, mode="prior", out_stats=str(tmp_path / "s.json")))
    places = result.stats.white_places
    assert places["T1"]["white"] > 0.3 and places["noted"] and not places["masked"]
    assert any("of the area of interest)" in line and "run again with MASK_CLOUDS" in line for line in result.log)


def test_a_small_aoi_finds_the_shift_of_t2_on_the_ground_around_it(tmp_path):
    """A 120 × 130 px AOI of a scene whose radar image is 3 × 2 px off: measured on the AOI alone, no shift was
    found (Kappa 0.69); on the overlap's 1024² pixels around its centre, the scene's shift is."""
    pair = make_sample_pair(tmp_path / "pair", size=400, seed=1, scenario="misregistered")
    whole = run(RunParams(t1=pair["t1"], t2=pair["t2"], mode="prior", out_stats=str(tmp_path / "w.json")))
    aoi = pixel_rectangle(tmp_path / "aoi.geojson", pair["t1"], (140, 270), (130, 250))
    result = run(RunParams(t1=pair["t1"], t2=pair["t2"], reference=pair["truth"], aoi=aoi, mode="prior",
                           out_stats=str(tmp_path / "stats.json")))
    assert whole.stats.coregistration["rows"] or whole.stats.coregistration["cols"]
    found = {key: result.stats.coregistration[key] for key in ("rows", "cols")}
    assert found == {key: whole.stats.coregistration[key] for key in ("rows", "cols")}
    assert result.stats.metrics["kappa"] > 0.8
