"""The change score: the prior's threshold at 0.5, the network's confirmation, no change in an unchanged scene."""
import numpy as np
import pytest

from oaip_qgis.core.decision.evidence import weigh_evidence
from oaip_qgis.core.decision.score import DECISION, Calibration, calibrate, change_score, with_samples
from oaip_qgis.core.decision.threshold import DEFAULT_METHOD, kittler, otsu, otsu3

RNG = np.random.default_rng(3)


def _prior_with_change(changed: float = 0.05) -> np.ndarray:
    prior = RNG.gamma(4.0, 0.03, size=(200, 200)).astype(np.float32)
    prior.ravel()[:int(changed * prior.size)] = RNG.uniform(0.6, 1.0, int(changed * prior.size))
    return np.clip(prior, 0, 1)


def test_the_prior_score_puts_the_cut_at_the_decision_and_keeps_the_ranking():
    calibration = Calibration(0.3, "otsu")
    values = np.array([0.0, 0.15, 0.3, 0.65, 1.0, np.nan], np.float32)
    score = calibration.prior_score(values)
    assert np.allclose(score[:5], [0.0, 0.25, DECISION, 0.75, 1.0])
    assert np.isnan(score[5])
    ranked = RNG.random(1000).astype(np.float32)
    assert (np.argsort(calibration.prior_score(ranked), kind="stable") == np.argsort(ranked, kind="stable")).all()


@pytest.mark.parametrize("method, rule", [("otsu3", otsu3), ("otsu", otsu), ("kittler", kittler), ("manual", otsu)])
def test_the_cut_is_the_automatic_threshold_raised_to_the_evidence_floor(method, rule):
    prior = _prior_with_change()
    evidence = weigh_evidence(prior)
    calibration = calibrate(prior, method, evidence)
    assert evidence.significant
    assert calibration.cut == pytest.approx(max(rule(prior.ravel()), evidence.floor))
    assert calibration.method == (DEFAULT_METHOD if method == "manual" else method)


def test_a_scene_without_significant_change_scores_nothing_above_the_decision():
    prior = np.clip(RNG.normal(0.3, 0.01, (100, 100)), 0, 1).astype(np.float32)
    evidence = weigh_evidence(prior)
    calibration = calibrate(prior, "otsu", evidence)
    assert not evidence.significant and calibration.cut == 1.0
    assert (calibration.prior_score(prior) <= DECISION).all()
    assert (change_score(calibration.prior_score(prior), np.ones_like(prior)) <= DECISION).all()


def test_the_network_can_only_confirm_or_lower_the_prior():
    prior_score = np.array([0.9, 0.9, 0.2, np.nan], np.float32)
    network = np.array([0.8, 0.1, 0.95, 0.7], np.float32)
    assert np.allclose(change_score(prior_score, network), [0.8, 0.1, 0.2, 0.7])


def test_asked_to_find_more_the_network_decides_alone_from_the_floor_up():
    prior_score = np.array([0.9, 0.3, 0.3, 0.1, np.nan], np.float32)
    network = np.array([0.2, 0.8, 0.4, 0.95, 0.7], np.float32)
    # from 0.2 up (the floor's score) the network's own P; below it the prior still caps the score
    assert np.allclose(change_score(prior_score, network, extend_from=0.2), [0.2, 0.8, 0.4, 0.1, 0.7])
    assert np.allclose(change_score(prior_score, network), [0.2, 0.3, 0.3, 0.1, 0.7])


def test_analyst_samples_set_the_score_where_they_were_given_only():
    score = np.array([[0.2, 0.9, 0.4], [0.7, np.nan, 0.1]], np.float32)
    samples = np.array([[1, 0, -1], [-1, 1, -1]], np.int8)
    out = with_samples(score, samples)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[1.0, 0.0, 0.4], [0.7, 1.0, 0.1]], rtol=1e-6)
