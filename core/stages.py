"""The stages of a run, each a function with a small typed result: align → analyst samples → block
means → prior → network → difference image → change layer → statistics.

pipeline.run composes them; a benchmark calls the ones it measures (bench_prior: align, block means,
prior), so it measures what a run does. Each stage reports its own progress (fractions of the whole
run), log lines and cancel checks.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Optional

import numpy as np
from scipy import ndimage

from .block_checks import LEAST_VALID, check_blocks
from .decision.confirmation import Confirmation, added_places
from .decision.cut import CHANGE_NODATA, Cut
from .decision.evidence import PEAK_QUANTILE, SPREAD_LINES, Evidence, weigh_evidence, within_note
from .decision.local_change import LocalChange, local_change
from .decision.score import DECISION, EXTEND_LINE, Calibration, calibrate, change_score, with_samples
from .decision.threshold import confidence, is_automatic
from .errors import InputError
from .i18n import tr
from .labels.blocks import block_size, finer_first, least_block, radar_finer, upsample_prior
from .labels.crowded_change import CrowdedSearch, self_consistent
from .labels.direct_comparison import (
    DirectComparison,
    Measures,
    change_alike,
    compare_directly,
    direct_measures,
    direct_spread,
    joined_spread,
)
from .labels.margins import margin_labels
from .labels.one_sided import gated_one_sided
from .labels.prior import PriorMaps, change_prior
from .labels.surroundings import Frame, frame_around
from .metrics import percent_down
from .model.patches import fill_invalid
from .normalise import Normaliser, fit_normaliser, guess_kind, holds_radar
from .params import RunParams
from .progress import Progress
from .raster.align import AlignedPair, check_on_grid, open_pair
from .raster.areas import change_extent
from .raster.cloud_mask import NOTE_SHARE, NOTE_WHITE, CloudCells, cloud_cells, white, white_levels, white_share
from .raster.coregister import coregister
from .raster.grid import TOUCHING, Grid, Window, distance_unit
from .raster.polygons import polygonize_changes
from .raster.samples import NONE, rasterize_samples
from .raster.strips import strips, valid_values
from .raster.tiles import Tile, tiles
from .raster.vector_layer import features_outside, features_without_geometry, open_layer
from .raster.write import OutputSet, RasterSink, writing
from .release import release
from .run_stats import ModelStats, RunStats

if TYPE_CHECKING:
    from .model.detector import Detector

DIFFERENCE_NODATA = -1.0
PRIOR_DONE = 0.4   # the progress bar at the prior's end: on two cores it takes 40–80 % of an int8 run (bench-scale)


@contextmanager
def align_pair(params: RunParams, log: list[str]) -> Iterator[AlignedPair]:
    """The pair on one grid, for the `with` of a run (its GDAL datasets close with it); the grid and
    the alignment's notes go to the log."""
    with open_pair(params.t1, params.t2, bands1=params.bands1, bands2=params.bands2,
                   nodata1=params.nodata1, nodata2=params.nodata2, grid=params.grid,
                   pixel_size=params.pixel_size, aoi=params.aoi, same_grid=params.same_grid) as pair:
        grid = pair.grid
        log.append(tr("Grid: {width} x {height} pixels; T1 {bands1} band(s), T2 {bands2} band(s).",
                      width=grid.width, height=grid.height, bands1=pair.band_count1, bands2=pair.band_count2))
        log.extend(pair.notes)
        if params.reference:
            note = check_on_grid(params.reference, grid, tr("Reference"))
            if note:
                log.append(note)
        if params.coregister:
            log.append(coregister(pair).note(abs(grid.transform[1]), distance_unit(grid.srs())))
        yield pair


@dataclass(frozen=True)
class Blocks:
    """Both images averaged over size×size blocks (GDAL's average read) and normalised per band."""

    size: int
    x1: np.ndarray
    x2: np.ndarray
    valid: np.ndarray
    norm1: Normaliser
    norm2: Normaliser
    direct: Measures                  # labels.direct_comparison's measures the pair allows, from the raw means
    radar_finer: bool = False         # the finer image holds a radar's values, the coarser not (labels.blocks)
    both_radar: bool = False          # both images hold a radar's values (normalise.holds_radar)
    side: str = ""                    # a block on the ground, for the log ("20 metre a side"; README Limits)
    # Per image, its white blocks (raster.cloud_mask; within the overlap), or None where it can have none:
    white: tuple[Optional[np.ndarray], Optional[np.ndarray]] = (None, None)
    left_out: Optional[np.ndarray] = None   # the blocks MASK_CLOUDS left out of `valid`; None without it
    clouds: tuple[Optional[np.ndarray], ...] = (None, None)   # per image, the cloud MASK_CLOUDS found (cloud_cells)


def read_blocks(pair: AlignedPair, params: RunParams, progress: Progress, size: Optional[int] = None) -> Blocks:
    """The grid the priors work on: blocks large enough for at most labels.blocks.MAX_CELLS cells (fewer
    with many bands), so the prior's time and memory stop growing with the image; and, where a radar image is
    the finer of the two and the other is not, spanning two of the coarser image's pixels (labels.blocks.
    least_block), read again at that size. Each image's kind is the one its first read shows. With
    MASK_CLOUDS, places white in an optical image and their hazy edge (raster.cloud_mask) are left out of these
    and every later read, and the images are normalised without them; an AOI's are found on the ground around it
    (read_surroundings). `size`: blocks of that side instead (the ground around an AOI is read in the AOI's own
    blocks)."""
    progress(0.05, tr("Computing the change prior on block means"))
    grid = pair.grid
    b = size or block_size(grid.height, grid.width, pair.band_count1 + pair.band_count2)
    x1, x2, valid = _block_read(pair, b)
    kinds = (guess_kind(x1, valid), guess_kind(x2, valid)) if valid.any() else (None, None)
    wider, radar = _radar_finer_block(pair, x1, x2, valid, kinds, b, progress)
    if wider > b and size is None:
        b = wider
        x1, x2, valid = _block_read(pair, b)
    check_blocks(pair, x1, x2, valid, b, progress)
    norm1, norm2 = fit_normaliser(x1, valid, kinds[0]), fit_normaliser(x2, valid, kinds[1])
    levels = (white_levels(norm1, radar[0]), white_levels(norm2, radar[1]))
    whites = (white(x1, levels[0]) & valid if levels[0] is not None else None,
              white(x2, levels[1]) & valid if levels[1] is not None else None)
    left_out, clouds = None, (None, None)
    if params.mask_clouds and not pair.has_aoi:
        clouds = tuple(cloud_cells(x, norm, is_radar) for x, norm, is_radar in zip((x1, x2), (norm1, norm2), radar))
        kept = _clouds_left_out(pair, valid, levels, clouds, b, progress)
        left_out, valid = valid & ~kept, kept
        norm1, norm2 = fit_normaliser(x1, valid, kinds[0]), fit_normaliser(x2, valid, kinds[1])
    return Blocks(b, norm1.apply(x1), norm2.apply(x2), valid, norm1, norm2, direct_measures(x1, x2, valid),
                  radar_finer(pair.pixel_sides, radar), all(radar), _block_ground(b, grid), whites, left_out, clouds)


@dataclass(frozen=True)
class Ground:
    """The ground around an AOI, which the AOI is mapped as: its images, its prior and the analyst's samples on its
    grid, and where the AOI's grid begins on it (pixels: rows, cols). The network learns there and its veto is
    weighed there, as for a scene: the AOI alone seldom holds the changed places the veto needs learnt, and a veto
    weighed on a few hundred pixels goes either way (bench/RESULTS.md, release 0.19.2)."""

    pair: AlignedPair
    prior: PriorResult
    samples: Optional[np.ndarray]
    offset: tuple[int, int]

    def window(self, window: Window) -> Window:
        """The AOI grid's `window` on the ground's grid."""
        return replace(window, col_off=window.col_off + self.offset[1], row_off=window.row_off + self.offset[0])


@dataclass(frozen=True)
class Surroundings:
    """An AOI's blocks (the scene's without one), the blocks of the ground around it that its prior is computed on,
    where the AOI's lie among them (None without an AOI) and that ground's images."""

    blocks: Blocks
    around: Blocks
    frame: Optional[Frame]
    pair: AlignedPair

    def ground(self, prior: PriorResult, samples: Optional[np.ndarray]) -> Optional[Ground]:
        """The ground an AOI is mapped as, given the prior computed on `around` and the AOI's samples; None without
        an AOI."""
        if self.frame is None:
            return None
        frame = self.frame
        return Ground(self.pair, prior, None if samples is None else frame.spread(samples, NONE), frame.origin)


def read_surroundings(pair: AlignedPair, blocks: Blocks, params: RunParams, progress: Progress) -> Surroundings:
    """With an AOI, its blocks, the blocks of the ground around it that its prior is computed on (labels.
    surroundings: a tight AOI is mostly change, and its own prior finds no contrast), in the AOI's blocks, and where
    the AOI's lie among them; without one, `blocks` twice. The AOI's own blocks were read first: what they refuse is
    refused, and the log tells of them. With MASK_CLOUDS the AOI leaves out the cloud found on the wider ground
    (_aoi_clouds); without it, cloud around the AOI is still no ground to compare it with (_cloud_around)."""
    if not pair.has_aoi:
        return Surroundings(blocks, blocks, None, pair)
    grid, overlap = pair.grid, pair.overlap
    row, col = pair.offset
    room = (row, col, overlap.height - row - grid.height, overlap.width - col - grid.width)
    frame = frame_around((grid.height, grid.width), tuple(max(0, side) for side in room), blocks.size,
                         pair.band_count1 + pair.band_count2)
    x0, dx, _, y0, _, dy = grid.transform
    rows, cols = frame.origin
    wider = pair.around(replace(grid, transform=(x0 - cols * dx, dx, 0.0, y0 - rows * dy, 0.0, dy),
                                width=frame.width, height=frame.height))
    quiet = Progress(progress.report, progress.is_cancelled, progress.start, progress.stop)   # told for the AOI
    around = read_blocks(wider, params, quiet, size=blocks.size)
    if params.mask_clouds:
        blocks = _aoi_clouds(pair, blocks, wider, around, frame, progress)
    else:
        around = _cloud_around(wider, around, frame, blocks.valid.shape, params, quiet, progress)
    if (frame.height, frame.width) == (grid.height, grid.width):
        progress.info(tr("The images hold no ground beyond the area of interest's rectangle: its prior is computed on "
                         "that rectangle, so where much of the area changed alike, the change can be missed, as in a "
                         "scene cut tight around it."))
    else:
        progress.info(tr("The prior compares the area of interest with the ground around it: {width} x {height} "
                         "pixels ({times:.1f} times the area of interest's grid), so that change filling much of the "
                         "area is still seen against unchanged ground; the outputs cover the area of interest only.",
                         width=frame.width, height=frame.height,
                         times=frame.width * frame.height / (grid.width * grid.height)))
    return Surroundings(blocks, around, frame, wider)


def _aoi_clouds(pair: AlignedPair, blocks: Blocks, wider: AlignedPair, around: Blocks, frame: Frame,
                progress: Progress) -> Blocks:
    """The AOI's blocks without the cloud MASK_CLOUDS found on the ground around it, said and refused as a scene's
    are (_clouds_left_out), so that the log's share is the one its reads leave out. Found on the AOI alone, the
    white level of a clear AOI beside a cloud left nothing out where the ground's left out a tenth of it. Its reads
    leave out the ground's cells as the ground's reads do, pixel for pixel (raster.cloud_mask.CloudCells)."""
    grid, across = pair.grid, (frame.height, frame.width)
    whole = Window(0, 0, grid.width, grid.height)
    clouds = tuple(None if cells is None else CloudCells(cells, across, frame.origin).at(whole, blocks.valid.shape)
                   for cells in around.clouds)
    found = None if wider.cloud_cells is None else replace(wider.cloud_cells, origin=frame.origin)
    kept = _clouds_left_out(pair, blocks.valid, wider.white_levels, clouds, blocks.size, progress, found)
    return replace(blocks, valid=kept, left_out=blocks.valid & ~kept, clouds=clouds)


def _cloud_around(wider: AlignedPair, around: Blocks, frame: Frame, shape: tuple[int, int], params: RunParams,
                  quiet: Progress, progress: Progress) -> Blocks:
    """The wider ground's blocks without the cloud around the AOI, where white places cover NOTE_WHITE or more of the
    ground outside it (the line at which every run names white places): MASK_CLOUDS' rule read outside the AOI only,
    its own white places kept as the analyst left them. An AOI drawn beside a cloud was compared with the cloud, which
    set the cut above the AOI's change (a generated cloudy scene's clear AOI: Kappa 0.71 → 0)."""
    inside = np.zeros(around.valid.shape, bool)
    inside[frame.top:frame.top + shape[0], frame.left:frame.left + shape[1]] = True
    outside = around.valid & ~inside
    white = np.zeros(outside.shape, bool)
    for cells in around.white:
        if cells is not None:
            white |= cells
    if not outside.any() or (white & outside).sum() < NOTE_WHITE * outside.sum():
        return around
    try:
        masked = read_blocks(wider, replace(params, mask_clouds=True), quiet, size=around.size)
    except InputError:   # the ground around is white nearly everywhere: compare the AOI with it as it is
        return around
    wider.white_levels, wider.cloud_cells = (None, None), None
    valid = masked.valid | (masked.left_out & inside)   # the AOI's own white places stay, as without the option
    progress.info(tr("{percent:.0f} % of the ground around the area of interest is white in every band of an optical "
                     "image (cloud, snow), and is left out, with its hazy edge, of what the area is compared with.",
                     percent=100 * (white & outside).sum() / outside.sum()))
    return replace(masked, valid=valid, left_out=None,
                   white=tuple(None if cells is None else cells & valid for cells in masked.white))


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


def _clouds_left_out(pair: AlignedPair, valid: np.ndarray, levels: tuple[Optional[np.ndarray], Optional[np.ndarray]],
                     clouds: tuple[Optional[np.ndarray], ...], block: int, progress: Progress,
                     found: Optional[CloudCells] = None) -> np.ndarray:
    """The valid blocks without the cloudy ones (MASK_CLOUDS; raster.cloud_mask.cloud_cells), said per image (of
    the overlap, or of the AOI: pair.has_aoi); every later read of the pair leaves out those blocks (an AOI's reads:
    the ground's, `found`) and any white pixel. Refused where too little would be left to compare
    (block_checks.LEAST_VALID, as without the mask)."""
    where = tr("the area of interest") if pair.has_aoi else tr("the overlap")
    if all(level is None for level in levels):
        progress.info(tr("MASK_CLOUDS left nothing out: neither image is an optical image of two bands or more, whose "
                         "white places it takes for cloud."))
        return valid
    pair.white_levels = levels
    kept = valid.copy()
    for (label, _), cells in zip(pair.names, clouds):
        if cells is None:
            progress.info(tr("MASK_CLOUDS leaves {label} as it is: an image of one band, or one that holds a radar's "
                             "values, has no white places it can take for cloud.", label=label))
            continue
        cells = cells & valid
        kept &= ~cells
        progress.info(tr("MASK_CLOUDS: {percent:.1f} % of {where} is white in every band of {label}, or hazy "
                         "around such places (thick cloud and its edge; also snow, glare, white roofs), and is left "
                         "out as no data.", percent=100 * cells.sum() / max(int(valid.sum()), 1), where=where,
                         label=label))
    pair.cloud_cells = CloudCells(~kept & valid, (pair.grid.height, pair.grid.width)) if found is None else found
    pixels = int(kept.sum()) * block * block
    if pixels < LEAST_VALID:
        advice = (tr("the area of interest is white nearly everywhere: draw it where the images are clear, or run "
                     "without MASK_CLOUDS.") if pair.has_aoi else
                  tr("the images are white nearly everywhere. Check them, or run without MASK_CLOUDS."))
        raise InputError(tr("MASK_CLOUDS leaves about {pixels} pixel(s) to compare ({percent:.2f} % of {where}); at "
                            "least {least} are needed: {advice}", pixels=pixels, least=LEAST_VALID, where=where,
                            percent=100 * kept.sum() / max(int(valid.sum()), 1), advice=advice))
    return kept


def _block_ground(b: int, grid: Grid) -> str:
    """A block's size on the ground, for the log: "20 metre a side", or "20 x 40 metre" on pixels that are not
    square (10 × 20 m pixels were said to make 20 m blocks)."""
    width, height, units = b * abs(grid.transform[1]), b * abs(grid.transform[5]), distance_unit(grid.srs())
    if math.isclose(width, height, rel_tol=0.02):   # a warp leaves 7.08 x 7.10 m pixels: square
        return tr("{side:.3g} {units} a side", side=width, units=units)
    return tr("{width:.3g} x {height:.3g} {units}", width=width, height=height, units=units)


def _radar_finer_block(pair: AlignedPair, x1: np.ndarray, x2: np.ndarray, valid: np.ndarray,
                       kinds: tuple[Optional[str], Optional[str]], b: int,
                       progress: Progress) -> tuple[int, tuple[bool, bool]]:
    """The block side labels.blocks.least_block asks of the pair (said in the log where it is more than `b`): two of
    the coarser image's pixels where the finer image holds a radar's values and the other does not; and whether
    each image holds a radar's values (normalise.holds_radar). kinds: each image's guess_kind, None without a
    valid block (check_blocks then refuses the pair)."""
    if kinds[0] is None or kinds[1] is None:
        return b, (False, False)
    radar = holds_radar(x1, valid, kinds[0]), holds_radar(x2, valid, kinds[1])
    least = least_block(pair.pixel_sides, radar, pair.grid.height, pair.grid.width)
    if least > b:
        fine, coarse = finer_first(pair.pixel_sides)
        side = pair.pixel_sides[coarse]   # the coarser image's pixel, in grid pixels
        progress.info(tr("{fine} is a radar image {ratio:.1f} times finer than {coarse}: the prior's blocks span "
                         "{size}x{size} pixels, {pixels:.1f} of {coarse}'s, so that the radar's speckle and texture "
                         "finer than {coarse} can show are not read as change.", fine=pair.names[fine][0],
                         coarse=pair.names[coarse][0], size=least, pixels=least / side,
                         ratio=side / pair.pixel_sides[fine]))
    return least, radar


def _block_read(pair: AlignedPair, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both images averaged over b×b blocks of the grid (GDAL's average read) and the blocks whole in both."""
    return pair.read(out_shape=(math.ceil(pair.grid.height / b), math.ceil(pair.grid.width / b)))


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
    maps = change_prior(blocks.x1, blocks.x2, blocks.valid, method=params.prior, seed=params.seed,
                        check=progress.check, report=report, info=progress.info)
    (prior, evidence, direct, one_sided), search = _crowded_change(maps, blocks, params, progress)
    alike = (change_alike(prior, blocks.direct, SPREAD_LINES, PEAK_QUANTILE)
             if params.one_kind and not evidence.significant else None)   # the analyst says both are of one kind
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
              if not evidence.significant and evidence.joined_spread is None else None)
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
    marked = (np.isfinite(prior) & (prior >= calibration.cut) if evidence.significant
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
    evidence = replace(evidence, groups=local.groups, group_share=local.share, scattered=local.scattered,
                       significant=evidence.significant and not local.scattered)
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


@dataclass(frozen=True)
class Trained:
    """The network confirming the prior and what its training reports; both None when none was trained."""

    detector: Optional[Detector] = None
    stats: Optional[ModelStats] = None

    @property
    def changed_pixels(self) -> Optional[int]:
        """Grid pixels under the network's changed pseudo-labels (the prior's block cells, each block² pixels)."""
        labels = self.stats.training.get("pseudo_labels") if self.stats is not None else None
        return None if not labels else int(labels["changed"]) * int(labels["cell"]) ** 2


def read_samples(params: RunParams, pair: AlignedPair, progress: Progress) -> Optional[np.ndarray]:
    """The analyst's samples on the grid (1 changed, 0 unchanged, -1 none), or None without any: they keep
    their label in the output, in every mode, and the network learns from them. Only samples on places the
    run compares count (inside the AOI, on data in both images, not on cloud MASK_CLOUDS left out: read after
    the blocks, which find it): the others mark nothing, and were counted as used."""
    if not params.samples:
        return None
    samples, both = rasterize_samples(params.samples, pair.grid)
    given = int((samples >= 0).sum())
    off = _off_the_data(samples, pair)
    count = given - off
    if not count:   # the analyst meant them to count: a run that ignores them is not what was asked
        raise InputError((tr("The samples in '{path}' have no feature inside the area of interest (the layer is "
                             "empty, or its samples lie elsewhere in the images or beyond them: check its CRS and that "
                             "it is the layer you meant, draw samples inside the area of interest, or remove SAMPLES "
                             "to run without them).", path=params.samples) if params.aoi else
                          tr("The samples in '{path}' have no feature inside the overlap of the two images (the layer "
                             "is empty, or lies elsewhere: check its CRS and that it is the layer you meant); remove "
                             "SAMPLES to run without them.", path=params.samples)) if not given else
                         tr("The samples in '{path}' lie only {off}, where nothing is compared: draw them inside the "
                            "area compared, or remove SAMPLES.", path=params.samples, off=_off_words(params)))
    if params.extend_from_samples and not (samples == 1).any():
        raise InputError(tr("The samples in '{path}' mark no place changed (changed = 1) inside the area compared, so "
                            "there is no kind of change to find more of: draw at least one changed area there, or "
                            "turn off EXTEND_FROM_SAMPLES.", path=params.samples))
    progress.info(tr("{count} pixel(s) of analyst samples: the outputs keep their label.", count=count)
                  if params.mode == "prior" else
                  tr("{count} pixel(s) of analyst samples: the network learns from them and the outputs keep "
                     "their label.", count=count))
    if off:
        progress.info(tr("Samples: {count} pixel(s) of '{path}' lie {off} and mark nothing.", count=off,
                         path=params.samples, off=_off_words(params)))
    if both:
        progress.info(tr("Samples: {count} pixel(s) of '{path}' lie in both a changed and an unchanged feature and "
                         "mark nothing; draw the two apart where each should count.", count=both,
                         path=params.samples))
    source, layer = open_layer(params.samples, "Samples")   # the layer lives while its data source does
    empty = features_without_geometry(layer)
    if empty:
        progress.info(tr("Samples: {count} feature(s) of '{path}' have no geometry (feature {fids}) and mark "
                         "nothing; draw them again if they were meant to count.", count=len(empty),
                         path=params.samples, fids=_some(empty)))
    outside, across = features_outside(layer, pair.grid.bounds(), pair.grid.srs())
    if outside:
        progress.info(tr("Samples: {count} feature(s) of '{path}' lie outside the area compared (feature {fids}) "
                         "and mark nothing.", count=len(outside), path=params.samples, fids=_some(outside)))
    if across:
        progress.info(tr("Samples: {count} feature(s) of '{path}' reach beyond the rectangle of the area compared "
                         "(feature {fids}); their part beyond it marks nothing.", count=len(across),
                         path=params.samples, fids=_some(across)))
    return samples


def _off_words(params: RunParams) -> str:
    """Where samples count for nothing, in the analyst's words."""
    return (tr("outside the area of interest, on no data of T1 or T2, or on cloud that MASK_CLOUDS left out")
            if params.mask_clouds else tr("outside the area of interest or on no data of T1 or T2"))


def _off_the_data(samples: np.ndarray, pair: AlignedPair) -> int:
    """Set to none the samples on places the run does not compare (outside the AOI, no data in either image),
    reading the pair only where samples lie (per strip, between its first and last sampled column: a few areas
    drawn on a Sentinel-2 tile read a few windows, not the tile); returns how many there were."""
    off = 0
    for row, height in strips(samples.shape[0]):
        strip = samples[row:row + height]
        cols = np.flatnonzero((strip >= 0).any(0))
        if not cols.size:
            continue
        first, width = int(cols[0]), int(cols[-1]) + 1 - int(cols[0])
        part = strip[:, first:first + width]   # a view: set in place
        outside = (part >= 0) & ~pair.read(Window(first, row, width, height))[2]
        off += int(outside.sum())
        part[outside] = NONE
    return off


def _some(fids: list[int]) -> str:
    """Feature ids for a log line: the first five."""
    return ", ".join(map(str, fids[:5])) + (", …" if len(fids) > 5 else "")


def train_network(pair: AlignedPair, prior: PriorResult, samples: Optional[np.ndarray], params: RunParams,
                  progress: Progress, ground: Optional[Ground] = None) -> Trained:
    """The OAIP network trained on the prior's pseudo-labels (and analyst samples), on the scene or, for an AOI, on
    the `ground` around it; none in the prior mode, nor in a pair without significant change (nothing to learn
    from)."""
    if params.mode == "prior":
        return Trained()
    if prior.gated and not prior.evidence.significant:
        progress.info(tr("The network was not trained: there is no change in the pair to learn from.")
                      if not prior.evidence.groups else
                      tr("The network was not trained: a few compact groups of change are too little to learn "
                         "from, so the map is the prior's."))
        if params.extend_from_samples:
            progress.info(tr("So nothing more like the changed samples was looked for: they keep their own label."))
        return Trained()
    on = ground or Ground(pair, prior, samples, (0, 0))
    if _uniform(on.prior.prior):   # a manual threshold does not gate, but identical images label nothing
        progress.info(tr("The network was not trained: the two images do not differ anywhere, so there is no "
                         "change to learn from."))
        return Trained()
    from .model.train import train_detector  # torch is needed from here on only

    if ground is not None and ground.pair.grid != pair.grid:   # no note where there is no ground beyond the AOI
        progress.info(tr("The area of interest is mapped as the ground around it that the prior compares it with: "
                         "the network learns there, and its confirmation below is weighed there too."))
    detector, stats = train_detector(on.pair, (prior.norm1, prior.norm2), on.prior.prior, prior.block, on.samples,
                                     params, progress.span(PRIOR_DONE, 0.7), floor=prior.evidence.floor)
    return Trained(detector, stats)


def _uniform(prior: np.ndarray) -> bool:
    """Whether the prior is one value on every valid cell (an identical pair): no place to label."""
    values = prior[np.isfinite(prior)]
    return values.size == 0 or bool(values.max() <= values.min())


@dataclass(frozen=True)
class Difference:
    """The change score written tile by tile; the sink stays open for the change layer to read it back.
    confirmation: how much of the prior's change the network vetoed, and whether the veto was kept."""

    sink: RasterSink
    layout: list[Tile]
    confirmation: Optional[Confirmation] = None
    ground: Optional[Ground] = None   # an AOI's: the ground the score was made on (its prior view is that ground's)


def write_difference(pair: AlignedPair, prior: PriorResult, trained: Trained,
                     samples: Optional[np.ndarray], params: RunParams, outputs: OutputSet,
                     progress: Progress, ground: Optional[Ground] = None) -> Difference:
    """The change score (decision.score) of every pixel, nodata DIFFERENCE_NODATA, tile by tile; the
    analyst's samples keep their label. With the network, the score is the prior's confirmed by it
    where the network vetoes enough of the prior's change to be trusted (decision.confirmation), and
    otherwise the tiles are written again with the prior's own score. An AOI's is its window of the `ground`'s
    around it: its own blocks leave out those its polygon cuts, and its edge then had no prior or another one."""
    progress(0.7, tr("Writing the difference image"))
    path = params.out_difference or outputs.scratch("difference.tif")
    if ground is None:
        return _scene_difference(pair, prior, trained, samples, path, params, outputs, progress)
    wide = _scene_difference(ground.pair, ground.prior, trained, ground.samples,
                             outputs.scratch("ground_difference.tif"), params, outputs, progress)
    return _aoi_window(wide, pair, ground, samples, path, params.tile_size, outputs, progress)


def _aoi_window(wide: Difference, pair: AlignedPair, ground: Ground, samples: Optional[np.ndarray], path: str,
                tile_size: int, outputs: OutputSet, progress: Progress) -> Difference:
    """The AOI's difference image: its window of the ground's, nodata outside the AOI's polygon. Where the network
    added places to the prior's (EXTEND_FROM_SAMPLES), the log says how many of the ground's lie in the AOI: the
    analyst is asked to check them, and only those are in the outputs."""
    grid, extended = pair.grid, wide.confirmation is not None and wide.confirmation.extended
    layout = tiles(grid.width, grid.height, tile_size, 0)
    sink = outputs.raster(path, grid, "float32", DIFFERENCE_NODATA)
    within = 0
    for tile in layout:
        progress.check()
        core, there = tile.core, ground.window(tile.core)
        written = np.where(pair.inside(core), wide.sink.read(there), DIFFERENCE_NODATA)
        sink.write(core, written.astype(np.float32))
        if extended:
            counted = written != DIFFERENCE_NODATA if samples is None else samples[core.slices()] < 0
            within += added_places(_prior_score(ground.prior, ground.pair.grid, there), written, counted)
    sink.flush()
    if extended:
        progress.info(tr("Of the {added} pixel(s) the network adds on the area of interest and the ground around it, "
                         "{within} lie within the area of interest, which the outputs cover.",
                         added=wide.confirmation.added, within=within))
    return Difference(sink, layout, wide.confirmation, ground)


def _scene_difference(pair: AlignedPair, prior: PriorResult, trained: Trained, samples: Optional[np.ndarray],
                      path: str, params: RunParams, outputs: OutputSet, progress: Progress) -> Difference:
    """write_difference on the whole of `pair`'s grid, to `path`."""
    grid, detector = pair.grid, trained.detector
    layout = tiles(grid.width, grid.height, params.tile_size, detector.context if detector is not None else 0)
    sink = outputs.raster(path, grid, "float32", DIFFERENCE_NODATA)
    extend_from = _extend_from(prior, params) if detector is not None else None
    confirmation = (Confirmation(extended=extend_from is not None, changed_pixels=trained.changed_pixels)
                    if detector is not None else None)
    any_valid = False
    for i, tile in enumerate(layout):
        progress.check()
        prior_score, score, valid = _score(pair, tile, prior, detector, extend_from)
        if confirmation is not None:
            counted = valid if samples is None else valid & (samples[tile.core.slices()] < 0)
            confirmation.add(prior_score, score, counted, at=(tile.core.row_off, tile.core.col_off))
        sink.write(tile.core, _difference(score, valid, samples, tile))
        any_valid = any_valid or bool(valid.any())
        progress(0.7 + 0.15 * (i + 1) / len(layout),
                 tr("Writing the difference image: tile {tile}/{tiles}", tile=i + 1, tiles=len(layout)))
    if not any_valid:
        sink.flush()
        raise InputError(tr("The overlap of the two images holds no valid pixel (all nodata)."))
    if confirmation is not None:
        progress.info(confirmation.note())
        if not confirmation.applied:
            for tile in layout:
                progress.check()
                valid = sink.read(tile.core) != DIFFERENCE_NODATA
                sink.write(tile.core, _difference(_prior_score(prior, grid, tile.core), valid, samples, tile))
        elif confirmation.removed_regions:
            _hold_removed(sink, layout, confirmation, prior, grid, samples, progress)
    sink.flush()
    return Difference(sink, layout, confirmation)


def _hold_removed(sink: RasterSink, layout: list[Tile], confirmation: Confirmation, prior: PriorResult, grid: Grid,
                  samples: Optional[np.ndarray], progress: Progress) -> None:
    """The regions of the prior's change the applied veto removes whole (decision.confirmation), held just under
    the decision in the tiles already written; tiles that hold none of them are not read again. The tiles' counted
    pixels are found again from what was written: the written score is finite wherever the prior marks a valid
    place, and samples are not counted."""
    for i, tile in enumerate(layout):
        progress.check()
        if not confirmation.removes_in(i):
            continue
        written = sink.read(tile.core)
        counted = written != DIFFERENCE_NODATA
        if samples is not None:
            counted &= samples[tile.core.slices()] < 0
        sink.write(tile.core, confirmation.held(_prior_score(prior, grid, tile.core), written, counted, i))


def _extend_from(prior: PriorResult, params: RunParams) -> Optional[float]:
    """The prior's score at the evidence floor, from which the network's own P(changed) is the score, when
    the analyst asked to find more change like their changed samples (decision.score); None otherwise."""
    if not params.extend_from_samples:
        return None
    line = min(EXTEND_LINE * prior.evidence.median, prior.calibration.cut)
    return float(prior.calibration.prior_score(np.float32(line)))


def _prior_score(prior: PriorResult, grid: Grid, window: Window) -> np.ndarray:
    return prior.calibration.prior_score(upsample_prior(prior.at_pixels, (grid.height, grid.width), window))


def _difference(score: np.ndarray, valid: np.ndarray, samples: Optional[np.ndarray], tile: Tile) -> np.ndarray:
    """One tile of the difference image: the score with the analyst's samples, nodata where not valid and
    where the score is none (pixels with data in both images but no whole block near enough to give them a
    prior, PriorResult.at_pixels: they were written as NaN and counted as valid and unchanged)."""
    if samples is not None:
        score = with_samples(score, samples[tile.core.slices()])
    return np.where(valid & np.isfinite(score), score, DIFFERENCE_NODATA).astype(np.float32)


def _prior_view(difference: Difference, prior: PriorResult, grid: Grid, samples: Optional[np.ndarray],
                tile: Tile) -> Optional[np.ndarray]:
    """The prior's own score on a tile (with the analyst's samples), where the network's verdict made the
    map; None where the map is the prior's. Recomputed from the block grid rather than kept from the
    difference pass: an upsample per tile costs less than holding a second whole-image score."""
    if difference.confirmation is None or not difference.confirmation.applied:
        return None
    ground = difference.ground
    score = (_prior_score(prior, grid, tile.core) if ground is None else
             _prior_score(ground.prior, ground.pair.grid, ground.window(tile.core)))
    return score if samples is None else with_samples(score, samples[tile.core.slices()])


def _score(pair: AlignedPair, tile: Tile, prior: PriorResult, detector: Optional[Detector],
           extend_from: Optional[float] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The prior's score, the change score (decision.score: the prior's, or the smaller of it and the
    network's P(changed), the network's alone from `extend_from` up) and validity on one tile's core window."""
    prior_score = _prior_score(prior, pair.grid, tile.core)
    if detector is None:
        _, _, valid = pair.read(tile.core)
        return prior_score, prior_score, valid
    x1, x2, valid = pair.read(tile.read)
    probability = detector.network_probability(prior.norm1.apply(x1), prior.norm2.apply(x2),
                                                tile.read.row_off, tile.read.col_off)
    core = tile.core_in_read()
    return prior_score, change_score(prior_score, probability[core], extend_from), valid[core]


def write_change(difference: Difference, grid: Grid, prior: PriorResult, samples: Optional[np.ndarray],
                 params: RunParams, outputs: OutputSet, progress: Progress) -> Cut:
    """The change and confidence layers at the run's threshold (0.5, the automatic decision, or the
    analyst's manual one), their polygons, and the tally of changed pixels and accuracy. Where the
    network's verdict made the map, the confidence is low where it overruled the prior
    (decision.threshold.confidence); the analyst's samples agree with both."""
    progress(0.85, tr("Writing the change layer"))
    threshold = DECISION if prior.gated else float(params.threshold)
    change_path = params.out_change or (outputs.scratch("change.tif") if params.out_polygons else None)
    change_sink = outputs.raster(change_path, grid, "uint8", CHANGE_NODATA)
    conf_sink = outputs.raster(params.out_confidence, grid, "float32", DIFFERENCE_NODATA)
    cut = Cut(threshold, grid, params.reference)
    layout, diff_sink = difference.layout, difference.sink
    for i, tile in enumerate(layout):
        progress(0.85 + 0.1 * i / len(layout),
                 tr("Writing the change layer: tile {tile}/{tiles}", tile=i + 1, tiles=len(layout)))
        score = diff_sink.read(tile.core)
        valid = valid_values(score, DIFFERENCE_NODATA)   # the rule a re-threshold reads the layer by
        change = cut.add(tile.core, score, valid)
        if change_sink is not None:
            change_sink.write(tile.core, change)
        if conf_sink is not None:
            sure = confidence(score, threshold, _prior_view(difference, prior, grid, samples, tile))
            conf_sink.write(tile.core, np.where(valid, sure, DIFFERENCE_NODATA).astype(np.float32))
    if change_sink is not None:
        change_sink.close()
    diff_sink.close()
    if params.out_polygons:
        with writing(params.out_polygons):
            count = polygonize_changes(change_sink.path, diff_sink.path, outputs.file(params.out_polygons), grid,
                                       params.min_polygon_area, progress.span(0.95, 1.0))
        progress.info(tr("{count} change polygon(s).", count=count))
        changed = change_extent(cut.changed_rows, cut.valid_count, grid)["changed_area"]
        if count == 0 and changed > 0:   # the raster marks change the polygons do not show
            progress.info(tr("MIN_AREA {least:g} m² dropped every change region: the change layer marks {area:.0f} m² "
                             "in regions smaller than that.", least=params.min_polygon_area, area=changed))
    if cut.accuracy is not None and cut.accuracy.coverage() == 0:   # "measured there only" of nowhere
        progress.info(tr("The reference covers none of the valid pixels (it lies elsewhere, or holds only no data "
                         "here: check its CRS and extent): no accuracy is measured."))
    elif cut.accuracy is not None and cut.accuracy.coverage() < 1:
        progress.info(tr("The reference covers {percent:.1f} % of the valid pixels: accuracy is measured there only.",
                         percent=percent_down(cut.accuracy.coverage())))
    return cut


def collect_stats(params: RunParams, pair: AlignedPair, prior: PriorResult, trained: Trained, difference: Difference,
              cut: Cut, timing: dict) -> RunStats:
    """What the run reports (stats.json, the dock, the benchmarks) from what its stages made."""
    grid = pair.grid
    return RunStats(mode=params.mode, seed=params.seed, device=params.device,
                    threshold_method=params.threshold_method, threshold=round(float(cut.threshold), 6),
                    **prior.calibration.to_dict(), **cut.figures(), grid=grid, prior=params.prior,
                    prior_block=prior.block, detector="network" if trained.detector is not None else "prior",
                    evidence={**prior.evidence.to_dict(), "applied": prior.gated},
                    direct_comparison=prior.direct.to_dict(), prior_one_sided=prior.one_sided,
                    white_places=prior.white_places, network=trained.stats,
                    network_confirmation=difference.confirmation.to_dict() if difference.confirmation else None,
                    extend_from_samples=params.extend_from_samples or None,
                    timing=timing, coregistration=pair.shift.to_dict() if params.coregister else None,
                    parameters=params.recorded(), release=release())
