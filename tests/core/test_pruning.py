"""Adaptive L1 filter pruning: filters are physically removed, the network still runs, the rate adapts."""
from __future__ import annotations

import pytest
import torch

from oaip_qgis.core.model.dual_vgg import FloatDualVGG, IntDualVGG, Spec, quantise_input
from oaip_qgis.core.model.init_weights import initial_weights
from oaip_qgis.core.model.pruning import AdaptivePruner

SPEC = Spec()
BANDS = (1, 3)


def networks():
    weights = initial_weights(SPEC, BANDS, seed=0)
    return {"int8": IntDualVGG(SPEC, weights), "fp32": FloatDualVGG(SPEC, weights)}


def forward(net, mode):
    x1, x2 = torch.rand(2, BANDS[0], 16, 16), torch.rand(2, BANDS[1], 16, 16)
    if mode == "int8":
        return net.forward(quantise_input(x1), quantise_input(x2)).m
    with torch.no_grad():
        return net(x1, x2)


@pytest.mark.parametrize("mode", ["int8", "fp32"])
def test_pruned_layers_lose_filters_and_the_network_still_runs(mode):
    net = networks()[mode]
    before = {name: net.weight(name).shape for name in net.names()}
    pruner = AdaptivePruner(rate=0.5)
    changes = pruner.prune(net, accuracy=0.9)
    assert any(after < b for b, after in changes.values())
    for name, (b, after) in changes.items():
        assert net.weight(name).shape[0] == after == net.weight(net.consumer(name)).shape[1]
        assert after >= b * (1 - pruner.cap) and after >= pruner.min_filters
    pruned = [name for name in net.names() if net.weight(name).shape[0] < before[name][0]]
    assert pruned
    out = forward(net, mode)
    assert out.shape == (2, 2, 8, 8)


def test_the_weakest_filters_go_first():
    net = networks()["fp32"]
    w = net.weight("a1")
    w[3] *= 0.01                       # a filter with a tiny L1 norm
    keep = AdaptivePruner(rate=0.1).keep([net.filter_l1("a1")], w.shape[0])
    assert 3 not in keep.tolist() and len(keep) == w.shape[0] - 1


def test_paired_last_layers_are_cut_alike_so_their_difference_still_fits():
    net = networks()["int8"]
    AdaptivePruner(rate=0.5).prune(net, accuracy=0.9)
    last = len(SPEC.convs()) - 1
    assert net.weight(f"a{last}").shape[0] == net.weight(f"b{last}").shape[0] == net.weight("head").shape[1]


def test_the_rate_rises_while_accuracy_holds_and_falls_when_it_drops():
    pruner = AdaptivePruner(rate=0.2, step=0.1)
    pruner.adapt(0.90)
    assert pruner.rate == pytest.approx(0.2)   # the first point only records the accuracy
    pruner.adapt(0.89)                         # within the tolerance: holds
    assert pruner.rate == pytest.approx(0.3)
    pruner.adapt(0.80)
    assert pruner.rate == pytest.approx(0.15)


def test_no_layer_loses_more_than_its_cap_over_several_points():
    net = networks()["int8"]
    pruner = AdaptivePruner(rate=0.9, max_rate=0.9, cap=0.25)
    original = {name: net.weight(name).shape[0] for name in net.names()}
    for _ in range(4):
        pruner.prune(net, accuracy=1.0)
    for name in net.names():
        assert net.weight(name).shape[0] >= original[name] * 0.75


def test_switched_off_pruning_changes_nothing():
    net = networks()["int8"]
    shapes = {name: net.weight(name).shape for name in net.names()}
    assert AdaptivePruner(rate=0.5, enabled=False).prune(net, accuracy=1.0) == {}
    assert {name: net.weight(name).shape for name in net.names()} == shapes
