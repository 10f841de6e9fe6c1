"""Where the structural prior's one-sided change counts: only where the prior seen both ways reaches its evidence
floor, and never between two radar images or with a radar image the finer."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from oaip_qgis.core.labels.direct_comparison import Measures
from oaip_qgis.core.labels.one_sided import gated_one_sided
from oaip_qgis.core.labels.prior import PriorMaps
from oaip_qgis.core.stages import Blocks
from oaip_qgis.core.stages.prior import _mapped_prior


def two_maps() -> tuple[np.ndarray, np.ndarray]:
    """A prior seen both ways with one strong square of change, and a one-sided prior twice its level that lifts the
    square more and a strip of unchanged land the other image hardly shows (where both ways is low)."""
    rng = np.random.default_rng(0)
    both = rng.uniform(0.05, 0.15, (64, 64)).astype(np.float32)
    both[20:30, 20:30] = 0.9
    one = 2 * both
    one[20:30, 20:30] = 3.0         # one-sided change where both ways is strong (its peak rises)
    one[50:60, :] = 1.5             # one-sided texture where both ways is weak
    both[0, 0] = one[0, 0] = np.nan
    return both, one


def test_one_sided_values_count_only_where_the_prior_seen_both_ways_is_strong():
    both, one = two_maps()
    floor = 1.75 * float(np.nanmedian(both))
    gated = gated_one_sided(both, one, floor)
    assert gated.dtype == np.float32 and np.isnan(gated[0, 0]) and np.isfinite(gated[1:, 1:]).all()
    assert np.array_equal(gated[20:24, 20:24], one[20:24, 20:24])        # kept where strong both ways
    level = np.nanmedian(one) / np.nanmedian(both)
    assert 2 < level < 2.5    # the strip lifts the one-sided median a little
    strip = gated[50:60, :]
    assert np.allclose(strip, np.minimum(one, both * level)[50:60, :]) and strip.max() < 0.35   # not 1.5
    assert (gated[1:, 1:] <= one[1:, 1:] + 1e-6).all()                   # never above the one-sided value


def blocks(**flags) -> Blocks:
    """Blocks of a pair no direct measure compares (so the one-sided choice is the rule's alone)."""
    x = np.zeros((1, 64, 64), np.float32)
    return replace(Blocks(2, x, x, np.ones((64, 64), bool), None, None, Measures({}, refusal="bands")), **flags)


@pytest.mark.parametrize("flags, counted", [({}, True), ({"both_radar": True}, False),
                                            ({"radar_finer": True}, False)])
def test_one_sided_change_is_left_out_where_radar_texture_is_one_sided_everywhere(flags, counted):
    both, one = two_maps()
    prior, evidence, direct, one_sided = _mapped_prior(PriorMaps(both, one), blocks(**flags))
    assert evidence.significant and not direct.used and one_sided is counted
    if counted:
        assert np.nanmax(prior) == 1 and prior[50:60, :].max() < 0.35 and prior[22, 22] == 1
    else:
        assert np.array_equal(prior, np.minimum(both, 1), equal_nan=True)


def test_one_sided_change_that_weakens_the_evidence_is_left_out():
    """Texture one image alone shows over much of the scene where the prior seen both ways is just above its floor,
    and nothing more of the change: counted, it lifts the median more than the peak, so the scene's evidence would
    weaken (a C-band fire's scar); the prior seen both ways is mapped instead."""
    rng = np.random.default_rng(1)
    both = rng.uniform(0.05, 0.15, (64, 64)).astype(np.float32)
    both[20:30, 20:30] = 0.9
    both[37:64, :] = 0.3            # 42 % of the scene, above the floor (1.75x a median near 0.14)
    one = 2 * both
    one[20:30, 20:30] = 0.9         # the change no stronger one way
    one[37:64, :] = 0.8
    prior, evidence, direct, one_sided = _mapped_prior(PriorMaps(both, one), blocks())
    assert both[40, 10] >= evidence.floor and gated_one_sided(both, one, evidence.floor)[40, 10] == np.float32(0.8)
    assert evidence.significant and not one_sided
    assert np.array_equal(prior, np.minimum(both, 1), equal_nan=True)
