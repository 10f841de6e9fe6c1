"""Exceptions the engine raises; front ends turn them into their own error types."""
from __future__ import annotations

import re

from .i18n import tr

# How torch ("DefaultCPUAllocator: not enough memory"), GDAL ("Out of memory") and the C library
# ("Cannot allocate memory") word an exhausted memory limit when they raise RuntimeError/OSError.
_OUT_OF_MEMORY = re.compile(r"not enough memory|can't allocate memory|cannot allocate memory|out of memory",
                            re.IGNORECASE)


class OaipError(Exception):
    """Base class: a run could not be completed; the message names the problem for the analyst."""


class InputError(OaipError):
    """The inputs (rasters, bands, vectors, parameters) cannot be used as given."""


class ResourceError(OaipError):
    """The machine ran out of something the run needs (disk space, memory); nothing was written."""


class Cancelled(OaipError):
    """The caller asked the run to stop; nothing was written."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` says that memory ran out, whichever library raised it."""
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError | OSError)
                                            and bool(_OUT_OF_MEMORY.search(str(exc))))


def memory_advice() -> str:
    """What the analyst can do when memory ran out, in their language."""
    return tr("Memory ran out during the run: draw an area of interest (AOI) around the place you need, "
              "or choose a larger output pixel size, so that fewer pixels are processed.")
