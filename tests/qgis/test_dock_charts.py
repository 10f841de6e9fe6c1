"""The QPainter charts draw what they are given (a paint error would abort QGIS) and the histogram picks thresholds."""
from __future__ import annotations

import pytest
from qgis.PyQt.QtCore import QPoint, Qt
from qgis.PyQt.QtTest import QTest

from oaip_qgis.dock.charts import CHANGED, FiltersChart, HistogramChart, LossChart


@pytest.fixture()
def histogram(qgis_app):
    chart = HistogramChart()
    chart.resize(300, 140)
    chart.set_counts([5, 40, 20, 3, 1] * 4)
    return chart


def test_histogram_draws_the_threshold_line_where_it_is(histogram):
    histogram.set_threshold(0.75)
    area = histogram.plot_area()
    image = histogram.grab().toImage()
    x = round(area.left() + 0.75 * area.width())
    column = [image.pixelColor(x, y) for y in range(int(area.top()) + 2, int(area.bottom()) - 2)]
    assert all(colour.rgb() == CHANGED.rgb() for colour in column)
    left_of_line = [image.pixelColor(x - 20, y) for y in range(int(area.top()) + 2, int(area.bottom()) - 2)]
    assert not any(colour.rgb() == CHANGED.rgb() for colour in left_of_line)


def test_click_on_the_histogram_picks_that_threshold(histogram):
    picked = []
    histogram.thresholdPicked.connect(picked.append)
    area = histogram.plot_area()
    QTest.mouseClick(histogram, Qt.LeftButton, Qt.NoModifier,
                     QPoint(round(area.left() + 0.3 * area.width()), round(area.center().y())))
    assert picked and picked[0] == pytest.approx(0.3, abs=0.01)


def test_charts_paint_with_and_without_data(qgis_app):
    loss, filters = LossChart(), FiltersChart()
    for chart in (loss, filters, HistogramChart()):
        chart.resize(200, 120)
        assert not chart.has_data() and not chart.grab().isNull()
    loss.set_values([0.7, 0.5, 0.45])
    filters.set_layers([{"name": "a0", "filters_before": 16, "filters_after": 9}])
    assert loss.has_data() and filters.has_data()
    assert not loss.grab().isNull() and not filters.grab().isNull()


def test_the_filters_chart_says_grey_is_pruned_and_blue_kept(qgis_app):
    from oaip_qgis.dock.charts import ACCENT, MUTED

    chart = FiltersChart()
    chart.resize(320, 140)
    chart.set_layers([{"name": "a0", "filters_before": 16, "filters_after": 9}])
    assert [label for _, label in chart.legend()] == ["kept", "pruned"]
    image = chart.grab().toImage()
    kept, pruned = (square.center().toPoint() for square in chart.legend_swatches())
    assert image.pixelColor(kept).rgb() == ACCENT.rgb() and image.pixelColor(pruned).rgb() == MUTED.rgb()
    assert kept.x() < pruned.x() < chart.width() and chart.legend_swatches()[0].top() >= 0


def test_the_filters_chart_of_two_networks_says_its_bars_are_both(qgis_app):
    chart = FiltersChart()
    chart.set_layers([{"name": "a0", "filters_before": 32, "filters_after": 20}], networks=2)
    assert chart.title == "Filters per layer, all networks"
    chart.set_layers([{"name": "a0", "filters_before": 16, "filters_after": 9}])
    assert chart.title == "Filters per layer"
