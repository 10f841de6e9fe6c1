"""The change score every output is cut from: 0.5 is the automatic decision, in every mode.

The prior's own threshold (two-class Otsu by default, decision.threshold; raised to the evidence
floor) is mapped to 0.5, linearly on each side, so the score ranks places exactly as the prior does. With the
network, the score is the smaller of that and the network's P(changed): a place is changed when the
prior finds it changed *and* the network, trained on the prior's confident places only, confirms it
(a fuzzy AND). Measured on the eight shared pairs (int8, seed 0), the confirmation removed prior
false alarms on seven of them (the rare-change sar-enl-11 and -12 +0.02, yellowriver +0.04), where
the earlier weighted mean of the two made the int8 map worse than the prior alone on five. Whether
the network's veto is kept at all is decided over the whole scene (decision.confirmation): where it
vetoes too little of the prior's change to be more than its own error, the score is the prior's.
A scene without significant change (decision.evidence) has no place above 0.5 but its compact groups
of strong disagreement (decision.local_change) and where the analyst's samples say so (`with_samples`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .evidence import EVIDENCE_FLOOR, Evidence
from .threshold import DEFAULT_METHOD, is_automatic, threshold_value

DECISION = 0.5
# × the prior's median: from here up the network may find more like the analyst's changed samples. The
# evidence floor: 1.5× or 1.25× cost every real pair with regions the prior misses (italy, urban-optical,
# sar-enl-10, shuguang; int8, seeds 0–1) though they find more of a whole tile's new buildings (bench/RESULTS.md).
EXTEND_LINE = EVIDENCE_FLOOR


@dataclass(frozen=True)
class Calibration:
    """Where the prior crosses the automatic decision (`cut`, in prior units; 1.0: nowhere)."""

    cut: float
    method: str

    def prior_score(self, prior: np.ndarray) -> np.ndarray:
        """The prior on the score scale: `cut` ↦ 0.5, 0 ↦ 0, 1 ↦ 1, linear in between (NaN stays NaN)."""
        prior = np.asarray(prior, np.float32)
        below = DECISION * prior / self.cut
        above = DECISION + DECISION * (prior - self.cut) / max(1.0 - self.cut, 1e-6)
        return np.where(prior <= self.cut, below, above).astype(np.float32)

    def to_dict(self) -> dict:
        return {"prior_cut": round(float(self.cut), 6), "prior_threshold_method": self.method}


def calibrate(prior: np.ndarray, method: str, evidence: Evidence) -> Calibration:
    """The prior's cut: the asked automatic threshold (the default method's with a manual threshold) on
    the valid prior, at least the evidence floor; 1.0 (nothing changed) in a scene without significant
    change (decision.local_change then confines the map to compact groups, if any)."""
    automatic = method if is_automatic(method) else DEFAULT_METHOD
    if not evidence.significant:
        return Calibration(1.0, automatic)
    values = prior[np.isfinite(prior)]
    cut = max(threshold_value(values, automatic), evidence.floor)
    return Calibration(float(min(cut, 1.0)), automatic)


def change_score(prior_score: np.ndarray, network: np.ndarray, extend_from: Optional[float] = None) -> np.ndarray:
    """The score of a place the network confirms or vetoes: the smaller of the prior's score and the
    network's P(changed) (the network's alone where the prior has no value).

    extend_from: where the analyst asked the network to find more change like their changed samples
    (RunParams.extend_from_samples), the prior's score at the evidence floor: at or above it the score
    is the network's alone, so the network may also mark places the prior leaves under its cut. The
    prior misses a kind of change whose evidence is one-sided (the generated scenes' new buildings
    stand 1.7–3× the median, under a flood at 6×), and so do real false alarms (shuguang's, alike in
    every measure of the prior: bench/RESULTS.md); only the analyst can tell them apart, by showing some. Below
    the floor nothing is marked, as everywhere."""
    score = np.minimum(prior_score, network)
    if extend_from is not None:
        score = np.where(prior_score >= extend_from, network, score)
    return np.where(np.isfinite(prior_score), score, network).astype(np.float32)


def with_samples(score: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """The analyst's own labels win in the output as in training: a place a sample calls changed
    scores 1, one it calls unchanged 0, elsewhere (-1) the score stays. Without this a polygon the
    analyst marked changed came out unchanged wherever the prior disagreed, since the network can
    only confirm the prior."""
    return np.where(samples == 1, 1.0, np.where(samples == 0, 0.0, score)).astype(np.float32)
