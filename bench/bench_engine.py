"""`make bench-engine`: one int8 training step vs one fp32 autograd step on the same dual-VGG and batch.

Prints a table and writes build/bench/engine.json (median of several steps, threads fixed for both).
A step starts from the frozen layers' features, as the training's steps do (it computes them once
for all its crops). The int8 step runs twice: with the compiled kernels (core/integer/kernels.c) and
with torch ops only, the engine's fallback. Training memory is what each step holds for backward:
weights, saved activations and gradients.
"""
from __future__ import annotations

import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import oaip_qgis.core  # noqa: E402, F401 (first: it sets how OpenMP threads wait before torch loads)

# isort: split
import torch  # noqa: E402

from oaip_qgis.core.integer import kernels  # noqa: E402
from oaip_qgis.core.model.accounting import held_bytes  # noqa: E402
from oaip_qgis.core.model.dual_vgg import FloatDualVGG, IntDualVGG, Spec  # noqa: E402
from oaip_qgis.core.model.init_weights import initial_weights  # noqa: E402
from oaip_qgis.core.model.train import TrainConfig, _FloatRunner, _IntRunner  # noqa: E402

CONFIG = TrainConfig()
BATCH, CROP, BANDS, STEPS, THREADS = CONFIG.batch, CONFIG.crop, (4, 1), 41, 2


def step_seconds(runner, f1, f2, y, compiled: bool) -> float:
    with contextlib.nullcontext() if compiled else kernels.disabled():
        start = time.perf_counter()
        runner.step(f1, f2, y, 0)
        return time.perf_counter() - start


def compare(spec, weights, batch: int, crop: int) -> dict:
    """int8 vs fp32 training step (forward, loss, backward, update) on one random batch of `batch`
    crops of `crop`² cells. The two alternate step by step, so that whatever else the machine does
    weighs on both alike; medians after one warm-up step each. Bytes: what each step holds."""
    g = torch.Generator().manual_seed(0)
    x1 = (torch.rand((batch, BANDS[0], crop, crop), generator=g) * 2 - 1).numpy()
    x2 = (torch.rand((batch, BANDS[1], crop, crop), generator=g) * 2 - 1).numpy()
    side = crop // spec.scale
    y = torch.randint(-1, 2, (batch, side, side), generator=g)   # dense labels, some unlabelled
    runners = {"int8": _IntRunner(IntDualVGG(spec, weights), 0),
               "int8_torch_ops": _IntRunner(IntDualVGG(spec, weights), 0),
               "fp32": _FloatRunner(FloatDualVGG(spec, weights))}
    features = {name: r.net.frozen_features(r.inputs(x1), r.inputs(x2)) for name, r in runners.items()}
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(STEPS):
        for name, runner in runners.items():
            times[name].append(step_seconds(runner, *features[name], y, name != "int8_torch_ops"))
    int8_s, torch_ops_s, fp32_s = (statistics.median(times[name][1:]) for name in runners)
    int8_bytes, fp32_bytes = (held_bytes(runners[name].net, runners[name].integer)[0] for name in ("int8", "fp32"))
    return {"batch": batch, "crop": crop, "int8_step_seconds": round(int8_s, 5), "fp32_step_seconds": round(fp32_s, 5),
            "step_ratio": round(int8_s / fp32_s, 3), "int8_torch_ops_step_seconds": round(torch_ops_s, 5),
            "torch_ops_step_ratio": round(torch_ops_s / fp32_s, 3), "int8_train_bytes": int8_bytes,
            "fp32_train_bytes": fp32_bytes, "memory_ratio": round(int8_bytes / fp32_bytes, 3)}


WIDER = ((32, 32, "P", 64, 64), (64, 64, "P", 128, 128))   # the second: VGG16's first two blocks


def main() -> None:
    """The training's own network and batch first (the figures of engine.json), then larger batches,
    then wider networks at the training's batch, for the trend."""
    torch.set_num_threads(THREADS)
    spec = CONFIG.spec()
    weights = initial_weights(spec, BANDS, 0)
    rows = [compare(spec, weights, batch, crop) for batch, crop in ((BATCH, CROP), (4 * BATCH, CROP),
                                                                      (BATCH, 2 * CROP), (4 * BATCH, 2 * CROP))]
    wider = []
    for widths in WIDER:
        wide = Spec(widths=widths, frozen=spec.frozen)
        wider.append({"widths": "-".join(map(str, widths)), **compare(wide, initial_weights(wide, BANDS, 0),
                                                                       BATCH, CROP)})
    if not kernels.active():
        print("The compiled kernels are not built (make setup builds them): both int8 columns run torch ops.")
    report = {**rows[0], "threads": THREADS, "compiled_kernels": kernels.active(),
              "widths": list(map(str, spec.widths)), "larger_batches": rows[1:], "wider_networks": wider}
    out = REPO / "build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "engine.json").write_text(json.dumps(report, indent=2))
    print(f"{'network':>16}{'batch x crop':>14}{'int8 s':>10}{'torch ops':>10}{'fp32 s':>10}{'ratio':>7}"
          f"{'(ops)':>7}{'int8 bytes':>12}{'fp32 bytes':>12}{'ratio':>7}")
    for r in [{"widths": "-".join(map(str, spec.widths)), **row} for row in rows] + wider:
        print(f"{r['widths']:>16}{r['batch']:>8} x {r['crop']:<3}{r['int8_step_seconds']:>10.4f}"
              f"{r['int8_torch_ops_step_seconds']:>10.4f}{r['fp32_step_seconds']:>10.4f}{r['step_ratio']:>7.2f}"
              f"{r['torch_ops_step_ratio']:>7.2f}{r['int8_train_bytes']:>12}"
              f"{r['fp32_train_bytes']:>12}{r['memory_ratio']:>7.2f}")


if __name__ == "__main__":
    main()
