"""Compact groups of strong disagreement marked in a scene without significant change."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from oaip_qgis.core.decision.evidence import NO_CHANGE_PEAK, verdict_word, weigh_evidence
from oaip_qgis.core.decision.local_change import LEAST_CELLS, compact_groups, local_change
from oaip_qgis.core.decision.score import DECISION, calibrate

RNG = np.random.default_rng(3)


def quiet_scene() -> np.ndarray:
    """A prior in units of its top: the whole scene within about 1.3× its median, 200 × 200 cells."""
    return RNG.uniform(0.5, 1.0, (200, 200)).astype(np.float32)


def scattered(prior: np.ndarray, value: float) -> list[tuple[int, int]]:
    """Forty isolated cells at `value`, none touching another."""
    places = [(r, c) for r in range(110, 190, 10) for c in range(10, 60, 10)]
    for r, c in places:
        prior[r, c] = value
    return places


def test_a_compact_group_above_the_line_is_marked_and_scattered_places_are_not():
    prior = quiet_scene()
    prior[20:28, 30:38] = 2.5            # 64 touching cells, 0.16 % of the scene: too few to lift the peak
    places = scattered(prior, 3.0)       # stronger than the group, but each alone
    evidence = weigh_evidence(prior)
    assert not evidence.significant
    local = local_change(prior, evidence)
    assert local.groups == 1 and local.share == pytest.approx(64 / prior.size)
    score = calibrate(local.prior, "otsu", evidence, without_change=local.cut).prior_score(local.prior)
    assert (score[20:28, 30:38] > DECISION).all()
    assert all(score[r, c] < DECISION for r, c in places)
    assert (score > DECISION).sum() == 64
    assert np.nanmax(local.prior) <= 1 and np.nanmin(local.prior) >= 0
    # the difference image still ranks the scattered places above the quiet scene around them
    assert min(local.prior[r, c] for r, c in places) > np.quantile(local.prior, 0.99)


def test_a_group_smaller_than_the_least_or_below_the_line_marks_nothing():
    prior = quiet_scene()
    side = int(np.sqrt(LEAST_CELLS))      # a square of under LEAST_CELLS cells
    prior[20:20 + side, 30:30 + side - 1] = 2.5
    prior[100:110, 100:110] = 0.75 * (NO_CHANGE_PEAK - 0.2)   # a large group, but under the no-change line
    evidence = weigh_evidence(prior)
    local = local_change(prior, evidence)
    assert local.groups == 0 and local.cut == 1.0
    assert np.array_equal(local.prior, np.clip(prior, 0, 1))


def test_a_scene_with_significant_change_is_left_to_the_usual_cut():
    prior = RNG.uniform(0.1, 0.2, (200, 200)).astype(np.float32)
    prior[:20, :40] = 2.0
    evidence = weigh_evidence(prior)
    local = local_change(prior, evidence)
    assert evidence.significant and local.groups == 0 and local.cut == 1.0
    assert np.nanmax(local.prior) == 1.0   # clipped at its top


def test_invalid_cells_stay_invalid_and_split_no_group():
    prior = quiet_scene()
    prior[20:30, 30:40] = 2.5
    prior[25, :] = np.nan                 # a nodata line through the group: two halves of 50 and 40 cells
    evidence = weigh_evidence(prior)
    local = local_change(prior, evidence)
    assert np.isnan(local.prior[25]).all()
    assert local.groups == 1 and local.share == pytest.approx(50 / np.isfinite(prior).sum())


def test_groups_touch_by_corners():
    above = np.zeros((20, 20), bool)
    for i in range(12):                   # a diagonal line of twelve cells touching by their corners
        above[i, i] = True
    mask, count = compact_groups(above, least=12)
    assert count == 1 and mask.sum() == 12
    assert compact_groups(above, least=13)[1] == 0


def test_the_verdict_says_no_significant_change_yet_groups_are_marked_and_weak():
    prior = quiet_scene()
    prior[20:28, 30:38] = 2.5
    evidence = weigh_evidence(prior)
    local = local_change(prior, evidence)
    found = replace(evidence, groups=local.groups, group_share=local.share)
    assert found.found and found.weak and not found.significant
    text = found.verdict()
    assert text.startswith("No significant change over the scene as a whole") and "1 compact group" in text
    assert verdict_word(found.to_dict()) == "weak" and verdict_word(evidence.to_dict()) == "none"
