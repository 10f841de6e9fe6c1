"""The direct measures of two images of one kind (log-ratio, IR-MAD's canonical difference), and the test
that decides whether a pair is such a pair."""
from __future__ import annotations

import numpy as np

from oaip_qgis.core.decision.evidence import PEAK_QUANTILE, SPREAD_LINE, SPREAD_LINES, weigh_evidence
from oaip_qgis.core.decision.score import calibrate
from oaip_qgis.core.labels import canonical_difference as canonical
from oaip_qgis.core.labels import direct_comparison
from oaip_qgis.core.labels.canonical_difference import canonical_difference
from oaip_qgis.core.labels.direct_comparison import (
    DirectComparison,
    Measures,
    change_alike,
    compare_directly,
    direct_measures,
    direct_spread,
    joined_spread,
    log_ratio,
)
from oaip_qgis.core.labels.margins import CHANGED, NONE, UNCHANGED
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import run
from oaip_qgis.core.sample_pair import make_sample_pair


def _speckled(rng, level: np.ndarray, looks: int) -> np.ndarray:
    return (level * rng.gamma(looks, 1 / looks, level.shape))[None].astype(np.float32)


def test_log_ratio_sees_a_change_of_level_and_not_a_gain_or_speckle():
    rng = np.random.default_rng(0)
    level = np.full((60, 60), 0.05)
    level[:, 30:] = 0.2                              # two unchanged classes
    after = level.copy()
    after[10:20, 10:20] = 0.5                        # a 10 dB change on the dark class
    valid = np.ones(level.shape, bool)
    x1, x2 = _speckled(rng, level, 4), 3.0 * _speckled(rng, after, 1)   # different looks, a gain of 3
    ratio = log_ratio(x1, x2, valid)
    inside = np.zeros(level.shape, bool)
    inside[11:19, 11:19] = True
    assert np.median(ratio[inside]) > np.percentile(ratio[~inside], 99)
    assert np.median(ratio[~inside]) < 0.5           # the gain is removed, not read as change


def test_log_ratio_reads_sar_in_decibels_as_the_same_intensities():
    """Sentinel-1 often comes in dB (SNAP, Earth Engine): the log-ratio of a linear image against a dB one
    is the linear pair's; a band of small negative reflectances is not taken for decibels."""
    rng = np.random.default_rng(4)
    level = np.full((40, 40), 0.05)
    level[:, 20:] = 0.3
    after = level.copy()
    after[5:15, 5:15] = 0.6
    valid = np.ones(level.shape, bool)
    x1, x2 = _speckled(rng, level, 4), _speckled(rng, after, 1)
    linear = log_ratio(x1, x2, valid)
    for decibels in (log_ratio(x1, 10 * np.log10(x2), valid), log_ratio(10 * np.log10(x1), 10 * np.log10(x2), valid)):
        assert np.allclose(decibels, linear, atol=2e-3)   # the darkest 0.1 % floored alike (normalise.log_floor)
    reflectance = (x1 / 10 - 0.01).astype(np.float32)              # 0.0 to 0.1, a few below 0
    assert (reflectance < 0).any() and log_ratio(reflectance, x2, valid) is None


def test_log_ratio_is_refused_where_values_cannot_be_compared():
    valid = np.ones((8, 8), bool)
    one, two = np.ones((1, 8, 8), np.float32), np.ones((2, 8, 8), np.float32)
    assert log_ratio(one, two, valid) is None                       # a band count that differs
    assert log_ratio(one, -one, valid) is None                      # already in dB, or not intensities
    same = log_ratio(one, one, valid)
    assert same is not None and np.allclose(same, 0)


def _two_sensors(rng, changed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 3-band image of four classes, and the same ground seen through another sensor's bands (each a mix
    of the first's, with its own gain and offset), with or without a class change in a square."""
    spectra = np.array([[0.05, 0.04, 0.02], [0.08, 0.12, 0.35], [0.15, 0.16, 0.18], [0.30, 0.28, 0.25]])
    classes = np.repeat(np.repeat(rng.integers(0, 4, (8, 8)), 8, axis=0), 8, axis=1)
    after = classes.copy()
    if changed:
        after[20:36, 20:36] = np.where(classes[20:36, 20:36] == 1, 3, 1)   # every pixel of the square changes
    one = spectra[classes].transpose(2, 0, 1) + rng.normal(0, 0.01, (3, 64, 64))
    mix = np.array([[0.2, 0.7, 0.1], [0.0, 0.3, 0.7], [0.6, 0.3, 0.1]])
    two = 40 * np.einsum("ij,jhw->ihw", mix, spectra[after].transpose(2, 0, 1)) + 5 + rng.normal(0, 0.4, (3, 64, 64))
    square = np.zeros((64, 64), bool)
    square[22:34, 22:34] = True
    return one.astype(np.float32), two.astype(np.float32), square


def test_the_canonical_difference_sees_a_change_between_two_sensors_and_not_their_band_mix():
    rng = np.random.default_rng(0)
    valid = np.ones((64, 64), bool)
    one, two, square = _two_sensors(rng, changed=True)
    measure = canonical_difference(one, two, valid, radius=1).statistic
    assert np.median(measure[square]) > np.percentile(measure[~square], 99)
    assert np.median(measure[~square]) < 4                   # χ² with 3 degrees of freedom where nothing changed
    assert "canonical_difference" in direct_measures(one, two, valid).by_name


def test_the_canonical_difference_fitted_on_every_kth_place_ranks_as_the_full_fit(monkeypatch):
    """A large scene's projection is fitted on at most FIT_CELLS places and applied to all."""
    one, two, square = _two_sensors(np.random.default_rng(0), changed=True)
    valid = np.ones((64, 64), bool)
    full = canonical_difference(one, two, valid, radius=1).statistic
    monkeypatch.setattr(canonical, "FIT_CELLS", 500)                # every 9th of 4096 places
    sampled = canonical_difference(one, two, valid, radius=1).statistic
    assert not np.allclose(sampled, full)
    assert np.corrcoef(np.argsort(np.argsort(sampled.ravel())), np.argsort(np.argsort(full.ravel())))[0, 1] > 0.95
    assert np.median(sampled[square]) > np.percentile(sampled[~square], 99)


def test_one_band_rendered_in_three_channels_shares_one_combination_with_an_optical_image_and_is_not_compared():
    """A SAR or NIR band stored as three different renderings (I, √I, I²) against a 3-band optical image:
    IR-MAD finds one pair of combinations in common, not two, so neither it nor a band-by-band log-ratio
    is offered (both passed the agreement test on such renderings of real pairs and made the map worse)."""
    rng = np.random.default_rng(3)
    fields = rng.uniform(0.1, 1.0, (3, 16, 16)).repeat(4, axis=1).repeat(4, axis=2)   # three independent grounds
    optical = np.einsum("ij,jhw->ihw", np.array([[0.6, 0.3, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7]]), fields)
    optical = (optical + rng.normal(0, 0.01, optical.shape)).astype(np.float32)
    grey = fields[0] + rng.normal(0, 0.01, fields[0].shape)                          # what the other sensor saw
    rendered = np.stack([grey, np.sqrt(grey), grey ** 2]).astype(np.float32)
    valid = np.ones((64, 64), bool)
    canonical = canonical_difference(rendered, optical, valid, radius=1)
    assert canonical.statistic is None and canonical.shared == 1 and canonical.correlations[0] > 0.9
    measures = direct_measures(rendered, optical, valid)
    assert measures.by_name == {} and measures.refusal == "shared"
    _, verdict = compare_directly(np.ones((64, 64), np.float32), measures, np.zeros((64, 64), np.int8))
    assert "share 1 band combination(s)" in verdict.note() and verdict.to_dict()["refusal"] == "shared"
    assert canonical_difference(fields.astype(np.float32), optical, valid, radius=1).shared == 3
    one, two, _ = _two_sensors(rng, changed=True)
    assert canonical_difference(one, two, valid, radius=1).shared >= 2


def test_the_canonical_difference_needs_two_bands_on_each_side():
    valid = np.ones((16, 16), bool)
    rng = np.random.default_rng(1)
    three, one = rng.uniform(1, 2, (3, 16, 16)).astype(np.float32), rng.uniform(1, 2, (1, 16, 16)).astype(np.float32)
    assert canonical_difference(three, one, valid, radius=1).statistic is None   # SAR against optical: no mix to undo
    assert canonical_difference(one, one, valid, radius=1).statistic is None
    assert canonical_difference(three, np.ones_like(three), valid, radius=1).statistic is None   # a blank side
    repeated = np.repeat(one, 3, axis=0)                                       # SAR stored as three equal bands
    assert canonical_difference(three, repeated, valid, radius=1).statistic is None
    assert canonical_difference(three, np.concatenate([one, 2 * one + 1]), valid, radius=1).statistic is None
    assert direct_measures(three, one, valid).refusal == "bands"
    assert direct_measures(one, -one, valid).refusal == "values"


def _labelled_prior(shape=(40, 40)) -> tuple[np.ndarray, np.ndarray]:
    prior = np.random.default_rng(1).uniform(0.0, 0.3, shape).astype(np.float32)
    prior[5:15, 5:15] = 0.9
    labels = np.full(shape, NONE, np.int8)
    labels[prior < 0.2] = UNCHANGED
    labels[prior > 0.8] = CHANGED
    return prior, labels


def test_a_log_ratio_that_agrees_with_the_prior_joins_it_and_one_that_does_not_is_left_out():
    prior, labels = _labelled_prior()
    same_order = prior ** 2                                     # ranks every place as the prior does
    fused, verdict = compare_directly(prior, Measures({"log_ratio": same_order}), labels)
    assert verdict.used and verdict.agreement == 1.0 and verdict.measure == "log_ratio"
    assert np.allclose(fused, prior)                            # the same ranking changes nothing
    noise = np.random.default_rng(2).uniform(0, 1, prior.shape).astype(np.float32)
    kept, verdict = compare_directly(prior, Measures({"log_ratio": noise}), labels)
    assert not verdict.used and verdict.agreement < 0.8 and kept is prior
    kept, verdict = compare_directly(prior, Measures({}, "bands"), labels)
    assert not verdict.used and verdict.agreement is None and verdict.refusal == "bands"
    assert verdict.note().startswith("Direct comparison: not used; one image has a single band")


def test_of_two_measures_the_one_that_agrees_with_the_prior_is_used():
    prior, labels = _labelled_prior()
    noise = np.random.default_rng(2).uniform(0, 1, prior.shape).astype(np.float32)
    fused, verdict = compare_directly(prior, Measures({"log_ratio": noise, "canonical_difference": prior ** 2}), labels)
    assert verdict.used and verdict.measure == "canonical_difference" and np.allclose(fused, prior)
    assert verdict.to_dict()["measure"] == "canonical_difference"


def test_the_log_ratio_reorders_the_prior_between_its_confident_places():
    prior, labels = _labelled_prior()
    ratio = prior.copy()
    ratio[30:35, 30:35] = 0.95                                  # a change the prior ranks low
    fused, verdict = compare_directly(prior, Measures({"log_ratio": ratio}), labels)
    assert verdict.used
    assert fused[30:35, 30:35].mean() > 2 * prior[30:35, 30:35].mean()
    assert np.nanmax(fused) <= np.nanmax(prior) + 1e-6          # still on the prior's scale


def test_a_sar_pair_and_two_optical_sensors_are_compared_directly_and_an_optical_sar_pair_is_not(tmp_path):
    """The generator's SAR-against-SAR pair (single look against four, two grids), its two optical sensors
    (4 bands against 3 mixed 8-bit bands) and its optical-SAR pair: the run says which it is in the log
    and in stats.json."""
    verdicts = {}
    for scenario in ("sar-pair", "optical-pair", "default"):
        pair = make_sample_pair(tmp_path / scenario, size=240, seed=3, scenario=scenario)
        result = run(RunParams(t1=pair["t1"], t2=pair["t2"], reference=pair["truth"], mode="prior",
                               out_stats=str(tmp_path / f"{scenario}.json")))
        verdicts[scenario] = result.stats
        assert any(line.startswith("Direct comparison") for line in result.log)
    assert verdicts["sar-pair"].direct_comparison["used"]
    assert verdicts["sar-pair"].direct_comparison["measure"] == "log_ratio"
    assert verdicts["sar-pair"].direct_comparison["agreement"] >= 0.95
    assert verdicts["optical-pair"].direct_comparison["used"]
    assert verdicts["optical-pair"].direct_comparison["measure"] == "canonical_difference"
    assert verdicts["default"].direct_comparison == {"measure": None, "agreement": None, "least_agreement": 0.95,
                                                     "used": False, "near_line": False, "alone": False,
                                                     "refusal": "bands",
                                                     "canonical_correlations": []}
    assert verdicts["sar-pair"].metrics["kappa"] > 0.6
    assert verdicts["optical-pair"].metrics["kappa"] > 0.6


def test_a_canonical_fit_that_breaks_down_offers_no_measure(monkeypatch):
    def singular(*args):
        raise np.linalg.LinAlgError("singular")

    monkeypatch.setattr(canonical, "_generalised_eigh", singular)
    one, two, _ = _two_sensors(np.random.default_rng(0), changed=True)
    measure = canonical_difference(one, two, np.ones((64, 64), bool), radius=1)
    assert measure.statistic is None and measure.correlations == ()


def test_a_sar_pair_with_one_image_in_decibels_is_still_compared_directly(tmp_path):
    import rasterio

    pair = make_sample_pair(tmp_path / "pair", size=240, seed=3, scenario="sar-pair")
    with rasterio.open(pair["t2"]) as ds:
        sigma0, profile = ds.read(1), ds.profile
    profile.update(nodata=-9999.0)
    decibels = np.where(sigma0 > 0, 10 * np.log10(np.maximum(sigma0, 1e-6)), -9999.0).astype(np.float32)
    with rasterio.open(tmp_path / "t2_db.tif", "w", **profile) as out:
        out.write(decibels[None])
    result = run(RunParams(t1=pair["t1"], t2=str(tmp_path / "t2_db.tif"), reference=pair["truth"], mode="prior",
                           out_stats=str(tmp_path / "db.json")))
    assert result.stats.direct_comparison["used"] and result.stats.direct_comparison["measure"] == "log_ratio"
    assert result.stats.metrics["kappa"] > 0.6


def test_a_dual_polarisation_sar_image_in_decibels_is_not_compared_with_an_optical_one(tmp_path):
    """Sentinel-1 as delivered: VV and VH in dB (VH a weaker, noisier copy) against the 4-band optical image.
    Two bands on each side let IR-MAD run, but the two sensors share one band combination only, so no
    direct measure is offered, and the map is as good as with the single SAR band."""
    import rasterio

    pair = make_sample_pair(tmp_path / "pair", size=240, seed=3, scenario="default")
    with rasterio.open(pair["t2"]) as ds:
        sigma0, profile = ds.read(1).astype(np.float64), ds.profile
    seen = np.isfinite(sigma0) & (sigma0 > 0)
    vh = np.where(seen, sigma0, 1.0) * 0.2 * np.random.default_rng(3).gamma(4, 1 / 4, sigma0.shape)
    decibels = np.where(seen, 10 * np.log10(np.stack([np.where(seen, sigma0, 1.0), vh])), -9999.0)
    profile.update(count=2, dtype="float32", nodata=-9999.0)
    with rasterio.open(tmp_path / "t2_dualpol.tif", "w", **profile) as out:
        out.write(decibels.astype(np.float32))
    kappa = {}
    for name, t2 in (("one band", pair["t2"]), ("dual-pol", str(tmp_path / "t2_dualpol.tif"))):
        result = run(RunParams(t1=pair["t1"], t2=t2, reference=pair["truth"], mode="prior",
                               out_stats=str(tmp_path / "stats.json"), overwrite=True))
        kappa[name] = result.stats.metrics["kappa"]
        verdict = result.stats.direct_comparison
    assert not verdict["used"] and verdict["refusal"] == "shared"
    assert verdict["canonical_correlations"][0] > 0.7 > verdict["canonical_correlations"][1]
    assert kappa["dual-pol"] > kappa["one band"] - 0.05 and kappa["one band"] > 0.6


def test_the_log_ratio_of_speckle_alone_spreads_as_a_half_normal_and_change_alike_widens_it():
    """0.9 quantile over median of |log-ratio - median|: 1.645 / 0.674 = 2.44 for normal noise; a fifth of
    the scene changed alike lifts it above SPREAD_LINE. No log-ratio, no figure."""
    rng = np.random.default_rng(2)
    level = np.exp(rng.normal(-3.0, 0.6, (120, 120)))           # textured, unchanged land
    valid = np.ones(level.shape, bool)
    x1 = _speckled(rng, level, 16)
    still = direct_measures(x1, _speckled(rng, level, 16), valid)
    assert direct_spread(still, SPREAD_LINES)[0] == "log_ratio" and 2.2 < direct_spread(still, SPREAD_LINES)[1] < 2.7
    after = level.copy()
    after[:, :24] *= 4.0                                          # a fifth of the scene, 6 dB brighter
    moved = direct_measures(x1, _speckled(rng, after, 16), valid)
    assert direct_spread(moved, SPREAD_LINES)[1] > SPREAD_LINE
    assert direct_spread(Measures({}, "bands"), SPREAD_LINES) is None


def test_the_joined_measure_s_spread_is_given_only_where_it_joined_and_reaches_its_line():
    """joined_spread: the measure compare_directly used, with its spread, where that spread is past its line;
    nothing for a measure that did not join, one that is the prior itself (change alike), or speckle alone."""
    rng = np.random.default_rng(2)
    level = np.exp(rng.normal(-3.0, 0.6, (120, 120)))
    valid = np.ones(level.shape, bool)
    after = level.copy()
    after[:, :24] *= 4.0
    x1 = _speckled(rng, level, 16)
    moved = direct_measures(x1, _speckled(rng, after, 16), valid)
    still = direct_measures(x1, _speckled(rng, level, 16), valid)
    used = DirectComparison(0.99, True, "log_ratio")
    name, spread = joined_spread(used, moved, SPREAD_LINES)
    assert name == "log_ratio" and spread == dict(moved.spreads)["log_ratio"] > SPREAD_LINE
    assert joined_spread(used, still, SPREAD_LINES) is None
    assert joined_spread(DirectComparison(0.9, False, "log_ratio"), moved, SPREAD_LINES) is None
    assert joined_spread(DirectComparison(0.9, True, "log_ratio", alone=True), moved, SPREAD_LINES) is None


def test_a_scene_reported_unchanged_has_its_spreads_computed_once(monkeypatch):
    """change_alike (with ONE_KIND) and the verdict (direct_spread) both read the measures' spreads: one
    quantile pair per measure a run, not one per reader."""
    rng = np.random.default_rng(2)
    level = np.exp(rng.normal(-3.0, 0.6, (60, 60)))
    valid = np.ones(level.shape, bool)
    measures = direct_measures(_speckled(rng, level, 16), _speckled(rng, level, 16), valid)
    calls = []
    spread = direct_comparison._spread
    monkeypatch.setattr(direct_comparison, "_spread", lambda values: calls.append(1) or spread(values))
    prior = np.full(level.shape, 0.1, np.float32)
    assert change_alike(prior, measures, SPREAD_LINES, PEAK_QUANTILE) is None   # speckle alone: under its line
    assert direct_spread(measures, SPREAD_LINES)[0] == "log_ratio"
    assert len(calls) == 1


def test_change_alike_is_mapped_from_the_log_ratio_where_a_weak_prior_ranks_it_the_same_way():
    """A fifth of two radar images brightened alike: the structural prior barely sees it (here a prior with a
    faint trace of it), the log-ratio plainly. Where the prior ranks the log-ratio's classes the other way
    or not at all (two sensors that see the land differently), or the log-ratio spreads as speckle does,
    nothing is taken from it."""
    rng = np.random.default_rng(2)
    level = np.exp(rng.normal(-3.0, 0.6, (120, 120)))
    valid = np.ones(level.shape, bool)
    after = level.copy()
    after[:, :24] *= 4.0
    changed = np.zeros(level.shape, bool)
    changed[:, :24] = True
    x1 = _speckled(rng, level, 16)
    measures = direct_measures(x1, _speckled(rng, after, 16), valid)
    faint = (rng.uniform(0.2, 0.3, level.shape) + 0.03 * changed).astype(np.float32)
    assert not weigh_evidence(faint).significant
    alike = change_alike(faint, measures, SPREAD_LINES, PEAK_QUANTILE)
    assert alike is not None and alike.agreement > 0.6 and alike.spread > SPREAD_LINE and alike.measure == "log_ratio"
    evidence = weigh_evidence(alike.prior)
    assert evidence.significant
    marked = alike.prior > calibrate(np.minimum(alike.prior, 1), "otsu", evidence).cut
    assert marked[changed].mean() > 0.9 and marked[~changed].mean() < 0.1
    against = (rng.uniform(0.2, 0.3, level.shape) - 0.03 * changed).astype(np.float32)
    assert change_alike(against, measures, SPREAD_LINES, PEAK_QUANTILE) is None
    still = direct_measures(x1, _speckled(rng, level, 16), valid)
    assert change_alike(faint, still, SPREAD_LINES, PEAK_QUANTILE) is None
    assert change_alike(faint, Measures({}, "bands"), SPREAD_LINES, PEAK_QUANTILE) is None


def test_an_agreement_near_its_line_says_so_and_one_far_from_it_does_not():
    """The join is a coin-flip within NEAR_AGREEMENT of AGREEMENT: a cloud-mask-sized hole moved
    urban-optical's 0.960 to 0.945 and its map from 0.715 to 0.609; the log and stats.json say so."""
    from oaip_qgis.core.labels.direct_comparison import AGREEMENT, NEAR_AGREEMENT, DirectComparison

    near = DirectComparison(AGREEMENT + NEAR_AGREEMENT / 2, True, "canonical_difference")
    below = DirectComparison(AGREEMENT - NEAR_AGREEMENT / 2, False, "canonical_difference")
    far = DirectComparison(AGREEMENT + 2 * NEAR_AGREEMENT, True, "canonical_difference")
    for verdict in (near, below):
        assert verdict.near_line and verdict.to_dict()["near_line"]
        assert "within 0.015 of 0.95: another SEED" in verdict.note()
    assert not far.near_line and "another SEED" not in far.note()
    assert not DirectComparison(None, False, refusal="labels").near_line
    assert not DirectComparison(AGREEMENT, True, "log_ratio", alone=True).near_line   # its line is another


def test_change_alike_takes_the_canonical_difference_where_there_is_no_log_ratio_on_its_own_line():
    """Two optical sensors of different bands give no log-ratio, only the canonical difference, a χ² whose
    spread without change (χ² of 2: 4.61 / 1.39 = 3.3; generated seasons 4.2-4.7) lies over the log-ratio's
    line: it is judged on its own. A fifth of the scene changed alike spreads it far wider, and the weak prior
    that ranks its classes the same way is replaced by it. Where a log-ratio exists it is asked first, and the
    canonical difference where the log-ratio does not reach its line."""
    rng = np.random.default_rng(3)
    shape = (120, 120)
    changed = np.zeros(shape, bool)
    changed[:, :24] = True
    still = rng.chisquare(2, shape).astype(np.float32)
    burnt = np.where(changed, still + 60.0, still).astype(np.float32)
    faint = (rng.uniform(0.2, 0.3, shape) + 0.03 * changed).astype(np.float32)
    calm = Measures({"canonical_difference": still})
    assert direct_spread(calm, SPREAD_LINES)[0] == "canonical_difference"
    assert SPREAD_LINE < direct_spread(calm, SPREAD_LINES)[1] < 3.6
    assert change_alike(faint, calm, SPREAD_LINES, PEAK_QUANTILE) is None      # over the log-ratio's line only
    moved = Measures({"canonical_difference": burnt})
    alike = change_alike(faint, moved, SPREAD_LINES, PEAK_QUANTILE)
    assert alike is not None and alike.measure == "canonical_difference"
    assert alike.spread > SPREAD_LINES[alike.measure]
    assert (alike.prior[changed] > alike.prior[~changed].max()).all()
    flat = rng.uniform(0.9, 1.1, shape).astype(np.float32)        # a log-ratio that does not show it
    both = Measures({"canonical_difference": burnt, "log_ratio": flat})
    assert direct_spread(both, SPREAD_LINES)[0] == "canonical_difference"
    assert change_alike(faint, both, SPREAD_LINES, PEAK_QUANTILE).measure == "canonical_difference"
    wide = Measures({"canonical_difference": burnt, "log_ratio": burnt})   # one that does is asked first
    assert direct_spread(wide, SPREAD_LINES)[0] == "log_ratio"
    assert change_alike(faint, wide, SPREAD_LINES, PEAK_QUANTILE).measure == "log_ratio"
    assert direct_spread(Measures({"canonical_difference": still, "log_ratio": flat}), SPREAD_LINES)[0] == "log_ratio"
