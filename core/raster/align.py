"""Open two rasters and bring both onto one grid with GDAL warped VRTs: `open_pair` composes the checks of each
image's values (raster.image_values) and of where the two lie (raster.overlap), and chooses the outputs' grid.

Nothing is resampled by hand: gdal.Warp builds lazy VRTs (float32, NaN where there is no data), so
any window of the aligned pair is read on demand and memory does not grow with the image. A
decimated read with average resampling gives the block means the prior works on.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Optional

import numpy as np
from osgeo import gdal, osr
from scipy import ndimage

from ..errors import InputError
from ..i18n import tr
from .cloud_mask import CloudCells, white
from .coregister import Shift
from .gdal_scope import in_gdal_scope
from .grid import TOUCHING, Grid, Window, check_transformable, distance_unit
from .image_values import (
    CheckedImage,
    alpha_band,
    alpha_read_as_data,
    as_colours,
    as_masked,
    checked_image,
    chosen_bands,
)
from .input_files import one_image_twice, open_raster, read_or_explain
from .overlap import (
    PIXEL_GRID,
    Box,
    aoi_layer,
    check_in_its_area,
    check_placeable,
    check_shareable,
    common_box,
    finer,
    image_srs,
    no_operation,
    north_up,
    pixel_side,
    shared_grid,
)
from .scratch import remove_scratch, removed_on_failure, scratch_name
from .strips import strips
from .vector_layer import layer_srs, open_layer, rasterize

MAX_UPSAMPLING = 16   # a chosen pixel size may give at most this many times the larger image's pixels


def warp(source: gdal.Dataset, grid: Grid, window: Window, shape: tuple[int, int], resampling: str,
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
    return warp(source, grid, Window(0, 0, grid.width, grid.height), (grid.height, grid.width),
                 _resampling(source, grid))


def _laid_on(source: gdal.Dataset, grid: Grid, label: str, path: str) -> gdal.Dataset:
    """`_whole`, or one sentence when PROJ has no way from the image's CRS to the grid's over its area: an image
    labelled NAD27 over Europe ended the run with GDAL's RuntimeError."""
    try:
        return _whole(source, grid)
    except RuntimeError as exc:
        raise no_operation(source, label, path, exc) from exc


def _on_lattice(source: gdal.Dataset, grid: Grid) -> bool:
    """Whether the grid's pixels are the source's own (same CRS and pixel size, whole-pixel offset)."""
    sx0, sdx, srx, sy0, sry, sdy = source.GetGeoTransform()
    x0, dx, _, y0, _, dy = grid.transform
    srs, grid_srs = image_srs(source), grid.srs()
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
    return "average" if coarser and image_srs(source) is not None else "bilinear"


class AlignedPair:
    """Two images on one grid; read(window) gives both plus their combined validity."""

    def __init__(self, grid: Grid, source1: gdal.Dataset, source2: gdal.Dataset, aoi: Optional[gdal.Dataset],
                 keep: list, names: Sequence[tuple[str, str]] = (("T1", "T1"), ("T2", "T2")),
                 notes: Sequence[str] = (), pixel_sides: tuple[float, float] = (1.0, 1.0)):
        self.grid = grid
        self._keep = keep
        self.names = tuple(names)     # (label, path) of each image, for messages
        self.notes = list(notes)      # what the analyst should know about the inputs (e.g. complex bands)
        self.pixel_sides = pixel_sides   # each image's own pixel side in grid pixels (overlap.pixel_side)
        self._sources = (source1, source2)
        self._grids = (grid, grid)    # where each source is read from: T2's moves with a co-registration shift
        self.shift = Shift()
        self._vrt1, self._vrt2 = (_laid_on(s, grid, *name) for s, name in zip(self._sources, self.names))
        self._aoi = aoi
        self.has_aoi = aoi is not None
        self.band_count1 = self._vrt1.RasterCount
        self.band_count2 = self._vrt2.RasterCount
        # MASK_CLOUDS (raster.cloud_mask): per image, the values at or above which a pixel is left out as cloud, and
        # the blocks taken for cloud or its edge (an AOI's: those found on the ground around it).
        self.white_levels: tuple[Optional[np.ndarray], Optional[np.ndarray]] = (None, None)
        self.cloud_cells: Optional[CloudCells] = None
        self.overlap = grid   # the grid's lattice over the whole overlap of the images (larger with an AOI)

    @property
    def offset(self) -> tuple[int, int]:
        """Where the grid lies on the overlap's lattice (rows, cols of its first pixel there; (0, 0) without an AOI)."""
        return (round((self.grid.transform[3] - self.overlap.transform[3]) / self.grid.transform[5]),
                round((self.grid.transform[0] - self.overlap.transform[0]) / self.grid.transform[1]))

    @in_gdal_scope
    def around(self, grid: Grid) -> AlignedPair:
        """The same two images, as shifted, on another `grid` of the same lattice and without the AOI (the ground
        around an AOI: stages.read_surroundings); its datasets are released with this pair's."""
        pair = AlignedPair(grid, *self._sources, None, self._keep, self.names, (), self.pixel_sides)
        if self.shift.found:
            pair.shift_second(self.shift)
        self._keep.extend([pair._vrt1, pair._vrt2])
        return pair

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
        both images count as valid (`_whole_inside`, `_whole_edge`). Once MASK_CLOUDS has set `white_levels` and
        `cloud_cells` (stages.read_blocks), a read leaves out the pixels white in an image and those blocks.
        """
        window = window or Window(0, 0, self.grid.width, self.grid.height)
        rows, cols = out_shape or (window.height, window.width)
        if out_shape:
            x1, x2 = (read_or_explain(*name, lambda s=s, g=g: warp(s, g, window, out_shape, "average",
                                                                       lazy=False).ReadAsArray())
                      for name, s, g in zip(self.names, self._sources, self._grids))
        else:
            kwargs = dict(xoff=window.col_off, yoff=window.row_off, xsize=window.width, ysize=window.height)
            x1, x2 = (read_or_explain(*name, lambda vrt=vrt: vrt.ReadAsArray(**kwargs))
                      for name, vrt in zip(self.names, (self._vrt1, self._vrt2)))
        x1 = x1.astype(np.float32, copy=False).reshape(-1, rows, cols)
        x2 = x2.astype(np.float32, copy=False).reshape(-1, rows, cols)
        valid = np.isfinite(x1).all(0) & np.isfinite(x2).all(0)
        if self.cloud_cells is not None:   # MASK_CLOUDS: on every tile of a run, so nothing is computed without it
            valid &= ~self.cloud_cells.at(window, (rows, cols))
            for x, levels in zip((x1, x2), self.white_levels):
                if levels is not None:
                    valid &= ~white(x, levels)
        if out_shape:
            valid = _whole_inside(valid) & self._whole_edge(window, (rows, cols))
        if self._aoi is not None:
            valid &= self.inside(window, out_shape)
        return x1, x2, valid

    @in_gdal_scope
    def inside(self, window: Window, out_shape: Optional[tuple[int, int]] = None) -> np.ndarray:
        """Which pixels of `window` lie in the AOI (every one without an AOI); with out_shape, which block means lie
        in it by more than half."""
        rows, cols = out_shape or (window.height, window.width)
        if self._aoi is None:
            return np.ones((rows, cols), bool)
        inside = self._aoi.ReadAsArray(xoff=window.col_off, yoff=window.row_off, xsize=window.width,
                                       ysize=window.height, buf_xsize=cols, buf_ysize=rows,
                                       resample_alg=gdal.GRIORA_Average)
        return inside > (127 if out_shape else 0)

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
    source, layer = open_layer(path, tr("AOI"))
    rasterize(mask, path, layer, dict(burnValues=[255], allTouched=False))
    return mask


def _shared_aoi(aoi: Optional[str], grid: Grid) -> Optional[gdal.Dataset]:
    """The AOI's mask on the grid two images share (it was left out there, and the whole grid compared);
    on a grid of pixels only an AOI without a CRS, drawn in the same pixel coordinates, can be placed."""
    if not aoi:
        return None
    source, layer = aoi_layer(aoi)
    if not grid.crs_wkt and layer_srs(layer) is not None:
        raise InputError(tr("AOI: '{path}' has a CRS, but neither image has one, so the area cannot be placed on "
                            "them: assign the images their CRS, or leave AOI empty.", path=aoi))
    check_transformable(layer_srs(layer), grid.srs(), tr("AOI"), aoi, tr("the images"))
    mask = _aoi_mask(aoi, grid)
    if mask.GetRasterBand(1).ComputeRasterMinMax(False)[1] == 0:   # open_pair removes the mask as it raises
        raise InputError(tr("AOI: '{path}' does not overlap the images: check its CRS and that it is the area you "
                            "meant.", path=aoi))
    return mask


MIN_SIDE = 32   # pixels: the least overlap, along each side, that the images must share


@in_gdal_scope
@removed_on_failure()
def open_pair(t1: str, t2: str, *, bands1: Optional[Sequence[int]] = None, bands2: Optional[Sequence[int]] = None,
              nodata1: Optional[float] = None, nodata2: Optional[float] = None, grid: str = "finer",
              pixel_size: Optional[float] = None, aoi: Optional[str] = None, same_grid: bool = False,
              min_size: int = MIN_SIDE) -> AlignedPair:
    """Validate both rasters and align them onto the chosen image's grid ('t1', 't2', or 'finer': the image
    with more pixels over the overlap), cropped to their overlap (and AOI)."""
    notes: list = []
    ds1, ds2 = (as_masked(as_colours(open_raster(path, label), label, notes), label, str(path), notes)
                for path, label in ((t1, "T1"), (t2, "T2")))
    if one_image_twice(t1, t2, bands1, bands2):
        raise InputError(tr("T1 and T2 are the same file '{path}' with the same bands: choose the image before and the "
                            "image after (or, for one file holding both dates, their bands with BANDS1 and BANDS2).",
                            path=t1))
    names = (("T1", str(t1)), ("T2", str(t2)))
    # Read once: a flagged band is sampled to tell.
    alpha1, alpha2 = (alpha_band(ds, *name) for ds, name in zip((ds1, ds2), names))
    b1, b2 = chosen_bands(ds1, bands1, "T1", t1, alpha1), chosen_bands(ds2, bands2, "T2", t2, alpha2)
    for ds, bands, alpha, label in ((ds1, bands1, alpha1, "T1"), (ds2, bands2, alpha2, "T2")):
        if not bands:
            alpha_read_as_data(ds, alpha, label, notes)
    image1, image2 = (checked_image(ds, chosen, alpha, nodata, number, path, notes) for ds, chosen, alpha, nodata,
                      number, path in ((ds1, b1, alpha1, nodata1, 1, str(t1)), (ds2, b2, alpha2, nodata2, 2, str(t2))))
    for ds, name in zip((ds1, ds2), names):
        check_placeable(ds, *name, same_grid)
    srs1, srs2 = image_srs(ds1), image_srs(ds2)
    if srs1 is None or srs2 is None:
        check_shareable(ds1, ds2, t1, t2, same_grid)
        return _on_shared_grid(ds1, ds2, image1, image2, names, aoi, pixel_size, notes)
    out, overlap, mask = _output_grid(ds1, ds2, srs1, srs2, names, grid, pixel_size, aoi, min_size, notes)
    keep: list = []
    pair = AlignedPair(out, image1.selected(ds1, keep, notes), image2.selected(ds2, keep, notes), mask, keep, names,
                       notes, (pixel_side(ds1, out), pixel_side(ds2, out)))
    pair.overlap = overlap
    return pair


def _on_shared_grid(ds1: gdal.Dataset, ds2: gdal.Dataset, image1: CheckedImage, image2: CheckedImage,
                    names: Sequence[tuple[str, str]], aoi: Optional[str], pixel_size: Optional[float],
                    notes: list) -> AlignedPair:
    """Two images taken as sharing one grid (SAME_GRID, one of them without a CRS), on that grid."""
    shared = shared_grid(ds1, ds2)
    mask = _shared_aoi(aoi, shared)   # a refused AOI before the images' VRTs are made
    minx, miny, maxx, maxy = shared.bounds()
    # Give both images that georeferencing in VRTs: the input files themselves are never touched.
    ds1, ds2 = (gdal.Translate(scratch_name(".vrt"), ds, format="VRT", outputBounds=[minx, maxy, maxx, miny],
                               outputSRS=shared.crs_wkt or None) for ds in (ds1, ds2))
    keep: list = [ds1, ds2]
    if pixel_size:
        notes.append(tr("PIXEL_SIZE {size:g} is ignored: images taken as sharing one grid are compared on "
                        "it, pixel for pixel.", size=pixel_size))
    if not shared.crs_wkt:   # "changed 11841 m²" of a grid of pixels was a count of pixels
        notes.append(tr("The grid has no CRS: areas (changed_area, the polygons' area_m2, MIN_AREA) are in its units "
                        "squared ({units}), not square metres.",
                        units=tr("pixels") if shared.transform == PIXEL_GRID else tr("its georeferencing's units")))
    pair = AlignedPair(shared, image1.selected(ds1, keep, notes), image2.selected(ds2, keep, notes), mask, keep,
                       names, notes)
    pair.overlap = shared   # the AOI masks the shared grid, which is the whole overlap
    return pair


def _output_grid(ds1: gdal.Dataset, ds2: gdal.Dataset, srs1: osr.SpatialReference, srs2: osr.SpatialReference,
                 names: Sequence[tuple[str, str]], grid: str, pixel_size: Optional[float], aoi: Optional[str],
                 min_size: int, notes: list) -> tuple[Grid, Grid, Optional[gdal.Dataset]]:
    """The outputs' grid: the chosen image's pixel lattice (at `pixel_size` if given) over the overlap of both
    images (CRSs `srs1`, `srs2`) and the AOI, checked for size; that lattice over the whole overlap (the ground
    around an AOI, which its prior is compared with: stages.read_surroundings); and the AOI's mask on the first."""
    local = 0 if srs1.IsLocal() else 1   # name the image whose CRS is local, if one is
    check_transformable((srs1, srs2)[local], (srs2, srs1)[local], *names[local], names[1 - local][0])
    for ds, name in zip((ds1, ds2), names):
        check_in_its_area(ds, *name)
    box: Optional[Box] = None
    if grid == "finer":
        grid, box = finer(ds1, ds2, srs1, srs2, aoi, notes)
    ref, ref_srs = (ds1, srs1) if grid == "t1" else (ds2, srs2)
    x0, dx, rx, y0, ry, dy = north_up(ref)
    if rx or ry:
        label, path = names[0] if grid == "t1" else names[1]
        raise InputError(tr("{label}: '{path}' has a rotated geotransform, which the outputs' grid cannot take: set "
                            "GRID (the dock's Output grid) to {other} to use the other image's grid, or warp it "
                            "north-up first (gdalwarp).",
                            label=label, path=path, other="t2" if grid == "t1" else "t1"))
    if pixel_size:
        dx, dy = math.copysign(pixel_size, dx), math.copysign(pixel_size, dy)
    minx, miny, maxx, maxy = box = box or common_box(ds1, ds2, aoi, ref_srs)
    if minx >= maxx or miny >= maxy:
        what = tr("the two images and the area of interest") if aoi else tr("the two images")
        raise InputError(tr("The extents of {what} do not overlap: check that they cover the same place "
                            "and carry the right CRS.", what=what))
    overlap = _snapped(common_box(ds1, ds2, None, ref_srs) if aoi else box, ref_srs, (x0, dx, y0, dy))
    out, mask = _burnt_extent(_centred_in(overlap, box), aoi) if aoi else (overlap, None)
    _check_grid_size(out.width, out.height, box, pixel_size, aoi, min_size,
                     max(ds1.RasterXSize * ds1.RasterYSize, ds2.RasterXSize * ds2.RasterYSize), distance_unit(ref_srs))
    return out, overlap, mask


def _snapped(box: Box, srs: osr.SpatialReference, lattice: tuple[float, float, float, float]) -> Grid:
    """The pixels of a lattice (x0, dx, y0, dy: a north-up grid's origin and pixel sides) whole inside `box`."""
    minx, miny, maxx, maxy = box
    x0, dx, y0, dy = lattice
    col0 = math.ceil((minx - x0) / dx - 1e-6)
    col1 = math.floor((maxx - x0) / dx + 1e-6)
    row0 = math.ceil((maxy - y0) / dy - 1e-6)
    row1 = math.floor((miny - y0) / dy + 1e-6)
    return Grid(srs.ExportToWkt(), (x0 + col0 * dx, dx, 0.0, y0 + row0 * dy, 0.0, dy), col1 - col0, row1 - row0)


def _centred_in(grid: Grid, box: Box) -> Grid:
    """The pixels of `grid` whose centres lie in `box` (the AOI's extent on it; ties kept, _burnt_extent trims them):
    the AOI's mask keeps a pixel by its centre (_aoi_mask), so a grid of the pixels whole inside the box left out a row
    or column on each side that the AOI's edge cut (a rectangle from 100.3 to 200.7 pixels: 99 x 99 of its 101 x 101
    pixels)."""
    minx, miny, maxx, maxy = box
    x0, dx, _, y0, _, dy = grid.transform
    col0 = max(0, math.ceil((minx - x0) / dx - 0.5 - 1e-6))
    col1 = min(grid.width, math.floor((maxx - x0) / dx - 0.5 + 1e-6) + 1)
    row0 = max(0, math.ceil((maxy - y0) / dy - 0.5 - 1e-6))
    row1 = min(grid.height, math.floor((miny - y0) / dy - 0.5 + 1e-6) + 1)
    return replace(grid, transform=(x0 + col0 * dx, dx, 0.0, y0 + row0 * dy, 0.0, dy), width=col1 - col0,
                   height=row1 - row0)


def _burnt_extent(grid: Grid, aoi: str) -> tuple[Grid, Optional[gdal.Dataset]]:
    """`grid` cut to the rows and columns that hold a pixel of the AOI's mask (_aoi_mask), and the mask cut alike
    (None where it holds none): its extent's pixel centres and the polygon's burn differ where an edge runs along
    pixel centres (a rectangle from 20.5 to 120.5 pixels burns 100 of the 101 columns) and beside a pointed corner,
    which left lines of no data along the outputs' edge."""
    mask = _aoi_mask(aoi, grid)
    band = mask.GetRasterBand(1)
    rows, cols = np.zeros(grid.height, bool), np.zeros(grid.width, bool)
    for row, count in strips(grid.height):
        inside = band.ReadAsArray(0, row, grid.width, count) > 0
        rows[row:row + count] = inside.any(axis=1)
        cols |= inside.any(axis=0)
    if rows.all() and cols.all():
        return grid, mask
    cut, name = None, mask.GetDescription()
    if rows.any():   # else nothing burnt: the grid's size is refused (_check_grid_size)
        (row0, row1), (col0, col1) = (int(i) for i in np.flatnonzero(rows)[[0, -1]]), \
            (int(i) for i in np.flatnonzero(cols)[[0, -1]])
        x0, dx, _, y0, _, dy = grid.transform
        grid = replace(grid, transform=(x0 + col0 * dx, dx, 0.0, y0 + row0 * dy, 0.0, dy), width=col1 - col0 + 1,
                       height=row1 - row0 + 1)
        cut = gdal.Translate(scratch_name(".tif"), mask, srcWin=[col0, row0, grid.width, grid.height],
                             creationOptions=["TILED=YES", "COMPRESS=DEFLATE"])
    band = mask = None
    remove_scratch([name])
    return (grid, cut) if cut is not None else (replace(grid, width=0, height=0), None)


def _check_grid_size(width: int, height: int, box: Box, pixel_size: Optional[float], aoi: Optional[str],
                     min_size: int, larger: int, units: str) -> None:
    """Refuse an overlap under `min_size` pixels a side, and a PIXEL_SIZE that makes more than MAX_UPSAMPLING
    times the `larger` image's pixels."""
    minx, miny, maxx, maxy = box
    if pixel_size and (width < min_size or height < min_size):
        raise InputError(tr("Pixel size {pixel_size:g} {units} leaves the overlap only {width} x {height} pixels; at "
                            "least {size} x {size} are needed: choose a pixel size of {most:.3g} {units} or less.",
                            pixel_size=pixel_size, width=max(width, 0), height=max(height, 0), size=min_size,
                            most=min(maxx - minx, maxy - miny) / min_size, units=units))
    if width < min_size or height < min_size:
        what = tr("the two images and the area of interest") if aoi else tr("the two images")
        raise InputError(tr("The overlap of {what} is only {width} x {height} pixels; at least {size} x {size} are "
                            "needed{advice}.", what=what, width=max(width, 0), height=max(height, 0), size=min_size,
                            advice=tr(": draw a larger area of interest") if aoi else ""))
    most = MAX_UPSAMPLING * larger
    if pixel_size and width * height > most:
        least = pixel_size * math.sqrt(width * height / most)
        raise InputError(tr("Pixel size {pixel_size:g} makes a grid of {width:,} x {height:,} pixels, more than "
                            "{factor} times as many as the larger image has: finer than both images, it adds "
                            "no detail and would take very long. Choose a pixel size of {least:.3g} or more, or "
                            "leave it empty for the image's own.", pixel_size=pixel_size, width=width,
                            height=height, factor=MAX_UPSAMPLING, least=least))
