"""`make bench-pair-scale`: the shared pairs as another sensor or a wider scene would give them.

The shared pairs are small renderings at one pixel size each, and every constant was measured on them: the
prior's blocks are 2 px on any image under about 4000², so what a block holds depends on how many pixels
the pair's objects span. An analyst's pair need not be like them. Each pair is written again three ways
(t1, t2 and gt alike, the georeferencing following):
- `finer`: every pixel split into 2 × 2 (a sensor twice finer, without the detail it would add: the
  objects span twice the pixels);
- `wider`: four copies of the pair side by side, 2 × 2 (four times the scene at the same pixel size: more
  land for the prior's anchors to cover; not mirrored, which would undo a pair's own misregistration
  for the co-registration, as italy's 1 × 3 px);
- `coarser`: 2 × 2 pixels averaged (a sensor twice coarser; changed where at least half the pixels were);
and `finer` again with PIXEL_SIZE at twice its pixel (the analyst's remedy: the outputs on a coarser grid).
Each runs through the whole pipeline (core.pipeline.run) in the modes asked, for the seeds asked: Kappa and
the best single threshold's Kappa, side by side with the pair as given. Writes build/bench/pair_scale.json.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
from bench_accuracy import DATA, MODES, REPO, _mean, bench_run, fmt
from pair_scenes import rewritten
from rasterio.transform import Affine

NAMES = ("t1", "t2", "gt")
VARIANTS = ("finer", "wider", "coarser")
REMEDY = "finer at 2 px"   # the finer pair again with PIXEL_SIZE at FACTOR times its pixel
FACTOR = 2


def rescaled(data: np.ndarray, variant: str, truth: bool) -> np.ndarray:
    """One raster's bands (bands, rows, cols) as `variant` gives them (module notes)."""
    if variant == "finer":
        return data.repeat(FACTOR, axis=1).repeat(FACTOR, axis=2)
    if variant == "wider":   # copies side by side, not mirror images: a pair misregistered by a shift stays so
        return np.tile(data, (1, FACTOR, FACTOR))
    if variant == "coarser":
        bands, rows, cols = data.shape
        rows, cols = rows - rows % FACTOR, cols - cols % FACTOR
        means = data[:, :rows, :cols].astype(np.float64).reshape(
            bands, rows // FACTOR, FACTOR, cols // FACTOR, FACTOR).mean(axis=(2, 4))
        return ((means >= 0.5) if truth else np.round(means)).astype(data.dtype)
    raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {variant!r}")


def write_variant(folder: Path, out: Path, variant: str) -> dict[str, str]:
    """The pair under `folder` (t1, t2, gt) written as `variant` under `out`: paths by name."""
    scale = Affine.scale({"finer": 1 / FACTOR, "wider": 1, "coarser": FACTOR}[variant])
    return rewritten(folder, out, NAMES, lambda name, ds: (rescaled(ds.read(), variant, truth=name == "gt"),
                                                           ds.transform * scale))


def pixel_side(path: str) -> float:
    """A raster's pixel width in its own units: PIXEL_SIZE for the finer pair's remedy is twice it."""
    with rasterio.open(path) as ds:
        return abs(ds.transform.a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--modes", nargs="+", default=["prior", "int8"], choices=["prior", "int8", "fp32"])
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated; figures are means over them")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench" / "pair_scale.json")
    args = parser.parse_args()
    # The shared pairs' nominal grid (1 m pixels from 0, 0) reads to rasterio as no georeferencing: written as found.
    warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
    folders = sorted(p for p in args.data.iterdir() if (p / "gt.tif").exists()) if args.data.exists() else []
    if not folders:
        raise SystemExit(f"No benchmark pair (t1.tif, t2.tif, gt.tif) under {args.data}.")
    seeds = [int(v) for v in args.seeds.split(",")]
    columns = ("as given", "finer", REMEDY, "wider", "coarser")
    report: dict = {"seeds": seeds, "threads": args.threads, "pairs": {}, "summary": {}}
    print(f"{'pair':16} {'mode':6} " + " ".join(f"{c:>15}" for c in columns) + "   (Kappa / best single threshold)")
    with tempfile.TemporaryDirectory() as work:
        for folder in folders:
            paths = {"as given": {name: str(folder / f"{name}.tif") for name in NAMES}}
            paths.update({v: write_variant(folder, Path(work) / folder.name / v, v) for v in VARIANTS})
            remedy = {"pixel_size": FACTOR * pixel_side(paths["finer"]["t1"])}
            for mode in args.modes:
                row = report["pairs"].setdefault(folder.name, {}).setdefault(mode, {})
                for column in columns:
                    pair = paths["finer" if column == REMEDY else column]
                    fields = {**MODES[mode], **(remedy if column == REMEDY else {})}
                    runs = [bench_run(pair["t1"], pair["t2"], pair["gt"], fields, seed, args.threads)
                            for seed in seeds]
                    row[column] = {"kappa": _mean([r["kappa"] for r in runs]),
                                   "best_kappa": _mean([r["best_kappa"] for r in runs]),
                                   "changed_fraction": _mean([r["changed_fraction"] for r in runs]),
                                   "runs": runs}
                print(f"{folder.name:16} {mode:6} " + " ".join(
                    f"{fmt(row[c]['kappa'], 7)}/{fmt(row[c]['best_kappa'], 5).strip():>7}" for c in columns),
                    flush=True)
    for mode in args.modes:
        entry = report["summary"][mode] = {}
        for column in columns:
            kappas = {p: rows[mode][column]["kappa"] for p, rows in report["pairs"].items()}
            entry[column] = {"mean_kappa": _mean(list(kappas.values())), "worst_kappa": min(kappas.values()),
                             "worst_pair": min(kappas, key=kappas.get),
                             "mean_best_kappa": _mean([rows[mode][column]["best_kappa"]
                                                       for rows in report["pairs"].values()])}
        print(f"{'mean / worst':16} {mode:6} " + " ".join(
            f"{fmt(entry[c]['mean_kappa'], 7)}/{fmt(entry[c]['worst_kappa'], 5).strip():>7}" for c in columns),
            flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
