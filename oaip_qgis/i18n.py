"""One translation function for every user-facing string of the plugin (one context: "OAIP")."""
from __future__ import annotations

from qgis.PyQt.QtCore import QCoreApplication


def tr(text: str) -> str:
    """`text` in the user's language when a translation is installed; as is otherwise (also before a
    QApplication exists)."""
    return QCoreApplication.translate("OAIP", text)
