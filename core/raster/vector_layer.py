"""A vector layer given by its file, or by QGIS's `file|layername=name` or `file|layerid=n`: that layer, else the
file's first.

A GeoPackage often holds several layers. QGIS loads the first when given the file alone, and GDAL's
rasterisation refuses a file of several layers unless one is named, so every reader here opens the
same one layer through this module.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from osgeo import gdal, ogr, osr

from ..errors import InputError
from ..i18n import tr

LAYER_OPTIONS = ("layername", "layerid")   # the `|` options of QGIS's sources that this module reads
OPTION = re.compile(r"^\w+=")   # a `|` option of a source: `layername=flood`, `subset=…`, `geometrytype=Polygon`


def split_source(source: str) -> tuple[str, list[str]]:
    """(file, its `|` options) of a source as QGIS writes one (`file|layername=name|subset=…`). A `|` in a folder's
    or file's name stays in the path: the longest part before a `|` that exists is the file (or folder: a FileGDB),
    and where none exists, the options are the `key=…` parts at the end. Split at the first `|`, an AOI in
    '…/flood|2024/' was 'the file …/flood does not exist'."""
    parts = str(source).split("|")
    for end in range(len(parts), 0, -1):
        if os.path.exists("|".join(parts[:end])):
            return "|".join(parts[:end]), parts[end:]
    end = len(parts)
    while end > 1 and OPTION.match(parts[end - 1]):
        end -= 1
    return "|".join(parts[:end]), parts[end:]


def layer_source(source: str) -> tuple[str, Optional[str]]:
    """(file, layer or None) of `file`, `file|layername=name` or `file|layerid=n` (the layer as "#n"); other
    `|` options are not read here (open_layer refuses them)."""
    path, options = split_source(source)
    for option in options:
        key, _, value = option.partition("=")
        if key == "layername":
            return path, value
        if key == "layerid":
            return path, f"#{value}"
    return path, None


def other_options(source: str) -> list[str]:
    """The `|` options of a source besides the layer's name or id (`geometrytype=Polygon`, `subset=…`)."""
    return [option for option in split_source(source)[1] if option.partition("=")[0] not in LAYER_OPTIONS]


def open_layer(source: str, label: str) -> tuple[ogr.DataSource, ogr.Layer]:
    """The data source (keep it while the layer is used) and the layer `source` names."""
    path, name = layer_source(source)
    other = other_options(source)
    if other:   # `|geometrytype=Polygon` of a mixed file: the whole layer, points QGIS hides included, was read
        raise InputError(tr("{label}: '{source}' asks for {options}, which is not applied here (the whole layer is "
                            "read): save the features you mean as a layer of their own (QGIS: Export > Save "
                            "Features As…) and give that.", label=label, source=source,
                            options=", ".join(f"'{option}'" for option in other)))
    try:
        data = ogr.Open(path)
    except RuntimeError as exc:
        raise InputError(tr("{label}: '{path}' is not a vector layer that GDAL can read ({reason}).",
                            label=label, path=path, reason=exc)) from exc
    if data is None or data.GetLayerCount() == 0:
        raise InputError(tr("{label}: '{path}' holds no vector layer.", label=label, path=path))
    if name and name.startswith("#") and name[1:].isdigit():
        layer = data.GetLayer(int(name[1:]))
    else:
        layer = data.GetLayerByName(name) if name else data.GetLayer(0)
    if layer is None:
        names = ", ".join(data.GetLayer(i).GetName() for i in range(data.GetLayerCount()))
        raise InputError(tr("{label}: '{path}' has no layer '{name}' (its layers: {names}).", label=label,
                            path=path, name=name, names=names))
    return data, layer


def features_without_geometry(layer: ogr.Layer) -> list[int]:
    """The ids of a layer's features that have no geometry, or an empty one (digitising leaves such
    features): samples of that kind mark nothing, and were left out without a word."""
    layer.ResetReading()
    empty = [feature.GetFID() for feature in layer
             if feature.GetGeometryRef() is None or feature.GetGeometryRef().IsEmpty()]
    layer.ResetReading()
    return empty

def features_outside(layer: ogr.Layer, bounds: tuple[float, float, float, float],
                     srs: Optional[osr.SpatialReference]) -> tuple[list[int], list[int]]:
    """The ids of a layer's features (with a geometry) that do not reach the rectangle `bounds` (minx, miny,
    maxx, maxy in `srs`), and of those that reach beyond it in part: samples drawn beside the images mark nothing,
    and went unsaid when others did; a sample across an AOI's rectangle lost its part beyond it unsaid (its part
    inside the rectangle but outside the polygon was counted). A point or line on the rectangle's edge reaches no
    further (OGR's Within holds only geometries with some of their interior inside; a polygon, which GEOS may refuse
    to cut when it crosses itself, is told by Within alone)."""
    minx, miny, maxx, maxy = bounds
    box = ogr.CreateGeometryFromWkt(f"POLYGON (({minx} {miny}, {maxx} {miny}, {maxx} {maxy}, {minx} {maxy}, "
                                    f"{minx} {miny}))")
    own = layer_srs(layer)
    if own is not None and srs is not None and not own.IsSame(srs):
        own.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        target = srs.Clone()
        target.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        box.Segmentize((maxx - minx) / 16)   # its sides may curve in the layer's CRS
        box.Transform(osr.CoordinateTransformation(target, own))   # the box into the layer's CRS
    outside, across = [], []
    layer.ResetReading()
    for feature in layer:
        geometry = feature.GetGeometryRef()
        if geometry is None or geometry.IsEmpty():
            continue
        geometry = geometry.GetLinearGeometry()
        if not geometry.Intersects(box):
            outside.append(feature.GetFID())
        elif not geometry.Within(box) and (geometry.GetDimension() == 2 or not geometry.Difference(box).IsEmpty()):
            across.append(feature.GetFID())
    layer.ResetReading()
    return outside, across


# The CRS GeoPackage gives a layer saved without one (srs_id 0 and -1): no CRS at all, not degrees on an
# unknown ellipsoid. Taken as real, a layer in the images' metres was "transformed" from latitudes of
# 5 000 000° (PROJ errors on the terminal) and lay nowhere.
UNDEFINED_CRS = ("Undefined geographic SRS", "Undefined cartesian SRS")


def layer_srs(layer: ogr.Layer) -> Optional[osr.SpatialReference]:
    """The layer's CRS, or None when it has none (then its coordinates are taken in the run grid's CRS, as a
    shapefile's without a .prj are)."""
    srs = layer.GetSpatialRef()
    return None if srs is None or srs.GetName() in UNDEFINED_CRS else srs


def rasterize(target: gdal.Dataset, source: str, layer: ogr.Layer, *burns: dict) -> None:
    """gdal.Rasterize of `layer` (of the file `source` names) onto `target`, once per options of `burns` from one copy
    of the layer, its curves made straight lines first:
    GDAL burns nothing of a curved geometry, so a circle QGIS saved as a CURVEPOLYGON was an empty AOI ("holds no
    valid pixel") or samples "with no feature inside the overlap". A layer without a CRS is burnt in the target's
    coordinates as they are (given the target's CRS in memory, so GDAL transforms nothing)."""
    undeclared = layer_srs(layer) is None and bool(target.GetProjection())
    data = gdal.VectorTranslate("", layer_source(source)[0], format="Memory", layers=[layer.GetName()],
                                geometryType="CONVERT_TO_LINEAR",
                                **({"dstSRS": target.GetProjection(), "reproject": False} if undeclared else {}))
    for options in burns:
        gdal.Rasterize(target, data, layers=[layer.GetName()], **options)

