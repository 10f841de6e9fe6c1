"""The reference grid every output is written on, and pixel windows on it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from osgeo import osr


def spatial_reference(wkt: str) -> Optional[osr.SpatialReference]:
    """The CRS of a WKT string with x/y (easting, northing) axis order, as geotransforms use; None when
    the string is empty (a raster without CRS)."""
    if not wkt:
        return None
    srs = osr.SpatialReference(wkt=wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


@dataclass(frozen=True)
class Window:
    col_off: int
    row_off: int
    width: int
    height: int

    def slices(self) -> tuple[slice, slice]:
        return slice(self.row_off, self.row_off + self.height), slice(self.col_off, self.col_off + self.width)


@dataclass(frozen=True)
class Grid:
    crs_wkt: str
    transform: tuple  # GDAL geotransform (x0, dx, rx, y0, ry, dy)
    width: int
    height: int

    def srs(self) -> Optional[osr.SpatialReference]:
        return spatial_reference(self.crs_wkt)

    def pixel_area(self) -> float:
        """Area of one pixel in map units² (areas.row_pixel_areas gives m² in any CRS)."""
        x0, dx, rx, y0, ry, dy = self.transform
        return abs(dx * dy - rx * ry)

    def bounds(self) -> tuple[float, float, float, float]:
        x0, dx, _, y0, _, dy = self.transform
        xs = (x0, x0 + dx * self.width)
        ys = (y0, y0 + dy * self.height)
        return min(xs), min(ys), max(xs), max(ys)
