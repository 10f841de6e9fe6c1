"""The network's veto is kept only when it removes a large enough share of the prior's change."""
import numpy as np
import pytest

from oaip_qgis.core.decision import confirmation
from oaip_qgis.core.decision.confirmation import Confirmation


def _tally(prior_score, score, counted=None) -> Confirmation:
    tally = Confirmation()
    prior_score, score = np.asarray(prior_score, np.float32), np.asarray(score, np.float32)
    tally.add(prior_score, score, np.ones(prior_score.shape, bool) if counted is None else np.asarray(counted))
    return tally


def test_the_share_counts_the_prior_changed_places_the_network_lowers_to_the_decision_or_below():
    # four places the prior marks (> 0.5); the network keeps two, vetoes two (one of them at exactly 0.5)
    tally = _tally([0.9, 0.8, 0.7, 0.6, 0.4, 0.1], [0.9, 0.5, 0.3, 0.6, 0.2, 0.1])
    assert (tally.marked, tally.vetoed) == (4, 2)
    assert tally.share == pytest.approx(0.5)
    assert tally.applied


def test_a_small_veto_is_not_applied_and_places_not_counted_take_no_part():
    prior = np.full(100, 0.9)
    score = prior.copy()
    score[:5] = 0.1                           # 5 % vetoed: within the network's own error
    assert not _tally(prior, score).applied
    counted = np.ones(100, bool)
    counted[5:80] = False                     # e.g. the analyst's samples
    assert _tally(prior, score, counted).share == pytest.approx(5 / 25)
    assert _tally(prior, score, counted).applied


def test_the_threshold_is_read_when_the_verdict_is_asked(monkeypatch):
    tally = _tally([0.9] * 10, [0.9] * 9 + [0.1])
    assert not tally.applied
    monkeypatch.setattr(confirmation, "VETO_MIN", 0.1)
    assert tally.applied and tally.to_dict()["least_share"] == 0.1


def test_nothing_marked_means_nothing_to_confirm():
    tally = _tally([0.2, 0.3], [0.1, 0.3])
    assert tally.share == 0.0 and not tally.applied
    assert tally.to_dict() == {"applied": False, "vetoed_share": 0.0, "least_share": confirmation.VETO_MIN,
                               "prior_changed_pixels": 0, "extended": False, "added_pixels": 0}


def test_finding_more_like_the_samples_always_applies_and_counts_what_the_network_adds():
    tally = Confirmation(extended=True)
    # the prior marks two places, the network keeps both (no veto) and raises two it left under its cut
    tally.add(np.array([0.9, 0.8, 0.4, 0.3, 0.1], np.float32), np.array([0.9, 0.8, 0.7, 0.6, 0.1], np.float32),
              np.ones(5, bool))
    assert tally.share == 0.0 and tally.applied
    assert tally.to_dict()["added_pixels"] == 2 and tally.to_dict()["extended"]
