"""Integer AdaMax: the optimiser the online training uses, all in int64, no float.

NITI's SGD (sgd.py) scales a whole layer by its largest gradient, so with the few hundred steps an
online run affords most weights barely move. AdaMax scales each weight's step by its own running
gradient over its running peak, so rarely and weakly driven weights learn too.
"""
from __future__ import annotations

import torch

from .rounding import peak, round_nearest, round_stochastic


class IntAdaMax:
    """Each weight moves by up to 2^μ mantissa steps: its running gradient over its running peak.

    Measured on the shared pairs (whole int8 runs with pruning, 16 epochs): mean Kappa 0.736 with this
    rule, 0.623 with NITI's SGD and its (3, 2, 1) μ schedule (TrainConfig.optimiser = "sgd").
    State (int64): m ← m − m/8 + g/8, u ← max(u − u/16, |g|), both at one exponent per layer that only
    grows (a larger gradient shifts the state down); Δ = m·2^8 // u, rounded stochastically by 8 − μ
    bits with a seeded generator.
    """

    FRACTION = 8  # bits of the ratio m / u

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.state: dict[str, tuple[torch.Tensor, torch.Tensor, int]] = {}

    def step(self, name: str, conv, mu: int) -> None:
        if conv.frozen or conv.grad is None:
            return
        grad, e = conv.grad
        g = grad.to(torch.int64)
        top_bits = peak(g).bit_length()
        m, u, e_state = self.state.get(name, (torch.zeros_like(g), torch.zeros_like(g), e + top_bits - 24))
        if m.shape != g.shape:   # filters were pruned since the last step: restart this layer's state
            m, u, e_state = torch.zeros_like(g), torch.zeros_like(g), e + top_bits - 24
        want = e + top_bits - 24          # keep gradients within 24 bits
        if want > e_state:
            m, u = round_nearest(m, want - e_state), round_nearest(u, want - e_state)
            e_state = want
        g = g << (e - e_state) if e >= e_state else round_nearest(g, e_state - e)
        m = m - round_nearest(m, 3) + round_nearest(g, 3)
        u = torch.maximum(u - round_nearest(u, 4), g.abs())
        ratio = torch.div(m << self.FRACTION, u.clamp(min=1), rounding_mode="trunc")
        delta = round_stochastic(ratio, self.FRACTION - mu, self.generator)
        self.state[name] = (m, u, e_state)
        conv.weight.m = (conv.weight.m.to(torch.int64) - delta).clamp_(-127, 127).to(torch.int8)
        conv.grad = None
