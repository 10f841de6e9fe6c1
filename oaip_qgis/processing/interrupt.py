"""What cancels a running algorithm besides the toolbox's Cancel: Ctrl-C in a terminal, and the plugin's unload.

qgis_process --json (as `make detect`, `make demo` and `make batch` run it) ignores SIGINT, which plain qgis_process
takes as a cancel: a Ctrl-C in the terminal left a detection running to its end (a minute of training after it,
measured), and in a batch it stopped only the local Dask workers, which share the terminal's process group.
While an algorithm runs on the main thread (qgis_process, or processing.run from QGIS's Python console), SIGINT sets
the run's feedback to cancelled; the engine checks it between its steps and stops with its one sentence. The toolbox
runs algorithms on a background thread, where Python cannot take signals, and its own Cancel button serves.

Unloading the plugin (or Plugin Reloader) while a toolbox run went on left it running: a batch wrote all its pairs
and its summary after the plugin was gone. Every run is registered while it goes, and unload cancels them.
"""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from qgis.core import QgsProcessingFeedback

_RUNNING: set[QgsProcessingFeedback] = set()


@contextmanager
def cancelled_on_unload(feedback: QgsProcessingFeedback) -> Iterator[None]:
    """Within the block, `cancel_running` (the plugin's unload) cancels `feedback`."""
    _RUNNING.add(feedback)
    try:
        yield
    finally:
        _RUNNING.discard(feedback)


def cancel_running() -> None:
    """Cancel every run of the plugin's algorithms still going; each stops at its next step."""
    for feedback in list(_RUNNING):
        feedback.cancel()


@contextmanager
def ctrl_c_cancels(feedback: QgsProcessingFeedback) -> Iterator[None]:
    """Within the block, SIGINT cancels `feedback` (on the main thread only); the earlier handler comes back after.
    A handler set outside Python (None to Python, which could not put it back) is left as it is."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    earlier = signal.signal(signal.SIGINT, lambda number, frame: feedback.cancel())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, earlier)
