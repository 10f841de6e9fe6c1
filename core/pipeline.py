"""run(params, progress) -> RunResult: the only place that sequences the steps of a change-detection run.

Data flow: aligned pair -> decimated block means -> normalisers + prior -> evidence and the prior's
threshold (decision.score) -> detector (prior alone, or the OAIP network trained on pseudo-labels and
confirming the prior) -> change score written tile by tile -> change (score > 0.5, or the analyst's
manual threshold) and confidence rasters tile by tile -> polygons -> statistics.
Every output is written under a temporary name and renamed only when the whole run succeeded.
"""
from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .decision.cut import CHANGE_NODATA, Cut
from .decision.evidence import weigh_evidence
from .decision.score import DECISION, calibrate
from .decision.threshold import confidence, is_automatic
from .errors import MEMORY_ADVICE, InputError, ResourceError, is_out_of_memory
from .labels.blocks import block_size, upsample_prior
from .labels.prior import change_prior
from .normalise import fit_normaliser
from .params import RunParams
from .progress import Progress
from .raster.align import check_raster, open_pair
from .raster.gdal_scope import in_gdal_scope
from .raster.polygons import polygonize_changes
from .raster.samples import rasterize_samples
from .raster.tiles import tiles
from .raster.write import OutputSet, check_outputs, writing
from .run_stats import RunStats

DIFFERENCE_NODATA = -1.0


@dataclass
class RunResult:
    stats: RunStats
    outputs: dict
    log: list = field(default_factory=list)


class _Clock:
    """Seconds per phase for the statistics."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.last = self.start
        self.phases: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = round(self.phases.get(name, 0.0) + now - self.last, 4)
        self.last = now

    def summary(self) -> dict:
        return {**self.phases, "total": round(time.perf_counter() - self.start, 4)}


def _requested(params: RunParams) -> None:
    if not any((params.out_change, params.out_difference, params.out_confidence,
                params.out_polygons, params.out_stats)):
        raise InputError("No output was requested: give at least one of the change, difference, "
                         "confidence, polygons or statistics outputs.")


def _memory_explained(function):
    """An exhausted memory limit, wherever it strikes (numpy, GDAL, torch), as one sentence with advice."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (MemoryError, RuntimeError) as exc:
            if is_out_of_memory(exc):
                raise ResourceError(MEMORY_ADVICE) from exc
            raise
    return wrapper


@_memory_explained
@in_gdal_scope
def run(params: RunParams, progress: Progress | None = None) -> RunResult:
    """Detect changes between params.t1 and params.t2 and write the requested outputs."""
    params.validate()
    _requested(params)
    progress = progress or Progress()
    clock = _Clock()
    log = progress.log
    # Every output location and input file is checked before any work, not after training.
    log.extend(check_outputs((params.out_change, params.out_difference, params.out_confidence,
                              params.out_polygons, params.out_stats), params.overwrite))
    if params.reference:
        check_raster(params.reference, "Reference")
    log.extend(params.warnings())
    progress(0.0, "Aligning the pair")
    with open_pair(params.t1, params.t2, bands1=params.bands1, bands2=params.bands2,
                   nodata1=params.nodata1, nodata2=params.nodata2, grid=params.grid,
                   pixel_size=params.pixel_size, aoi=params.aoi, same_grid=params.same_grid) as pair, \
            OutputSet(overwrite=params.overwrite) as outputs:
        grid = pair.grid
        log.append(f"Grid: {grid.width} x {grid.height} pixels; T1 {pair.band_count1} band(s), "
                   f"T2 {pair.band_count2} band(s).")
        log.extend(pair.notes)
        clock.lap("align")

        progress(0.05, "Computing the change prior on block means")
        b = block_size(grid.height, grid.width)
        blocks_shape = (math.ceil(grid.height / b), math.ceil(grid.width / b))
        x1b, x2b, valid_b = pair.read(out_shape=blocks_shape)
        if not valid_b.any():
            raise InputError("The overlap of the two images holds no valid pixel: it is all nodata in one "
                             "image or the other (check the nodata values and the area of interest).")
        norm1 = fit_normaliser(x1b, valid_b)
        norm2 = fit_normaliser(x2b, valid_b)
        log.append(f"T1 normalised as {norm1.kind}, T2 as {norm2.kind}; {params.prior} prior on {b}x{b} "
                   "block means.")
        prior = change_prior(norm1.apply(x1b), norm2.apply(x2b), valid_b, method=params.prior, seed=params.seed,
                             check=progress.check)
        evidence = weigh_evidence(prior)
        gated = is_automatic(params.threshold_method)   # a manual threshold is the analyst's own decision
        log.append(evidence.verdict() if gated else f"{evidence.verdict()} (not applied: manual threshold)")
        calibration = calibrate(prior, params.threshold_method, evidence)
        clock.lap("prior")

        analyst = rasterize_samples(params.samples, grid) if params.samples else None
        detector, network = None, None
        if params.mode != "prior" and gated and not evidence.significant:
            log.append("The network was not trained: there is no change in the pair to learn from.")
        elif params.mode != "prior":
            from .model.train import train_detector  # torch is needed from here on only

            detector, network = train_detector(pair, (norm1, norm2), prior, analyst, params,
                                               progress.span(0.1, 0.7), floor=evidence.floor, calibration=calibration)
            clock.lap("train")

        progress(0.7, "Writing the difference image")
        overlap = detector.context if detector is not None else 0
        layout = tiles(grid.width, grid.height, params.tile_size, overlap)
        diff_sink = outputs.raster(params.out_difference or outputs.scratch("difference.tif"), grid,
                                   "float32", DIFFERENCE_NODATA)
        any_valid = False
        for i, tile in enumerate(layout):
            progress.check()
            prob, valid = _probability(pair, tile, prior, calibration, grid, norm1, norm2, detector)
            prob = np.where(valid, prob, DIFFERENCE_NODATA).astype(np.float32)
            diff_sink.write(tile.core, prob)
            any_valid = any_valid or bool(valid.any())
            progress(0.7 + 0.15 * (i + 1) / len(layout), f"Writing the difference image: tile {i + 1}/{len(layout)}")
        diff_sink.flush()
        clock.lap("infer")
        if not any_valid:
            raise InputError("The overlap of the two images holds no valid pixel (all nodata).")
        threshold = DECISION if gated else float(params.threshold)

        progress(0.85, "Writing the change layer")
        change_path = params.out_change or (outputs.scratch("change.tif") if params.out_polygons else None)
        change_sink = outputs.raster(change_path, grid, "uint8", CHANGE_NODATA)
        conf_sink = outputs.raster(params.out_confidence, grid, "float32", DIFFERENCE_NODATA)
        cut = Cut(threshold, grid, params.reference)
        for i, tile in enumerate(layout):
            progress(0.85 + 0.1 * i / len(layout), f"Writing the change layer: tile {i + 1}/{len(layout)}")
            prob = diff_sink.read(tile.core)
            valid = prob != DIFFERENCE_NODATA
            change = cut.add(tile.core, prob, valid)
            if change_sink is not None:
                change_sink.write(tile.core, change)
            if conf_sink is not None:
                conf_sink.write(tile.core, np.where(valid, confidence(prob, threshold), DIFFERENCE_NODATA)
                                .astype(np.float32))
        if change_sink is not None:
            change_sink.close()
        diff_sink.close()
        if params.out_polygons:
            with writing(params.out_polygons):
                count = polygonize_changes(change_sink.path, diff_sink.path, outputs.file(params.out_polygons),
                                           grid, params.min_polygon_area)
            log.append(f"{count} change polygon(s).")
        clock.lap("write")

        if cut.accuracy is not None and cut.accuracy.coverage() < 1:
            log.append(f"The reference covers {100 * cut.accuracy.coverage():.1f} % of the valid pixels: "
                       "accuracy is measured there only.")
        stats = RunStats(mode=params.mode, seed=params.seed, device=params.device,
                         threshold_method=params.threshold_method, threshold=round(float(threshold), 6),
                         **calibration.to_dict(), **cut.figures(), grid=grid, prior=params.prior, prior_block=b,
                         detector="network" if detector is not None else "prior",
                         evidence={**evidence.to_dict(), "applied": gated}, network=network,
                         timing=clock.summary())
        if params.out_stats:
            outputs.write_text(params.out_stats, json.dumps(stats.to_dict(), indent=2))
        progress(1.0, "Done")
    return RunResult(stats=stats, outputs={
        "change": params.out_change, "difference": params.out_difference,
        "confidence": params.out_confidence, "polygons": params.out_polygons, "stats": params.out_stats,
    }, log=log)


def _probability(pair, tile, prior, calibration, grid, norm1, norm2, detector):
    """Change score (decision.score) and validity on one tile's core window."""
    if detector is None:
        _, _, valid = pair.read(tile.core)
        prob = calibration.prior_score(upsample_prior(prior, (grid.height, grid.width), tile.core))
        return prob, valid
    x1, x2, valid = pair.read(tile.read)
    prob = detector.predict(norm1.apply(x1), norm2.apply(x2), tile.read)
    r0 = tile.core.row_off - tile.read.row_off
    c0 = tile.core.col_off - tile.read.col_off
    window = (slice(r0, r0 + tile.core.height), slice(c0, c0 + tile.core.width))
    return prob[window], valid[window]
