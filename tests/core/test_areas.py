"""Areas in square metres on projected, foreign-unit and geographic grids."""
from __future__ import annotations

import math

import numpy as np
import pytest
from osgeo import gdal, osr

from oaip_qgis.core.raster.areas import row_pixel_areas
from oaip_qgis.core.raster.grid import Grid
from oaip_qgis.core.raster.polygons import polygonize_changes
from tests.helpers import make_raster


def wkt(epsg: int) -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    return srs.ExportToWkt()


def ellipsoid_cell(lat_top: float, lat_bottom: float, dlon: float) -> float:
    """A lat/lon cell's exact area on the WGS 84 ellipsoid (the zone between two parallels, times
    its share of longitude)."""
    a, f = 6378137.0, 1 / 298.257223563
    b, e = a * (1 - f), math.sqrt(f * (2 - f))

    def q(lat: float) -> float:
        s = math.sin(math.radians(lat))
        return s / (1 - e * e * s * s) + math.log((1 + e * s) / (1 - e * s)) / (2 * e)

    return b * b * math.radians(dlon) / 2 * abs(q(lat_top) - q(lat_bottom))


def test_projected_pixels_are_their_map_area_in_metres():
    grid = Grid(wkt(32633), (500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0), 5, 4)
    assert np.allclose(row_pixel_areas(grid), 100.0)
    feet = Grid(wkt(2263), (1000000.0, 10.0, 0.0, 200000.0, 0.0, -10.0), 5, 4)   # NY state plane, US feet
    assert row_pixel_areas(feet)[0] == pytest.approx(100.0 * 0.3048006096 ** 2, rel=1e-6)


def test_geographic_pixels_have_their_area_on_the_ellipsoid():
    dx = 0.001   # ≈ 111 m × 111 m at the equator
    grid = Grid(wkt(4326), (10.0, dx, 0.0, 60.0, 0.0, -dx), 100, 3000)   # 60° N down to 57° N
    areas = row_pixel_areas(grid)
    assert areas[0] < areas[-1]
    for row in (0, 1500, 2999):
        top = 60.0 - dx * row
        assert areas[row] == pytest.approx(ellipsoid_cell(top, top - dx, dx), rel=1e-4)


def test_web_mercator_pixels_have_their_area_on_the_ground():
    """EPSG:3857 units are 1/cos(latitude) metres: at 45° N a changed area came out twice the truth."""
    y = 6378137.0 * math.log(math.tan(math.pi / 4 + math.radians(45.0) / 2))   # 45° N on the sphere
    grid = Grid(wkt(3857), (1_000_000.0, 100.0, 0.0, y + 5_000.0, 0.0, -100.0), 100, 100)
    areas = row_pixel_areas(grid)
    assert areas[0] < areas[-1]                              # smaller towards the pole
    assert areas[50] == pytest.approx(100.0 ** 2 * math.cos(math.radians(45.0)) ** 2, rel=0.01)   # not 10 000


def test_polygon_areas_and_the_minimum_area_are_square_metres_on_a_lat_lon_grid(tmp_path):
    dx = 0.0001
    grid = Grid(wkt(4326), (10.0, dx, 0.0, 45.0, 0.0, -dx), 40, 40)
    change = np.zeros((40, 40), np.uint8)
    change[5:15, 5:15] = 1          # 100 pixels
    change[30:32, 30:32] = 1        # 4 pixels
    path = make_raster(tmp_path / "change.tif", change, epsg=4326, origin=(10.0, 45.0), pixel=dx)
    pixel = ellipsoid_cell(45.0, 45.0 - dx, dx)     # ≈ 87 m²
    out = str(tmp_path / "changes.gpkg")
    count = polygonize_changes(path, None, out, grid, min_area=20 * pixel)
    layer_ds = gdal.OpenEx(out)
    areas = [feature.GetField("area_m2") for feature in layer_ds.GetLayer(0)]
    assert count == 1 and areas[0] == pytest.approx(100 * pixel, rel=1e-2)
