"""Two VGG-style branches (one per image, each with its own band count), fused by |f1 − f2|, and a 1×1 head.

One structure, two arithmetics: `IntDualVGG` runs the all-integer engine, `FloatDualVGG` is the
fp32 autograd twin with the same shapes, so every figure can be compared int8 vs fp32 on the same work.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..integer.conv import IntConv
from ..integer.layers import IntAbsDiff, IntMaxPool, IntReLU
from ..integer.tensor import BlockTensor, quantise

POOL = "P"
INPUT_EXPONENT = -7  # inputs are normalised to [0, 1]: m = round(x·128), the same for every tile


@dataclass(frozen=True)
class Spec:
    """Branch layout as in VGG's first blocks, scaled down for online training on a CPU."""

    widths: tuple = (16, 16, POOL, 32, 32)
    frozen: int = 1  # the lowest convolutions of each branch are not trained

    def convs(self) -> list[int]:
        return [w for w in self.widths if w != POOL]

    @property
    def scale(self) -> int:
        return 2 ** sum(1 for w in self.widths if w == POOL)

    @property
    def context(self) -> int:
        """Receptive-field margin in input pixels: tiles overlap by this much."""
        margin, stride = 0, 1
        for w in self.widths:
            if w == POOL:
                stride *= 2
            else:
                margin += stride
        return margin + stride


def initial_weights(spec: Spec, bands: tuple[int, int], seed: int) -> dict[str, torch.Tensor]:
    """Seeded He-normal fp32 weights for both branches and the head (never fitted on an image pair)."""
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for branch, inputs in (("a", bands[0]), ("b", bands[1])):
        channels = inputs
        for i, width in enumerate(spec.convs()):
            std = (2.0 / (channels * 9)) ** 0.5
            weights[f"{branch}{i}"] = torch.randn((width, channels, 3, 3), generator=generator) * std
            channels = width
    weights["head"] = torch.randn((2, spec.convs()[-1], 1, 1), generator=generator) * (1.0 / spec.convs()[-1]) ** 0.5
    return weights


def quantise_input(x: torch.Tensor) -> BlockTensor:
    """Normalised images (0..1) to int8 with a fixed exponent, so every tile and batch shares one scale."""
    return BlockTensor(torch.round(x.clamp(-1, 1) * 2.0 ** -INPUT_EXPONENT).clamp_(-127, 127).to(torch.int8),
                       INPUT_EXPONENT)


class _Layout:
    """What both arithmetics share: layer names, which are frozen, and how filters are pruned."""

    spec: Spec

    def names(self) -> list[str]:
        return [f"{b}{i}" for b in "ab" for i in range(len(self.spec.convs()))]

    def frozen(self, name: str) -> bool:
        return name != "head" and int(name[1:]) < self.spec.frozen

    def prunable(self) -> list[list[str]]:
        """Groups of layers whose filters are pruned together: each branch layer alone (frozen ones too:
        removing a filter needs no training), the two last layers as a pair (they meet in |f1 − f2|)."""
        last = len(self.spec.convs()) - 1
        groups = [[f"{b}{i}"] for b in "ab" for i in range(last)]
        return groups + [[f"a{last}", f"b{last}"]]

    def consumer(self, name: str) -> str:
        last = len(self.spec.convs()) - 1
        index = int(name[1:])
        return "head" if index == last else f"{name[0]}{index + 1}"


class IntDualVGG(_Layout):
    def __init__(self, spec: Spec, weights: dict[str, torch.Tensor]) -> None:
        self.spec = spec
        self.convs = {name: IntConv(name, quantise(w), self.frozen(name)) for name, w in weights.items()}
        self.fuse = IntAbsDiff()
        self._branch_ops: dict[str, list] = {}

    def _ops(self, branch: str) -> list:
        ops, i = [], 0
        for width in self.spec.widths:
            if width == POOL:
                ops.append(IntMaxPool())
            else:
                ops += [self.convs[f"{branch}{i}"], IntReLU()]
                i += 1
        return ops

    def forward(self, x1: BlockTensor, x2: BlockTensor, train: bool = False) -> BlockTensor:
        features = []
        for branch, x in (("a", x1), ("b", x2)):
            ops = self._ops(branch)
            self._branch_ops[branch] = ops
            for op in ops:
                x = op.forward(x, train)
            features.append(x)
        return self.convs["head"].forward(self.fuse.forward(*features, train), train)

    def backward(self, err: BlockTensor) -> None:
        grads = self.fuse.backward(self.convs["head"].backward(err))
        for branch, grad in zip("ab", grads):
            ops = self._branch_ops[branch]
            first_trained = next(i for i, op in enumerate(ops) if isinstance(op, IntConv) and not op.frozen)
            for index in range(len(ops) - 1, first_trained - 1, -1):
                op = ops[index]
                if isinstance(op, IntConv):
                    grad = op.backward(grad, input_grad=index > first_trained)
                else:
                    grad = op.backward(grad)

    def weight(self, name: str) -> torch.Tensor:
        return self.convs[name].weight.m

    def filter_l1(self, name: str) -> torch.Tensor:
        """Per-filter L1 norm: an integer sum of |mantissa| (one exponent per layer, so comparable)."""
        return self.convs[name].weight.m.to(torch.int64).abs().sum(dim=(1, 2, 3))

    def keep_filters(self, name: str, keep: torch.Tensor) -> None:
        layer, consumer = self.convs[name], self.convs[self.consumer(name)]
        layer.weight.m = layer.weight.m[keep].contiguous()
        if consumer.name == "head" and name.startswith("b"):
            return  # the head's inputs were cut with branch a's identical selection
        consumer.weight.m = consumer.weight.m[:, keep].contiguous()

    def saved_bytes(self) -> int:
        ops = [op for ops in self._branch_ops.values() for op in ops] + [self.convs["head"], self.fuse]
        return sum(op.saved_bytes() for op in ops)

    def state(self) -> dict[str, torch.Tensor]:
        return {name: conv.weight.dequantise() for name, conv in self.convs.items()}


class FloatDualVGG(_Layout, torch.nn.Module):
    def __init__(self, spec: Spec, weights: dict[str, torch.Tensor]) -> None:
        torch.nn.Module.__init__(self)
        self.spec = spec
        self.params = torch.nn.ParameterDict({k: torch.nn.Parameter(v.clone(), requires_grad=not self.frozen(k))
                                              for k, v in weights.items()})

    def _branch(self, branch: str, x: torch.Tensor) -> torch.Tensor:
        i = 0
        for width in self.spec.widths:
            if width == POOL:
                x = F.max_pool2d(x, 2)
            else:
                x = F.relu(F.conv2d(x, self.params[f"{branch}{i}"], padding=1))
                i += 1
        return x

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return F.conv2d((self._branch("a", x1) - self._branch("b", x2)).abs(), self.params["head"])

    def weight(self, name: str) -> torch.Tensor:
        return self.params[name].data

    def filter_l1(self, name: str) -> torch.Tensor:
        return self.params[name].data.abs().sum(dim=(1, 2, 3))

    def keep_filters(self, name: str, keep: torch.Tensor) -> None:
        consumer = self.consumer(name)
        self.params[name] = torch.nn.Parameter(self.params[name].data[keep].clone())
        if consumer == "head" and name.startswith("b"):
            return
        self.params[consumer] = torch.nn.Parameter(self.params[consumer].data[:, keep].clone())


def check_bands(bands: tuple[int, int]) -> None:
    if min(bands) < 1:
        raise InputError(f"Each branch needs at least one band, not {bands}.")
