"""The scheduler's cost per pair, from wall-clock stamps: what a pair took against its time in the worker.

For each pair, the worker slot was free for it from `ready` (the submission, or the end of the previous
pair on the same worker) until the client held its record (`received`). The pair's wall time is
received − ready; its overhead is that minus the time run_pair spent in the worker: the dispatch delay
(ready → started) plus the delivery of the result (finished → received). The stamps are time.time()
on each machine: on a remote cluster they are only as good as the clocks' agreement.
"""
from __future__ import annotations

import statistics
from collections import defaultdict


def add_overheads(records: list[dict], submitted: float) -> dict:
    """Set wall_seconds and overhead_seconds on each record that ran in a worker; return the aggregate."""
    by_worker: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if record.get("started") is not None and record.get("received") is not None:
            by_worker[record["worker"]].append(record)
    overheads = []
    for pairs in by_worker.values():
        previous_end = submitted
        for record in sorted(pairs, key=lambda r: r["started"]):
            ready = max(submitted, previous_end)
            record["wall_seconds"] = round(record["received"] - ready, 4)
            record["overhead_seconds"] = round(record["wall_seconds"] - record["worker_seconds"], 4)
            overheads.append(record["overhead_seconds"])
            previous_end = record["finished"]
    if not overheads:
        return {}
    return {"overhead_per_pair_mean_s": round(statistics.fmean(overheads), 4),
            "overhead_per_pair_median_s": round(statistics.median(overheads), 4),
            "overhead_per_pair_max_s": round(max(overheads), 4)}


def peak_memory_per_worker(records: list[dict]) -> dict[str, int]:
    """The largest peak resident memory each worker process reported (bytes)."""
    peaks: dict[str, int] = {}
    for record in records:
        if record.get("peak_memory_bytes"):
            peaks[record["worker"]] = max(peaks.get(record["worker"], 0), record["peak_memory_bytes"])
    return peaks
