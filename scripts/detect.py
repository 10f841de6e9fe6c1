"""`make demo` / `make detect`: one headless run through qgis_process, then a report of what it made: the outputs, the
statistics in the dock's sections, and the run's notes."""
from __future__ import annotations

import argparse
import json
import re
import signal
import sys
from pathlib import Path

from qgis_headless import REPO, run_algorithm

sys.path.insert(0, str(REPO))
from oaip_qgis.core.batch.table import assignments, shell_words  # noqa: E402
from oaip_qgis.core.errors import OaipError  # noqa: E402
from oaip_qgis.core.params import OUTPUT_FILES  # noqa: E402
from oaip_qgis.core.raster.input_files import absolute_source  # noqa: E402
from oaip_qgis.core.run_report import stats_sections  # noqa: E402

OUTPUTS = (("Change layer", "OUTPUT_CHANGE"), ("Difference image", "OUTPUT_DIFFERENCE"),
           ("Confidence", "OUTPUT_CONFIDENCE"), ("Polygons", "OUTPUT_POLYGONS"), ("Statistics", "OUTPUT_STATS"))


def written(params: dict, result: dict | None) -> dict:
    """Where each asked output went: qgis_process's results (a TEMPORARY_OUTPUT's real path), else the path
    given; outputs left empty are left out."""
    results = (result or {}).get("results") or {}
    paths = {key: results.get(key) or params.get(key) for _, key in OUTPUTS}
    return {key: str(path) for key, path in paths.items() if str(path or "").strip()}


def report(stats: dict | None, paths: dict) -> str:
    """The outputs written and, when statistics were asked for, the run's figures from them in the sections the dock's
    Results tab shows (core.run_report): the verdict first, then accuracy, model, pruning, training, time and run."""
    lines = [f"{label + ':':<18}{paths[key]}" for label, key in OUTPUTS if key in paths]
    if stats is None:
        return "\n".join(lines + ["", "No statistics were asked for (OUTPUT_STATS is empty), so no figures."])
    for title, rows in stats_sections(stats):
        width = max(len(label) for label, _ in rows) if rows else 0
        lines += ["", title] + [f"  {label + ':':<{width + 1}}  {value}" for label, value in rows]
    return "\n".join(lines)


def run_notes(result: dict | None) -> str:
    """What the run said besides its outputs (qgis_process's JSON log): warnings first (a parameter that
    was ignored), then its notes (the grid, complex bands taken as intensity, the no-change verdict)."""
    log = (result or {}).get("log") or {}
    if isinstance(log, list):
        log = {"info": log}
    lines = [f"Warning: {line}" for line in log.get("warning", [])]
    return "\n".join(lines + [line for line in log.get("info", []) if line not in log.get("warning", [])])


# What qgis_process, Qt and GDAL print on every run that says nothing about it: a Python deprecation warning of
# QGIS's own start-up, Qt's runtime folder and GDAL's note that it warps through a VRT.
CHATTER = ("DeprecationWarning", "Logged warning: Creating Warped VRT", "XDG_RUNTIME_DIR not set")
# What the libraries print while QGIS tries each of its readers on a file before the plugin's own sentence says
# what is wrong with it: HDF5's error stack (and its read error's tail, given a folder), GDAL's numbered errors
# and warnings, the mesh reader's status.
LIBRARY_DIAGNOSTIC = re.compile(r"HDF5-DIAG|\s+#\d+: |\s+(major|minor): |(ERROR|Warning) \d+: |ERROR: Status \d+: "
                                r"|, filename = ")


def failure_text(output: str) -> str:
    """A failed run's output as the analyst needs it: each line once (qgis_process repeats the error), without
    the start-up chatter, and without the libraries' diagnostics when there is a sentence besides them."""
    lines = [line for line in output.splitlines() if line.strip() and not any(c in line for c in CHATTER)]
    told = [line for line in lines if not LIBRARY_DIAGNOSTIC.match(line)]
    return "\n".join(dict.fromkeys(told or lines))


FILE_PARAMETERS = ("T1", "T2", "REFERENCE", "AOI", "SAMPLES", "VGG16_WEIGHTS")   # the files a run reads, and records


def algorithm_params(args: argparse.Namespace, out: Path) -> dict:
    """oaip:detectchanges parameters from the command line; --param KEY=VALUE adds any other one
    (AOI, PRUNE, GRID, PIXEL_SIZE, NODATA1, THRESHOLD_METHOD, …) or overrides one."""
    params = {"T1": args.t1, "T2": args.t2, "MODE": args.mode.lower(), "SEED": args.seed,
              **{"OUTPUT_" + key[len("out_"):].upper(): out / name for key, name in OUTPUT_FILES.items()}}
    if args.reference:
        params["REFERENCE"] = args.reference
    if args.epochs:
        params["EPOCHS"] = args.epochs
    try:
        params.update({key.upper(): value for key, value in
                       assignments([*args.param, *shell_words(args.params)], "--param and PARAMS").items()})
    except OaipError as exc:
        raise SystemExit(str(exc)) from exc
    for key in FILE_PARAMETERS:   # given as --param too: stats.json recorded 'w/aoi.gpkg' as typed
        if isinstance(params.get(key), str) and params[key]:
            params[key] = absolute_source(params[key])
    return params


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--t1", required=True)
    parser.add_argument("--t2", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--reference")
    parser.add_argument("--mode", default="int8")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--epochs")
    parser.add_argument("--param", action="append", default=[], help="KEY=VALUE, any other parameter")
    parser.add_argument("--params", default="", help="several KEY=VALUE in one string, split as a shell would "
                                                     "(quote a value that holds spaces)")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:   # a file of that name, a read-only or virtual file system
        reason = "it is a file" if out.is_file() else exc.strerror
        print(f"OUT: '{out}' cannot be used as the output folder ({reason}): give a folder that can be made or "
              "written to.", file=sys.stderr)
        return 2
    params = algorithm_params(args, out)
    try:
        code, result, output = run_algorithm(params)
    except KeyboardInterrupt:
        code, output = -signal.SIGINT, ""
    if code != 0:
        if code < 0:   # stopped by a signal
            print(f"Stopped ({signal.Signals(-code).name}) before the run ended: a run writes its outputs only as "
                  f"it ends, so '{out}' holds what it held before.", file=sys.stderr)
        else:
            print(failure_text(output) or output, file=sys.stderr)
        if created and not any(out.iterdir()):   # a run refused before any work leaves no empty folder behind
            out.rmdir()
        return 128 - code if code < 0 else code
    notes = run_notes(result)
    paths = written(params, result)
    stats = json.loads(Path(paths["OUTPUT_STATS"]).read_text()) if "OUTPUT_STATS" in paths else None
    print(report(stats, paths) + (f"\n\n{notes}" if notes else "") + earlier_outputs(params, out))
    return 0


def earlier_outputs(params: dict, out: Path) -> str:
    """Outputs this run was told not to write whose files in OUT an earlier run left: said, or the folder reads as
    one run's (a stats.json of another grid beside the new change layer)."""
    left = [out / name for key, name in OUTPUT_FILES.items()
            if not str(params.get("OUTPUT_" + key[len("out_"):].upper()) or "").strip() and (out / name).exists()]
    return "".join(f"\nNote: '{path}' is an earlier run's: this run did not write it." for path in left)


if __name__ == "__main__":
    sys.exit(main())
