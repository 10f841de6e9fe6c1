"""Whether the network's confirmation is applied: the share of the prior's changed places it vetoes.

With the network the change score is the smaller of the prior's score and the network's P(changed)
(decision.score), so the network can only remove places the prior marks. It is trained on the
prior's surest places, and even where the prior's map is right it disagrees with part of it (the
edges of changes, kinds of change its labels did not show). On the eight shared pairs (int8, seeds
0–3) it vetoed 5–12 % of the prior's changed pixels where the prior was precise (precision
0.82–0.92; the vetoed pixels were truly unchanged in only 34–64 % of cases, and the veto cost up to
0.03 Kappa), and 16–38 % where the prior over-marked (precision 0.41–0.69; vetoes 62–93 % right,
+0.07 to +0.12). A small veto share is the network's own error, a large one a sign that the prior
marked places unlike its sure change. So the veto is applied when it removes at least VETO_MIN of
the prior's changed pixels, and otherwise the prior's score is the result. Where the analyst asked the
network to find more change like their changed samples (decision.score), its map is the result.

VETO_MIN chosen by leave-one-pair-out on the eight pairs (int8, seeds 0–3; measured again in release
0.11.4: mean Kappa 0 (always apply) 0.790, 0.08 0.791, 0.10 0.791, 0.12 0.7917, 0.14 0.7918, 0.16 0.790,
0.2 0.7917, never 0.770; six folds pick 0.14, a tie, sar-enl-10's 0.12 and yellowriver's 0.2; held out
0.790 / 0.686 against 0.792 / 0.686 in-sample).

A network needs examples of change to judge change by. On smaller scenes (the quarters and ninths of
the eight pairs that `make bench-accuracy` cuts, int8, seed 0; release 0.10.1, `build/exp18/vetodump2.py`,
`vetoeval5b.py`, `vetoeval7.py`) its veto, applied by the share above, cost the map on average (mean
Kappa of the crops with change 0.397 against the prior's 0.404; 9 crops up, 16 down), and most of the
loss came where it had learnt change from few pixels: of the 14 crops whose veto share applied it and
whose changed pseudo-labels covered under 1 200 pixels of the grid, the veto cost 11 (urban-optical
−0.13, sar-enl-10 −0.11, others −0.01 to −0.05) and helped 3 (+0.015 to +0.021). So the veto is
applied only where the network's changed pseudo-labels cover at least LEAST_CHANGED_PIXELS. Chosen by
leave-one-pair-out over the whole pairs (seeds 0–3) and their crops together (none, 200, 400, 600, 800,
1 000, 1 200, 1 500, 2 000, 3 000 pixels): six folds pick 1 200, sar-enl-12's 1 500 and italy's 2 000;
held out the pairs keep 0.791 (the pairs' fewest is 1 084 pixels, sar-enl-11's, whose veto share is
under VETO_MIN anyway) and the crops give 0.401 (in-sample 0.403; 0.397 without the gate, 0.404 the
prior's). A count of pixels, not a share: what the network can learn from is the examples it sees, so
the gate acts on small scenes and on very rare sure change, not on an ordinary scene (a 1000² scene
with 1 % of sure change has 10 000).

A network that learnt one kind of change from the prior's surest places rejects another kind whole.
Where the veto helps it trims: the edges of regions it confirms and specks of the prior's heavy tail
(on the eight shared pairs, int8 seeds 0–3, where the veto is applied at most 35 % of the vetoed pixels
lie in regions of the prior's change that the network confirms under WHOLE_SUPPORT of: shuguang's
seed 3; urban-optical 21–24 %, sar-enl-12 13–19 %, yellowriver 4–19 %). On the generated scenes
rendered as the public pairs are (new buildings beside a flood; bench/rendering.py, seeds 0–1) the
network learnt the flood and vetoed 16–24 % of the prior's change, 95–97 % of it truly changed, and
66–82 % of the vetoed pixels in 10 of 12 runs lay in buildings it confirmed nowhere (Kappa 0.54 against
the prior's 0.64; `build/exp30/`). So the veto is not applied where at least WHOLE_MAX of it removes such
regions whole. A right veto can be of whole regions too: on shuguang's largest unchanged square (seed 1)
the prior marks false regions of up to 400 pixels and 51 % of the veto removes them whole (4.0 % of the
square marked without the veto, 2.7 % with it). Every WHOLE_MAX from 0.51 to 0.66 gives the eight pairs,
their crops and unchanged squares and the renderings the same maps; 0.6 lies between the nearest real run
(that square, 0.509) and the nearest rendering (the radar first and misregistered, seed 1: 0.663). The
pairs cannot choose it (no value above 0.35 changes any of their maps); held out, the shuguang fold would
take the others' widest window's middle (about 0.5) and its unchanged square 4.0 % marked. Regions are
counted tile by tile and joined across the tiles' seams (decision.tiled_regions), so no tile size changes a verdict.

Where the veto is applied and under REGION_WHOLE_MAX of it removes whole regions, it is also taken region by
region: a region of the prior's change that the network confirms in under MAJORITY of its pixels is removed whole
(`held`), not left as the specks the network happened to pass. Where its veto is mostly trims and specks, a
network that rejects most of a region has judged the region, and the pixels it passes there were false alarms on
the pairs (sar-enl-12's and yellowriver's: 0–4 % of them changed). Where a fair share of its veto already rejects
regions whole, it learnt one kind of change and meets another, and what it passes of a region is that kind,
trimmed at its edges (the rendered new-buildings scenes: 87–97 % changed; removed whole there, Kappa 0.797 →
0.776). Measured offline (`build/exp33/gated.py`: each prior of seeds 0–3, or 0–1 for the seven stress scenes whose
veto applies, with the three pairs of its three networks): the eight pairs 0.793 → 0.797 (sar-enl-12 +0.016,
yellowriver +0.016, no pair lower), the seven stress scenes 0.781 → 0.782 (the finer radar's 1 % scene +0.009,
new buildings alone −0.001). REGION_WHOLE_MAX chosen by leave-one-scene-out over those fifteen (0, 0.1, 0.15, 0.2,
0.25, 0.3, 0.4, always): every fold picks 0.25, held out 0.790 against 0.787 without the rule and 0.788 with it
everywhere. MAJORITY is not chosen: a half is the network's own line, asked of a region. Not where the analyst
asked the network to find more like their samples: there its own map is the result.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..i18n import tr
from .score import DECISION
from .tiled_regions import TiledRegions

VETO_MIN = 0.12
LEAST_CHANGED_PIXELS = 1200
# Within this much of VETO_MIN the map's choice is a coin-flip and the run says so: the share moves with
# the seed by several points (shuguang 5–25 %), and moved with the CPU for one seed until the structural
# prior's distances were float64 (release 0.11.3: on another machine one of italy's seeds went from at
# least 12 % to at most 9.7 %). A prior that differs in rounding only moves it too (the generated SAR
# pair's seed 0: 18 % → 4 % in 0.11.4). Not chosen on the pairs: it decides no map, only a sentence and
# `near_line` in stats.json; 3 points flag 9 of the bench's 32 shared-pair runs (0.11.4 as 0.11.3).
NEAR_LINE = 0.03
# A region of the prior's change (8-connected) the network confirms in under this share of its pixels is
# rejected whole; the veto is not applied when at least WHOLE_MAX of the vetoed pixels lie in such regions.
# Not chosen: 0.02, 0.05 and 0.1 give the same verdicts on the shared pairs' and the renderings' runs (exp30).
WHOLE_SUPPORT = 0.05
WHOLE_MAX = 0.6
# Within this much of WHOLE_MAX, or of REGION_WHOLE_MAX where regions confirmed in under half would be removed
# whole on one side, the run says another seed may take the other side: seeds move the share by tens of points
# (the rendered default scene: 0.77 and 0.29; urban-optical 0.21–0.29 around REGION_WHOLE_MAX, int8 seeds 0–3).
# Not chosen on the pairs: a sentence, no map.
NEAR_WHOLE = 0.05
# Where the veto is applied and under REGION_WHOLE_MAX of it lies in regions rejected whole, a region of the prior's
# change confirmed in under MAJORITY of its pixels is removed whole (module notes). MAJORITY is not chosen (the
# network's own line, a half); REGION_WHOLE_MAX by leave-one-scene-out (module notes).
MAJORITY = 0.5
REGION_WHOLE_MAX = 0.25
# Where a removed region's pixels are held: just under the decision, so the difference image still ranks them.
HELD = float(np.nextafter(np.float32(DECISION), np.float32(0)))


def added_places(prior_score: np.ndarray, score: np.ndarray, counted: np.ndarray) -> int:
    """How many `counted` pixels the score marks that the prior's score leaves under the decision (the places
    EXTEND_FROM_SAMPLES adds)."""
    return int(np.count_nonzero(counted & ~(prior_score > DECISION) & (score > DECISION)))


@dataclass
class Confirmation:
    """The tally of the prior's changed pixels and of those the network vetoes, tile by tile."""

    marked: int = 0
    vetoed: int = 0
    extended: bool = False   # the analyst asked the network to find more like their changed samples: always applied
    added: int = 0           # places the network marks that the prior leaves under its cut (only when extended)
    changed_pixels: Optional[int] = None   # grid pixels under the network's changed pseudo-labels; None: not known
    regions: TiledRegions = field(default_factory=TiledRegions, repr=False, compare=False)
    _whole: Optional[int] = field(default=None, repr=False, compare=False)   # `whole`, until the next tile
    _removed: Optional[np.ndarray] = field(default=None, repr=False, compare=False)  # per joined region, once asked

    def add(self, prior_score: np.ndarray, score: np.ndarray, counted: np.ndarray,
            at: tuple[int, int] = (0, 0)) -> None:
        """One tile core whose top-left pixel is `at` (row, col) of the grid; counted: the pixels that take
        part (valid, not an analyst's sample)."""
        above = prior_score > DECISION
        marked = counted & above
        vetoed = marked & (score <= DECISION)
        self.marked += int(np.count_nonzero(marked))
        self.vetoed += int(np.count_nonzero(vetoed))
        self.added += added_places(prior_score, score, counted)
        marked, vetoed = np.atleast_2d(marked), np.atleast_2d(vetoed)
        self.regions.add(marked, at, size=marked, confirmed=marked & ~vetoed, vetoed=vetoed)
        self._whole, self._removed = None, None

    @property
    def whole(self) -> int:
        """Vetoed pixels in regions of the prior's change that the network confirms in under WHOLE_SUPPORT."""
        if self._whole is None:
            sums = self.regions.sums() if self.vetoed else None
            self._whole = 0 if sums is None else int(round(
                sums["vetoed"][sums["confirmed"] < WHOLE_SUPPORT * sums["size"]].sum()))
        return self._whole

    @property
    def removed(self) -> np.ndarray:
        """Per joined region: whether the applied veto removes it whole (confirmed in under MAJORITY, yet in part),
        where under REGION_WHOLE_MAX of the veto removes regions whole."""
        if self._removed is None:
            acts = self.applied and not self.extended and self.whole_share < REGION_WHOLE_MAX
            self._removed = self._judged() if acts else np.zeros(0, bool)
        return self._removed

    def _judged(self) -> np.ndarray:
        """Per joined region: confirmed in part, but in under MAJORITY of its pixels (what the region rule removes
        where it acts)."""
        sums = self.regions.sums()
        if not sums:
            return np.zeros(0, bool)
        return (sums["confirmed"] > 0) & (sums["confirmed"] < MAJORITY * sums["size"])

    @property
    def removed_regions(self) -> int:
        return int(np.count_nonzero(self.removed))

    @property
    def removed_pixels(self) -> int:
        """Pixels the network confirmed in the regions removed whole: what the region rule takes beyond the veto."""
        if not self.removed.any():
            return 0
        return int(round(self.regions.sums()["confirmed"][self.removed].sum()))

    def removes_in(self, tile: int) -> bool:
        """Whether the `tile`-th core added holds part of a region removed whole (else `held` leaves it as it is)."""
        return bool(self.removed.any() and self.removed[self.regions.tile_regions(tile)].any())

    def held(self, prior_score: np.ndarray, score: np.ndarray, counted: np.ndarray, tile: int) -> np.ndarray:
        """The `tile`-th core's score (added as the tile-th, with the same prior score and counted pixels) with the
        regions removed whole held just under the decision."""
        if not self.removes_in(tile):
            return score
        ids = self.regions.joined_ids(np.atleast_2d(counted & (prior_score > DECISION)), tile)
        inside = ((ids >= 0) & self.removed[np.maximum(ids, 0)]).reshape(score.shape)
        if not inside.any():
            return score
        return np.where(inside, np.minimum(score, HELD), score).astype(np.float32)

    @property
    def share(self) -> float:
        return self.vetoed / self.marked if self.marked else 0.0

    @property
    def whole_share(self) -> float:
        """The share of the vetoed pixels that lie in regions of the prior's change rejected whole."""
        return self.whole / self.vetoed if self.vetoed else 0.0

    @property
    def rejects_regions(self) -> bool:
        """Whether the veto mostly removes whole regions, a kind of change the network did not learn (notes)."""
        return self.whole_share >= WHOLE_MAX

    @property
    def least(self) -> float:
        return VETO_MIN

    @property
    def least_changed(self) -> int:
        return LEAST_CHANGED_PIXELS

    @property
    def learnt_enough(self) -> bool:
        """Whether the network saw enough of the prior's sure change to judge the rest by (module notes)."""
        return self.changed_pixels is None or self.changed_pixels >= self.least_changed

    @property
    def applied(self) -> bool:
        return self.extended or (self.marked > 0 and self.share >= self.least and self.learnt_enough
                                 and not self.rejects_regions)

    @property
    def near_line(self) -> bool:
        """Whether the veto share, or the share of it in whole regions, decided the map by a hair."""
        return self.near_share_line or self.near_whole_line or self.near_region_line

    @property
    def near_share_line(self) -> bool:
        """Whether the veto share decided the map by less than NEAR_LINE (another seed may not)."""
        return (not self.extended and self.marked > 0 and self.learnt_enough and not self.rejects_regions
                and abs(self.share - self.least) < NEAR_LINE)

    @property
    def near_whole_line(self) -> bool:
        """Whether the share of the veto in whole regions decided the map by less than NEAR_WHOLE."""
        return (not self.extended and self.marked > 0 and self.learnt_enough and self.share >= self.least
                and abs(self.whole_share - WHOLE_MAX) < NEAR_WHOLE)

    @property
    def near_region_line(self) -> bool:
        """Whether the share of the veto in whole regions decided by less than NEAR_WHOLE whether the regions the
        applied veto confirms in under half are removed whole (only where there are such regions)."""
        return (self.applied and not self.extended and abs(self.whole_share - REGION_WHOLE_MAX) < NEAR_WHOLE
                and bool(self._judged().any()))

    def note(self) -> str:
        """What the network's confirmation did to the map, for the log."""
        share = 100 * self.share
        if self.extended:
            said = tr("Finding more like the changed samples: from the evidence floor up the map is the network's "
                      "own; it adds {added} pixel(s) that the prior leaves under its cut and vetoes {share:.1f} % "
                      "of the prior's changed pixels. Check the added places against the two images: where they "
                      "are not change, draw them as unchanged samples and run again.", added=self.added, share=share)
        elif self.applied:
            said = tr("The network confirms the prior: it vetoes {share:.1f} % of the prior's changed pixels "
                      "(at least {least:g} %), and the map keeps what it confirms; the confidence layer is low "
                      "where it overruled a place the prior was sure of.", share=share, least=100 * self.least)
            if self.removed_regions:
                said += " " + tr("It confirms {regions} region(s) of the prior's change in under half their pixels, "
                                 "and those are removed whole ({pixels} pixel(s) it passed there).",
                                 regions=self.removed_regions, pixels=self.removed_pixels)
        elif not self.marked:   # a manual threshold above every place: the network was trained all the same
            said = tr("The network's confirmation was not applied: the prior marks no place changed, so there is "
                      "nothing for it to confirm, and the map is the prior's.")
        elif self.share < self.least:
            said = tr("The network's confirmation was not applied: it vetoes only {share:.1f} % of the prior's "
                      "changed pixels (under {least:g} %, within its own error), so the map is the prior's.",
                      share=share, least=100 * self.least)
        elif not self.learnt_enough:
            said = tr("The network's confirmation was not applied: it vetoes {share:.1f} % of the prior's changed "
                      "pixels, but it learnt change from only {pixels} pixel(s) the prior is sure of (at least "
                      "{least_pixels} needed), too few to judge the rest by, so the map is the prior's.",
                      share=share, pixels=self.changed_pixels, least_pixels=self.least_changed)
        else:
            said = tr("The network's confirmation was not applied: it vetoes {share:.1f} % of the prior's changed "
                      "pixels, but {whole:.0f} % of those lie in regions of the prior's change that it rejects "
                      "whole (at least {most:g} %): it learnt another kind of change from the prior's surest "
                      "places and does not judge this kind, so the map is the prior's.",
                      share=share, whole=100 * self.whole_share, most=100 * WHOLE_MAX)
        if self.near_share_line:
            said += " " + tr("That share is within {near:g} points of {least:g} %: another SEED may take the other "
                             "side.", near=100 * NEAR_LINE, least=100 * self.least)
        if self.near_whole_line:
            said += " " + tr("That share of whole regions is within {near:g} points of {most:g} %: another SEED may "
                             "take the other side.", near=100 * NEAR_WHOLE, most=100 * WHOLE_MAX)
        if self.near_region_line:
            said += " " + tr("That share of whole regions is within {near:g} points of {line:g} %, under which the "
                             "regions it confirms in under half are removed whole: another SEED may take the other "
                             "side.", near=100 * NEAR_WHOLE, line=100 * REGION_WHOLE_MAX)
        if self.near_line:
            said += " " + tr("Where it matters, compare this map with a run in MODE prior (the map without the "
                             "network's veto) or with another SEED.")
        return said

    def to_dict(self) -> dict:
        return {"applied": self.applied, "vetoed_share": round(self.share, 4), "least_share": self.least,
                "prior_changed_pixels": self.marked, "near_line": self.near_line, "extended": self.extended,
                "added_pixels": self.added,
                "changed_label_pixels": self.changed_pixels, "least_changed_label_pixels": self.least_changed,
                "whole_region_share": round(self.whole_share, 4), "most_whole_region_share": WHOLE_MAX,
                "regions_removed_whole": self.removed_regions, "pixels_removed_whole": self.removed_pixels}

