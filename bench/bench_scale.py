"""`make bench-scale`: whole int8 runs on generated pairs of growing size, up to a Sentinel-2 tile (10 980²).

The pairs come from core/large_pair.py (4-band UInt16 optical in UTM at 10 m against Float32 SAR in
EPSG:4326 at about 14 m; fields turned built-up 10–40 px wide, a flood band), made strip by strip and
kept under build/bench/scale/pairs/<size> for the next run. Each size runs in its own process with every
output (change, difference, confidence, polygons, statistics) and the truth as reference, so that
its peak RSS (from wait4) is its own. Per size and run seed (--seeds, 0 and 1 by default): seconds, peak
RSS, Kappa, and the recall of the changed objects by width (an object counts as found when at least half
its pixels are marked), and Kappa with the new buildings left out of the count beside their share of the
change; the Kappa gaps of the largest size to the first, seed by seed, mean and worst. Then, per size,
one more run (the first seed) where an analyst has drawn three of the new buildings as changed samples
and asked the network to find more like them (`with_samples`; recall over the buildings not drawn).

Then the network's native-resolution inference alone, int8 against the fp32 twin with the same
weights, alternating tile by tile on 1024² tiles of the largest pair (`inference`).
Writes build/bench/scale.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from oaip_qgis.core.metrics import from_confusion  # noqa: E402
from oaip_qgis.core.run_stats import RunStats  # noqa: E402

RUN = """
import sys, json
from oaip_qgis.core.params import RunParams
from oaip_qgis.core.pipeline import run
t1, t2, truth, out, mode, threads, seed, samples = sys.argv[1:9]
result = run(RunParams(t1=t1, t2=t2, reference=truth, out_change=out + '/change.tif',
                       out_difference=out + '/difference.tif', out_confidence=out + '/confidence.tif',
                       out_polygons=out + '/changes.gpkg', out_stats=out + '/stats.json', mode=mode,
                       threads=int(threads), seed=int(seed), samples=samples or None,
                       extend_from_samples=bool(samples)))
print(json.dumps(result.stats.timing))
"""
WIDTHS = ((10, 20), (20, 30), (30, 45))   # object width bands, px (√area)


def pair(size: int, work: Path) -> dict:
    """The generated pair of this size, made once (pair.json marks a complete one)."""
    from oaip_qgis.core.large_pair import make_large_pair

    folder = work / "pairs" / str(size)
    done = folder / "pair.json"
    if not done.exists():
        done.parent.mkdir(parents=True, exist_ok=True)
        done.write_text(json.dumps(make_large_pair(folder, size, seed=0)))
    return json.loads(done.read_text())


def measure(paths: dict, out: Path, mode: str, threads: int, seed: int, samples: str = "") -> dict:
    """One whole run in its own process (samples: changed polygons to find more of, or "" for none)."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(out / "stderr.txt", "w") as errors:
        proc = subprocess.Popen([sys.executable, "-c", RUN, paths["t1"], paths["t2"], paths["truth"], str(out),
                                 mode, str(threads), str(seed), samples], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=errors, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"run failed:\n{(out / 'stderr.txt').read_text()}")
    return {"seconds": round(seconds, 2), "peak_rss_bytes": usage.ru_maxrss * 1024,
            "timing": json.loads(proc.stdout.read().strip().splitlines()[-1])}


def object_recall(change_path: str, objects_path: str, truth_path: str, exclude: tuple = ()) -> dict:
    """Recall of the changed objects (objects.tif ids, on the change layer's pixel lattice, which is
    cropped to the pair's overlap) by width band, read block by block over the change layer; and, to
    tell fading detail from the pair's own mix of change, the new buildings' share of the changed
    pixels and Kappa with their pixels left out of the count (the flood and unchanged land alone).
    exclude: object ids left out of the recall (those an analyst drew as samples)."""
    with rasterio.open(change_path) as change, rasterio.open(objects_path) as objects, \
            rasterio.open(truth_path) as truth:
        col0 = round((change.transform.c - objects.transform.c) / objects.transform.a)
        row0 = round((change.transform.f - objects.transform.f) / objects.transform.e)
        windows = [window for _, window in change.block_windows(1)]
        size = 1 + max(int(objects.read(1, window=w).max()) for _, w in objects.block_windows(1))
        total, found = np.zeros(size), np.zeros(size)
        counts = np.zeros(4, np.int64)   # the rest without the buildings: tp, fp, tn, fn
        built_changed = changed = 0
        for window in windows:
            shifted = Window(window.col_off + col0, window.row_off + row0, window.width, window.height)
            ids = objects.read(1, window=shifted, boundless=True, fill_value=0).ravel()
            truly = truth.read(1, window=shifted, boundless=True, fill_value=0).ravel() == 1
            layer = change.read(1, window=window).ravel()
            marked, rest = layer == 1, (layer != 255) & (ids == 0)
            total += np.bincount(ids, minlength=size)
            found += np.bincount(ids, weights=marked, minlength=size)
            counts += [(marked & truly & rest).sum(), (marked & ~truly & rest).sum(),
                       (~marked & ~truly & rest).sum(), (~marked & truly & rest).sum()]
            changed += int((truly & (layer != 255)).sum())
            built_changed += int((truly & (layer != 255) & (ids > 0)).sum())
    ids = np.setdiff1d(np.flatnonzero(total[1:]) + 1, np.asarray(exclude, int))
    width = np.sqrt(total[ids])
    hit = found[ids] >= total[ids] / 2
    kappa_rest = from_confusion(*(int(c) for c in counts))["kappa"] if counts.any() else None
    report = {"objects": int(ids.size), "recall": round(float(hit.mean()), 4) if ids.size else None,
              "built_share_of_change": round(built_changed / changed, 4) if changed else None,
              "kappa_without_new_buildings": None if kappa_rest is None else round(kappa_rest, 4)}
    for low, high in WIDTHS:
        band = (width >= low) & (width < high)
        report[f"recall_{low}_{high}px"] = round(float(hit[band].mean()), 4) if band.any() else None
        report[f"objects_{low}_{high}px"] = int(band.sum())
    return report


def building_samples(objects_path: str, path: Path, count: int, seed: int = 7, pixels: tuple = (300, 1200)) -> list:
    """An analyst's drawing: the outlines of `count` new buildings (objects.tif ids of pixels[0]–pixels[1] px,
    drawn at random) as `changed` = 1 polygons in a GeoPackage at path; returns their ids. Read block by block,
    so a 10 980² objects layer is never whole in memory."""
    from pair_scenes import region_polygons

    with rasterio.open(objects_path) as objects:
        windows = [window for _, window in objects.block_windows(1)]
        size = 1 + max(int(objects.read(1, window=w).max()) for w in windows)
        total = np.zeros(size, np.int64)
        for window in windows:
            total += np.bincount(objects.read(1, window=window).ravel(), minlength=size)
        candidates = np.flatnonzero((total >= pixels[0]) & (total <= pixels[1]))
        chosen = np.random.default_rng(seed).choice(candidates[candidates > 0], count, replace=False)
        boxes = {int(i): [np.inf, np.inf, -1, -1] for i in chosen}   # row0, col0, row1, col1
        for window in windows:
            block = objects.read(1, window=window)
            for i in boxes:
                rows, cols = np.nonzero(block == i)
                if rows.size:
                    box = boxes[i]
                    box[:] = [min(box[0], window.row_off + rows.min()), min(box[1], window.col_off + cols.min()),
                              max(box[2], window.row_off + rows.max()), max(box[3], window.col_off + cols.max())]
        pieces = []
        for i, (row0, col0, row1, col1) in boxes.items():
            window = Window(int(col0), int(row0), int(col1 - col0 + 1), int(row1 - row0 + 1))
            pieces.append((objects.read(1, window=window) == i,
                           rasterio.windows.transform(window, objects.transform).to_gdal()))
        region_polygons(path, objects.crs.to_wkt() if objects.crs else "", pieces)
    return [int(i) for i in chosen]


def largest_against_first(rows: list[dict]) -> dict:
    """Peak RSS of the largest size, and its Kappa gap to the first size seed by seed (mean and worst)."""
    first, largest = rows[0]["size"], rows[-1]["size"]
    report = {"peak_rss_largest_gib": round(max(r["peak_rss_bytes"] for r in rows if r["size"] == largest) / 2**30,
                                            3)}
    for key, name in (("kappa", "kappa_gap_largest_vs_first"),
                      ("kappa_without_new_buildings", "kappa_without_new_buildings_gap_largest_vs_first")):
        kappa = {(r["size"], r["seed"]): r[key] for r in rows}
        gaps = [kappa[first, seed] - kappa[largest, seed] for size, seed in kappa if size == largest]
        report[name] = {"mean": round(float(np.mean(gaps)), 4), "worst": round(max(gaps), 4),
                        "per_seed": [round(g, 4) for g in gaps]}
    return report


def inference_ratio(paths: dict, tiles: int, threads: int, tile: int = 1024) -> dict:
    """Seconds per 1024² tile of the network's native-resolution pass, int8 and fp32 with the same
    weights, alternating tile by tile (the pair read and normalised first, outside the clock)."""
    import torch

    from oaip_qgis.core.model.detector import Detector
    from oaip_qgis.core.model.dual_vgg import FloatDualVGG, IntDualVGG, Spec, quantise_input
    from oaip_qgis.core.model.init_weights import initial_weights
    from oaip_qgis.core.normalise import fit_normaliser
    from oaip_qgis.core.raster.align import open_pair
    from oaip_qgis.core.raster.grid import Window

    torch.set_num_threads(threads)
    spec = Spec()
    with open_pair(paths["t1"], paths["t2"]) as aligned:
        x1b, x2b, vb = aligned.read(out_shape=(256, 256))
        n1, n2 = fit_normaliser(x1b, vb), fit_normaliser(x2b, vb)
        weights = initial_weights(spec, (aligned.band_count1, aligned.band_count2), 0)
        nets = {"int8": Detector([IntDualVGG(spec, weights)], spec, True, 1),
                "fp32": Detector([FloatDualVGG(spec, weights)], spec, False, 1)}
        # Shifts fixed as training fixes them, here on the decimated read instead of training crops.
        nets["int8"].nets[0].fix_shifts(*(quantise_input(torch.from_numpy(np.nan_to_num(n.apply(x)))[None])
                                         for n, x in ((n1, x1b), (n2, x2b))))
        step = aligned.grid.width // (tiles + 1)
        seconds: dict = {"int8": [], "fp32": []}
        for i in range(tiles):
            window = Window(step * (i + 1) - tile // 2, aligned.grid.height // 2 - tile // 2, tile, tile)
            x1, x2, _ = aligned.read(window)
            x1, x2 = n1.apply(x1), n2.apply(x2)
            for name in (("int8", "fp32") if i % 2 == 0 else ("fp32", "int8")):
                start = time.perf_counter()
                nets[name].network_probability(x1, x2, window.row_off, window.col_off)
                seconds[name].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(seconds["int8"], seconds["fp32"])]
    return {"tile": tile, "tiles": tiles, "int8_seconds": [round(s, 3) for s in seconds["int8"]],
            "fp32_seconds": [round(s, 3) for s in seconds["fp32"]],
            "ratio_median": round(float(np.median(ratios)), 3), "ratio_range": [round(min(ratios), 3),
                                                                                  round(max(ratios), 3)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,4000,10980")
    parser.add_argument("--mode", default="int8")
    parser.add_argument("--inference-tiles", type=int, default=6)
    parser.add_argument("--threads", type=int, default=2, help="torch and kernel threads of each run")
    parser.add_argument("--seeds", default="0,1", help="comma-separated run seeds; every size runs each")
    parser.add_argument("--samples", type=int, default=3,
                        help="new buildings drawn as changed samples for one more run per size (first seed, "
                             "finding more like them); 0: none")
    args = parser.parse_args()
    seeds = [int(v) for v in args.seeds.split(",")]
    work = REPO / "build" / "bench" / "scale"
    rows, with_samples = [], []
    for size in (int(s) for s in args.sizes.split(",")):
        paths = pair(size, work)
        for seed in seeds:
            out = work / f"out{size}_seed{seed}"
            row = {"size": size, "seed": seed, "pixels": size * size,
                   **measure(paths, out, args.mode, args.threads, seed)}
            stats = RunStats.from_dict(json.loads((out / "stats.json").read_text()))
            row.update(kappa=(stats.metrics or {}).get("kappa"), prior_block=stats.prior_block,
                       network_cell=stats.network.training["pseudo_labels"]["network_cell"] if stats.network else None,
                       **object_recall(str(out / "change.tif"), paths["objects"], paths["truth"]))
            rows.append(row)
            _print(row)
        if args.samples:
            out = work / f"out{size}_samples{args.samples}"
            drawn = building_samples(paths["objects"], work / f"samples{size}.gpkg", args.samples)
            row = {"size": size, "seed": seeds[0], "samples": drawn,
                   **measure(paths, out, args.mode, args.threads, seeds[0], str(work / f"samples{size}.gpkg"))}
            stats = RunStats.from_dict(json.loads((out / "stats.json").read_text()))
            row.update(kappa=(stats.metrics or {}).get("kappa"), network_confirmation=stats.network_confirmation,
                       **object_recall(str(out / "change.tif"), paths["objects"], paths["truth"], tuple(drawn)))
            with_samples.append(row)
            _print(row)
    report = {"mode": args.mode, "threads": args.threads, "seeds": seeds, "load_average_at_end": os.getloadavg(),
              "rows": rows, **largest_against_first(rows), "with_samples": with_samples}
    if args.inference_tiles:
        report["inference"] = inference_ratio(pair(max(r["size"] for r in rows), work), args.inference_tiles,
                                              args.threads)
        print(f"native inference, 1024² tile: int8/fp32 time ratio {report['inference']['ratio_median']} "
              f"(range {report['inference']['ratio_range']})", flush=True)
    (REPO / "build" / "bench").mkdir(parents=True, exist_ok=True)
    (REPO / "build" / "bench" / "scale.json").write_text(json.dumps(report, indent=2))


def _print(row: dict) -> None:
    drawn = f" + {len(row['samples'])} buildings drawn, finding more" if "samples" in row else ""
    print(f"{row['size']:>6}² seed {row['seed']}{drawn} {row['seconds']:>8.1f} s "
          f"{row['peak_rss_bytes'] / 2**30:>6.2f} GiB  Kappa {row['kappa']} ({row['kappa_without_new_buildings']} "
          f"without the new buildings, {row['built_share_of_change']} of the change)  recall 10-20 px "
          f"{row['recall_10_20px']}, all {row['recall']}", flush=True)


if __name__ == "__main__":
    main()
