"""Fixtures of the QGIS-side tests."""
from __future__ import annotations

import pytest

import oaip_qgis


@pytest.fixture()
def provider(qgis_app, qgis_processing):
    """The plugin as qgis_process loads it (classFactory(None), initProcessing), unloaded afterwards."""
    plugin = oaip_qgis.classFactory(None)
    plugin.initProcessing()
    yield plugin
    plugin.unload()
