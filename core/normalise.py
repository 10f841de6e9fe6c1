"""Per-band scaling of each image to about [0, 1], with statistics fitted once and applied per tile.

Two sensors only become comparable after each is put on a common, robust scale: SAR intensity is
heavy-tailed and multiplicative, so it is taken to decibels first; every band is then stretched
between two percentiles of its valid pixels and clipped, so that outliers (bright targets, clouds,
nodata leaking in) cannot squash the rest. Fitting is separate from applying so that a large image
can be fitted on a decimated read and then normalised tile by tile with the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .errors import InputError
from .i18n import tr

KINDS = ("sar", "optical")
PERCENTILES = (1.0, 99.0)
MAX_SAMPLES = 1_000_000
SAR_SKEW = 2.0          # skewness of linear SAR intensity is far above this; optical bands rarely reach it
SAR_TAIL_RATIO = 5.0    # p99 / median: a second heavy-tail test, insensitive to a few extreme values
LOG_FLOOR_PERCENTILE = 0.1  # an intensity band is taken to a logarithm from this percentile of its positive values up
# A band with more negative values than this share reads as decibels (σ⁰ in dB is mostly below 0); a few are
# artefacts of a linear intensity (thermal-noise removal over calm water, calibration), taken as its floor:
# one negative pixel of -0.001 in a generated σ⁰ image had it scaled as optical and its Kappa fall 0.75 → 0.09.
NEGATIVE_SHARE = 0.1
# A band with negative values reads as decibels when its 1st–99th percentiles lie in DB_RANGE (σ⁰ of land
# and water spans about −35 to +10 dB) and span at least DB_LEAST_SPREAD (reflectances a little below 0
# after atmospheric correction span far less).
DB_RANGE = (-60.0, 40.0)
DB_LEAST_SPREAD = 3.0


@dataclass(frozen=True)
class Normaliser:
    """Per-band scaling fitted on one image: ``apply`` maps any window of that image to [0, 1]."""

    kind: str
    low: np.ndarray     # per band, in the transformed domain (dB for SAR in linear units)
    high: np.ndarray
    floor: Optional[np.ndarray] = None  # per band: smallest value taken to dB; None: no log step

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Scale ``x`` (bands, rows, cols) with the fitted statistics; NaN stays NaN."""
        x = _check_image(x)
        if x.shape[0] != self.low.shape[0]:
            raise InputError(tr("The normaliser was fitted on {fitted} band(s), not {given}.",
                                fitted=self.low.shape[0], given=x.shape[0]))
        values = self._transform(x)
        low = self.low[:, None, None]
        span = (self.high - self.low)[:, None, None]
        return np.clip((values - low) / span, 0.0, 1.0).astype(np.float32)

    def _transform(self, x: np.ndarray) -> np.ndarray:
        if self.floor is None:
            return x.astype(np.float32)
        return (10.0 * np.log10(np.maximum(x, self.floor[:, None, None]))).astype(np.float32)


def _check_image(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3:
        raise InputError(tr("An image must have the shape (bands, rows, cols), not {shape}.", shape=x.shape))
    return x


def _check_valid(x: np.ndarray, valid: Optional[np.ndarray]) -> np.ndarray:
    if valid is None:
        return np.ones(x.shape[1:], bool)
    valid = np.asarray(valid, bool)
    if valid.shape != x.shape[1:]:
        raise InputError(tr("The validity mask {mask} does not match the image {shape}.",
                            mask=valid.shape, shape=x.shape[1:]))
    return valid


def _sample(x: np.ndarray, valid: np.ndarray, max_samples: int) -> np.ndarray:
    """Valid, finite pixel vectors (pixels, bands), decimated by a fixed stride to bound the cost."""
    pixels = x[:, valid].T
    pixels = pixels[np.isfinite(pixels).all(axis=1)]
    if pixels.shape[0] == 0:
        raise InputError(tr("The image holds no valid pixel to compute its statistics from (all nodata)."))
    stride = max(1, pixels.shape[0] // max_samples)
    return pixels[::stride].astype(np.float64)


def holds_intensity(values: np.ndarray) -> bool:
    """Whether values read as a linear intensity rather than decibels: at most NEGATIVE_SHARE negative."""
    return bool(np.mean(values < 0) <= NEGATIVE_SHARE)


def reads_as_decibels(values: np.ndarray) -> bool:
    """Whether a band's values read as a radar's decibels (SAR as SNAP or Earth Engine deliver it): more than
    NEGATIVE_SHARE negative, its 1st–99th percentiles within DB_RANGE and at least DB_LEAST_SPREAD apart."""
    if not values.size or holds_intensity(values):
        return False
    low, high = np.percentile(values, [1, 99])
    return bool(DB_RANGE[0] <= low and high <= DB_RANGE[1] and high - low >= DB_LEAST_SPREAD)


def _heavy_tailed(values: np.ndarray) -> bool:
    if not holds_intensity(values):
        return False
    median, p99 = np.percentile(values, [50, 99])
    # A saturated band's top value, held by many pixels (roofs, sun glint at 65535), is no tail: with 20 of
    # 160 000 such pixels in every band a 4-band optical image was taken for SAR. A radar's own bright points
    # are distinct values, and stay.
    top = values == values.max()
    body = values[~top] if top.sum() > 1 else values
    std = body.std() if body.size else 0.0
    if std == 0:
        return False
    skew = float(np.mean((body - body.mean()) ** 3) / std ** 3)
    return skew > SAR_SKEW or (median > 0 and p99 / median > SAR_TAIL_RATIO)


def log_floor(values: np.ndarray) -> float:
    """The least value an intensity band is taken to a logarithm at: a low percentile of its positive
    values, so zeros (dark water in an 8-bit rendering, nodata leaking in) do not reach −∞."""
    positive = values[values > 0]
    return float(np.percentile(positive, LOG_FLOOR_PERCENTILE)) if positive.size else 1e-6


def guess_kind(x: np.ndarray, valid: Optional[np.ndarray] = None) -> str:
    """'sar' when every band is non-negative with a heavy right tail (linear intensity: one polarisation, or
    VV and VH as a Sentinel-1 GRD holds them), else 'optical'.

    An 8-bit rendering of SAR is already log-like and is scaled as 'optical', which is what it needs. Until
    release 0.11.2 only a single band could be 'sar': a linear VV + VH image was scaled as optical, its
    tail filling the scale, and an unchanged generated scene had 16 % marked changed (19 % against
    another such image). No optical image measured has every band heavy-tailed (the shared pairs'
    RGB images, generated 4- to 13-band reflectances, Landsat-scaled bands): some band always has its
    mass spread, where speckle gives every band of an intensity image its exponential tail.
    """
    x = _check_image(x)
    pixels = _sample(x, _check_valid(x, valid), MAX_SAMPLES)
    return "sar" if all(_heavy_tailed(pixels[:, band]) for band in range(pixels.shape[1])) else "optical"


def holds_radar(x: np.ndarray, valid: Optional[np.ndarray] = None, kind: Optional[str] = None) -> bool:
    """Whether an image's values are a radar's as its products hold them: linear intensities (`guess_kind`
    'sar', or `kind` when given) or decibels in every band. An 8-bit rendering of a radar image is neither
    (labels.blocks.least_block asks)."""
    x = _check_image(x)
    valid = _check_valid(x, valid)
    if (guess_kind(x, valid) if kind is None else kind) == "sar":
        return True
    pixels = _sample(x, valid, MAX_SAMPLES)
    return all(reads_as_decibels(pixels[:, band]) for band in range(pixels.shape[1]))


def fit_normaliser(x: np.ndarray, valid: Optional[np.ndarray] = None, kind: Optional[str] = None) -> Normaliser:
    """Fit per-band statistics on the valid pixels of ``x`` (a whole image or a decimated read of it).

    kind: 'sar', 'optical' or None (guessed). SAR in linear units (`holds_intensity`) is taken to dB
    before the percentiles, its few values under the floor taken as the floor; SAR with more negative
    values is taken as already in dB.
    """
    x = _check_image(x)
    valid = _check_valid(x, valid)
    kind = guess_kind(x, valid) if kind is None else kind
    if kind not in KINDS:
        raise InputError(tr("Image kind must be one of {kinds}, not {kind!r}.", kinds=", ".join(KINDS), kind=kind))
    percentiles = PERCENTILES
    pixels = _sample(x, valid, MAX_SAMPLES)
    floor = None
    if kind == "sar" and holds_intensity(pixels):
        floor = np.array([log_floor(pixels[:, band]) for band in range(pixels.shape[1])])
        pixels = 10.0 * np.log10(np.maximum(pixels, floor))
    low, high = np.percentile(pixels, percentiles, axis=0)
    high = np.where(high > low, high, low + 1.0)  # a constant band maps to 0 instead of dividing by 0
    return Normaliser(kind, low.astype(np.float32), high.astype(np.float32),
                      None if floor is None else floor.astype(np.float32))
