"""Places bright white in every band of an optical image: thick cloud (and snow, glare, white roofs).

A cloud in one date's optical image hides the ground the other image sees, so the pair disagrees there as
strongly as anywhere: thick cloud over a tenth of the generated flood scene (`sample_pair`'s `cloudy`) took the
map whole, Kappa 0.73 → −0.05 (bench/RESULTS.md, release 0.18.0). Two images cannot tell a cloud from a new white
roof (shuguang's new buildings are white in its optical image), so the run does not decide it alone: it says how
much of the change it marked lies on such places (`white_share`, the note in stages.prior._white_places), and with
MASK_CLOUDS the analyst has them and their hazy edge left out as no data: the blocks `cloud_cells` finds on the
block means, and then, in every later read of the pair by raster.align.AlignedPair.read (the network's and the
outputs' tiles, the samples' check), those blocks (`CloudCells`) and any pixel `white_levels` reaches.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import ndimage

from ..normalise import Normaliser
from .grid import TOUCHING, Window

# White: every band at or above this share of its 1–99 % stretch (normalise.Normaliser). Thick cloud covering
# more than 1 % of an image sets the top of that stretch, so it reaches it in every band; land rarely does
# (vegetation is dark in red, bare soil and water in NIR or blue).
WHITE = 0.9
# A cloud's edge thins into haze, whose ground shows through a veil of white: places bright in every band to HAZE
# of its stretch are taken for that edge where they lie within EDGE × √(cells) blocks of a white region (at least
# one block): a large cloud fades over a wider edge than a small one. Measured with MASK_CLOUDS on italy, shuguang
# and urban-optical with cloud added to T2 over 3, 8 and 15 % and on the generated cloudy and optical-pair-cloudy
# scenes (prior mode, seed 0; bench/RESULTS.md, release 0.18.0): white places alone mean 0.51 over these 13 cases;
# an edge of one block 0.61 (the generated cloudy scene, whose cloud fades over some ten blocks, −0.01 and −0.03);
# EDGE 0.1 / 0.2 / 0.3 / 0.4: 0.71 / 0.73 / 0.74 / 0.73, worst 0.55 / 0.59 / 0.62 / 0.61. Chosen on all cases but one
# family (the generated scenes, each shared pair's) in turn: 0.3 every time, held out 0.738 as in-sample. Following
# the edge wherever it is joined to white took whole cities (shuguang as given 0.786 → −0.03 to 0.27), and on a clear
# image of a white-roofed city this edge takes the roofs' surroundings too (shuguang as given with MASK_CLOUDS 0.205;
# 0.673 with an edge of one block): the option is for a clouded image.
HAZE = 0.35
EDGE = 0.3
# The note names white places when at least this share of the marked change lies on them: 0.40–0.88 with thick
# cloud over 3–15 % of an optical image (italy, shuguang and urban-optical with cloud added to T2, and the
# generated cloudy scenes); 0.27 at most without (shuguang's white new roofs), 0 on six of the eight shared pairs.
NOTE_SHARE = 1 / 3
# ... or when this share of the overlap is white in an image, marked or not: cloud in both dates hides the change
# rather than being marked (a probe's pair with cloud over 7.7 % of T1 and 10.8 % of T2: Kappa −0.03, none of the
# change marked on it; 0.79 with MASK_CLOUDS). At most 1.7 % of the shared pairs' optical images are white.
NOTE_WHITE = 0.05


def white_levels(norm: Normaliser, radar: bool, level: float = WHITE) -> Optional[np.ndarray]:
    """Per band, the value at or above which a place is white (at `level` of the band's stretch); None where
    whiteness says nothing of cloud: an image of one band (bright sand in a panchromatic image), or one holding a
    radar's values (bright city)."""
    if radar or norm.kind != "optical" or norm.floor is not None or norm.low.size < 2:
        return None
    return (norm.low + level * (norm.high - norm.low)).astype(np.float32)


def cloud_cells(x: np.ndarray, norm: Normaliser, radar: bool) -> Optional[np.ndarray]:
    """Block means (bands, rows, cols; the image's own values) that are white, or bright in every band to HAZE
    within EDGE × √(cells) blocks (at least one) of a white region (a cloud's hazy edge: each region's own reach,
    so a white speck beside a large cloud does not shorten the cloud's); None where `white_levels` says nothing of
    cloud."""
    strong, weak = white_levels(norm, radar), white_levels(norm, radar, HAZE)
    if strong is None or weak is None:
        return None
    core = white(x, strong)
    regions, _ = ndimage.label(core, TOUCHING)
    reach = np.maximum(1, np.round(EDGE * np.sqrt(np.bincount(regions.ravel())))).astype(np.int64)
    reach[0] = 0   # not white
    near = ndimage.binary_dilation(reach[regions] == 1, TOUCHING) | core
    for index, box in enumerate(ndimage.find_objects(regions), start=1):   # the larger ones, each in its own window
        side = int(reach[index])
        if box is None or side <= 1:
            continue
        window = tuple(slice(max(part.start - side, 0), part.stop + side) for part in box)
        near[window] |= ndimage.distance_transform_cdt(regions[window] != index, metric="chessboard") <= side
    return core | (white(x, weak) & near)


@dataclass(frozen=True)
class CloudCells:
    """The blocks MASK_CLOUDS left out, on the grid they were found on (`across`: its size in pixels, rows and
    cols), and where the reading pair's grid begins on it (`origin`, pixels). An AOI reads the cells found on the
    ground around it: read through its own blocks, which span other pixels than the ground's where its size is no
    multiple of a block, an AOI's reads and the ground's left out different pixels along the cloud's edge (202 of
    41 311 on a generated AOI, build/exp50/cloud_probe.py)."""

    cells: np.ndarray
    across: tuple[int, int]
    origin: tuple[int, int] = (0, 0)

    def at(self, window: Window, shape: tuple[int, int]) -> np.ndarray:
        """The cells at the `shape` read of `window` (on the reading pair's grid), by each read pixel's centre."""
        def index(start: int, length: int, n: int, cells_across: int, grid_across: int) -> np.ndarray:
            centres = start + (np.arange(n) + 0.5) * length / n
            return np.minimum((centres * cells_across / grid_across).astype(np.int64), cells_across - 1)
        rows = index(window.row_off + self.origin[0], window.height, shape[0], self.cells.shape[0], self.across[0])
        cols = index(window.col_off + self.origin[1], window.width, shape[1], self.cells.shape[1], self.across[1])
        return self.cells[np.ix_(rows, cols)]


def white(x: np.ndarray, levels: Optional[np.ndarray]) -> np.ndarray:
    """Where every band of `x` (bands, rows, cols; the image's own values) reaches its level; nowhere without
    levels. No data (NaN) is never white."""
    if levels is None:
        return np.zeros(x.shape[1:], bool)
    return (x >= levels[:, None, None]).all(axis=0)


def white_share(white_cells: np.ndarray, marked: np.ndarray) -> float:
    """The share of the marked cells that are white (0 where none is marked)."""
    count = int(marked.sum())
    return float((white_cells & marked).sum() / count) if count else 0.0
