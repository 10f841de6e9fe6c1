"""Bad input and exhausted resources end in one sentence naming the file or the resource, before any work
where they can be known then; inputs that would give a wrong map (complex SAR, a partial reference) are
handled, not ignored."""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr, osr

from oaip_qgis.core.errors import InputError, OaipError, ResourceError
from oaip_qgis.core.metrics import accuracy
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import run
from oaip_qgis.core.progress import Progress
from oaip_qgis.core.raster import write
from oaip_qgis.core.raster.write import HOST, remove_stale_partials
from oaip_qgis.core.stages import prior as prior_stage
from tests.helpers import make_raster, two_sensors, write_polygon, write_samples


def prior_params(pair, folder, **extra) -> RunParams:
    values = dict(t1=pair["t1"], t2=pair["t2"], mode="prior", out_change=str(folder / "change.tif"),
                  out_difference=str(folder / "difference.tif"), out_stats=str(folder / "stats.json"))
    return RunParams(**{**values, **extra})


def recorded() -> tuple[Progress, list]:
    steps: list = []
    return Progress(report=lambda fraction, message: steps.append(message)), steps


# ----- outputs checked before any work --------------------------------------------------------------
def test_every_output_location_is_checked_before_any_work(sample_pair, tmp_path):
    progress, steps = recorded()
    with pytest.raises(InputError, match="stats.json' cannot be written: its folder .*missing.* does not exist"):
        run(prior_params(sample_pair, tmp_path, out_stats=str(tmp_path / "missing" / "stats.json")), progress)
    assert steps == [] and list(tmp_path.iterdir()) == []   # not even the alignment started
    with pytest.raises(InputError, match="Two outputs are the same file"):
        run(prior_params(sample_pair, tmp_path, out_difference=str(tmp_path / "change.tif")), progress)
    with pytest.raises(InputError, match="Reference: the file .*nowhere.tif' does not exist"):
        run(prior_params(sample_pair, tmp_path, reference=str(tmp_path / "nowhere.tif")), progress)
    assert steps == [] and list(tmp_path.iterdir()) == []


def test_a_raster_given_as_samples_or_aoi_or_too_coarse_a_pixel_is_one_sentence(sample_pair, tmp_path):
    """A raster as SAMPLES or AOI ended in an AttributeError; a pixel size that leaves too few pixels was
    reported as a small overlap."""
    for field, label in (("samples", "Samples"), ("aoi", "AOI")):
        with pytest.raises(InputError, match=f"{label}: .*is a raster; a vector layer"):
            run(prior_params(sample_pair, tmp_path, **{field: sample_pair["t1"]}))
    with pytest.raises(InputError, match="Pixel size 5000 metre leaves the overlap only .*choose a pixel size of "
                                         ".* metre or less"):   # in the grid's units: degrees on a lat/lon grid
        run(prior_params(sample_pair, tmp_path, pixel_size=5000.0))


def test_a_zero_pixel_size_or_band_names_the_value(sample_pair, tmp_path):
    """"Pixel size must be positive." named neither PIXEL_SIZE nor the value, "T1 band indices start at 1." no band."""
    with pytest.raises(InputError, match="PIXEL_SIZE must be more than 0 .* not 0.0"):
        prior_params(sample_pair, tmp_path, pixel_size=0.0).validate()
    with pytest.raises(InputError, match="T1 band indices start at 1, not 0,2"):
        prior_params(sample_pair, tmp_path, bands1=[0, 2]).validate()


def test_a_path_too_long_for_sqlite_or_gdal_is_named_before_any_work(sample_pair, tmp_path):
    """Polygons at a 700-byte path failed after the whole run ("sqlite3_open … unable to open database file"), an
    AOI there was "not a file that GDAL can read", and 2 100-byte paths ended in a traceback from GDAL's buffers."""
    deep = tmp_path
    while len(os.fsencode(str(deep))) < 560:
        deep = deep / ("d" * 60)
    deep.mkdir(parents=True)
    with pytest.raises(InputError, match="lies too deep: SQLite writes a file by a path of at most 504 bytes"):
        run(prior_params(sample_pair, tmp_path, out_polygons=str(deep / "changes.gpkg")))
    assert not list(tmp_path.glob("*.tif"))
    aoi = deep / "aoi.gpkg"
    aoi.write_bytes(b"x")
    with pytest.raises(InputError, match="AOI: .* cannot be opened: its path is .* bytes long, and SQLite opens a "
                                         "file by a path of at most 504"):
        run(prior_params(sample_pair, tmp_path, aoi=str(aoi)))
    deepest = deep
    while len(os.fsencode(str(deepest))) < 2100:
        deepest = deepest / ("e" * 200)
    deepest.mkdir(parents=True)
    t1 = deepest / "t1.tif"
    t1.write_bytes(Path(sample_pair["t1"]).read_bytes())
    with pytest.raises(InputError, match="T1: .* its path is .* bytes long, and GDAL opens a file by a path of at "
                                         "most 2038"):
        run(prior_params({**sample_pair, "t1": str(t1)}, tmp_path))
    with pytest.raises(InputError, match="lies too deep: GDAL writes a file by a path of at most 2038"):
        run(prior_params(sample_pair, deepest))


def test_samples_outside_the_overlap_are_refused_not_ignored(sample_pair, tmp_path):
    """They were logged as "0 pixel(s) of analyst samples" and the run went on as if none were given."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    far = write_samples(tmp_path / "far.gpkg", [("POINT (100000 100000)", 1)], srs)
    with pytest.raises(InputError, match="have no feature inside the overlap of the two images"):
        run(prior_params(sample_pair, tmp_path, samples=far))
    # Some inside, some beside the images: those are named (in a geographic CRS, transformed), the others count.
    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()
    inside = srs.CloneGeogCS()
    inside.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    lon, lat, _ = osr.CoordinateTransformation(srs, inside).TransformPoint(x0 + 50 * dx, y0 + 50 * dy)
    mixed = write_samples(tmp_path / "mixed.gpkg", [(f"POINT ({lon} {lat})", 1), ("POINT (10 10)", 0),
                                                     (f"POINT ({lon + 1} {lat})", 0)], inside)
    log = run(prior_params(sample_pair, tmp_path, samples=mixed, overwrite=True)).log
    assert any("2 feature(s) of" in line and "lie outside the area compared (feature 2, 3)" in line for line in log)


def test_samples_outside_the_aoi_or_drawn_both_ways_mark_nothing_and_are_said(sample_pair, tmp_path):
    """Samples inside the AOI's box but outside its polygon were counted as used (with EXTEND_FROM_SAMPLES the run
    went on with none), and a pixel in a changed and an unchanged feature took the later one's label unsaid."""
    source = gdal.Open(sample_pair["t1"])
    x0, dx, _, y0, _, dy = source.GetGeoTransform()
    srs = source.GetSpatialRef()

    def box(col: int, row: int, size: int) -> str:
        left, top, right, bottom = x0 + col * dx, y0 + row * dy, x0 + (col + size) * dx, y0 + (row + size) * dy
        return f"POLYGON (({left} {top}, {right} {top}, {right} {bottom}, {left} {bottom}, {left} {top}))"

    left, top = x0 + 40 * dx, y0 + 40 * dy     # a triangle inside T2's cover, 100 px on its two sides
    corner = write_polygon(tmp_path / "corner.geojson", f"POLYGON (({left} {top}, {left + 100 * dx} {top}, "
                                                        f"{left} {top + 100 * dy}, {left} {top}))")
    beyond = write_samples(tmp_path / "beyond.gpkg", [(box(110, 110, 6), 1)], srs)   # in the AOI's box only
    with pytest.raises(InputError, match="beyond.gpkg' lie only outside the area of interest or on no data"):
        run(prior_params(sample_pair, tmp_path, samples=beyond, aoi=corner))
    # Beyond the AOI's box, inside the images: they were "no feature inside the overlap of the two images"
    aside = write_samples(tmp_path / "aside.gpkg", [(box(10, 10, 6), 1)], srs)
    with pytest.raises(InputError, match="aside.gpkg' have no feature inside the area of interest"):
        run(prior_params(sample_pair, tmp_path, samples=aside, aoi=corner))
    both = write_samples(tmp_path / "both.gpkg", [(box(110, 110, 6), 1), (box(50, 50, 6), 1), (box(50, 50, 6), 0),
                                                  (box(70, 50, 6), 0)], srs)
    log = run(prior_params(sample_pair, tmp_path, samples=both, aoi=corner, overwrite=True)).log
    assert "36 pixel(s) of analyst samples: the outputs keep their label." in log   # prior mode: no network
    assert any(line.startswith("Samples: 36 pixel(s) of") and "outside the area of interest" in line for line in log)
    assert any(line.startswith("Samples: 36 pixel(s) of") and "both a changed and an unchanged" in line
               for line in log)


def _pixel_box(path: str, c0: float, r0: float, c1: float, r1: float) -> str:
    """A rectangle over columns c0..c1 and rows r0..r1 (fractions of a pixel allowed) of `path`'s grid, as WKT."""
    x0, dx, _, y0, _, dy = gdal.Open(path).GetGeoTransform()
    left, top, right, bottom = x0 + c0 * dx, y0 + r0 * dy, x0 + c1 * dx, y0 + r1 * dy
    return f"POLYGON (({left} {top}, {right} {top}, {right} {bottom}, {left} {bottom}, {left} {top}))"


def test_an_aoi_keeps_every_pixel_whose_centre_it_holds_and_samples_across_its_rectangle_are_said(sample_pair,
                                                                                                tmp_path):
    """An AOI whose sides cut pixels lost a row or column on each side (a rectangle from 20.3 to 120.7 pixels gave
    99 x 99 of the 101 x 101 pixels whose centres it holds), and a sample across its rectangle lost its part beyond
    it without a word (its part inside the rectangle but outside the polygon was counted)."""
    t1 = sample_pair["t1"]
    aoi = write_polygon(tmp_path / "aoi.geojson", _pixel_box(t1, 20.3, 20.3, 120.7, 120.7))
    samples = write_samples(tmp_path / "s.gpkg", [(_pixel_box(t1, 116, 60, 124, 68), 0),
                                                  (_pixel_box(t1, 40, 40, 46, 46), 1)], gdal.Open(t1).GetSpatialRef())
    result = run(prior_params(sample_pair, tmp_path, aoi=aoi, samples=samples))
    assert (result.stats.grid.width, result.stats.grid.height) == (101, 101)
    assert result.stats.grid.transform[0] == gdal.Open(t1).GetGeoTransform()[0] + 20 * 10.0
    assert "76 pixel(s) of analyst samples: the outputs keep their label." in result.log   # 36 + 5 x 8
    assert any(line.startswith("Samples: 1 feature(s) of") and "reach beyond the rectangle of the area compared "
               "(feature 1)" in line for line in result.log)
    on_centres = write_polygon(tmp_path / "centres.geojson", _pixel_box(t1, 20.5, 20.5, 120.5, 120.5))
    run(prior_params(sample_pair, tmp_path, aoi=on_centres, overwrite=True))   # GDAL burns 100 of 101 columns
    change = gdal.Open(str(tmp_path / "change.tif")).ReadAsArray()
    assert 100 <= min(change.shape) and max(change.shape) <= 101
    assert all((edge != 255).any() for edge in (change[0], change[-1], change[:, 0], change[:, -1]))


def test_a_curved_aoi_or_sample_is_read_as_its_shape(sample_pair, tmp_path):
    """GDAL burns nothing of a curved geometry: a circle QGIS saved as a CURVEPOLYGON was refused as an AOI that
    "holds no valid pixel", and as samples "with no feature inside the overlap"."""
    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()
    srs = gdal.Open(sample_pair["t1"]).GetSpatialRef()

    def circle(col: float, row: float, radius: float) -> str:
        x, y, r = x0 + col * dx, y0 + row * dy, radius * dx
        return f"CURVEPOLYGON (CIRCULARSTRING ({x} {y + r}, {x + r} {y}, {x} {y - r}, {x - r} {y}, {x} {y + r}))"

    aoi = write_samples(tmp_path / "aoi.gpkg", [(circle(80, 80, 50), 1)], srs)
    samples = write_samples(tmp_path / "s.gpkg", [(circle(80, 80, 6), 1)], srs)
    assert ogr.Open(aoi).GetLayer(0).GetNextFeature().GetGeometryRef().GetGeometryType() == ogr.wkbCurvePolygon
    result = run(prior_params(sample_pair, tmp_path, aoi=aoi, samples=samples))
    assert (result.stats.grid.width, result.stats.grid.height) == (100, 100)
    assert abs(result.stats.valid_pixels - math.pi * 50 ** 2) < 0.02 * math.pi * 50 ** 2
    count = int(next(line for line in result.log if "pixel(s) of analyst samples" in line).split()[0])
    assert abs(count - math.pi * 6 ** 2) < 0.25 * math.pi * 6 ** 2   # every pixel it touches


def test_an_aoi_too_thin_for_a_block_is_named_as_such(sample_pair, tmp_path):
    """A ring one pixel wide was refused as an overlap where one image has data and the other none."""
    t1 = sample_pair["t1"]
    ring = _pixel_box(t1, 20, 20, 120, 120)[:-1] + ", " + _pixel_box(t1, 21, 21, 119, 119)[9:]
    aoi = write_polygon(tmp_path / "ring.geojson", ring)
    with pytest.raises(InputError, match="The area of interest holds no whole 2x2-pixel block of the prior with data "
                                         "in both images .*a line, a ring or a sliver"):
        run(prior_params(sample_pair, tmp_path, aoi=aoi))


def test_layers_saved_without_a_crs_lie_in_the_grid_s_coordinates(sample_pair, tmp_path, capfd):
    """A GeoPackage saved without a CRS says "Undefined geographic SRS": its metres were taken as degrees,
    PROJ complained on the terminal and the samples were refused as lying outside the images."""
    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()

    def box(col: int, row: int, size: int) -> str:
        left, top, right, bottom = x0 + col * dx, y0 + row * dy, x0 + (col + size) * dx, y0 + (row + size) * dy
        return f"POLYGON (({left} {top}, {right} {top}, {right} {bottom}, {left} {bottom}, {left} {top}))"

    samples = write_samples(tmp_path / "samples.gpkg", [(box(60, 60, 6), 0), (box(100, 100, 6), 1)], None)
    aoi = write_samples(tmp_path / "aoi.gpkg", [(box(20, 20, 100), 1)], None)
    assert "Undefined" in ogr.Open(aoi).GetLayer(0).GetSpatialRef().GetName()
    log = run(prior_params(sample_pair, tmp_path, samples=samples)).log
    assert any("72 pixel(s) of analyst samples" in line for line in log)
    run(prior_params(sample_pair, tmp_path, aoi=aoi, overwrite=True))
    assert gdal.Open(str(tmp_path / "difference.tif")).RasterXSize == 100   # the AOI's extent, on the grid
    assert "PROJ" not in capfd.readouterr().err


def test_an_aoi_over_a_blank_part_of_an_image_is_named_not_the_image(tmp_path):
    """T1 one value inside a small AOI was reported as a blank export of T1, with no word of the AOI."""
    rng = np.random.default_rng(0)
    t1 = rng.uniform(0, 100, (100, 120)).astype(np.float32)
    t1[20:70, 20:70] = 7.0   # inside the image: one value along its edge would be a border (raster.border)
    paths = {"t1": make_raster(tmp_path / "t1.tif", t1),
             "t2": make_raster(tmp_path / "t2.tif", rng.uniform(0, 1, (100, 120)))}
    aoi = write_polygon(tmp_path / "aoi.geojson", "POLYGON ((500250 3999750, 500650 3999750, 500650 3999350, "
                                                  "500250 3999350, 500250 3999750))")
    with pytest.raises(InputError, match="T1: .* holds one value \\(7\\) in every valid pixel inside the area of "
                                         "interest .*check that the AOI is the area you meant"):
        run(prior_params(paths, tmp_path, aoi=aoi))


def test_a_geopackage_with_other_layers_is_refused_as_the_polygons_output(sample_pair, tmp_path):
    """A project's GeoPackage given as the polygons output lost its other layers: the file is replaced whole."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    project = write_samples(tmp_path / "project.gpkg", [("POINT (500100 3999900)", 1)], srs)   # a layer 's'
    before = Path(project).read_bytes()
    with pytest.raises(InputError, match="project.gpkg' is a GeoPackage that holds other layers \\(s\\)"):
        run(prior_params(sample_pair, tmp_path, out_polygons=project))
    assert Path(project).read_bytes() == before
    run(prior_params(sample_pair, tmp_path, out_polygons=str(tmp_path / "changes.gpkg")))
    run(prior_params(sample_pair, tmp_path, out_polygons=str(tmp_path / "changes.gpkg")))   # its own: replaced


def test_a_refusal_of_an_aoi_read_from_a_file_of_several_layers_names_the_layer_read(sample_pair, tmp_path):
    """An AOI GeoPackage whose first layer lay off the images was refused as "the two images and the area of interest
    do not overlap", naming neither the file nor the layer read: the note saying which was read went to the log, which
    no front end shows of a failed run."""
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp_path / "areas.gpkg"))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()
    for name, left in (("far", x0 - 1e6), ("flood", x0 + 20 * dx)):
        layer = source.CreateLayer(name, srs, ogr.wkbPolygon)
        feature = ogr.Feature(layer.GetLayerDefn())
        right, bottom = left + 60 * dx, y0 + 60 * dy
        ring = f"{left} {y0}, {right} {y0}, {right} {bottom}, {left} {bottom}, {left} {y0}"
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON (({ring}))"))
        layer.CreateFeature(feature)
    source = None
    with pytest.raises(InputError, match="do not overlap.* AOI: '.*areas.gpkg' holds 2 layers \\(far, flood\\); the "
                                         "first, 'far', is read"):
        run(prior_params(sample_pair, tmp_path, aoi=str(tmp_path / "areas.gpkg")))
    assert not (tmp_path / "change.tif").exists()
    run(prior_params(sample_pair, tmp_path, aoi=f"{tmp_path / 'areas.gpkg'}|layername=flood"))
    # samples refused before any work name the layer read too; a refusal of another input names none
    with pytest.raises(InputError, match="has no field 'changed' .* Samples: '.*areas.gpkg' holds 2 layers"):
        run(prior_params(sample_pair, tmp_path, samples=str(tmp_path / "areas.gpkg"), overwrite=True))
    with pytest.raises(InputError, match="band 2 is out of range") as refused:
        run(prior_params(sample_pair, tmp_path, aoi=str(tmp_path / "areas.gpkg"), bands2=[2], overwrite=True))
    assert "holds 2 layers" not in str(refused.value)


def _refusal(params: RunParams) -> str:
    """The sentence a run refuses with, its traceback (which holds GDAL's layers, freed after their data source at
    the interpreter's exit) not kept."""
    try:
        run(params)
    except InputError as exc:
        return str(exc)
    raise AssertionError("the run was not refused")


def test_a_refusal_names_its_input_in_the_analyst_s_language_throughout(sample_pair, tmp_path):
    """The engine named the reference, samples and AOI in English ("Samples: '…' holds 2 layers") inside sentences
    QGIS had translated, and the note naming a samples file's layer was matched by the translated word."""
    from oaip_qgis.core import i18n

    german = {"Samples": "Proben", "AOI": "UG", "Reference": "Referenz"}
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp_path / "areas.gpkg"))
    for name in ("first", "second"):
        source.CreateLayer(name, None, ogr.wkbPolygon)
    source = None
    (tmp_path / "mask.tif").write_text("not a raster")
    i18n.set_translator(lambda text: " ".join(german.get(word.rstrip(":"), word.rstrip(":")) + word[len(word.rstrip(
        ":")):] for word in text.split(" ")))
    try:
        refused = _refusal(prior_params(sample_pair, tmp_path, samples=str(tmp_path / "areas.gpkg")))
        unread = _refusal(prior_params(sample_pair, tmp_path, reference=str(tmp_path / "mask.tif")))
        assert refused.startswith("Proben: '") and "Proben: '" in refused.split("holds 2 layers")[0][10:], refused
        assert unread.startswith("Referenz: '"), unread
        assert not any(word in text for word in german for text in (refused, unread))
    finally:
        i18n.set_translator(None)


def test_samples_without_the_field_or_with_other_values_are_refused_before_any_work(sample_pair, tmp_path):
    """Found as they were burnt, after both images' blocks were read: half a minute and more on a Sentinel-2 tile
    before "has no field 'changed'"."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()
    point = f"POINT ({x0 + 40.5 * dx} {y0 + 40.5 * dy})"
    other = write_polygon(tmp_path / "areas.geojson", f"POLYGON (({x0} {y0}, {x0 + 9 * dx} {y0}, {x0} {y0 + 9 * dy}, "
                                                      f"{x0} {y0}))")
    half = write_samples(tmp_path / "half.gpkg", [(point, 0.5)], srs, field_type=ogr.OFTReal)
    for samples, shown in ((other, "has no field 'changed'"), (half, "has changed = 0.5")):
        progress, steps = recorded()
        with pytest.raises(InputError, match=shown):
            run(prior_params(sample_pair, tmp_path, samples=samples), progress)
        assert steps == []   # not even "Aligning the pair"


def test_a_bar_in_a_folder_s_name_is_no_layer_option(sample_pair, tmp_path):
    """'flood|2024' is a folder name on Linux and macOS: an AOI in it was 'the file …/flood does not exist' (split at
    the first '|', as `file|layername=x`), and outputs into it were refused as naming a layer inside a file."""
    folder = tmp_path / "flood|2024"
    folder.mkdir()
    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()
    aoi = write_polygon(folder / "aoi.geojson", f"POLYGON (({x0 + 10 * dx} {y0 + 10 * dy}, {x0 + 90 * dx} "
                                                f"{y0 + 10 * dy}, {x0 + 90 * dx} {y0 + 90 * dy}, {x0 + 10 * dx} "
                                                f"{y0 + 10 * dy}))")
    result = run(prior_params(sample_pair, folder, aoi=aoi, out_polygons=str(folder / "changes.gpkg")))
    assert (folder / "change.tif").exists() and (folder / "changes.gpkg").exists()
    assert result.stats.parameters["aoi"] == aoi
    with pytest.raises(InputError, match="names a layer inside a file; .* \\('.*flood\\|2024/c.gpkg'\\)"):
        run(prior_params(sample_pair, folder, out_polygons=str(folder / "c.gpkg|layername=x"), overwrite=True))
    run(prior_params(sample_pair, folder, out_change=str(folder / "flood|2024.tif"), overwrite=True))   # a file's '|'
    assert (folder / "flood|2024.tif").exists()


def test_an_output_with_a_long_name_is_written_under_a_temporary_name_that_fits(sample_pair, tmp_path):
    """81 CJK characters (247 bytes, a name the file system takes): its temporary name, 30 bytes longer, could not be
    made, and the run said the folder was "read-only or not yours (File name too long)"."""
    name = "洪" * 81 + ".tif"
    run(prior_params(sample_pair, tmp_path, out_change=str(tmp_path / name)))
    assert (tmp_path / name).exists() and not [p for p in tmp_path.iterdir() if ".partial" in p.name]
    temporary = write._temporary(str(tmp_path / name))
    assert len(os.path.basename(temporary).encode()) <= 255 - len("-journal")
    assert write.PARTIAL.match(os.path.basename(temporary))   # what a later run removes when its process is gone


def test_a_name_that_is_not_utf8_is_refused_before_any_work(sample_pair, tmp_path):
    """Latin-1 bytes, as an old zip unpacks 'café': an input was "not a raster that GDAL can read (not a string)", and
    an output folder failed only when the outputs were written, after the whole prior."""
    latin = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9.tif"))
    shutil.copy(sample_pair["t1"], latin)
    with pytest.raises(InputError, match="T1: the name '.*caf\\\\xe9.tif' is not UTF-8 text"):
        run(prior_params({**sample_pair, "t1": latin}, tmp_path))
    folder = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"r\xe9sultat"))
    os.mkdir(folder)
    progress, steps = recorded()
    with pytest.raises(InputError, match="The output: the name '.*r\\\\xe9sultat/change.tif' is not UTF-8 text"):
        run(prior_params(sample_pair, Path(folder)), progress)
    assert steps == [] and os.listdir(folder) == []


def test_a_reference_is_placed_by_its_crs_or_said_to_be_elsewhere(tmp_path):
    """The shared pairs (a CRS on a grid at (0, 0) with 1-unit pixels) were told their reference "is not on the run's
    grid"; a reference whose corners its CRS cannot hold (metres labelled as degrees) scored Kappa 0 at 100 %
    coverage after some 300 lines of PROJ errors; one lying elsewhere was "measured there only" of nothing."""
    x1, x2, truth = two_sensors(size=96)
    pair = {name: make_raster(tmp_path / f"{name}.tif", data, epsg=3857, origin=(0.0, 0.0), pixel=1.0)
            for name, data in (("t1", x1), ("t2", x2), ("truth", truth))}
    log = run(prior_params(pair, tmp_path, reference=pair["truth"])).log
    assert not any("not on the run's grid" in line for line in log)
    degrees = make_raster(tmp_path / "degrees.tif", truth, epsg=4326, origin=(0.0, -200.0), pixel=1.0)
    with pytest.raises(InputError, match="degrees.tif' cannot be placed in the run's CRS: its corners .* are not "
                                         "places its CRS \\(WGS 84\\) holds"):
        run(prior_params(pair, tmp_path, reference=degrees))
    elsewhere = make_raster(tmp_path / "elsewhere.tif", truth, epsg=3857, origin=(5000.0, 0.0), pixel=1.0)
    log = run(prior_params(pair, tmp_path, reference=elsewhere)).log
    assert any("The reference covers none of the valid pixels" in line for line in log)


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(sample_pair, tmp_path):
    """The change map written over the reference, or the confidence over T2, replaced what the run read."""
    copies = {}
    for name in ("t1", "t2", "truth"):
        copies[name] = str(tmp_path / f"{name}.tif")
        shutil.copy(sample_pair[name], copies[name])
    before = {name: open(path, "rb").read() for name, path in copies.items()}
    for extra in ({"out_change": copies["truth"], "reference": copies["truth"]},
                  {"out_confidence": str(tmp_path / "." / "t2.tif")}, {"out_difference": copies["t1"]}):
        with pytest.raises(InputError, match="is also an input of the run"):
            run(prior_params(copies, tmp_path, **extra))
    assert {name: open(path, "rb").read() for name, path in copies.items()} == before


def test_an_output_over_a_file_an_input_reads_is_refused(sample_pair, tmp_path):
    """A samples layer named QGIS's way (`file.gpkg|layername=s`) with the polygons written into that file, a
    VRT's source image, a shapefile's attribute table: each was replaced by the run's output."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()
    middle = f"POINT ({x0 + 80 * dx} {y0 + 80 * dy})"
    samples = write_samples(tmp_path / "samples.gpkg", [(middle, 1)], srs)
    shutil.copy(sample_pair["t2"], tmp_path / "source.tif")
    gdal.BuildVRT(str(tmp_path / "t2.vrt"), [str(tmp_path / "source.tif")])
    shapefile = tmp_path / "aoi.shp"
    gdal.VectorTranslate(str(shapefile), samples, format="ESRI Shapefile")
    (tmp_path / "out").mkdir()
    files = sorted(path for path in tmp_path.iterdir() if path.is_file())
    before = {path: path.read_bytes() for path in files}
    for extra in ({"samples": f"{samples}|layername=s", "out_polygons": samples},
                  {"t2": str(tmp_path / "t2.vrt"), "out_change": str(tmp_path / "source.tif")},
                  {"aoi": str(shapefile), "out_stats": str(tmp_path / "aoi.dbf")}):
        # Statistics over the shapefile's table are now refused for their name first (JSON is written as .json).
        with pytest.raises(InputError, match="is also an input of the run, or a file it reads|is written as JSON"):
            run(prior_params(sample_pair, tmp_path / "out", **extra))
    assert sorted(path for path in tmp_path.iterdir() if path.is_file()) == files
    assert {path: path.read_bytes() for path in files} == before and not any((tmp_path / "out").iterdir())


def test_a_local_crs_is_named_before_any_work_for_every_input(sample_pair, tmp_path):
    """A LOCAL_CS (engineering) CRS, which PROJ transforms to nothing: T2 ended in GDAL's RuntimeError, the
    reference in one after the whole run, and samples were used untransformed after GDAL's warning."""
    local = osr.SpatialReference()
    local.SetLocalCS("arbitrary")
    copies = {}
    for name in ("t2", "truth"):
        copies[name] = str(tmp_path / f"{name}_local.tif")
        gdal.Translate(copies[name], sample_pair[name], outputSRS=local.ExportToWkt())
    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()
    square = (f"POLYGON (({x0 + 20 * dx} {y0 + 20 * dy}, {x0 + 60 * dx} {y0 + 20 * dy}, {x0 + 60 * dx} "
              f"{y0 + 60 * dy}, {x0 + 20 * dx} {y0 + 20 * dy}))")
    vector = write_samples(tmp_path / "local.gpkg", [(square, 1)], local)
    (tmp_path / "out").mkdir()
    for extra, label in (({"t2": copies["t2"]}, "T2"), ({"reference": copies["truth"]}, "Reference"),
                         ({"aoi": vector}, "AOI"), ({"samples": vector, "mode": "int8"}, "Samples")):
        with pytest.raises(InputError, match=f"{label}: the CRS of .* \\(arbitrary\\) cannot be transformed"):
            run(prior_params(sample_pair, tmp_path / "out", **extra))
        assert not any((tmp_path / "out").iterdir())


def test_nodata_nan_on_an_integer_image_masks_nothing(sample_pair, tmp_path):
    """NODATA1=NaN on T1's UInt16 bands: GDAL cast NaN to 0 and masked every real 0, as NODATA1=0 does."""
    t1 = tmp_path / "t1.tif"
    gdal.Translate(str(t1), sample_pair["t1"])
    ds = gdal.Open(str(t1), gdal.GA_Update)
    for band in range(1, ds.RasterCount + 1):
        values = ds.GetRasterBand(band).ReadAsArray()
        values[60:80, 60:80] = 0    # a dark patch inside the image, not a border
        ds.GetRasterBand(band).WriteArray(values)
    ds = None
    invalid = {}
    for nodata in (float("nan"), 0.0):
        folder = tmp_path / str(nodata)
        folder.mkdir()
        run(prior_params({**sample_pair, "t1": str(t1)}, folder, nodata1=nodata))
        invalid[str(nodata)] = int((gdal.Open(str(folder / "difference.tif")).ReadAsArray() < 0).sum())
    assert invalid["nan"] + 300 < invalid["0.0"]    # the 20 × 20 patch is no data only when 0 is asked for


def test_float64_values_beyond_float32_are_named_unless_they_are_the_nodata(sample_pair, tmp_path):
    """A Float64 image scaled past 3.4e38 read as infinite, i.e. no data: the run said the overlap held
    almost no valid pixel. Such a value that is the image's nodata is no data, and runs."""
    t2 = tmp_path / "t2.tif"
    gdal.Translate(str(t2), sample_pair["t2"], outputType=gdal.GDT_Float64, bandList=[1])
    ds = gdal.Open(str(t2), gdal.GA_Update)
    values = ds.GetRasterBand(1).ReadAsArray()
    ds.GetRasterBand(1).WriteArray(values * 1e40)
    ds.GetRasterBand(1).SetStatistics(0.0, 1.0, 0.5, 0.1)   # stale statistics, as a copy carries its source's
    ds = None
    with pytest.raises(InputError, match=r"T2: band 1 of '.*t2.tif' holds values such as .*e\+4\d, beyond the 32-bit"):
        run(prior_params({**sample_pair, "t2": str(t2)}, tmp_path))
    ds = gdal.Open(str(t2), gdal.GA_Update)
    values[:, :3] = -1e300          # a strip marked missing by the file's nodata, the rest ordinary values
    ds.GetRasterBand(1).WriteArray(values)
    ds.GetRasterBand(1).SetNoDataValue(-1e300)
    ds = None
    assert run(prior_params({**sample_pair, "t2": str(t2)}, tmp_path)).stats.changed_fraction is not None
    # The largest double along the edge, undeclared (ArcGIS's default nodata for doubles): a fill, as before.
    ds = gdal.Open(str(t2), gdal.GA_Update)
    values[:, :3] = -np.finfo(np.float64).max
    ds.GetRasterBand(1).WriteArray(values)
    ds.GetRasterBand(1).DeleteNoDataValue()
    ds = None
    assert run(prior_params({**sample_pair, "t2": str(t2)}, tmp_path, overwrite=True)).stats.changed_fraction > 0


def test_the_same_file_twice_is_refused_unless_its_bands_are_the_two_dates(sample_pair, tmp_path):
    """T1 = T2 (or a link to it) ran and reported no significant change, hiding the slip; one file holding
    both dates, read as two band sets, is a pair."""
    link = tmp_path / "link.tif"
    link.symlink_to(sample_pair["t1"])
    for t2 in (sample_pair["t1"], str(link)):
        with pytest.raises(InputError, match="T1 and T2 are the same file .* with the same bands"):
            run(prior_params(sample_pair, tmp_path, t2=t2))
    result = run(prior_params(sample_pair, tmp_path, t2=sample_pair["t1"], bands1=[1, 2], bands2=[3, 4]))
    assert result.stats.changed_fraction is not None


def test_an_output_that_cannot_be_replaced_leaves_every_earlier_output_as_it_was(sample_pair, tmp_path, monkeypatch):
    """The run's outputs replace the earlier ones all together or not at all: when the statistics could not
    be replaced (immutable, or open in another program on Windows), the new change and difference rasters
    had already replaced the old ones, beside the old statistics."""
    run(prior_params(sample_pair, tmp_path))
    before = {path: path.read_bytes() for path in tmp_path.iterdir()}
    real, refused = os.replace, []

    def refusing(source, target):   # the new statistics' rename, once (putting the old file back works)
        if str(target).endswith("stats.json") and ".partial" in str(source) and not refused:
            refused.append(target)
            raise PermissionError(13, "Permission denied", str(target))
        return real(source, target)

    monkeypatch.setattr(write.os, "replace", refusing)
    with pytest.raises(OaipError, match="stats.json' could not be written .*nothing was kept"):
        run(prior_params(sample_pair, tmp_path, mode="int8", epochs=1))
    assert {path: path.read_bytes() for path in tmp_path.iterdir()} == before


@pytest.mark.skipif(gdal.GetDriverByName("netCDF") is None, reason="GDAL without netCDF")
def test_a_file_of_subdatasets_names_one_and_a_subdataset_runs(sample_pair, tmp_path):
    """A NetCDF of several variables was "not a raster that GDAL can read", and the subdataset QGIS gives as
    its layer's source (NETCDF:"f.nc":Band1) "does not exist"."""
    stack = str(tmp_path / "t1.nc")
    gdal.Translate(stack, sample_pair["t1"], format="netCDF")
    with pytest.raises(InputError, match=r"T1: '.*t1\.nc' holds 4 subdatasets .* e\.g\. NETCDF:\".*t1\.nc\":Band1"):
        run(prior_params(sample_pair, tmp_path, t1=stack))
    result = run(prior_params(sample_pair, tmp_path, t1=f'NETCDF:"{stack}":Band1'))
    assert result.stats.changed_fraction > 0
    with pytest.raises(InputError, match=r"T1: '.*t1\.nc' holds no subdataset named as in 'NETCDF:\".*t1\.nc\":HH'; "
                                         r"it holds NETCDF:\".*t1\.nc\":Band1, NETCDF:"):   # GDAL: no such file
        run(prior_params(sample_pair, tmp_path, t1=f'NETCDF:"{stack}":HH'))


def test_an_overlap_with_a_few_valid_pixels_is_refused_not_called_unchanged(sample_pair, tmp_path):
    """T1 all nodata but a 4 × 4 patch: "no significant change" was reported on 16 pixels."""
    t1 = str(tmp_path / "t1.tif")
    gdal.Translate(t1, sample_pair["t1"], noData=0)
    ds = gdal.Open(t1, gdal.GA_Update)
    for band in range(1, ds.RasterCount + 1):
        values = ds.GetRasterBand(band).ReadAsArray()
        kept = values[60:64, 60:64].copy()
        values[:] = 0
        values[60:64, 60:64] = kept
        ds.GetRasterBand(band).WriteArray(values)
    ds = None
    with pytest.raises(InputError, match=r"Only about \d+ pixel\(s\) of the overlap have data in both images"):
        run(prior_params(sample_pair, tmp_path, t1=t1))


def test_sample_features_without_geometry_are_named(sample_pair, tmp_path):
    """A digitised feature left without geometry marked nothing, without a word."""
    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    square = (f"POLYGON (({x0 + 20 * dx} {y0 + 20 * dy}, {x0 + 60 * dx} {y0 + 20 * dy}, {x0 + 60 * dx} "
              f"{y0 + 60 * dy}, {x0 + 20 * dx} {y0 + 20 * dy}))")
    path = write_samples(tmp_path / "samples.gpkg", [(square, 0)], srs)
    source = ogr.Open(path, 1)
    layer = source.GetLayer(0)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetField("changed", 1)
    layer.CreateFeature(feature)     # no geometry
    source = None
    result = run(prior_params(sample_pair, tmp_path, samples=path))
    assert any("Samples: 1 feature(s) of" in line and "have no geometry (feature 2)" in line for line in result.log)


def test_an_image_with_a_crs_but_no_geotransform_is_named(sample_pair, tmp_path):
    """It was reported as "the two images do not overlap", the position GDAL makes up lying elsewhere."""
    t2 = str(tmp_path / "t2.tif")
    source = gdal.Open(sample_pair["t2"])
    ds = gdal.GetDriverByName("GTiff").Create(t2, source.RasterXSize, source.RasterYSize, 1, gdal.GDT_Float32)
    ds.SetProjection(source.GetProjection())
    ds.GetRasterBand(1).WriteArray(source.ReadAsArray())
    ds = None
    with pytest.raises(InputError, match="T2: .*t2.tif' has a CRS but no valid position on it"):
        run(prior_params(sample_pair, tmp_path, t2=t2))


def test_an_aoi_of_features_without_geometry_holds_no_polygon(sample_pair, tmp_path):
    """Its features all without geometry, the AOI was reported as not overlapping the images."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(tmp_path / "aoi.gpkg"))
    layer = source.CreateLayer("aoi", srs, ogr.wkbPolygon)
    layer.CreateFeature(ogr.Feature(layer.GetLayerDefn()))
    source = None
    with pytest.raises(InputError, match="AOI: '.*aoi.gpkg' holds no polygon"):
        run(prior_params(sample_pair, tmp_path, aoi=str(tmp_path / "aoi.gpkg")))


def test_a_pipe_given_as_an_input_is_refused_not_waited_on(sample_pair, tmp_path):
    """GDAL opened a named pipe and blocked until the run was killed."""
    pipe = tmp_path / "t2.tif"
    os.mkfifo(pipe)
    with pytest.raises(InputError, match="T2: .*t2.tif' is not a regular file"):
        run(prior_params(sample_pair, tmp_path, t2=str(pipe)))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder_is_refused_before_any_work(sample_pair, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(InputError, match="read-only"):
            run(prior_params(sample_pair, folder))
    finally:
        folder.chmod(0o755)


def _partial(folder, name: str, age_s: float) -> str:
    path = folder / name
    path.write_bytes(b"left over")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return name


def test_stale_partial_files_of_killed_runs_are_removed_and_live_ones_kept(sample_pair, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()                                            # a pid that is gone
    live = os.getppid()
    stale = [_partial(tmp_path, f".change.{HOST}-{dead.pid}-{uuid.uuid4().hex[:8]}.partial.tif", 600),
             _partial(tmp_path, f".difference.{uuid.uuid4().hex[:8]}.partial.tif", 2 * 3600)]  # older naming
    kept = [_partial(tmp_path, f".change.{HOST}-{live}-{uuid.uuid4().hex[:8]}.partial.tif", 7200),   # live run
            _partial(tmp_path, f".change.{HOST}-{dead.pid}-{uuid.uuid4().hex[:8]}.partial.tif", 10),  # just now
            _partial(tmp_path, f".stats.{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}.partial.json", 7200),  # ours
            _partial(tmp_path, f".change.abcdef-{dead.pid}-{uuid.uuid4().hex[:8]}.partial.tif", 600),  # elsewhere
            _partial(tmp_path, ".notes.partial.txt", 7200)]                                     # not our naming
    result = run(prior_params(sample_pair, tmp_path))
    names = {p.name for p in tmp_path.iterdir()}
    assert not names & set(stale)
    assert set(kept) <= names
    assert any("interrupted run" in line for line in result.log)
    assert remove_stale_partials(str(tmp_path)) == []


# ----- inputs that cannot be read ------------------------------------------------------------------
def _run_with_truncated(sample_pair, tmp_path, key: str, **translate) -> Path:
    """Run with input `key` copied (uncompressed strips: the header survives a cut) and cut in half; the
    run must refuse it in the damaged-file sentence; returns the output folder."""
    path = str(tmp_path / f"{key}.tif")
    gdal.Translate(path, sample_pair[key], **translate)
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match=rf"{key.upper()}: '.*{key}.tif' could not be read; the file is damaged "
                                         "or incomplete"):
        run(prior_params({**sample_pair, key: path}, out))
    return out


def test_a_truncated_geotiff_is_named_not_a_traceback(sample_pair, tmp_path):
    out = _run_with_truncated(sample_pair, tmp_path, "t2")
    assert list(out.iterdir()) == []


def test_a_truncated_image_with_an_alpha_flag_is_named_not_a_traceback(sample_pair, tmp_path):
    """A 4-band 8-bit GeoTIFF carries GDAL's alpha flag; its flagged band is the file's first read."""
    out = _run_with_truncated(sample_pair, tmp_path, "t1", outputType=gdal.GDT_Byte, scaleParams=[[]],
                              creationOptions=["PHOTOMETRIC=RGB", "ALPHA=YES"])
    assert list(out.iterdir()) == []


def test_a_blank_image_is_refused_not_reported_as_no_change(sample_pair, tmp_path):
    """One value everywhere (a blank export) gave "No significant change", a guess about a picture of nothing."""
    blank = str(tmp_path / "blank.tif")
    source = gdal.Open(sample_pair["t1"])
    copy = gdal.GetDriverByName("GTiff").CreateCopy(blank, source)
    for band in range(1, copy.RasterCount + 1):
        copy.GetRasterBand(band).Fill(7)
    copy = None
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match=r"T1: '.*blank.tif' holds one value \(7\) in every valid pixel"):
        run(prior_params({**sample_pair, "t1": blank}, out))
    assert list(out.iterdir()) == []


def test_an_empty_or_non_raster_file_is_not_reported_as_missing(sample_pair, tmp_path):
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(InputError, match="T1: .*empty.tif' is an empty file"):
        run(prior_params({**sample_pair, "t1": str(empty)}, tmp_path))
    with pytest.raises(InputError, match="T1: .*notes.tif' is not a raster that GDAL can read"):
        run(prior_params({**sample_pair, "t1": str(text)}, tmp_path))


# ----- exhausted resources ---------------------------------------------------------------------------
def _small_disk(tmp_path) -> str:
    folder = tmp_path / "small"
    folder.mkdir()
    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small file system needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    return str(folder)


def test_a_full_disk_names_the_output_and_leaves_nothing(sample_pair, tmp_path):
    folder = _small_disk(tmp_path)
    try:
        outputs = {f"out_{kind}": os.path.join(folder, f"{kind}.tif") for kind in ("change", "difference",
                                                                                    "confidence")}
        with pytest.raises(ResourceError, match=r"The output '.*small/\w+.tif' could not be written: the disk "
                                                r"holding .* is full"):
            run(RunParams(t1=sample_pair["t1"], t2=sample_pair["t2"], mode="prior", **outputs))
        assert os.listdir(folder) == []
    finally:
        subprocess.run(["umount", folder], check=False)


def test_a_failed_write_with_no_space_says_the_disk_is_full(tmp_path):
    error = write.write_failure(str(tmp_path / "change.tif"), OSError(28, "No space left on device"))
    assert isinstance(error, ResourceError) and "change.tif' could not be written: the disk" in str(error)
    other = write.write_failure(str(tmp_path / "change.tif"), RuntimeError("TIFFWriteDirectorySec:IO error"))
    assert not isinstance(other, ResourceError) and "IO error" in str(other)


@pytest.mark.parametrize("exhausted", [MemoryError(), RuntimeError("DefaultCPUAllocator: not enough memory: "
                                                                    "you tried to allocate 9 GB")])
def test_memory_running_out_is_one_sentence_with_what_to_do(sample_pair, tmp_path, monkeypatch, exhausted):
    def no_memory(*_args, **_kwargs):
        raise exhausted

    monkeypatch.setattr(prior_stage, "change_prior", no_memory)
    with pytest.raises(ResourceError, match="Memory ran out .* area of interest"):
        run(prior_params(sample_pair, tmp_path))
    assert list(tmp_path.iterdir()) == []


# ----- inputs that gave a wrong map --------------------------------------------------------------------
def test_complex_sar_is_taken_as_its_intensity_and_the_log_says_so(sample_pair, tmp_path):
    source = gdal.Open(sample_pair["t2"])
    intensity = source.GetRasterBand(1).ReadAsArray().astype(np.float64)
    nodata = source.GetRasterBand(1).GetNoDataValue()
    phase = np.random.default_rng(0).uniform(-np.pi, np.pi, intensity.shape)
    slc = np.sqrt(np.maximum(intensity, 0)) * np.exp(1j * phase)          # |z|² is the intensity again
    slc[intensity == nodata] = nodata
    t2c = str(tmp_path / "slc.tif")
    ds = gdal.GetDriverByName("GTiff").Create(t2c, source.RasterXSize, source.RasterYSize, 1, gdal.GDT_CFloat32)
    ds.SetGeoTransform(source.GetGeoTransform())
    ds.SetProjection(source.GetProjection())
    ds.GetRasterBand(1).WriteArray(slc.astype(np.complex64))
    ds.GetRasterBand(1).SetNoDataValue(nodata)
    ds = None
    for name in ("intensity", "complex"):
        (tmp_path / name).mkdir()
    run(prior_params(sample_pair, tmp_path / "intensity"))
    result = run(prior_params({**sample_pair, "t2": t2c}, tmp_path / "complex"))
    assert any("complex band(s) 1 (CFloat32)" in line and "intensity" in line for line in result.log)
    a = gdal.Open(str(tmp_path / "intensity" / "difference.tif")).ReadAsArray()
    b = gdal.Open(str(tmp_path / "complex" / "difference.tif")).ReadAsArray()
    # float32 rounding of sqrt(I)² only (a neighbour rank may flip here and there); the real part alone is far off
    assert np.abs(a - b).mean() < 1e-4 and np.abs(a - b).max() < 1e-2


@pytest.mark.parametrize("case, message", [("image", "has 3 bands"),
                                           ("classes", r"holds 2 different values besides 0 \(1, 2\)"),
                                           ("scene", "holds 96 different")])
def test_a_reference_that_is_no_change_mask_is_refused_before_any_work(sample_pair, tmp_path, case, message):
    truth = gdal.Open(sample_pair["truth"])
    mask = truth.ReadAsArray()
    path = str(tmp_path / "reference.tif")
    if case == "image":       # the optical image picked by mistake
        path = str(gdal.Translate(path, gdal.Open(sample_pair["t1"]), bandList=[1, 2, 3]).GetDescription())
    else:                     # 1 unchanged / 2 changed, or a continuous scene
        values = mask + 1 if case == "classes" else np.arange(mask.size).reshape(mask.shape) % 97
        ds = gdal.GetDriverByName("GTiff").CreateCopy(path, truth)
        ds.GetRasterBand(1).WriteArray(values.astype(np.uint8))
        ds = None
    with pytest.raises(InputError, match=f"Reference: '{path}' {message}.*not a change mask.*1 or 255"):
        run(prior_params(sample_pair, tmp_path, reference=path))
    assert not (tmp_path / "change.tif").exists()
    ds = gdal.GetDriverByName("GTiff").CreateCopy(path, truth)   # 0 / 255 is a mask
    ds.GetRasterBand(1).WriteArray((mask * 255).astype(np.uint8))
    ds = None
    assert run(prior_params(sample_pair, tmp_path, reference=path, overwrite=True)).stats.metrics["kappa"] > 0.5


def test_a_reference_of_negative_change_or_with_0_as_nodata_is_refused(sample_pair, tmp_path):
    """0 / −1 was measured with −1 as unchanged (Kappa 0), and a 0 / 1 mask tagged nodata 0 on its changed
    pixels alone (Kappa 0, precision 1), each with no word."""
    truth = gdal.Open(sample_pair["truth"])
    mask = truth.ReadAsArray()
    for name, values, nodata, message in (
            ("negative", -mask.astype(np.int16), None, "marks change with -1, a negative value"),
            ("zero-nodata", mask, 0, "declares 0 as its nodata value, so its unchanged pixels are no data"),
            ("one-nodata", mask, 1, "declares 1 as its nodata value, so its changed pixels are no data")):
        path = str(tmp_path / f"{name}.tif")
        ds = gdal.GetDriverByName("GTiff").Create(path, truth.RasterXSize, truth.RasterYSize, 1,
                                                  gdal.GDT_Int16 if values.dtype == np.int16 else gdal.GDT_Byte)
        ds.SetGeoTransform(truth.GetGeoTransform())
        ds.SetProjection(truth.GetProjection())
        ds.GetRasterBand(1).WriteArray(values)
        if nodata is not None:
            ds.GetRasterBand(1).SetNoDataValue(nodata)
        ds = None
        with pytest.raises(InputError, match=f"Reference: '{path}' {message}"):
            run(prior_params(sample_pair, tmp_path, reference=path))
        assert not (tmp_path / "change.tif").exists()


def test_a_reference_without_crs_is_laid_on_the_grid_only_at_its_size(sample_pair, tmp_path):
    """A half-size mask without georeferencing was measured against the grid's first pixels, without a word."""
    run(prior_params(sample_pair, tmp_path))
    grid = gdal.Open(str(tmp_path / "change.tif"))     # the overlap: the reference cut to it, then bare
    x0, dx, _, y0, _, dy = grid.GetGeoTransform()
    on_grid = gdal.Translate("/vsimem/on_grid.tif", sample_pair["truth"], projWin=[
        x0, y0, x0 + dx * grid.RasterXSize, y0 + dy * grid.RasterYSize]).ReadAsArray()
    for name, mask in (("half", on_grid[::2, ::2]), ("whole", on_grid)):
        path = str(tmp_path / f"{name}.tif")
        ds = gdal.GetDriverByName("GTiff").Create(path, mask.shape[1], mask.shape[0], 1, gdal.GDT_Byte)
        ds.GetRasterBand(1).WriteArray(mask)
        ds = None
        (tmp_path / name).mkdir()
        if name == "half":
            with pytest.raises(InputError, match=f"Reference: '{path}' has no CRS and is .* pixels, while the run's"):
                run(prior_params(sample_pair, tmp_path / name, reference=path))
            assert not any((tmp_path / name).iterdir())
        else:
            assert run(prior_params(sample_pair, tmp_path / name, reference=path)).stats.metrics["kappa"] > 0.5


def test_a_reference_placed_by_a_world_file_without_crs_is_refused_where_it_lies_elsewhere(sample_pair, tmp_path):
    """A mask of the grid's size whose world file put it 20 px off was laid pixel for pixel, its placement ignored:
    Kappa 0.71 -> 0.33 without a word. Placed on the grid by it, it is measured as before."""
    run(prior_params(sample_pair, tmp_path))
    grid = gdal.Open(str(tmp_path / "change.tif"))
    transform = grid.GetGeoTransform()
    x0, dx, _, y0, _, dy = transform
    on_grid = gdal.Translate("/vsimem/on_grid.tif", sample_pair["truth"], projWin=[
        x0, y0, x0 + dx * grid.RasterXSize, y0 + dy * grid.RasterYSize]).ReadAsArray()
    for name, origin in (("placed", (x0, y0)), ("shifted", (x0 + 20 * dx, y0 + 20 * dy)), ("unplaced", None)):
        path = str(tmp_path / f"{name}.tif")
        ds = gdal.GetDriverByName("GTiff").Create(path, on_grid.shape[1], on_grid.shape[0], 1, gdal.GDT_Byte)
        # As a world file gives it, with no CRS; GDAL's default, as tools that place nothing write it: pixel for pixel.
        ds.SetGeoTransform((origin[0], dx, 0.0, origin[1], 0.0, dy) if origin else (0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
        ds.GetRasterBand(1).WriteArray(on_grid)
        ds = None
        (tmp_path / name).mkdir()
        if name == "shifted":
            with pytest.raises(InputError, match=f"Reference: '{path}' is georeferenced .* but has no CRS.*Assign "
                                                 "Projection"):
                run(prior_params(sample_pair, tmp_path / name, reference=path))
            assert not any((tmp_path / name).iterdir())
        else:
            assert run(prior_params(sample_pair, tmp_path / name, reference=path)).stats.metrics["kappa"] > 0.5


def test_a_reference_read_onto_the_grid_by_nearest_neighbour_is_said(sample_pair, tmp_path):
    """A mask on another pixel size or half a pixel off was resampled without a word (the nearest pixel's tie then
    decides the labels along every edge); one on T1's own lattice, wider than the grid, reads pixel for pixel."""
    said = "is not on the run's grid (another CRS, pixel size or placement): it is read onto it by nearest neighbour"
    own = run(prior_params(sample_pair, tmp_path, reference=sample_pair["truth"]))
    assert not any(said in line for line in own.log)
    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["truth"]).GetGeoTransform()
    for name in ("coarser", "half_off"):
        path = str(tmp_path / f"{name}.tif")
        if name == "half_off":
            gdal.Translate(path, sample_pair["truth"])
            ds = gdal.Open(path, gdal.GA_Update)
            ds.SetGeoTransform((x0 + dx / 2, dx, 0.0, y0, 0.0, dy))
            ds = None
        else:
            gdal.Warp(path, sample_pair["truth"], resampleAlg="near", xRes=2 * dx, yRes=-2 * dy)
        (tmp_path / name).mkdir()
        result = run(prior_params(sample_pair, tmp_path / name, reference=path))
        assert any(f"Reference: '{path}' {said}" in line for line in result.log)


def test_a_reference_on_a_grid_without_crs_is_laid_on_it_only_at_its_size(tmp_path):
    """Two images without a CRS (SAME_GRID) and a georeferenced reference of another size: it was read from
    the grid's first pixels, without a word."""
    rng = np.random.default_rng(0)
    t1, t2 = (make_raster(tmp_path / f"{name}.tif", rng.uniform(0, 1, (80, 90)), epsg=None) for name in ("a", "b"))
    truth = np.zeros((80, 90))
    truth[20:40, 30:50] = 1
    for name, mask in (("half", truth[::2, ::2]), ("whole", truth)):
        reference = make_raster(tmp_path / f"{name}_ref.tif", mask)   # in UTM: a CRS the grid does not have
        params = RunParams(t1=t1, t2=t2, mode="prior", same_grid=True, reference=reference, overwrite=True,
                           out_stats=str(tmp_path / "stats.json"))
        if name == "half":
            with pytest.raises(InputError, match="is 45 × 40 pixels, while the run's grid, which has no CRS, is "
                                                 "90 × 80"):
                run(params)
        else:
            assert run(params).stats.metrics is not None


def test_a_partial_reference_is_measured_where_it_has_data_only(sample_pair, tmp_path):
    truth = gdal.Open(sample_pair["truth"])
    half = str(tmp_path / "half.tif")                      # the reference's left half, then a nodata block
    gdal.Translate(half, truth, srcWin=[0, 0, truth.RasterXSize // 2, truth.RasterYSize], noData=7)
    ds = gdal.Open(half, gdal.GA_Update)
    ds.GetRasterBand(1).WriteArray(np.full((20, 20), 7, np.uint8), 0, 0)
    ds = None
    result = run(prior_params(sample_pair, tmp_path, reference=half))
    metrics = result.stats.metrics
    change = gdal.Open(str(tmp_path / "change.tif")).ReadAsArray()
    full = gdal.Open(sample_pair["truth"]).ReadAsArray()  # on the change layer's grid (T1's lattice)
    x0 = (gdal.Open(str(tmp_path / "change.tif")).GetGeoTransform()[0] - truth.GetGeoTransform()[0]) / 10
    y0 = (truth.GetGeoTransform()[3] - gdal.Open(str(tmp_path / "change.tif")).GetGeoTransform()[3]) / 10
    full = full[int(y0):int(y0) + change.shape[0], int(x0):int(x0) + change.shape[1]]
    cols = np.arange(change.shape[1])[None, :] + int(x0)
    rows = np.arange(change.shape[0])[:, None] + int(y0)
    covered = (cols < truth.RasterXSize // 2) & ~((rows < 20) & (cols < 20)) & (change != 255)
    expected = accuracy(change == 1, full > 0, valid=covered)
    assert (metrics["tp"], metrics["fp"], metrics["tn"], metrics["fn"]) == \
        (expected["tp"], expected["fp"], expected["tn"], expected["fn"])
    assert metrics["reference_coverage"] == pytest.approx(covered.sum() / (change != 255).sum(), abs=1e-6)
    assert 0.3 < metrics["reference_coverage"] < 0.6
    assert any("reference covers" in line for line in result.log)


# ----- values that did nothing or crashed ----------------------------------------------------------
def test_a_threshold_given_with_an_automatic_method_is_said_to_be_ignored(sample_pair, tmp_path):
    result = run(prior_params(sample_pair, tmp_path, threshold=0.3))
    assert any("THRESHOLD 0.3 is ignored" in line and "otsu" in line for line in result.log)
    assert result.stats.threshold != pytest.approx(0.3)


def test_training_settings_in_prior_mode_and_min_area_without_polygons_are_said_to_be_ignored():
    """Values that act on nothing in this run are named (README: unused values are reported), and the
    defaults say nothing: a prior-mode run with EPOCHS 40 trained nothing and said nothing."""
    base = dict(t1="a.tif", t2="b.tif", out_change="c.tif")
    assert RunParams(**base, mode="prior").warnings() == []
    assert RunParams(**base, mode="int8", epochs=40, prune=False, seed=3, min_polygon_area=0).warnings() == []
    notes = RunParams(**base, mode="prior", epochs=40, prune=False, vgg16="w.pth").warnings()
    assert len(notes) == 1 and notes[0].startswith("EPOCHS, PRUNE, VGG16_WEIGHTS ignored")
    assert RunParams(**base, mode="prior", seed=3).warnings() == []          # the structural prior draws anchors
    assert "SEED 3 is ignored" in RunParams(**base, mode="prior", prior="affinity", seed=3).warnings()[0]
    assert "MIN_AREA 500 m² is ignored" in RunParams(**base, min_polygon_area=500).warnings()[0]
    assert RunParams(**base, min_polygon_area=500, out_polygons="p.gpkg").warnings() == []


@pytest.mark.parametrize("field, value, shown", [("epochs", 0, "EPOCHS must be a whole number from 1 to 100, not 0"),
                                                 ("epochs", 101, "from 1 to 100, not 101"),
                                                 ("seed", -1, "SEED must be a whole number from 0"),
                                                 ("device", "cuda", "DEVICE must be 'cpu'"),
                                                 # each of these ended in a traceback deep in the run
                                                 ("threads", -1, "THREADS must be a whole number from 1"),
                                                 ("tile_size", 256.0, "TILE_SIZE must be a whole number"),
                                                 ("tile_size", "512", "TILE_SIZE must be a whole number"),
                                                 ("pixel_size", float("nan"), "PIXEL_SIZE must be a number"),
                                                 ("threshold", "0.4", "THRESHOLD must be a number"),
                                                 ("min_polygon_area", float("inf"), "MIN_AREA must be a number"),
                                                 ("bands1", [1.7], "T1 bands must be whole numbers"),
                                                 # and these in a TypeError, a ValueError, or taken as true
                                                 ("t2", None, "T2 must be the path of a raster file, not None"),
                                                 ("nodata1", "0", "NODATA1 must be a number .*, not '0'"),
                                                 ("bands2", np.array([1, 2]), "T2 bands must be a list of band"),
                                                 ("coregister", "no", "COREGISTER must be true or false, not 'no'"),
                                                 ("prune", "false", "PRUNE must be true or false")])
def test_out_of_range_values_are_refused_with_their_range(field, value, shown):
    with pytest.raises(InputError, match=shown):
        RunParams(**{"t1": "a.tif", "t2": "b.tif", field: value}).validate()


@pytest.mark.parametrize("extra, shown", [({}, "EXTEND_FROM_SAMPLES needs analyst samples"),
                                          ({"samples": "s.gpkg", "mode": "prior"}, "choose MODE int8 or fp32")])
def test_finding_more_like_the_samples_without_samples_or_network_is_refused(extra, shown):
    with pytest.raises(InputError, match=shown):
        RunParams(t1="a.tif", t2="b.tif", extend_from_samples=True, **extra).validate()


def test_finding_more_like_samples_that_mark_no_change_is_refused_naming_them(sample_pair, tmp_path):
    truth = gdal.Open(sample_pair["truth"])
    x0, dx, _, y0, _, dy = truth.GetGeoTransform()
    srs = truth.GetSpatialRef()
    x0, y0 = x0 + 60 * dx, y0 + 60 * dy       # inside T2's cover: samples on no data mark nothing
    x1, y1 = x0 + 20 * dx, y0 + 20 * dy
    square = f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"
    samples = write_samples(tmp_path / "unchanged.gpkg", [(square, 0)], srs)
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError, match="unchanged.gpkg' mark no place changed"):
        run(prior_params(sample_pair, tmp_path / "out", mode="int8", samples=samples, extend_from_samples=True))
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("field, name, shown", [("out_change", "change.txt", "OUTPUT_CHANGE .* GeoTIFF.* .tif"),
                                                ("out_confidence", "conf.png", "OUTPUT_CONFIDENCE"),
                                                ("out_polygons", "changes.shp", "GeoPackage.* .gpkg"),
                                                ("out_stats", "stats.csv", "OUTPUT_STATS .* JSON.* .json"),
                                                ("out_polygons", "p.gpkg|layername=changes",
                                                 "names a layer inside a file; .* alone \\('.*p.gpkg'\\)")])
def test_an_output_named_for_another_format_is_refused_before_any_work(sample_pair, tmp_path, field, name, shown):
    with pytest.raises(InputError, match=shown):
        run(RunParams(t1=sample_pair["t1"], t2=sample_pair["t2"], mode="prior", **{field: str(tmp_path / name)}))
    assert list(tmp_path.iterdir()) == []
    RunParams(t1="a.tif", t2="b.tif", out_change="C.TIFF", out_polygons="p.GPKG").validate()   # case does not matter


@pytest.mark.parametrize("declared", [False, True])
def test_zeros_without_a_nodata_value_are_no_data_along_the_edge_and_named_inside(tmp_path, declared):
    """Outside a swath (Sentinel-1 GRD files carry it without a nodata value) the zeros are taken as no data
    (raster.border); a patch of zeros inside the image (a cloud masked to 0) is named, and compared as data."""
    x1, x2, _ = two_sensors(size=96)
    x2 = x2 + 0.05
    x2[:, :, :12] = 0
    t1 = make_raster(tmp_path / "t1.tif", x1)
    t2 = make_raster(tmp_path / "t2.tif", x2, nodata=0 if declared else None)
    log = run(RunParams(t1=t1, t2=t2, mode="prior", out_stats=str(tmp_path / "stats.json"))).log
    taken = [line for line in log if "taken as no data" in line]
    assert taken == [] if declared else (len(taken) == 1 and "T2:" in taken[0] and "NODATA2" in taken[0])
    assert not [line for line in log if "is exactly 0 in every band" in line]
    x2 = two_sensors(size=96)[1] + 0.05
    x2[:, 30:60, 30:60] = 0
    t2 = make_raster(tmp_path / "t2-patch.tif", x2, nodata=None)
    log = run(RunParams(t1=t1, t2=t2, mode="prior", out_stats=str(tmp_path / "stats.json"), overwrite=True)).log
    said = [line for line in log if "is exactly 0 in every band" in line]
    assert len(said) == 1 and "T2:" in said[0] and "set NODATA2 to 0" in said[0]
    assert not [line for line in log if "taken as no data" in line]


def test_a_white_fill_the_border_rule_cannot_take_is_named(tmp_path):
    """A map export's white corners saved with JPEG compression: the ringing fades them, so raster.border does
    not take them as no data, and they were marked changed without a word."""
    x1, x2, _ = two_sensors(size=96)
    rgb = np.clip(np.repeat(x1[:1], 3, axis=0) / x1.max() * 200 + 20, 1, 250).astype(np.uint8)
    rgb[:, :, :20] = 255
    ringing = np.random.default_rng(0).random((96, 20)) < 0.1
    rgb[:, :, :20][:, ringing] = 253          # a JPEG's ringing: the fill is not one value throughout
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "t1.tif"), 96, 96, 3, gdal.GDT_Byte)
    source = gdal.Open(make_raster(tmp_path / "t2.tif", x2))
    ds.SetGeoTransform(source.GetGeoTransform())
    ds.SetProjection(source.GetProjection())
    for band, values in enumerate(rgb, start=1):
        ds.GetRasterBand(band).WriteArray(values)
    ds = None
    log = run(RunParams(t1=str(tmp_path / "t1.tif"), t2=str(tmp_path / "t2.tif"), mode="prior",
                        out_stats=str(tmp_path / "stats.json"))).log
    said = [line for line in log if "is exactly 255, its highest value, in every band" in line]
    assert len(said) == 1 and "T1:" in said[0] and "set NODATA1 to 255" in said[0]
    # Not named: a saturated cloud inside the image, nor the top class of one band (a lake along its edge).
    inside = np.clip(np.repeat(x1[:1], 3, axis=0) / x1.max() * 200 + 20, 1, 250).astype(np.uint8)
    inside[:, 30:60, 30:60] = 255
    one_band = inside[:1].copy()
    one_band[:, :, :20] = 255
    for name, values in (("cloud", inside), ("lake", one_band)):
        ds = gdal.GetDriverByName("GTiff").Create(str(tmp_path / f"{name}.tif"), 96, 96, len(values), gdal.GDT_Byte)
        ds.SetGeoTransform(source.GetGeoTransform())
        ds.SetProjection(source.GetProjection())
        for band, data in enumerate(values, start=1):
            ds.GetRasterBand(band).WriteArray(data)
        ds = None
        log = run(RunParams(t1=str(tmp_path / f"{name}.tif"), t2=str(tmp_path / "t2.tif"), mode="prior",
                            out_stats=str(tmp_path / "stats.json"), overwrite=True)).log
        assert not [line for line in log if "its highest value" in line], name


def test_a_file_s_overviews_do_not_change_the_map(tmp_path):
    """A Cloud-Optimized GeoTIFF and a plain copy of the same pixels gave different maps on a coarser grid:
    GDAL's warp read the overviews."""
    from oaip_qgis.core.sample_pair import make_sample_pair

    pair = make_sample_pair(tmp_path / "pair", size=300, seed=1)
    with_overviews = tmp_path / "t1_cog.tif"
    gdal.Translate(str(with_overviews), pair["t1"])
    gdal.Open(str(with_overviews), gdal.GA_Update).BuildOverviews("AVERAGE", [2, 4])
    fractions = []
    for name, t1 in (("plain", pair["t1"]), ("cog", str(with_overviews))):
        (tmp_path / name).mkdir()
        fractions.append(run(prior_params({**pair, "t1": t1}, tmp_path / name, pixel_size=40.0,
                                          grid="t1")).stats.changed_fraction)
    assert fractions[0] == fractions[1]


def test_a_tiny_area_of_interest_is_named_not_the_images(sample_pair, tmp_path):
    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()
    left, top, right, bottom = x0 + 50 * dx, y0 + 50 * dy, x0 + 51.5 * dx, y0 + 51.5 * dy
    speck = write_polygon(tmp_path / "speck.geojson", f"POLYGON (({left} {top}, {right} {top}, {right} {bottom}, "
                                                       f"{left} {bottom}, {left} {top}))")
    with pytest.raises(InputError, match="The overlap of the two images and the area of interest is only .*draw a "
                                         "larger area of interest"):
        run(prior_params(sample_pair, tmp_path, aoi=speck))


def test_a_minimum_area_that_drops_every_region_is_said(sample_pair, tmp_path):
    """'0 change polygon(s)' while the change layer marked change, without a word of MIN_AREA."""
    log = run(prior_params(sample_pair, tmp_path, out_polygons=str(tmp_path / "p.gpkg"), min_polygon_area=1e12)).log
    assert "0 change polygon(s)." in log
    assert any(line.startswith("MIN_AREA 1e+12 m² dropped every change region: the change layer marks ")
               for line in log)



@pytest.fixture
def small_disk(tmp_path):
    """Mount points of tmpfs file systems of a few sizes (root only, where mounting is allowed)."""
    mounted = []

    def make(size: str) -> Path:
        folder = tmp_path / f"disk-{size}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True)
        if done.returncode != 0:
            pytest.skip("a small file system cannot be mounted here")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        subprocess.run(["umount", str(folder)], capture_output=True)


FULL_DISK_RUN = """
import sys
from oaip_qgis.core.errors import OaipError
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import run
t1, t2, out = sys.argv[1:]
try:
    run(RunParams(t1=t1, t2=t2, mode="prior", out_change=out + "/change.tif", out_difference=out + "/difference.tif",
                  out_confidence=out + "/confidence.tif", out_polygons=out + "/changes.gpkg",
                  out_stats=out + "/stats.json"))
except OaipError as exc:
    print(exc)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")
def test_a_full_disk_gives_one_sentence_without_a_traceback_and_keeps_nothing(tmp_path, small_disk):
    """A GeoTIFF that GDAL could not finish raised again in its release, where Python can only print it:
    "Exception ignored in delete_Dataset" and a traceback came before the run's one sentence (disks of 300 and 400
    KiB), and a release that failed on an otherwise good run would have let a file without its directory be placed.
    Run as the CLI runs it, in a process of its own: in pytest the exception's frames outlive the check."""
    import sys

    from oaip_qgis.core.sample_pair import make_sample_pair

    pair = make_sample_pair(tmp_path / "pair", size=300, seed=1)
    repo = Path(__file__).resolve().parents[2]
    for size in ("250k", "300k", "400k", "600k"):
        disk = small_disk(size)
        done = subprocess.run([sys.executable, "-c", FULL_DISK_RUN, pair["t1"], pair["t2"], str(disk)], cwd=repo,
                              capture_output=True, text=True, timeout=300)
        assert f"The output '{disk}/" in done.stdout and "could not be written: the disk holding" in done.stdout, (
            size, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, (size, done.stderr)
        assert list(disk.iterdir()) == [], size


def test_a_device_or_pipe_as_an_output_is_refused_not_replaced(sample_pair, tmp_path):
    """`OUTPUT_STATS=/dev/full` (as root) or a named pipe was renamed over: the device became a regular file."""
    pipe = tmp_path / "stats.json"
    os.mkfifo(pipe)
    with pytest.raises(InputError, match=f"The output '{pipe}' is not a regular file \\(a device, pipe or socket\\)"):
        run(prior_params(sample_pair, tmp_path))
    assert pipe.is_fifo() and not (tmp_path / "change.tif").exists()


def test_a_replaced_output_loses_the_old_files_gdal_sidecar(sample_pair, tmp_path):
    """`change.tif.aux.xml` (GDAL's statistics, written by gdalinfo -stats or QGIS) stayed beside a new change layer
    and GDAL-based tools read the old run's share of changed pixels from it; a sidecar of a file the run does not
    write stays."""
    run(prior_params(sample_pair, tmp_path))
    for name in ("change.tif", "other.tif"):
        (tmp_path / f"{name}.aux.xml").write_text("<PAMDataset><Metadata><MDI key='STATISTICS_MEAN'>0.0972</MDI>"
                                                  "</Metadata></PAMDataset>")
    run(prior_params(sample_pair, tmp_path, threshold_method="manual", threshold=0.2))
    assert not (tmp_path / "change.tif.aux.xml").exists() and (tmp_path / "other.tif.aux.xml").exists()
    dataset = gdal.Open(str(tmp_path / "change.tif"))
    band = dataset.GetRasterBand(1)
    values = band.ReadAsArray()
    assert band.ComputeStatistics(False)[2] == pytest.approx((values == 1).sum() / (values != 255).sum())
