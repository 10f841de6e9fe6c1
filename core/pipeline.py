"""run(params, progress) -> RunResult: the only place that sequences the stages of a change-detection run.

Data flow (core/stages/): aligned pair -> decimated block means and normalisers (and MASK_CLOUDS's cloud) ->
analyst samples on its grid -> prior -> evidence and the prior's threshold (decision.score) -> detector (prior
alone, or the OAIP network trained on pseudo-labels and confirming the prior) -> change score written tile by tile ->
change (score > 0.5, or the analyst's manual threshold) and confidence rasters tile by tile -> polygons ->
statistics (RunStats, collect_stats).
Every output is written under a temporary name and renamed only when the whole run succeeded.
"""
from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .errors import InputError, ResourceError, is_out_of_memory, memory_advice
from .i18n import tr
from .params import INPUT_FIELDS, RunParams
from .progress import Progress
from .raster.gdal_scope import in_gdal_scope
from .raster.input_files import check_mask, check_vector
from .raster.samples import check_samples
from .raster.write import OutputSet, check_outputs
from .run_stats import RunStats
from .stages import (
    align_pair,
    collect_stats,
    compute_prior,
    marked_within,
    read_blocks,
    read_samples,
    read_surroundings,
    train_network,
    white_places,
    within_aoi,
    write_change,
    write_difference,
)
from .torch_threads import torch_threads


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
    if not any(_outputs(params).values()):
        raise InputError(tr("No output was requested: give at least one of the change, difference, "
                            "confidence, polygons or statistics outputs."))


def _memory_explained(function):
    """An exhausted memory limit, wherever it strikes (numpy, GDAL, torch), as one sentence with advice."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (MemoryError, RuntimeError) as exc:
            if is_out_of_memory(exc):
                raise ResourceError(memory_advice()) from exc
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
    log.extend(check_outputs(_outputs(params).values(), params.overwrite,
                             inputs=[getattr(params, field) for field in INPUT_FIELDS]))
    if params.reference:
        check_mask(params.reference, tr("Reference"))
    layers_read = [(label, note) for path, label in ((params.samples, tr("Samples")), (params.aoi, tr("AOI"))) if path
                   for note in check_vector(path, label)]
    log.extend(note for _, note in layers_read)
    if params.samples:
        with _naming(layers_read):
            check_samples(params.samples)
    log.extend(params.warnings())
    progress(0.0, tr("Aligning the pair"))
    with _naming(layers_read), torch_threads(params.threads), align_pair(params, log) as pair, \
            OutputSet(overwrite=params.overwrite) as outputs:
        clock.lap("align")
        blocks = read_blocks(pair, params, progress)   # finds the cloud MASK_CLOUDS leaves out
        surroundings = read_surroundings(pair, blocks, params, progress)   # an AOI among the ground around it
        samples = read_samples(params, pair, progress)   # on the places compared; a bad file fails before the prior
        wide = compute_prior(surroundings.around, params, progress)
        prior = white_places(within_aoi(wide, surroundings.frame, surroundings.blocks), surroundings, progress)
        clock.lap("prior")
        ground = surroundings.ground(wide, samples)   # an AOI is mapped as the ground around it
        trained = train_network(pair, prior, samples, params, progress, ground)
        if trained.detector is not None:
            clock.lap("train")
        difference = write_difference(pair, prior, trained, samples, params, outputs, progress, ground)
        clock.lap("infer")
        cut = write_change(difference, pair.grid, prior, samples, params, outputs, progress)
        prior = marked_within(prior, cut, progress)   # an AOI's verdict is the ground's: how much of the AOI is marked
        clock.lap("write")
        stats = collect_stats(params, pair, prior, trained, difference, cut, clock.summary())
        if params.out_stats:
            outputs.write_text(params.out_stats, json.dumps(stats.to_dict(), indent=2))
        progress(1.0, tr("Done"))
    return RunResult(stats=stats, outputs=_outputs(params), log=log)


@contextmanager
def _naming(layers_read: list[tuple[str, str]]) -> Iterator[None]:
    """A refusal of an input (label, as check_vector names it: tr("Samples") or tr("AOI")) also says which layer of
    its file of several was read (check_vector's note): the note went to the log, which a front end does not show of
    a failed run, so an AOI file whose first layer lay off the images was refused as "do not overlap" without a word
    of that layer. Refusals that name neither input get no note."""
    try:
        yield
    except InputError as exc:
        text = str(exc).lower()
        words = {tr("Samples"): (tr("Samples"),), tr("AOI"): (tr("AOI"), tr("area of interest"))}
        notes = [note for label, note in layers_read if any(word.lower() in text for word in words[label])]
        if notes:
            exc.args = (" ".join([str(exc), *notes]),)
        raise


def _outputs(params: RunParams) -> dict:
    return {"change": params.out_change, "difference": params.out_difference, "confidence": params.out_confidence,
            "polygons": params.out_polygons, "stats": params.out_stats}
