"""Block-exponent integer tensor: int8 mantissa m in [−127, 127] and one exponent e for the whole
tensor, value = m·2^e (NITI's "block"). Float enters only through `quantise`, at the input boundary."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import InputError
from ..i18n import tr

# 127·2^96 < 2^127 and 2^−96 > 2^−126: any block within this range dequantises to normal float32 values.
# Exponents drift by e_w + s per layer, a few units each, so a real network stays far inside it.
MAX_EXPONENT = 96


@dataclass
class BlockTensor:
    """The mantissa's layout is the caller's: the public network API uses (N, C, H, W), the layers
    inside it (N, H, W, C). Construction checks dtype and exponent (cheap); `check_range` the values."""

    m: torch.Tensor
    e: int

    def __post_init__(self) -> None:
        if not isinstance(self.m, torch.Tensor) or self.m.dtype != torch.int8:
            raise InputError(tr("A block tensor's mantissa must be an int8 tensor, not {kind}.",
                                kind=getattr(self.m, "dtype", type(self.m).__name__)))
        if isinstance(self.e, bool) or not isinstance(self.e, int) or abs(self.e) > MAX_EXPONENT:
            raise InputError(tr("Block exponent {e!r} is out of range: an int with |e| ≤ {most}.",
                                e=self.e, most=MAX_EXPONENT))

    @property
    def shape(self) -> torch.Size:
        return self.m.shape

    def check_range(self) -> BlockTensor:
        """−128 is representable in int8 but not a legal mantissa: negating it would overflow."""
        if self.m.numel() and int(self.m.min()) < -127:
            raise InputError(tr("A block tensor's mantissa holds −128; mantissas must lie in [−127, 127]."))
        return self

    def dequantise(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Float values, for inspection, tests and the final change probability only (exact in float64)."""
        return self.m.to(dtype) * (2.0 ** self.e)


def exponent_for(peak: float) -> int:
    """e = ceil(log2 peak) − 7, read exactly from frexp (log2 in float can miss powers of two)."""
    fraction, power = math.frexp(peak)  # peak = fraction·2^power, fraction in [0.5, 1)
    return (power - 1 if fraction == 0.5 else power) - 7


def quantise(x: torch.Tensor) -> BlockTensor:
    """Float → int8 block: e = ceil(log2 max|x|) − 7, m = round(x·2^−e) (half to even), clamped to ±127:
    only a peak that is an exact power of two maps to 128 and loses half a step."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise InputError(tr("quantise() takes a float tensor; integer data is already a mantissa."))
    if x.numel() == 0:
        raise InputError(tr("Cannot quantise an empty tensor."))
    peak = float(x.abs().max())
    if not math.isfinite(peak):
        raise InputError(tr("Cannot quantise a tensor with NaN or infinite values."))
    e = exponent_for(peak) if peak > 0 else 0
    if abs(e) > MAX_EXPONENT:
        raise InputError(tr("Values peaking at {peak:g} need exponent {e}, outside |e| ≤ {most}.",
                            peak=peak, e=e, most=MAX_EXPONENT))
    m = torch.round(x * (2.0 ** -e)).clamp_(-127, 127).to(torch.int8)
    return BlockTensor(m, e)
