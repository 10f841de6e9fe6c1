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


@pytest.fixture(autouse=True)
def _no_remembered_output_folder(qgis_app):
    """A dock run remembers its output folder in QGIS's settings (the tests' own profile): each test starts
    and ends without one, so no test sees another's folder."""
    from qgis.core import QgsSettings

    from oaip_qgis.dock.inputs import OUTPUT_FOLDER_SETTING

    QgsSettings().remove(OUTPUT_FOLDER_SETTING)
    yield
    QgsSettings().remove(OUTPUT_FOLDER_SETTING)
