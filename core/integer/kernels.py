"""The engine's memory-bound integer passes compiled from kernels.c, loaded with ctypes when built.

A training step of the small online network spends most of its time not in the int8 products but in
the passes around them (im2col, requantisation, ReLU masks, pooling, |f1 − f2|, the loss, the
optimiser), each of which torch runs as several elementwise ops with a dispatch apiece. kernels.c
does each in one or two loops (measured: the training's step 0.70–0.84× → 0.42–0.50× the fp32 step).

The torch code is the definition and the fallback: `make setup` builds the library next to this file;
where it is absent (a plugin installed from the zip on a machine without a C compiler) or switched
off (`OAIP_KERNELS=0`, `disabled()`), the engine runs the torch ops and gets the same integers
(tests/core/test_kernels.py checks every kernel and whole training steps bit for bit).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

LIBRARY = Path(__file__).with_name("_kernels.so")
SOURCE = Path(__file__).with_name("kernels.c")
_P, _I64, _I, _I32S = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.POINTER(ctypes.c_int32)
# kernels.c's functions: (result, arguments); with argtypes declared, calls take plain ints and pointers.
SIGNATURES = {
    "oaip_requantise_i32": (_I, [_P, _P, _I64, _I, _P, _I, _I]),
    "oaip_relu_mask": (None, [_P, _P, _P, _I64, _I]),
    "oaip_maxpool2": (None, [_P, _P, _I64, _I64, _I64, _I64, _I]),
    "oaip_maxpool2_backward": (None, [_P, _P, _P, _P, _I64, _I64, _I64, _I64, _I]),
    "oaip_segment_peaks": (None, [_P, _P, _I, _P]),
    "oaip_adamax": (None, [_P, _P, _P, _P, ctypes.c_uint64, _P, _I32S, _I32S, _I32S, _I, _I, _I, _I]),
    "oaip_im2col": (None, [_P, _P, _I64, _I64, _I64, _I64, _I64, _I64, _I64, _I]),
    "oaip_cross_entropy": (None, [_P, _P, _I64, _I, _I, _P, _I, _I, _I, _I, _I, _I, _P, _P, _I]),
    "oaip_absdiff": (_I, [_P, _P, _I, _I, _I, _P, _I64, _I]),
    "oaip_absdiff_backward": (None, [_P, _P, _I, _I, _P, _P, _P, _I64, _I]),
    "oaip_im2col_t": (None, [_P, _P, _I64, _I64, _I64, _I64, _I64, _I64, _I64, _I]),
    "oaip_planar": (None, [_P, _P, _I64, _I64, _I]),
    "oaip_int_mm": (None, [_P, _P, _P, _I64, _I64, _I64, _I64, _I]),
    "oaip_conv_direct": (None, [_P, _P, _P, _I64, _I64, _I64, _I64, _I64, _I64, _I, _P, _I]),
    "oaip_pad_input": (_I, [_P, _P, _I64, _I64, _I64, _I64, _I64, _I64, _I]),
}


def _load(library: Path = LIBRARY, source: Path = SOURCE) -> ctypes.CDLL | None:
    """The library, if it is there, loads, and was built from the kernels.c beside it (else None)."""
    if os.environ.get("OAIP_KERNELS", "1") == "0" or not library.exists() or not source.exists():
        return None
    try:
        lib = ctypes.CDLL(str(library))
        lib.oaip_source.restype = ctypes.c_char_p
        if lib.oaip_source().decode() != hashlib.sha256(source.read_bytes()).hexdigest()[:16]:
            return None   # stale: built from other source; `make setup` rebuilds it
        for name, (result, arguments) in SIGNATURES.items():
            function = getattr(lib, name)
            function.restype, function.argtypes = result, arguments
    except (OSError, AttributeError):   # built for another machine, or from an older kernels.c
        return None
    return lib


_lib = _load()
_enabled = True


def active() -> bool:
    """Whether the compiled kernels run (else the torch ops do)."""
    return _enabled and _lib is not None


def usable(*tensors: torch.Tensor) -> bool:
    """Whether the compiled kernels can take these tensors: active, and every tensor contiguous in CPU
    memory (the loops read raw pointers; tensors elsewhere go through the torch ops)."""
    return _enabled and _lib is not None and all(t.is_cpu and t.is_contiguous() for t in tensors)


def built() -> bool:
    """Whether the library was found, matches kernels.c and loaded (whatever `disabled()` says)."""
    return _lib is not None


@contextmanager
def disabled() -> Iterator[None]:
    """Run the torch ops inside the block (for tests and the benchmark's comparison)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def _threads() -> int:
    return torch.get_num_threads()


def requantise_i32(acc: torch.Tensor, relu: bool, bounds: torch.Tensor | None = None, shift: int | None = None
                   ) -> tuple[torch.Tensor, int]:
    """(int8 mantissa, shift) of a contiguous int32 accumulator, as rounding.requantise rounds it;
    bounds: (min(0, acc), max(0, acc)) int32 when known (conv_direct gives them), sparing a pass;
    shift: a fixed one (saturating), or None to take it from the peak."""
    out = torch.empty(acc.shape, dtype=torch.int8)
    s = _lib.oaip_requantise_i32(_ptr(acc), _ptr(out), acc.numel(), int(relu),
                                 None if bounds is None else _ptr(bounds), -1 if shift is None else shift,
                                 _threads())
    return out, s


def relu_mask(err: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """err where output > 0, else 0 (both int8, same shape, contiguous)."""
    out = torch.empty_like(err)
    _lib.oaip_relu_mask(_ptr(err), _ptr(output), _ptr(out), err.numel(), _threads())
    return out


def maxpool2(x: torch.Tensor) -> torch.Tensor:
    """2×2 max-pool of a contiguous (N, H, W, C) int8 tensor with even H and W."""
    n, h, w, c = x.shape
    out = torch.empty((n, h // 2, w // 2, c), dtype=torch.int8)
    _lib.oaip_maxpool2(_ptr(x), _ptr(out), n, h, w, c, _threads())
    return out


def maxpool2_backward(x: torch.Tensor, pooled: torch.Tensor, err: torch.Tensor) -> torch.Tensor:
    """The pooling's error routed to each window's first maximum."""
    n, h, w, c = x.shape
    out = torch.empty_like(x)
    _lib.oaip_maxpool2_backward(_ptr(x), _ptr(pooled), _ptr(err), _ptr(out), n, h, w, c, _threads())
    return out


def segment_peaks(g: torch.Tensor, offsets: torch.Tensor) -> list[int]:
    """max |g| over each segment of a flat int64 vector (offsets: int64, segments + 1 entries)."""
    peaks = torch.empty(offsets.numel() - 1, dtype=torch.int64)
    _lib.oaip_segment_peaks(_ptr(g), _ptr(offsets), peaks.numel(), _ptr(peaks))
    return peaks.tolist()


def adamax(g: torch.Tensor, m: torch.Tensor, u: torch.Tensor, w: torch.Tensor, key: int, offsets: torch.Tensor,
           grow: list[int], left: list[int], right: list[int], fraction: int, s: int) -> None:
    """IntAdaMax's update in place on m, u (int64) and w (int8), all flat and contiguous; stochastic
    rounding with rounding.counter_draws(key, ·, s)."""
    shifts = [(ctypes.c_int32 * len(v))(*v) for v in (grow, left, right)]
    _lib.oaip_adamax(_ptr(g), _ptr(m), _ptr(u), _ptr(w), key, _ptr(offsets), *shifts, len(grow), fraction, s,
                     _threads())


def im2col(x: torch.Tensor, k: int, row0: int, rows: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """Rows [row0, row0 + rows) of conv.im2col(x, k) for a contiguous (N, H, W, C) int8 tensor, into
    `out` (rows·k·k·C contiguous int8) when given."""
    n, h, w, c = x.shape
    out = torch.empty((rows, k * k * c), dtype=torch.int8) if out is None else out.view(rows, k * k * c)
    _lib.oaip_im2col(_ptr(x), _ptr(out), n, h, w, c, k, row0, rows, _threads())
    return out


def cross_entropy(z: torch.Tensor, target: torch.Tensor, exponent: int, table: torch.Tensor, log2e: int,
                  fraction_bits: int, floor_bits: int, probability_bits: int, error_shift: int,
                  p1_shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """loss.cross_entropy_error on contiguous classes-last int8 logits (…, C ≤ 16) and int64 targets (…):
    (int8 error, classes last; P(class 1) rounded, int64)."""
    classes = z.shape[-1]
    err = torch.empty(z.shape, dtype=torch.int8)
    p1 = torch.empty(target.shape, dtype=torch.int64)
    _lib.oaip_cross_entropy(_ptr(z), _ptr(target), target.numel(), classes, exponent, _ptr(table), log2e,
                            fraction_bits, floor_bits, probability_bits, error_shift, p1_shift, _ptr(err), _ptr(p1),
                            _threads())
    return err, p1


def absdiff(a: torch.Tensor, b: torch.Tensor, sa: int, sb: int, shift: int | None = None
            ) -> tuple[torch.Tensor, int]:
    """|a − b| of two contiguous int8 mantissas shifted right by sa, sb (rounded), requantised by `shift`
    (saturating) or, when None, by the one its peak needs: (int8, shift)."""
    out = torch.empty_like(a)
    s = _lib.oaip_absdiff(_ptr(a), _ptr(b), sa, sb, -1 if shift is None else shift, _ptr(out), a.numel(),
                          _threads())
    return out, s


def absdiff_backward(a: torch.Tensor, b: torch.Tensor, sa: int, sb: int, err: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """err·sign(a − b) and its negative (int8, contiguous inputs of one shape)."""
    to_a, to_b = torch.empty_like(a), torch.empty_like(a)
    _lib.oaip_absdiff_backward(_ptr(a), _ptr(b), sa, sb, _ptr(err), _ptr(to_a), _ptr(to_b),
                               a.numel(), _threads())
    return to_a, to_b


def planar(x: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """x.permute(3, 0, 1, 2).contiguous() of a contiguous (N, H, W, C) int8 tensor (into `out` if given)."""
    n, h, w, c = x.shape
    out = torch.empty((c, n, h, w), dtype=torch.int8) if out is None else out.view(c, n, h, w)
    _lib.oaip_planar(_ptr(x), _ptr(out), n * h * w, c, _threads())
    return out


def im2col_t(planar: torch.Tensor, k: int, p0: int, count: int, out: torch.Tensor) -> torch.Tensor:
    """conv.im2col(x, k)[p0:p0 + count].t(), contiguous, from planar(x), written into `out`
    (k·k·C·count int8)."""
    c, n, h, w = planar.shape
    out = out.view(k * k * c, count)
    _lib.oaip_im2col_t(_ptr(planar), _ptr(out), n, h, w, c, k, p0, count, _threads())
    return out


def int_mm(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """a (M, K) × b (K, N), int8 → int32 (K ≤ conv.SAFE_K), into `out` (contiguous M × N) when given."""
    a = a.contiguous()
    bt = b.t().contiguous()
    m, kk = a.shape
    n = bt.shape[0]
    out = torch.empty((m, n), dtype=torch.int32) if out is None else out
    _lib.oaip_int_mm(_ptr(a), _ptr(bt), _ptr(out), m, n, kk, n, _threads())
    return out


def conv_direct(x: torch.Tensor, packed: torch.Tensor, k: int, o: int) -> tuple[torch.Tensor, torch.Tensor]:
    """conv.conv_accumulate's int32 (N, H, W, O) sums of a contiguous (N, H, W, C) int8 input and the
    weights packed by conv.pack_weights, without a column matrix: the input is copied once, padded
    (oaip_pad_input), and convolved in place (oaip_conv_direct; see kernels.c). Also returns the
    sums' bounds (min(0, ·), max(0, ·)) for requantise_i32."""
    n, h, w, c = x.shape
    c4, r = -(-c // 4) * 4, k // 2
    xp = torch.empty((n, h + 2 * r, w + 2 * r + 3, c4), dtype=torch.int8)
    signed = _lib.oaip_pad_input(_ptr(x), _ptr(xp), n, h, w, c, c4, r, _threads())
    out = torch.empty((n, h, w, o), dtype=torch.int32)
    bounds = torch.empty(2, dtype=torch.int32)
    _lib.oaip_conv_direct(_ptr(xp), _ptr(packed), _ptr(out), n, h, w, c4, k, o, signed, _ptr(bounds), _threads())
    return out, bounds


_compiled_products: bool | None = None


def faster_products() -> bool:
    """Whether the compiled int8 product beats torch._int_mm on this CPU, timed once on the training's
    commonest shape (the answer differs by CPU: _int_mm is fast only with int8 dot-product instructions)."""
    global _compiled_products
    if _compiled_products is None:
        import time
        draws = torch.Generator().manual_seed(0)   # its own: the process's random state stays the caller's
        a = torch.randint(-127, 128, (4096, 144), dtype=torch.int8, generator=draws)
        b = torch.randint(-127, 128, (144, 16), dtype=torch.int8, generator=draws)
        timings = []
        for product in (lambda: torch._int_mm(a, b), lambda: int_mm(a, b)):
            product()
            start = time.perf_counter()
            for _ in range(3):
                product()
            timings.append(time.perf_counter() - start)
        _compiled_products = timings[1] < timings[0]
    return _compiled_products
