"""The large generated pair: made strip by strip, the strips agree, objects keep their size at any scale."""
from __future__ import annotations

import numpy as np
import pytest
import rasterio

from oaip_qgis.core import large_pair
from oaip_qgis.core.errors import InputError
from oaip_qgis.core.large_pair import Scene, field, make_large_pair


def test_a_random_field_is_the_same_wherever_it_is_asked_for():
    rows, cols = np.arange(40.0, 90.0), np.arange(0.0, 120.0)
    whole = field(3, 1, 6, rows, cols)
    assert np.allclose(field(3, 1, 6, rows[10:20], cols), whole[10:20], atol=1e-5)
    assert np.allclose(field(3, 1, 6, rows, cols[50:]), whole[:, 50:], atol=1e-5)
    assert abs(float(field(3, 1, 6, np.arange(0.0, 400), np.arange(0.0, 400)).std()) - 1) < 0.25
    assert not np.allclose(field(4, 1, 6, rows, cols), whole)   # another seed, another field


def test_strips_of_any_height_make_the_same_pair(tmp_path, monkeypatch):
    first = make_large_pair(tmp_path / "a", size=96, seed=2)
    monkeypatch.setattr(large_pair, "STRIP", 17)
    second = make_large_pair(tmp_path / "b", size=96, seed=2)
    for name in ("t1", "truth", "objects", "t2"):
        with rasterio.open(first[name]) as a, rasterio.open(second[name]) as b:
            assert np.array_equal(a.read(), b.read()), name


def test_the_pair_has_the_sensors_grids_and_changed_objects_of_field_size(tmp_path):
    paths = make_large_pair(tmp_path, size=400, seed=0)
    with rasterio.open(paths["t1"]) as t1, rasterio.open(paths["t2"]) as t2:
        assert (t1.count, t1.dtypes[0], t1.crs.to_epsg()) == (4, "uint16", 32633)
        assert (t2.count, t2.dtypes[0], t2.crs.to_epsg()) == (1, "float32", 4326)
        assert t2.width == round(400 * 10 / 14)
    with rasterio.open(paths["truth"]) as truth, rasterio.open(paths["objects"]) as objects:
        changed, ids = truth.read(1), objects.read(1)
    assert 0.02 < changed.mean() < 0.2 and (changed[ids > 0] == 1).all()
    widths = np.sqrt(np.bincount(ids.ravel())[1:])
    widths = widths[widths > 0]
    assert widths.size >= 5 and 10 <= np.median(widths) <= 40


def test_a_scene_too_small_is_refused():
    with pytest.raises(InputError, match="at least 64"):
        Scene(32, 0)
