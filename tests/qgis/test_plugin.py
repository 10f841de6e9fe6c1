"""The plugin inside QGIS (pytest-qgis, offscreen): provider registration and a run through processing.run."""
from __future__ import annotations

import json

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import QgsApplication, QgsProcessingException

import oaip_qgis

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


@pytest.fixture()
def provider(qgis_app, qgis_processing):
    plugin = oaip_qgis.classFactory(None)
    plugin.initProcessing()
    yield plugin
    plugin.unload()


def test_processing_run_writes_outputs_on_t1_grid(provider, sample_pair, tmp_path):
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
    # On T1's grid (same CRS, pixel size and lattice), cropped to the overlap with T2.
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


def test_grid_and_nodata_parameters_reach_the_engine(provider, sample_pair, tmp_path):
    import processing

    # A copy of T2 whose top-left quarter holds -5, a value it declares nowhere as nodata.
    t2 = str(tmp_path / "t2.tif")
    gdal.Translate(t2, sample_pair["t2"])
    ds = gdal.Open(t2, gdal.GA_Update)
    for i in range(1, ds.RasterCount + 1):
        band = ds.GetRasterBand(i)
        band.WriteArray(np.full((ds.RasterYSize // 2, ds.RasterXSize // 2), -5, dtype=np.float32))
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

    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    change, difference = str(tmp_path / "change.tif"), str(tmp_path / "difference.tif")
    processing.run(ALG, {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "prior",
                         # as the toolbox asks: load these into the project when done
                         "OUTPUT_CHANGE": QgsProcessingOutputLayerDefinition(change, QgsProject.instance()),
                         "OUTPUT_DIFFERENCE": QgsProcessingOutputLayerDefinition(difference,
                                                                                 QgsProject.instance())},
                   context=context, feedback=feedback)
    for path, renderer in ((change, QgsPalettedRasterRenderer), (difference, QgsSingleBandPseudoColorRenderer)):
        assert context.willLoadLayerOnCompletion(path)
        processor = context.layerToLoadOnCompletionDetails(path).postProcessor()
        assert processor is not None
        layer = QgsRasterLayer(path, "loaded", "gdal")
        processor.postProcessLayer(layer, context, feedback)
        assert isinstance(layer.renderer(), renderer)
        if path == change:
            assert [c.label for c in layer.renderer().classes()] == ["unchanged", "changed"]


def test_vgg16_weights_reach_the_engine_through_processing(provider, sample_pair, tmp_path, vgg16_file):
    import processing

    stats = str(tmp_path / "stats.json")
    processing.run(ALG, {"T1": sample_pair["t1"], "T2": sample_pair["t2"], "MODE": "int8", "EPOCHS": 1,
                         "VGG16_WEIGHTS": str(vgg16_file[0]), "OUTPUT_CHANGE": str(tmp_path / "c.tif"),
                         "OUTPUT_STATS": stats})
    assert json.loads(open(stats).read())["initial_weights"] == f"vgg16 ({vgg16_file[0]})"
