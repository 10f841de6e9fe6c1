"""Which release of the plugin made a run, as stats.json records it: a map is judged by the release that made it
(the notes and the README's tables are per release), and a file kept from an emergency outlives the install."""
from __future__ import annotations

import configparser
import os
from functools import cache
from typing import Optional

# metadata.txt sits beside the engine's folder: the repository's root in a checkout (core/), the plugin's folder
# in its zip (oaip_qgis/core/), and oaip_qgis/metadata.txt links to the root's.
METADATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "metadata.txt")


@cache
def release() -> Optional[str]:
    """The plugin's version from its metadata.txt; None where the engine runs without it (copied alone)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(METADATA, encoding="utf-8")
        return parser.get("general", "version")
    except (configparser.Error, UnicodeDecodeError):
        return None
