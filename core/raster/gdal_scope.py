"""GDAL settings that core needs, in force during core's calls only.

Two of GDAL's settings are process-wide, and inside QGIS, QGIS itself and other plugins share them:
the bindings' exception switch (others may rely on the old "return None" behaviour) and the block
cache size (GDAL's default is 5 % of the RAM: 1.15 GiB on a 23 GiB machine, which a run over a
large warped pair fills, so the peak memory followed the machine rather than the image). Core turns
exceptions on and caps the cache for the length of one call, and puts back the process's own settings
when the last of overlapping calls (a dock run beside a toolbox run) ends. Both
settings are process-wide in GDAL 3.6, so Python code on other threads sees them during a run too
(a dock run is a background task); outside runs nothing is changed.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from osgeo import gdal, ogr, osr

from ..process_setting import SharedSetting

F = TypeVar("F", bound=Callable)
CACHE_BYTES = 256 * 2**20   # windows are read once or twice: a larger cache buys little
MODULES = (gdal, ogr, osr)


def _own() -> tuple[list[bool], int]:
    return [module.GetUseExceptions() for module in MODULES], gdal.GetCacheMax()


def _apply(own: tuple[list[bool], int]) -> None:
    for module in MODULES:
        module.UseExceptions()
    gdal.SetCacheMax(min(own[1], CACHE_BYTES))


def _restore(own: tuple[list[bool], int]) -> None:
    gdal.SetCacheMax(own[1])
    for module, was_on in reversed(list(zip(MODULES, own[0]))):  # GDAL stacks their error handlers
        if not was_on:
            module.DontUseExceptions()


_SETTINGS = SharedSetting(_own, _restore)


@contextmanager
def gdal_scope() -> Iterator[None]:
    """Exceptions on for gdal, ogr and osr and the block cache at most CACHE_BYTES within the block;
    the process's own settings restored when the last overlapping scope ends (nested scopes change
    nothing; core.process_setting)."""
    with _SETTINGS.held(_apply):
        yield


@contextmanager
def exceptions_off() -> Iterator[None]:
    """The bindings' exceptions off within the block, for a call whose errors the caller collects itself: a
    dataset's release, where a raised error can only be printed by Python, not caught. GDAL stacks the three
    modules' handlers, so they are turned off from the top down and on again from the bottom up."""
    was_on = [module.GetUseExceptions() for module in MODULES]
    for module, on in reversed(list(zip(MODULES, was_on))):
        if on:
            module.DontUseExceptions()
    try:
        yield
    finally:
        for module, on in zip(MODULES, was_on):
            if on:
                module.UseExceptions()


def in_gdal_scope(function: F) -> F:
    """Decorator form of gdal_scope() for core's public entry points."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with gdal_scope():
            return function(*args, **kwargs)
    return wrapper  # type: ignore[return-value]
