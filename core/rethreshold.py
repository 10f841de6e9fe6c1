"""A finished run's difference image cut at another threshold, written as new files.

The analyst tries thresholds after a run (the dock's slider); the run's own outputs must stay as
written, so that its change layer, polygons and statistics keep describing one threshold. A new
threshold makes its own change raster, and, when asked, its own polygons and statistics (with the
accuracy measured again at that threshold), all written completely or not at all. No torch here:
the dock calls this on the main thread of a QGIS that may lack it.
"""
from __future__ import annotations

import json
from dataclasses import replace
from functools import partial
from typing import Optional

import numpy as np
from osgeo import gdal

from .decision.cut import CHANGE_NODATA, Cut
from .decision.evidence import within_note
from .errors import InputError
from .i18n import tr
from .params import INPUT_FIELDS, check_manual_threshold, check_output_formats
from .progress import Progress
from .raster.gdal_scope import in_gdal_scope
from .raster.grid import Window
from .raster.input_files import check_mask, open_raster, read_or_explain
from .raster.on_grid import check_on_grid
from .raster.polygons import polygonize_changes
from .raster.strips import strips, valid_values
from .raster.write import OutputSet, check_outputs, writing
from .run_stats import RunStats


@in_gdal_scope
def rethreshold(run_stats: RunStats, difference: str, threshold: float, out_change: str, *,
                out_polygons: Optional[str] = None, out_stats: Optional[str] = None,
                reference: Optional[str] = None, min_polygon_area: float = 0.0,
                progress: Optional[Progress] = None) -> RunStats:
    """Write change = difference > threshold (255 where the difference has no data) to `out_change`:
    a cut of the run's change score (decision.score: 0.5 is the run's automatic decision), and
    polygons and statistics for it when asked. Returns those statistics: the run's, at this manual
    threshold (the run's kept as `run_threshold`), with the changed area and fraction and the
    accuracy against `reference` measured again (none without a reference: the run's were measured
    at its own threshold). `progress` hears how far the cut and the polygons are, and can cancel them (the dock's
    task)."""
    progress = progress or Progress()
    threshold = check_manual_threshold(threshold)
    check_output_formats({"out_change": out_change, "out_polygons": out_polygons})
    # New files only, never the difference image, the reference or anything the run read; an existing file
    # (the run's own change layer or statistics) is refused rather than replaced.
    run_inputs = [(run_stats.parameters or {}).get(field) for field in INPUT_FIELDS]
    check_outputs((out_change, out_polygons, out_stats), overwrite=False,
                  inputs=(difference, reference, *run_inputs))
    grid = run_stats.grid
    label = tr("Difference image")
    source = open_raster(difference, label)
    band = source.GetRasterBand(1)
    if (source.RasterXSize, source.RasterYSize) != (grid.width, grid.height):
        raise InputError(tr("The difference image '{path}' is {width} × {height} pixels, not the run's {run_width} × "
                            "{run_height}: give the difference image that this run wrote.", path=difference,
                            width=source.RasterXSize, height=source.RasterYSize, run_width=grid.width,
                            run_height=grid.height))
    if band.DataType not in (gdal.GDT_Float32, gdal.GDT_Float64):   # the run's change map cut at any threshold
        raise InputError(tr("'{path}' holds {type} values, not the change score a difference image holds: give the "
                            "difference image that this run wrote.", path=difference,
                            type=gdal.GetDataTypeName(band.DataType)))
    nodata = band.GetNoDataValue()
    if reference:
        check_mask(reference, tr("Reference"))   # as a run does: an image given as the reference scored Kappa 0
        check_on_grid(reference, grid, tr("Reference"))
    cut = Cut(threshold, grid, reference)
    own = Cut(run_stats.threshold, grid)   # the run's own map again: is this the image it was cut from?
    with OutputSet() as outputs:
        sink = outputs.raster(out_change, grid, "uint8", CHANGE_NODATA)
        cutting = progress.span(0.0, 0.5 if out_polygons else 1.0)
        for row, rows in strips(grid.height):
            cutting(row / grid.height, tr("Cutting the difference image at {threshold:.3f}", threshold=threshold))
            window = Window(0, row, grid.width, rows)
            prob = read_or_explain(label, difference, partial(band.ReadAsArray, 0, row, grid.width, rows))
            valid = valid_values(prob, nodata)
            sink.write(window, cut.add(window, prob, valid))
            own.add(window, prob, valid)
        _check_the_runs_own(own.figures(), run_stats, difference)
        sink.close()
        polygons = None
        if out_polygons:
            with writing(out_polygons):
                polygons = polygonize_changes(sink.path, difference, outputs.file(out_polygons), grid,
                                              min_polygon_area, progress.span(0.5, 1.0))
        stats = replace(run_stats, threshold_method="manual", threshold=round(float(threshold), 6),
                        evidence={**_within_again(run_stats.evidence, cut), "applied": False},   # as a manual run's
                        run_threshold=run_stats.threshold, run_threshold_method=run_stats.threshold_method,
                        polygons=polygons, **cut.figures())
        if out_stats:
            outputs.write_text(out_stats, json.dumps(stats.to_dict(), indent=2))
    return stats


def _within_again(evidence: dict, cut: Cut) -> dict:
    """An AOI's evidence with the share of it the new change layer marks (decision.evidence.within_note): the run's
    own said "nothing marked" of a layer cut again to mark all of it."""
    if evidence.get("within") is None:
        return evidence
    within = cut.marked_share()
    verdict = evidence["verdict"].replace(within_note(evidence["within"]), within_note(within))
    return {**evidence, "within": within, "verdict": verdict}


def _check_the_runs_own(figures: dict, run_stats: RunStats, difference: str) -> None:
    """Refuse a difference image that, cut at the run's own threshold, does not give the run's map: another run's
    written into the same folder since (the dock keeps the first run's statistics), another scene of the same size,
    the confidence layer. Any image of the grid's size was cut before, under statistics that were not its own."""
    if (figures["valid_pixels"], figures["changed_fraction"]) == (run_stats.valid_pixels, run_stats.changed_fraction):
        return
    raise InputError(tr("'{path}' is not the difference image of this run: cut at the run's threshold ({threshold}) it "
                        "marks {share:.2%} of {valid} valid pixels changed, the run {run_share:.2%} of {run_valid}. "
                        "Give the difference image written with these statistics, or run the detection again.",
                        path=difference, threshold=run_stats.threshold, share=figures["changed_fraction"],
                        valid=figures["valid_pixels"], run_share=run_stats.changed_fraction,
                        run_valid=run_stats.valid_pixels))


@in_gdal_scope
def difference_histogram(path: str, bins: int = 100) -> list[int]:
    """Counts of the difference image's valid values in equal bins over [0, 1] (1.0 in the last bin): the dock's
    threshold slider shows them, to cut again where the two classes part."""
    label = tr("Difference image")
    source = open_raster(path, label)   # held while its band is read: a band outlives no dataset
    band = source.GetRasterBand(1)
    counts = np.zeros(bins, np.int64)
    for row, rows in strips(source.RasterYSize):
        values = read_or_explain(label, path, partial(band.ReadAsArray, 0, row, source.RasterXSize, rows))
        counts += np.histogram(values[valid_values(values, band.GetNoDataValue())], bins=bins, range=(0.0, 1.0))[0]
    return counts.tolist()
