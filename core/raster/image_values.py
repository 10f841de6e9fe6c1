"""What of one image is compared, and whether its values can be: the bands chosen (the alpha band left out, a
palette expanded, signed bytes refused), the nodata value given, found or masked, the scale and offset applied,
complex bands as intensity, and float64 values beyond float32's range or regions of −∞ named.

Each check reads the file's own bands (decimated where it reads pixels) and never writes to it; `select` gives
the chosen bands as the VRT that align.py warps onto the run's grid.
"""
from __future__ import annotations

import functools
import math
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
from osgeo import gdal

from ..errors import InputError
from ..i18n import tr
from .border import edge_regions
from .border_mask import with_mask
from .found_nodata import found_nodata
from .input_files import check_not_a_mask, decimated, read_or_explain
from .scratch import edited_vrt, scratch_name


def _integer_range(ds: gdal.Dataset, band: int) -> Optional[np.iinfo]:
    """The values an integer band can hold; None for floating-point and complex bands."""
    kind = gdal.GetDataTypeName(ds.GetRasterBand(band).DataType)
    try:
        return np.iinfo("uint8" if kind == "Byte" else kind.lower())
    except ValueError:   # floating point or complex: any number can occur
        return None


def check_nodata(ds: gdal.Dataset, bands: list[int], nodata: Optional[float], number: int, notes: list) -> None:
    """Refuse a nodata value that no pixel of an integer band can hold (GDAL would clamp 1e40 to 65535, or
    round 0.5 to 0, and mask real data). NaN masks nothing in an integer band (`select`), and is float
    data's nodata: given for integer bands that declare a value of their own, it is said that those are data now
    (a block of the file's 0s compared as ground without a word)."""
    if nodata is None:
        return
    if math.isnan(nodata):
        declared = sorted({value for value in (ds.GetRasterBand(band).GetNoDataValue() for band in bands
                                                if _integer_range(ds, band)) if value is not None})
        if declared:
            notes.append(tr("NODATA{number} nan masks nothing in T{number}'s integer bands, and replaces the nodata "
                            "value the file declares ({values}): its pixels at that value are compared as data. Leave "
                            "NODATA{number} empty to keep the file's own.", number=number,
                            values=", ".join(f"{value:g}" for value in declared)))
        return
    for band in bands:
        info = _integer_range(ds, band)
        if info is None:
            continue
        if not (math.isfinite(nodata) and nodata == int(nodata) and info.min <= nodata <= info.max):
            raise InputError(tr("NODATA{number} {value:g} cannot occur in T{number}'s {kind} band {band}: give a "
                                "whole number from {low} to {high}, or leave it empty for the file's own.",
                                number=number, value=nodata, kind=gdal.GetDataTypeName(ds.GetRasterBand(band).DataType),
                                band=band, low=info.min, high=info.max))


def _flagged_alpha(ds: gdal.Dataset) -> Optional[int]:
    """The band (1-based) the file flags as alpha, if any."""
    return next((b for b in range(1, ds.RasterCount + 1)
                 if ds.GetRasterBand(b).GetColorInterpretation() == gdal.GCI_AlphaBand), None)


def alpha_band(ds: gdal.Dataset, label: str, path: str) -> Optional[int]:
    """The image's alpha band (1-based), if it has one that holds a mask: at most two values (transparent
    and opaque). GDAL writes any 4-band 8-bit GeoTIFF as RGBA unless told otherwise, so a red, green,
    blue and near-infrared image carries the flag on its NIR band, which is data. This is the first read
    of such a file, so a damaged one is named here."""
    band = _flagged_alpha(ds)
    if band is None:
        return None
    return band if np.unique(read_or_explain(label, path, lambda: decimated(ds, [band]))).size <= 2 else None


def as_masked(ds: gdal.Dataset, label: str, path: str, notes: list) -> gdal.Dataset:
    """An image whose last band holds only 0 and its type's top value (255, 65535) beside bands of data, with
    no band flagged as alpha, as that band flagged (a VRT), noted in `notes`: an RGBA export whose writer did not
    flag its alpha (rasterio, numpy) had the band compared as data, its transparent strip marked changed (Kappa
    0.81 → 0.15 on italy; flagged, 0.80)."""
    last = ds.GetRasterBand(ds.RasterCount) if ds.RasterCount >= 3 else None
    if last is None or _flagged_alpha(ds) is not None or last.DataType not in (gdal.GDT_Byte, gdal.GDT_UInt16):
        return ds
    top = 255 if last.DataType == gdal.GDT_Byte else 65535
    held = np.unique(read_or_explain(label, path, lambda: decimated(ds, [ds.RasterCount])))
    if held.tolist() != [0, top] or np.unique(read_or_explain(label, path, lambda: decimated(ds, [1]))).size <= 2:
        return ds
    notes.append(tr("{label}: band {band} of '{path}' holds only 0 and {top}, as a transparency (alpha) band does, "
                    "though the file does not flag it: it is taken as the image's mask (0: no data), not compared; "
                    "give the bands with BANDS{number} to compare it as data.", label=label, band=ds.RasterCount,
                    path=path, top=top, number=label[-1]))
    masked = gdal.Translate(scratch_name(".vrt"), ds, format="VRT")
    masked.GetRasterBand(ds.RasterCount).SetColorInterpretation(gdal.GCI_AlphaBand)
    return masked


def alpha_read_as_data(ds: gdal.Dataset, alpha: Optional[int], label: str, notes: list) -> None:
    """Say so when a band flagged as alpha holds data (`alpha`, `alpha_band`'s answer, is None) and is
    compared as such."""
    band = _flagged_alpha(ds)
    if band is not None and alpha is None:
        notes.append(tr("{label}: band {band} is flagged as alpha but holds more than two values, so it is "
                        "compared as data (a fourth band such as near-infrared, which GDAL flags as alpha by "
                        "default); if it is a mask, choose the other bands with BANDS{number}.", label=label,
                        band=band, number=label[-1]))


def chosen_bands(ds: gdal.Dataset, bands: Optional[Sequence[int]], label: str, path: str,
                 alpha: Optional[int] = None) -> list[int]:
    """The bands asked for, checked; by default every band but the alpha band `alpha` (`alpha_band`: GDAL
    reads it as the other bands' mask, not as data). Signed 8-bit bands are refused: GDAL 3.6 warps them as
    unsigned (−25 dB read as 231, a −128 nodata as 128: Kappa 0.26 against 0.92 as Int16)."""
    for band in bands or []:
        if not 1 <= int(band) <= ds.RasterCount:
            raise InputError(tr("{label}: band {band} is out of range: '{path}' has {count} band(s).",
                                label=label, band=band, path=path, count=ds.RasterCount))
    every = list(range(1, ds.RasterCount + 1))
    chosen = [int(b) for b in bands] if bands else [b for b in every if b != alpha] or every
    if any(ds.GetRasterBand(b).GetMetadataItem("PIXELTYPE", "IMAGE_STRUCTURE") == "SIGNEDBYTE" for b in chosen):
        raise InputError(tr("{label}: '{path}' holds signed 8-bit values (PIXELTYPE=SIGNEDBYTE), which this GDAL "
                            "reads as unsigned where the images are warped: convert it to 16-bit with its signs "
                            "first (gdal_calc.py -A '{path}' --calc=\"where(A > 127, A.astype(int16) - 256, A)\" "
                            "--type=Int16 --NoDataValue=-128 --outfile=converted.tif; gdal_translate -ot Int16 would "
                            "keep 0 to 255), then run with that file.", label=label, path=path))
    return chosen


def as_colours(ds: gdal.Dataset, label: str, notes: list) -> gdal.Dataset:
    """A paletted image (one band of colour-table indices) as its red, green and blue, noted in `notes`:
    the order of a palette's indices says nothing about the ground, so comparing them would be
    comparing arbitrary numbers."""
    band = ds.GetRasterBand(1)
    if ds.RasterCount != 1 or band.GetColorTable() is None or \
            band.GetColorInterpretation() != gdal.GCI_PaletteIndex:
        return ds
    notes.append(tr("{label} is a paletted image: its colours (red, green, blue) are compared, not its colour "
                    "table's index values.", label=label))
    return gdal.Translate(scratch_name(".vrt"), ds, format="VRT", rgbExpand="rgb")


def applies_scale(ds: gdal.Dataset, bands: list[int], found: tuple, label: str, path: str, notes: list) -> bool:
    """Whether the image's VRT applies the scale and offset its bands declare (radar decibels stored as Int16 ×
    100 were compared as stored: the log-ratio refused them as "not decibels", Kappa 0.02 below the float
    twin), said in `notes` either way. Not where a nodata value was given or found, or a border mask: those
    are in stored units, which the scaled bands no longer hold; nor for complex bands."""
    scaled = [band for band in bands if (ds.GetRasterBand(band).GetScale() or 1.0) != 1.0
              or (ds.GetRasterBand(band).GetOffset() or 0.0) != 0.0]
    if not scaled:
        return False
    nodata, _, mask = found
    listed = ", ".join(str(band) for band in scaled)
    if nodata is None and mask is None and not any(gdal.DataTypeIsComplex(ds.GetRasterBand(b).DataType)
                                                   for b in bands):
        notes.append(tr("{label}: band(s) {listed} of '{path}' declare a scale or offset: their values are "
                        "compared as it gives them (physical units).", label=label, path=path, listed=listed))
        return True
    notes.append(tr("{label}: band(s) {listed} of '{path}' declare a scale or offset that the run does not apply, "
                    "as it reads a nodata value or border in stored units: it compares the stored values (the "
                    "same for optical bands; not for radar stored as scaled decibels). To compare the physical "
                    "values, convert the file first (gdal_translate -unscale -ot Float32).", label=label, path=path,
                    listed=listed))
    return False


def select(ds: gdal.Dataset, bands: list[int], nodata: Union[float, list[float], None], keep: list,
           notes: Optional[list] = None, label: str = "", alpha: Optional[int] = None,
           joint: bool = False, border_mask: Optional[str] = None, unscale: bool = False) -> gdal.Dataset:
    """The chosen bands of `ds` as a VRT, with the nodata value when given, masked by its alpha band `alpha`
    (`alpha_band`); complex bands (SAR SLC) as their intensity |z|², noted in `notes`. A nodata value is
    GDAL's, band by band (a pixel with one band at it has no data); a `joint` one (a border or fill found
    in every band at once) only where every band holds it, through GDAL's NODATA_VALUES: the white of a
    rendering's fill is also the top of its contrast stretch in one band or another, and a bright roof
    clipped in its red band is data. A list gives each band its own value. A `border_mask` file
    (raster.border_mask) is the mask of every band instead, the file's nodata value then set aside (no pixel
    holds it). With `unscale`, float32 bands in the units their scale and offset give (`applies_scale`). The
    VRT points at its source: `keep` holds both alive as long as the pair is open."""
    as_data = alpha is None and _flagged_alpha(ds) is not None   # GDAL would still mask and warp by it
    mask = alpha if alpha and nodata is None else "none" if as_data else "auto"   # alpha 0: no data
    each = nodata if isinstance(nodata, list) else None
    if isinstance(nodata, float) and math.isnan(nodata) and all(_integer_range(ds, band) for band in bands):
        nodata = "none"   # no integer pixel is NaN: GDAL would cast it to 0 and mask every real 0
    per_dataset = joint and len(bands) > 1
    selected = gdal.Translate(scratch_name(".vrt"), ds, format="VRT", bandList=bands,
                              noData="none" if per_dataset or border_mask or each else nodata, maskBand=mask,
                              options=["-colorinterp", ",".join(["undefined"] * len(bands))] if as_data else [],
                              unscale=unscale, outputType=gdal.GDT_Float32 if unscale else gdal.GDT_Unknown)
    if per_dataset:
        selected.SetMetadataItem("NODATA_VALUES", " ".join([repr(float(nodata))] * len(bands)))
    for index, value in enumerate(each or [], start=1):
        selected.GetRasterBand(index).SetNoDataValue(value)
    keep.extend((ds, selected))
    if border_mask:
        keep.append(gdal.Open(border_mask))   # its file is removed with the pair's
        selected = with_mask(selected, border_mask)
        keep.append(selected)
    complex_bands = [(band, gdal.GetDataTypeName(ds.GetRasterBand(band).DataType)) for band in bands
                     if gdal.DataTypeIsComplex(ds.GetRasterBand(band).DataType)]
    if not complex_bands:
        return selected
    intensity = _intensity(selected)
    keep.append(intensity)
    if notes is not None:
        listed = ", ".join(f"{band} ({kind})" for band, kind in complex_bands)
        notes.append(tr("{label}: complex band(s) {listed} (SAR SLC) are taken as their intensity |z|².",
                        label=label, listed=listed))
    return intensity


def _intensity(selected: gdal.Dataset) -> gdal.Dataset:
    """The VRT `selected` with each complex band replaced by GDAL's `intensity` pixel function (float32
    |z|² = re² + im²), read on demand like the rest: warping a complex band directly keeps only its
    real part, a map of the phase rather than of the backscatter."""
    def derive(root: ElementTree.Element) -> None:
        for band in root.iter("VRTRasterBand"):
            if band.get("dataType", "").startswith("C"):
                band.set("dataType", "Float32")
                band.set("subClass", "VRTDerivedRasterBand")
                ElementTree.SubElement(band, "PixelFunctionType").text = "intensity"
                ElementTree.SubElement(band, "SourceTransferType").text = "CFloat64"
    return edited_vrt(selected, derive)


FILL_MAGNITUDE = 1e300   # ±1.797e308, the largest doubles: a fill (ArcGIS's default nodata), read as no data


def check_float_range(ds: gdal.Dataset, bands: list[int], nodata: Optional[float], label: str, path: str,
                      sample: Callable[[], np.ndarray]) -> None:
    """Refuse 64-bit floating-point values beyond float32's range, in which the images are compared: they would
    read as infinite, that is as no data, and the run would end saying the overlap holds almost no valid pixel.
    Read decimated, as `sample` gives the bands (a file's stored statistics may be stale: a copy carries its
    source's); the nodata value (NODATA given for the run, else the file's) and the largest doubles, a fill
    that reads as no data as it should, are skipped."""
    largest = float(np.finfo(np.float32).max)
    wide = [band for band in bands if ds.GetRasterBand(band).DataType == gdal.GDT_Float64]
    if not wide:
        return
    read = sample()
    for band in wide:
        values = read[bands.index(band)]
        missing = ds.GetRasterBand(band).GetNoDataValue() if nodata is None else nodata
        size = np.abs(values)
        beyond = values[np.isfinite(values) & (size > largest) & (size < FILL_MAGNITUDE) & (values != missing)]
        if beyond.size:
            raise InputError(tr("{label}: band {band} of '{path}' holds values such as {value:g}, beyond the 32-bit "
                                "floating-point range (±{largest:.1e}) the images are compared in: rescale it (for "
                                "example with gdal_calc.py), or, if such a value marks missing data, declare it as "
                                "the nodata value, and run again.", label=label, band=band, path=path,
                                value=float(beyond[np.argmax(np.abs(beyond))]), largest=largest))


INFINITE_SHARE = 0.001   # of an image: a few infinite pixels are noise, a region of them is missing ground


def name_infinite(ds: gdal.Dataset, bands: list[int], label: str, path: str, notes: list,
                  sample: Callable[[], np.ndarray]) -> None:
    """Say when a floating-point image holds infinite values over a region inside it: they read as no data, so
    those places get no map. The decibels of an intensity of 0 are −∞, and in a flood that is the water: a radar
    image so delivered lost half its flood to no data, without a word. Regions that reach the image's edge are
    left out (outside a swath, no data is what they are)."""
    if not any(ds.GetRasterBand(band).DataType in (gdal.GDT_Float32, gdal.GDT_Float64) for band in bands):
        return
    infinite = np.isinf(sample()).any(axis=0)
    infinite &= ~edge_regions(infinite)
    if infinite.mean() >= INFINITE_SHARE:
        notes.append(tr("{label}: {percent:.1f} % of '{path}' is infinite (−∞ is the decibels of an intensity of 0, "
                        "such as calm water) and reads as no data, so those places get no map: replace it with the "
                        "band's lowest value (QGIS: Raster Calculator) or give the image in linear units.",
                        label=label, percent=100 * float(infinite.mean()), path=path))


@dataclass(frozen=True)
class CheckedImage:
    """One image's bands as they will be compared: the chosen ones, its alpha band, its nodata value (given or
    found: one, or one per band), whether that counts only where every band holds it, a border mask file, and
    whether its scale and offset are applied (`select`'s arguments, settled once)."""

    label: str
    bands: list[int]
    alpha: Optional[int]
    nodata: Union[float, list[float], None]
    joint: bool
    mask: Optional[str]
    unscale: bool

    def selected(self, ds: gdal.Dataset, keep: list, notes: list) -> gdal.Dataset:
        """`select` of `ds` (the image, or a VRT of it that gives it a shared grid's georeferencing)."""
        return select(ds, self.bands, self.nodata, keep, notes, self.label, self.alpha, self.joint, self.mask,
                      self.unscale)


def checked_image(ds: gdal.Dataset, chosen: list[int], alpha: Optional[int], nodata: Optional[float], number: int,
                  path: str, notes: list) -> CheckedImage:
    """Image T`number`'s values checked and its nodata settled, for its `chosen` bands and `alpha` band
    (`chosen_bands`, `alpha_band`: asked of both images first, as the cheaper refusals), what the analyst should
    know added to `notes`."""
    label = f"T{number}"
    # The range and border checks read the same decimated bands: once, and only if one needs them.
    sample = functools.cache(lambda: read_or_explain(label, path, lambda: decimated(ds, chosen)))
    check_nodata(ds, chosen, nodata, number, notes)
    check_float_range(ds, chosen, nodata, label, path, sample)
    name_infinite(ds, chosen, label, path, notes, sample)
    if all(ds.GetRasterBand(band).DataType == gdal.GDT_Byte for band in chosen):   # masks come as 8-bit
        check_not_a_mask(sample(), [ds.GetRasterBand(band).GetNoDataValue() if nodata is None else nodata
                                    for band in chosen], label, path)
    found = found_nodata(ds, chosen, nodata, alpha, number, path, notes, sample)
    unscale = applies_scale(ds, chosen, found, label, path, notes)
    return CheckedImage(label, chosen, alpha, *found, unscale)
