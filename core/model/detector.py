"""The trained detector applied to a tile: change probability at pixel resolution.

The network is fully convolutional and sees cell means (patches.pair_cells): a tile is averaged into
cells on the global cell lattice, passed through the network in one forward pass (padded to its
stride), and the probability map is upsampled bilinearly back to the tile's pixels. In an int8 run
the only float steps are the quantisation of the normalised input and turning the final int8
logits into a probability. A run trains more than one network (model.train, NETWORKS) and the
detector's probability is their mean. Combining it with the prior is the run's business (core.stages, with
decision.score and decision.confirmation), not the detector's.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..i18n import tr
from .dual_vgg import Spec, quantise_input
from .patches import FILL_CELLS, pair_cells


class Detector:
    def __init__(self, nets: Sequence, spec: Spec, integer: bool, cell: int = 1) -> None:
        self.nets, self.spec, self.integer, self.cell = tuple(nets), spec, integer, cell
        # Pixels of tile overlap a seamless result needs: the receptive field, and the cells that
        # filling nodata (patches.fill_invalid) reads beyond it.
        self.context = (spec.context + spec.scale + FILL_CELLS) * cell

    def network_probability(self, x1: np.ndarray, x2: np.ndarray, row_off: int = 0, col_off: int = 0
                            ) -> np.ndarray:
        """P(changed) float32 (h, w), the mean of the networks', for normalised (bands, h, w) tiles (NaN:
        nodata) whose first pixel is (row_off, col_off) on the grid."""
        if x1.ndim != 3 or x2.ndim != 3 or x1.shape[1:] != x2.shape[1:]:
            raise InputError(tr("Tiles must be (bands, rows, cols) on one grid, not {shape1} and {shape2}.",
                                shape1=x1.shape, shape2=x2.shape))
        h, w = x1.shape[1:]
        valid = np.isfinite(x1).all(axis=0) & np.isfinite(x2).all(axis=0)
        c1, c2, _, (r0, c0) = pair_cells(x1, x2, valid, self.cell, row_off, col_off)
        s = self.spec.scale
        # Up to the network's stride, the edge cells are repeated: zeros there read as a change
        # (measured: a false change band one output wide along the right edge of a 150-pixel image).
        pad = (0, (-c1.shape[2]) % s, 0, (-c1.shape[1]) % s)
        t1 = F.pad(torch.from_numpy(c1)[None], pad, mode="replicate")
        t2 = F.pad(torch.from_numpy(c2)[None], pad, mode="replicate")
        with torch.no_grad():
            if self.integer:
                t1, t2 = quantise_input(t1), quantise_input(t2)
            prob = sum(net.change_probability(t1, t2) for net in self.nets) / len(self.nets)
        prob = F.interpolate(prob[:, None], scale_factor=s * self.cell, mode="bilinear", align_corners=False)[0, 0]
        return prob[r0:r0 + h, c0:c0 + w].numpy().astype(np.float32)
