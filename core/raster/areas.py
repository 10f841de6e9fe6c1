"""Areas in square metres whatever the grid's CRS.

Projected units are scaled to metres; geographic coordinates (a Sentinel-1 product terrain-corrected
to EPSG:4326, say) and Mercator ones (web tiles in EPSG:3857, whose units are 1/cos(latitude) metres)
are measured on a Lambert azimuthal equal-area projection of the same ellipsoid, centred on the grid,
so that "area_m2" and "changed_area" are square metres on the ground.
"""
from __future__ import annotations

import functools
from typing import Optional

import numpy as np
from osgeo import ogr, osr

from .grid import Grid


def _mercator(srs: osr.SpatialReference) -> bool:
    """A Mercator projection (Web Mercator, EPSG:3857, as web tiles come; EPSG:3395): its map units grow with
    latitude, 1.4× at 45° (twice the area), so they are no metres on the ground. A transverse Mercator (UTM)
    stays within 0.1 % of them in its zone."""
    method = srs.GetAttrValue("PROJECTION") or ""
    return srs.IsProjected() and (method.startswith("Mercator") or "Pseudo_Mercator" in method)


def equal_area_transform(grid: Grid) -> Optional[osr.CoordinateTransformation]:
    """Grid coordinates → metres on an equal-area plane, for a geographic or a Mercator grid; None otherwise."""
    srs = grid.srs()
    if srs is None or not (srs.IsGeographic() or _mercator(srs)):
        return None
    minx, miny, maxx, maxy = grid.bounds()
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    if srs.IsProjected():   # the centre in degrees, on the same ellipsoid
        geographic = srs.CloneGeogCS()
        geographic.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        lon, lat, _ = osr.CoordinateTransformation(srs, geographic).TransformPoint(lon, lat)
    laea = osr.SpatialReference()
    laea.ImportFromProj4(f"+proj=laea +lat_0={lat} +lon_0={lon} "
                         f"+a={srs.GetSemiMajor()} +b={srs.GetSemiMinor()} +units=m +no_defs")
    laea.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return osr.CoordinateTransformation(srs, laea)


def unit_square_metres(grid: Grid) -> float:
    """Square metres per square map unit of a projected grid (1 when the CRS is unknown)."""
    srs = grid.srs()
    return srs.GetLinearUnits() ** 2 if srs is not None and srs.IsProjected() else 1.0


@functools.lru_cache(maxsize=4)
def row_pixel_areas(grid: Grid) -> np.ndarray:
    """m² of one pixel in each row of the grid (rows differ only on a geographic or Mercator grid); read-only and
    cached, since the panel's threshold slider asks again at every move."""
    to_metres = equal_area_transform(grid)
    if to_metres is None:
        return _read_only(np.full(grid.height, grid.pixel_area() * unit_square_metres(grid)))
    x0, dx, _, y0, _, dy = grid.transform
    x = x0 + dx * (grid.width // 2)
    areas = np.empty(grid.height)
    for row in range(grid.height):
        top, bottom = y0 + dy * row, y0 + dy * (row + 1)
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for px, py in ((x, top), (x + dx, top), (x + dx, bottom), (x, bottom), (x, top)):
            ring.AddPoint_2D(px, py)
        pixel = ogr.Geometry(ogr.wkbPolygon)
        pixel.AddGeometry(ring)
        pixel.Transform(to_metres)
        areas[row] = pixel.GetArea()
    return _read_only(areas)


def change_extent(changed_rows: np.ndarray, valid_pixels: int, grid: Grid) -> dict[str, float]:
    """stats.json's changed_fraction and changed_area (m²) from the changed pixels counted per grid
    row (per row, since a pixel's area differs by row on a lat/lon grid)."""
    return {"changed_fraction": round(int(changed_rows.sum()) / max(valid_pixels, 1), 6),
            "changed_area": round(float(changed_rows @ row_pixel_areas(grid)), 3)}


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def geometry_square_metres(geometry: ogr.Geometry, grid: Grid,
                           to_metres: Optional[osr.CoordinateTransformation] = None) -> float:
    """Area of a geometry in the grid's CRS, in m² (pass equal_area_transform(grid) for speed)."""
    if to_metres is None:
        return geometry.GetArea() * unit_square_metres(grid)
    projected = geometry.Clone()
    projected.Transform(to_metres)
    return projected.GetArea()
