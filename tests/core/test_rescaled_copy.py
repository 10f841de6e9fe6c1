"""T2 that is T1 with each band rescaled is the same image, not a pair with change (labels.rescaled_copy)."""
from __future__ import annotations

import numpy as np
from osgeo import gdal

from oaip_qgis.core.labels.rescaled_copy import LINE, rescaled_copy
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import run


def _like(source: str, path, data: np.ndarray, kind=gdal.GDT_Float32) -> str:
    """`data` written on `source`'s grid."""
    ds = gdal.Open(source)
    out = gdal.GetDriverByName("GTiff").Create(str(path), ds.RasterXSize, ds.RasterYSize, data.shape[0], kind)
    out.SetGeoTransform(ds.GetGeoTransform())
    out.SetProjection(ds.GetProjection())
    for index, band in enumerate(data, start=1):
        out.GetRasterBand(index).WriteArray(band)
    out = None
    return str(path)


def test_a_copy_is_told_from_two_looks_by_its_largest_residual():
    rng = np.random.default_rng(0)
    x1 = rng.uniform(0, 1, (3, 40, 40))
    valid = np.ones((40, 40), bool)
    noisy = 1.7 * x1 * (1 + rng.normal(0, 1e-3, x1.shape)) + 0.2
    assert rescaled_copy(x1, noisy, valid) < LINE
    changed = noisy.copy()
    changed[:, 5, 5] += 1.0   # one place changed
    assert rescaled_copy(x1, changed, valid) is None
    assert rescaled_copy(x1, x1 + rng.normal(0, 0.2, x1.shape), valid) is None   # another look: light, noise
    assert rescaled_copy(x1, x1[:2], valid) is None   # other bands: another sensor


def test_t1_rescaled_with_rounding_noise_is_reported_unchanged_and_a_change_on_it_is_still_found(sample_pair,
                                                                                                 tmp_path):
    """T1 with noise of 10⁻³ of its values was reported as change found, 12.8 % of the scene marked (a probe)."""
    t1 = gdal.Open(sample_pair["t1"]).ReadAsArray().astype(np.float64)
    noisy = (t1 * (1 + np.random.default_rng(2).normal(0, 1e-3, t1.shape))).astype(np.float32)
    result = run(RunParams(t1=sample_pair["t1"], t2=_like(sample_pair["t1"], tmp_path / "noisy.tif", noisy),
                           mode="prior", out_stats=str(tmp_path / "a.json")))
    assert result.stats.changed_fraction == 0 and not result.stats.evidence["significant"]
    assert result.stats.evidence["rescaled_copy"] < LINE
    assert any("T2 is T1 with each band rescaled" in line for line in result.log)
    assert not any("ONE_KIND" in line for line in result.log)
    flooded = noisy.copy()
    flooded[:, 40:70, 50:90] = noisy.min(axis=(1, 2))[:, None, None]   # dark water over fields
    result = run(RunParams(t1=sample_pair["t1"], t2=_like(sample_pair["t1"], tmp_path / "flooded.tif", flooded),
                           mode="prior", out_stats=str(tmp_path / "b.json")))
    assert result.stats.evidence["significant"] and result.stats.evidence["rescaled_copy"] is None
    assert result.stats.changed_fraction > 0.02


def test_a_constant_band_of_one_image_is_said_to_make_what_only_it_sees_read_as_change(sample_pair, tmp_path):
    """T1 against itself with its third band constant marked 4 % as change at strong evidence, and the log said only
    that the band was counted with weight 0; it now says what follows and which option leaves the band out of T1."""
    t1 = gdal.Open(sample_pair["t1"]).ReadAsArray().astype(np.float32)
    dead = t1.copy()
    dead[2] = 1000.0
    t2 = _like(sample_pair["t1"], tmp_path / "dead.tif", dead)
    result = run(RunParams(t1=sample_pair["t1"], t2=t2, mode="prior", out_stats=str(tmp_path / "a.json")))
    assert any("Band(s) 3 (0.00) of T2 are constant" in line and "leave it out there too (BANDS1)" in line
               for line in result.log)
    again = run(RunParams(t1=sample_pair["t1"], t2=t2, bands1=[1, 2, 4], mode="prior",
                          out_stats=str(tmp_path / "b.json")))
    assert again.stats.changed_fraction < 0.005 < result.stats.changed_fraction
