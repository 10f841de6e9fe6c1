"""The block-mean grid the priors work on: its block size, block means in memory, and upsampling back.

The priors cost far more per cell than per pixel, so they run on b×b block means (the pipeline reads
them decimated with GDAL's average resampling; ``block_means`` averages exact b×b blocks in memory, where
GDAL's cells are h / ceil(h / b) pixels, so the two differ by a fraction of a pixel per cell) and their
result is brought back to pixels bilinearly, window by window, so a large image never needs the
full-resolution prior in memory.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from ..errors import InputError
from ..i18n import tr

# At most this many cells. Measured with bench/bench_scale.py (int8, the generated 4+1-band pairs): at
# 10 980² the blocks are 21 px at 250 000 cells (Kappa 0.668), 11 px at 10⁶ (0.696), 8 px at 2·10⁶ (0.708)
# and 6 px at 4·10⁶ (0.720, against 0.742 at 1000², where the blocks are 2 px), for 19, 24, 35 and 56 s of
# prior on two cores (release 0.6.1; with this release's cut and veto share 0.712 at 10 980² against 0.766
# at 1000²). Below 4000² the blocks are 2 px, the least the priors use; the shared pairs are all far below.
MAX_CELLS = 4_000_000
# At most this many cell values, cells × bands of both images: the prior holds a few copies of them, so a
# 12-band image against a 2-band one (14 values a cell) gets fewer cells. At 4·10⁶ cells such a 4000²
# pair peaked at 2.18 GiB in the prior alone; 4 + 1 bands keep all of MAX_CELLS.
MAX_VALUES = 5 * MAX_CELLS


def block_size(height: int, width: int, bands: int) -> int:
    """Side of the averaged blocks: at least 2, and large enough that the grid has at most MAX_CELLS
    cells and at most MAX_VALUES cell values over the `bands` of both images."""
    cells = min(MAX_CELLS, MAX_VALUES // max(1, bands))
    return max(2, math.ceil(math.sqrt(height * width / cells)))


# Where the finer of two images is a radar's and the coarser is not (a 2.5–5 m radar against a 10 m optical image),
# the blocks span at least this many of the coarser image's pixels. The radar's speckle and the texture of its
# built-up land at its own pixels are structure the coarser image cannot show, and read as change: generated
# scenes (bench/RESULTS.md, release 0.15.0; prior, 600² and 400² scenes, scene seeds 0–1) with the radar 2, 3 and 4
# times finer marked 1.5–2.4 %, 3.0–7.0 % and 3.8–5.4 % of an unchanged scene on blocks of 2 px, reported changed,
# and their 1 % scenes fell to Kappa 0.12–0.63. Blocks of 1.5 coarser pixels leave 0.1–0.7 % marked, mostly
# reported changed, and give the 1 % scenes 0.38–0.84 (mean 0.64); 2 leave at most 0.14 % (0.57–0.86, mean 0.74);
# 3 lose the rare change in three of six. Chosen leave-one-scene-out (every fold picks 2). Not where both are radar
# images (two SAR dates of different looks, their change seen by both: 4-px blocks cost the generated SAR pairs
# 0.013 on average), nor where the optical image is the finer (blocks of 2 radar pixels lost its 1 % scenes: 0.78
# → 0 at 2×, 0.13–0.31 → 0 at 4×). The cost: a scene of much change is mapped coarser (0.04–0.085 Kappa).
RADAR_FINER = 2.0
LEAST_CELLS = 32   # cells along the shorter side: the radar rule never leaves fewer (a small AOI keeps its prior)


def finer_first(sides: tuple[float, float]) -> tuple[int, int]:
    """(finer, coarser): the two images' indices by their pixel side in grid pixels (T1 first on a tie)."""
    return (0, 1) if sides[0] <= sides[1] else (1, 0)


def radar_finer(sides: tuple[float, float], radar: tuple[bool, bool]) -> bool:
    """Whether the finer of two images holds a radar's values and the coarser does not. sides: each image's pixel
    side in grid pixels (raster.overlap.pixel_side); radar: whether each holds a radar's values
    (normalise.holds_radar)."""
    fine, coarse = finer_first(sides)
    return radar[fine] and not radar[coarse] and sides[coarse] > sides[fine] * 1.05


def least_block(sides: tuple[float, float], radar: tuple[bool, bool], height: int, width: int) -> int:
    """The least block side (grid pixels) that two images allow: RADAR_FINER of the coarser image's pixels where the
    finer is a radar's and the coarser is not (radar_finer), else 2."""
    if not radar_finer(sides, radar):
        return 2
    coarse = finer_first(sides)[1]
    wanted = math.ceil(RADAR_FINER * sides[coarse] - 0.1)   # less a tenth: a side measured 2.02 is 2
    return max(2, min(wanted, min(height, width) // LEAST_CELLS))


def block_means(x: np.ndarray, valid: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Average ``x`` (bands, rows, cols) over b×b blocks using valid, finite pixels only.

    Returns (means (bands, ceil(rows/b), ceil(cols/b)) float32, NaN where a block has no valid pixel;
    the blocks' validity). Edge blocks average the pixels they have, as GDAL's average does.
    """
    if x.ndim != 3 or valid.shape != x.shape[1:]:
        raise InputError(tr("Block means need an image (bands, rows, cols) and a matching mask, "
                            "not {shape} and {mask}.", shape=x.shape, mask=valid.shape))
    if b < 1:
        raise InputError(tr("The block size must be at least 1, not {size}.", size=b))
    bands, rows, cols = x.shape
    h, w = math.ceil(rows / b), math.ceil(cols / b)
    ok = valid & np.isfinite(x).all(axis=0)
    values = np.zeros((bands, h * b, w * b), np.float64)
    values[:, :rows, :cols] = np.where(ok, x, 0.0)
    counts = np.zeros((h * b, w * b), np.float64)
    counts[:rows, :cols] = ok
    sums = values.reshape(bands, h, b, w, b).sum(axis=(2, 4))
    n = counts.reshape(h, b, w, b).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(n > 0, sums / n, np.nan)
    return means.astype(np.float32), n > 0


def local_mean(values: np.ndarray, ok: np.ndarray, radius: int = 1) -> np.ndarray:
    """Mean of `values` (h, w) over the valid cells of the (2·radius + 1)² square around each cell."""
    import torch  # here, not at the top: the plugin lists its choices without torch
    import torch.nn.functional as F

    if radius == 0:
        return np.asarray(values, np.float32)
    size = 2 * radius + 1
    v = torch.from_numpy(np.where(ok, values, 0.0).astype(np.float32))[None, None]
    m = torch.from_numpy(ok.astype(np.float32))[None, None]
    total = F.avg_pool2d(v, size, 1, radius, count_include_pad=False)
    weight = F.avg_pool2d(m, size, 1, radius, count_include_pad=False)
    return (total / weight.clamp(min=1e-6))[0, 0].numpy()


def _axis(n_blocks: int, n_out: int, start: int, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower/upper block index and upper weight for output pixels start..start+length along one axis."""
    centre = (np.arange(start, start + length) + 0.5) * (n_blocks / n_out) - 0.5
    centre = np.clip(centre, 0, n_blocks - 1)
    lower = np.floor(centre).astype(np.int64)
    upper = np.minimum(lower + 1, n_blocks - 1)
    return lower, upper, (centre - lower).astype(np.float32)


def upsample_prior(alpha_blocks: np.ndarray, out_shape: tuple[int, int],
                   window: Optional[Any] = None) -> np.ndarray:
    """Bilinear values of a block-grid prior at pixel resolution, on ``window`` of the out_shape grid.

    The block grid spans the same extent as out_shape. window: anything with row_off, col_off,
    height and width (raster.grid.Window, the pipeline's tiles) or None for the whole grid. NaN
    (invalid) blocks are left out of the interpolation; pixels with only NaN around stay NaN.
    """
    alpha_blocks = np.asarray(alpha_blocks, np.float32)
    if alpha_blocks.ndim != 2:
        raise InputError(tr("A prior must be a 2-D grid, not {shape}.", shape=alpha_blocks.shape))
    rows, cols = out_shape
    if window is None:
        r0, c0, height, width = 0, 0, rows, cols
    else:
        r0, c0, height, width = (int(window.row_off), int(window.col_off),
                                 int(window.height), int(window.width))
    if r0 < 0 or c0 < 0 or r0 + height > rows or c0 + width > cols:
        raise InputError(tr("The window ({r0}, {c0}, {height}, {width}) lies outside the {rows}×{cols} grid.",
                            r0=r0, c0=c0, height=height, width=width, rows=rows, cols=cols))
    ra, rb, wr = _axis(alpha_blocks.shape[0], rows, r0, height)
    ca, cb, wc = _axis(alpha_blocks.shape[1], cols, c0, width)
    total = np.zeros((height, width), np.float32)
    weight = np.zeros((height, width), np.float32)
    for r_index, r_weight in ((ra, 1 - wr), (rb, wr)):
        for c_index, c_weight in ((ca, 1 - wc), (cb, wc)):
            values = alpha_blocks[np.ix_(r_index, c_index)]
            w = np.outer(r_weight, c_weight) * np.isfinite(values)
            total += w * np.nan_to_num(values)
            weight += w
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(weight > 0, total / weight, np.nan).astype(np.float32)
