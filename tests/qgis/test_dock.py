"""The dock panel inside QGIS (pytest-qgis, offscreen): inputs, a real run through the task manager,
cancel, errors, the live threshold slider and analyst samples."""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace

import numpy as np
import pytest
from osgeo import gdal
from pytest_qgis.utils import wait, wait_until
from qgis.core import QgsPointXY, QgsProject, QgsRasterLayer, QgsSettings, QgsVectorLayer, QgsWkbTypes
from qgis.PyQt.QtCore import QEvent, QPoint, Qt
from qgis.PyQt.QtGui import QKeyEvent, QMouseEvent

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.pipeline import run as pipeline_run
from oaip_qgis.dock import OaipDock
from oaip_qgis.dock import inputs as inputs_module
from oaip_qgis.dock import threshold as threshold_module

RUN_TIMEOUT_MS = 60_000


@pytest.fixture()
def project_pair(qgis_new_project, sample_pair):
    """The sample pair and its reference as project layers, plus one vector layer that must not be offered."""
    project = QgsProject.instance()
    layers = {name: QgsRasterLayer(sample_pair[name], name) for name in ("t1", "t2", "truth")}
    layers["points"] = QgsVectorLayer("Point?crs=EPSG:32633&field=changed:integer", "points", "memory")
    for layer in layers.values():
        assert layer.isValid()
        project.addMapLayer(layer)
    return layers


@pytest.fixture()
def dock(qgis_iface, project_pair, tmp_path):
    """A panel on the sample pair in prior mode, writing under tmp_path/out."""
    panel = OaipDock(qgis_iface)
    panel.ui.t1Combo.setLayer(project_pair["t1"])
    panel.ui.t2Combo.setLayer(project_pair["t2"])
    panel.ui.modeCombo.setCurrentText("prior")
    (tmp_path / "out").mkdir()
    panel.ui.outputFolder.setFilePath(str(tmp_path / "out"))
    yield panel
    if panel.task is not None:
        panel.cancel_run()
        wait_until(lambda: panel.task is None, timeout_milliseconds=RUN_TIMEOUT_MS)
    panel.close_down()
    panel.deleteLater()


def run_and_wait(panel: OaipDock) -> None:
    panel.ui.runButton.click()
    assert panel.task is not None, panel.ui.statusLabel.text()
    assert wait_until(lambda: panel.task is None, timeout_milliseconds=RUN_TIMEOUT_MS)


def change_ones(layer: QgsRasterLayer) -> int:
    """Changed pixels as QGIS reads them through the layer's provider (what the map shows)."""
    block = layer.dataProvider().block(1, layer.extent(), layer.width(), layer.height())
    return int(np.count_nonzero(np.frombuffer(bytes(block.data()), np.uint8) == 1))


def test_panel_lists_only_raster_layers(dock, project_pair):
    for combo in (dock.ui.t1Combo, dock.ui.t2Combo):
        offered = {combo.layer(i).name() for i in range(combo.count())}
        assert offered == {"t1", "t2", "truth"}
    samples = dock.ui.samplesCombo
    assert {samples.layer(i).name() for i in range(samples.count()) if samples.layer(i)} == {"points"}
    assert dock.ui.aoiCombo.count() == 1 and dock.ui.aoiCombo.currentLayer() is None  # only "no layer"


def test_panel_choices_reach_the_parameters(dock, project_pair, tmp_path):
    ui = dock.ui
    assert not ui.epochsSpin.isEnabled() and not ui.pruneCheck.isEnabled()  # prior mode does not train
    ui.modeCombo.setCurrentText("fp32")
    assert ui.pruneCheck.isEnabled()       # the fp32 twin prunes as int8 does
    ui.modeCombo.setCurrentText("int8")
    ui.epochsSpin.setValue(3)
    ui.pruneCheck.setChecked(False)
    assert ui.coregisterCheck.isChecked()   # on by default, as in RunParams
    ui.coregisterCheck.setChecked(False)
    assert not ui.oneKindCheck.isChecked()   # off by default: two different sensors are the common case
    ui.oneKindCheck.setChecked(True)
    assert not ui.maskCloudsCheck.isChecked()   # off by default: white roofs and snow would go with the cloud
    ui.maskCloudsCheck.setChecked(True)
    assert not ui.sameGridCheck.isChecked()   # off by default, as in RunParams
    ui.sameGridCheck.setChecked(True)
    assert ui.gridCombo.currentText() == "finer"   # as in RunParams
    ui.gridCombo.setCurrentText("t2")
    ui.seedSpin.setValue(42)
    ui.thresholdMethodCombo.setCurrentText("manual")
    ui.manualThresholdSpin.setValue(0.3)
    ui.referenceCombo.setLayer(project_pair["truth"])
    params = dock.build_params(str(tmp_path))
    assert (params.mode, params.epochs, params.prune, params.seed) == ("int8", 3, False, 42)
    assert params.coregister is False and params.one_kind is True and params.same_grid is True
    assert params.mask_clouds is True
    assert params.grid == "t2"
    assert (params.threshold_method, params.threshold) == ("manual", pytest.approx(0.3))
    assert params.reference == project_pair["truth"].source() and params.samples is None and params.aoi is None
    assert os.path.dirname(params.out_change) == str(tmp_path) and params.out_polygons.endswith(".gpkg")


def test_finding_more_like_the_samples_needs_the_network_and_a_samples_layer(dock, tmp_path):
    ui = dock.ui
    assert not ui.extendCheck.isChecked() and not ui.extendCheck.isEnabled()   # off, and prior mode trains nothing
    ui.modeCombo.setCurrentText("int8")
    ui.extendCheck.setChecked(True)
    with pytest.raises(InputError, match="EXTEND_FROM_SAMPLES needs analyst samples"):
        dock.build_params(str(tmp_path))
    ui.samplesCombo.setLayer(next(ui.samplesCombo.layer(i) for i in range(ui.samplesCombo.count())
                                  if ui.samplesCombo.layer(i)))
    params = dock.build_params(str(tmp_path))
    assert params.extend_from_samples and params.samples.endswith("samples.gpkg")
    ui.modeCombo.setCurrentText("prior")   # the box greys out and is not passed on
    assert not dock.build_params(str(tmp_path)).extend_from_samples


def test_band_choice_reaches_the_parameters(dock, tmp_path):
    bands = dock.ui.t1Bands
    assert bands.count() == 4 and dock.ui.t2Bands.count() == 1
    assert dock.build_params(str(tmp_path)).bands1 is None  # all ticked: all bands
    bands.setItemCheckState(3, Qt.Unchecked)
    params = dock.build_params(str(tmp_path))
    assert params.bands1 == [1, 2, 3] and params.bands2 is None and params.mode == "prior"
    for i in range(bands.count()):
        bands.setItemCheckState(i, Qt.Unchecked)
    with pytest.raises(InputError, match="T1: tick at least one band"):
        dock.build_params(str(tmp_path))


def test_nodata_values_reach_the_parameters(dock, tmp_path):
    assert dock.build_params(str(tmp_path)).nodata1 is None        # empty: the file's own
    dock.ui.t1Nodata.setText("0")
    dock.ui.t2Nodata.setText(" -9999.5 ")
    params = dock.build_params(str(tmp_path))
    assert params.nodata1 == 0.0 and params.nodata2 == -9999.5
    dock.ui.t2Nodata.setText("none")
    with pytest.raises(InputError, match="T2 nodata must be a number"):
        dock.build_params(str(tmp_path))


def test_the_statistics_have_room_and_scroll_with_the_results(dock):
    from qgis.PyQt.QtWidgets import QScrollArea

    scroll = dock.ui.resultsScroll
    assert isinstance(scroll, QScrollArea) and scroll.widgetResizable()
    assert scroll.widget().isAncestorOf(dock.ui.statsTree) and scroll.widget().isAncestorOf(dock.ui.thresholdGroup)
    assert dock.ui.statsTree.minimumHeight() >= 200


def test_epochs_and_seed_offer_only_what_the_engine_accepts(dock):
    assert (dock.ui.epochsSpin.minimum(), dock.ui.epochsSpin.maximum()) == (1, 100)
    dock.ui.epochsSpin.setValue(0)
    assert dock.ui.epochsSpin.value() == 1
    assert dock.ui.seedSpin.minimum() == 0


def test_same_layer_twice_is_refused_before_any_run(dock, project_pair, tmp_path):
    dock.ui.t2Combo.setLayer(project_pair["t1"])
    dock.ui.runButton.click()
    assert dock.task is None
    assert "same layer" in dock.ui.statusLabel.text()
    assert os.listdir(tmp_path / "out") == []


def test_run_through_the_panel_adds_styled_layers_and_statistics(dock, project_pair, sample_pair, tmp_path,
                                                                  monkeypatch):
    dock.ui.referenceCombo.setLayer(project_pair["truth"])
    run_and_wait(dock)
    assert "Done" in dock.ui.statusLabel.text(), dock.ui.statusLabel.text()
    group = QgsProject.instance().layerTreeRoot().findGroup(dock.run_name)
    assert group is not None and dock.run_name.startswith("OAIP prior: t1 → t2")
    assert [node.name() for node in group.children()] == [
        "Change polygons", "Change", "Confidence", "Difference (change score)"]
    change = QgsProject.instance().mapLayer(dock.layer_ids["change"])
    colours = {c.value: c.color for c in change.renderer().classes()}
    assert colours[1].red() > 200 and colours[1].alpha() == 255 and colours[0].alpha() == 0
    assert change.dataProvider().sourceNoDataValue(1) == 255  # nodata is not drawn
    assert QgsProject.instance().mapLayer(dock.layer_ids["difference"]).renderer().type() == "singlebandpseudocolor"
    # Statistics shown are the run's own: the threshold row matches the written statistics file.
    written = json.loads(open(dock.outputs["stats"]).read())
    tree = dock.ui.statsTree
    sections = {tree.topLevelItem(i).text(0): tree.topLevelItem(i) for i in range(tree.topLevelItemCount())}
    result = {sections["Result"].child(i).text(0): sections["Result"].child(i).text(1)
              for i in range(sections["Result"].childCount())}
    assert result["Threshold"].startswith(f"{written['threshold']:.4f}")
    assert result["Prior's cut"].startswith(f"{written['prior_cut']:.4f}")
    assert "Accuracy against the reference" in sections
    kappa = [sections["Accuracy against the reference"].child(i) for i in range(6)]
    assert any(item.text(0) == "Kappa" and float(item.text(1)) == pytest.approx(written["metrics"]["kappa"], abs=1e-4)
               for item in kappa)
    assert change_ones(change) == round(written["changed_fraction"] * written["valid_pixels"])
    assert dock.ui.thresholdGroup.isEnabled() and sum(dock.histogram.counts) == written["valid_pixels"]
    exported = tmp_path / "exported.json"
    dock.export_stats(str(exported))
    data = json.loads(exported.read_text())
    assert data["threshold"] == written["threshold"] and data["parameters"]["t1"] == sample_pair["t1"]
    unwritable = tmp_path / "missing" / "statistics.json"     # a folder that does not exist: a sentence, no traceback
    monkeypatch.setattr(threshold_module.QFileDialog, "getSaveFileName", lambda *args: (str(unwritable), ""))
    dock._export_clicked()
    assert "could not be written to" in dock.ui.statusLabel.text() and not unwritable.exists()


def test_a_new_run_removes_what_killed_runs_left_in_their_folders(dock, tmp_path):
    from oaip_qgis.core.raster.write import HOST

    killed, live = tmp_path / "out" / "oaip_int8_20250101_000000", tmp_path / "out" / "oaip_int8_20250101_000001"
    for folder, name in ((killed, ".change.0123abcd.partial.tif"),
                         (live, f".change.{HOST}-{os.getppid()}-0123abcd.partial.tif")):
        folder.mkdir()
        (folder / name).write_bytes(b"x")
        os.utime(folder / name, (time.time() - 7200, time.time() - 7200))
    run_and_wait(dock)
    assert not killed.exists()
    assert os.listdir(live) == [f".change.{HOST}-{os.getppid()}-0123abcd.partial.tif"]   # its process runs


def test_cancel_leaves_no_layer_and_no_file(dock, tmp_path):
    started = []

    def wait_for_cancel(params, progress):
        """The real pipeline, started only once the analyst has pressed Cancel."""
        started.append(params.out_change)
        progress(0.0, "Waiting")
        while not progress.is_cancelled():
            time.sleep(0.005)
        return pipeline_run(params, progress)

    dock._run_fn = wait_for_cancel
    layers_before = set(QgsProject.instance().mapLayers())
    dock.ui.runButton.click()
    assert wait_until(lambda: started, timeout_milliseconds=RUN_TIMEOUT_MS)
    assert os.listdir(tmp_path / "out")  # the run's folder exists while it runs
    dock.ui.cancelButton.click()
    assert wait_until(lambda: dock.task is None, timeout_milliseconds=RUN_TIMEOUT_MS)
    assert "Cancelled" in dock.ui.statusLabel.text()
    assert set(QgsProject.instance().mapLayers()) == layers_before
    assert os.listdir(tmp_path / "out") == []
    assert dock.ui.runButton.isEnabled() and not dock.ui.cancelButton.isEnabled()


def test_engine_error_is_shown_and_its_folder_removed(dock, tmp_path):
    def bad_input(params, progress):
        raise InputError("The two images do not overlap.")

    dock._run_fn = bad_input
    run_and_wait(dock)
    assert "do not overlap" in dock.ui.statusLabel.text()
    assert os.listdir(tmp_path / "out") == []


def test_a_samples_file_is_read_as_itself_and_a_scratch_layers_copy_is_named_as_the_layer(dock, project_pair,
                                                                                          tmp_path):
    """Messages named the run folder's copy of every vector input, a file already gone with the failed run."""
    from osgeo import ogr, osr

    path = tmp_path / "my samples.gpkg"
    data = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    data.CreateLayer("areas", osr.SpatialReference(project_pair["t1"].crs().toWkt()), ogr.wkbPolygon).CreateField(
        ogr.FieldDefn("label", ogr.OFTString))
    data = None
    own = QgsVectorLayer(f"{path}|layername=areas", "my samples", "ogr")
    assert own.isValid()
    QgsProject.instance().addMapLayer(own)
    dock.ui.samplesCombo.setLayer(own)
    assert dock.build_params(str(tmp_path / "out")).samples == own.source()
    dock.ui.samplesCombo.setLayer(project_pair["points"])   # a scratch layer: written out for the run

    def refuse(params, progress):
        raise InputError(f"Samples: '{params.samples}' has no field 'changed'.")

    dock._run_fn = refuse
    run_and_wait(dock)
    assert dock.ui.statusLabel.text() == "Samples: layer 'points' has no field 'changed'."
    (tmp_path / "again").mkdir()
    params = dock.build_params(str(tmp_path / "again"))   # stats.json names the layer beside its copy
    assert params.copied_layers == {"samples": "points"} and params.recorded()["copied_layers"] == {"samples": "points"}
    dock.ui.samplesCombo.setLayer(own)
    assert "copied_layers" not in dock.build_params(str(tmp_path / "again")).recorded()


def test_a_selection_in_an_aoi_layer_is_said_to_be_left_aside(dock, project_pair, tmp_path):
    """The panel reads whole layers: an analyst who selected one of an AOI layer's polygons got the union of all of
    them mapped, without a word (Processing's Selected features only is where a selection counts)."""
    from qgis.core import QgsApplication, QgsFeature, QgsGeometry

    layer = QgsVectorLayer("Polygon?crs=EPSG:32633", "flood areas", "memory")
    features = []
    for left in (500000, 501000):
        feature = QgsFeature()
        feature.setGeometry(QgsGeometry.fromWkt(f"POLYGON (({left} 4000000, {left + 500} 4000000, {left + 500} "
                                                f"3999500, {left} 3999500, {left} 4000000))"))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    QgsProject.instance().addMapLayer(layer)
    dock.ui.aoiCombo.setLayer(layer)
    logged = []
    QgsApplication.messageLog().messageReceived.connect(lambda message, tag, level: logged.append(message))
    (tmp_path / "a").mkdir()
    dock.build_params(str(tmp_path / "a"))
    layer.selectByIds([next(layer.getFeatures()).id()])
    (tmp_path / "b").mkdir()
    dock.build_params(str(tmp_path / "b"))
    said = [message for message in logged if "selected" in message]
    assert said == ["AOI: all 2 features of the layer 'flood areas' are used, not only the 1 selected (the panel "
                    "reads whole layers; Processing's Detect changes can take Selected features only)."]


def test_a_removed_input_layer_is_not_silently_replaced_by_another(dock, project_pair, tmp_path):
    """Removing the reference made its box show T2; removing T1 during a run made the next run compare T2
    with the reference mask."""
    ui = dock.ui
    ui.referenceCombo.setLayer(project_pair["truth"])
    QgsProject.instance().removeMapLayer(project_pair["truth"].id())
    assert ui.referenceCombo.currentLayer() is None
    assert "Reference ('truth')" in ui.statusLabel.text()
    QgsProject.instance().removeMapLayer(project_pair["t1"].id())
    assert ui.t1Combo.currentLayer() is not None          # the box moved on to another layer by itself …
    with pytest.raises(InputError, match="T1's layer 't1' was removed from the project.*choose T1 again"):
        dock.build_params(str(tmp_path / "out"))           # … which is not taken as T1 without the analyst
    ui.t1Combo.activated.emit(ui.t1Combo.currentIndex())   # chosen by hand
    with pytest.raises(InputError, match="T1 and T2 are the same layer"):
        dock.build_params(str(tmp_path / "out"))


def test_a_layer_added_after_t1_s_was_removed_leaves_t2_as_chosen(dock, project_pair, sample_pair, tmp_path):
    """T1's box moved onto T2's layer when T1's left the project; dragging T1's file in again then moved T2's box onto
    it without a word (T1 chosen again on it was refused as the same layer; under other names, T2 was changed)."""
    ui = dock.ui
    QgsProject.instance().removeMapLayer(project_pair["t1"].id())
    assert ui.t1Combo.currentLayer() == project_pair["t2"]
    again = QgsRasterLayer(sample_pair["t1"], "t1 again")
    QgsProject.instance().addMapLayer(again)
    assert ui.t2Combo.currentLayer() == project_pair["t2"]
    assert ui.t1Combo.currentLayer() != project_pair["t2"]
    with pytest.raises(InputError, match="T1's layer 't1' was removed"):   # still to be chosen by hand
        dock.build_params(str(tmp_path / "out"))
    ui.t1Combo.setLayer(again)
    ui.t1Combo.activated.emit(ui.t1Combo.currentIndex())
    assert dock.build_params(str(tmp_path / "out")).t2 == str(sample_pair["t2"])


def test_an_output_folder_that_is_a_file_is_named_as_such(dock, tmp_path):
    (tmp_path / "afile.txt").write_text("x")
    dock.ui.outputFolder.setFilePath(str(tmp_path / "afile.txt"))
    assert dock.start_run() is None
    assert "'" + str(tmp_path / "afile.txt") + "' is a file, not a folder" in dock.ui.statusLabel.text()


def test_no_change_is_said_in_the_summary_and_an_earlier_runs_results_are_named_as_such(dock, project_pair,
                                                                                         sample_pair, tmp_path):
    copy = shutil.copy(sample_pair["t1"], tmp_path / "t1_copy.tif")   # the same file twice is refused
    twin = QgsRasterLayer(str(copy), "t1 again")
    QgsProject.instance().addMapLayer(twin)
    dock.ui.t2Combo.setLayer(twin)
    run_and_wait(dock)
    assert "No significant change found" in dock.ui.summaryLabel.text()
    assert "no significant change found" in dock.ui.statusLabel.text()

    def manual(params, progress):   # a manual threshold marks what lies above it, whatever the evidence says
        result = pipeline_run(params, progress)
        return replace(result, stats=replace(result.stats, evidence={**result.stats.evidence, "applied": False}))

    dock._run_fn = manual
    run_and_wait(dock)
    assert "significant" not in dock.ui.summaryLabel.text() + dock.ui.statusLabel.text()

    def only_around(params, progress):   # an AOI of unchanged land beside change: the ground's verdict is change
        result = pipeline_run(params, progress)
        evidence = {**result.stats.evidence, "significant": True, "within": 0}
        return replace(result, stats=replace(result.stats, evidence=evidence))

    dock._run_fn = only_around
    run_and_wait(dock)
    assert "Nothing marked within the area of interest</b>, though change was found on the ground around it" in (
        dock.ui.summaryLabel.text())
    assert "nothing marked within the area of interest (change was found on the ground around it)" in (
        dock.ui.statusLabel.text())
    assert "significant" not in dock.ui.summaryLabel.text() + dock.ui.statusLabel.text()

    def refuse(params, progress):
        raise InputError("The two images do not overlap.")

    dock._run_fn = refuse
    first = dock.shown_run
    run_and_wait(dock)
    assert "do not overlap" in dock.ui.statusLabel.text()
    summary = dock.ui.summaryLabel.text()   # the Results tab still shows the first run: it says so
    assert f"Results of {first}; the latest run, {dock.run_name}, did not finish" in summary

    os.remove(dock.outputs["difference"])   # moved or deleted after the run: the slider cannot cut it
    dock.ui.thresholdSlider.setValue(700)
    dock.apply_threshold()
    assert "difference image" in dock.ui.statusLabel.text() and "moved or deleted" in dock.ui.statusLabel.text()
    assert not dock.ui.thresholdGroup.isEnabled()


def test_cuts_and_saves_at_a_threshold_run_in_the_background(dock, tmp_path, monkeypatch):
    """On a Sentinel-2 tile a cut took seconds and a save tens of seconds on QGIS's main thread."""
    run_and_wait(dock)
    slider = dock.ui.thresholdSlider
    for value in (800, 900):
        slider.blockSignals(True)
        slider.setValue(value)
        slider.blockSignals(False)
        dock.apply_threshold()
        assert dock._cut_task is not None          # handed to a task: the main thread goes on at once
    assert dock._cut_again                         # 0.9 chosen while 0.8 is cut: cut when it ends
    assert wait_until(lambda: dock._cut_task is None and dock.stats.threshold == 0.9, timeout_milliseconds=10_000)
    assert QgsProject.instance().mapLayer(dock.threshold_layer_id).name() == "Change (threshold 0.900)"
    (tmp_path / "saved").mkdir()
    monkeypatch.setattr(threshold_module.QFileDialog, "getExistingDirectory", lambda *args: str(tmp_path / "saved"))
    dock._save_threshold_clicked()
    assert dock._save_task is not None and not dock.save_threshold_button.isEnabled()
    assert wait_until(lambda: dock._save_task is None, timeout_milliseconds=10_000)
    assert "written to" in dock.ui.statusLabel.text() and dock.save_threshold_button.isEnabled()
    # The names a command-line run and a batch use, with the threshold; the change layer's style beside it (and
    # GDAL's .aux.xml of the statistics QGIS took of it, opened for its style).
    assert sorted(name for name in os.listdir(tmp_path / "saved") if not name.endswith(".aux.xml")) == [
        "change_threshold_0.900.qml", "change_threshold_0.900.tif", "changes_threshold_0.900.gpkg",
        "stats_threshold_0.900.json"]
    assert QgsProject.instance().layerTreeRoot().findGroup("OAIP at threshold 0.900") is not None


def test_a_save_at_a_threshold_shows_its_progress_and_is_cancelled_from_the_task_manager(dock, tmp_path,
                                                                                          monkeypatch):
    """The save's task ignored QGIS's cancel button and showed no progress (its polygons took 95 s for a speckled
    map of 650 000 regions); a task cancelled before it started was reported as an unexpected error."""
    run_and_wait(dock)
    dock.ui.thresholdSlider.setValue(900)
    (tmp_path / "saved").mkdir()
    monkeypatch.setattr(threshold_module.QFileDialog, "getExistingDirectory", lambda *args: str(tmp_path / "saved"))
    shown, real = [], threshold_module.rethreshold

    def waits_for_a_cancel(*args, progress, **kwargs):
        progress(0.1)
        shown.append(True)
        while not progress.is_cancelled():
            time.sleep(0.005)
        return real(*args, progress=progress, **kwargs)

    monkeypatch.setattr(threshold_module, "rethreshold", waits_for_a_cancel)
    dock._save_threshold_clicked()
    task = dock._save_task
    assert wait_until(lambda: shown and task.progress() > 0, timeout_milliseconds=10_000)
    task.cancel()
    assert wait_until(lambda: dock._save_task is None, timeout_milliseconds=10_000)
    assert dock.ui.statusLabel.text() == "Cancelled: nothing was written."
    assert os.listdir(tmp_path / "saved") == [] and dock.save_threshold_button.isEnabled()
    monkeypatch.setattr(threshold_module, "rethreshold", real)
    dock._save_threshold_clicked()
    dock._save_task.cancel()   # at once: perhaps before the task started
    assert wait_until(lambda: dock._save_task is None, timeout_milliseconds=10_000)
    assert dock.ui.statusLabel.text() in ("Cancelled: nothing was written.",
                                          f"Change layer, polygons and statistics at this threshold written to "
                                          f"{tmp_path / 'saved'}")


def test_a_save_at_a_threshold_styles_its_change_layer_without_the_project(dock, tmp_path):
    """A save that ended after Project > New (or the plugin's unloading) wrote its change layer without the .qml
    beside it: opened later, it was grey. The task writes the style itself now, as a run's task does."""
    run_and_wait(dock)
    dock.ui.thresholdSlider.setValue(900)
    (tmp_path / "saved").mkdir()
    paths = dock.save_threshold(str(tmp_path / "saved"))   # the task's work, without adding layers
    assert os.path.exists(os.path.splitext(paths["change"])[0] + ".qml")


def test_only_one_run_at_a_time(dock):
    def blocked(params, progress):
        while not progress.is_cancelled():
            time.sleep(0.005)
        return None

    dock._run_fn = blocked
    first = dock.start_run()
    assert first is not None and not dock.ui.runButton.isEnabled()
    assert dock.start_run() is None


def test_slider_makes_a_separate_layer_and_leaves_the_runs_outputs_as_written(dock, project_pair, tmp_path):
    dock.ui.referenceCombo.setLayer(project_pair["truth"])
    run_and_wait(dock)
    change = QgsProject.instance().mapLayer(dock.layer_ids["change"])
    before = change_ones(change)
    written = {kind: open(dock.outputs[kind], "rb").read() for kind in ("change", "stats")}
    difference = gdal.Open(dock.outputs["difference"]).ReadAsArray()
    dock.ui.thresholdSlider.setValue(800)
    assert wait_until(lambda: dock.stats.threshold == 0.8, timeout_milliseconds=5000)
    first_id = dock.threshold_layer_id
    first_path = QgsProject.instance().mapLayer(first_id).source()
    dock.ui.thresholdSlider.setValue(900)
    assert wait_until(lambda: dock.stats.threshold == 0.9, timeout_milliseconds=5000)
    assert QgsProject.instance().mapLayer(first_id) is None and not os.path.exists(first_path)
    for value in range(100, 800, 50):   # files do not pile up as the slider moves (nor their .aux.xml)
        dock.ui.thresholdSlider.setValue(value)
        assert wait_until(lambda value=value: dock.stats.threshold == value / 1000, timeout_milliseconds=5000)
    dock.ui.thresholdSlider.setValue(900)
    assert wait_until(lambda: dock.stats.threshold == 0.9, timeout_milliseconds=5000)
    current = os.path.basename(QgsProject.instance().mapLayer(dock.threshold_layer_id).source())
    assert [name for name in os.listdir(os.path.dirname(first_path)) if not name.startswith(current)] == []
    moved = QgsProject.instance().mapLayer(dock.threshold_layer_id)
    assert moved.name() == "Change (threshold 0.900)"
    assert change_ones(moved) == int(np.count_nonzero(difference > 0.9)) < before
    group = QgsProject.instance().layerTreeRoot().findGroup(dock.run_name)
    names = [node.name() for node in group.children()]
    assert names.index("Change (threshold 0.900)") == names.index("Change") - 1
    assert "Change (threshold 0.800)" not in names          # one slider layer at a time
    # The run's change layer and files are as the run wrote them, whatever the slider did.
    assert change_ones(change) == before
    assert {kind: open(dock.outputs[kind], "rb").read() for kind in written} == written
    assert dock.stats.run_threshold < 0.9 and "run's outputs" in dock.ui.summaryLabel.text()
    assert dock.task is None  # no retraining
    saved = dock.save_threshold(str(tmp_path))
    stats = json.loads(open(saved["stats"]).read())
    assert stats["threshold"] == 0.9 and stats["metrics"]["tp"] + stats["metrics"]["fp"] == change_ones(moved)
    assert os.path.exists(saved["polygons"]) and gdal.Open(saved["change"]).RasterXSize == difference.shape[1]
    first = open(saved["change"], "rb").read()
    again = dock.save_threshold(str(tmp_path))   # the same threshold into the same folder: beside, not over
    assert set(again.values()).isdisjoint(saved.values()) and again["change"].endswith("threshold_0.900_2.tif")
    assert open(saved["change"], "rb").read() == first


def click(tool, canvas, point: QgsPointXY, button=Qt.LeftButton) -> None:
    pixel = canvas.getCoordinateTransform().transform(point)
    from qgis.gui import QgsMapMouseEvent

    event = QMouseEvent(QEvent.MouseButtonRelease, QPoint(int(pixel.x()), int(pixel.y())), button, button,
                        Qt.NoModifier)
    tool.canvasReleaseEvent(QgsMapMouseEvent(canvas, event))


def press(tool, key) -> None:
    tool.keyPressEvent(QKeyEvent(QEvent.KeyPress, key, Qt.NoModifier))


def test_sample_tool_stores_drawn_areas_and_hands_them_to_the_run(dock, project_pair, qgis_canvas, tmp_path):
    qgis_canvas.setDestinationCrs(project_pair["t1"].crs())
    qgis_canvas.setExtent(project_pair["t1"].extent())
    qgis_canvas.resize(400, 400)
    wait(10)
    centre = project_pair["t1"].extent().center()
    step = 20 * qgis_canvas.mapUnitsPerPixel()
    tool = dock.sample_tool

    def corner(dx: float, dy: float) -> QgsPointXY:
        return QgsPointXY(centre.x() + dx * step, centre.y() + dy * step)

    dock.ui.changedSampleButton.click()
    assert qgis_canvas.mapTool() == tool
    for dx, dy in ((0, 0), (2, 0), (2, 2), (0, 2), (5, 5)):
        click(tool, qgis_canvas, corner(dx, dy))
    press(tool, Qt.Key_Backspace)                    # the stray fifth corner is taken back
    click(tool, qgis_canvas, corner(0, 2), Qt.RightButton)
    dock.ui.unchangedSampleButton.click()
    assert not dock.ui.changedSampleButton.isChecked() and dock.ui.unchangedSampleButton.isChecked()
    assert qgis_canvas.mapTool() == tool
    for dx, dy in ((-3, -3), (-1, -3)):              # two corners are no area: dropped
        click(tool, qgis_canvas, corner(dx, dy))
    click(tool, qgis_canvas, corner(-1, -1), Qt.RightButton)
    click(tool, qgis_canvas, corner(-4, 0))
    press(tool, Qt.Key_Escape)                        # an area given up
    for dx, dy in ((-3, -3), (-1, -3), (-1, -1)):
        click(tool, qgis_canvas, corner(dx, dy))
    click(tool, qgis_canvas, corner(-3, -1), Qt.RightButton)
    layer = dock.sample_layer()
    assert layer.geometryType() == QgsWkbTypes.PolygonGeometry
    areas = {f["changed"]: f.geometry() for f in layer.getFeatures()}
    assert layer.featureCount() == 2 and sorted(areas) == [0, 1]
    pixel = qgis_canvas.mapUnitsPerPixel()
    # Each stored where it was drawn; a right click closes the polygon, as QGIS's own tools, adding no corner.
    for value, x0, y0, corners in ((1, 0, 0, 4), (0, -3, -3, 3)):
        box = areas[value].boundingBox()
        assert abs(box.xMinimum() - corner(x0, y0).x()) <= 2 * pixel
        assert abs(box.yMinimum() - corner(x0, y0).y()) <= 2 * pixel
        assert box.width() == pytest.approx(2 * step, abs=2 * pixel)
        assert len(areas[value].asPolygon()[0]) == corners + 1
    assert not tool.corners and not tool.band.isVisible()
    assert dock.ui.samplesCombo.currentLayer() == layer
    params = dock.build_params(str(tmp_path))
    written = QgsVectorLayer(params.samples, "written", "ogr")
    assert written.featureCount() == 2 and written.crs() == project_pair["t1"].crs()
    assert written.geometryType() == QgsWkbTypes.PolygonGeometry
    dock.ui.unchangedSampleButton.click()
    assert qgis_canvas.mapTool() != dock.sample_tool


def test_the_output_folder_chosen_is_offered_again_in_the_next_session(dock, qgis_iface, tmp_path):
    """Each session began on QGIS's temporary folder, emptied when QGIS closes: a run made without looking
    again at the folder was lost."""
    run_and_wait(dock)
    assert QgsSettings().value(inputs_module.OUTPUT_FOLDER_SETTING) == str(tmp_path / "out")
    again = OaipDock(qgis_iface)
    assert again.ui.outputFolder.filePath() == str(tmp_path / "out")
    again.close_down()
    again.deleteLater()



def test_a_bug_in_background_work_is_said_and_logged_not_raised_into_qgis(dock):
    """A background task's unexpected error was raised again inside its finished callback, out of Qt's hands."""
    ended = []

    def broken(_progress) -> None:
        raise ZeroDivisionError("boom")

    task = dock._in_background("broken", broken, lambda result: None, lambda: ended.append(True))
    assert wait_until(lambda: bool(ended), timeout_milliseconds=10_000)
    assert wait_until(lambda: "Unexpected error: ZeroDivisionError('boom')" in dock.ui.statusLabel.text(),
                      timeout_milliseconds=2_000), dock.ui.statusLabel.text()
    assert task is not None


def test_a_cut_of_the_results_a_new_run_replaced_is_dropped(dock, monkeypatch):
    """A slider cut still going when the next run ended (seconds on a large tile) put the old run's layer into the
    new run's group, and its figures under the new run's accuracy."""
    import threading

    run_and_wait(dock)
    release, go, real = threading.Event(), threading.Event(), threshold_module.rethreshold
    monkeypatch.setattr(threshold_module, "rethreshold",
                        lambda *args, **kwargs: (release.wait(30), real(*args, **kwargs))[1])   # a large tile
    dock._run_fn = blocked_until(go)
    dock.ui.runButton.click()                 # the next run …
    dock.ui.thresholdSlider.setValue(900)     # … while the analyst keeps trying thresholds on the first
    assert wait_until(lambda: dock._cut_task is not None, timeout_milliseconds=5_000)
    go.set()
    assert wait_until(lambda: dock.task is None, timeout_milliseconds=RUN_TIMEOUT_MS)
    second = dock.run_stats
    release.set()
    assert wait_until(lambda: dock._cut_task is None, timeout_milliseconds=RUN_TIMEOUT_MS)
    wait(50)
    assert dock.threshold_layer_id is None and dock.stats is second
    assert not [name for name in os.listdir(dock._threshold_folder) if name.startswith("change_threshold_0.900")]


def blocked_until(event):
    """A run function that starts the real pipeline once `event` is set (so a test can act while it goes)."""
    def run(params, progress):
        while not event.is_set():
            progress.check()
            time.sleep(0.005)
        return pipeline_run(params, progress)
    return run


def test_a_project_closed_during_a_run_gets_no_layers_and_shows_no_results(dock, tmp_path):
    """Project > New during a run put the closed project's results into the new one, and the slider then cut the
    old run into it."""
    import threading

    run_and_wait(dock)
    assert dock.ui.thresholdGroup.isEnabled()
    go = threading.Event()
    dock._run_fn = blocked_until(go)
    dock.ui.runButton.click()
    QgsProject.instance().clear()
    assert not dock.ui.thresholdGroup.isEnabled() and not dock.ui.exportButton.isEnabled()
    assert dock.stats is None and dock.ui.summaryLabel.text() == ""
    go.set()
    assert wait_until(lambda: dock.task is None, timeout_milliseconds=RUN_TIMEOUT_MS)
    assert QgsProject.instance().count() == 0
    assert "no layer was added" in dock.ui.statusLabel.text() and dock.run_dir in dock.ui.statusLabel.text()
    assert os.path.isfile(os.path.join(dock.run_dir, "change.tif"))
    dock.ui.thresholdSlider.setValue(700)
    dock.apply_threshold()
    assert dock._cut_task is None and QgsProject.instance().count() == 0


def test_layers_removed_together_name_the_inputs_that_were_chosen(dock, project_pair, sample_pair, tmp_path):
    """Each row removed moved the box onto the next: "T1 ('t1'), T1 ('t2'), T2 ('t2')", then "T1's layer 't2' was
    removed"; after Project > New the new project's layers were refused as removed ones."""
    QgsProject.instance().removeMapLayers([project_pair["t1"].id(), project_pair["t2"].id()])
    assert dock._removed == {"T1": "t1", "T2": "t2"}
    assert "Removed from the project: T1 ('t1'), T2 ('t2')." in dock.ui.statusLabel.text()
    QgsProject.instance().clear()
    layers = [QgsRasterLayer(sample_pair[name], name + " again") for name in ("t1", "t2")]
    QgsProject.instance().addMapLayers(layers)
    dock.ui.t1Combo.setLayer(layers[0])
    dock.ui.t2Combo.setLayer(layers[1])
    assert dock.build_params(str(tmp_path / "out")).t1 == str(sample_pair["t1"])


def test_a_crs_set_on_the_layer_and_not_in_its_file_is_refused(dock, project_pair, tmp_path):
    """The engine reads the file's CRS: the results came back far from the layers as QGIS showed them."""
    from qgis.core import QgsCoordinateReferenceSystem

    t2 = project_pair["t2"]
    other = "EPSG:32634" if t2.crs().authid() != "EPSG:32634" else "EPSG:32635"
    t2.setCrs(QgsCoordinateReferenceSystem(other))
    with pytest.raises(InputError, match=f"T2: layer 't2' is set to {other} .* in QGIS, but its file says "
                                         f"{t2.dataProvider().crs().authid()} .*Assign Projection"):
        dock.build_params(str(tmp_path / "out"))


def test_open_options_of_a_layer_are_left_out_or_named(dock, sample_pair, tmp_path):
    """`t2.tif|option:NUM_THREADS=2` (the Data Source Manager's options) was "the file … does not exist"."""
    for options, expected in (("|option:NUM_THREADS=2", None), ("|option:GEOREF_SOURCES=INTERNAL", "GEOREF_SOURCES")):
        layer = QgsRasterLayer(str(sample_pair["t2"]) + options, "t2 with options", "gdal")
        assert layer.isValid()
        QgsProject.instance().addMapLayer(layer)
        dock.ui.t2Combo.setLayer(layer)
        if expected is None:
            assert dock.build_params(str(tmp_path / "out")).t2 == str(sample_pair["t2"])
        else:
            with pytest.raises(InputError, match=f"T2: layer 't2 with options' is opened with the GDAL option.s. "
                                                 f"{expected}=INTERNAL"):
                dock.build_params(str(tmp_path / "out"))


def test_the_sliders_file_goes_when_the_analyst_removes_its_layer(dock):
    """Removed by hand, the slider's layer left its temporary file until the plugin unloaded, and the Results tab
    still named the layer that was gone."""
    run_and_wait(dock)
    run_threshold = dock.run_stats.threshold
    dock.ui.thresholdSlider.setValue(900)
    assert wait_until(lambda: dock.stats.threshold == 0.9, timeout_milliseconds=5000)
    path = QgsProject.instance().mapLayer(dock.threshold_layer_id).source()
    assert os.path.isfile(path)
    QgsProject.instance().removeMapLayer(dock.threshold_layer_id)
    assert not os.path.exists(path) and dock.threshold_layer_id is None
    assert dock.stats is dock.run_stats and "Shown in the layer" not in dock.ui.summaryLabel.text()
    assert dock.ui.thresholdSlider.value() == round(run_threshold * 1000)
    dock.ui.thresholdSlider.setValue(800)   # the slider still cuts
    assert wait_until(lambda: dock.stats.threshold == 0.8, timeout_milliseconds=5000)
    assert QgsProject.instance().mapLayer(dock.threshold_layer_id) is not None


def test_a_save_that_ends_after_the_project_closed_adds_no_layers(dock, tmp_path, monkeypatch):
    """Saved at a threshold while the analyst opened another project, its group landed in that project."""
    import threading

    run_and_wait(dock)
    release, real = threading.Event(), threshold_module.rethreshold
    monkeypatch.setattr(threshold_module, "rethreshold",
                        lambda *args, **kwargs: (release.wait(30), real(*args, **kwargs))[1])   # a large tile
    monkeypatch.setattr(threshold_module.QFileDialog, "getExistingDirectory", lambda *args: str(tmp_path))
    dock._save_threshold_clicked()
    assert dock._save_task is not None
    QgsProject.instance().clear()
    release.set()
    assert wait_until(lambda: dock._save_task is None, timeout_milliseconds=RUN_TIMEOUT_MS)
    assert QgsProject.instance().count() == 0
    assert "no layer was added" in dock.ui.statusLabel.text()
    assert any(name.startswith("change_threshold_") and name.endswith(".tif") for name in os.listdir(tmp_path))
