"""What the plugin does in a QGIS whose Python is older than it needs: says so once, adds nothing.

The engine is written for Python 3.10 and later (and PyTorch's current wheels exist for no older one); QGIS
builds of the 3.22–3.28 years on Windows run Python 3.9. Loaded there, the plugin would start and then fail in
the middle of a run with a TypeError, or leave the torch installer to report that no wheel exists.
This module must itself import and run on older Pythons.
"""
from __future__ import annotations

import sys
from typing import Optional

from .log import LOG_TAG

MIN_PYTHON = (3, 10)


def unsupported_message(version: Optional[tuple] = None) -> str:
    """The sentence for an analyst, naming their Python (default: the running one) and what to install; empty
    when it is new enough."""
    version = tuple(sys.version_info[:3]) if version is None else version
    if tuple(version[:2]) >= MIN_PYTHON:
        return ""
    from .i18n import tr

    return tr("OAIP Change Detection needs Python {needed} or newer, and this QGIS runs Python {version}: install "
              "a QGIS built with a newer Python (Help > About names it) and enable the plugin there. It adds "
              "nothing until then.").format(needed="{}.{}".format(*MIN_PYTHON),
                                            version=".".join(str(part) for part in version[:3]))


class UnsupportedPython:
    """Stands in for the plugin: the message in QGIS's message bar and log (in QGIS's language), no provider,
    no dock."""

    def __init__(self, iface, version: Optional[tuple] = None) -> None:
        from .i18n import install_translation

        self.iface, self.translator = iface, install_translation()
        self.message = unsupported_message(version)

    def initProcessing(self) -> None:  # noqa: N802 (QGIS's name)
        from qgis.core import Qgis, QgsMessageLog

        QgsMessageLog.logMessage(self.message, LOG_TAG, Qgis.Critical)

    def initGui(self) -> None:  # noqa: N802 (QGIS's name)
        self.initProcessing()
        if self.iface is not None:
            self.iface.messageBar().pushCritical(LOG_TAG, self.message)

    def unload(self) -> None:
        """Nothing was added but the translation."""
        from .i18n import remove_translation

        remove_translation(self.translator)
        self.translator = None
