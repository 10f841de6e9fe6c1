"""Luppino's affinity prior on block means: how differently each image relates a cell to its neighbours.

Pixel values of two sensors cannot be compared, but within one image the question "which of my
neighbours look like me" can, and it has the same answer in both images where nothing changed.
For every k×k neighbourhood each image gets an affinity matrix A = exp(-(D/σ)²) of its cells'
pairwise distances, σ a robust scale of D (the k²/4-th largest distance per row, averaged, as in
Luppino's code); a cell's prior is the mean of |A₁ − A₂| along its row, averaged over every
neighbourhood that holds it and over the scales.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Optional

import numpy as np
import torch

from ..errors import InputError
from ..i18n import tr
from .patches import as_tensor, check_pair, fold, unfold

SCALES = (20,)
CHUNK = 1 << 21  # distance entries per batch: small enough for the cache, bounds the memory
ROWS_FOR_SCALE = 32


def _row_scale(d: torch.Tensor, m: torch.Tensor, n_ok: torch.Tensor) -> torch.Tensor:
    """Per patch: the (n/4)-th largest distance to valid cells of a row, averaged over valid rows.

    A subset of rows (at most ROWS_FOR_SCALE, evenly spaced) is enough for an average and keeps
    the sort, the costliest step, from growing with k⁴.
    """
    step = max(1, d.shape[1] // ROWS_FOR_SCALE)
    rows, row_ok = d[:, ::step], m[:, ::step]
    ranked = rows.masked_fill(~m[:, None, :], -1.0).sort(dim=-1, descending=True).values
    index = (n_ok // 4).clamp(max=d.shape[-1] - 1)
    per_row = ranked.gather(-1, index[:, None, None].expand(-1, rows.shape[1], 1))[..., 0]
    sigma = (per_row * row_ok).sum(-1) / row_ok.sum(-1).clamp(min=1)
    return torch.where(sigma > 0, sigma, torch.ones_like(sigma))


def _affinity(p: torch.Tensor, m: torch.Tensor, n_ok: torch.Tensor) -> torch.Tensor:
    """exp(-(D/σ)²) of each patch, computed in place to spare memory traffic."""
    d = torch.cdist(p, p)
    sigma = _row_scale(d, m, n_ok)
    return d.div_(sigma[:, None, None]).square_().neg_().exp_()


def _one_scale(t1: torch.Tensor, t2: torch.Tensor, mask: torch.Tensor, k: int, stride: int,
               step: Callable[[float], None]) -> tuple:
    """Sum of per-cell α over the k×k neighbourhoods holding each cell, and how many did; `step(done)` is
    called after each batch with the share of the scale done (a cancel raises there)."""
    shape = tuple(mask.shape[-2:])
    p1, p2 = unfold(t1, k, stride), unfold(t2, k, stride)
    m = unfold(mask, k, stride)[..., 0] > 0                              # (P, k*k)
    n_ok = m.sum(-1)
    keep = n_ok >= max(2, (k * k) // 4)                                  # too few valid cells: no scale
    p1, p2, m, n_ok = p1[keep], p2[keep], m[keep], n_ok[keep]
    weights = m.float()
    alpha = torch.zeros(m.shape)
    batch = max(1, CHUNK // (k ** 4))
    for s in range(0, m.shape[0], batch):
        sl = slice(s, s + batch)
        diff = _affinity(p1[sl], m[sl], n_ok[sl]).sub_(_affinity(p2[sl], m[sl], n_ok[sl])).abs_()
        alpha[sl] = torch.bmm(diff, weights[sl, :, None])[..., 0] / n_ok[sl, None]
        step(min(1.0, (s + batch) / m.shape[0]))
    full = torch.zeros((len(keep), k * k))
    counts = torch.zeros((len(keep), k * k))
    full[keep], counts[keep] = alpha * weights, weights
    return fold(full, shape, k, stride), fold(counts, shape, k, stride)


def affinity_prior(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray, scales: Sequence[int] = SCALES,
                   overlap: int = 2, check: Optional[Callable[[], None]] = None,
                   report: Optional[Callable[[float], None]] = None) -> np.ndarray:
    """Change prior α in [0, 1] on the block grid of two normalised block-mean images.

    x1 (bands1, h, w), x2 (bands2, h, w), valid (h, w). scales: neighbourhood sides k in cells;
    overlap: how many neighbourhoods cover a cell along each axis (stride = k / overlap). check: called
    after each batch (a task's cancel raises there; about 70 s at the most cells on one thread); report:
    told the share done. Returns float32 (h, w), NaN at invalid cells.
    """
    ok = check_pair(x1, x2, valid)
    if not scales or min(scales) < 2 or overlap < 1:
        raise InputError(tr("Scales must be sides of at least 2 cells and overlap at least 1, "
                            "not {scales} and {overlap}.", scales=tuple(scales), overlap=overlap))
    t1, t2 = as_tensor(x1, ok), as_tensor(x2, ok)
    mask = torch.from_numpy(ok.astype(np.float32))[None, None]
    total, covered = torch.zeros(ok.shape), torch.zeros(ok.shape)
    for number, k in enumerate(scales):
        def step(done: float, number: int = number) -> None:
            if check is not None:
                check()
            if report is not None:
                report((number + done) / len(scales))

        k = min(k, max(2, min(ok.shape)))   # a neighbourhood fits inside a narrow grid
        s, n = _one_scale(t1, t2, mask, k, max(1, k // overlap), step)
        total += torch.where(n > 0, s / n.clamp(min=1), torch.zeros_like(s))
        covered += n > 0
    alpha = torch.where(covered > 0, total / covered.clamp(min=1), torch.zeros_like(total)).numpy()
    return np.where(ok, np.clip(alpha, 0.0, 1.0), np.nan).astype(np.float32)
