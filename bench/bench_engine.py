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
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from oaip_qgis.core.integer.loss import cross_entropy_error  # noqa: E402
from oaip_qgis.core.integer.sgd import sgd_step  # noqa: E402
from oaip_qgis.core.integer.tensor import BlockTensor  # noqa: E402
from oaip_qgis.core.model.dual_vgg import FloatDualVGG, IntDualVGG, Spec, initial_weights, quantise_input  # noqa: E402
from oaip_qgis.core.model.train import _float_activations, _held  # noqa: E402

BATCH, PATCH, BANDS, STEPS, THREADS = 64, 16, (4, 1), 7, 2


def int8_step(net, a, b, y, centre):
    logits = net.forward(a, b, train=True)
    held = _held(net)[0]
    err, _ = cross_entropy_error(BlockTensor(logits.m[:, :, centre, centre].contiguous(), logits.e), y)
    full = torch.zeros_like(logits.m)
    full[:, :, centre, centre] = err.m
    net.backward(BlockTensor(full, err.e))
    for conv in net.convs.values():
        sgd_step(conv, 2)
    return held


def fp32_step(net, x1, x2, y, centre):
    loss = F.cross_entropy(net(x1, x2)[:, :, centre, centre], y)
    net.zero_grad()
    loss.backward()
    with torch.no_grad():
        for p in net.parameters():
            if p.grad is not None:
                p -= 0.01 * p.grad
    return 4 * (sum(p.numel() for p in net.parameters()) * 2 + _float_activations(net, x1.shape[0]))


def timed(fn, *args) -> tuple[float, int]:
    times, held = [], 0
    for _ in range(STEPS):
        start = time.perf_counter()
        held = fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:]), held


def main() -> None:
    torch.set_num_threads(THREADS)
    spec = Spec()
    weights = initial_weights(spec, BANDS, 0)
    g = torch.Generator().manual_seed(0)
    x1 = torch.rand((BATCH, BANDS[0], PATCH, PATCH), generator=g)
    x2 = torch.rand((BATCH, BANDS[1], PATCH, PATCH), generator=g)
    y = torch.randint(0, 2, (BATCH,), generator=g)
    centre = PATCH // spec.scale // 2
    int8_s, int8_bytes = timed(int8_step, IntDualVGG(spec, weights), quantise_input(x1), quantise_input(x2), y, centre)
    fp32_s, fp32_bytes = timed(fp32_step, FloatDualVGG(spec, weights), x1, x2, y, centre)
    report = {"batch": BATCH, "patch": PATCH, "threads": THREADS, "widths": list(map(str, spec.widths)),
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
