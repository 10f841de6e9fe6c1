"""Integer convolution: int8 im2col from strided views feeding torch._int_mm (int8×int8→int32, exact).

Forward, backward error and weight gradient all go through the same int8 product; nothing passes
through float. Stride 1 with 'same' padding (k // 2), as in VGG.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InputError
from .rounding import to_int8
from .tensor import BlockTensor

# int32 holds K products of |127·127| exactly while K ≤ 2^31 / 16129; longer sums are split.
SAFE_K = (2**31 - 1) // (127 * 127)


def im2col(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N, C, H, W) int8 -> (N·H·W, C·k·k) int8 columns; one copy, made from unfold's strided view."""
    n, c, h, w = x.shape
    padded = F.pad(x, (k // 2,) * 4) if k > 1 else x
    view = padded.unfold(2, k, 1).unfold(3, k, 1)  # (N, C, H, W, k, k), no copy
    return view.permute(0, 2, 3, 1, 4, 5).reshape(n * h * w, c * k * k)


def int_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact int8 (M, K) × int8 (K, N): int32, or int64 when K is too long for int32 sums."""
    if a.shape[1] <= SAFE_K:
        return torch._int_mm(a, b)
    out = torch.zeros((a.shape[0], b.shape[1]), dtype=torch.int64)
    for start in range(0, a.shape[1], SAFE_K):
        out += torch._int_mm(a[:, start:start + SAFE_K].contiguous(), b[start:start + SAFE_K]).to(torch.int64)
    return out


def conv_accumulate(x: torch.Tensor, w: torch.Tensor, cols: torch.Tensor | None = None) -> torch.Tensor:
    """Sum of int8 products of x (N, C, H, W) and w (O, C, k, k): int32 (N, O, H, W)."""
    if x.dim() != 4 or w.dim() != 4 or x.shape[1] != w.shape[1] or w.shape[2] != w.shape[3]:
        raise InputError(f"Convolution shapes do not fit: input {tuple(x.shape)}, weights {tuple(w.shape)}.")
    if x.shape[0] == 0:
        raise InputError("Cannot convolve an empty batch.")
    n, _, h, wd = x.shape
    cols = im2col(x, w.shape[2]) if cols is None else cols
    acc = int_matmul(cols, w.reshape(w.shape[0], -1).t().contiguous())
    return acc.reshape(n, h, wd, w.shape[0]).permute(0, 3, 1, 2)


class IntConv:
    """k×k convolution with an int8 block weight; keeps its int8 input columns only when trained."""

    def __init__(self, name: str, weight: BlockTensor, frozen: bool = False) -> None:
        self.name, self.weight, self.frozen = name, weight, frozen
        self._cols: torch.Tensor | None = None
        self._input: tuple | None = None
        self.grad: tuple[torch.Tensor, int] | None = None

    @property
    def k(self) -> int:
        return self.weight.m.shape[2]

    def forward(self, x: BlockTensor, train: bool = False) -> BlockTensor:
        cols = im2col(x.m, self.k)
        acc = conv_accumulate(x.m, self.weight.m, cols)
        if train and not self.frozen:
            self._cols, self._input = cols, (x.m.shape, x.e)
        m, e = to_int8(acc, x.e + self.weight.e)
        return BlockTensor(m, e)

    def backward(self, err: BlockTensor, input_grad: bool = True) -> BlockTensor | None:
        """Keep the int32 weight gradient (cols^T × err) and return the int8 error for the layer below."""
        if self._cols is None:
            raise InputError(f"{self.name}: backward without a training forward.")
        shape, e_in = self._input
        # err^T (O, N·H·W) × cols (N·H·W, C·k·k): only the small error is transposed, never the columns.
        flat_t = err.m.permute(1, 0, 2, 3).reshape(err.m.shape[1], -1)
        grad = int_matmul(flat_t, self._cols)
        self.grad = (grad.reshape(self.weight.m.shape), e_in + err.e)
        self._cols = None
        if not input_grad:
            return None
        rotated = self.weight.m.flip(2, 3).transpose(0, 1).contiguous()  # transposed convolution
        m, e = to_int8(conv_accumulate(err.m, rotated), err.e + self.weight.e)
        return BlockTensor(m, e)

    def saved_bytes(self) -> int:
        return 0 if self._cols is None else self._cols.numel() * self._cols.element_size()
