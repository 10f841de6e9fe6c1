"""Whether a file given to a run can be read as what it is given for, said before any work: a raster
(T1, T2), a change mask (the reference), a vector layer (samples, AOI). Each failure is one sentence
naming the file and what to do; align.py opens the rasters through `open_raster`.
"""
from __future__ import annotations

import os
import re
import threading
import zipfile
from collections.abc import Callable, Sequence
from typing import Optional

import numpy as np
from osgeo import gdal

from ..errors import InputError, ResourceError, is_out_of_memory, memory_advice
from ..i18n import tr
from .gdal_scope import in_gdal_scope
from .vector_layer import layer_source, open_layer, split_source

# A driver's own name for part of a file (NETCDF:"f.nc":Band1, HDF5:..., as QGIS gives a subdataset's source):
# the part is no file name, so GDAL says whether it exists. One letter and a colon is a Windows drive.
SUBDATASET = re.compile(r"^[A-Z][A-Z0-9_]+:")
# GDAL's path to a file inside a local zip archive: /vsizip/, the archive's path (/vsizip//data/p.zip), the member.
ZIP_MEMBER = re.compile(r"^/vsizip/(.+?\.zip)(?:/+(.*))?$", re.IGNORECASE)
WEB_SERVICES = {"WMS", "WMTS", "WCS", "EEDAI", "PLMOSAIC", "DAAS", "OGCAPI"}   # GDAL drivers of remote services


def gdal_name(path: str) -> bool:
    """Whether `path` names data in GDAL's own syntax (a /vsi… virtual path, a URL, a driver's subdataset) rather
    than a local file: such a name is passed on as written, never joined to a folder or made absolute."""
    path = str(path)
    return path.startswith("/vsi") or "://" in path or bool(SUBDATASET.match(path))


def absolute_source(value: str) -> str:
    """A file's path made absolute, '~' expanded, with QGIS's `|layername=…` after it kept: stats.json records it
    (relative, it held only in the folder the run started in, and a re-threshold's check of what it must not
    overwrite depended on that folder); a GDAL name (/vsizip/…, NETCDF:"f.nc":var) as given."""
    if gdal_name(value):
        return value
    path, options = split_source(os.path.expanduser(value))
    return "|".join([os.path.abspath(path), *options])


# The longest local paths, in bytes, measured with GDAL 3.6: GDAL builds a file's sidecar names (.aux.xml) in
# 2048-byte buffers ("Destination buffer too small" from 2039 bytes on), and SQLite opens a GeoPackage by a path
# under 512 bytes with its journal's "-journal" after it (504 open, 505 do not: "unable to open database file").
GDAL_LONGEST = 2038
SQLITE_FILES = (".gpkg", ".sqlite", ".mbtiles")
SQLITE_LONGEST = 504


def longest_path(path: str) -> Optional[tuple[int, int, str]]:
    """When `path` is longer than what reads it allows: its length in bytes, the most allowed and the reader
    ("GDAL", "SQLite"); else None."""
    length = len(os.fsencode(os.path.abspath(path)))
    if str(path).lower().endswith(SQLITE_FILES) and length > SQLITE_LONGEST:
        return length, SQLITE_LONGEST, "SQLite"
    return (length, GDAL_LONGEST, "GDAL") if length > GDAL_LONGEST else None


def check_utf8_name(path: str, label: str) -> None:
    """Refuse a path that is not UTF-8 text (Latin-1 bytes, as an old zip unpacks 'café'): Python keeps such bytes as
    escapes that GDAL's bindings refuse ("not a string"), so an input was "not a raster that GDAL can read" and an
    output folder failed only when the run wrote into it."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise InputError(tr("{label}: the name '{path}' is not UTF-8 text (as an old zip or another system may write "
                            "one), which GDAL cannot open: rename the file or its folder.", label=label,
                            path=shown)) from None


def _check_file(path: str, label: str, what: str) -> None:
    """A local file that is missing, empty (0 bytes) or a pipe or device, each in its own sentence; `what`:
    "a raster"."""
    check_utf8_name(path, label)
    _check_zip_member(str(path), label)
    local = not gdal_name(path)
    if local and not os.path.exists(path):
        raise InputError(tr("{label}: the file '{path}' does not exist.", label=label, path=path))
    too_long = longest_path(path) if local else None
    if too_long:   # else "not a file that GDAL can read", or a traceback from GDAL's buffers
        length, most, reader = too_long
        raise InputError(tr("{label}: '{path}' cannot be opened: its path is {length} bytes long, and {reader} opens "
                            "a file by a path of at most {most}: move it to a shorter folder or name.", label=label,
                            path=path, length=length, reader=reader, most=most))
    if local and not (os.path.isfile(path) or os.path.isdir(path)):   # GDAL would wait on a pipe for ever
        raise InputError(tr("{label}: '{path}' is not a regular file (a pipe, socket or device): give the file "
                            "itself.", label=label, path=path))
    if local and os.path.isfile(path) and os.path.getsize(path) == 0:
        raise InputError(tr("{label}: '{path}' is an empty file (0 bytes), not {what}: copy or export it again.",
                            label=label, path=path, what=what))


def files_read(source: str) -> list[str]:
    """Every local file a run reads for the input `source`: the file itself (without QGIS's `|layername=`),
    and what GDAL reads with it: a VRT's sources, a shapefile's .dbf and .shx, sidecars. An output must be
    none of them, or the run would replace what it reads. Only regular files are opened (a pipe would
    block); one that GDAL cannot open is left to the input's own check."""
    path, _ = layer_source(source)
    if not os.path.isfile(path):
        return [path]
    try:
        dataset = gdal.OpenEx(path)
        return [path, *((dataset.GetFileList() or []) if dataset is not None else [])]
    except RuntimeError:   # not for GDAL, or a path past its buffers ("Destination buffer too small")
        return [path]


def one_image_twice(t1: str, t2: str, bands1: Optional[Sequence[int]], bands2: Optional[Sequence[int]]) -> bool:
    """Whether T1 and T2 are one file read with the same bands (one file of both dates, read as two band sets, is
    not): the engine and a batch table refuse it alike."""
    return os.path.realpath(t1) == os.path.realpath(t2) and list(bands1 or []) == list(bands2 or [])


def open_raster(path: str, label: str) -> gdal.Dataset:
    """The raster at `path`; a missing file, an empty one and a non-raster each get their own sentence."""
    _check_file(path, label, tr("a raster"))
    try:
        ds = gdal.OpenEx(str(path), gdal.OF_RASTER)
    except RuntimeError as exc:
        _name_zip_members(path, label)
        _name_subdatasets_held(path, label)
        raise InputError(tr("{label}: '{path}' is not a raster that GDAL can read ({reason}).",
                            label=label, path=path, reason=exc)) from exc
    subdatasets = ds.GetMetadata("SUBDATASETS") if ds is not None else {}
    if ds is not None and ds.RasterCount == 0 and subdatasets:
        names = [value for key, value in sorted(subdatasets.items()) if key.endswith("_NAME")]
        raise InputError(tr("{label}: '{path}' holds {count} subdatasets and no band of its own: give one of them, "
                            "e.g. {first} (QGIS lists them when the file is added as a layer).", label=label, path=path,
                            count=len(names), first=names[0]))
    if ds is None or ds.RasterCount == 0:
        _name_zip_members(path, label)
        raise InputError(tr("{label}: '{path}' is not a raster that GDAL can read.", label=label, path=path))
    driver = ds.GetDriver().ShortName
    if driver in WEB_SERVICES:   # read tile by tile over the network, inside the run: slow, or failing offline
        raise InputError(tr("{label}: '{path}' is a web map service (GDAL {driver}), not an image file: export the "
                            "area you need to a GeoTIFF first (QGIS: Export > Save As…, or gdal_translate), then "
                            "run with that file.", label=label, path=path, driver=driver))
    return ds


def _name_subdatasets_held(path: str, label: str) -> None:
    """Refuse a subdataset name (NETCDF:"f.nc":HH) that its file does not hold, listing those it does: GDAL's
    "No such file or directory" named neither."""
    driver = SUBDATASET.pattern   # DRIVER:"file":name, or DRIVER:file:name
    named = re.match(driver + r'"([^"]+)"', str(path)) or re.match(driver + r"([^:]+):", str(path))
    if not named or not os.path.isfile(named.group(1)):
        return
    try:
        held = gdal.OpenEx(named.group(1), gdal.OF_RASTER).GetMetadata("SUBDATASETS")
    except RuntimeError:
        return
    names = [value for key, value in sorted(held.items()) if key.endswith("_NAME")]
    if names:
        raise InputError(tr("{label}: '{file}' holds no subdataset named as in '{path}'; it holds {listed}.",
                            label=label, file=named.group(1), path=path, listed=", ".join(names)))


def _check_zip_member(path: str, label: str) -> None:
    """A /vsizip/ path to a zip archive that is missing, or to a file it does not hold, listing what it holds:
    GDAL says only "not a file that GDAL can read"."""
    named = ZIP_MEMBER.match(path)
    if not named or gdal.VSIStatL(path) is not None:
        return
    archive = named.group(1)
    if not os.path.isfile(archive):
        raise InputError(tr("{label}: the zip archive '{archive}' does not exist.", label=label, archive=archive))
    members = _zip_members(f"/vsizip/{archive}")
    shown = ", ".join(members[:10]) + (", …" if len(members) > 10 else "")
    raise InputError(tr("{label}: the zip archive '{archive}' holds no '{member}'; it holds {shown}.", label=label,
                        archive=archive, member=named.group(2) or "", shown=shown or tr("nothing")))


def _zip_members(inside: str) -> list[str]:
    """The files (not folders) of the zip archive GDAL reads at `inside` (/vsizip/…), by their path in it."""
    return [name for name in gdal.ReadDirRecursive(inside) or [] if not name.endswith("/")]


def _name_zip_members(path: str, label: str) -> None:
    """Refuse a zip archive (as products are downloaded) naming the rasters inside it by the path GDAL reads
    them at; it was called "not a raster" like any other file."""
    if not zipfile.is_zipfile(path):
        return
    inside = f"/vsizip/{os.path.abspath(path)}"
    paths = [f"{inside}/{name}" for name in _zip_members(inside)]
    rasters = [member for member in paths if gdal.IdentifyDriverEx(member, gdal.OF_RASTER)]
    if not rasters:
        raise InputError(tr("{label}: '{path}' is a zip archive without a raster GDAL can read inside: unzip it and "
                            "give the image itself.", label=label, path=path))
    raise InputError(tr("{label}: '{path}' is a zip archive: give the image inside it, e.g. {first} ({count} "
                        "raster(s) inside), or unzip it.", label=label, path=path, first=rasters[0],
                        count=len(rasters)))


@in_gdal_scope
def check_raster(path: str, label: str) -> None:
    """Open `path` once, so that a bad file is named before any work rather than when it is first read."""
    open_raster(path, label)


SAMPLE_SIDE = 1024   # a reference, an alpha band or a border is checked on at most this many pixels a side


_CACHE_CAPPED = threading.Lock()


def decimated(ds: gdal.Dataset, bands: list[int]) -> np.ndarray:
    """Bands `bands` (1-based) read decimated (nearest) to at most SAMPLE_SIDE pixels along the longer side,
    as (len(bands), rows, cols).

    GDAL reads every block that holds a sampled pixel, which for a tiled file is all of them, and each row
    of blocks serves several sampled rows: the cache is held to two rows of blocks meanwhile (all bands, as a
    pixel-interleaved file caches them together). With the run's 256 MiB cache the border check of a 4-band
    10 980² image (raster/border.py) filled it, and the heap it left raised the run's peak RSS from 1.28 to
    1.45–1.52 GiB (bench-scale's tile); with 16 MiB, under one row of its blocks, the read took 250 s more.
    A file's overviews are never read (a cloud-optimised GeoTIFF's: GDAL would serve the decimated read from
    them, averaged, so a 0/255 change mask held 38 values and was refused, and a swath's border was lost)."""
    full = gdal.Translate("", ds, format="VRT", options=["-ovr", "NONE"])
    scale = max(1.0, max(ds.RasterXSize, ds.RasterYSize) / SAMPLE_SIDE)
    cols, rows = max(1, round(ds.RasterXSize / scale)), max(1, round(ds.RasterYSize / scale))
    block_rows = ds.GetRasterBand(1).GetBlockSize()[1]
    pixel_bytes = sum(gdal.GetDataTypeSize(ds.GetRasterBand(b + 1).DataType) // 8 for b in range(ds.RasterCount))
    with _CACHE_CAPPED:   # one capped read at a time: overlapping runs would put back each other's cap
        cache = gdal.GetCacheMax()
        gdal.SetCacheMax(min(cache, max(2 * ds.RasterXSize * block_rows * pixel_bytes, 2**20)))   # 1 MiB at least
        try:
            return np.stack([full.GetRasterBand(band).ReadAsArray(buf_xsize=cols, buf_ysize=rows) for band in bands])
        finally:
            gdal.SetCacheMax(cache)


@in_gdal_scope
def check_mask(path: str, label: str) -> None:
    """Refuse, before any work, a reference that is no change mask: more than one band (an image given
    by mistake), or more than one value besides 0 (a scene, a class map, 1 = unchanged / 2 = changed),
    which would be measured against as if everything not 0 had changed. Read decimated, nearest."""
    ds = open_raster(path, label)
    advice = tr("a change mask is one band holding 0 where nothing changed and one value (1 or 255) where "
                "the land changed")
    if ds.RasterCount != 1:
        raise InputError(tr("{label}: '{path}' has {count} bands, so it is not a change mask: {advice}.",
                            label=label, path=path, count=ds.RasterCount, advice=advice))
    band = ds.GetRasterBand(1)
    values = read_or_explain(label, path, lambda: decimated(ds, [1])[0])
    values = values[np.isfinite(values)] if values.dtype.kind == "f" else values.ravel()
    raw = values
    if band.GetNoDataValue() is not None:
        values = values[values != band.GetNoDataValue()]
    others = np.unique(values[values != 0])
    if others.size > 1:
        raise InputError(tr("{label}: '{path}' holds {count} different values besides 0 ({examples}), so it is not a "
                            "change mask: {advice}.", label=label, path=path, count=others.size,
                            examples=", ".join(f"{v:g}" for v in others[:3]) + (", …" if others.size > 3 else ""),
                            advice=advice))
    if others.size and others[0] < 0:   # measured as reference > 0: a negative "changed" counts as unchanged
        raise InputError(tr("{label}: '{path}' marks change with {value:g}, a negative value, which is read as "
                            "unchanged: {advice}.", label=label, path=path, value=others[0], advice=advice))
    nodata = band.GetNoDataValue()
    if values.size and nodata is not None and (nodata == 0 or not (values != 0).any()) and nodata in raw:
        # the nodata value is one of the mask's two classes: accuracy would be measured on the other alone
        hidden = tr("unchanged") if nodata == 0 else tr("changed")
        raise InputError(tr("{label}: '{path}' declares {nodata:g} as its nodata value, so its {hidden} pixels are no "
                            "data and accuracy would be measured without them: clear the nodata value (QGIS: Raster > "
                            "Conversion > Translate without it; or gdal_edit.py -unsetnodata) and run again.",
                            label=label, path=path, nodata=nodata, hidden=hidden))


def check_not_a_mask(values: np.ndarray, nodata: list[Optional[float]], label: str, path: str) -> None:
    """Refuse an 8-bit image whose bands hold two values at most besides their nodata, one of them two: a change
    mask or reference chosen as T1 or T2 by mistake (the dock lists every raster layer), which was compared as an
    image: italy's reference as T1 gave "change found" at 174× the median, 3.6 % marked, Kappa 0.004 against
    itself. (One value is a blank image, which the run names as such.) values: the chosen bands read decimated;
    nodata: each band's."""
    held = [np.unique(band[band != missing] if missing is not None else band) for band, missing in zip(values, nodata)]
    if all(v.size <= 2 for v in held) and any(v.size == 2 for v in held):
        shown = sorted({float(x) for v in held for x in v})
        raise InputError(tr("{label}: '{path}' holds only the values {values} in every band: it is a mask or a "
                            "change reference, not an image; choose the image of that date (a reference goes in "
                            "REFERENCE).", label=label, path=path, values=tr(" and ").join(f"{v:g}" for v in shown)))


@in_gdal_scope
def check_vector(given: str, label: str) -> list[str]:
    """Why `given` is no vector layer (missing, empty, a raster, unreadable; a layer it names that is not
    there), named before any work: QGIS says "not found" of all of them. Returns a note naming the layer read
    when the file holds several and none is named."""
    path, layer_name = layer_source(given)
    _check_file(path, label, tr("a vector layer"))
    try:
        source = gdal.OpenEx(str(path), gdal.OF_VECTOR)
    except RuntimeError:
        source = None
    if source is not None and source.GetLayerCount() > 0:
        data, layer = open_layer(given, label)
        if layer_name is not None or data.GetLayerCount() < 2:
            return []
        names = [data.GetLayer(i).GetName() for i in range(data.GetLayerCount())]
        return [tr("{label}: '{path}' holds {count} layers ({names}); the first, '{first}', is read: to read another, "
                   "give it as '{path}|layername=…'.", label=label, path=path, count=len(names),
                   names=", ".join(names), first=names[0])]
    try:
        raster = gdal.OpenEx(str(path), gdal.OF_RASTER)
    except RuntimeError:
        raster = None
    kind = tr("a raster") if raster is not None else tr("not a file that GDAL can read")
    raise InputError(tr("{label}: '{path}' is {kind}; a vector layer (GeoPackage, shapefile, …) is needed.",
                        label=label, path=path, kind=kind))


def read_or_explain(label: str, path: str, read: Callable[[], np.ndarray]) -> np.ndarray:
    """Run a read of the raster `path`; a failure names the file (damaged, truncated) or says memory ran out."""
    try:
        return read()
    except RuntimeError as exc:
        if is_out_of_memory(exc):
            raise ResourceError(memory_advice()) from exc
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        source = re.match(r"(.+): No such file or directory$", reason)
        if source and os.path.realpath(source.group(1)) != os.path.realpath(path):
            raise InputError(tr("{label}: '{path}' reads its pixels from '{source}', which is not there (a VRT or "
                                "mosaic whose source files moved): put the file back, or build the mosaic again "
                                "(QGIS: Raster > Miscellaneous > Build Virtual Raster).", label=label, path=path,
                                source=source.group(1))) from exc
        raise InputError(tr("{label}: '{path}' could not be read; the file is damaged or incomplete (GDAL: "
                            "{reason}): copy or export it again.", label=label, path=path, reason=reason)) from exc
