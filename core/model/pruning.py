"""Adaptive L1 filter pruning during training, the filters physically removed (Li et al. 2017's criterion).

At each pruning point every layer group loses its `rate` share of filters with the smallest L1 norms.
The rate adapts to the pseudo-label accuracy measured since the last point: it grows by `step` while
the accuracy holds (within `tolerance`) and is halved when it drops; no layer loses more than `cap`
of its original filters, nor goes below `min_filters`. A ranking by share of the layer's mean, as in
a fixed "below x % of the mean" rule, removed almost nothing here: a short online run leaves the L1
norms within a few per cent of each other, and the frozen layers keep their initial ones.

The two branches' last layers meet in |f1 − f2|, so they are pruned together on their summed,
per-layer-normalised L1 norms. With int8 weights the norms are integer sums and the normalisation is
integer cross-multiplication, so pruning uses no float in an int8 run. `enabled=False` switches it off.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..errors import InputError
from ..i18n import tr

if TYPE_CHECKING:
    from .dual_vgg import FloatDualVGG, IntDualVGG


def group_scores(norms: list[torch.Tensor]) -> torch.Tensor:
    """Σ_l L1_l,f / mean_l for a group of layers, up to a common positive factor (exact for integers):
    Σ_l L1_l,f · Π_{j≠l} total_j."""
    totals = [n.sum() for n in norms]
    if any(t <= 0 for t in totals):
        return sum(norms)
    product = math.prod(totals)
    return sum(n * (product // t if not torch.is_floating_point(t) else product / t) for n, t in zip(norms, totals))


@dataclass
class AdaptivePruner:
    rate: float = 0.2           # share of a group's current filters removed at the next point
    step: float = 0.1           # rate increase while the accuracy holds
    max_rate: float = 0.5
    cap: float = 0.35           # share of a layer's original filters that may go; measured on the shared
                                # pairs: 0.3 left BOPs at 0.55×; 0.4 and 0.5 cost 0.01–0.12 Kappa
    tolerance: float = 0.02     # accuracy drop that still counts as "holding"
    min_filters: int = 4
    enabled: bool = True
    original: dict = field(default_factory=dict)
    last_accuracy: float | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.rate <= 1 and 0 <= self.cap < 1 and self.min_filters >= 1):
            raise InputError(tr("Pruning needs a rate in [0, 1], a cap in [0, 1) and at least one filter, "
                                "not {rate}, {cap} and {least}.", rate=self.rate, cap=self.cap, least=self.min_filters))

    def adapt(self, accuracy: float) -> None:
        """Raise the rate while the accuracy holds, halve it when it drops (the first call only records)."""
        if self.last_accuracy is not None:
            if accuracy < self.last_accuracy - self.tolerance:
                self.rate /= 2
            else:
                self.rate = min(self.max_rate, self.rate + self.step)
        self.last_accuracy = accuracy

    def keep(self, norms: list[torch.Tensor], original: int) -> torch.Tensor:
        """Sorted indices of the filters a group keeps, from its layers' per-filter L1 norms."""
        n = norms[0].numel()
        floor = min(n, max(self.min_filters, math.ceil((1 - self.cap) * original)))
        count = max(floor, n - int(self.rate * n))
        return torch.sort(torch.topk(group_scores(norms), count).indices).values

    def prune(self, net: IntDualVGG | FloatDualVGG, accuracy: float) -> dict[str, tuple[int, int]]:
        """One pruning point over every group of `net`; returns {layer: (filters before, after)}."""
        if not self.enabled:
            return {}
        self.adapt(accuracy)
        changes = {}
        for group in net.prunable():
            norms = [net.filter_l1(name) for name in group]
            before = norms[0].numel()
            keep = self.keep(norms, self.original.setdefault(group[0], before))
            if keep.numel() == before:
                continue
            for name in group:
                net.prune_layer(name, keep)
                changes[name] = (before, keep.numel())
        return changes
