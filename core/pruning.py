"""Adaptive L1 filter pruning during training, with filters physically removed (Li et al. 2017's criterion).

A filter is pruned when its L1 norm falls below `fraction` × its layer's mean. The fraction rises at
each pruning point while the pseudo-label accuracy holds and is halved when it drops; no layer loses
more than `cap` of its original filters. The two branches' last layers meet in |f1 − f2|, so they are
pruned together on their summed, per-layer-normalised L1 norms. The comparison is done with integer
cross-multiplication, so int8 weights need no float.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


def _quotient(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a / b, exact for the integer products of int8 L1 norms (b divides a), true division for fp32."""
    if not b:
        return torch.zeros_like(a)
    return a / b if torch.is_floating_point(b) else a // b


@dataclass
class AdaptivePruner:
    fraction_pct: int = 80   # prune filters whose L1 is below this % of the layer mean
    step_pct: int = 5
    max_pct: int = 95
    cap: float = 0.5         # at most this share of a layer's original filters removed
    tolerance: float = 0.02  # accuracy drop that still counts as "holding"
    min_filters: int = 4
    original: dict = field(default_factory=dict)
    last_accuracy: float | None = None

    def adapt(self, accuracy: float) -> None:
        if self.last_accuracy is not None and accuracy < self.last_accuracy - self.tolerance:
            self.fraction_pct = max(1, self.fraction_pct // 2)
        elif self.last_accuracy is not None:
            self.fraction_pct = min(self.max_pct, self.fraction_pct + self.step_pct)
        self.last_accuracy = accuracy

    def keep(self, scores: list[torch.Tensor], original: int) -> torch.Tensor:
        """Indices of filters kept for a group of layers' per-filter L1 norms."""
        n = scores[0].numel()
        totals = [s.sum() for s in scores]
        # score_f = Σ_l L1_l,f / mean_l  →  compare Σ_l L1_l,f·n·Π_{j≠l} total_j with pct/100·len·Π total_j.
        product = math.prod(totals)
        combined = sum(s * n * (_quotient(product, t)) for s, t in zip(scores, totals))
        bar = self.fraction_pct * len(scores) * product
        kept = torch.nonzero(combined * 100 >= bar).flatten()
        floor = max(self.min_filters, math.ceil((1 - self.cap) * original))
        if kept.numel() < floor:
            kept = torch.topk(combined, min(floor, n)).indices
        return torch.sort(kept).values

    def prune(self, net, accuracy: float) -> dict[str, tuple[int, int]]:
        """Prune every group once; returns {layer: (filters before, filters after)} for this call."""
        self.adapt(accuracy)
        changes = {}
        for group in net.prunable():
            scores = [net.filter_l1(name) for name in group]
            before = scores[0].numel()
            original = self.original.setdefault(group[0], before)
            keep = self.keep(scores, original)
            for name in group:
                net.keep_filters(name, keep)
                changes[name] = (before, keep.numel())
        return changes
