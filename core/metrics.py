"""Accuracy of a change map against a reference: OA, Kappa, F1, precision, recall and AUC.

Only valid pixels count. AUC is the rank statistic (Mann–Whitney U) of the change score, with tied
scores counted as half, so it needs no threshold and no sklearn. ``StreamingAccuracy`` gives the
same numbers tile by tile: its AUC ranks scores in 2¹⁶ bins over [0, 1], which equals the exact
rank AUC for scores that are already on that grid and differs by far less than 10⁻³ otherwise.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .errors import InputError
from .i18n import tr

AUC_BINS = 1 << 16


def _auc_from_counts(positives: np.ndarray, negatives: np.ndarray) -> Optional[float]:
    """AUC from per-score counts of each class, the scores in increasing order; ties count half."""
    n_pos, n_neg = positives.sum(), negatives.sum()
    if n_pos == 0 or n_neg == 0:
        return None
    below = np.cumsum(negatives) - negatives
    u = np.sum(positives * (below + 0.5 * negatives))
    return float(u / (float(n_pos) * float(n_neg)))


def auc(score: np.ndarray, truth: np.ndarray) -> Optional[float]:
    """Probability that a changed pixel scores higher than an unchanged one; None with one class only."""
    score = np.asarray(score, np.float64).ravel()
    truth = np.asarray(truth, bool).ravel()
    if score.shape != truth.shape:
        raise InputError(tr("Scores ({scores}) and reference ({reference}) differ in size.",
                            scores=score.size, reference=truth.size))
    _, index = np.unique(score, return_inverse=True)
    n = index.max() + 1 if index.size else 0
    return _auc_from_counts(np.bincount(index[truth], minlength=n).astype(np.float64),
                            np.bincount(index[~truth], minlength=n).astype(np.float64))


def percent_down(share: float) -> float:
    """A share as a percentage to a tenth, rounded down: a reference covering 99.991 % is not "100.0 %"."""
    return math.floor(1000 * share) / 10


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else 0.0


def from_confusion(tp: int, fp: int, tn: int, fn: int) -> dict:
    """Scores from confusion counts; a ratio with nothing to divide by is 0 (Kappa: None)."""
    n = tp + fp + tn + fn
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    oa = _ratio(tp + tn, n)
    expected = _ratio((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp), float(n) * n)
    kappa = float((oa - expected) / (1 - expected)) if expected < 1 else None
    return {"oa": oa, "kappa": kappa, "f1": _ratio(2 * precision * recall, precision + recall),
            "precision": precision, "recall": recall, "tp": tp, "fp": fp, "tn": tn, "fn": fn}


def _confusion(change: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(np.count_nonzero(change & truth))
    fp = int(np.count_nonzero(change & ~truth))
    fn = int(np.count_nonzero(~change & truth))
    return tp, fp, int(change.size) - tp - fp - fn, fn


def accuracy(change: np.ndarray, reference: np.ndarray, score: Optional[np.ndarray] = None,
             valid: Optional[np.ndarray] = None) -> dict:
    """oa, kappa, f1, precision, recall, auc (None without a score) and tp, fp, tn, fn.

    change, reference: booleans (or 0/1) of one shape; score: the change probability behind
    ``change``; valid: pixels that count (default all).
    """
    change, reference = np.asarray(change, bool), np.asarray(reference, bool)
    if change.shape != reference.shape:
        raise InputError(tr("The change map {change} and the reference {reference} differ in shape.",
                            change=change.shape, reference=reference.shape))
    keep = np.ones(change.shape, bool) if valid is None else np.asarray(valid, bool)
    if keep.shape != change.shape:
        raise InputError(tr("The validity mask {mask} does not match the change map {change}.",
                            mask=keep.shape, change=change.shape))
    result = from_confusion(*_confusion(change[keep], reference[keep]))
    result["auc"] = None if score is None else auc(np.asarray(score)[keep], reference[keep])
    return result


class StreamingAccuracy:
    """The same scores accumulated window by window, in memory independent of the image size.

    The reference may have no data in places (outside its extent, its nodata: NaN): those pixels are
    left out, not counted as unchanged, and ``reference_coverage`` says which share of the valid
    pixels the scores describe.
    """

    def __init__(self) -> None:
        self.counts = np.zeros(4, np.int64)             # tp, fp, tn, fn
        self.positives = np.zeros(AUC_BINS, np.int64)
        self.negatives = np.zeros(AUC_BINS, np.int64)
        self.pixels = 0     # valid pixels offered
        self.covered = 0    # of them, where the reference has data

    def update(self, score: np.ndarray, change: np.ndarray, reference: np.ndarray) -> None:
        """Add valid pixels only: score in [0, 1], change booleans, reference booleans or numbers
        (> 0 changed, NaN no data), all 1-D or of one shape."""
        change = np.asarray(change, bool).ravel()
        reference = np.asarray(reference).ravel()
        score = np.asarray(score, np.float64).ravel()
        if not score.shape == change.shape == reference.shape:
            raise InputError(tr("Score, change and reference windows differ in size."))
        self.pixels += reference.size
        if reference.dtype.kind == "f":
            covered = np.isfinite(reference)
            score, change, reference = score[covered], change[covered], reference[covered]
        truth = reference > 0
        self.covered += truth.size
        self.counts += np.array(_confusion(change, truth))
        bins = np.clip(np.round(np.nan_to_num(score) * (AUC_BINS - 1)), 0, AUC_BINS - 1).astype(np.int64)
        self.positives += np.bincount(bins[truth], minlength=AUC_BINS)
        self.negatives += np.bincount(bins[~truth], minlength=AUC_BINS)

    def coverage(self) -> float:
        """Share of the valid pixels where the reference has data."""
        return self.covered / self.pixels if self.pixels else 0.0

    def result(self) -> dict:
        """The scores and ``reference_coverage``; every score None where the reference covers nothing."""
        if self.covered == 0:
            return {**{key: None for key in ("oa", "kappa", "f1", "precision", "recall", "auc")},
                    "tp": 0, "fp": 0, "tn": 0, "fn": 0, "reference_coverage": 0.0}
        out = from_confusion(*(int(c) for c in self.counts))
        out["auc"] = _auc_from_counts(self.positives.astype(np.float64), self.negatives.astype(np.float64))
        out["reference_coverage"] = round(self.coverage(), 6)
        return out
