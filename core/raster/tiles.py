"""Tiles with overlap: each tile is read with a margin and only its core is kept, so results are seamless."""
from __future__ import annotations

from dataclasses import dataclass

from .grid import Window


@dataclass(frozen=True)
class Tile:
    read: Window  # what to read, core plus margin, clipped to the image
    core: Window  # what this tile contributes; the cores partition the image

    def core_in_read(self) -> tuple[slice, slice]:
        """Where the core lies in an array read over `read`."""
        return Window(self.core.col_off - self.read.col_off, self.core.row_off - self.read.row_off,
                      self.core.width, self.core.height).slices()


def tiles(width: int, height: int, size: int, overlap: int) -> list[Tile]:
    """Cover width × height with cores of at most size × size, each read with `overlap` pixels around it."""
    out = []
    for row in range(0, height, size):
        for col in range(0, width, size):
            core = Window(col, row, min(size, width - col), min(size, height - row))
            c0, r0 = max(0, col - overlap), max(0, row - overlap)
            c1 = min(width, col + core.width + overlap)
            r1 = min(height, row + core.height + overlap)
            out.append(Tile(Window(c0, r0, c1 - c0, r1 - r0), core))
    return out
