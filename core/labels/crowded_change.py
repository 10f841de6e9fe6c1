"""Change that crowds the whole scene, found where the first pass saw none: a self-consistent second pass.

An AOI drawn tight around a flood is mostly flood. The structural prior asks each place whether the places that
look like it in one image still look like it in the other; when two fifths of the scene changed alike, the flooded
places are each other's look-alikes in both images and the first pass sees no contrast at all (the generated
`flooded-aoi`, optical against SAR, 41–43 % flooded: peak 1.7×, reported unchanged, Kappa 0, though its ranking
has AUC 0.83). structural_prior's own second pass is not taken there: it waits for a first pass that marks much of
the scene and cannot split it.

So where the mapped prior reports no significant change, the second pass is tried as if a share s of the scene had
changed: the first pass's most-changed s of the anchors leave the graph, and the decision runs on what the second
pass gives. If s of the scene really changed alike, the second pass finds about that much changed; on an unchanged
scene, removing s of it finds far less (the anchors left out are the ordinary tail of the first pass, and their
look-alikes are still in the graph). The share found is then tried again as s, until it no longer grows: a fixed
point where the share left out is the share found. The second pass is kept where it is self-consistent, marking
at least AGREEMENT × s.

Measured in prior mode (bench/RESULTS.md, release 0.16.2; build/exp38/fixed_point.json), the share marked over s:
flooded-aoi 1.18 and 1.24 at s = 0.3 (two scene seeds; Kappa 0.85 and 0.92, then 0.95 at 0.4); every scene the
first pass reports unchanged among ten generated scenarios (two seeds each) and the eight shared pairs' unchanged
squares and 3 × 3 and 2 × 2 crops, at s ≥ 0.3, at most 0.68 (sar-enl-11's square: 20 % marked at every s from 0.3,
a false map). START below 0.3 does not separate them (at 0.2, italy's crop 3-10 marks 0.58 × s falsely, the
flooded AOI 0.31 and 0.73). Change of one kind over less of the scene (optical fires of 8–10 %) is mapped by the
forced second pass too, but it marks far less than s, like the false maps, so it is not kept: it needs ONE_KIND.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from .prior import PriorMaps

LEAST = 0.3       # the least share of the scene tried as changed (module notes)
MOST = 0.5        # the most: change is the smaller part of a scene, the structural measure's premise
AGREEMENT = 0.8   # kept where the second pass marks at least this share of what was left out
ROUNDS = 3        # second passes at most
SETTLED = 0.02    # a share found within this of the one left out is the fixed point


@dataclass(frozen=True)
class CrowdedChange:
    """The second pass kept: the share of the scene it left out, the share its decision marked, and its maps."""

    share: float
    marked: float
    maps: PriorMaps


def self_consistent(maps: PriorMaps, marked: Callable[[PriorMaps], float],
                    least: Optional[float] = None, agreement: Optional[float] = None) -> Optional[CrowdedChange]:
    """The self-consistent second pass of a prior whose first reported no significant change, or None.

    The first share tried is the middle of [least, MOST]; each next one is the share the last pass marked (within
    [least, MOST]), until it settles; the last pass that marked at least `agreement` of its share is kept. A pass
    marking under `agreement` × `least` ends the search: less change than that does not crowd the scene, and a
    smaller share would find no more (one pass, on most scenes without change).
    marked: the share of the valid scene the run's decision marks changed on a prior's maps (0 where it finds
    no significant change). least, agreement: LEAST and AGREEMENT when not given (read at each call, so a
    benchmark can vary them). None too for a prior without a second pass (maps.crowded is None)."""
    least = LEAST if least is None else least
    agreement = AGREEMENT if agreement is None else agreement
    if maps.crowded is None:
        return None
    kept, share = None, (least + MOST) / 2
    for _ in range(ROUNDS):
        second = maps.crowded(share)
        found = marked(second)
        if found >= agreement * share:
            kept = CrowdedChange(share, found, second)
        settled = min(MOST, max(least, found))
        if found < agreement * least or abs(settled - share) < SETTLED:
            break
        share = settled
    return kept
