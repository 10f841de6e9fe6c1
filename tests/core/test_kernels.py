"""The compiled kernels (core/integer/kernels.c) give the torch ops' integers, bit for bit."""
from __future__ import annotations

import pytest
import torch

from oaip_qgis.core.integer import conv, kernels
from oaip_qgis.core.integer.adamax import IntAdaMax
from oaip_qgis.core.integer.conv import im2col, im2col_chunks
from oaip_qgis.core.integer.layers import IntAbsDiff, IntMaxPool
from oaip_qgis.core.integer.loss import cross_entropy_error
from oaip_qgis.core.integer.rounding import requantise
from oaip_qgis.core.integer.tensor import BlockTensor
from oaip_qgis.core.model.dual_vgg import IntDualVGG, Spec, quantise_input
from oaip_qgis.core.model.init_weights import initial_weights
from oaip_qgis.core.model.train import _IntRunner

pytestmark = pytest.mark.skipif(not kernels.built(), reason="the compiled kernels are not built (make setup)")


def test_make_setup_builds_the_kernels():
    """`make test` runs after `make setup`, which compiles them: a missing library is a failed build."""
    assert kernels.built() and kernels.active()
    assert kernels.usable(torch.zeros(4, 3, dtype=torch.int8))
    assert not kernels.usable(torch.zeros(4, 3, dtype=torch.int8).t())          # strided: torch ops
    assert not kernels.usable(torch.zeros(4, dtype=torch.int8, device="meta"))  # not in CPU memory
    with kernels.disabled():
        assert not kernels.active()
    assert kernels.active()


def test_a_library_built_from_other_source_is_not_loaded(tmp_path):
    """After a pull that changes kernels.c, the old library's signatures may not match: never call it."""
    assert kernels._load() is not None
    edited = tmp_path / "kernels.c"
    edited.write_bytes(kernels.SOURCE.read_bytes() + b"\n/* changed */\n")
    assert kernels._load(source=edited) is None
    assert kernels._load(library=tmp_path / "missing.so") is None


def both(fn):
    """fn() with the compiled kernels, then with torch ops only."""
    fast = fn()
    with kernels.disabled():
        return fast, fn()


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("magnitude", [0, 100, 127, 128, 5000, 2**24, 2**31 - 1])
def test_requantise_matches_torch(relu, magnitude):
    g = torch.Generator().manual_seed(magnitude % 1000)
    acc = torch.randint(-magnitude, magnitude + 1, (37, 19), dtype=torch.int32, generator=g)
    acc[0, 0] = magnitude          # the peak itself, where the rounding can carry into bit 8
    fast, ref = both(lambda: requantise(acc.clone(), 3, relu))
    assert fast[1] == ref[1] and torch.equal(fast[0], ref[0])
    assert fast[0].dtype == torch.int8 and int(fast[0].min()) >= (0 if relu else -127)


@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("shift", [0, 1, 7, 24, 25])   # 25: past the int32 path's cap
def test_requantise_at_a_fixed_shift_matches_torch_and_saturates(relu, shift):
    g = torch.Generator().manual_seed(shift)
    acc = torch.randint(-2**31 + 1, 2**31 - 1, (41, 13), dtype=torch.int32, generator=g)
    acc[0, :2] = torch.tensor([2**31 - 1, -2**31], dtype=torch.int32)
    with_bounds = torch.tensor([min(0, int(acc.min())), max(0, int(acc.max()))], dtype=torch.int32)
    fast, ref = both(lambda: requantise(acc.clone(), 3, relu, shift=shift))
    assert fast[1] == ref[1] == 3 + shift and torch.equal(fast[0], ref[0])
    assert torch.equal(kernels.requantise_i32(acc, relu, with_bounds, shift)[0], fast[0])   # bounds then unused
    half = (1 << shift) >> 1
    exact = [min(127, max(0 if relu else -127, (v + half) >> shift)) for v in acc.flatten().tolist()]
    assert fast[0].flatten().tolist() == exact and (127 in exact) == (shift <= 24)   # nearest, saturating


@pytest.mark.parametrize("shape", [(2, 6, 8, 3), (4, 16, 16, 16), (1, 2, 2, 1)])
def test_max_pool_forward_and_backward_match_torch(shape):
    g = torch.Generator().manual_seed(1)
    x = torch.randint(-2, 3, shape, dtype=torch.int8, generator=g)   # many ties: first maximum wins
    err = torch.randint(-127, 128, (shape[0], shape[1] // 2, shape[2] // 2, shape[3]), dtype=torch.int8, generator=g)

    def run():
        pool = IntMaxPool()
        out = pool.forward(BlockTensor(x, -3), keep=True)
        return out.m, pool.backward(BlockTensor(err, -5)).m

    fast, ref = both(run)
    assert torch.equal(fast[0], ref[0]) and torch.equal(fast[1], ref[1])
    assert int((fast[1] != 0).sum()) <= int((err != 0).sum())    # one place per window at most


@pytest.mark.parametrize("shape, rows", [((2, 5, 7, 8), None), ((3, 9, 4, 16), 10), ((1, 1, 1, 32), None),
                                         ((2, 6, 6, 24), 7)])
def test_im2col_matches_torch(shape, rows):
    x = torch.randint(-127, 128, shape, dtype=torch.int8, generator=torch.Generator().manual_seed(2))
    for k in (1, 3, 5):
        fast, ref = both(lambda k=k: [(s, c.clone()) for s, c in im2col_chunks(x, k, rows)])
        assert [s for s, _ in fast] == [s for s, _ in ref]
        assert all(torch.equal(a, b) for (_, a), (_, b) in zip(fast, ref))
    pixels = x.shape[0] * x.shape[1] * x.shape[2]
    assert torch.equal(kernels.im2col(x, 3, 0, pixels), im2col(x, 3))
    planar = kernels.planar(x)
    assert torch.equal(planar, x.permute(3, 0, 1, 2))
    for k in (1, 3, 5):   # the transposed columns of the weight gradient, over any range of pixels
        for start, count in ((0, pixels), (3, pixels - 7), (pixels - 1, 1), (x.shape[2] - 1, x.shape[2] + 2)):
            if count < 1 or start + count > pixels:
                continue
            out = torch.empty(k * k * x.shape[3] * count, dtype=torch.int8)
            assert torch.equal(kernels.im2col_t(planar, k, start, count, out), im2col(x, k)[start:start + count].t())


def train(steps: int, prune_at: int | None = None) -> tuple[dict, IntAdaMax]:
    """A few int8 training steps of the detector network (μ 0 then −1; pruned once on the way)."""
    spec = Spec()
    net = IntDualVGG(spec, initial_weights(spec, (3, 1), 0))
    runner = _IntRunner(net, 0)
    g = torch.Generator().manual_seed(5)
    x1 = quantise_input(torch.rand(8, 3, 16, 16, generator=g) * 2 - 1)
    x2 = quantise_input(torch.rand(8, 1, 16, 16, generator=g) * 2 - 1)
    y = torch.randint(-1, 2, (8, 8, 8), generator=g)
    for step in range(steps):
        if step == prune_at:
            net.prune_layer("a1", torch.arange(0, 16, 2))
            net.prune_layer("a3", torch.arange(0, 32, 3))
            net.prune_layer("b3", torch.arange(0, 32, 3))
        runner.step(*net.frozen_features(x1, x2), y, 0 if step < steps // 2 else -1)
    return {name: conv.weight.m.clone() for name, conv in net.convs.items()}, runner.optimiser


def test_training_steps_give_identical_weights_and_state_with_and_without_kernels():
    (fast_w, fast_opt), (ref_w, ref_opt) = both(lambda: train(8, prune_at=3))
    assert fast_w.keys() == ref_w.keys()
    assert all(torch.equal(fast_w[k], ref_w[k]) for k in fast_w)
    assert torch.equal(fast_opt.m, ref_opt.m) and torch.equal(fast_opt.u, ref_opt.u)
    assert fast_opt.exponents == ref_opt.exponents
    initial = IntDualVGG(Spec(), initial_weights(Spec(), (3, 1), 0))
    assert not torch.equal(fast_w["b2"], initial.weight("b2"))   # the steps did train


@pytest.mark.parametrize("exponent", [-12, -6, -2, 0, 3, 9])
@pytest.mark.parametrize("classes", [2, 3])
def test_cross_entropy_matches_torch(exponent, classes):
    g = torch.Generator().manual_seed(exponent + 20)
    logits = torch.randint(-127, 128, (4, 5, 6, classes), dtype=torch.int8, generator=g)
    logits[0, 0, 0] = 0                                   # a tie between the classes
    target = torch.randint(-1, classes, (4, 5, 6), generator=g)
    fast, ref = both(lambda: cross_entropy_error(BlockTensor(logits.permute(0, 3, 1, 2), exponent), target))
    assert fast[0].e == ref[0].e and torch.equal(fast[0].m, ref[0].m) and torch.equal(fast[1], ref[1])
    assert bool((fast[0].m.permute(0, 2, 3, 1)[target == -1] == 0).all())   # ignored places get no error


@pytest.mark.parametrize("ea, eb", [(-3, -3), (-3, -5), (-9, -2), (0, -20)])
def test_abs_diff_forward_and_backward_match_torch(ea, eb):
    g = torch.Generator().manual_seed(7)
    a, b = (torch.randint(-127, 128, (3, 4, 5, 8), dtype=torch.int8, generator=g) for _ in range(2))
    err = torch.randint(-127, 128, (3, 4, 5, 8), dtype=torch.int8, generator=g)

    def run():
        fuse = IntAbsDiff()
        out = fuse.forward(BlockTensor(a, ea), BlockTensor(b, eb), keep=True)
        to_a, to_b = fuse.backward(BlockTensor(err, -4))
        return out.m, out.e, to_a.m, to_b.m

    (m, e, to_a, to_b), (m_ref, e_ref, to_a_ref, to_b_ref) = both(run)
    assert e == e_ref and torch.equal(m, m_ref) and torch.equal(to_a, to_a_ref) and torch.equal(to_b, to_b_ref)

    def fixed(shift: int) -> torch.Tensor:
        fuse = IntAbsDiff()
        fuse.shift = shift
        out = fuse.forward(BlockTensor(a, ea), BlockTensor(b, eb))
        assert out.e == max(ea, eb) + shift and fuse.last_shift == shift
        return out.m

    for shift in (0, 3):
        fast, ref = both(lambda shift=shift: fixed(shift))
        assert torch.equal(fast, ref)
    assert ea != eb or int(fixed(0).max()) == 127   # |a − b| up to 254 on one exponent: saturated


@pytest.mark.parametrize("chunk, safe_k", [(None, None), (5, None), (5, 40)])
def test_weight_gradient_matches_torch(chunk, safe_k, monkeypatch):
    if chunk:     # blocks of 4·chunk pixels (compiled) and chunk pixels (torch)
        monkeypatch.setattr(conv, "CHUNK_ROWS", chunk)
    if safe_k:    # sums beyond SAFE_K pixels go to int64
        monkeypatch.setattr(conv, "SAFE_K", safe_k)
    g = torch.Generator().manual_seed(8)
    x = torch.randint(-127, 128, (2, 5, 6, 16), dtype=torch.int8, generator=g)
    err = torch.randint(-127, 128, (2, 5, 6, 8), dtype=torch.int8, generator=g)
    for k in (1, 3):
        fast, ref = both(lambda k=k: conv.weight_gradient(x, err, k))
        assert fast.shape == (8, 16, k, k) and fast.dtype == ref.dtype and torch.equal(fast, ref)
        assert fast.dtype == (torch.int64 if safe_k else torch.int32)


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (3, 17, 13), (33, 16, 4), (64, 144, 16), (144, 4099, 7)])
def test_int8_product_is_exact_at_every_shape(m, k, n):
    """The compiled product (vector body, row and column tails) equals the exact integer product,
    also at ±127 everywhere, and writes into a given block of rows."""
    g = torch.Generator().manual_seed(m * k * n)
    a = torch.randint(-127, 128, (m, k), dtype=torch.int8, generator=g)
    b = torch.randint(-127, 128, (k, n), dtype=torch.int8, generator=g)
    exact = (a.long() @ b.long()).int()
    assert torch.equal(kernels.int_mm(a, b), exact)
    assert torch.equal(kernels.int_mm(a.t().contiguous().t(), b.t().contiguous().t()), exact)  # strided inputs
    rows = torch.zeros((m + 2, n), dtype=torch.int32)
    kernels.int_mm(a, b, out=rows[1:m + 1])
    assert torch.equal(rows[1:m + 1], exact) and not rows[0].any() and not rows[-1].any()
    full = torch.full((m, k), -127, dtype=torch.int8)
    assert torch.equal(kernels.int_mm(full, torch.full((k, n), -127, dtype=torch.int8)),
                       torch.full((m, n), 127 * 127 * k, dtype=torch.int32))


def test_convolution_takes_the_same_sums_with_either_product(monkeypatch):
    """Whichever product the timing picks on this CPU, a convolution's sums are the same."""
    x = torch.randint(-127, 128, (2, 9, 7, 16), dtype=torch.int8)
    w = torch.randint(-127, 128, (5, 16, 3, 3), dtype=torch.int8)
    direct = conv.conv_accumulate(x, w)
    monkeypatch.setattr(conv, "_direct", lambda x, w: False)   # the im2col path, with either product
    monkeypatch.setattr(kernels, "_compiled_products", True)
    compiled = conv.conv_accumulate(x, w)
    monkeypatch.setattr(kernels, "_compiled_products", False)
    assert torch.equal(compiled, conv.conv_accumulate(x, w)) and torch.equal(compiled, direct)


@pytest.mark.parametrize("shape, out, k", [((1, 17, 23, 4), 16, 3), ((2, 8, 9, 1), 16, 3), ((3, 9, 13, 13), 11, 3),
                                           ((2, 5, 7, 32), 2, 1), ((1, 6, 5, 7), 30, 3), ((1, 3, 2, 16), 8, 3)])
@pytest.mark.parametrize("signed", [True, False])
def test_direct_convolution_gives_the_exact_sums_and_their_bounds(shape, out, k, signed):
    """The compiled direct convolution (no column matrix) at pruned widths, 1 to 32 channels, images
    narrower than its 4-pixel step, inputs of either sign, and at ±127 everywhere."""
    g = torch.Generator().manual_seed(sum(shape) * out)
    x = torch.randint(-127 if signed else 0, 128, shape, dtype=torch.int8, generator=g)
    w = torch.randint(-127, 128, (out, shape[3], k, k), dtype=torch.int8, generator=g)
    for a, b in ((x, w), (torch.full(shape, -127 if signed else 127, dtype=torch.int8), torch.full_like(w, -127))):
        exact = torch.nn.functional.conv2d(a.permute(0, 3, 1, 2).double(), b.double(), padding=k // 2)
        exact = exact.permute(0, 2, 3, 1).to(torch.int32)
        acc, bounds = kernels.conv_direct(a, conv.pack_weights(b), k, out)
        assert torch.equal(acc, exact)
        assert bounds.tolist() == [min(0, int(exact.min())), max(0, int(exact.max()))]


def test_timing_the_kernels_leaves_the_process_s_random_state_alone(monkeypatch):
    """The first integer convolution timed the two products on torch's global generator, which QGIS and other
    plugins share: their next random draws changed."""
    monkeypatch.setattr(kernels, "_compiled_products", None)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    kernels.faster_products()
    assert torch.equal(torch.rand(3), expected)
