"""Whether the pair shows any change at all, and the least evidence a changed place must have.

A threshold chosen on the histogram of the difference image (Otsu's, Kittler's) always splits it in
two, so on a scene where nothing changed, or almost nothing, it cuts through the unchanged places
(measured on the project's generated scenes: 13–27 % of an unchanged scene and 24–44 % of a scene
with 1 % change marked changed). The histogram cannot tell, but the structural prior can: it is
built from disagreements that are each divided by their scene's median, so "n times the scene's
typical disagreement" means the same on every pair, whatever the sensors.

Measured with the structural prior (seeds 0–5): the prior's top (its 0.995 quantile; the prior is
clipped there) is 4.0–15× its median on the eight shared pairs, 6–8× on generated scenes with 5–12 %
change, 2.6–2.8× on a generated scene with 1 % change and 1.9–2.0× on an unchanged one (the
prior of release 0.5; with 0.8.0's, 600² scenes of seeds 0–5: 1 % change 2.08–2.75, unchanged
1.76–2.09, two optical sensors unchanged 1.98–2.27, SAR pair unchanged 1.45–1.51). So:
- a place is marked changed only where the prior is at least EVIDENCE_FLOOR times its median: the
  largest floor that changes no decision on any shared pair (prior mode, seeds 0–1: floors 0, 1.25,
  1.5 and 1.75 give the same Kappa on all eight; 2.0 costs sar-enl-10, 18 % changed, 0.065). On the
  generated scene with 1 % change it raises Kappa from 0.07 to 0.62 (2.0 would give 0.83), and it
  leaves 1.1 % of the unchanged scene (28 % without it) before the verdict below empties it;
- the pair shows no significant change when its top stays below NO_CHANGE_PEAK times the median,
  between the unchanged scene's 2.0 and the 1 %-change scene's 2.6 as then measured; the change layer then marks
  only compact groups of places above that line, if any (decision.local_change: change over under
  0.5 % of a scene), and the run says so.
These are facts about generated scenes, not about every sensor: a real unchanged pair whose prior
reaches 2.3× its median somewhere is reported as changed there. With today's prior the two kinds
overlap (1 % change from 2.08×, unchanged up to 2.27×, and the shared pairs' unchanged squares up to
2.34×), so no line serves both: at 2.3 one of six 1 %-change scenes is reported unchanged, at 2.45
four would be, and the real changed pairs all peak at 3.2× or more.

Change found on a peak under WEAK_PEAK is reported as weak evidence, so that the analyst checks the
marked places before relying on them: measured on the prior before its clipping (release 0.9.1,
`build/exp15/tails.py`), generated unchanged scenes reach 3.0–3.7× when the radar image is finer than
the optical one (5 m against 10 m), generated scenes with 0.4–1.1 % change peak at 2.0–4.3×, and the
eight shared pairs at 4.3× (urban-optical) to 9.8× (bench-accuracy, seeds 0–3). WEAK_PEAK is a round
value between the highest generated unchanged scene (3.7×) and the lowest shared pair; it changes no
map. Of the shared pairs' unchanged squares that are reported changed, urban-optical's (2.7–2.9×) is
called weak, shuguang's and yellowriver's (5.4–7.5×) are not. A weak peak whose places above the
no-change line form no compact group at all is scattered disagreement, as on unchanged land: such a
scene is reported without significant change (`scattered`; decision.local_change).

A scene reported without significant change whose images allow a log-ratio (one band each, holding
intensities) says so when that log-ratio spreads wider than SPREAD_LINE (its 0.9 quantile over its
median; labels.direct_comparison.direct_spread): measured on the shared SAR pairs' quarter and
ninth crops (`build/exp18`, seed 0), the structural prior reports no significant change on ten
crops where 4.5–28 % changed alike (its top only 1.4–1.9× its median, though it ranks the change at
AUC 0.97–0.99 on six), and their log-ratio spreads 3.0–4.6, against 1.8–2.6 on the SAR crops, squares
and generated SAR scenes without change (2.44: speckle alone). One optical band against a NIR or SAR
band spreads 2.3–2.8 on italy's and shuguang's crops without change, and further where two sensors
see the land differently, so it changes no map; the verdict tells the analyst who knows both images
are radar images. SPREAD_LINE is the middle of that gap (2.62 to 3.02). Chosen leave-one-pair-out
instead (the 31 scenes reported unchanged that have a log-ratio, to be flagged when 3 % or more
changed; each fold takes the middle of its best interval), the folds pick 2.78–3.01 and every
held-out scene is on its side but two of sar-enl-10's (69 % changed, spread 2.22; 3.1 %, 2.56).

Since release 0.11.1 such a scene is mapped from its log-ratio when the analyst says the two images are
of one kind (RunParams.one_kind, ONE_KIND) and the structural prior, too weak to label, still ranks the
log-ratio's own two classes (Otsu's split against its lower half) the same way, at AUC REVERSE_AGREEMENT
or more (labels.direct_comparison.change_alike; the verdict says so, `alike` in stats.json). Measured on
the crops (`build/exp21/lr_crops.py`, `alike_eval.py`, `alike_x.py`; prior mode, seed 0): the
changed-alike SAR crops give 0.69–1.00, the unchanged crop of two optical sensors whose log-ratio spreads
2.83 gives 0.55, the SAR-against-panchromatic crops of yellowriver whose log-ratio spreads 3–11× give
0.02–0.27; REVERSE_AGREEMENT = 0.6 lies in every leave-one-pair-out fold's gap (the middles 0.59–0.66).
With ONE_KIND, ten crops of sar-enl-10 and -13 with 4.9–28 % changed go from nothing marked (Kappa 0) to
0.71–0.90 (mean 0.81; int8 0.71–0.90), and no crop without change, unchanged square or generated
unchanged scene is touched. Not unasked: one optical band against a NIR or SAR band (italy's and
shuguang's crops without change) spreads up to 2.79, a hair under the line, and there the prior ranks the
log-ratio's classes at 0.51–0.98, as on the changed radar crops, so nothing but the analyst's word
tells such a pair from two radar images.

Two multispectral images are also asked about IR-MAD's canonical difference where their log-ratio
does not spread past its line, or where they allow none (bands that differ in number;
labels.direct_comparison.Measures.spreads); it has its own scale (a χ² of the MAD variates) and line,
CANONICAL_SPREAD_LINE (release 0.14.0). A fire over a third of a scene's forest between two
optical sensors (the generator's `optical-pair-fire`) is such change of one kind: the char is a class of
its own in the second image whose members were all forest in the first, so the structural prior's backward
direction sees nothing and the scene is reported unchanged (Kappa 0 at 5–10 % burnt), while the canonical
difference ranks the scar at AUC 0.997. Measured (`build/exp34/alike_canon.py`, prior mode, ONE_KIND, run
seed 0): the fires the structural prior reports unchanged spread 5.44–8.25 (600², scene seeds 0–9, and
1000², seeds 0–2; smaller fires, 2–4 % of the scene, are found by the structural prior itself), generated
unchanged pairs of two optical sensors a season apart 4.15–4.65 (600² seeds 0–9, 1000² seeds 0–1), and the
one part of the real urban-optical pair that the structural prior reports unchanged 4.64 (0.4 % changed);
one sensor twice (`same-sensor-*`), whose log-ratio the fires spread only 2.7× (under SPREAD_LINE), fires
5.23–8.34 and unchanged 4.02–4.52 (600², seeds 0–9). 5.0 lies inside every leave-one-scene-out fold's gap
over these 37 scenes (4.64–4.65 to 5.23–5.40), and there ONE_KIND maps the fires at Kappa 0.82–0.94 (best
single threshold 0.82–0.94). The prior's agreement with the measure's classes does not guard this line:
unchanged pairs give 0.75–0.91, fires 0.90–0.99. Hence not unasked either: the verdict names the spread and
asks the analyst who knows both images are optical.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Optional

import numpy as np

from ..errors import InputError
from ..i18n import tr

EVIDENCE_FLOOR = 1.75
NO_CHANGE_PEAK = 2.3
WEAK_PEAK = 4.0
SPREAD_LINE = 2.8              # the log-ratio's (module notes)
CANONICAL_SPREAD_LINE = 5.0    # IR-MAD's canonical difference's (module notes)
SPREAD_LINES = {"log_ratio": SPREAD_LINE, "canonical_difference": CANONICAL_SPREAD_LINE}
PEAK_QUANTILE = 0.995


@dataclass(frozen=True)
class Evidence:
    """The prior's own scale and what it says about the whole scene."""

    median: float        # the prior's median over valid cells: its unit
    peak: float          # the PEAK_QUANTILE of prior / median (inf: a zero median under real disagreement)
    floor: float         # prior value below which no place is changed (floor_ratio × median)
    significant: bool    # peak ≥ no_change_peak
    floor_ratio: float = EVIDENCE_FLOOR
    no_change_peak: float = NO_CHANGE_PEAK
    weak_peak: float = WEAK_PEAK
    groups: int = 0      # compact groups above the line the map is confined to (decision.local_change); 0: not confined
    group_share: float = 0.0
    scattered: bool = False   # a weak peak above the line, but no compact group there: taken as no change
    direct_spread: Optional[float] = None   # without significant change: a direct measure's q0.9 / median, if any
    spread_measure: Optional[str] = None    # which (labels.direct_comparison.direct_spread)
    spread_line: float = SPREAD_LINE        # that measure's line (SPREAD_LINES)
    alike: Optional[float] = None   # mapped from that measure instead: the structural prior's agreement with it
    one_kind: bool = False   # the analyst said both images are of one kind (ONE_KIND): the measure was tried
    crowded: Optional[float] = None   # mapped from a second pass leaving out this share (labels.crowded_change)
    crowded_tried: tuple[tuple[float, float], ...] = ()   # its passes: (share left out, share marked) each
    # With significant change: a direct measure that joined the prior spreads this far (its q0.9 / median), past its
    # line, where the map would be confined to compact groups or scattered; ONE_KIND then leaves it unconfined
    # (stages.prior._confined_or_not), without it the verdict names the option.
    joined_spread: Optional[float] = None
    joined_measure: Optional[str] = None
    # An AOI seen among the ground around it (stages.within_aoi): the evidence is of the AOI and that ground together,
    # which an AOI of unchanged land beside change would otherwise be told is "change found"; `within` is the share of
    # the AOI its change layer marks (stages.marked_within), given with the verdict.
    aoi: bool = False
    within: Optional[float] = None
    # T2 is T1 with each band rescaled (labels.rescaled_copy): the largest residual, in units of a band's spread.
    rescaled_copy: Optional[float] = None

    def with_spread(self, measure: str, spread: float, alike: Optional[float] = None) -> Evidence:
        """This evidence with a direct measure's spread (and, where the map was made from it, the agreement)."""
        return replace(self, direct_spread=spread, spread_measure=measure, spread_line=SPREAD_LINES[measure],
                       alike=alike)

    @property
    def wide_spread(self) -> bool:
        """No significant change found, but a direct measure spreads as much change alike does (module notes)."""
        return (not self.significant and self.direct_spread is not None
                and self.direct_spread >= self.spread_line)

    @property
    def found(self) -> bool:
        """Whether any place is marked changed: significant change, or compact groups in a scene without it."""
        return self.significant or self.groups > 0

    @property
    def weak(self) -> bool:
        """Change found, but on a peak that an unchanged scene can reach (module notes)."""
        return self.found and self.peak < self.weak_peak

    def verdict(self) -> str:
        """One or two sentences for the log, stats.json and the dock; with an AOI, what of it lies within."""
        return self._compared() if self.within is None else self._compared() + " " + within_note(self.within)

    def _compared(self) -> str:
        """The verdict on the ground compared (the scene, or an AOI and the ground around it)."""
        if self.rescaled_copy is not None:
            return tr("No significant change: T2 is T1 with each band rescaled (to within {percent:.2g} % of a band's "
                      "spread everywhere), the same image rather than two looks at the scene. Check that T2 is the "
                      "image you meant.", percent=max(100 * self.rescaled_copy, 0.001))
        if self.alike is None and not self.wide_spread:
            return self._verdict()
        from ..labels.direct_comparison import measure_label  # labels reads this module: imported when asked
        measure = measure_label(self.spread_measure or "log_ratio")
        if self.spread_measure == "canonical_difference":
            calm = tr("two optical images without change give 4.0–4.7×")
            kinds = tr("two optical images, whatever their sensors")
            why = tr("Its line was measured on generated scenes and on one real pair of two optical sensors only, "
                     "which is why this is not done unasked.")
        else:
            calm = tr("speckle alone gives about 2.4×")
            kinds = tr("two radar images, or one sensor twice")
            why = tr("Images of two different sensors spread this wide without any change, which is why this is not "
                     "done unasked.")
        if self.alike is not None:
            return tr("The structural prior found no significant change, but the two images' {measure} spreads "
                      "{spread:.1f}× its median ({calm}) and the prior ranks the {measure}'s two classes the same "
                      "way (AUC {agreement:.2f}), as two images of one kind with much change of one kind do: the "
                      "change is mapped from the {measure}.", measure=measure, spread=self.direct_spread,
                      calm=calm, agreement=self.alike) + " " + self._verdict()
        if self.one_kind:   # asked, and the structural prior did not rank the measure's classes alike
            return self._verdict() + " " + tr(
                "The two images, of one kind as ONE_KIND says, have a {measure} whose 0.9 quantile is {spread:.1f}× "
                "its median ({calm}), as much change of one kind gives, but the structural prior does not rank its "
                "two classes the same way, so the change is not mapped from it: the difference image still ranks "
                "every place.", measure=measure, spread=self.direct_spread, calm=calm)
        return self._verdict() + " " + tr(
            "But if the two images are of one kind ({kinds}), their {measure} disagrees: its 0.9 quantile is "
            "{spread:.1f}× its median ({calm}), so much of the scene may have changed alike, which the structural "
            "prior cannot show. Check the two images; if so, run again with ONE_KIND (both images of one kind): "
            "the change is then mapped from the {measure}, where this run's difference image only ranks it. {why}",
            kinds=kinds, measure=measure, spread=self.direct_spread, calm=calm, why=why)

    def _verdict(self) -> str:
        """The scene's verdict, and where it holds no significant change, what the second passes tried found."""
        if self.significant or not self.crowded_tried:
            return self._scene_verdict()
        share, marked = max(self.crowded_tried, key=lambda pass_: pass_[1])
        return self._scene_verdict() + " " + tr(
            "Computed again as if {share:.0f} % of the scene had changed alike (those places left out of its "
            "graph), the prior marked {marked:.1f} % changed, where change crowding a scene is found again at about "
            "the share left out: no sign of it here. If the area was drawn or cropped tight around the change, so "
            "that change covers about half of it or more, there is too little unchanged ground left to measure the "
            "change against (the prior ranks places against the area's own typical one): include more unchanged "
            "ground around it and run again.", share=100 * share, marked=100 * marked)

    def _scene_verdict(self) -> str:
        if self.significant:
            found = "" if self.crowded is None else tr(
                "The prior's first pass showed little or no contrast; computed again with the {percent:.0f} % most "
                "changed places left out of its graph, it marked about as much changed: change over much of the "
                "scene, such as an AOI drawn around a flood.", percent=100 * self.crowded) + " "
            found += tr("Change found: the most disagreeing 0.5 % of the scene is {peak:.1f}× the scene's "
                       "typical disagreement between the two images (no change below {no_change_peak:g}×); "
                       "places below {floor_ratio:g}× are never marked changed.", peak=self.peak,
                       no_change_peak=self.no_change_peak, floor_ratio=self.floor_ratio)
            if self.weak:
                found += " " + tr(
                    "The evidence is weak (under {weak_peak:g}×): unchanged scenes have reached this much, for "
                    "instance two optical images a season apart or a radar image finer than the optical one given "
                    "as an 8-bit rendering, so check the marked places against the two images before relying on "
                    "them.", weak_peak=self.weak_peak)
            if self.groups:
                found += " " + tr(
                    "Only {groups} compact group(s) of places above {no_change_peak:g}× ({percent:.2f} % of the "
                    "scene) are marked: the change is confined to such groups, while scattered places above the "
                    "cut are what unchanged land shows too.", groups=self.groups,
                    no_change_peak=self.no_change_peak, percent=100 * self.group_share)
            return found + self._joined_note()
        if self.groups:
            return tr("No significant change over the scene as a whole: its most disagreeing 0.5 % is only {peak:.1f}× "
                      "the scene's typical disagreement between the two images (a change shows at least "
                      "{no_change_peak:g}×). But {groups} compact group(s) of places ({percent:.2f} % of the scene) "
                      "all disagree more than that, which an unchanged scene's scattered places do not: they are "
                      "marked changed. The evidence is weak: check them against the two images before relying on "
                      "them.", peak=self.peak, no_change_peak=self.no_change_peak, groups=self.groups,
                      percent=100 * self.group_share)
        if self.scattered:
            return tr("No significant change: the most disagreeing 0.5 % of the scene is {peak:.1f}× the scene's "
                      "typical disagreement between the two images, over the no-change line ({no_change_peak:g}×) "
                      "but under the {weak_peak:g}× of clear change, and no compact group of places stands above "
                      "that line: scattered disagreement like this is what unchanged land shows, so the prior "
                      "marks no place changed. Weak change broken into small pieces can look like this too: the "
                      "difference image still ranks every place, and a manual threshold marks the highest.",
                      peak=self.peak, no_change_peak=self.no_change_peak,
                      weak_peak=self.weak_peak) + self._joined_note()
        return tr("No significant change: even the most disagreeing 0.5 % of the scene is only {peak:.1f}× "
                  "the scene's typical disagreement between the two images (a change shows at least "
                  "{no_change_peak:g}×), so the prior marks no place changed. Weak change over under 1 % of a "
                  "scene can look like this, and so can one kind of change over a quarter of it or more, "
                  "where the changed places are each other's neighbours, if computing the prior again without "
                  "the most changed of them did not confirm it (measured on generated scenes): the difference "
                  "image still ranks "
                  "every place, and a manual threshold marks the highest.", peak=self.peak,
                  no_change_peak=self.no_change_peak)

    def _joined_note(self) -> str:
        """Where a joined direct measure spreads past its line but the map is confined to compact groups (or
        scattered): what ONE_KIND would do, or, with it, that it did."""
        if self.joined_spread is None or self.joined_measure is None:
            return ""
        from ..labels.direct_comparison import measure_label  # labels reads this module: imported when asked
        words = dict(measure=measure_label(self.joined_measure), spread=self.joined_spread,
                     line=SPREAD_LINES[self.joined_measure])
        if self.one_kind:
            return " " + tr("The map is not confined to compact groups: the images are of one kind (ONE_KIND) and "
                            "their {measure}, which agrees with the prior, spreads {spread:.1f}× its median, past "
                            "the {line:g}× that unchanged pairs of one kind stay under.", **words)
        return " " + tr("But the {measure}, which agrees with the prior, spreads {spread:.1f}× its median, past the "
                        "{line:g}× that unchanged pairs of one kind stay under: if both images are of one kind (two "
                        "optical images, two radar images), run again with ONE_KIND, and change broken into many "
                        "small places (collapsed buildings) is mapped without being confined to compact groups.",
                        **words)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["peak"] = None if not np.isfinite(self.peak) else round(self.peak, 4)
        values["median"], values["floor"] = round(self.median, 6), round(self.floor, 6)
        values["group_share"] = round(self.group_share, 6)
        values["crowded_tried"] = [[round(share, 4), round(marked, 4)] for share, marked in self.crowded_tried]
        if self.direct_spread is not None:
            values["direct_spread"] = round(self.direct_spread, 4)
        if self.alike is not None:
            values["alike"] = round(self.alike, 4)
        if self.joined_spread is not None:
            values["joined_spread"] = round(self.joined_spread, 4)
        return {**values, "weak": self.weak, "wide_spread": self.wide_spread, "verdict": self.verdict()}


def within_note(within: float) -> str:
    """With an AOI (Evidence.aoi): that the verdict's figures are of the ground compared, and how much of the AOI the
    change layer marks (unrounded: one pixel of a large AOI is not nothing)."""
    if within <= 0:
        return tr("The verdict's figures are of the area of interest and the ground around it that it is compared "
                  "with; the change layer marks nothing within the area of interest.")
    share = tr("under 0.01 %") if within < 1e-4 else tr("{percent:.2f} %", percent=100 * within)
    return tr("The verdict's figures are of the area of interest and the ground around it that it is compared with; "
              "the change layer marks {share} of the area of interest.", share=share)


def verdict_word(evidence: Optional[dict]) -> Optional[str]:
    """A run's verdict (stats.json's `evidence`) in a word: "none" (no significant change, nothing
    marked; with an AOI, none of it within), "weak" or "change"; None for statistics written without one."""
    if not evidence or "significant" not in evidence:
        return None
    if not evidence["significant"] and not evidence.get("groups") or evidence.get("within") == 0:
        return "none"
    return "weak" if evidence.get("weak") else "change"


def no_change_made_the_map(evidence: Optional[dict]) -> bool:
    """Whether the map is empty because no significant change was found: not where a manual threshold (or one tried
    after the run) made it, which marks what lies above it whatever the evidence (stats.json `applied`)."""
    return verdict_word(evidence) == "none" and evidence.get("applied") is not False


def found_around_only(evidence: Optional[dict]) -> bool:
    """Whether an AOI's run found change on the ground around the AOI and marked none of it within (marked_within):
    its verdict is "none" for the AOI, which the dock says as such, not as a scene without change."""
    return bool(evidence) and evidence.get("within") == 0 and bool(evidence.get("significant") or
                                                                    evidence.get("groups"))


def weigh_evidence(prior: np.ndarray, floor_ratio: float | None = None,
                   no_change_peak: float | None = None) -> Evidence:
    """Evidence of change in a prior on its block grid (NaN where invalid); the ratios default to the
    module's EVIDENCE_FLOOR and NO_CHANGE_PEAK (read at each call, so a benchmark can vary them)."""
    floor_ratio = EVIDENCE_FLOOR if floor_ratio is None else floor_ratio
    no_change_peak = NO_CHANGE_PEAK if no_change_peak is None else no_change_peak
    values = np.asarray(prior, np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise InputError(tr("The prior holds no valid cell to weigh the evidence of change on."))
    median = float(np.median(values))
    top = float(np.quantile(values, PEAK_QUANTILE))
    if median > 0:
        peak = top / median
    else:   # more than half the scene agrees perfectly: an identical pair, or a changed rest
        peak = float("inf") if top > 0 else 0.0
    return Evidence(median=median, peak=peak, floor=floor_ratio * median, significant=peak >= no_change_peak,
                    floor_ratio=floor_ratio, no_change_peak=no_change_peak)
