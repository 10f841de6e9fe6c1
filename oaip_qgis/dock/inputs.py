"""The dock's inputs: the layers and options it offers, kept apart and in step with the project, read into the one
RunParams the Processing algorithm builds too, and the folder each run writes into."""
from __future__ import annotations

import os
import time
from typing import Optional

from qgis.core import (
    Qgis,
    QgsMapLayer,
    QgsMapLayerProxyModel,
    QgsMessageLog,
    QgsProcessingUtils,
    QgsRasterLayer,
    QgsSettings,
)
from qgis.gui import QgsFileWidget
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QComboBox, QPushButton

from ..core.decision.threshold import THRESHOLD_METHODS
from ..core.errors import InputError
from ..core.params import EPOCHS_RANGE, GRIDS, MODES, OUTPUT_FILES, SEED_RANGE, RunParams
from ..core.raster.write import remove_stale_partials
from ..deps.install_task import INSTALL_BUTTON
from ..deps.pip_install import TORCH_VERSION
from ..i18n import tr
from ..layers import raster_source, vector_file, write_gpkg
from ..task import LOG_TAG, torch_missing_message

# Raster providers whose layers are not files GDAL can open in the task's thread.
NON_FILE_RASTERS = ["wms", "wcs", "arcgismapserver", "postgresraster", "virtualraster"]
OUTPUT_FOLDER_SETTING = "oaip_qgis/output_folder"   # the last folder a run wrote into, offered next session


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


class Inputs:
    """OaipDock's inputs (a part of the panel's class; its state is the panel's)."""

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
