"""The nodata an image is read with when the file does not say all of it: a border or fill found by the rules
(raster.border, raster.fill_value), given to GDAL as a value, one value per band, or a mask at the image's own
pixels (raster.border_mask), and said in the run's notes. image_values.checked_image asks once per image."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Optional, Union

import numpy as np
from osgeo import gdal

from ..i18n import tr
from .border import FADE, SPECKLE, undeclared_border
from .border_mask import write_border_mask
from .fill_value import undeclared_fill


def found_nodata(ds: gdal.Dataset, bands: list[int], nodata: Optional[float], alpha: Optional[int], number: int,
                 path: str, notes: list, sample: Callable[[], np.ndarray]
                 ) -> tuple[Union[float, list[float], None], bool, Optional[str]]:
    """The nodata value to read image `number` with, whether it is found rather than given, and the mask file
    that takes its place where the border's value is ground too (raster.border_mask): the user's value, or the
    constant border or fill held by an image that marks nothing as no data, or whose declared nodata value no
    pixel holds (a file declaring −9999 whose swath edge is 0) (raster.border, raster.fill_value), noted in
    `notes`; None for neither (the file's own value, if any, then stands). A found value is no data only
    where every band holds it, as the rules found it (image_values.select); bands stacked with fills of their own
    get one value each (`_each_band_bordered`). sample: the bands read decimated (read once per image, see
    image_values.checked_image)."""
    flags = [ds.GetRasterBand(band).GetMaskFlags() for band in bands]
    if nodata is not None or alpha is not None or any(f not in (gdal.GMF_ALL_VALID, gdal.GMF_NODATA) for f in flags):
        return nodata, False, None
    values = sample()
    declared = [ds.GetRasterBand(band).GetNoDataValue() for band in bands]
    if gdal.GMF_NODATA in flags:
        if any(_holds(band, value) for band, value in zip(values, declared) if value is not None):
            return None, False, None
        why = tr("no pixel holds the nodata value the file declares ({value:g})",
                 value=next(value for value in declared if value is not None))
    else:
        why = tr("the file declares no nodata value")
    fade = math.ceil(FADE * values.shape[-1] / ds.RasterXSize) if _lossy(ds, bands) else 0
    border = undeclared_border(values, fade)
    fill = undeclared_fill(values) if border is None else None
    each = _each_band_bordered(values, fade) if border is None and fill is None else None
    if (border or fill or each) and gdal.GMF_NODATA in flags and _declared_held(ds, bands):
        return None, False, None   # the decimated read missed the declared value's pixels: it stands
    if each:
        notes.append(tr("T{number}: each band of '{path}' has a border of its own value along its edge ({listed}), "
                        "beside ordinary values, and {why}: each is taken as no data in its band (bands stacked "
                        "from files of different fills). Set NODATA{number} to nan (no value is no data) to compare "
                        "them as data.", number=number, path=path, why=why, listed=", ".join(
                            tr("band {band}: {value:g}", band=band, value=value) for band, value in zip(bands, each))))
        return each, False, None
    if border is None:
        if fill is not None:
            notes.append(tr("T{number}: {percent:.1f} % of '{path}' is {value:g} in every band, far outside its other "
                            "values ({low:g} to {high:g}), and {why}: it is taken as no data (a fill). Set "
                            "NODATA{number} to nan (no value is no data) to compare it as data.",
                            number=number, percent=100 * fill.share, path=path, value=fill.value, low=fill.low,
                            high=fill.high, why=why))
            return fill.value, True, None
        return None, False, None
    if not border.exact:
        notes.append(tr("T{number}: '{path}' is {value:g} in every band along its edge, faded into the ground by its "
                        "lossy compression, and {why}: that border and the {beside} pixels beside it, {percent:.1f} % "
                        "of the image, are taken as no data (a map export's or a warped image's corners, or water "
                        "clipped to {value:g} at the edge). Set NODATA{number} to nan (no value is no data) to compare "
                        "it as data.", number=number, percent=100 * border.share, path=path, value=border.value,
                        why=why, beside=math.ceil((fade + SPECKLE) * ds.RasterXSize / values.shape[-1])))
        return None, False, write_border_mask(ds, bands, border, f"T{number}", path)
    highest = values.dtype.kind in "iu" and border.value >= values.max()   # the white-corner rule's value
    what = (tr("a map export's corners where it held no ground, or saturated cloud cut by the image's edge")
            if highest else tr("the ground outside a swath, a warped image's corners, or what a clip to a polygon "
                               "left around the data"))
    if border.region is not None:
        scattered = (tr("saturated highlights") if highest
                     else tr("calm water after thermal-noise removal, or deep shadow"))
        notes.append(tr("T{number}: {percent:.1f} % of '{path}' along its edge is {value:g} in every band, beside "
                        "ordinary values, and {why}: it is taken as no data ({what}). Another {inside} % of the "
                        "image is {value:g} inside it, scattered ({scattered}): that is compared as data. Set "
                        "NODATA{number} to {value:g} to leave all of it out, or to nan (no value is no data) to "
                        "compare the edge as data too.", number=number, percent=100 * border.share, path=path,
                        value=border.value, why=why, what=what, scattered=scattered,
                        inside=f"{100 * border.inside:.2f}" if border.inside >= 1e-4 else "< 0.01"))
        return None, False, write_border_mask(ds, bands, border, f"T{number}", path)
    notes.append(tr("T{number}: {percent:.1f} % of '{path}' along its edge is {value:g} in every band, beside "
                    "ordinary values, and {why}: it is taken as no data ({what}). Set NODATA{number} to nan (no "
                    "value is no data) to compare it as data.",
                    number=number, percent=100 * border.share, path=path, value=border.value, why=why, what=what))
    return border.value, True, None


def _each_band_bordered(values: np.ndarray, fade: int) -> Optional[list[float]]:
    """Each band's own border value when every band of a stack has one but they share none (VV with a 0 edge
    stacked with VH at −9999: compared as data, Kappa 0.53 against 0.79, without a word); None otherwise.
    Plain value borders only, found by the whole-region rules: no mask is built band by band, so a band whose
    value the ground also holds, scattered, gets it as no data everywhere where those rules take it (its calm
    water's zeros too), and none where they do not. Asked for a border among specks, such a band (an integer
    VV at 0 beside VH at 1) got a region no value can give, and the stack's edges were compared as data."""
    if values.shape[0] < 2:
        return None
    each = [undeclared_border(band[None], fade, among_specks=False) for band in values]
    return [b.value for b in each] if all(b is not None and b.region is None for b in each) else None


def _lossy(ds: gdal.Dataset, bands: list[int]) -> bool:
    """Whether the image is compressed with loss (a .jpg, a GeoTIFF or COG in JPEG, 'YCbCr JPEG' included, a
    lossy WEBP or JPEG 2000): a border of it fades."""
    held = [ds] + [ds.GetRasterBand(band) for band in bands]
    kinds = [(h.GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE") or "").upper() for h in held]
    reversibility = [(h.GetMetadataItem("COMPRESSION_REVERSIBILITY", "IMAGE_STRUCTURE") or "").upper() for h in held]
    if any(r.startswith("LOSSLESS") for r in reversibility):
        return False
    return "LOSSY" in reversibility or any("JPEG" in kind for kind in kinds)


def _declared_held(ds: gdal.Dataset, bands: list[int]) -> bool:
    """Whether any pixel of the bands, read whole, is masked by the file's declared nodata value (the decimated
    read may miss a few scattered ones): only asked when a border or fill would replace that value."""
    return any(ds.GetRasterBand(band).GetMaskBand().ComputeRasterMinMax(False)[0] == 0 for band in bands)


def _holds(values: np.ndarray, value: float) -> bool:
    """Whether a band's decimated values hold `value` (NaN too)."""
    return bool(np.isnan(values).any() if math.isnan(value) else (values == value).any())
