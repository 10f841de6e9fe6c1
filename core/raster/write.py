"""Outputs written completely or not at all: temporary names beside the targets, renamed on success."""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Optional

import numpy as np
from osgeo import gdal

from ..errors import InputError
from .grid import Grid, Window

GTIFF_OPTIONS = ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"]
GDAL_TYPES = {"uint8": gdal.GDT_Byte, "float32": gdal.GDT_Float32, "int16": gdal.GDT_Int16}


class RasterSink:
    """One GeoTIFF being written window by window under its temporary name."""

    def __init__(self, path: str, grid: Grid, dtype: str, nodata: Optional[float], bands: int) -> None:
        self.path = path
        self._ds = gdal.GetDriverByName("GTiff").Create(path, grid.width, grid.height, bands, GDAL_TYPES[dtype],
                                                        options=GTIFF_OPTIONS)
        self._ds.SetGeoTransform(grid.transform)
        if grid.crs_wkt:
            self._ds.SetProjection(grid.crs_wkt)
        if nodata is not None:
            for band in range(1, bands + 1):
                self._ds.GetRasterBand(band).SetNoDataValue(nodata)

    def write(self, window: Window, array: np.ndarray) -> None:
        data = array.reshape(-1, window.height, window.width)
        for band, values in enumerate(data, start=1):
            self._ds.GetRasterBand(band).WriteArray(values, window.col_off, window.row_off)

    def read(self, window: Window, band: int = 1) -> np.ndarray:
        return self._ds.GetRasterBand(band).ReadAsArray(window.col_off, window.row_off, window.width, window.height)

    def flush(self) -> None:
        self._ds.FlushCache()

    def close(self) -> None:
        """Finish the file (GeoTIFF writes its directory on close); another reader may open it after this."""
        self._ds = None


def _temporary(target: str) -> str:
    path = Path(target)
    return str(path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.partial{path.suffix}"))


class OutputSet:
    """All outputs of one run: renamed into place together on success, deleted on any failure or cancel."""

    def __init__(self, overwrite: bool = True) -> None:
        self.overwrite = overwrite
        self._pending: list[tuple[str, str]] = []
        self._sinks: list[RasterSink] = []
        self._scratch: Optional[str] = None

    def _claim(self, target: str) -> str:
        target = os.path.abspath(target)
        folder = os.path.dirname(target)
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise InputError(f"The output '{target}' cannot be written: its folder does not exist or is read-only.")
        if os.path.exists(target) and not self.overwrite:
            raise InputError(f"The output '{target}' exists already; allow overwriting or choose another name.")
        temp = _temporary(target)
        self._pending.append((temp, target))
        return temp

    def raster(self, path: Optional[str], grid: Grid, dtype: str, nodata: Optional[float],
               bands: int = 1) -> Optional[RasterSink]:
        if not path:
            return None
        is_scratch = self._scratch is not None and os.path.dirname(path) == self._scratch
        sink = RasterSink(path if is_scratch else self._claim(path), grid, dtype, nodata, bands)
        self._sinks.append(sink)
        return sink

    def file(self, path: Optional[str]) -> Optional[str]:
        """Temporary path for a non-raster output (JSON, GeoPackage); renamed with the rest."""
        if not path:
            return None
        for temp, target in self._pending:
            if target == os.path.abspath(path):
                return temp
        return self._claim(path)

    def scratch(self, name: str) -> str:
        """A path for an intermediate file that is deleted at the end whatever happens."""
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="oaip_")
        return os.path.join(self._scratch, name)

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for sink in self._sinks:
            sink.close()
        try:
            if exc_type is None:
                for temp, target in self._pending:
                    if os.path.exists(temp):
                        os.replace(temp, target)
        finally:
            for temp, _ in self._pending:
                if os.path.exists(temp):
                    os.remove(temp)
            if self._scratch:
                shutil.rmtree(self._scratch, ignore_errors=True)
