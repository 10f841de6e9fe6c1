"""How the plugin shows itself: its name (a menu, the toolbox, the task manager) and its icon."""
from __future__ import annotations

import os

from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP
from qgis.PyQt.QtGui import QIcon

NAME = QT_TRANSLATE_NOOP("OAIP", "OAIP change detection")   # translated where it is shown: tr(NAME)
ICON_PATH = os.path.join(os.path.dirname(__file__), "resources", "icon.svg")


def icon() -> QIcon:
    return QIcon(ICON_PATH)
