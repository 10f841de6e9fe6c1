"""Whether T2 lies a few pixels off T1 on the grid, and by how much: the shift of greatest mutual information.

Two sensors' georeferencing often disagrees by a few pixels (orbits, terrain, an old orthorectification),
and a change detector reads every misplaced edge as change. Mutual information between the two images'
grey levels does not need the sensors to measure the same thing, only that the same ground gives
consistent pairs of values, so it is the classic criterion for registering optical with SAR. Values are
binned by rank (equal counts per bin), which makes the measure blind to each sensor's radiometry.

Measured (`make bench-accuracy`'s pairs, whole images, shifts up to 5 px each way): the project's
generated pair misregistered by 3 × 2 px peaks at exactly that shift with 1.31× the information of the
pair as given; the Italy pair (Landsat NIR against optical) at 3 × 1 px with 1.62×, and shifting it
raised its Kappa by 0.04; the seven other shared pairs and the generated well-registered scenes peak
within 1.12× of no shift, and shifting by those small peaks (1–3 px) did not help: it cost 0.02–0.07
Kappa on six of them. So a shift is applied only when it holds at least MIN_GAIN times the information
of the pair as given, and only where the images share structure at all: two images of noise peak up
to 1.18× above no shift unless the estimate's bias for independent values is taken off first.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

from ..i18n import tr
from .grid import Window

if TYPE_CHECKING:   # align imports Shift from here
    from .align import AlignedPair

MAX_SHIFT = 5        # pixels searched each way, rows and columns, around the search's centre
REACH = 20           # pixels: while the best shift lies on its search's edge, the search moves on, this far at most
BINS = 32            # rank bins per image
MIN_GAIN = 1.2       # mutual information at the best shift / as given, for the shift to be applied
WINDOW = 1024        # side of the central window the shift is measured on (pixels)
MIN_PIXELS = 4096    # valid pixel pairs a measure needs
STRUCTURE = 10       # the best shift's information must be this many times the estimate's bias for noise


@dataclass(frozen=True)
class Shift:
    """T2's content at grid (row + rows, col + cols) lies at T1's (row, col); gain: the information there
    over the information as given (1.0: none found)."""

    rows: int = 0
    cols: int = 0
    gain: float = 1.0
    edge: bool = False   # the shift still lay on the edge of the farthest search: the images may lie further apart

    @property
    def found(self) -> bool:
        return (self.rows, self.cols) != (0, 0)

    def note(self, pixel: float, units: str) -> str:
        """One sentence for the log and the statistics."""
        if not self.found:
            return tr("Co-registration: no shift between T1 and T2 found (up to {most} pixels searched).",
                      most=MAX_SHIFT)
        found = tr("Co-registration: T2 lies {rows:+d} row(s) and {cols:+d} column(s) off T1 ({distance:.3g} {units}); "
                   "the two images agree {gain:.2f}× better shifted, so T2 is read shifted back.",
                   rows=self.rows, cols=self.cols, distance=pixel * float(np.hypot(self.rows, self.cols)),
                   units=units, gain=self.gain)
        if not self.edge:
            return found
        return found + " " + tr("That is as far as the search goes ({reach} pixels), so they may lie further apart: "
                                "compare them at their edges, and georeference T2 anew (QGIS: Raster > "
                                "Georeferencer) if they do not match.", reach=REACH)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "cols": self.cols, "gain": round(self.gain, 4), "edge": self.edge}


def _rank_bins(x: np.ndarray, valid: np.ndarray, bins: int) -> np.ndarray:
    """Each pixel's bin among `bins` equal-count bins of the valid values; bands averaged by rank first."""
    def ranked(values: np.ndarray) -> np.ndarray:
        edges = np.quantile(values[valid], np.linspace(0, 1, bins + 1)[1:-1])
        return np.digitize(values, edges)

    return ranked(np.mean([ranked(band) for band in x], axis=0)) if x.shape[0] > 1 else ranked(x[0])


def mutual_information(a: np.ndarray, b: np.ndarray, bins: int = BINS) -> float:
    """Mutual information (nats) of two arrays of bin indices in 0…bins−1."""
    joint = np.bincount(a * bins + b, minlength=bins * bins).reshape(bins, bins).astype(np.float64)
    p = joint / joint.sum()
    outer = p.sum(1, keepdims=True) @ p.sum(0, keepdims=True)
    used = p > 0
    return float((p[used] * np.log(p[used] / outer[used])).sum())


def estimate_shift(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray, reach: int = REACH) -> Shift:
    """The whole-pixel shift of T2 against T1 (x1 (b1, h, w), x2 (b2, h, w), valid (h, w)) of greatest
    mutual information, when it beats the pair as given by MIN_GAIN (read at each call, so a benchmark can vary
    it); Shift() otherwise, or when the images are too small, or share too
    little structure (under STRUCTURE times the information two independent images would show) to say.

    MAX_SHIFT pixels are searched each way; while the best lies on that search's edge and is already clear
    (structure shared, MIN_GAIN passed), the search moves on, centred there, up to `reach` pixels from the pair
    as given. With the edge as its end, a generated pair whose radar image lay 10 × 8 grid pixels off was read
    5 × 5 back (Kappa 0.45 against 0.80): `build/exp29/shift.py`. Moving on from an edge that is not clear
    found a shift where there is none: a 145 × 171 crop of yellowriver, whose information is flat, best 1.19×
    at 5 × 5, was read 6 × 14 back (Kappa 0.89 → −0.02)."""
    max_shift, bins, min_gain = MAX_SHIFT, BINS, MIN_GAIN
    h, w = valid.shape
    if min(h, w) <= 4 * max_shift or valid.sum() < MIN_PIXELS:
        return Shift()
    a, b = _rank_bins(x1, valid, bins), _rank_bins(x2, valid, bins)
    search = _search(a, b, valid, (0, 0), max_shift, max_shift, bins)
    searched = {(0, 0)}
    while search is not None and search.on_edge and search.clear(min_gain):
        centre = search.best_at
        margin = max_shift + max(abs(centre[0]), abs(centre[1]))   # every shift of the next search inside
        if centre in searched or margin > reach or min(h, w) <= 4 * margin:
            break
        searched.add(centre)
        search = _search(a, b, valid, centre, max_shift, margin, bins) or search
    if search is None or search.best < STRUCTURE * search.bias:   # the images share no structure to register by
        return Shift()
    if search.best_at == (0, 0) or not search.clear(min_gain):
        return Shift(gain=float(search.gain))
    return Shift(search.best_at[0], search.best_at[1], float(search.gain), search.on_edge)


@dataclass(frozen=True)
class _Search:
    """The best shift within max_shift of a centre, its information, the pair's as given and the bias of that
    estimate (all on the one core the search measured on), and whether the best lies on the search's edge."""

    best: float
    best_at: tuple[int, int]
    given: float
    bias: float
    on_edge: bool

    @property
    def gain(self) -> float:
        return self.best / max(self.given, self.bias)

    def clear(self, min_gain: float) -> bool:
        """Whether the best shift is one: the images share structure there and agree min_gain times better."""
        return self.best >= STRUCTURE * self.bias and self.gain >= min_gain


def _search(a: np.ndarray, b: np.ndarray, valid: np.ndarray, centre: tuple[int, int], max_shift: int, margin: int,
            bins: int) -> Optional[_Search]:
    """The shifts within max_shift of `centre` and the pair as given, measured on the grid's core `margin` pixels
    in from each side (which every one of them keeps inside the image); None where the pair as given has too
    few valid pixels there."""
    h, w = valid.shape
    core = (slice(margin, h - margin), slice(margin, w - margin))
    a_core, valid_core = a[core], valid[core]

    def information(dy: int, dx: int) -> Optional[tuple[float, float]]:
        """The information at shift (dy, dx), less the estimate's bias for independent values (Miller-Madow: a
        shift that only shrinks the overlap must not look informative), and that bias; None on too few pixels."""
        moved = (slice(margin + dy, h - margin + dy), slice(margin + dx, w - margin + dx))
        both = valid_core & valid[moved]
        n = int(both.sum())
        if n < MIN_PIXELS:
            return None
        bias = (bins - 1) ** 2 / (2 * n)
        return mutual_information(a_core[both], b[moved][both], bins) - bias, bias

    best, best_at, measured = -np.inf, centre, {}
    for dy in range(centre[0] - max_shift, centre[0] + max_shift + 1):
        for dx in range(centre[1] - max_shift, centre[1] + max_shift + 1):
            measured[dy, dx] = found = information(dy, dx)
            if found is not None and found[0] > best:
                best, best_at = found[0], (dy, dx)
    given = measured[0, 0] if (0, 0) in measured else information(0, 0)
    if given is None:
        return None
    on_edge = max(abs(best_at[0] - centre[0]), abs(best_at[1] - centre[1])) == max_shift
    return _Search(best, best_at, given[0], given[1], on_edge)


def coregister(pair: AlignedPair) -> Shift:
    """Measure T2's shift against T1 on the grid's central WINDOW² pixels and read T2 shifted back when
    one is found; the Shift either way. An AOI's grid smaller than that is measured on the WINDOW² pixels of the
    overlap around its centre: a 120 × 130 px AOI of the generated scene misregistered by 3 × 2 px found no shift
    (Kappa 0.69; 0.87 with the shift), as the ground around it finds."""
    grid, overlap = pair.grid, pair.overlap
    height, width = min(WINDOW, overlap.height), min(WINDOW, overlap.width)   # the grid lies within the overlap
    if grid.height >= height and grid.width >= width:
        x1, x2, valid = pair.read(Window((grid.width - width) // 2, (grid.height - height) // 2, width, height))
    else:
        row, col = pair.offset
        top = min(max(row + (grid.height - height) // 2, 0), overlap.height - height)
        left = min(max(col + (grid.width - width) // 2, 0), overlap.width - width)
        x1, x2, valid = pair.around(overlap).read(Window(left, top, width, height))
    shift = estimate_shift(x1, x2, valid)
    if shift.found:
        pair.shift_second(shift)
    return shift
