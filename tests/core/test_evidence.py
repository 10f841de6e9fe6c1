"""The evidence floor and the no-change verdict on priors of known shape."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from oaip_qgis.core.decision.evidence import EVIDENCE_FLOOR, NO_CHANGE_PEAK, WEAK_PEAK, weigh_evidence
from oaip_qgis.core.errors import InputError

RNG = np.random.default_rng(0)


def test_a_prior_without_outliers_is_no_significant_change():
    prior = RNG.uniform(0.4, 0.6, (200, 200))    # the whole scene within 1.5× its median
    evidence = weigh_evidence(prior)
    assert not evidence.significant and evidence.peak < NO_CHANGE_PEAK
    assert evidence.floor == pytest.approx(EVIDENCE_FLOOR * np.median(prior))
    assert evidence.verdict().startswith("No significant change")
    assert "manual threshold" in evidence.verdict()   # what to do if the analyst knows change is there


def test_a_changed_patch_of_two_percent_is_significant():
    prior = RNG.uniform(0.1, 0.2, (200, 200))
    prior[:20, :40] = 0.9                         # 2 % of the scene, six times the median
    evidence = weigh_evidence(prior)
    assert evidence.significant and evidence.peak > 5
    assert evidence.verdict().startswith("Change found") and "weak" not in evidence.verdict()
    assert evidence.to_dict()["significant"] is True and evidence.to_dict()["weak"] is False


def test_change_found_on_a_peak_an_unchanged_scene_can_reach_is_called_weak():
    prior = RNG.uniform(0.1, 0.2, (200, 200))
    prior[:20, :40] = 0.45                        # 2 % of the scene, three times the median
    evidence = weigh_evidence(prior)
    assert evidence.significant and NO_CHANGE_PEAK < evidence.peak < WEAK_PEAK and evidence.weak
    assert "evidence is weak" in evidence.verdict() and evidence.to_dict()["weak"] is True
    quiet = weigh_evidence(RNG.uniform(0.4, 0.6, (100, 100)))
    assert not quiet.weak and "weak" not in quiet.verdict()   # no change found: nothing to call weak


def test_an_identical_pair_has_a_zero_prior_and_no_change():
    evidence = weigh_evidence(np.zeros((50, 50), np.float32))
    assert not evidence.significant and evidence.peak == 0
    half = np.zeros((50, 50), np.float32)
    half[:10] = 1.0                               # a zero median under real disagreement
    assert weigh_evidence(half).significant


def test_invalid_cells_are_left_out_and_an_empty_prior_is_refused():
    prior = np.full((20, 20), np.nan, np.float32)
    with pytest.raises(InputError, match="no valid cell"):
        weigh_evidence(prior)
    prior[:10] = 0.5
    assert weigh_evidence(prior).median == pytest.approx(0.5)


def test_the_verdict_and_stats_name_the_limits_that_were_applied():
    prior = RNG.uniform(0.4, 0.6, (100, 100))
    evidence = weigh_evidence(prior, floor_ratio=1.2, no_change_peak=1.1)
    assert evidence.significant and "no change below 1.1×" in evidence.verdict()
    assert evidence.to_dict()["floor_ratio"] == 1.2 and evidence.to_dict()["no_change_peak"] == 1.1


def test_a_scene_reported_unchanged_whose_log_ratio_spreads_wide_says_so():
    """Real SAR crops with 4.5-28 % changed alike were reported unchanged (flat structural prior), while
    their log-ratio spread 3.0-4.6x its median: the verdict tells the analyst, and changes no map."""
    quiet = weigh_evidence(RNG.uniform(0.4, 0.6, (100, 100)))
    wide = replace(quiet, log_ratio_spread=3.4)
    assert wide.wide_log_ratio and not wide.significant and not wide.found
    assert wide.verdict().startswith(quiet.verdict())
    assert "log-ratio disagrees: its 0.9 quantile is 3.4× its median" in wide.verdict()
    assert wide.to_dict()["wide_log_ratio"] is True and wide.to_dict()["log_ratio_spread"] == 3.4
    for calm in (replace(quiet, log_ratio_spread=2.5), quiet):   # as speckle alone, or no log-ratio at all
        assert not calm.wide_log_ratio and calm.verdict() == quiet.verdict()
    changed = weigh_evidence(np.where(np.arange(100)[:, None] < 5, 0.9, RNG.uniform(0.1, 0.2, (100, 100))))
    assert changed.significant and not replace(changed, log_ratio_spread=5.0).wide_log_ratio
