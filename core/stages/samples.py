"""The analyst's samples read onto the run's grid, with what the run says of those it cannot use."""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import InputError
from ..i18n import tr
from ..params import RunParams
from ..progress import Progress
from ..raster.align import AlignedPair
from ..raster.grid import Window
from ..raster.samples import NONE, rasterize_samples
from ..raster.strips import strips
from ..raster.vector_layer import features_outside, features_without_geometry, open_layer


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
    source, layer = open_layer(params.samples, tr("Samples"))   # the layer lives while its data source does
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
