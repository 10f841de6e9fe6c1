"""Whether T2 is T1 with each band rescaled: the same image, not two looks at a scene.

The structural prior and the no-change verdict measure disagreement in units of the scene's own typical
disagreement. A pair that agrees exactly has none (median 0) and is reported unchanged; a pair that agrees to
within rounding (T1 × 1.7 stored as integers, T1 with noise of 10⁻³ of its values) had its rounding scaled up to
"change found" (3.7–12.8 % of the scene marked, peaks of 4–3 383× its median; a probe of odd inputs, release
0.19.7), and its direct measure's spread named as if much had changed alike. Two looks at a scene never agree so:
two dates of one sensor differ by their light, season and noise, two sensors by what they see (the shared pairs'
and the generated scenes' largest residual is 2.9–23 times a band's spread; the probe's copies gave 10⁻⁴–0.009,
and the copies at 0.03–0.09, rounded to 8 bits or with 1 % noise, were already reported unchanged: LINE lies in the
gap). One place changed anywhere is far off the fit, so the line is on the largest residual of all, not a quantile:
a copy with a flood painted on it is still compared.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

LINE = 0.02   # the largest residual of a band's fit, in units of that band's spread over the scene


def rescaled_copy(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray) -> Optional[float]:
    """The largest residual (in units of its band's spread) of T2's bands fitted each as an affine function of
    T1's same band, where it is under LINE on every valid cell; None otherwise, or where the band counts differ.
    x1, x2: (bands, h, w) block means, normalised or not (an affine normalisation moves no residual)."""
    if x1.shape[0] != x2.shape[0] or not valid.any():
        return None
    largest = 0.0
    for a, b in zip(x1, x2):
        a, b = np.asarray(a[valid], np.float64), np.asarray(b[valid], np.float64)
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            return None
        spread = float(b.std())
        if spread == 0.0 or a.std() == 0.0:
            return None   # a constant band (the prior's note names it): no copy of a varying one
        slope, offset = np.polyfit(a, b, 1)
        largest = max(largest, float(np.abs(b - (slope * a + offset)).max()) / spread)
        if largest >= LINE:
            return None
    return largest
