"""How the plugin shows itself: its name (a menu, the toolbox, the task manager), its icon and the words the
toolbox's search finds it by."""
from __future__ import annotations

import os

from qgis.PyQt.QtCore import QT_TRANSLATE_NOOP
from qgis.PyQt.QtGui import QIcon

from .i18n import tr

NAME = QT_TRANSLATE_NOOP("OAIP", "OAIP change detection")   # translated where it is shown: tr(NAME)
TAGS = QT_TRANSLATE_NOOP("OAIP", "change detection,heterogeneous,optical,SAR,radar,flood,fire,wildfire,earthquake,"
                                 "damage,disaster,before and after,int8,pruning,OAIP")   # comma-separated
ICON_PATH = os.path.join(os.path.dirname(__file__), "resources", "icon.svg")


def icon() -> QIcon:
    return QIcon(ICON_PATH)


def tag_words() -> list[str]:
    """What the toolbox's search finds the algorithms by: an analyst types "flood" or "SAR", not "OAIP"; the English
    words stay beside a translation's."""
    return list(dict.fromkeys(word.strip() for text in (TAGS, tr(TAGS)) for word in text.split(",")))
