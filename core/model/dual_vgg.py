"""Two VGG-style branches (one per image, each with its own band count), fused by |f1 − f2|, and a 1×1
head giving two logits (unchanged, changed) per location; fully convolutional.

One structure, two arithmetics: `IntDualVGG` runs the all-integer engine, `FloatDualVGG` is the fp32
autograd twin with the same layers, names and shapes, so every figure can be shown int8 vs fp32 on the
same work. Weights move between them with `state()` (dequantised fp32) and the constructors (which
quantise). Layers are named a0, a1, … (branch 1), b0, b1, … (branch 2) and head.

Training API shared by both: frozen_features(x1, x2) once per crop set (the frozen first layers), then
forward_features(f1, f2, train=True) → loss_and_backward(labels) per batch (forward(x1, x2) chains the two,
for inference); the weight updates are the optimisers' (core/integer/adamax.py, core/integer/sgd.py,
model/train.py). After training, `IntDualVGG.fix_shifts` fixes each layer's requantising shift for inference.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..i18n import tr
from ..integer.conv import IntConv
from ..integer.layers import IntAbsDiff, IntMaxPool
from ..integer.loss import IGNORE, cross_entropy_error
from ..integer.tensor import BlockTensor, quantise

POOL = "P"
INPUT_EXPONENT = -7  # inputs normalised to [−1, 1]: m = round(x·128), one scale for every tile and batch
BRANCHES = "ab"


@dataclass(frozen=True)
class Spec:
    """Branch layout as in VGG16's first blocks, scaled down for online training on a CPU: conv widths
    (3×3, ReLU) and POOL markers (2×2 max-pool); the first `frozen` convolutions of each branch are
    not trained."""

    widths: tuple = (16, 16, POOL, 32, 32)
    frozen: int = 1

    def __post_init__(self) -> None:
        convs = [w for w in self.widths if w != POOL]
        if not convs or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in convs):
            raise InputError(tr("Spec widths must be positive ints and '{pool}' markers, with one conv at least: "
                                "{widths!r}.", pool=POOL, widths=self.widths))
        if not 0 <= self.frozen <= len(convs):
            raise InputError(tr("Spec.frozen must be 0…{count}, not {frozen}.", count=len(convs), frozen=self.frozen))

    def convs(self) -> list[int]:
        return [w for w in self.widths if w != POOL]

    @property
    def scale(self) -> int:
        """Input pixels per output location along each side."""
        return 2 ** sum(1 for w in self.widths if w == POOL)

    @property
    def first_trained(self) -> int:
        """Index in `widths` of the first trained convolution (len(widths) when all are frozen): the
        entries before it are the frozen prefix that training runs once over all its crops."""
        convs = [i for i, w in enumerate(self.widths) if w != POOL]
        return convs[self.frozen] if self.frozen < len(convs) else len(self.widths)

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


def quantise_input(x: torch.Tensor) -> BlockTensor:
    """Normalised images (−1…1) to int8 with the fixed exponent −7, so every tile and batch shares one scale."""
    if not x.is_floating_point():
        raise InputError(tr("Images to quantise must be float, not {dtype}.", dtype=x.dtype))
    return BlockTensor(torch.round(x.clamp(-1, 1) * 2.0 ** -INPUT_EXPONENT).clamp_(-127, 127).to(torch.int8),
                       INPUT_EXPONENT)


def _keep_indices(keep: torch.Tensor, size: int, name: str) -> torch.Tensor:
    if not isinstance(keep, torch.Tensor) or keep.dim() != 1 or keep.dtype.is_floating_point \
            or keep.dtype == torch.bool:
        raise InputError(tr("{name}: filters to keep must be a 1-d integer tensor of indices.", name=name))
    keep = torch.unique(keep.long())  # sorted: kept filters stay in their order
    if keep.numel() == 0 or int(keep[0]) < 0 or int(keep[-1]) >= size:
        raise InputError(tr("{name}: keep 1…{size} filters with indices in 0…{last}.",
                            name=name, size=size, last=size - 1))
    return keep


class _Layout:
    """What both arithmetics share: names, frozen layers, input checks, L1 norms and pruning."""

    spec: Spec

    def names(self) -> list[str]:
        """Branch convolutions (a0…, b0…); the head is 'head'."""
        return [f"{b}{i}" for b in BRANCHES for i in range(len(self.spec.convs()))]

    def frozen(self, name: str) -> bool:
        return name != "head" and int(name[1:]) < self.spec.frozen

    @property
    def bands(self) -> tuple[int, int]:
        return self.weight("a0").shape[1], self.weight("b0").shape[1]

    def prunable(self) -> list[list[str]]:
        """Groups pruned together: each branch layer alone (frozen ones too: removing a filter needs no
        training), the two last layers as a pair (they meet in |f1 − f2|, channel by channel)."""
        last = len(self.spec.convs()) - 1
        return [[f"{b}{i}"] for b in BRANCHES for i in range(last)] + [[f"a{last}", f"b{last}"]]

    def consumer(self, name: str) -> str:
        """The layer that reads `name`'s filters as its input channels (the head for the last ones)."""
        last = len(self.spec.convs()) - 1
        index = int(name[1:])
        return "head" if index == last else f"{name[0]}{index + 1}"

    def check_inputs(self, shape1: torch.Size, shape2: torch.Size) -> None:
        """(N, bands, H, W) pairs: same N ≥ 1, H, W divisible by the pooling scale, right band counts."""
        s = self.spec.scale
        for shape, bands, which in ((shape1, self.bands[0], 1), (shape2, self.bands[1], 2)):
            if len(shape) != 4 or shape[1] != bands:
                raise InputError(tr("Image {which} must be (N, {bands} bands, H, W), not {shape}.",
                                    which=which, bands=bands, shape=tuple(shape)))
        if shape1[0] == 0:
            raise InputError(tr("Cannot run the network on an empty batch."))
        if shape1[0] != shape2[0] or shape1[2:] != shape2[2:]:
            raise InputError(tr("The two images differ in batch or size: {shape1} and {shape2}.",
                                shape1=tuple(shape1), shape2=tuple(shape2)))
        if shape1[2] % s or shape1[3] % s or shape1[2] == 0 or shape1[3] == 0:
            raise InputError(tr("Patch sides must be positive multiples of {step}, not {rows}×{cols}.",
                                step=s, rows=shape1[2], cols=shape1[3]))

    def filter_l1(self, name: str) -> torch.Tensor:
        """Per-filter L1 norm (int64 sums of |mantissa| for int8: one exponent per layer keeps them comparable)."""
        w = self.weight(name)
        return (w if w.is_floating_point() else w.to(torch.int64)).abs().sum(dim=(1, 2, 3))

    def prune_layer(self, name: str, keep: torch.Tensor) -> None:
        """Physically remove the filters of `name` not in `keep`, and the matching input channels of the
        layer that reads them. The two last layers feed |f1 − f2| channel by channel: prune both with
        the same indices; the head loses those input channels once their widths agree again."""
        if name not in self.names():
            raise InputError(tr("No prunable layer {name!r}; layers are {names}.", name=name, names=self.names()))
        keep = _keep_indices(keep, self.weight(name).shape[0], name)
        self._set_weight(name, self.weight(name)[keep])
        last = len(self.spec.convs()) - 1
        consumer = self.consumer(name)
        if consumer != "head":
            self._set_weight(consumer, self.weight(consumer)[:, keep])
        elif self.weight(f"a{last}").shape[0] == self.weight(f"b{last}").shape[0] != self.weight("head").shape[1]:
            self._set_weight("head", self.weight("head")[:, keep])

    def weight(self, name: str) -> torch.Tensor:
        raise NotImplementedError

    def _set_weight(self, name: str, value: torch.Tensor) -> None:
        raise NotImplementedError


def _centre_or_map(labels: torch.Tensor, n: int, h: int, w: int) -> tuple[torch.Tensor, bool]:
    """Labels (N,) apply to the centre location (h//2, w//2), (N, h, w) to every location."""
    if tuple(labels.shape) == (n,):
        return labels, True
    if tuple(labels.shape) == (n, h, w):
        return labels, False
    raise InputError(tr("Labels must be (N,) for the patch centres or (N, h, w) per location, here ({n},) or "
                        "({n}, {h}, {w}); not {shape}.", n=n, h=h, w=w, shape=tuple(labels.shape)))


class IntDualVGG(_Layout):
    """The all-integer network. Inputs and logits are BlockTensors laid out (N, C, H, W) as in torch;
    inside, every layer works channels-last. Trained layers keep int8 activations for backward, frozen
    ones nothing; the only tensors made in a training step are integers."""

    def __init__(self, spec: Spec, weights: dict[str, torch.Tensor]) -> None:
        self.spec = spec
        missing = set(self.names() + ["head"]) - set(weights)
        if missing:
            raise InputError(tr("Weights missing for layers {names}.", names=sorted(missing)))
        convs = iter(range(len(spec.convs())))
        self.convs: dict[str, IntConv] = {}
        ops: dict[str, list] = {b: [] for b in BRANCHES}
        for width in spec.widths:
            i = None if width == POOL else next(convs)
            for b in BRANCHES:
                if i is None:
                    ops[b].append(IntMaxPool())
                else:
                    name = f"{b}{i}"
                    self.convs[name] = IntConv(name, quantise(weights[name]), relu=True, frozen=self.frozen(name))
                    ops[b].append(self.convs[name])
        # Each branch's frozen prefix (run once over all training crops) and the trained rest.
        self._frozen_ops = {b: ops[b][:spec.first_trained] for b in BRANCHES}
        self._trained_ops = {b: ops[b][spec.first_trained:] for b in BRANCHES}
        self.convs["head"] = IntConv("head", quantise(weights["head"]), relu=False)
        self.fuse = IntAbsDiff()
        self._logits: BlockTensor | None = None
        self._saved_bytes = 0

    def weight(self, name: str) -> torch.Tensor:
        return self.convs[name].weight.m

    def _set_weight(self, name: str, value: torch.Tensor) -> None:
        self.convs[name].weight = BlockTensor(value.contiguous(), self.convs[name].weight.e)

    def frozen_features(self, x1: BlockTensor, x2: BlockTensor) -> tuple[BlockTensor, BlockTensor]:
        """int8 patches (N, b1, H, W), (N, b2, H, W) → each branch's output of its frozen layers (the ops
        before its first trained conv), channels-last. The training computes them once for all its
        crops: they do not change while the rest trains (only pruning a frozen layer changes them)."""
        if not isinstance(x1, BlockTensor) or not isinstance(x2, BlockTensor):
            raise InputError(tr("The int8 network takes BlockTensors; quantise the images first (quantise_input)."))
        self.check_inputs(x1.m.shape, x2.m.shape)
        features = []
        for branch, x in zip(BRANCHES, (x1.check_range(), x2.check_range())):
            h = BlockTensor(x.m.permute(0, 2, 3, 1).contiguous(), x.e)
            for op in self._frozen_ops[branch]:
                h = op.forward(h)
            features.append(h)
        return features[0], features[1]

    def fix_shifts(self, x1: BlockTensor, x2: BlockTensor) -> dict[str, int]:
        """Fix every layer's requantising shift for inference at the one its output needs over (x1, x2), the
        training crops, and return them by layer. While training each layer's shift follows its output's peak
        (NITI); at inference that would scale each tile by its own peaks. Fixed, a tile's integers are the whole
        image's at any tile size; what lies beyond a layer's range saturates at ±127."""
        shifting = {**self.convs, "fuse": self.fuse}
        for op in shifting.values():
            op.shift = None
        self.forward(x1, x2)
        for op in shifting.values():
            op.shift = op.last_shift
        return {name: op.shift for name, op in shifting.items()}

    def forward_features(self, f1: BlockTensor, f2: BlockTensor, train: bool = False) -> BlockTensor:
        """The rest of the network from frozen_features' output → logits (N, 2, h, w) as an int8 block."""
        if train and self.fuse.shift is not None:
            raise InputError(tr("The network's shifts are fixed for inference; train it before fix_shifts()."))
        features = []
        for branch, h in zip(BRANCHES, (f1, f2)):
            for op in self._trained_ops[branch]:
                h = op.forward(h, train)
            features.append(h)
        logits = self.convs["head"].forward(self.fuse.forward(*features, train), train)
        if train:
            self._logits = logits
            self._saved_bytes = _unique_bytes(self._saved_tensors())
        return BlockTensor(logits.m.permute(0, 3, 1, 2), logits.e)

    def forward(self, x1: BlockTensor, x2: BlockTensor, train: bool = False) -> BlockTensor:
        """int8 patches (N, b1, H, W), (N, b2, H, W) → logits (N, 2, H/scale, W/scale) as an int8 block."""
        return self.forward_features(*self.frozen_features(x1, x2), train)

    def backward(self, err: BlockTensor) -> None:
        """Error on the logits (N, 2, h, w) → int32 weight gradients on every trained layer."""
        self._logits = None
        g = BlockTensor(err.m.permute(0, 2, 3, 1).contiguous(), err.e)
        g = self.convs["head"].backward(g, input_error=any(self._trained_ops.values()))
        if g is None:
            return
        for branch, grad in zip(BRANCHES, self.fuse.backward(g)):
            ops = self._trained_ops[branch]
            for i in range(len(ops) - 1, -1, -1):   # the first trained conv needs no input error
                op = ops[i]
                grad = op.backward(grad, input_error=i > 0) if isinstance(op, IntConv) else op.backward(grad)

    def loss_and_backward(self, labels: torch.Tensor) -> torch.Tensor:
        """Integer cross-entropy on the last training forward's logits, then backward.

        labels: (N,) for the patch centres or (N, h, w) per location; 0 unchanged, 1 changed, −1 ignored.
        Returns 128·P(changed) at the label positions, (N,) or (N, h, w) (int64: no float in training).
        """
        if self._logits is None:
            raise InputError(tr("loss_and_backward() needs forward(..., train=True) first."))
        m = self._logits.m  # (N, h, w, 2)
        n, h, w, _ = m.shape
        labels, centre = _centre_or_map(labels, n, h, w)
        if centre:
            err, p = cross_entropy_error(BlockTensor(m[:, h // 2, w // 2].contiguous(), self._logits.e), labels)
            full = torch.zeros_like(m)
            full[:, h // 2, w // 2] = err.m
            err = BlockTensor(full.permute(0, 3, 1, 2), err.e)
        else:
            err, p = cross_entropy_error(BlockTensor(m.permute(0, 3, 1, 2), self._logits.e), labels)
        self.backward(err)
        return p

    def change_probability(self, x1: BlockTensor, x2: BlockTensor) -> torch.Tensor:
        """P(changed) (N, h, w) in 0…1: the two-class softmax is the logistic of the logits' integer
        difference, turned to float as the last step (the integer softmax of training, quantised to
        2^−11, took a third of a native-resolution forward pass)."""
        logits = self.forward(x1, x2)
        difference = logits.m[:, 1].to(torch.int16) - logits.m[:, 0].to(torch.int16)
        return torch.sigmoid(difference.float() * 2.0 ** logits.e)

    def _saved_tensors(self) -> list[torch.Tensor]:
        ops = [op for b in BRANCHES for op in self._frozen_ops[b] + self._trained_ops[b]]
        ops += [self.fuse, self.convs["head"]]
        return [t for op in ops for t in op.saved()]

    def saved_bytes(self) -> int:
        """Bytes of activations the last training forward kept for backward (shared tensors once)."""
        return self._saved_bytes

    def state(self) -> dict[str, torch.Tensor]:
        """Dequantised fp32 weights: FloatDualVGG(spec, net.state()) is the float twin."""
        return {name: conv.weight.dequantise() for name, conv in self.convs.items()}


def _unique_bytes(tensors) -> int:
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


class FloatDualVGG(_Layout, torch.nn.Module):
    """The fp32 twin: the same layers with torch autograd (F.conv2d, ReLU, max-pool, |f1 − f2|, 1×1 head)."""

    def __init__(self, spec: Spec, weights: dict[str, torch.Tensor]) -> None:
        torch.nn.Module.__init__(self)
        self.spec = spec
        missing = set(self.names() + ["head"]) - set(weights)
        if missing:
            raise InputError(tr("Weights missing for layers {names}.", names=sorted(missing)))
        self.params = torch.nn.ParameterDict({k: torch.nn.Parameter(v.detach().float().clone(),
                                                                    requires_grad=not self.frozen(k))
                                              for k, v in weights.items()})
        self._logits: torch.Tensor | None = None
        self._saved_bytes = 0

    def weight(self, name: str) -> torch.Tensor:
        return self.params[name].data

    def _set_weight(self, name: str, value: torch.Tensor) -> None:
        self.params[name] = torch.nn.Parameter(value.clone(), requires_grad=not self.frozen(name))

    def _branch(self, branch: str, x: torch.Tensor, frozen: bool) -> torch.Tensor:
        """The branch's frozen prefix (the widths before Spec.first_trained) or the rest after it."""
        split = self.spec.first_trained
        start, widths = (0, self.spec.widths[:split]) if frozen else (split, self.spec.widths[split:])
        i = sum(1 for w in self.spec.widths[:start] if w != POOL)   # index of the next convolution
        for width in widths:
            if width == POOL:
                x = F.max_pool2d(x, 2)
            else:
                x = F.relu(F.conv2d(x, self.params[f"{branch}{i}"], padding=1))
                i += 1
        return x

    def frozen_features(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As IntDualVGG.frozen_features, in fp32 and (N, C, H, W)."""
        self.check_inputs(x1.shape, x2.shape)
        with torch.no_grad():
            return self._branch("a", x1, True), self._branch("b", x2, True)

    def forward_features(self, f1: torch.Tensor, f2: torch.Tensor, train: bool = False) -> torch.Tensor:
        """The rest of the network from frozen_features' output → logits (N, 2, h, w)."""
        if not train:
            with torch.no_grad():
                return F.conv2d((self._branch("a", f1, False) - self._branch("b", f2, False)).abs(),
                                self.params["head"])
        params = {p.untyped_storage().data_ptr() for p in self.parameters()}
        saved: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            ptr = t.untyped_storage().data_ptr()
            if ptr not in params:
                saved[ptr] = t.untyped_storage().nbytes()
            return t

        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            logits = F.conv2d((self._branch("a", f1, False) - self._branch("b", f2, False)).abs(),
                              self.params["head"])
        self._logits, self._saved_bytes = logits, sum(saved.values())
        return logits

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, train: bool = False) -> torch.Tensor:
        """Float patches (N, b1, H, W), (N, b2, H, W) → logits (N, 2, H/scale, W/scale)."""
        return self.forward_features(*self.frozen_features(x1, x2), train)

    def loss_and_backward(self, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the labelled positions (same label rules as the int8 net), then
        autograd; returns P(changed) at the label positions (float)."""
        if self._logits is None:
            raise InputError(tr("loss_and_backward() needs forward(..., train=True) first."))
        logits, self._logits = self._logits, None
        n, _, h, w = logits.shape
        labels, centre = _centre_or_map(labels, n, h, w)
        if centre:
            logits = logits[:, :, h // 2, w // 2]
        if labels.numel() == 0 or not (labels != IGNORE).any():
            raise InputError(tr("Cannot compute a loss without labelled positions."))
        loss = F.cross_entropy(logits, labels.long(), ignore_index=IGNORE)
        self.zero_grad(set_to_none=True)
        loss.backward()
        return torch.softmax(logits.detach(), dim=1)[:, 1]

    def change_probability(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.softmax(self.forward(x1, x2), dim=1)[:, 1]

    def saved_bytes(self) -> int:
        return self._saved_bytes

    def state(self) -> dict[str, torch.Tensor]:
        return {name: p.detach().clone() for name, p in self.params.items()}
