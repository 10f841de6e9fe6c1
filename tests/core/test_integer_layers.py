"""Integer layers: int8 products exact against int64 arithmetic, backward exact, pool and loss as defined."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from oaip_qgis.core.errors import InputError
from oaip_qgis.core.integer import conv
from oaip_qgis.core.integer.conv import SAFE_K, IntConv, conv_accumulate, im2col, int_matmul
from oaip_qgis.core.integer.layers import IntAbsDiff, IntMaxPool
from oaip_qgis.core.integer.loss import cross_entropy_error, softmax_q11
from oaip_qgis.core.integer.rounding import round_nearest
from oaip_qgis.core.integer.tensor import BlockTensor


def rand_int8(*shape, generator, low=-127):
    return torch.randint(low, 128, shape, dtype=torch.int8, generator=generator)


def conv_int64(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Reference: x (N, H, W, C), w (O, C, k, k) in int64, one tap at a time, zero padding k // 2."""
    k = w.shape[2]
    n, h, wd, _ = x.shape
    padded = F.pad(x.to(torch.int64), (0, 0, k // 2, k // 2, k // 2, k // 2))
    out = torch.zeros((n, h, wd, w.shape[0]), dtype=torch.int64)
    for ky in range(k):
        for kx in range(k):
            out += torch.einsum("nhwc,oc->nhwo", padded[:, ky:ky + h, kx:kx + wd], w[:, :, ky, kx].to(torch.int64))
    return out


SHAPES = [(2, 5, 7, 3, 4, 3), (1, 1, 1, 1, 1, 3), (3, 1, 9, 7, 5, 3), (2, 6, 1, 2, 3, 3),
          (2, 4, 4, 5, 3, 1), (1, 6, 5, 17, 9, 3), (2, 3, 3, 4, 2, 5)]   # (n, h, w, c, o, k)


@pytest.mark.parametrize("chunk", [None, 5])
@pytest.mark.parametrize("n, h, w, c, o, k", SHAPES)
def test_conv_forward_is_bit_exact_against_int64(n, h, w, c, o, k, chunk, monkeypatch):
    if chunk:
        monkeypatch.setattr(conv, "CHUNK_ROWS", chunk)
    g = torch.Generator().manual_seed(n * 1000 + h * 100 + c)
    x, wt = rand_int8(n, h, w, c, generator=g), rand_int8(o, c, k, k, generator=g)
    acc = conv_accumulate(x, wt)
    assert acc.dtype == torch.int32
    assert torch.equal(acc.to(torch.int64), conv_int64(x, wt))


def test_int_matmul_is_exact_at_the_int32_limit_and_splits_beyond_it():
    a = torch.full((3, SAFE_K), -127, dtype=torch.int8)
    b = torch.full((SAFE_K, 2), 127, dtype=torch.int8)
    assert int_matmul(a, b).tolist() == [[-SAFE_K * 127 * 127] * 2] * 3        # just inside int32
    long_a = torch.full((2, SAFE_K + 9), 127, dtype=torch.int8)
    long_b = torch.full((SAFE_K + 9, 1), 127, dtype=torch.int8)
    out = int_matmul(long_a, long_b)
    assert out.dtype == torch.int64 and out[0, 0].item() == (SAFE_K + 9) * 127 * 127 > 2**31


def test_int_matmul_accepts_only_what_it_computes_right():
    g = torch.Generator().manual_seed(0)
    flat = rand_int8(200, generator=g)
    windows = flat.unfold(0, 12, 4)          # overlapping rows: _int_mm alone would read them wrongly
    b = rand_int8(12, 3, generator=g)
    assert torch.equal(int_matmul(windows, b).to(torch.int64), windows.to(torch.int64) @ b.to(torch.int64))
    with pytest.raises(InputError, match="do not fit"):
        int_matmul(windows, rand_int8(5, 3, generator=g))


def test_im2col_columns_are_the_padded_windows():
    x = torch.arange(2 * 3 * 4 * 2, dtype=torch.int8).view(2, 3, 4, 2)
    cols = im2col(x, 3).view(2, 3, 4, 3, 3, 2)
    padded = F.pad(x, (0, 0, 1, 1, 1, 1))
    for y, xx in ((0, 0), (1, 2), (2, 3)):
        assert torch.equal(cols[:, y, xx], padded[:, y:y + 3, xx:xx + 3])


@pytest.mark.parametrize("relu, chunk, safe_k", [(True, None, None), (False, None, None), (True, 7, None),
                                                 (False, 13, None), (True, 7, 20)])
def test_conv_backward_sums_are_exact(relu, chunk, safe_k, monkeypatch):
    if chunk:   # im2col built a few rows at a time, as for large batches
        monkeypatch.setattr(conv, "CHUNK_ROWS", chunk)
    if safe_k:  # more pixels than an int32 sum may hold: the weight gradient is summed in int64
        monkeypatch.setattr(conv, "SAFE_K", safe_k)
    g = torch.Generator().manual_seed(3)
    x, wt = rand_int8(2, 5, 6, 3, generator=g), rand_int8(4, 3, 3, 3, generator=g)
    err = rand_int8(2, 5, 6, 4, generator=g)
    layer = IntConv("c", BlockTensor(wt, -3), relu=relu)
    out = layer.forward(BlockTensor(x, -7), keep=True)
    back = layer.backward(BlockTensor(err, -5))
    # float64 autograd is exact here: every sum is an integer below 2^53.
    xd, wd = x.permute(0, 3, 1, 2).double().requires_grad_(), wt.double().requires_grad_()
    e = err.permute(0, 3, 1, 2).double()
    if relu:
        e = e * (out.m.permute(0, 3, 1, 2) > 0)
    F.conv2d(xd, wd, padding=1).backward(e)
    grad, grad_e = layer.grad
    assert grad_e == -7 + -5 and grad.dtype == (torch.int64 if safe_k else torch.int32)
    assert torch.equal(grad.to(torch.int64), wd.grad.to(torch.int64))
    exact = xd.grad.to(torch.int64).permute(0, 2, 3, 1)
    s = back.e - (-5 - 3)
    assert torch.equal(back.m.to(torch.int64), round_nearest(exact, s).clamp(-127, 127))
    assert layer.saved() == []                      # released after backward


def test_a_frozen_conv_keeps_nothing_and_has_no_backward():
    g = torch.Generator().manual_seed(4)
    layer = IntConv("f", BlockTensor(rand_int8(4, 3, 3, 3, generator=g), -8), relu=True, frozen=True)
    layer.forward(BlockTensor(rand_int8(2, 4, 4, 3, generator=g), -7), keep=True)
    assert layer.saved() == []
    with pytest.raises(InputError, match="training forward"):
        layer.backward(BlockTensor(rand_int8(2, 4, 4, 4, generator=g), -7))


def test_bad_convolution_shapes_are_refused():
    g = torch.Generator().manual_seed(5)
    with pytest.raises(InputError, match="do not fit"):
        conv_accumulate(rand_int8(1, 4, 4, 3, generator=g), rand_int8(2, 4, 3, 3, generator=g))
    with pytest.raises(InputError, match="do not fit"):
        conv_accumulate(rand_int8(1, 4, 4, 3, generator=g), rand_int8(2, 3, 2, 2, generator=g))
    with pytest.raises(InputError, match="empty batch"):
        conv_accumulate(rand_int8(0, 4, 4, 3, generator=g), rand_int8(2, 3, 3, 3, generator=g))


def test_max_pool_matches_float_max_pool_forward_and_backward_with_ties():
    g = torch.Generator().manual_seed(6)
    x = torch.randint(0, 4, (3, 6, 8, 5), dtype=torch.int8, generator=g)   # values 0–3: ties everywhere
    err = rand_int8(3, 3, 4, 5, generator=g)
    pool = IntMaxPool()
    out = pool.forward(BlockTensor(x, -2), keep=True)
    back = pool.backward(BlockTensor(err, -4))
    xd = x.permute(0, 3, 1, 2).double().requires_grad_()
    ref = F.max_pool2d(xd, 2)
    ref.backward(err.permute(0, 3, 1, 2).double())
    assert out.e == -2 and back.e == -4
    assert torch.equal(out.m.permute(0, 3, 1, 2).double(), ref.detach())
    assert torch.equal(back.m.permute(0, 3, 1, 2).double(), xd.grad)   # each error to the first maximum only
    with pytest.raises(InputError, match="even"):
        IntMaxPool().forward(BlockTensor(x[:, :5], 0))


def test_absolute_difference_aligns_exponents_and_sends_signed_errors():
    a = BlockTensor(torch.tensor([[100, 8, 3, 64]], dtype=torch.int8), -6)   # 1.5625, .125, .046875, 1
    b = BlockTensor(torch.tensor([[50, 32, 2, 64]], dtype=torch.int8), -5)   # 1.5625, 1, .0625, 2
    fuse = IntAbsDiff()
    out = fuse.forward(a, b, keep=True)
    assert (out.dequantise() - (a.dequantise() - b.dequantise()).abs()).abs().max() <= 2.0 ** out.e
    ga, gb = fuse.backward(BlockTensor(torch.tensor([[10, 10, 10, 10]], dtype=torch.int8), -3))
    # .046875 and .0625 are one step of the coarser block apart: aligned they round equal, so no error.
    assert ga.m.tolist() == [[0, -10, 0, -10]] and gb.m.tolist() == [[0, 10, 0, 10]] and ga.e == -3


@pytest.mark.parametrize("e", [-10, -6, -3, 0, 4])
def test_integer_softmax_is_within_a_probability_step_of_float(e):
    g = torch.Generator().manual_seed(7)
    m = rand_int8(500, 2, generator=g)
    p = softmax_q11(BlockTensor(m, e))
    exact = torch.softmax(m.double() * 2.0 ** e, dim=1)
    assert p.dtype == torch.int64 and (p.sum(1) - 2**11).abs().max() <= 1
    assert (p.double() / 2**11 - exact).abs().max() < 2.0 ** -10    # table and division: ≤ 1 step of 2^−11 + ε


def test_cross_entropy_error_is_softmax_minus_onehot_in_sevenths_and_ignores_unlabelled():
    g = torch.Generator().manual_seed(8)
    logits = BlockTensor(rand_int8(4, 2, 3, 3, generator=g), -5)
    target = torch.randint(-1, 2, (4, 3, 3), generator=g)
    err, p128 = cross_entropy_error(logits, target)
    onehot = F.one_hot(target.clamp(min=0), 2).permute(0, 3, 1, 2)
    exact = torch.softmax(logits.dequantise(torch.float64), dim=1) - onehot
    exact = exact * (target >= 0).unsqueeze(1)
    assert err.e == -7 and err.m.dtype == torch.int8 and err.m.shape == logits.m.shape
    assert (err.dequantise(torch.float64) - exact).abs().max() <= 2.0 ** -7   # one int8 step
    assert (p128.double() / 128 - torch.softmax(logits.dequantise(torch.float64), 1)[:, 1]).abs().max() <= 1 / 128


@pytest.mark.parametrize("target, message", [
    (torch.zeros(4, 3), "shaped"), (torch.full((4, 3, 3), 2), "0…1"), (torch.zeros(4, 3, 3), "integers")])
def test_bad_targets_are_refused(target, message):
    logits = BlockTensor(torch.zeros(4, 2, 3, 3, dtype=torch.int8), 0)
    with pytest.raises(InputError, match=message):
        cross_entropy_error(logits, target)


def test_the_softmax_floor_does_not_overflow_at_extreme_exponents():
    m = torch.tensor([[127, -127], [-127, 127], [0, 0]], dtype=torch.int8)
    for e in (-96, 20, 96):
        p = softmax_q11(BlockTensor(m, e))
        exact = torch.softmax(m.double() * 2.0 ** e, dim=1)
        assert (p.double() / 2**11 - exact).abs().max() < 2.0 ** -10, e
    assert math.isclose(2**11, softmax_q11(BlockTensor(m, 0)).sum(1)[2].item(), abs_tol=1)
