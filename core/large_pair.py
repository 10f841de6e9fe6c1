"""A generated optical/SAR pair of any size (a whole Sentinel-2 tile, 10 980²), written strip by strip.

sample_pair makes its scene whole (FFT random fields, one Voronoi pass over the canvas): at 10 980²
that is tens of GiB. Here every value is a function of its position, so the scene is made one strip
at a time, in memory set by the strip, and the strips agree where they meet: random fields are white
noise drawn per lattice row from (seed, field, row), blurred and interpolated; parcels are Voronoi
cells of seeds jittered per 24-px grid cell. The land cover, spectra and SAR levels are
sample_pair's, and so is the parcel size: the objects that change stay 10–40 px wide at any size.

Date 1: 4-band optical reflectance × 10⁴ (UInt16) in UTM 33N at 10 m. Date 2: SAR σ⁰ with 4-look
speckle (Float32, nodata 0 in one corner) in EPSG:4326 at about 14 m, over a shifted extent. Between
them a band of land along the river floods and fields become built-up. Beside the truth mask,
`objects.tif` holds the id of every built-up change (its parcel), for recall by object size.

    python -m oaip_qgis.core.large_pair OUT_DIR --size 10980 [--seed S]
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.windows import Window

from .errors import InputError
from .i18n import tr
from .raster.gdal_scope import in_gdal_scope
from .sample_pair import (
    BUILT,
    FIELD,
    FOREST,
    LOOKS,
    ORIGIN,
    SAR_NODATA,
    T1_CRS,
    T1_PIXEL,
    WATER,
    class_backscatter,
    class_reflectance,
    nearest_seed,
)

T2_CRS = CRS.from_epsg(4326)
T2_PIXEL_M = 14.0          # date 2's pixel on the ground
PARCEL = 24                # Voronoi grid side, px: parcels 10–40 px wide, as in sample_pair
STRIP = 256                # canvas rows made at a time
FLOOD, BUILT_SHARE, RIVER = 0.05, 0.03, 1 / 60
_ROW_KEY = 1 << 20         # lattice rows may be negative (blur margins): keys stay non-negative


def _kernel(sigma: float) -> np.ndarray:
    radius = max(1, math.ceil(4 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return k / k.sum()


def _blur(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable 'valid' convolution: the output is smaller by len(k) − 1 on each axis."""
    n = len(k)
    rows = sum(k[i] * x[i:x.shape[0] - n + 1 + i] for i in range(n))
    return sum(k[i] * rows[:, i:rows.shape[1] - n + 1 + i] for i in range(n))


def _row_draws(seed: int, tag: int, row0: int, rows: int, draw) -> np.ndarray:
    """draw(generator) for each row from row0, stacked: each row's noise its own, whatever the strips."""
    return np.stack([draw(np.random.default_rng([seed, tag, row])) for row in range(row0, row0 + rows)])


def field(seed: int, tag: int, scale: float, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A unit-variance Gaussian random field of correlation length `scale` px on the grid rows × cols
    (1-D pixel positions, canvas coordinates ≥ 0), float32 (len(rows), len(cols)): the same value
    wherever it is asked for."""
    q = max(1, int(scale // 2))               # lattice step: a few lattice points per correlation length
    k = _kernel(scale / q)
    radius = len(k) // 2
    lr, lc = np.asarray(rows, np.float64) / q, np.asarray(cols, np.float64) / q
    r0, r1 = int(np.floor(lr.min())) - radius, int(np.floor(lr.max())) + 2 + radius
    c1 = int(np.floor(lc.max())) + 2 + radius
    noise = np.stack([np.random.default_rng([seed, tag, r + _ROW_KEY]).standard_normal(c1 + radius, np.float32)
                      for r in range(r0, r1)])
    lattice = _blur(noise, k.astype(np.float32)) / np.float32((k ** 2).sum())  # blurred white noise: variance (Σk²)²
    # Bilinear, one axis at a time (the grid is separable).
    i = np.clip(np.floor(lr - (r0 + radius)).astype(np.int64), 0, lattice.shape[0] - 2)
    wr = (lr - (r0 + radius) - i).astype(np.float32)[:, None]
    lattice = (1 - wr) * lattice[i] + wr * lattice[i + 1]
    j = np.clip(np.floor(lc).astype(np.int64), 0, lattice.shape[1] - 2)
    wc = (lc - j).astype(np.float32)
    return (1 - wc) * lattice[:, j] + wc * lattice[:, j + 1]


class Scene:
    """Land cover before and after, parcels and class spectra of one generated canvas, strip by strip."""

    def __init__(self, size: int, seed: int) -> None:
        if size < 64:
            raise InputError(tr("The large sample pair needs a size of at least 64 pixels, not {size}.",
                                size=size))
        self.size, self.seed = size, seed
        self.margin = size // 8
        self.side = size + 2 * self.margin
        rng = np.random.default_rng([seed, 0])
        self.grid_cells = self.side // PARCEL + 1
        g = self.grid_cells
        self.seeds = (np.indices((g, g)).transpose(1, 2, 0) + rng.uniform(0, 1, (g, g, 2))) * PARCEL
        self.classes = rng.choice([FIELD, FOREST, BUILT], size=g * g, p=[0.55, 0.3, 0.15])
        self.greenness = rng.uniform(0, 1, g * g)
        self.sar_offset = rng.uniform(-2, 2, g * g)
        self.frequency, self.phase = rng.uniform(0.8, 1.5), rng.uniform(0, 2 * np.pi)
        fields = np.flatnonzero(self.classes == FIELD)
        chosen = rng.permutation(fields)[:int(BUILT_SHARE * self.side ** 2 / PARCEL ** 2)]
        self.becomes_built = np.zeros(g * g, bool)
        self.becomes_built[chosen] = True
        self.flood_level = self._flood_level()

    def _distance(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        course = self.side * (0.45 + 0.12 * np.sin(2 * np.pi * cols / self.side * self.frequency + self.phase))
        return np.abs(rows - course)

    def _lowness(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self._distance(rows, cols) / self.side + 0.08 * field(self.seed, 1, self.side / 12, rows[:, 0], cols[0])

    def _flood_level(self) -> float:
        """The lowness under which land floods: FLOOD of the canvas, from a 1-in-16 sample off the river."""
        rows, cols = np.meshgrid(np.arange(0, self.side, 16.0), np.arange(0, self.side, 16.0), indexing="ij")
        land = self._distance(rows, cols) >= max(2.0, self.side * RIVER)
        low = self._lowness(rows, cols)[land]
        return float(np.quantile(low, min(1.0, FLOOD / land.mean())))

    def parcels(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Parcel index at (rows, cols): the nearest of the nine neighbouring seeds, boundaries bent."""
        bent_r = rows + PARCEL / 4 * field(self.seed, 2, PARCEL, rows[:, 0], cols[0])
        bent_c = cols + PARCEL / 4 * field(self.seed, 3, PARCEL, rows[:, 0], cols[0])
        return nearest_seed(bent_r, bent_c, self.seeds.astype(bent_r.dtype), PARCEL)

    def cover(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(before, after, parcel index) at canvas positions."""
        parcels = self.parcels(rows, cols)
        before = self.classes[parcels]
        before[self._distance(rows, cols) < max(2.0, self.side * RIVER)] = WATER
        after = before.copy()
        land = (before == FIELD) | (before == FOREST)
        after[land & (self._lowness(rows, cols) < self.flood_level)] = WATER
        after[self.becomes_built[parcels] & (after == FIELD)] = BUILT
        return before, after, parcels

    def optical(self, rows: np.ndarray, cols: np.ndarray, cover: np.ndarray, parcels: np.ndarray) -> np.ndarray:
        """(4, …) reflectance as sample_pair's: class spectra, fields between green and bare, textured."""
        greenness = self.greenness[parcels]
        texture = 1 + 0.08 * field(self.seed, 4, 3, rows[:, 0], cols[0]) + 0.05 * field(self.seed, 5, 20, rows[:, 0],
                                                                                          cols[0])
        out = np.empty((4,) + cover.shape, np.float32)
        noise = _row_draws(self.seed, 7, int(rows[0, 0]), rows.shape[0],
                           lambda g: g.normal(0, 0.004, (4, rows.shape[1]))).transpose(1, 0, 2)
        for band in range(4):
            out[band] = class_reflectance(cover, greenness, band) * texture + noise[band]
        return np.clip(out, 0.0005, 1.0)

    def backscatter(self, rows: np.ndarray, cols: np.ndarray, cover: np.ndarray, parcels: np.ndarray) -> np.ndarray:
        """Noise-free σ⁰ (linear) as sample_pair's: class levels, ±2 dB per parcel, built-up texture."""
        texture = field(self.seed, 6, 1.5, rows[:, 0], cols[0])
        return class_backscatter(cover, parcels, self.sar_offset, texture).astype(np.float32)


def _profile(width: int, height: int, count: int, dtype: str, crs: CRS, transform, nodata=None) -> dict:
    return {"driver": "GTiff", "width": width, "height": height, "count": count, "dtype": dtype, "crs": crs,
            "transform": transform, "nodata": nodata, "tiled": True, "blockxsize": 256, "blockysize": 256,
            "compress": "deflate", "BIGTIFF": "IF_SAFER"}


def _coordinates(row0: int, rows: int, col0: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every pixel of a window, as float32 grids."""
    return np.meshgrid(np.arange(row0, row0 + rows, dtype=np.float32),
                       np.arange(col0, col0 + cols, dtype=np.float32), indexing="ij")


@in_gdal_scope
def make_large_pair(out_dir: str | Path, size: int = 10980, seed: int = 0, dates: tuple = (1, 2)) -> dict:
    """Write t1.tif, truth.tif and objects.tif (date 1) and t2.tif (date 2) under out_dir; return their
    paths by those names. `dates` (1, 2 or both) lets two processes write the dates at once."""
    scene = Scene(size, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: str(out / f"{name}.tif") for name in ("t1", "t2", "truth", "objects")}
    if 1 in dates:
        _date1(scene, paths)
    if 2 in dates:
        _date2(scene, paths)
    return paths


def _date1(scene: Scene, paths: dict) -> None:
    """Optical reflectance, the truth and the built-up objects on date 1's UTM grid."""
    size, m = scene.size, scene.margin
    t1_transform = from_origin(*ORIGIN, T1_PIXEL, T1_PIXEL)
    with rasterio.open(paths["t1"], "w", **_profile(size, size, 4, "uint16", T1_CRS, t1_transform)) as t1, \
            rasterio.open(paths["truth"], "w", **_profile(size, size, 1, "uint8", T1_CRS, t1_transform)) as truth, \
            rasterio.open(paths["objects"], "w", **_profile(size, size, 1, "int32", T1_CRS, t1_transform, 0)) as obj:
        for row0 in range(0, size, STRIP):
            rows = min(STRIP, size - row0)
            r, c = _coordinates(m + row0, rows, m, size)
            before, after, parcels = scene.cover(r, c)
            window = Window(0, row0, size, rows)
            t1.write(np.round(scene.optical(r, c, before, parcels) * 10_000).astype(np.uint16), window=window)
            truth.write((before != after).astype(np.uint8)[None], window=window)
            built = (after == BUILT) & (before != BUILT)
            obj.write(np.where(built, parcels + 1, 0).astype(np.int32)[None], window=window)
        t1.update_tags(BANDS="B,G,R,NIR", SCALE="reflectance x 10000")
        truth.update_tags(MEANING="1 changed, 0 unchanged")
        obj.update_tags(MEANING="parcel id + 1 of each field turned built-up, 0 elsewhere")


def _date2(scene: Scene, paths: dict) -> None:
    """The ground shifted by a fraction of the margin, in lat/lon at about T2_PIXEL_M."""
    size, m, seed = scene.size, scene.margin, scene.seed
    x0, y0 = ORIGIN
    shift_x, shift_y = m / 2 * T1_PIXEL, -m / 3 * T1_PIXEL
    left, bottom, right, top = transform_bounds(T1_CRS, T2_CRS, x0 + shift_x, y0 - size * T1_PIXEL + shift_y,
                                                x0 + size * T1_PIXEL + shift_x, y0 + shift_y)
    n2 = round(size * T1_PIXEL / T2_PIXEL_M)
    t2_transform = from_origin(left, top, (right - left) / n2, (top - bottom) / n2)
    canvas_transform = from_origin(x0 - m * T1_PIXEL, y0 + m * T1_PIXEL, T1_PIXEL, T1_PIXEL)
    band_rows = max(1, int(STRIP * T1_PIXEL / T2_PIXEL_M))
    with rasterio.open(paths["t2"], "w", **_profile(n2, n2, 1, "float32", T2_CRS, t2_transform, SAR_NODATA)) as t2:
        for row0 in range(0, n2, band_rows):
            rows = min(band_rows, n2 - row0)
            window = Window(0, row0, n2, rows)
            w_transform = rasterio.windows.transform(window, t2_transform)
            wl, wb, wr, wt = rasterio.windows.bounds(window, t2_transform)
            ul, ub, ur, ut = transform_bounds(T2_CRS, T1_CRS, wl, wb, wr, wt)
            inv = ~canvas_transform
            c_lo, r_lo = inv * (ul, ut)
            c_hi, r_hi = inv * (ur, ub)
            r_lo, r_hi = max(0, int(r_lo) - 2), min(scene.side, int(math.ceil(r_hi)) + 2)
            c_lo, c_hi = max(0, int(c_lo) - 2), min(scene.side, int(math.ceil(c_hi)) + 2)
            r, c = _coordinates(r_lo, r_hi - r_lo, c_lo, c_hi - c_lo)
            _, after, parcels = scene.cover(r, c)
            sigma0 = np.zeros((rows, n2), np.float32)
            reproject(scene.backscatter(r, c, after, parcels), sigma0,
                      src_transform=canvas_transform * rasterio.Affine.translation(c_lo, r_lo), src_crs=T1_CRS,
                      dst_transform=w_transform, dst_crs=T2_CRS, resampling=Resampling.average)
            speckle = _row_draws(seed, 8, row0, rows, lambda g: g.gamma(LOOKS, 1 / LOOKS, n2))
            intensity = sigma0 * speckle.astype(np.float32)
            rr, cc = np.indices(intensity.shape)
            intensity[rr + row0 + cc < n2 // 6] = SAR_NODATA    # the swath edge cuts off the north-west corner
            t2.write(intensity[None], window=window)
        t2.update_tags(UNITS="sigma0, linear intensity")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a large synthetic optical/SAR pair strip by strip.")
    parser.add_argument("out_dir")
    parser.add_argument("--size", type=int, default=10980, help="side of t1 in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--date", type=int, choices=(1, 2), help="write only this date's files")
    args = parser.parse_args(argv)
    dates = (args.date,) if args.date else (1, 2)
    print(json.dumps(make_large_pair(args.out_dir, args.size, args.seed, dates), indent=2))


if __name__ == "__main__":
    main()
