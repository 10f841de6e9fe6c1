"""Whether the network's confirmation is applied: the share of the prior's changed places it vetoes.

With the network the change score is the smaller of the prior's score and the network's P(changed)
(decision.score), so the network can only remove places the prior marks. It is trained on the
prior's surest places, and even where the prior's map is right it disagrees with part of it (the
edges of changes, kinds of change its labels did not show). On the eight shared pairs (int8, seeds
0–3) it vetoed 5–12 % of the prior's changed pixels where the prior was precise (precision
0.82–0.92; the vetoed pixels were truly unchanged in only 34–64 % of cases, and the veto cost up to
0.03 Kappa), and 16–38 % where the prior over-marked (precision 0.41–0.69; vetoes 62–93 % right,
+0.07 to +0.12). A small veto share is the network's own error, a large one a sign that the prior
marked places unlike its sure change. So the veto is applied when it removes at least VETO_MIN of
the prior's changed pixels, and otherwise the prior's score is the result. Where the analyst asked the
network to find more change like their changed samples (decision.score), its map is the result.

VETO_MIN chosen by leave-one-pair-out on the eight pairs (int8, seeds 0–3, every fold picks 0.12;
mean Kappa 0 (always apply) 0.781, 0.08 0.782, 0.10 0.783, 0.12 0.786, 0.16 0.785, 0.20 0.778,
never 0.759).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .score import DECISION

VETO_MIN = 0.12


@dataclass
class Confirmation:
    """The tally of the prior's changed pixels and of those the network vetoes, tile by tile."""

    marked: int = 0
    vetoed: int = 0
    extended: bool = False   # the analyst asked the network to find more like their changed samples: always applied
    added: int = 0           # places the network marks that the prior leaves under its cut (only when extended)

    def add(self, prior_score: np.ndarray, score: np.ndarray, counted: np.ndarray) -> None:
        """counted: the pixels that take part (valid, not an analyst's sample)."""
        above = prior_score > DECISION
        marked = counted & above
        self.marked += int(np.count_nonzero(marked))
        self.vetoed += int(np.count_nonzero(marked & (score <= DECISION)))
        self.added += int(np.count_nonzero(counted & ~above & (score > DECISION)))

    @property
    def share(self) -> float:
        return self.vetoed / self.marked if self.marked else 0.0

    @property
    def least(self) -> float:
        return VETO_MIN

    @property
    def applied(self) -> bool:
        return self.extended or (self.marked > 0 and self.share >= self.least)

    def to_dict(self) -> dict:
        return {"applied": self.applied, "vetoed_share": round(self.share, 4), "least_share": self.least,
                "prior_changed_pixels": self.marked, "extended": self.extended, "added_pixels": self.added}
