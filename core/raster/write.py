"""Outputs written completely or not at all: temporary names beside the targets, renamed on success.

A temporary name says which machine and process wrote it (`.change.<host>-<pid>-<random>.partial.tif`),
so that the next run into a folder can remove what a killed run left there without ever touching
the files of a run still going: a partial file is removed only when its process is gone (on this
machine), or, where that cannot be checked (another machine, an older version), when nothing has
written to it for an hour.
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import socket
import sqlite3
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Optional

import numpy as np
from osgeo import gdal

from ..errors import InputError, OaipError, ResourceError, is_out_of_memory, memory_advice
from ..i18n import tr
from .gdal_scope import exceptions_off
from .grid import Grid, Window
from .input_files import check_utf8_name, files_read, longest_path

GTIFF_OPTIONS = ["TILED=YES", "COMPRESS=DEFLATE", "BIGTIFF=IF_SAFER"]
GDAL_TYPES = {"uint8": gdal.GDT_Byte, "float32": gdal.GDT_Float32}
HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]
# .<stem>.<host>-<pid>-<random>.partial<suffix>, or the older .<stem>.<random>.partial<suffix>; GDAL and
# SQLite may add their own endings (.aux.xml, -journal) after it.
PARTIAL = re.compile(r"^\..+\.(?:(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-)?[0-9a-f]{8}\.partial(?:[.-].*)?$")
ORPHAN_SECONDS = 120     # a partial file of a process gone from this machine, untouched this long, is left over
STALE_SECONDS = 3600     # one whose process cannot be checked (another machine, an older version)
LOW_SPACE_BYTES = 16 * 2**20  # a write that fails with less free space than this failed for want of space


def _free_bytes(folder: str) -> Optional[int]:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def write_failure(target: str, exc: BaseException) -> OaipError:
    """One sentence for a failed write of `target`: the disk is full, memory ran out, or GDAL's reason."""
    folder = os.path.dirname(os.path.abspath(target))
    free = _free_bytes(folder)
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "no space left" in str(exc).lower() \
            or (free is not None and free < LOW_SPACE_BYTES):
        room = tr(" ({mib:.1f} MiB free)", mib=free / 2**20) if free is not None else ""
        return ResourceError(tr("The output '{target}' could not be written: the disk holding '{folder}' is "
                                "full{room}. Free some space or choose another output folder; nothing was kept.",
                                target=target, folder=folder, room=room))
    if is_out_of_memory(exc):
        return ResourceError(memory_advice())
    return OaipError(tr("The output '{target}' could not be written ({reason}); nothing was kept.",
                        target=target, reason=str(exc).strip() or type(exc).__name__))


@contextmanager
def writing(target: str) -> Iterator[None]:
    """Turn a failed write (OSError, GDAL's RuntimeError) into one sentence naming `target`."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        raise write_failure(target, exc) from exc


def _alive(pid: int) -> bool:
    """Whether process `pid` runs on this machine; True when that cannot be known safely.

    Windows has no harmless probe (os.kill there terminates the process), so there only age counts.
    """
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True     # it exists but belongs to someone else
    return True


def remove_stale_partials(folder: str, now: Optional[float] = None) -> list[str]:
    """Remove this plugin's partial files that a killed run left in `folder`; returns their names.

    Never one of a live run: this process's own are kept, another local process's only go once that
    process is gone and the file untouched for ORPHAN_SECONDS (however old, while it runs), and one
    whose process cannot be checked (another machine, an older version, Windows) after STALE_SECONDS.
    """
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = PARTIAL.match(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if match["host"] == HOST and match["pid"] is not None:      # this machine's: its process says
            pid = int(match["pid"])
            if pid == os.getpid():
                continue
            stale = (age > ORPHAN_SECONDS and not _alive(pid)) or (os.name != "posix" and age > STALE_SECONDS)
        else:
            stale = age > STALE_SECONDS
        if stale:
            try:
                os.remove(entry.path)
                removed.append(entry.name)
            except OSError:
                pass
    return removed


def check_outputs(targets: Iterable[Optional[str]], overwrite: bool = True,
                  inputs: Iterable[Optional[str]] = ()) -> list[str]:
    """Check every output location before any work: its folder exists and takes a file, two outputs
    are not one file, no output is one of the `inputs` (the run would replace what it reads), an
    existing file may be replaced. Stale partial files of killed runs in those folders are removed;
    returns log lines saying so. Raises InputError naming the first bad output."""
    read = {os.path.realpath(file): path for path in inputs if path for file in files_read(path)}
    seen: dict[str, str] = {}
    notes: list[str] = []
    for target in targets:
        if not target:
            continue
        path = os.path.abspath(target)
        if path in seen:
            raise InputError(tr("Two outputs are the same file '{path}': give each output its own name.", path=path))
        if os.path.realpath(path) in read:
            raise InputError(tr("The output '{path}' is also an input of the run, or a file it reads ('{input}'): "
                                "writing it would replace what the run reads. Give the output another name.", path=path,
                                input=read[os.path.realpath(path)]))
        seen[path] = target
        _check_target(path, overwrite)
    for folder in sorted({os.path.dirname(path) for path in seen}):
        removed = remove_stale_partials(folder)
        if removed:
            notes.append(tr("Removed {count} unfinished file(s) that an interrupted run left in '{folder}'.",
                            count=len(removed), folder=folder))
    return notes


def _check_target(target: str, overwrite: bool) -> None:
    """Refuse an output that cannot be written, with the reason; a probe file proves the folder writable
    (permission bits do not: root, read-only mounts and ACLs answer differently)."""
    check_utf8_name(target, tr("The output"))
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise InputError(tr("The output '{target}' cannot be written: its folder '{folder}' does not exist. "
                            "Create it or choose another one.", target=target, folder=folder))
    if os.path.isdir(target):
        raise InputError(tr("The output '{target}' is a folder: give a file name.", target=target))
    if os.path.exists(target) and not os.path.isfile(target):   # renamed over, a device would become a file
        raise InputError(tr("The output '{target}' is not a regular file (a device, pipe or socket): give the name "
                            "of a file.", target=target))
    if os.path.exists(target) and not overwrite:
        raise InputError(tr("The output '{target}' exists already; allow overwriting or choose another name.",
                            target=target))
    others = _other_tables(target)
    if others:
        raise InputError(tr("The output '{target}' is a GeoPackage that holds other layers ({names}); the polygons "
                            "replace the whole file, which would delete them: give a GeoPackage of its own.",
                            target=target, names=", ".join(others)))
    probe = _temporary(target)
    too_long = longest_path(probe)
    if too_long:   # else it fails when written, after the whole run
        length, most, reader = too_long
        raise InputError(tr("The output '{target}' lies too deep: {reader} writes a file by a path of at most {most} "
                            "bytes, and the run writes it under a temporary name of {length}: choose a shorter folder "
                            "or name.", target=target, reader=reader, most=most, length=length))
    try:
        with open(probe, "wb"):
            pass
    except OSError as exc:
        if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            raise write_failure(target, exc) from exc
        raise InputError(tr("The output '{target}' cannot be written: its folder '{folder}' is read-only "
                            "or not yours ({reason}).", target=target, folder=folder,
                            reason=exc.strerror or exc)) from exc
    finally:
        if os.path.exists(probe):
            os.remove(probe)


def _other_tables(target: str) -> list[str]:
    """The tables of an existing GeoPackage `target` other than a run's polygons (`changes`) and QGIS's saved
    styles: a project's GeoPackage given as the polygons output lost its roads and parcels without a word."""
    if not target.lower().endswith(".gpkg") or not os.path.isfile(target):
        return []
    try:
        with closing(sqlite3.connect(f"{Path(target).as_uri()}?mode=ro", uri=True)) as database:
            tables = [row[0] for row in database.execute("SELECT table_name FROM gpkg_contents")]
    except sqlite3.Error:   # not a GeoPackage after all: replaced as any other file
        return []
    return [name for name in tables if name not in ("changes", "layer_styles")]


class RasterSink:
    """One GeoTIFF being written window by window under its temporary name."""

    def __init__(self, path: str, grid: Grid, dtype: str, nodata: Optional[float], bands: int,
                 target: Optional[str] = None) -> None:
        self.path = path
        self.target = target or path    # the name the analyst gave, for messages
        with writing(self.target):
            self._ds = gdal.GetDriverByName("GTiff").Create(path, grid.width, grid.height, bands,
                                                            GDAL_TYPES[dtype], options=GTIFF_OPTIONS)
            self._ds.SetGeoTransform(grid.transform)
            if grid.crs_wkt:
                self._ds.SetProjection(grid.crs_wkt)
            if nodata is not None:
                for band in range(1, bands + 1):
                    self._ds.GetRasterBand(band).SetNoDataValue(nodata)

    def write(self, window: Window, array: np.ndarray) -> None:
        data = array.reshape(-1, window.height, window.width)
        with writing(self.target):
            for band, values in enumerate(data, start=1):
                self._ds.GetRasterBand(band).WriteArray(values, window.col_off, window.row_off)

    def read(self, window: Window, band: int = 1) -> np.ndarray:
        return self._ds.GetRasterBand(band).ReadAsArray(window.col_off, window.row_off, window.width, window.height)

    def flush(self) -> None:
        if self._ds is not None:
            with writing(self.target):
                self._ds.FlushCache()

    def close(self) -> None:
        """Finish the file (GeoTIFF writes its directory on close); another reader may open it after this.
        The blocks are flushed first, where a full disk raises; the release writes the directory, and a failure
        there is raised too, naming the output (the file is then no GeoTIFF and must not be placed)."""
        try:
            self.flush()
        except BaseException as failure:
            _release_held(failure)
            self._release()
            raise
        failures = self._release()
        if failures:
            with writing(self.target):
                raise RuntimeError(failures[0])

    def _release(self) -> list[str]:
        """Release the dataset; returns GDAL's failures in it. Raised by the bindings in a release, Python could
        only print them ("Exception ignored in delete_Dataset", a traceback before the run's one sentence on a
        full disk) and the run would have gone on with a file whose directory was never written."""
        failures: list[str] = []

        def record(level: int, number: int, message: str) -> None:
            if level >= gdal.CE_Failure:
                failures.append(message)

        with exceptions_off():
            gdal.PushErrorHandler(record)
            try:
                self._ds = None
            finally:
                gdal.PopErrorHandler()
        return failures


# The longest file name most file systems take (bytes), less room for SQLite's "-journal" beside a GeoPackage.
NAME_BYTES = 255 - len("-journal")


def _temporary(target: str) -> str:
    """The output's temporary name beside it, its stem cut where the whole would pass NAME_BYTES: an output named in
    226–255 bytes (81 CJK characters) was refused as a folder that cannot be written ("File name too long")."""
    path = Path(target)
    tail = f".{HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}.partial{path.suffix}"
    room = NAME_BYTES - len(f".{tail}".encode())
    stem = path.stem.encode()[:room].decode("utf-8", "ignore")   # a character cut in two is left out
    return str(path.with_name(f".{stem}{tail}"))


def _place_all(pending: list[tuple[str, str]]) -> None:
    """Rename each finished (temporary, target) pair into place, all or none: the targets that exist are
    first moved aside and put back if any rename fails, and removed once all succeeded. An output that
    could not be replaced (immutable, or open in another program on Windows) left the outputs renamed
    before it in place beside the old ones."""
    aside: list[tuple[str, str]] = []   # (where the old file waits, its target)
    placed: list[str] = []
    written = {target for _, target in pending}
    try:
        for _, target in pending:   # with the old file its GDAL sidecar goes, whose statistics describe the old one
            for old in (target, f"{target}.aux.xml"):
                if os.path.lexists(old) and (old == target or old not in written):
                    backup = _temporary(old)
                    with writing(target):
                        os.replace(old, backup)
                    aside.append((backup, old))
        for temp, target in pending:
            with writing(target):
                os.replace(temp, target)
            placed.append(target)
    except BaseException:
        for target in placed:
            os.remove(target)
        for backup, target in reversed(aside):
            os.replace(backup, target)
        raise
    for backup, _ in aside:
        try:
            os.remove(backup)
        except OSError:
            pass   # a leftover of this name is removed by a later run (remove_stale_partials)


def _release_held(failure: Optional[BaseException]) -> None:
    """Release what the frames of a failure and of the errors behind it hold (a dataset GDAL could not finish, a
    scratch raster, a band) now, quietly: released later with the exception, a file GDAL could not finish raised
    in its release, which Python can only print ("Exception ignored in delete_Dataset", a traceback before the
    run's one sentence on a full disk)."""
    seen: set[int] = set()
    with exceptions_off():
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            while failure is not None and id(failure) not in seen:
                seen.add(id(failure))
                traceback.clear_frames(failure.__traceback__)
                failure = failure.__cause__ or failure.__context__
        finally:
            gdal.PopErrorHandler()


class OutputSet:
    """All outputs of one run: renamed into place together on success, deleted on any failure or cancel."""

    def __init__(self, overwrite: bool = True) -> None:
        self.overwrite = overwrite
        self._pending: list[tuple[str, str]] = []
        self._sinks: list[RasterSink] = []
        self._scratch: Optional[str] = None

    def _claim(self, target: str) -> str:
        target = os.path.abspath(target)
        _check_target(target, self.overwrite)
        temp = _temporary(target)
        self._pending.append((temp, target))
        return temp

    def raster(self, path: Optional[str], grid: Grid, dtype: str, nodata: Optional[float],
               bands: int = 1) -> Optional[RasterSink]:
        if not path:
            return None
        is_scratch = self._scratch is not None and os.path.dirname(path) == self._scratch
        sink = RasterSink(path if is_scratch else self._claim(path), grid, dtype, nodata, bands, target=path)
        self._sinks.append(sink)
        return sink

    def file(self, path: Optional[str]) -> Optional[str]:
        """Temporary path for a non-raster output (JSON, GeoPackage); renamed with the rest."""
        if not path:
            return None
        for temp, target in self._pending:
            if target == os.path.abspath(path):
                return temp
        return self._claim(path)

    def scratch(self, name: str) -> str:
        """A path for an intermediate file that is deleted at the end whatever happens."""
        if self._scratch is None:
            self._scratch = tempfile.mkdtemp(prefix="oaip_")
        return os.path.join(self._scratch, name)

    def __enter__(self) -> OutputSet:
        return self

    def write_text(self, path: str, text: str) -> None:
        """A text output (the statistics JSON) under its temporary name; renamed with the rest."""
        with writing(path), open(self.file(path), "w", encoding="utf-8") as handle:
            handle.write(text)

    def __exit__(self, exc_type, exc, tb) -> None:
        _release_held(exc)
        try:
            for sink in self._sinks:
                if exc_type is None:
                    sink.close()
                else:           # the run failed already: its reason is the one to report
                    try:
                        sink.close()
                    except OaipError:
                        pass
            if exc_type is None:
                _place_all([(temp, target) for temp, target in self._pending if os.path.exists(temp)])
        finally:
            for temp, _ in self._pending:
                if os.path.exists(temp):
                    os.remove(temp)
            if self._scratch:
                shutil.rmtree(self._scratch, ignore_errors=True)
