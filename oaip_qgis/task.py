"""The background run: a QgsTask around the engine's one run function.

The task thread only sees a RunParams (paths and values) and returns a RunResult: every QGIS object
(layers, project, widgets) stays on the main thread, where `finished()` hands the outcome back.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import sysconfig
import traceback
from collections.abc import Callable
from typing import Optional

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsTask
from qgis.PyQt.QtCore import pyqtSignal

from .core.errors import Cancelled, OaipError
from .core.params import RunParams
from .core.progress import Progress
from .core.rethreshold import difference_histogram
from .deps.install_task import INSTALL_BUTTON, no_python_message, torch_install
from .deps.pip_install import TORCH_VERSION
from .i18n import tr
from .identity import NAME
from .layers import style_files
from .log import LOG_TAG, hand_over

RunFn = Callable[[RunParams, Progress], object]


def user_install_command(packages: str) -> str:
    """A pip command that installs `packages` into the user site of the Python QGIS runs (QGIS's
    sys.executable is QGIS itself), for the analyst to run in a terminal."""
    if sys.platform == "win32":
        return f"python -m pip install {packages}"
    marker = os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")
    managed = " --break-system-packages" if os.path.exists(marker) else ""  # Debian 12, Ubuntu 23.04+
    return f"python3 -m pip install --user{managed} {packages}"


def torch_missing_message() -> Optional[str]:
    """Why a run cannot start in this QGIS (with the panel's install button and the exact command it
    runs), or None if it can.

    Every mode needs torch (the change prior too), but the plugin itself must load without it, so
    the check looks for the package without importing it.
    """
    if importlib.util.find_spec("torch") is not None:
        return None
    install = torch_install()
    if install is None:
        return tr("PyTorch is not installed in the Python that QGIS uses, and every mode of the detector needs "
                  "it.") + " " + no_python_message()
    if QgsApplication.platform() != "desktop":   # qgis_process, a script: no panel to press a button in
        return tr("PyTorch is not installed in the Python that QGIS uses, and every mode of the detector needs it. "
                  "Install torch {version} (CPU) into {target} with this command, then run again:\n    {command}"
                  ).format(version=TORCH_VERSION, target=install.target, command=install.text())
    return tr("PyTorch is not installed in the Python that QGIS uses, and every mode of the detector needs it. "
              "Press “{button}” in the panel (Raster → OAIP change detection) to install torch {version} "
              "(CPU) into {target}, or run this command yourself, then restart QGIS:\n    {command}").format(
        button=tr(INSTALL_BUTTON), version=TORCH_VERSION, target=install.target, command=install.text())


def unexpected_error(exc: BaseException) -> str:
    """The sentence for a bug, whose traceback goes to the log panel."""
    return tr("Unexpected error: {error}. Details are in the log panel (OAIP).").format(error=repr(exc))


def _pipeline_run(params: RunParams, progress: Progress):
    from .core.pipeline import run  # imports torch: only when a run starts, in the task's thread

    return run(params, progress)


class DetectionTask(QgsTask):
    """One change-detection run off the main thread; the outcome is read in `on_finished`.

    After the task ends exactly one of `result` (a RunResult), `error` (a message for the analyst)
    or `cancelled` describes it.
    """

    message = pyqtSignal(str)  # the engine's current step, delivered to the main thread

    def __init__(self, params: RunParams, on_finished: Optional[Callable[[DetectionTask], None]] = None,
                 description: Optional[str] = None, run_fn: RunFn = _pipeline_run) -> None:
        super().__init__(description or tr(NAME), QgsTask.CanCancel)
        self.params = params
        self.on_finished = on_finished
        self._run_fn = run_fn
        self.result = None
        self.histogram: Optional[list[int]] = None   # of the difference image, for the dock's slider
        self.error: Optional[str] = None
        self.cancelled = False
        self.details = ""

    def _report(self, fraction: float, message: str) -> None:
        self.setProgress(100.0 * fraction)
        if message:
            self.message.emit(message)

    def run(self) -> bool:
        """Runs in the task manager's thread; never raises (an exception here would be lost)."""
        if self._run_fn is _pipeline_run:
            self.error = torch_missing_message()
            if self.error:
                return False
        progress = Progress(report=self._report, is_cancelled=self.isCanceled)
        try:
            self.result = self._run_fn(self.params, progress)
            if self.result is not None:   # here: a run that ends after its project was closed keeps its styles too
                style_files(self.result.outputs)
            if self.result is not None and self.params.out_difference and os.path.isfile(self.params.out_difference):
                # here, not on the main thread: a whole tile's difference image is read in seconds
                self.histogram = self._histogram(self.params.out_difference)
        except Cancelled:
            pass
        except OaipError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 (a bug must reach the analyst, not kill the thread)
            self.error = unexpected_error(exc)
            self.details = traceback.format_exc()
        return self.result is not None

    @staticmethod
    def _histogram(path: str) -> Optional[list[int]]:
        """The slider's counts, or None (the slider then stays off) when the image cannot be read again: the
        run itself succeeded, so this is logged, not reported as its failure."""
        try:
            return difference_histogram(path)
        except Exception as exc:  # noqa: BLE001 (a display aid: whatever goes wrong, the run's result stands)
            QgsMessageLog.logMessage(tr("The difference image '{path}' could not be read for the threshold "
                                        "slider: {error}").format(path=path, error=exc), LOG_TAG, Qgis.Warning)
            return None

    def finished(self, result: bool) -> None:  # noqa: ARG002 (the outcome is in the attributes)
        """Main thread: log the outcome and hand the task to whoever started it.

        Neither a result nor an error means the run was cancelled, also when it was cancelled
        while still queued and run() never started.
        """
        self.cancelled = self.result is None and self.error is None
        if self.error:
            QgsMessageLog.logMessage(f"{self.error}\n{self.details}".rstrip(), LOG_TAG, Qgis.Warning)
        hand_over(self, self.on_finished, tr("Handling the finished run failed:\n{details}"))
