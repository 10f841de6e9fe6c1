"""One translation function for every user-facing string of the plugin (one context: "OAIP"), and the
translation file of the user's language installed while the plugin is loaded.

`make translation TO=xx` collects the strings (pylupdate5 files calls to tr() outside a class under
"@default"; the target renames that context to "OAIP", the one looked up here) into
resources/i18n/oaip_qgis_xx.ts, and compiles it to the .qm file loaded below.
"""
from __future__ import annotations

import os
from typing import Optional

from qgis.PyQt.QtCore import QCoreApplication, QTranslator

FOLDER = os.path.join(os.path.dirname(__file__), "resources", "i18n")


def tr(text: str) -> str:
    """`text` in the user's language when a translation is installed; as is otherwise (also before a
    QApplication exists)."""
    return QCoreApplication.translate("OAIP", text)


def user_language() -> str:
    """QGIS's interface language (its setting, else the system's), as the two letters a file is named by."""
    from qgis.core import QgsSettings
    from qgis.PyQt.QtCore import QLocale

    return str(QgsSettings().value("locale/userLocale", "") or QLocale.system().name())[:2]


def install_translation() -> Optional[QTranslator]:
    """The plugin's translation for QGIS's language installed, if the plugin has one; None otherwise (English
    stays). Keep the result to remove it when the plugin unloads."""
    path = os.path.join(FOLDER, f"oaip_qgis_{user_language()}.qm")
    translator = QTranslator()
    if not translator.load(path):   # False for a language without a file too
        return None
    QCoreApplication.installTranslator(translator)
    return translator


def remove_translation(translator: Optional[QTranslator]) -> None:
    if translator is not None:
        QCoreApplication.removeTranslator(translator)
