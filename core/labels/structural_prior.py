"""A structural change prior from non-local nearest-neighbour graphs (INLPG / IRG-McS style).

Each image is asked the same question about every cell: which cells elsewhere in the scene look
most like this one? Where nothing changed, the cells one image calls similar are similar in the
other image too, whatever the two sensors measure. So, for a cell i, take its K nearest cells in
image 1 and measure how far they are from i in image 2, minus how far i's own K nearest cells in
image 2 are (forward); the same the other way (backward); each direction is divided by its median
so the two sensors' scales cancel, and the two are combined by their geometric mean (a change is
flagged both ways; a class that only gained or lost members, one way: `_both_ways`), and also by
their arithmetic mean (`_either_way`, one-sided change below); the pipeline maps one of the two
(stages.prior._mapped_prior).

One-sided change (release 0.16.0). Some changes show one way only: fields turned into buildings that
the optical image hardly tells from fields (their look-alikes in the radar image are old buildings,
field-like in the optical one: the backward direction sees little), forest burnt into char of its own
(the char's look-alikes in the second image are char, all forest in the first). The geometric mean hides
them. The river beside a flood, the one-way flag the geometric mean was chosen against, is not flagged
by the arithmetic mean once the flood's anchors have left the graph, and the anchors are always dropped
by the geometric mean (the flood is flagged both ways, the river not). Measured (prior mode,
`build/exp36/`; the eight pairs, seeds 0-3; 600² scenes, six draws): mapping the arithmetic mean
everywhere costs sar-enl-12 0.58 -> 0.41-0.51 (its single-look image's look-alikes are mostly speckle,
and that direction's noise is let in); where no direct comparison joins it lifts shuguang 0.735 -> 0.768,
yellowriver 0.722 -> 0.757, italy 0.816 -> 0.819 and new buildings alone 0.785 -> 0.888 (flood beside a
river 0.953 -> 0.952, the earthquake 0.857 -> 0.818). So the pipeline maps it only where no direct comparison of
the two images' values joins the prior, and only where the prior seen both ways reaches its evidence floor
(labels.one_sided: unchanged crops of the shared pairs 1.15 % marked, 1.95 % ungated, 1.52 % gated;
stages.prior._mapped_prior). Each map takes its own second pass when
its change is crowded (below), the one-sided one guided by itself (wide floods, four draws: 0.711 against
0.687 guided by the geometric mean).

Choices, measured on the four shared pairs (bench/bench_prior.py):
- Neighbours are searched among a seeded random set of anchor cells (1024), not all cells: the cost
  is cells × anchors, linear in the image. The neighbour set is 1 % of the anchors (10). Measured
  again on the eight shared pairs (prior mode, seeds 0–3; mean / worst pair): 1024 / 10 0.769 / 0.576,
  2048 / 20 0.781 / 0.630, 4096 / 40 0.784 / 0.673, 4096 / 10 0.781 / 0.655 (italy −0.04), and int8
  0.791 / 0.676, 0.793 / 0.698, 0.791 / 0.690, 0.793 / 0.681: larger neighbour sets help the prior,
  hardly the map. Not adopted, because 20 neighbours raise the peak of unchanged land (italy's own
  unchanged square 2.1× → 2.6× its median: reported changed, 3–4 % marked, whether of 1024 or 2048
  anchors) and report one more of six generated 1 %-change scenes unchanged (mean Kappa 0.42 →
  0.37). Averaging two draws of 1024 anchors changed neither (0.771 / 0.569).
- Features are the cells' own block-mean vectors, but the measure is computed on a pyramid of
  block means (×1, ×2, ×4, ×8) and averaged: coarser levels average speckle and texture away and
  raised the AUC on every pair more than larger patches did.
- Robust graph: anchors that look changed pollute the neighbour sets, so the coarsest level is
  computed twice, dropping its most-changed 5 % of anchors the second time, and each finer level
  drops the anchors that the coarser levels already found most changed. Dropping a fifth (as
  before) gave the same Kappa on the eight shared pairs but, on a generated unchanged scene, left a
  rare class (the river) without anchors for some seeds, which then looked changed everywhere
  (the prior's 0.995 quantile 2.1× its median for four seeds, 4.5× and 5.8× for two; with 5 %:
  1.9–2.0× for all six).
- Crowded change: when many places change the same way (a flood over a quarter of the scene), the
  changed places are each other's neighbours, the 5 % left out are far too few, and the contrast
  collapses while the ranking holds (generated optical-against-SAR scenes 25–29 % changed: AUC 0.98–0.99,
  changed places 1.6–1.9× the median instead of 4×; one in four reported unchanged). The sign is that
  Otsu's split of the whole first pass falls below the evidence floor with more than DROP of the scene
  above the floor (`_crowded_share`); then the whole pyramid is computed again, each level leaving out
  the anchors the first pass put in that share. Kappa on four such 600² scenes 0 / 0.70 / 0.87 / 0.73
  → 0.56 / 0.90 / 0.89 / 0.90; of the eight shared pairs only sar-enl-10 (18 % changed) takes it
  (0.835 → 0.834). Taken whenever the first pass marks more than DROP (without the Otsu condition) it
  cost the generated SAR pair 0.04: its unchanged river, a first-pass false alarm, left the graph and
  looked more changed. Leaving out only anchors that some kept anchor still resembles cost the real
  pairs' prior 0.02 (sar-enl-12 0.576 → 0.457): their changes are often appearances found nowhere else.
  When two fifths of a scene changed alike the first pass shows no contrast at all and this trigger stays
  silent; the maps' `crowded` then takes the second pass at a share the caller gives, and the pipeline keeps it
  only where it marks about as much as it left out (labels.crowded_change).
- A 3×3 mean on each level's measure removes isolated false alarms.
- Joint smoothing: cells that look alike in both images at once share their change status, so
  the result is averaged with the mean prior of each cell's 20 nearest anchors in the joint
  (image 1, image 2) feature space, each image weighted equally. This raised Otsu's Kappa on the
  prior on every shared pair (mean 0.655 -> 0.71) and the AUC on three of four.
- Bands are weighted by the share of their variance that neighbouring cells share (band_weights), in
  the graph and in the joint smoothing, so that a band of mostly noise does not scramble which cells
  look alike; one band, or clean bands, keep weight 1.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Optional

import numpy as np
import torch

from ..decision.evidence import EVIDENCE_FLOOR, PEAK_QUANTILE
from ..decision.threshold import otsu
from ..errors import InputError
from ..i18n import tr
from .band_weights import coherent_weights
from .blocks import block_means, local_mean, upsample_prior
from .patches import check_pair
from .prior import PriorMaps

LEVELS = (1, 2, 4, 8)
ANCHORS = 1024
NEIGHBOUR_SHARE = 0.01   # neighbours per anchor: K = 10 of 1024 anchors
DROP = 0.05            # fraction of anchors left out as probably changed (see the module notes)
MIN_CELLS = 256        # a coarser level with fewer valid cells is skipped
DISTANCES = 1 << 23    # distance entries per batch and image (64 MiB of float64): bounds the memory at any anchor count
JOINT_NEIGHBOURS = 20
NOISY_BAND = 0.5     # a band weighted under this is named in the run's log (it changes no map)
SECOND_PASS = True   # crowded change: a second pass without the first's changed anchors (module notes)


def _distances(queries: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Squared distances from each query to each anchor, less the query's own |q|², in float64.

    That term is the same for every anchor of a query, so it changes neither the neighbour
    ranking nor a difference of two means of distances; leaving it out saves a pass.
    Float64 because the neighbour ranking decides the map: in float32 the matrix kernel's code path
    (MKL picks one per CPU) reordered near-ties, and one seed's map differed between two machines
    (bench/RESULTS.md, release 0.11.4); the features stay float32 and only each batch is widened.
    """
    q, a = queries.double(), anchors.double()
    return torch.addmm(a.square().sum(1)[None], q, a.T, alpha=-2)


def _no_check() -> None:
    """What `check` is for a prior run outside a cancellable task."""


def _chunk(anchors: int) -> int:
    """Query cells per batch: as many as keep one batch's distances to the anchors within DISTANCES."""
    return max(1, DISTANCES // max(1, anchors))


def _chunk_count(cells: int, levels: Sequence[int], anchors: int) -> int:
    """About how many chunks of cells the prior's loops take: each level's cells (the coarsest twice,
    the second time without its most-changed anchors), then the joint smoothing over every cell."""
    chunk = _chunk(anchors)
    per_level = [math.ceil(cells / factor ** 2 / chunk) for factor in sorted(set(levels), reverse=True)]
    return sum(per_level) + per_level[0] + math.ceil(cells / chunk)


class _Chunks:
    """The `check` the prior's loops call between chunks: it cancels as the caller's does and tells
    `report` the share of the chunks done, so a minute of prior on a large image shows its progress."""

    def __init__(self, total: int, check: Callable[[], None], report: Optional[Callable[[float], None]]) -> None:
        self.total, self.check, self.report, self.done = max(1, total), check, report, 0

    def __call__(self) -> None:
        self.check()
        if self.report is not None:
            self.report(min(1.0, self.done / self.total))
        self.done += 1


def _graph_measure(f1: torch.Tensor, f2: torch.Tensor, anchors: torch.Tensor,
                   k: int, check: Callable[[], None]) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward structural differences of every query cell against the anchors; check()
    between chunks (it raises to cancel)."""
    a1, a2 = f1[anchors], f2[anchors]
    forward = torch.empty(f1.shape[0])
    backward = torch.empty(f1.shape[0])
    chunk = _chunk(anchors.numel())
    for s in range(0, f1.shape[0], chunk):
        check()
        d1, d2 = _distances(f1[s:s + chunk], a1), _distances(f2[s:s + chunk], a2)
        near1, i1 = d1.topk(k, dim=1, largest=False, sorted=False)
        near2, i2 = d2.topk(k, dim=1, largest=False, sorted=False)
        forward[s:s + chunk] = (d2.gather(1, i1).mean(1) - near2.mean(1)).cpu()
        backward[s:s + chunk] = (d1.gather(1, i2).mean(1) - near1.mean(1)).cpu()
    return forward.clamp(min=0).numpy(), backward.clamp(min=0).numpy()


def _by_median(values: np.ndarray) -> np.ndarray:
    median = float(np.median(values))
    return values / median if median > 0 else values


def _both_ways(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """One cell's change evidence from both directions, each already in multiples of its median, where both must
    show it: their geometric mean.

    A class that gained or lost members (unchanged river water beside a flood) is flagged in one
    direction only: the river's neighbours in the flooded image include flooded fields, but the
    fields' neighbours in the first image are fields. A real change is flagged both ways. The
    geometric mean keeps what both directions agree on (their minimum would too, but lets one direction's
    noise decide alone). The anchors are always dropped by it (the robust graph).
    """
    return np.sqrt(forward * backward)


def _either_way(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """The same evidence where one direction may show it alone: their arithmetic mean (module notes, one-sided
    change). A river beside a flood is not flagged by it once the flood's anchors left the graph."""
    return 0.5 * (forward + backward)


Weights = tuple[np.ndarray, np.ndarray]   # per band of image 1 and of image 2 (band_weights)


def _joint_smoothing(x1: np.ndarray, x2: np.ndarray, ok: np.ndarray, weights: Weights, priors: Sequence[np.ndarray],
                     rng: np.random.Generator, anchors: int,
                     check: Callable[[], None]) -> list[np.ndarray]:
    """Average of each prior and its mean over each cell's nearest anchors in the joint feature space (one draw of
    anchors and one neighbour search for all of them)."""
    joint = []
    for x, w in zip((x1, x2), weights):
        f = x[:, ok].T.astype(np.float64)
        f = f / np.maximum(f.std(axis=0), 1e-6) * w / np.sqrt(np.sum(w ** 2))   # each image counts the same
        joint.append(f)
    features = torch.from_numpy(np.concatenate(joint, axis=1).astype(np.float32))
    values = [prior[ok] for prior in priors]
    chosen = np.sort(rng.choice(values[0].size, size=min(anchors, values[0].size), replace=False))
    anchor_values = [torch.from_numpy(v[chosen]) for v in values]
    smoothed = [np.empty_like(v) for v in values]
    k = min(JOINT_NEIGHBOURS, chosen.size)
    a = features[torch.from_numpy(chosen)]
    chunk = _chunk(chosen.size)
    for s in range(0, values[0].size, chunk):
        check()
        index = _distances(features[s:s + chunk], a).topk(k, dim=1, largest=False, sorted=False).indices
        for near, out in zip(anchor_values, smoothed):
            out[s:s + chunk] = near[index].mean(1).cpu().numpy()
    outs = []
    for v, smooth in zip(values, smoothed):
        out = np.full(ok.shape, np.nan, np.float32)
        out[ok] = 0.5 * (v + smooth)
        outs.append(out)
    return outs


def _level(x1: np.ndarray, x2: np.ndarray, ok: np.ndarray, guide: Optional[np.ndarray],
           rng: np.random.Generator, anchors: int, k: int, drop: float,
           check: Callable[[], None]) -> tuple[np.ndarray, np.ndarray]:
    """The smoothed structural difference on one grid, seen both ways and either way (_both_ways, _either_way);
    guide: a coarser estimate to drop anchors by."""
    cells = np.flatnonzero(ok.ravel())
    f1 = torch.from_numpy(x1[:, ok].T.copy())
    f2 = torch.from_numpy(x2[:, ok].T.copy())
    chosen = np.sort(rng.choice(cells.size, size=min(anchors, cells.size), replace=False))
    k = min(k, chosen.size)
    kept = chosen
    if guide is not None:
        g = guide.ravel()[cells[chosen]]
        kept = chosen[~(g > np.nanquantile(g, 1 - drop))]
    for _ in range(1 if guide is not None else 2):
        forward, backward = _graph_measure(f1, f2, torch.from_numpy(kept), min(k, kept.size), check)
        forward, backward = _by_median(forward), _by_median(backward)
        diff = _both_ways(forward, backward)
        kept = chosen[diff[chosen] <= np.quantile(diff[chosen], 1 - drop)]
    return _smoothed(diff, ok), _smoothed(_either_way(forward, backward), ok)


def _smoothed(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """One level's per-cell values on its grid, after the 3 x 3 mean that removes isolated false alarms."""
    out = np.zeros(ok.shape, np.float32)
    out[ok] = values
    return np.where(ok, local_mean(out, ok), np.nan).astype(np.float32)


def _crowded_share(values: np.ndarray) -> float:
    """The share of the scene the first pass marks changed when its contrast has collapsed, else 0.

    Collapsed: Otsu's split of the first pass falls below the evidence floor, the least a changed place
    must show (decision.evidence), so the histogram's own idea of where change starts is overruled.
    That happens when many places changed the same way and crowd each other's neighbourhoods (a flood
    over a quarter of the scene), and on unchanged scenes, where the share above the floor stays under
    DROP and nothing more is done.
    """
    floor = EVIDENCE_FLOOR * float(np.median(values))
    return float((values > floor).mean()) if otsu(values) < floor else 0.0


Level = tuple[int, np.ndarray, np.ndarray, np.ndarray]   # factor, block means of image 1 and 2, validity


def _pyramid(x1: np.ndarray, x2: np.ndarray, ok: np.ndarray, levels: Sequence[int]) -> list[Level]:
    """(factor, block means of image 1, of image 2, their validity) per level, coarsest first; a level
    with fewer than MIN_CELLS valid cells is left out. Made once, read by both passes."""
    pyramid = []
    for factor in sorted(set(levels), reverse=True):
        if factor == 1:
            pyramid.append((1, x1, x2, ok))
            continue
        y1, v = block_means(x1, ok, factor)
        y2, _ = block_means(x2, ok, factor)
        if v.sum() >= MIN_CELLS:
            pyramid.append((factor, y1, y2, v))
    return pyramid


def _pass(x1: np.ndarray, x2: np.ndarray, ok: np.ndarray, weights: Weights, pyramid: list[Level],
          guide: Optional[np.ndarray], rng: np.random.Generator, anchors: int, neighbours: int, drop: float,
          check: Callable[[], None], by: int = 0) -> list[np.ndarray]:
    """One coarse-to-fine pass over the pyramid, then the joint smoothing: [both ways, either way]; guide: a whole
    earlier pass, whose most-changed `drop` share of anchors every level leaves out (None: the first pass, whose
    coarsest level finds its own, both ways); by: which of the pass's own estimates guides its finer levels (0 both
    ways, 1 either way: the one-sided prior's second pass)."""
    estimates: list[list[np.ndarray]] = [[], []]
    for factor, y1, y2, v in pyramid:
        g = None if guide is None else block_means(guide[None], ok, factor)[0][0]
        levels = _level(y1, y2, v, g, rng, anchors, neighbours, drop, check)
        for level, kept in zip(levels, estimates):
            padded = (level.shape[0] * factor, level.shape[1] * factor)   # the extent block_means covered
            kept.append(upsample_prior(level, padded)[:ok.shape[0], :ok.shape[1]])
        guide = np.mean(estimates[by], axis=0)
    means = [np.where(ok, np.mean(kept, axis=0), np.nan).astype(np.float32) for kept in estimates]
    return _joint_smoothing(x1, x2, ok, weights, means, rng, anchors, check)


def _name_noisy_bands(weights: Weights, info: Callable[[str], None]) -> None:
    """One sentence per image whose bands are weighted down to under NOISY_BAND, with what that does to the other
    image's view: land only such a band told apart (vegetation in a near-infrared band) is still told apart in the
    other image, and reads as change (a probe's T1 against itself with its third band constant: 4.2 % marked)."""
    for (image, other, option), w in zip((("T1", "T2", "BANDS2"), ("T2", "T1", "BANDS1")), weights):
        noisy = [f"{band + 1} ({weight:.2f})" for band, weight in enumerate(w) if weight < NOISY_BAND]
        if noisy:
            info(tr("Band(s) {bands} of {image} are constant, or vary from one pixel to the next almost as much as "
                    "across the scene (mostly noise): the prior counts them with the weight in brackets, the other "
                    "bands with up to 1. Land that only such a band tells apart is still told apart in {other}, and "
                    "reads as change: if {other} holds the same kind of band, leave it out there too ({option}).",
                    bands=", ".join(noisy), image=image, other=other, option=option))


def structural_prior(x1: np.ndarray, x2: np.ndarray, valid: np.ndarray, levels: Sequence[int] = LEVELS,
                     anchors: Optional[int] = None, seed: int = 0, check: Optional[Callable[[], None]] = None,
                     report: Optional[Callable[[float], None]] = None,
                     info: Optional[Callable[[str], None]] = None) -> PriorMaps:
    """Change prior on the block grid of two normalised block-mean images, in units of its PEAK_QUANTILE:
    0 to 1 but for the most disagreeing 0.5 % of the scene, which is not clipped, so that compact groups
    above the no-change line stay visible (decision.local_change); the pipeline clips at 1 after that.

    x1 (bands1, h, w), x2 (bands2, h, w), valid (h, w): the same inputs as the affinity prior.
    levels: block factors of the pyramid, relative to this grid (1 must be among them).
    anchors: ANCHORS when not given; the neighbours are NEIGHBOUR_SHARE of them (both read at the call, so a
    benchmark can set them).
    check: called between chunks of cells; it raises to cancel (a task's Progress.check).
    report: told the share of the work done (0..1) between chunks.
    info: told one sentence for the run's log when the second pass is taken.
    Returns the prior seen both ways and either way (PriorMaps), each float32 (h, w), NaN at invalid cells;
    deterministic for a seed; and `crowded`, which takes the second pass at a share the caller gives.
    """
    ok = check_pair(x1, x2, valid)
    anchors = ANCHORS if anchors is None else anchors
    neighbours, drop = max(1, round(NEIGHBOUR_SHARE * anchors)), DROP
    if 1 not in levels or min(levels) < 1:
        raise InputError(tr("Pyramid levels must be block factors of at least 1 and include 1, not {levels}.",
                            levels=tuple(levels)))
    if anchors < 1:
        raise InputError(tr("Anchors must be positive, not {anchors}.", anchors=anchors))
    check = _Chunks(_chunk_count(int(ok.sum()), levels, anchors), check or _no_check, report)
    x1, x2 = np.where(ok, x1, 0.0).astype(np.float32), np.where(ok, x2, 0.0).astype(np.float32)
    weights = coherent_weights(x1, ok), coherent_weights(x2, ok)
    if info is not None:
        _name_noisy_bands(weights, info)
    # A band of weight 0 is left out rather than multiplied by 0: the distances' float sums then do not
    # depend on it at all, whatever order the CPU's matrix kernels add in.
    kept = [w > 0 for w in weights]
    x1, x2 = (x[k] * w[k, None, None].astype(np.float32) for x, w, k in zip((x1, x2), weights, kept))
    weights = weights[0][kept[0]], weights[1][kept[1]]
    rng = np.random.default_rng(seed)
    pyramid = _pyramid(x1, x2, ok, levels)
    first = _pass(x1, x2, ok, weights, pyramid, None, rng, anchors, neighbours, drop, check)
    after_first = rng.bit_generator.state

    def second(forced: Optional[float] = None) -> PriorMaps:
        """The maps after the first pass: each with its own second pass where its change is crowded; or, forced
        (labels.crowded_change), one second pass leaving out the first pass's `forced` share of most-changed anchors
        as seen both ways, both maps taken from it (one pass, not two: it is tried on scenes reported unchanged).
        Each call draws as the first after the first pass did, so a call's maps do not depend on earlier calls."""
        draws = np.random.default_rng()
        draws.bit_generator.state = after_first
        if forced is not None:
            check.total += _chunk_count(int(ok.sum()), levels, anchors)
            maps = _pass(x1, x2, ok, weights, pyramid, first[0], draws, anchors, neighbours, forced, check)
            return PriorMaps(*(_scaled(prior, ok) for prior in maps), crowded=second)
        shares = [_crowded_share(prior[ok]) if SECOND_PASS else 0.0 for prior in first]
        crowded = [(by, share) for by, share in enumerate(shares) if share > drop]
        if crowded and info is not None:   # one note for both maps (it came twice, with two figures unexplained)
            said = [tr("{percent:.0f} % (as both images show change)", percent=100 * share) if by == 0 else
                    tr("{percent:.0f} % (as either image shows it)", percent=100 * share)
                    for by, share in crowded]
            info(tr("Many places changed alike: {shares} of the scene lie above the evidence floor while the prior's "
                    "own split lies below it, so the changed places crowd each other's neighbourhoods; the prior is "
                    "computed a second time without them in its graph.", shares=tr(" and ").join(said)))
        maps = list(first)
        for by, share in crowded:   # each map its own second pass; the progress bar holds near its end through it
            check.total += _chunk_count(int(ok.sum()), levels, anchors)
            maps[by] = _pass(x1, x2, ok, weights, pyramid, first[by], draws, anchors, neighbours, share,
                             check, by)[by]
        return PriorMaps(*(_scaled(prior, ok) for prior in maps), crowded=second)

    return second()


def _scaled(prior: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """The prior in units of its PEAK_QUANTILE (1 at the evidence's peak, not clipped: see structural_prior)."""
    top = float(np.quantile(prior[ok], PEAK_QUANTILE))
    scaled = np.maximum(prior / top, 0.0) if top > 0 else np.zeros_like(prior)
    return np.where(ok, scaled, np.nan).astype(np.float32)
