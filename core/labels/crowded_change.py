"""Change that crowds the whole scene, found where the first pass saw none: a self-consistent second pass.

An AOI drawn tight around a flood is mostly flood. The structural prior asks each place whether the places that
look like it in one image still look like it in the other; when two fifths of the scene changed alike, the flooded
places are each other's look-alikes in both images and the first pass sees no contrast at all (the generated
`flooded-aoi`, optical against SAR, 41–43 % flooded: peak 1.7×, reported unchanged, Kappa 0, though its ranking
has AUC 0.83). structural_prior's own second pass is not taken there: it waits for a first pass that marks much of
the scene and cannot split it.

So where the mapped prior reports no significant change (or, since 0.16.3, weak evidence: below), the second pass
is tried as if a share s of the scene had changed: the first pass's most-changed s of the anchors leave the graph,
and the decision runs on what the second pass gives. If s of the scene really changed alike, the second pass finds
about that much changed; on an unchanged scene, removing s of it finds far less (the anchors left out are the
ordinary tail of the first pass, and their look-alikes are still in the graph). The share found is then tried as s
in turn, until the two agree: a fixed point where the share left out is the share found. The second pass is kept
where it is self-consistent, marking at least AGREEMENT × s.

Measured in prior mode (bench/RESULTS.md, release 0.16.2; build/exp39/): the first share tried, 0.4, is
marked 0.40 and 0.39 on flooded-aoi (scene seeds 1-2; Kappa 0 -> 0.940 and 0.946), and at most 0.19 on every scene
the first pass reports unchanged among thirteen generated scenarios (two seeds each) and the eight shared pairs'
unchanged squares and 2 x 2 and 3 x 3 crops (sar-enl-11's square, sar-enl-12's crop 3-02): one pass there, nothing
kept, and no map of them changes. Draws not looked at while the rule was made: flooded-aoi of scene seeds 3-8 at
600² and 3-6 at 800², the four whose ranking allows it (best single threshold 0.96-0.97) mapped at 0.939-0.953,
the six with 44-50 % flooded and a poor ranking (best threshold 0.30-0.50) reported unchanged as before; floods of
33-43 % (Scenario flood 0.30, seeds 1-4) 0.941-0.952. LEAST: at 0.2, session 38's forced passes marked 0.58-0.59
of s on two unchanged real crops (italy 3-10, sar-enl-12 3-02); floods over a quarter of a scene are mostly found
by structural_prior's own second pass (Scenario flood 0.25, 29-36 %: 0.904 and 0.942, but 0.625 and 0.082 where
it marks 16 % and 2 %; reported changed, so this is not tried there). AGREEMENT lies between 0.47 (the most an
unchanged scene marked, over 0.4) and 0.97 (the least a flooded AOI did); choosing it on seven pairs' scenes and
reporting on the eighth moves neither end, so no held-out scene is decided otherwise. Change of one kind over
less of the scene (optical fires of 8-10 %) marks far less than s, like the unchanged scenes, and is left to
ONE_KIND. The AOI rendered as the public pairs are (8-bit RGB against SAR in decibels) fails before this: its
ranking is poor in every pass (bench/RESULTS.md).

Since release 0.16.3 the search is also tried where the first pass finds change on weak evidence (a peak under
decision.evidence.WEAK_PEAK), and a pass is kept only where it marks more than the first. A flood over a quarter to
a third of the scene can leave the first pass a sliver of contrast: reported changed, part of the flood marked
(Scenario(flood=0.25) at 600², scene seeds 1-8, and 1-4 without new buildings: five of the twelve draws marked
1.9-24 % of 30-36 % flooded, Kappa 0.06-0.80, and are mapped at 0.885-0.945; two more go 0.898 -> 0.941 and
0.938 -> 0.943; four were mapped by the search already, their first pass finding nothing; one is as it was;
build/exp40/, prior mode, block grid). On the eight shared pairs, their unchanged squares and 104 crops and the
generated stress scenes (scene seeds 1-2), no map changes: the 23 weak scenes among them that now take the
search find at most 0.76 of a share left out (urban-optical's ninth 3-22: 0.31 at s = 0.4, then 0.23 at 0.31; the
generated wide flood of scene seed 1, 0.75), where the passes kept on the floods find 0.86-1.0 of theirs.
AGREEMENT stays: it lies in that interval.
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


@dataclass(frozen=True)
class CrowdedSearch:
    """What the search tried, (share left out, share marked) per pass, and the pass kept (None: none agreed)."""

    tried: tuple[tuple[float, float], ...] = ()
    kept: Optional[CrowdedChange] = None


def self_consistent(maps: PriorMaps, marked: Callable[[PriorMaps], float]) -> CrowdedSearch:
    """The search for a self-consistent second pass of a prior whose first found no change, or change on weak evidence.

    The first share tried is the middle of [LEAST, MOST]; each next one is the share the last pass marked (within
    [LEAST, MOST]), until it settles; the last pass that marked at least AGREEMENT of its share is kept. A pass
    marking under AGREEMENT × LEAST ends the search: less change than that does not crowd the scene, and a
    smaller share would find no more (one pass, on most scenes without change).
    marked: the share of the valid scene the run's decision marks changed on a prior's maps (0 where it finds
    no significant change). LEAST and AGREEMENT are read at each call, so a benchmark can vary them. Nothing is
    tried for a prior without a second pass (maps.crowded is None)."""
    least, agreement = LEAST, AGREEMENT
    if maps.crowded is None:
        return CrowdedSearch()
    kept, share, tried = None, (least + MOST) / 2, []
    for _ in range(ROUNDS):
        second = maps.crowded(share)
        found = marked(second)
        tried.append((share, found))
        if found >= agreement * share:
            kept = CrowdedChange(share, found, second)
        settled = min(MOST, max(least, found))
        if found < agreement * least or abs(settled - share) < SETTLED:
            break
        share = settled
    return CrowdedSearch(tuple(tried), kept)
