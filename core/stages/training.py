"""The network trained on the prior's pseudo-labels (and the analyst's samples) where the mode asks for one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from ..i18n import tr
from ..params import RunParams
from ..progress import Progress
from ..raster.align import AlignedPair
from ..run_stats import ModelStats
from .prior import PRIOR_DONE, PriorResult
from .surroundings import Ground

if TYPE_CHECKING:
    from ..model.detector import Detector


@dataclass(frozen=True)
class Trained:
    """The network confirming the prior and what its training reports; both None when none was trained."""

    detector: Optional[Detector] = None
    stats: Optional[ModelStats] = None

    @property
    def changed_pixels(self) -> Optional[int]:
        """Grid pixels under the network's changed pseudo-labels (the prior's block cells, each block² pixels)."""
        labels = self.stats.training.get("pseudo_labels") if self.stats is not None else None
        return None if not labels else int(labels["changed"]) * int(labels["cell"]) ** 2


def train_network(pair: AlignedPair, prior: PriorResult, samples: Optional[np.ndarray], params: RunParams,
                  progress: Progress, ground: Optional[Ground] = None) -> Trained:
    """The OAIP network trained on the prior's pseudo-labels (and analyst samples), on the scene or, for an AOI, on
    the `ground` around it; none in the prior mode, nor in a pair without significant change (nothing to learn
    from)."""
    if params.mode == "prior":
        return Trained()
    if prior.gated and not prior.evidence.significant:
        progress.info(tr("The network was not trained: there is no change in the pair to learn from.")
                      if not prior.evidence.groups else
                      tr("The network was not trained: a few compact groups of change are too little to learn "
                         "from, so the map is the prior's."))
        if params.extend_from_samples:
            progress.info(tr("So nothing more like the changed samples was looked for: they keep their own label."))
        return Trained()
    on = ground or Ground(pair, prior, samples, (0, 0))
    if _uniform(on.prior.prior):   # a manual threshold does not gate, but identical images label nothing
        progress.info(tr("The network was not trained: the two images do not differ anywhere, so there is no "
                         "change to learn from."))
        return Trained()
    from ..model.train import train_detector  # torch is needed from here on only

    if ground is not None and ground.pair.grid != pair.grid:   # no note where there is no ground beyond the AOI
        progress.info(tr("The area of interest is mapped as the ground around it that the prior compares it with: "
                         "the network learns there, and its confirmation below is weighed there too."))
    detector, stats = train_detector(on.pair, (prior.norm1, prior.norm2), on.prior.prior, prior.block, on.samples,
                                     params, progress.span(PRIOR_DONE, 0.7), floor=prior.evidence.floor)
    return Trained(detector, stats)


def _uniform(prior: np.ndarray) -> bool:
    """Whether the prior is one value on every valid cell (an identical pair): no place to label."""
    values = prior[np.isfinite(prior)]
    return values.size == 0 or bool(values.max() <= values.min())
