"""Build the plugin zip that QGIS's "Install from ZIP" accepts: one top-level folder `oaip_qgis/`.

The checkout links `oaip_qgis/core`, `resources`, `metadata.txt` and `LICENSE` to the repository
root; the zip holds real copies, so the same `oaip_qgis.core` import works in both.
"""
from __future__ import annotations

import argparse
import os
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"__pycache__", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".so"}  # compiled kernels are built for one CPU (-march=native)


def build(target: Path) -> list[str]:
    plugin = REPO / "oaip_qgis"
    names = []
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, dirs, files in os.walk(plugin, followlinks=True):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for name in sorted(files):
                path = Path(root) / name
                if path.suffix in SKIP_SUFFIXES:
                    continue
                arcname = "oaip_qgis/" + str(path.relative_to(plugin))
                archive.write(path, arcname)
                names.append(arcname)
    tmp.replace(target)
    return names


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", nargs="?", type=Path, default=REPO / "build" / "oaip_qgis.zip",
                        help="the zip to write (default: build/oaip_qgis.zip)")
    out = parser.parse_args().zip
    files = build(out)
    print(f"{out}: {len(files)} files")
