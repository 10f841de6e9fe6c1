"""GDAL's in-memory files (/vsimem) that a run's VRTs and masks live in: named in one place, and removed.

A VRT built on another dataset is given a file name so that GDAL can reopen its sources by name (a VRT of
complex bands is rewritten through its XML, raster.image_values._intensity). Nothing removed those files: every
run, and each read of the reference (once per tile, and at each move of the dock's threshold slider), left
its own in the process's memory for the rest of a QGIS session.
"""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Optional
from xml.etree import ElementTree

from osgeo import gdal

PREFIX = "/vsimem/oaip_"
_made: ContextVar[Optional[list]] = ContextVar("oaip_scratch_made", default=None)


def scratch_name(suffix: str) -> str:
    """A new in-memory file name of this module's own."""
    name = f"{PREFIX}{uuid.uuid4().hex}{suffix}"
    made = _made.get()
    if made is not None:
        made.append(name)
    return name


@contextlib.contextmanager
def removed_on_failure() -> Iterator[None]:
    """Remove the in-memory files named inside the block (by this thread or task only: a run beside it keeps
    its own) when the block raises: a refused input left the VRTs made before the refusal (a paletted image's
    colours) in the process."""
    token = _made.set([])
    try:
        yield
    except BaseException:
        remove_scratch(_made.get())
        raise
    finally:
        _made.reset(token)


def remove_scratch(names: Iterable[str]) -> None:
    """Remove those of `names` that scratch_name made (an input's own path is never touched), once nothing
    has them open."""
    for name in names:
        if name.startswith(PREFIX) and gdal.VSIStatL(name) is not None:
            gdal.Unlink(name)


def edited_vrt(vrt: gdal.Dataset, edit: Callable[[ElementTree.Element], None]) -> gdal.Dataset:
    """A copy of the VRT `vrt` with its XML changed in place by `edit`, opened from an in-memory file of its own (so
    that GDAL reopens its sources by name, read on demand)."""
    root = ElementTree.fromstring(vrt.GetMetadata("xml:VRT")[0])
    edit(root)
    name = scratch_name(".vrt")
    gdal.FileFromMemBuffer(name, ElementTree.tostring(root))
    return gdal.Open(name)
