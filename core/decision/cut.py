"""The change map at one threshold, tallied window by window as it is written.

One rule for the run and for a later re-threshold (core.rethreshold, the dock's slider): a pixel is
changed where its score is above the threshold; a pixel without a valid score is nodata, never
changed. The tally gives stats.json's changed fraction and area and the accuracy against a reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..metrics import StreamingAccuracy
from ..raster.areas import change_extent
from ..raster.grid import Grid, Window
from ..raster.on_grid import read_on_grid

CHANGE_NODATA = 255


@dataclass
class Cut:
    threshold: float
    grid: Grid
    reference: Optional[str] = None    # change mask to measure the accuracy against
    valid_count: int = 0
    # Per grid row, since a pixel's area differs by row on a lat/lon grid.
    changed_rows: np.ndarray = field(init=False)
    accuracy: Optional[StreamingAccuracy] = field(init=False)

    def __post_init__(self) -> None:
        self.changed_rows = np.zeros(self.grid.height, np.int64)
        self.accuracy = StreamingAccuracy() if self.reference else None

    def add(self, window: Window, score: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """The window's change raster (1 changed, 0 unchanged, CHANGE_NODATA where not valid), counted."""
        change = score > self.threshold
        rows = slice(window.row_off, window.row_off + window.height)
        self.changed_rows[rows] += np.count_nonzero(change & valid, axis=1)
        self.valid_count += int(np.count_nonzero(valid))
        if self.accuracy is not None:   # NaN where the reference has no data: left out, not "unchanged"
            truth = read_on_grid(self.reference, self.grid, window)
            self.accuracy.update(score[valid], change[valid], truth[valid])
        return np.where(valid, change, CHANGE_NODATA).astype(np.uint8)

    def marked_share(self) -> float:
        """The share of the valid pixels marked changed, unrounded (an AOI's evidence.within)."""
        return float(self.changed_rows.sum() / max(self.valid_count, 1))

    def figures(self) -> dict:
        """stats.json's changed_fraction, changed_area (m²), valid_pixels and metrics (None without a reference)."""
        return {**change_extent(self.changed_rows, self.valid_count, self.grid), "valid_pixels": self.valid_count,
                "metrics": self.accuracy.result() if self.accuracy is not None else None}
