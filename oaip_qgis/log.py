"""The plugin's tab in QGIS's log panel, shared by the run and the install tasks, and how a task that has ended is
handed to whoever started it."""
from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Optional

from qgis.core import Qgis, QgsMessageLog

LOG_TAG = "OAIP"


def hand_over(task: object, on_finished: Optional[Callable[[object], None]], failure: str) -> None:
    """Main thread, from a task's finished(): call `on_finished` with the task; what it raises is logged under
    `failure` (a translated template with {details}), never let out: an exception out of a C++ virtual can abort
    QGIS."""
    if on_finished is None:
        return
    try:
        on_finished(task)
    except Exception:  # noqa: BLE001 (whatever the handler raises, QGIS must not see it)
        QgsMessageLog.logMessage(failure.format(details=traceback.format_exc()), LOG_TAG, Qgis.Critical)
