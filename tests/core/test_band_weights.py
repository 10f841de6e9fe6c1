"""Bands weighted by the share of their variance that is spatially coherent (labels/band_weights.py)."""
from __future__ import annotations

import numpy as np
import pytest

from oaip_qgis.core.labels import structural_prior as structural_prior_module
from oaip_qgis.core.labels.band_weights import coherent_weights
from oaip_qgis.core.labels.structural_prior import structural_prior
from tests.helpers import two_sensors


def parcels(size: int = 64, seed: int = 0) -> np.ndarray:
    """One band of 8-px parcels with a little noise: coherent."""
    rng = np.random.default_rng(seed)
    blocky = np.kron(rng.uniform(0, 1, (size // 8, size // 8)), np.ones((8, 8)))
    return (blocky + rng.normal(0, 0.02, blocky.shape)).astype(np.float32)


def test_a_band_of_noise_weighs_nothing_and_coherent_bands_weigh_alike():
    rng = np.random.default_rng(1)
    noise = rng.uniform(0, 1, (64, 64)).astype(np.float32)
    half = parcels(seed=2) + rng.normal(0, 0.15, (64, 64)).astype(np.float32)   # parcels through heavy noise
    w = coherent_weights(np.stack([parcels(seed=1), noise, half, 0.3 * parcels(seed=3)]), np.ones((64, 64), bool))
    assert w[0] == pytest.approx(1, abs=0.02) and w[3] == pytest.approx(1, abs=0.02)   # the scale does not count
    assert w[1] < 0.15
    assert 0.3 < w[2] < 0.95
    assert w.max() == 1


def test_one_band_a_blank_image_and_invalid_cells():
    ok = np.ones((64, 64), bool)
    assert coherent_weights(parcels()[None], ok).tolist() == [1.0]
    assert coherent_weights(np.zeros((2, 64, 64), np.float32), ok).tolist() == [1.0, 1.0]
    x = np.stack([parcels(seed=1), parcels(seed=2)])
    valid = ok.copy()
    valid[:, :20] = False
    spoiled = x.copy()
    spoiled[:, ~valid] = np.random.default_rng(0).uniform(-50, 50, (2, int((~valid).sum())))
    np.testing.assert_array_equal(coherent_weights(x, valid), coherent_weights(spoiled, valid))


def test_a_band_of_noise_leaves_the_structural_prior_as_it_was_without_it(monkeypatch):
    x1, x2, change = two_sensors()
    noisy = np.concatenate([x2, np.random.default_rng(10).uniform(0, 1, x2.shape).astype(np.float32)])
    valid = np.ones(change.shape, bool)
    said: list[str] = []
    clean = structural_prior(x1, x2, valid).both
    np.testing.assert_allclose(structural_prior(x1, noisy, valid, info=said.append).both, clean, atol=1e-6)
    assert len(said) == 1 and "2 (0.00) of T2" in said[0]
    # counted like the others, the same band halves the contrast between the change and the rest
    monkeypatch.setattr(structural_prior_module, "coherent_weights", lambda x, ok: np.ones(x.shape[0]))
    equal = structural_prior(x1, noisy, valid).both
    contrast = [p[change].mean() / p[~change].mean() for p in (clean, equal)]
    assert contrast[1] < 0.5 * contrast[0]
