"""`make bench-prior`: how well each change prior ranks and labels the shared benchmark pairs.

For every pair in ../shared/data and every prior, a run's own first stages (core/stages/: the pair
aligned, its block means read and normalised, the prior on the block grid) are upsampled bilinearly to
pixels and scored against gt.tif at pixel level: AUC; what the training's pseudo-labels
(labels/margins.py) would be worth on it: the share of the pixels labelled unchanged and changed and
how many of them truly are; Kappa and F1 of Otsu's and of Kittler's threshold on the prior; seconds
for the prior stage. Writes build/bench/prior.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from oaip_qgis.core.decision.threshold import kittler, otsu  # noqa: E402
from oaip_qgis.core.labels.blocks import upsample_prior  # noqa: E402
from oaip_qgis.core.labels.margins import CHANGED, UNCHANGED, margin_labels  # noqa: E402
from oaip_qgis.core.labels.prior import PRIORS  # noqa: E402
from oaip_qgis.core.metrics import accuracy, auc  # noqa: E402
from oaip_qgis.core.params import RunParams  # noqa: E402
from oaip_qgis.core.progress import Progress  # noqa: E402
from oaip_qgis.core.raster.on_grid import read_on_grid  # noqa: E402
from oaip_qgis.core.stages import align_pair, compute_prior, read_blocks  # noqa: E402

COLUMNS = ("auc", "unchanged_share", "unchanged_pure", "changed_share", "changed_pure", "kappa_otsu", "f1_otsu",
           "kappa_kittler", "seconds")


def labels_worth(prior: np.ndarray, truth: np.ndarray) -> dict:
    """Share of the valid pixels each pseudo-label class takes, and of truly unchanged / changed in it."""
    labels = margin_labels(prior)
    valid = np.isfinite(prior).sum()
    unchanged, changed = labels == UNCHANGED, labels == CHANGED
    return {"unchanged_share": float(unchanged.sum() / valid), "changed_share": float(changed.sum() / valid),
            "unchanged_pure": float(1 - truth[unchanged].mean()) if unchanged.any() else float("nan"),
            "changed_pure": float(truth[changed].mean()) if changed.any() else float("nan")}


def score(prior: np.ndarray, truth: np.ndarray) -> dict:
    ok = np.isfinite(prior)
    values, reference = prior[ok], truth[ok]
    t_otsu, t_kittler = otsu(values), kittler(values)
    with_otsu = accuracy(values > t_otsu, reference)
    return {"auc": auc(values, reference), **labels_worth(prior, truth), "kappa_otsu": with_otsu["kappa"],
            "f1_otsu": with_otsu["f1"],
            "kappa_kittler": accuracy(values > t_kittler, reference)["kappa"]}


def bench_pair(folder: Path, methods: list[str], seed: int) -> dict:
    params = RunParams(t1=str(folder / "t1.tif"), t2=str(folder / "t2.tif"), seed=seed)
    with align_pair(params, []) as pair:
        blocks = read_blocks(pair, params, Progress())
        truth = read_on_grid(str(folder / "gt.tif"), pair.grid) > 0
    results = {}
    for method in methods:
        start = time.perf_counter()
        prior = compute_prior(blocks, replace(params, prior=method), Progress()).prior
        seconds = time.perf_counter() - start
        results[method] = {**score(upsample_prior(prior, truth.shape), truth), "seconds": seconds}
    return {"block": blocks.size, "cells": int(blocks.valid.sum()), "changed_fraction": float(truth.mean()),
            **results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--methods", nargs="+", default=list(PRIORS), choices=PRIORS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench" / "prior.json")
    args = parser.parse_args()
    pairs = sorted(p for p in args.data.iterdir() if (p / "gt.tif").exists()) if args.data.exists() else []
    if not pairs:
        raise SystemExit(f"No benchmark pair (t1.tif, t2.tif, gt.tif) under {args.data}.")
    report = {"seed": args.seed, "pairs": {}}
    print(f"{'pair':14} {'prior':10} " + " ".join(f"{c:>13}" for c in COLUMNS))
    for folder in pairs:
        result = bench_pair(folder, args.methods, args.seed)
        report["pairs"][folder.name] = result
        for method in args.methods:
            row = result[method]
            print(f"{folder.name:14} {method:10} " + " ".join(f"{row[c]:13.3f}" for c in COLUMNS), flush=True)
    for method in args.methods:
        rows = [report["pairs"][p][method] for p in report["pairs"]]
        report.setdefault("mean", {})[method] = {c: float(np.mean([r[c] for r in rows])) for c in COLUMNS}
        print(f"{'mean':14} {method:10} " + " ".join(f"{report['mean'][method][c]:13.3f}" for c in COLUMNS))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
