"""A synthetic heterogeneous pair with known changes: the demo's input and the tests' fixture.

t1 is a 4-band "optical" image (blue, green, red, NIR reflectance) at 10 m; t2 a 1-band "SAR"
intensity image at 20 m (multi-looked, gamma speckle, backscatter by land cover) over a shifted
extent with a nodata swath edge. Between them a flood turns land near the river into water and new
built-up appears on fields. Everything is drawn from one seed, so a seed gives the same files.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from osgeo import gdal, osr

WATER, FIELD, FOREST, BUILT = 0, 1, 2, 3
EPSG = 32633  # UTM 33N
ORIGIN = (500_000.0, 4_500_000.0)
PIXEL = 10.0
# Mean reflectance per class (blue, green, red, NIR) and SAR backscatter (linear sigma0).
REFLECTANCE = np.array([[0.06, 0.07, 0.05, 0.02],
                        [0.05, 0.09, 0.07, 0.35],
                        [0.03, 0.06, 0.03, 0.28],
                        [0.12, 0.13, 0.14, 0.18]], np.float32)
BACKSCATTER = np.array([0.006, 0.06, 0.12, 0.55], np.float32)
SAR_NODATA = 0.0


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Gaussian-filtered white noise (in the Fourier domain), unit variance: textures and blobs."""
    noise = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    field = np.fft.irfft2(np.fft.rfft2(noise) * np.exp(-2 * (np.pi * scale) ** 2 * (fx**2 + fy**2)), s=shape)
    return (field / (field.std() + 1e-12)).astype(np.float32)


def _land_cover(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Parcels (Voronoi cells) of fields, forest and built-up, crossed by a meandering river."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    n = max(12, size * size // 900)
    seeds = rng.uniform(0, size, (n, 2)).astype(np.float32)
    parcel = np.argmin((rows[..., None] - seeds[:, 0]) ** 2 + (cols[..., None] - seeds[:, 1]) ** 2, axis=-1)
    kinds = rng.choice([FIELD, FOREST, BUILT], size=n, p=[0.55, 0.3, 0.15])
    cover = kinds[parcel].astype(np.uint8)
    centre = size * (0.45 + 0.1 * rng.random()) + size * 0.08 * np.sin(cols / size * 2 * np.pi * (1 + rng.random()))
    distance = np.abs(rows - centre)
    cover[distance < size * 0.035] = WATER
    return cover, distance


def _changes(rng: np.random.Generator, cover: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """A flood beside the river (land -> water) and new built-up blocks on fields."""
    size = cover.shape[0]
    after = cover.copy()
    blob = _smooth_noise(rng, cover.shape, size / 20)
    flood = (distance < size * 0.11) & (blob > 0.2) & (cover != WATER)
    flood &= np.arange(size)[None, :] < size * (0.4 + 0.3 * rng.random())
    after[flood] = WATER
    fields = np.argwhere((cover == FIELD) & (distance > size * 0.15))
    for _ in range(3):
        if len(fields) == 0:
            break
        r, c = fields[rng.integers(len(fields))]
        h, w = rng.integers(size // 20, size // 9, 2)
        block = after[r:r + h, c:c + w]
        block[block == FIELD] = BUILT
    return after


def _optical(rng: np.random.Generator, cover: np.ndarray) -> np.ndarray:
    texture = _smooth_noise(rng, cover.shape, 1.5)
    patches = _smooth_noise(rng, cover.shape, 8.0)
    image = REFLECTANCE[cover].transpose(2, 0, 1) * (1 + 0.08 * texture + 0.1 * patches)
    return np.clip(image + rng.normal(0, 0.004, image.shape), 0.001, 1).astype(np.float32)


def _sar(rng: np.random.Generator, cover: np.ndarray, looks: int = 4) -> np.ndarray:
    """Backscatter at twice the pixel size (2x2 multi-look), with gamma speckle of `looks` looks."""
    sigma = BACKSCATTER[cover] * (1 + 0.15 * _smooth_noise(rng, cover.shape, 4.0)).clip(0.3)
    h, w = cover.shape[0] // 2, cover.shape[1] // 2
    sigma = sigma[:2 * h, :2 * w].reshape(h, 2, w, 2).mean(axis=(1, 3))
    return (sigma * rng.gamma(looks, 1.0 / looks, sigma.shape)).astype(np.float32)


def _write(path: Path, data: np.ndarray, origin: tuple[float, float], pixel: float, dtype: int,
           nodata: float | None = None) -> None:
    data = data[None] if data.ndim == 2 else data
    ds = gdal.GetDriverByName("GTiff").Create(str(path), data.shape[2], data.shape[1], data.shape[0], dtype,
                                              options=["COMPRESS=DEFLATE", "TILED=YES"])
    ds.SetGeoTransform((origin[0], pixel, 0.0, origin[1], 0.0, -pixel))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(EPSG)
    ds.SetProjection(srs.ExportToWkt())
    for i, band in enumerate(data, start=1):
        ds.GetRasterBand(i).WriteArray(band)
        if nodata is not None:
            ds.GetRasterBand(i).SetNoDataValue(nodata)
    ds.FlushCache()
    ds = None


def make_sample_pair(out_dir: str | Path, size: int = 256, seed: int = 0) -> dict:
    """Write t1.tif (optical), t2.tif (SAR, other pixel size and extent) and truth.tif; return their paths."""
    if size < 64:
        raise ValueError(f"A sample pair needs at least 64 x 64 pixels, not {size}.")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    cover, distance = _land_cover(rng, size)
    after = _changes(rng, cover, distance)
    truth = (after != cover).astype(np.uint8)
    sar = _sar(rng, after)
    # The SAR scene starts 3 of its pixels east and 2 south, and its swath edge leaves a nodata corner.
    shift = (3, 2)
    sar = np.roll(sar, (-shift[1], -shift[0]), axis=(0, 1))[: sar.shape[0] - shift[1], : sar.shape[1] - shift[0]]
    rows, cols = np.mgrid[0:sar.shape[0], 0:sar.shape[1]]
    sar[cols + rows < sar.shape[0] // 6] = SAR_NODATA
    paths = {name: str(out / f"{name}.tif") for name in ("t1", "t2", "truth")}
    _write(Path(paths["t1"]), _optical(rng, cover), ORIGIN, PIXEL, gdal.GDT_Float32)
    sar_origin = (ORIGIN[0] + shift[0] * 2 * PIXEL, ORIGIN[1] - shift[1] * 2 * PIXEL)
    _write(Path(paths["t2"]), sar, sar_origin, 2 * PIXEL, gdal.GDT_Float32, SAR_NODATA)
    _write(Path(paths["truth"]), truth, ORIGIN, PIXEL, gdal.GDT_Byte)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic optical/SAR pair with its ground truth.")
    parser.add_argument("out_dir")
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name, path in make_sample_pair(args.out_dir, args.size, args.seed).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
