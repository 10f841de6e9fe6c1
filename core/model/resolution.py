"""The resolution the network works at: the output grid's own pixels where the prior's blocks are coarse.

The prior needs b×b block means to stay affordable (labels/blocks.py: at most 250 000 cells, so b = 22
on a 10 980² Sentinel-2 tile, 220 m cells). The network does not: it is a few 3×3 convolutions, so
it can run over every pixel, tile by tile, and give the change map its native boundaries (buildings
10–40 px wide, flood edges). Its labels still come from the prior's blocks (coarse to fine). Where
the blocks are already small (b = 2 on the shared pairs, all under 1000²) the network keeps seeing
them, as measured there.
"""
from __future__ import annotations

from typing import Optional

NATIVE_FROM_BLOCK = 4   # prior blocks of at least this side (images over about 1500²): the network sees pixels


def network_cell(block: int, configured: Optional[int] = None) -> int:
    """Side in pixels of the cells the network sees: `configured` when given (TrainConfig.cell), else
    1 (the grid's own pixels, PIXEL_SIZE when set) for prior blocks of NATIVE_FROM_BLOCK and more, else
    the prior's block."""
    if configured:
        return configured
    return 1 if block >= NATIVE_FROM_BLOCK else block
