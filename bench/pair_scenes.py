"""Scenes made from the shared pairs for `make bench-accuracy` and `make bench-scale`: a pair rewritten or cut to a
window, its largest unchanged square, its quarter and ninth parts (as crops or as AOIs), a copy shifted by a few
pixels, and the regions it misses drawn as an analyst's samples."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import numpy as np
import rasterio
import torch
import torch.nn.functional as F
from rasterio.transform import Affine
from rasterio.windows import Window

CROP_SPLITS = (2, 3)   # each pair cut into 2 × 2 and 3 × 3 parts
SAMPLE_LEAST = 50      # px: the least region drawn as a sample (finding more like the samples)


def unchanged_square(truth: np.ndarray, margin: int = 8) -> tuple[int, int, int]:
    """(row, col, side) of the largest square with no changed pixel within `margin` px: a real pair's own
    unchanged land, to see what the detector says where the reference says nothing changed."""
    changed = torch.from_numpy((truth > 0).astype(np.float32))[None, None]
    near = F.max_pool2d(changed, 2 * margin + 1, stride=1, padding=margin)[0, 0].numpy() > 0   # grown by margin
    free = ~near
    side = np.zeros((free.shape[0] + 1, free.shape[1] + 1), np.int32)   # largest free square ending here
    for row in range(free.shape[0]):
        for col in np.flatnonzero(free[row]):
            side[row + 1, col + 1] = 1 + min(side[row, col + 1], side[row + 1, col], side[row, col])
    end_row, end_col = np.unravel_index(int(side.argmax()), side.shape)
    size = int(side.max())
    return int(end_row - size), int(end_col - size), size


def rewritten(folder: Path, out: Path, names: tuple[str, ...],
              made: Callable[[str, rasterio.DatasetReader], tuple[np.ndarray, Affine]]) -> dict:
    """The pair's rasters `names` written again under out as `made(name, dataset)` gives them (bands, rows, cols and
    their transform), with their own profile untiled (a crop's size need not fit the tiles): paths by name."""
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        with rasterio.open(folder / f"{name}.tif") as ds:
            data, transform = made(name, ds)
            profile = {key: value for key, value in ds.profile.items()
                       if key not in ("blockxsize", "blockysize", "tiled")}
        profile.update(count=data.shape[0], height=data.shape[1], width=data.shape[2], transform=transform)
        with rasterio.open(out / f"{name}.tif", "w", **profile) as copy:
            copy.write(np.ascontiguousarray(data))
    return {name: str(out / f"{name}.tif") for name in names}


def window_copy(folder: Path, out: Path, window: Window, names: tuple[str, ...]) -> dict:
    """The pair's rasters `names` cut to `window` under out (the georeferencing follows): paths by name."""
    return rewritten(folder, out, names, lambda name, ds: (ds.read(window=window), ds.window_transform(window)))


def unchanged_crop(folder: Path, out: Path, least: int = 96) -> Optional[dict]:
    """t1.tif and t2.tif of the pair's largest unchanged square under out (None if under `least` px)."""
    with rasterio.open(folder / "gt.tif") as ds:
        row, col, size = unchanged_square(ds.read(1))
    if size < least:
        return None
    return {**window_copy(folder, out, Window(col, row, size, size), ("t1", "t2")), "side": size}


def part_crops(folder: Path, out: Path, splits: tuple[int, ...] = CROP_SPLITS) -> dict:
    """The pair cut into n × n parts for each n of `splits` (t1, t2 and gt each), by name "n-ij": smaller
    scenes of real sensors, whose share of change and tail differ from the whole pair's."""
    with rasterio.open(folder / "gt.tif") as ds:
        windows = part_windows(ds.height, ds.width, splits)
    return {name: window_copy(folder, out / name, window, ("t1", "t2", "gt")) for name, window in windows.items()}


def part_windows(height: int, width: int, splits: tuple[int, ...] = CROP_SPLITS) -> dict:
    """The n × n parts of a height × width grid for each n of `splits`, by name "n-ij"."""
    return {f"{n}-{i}{j}": Window(j * (width // n), i * (height // n), width // n, height // n)
            for n in splits for i in range(n) for j in range(n)}


def part_aois(folder: Path, out: Path, splits: tuple[int, ...] = CROP_SPLITS) -> dict:
    """The parts of `part_crops` as AOI polygons over the whole pair, by name: the same smaller scenes as an analyst
    draws them, with the ground around them in the images."""
    with rasterio.open(folder / "gt.tif") as ds:
        windows, crs = part_windows(ds.height, ds.width, splits), ds.crs.to_wkt() if ds.crs else ""
        transforms = {name: ds.window_transform(window).to_gdal() for name, window in windows.items()}
    out.mkdir(parents=True, exist_ok=True)
    return {name: region_polygons(out / f"{name}.gpkg", crs, [(np.ones((window.height, window.width), np.uint8),
                                                                transforms[name])])
            for name, window in windows.items()}


def shifted_copy(folder: Path, out: Path, rows: int = 3, cols: int = 2) -> str:
    """A copy of the pair's T2 whose georeferencing is `rows` pixels south and `cols` east of the truth:
    real sensors misregistered by a known amount."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / "t2.tif"
    shutil.copyfile(folder / "t2.tif", target)
    with rasterio.open(target, "r+") as ds:
        ds.transform = ds.transform * Affine.translation(cols, rows)
    return str(target)


def missed_regions(change: np.ndarray, truth: np.ndarray, least: int = SAMPLE_LEAST,
                   marked: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """The truth's 8-connected changed regions (labels) and the ids of those of at least `least` pixels that
    the change map marks under `marked` of: what an analyst sees the map miss."""
    from scipy import ndimage

    regions, count = ndimage.label(truth > 0, structure=np.ones((3, 3)))
    ids = np.arange(1, count + 1)
    if count == 0:
        return regions, ids
    size = ndimage.sum(truth > 0, regions, ids)
    share = ndimage.mean(change == 1, regions, ids)
    return regions, ids[(size >= least) & (share < marked)]


def region_polygons(path: Path, crs_wkt: str, pieces: list) -> str:
    """An analyst's drawing: the regions of each (mask, GDAL geotransform) piece as `changed` = 1 polygons in
    one GeoPackage at path (replaced)."""
    from osgeo import gdal, ogr, osr

    path.unlink(missing_ok=True)
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("samples", osr.SpatialReference(wkt=crs_wkt) if crs_wkt else None, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("changed", ogr.OFTInteger))
    for mask, transform in pieces:
        raster = gdal.GetDriverByName("MEM").Create("", mask.shape[1], mask.shape[0], 1, gdal.GDT_Byte)
        raster.SetGeoTransform(transform)
        raster.GetRasterBand(1).WriteArray(mask.astype(np.uint8))
        band = raster.GetRasterBand(1)
        gdal.Polygonize(band, band, layer, 0)
    source = None
    return str(path)
