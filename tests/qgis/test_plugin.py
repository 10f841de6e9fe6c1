"""The plugin inside QGIS (pytest-qgis, offscreen): provider registration and a run through processing.run."""
from __future__ import annotations

import gc
import json
import re
import shutil
import sys

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException, QgsProcessingFeedback

import oaip_qgis
from tests.helpers import write_polygon, write_samples

ALG = "oaip:detectchanges"


def registry():
    return QgsApplication.processingRegistry()


def test_provider_registers_unregisters_and_registers_again(qgis_app, qgis_processing):
    plugin = oaip_qgis.classFactory(None)
    plugin.initProcessing()
    try:
        assert registry().providerById("oaip") is not None
        assert registry().algorithmById(ALG) is not None
    finally:
        plugin.unload()
    assert registry().providerById("oaip") is None
    assert registry().algorithmById(ALG) is None
    plugin.initProcessing()
    assert registry().algorithmById(ALG) is not None
    plugin.unload()


def test_unload_stops_runs_and_takes_back_what_loading_set(qgis_app, qgis_processing, monkeypatch, tmp_path):
    """A batch started from the toolbox wrote all its pairs after the plugin was unloaded; the folder torch is
    installed into stayed ahead of site-packages (its jinja2 shadowed QGIS's), and GOMP_SPINCOUNT stayed in the
    environment of every process QGIS started afterwards."""
    import os

    from qgis.core import QgsProcessingFeedback

    from oaip_qgis.core import openmp_wait
    from oaip_qgis.deps import install_task
    from oaip_qgis.processing.interrupt import cancelled_on_unload

    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    openmp_wait.spin_briefly()   # as importing the engine does
    assert os.environ["GOMP_SPINCOUNT"] == openmp_wait.SPIN_COUNT
    (tmp_path / "deps").mkdir()
    monkeypatch.setattr(install_task, "plugin_deps_folder", lambda: str(tmp_path / "deps"))
    plugin = oaip_qgis.classFactory(None)
    plugin.initProcessing()
    assert str(tmp_path / "deps") in sys.path
    feedback = QgsProcessingFeedback()
    with cancelled_on_unload(feedback):
        plugin.unload()
        assert feedback.isCanceled()
    assert str(tmp_path / "deps") not in sys.path and "GOMP_SPINCOUNT" not in os.environ
    assert not QgsProcessingFeedback().isCanceled()


def test_the_provider_offers_no_memory_layer_or_table_as_an_output(provider):
    """The output widgets offered them, and the algorithms refused them."""
    assert not registry().providerById("oaip").supportsNonFileBasedOutput()


def test_the_dialogs_offer_only_the_formats_the_engine_writes(provider):
    algorithm = registry().algorithmById(ALG)
    change = algorithm.parameterDefinition("OUTPUT_CHANGE")
    polygons = algorithm.parameterDefinition("OUTPUT_POLYGONS")
    assert change.supportedOutputRasterLayerExtensions() == ["tif"]
    assert polygons.supportedOutputVectorLayerExtensions() == ["gpkg"]


def test_processing_run_writes_outputs_on_the_finer_grid_t1s(provider, sample_pair, tmp_path):
    import processing

    out = {name: str(tmp_path / name) for name in ("change.tif", "difference.tif", "stats.json")}
    result = processing.run(ALG, {
        "T1": sample_pair["t1"], "T2": sample_pair["t2"], "REFERENCE": sample_pair["truth"],
        "MODE": "prior", "SEED": 1,
        "OUTPUT_CHANGE": out["change.tif"], "OUTPUT_DIFFERENCE": out["difference.tif"],
        "OUTPUT_STATS": out["stats.json"],
    })
    assert result["OUTPUT_CHANGE"] == out["change.tif"]
    change = gdal.Open(out["change.tif"])
    t1 = gdal.Open(sample_pair["t1"])
    x0, dx, _, y0, _, dy = change.GetGeoTransform()
    t1x0, t1dx, _, t1y0, _, t1dy = t1.GetGeoTransform()
    # On T1's grid, the finer of the two (same CRS, pixel size and lattice), cropped to the overlap with T2.
    assert (dx, dy) == (t1dx, t1dy)
    assert ((x0 - t1x0) / dx).is_integer() and ((y0 - t1y0) / dy).is_integer()
    assert 0 <= (x0 - t1x0) / dx and change.RasterXSize <= t1.RasterXSize
    assert change.GetSpatialRef().IsSame(t1.GetSpatialRef())
    values = set(change.ReadAsArray().ravel().tolist())
    assert values <= {0, 1, 255} and {0, 1} <= values
    stats = json.loads(open(out["stats.json"]).read())
    assert stats["mode"] == "prior" and stats["seed"] == 1
    assert 0 < stats["changed_fraction"] < 1
    assert set(stats["metrics"]) >= {"oa", "kappa", "f1", "precision", "recall", "auc"}
    assert stats["timing"]["total"] > 0


def test_processing_run_reports_non_overlapping_rasters(provider, sample_pair, tmp_path):
    import processing

    far = str(tmp_path / "far.tif")
    gdal.Translate(far, sample_pair["t2"], options="-a_ullr 5000000 5000000 5001000 4999000")
    with pytest.raises(QgsProcessingException, match="(?i)overlap"):
        processing.run(ALG, {"T1": sample_pair["t1"], "T2": far, "MODE": "prior",
                             "OUTPUT_CHANGE": str(tmp_path / "c.tif")})
    assert not (tmp_path / "c.tif").exists()


@pytest.mark.parametrize("name, field", [("ONE_KIND", "one_kind"), ("MASK_CLOUDS", "mask_clouds")])
def test_a_switch_off_by_default_reaches_the_engine(provider, sample_pair, tmp_path, name, field):
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(ALG)
    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    given = {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "OUTPUT_CHANGE": str(tmp_path / "c.tif")}
    assert getattr(algorithm.run_params(given, context, feedback), field) is False
    assert getattr(algorithm.run_params({**given, name: True}, context, feedback), field) is True


def test_a_band_list_a_script_gives_as_a_list_reaches_the_engine(provider, sample_pair, tmp_path):
    """processing.run(..., {"BANDS1": [1, 2]}) ran on all bands without a word: QGIS reads a list as no text."""
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(ALG)
    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    given = {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "OUTPUT_CHANGE": str(tmp_path / "c.tif")}
    for bands in ([1, 2], (1, 2), ["1", "2"], "1,2"):
        assert algorithm.run_params({**given, "BANDS1": bands}, context, feedback).bands1 == [1, 2]
    assert algorithm.run_params(given, context, feedback).bands1 is None


@pytest.mark.parametrize("word, on", [("no", False), ("off", False), ("0", False), ("false", False), ("yes", True),
                                      ("on", True), ("TRUE", True)])
def test_yes_or_no_words_mean_what_they_say(provider, sample_pair, tmp_path, word, on):
    """QGIS took every word but "false" and "0" as yes: COREGISTER=no left co-registration on."""
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(ALG)
    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    given = {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "OUTPUT_CHANGE": str(tmp_path / "c.tif"),
             "COREGISTER": word, "ONE_KIND": word}
    assert algorithm.checkParameterValues(given, context)[0]
    params = algorithm.run_params(given, context, feedback)
    assert params.coregister is on and params.one_kind is on


def test_a_yes_or_no_word_that_is_neither_is_refused(provider, sample_pair, tmp_path):
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(ALG)
    given = {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "OUTPUT_CHANGE": str(tmp_path / "c.tif"),
             "COREGISTER": "maybe"}
    ok, message = algorithm.checkParameterValues(given, QgsProcessingContext())
    assert not ok and message.startswith("COREGISTER (") and "must be true or false" in message and "'maybe'" in message


@pytest.mark.parametrize("extra, said", [
    ({"THRESHOLD_METHOD": "manual"}, "A manual threshold needs a value from 0 to below 1 (THRESHOLD is empty)"),
    ({"THRESHOLD_METHOD": "manual", "THRESHOLD": 1.0}, "needs a value from 0 to below 1, not 1.0"),
    ({"PIXEL_SIZE": 0}, "PIXEL_SIZE must be more than 0")])
def test_values_each_parameter_s_range_allows_but_the_run_refuses_are_refused_before_it(provider, sample_pair,
                                                                                       tmp_path, extra, said):
    """The dialog let THRESHOLD 1.0 (its range ends at 1), PIXEL_SIZE 0 and the manual method without a threshold
    through, and the run refused them after the dialog had closed."""
    algorithm = QgsApplication.processingRegistry().createAlgorithmById(ALG)
    given = {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "OUTPUT_CHANGE": str(tmp_path / "c.tif")}
    assert algorithm.checkParameterValues({**given, "THRESHOLD_METHOD": "manual", "THRESHOLD": 0.4},
                                          QgsProcessingContext())[0]
    ok, message = algorithm.checkParameterValues({**given, **extra}, QgsProcessingContext())
    assert not ok and said in message


def test_grid_and_nodata_parameters_reach_the_engine(provider, sample_pair, tmp_path):
    import processing

    # A copy of T2 whose bottom-right quarter holds -5, a value it declares nowhere as nodata (the nodata value it
    # declares still holds its swath's north-west corner: a declared value that no pixel held would let the
    # fill rules take the -5 as no data by themselves).
    t2 = str(tmp_path / "t2.tif")
    gdal.Translate(t2, sample_pair["t2"])
    ds = gdal.Open(t2, gdal.GA_Update)
    for i in range(1, ds.RasterCount + 1):
        band = ds.GetRasterBand(i)
        band.WriteArray(np.full((ds.RasterYSize // 2, ds.RasterXSize // 2), -5, dtype=np.float32),
                        ds.RasterXSize - ds.RasterXSize // 2, ds.RasterYSize - ds.RasterYSize // 2)
    ds = None
    runs = {}
    for name, extra in (("default", {}), ("given", {"PIXEL_SIZE": 20.0, "NODATA2": -5})):
        runs[name] = str(tmp_path / f"{name}.tif")
        processing.run(ALG, {"T1": sample_pair["t1"], "T2": t2, "MODE": "prior", "OUTPUT_CHANGE": runs[name],
                             **extra})
    default, given = gdal.Open(runs["default"]), gdal.Open(runs["given"])
    assert default.GetGeoTransform()[1] == gdal.Open(sample_pair["t1"]).GetGeoTransform()[1] == 10.0
    assert given.GetGeoTransform()[1] == 20.0
    share = {name: (ds.ReadAsArray() == 255).mean() for name, ds in (("default", default), ("given", given))}
    assert share["default"] < 0.05 and share["given"] > 0.15   # the quarter is nodata only when told


def test_outputs_the_toolbox_loads_get_the_panels_styles(provider, sample_pair, tmp_path):
    import processing
    from qgis.core import (
        QgsPalettedRasterRenderer,
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProcessingOutputLayerDefinition,
        QgsProject,
        QgsRasterLayer,
        QgsSingleBandPseudoColorRenderer,
    )

    def toolbox_run(folder) -> tuple[QgsProcessingContext, str, str]:
        context, change, difference = QgsProcessingContext(), str(folder / "change.tif"), str(folder / "difference.tif")
        processing.run(ALG, {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "prior",
                             # as the toolbox asks: load these into the project when done
                             "OUTPUT_CHANGE": QgsProcessingOutputLayerDefinition(change, QgsProject.instance()),
                             "OUTPUT_DIFFERENCE": QgsProcessingOutputLayerDefinition(difference,
                                                                                     QgsProject.instance())},
                       context=context, feedback=feedback)
        return context, change, difference

    feedback = QgsProcessingFeedback()
    (tmp_path / "first").mkdir()
    context, _, _ = toolbox_run(tmp_path / "first")
    del context   # a context deletes its layers' post-processors: a second run's were those, deleted
    gc.collect()
    context, change, difference = toolbox_run(tmp_path)
    for path, renderer in ((change, QgsPalettedRasterRenderer), (difference, QgsSingleBandPseudoColorRenderer)):
        assert context.willLoadLayerOnCompletion(path)
        processor = context.layerToLoadOnCompletionDetails(path).postProcessor()
        assert processor is not None
        layer = QgsRasterLayer(path, "loaded", "gdal")
        processor.postProcessLayer(layer, context, feedback)
        assert isinstance(layer.renderer(), renderer)
        if path == change:
            assert [c.label for c in layer.renderer().classes()] == ["unchanged", "changed"]


def test_a_number_data_defined_to_null_is_left_empty_and_one_to_text_is_refused(provider, sample_pair, tmp_path):
    """A data-defined NODATA1, NODATA2, THRESHOLD or PIXEL_SIZE that evaluates to NULL was taken as 0
    (parameterAsDouble): 0 became T1's no-data value, a manual threshold cut at 0; text was 0 as well."""
    from qgis.core import QgsProperty

    algorithm = registry().createAlgorithmById(ALG)
    given = {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "OUTPUT_CHANGE": str(tmp_path / "c.tif")}
    null = QgsProperty.fromExpression("NULL")
    params = algorithm.run_params({**given, "NODATA1": null, "NODATA2": null, "THRESHOLD": null, "PIXEL_SIZE": null},
                                  QgsProcessingContext(), QgsProcessingFeedback())
    assert (params.nodata1, params.nodata2, params.threshold, params.pixel_size) == (None, None, None, None)
    params = algorithm.run_params({**given, "NODATA1": QgsProperty.fromExpression("'-5'")}, QgsProcessingContext(),
                                  QgsProcessingFeedback())
    assert params.nodata1 == -5.0
    with pytest.raises(QgsProcessingException, match="NODATA1: its data-defined value is 'none', not a number"):
        algorithm.run_params({**given, "NODATA1": QgsProperty.fromExpression("'none'")}, QgsProcessingContext(),
                             QgsProcessingFeedback())


def test_relative_paths_given_to_qgis_process_are_recorded_absolute(provider, sample_pair, tmp_path, monkeypatch):
    """qgis_process takes paths relative to where it runs, and stats.json recorded them so: true only there (and a
    re-threshold's check of what it must not overwrite depended on the folder it ran in)."""
    for name in ("t1", "t2"):
        shutil.copy(sample_pair[name], tmp_path / f"{name}.tif")
    write_polygon(tmp_path / "aoi.geojson", "POLYGON ((0 0, 1 0, 1 1, 0 0))")
    monkeypatch.chdir(tmp_path)
    params = registry().createAlgorithmById(ALG).run_params(
        {"T1": "t1.tif", "T2": "t2.tif", "AOI": "aoi.geojson", "VGG16_WEIGHTS": "vgg16.pth",
         "OUTPUT_CHANGE": str(tmp_path / "c.tif")}, QgsProcessingContext(), QgsProcessingFeedback())
    assert (params.t1, params.t2, params.aoi, params.vgg16) == tuple(str(tmp_path / name) for name in (
        "t1.tif", "t2.tif", "aoi.geojson", "vgg16.pth"))


def test_vgg16_weights_reach_the_engine_through_processing(provider, sample_pair, tmp_path, vgg16_file):
    import processing

    stats = str(tmp_path / "stats.json")
    processing.run(ALG, {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "int8", "EPOCHS": 1,
                         "VGG16_WEIGHTS": str(vgg16_file[0]), "OUTPUT_CHANGE": str(tmp_path / "c.tif"),
                         "OUTPUT_STATS": stats})
    assert json.loads(open(stats).read())["initial_weights"] == f"vgg16 ({vgg16_file[0]}), seeds (0, 1000)"


@pytest.mark.parametrize("name, value, shown", [
    ("EPOCHS", 0, r"EPOCHS \(Training epochs\) must be from 1 to 100, not 0"),
    ("EPOCHS", 500, "from 1 to 100, not 500"),
    ("SEED", -1, "SEED .* must be from 0 to 2147483647, not -1"),
    ("THRESHOLD", 1.5, "from 0 to 1, not 1.5"),
    ("MIN_AREA", -3, "MIN_AREA .* must be 0 or more, not -3"),
    ("MODE", "int4", "MODE .* must be one of int8, fp32, prior, not 'int4'"),
    ("MODE", "3", "MODE .* must be one of int8, fp32, prior, not '3'"),
    ("EPOCHS", "abc", r"EPOCHS \(Training epochs\) must be a whole number from 1 to 100, not 'abc'"),
    ("EPOCHS", 2.5, "must be a whole number from 1 to 100, not 2.5"),
    ("MIN_AREA", "big", "MIN_AREA .* must be a number 0 or more, not 'big'"),
    ("NODATA1", "abc", r"NODATA1 \(T1 nodata value \(empty: from the file\)\) must be a number, not 'abc'"),
])
def test_an_out_of_range_number_is_refused_with_its_range(provider, sample_pair, tmp_path, name, value, shown):
    import processing

    with pytest.raises(QgsProcessingException, match=shown):
        processing.run(ALG, {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "prior", name: value,
                             "OUTPUT_CHANGE": str(tmp_path / "c.tif")})
    assert list(tmp_path.iterdir()) == []


def test_a_choice_is_taken_by_its_number_as_qgis_process_help_lists_it(provider, sample_pair, tmp_path):
    import processing

    stats = tmp_path / "stats.json"
    processing.run(ALG, {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "2", "THRESHOLD_METHOD": 2,
                         "OUTPUT_CHANGE": str(tmp_path / "c.tif"), "OUTPUT_STATS": str(stats)})
    written = json.loads(stats.read_text())
    assert (written["mode"], written["threshold_method"]) == ("prior", "kittler")


def test_a_weights_file_of_another_kind_is_named_not_an_incorrect_value(provider, sample_pair, tmp_path):
    import processing

    text = tmp_path / "weights.txt"
    text.write_text("not weights")
    for value, shown in ((str(text), "VGG16_WEIGHTS: .*weights.txt' is not a .pth file"),
                         (str(tmp_path / "missing.pth"), "VGG16_WEIGHTS: .*missing.pth' is not a file")):
        with pytest.raises(QgsProcessingException, match=shown):
            processing.run(ALG, {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "prior",
                                 "VGG16_WEIGHTS": value, "OUTPUT_CHANGE": str(tmp_path / "c.tif")})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.txt"]


def test_nan_is_a_nodata_value_not_a_number_out_of_range(provider, sample_pair, tmp_path):
    import processing

    processing.run(ALG, {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "prior", "NODATA1": "nan",
                         "OUTPUT_CHANGE": str(tmp_path / "c.tif")})
    assert (tmp_path / "c.tif").exists()


@pytest.mark.skipif(gdal.GetDriverByName("netCDF") is None, reason="GDAL without netCDF")
def test_a_layer_in_a_zip_or_a_subdataset_runs_as_the_file_itself(provider, sample_pair, tmp_path):
    """QGIS 3.22 loads a layer given as text only from a file that exists: /vsizip/… (a zipped shapefile as AOI, an
    image in a product's zip) and NETCDF:"f.nc":var, which GDAL reads and the engine's own messages suggest, were
    "not found" (qgis_process, processing.run)."""
    import zipfile

    import processing
    from osgeo import ogr, osr

    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()
    x1, y1 = x0 + 60 * dx, y0 + 90 * dy
    shapes = ogr.GetDriverByName("ESRI Shapefile").CreateDataSource(str(tmp_path / "aoi.shp"))
    layer = shapes.CreateLayer("aoi", osr.SpatialReference(gdal.Open(sample_pair["t1"]).GetProjection()),
                               ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON (({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))"))
    layer.CreateFeature(feature)
    shapes = None
    with zipfile.ZipFile(tmp_path / "pair.zip", "w") as archive:
        archive.write(sample_pair["t1"], "pair/t1.tif")
        for ext in ("shp", "shx", "dbf", "prj"):
            archive.write(tmp_path / f"aoi.{ext}", f"aoi/aoi.{ext}")
    stack = str(tmp_path / "t2.nc")
    gdal.Translate(stack, sample_pair["t2"], format="netCDF")
    inside = f"/vsizip/{tmp_path / 'pair.zip'}"
    runs = {}
    named = (f"{inside}/pair/t1.tif", f'NETCDF:"{stack}":Band1', f"{inside}/aoi/aoi.shp")
    for name, t1, t2, aoi in (("files", sample_pair["t1"], sample_pair["t2"], str(tmp_path / "aoi.shp")),
                              ("gdal names", *named)):
        out = str(tmp_path / f"{name}.tif")
        processing.run(ALG, {"T1": t1, "T2": t2, "AOI": aoi, "MODE": "prior", "SEED": 1, "OUTPUT_CHANGE": out})
        runs[name] = gdal.Open(out).ReadAsArray()
    whole = gdal.Open(sample_pair["t1"])
    assert runs["files"].shape[0] < whole.RasterYSize and runs["files"].shape[1] < whole.RasterXSize   # the AOI's
    assert np.isin(runs["files"], (0, 1)).mean() > 0.9   # a map of the AOI (all but nothing changed there)
    assert np.array_equal(runs["files"], runs["gdal names"])


def test_outputs_opened_later_keep_their_style(provider, sample_pair, tmp_path):
    """Styled only when the toolbox loaded them: opened later from their folder, the outputs were grey."""
    import processing
    from qgis.core import QgsRasterLayer

    out = {name: str(tmp_path / f"{name}.tif") for name in ("change", "difference", "confidence")}
    processing.run(ALG, {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "prior",
                         **{f"OUTPUT_{name.upper()}": path for name, path in out.items()}})
    layers = {name: QgsRasterLayer(path, name, "gdal") for name, path in out.items()}   # as dragged in
    renderers = {name: layer.renderer().type() for name, layer in layers.items()}
    assert renderers == {"change": "paletted", "difference": "singlebandpseudocolor",
                         "confidence": "singlebandpseudocolor"}
    assert sorted(p.name for p in tmp_path.glob("*.qml")) == ["change.qml", "confidence.qml", "difference.qml"]


def test_an_empty_or_non_raster_file_is_named_as_such_not_as_missing(provider, sample_pair, tmp_path):
    import processing

    (tmp_path / "empty.tif").write_bytes(b"")
    (tmp_path / "notes.tif").write_text("not a raster")
    for name, shown in (("empty.tif", "is an empty file"), ("notes.tif", "is not a raster that GDAL can read"),
                        ("nowhere.tif", "does not exist")):
        with pytest.raises(QgsProcessingException, match=f"T2: .*{name}' {shown}"):
            processing.run(ALG, {"T1": sample_pair["t1"], "T2": str(tmp_path / name), "MODE": "prior",
                                 "OUTPUT_CHANGE": str(tmp_path / "c.tif")})
    assert not (tmp_path / "c.tif").exists()


def test_a_layer_gone_from_the_project_is_named_as_a_layer_not_as_a_missing_file(provider, sample_pair, tmp_path,
                                                                                 qgis_new_project):
    """A batch row's layer removed from the project before the run was "T2: the file 't2_9516…' does not exist"."""
    from qgis.core import QgsProcessingFeatureSourceDefinition, QgsProject, QgsProperty, QgsRasterLayer

    layer = QgsRasterLayer(sample_pair["t2"], "after")
    QgsProject.instance().addMapLayer(layer)
    gone = layer.id()
    QgsProject.instance().removeMapLayer(gone)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    ok, message = registry().createAlgorithmById(ALG).checkParameterValues(
        {"T1": sample_pair["t1"], "T2": gone, "OUTPUT_CHANGE": str(tmp_path / "c.tif")}, context)
    assert not ok and message == (f"T2: '{gone}' is neither a layer of this project nor a file that exists: choose "
                                  "the layer again, or give the file's path.")
    # QGIS's batch table runs a row without checkParameterValues: "T2 must be the path of a raster file, not None."
    algorithm = registry().createAlgorithmById(ALG)
    given = {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "OUTPUT_CHANGE": str(tmp_path / "c.tif")}
    with pytest.raises(QgsProcessingException, match=re.escape(message)):
        algorithm.run_params({**given, "T2": gone}, context, QgsProcessingFeedback())
    # an AOI gone inside a selected source or a property was no AOI at all: the whole scene mapped without a word
    for aoi in (QgsProcessingFeatureSourceDefinition(gone, True), QgsProperty.fromValue(gone)):
        with pytest.raises(QgsProcessingException, match=f"AOI: '{gone}' is neither a layer of this project"):
            algorithm.run_params({**given, "AOI": aoi}, context, QgsProcessingFeedback())
    before = QgsRasterLayer(sample_pair["t1"], "before")   # a layer of the other kind is one, of the wrong kind
    QgsProject.instance().addMapLayer(before)
    with pytest.raises(QgsProcessingException, match="AOI: the layer 'before' is not a vector layer"):
        algorithm.run_params({**given, "AOI": before.id()}, context, QgsProcessingFeedback())


def test_an_area_of_interest_or_samples_file_that_is_no_vector_layer_says_what_it_is(provider, sample_pair,
                                                                                      tmp_path):
    import processing

    (tmp_path / "empty.gpkg").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a layer")
    for name, parameter, shown in (("empty.gpkg", "AOI", "is an empty file"),
                                   ("notes.txt", "SAMPLES", "is not a file that GDAL can read"),
                                   ("nowhere.gpkg", "AOI", "does not exist")):
        with pytest.raises(QgsProcessingException, match=f"{parameter}: .*{name}' {shown}"):
            processing.run(ALG, {**pair(sample_pair), parameter: str(tmp_path / name),
                                 "OUTPUT_CHANGE": str(tmp_path / "c.tif")})
    with pytest.raises(QgsProcessingException, match=r"SAMPLES: .*truth.tif' is a raster; a vector layer"):
        processing.run(ALG, {**pair(sample_pair), "SAMPLES": sample_pair["truth"],
                             "OUTPUT_CHANGE": str(tmp_path / "c.tif")})
    assert not (tmp_path / "c.tif").exists()


def test_a_layer_of_a_geopackage_is_read_from_the_analysts_file_and_named_by_it(provider, sample_pair, tmp_path):
    """Processing copied a GeoPackage layer to a temporary file, and the messages named that copy."""
    import processing
    from osgeo import ogr, osr

    areas = tmp_path / "my areas.gpkg"
    data = ogr.GetDriverByName("GPKG").CreateDataSource(str(areas))
    srs = osr.SpatialReference(gdal.Open(str(sample_pair["t1"])).GetProjection())
    for name, kind, wkt in (("zones", ogr.wkbPolygon, "POLYGON ((0 0, 1 0, 1 1, 0 0))"),
                            ("roads", ogr.wkbLineString, "LINESTRING (0 0, 1 1)")):
        layer = data.CreateLayer(name, srs, kind)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        layer.CreateFeature(feature)
    data = None
    with pytest.raises(QgsProcessingException, match=re.escape(f"AOI: '{areas}|layername=roads' holds lines")):
        processing.run(ALG, {**pair(sample_pair), "AOI": f"{areas}|layername=roads",
                             "OUTPUT_CHANGE": str(tmp_path / "c.tif")})


def test_finding_more_like_the_samples_without_samples_is_refused_in_one_sentence(provider, sample_pair, tmp_path):
    import processing

    assert registry().algorithmById(ALG).parameterDefinition("EXTEND_FROM_SAMPLES").defaultValue() is False
    with pytest.raises(QgsProcessingException, match="EXTEND_FROM_SAMPLES needs analyst samples"):
        processing.run(ALG, {**pair(sample_pair), "MODE": "int8", "EXTEND_FROM_SAMPLES": True,
                             "OUTPUT_CHANGE": str(tmp_path / "c.tif")})
    assert not (tmp_path / "c.tif").exists()


def pair(sample_pair) -> dict:
    return {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "prior"}


def test_a_layer_read_from_a_copy_is_named_as_the_analyst_knows_it(provider, sample_pair, tmp_path, qgis_new_project):
    """An AOI of selected features was refused as "AOI: '/tmp/processing_…/AOI.gpkg' holds no polygon", a temporary
    copy the analyst never saw."""
    import processing
    from qgis.core import QgsFeature, QgsGeometry, QgsProcessingFeatureSourceDefinition, QgsProject, QgsVectorLayer

    layer = QgsVectorLayer("Polygon?crs=EPSG:32633", "Flood AOI", "memory")
    layer.dataProvider().addFeatures([QgsFeature()])   # drawn and never closed: no geometry
    QgsProject.instance().addMapLayer(layer)
    layer.selectAll()
    selected = QgsProcessingFeatureSourceDefinition(layer.id(), selectedFeaturesOnly=True)
    for aoi, shown in ((selected, "layer 'Flood AOI, selected features only'"), (layer.id(), "layer 'Flood AOI'")):
        with pytest.raises(QgsProcessingException, match=f"AOI: {shown} holds no polygon"):
            processing.run(ALG, {**pair(sample_pair), "AOI": aoi, "OUTPUT_CHANGE": str(tmp_path / "c.tif")})
    far = QgsVectorLayer("Point?crs=EPSG:32633&field=changed:integer", "far samples", "memory")   # a sentence, as named
    point = QgsFeature(far.fields())
    point.setGeometry(QgsGeometry.fromWkt("POINT (100 100)"))
    point.setAttributes([1])
    far.dataProvider().addFeatures([point])
    QgsProject.instance().addMapLayer(far)
    with pytest.raises(QgsProcessingException, match="The samples in layer 'far samples' have no feature inside"):
        processing.run(ALG, {**pair(sample_pair), "SAMPLES": far.id(), "OUTPUT_CHANGE": str(tmp_path / "c.tif")})


def test_the_log_names_a_layer_read_from_a_copy_as_the_analyst_knows_it(provider, sample_pair, tmp_path,
                                                                      qgis_new_project):
    """The log said "Samples: 1 feature(s) of '/tmp/processing_…/SAMPLES.gpkg' lie outside the area compared", a
    temporary copy the analyst never saw, where its errors already named the layer."""
    import processing
    import rasterio
    from qgis.core import QgsFeature, QgsField, QgsGeometry, QgsProcessingFeedback, QgsProject, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    class Told(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.lines = []

        def pushInfo(self, info):
            self.lines.append(info)

    with rasterio.open(sample_pair["t1"]) as ds:
        (x0, y0), (x1, y1), crs = ds.transform * (20, 20), ds.transform * (40, 40), ds.crs.to_string()
    layer = QgsVectorLayer(f"Polygon?crs={crs}", "Flood samples", "memory")
    layer.dataProvider().addAttributes([QgsField("changed", QVariant.Int)])
    layer.updateFields()
    features = []
    for dx in (0, 1e6):   # one inside the overlap, one far outside it
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromWkt(f"POLYGON (({x0 + dx} {y0}, {x1 + dx} {y0}, {x1 + dx} {y1}, "
                                                f"{x0 + dx} {y1}, {x0 + dx} {y0}))"))
        feature.setAttribute("changed", 0)
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    QgsProject.instance().addMapLayer(layer)
    told = Told()
    processing.run(ALG, {**pair(sample_pair), "SAMPLES": layer.id(), "OUTPUT_CHANGE": str(tmp_path / "c.tif"),
                         "OUTPUT_STATS": str(tmp_path / "stats.json")}, feedback=told)
    outside = [line for line in told.lines if "lie outside the area compared" in line]
    assert len(outside) == 1 and "of layer 'Flood samples' lie" in outside[0], told.lines
    # stats.json recorded only QGIS's temporary copy, gone when QGIS closes
    recorded = json.loads((tmp_path / "stats.json").read_text())["parameters"]
    assert recorded["copied_layers"] == {"samples": "Flood samples"} and recorded["samples"].endswith(".gpkg")


def test_one_geometry_type_of_a_mixed_file_is_read_as_qgis_shows_it(provider, sample_pair, tmp_path):
    """`aoi.geojson|geometrytype=Polygon` (QGIS's sublayer of a file of polygons and points) was read whole: the
    grid stretched to a point the analyst's layer did not show."""
    import processing
    from qgis.core import QgsProject, QgsVectorLayer

    from oaip_qgis.layers import vector_file

    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()
    left, top, right, bottom = x0 + 60 * dx, y0 + 60 * dy, x0 + 110 * dx, y0 + 110 * dy
    features = [{"type": "Feature", "properties": {}, "geometry": geometry} for geometry in (
        {"type": "Polygon", "coordinates": [[[left, top], [right, top], [right, bottom], [left, bottom], [left, top]]]},
        {"type": "Point", "coordinates": [x0 + 140 * dx, y0 + 140 * dy]})]
    path = tmp_path / "mixed.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features,
                                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32633"}}}))
    layer = QgsVectorLayer(f"{path}|geometrytype=Polygon", "flood area", "ogr")
    assert layer.isValid() and layer.featureCount() == 1 and vector_file(layer) is None
    QgsProject.instance().addMapLayer(layer)
    processing.run(ALG, {**pair(sample_pair), "AOI": layer.id(), "OUTPUT_CHANGE": str(tmp_path / "c.tif")})
    assert gdal.Open(str(tmp_path / "c.tif")).RasterXSize == 50
    QgsProject.instance().removeMapLayer(layer.id())


def test_a_table_or_memory_layer_as_the_polygons_is_refused_as_such(provider, sample_pair, tmp_path):
    """`ogr:dbname='x.gpkg' table="t"` was refused as "give a name ending in .gpkg", naming a .gpkg."""
    import processing

    for destination in (f"ogr:dbname='{tmp_path / 'event.gpkg'}' table=\"changes\" (geom)", "memory:"):
        with pytest.raises(QgsProcessingException, match="OUTPUT_POLYGONS: .* is a database table or memory layer; "
                                                         "the engine writes files only"):
            processing.run(ALG, {**pair(sample_pair), "OUTPUT_CHANGE": str(tmp_path / "c.tif"),
                                 "OUTPUT_POLYGONS": destination})
    assert list(tmp_path.iterdir()) == []


def test_the_dialog_is_in_the_analysts_terms(provider):
    from qgis.core import QgsProcessingParameterDefinition

    algorithm = registry().algorithmById(ALG)
    advanced = {d.name() for d in algorithm.parameterDefinitions()
                if d.flags() & QgsProcessingParameterDefinition.FlagAdvanced}
    assert {"SEED", "EPOCHS", "VGG16_WEIGHTS", "MIN_AREA", "PRUNE", "NODATA1", "PIXEL_SIZE"} <= advanced
    assert not {"T1", "T2", "MODE", "REFERENCE", "OUTPUT_CHANGE"} & advanced
    assert algorithm.parameterDefinition("DEVICE") is None       # it would run on the CPU whatever it said
    assert algorithm.parameterDefinition("EPOCHS").minimum() == 1
    help_text = algorithm.shortHelpString()
    assert help_text.index("Result") < help_text.index("Which mode") < help_text.index("How it works")


def test_the_dialog_starts_t1_and_t2_on_different_layers(provider, qgis_iface, qgis_new_project, sample_pair,
                                                         monkeypatch):
    import qgis.utils
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from qgis.core import QgsProject, QgsRasterLayer
    from qgis.gui import QgsBrowserGuiModel

    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)  # the test iface has none

    layers = [QgsRasterLayer(sample_pair[name], name) for name in ("t1", "t2")]
    QgsProject.instance().addMapLayers(layers)
    qgis_iface.setActiveLayer(layers[0])
    assert qgis.utils.iface is not None
    dialog = AlgorithmDialog(registry().createAlgorithmById(ALG), False, None)
    try:
        values = dialog.createProcessingParameters()
        assert values["T1"] == layers[0].id() and values["T2"] == layers[1].id()
    finally:
        dialog.deleteLater()


def test_a_threshold_with_an_automatic_method_or_an_unknown_parameter_is_a_warning_in_the_log(provider, sample_pair,
                                                                                                tmp_path):
    import processing
    from qgis.core import QgsProcessingFeedback

    class Recorder(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.warnings, self.infos = [], []

        def pushWarning(self, text):  # noqa: N802 (QGIS's name)
            self.warnings.append(text)

        def pushInfo(self, text):  # noqa: N802 (QGIS's name)
            self.infos.append(text)

    feedback = Recorder()
    processing.run(ALG, {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "prior", "THRESHOLD": 0.3,
                         "DEVICE": "cuda", "OUTPUT_CHANGE": str(tmp_path / "c.tif")}, feedback=feedback)
    assert any("THRESHOLD 0.3 is ignored" in line for line in feedback.warnings)
    assert "DEVICE is not a parameter of this algorithm: it was ignored." in feedback.warnings
    assert not any("THRESHOLD" in line for line in feedback.infos)


@pytest.mark.parametrize("name", ["THRESHOLD_METOD", "threshold_method"])
def test_a_misspelt_parameter_is_refused_with_the_name_it_is_close_to(provider, sample_pair, tmp_path, name):
    """It was a warning and the run went on with the default method (Otsu), as if it had been asked for."""
    import processing

    with pytest.raises(QgsProcessingException, match=f"\\n{name} is not a parameter of this algorithm: did you mean "
                                                     "THRESHOLD_METHOD\\?"):
        processing.run(ALG, {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "prior", name: "kittler",
                             "OUTPUT_CHANGE": str(tmp_path / "c.tif")})
    assert list(tmp_path.iterdir()) == []


def test_the_engine_s_messages_go_through_the_translator_the_plugin_installs(qgis_app, qgis_processing):
    from oaip_qgis import i18n
    from oaip_qgis.core import i18n as core_i18n
    from oaip_qgis.core.errors import InputError
    from oaip_qgis.core.params import RunParams

    plugin = oaip_qgis.classFactory(None)
    plugin.initProcessing()
    try:
        assert core_i18n._translator is i18n.tr   # QGIS's translate, context "OAIP"
        # A stand-in translation (upper case, placeholders kept): the template is looked up, then filled in.
        core_i18n.set_translator(lambda text: re.sub(r"\{[^}]*\}|[^{]+", lambda m: m[0] if m[0][0] == "{"
                                                     else m[0].upper(), text))
        with pytest.raises(InputError, match=r"^MODE MUST BE ONE OF int8, fp32, prior, NOT 'x'\.$"):
            RunParams(t1="a.tif", t2="b.tif", mode="x").validate()
    finally:
        plugin.unload()
    assert core_i18n._translator is core_i18n._identity   # unload leaves the engine in English
    with pytest.raises(InputError, match=r"^MODE must be one of int8, fp32, prior, not 'x'\.$"):
        RunParams(t1="a.tif", t2="b.tif", mode="x").validate()


def test_the_plugin_speaks_qgis_s_language_when_it_has_its_translation(qgis_app, qgis_processing, monkeypatch):
    """Every string went through tr(), but no translation could ever be loaded: the plugin installed none."""
    from pathlib import Path

    from oaip_qgis import i18n
    from oaip_qgis.core.errors import InputError
    from oaip_qgis.core.params import RunParams

    monkeypatch.setattr(i18n, "FOLDER", str(Path(__file__).parent / "i18n"))   # a two-message French one
    monkeypatch.setattr(i18n, "user_language", lambda: "fr")
    plugin = oaip_qgis.classFactory(None)
    plugin.initProcessing()
    try:
        algorithm = QgsApplication.processingRegistry().algorithmById(ALG)
        assert algorithm.displayName() == "Détecter les changements (paire hétérogène, OAIP)"
        with pytest.raises(InputError, match=r"^MODE doit être l'un de int8, fp32, prior, pas 'x'\.$"):
            RunParams(t1="a.tif", t2="b.tif", mode="x").validate()
    finally:
        plugin.unload()
    assert i18n.tr("Detect changes (heterogeneous pair, OAIP)") == "Detect changes (heterogeneous pair, OAIP)"
    monkeypatch.setattr(i18n, "user_language", lambda: "de")   # a language it has no file for: English
    assert i18n.install_translation() is None



def test_t2_s_widget_wrapper_is_named_by_the_plugin_s_own_package(provider):
    """The dialog imports T2's widget by this dotted name: it was written out as oaip_qgis.…, which a plugin
    folder of another name (a zip unpacked by hand) would not import."""
    import importlib

    from oaip_qgis.processing.widgets import OtherRasterWidgetWrapper

    algorithm = QgsApplication.processingRegistry().algorithmById(ALG)
    module, _, name = algorithm.parameterDefinition("T2").metadata()["widget_wrapper"]["class"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is OtherRasterWidgetWrapper


def test_a_python_older_than_the_engine_needs_is_said_and_nothing_is_added(qgis_app, qgis_processing, qgis_iface,
                                                                          monkeypatch):
    """QGIS 3.22–3.28 on Windows run Python 3.9, where the plugin loaded and then failed inside a run."""
    from oaip_qgis import unsupported_python

    message = unsupported_python.unsupported_message((3, 9, 5))
    assert "needs Python 3.10 or newer" in message and "Python 3.9.5" in message
    assert unsupported_python.unsupported_message((3, 10, 0)) == ""
    pushed = []
    monkeypatch.setattr(qgis_iface.messageBar(), "pushCritical", lambda title, text: pushed.append(text))
    with monkeypatch.context() as older:
        older.setattr(sys, "version_info", (3, 9, 5, "final", 0))
        plugin = oaip_qgis.classFactory(qgis_iface)
    plugin.initGui()
    assert pushed == [message] and registry().providerById("oaip") is None
    plugin.unload()


def test_an_aoi_with_unsaved_edits_is_read_as_qgis_shows_it(provider, sample_pair, tmp_path, qgis_new_project):
    """An AOI moved in edit mode and not saved was read from its file: QGIS gave the layer's own GeoPackage, which
    still held the old polygon, and the run mapped the place the analyst had moved it from."""
    import processing
    from qgis.core import QgsGeometry, QgsProject, QgsVectorLayer, QgsVectorLayerUtils

    x0, dx, _, y0, _, dy = gdal.Open(sample_pair["t1"]).GetGeoTransform()

    def square(left: int, top: int, side: int) -> str:
        a, b = (x0 + left * dx, y0 + top * dy), (x0 + (left + side) * dx, y0 + (top + side) * dy)
        return f"POLYGON (({a[0]} {a[1]}, {b[0]} {a[1]}, {b[0]} {b[1]}, {a[0]} {b[1]}, {a[0]} {a[1]}))"

    # a format QGIS hands over as the file itself; written with OGR and closed (written by gdal.VectorTranslate, whose
    # dataset was not always closed yet, QGIS once found it without its tables in a full run)
    path = write_samples(tmp_path / "aoi.gpkg", [(square(10, 10, 60), 1)], gdal.Open(sample_pair["t1"]).GetSpatialRef())
    layer = QgsVectorLayer(path, "flood area", "ogr")
    QgsProject.instance().addMapLayer(layer)
    assert layer.startEditing()
    assert layer.changeGeometry(next(layer.getFeatures()).id(), QgsGeometry.fromWkt(square(100, 120, 40)))
    # a feature added and not saved: its fid reads "Autogenerate", which the copy's GeoPackage refused
    assert layer.addFeature(QgsVectorLayerUtils.createFeature(layer, QgsGeometry.fromWkt(square(140, 120, 20))))
    processing.run(ALG, {**pair(sample_pair), "AOI": layer.id(), "OUTPUT_CHANGE": str(tmp_path / "c.tif"),
                         "OUTPUT_STATS": str(tmp_path / "stats.json")})
    grid = gdal.Open(str(tmp_path / "c.tif"))
    assert (grid.RasterXSize, grid.RasterYSize) == (60, 40)
    assert grid.GetGeoTransform()[0] == pytest.approx(x0 + 100 * dx)
    assert json.loads((tmp_path / "stats.json").read_text())["parameters"]["copied_layers"] == {"aoi": "flood area"}
    layer.rollBack()
    QgsProject.instance().removeMapLayer(layer.id())


def test_t2_gets_qgis_s_own_layer_box_in_the_model_designer_and_the_batch_table(provider, qgis_iface, qgis_new_project,
                                                                               sample_pair, monkeypatch):
    """T2's box, built for the standard dialog's start on another layer, was QGIS's deprecated Python box in every
    dialog: in the model designer it started on T1's model input, in the batch table row 0 had no T2."""
    from processing.gui.AlgorithmDialog import AlgorithmDialog
    from processing.gui.BatchAlgorithmDialog import BatchAlgorithmDialog
    from processing.gui.wrappers import WidgetWrapperFactory
    from processing.modeler.ModelerParametersDialog import ModelerParametersDialog
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelParameter,
        QgsProcessingParameterRasterLayer,
        QgsProject,
        QgsRasterLayer,
    )
    from qgis.gui import QgsBrowserGuiModel

    from oaip_qgis.processing.widgets import OtherRasterWidgetWrapper

    browser = QgsBrowserGuiModel()
    monkeypatch.setattr(qgis_iface, "browserModel", lambda: browser, raising=False)
    layers = [QgsRasterLayer(sample_pair["t1"], "before"), QgsRasterLayer(sample_pair["t2"], "after")]
    QgsProject.instance().addMapLayers(layers)
    algorithm = registry().createAlgorithmById(ALG)
    t1, t2 = algorithm.parameterDefinition("T1"), algorithm.parameterDefinition("T2")

    model = QgsProcessingModelAlgorithm("m", "g")
    for name in ("before", "after"):
        model.addModelParameter(QgsProcessingParameterRasterLayer(name, name), QgsProcessingModelParameter(name))
    designer = ModelerParametersDialog(algorithm.create(), model)
    def box(parameter, dialog) -> type:
        return type(WidgetWrapperFactory.create_wrapper(parameter, dialog))

    assert box(t2, designer) is box(t1, designer)
    assert designer.createAlgorithm() is not None

    batch = BatchAlgorithmDialog(algorithm.create())
    assert box(t2, batch) is box(t1, batch)

    standard = AlgorithmDialog(algorithm.create(), False, None)
    assert isinstance(WidgetWrapperFactory.create_wrapper(t2, standard), OtherRasterWidgetWrapper)
    values = standard.createProcessingParameters()
    assert values["T1"] != values["T2"]   # the standard dialog still starts T2 on another layer


def test_the_toolbox_search_finds_the_algorithms_by_an_analyst_s_words(provider):
    """Tags and a short description were empty: a search for "flood" or "SAR" in the toolbox found nothing."""
    for algorithm_id in (ALG, "oaip:batchdetect"):
        tags = [tag.lower() for tag in registry().algorithmById(algorithm_id).tags()]
        assert {"flood", "sar", "optical", "earthquake"} <= set(tags)
    assert "different sensors" in registry().algorithmById(ALG).shortDescription()


def test_a_layer_that_cannot_be_copied_is_refused_in_one_sentence(qgis_app, tmp_path):
    """Written feature by feature, a point whose transform failed raised QgsCsException past the dock's and
    Processing's handlers (a traceback), and a layer QGIS marks not valid was copied empty, then called empty."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsFeature, QgsGeometry, QgsVectorLayer

    from oaip_qgis.layers import write_gpkg

    layer = QgsVectorLayer("Point?crs=EPSG:4326&field=changed:integer", "wrong crs", "memory")
    feature = QgsFeature(layer.fields())
    feature.setAttributes([1])
    feature.setGeometry(QgsGeometry.fromWkt("POINT (15 95)"))   # a latitude of 95°: a layer whose CRS is set wrong
    layer.dataProvider().addFeatures([feature])
    with pytest.raises(OSError, match="The layer 'wrong crs' has a feature \\(fid 1\\) that cannot be transformed "
                                      "from EPSG:4326 to EPSG:32633: check the layer's CRS"):
        write_gpkg(layer, str(tmp_path / "copy.gpkg"), QgsCoordinateReferenceSystem("EPSG:32633"))
    broken = QgsVectorLayer(str(tmp_path / "gone.gpkg"), "gone", "ogr")
    with pytest.raises(OSError, match="The layer 'gone' cannot be read \\(QGIS marks it as not valid"):
        write_gpkg(broken, str(tmp_path / "broken.gpkg"), QgsCoordinateReferenceSystem("EPSG:32633"))
    assert not (tmp_path / "broken.gpkg").exists()


def test_a_layer_s_copy_keeps_the_fids_its_attribute_table_shows(qgis_app, tmp_path):
    """Left out always, the fid field made the copy number a filtered layer's features from 1: a message about
    sample 2 named feature 1."""
    from osgeo import ogr, osr
    from qgis.core import QgsCoordinateReferenceSystem, QgsGeometry, QgsVectorLayer, QgsVectorLayerUtils

    from oaip_qgis.layers import write_gpkg

    path = str(tmp_path / "samples.gpkg")
    source = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    layer = source.CreateLayer("samples", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("changed", ogr.OFTInteger))
    for i in range(3):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({500000 + 10 * i} 4000000)"))
        feature.SetField("changed", i % 2)
        layer.CreateFeature(feature)
    source = None
    filtered = QgsVectorLayer(path, "samples", "ogr")
    filtered.setSubsetString("fid > 1")
    copy = ogr.Open(write_gpkg(filtered, str(tmp_path / "copy.gpkg"), filtered.crs()))
    assert [(f.GetFID(), f.GetField("changed")) for f in copy.GetLayer(0)] == [(2, 1), (3, 0)]
    # A feature added and not saved ("Autogenerate" in its fid) made the copy number every feature afresh, added
    # ones first: feature 3 of the attribute table was named 4. Saved ones keep theirs; added ones come after.
    edited = QgsVectorLayer(path, "samples", "ogr")
    assert edited.startEditing()
    changed = edited.fields().indexOf("changed")
    assert edited.changeAttributeValue(3, changed, 5)
    added = QgsVectorLayerUtils.createFeature(edited, QgsGeometry.fromWkt("POINT (500100 4000000)"), {changed: 1})
    assert edited.addFeature(added) and edited.getFeature(added.id()).attribute("fid") == "Autogenerate"
    copy = ogr.Open(write_gpkg(edited, str(tmp_path / "edited.gpkg"), QgsCoordinateReferenceSystem("EPSG:4326")))
    features = {f.GetFID(): (f.GetField("changed"), f.GetGeometryRef().GetX()) for f in copy.GetLayer(0)}
    assert sorted(features) == [1, 2, 3, 4] and features[3][0] == 5 and features[4][0] == 1
    assert all(14.99 < x < 15.01 for _, x in features.values())   # UTM 33N's 500 000 m east: 15° E
    edited.rollBack()
