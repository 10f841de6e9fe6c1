"""Block tensors and rounding: the exponent rule, nearest ties, unbiased (pseudo-)stochastic shifts."""
from __future__ import annotations

import pytest
import torch

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.integer.rounding import (
    GOLDEN,
    counter_draws,
    requantise,
    round_nearest,
    round_pseudo_stochastic,
    round_stochastic,
    round_stochastic_counter,
    shift_for,
    splitmix,
)
from oaip_qgis.core.integer.tensor import MAX_EXPONENT, BlockTensor, quantise


def test_quantise_follows_the_exponent_rule_and_round_trips_within_half_a_step():
    x = torch.linspace(-3.0, 2.5, 101)                     # max |x| = 3: e = ceil(log2 3) − 7 = −5
    q = quantise(x)
    assert q.e == -5 and q.m.dtype == torch.int8
    assert (q.dequantise() - x).abs().max() <= 2.0 ** -5 / 2
    assert quantise(torch.tensor([4.0, -1.0])).e == 2 - 7  # an exact power of two: ceil(log2 4) = 2
    assert quantise(torch.tensor([4.0])).m.item() == 127   # 128 does not fit: clamped


@pytest.mark.parametrize("bad, message", [
    (lambda: BlockTensor(torch.zeros(3, dtype=torch.int16), 0), "int8"),
    (lambda: BlockTensor(torch.zeros(3, dtype=torch.int8), MAX_EXPONENT + 1), "out of range"),
    (lambda: BlockTensor(torch.zeros(3, dtype=torch.int8), 1.5), "out of range"),
    (lambda: BlockTensor(torch.full((3,), -128, dtype=torch.int8), 0).check_range(), "−128"),
    (lambda: quantise(torch.empty(0)), "empty"),
    (lambda: quantise(torch.tensor([1.0, float("nan")])), "NaN"),
    (lambda: quantise(torch.tensor([2.0 ** 120])), "outside"),
    (lambda: quantise(torch.tensor([1, 2])), "float"),
])
def test_bad_block_tensors_are_refused(bad, message):
    with pytest.raises(InputError, match=message):
        bad()


def test_nearest_rounding_is_floor_of_x_plus_a_half_for_both_signs():
    values = torch.tensor([6, -6, 5, -5, 7, -7, 2, -2, -3], dtype=torch.int32)  # /4
    expected = [2, -1, 1, -1, 2, -2, 1, 0, -1]   # 1.5, −1.5, 1.25, −1.25, 1.75, −1.75, .5, −.5, −.75
    assert round_nearest(values, 2).tolist() == expected
    wide = torch.randint(-2**30, 2**30, (1000,), generator=torch.Generator().manual_seed(0))
    exact = torch.floor(wide.double() / 2**9 + 0.5)
    assert torch.equal(round_nearest(wide, 9).double(), exact)


@pytest.mark.parametrize("centre", [10**6, -(10**6), 300, -300])
def test_pseudo_stochastic_rounding_is_unbiased_over_a_spread_of_inputs(centre):
    for s in (4, 7, 8, 11):
        spread = torch.arange(centre - 4096, centre + 4096, dtype=torch.int64)
        error = (round_pseudo_stochastic(spread, s).double() - spread.double() / 2**s).mean().item()
        # Analytically 2^−(s+1) (module docstring); floor would be −0.5, NITI's sign trick −1 for negatives.
        assert abs(error) <= 2.0 ** -(s + 1) + 1e-9, (s, error)
        assert (round_pseudo_stochastic(spread, s) - (spread >> s)).abs().max() <= 1


@pytest.mark.parametrize("counter", [False, True])
@pytest.mark.parametrize("value", [1234567, -1234567, 77, -77, 3, -3])
def test_stochastic_rounding_is_unbiased_for_one_value(value, counter):
    s = 8
    acc = torch.full((40000,), value, dtype=torch.int64)
    draws = round_stochastic_counter(acc, s, splitmix(1)) if counter else \
        round_stochastic(acc, s, torch.Generator().manual_seed(1))
    exact = value / 2**s
    assert set(draws.tolist()) <= {value >> s, (value >> s) + 1}
    # Binomial standard error of the mean ≤ 0.5 / sqrt(40000) = 0.0025; 4 of them.
    assert abs(draws.double().mean().item() - exact) < 0.01


def test_counter_draws_are_splitmix64_and_uniform():
    key = splitmix(2024)
    for s in (1, 9, 62):   # the top s bits of SplitMix64's outputs, computed here with Python's exact ints
        assert counter_draws(key, 300, s).tolist() == [splitmix(key + (i + 1) * GOLDEN) >> (64 - s) for i in range(300)]
    counts = torch.bincount(counter_draws(key, 2**16, 4), minlength=16).double()
    assert counts.min() > 3900 and counts.max() < 4300     # 4096 each; binomial sd 62
    assert not torch.equal(counter_draws(key, 100, 8), counter_draws(splitmix(2025), 100, 8))


def test_stochastic_rounding_is_reproducible_with_a_seed():
    acc = torch.arange(-5000, 5000, dtype=torch.int64)
    a = round_stochastic(acc, 5, torch.Generator().manual_seed(7))
    b = round_stochastic(acc, 5, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_the_shift_brings_the_peak_into_seven_bits_without_clipping():
    assert shift_for(127) == 0 and shift_for(128) == 1 and shift_for(0) == 0
    assert shift_for(255) == 2        # NITI's bits − 7 = 1 would round 255/2 up to 128
    acc = torch.tensor([[-70000, 65535, 3, 0]], dtype=torch.int32)
    m, e = requantise(acc.clone(), e=-10)
    assert e == -10 + shift_for(70000) and m.dtype == torch.int8
    assert torch.equal(m.to(torch.int64), round_nearest(acc, e + 10).to(torch.int64))
    assert m.tolist() == [[-68, 64, 0, 0]] and e == 0           # 70000 needs 17 bits: s = 10
    relu, e_relu = requantise(acc.clone(), e=0, relu=True)   # the shift follows the kept (positive) range
    assert e_relu == 10 and relu.tolist() == [[0, 64, 0, 0]]  # 65535 / 2^9 would round to 128
