"""Integer AdaMax: the optimiser the online training uses, all in int64, no float.

NITI's SGD (sgd.py) scales a whole layer by its largest gradient, so with the few hundred steps an
online run affords most weights barely move. AdaMax scales each weight's step by its own running
gradient over its running peak, so rarely and weakly driven weights learn too.
"""
from __future__ import annotations

import math

import torch

from ..errors import InputError
from ..i18n import tr
from . import kernels
from .rounding import GOLDEN, peak, round_nearest, round_stochastic_counter, splitmix


class IntAdaMax:
    """Each weight moves by up to 2^μ mantissa steps: its running gradient over its running peak.

    Measured on the shared pairs (whole int8 runs with pruning, 16 epochs): mean Kappa 0.736 with this
    rule, 0.623 with NITI's SGD and its (3, 2, 1) μ schedule (TrainConfig.optimiser = "sgd").
    State (int64): m ← m − m/8 + g/8, u ← max(u − u/16, |g|), both at one exponent per layer that only
    grows (a larger gradient shifts the state down); Δ = m·2^8 // u, rounded stochastically by 8 − μ
    bits with draws from a counter-based generator keyed by the seed and the step (rounding.counter_draws).
    """

    FRACTION = 8  # bits of the ratio m / u
    STATE_BITS = 24   # the state's exponent keeps the largest gradient within this many bits

    def __init__(self, seed: int) -> None:
        self.seed, self.steps = seed, 0
        self.layout: tuple = ()            # ((layer, shape), …) that the flat state covers, in order
        self.m = self.u = torch.zeros(0, dtype=torch.int64)
        self.offsets = torch.zeros(1, dtype=torch.int64)
        self.exponents: dict[str, int] = {}

    def step(self, convs: dict, mu: int) -> None:
        """Update every trained layer that holds a gradient, all layers in one pass over flat int64
        vectors (a pass per layer cost 7× the time in dispatch); clears the gradients."""
        layers = [(name, conv) for name, conv in convs.items() if not conv.frozen and conv.grad is not None]
        if not layers:
            return
        layout = tuple((name, tuple(conv.grad[0].shape)) for name, conv in layers)
        sizes = [math.prod(shape) for _, shape in layout]
        if layout != self.layout:
            self._relayout(layout, sizes)
        g = torch.cat([conv.grad[0].reshape(-1) for _, conv in layers]).to(torch.int64)
        offsets = self.offsets
        compiled = kernels.usable(g, self.m, self.u)
        peaks = kernels.segment_peaks(g, offsets) if compiled else [peak(p) for p in g.split(sizes)]
        grow, left, right = [], [], []
        for (name, conv), top in zip(layers, peaks):
            e = conv.grad[1]
            want = e + top.bit_length() - self.STATE_BITS
            e_state = self.exponents.get(name, want)
            grow.append(min(62, max(0, want - e_state)))
            e_state = max(e_state, want)
            left.append(max(0, e - e_state))
            right.append(min(62, max(0, e_state - e)))
            self.exponents[name] = e_state
        weights = torch.cat([conv.weight.m.reshape(-1) for _, conv in layers])
        s = self.FRACTION - mu
        if not 0 <= s <= 62:
            raise InputError(tr("AdaMax's μ must be {low}…{high}, not {mu}.",
                                low=self.FRACTION - 62, high=self.FRACTION, mu=mu))
        key = splitmix(self.seed * GOLDEN + self.steps)   # this step's stream of draws
        self.steps += 1
        if compiled:
            kernels.adamax(g, self.m, self.u, weights, key, offsets, grow, left, right, self.FRACTION, s)
        else:
            weights = self._update(g, sizes, grow, left, right, weights, s, key)
        for (_, conv), part in zip(layers, weights.split(sizes)):
            conv.weight.m = part.view(conv.weight.m.shape)
            conv.grad = None

    def _update(self, g: torch.Tensor, sizes: list[int], grow: list[int], left: list[int], right: list[int],
                weights: torch.Tensor, s: int, key: int) -> torch.Tensor:
        """The update in torch ops (the definition kernels.adamax follows); returns the new int8 weights."""
        lengths = torch.tensor(sizes)
        m, u = _shift_down(self.m, grow, lengths), _shift_down(self.u, grow, lengths)
        if any(left):
            g = g << torch.repeat_interleave(torch.tensor(left), lengths)
        g = _shift_down(g, right, lengths)
        m = m - round_nearest(m, 3) + round_nearest(g, 3)
        u = torch.maximum(u - round_nearest(u, 4), g.abs())
        ratio = torch.div(m << self.FRACTION, u.clamp(min=1), rounding_mode="trunc")
        delta = round_stochastic_counter(ratio, s, key)
        self.m, self.u = m, u
        return (weights.to(torch.int64) - delta).clamp_(-127, 127).to(torch.int8)

    def _relayout(self, layout: tuple, sizes: list[int]) -> None:
        """New set or shapes of layers (filters were pruned): unchanged layers keep their state, the
        others restart from zero with a fresh exponent."""
        old_sizes = self._sizes()
        old = dict(zip(self.layout, zip(self.m.split(old_sizes), self.u.split(old_sizes))))
        ms, us = [], []
        for key, size in zip(layout, sizes):
            if key in old:
                ms.append(old[key][0])
                us.append(old[key][1])
            else:
                ms.append(torch.zeros(size, dtype=torch.int64))
                us.append(torch.zeros(size, dtype=torch.int64))
                self.exponents.pop(key[0], None)
        self.layout, self.m, self.u = layout, torch.cat(ms), torch.cat(us)
        self.offsets = torch.tensor([0] + sizes, dtype=torch.int64).cumsum(0)  # where each layer's segment starts

    def _sizes(self) -> list[int]:
        return [math.prod(shape) for _, shape in self.layout]


def _shift_down(x: torch.Tensor, shifts: list[int], lengths: torch.Tensor) -> torch.Tensor:
    """x with each layer's segment rounded to nearest by its own shift (none: x itself)."""
    if not any(shifts):
        return x
    s = torch.repeat_interleave(torch.tensor(shifts), lengths)
    return (x + ((torch.ones_like(s) << s) >> 1)) >> s
