"""Three-class Otsu: the cut halfway through the uncertain class between unchanged and changed."""
from __future__ import annotations

import numpy as np

from oaip_qgis.core.decision.threshold import otsu, otsu3, threshold_value

RNG = np.random.default_rng(1)
# Unchanged places, weak change (one land cover into a similar one) and strong change (a flood).
UNCHANGED = RNG.normal(0.1, 0.03, 17000)
WEAK = RNG.normal(0.35, 0.05, 1500)
STRONG = RNG.normal(0.85, 0.04, 1500)
SCENE = np.concatenate([UNCHANGED, WEAK, STRONG])


def test_weak_change_is_kept_where_two_class_otsu_drops_it():
    truth = np.r_[np.zeros(UNCHANGED.size, bool), np.ones(WEAK.size + STRONG.size, bool)]
    t2, t3 = otsu(SCENE), otsu3(SCENE)
    assert np.mean(WEAK > t2) < 0.05           # two classes: strong change against the rest
    assert UNCHANGED.max() < t3 and np.mean(WEAK > t3) > 0.25   # three: the cut goes through the weak change
    assert np.mean((SCENE > t3) == truth) > np.mean((SCENE > t2) == truth) + 0.01


def test_two_balanced_populations_are_still_split_with_few_errors():
    # Not its case (a change score is never half changed): one mode is split, the cut lands at its edge.
    two = np.concatenate([RNG.normal(0.2, 0.05, 5000), RNG.normal(0.7, 0.05, 5000)])
    truth = np.arange(two.size) >= 5000
    assert np.mean((two > otsu3(two)) != truth) < 0.05


def test_by_name_ignoring_nan_and_constant_values():
    assert threshold_value(SCENE, "otsu3") == otsu3(SCENE)
    assert otsu3(np.r_[SCENE, np.full(100, np.nan)]) == otsu3(SCENE)
    assert otsu3(np.full(50, 0.3)) == 0.3
    assert np.isfinite(otsu3(np.array([0.1, 0.9])))
