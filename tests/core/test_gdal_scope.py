"""Core sets GDAL exceptions and cache only for its own calls: QGIS and other plugins keep their settings."""
from __future__ import annotations

import pytest
from osgeo import gdal, ogr, osr

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.raster.align import open_pair
from oaip_qgis.core.raster.gdal_scope import CACHE_BYTES, gdal_scope


@pytest.fixture
def exceptions_off():
    before = [m.GetUseExceptions() for m in (gdal, ogr, osr)]
    for m in (osr, ogr, gdal):
        if m.GetUseExceptions():
            m.DontUseExceptions()
    yield
    for m, was_on in zip((gdal, ogr, osr), before):
        if was_on:
            m.UseExceptions()


def test_the_scope_turns_exceptions_on_and_restores_the_callers_setting(exceptions_off):
    cache = gdal.GetCacheMax()
    gdal.SetCacheMax(2**30)
    with gdal_scope():
        assert gdal.GetCacheMax() == CACHE_BYTES
        assert [m.GetUseExceptions() for m in (gdal, ogr, osr)] == [1, 1, 1]
        with pytest.raises(RuntimeError):
            gdal.Open("/nonexistent/file.tif")
    assert [m.GetUseExceptions() for m in (gdal, ogr, osr)] == [0, 0, 0]
    assert gdal.Open("/nonexistent/file.tif") is None   # the old behaviour is back
    assert gdal.GetCacheMax() == 2**30
    gdal.SetCacheMax(cache)


def test_a_failing_core_call_still_names_the_problem_and_leaves_the_setting_alone(exceptions_off, tmp_path):
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(InputError, match="not a raster"):
        open_pair(str(text), str(text))
    assert [m.GetUseExceptions() for m in (gdal, ogr, osr)] == [0, 0, 0]


def test_overlapping_scopes_restore_the_callers_setting_when_the_last_ends(exceptions_off):
    """A dock run and a toolbox run at once: the first to end put back the caller's settings under the other,
    and the other's end then left exceptions on and the cache capped for good."""
    cache = gdal.GetCacheMax()
    gdal.SetCacheMax(2**30)
    first, second = gdal_scope(), gdal_scope()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gdal.GetUseExceptions() == 1 and gdal.GetCacheMax() == CACHE_BYTES   # the second runs on with them
    second.__exit__(None, None, None)
    assert [m.GetUseExceptions() for m in (gdal, ogr, osr)] == [0, 0, 0] and gdal.GetCacheMax() == 2**30
    gdal.SetCacheMax(cache)


def test_overlapping_runs_give_torch_its_own_thread_count_back():
    torch = pytest.importorskip("torch")
    from oaip_qgis.core.torch_threads import torch_threads

    own = torch.get_num_threads()
    first, second = torch_threads(own + 2), torch_threads(own + 1)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert torch.get_num_threads() == own + 1
    second.__exit__(None, None, None)
    assert torch.get_num_threads() == own


def test_a_setting_that_fails_to_apply_leaves_no_holder_behind():
    from oaip_qgis.core.process_setting import SharedSetting

    values = {"now": 1}
    setting = SharedSetting(lambda: values["now"], lambda own: values.update(now=own))

    def broken(own):
        values["now"] = 5
        raise RuntimeError("cannot")

    with pytest.raises(RuntimeError):
        with setting.held(broken):
            pass
    assert values["now"] == 1
    with setting.held(lambda own: values.update(now=7)):
        assert values["now"] == 7
    assert values["now"] == 1   # saved again and put back: the failed entry held nothing
