"""Change polygons: GDAL's sieve removes specks, polygonize makes one feature per connected region."""
from __future__ import annotations

import math
import uuid

import numpy as np
from osgeo import gdal, ogr

from .areas import equal_area_transform, geometry_square_metres, row_pixel_areas
from .gdal_scope import in_gdal_scope
from .grid import Grid


def _read(path: str) -> np.ndarray:
    dataset = gdal.Open(path)  # held while its band is read: a freed dataset leaves the band dangling
    return dataset.GetRasterBand(1).ReadAsArray()


@in_gdal_scope
def polygonize_changes(change_path: str, probability_path: str | None, out_path: str, grid: Grid,
                       min_area: float = 0.0) -> int:
    """Write a GeoPackage of change regions with `area_m2` (square metres in any CRS) and `mean_prob`;
    regions smaller than `min_area` m² are dropped. Returns the feature count."""
    change = _read(change_path)
    mem = gdal.GetDriverByName("MEM")
    binary = mem.Create(f"oaip_{uuid.uuid4().hex}", grid.width, grid.height, 1, gdal.GDT_Byte)
    binary.SetGeoTransform(grid.transform)
    if grid.crs_wkt:
        binary.SetProjection(grid.crs_wkt)
    band = binary.GetRasterBand(1)
    band.WriteArray((change == 1).astype(np.uint8))
    min_pixels = math.ceil(min_area / float(row_pixel_areas(grid).max())) if min_area > 0 else 0
    if min_pixels > 1:
        gdal.SieveFilter(band, None, band, min_pixels, 8)
    driver = ogr.GetDriverByName("GPKG")
    out = driver.CreateDataSource(out_path)
    srs = grid.srs()
    layer = out.CreateLayer("changes", srs, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("region", ogr.OFTInteger))
    layer.CreateField(ogr.FieldDefn("area_m2", ogr.OFTReal))
    layer.CreateField(ogr.FieldDefn("mean_prob", ogr.OFTReal))
    gdal.Polygonize(band, band, layer, 0, ["8CONNECTED=8"])
    probability = _read(probability_path) if probability_path else None
    labels = None
    layer.StartTransaction()
    for feature in list(layer):
        feature.SetField("region", feature.GetFID())
        layer.SetFeature(feature)
    layer.CommitTransaction()
    if probability is not None:
        ids = mem.Create(f"oaip_{uuid.uuid4().hex}", grid.width, grid.height, 1, gdal.GDT_Int32)
        ids.SetGeoTransform(grid.transform)
        if grid.crs_wkt:
            ids.SetProjection(grid.crs_wkt)
        gdal.RasterizeLayer(ids, [1], layer, options=["ATTRIBUTE=region"])
        labels = ids.GetRasterBand(1).ReadAsArray()
        sums = np.bincount(labels.ravel(), weights=probability.ravel().astype(np.float64))
        counts = np.bincount(labels.ravel())
    to_metres = equal_area_transform(grid)
    layer.StartTransaction()
    for feature in list(layer):
        area = geometry_square_metres(feature.GetGeometryRef(), grid, to_metres)
        if area < min_area:
            layer.DeleteFeature(feature.GetFID())
            continue
        feature.SetField("area_m2", area)
        if labels is not None and feature.GetFID() < len(counts) and counts[feature.GetFID()]:
            feature.SetField("mean_prob", float(sums[feature.GetFID()] / counts[feature.GetFID()]))
        layer.SetFeature(feature)
    layer.CommitTransaction()
    count = layer.GetFeatureCount()
    out = None
    return count
