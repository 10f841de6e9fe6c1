"""`make bench-accuracy`: every shared benchmark pair, every configuration, side by side in one run.

(a) Luppino's affinity prior + Otsu, (a') the structural prior + Otsu, (b) the detector in fp32,
(c) int8 with pruning, (d) int8 without pruning. Fixed seeds. Writes build/bench/accuracy.json.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from oaip_qgis.core.params import RunParams  # noqa: E402
from oaip_qgis.core.pipeline import run  # noqa: E402

DATA = REPO.parent / "shared" / "data"
CONFIGS = {
    "a_affinity_prior": dict(mode="prior", prior="affinity"),
    "a2_structural_prior": dict(mode="prior", prior="structural"),
    "b_fp32": dict(mode="fp32", prune=False),
    "c_int8_prune": dict(mode="int8", prune=True),
    "d_int8_noprune": dict(mode="int8", prune=False),
}


def main() -> None:
    pairs = sorted(p.name for p in DATA.iterdir() if (p / "t1.tif").exists()) if DATA.exists() else []
    if not pairs:
        raise SystemExit(f"No benchmark pairs under {DATA}")
    rows = []
    for pair in pairs:
        folder = DATA / pair
        for name, config in CONFIGS.items():
            with tempfile.TemporaryDirectory() as out:
                start = time.perf_counter()
                result = run(RunParams(t1=str(folder / "t1.tif"), t2=str(folder / "t2.tif"),
                                       reference=str(folder / "gt.tif"), out_change=f"{out}/change.tif",
                                       seed=0, threads=2, **config))
                seconds = time.perf_counter() - start
            stats = result.stats
            m = stats["metrics"]
            row = {"pair": pair, "config": name, "oa": m["oa"], "kappa": m["kappa"], "f1": m["f1"], "auc": m["auc"],
                   "seconds": round(seconds, 2),
                   "peak_bytes": stats.get("training", {}).get("peak_bytes"),
                   "fp32_equivalent_peak_bytes": stats.get("training", {}).get("fp32_equivalent_peak_bytes"),
                   "compression_ratio": stats.get("model", {}).get("compression_ratio"),
                   "bops_before": stats.get("model", {}).get("bops_before"),
                   "bops_after": stats.get("model", {}).get("bops_after")}
            rows.append(row)
            print(f"{pair:14} {name:20} OA {row['oa']:.3f} Kappa {row['kappa']:.3f} F1 {row['f1']:.3f} "
                  f"AUC {row['auc']:.3f} {row['seconds']:7.1f} s peak {row['peak_bytes'] or 0:>10} "
                  f"x{row['compression_ratio'] or 0:.2f}", flush=True)
    out = REPO / "build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "accuracy.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
