"""Where to cut the prior: two- or three-class Otsu or Kittler–Illingworth, found in its values; or a
manual threshold, the analyst's own cut of the change score.

The automatic methods work on the prior's valid cells (decision.score.calibrate maps the cut they
find to the score's 0.5), through a histogram, so their cost does not grow with the image. The
histogram spans the values' own range, not [0, 1], because a prior often uses a small part of it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np

from ..errors import InputError
from ..i18n import tr
from ..registry import Registry

BINS = 1024


def _finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise InputError(tr("There is no valid value to compute a threshold from."))
    return values


def _histogram(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of a histogram over the values' own range (not constant)."""
    counts, edges = np.histogram(values, bins=bins, range=(values.min(), values.max()))
    return counts.astype(np.float64), edges


def otsu(values: np.ndarray, bins: int = BINS) -> float:
    """The threshold maximising the between-class variance of the values (Otsu, 1979)."""
    values = _finite(values)
    if values.min() == values.max():
        return float(values[0])
    counts, edges = _histogram(values, bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(counts)[:-1]                       # split after bin i: class 0 holds bins 0..i
    w1 = counts.sum() - w0
    s0 = np.cumsum(counts * centres)[:-1]
    m0 = s0 / np.maximum(w0, 1)
    m1 = (np.sum(counts * centres) - s0) / np.maximum(w1, 1)
    between = np.where((w0 > 0) & (w1 > 0), w0 * w1 * (m0 - m1) ** 2, -1.0)
    return float(edges[int(np.argmax(between)) + 1])


def otsu3(values: np.ndarray, bins: int = BINS) -> float:
    """The middle of the uncertain class of a three-class Otsu split (unchanged, uncertain, changed).

    A change score often holds three populations, not two: the unchanged places, strong change, and
    between them weak or partial change (mixed edge pixels, one land cover turned into a similar
    one, a heavy unchanged tail). Two-class Otsu puts its cut at the larger gap: above all the weak
    change when strong change dominates (the project's generated flood-and-buildings scenes: most new
    buildings missed). Splitting in three (the two cuts that maximise the between-class variance,
    Liao et al. 2001) finds where the unchanged places end and where sure change begins; cutting
    halfway between gives half the doubtful range to each side.
    """
    values = _finite(values)
    if values.min() == values.max():
        return float(values[0])
    counts, edges = _histogram(values, bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    w, s = np.cumsum(counts), np.cumsum(counts * centres)
    i, j = np.arange(bins)[:, None], np.arange(bins)[None, :]   # class 0: bins ..i, 1: i+1..j, 2: j+1..
    w0, s0, w1, s1 = w[i], s[i], w[j] - w[i], s[j] - s[i]
    w2, s2 = w[-1] - w[j], s[-1] - s[j]
    usable = (j > i) & (w0 > 0) & (w1 > 0) & (w2 > 0)
    if not usable.any():
        return otsu(values, bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = np.where(usable, s0 ** 2 / w0 + s1 ** 2 / w1 + s2 ** 2 / w2, -np.inf)
    low, high = np.unravel_index(int(np.argmax(between)), between.shape)
    return float(0.5 * (edges[low + 1] + edges[high + 1]))


def kittler(values: np.ndarray, bins: int = BINS) -> float:
    """The minimum-error threshold of a two-Gaussian fit (Kittler & Illingworth, 1986).

    Unlike Otsu it allows the two classes different spreads and sizes, which suits a small changed
    class; splits leaving a class with no spread are skipped. Falls back to Otsu if none is usable.
    """
    values = _finite(values)
    if values.min() == values.max():
        return float(values[0])
    counts, edges = _histogram(values, bins)
    p = counts / counts.sum()
    centres = 0.5 * (edges[:-1] + edges[1:])
    q0 = np.cumsum(p)[:-1]
    q1 = 1.0 - q0
    s0, ss0 = np.cumsum(p * centres)[:-1], np.cumsum(p * centres ** 2)[:-1]
    s1, ss1 = np.sum(p * centres) - s0, np.sum(p * centres ** 2) - ss0
    with np.errstate(invalid="ignore", divide="ignore"):
        var0 = ss0 / q0 - (s0 / q0) ** 2
        var1 = ss1 / q1 - (s1 / q1) ** 2
        cost = (q0 * np.log(var0) + q1 * np.log(var1)) - 2 * (q0 * np.log(q0) + q1 * np.log(q1))
    floor = (edges[1] - edges[0]) ** 2 / 12          # below one bin's own spread is no spread at all
    usable = (q0 > 0) & (q1 > 0) & (var0 > floor) & (var1 > floor) & np.isfinite(cost)
    if not usable.any():
        return otsu(values, bins)
    return float(edges[int(np.argmin(np.where(usable, cost, np.inf))) + 1])


# The automatic methods find a threshold in the values; "manual" (None) takes the analyst's. The first
# is the default (RunParams, the dialogs): two-class Otsu, which every leave-one-pair-out fold chose
# once the direct comparison had sharpened the SAR pairs' prior (int8 with the shipped margins and
# veto share, seeds 0–1: mean Kappa 0.791 against 0.777 for three-class Otsu and 0.779 for Kittler's,
# worst pair 0.636 against 0.590; bench/RESULTS.md).
THRESHOLD_METHODS: Registry[Optional[Callable[[np.ndarray], float]]] = Registry(
    "THRESHOLD_METHOD", {"otsu": otsu, "otsu3": otsu3, "kittler": kittler, "manual": None})
DEFAULT_METHOD = next(iter(THRESHOLD_METHODS))


def is_automatic(method: str) -> bool:
    """Whether the named method finds its own threshold (and the decision's evidence checks apply)."""
    return THRESHOLD_METHODS.pick(method) is not None


def threshold_value(values: np.ndarray, method: str = DEFAULT_METHOD) -> float:
    """The threshold the named automatic method finds in the values (the prior's valid cells,
    decision.score.calibrate); a manual threshold is the analyst's value, not found here."""
    find = THRESHOLD_METHODS.pick(method)
    if find is None:
        raise ValueError(f"{method!r} finds no threshold of its own")
    return find(values)


def confidence(prob: np.ndarray, threshold: float, prior: Optional[np.ndarray] = None) -> np.ndarray:
    """How sure each pixel's decision is: 0 at the threshold, 1 at probability 0 or 1 (NaN stays NaN).

    prior: the prior's own score where the network's verdict made the map. Where the two decide
    differently (the network vetoed a place the prior marks, or marked one it leaves), the confidence
    is damped by the prior's: a place the prior was sure of and the network overruled is not a sure
    place, and the analyst finds the disagreements among the least confident pixels. Measured on the
    runs whose veto applied (`build/exp20/conf.py`: the shared pairs, seeds 0-3, 14 runs; rendered
    stress scenes, seeds 0-1, 29 runs), the AUC of low confidence for the map's errors rose or held on
    every run (pairs 0.934 -> 0.937, rendered 0.745 -> 0.778, +0.00 to +0.12 each), and the share of the
    errors among the 5 % least confident pixels rose or held on the rendered scenes (0.359 -> 0.394)
    and held on the pairs (0.671 -> 0.672, -0.01 to +0.01 each). A confidence of 0 wherever the two differ found
    more errors where the veto was wrong (rendered 0.556) but fewer where it was right (sar-enl-12 0.84
    -> 0.65-0.75, shuguang 0.71 -> 0.53)."""
    sure = _distance(prob, threshold)
    if prior is None:
        return sure
    prior = np.asarray(prior)
    # Where the prior has no value the network's score alone made the map (decision.score): nothing overruled.
    overruled = np.isfinite(prior) & ((np.asarray(prob) > threshold) != (prior > threshold))
    return np.where(overruled, sure * (1.0 - _distance(prior, threshold)), sure).astype(np.float32)


def _distance(prob: np.ndarray, threshold: float) -> np.ndarray:
    """The distance from the threshold in units of the room on that side, clipped to 0..1."""
    prob = np.asarray(prob, np.float32)
    above = (prob - threshold) / max(1.0 - threshold, 1e-12)
    below = (threshold - prob) / max(threshold, 1e-12)
    return np.clip(np.where(prob > threshold, above, below), 0.0, 1.0).astype(np.float32)
