"""QGIS entry point. Imports lazily: qgis_process calls classFactory(None) and only initProcessing()."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .plugin import OaipPlugin

    return OaipPlugin(iface)
