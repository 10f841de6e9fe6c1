"""metadata.txt as QGIS's plugin manager reads it (configparser, with interpolation)."""
from __future__ import annotations

import configparser
from pathlib import Path

METADATA = Path(__file__).resolve().parents[2] / "metadata.txt"


def test_metadata_reads_whole_with_the_changelog_of_this_version():
    """A changelog line starting at column 0 became a key of its own, and a '%' made QGIS show "__error__"."""
    parser = configparser.ConfigParser()
    parser.read(METADATA, encoding="utf-8")
    general = parser["general"]
    assert {"name", "version", "qgisminimumversion", "description", "changelog"} <= set(general)
    assert all(not key.startswith("-") for key in general)
    assert general["changelog"].startswith(general["version"] + ":")   # the interpolation would raise on a '%'
    assert len(general["changelog"].splitlines()) > 10                 # every release's entry kept
