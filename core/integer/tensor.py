"""Block-exponent integer tensor: int8 mantissa m and one exponent e for the whole tensor, value = m·2^e."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InputError

MAX_EXPONENT = 64  # |e| beyond this means a value outside anything float32 data or int32 sums can hold


@dataclass
class BlockTensor:
    m: torch.Tensor  # int8 in [-127, 127]
    e: int

    def __post_init__(self) -> None:
        if self.m.dtype != torch.int8:
            raise InputError(f"A block tensor's mantissa must be int8, not {self.m.dtype}.")
        if not isinstance(self.e, int) or abs(self.e) > MAX_EXPONENT:
            raise InputError(f"Block exponent {self.e!r} is out of range (|e| ≤ {MAX_EXPONENT}).")

    @property
    def shape(self) -> torch.Size:
        return self.m.shape

    def dequantise(self) -> torch.Tensor:
        """Float values, for inspection, tests and the final difference image only."""
        return self.m.float() * (2.0 ** self.e)


def quantise(x: torch.Tensor) -> BlockTensor:
    """Float -> int8 block tensor at the input boundary: e = ceil(log2 max|x|) - 7, m = round(x·2^-e)."""
    if x.numel() == 0:
        raise InputError("Cannot quantise an empty tensor.")
    peak = float(x.abs().max())
    if not math.isfinite(peak):
        raise InputError("Cannot quantise a tensor with NaN or infinite values.")
    e = (math.ceil(math.log2(peak)) - 7) if peak > 0 else 0
    m = torch.round(x * (2.0 ** -e)).clamp_(-127, 127).to(torch.int8)
    return BlockTensor(m, int(e))
