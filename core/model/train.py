"""Online training of the dual-VGG detector on the image pair itself, from pseudo-labels of the prior.

Samples: the most and least likely changed block cells of the prior (plus the analyst's samples,
which win), balanced and seeded; a patch around each is read from the aligned pair, so the whole
image is never loaded. MODE=int8 trains with the all-integer engine, MODE=fp32 the same network with
autograd. Filters are pruned by L1 norm after each epoch but the last.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..integer.accounting import bops, parameter_count
from ..integer.loss import cross_entropy_error
from ..integer.sgd import mu_for, sgd_step
from ..integer.tensor import BlockTensor
from ..labels.pseudo_labels import merge_analyst, pseudo_labels, sample_locations
from ..pruning import AdaptivePruner
from ..raster.grid import Window
from .detector import Detector
from .dual_vgg import FloatDualVGG, IntDualVGG, Spec, initial_weights, quantise_input

PATCH = 16
BATCH = 64
FP32_LEARNING_RATE = 0.01


def _analyst_blocks(analyst: np.ndarray, shape: tuple[int, int], b: int) -> np.ndarray:
    """Analyst samples moved onto the prior's block grid (a labelled pixel labels its block)."""
    blocks = np.full(shape, -1, np.int8)
    rows, cols = np.nonzero(analyst >= 0)
    blocks[np.minimum(rows // b, shape[0] - 1), np.minimum(cols // b, shape[1] - 1)] = analyst[rows, cols]
    return blocks


def _patches(pair, normalisers, rows: np.ndarray, cols: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    half = PATCH // 2
    x1s, x2s = [], []
    for r, c in zip(rows, cols):
        x1, x2, valid = pair.read(Window(int(c) - half, int(r) - half, PATCH, PATCH))
        x1s.append(np.where(valid, normalisers[0].apply(x1), 0.0))
        x2s.append(np.where(valid, normalisers[1].apply(x2), 0.0))
    return torch.from_numpy(np.stack(x1s).astype(np.float32)), torch.from_numpy(np.stack(x2s).astype(np.float32))


def _samples(pair, prior, analyst, seed, per_class):
    grid = pair.grid
    b = -(-grid.height // prior.shape[0])
    valid = np.isfinite(prior)
    labels = pseudo_labels(prior, valid)
    keep = None
    if analyst is not None:
        blocks = _analyst_blocks(analyst, prior.shape, b)
        labels, keep = merge_analyst(labels, blocks), blocks >= 0
    rows, cols, classes = sample_locations(labels, per_class, seed, keep)
    rows, cols = rows * b + b // 2, cols * b + b // 2
    half = PATCH // 2
    inside = (rows >= half) & (cols >= half) & (rows + half <= grid.height) & (cols + half <= grid.width)
    counts = {"changed": int((labels == 1).sum()), "unchanged": int((labels == 0).sum()),
              "analyst": int(keep.sum()) if keep is not None else 0, "used": int(inside.sum())}
    if inside.sum() < 2 or len(set(classes[inside].tolist())) < 2:
        raise InputError("Too few pseudo-labels of each class to train on: the overlap may be too small.")
    return rows[inside], cols[inside], torch.from_numpy(classes[inside]), counts


def train_detector(pair, normalisers, prior, analyst, params, progress):
    """Train on the pair; returns (Detector, statistics for stats.json)."""
    start = time.perf_counter()
    if params.threads:
        torch.set_num_threads(params.threads)
    torch.manual_seed(params.seed)
    log_device = "cpu"
    if params.device == "cuda":
        progress.info("DEVICE=cuda: this version's integer kernels run on the CPU; the run used the CPU.")
    spec = Spec()
    rows, cols, classes, counts = _samples(pair, prior, analyst, params.seed, params.samples_per_class)
    progress(0.05, f"Reading {len(rows)} training patches")
    x1, x2 = _patches(pair, normalisers, rows, cols)
    weights = initial_weights(spec, (pair.band_count1, pair.band_count2), params.seed)
    integer = params.mode == "int8"
    net = IntDualVGG(spec, weights) if integer else FloatDualVGG(spec, weights)
    if integer:
        inputs = (quantise_input(x1), quantise_input(x2))
    params_before = parameter_count(net)
    bits = 8 if integer else 32
    bops_before = bops(net, bits, bits)
    filters_before = {name: net.weight(name).shape[0] for name in net.names()}
    pruner = AdaptivePruner()
    generator = torch.Generator().manual_seed(params.seed)
    centre = PATCH // spec.scale // 2
    steps_per_epoch = -(-len(rows) // BATCH)
    total = max(1, params.epochs * steps_per_epoch)
    losses, accuracies, peak, fp32_peak = [], [], 0, 0
    for epoch in range(params.epochs):
        order = torch.randperm(len(rows), generator=generator)
        p_all, y_all = [], []
        for step in range(steps_per_epoch):
            index = order[step * BATCH:(step + 1) * BATCH]
            y = classes[index]
            if integer:
                a = BlockTensor(inputs[0].m[index], inputs[0].e)
                b = BlockTensor(inputs[1].m[index], inputs[1].e)
                logits = net.forward(a, b, train=True)
                held, elements = _held(net)
                peak, fp32_peak = max(peak, held), max(fp32_peak, 4 * elements)
                err, p = cross_entropy_error(BlockTensor(logits.m[:, :, centre, centre].contiguous(), logits.e), y)
                full = torch.zeros_like(logits.m)
                full[:, :, centre, centre] = err.m
                net.backward(BlockTensor(full, err.e))
                mu = mu_for(epoch * steps_per_epoch + step, total)
                for conv in net.convs.values():
                    sgd_step(conv, mu)
                p_all.append(p)
            else:
                logits = net(x1[index], x2[index])[:, :, centre, centre]
                loss = F.cross_entropy(logits, y)
                net.zero_grad()
                loss.backward()
                elements = sum(q.numel() for q in net.parameters()) * 2 + _float_activations(net, len(index))
                peak = fp32_peak = max(peak, 4 * elements)
                with torch.no_grad():
                    for q in net.parameters():
                        if q.grad is not None:
                            q -= FP32_LEARNING_RATE * q.grad
                p_all.append((128 * torch.softmax(logits.detach(), 1)[:, 1]).round().long())
            y_all.append(y)
            progress((epoch * steps_per_epoch + step + 1) / total, f"Training epoch {epoch + 1}/{params.epochs}")
        p128, targets = torch.cat(p_all), torch.cat(y_all)
        likelihood = torch.where(targets == 1, p128, 128 - p128).clamp(1, 128).double() / 128
        losses.append(round(float(-likelihood.log().mean()), 5))
        accuracies.append(round(float(((p128 >= 64).long() == targets).double().mean()), 5))
        if params.prune and epoch < params.epochs - 1:
            pruner.prune(net, accuracies[-1])
    params_after = parameter_count(net)
    bops_after = bops(net, bits, bits)
    stats = {
        "device": log_device,
        "model": {"params_before": params_before, "params_after": params_after,
                  "bits_before": params_before * 32, "bits_after": params_after * bits,
                  "compression_ratio": round(params_before * 32 / (params_after * bits), 3),
                  "bops_before": bops_before, "bops_after": bops_after, "bops_tile": 256,
                  "weight_bits": bits, "activation_bits": bits},
        "pruning": {"enabled": bool(params.prune), "final_fraction_pct": pruner.fraction_pct,
                    "layers": [{"name": n, "filters_before": filters_before[n],
                                "filters_after": net.weight(n).shape[0]} for n in net.names()]},
        "training": {"seconds": round(time.perf_counter() - start, 3), "epochs": params.epochs,
                     "peak_bytes": int(peak), "fp32_equivalent_peak_bytes": int(fp32_peak),
                     "pseudo_labels": counts, "loss": losses, "accuracy": accuracies,
                     "patch": PATCH, "batch": BATCH},
    }
    return Detector(net, spec, integer), stats


def _held(net: IntDualVGG) -> tuple[int, int]:
    """Bytes the int8 step holds (weights, saved activations, int32 gradients) and their element count."""
    weights = sum(c.weight.m.numel() for c in net.convs.values())
    saved = net.saved_bytes()  # int8 columns and masks: one byte an element
    grads = sum(c.weight.m.numel() for c in net.convs.values() if not c.frozen)
    return weights + saved + 4 * grads, weights + saved + grads


def _float_activations(net: FloatDualVGG, batch: int) -> int:
    """Elements autograd keeps for backward: the inputs of every trained convolution, as im2col would."""
    total, side = 0, PATCH
    index = 0
    for width in net.spec.widths:
        if width == "P":
            side //= 2
            continue
        for branch in "ab":
            name = f"{branch}{index}"
            if not net.frozen(name):
                total += batch * side * side * net.weight(name).shape[1] * 9
        index += 1
    return total
