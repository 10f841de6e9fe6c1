"""Decimated reads of an input (raster/input_files.decimated): the sampled values, and GDAL's cache."""
from __future__ import annotations

import numpy as np
from osgeo import gdal

from oaip_qgis.core.raster import input_files
from oaip_qgis.core.raster.gdal_scope import gdal_scope


def tiled(path, bands: int = 3, size: int = 2048) -> np.ndarray:
    """A pixel-interleaved, tiled UInt16 GeoTIFF whose every value tells its band, row and column."""
    rows, cols = np.indices((size, size))
    data = np.stack([(b * 10000 + (rows // 8) * 37 + cols // 8) % 65536 for b in range(bands)]).astype(np.uint16)
    ds = gdal.GetDriverByName("GTiff").Create(str(path), size, size, bands, gdal.GDT_UInt16,
                                              ["TILED=YES", "BLOCKXSIZE=256", "BLOCKYSIZE=256", "INTERLEAVE=PIXEL"])
    for b in range(bands):
        ds.GetRasterBand(b + 1).WriteArray(data[b])
    ds = None
    return data


def test_a_decimated_read_samples_every_asked_band_and_gives_the_cache_back(tmp_path, monkeypatch):
    data = tiled(tmp_path / "image.tif")
    caps: list[int] = []
    set_cache = gdal.SetCacheMax
    monkeypatch.setattr(input_files.gdal, "SetCacheMax", lambda n: (caps.append(n), set_cache(n))[1])
    with gdal_scope():
        before = gdal.GetCacheMax()
        caps.clear()
        sample = input_files.decimated(gdal.Open(str(tmp_path / "image.tif")), [3, 1])
        assert gdal.GetCacheMax() == before
    assert sample.shape == (2, 1024, 1024)
    # nearest sampling of a 2x decimation takes one pixel of every 2 x 2: each value is one of its block's
    np.testing.assert_array_equal(sample[0] // 10000, 2)
    np.testing.assert_array_equal(sample[1] // 10000, 0)
    np.testing.assert_array_equal(sample[1], data[0, ::2, ::2])
    # while reading, the cache holds two rows of blocks of all three bands, not the run's 256 MiB
    assert caps[:2] == [2 * 2048 * 256 * 3 * 2, before] and caps[0] < before


def test_a_decimated_read_never_takes_a_files_overviews(tmp_path):
    """A cloud-optimised GeoTIFF carries averaged overviews, which GDAL would serve a decimated read from: a
    0/255 change mask of 2048² read as 0, 64, 128, 191 and 255 and was refused as no mask."""
    mask = (np.random.default_rng(0).random((2048, 2048)) < 0.5).astype(np.uint8) * 255
    ds = gdal.GetDriverByName("GTiff").Create(str(tmp_path / "mask.tif"), 2048, 2048, 1, gdal.GDT_Byte,
                                              options=["TILED=YES"])
    ds.GetRasterBand(1).WriteArray(mask)
    ds.BuildOverviews("AVERAGE", [2, 4])
    ds = None
    sample = input_files.decimated(gdal.Open(str(tmp_path / "mask.tif")), [1])
    assert sample.shape == (1, 1024, 1024) and set(np.unique(sample)) == {0, 255}
