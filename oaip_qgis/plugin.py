"""The plugin object: registers the Processing provider (also headless) and, with a GUI, the dock."""
from __future__ import annotations

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtCore import Qt

from .core.i18n import set_translator
from .core.openmp_wait import restore_spin
from .deps.install_task import add_plugin_deps_to_path, remove_plugin_deps_from_path
from .i18n import install_translation, remove_translation, tr
from .identity import NAME, icon
from .processing.interrupt import cancel_running
from .processing.provider import OaipProvider


class OaipPlugin:
    """Owns what the plugin adds to QGIS and removes all of it in unload()."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: OaipProvider | None = None
        self.dock = None
        self.action = None
        self.translator = install_translation()   # before any string of the plugin is made
        add_plugin_deps_to_path()   # torch installed by the panel in an earlier session

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name)
        """Called by QGIS and qgis_process; the provider must exist without a GUI."""
        set_translator(tr)   # the engine's messages (core/i18n.py) in the user's language from here on
        if self.provider is None:
            self.provider = OaipProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 (QGIS's name)
        self.initProcessing()
        if self.iface is None:
            return
        from .dock import OaipDock  # widgets only where there is a window; torch is not imported here

        self.dock = OaipDock(self.iface, self.iface.mainWindow())
        self.iface.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        self.dock.hide()
        # The dock's own toggle action stays in step with the dock however it is closed.
        self.action = self.dock.toggleViewAction()
        self.action.setIcon(icon())
        self.action.setText(tr(NAME))
        self.action.setToolTip(tr("Detect changes between two rasters from different sensors (OAIP)"))
        self.iface.addRasterToolBarIcon(self.action)
        self.iface.addPluginToRasterMenu(tr(NAME), self.action)
        if self.dock.torch_missing:
            self.iface.messageBar().pushMessage(tr(NAME), self.dock.ui.torchLabel.text(),
                                                level=Qgis.Warning, duration=0)

    def unload(self) -> None:
        if self.dock is not None:
            self.iface.removeRasterToolBarIcon(self.action)
            self.iface.removePluginRasterMenu(tr(NAME), self.action)
            self.dock.close_down()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = self.action = None
        cancel_running()   # a toolbox run went on after the plugin was gone, and wrote its outputs
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        remove_plugin_deps_from_path()   # ahead of site-packages, its packages shadowed other plugins' after unload
        restore_spin()
        set_translator(None)
        remove_translation(self.translator)
        self.translator = None
