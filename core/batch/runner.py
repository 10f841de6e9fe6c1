"""run_batch: every pair of a table as one Dask task; nothing lost, nothing repeated, one summary at the end.

The table is read and checked completely first (core/batch/table.py), so a bad table stops before any
work. Each pair is submitted with `pure=False` (a re-run is new work, never a cached result) and
`retries` (an unexpected exception, e.g. MemoryError, is retried by Dask, on another worker if one is
free); a worker that dies is rescheduled by Dask itself. A pair that still fails becomes a record with
its error and never stops the others. Results are collected with `as_completed`.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Optional

from ..errors import Cancelled, InputError, OaipError
from ..i18n import tr
from ..params import INPUT_FIELDS, OUTPUT_FILES
from ..progress import Progress
from ..raster.input_files import files_read
from .cluster import PAIR, WAIT_FOR_WORKERS_S, dask_client
from .summary import write_geopackage, write_json
from .table import SUMMARY_GPKG, SUMMARY_JSON, PairSpec, read_pairs
from .timing import add_overheads, peak_memory_per_worker
from .worker import failure_message, pair_params, run_pair

RETRIES = 2
POLL_S = 0.1
# Without a worker this long while pairs are unfinished, the batch stops: a Ctrl-C in a terminal reaches the local
# cluster's workers (they stop) but not qgis_process, which then waited for them for ever. As long as a remote
# cluster is given to gain its first worker (cluster._check_workers).
WORKERLESS_S = WAIT_FOR_WORKERS_S
WORKERS_CHECK_S = 2.0

PairFn = Callable[[PairSpec, str, bool], dict]


class EchoLog(list):
    """A Progress.log that also hands each message on as it is kept, so a front end shows the dashboard's
    address while the batch runs, not after it."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        super().__init__()
        self.echo = echo

    def append(self, message: str) -> None:
        super().append(message)
        self.echo(message)


@dataclass
class BatchResult:
    records: list[dict]
    summary_gpkg: str
    summary_json: str
    elapsed: float
    dashboard: Optional[str] = None
    totals: dict = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r["status"] == status)


def _failed_record(spec: PairSpec, out_dir: str, exc: BaseException) -> dict:
    """The record of a pair whose task itself failed (retries spent, or its worker died too often)."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        message = tr("Its worker process died each time it ran this pair (killed for using too much memory, "
                     "or crashed); Dask gave up after retrying it on other workers.")
    elif isinstance(exc, MemoryError):
        message = tr("Out of memory in its worker, also after {retries} retries.", retries=RETRIES)
    else:
        message = tr("Unexpected error in the worker after {retries} retries: {kind}: {reason}",
                     retries=RETRIES, kind=type(exc).__name__, reason=exc)
    folder = os.path.join(out_dir, spec.name)
    return {"name": spec.name, "row": spec.row, "t1": spec.params.t1, "t2": spec.params.t2,
            "reference": spec.params.reference, "mode": spec.params.mode, "status": "failed",
            "error": failure_message(message, folder), "output": folder, "worker": None}


@contextmanager
def _output_folder(out_dir: str) -> Iterator[str]:
    """The batch's folder, made if missing; one this batch made is removed again if it ends empty (refused for
    its cluster, say: an empty folder was left where the analyst asked for results)."""
    out = os.path.abspath(out_dir)
    created = not os.path.lexists(out)
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise InputError(tr("The output folder '{out}' cannot be created ({reason}).",
                            out=out, reason=exc.strerror)) from exc
    if not os.access(out, os.W_OK):
        raise InputError(tr("The output folder '{out}' is read-only: choose another one.", out=out))
    try:
        yield out
    except BaseException:
        if created and not os.listdir(out):
            os.rmdir(out)
        raise


def _check_pair_folders(out: str, specs: list[PairSpec]) -> None:
    """A pair's folder must be a folder: a file of its name failed the pair in the worker, as a raw error
    retried twice. No pair may read a file that this batch writes or removes (a pair's outputs, the summary), nor
    one its inputs read (a VRT's sources): its own outputs were refused in its worker, another pair's would be read
    while they are replaced. A finished pair's outputs count too, though it may be skipped: another FORCE run
    replaces them."""
    written: dict[str, str] = {os.path.normcase(os.path.realpath(os.path.join(out, file))): tr("the batch's summary")
                               for file in (SUMMARY_GPKG, SUMMARY_JSON)}
    for spec in specs:
        folder = os.path.join(out, spec.name)
        if os.path.lexists(folder) and not os.path.isdir(folder):
            raise InputError(tr("'{folder}' is a file, where pair {name} (row {row}) writes its outputs: move the "
                                "file, or give the pair another name.", folder=folder, name=spec.name, row=spec.row))
        written.update({os.path.normcase(os.path.realpath(os.path.join(folder, file))):
                        tr("an output of pair {name} (row {row})", name=spec.name, row=spec.row)
                        for file in OUTPUT_FILES.values()})
    for spec in specs:
        for column in INPUT_FIELDS:
            path = getattr(spec.params, column)
            for file in files_read(str(path)) if path else []:
                writer = written.get(os.path.normcase(os.path.realpath(file)))
                if writer is not None:
                    raise InputError(tr("Pair {name} (row {row}) reads its {column} from '{file}', which this batch "
                                        "writes as {writer}: copy the file elsewhere and give that path, or write the "
                                        "batch into another folder.", name=spec.name, row=spec.row, column=column,
                                        file=file, writer=writer))


def collect(client, specs: list[PairSpec], out_dir: str, force: bool, progress: Progress,
            fn: PairFn = run_pair) -> tuple[list[dict], float]:
    """Submit every pair, gather the records as they complete; returns them (table order) and the
    submission time. Cancelling cancels the pairs not yet finished (finished ones keep their outputs)."""
    from distributed import as_completed

    received: dict[str, float] = {}
    submitted = time.time()
    futures = {}
    for spec in specs:
        future = client.submit(fn, spec, out_dir, force, key=f"oaip-pair-{spec.name}-{os.urandom(4).hex()}",
                               pure=False, retries=RETRIES, resources={PAIR: 1})
        future.add_done_callback(lambda f: received.setdefault(f.key, time.time()))
        futures[future] = spec
    records: dict[str, dict] = {}
    pending = as_completed(futures)
    workers = _Workers(client)
    try:
        while not pending.is_empty():
            progress.check()
            if not pending.has_ready():
                workers.check(len(specs) - len(records), out_dir)
                time.sleep(POLL_S)
                continue
            for future in pending.next_batch(block=False):
                spec = futures[future]
                if future.status == "finished":
                    record = future.result()
                else:
                    record = _failed_record(spec, out_dir, future.exception())
                record["received"] = received.get(future.key, time.time())
                records[spec.name] = record
                done = len(records)
                failed = sum(1 for r in records.values() if r["status"] == "failed")
                progress(done / len(specs), tr("{done}/{total} pairs ({failed} failed): {name} {status}", done=done,
                                               total=len(specs), failed=failed, name=spec.name,
                                               status=record["status"]))
    except (Cancelled, OaipError):
        client.cancel(list(futures))
        raise
    return [records[spec.name] for spec in specs], submitted


class _Workers:
    """Whether the cluster still has a worker, asked every WORKERS_CHECK_S while pairs wait."""

    def __init__(self, client) -> None:
        self.client = client
        self.asked = time.monotonic()
        self.none_since: Optional[float] = None

    def check(self, unfinished: int, out_dir: str) -> None:
        """Raise once no worker has been seen for WORKERLESS_S."""
        now = time.monotonic()
        if now - self.asked < WORKERS_CHECK_S:
            return
        self.asked = now
        try:
            alive = bool(self.client.scheduler_info().get("workers"))
        except OSError:   # the scheduler itself gone: no worker either
            alive = False
        if alive:
            self.none_since = None
        elif self.none_since is None:
            self.none_since = now
        elif now - self.none_since >= WORKERLESS_S:
            raise OaipError(tr("Every Dask worker has stopped (interrupted, or killed) with {count} pair(s) unfinished "
                               "and none came back in {seconds:.0f} s: the pairs that finished keep their outputs in "
                               "'{folder}'; run the batch again to do the rest.", count=unfinished,
                               seconds=WORKERLESS_S, folder=out_dir))


def run_batch(table: str, out_dir: str, *, scheduler: Optional[str] = None, workers: Optional[int] = None,
              force: bool = False, defaults: Optional[dict[str, str]] = None, layer: Optional[str] = None,
              progress: Optional[Progress] = None, fn: PairFn = run_pair) -> BatchResult:
    """Detect changes for every pair of ``table`` into ``out_dir/<name>/`` and write the summary there.

    ``defaults`` are run parameters (name → text) for every row; ``fn`` is the per-pair task.
    """
    progress = progress or Progress()
    specs = read_pairs(table, defaults, layer)
    with _output_folder(out_dir) as out:
        _check_pair_folders(out, specs)
        for spec in specs:   # the pipeline says these in each pair's log, which a worker does not hand back
            for note in pair_params(spec, out, 1).warnings():
                progress.info(tr("{name} (row {row}): {note}", name=spec.name, row=spec.row, note=note))
        start = time.perf_counter()
        new = [os.path.join(out, spec.name) for spec in specs if not os.path.lexists(os.path.join(out, spec.name))]
        try:
            with dask_client(scheduler, workers, log=progress.info) as client:
                started = time.perf_counter()
                _remove_earlier_summary(out, progress)   # not before: a batch refused for its cluster changed nothing
                dashboard = client.dashboard_link if _has_dashboard(client) else None
                progress.info(tr("Dask dashboard: {link}", link=dashboard) if dashboard else
                              tr("Dask dashboard: not served (install bokeh to get one)."))
                progress(0.0, tr("{count} pair(s) submitted to {address}", count=len(specs),
                                 address=client.scheduler.address))
                records, submitted = collect(client, specs, out, force, progress, fn)
                workers_seen = {name: info.get("nthreads")
                                for name, info in client.scheduler_info()["workers"].items()}
        except BaseException:   # interrupted, cancelled, no worker left: the folders of pairs cut short go
            _remove_empty(new)
            raise
        elapsed = time.perf_counter() - start
        totals = {"pairs": len(records), **{s: sum(1 for r in records if r["status"] == s)
                                             for s in ("done", "skipped", "failed")},
                  "elapsed_seconds": round(elapsed, 3), "cluster_start_seconds": round(started - start, 3),
                  "pairs_seconds": round(max((r["received"] for r in records), default=submitted) - submitted, 3),
                  "scheduler": scheduler or "local",
                  "workers": workers_seen, **add_overheads(records, submitted),
                  "peak_memory_bytes_per_worker": peak_memory_per_worker(records)}
        gpkg = write_geopackage(records, os.path.join(out, SUMMARY_GPKG))
        summary = write_json({"table": os.path.abspath(table), "dashboard": dashboard, "totals": totals,
                              "pairs": records}, os.path.join(out, SUMMARY_JSON))
        return BatchResult(records, gpkg, summary, elapsed, dashboard, totals)


def _remove_empty(folders: list[str]) -> None:
    """Remove those of `folders` that are empty: a pair's folder made by a worker whose pair was stopped (Ctrl-C,
    SIGTERM) was left empty beside the pairs that finished."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:   # not there, or holds something
            continue


def _remove_earlier_summary(out: str, progress: Progress) -> None:
    """An earlier batch's summary goes before this batch changes the pairs' folders: left beside an interrupted
    or failed batch it looked like a finished one, listing maps that are no longer those in the folders."""
    removed = [name for name in (SUMMARY_JSON, SUMMARY_GPKG) if os.path.lexists(os.path.join(out, name))]
    for name in removed:
        os.remove(os.path.join(out, name))
    if removed:
        progress.info(tr("Removed the earlier batch's summary ({names}) from '{folder}': this batch writes its own "
                         "when it ends.", names=", ".join(removed), folder=out))


def _has_dashboard(client) -> bool:
    """Whether the scheduler serves the dashboard (it does only with bokeh installed there)."""
    try:
        return "dashboard" in client.scheduler_info().get("services", {})
    except (OSError, KeyError):
        return False
