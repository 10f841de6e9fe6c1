"""OAIP change-detection engine: pure numpy/torch/GDAL code with no QGIS import.

Imported as ``oaip_qgis.core`` everywhere (tests, QGIS, qgis_process, the plugin zip):
``oaip_qgis/core`` is a link to this folder in a checkout and a real folder in the zip.
Modules inside import each other relatively, so the package never names ``oaip_qgis``.
"""

from .openmp_wait import spin_briefly

spin_briefly()   # before any module here imports torch (core.openmp_wait)
