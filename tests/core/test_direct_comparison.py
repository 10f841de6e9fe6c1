"""The log-ratio of two images of one kind, and the test that decides whether a pair is such a pair."""
from __future__ import annotations

import numpy as np

from oaip_qgis.core.labels.direct_comparison import compare_directly, log_ratio
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


def test_log_ratio_is_refused_where_values_cannot_be_compared():
    valid = np.ones((8, 8), bool)
    one, two = np.ones((1, 8, 8), np.float32), np.ones((2, 8, 8), np.float32)
    assert log_ratio(one, two, valid) is None                       # a band count that differs
    assert log_ratio(one, -one, valid) is None                      # already in dB, or not intensities
    same = log_ratio(one, one, valid)
    assert same is not None and np.allclose(same, 0)


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
    fused, verdict = compare_directly(prior, same_order, labels)
    assert verdict.used and verdict.agreement == 1.0
    assert np.allclose(fused, prior)                            # the same ranking changes nothing
    noise = np.random.default_rng(2).uniform(0, 1, prior.shape).astype(np.float32)
    kept, verdict = compare_directly(prior, noise, labels)
    assert not verdict.used and verdict.agreement < 0.8 and kept is prior
    kept, verdict = compare_directly(prior, None, labels)
    assert not verdict.used and verdict.agreement is None


def test_the_log_ratio_reorders_the_prior_between_its_confident_places():
    prior, labels = _labelled_prior()
    ratio = prior.copy()
    ratio[30:35, 30:35] = 0.95                                  # a change the prior ranks low
    fused, verdict = compare_directly(prior, ratio, labels)
    assert verdict.used
    assert fused[30:35, 30:35].mean() > 2 * prior[30:35, 30:35].mean()
    assert np.nanmax(fused) <= np.nanmax(prior) + 1e-6          # still on the prior's scale


def test_a_sar_pair_is_compared_directly_and_an_optical_sar_pair_is_not(tmp_path):
    """The generator's SAR-against-SAR pair (single look against four, two grids) and its optical-SAR
    pair: the run says which it is in the log and in stats.json."""
    verdicts = {}
    for scenario in ("sar-pair", "default"):
        pair = make_sample_pair(tmp_path / scenario, size=240, seed=3, scenario=scenario)
        result = run(RunParams(t1=pair["t1"], t2=pair["t2"], reference=pair["truth"], mode="prior",
                               out_stats=str(tmp_path / f"{scenario}.json")))
        verdicts[scenario] = result.stats
        assert any(line.startswith("Direct comparison (log-ratio)") for line in result.log)
    assert verdicts["sar-pair"].direct_comparison["used"]
    assert verdicts["sar-pair"].direct_comparison["agreement"] >= 0.95
    assert verdicts["default"].direct_comparison == {"agreement": None, "least_agreement": 0.95, "used": False}
    assert verdicts["sar-pair"].metrics["kappa"] > 0.6
