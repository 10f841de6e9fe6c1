"""The event at a glance: summary.gpkg (one footprint per pair, lon/lat) and summary.json, each written
under a temporary name and renamed into place (raster.write.OutputSet, as a run's outputs), so an
interrupted batch never leaves half a summary."""
from __future__ import annotations

import json

from osgeo import ogr

from ..raster.gdal_scope import gdal_scope
from ..raster.write import OutputSet
from .footprint import footprint, wgs84

LAYER = "pairs"
FIELDS = (  # name, OGR type, width (0: default)
    ("name", ogr.OFTString, 0), ("status", ogr.OFTString, 16), ("error", ogr.OFTString, 0),
    ("changed_area_m2", ogr.OFTReal, 0), ("changed_fraction", ogr.OFTReal, 0), ("threshold", ogr.OFTReal, 0),
    ("prior_cut", ogr.OFTReal, 0), ("shift_rows", ogr.OFTInteger, 0), ("shift_cols", ogr.OFTInteger, 0),
    ("shift_at_edge", ogr.OFTInteger, 0),
    ("mode", ogr.OFTString, 8), ("evidence", ogr.OFTString, 8), ("network_veto_share", ogr.OFTReal, 0),
    ("network_veto_applied", ogr.OFTInteger, 0), ("network_added_pixels", ogr.OFTInteger64, 0),
    ("cloud_note", ogr.OFTInteger, 0),   # 1: the run named white places (cloud?) and suggested MASK_CLOUDS
    ("seconds", ogr.OFTReal, 0), ("kappa", ogr.OFTReal, 0),
    ("t1", ogr.OFTString, 0), ("t2", ogr.OFTString, 0), ("output", ogr.OFTString, 0), ("worker", ogr.OFTString, 0),
)


def _value(record: dict, name: str):
    """A record's value for a field; "seconds" is the pipeline's time (the earlier run's for a skipped pair)."""
    return record.get("run_seconds") if name == "seconds" else record.get(name)


def write_geopackage(records: list[dict], path: str) -> str:
    """One polygon feature per pair (NULL geometry where no footprint is known), EPSG:4326."""
    srs = wgs84()
    with gdal_scope(), OutputSet() as outputs:
        source = ogr.GetDriverByName("GPKG").CreateDataSource(outputs.file(path))
        layer = source.CreateLayer(LAYER, srs, ogr.wkbPolygon)
        for name, kind, width in FIELDS:
            definition = ogr.FieldDefn(name, kind)
            definition.SetWidth(width)
            layer.CreateField(definition)
        source.StartTransaction()
        for record in records:
            feature = ogr.Feature(layer.GetLayerDefn())
            for name, _, _ in FIELDS:
                value = _value(record, name)
                if value is not None:
                    feature.SetField(name, value)
            shape = footprint(record)
            if shape is not None:
                feature.SetGeometry(shape)
            layer.CreateFeature(feature)
        source.CommitTransaction()
        source = None
    return path


def write_json(summary: dict, path: str) -> str:
    with OutputSet() as outputs:
        outputs.write_text(path, json.dumps(summary, indent=2))
    return path
