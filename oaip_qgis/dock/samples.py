"""Analyst samples drawn on the map, and vector inputs handed to the engine as GeoPackage files.

Clicked samples live in a memory point layer with an integer field `changed` (1 changed,
0 unchanged), the same schema the engine reads from a user's own sample layer. The engine only
takes file paths, so any vector input is written to a GeoPackage in the run's folder first.
"""
from __future__ import annotations

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsGeometry,
    QgsMarkerSymbol,
    QgsPointXY,
    QgsProject,
    QgsRendererCategory,
    QgsVectorFileWriter,
    QgsVectorLayer,
)
from qgis.gui import QgsMapCanvas, QgsMapToolEmitPoint
from qgis.PyQt.QtCore import Qt, QVariant, pyqtSignal

from ..i18n import tr

FIELD = "changed"
LAYER_NAME = "OAIP samples"


def new_sample_layer(crs: QgsCoordinateReferenceSystem) -> QgsVectorLayer:
    """An empty memory point layer for clicked samples, styled red (changed) and green (unchanged)."""
    layer = QgsVectorLayer(f"Point?crs={crs.authid() or 'EPSG:4326'}", tr(LAYER_NAME), "memory")
    if crs.isValid() and not crs.authid():
        layer.setCrs(crs)
    layer.dataProvider().addAttributes([QgsField(FIELD, QVariant.Int)])
    layer.updateFields()
    categories = []
    for value, colour, label in ((1, "230,0,38", "changed"), (0, "26,152,80", "unchanged")):
        symbol = QgsMarkerSymbol.createSimple({"name": "circle", "color": colour, "outline_color": "255,255,255",
                                               "size": "3"})
        categories.append(QgsRendererCategory(value, symbol, tr(label)))
    layer.setRenderer(QgsCategorizedSymbolRenderer(FIELD, categories))
    return layer


def add_sample(layer: QgsVectorLayer, point: QgsPointXY, changed: bool) -> None:
    """Store one sample (the point is in the layer's CRS)."""
    feature = QgsFeature(layer.fields())
    feature.setGeometry(QgsGeometry.fromPointXY(point))
    feature.setAttribute(FIELD, int(changed))
    layer.dataProvider().addFeatures([feature])
    layer.updateExtents()
    layer.triggerRepaint()


def write_gpkg(layer: QgsVectorLayer, path: str, crs: QgsCoordinateReferenceSystem) -> str:
    """Write the layer's features (with edits not yet saved) to a GeoPackage in `crs`; returns the path."""
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = "GPKG"
    options.layerName = "layer"
    if crs.isValid() and layer.crs().isValid() and crs != layer.crs():
        options.ct = QgsCoordinateTransform(layer.crs(), crs, QgsProject.instance())
    error, message, *_ = QgsVectorFileWriter.writeAsVectorFormatV3(
        layer, path, QgsProject.instance().transformContext(), options)
    if error != QgsVectorFileWriter.NoError:
        raise OSError(tr("Could not write '{layer}' to {path}: {message}").format(layer=layer.name(), path=path,
                                                                                   message=message))
    return path


class SampleMapTool(QgsMapToolEmitPoint):
    """Each click on the canvas emits one sample of the current class (changed or unchanged)."""

    sampled = pyqtSignal(QgsPointXY, bool)

    def __init__(self, canvas: QgsMapCanvas) -> None:
        super().__init__(canvas)
        self.changed = True

    def canvasReleaseEvent(self, event) -> None:  # noqa: N802 (QGIS's name)
        if event.button() == Qt.LeftButton:
            self.sampled.emit(self.toMapCoordinates(event.pos()), self.changed)
