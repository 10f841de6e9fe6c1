"""An area of interest among the ground around it: the blocks its prior is computed on, and the ground it is mapped
as."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Optional

import numpy as np

from ..errors import InputError
from ..i18n import tr
from ..labels.surroundings import Frame, frame_around
from ..params import RunParams
from ..progress import Progress
from ..raster.align import AlignedPair
from ..raster.cloud_mask import NOTE_WHITE, CloudCells
from ..raster.grid import Window
from ..raster.samples import NONE
from .blocks import Blocks, clouds_left_out, read_blocks

if TYPE_CHECKING:
    from .prior import PriorResult


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
    are (clouds_left_out), so that the log's share is the one its reads leave out. Found on the AOI alone, the
    white level of a clear AOI beside a cloud left nothing out where the ground's left out a tenth of it. Its reads
    leave out the ground's cells as the ground's reads do, pixel for pixel (raster.cloud_mask.CloudCells)."""
    grid, across = pair.grid, (frame.height, frame.width)
    whole = Window(0, 0, grid.width, grid.height)
    clouds = tuple(None if cells is None else CloudCells(cells, across, frame.origin).at(whole, blocks.valid.shape)
                   for cells in around.clouds)
    found = None if wider.cloud_cells is None else replace(wider.cloud_cells, origin=frame.origin)
    kept = clouds_left_out(pair, blocks.valid, wider.white_levels, clouds, blocks.size, progress, found)
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
    finally:   # the cloud around is left out by the blocks kept below; the ground's reads keep every pixel
        wider.white_levels, wider.cloud_cells = (None, None), None
    valid = masked.valid | (masked.left_out & inside)   # the AOI's own white places stay, as without the option
    progress.info(tr("{percent:.0f} % of the ground around the area of interest is white in every band of an optical "
                     "image (cloud, snow), and is left out, with its hazy edge, of what the area is compared with.",
                     percent=100 * (white & outside).sum() / outside.sum()))
    return replace(masked, valid=valid, left_out=None,
                   white=tuple(None if cells is None else cells & valid for cells in masked.white))
