"""Analyst samples (points or polygons with a 0/1 field) burnt onto the run's grid."""
from __future__ import annotations

import uuid

import numpy as np
from osgeo import gdal, ogr

from ..errors import InputError
from .gdal_scope import in_gdal_scope
from .grid import Grid

NONE = -1


@in_gdal_scope
def rasterize_samples(path: str, grid: Grid, field: str = "changed") -> np.ndarray:
    """int8 (rows, cols): 1 changed, 0 unchanged, -1 where the analyst gave nothing."""
    try:
        source = ogr.Open(str(path))
    except RuntimeError as exc:
        raise InputError(f"Samples: '{path}' is not a vector layer that GDAL can read ({exc}).") from exc
    layer = source.GetLayer(0)
    names = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    if field not in names:
        raise InputError(f"Samples: '{path}' has no field '{field}' (fields: {', '.join(names) or 'none'}).")
    target = gdal.GetDriverByName("MEM").Create(f"oaip_{uuid.uuid4().hex}", grid.width, grid.height, 1,
                                                gdal.GDT_Int16)
    target.SetGeoTransform(grid.transform)
    if grid.crs_wkt:
        target.SetProjection(grid.crs_wkt)
    band = target.GetRasterBand(1)
    band.Fill(NONE)
    gdal.Rasterize(target, str(path), attribute=field, allTouched=True)
    values = band.ReadAsArray()
    if ((values != NONE) & (values != 0) & (values != 1)).any():
        raise InputError(f"Samples: field '{field}' must hold 0 (unchanged) or 1 (changed).")
    return values.astype(np.int8)
