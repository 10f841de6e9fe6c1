"""Training crops read from the aligned pair around labelled places, with dense labels on the output grid.

The network works on f×f cell means of the normalised images (f: the prior's block side): averaging
calms SAR speckle, and it bounds the cost of training and inference by the prior's cell budget
whatever the image size. It is fully convolutional, so a crop of S cells gives (S/s)² labelled
outputs (s: the network's stride), not one. Crops are centred on cells drawn from each class in turn
(balanced), jittered, aligned to the cell lattice and read one window at a time with
``pair.read(window)``, so a large image is never loaded whole.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from ..errors import InputError
from ..i18n import tr
from ..labels.blocks import block_means
from ..labels.margins import CHANGED, NONE, UNCHANGED
from ..raster.grid import Window

if TYPE_CHECKING:
    from ..normalise import Normaliser
    from ..raster.align import AlignedPair


@dataclass
class Crops:
    x1: np.ndarray      # (n, bands1, S, S) float32 cell means, normalised, invalid cells filled
    x2: np.ndarray      # (n, bands2, S, S)
    labels: np.ndarray  # (n, S/s, S/s) int8 on the output grid: -1 none, 0 unchanged, 1 changed
    windows: list       # pixel windows, multiples of the cell side

    def __len__(self) -> int:
        return len(self.windows)


FILL_CELLS = 8   # invalid cells this close to a valid one are filled: the network's receptive field


def fill_invalid(x: np.ndarray, ok: np.ndarray, steps: int = FILL_CELLS) -> np.ndarray:
    """Invalid cells (bands, H, W) take the mean of their valid or already filled 8-neighbours, one
    ring per step; cells further than `steps` from any valid cell stay 0.

    Zeros next to nodata read as a change to the network (measured: a false-change rim along the
    nodata edge of the sample pair); values carried over from the valid side do not.
    """
    x = np.where(ok, x, 0.0).astype(np.float32)
    known = ok.astype(np.float32)
    for _ in range(steps):
        if known.all():
            break
        padded_x = np.pad(x * known, ((0, 0), (1, 1), (1, 1)))
        padded_k = np.pad(known, 1)
        h, w = known.shape
        total = sum(padded_x[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
        count = sum(padded_k[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
        new = (known == 0) & (count > 0)
        x = np.where(new, total / np.maximum(count, 1), x)
        known = np.where(new, 1.0, known).astype(np.float32)
    return x.astype(np.float32)


def to_cells(x: np.ndarray, valid: np.ndarray, cell: int, row_off: int = 0, col_off: int = 0
             ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Cell means of a normalised window (bands, h, w) whose top-left pixel is (row_off, col_off).

    Cells sit on the global lattice of multiples of `cell`, so tiles and crops agree wherever they
    are read. Returns (means (bands, H, W), invalid cells filled from their neighbours
    (fill_invalid), cell validity, the pixel offset of the window's first pixel inside its first cell).
    """
    offset = (row_off % cell, col_off % cell)
    if cell == 1:
        return fill_invalid(x, valid), valid, offset
    pad = ((0, 0), (offset[0], 0), (offset[1], 0))
    means, ok = block_means(np.pad(x, pad), np.pad(valid, pad[1:]), cell)
    return fill_invalid(means, ok), ok, offset


def pair_cells(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray, cell: int, row_off: int = 0, col_off: int = 0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """to_cells for both images of a window in one pass (they share the validity mask):
    (cells 1, cells 2, cell validity, offset)."""
    cells, ok, offset = to_cells(np.concatenate([x1, x2]), valid, cell, row_off, col_off)
    return cells[:x1.shape[0]], cells[x1.shape[0]:], ok, offset


def crop_windows(cell_labels: np.ndarray, block: int, shape: tuple[int, int], size: int, count: int,
                 seed: int, analyst: Optional[np.ndarray] = None, align: int = 1) -> list[Window]:
    """`count` pixel windows of side `size` inside the (rows, cols) image, their corners on multiples
    of `align` (the cell side), centred near labelled cells.

    Half are centred on "changed" cells, half on "unchanged" ones (cell_labels on the block grid);
    analyst pixels (analyst >= 0) are taken as centres first, up to half of the crops.
    """
    rows, cols = shape
    if size > min(rows, cols):
        raise InputError(tr("The image ({rows}×{cols}) is smaller than one training crop ({size}×{size}).",
                            rows=rows, cols=cols, size=size))
    rng = np.random.default_rng(seed)
    centres_r, centres_c = [], []
    if analyst is not None:
        r, c = np.nonzero(analyst >= 0)
        pick = rng.permutation(r.size)[:count // 2]
        centres_r.append(r[pick])
        centres_c.append(c[pick])
    left = count - sum(r.size for r in centres_r)
    for cls, n in ((UNCHANGED, left - left // 2), (CHANGED, left // 2)):
        r, c = np.nonzero(cell_labels == cls)
        if r.size == 0 or n == 0:
            continue
        pick = rng.choice(r.size, n, replace=r.size < n)
        centres_r.append(r[pick] * block + block // 2)
        centres_c.append(c[pick] * block + block // 2)
    if not centres_r:
        return []
    r, c = np.concatenate(centres_r), np.concatenate(centres_c)
    shift = rng.integers(-size // 4, size // 4 + 1, (2, r.size))   # the centre is not always in the middle
    top = np.clip(r - size // 2 + shift[0], 0, rows - size) // align * align
    left_col = np.clip(c - size // 2 + shift[1], 0, cols - size) // align * align
    order = rng.permutation(r.size)
    return [Window(int(left_col[i]), int(top[i]), size, size) for i in order]


def output_labels(cell_labels: np.ndarray, block: int, window: Window, cell: int, stride: int,
                  analyst: Optional[np.ndarray] = None) -> np.ndarray:
    """Labels of the network's outputs over `window`: an output spans stride×stride cells of side
    `cell` and takes the prior's label at its centre; an analyst label in its footprint wins
    (changed over unchanged)."""
    step = cell * stride
    rows = window.row_off + np.arange(0, window.height - step + 1, step) + step // 2
    cols = window.col_off + np.arange(0, window.width - step + 1, step) + step // 2
    rows = np.minimum(rows // block, cell_labels.shape[0] - 1)
    cols = np.minimum(cols // block, cell_labels.shape[1] - 1)
    labels = cell_labels[np.ix_(rows, cols)].astype(np.int8)
    if analyst is not None:
        h, w = labels.shape
        given = analyst[window.slices()][:h * step, :w * step].reshape(h, step, w, step)
        labels = np.where((given == UNCHANGED).any(axis=(1, 3)), UNCHANGED, labels)
        labels = np.where((given == CHANGED).any(axis=(1, 3)), CHANGED, labels).astype(np.int8)
    return labels


def read_crops(pair: AlignedPair, normalisers: Sequence[Normaliser], windows: list[Window], cell_labels: np.ndarray,
               block: int, cell: int, stride: int, analyst: Optional[np.ndarray] = None) -> Crops:
    """Read, normalise and average each window of the pair; outputs over invalid cells get no label."""
    if not windows:
        raise InputError(tr("No training crop could be placed: the prior gave no labelled cell."))
    x1s, x2s, labels = [], [], []
    for window in windows:
        x1, x2, valid = pair.read(window)
        c1, c2, ok, _ = pair_cells(normalisers[0].apply(x1), normalisers[1].apply(x2), valid, cell,
                                   window.row_off, window.col_off)
        lab = output_labels(cell_labels, block, window, cell, stride, analyst)
        h, w = lab.shape
        outside = ~ok[:h * stride, :w * stride].reshape(h, stride, w, stride).all(axis=(1, 3))
        x1s.append(c1)
        x2s.append(c2)
        labels.append(np.where(outside, NONE, lab).astype(np.int8))
    return Crops(np.stack(x1s), np.stack(x2s), np.stack(labels), windows)
