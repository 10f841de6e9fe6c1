"""A generated pair rendered the way the public heterogeneous change-detection pairs are published.

Those pairs (the shared ones, and the unseen ones that judge the detector) are not calibrated rasters:
each image is an 8-bit rendering, the SAR image in decibels stretched to 0–255, both co-registered on one
nominal grid, with no nodata. The project's generator writes what a sensor delivers instead (uint16
reflectance in UTM, float32 σ⁰ on another grid with a nodata swath edge), so its stress scenes alone do
not show how the detector fares on pairs like the judges'. This renders a generated pair that way: the
SAR image resampled (bilinear) onto the optical grid, the largest square clear of its swath edge kept,
the optical image's red, green and blue bands and the SAR band each stretched between their 1st and 99th
percentiles. A SAR image is often published as a colour composite of VV, VH and their ratio instead: the
generator gives VV alone, so `composite` makes a VH of VV's own signal a fixed cross-polar level down
with speckle of its own (4 looks), and the ratio VV / VH, which then holds nothing but that speckle: a
worst case of a band that is mostly noise (a real ratio carries some land-cover signal).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject

NOMINAL_CRS = "EPSG:3857"   # as the shared pairs carry it: a grid that is not their real place
STRETCH = (1, 99)           # percentiles mapped to 1 and 255
CROSS_POLAR = 0.2           # VH / VV of the composite, before VH's own speckle
LOOKS = 4                   # of VH's speckle, as the generator's VV


def _stretch(values: np.ndarray) -> np.ndarray:
    low, high = np.percentile(values, STRETCH)
    return np.clip(np.round((values - low) / max(high - low, 1e-12) * 254 + 1), 1, 255).astype(np.uint8)


def _clear_square(valid: np.ndarray) -> tuple[slice, slice]:
    """The largest square anchored at the bottom-right corner with every pixel valid (the generator's swath
    edge cuts off the north-west corner)."""
    for start in range(min(valid.shape)):
        if valid[start:, start:].all():
            return slice(start, None), slice(start, None)
    raise ValueError("the SAR image covers no square of the optical grid")


def _write(path: Path, bands: np.ndarray) -> str:
    with rasterio.open(path, "w", driver="GTiff", height=bands.shape[1], width=bands.shape[2],
                       count=bands.shape[0], dtype="uint8", crs=NOMINAL_CRS, transform=from_origin(0, 0, 1, 1)) as ds:
        ds.write(bands)
    return str(path)


def _composite(sigma0: np.ndarray, seed: int) -> np.ndarray:
    """VV, VH and VV / VH in decibels (bands, rows, cols) from VV's σ⁰ (module notes)."""
    speckle = np.random.default_rng(seed).gamma(LOOKS, 1 / LOOKS, sigma0.shape)
    vv, vh = 10 * np.log10(sigma0), 10 * np.log10(sigma0 * CROSS_POLAR * speckle)
    return np.stack([vv, vh, vv - vh])


def render_as_published(pair: dict, out: Path, sar_first: bool = False, composite: bool = False,
                        seed: int = 0) -> dict:
    """Write t1.tif, t2.tif and gt.tif under out from a generated optical-against-SAR pair (make_sample_pair's
    paths by "t1", "t2", "truth") and return their paths by those names. sar_first: the SAR image is t1;
    composite: the SAR image as VV, VH and VV / VH (module notes), VH's speckle drawn from seed."""
    out.mkdir(parents=True, exist_ok=True)
    with rasterio.open(pair["t1"]) as ds:
        optical, grid = ds.read([3, 2, 1]).astype(np.float32), (ds.transform, ds.crs)
    with rasterio.open(pair["t2"]) as ds:
        sigma0 = np.full(optical.shape[1:], np.nan, np.float32)
        reproject(ds.read(1), sigma0, src_transform=ds.transform, src_crs=ds.crs, src_nodata=ds.nodata,
                  dst_transform=grid[0], dst_crs=grid[1], dst_nodata=np.nan, resampling=Resampling.bilinear)
    with rasterio.open(pair["truth"]) as ds:
        truth = ds.read(1)
    box = _clear_square(np.isfinite(sigma0) & (sigma0 > 0))
    sar = (np.stack([_stretch(band) for band in _composite(sigma0[box], seed)]) if composite
           else _stretch(10 * np.log10(sigma0[box]))[None])
    rgb = np.stack([_stretch(band[box]) for band in optical])
    first, second = (sar, rgb) if sar_first else (rgb, sar)
    return {"t1": _write(out / "t1.tif", first), "t2": _write(out / "t2.tif", second),
            "gt": _write(out / "gt.tif", truth[box][None].astype(np.uint8))}
