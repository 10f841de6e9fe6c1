"""Integer 2×2 max-pool and the fusion |f1 − f2| of the two branches, channels-last, on int8 mantissas.

(ReLU is folded into `IntConv`: it is a clamp at 0 in the requantisation and a 0/1 mask in backward.)
"""
from __future__ import annotations

import functools

import torch

from ..errors import InputError
from ..i18n import tr
from . import kernels
from .rounding import requantise, round_nearest
from .tensor import BlockTensor


@functools.lru_cache(maxsize=8)
def _quadrant_order(n: int, h: int, w: int) -> torch.Tensor:
    """Pixel rows of (N, H, W) in quadrant-major order (dy, dx, n, y/2, x/2): a cached int32 permutation.
    index_select with it (or its inverse) moves C-byte rows ~10× faster than a permuted copy_."""
    grid = torch.arange(n * h * w, dtype=torch.int32).view(n, h // 2, 2, w // 2, 2)
    return grid.permute(2, 4, 0, 1, 3).flatten()


@functools.lru_cache(maxsize=8)
def _spatial_order(n: int, h: int, w: int) -> torch.Tensor:
    """The inverse permutation: for each pixel in (n, y, x) order, its row in quadrant-major order."""
    return torch.argsort(_quadrant_order(n, h, w)).to(torch.int32)


class IntMaxPool:
    """2×2 max-pool, stride 2; the exponent passes through. Backward sends each window's error to its
    first maximum in scan order, as torch's float max-pool does, so the two twins route alike.
    Keeps references to its input and output (shared with the neighbouring convolutions)."""

    def __init__(self) -> None:
        self._input: torch.Tensor | None = None
        self._output: torch.Tensor | None = None

    def forward(self, x: BlockTensor, keep: bool = False) -> BlockTensor:
        n, h, w, c = x.m.shape
        if h % 2 or w % 2:
            raise InputError(tr("2×2 max-pool needs even sides, not {h}×{w}.", h=h, w=w))
        if kernels.usable(x.m):
            out = kernels.maxpool2(x.m)
        else:
            windows = x.m.view(n, h // 2, 2, w // 2, 2, c)
            out = torch.maximum(torch.maximum(windows[:, :, 0, :, 0], windows[:, :, 0, :, 1]),
                                torch.maximum(windows[:, :, 1, :, 0], windows[:, :, 1, :, 1]))
        self._input, self._output = (x.m, out) if keep else (None, None)
        return BlockTensor(out, x.e)

    def backward(self, err: BlockTensor) -> BlockTensor:
        if self._input is None:
            raise InputError(tr("Max-pool backward needs a training forward first."))
        if kernels.usable(self._input, self._output, err.m):
            routed = kernels.maxpool2_backward(self._input, self._output, err.m)
            self._input = self._output = None
            return BlockTensor(routed, err.e)
        n, h, w, c = self._input.shape
        quadrants = self._input.reshape(-1, c).index_select(0, _quadrant_order(n, h, w)).view(4, -1)
        # 0/1 int8 hits, then only the first in scan order (int8 sub/clamp/max: comparisons of int8
        # with python scalars, and bool logic, are several times slower in torch on CPU).
        hits = (quadrants == self._output.reshape(1, -1)).view(torch.int8)
        taken = hits[0]
        for q in range(1, 4):
            taken, hits[q] = torch.maximum(taken, hits[q]), (hits[q] - taken).clamp_(min=0)
        routed = hits.mul_(err.m.reshape(1, -1)).view(-1, c)
        self._input = self._output = None
        return BlockTensor(routed.index_select(0, _spatial_order(n, h, w)).view(n, h, w, c), err.e)

    def saved(self) -> list[torch.Tensor]:
        return [t for t in (self._input, self._output) if t is not None]


def _aligned(a: BlockTensor, b: BlockTensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Both mantissas (int16) on the larger exponent; the finer one rounded to nearest."""
    e = max(a.e, b.e)
    return round_nearest(a.m.to(torch.int16), e - a.e), round_nearest(b.m.to(torch.int16), e - b.e), e


class IntAbsDiff:
    """|f1 − f2| of the branch features, exponents aligned first. Keeps references to both inputs
    (they are the branches' last outputs, held anyway for their ReLU masks) and recomputes the sign."""

    def __init__(self) -> None:
        self._inputs: tuple[BlockTensor, BlockTensor] | None = None
        self.shift: int | None = None   # the output's, fixed for inference (IntDualVGG.fix_shifts); None: its peak's
        self.last_shift = 0             # the one the last forward used

    def forward(self, a: BlockTensor, b: BlockTensor, keep: bool = False) -> BlockTensor:
        if a.m.shape != b.m.shape:
            raise InputError(tr("The branches' features differ in shape: {shape_a} and {shape_b}; "
                                "prune both branches' last layers with the same indices.",
                                shape_a=tuple(a.m.shape), shape_b=tuple(b.m.shape)))
        self._inputs = (a, b) if keep else None
        if kernels.usable(a.m, b.m):
            e = max(a.e, b.e)
            m, self.last_shift = kernels.absdiff(a.m, b.m, e - a.e, e - b.e, self.shift)
            return BlockTensor(m, e + self.last_shift)
        x, y, e = _aligned(a, b)
        m, e_out = requantise((x - y).abs_(), e, shift=self.shift)
        self.last_shift = e_out - e
        return BlockTensor(m, e_out)

    def backward(self, err: BlockTensor) -> tuple[BlockTensor, BlockTensor]:
        """d|f1 − f2| = sign(f1 − f2)·(df1 − df2): the error goes to f1 with the sign, to f2 against it."""
        if self._inputs is None:
            raise InputError(tr("Fusion backward needs a training forward first."))
        a, b = self._inputs
        self._inputs = None
        if kernels.usable(a.m, b.m, err.m):
            e = max(a.e, b.e)
            to_a, to_b = kernels.absdiff_backward(a.m, b.m, e - a.e, e - b.e, err.m)
            return BlockTensor(to_a, err.e), BlockTensor(to_b, err.e)
        x, y, _ = _aligned(a, b)
        to_a = err.m * torch.sign(x - y).to(torch.int8)
        return BlockTensor(to_a, err.e), BlockTensor(-to_a, err.e)

    def saved(self) -> list[torch.Tensor]:
        return [] if self._inputs is None else [t.m for t in self._inputs]
