"""`make bench-prior`: how well each change prior ranks and labels the shared benchmark pairs.

For every pair in ../shared/data and every prior, the pipeline's own steps are repeated in memory
(block size from the image size, block means, normalisers fitted on them, prior on the block grid,
bilinear upsampling to pixels) and scored against gt.tif at pixel level: AUC; what the training's
pseudo-labels (labels/margins.py) would be worth on it: the share of the pixels labelled unchanged
and changed and how many of them truly are; Kappa and F1 of Otsu's and of Kittler's threshold on the
prior; seconds for the prior. Writes build/bench/prior.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import rasterio

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))

from oaip_qgis.core.decision.threshold import kittler, otsu  # noqa: E402
from oaip_qgis.core.labels.blocks import block_means, block_size, upsample_prior  # noqa: E402
from oaip_qgis.core.labels.margins import CHANGED, UNCHANGED, margin_labels  # noqa: E402
from oaip_qgis.core.labels.prior import PRIORS, change_prior  # noqa: E402
from oaip_qgis.core.metrics import accuracy, auc  # noqa: E402
from oaip_qgis.core.normalise import fit_normaliser  # noqa: E402

COLUMNS = ("auc", "unchanged_share", "unchanged_pure", "changed_share", "changed_pure", "kappa_otsu", "f1_otsu",
           "kappa_kittler", "seconds")


def load(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arrays = []
    for name in ("t1", "t2", "gt"):
        with rasterio.open(folder / f"{name}.tif") as src:
            arrays.append(src.read())
    x1, x2, gt = arrays
    if x1.shape[1:] != x2.shape[1:] or x1.shape[1:] != gt.shape[1:]:
        raise SystemExit(f"{folder}: t1, t2 and gt must share one grid.")
    return x1.astype(np.float32), x2.astype(np.float32), gt[0] > 0


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
    x1, x2, truth = load(folder)
    valid = np.ones(truth.shape, bool)
    b = block_size(*truth.shape)
    x1b, valid_b = block_means(x1, valid, b)
    x2b, _ = block_means(x2, valid, b)
    y1, y2 = fit_normaliser(x1b, valid_b).apply(x1b), fit_normaliser(x2b, valid_b).apply(x2b)
    results = {}
    for method in methods:
        start = time.perf_counter()
        prior = change_prior(y1, y2, valid_b, method=method, seed=seed)
        seconds = time.perf_counter() - start
        results[method] = {**score(upsample_prior(prior, truth.shape), truth), "seconds": seconds}
    return {"block": b, "cells": int(valid_b.sum()), "changed_fraction": float(truth.mean()), **results}


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
