"""The plugin object: registers the Processing provider (also headless) and, with a GUI, the dock."""
from __future__ import annotations

from qgis.core import QgsApplication

from .processing.provider import OaipProvider


class OaipPlugin:
    """Owns what the plugin adds to QGIS and removes all of it in unload()."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: OaipProvider | None = None

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name)
        """Called by QGIS and qgis_process; the provider must exist without a GUI."""
        if self.provider is None:
            self.provider = OaipProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 (QGIS's name)
        self.initProcessing()

    def unload(self) -> None:
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
