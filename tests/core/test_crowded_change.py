"""The self-consistent second pass: which shares it tries, and when it keeps one (labels.crowded_change)."""
from __future__ import annotations

import numpy as np
import pytest

from oaip_qgis.core.labels.crowded_change import AGREEMENT, LEAST, MOST, CrowdedSearch, self_consistent
from oaip_qgis.core.labels.prior import PriorMaps


def maps_marking(found):
    """A prior whose second pass at share s marks found(s) of the scene; the shares asked, in order."""
    asked: list[float] = []

    def crowded(share: float) -> PriorMaps:
        asked.append(share)
        return PriorMaps(np.full((2, 2), share, np.float32), crowded=crowded)

    return PriorMaps(np.zeros((2, 2), np.float32), crowded=crowded), asked, lambda m: found(float(m.both[0, 0]))


def test_a_prior_without_a_second_pass_tries_nothing():
    assert self_consistent(PriorMaps(np.zeros((2, 2))), lambda m: 1.0) == CrowdedSearch()


def test_a_pass_that_finds_far_less_than_it_left_out_ends_the_search_at_once():
    maps, asked, marked = maps_marking(lambda s: 0.19)   # sar-enl-11's unchanged square: 19-20 % at every share
    search = self_consistent(maps, marked)
    assert search.kept is None and search.tried == ((pytest.approx((LEAST + MOST) / 2), 0.19),)
    assert asked == [pytest.approx((LEAST + MOST) / 2)]


def test_the_share_settles_where_the_second_pass_marks_what_it_left_out():
    maps, asked, marked = maps_marking(lambda s: min(s, 0.33) + 0.01)   # a third of the scene changed alike
    kept = self_consistent(maps, marked).kept
    assert kept is not None and kept.share == pytest.approx(0.34) and kept.marked == pytest.approx(0.34)
    assert asked == pytest.approx([0.4, 0.34])


def test_a_share_under_the_least_is_never_tried():
    maps, asked, marked = maps_marking(lambda s: 0.26)   # a quarter of the scene, found at every share
    kept = self_consistent(maps, marked).kept
    assert asked == pytest.approx([0.4, LEAST]) and kept.share == pytest.approx(LEAST)
    maps, asked, marked = maps_marking(lambda s: 0.7 * s)   # under AGREEMENT at every share
    assert self_consistent(maps, marked).kept is None and asked == pytest.approx([0.4, LEAST])
    assert 0.7 < AGREEMENT


def test_a_later_pass_that_disagrees_leaves_the_last_one_that_agreed():
    maps, asked, marked = maps_marking(lambda s: 0.45 if s < 0.42 else 0.2)
    search = self_consistent(maps, marked)
    assert search.kept.share == pytest.approx(0.4) and asked == pytest.approx([0.4, 0.45])
    assert [found for _, found in search.tried] == pytest.approx([0.45, 0.2])
