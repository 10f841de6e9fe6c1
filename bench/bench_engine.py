"""`make bench-engine`: one int8 training step vs one fp32 autograd step on the same dual-VGG and batch.

Prints a table and writes build/bench/engine.json (median of several steps, threads fixed for both).
Training memory is what each step holds for backward: weights, saved activations and gradients.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from oaip_qgis.core.model.dual_vgg import FloatDualVGG, IntDualVGG  # noqa: E402
from oaip_qgis.core.model.init_weights import initial_weights  # noqa: E402
from oaip_qgis.core.model.train import TrainConfig, _FloatRunner, _held, _IntRunner  # noqa: E402

CONFIG = TrainConfig()
BATCH, CROP, BANDS, STEPS, THREADS = CONFIG.batch, CONFIG.crop, (4, 1), 7, 2


def timed(runner, x1, x2, y) -> tuple[float, int, int]:
    """Median seconds of one training step (forward, loss, backward, update) and the bytes it holds,
    with what an fp32 step of the same network would hold."""
    times = []
    for _ in range(STEPS):
        start = time.perf_counter()
        runner.step(x1, x2, y, 0)
        times.append(time.perf_counter() - start)
    return (statistics.median(times[1:]), *_held(runner.net, runner.integer))


def main() -> None:
    torch.set_num_threads(THREADS)
    spec = CONFIG.spec()
    weights = initial_weights(spec, BANDS, 0)
    g = torch.Generator().manual_seed(0)
    x1 = (torch.rand((BATCH, BANDS[0], CROP, CROP), generator=g) * 2 - 1).numpy()
    x2 = (torch.rand((BATCH, BANDS[1], CROP, CROP), generator=g) * 2 - 1).numpy()
    side = CROP // spec.scale
    y = torch.randint(-1, 2, (BATCH, side, side), generator=g)   # dense labels, some unlabelled
    int_runner, fp32_runner = _IntRunner(IntDualVGG(spec, weights), 0), _FloatRunner(FloatDualVGG(spec, weights), 0)
    int8_s, int8_bytes, _ = timed(int_runner, int_runner.inputs(x1), int_runner.inputs(x2), y)
    fp32_s, fp32_bytes, _ = timed(fp32_runner, fp32_runner.inputs(x1), fp32_runner.inputs(x2), y)
    report = {"batch": BATCH, "crop": CROP, "threads": THREADS, "widths": list(map(str, spec.widths)),
              "int8_step_seconds": round(int8_s, 5), "fp32_step_seconds": round(fp32_s, 5),
              "step_ratio": round(int8_s / fp32_s, 3), "int8_train_bytes": int8_bytes,
              "fp32_train_bytes": fp32_bytes, "memory_ratio": round(int8_bytes / fp32_bytes, 3)}
    out = REPO / "build" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "engine.json").write_text(json.dumps(report, indent=2))
    print(f"{'':24}{'int8':>12}{'fp32':>12}{'ratio':>8}")
    print(f"{'step seconds (median)':24}{int8_s:>12.4f}{fp32_s:>12.4f}{report['step_ratio']:>8.2f}")
    print(f"{'training bytes':24}{int8_bytes:>12}{fp32_bytes:>12}{report['memory_ratio']:>8.2f}")


if __name__ == "__main__":
    main()
