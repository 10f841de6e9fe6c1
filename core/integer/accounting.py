"""Parameters, MACs and BOPs (MACs × weight bits × activation bits, as in PIC-PQ) of the dual-VGG network."""
from __future__ import annotations

from ..model.dual_vgg import POOL

REFERENCE_TILE = 256  # BOPs are reported for one 256×256 input tile


def layer_shapes(net) -> dict[str, tuple[int, int, int, int]]:
    """(out, in, k, k) of every convolution, as the network holds it now (after any pruning)."""
    return {name: tuple(net.weight(name).shape) for name in net.names() + ["head"]}


def parameter_count(net) -> int:
    return sum(o * i * k * k for o, i, k, _ in layer_shapes(net).values())


def macs(net, size: int = REFERENCE_TILE) -> dict[str, int]:
    """Multiply-accumulates per layer for a size×size input tile."""
    shapes = layer_shapes(net)
    out, side, index = {}, size, 0
    for width in net.spec.widths:
        if width == POOL:
            side //= 2
            continue
        for branch in "ab":
            o, i, k, _ = shapes[f"{branch}{index}"]
            out[f"{branch}{index}"] = side * side * o * i * k * k
        index += 1
    o, i, k, _ = shapes["head"]
    out["head"] = side * side * o * i * k * k
    return out


def bops(net, weight_bits: int, activation_bits: int, size: int = REFERENCE_TILE) -> int:
    return sum(macs(net, size).values()) * weight_bits * activation_bits
