"""Otsu, Kittler–Illingworth, manual thresholds and the confidence layer."""
from __future__ import annotations

import numpy as np
import pytest

from oaip_qgis.core.decision.score import calibrate
from oaip_qgis.core.decision.threshold import THRESHOLD_METHODS, confidence, kittler, otsu, threshold_value
from oaip_qgis.core.errors import InputError
from oaip_qgis.core.params import RunParams

RNG = np.random.default_rng(0)
BALANCED = np.concatenate([RNG.normal(0.2, 0.05, 5000), RNG.normal(0.7, 0.05, 5000)])
# A small, wide changed class beside a large, narrow unchanged one: the case of a difference image.
SKEWED = np.concatenate([RNG.normal(0.1, 0.02, 19000), RNG.normal(0.6, 0.12, 1000)])


def test_otsu_splits_a_bimodal_mixture_between_the_modes():
    t = otsu(BALANCED)
    assert 0.35 < t < 0.55
    assert otsu(BALANCED * 0.1 + 0.3) == pytest.approx(t * 0.1 + 0.3, abs=1e-3)  # follows the values' range


def test_kittler_splits_between_the_modes_and_suits_unequal_classes():
    assert 0.3 < kittler(BALANCED) < 0.6
    t = kittler(SKEWED)
    assert 0.15 < t < 0.35
    truth = np.arange(SKEWED.size) >= 19000

    def errors(threshold: float) -> int:
        return int(np.sum((SKEWED > threshold) != truth))

    assert errors(t) <= errors(otsu(SKEWED)) + 5


def test_nan_values_are_ignored():
    with_nan = np.concatenate([BALANCED, np.full(3000, np.nan)])
    assert otsu(with_nan) == otsu(BALANCED) and kittler(with_nan) == kittler(BALANCED)


def test_methods_by_name_and_bad_input():
    assert threshold_value(BALANCED, "otsu") == otsu(BALANCED)
    assert threshold_value(BALANCED, "kittler") == kittler(BALANCED)
    assert otsu(np.full(10, 0.4)) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="no threshold of its own"):
        threshold_value(BALANCED, "manual")
    with pytest.raises(InputError, match="must be one of"):
        threshold_value(BALANCED, "triangle")
    with pytest.raises(InputError, match="no valid value"):
        otsu(np.array([np.nan]))


def test_a_method_added_to_the_registry_is_accepted_and_used_everywhere(monkeypatch):
    """One entry is all a new automatic method needs: RunParams accepts it, the prior's cut uses it."""
    from oaip_qgis.core.decision.evidence import weigh_evidence

    monkeypatch.setitem(THRESHOLD_METHODS, "median", lambda values: float(np.nanmedian(values)))
    RunParams(t1="a.tif", t2="b.tif", threshold_method="median").validate()
    assert threshold_value(BALANCED, "median") == pytest.approx(np.median(BALANCED))
    prior = np.concatenate([np.linspace(0, 0.2, 900), np.linspace(0.8, 1, 100)])
    calibration = calibrate(prior, "median", weigh_evidence(prior, floor_ratio=0))
    assert calibration.method == "median" and calibration.cut == pytest.approx(np.median(prior))


def test_confidence_is_zero_at_the_threshold_and_one_at_the_ends():
    prob = np.array([0.0, 0.15, 0.3, 0.65, 1.0, np.nan], np.float32)
    c = confidence(prob, 0.3)
    np.testing.assert_allclose(c[:5], [1.0, 0.5, 0.0, 0.5, 1.0], atol=1e-6)
    assert np.isnan(c[5]) and c.dtype == np.float32


def test_where_the_network_overruled_the_prior_the_confidence_is_damped_by_the_prior():
    """A place the prior was sure of and the network vetoed is not a sure place; where the two agree
    the confidence is the score's own."""
    score = np.array([0.05, 0.05, 0.9, 0.2, 0.95, np.nan], np.float32)
    prior = np.array([0.95, 0.55, 0.9, 0.1, 0.3, 0.9], np.float32)
    c = confidence(score, 0.5, prior)
    np.testing.assert_allclose(c[:5], [0.9 * 0.1, 0.9 * 0.9, 0.8, 0.6, 0.9 * 0.6], atol=1e-6)
    assert np.isnan(c[5]) and c.dtype == np.float32
    np.testing.assert_allclose(confidence(score, 0.5, score)[:5], confidence(score, 0.5)[:5])


def test_where_the_prior_has_no_value_the_networks_score_alone_is_as_sure_as_it_is():
    """Pixels beyond the prior's reach take the network's score alone (decision.score); a changed one among them was
    taken as overruled and damped by the prior's NaN: the confidence layer held NaN on valid, changed pixels."""
    score = np.array([0.9, 0.1], np.float32)
    c = confidence(score, 0.5, np.array([np.nan, np.nan], np.float32))
    np.testing.assert_allclose(c, [0.8, 0.8], atol=1e-6)
