"""Integer convolution on channels-last int8: im2col from strided views feeding torch._int_mm.

Layout (N, H, W, C) throughout, so a product (N·H·W, O) is already the next layer's input and each
tap's C values are contiguous. Forward, backward error and weight gradient are all int8×int8 → int32
products; stride 1, 'same' padding (k // 2), no bias, as in VGG. A ReLU after the convolution is
folded into its requantisation (negative sums → 0) and its backward (error kept where output > 0).
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from ..errors import InputError
from ..i18n import tr
from . import kernels
from .rounding import requantise
from .tensor import BlockTensor

# An int32 sum of K products |a·b| ≤ 127·127 is exact while K·16129 < 2^31: K ≤ 133 144 (a 3×3
# layer of up to 14 793 input channels, or a weight gradient over 128 patches of 32×32). _int_mm
# was checked exact at that K with every operand ±127. Longer sums are split and added in int64.
SAFE_K = (2**31 - 1) // (127 * 127)
CHUNK_ROWS = 8192  # im2col rows built at a time (measured: 4 096–16 384 alike, 1 024 slower)


@functools.lru_cache(maxsize=8)
def _window_rows(n: int, h: int, w: int, k: int) -> torch.Tensor:
    """For output pixel (n, y, x) and kernel row ky: the padded pixel (n, y + ky, x) where its row of
    k taps starts, as a flat index into the padded (N, H + k − 1, W + k − 1) grid; int32 (int64 where the
    grid holds 2³¹ pixels or more: a 16 384² tile of 8 crops would wrap around), cached."""
    hp, wp = h + k - 1, w + k - 1
    kind = torch.int32 if n * hp * wp < 2**31 else torch.int64
    grid = (torch.arange(n, dtype=kind).view(n, 1, 1, 1) * (hp * wp)
            + torch.arange(h, dtype=kind).view(1, h, 1, 1) * wp
            + torch.arange(w, dtype=kind).view(1, 1, w, 1)
            + torch.arange(k, dtype=kind).view(1, 1, 1, k) * wp)
    return grid.flatten()


_buffers = threading.local()


def _scratch(numel: int, name: str = "columns") -> torch.Tensor:
    """This thread's int8 buffer `name` (im2col blocks, planar copies), grown as needed and reused, so
    its pages stay mapped: a fresh 1–2 MiB tensor a block costs page faults (measured: 2.1 → 1.4 ms
    of im2col a step)."""
    buf = getattr(_buffers, name, None)
    if buf is None or buf.numel() < numel:
        buf = torch.empty(numel, dtype=torch.int8)
        setattr(_buffers, name, buf)
    return buf[:numel]


def im2col_chunks(x: torch.Tensor, k: int, rows: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
    """(first row, columns) for consecutive blocks of at most `rows` rows of im2col(x, k).

    The zero-padded input, flattened, is viewed as overlapping rows of k pixels (k·C contiguous bytes,
    starting every pixel), and index_select gathers k such rows per output pixel: 2–3× faster than
    copying a 6-d strided view. A block at a time, the columns stay in cache for the product that
    reads them (at 64 crops of 64² cells, 16 channels: 5.4 ms a convolution against 16 ms whole).
    Blocks are written into this thread's scratch buffer: each is valid until the next one is made.
    """
    n, h, w, c = x.shape
    total = n * h * w
    rows = rows or CHUNK_ROWS
    if k == 1:
        flat = x.reshape(total, c)
        for start in range(0, total, rows):
            yield start, flat[start:start + rows]
        return
    if c % 8 == 0 and kernels.usable(x):   # compiled: no padded copy, 8-byte moves
        for start in range(0, total, rows):
            count = min(rows, total - start)
            yield start, kernels.im2col(x, k, start, count, _scratch(count * k * k * c))
        return
    padded = F.pad(x, (0, 0, k // 2, k // 2, k // 2, k // 2))
    windows = padded.view(-1).unfold(0, k * c, c)  # row r = padded pixels r … r + k − 1, a view
    index = _window_rows(n, h, w, k)
    for start in range(0, total, rows):
        block = index[start * k:(start + rows) * k]
        out = _scratch(block.numel() * k * c).view(block.numel(), k * c)
        yield start, torch.index_select(windows, 0, block, out=out).view(-1, k * k * c)


def im2col(x: torch.Tensor, k: int) -> torch.Tensor:
    """(N, H, W, C) int8 → (N·H·W, k·k·C) int8, columns ordered (ky, kx, c), all at once (a copy of
    the scratch buffer: the engine itself reads the blocks of im2col_chunks)."""
    n, h, w, c = x.shape
    return next(im2col_chunks(x, k, rows=max(1, n * h * w)))[1].clone()


def _plain(t: torch.Tensor) -> torch.Tensor:
    """_int_mm reads row-major or transposed matrices; any other strides (e.g. overlapping windows)
    give silently wrong sums on CPU, so those are copied first."""
    return t if t.is_contiguous() or t.t().is_contiguous() else t.contiguous()


def int_matmul(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Exact int8 (M, K) × int8 (K, N): int32, or int64 summed over K-chunks when K > SAFE_K; an int32
    product is written into `out` when given (contiguous rows of a larger result)."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[0]:
        raise InputError(tr("Matrix shapes do not fit: {shape_a} × {shape_b}.",
                            shape_a=tuple(a.shape), shape_b=tuple(b.shape)))
    if a.shape[1] <= SAFE_K:
        if kernels.active() and a.is_cpu and b.is_cpu and (out is None or out.is_contiguous()) \
                and kernels.faster_products():
            return kernels.int_mm(a, b, out)
        if out is None:
            return torch._int_mm(_plain(a), _plain(b))
        return torch._int_mm(_plain(a), _plain(b), out=out)
    out = torch.zeros((a.shape[0], b.shape[1]), dtype=torch.int64)
    for start in range(0, a.shape[1], SAFE_K):
        out += torch._int_mm(_plain(a[:, start:start + SAFE_K]), _plain(b[start:start + SAFE_K]))
    return out


def pack_weights(w: torch.Tensor) -> torch.Tensor:
    """(O, C, k, k) int8 → kernels.conv_direct's layout (k, k, ⌈C/4⌉, ob, 8, 4): for each tap and 4
    input channels, 8 outputs × 4 channels per 32-byte vector; ob = ⌈O/8⌉ rounded up to even, zeros
    beyond O and C."""
    o, c, k, _ = w.shape
    c4, ob = -(-c // 4) * 4, -(-o // 16) * 2
    t = F.pad(w.permute(2, 3, 1, 0), (0, ob * 8 - o, 0, c4 - c))        # (k, k, c4, ob·8)
    return t.reshape(k, k, c4 // 4, 4, ob, 8).permute(0, 1, 2, 4, 5, 3).contiguous()


def _direct(x: torch.Tensor, w: torch.Tensor) -> bool:
    """Whether the compiled direct convolution takes this product (exact in int32, contiguous input)."""
    return w.shape[1] * w.shape[2] * w.shape[3] <= SAFE_K and kernels.usable(x)


def conv_accumulate(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Exact sums of int8 products: x (N, H, W, C), w (O, C, k, k) → int32 (N, H, W, O)."""
    if x.dim() != 4 or w.dim() != 4 or x.shape[3] != w.shape[1] or w.shape[2] != w.shape[3] \
            or w.shape[2] % 2 == 0:
        raise InputError(tr("Convolution shapes do not fit: input (N, H, W, C) {input}, "
                            "weights (O, C, k, k) {weights} with odd k.", input=tuple(x.shape), weights=tuple(w.shape)))
    if x.shape[0] == 0:
        raise InputError(tr("Cannot convolve an empty batch."))
    n, h, wd, _ = x.shape
    o, k = w.shape[0], w.shape[2]
    if _direct(x, w):
        return kernels.conv_direct(x, pack_weights(w), k, o)[0]
    weights = w.permute(2, 3, 1, 0).reshape(k * k * w.shape[1], o)
    exact32 = weights.shape[0] <= SAFE_K
    acc = torch.empty((n * h * wd, o), dtype=torch.int32 if exact32 else torch.int64)
    for start, cols in im2col_chunks(x, k):
        rows = acc[start:start + cols.shape[0]]
        if exact32:   # each block's products land in their rows of the result: no copy
            int_matmul(cols, weights, out=rows)
        else:
            rows.copy_(int_matmul(cols, weights))
    return acc.view(n, h, wd, o)


def weight_gradient(x: torch.Tensor, g: torch.Tensor, k: int) -> torch.Tensor:
    """Exact Σ over pixels of error × input window: x (N, H, W, C), g (N, H, W, O) int8 → (O, C, k, k),
    int32 while the pixel count is at most SAFE_K, else int64 (sums over blocks of pixels)."""
    n, h, w, c = x.shape
    o = g.shape[3]
    flat = g.reshape(-1, o)
    total = flat.shape[0]
    acc = None
    if c % 8 == 0 and kernels.usable(x, flat):
        # (k·k·C × pixels)·(pixels × O): _int_mm runs this orientation about twice as fast.
        planar = kernels.planar(x, _scratch(x.numel(), "planar"))
        rows = min(4 * CHUNK_ROWS, SAFE_K)
        for start in range(0, total, rows):
            count = min(rows, total - start)
            cols_t = planar.view(c, total)[:, start:start + count] if k == 1 else \
                kernels.im2col_t(planar, k, start, count, _scratch(count * k * k * c))
            part = int_matmul(cols_t, flat[start:start + count])
            acc = _sum(acc, part, total)
        return acc.view(k, k, c, o).permute(3, 2, 0, 1)
    for start, cols in im2col_chunks(x, k, rows=min(CHUNK_ROWS, SAFE_K)):
        part = int_matmul(flat[start:start + cols.shape[0]].t(), cols)
        acc = _sum(acc, part, total)
    return acc.view(o, k, k, c).permute(0, 3, 1, 2)


def _sum(acc: torch.Tensor | None, part: torch.Tensor, pixels: int) -> torch.Tensor:
    """Partial weight-gradient sums added in int32 while the whole sum is exact there, else int64."""
    if acc is None:
        return part
    return (acc if pixels <= SAFE_K else acc.to(torch.int64)) + part


class IntConv:
    """A k×k convolution (optionally + ReLU) with an int8 block weight of fixed exponent (NITI).

    Trained: keeps references to its input (for the weight gradient, columns rebuilt in backward:
    9× smaller than keeping them) and, with ReLU, its output (the mask); both tensors are shared with
    the neighbouring layers, not copies. Frozen: keeps nothing.
    """

    def __init__(self, name: str, weight: BlockTensor, relu: bool, frozen: bool = False) -> None:
        if weight.m.dim() != 4 or weight.m.shape[2] != weight.m.shape[3]:
            raise InputError(tr("{name}: weights must be (O, C, k, k), not {shape}.",
                                name=name, shape=tuple(weight.m.shape)))
        self.name, self.weight, self.relu, self.frozen = name, weight, relu, frozen
        self.grad: tuple[torch.Tensor, int] | None = None  # (int32/int64 sums shaped like the weight, exponent)
        self._input: BlockTensor | None = None
        self._output: torch.Tensor | None = None
        self.shift: int | None = None   # the output's, fixed for inference (IntDualVGG.fix_shifts); None: its peak's
        self.last_shift = 0             # the one the last forward used

    @property
    def k(self) -> int:
        return self.weight.m.shape[2]

    def forward(self, x: BlockTensor, keep: bool = False) -> BlockTensor:
        """x (N, H, W, C) → (N, H, W, O); `keep` saves what backward needs (trained layers only)."""
        if x.m.dim() == 4 and _direct(x.m, self.weight.m) and x.m.shape[3] == self.weight.m.shape[1]:
            acc, bounds = kernels.conv_direct(x.m, pack_weights(self.weight.m), self.k, self.weight.m.shape[0])
            m, e = requantise(acc, x.e + self.weight.e, self.relu, bounds, self.shift)   # no scan for the peak
        else:
            m, e = requantise(conv_accumulate(x.m, self.weight.m), x.e + self.weight.e, self.relu, shift=self.shift)
        self.last_shift = e - x.e - self.weight.e
        keep = keep and not self.frozen
        self._input = x if keep else None
        self._output = m if keep and self.relu else None
        return BlockTensor(m, e)

    def backward(self, err: BlockTensor, input_error: bool = True) -> BlockTensor | None:
        """Store the weight gradient (columnsᵀ × error, exact) and return the int8 error of the input."""
        if self._input is None:
            raise InputError(tr("{name}: backward needs a training forward first (frozen layers have none).",
                                name=self.name))
        x, g = self._input, err.m
        if g.shape[:3] != x.m.shape[:3] or g.shape[3] != self.weight.m.shape[0]:
            raise InputError(tr("{name}: error {error} does not fit output of input {input}.",
                                name=self.name, error=tuple(g.shape), input=tuple(x.m.shape)))
        if self._output is not None and kernels.usable(g, self._output):
            g = kernels.relu_mask(g, self._output)
        elif self._output is not None:
            g = g * self._output.clamp(max=1)  # ReLU: output ∈ [0, 127], so this is the 0/1 mask
        self.grad = (weight_gradient(x.m, g, self.k), x.e + err.e)  # exact
        self._input = self._output = None
        if not input_error:
            return None
        # Transposed convolution: the error convolved with the kernel rotated by 180°, O and C swapped.
        acc = conv_accumulate(g, self.weight.m.flip(2, 3).transpose(0, 1))
        m, e = requantise(acc, err.e + self.weight.e)
        return BlockTensor(m, e)

    def saved(self) -> list[torch.Tensor]:
        """Tensors held for backward (for the memory accounting)."""
        return [t for t in (None if self._input is None else self._input.m, self._output) if t is not None]
