"""An image's border of one constant value that the file does not declare as no data.

A Sentinel-1 GRD measurement file, an image warped without a destination nodata value: the ground they
do not cover is filled with 0 (or −9999, −32768, −3.4e38) and nothing says it is no data. Compared as
data, such a border is a place where one image is black and the other is not, a change all along it: a
probe of release 0.11.1 found 100 % of such a border marked changed, the generated default scene's Kappa
0.80 → 0.52 (0.28 with the network, which learnt the border as change) and an unchanged scene 1.3–1.6 %
marked and reported changed. The log said to set NODATA, but the map was wrong.

Taking ground for a border is worse: the value becomes no data in the whole image, silently, and the
public benchmark pairs are 8-bit renderings whose contrast stretch clips dark water to 0, often at an
edge. A second probe found a first version of this rule (lowest value along the edge, ordinary ground
4–8 px beyond) firing on 89 of 360 smoothed 8-bit renderings of generated radar scenes without any border
(36 % of one scene's change lost) and on 9 % of 80–200 px crops of the shared italy NIR image, where the
lake is 0. So all of these must hold, on a decimated read:
- every band holds one value there: the image's lowest; in integer data its highest (the white a map export
  leaves where it held no ground); in floating-point data whichever value its outermost pixels hold most (0
  around decibels, which lie on both sides of it);
- those places are connected to the image's edge and cover at least BORDER_SHARE of it, half of that
  more than a pixel from any other place; they are solid (SOLID of the region with its holes filled:
  clipped water keeps specks above 0) and hold most (MOSTLY) of the image's places of that value (a lake
  at 0 in near-infrared is 0 inside the image too);
- the data right beside them are ordinary, their median between the DARKEST and 1 − DARKEST quantiles of
  the image's other values (clipped water fades into dark ground);
- in integer data, they hold at least STRETCHED times the share of the value at the other end of the
  image's range: a percentile stretch clips as much to the top as to the bottom (the 5 % stretches that
  still fired held 4.0–5.0 % at 0 and 5.0–5.1 % at 255).
Measured (the probe's cases, `build/exp22`): caught are a Sentinel-1-like UInt16 amplitude with a 0
wedge (1.4 % of the image), float σ⁰ and dB with 0 or −9999 wedges, 8-bit RGB and radar images warped
with 0 corners (21–29 %); none of the 360 renderings, none of 7 800 italy crops, none of the 16 shared
images fires. White (255) corners, added in release 0.11.7 (`build/exp27`): a 9.5 % white wedge on a
rendered unchanged scene had 10 % of it marked and "change found", now nothing; the top value fires on none
of 9 600 crops (60–220 px) of the 16 shared images nor on 1 050 renderings of generated scenes (7 scenarios
× 3 seeds, optical RGB and radar, stretches clipping 0.5–10 % at each end, whole and quarters). A border found
here is no data only where every band holds it (`image_values.select`). Where the ground holds the value too,
scattered (calm water at 0 after thermal-noise removal, in a float σ⁰ or a 16-bit amplitude), the border is
its straight-sided body only, given to GDAL as a mask at the image's own pixels (`_border_among_specks`,
raster.border_mask). A JPEG
export's border, which its ringing fades into the ground, is looked at beyond that fade and taken with it
(`_border_through_ringing`). Left to the log's advice (set NODATA): an 8-bit rendering whose wedge is no
larger than its clipped highlights or shadows, one whose ground beside the wedge is among its darkest or
brightest, frames of 1–3 px, and an 8-bit image whose calm water is 0 as well as its border.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull

from .grid import TOUCHING

BORDER_SHARE = 0.005   # of the image: far above the shared pairs' 0.004 %, far below a swath's corners
DARKEST = 0.1          # the border's neighbours' median lies between this quantile of the other values and 1 − it
RING = 2               # pixels of the read: the border's neighbours, looked at right beside it
SOLID = 0.97           # of the border with its holes filled: a fill is solid, clipped water keeps specks above 0
STRETCHED = 2          # a border holds at least this many times the share an integer image's top value holds
MOSTLY = 0.5           # of the image's places holding the value, the border holds at least this share
SPECKLE = 2            # pixels of the read that an opening takes away: a fill keeps its body, scattered zeros do not
CONVEX = 0.9           # of its convex hull, each part of a border found among specks covers at least this share
FADE = 8               # pixels of the image: a JPEG's block, within which its ringing fades a border into the ground


@dataclass(frozen=True)
class Border:
    value: float    # the value every band holds on the border: the image's nodata from now on
    share: float    # of the image (the decimated read)
    # Where the value is no data, on the read, when the ground holds it too (None: everywhere), and the share of
    # the image that holds it outside that region, compared as data (`border_mask`).
    region: Optional[np.ndarray] = field(default=None, compare=False)
    inside: float = 0.0
    exact: bool = True   # only the value's places in `region` are no data; False: all of it (a JPEG's faded rim)


def magnitudes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A decimated read (bands, rows, cols) as float64, complex bands by their magnitude, and where every
    band is finite (NaN is no data already)."""
    values = (np.abs(values) if np.iscomplexobj(values) else np.asarray(values)).astype(np.float64)
    return values, np.isfinite(values).all(axis=0)


def undeclared_border(values: np.ndarray, fade: int = 0, among_specks: bool = True) -> Optional[Border]:
    """The constant border of an image read decimated as (bands, rows, cols), or None when it has none.
    Complex bands count by their magnitude; NaN is no data already. fade: for a JPEG-compressed image, the
    pixels of the read that FADE image pixels span (`_border_through_ringing`); 0 for exact data.
    among_specks: also look for a border whose value the ground holds too (`_border_among_specks`), which
    only a mask can give; without it, a plain value or nothing."""
    floating = np.iscomplexobj(values) or np.asarray(values).dtype.kind == "f"
    among_specks &= floating or np.asarray(values).dtype.itemsize > 1   # not in 8-bit data: renderings (see below)
    values, finite = magnitudes(values)
    if not finite.any():
        return None
    for value, clipped in _candidates(values, finite, floating):
        at = finite & (values == value).all(axis=0)
        if fade and (found := _border_through_ringing(values, finite, at, value, clipped, fade)) is not None:
            return found
        if among_specks and (found := _border_among_specks(values, finite, at, value, clipped)) is not None:
            return found if found.inside else replace(found, region=None)   # none elsewhere: the value is no data
        border = edge_regions(at)
        if _bordering(values, finite, at, border, clipped, at):
            return Border(float(value), float(border.mean()))
    return None


def _bordering(values: np.ndarray, finite: np.ndarray, at: np.ndarray, border: np.ndarray, clipped: float,
               held: np.ndarray, beside: Optional[np.ndarray] = None) -> bool:
    """Whether `border`, edge regions of the places `at` that hold one value, passes the module's guards: its
    share, thickness and solidity, the share of the places `held` it holds, and ordinary ground beside it (or
    beside `beside`, the border with what is taken with it)."""
    # Cheapest first: the rules ask this of every candidate value, per band too (found_nodata).
    if border.mean() < max(BORDER_SHARE, STRETCHED * clipped) or border.sum() < MOSTLY * held.sum():
        return False   # too small, or the value is the ground's too (a lake's 0 in NIR)
    if ndimage.binary_erosion(border, TOUCHING, border_value=1).mean() < BORDER_SHARE / 2:
        return False   # thin
    if border.sum() < SOLID * (border | _specks(border, finite)).sum():
        return False   # hollow
    beside = border if beside is None else beside
    ring = ndimage.binary_dilation(beside, TOUCHING, iterations=RING) & ~beside & finite & ~at
    return bool(ring.any() and _ordinary(values, ring, finite & ~at))


def _specks(border: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """The holes in `border` (places it encloses that are not its own) but the one holding most of the image's
    other places: the data a fill surrounds when an image was clipped to a polygon (gdalwarp -cutline, QGIS's
    Clip raster by mask layer, without a nodata value) is no speck of the fill, and counted as one it made
    every such frame hollow and compared as data (a radar image clipped so: Kappa −0.06 against 0.88)."""
    holes, count = ndimage.label(ndimage.binary_fill_holes(border) & ~border)
    if count:
        sizes = ndimage.sum_labels(np.ones_like(border), holes, index=np.arange(1, count + 1))
        if sizes.max() >= MOSTLY * (finite & ~border).sum():
            holes[holes == 1 + sizes.argmax()] = 0
    return holes > 0


def _border_among_specks(values: np.ndarray, finite: np.ndarray, at: np.ndarray, value: float,
                         clipped: float) -> Optional[Border]:
    """A fill border whose value the ground also holds, scattered: a linear σ⁰ after thermal-noise removal (float
    or an integer amplitude) is 0 outside its swath and on many pixels of calm water, some of them touching the
    border, so the guards on the value's whole edge region decline it (not solid, not most of the zeros, dark
    water beside it) and the border was compared as data (the generated default scene's Kappa 0.80 → 0.06).
    An opening keeps the fill's body and takes the specks away; that body must pass the same guards, holding
    at least MOSTLY of the value's solid places (a lake at 0 is solid). The border is then that body with the
    value's places within SPECKLE + 1 pixels of it (its corners and rim, which the opening rounded off); the
    specks elsewhere stay data. Water all at 0 (clipped) is a solid body too, and where the image's edge cuts
    it, it would become no data, a flood with it: so each part of the body must also be nearly convex (CONVEX
    of its hull), as the ground outside a swath or a warped image's corners are, and rivers, floods and shores
    are not. On 504 linear σ⁰ crops of generated scenes without a border, their darkest 1–40 % set to 0
    (`build/exp28`), this rule took water for a border in 2 that the whole-region guards did not, against 135
    without the hull; with each water pixel 0 at a chance of 0.3–0.9, it found the swath edge in 155 of 162
    scenes (the whole-region guards in 7) and fired on none of 486 crops without one. Integer images were left
    out at first, for fear of 8-bit renderings' clipped water; measured since (`build/exp29/int_probe.py`), the
    same scenes as UInt16 amplitudes give the same counts (155 of 162, 0 of 486, 2 new of 432 clipped crops).
    8-bit images stay out: a probe of 5 616 generated images without a border (sensors' reflectance, radar
    amplitude, 8-bit renderings; seas, ponds, reservoirs, canals and floods at the lowest value touching the
    edge; `/tmp/probe29`) found 75 firings the whole-region rules did not make, 58 of them 8-bit, where the
    rendering's stretch clips dark land to scattered specks of the value that the opening then takes away (water
    1–38 % of the image lost), against 4 of 53 new true finds among 264 bordered images. In 16-bit data the 17
    new firings need water at least 99.5 % at the value, where the whole-region rules already fire on most such
    scenes (78 %), and the rule finds 49 more swath edges and corners."""
    if at.mean() < max(BORDER_SHARE, STRETCHED * clipped) or not _touches_edge(at):
        return None   # `_bordering`'s first guard, asked before the opening (every integer image's two ends come here)
    solid, body = _solid_body(at)
    if not body.any() or not _bordering(values, finite, at, body, clipped, solid) or not _straight_sided(body):
        return None
    region = at & ndimage.binary_dilation(body, TOUCHING, iterations=SPECKLE + 1)
    return Border(float(value), float(region.mean()), region, float((at & ~region).mean()))


def _border_through_ringing(values: np.ndarray, finite: np.ndarray, at: np.ndarray, value: float, clipped: float,
                            fade: int) -> Optional[Border]:
    """A JPEG-compressed image's fill border (a map export's or a warped image's black or white corners): its
    flat inside decodes to the value exactly, but within a block of its edge the compression's ringing fades it
    into the ground, so the pixels right beside it are nearly the value too and the ring's guard took it for
    clipped water (a default scene with black or white JPEG corners: Kappa 0.67 → 0.15–0.19; unchanged, 9–10 %
    marked and "change found"). Its body (the value's solid places, as `_border_among_specks` finds them) must
    pass every guard with the ring looked at `fade` pixels farther out; the border is then the body and every
    pixel within `fade` + SPECKLE of it, faded or not. Measured on JPEG-encoded 8-bit images (quality 75,
    `build/exp28/jpeg_probe.py`): found in 942 of 1 008 renderings of generated scenes given black or white
    corners (a triangle, a rotated footprint's four corners, a strip); fires on none of 432 percentile
    renderings without corners and on 2 of 2 400 crops of the 16 shared images (italy's lake at 0, 0.6–0.8 %
    of the crop, which then is no data). The hull's guard would not help here: it misses 369 more corners
    (rendered ground clipped to the value joins them) and still fires on both crops (straight shores)."""
    solid, body = _solid_body(at)
    if not body.any():
        return None
    region = ndimage.binary_dilation(body, TOUCHING, iterations=fade + SPECKLE) & finite
    if not _bordering(values, finite, at, body, clipped, solid, beside=region):
        return None
    return Border(float(value), float(region.mean()), region, float((at & ~region).mean()), exact=False)


def _touches_edge(at: np.ndarray) -> bool:
    return bool(at[0].any() or at[-1].any() or at[:, 0].any() or at[:, -1].any())


def _solid_body(at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The places `at` that an opening of SPECKLE pixels keeps (scattered ones go), and those of them connected
    to the image's edge: a fill's body."""
    eroded = ndimage.binary_erosion(at, TOUCHING, iterations=SPECKLE, border_value=1)
    solid = ndimage.binary_dilation(eroded, TOUCHING, iterations=SPECKLE)
    return solid, edge_regions(solid)


def _straight_sided(body: np.ndarray) -> bool:
    """Whether each connected part of `body` covers at least CONVEX of its convex hull (of its pixels' corners)."""
    labels, count = ndimage.label(body, structure=TOUCHING)
    outline = body & ~ndimage.binary_erosion(body, TOUCHING)
    for part in range(1, count + 1):
        rows, cols = np.nonzero(outline & (labels == part))
        corners = np.concatenate([np.c_[rows + dr, cols + dc] for dr in (0, 1) for dc in (0, 1)])
        if (labels == part).sum() < CONVEX * ConvexHull(corners).volume:
            return False
    return True


def edge_regions(mask: np.ndarray) -> np.ndarray:
    """The places of `mask` (rows, cols) connected to the image's edge (diagonals count)."""
    labels, count = ndimage.label(mask, structure=TOUCHING)
    if not count:
        return np.zeros(mask.shape, bool)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return np.isin(labels, edge[edge > 0])


def _candidates(values: np.ndarray, finite: np.ndarray, floating: bool) -> list[tuple[float, float]]:
    """The values a border may hold, each with the share of the image a contrast stretch would explain there
    (STRETCHED guards against it): every band's common lowest and, in integer data, highest (a rendering's
    black or white fill); in floating-point data also the value the outermost pixels hold most, when every
    band holds it there. A percentile stretch clips as much of an image to one end of its range as to the
    other, so in integer data an end's edge region counts only beyond what the other end's clip explains."""
    lowest = [float(band[finite].min()) for band in values]
    highest = [float(band[finite].max()) for band in values]
    found: list[tuple[float, float]] = []
    for end, other in [(lowest, highest)] + ([] if floating else [(highest, lowest)]):
        if len(set(end)) == 1:
            clipped = 0.0 if floating else min(float((band[finite] == value).mean())
                                               for band, value in zip(values, other))
            found.append((end[0], clipped))
    if floating:
        outer = np.concatenate([values[:, 0], values[:, -1], values[:, :, 0], values[:, :, -1]], axis=1)
        outer = outer[:, np.isfinite(outer).all(axis=0)]
        if outer.size:
            shared, counts = np.unique(outer[0], return_counts=True)
            mode = float(shared[counts.argmax()])
            if mode not in [value for value, _ in found] and (outer[:, outer[0] == mode] == mode).all():
                found.append((mode, 0.0))
    return found


def _ordinary(values: np.ndarray, ring: np.ndarray, rest: np.ndarray) -> bool:
    """Whether, in every band, the places beside the border are neither among the image's darkest nor among
    its brightest."""
    for band in values:
        low, high = np.quantile(band[rest], [DARKEST, 1 - DARKEST])
        if not low < np.median(band[ring]) < high:
            return False
    return True
