"""Parameters, MACs, BOPs (MACs × weight bits × activation bits, as in PIC-PQ) and training memory of
the dual-VGG network, per layer, read from the layer shapes the network holds now (after any pruning),
and the figures stats.json reports from them before and after training.

Works on both twins (IntDualVGG, FloatDualVGG): they share names, shapes and `saved_bytes()`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .dual_vgg import POOL

if TYPE_CHECKING:
    from .dual_vgg import FloatDualVGG, IntDualVGG

    DualVGG = IntDualVGG | FloatDualVGG

REFERENCE_TILE = 256  # BOPs are reported for one 256×256 input tile


def layer_shapes(net: DualVGG) -> dict[str, tuple[int, int, int, int]]:
    """(out, in, k, k) of every convolution, branches then head."""
    return {name: tuple(net.weight(name).shape) for name in net.names() + ["head"]}


def _weights_in(shape: tuple[int, int, int, int]) -> int:
    o, i, k, kk = shape
    return o * i * k * kk


def layer_parameters(net: DualVGG) -> dict[str, int]:
    return {name: _weights_in(shape) for name, shape in layer_shapes(net).items()}


def macs(net: DualVGG, size: int | tuple[int, int] = REFERENCE_TILE) -> dict[str, int]:
    """Multiply-accumulates per layer for one input tile of size×size (or (h, w)) pixels."""
    h, w = (size, size) if isinstance(size, int) else size
    shapes = layer_shapes(net)
    out, index = {}, 0
    for width in net.spec.widths:
        if width == POOL:
            h, w = h // 2, w // 2
            continue
        for branch in "ab":
            name = f"{branch}{index}"
            out[name] = h * w * _weights_in(shapes[name])
        index += 1
    out["head"] = h * w * _weights_in(shapes["head"])
    return out


def layer_bops(net: DualVGG, weight_bits: int, activation_bits: int,
               size: int | tuple[int, int] = REFERENCE_TILE) -> dict[str, int]:
    """BOPs per layer for one size×size input tile (the pruning statistics show where they went)."""
    return {name: m * weight_bits * activation_bits for name, m in macs(net, size).items()}


def training_bytes(net: DualVGG, integer: bool) -> dict[str, int]:
    """Bytes a training step holds: weights, the activations the last training forward kept for
    backward (each shared tensor once), and one gradient buffer per trained weight: int32 for int8
    training (int64 only when a batch holds more than SAFE_K pixels), fp32 for float training."""
    params = layer_parameters(net)
    trained = sum(n for name, n in params.items() if not net.frozen(name))
    weights = sum(params.values()) * (1 if integer else 4)
    saved = net.saved_bytes()
    gradients = trained * 4
    return {"weights": weights, "saved_activations": saved, "gradients": gradients,
            "total": weights + saved + gradients}


def held_bytes(net: DualVGG, integer: bool) -> tuple[int, int]:
    """Bytes a training step of `net` holds, and what an fp32 step of the same network would: int8
    weights and activations take one byte an element where fp32 takes four; gradients are 4 bytes in both."""
    held = training_bytes(net, integer)
    scale = 4 if integer else 1
    return held["total"], held["weights"] * scale + held["saved_activations"] * scale + held["gradients"]


@dataclass(frozen=True)
class Costs:
    """The network's size at one moment (before or after pruning): parameters and BOPs per layer, the
    head included, at `bits` for weights and activations, and the filters of each branch layer."""

    bits: int
    layer_params: dict[str, int]
    layer_bops: dict[str, int]
    filters: dict[str, int]

    @property
    def params(self) -> int:
        return sum(self.layer_params.values())

    @property
    def bops(self) -> int:
        return sum(self.layer_bops.values())


def combined(parts: list[Costs]) -> Costs:
    """The costs of networks that all run (a detector's mean of several): parameters, BOPs and filters summed
    per layer."""
    def total(field: str) -> dict[str, int]:
        return {name: sum(getattr(part, field)[name] for part in parts) for name in getattr(parts[0], field)}

    return Costs(parts[0].bits, total("layer_params"), total("layer_bops"), total("filters"))


def costs(net: DualVGG, bits: int) -> Costs:
    return Costs(bits, layer_parameters(net), layer_bops(net, bits, bits),
                 {name: int(net.weight(name).shape[0]) for name in net.names()})


def model_figures(before: Costs, after: Costs) -> dict:
    """stats.json's `model`: size, bits and BOPs before and after training, overall and per layer; the
    compression is against the same network unpruned in fp32."""
    reference_bits = before.params * 32
    return {"params_before": before.params, "params_after": after.params,
            "bits_before": reference_bits, "bits_after": after.params * after.bits,
            "compression_ratio": round(reference_bits / (after.params * after.bits), 3),
            "bops_before": before.bops, "bops_after": after.bops,
            "weight_bits": after.bits, "activation_bits": after.bits,
            "layers": [{"name": n, "params_before": before.layer_params[n], "params_after": after.layer_params[n],
                        "bops_before": before.layer_bops[n], "bops_after": after.layer_bops[n]}
                       for n in before.layer_bops]}


def pruning_figures(before: Costs, after: Costs) -> list[dict]:
    """stats.json's `pruning.layers`: the filters each branch layer had before training and kept."""
    return [{"name": n, "filters_before": before.filters[n], "filters_after": after.filters[n]} for n in after.filters]
