"""The dock's results: the run's statistics and charts, and the threshold slider that cuts the difference image at
another threshold into a layer of its own, saved with its own polygons and statistics when asked; both run in the
background, never on QGIS's main thread."""
from __future__ import annotations

import glob
import json
import os
import tempfile
import traceback
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Optional

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsProcessingUtils, QgsProject, QgsRasterLayer, QgsTask
from qgis.PyQt.QtWidgets import QFileDialog, QHeaderView, QPushButton, QTreeWidgetItem

from ..core.decision.evidence import found_around_only, no_change_made_the_map
from ..core.errors import Cancelled, OaipError
from ..core.params import OUTPUT_FILES
from ..core.progress import Progress
from ..core.rethreshold import rethreshold
from ..core.run_report import area, stats_sections
from ..core.run_stats import RunStats
from ..i18n import tr
from ..layers import add_run_layers, style_change, style_files
from ..task import LOG_TAG, unexpected_error
from .charts import FiltersChart, HistogramChart, LossChart

SLIDER_STEPS = 1000
RETHRESHOLD_DELAY_MS = 150  # slider moves within this time cost one new change raster


def _with_stem(name: str, stem: str) -> str:
    """`name` (an output's usual file name) with `stem` before its extension: changes.gpkg → changes_<stem>.gpkg."""
    root, extension = os.path.splitext(name)
    return f"{root}_{stem}{extension}"


def _remove_raster_files(path: str) -> None:
    """A temporary raster and what GDAL leaves beside it when QGIS closes it (statistics in .aux.xml)."""
    for leftover in [path, *glob.glob(glob.escape(path) + ".*")]:
        try:
            os.remove(leftover)
        except OSError:
            pass


class Results:
    """OaipDock's results and threshold slider (a part of the panel's class; its state is the panel's)."""

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
        elif no_change_made_the_map(stats.evidence) and stats.run_threshold is None:
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
