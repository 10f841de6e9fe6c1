"""Analyst samples (points or polygons with a 0/1 field) burnt onto the run's grid."""
from __future__ import annotations

import uuid

import numpy as np
from osgeo import gdal, ogr

from ..errors import InputError
from ..i18n import tr
from .gdal_scope import in_gdal_scope
from .grid import Grid, check_transformable
from .strips import strips
from .vector_layer import layer_srs, open_layer, rasterize

NONE = -1
SAMPLE_FIELD = "changed"   # 1 changed, 0 unchanged: the field the dock's sample tools write


def _check_values(layer: ogr.Layer, field: str, path: str) -> None:
    """Refuse any feature whose `field` is not exactly 0 or 1: burnt as a number, -1 would silently
    mean "no sample" and 0.7 would become 0."""
    layer.ResetReading()
    for feature in layer:
        value = feature.GetField(field)
        try:
            number = float(value)
        except (TypeError, ValueError):     # empty, or text that is not a number
            number = None
        if number not in (0.0, 1.0):
            raise InputError(tr("Samples: feature {fid} of '{path}' has {field} = {value!r}; the field "
                                "must hold 0 (unchanged) or 1 (changed) in every feature.",
                                fid=feature.GetFID(), path=path, field=field, value=value))
    layer.ResetReading()


def _sample_field(layer: ogr.Layer, path: str) -> str:
    """The layer's name of SAMPLE_FIELD (as OGR finds a field: `Changed` is `changed`), its values checked."""
    definition = layer.GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    index = definition.GetFieldIndex(SAMPLE_FIELD)
    if index < 0:
        raise InputError(tr("Samples: '{path}' has no field '{field}' (fields: {fields}).",
                            path=path, field=SAMPLE_FIELD, fields=", ".join(names) or tr("none")))
    _check_values(layer, names[index], path)
    return names[index]


@in_gdal_scope
def check_samples(path: str) -> None:
    """Refuse samples without the field or with a value other than 0 or 1 before any work: found as they were
    burnt, after the images' blocks were read (half a minute and more on a Sentinel-2 tile)."""
    source, layer = open_layer(path, tr("Samples"))   # the layer lives while its data source does
    _sample_field(layer, path)


@in_gdal_scope
def rasterize_samples(path: str, grid: Grid) -> tuple[np.ndarray, int]:
    """int8 (rows, cols): 1 changed, 0 unchanged, -1 where the analyst gave nothing or gave both; and how many
    pixels lie in both a changed and an unchanged feature (burnt one over the other, the later feature won
    without a word, whichever the file happened to list last)."""
    source, layer = open_layer(path, tr("Samples"))
    field = _sample_field(layer, path)
    srs = layer_srs(layer)
    check_transformable(srs, grid.srs(), tr("Samples"), path, tr("the run's grid"))
    # Two counts per pixel, added up over the features that touch it: of changed marks, and of all marks.
    target = gdal.GetDriverByName("MEM").Create(f"oaip_{uuid.uuid4().hex}", grid.width, grid.height, 2,
                                                gdal.GDT_Int16)
    target.SetGeoTransform(grid.transform)
    if grid.crs_wkt:
        target.SetProjection(grid.crs_wkt)
    rasterize(target, path, layer, dict(bands=[1], attribute=field, allTouched=True, add=True),
              dict(bands=[2], burnValues=[1], allTouched=True, add=True))
    values = np.full((grid.height, grid.width), NONE, np.int8)
    both = 0
    for row, rows in strips(grid.height):   # two whole Int16 bands read at once took a 10 980² run to 1.8 GiB
        changed, marks = (target.GetRasterBand(band).ReadAsArray(0, row, grid.width, rows) for band in (1, 2))
        part = values[row:row + rows]
        part[(marks > 0) & (changed == 0)] = 0
        part[(marks > 0) & (changed == marks)] = 1
        both += int(((changed > 0) & (changed < marks)).sum())
    return values, both
