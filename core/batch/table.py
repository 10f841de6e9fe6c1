"""The table of pairs (CSV or a GeoPackage layer) read and checked completely before any work starts.

Columns: `t1`, `t2` (required), optional `name`, `reference`, `aoi`, `samples`, and any run parameter
of RunParams (mode, seed, epochs, prune, threshold_method, threshold, bands1, …; spaces or hyphens in
a header count as underscores, so "threshold method" works too). An empty cell takes the batch's
default. Relative paths are relative to the table's folder; GDAL `/vsi…` paths are kept as they are,
so workers on other machines read the same files. Any problem (missing column, unknown column,
a path that does not exist, a bad value) is one InputError naming the table, row and value.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import re
import shlex
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from osgeo import gdal, ogr

from ..errors import InputError
from ..i18n import tr
from ..params import INPUT_FIELDS, OUTPUT_FILES, RunParams, closest_name, parse_bands
from ..raster.gdal_scope import gdal_scope
from ..raster.input_files import SUBDATASET, gdal_name, one_image_twice
from ..raster.vector_layer import split_source

REQUIRED = ("t1", "t2")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")   # a table read as CSV; any other file as a vector layer (GeoPackage)
VECTOR_FIELDS = ("samples", "aoi")   # may name a layer of their file: `areas.gpkg|layername=flood`
# Fields a table may not set: the batch names every output itself (one folder per pair) and reads files only.
RESERVED = set(OUTPUT_FILES) | {"overwrite", "copied_layers"}
ALIASES = {"min_area": "min_polygon_area", "vgg16_weights": "vgg16", "threshold_value": "threshold"}
TRUE, FALSE = {"1", "true", "yes", "y", "on"}, {"0", "false", "no", "n", "off"}
CHOICES = {"mode", "grid", "threshold_method", "prior"}   # named choices, all lower case: PRIOR is prior
SAFE_NAME = re.compile(r"^[^\W_][\w.-]*$")   # letters and digits of any script: "site_é_1", "洪水_2" are names
NAME_BYTES = 200   # a pair's folder name: file systems allow 255 bytes a name; this leaves room to spare
SUMMARY_GPKG, SUMMARY_JSON = "summary.gpkg", "summary.json"   # the batch's own files, beside the pairs' folders
RESERVED_NAMES = {SUMMARY_GPKG, SUMMARY_JSON}


def shell_words(text: str) -> list[str]:
    """`text` split as a shell would: make's PARAMS arrives as one string, whose quoted values keep their spaces."""
    try:
        return shlex.split(text or "")
    except ValueError as exc:
        raise InputError(tr("PARAMS cannot be split into NAME=VALUE items ({reason}): {text!r}.", reason=exc,
                            text=text)) from exc


def assignments(items: Iterable[str], what: str) -> dict[str, str]:
    """NAME=VALUE items as a dict, the last of a name winning; `what` names them in the sentence that refuses one
    without a name or an '='."""
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(tr("{what} take NAME=VALUE items (KEY=VALUE, e.g. mode=prior), not {item!r}.",
                                what=what, item=item.strip()))
        values[key.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class PairSpec:
    """One row of the table: the pair's name (its output folder) and its run parameters (no outputs)."""

    name: str
    row: int
    params: RunParams


def _fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(RunParams) if f.name not in RESERVED}


def column_key(header: str) -> str:
    """A header as a parameter name: lower case, spaces and hyphens as underscores, aliases resolved."""
    key = re.sub(r"[\s-]+", "_", header.strip().lower())
    return ALIASES.get(key, key)


def _kind(field: dataclasses.Field) -> str:
    """What a cell of `field` must hold, in words (the annotation, "Optional[int]", is no help to a reader)."""
    kind = str(field.type)
    if "Sequence[int]" in kind:
        return tr("a band list (e.g. 1,2,3)")
    if "bool" in kind:
        return tr("true or false")
    if "int" in kind:
        return tr("a whole number")
    if "float" in kind:
        return tr("a number")
    return tr("text")


def _convert(field: dataclasses.Field, text: str) -> Any:
    """A cell's text as the field's type (the dataclass's annotations are strings here)."""
    kind = str(field.type)
    if "Sequence[int]" in kind:
        return parse_bands(text)
    if "bool" in kind:
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError(tr("expected true or false"))
    if "int" in kind:
        return int(float(text)) if float(text).is_integer() else int(text)
    if "float" in kind:
        return float(text)
    return text


def parse_values(values: dict[str, str], where: str) -> dict[str, Any]:
    """Cells (header → text) as RunParams keyword arguments; empty cells are left out (default)."""
    fields = _fields()
    parsed: dict[str, Any] = {}
    for header, text in values.items():
        key = column_key(header)
        if key == "name":
            continue
        if key not in fields:
            names = ["name", *sorted(fields), *sorted(ALIASES)]
            close = closest_name(key, names)
            if close:
                raise InputError(tr("{where}: unknown column or parameter '{header}': did you mean '{close}'?",
                                    where=where, header=header, close=close))
            raise InputError(tr("{where}: unknown column or parameter '{header}'. Known ones: {known}.",
                                where=where, header=header, known=", ".join(names)))
        text = "" if text is None else str(text).strip()
        if text == "":
            continue
        try:
            parsed[key] = _convert(fields[key], text.lower() if key in CHOICES else text)
        except ValueError as exc:
            raise InputError(tr("{where}: '{header}' = {text!r} is not {type} ({reason}).",
                                where=where, header=header, text=text, type=_kind(fields[key]), reason=exc)) from exc
    return parsed


def _resolve(path: str, base: Path) -> str:
    """Relative paths from the table's folder; GDAL's own names (/vsi… paths, URLs, NETCDF:"f.nc":var) as written."""
    if gdal_name(path):
        return path
    return str((base / os.path.expanduser(path)).resolve())


def _exists(path: str) -> bool:
    if gdal_name(path):   # a subdataset is no file GDAL can stat: the driver says whether its file holds it
        with gdal_scope():
            try:
                return gdal.VSIStatL(path) is not None or (
                    bool(SUBDATASET.match(path)) and gdal.OpenEx(path, gdal.OF_RASTER) is not None)
            except RuntimeError:
                return False
    return os.path.isfile(path) and os.access(path, os.R_OK)


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            sample = handle.read(4096)
            handle.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
            except csv.Error:
                dialect = csv.excel
            reader = csv.reader(handle, dialect=dialect)
            header = next(reader, [])
            named = [(index, name) for index, name in enumerate(header) if name.strip()]   # Excel's trailing ","
            rows = []
            for number, cells in enumerate(reader, start=1):
                extra = [cell for cell in cells[len(header):] if cell.strip()]   # cells beyond the header
                if extra:
                    raise InputError(tr("Row {row} of '{path}' has more cells than the header ({extra}): give the "
                                        "extra column a header, or remove it.", row=number, path=path,
                                        extra=", ".join(map(repr, extra))))
                unnamed = [(index + 1, cell) for index, cell in enumerate(cells[:len(header)])
                           if cell.strip() and not header[index].strip()]
                if unnamed:   # it was dropped, or a later blank column's cell replaced it
                    column, value = unnamed[0]
                    raise InputError(tr("Row {row} of '{path}' has {value!r} in column {column}, which has no header: "
                                        "give the column a header, or remove the value.", row=number, path=path,
                                        value=value, column=column))
                if any(cell.strip() for cell in cells):
                    rows.append({name: cells[index] if index < len(cells) else "" for index, name in named})
            return [name for _, name in named], rows
    except UnicodeDecodeError as exc:
        raise InputError(tr("The table of pairs '{path}' is not UTF-8 text ({reason}): save it as CSV UTF-8 and run "
                            "again.", path=path, reason=exc)) from exc
    except OSError as exc:
        raise InputError(tr("The table of pairs '{path}' cannot be read ({reason}).", path=path, reason=exc)) from exc


def _read_layer(path: Path, layer: Optional[str]) -> tuple[list[str], list[dict[str, str]]]:
    with gdal_scope():
        try:
            source = ogr.Open(str(path))
        except RuntimeError as exc:
            raise InputError(tr("The table of pairs '{path}' is not a CSV file or a vector layer GDAL can read "
                                "({reason}).", path=path, reason=exc)) from exc
        if source is None or not source.GetLayerCount():   # a raster, or a file GDAL reads as no table
            raise InputError(tr("The table of pairs '{path}' holds no table: give a CSV file or a GeoPackage layer "
                                "with the columns t1 and t2.", path=path))
        layers = [source.GetLayerByIndex(i) for i in range(source.GetLayerCount())]
        if layer:
            found = source.GetLayerByName(layer)
            if found is None:
                raise InputError(tr("'{path}' has no layer '{layer}'; its layers: {names}.", path=path, layer=layer,
                                    names=", ".join(item.GetName() for item in layers)))
        else:   # the first layer that has the pairs' columns (a GeoPackage often holds the footprints first)
            found = next((item for item in layers if {"t1", "t2"} <= {column_key(item.GetLayerDefn().GetFieldDefn(i)
                          .GetName()) for i in range(item.GetLayerDefn().GetFieldCount())}), layers[0])
        definition = found.GetLayerDefn()
        headers = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
        rows = [{h: ("" if feature.GetField(h) is None else str(feature.GetField(h))) for h in headers}
                for feature in found]
    return headers, rows


def read_table(path: str, layer: Optional[str] = None) -> tuple[list[str], list[dict[str, str]]]:
    """Headers and rows (header → text) of a CSV file or of a vector layer (GeoPackage, …)."""
    table = Path(path)
    if not table.is_file():
        raise InputError(tr("The table of pairs '{path}' does not exist: give a CSV file or a GeoPackage.",
                            path=path))
    if table.suffix.lower() in CSV_SUFFIXES:
        if layer:
            raise InputError(tr("LAYER names a layer of a GeoPackage table; '{path}' is a CSV file, which has none: "
                                "leave LAYER out.", path=path))
        return _read_csv(table)
    return _read_layer(table, layer)


def _default_name(t1: str, shared_stems: set[str]) -> str:
    """The T1 file's stem, or its folder's name when other rows' T1 files share the stem (data/italy/t1.tif)."""
    stem = Path(t1).stem
    folder = Path(t1).parent.name
    name = unicodedata.normalize("NFC", folder if folder and stem in shared_stems else stem)   # 'Zürich', not 'Zu_rich'
    return re.sub(r"[^\w.-]+", "_", name).strip("._-") or "pair"


def read_pairs(path: str, defaults: Optional[dict[str, str]] = None, layer: Optional[str] = None) -> list[PairSpec]:
    """Every pair of the table with its RunParams, checked before any work starts.

    ``defaults`` (parameter → text, e.g. from the command line) apply to every row; a non-empty
    cell overrides them.
    """
    headers, rows = read_table(path, layer)
    keys = [column_key(h) for h in headers]
    for index, key in enumerate(keys):   # read as one, the last column's value was taken: the other unsaid
        if key in keys[:index]:
            raise InputError(tr("The table of pairs '{path}' has two columns for {key}: '{first}' and '{second}'; "
                                "keep one.", path=path, key=key, first=headers[keys.index(key)],
                                second=headers[index]))
    missing = [c for c in REQUIRED if c not in keys]
    if missing:
        raise InputError(tr("The table of pairs '{path}' has no column {missing}: "
                            "it needs the columns t1 and t2 (the images before and after), and may have name, "
                            "reference, aoi, samples and any run parameter.",
                            path=path, missing=tr(" or ").join(repr(m) for m in missing)))
    if not rows:
        raise InputError(tr("The table of pairs '{path}' holds no pair.", path=path))
    base = Path(path).resolve().parent
    if any(column_key(key) == "name" for key in defaults or {}):   # it was taken and ignored
        raise InputError(tr("name is each pair's own (its output folder, the table's column 'name'), not a "
                            "parameter for every pair: leave it out of the batch's parameters."))
    common = parse_values(defaults or {}, tr("Batch parameters"))
    parse_values({h: "" for h in headers}, f"'{path}'")  # unknown columns fail here, before any row
    stems = [Path(row.get(headers[keys.index("t1")]) or "").stem for row in rows]
    generic = {s for s in stems if stems.count(s) > 1}
    specs: list[PairSpec] = []
    names: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        # NFC: macOS writes 'é' as 'e' and a combining accent, which the name rule took for punctuation
        given = unicodedata.normalize("NFC", (row.get(headers[keys.index("name")]) or "").strip()) if (
            "name" in keys) else ""
        where = tr("'{path}', row {number}", path=path, number=number) + (f" ({given})" if given else "")
        values = {**common, **parse_values(row, where)}
        for column in REQUIRED:
            if not values.get(column):
                raise InputError(tr("{where}: the cell '{column}' is empty; every pair needs t1 and t2.",
                                    where=where, column=column))
        for column in INPUT_FIELDS:
            if values.get(column):
                # A vector layer may name its layer in the file as QGIS does (`areas.gpkg|layername=flood`).
                file, options = split_source(_resolve(str(values[column]), base)) if column in VECTOR_FIELDS else (
                    _resolve(str(values[column]), base), [])
                values[column] = "|".join([file, *options])
                if not _exists(file):
                    raise InputError(tr("{where}: the {column} file '{path}' does not exist or cannot be "
                                        "read; fix the path (relative paths start at the table's folder).",
                                        where=where, column=column, path=file))
        if one_image_twice(values["t1"], values["t2"], values.get("bands1"), values.get("bands2")):   # not the worker
            raise InputError(tr("{where}: t1 and t2 are the same file '{path}': give the image before and the image "
                                "after (or, for one file holding both dates, their bands in the columns bands1 and "
                                "bands2).", where=where, path=values["t1"]))
        name = given or _default_name(values["t1"], generic)
        if not SAFE_NAME.match(name):
            raise InputError(tr("{where}: the name {name!r} cannot be a folder name; use letters, digits, '.', '_' "
                                "and '-' only (no spaces), starting with a letter or digit.", where=where, name=name))
        if len(name.encode("utf-8")) > NAME_BYTES:   # a worker's folder failed: "File name too long", retried twice
            raise InputError(tr("{where}: the name '{name}…' is too long for a folder name ({count} bytes; at most "
                                "{most}): give a shorter one in the column 'name'.", where=where, name=name[:40],
                                count=len(name.encode("utf-8")), most=NAME_BYTES))
        if name.lower() in RESERVED_NAMES:
            raise InputError(tr("{where}: the name '{name}' is the batch summary's own file: give the pair another "
                                "name.", where=where, name=name))
        if name.lower() in names:   # 'Pair' and 'pair' are one folder on Windows and macOS
            raise InputError(tr("{where}: the name '{name}' is also the name of row {row}; each pair needs "
                                "its own name (add or fix the 'name' column).",
                                where=where, name=name, row=names[name.lower()]))
        names[name.lower()] = number
        try:
            params = RunParams(**values).validate()
        except (InputError, TypeError) as exc:
            raise InputError(tr("{where}: {reason}", where=where, reason=exc)) from exc
        specs.append(PairSpec(name=name, row=number, params=params))
    return specs
