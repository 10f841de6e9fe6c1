"""A synthetic heterogeneous pair with known changes, for the demo and the tests.

The scene is a land-cover map (water, fields, forest, built-up) of Voronoi parcels with a river,
textured by smooth random fields. Between the dates a flood turns low land by the river into water
and a few fields become built-up. Date 1 is a 4-band optical image (B, G, R, NIR reflectance × 10⁴,
UInt16) in UTM 33N at 10 m; date 2 is a single-band SAR intensity (linear σ⁰ with 4-look gamma
speckle, Float32, nodata 0 along a swath edge in one corner) in Web Mercator at about 20 m on the
ground, over a slightly shifted extent, so a run must reproject and resample one image onto the
other. The truth mask (UInt8, 1 changed) is on date 1's grid. Everything derives from one seed.

A `Scenario` makes the stress cases real scenes have: no change at all, rare change (under 1 %), new
buildings alone (the weaker kind of change, no flood beside it), a wide
permanent river or lake beside a large flood, a flood over about a quarter of the scene, and date 2
misregistered by a few pixels. The `sar-pair*` scenarios make date 1 a single-look SAR image (Float32,
on date 1's grid) of the same parcels, each drifted by SEASONAL_DB: a SAR-against-SAR pair with
different looks and grids. The `optical-pair*` scenarios make date 2 an image of another optical sensor
(three bands, each a mix of the four reflectances, 8-bit with its own gain and offset, on date 2's
grid), the fields' greenness drifted by SEASONAL_GREENNESS: two optical sensors a season apart (`same-sensor-*`:
date 2 of the first image's own four bands, 8-bit).
The `sar-finer*` scenarios make date 2 the finer image (5 m on the ground), so a run's grid is the SAR's.
The `fire` scenario burns forest in one contiguous scar (optical: dark char, NIR lost; SAR: the canopy's volume
scattering lost), `earthquake` and `sar-pair-earthquake` collapse the built-up parcels nearest an epicentre
(rubble: brighter and flat in the optical image, without the double bounce in the SAR image).
The `cloudy` scenarios put thick cloud over part of the optical date (the truth unchanged under it).

    python -m oaip_qgis.core.sample_pair OUT_DIR [--size N] [--seed S] [--scenario NAME]
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio import Affine
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject, transform_bounds

from .errors import InputError
from .i18n import tr
from .raster.gdal_scope import in_gdal_scope

WATER, FIELD, FOREST, BUILT = 0, 1, 2, 3
BURNT, RUBBLE = 4, 5   # forest after a fire; built-up after an earthquake
T1_CRS, T2_CRS = CRS.from_epsg(32633), CRS.from_epsg(3857)
T1_PIXEL = 10.0                    # metres
ORIGIN = (500_000.0, 5_000_000.0)  # UTM 33N, on the central meridian (about 45° N)


@dataclass(frozen=True)
class Scenario:
    """What changes between the dates, and how well date 2 is registered."""

    flood: float = 0.05          # fraction of the scene, land by the river turned to water
    built: float = 0.03          # fraction of the scene, fields turned to built-up
    river: float = 1 / 60        # half-width of the permanent river, as a fraction of the scene's side
    shift: tuple[float, float] = (0.0, 0.0)   # date 2's georeferencing error (east, south), t1 pixels
    t1_looks: int = 0            # 0: date 1 is the 4-band optical image; n: a SAR image of n looks (SAR against SAR)
    t2_optical: bool = False     # date 2 an 8-bit 3-band optical image of another sensor instead of SAR
    t2_same_sensor: bool = False  # with t2_optical: date 2 of the same sensor (its four bands, 8-bit) instead
    t2_pixel: float = 2.0        # date 2's pixel side on the ground, in date 1 pixels (under 1: date 2 is the finer)
    burn: float = 0.0            # fraction of the scene, forest burnt in one contiguous scar (a wildfire)
    collapse: float = 0.0        # fraction of the scene, built-up parcels nearest an epicentre collapsed
    clouds: float = 0.0          # fraction of the scene under thick cloud in the optical date (date 2's if optical)


SCENARIOS = {
    "default": Scenario(),
    "unchanged": Scenario(flood=0.0, built=0.0),
    "rare": Scenario(flood=0.0, built=0.006),
    "flood-beside-river": Scenario(flood=0.10, built=0.0, river=1 / 15),
    "misregistered": Scenario(shift=(3.0, 2.0)),
    # A flood over about a quarter of the scene (an area of interest drawn around the flood):
    "wide-flood": Scenario(flood=0.20),
    # New buildings alone (about 3 % of the scene), the weaker kind of change, with no flood to stand out:
    "built-only": Scenario(flood=0.0, built=0.03),
    # SAR against SAR with different looks and grids (single-look at 10 m, 4-look at about 20 m):
    "sar-pair": Scenario(t1_looks=1),
    "sar-pair-unchanged": Scenario(flood=0.0, built=0.0, t1_looks=1),
    "sar-pair-flood-beside-river": Scenario(flood=0.10, built=0.0, river=1 / 15, t1_looks=1),
    "sar-pair-misregistered": Scenario(shift=(3.0, 2.0), t1_looks=1),
    "sar-pair-wide-flood": Scenario(flood=0.20, t1_looks=1),
    # An area of interest drawn tight around a flood: about 40 % of it under water that was land, beside the river
    # (optical before and SAR after, and two SAR images):
    "flooded-aoi": Scenario(flood=0.35, built=0.0),
    "sar-pair-flooded-aoi": Scenario(flood=0.35, built=0.0, t1_looks=1),
    # A flood over about a third of the scene, of which the prior's first pass can see only a part:
    "flooded-third": Scenario(flood=0.25, built=0.0),
    # Two optical sensors (4 bands at 10 m against 3 mixed 8-bit bands at about 20 m), fields a season apart:
    "optical-pair": Scenario(t2_optical=True),
    "optical-pair-unchanged": Scenario(flood=0.0, built=0.0, t2_optical=True),
    # The SAR image the finer (5 m against the optical's 10 m, as a high-resolution radar against Sentinel-2):
    "sar-finer": Scenario(t2_pixel=0.5),
    "sar-finer-rare": Scenario(flood=0.0, built=0.006, t2_pixel=0.5),
    "sar-finer-unchanged": Scenario(flood=0.0, built=0.0, t2_pixel=0.5),
    # The mission's other disasters: a wildfire's scar across forest, and an earthquake's collapsed blocks, each
    # with optical before and SAR after (smoke or cloud after the event), and between two optical sensors or two
    # SAR images as archives hold them.
    "fire": Scenario(flood=0.0, built=0.0, burn=0.06),
    "optical-pair-fire": Scenario(flood=0.0, built=0.0, burn=0.06, t2_optical=True),
    "sar-pair-fire": Scenario(flood=0.0, built=0.0, burn=0.06, t1_looks=1),
    "earthquake": Scenario(flood=0.0, built=0.0, collapse=0.03),
    "sar-pair-earthquake": Scenario(flood=0.0, built=0.0, collapse=0.03, t1_looks=1),
    "optical-pair-earthquake": Scenario(flood=0.0, built=0.0, collapse=0.03, t2_optical=True),
    # One optical sensor twice (its four bands after as before), with that fire and without change:
    "same-sensor-fire": Scenario(flood=0.0, built=0.0, burn=0.06, t2_optical=True, t2_same_sensor=True),
    "same-sensor-unchanged": Scenario(flood=0.0, built=0.0, t2_optical=True, t2_same_sensor=True),
    # Thick cloud over a tenth of the optical date, which the other sees through or did not have: in the optical
    # image before the radar's flood, and in the second optical sensor's image after it. Cloud is not change.
    "cloudy": Scenario(clouds=0.10),
    "optical-pair-cloudy": Scenario(clouds=0.10, t2_optical=True),
}
SEASONAL_DB = 0.5   # a field's backscatter drifts this much (1 σ, dB) between the dates of a SAR pair
SEASONAL_GREENNESS = 0.1   # a field's greenness (0 bare … 1 green) drifts this much (1 σ) between two optical dates
# Date 2's optical sensor: its green, red and NIR bands each see a mix of the B, G, R, NIR reflectances,
# recorded as 8-bit numbers (DN = gain × reflectance + offset, saturating at 255).
SENSOR2_RESPONSE = np.array([[0.15, 0.70, 0.15, 0.00], [0.00, 0.10, 0.80, 0.10], [0.00, 0.00, 0.05, 0.95]])
SENSOR2_GAIN, SENSOR2_OFFSET = 550.0, 12.0

# Reflectance (B, G, R, NIR) and SAR σ⁰ (linear) per class; fields vary between these two rows.
REFLECTANCE = {WATER: (0.06, 0.05, 0.03, 0.02), FOREST: (0.03, 0.05, 0.03, 0.30),
               BUILT: (0.12, 0.12, 0.13, 0.18), BURNT: (0.04, 0.04, 0.05, 0.08), RUBBLE: (0.18, 0.18, 0.19, 0.23)}
FIELD_GREEN, FIELD_BARE = (0.04, 0.08, 0.05, 0.38), (0.10, 0.13, 0.16, 0.22)
# A burnt canopy loses its volume scattering (about −4 dB); collapsed buildings their double bounce (−6 dB).
SIGMA0 = {WATER: 0.004, FIELD: 0.05, FOREST: 0.12, BUILT: 0.6, BURNT: 0.05, RUBBLE: 0.15}
LOOKS = 4
SAR_NODATA = 0.0
CLOUD_REFLECTANCE = 0.75   # thick cloud is bright in every band, NIR included


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Gaussian random field with correlation length ``scale`` pixels, zero mean, unit variance."""
    noise = rng.standard_normal(shape)
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    spectrum = np.fft.rfft2(noise) * np.exp(-2 * (np.pi * scale) ** 2 * (fx ** 2 + fy ** 2))
    field = np.fft.irfft2(spectrum, s=shape)
    return (field - field.mean()) / (field.std() + 1e-12)


def _parcels(rng: np.random.Generator, shape: tuple[int, int], side: int) -> np.ndarray:
    """Voronoi parcel index of every pixel, boundaries bent by a smooth displacement.

    One seed is jittered inside each side×side cell of a grid, so a pixel's nearest seed lies in
    its own or a neighbouring cell: nine candidates per pixel keep the cost linear in the image.
    """
    gh, gw = shape[0] // side + 1, shape[1] // side + 1
    seeds = (np.indices((gh, gw)).transpose(1, 2, 0) + rng.uniform(0, 1, (gh, gw, 2))) * side
    rows, cols = np.indices(shape, dtype=np.float64)
    rows += side / 4 * _smooth_field(rng, shape, side)
    cols += side / 4 * _smooth_field(rng, shape, side)
    return nearest_seed(rows, cols, seeds, side)


def nearest_seed(rows: np.ndarray, cols: np.ndarray, seeds: np.ndarray, side: int) -> np.ndarray:
    """Flat index (r·gw + c) of the nearest seed to each position (rows, cols), seeds (gh, gw, 2) being
    one per side×side grid cell: the nearest lies in the position's own cell or a neighbouring one."""
    gh, gw = seeds.shape[:2]
    cell_r = np.clip(rows // side, 0, gh - 1).astype(np.int64)
    cell_c = np.clip(cols // side, 0, gw - 1).astype(np.int64)
    best = np.full(rows.shape, np.inf, rows.dtype)
    index = np.zeros(rows.shape, np.int64)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            r, c = np.clip(cell_r + dr, 0, gh - 1), np.clip(cell_c + dc, 0, gw - 1)
            d = (rows - seeds[r, c, 0]) ** 2 + (cols - seeds[r, c, 1]) ** 2
            closer = d < best
            best[closer], index[closer] = d[closer], (r * gw + c)[closer]
    return index


def _land_cover(rng: np.random.Generator, shape: tuple[int, int], scenario: Scenario
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Before and after maps and the parcel index, on the whole canvas."""
    size = max(shape)
    parcels = _parcels(rng, shape, 24)
    classes = rng.choice([FIELD, FOREST, BUILT], size=parcels.max() + 1, p=[0.55, 0.3, 0.15])
    before = classes[parcels]
    rows, cols = np.indices(shape, dtype=np.float64)
    course = shape[0] * (0.45 + 0.12 * np.sin(2 * np.pi * cols / size * rng.uniform(0.8, 1.5)
                                             + rng.uniform(0, 2 * np.pi)))
    distance = np.abs(rows - course)
    before[distance < max(2.0, size * scenario.river)] = WATER
    after = before.copy()
    low = distance / size + 0.08 * _smooth_field(rng, shape, size / 12)
    land = (before == FIELD) | (before == FOREST)
    flood = land & (low < np.quantile(low[land], scenario.flood * before.size / land.sum())) if scenario.flood \
        else np.zeros(shape, bool)
    after[flood] = WATER
    area = np.bincount(parcels.ravel(), minlength=classes.size)
    flooded = np.bincount(parcels[flood], minlength=classes.size) > 0
    candidates = rng.permutation(np.flatnonzero((classes == FIELD) & ~flooded & (area > 0)))
    count = np.searchsorted(np.cumsum(area[candidates]), scenario.built * before.size) + 1 if scenario.built else 0
    chosen = candidates[:count]
    after[np.isin(parcels, chosen) & (after == FIELD)] = BUILT
    if scenario.burn:   # one scar: the forest lowest in a smooth field as large as a fire front
        forest = before == FOREST
        front = _smooth_field(rng, shape, size / 8)
        share = min(1.0, scenario.burn * before.size / forest.sum())
        after[forest & (front < np.quantile(front[forest], share))] = BURNT
    if scenario.collapse:   # whole built-up parcels, nearest a random epicentre first (distances a little jittered)
        centre = rng.uniform(0.25, 0.75, 2) * shape
        built_parcels = np.flatnonzero((classes == BUILT) & (area > 0))
        r_mean = np.bincount(parcels.ravel(), rows.ravel(), classes.size)[built_parcels] / area[built_parcels]
        c_mean = np.bincount(parcels.ravel(), cols.ravel(), classes.size)[built_parcels] / area[built_parcels]
        reach = np.hypot(r_mean - centre[0], c_mean - centre[1]) * rng.uniform(0.7, 1.3, built_parcels.size)
        ordered = built_parcels[np.argsort(reach)]
        count = np.searchsorted(np.cumsum(area[ordered]), scenario.collapse * before.size) + 1
        after[np.isin(parcels, ordered[:count]) & (before == BUILT)] = RUBBLE
    return before, after, parcels


def _optical(rng: np.random.Generator, cover: np.ndarray, parcels: np.ndarray, greenness: np.ndarray) -> np.ndarray:
    """(4, rows, cols) reflectance: class spectra, fields between green and bare (`greenness` per parcel),
    textured."""
    greenness = greenness[parcels]
    out = np.empty((4,) + cover.shape)
    texture = 1 + 0.08 * _smooth_field(rng, cover.shape, 3) + 0.05 * _smooth_field(rng, cover.shape, 20)
    for band in range(4):
        out[band] = class_reflectance(cover, greenness, band) * texture + rng.normal(0, 0.004, cover.shape)
    return np.clip(out, 0.0005, 1.0)


def class_reflectance(cover: np.ndarray, greenness: np.ndarray, band: int) -> np.ndarray:
    """Band `band` of each pixel's class spectrum, fields mixed between green and bare by their `greenness`
    (per pixel): the generated pairs' optical image before texture and noise (large_pair's too)."""
    value = greenness * FIELD_GREEN[band] + (1 - greenness) * FIELD_BARE[band]
    for cls, spectrum in REFLECTANCE.items():
        value = np.where(cover == cls, spectrum[band], value)
    return value


def _cloud(seed: int, shape: tuple[int, int], cover: float) -> np.ndarray | None:
    """Cloud opacity (0 clear … 1 thick) over about `cover` of the canvas, from a generator of its own so that a
    scenario without cloud draws what it always drew."""
    if not cover:
        return None
    field = _smooth_field(np.random.default_rng([seed, 1]), shape, max(shape) / 16)
    return np.clip((field - np.quantile(field, 1 - cover)) / 0.5 + 0.5, 0.0, 1.0)


def _clouded(reflectance: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """Reflectance seen through cloud of that opacity: the ground's mixed with the cloud's white."""
    return (1 - opacity) * reflectance + opacity * CLOUD_REFLECTANCE


def class_backscatter(cover: np.ndarray, parcels: np.ndarray, offsets: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Noise-free σ⁰ (linear): class levels, each parcel `offsets` dB off (±2), and the ground's own
    texture (a unit random field; strong in built-up areas), which both dates of a SAR pair share (large_pair's
    radar image too)."""
    levels = np.array([SIGMA0[c] for c in (WATER, FIELD, FOREST, BUILT, BURNT, RUBBLE)])
    db = 10 * np.log10(levels[cover])
    db += offsets[parcels] * (cover != WATER)
    db += np.where((cover == BUILT) | (cover == RUBBLE), 3.0, 0.7) * texture
    return 10 ** (db / 10)


def _write(path: Path, data: np.ndarray, crs: CRS, transform, dtype: str, nodata: float | None = None,
           **tags: str) -> str:
    profile = {"driver": "GTiff", "height": data.shape[1], "width": data.shape[2], "count": data.shape[0],
               "dtype": dtype, "crs": crs, "transform": transform, "compress": "deflate", "nodata": nodata}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data.astype(dtype))
        dst.update_tags(**tags)
    return str(path)


@in_gdal_scope
def make_sample_pair(out_dir: str | Path, size: int = 256, seed: int = 0,
                     scenario: Scenario | str = "default") -> dict:
    """Write t1.tif, t2.tif and truth.tif under out_dir and return their paths by those names."""
    if isinstance(scenario, str):
        if scenario not in SCENARIOS:
            raise InputError(tr("Unknown scenario {scenario!r}: use one of {names}.",
                                scenario=scenario, names=", ".join(SCENARIOS)))
        scenario = SCENARIOS[scenario]
    if size < 32:
        raise InputError(tr("The sample pair needs a size of at least 32 pixels, not {size}.", size=size))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    margin = size // 8
    canvas = (size + 2 * margin, size + 2 * margin)
    before, after, parcels = _land_cover(rng, canvas, scenario)
    inner = (slice(margin, margin + size), slice(margin, margin + size))

    x0, y0 = ORIGIN
    t1_transform = from_origin(x0, y0, T1_PIXEL, T1_PIXEL)
    canvas_transform = from_origin(x0 - margin * T1_PIXEL, y0 + margin * T1_PIXEL, T1_PIXEL, T1_PIXEL)
    greenness = rng.uniform(0, 1, parcels.max() + 1)
    reflectance = _optical(rng, before, parcels, greenness)[(slice(None),) + inner]
    cloud = _cloud(seed, canvas, scenario.clouds)
    if cloud is not None and not scenario.t2_optical and not scenario.t1_looks:
        reflectance = _clouded(reflectance, cloud[inner])
    t1 = _write(out / "t1.tif", np.round(reflectance * 10_000), T1_CRS, t1_transform, "uint16",
                BANDS="B,G,R,NIR", SCALE="reflectance x 10000")
    truth = _write(out / "truth.tif", (before != after)[inner][None], T1_CRS, t1_transform, "uint8",
                   MEANING="1 changed, 0 unchanged")

    # t2: the same ground shifted by a fraction of the margin, in Web Mercator, t2_pixel × t1's pixel.
    shift_x, shift_y = margin / 2 * T1_PIXEL, -margin / 3 * T1_PIXEL
    left, bottom, right, top = transform_bounds(T1_CRS, T2_CRS, x0 + shift_x, y0 - size * T1_PIXEL + shift_y,
                                                x0 + size * T1_PIXEL + shift_x, y0 + shift_y)
    n2 = round(size / scenario.t2_pixel)
    t2_transform = from_origin(left, top, (right - left) / n2, (top - bottom) / n2)
    sigma0 = np.zeros((n2, n2), np.float32)
    # Misregistration: the image is made on the true grid, then written with a shifted origin.
    written = t2_transform * Affine.translation(scenario.shift[0] / scenario.t2_pixel,
                                                scenario.shift[1] / scenario.t2_pixel)
    offsets = rng.uniform(-2, 2, parcels.max() + 1)
    texture = _smooth_field(rng, after.shape, 1.5)
    reproject(class_backscatter(after, parcels, offsets, texture).astype(np.float32), sigma0,
              src_transform=canvas_transform, src_crs=T1_CRS, dst_transform=t2_transform, dst_crs=T2_CRS,
              resampling=Resampling.average)
    intensity = sigma0 * rng.gamma(LOOKS, 1 / LOOKS, sigma0.shape)
    rows, cols = np.indices(intensity.shape)
    corner = rows + cols < n2 // 6                        # the swath edge cuts off the north-west corner
    intensity[corner] = SAR_NODATA
    t2 = _write(out / "t2.tif", intensity[None], T2_CRS, written, "float32", nodata=SAR_NODATA,
                UNITS="sigma0, linear intensity")
    if scenario.t1_looks:   # date 1 from the same parcels, a little drifted, on date 1's grid
        drifted = offsets + rng.normal(0, SEASONAL_DB, offsets.shape)
        looks = scenario.t1_looks
        sigma1 = class_backscatter(before, parcels, drifted, texture)[inner]
        t1 = _write(out / "t1.tif", (sigma1 * rng.gamma(looks, 1 / looks, sigma1.shape))[None], T1_CRS,
                    t1_transform, "float32", UNITS="sigma0, linear intensity")
    if scenario.t2_optical:   # date 2 seen by another optical sensor, a season later, on date 2's grid
        drifted = np.clip(greenness + rng.normal(0, SEASONAL_GREENNESS, greenness.shape), 0, 1)
        response = np.eye(4) if scenario.t2_same_sensor else SENSOR2_RESPONSE
        seen = _optical(rng, after, parcels, drifted)
        mixed = np.einsum("ij,jhw->ihw", response, seen if cloud is None else _clouded(seen, cloud))
        bands = np.zeros((len(response), n2, n2), np.float32)
        reproject(mixed.astype(np.float32), bands, src_transform=canvas_transform, src_crs=T1_CRS,
                  dst_transform=t2_transform, dst_crs=T2_CRS, resampling=Resampling.average)
        dn = np.clip(np.round(SENSOR2_GAIN * bands + SENSOR2_OFFSET), 1, 255)
        dn[:, corner] = 0
        t2 = _write(out / "t2.tif", dn, T2_CRS, written, "uint8", nodata=0,
                    BANDS="B,G,R,NIR (the same sensor)" if scenario.t2_same_sensor else "G,R,NIR (another sensor)",
                    UNITS="8-bit digital numbers")
    return {"t1": t1, "t2": t2, "truth": truth}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic optical/SAR pair with known changes.")
    parser.add_argument("out_dir")
    parser.add_argument("--size", type=int, default=256,
                        help="side of t1 in pixels (t2 has half, or twice in the sar-finer scenarios)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", default="default", choices=list(SCENARIOS))
    args = parser.parse_args(argv)
    print(json.dumps(make_sample_pair(args.out_dir, args.size, args.seed, args.scenario), indent=2))


if __name__ == "__main__":
    main()
