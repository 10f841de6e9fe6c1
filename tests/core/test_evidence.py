"""The evidence floor and the no-change verdict on priors of known shape."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from oaip_qgis.core.decision.evidence import (
    CANONICAL_SPREAD_LINE,
    EVIDENCE_FLOOR,
    NO_CHANGE_PEAK,
    SPREAD_LINE,
    WEAK_PEAK,
    verdict_word,
    weigh_evidence,
)
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
    wide = quiet.with_spread("log_ratio", 3.4)
    assert wide.wide_spread and not wide.significant and not wide.found
    assert wide.verdict().startswith(quiet.verdict())
    assert "log-ratio disagrees: its 0.9 quantile is 3.4× its median" in wide.verdict()
    assert "two radar images" in wide.verdict()
    assert wide.to_dict()["wide_spread"] is True and wide.to_dict()["direct_spread"] == 3.4
    assert wide.to_dict()["spread_measure"] == "log_ratio" and wide.to_dict()["spread_line"] == SPREAD_LINE
    for calm in (quiet.with_spread("log_ratio", 2.5), quiet):   # as speckle alone, or no log-ratio at all
        assert not calm.wide_spread and calm.verdict() == quiet.verdict()
    changed = weigh_evidence(np.where(np.arange(100)[:, None] < 5, 0.9, RNG.uniform(0.1, 0.2, (100, 100))))
    assert changed.significant and not changed.with_spread("log_ratio", 5.0).wide_spread


def test_the_canonical_difference_of_two_optical_sensors_has_its_own_line():
    """Generated unchanged pairs of two optical sensors spread their canonical difference 4.2-4.7x, as wide as
    much change alike spreads a log-ratio; a fire over a third of the forest spreads it 5.4-8.3x. Each measure
    is judged on its own line, and the verdict names the measure and the kind of images."""
    quiet = weigh_evidence(RNG.uniform(0.4, 0.6, (100, 100)))
    seasons = quiet.with_spread("canonical_difference", 4.6)
    assert not seasons.wide_spread and seasons.verdict() == quiet.verdict()
    assert quiet.with_spread("log_ratio", 4.6).wide_spread              # the log-ratio's line is lower
    fire = quiet.with_spread("canonical_difference", 6.0)
    assert fire.wide_spread and fire.spread_line == CANONICAL_SPREAD_LINE
    assert "IR-MAD canonical difference disagrees" in fire.verdict() and "two optical images" in fire.verdict()
    mapped = weigh_evidence(np.where(np.arange(100)[:, None] < 8, 0.9, RNG.uniform(0.1, 0.2, (100, 100)))
                            ).with_spread("canonical_difference", 6.0, alike=0.97)
    assert mapped.verdict().startswith("The structural prior found no significant change, but the two images' "
                                       "IR-MAD canonical difference spreads 6.0×")
    assert mapped.to_dict()["alike"] == 0.97


def test_a_map_confined_to_compact_groups_beside_a_joined_measure_that_spreads_names_one_kind():
    """Weak evidence confined to compact groups while the joined canonical difference spreads past its line: without
    ONE_KIND the verdict says what it would do; with it, that the map was not confined. No joined spread, no note."""
    prior = RNG.uniform(0.1, 0.2, (200, 200))
    prior[:20, :20] = 0.5                          # 1 % of the scene at 3.3× the median: weak evidence
    weak = replace(weigh_evidence(prior), groups=2, group_share=0.01)
    assert weak.weak and "ONE_KIND" not in weak.verdict()
    joined = replace(weak, joined_spread=5.9, joined_measure="canonical_difference")
    assert "run again with ONE_KIND" in joined.verdict() and "5.9×" in joined.verdict()
    asked = replace(joined, groups=0, group_share=0.0, one_kind=True)
    assert "is not confined to compact groups" in asked.verdict() and "run again" not in asked.verdict()
    assert asked.to_dict()["joined_spread"] == 5.9 and asked.to_dict()["joined_measure"] == "canonical_difference"
    scattered = replace(weigh_evidence(prior), significant=False, scattered=True, joined_spread=3.1,
                        joined_measure="log_ratio")
    assert scattered.verdict().startswith("No significant change") and "run again with ONE_KIND" in scattered.verdict()


def test_an_aois_share_marked_is_kept_unrounded_and_said_as_it_is():
    """One pixel of a 1500² AOI rounded to 0 in stats.json, so its word said nothing was marked; the note said
    "0.00 %". The verdict's own figures are the AOI's and the ground's around it, and the note says so."""
    found = replace(weigh_evidence(np.r_[np.ones(990), np.full(10, 8.0)]), aoi=True)
    one = replace(found, within=1 / 1500 ** 2).to_dict()
    assert one["within"] > 0 and verdict_word(one) == "change"
    assert one["verdict"].endswith("the change layer marks under 0.01 % of the area of interest.")
    none = replace(found, within=0.0).to_dict()
    assert verdict_word(none) == "none" and none["verdict"].endswith("marks nothing within the area of interest.")
    assert "The verdict's figures are of the area of interest and the ground around it" in none["verdict"]
