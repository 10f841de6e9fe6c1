"""The change priors by name (`PRIORS`), so the pipeline, RunParams and the benchmarks pick one the same way.

The structural prior is the default: on the four shared pairs its AUC was 0.93–0.99 and Otsu's
Kappa on it 0.59–0.78, against 0.58–0.76 and 0.02–0.09 for the affinity prior, at a similar cost
(bench/bench_prior.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..registry import Registry

Check = Optional[Callable[[], None]]
Report = Optional[Callable[[float], None]]
Info = Optional[Callable[[str], None]]


@dataclass(frozen=True)
class PriorMaps:
    """A prior's maps on the block grid: `both`, change that each image's view of the other shows (the one every
    prior has), and `one_sided`, change that one of them may show alone (the structural prior's; None for a prior
    without it). Which one a run maps is the pipeline's choice (stages.compute_prior)."""

    both: np.ndarray
    one_sided: Optional[np.ndarray] = None
    # The same prior with its second pass taken at a given share of its first pass's most-changed cells left out
    # of the graph (the structural prior's; None for a prior without one): labels.crowded_change asks for it.
    crowded: Optional[Callable[[float], PriorMaps]] = field(default=None, compare=False, repr=False)


# Each entry imports its module when it runs: the priors need torch, and listing or checking the
# choices (RunParams, the plugin's forms) must not.
def _structural(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray, seed: int, check: Check,
                report: Report, info: Info) -> PriorMaps:
    from .structural_prior import structural_prior

    return structural_prior(x1, x2, valid, seed=seed, check=check, report=report, info=info)


def _affinity(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray, seed: int, check: Check,
              report: Report, info: Info) -> PriorMaps:
    """Seedless: `seed` draws nothing."""
    from .affinity_prior import affinity_prior

    return PriorMaps(affinity_prior(x1, x2, valid, check=check, report=report))


PRIORS = Registry("PRIOR", {"structural": _structural, "affinity": _affinity})


def change_prior(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray, method: str = "structural",
                 seed: int = 0, check: Check = None, report: Report = None, info: Info = None) -> PriorMaps:
    """The named prior's maps on the block grid of two normalised images (NaN where invalid), from 0, with 1 at
    its top (the structural prior's 0.995 quantile; above it not clipped, see structural_prior).
    check: called while the prior works (a task's Progress.check raises to cancel); report: told the
    share of the prior done (0..1); info: told, for the run's log, what the prior did beyond the usual."""
    return PRIORS.pick(method)(x1, x2, valid, seed=seed, check=check, report=report, info=info)
