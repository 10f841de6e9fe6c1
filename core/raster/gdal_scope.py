"""GDAL, OGR and OSR raise Python exceptions inside core's calls, and only there.

The bindings' exception switch is process-wide: inside QGIS, QGIS itself and other plugins share it
and may rely on the old "return None" behaviour. So core turns exceptions on for the length of one
call and puts back what it found, rather than switching them on at import.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from osgeo import gdal, ogr, osr

F = TypeVar("F", bound=Callable)


@contextmanager
def gdal_exceptions() -> Iterator[None]:
    """Exceptions on for gdal, ogr and osr within the block; each module's previous setting restored."""
    modules = (gdal, ogr, osr)
    before = [module.GetUseExceptions() for module in modules]
    for module in modules:
        module.UseExceptions()
    try:
        yield
    finally:
        for module, was_on in reversed(list(zip(modules, before))):  # GDAL stacks their error handlers
            if not was_on:
                module.DontUseExceptions()


def with_gdal_exceptions(function: F) -> F:
    """Decorator form of gdal_exceptions() for core's public entry points."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with gdal_exceptions():
            return function(*args, **kwargs)
    return wrapper  # type: ignore[return-value]
