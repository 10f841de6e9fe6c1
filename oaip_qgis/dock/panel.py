"""The analyst's dock panel: inputs → one RunParams → a background task → layers, statistics, threshold.

The panel builds the same RunParams the Processing algorithm builds and hands it to a
DetectionTask; nothing here runs the engine on the main thread. After a run the threshold slider
cuts the difference raster at another threshold into a separate, named layer (a temporary file), so
trying thresholds never retrains and never changes the run's outputs: those keep describing the
run's threshold. "Save at this threshold" writes that change layer with its own polygons and statistics.
The inputs (`inputs.Inputs`) and the results with their slider (`threshold.Results`) are parts of the panel's class
in modules of their own; here are the runs, the torch install, the analyst's samples and the panel's lifecycle.
"""
from __future__ import annotations

import os
import shutil
import time
from typing import Optional

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsMessageLog,
    QgsProject,
    QgsTask,
    QgsVectorLayer,
)
from qgis.gui import QgsDockWidget
from qgis.PyQt import uic
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QMessageBox, QWidget

from ..core.decision.evidence import found_around_only, no_change_made_the_map
from ..core.errors import InputError
from ..core.params import RunParams
from ..core.run_stats import RunStats
from ..deps.install_task import INSTALL_BUTTON, InstallTask, no_python_message, torch_install
from ..deps.pip_install import TORCH_VERSION, PipInstall
from ..i18n import tr
from ..identity import NAME
from ..layers import add_run_layers, named_as_layers
from ..task import LOG_TAG, DetectionTask, RunFn
from .inputs import Inputs
from .samples import SampleMapTool, add_sample, new_sample_layer
from .threshold import RETHRESHOLD_DELAY_MS, Results

UI_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources", "dock.ui")
FORM_CLASS, _ = uic.loadUiType(UI_PATH)


class OaipDock(Inputs, Results, QgsDockWidget):
    """Inputs and options, Run/Cancel with progress, then the run's statistics, charts and threshold."""

    def __init__(self, iface, parent: Optional[QWidget] = None, run_fn: Optional[RunFn] = None) -> None:
        super().__init__(tr(NAME), parent)
        self.setObjectName("OaipChangeDetectionDock")
        self.iface = iface
        self.ui = FORM_CLASS()
        contents = QWidget(self)
        self.ui.setupUi(contents)
        self.setWidget(contents)
        self._run_fn = run_fn
        self.task: Optional[DetectionTask] = None
        self.install_task: Optional[InstallTask] = None
        self.run_dir: Optional[str] = None    # folder of the latest run
        self.run_name = ""
        self._pending_params: Optional[RunParams] = None
        self.params: Optional[RunParams] = None  # of the run whose results are shown
        self.outputs: dict[str, str] = {}
        self.stats: Optional[RunStats] = None      # as shown (at the slider's threshold)
        self.run_stats: Optional[RunStats] = None  # as the run wrote them
        self.threshold_layer_id: Optional[str] = None   # the slider's change layer, a temporary file
        self._threshold_path: Optional[str] = None       # that file
        self._threshold_folder: Optional[str] = None
        self._projects_cleared = 0                  # a save at a threshold adds its layers to the project it began in
        self.layer_ids: dict[str, str] = {}
        self.sample_layer_id: Optional[str] = None
        self.shown_run = ""                         # the run whose results the Results tab shows
        self._stale = False                         # a later run failed or was cancelled
        self._cut_task: Optional[QgsTask] = None    # the slider's cut, in the background
        self._cut_again = False                     # the slider moved on while it ran
        self._save_task: Optional[QgsTask] = None
        self._closed = False
        self._removed: dict[str, str] = {}          # T1/T2 whose layer left the project -> that layer's name
        self._leaving: list = []                    # (label, combo, layer name) of inputs whose layer is leaving
        self._adding_results = False
        self._project_gone = False                  # the project was cleared while the run went on
        self._threshold_timer = QTimer(self)
        self._threshold_timer.setSingleShot(True)
        self._threshold_timer.setInterval(RETHRESHOLD_DELAY_MS)
        self._threshold_timer.timeout.connect(self.apply_threshold)
        self._setup_inputs()
        self._setup_results()
        self._setup_samples()
        self.ui.runButton.clicked.connect(self.start_run)
        self.ui.cancelButton.clicked.connect(self.cancel_run)
        QgsProject.instance().layersAdded.connect(self._pick_distinct_pair)
        for label, combo in self._input_combos():   # before the box moves on: its model's rows, not the project
            combo.model().rowsAboutToBeRemoved.connect(
                lambda _parent, first, last, label=label, combo=combo: self._input_leaving(label, combo, first, last))
        QgsProject.instance().layersRemoved.connect(self._inputs_left)
        QgsProject.instance().layersRemoved.connect(self._threshold_layer_left)
        QgsProject.instance().cleared.connect(self._project_cleared)
        self._set_running(False)
        self._pick_distinct_pair()

    # ----- running ----------------------------------------------------------------------------
    def _set_running(self, running: bool) -> None:
        self.ui.runButton.setEnabled(not running and not self.torch_missing)
        self.ui.cancelButton.setEnabled(running)
        self.ui.inputsContents.setEnabled(not running)

    def _progress(self, percent: float) -> None:
        self.ui.progressBar.setValue(int(percent))

    def _status(self, text: str, error: bool = False) -> None:
        self.ui.statusLabel.setStyleSheet("color: #b00020;" if error else "")
        self.ui.statusLabel.setText(text)

    def start_run(self) -> Optional[DetectionTask]:
        """Start one run in the background; None (with the reason shown) if it cannot start."""
        if self.task is not None:
            return None
        mode = self.ui.modeCombo.currentText()
        run_dir = None
        try:
            run_dir = self._make_run_dir(mode)
            params = self.build_params(run_dir)
        except (InputError, OSError) as exc:
            if run_dir:
                shutil.rmtree(run_dir, ignore_errors=True)
            self._status(str(exc), error=True)
            return None
        t1, t2 = self.ui.t1Combo.currentLayer(), self.ui.t2Combo.currentLayer()
        name = tr("OAIP {mode}: {t1} → {t2} ({time})").format(mode=mode, t1=t1.name(), t2=t2.name(),
                                                            time=time.strftime("%H:%M:%S"))
        kwargs = {"run_fn": self._run_fn} if self._run_fn is not None else {}
        task = DetectionTask(params, on_finished=self._finished, description=name, **kwargs)
        # Bound methods, not lambdas: Qt drops these connections if the panel goes first (plugin unload).
        task.progressChanged.connect(self._progress)
        task.message.connect(self._status)
        self.task, self.run_dir, self.run_name = task, run_dir, name
        self._pending_params, self._project_gone = params, False
        self.ui.progressBar.setValue(0)
        self._status(tr("Starting…"))
        self._set_running(True)
        QgsApplication.taskManager().addTask(task)
        return task

    def cancel_run(self) -> None:
        """The Cancel button stops whichever task the panel runs: a detection or the torch install."""
        for task in (self.task, self.install_task):
            if task is not None:
                self._status(tr("Cancelling…"))
                task.cancel()

    # ----- installing torch -------------------------------------------------------------------
    def _install_clicked(self) -> None:
        install = torch_install()
        if install is None:
            self._status(no_python_message(), error=True)
            return
        question = tr("Install torch {version} (CPU; about 190 MB to download, 1 GB on disk) for the Python that "
                      "QGIS runs, into {target}?\n\nThis runs:\n{command}").format(
            version=TORCH_VERSION, target=install.target, command=install.text())
        if QMessageBox.question(self, tr(INSTALL_BUTTON), question) == QMessageBox.Yes:
            self.start_install(install)

    def start_install(self, install: PipInstall) -> Optional[InstallTask]:
        """Run `install` in the background, its progress in the panel; None if a task already runs."""
        if self.task is not None or self.install_task is not None:
            return None
        task = InstallTask(install, on_finished=self._install_finished)
        task.progressChanged.connect(self._progress)
        task.message.connect(self._status)
        self.install_task = task
        self.install_button.setEnabled(False)
        self.ui.cancelButton.setEnabled(True)
        self.ui.progressBar.setValue(0)
        self._status(tr("Running: {command}").format(command=install.text()))
        QgsApplication.taskManager().addTask(task)
        return task

    def _install_finished(self, task: InstallTask) -> None:
        """Main thread: torch usable now (Run enabled), after a restart, or not installed (why)."""
        self.install_task = None
        self.install_button.setEnabled(True)
        self.ui.cancelButton.setEnabled(self.task is not None)
        self.ui.progressBar.setValue(100 if task.error is None and not task.cancelled else 0)
        self._status(task.outcome(), error=task.error is not None)
        if task.version is not None:
            self.torch_missing = False
            self.ui.torchLabel.hide()
            self.install_button.hide()
            self._set_running(self.task is not None)
        elif task.restart_reason is not None:
            self.ui.torchLabel.setText(task.outcome())
            self.install_button.hide()

    def _finished(self, task: DetectionTask) -> None:
        """Main thread, once per task: layers and statistics on success, a clean folder otherwise."""
        self.task = None
        self._set_running(False)
        if task.result is None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.ui.progressBar.setValue(0)
            if task.cancelled:
                self._status(tr("Cancelled: nothing was written and no layer was added."))
            else:
                error = named_as_layers(task.error or tr("The run failed."), task.params)
                self._status(error, error=True)
                self.iface.messageBar().pushMessage(tr(NAME), error, level=Qgis.Critical)
            if self.stats is not None:   # the Results tab still shows an earlier run: say which
                self._stale = True
                self._fill_tree()
            return
        for line in task.result.log:    # what the analyst should know (complex bands, reference coverage, …)
            QgsMessageLog.logMessage(named_as_layers(line, task.params), LOG_TAG, Qgis.Info)
        if self._project_gone:          # its layers belong to no project that is open now
            self._status(tr("Done, but the project it ran in was closed, so no layer was added: the outputs are in "
                            "{folder}.").format(folder=self.run_dir))
            return
        outputs = {key: path for key, path in task.result.outputs.items() if path and os.path.exists(path)}
        self._adding_results = True   # the run's own layers are not offered as the next run's inputs
        try:
            _, layers, unopened = add_run_layers(self.run_name, outputs)
        except OSError as exc:
            self._status(str(exc), error=True)
            return
        finally:
            self._adding_results = False
        self.params = self._pending_params
        self.layer_ids = {kind: layer.id() for kind, layer in layers.items()}
        self.outputs = outputs
        self.shown_run, self._stale = self.run_name, False
        self.show_stats(task.result.stats, task.histogram)
        self.ui.tabs.setCurrentWidget(self.ui.resultsTab)
        seconds = task.result.stats.timing.get("total", 0.0)
        done = tr("Done in {seconds:.1f} s; outputs in {folder}").format(seconds=seconds, folder=self.run_dir)
        if found_around_only(task.result.stats.evidence):
            done = tr("Done in {seconds:.1f} s: nothing marked within the area of interest (change was found on the "
                      "ground around it); outputs in {folder}").format(seconds=seconds, folder=self.run_dir)
        elif no_change_made_the_map(task.result.stats.evidence):
            done = tr("Done in {seconds:.1f} s: no significant change found; outputs in {folder}").format(
                seconds=seconds, folder=self.run_dir)
        if not self.ui.outputFolder.filePath().strip():
            done += " " + tr("(QGIS's temporary folder, emptied when QGIS closes: choose an output folder to keep "
                             "them)")
        if unopened:   # written, but not shown: say which, with the others shown
            done += " " + " ".join(unopened)
        self._status(done, error=bool(unopened))
        self.iface.messageBar().pushMessage(tr(NAME), tr("Change detection finished: {run}").format(run=self.run_name),
                                            level=Qgis.Success, duration=5)

    def _project_cleared(self) -> None:
        """Project > New, or another project opened: the results shown were the closed project's (their layers
        went with it, and the slider would cut them into the new one), and a run going on adds its layers to no
        other project."""
        self._threshold_timer.stop()
        self._cut_again = False
        self._projects_cleared += 1
        self._forget_threshold_layer()            # its layer went with the project
        self.stats = self.run_stats = self.params = None
        self.outputs, self.layer_ids = {}, {}
        self.shown_run, self._stale = "", False
        self._removed.clear()                     # the inputs are chosen afresh in the new project
        self._leaving = []
        self._project_gone = self.task is not None
        if self.task is None:
            self._status("")                      # not the closed project's layers "removed" just now
        self.ui.statsTree.clear()
        self.ui.summaryLabel.setText("")
        self.loss_chart.set_values([])
        self.filters_chart.set_layers([])
        self.histogram.set_counts([])
        self.histogram.set_threshold(None)
        self.ui.thresholdGroup.setEnabled(False)
        self.ui.exportButton.setEnabled(False)

    # ----- analyst samples --------------------------------------------------------------------
    def _setup_samples(self) -> None:
        self.sample_tool = SampleMapTool(self.iface.mapCanvas())
        self.sample_tool.sampled.connect(self._add_sample)
        self.sample_tool.deactivated.connect(self._sample_tool_off)
        self.ui.changedSampleButton.toggled.connect(lambda on: self._sample_button(on, True))
        self.ui.unchangedSampleButton.toggled.connect(lambda on: self._sample_button(on, False))

    def _sample_button(self, on: bool, changed: bool) -> None:
        other = self.ui.unchangedSampleButton if changed else self.ui.changedSampleButton
        canvas = self.iface.mapCanvas()
        if on:
            other.blockSignals(True)
            other.setChecked(False)
            other.blockSignals(False)
            self.sample_tool.set_class(changed)
            if canvas.mapTool() != self.sample_tool:  # setting it again would deactivate it first
                canvas.setMapTool(self.sample_tool)
        elif canvas.mapTool() == self.sample_tool:
            canvas.unsetMapTool(self.sample_tool)

    def _sample_tool_off(self) -> None:
        for button in (self.ui.changedSampleButton, self.ui.unchangedSampleButton):
            button.blockSignals(True)
            button.setChecked(False)
            button.blockSignals(False)

    def sample_layer(self) -> QgsVectorLayer:
        """The memory layer of drawn sample areas, created (and added to the project) on first use."""
        layer = QgsProject.instance().mapLayer(self.sample_layer_id or "")
        if layer is None:
            layer = new_sample_layer(self.iface.mapCanvas().mapSettings().destinationCrs())
            QgsProject.instance().addMapLayer(layer)
            self.sample_layer_id = layer.id()
        return layer

    def _add_sample(self, area: QgsGeometry, changed: bool) -> None:
        layer = self.sample_layer()
        canvas_crs = self.iface.mapCanvas().mapSettings().destinationCrs()
        if canvas_crs.isValid() and canvas_crs != layer.crs():
            area = QgsGeometry(area)
            area.transform(QgsCoordinateTransform(canvas_crs, layer.crs(), QgsProject.instance()))
        add_sample(layer, area, changed)
        self.ui.samplesCombo.setLayer(layer)

    # ----- plugin unload ----------------------------------------------------------------------
    def close_down(self) -> None:
        """Stop what the panel started (task, map tool, signals) before the plugin removes it."""
        self._closed = True   # a cut or save still running ends without touching the panel
        self._threshold_timer.stop()
        self._drop_threshold_layer()
        if self._threshold_folder:
            shutil.rmtree(self._threshold_folder, ignore_errors=True)
        if self.install_task is not None:
            self.install_task.on_finished = None
            self.install_task.cancel()
            self.install_task = None
        if self.task is not None:
            # The task ends after the panel is gone: it only removes its own folder then.
            self.task.on_finished = lambda _task, folder=self.run_dir: shutil.rmtree(folder, ignore_errors=True)
            self.task.cancel()
            self.task = None
        canvas = self.iface.mapCanvas()
        if canvas.mapTool() == self.sample_tool:
            canvas.unsetMapTool(self.sample_tool)
        canvas.scene().removeItem(self.sample_tool.band)
        self.sample_tool.deleteLater()   # a child of the canvas: each reload of the plugin left one behind
        QgsProject.instance().layersAdded.disconnect(self._pick_distinct_pair)
        QgsProject.instance().layersRemoved.disconnect(self._inputs_left)
        QgsProject.instance().layersRemoved.disconnect(self._threshold_layer_left)
        QgsProject.instance().cleared.disconnect(self._project_cleared)
