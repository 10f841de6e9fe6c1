"""Integer two-class cross-entropy: the error (softmax − one-hot)·2^7 as int8, from integer logits.

For two classes the softmax is a sigmoid of the logit difference; it is read from a 257-entry
integer table of 128·σ(i/16), i = −128..128 (made once when the module loads, outside training),
indexed by the logit difference brought to 1/16 steps with an integer shift.
"""
from __future__ import annotations

import math

import torch

from ..errors import InputError
from .rounding import round_nearest
from .tensor import BlockTensor

STEP_BITS = 4  # table index = logit difference in units of 2^-4
SIGMOID_128 = torch.tensor([round(128 / (1 + math.exp(-i / 2**STEP_BITS))) for i in range(-128, 129)],
                           dtype=torch.int64)
ERROR_EXPONENT = -7


def probability_128(logits: BlockTensor) -> torch.Tensor:
    """128·P(changed) as int64 for logits (N, 2, ...) of class 0 unchanged, 1 changed."""
    if logits.m.shape[1] != 2:
        raise InputError(f"Two-class logits expected, not {logits.m.shape[1]} channels.")
    diff = logits.m[:, 1].to(torch.int64) - logits.m[:, 0].to(torch.int64)
    shift = logits.e + STEP_BITS
    index = diff << shift if shift >= 0 else round_nearest(diff, -shift)
    return SIGMOID_128[index.clamp(-128, 128) + 128]


def cross_entropy_error(logits: BlockTensor, target: torch.Tensor) -> tuple[BlockTensor, torch.Tensor]:
    """int8 error on the logits for target classes (N, ...) in {0, 1}; also 128·P(changed)."""
    if target.shape != logits.m[:, 0].shape:
        raise InputError(f"Targets {tuple(target.shape)} do not match logits {tuple(logits.m.shape)}.")
    p = probability_128(logits)
    err1 = (p - 128 * target.to(torch.int64)).clamp(-127, 127)
    return BlockTensor(torch.stack([-err1, err1], dim=1).to(torch.int8), ERROR_EXPONENT), p
