"""Which interpreter, which folder and which pip command install torch for the Python QGIS runs.

Inside QGIS `sys.executable` is QGIS itself (or qgis_process), never a Python, so the interpreter is
looked for where the Python QGIS embeds lives. Packages go into a folder the plugin owns, under the
QGIS profile, rather than the system's site-packages: no administrator rights, no clash with the
distribution's packages (Debian marks its Python EXTERNALLY-MANAGED), one folder to delete to undo.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import ntpath
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

TORCH_VERSION = "2.13.0"   # the version requirements.txt pins and the engine is measured with
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"   # CPU-only wheels: a fraction of the CUDA download
DEPS_FOLDER = "oaip_deps"
_PYTHON_NAME = re.compile(r"python(3(\.\d+)?)?(\.exe)?", re.IGNORECASE)


def find_python(executable: str = sys.executable, base_prefix: str = sys.base_prefix,
                platform: str = sys.platform, version: tuple[int, int] = sys.version_info[:2],
                is_file: Callable[[str], bool] = os.path.isfile,
                which: Callable[[str], Optional[str]] = shutil.which, prefix: str = sys.prefix) -> Optional[str]:
    """The Python interpreter of the running Python's version, or None when none is found.

    Outside QGIS (tests, a venv) `executable` is that interpreter, inside its `sys.prefix`. Inside QGIS
    it is found under `sys.base_prefix`: `bin/python3.X` on Linux and macOS (QGIS.app also keeps one in
    Contents/MacOS/bin), `python.exe` on Windows (OSGeo4W's apps/Python3X, beside QGIS's bin). Embedded
    Python may name the PATH's first `python3` as sys.executable (a pyenv or conda one, another
    installation): outside `prefix` it is not taken.
    """
    paths = ntpath if platform == "win32" else posixpath
    inside = paths.normcase(executable).startswith(paths.join(paths.normcase(prefix), ""))
    if _PYTHON_NAME.fullmatch(paths.basename(executable)) and inside:
        return executable
    versioned = "python{}.{}".format(*version)
    beside_qgis = paths.dirname(executable)
    if platform == "win32":
        candidates = [paths.join(base_prefix, "python.exe"), paths.join(beside_qgis, "python3.exe"),
                      paths.join(beside_qgis, "python.exe")]
    else:
        candidates = [paths.join(base_prefix, "bin", versioned), paths.join(beside_qgis, "bin", versioned)]
    for candidate in candidates:
        if is_file(candidate):
            return candidate
    return which(versioned) if platform != "win32" else None


def deps_folder(settings_dir: str, version: tuple[int, int] = sys.version_info[:2]) -> str:
    """The plugin's package folder in a QGIS profile; one per Python version, since wheels are built
    for one (a QGIS upgrade that changes its Python starts a new folder instead of importing the old)."""
    return os.path.join(settings_dir, "python", DEPS_FOLDER, "py{}{}".format(*version))


def add_to_sys_path(folder: str, path: Optional[list[str]] = None) -> bool:
    """Put `folder` on the import path (when it exists) ahead of the site-packages folders; True if added.

    Ahead, because torch needs newer versions of packages a distribution may hold older copies of
    (Debian 12's typing_extensions 4.4 lacks what torch imports); after the standard library, which
    must never be shadowed.
    """
    path = sys.path if path is None else path
    if folder in path or not os.path.isdir(folder):
        return False
    sites = [i for i, entry in enumerate(path) if os.path.basename(entry) in ("site-packages", "dist-packages")]
    path.insert(sites[0] if sites else len(path), folder)
    importlib.invalidate_caches()
    return True


def numpy_constraint(numpy_version: Optional[str]) -> str:
    """A pip constraint that keeps the numpy QGIS already has (Debian's GDAL bindings are built for
    numpy 1.x): torch itself does not need numpy, but nothing it pulls may bring numpy 2."""
    return f"numpy=={numpy_version}" if numpy_version else "numpy<2"


def installed_version(distribution: str) -> Optional[str]:
    """The version of an installed distribution, None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def write_constraints(folder: str, numpy_version: Optional[str]) -> str:
    """Write pip's constraints file into `folder` (created) and return its path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "constraints.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(numpy_constraint(numpy_version) + "\n")
    return path


@dataclass(frozen=True)
class PipInstall:
    """One `pip install --target` run. Every field can be replaced: the tests install a dummy wheel
    from a local folder (`index_url=None`, `find_links`) and import it as `module`."""

    python: str
    target: str
    constraints: Optional[str] = None
    requirements: tuple[str, ...] = (f"torch=={TORCH_VERSION}",)
    index_url: Optional[str] = TORCH_CPU_INDEX   # None: --no-index
    find_links: Optional[str] = None
    timeout_s: int = 30
    retries: int = 3
    module: str = "torch"   # what must import once installed

    def argv(self) -> list[str]:
        """The command; `--upgrade` lets a second attempt replace what a first one left in the folder,
        binary wheels only since building from source needs compilers QGIS machines rarely have."""
        argv = [self.python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                "--progress-bar", "off", "--only-binary", ":all:", "--upgrade", "--target", self.target,
                "--timeout", str(self.timeout_s), "--retries", str(self.retries)]
        argv += ["--index-url", self.index_url] if self.index_url else ["--no-index"]
        if self.find_links:
            argv += ["--find-links", self.find_links]
        if self.constraints:
            argv += ["--constraint", self.constraints]
        return argv + list(self.requirements)

    def text(self, platform: str = sys.platform) -> str:
        """The command as the analyst can paste it into this platform's shell."""
        argv = self.argv()
        return subprocess.list2cmdline(argv) if platform == "win32" else shlex.join(argv)
