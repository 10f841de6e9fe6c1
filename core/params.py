"""The one parameter object of a run, shared by the Processing algorithm, the dock and the CLI."""
from __future__ import annotations

import difflib
import math
import numbers
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Optional

from .decision.threshold import DEFAULT_METHOD, THRESHOLD_METHODS
from .errors import InputError
from .i18n import tr
from .labels.prior import PRIORS

MODES = ("int8", "fp32", "prior")
GRIDS = ("finer", "t1", "t2")   # whose grid the outputs use; "finer": the image with more pixels over the overlap
DEVICES = ("cpu",)   # the integer kernels run on the CPU; a device that would not be used is not offered
EPOCHS_RANGE = (1, 100)
# The on/off settings, by the name the user knows them by: a string "false" is true to Python.
SWITCHES = {"EXTEND_FROM_SAMPLES": "extend_from_samples", "SAME_GRID": "same_grid", "COREGISTER": "coregister",
            "ONE_KIND": "one_kind", "MASK_CLOUDS": "mask_clouds", "PRUNE": "prune", "OVERWRITE": "overwrite"}
SEED_RANGE = (0, 2**31 - 1)
# What each output is written as (GeoTIFF rasters, a GeoPackage of polygons), by its name and field.
OUTPUT_FORMATS = {"OUTPUT_CHANGE": ("out_change", "GeoTIFF", (".tif", ".tiff")),
                  "OUTPUT_DIFFERENCE": ("out_difference", "GeoTIFF", (".tif", ".tiff")),
                  "OUTPUT_CONFIDENCE": ("out_confidence", "GeoTIFF", (".tif", ".tiff")),
                  "OUTPUT_POLYGONS": ("out_polygons", "GeoPackage", (".gpkg",)),
                  "OUTPUT_STATS": ("out_stats", "JSON", (".json",))}   # stats.csv was JSON under another name
# The files a run reads, by field: no output may be one of them (raster.write.check_outputs), a batch resolves them.
INPUT_FIELDS = ("t1", "t2", "reference", "samples", "aoi", "vgg16")
# The file each output gets in an output folder: the same names from the command line, a batch and the dock.
OUTPUT_FILES = {"out_change": "change.tif", "out_difference": "difference.tif", "out_confidence": "confidence.tif",
                "out_polygons": "changes.gpkg", "out_stats": "stats.json"}


@dataclass
class RunParams:
    """Everything a change-detection run needs; paths in, paths out, no QGIS objects."""

    t1: str
    t2: str
    out_change: Optional[str] = None
    out_difference: Optional[str] = None
    out_confidence: Optional[str] = None
    out_stats: Optional[str] = None
    out_polygons: Optional[str] = None
    reference: Optional[str] = None
    samples: Optional[str] = None          # vector layer with a 0/1 field `changed`
    extend_from_samples: bool = False      # the network may add change like the changed samples (decision.score)
    aoi: Optional[str] = None              # polygon layer limiting the analysis
    bands1: Optional[Sequence[int]] = None  # 1-based band indices; None: all bands
    bands2: Optional[Sequence[int]] = None
    nodata1: Optional[float] = None        # overrides the file's nodata value
    nodata2: Optional[float] = None
    grid: str = "finer"                    # whose grid the other is warped onto: "t1", "t2", or the finer of the two
    pixel_size: Optional[float] = None     # overrides the chosen grid's pixel size
    same_grid: bool = False                # inputs without CRS are taken as sharing one grid
    coregister: bool = True                # find and undo a shift of T2 of up to 20 pixels (raster/coregister.py)
    one_kind: bool = False                 # two radar (or optical) images: no structural change may be direct change
    mask_clouds: bool = False              # white places of an optical image left out as cloud (raster.cloud_mask)
    mode: str = "int8"
    prior: str = "structural"              # pseudo-label source: structural kNN graph or Luppino's affinity
    seed: int = 0
    epochs: int = 16   # int8 mean Kappa, eight shared pairs, seeds 0–3: 0.776 (8), 0.786 (16), 0.779 (32); LOPO: 16
    prune: bool = True
    threshold_method: str = DEFAULT_METHOD
    threshold: Optional[float] = None      # for threshold_method == "manual"
    min_polygon_area: float = 0.0          # m² below which change regions are dropped
    device: str = "cpu"
    vgg16: Optional[str] = None            # torchvision vgg16 state_dict file for the initial branch weights
    tile_size: int = 1024
    threads: Optional[int] = None          # torch threads; None: leave torch's default
    overwrite: bool = True
    # The QGIS layers the plugin wrote out for the run, by input ("aoi": "Flood AOI"): a scratch layer, selected
    # features or a filtered layer reach the engine as a copy, which stats.json names beside the layer.
    copied_layers: Optional[dict[str, str]] = None

    def validate(self) -> RunParams:
        """Check values that do not need the files; raise InputError naming the bad one. Paths, band tuples and
        numpy's numbers become text, lists and Python's numbers (stats.json records them; a Path or an int64
        made the run fail at its very end)."""
        for item in fields(self):
            setattr(self, item.name, _plain(getattr(self, item.name)))
        for name, path in (("T1", self.t1), ("T2", self.t2)):
            if not isinstance(path, str | os.PathLike) or not str(path):
                raise InputError(tr("{name} must be the path of a raster file, not {value!r}.", name=name, value=path))
        for name, attribute in SWITCHES.items():
            if not isinstance(getattr(self, attribute), bool):
                raise InputError(tr("{name} must be true or false, not {value!r}.", name=name,
                                    value=getattr(self, attribute)))
        for name, value in (("NODATA1", self.nodata1), ("NODATA2", self.nodata2)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
                raise InputError(tr("{name} must be a number (or empty for the file's own), not {value!r}.",
                                    name=name, value=value))
        if self.mode not in MODES:
            raise InputError(tr("MODE must be one of {modes}, not {mode!r}.", modes=", ".join(MODES), mode=self.mode))
        THRESHOLD_METHODS.pick(self.threshold_method)
        if self.threshold is not None:
            _number("THRESHOLD", self.threshold)
        if self.threshold_method == "manual":
            check_manual_threshold(self.threshold)
        PRIORS.pick(self.prior)
        if self.grid not in GRIDS:
            raise InputError(tr("GRID must be one of {grids}, not {grid!r}.", grids=", ".join(GRIDS), grid=self.grid))
        if self.device not in DEVICES:
            raise InputError(tr("DEVICE must be {devices} (this version runs on the CPU), not {device!r}.",
                                devices=" or ".join(map(repr, DEVICES)), device=self.device))
        if self.extend_from_samples and not self.samples:
            raise InputError(tr("EXTEND_FROM_SAMPLES needs analyst samples (SAMPLES) with at least one area marked "
                                "changed (changed = 1): they show the kind of change to find more of."))
        if self.extend_from_samples and self.mode == "prior":
            raise InputError(tr("EXTEND_FROM_SAMPLES needs the network, which the prior mode does not train: choose "
                                "MODE int8 or fp32."))
        _in_range("EPOCHS", self.epochs, EPOCHS_RANGE)
        _in_range("SEED", self.seed, SEED_RANGE)
        _in_range("TILE_SIZE", self.tile_size, (64, 2 ** 20))
        if self.threads is not None:
            _in_range("THREADS", self.threads, (1, 1024))
        if _number("MIN_AREA", self.min_polygon_area) < 0:
            raise InputError(tr("MIN_AREA must be 0 or more (m²), not {value}.", value=self.min_polygon_area))
        if self.pixel_size is not None and _number("PIXEL_SIZE", self.pixel_size) <= 0:
            raise InputError(tr("PIXEL_SIZE must be more than 0 (in the grid's units), not {value}; leave it empty "
                                "for the chosen image's own.", value=self.pixel_size))
        for name, bands in (("T1", self.bands1), ("T2", self.bands2)):
            if bands is not None and not isinstance(bands, list | tuple):
                raise InputError(tr("{name} bands must be a list of band numbers (e.g. [1, 2]), not {bands!r}.",
                                    name=name, bands=bands))
            if bands is not None and not all(isinstance(b, numbers.Integral) and not isinstance(b, bool)
                                             for b in bands):
                raise InputError(tr("{name} bands must be whole numbers (band indices from 1), not {bands}.",
                                    name=name, bands=list(bands)))
            if bands is not None and any(int(b) < 1 for b in bands):
                raise InputError(tr("{name} band indices start at 1, not {bands}.", name=name,
                                    bands=",".join(str(int(b)) for b in bands)))
            if bands is not None and len({int(b) for b in bands}) < len(bands):   # a band twice weighs it double
                raise InputError(tr("{name} bands {bands} name a band more than once: list each band once "
                                    "(e.g. {unique}).", name=name, bands=",".join(str(int(b)) for b in bands),
                                    unique=",".join(str(b) for b in sorted({int(b) for b in bands}))))
        check_output_formats({attribute: getattr(self, attribute) for attribute, _, _ in OUTPUT_FORMATS.values()})
        return self

    def warnings(self) -> list[str]:
        """Values that were given but do not act on this run, said in the log rather than dropped silently."""
        notes = []
        if self.threshold is not None and self.threshold_method != "manual":
            notes.append(tr("THRESHOLD {threshold:g} is ignored: THRESHOLD_METHOD is {method}, which finds its own "
                            "threshold; choose 'manual' to use yours.",
                            threshold=self.threshold, method=self.threshold_method))
        if self.mode == "prior":
            training = [name for name, given in (("EPOCHS", self.epochs != _default("epochs")),
                                                 ("PRUNE", self.prune != _default("prune")),
                                                 ("VGG16_WEIGHTS", bool(self.vgg16))) if given]
            if training:
                notes.append(tr("{names} ignored: they set the network's training, which MODE prior does not run; "
                                "choose MODE int8 or fp32 to use them.", names=", ".join(training)))
            if self.prior == "affinity" and self.seed != _default("seed"):
                notes.append(tr("SEED {seed} is ignored: the affinity prior draws nothing at random and MODE prior "
                                "trains no network.", seed=self.seed))
        if self.min_polygon_area and not self.out_polygons:
            notes.append(tr("MIN_AREA {area:g} m² is ignored: it drops small regions from the polygons output, which "
                            "was not requested (the change raster keeps every pixel).", area=self.min_polygon_area))
        return notes

    def recorded(self) -> dict:
        """What the result depends on, as stats.json records it: every parameter but where the outputs go,
        OVERWRITE and THREADS (the same map on any core count). A batch re-runs a pair whose outputs were
        made with other parameters (it compared five of them, and a changed THRESHOLD, AOI or BANDS was
        reported as done). The layers the plugin copied are named where there are some (a batch reads files and
        compares its earlier runs' parameters, which had no such entry)."""
        left_out = set(OUTPUT_FILES) | {"overwrite", "threads"}
        if not self.copied_layers:
            left_out.add("copied_layers")
        return {key: value for key, value in asdict(self).items() if key not in left_out}


def closest_name(name: str, known: Iterable[str]) -> Optional[str]:
    """The known parameter name `name` is most likely a slip of (case ignored), if one is close: a misspelt
    name would otherwise leave its setting at the default."""
    by_lower = {candidate.lower(): candidate for candidate in known}
    match = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.8)
    return by_lower[match[0]] if match else None


def parse_bands(text: str) -> Optional[list[int]]:
    """A band list as typed ("1,2,3" or "1;2;3"; empty: all bands); ValueError for anything else."""
    parts = [part for part in (text or "").replace(";", ",").split(",") if part.strip()]
    return [int(part) for part in parts] or None


def _default(name: str):
    return next(f.default for f in fields(RunParams) if f.name == name)


def _plain(value):
    """`value` as JSON writes it back (numbers stay of their kind: an int stays whole, a float does not)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, numbers.Integral) and not isinstance(value, bool | int):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool | int | float):
        return float(value)
    return value


def check_manual_threshold(value: object) -> float:
    """A cut of the change score, which runs from 0 to 1: a number in [0, 1), or the sentence. A place is changed
    where its score is above the cut, so 1 marked nothing, the changed samples (score 1) included."""
    if value is None:
        raise InputError(tr("A manual threshold needs a value from 0 to below 1 (THRESHOLD is empty)."))
    if _number("THRESHOLD", value) < 0 or value >= 1:
        raise InputError(tr("A manual threshold needs a value from 0 to below 1, not {value} (a place is marked "
                            "changed where its score is above the threshold, and no score is above 1).",
                            value=value))
    return float(value)


def check_output_formats(outputs: dict) -> None:
    """Refuse an output (RunParams field -> path) named for another format than the one written."""
    for name, (attribute, kind, suffixes) in OUTPUT_FORMATS.items():
        path = outputs.get(attribute)
        # `p.gpkg|layername=changes` was told to end in .gpkg; a `|` in a folder's or file's name is no layer's
        folder, file = os.path.split(str(path or ""))
        if re.search(r"\|\w+=", file):
            raise InputError(tr("{name} '{path}' names a layer inside a file; each output is a whole file of its "
                                "own: give the file's name alone ('{file}').", name=name, path=path,
                                file=os.path.join(folder, file.split("|")[0])))
        if path and not str(path).lower().endswith(suffixes):
            raise InputError(tr("{name} '{path}' is written as {kind}: give a name ending in {suffix}.",
                                name=name, path=path, kind=kind, suffix=suffixes[0]))


def _number(name: str, value) -> float:
    """A finite real number given for `name`, or the sentence that says it is not one."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InputError(tr("{name} must be a number, not {value!r}.", name=name, value=value))
    return float(value)


def _in_range(name: str, value: int, bounds: tuple[int, int]) -> None:
    """Refuse a whole number outside `bounds` (inclusive), naming it and the range."""
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
        raise InputError(tr("{name} must be a whole number from {low} to {high}, not {value!r}.",
                            name=name, low=low, high=high, value=value))
