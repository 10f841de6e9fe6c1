"""An undeclared fill value inside an image (raster.fill_value): taken as no data only far outside the rest."""
from __future__ import annotations

import numpy as np
from osgeo import gdal

from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import run
from oaip_qgis.core.raster.fill_value import undeclared_fill


def image(fill: float, low: float, high: float, share: float = 0.02, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(0)
    values = rng.uniform(low, high, (2, 200, 200)).astype(dtype)
    side = int(round(200 * share ** 0.5))
    values[:, 80:80 + side, 60:60 + side] = fill   # inside, away from every edge
    return values


def test_a_fill_far_outside_the_rest_is_found_and_ground_values_are_not():
    filled = image(-9999, 0, 255)
    found = undeclared_fill(filled)
    assert found is not None and found.value == -9999 and 0.015 < found.share < 0.025
    assert (found.low, found.high) == (np.float32(filled[filled > -9999].min()), np.float32(filled.max()))
    assert undeclared_fill(image(-3.4e38, -30, 10)).value == np.float32(-3.4e38)    # decibels
    assert undeclared_fill(image(65535, 0, 4095, dtype=np.uint16)).value == 65535   # 12-bit data, 16-bit fill
    assert undeclared_fill(image(0, 1, 255, dtype=np.uint8)) is None                # dark water, not a fill
    assert undeclared_fill(image(65535, 0, 20000, dtype=np.uint16)) is None         # saturation: 2.3 ranges
    assert undeclared_fill(image(-9999, 0, 255, share=0.0005)) is None               # a few pixels
    one_band = image(-9999, 0, 255)
    one_band[1, 80:100, 60:80] = 100                                                 # not in every band
    assert undeclared_fill(one_band) is None
    mask = np.zeros((1, 200, 200), np.uint8)                                         # a 0/1 mask given as T1:
    mask[0, 50:70, 50:70] = 1                                                        # 0 was taken as a fill, and
    assert undeclared_fill(mask) is None                                             # the image called blank


def test_a_fill_block_inside_t1_is_no_data_and_said(sample_pair, tmp_path):
    """−9999 in 1 % of T1, no nodata declared: the map marked the block and little else."""
    t1 = str(tmp_path / "t1.tif")
    gdal.Translate(t1, sample_pair["t1"], outputType=gdal.GDT_Float32)
    ds = gdal.Open(t1, gdal.GA_Update)
    for band in range(1, ds.RasterCount + 1):
        values = ds.GetRasterBand(band).ReadAsArray()
        values[70:86, 70:86] = -9999
        ds.GetRasterBand(band).WriteArray(values)
    ds = None
    kappas = {}
    for name, nodata in (("declared", -9999.0), ("undeclared", None)):
        result = run(RunParams(t1=t1, t2=sample_pair["t2"], reference=sample_pair["truth"], mode="prior",
                               nodata1=nodata, out_stats=str(tmp_path / f"{name}.json")))
        kappas[name] = result.stats.metrics["kappa"]
    assert any("is -9999 in every band, far outside its other values" in line for line in result.log)
    assert kappas["undeclared"] == kappas["declared"]   # the map NODATA1=-9999 gives
