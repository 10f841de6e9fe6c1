"""How much ground around an area of interest its prior is computed on.

A prior judges each place against the rest of what it is given: an AOI drawn tight around a flood is mostly change,
and its prior then finds little contrast, or reports no change at all. Quarter and ninth crops of the eight shared
pairs given as scenes of their own average Kappa 0.41 where they hold change, while the whole pairs' maps cut to the
same crops give 0.65 (prior mode, seed 0; bench/RESULTS.md). So with an AOI the prior is computed on its grid
widened alike on every side, as far as the images' overlap reaches and the prior's cell budget allows (the whole
overlap up to about 4000² pixels in 2-px blocks), in whole blocks, so that the AOI's blocks are blocks of the wider
grid and its prior is a window of the wider one: where the scene fits the budget, an AOI is mapped about as the
whole scene is (the blocks' phase may differ), and drawing one does not change what the prior sees.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .blocks import MAX_CELLS, MAX_VALUES


@dataclass(frozen=True)
class Frame:
    """The wider grid around an AOI's grid, in that grid's pixels: `top` and `left` blocks before it, and its size."""

    top: int       # blocks above the AOI's grid
    left: int      # blocks to its left
    height: int    # pixels
    width: int
    block: int

    def within(self, cells: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """The AOI's `shape` of cells out of the wider grid's `cells`."""
        return cells[self.top:self.top + shape[0], self.left:self.left + shape[1]]

    def spread(self, pixels: np.ndarray, fill: int) -> np.ndarray:
        """The AOI grid's `pixels` placed on the wider grid, `fill` around them."""
        wide = np.full((self.height, self.width), fill, pixels.dtype)
        rows, cols = self.origin
        wide[rows:rows + pixels.shape[0], cols:cols + pixels.shape[1]] = pixels
        return wide

    @property
    def origin(self) -> tuple[int, int]:
        """Where the AOI's grid begins on the wider grid (pixels: rows, cols)."""
        return self.top * self.block, self.left * self.block


def frame_around(shape: tuple[int, int], room: tuple[int, int, int, int], block: int, bands: int) -> Frame:
    """The widest frame around an AOI's grid of `shape` pixels (rows, cols) that reaches as far on each side, at most
    `room` (pixels of the overlap above, left, below and right of it), and holds at most the prior's cells
    (labels.blocks.block_size's budget) in blocks of `block` pixels. Above and to the left only whole blocks, so that
    the AOI's blocks stay where they are."""
    height, width = shape
    budget = min(MAX_CELLS, MAX_VALUES // max(1, bands))

    def frame(reach: int) -> Frame:
        top, left = min(room[0], reach) // block, min(room[1], reach) // block
        rows = top * block + height + min(room[2], reach)
        cols = left * block + width + min(room[3], reach)
        return Frame(top, left, rows, cols, block)

    def fits(candidate: Frame) -> bool:
        return math.ceil(candidate.height / block) * math.ceil(candidate.width / block) <= budget

    low, high = 0, max(0, *room)   # the largest reach that fits, by bisection (cells grow with the reach)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(frame(middle)) else (low, middle - 1)
    return frame(low)
