"""The background install of torch: a QgsTask that runs pip for the Python QGIS runs, and what the
analyst reads about it (the command, the progress, one sentence when it fails)."""
from __future__ import annotations

import importlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from typing import Optional

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsTask
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP, pyqtSignal

from ..i18n import tr
from ..log import LOG_TAG, hand_over
from .pip_install import (
    TORCH_VERSION,
    PipInstall,
    add_to_sys_path,
    deps_folder,
    find_python,
    installed_version,
    write_constraints,
)
from .pip_output import Failure, PipProgress, classify_failure, folder_bytes, last_error

INSTALL_BUTTON = QT_TRANSLATE_NOOP("OAIP", "Install torch…")   # the dock's button, named in messages
POLL_S = 0.25                        # how often the task looks at cancel and at the download's size


def plugin_deps_folder() -> str:
    """The plugin's package folder in the active QGIS profile."""
    return deps_folder(QgsApplication.qgisSettingsDirPath())


def add_plugin_deps_to_path() -> bool:
    """At plugin start: make what an earlier session installed importable (True if the folder was added)."""
    return add_to_sys_path(plugin_deps_folder())


def remove_plugin_deps_from_path() -> None:
    """At plugin unload: the plugin's folder goes from the import path (what it imported stays loaded)."""
    folder = plugin_deps_folder()
    while folder in sys.path:
        sys.path.remove(folder)


def torch_install() -> Optional[PipInstall]:
    """The install of the pinned CPU torch into the plugin's folder, with its constraints file written;
    None when the Python QGIS runs cannot be found."""
    python = find_python()
    if python is None:
        return None
    target = plugin_deps_folder()
    try:
        constraints = write_constraints(os.path.dirname(target), installed_version("numpy"))
    except OSError:
        constraints = None   # pip then says itself that it may not write there
    return PipInstall(python=python, target=target, constraints=constraints)


def no_python_message() -> str:
    return tr("The Python interpreter that QGIS runs was not found under {prefix}, so torch {version} cannot "
              "be installed from QGIS: install it with that Python's pip.").format(
        prefix=sys.base_prefix, version=TORCH_VERSION)


def failure_message(failure: Failure, install: PipInstall, output: str, returncode: int) -> str:
    """One sentence for the analyst; pip's whole output goes to the log panel."""
    index = install.index_url or install.find_links or ""
    package = " ".join(install.requirements)
    if failure is Failure.PROXY:
        return tr("pip could not get through the proxy to {index}: set the proxy for pip (the HTTPS_PROXY "
                  "environment variable, or proxy in pip's configuration file) and press “{button}” again."
                  ).format(index=index, button=tr(INSTALL_BUTTON))
    if failure is Failure.CERTIFICATE:
        return tr("pip did not trust the certificate of {index}, which usually means a proxy inspects secure "
                  "connections: give pip your organisation's certificate (PIP_CERT or cert in pip's "
                  "configuration file) and try again.").format(index=index)
    if failure is Failure.OFFLINE:
        return tr("pip could not reach {index}: check that this computer is online (and, behind a proxy, that "
                  "pip knows it through HTTPS_PROXY), then press “{button}” again.").format(
            index=index, button=tr(INSTALL_BUTTON))
    if failure is Failure.NO_PIP:
        return tr("The Python that QGIS runs ({python}) has no pip: install it (on Debian and Ubuntu: sudo apt "
                  "install python3-pip) and try again.").format(python=install.python)
    if failure is Failure.NO_SPACE:
        return tr("The disk holding {target} is full: free about 1 GB and try again.").format(target=install.target)
    if failure is Failure.PERMISSION:
        return tr("pip may not write into {target}: check the permissions of that folder and try again.").format(
            target=install.target)
    if failure is Failure.NO_WHEEL:
        return tr("{index} has no {package} for Python {version} on this platform ({error}).").format(
            index=index, package=package, version="{}.{}".format(*sys.version_info[:2]), error=last_error(output))
    return tr("pip failed (exit status {status}): {error}; its whole output is in the log panel (OAIP).").format(
        status=returncode, error=last_error(output))


class InstallTask(QgsTask):
    """Runs one PipInstall off the main thread, then makes the folder importable and imports the module.

    After the task exactly one of `version` (the module imported: ready without a restart),
    `restart_reason` (installed, but this session cannot import it), `error` (one sentence) or
    `cancelled` describes it; `output` holds what pip printed.
    """

    message = pyqtSignal(str)   # the current step, delivered to the main thread

    def __init__(self, install: PipInstall, on_finished: Optional[Callable[[InstallTask], None]] = None) -> None:
        super().__init__(tr("Installing {package} for QGIS's Python").format(package=" ".join(install.requirements)),
                         QgsTask.CanCancel)
        self.install = install
        self.on_finished = on_finished
        self.version: Optional[str] = None
        self.restart_reason: Optional[str] = None
        self.error: Optional[str] = None
        self.cancelled = False
        self.output = ""

    def run(self) -> bool:
        """Runs in the task manager's thread; never raises."""
        try:
            with tempfile.TemporaryDirectory(prefix="oaip_pip_", ignore_cleanup_errors=True) as temp:
                returncode = self._run_pip(temp)
        except OSError as exc:   # the interpreter (or its temporary folder) could not be had at all
            self.error = tr("pip could not be started with {python}: {error}.").format(
                python=self.install.python, error=exc)
            return False
        if self.isCanceled():
            return False
        if returncode != 0:
            self.error = failure_message(classify_failure(self.output), self.install, self.output, returncode)
            return False
        add_to_sys_path(self.install.target)
        try:
            module = importlib.import_module(self.install.module)
        except Exception as exc:  # noqa: BLE001 (any import failure means: restart QGIS)
            self.restart_reason = f"{type(exc).__name__}: {exc}"
            self.output += "\n" + traceback.format_exc()
            return True
        self.version = str(getattr(module, "__version__", ""))
        return True

    def _run_pip(self, temp: str) -> int:
        """Run pip with its temporary files in `temp` (their growth is the download's progress)."""
        env = dict(os.environ, TMPDIR=temp, TEMP=temp, TMP=temp, PYTHONUNBUFFERED="1", PIP_NO_INPUT="1")
        flags = subprocess.CREATE_NO_WINDOW if sys.platform == "win32" else 0   # no console window over QGIS
        process = subprocess.Popen(self.install.argv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, text=True, encoding="utf-8", errors="replace",
                                   env=env, creationflags=flags)
        lines: queue.Queue[Optional[str]] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
        reader.start()
        progress, output, shown = PipProgress(), [], ""
        while True:
            try:
                line = lines.get(timeout=POLL_S)
            except queue.Empty:
                line = ""
            if line is None:
                break
            if self.isCanceled():
                process.kill()
                break
            if line:
                output.append(line)
                progress.feed(line, folder_bytes(temp))
            else:
                progress.downloaded(folder_bytes(temp))
            self.setProgress(100.0 * progress.fraction)
            text = _step_text(progress)
            if text and text != shown:
                self.message.emit(text)
                shown = text
        returncode = process.wait()
        reader.join()
        process.stdout.close()
        self.output = "".join(output)
        return returncode

    def finished(self, result: bool) -> None:  # noqa: ARG002 (the outcome is in the attributes)
        """Main thread: log the command and its outcome, then hand the task to whoever started it."""
        self.cancelled = self.version is None and self.restart_reason is None and self.error is None
        level = Qgis.Warning if self.error or self.restart_reason else Qgis.Info
        QgsMessageLog.logMessage(f"{self.install.text()}\n{self.output}".rstrip(), LOG_TAG, level)
        hand_over(self, self.on_finished, tr("Handling the finished install failed:\n{details}"))

    def outcome(self) -> str:
        """The sentence the analyst reads when the task has ended."""
        if self.version is not None:
            return tr("{module} {version} is installed in {target} and ready: no restart needed.").format(
                module=self.install.module, version=self.version, target=self.install.target)
        if self.restart_reason is not None:
            return tr("{module} was installed in {target}, but this QGIS session cannot load it ({reason}): "
                      "restart QGIS to use it.").format(module=self.install.module, target=self.install.target,
                                                          reason=self.restart_reason)
        return self.error or tr("Installation cancelled.")


def _read_lines(stream, lines: queue.Queue) -> None:
    """Reader thread: pip's lines into the queue, then None at its end."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def _step_text(progress: PipProgress) -> str:
    if progress.download_total and progress.download_done:
        return tr("{step}: {done:.1f} MB received").format(step=progress.step, done=progress.download_done / 1e6)
    return progress.step
