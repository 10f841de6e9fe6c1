"""Integer cross-entropy: softmax with base-2 exponentials in fixed point, error (softmax − one-hot)·2^7.

For logits z·2^e: e^(z·2^e) = 2^(z·2^e·log2 e), log2 e ≈ 47274/2^15. The exponent, taken relative to
the row's largest logit (so it is ≤ 0), is held with 8 fraction bits: 2^(q + r/256) = 2^q · T[r], T a
256-entry table of 2^(r/256) in 20-bit fixed point, q a right shift. The probabilities are normalised
to sum 2^11 by an integer division, the one-hot is subtracted at 2^11 and the result shifted by 4 to
an int8 error of exponent −7. Every step is an integer tensor op; the table is a constant.
"""
from __future__ import annotations

import torch

from ..errors import InputError
from ..i18n import tr
from . import kernels
from .rounding import round_nearest
from .tensor import BlockTensor

LOG2E_Q15 = 47274          # round(log2(e)·2^15)
FRACTION_BITS = 8          # of the base-2 exponent
TABLE_BITS = 20            # T[r] = round(2^(20 + r/256)) ∈ [2^20, 2^21)
FLOOR_BITS = 30            # exponents below −30 give 0: below 2^−30 of the largest class
PROBABILITY_BITS = 11      # probabilities sum to 2^11
ERROR_EXPONENT = -7        # the int8 error is (softmax − one-hot)·2^7
EXP2_TABLE = torch.tensor([round(2 ** (TABLE_BITS + r / 2**FRACTION_BITS)) for r in range(2**FRACTION_BITS)],
                          dtype=torch.int64)
IGNORE = -1                # a target that takes no part in the loss


def _classes_last(logits: BlockTensor) -> torch.Tensor:
    if logits.m.dim() < 2 or logits.m.shape[1] < 2:
        raise InputError(tr("Logits must be (N, classes ≥ 2, ...), not {shape}.", shape=tuple(logits.m.shape)))
    return logits.m.movedim(1, -1)


def softmax_q11(logits: BlockTensor) -> torch.Tensor:
    """Class probabilities ·2^11 as int64, classes on the last axis: (N, ..., C), rows sum to 2^11 ± C."""
    z = _classes_last(logits).to(torch.int32)
    t = (z - z.amax(dim=-1, keepdim=True)) * LOG2E_Q15  # ≤ 0, |t| ≤ 254·47274 < 2^24
    shift = logits.e - (15 - FRACTION_BITS)  # t·2^shift is the exponent in 1/256 steps
    floor = FLOOR_BITS << FRACTION_BITS
    if shift >= 0:
        # Clamped first so the shift cannot overflow; beyond 2^40 every nonzero t is under the floor.
        u = t.to(torch.int64).clamp_(min=-(floor >> shift) - 1) << min(shift, 40)
    else:  # |t| < 2^24: beyond 26 bits of shift everything rounds to 0 anyway
        u = round_nearest(t, min(-shift, 26))
    u = u.clamp_(min=-floor)
    powers = EXP2_TABLE[u & (2**FRACTION_BITS - 1)] >> -(u >> FRACTION_BITS)
    total = powers.sum(dim=-1, keepdim=True)  # ≥ 2^20: the largest class contributes T[0]
    return ((powers << PROBABILITY_BITS) + total // 2) // total


def cross_entropy_error(logits: BlockTensor, target: torch.Tensor) -> tuple[BlockTensor, torch.Tensor]:
    """int8 error on the logits (same layout, exponent −7) for integer targets (N, ...) in
    {0 … C−1, IGNORE}; also 128·P(class 1). Ignored targets get a zero error."""
    z = _classes_last(logits)
    if target.shape != z.shape[:-1] or target.dtype.is_floating_point or target.dtype == torch.bool:
        raise InputError(tr("Targets must be integers shaped {expected}, not {dtype} {shape}.",
                            expected=tuple(z.shape[:-1]), dtype=target.dtype, shape=tuple(target.shape)))
    if target.numel() == 0:
        raise InputError(tr("Cannot compute a loss over an empty batch."))
    low, high = torch.aminmax(target)
    if int(low) < IGNORE or int(high) >= z.shape[-1]:
        raise InputError(tr("Targets must lie in 0…{last} (or {ignore} to ignore), not {low}…{high}.",
                            last=z.shape[-1] - 1, ignore=IGNORE, low=int(low), high=int(high)))
    if z.shape[-1] <= 16 and target.dtype == torch.int64 and kernels.usable(z, target):
        err, p1 = kernels.cross_entropy(z, target, logits.e, EXP2_TABLE, LOG2E_Q15, FRACTION_BITS, FLOOR_BITS,
                                        PROBABILITY_BITS, PROBABILITY_BITS + ERROR_EXPONENT, PROBABILITY_BITS - 7)
        return BlockTensor(err.movedim(-1, 1), ERROR_EXPONENT), p1
    p = softmax_q11(logits)
    used = target != IGNORE
    onehot = torch.zeros_like(p).scatter_(-1, (target * used).unsqueeze(-1).long(), 1 << PROBABILITY_BITS)
    err = round_nearest((p - onehot) * used.unsqueeze(-1), PROBABILITY_BITS + ERROR_EXPONENT)
    m = err.clamp_(-127, 127).to(torch.int8).movedim(-1, 1)
    return BlockTensor(m, ERROR_EXPONENT), round_nearest(p[..., 1], PROBABILITY_BITS - 7)
