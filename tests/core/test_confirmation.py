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
    counted[10:85] = False                    # e.g. the analyst's samples (the 5 vetoed keep 5 confirmed beside them)
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
                               "prior_changed_pixels": 0, "near_line": False, "extended": False, "added_pixels": 0,
                               "changed_label_pixels": None,
                               "least_changed_label_pixels": confirmation.LEAST_CHANGED_PIXELS,
                               "whole_region_share": 0.0, "most_whole_region_share": confirmation.WHOLE_MAX,
                               "regions_removed_whole": 0, "pixels_removed_whole": 0}


def test_a_veto_learnt_from_too_little_sure_change_is_not_applied(monkeypatch):
    """Crops of the real pairs whose changed pseudo-labels covered under 1 000 pixels: the veto cost 9 of
    12 (up to -0.13 Kappa), so a network that saw too little change does not judge the rest."""
    prior, score = np.full(100, 0.9, np.float32), np.full(100, 0.9, np.float32)
    score[:30] = 0.1                          # 30 % vetoed: a share that applies the veto
    for pixels, applied in ((None, True), (confirmation.LEAST_CHANGED_PIXELS, True),
                            (confirmation.LEAST_CHANGED_PIXELS - 1, False), (0, False)):
        tally = Confirmation(changed_pixels=pixels)
        tally.add(prior, score, np.ones(100, bool))
        assert tally.share == pytest.approx(0.3) and tally.applied is applied
        assert tally.learnt_enough is applied and tally.to_dict()["changed_label_pixels"] == pixels
    extended = Confirmation(extended=True, changed_pixels=10)   # finding more: the analyst's choice, always
    extended.add(prior, score, np.ones(100, bool))
    assert extended.applied
    monkeypatch.setattr(confirmation, "LEAST_CHANGED_PIXELS", 5)
    few = Confirmation(changed_pixels=10)
    few.add(prior, score, np.ones(100, bool))
    assert few.applied and few.to_dict()["least_changed_label_pixels"] == 5


def test_finding_more_like_the_samples_always_applies_and_counts_what_the_network_adds():
    tally = Confirmation(extended=True)
    # the prior marks two places, the network keeps both (no veto) and raises two it left under its cut
    tally.add(np.array([0.9, 0.8, 0.4, 0.3, 0.1], np.float32), np.array([0.9, 0.8, 0.7, 0.6, 0.1], np.float32),
              np.ones(5, bool))
    assert tally.share == 0.0 and tally.applied
    assert tally.to_dict()["added_pixels"] == 2 and tally.to_dict()["extended"]


def test_a_share_near_the_line_is_flagged_on_either_side_and_only_when_the_share_decided():
    def tally(vetoed: int, **fields) -> Confirmation:
        t = Confirmation(**fields)
        score = np.r_[np.full(vetoed, 0.1), np.full(1000 - vetoed, 0.9)].astype(np.float32)
        t.add(np.full(1000, 0.9, np.float32), score, np.ones(1000, bool))
        return t
    assert tally(117).near_line and not tally(117).applied            # 11.7 %: the prior's map, by a hair
    assert tally(121).near_line and tally(121).applied                # 12.1 %: the veto, by a hair
    assert tally(95).near_line and not tally(85).near_line          # within 3 points of 12 %, or not
    assert not tally(50).near_line and not tally(300).near_line       # clear either way
    assert not tally(121, extended=True).near_line                    # finding more: the analyst's choice
    assert not tally(121, changed_pixels=10).near_line                # too few sure pixels decided it
    assert tally(117).to_dict()["near_line"] is True


BUILDINGS = [(row, col) for row in (60, 80) for col in (5, 30, 55)]   # six 12 x 12 places beside the flood


def _scene(rejected: int) -> tuple[np.ndarray, np.ndarray]:
    """A 40 x 40 flood whose 2-pixel rim the network vetoes (304 pixels), and six buildings beside it of which
    the network rejects the first `rejected` whole and confirms the rest."""
    prior = np.full((100, 100), 0.1, np.float32)
    prior[5:45, 5:45] = 0.9
    score = prior.copy()
    score[5:45, 5:45] = 0.3
    score[7:43, 7:43] = 0.9
    for i, (row, col) in enumerate(BUILDINGS):
        prior[row:row + 12, col:col + 12] = 0.7
        score[row:row + 12, col:col + 12] = 0.02 if i < rejected else 0.7
    return prior, score


def test_a_veto_that_removes_mostly_whole_regions_is_not_applied_one_that_trims_them_is():
    """Rendered generated scenes: the network learnt the flood and vetoed the new buildings whole (Kappa
    0.54 against the prior's 0.64); on the shared pairs the veto that helps trims edges and specks."""
    trimmed = _tally(*_scene(rejected=0))
    assert trimmed.share == pytest.approx(304 / 2464) and trimmed.share >= confirmation.VETO_MIN
    assert trimmed.whole_share == 0.0 and trimmed.applied
    three = _tally(*_scene(rejected=3))                          # 432 of 736 vetoed pixels: under 60 %
    assert three.whole_share == pytest.approx(432 / 736) and three.applied
    five = _tally(*_scene(rejected=5))                           # 720 of 1024: over 60 %
    assert five.whole_share == pytest.approx(720 / 1024) and five.rejects_regions
    assert not five.applied and not five.near_line
    assert five.to_dict()["whole_region_share"] == pytest.approx(720 / 1024, abs=1e-4)
    nearly = _scene(rejected=5)
    nearly[1][60, 5] = 0.7                                        # one pixel of 144 confirmed: still rejected
    assert _tally(*nearly).rejects_regions

@pytest.mark.parametrize("size", [100, 64, 33, 10])
def test_no_tile_size_changes_the_verdict(size):
    """A region of the prior's change confirmed in 6 % of its pixels, all in its top rows: counted tile by tile
    without joining the seams, 64-px tiles made it a rejected region in its lower tile (not applied), larger
    tiles not (applied)."""
    prior = np.full((100, 100), 0.1, np.float32)
    prior[30:70, 0:100] = 0.9                      # 40 x 100
    score = np.full(prior.shape, 0.1, np.float32)
    score[30:32, 0:100] = 0.9
    score[32, 0:40] = 0.9                          # 240 of its 4 000 pixels confirmed, all in its top rows: 6 %
    tally = Confirmation()
    for row in range(0, 100, size):
        for col in range(0, 100, size):
            part = (slice(row, row + size), slice(col, col + size))
            tally.add(prior[part], score[part], np.ones(prior[part].shape, bool), at=(row, col))
    assert (tally.marked, tally.vetoed, tally.whole) == (4000, 3760, 0)
    assert tally.applied


def test_the_note_says_why_the_map_is_or_is_not_the_prior_s():
    assert _tally(*_scene(rejected=0)).note().startswith("The network confirms the prior: it vetoes 12.3 %")
    whole = _tally(*_scene(rejected=5)).note()
    assert "vetoes 41.6 % of the prior's changed pixels, but 70 % of those lie in regions" in whole
    assert "rejects whole (at least 60 %)" in whole and "another SEED" not in whole
    few = Confirmation(changed_pixels=10)
    few.add(*_scene(rejected=5), np.ones((100, 100), bool))
    assert "learnt change from only 10 pixel(s)" in few.note()
    small = _tally([0.9] * 100, [0.1] * 5 + [0.9] * 95).note()
    assert "vetoes only 5.0 %" in small and "another SEED" not in small
    assert _tally([0.9] * 100, [0.1] * 10 + [0.9] * 90).note().endswith("or with another SEED.")   # 10 %: near 12
    # nothing marked (a manual threshold above every place): it was told as a veto of 0 % within the network's error
    assert _tally([0.2], [0.1]).note().startswith("The network's confirmation was not applied: the prior marks no "
                                                   "place changed, so there is nothing for it to confirm")


def test_a_whole_region_share_near_its_line_is_flagged_on_either_side():
    """Seeds move the share of the veto in whole regions by tens of points: near its line the run says so."""
    near_under = _tally(*_scene(rejected=3))                      # 0.587: applied, within 5 points of 0.6
    assert near_under.applied and near_under.near_whole_line and near_under.near_line
    prior, score = _scene(rejected=4)
    score[20:22, 10:30] = 0.3                                     # 40 pixels inside the flood vetoed too
    near_over = _tally(prior, score)                              # 576 / 920 = 0.626: not applied, within 5 points
    assert near_over.whole_share == pytest.approx(576 / 920) and not near_over.applied
    assert near_over.near_whole_line and not near_over.near_share_line
    said = near_over.note()
    assert "That share of whole regions is within 5 points of 60 %" in said and said.endswith("another SEED.")
    far = _tally(*_scene(rejected=5))                             # 0.703
    assert not far.near_whole_line and not far.near_line
    assert not _tally(*_scene(rejected=0)).near_whole_line        # 0: nothing whole


def _with_specks(scene: tuple[np.ndarray, np.ndarray], passed: int) -> tuple[np.ndarray, np.ndarray]:
    """The scene with the first building's left `passed` columns passed by the network (12 px each)."""
    prior, score = scene
    row, col = BUILDINGS[0]
    score[row:row + 12, col:col + passed] = 0.7
    return prior, score


def _held(tally: Confirmation, prior: np.ndarray, score: np.ndarray) -> np.ndarray:
    return tally.held(prior, score, np.ones(prior.shape, bool), 0)


def test_a_region_the_applied_veto_confirms_in_under_half_is_removed_whole_and_held_under_the_decision():
    """Where its veto is mostly trims and specks, a network that calls most of a region unchanged has judged it:
    the pixels it passes there are false alarms (offline on the eight pairs: +0.004 mean Kappa, no pair lower)."""
    prior, score = _with_specks(_scene(rejected=1), passed=5)       # 60 of 144 confirmed: under half
    tally = _tally(prior, score)
    assert tally.applied and (tally.removed_regions, tally.removed_pixels) == (1, 60)
    held = _held(tally, prior, score)
    row, col = BUILDINGS[0]
    assert held[row:row + 12, col:col + 12].max() < confirmation.DECISION
    assert held[row:row + 12, col:col + 12].max() == pytest.approx(confirmation.DECISION, abs=1e-6)  # still ranked
    untouched = np.ones(prior.shape, bool)
    untouched[row:row + 12, col:col + 12] = False
    assert np.array_equal(held[untouched], score[untouched])       # the flood's trimmed rim, the other buildings
    assert tally.to_dict()["regions_removed_whole"] == 1 and tally.to_dict()["pixels_removed_whole"] == 60
    assert "1 region(s) of the prior's change in under half their pixels" in tally.note()


def _columns(scene: tuple[np.ndarray, np.ndarray], building: int, columns: int, value: float) -> None:
    """The building's left `columns` columns (12 px each) given the network's `value`."""
    row, col = BUILDINGS[building]
    scene[1][row:row + 12, col:col + columns] = value


def test_a_whole_region_share_near_the_region_rule_s_line_is_flagged_where_a_region_would_be_removed():
    """Urban-optical's four seeds put 21-29 % of the veto in whole regions, around REGION_WHOLE_MAX: the run says
    another seed may remove or keep the regions the network confirms in under half."""
    over = _scene(rejected=1)                           # the flood's rim and one building rejected whole
    _columns(over, 1, 12, 0.02)
    _columns(over, 1, 5, 0.7)                           # a second building confirmed in 60 of 144 pixels
    tally = _tally(*over)                               # 144 of 532 vetoed in whole regions: 0.271
    assert tally.applied and tally.whole_share == pytest.approx(144 / 532) and tally.removed_regions == 0
    assert tally.near_region_line and tally.near_line and not tally.near_whole_line
    said = tally.note()
    assert "That share of whole regions is within 5 points of 25 %" in said and said.endswith("another SEED.")
    under = (over[0], over[1].copy())
    _columns(under, 2, 5, 0.02)                         # a third building trimmed: 144 of 592, 0.243
    tally = _tally(*under)
    assert tally.whole_share < confirmation.REGION_WHOLE_MAX and tally.removed_regions == 1
    assert tally.near_region_line and tally.to_dict()["near_line"]
    trimmed = _scene(rejected=1)
    _columns(trimmed, 1, 5, 0.02)                       # the second building confirmed in most of it: none to remove
    tally = _tally(*trimmed)
    assert tally.whole_share == pytest.approx(144 / 508) and not tally.near_region_line and not tally.near_line
    assert not _tally(*_scene(rejected=3)).near_region_line   # 0.587: far from 0.25


def test_nothing_is_removed_whole_where_a_fair_share_of_the_veto_already_rejects_regions_whole():
    """The rendered new-buildings scenes: the network learnt one kind of change and trims the other's edges; what
    it passes of a building is the building (removed whole there: 0.797 -> 0.776)."""
    prior, score = _with_specks(_scene(rejected=3), passed=5)       # two buildings rejected whole, one in part
    tally = _tally(prior, score)
    assert tally.applied and tally.whole_share == pytest.approx(288 / 676)
    assert confirmation.REGION_WHOLE_MAX <= tally.whole_share < confirmation.WHOLE_MAX
    assert tally.removed_regions == 0 and _held(tally, prior, score) is score


def test_a_region_confirmed_in_half_or_more_is_kept_as_the_veto_left_it():
    prior, score = _with_specks(_scene(rejected=1), passed=6)       # 72 of 144: half
    tally = _tally(prior, score)
    assert tally.applied and tally.removed_regions == 0
    assert _held(tally, prior, score) is score
    assert "removed whole" not in tally.note()


def test_nothing_is_removed_whole_where_the_veto_is_not_applied_or_the_analyst_asked_for_more(monkeypatch):
    prior = np.full((50, 50), 0.1, np.float32)
    prior[0:20, 0:50] = prior[30:34, 0:10] = 0.9   # 1 000 px, and 40 px beside it
    score = prior.copy()
    score[30:34, 0:10] = 0.2
    score[30:34, 0:3] = 0.9                         # the small region confirmed in 12 of 40: 28 of 1 040 vetoed
    tally = _tally(prior, score)
    assert not tally.applied and tally.removed_regions == 0 and _held(tally, prior, score) is score
    extended = Confirmation(extended=True)
    extended.add(prior, score, np.ones(prior.shape, bool))
    assert extended.applied and extended.removed_regions == 0
    monkeypatch.setattr(confirmation, "VETO_MIN", 0.02)           # the same tally with the veto applied
    assert _tally(prior, score).applied and _tally(prior, score).removed_regions == 1


@pytest.mark.parametrize("size", [100, 33, 10])
def test_regions_removed_whole_are_the_same_whatever_the_tiles(size):
    prior, score = _with_specks(_scene(rejected=1), passed=5)
    tally, parts = Confirmation(), []
    for row in range(0, 100, size):
        for col in range(0, 100, size):
            part = (slice(row, row + size), slice(col, col + size))
            tally.add(prior[part], score[part], np.ones(prior[part].shape, bool), at=(row, col))
            parts.append(part)
    held = score.copy()
    for i, part in enumerate(parts):
        held[part] = tally.held(prior[part], score[part], np.ones(prior[part].shape, bool), i)
    whole = _tally(prior, score)
    assert np.array_equal(held, _held(whole, prior, score))
    assert (tally.removed_regions, tally.removed_pixels) == (1, 60)
