"""Analyst samples drawn on the map, and vector inputs handed to the engine as GeoPackage files.

Drawn samples are areas, not points: a clicked point labels one pixel among the tens of thousands
the prior labels and changed nothing on a real pair, where polygons over the same places taught the
network that kind of change. They live in a memory polygon layer with an integer field `changed`
(1 changed, 0 unchanged), the schema the engine reads from a user's own sample layer. The engine
only takes file paths, so any vector input is written to a GeoPackage in the run's folder first.
"""
from __future__ import annotations

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsField,
    QgsFillSymbol,
    QgsGeometry,
    QgsPointXY,
    QgsRendererCategory,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.gui import QgsMapCanvas, QgsMapTool, QgsRubberBand
from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP, Qt, QVariant, pyqtSignal
from qgis.PyQt.QtGui import QColor

from ..core.raster.samples import SAMPLE_FIELD
from ..i18n import tr

LAYER_NAME = QT_TRANSLATE_NOOP("OAIP", "OAIP samples")   # shown through tr()
COLOURS = {1: (230, 0, 38), 0: (26, 152, 80)}   # changed red, unchanged green: the layer and the tool


def new_sample_layer(crs: QgsCoordinateReferenceSystem) -> QgsVectorLayer:
    """An empty memory polygon layer for drawn samples, outlined red (changed) and green (unchanged)."""
    layer = QgsVectorLayer(f"Polygon?crs={crs.authid() or 'EPSG:4326'}", tr(LAYER_NAME), "memory")
    if crs.isValid() and not crs.authid():
        layer.setCrs(crs)
    layer.dataProvider().addAttributes([QgsField(SAMPLE_FIELD, QVariant.Int)])
    layer.updateFields()
    categories = []
    for value, label in ((1, tr("changed")), (0, tr("unchanged"))):
        colour = ",".join(map(str, COLOURS[value]))
        symbol = QgsFillSymbol.createSimple({"color": colour + ",60", "outline_color": colour,
                                             "outline_width": "0.6"})
        categories.append(QgsRendererCategory(value, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer(SAMPLE_FIELD, categories))
    return layer


def add_sample(layer: QgsVectorLayer, area: QgsGeometry, changed: bool) -> None:
    """Store one sample area (its geometry in the layer's CRS)."""
    feature = QgsFeature(layer.fields())
    feature.setGeometry(area)
    feature.setAttribute(SAMPLE_FIELD, int(changed))
    layer.dataProvider().addFeatures([feature])
    layer.updateExtents()
    layer.triggerRepaint()


class SampleMapTool(QgsMapTool):
    """Draws one sample area at a time: left clicks add corners, a right click closes the polygon.

    Backspace takes back the last corner, Escape drops the polygon being drawn. An area needs three
    corners; a right click on fewer drops them (a point or a line labels next to nothing).
    """

    sampled = pyqtSignal(QgsGeometry, bool)

    def __init__(self, canvas: QgsMapCanvas) -> None:
        super().__init__(canvas)
        self.changed = True
        self.corners: list[QgsPointXY] = []
        self.band = QgsRubberBand(canvas, QgsWkbTypes.PolygonGeometry)
        self.band.setWidth(2)

    def canvasReleaseEvent(self, event) -> None:  # noqa: N802 (QGIS's name)
        if event.button() == Qt.LeftButton:
            self.corners.append(self.toMapCoordinates(event.pos()))
            self._redraw()
        elif event.button() == Qt.RightButton:
            self.finish()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (QGIS's name)
        if event.key() == Qt.Key_Escape:
            self.reset()
        elif event.key() in (Qt.Key_Backspace, Qt.Key_Delete) and self.corners:
            self.corners.pop()
            self._redraw()
        else:
            event.ignore()
            return
        event.accept()

    def set_class(self, changed: bool) -> None:
        """The class of the areas drawn from now on, the one being drawn included."""
        self.changed = changed
        self._redraw()

    def finish(self) -> None:
        """Emit the polygon drawn so far (if it is an area) and start the next one."""
        area = QgsGeometry.fromPolygonXY([self.corners + self.corners[:1]]) if len(self.corners) >= 3 else None
        self.reset()
        if area is not None and area.area() > 0:
            self.sampled.emit(area, self.changed)

    def reset(self) -> None:
        self.corners = []
        self._redraw()

    def deactivate(self) -> None:  # noqa: N802 (QGIS's name)
        self.reset()
        super().deactivate()

    def _redraw(self) -> None:
        colour = QColor(*COLOURS[int(self.changed)])
        self.band.setStrokeColor(colour)
        colour.setAlpha(60)
        self.band.setFillColor(colour)
        self.band.reset(QgsWkbTypes.PolygonGeometry)
        for corner in self.corners:
            self.band.addPoint(corner, doUpdate=False)
        self.band.setVisible(bool(self.corners))
        self.band.updatePosition()
        self.band.update()
