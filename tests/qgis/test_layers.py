"""Result layers: styles, the run's group, and the difference image's histogram."""
from __future__ import annotations

import numpy as np
import pytest
from osgeo import gdal, osr
from qgis.core import QgsProject, QgsRasterLayer

from oaip_qgis.core.errors import InputError
from oaip_qgis.layers import add_run_layers, raster_source, style_change

DIFF_NODATA, CHANGE_NODATA = -1.0, 255


def write(path, array: np.ndarray, gdal_type: int, nodata: float) -> str:
    ds = gdal.GetDriverByName("GTiff").Create(str(path), array.shape[1], array.shape[0], 1, gdal_type,
                                              options=["TILED=YES", "COMPRESS=DEFLATE"])
    ds.SetGeoTransform((500000.0, 10.0, 0.0, 5000000.0, 0.0, -20.0))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    ds.SetProjection(srs.ExportToWkt())
    ds.GetRasterBand(1).SetNoDataValue(nodata)
    ds.GetRasterBand(1).WriteArray(array)
    ds = None
    return str(path)


@pytest.fixture()
def pair(tmp_path):
    rng = np.random.default_rng(5)
    diff = rng.random((700, 90)).astype(np.float32)  # more rows than one strip
    diff[:3, :] = DIFF_NODATA
    diff[5, 5] = 1.0
    change = np.where(diff == DIFF_NODATA, CHANGE_NODATA, diff > 0.5).astype(np.uint8)
    return {"diff": diff, "difference": write(tmp_path / "difference.tif", diff, gdal.GDT_Float32, DIFF_NODATA),
            "change": write(tmp_path / "change.tif", change, gdal.GDT_Byte, CHANGE_NODATA)}


def test_change_style_is_red_over_transparent(pair):
    layer = QgsRasterLayer(pair["change"], "change")
    style_change(layer)
    colours = {c.value: c.color for c in layer.renderer().classes()}
    assert colours[1].alpha() == 255 and colours[1].red() > 200 and colours[1].green() < 50
    assert colours[0].alpha() == 0


def test_run_group_is_on_top_with_the_outputs_that_exist(pair, qgis_new_project):
    QgsProject.instance().addMapLayer(QgsRasterLayer(pair["change"], "an older layer"))
    group, layers, _ = add_run_layers("OAIP run 1", {"change": pair["change"], "difference": pair["difference"],
                                                 "confidence": None})
    root = QgsProject.instance().layerTreeRoot()
    assert root.children()[0] == group and group.name() == "OAIP run 1"
    assert [child.name() for child in group.children()] == ["Change", "Difference (change score)"]
    assert set(layers) == {"change", "difference"}


def test_missing_file_is_an_error_not_an_invalid_layer(tmp_path, qgis_new_project):
    with pytest.raises(OSError, match="cannot open the change output"):
        add_run_layers("broken", {"change": str(tmp_path / "nothing.tif")})
    assert QgsProject.instance().layerTreeRoot().findGroup("broken") is None


def test_an_output_qgis_cannot_open_leaves_the_others_shown(pair, tmp_path, qgis_new_project):
    """QGIS 3.22 opens no GeoPackage in a folder named like 'Flood%20maps' (GDAL does): the run's rasters, which it
    opens there, were not added either, nor the Results tab filled."""
    group, layers, unopened = add_run_layers("OAIP run", {"change": pair["change"],
                                                          "polygons": str(tmp_path / "Flood%20maps" / "changes.gpkg")})
    assert set(layers) == {"change"} and [child.name() for child in group.children()] == ["Change"]
    assert unopened == [f"QGIS cannot open the polygons output '{tmp_path / 'Flood%20maps' / 'changes.gpkg'}'."]


def test_a_web_map_layer_is_refused_with_what_to_do(qgis_new_project):
    """A basemap picked as T1 (an XYZ tile layer) is no file: the sentence names it and the export that mends it."""
    layer = QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/{z}/{x}/{y}.png&zmax=19&zmin=0", "Imagery basemap", "wms")
    with pytest.raises(InputError, match="T1: layer 'Imagery basemap' is not a file-based .* wms layer.*Save As"):
        raster_source(layer, "T1")
