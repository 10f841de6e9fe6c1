"""Which samples reach the area compared, and which reach beyond it (raster/vector_layer.features_outside)."""
from __future__ import annotations

from osgeo import ogr, osr

from core.raster.gdal_scope import gdal_scope
from core.raster.vector_layer import features_outside


def _layer(wkts: list[str]) -> tuple[ogr.DataSource, ogr.Layer]:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32633)
    source = ogr.GetDriverByName("Memory").CreateDataSource("samples")
    layer = source.CreateLayer("samples", srs, ogr.wkbUnknown)
    for wkt in wkts:
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        layer.CreateFeature(feature)
    return source, layer


def test_a_point_or_line_on_the_edge_of_the_area_compared_does_not_reach_beyond_it():
    """A point sample exactly on the grid's edge was named as reaching beyond the area compared: OGR's Within
    holds only a geometry with some of its interior inside, and a point on the edge has none."""
    source, layer = _layer(["POINT (0 50)", "POINT (100 100)", "LINESTRING (0 0, 0 100)",   # on the edges
                            "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0))", "POINT (50 50)",     # inside
                            "POLYGON ((90 40, 110 40, 110 60, 90 60, 90 40))",               # across
                            "LINESTRING (50 50, 150 50)", "POINT (120 50)",                  # across; outside
                            "POLYGON ((90 40, 110 60, 110 40, 90 60, 90 40))"])              # a bowtie across
    srs = layer.GetSpatialRef()
    with gdal_scope():   # GEOS refuses to cut a polygon that crosses itself: with exceptions on, the run failed
        outside, across = features_outside(layer, (0.0, 0.0, 100.0, 100.0), srs)
    fids = [feature.GetFID() for feature in layer]
    assert outside == [fids[7]]
    assert across == [fids[5], fids[6], fids[8]]
    del source


def test_a_source_keeps_a_bar_that_is_part_of_its_path(tmp_path):
    """QGIS writes `file|layername=flood`; a folder named 'flood|2024' (a FileGDB too) is part of the path, also when
    the file named in it is missing (the message then names the whole path, not '…/flood')."""
    from core.raster.vector_layer import split_source

    folder = tmp_path / "flood|2024"
    (folder / "areas.gdb").mkdir(parents=True)
    (folder / "aoi.gpkg").write_bytes(b"")
    assert split_source(f"{folder}/aoi.gpkg|layername=a|subset=x") == (f"{folder}/aoi.gpkg",
                                                                        ["layername=a", "subset=x"])
    assert split_source(f"{folder}/areas.gdb|layername=flood") == (f"{folder}/areas.gdb", ["layername=flood"])
    assert split_source(f"{folder}/missing.gpkg") == (f"{folder}/missing.gpkg", [])
    assert split_source(f"{tmp_path}/missing.gpkg|layername=a") == (f"{tmp_path}/missing.gpkg", ["layername=a"])
