"""The change prior on the block grid and its decision: evidence, a second pass where change crowds the scene, a
direct measure joined, white places, and an AOI's verdict."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Optional

import numpy as np
from scipy import ndimage

from ..decision.cut import Cut
from ..decision.evidence import PEAK_QUANTILE, SPREAD_LINES, Evidence, weigh_evidence, within_note
from ..decision.local_change import LocalChange, local_change
from ..decision.score import Calibration, calibrate
from ..decision.threshold import is_automatic
from ..i18n import tr
from ..labels.crowded_change import CrowdedSearch, self_consistent
from ..labels.direct_comparison import (
    DirectComparison,
    change_alike,
    compare_directly,
    direct_spread,
    joined_spread,
)
from ..labels.margins import margin_labels
from ..labels.one_sided import gated_one_sided
from ..labels.prior import PriorMaps, change_prior
from ..labels.rescaled_copy import rescaled_copy
from ..labels.surroundings import Frame
from ..model.patches import fill_invalid
from ..normalise import Normaliser
from ..params import RunParams
from ..progress import Progress
from ..raster.cloud_mask import NOTE_SHARE, NOTE_WHITE, white_share
from ..raster.grid import TOUCHING
from .blocks import Blocks

if TYPE_CHECKING:
    from .surroundings import Surroundings

PRIOR_DONE = 0.4   # the progress bar at the prior's end: on two cores it takes 40–80 % of an int8 run (bench-scale)


@dataclass(frozen=True)
class PriorResult:
    """The prior on the block grid and what the decision takes from it."""

    block: int
    norm1: Normaliser          # the network reads its pixels through the same normalisers
    norm2: Normaliser
    prior: np.ndarray
    evidence: Evidence
    calibration: Calibration   # where the prior crosses the score's 0.5 (decision.score)
    gated: bool                # the automatic decision applies (evidence floor, no-change verdict); not manual
    direct: DirectComparison   # whether a direct measure of two images of one kind joined the prior
    one_sided: bool = False    # the prior mapped counts change one image's view shows alone (_mapped_prior)
    white_places: Optional[dict] = None   # per optical image, its white share and the marked change's (_white_places)

    @cached_property
    def at_pixels(self) -> np.ndarray:
        """The prior with its empty cells within REACH of a valid one taken from their neighbours: the blocks
        left out as partly covered (raster.align._whole_inside, _whole_edge) hold pixels with data in both
        images, and these get their prior from the blocks beside them when it is brought to the pixels."""
        valid = np.isfinite(self.prior)
        filled = fill_invalid(self.prior[None], valid, steps=REACH)[0]
        near = ndimage.binary_dilation(valid, TOUCHING, iterations=REACH)   # the cells filled
        return np.where(near, filled, np.nan).astype(np.float32)


REACH = 2   # cells: a partly covered block is beside a whole one, or within two of one in a strip two blocks wide


def compute_prior(blocks: Blocks, params: RunParams, progress: Progress) -> PriorResult:
    words = {"sar": tr("sar (a linear intensity, taken to decibels)"),
             "optical": tr("optical (its values as given: reflectances, or radar already in decibels or rendered "
                           "as an image)")}
    progress.info(tr("T1 normalised as {kind1}, T2 as {kind2}; {prior} prior on {size}x{size} block means "
                     "({side}).", kind1=words[blocks.norm1.kind], kind2=words[blocks.norm2.kind], prior=params.prior,
                     size=blocks.size, side=blocks.side))
    report = progress.span(0.05, PRIOR_DONE).throttled(
        lambda percent: tr("Computing the change prior: {percent} %", percent=percent))
    copy = rescaled_copy(blocks.x1, blocks.x2, blocks.valid)
    if copy is None:
        maps = change_prior(blocks.x1, blocks.x2, blocks.valid, method=params.prior, seed=params.seed,
                            check=progress.check, report=report, info=progress.info)
    else:   # the same image: its rounding is no disagreement to rank (labels.rescaled_copy)
        maps = PriorMaps(np.where(blocks.valid, 0.0, np.nan).astype(np.float32))
    (prior, evidence, direct, one_sided), search = _crowded_change(maps, blocks, params, progress)
    if copy is not None:
        evidence = replace(evidence, rescaled_copy=copy)
    alike = (change_alike(prior, blocks.direct, SPREAD_LINES, PEAK_QUANTILE)   # the analyst says both are of one kind
             if params.one_kind and not evidence.significant and copy is None else None)
    if alike is not None:   # much change of one kind, which the structural prior cannot see
        prior, direct = alike.prior, DirectComparison(alike.agreement, True, alike.measure, alone=True)
        evidence = weigh_evidence(prior).with_spread(alike.measure, alike.spread, alike.agreement)
        one_sided = False
        if evidence.significant:
            prior = np.minimum(prior, 1.0)
    if one_sided and evidence.significant:
        progress.info(tr("The prior counts change that only one of the two images shows against the other too (a "
                         "burn scar among forest, new buildings that the optical image hardly tells from fields)."))
    prior, calibration, evidence = _confined_or_not(prior, evidence, joined_spread(direct, blocks.direct, SPREAD_LINES),
                                                    params)
    spread = (direct_spread(blocks.direct, SPREAD_LINES)   # the joined measure, where one spreads, has its own note
              if not evidence.significant and evidence.joined_spread is None and copy is None else None)
    if spread is not None:   # what a direct measure says of a scene reported unchanged (decision.evidence)
        evidence = evidence.with_spread(*spread)
    evidence = replace(evidence, one_kind=params.one_kind, crowded_tried=search.tried)
    progress.info(direct.note())
    gated = is_automatic(params.threshold_method)   # a manual threshold is the analyst's own decision
    progress.info(evidence.verdict() if gated
                  else tr("{verdict} (not applied: manual threshold)", verdict=evidence.verdict()))
    return PriorResult(blocks.size, blocks.norm1, blocks.norm2, prior, evidence, calibration, gated, direct, one_sided)


def white_places(prior: PriorResult, surroundings: Surroundings, progress: Progress) -> PriorResult:
    """The prior with its white places (_white_places) of the scene, or of an AOI: white as the ground around it
    reads it (its levels), counted within the AOI. Counted on the ground, a clouded AOI got no note where the cloud
    around it was left out of that ground (a diamond AOI 63 % cloud, 75 % of its marked change on it: no note)."""
    blocks, frame = surroundings.blocks, surroundings.frame
    if frame is not None:
        blocks = replace(blocks, white=tuple(None if cells is None else frame.within(cells, blocks.valid.shape)
                                             for cells in surroundings.around.white))
    places = _white_places(blocks, prior.prior, prior.calibration, prior.evidence, progress, aoi=frame is not None)
    return replace(prior, white_places=places)


def _white_places(blocks: Blocks, prior: np.ndarray, calibration: Calibration, evidence: Evidence,
                  progress: Progress, aoi: bool = False) -> Optional[dict]:
    """Per optical image of two bands or more (raster.cloud_mask): the share of the overlap (of an AOI: of the AOI)
    white in every band and the share of the change the prior marks that lies there, with a note where either is
    much and the analyst did not have such places left out (cloud is marked as change, or, in both dates, hides it;
    MASK_CLOUDS). None where no image is such an image."""
    cells = {label: white_cells for label, white_cells in zip(("T1", "T2"), blocks.white) if white_cells is not None}
    if not cells:
        return None
    masked = blocks.left_out is not None
    overlap = blocks.valid | blocks.left_out if masked else blocks.valid   # as before any was left out
    marked = (np.isfinite(prior) & (prior >= calibration.cut) if evidence.found
              else np.zeros(prior.shape, bool))
    where = tr("the area of interest") if aoi else tr("the overlap")
    places: dict[str, object] = {"masked": masked, "noted": False}
    for label, white_cells in cells.items():
        white_cells = white_cells & overlap
        share, on_white = float(white_cells.sum() / max(int(overlap.sum()), 1)), white_share(white_cells, marked)
        places[label] = {"white": round(share, 4), "marked_on_white": round(on_white, 4)}
        if masked or (on_white < NOTE_SHARE and share < NOTE_WHITE):
            continue
        places["noted"] = True
        seen = (tr("{percent:.0f} % of the change marked lies on places bright white in every band of {label} "
                   "({white:.1f} % of {where})", percent=100 * on_white, label=label, white=100 * share, where=where)
                if on_white >= NOTE_SHARE else
                tr("{white:.1f} % of {where} is bright white in every band of {label}", white=100 * share,
                   label=label, where=where))
        progress.info(tr("{seen}: thick cloud looks so; the map marks it changed, because the other image sees the "
                         "ground beneath it, or it hides the change there is (so may snow, glare or new white "
                         "roofs). Look at {label} there; if it is cloud, run again with MASK_CLOUDS, which leaves such "
                         "places out as no data.", seen=seen, label=label))
    return places


Mapped = tuple[np.ndarray, Evidence, DirectComparison, bool]   # _mapped_prior's: prior, evidence, direct, one-sided


def _crowded_change(maps: PriorMaps, blocks: Blocks, params: RunParams,
                    progress: Progress) -> tuple[Mapped, CrowdedSearch]:
    """The mapped prior, from a self-consistent second pass where the first finds no significant change, or change
    on weak evidence, and one agrees and marks more than the first (labels.crowded_change: change over much of the
    scene, which the first pass cannot see or sees only in part), and the passes tried."""
    mapped = _mapped_prior(maps, blocks)
    first, first_evidence = _marked(mapped, params)
    if first and not first_evidence.weak:
        return mapped, CrowdedSearch()
    passes: list[tuple[PriorMaps, Mapped]] = []   # each pass with its mapped prior: the kept one is not mapped again

    def marked(second: PriorMaps) -> float:
        passes.append((second, _mapped_prior(second, blocks)))
        return _marked(passes[-1][1], params)[0]

    search = self_consistent(maps, marked)
    if search.kept is None or search.kept.marked <= first:
        return mapped, search
    prior, evidence, direct, one_sided = next(pass_ for maps_, pass_ in passes if maps_ is search.kept.maps)
    seen = (tr("The prior's first pass found no significant change") if not first else
            tr("The prior's first pass marked {first:.0f} % changed, on weak evidence", first=100 * first))
    progress.info(tr("{seen}, but computed again as if {left:.0f} % of the scene had changed alike (those places left "
                     "out of its graph), it marks {found:.0f} % changed, about as much as it left out, which an "
                     "unchanged scene does not: much of the scene changed alike, and the map is made from that "
                     "second pass.", seen=seen, left=100 * search.kept.share, found=100 * search.kept.marked))
    return (prior, replace(evidence, crowded=search.kept.share), direct, one_sided), search


def _confined_or_not(prior: np.ndarray, evidence: Evidence, joined: Optional[tuple[str, float]],
                     params: RunParams) -> tuple[np.ndarray, Calibration, Evidence]:
    """The decided prior (`_decided`), not confined to compact groups where the analyst says both images are of one
    kind (ONE_KIND) and a direct measure that joined the prior spreads as no unchanged pair of one kind does
    (`joined`, labels.direct_comparison.joined_spread); where they did not say so, the evidence names the option.

    Change of one kind broken into many small places (an earthquake's collapsed blocks between two optical sensors)
    forms few compact groups, and its weak structural evidence (the joined measure is mapped onto the prior's own
    values, so its strength does not show in the peak) confines the map to them: generated scenes of it, two
    optical sensors, lost most of their change in 4 draws of 14 (bench/RESULTS.md)."""
    decided = _decided(prior, evidence, params)
    if joined is None or not evidence.significant or not (decided[2].groups or decided[2].scattered):
        return decided
    if not params.one_kind:
        return decided[0], decided[1], replace(decided[2], joined_spread=joined[1], joined_measure=joined[0])
    prior, calibration, unconfined = _decided(prior, evidence, params, confine=False)   # the verdict says so
    return prior, calibration, replace(unconfined, joined_spread=joined[1], joined_measure=joined[0])


def _decided(prior: np.ndarray, evidence: Evidence, params: RunParams,
             confine: bool = True) -> tuple[np.ndarray, Calibration, Evidence]:
    """The prior the decision cuts, its calibrated cut, and the evidence with what confining the map to compact
    groups found (decision.local_change); with significant change and not `confine`, the calibrated cut's map as
    it is."""
    calibration = calibrate(prior, params.threshold_method, evidence)   # reads no value without significant change
    local = (local_change(prior, evidence, calibration.cut) if confine or not evidence.significant
             else LocalChange(np.clip(prior, 0.0, 1.0), calibration.cut))
    # The median and floor in the units of the prior the decision cuts, as its cut is (the labels and the finding
    # more read them with it): a scene's groups are cut on the prior divided by its top.
    evidence = replace(evidence, groups=local.groups, group_share=local.share, scattered=local.scattered,
                       significant=evidence.significant and not local.scattered, median=evidence.median / local.scale,
                       floor=evidence.floor / local.scale)
    return local.prior, replace(calibration, cut=local.cut), evidence


def _marked(mapped: Mapped, params: RunParams) -> tuple[float, Evidence]:
    """The share of the valid cells the decision marks changed on a mapped prior (0 without significant change),
    and the evidence the decision found."""
    prior, calibration, evidence = _decided(mapped[0], mapped[1], params)
    valid = np.isfinite(prior)
    return (float((prior[valid] >= calibration.cut).mean()) if evidence.significant and valid.any() else 0.0,
            evidence)


def _mapped_prior(maps: PriorMaps, blocks: Blocks) -> Mapped:
    """The prior a run maps, its evidence (in units of its top, before clipping), the direct comparison's verdict
    and whether the prior is the one-sided one.

    Whether the scene holds significant change is the prior seen both ways' to say: the one-sided prior also
    lifts what one image alone shows of an unchanged scene (the tests' unchanged scenes with a radar's undeclared
    border of zeros, an 8-bit rendering's white collar and a radar finer than the optical image: 0.72 %, 3.5 % and
    0.11 % marked and reported changed when it decided, none marked and reported unchanged now; bench/RESULTS.md,
    release 0.15.1). Where it shows significant change, a direct measure is tried on it, and if
    one joins, their fusion is the prior: a direct measure says where values changed, whichever image's classes
    moved, and on the SAR pairs it joins (sar-enl-12: the one-sided prior with it 0.50, alone 0.41, against 0.58
    both ways). Otherwise the prior seen either way (labels.structural_prior: one-sided change) where the prior
    seen both ways reaches its evidence floor (labels.one_sided), if its peak is at least the prior seen both ways'
    (where counting one-sided change weakens the scene's evidence, it adds more texture than change: a C-band
    fire's scar, whose drop of backscatter is within the forests' and fields' own spread, six draws 0.245 with this
    rule, 0.177 without; bench/RESULTS.md, release 0.16.0); but not
    where a radar image is the finer, nor between two radar images: speckle and texture that the other image
    cannot show are one-sided structure everywhere (the generated finer radar's 1 % scenes, six draws: 0.771 both
    ways, 0.631 either way; read_blocks widens its blocks for the same reason; crops of the SAR pairs that no
    direct comparison joins took their speckle).
    """
    evidence = weigh_evidence(maps.both)
    prior, evidence, direct = _joined(maps.both, evidence, blocks)
    if (direct.used or not evidence.significant or maps.one_sided is None or blocks.radar_finer
            or blocks.both_radar):
        return prior, evidence, direct, False
    one_sided = gated_one_sided(maps.both, maps.one_sided, evidence.floor)
    either = weigh_evidence(one_sided)
    if either.peak < evidence.peak:   # it would weaken the scene's evidence (at or above it, it is significant too)
        return prior, evidence, direct, False
    return np.minimum(one_sided, 1.0), either, direct, True


def _joined(prior: np.ndarray, evidence: Evidence, blocks: Blocks) -> tuple[np.ndarray, Evidence, DirectComparison]:
    """The prior with a direct measure folded in where one agrees with it (labels.direct_comparison), its evidence
    and the verdict; clipped at 1 where it shows significant change (the unclipped top serves only a scene without
    it), and never compared so otherwise: a direct comparison does not turn a pair without change into one with."""
    if not evidence.significant:
        return prior, evidence, DirectComparison(None, False, refusal="no change")
    prior = np.minimum(prior, 1.0)
    fused, direct = compare_directly(prior, blocks.direct, margin_labels(prior, floor=evidence.floor))
    return (fused, weigh_evidence(fused), direct) if direct.used else (prior, evidence, direct)


def within_aoi(prior: PriorResult, frame: Optional[Frame], blocks: Blocks) -> PriorResult:
    """The prior computed on the ground around an AOI cut to the AOI's own blocks (`blocks`, read_blocks of the
    AOI: none outside it), its evidence marked as the ground's (marked_within); `prior` as it is without a frame."""
    if frame is None:
        return prior
    cells = np.where(blocks.valid, frame.within(prior.prior, blocks.valid.shape), np.nan).astype(prior.prior.dtype)
    wider = int(np.isfinite(prior.prior).sum())
    ground = wider > int(blocks.valid.sum())   # no ground beyond the AOI: the evidence is the AOI's own
    return replace(prior, prior=cells, evidence=replace(prior.evidence, aoi=ground))


def marked_within(prior: PriorResult, cut: Cut, progress: Progress) -> PriorResult:
    """An AOI's evidence, the ground's around it, with the share of the AOI its change layer marks, said in the log
    after the ground's verdict: an AOI of unchanged land beside change was told "change found" and nothing more."""
    if not prior.evidence.aoi:
        return prior
    evidence = replace(prior.evidence, within=cut.marked_share())
    progress.info(within_note(evidence.within))
    return replace(prior, evidence=evidence)
