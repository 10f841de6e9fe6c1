"""Per-band normalisation: kind guessing, robust statistics over valid pixels only, tile consistency."""
from __future__ import annotations

import numpy as np
import pytest

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.normalise import fit_normaliser, guess_kind, holds_radar

RNG = np.random.default_rng(0)
SAR = RNG.gamma(1.0, 0.05, (1, 64, 64)).astype(np.float32)          # single-look linear intensity
OPTICAL = RNG.normal(0.2, 0.05, (4, 64, 64)).astype(np.float32)


def test_kind_is_guessed_from_the_bands_tails():
    assert guess_kind(SAR) == "sar"
    assert guess_kind(OPTICAL) == "optical"
    assert guess_kind(OPTICAL[:1]) == "optical"          # one band, but symmetric: not intensity
    assert guess_kind(10 * np.log10(SAR)) == "optical"   # already in dB: negative values, no log again


def test_a_few_saturated_pixels_do_not_make_an_optical_image_radar():
    """Reflectances with a few pixels saturated in every band (bright roofs, sun glint at 65535) had a skewness
    above SAR's and were taken to decibels as radar: 60 such pixels in the 400² generated default scene's
    optical image took its map from Kappa 0.796 to 0.681."""
    reflectance = np.round(RNG.normal(1500, 300, (4, 200, 200))).clip(1, None)
    reflectance.reshape(4, -1)[:, RNG.choice(40000, 40, replace=False)] = 65535
    assert guess_kind(reflectance) == "optical"
    # A multi-looked radar's tail is its bright points (towns, ships), each its own value: they stay, where a
    # trim of the top 0.5 % would have taken them and the image for optical (p99 / median 2.9, under that test).
    rng = np.random.default_rng(0)
    looks = 0.1 * rng.gamma(4, 1 / 4, (1, 200, 200))
    bright = rng.random((200, 200)) < 0.004
    looks[0][bright] = 3 * rng.gamma(4, 1 / 4, bright.sum())
    assert guess_kind(looks) == "sar"


def test_two_polarisations_in_linear_intensity_are_sar():
    """A Sentinel-1 GRD's VV and VH were scaled as an optical image's bands: every band must be heavy-tailed."""
    dual = np.concatenate([SAR, 0.2 * RNG.gamma(1.0, 0.05, (1, 64, 64)).astype(np.float32)])
    assert guess_kind(dual) == "sar"
    assert fit_normaliser(dual).floor is not None          # both bands taken to dB
    assert guess_kind(np.concatenate([SAR, OPTICAL[:1]])) == "optical"   # one band spread evenly: not intensity


def test_a_few_negative_values_do_not_make_an_intensity_read_as_decibels():
    artefacts = SAR.copy()
    artefacts[0, :3, :3] = -0.001          # calibration or thermal-noise removal leaves some below 0
    assert guess_kind(artefacts) == "sar"
    norm = fit_normaliser(artefacts)
    assert norm.floor is not None and np.isfinite(norm.apply(artefacts)).all()
    clean = fit_normaliser(SAR).apply(SAR)[:, 3:, 3:]
    assert np.corrcoef(norm.apply(artefacts)[:, 3:, 3:].ravel(), clean.ravel())[0, 1] > 0.99   # in dB as without them
    assert fit_normaliser(10 * np.log10(SAR), kind="sar").floor is None   # mostly negative: decibels already


def test_a_radar_image_is_told_by_its_values_in_linear_units_or_decibels_but_not_as_a_rendering():
    """What the prior's block rule asks of the finer image (labels.blocks.least_block): a radar's values as its
    products hold them. An 8-bit rendering of the same radar image, and reflectances, are not."""
    assert holds_radar(SAR) and holds_radar(10 * np.log10(SAR))
    assert holds_radar(10 * np.log10(SAR), kind="optical")        # decibels whatever the normaliser calls them
    assert not holds_radar(OPTICAL) and not holds_radar(OPTICAL - 0.1)   # a few reflectances below 0 are no dB
    db = 10 * np.log10(SAR)
    rendered = np.round(255 * (db - db.min()) / (db.max() - db.min()))
    assert not holds_radar(rendered)


def test_sar_is_scaled_in_decibels_between_percentiles():
    norm = fit_normaliser(SAR)
    assert norm.kind == "sar" and norm.floor is not None
    db = 10 * np.log10(SAR[0].astype(np.float64))
    p1, p50, p99 = np.percentile(db, [1, 50, 99])
    out = norm.apply(SAR)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    assert np.median(out) == pytest.approx((p50 - p1) / (p99 - p1), abs=0.01)
    assert np.mean(out == 0) == pytest.approx(0.01, abs=0.005)       # 1 % clipped at each end


def test_kind_can_be_forced():
    norm = fit_normaliser(SAR, kind="optical")
    assert norm.kind == "optical" and norm.floor is None
    out = norm.apply(SAR)
    assert np.median(out) < 0.25  # linear scaling of a heavy-tailed band squeezes the bulk low
    with pytest.raises(InputError, match="kind"):
        fit_normaliser(SAR, kind="lidar")


def test_statistics_ignore_invalid_pixels():
    valid = np.ones(OPTICAL.shape[1:], bool)
    valid[:, :16] = False
    a, b = OPTICAL.copy(), OPTICAL.copy()
    a[:, ~valid] = 1e6
    b[:, ~valid] = -5.0
    na, nb = fit_normaliser(a, valid), fit_normaliser(b, valid)
    assert np.array_equal(na.low, nb.low) and np.array_equal(na.high, nb.high)
    assert na.apply(a)[:, valid].max() == 1.0 and na.apply(a)[:, valid].min() == 0.0


def test_nan_pixels_are_ignored_and_stay_nan():
    x = OPTICAL.copy()
    x[:, 5, 5] = np.nan
    norm = fit_normaliser(x)
    assert np.isfinite(norm.low).all() and np.isfinite(norm.high).all()
    assert np.isnan(norm.apply(x)[:, 5, 5]).all()


def test_tiles_get_the_global_scaling():
    norm = fit_normaliser(OPTICAL)
    whole = norm.apply(OPTICAL)
    assert np.array_equal(norm.apply(OPTICAL[:, 10:30, 40:64]), whole[:, 10:30, 40:64])


def test_constant_band_maps_to_zero_and_bad_input_is_refused():
    flat = np.full((1, 8, 8), 3.0, np.float32)
    assert np.array_equal(fit_normaliser(flat).apply(flat), np.zeros_like(flat))
    with pytest.raises(InputError, match="no valid pixel"):
        fit_normaliser(OPTICAL, np.zeros(OPTICAL.shape[1:], bool))
    with pytest.raises(InputError, match="bands, rows, cols"):
        fit_normaliser(OPTICAL[0])
    with pytest.raises(InputError, match="band"):
        fit_normaliser(OPTICAL).apply(SAR)
