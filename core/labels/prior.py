"""One entry point for the change priors, so the pipeline and the benchmarks pick one by name.

The structural prior is the default: on the four shared pairs its AUC was 0.93–0.99 and Otsu's
Kappa on it 0.59–0.78, against 0.58–0.76 and 0.02–0.09 for the affinity prior, at a similar cost
(bench/bench_prior.py).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np

from ..errors import InputError
from .affinity_prior import affinity_prior
from .structural_prior import structural_prior

PRIORS = ("structural", "affinity")


def change_prior(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray, method: str = "structural",
                 seed: int = 0, device: str = "cpu", check: Optional[Callable[[], None]] = None) -> np.ndarray:
    """The named prior in [0, 1] on the block grid of two normalised images (NaN where invalid).
    check: called while the structural prior works (a task's Progress.check raises to cancel)."""
    if method == "structural":
        return structural_prior(x1, x2, valid, seed=seed, device=device, check=check)
    if method == "affinity":
        return affinity_prior(x1, x2, valid)
    raise InputError(f"Prior must be one of {', '.join(PRIORS)}, not {method!r}.")
