"""Shared plumbing of the priors: numpy block grids in, torch patch stacks out, per-cell sums back."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..i18n import tr


def check_pair(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The cells valid in both images and finite in every band; InputError on mismatched shapes."""
    if x1.ndim != 3 or x2.ndim != 3:
        raise InputError(tr("Both images must be (bands, rows, cols), not {shape1} and {shape2}.",
                            shape1=x1.shape, shape2=x2.shape))
    if x1.shape[1:] != x2.shape[1:] or valid.shape != x1.shape[1:]:
        raise InputError(tr("The two images and the mask must share one grid: {shape1}, {shape2}, {mask}.",
                            shape1=x1.shape[1:], shape2=x2.shape[1:], mask=valid.shape))
    ok = np.asarray(valid, bool) & np.isfinite(x1).all(axis=0) & np.isfinite(x2).all(axis=0)
    if not ok.any():
        raise InputError(tr("The two images share no valid cell (all nodata)."))
    return ok


def as_tensor(x: np.ndarray, ok: np.ndarray) -> torch.Tensor:
    """(1, bands, rows, cols) float32 with invalid cells zeroed, ready for unfold."""
    return torch.from_numpy(np.where(ok, x, 0.0).astype(np.float32)[None])


def unfold(t: torch.Tensor, k: int, stride: int) -> torch.Tensor:
    """Patches of a (1, C, H, W) tensor as (patches, k*k, C), padded so every cell is covered."""
    _, c, h, w = t.shape
    pad_h = (-(h - k) % stride) if h > k else k - h
    pad_w = (-(w - k) % stride) if w > k else k - w
    t = F.pad(t, (0, pad_w, 0, pad_h))
    cols = F.unfold(t, k, stride=stride)            # (1, C*k*k, L)
    return cols[0].reshape(c, k * k, -1).permute(2, 1, 0)


def fold(values: torch.Tensor, shape: tuple[int, int], k: int, stride: int) -> torch.Tensor:
    """Sum per-patch values (patches, k*k) back onto the (H, W) grid they came from."""
    h, w = shape
    pad_h = (-(h - k) % stride) if h > k else k - h
    pad_w = (-(w - k) % stride) if w > k else k - w
    out = F.fold(values.T[None], (h + pad_h, w + pad_w), k, stride=stride)
    return out[0, 0, :h, :w]
