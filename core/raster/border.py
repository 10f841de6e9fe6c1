"""An image's border of one constant value that the file does not declare as no data.

A Sentinel-1 GRD measurement file, an image warped without a destination nodata value, a JPEG export:
the ground they do not cover is filled with 0 (or −9999, −32768, −3.4e38) and nothing says it is no
data. Compared as data, such a border is a place where one image is black and the other is not, a
change all along it: a probe of release 0.11.1 found 100 % of such a border marked changed, the generated
default scene's Kappa 0.80 → 0.52 (0.28 with the network, which learnt the border as change) and an
unchanged scene 1.3–1.6 % marked and reported changed. The log said to set NODATA, but the map was
wrong. It is now recognised on a decimated read by three things together:
- every band holds one value there: the image's lowest (0 of unsigned numbers, −9999, −3.4e38), or, in
  floating-point data, whichever value its outermost pixels hold most (0 around decibels, which lie on
  both sides of it), exact repeats that measured ground does not make;
- those places are connected to the image's edge and cover at least BORDER_SHARE of it, half of that
  more than a pixel from any other place (a ramp whose first column is its lowest value has no border);
- the data near them are ordinary (their median between the DARKEST and 1 − DARKEST quantiles of the
  image's other values): a border cuts through the ground, while the darkest places of an image
  clipped to its lowest value (water in an 8-bit radar rendering) are surrounded by values nearly as
  dark, and saturated ones (a cloud) by values nearly as bright.
The eight shared pairs, 8-bit renderings with up to 1 % of an image's pixels at 0, hold at most
0.004 % of an image at 0 and connected to its edge, so none is touched; their maps are the same.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import ndimage

BORDER_SHARE = 0.005   # of the image: far above the shared pairs' 0.004 %, far below a swath's corners
DARKEST = 0.1          # the border's neighbours' median lies between this quantile of the other values and 1 − it
SKIP = 4               # pixels of the read: the border's neighbours are looked at this far out and beyond, past
                       # the ringing a JPEG's blocks leave along it (values of 0-4 up to 3 px from a border of 0)
_TOUCHING = np.ones((3, 3), bool)


@dataclass(frozen=True)
class Border:
    value: float    # the value every band holds on the border: the image's nodata from now on
    share: float    # of the image (the decimated read)


def undeclared_border(values: np.ndarray) -> Optional[Border]:
    """The constant border of an image read decimated as (bands, rows, cols), or None when it has none.
    Complex bands count by their magnitude; NaN is no data already."""
    values = np.abs(values) if np.iscomplexobj(values) else np.asarray(values)
    floating = values.dtype.kind == "f"
    values = values.astype(np.float64)
    finite = np.isfinite(values).all(axis=0)
    if not finite.any():
        return None
    for value in _candidates(values, finite, floating):
        at = finite & (values == value).all(axis=0)
        labels, count = ndimage.label(at, structure=_TOUCHING)
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        border = np.isin(labels, edge[edge > 0]) if count else np.zeros(at.shape, bool)
        near = ndimage.binary_dilation(border, _TOUCHING, iterations=SKIP)
        ring = ndimage.binary_dilation(near, _TOUCHING, iterations=SKIP) & ~near & finite & ~at
        thick = ndimage.binary_erosion(border, _TOUCHING, border_value=1).mean() >= BORDER_SHARE / 2
        if border.mean() >= BORDER_SHARE and thick and ring.any() and _ordinary(values, ring, finite & ~at):
            return Border(float(value), float(border.mean()))
    return None


def _candidates(values: np.ndarray, finite: np.ndarray, floating: bool) -> list[float]:
    """The values a border may hold: every band's common lowest; in floating-point data also the value
    the outermost pixels hold most, when every band holds it there."""
    lowest = [float(band[finite].min()) for band in values]
    found = [lowest[0]] if len(set(lowest)) == 1 else []
    if floating:
        outer = np.concatenate([values[:, 0], values[:, -1], values[:, :, 0], values[:, :, -1]], axis=1)
        outer = outer[:, np.isfinite(outer).all(axis=0)]
        if outer.size:
            shared, counts = np.unique(outer[0], return_counts=True)
            mode = float(shared[counts.argmax()])
            if mode not in found and (outer[:, outer[0] == mode] == mode).all():
                found.append(mode)
    return found


def _ordinary(values: np.ndarray, ring: np.ndarray, rest: np.ndarray) -> bool:
    """Whether, in every band, the places beside the border are neither among the image's darkest nor among
    its brightest."""
    for band in values:
        low, high = np.quantile(band[rest], [DARKEST, 1 - DARKEST])
        if not low < np.median(band[ring]) < high:
            return False
    return True
