"""The all-integer engine: exact int8 products, rounding, gradients against fp32 autograd, no float in training."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.integer.conv import IntConv, conv_accumulate
from oaip_qgis.core.integer.loss import cross_entropy_error
from oaip_qgis.core.integer.rounding import round_nearest, round_pseudo_stochastic, round_stochastic
from oaip_qgis.core.integer.sgd import sgd_step
from oaip_qgis.core.integer.tensor import BlockTensor, quantise
from oaip_qgis.core.model.dual_vgg import FloatDualVGG, IntDualVGG, Spec, initial_weights, quantise_input
from oaip_qgis.core.pruning import AdaptivePruner


def rand_int8(*shape, generator=None):
    return torch.randint(-127, 128, shape, dtype=torch.int8, generator=generator)


@pytest.mark.parametrize("n, c, o, h, w, k", [(2, 3, 5, 7, 6, 3), (1, 1, 1, 1, 1, 3), (3, 7, 4, 1, 9, 3),
                                              (2, 5, 3, 4, 4, 1)])
def test_conv_forward_is_exact_against_int64(n, c, o, h, w, k):
    g = torch.Generator().manual_seed(n * 100 + c)
    x, wt = rand_int8(n, c, h, w, generator=g), rand_int8(o, c, k, k, generator=g)
    expected = F.conv2d(x.to(torch.float64), wt.to(torch.float64), padding=k // 2).to(torch.int64)
    assert torch.equal(conv_accumulate(x, wt).to(torch.int64), expected)


def test_conv_backward_accumulations_are_exact():
    g = torch.Generator().manual_seed(1)
    x, wt = rand_int8(2, 3, 5, 6, generator=g), rand_int8(4, 3, 3, 3, generator=g)
    err = rand_int8(2, 4, 5, 6, generator=g)
    layer = IntConv("c", BlockTensor(wt, 0))
    layer.forward(BlockTensor(x, 0), train=True)
    grad_in = layer.backward(BlockTensor(err, 0))
    xd, wd, ed = (t.to(torch.float64).requires_grad_() for t in (x, wt, err))
    F.conv2d(xd, wd, padding=1).mul(ed.detach()).sum().backward()
    assert torch.equal(layer.grad[0].to(torch.int64), wd.grad.to(torch.int64))
    # The error passed down is the exact sum, rounded once to int8.
    exact = xd.grad.to(torch.int64)
    shift = grad_in.e
    assert torch.equal(grad_in.m.to(torch.int64), round_nearest(exact, shift).clamp(-127, 127))


def test_nearest_rounding_ties_go_away_from_zero_for_both_signs():
    values = torch.tensor([6, -6, 5, -5, 7, -7, 2, -2])  # /4: 1.5, -1.5, 1.25, -1.25, 1.75, -1.75, .5, -.5
    assert round_nearest(values, 2).tolist() == [2, -2, 1, -1, 2, -2, 1, -1]


@pytest.mark.parametrize("value", [1234567, -1234567, 77, -77])
def test_stochastic_roundings_are_unbiased(value):
    s = 8
    exact = value / 2**s
    acc = torch.full((20000,), value, dtype=torch.int64)
    stochastic = round_stochastic(acc, s, torch.Generator().manual_seed(0)).double().mean().item()
    assert abs(stochastic - exact) < 0.02
    # Pseudo-stochastic rounding uses the dropped bits themselves: unbiased over a spread of inputs.
    spread = torch.arange(value - 5000, value + 5000, dtype=torch.int64)
    pseudo = round_pseudo_stochastic(spread, s).double().mean().item()
    assert abs(pseudo - spread.double().mean().item() / 2**s) < 0.05


def small_net(seed=0, bands=(3, 1)):
    spec = Spec()
    return spec, initial_weights(spec, bands, seed)


def toy_batch(seed, n=32):
    g = torch.Generator().manual_seed(seed)
    x1, x2 = torch.rand((n, 3, 16, 16), generator=g), torch.rand((n, 1, 16, 16), generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    x2[y == 1] = 1 - x2[y == 1]  # a separable "change": the second image inverted where y = 1
    x2[y == 0] = x1[y == 0].mean(1, keepdim=True)
    return x1, x2, y


def int_step(net, x1, x2, y, mu=3):
    logits = net.forward(quantise_input(x1), quantise_input(x2), train=True)
    err, p = cross_entropy_error(BlockTensor(logits.m[:, :, 2, 2].contiguous(), logits.e), y)
    full = torch.zeros_like(logits.m)
    full[:, :, 2, 2] = err.m
    net.backward(BlockTensor(full, err.e))
    for conv in net.convs.values():
        sgd_step(conv, mu)
    return p


def test_int8_gradients_point_where_fp32_autograd_gradients_point():
    spec, weights = small_net()
    net = IntDualVGG(spec, weights)
    ref = FloatDualVGG(spec, net.state())
    x1, x2, y = toy_batch(0)
    logits = net.forward(quantise_input(x1), quantise_input(x2), train=True)
    err, _ = cross_entropy_error(BlockTensor(logits.m[:, :, 2, 2].contiguous(), logits.e), y)
    full = torch.zeros_like(logits.m)
    full[:, :, 2, 2] = err.m
    net.backward(BlockTensor(full, err.e))
    F.cross_entropy(ref(quantise_input(x1).dequantise(), quantise_input(x2).dequantise())[:, :, 2, 2], y,
                    reduction="sum").backward()
    for name, conv in net.convs.items():
        if conv.frozen:
            continue
        grad, e = conv.grad
        cosine = F.cosine_similarity(grad.double().flatten() * 2.0**e, ref.params[name].grad.double().flatten(), 0)
        # Measured 0.996-0.9998 per layer: int8 rounding of activations and errors costs < 0.5 % of direction.
        assert cosine > 0.98, name


def test_int8_training_learns_a_separable_problem():
    spec, weights = small_net(1)
    net = IntDualVGG(spec, weights)
    x1, x2, y = toy_batch(2, 64)
    accuracy = [((int_step(net, x1, x2, y, mu=1) >= 64).long() == y).double().mean().item() for _ in range(30)]
    # Integer SGD moves in steps of whole mantissa units, so single steps oscillate; the trend must rise.
    assert sum(accuracy[-5:]) / 5 > sum(accuracy[:5]) / 5 + 0.1


class FloatWatcher(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.floats = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, tuple | list) else (out,):
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                self.floats.append(str(func))
        return out


def test_no_float_tensor_is_made_in_an_int8_training_step():
    spec, weights = small_net()
    net = IntDualVGG(spec, weights)
    x1, x2, y = toy_batch(3)
    a, b = quantise_input(x1), quantise_input(x2)  # the input boundary: float allowed before this
    with FloatWatcher() as watcher:
        logits = net.forward(a, b, train=True)
        err, _ = cross_entropy_error(BlockTensor(logits.m[:, :, 2, 2].contiguous(), logits.e), y)
        full = torch.zeros_like(logits.m)
        full[:, :, 2, 2] = err.m
        net.backward(BlockTensor(full, err.e))
        for conv in net.convs.values():
            sgd_step(conv, 3)
    assert watcher.floats == []
    assert all(conv.weight.m.dtype == torch.int8 for conv in net.convs.values())


def test_same_seed_gives_bit_identical_weights():
    results = []
    for _ in range(2):
        spec, weights = small_net(5)
        net = IntDualVGG(spec, weights)
        x1, x2, y = toy_batch(5)
        for _ in range(3):
            int_step(net, x1, x2, y)
        results.append({k: c.weight.m.clone() for k, c in net.convs.items()})
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="do not fit"):
        conv_accumulate(rand_int8(1, 3, 4, 4), rand_int8(2, 4, 3, 3))
    with pytest.raises(InputError, match="empty batch"):
        conv_accumulate(rand_int8(0, 3, 4, 4), rand_int8(2, 3, 3, 3))
    with pytest.raises(InputError, match="out of range"):
        BlockTensor(rand_int8(2, 2), 500)
    with pytest.raises(InputError, match="empty"):
        quantise(torch.empty(0))


def test_pruning_removes_filters_and_the_network_still_runs():
    spec, weights = small_net()
    weights["a1"][:6] *= 0.01  # six weak filters
    for net in (IntDualVGG(spec, weights), FloatDualVGG(spec, weights)):
        before = net.weight("a1").shape[0]
        changes = AdaptivePruner(fraction_pct=30).prune(net, accuracy=0.9)
        assert changes["a1"][1] <= before - 6
        assert net.weight("a1").shape[0] == changes["a1"][1]
        assert net.weight("a2").shape[1] == changes["a1"][1]
        x1, x2, _ = toy_batch(0, 4)
        out = net.forward(quantise_input(x1), quantise_input(x2)) if isinstance(net, IntDualVGG) else net(x1, x2)
        assert tuple((out.m if isinstance(net, IntDualVGG) else out).shape) == (4, 2, 8, 8)
