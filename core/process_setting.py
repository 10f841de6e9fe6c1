"""A process-wide setting that runs change for their length and put back after, when runs overlap.

GDAL's exception switch and block cache, and torch's thread count, belong to the whole process; in QGIS a
dock run, a re-threshold and a Processing run may each hold them at once, on their own threads. Each had
put back what it found on entering, so with A entering, B entering, then A leaving, B ran on without them,
and B's leaving left A's values set for good. Here the first to enter saves the process's own value, each
entrant applies its value, and the last to leave restores the saved one. Values that differ between
holders (torch's thread count) are the latest entrant's while they overlap: one pool serves them all.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


class SharedSetting:
    """One process-wide setting: `save()` reads the process's own value, `restore(value)` puts it back."""

    def __init__(self, save: Callable[[], Any], restore: Callable[[Any], None]) -> None:
        self._save, self._restore = save, restore
        self._lock = threading.Lock()
        self._holders = 0
        self._saved: Any = None

    @contextmanager
    def held(self, apply: Callable[[Any], None]) -> Iterator[None]:
        """`apply(saved)` within the block (given the process's own value, to derive a cap from it); the
        process's own value back when the last overlapping block ends."""
        with self._lock:
            if not self._holders:
                self._saved = self._save()
            try:
                apply(self._saved)
            except BaseException:
                if not self._holders:   # nobody else holds it: the process's own value back
                    self._restore(self._saved)
                raise
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if not self._holders:
                    self._restore(self._saved)
