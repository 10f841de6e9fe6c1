"""Compact groups of strong disagreement marked in a scene without significant change."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from oaip_qgis.core.decision import local_change as local_change_module
from oaip_qgis.core.decision.evidence import NO_CHANGE_PEAK, verdict_word, weigh_evidence
from oaip_qgis.core.decision.local_change import LEAST_CELLS, compact_groups, local_change
from oaip_qgis.core.decision.score import DECISION, Calibration, calibrate

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
    local = local_change(prior, evidence, calibrate(prior, "otsu", evidence).cut)
    assert local.groups == 1 and local.share == pytest.approx(64 / prior.size)
    score = Calibration(local.cut, "otsu").prior_score(local.prior)
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
    local = local_change(prior, evidence, 1.0)
    assert local.groups == 0 and local.cut == 1.0
    assert np.array_equal(local.prior, np.clip(prior, 0, 1))


def test_a_scene_with_strong_evidence_is_left_to_its_cut():
    prior = RNG.uniform(0.1, 0.2, (200, 200)).astype(np.float32)
    prior[:20, :40] = 2.0
    evidence = weigh_evidence(prior)
    local = local_change(prior, evidence, 0.6)
    assert evidence.significant and not evidence.weak and local.groups == 0 and local.cut == 0.6
    assert np.nanmax(local.prior) == 1.0   # clipped at its top


def weak_scene(group: slice) -> np.ndarray:
    """Weak evidence (a peak of about 3× the median): 1.5 % of the scene in scattered places at 3×, and
    one compact group at 3.5× over `group` rows of 50 columns."""
    prior = RNG.uniform(0.25, 0.35, (200, 200)).astype(np.float32)
    rows, cols = np.meshgrid(np.arange(0, 200, 4), np.arange(100, 200, 4), indexing="ij")
    prior[rows.ravel()[:600], cols.ravel()[:600]] = 0.9    # isolated: every fourth cell of a half
    prior[group, 20:70] = 1.05
    return prior


def test_weak_change_under_one_percent_in_compact_groups_is_confined_to_them():
    prior = weak_scene(slice(10, 17))        # 350 cells: 0.875 % of the scene
    evidence = weigh_evidence(prior)
    assert evidence.significant and evidence.weak
    cut = calibrate(np.minimum(prior, 1), "otsu", evidence).cut
    assert np.nanmean(np.minimum(prior, 1) > cut) > 0.01     # Otsu's cut takes the scattered places too
    local = local_change(prior, evidence, cut)
    assert local.groups == 1 and local.share == pytest.approx(350 / prior.size) and local.cut == cut
    marked = local.prior > local.cut
    assert marked[10:17, 20:70].all() and marked.sum() == 350
    assert np.nanmax(local.prior) <= 1


def test_weak_change_over_one_percent_or_strong_change_is_not_confined():
    prior = weak_scene(slice(10, 20))        # 500 cells: 1.25 %
    evidence = weigh_evidence(prior)
    local = local_change(prior, evidence, 0.95)   # a cut above the scattered places: the group alone marked
    assert evidence.weak and local.groups == 0 and np.array_equal(local.prior, np.minimum(prior, 1))
    strong = weak_scene(slice(10, 17))
    strong[10:17, 20:70] = 4.0               # the same group far above the rest: a peak over WEAK_PEAK
    evidence = weigh_evidence(strong)
    assert evidence.significant and not evidence.weak
    assert local_change(strong, evidence, 0.95).groups == 0   # the cut marks the group alone


def test_weak_evidence_without_a_compact_group_marks_nothing_and_is_reported_unchanged():
    """Real unchanged crops whose scattered top reaches 2.3-3.4x the median (italy, sar-enl-12, yellowriver:
    4-8 % marked before): confined to their groups, of which there are none. One compact group more
    used to mark less than none."""
    prior = weak_scene(slice(0, 0))          # the 600 scattered places at 3x, no group
    evidence = weigh_evidence(prior)
    assert evidence.significant and evidence.weak
    cut = calibrate(np.minimum(prior, 1), "otsu", evidence).cut
    assert np.nanmean(np.minimum(prior, 1) > cut) > 0.01      # what Otsu's cut alone would mark
    local = local_change(prior, evidence, cut)
    assert local.scattered and local.groups == 0 and local.cut == 1.0
    assert not (local.prior > local.cut).any()
    assert np.array_equal(local.prior, np.minimum(prior, 1))   # the ranking is kept for the difference image
    reported = replace(evidence, significant=False, scattered=True)
    assert not reported.found and verdict_word(reported.to_dict()) == "none"
    assert reported.verdict().startswith("No significant change") and "no compact group" in reported.verdict()
    assert not local_change(weak_scene(slice(10, 17)), evidence, cut).scattered   # one group: confined to it
    strong = weak_scene(slice(0, 0))
    strong[0:200:2, 0:8:2] = 4.0              # 400 more isolated places, far up: a strong peak, left to the cut
    evidence = weigh_evidence(strong)
    assert not evidence.weak and not local_change(strong, evidence, 0.5).scattered


def test_weak_change_over_one_percent_whose_cut_marks_mostly_scattered_places_is_confined():
    """A finer radar's unchanged scene: groups over 1 % and Otsu's cut 4-5x their share (5.5-6.8 % marked).
    Weak evidence is allowed WEAK_SCATTERED (3x) before it is confined: scattered new buildings (2.1-2.8x)
    keep Otsu's map."""
    prior = weak_scene(slice(10, 20))        # 500 cells in the group, 600 scattered at 3x
    evidence = weigh_evidence(prior)
    cut = calibrate(np.minimum(prior, 1), "otsu", evidence).cut
    marked = np.nansum(np.minimum(prior, 1) > cut)
    assert evidence.weak and 2 * 500 < marked < 3 * 500
    assert local_change(prior, evidence, cut).groups == 0      # between SCATTERED and WEAK_SCATTERED
    prior[100:200:4, 0:100:4] = 0.9          # 625 more scattered places: the cut marks 3.45x the group
    evidence = weigh_evidence(prior)
    cut = calibrate(np.minimum(prior, 1), "otsu", evidence).cut
    assert evidence.weak and np.nansum(np.minimum(prior, 1) > cut) > 3 * 500
    local = local_change(prior, evidence, cut)
    assert local.groups == 1 and local.share == pytest.approx(500 / prior.size)
    marked = local.prior > local.cut
    assert marked[10:20, 20:70].all() and marked.sum() == 500


def test_strong_evidence_whose_cut_marks_mostly_scattered_places_is_confined_to_the_groups(monkeypatch):
    """A cut that marks more than SCATTERED times what the compact groups hold is mostly cutting the
    unchanged tail (real crops with rare change under a heavy tail: 8-38 % marked for 0.3-2.6 %)."""
    strong = weak_scene(slice(10, 17))
    strong[10:17, 20:70] = 4.0               # 350 cells in the group; 600 scattered cells at 0.9
    evidence = weigh_evidence(strong)
    local = local_change(strong, evidence, 0.5)   # a cut that takes the scattered places: 950 marked
    assert not evidence.weak and local.groups == 1 and local.cut == 0.5
    marked = local.prior > local.cut
    assert marked[10:17, 20:70].all() and marked.sum() == 350
    monkeypatch.setattr(local_change_module, "SCATTERED", 3.0)   # read at each call, as a benchmark varies it
    assert local_change(strong, evidence, 0.5).groups == 0   # 950 / 350 is under 3


def test_the_verdict_says_no_significant_change_yet_groups_are_marked_and_weak():
    prior = quiet_scene()
    prior[20:28, 30:38] = 2.5
    evidence = weigh_evidence(prior)
    local = local_change(prior, evidence, 1.0)
    found = replace(evidence, groups=local.groups, group_share=local.share)
    assert found.found and found.weak and not found.significant
    text = found.verdict()
    assert text.startswith("No significant change over the scene as a whole") and "1 compact group" in text
    assert verdict_word(found.to_dict()) == "weak" and verdict_word(evidence.to_dict()) == "none"


def test_the_verdict_of_confined_weak_change_says_what_is_marked():
    prior = weak_scene(slice(10, 17))
    evidence = weigh_evidence(prior)
    local = local_change(prior, evidence, calibrate(np.minimum(prior, 1), "otsu", evidence).cut)
    text = replace(evidence, groups=local.groups, group_share=local.share).verdict()
    assert text.startswith("Change found") and "evidence is weak" in text
    assert "Only 1 compact group(s) of places above 2.3× (0.88 % of the scene) are marked" in text
    assert "compact group" not in evidence.verdict()


def test_invalid_cells_stay_invalid_and_split_no_group():
    prior = quiet_scene()
    prior[20:30, 30:40] = 2.5
    prior[25, :] = np.nan                 # a nodata line through the group: two halves of 50 and 40 cells
    evidence = weigh_evidence(prior)
    local = local_change(prior, evidence, 1.0)
    assert np.isnan(local.prior[25]).all()
    assert local.groups == 1 and local.share == pytest.approx(50 / np.isfinite(prior).sum())


def test_groups_touch_by_corners():
    above = np.zeros((20, 20), bool)
    for i in range(12):                   # a diagonal line of twelve cells touching by their corners
        above[i, i] = True
    mask, count = compact_groups(above, least=12)
    assert count == 1 and mask.sum() == 12
    assert compact_groups(above, least=13)[1] == 0


def test_the_evidence_of_groups_in_a_scene_without_significant_change_is_in_the_units_of_their_cut():
    """Such groups are cut on the prior divided by its top; the evidence's median and floor stayed in the prior's own
    units, so the training's changed labels (at least the floor) took about half the groups' cells, and stats.json
    gave a floor above the cut it reported."""
    from oaip_qgis.core.labels.margins import margin_labels
    from oaip_qgis.core.params import RunParams
    from oaip_qgis.core.stages.prior import _decided

    rng = np.random.default_rng(1)
    prior = rng.uniform(0.4, 0.6, (200, 200)).astype(np.float32)
    prior[50:60, 50:60] = rng.uniform(1.2, 1.6, (10, 10))   # one compact group above the no-change line
    evidence = weigh_evidence(prior)
    assert not evidence.significant
    decided, calibration, found = _decided(prior, evidence, RunParams(t1="a", t2="b", threshold_method="manual"))
    assert found.groups == 1
    assert found.median == pytest.approx(float(np.nanmedian(decided)), rel=1e-4)
    assert found.floor < calibration.cut
    assert (margin_labels(decided, floor=found.floor) == 1).sum() == 100
