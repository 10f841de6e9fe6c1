"""The direct comparison of two images of one kind, and whether a pair is such a pair.

Two SAR images (with different numbers of looks), or two optical images, can be compared value
against value: the log-ratio of local means is the classic SAR change measure, and IR-MAD's canonical
difference (labels.canonical_difference) the classic one between two multispectral sensors. Where
such a measure is valid it sees changes that keep an area's structure (a shoal turned to water beside
water, a roof on a parcel among roofs) better than the structural prior, which compares
neighbourhoods only. Across sensors it is meaningless (SAR against optical: dark water is not dark in
both), and the band count does not tell which pairs are of one kind (yellowriver is one SAR band
against one panchromatic band).

So the pair is asked: a measure is used only where it **agrees with the prior (structural or affinity)
on the prior's own confident places** (its AUC separating the places the prior labels changed from
those it labels unchanged, `AGREEMENT`); of the measures the pair allows, the one that agrees most.
Then the prior becomes the geometric mean of itself and the measure mapped by rank onto the prior's
own values (so the prior's scale, its evidence floor and its cut keep their meaning), and a change
must be seen by both.

Measured on the eight shared pairs (prior mode, seeds 0–1): the log-ratio's agreement is 0.98–1.00
on the four SAR-against-SAR pairs, 0.73 on the two optical sensors of urban-optical and 0.74 on SAR
against panchromatic optical (yellowriver), whose log-ratio ranks worse than chance or close to it
(AUC against the reference 0.55 and 0.76). The canonical difference, which needs two bands on each
side, agrees at 0.96 on urban-optical (AUC 0.91 against the reference). `AGREEMENT` and `RADIUS`
were chosen leave-one-pair-out for the log-ratio (bench/RESULTS.md); the canonical difference takes the same.

Where the structural prior finds no significant change at all and the analyst says both images are of
one kind, the test runs the other way round (`change_alike`): much change of one kind between two radar
images is invisible to the structural prior but plain in the log-ratio, which then becomes the prior
(decision.evidence's notes); between two multispectral images, whose log-ratio allows none or does not
show it, the canonical difference does (a fire over a third of the forest: its char is a class of its
own, which no place of the first image's forest resembles in the second).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Optional

import numpy as np

from ..decision.threshold import otsu
from ..i18n import tr
from ..metrics import auc
from ..normalise import holds_intensity, log_floor, reads_as_decibels
from .blocks import local_mean
from .canonical_difference import canonical_difference, shared_pairs
from .margins import CHANGED, UNCHANGED

AGREEMENT = 0.95    # least AUC of a measure on the prior's confident labels for it to be used
# Within this much of AGREEMENT the map's choice is a coin-flip and the run says so: the agreement moves
# with the seed's anchors (sar-enl-11 0.956–0.977 over seeds 0–3) and with the scene: a nodata square over
# 1.4 % of urban-optical (a cloud mask) took seed 0's from 0.960 to 0.945, and its map from Kappa 0.715
# without the canonical difference's help to 0.609 (`build/exp25/holes.py`). Not chosen on the pairs: it
# decides no map, only a sentence and `near_line` in stats.json (the veto share's NEAR_LINE alike).
NEAR_AGREEMENT = 0.015
RADIUS = 1          # cells: a measure compares (2·RADIUS + 1)² local means
MIN_LABELLED = 16   # fewer confident places of either class: no verdict on the pair
REVERSE_AGREEMENT = 0.6   # least AUC of a weak structural prior on the alike measure's own classes (change_alike)


def log_ratio(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray) -> Optional[np.ndarray]:
    """|mean log T2 − mean log T1| over each cell's square of cells, each band's scene median removed (a
    calibration or gain difference between the sensors), averaged over bands; NaN where invalid.

    x1, x2: raw block means (bands, h, w) in the images' own units: intensities, or decibels (SAR as
    SNAP or Earth Engine deliver it; the block mean of decibels is the log of the intensities'
    geometric mean, which the median removal puts on the other image's footing). None when the two
    cannot be compared value against value: different band counts, or a band that is neither (negative
    values outside the decibel range). RADIUS is read at each call, so a benchmark can vary it."""
    radius = RADIUS
    if x1.shape[0] != x2.shape[0] or not valid.any():
        return None
    ok = valid & np.isfinite(x1).all(axis=0) & np.isfinite(x2).all(axis=0)
    logs = [[_log_intensity(band, ok) for band in x] for x in (x1, x2)]
    if any(log is None for bands in logs for log in bands):
        return None
    measure = np.zeros(valid.shape, np.float64)
    for log1, log2 in zip(*logs):
        difference = local_mean(log2, ok, radius) - local_mean(log1, ok, radius)
        measure += np.abs(difference - np.median(difference[ok]))
    return np.where(ok, measure / x1.shape[0], np.nan).astype(np.float32)


def _log_intensity(band: np.ndarray, ok: np.ndarray) -> Optional[np.ndarray]:
    """Natural log of the intensity a band holds, from its floor up (normalise.log_floor), 0 where invalid:
    the band itself when it holds an intensity (normalise.holds_intensity), 10^(dB/10) when it reads as
    decibels, else None."""
    values = band[ok]
    if values.size and not holds_intensity(values):
        if not reads_as_decibels(values):
            return None
        band = 10.0 ** (band / 10.0)
        values = band[ok]
    return np.where(ok, np.log(np.maximum(band, log_floor(values))), 0.0)


ALIKE_MEASURES = ("log_ratio", "canonical_difference")   # asked in this order of a scene reported unchanged


@dataclass(frozen=True)
class Measures:
    """The direct measures a pair allows, by name ("log_ratio", "canonical_difference"), and why there are
    none where there are none."""

    by_name: dict[str, np.ndarray]
    refusal: Optional[str] = None            # "bands", "values" or "shared" when by_name is empty
    correlations: tuple[float, ...] = ()     # IR-MAD's canonical correlations, where it ran

    @cached_property
    def spreads(self) -> list[tuple[str, float]]:
        """Each measure of ALIKE_MEASURES the pair allows, with its 0.9 quantile over its median; computed once
        a run, though both change_alike and the verdict (direct_spread) ask for it.

        Two images of one scene by one kind of sensor differ by speckle alone, whose log-ratio less its
        median is about normal: its absolute value is half-normal, 0.9 quantile over median 1.645 / 0.674 =
        2.44. The canonical difference of two optical images is a χ² of their MAD variates, which seasons and
        sensor noise widen (generated unchanged pairs 4.0–4.7). Much change alike widens either; so do two
        sensors that see the land differently, which this figure cannot tell apart (decision.evidence)."""
        spreads = []
        for name in ALIKE_MEASURES:
            values = self.by_name.get(name)
            spread = None if values is None else _spread(values[np.isfinite(values)])
            if spread is not None:
                spreads.append((name, spread))
        return spreads


def direct_measures(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray) -> Measures:
    """The direct measures the pair allows, from raw block means (bands, h, w). Two single bands may be
    compared by their log-ratio (the agreement test then asks whether they measure the same thing);
    images with more bands only if they share at least two pairs of band combinations where nothing
    changed (labels.canonical_difference: two multispectral sensors do, a SAR or NIR band rendered in
    three channels and an optical image do not, and band by band neither would compare)."""
    if x1.shape[0] == 1 and x2.shape[0] == 1:
        ratio = log_ratio(x1, x2, valid)
        return Measures({}, "values") if ratio is None else Measures({"log_ratio": ratio})
    canonical = canonical_difference(x1, x2, valid, RADIUS)
    if canonical.statistic is None:
        return Measures({}, "shared" if canonical.correlations else "bands", canonical.correlations)
    ratio = log_ratio(x1, x2, valid)
    measures = {"canonical_difference": canonical.statistic, **({} if ratio is None else {"log_ratio": ratio})}
    return Measures(measures, correlations=canonical.correlations)


def direct_spread(measures: Measures, spread_lines: dict[str, float]) -> Optional[tuple[str, float]]:
    """The measure a scene reported unchanged is described by, and its spread: the first of `Measures.spreads`
    that reaches its line in `spread_lines` (decision.evidence.SPREAD_LINES), else the first; None without any."""
    spreads = measures.spreads
    return next((s for s in spreads if s[1] >= spread_lines[s[0]]), spreads[0] if spreads else None)


def joined_spread(direct: DirectComparison, measures: Measures,
                  spread_lines: dict[str, float]) -> Optional[tuple[str, float]]:
    """The measure that joined the prior (`compare_directly`) and its spread, where that spread reaches its line in
    `spread_lines` (decision.evidence.SPREAD_LINES: what two unchanged images of one kind stay under); None
    otherwise. Such a scene's change is seen by two measures that agree, one of which no unchanged pair of one kind
    spreads as far (stages.prior._confined_or_not: ONE_KIND then lifts the confinement to compact groups)."""
    if not direct.used or direct.alone or direct.measure is None:
        return None
    spread = dict(measures.spreads).get(direct.measure)
    return (direct.measure, spread) if spread is not None and spread >= spread_lines[direct.measure] else None


def _spread(values: np.ndarray) -> Optional[float]:
    """The 0.9 quantile of the values over their median (None without a positive median)."""
    median = float(np.median(values)) if values.size else 0.0
    return float(np.quantile(values, 0.9)) / median if median > 0 else None


@dataclass(frozen=True)
class ChangeAlike:
    """A scene the structural prior reports unchanged, mapped from a direct measure instead (`change_alike`)."""

    prior: np.ndarray    # the measure in units of its PEAK_QUANTILE (not clipped), NaN where invalid
    spread: float        # the measure's 0.9 quantile over its median
    agreement: float     # AUC of the structural prior on the measure's own two classes
    measure: str         # which: "log_ratio" or "canonical_difference"


def change_alike(prior: np.ndarray, measures: Measures, spread_lines: dict[str, float],
                 peak_quantile: float) -> Optional[ChangeAlike]:
    """A direct measure as the prior of a scene the structural prior finds no significant change in: the first of
    ALIKE_MEASURES the pair allows that spreads at least its line in `spread_lines` (decision.evidence.SPREAD_LINES)
    and whose own two classes (Otsu's split; its lower half as unchanged) the structural prior, weak as it is
    there, ranks the same way, at AUC REVERSE_AGREEMENT or more: the agreement test of
    `compare_directly` the other way round, for a prior too weak to label. None where none does.

    Much change of one kind (a flood over a fifth of two radar images, a fire over a third of the forest
    between two optical sensors) leaves each changed place among changed neighbours, or turns it into a
    class of its own that no other place resembles, so the structural prior sees no change where the
    measure sees it plainly; two sensors that see the land differently spread the log-ratio as wide
    without change, and there the structural prior disagrees with it (module notes of decision.evidence)."""
    least = REVERSE_AGREEMENT
    for name, spread in measures.spreads:
        if spread < spread_lines[name]:
            continue
        measure = measures.by_name[name]
        ok = np.isfinite(measure) & np.isfinite(prior)
        values = measure[ok]
        changed = ok & (measure > otsu(values))
        unchanged = ok & (measure <= np.median(values))
        if changed.sum() < MIN_LABELLED or unchanged.sum() < MIN_LABELLED:
            continue
        keep = changed | unchanged
        agreement = auc(prior[keep], changed[keep])
        if agreement >= least:
            top = float(np.quantile(values, peak_quantile))
            return ChangeAlike(np.where(ok, measure / top, np.nan).astype(np.float32), spread, float(agreement), name)
    return None


def measure_label(name: str) -> str:
    """A measure's name for people."""
    return {"log_ratio": tr("log-ratio"), "canonical_difference": tr("IR-MAD canonical difference")}[name]


@dataclass(frozen=True)
class DirectComparison:
    """The verdict on one pair: the measure that agrees most with the prior, how far, and whether it was
    used; or why no measure could be tried."""

    agreement: Optional[float]   # None: no measure to try (see refusal)
    used: bool
    measure: Optional[str] = None            # the name of the measure the agreement is of
    refusal: Optional[str] = None            # Measures.refusal; "labels": too few confident places; "no change"
    correlations: tuple[float, ...] = ()     # IR-MAD's canonical correlations, where it ran
    alone: bool = False                      # the measure is the prior: change alike (change_alike)

    @property
    def near_line(self) -> bool:
        """Whether the agreement decided by less than NEAR_AGREEMENT whether the measure joined the prior."""
        return self.agreement is not None and not self.alone and abs(self.agreement - AGREEMENT) < NEAR_AGREEMENT

    def note(self) -> str:
        """One or two sentences for the log."""
        said = self._verdict_note()
        if self.near_line:
            said += " " + tr("That agreement is within {near:g} of {least:g}: another SEED, or the scene with a few "
                             "places more or less (a cloud mask), may take the other side. Where it matters, compare "
                             "this map with a run with another SEED.", near=NEAR_AGREEMENT, least=AGREEMENT)
        return said

    def _verdict_note(self) -> str:
        if self.agreement is None or self.measure is None:
            return self._refusal_note()
        if self.alone:
            return tr("Direct comparison ({measure}): used alone; the structural prior found no significant change "
                      "but ranks the measure's two classes the same way (AUC {agreement:.3f}, at least {least:g}), "
                      "so the two images are taken to measure the same thing and much of the scene to have changed "
                      "alike.", measure=measure_label(self.measure), agreement=self.agreement,
                      least=REVERSE_AGREEMENT)
        if self.used:
            return tr("Direct comparison ({measure}): used; it agrees with the prior on the prior's confident "
                      "places (AUC {agreement:.3f}, at least {least:g}), so the two images are taken to "
                      "measure the same thing.", measure=measure_label(self.measure), agreement=self.agreement,
                      least=AGREEMENT)
        return tr("Direct comparison ({measure}): not used; it agrees with the prior on the prior's confident "
                  "places only at AUC {agreement:.3f} (at least {least:g} needed), so the two images are "
                  "taken to measure different things.", measure=measure_label(self.measure),
                  agreement=self.agreement, least=AGREEMENT)

    def _refusal_note(self) -> str:
        if self.refusal == "shared":
            return tr("Direct comparison: not used; where nothing changed the two images share {shared} band "
                      "combination(s) with at least half their variance in common (canonical correlations "
                      "{correlations}), and two are needed, so they do not measure the same things.",
                      shared=shared_pairs(self.correlations),
                      correlations=", ".join(f"{rho:.2f}" for rho in self.correlations))
        if self.refusal == "values":
            return tr("Direct comparison: not used; the images hold values that are neither intensities nor "
                      "decibels (negative values outside the decibel range: differences, indices, elevations), "
                      "so their log-ratio would mean nothing.")
        if self.refusal == "labels":
            return tr("Direct comparison: not used; the prior has too few confident places to test it on.")
        if self.refusal == "no change":
            return tr("Direct comparison: not tried; the pair shows no significant change.")
        return tr("Direct comparison: not used; one image has a single band (or copies of one) and the other "
                  "several, so the two cannot be compared value against value.")

    def to_dict(self) -> dict:
        agreement = None if self.agreement is None else round(self.agreement, 4)
        return {"measure": self.measure, "agreement": agreement,
                "least_agreement": REVERSE_AGREEMENT if self.alone else AGREEMENT, "used": self.used,
                "near_line": self.near_line, "alone": self.alone, "refusal": self.refusal,
                "canonical_correlations": [round(rho, 4) for rho in self.correlations]}


def compare_directly(prior: np.ndarray, measures: Measures,
                     labels: np.ndarray) -> tuple[np.ndarray, DirectComparison]:
    """The prior with the direct measure that agrees most with it folded in, if it agrees enough, and
    the verdict.

    measures: direct_measures' result; labels: the prior's confident places (labels.margins: CHANGED,
    UNCHANGED, else none). The agreement needed, AGREEMENT, is read at each call so a benchmark can vary it."""
    least = AGREEMENT
    correlations = measures.correlations
    if not measures.by_name:
        return prior, DirectComparison(None, False, refusal=measures.refusal, correlations=correlations)
    best: Optional[tuple[float, str]] = None
    for name, measure in measures.by_name.items():
        agreement = _agreement(prior, measure, labels)
        if agreement is not None and (best is None or agreement > best[0]):
            best = (agreement, name)
    if best is None:
        return prior, DirectComparison(None, False, refusal="labels", correlations=correlations)
    agreement, name = best
    if agreement < least:
        return prior, DirectComparison(agreement, False, name, correlations=correlations)
    measure = measures.by_name[name]
    return (_fused(prior, measure, np.isfinite(prior) & np.isfinite(measure)),
            DirectComparison(agreement, True, name, correlations=correlations))


def _agreement(prior: np.ndarray, measure: np.ndarray, labels: np.ndarray) -> Optional[float]:
    """AUC of the measure separating the prior's confident changed places from its unchanged ones; None
    with fewer than MIN_LABELLED of either."""
    ok = np.isfinite(prior) & np.isfinite(measure)
    changed, unchanged = ok & (labels == CHANGED), ok & (labels == UNCHANGED)
    if changed.sum() < MIN_LABELLED or unchanged.sum() < MIN_LABELLED:
        return None
    keep = changed | unchanged
    return auc(measure[keep], changed[keep])


def _fused(prior: np.ndarray, ratio: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Geometric mean of the prior and the measure given the prior's values in the measure's order."""
    ranked = np.empty(int(ok.sum()), np.float32)
    ranked[np.argsort(ratio[ok], kind="stable")] = np.sort(prior[ok])
    out = np.array(prior, np.float32)
    out[ok] = np.sqrt(prior[ok] * ranked)
    return out
