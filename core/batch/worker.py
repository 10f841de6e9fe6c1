"""One pair in one Dask worker: the core pipeline into the pair's own folder, returned as a small record.

Errors the analyst can act on (OaipError: a bad file, no overlap, a bad value) are recorded in the pair's
record and never raised, so Dask does not retry what would fail again. Anything else (MemoryError, an
I/O error of a network file system, a bug) propagates: Dask retries the task, elsewhere if it can, and
the batch records the pair as failed only when the retries are spent. A worker that dies is retried by
Dask's scheduler too (`distributed.scheduler.allowed-failures`).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from typing import Optional

from osgeo import gdal

from ..decision.evidence import verdict_word
from ..errors import OaipError
from ..i18n import tr
from ..params import INPUT_FIELDS, OUTPUT_FILES, RunParams
from ..raster.input_files import files_read
from .table import PairSpec


def pair_params(spec: PairSpec, out_dir: str, threads: int) -> RunParams:
    """The row's parameters with the batch's outputs and the worker's cores as torch threads."""
    folder = os.path.join(out_dir, spec.name)
    outputs = {key: os.path.join(folder, file) for key, file in OUTPUT_FILES.items()}
    return replace(spec.params, threads=spec.params.threads or threads, overwrite=True, **outputs)


# Files GDAL reads beside an input that QGIS writes when it only displays it (statistics, pyramids): newer than a run,
# they do not make its map stale.
DERIVED = (".aux.xml", ".ovr")


def finished_stats(params: RunParams) -> Optional[dict]:
    """The statistics of an earlier complete run of these parameters, or None if it must run (again).

    Complete: every output exists (the pipeline renames them into place only after success), the
    statistics were made with the same parameters (RunParams.recorded, as JSON gives them back) and after
    every file the run reads: an image downloaded again under its name was skipped, its old map kept.
    """
    if not all(os.path.isfile(getattr(params, key)) for key in OUTPUT_FILES):
        return None
    made = os.path.getmtime(params.out_stats)
    read = [file for key in INPUT_FIELDS if getattr(params, key) for file in files_read(getattr(params, key))
            if not file.lower().endswith(DERIVED)]
    if any(os.path.getmtime(file) > made for file in read if os.path.isfile(file)):
        return None
    try:
        with open(params.out_stats, encoding="utf-8") as handle:
            stats = json.load(handle)
    except (OSError, ValueError):
        return None
    if stats.get("parameters") != json.loads(json.dumps(params.recorded())):
        return None
    return stats


def worker_cores() -> tuple[str, int]:
    """This worker's address and the cores Dask gave it (its thread count; one pair runs at a time)."""
    try:
        from distributed import get_worker

        worker = get_worker()
        return worker.address, worker.state.nthreads
    except (ImportError, ValueError):  # called outside a Dask worker (a plain function call)
        return "local", os.cpu_count() or 1


def peak_memory_bytes() -> Optional[int]:
    """The worker process's peak resident memory so far (Linux: ru_maxrss in KiB); None where unknown."""
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def stats_fields(stats: dict) -> dict:
    """What the summary keeps of a run's statistics."""
    metrics = stats.get("metrics") or {}
    shift = stats.get("coregistration") or {}
    veto = stats.get("network_confirmation") or {}   # none in prior mode: whether the map is the prior's
    white = stats.get("white_places")   # none without an optical image of two bands or more
    return {"mode": stats.get("mode"), "threshold": stats.get("threshold"),
            "evidence": verdict_word(stats.get("evidence")),
            "network_veto_share": veto.get("vetoed_share"),
            "network_veto_applied": int(veto["applied"]) if "applied" in veto else None,
            "network_added_pixels": veto.get("added_pixels") if veto.get("extended") else None,
            "shift_rows": shift.get("rows"), "shift_cols": shift.get("cols"),
            "shift_at_edge": int(shift["edge"]) if "edge" in shift else None,
            "prior_cut": stats.get("prior_cut"), "cloud_note": int(white["noted"]) if white else None,
            "changed_area_m2": stats.get("changed_area"), "changed_fraction": stats.get("changed_fraction"),
            "kappa": metrics.get("kappa"), "run_seconds": (stats.get("timing") or {}).get("total"),
            "grid": stats.get("grid")}


def _remove_if_empty(folder: str) -> None:
    """A failed pair leaves no empty folder behind (the pipeline already removed its partial files)."""
    try:
        os.rmdir(folder)
    except OSError:  # not empty (an earlier run's outputs) or already gone
        pass


def failure_message(error: str, folder: str) -> str:
    """A failed pair's error, and whether its folder still holds an earlier run's outputs: opened from the
    folder, that map looked like this batch's (its inputs or parameters are not this row's, or it would have
    been skipped)."""
    stats = os.path.join(folder, OUTPUT_FILES["out_stats"])
    if not os.path.isfile(stats):
        return error
    made = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(stats)))
    return error + " " + tr("The folder '{folder}' still holds the outputs of an earlier run ({made}), not of this "
                            "one.", folder=folder, made=made)


def _check_gdal() -> None:
    """A worker whose GDAL lost its drivers said of every input "not a raster that GDAL can read (No driver
    registered.)": an unguarded script that started the batch runs again in each worker as it starts, and its
    last lines (QgsApplication.exitQgis()) close GDAL there."""
    if gdal.GetDriverCount() == 0:
        raise OaipError(tr("GDAL in this Dask worker has no drivers: the script that started the batch ran again in "
                           "the worker as it started and closed QGIS there; keep the script's code under "
                           "`if __name__ == \"__main__\":`."))


def run_pair(spec: PairSpec, out_dir: str, force: bool = False) -> dict:
    """Run (or skip, when its complete outputs exist and ``force`` is off) one pair; returns its record."""
    from ..pipeline import run  # imported in the worker, where the run happens

    started = time.time()
    address, cores = worker_cores()
    params = pair_params(spec, out_dir, cores)
    os.makedirs(os.path.dirname(params.out_stats), exist_ok=True)
    record = {"name": spec.name, "row": spec.row, "t1": spec.params.t1, "t2": spec.params.t2,
              "reference": spec.params.reference, "mode": params.mode,
              "output": os.path.dirname(params.out_stats), "worker": address, "torch_threads": params.threads,
              "error": None}
    stats = None if force else finished_stats(params)
    if stats is not None:
        record["status"] = "skipped"
    else:
        try:
            _check_gdal()
            stats = run(params).stats.to_dict()
            record["status"] = "done"
        except OaipError as exc:
            _remove_if_empty(record["output"])
            record.update(status="failed", error=failure_message(str(exc), record["output"]))
    if stats is not None:
        record.update(stats_fields(stats))
    record.update(started=started, finished=time.time(), peak_memory_bytes=peak_memory_bytes())
    record["worker_seconds"] = round(record["finished"] - started, 4)
    return record
