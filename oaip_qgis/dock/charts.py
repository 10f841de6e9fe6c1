"""Small charts drawn with QPainter: QGIS's Python may lack matplotlib, and these need only Qt.

Each chart holds its data, draws a frame and a title, and says "no data" rather than drawing
nothing, so an empty chart is never mistaken for a broken one.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from qgis.PyQt.QtCore import QPointF, QRectF, Qt, pyqtSignal
from qgis.PyQt.QtGui import QColor, QFontMetrics, QPainter, QPainterPath, QPen
from qgis.PyQt.QtWidgets import QSizePolicy, QWidget

from ..i18n import tr

ACCENT = QColor(31, 119, 180)
MUTED = QColor(200, 200, 200)
CHANGED = QColor(230, 0, 38)
SWATCH = 9   # px, a legend entry's colour square



class _Chart(QWidget):
    """Frame, title and plotting rectangle shared by the charts."""

    def __init__(self, title: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.title = title
        self.setMinimumSize(140, 110)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)

    def has_data(self) -> bool:
        raise NotImplementedError

    def draw(self, painter: QPainter, area: QRectF) -> None:
        raise NotImplementedError

    def plot_area(self) -> QRectF:
        line = QFontMetrics(self.font()).height()
        return QRectF(self.rect()).adjusted(34, line + 6, -6, -line - 4)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        painter.setPen(self.palette().mid().color())
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.setPen(self.palette().text().color())
        painter.drawText(QRectF(self.rect()).adjusted(6, 2, -6, 0), Qt.AlignLeft | Qt.AlignTop, self.title)
        if self.has_data():
            self.draw(painter, self.plot_area())
            self._draw_legend(painter)
        else:
            painter.setPen(self.palette().mid().color())
            painter.drawText(QRectF(self.rect()), Qt.AlignCenter, tr("no data"))
        painter.end()

    def legend(self) -> list[tuple[QColor, str]]:
        """(colour, meaning) entries drawn at the top right; none by default."""
        return []

    def legend_swatches(self) -> list[QRectF]:
        """Where each legend entry's colour square is drawn, right to left from the top right corner."""
        metrics = QFontMetrics(self.font())
        right, squares = self.width() - 6.0, []
        for _, label in reversed(self.legend()):
            right -= metrics.horizontalAdvance(label)
            squares.insert(0, QRectF(right - SWATCH - 3, 2 + (metrics.height() - SWATCH) / 2, SWATCH, SWATCH))
            right -= SWATCH + 3 + 10
        return squares

    def _draw_legend(self, painter: QPainter) -> None:
        line = QFontMetrics(self.font()).height()
        for (colour, label), square in zip(self.legend(), self.legend_swatches()):
            painter.fillRect(square, colour)
            painter.setPen(self.palette().text().color())
            painter.drawText(QRectF(square.right() + 3, 2, self.width(), line), Qt.AlignLeft | Qt.AlignTop, label)

    def _axis_labels(self, painter: QPainter, area: QRectF, top: str, bottom: str) -> None:
        painter.setPen(self.palette().text().color())
        line = QFontMetrics(self.font()).height()
        painter.drawText(QRectF(0, area.top() - line / 2, area.left() - 3, line), Qt.AlignRight | Qt.AlignVCenter, top)
        painter.drawText(QRectF(0, area.bottom() - line / 2, area.left() - 3, line), Qt.AlignRight | Qt.AlignVCenter,
                         bottom)


class LossChart(_Chart):
    """Training loss per epoch: it should fall; a flat or rising line says the pseudo-labels disagree."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(tr("Training loss per epoch"), parent)
        self.values: list[float] = []

    def set_values(self, values: Sequence[float]) -> None:
        self.values = [float(v) for v in values]
        self.update()

    def has_data(self) -> bool:
        return bool(self.values)

    def draw(self, painter: QPainter, area: QRectF) -> None:
        low, high = min(self.values + [0.0]), max(self.values)
        span = (high - low) or 1.0
        n = len(self.values)

        def point(i: int, v: float) -> QPointF:
            x = area.left() + (area.width() * i / (n - 1) if n > 1 else area.width() / 2)
            return QPointF(x, area.bottom() - area.height() * (v - low) / span)

        painter.setPen(QPen(self.palette().mid().color(), 1))
        painter.drawLine(area.bottomLeft(), area.bottomRight())
        painter.drawLine(area.bottomLeft(), area.topLeft())
        self._axis_labels(painter, area, f"{high:.2g}", f"{low:.2g}")
        path = QPainterPath(point(0, self.values[0]))
        for i, v in enumerate(self.values[1:], start=1):
            path.lineTo(point(i, v))
        painter.setPen(QPen(ACCENT, 2))
        painter.drawPath(path)
        painter.setBrush(ACCENT)
        for i, v in enumerate(self.values):
            painter.drawEllipse(point(i, v), 2.5, 2.5)
        painter.setPen(self.palette().text().color())
        line = QFontMetrics(self.font()).height()
        painter.drawText(QRectF(area.left(), area.bottom() + 2, area.width(), line), Qt.AlignCenter,
                         tr("epochs 1–{n}").format(n=n))


class FiltersChart(_Chart):
    """Filters per layer: the blue bar is what pruning kept, the grey above it what it removed."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(tr("Filters per layer"), parent)
        self.layers: list[tuple[str, int, int]] = []

    def set_layers(self, layers: Sequence[dict], networks: int = 1) -> None:
        """The layers' filters before and after pruning, summed over the run's `networks` (the title says so)."""
        self.title = tr("Filters per layer") if networks == 1 else tr("Filters per layer, all networks")
        self.layers = [(str(layer["name"]), int(layer["filters_before"]), int(layer["filters_after"]))
                       for layer in layers]
        self.update()

    def has_data(self) -> bool:
        return bool(self.layers)

    def legend(self) -> list[tuple[QColor, str]]:
        return [(ACCENT, tr("kept")), (MUTED, tr("pruned"))]

    def draw(self, painter: QPainter, area: QRectF) -> None:
        top = max(before for _, before, _ in self.layers) or 1
        self._axis_labels(painter, area, str(top), "0")
        slot = area.width() / len(self.layers)
        line = QFontMetrics(self.font()).height()
        painter.setPen(Qt.NoPen)
        for i, (name, before, after) in enumerate(self.layers):
            x = area.left() + i * slot + slot * 0.15
            width = slot * 0.7
            for count, colour in ((before, MUTED), (after, ACCENT)):
                height = area.height() * count / top
                painter.setBrush(colour)
                painter.drawRect(QRectF(x, area.bottom() - height, width, height))
            painter.setPen(self.palette().text().color())
            painter.drawText(QRectF(area.left() + i * slot, area.bottom() + 2, slot, line), Qt.AlignCenter, name)
            painter.setPen(Qt.NoPen)


class HistogramChart(_Chart):
    """The difference image's histogram over [0, 1] with the threshold as a red line; a click moves it."""

    thresholdPicked = pyqtSignal(float)  # noqa: N815 (Qt signal style)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(tr("Change score histogram"), parent)
        self.counts: list[int] = []
        self.threshold: Optional[float] = None
        self.setCursor(Qt.PointingHandCursor)

    def set_counts(self, counts: Sequence[int]) -> None:
        self.counts = [int(c) for c in counts]
        self.update()

    def set_threshold(self, threshold: Optional[float]) -> None:
        self.threshold = threshold
        self.update()

    def has_data(self) -> bool:
        return any(self.counts)

    def draw(self, painter: QPainter, area: QRectF) -> None:
        # Square root of the counts: the changed tail is small beside the unchanged mode.
        top = max(self.counts) ** 0.5
        width = area.width() / len(self.counts)
        painter.setPen(Qt.NoPen)
        for i, count in enumerate(self.counts):
            height = area.height() * count ** 0.5 / top
            above = self.threshold is not None and (i + 0.5) / len(self.counts) > self.threshold
            painter.setBrush(CHANGED.lighter(150) if above else ACCENT)
            painter.drawRect(QRectF(area.left() + i * width, area.bottom() - height, max(width - 0.5, 0.5), height))
        self._axis_labels(painter, area, "√n", "")
        painter.setPen(self.palette().text().color())
        line = QFontMetrics(self.font()).height()
        painter.drawText(QRectF(area.left(), area.bottom() + 2, area.width(), line), Qt.AlignLeft, "0")
        painter.drawText(QRectF(area.left(), area.bottom() + 2, area.width(), line), Qt.AlignRight, "1")
        if self.threshold is not None:
            x = area.left() + area.width() * self.threshold
            painter.setPen(QPen(CHANGED, 2))
            painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        area = self.plot_area()
        if self.has_data() and area.width() > 0:
            self.thresholdPicked.emit(min(max((event.pos().x() - area.left()) / area.width(), 0.0), 1.0))
