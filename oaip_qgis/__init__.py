"""QGIS entry point. Imports lazily: qgis_process calls classFactory(None) and only initProcessing()."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    import sys

    from .unsupported_python import MIN_PYTHON, UnsupportedPython

    if sys.version_info[:2] < MIN_PYTHON:   # an older Python: say so rather than fail in the middle of a run
        return UnsupportedPython(iface)
    from .plugin import OaipPlugin

    return OaipPlugin(iface)
