"""The `oaip` Processing provider."""
from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..i18n import tr
from ..identity import NAME, icon
from .batch_detect import BatchDetectAlgorithm
from .detect_changes import DetectChangesAlgorithm


class OaipProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "oaip"

    def name(self) -> str:
        return tr(NAME)

    def icon(self) -> QIcon:
        return icon()

    # The engine writes GeoTIFF rasters and a GeoPackage of polygons (core.params.OUTPUT_FORMATS): the
    # dialogs offer only those, rather than a format whose name would hold another.
    def supportedOutputRasterLayerExtensions(self) -> list[str]:  # noqa: N802 (QGIS's name)
        return ["tif"]

    def supportedOutputVectorLayerExtensions(self) -> list[str]:  # noqa: N802 (QGIS's name)
        return ["gpkg"]

    def supportsNonFileBasedOutput(self) -> bool:  # noqa: N802 (QGIS's name)
        """The dialogs offered a memory layer and a database table as outputs, which the algorithms then refused."""
        return False

    def loadAlgorithms(self) -> None:  # noqa: N802 (QGIS's name)
        self.addAlgorithm(DetectChangesAlgorithm())
        self.addAlgorithm(BatchDetectAlgorithm())
