"""`make bench-accuracy`: the detector against the prior on every shared benchmark pair, side by side.

For each pair in ../shared/data (t1.tif, t2.tif, gt.tif) the whole pipeline (core.pipeline.run) is
run for each of four fixed seeds (0–3; the affinity prior, which has no randomness, once) in these
modes: the affinity prior + Otsu (the issue's baseline a), the default structural prior + Otsu (a'),
the detector in fp32 (b), int8 with pruning (c), int8 without pruning (d). Scores come from the run's
own statistics (OA, Kappa, F1, AUC against gt.tif), with the run's seconds, training peak bytes,
compression ratio and BOPs; the table shows means over the seeds and the Kappa range. Writes
build/bench/accuracy.json (every run kept).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from oaip_qgis.core.params import RunParams  # noqa: E402
from oaip_qgis.core.pipeline import run  # noqa: E402

MODES = {  # name: RunParams fields
    "a_affinity_prior": {"mode": "prior", "prior": "affinity"},
    "a_structural_prior": {"mode": "prior"},
    "b_fp32": {"mode": "fp32"},
    "c_int8_prune": {"mode": "int8", "prune": True},
    "d_int8_no_prune": {"mode": "int8", "prune": False},
}
SEEDLESS = {"a_affinity_prior"}  # draws nothing at random: one run stands for every seed
COLUMNS = ("oa", "kappa", "kappa_min", "kappa_max", "f1", "auc", "seconds", "peak_bytes", "compression_ratio",
           "bops_ratio")
AVERAGED = ("oa", "kappa", "f1", "precision", "recall", "auc", "seconds", "peak_bytes", "fp32_equivalent_peak_bytes",
            "compression_ratio", "bops_ratio")


def over_seeds(runs: list[dict]) -> dict:
    """Means over the seeds' runs (the network's result varies with its seed), the Kappa range, and the runs."""
    row = {key: (float(np.mean([r[key] for r in runs])) if runs[0][key] is not None else None) for key in AVERAGED}
    kappas = [r["kappa"] for r in runs]
    return {**row, "kappa_min": min(kappas), "kappa_max": max(kappas), "runs": runs}


def bench_run(folder: Path, fields: dict, seed: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as out:
        params = RunParams(t1=str(folder / "t1.tif"), t2=str(folder / "t2.tif"), reference=str(folder / "gt.tif"),
                           out_stats=str(Path(out) / "stats.json"), seed=seed, threads=threads, **fields)
        start = time.perf_counter()
        stats = run(params).stats
        seconds = time.perf_counter() - start
    metrics, model, training = stats["metrics"], stats.get("model", {}), stats.get("training", {})
    row = {key: metrics[key] for key in ("oa", "kappa", "f1", "precision", "recall", "auc")}
    row.update(seconds=round(seconds, 2), timing=stats["timing"], device=stats["device"],
               peak_bytes=training.get("peak_bytes"),
               fp32_equivalent_peak_bytes=training.get("fp32_equivalent_peak_bytes"),
               compression_ratio=model.get("compression_ratio"),
               bops_before=model.get("bops_before"), bops_after=model.get("bops_after"),
               bops_ratio=round(model["bops_after"] / model["bops_before"], 4) if model else None,
               params_before=model.get("params_before"), params_after=model.get("params_after"),
               pruning=stats.get("pruning", {}).get("layers"), training_loss=training.get("loss"),
               pseudo_labels=training.get("pseudo_labels"))
    return row


def cell(value) -> str:
    if value is None:
        return f"{'-':>11}"
    if isinstance(value, int) or (isinstance(value, float) and value >= 1000):
        return f"{value:11.0f}"
    return f"{value:11.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--pairs", nargs="*", help="folder names (default: every pair under --data)")
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated; figures are means over them")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench" / "accuracy.json")
    args = parser.parse_args()
    folders = sorted(p for p in args.data.iterdir() if (p / "gt.tif").exists()) if args.data.exists() else []
    if args.pairs:
        folders = [p for p in folders if p.name in args.pairs]
    if not folders:
        raise SystemExit(f"No benchmark pair (t1.tif, t2.tif, gt.tif) under {args.data}.")
    seeds = [int(v) for v in args.seeds.split(",")]
    report = {"seeds": seeds, "threads": args.threads, "pairs": {}}
    print(f"{'pair':14} {'mode':20} " + " ".join(f"{c:>11}" for c in COLUMNS))
    for folder in folders:
        rows = report["pairs"].setdefault(folder.name, {})
        for name in args.modes:
            run_seeds = seeds[:1] if name in SEEDLESS else seeds
            rows[name] = over_seeds([bench_run(folder, MODES[name], seed, args.threads) for seed in run_seeds])
            print(f"{folder.name:14} {name:20} " + " ".join(cell(rows[name][c]) for c in COLUMNS), flush=True)
    for name in args.modes:
        values = [report["pairs"][p][name] for p in report["pairs"]]
        report.setdefault("mean", {})[name] = {c: float(np.mean([v[c] for v in values]))
                                               for c in ("oa", "kappa", "kappa_min", "kappa_max", "f1", "auc",
                                                         "seconds")}
        print(f"{'mean':14} {name:20} " + " ".join(cell(report["mean"][name].get(c)) for c in COLUMNS))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
