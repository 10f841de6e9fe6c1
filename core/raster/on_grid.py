"""Another raster (the reference mask) laid on the run's grid: refused before any work where it cannot be (a CRS
that does not transform, corners PROJ cannot take, another size without a CRS), then read window by window onto the
grid by nearest neighbour."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from osgeo import gdal, osr

from ..errors import InputError
from ..i18n import tr
from .align import warp
from .gdal_scope import exceptions_off, in_gdal_scope
from .grid import Grid, Window, check_transformable
from .image_values import chosen_bands
from .input_files import open_raster, read_or_explain
from .overlap import PIXEL_GRID, bounds, image_srs, same_lattice, same_placement
from .scratch import remove_scratch, scratch_name

UNPLACED = {(0.0, 1.0, 0.0, 0.0, 0.0, 1.0), PIXEL_GRID}   # geotransforms that say where nothing lies


def check_placed(ds: gdal.Dataset, grid: Grid, label: str, path: str) -> None:
    """Refuse a raster in another CRS whose corners do not transform into the grid's (metres labelled as degrees,
    a latitude of −300): PROJ said "Invalid latitude" some 300 times and the reference was read as unchanged
    everywhere, Kappa 0 at 100 % coverage."""
    minx, miny, maxx, maxy = bounds(ds)
    own, target = image_srs(ds), grid.srs()   # both in x/y order (grid.spatial_reference)
    with exceptions_off():   # a corner PROJ cannot take comes back infinite, said here once, not on stderr
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            corners = osr.CoordinateTransformation(own, target).TransformPoints(
                [(minx, miny), (minx, maxy), (maxx, miny), (maxx, maxy)])
        except RuntimeError:
            corners = [(math.nan, math.nan, 0.0)]
        finally:
            gdal.PopErrorHandler()
    if not all(math.isfinite(value) for corner in corners for value in corner[:2]):
        raise InputError(tr("{label}: '{path}' cannot be placed in the run's CRS: its corners ({box}) are not places "
                            "its CRS ({name}) holds, so it is likely labelled with the wrong CRS: assign its real one "
                            "(QGIS: Raster > Projections > Assign Projection; or gdal_edit.py -a_srs).", label=label,
                            path=path, box=", ".join(f"{value:.12g}" for value in (minx, miny, maxx, maxy)),
                            name=own.GetName() or "?"))


@in_gdal_scope
def check_on_grid(path: str, grid: Grid, label: str) -> Optional[str]:
    """Refuse, once before it is read window by window (`read_on_grid`: the reference, at the end of a run),
    a raster that cannot be laid on `grid`: a CRS that does not transform to the grid's, or another size
    than the grid's where it is laid pixel for pixel, without a CRS on it or on the grid (a half-size mask
    was measured against the wrong pixels without a word). Returns a note where it is read onto the grid by
    nearest neighbour (another CRS, pixel size or placement), which decides the labels along its edges."""
    ds = open_raster(path, label)
    srs = image_srs(ds)
    check_transformable(srs, grid.srs(), label, path, tr("the run's grid"))
    own = ds.GetGeoTransform(can_return_null=True)
    if own is not None and srs is None and tuple(own) in UNPLACED:   # written by tools that place nothing
        own = None   # (GDAL's default); with a CRS, (0, 1, 0, 0, 0, −1) is a placement like any (the shared pairs')
    if srs is None and grid.crs_wkt and own is not None and not same_placement(own, grid.transform):
        raise InputError(tr("{label}: '{path}' is georeferenced (a world file or geotransform places it at ({x:.12g}, "
                            "{y:.12g}) with pixels of {pixel:.12g}) but has no CRS, so it cannot be laid on the run's "
                            "grid, which starts at ({grid_x:.12g}, {grid_y:.12g}) with pixels of {grid_pixel:.12g}: "
                            "assign it the images' CRS (QGIS: Raster > Projections > Assign Projection; or "
                            "gdal_edit.py -a_srs), and it is placed by its georeferencing.", label=label, path=path,
                            x=own[0], y=own[3], pixel=own[1], grid_x=grid.transform[0], grid_y=grid.transform[3],
                            grid_pixel=grid.transform[1]))
    if grid.crs_wkt and srs is not None:
        if srs.IsSame(grid.srs()) and own is not None and same_lattice(own, grid.transform):
            return None   # on the grid's own lattice (any extent: what it does not cover is left out)
        check_placed(ds, grid, label, path)
        return tr("{label}: '{path}' is not on the run's grid (another CRS, pixel size or placement): it is read onto "
                  "it by nearest neighbour, which decides the labels along its edges.", label=label, path=path)
    if (ds.RasterXSize, ds.RasterYSize) == (grid.width, grid.height):
        return None
    if srs is None:
        raise InputError(tr("{label}: '{path}' has no CRS and is {width} × {height} pixels, while the run's grid is "
                            "{grid_width} × {grid_height}: it cannot be laid on the images. Give it their "
                            "georeferencing (QGIS: Raster > Projections > Assign Projection, or the Georeferencer), "
                            "or export it at the grid's size.", label=label, path=path, width=ds.RasterXSize,
                            height=ds.RasterYSize, grid_width=grid.width, grid_height=grid.height))
    raise InputError(tr("{label}: '{path}' is {width} × {height} pixels, while the run's grid, which has no CRS, is "
                        "{grid_width} × {grid_height}: it can only be laid on the images pixel for pixel, at their "
                        "size. Export it at the grid's size, or give the images their CRS.", label=label, path=path,
                        width=ds.RasterXSize, height=ds.RasterYSize, grid_width=grid.width, grid_height=grid.height))


@in_gdal_scope
def read_on_grid(path: str, grid: Grid, window: Optional[Window] = None) -> np.ndarray:
    """The reference mask's band on `grid`, for `window`, by nearest neighbour: float32, NaN where it has no data
    (outside its extent, or its nodata), so that no pixel it does not cover is taken as 0."""
    label = tr("Reference")
    ds = open_raster(path, label)
    chosen_bands(ds, [1], label, path)   # one in range, or the sentence that says it is not
    window = window or Window(0, 0, grid.width, grid.height)
    one = gdal.Translate(scratch_name(".vrt"), ds, format="VRT", bandList=[1])
    name = one.GetDescription()
    try:
        return _band_on_grid(one, ds, grid, window, label, path)
    finally:
        one = None   # closed before its file goes: read once per tile and at each move of the dock's slider
        remove_scratch([name])


def _band_on_grid(one: gdal.Dataset, ds: gdal.Dataset, grid: Grid, window: Window, label: str,
                  path: str) -> np.ndarray:
    """read_on_grid's reading of the one-band VRT `one` of `ds`."""
    if grid.crs_wkt and image_srs(ds) is not None:
        warped = warp(one, grid, window, (window.height, window.width), "nearest", lazy=False)
        return read_or_explain(label, path, lambda: warped.GetRasterBand(1).ReadAsArray()).astype(np.float32)
    # No CRS: the raster is taken as sharing the grid's pixels; what lies beyond it has no data.
    out = np.full((window.height, window.width), np.nan, np.float32)
    cols = max(0, min(window.width, ds.RasterXSize - window.col_off))
    rows = max(0, min(window.height, ds.RasterYSize - window.row_off))
    if rows and cols:
        source = one.GetRasterBand(1)
        values = read_or_explain(label, path, lambda: source.ReadAsArray(window.col_off, window.row_off, cols, rows))
        values = values.astype(np.float32)
        nodata = source.GetNoDataValue()
        if nodata is not None:
            values[values == nodata] = np.nan
        out[:rows, :cols] = values
    return out
