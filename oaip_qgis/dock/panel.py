"""The analyst's dock panel: inputs → one RunParams → a background task → layers, statistics, threshold.

The panel builds the same RunParams the Processing algorithm builds and hands it to a
DetectionTask; nothing here runs the engine on the main thread. After a run the threshold slider
cuts the difference raster at another threshold into a separate, named layer (a temporary file), so
trying thresholds never retrains and never changes the run's outputs: those keep describing the
run's threshold. "Save at this threshold" writes that change layer with its own polygons and statistics.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Optional

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateTransform,
    QgsGeometry,
    QgsMapLayer,
    QgsMapLayerProxyModel,
    QgsMessageLog,
    QgsProcessingUtils,
    QgsProject,
    QgsRasterLayer,
    QgsSettings,
    QgsTask,
    QgsVectorLayer,
)
from qgis.gui import QgsDockWidget, QgsFileWidget
from qgis.PyQt import uic
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QTreeWidgetItem,
    QWidget,
)

from ..core.decision.evidence import found_around_only, verdict_word
from ..core.decision.threshold import THRESHOLD_METHODS
from ..core.errors import Cancelled, InputError, OaipError
from ..core.params import EPOCHS_RANGE, GRIDS, MODES, OUTPUT_FILES, SEED_RANGE, RunParams
from ..core.progress import Progress
from ..core.raster.write import remove_stale_partials
from ..core.rethreshold import rethreshold
from ..core.run_stats import RunStats
from ..deps.install_task import INSTALL_BUTTON, InstallTask, no_python_message, torch_install
from ..deps.pip_install import TORCH_VERSION, PipInstall
from ..i18n import tr
from ..identity import NAME
from ..layers import add_run_layers, named_as_layers, raster_source, style_change, style_files, vector_file, write_gpkg
from ..task import LOG_TAG, DetectionTask, RunFn, torch_missing_message, unexpected_error
from .charts import FiltersChart, HistogramChart, LossChart
from .samples import SampleMapTool, add_sample, new_sample_layer
from .statistics import area, stats_sections

UI_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources", "dock.ui")
FORM_CLASS, _ = uic.loadUiType(UI_PATH)
# Raster providers whose layers are not files GDAL can open in the task's thread.
NON_FILE_RASTERS = ["wms", "wcs", "arcgismapserver", "postgresraster", "virtualraster"]
SLIDER_STEPS = 1000
OUTPUT_FOLDER_SETTING = "oaip_qgis/output_folder"   # the last folder a run wrote into, offered next session
RETHRESHOLD_DELAY_MS = 150  # slider moves within this time cost one new change raster



def _with_stem(name: str, stem: str) -> str:
    """`name` (an output's usual file name) with `stem` before its extension: changes.gpkg → changes_<stem>.gpkg."""
    root, extension = os.path.splitext(name)
    return f"{root}_{stem}{extension}"


def _clean_killed_runs(base: str) -> None:
    """Each dock run writes into its own `oaip_*` folder of `base`: remove the partial files that killed
    runs left in those (never a live run's, see remove_stale_partials) and the folders they leave empty."""
    try:
        folders = [entry.path for entry in os.scandir(base) if entry.is_dir() and entry.name.startswith("oaip_")]
    except OSError:
        return
    for folder in folders:
        if remove_stale_partials(folder) and not os.listdir(folder):
            try:
                os.rmdir(folder)
            except OSError:
                pass


def _remove_raster_files(path: str) -> None:
    """A temporary raster and what GDAL leaves beside it when QGIS closes it (statistics in .aux.xml)."""
    for leftover in [path, *glob.glob(glob.escape(path) + ".*")]:
        try:
            os.remove(leftover)
        except OSError:
            pass


class OaipDock(QgsDockWidget):
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

    # ----- inputs -----------------------------------------------------------------------------
    def _setup_inputs(self) -> None:
        ui = self.ui
        defaults = RunParams(t1="", t2="")
        for combo in (ui.t1Combo, ui.t2Combo, ui.referenceCombo):
            combo.setFilters(QgsMapLayerProxyModel.RasterLayer)
            combo.setExcludedProviders(NON_FILE_RASTERS)
        ui.referenceCombo.setAllowEmptyLayer(True)
        ui.referenceCombo.setLayer(None)
        ui.samplesCombo.setFilters(QgsMapLayerProxyModel.PointLayer | QgsMapLayerProxyModel.PolygonLayer)
        ui.aoiCombo.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        for combo in (ui.samplesCombo, ui.aoiCombo):
            combo.setAllowEmptyLayer(True)
            combo.setLayer(None)
        self._bands_of: dict[str, Optional[str]] = {}  # band combo -> id of the layer its bands are from
        ui.t1Combo.layerChanged.connect(lambda layer: self._fill_bands(ui.t1Bands, layer))
        ui.t1Combo.activated.connect(lambda _index: self._removed.pop("T1", None))   # chosen again by hand
        ui.t2Combo.activated.connect(lambda _index: self._removed.pop("T2", None))
        ui.t2Combo.layerChanged.connect(lambda layer: self._fill_bands(ui.t2Bands, layer))
        ui.modeCombo.addItems(MODES)
        ui.modeCombo.setCurrentText(defaults.mode)
        ui.modeCombo.currentTextChanged.connect(self._mode_changed)
        ui.epochsSpin.setRange(*EPOCHS_RANGE)   # 0 epochs would train nothing: the engine refuses it too
        ui.seedSpin.setRange(*SEED_RANGE)
        ui.epochsSpin.setValue(defaults.epochs)
        ui.pruneCheck.setChecked(defaults.prune)
        ui.extendCheck.setChecked(defaults.extend_from_samples)
        ui.coregisterCheck.setChecked(defaults.coregister)
        ui.oneKindCheck.setChecked(defaults.one_kind)
        ui.maskCloudsCheck.setChecked(defaults.mask_clouds)
        ui.sameGridCheck.setChecked(defaults.same_grid)
        ui.gridCombo.addItems(list(GRIDS))
        ui.gridCombo.setCurrentText(defaults.grid)
        ui.seedSpin.setValue(defaults.seed)
        ui.thresholdMethodCombo.addItems(list(THRESHOLD_METHODS))
        ui.thresholdMethodCombo.setCurrentText(defaults.threshold_method)
        ui.thresholdMethodCombo.currentTextChanged.connect(
            lambda method: ui.manualThresholdSpin.setEnabled(method == "manual"))
        ui.manualThresholdSpin.setEnabled(defaults.threshold_method == "manual")
        for combo in ui.inputsContents.findChildren(QComboBox):  # long layer names must not widen the dock
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)
        ui.outputFolder.setStorageMode(QgsFileWidget.GetDirectory)
        ui.outputFolder.setDialogTitle(tr("Folder for the runs' outputs"))
        last = QgsSettings().value(OUTPUT_FOLDER_SETTING, "", type=str)
        if last and os.path.isdir(last):   # else QGIS's temporary folder, emptied when QGIS closes
            ui.outputFolder.setFilePath(last)
        self._mode_changed(defaults.mode)
        problem = torch_missing_message() if self._run_fn is None else None
        ui.torchLabel.setVisible(problem is not None)
        ui.torchLabel.setText(problem or "")
        self.torch_missing = problem is not None
        self.install_button = QPushButton(tr(INSTALL_BUTTON))
        self.install_button.setToolTip(tr("Download torch {version} (CPU) with pip into a folder of this plugin, "
                                          "for the Python that QGIS runs").format(version=TORCH_VERSION))
        self.install_button.clicked.connect(self._install_clicked)
        self.install_button.setVisible(self.torch_missing)
        ui.mainLayout.insertWidget(ui.mainLayout.indexOf(ui.torchLabel) + 1, self.install_button)

    def _mode_changed(self, mode: str) -> None:
        trains = mode != "prior"
        self.ui.epochsSpin.setEnabled(trains)
        self.ui.pruneCheck.setEnabled(trains)   # fp32 prunes too: the same method in float, to compare
        self.ui.extendCheck.setEnabled(trains)  # only the network can find more like the samples

    def _fill_bands(self, combo, layer: Optional[QgsMapLayer]) -> None:
        """List the layer's bands, all ticked; a choice already made for the same layer is kept."""
        layer_id = layer.id() if layer is not None else None
        if self._bands_of.get(combo.objectName(), "") == layer_id:
            return
        self._bands_of[combo.objectName()] = layer_id
        combo.clear()
        if isinstance(layer, QgsRasterLayer):
            for band in range(1, layer.bandCount() + 1):
                combo.addItemWithCheckState(f"{band}: {layer.bandName(band)}", Qt.Checked, band)

    def _input_combos(self) -> tuple:
        ui = self.ui
        return (("T1", ui.t1Combo), ("T2", ui.t2Combo), (tr("Reference"), ui.referenceCombo),
                (tr("Samples"), ui.samplesCombo), (tr("AOI"), ui.aoiCombo))

    def _input_leaving(self, label: str, combo, first: int, last: int) -> None:
        """Note an input whose layer leaves the project: its box would show another layer (the run's own
        change layer, the reference) without a word. Layers removed together leave one row at a time, the box
        moving onto the next one as each goes: only the layer that was chosen counts."""
        if any(leaving == label for leaving, _, _ in self._leaving):
            return
        if first <= combo.currentIndex() <= last and combo.currentLayer() is not None:
            self._leaving.append((label, combo, combo.currentLayer().name()))

    def _inputs_left(self, *_args) -> None:
        """An optional input that lost its layer is empty again; T1 or T2 must be chosen again before a run."""
        leaving, self._leaving = self._leaving, []
        for label, combo, name in leaving:
            if combo.allowEmptyLayer():
                combo.setLayer(None)
            else:
                self._removed[label] = name
        if leaving:
            self._status(tr("Removed from the project: {inputs}. Choose again where needed.").format(
                inputs=", ".join(f"{label} ('{name}')" for label, _, name in leaving)), error=True)

    def _pick_distinct_pair(self, *_args) -> None:
        """Offer two different rasters when the project has them, and the bands of what the combos show.

        A combo picks up a project's first layer without signalling it, hence the band refresh here. The
        layers a run adds are not picked up (its change layer is not the next run's T2). Where T1's layer left the
        project and its box moved onto T2's, T1's box moves on, not T2's: T2 was still the analyst's choice.
        """
        if self._adding_results:
            return
        t1, t2 = self.ui.t1Combo, self.ui.t2Combo
        if t1.currentLayer() is not None and t1.currentLayer() == t2.currentLayer() and t2.count() > 1:
            moved, kept = (t1, t2) if "T1" in self._removed and "T2" not in self._removed else (t2, t1)
            # setLayer, unlike setCurrentIndex, signals
            moved.setLayer(moved.layer(1 if kept.currentIndex() == 0 else 0))
        self._fill_bands(self.ui.t1Bands, t1.currentLayer())
        self._fill_bands(self.ui.t2Bands, t2.currentLayer())

    @staticmethod
    def _bands(combo, label: str) -> Optional[list[int]]:
        checked = [int(band) for band in combo.checkedItemsData()]
        if not checked:
            raise InputError(tr("{label}: tick at least one band.").format(label=label))
        return None if len(checked) == combo.count() else sorted(checked)

    @staticmethod
    def _nodata(field, label: str) -> Optional[float]:
        text = field.text().strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            raise InputError(tr("{label} nodata must be a number (or empty for the file's own), not {text!r}.").format(
                label=label, text=text)) from None

    def _make_run_dir(self, mode: str) -> str:
        chosen = self.ui.outputFolder.filePath().strip()
        base = chosen or QgsProcessingUtils.tempFolder()
        if os.path.exists(base) and not os.path.isdir(base):
            raise InputError(tr("Output folder '{folder}' is a file, not a folder: choose a folder.").format(
                folder=base))
        if not os.path.isdir(base):
            raise InputError(tr("Output folder '{folder}' does not exist.").format(folder=base))
        if not os.access(base, os.W_OK | os.X_OK):
            raise InputError(tr("Output folder '{folder}' cannot be written to: choose a folder you can write "
                                "in.").format(folder=base))
        _clean_killed_runs(base)
        if chosen:
            QgsSettings().setValue(OUTPUT_FOLDER_SETTING, base)
        stem = os.path.join(base, f"oaip_{mode}_{time.strftime('%Y%m%d_%H%M%S')}")
        path, n = stem, 1
        while os.path.exists(path):
            n += 1
            path = f"{stem}_{n}"
        try:
            os.makedirs(path)
        except OSError as exc:   # a read-only file system, which os.access does not see
            raise InputError(tr("Output folder '{folder}' cannot be written to ({reason}): choose a folder you can "
                                "write in.").format(folder=base, reason=exc.strerror or exc)) from exc
        return path

    def build_params(self, run_dir: str) -> RunParams:
        """The run's parameters from the panel; vector inputs are written into run_dir for the task."""
        ui = self.ui
        for label, name in self._removed.items():
            raise InputError(tr("{label}'s layer '{name}' was removed from the project, and the box now shows "
                                "another: choose {label} again.").format(label=label, name=name))
        t1, t2 = ui.t1Combo.currentLayer(), ui.t2Combo.currentLayer()
        if t1 is None or t2 is None:
            raise InputError(tr("Choose a raster layer for both T1 (before) and T2 (after)."))
        if t1 == t2:
            raise InputError(tr("T1 and T2 are the same layer: choose the image before and the image after."))
        method = ui.thresholdMethodCombo.currentText()
        params = RunParams(
            t1=raster_source(t1, "T1"), t2=raster_source(t2, "T2"),
            reference=raster_source(ui.referenceCombo.currentLayer(), tr("Reference")),
            bands1=self._bands(ui.t1Bands, "T1"), bands2=self._bands(ui.t2Bands, "T2"),
            nodata1=self._nodata(ui.t1Nodata, "T1"), nodata2=self._nodata(ui.t2Nodata, "T2"),
            mode=ui.modeCombo.currentText(), seed=ui.seedSpin.value(), epochs=ui.epochsSpin.value(),
            coregister=ui.coregisterCheck.isChecked(), one_kind=ui.oneKindCheck.isChecked(),
            mask_clouds=ui.maskCloudsCheck.isChecked(),
            same_grid=ui.sameGridCheck.isChecked(), grid=ui.gridCombo.currentText(),
            prune=ui.pruneCheck.isChecked(), threshold_method=method,
            threshold=ui.manualThresholdSpin.value() if method == "manual" else None,
            threads=max(1, (os.cpu_count() or 2) - 1),  # one core stays with the interface
            **{key: os.path.join(run_dir, name) for key, name in OUTPUT_FILES.items()},
        ).validate()
        # The engine reads files only: a layer GDAL reads whole from its own file is given as that file (so that
        # messages name it); others (memory, edited, filtered, database) are written out, in T1's CRS.
        copied = {}
        for key, label, combo in (("samples", tr("Samples"), ui.samplesCombo), ("aoi", tr("AOI"), ui.aoiCombo)):
            layer = combo.currentLayer()
            if layer is None:
                continue
            if 0 < layer.selectedFeatureCount() < layer.featureCount():   # Processing's "Selected features only"
                QgsMessageLog.logMessage(tr(
                    "{input}: all {count} features of the layer '{name}' are used, not only the {selected} selected "
                    "(the panel reads whole layers; Processing's Detect changes can take Selected features only)."
                ).format(input=label, count=layer.featureCount(), name=layer.name(),
                         selected=layer.selectedFeatureCount()), LOG_TAG, Qgis.Info)
            own = vector_file(layer)
            if own:
                setattr(params, key, own)
                continue
            copy = write_gpkg(layer, os.path.join(run_dir, f"{key}.gpkg"), t1.crs())
            copied[key] = layer.name()
            setattr(params, key, copy)
        params.copied_layers = copied or None
        params.extend_from_samples = ui.extendCheck.isEnabled() and ui.extendCheck.isChecked()
        return params.validate()   # again: finding more like the samples needs the samples just written

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
        elif verdict_word(task.result.stats.evidence) == "none":
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

    # ----- results ----------------------------------------------------------------------------
    def _setup_results(self) -> None:
        self.histogram = HistogramChart()
        self.ui.histogramHolder.layout().addWidget(self.histogram)
        self.loss_chart, self.filters_chart = LossChart(), FiltersChart()
        self.ui.chartsHolder.layout().addWidget(self.loss_chart)
        self.ui.chartsHolder.layout().addWidget(self.filters_chart)
        header = self.ui.statsTree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.Stretch)  # long labels are elided, values stay in view
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        self.ui.thresholdSlider.valueChanged.connect(self._slider_moved)
        self.histogram.thresholdPicked.connect(
            lambda value: self.ui.thresholdSlider.setValue(round(value * SLIDER_STEPS)))
        self.ui.exportButton.clicked.connect(self._export_clicked)
        self.save_threshold_button = QPushButton(tr("Save at this threshold…"))
        self.save_threshold_button.setToolTip(tr("Write the change layer at the slider's threshold with its own "
                                                 "polygons and statistics; the run's outputs stay as they are"))
        self.save_threshold_button.clicked.connect(self._save_threshold_clicked)
        self.ui.thresholdLayout.addWidget(self.save_threshold_button)
        self.ui.thresholdGroup.setEnabled(False)
        self.ui.exportButton.setEnabled(False)

    def show_stats(self, stats: RunStats, histogram: Optional[list[int]]) -> None:
        """Fill the summary, the statistics tree, the charts and the threshold slider from a run (the
        histogram of its difference image, made by the run's task; None: no difference image)."""
        self._drop_threshold_layer()
        self._cut_again = False                   # a threshold chosen for the results these replace
        self.stats = self.run_stats = stats
        self._fill_tree()
        network = stats.network
        self.loss_chart.set_values(network.training["loss"] if network else [])
        self.filters_chart.set_layers(network.pruning["layers"] if network else [],
                                      int(network.model.get("networks", 1)) if network else 1)
        self.ui.chartsHolder.setVisible(network is not None)
        can_rethreshold = "difference" in self.outputs and histogram is not None
        self.ui.thresholdGroup.setEnabled(can_rethreshold)
        if can_rethreshold:
            self.histogram.set_counts(histogram)
        self._set_slider(stats.threshold)
        self.ui.exportButton.setEnabled(True)

    def _fill_tree(self) -> None:
        tree = self.ui.statsTree
        tree.clear()
        for title, rows in stats_sections(self.stats.to_dict()):
            section = QTreeWidgetItem(tree, [title])
            section.setFirstColumnSpanned(True)
            font = section.font(0)
            font.setBold(True)
            section.setFont(0, font)
            section.setToolTip(0, title)
            for label, value in rows:
                QTreeWidgetItem(section, [label, value]).setToolTip(0, label)
            section.setExpanded(True)
        stats = self.stats
        text = tr("<b>{area}</b> changed ({percent:.2f} % of the valid pixels) at threshold {threshold:.3f}.").format(
            area=area(stats.changed_area), percent=100 * stats.changed_fraction, threshold=stats.threshold)
        if found_around_only(stats.evidence) and stats.run_threshold is None:
            text = tr("<b>Nothing marked within the area of interest</b>, though change was found on the ground "
                      "around it: see Evidence below.") + " " + text
        elif verdict_word(stats.evidence) == "none" and stats.run_threshold is None:
            text = tr("<b>No significant change found</b>: see Evidence below.") + " " + text
            if stats.mode in ("int8", "fp32") and stats.network is None:
                text += " " + tr("No network was trained: there was no change to learn from.")
        if self._stale:
            text = tr("<i>Results of {shown}; the latest run, {latest}, did not finish.</i>").format(
                shown=self.shown_run, latest=self.run_name) + "<br>" + text
        if stats.run_threshold is not None:
            text += tr(" Shown in the layer '{layer}'; the run's outputs, polygons and accuracy keep the run's "
                       "threshold {run:.3f}. Save at this threshold to keep it.").format(
                layer=self._threshold_layer_name(stats.threshold), run=stats.run_threshold)
        self.ui.summaryLabel.setText(text)

    def _set_slider(self, threshold: float) -> None:
        """The slider, its label and the histogram's line at `threshold`, without cutting anything."""
        self.histogram.set_threshold(threshold)
        self.ui.thresholdSlider.blockSignals(True)
        self.ui.thresholdSlider.setValue(round(threshold * SLIDER_STEPS))
        self.ui.thresholdSlider.blockSignals(False)
        self.ui.thresholdValueLabel.setText(f"{threshold:.3f}")

    def _slider_moved(self, value: int) -> None:
        self.ui.thresholdValueLabel.setText(f"{value / SLIDER_STEPS:.3f}")
        self.histogram.set_threshold(value / SLIDER_STEPS)
        self._threshold_timer.start()

    @staticmethod
    def _threshold_layer_name(threshold: float) -> str:
        return tr("Change (threshold {threshold:.3f})").format(threshold=threshold)

    def apply_threshold(self) -> None:
        """Cut the difference raster at the slider's threshold into a separate layer, in a background task
        (a Sentinel-2 tile takes seconds); no retraining, and the run's change layer, polygons and statistics
        stay as written. A threshold chosen while a cut runs is cut when it ends."""
        if self.run_stats is None or "difference" not in self.outputs or not self._difference_still_there():
            return
        if self._cut_task is not None:
            self._cut_again = True
            return
        threshold = self.ui.thresholdSlider.value() / SLIDER_STEPS
        if self._threshold_folder is None:
            self._threshold_folder = tempfile.mkdtemp(prefix="oaip_threshold_", dir=QgsProcessingUtils.tempFolder())
        path = os.path.join(self._threshold_folder, f"change_threshold_{threshold:.3f}_{uuid.uuid4().hex[:6]}.tif")
        run_stats, difference = self.run_stats, self.outputs["difference"]
        self._cut_task = self._in_background(
            tr("OAIP: change at threshold {threshold:.3f}").format(threshold=threshold),
            lambda progress: rethreshold(run_stats, difference, threshold, path, progress=progress),
            lambda stats: self._cut_done(run_stats, threshold, path, stats), self._cut_ended)

    def _cut_done(self, run_stats: RunStats, threshold: float, path: str, stats: RunStats) -> None:
        """Show a cut, unless another run's results replaced the ones it was cut from while it ran (its layer
        went into the new run's group, with the old run's figures under the new run's accuracy)."""
        if run_stats is self.run_stats:
            self._show_threshold_layer(threshold, path, stats)
        else:
            _remove_raster_files(path)

    def _cut_ended(self) -> None:
        self._cut_task = None
        if self._cut_again:
            self._cut_again = False
            self.apply_threshold()

    def _in_background(self, description: str, work: Callable[[Progress], object], done: Callable[[object], None],
                       ended: Callable[[], None], failed: Optional[Callable[[Exception], None]] = None) -> QgsTask:
        """Run `work(progress)` in a QgsTask, the task's progress bar and cancel button as its Progress; on the main
        thread then `done(result)` or `failed(error)` (by default the error in the status line), and `ended()` either
        way. Nothing is called once the panel is closed."""
        def finished(exception, result=None) -> None:
            if self._closed:
                return
            ended()
            if exception is None:
                done(result)
            elif isinstance(exception, Cancelled) or task.isCanceled():   # the task manager's cancel, also before
                self._status(tr("Cancelled: nothing was written."))
            elif isinstance(exception, OaipError | OSError | RuntimeError | ValueError):
                (failed or (lambda error: self._status(str(error), error=True)))(exception)
            else:   # a bug: said, and its traceback logged, as a run's is (raised here, it left the task callback)
                QgsMessageLog.logMessage("".join(traceback.format_exception(exception)), LOG_TAG, Qgis.Critical)
                self._status(unexpected_error(exception), error=True)
        task = QgsTask.fromFunction(
            description, lambda task: work(Progress(lambda fraction, _message: task.setProgress(100 * fraction),
                                                    task.isCanceled)), on_finished=finished)
        QgsApplication.taskManager().addTask(task)
        return task

    def _show_threshold_layer(self, threshold: float, path: str, stats: RunStats) -> None:
        """The slider's cut as the one layer above the run's change layer, and its figures in the tree."""
        self._drop_threshold_layer()
        layer = QgsRasterLayer(path, self._threshold_layer_name(threshold), "gdal")
        style_change(layer)
        project = QgsProject.instance()
        project.addMapLayer(layer, False)
        change_node = project.layerTreeRoot().findLayer(self.layer_ids.get("change", ""))
        parent = change_node.parent() if change_node is not None else project.layerTreeRoot()
        index = parent.children().index(change_node) if change_node is not None else 0
        parent.insertLayer(index, layer)
        self.threshold_layer_id, self._threshold_path = layer.id(), path
        # The run's accuracy stays in view, shown as measured at the run's threshold.
        self.stats = replace(stats, threshold_method="slider", metrics=self.run_stats.metrics)
        self._fill_tree()

    def _difference_still_there(self) -> bool:
        """Whether the run's difference image is where the run wrote it; if not, say so and turn the slider
        off (it, and Save at this threshold, cut that file)."""
        if os.path.isfile(self.outputs.get("difference", "")):
            return True
        self._status(tr("The run's difference image '{path}' was moved or deleted: other thresholds need it; run "
                        "again to try them.").format(path=self.outputs.get("difference")), error=True)
        self.ui.thresholdGroup.setEnabled(False)
        return False

    def _drop_threshold_layer(self) -> None:
        """Remove the slider's layer and its temporary file, if any."""
        layer = QgsProject.instance().mapLayer(self.threshold_layer_id or "")
        self.threshold_layer_id = None    # removed by the panel, not by the analyst (_threshold_layer_left)
        if layer is not None:
            QgsProject.instance().removeMapLayer(layer.id())
        self._forget_threshold_layer()

    def _threshold_layer_left(self, layer_ids: list[str]) -> None:
        """The analyst removed the slider's layer: its temporary file goes too (it stayed until the plugin
        unloaded), and the Results tab shows the run's own threshold and figures again."""
        if self.threshold_layer_id is None or self.threshold_layer_id not in layer_ids:
            return
        self._forget_threshold_layer()
        if self.run_stats is not None and self.stats is not self.run_stats:
            self.stats = self.run_stats
            self._fill_tree()
            self._set_slider(self.stats.threshold)

    def _forget_threshold_layer(self) -> None:
        """The slider's layer is gone from the project: remove its temporary file."""
        self.threshold_layer_id = None
        if self._threshold_path:
            _remove_raster_files(self._threshold_path)
        self._threshold_path = None

    def save_threshold(self, folder: str) -> dict:
        """Write the change raster, polygons and statistics at the slider's threshold into `folder`
        (accuracy measured again at that threshold when the run had a reference); returns the paths."""
        paths, write = self._threshold_save(folder)
        write(Progress())
        return paths

    def _threshold_save(self, folder: str) -> tuple[dict, Callable[[Progress], RunStats]]:
        """The paths a save at the slider's threshold writes (beside an earlier save, never over it), and the
        writing itself, which a background task runs: it touches no object of the project or the panel (the layer
        it opens for the style beside the change layer joins no project)."""
        threshold = self.ui.thresholdSlider.value() / SLIDER_STEPS
        paths, n = {}, 1
        while not paths or any(os.path.exists(path) for path in paths.values()):
            stem = f"threshold_{threshold:.3f}" + (f"_{n}" if n > 1 else "")
            paths = {key: os.path.join(folder, _with_stem(OUTPUT_FILES[f"out_{key}"], stem))
                     for key in ("change", "polygons", "stats")}
            n += 1
        params, run_stats, difference = self.params, self.run_stats, self.outputs["difference"]

        def write(progress: Progress) -> RunStats:
            stats = rethreshold(run_stats, difference, threshold, paths["change"], out_polygons=paths["polygons"],
                                out_stats=paths["stats"], reference=params.reference if params else None,
                                min_polygon_area=params.min_polygon_area if params else 0.0, progress=progress)
            style_files({"change": paths["change"]})   # here: also when the project is closed before it ends
            return stats
        return paths, write

    def _save_threshold_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, tr("Folder for the change layer at this threshold"),
                                                  os.path.dirname(self.outputs.get("difference", "")))  # shown run's
        if not folder or not self._difference_still_there():
            return
        threshold = self.ui.thresholdSlider.value() / SLIDER_STEPS
        paths, write = self._threshold_save(folder)
        self.save_threshold_button.setEnabled(False)
        self._status(tr("Saving the change layer at threshold {threshold:.3f}…").format(threshold=threshold))
        project = self._projects_cleared

        def saved(_result) -> None:
            if project != self._projects_cleared:   # the project it was saved from was closed meanwhile
                self._status(tr("Change layer, polygons and statistics at this threshold written to {folder} (the "
                                "project was closed meanwhile: no layer was added)").format(folder=folder))
                return
            try:
                _, _, unopened = add_run_layers(tr("OAIP at threshold {threshold:.3f}").format(threshold=threshold),
                                                {k: paths[k] for k in ("change", "polygons")})
            except OSError as exc:
                unopened = [str(exc)]
            self._status(" ".join([tr("Change layer, polygons and statistics at this threshold written to {folder}")
                                   .format(folder=folder), *unopened]), error=bool(unopened))

        def failed(error: Exception) -> None:
            self._status(tr("The change layer at this threshold could not be saved in {folder}: {reason}").format(
                folder=folder, reason=error), error=True)

        self._save_task = self._in_background(
            tr("OAIP: saving the change at threshold {threshold:.3f}").format(threshold=threshold), write, saved,
            lambda: (setattr(self, "_save_task", None), self.save_threshold_button.setEnabled(True)), failed)

    def export_stats(self, path: str) -> None:
        """The statistics as shown (slider threshold included), with the run's parameters, as JSON."""
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.stats.to_dict(), handle, indent=2)

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, tr("Export statistics"), "oaip_statistics.json",
                                              tr("JSON (*.json)"))
        if not path:
            return
        try:
            self.export_stats(path)
        except OSError as exc:
            self._status(tr("The statistics could not be written to {path} ({reason}): choose a folder you can "
                            "write to.").format(path=path, reason=exc.strerror or exc), error=True)
            return
        self._status(tr("Statistics written to {path}").format(path=path))

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
