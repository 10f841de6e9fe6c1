"""`make bench-batch`: the eight shared pairs as one batch on Dask, two workers × one core against one
worker × two cores, side by side in one run.

Each layout runs the whole table (MODE=int8 by default, with the reference for Kappa, FORCE on) on its
own LocalCluster, in the order A B B A (--repeats 2) so that a drift of the machine's load hits both.
It reports the elapsed time from submission to the last result (the cluster's start-up apart), the
ratio of the two (target ≤ 0.8 on a 2-core machine), the peak resident memory of each worker process,
and the scheduler's overhead per pair (the wall time a pair held its worker against its time inside
it: core/batch/timing.py). From these it extrapolates the wall time of 1 000 such pairs on 10 and on
100 one-core workers. Writes build/bench/batch.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from oaip_qgis.core.batch import run_batch  # noqa: E402

LAYOUTS = {"2_workers_x_1_core": 2, "1_worker_x_2_cores": 1}  # name: --workers (cores = 2 // workers)
TARGET_RATIO = 0.8


def pairs_table(folder: Path, data: Path) -> Path:
    """A CSV of every shared pair in `data` (t1, t2, gt as reference), read in place."""
    rows = ["name,t1,t2,reference"]
    for pair in sorted(p for p in data.iterdir() if (p / "t1.tif").exists()):
        rows.append(f"{pair.name},{pair / 't1.tif'},{pair / 't2.tif'},{pair / 'gt.tif'}")
    table = folder / "pairs.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return table


def one_run(table: Path, workers: int, mode: str, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="oaip_batch_") as out:
        start = time.perf_counter()
        result = run_batch(str(table), out, workers=workers, force=True, defaults={"mode": mode, "seed": str(seed)})
        total = time.perf_counter() - start
    totals = result.totals
    pairs = [{key: r.get(key) for key in ("name", "status", "error", "worker", "torch_threads", "run_seconds",
                                          "worker_seconds", "wall_seconds", "overhead_seconds", "kappa",
                                          "peak_memory_bytes")} for r in result.records]
    return {"workers": workers, "elapsed_s": totals["pairs_seconds"],
            "cluster_start_s": totals["cluster_start_seconds"],
            "whole_s": round(total, 3), "failed": totals["failed"],
            "overhead_per_pair_mean_s": totals.get("overhead_per_pair_mean_s"),
            "overhead_per_pair_median_s": totals.get("overhead_per_pair_median_s"),
            "peak_memory_mib_per_worker": sorted(round(v / 2**20) for v in
                                                 totals["peak_memory_bytes_per_worker"].values()),
            "pairs": pairs}


def extrapolate(one_core_pair_s: float, overhead_s: float, start_s: float, pairs: int = 1000) -> dict:
    """Wall time of ``pairs`` pairs like these on W one-core workers: start-up plus ceil(pairs / W) rounds of
    (pair + overhead); the tail of uneven pairs adds at most one pair's time."""
    return {f"{w}_workers": round(start_s + math.ceil(pairs / w) * (one_core_pair_s + overhead_s), 1)
            for w in (10, 100)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--mode", default="int8")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each layout, in the order A B B A …")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench" / "batch.json")
    args = parser.parse_args()
    if not args.data.is_dir():
        sys.exit(f"{args.data} is not available: the benchmark needs the shared pairs.")
    order = list(LAYOUTS.items())
    schedule = [order[(0, 1, 1, 0)[i % 4]] for i in range(2 * args.repeats)]
    runs: dict[str, list[dict]] = {name: [] for name in LAYOUTS}
    with tempfile.TemporaryDirectory() as folder:
        table = pairs_table(Path(folder), args.data)
        for name, workers in schedule:
            run = one_run(table, workers, args.mode, args.seed)
            runs[name].append(run)
            print(f"{name:>20}: {run['elapsed_s']:6.1f} s for the pairs "
                  f"(cluster start {run['cluster_start_s']:.1f} s), "
                  f"overhead/pair {run['overhead_per_pair_mean_s']:.3f} s, peak MiB/worker "
                  f"{run['peak_memory_mib_per_worker']}, failed {run['failed']}", flush=True)
    a, b = (statistics.fmean(r["elapsed_s"] for r in runs[name]) for name in LAYOUTS)
    two_workers = runs["2_workers_x_1_core"]
    in_worker = [p["worker_seconds"] for r in two_workers for p in r["pairs"] if p["worker_seconds"]]
    overheads = [p["overhead_seconds"] for r in two_workers for p in r["pairs"] if p["overhead_seconds"] is not None]
    pair_s, overhead_s = statistics.fmean(in_worker), statistics.fmean(overheads)
    start_s = statistics.fmean(r["cluster_start_s"] for r in two_workers)
    report = {
        "mode": args.mode, "seed": args.seed, "pairs": len(two_workers[0]["pairs"]), "cpu_count": os.cpu_count(),
        "elapsed_s": {"2_workers_x_1_core": round(a, 2), "1_worker_x_2_cores": round(b, 2)},
        "ratio_2x1_over_1x2": round(a / b, 3), "target_ratio": TARGET_RATIO, "meets_target": a / b <= TARGET_RATIO,
        "peak_memory_mib_per_worker": {name: max(max(r["peak_memory_mib_per_worker"]) for r in runs[name])
                                       for name in LAYOUTS},
        "pair_in_worker_s_one_core_mean": round(pair_s, 3),
        "pair_wall_s_one_core_mean": round(statistics.fmean(
            p["wall_seconds"] for r in two_workers for p in r["pairs"] if p["wall_seconds"] is not None), 3),
        "overhead_per_pair_s_mean": round(overhead_s, 4),
        "overhead_per_pair_s_median": round(statistics.median(overheads), 4),
        "cluster_start_s_mean": round(start_s, 2),
        "extrapolated_1000_pairs_s": extrapolate(pair_s, overhead_s, start_s),
        "runs": runs,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
