"""Checks on the two images' block means before any prior is computed: an overlap without data, too few
pixels with data in both, a blank image, and fills the files do not declare. Each refusal is one sentence
naming the file and what to do (errors.InputError); a fill is said in the log."""
from __future__ import annotations

import numpy as np

from .errors import InputError
from .i18n import tr
from .progress import Progress
from .raster.align import MIN_SIDE, AlignedPair
from .raster.border import edge_regions


def check_blocks(pair: AlignedPair, x1: np.ndarray, x2: np.ndarray, valid: np.ndarray, block: int,
                 progress: Progress) -> None:
    """Refuse block means that show nothing to compare; name undeclared fills. x1, x2: (bands, rows, cols)
    block means of block x block pixels; valid: blocks with data in both images."""
    if not valid.any():
        for number, ((label, path), x) in enumerate(zip(pair.names, (x1, x2)), start=1):
            blank = [band for band in range(1, x.shape[0] + 1) if not np.isfinite(x[band - 1]).any()]
            if blank and len(blank) < x.shape[0]:   # one empty band empties every place of the image
                raise InputError(tr("{label}: band(s) {bands} of '{path}' hold no data anywhere in the overlap "
                                    "(only nodata), so no place has all its bands: leave them out (BANDS{number}) "
                                    "and run again.", label=label, bands=", ".join(map(str, blank)), path=path,
                                    number=number))
        if pair.has_aoi and (np.isfinite(x1).all(0) & np.isfinite(x2).all(0)).any():   # data there, none inside
            raise InputError(tr("The area of interest holds no whole {size}x{size}-pixel block of the prior with data "
                                "in both images (it is thinner than that: a line, a ring or a sliver; or it lies on "
                                "no data of one image), so nothing in it can be compared: draw it as an area where "
                                "both images have data.", size=block))
        empty = [f"{label} '{path}'" for (label, path), x in zip(pair.names, (x1, x2)) if not np.isfinite(x).any()]
        where = (tr("it is all nodata in {images}", images=tr(" and ").join(empty)) if empty else
                 tr("where one image has data the other has none"))
        raise InputError(tr("The overlap of the two images holds no valid pixel: {where} (check the nodata values "
                            "and the area of interest).", where=where))
    _check_coverage(valid, block)
    for (label, path), x in zip(pair.names, (x1, x2)):
        values = x[:, valid]
        if (values.max(axis=1) <= values.min(axis=1)).all() and pair.has_aoi:   # a tiny AOI, more likely
            raise InputError(tr("{label}: '{path}' holds one value ({value:g}) in every valid pixel inside the area "
                                "of interest ({cells} block(s) of {size}x{size} px), so it shows nothing to compare: "
                                "check that the AOI is the area you meant (not too small, not where the image is "
                                "blank).", label=label, path=path, value=values[0, 0], cells=int(valid.sum()),
                                size=block))
        if (values.max(axis=1) <= values.min(axis=1)).all():   # a blank image: "no change" would be a guess
            raise InputError(tr("{label}: '{path}' holds one value ({value:g}) in every valid pixel of the "
                                "overlap, so it shows nothing to compare: check that the file is the image you "
                                "meant (not a blank export) and its nodata value.",
                                label=label, path=path, value=values[0, 0]))
    _name_undeclared_fills(pair, x1, x2, valid, progress)


LEAST_VALID = MIN_SIDE ** 2   # pixels with data in both images: what the overlap itself must hold


def _check_coverage(valid: np.ndarray, block: int) -> None:
    """Refuse an overlap whose pixels with data in both images are fewer than a 32 × 32 square: a verdict
    on a hundred pixels of a large overlap (the rest nodata) was reported as no significant change."""
    pixels = int(valid.sum()) * block * block
    if pixels < LEAST_VALID:
        raise InputError(tr("Only about {pixels} pixel(s) of the overlap have data in both images ({percent:.2f} % "
                            "of it); at least {least} are needed to compare them: check the nodata values "
                            "(NODATA1, NODATA2) and the area of interest.", pixels=pixels,
                            percent=100 * float(valid.mean()), least=LEAST_VALID))


ZERO_SHARE = 0.01   # of the blocks: the shared pairs have at most 0.2 % exactly 0, a swath's border far more


def _name_undeclared_fills(pair: AlignedPair, x1: np.ndarray, x2: np.ndarray, valid: np.ndarray,
                           progress: Progress) -> None:
    """Say when an image that declares no nodata holds whole blocks of exact 0, or, with several bands, blocks of
    its highest value in every band along its edge: most often the border outside a swath (Sentinel-1 GRD files
    carry it without a nodata value) or a map export's black or white corners that raster.border could not take
    as no data (a JPEG's ringing fades them), compared as data unless NODATA1/2 says. A white JPEG collar on an
    unchanged scene was marked changed, 10 % of it, without a word. (The top class of a one-band class map, a
    cloud inside a rendering, are not named.)"""
    for number, ((label, path), x, undeclared) in enumerate(zip(pair.names, (x1, x2), pair.undeclared), start=1):
        if not undeclared:
            continue
        top = x[:, valid].max(axis=1)
        whitest = [float(top[0])] if x.shape[0] > 1 and (top == top[0]).all() and top[0] > 0 else []
        for value in [0.0] + whitest:
            at = valid & (x == value).all(axis=0)
            share = float((at if value == 0 else edge_regions(at)).sum() / valid.sum())
            if share < ZERO_SHARE:
                continue
            what = (tr("is exactly 0 in every band") if value == 0 else
                    tr("is exactly {value:g}, its highest value, in every band", value=value))
            where = (tr("outside its swath or scene") if value == 0 else
                     tr("a fill outside its scene (the white corners of a map export)"))
            progress.info(tr("{label}: {percent:.1f} % of '{path}' {what} and the file declares no nodata value: if "
                             "that is {where}, set NODATA{number} to {value:g}, or it is compared as data.",
                             label=label, percent=100 * share, path=path, what=what, where=where, number=number,
                             value=value))
