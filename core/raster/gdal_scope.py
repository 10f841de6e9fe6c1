"""GDAL settings that core needs, in force during core's calls only.

Two of GDAL's settings are process-wide, and inside QGIS, QGIS itself and other plugins share them:
the bindings' exception switch (others may rely on the old "return None" behaviour) and the block
cache size (GDAL's default is 5 % of the RAM: 1.15 GiB on a 23 GiB machine, which a run over a
large warped pair fills, so the peak memory followed the machine rather than the image). Core turns
exceptions on and caps the cache for the length of one call, and puts back what it found. Both
settings are process-wide in GDAL 3.6, so Python code on other threads sees them during a run too
(a dock run is a background task); outside runs nothing is changed.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from osgeo import gdal, ogr, osr

F = TypeVar("F", bound=Callable)
CACHE_BYTES = 256 * 2**20   # windows are read once or twice: a larger cache buys little


@contextmanager
def gdal_scope() -> Iterator[None]:
    """Exceptions on for gdal, ogr and osr and the block cache at most CACHE_BYTES within the block;
    the previous settings restored on the way out (nested scopes change nothing)."""
    modules = (gdal, ogr, osr)
    before = [module.GetUseExceptions() for module in modules]
    cache = gdal.GetCacheMax()
    for module in modules:
        module.UseExceptions()
    gdal.SetCacheMax(min(cache, CACHE_BYTES))
    try:
        yield
    finally:
        gdal.SetCacheMax(cache)
        for module, was_on in reversed(list(zip(modules, before))):  # GDAL stacks their error handlers
            if not was_on:
                module.DontUseExceptions()


def in_gdal_scope(function: F) -> F:
    """Decorator form of gdal_scope() for core's public entry points."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with gdal_scope():
            return function(*args, **kwargs)
    return wrapper  # type: ignore[return-value]
