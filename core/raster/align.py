"""Open two rasters, validate them, and bring both onto one grid with GDAL warped VRTs.

Nothing is resampled by hand: gdal.Warp builds lazy VRTs (float32, NaN where there is no data), so
any window of the aligned pair is read on demand and memory does not grow with the image. A
decimated read with average resampling gives the block means the prior works on.
"""
from __future__ import annotations

import functools
import math
import os
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Optional, Union

import numpy as np
from osgeo import gdal, ogr, osr
from scipy import ndimage

from ..errors import InputError
from ..i18n import tr
from .border import edge_regions
from .border_mask import with_mask
from .coregister import Shift
from .found_nodata import found_nodata
from .gdal_scope import in_gdal_scope
from .grid import TOUCHING, Grid, Window, check_transformable, spatial_reference
from .input_files import check_not_a_mask, decimated, open_raster, read_or_explain
from .scratch import remove_scratch, removed_on_failure, scratch_name
from .vector_layer import layer_srs, open_layer, rasterize

MAX_UPSAMPLING = 16   # a chosen pixel size may give at most this many times the larger image's pixels


def _applies_scale(ds: gdal.Dataset, bands: list[int], found: tuple, label: str, path: str, notes: list) -> bool:
    """Whether the image's VRT applies the scale and offset its bands declare (radar decibels stored as Int16 ×
    100 were compared as stored: the log-ratio refused them as "not decibels", Kappa 0.02 below the float
    twin), said in `notes` either way. Not where a nodata value was given or found, or a border mask: those
    are in stored units, which the scaled bands no longer hold; nor for complex bands."""
    scaled = [band for band in bands if (ds.GetRasterBand(band).GetScale() or 1.0) != 1.0
              or (ds.GetRasterBand(band).GetOffset() or 0.0) != 0.0]
    if not scaled:
        return False
    nodata, _, mask = found
    listed = ", ".join(str(band) for band in scaled)
    if nodata is None and mask is None and not any(gdal.DataTypeIsComplex(ds.GetRasterBand(b).DataType)
                                                   for b in bands):
        notes.append(tr("{label}: band(s) {listed} of '{path}' declare a scale or offset: their values are "
                        "compared as it gives them (physical units).", label=label, path=path, listed=listed))
        return True
    notes.append(tr("{label}: band(s) {listed} of '{path}' declare a scale or offset that the run does not apply, "
                    "as it reads a nodata value or border in stored units: it compares the stored values (the "
                    "same for optical bands; not for radar stored as scaled decibels). To compare the physical "
                    "values, convert the file first (gdal_translate -unscale -ot Float32).", label=label, path=path,
                    listed=listed))
    return False


def _srs(ds: gdal.Dataset) -> Optional[osr.SpatialReference]:
    return spatial_reference(ds.GetProjection())


def _integer_range(ds: gdal.Dataset, band: int) -> Optional[np.iinfo]:
    """The values an integer band can hold; None for floating-point and complex bands."""
    kind = gdal.GetDataTypeName(ds.GetRasterBand(band).DataType)
    try:
        return np.iinfo("uint8" if kind == "Byte" else kind.lower())
    except ValueError:   # floating point or complex: any number can occur
        return None


def _check_nodata(ds: gdal.Dataset, bands: list[int], nodata: Optional[float], number: int) -> None:
    """Refuse a nodata value that no pixel of an integer band can hold (GDAL would clamp 1e40 to 65535, or
    round 0.5 to 0, and mask real data). NaN masks nothing in an integer band (`_select`), and is float
    data's nodata."""
    if nodata is None or math.isnan(nodata):
        return
    for band in bands:
        info = _integer_range(ds, band)
        if info is None:
            continue
        if not (math.isfinite(nodata) and nodata == int(nodata) and info.min <= nodata <= info.max):
            raise InputError(tr("NODATA{number} {value:g} cannot occur in T{number}'s {kind} band {band}: give a "
                                "whole number from {low} to {high}, or leave it empty for the file's own.",
                                number=number, value=nodata, kind=gdal.GetDataTypeName(ds.GetRasterBand(band).DataType),
                                band=band, low=info.min, high=info.max))


def _flagged_alpha(ds: gdal.Dataset) -> Optional[int]:
    """The band (1-based) the file flags as alpha, if any."""
    return next((b for b in range(1, ds.RasterCount + 1)
                 if ds.GetRasterBand(b).GetColorInterpretation() == gdal.GCI_AlphaBand), None)


def _alpha_band(ds: gdal.Dataset, label: str, path: str) -> Optional[int]:
    """The image's alpha band (1-based), if it has one that holds a mask: at most two values (transparent
    and opaque). GDAL writes any 4-band 8-bit GeoTIFF as RGBA unless told otherwise, so a red, green,
    blue and near-infrared image carries the flag on its NIR band, which is data. This is the first read
    of such a file, so a damaged one is named here."""
    band = _flagged_alpha(ds)
    if band is None:
        return None
    return band if np.unique(read_or_explain(label, path, lambda: decimated(ds, [band]))).size <= 2 else None


def _alpha_read_as_data(ds: gdal.Dataset, alpha: Optional[int], label: str, notes: list) -> None:
    """Say so when a band flagged as alpha holds data (`alpha`, `_alpha_band`'s answer, is None) and is
    compared as such."""
    band = _flagged_alpha(ds)
    if band is not None and alpha is None:
        notes.append(tr("{label}: band {band} is flagged as alpha but holds more than two values, so it is "
                        "compared as data (a fourth band such as near-infrared, which GDAL flags as alpha by "
                        "default); if it is a mask, choose the other bands with BANDS{number}.", label=label,
                        band=band, number=label[-1]))


def _bands(ds: gdal.Dataset, bands: Optional[Sequence[int]], label: str, path: str,
           alpha: Optional[int] = None) -> list[int]:
    """The bands asked for, checked; by default every band but the alpha band `alpha` (`_alpha_band`: GDAL
    reads it as the other bands' mask, not as data). Signed 8-bit bands are refused: GDAL 3.6 warps them as
    unsigned (−25 dB read as 231, a −128 nodata as 128: Kappa 0.26 against 0.92 as Int16)."""
    for band in bands or []:
        if not 1 <= int(band) <= ds.RasterCount:
            raise InputError(tr("{label}: band {band} is out of range: '{path}' has {count} band(s).",
                                label=label, band=band, path=path, count=ds.RasterCount))
    every = list(range(1, ds.RasterCount + 1))
    chosen = [int(b) for b in bands] if bands else [b for b in every if b != alpha] or every
    if any(ds.GetRasterBand(b).GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE") == "SIGNEDBYTE" for b in chosen):
        raise InputError(tr("{label}: '{path}' holds signed 8-bit values (PIXELTYPE=SIGNEDBYTE), which this GDAL "
                            "reads as unsigned where the images are warped: convert it to 16-bit with its signs "
                            "first (gdal_calc.py -A '{path}' --calc=\"where(A > 127, A.astype(int16) - 256, A)\" "
                            "--type=Int16 --NoDataValue=-128 --outfile=converted.tif; gdal_translate -ot Int16 would "
                            "keep 0 to 255), then run with that file.", label=label, path=path))
    return chosen


ROTATION_TOLERANCE = 0.01   # of a pixel, across the whole image: rotation terms that move no pixel further are 0


def _north_up(ds: gdal.Dataset) -> tuple[float, float, float, float, float, float]:
    """The image's geotransform as the outputs' grid takes it: rows running south and columns east (a
    south-up image's lattice read from its other corner), and rotation terms that move no pixel by
    ROTATION_TOLERANCE across the image (1e-12 left by a reprojection's arithmetic) as 0."""
    x0, dx, rx, y0, ry, dy = ds.GetGeoTransform()
    if abs(rx) * ds.RasterYSize <= ROTATION_TOLERANCE * abs(dx) and \
            abs(ry) * ds.RasterXSize <= ROTATION_TOLERANCE * abs(dy):
        rx = ry = 0.0
    if not (rx or ry):
        if dy > 0:
            y0, dy = y0 + dy * ds.RasterYSize, -dy
        if dx < 0:
            x0, dx = x0 + dx * ds.RasterXSize, -dx
    return x0, dx, rx, y0, ry, dy


def _bounds(ds: gdal.Dataset) -> tuple[float, float, float, float]:
    x0, dx, _, y0, _, dy = ds.GetGeoTransform()
    xs, ys = (x0, x0 + dx * ds.RasterXSize), (y0, y0 + dy * ds.RasterYSize)
    return min(xs), min(ys), max(xs), max(ys)


def _bounds_in(ds: gdal.Dataset, target: osr.SpatialReference) -> tuple[float, float, float, float]:
    src = _srs(ds)
    box = _bounds(ds)
    if src is None or src.IsSame(target):
        return box
    return _transform_bounds(src, target, box)


def _transform_bounds(src: osr.SpatialReference, target: osr.SpatialReference,
                      box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """`box` (minx, miny, maxx, maxy) in `src` as a box in `target`; across the antimeridian, where GDAL
    gives xmin > xmax, on the side of longitudes that run past 180."""
    minx, miny, maxx, maxy = osr.CoordinateTransformation(src, target).TransformBounds(*box, 21)
    if target.IsGeographic() and minx > maxx:
        maxx += 360.0
    return minx, miny, maxx, maxy


_NOT_AREAS = {ogr.wkbPoint: "points", ogr.wkbMultiPoint: "points", ogr.wkbLineString: "lines",
              ogr.wkbMultiLineString: "lines"}


def _aoi_layer(path: str) -> tuple[ogr.DataSource, ogr.Layer]:
    """The AOI's layer (and the source that keeps it), refused when it holds no polygon."""
    source, layer = open_layer(path, "AOI")
    if not any(f.GetGeometryRef() is not None and not f.GetGeometryRef().IsEmpty() for f in layer):
        raise InputError(tr("AOI: '{path}' holds no polygon.", path=path))
    layer.ResetReading()
    if ogr.GT_Flatten(layer.GetGeomType()) in _NOT_AREAS:
        raise InputError(tr("AOI: '{path}' holds {kind}, which enclose no area: an area of interest is one or more "
                            "polygons.", path=path, kind=_NOT_AREAS[ogr.GT_Flatten(layer.GetGeomType())]))
    return source, layer


def _aoi_bounds(path: str, target: osr.SpatialReference) -> tuple[float, float, float, float]:
    source, layer = _aoi_layer(path)
    minx, maxx, miny, maxy = layer.GetExtent()
    srs = layer_srs(layer)
    if srs is not None:
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        if not srs.IsSame(target):
            check_transformable(srs, target, "AOI", path, tr("the images"))
            return _transform_bounds(srs, target, (minx, miny, maxx, maxy))
    return minx, miny, maxx, maxy


def _colours(ds: gdal.Dataset, label: str, notes: list) -> gdal.Dataset:
    """A paletted image (one band of colour-table indices) as its red, green and blue, noted in `notes`:
    the order of a palette's indices says nothing about the ground, so comparing them would be
    comparing arbitrary numbers."""
    band = ds.GetRasterBand(1)
    if ds.RasterCount != 1 or band.GetColorTable() is None or \
            band.GetColorInterpretation() != gdal.GCI_PaletteIndex:
        return ds
    notes.append(tr("{label} is a paletted image: its colours (red, green, blue) are compared, not its colour "
                    "table's index values.", label=label))
    return gdal.Translate(scratch_name(".vrt"), ds, format="VRT", rgbExpand="rgb")


def _select(ds: gdal.Dataset, bands: list[int], nodata: Union[float, list[float], None], keep: list,
            notes: Optional[list] = None, label: str = "", alpha: Optional[int] = None,
            joint: bool = False, border_mask: Optional[str] = None, unscale: bool = False) -> gdal.Dataset:
    """The chosen bands of `ds` as a VRT, with the nodata value when given, masked by its alpha band `alpha`
    (`_alpha_band`); complex bands (SAR SLC) as their intensity |z|², noted in `notes`. A nodata value is
    GDAL's, band by band (a pixel with one band at it has no data); a `joint` one (a border or fill found
    in every band at once) only where every band holds it, through GDAL's NODATA_VALUES: the white of a
    rendering's fill is also the top of its contrast stretch in one band or another, and a bright roof
    clipped in its red band is data. A list gives each band its own value. A `border_mask` file
    (raster.border_mask) is the mask of every band instead, the file's nodata value then set aside (no pixel
    holds it). With `unscale`, float32 bands in the units their scale and offset give (`_applies_scale`). The
    VRT points at its source: `keep` holds both alive as long as the pair is open."""
    as_data = alpha is None and _flagged_alpha(ds) is not None   # GDAL would still mask and warp by it
    mask = alpha if alpha and nodata is None else "none" if as_data else "auto"   # alpha 0: no data
    each = nodata if isinstance(nodata, list) else None
    if isinstance(nodata, float) and math.isnan(nodata) and all(_integer_range(ds, band) for band in bands):
        nodata = "none"   # no integer pixel is NaN: GDAL would cast it to 0 and mask every real 0
    per_dataset = joint and len(bands) > 1
    selected = gdal.Translate(scratch_name(".vrt"), ds, format="VRT", bandList=bands,
                              noData="none" if per_dataset or border_mask or each else nodata, maskBand=mask,
                              options=["-colorinterp", ",".join(["undefined"] * len(bands))] if as_data else [],
                              unscale=unscale, outputType=gdal.GDT_Float32 if unscale else gdal.GDT_Unknown)
    if per_dataset:
        selected.SetMetadataItem("NODATA_VALUES", " ".join([repr(float(nodata))] * len(bands)))
    for index, value in enumerate(each or [], start=1):
        selected.GetRasterBand(index).SetNoDataValue(value)
    keep.extend((ds, selected))
    if border_mask:
        keep.append(gdal.Open(border_mask))   # its file is removed with the pair's
        selected = with_mask(selected, border_mask)
        keep.append(selected)
    complex_bands = [(band, gdal.GetDataTypeName(ds.GetRasterBand(band).DataType)) for band in bands
                     if gdal.DataTypeIsComplex(ds.GetRasterBand(band).DataType)]
    if not complex_bands:
        return selected
    intensity = _intensity(selected)
    keep.append(intensity)
    if notes is not None:
        listed = ", ".join(f"{band} ({kind})" for band, kind in complex_bands)
        notes.append(tr("{label}: complex band(s) {listed} (SAR SLC) are taken as their intensity |z|².",
                        label=label, listed=listed))
    return intensity


def _intensity(selected: gdal.Dataset) -> gdal.Dataset:
    """The VRT `selected` with each complex band replaced by GDAL's `intensity` pixel function (float32
    |z|² = re² + im²), read on demand like the rest: warping a complex band directly keeps only its
    real part, a map of the phase rather than of the backscatter."""
    root = ElementTree.fromstring(selected.GetMetadata("xml:VRT")[0])
    for band in root.iter("VRTRasterBand"):
        if band.get("dataType", "").startswith("C"):
            band.set("dataType", "Float32")
            band.set("subClass", "VRTDerivedRasterBand")
            ElementTree.SubElement(band, "PixelFunctionType").text = "intensity"
            ElementTree.SubElement(band, "SourceTransferType").text = "CFloat64"
    path = scratch_name(".vrt")
    gdal.FileFromMemBuffer(path, ElementTree.tostring(root))
    return gdal.Open(path)


def _warp(source: gdal.Dataset, grid: Grid, window: Window, shape: tuple[int, int], resampling: str,
          lazy: bool = True) -> gdal.Dataset:
    """`source` warped onto `window` of `grid` at `shape` (rows, cols): float32, NaN where it has no
    data; a lazy VRT, or computed in memory (lazy=False)."""
    x0, dx, _, y0, _, dy = grid.transform
    bounds = (x0 + dx * window.col_off, y0 + dy * (window.row_off + window.height),
              x0 + dx * (window.col_off + window.width), y0 + dy * window.row_off)
    target = scratch_name(".vrt") if lazy else ""
    return gdal.Warp(target, source, format="VRT" if lazy else "MEM", dstSRS=grid.crs_wkt or None,
                     outputBounds=bounds, width=shape[1], height=shape[0], resampleAlg=resampling,
                     outputType=gdal.GDT_Float32, dstNodata=float("nan"), multithread=False,
                     overviewLevel="NONE")   # a file's overviews (a COG's) would give another map than its pixels


def _whole(source: gdal.Dataset, grid: Grid) -> gdal.Dataset:
    """`source` warped onto the whole of `grid` at its own pixels, as a lazy VRT."""
    return _warp(source, grid, Window(0, 0, grid.width, grid.height), (grid.height, grid.width),
                 _resampling(source, grid))


def _laid_on(source: gdal.Dataset, grid: Grid, label: str, path: str) -> gdal.Dataset:
    """`_whole`, or one sentence when PROJ has no way from the image's CRS to the grid's over its area: an image
    labelled NAD27 over Europe ended the run with GDAL's RuntimeError."""
    try:
        return _whole(source, grid)
    except RuntimeError as exc:
        raise _no_operation(source, label, path, exc) from exc


def _check_in_its_area(ds: gdal.Dataset, label: str, path: str) -> None:
    """Refuse an image whose CRS PROJ cannot use over the image's own area, whichever grid is chosen: labelled
    NAD27 over Europe, it was refused on its own grid (no operation even to itself) and placed without a word by
    PROJ's ballpark transformation on the other image's."""
    try:
        gdal.Warp("", ds, format="VRT")
    except RuntimeError as exc:
        raise _no_operation(ds, label, path, exc) from exc


def _no_operation(ds: gdal.Dataset, label: str, path: str, exc: RuntimeError) -> InputError:
    """The sentence for an image whose CRS GDAL finds no transformation from over its area."""
    name = (_srs(ds).GetName() if _srs(ds) is not None else None) or "?"
    return InputError(tr("{label}: '{path}' cannot be laid on the run's grid: GDAL finds no transformation from "
                         "its CRS ({name}) over its area ({reason}). Its CRS is likely wrong, such as a datum "
                         "used outside its region (NAD27 in Europe): assign the file its real CRS (QGIS: Raster > "
                         "Projections > Assign Projection; or gdal_edit.py -a_srs), then run again.", label=label,
                         path=path, name=name, reason=str(exc).strip().splitlines()[0]))


def _on_lattice(source: gdal.Dataset, grid: Grid) -> bool:
    """Whether the grid's pixels are the source's own (same CRS and pixel size, whole-pixel offset)."""
    sx0, sdx, srx, sy0, sry, sdy = source.GetGeoTransform()
    x0, dx, _, y0, _, dy = grid.transform
    srs, grid_srs = _srs(source), grid.srs()
    same_crs = bool(srs.IsSame(grid_srs)) if srs is not None and grid_srs is not None else srs is grid_srs
    if not same_crs or srx or sry or not (math.isclose(sdx, dx, rel_tol=1e-9) and math.isclose(sdy, dy, rel_tol=1e-9)):
        return False
    cols, rows = (x0 - sx0) / dx, (y0 - sy0) / dy
    return abs(cols - round(cols)) < 1e-6 and abs(rows - round(rows)) < 1e-6


def _resampling(source: gdal.Dataset, grid: Grid) -> str:
    """Nearest where the grid is the source's own lattice (the same values as bilinear there, read in
    half the time); bilinear for continuous data; average when a grid pixel spans several source pixels."""
    if _on_lattice(source, grid):
        return "near"
    coarser = abs(grid.transform[1]) > 1.5 * abs(source.GetGeoTransform()[1])
    return "average" if coarser and _srs(source) is not None else "bilinear"


class AlignedPair:
    """Two images on one grid; read(window) gives both plus their combined validity."""

    def __init__(self, grid: Grid, source1: gdal.Dataset, source2: gdal.Dataset, aoi: Optional[gdal.Dataset],
                 keep: list, names: Sequence[tuple[str, str]] = (("T1", "T1"), ("T2", "T2")),
                 notes: Sequence[str] = ()):
        self.grid = grid
        self._keep = keep
        self.names = tuple(names)     # (label, path) of each image, for messages
        self.notes = list(notes)      # what the analyst should know about the inputs (e.g. complex bands)
        self._sources = (source1, source2)
        self._grids = (grid, grid)    # where each source is read from: T2's moves with a co-registration shift
        self.shift = Shift()
        self._vrt1, self._vrt2 = (_laid_on(s, grid, *name) for s, name in zip(self._sources, self.names))
        self._aoi = aoi
        self.has_aoi = aoi is not None
        self.band_count1 = self._vrt1.RasterCount
        self.band_count2 = self._vrt2.RasterCount

    @in_gdal_scope
    def shift_second(self, shift: Shift) -> None:
        """Read T2 from `shift` further on (coregister.Shift: its content at grid (row + rows, col + cols)
        belongs at (row, col)); the edge it uncovers is nodata."""
        x0, dx, rx, y0, ry, dy = self.grid.transform
        moved = replace(self.grid, transform=(x0 + shift.cols * dx, dx, rx, y0 + shift.rows * dy, ry, dy))
        self._grids = (self.grid, moved)
        self.shift = shift
        self._keep.append(self._vrt2)   # released, and its file removed, with the rest at close()
        self._vrt2 = _whole(self._sources[1], moved)

    @in_gdal_scope
    def read(self, window: Optional[Window] = None, out_shape: Optional[tuple[int, int]] = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(x1 (b1,h,w), x2 (b2,h,w), valid (h,w)) on `window` (default: the whole grid).

        With out_shape, block means: each source is warped straight onto the coarse grid with average
        resampling, so GDAL reads every source pixel once instead of first warping the window at full
        resolution (at 8000² pixels: 41 s through the full-resolution VRT). Only blocks that are whole in
        both images count as valid (`_whole_inside`, `_whole_edge`).
        """
        window = window or Window(0, 0, self.grid.width, self.grid.height)
        rows, cols = out_shape or (window.height, window.width)
        if out_shape:
            x1, x2 = (read_or_explain(*name, lambda s=s, g=g: _warp(s, g, window, out_shape, "average",
                                                                       lazy=False).ReadAsArray())
                      for name, s, g in zip(self.names, self._sources, self._grids))
        else:
            kwargs = dict(xoff=window.col_off, yoff=window.row_off, xsize=window.width, ysize=window.height)
            x1, x2 = (read_or_explain(*name, lambda vrt=vrt: vrt.ReadAsArray(**kwargs))
                      for name, vrt in zip(self.names, (self._vrt1, self._vrt2)))
        x1 = x1.astype(np.float32, copy=False).reshape(-1, rows, cols)
        x2 = x2.astype(np.float32, copy=False).reshape(-1, rows, cols)
        valid = np.isfinite(x1).all(0) & np.isfinite(x2).all(0)
        if out_shape:
            valid = _whole_inside(valid) & self._whole_edge(window, (rows, cols))
        if self._aoi is not None:
            inside = self._aoi.ReadAsArray(xoff=window.col_off, yoff=window.row_off, xsize=window.width,
                                           ysize=window.height, buf_xsize=cols, buf_ysize=rows,
                                           resample_alg=gdal.GRIORA_Average)
            valid &= inside > (127 if out_shape else 0)
        return x1, x2, valid

    def _whole_edge(self, window: Window, shape: tuple[int, int]) -> np.ndarray:
        """Cells of a decimated read of `window` at `shape` that are not on its edge, or are on it and covered
        by both images pixel for pixel. Read at full resolution, the edge's strips only: along the grid's edge
        an image may end inside a cell (the strip a co-registration shift uncovers: T1 against itself moved
        one pixel gave 5.8 % of a 200² scene marked changed along its edge), with no empty cell beside it."""
        rows, cols = shape
        depth = (math.ceil(window.height / rows), math.ceil(window.width / cols))
        strips = {"top": Window(window.col_off, window.row_off, window.width, depth[0]),
                  "bottom": Window(window.col_off, window.row_off + window.height - depth[0], window.width, depth[0]),
                  "left": Window(window.col_off, window.row_off, depth[1], window.height),
                  "right": Window(window.col_off + window.width - depth[1], window.row_off, depth[1], window.height)}
        whole = np.ones(shape, bool)
        for side, strip in strips.items():
            covered = self.read(strip)[2]
            if side in ("top", "bottom"):
                whole[0 if side == "top" else -1] &= _cells_all(covered.all(axis=0), cols)
            else:
                whole[:, 0 if side == "left" else -1] &= _cells_all(covered.all(axis=1), rows)
        return whole

    @property
    def undeclared(self) -> tuple[bool, bool]:
        """Per image, whether it marks nothing as no data (no nodata value, mask or alpha band)."""
        return tuple(s.GetRasterBand(1).GetMaskFlags() == gdal.GMF_ALL_VALID for s in self._sources)

    def close(self) -> None:
        """Release the datasets, each before the ones it reads from (a GDAL dataset freed while a warped view
        of it is still open crashed the process: seen as a segfault at a test's teardown), then remove the
        in-memory files they lived in (nothing did: every run left its VRTs and AOI mask in the process)."""
        held = [self._vrt1, self._vrt2, self._aoi, *self._sources, *self._keep]
        files = {ds.GetDescription() for ds in held if ds is not None}
        self._vrt1 = self._vrt2 = self._aoi = None
        self._sources = ()
        self._keep = []
        del held
        remove_scratch(files)

    def __enter__(self) -> AlignedPair:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _whole_inside(valid: np.ndarray) -> np.ndarray:
    """The cells of `valid` whose eight neighbours are valid too (the grid's edge counts as valid).

    GDAL's average leaves nodata out, so a cell (block) that one image covers only in part, along a swath
    edge or a nodata patch, is a mean of other ground than the other image's cell there and differs from
    it where nothing changed. Such a cell touches an empty one, unless the nodata in it is narrower than a
    cell, so every cell that does is left out; their pixels take the prior of the cells around them
    (stages.PriorResult.at_pixels). The grid's own edge is judged pixel by pixel (AlignedPair._whole_edge).
    """
    whole = ndimage.binary_erosion(valid, TOUCHING, border_value=1)
    return whole if whole.any() else valid   # nodata scattered everywhere: every cell partial, keep them


def _cells_all(line: np.ndarray, cells: int) -> np.ndarray:
    """Whether every pixel of `line` (bool, along one edge) is True within each of `cells` equal spans,
    as GDAL's average divides the edge among the coarse cells (a pixel on a border counts in both)."""
    bad = np.concatenate([[0], np.cumsum(~line)])
    edges = np.arange(cells + 1) * line.size / cells
    start, end = np.floor(edges[:-1]).astype(int), np.ceil(edges[1:]).astype(int)
    return bad[end] == bad[start]


def _aoi_mask(path: str, grid: Grid) -> gdal.Dataset:
    """The AOI rasterised on the grid (255 inside), compressed in memory."""
    mask = gdal.GetDriverByName("GTiff").Create(scratch_name(".tif"), grid.width, grid.height, 1,
                                                gdal.GDT_Byte, options=["TILED=YES", "COMPRESS=DEFLATE"])
    mask.SetGeoTransform(grid.transform)
    mask.SetProjection(grid.crs_wkt)
    source, layer = open_layer(path, "AOI")
    rasterize(mask, path, layer, burnValues=[255], allTouched=False)
    return mask


Box = tuple[float, float, float, float]   # (minx, miny, maxx, maxy)


def _overlap(ds1: gdal.Dataset, ds2: gdal.Dataset, aoi: Optional[str], srs: osr.SpatialReference) -> Box:
    """(minx, miny, maxx, maxy) in srs of what both images (and the AOI) cover; empty when min ≥ max."""
    boxes = [_bounds_in(ds1, srs), _bounds_in(ds2, srs)] + ([_aoi_bounds(aoi, srs)] if aoi else [])
    if srs.IsGeographic():   # each on the side of the antimeridian of the image whose own CRS this is
        native = next((box for ds, box in zip((ds1, ds2), boxes) if _srs(ds) is not None and _srs(ds).IsSame(srs)),
                      boxes[0])
        boxes = [_turned_toward(box, native) for box in boxes]
    return (max(b[0] for b in boxes), max(b[1] for b in boxes),
            min(b[2] for b in boxes), min(b[3] for b in boxes))


def _turned_toward(box: Box, anchor: Box) -> Box:
    """A geographic `box` moved by a whole turn (±360°) where that overlaps `anchor` more: an image at
    longitudes −179.99… beside one whose box runs past 180 (across the antimeridian) was refused as not
    overlapping it, or gave the other image's grid with a false note."""
    turned = [(box[0] + turn, box[1], box[2] + turn, box[3]) for turn in (0.0, -360.0, 360.0)]
    return max(turned, key=lambda b: min(b[2], anchor[2]) - max(b[0], anchor[0]))


def _pixels(box: Box, ref: gdal.Dataset) -> float:
    """How many of ref's pixels a box in ref's CRS holds: its sampling of the common ground, comparable
    between images in different CRSs and units."""
    minx, miny, maxx, maxy = box
    _, dx, _, _, _, dy = ref.GetGeoTransform()
    return max(maxx - minx, 0.0) * max(maxy - miny, 0.0) / abs(dx * dy)


COARSER = 8   # pixel sides: the generated 10 m optical against a 283 m radar (28x) marked 5.4 % of an unchanged scene


def _finer(ds1: gdal.Dataset, ds2: gdal.Dataset, srs1: osr.SpatialReference, srs2: osr.SpatialReference,
           aoi: Optional[str], notes: list) -> tuple[str, Box]:
    """'t1' or 't2': the image that samples the common ground more finely (T1 on a tie), and the overlap
    in its CRS (the grid is cut from it, so it is not computed again).

    The map then does not depend on which image is called T1, and keeps the finer image's detail: on
    the generated optical (10 m) / SAR (20 m) pairs, the prior on the SAR's grid lost change over 1 %
    of the scene (three seeds of three reported unchanged) that it maps on the optical's."""
    box1, box2 = _overlap(ds1, ds2, aoi, srs1), _overlap(ds1, ds2, aoi, srs2)
    n1, n2 = _pixels(box1, ds1), _pixels(box2, ds2)
    coarse, fine = ("T1", "T2") if n1 < n2 else ("T2", "T1")
    side = math.sqrt(max(n1, n2) / max(min(n1, n2), 1.0))
    if side >= COARSER:
        notes.append(tr("{coarse}'s pixels are about {side:.0f} times as wide as {fine}'s ({count:,.0f} of them over "
                        "the overlap): a change smaller than them cannot be seen, and their interpolation onto the "
                        "finer grid reads as structure the other image lacks, so unchanged land can be marked; "
                        "check the marked places against the images.", coarse=coarse, fine=fine, side=side,
                        count=min(n1, n2)))
    if n2 > n1 * (1 + 1e-6):   # equal up to the rounding of reprojected bounds: T1
        notes.append(tr("The outputs use T2's grid, the finer of the two ({n2:,.0f} against T1's {n1:,.0f} pixels "
                        "over the overlap); set the output grid to T1 to use T1's.", n1=n1, n2=n2))
        return "t2", box2
    return "t1", box1


def _unread_prj(path: str) -> str:
    """Words for a .prj file beside an image whose format GDAL reads it for not (PNG, JPEG: their world file
    places them, the .prj is left aside), else nothing: the analyst sees the CRS file there."""
    stem = os.path.splitext(str(path))[0]
    found = [stem + ext for ext in (".prj", ".PRJ") if os.path.isfile(stem + ext)]
    driver = gdal.IdentifyDriver(str(path))   # the file's own: `ds` may be a VRT of its colours
    if not found or driver is None:
        return ""
    return " ({})".format(tr("GDAL does not read the '{prj}' beside it for a {driver} file",
                             prj=os.path.basename(found[0]), driver=driver.ShortName))


def _check_same_georeferencing(ds1: gdal.Dataset, ds2: gdal.Dataset, t1: str, t2: str) -> None:
    """Refuse images said to share one grid whose own georeferencing (world files, geotransforms) places them
    apart: they were overlaid pixel for pixel, T1's placement kept, and two PNGs whose world files put them
    30 px apart gave Kappa −0.03 against 0.72, an unchanged scene 1.5 % marked."""
    transforms = [ds.GetGeoTransform(can_return_null=True) for ds in (ds1, ds2)]
    if None in transforms:
        return
    (x1, dx1, rx1, y1, ry1, dy1), (x2, dx2, rx2, y2, ry2, dy2) = transforms
    pixel = max(abs(dx1), abs(dy1), abs(dx2), abs(dy2))
    if all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-3 * pixel) for a, b in zip(transforms[0], transforms[1])):
        return
    raise InputError(tr("The images are taken as sharing one grid (SAME_GRID), but their own georeferencing places "
                        "them apart: T1 '{t1}' at ({x1:.12g}, {y1:.12g}) with pixels of {dx1:.12g}, T2 '{t2}' at "
                        "({x2:.12g}, {y2:.12g}) with pixels of {dx2:.12g}. Assign both their CRS (QGIS: Raster > "
                        "Projections > Assign Projection) and run without SAME_GRID, so that they are aligned by "
                        "that georeferencing; or, if they are truly one grid, remove the wrong world file.",
                        t1=t1, x1=x1, y1=y1, dx1=dx1, t2=t2, x2=x2, y2=y2, dx2=dx2))


def _shared_grid(ds1: gdal.Dataset, ds2: gdal.Dataset) -> Grid:
    """The grid of two images said to share one: the georeferencing of the image that has a CRS (T1's
    first), else of one that has a geotransform, else a grid of pixels (1 unit each, north up), so that
    an image with georeferencing keeps it in the outputs whatever the other lacks."""
    def georeferenced(ds: gdal.Dataset) -> bool:
        return ds.GetGeoTransform(can_return_null=True) is not None
    with_crs = [ds for ds in (ds1, ds2) if _srs(ds) is not None and georeferenced(ds)]
    ref = (with_crs or [ds for ds in (ds1, ds2) if georeferenced(ds)] or [None])[0]
    transform = ref.GetGeoTransform() if ref is not None else (0.0, 1.0, 0.0, float(ds1.RasterYSize), 0.0, -1.0)
    wkt = _srs(ref).ExportToWkt() if ref is not None and _srs(ref) is not None else ""
    return Grid(wkt, transform, ds1.RasterXSize, ds1.RasterYSize)


def _shared_aoi(aoi: Optional[str], grid: Grid) -> Optional[gdal.Dataset]:
    """The AOI's mask on the grid two images share (it was left out there, and the whole grid compared);
    on a grid of pixels only an AOI without a CRS, drawn in the same pixel coordinates, can be placed."""
    if not aoi:
        return None
    source, layer = _aoi_layer(aoi)
    if not grid.crs_wkt and layer_srs(layer) is not None:
        raise InputError(tr("AOI: '{path}' has a CRS, but neither image has one, so the area cannot be placed on "
                            "them: assign the images their CRS, or leave AOI empty.", path=aoi))
    check_transformable(layer_srs(layer), grid.srs(), "AOI", aoi, tr("the images"))
    mask = _aoi_mask(aoi, grid)
    if mask.GetRasterBand(1).ComputeRasterMinMax(False)[1] == 0:   # open_pair removes the mask as it raises
        raise InputError(tr("AOI: '{path}' does not overlap the images: check its CRS and that it is the area you "
                            "meant.", path=aoi))
    return mask


MIN_SIDE = 32   # pixels: the least overlap, along each side, that the images must share
FILL_MAGNITUDE = 1e300   # ±1.797e308, the largest doubles: a fill (ArcGIS's default nodata), read as no data


def _check_float_range(ds: gdal.Dataset, bands: list[int], nodata: Optional[float], label: str, path: str,
                       sample: Callable[[], np.ndarray]) -> None:
    """Refuse 64-bit floating-point values beyond float32's range, in which the images are compared: they would
    read as infinite, that is as no data, and the run would end saying the overlap holds almost no valid pixel.
    Read decimated, as `sample` gives the bands (a file's stored statistics may be stale: a copy carries its
    source's); the nodata value (NODATA given for the run, else the file's) and the largest doubles, a fill
    that reads as no data as it should, are skipped."""
    largest = float(np.finfo(np.float32).max)
    wide = [band for band in bands if ds.GetRasterBand(band).DataType == gdal.GDT_Float64]
    if not wide:
        return
    read = sample()
    for band in wide:
        values = read[bands.index(band)]
        missing = ds.GetRasterBand(band).GetNoDataValue() if nodata is None else nodata
        size = np.abs(values)
        beyond = values[np.isfinite(values) & (size > largest) & (size < FILL_MAGNITUDE) & (values != missing)]
        if beyond.size:
            raise InputError(tr("{label}: band {band} of '{path}' holds values such as {value:g}, beyond the 32-bit "
                                "floating-point range (±{largest:.1e}) the images are compared in: rescale it (for "
                                "example with gdal_calc.py), or, if such a value marks missing data, declare it as "
                                "the nodata value, and run again.", label=label, band=band, path=path,
                                value=float(beyond[np.argmax(np.abs(beyond))]), largest=largest))


INFINITE_SHARE = 0.001   # of an image: a few infinite pixels are noise, a region of them is missing ground


def _name_infinite(ds: gdal.Dataset, bands: list[int], label: str, path: str, notes: list,
                   sample: Callable[[], np.ndarray]) -> None:
    """Say when a floating-point image holds infinite values over a region inside it: they read as no data, so
    those places get no map. The decibels of an intensity of 0 are −∞, and in a flood that is the water: a radar
    image so delivered lost half its flood to no data, without a word. Regions that reach the image's edge are
    left out (outside a swath, no data is what they are)."""
    if not any(ds.GetRasterBand(band).DataType in (gdal.GDT_Float32, gdal.GDT_Float64) for band in bands):
        return
    infinite = np.isinf(sample()).any(axis=0)
    infinite &= ~edge_regions(infinite)
    if infinite.mean() >= INFINITE_SHARE:
        notes.append(tr("{label}: {percent:.1f} % of '{path}' is infinite (−∞ is the decibels of an intensity of 0, "
                        "such as calm water) and reads as no data, so those places get no map: replace it with the "
                        "band's lowest value (QGIS: Raster Calculator) or give the image in linear units.",
                        label=label, percent=100 * float(infinite.mean()), path=path))


@in_gdal_scope
@removed_on_failure()
def open_pair(t1: str, t2: str, *, bands1: Optional[Sequence[int]] = None, bands2: Optional[Sequence[int]] = None,
              nodata1: Optional[float] = None, nodata2: Optional[float] = None, grid: str = "finer",
              pixel_size: Optional[float] = None, aoi: Optional[str] = None, same_grid: bool = False,
              min_size: int = MIN_SIDE) -> AlignedPair:
    """Validate both rasters and align them onto the chosen image's grid ('t1', 't2', or 'finer': the image
    with more pixels over the overlap), cropped to their overlap (and AOI)."""
    notes: list = []
    ds1, ds2 = (_colours(open_raster(path, label), label, notes) for path, label in ((t1, "T1"), (t2, "T2")))
    if os.path.realpath(t1) == os.path.realpath(t2) and list(bands1 or []) == list(bands2 or []):
        # a stack of both dates, read as two band sets, is fine
        raise InputError(tr("T1 and T2 are the same file '{path}' with the same bands: choose the image before and the "
                            "image after (or, for one file holding both dates, their bands with BANDS1 and BANDS2).",
                            path=t1))
    names = (("T1", str(t1)), ("T2", str(t2)))
    # Read once: a flagged band is sampled to tell.
    alpha1, alpha2 = (_alpha_band(ds, *name) for ds, name in zip((ds1, ds2), names))
    b1, b2 = _bands(ds1, bands1, "T1", t1, alpha1), _bands(ds2, bands2, "T2", t2, alpha2)
    for ds, bands, alpha, label in ((ds1, bands1, alpha1, "T1"), (ds2, bands2, alpha2, "T2")):
        if not bands:
            _alpha_read_as_data(ds, alpha, label, notes)
    found, unscale = [], []
    for ds, chosen, nodata, alpha, number in ((ds1, b1, nodata1, alpha1, 1), (ds2, b2, nodata2, alpha2, 2)):
        label, path = names[number - 1]
        # The range and border checks read the same decimated bands: once, and only if either needs them.
        sample = functools.cache(lambda ds=ds, chosen=chosen, label=label, path=path:
                                 read_or_explain(label, path, lambda: decimated(ds, chosen)))
        _check_nodata(ds, chosen, nodata, number)
        _check_float_range(ds, chosen, nodata, label, path, sample)
        _name_infinite(ds, chosen, label, path, notes, sample)
        if all(ds.GetRasterBand(band).DataType == gdal.GDT_Byte for band in chosen):   # masks come as 8-bit
            check_not_a_mask(sample(), [ds.GetRasterBand(band).GetNoDataValue() if nodata is None else nodata
                                        for band in chosen], label, path)
        found.append(found_nodata(ds, chosen, nodata, alpha, number, path, notes, sample))
        unscale.append(_applies_scale(ds, chosen, found[-1], label, path, notes))
    (nodata1, joint1, mask1), (nodata2, joint2, mask2) = found
    srs1, srs2 = _srs(ds1), _srs(ds2)
    for ds, srs, (label, path) in ((ds1, srs1, names[0]), (ds2, srs2, names[1])):
        if ds.GetGeoTransform(can_return_null=True) is None and ds.GetMetadata("RPC") and not same_grid:
            raise InputError(tr("{label}: '{path}' is georeferenced by rational polynomial coefficients (RPC) only, "
                                "as a primary VHR product is, not on a map grid: orthorectify it first (QGIS: Raster "
                                "> Projections > Warp (Reproject) with -rpc among its additional parameters; or "
                                "gdalwarp -rpc -to RPC_DEM=dem.tif -t_srs EPSG:<UTM zone> -r bilinear), then run with "
                                "the orthorectified file.", label=label, path=path))
        if srs is not None and ds.GetGeoTransform(can_return_null=True) is None and not ds.GetGCPCount():
            raise InputError(tr("{label}: '{path}' has a CRS but no valid position on it (no geotransform, or a "
                                "pixel size of 0), so it cannot be placed beside the other image: georeference it "
                                "(QGIS: Raster > Georeferencer; or gdal_translate -a_ullr), then run again.",
                                label=label, path=path))
    if srs1 is None or srs2 is None:
        missing, ds, path = ("T1", ds1, t1) if srs1 is None else ("T2", ds2, t2)
        if ds.GetGCPCount() and not same_grid:
            raise InputError(tr("{missing}: '{path}' is georeferenced by ground control points only (as a Sentinel-1 "
                                "GRD measurement file is), not on a map grid: warp it first (QGIS: Raster > "
                                "Projections > Warp; or gdalwarp -tps -r bilinear -dstnodata 0), then run with the "
                                "warped file.", missing=missing, path=path))
        if not same_grid:
            raise InputError(tr("{missing}: '{path}' has no coordinate reference system (CRS) in its file{prj} (the "
                                "run reads the file, not the layer's setting in QGIS): assign one to the file (QGIS: "
                                "Raster > Projections > Assign Projection; or gdal_edit.py -a_srs), or, if both "
                                "images are on one pixel grid, set SAME_GRID.", missing=missing, path=path,
                                prj=_unread_prj(path)))
        if (ds1.RasterXSize, ds1.RasterYSize) != (ds2.RasterXSize, ds2.RasterYSize):
            raise InputError(tr("Both images are taken as sharing one grid, but their sizes differ: "
                                "{width1}x{height1} and {width2}x{height2}.", width1=ds1.RasterXSize,
                                height1=ds1.RasterYSize, width2=ds2.RasterXSize, height2=ds2.RasterYSize))
        _check_same_georeferencing(ds1, ds2, t1, t2)
        shared = _shared_grid(ds1, ds2)
        mask = _shared_aoi(aoi, shared)   # a refused AOI before the images' VRTs are made
        minx, miny, maxx, maxy = shared.bounds()
        # Give both images that georeferencing in VRTs: the input files themselves are never touched.
        ds1, ds2 = (gdal.Translate(scratch_name(".vrt"), ds, format="VRT",
                                   outputBounds=[minx, maxy, maxx, miny], outputSRS=shared.crs_wkt or None)
                    for ds in (ds1, ds2))
        keep: list = [ds1, ds2]
        if pixel_size:
            notes.append(tr("PIXEL_SIZE {size:g} is ignored: images taken as sharing one grid are compared on "
                            "it, pixel for pixel.", size=pixel_size))
        return AlignedPair(shared, _select(ds1, b1, nodata1, keep, notes, "T1", alpha1, joint1, mask1, unscale[0]),
                           _select(ds2, b2, nodata2, keep, notes, "T2", alpha2, joint2, mask2, unscale[1]), mask,
                           keep, names, notes)
    local = 0 if srs1.IsLocal() else 1   # name the image whose CRS is local, if one is
    check_transformable((srs1, srs2)[local], (srs2, srs1)[local], *names[local], names[1 - local][0])
    for ds, name in zip((ds1, ds2), names):
        _check_in_its_area(ds, *name)
    box: Optional[Box] = None
    if grid == "finer":
        grid, box = _finer(ds1, ds2, srs1, srs2, aoi, notes)
    ref = ds1 if grid == "t1" else ds2
    ref_srs = srs1 if grid == "t1" else srs2
    x0, dx, rx, y0, ry, dy = _north_up(ref)
    if rx or ry:
        label, path = names[0] if grid == "t1" else names[1]
        raise InputError(tr("{label}: '{path}' has a rotated geotransform, which the outputs' grid cannot take: set "
                            "GRID (the dock's Output grid) to {other} to use the other image's grid, or warp it "
                            "north-up first (gdalwarp).",
                            label=label, path=path, other="t2" if grid == "t1" else "t1"))
    if pixel_size:
        dx, dy = math.copysign(pixel_size, dx), math.copysign(pixel_size, dy)
    minx, miny, maxx, maxy = box or _overlap(ds1, ds2, aoi, ref_srs)
    if minx >= maxx or miny >= maxy:
        what = tr("the two images and the area of interest") if aoi else tr("the two images")
        raise InputError(tr("The extents of {what} do not overlap: check that they cover the same place "
                            "and carry the right CRS.", what=what))
    # Snap the overlap to the reference grid's pixel lattice.
    col0 = math.ceil((minx - x0) / dx - 1e-6)
    col1 = math.floor((maxx - x0) / dx + 1e-6)
    row0 = math.ceil((maxy - y0) / dy - 1e-6)
    row1 = math.floor((miny - y0) / dy + 1e-6)
    width, height = col1 - col0, row1 - row0
    if pixel_size and (width < min_size or height < min_size):
        raise InputError(tr("Pixel size {pixel_size:g} leaves the overlap only {width} x {height} pixels; at least "
                            "{size} x {size} are needed: choose a pixel size of {most:.3g} or less.",
                            pixel_size=pixel_size, width=max(width, 0), height=max(height, 0), size=min_size,
                            most=min(maxx - minx, maxy - miny) / min_size))
    if width < min_size or height < min_size:
        what = tr("the two images and the area of interest") if aoi else tr("the two images")
        raise InputError(tr("The overlap of {what} is only {width} x {height} pixels; at least {size} x {size} are "
                            "needed{advice}.", what=what, width=max(width, 0), height=max(height, 0), size=min_size,
                            advice=tr(": draw a larger area of interest") if aoi else ""))
    most = MAX_UPSAMPLING * max(ds1.RasterXSize * ds1.RasterYSize, ds2.RasterXSize * ds2.RasterYSize)
    if pixel_size and width * height > most:
        least = pixel_size * math.sqrt(width * height / most)
        raise InputError(tr("Pixel size {pixel_size:g} makes a grid of {width:,} x {height:,} pixels, more than "
                            "{factor} times as many as the larger image has: finer than both images, it adds "
                            "no detail and would take very long. Choose a pixel size of {least:.3g} or more, or "
                            "leave it empty for the image's own.", pixel_size=pixel_size, width=width,
                            height=height, factor=MAX_UPSAMPLING, least=least))
    out = Grid(ref_srs.ExportToWkt(), (x0 + col0 * dx, dx, 0.0, y0 + row0 * dy, 0.0, dy), width, height)
    mask = _aoi_mask(aoi, out) if aoi else None
    keep: list = []
    return AlignedPair(out, _select(ds1, b1, nodata1, keep, notes, "T1", alpha1, joint1, mask1, unscale[0]),
                       _select(ds2, b2, nodata2, keep, notes, "T2", alpha2, joint2, mask2, unscale[1]),
                       mask, keep, names, notes)


@in_gdal_scope
def check_on_grid(path: str, grid: Grid, label: str) -> None:
    """Refuse, once before it is read window by window (`read_on_grid`: the reference, at the end of a run),
    a raster that cannot be laid on `grid`: a CRS that does not transform to the grid's, or another size
    than the grid's where it is laid pixel for pixel, without a CRS on it or on the grid (a half-size mask
    was measured against the wrong pixels without a word)."""
    ds = open_raster(path, label)
    check_transformable(_srs(ds), grid.srs(), label, path, tr("the run's grid"))
    if (ds.RasterXSize, ds.RasterYSize) == (grid.width, grid.height) or (grid.crs_wkt and _srs(ds) is not None):
        return
    if _srs(ds) is None:
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
def read_on_grid(path: str, grid: Grid, window: Optional[Window] = None, band: int = 1,
                 resampling: str = "nearest", label: str = "Reference") -> np.ndarray:
    """One band of another raster (e.g. the reference mask) on `grid`, for `window`: float32, NaN where
    it has no data (outside its extent, or its nodata), so that no pixel it does not cover is taken as 0."""
    ds = open_raster(path, label)
    _bands(ds, [band], label, path)   # one in range, or the sentence that says it is not
    window = window or Window(0, 0, grid.width, grid.height)
    one = gdal.Translate(scratch_name(".vrt"), ds, format="VRT", bandList=[band])
    name = one.GetDescription()
    try:
        return _band_on_grid(one, ds, grid, window, resampling, label, path)
    finally:
        one = None   # closed before its file goes: read once per tile and at each move of the dock's slider
        remove_scratch([name])


def _band_on_grid(one: gdal.Dataset, ds: gdal.Dataset, grid: Grid, window: Window, resampling: str, label: str,
                  path: str) -> np.ndarray:
    """read_on_grid's reading of the one-band VRT `one` of `ds`."""
    if grid.crs_wkt and _srs(ds) is not None:
        warped = _warp(one, grid, window, (window.height, window.width), resampling, lazy=False)
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
