"""Reading a single-band raster strip by strip: the change, difference and region layers are never
read whole, so memory follows the image's width, not its size."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

import numpy as np

STRIP_ROWS = 512


def strips(height: int) -> Iterator[tuple[int, int]]:
    """(first row, rows) of the strips that cover `height` rows."""
    for row in range(0, height, STRIP_ROWS):
        yield row, min(STRIP_ROWS, height - row)


def valid_values(values: np.ndarray, nodata: Optional[float]) -> np.ndarray:
    """Where a strip holds data: finite and not the band's nodata value."""
    valid = np.isfinite(values)
    return valid if nodata is None else valid & (values != nodata)
