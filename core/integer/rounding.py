"""Rounding right shifts from int32/int64 accumulators to int8, correct for negative values.

Modern torch's `//` floors (NITI's code assumed truncation), which would bias negative values; these
work on magnitudes and restore the sign, so rounding is symmetric around zero.
"""
from __future__ import annotations

import torch

from ..errors import InputError


def peak(acc: torch.Tensor) -> int:
    """max |acc| without allocating |acc|."""
    if acc.numel() == 0:
        return 0
    low, high = torch.aminmax(acc)
    return max(-int(low), int(high))


def shift_for(acc: torch.Tensor, bits: int = 7) -> int:
    """s = bits(max|acc|) - `bits`: the shift that brings the largest magnitude into `bits` bits (≥ 0)."""
    return max(0, peak(acc).bit_length() - bits)


def _split(acc: torch.Tensor, s: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    wide = acc.to(torch.int64)
    sign = torch.sign(wide)
    mag = wide.abs()
    return sign, mag >> s, mag & ((1 << s) - 1)


def round_nearest(acc: torch.Tensor, s: int) -> torch.Tensor:
    """acc / 2^s rounded to nearest, ties away from zero (int64)."""
    if s < 0:
        raise InputError(f"Shift must be ≥ 0, not {s}.")
    if s == 0:
        return acc.to(torch.int64)
    sign, kept, dropped = _split(acc, s)
    return sign * (kept + (dropped >= (1 << (s - 1))).to(torch.int64))


def round_pseudo_stochastic(acc: torch.Tensor, s: int) -> torch.Tensor:
    """NITI's rounding without a random generator: of the s dropped bits, the upper half is the
    probability and the lower half the 'random' number; round up when the number is below it."""
    if s < 2:
        return round_nearest(acc, s)
    sign, kept, dropped = _split(acc, s)
    low = s // 2
    probability = dropped >> low
    number = dropped & ((1 << low) - 1)
    # Compare on the same scale: the probability has s - low bits, the number low bits.
    up = (number << (s - 2 * low)) < probability
    return sign * (kept + up.to(torch.int64))


def round_stochastic(acc: torch.Tensor, s: int, generator: torch.Generator) -> torch.Tensor:
    """Unbiased stochastic rounding: round up with probability dropped / 2^s (seeded generator)."""
    if s == 0:
        return acc.to(torch.int64)
    sign, kept, dropped = _split(acc, s)
    draw = torch.randint(0, 1 << s, acc.shape, generator=generator, dtype=torch.int64)
    return sign * (kept + (draw < dropped).to(torch.int64))


def to_int8(acc: torch.Tensor, e: int, bits: int = 7) -> tuple[torch.Tensor, int]:
    """Requantise an accumulator of exponent e to int8 with round-to-nearest: (mantissa, exponent).

    The hot path of every layer: int32 accumulators are rounded in int32 (same result as
    round_nearest, without widening to int64), since |acc| + 2^(s-1) stays below 2^31.
    """
    top = peak(acc)
    s = max(0, top.bit_length() - bits)
    if s == 0:
        return acc.clamp(-127, 127).to(torch.int8), e
    if acc.dtype == torch.int32 and top + (1 << (s - 1)) < 2**31:
        magnitude = acc.abs().add_(1 << (s - 1)).bitwise_right_shift_(s)
        return torch.where(acc < 0, -magnitude, magnitude).clamp_(-127, 127).to(torch.int8), e + s
    return round_nearest(acc, s).clamp_(-127, 127).to(torch.int8), e + s
