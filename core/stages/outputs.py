"""The difference image and the change layer (with its confidence, polygons and accuracy), tile by tile."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from ..decision.confirmation import Confirmation, added_places
from ..decision.cut import CHANGE_NODATA, Cut
from ..decision.score import DECISION, EXTEND_LINE, change_score, with_samples
from ..decision.threshold import confidence
from ..errors import InputError
from ..i18n import tr
from ..labels.blocks import upsample_prior
from ..metrics import percent_down
from ..params import RunParams
from ..progress import Progress
from ..raster.align import AlignedPair
from ..raster.areas import change_extent
from ..raster.grid import Grid, Window
from ..raster.polygons import polygonize_changes
from ..raster.strips import valid_values
from ..raster.tiles import Tile, tiles
from ..raster.write import OutputSet, RasterSink, writing
from .prior import PriorResult
from .surroundings import Ground
from .training import Trained

if TYPE_CHECKING:
    from ..model.detector import Detector

DIFFERENCE_NODATA = -1.0


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
