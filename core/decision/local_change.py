"""Change confined to a few compact places, in a scene that shows no significant change as a whole.

The scene-wide evidence (decision.evidence) is the prior's 0.995 quantile over its median: change
over under about 0.5 % of a scene cannot lift it above the no-change line, so such a scene was
reported unchanged and its map left empty (generated scenes with 0.35–0.7 % of new buildings at
1000²–1500²: five scene seeds of six). Yet its changed places stand out in a way an unchanged
scene's do not: they are above the no-change line *together*, as groups of touching cells, where the
unchanged tail is scattered. So a place of such a scene is marked changed when it belongs to a group
of at least LEAST_CELLS touching cells (8-connected, on the prior's block grid) that are all above
the no-change line (NO_CHANGE_PEAK times the prior's median); the groups are the run's weak
evidence, said in its verdict. Scattered places above the line are held just under it, so the
difference image still ranks every place and no isolated one is marked.

Measured on the prior before its clipping (`build/exp16`, release 0.9.2), cells of 2 px:
- generated scenes with 0.18–0.67 % changed and no significant change (rare, rare misregistered by
  3.5 × 2.5 px, 600²–1500², eight scene/size draws): Kappa 0.63–0.84 (mean 0.75) where it was 0;
- unchanged generated scenes of four sensor pairs, registered or misregistered by 3.5 × 2.5 px, 600²
  to 2000² (40 runs): at most 0.34 % marked (two optical sensors), none on 29 of them; 2000² scenes
  0.00–0.06 %; the shared pairs' unchanged squares without significant change: none.
LEAST_CELLS: 30 to 75 give about the same on both kinds (rare mean 0.75–0.77, unchanged at most
0.34 %); 50 is the middle. It is a size on the prior's grid, so a group is larger on the ground where
the prior's blocks are (a 10 980² tile's 6 px blocks). The eight shared pairs all show significant
change, so the rule changes none of their maps. The same groups in place of Otsu's cut on scenes of
weak evidence were measured and not used: rare scenes gained (0.49 → 0.76), a flood over a third of
the scene lost (0.57 → 0.10), and so did new buildings over 4–7 % of it (0.81–0.86 → 0.65–0.68).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .evidence import Evidence

LEAST_CELLS = 50
_TOUCHING = np.ones((3, 3), bool)   # 8-connected
_UNDER = 1 - 1e-3                   # a scattered place above the line is held this far under it


@dataclass(frozen=True)
class LocalChange:
    """A scene's prior for the decision, without significant change: in [0, 1], the cut where a place is
    changed (1.0: nowhere), and the compact groups found."""

    prior: np.ndarray
    cut: float
    groups: int
    share: float   # of the valid cells, in the groups


def compact_groups(above: np.ndarray, least: int = LEAST_CELLS) -> tuple[np.ndarray, int]:
    """The cells of `above` that belong to a group of at least `least` touching cells, and the count of
    such groups."""
    labels, count = ndimage.label(above, structure=_TOUCHING)
    if count == 0:
        return np.zeros(above.shape, bool), 0
    sizes = np.bincount(labels.ravel())
    keep = sizes >= least
    keep[0] = False
    return keep[labels], int(keep.sum())


def local_change(prior: np.ndarray, evidence: Evidence, least: int = LEAST_CELLS) -> LocalChange:
    """The prior of a scene without significant change (NaN where invalid; in units of its top, not yet
    clipped), made to mark only its compact groups above the no-change line."""
    valid = np.isfinite(prior)
    clipped = np.clip(prior, 0.0, 1.0)
    line = evidence.no_change_peak * evidence.median
    if evidence.significant or line <= 0 or not valid.any():
        return LocalChange(clipped, 1.0, 0, 0.0)
    above = valid & (np.nan_to_num(prior) >= line)
    groups, count = compact_groups(above, least)
    if count == 0:
        return LocalChange(clipped, 1.0, 0, 0.0)
    top = float(np.nanmax(prior))
    cut = line / top
    scaled = np.where(above & ~groups, cut * _UNDER, prior / top)
    return LocalChange(np.where(valid, scaled, np.nan).astype(np.float32), float(cut), count,
                       float(groups.sum() / valid.sum()))
