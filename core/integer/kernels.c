/* The integer engine's memory-bound passes, each fused into one or two loops over the data.
 *
 * torch runs each of these as several separate elementwise passes with a dispatch per pass; here a
 * requantisation is one min/max pass and one shift pass, a pooling backward one pass. The torch code in
 * rounding.py, layers.py, conv.py and adamax.py defines the results; tests/core/test_kernels.py checks
 * these loops against it bit for bit. Built by `make setup` (gcc -O3 -march=native -fopenmp), loaded
 * with ctypes by kernels.py; without the library the engine runs the torch code, with the same results.
 * All tensors are contiguous; right shifts of negative values are arithmetic (gcc), as torch's are.
 */
#include <stddef.h>
#include <stdint.h>

/* The first 16 hex digits of this file's SHA-256, given by the Makefile: kernels.py loads a library
 * only when they match the kernels.c beside it, so a library built from older source is never called
 * with newer signatures. */
#ifndef OAIP_SOURCE
#define OAIP_SOURCE "unknown"
#endif
const char *oaip_source(void) { return OAIP_SOURCE; }

static int bit_length(int64_t v) { return v > 0 ? 64 - __builtin_clzll((uint64_t)v) : 0; }

/* rounding.shift_for: the smallest s with round(top / 2^s) < 2^7. */
static int shift_for(int64_t top) {
    int s = bit_length(top) - 7;
    if (s < 0) s = 0;
    if (s && ((top + ((int64_t)1 << (s - 1))) >> s) >= 128) s++;
    return s;
}

/* out = floor(min(max(acc, low), cap) / 2^s + 1/2) within floor_value…127, computed in `type`. With a shift
 * chosen from the peak the upper bounds never bite; a fixed shift saturates what lies above its range (cap
 * keeps acc + 2^(s−1) inside `type` and still rounds to 127 or more). */
#define SHIFT_DOWN(type, cap)                                               \
    type half = (type)1 << (s - 1);                                         \
    _Pragma("omp parallel for simd num_threads(threads)")                   \
    for (int64_t i = 0; i < n; i++) {                                       \
        type v = acc[i] < low ? low : acc[i];                               \
        v = v > (cap) ? (cap) : v;                                          \
        v = (v + half) >> s;                                                \
        out[i] = (int8_t)(v < floor_value ? floor_value : v > 127 ? 127 : v); \
    }

/* rounding.requantise on an int32 accumulator: out = int8 of floor(acc / 2^s + 1/2), s from the
 * peak (of the positive part with relu), or `fixed` when it is 0 or more (saturating); returns s.
 * acc is left unchanged. */
int oaip_requantise_i32(const int32_t *restrict acc, int8_t *restrict out, int64_t n, int relu,
                        const int32_t *restrict bounds, int fixed, int threads) {
    int s = fixed;
    int64_t top = 0;
    if (fixed < 0) {
        int32_t lo = 0, hi = 0;
        if (bounds) {  /* min(0, acc) and max(0, acc), known already (oaip_conv_direct): no scan */
            lo = relu ? 0 : bounds[0];
            hi = bounds[1];
        } else if (relu) {
#pragma omp parallel for simd num_threads(threads) reduction(max : hi)
            for (int64_t i = 0; i < n; i++) hi = acc[i] > hi ? acc[i] : hi;
        } else {
#pragma omp parallel for simd num_threads(threads) reduction(max : hi) reduction(min : lo)
            for (int64_t i = 0; i < n; i++) {
                hi = acc[i] > hi ? acc[i] : hi;
                lo = acc[i] < lo ? acc[i] : lo;
            }
        }
        top = -(int64_t)lo > hi ? -(int64_t)lo : hi;
        s = shift_for(top);
    }
    int floor_value = relu ? 0 : -127;  /* negative sums are 0 with relu; −128 never leaves as a mantissa */
    int32_t low = relu ? 0 : INT32_MIN;
    if (s == 0) {
#pragma omp parallel for simd num_threads(threads)
        for (int64_t i = 0; i < n; i++)
            out[i] = (int8_t)(acc[i] < floor_value ? floor_value : acc[i] > 127 ? 127 : acc[i]);
    } else if (fixed < 0 ? top + ((int64_t)1 << (s - 1)) <= INT32_MAX : s <= 24) {
        SHIFT_DOWN(int32_t, INT32_MAX - half)
    } else {  /* acc + 2^(s−1) would overflow int32 */
        SHIFT_DOWN(int64_t, INT64_MAX)
    }
    return s;
}

/* The ReLU backward: err where the layer's output (0…127) is positive, else 0. */
void oaip_relu_mask(const int8_t *restrict err, const int8_t *restrict output, int8_t *restrict out, int64_t n,
                    int threads) {
#pragma omp parallel for simd num_threads(threads)
    for (int64_t i = 0; i < n; i++) out[i] = output[i] > 0 ? err[i] : 0;
}

/* 2×2 max-pool, stride 2, channels-last (N, H, W, C) → (N, H/2, W/2, C). */
void oaip_maxpool2(const int8_t *restrict x, int8_t *restrict out, int64_t n, int64_t h, int64_t w, int64_t c,
                   int threads) {
    int64_t h2 = h / 2, w2 = w / 2;
#pragma omp parallel for num_threads(threads)
    for (int64_t row = 0; row < n * h2; row++) {
        const int8_t *top = x + 2 * row * w * c, *bottom = top + w * c;
        int8_t *o = out + row * w2 * c;
        for (int64_t j = 0; j < w2; j++) {
            const int8_t *t = top + 2 * j * c, *b = bottom + 2 * j * c;
#pragma omp simd
            for (int64_t k = 0; k < c; k++) {
                int8_t m1 = t[k] > t[k + c] ? t[k] : t[k + c];
                int8_t m2 = b[k] > b[k + c] ? b[k] : b[k + c];
                o[j * c + k] = m1 > m2 ? m1 : m2;
            }
        }
    }
}

/* Its backward: each window's error goes to its first maximum in scan order, the others get 0. */
void oaip_maxpool2_backward(const int8_t *restrict x, const int8_t *restrict pooled, const int8_t *restrict err,
                            int8_t *restrict out, int64_t n, int64_t h, int64_t w, int64_t c, int threads) {
    int64_t h2 = h / 2, w2 = w / 2;
#pragma omp parallel for num_threads(threads)
    for (int64_t row = 0; row < n * h2; row++) {
        const int8_t *top = x + 2 * row * w * c, *bottom = top + w * c;
        int8_t *otop = out + 2 * row * w * c, *obottom = otop + w * c;
        const int8_t *p = pooled + row * w2 * c, *e = err + row * w2 * c;
        for (int64_t j = 0; j < w2; j++) {
            int64_t at = 2 * j * c;
#pragma omp simd
            for (int64_t k = 0; k < c; k++) {
                int8_t m = p[j * c + k], g = e[j * c + k];
                int h00 = top[at + k] == m;
                int h01 = !h00 && top[at + c + k] == m;
                int h10 = !h00 && !h01 && bottom[at + k] == m;
                int h11 = !h00 && !h01 && !h10;
                otop[at + k] = h00 ? g : 0;
                otop[at + c + k] = h01 ? g : 0;
                obottom[at + k] = h10 ? g : 0;
                obottom[at + c + k] = h11 ? g : 0;
            }
        }
    }
}

/* SplitMix64's output function (rounding.splitmix); products wrap mod 2^64. */
#define GOLDEN 0x9E3779B97F4A7C15ULL
static inline uint64_t splitmix(uint64_t v) {
    v = (v ^ (v >> 30)) * 0xBF58476D1CE4E5B9ULL;
    v = (v ^ (v >> 27)) * 0x94D049BB133111EBULL;
    return v ^ (v >> 31);
}

/* round_nearest by a constant s ≥ 1 and adamax._shift_down (s may be 0). */
static inline int64_t nearest(int64_t x, int s) { return (x + ((int64_t)1 << (s - 1))) >> s; }
static inline int64_t shift_down(int64_t x, int s) { return s ? nearest(x, s) : x; }

/* max |g| of each layer's segment [offsets[k], offsets[k + 1]). */
void oaip_segment_peaks(const int64_t *restrict g, const int64_t *restrict offsets, int segments,
                        int64_t *restrict peaks) {
    for (int k = 0; k < segments; k++) {
        int64_t top = 0;
#pragma omp simd reduction(max : top)
        for (int64_t i = offsets[k]; i < offsets[k + 1]; i++) {
            int64_t a = g[i] < 0 ? -g[i] : g[i];
            top = a > top ? a : top;
        }
        peaks[k] = top;
    }
}

/* adamax.IntAdaMax.step's arithmetic over the flat state, layer k's segment with its own shifts:
 * the state shifted down by grow[k], the gradient aligned to the state's exponent (left/right),
 * m ← m − m/8 + g/8, u ← max(u − u/16, |g|), Δ = trunc(m·2^fraction / u) rounded stochastically by
 * s bits against draw i = the top s bits of SplitMix64's output from state key + (i + 1)·GOLDEN
 * (rounding.counter_draws), w ← clamp(w − Δ). */
void oaip_adamax(const int64_t *restrict g, int64_t *restrict m, int64_t *restrict u, int8_t *restrict w,
                 uint64_t key, const int64_t *restrict offsets, const int32_t *restrict grow,
                 const int32_t *restrict left, const int32_t *restrict right, int segments, int fraction, int s,
                 int threads) {
    for (int k = 0; k < segments; k++) {
        int gk = grow[k], lk = left[k], rk = right[k];
        int64_t mask = s ? ((int64_t)1 << s) - 1 : 0;
#pragma omp parallel for simd num_threads(threads)
        for (int64_t i = offsets[k]; i < offsets[k + 1]; i++) {
            int64_t mi = shift_down(m[i], gk), ui = shift_down(u[i], gk);
            int64_t gi = shift_down((int64_t)((uint64_t)g[i] << lk), rk);
            mi = mi - nearest(mi, 3) + nearest(gi, 3);
            int64_t ag = gi < 0 ? -gi : gi;
            ui = ui - nearest(ui, 4);
            ui = ui > ag ? ui : ag;
            int64_t ratio = (int64_t)((uint64_t)mi << fraction) / (ui > 1 ? ui : 1);
            int64_t draw = s ? (int64_t)(splitmix((uint64_t)key + (uint64_t)(i + 1) * GOLDEN) >> (64 - s)) : 0;
            int64_t delta = s ? (ratio >> s) + (draw < (ratio & mask)) : ratio;
            int64_t wi = (int64_t)w[i] - delta;
            w[i] = (int8_t)(wi < -127 ? -127 : (wi > 127 ? 127 : wi));
            m[i] = mi;
            u[i] = ui;
        }
    }
}

static inline void copy_bytes(int8_t *restrict to, const int8_t *restrict from, int64_t len) {
    int64_t i = 0;
    for (; i + 8 <= len; i += 8) {  /* 8-byte moves: the taps of a pixel row are 3·C contiguous bytes */
        uint64_t v;
        __builtin_memcpy(&v, from + i, 8);
        __builtin_memcpy(to + i, &v, 8);
    }
    for (; i < len; i++) to[i] = from[i];
}

static inline void zero_bytes(int8_t *to, int64_t len) {
    for (int64_t i = 0; i < len; i++) to[i] = 0;
}

/* conv.im2col rows [row0, row0 + rows) of a channels-last (N, H, W, C) int8 tensor, zero 'same'
 * padding read in place (no padded copy): out (rows, k·k·C), columns ordered (ky, kx, c). */
void oaip_im2col(const int8_t *restrict x, int8_t *restrict out, int64_t n, int64_t h, int64_t w, int64_t c,
                 int64_t k, int64_t row0, int64_t rows, int threads) {
    const int64_t r = k / 2, kc = k * c, kkc = k * kc;
    const int64_t first = row0 / w, last = (row0 + rows - 1) / w;  /* image lines n·H + y touched */
    (void)n;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t line = first; line <= last; line++) {
        const int64_t image = line / h, y = line % h;
        const int64_t x0 = line == first ? row0 - line * w : 0, x1 = line == last ? row0 + rows - line * w : w;
        for (int64_t ky = 0; ky < k; ky++) {
            const int64_t sy = y + ky - r;
            const int8_t *src = sy >= 0 && sy < h ? x + (image * h + sy) * w * c : 0;
            for (int64_t col = x0; col < x1; col++) {
                int8_t *o = out + (line * w + col - row0) * kkc + ky * kc;
                if (!src) {
                    zero_bytes(o, kc);
                } else if (col - r >= 0 && col + r < w) {
                    copy_bytes(o, src + (col - r) * c, kc);
                } else {
                    for (int64_t kx = 0; kx < k; kx++) {
                        const int64_t sx = col + kx - r;
                        if (sx < 0 || sx >= w) zero_bytes(o + kx * c, c);
                        else copy_bytes(o + kx * c, src + sx * c, c);
                    }
                }
            }
        }
    }
}

/* loss.cross_entropy_error for one row of `classes` int8 logits (exponent e) per location, classes
 * last: base-2 softmax in fixed point from `table` (2^(r/2^fraction_bits), table_bits), probabilities
 * summing to 2^probability_bits, the error (p − one-hot)·[target ≠ −1] rounded by error_shift bits
 * into int8, and P(class 1) rounded by p1_shift bits. The constants come from loss.py. */
void oaip_cross_entropy(const int8_t *restrict z, const int64_t *restrict target, int64_t rows, int classes,
                        int exponent, const int64_t *restrict table, int log2e, int fraction_bits, int floor_bits,
                        int probability_bits, int error_shift, int p1_shift, int8_t *restrict err,
                        int64_t *restrict p1, int threads) {
    const int shift = exponent - (15 - fraction_bits);
    const int64_t floor_value = (int64_t)floor_bits << fraction_bits, mask = ((int64_t)1 << fraction_bits) - 1;
#pragma omp parallel for num_threads(threads)
    for (int64_t r = 0; r < rows; r++) {
        const int8_t *zr = z + r * classes;
        int64_t powers[16], total = 0;
        int zmax = zr[0];
        for (int j = 1; j < classes; j++) zmax = zr[j] > zmax ? zr[j] : zmax;
        for (int j = 0; j < classes; j++) {
            int32_t t = (zr[j] - zmax) * log2e;
            int64_t u;
            if (shift >= 0) {
                int64_t lowest = -(floor_value >> shift) - 1;
                u = (int64_t)((uint64_t)(t < lowest ? lowest : t) << (shift < 40 ? shift : 40));
            } else {
                int s = -shift < 26 ? -shift : 26;
                u = (t + ((int32_t)1 << (s - 1))) >> s;
            }
            u = u < -floor_value ? -floor_value : u;
            powers[j] = table[u & mask] >> -(u >> fraction_bits);
            total += powers[j];
        }
        int64_t used = target[r] != -1;
        for (int j = 0; j < classes; j++) {
            int64_t p = ((powers[j] << probability_bits) + total / 2) / total;
            if (j == 1) p1[r] = (p + ((int64_t)1 << (p1_shift - 1))) >> p1_shift;
            int64_t e = (p - (target[r] == j ? (int64_t)1 << probability_bits : 0)) * used;
            e = (e + ((int64_t)1 << (error_shift - 1))) >> error_shift;
            err[r * classes + j] = (int8_t)(e < -127 ? -127 : (e > 127 ? 127 : e));
        }
    }
}

/* layers._aligned: a mantissa rounded to nearest by s bits (s ≥ 9 leaves 0 of any int8). */
static inline int32_t aligned(int8_t v, int s) { return s ? (v + ((int32_t)1 << (s - 1))) >> s : v; }

/* layers.IntAbsDiff forward: |a − b| with each side shifted onto the larger exponent (sa, sb bits),
 * requantised to int8 by a shift from the peak, or by `fixed` when it is 0 or more (saturating at 127);
 * returns the requantising shift. */
int oaip_absdiff(const int8_t *restrict a, const int8_t *restrict b, int sa, int sb, int fixed,
                 int8_t *restrict out, int64_t n, int threads) {
    sa = sa < 16 ? sa : 16;
    sb = sb < 16 ? sb : 16;
    int s = fixed;
    if (fixed < 0) {
        int32_t top = 0;
#pragma omp parallel for simd num_threads(threads) reduction(max : top)
        for (int64_t i = 0; i < n; i++) {
            int32_t d = aligned(a[i], sa) - aligned(b[i], sb);
            d = d < 0 ? -d : d;
            top = d > top ? d : top;
        }
        s = shift_for(top);
    }
    int r = s < 16 ? s : 16;  /* |d| ≤ 255: any shift from 9 on gives 0 */
    int32_t half = r ? (int32_t)1 << (r - 1) : 0;
#pragma omp parallel for simd num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        int32_t d = aligned(a[i], sa) - aligned(b[i], sb);
        int32_t v = ((d < 0 ? -d : d) + half) >> r;
        out[i] = (int8_t)(v > 127 ? 127 : v);
    }
    return s;
}

/* Its backward: the error times sign(a − b) to a, against it to b. */
void oaip_absdiff_backward(const int8_t *restrict a, const int8_t *restrict b, int sa, int sb,
                           const int8_t *restrict err, int8_t *restrict to_a, int8_t *restrict to_b, int64_t n,
                           int threads) {
    sa = sa < 16 ? sa : 16;
    sb = sb < 16 ? sb : 16;
#pragma omp parallel for simd num_threads(threads)
    for (int64_t i = 0; i < n; i++) {
        int32_t d = aligned(a[i], sa) - aligned(b[i], sb);
        int8_t g = (int8_t)(err[i] * ((d > 0) - (d < 0)));
        to_a[i] = g;
        to_b[i] = (int8_t)-g;
    }
}

/* The transpose of conv.im2col's rows [p0, p0 + count), from a planar (C, N, H, W) int8 copy of the
 * input: out (k·k·C, count), row (ky, kx, c) holding that tap of every pixel, 0 outside the image.
 * A row is the channel's plane shifted by (ky − r)·W + (kx − r): one contiguous copy, then the
 * places whose tap falls outside their image (edge lines and columns) set to 0. The weight gradient
 * reads it as the left factor (k·k·C × pixels)·(pixels × O), which _int_mm runs about twice as fast
 * as the other way round. */
void oaip_im2col_t(const int8_t *restrict planar, int8_t *restrict out, int64_t n, int64_t h, int64_t w,
                   int64_t c, int64_t k, int64_t p0, int64_t count, int threads) {
    const int64_t r = k / 2, pixels = n * h * w;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < k * k * c; row++) {
        const int64_t dy = row / (k * c) - r, dx = (row / c) % k - r, ch = row % c;
        const int8_t *plane = planar + ch * pixels;
        int8_t *o = out + row * count;
        int64_t lo = p0 + dy * w + dx, hi = lo + count;  /* source span of the shifted plane */
        int64_t a = lo < 0 ? -lo : 0, b = hi > pixels ? count - (hi - pixels) : count;
        for (int64_t j = 0; j < a && j < count; j++) o[j] = 0;
        if (b > a) __builtin_memcpy(o + a, plane + lo + a, (size_t)(b - a));
        for (int64_t j = b > a ? b : a; j < count; j++) o[j] = 0;
        for (int64_t bad = dx < 0 ? 0 : w - dx; bad < (dx < 0 ? -dx : w); bad++)  /* edge columns */
            for (int64_t j = ((bad - p0) % w + w) % w; j < count; j += w) o[j] = 0;
        for (int64_t image = p0 / (h * w); image <= (p0 + count - 1) / (h * w); image++)  /* edge lines */
            for (int64_t y = dy < 0 ? 0 : h - dy; y < (dy < 0 ? -dy : h); y++) {
                const int64_t start = (image * h + y) * w - p0;
                for (int64_t j = start < 0 ? 0 : start; j < start + w && j < count; j++) o[j] = 0;
            }
    }
}

#ifdef __SSE2__
#include <emmintrin.h>

/* 16 rows of 16 bytes (row stride `from_stride`) transposed into 16 rows of 16 bytes (`to_stride`):
 * four rounds of byte, word, dword and qword interleaves. */
static inline void transpose16(const int8_t *from, int64_t from_stride, int8_t *to, int64_t to_stride) {
    __m128i a[16], b[16];
    for (int i = 0; i < 16; i++) a[i] = _mm_loadu_si128((const __m128i *)(from + i * from_stride));
    for (int i = 0; i < 8; i++) {
        b[2 * i] = _mm_unpacklo_epi8(a[2 * i], a[2 * i + 1]);
        b[2 * i + 1] = _mm_unpackhi_epi8(a[2 * i], a[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++) {
            a[4 * i + 2 * j] = _mm_unpacklo_epi16(b[4 * i + j], b[4 * i + j + 2]);
            a[4 * i + 2 * j + 1] = _mm_unpackhi_epi16(b[4 * i + j], b[4 * i + j + 2]);
        }
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++) {
            b[8 * i + 2 * j] = _mm_unpacklo_epi32(a[8 * i + j], a[8 * i + j + 4]);
            b[8 * i + 2 * j + 1] = _mm_unpackhi_epi32(a[8 * i + j], a[8 * i + j + 4]);
        }
    for (int j = 0; j < 8; j++) {
        a[2 * j] = _mm_unpacklo_epi64(b[j], b[j + 8]);
        a[2 * j + 1] = _mm_unpackhi_epi64(b[j], b[j + 8]);
    }
    for (int i = 0; i < 16; i++) _mm_storeu_si128((__m128i *)(to + i * to_stride), a[i]);
}
#endif

/* (pixels, C) → (C, pixels): a channels-last tensor made planar for oaip_im2col_t, in 16×16 tiles
 * where SSE2 is there and C and the pixels allow, element by element otherwise. */
void oaip_planar(const int8_t *restrict x, int8_t *restrict out, int64_t pixels, int64_t c, int threads) {
    int64_t tiled = 0;
#ifdef __SSE2__
    if (c % 16 == 0) {
        tiled = pixels / 16 * 16;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t p = 0; p < tiled; p += 16)
            for (int64_t ch = 0; ch < c; ch += 16) transpose16(x + p * c + ch, c, out + ch * pixels + p, pixels);
    }
#endif
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t p = tiled; p < pixels; p++) out[ch * pixels + p] = x[p * c + ch];
}

/* conv.int_matmul's exact product: c (m × n, row stride ldc) = a (m × kk, rows contiguous) × b, with b
 * given transposed (bt: n × kk, rows contiguous), int8 × int8 summed in int32 (the caller keeps
 * kk ≤ SAFE_K, so no sum overflows). torch._int_mm has fast kernels only where the CPU has int8 dot
 * products (AVX-512 VNNI); elsewhere (AVX2) it is about 10× slower than an fp32 product of the same
 * shape (measured on an AVX2 EPYC: 16384 × 144 × 16 in 144 ms against 13 ms). Here pairs of products
 * are summed by vpmaddwd on sign-extended int16 lanes (127·127·2 < 2^15·2^16), two rows of a by four of
 * bt at a time, so each loaded vector serves several sums. */
#if defined(__AVX2__)
#include <immintrin.h>
static inline __m256i widen16(const int8_t *p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p)); }
static inline int32_t hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}
#endif

static inline int32_t dot_tail(const int8_t *a, const int8_t *b, int64_t from, int64_t kk) {
    int32_t s = 0;
    for (int64_t k = from; k < kk; k++) s += (int32_t)a[k] * (int32_t)b[k];
    return s;
}

void oaip_int_mm(const int8_t *restrict a, const int8_t *restrict bt, int32_t *restrict c, int64_t m, int64_t n,
                 int64_t kk, int64_t ldc, int threads) {
    int64_t pairs = (m + 1) / 2;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t p = 0; p < pairs; p++) {
        int64_t i = 2 * p;
        int two = i + 1 < m;
        const int8_t *a0 = a + i * kk, *a1 = a + (i + two) * kk;
        for (int64_t j = 0; j < n; j += 4) {
            int64_t cols = n - j < 4 ? n - j : 4;
            int64_t k = 0;
            int32_t s0[4] = {0, 0, 0, 0}, s1[4] = {0, 0, 0, 0};
#if defined(__AVX2__)
            __m256i acc0[4], acc1[4];
            for (int q = 0; q < 4; q++) acc0[q] = acc1[q] = _mm256_setzero_si256();
            for (; k + 16 <= kk; k += 16) {
                __m256i x0 = widen16(a0 + k), x1 = widen16(a1 + k);
                for (int q = 0; q < cols; q++) {
                    __m256i y = widen16(bt + (j + q) * kk + k);
                    acc0[q] = _mm256_add_epi32(acc0[q], _mm256_madd_epi16(x0, y));
                    acc1[q] = _mm256_add_epi32(acc1[q], _mm256_madd_epi16(x1, y));
                }
            }
            for (int q = 0; q < cols; q++) {
                s0[q] = hsum(acc0[q]);
                s1[q] = hsum(acc1[q]);
            }
#endif
            for (int q = 0; q < cols; q++) {
                const int8_t *b = bt + (j + q) * kk;
                c[i * ldc + j + q] = s0[q] + dot_tail(a0, b, k, kk);
                if (two) c[(i + 1) * ldc + j + q] = s1[q] + dot_tail(a1, b, k, kk);
            }
        }
    }
}

/* conv.conv_accumulate's exact sums without im2col: out (N, H, W, O) int32 = the k×k convolution of
 * xp, the input zero-padded by k/2 pixels on each side, by 3 more columns on the right, and with its
 * channels padded to c4 (a multiple of 4): (N, H + k − 1, W + k + 2, c4) int8; wp holds the weights
 * packed by conv.pack_weights: (k, k, c4/4, ob, 8, 4) int8, ob = ⌈O/8⌉ rounded up to even, zeros
 * beyond O and C. Four consecutive input channels of one pixel are broadcast to every lane and
 * multiplied by 8 outputs × 4 channels of weights with vpmaddubsw (unsigned × signed bytes, pairs
 * summed in int16: 2·127·127 < 2^15, exact) and vpmaddwd by ones (int32): 32 products in two
 * instructions, four pixels by 16 outputs at a time, no column matrix written or read. vpmaddubsw
 * takes its first operand unsigned, so inputs must lie in 0…127 (ReLU outputs, |f1 − f2|) unless
 * `is_signed`, where |x| is multiplied by the weights carrying x's sign (vpabsb, vpsignb). On a CPU with int8 dot
 * products vpdpbusd does the three steps in one, the same exact int32 sums: with AVX-512 VNNI on 512-bit registers
 * (16 outputs at once), else with AVX-VNNI on 256-bit ones (bench/RESULTS.md, 0.19.6). */
#if defined(__AVXVNNI__)   /* (with AVX-512 VNNI the 512-bit loop below is taken instead) */
#define OAIP_DOT4(acc, a, v) _mm256_dpbusd_avx_epi32((acc), (a), (v))
#else
#define OAIP_DOT4(acc, a, v) _mm256_add_epi32((acc), _mm256_madd_epi16(_mm256_maddubs_epi16((a), (v)), ones))
#define OAIP_DOT4_ONES
#endif
void oaip_conv_direct(const int8_t *restrict xp, const int8_t *restrict wp, int32_t *restrict out, int64_t n,
                      int64_t h, int64_t w, int64_t c4, int64_t k, int64_t o, int is_signed, int32_t *restrict bounds,
                      int threads) {
    const int64_t hp = h + k - 1, wpad = w + k + 2, cq = c4 / 4, ob = (o + 7) / 8 + ((o + 7) / 8) % 2;
    int32_t lo = 0, hi = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : lo) reduction(max : hi)
    for (int64_t line = 0; line < n * h; line++) {
        const int64_t image = line / h, y = line % h;
        for (int64_t x = 0; x < w; x += 4) {
            for (int64_t b = 0; b < ob; b += 2) {
                int32_t sums[4][16];
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
                /* The 16 outputs of two blocks in one register: one vpdpbusd a pixel and channel quad. */
                __m512i acc[4];
                for (int p = 0; p < 4; p++) acc[p] = _mm512_setzero_si512();
                for (int64_t ky = 0; ky < k; ky++) {
                    for (int64_t kx = 0; kx < k; kx++) {
                        const int8_t *src = xp + ((image * hp + y + ky) * wpad + x + kx) * c4;
                        const int8_t *wk = wp + ((ky * k + kx) * cq * ob + b) * 32;
                        for (int64_t q = 0; q < cq; q++) {
                            const __m512i wv = _mm512_loadu_si512((const void *)(wk + q * ob * 32));
                            for (int p = 0; p < 4; p++) {
                                int32_t quad;
                                __builtin_memcpy(&quad, src + p * c4 + 4 * q, 4);
                                __m512i a = _mm512_set1_epi32(quad), v = wv;
                                if (is_signed) {   /* vpsignb has no 512-bit form: negate where x < 0 */
                                    v = _mm512_mask_sub_epi8(wv, _mm512_movepi8_mask(a), _mm512_setzero_si512(), wv);
                                    a = _mm512_abs_epi8(a);
                                }
                                acc[p] = _mm512_dpbusd_epi32(acc[p], a, v);
                            }
                        }
                    }
                }
                for (int p = 0; p < 4; p++) _mm512_storeu_si512((void *)sums[p], acc[p]);
#elif defined(__AVX2__)
#ifdef OAIP_DOT4_ONES
                const __m256i ones = _mm256_set1_epi16(1);
#endif
                __m256i acc[4][2];
                for (int p = 0; p < 4; p++) acc[p][0] = acc[p][1] = _mm256_setzero_si256();
                for (int64_t ky = 0; ky < k; ky++) {
                    for (int64_t kx = 0; kx < k; kx++) {
                        const int8_t *src = xp + ((image * hp + y + ky) * wpad + x + kx) * c4;
                        const int8_t *wk = wp + ((ky * k + kx) * cq * ob + b) * 32;
                        for (int64_t q = 0; q < cq; q++) {
                            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(wk + q * ob * 32));
                            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wk + q * ob * 32 + 32));
                            for (int p = 0; p < 4; p++) {
                                int32_t quad;
                                __builtin_memcpy(&quad, src + p * c4 + 4 * q, 4);
                                __m256i a = _mm256_set1_epi32(quad), v0 = w0, v1 = w1;
                                if (is_signed) {
                                    v0 = _mm256_sign_epi8(w0, a);
                                    v1 = _mm256_sign_epi8(w1, a);
                                    a = _mm256_abs_epi8(a);
                                }
                                acc[p][0] = OAIP_DOT4(acc[p][0], a, v0);
                                acc[p][1] = OAIP_DOT4(acc[p][1], a, v1);
                            }
                        }
                    }
                }
                for (int p = 0; p < 4; p++) {
                    _mm256_storeu_si256((__m256i *)sums[p], acc[p][0]);
                    _mm256_storeu_si256((__m256i *)(sums[p] + 8), acc[p][1]);
                }
#else
                for (int p = 0; p < 4; p++)
                    for (int j = 0; j < 16; j++) {
                        int32_t s = 0;
                        for (int64_t ky = 0; ky < k; ky++)
                            for (int64_t kx = 0; kx < k; kx++) {
                                const int8_t *src = xp + ((image * hp + y + ky) * wpad + x + p + kx) * c4;
                                for (int64_t ch = 0; ch < c4; ch++)
                                    s += (int32_t)src[ch] * wp[(((ky * k + kx) * cq + ch / 4) * ob + b + j / 8) * 32
                                                                + (j % 8) * 4 + ch % 4];
                            }
                        sums[p][j] = s;
                    }
                (void)is_signed;
#endif
                const int64_t j0 = b * 8, count = o - j0 < 16 ? o - j0 : 16;
                for (int p = 0; p < 4 && x + p < w; p++) {
                    __builtin_memcpy(out + (line * w + x + p) * o + j0, sums[p], (size_t)count * 4);
                    for (int64_t j = 0; j < count; j++) {
                        lo = sums[p][j] < lo ? sums[p][j] : lo;
                        hi = sums[p][j] > hi ? sums[p][j] : hi;
                    }
                }
            }
        }
    }
    bounds[0] = lo;
    bounds[1] = hi;
}

/* oaip_conv_direct's input: x (N, H, W, C) int8 copied into xp (N, H + 2r, W + 2r + 3, c4) with zeros
 * around it and in the padded channels. Returns whether any value is negative (the product then
 * needs vpmaddubsw's signed form). */
int oaip_pad_input(const int8_t *restrict x, int8_t *restrict xp, int64_t n, int64_t h, int64_t w, int64_t c,
                   int64_t c4, int64_t r, int threads) {
    const int64_t hp = h + 2 * r, wpad = w + 2 * r + 3;
    int negative = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(| : negative)
    for (int64_t line = 0; line < n * hp; line++) {
        const int64_t image = line / hp, y = line % hp - r;
        int8_t *o = xp + line * wpad * c4;
        if (y < 0 || y >= h) {
            zero_bytes(o, wpad * c4);
            continue;
        }
        const int8_t *src = x + (image * h + y) * w * c;
        zero_bytes(o, r * c4);
        zero_bytes(o + (r + w) * c4, (r + 3) * c4);
        int8_t *row = o + r * c4;
        int8_t low = 0;
        if (c == c4) {
            copy_bytes(row, src, w * c);
            for (int64_t i = 0; i < w * c; i++) low = src[i] < low ? src[i] : low;
        } else {
            for (int64_t i = 0; i < w; i++) {
                for (int64_t ch = 0; ch < c; ch++) {
                    row[i * c4 + ch] = src[i * c + ch];
                    low = src[i * c + ch] < low ? src[i * c + ch] : low;
                }
                for (int64_t ch = c; ch < c4; ch++) row[i * c4 + ch] = 0;
            }
        }
        negative |= low < 0;
    }
    return negative;
}
