"""`make bench-contention`: one int8 run beside busy processes, with libgomp's own spin count against the
project's (core/openmp_wait.py), side by side in one run.

Each run is a fresh process (libgomp reads GOMP_SPINCOUNT once, when torch loads it) on a generated 400²
pair, alone and beside as many busy processes as the machine has cores (an analyst's machine rendering in
QGIS or running a second job), in the order A B A B ... so that a drift of the machine's load hits both.
A run that outlasts --timeout is reported as such, not waited for. Writes build/bench/contention.json.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# libgomp's spin count where OMP_WAIT_POLICY is unset and it sees no more threads than CPUs (its manual).
LIBGOMP_DEFAULT = "300000"
SETTINGS = {"libgomp_default": LIBGOMP_DEFAULT, "project": None}   # None: what core.openmp_wait sets


def child(pair: Path) -> None:
    """One int8 run; prints its phases' seconds as JSON."""
    from oaip_qgis.core.params import RunParams
    from oaip_qgis.core.pipeline import run

    with tempfile.TemporaryDirectory() as out:
        params = RunParams(t1=str(pair / "t1.tif"), t2=str(pair / "t2.tif"), mode="int8", seed=0,
                           out_stats=str(Path(out) / "stats.json"))
        print(json.dumps(run(params).stats.timing))


def _busy() -> None:
    while True:
        pass


def timed_run(pair: Path, spin: str | None, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    if spin is not None:
        env["GOMP_SPINCOUNT"] = spin
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, __file__, "--child", str(pair)], env=env, capture_output=True,
                              text=True, timeout=timeout, check=True)
        timing = json.loads(done.stdout.strip().splitlines()[-1])
        outcome = {"timed_out": False, "train_s": round(timing["train"], 2), "total_s": round(timing["total"], 2)}
    except subprocess.TimeoutExpired:
        outcome = {"timed_out": True}
    except subprocess.CalledProcessError as failed:   # reported, not raised: the other runs still count
        outcome = {"timed_out": False, "failed": (failed.stderr or "").strip().splitlines()[-1:]}
    return {**outcome, "seconds": round(time.perf_counter() - start, 1)}


def _summary(runs: list[dict]) -> dict:
    finished = [r["train_s"] for r in runs if "train_s" in r]
    return {"train_s": finished, "timed_out": sum(r["timed_out"] for r in runs),
            "failed": sum("failed" in r for r in runs),
            "train_median_s": round(statistics.median(finished), 2) if finished else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="busy processes beside the run")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before a run is given up")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench" / "contention.json")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    from oaip_qgis.core.sample_pair import make_sample_pair

    report = {"busy": args.busy, "timeout_s": args.timeout, "cpus": os.cpu_count(), "loads": {}}
    with tempfile.TemporaryDirectory(prefix="oaip_contention_") as folder:
        pair = Path(folder)
        make_sample_pair(pair, size=400, seed=1)
        for load in (0, args.busy):
            workers = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(load)]
            for worker in workers:
                worker.start()
            try:
                runs: dict[str, list] = {name: [] for name in SETTINGS}
                for _ in range(args.repeats):
                    for name, spin in SETTINGS.items():
                        runs[name].append(timed_run(pair, spin, args.timeout))
                        print(load, name, runs[name][-1], flush=True)
            finally:
                for worker in workers:
                    worker.terminate()
            report["loads"][f"busy_{load}"] = {name: {"runs": r, **_summary(r)} for name, r in runs.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"{'busy processes':>15} {'setting':>16} training s (each run; T: over {args.timeout:g} s)")
    for load, rows in report["loads"].items():
        for name, row in rows.items():
            each = ", ".join(f"{r['train_s']:.1f}" if "train_s" in r else ("T" if r["timed_out"] else "failed")
                             for r in row["runs"])
            print(f"{load.split('_')[1]:>15} {name:>16} {each}")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
