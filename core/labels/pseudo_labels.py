"""Training labels from the pair itself: the extremes of the change prior, overridden by the analyst.

Only the two tails of the prior are trusted: the most-changed few percent become "changed" and a
broad low part becomes "unchanged"; the middle stays unlabelled. Defaults, measured with the
structural prior on the four shared pairs (bench/bench_prior.py), at pixel level: the top 2 % were
0.93–0.997 truly changed (top 5 %: 0.61–0.93, capped by pairs with only 3–5 % change; top 1 %:
0.99–1.0); the bottom 30 % / 50 % / 70 % were ≥ 0.998 / 0.995 / 0.975 truly unchanged, so 40 %.
A small "changed" share is chosen because the changed fraction of an unseen pair is unknown.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import InputError

NONE, UNCHANGED, CHANGED = -1, 0, 1
CHANGED_FRACTION = 0.02
UNCHANGED_FRACTION = 0.40


def pseudo_labels(prior: np.ndarray, valid: Optional[np.ndarray] = None,
                  changed: float = CHANGED_FRACTION, unchanged: float = UNCHANGED_FRACTION,
                  analyst: Optional[np.ndarray] = None) -> np.ndarray:
    """int8 labels on the prior's grid: 1 for the top ``changed`` fraction of the valid prior,
    0 for the bottom ``unchanged`` fraction, -1 elsewhere and at invalid or NaN cells.

    Ties are broken by position, so exactly round(fraction × valid cells) cells get each label.
    analyst: int8 of the same shape (-1 none, 0 unchanged, 1 changed); its 0/1 cells win.
    """
    prior = np.asarray(prior, np.float32)
    ok = np.isfinite(prior) if valid is None else np.asarray(valid, bool) & np.isfinite(prior)
    if ok.shape != prior.shape:
        raise InputError(f"The validity mask {ok.shape} does not match the prior {prior.shape}.")
    if not (0 <= changed < 1 and 0 <= unchanged < 1 and changed + unchanged <= 1):
        raise InputError(f"Pseudo-label fractions must lie in [0, 1) and sum to at most 1, "
                         f"not {changed} and {unchanged}.")
    labels = np.full(prior.shape, NONE, np.int8)
    cells = np.flatnonzero(ok.ravel())
    order = cells[np.argsort(prior.ravel()[cells], kind="stable")]
    n_changed, n_unchanged = round(changed * cells.size), round(unchanged * cells.size)
    flat = labels.ravel()
    flat[order[:n_unchanged]] = UNCHANGED
    flat[order[cells.size - n_changed:]] = CHANGED
    return labels if analyst is None else merge_analyst(labels, analyst)


def merge_analyst(labels: np.ndarray, analyst: np.ndarray) -> np.ndarray:
    """Analyst samples (0 or 1) replace the pseudo-labels at their cells; -1 leaves them as they are."""
    analyst = np.asarray(analyst)
    if analyst.shape != labels.shape:
        raise InputError(f"Analyst samples {analyst.shape} do not match the label grid {labels.shape}.")
    given = (analyst == UNCHANGED) | (analyst == CHANGED)
    return np.where(given, analyst, labels).astype(np.int8)


def sample_locations(labels: np.ndarray, per_class: int, seed: int = 0,
                     keep: Optional[np.ndarray] = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A balanced, seeded draw of up to per_class labelled cells of each class.

    keep: cells taken before any other (the analyst's samples), up to per_class per class.
    Returns (rows, cols, classes) as int64 arrays, classes in {0, 1}, in a seeded random order.
    """
    labels = np.asarray(labels)
    if per_class < 1:
        raise InputError(f"At least one sample per class is needed, not {per_class}.")
    rng = np.random.default_rng(seed)
    first = np.zeros(labels.shape, bool) if keep is None else np.asarray(keep, bool)
    if first.shape != labels.shape:
        raise InputError(f"The mask of kept samples {first.shape} does not match the labels {labels.shape}.")
    picked = []
    for cls in (UNCHANGED, CHANGED):
        preferred = rng.permutation(np.flatnonzero((labels == cls) & first))
        others = rng.permutation(np.flatnonzero((labels == cls) & ~first))
        picked.append(np.concatenate([preferred, others])[:per_class])
    index = np.concatenate(picked)
    classes = np.concatenate([np.full(p.size, cls, np.int64) for p, cls in zip(picked, (UNCHANGED, CHANGED))])
    order = rng.permutation(index.size)
    rows, cols = np.unravel_index(index[order], labels.shape)
    return rows.astype(np.int64), cols.astype(np.int64), classes[order]
