"""GDAL's in-memory files (/vsimem) that a run's VRTs and masks live in: named in one place, and removed.

A VRT built on another dataset is given a file name so that GDAL can reopen its sources by name (a VRT of
complex bands is rewritten through its XML, raster.align._intensity). Nothing removed those files: every
run, and each read of the reference (once per tile, and at each move of the dock's threshold slider), left
its own in the process's memory for the rest of a QGIS session.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable

from osgeo import gdal

PREFIX = "/vsimem/oaip_"


def scratch_name(suffix: str) -> str:
    """A new in-memory file name of this module's own."""
    return f"{PREFIX}{uuid.uuid4().hex}{suffix}"


def remove_scratch(names: Iterable[str]) -> None:
    """Remove those of `names` that scratch_name made (an input's own path is never touched), once nothing
    has them open."""
    for name in names:
        if name.startswith(PREFIX) and gdal.VSIStatL(name) is not None:
            gdal.Unlink(name)
