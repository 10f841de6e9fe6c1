"""What a run reports (stats.json, the dock, the benchmarks), from what its stages made."""
from __future__ import annotations

from ..decision.cut import Cut
from ..params import RunParams
from ..raster.align import AlignedPair
from ..release import release
from ..run_stats import RunStats
from .outputs import Difference
from .prior import PriorResult
from .training import Trained


def collect_stats(params: RunParams, pair: AlignedPair, prior: PriorResult, trained: Trained, difference: Difference,
              cut: Cut, timing: dict) -> RunStats:
    """What the run reports (stats.json, the dock, the benchmarks) from what its stages made."""
    grid = pair.grid
    return RunStats(mode=params.mode, seed=params.seed, device=params.device,
                    threshold_method=params.threshold_method, threshold=round(float(cut.threshold), 6),
                    **prior.calibration.to_dict(), **cut.figures(), grid=grid, prior=params.prior,
                    prior_block=prior.block, detector="network" if trained.detector is not None else "prior",
                    evidence={**prior.evidence.to_dict(), "applied": prior.gated},
                    direct_comparison=prior.direct.to_dict(), prior_one_sided=prior.one_sided,
                    white_places=prior.white_places, network=trained.stats,
                    network_confirmation=difference.confirmation.to_dict() if difference.confirmation else None,
                    extend_from_samples=params.extend_from_samples or None,
                    timing=timing, coregistration=pair.shift.to_dict() if params.coregister else None,
                    parameters=params.recorded(), release=release())
