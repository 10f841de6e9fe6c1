"""Each pair's footprint as a lon/lat polygon, so pairs in different CRSs share one summary layer.

A pair that ran has the aligned grid of its statistics (what was analysed: the overlap, cropped to the
AOI); a pair that failed has its T1 file's extent when GDAL can read it, and no geometry otherwise.
Edges are densified before reprojection so that a UTM square stays the right shape in lon/lat.
"""
from __future__ import annotations

from typing import Optional

from osgeo import gdal, ogr, osr

from ..raster.gdal_scope import gdal_scope
from ..raster.grid import spatial_reference

EDGE_POINTS = 16


def wgs84() -> osr.SpatialReference:
    """EPSG:4326 in (lon, lat) order, that of the pairs' footprints and the summary layer."""
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def grid_polygon(crs_wkt: str, transform: list, width: int, height: int) -> Optional[ogr.Geometry]:
    """The grid's outline in EPSG:4326 (lon, lat); None for a grid without CRS."""
    srs = spatial_reference(crs_wkt)
    if srs is None:
        return None
    x0, dx, rx, y0, ry, dy = transform
    ring = ogr.Geometry(ogr.wkbLinearRing)
    corners = [(0, 0), (width, 0), (width, height), (0, height), (0, 0)]
    for (c0, r0), (c1, r1) in zip(corners, corners[1:]):
        for i in range(EDGE_POINTS):
            col = c0 + (c1 - c0) * i / EDGE_POINTS
            row = r0 + (r1 - r0) * i / EDGE_POINTS
            ring.AddPoint_2D(x0 + col * dx + row * rx, y0 + col * ry + row * dy)
    ring.CloseRings()
    polygon = ogr.Geometry(ogr.wkbPolygon)
    polygon.AddGeometry(ring)
    polygon.AssignSpatialReference(srs)
    polygon.TransformTo(wgs84())
    return polygon


def footprint(record: dict) -> Optional[ogr.Geometry]:
    """The record's grid outline, else its T1 file's extent, in lon/lat; None when neither is known."""
    with gdal_scope():
        try:
            grid = record.get("grid")
            if grid:
                return grid_polygon(grid["crs_wkt"], grid["transform"], grid["width"], grid["height"])
            ds = gdal.Open(record["t1"])
            return grid_polygon(ds.GetProjection(), list(ds.GetGeoTransform()), ds.RasterXSize, ds.RasterYSize)
        except (RuntimeError, KeyError, TypeError):
            return None
