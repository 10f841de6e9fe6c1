"""Plugin hygiene in the QGIS window: load, unload, load again; and a QGIS without torch."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from pytest_qgis.utils import process_events, wait_until
from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer
from qgis.PyQt import sip

import oaip_qgis
from oaip_qgis.dock import OaipDock

REPO = Path(__file__).resolve().parents[2]


def test_load_unload_load_removes_everything_it_added(qgis_iface, qgis_new_project, qgis_canvas):
    registry = QgsApplication.processingRegistry()
    plugin = oaip_qgis.classFactory(qgis_iface)
    for _ in range(2):
        plugin.initGui()
        dock, action, tool = plugin.dock, plugin.action, plugin.dock.sample_tool
        assert isinstance(dock, OaipDock) and registry.providerById("oaip") is not None
        assert qgis_iface.addRasterToolBarIcon.call_args.args == (action,)
        assert dock.isHidden()
        action.trigger()
        assert not dock.isHidden()
        dock.ui.changedSampleButton.click()
        assert qgis_canvas.mapTool() == dock.sample_tool
        plugin.unload()
        process_events()  # deleteLater happens here
        assert registry.providerById("oaip") is None
        assert qgis_canvas.mapTool() is None
        assert qgis_iface.removeRasterToolBarIcon.call_args.args == (action,)
        assert qgis_iface.removePluginRasterMenu.call_args.args[1] is action
        assert sip.isdeleted(dock) and sip.isdeleted(tool)   # the map tool, a child of the canvas, too
        assert plugin.dock is None and plugin.action is None


def test_unload_during_a_run_cancels_it_and_removes_its_folder(qgis_iface, qgis_new_project, sample_pair, tmp_path):
    started = []

    def until_cancelled(params, progress):
        started.append(True)
        while True:
            progress(0.1, "working")  # raises Cancelled once the plugin is unloaded
            time.sleep(0.005)

    plugin = oaip_qgis.classFactory(qgis_iface)
    plugin.initGui()
    project = QgsProject.instance()
    t1, t2 = QgsRasterLayer(sample_pair["t1"], "t1"), QgsRasterLayer(sample_pair["t2"], "t2")
    project.addMapLayers([t1, t2])
    dock = plugin.dock
    dock._run_fn = until_cancelled
    dock.ui.t1Combo.setLayer(t1)
    dock.ui.t2Combo.setLayer(t2)
    dock.ui.outputFolder.setFilePath(str(tmp_path))
    task = dock.start_run()
    assert task is not None, dock.ui.statusLabel.text()
    assert wait_until(lambda: started, timeout_milliseconds=10_000)
    assert len(list(tmp_path.iterdir())) == 1
    plugin.unload()
    assert wait_until(lambda: not list(tmp_path.iterdir()), timeout_milliseconds=10_000)
    assert QgsApplication.taskManager().countActiveTasks() == 0


def test_without_torch_the_plugin_loads_and_says_how_to_install_it(qgis_iface, qgis_new_project, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    plugin = oaip_qgis.classFactory(qgis_iface)
    plugin.initGui()
    try:
        assert not plugin.dock.ui.runButton.isEnabled()
        assert not plugin.dock.ui.torchLabel.isHidden() and "pip install" in plugin.dock.ui.torchLabel.text()
        assert not plugin.dock.install_button.isHidden()
        warnings = qgis_iface.messageBar().get_messages(Qgis.Warning)
        assert any("pip install" in message and "torch==" in message for message in warnings)
    finally:
        plugin.unload()


def test_plugin_modules_import_without_torch():
    """A fresh interpreter where `import torch` fails imports every GUI module of the plugin."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "import oaip_qgis, oaip_qgis.plugin, oaip_qgis.dock, oaip_qgis.task, oaip_qgis.layers\n"
            "assert 'oaip_qgis.core.pipeline' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
