"""The reference grid every output is written on, and pixel windows on it."""
from __future__ import annotations

from dataclasses import dataclass


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

    def pixel_area(self) -> float:
        """Area of one pixel in map units² (areas.row_pixel_areas gives m² in any CRS)."""
        x0, dx, rx, y0, ry, dy = self.transform
        return abs(dx * dy - rx * ry)

    def bounds(self) -> tuple[float, float, float, float]:
        x0, dx, _, y0, _, dy = self.transform
        xs = (x0, x0 + dx * self.width)
        ys = (y0, y0 + dy * self.height)
        return min(xs), min(ys), max(xs), max(ys)
