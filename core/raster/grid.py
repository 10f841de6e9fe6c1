"""The reference grid every output is written on, and pixel windows on it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from osgeo import osr

from ..errors import InputError
from ..i18n import tr

# Cells that touch, edges or corners: the neighbourhood of every region, dilation and erosion on a grid.
TOUCHING = np.ones((3, 3), bool)


def spatial_reference(wkt: str) -> Optional[osr.SpatialReference]:
    """The CRS of a WKT string with x/y (easting, northing) axis order, as geotransforms use; None when
    the string is empty (a raster without CRS)."""
    if not wkt:
        return None
    srs = osr.SpatialReference(wkt=wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def check_transformable(srs: Optional[osr.SpatialReference], target: Optional[osr.SpatialReference], label: str,
                        path: str, target_label: str) -> None:
    """Refuse a CRS that PROJ cannot transform to `target` (a local or engineering CRS, as some CAD exports
    and drone mosaics carry), naming the file: GDAL's own error was a traceback for rasters, and for
    vector layers a warning with the features left where they were."""
    if srs is None or target is None or srs.IsSame(target):
        return
    try:
        osr.CoordinateTransformation(srs, target)
    except RuntimeError as exc:
        raise InputError(tr("{label}: the CRS of '{path}' ({name}) cannot be transformed to the CRS of "
                            "{target_label} ({target}): one of them is a local (engineering) CRS, or one with no known "
                            "transformation. Assign the file its real CRS (QGIS: Raster > Projections > Assign "
                            "Projection, or Vector > Data Management Tools > Assign Projection; or gdal_edit.py "
                            "-a_srs), then run again.", label=label, path=path, name=srs.GetName() or "?",
                            target_label=target_label, target=target.GetName() or "?")) from exc


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


def distance_unit(srs: Optional[osr.SpatialReference]) -> str:
    """A CRS's distance unit, for messages ("metre", "degrees"; "pixel units" without a CRS)."""
    if srs is None:
        return tr("pixel units")
    return tr("degrees") if srs.IsGeographic() else srs.GetLinearUnitsName()
