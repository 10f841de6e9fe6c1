"""QGIS entry point. Imports lazily: qgis_process calls classFactory(None) and only initProcessing()."""


def classFactory(iface):  # noqa: N802 (QGIS's name)
    from .unsupported_python import UnsupportedPython, unsupported_message

    message = unsupported_message()
    if message:   # an older Python: say so rather than fail in the middle of a run
        return UnsupportedPython(iface, message)
    from .plugin import OaipPlugin

    return OaipPlugin(iface)
