"""`make bench-scale`: seconds and peak RSS of a whole int8 run on synthetic pairs of growing size.

Each size runs in its own process so that its peak RSS (from wait4) is its own. The large pairs are
the generated sample pair resampled by GDAL to the target size (t2 keeps its other CRS and twice the
pixel size), which makes them in seconds without holding them in memory.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from osgeo import gdal

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RUN = """
import sys, json
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import run
t1, t2, out, mode = sys.argv[1:5]
result = run(RunParams(t1=t1, t2=t2, out_change=out + '/change.tif', out_difference=out + '/difference.tif',
                       out_stats=out + '/stats.json', mode=mode, threads=2))
print(json.dumps(result.stats['timing']))
"""


def make_pair(base: dict, size: int, folder: Path) -> tuple[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    options = "-co TILED=YES -co COMPRESS=DEFLATE -co BIGTIFF=IF_SAFER -r bilinear"
    t1, t2 = str(folder / "t1.tif"), str(folder / "t2.tif")
    gdal.Translate(t1, base["t1"], options=f"-outsize {size} {size} {options}")
    gdal.Translate(t2, base["t2"], options=f"-outsize {size // 2} {size // 2} {options}")
    return t1, t2


def measure(t1: str, t2: str, out: Path, mode: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN, t1, t2, str(out), mode], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    if status != 0:
        raise SystemExit(f"run failed:\n{stderr}")
    return {"seconds": round(seconds, 2), "peak_rss_bytes": usage.ru_maxrss * 1024,
            "timing": json.loads(stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,2000,4000,8000")
    parser.add_argument("--mode", default="int8")
    args = parser.parse_args()
    from oaip_qgis.core.sample_pair import make_sample_pair

    work = REPO / "build" / "bench" / "scale"
    base = make_sample_pair(work / "base", size=512, seed=7)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        t1, t2 = make_pair(base, size, work / f"pair{size}")
        row = {"size": size, "pixels": size * size, **measure(t1, t2, work / f"out{size}", args.mode)}
        rows.append(row)
        print(f"{size:>6}² {row['seconds']:>9.1f} s {row['peak_rss_bytes'] / 2**30:>8.2f} GiB", flush=True)
    first = rows[0]
    for row in rows:
        row["time_ratio"] = round(row["seconds"] / first["seconds"], 2)
        row["pixel_ratio"] = row["pixels"] / first["pixels"]
    report = {"mode": args.mode, "rows": rows,
              "peak_rss_largest_gib": round(rows[-1]["peak_rss_bytes"] / 2**30, 3),
              "time_ratio_largest": rows[-1]["time_ratio"]}
    (REPO / "build" / "bench").mkdir(parents=True, exist_ok=True)
    (REPO / "build" / "bench" / "scale.json").write_text(json.dumps(report, indent=2))
    print(f"{'size':>7} {'seconds':>9} {'peak GiB':>9} {'time x':>7} {'pixels x':>8}")
    for row in rows:
        print(f"{row['size']:>6}² {row['seconds']:>9.1f} {row['peak_rss_bytes'] / 2**30:>9.2f} "
              f"{row['time_ratio']:>7.1f} {row['pixel_ratio']:>8.0f}")


if __name__ == "__main__":
    main()
