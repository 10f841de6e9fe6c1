"""Rounding right shifts of integer accumulators, and the requantisation of int32 sums to int8.

All three roundings start from the floor split acc = q·2^s + d with 0 ≤ d < 2^s, which `>>` and `&`
give for negative values too (two's complement), so no sign handling is needed and nothing relies on
`//` (it floors in today's torch; NITI's code assumed truncation and multiplied its rounding decision
by the sign, which biases negative values by a whole step).
- nearest: q + [d ≥ 2^(s−1)] = (acc + 2^(s−1)) >> s, i.e. floor(x + ½): ties go towards +∞
  (1.5 → 2, −1.5 → −1, −1.25 → −1, −1.75 → −2), the rounding of ARM's VRSHR; one add and one shift.
- pseudo-stochastic (NITI): the upper half of d's bits is the probability, the lower half the
  "random" number; round up when number < probability (for odd s the number is doubled to the
  probability's width). Our addition, for even s: when they are equal, round up if q is odd. Without
  it, dropped bits spread evenly are rounded down by ≈2^−(s/2+1) steps on average (the number
  averages just under half its range); with it the mean error is 2^−(s+1) for every s ≥ 2.
- stochastic: up with probability d/2^s from a seeded generator; exactly unbiased.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from ..i18n import tr
from . import kernels
from .tensor import MAX_EXPONENT


def peak(acc: torch.Tensor) -> int:
    """max |acc|, from one min/max pass (no |acc| tensor is made)."""
    if acc.numel() == 0:
        return 0
    low, high = torch.aminmax(acc)
    return max(-int(low), int(high))


def shift_for(top: int) -> int:
    """Smallest s with round(top / 2^s) < 2^7 (an int8 mantissa): NITI's bits(top) − 7, plus one when the peak
    would round up to 2^7 (NITI clips that value instead)."""
    s = max(0, top.bit_length() - 7)
    if s and (top + (1 << (s - 1))) >> s >= 1 << 7:
        s += 1
    return s


def _check(s: int, limit: int = 62) -> None:
    """Stochastic roundings mask the dropped bits in int64, so they shift by at most 62."""
    if not 0 <= s <= limit:
        raise InputError(tr("A rounding shift must be 0…{limit}, not {shift}.", limit=limit, shift=s))


def _widened(acc: torch.Tensor, s: int) -> torch.Tensor:
    """int64 copy when acc + 2^s could overflow its dtype."""
    if acc.dtype == torch.int64 or peak(acc) + (1 << s) <= torch.iinfo(acc.dtype).max:
        return acc
    return acc.to(torch.int64)


def round_nearest(acc: torch.Tensor, s: int) -> torch.Tensor:
    """floor(acc / 2^s + ½); same dtype as acc unless it has to widen to int64."""
    _check(s, 2 * MAX_EXPONENT)
    if s == 0:
        return acc.clone()
    if s > 62:  # sums of int8 products stay far below 2^62: all round to 0
        return torch.zeros_like(acc)
    return (_widened(acc, s) + (1 << (s - 1))) >> s


def round_pseudo_stochastic(acc: torch.Tensor, s: int) -> torch.Tensor:
    """NITI's generator-free stochastic rounding (see the module docstring for the tie rule)."""
    _check(s)
    if s == 0:
        return acc.clone()
    kept, dropped = acc >> s, acc & ((1 << s) - 1)
    low = s // 2
    probability = dropped >> low                 # s − low bits
    number = (dropped & ((1 << low) - 1)) << (s - 2 * low)  # low bits, scaled to the probability's width
    up = number < probability
    if s % 2 == 0:  # an odd s already gets its half step from the doubled number
        up |= (number == probability) & (kept & 1).bool()
    return kept + up.to(acc.dtype)


def round_stochastic(acc: torch.Tensor, s: int, generator: torch.Generator) -> torch.Tensor:
    """Round up with probability d / 2^s, drawn from `generator` (seed it for reproducible runs)."""
    _check(s)
    if s == 0:
        return acc.clone()
    return _up_below(acc, s, torch.randint(0, 1 << s, acc.shape, generator=generator, dtype=torch.int64))


def round_stochastic_counter(acc: torch.Tensor, s: int, key: int) -> torch.Tensor:
    """As round_stochastic, with the draws of counter_draws(key, ·): element i of the flattened acc
    uses draw i, so compiled code can make the same draws inside its own loop."""
    _check(s)
    if s == 0:
        return acc.clone()
    return _up_below(acc, s, counter_draws(key, acc.numel(), s).view(acc.shape))


def _up_below(acc: torch.Tensor, s: int, draw: torch.Tensor) -> torch.Tensor:
    """floor(acc / 2^s), plus one where the draw (uniform in [0, 2^s)) is below the dropped bits."""
    return (acc >> s) + (draw < (acc & ((1 << s) - 1))).to(acc.dtype)


# SplitMix64 (Steele, Lea & Flood 2014): state advances by GOLDEN, output = MIX(state). As signed int64.
_MASK64 = (1 << 64) - 1
GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _shift_right(v: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's >> is arithmetic)."""
    return (v >> k) & ((1 << (64 - k)) - 1)


def splitmix(v: int) -> int:
    """SplitMix64's output function on a Python int (mod 2^64): seeds the counter streams."""
    v &= _MASK64
    v = ((v ^ (v >> 30)) * MIX1) & _MASK64
    v = ((v ^ (v >> 27)) * MIX2) & _MASK64
    return v ^ (v >> 31)


def counter_draws(key: int, n: int, s: int) -> torch.Tensor:
    """n draws uniform in [0, 2^s), 1 ≤ s ≤ 62: the top s bits of SplitMix64's outputs from state
    `key` (0 ≤ key < 2^64), i.e. MIX(key + (i + 1)·GOLDEN) for i = 0 … n − 1. A counter-based stream:
    kernels.c makes draw i inside its loop instead of reading a tensor (torch.randint cost 0.1 ms a
    training step). int64 products wrap mod 2^64, which is what the mix needs."""
    x = torch.arange(1, n + 1, dtype=torch.int64) * _signed(GOLDEN) + _signed(key)
    x = (x ^ _shift_right(x, 30)) * _signed(MIX1)
    x = (x ^ _shift_right(x, 27)) * _signed(MIX2)
    return _shift_right(x ^ _shift_right(x, 31), 64 - s)


def requantise(acc: torch.Tensor, e: int, relu: bool = False, bounds: torch.Tensor | None = None,
               shift: int | None = None) -> tuple[torch.Tensor, int]:
    """An accumulator of exponent e → (int8 mantissa, exponent), nearest rounding by s = shift_for(peak).

    The hot path of every layer: works in place on acc (callers hand over a fresh product) and in its
    own dtype. With `relu` the negative sums are zeroed first, so s is chosen from the kept range only.
    bounds: acc's (min(0, ·), max(0, ·)) when the product already knows them (compiled kernels only).
    shift: a fixed s instead (inference after `IntDualVGG.fix_shifts`): what lies beyond ±127 of it saturates.
    """
    if shift is not None:
        _check(shift)
    if acc.dtype == torch.int32 and kernels.usable(acc):
        m, s = kernels.requantise_i32(acc, relu, bounds, shift)
        return m, e + s
    if relu:
        acc.clamp_(min=0)
    if shift is None:
        top = peak(acc)
        s = shift_for(top)
        if s and top + (1 << (s - 1)) > torch.iinfo(acc.dtype).max:
            acc = acc.to(torch.int64)
    else:   # as kernels.c: widened only where acc + 2^(s−1) could pass the dtype and still round under 127
        s = shift
        if s > torch.iinfo(acc.dtype).bits - 8:
            acc = acc.to(torch.int64)
        if s:
            acc.clamp_(max=torch.iinfo(acc.dtype).max - (1 << (s - 1)))
    if s:
        acc.add_(1 << (s - 1)).bitwise_right_shift_(s)
    return acc.clamp_(0 if relu else -127, 127).to(torch.int8), e + s
