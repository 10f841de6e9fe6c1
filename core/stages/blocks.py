"""The first stages: the pair aligned on one grid, and both images as block means (the priors' grid), with the
cloud MASK_CLOUDS leaves out."""
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..block_checks import LEAST_VALID, check_blocks
from ..errors import InputError
from ..i18n import tr
from ..labels.blocks import block_size, finer_first, least_block, radar_finer
from ..labels.direct_comparison import (
    Measures,
    direct_measures,
)
from ..normalise import Normaliser, fit_normaliser, guess_kind, holds_radar
from ..params import RunParams
from ..progress import Progress
from ..raster.align import AlignedPair, open_pair
from ..raster.cloud_mask import CloudCells, cloud_cells, white, white_levels
from ..raster.coregister import coregister
from ..raster.grid import Grid, distance_unit
from ..raster.on_grid import check_on_grid


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
        kept = clouds_left_out(pair, valid, levels, clouds, b, progress)
        left_out, valid = valid & ~kept, kept
        norm1, norm2 = fit_normaliser(x1, valid, kinds[0]), fit_normaliser(x2, valid, kinds[1])
    return Blocks(b, norm1.apply(x1), norm2.apply(x2), valid, norm1, norm2, direct_measures(x1, x2, valid),
                  radar_finer(pair.pixel_sides, radar), all(radar), _block_ground(b, grid), whites, left_out, clouds)


def clouds_left_out(pair: AlignedPair, valid: np.ndarray, levels: tuple[Optional[np.ndarray], Optional[np.ndarray]],
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
    pixels = int(kept.sum()) * block * block
    if pixels < LEAST_VALID:
        advice = (tr("the area of interest is white nearly everywhere: draw it where the images are clear, or run "
                     "without MASK_CLOUDS.") if pair.has_aoi else
                  tr("the images are white nearly everywhere. Check them, or run without MASK_CLOUDS."))
        raise InputError(tr("MASK_CLOUDS leaves about {pixels} pixel(s) to compare ({percent:.2f} % of {where}); at "
                            "least {least} are needed: {advice}", pixels=pixels, least=LEAST_VALID, where=where,
                            percent=100 * kept.sum() / max(int(valid.sum()), 1), advice=advice))
    # Set once the mask is taken: a refusal that the caller gets past leaves the pair's reads as they were.
    pair.white_levels = levels
    pair.cloud_cells = CloudCells(~kept & valid, (pair.grid.height, pair.grid.width)) if found is None else found
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
