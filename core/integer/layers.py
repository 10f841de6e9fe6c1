"""Integer ReLU, 2×2 max-pool and the fusion |f1 − f2| of the two branches, forward and backward on int8."""
from __future__ import annotations

import torch

from ..errors import InputError
from .rounding import round_nearest, to_int8
from .tensor import BlockTensor


class IntReLU:
    def __init__(self) -> None:
        self._mask: torch.Tensor | None = None

    def forward(self, x: BlockTensor, train: bool = False) -> BlockTensor:
        if train:
            self._mask = x.m > 0
        return BlockTensor(x.m.clamp_min(0), x.e)

    def backward(self, err: BlockTensor) -> BlockTensor:
        out = BlockTensor(err.m * self._mask, err.e)
        self._mask = None
        return out

    def saved_bytes(self) -> int:
        return 0 if self._mask is None else self._mask.numel()


class IntMaxPool:
    """2×2 max-pool with stride 2 directly on int8 mantissas (the exponent is unchanged)."""

    def __init__(self) -> None:
        self._index: torch.Tensor | None = None
        self._shape: torch.Size | None = None

    def forward(self, x: BlockTensor, train: bool = False) -> BlockTensor:
        n, c, h, w = x.m.shape
        if h % 2 or w % 2:
            raise InputError(f"Max-pool needs even sides, not {h}×{w}.")
        windows = x.m.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
        values, index = windows.max(dim=-1)
        if train:
            self._index, self._shape = index.to(torch.uint8), x.m.shape
        return BlockTensor(values, x.e)

    def backward(self, err: BlockTensor) -> BlockTensor:
        n, c, h, w = self._shape
        spread = torch.zeros((n, c, h // 2, w // 2, 4), dtype=torch.int8)
        spread.scatter_(-1, self._index.long().unsqueeze(-1), err.m.unsqueeze(-1))
        out = spread.reshape(n, c, h // 2, w // 2, 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)
        self._index = None
        return BlockTensor(out.contiguous(), err.e)

    def saved_bytes(self) -> int:
        return 0 if self._index is None else self._index.numel()


class IntAbsDiff:
    """|f1 − f2| of the branch features: exponents aligned by a rounding shift, difference in int64."""

    def __init__(self) -> None:
        self._sign: torch.Tensor | None = None

    def forward(self, a: BlockTensor, b: BlockTensor, train: bool = False) -> BlockTensor:
        if a.m.shape != b.m.shape:
            raise InputError(f"Branch features differ in shape: {tuple(a.m.shape)} and {tuple(b.m.shape)}.")
        e = max(a.e, b.e)
        diff = round_nearest(a.m, e - a.e) - round_nearest(b.m, e - b.e)
        if train:
            self._sign = torch.sign(diff).to(torch.int8)
        m, e_out = to_int8(diff.abs(), e)
        return BlockTensor(m, e_out)

    def backward(self, err: BlockTensor) -> tuple[BlockTensor, BlockTensor]:
        grad = err.m * self._sign
        self._sign = None
        return BlockTensor(grad, err.e), BlockTensor(-grad, err.e)

    def saved_bytes(self) -> int:
        return 0 if self._sign is None else self._sign.numel()
