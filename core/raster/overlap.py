"""Where two images lie: their boxes in one CRS (across the antimeridian too), the ground they and the AOI share,
which of them samples it more finely, whether a CRS can be used over its image's area, and the grid of two
images said to share one (SAME_GRID). Nothing here reads a pixel."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Optional

from osgeo import gdal, ogr, osr

from ..errors import InputError
from ..i18n import tr
from .grid import Grid, check_transformable, spatial_reference
from .vector_layer import layer_srs, open_layer


def image_srs(ds: gdal.Dataset) -> Optional[osr.SpatialReference]:
    """The CRS the file carries (None: none; the layer's setting in QGIS is not the file's)."""
    return spatial_reference(ds.GetProjection())


ROTATION_TOLERANCE = 0.01   # of a pixel, across the whole image: rotation terms that move no pixel further are 0


def north_up(ds: gdal.Dataset) -> tuple[float, float, float, float, float, float]:
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


def bounds(ds: gdal.Dataset) -> tuple[float, float, float, float]:
    """The envelope of the image's four corners: with rotation terms (an image turned 30°, or 90° with a pixel
    size of 0 on the diagonal) a box from the pixel sizes alone cut a third of the overlap, or divided by 0."""
    x0, dx, rx, y0, ry, dy = ds.GetGeoTransform()
    corners = [(col, row) for col in (0, ds.RasterXSize) for row in (0, ds.RasterYSize)]
    xs, ys = [x0 + col * dx + row * rx for col, row in corners], [y0 + col * ry + row * dy for col, row in corners]
    return min(xs), min(ys), max(xs), max(ys)


def bounds_in(ds: gdal.Dataset, target: osr.SpatialReference) -> tuple[float, float, float, float]:
    src = image_srs(ds)
    box = bounds(ds)
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


def aoi_layer(path: str) -> tuple[ogr.DataSource, ogr.Layer]:
    """The AOI's layer (and the source that keeps it), refused when it holds no polygon."""
    source, layer = open_layer(path, tr("AOI"))
    if not any(f.GetGeometryRef() is not None and not f.GetGeometryRef().IsEmpty() for f in layer):
        raise InputError(tr("AOI: '{path}' holds no polygon.", path=path))
    layer.ResetReading()
    if ogr.GT_Flatten(layer.GetGeomType()) in _NOT_AREAS:
        raise InputError(tr("AOI: '{path}' holds {kind}, which enclose no area: an area of interest is one or more "
                            "polygons.", path=path, kind=_NOT_AREAS[ogr.GT_Flatten(layer.GetGeomType())]))
    return source, layer


def _aoi_bounds(path: str, target: osr.SpatialReference) -> tuple[float, float, float, float]:
    source, layer = aoi_layer(path)
    minx, maxx, miny, maxy = layer.GetExtent()
    srs = layer_srs(layer)
    if srs is not None:
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        if not srs.IsSame(target):
            check_transformable(srs, target, tr("AOI"), path, tr("the images"))
            return _transform_bounds(srs, target, (minx, miny, maxx, maxy))
    return minx, miny, maxx, maxy


Box = tuple[float, float, float, float]   # (minx, miny, maxx, maxy)


def common_box(ds1: gdal.Dataset, ds2: gdal.Dataset, aoi: Optional[str], srs: osr.SpatialReference) -> Box:
    """(minx, miny, maxx, maxy) in srs of what both images (and the AOI) cover; empty when min ≥ max."""
    boxes = [bounds_in(ds1, srs), bounds_in(ds2, srs)] + ([_aoi_bounds(aoi, srs)] if aoi else [])
    if srs.IsGeographic():   # each on the side of the antimeridian of the image whose own CRS this is
        native = next((box for ds, box in zip((ds1, ds2), boxes)
                       if image_srs(ds) is not None and image_srs(ds).IsSame(srs)), boxes[0])
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
    _, dx, rx, _, ry, dy = ref.GetGeoTransform()   # a pixel's area, turned or not: |det|
    return max(maxx - minx, 0.0) * max(maxy - miny, 0.0) / abs(dx * dy - rx * ry)


def pixel_side(ds: gdal.Dataset, grid: Grid) -> float:
    """The image's pixel side in the grid's pixels, over the grid's ground: about 2 for a 20 m image on a 10 m grid,
    0.5 for a 5 m one (labels.blocks reads it). 1 for an image without CRS, which shares the grid."""
    srs, target = image_srs(ds), grid.srs()
    box = grid.bounds()
    if srs is None or target is None:
        return 1.0
    if not srs.IsSame(target):
        box = _transform_bounds(target, srs, box)
    return math.sqrt(grid.width * grid.height / max(_pixels(box, ds), 1e-12))


COARSER = 8   # pixel sides: the generated 10 m optical against a 283 m radar (28x) marked 5.4 % of an unchanged scene


def finer(ds1: gdal.Dataset, ds2: gdal.Dataset, srs1: osr.SpatialReference, srs2: osr.SpatialReference,
          aoi: Optional[str], notes: list) -> tuple[str, Box]:
    """'t1' or 't2': the image that samples the common ground more finely (T1 on a tie), and the overlap
    in its CRS (the grid is cut from it, so it is not computed again).

    The map then does not depend on which image is called T1, and keeps the finer image's detail: on
    the generated optical (10 m) / SAR (20 m) pairs, the prior on the SAR's grid lost change over 1 %
    of the scene (three seeds of three reported unchanged) that it maps on the optical's."""
    box1, box2 = common_box(ds1, ds2, aoi, srs1), common_box(ds1, ds2, aoi, srs2)
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


def check_in_its_area(ds: gdal.Dataset, label: str, path: str) -> None:
    """Refuse an image whose CRS PROJ cannot use over the image's own area, whichever grid is chosen: labelled
    NAD27 over Europe, it was refused on its own grid (no operation even to itself) and placed without a word by
    PROJ's ballpark transformation on the other image's."""
    try:
        gdal.Warp("", ds, format="VRT")
    except RuntimeError as exc:
        raise no_operation(ds, label, path, exc) from exc


def no_operation(ds: gdal.Dataset, label: str, path: str, exc: RuntimeError) -> InputError:
    """The sentence for an image whose CRS GDAL finds no transformation from over its area."""
    name = (image_srs(ds).GetName() if image_srs(ds) is not None else None) or "?"
    return InputError(tr("{label}: '{path}' cannot be laid on the run's grid: GDAL finds no transformation from "
                         "its CRS ({name}) over its area ({reason}). Its CRS is likely wrong, such as a datum "
                         "used outside its region (NAD27 in Europe): assign the file its real CRS (QGIS: Raster > "
                         "Projections > Assign Projection; or gdal_edit.py -a_srs), then run again.", label=label,
                         path=path, name=name, reason=str(exc).strip().splitlines()[0]))


def unread_prj(path: str) -> str:
    """Words for a .prj file beside an image whose format GDAL reads it for not (PNG, JPEG: their world file
    places them, the .prj is left aside), else nothing: the analyst sees the CRS file there."""
    stem = os.path.splitext(str(path))[0]
    found = [stem + ext for ext in (".prj", ".PRJ") if os.path.isfile(stem + ext)]
    driver = gdal.IdentifyDriver(str(path))   # the file's own: `ds` may be a VRT of its colours
    if not found or driver is None:
        return ""
    return " ({})".format(tr("GDAL does not read the '{prj}' beside it for a {driver} file",
                             prj=os.path.basename(found[0]), driver=driver.ShortName))


def same_placement(transform1: Sequence[float], transform2: Sequence[float]) -> bool:
    """Whether two geotransforms place pixels alike, to a thousandth of a pixel."""
    pixel = max(abs(transform1[1]), abs(transform1[5]), abs(transform2[1]), abs(transform2[5]))
    return all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-3 * pixel) for a, b in zip(transform1, transform2))


def same_lattice(transform1: Sequence[float], transform2: Sequence[float]) -> bool:
    """Whether two geotransforms share their pixels' size and corners: a mask on T1's whole extent and a grid cut
    from it to the overlap are read one onto the other pixel for pixel."""
    if not all(math.isclose(transform1[i], transform2[i], rel_tol=1e-9, abs_tol=1e-12) for i in (1, 2, 4, 5)):
        return False
    cols, rows = ((transform1[i] - transform2[i]) / transform2[step] for i, step in ((0, 1), (3, 5)))
    return abs(cols - round(cols)) < 1e-3 and abs(rows - round(rows)) < 1e-3


def check_same_georeferencing(ds1: gdal.Dataset, ds2: gdal.Dataset, t1: str, t2: str) -> None:
    """Refuse images said to share one grid whose own georeferencing (world files, geotransforms) places them
    apart: they were overlaid pixel for pixel, T1's placement kept, and two PNGs whose world files put them
    30 px apart gave Kappa −0.03 against 0.72, an unchanged scene 1.5 % marked."""
    transforms = [ds.GetGeoTransform(can_return_null=True) for ds in (ds1, ds2)]
    if None in transforms or same_placement(*transforms):
        return
    (x1, dx1, rx1, y1, ry1, dy1), (x2, dx2, rx2, y2, ry2, dy2) = transforms
    raise InputError(tr("The images are taken as sharing one grid (SAME_GRID), but their own georeferencing places "
                        "them apart: T1 '{t1}' at ({x1:.12g}, {y1:.12g}) with pixels of {dx1:.12g}, T2 '{t2}' at "
                        "({x2:.12g}, {y2:.12g}) with pixels of {dx2:.12g}. Assign both their CRS (QGIS: Raster > "
                        "Projections > Assign Projection) and run without SAME_GRID, so that they are aligned by "
                        "that georeferencing; or, if they are truly one grid, remove the wrong world file.",
                        t1=t1, x1=x1, y1=y1, dx1=dx1, t2=t2, x2=x2, y2=y2, dx2=dx2))


PIXEL_GRID = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)   # where QGIS draws an image without georeferencing


def shared_grid(ds1: gdal.Dataset, ds2: gdal.Dataset) -> Grid:
    """The grid of two images said to share one: the georeferencing of the image that has a CRS (T1's
    first), else of one that has a geotransform, else a grid of pixels (1 unit each, north up, rows at y 0 down to
    -height, where QGIS draws an image without georeferencing: at y height…0 the outputs lay a whole image away from
    the inputs), so that an image with georeferencing keeps it in the outputs whatever the other lacks."""
    def georeferenced(ds: gdal.Dataset) -> bool:
        return ds.GetGeoTransform(can_return_null=True) is not None
    with_crs = [ds for ds in (ds1, ds2) if image_srs(ds) is not None and georeferenced(ds)]
    ref = (with_crs or [ds for ds in (ds1, ds2) if georeferenced(ds)] or [None])[0]
    transform = ref.GetGeoTransform() if ref is not None else PIXEL_GRID
    wkt = image_srs(ref).ExportToWkt() if ref is not None and image_srs(ref) is not None else ""
    return Grid(wkt, transform, ds1.RasterXSize, ds1.RasterYSize)


def check_placeable(ds: gdal.Dataset, label: str, path: str, same_grid: bool) -> None:
    """Refuse an image that has no position on a map grid for a reason the analyst can mend: RPCs only (a
    primary VHR product), or a CRS without a geotransform (or with a pixel size of 0)."""
    placed = ds.GetGeoTransform(can_return_null=True) is not None
    if not placed and ds.GetMetadata("RPC") and not same_grid:
        raise InputError(tr("{label}: '{path}' is georeferenced by rational polynomial coefficients (RPC) only, "
                            "as a primary VHR product is, not on a map grid: orthorectify it first (QGIS: Raster "
                            "> Projections > Warp (Reproject) with -rpc among its additional parameters; or "
                            "gdalwarp -rpc -to RPC_DEM=dem.tif -t_srs EPSG:<UTM zone> -r bilinear), then run with "
                            "the orthorectified file.", label=label, path=path))
    if image_srs(ds) is not None and not placed and not ds.GetGCPCount():
        raise InputError(tr("{label}: '{path}' has a CRS but no valid position on it (no geotransform, or a "
                            "pixel size of 0), so it cannot be placed beside the other image: georeference it "
                            "(QGIS: Raster > Georeferencer; or gdal_translate -a_ullr), then run again.",
                            label=label, path=path))


def check_shareable(ds1: gdal.Dataset, ds2: gdal.Dataset, t1: str, t2: str, same_grid: bool) -> None:
    """Refuse a pair of which one image has no CRS, unless the analyst says that both share one grid (SAME_GRID)
    and they do: the same size, and no georeferencing of their own that places them apart."""
    missing, ds, path = ("T1", ds1, t1) if image_srs(ds1) is None else ("T2", ds2, t2)
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
                            prj=unread_prj(path)))
    if (ds1.RasterXSize, ds1.RasterYSize) != (ds2.RasterXSize, ds2.RasterYSize):
        raise InputError(tr("Both images are taken as sharing one grid, but their sizes differ: "
                            "{width1}x{height1} and {width2}x{height2}.", width1=ds1.RasterXSize,
                            height1=ds1.RasterYSize, width2=ds2.RasterXSize, height2=ds2.RasterYSize))
    check_same_georeferencing(ds1, ds2, t1, t2)
