"""A fill value inside an image that the file does not declare as no data: −9999, −32768, −3.4e38, 65535.

raster.border finds such a value along an image's edge. Inside an image it can be ground (a lake at 0 in
near-infrared, water clipped to 0 by a rendering's stretch), so a run only names exact zeros there
(block_checks._name_undeclared_fills). But a value far outside everything else the image holds is no ground:
a block of −9999 inside the audit's copy of italy's T1 (1.3 % of it, no nodata declared) made the map
mark that block and little else (Kappa 0.81 → −0.01) while the log said "change found". So a value is
taken as no data when every band holds it at the same places, over at least FILL_SHARE of the image,
and either it is negative where every other value is 0 or more (reflectances, amplitudes, intensities:
−9999 beside Sentinel-2's 0–10 000 is only one of their ranges away), or it lies beyond the image's
other values by more than FAR times their own range (their FAR_QUANTILE to 1 − FAR_QUANTILE). −3.4e38
beside decibels of −30 to 10 is 10³⁶ such ranges away, 65535 beside 12-bit data 15; a 16-bit sensor's
saturated 65535 beside data up to 20 000 is 2.3 and an 8-bit image's 0 beside 1–255 is nothing: both
stay data. None of the 16 shared images nor 68 generated ones (34 scenarios, scene seeds 1–2) has one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .border import magnitudes

FILL_SHARE = 0.001   # of the image: a fill is a region, not a few pixels
FAR = 5.0            # the value's distance from the other values, in their own range
FAR_QUANTILE = 0.001


@dataclass(frozen=True)
class Fill:
    value: float    # the image's nodata from now on
    share: float    # of the image (the decimated read)
    low: float      # the other values' range, for the log
    high: float


def undeclared_fill(values: np.ndarray) -> Optional[Fill]:
    """The fill value of an image read decimated as (bands, rows, cols), or None when it has none: its
    lowest or highest value, held by every band at the same places and far outside the rest."""
    values, finite = magnitudes(values)
    if not finite.any():
        return None
    for value in {float(values[0][finite].min()), float(values[0][finite].max())}:
        at = finite & (values == value).all(axis=0)
        rest = finite & ~at
        if at.mean() < FILL_SHARE or rest.sum() < 2:
            continue
        if all(np.ptp(band[rest]) == 0 for band in values):   # the rest one value too: a mask, not data and a fill
            continue
        far = signed = True
        for band in values:
            low, high = np.quantile(band[rest], [FAR_QUANTILE, 1 - FAR_QUANTILE])
            distance = low - value if value < low else value - high
            far = far and distance > FAR * max(high - low, np.finfo(np.float32).tiny)
            signed = signed and value < 0 <= band[rest].min()
        if far or signed:
            return Fill(value, float(at.mean()), float(values[:, rest].min()), float(values[:, rest].max()))
    return None
