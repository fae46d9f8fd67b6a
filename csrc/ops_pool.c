/* ops_pool.c: 2-d pooling over NCHW planes (PyTorch's max_pool2d, avg_pool2d,
 * adaptive_avg_pool2d) and the gradient op of the two averages:
 *
 *   max_pool2d(x)              y[p, a, b] = max over the window (a, b) of x[p]      x (N, C, H, W) -> (N, C, OH, OW)
 *   avg_pool2d(x)              y[p, a, b] = Σ_window x[p] / divisor(a, b)
 *   adaptive_avg_pool2d(x)     the same over PyTorch's adaptive windows
 *   avg_pool2d_input_grad(g)   dx = the transpose of either average (g (N, C, OH, OW) -> (N, C, H, W))
 *
 * Every kernel runs plane by plane (p = n·C + c), the planes split over the
 * thread pool. max_pool2d's backward finds each window's maximum again in the
 * saved input (the one PyTorch's return_indices names) and adds the upstream
 * there; its rule is a scatter_add to those offsets, whose own rule is the
 * gather (getitem) back: double backward is exact. The averages are linear:
 * each one's rule is the other one. Not here: unbatched input and argument
 * parsing (Python), interpolation (pygrad/nn/functional.py, over index_map). */
#include "rules_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* x86-64: a large output (max_pool2d's gradient, the averages and their transposes: 16 MiB or more) is built
 * plane by plane in a scratch tile that stays in the caches, then copied out with streaming stores
 * (pg__stream_copy: whole lines written without reading them first, a third less traffic for an output that
 * leaves the caches anyway). Elsewhere a plain copy. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__SSE2__)
#include <immintrin.h>
#define PG_PL_STREAM_MIN ((uint64_t)16 << 20)
/* the strided max pools' forward outputs (a quarter of the input) and indices: from 8 MiB (measured) */
#define PG_PL_STREAM_FWD_MIN ((uint64_t)8 << 20)
/* the n elements of es bytes (4 or 8) at d = the one at v (a broadcast: the transpose of a 1 x 1 average) */
static void pg__pl_fill(void *d, const void *v, size_t es, int64_t n) {
    char *dc = d, *end = dc + (size_t)n * es;
    for (; dc < end && ((uintptr_t)dc & 15); dc += es) memcpy(dc, v, es);
    char pat[16];
    for (size_t k = 0; k < 16; k += es) memcpy(pat + k, v, es);
    const __m128i vv = _mm_loadu_si128((const __m128i *)pat);
    for (; end - dc >= 64; dc += 64) {
        _mm_stream_si128((__m128i *)dc, vv);
        _mm_stream_si128((__m128i *)(dc + 16), vv);
        _mm_stream_si128((__m128i *)(dc + 32), vv);
        _mm_stream_si128((__m128i *)(dc + 48), vv);
    }
    for (; end - dc >= 16; dc += 16) _mm_stream_si128((__m128i *)dc, vv);
    for (; dc < end; dc += es) memcpy(dc, v, es);
}
#else
#define PG_PL_STREAM_MIN UINT64_MAX
#define PG_PL_STREAM_FWD_MIN UINT64_MAX
static void pg__pl_fill(void *d, const void *v, size_t es, int64_t n) {
    for (int64_t i = 0; i < n; i++) memcpy((char *)d + (size_t)i * es, v, es);
}
#endif

/* The geometry of one pooling. */
typedef struct pg_pl {
    int64_t planes, h, w;      /* input (N·C planes of H × W) */
    int64_t oh, ow;            /* output planes OH × OW */
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
    int64_t divisor;           /* avg: divisor_override, 0 when none */
    bool include_pad, adaptive;
} pg_pl;

/* PyTorch's pooling_output_shape: floor (or ceil) division, and with ceil_mode a
 * last window must start inside the input or its left padding */
static int64_t pg__pl_out(int64_t n, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
    int64_t span = n + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    if (span < 0) return 0;
    int64_t o = span / s + 1;
    if (ceil_mode && (o - 1) * s >= n + p) o--;
    return o;
}

/* checks the parameters and x's shape (N, C, H, W) for op, fills pl */
static pg_status pg__pl_plan(const char *op, pg_pl *pl, const pg_meta *x, const pg_params *p) {
    char b[PG_SHAPE_BUF];
    pg__shape_str(x->ndim, x->shape, b, sizeof b);
    if (x->ndim != 4)
        return pg__fail(PG_ERR_SHAPE, "%s: expected a 4-d input (N, C, H, W), got %s", op, b);
    if (x->shape[1] == 0 || x->shape[2] == 0 || x->shape[3] == 0)
        return pg__fail(PG_ERR_SHAPE, "%s: expected non-zero channels, height and width (only the batch may be "
                        "empty), got input %s", op, b);
    *pl = (pg_pl){.planes = pg__mul_sat(x->shape[0], x->shape[1]), .h = x->shape[2], .w = x->shape[3],
                  .adaptive = p->pool.adaptive, .include_pad = p->pool.count_include_pad,
                  .divisor = p->pool.divisor};
    const int64_t big = (int64_t)1 << 40; /* keeps the geometry's sums and products far from overflow */
    if (pl->h > big || pl->w > big)
        return pg__fail(PG_ERR_MEMORY, "%s: input %s is too large", op, b);
    if (pl->adaptive) {
        pl->oh = p->pool.out[0];
        pl->ow = p->pool.out[1];
        if (pl->oh < 1 || pl->ow < 1 || pl->oh > big || pl->ow > big)
            return pg__fail(PG_ERR_VALUE, "%s: output size (%lld, %lld) must be positive, input %s", op,
                            (long long)pl->oh, (long long)pl->ow, b);
        return PG_OK;
    }
    const int64_t *k = p->pool.kernel, *s = p->pool.stride, *pd = p->pool.pad, *d = p->pool.dilation;
    if (k[0] < 1 || k[1] < 1 || s[0] < 1 || s[1] < 1 || d[0] < 1 || d[1] < 1 || pd[0] < 0 || pd[1] < 0)
        return pg__fail(PG_ERR_VALUE, "%s: kernel (%lld, %lld), stride (%lld, %lld) and dilation (%lld, %lld) must "
                        "be positive and padding (%lld, %lld) not negative", op, (long long)k[0], (long long)k[1],
                        (long long)s[0], (long long)s[1], (long long)d[0], (long long)d[1], (long long)pd[0],
                        (long long)pd[1]);
    if (k[0] > big || k[1] > big || s[0] > big || s[1] > big || d[0] > big || d[1] > big)
        return pg__fail(PG_ERR_VALUE, "%s: kernel, stride or dilation too large", op);
    if (pd[0] > k[0] / 2 || pd[1] > k[1] / 2)
        return pg__fail(PG_ERR_VALUE, "%s: padding (%lld, %lld) should be at most half of the kernel (%lld, %lld)",
                        op, (long long)pd[0], (long long)pd[1], (long long)k[0], (long long)k[1]);
    if (p->pool.divisor < 0)
        return pg__fail(PG_ERR_VALUE, "%s: divisor_override %lld must be positive", op, (long long)p->pool.divisor);
    pl->kh = k[0], pl->kw = k[1], pl->sh = s[0], pl->sw = s[1], pl->ph = pd[0], pl->pw = pd[1];
    pl->dh = d[0], pl->dw = d[1];
    pl->oh = pg__pl_out(pl->h, pl->kh, pl->sh, pl->ph, pl->dh, p->pool.ceil_mode);
    pl->ow = pg__pl_out(pl->w, pl->kw, pl->sw, pl->pw, pl->dw, p->pool.ceil_mode);
    if (pl->oh < 1 || pl->ow < 1)
        return pg__fail(PG_ERR_SHAPE, "%s: the kernel (%lld, %lld) (dilation (%lld, %lld)) is larger than the padded "
                        "input %s (padding (%lld, %lld)): the output would be %lld x %lld", op, (long long)pl->kh,
                        (long long)pl->kw, (long long)pl->dh, (long long)pl->dw, b, (long long)pl->ph,
                        (long long)pl->pw, (long long)pl->oh, (long long)pl->ow);
    return PG_OK;
}

/* the input rows [*lo, *hi) an average's output row o reads, and its count for the divisor */
static inline int64_t pg__pl_avg_win(const pg_pl *pl, int64_t o, int dim, int64_t *lo, int64_t *hi) {
    int64_t n = dim ? pl->w : pl->h;
    if (pl->adaptive) { /* PyTorch: [floor(o·n / on), ceil((o + 1)·n / on)) */
        int64_t on = dim ? pl->ow : pl->oh;
        *lo = o * n / on;
        *hi = ((o + 1) * n + on - 1) / on;
        return *hi - *lo;
    }
    int64_t k = dim ? pl->kw : pl->kh, s = dim ? pl->sw : pl->sh, p = dim ? pl->pw : pl->ph;
    int64_t start = o * s - p, end = start + k < n + p ? start + k : n + p;
    *lo = start > 0 ? start : 0;
    *hi = end < n ? end : n;
    return pl->include_pad ? end - start : *hi - *lo;
}

/* the first input row >= 0 of a max window starting at start (dilation d) */
static inline int64_t pg__pl_first(int64_t start, int64_t d) {
    return start >= 0 ? start : start + ((-start + d - 1) / d) * d;
}

/* the output columns [*blo, *bhi) whose window (dilation 1, not adaptive) lies inside the input row:
 * b·sw - pw >= 0 and b·sw - pw + kw <= w */
static void pg__pl_interior(const pg_pl *pl, int64_t *blo, int64_t *bhi) {
    int64_t hi = pl->w + pl->pw - pl->kw >= 0 ? (pl->w + pl->pw - pl->kw) / pl->sw + 1 : 0;
    int64_t lo = (pl->pw + pl->sw - 1) / pl->sw;
    *bhi = hi < pl->ow ? hi : pl->ow;
    *blo = lo < *bhi ? lo : *bhi;
}

/* the loops below that select (max) or sum over short windows vectorise only with the AVX2 or AVX-512
 * clones (PG_CLONES; the baseline SSE2 has no blend), which must not be inlined into their callers */
#if defined(__GNUC__)
#define PG_PL_NOINLINE __attribute__((noinline))
#else
#define PG_PL_NOINLINE
#endif

typedef struct pg_pl_job {
    const pg_pl *pl;
    void *out;          /* forward: y (planes, OH, OW); backward: dx (planes, H, W) */
    const void *in;     /* forward: x; backward: the upstream (planes, OH, OW) */
    const void *x;      /* max backward: the saved input (planes, H, W) */
    int64_t *idx;       /* max indices (planes, OH, OW), or NULL */
} pg_pl_job;

/* The kernels, for float and double, over planes [lo, hi):
 *   max forward      y = max of the window (NaN wins; the first maximum on ties)
 *   max index        idx = the flat index in the plane of that element (PyTorch's: the last NaN, else the
 *                    first maximum), -1 for a window with no element inside the input
 *   max backward     dx[idx] += g
 *   avg forward      y = Σ_window x / divisor
 *   avg transpose    dx[window] += g / divisor */
#define PG_POOL_KERNELS(T, SUF)                                                                                \
    static void pg__maxpool_fwd_##SUF(void *ctx, int64_t lo, int64_t hi) {                                     \
        const pg_pl_job *j = ctx;                                                                              \
        const pg_pl pl_ = *j->pl, *pl = &pl_;                                                                             \
        for (int64_t p = lo; p < hi; p++) {                                                                    \
            const T *x = (const T *)j->in + p * pl->h * pl->w;                                                 \
            T *y = (T *)j->out + p * pl->oh * pl->ow;                                                          \
            if (pl->kh == 2 && pl->kw == 2 && pl->sh == 2 && pl->sw == 2 && pl->ph == 0 && pl->pw == 0 &&      \
                pl->dh == 1 && pl->dw == 1 && 2 * pl->ow <= pl->w && 2 * pl->oh <= pl->h) {                    \
                /* 2x2/2 without padding: every window inside the input */                                     \
                for (int64_t a = 0; a < pl->oh; a++) {                                                         \
                    const T *r0 = x + 2 * a * pl->w, *r1 = r0 + pl->w;                                         \
                    T *yr = y + a * pl->ow;                                                                    \
                    for (int64_t b = 0; b < pl->ow; b++) {                                                     \
                        T m = r0[2 * b], v = r0[2 * b + 1];                                                    \
                        m = (v > m || v != v) ? v : m;                                                         \
                        v = r1[2 * b];                                                                         \
                        m = (v > m || v != v) ? v : m;                                                         \
                        v = r1[2 * b + 1];                                                                     \
                        yr[b] = (v > m || v != v) ? v : m;                                                     \
                    }                                                                                          \
                }                                                                                              \
                continue;                                                                                      \
            }                                                                                                  \
            for (int64_t a = 0; a < pl->oh; a++) {                                                             \
                int64_t ys = a * pl->sh - pl->ph, y0 = pg__pl_first(ys, pl->dh);                               \
                int64_t y1 = ys + (pl->kh - 1) * pl->dh + 1 < pl->h ? ys + (pl->kh - 1) * pl->dh + 1 : pl->h;  \
                for (int64_t b = 0; b < pl->ow; b++) {                                                         \
                    int64_t xs = b * pl->sw - pl->pw, x0 = pg__pl_first(xs, pl->dw);                           \
                    int64_t x1 = xs + (pl->kw - 1) * pl->dw + 1 < pl->w ? xs + (pl->kw - 1) * pl->dw + 1 : pl->w; \
                    T m = (T)-INFINITY;                                                                        \
                    int nan = 0; /* branch-free: the maximum, and whether a NaN was seen */                   \
                    for (int64_t iy = y0; iy < y1; iy += pl->dh) {                                             \
                        const T *xr = x + iy * pl->w;                                                          \
                        for (int64_t ix = x0; ix < x1; ix += pl->dw) {                                         \
                            T v = xr[ix];                                                                      \
                            m = v > m ? v : m;                                                                 \
                            nan |= v != v;                                                                     \
                        }                                                                                      \
                    }                                                                                          \
                    y[a * pl->ow + b] = nan ? (T)NAN : m;                                                      \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    /* idx for planes [lo, hi) of x */                                                                         \
    static void pg__maxpool_idx_##SUF(const pg_pl *pl, int64_t *idx, const T *x, int64_t lo, int64_t hi) {     \
        for (int64_t p = lo; p < hi; p++) {                                                                    \
            const T *xp = x + p * pl->h * pl->w;                                                               \
            int64_t *ip = idx + p * pl->oh * pl->ow;                                                           \
            for (int64_t a = 0; a < pl->oh; a++) {                                                             \
                int64_t ys = a * pl->sh - pl->ph, y0 = pg__pl_first(ys, pl->dh);                               \
                int64_t y1 = ys + (pl->kh - 1) * pl->dh + 1 < pl->h ? ys + (pl->kh - 1) * pl->dh + 1 : pl->h;  \
                for (int64_t b = 0; b < pl->ow; b++) {                                                         \
                    int64_t xs = b * pl->sw - pl->pw, x0 = pg__pl_first(xs, pl->dw);                           \
                    int64_t x1 = xs + (pl->kw - 1) * pl->dw + 1 < pl->w ? xs + (pl->kw - 1) * pl->dw + 1 : pl->w; \
                    int64_t at = y0 < y1 && x0 < x1 ? y0 * pl->w + x0 : -1;                                    \
                    T m = at < 0 ? (T)0 : xp[at];                                                              \
                    for (int64_t iy = y0; iy < y1; iy += pl->dh)                                               \
                        for (int64_t ix = x0; ix < x1; ix += pl->dw) {                                         \
                            T v = xp[iy * pl->w + ix];                                                         \
                            bool take = (v > m) | (v != v); /* branch-free */                              \
                            m = take ? v : m;                                                                  \
                            at = take ? iy * pl->w + ix : at;                                                  \
                        }                                                                                      \
                    ip[a * pl->ow + b] = at;                                                                   \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    static void pg__maxpool_idx_job_##SUF(void *ctx, int64_t lo, int64_t hi) {                                 \
        const pg_pl_job *j = ctx;                                                                              \
        pg__maxpool_idx_##SUF(j->pl, j->idx, j->x, lo, hi);                                                    \
    }                                                                                                          \
    /* y = max_pool(x)  =>  dx[argmax] += g: the argmax found again in x, one plane at a time */              \
    static void pg__maxpool_bwd_##SUF(void *ctx, int64_t lo, int64_t hi) {                                     \
        const pg_pl_job *j = ctx;                                                                              \
        const pg_pl pl_ = *j->pl, *pl = &pl_;                                                                             \
        int64_t per = pl->oh * pl->ow;                                                                         \
        for (int64_t p = lo; p < hi; p++) {                                                                    \
            T *dx = (T *)j->out + p * pl->h * pl->w;                                                           \
            const T *g = (const T *)j->in + p * per;                                                           \
            memset(dx, 0, sizeof(T) * (size_t)(pl->h * pl->w));                                                \
            const T *xp = (const T *)j->x + p * pl->h * pl->w;                                                 \
            for (int64_t a = 0; a < pl->oh; a++) {                                                             \
                int64_t ys = a * pl->sh - pl->ph, y0 = pg__pl_first(ys, pl->dh);                               \
                int64_t y1 = ys + (pl->kh - 1) * pl->dh + 1 < pl->h ? ys + (pl->kh - 1) * pl->dh + 1 : pl->h;  \
                for (int64_t b = 0; b < pl->ow; b++) {                                                         \
                    int64_t xs = b * pl->sw - pl->pw, x0 = pg__pl_first(xs, pl->dw);                           \
                    int64_t x1 = xs + (pl->kw - 1) * pl->dw + 1 < pl->w ? xs + (pl->kw - 1) * pl->dw + 1 : pl->w; \
                    int64_t at = y0 < y1 && x0 < x1 ? y0 * pl->w + x0 : -1;                                    \
                    T m = at < 0 ? (T)0 : xp[at];                                                              \
                    for (int64_t iy = y0; iy < y1; iy += pl->dh)                                               \
                        for (int64_t ix = x0; ix < x1; ix += pl->dw) {                                         \
                            T v = xp[iy * pl->w + ix];                                                         \
                            bool take = (v > m) | (v != v); /* branch-free */                              \
                            m = take ? v : m;                                                                  \
                            at = take ? iy * pl->w + ix : at;                                                  \
                        }                                                                                      \
                    if (at >= 0) dx[at] += g[a * pl->ow + b];                                                  \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    static void pg__avgpool_fwd_##SUF(void *ctx, int64_t lo, int64_t hi) {                                     \
        const pg_pl_job *j = ctx;                                                                              \
        const pg_pl pl_ = *j->pl, *pl = &pl_;                                                                             \
        for (int64_t p = lo; p < hi; p++) {                                                                    \
            const T *x = (const T *)j->in + p * pl->h * pl->w;                                                 \
            T *y = (T *)j->out + p * pl->oh * pl->ow;                                                          \
            for (int64_t a = 0; a < pl->oh; a++) {                                                             \
                int64_t y0, y1, ch = pg__pl_avg_win(pl, a, 0, &y0, &y1);                                       \
                for (int64_t b = 0; b < pl->ow; b++) {                                                         \
                    int64_t x0, x1, cw = pg__pl_avg_win(pl, b, 1, &x0, &x1);                                   \
                    if (y0 >= y1 || x0 >= x1) {                                                                \
                        y[a * pl->ow + b] = 0;                                                                 \
                        continue;                                                                              \
                    }                                                                                          \
                    T s = 0;                                                                                   \
                    for (int64_t iy = y0; iy < y1; iy++) {                                                     \
                        const T *xr = x + iy * pl->w;                                                          \
                        for (int64_t ix = x0; ix < x1; ix++) s += xr[ix];                                      \
                    }                                                                                          \
                    y[a * pl->ow + b] = s / (T)(pl->divisor ? pl->divisor : ch * cw);                          \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }                                                                                                          \
    /* y = Σ_window x / div  =>  dx[window] += g / div */                                                     \
    static void pg__avgpool_bwd_##SUF(void *ctx, int64_t lo, int64_t hi) {                                     \
        const pg_pl_job *j = ctx;                                                                              \
        const pg_pl pl_ = *j->pl, *pl = &pl_;                                                                             \
        for (int64_t p = lo; p < hi; p++) {                                                                    \
            T *dx = (T *)j->out + p * pl->h * pl->w;                                                           \
            const T *g = (const T *)j->in + p * pl->oh * pl->ow;                                               \
            memset(dx, 0, sizeof(T) * (size_t)(pl->h * pl->w));                                                \
            for (int64_t a = 0; a < pl->oh; a++) {                                                             \
                int64_t y0, y1, ch = pg__pl_avg_win(pl, a, 0, &y0, &y1);                                       \
                for (int64_t b = 0; b < pl->ow; b++) {                                                         \
                    int64_t x0, x1, cw = pg__pl_avg_win(pl, b, 1, &x0, &x1);                                   \
                    T v = g[a * pl->ow + b] / (T)(pl->divisor ? pl->divisor : ch * cw);                        \
                    for (int64_t iy = y0; iy < y1; iy++) {                                                     \
                        T *dr = dx + iy * pl->w;                                                               \
                        for (int64_t ix = x0; ix < x1; ix++) dr[ix] += v;                                      \
                    }                                                                                          \
                }                                                                                              \
            }                                                                                                  \
        }                                                                                                      \
    }

PG_POOL_KERNELS(float, f32)
PG_POOL_KERNELS(double, f64)

/* Vector code for the 2x2/2 windows (GCC 12+ or clang vector extensions; the scalar loops otherwise): 8 float
 * or 4 double lanes of output columns, their input columns 2b and 2b + 1 split out of two vectors of a row by
 * shuffles, and dx's two columns per window woven back the same way. The comparisons are the scalar loop's,
 * lane by lane (v > m ordered, v != v true for NaN), so the results are the same bits. */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define PG_PL_VEC 1
typedef float pg_pl_v_f32 __attribute__((vector_size(32)));
typedef int32_t pg_pl_vi_f32 __attribute__((vector_size(32)));
typedef double pg_pl_v_f64 __attribute__((vector_size(32)));
typedef int64_t pg_pl_vi_f64 __attribute__((vector_size(32)));
#define PG_PL_INLINE static inline __attribute__((always_inline))
#define PG_PL_VL_f32 8
#define PG_PL_VL_f64 4
#define PG_PL_EVEN_f32 0, 2, 4, 6, 8, 10, 12, 14
#define PG_PL_ODD_f32 1, 3, 5, 7, 9, 11, 13, 15
#define PG_PL_LO_f32 0, 8, 1, 9, 2, 10, 3, 11
#define PG_PL_HI_f32 4, 12, 5, 13, 6, 14, 7, 15
#define PG_PL_EVEN_f64 0, 2, 4, 6
#define PG_PL_ODD_f64 1, 3, 5, 7
#define PG_PL_LO_f64 0, 4, 1, 5
#define PG_PL_HI_f64 2, 6, 3, 7
/* the rows' index vectors: float's lanes are int32 like the indices; double's (int64) are not kept */
#define PG_PL_IDX_f32 1
#define PG_PL_IDX_f64 0
#define PG_PL_IOTA2_f32 (pg_pl_vi_f32){0, 2, 4, 6, 8, 10, 12, 14}
#define PG_PL_IOTA2_f64 (pg_pl_vi_f64){0, 2, 4, 6}
#define PG_PL_STORE_IDX_f32(dst, v) memcpy((dst), &(v), sizeof(v))
#define PG_PL_STORE_IDX_f64(dst, v) ((void)(dst), (void)(v))
#define PG_PL_SHUF(a, b, idx) __builtin_shufflevector(a, b, idx)
#endif

#if defined(PG_PL_VEC)
#define PG_POOL_VEC22(T, SUF)                                                                                   \
/* max_pool2d 2x2/2 backward over output columns [0, the last whole vector) of one output row: x0, x1 the two \
 * input rows, g the upstream row, d0, d1 dx's rows; returns the first column left to the scalar loop */       \
PG_PL_INLINE int64_t pg__maxpool_bwd22_vec_##SUF(const T *x0, const T *x1, const T *g, T *d0, T *d1,          \
                                                  int64_t ow) {                                                 \
    typedef pg_pl_v_##SUF V;                                                                                     \
    typedef pg_pl_vi_##SUF I;                                                                                \
    enum { L = PG_PL_VL_##SUF };                                                                                \
    int64_t b = 0;                                                                                              \
    for (; b + L <= ow; b += L) {                                                                               \
        V p0, q0, p1, q1, gv;                                                                                   \
        memcpy(&p0, x0 + 2 * b, sizeof p0);                                                                     \
        memcpy(&q0, x0 + 2 * b + L, sizeof q0);                                                                 \
        memcpy(&p1, x1 + 2 * b, sizeof p1);                                                                     \
        memcpy(&q1, x1 + 2 * b + L, sizeof q1);                                                                 \
        memcpy(&gv, g + b, sizeof gv);                                                                          \
        V e0 = PG_PL_SHUF(p0, q0, PG_PL_EVEN_##SUF), o0 = PG_PL_SHUF(p0, q0, PG_PL_ODD_##SUF);                  \
        V e1 = PG_PL_SHUF(p1, q1, PG_PL_EVEN_##SUF), o1 = PG_PL_SHUF(p1, q1, PG_PL_ODD_##SUF);                  \
        I t1 = (o0 > e0) | (o0 != o0);                                                                          \
        V m = (V)(((I)o0 & t1) | ((I)e0 & ~t1));                                                                \
        I t2 = (e1 > m) | (e1 != e1);                                                                           \
        m = (V)(((I)e1 & t2) | ((I)m & ~t2));                                                                   \
        I t3 = (o1 > m) | (o1 != o1);                                                                           \
        I k2 = t2 & ~t3, k1 = t1 & ~t2 & ~t3, k0 = ~(t1 | t2 | t3);                                             \
        V a0 = (V)((I)gv & k0), a1 = (V)((I)gv & k1), c0 = (V)((I)gv & k2), c1 = (V)((I)gv & t3);               \
        V s;                                                                                                    \
        s = PG_PL_SHUF(a0, a1, PG_PL_LO_##SUF), memcpy(d0 + 2 * b, &s, sizeof s);                               \
        s = PG_PL_SHUF(a0, a1, PG_PL_HI_##SUF), memcpy(d0 + 2 * b + L, &s, sizeof s);                           \
        s = PG_PL_SHUF(c0, c1, PG_PL_LO_##SUF), memcpy(d1 + 2 * b, &s, sizeof s);                               \
        s = PG_PL_SHUF(c0, c1, PG_PL_HI_##SUF), memcpy(d1 + 2 * b + L, &s, sizeof s);                           \
    }                                                                                                           \
    return b;                                                                                                   \
}                                                                                                               \
/* max_pool2d's row stage at column stride 2 over the interior columns [blo, bhi) of one row: mr[b] (and ir[b], \
 * float only, when ir) over x[2b - pw + kx], kx in [0, kw), as the scalar loops. Element 2b - pw + kx is the   \
 * even lane of the pair of vectors at 2b - pw for kx = 0, else the odd lane of the pair at 2b - pw + kx - 1:  \
 * no read outside the windows. The last vector steps back to end at bhi (columns done twice, the same         \
 * values). Returns the first column left to the scalar loops: bhi, or blo when there is no whole vector. */    \
PG_PL_INLINE int64_t pg__maxsep_rows2_vec_##SUF(const T *xr, T *mr, int32_t *ir, int32_t base, int64_t blo,    \
                                                int64_t bhi, int64_t pw, int64_t kw) {                          \
    typedef pg_pl_v_##SUF V;                                                                                    \
    typedef pg_pl_vi_##SUF I;                                                                                   \
    enum { L = PG_PL_VL_##SUF };                                                                                \
    if ((ir && !PG_PL_IDX_##SUF) || bhi - blo < L || kw < 2) return blo;                                        \
    for (int64_t b0 = blo;; b0 += L) {                                                                          \
        int64_t b = b0 + L <= bhi ? b0 : bhi - L;                                                               \
        const T *p = xr + 2 * b - pw;                                                                           \
        V lo, hi;                                                                                               \
        memcpy(&lo, p, sizeof lo);                                                                              \
        memcpy(&hi, p + L, sizeof hi);                                                                          \
        V m = PG_PL_SHUF(lo, hi, PG_PL_EVEN_##SUF);                                                             \
        I at = {0}, k = {0};                                                                                    \
        if (ir) at = k = PG_PL_IOTA2_##SUF + (base + (int32_t)(2 * b - pw));                                    \
        for (int64_t kx = 1; kx < kw; kx++) {                                                                   \
            if (kx > 1) {                                                                                       \
                memcpy(&lo, p + kx - 1, sizeof lo);                                                             \
                memcpy(&hi, p + kx - 1 + L, sizeof hi);                                                         \
            }                                                                                                   \
            V v = PG_PL_SHUF(lo, hi, PG_PL_ODD_##SUF);                                                          \
            I t = (v > m) | (v != v);                                                                           \
            m = (V)(((I)v & t) | ((I)m & ~t));                                                                  \
            if (ir) {                                                                                           \
                k += 1;                                                                                         \
                at = (k & t) | (at & ~t);                                                                       \
            }                                                                                                   \
        }                                                                                                       \
        memcpy(mr + b, &m, sizeof m);                                                                           \
        if (ir) PG_PL_STORE_IDX_##SUF(ir + b, at);                                                              \
        if (b + L >= bhi) return bhi;                                                                           \
    }                                                                                                           \
}                                                                                                               \
/* max_pool2d's column stage for windows of three rows m0, m1, m2 over columns [0, ow): the forward's yr[b]      \
 * (NaN as the direct kernel writes it) when yr, else at[b] from the rows' indices i0, i1, i2 (float only);    \
 * the scalar loop's comparisons lane by lane; the last vector steps back to end at ow. Returns the first      \
 * column left to the scalar loop: ow, or 0 when there is no whole vector. */                                  \
PG_PL_INLINE int64_t pg__maxsep_col3_vec_##SUF(const T *m0, const T *m1, const T *m2, const int32_t *i0,       \
                                               const int32_t *i1, const int32_t *i2, T *yr, int32_t *at,       \
                                               int64_t ow) {                                                   \
    typedef pg_pl_v_##SUF V;                                                                                   \
    typedef pg_pl_vi_##SUF I;                                                                                  \
    enum { L = PG_PL_VL_##SUF };                                                                               \
    if ((!yr && !PG_PL_IDX_##SUF) || ow < L) return 0;                                                         \
    const V nanv = (V){0} + (T)NAN;                                                                            \
    for (int64_t b0 = 0;; b0 += L) {                                                                           \
        int64_t b = b0 + L <= ow ? b0 : ow - L;                                                                \
        V m, v;                                                                                                \
        memcpy(&m, m0 + b, sizeof m);                                                                          \
        memcpy(&v, m1 + b, sizeof v);                                                                          \
        I t1 = (v > m) | (v != v);                                                                             \
        m = (V)(((I)v & t1) | ((I)m & ~t1));                                                                   \
        memcpy(&v, m2 + b, sizeof v);                                                                          \
        I t2 = (v > m) | (v != v);                                                                             \
        if (yr) {                                                                                              \
            m = (V)(((I)v & t2) | ((I)m & ~t2));                                                               \
            I n = m != m;                                                                                      \
            m = (V)(((I)nanv & n) | ((I)m & ~n));                                                              \
            memcpy(yr + b, &m, sizeof m);                                                                      \
        } else {                                                                                               \
            I k0, k1, k2;                                                                                      \
            memcpy(&k0, i0 + b, sizeof k0);                                                                    \
            memcpy(&k1, i1 + b, sizeof k1);                                                                    \
            memcpy(&k2, i2 + b, sizeof k2);                                                                    \
            I k = (k1 & t1) | (k0 & ~t1);                                                                      \
            k = (k2 & t2) | (k & ~t2);                                                                         \
            PG_PL_STORE_IDX_##SUF(at + b, k);                                                                  \
        }                                                                                                      \
        if (b + L >= ow) return ow;                                                                            \
    }                                                                                                          \
}                                                                                                              \
/* avg_pool2d 2x2/2 backward over the same columns: dx's four elements of window b = 0 + g[b] / div */         \
PG_PL_INLINE int64_t pg__avgpool_bwd22_vec_##SUF(const T *g, T div, T *d0, T *d1, int64_t ow) {               \
    typedef pg_pl_v_##SUF V;                                                                                     \
    enum { L = PG_PL_VL_##SUF };                                                                                \
    int64_t b = 0;                                                                                              \
    for (; b + L <= ow; b += L) {                                                                               \
        V gv;                                                                                                   \
        memcpy(&gv, g + b, sizeof gv);                                                                          \
        V u = (V){0} + gv / div;                                                                                \
        V lo = PG_PL_SHUF(u, u, PG_PL_LO_##SUF), hi = PG_PL_SHUF(u, u, PG_PL_HI_##SUF);                         \
        memcpy(d0 + 2 * b, &lo, sizeof lo);                                                                     \
        memcpy(d0 + 2 * b + L, &hi, sizeof hi);                                                                 \
        memcpy(d1 + 2 * b, &lo, sizeof lo);                                                                     \
        memcpy(d1 + 2 * b + L, &hi, sizeof hi);                                                                 \
    }                                                                                                           \
    return b;                                                                                                   \
}
#else
#define PG_POOL_VEC22(T, SUF)                                                                                   \
static inline int64_t pg__maxpool_bwd22_vec_##SUF(const T *x0, const T *x1, const T *g, T *d0, T *d1,          \
                                                  int64_t ow) {                                                 \
    (void)x0, (void)x1, (void)g, (void)d0, (void)d1, (void)ow;                                                  \
    return 0;                                                                                                   \
}                                                                                                               \
static inline int64_t pg__maxsep_rows2_vec_##SUF(const T *xr, T *mr, int32_t *ir, int32_t base, int64_t blo,   \
                                                 int64_t bhi, int64_t pw, int64_t kw) {                         \
    (void)xr, (void)mr, (void)ir, (void)base, (void)bhi, (void)pw, (void)kw;                                    \
    return blo;                                                                                                 \
}                                                                                                               \
static inline int64_t pg__maxsep_col3_vec_##SUF(const T *m0, const T *m1, const T *m2, const int32_t *i0,      \
                                                const int32_t *i1, const int32_t *i2, T *yr, int32_t *at,      \
                                                int64_t ow) {                                                  \
    (void)m0, (void)m1, (void)m2, (void)i0, (void)i1, (void)i2, (void)yr, (void)at, (void)ow;                  \
    return 0;                                                                                                  \
}                                                                                                              \
static inline int64_t pg__avgpool_bwd22_vec_##SUF(const T *g, T div, T *d0, T *d1, int64_t ow) {               \
    (void)g, (void)div, (void)d0, (void)d1, (void)ow;                                                           \
    return 0;                                                                                                   \
}
#endif
PG_POOL_VEC22(float, f32)
PG_POOL_VEC22(double, f64)

/* avg_pool2d with stride 1 and an output the size of its input (kernel 2·pad + 1 both ways, below 16), float,
 * with AVX-512 when the CPU has it: one pass over each plane, row by row, 16 columns per vector. The forward
 * keeps the row sums of the last kh input rows in a ring and sums a window's rows from there; the transpose
 * keeps u = dy / div of the last kh rows, sums them down and then across, in registers. The loads that reach past a row's ends are masked (zeros there), and a row past the plane's top or
 * bottom is a row of zeros, so the sums are the separable kernels' in their order, the same bits: the forward
 * Σ_rows (0 + Σ_cols x), the transpose Σ_cols (0 + Σ_rows u), each from 0 ascending; a zero before a window's
 * first element adds nothing (0 + 0 = 0), and one after it neither, since no such partial sum is -0. Only
 * which NaN a sum of two NaNs returns (x86: its first operand's) may differ: the portable loops leave the
 * order of the operands to the compiler; here the accumulator comes first (the plain intrinsic lets the
 * compiler swap them, hence pg__add32). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#include <immintrin.h>
#define PG_PL_AVX512 __attribute__((target("avx512f")))
#define pg__add32(a, b) _mm512_add_round_ps((a), (b), _MM_FROUND_CUR_DIRECTION)
static inline __mmask16 pg__max32_mask(int64_t n) { return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }
/* scratch of one call: the ring (kh rows of ws = 16·⌈W / 16⌉ floats), a row of zeros, and per vector j of a
 * row its lanes inside the row, then for each kx the lanes whose x[16j + lane + kx - pw] lies inside it */
typedef struct pg_avg32 {
    int64_t ws, nv;
    float *ring, *zero;
    __mmask16 *mk;
} pg_avg32;
/* one plane: bwd false: o = y (H, W), in = x; bwd true: o = dx, in = dy; dv the divisors (H, W) */
PG_PL_AVX512 static inline __attribute__((always_inline)) void
pg__avg32_plane(const pg_pl *pl, int kh, int kw, bool bwd, const pg_avg32 *s, const float *restrict dv,
                float *restrict o, const float *restrict in) {
    const int64_t h = pl->h, w = pl->w, ph = (kh - 1) / 2, pw = (kw - 1) / 2, ws = s->ws, nv = s->nv; /* k = 2·pad + 1 */
    const __m512 ones = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int64_t iy = 0, a = -ph; a < h; a++) {
        for (; iy < h && iy <= a + ph; iy++) { /* the next input row into the ring */
            float *r = s->ring + (iy % kh) * ws;
            const float *xr = in + iy * w, *dr = dv + iy * w;
            for (int64_t j = 0; j < nv; j++) {
                const __mmask16 *m = s->mk + j * (kw + 1);
                __m512 v = zero;
                _mm_prefetch((const char *)(xr + 16 * j + 512), _MM_HINT_T0); /* 2 KiB ahead: ~10% faster */
                if (bwd) /* u = dy / div (zero past the row's end) */
                    v = _mm512_div_ps(_mm512_maskz_loadu_ps(m[0], xr + 16 * j),
                                      _mm512_mask_loadu_ps(ones, m[0], dr + 16 * j));
                else /* 0 + Σ_cols x */
                    for (int kx = 0; kx < kw; kx++)
                        v = pg__add32(v, _mm512_maskz_loadu_ps(m[1 + kx], xr + 16 * j + kx - pw));
                _mm512_storeu_ps(r + 16 * j, v);
            }
        }
        if (a < 0) continue;
        const float *rp[15]; /* the window's rows, zeros outside the plane */
        for (int ky = 0; ky < kh; ky++) {
            int64_t r = a + ky - ph;
            rp[ky] = r >= 0 && r < h ? s->ring + (r % kh) * ws : s->zero;
        }
        float *orow = o + a * w;
        if (!bwd) {
            const float *dr = dv + a * w;
            for (int64_t j = 0; j < nv; j++) {
                __m512 acc = zero;
                for (int ky = 0; ky < kh; ky++) acc = pg__add32(acc, _mm512_loadu_ps(rp[ky] + 16 * j));
                const __mmask16 m = s->mk[j * (kw + 1)];
                _mm512_mask_storeu_ps(orow + 16 * j, m, _mm512_div_ps(acc, _mm512_mask_loadu_ps(ones, m, dr + 16 * j)));
            }
            continue;
        }
        /* t = 0 + Σ_rows u, three vectors of it in registers (zero before the row and after it: u is zero past
         * its end); dx = 0 + Σ_cols t, each shifted t made of two of them (a load of t through memory would wait
         * for the stores just made) */
        __m512 tp = zero, tc = zero, tn = zero;
        for (int ky = 0; ky < kh; ky++) tc = pg__add32(tc, _mm512_loadu_ps(rp[ky]));
        for (int64_t j = 0; j < nv; j++) {
            tn = zero;
            if (j + 1 < nv)
                for (int ky = 0; ky < kh; ky++) tn = pg__add32(tn, _mm512_loadu_ps(rp[ky] + 16 * (j + 1)));
            __m512 acc = zero;
            for (int kx = 0; kx < kw; kx++) {
                const int sh = kx - pw;
                const __m512i ix = _mm512_add_epi32(lane, _mm512_set1_epi32(sh < 0 ? 16 + sh : sh));
                acc = pg__add32(acc, sh < 0 ? _mm512_permutex2var_ps(tp, ix, tc)
                                     : sh > 0 ? _mm512_permutex2var_ps(tc, ix, tn) : tc);
            }
            _mm512_mask_storeu_ps(orow + 16 * j, s->mk[j * (kw + 1)], acc);
            tp = tc, tc = tn;
        }
    }
}
/* planes [lo, hi) of the average (bwd false) or its transpose (bwd true) when the geometry fits and the
 * scratch can be had: false otherwise (the caller goes on). dv: the divisors of one plane */
PG_PL_AVX512 static bool pg__avgsame_f32(const pg_pl *pl, bool bwd, const float *dv, void *out, const void *in,
                                         int64_t lo, int64_t hi) {
    const int64_t h = pl->h, w = pl->w, kw = pl->kw, pw = pl->pw;
    if (pl->adaptive || pl->sh != 1 || pl->sw != 1 || pl->oh != h || pl->ow != w || pl->kh > 15 || kw > 15 ||
        h * w >= ((int64_t)1 << 31) || !__builtin_cpu_supports("avx512f"))
        return false;
    pg_avg32 s = {.nv = (w + 15) / 16};
    s.ws = 16 * s.nv;
    /* a large output: each plane built in a tile that stays in the caches, then streamed out */
    const bool stream = (uint64_t)pl->planes * (uint64_t)(h * w) * sizeof(float) >= PG_PL_STREAM_MIN &&
                        h * w * (int64_t)sizeof(float) <= ((int64_t)1 << 18);
    const size_t nf = (size_t)((pl->kh + 1) * s.ws), nt = stream ? (size_t)(h * w) : 0;
    char *buf = malloc(sizeof(float) * (nf + nt) + sizeof(__mmask16) * (size_t)(s.nv * (kw + 1)));
    if (!buf) return false;
    s.ring = (float *)buf, s.zero = s.ring + pl->kh * s.ws;
    float *tile = stream ? s.zero + s.ws : NULL;
    s.mk = (__mmask16 *)(s.zero + s.ws + nt);
    memset(s.zero, 0, sizeof(float) * (size_t)s.ws);
    for (int64_t j = 0; j < s.nv; j++) {
        __mmask16 *m = s.mk + j * (kw + 1);
        m[0] = pg__max32_mask(w - 16 * j);
        for (int64_t kx = 0; kx < kw; kx++) { /* lanes l with 0 <= 16j + l + kx - pw < W */
            int64_t c = 16 * j + kx - pw;
            m[1 + kx] = (__mmask16)(pg__max32_mask(w - c) & (c >= 0 ? 0xffff : (0xffff << -c)));
        }
    }
    for (int64_t p = lo; p < hi; p++) {
        float *o = (float *)out + p * h * w, *d = tile ? tile : o;
        const float *x = (const float *)in + p * h * w;
        if (pl->kh == 3 && kw == 3) pg__avg32_plane(pl, 3, 3, bwd, &s, dv, d, x);
        else pg__avg32_plane(pl, (int)pl->kh, (int)kw, bwd, &s, dv, d, x);
        if (tile) pg__stream_copy(o, tile, sizeof(float) * (size_t)(h * w));
    }
    if (tile) pg__stream_fence();
    free(buf);
    return true;
}
/* max_pool2d 2x2/2 backward, one output row of float, AVX-512: 16 windows per vector, the row's last ones
 * under masks (nothing read or written past the row); x0, x1 the window's input rows, g the upstream row,
 * d0, d1 dx's rows. The comparisons of the portable loops (take v when v > m or v is NaN), lane by lane:
 * dy at the window's first maximum (or last NaN), +0 beside it, the same bits. */
static bool pg__max22_avx512(void) { return __builtin_cpu_supports("avx512f"); }
PG_PL_AVX512 static void pg__max22_bwd_row32(const float *x0, const float *x1, const float *g, float *d0, float *d1,
                                              int64_t ow) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int64_t b = 0; b < ow; b += 16) {
        const int64_t n = ow - b < 16 ? ow - b : 16;
        const __mmask16 m = pg__max32_mask(n), ml = pg__max32_mask(2 * n), mh = pg__max32_mask(2 * n - 16);
        __m512 p0 = _mm512_maskz_loadu_ps(ml, x0 + 2 * b), q0 = _mm512_maskz_loadu_ps(mh, x0 + 2 * b + 16);
        __m512 p1 = _mm512_maskz_loadu_ps(ml, x1 + 2 * b), q1 = _mm512_maskz_loadu_ps(mh, x1 + 2 * b + 16);
        __m512 e0 = _mm512_permutex2var_ps(p0, ev, q0), o0 = _mm512_permutex2var_ps(p0, od, q0);
        __m512 e1 = _mm512_permutex2var_ps(p1, ev, q1), o1 = _mm512_permutex2var_ps(p1, od, q1);
        __m512 gv = _mm512_maskz_loadu_ps(m, g + b);
        __mmask16 t1 = _mm512_cmp_ps_mask(o0, e0, _CMP_GT_OQ) | _mm512_cmp_ps_mask(o0, o0, _CMP_UNORD_Q);
        __m512 mx = _mm512_mask_mov_ps(e0, t1, o0);
        __mmask16 t2 = _mm512_cmp_ps_mask(e1, mx, _CMP_GT_OQ) | _mm512_cmp_ps_mask(e1, e1, _CMP_UNORD_Q);
        mx = _mm512_mask_mov_ps(mx, t2, e1);
        __mmask16 t3 = _mm512_cmp_ps_mask(o1, mx, _CMP_GT_OQ) | _mm512_cmp_ps_mask(o1, o1, _CMP_UNORD_Q);
        __mmask16 k2 = t2 & ~t3, k1 = t1 & ~t2 & ~t3, k0 = ~(t1 | t2 | t3);
        __m512 a0 = _mm512_maskz_mov_ps(k0, gv), a1 = _mm512_maskz_mov_ps(k1, gv);
        __m512 c0 = _mm512_maskz_mov_ps(k2, gv), c1 = _mm512_maskz_mov_ps(t3, gv);
        _mm512_mask_storeu_ps(d0 + 2 * b, ml, _mm512_permutex2var_ps(a0, lo, a1));
        _mm512_mask_storeu_ps(d0 + 2 * b + 16, mh, _mm512_permutex2var_ps(a0, hi, a1));
        _mm512_mask_storeu_ps(d1 + 2 * b, ml, _mm512_permutex2var_ps(c0, lo, c1));
        _mm512_mask_storeu_ps(d1 + 2 * b + 16, mh, _mm512_permutex2var_ps(c0, hi, c1));
    }
}
/* max_pool2d 2x2/2 forward, one output row of float, AVX-512, as the backward's rows above: y[b] the window's
 * maximum by the portable loop's comparisons (NaN: the last one), the same bits; the input 2 KiB ahead */
PG_PL_AVX512 static void pg__max22_fwd_row32(const float *x0, const float *x1, float *y, int64_t ow) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t b = 0; b < ow; b += 16) {
        const int64_t n = ow - b < 16 ? ow - b : 16;
        const __mmask16 m = pg__max32_mask(n), ml = pg__max32_mask(2 * n), mh = pg__max32_mask(2 * n - 16);
        _mm_prefetch((const char *)(x0 + 2 * b + 512), _MM_HINT_T0);
        _mm_prefetch((const char *)(x1 + 2 * b + 512), _MM_HINT_T0);
        __m512 p0 = _mm512_maskz_loadu_ps(ml, x0 + 2 * b), q0 = _mm512_maskz_loadu_ps(mh, x0 + 2 * b + 16);
        __m512 p1 = _mm512_maskz_loadu_ps(ml, x1 + 2 * b), q1 = _mm512_maskz_loadu_ps(mh, x1 + 2 * b + 16);
        __m512 mx = _mm512_permutex2var_ps(p0, ev, q0), v = _mm512_permutex2var_ps(p0, od, q0);
        mx = _mm512_mask_mov_ps(mx, _mm512_cmp_ps_mask(v, mx, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
        v = _mm512_permutex2var_ps(p1, ev, q1);
        mx = _mm512_mask_mov_ps(mx, _mm512_cmp_ps_mask(v, mx, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
        v = _mm512_permutex2var_ps(p1, od, q1);
        mx = _mm512_mask_mov_ps(mx, _mm512_cmp_ps_mask(v, mx, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
        _mm512_mask_storeu_ps(y + b, m, mx);
    }
}
/* the average of whole float planes (adaptive 1 x 1 and the like) over planes [lo, hi), AVX2, for rows of a
 * multiple of 8 columns, 16 or more: y[p] = (0 + Σ_rows s_r) / div, each row's s_r pg__rowsum_f32's (eight
 * partial sums a_k = 0 + x[k] + x[k + 8] + ..., then ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))), the
 * rows ascending: the separable path's sums in its order, the same bits. Eight rows' partial sums at a time,
 * reduced together by three rounds of pairwise additions; the input prefetched 2 KiB ahead. */
static bool pg__gap32_ok(const pg_pl *pl) {
    return pl->w >= 16 && pl->w % 8 == 0 && __builtin_cpu_supports("avx2");
}
__attribute__((target("avx2"))) static void pg__gap32(float *y, const float *x, int64_t h, int64_t w, float div,
                                                      int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; p++) {
        const float *xp = x + p * h * w, *pf = xp + 512;
        float tot = 0;
        int64_t r = 0;
        for (; r + 8 <= h; r += 8) {
            __m256 a[8];
            for (int k = 0; k < 8; k++) {
                const float *xr = xp + (r + k) * w;
                for (; pf < xr + w + 512; pf += 16) _mm_prefetch((const char *)pf, _MM_HINT_T0);
                __m256 acc = _mm256_setzero_ps();
                for (int64_t i = 0; i < w; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(xr + i));
                a[k] = acc;
            }
            /* [r0: 01 23, r1: 01 23 | r0: 45 67, r1: 45 67] ... then [r0..r3: 0123 | r0..r3: 4567] */
            __m256 q0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
            __m256 q1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
            __m256 sv = _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
            float sr[8];
            _mm256_storeu_ps(sr, sv);
            for (int k = 0; k < 8; k++) tot += sr[k];
        }
        for (; r < h; r++) {
            const float *xr = xp + r * w;
            __m256 acc = _mm256_setzero_ps();
            for (int64_t i = 0; i < w; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(xr + i));
            float a[8];
            _mm256_storeu_ps(a, acc);
            tot += ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        }
        y[p] = tot / div;
    }
}
#else
static bool pg__avgsame_f32(const pg_pl *pl, bool bwd, const float *dv, void *out, const void *in, int64_t lo,
                            int64_t hi) {
    return (void)pl, (void)bwd, (void)dv, (void)out, (void)in, (void)lo, (void)hi, false;
}
static bool pg__max22_avx512(void) { return false; }
static void pg__max22_bwd_row32(const float *x0, const float *x1, const float *g, float *d0, float *d1, int64_t ow) {
    (void)x0, (void)x1, (void)g, (void)d0, (void)d1, (void)ow;
}
static void pg__max22_fwd_row32(const float *x0, const float *x1, float *y, int64_t ow) {
    (void)x0, (void)x1, (void)y, (void)ow;
}
static bool pg__gap32_ok(const pg_pl *pl) { return (void)pl, false; }
static void pg__gap32(float *y, const float *x, int64_t h, int64_t w, float div, int64_t lo, int64_t hi) {
    (void)y, (void)x, (void)h, (void)w, (void)div, (void)lo, (void)hi;
}
#endif
static bool pg__avgsame_f64(const pg_pl *pl, bool bwd, const double *dv, void *out, const void *in, int64_t lo,
                            int64_t hi) {
    return (void)pl, (void)bwd, (void)dv, (void)out, (void)in, (void)lo, (void)hi, false;
}

#define PG_POOL_FAST(T, SUF)                                                                                                           \
/* Σ x[0, n): eight partial sums for long rows (the compiler keeps them in vector lanes) */                                            \
static inline T pg__rowsum_##SUF(const T *x, int64_t n) {                                                                              \
    if (n < 16) {                                                                                                                      \
        T s = 0;                                                                                                                       \
        for (int64_t i = 0; i < n; i++) s += x[i];                                                                                     \
        return s;                                                                                                                      \
    }                                                                                                                                  \
    T acc[8] = {0};                                                                                                                    \
    int64_t i = 0;                                                                                                                     \
    for (; i + 8 <= n; i += 8)                                                                                                         \
        for (int k = 0; k < 8; k++) acc[k] += x[i + k];                                                                                \
    T s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));                                           \
    for (; i < n; i++) s += x[i];                                                                                                      \
    return s;                                                                                                                          \
}                                                                                                                                      \
/* the averages, separable: a window sum is a sum over rows of sums over columns. win: the row windows                                 \
 * r0, r1, rc [OH] then the column windows c0, c1, cc [OW]; t: (H, OW) scratch of one plane */                                         \
PG_CLONES PG_PL_NOINLINE static void pg__avgpool_sep_fwd_##SUF(const pg_pl *plp, const int64_t *win, const T *dv, T *t, T *y, const T *x) {                                   \
    const pg_pl pl_ = *plp, *pl = &pl_; /* a local copy: the stores cannot alias it */                                                      \
    const int64_t *r0 = win, *r1 = r0 + pl->oh, *rc = r1 + pl->oh;                                                                     \
    const int64_t *c0 = rc + pl->oh, *c1 = c0 + pl->ow, *cc = c1 + pl->ow;                                                             \
    int64_t blo = 0, bhi = 0; /* short windows inside the row: a loop over b per column of the window */                           \
    if (!pl->adaptive && pl->kw < 16) pg__pl_interior(pl, &blo, &bhi);                                                                 \
    /* stride 1 with OW == W: the interior columns of every row in one run over the plane (what lands in the                           \
     * border columns is overwritten by the row loop); the same sums in the same order */                                              \
    const bool flat = !pl->adaptive && pl->sw == 1 && pl->ow == pl->w && blo < bhi;                                                    \
    if (flat) {                                                                                                                        \
        const int64_t n = (pl->h - 1) * pl->w + bhi, pw = pl->pw;                                                                      \
        if (pl->kw == 3)                                                                                                               \
            for (int64_t i = blo; i < n; i++) t[i] = (((T)0 + x[i - pw]) + x[i - pw + 1]) + x[i - pw + 2];                             \
        else {                                                                                                                         \
            for (int64_t i = blo; i < n; i++) t[i] = (T)0 + x[i - pw];                                                                 \
            for (int64_t kx = 1; kx < pl->kw; kx++)                                                                                    \
                for (int64_t i = blo; i < n; i++) t[i] += x[i - pw + kx];                                                              \
        }                                                                                                                              \
    }                                                                                                                                  \
    for (int64_t iy = 0; iy < pl->h; iy++) {                                                                                           \
        const T *restrict xr = x + iy * pl->w;                                                                                         \
        T *restrict tr = t + iy * pl->ow;                                                                                              \
        for (int64_t b = 0; b < blo; b++) tr[b] = pg__rowsum_##SUF(xr + c0[b], c1[b] - c0[b]);                                         \
        for (int64_t b = bhi; b < pl->ow; b++) tr[b] = pg__rowsum_##SUF(xr + c0[b], c1[b] - c0[b]);                                    \
        if (flat) continue;                                                                                                            \
        /* the same sums in the same order as pg__rowsum's short rows: 0 + x0 + x1 + ... */                                            \
        if (pl->sw == 1) { /* contiguous: vector loads at every offset */                                                              \
            const T *restrict xp = xr - pl->pw;                                                                                        \
            if (pl->kw == 3) {                                                                                                         \
                for (int64_t b = blo; b < bhi; b++) tr[b] = (((T)0 + xp[b]) + xp[b + 1]) + xp[b + 2];                                  \
                continue;                                                                                                              \
            }                                                                                                                          \
            for (int64_t b = blo; b < bhi; b++) tr[b] = (T)0 + xp[b];                                                                  \
            for (int64_t kx = 1; kx < pl->kw; kx++)                                                                                    \
                for (int64_t b = blo; b < bhi; b++) tr[b] += xp[b + kx];                                                               \
            continue;                                                                                                                  \
        }                                                                                                                              \
        for (int64_t b = blo; b < bhi; b++) tr[b] = (T)0 + xr[b * pl->sw - pl->pw];                                                    \
        for (int64_t kx = 1; kx < pl->kw; kx++)                                                                                        \
            for (int64_t b = blo; b < bhi; b++) tr[b] += xr[b * pl->sw - pl->pw + kx];                                                 \
    }                                                                                                                                  \
    T *restrict acc = t + pl->h * pl->ow; /* (OW): one output row's sums */                                                            \
    /* stride 1, three rows: the output rows whose window rows all lie inside the input, [ph, H + ph - 2), in                          \
     * one run (output element i sums t[i - ph·OW], the next row, the one after) */                                                    \
    int64_t alo = pl->ph, ahi = pl->h + pl->ph - pl->kh + 1 < pl->oh ? pl->h + pl->ph - pl->kh + 1 : pl->oh;                           \
    if (!dv || pl->adaptive || pl->sh != 1 || pl->kh != 3 || alo >= ahi) alo = ahi = pl->oh;                                           \
    else {                                                                                                                             \
        const int64_t ow = pl->ow, off = pl->ph * ow;                                                                                  \
        for (int64_t i = alo * ow; i < ahi * ow; i++)                                                                                  \
            y[i] = ((((T)0 + t[i - off]) + t[i - off + ow]) + t[i - off + 2 * ow]) / dv[i];                                             \
    }                                                                                                                                  \
    for (int64_t a = 0; a < pl->oh; a++) {                                                                                             \
        if (a == alo) {                                                                                                                \
            a = ahi - 1;                                                                                                               \
            continue;                                                                                                                  \
        }                                                                                                                              \
        T *restrict yr = y + a * pl->ow;                                                                                               \
        if (dv) { /* every window holds an element: y written once, the divisions vectorised */                                        \
            const T *restrict dr = dv + a * pl->ow, *restrict t0 = t + r0[a] * pl->ow;                                                 \
            for (int64_t b = 0; b < pl->ow; b++) acc[b] = (T)0 + t0[b];                                                                \
            for (int64_t iy = r0[a] + 1; iy < r1[a]; iy++) {                                                                           \
                const T *restrict tr = t + iy * pl->ow;                                                                                \
                for (int64_t b = 0; b < pl->ow; b++) acc[b] += tr[b];                                                                  \
            }                                                                                                                          \
            for (int64_t b = 0; b < pl->ow; b++) yr[b] = acc[b] / dr[b];                                                               \
            continue;                                                                                                                  \
        }                                                                                                                              \
        for (int64_t b = 0; b < pl->ow; b++) yr[b] = 0;                                                                                \
        for (int64_t iy = r0[a]; iy < r1[a]; iy++) {                                                                                   \
            const T *tr = t + iy * pl->ow;                                                                                             \
            PG_IVDEP                                                                                                                   \
            for (int64_t b = 0; b < pl->ow; b++) yr[b] += tr[b];                                                                       \
        }                                                                                                                              \
        for (int64_t b = 0; b < pl->ow; b++)                                                                                           \
            yr[b] = (r0[a] >= r1[a] || c0[b] >= c1[b]) ? (T)0 : yr[b] / (T)(pl->divisor ? pl->divisor : rc[a] * cc[b]);                \
    }                                                                                                                                  \
}                                                                                                                                      \
/* y = Σ_rows Σ_cols x / div  =>  t[iy, b] = Σ_{a: iy in rows(a)} dy[a, b] / div(a, b), dx[iy, ix] = Σ_{b: ix in cols(b)} t[iy, b] */  \
PG_CLONES PG_PL_NOINLINE static void pg__avgpool_sep_bwd_##SUF(const pg_pl *plp, const int64_t *win, const T *dv, bool disjoint, T *t, T *dx, const T *g) {                                  \
    const pg_pl pl_ = *plp, *pl = &pl_; /* a local copy: the stores cannot alias it */                                                      \
    const int64_t *r0 = win, *r1 = r0 + pl->oh, *rc = r1 + pl->oh;                                                                     \
    const int64_t *c0 = rc + pl->oh, *c1 = c0 + pl->ow, *cc = c1 + pl->ow;                                                             \
    T *u = t + pl->h * pl->ow; /* (OW): one row of dy / div */                                                                         \
    /* 3x3 windows at stride 1 with OW == W: U = dy / div over the plane, t's rows then gathered (row iy sums                          \
     * U's rows iy + ph - 2, iy + ph - 1, iy + ph inside [0, OH), ascending: the order of the loop below), the                         \
     * rows with all three in one run; dx's interior columns likewise in one run over the plane below */                               \
    const bool flat = dv && !pl->adaptive && pl->sh == 1 && pl->sw == 1 && pl->kh == 3 && pl->kw == 3 &&                               \
                      pl->ow == pl->w;                                                                                                 \
    if (flat) {                                                                                                                        \
        const int64_t ow = pl->ow, oh = pl->oh, ph = pl->ph;                                                                           \
        T *restrict uu = t + (pl->h + 1) * ow;                                                                                         \
        for (int64_t i = 0; i < oh * ow; i++) uu[i] = g[i] / dv[i];                                                                    \
        int64_t ylo = 2 - ph > 0 ? 2 - ph : 0, yhi = oh - ph < pl->h ? oh - ph : pl->h;                                                \
        if (ylo > yhi) ylo = yhi;                                                                                                      \
        for (int64_t i = ylo * ow; i < yhi * ow; i++)                                                                                  \
            t[i] = (((T)0 + uu[i + (ph - 2) * ow]) + uu[i + (ph - 1) * ow]) + uu[i + ph * ow];                                         \
        for (int64_t iy = 0; iy < pl->h; iy++) {                                                                                       \
            if (iy == ylo) iy = yhi;                                                                                                   \
            if (iy >= pl->h) break;                                                                                                    \
            T *restrict tr = t + iy * ow;                                                                                              \
            for (int64_t b = 0; b < ow; b++) tr[b] = 0;                                                                                \
            for (int64_t a = iy + ph - 2 > 0 ? iy + ph - 2 : 0; a <= iy + ph && a < oh; a++)                                           \
                for (int64_t b = 0; b < ow; b++) tr[b] += uu[a * ow + b];                                                              \
        }                                                                                                                              \
    } else                                                                                                                             \
        memset(t, 0, sizeof(T) * (size_t)(pl->h * pl->ow));                                                                            \
    for (int64_t a = 0; a < (flat ? 0 : pl->oh); a++) {                                                                                \
        if (dv)                                                                                                                        \
            for (int64_t b = 0; b < pl->ow; b++) u[b] = g[a * pl->ow + b] / dv[a * pl->ow + b];                                        \
        else                                                                                                                           \
            for (int64_t b = 0; b < pl->ow; b++) u[b] = g[a * pl->ow + b] / (T)(pl->divisor ? pl->divisor : rc[a] * cc[b]);            \
        for (int64_t iy = r0[a]; iy < r1[a]; iy++) {                                                                                   \
            T *tr = t + iy * pl->ow;                                                                                                   \
            PG_IVDEP                                                                                                                   \
            for (int64_t b = 0; b < pl->ow; b++) tr[b] += u[b];                                                                        \
        }                                                                                                                              \
    }                                                                                                                                  \
    const int64_t w = pl->w, ow = pl->ow, kw = pl->kw, pw = pl->pw;                                                                    \
    int64_t xlo = kw - 1 - pw > 0 ? kw - 1 - pw : 0, xhi = ow - pw < w ? ow - pw : w; /* the row loop's ilo, ihi */                    \
    if (flat && xlo < xhi) {                                                                                                           \
        for (int64_t i = xlo; i < (pl->h - 1) * w + xhi; i++)                                                                          \
            dx[i] = (((T)0 + t[i + pw - 2]) + t[i + pw - 1]) + t[i + pw];                                                              \
    }                                                                                                                                  \
    for (int64_t iy = 0; iy < pl->h; iy++) {                                                                                           \
        T *restrict dr = dx + iy * w;                                                                                                  \
        const T *restrict tr = t + iy * ow;                                                                                            \
        if (!pl->adaptive && pl->sw == kw && pw == 0 && ow * kw <= w) { /* side by side: dx[ix] = 0 + t[ix / kw] */                         \
            for (int64_t kx = 0; kx < kw; kx++)                                                                                        \
                for (int64_t b = 0; b < ow; b++) dr[b * kw + kx] = (T)0 + tr[b];                                                       \
            for (int64_t ix = ow * kw; ix < w; ix++) dr[ix] = 0;                                                                       \
            continue;                                                                                                                  \
        }                                                                                                                              \
        if (!pl->adaptive && pl->sw == 1 && kw < 16) {                                                                                 \
            /* stride 1: dx[ix] = 0 + Σ t[b] over the windows b in [ix + pw - kw + 1, ix + pw] holding ix, b ascending        \
             * (the order of the loop below); the whole range inside [0, OW) for ix in [ilo, ihi) */                                    \
            int64_t ilo = kw - 1 - pw > 0 ? kw - 1 - pw : 0, ihi = ow - pw < w ? ow - pw : w;                                          \
            if (ilo > ihi) ilo = ihi;                                                                                                  \
            for (int64_t ix = 0; ix < w; ix++) {                                                                                       \
                if (ix == ilo) ix = ihi;                                                                                               \
                if (ix >= w) break;                                                                                                    \
                int64_t b0 = ix + pw - kw + 1 > 0 ? ix + pw - kw + 1 : 0, b1 = ix + pw < ow - 1 ? ix + pw : ow - 1;                    \
                T v = 0;                                                                                                               \
                for (int64_t b = b0; b <= b1; b++) v += tr[b];                                                                         \
                dr[ix] = v;                                                                                                            \
            }                                                                                                                          \
            if (flat) continue; /* the interior: above */                                                                              \
            for (int64_t ix = ilo; ix < ihi; ix++) dr[ix] = (T)0 + tr[ix + pw - kw + 1];                                               \
            for (int64_t k = 1; k < kw; k++)                                                                                           \
                for (int64_t ix = ilo; ix < ihi; ix++) dr[ix] += tr[ix + pw - kw + 1 + k];                                             \
            continue;                                                                                                                  \
        }                                                                                                                              \
        if (disjoint) { /* each element in at most one window: dx = 0 + t there (memset then one addition), 0 elsewhere */             \
            int64_t ix = 0;                                                                                                            \
            for (int64_t b = 0; b < ow; b++) {                                                                                         \
                for (; ix < c0[b]; ix++) dr[ix] = 0;                                                                                   \
                T v = (T)0 + tr[b];                                                                                                    \
                for (; ix < c1[b]; ix++) dr[ix] = v;                                                                                   \
            }                                                                                                                          \
            for (; ix < w; ix++) dr[ix] = 0;                                                                                           \
            continue;                                                                                                                  \
        }                                                                                                                              \
        memset(dr, 0, sizeof(T) * (size_t)pl->w);                                                                                      \
        for (int64_t b = 0; b < pl->ow; b++) {                                                                                         \
            T v = tr[b];                                                                                                               \
            PG_IVDEP                                                                                                                   \
            for (int64_t ix = c0[b]; ix < c1[b]; ix++) dr[ix] += v;                                                                    \
        }                                                                                                                              \
    }                                                                                                                                  \
}                                                                                                                                      \
/* the transpose of a 2x2/2 average inside the input, one plane: each input element is in at most one window,  \
 * so dx = 0 + g / div there (the separable path's 0 + (0 + g / div), the same bits) and 0 elsewhere */        \
PG_CLONES PG_PL_NOINLINE static void pg__avgpool_bwd22_##SUF(const pg_pl *plp, T *dx, const T *g) {            \
    const pg_pl pl_ = *plp, *pl = &pl_;                                                                         \
    const int64_t w = pl->w, ow = pl->ow;                                                                       \
    const T div = (T)(pl->divisor ? pl->divisor : 4);                                                           \
    for (int64_t a = 0; a < pl->oh; a++) {                                                                      \
        T *d0 = dx + 2 * a * w, *d1 = d0 + w;                                                                   \
        const T *gr = g + a * ow;                                                                               \
        int64_t b = pg__avgpool_bwd22_vec_##SUF(gr, div, d0, d1, ow);                                           \
        for (; b < ow; b++) {                                                                                   \
            T v = (T)0 + gr[b] / div;                                                                           \
            d0[2 * b] = d0[2 * b + 1] = d1[2 * b] = d1[2 * b + 1] = v;                                          \
        }                                                                                                       \
        for (int64_t ix = 2 * ow; ix < w; ix++) d0[ix] = d1[ix] = 0;                                            \
    }                                                                                                           \
    if (2 * pl->oh < pl->h) memset(dx + 2 * pl->oh * w, 0, sizeof(T) * (size_t)((pl->h - 2 * pl->oh) * w));    \
}                                                                                                               \
/* planes [lo, hi) of either average, separable; the direct kernels when the scratch cannot be had */                                  \
static void pg__avgpool_sep_##SUF(void *ctx, int64_t lo, int64_t hi) {                                                                 \
    const pg_pl_job *j = ctx;                                                                                                          \
    const pg_pl pl_ = *j->pl, *pl = &pl_;                                                                                                         \
    bool bwd = j->x != NULL; /* the transpose: x marks it (unused otherwise) */                                                        \
    size_t nwin = (size_t)(3 * (pl->oh + pl->ow));                                                                                     \
    size_t nt = (size_t)((pl->h + 1 + pl->oh) * pl->ow), ndv = pl->oh * pl->ow <= ((int64_t)1 << 16) ? (size_t)(pl->oh * pl->ow) : 0;           \
    /* an output of 16 MiB or more: each plane built in a tile that stays in the caches, then streamed out                             \
     * (no read of the output's lines before they are written) */                                                                      \
    const int64_t per = bwd ? pl->h * pl->w : pl->oh * pl->ow;                                                                         \
    bool stream = (uint64_t)pl->planes * (uint64_t)per * sizeof(T) >= PG_PL_STREAM_MIN &&                                              \
                  per * (int64_t)sizeof(T) <= ((int64_t)1 << 18);                                                                      \
    int64_t *win = malloc(sizeof(int64_t) * nwin + sizeof(T) * (nt + ndv + (stream ? (size_t)per : 0)));                               \
    if (!win) {                                                                                                                        \
        if (bwd) pg__avgpool_bwd_##SUF(ctx, lo, hi);                                                                                   \
        else pg__avgpool_fwd_##SUF(ctx, lo, hi);                                                                                       \
        return;                                                                                                                        \
    }                                                                                                                                  \
    for (int64_t a = 0; a < pl->oh; a++) win[2 * pl->oh + a] = pg__pl_avg_win(pl, a, 0, &win[a], &win[pl->oh + a]);                    \
    int64_t *cw = win + 3 * pl->oh;                                                                                                    \
    for (int64_t b = 0; b < pl->ow; b++) cw[2 * pl->ow + b] = pg__pl_avg_win(pl, b, 1, &cw[b], &cw[pl->ow + b]);                       \
    T *t = (T *)(win + nwin), *dv = NULL;                                                                                              \
    T *tile = NULL;                                                                                            \
    bool empty = false, disjoint = true;                                                                              \
    for (int64_t a = 0; a < pl->oh; a++) empty |= win[a] >= win[pl->oh + a];                                                           \
    for (int64_t b = 0; b < pl->ow; b++) {                                                                                             \
        empty |= cw[b] >= cw[pl->ow + b];                                                                                              \
        disjoint &= b == 0 || cw[b] >= cw[pl->ow + b - 1];                                                                             \
    }                                                                                                                                  \
    const bool is22 = pl->kh == 2 && pl->kw == 2 && pl->sh == 2 && pl->sw == 2 && pl->ph == 0 && pl->pw == 0 &&                        \
                      !pl->adaptive && 2 * pl->oh <= pl->h && 2 * pl->ow <= pl->w; /* 2x2/2 inside the input */                       \
    if (bwd && disjoint && !empty && !is22) stream = false; /* a fill (adaptive 1x1): measured no faster through the tile */          \
    if (stream) tile = t + nt + ndv;                                                                                                   \
    if (ndv && !empty) { /* each window's divisor, as the kernels compute it, for every plane */                                       \
        dv = t + nt;                                                                                                                   \
        for (int64_t a = 0; a < pl->oh; a++)                                                                                           \
            for (int64_t b = 0; b < pl->ow; b++)                                                                                       \
                dv[a * pl->ow + b] = (T)(pl->divisor ? pl->divisor : cw[2 * pl->ow + b] * win[2 * pl->oh + a]);                        \
    }                                                                                                                                  \
    if (bwd && pl->oh == 1 && pl->ow == 1 && win[0] == 0 && win[1] == pl->h && cw[0] == 0 && cw[1] == pl->w) {                     \
        /* one window over the whole plane (adaptive 1 x 1): dx = 0 + (0 + g / div) everywhere, the value the                           \
         * separable path writes ((0 + u) + ... is 0 + u), a broadcast: streamed out when the output is large */                         \
        const T div = (T)(pl->divisor ? pl->divisor : win[2] * cw[2]);                                                              \
        const int64_t hw = pl->h * pl->w;                                                                                              \
        const bool big = (uint64_t)pl->planes * (uint64_t)hw * sizeof(T) >= PG_PL_STREAM_MIN;                                         \
        for (int64_t p = lo; p < hi; p++) {                                                                                            \
            T v = (T)0 + ((const T *)j->in)[p] / div, *d = (T *)j->out + p * hw;                                                       \
            if (big) pg__pl_fill(d, &v, sizeof(T), hw);                                                                                      \
            else                                                                                                                       \
                for (int64_t i = 0; i < hw; i++) d[i] = v;                                                                             \
        }                                                                                                                              \
        if (big) pg__stream_fence();                                                                                                      \
        free(win);                                                                                                                     \
        return;                                                                                                                        \
    }                                                                                                                                  \
    if (bwd && is22) { /* written once */                                                                                             \
        for (int64_t p = lo; p < hi; p++) { /* through the tile when large: dx's lines never read */                               \
            T *o = (T *)j->out + p * per;                                                                                              \
            pg__avgpool_bwd22_##SUF(pl, tile ? tile : o, (const T *)j->in + p * pl->oh * pl->ow);                                      \
            if (tile) pg__stream_copy(o, tile, sizeof(T) * (size_t)per);                                                                 \
        }                                                                                                                              \
        if (tile) pg__stream_fence();                                                                                                     \
        free(win);                                                                                                                     \
        return;                                                                                                                        \
    }                                                                                                                                  \
    if (!bwd && is22) { /* one pass */                                                                                                \
        T div = (T)(pl->divisor ? pl->divisor : 4);                                                                                    \
        for (int64_t p = lo; p < hi; p++) {                                                                                            \
            const T *x = (const T *)j->in + p * pl->h * pl->w;                                                                         \
            T *y = (T *)j->out + p * pl->oh * pl->ow;                                                                                  \
            for (int64_t a = 0; a < pl->oh; a++) {                                                                                     \
                const T *x0 = x + 2 * a * pl->w, *x1 = x0 + pl->w;                                                                     \
                T *yr = y + a * pl->ow;                                                                                                \
                for (int64_t b = 0; b < pl->ow; b++) yr[b] = ((x0[2 * b] + x0[2 * b + 1]) + (x1[2 * b] + x1[2 * b + 1])) / div;        \
            }                                                                                                                          \
        }                                                                                                                              \
        free(win);                                                                                                                     \
        return;                                                                                                                        \
    }                                                                                                                                  \
    if (!bwd && sizeof(T) == sizeof(float) && dv && pl->oh == 1 && pl->ow == 1 && win[0] == 0 && win[1] == pl->h &&                   \
        cw[0] == 0 && cw[1] == pl->w && pg__gap32_ok(pl)) { /* one window over the whole plane, AVX2 */                               \
        pg__gap32((float *)j->out, (const float *)j->in, pl->h, pl->w, (float)dv[0], lo, hi);                                          \
        free(win);                                                                                                                     \
        return;                                                                                                                        \
    }                                                                                                                                  \
    if (dv && !empty && pg__avgsame_##SUF(pl, bwd, dv, j->out, j->in, lo, hi)) { /* AVX-512, one pass */                             \
        free(win);                                                                                                                     \
        return;                                                                                                                        \
    }                                                                                                                                  \
    for (int64_t p = lo; p < hi; p++) {                                                                                                \
        T *o = (T *)j->out + p * per, *d = tile ? tile : o;                                                                            \
        if (bwd) pg__avgpool_sep_bwd_##SUF(pl, win, dv, disjoint && !empty, t, d, (const T *)j->in + p * pl->oh * pl->ow);             \
        else pg__avgpool_sep_fwd_##SUF(pl, win, dv, t, d, (const T *)j->in + p * pl->h * pl->w);                                       \
        if (tile) pg__stream_copy(o, tile, sizeof(T) * (size_t)per);                                                                                   \
    }                                                                                                                                  \
    if (tile) pg__stream_fence();                                                                                                         \
    free(win);                                                                                                                         \
}                                                                                                                                      \
/* max_pool2d's backward, 2x2 windows at stride 2 inside the input: each input element is in at most one                               \
 * window, so dx is written once (dy at the window's maximum, 0 beside it), no zeroing first */                                        \
PG_CLONES PG_PL_NOINLINE static void pg__maxpool_bwd22_##SUF(void *ctx, int64_t lo, int64_t hi) {                                                               \
    const pg_pl_job *j = ctx;                                                                                                          \
    const pg_pl pl_ = *j->pl, *pl = &pl_;                                                                                                         \
    const int64_t w = pl->w, hw = pl->h * w;                                                                                           \
    /* a large dx: each plane built in a tile that stays in L1, then streamed out (dx's lines never read) */                          \
    T *tile = (uint64_t)pl->planes * (uint64_t)hw * sizeof(T) >= PG_PL_STREAM_MIN &&                                                   \
              hw * (int64_t)sizeof(T) <= ((int64_t)1 << 18) ? malloc(sizeof(T) * (size_t)hw) : NULL;                                  \
    const bool v512 = sizeof(T) == sizeof(float) && pg__max22_avx512();                                                               \
    for (int64_t p = lo; p < hi; p++) {                                                                                                \
        T *dx = tile ? tile : (T *)j->out + p * hw;                                                                                    \
        const T *g = (const T *)j->in + p * pl->oh * pl->ow;                                                                           \
        const T *x = (const T *)j->x + p * hw;                                                                                         \
        for (int64_t a = 0; a < pl->oh; a++) {                                                                                         \
            const T *x0 = x + 2 * a * w, *x1 = x0 + w;                                                                                 \
            T *d0 = dx + 2 * a * w, *d1 = d0 + w;                                                                                      \
            int64_t b;                                                                                                                 \
            if (v512) { /* float with AVX-512: the whole row */                                                                        \
                pg__max22_bwd_row32((const float *)x0, (const float *)x1, (const float *)g + a * pl->ow, (float *)d0,                  \
                                    (float *)d1, pl->ow);                                                                              \
                b = pl->ow;                                                                                                            \
            } else                                                                                                                     \
                b = pg__maxpool_bwd22_vec_##SUF(x0, x1, g + a * pl->ow, d0, d1, pl->ow);                                               \
            for (; b < pl->ow; b++) {                                                                                                  \
                /* branch-free (random data mispredicts every branch): the first maximum, or the last NaN */ \
                T m = x0[2 * b], v = x0[2 * b + 1];                                                                                    \
                bool t = (v > m) | (v != v);                                                                                           \
                m = t ? v : m;                                                                                                         \
                int k = t ? 1 : 0;                                                                                                     \
                v = x1[2 * b];                                                                                                         \
                t = (v > m) | (v != v);                                                                                                \
                m = t ? v : m;                                                                                                         \
                k = t ? 2 : k;                                                                                                         \
                v = x1[2 * b + 1];                                                                                                     \
                k = ((v > m) | (v != v)) ? 3 : k;                                                                                      \
                T gv = g[a * pl->ow + b];                                                                                              \
                d0[2 * b] = k == 0 ? gv : (T)0;                                                                                        \
                d0[2 * b + 1] = k == 1 ? gv : (T)0;                                                                                    \
                d1[2 * b] = k == 2 ? gv : (T)0;                                                                                        \
                d1[2 * b + 1] = k == 3 ? gv : (T)0;                                                                                    \
            }                                                                                                                          \
            for (int64_t ix = 2 * pl->ow; ix < w; ix++) d0[ix] = d1[ix] = 0;                                                           \
        }                                                                                                                              \
        if (2 * pl->oh < pl->h) memset(dx + 2 * pl->oh * w, 0, sizeof(T) * (size_t)((pl->h - 2 * pl->oh) * w));                        \
        if (tile) pg__stream_copy((T *)j->out + p * hw, tile, sizeof(T) * (size_t)hw);                                                   \
    }                                                                                                                                  \
    if (tile) pg__stream_fence();                                                                                                         \
    free(tile);                                                                                                                        \
}

PG_POOL_FAST(float, f32)
PG_POOL_FAST(double, f64)

/* max_pool2d with dilation 1, separable: each input row's maximum over every output column's window (and,
 * for the backward, its flat index in the plane), shared by the output rows whose windows hold that row,
 * then the maximum over the window's rows. The same comparisons in the same order as the direct kernels
 * (take v when v > m or v is NaN, starting from the window's first element): the first maximum in row-major
 * order or the last NaN, so the same values, the same places and the same order of the additions into dx.
 * The interior columns (the whole window inside the row) run as loops over the output columns (vectorised);
 * tm, ti: (H, OW) scratch of one plane. */
#define PG_POOL_MAXSEP(T, SUF)                                                                                  \
/* the row stage of one plane: tm[iy, b], ti[iy, b] = the maximum of row iy over column window b, its index   \
 * (ti NULL: the maxima only) */                                                                               \
PG_CLONES PG_PL_NOINLINE static void pg__maxsep_rows_##SUF(const pg_pl *pl, T *restrict tm, int32_t *restrict ti, const T *restrict x) { \
    const int64_t w = pl->w, ow = pl->ow, sw = pl->sw, pw = pl->pw, kw = pl->kw;                               \
    int64_t blo, bhi;                                                                                           \
    pg__pl_interior(pl, &blo, &bhi);                                                                            \
    /* stride 2 with W == 2·OW: the interior columns of every row in one run of the vector code over the plane \
     * (column i of the run is x[2i - pw + kx], flat index in the plane 2i - pw + kx: row i / OW's own columns \
     * inside the interior); what lands in the border columns is overwritten below */                          \
    bool flat = false;                                                                                         \
    if (sw == 2 && w == 2 * ow && blo < bhi) {                                                                 \
        int64_t n = (pl->h - 1) * ow + bhi;                                                                    \
        flat = (ti ? pg__maxsep_rows2_vec_##SUF(x, tm, ti, 0, blo, n, pw, kw)                                  \
                   : pg__maxsep_rows2_vec_##SUF(x, tm, NULL, 0, blo, n, pw, kw)) == n;                         \
    }                                                                                                          \
    for (int64_t iy = 0; iy < pl->h; iy++) {                                                                    \
        const T *restrict xr = x + iy * w;                                                                      \
        T *restrict mr = tm + iy * ow;                                                                          \
        int32_t *restrict ir = ti ? ti + iy * ow : NULL;                                                        \
        const int32_t base = (int32_t)(iy * w);                                                                 \
        for (int64_t b = 0; b < ow; b++) {                                                                      \
            if (b == blo) b = bhi; /* the interior below */                                                     \
            if (b >= ow) break;                                                                                 \
            int64_t xs = b * sw - pw, x0 = xs > 0 ? xs : 0, x1 = xs + kw < w ? xs + kw : w;                     \
            T m = x0 < x1 ? xr[x0] : (T)-INFINITY;                                                              \
            int32_t at = (int32_t)x0;                                                                           \
            for (int64_t ix = x0 + 1; ix < x1; ix++) {                                                          \
                T v = xr[ix];                                                                                   \
                bool t = (v > m) | (v != v); /* a select without a branch (random data mispredicts it): */   \
                m = (T[2]){m, v}[t];                                                                            \
                at = t ? (int32_t)ix : at;                                                                      \
            }                                                                                                   \
            mr[b] = m;                                                                                          \
            if (ir) ir[b] = x0 < x1 ? base + at : -1;                                                           \
        }                                                                                                       \
        if (flat) continue;                                                                                    \
        int64_t bv = sw != 2 ? blo /* the vector code specialised with and without the indices: */          \
                     : ir ? pg__maxsep_rows2_vec_##SUF(xr, mr, ir, base, blo, bhi, pw, kw)                      \
                          : pg__maxsep_rows2_vec_##SUF(xr, mr, NULL, base, blo, bhi, pw, kw);                   \
        if (!ir) {                                                                                              \
            for (int64_t b = bv; b < bhi; b++) mr[b] = xr[b * sw - pw];                                         \
            for (int64_t kx = 1; kx < kw; kx++)                                                                 \
                for (int64_t b = bv; b < bhi; b++) {                                                            \
                    T v = xr[b * sw - pw + kx], m = mr[b];                                                      \
                    mr[b] = ((v > m) | (v != v)) ? v : m;                                                       \
                }                                                                                               \
            continue;                                                                                           \
        }                                                                                                       \
        for (int64_t b = bv; b < bhi; b++) {                                                                    \
            mr[b] = xr[b * sw - pw];                                                                            \
            ir[b] = base + (int32_t)(b * sw - pw);                                                              \
        }                                                                                                       \
        for (int64_t kx = 1; kx < kw; kx++)                                                                     \
            for (int64_t b = bv; b < bhi; b++) {                                                                \
                T v = xr[b * sw - pw + kx], m = mr[b];                                                          \
                bool t = (v > m) | (v != v);                                                                    \
                mr[b] = t ? v : m;                                                                              \
                ir[b] = t ? base + (int32_t)(b * sw - pw + kx) : ir[b];                                         \
            }                                                                                                   \
    }                                                                                                           \
}                                                                                                               \
/* the column stage of output row a: m[b], at[b] over the window's rows of tm, ti; false when it is empty */    \
PG_CLONES PG_PL_NOINLINE static bool pg__maxsep_col_##SUF(const pg_pl *pl, T *restrict m, int32_t *restrict at, const T *restrict tm,   \
                                 const int32_t *restrict ti, int64_t a) {                                       \
    const int64_t ow = pl->ow;                                                                                  \
    int64_t ys = a * pl->sh - pl->ph, y0 = ys > 0 ? ys : 0, y1 = ys + pl->kh < pl->h ? ys + pl->kh : pl->h;     \
    if (y0 >= y1) return false;                                                                                 \
    memcpy(m, tm + y0 * ow, sizeof(T) * (size_t)ow);                                                            \
    if (at) memcpy(at, ti + y0 * ow, sizeof(int32_t) * (size_t)ow);                                            \
    for (int64_t iy = y0 + 1; iy < y1; iy++) {                                                                  \
        const T *restrict mr = tm + iy * ow;                                                                    \
        const int32_t *restrict ir = ti + iy * ow;                                                              \
        if (at)                                                                                                 \
            for (int64_t b = 0; b < ow; b++) {                                                                  \
                T v = mr[b];                                                                                    \
                bool t = (v > m[b]) | (v != v);                                                                 \
                m[b] = t ? v : m[b];                                                                            \
                at[b] = t ? ir[b] : at[b];                                                                      \
            }                                                                                                   \
        else                                                                                                    \
            for (int64_t b = 0; b < ow; b++) {                                                                  \
                T v = mr[b];                                                                                    \
                m[b] = ((v > m[b]) | (v != v)) ? v : m[b];                                                      \
            }                                                                                                   \
    }                                                                                                           \
    return true;                                                                                                \
}                                                                                                               \
/* the column stage of one plane and what follows it: forward y (dx NULL: NaN as the direct kernel writes it), \
 * backward dx[at] += g in output order; windows of three rows (the common 3x3) in one loop over the columns */\
PG_CLONES PG_PL_NOINLINE static void pg__maxsep_cols_##SUF(const pg_pl *plp, T *restrict m, int32_t *restrict at,\
                                                          const T *restrict tm, const int32_t *restrict ti,    \
                                                          T *restrict y, T *restrict dx, const T *restrict g) {\
    const pg_pl pl_ = *plp, *pl = &pl_;                                                                        \
    const int64_t ow = pl->ow;                                                                                 \
    for (int64_t a = 0; a < pl->oh; a++) {                                                                     \
        int64_t ys = a * pl->sh - pl->ph, y0 = ys > 0 ? ys : 0, y1 = ys + pl->kh < pl->h ? ys + pl->kh : pl->h;\
        const T *restrict m0 = tm + y0 * ow, *restrict m1 = m0 + ow, *restrict m2 = m1 + ow;                   \
        if (!dx) {                                                                                             \
            T *restrict yr = y + a * ow;                                                                       \
            if (y1 - y0 == 3) {                                                                                \
                for (int64_t b = pg__maxsep_col3_vec_##SUF(m0, m1, m2, NULL, NULL, NULL, yr, NULL, ow); b < ow; b++) {\
                    T mm = m0[b], v = m1[b];                                                                   \
                    mm = ((v > mm) | (v != v)) ? v : mm;                                                       \
                    v = m2[b];                                                                                 \
                    mm = ((v > mm) | (v != v)) ? v : mm;                                                       \
                    yr[b] = mm != mm ? (T)NAN : mm;                                                            \
                }                                                                                              \
                continue;                                                                                      \
            }                                                                                                  \
            if (!pg__maxsep_col_##SUF(pl, m, NULL, tm, ti, a)) {                                               \
                for (int64_t b = 0; b < ow; b++) yr[b] = (T)-INFINITY;                                         \
                continue;                                                                                      \
            }                                                                                                  \
            for (int64_t b = 0; b < ow; b++) yr[b] = m[b] != m[b] ? (T)NAN : m[b];                             \
            continue;                                                                                          \
        }                                                                                                      \
        if (y1 - y0 == 3) {                                                                                    \
            const int32_t *restrict i0 = ti + y0 * ow, *restrict i1 = i0 + ow, *restrict i2 = i1 + ow;         \
            for (int64_t b = pg__maxsep_col3_vec_##SUF(m0, m1, m2, i0, i1, i2, NULL, at, ow); b < ow; b++) {   \
                T mm = m0[b], v = m1[b];                                                                       \
                bool t = (v > mm) | (v != v);                                                                  \
                mm = t ? v : mm;                                                                               \
                int32_t k = t ? i1[b] : i0[b];                                                                 \
                v = m2[b];                                                                                     \
                t = (v > mm) | (v != v);                                                                       \
                at[b] = t ? i2[b] : k;                                                                         \
            }                                                                                                  \
        } else if (!pg__maxsep_col_##SUF(pl, m, at, tm, ti, a))                                                \
            continue;                                                                                          \
        const T *restrict gr = g + a * ow;                                                                     \
        for (int64_t b = 0; b < ow; b++)                                                                       \
            if (at[b] >= 0) dx[at[b]] += gr[b];                                                                \
    }                                                                                                          \
}                                                                                                              \
/* planes [lo, hi): forward (y, NaN as the direct kernel writes it) or backward (dx[at] += g, in output order); \
 * false when the scratch cannot be had (the caller runs the direct kernel) */                                  \
static bool pg__maxsep_##SUF(const pg_pl_job *j, bool bwd, int64_t lo, int64_t hi) {                            \
    const pg_pl pl_ = *j->pl, *pl = &pl_;                                                                       \
    const int64_t hw = pl->h * pl->w, ohw = pl->oh * pl->ow, ow = pl->ow;                                       \
    size_t n = (size_t)((pl->h + 1) * ow);                                                                      \
    /* the backward's tile: dx's plane built in the caches, then streamed out */                               \
    bool stream = bwd && (uint64_t)pl->planes * (uint64_t)hw * sizeof(T) >= PG_PL_STREAM_MIN &&                \
                  hw * (int64_t)sizeof(T) <= ((int64_t)1 << 18);                                               \
    char *buf = malloc((sizeof(T) + sizeof(int32_t)) * n + (stream ? sizeof(T) * (size_t)hw : 0));             \
    if (!buf) return false;                                                                                     \
    T *tm = (T *)buf, *m = tm + pl->h * ow;                                                                     \
    int32_t *ti = (int32_t *)(tm + n), *at = ti + pl->h * ow;                                                  \
    T *tile = stream ? (T *)(ti + n) : NULL;                                                                   \
    for (int64_t p = lo; p < hi; p++) {                                                                         \
        const T *x = (const T *)(bwd ? j->x : j->in) + p * hw;                                                  \
        pg__maxsep_rows_##SUF(pl, tm, bwd ? ti : NULL, x);                                                                   \
        if (!bwd) {                                                                                            \
            pg__maxsep_cols_##SUF(pl, m, NULL, tm, ti, (T *)j->out + p * ohw, NULL, NULL);                   \
            continue;                                                                                          \
        }                                                                                                      \
        T *dx = (T *)j->out + p * hw, *d = tile ? tile : dx;                                                   \
        memset(d, 0, sizeof(T) * (size_t)hw);                                                                  \
        pg__maxsep_cols_##SUF(pl, m, at, tm, ti, NULL, d, (const T *)j->in + p * ohw);                         \
        if (tile) pg__stream_copy(dx, tile, sizeof(T) * (size_t)hw);                                                           \
    }                                                                                                          \
    if (tile) pg__stream_fence();                                                                                 \
    free(buf);                                                                                                 \
    return true;                                                                                                \
}                                                                                                               \
static void pg__maxsep_fwd_##SUF(void *ctx, int64_t lo, int64_t hi) {                                           \
    if (!pg__maxsep_##SUF(ctx, false, lo, hi)) pg__maxpool_fwd_##SUF(ctx, lo, hi);                              \
}                                                                                                               \
static void pg__maxsep_bwd_##SUF(void *ctx, int64_t lo, int64_t hi) {                                           \
    if (!pg__maxsep_##SUF(ctx, true, lo, hi)) pg__maxpool_bwd_##SUF(ctx, lo, hi);                               \
}

PG_POOL_MAXSEP(float, f32)
PG_POOL_MAXSEP(double, f64)

/* max_pool2d 3x3 at stride 2 (dilation 1, any padding and ceil_mode), float, with AVX-512 when the CPU has it:
 * the separable kernel above (pg__maxsep) with 16 output columns per vector. Row stage: a row's 2·16 + 1
 * input columns in two pairs of masked loads (nothing read outside the row), its even, odd and next-even
 * columns split out by two-source permutations; column stage: the window's rows lane by lane. The same
 * comparisons in the same order as the scalar loops (take v when v > m or v is NaN), so the same values,
 * the same indices and the same order of the additions into dx. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
static bool pg__max32_ok(const pg_pl *pl, bool f64) {
    return !f64 && pl->kh == 3 && pl->kw == 3 && pl->sh == 2 && pl->sw == 2 && pl->dh == 1 && pl->dw == 1 &&
           pl->h * pl->w < ((int64_t)1 << 31) && __builtin_cpu_supports("avx512f");
}
/* tm[iy, b], ti[iy, b] (ti NULL: the maxima only) over one plane x, as pg__maxsep_rows_f32 */
/* the interior columns' vectors over [b0, b1) of one run of outputs: output i's window is p[2i - pw + kx],
 * kx in [0, 3), its flat index base + 2i - pw + kx (ti NULL: the maxima only) */
PG_PL_AVX512 static inline __attribute__((always_inline)) void
pg__max32_run(float *restrict mr, int32_t *restrict ir, const float *restrict xr, int32_t base, int64_t b0,
              int64_t b1, int64_t pw) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i one = _mm512_set1_epi32(1), two = _mm512_set1_epi32(2);
    for (int64_t b = b0; b < b1; b += 16) {
        const int64_t n = b1 - b < 16 ? b1 - b : 16;
        const float *p = xr + 2 * b - pw; /* the window of lane i: p[2i], p[2i + 1], p[2i + 2] */
        /* the input 2 KiB ahead, into L1 (the hardware's own prefetch left the loads waiting: measured ~10% faster) */
        _mm_prefetch((const char *)(p + 512), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + 528), _MM_HINT_T0);
        __m512 l0, l1;
        if (n == 16) {
            l0 = _mm512_loadu_ps(p), l1 = _mm512_loadu_ps(p + 16);
        } else {
            l0 = _mm512_maskz_loadu_ps(pg__max32_mask(2 * n), p);
            l1 = _mm512_maskz_loadu_ps(pg__max32_mask(2 * n - 16), p + 16);
        }
        __m512 m = _mm512_permutex2var_ps(l0, ev, l1), v = _mm512_permutex2var_ps(l0, od, l1);
        __mmask16 t = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        m = _mm512_mask_mov_ps(m, t, v);
        __m512i k = _mm512_maskz_mov_epi32(t, one);
        if (n == 16) { /* p[2..32]: the last one the first element of the next pair */
            l0 = _mm512_loadu_ps(p + 2);
            l1 = _mm512_maskz_loadu_ps(0x7fff, p + 18);
        } else {
            l0 = _mm512_maskz_loadu_ps(pg__max32_mask(2 * n - 1), p + 2);
            l1 = _mm512_maskz_loadu_ps(pg__max32_mask(2 * n - 17), p + 18);
        }
        v = _mm512_permutex2var_ps(l0, ev, l1);
        t = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        m = _mm512_mask_mov_ps(m, t, v);
        const __mmask16 st = pg__max32_mask(n);
        _mm512_mask_storeu_ps(mr + b, st, m);
        if (ir) {
            k = _mm512_mask_mov_epi32(k, t, two);
            k = _mm512_add_epi32(k, _mm512_add_epi32(ev, _mm512_set1_epi32(base + (int32_t)(2 * b - pw))));
            _mm512_mask_storeu_epi32(ir + b, st, k);
        }
    }
}
/* tm[iy, b], ti[iy, b] (ti NULL: the maxima only) over one plane x, as pg__maxsep_rows_f32; with W = 2·OW
 * the interior columns of every row in one run over the plane (output i of the run reads x[2i - pw + kx]),
 * what lands in the border columns overwritten by the row loop */
PG_PL_AVX512 static void pg__max32_rows(const pg_pl *pl, float *restrict tm, int32_t *restrict ti,
                                        const float *restrict x) {
    const int64_t w = pl->w, ow = pl->ow, pw = pl->pw;
    int64_t blo, bhi;
    pg__pl_interior(pl, &blo, &bhi);
    const bool flat = w == 2 * ow && blo < bhi;
    if (flat) {
        if (ti) pg__max32_run(tm, ti, x, 0, blo, (pl->h - 1) * ow + bhi, pw);
        else pg__max32_run(tm, NULL, x, 0, blo, (pl->h - 1) * ow + bhi, pw);
    }
    for (int64_t iy = 0; iy < pl->h; iy++) {
        const float *restrict xr = x + iy * w;
        float *restrict mr = tm + iy * ow;
        int32_t *restrict ir = ti ? ti + iy * ow : NULL;
        const int32_t base = (int32_t)(iy * w);
        for (int64_t b = 0; b < ow; b++) { /* the border columns: the window clipped to the row */
            if (b == blo) b = bhi;
            if (b >= ow) break;
            int64_t xs = 2 * b - pw, x0 = xs > 0 ? xs : 0, x1 = xs + 3 < w ? xs + 3 : w;
            float m = x0 < x1 ? xr[x0] : -INFINITY;
            int32_t at = (int32_t)x0;
            for (int64_t ix = x0 + 1; ix < x1; ix++) {
                float v = xr[ix];
                bool t = (v > m) | (v != v); /* a select without a branch (random data mispredicts it) */
                m = (float[2]){m, v}[t];
                at = t ? (int32_t)ix : at;
            }
            mr[b] = m;
            if (ir) ir[b] = x0 < x1 ? base + at : -1;
        }
        if (flat) continue;
        if (ir) pg__max32_run(mr, ir, xr, base, blo, bhi, pw);
        else pg__max32_run(mr, NULL, xr, base, blo, bhi, pw);
    }
}
/* output row a's column stage: y's row (NaN as the direct kernel writes it) when y, else at[b]; false when
 * the window has no row inside the input */
PG_PL_AVX512 static bool pg__max32_col(const pg_pl *pl, const float *restrict tm, const int32_t *restrict ti,
                                       int64_t a, float *restrict y, int32_t *restrict at) {
    const int64_t ow = pl->ow;
    int64_t ys = 2 * a - pl->ph, y0 = ys > 0 ? ys : 0, y1 = ys + 3 < pl->h ? ys + 3 : pl->h;
    if (y0 >= y1) return false;
    const __m512 nan = _mm512_set1_ps(NAN);
    for (int64_t b = 0; b < ow; b += 16) {
        const __mmask16 st = pg__max32_mask(ow - b);
        __m512 m = _mm512_maskz_loadu_ps(st, tm + y0 * ow + b);
        __m512i k = y ? _mm512_setzero_si512() : _mm512_maskz_loadu_epi32(st, ti + y0 * ow + b);
        for (int64_t iy = y0 + 1; iy < y1; iy++) {
            __m512 v = _mm512_maskz_loadu_ps(st, tm + iy * ow + b);
            __mmask16 t = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
            m = _mm512_mask_mov_ps(m, t, v);
            if (!y) k = _mm512_mask_loadu_epi32(k, t & st, ti + iy * ow + b);
        }
        if (y) _mm512_mask_storeu_ps(y + b, st, _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(m, m, _CMP_UNORD_Q), nan));
        else _mm512_mask_storeu_epi32(at + b, st, k);
    }
    return true;
}
/* planes [lo, hi): forward or backward (dx[at] += g in output order, in a tile streamed out when large); the
 * next plane's input prefetched into L2 meanwhile, so the memory stays busy while this plane's outputs are
 * worked out */
static bool pg__max32(const pg_pl_job *j, bool bwd, int64_t lo, int64_t hi) {
    const pg_pl pl_ = *j->pl, *pl = &pl_;
    const int64_t hw = pl->h * pl->w, ohw = pl->oh * pl->ow, ow = pl->ow;
    bool stream = bwd && (uint64_t)pl->planes * (uint64_t)hw * sizeof(float) >= PG_PL_STREAM_MIN &&
                  hw * (int64_t)sizeof(float) <= ((int64_t)1 << 18);
    size_t n = (size_t)(pl->h * ow);
    char *buf = malloc((sizeof(float) + sizeof(int32_t)) * n + sizeof(int32_t) * (size_t)ow +
                       (stream ? sizeof(float) * (size_t)hw : 0));
    if (!buf) return false;
    float *tm = (float *)buf;
    int32_t *ti = (int32_t *)(tm + n), *at = ti + n;
    float *tile = stream ? (float *)(at + ow) : NULL;
    for (int64_t p = lo; p < hi; p++) {
        const float *x = (const float *)(bwd ? j->x : j->in) + p * hw;
        pg__max32_rows(pl, tm, bwd ? ti : NULL, x);
        const float *nx = p + 1 < hi ? x + hw : NULL;
        if (!bwd) {
            float *y = (float *)j->out + p * ohw;
            for (int64_t a = 0; a < pl->oh; a++) {
                if (nx)
                    for (int64_t i = a * hw / pl->oh; i < (a + 1) * hw / pl->oh; i += 16)
                        _mm_prefetch((const char *)(nx + i), _MM_HINT_T1);
                if (!pg__max32_col(pl, tm, NULL, a, y + a * ow, NULL))
                    for (int64_t b = 0; b < ow; b++) y[a * ow + b] = -INFINITY;
            }
            continue;
        }
        float *dx = (float *)j->out + p * hw, *d = tile ? tile : dx;
        const float *g = (const float *)j->in + p * ohw;
        if (p + 1 < hi) /* the next plane's upstream, read in bursts too short for the hardware to prefetch */
            for (int64_t i = 0; i < ohw; i += 16) _mm_prefetch((const char *)(g + ohw + i), _MM_HINT_T0);
        memset(d, 0, sizeof(float) * (size_t)hw);
        /* a line of the next plane every four windows: the prefetches spread over the scatter */
        const float *pf = nx ? nx : x, *pe = nx ? nx + hw : x;
        for (int64_t a = 0; a < pl->oh; a++) {
            if (!pg__max32_col(pl, tm, ti, a, NULL, at)) continue;
            const float *gr = g + a * ow;
            for (int64_t b = 0; b < ow; b++) {
                if (!(b & 3) && pf < pe) _mm_prefetch((const char *)pf, _MM_HINT_T1), pf += 16;
                if (at[b] >= 0) d[at[b]] += gr[b];
            }
        }
        for (; pf < pe; pf += 16) _mm_prefetch((const char *)pf, _MM_HINT_T1);
        if (tile) pg__stream_copy(dx, tile, sizeof(float) * (size_t)hw);
    }
    if (tile) pg__stream_fence();
    free(buf);
    return true;
}
static void pg__max32_fwd(void *ctx, int64_t lo, int64_t hi) {
    if (!pg__max32(ctx, false, lo, hi)) pg__maxsep_fwd_f32(ctx, lo, hi);
}
static void pg__max32_bwd(void *ctx, int64_t lo, int64_t hi) {
    if (!pg__max32(ctx, true, lo, hi)) pg__maxsep_bwd_f32(ctx, lo, hi);
}
/* max_pool2d 3x3/2 with padding 1 on planes of even height and width (H = 2·OH, W = 2·OW, OW <= 64): every
 * window's rows 2a - 1, 2a, 2a + 1 and columns 2b - 1, 2b, 2b + 1, the ones at -1 outside. One pass over the
 * plane, 16 output columns per vector, each input row's stage (the maximum over a window's columns and which
 * column wins) worked out once and kept in registers for the next output row, which shares it. The forward
 * takes the maxima with vmaxps (v > m ? v : m: the first maximum, as the scalar loops); the backward builds
 * dx's rows in place of a scatter: for each window its winner's row and column as masks, the upstream masked
 * to each of the nine places, and each dx element's sum in the scatter's order (output rows, then columns,
 * ascending) with +0 for a window that does not pick it (x + 0 = x for the sums here, which start at 0 + g
 * and so are never -0: the same bits). A plane holding a NaN runs again through pg__max32 (its NaN
 * semantics: the last NaN), found by one unordered compare per loaded pair of vectors. Outputs go to a tile
 * in the caches streamed out when large. */
#define PG_M3_NB 4 /* vectors of 16 output columns: OW <= 64 */
static bool pg__m3_ok(const pg_pl *pl) {
    return pl->ph == 1 && pl->pw == 1 && pl->h == 2 * pl->oh && pl->w == 2 * pl->ow && pl->ow <= 16 * PG_M3_NB;
}
/* one input row's stage for the windows b0 .. b0 + 15 (lanes past the row's end read as 0): the maximum over
 * columns 2b - 1, 2b, 2b + 1 (column -1: -inf) and, with t1, t2, whether column 2b over 2b - 1 and then
 * 2b + 1 over that maximum took over (column 2b always over the missing column -1); nan gathers the
 * loaded lanes that are NaN */
PG_PL_AVX512 static inline __attribute__((always_inline)) __m512
pg__m3_row(const float *xr, int64_t b0, __mmask16 ml, __mmask16 mh, __mmask16 *t1, __mmask16 *t2,
           __mmask16 *nan) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 l0 = _mm512_maskz_loadu_ps(ml, xr + 2 * b0), l1 = _mm512_maskz_loadu_ps(mh, xr + 2 * b0 + 16);
    *nan |= _mm512_cmp_ps_mask(l0, l1, _CMP_UNORD_Q);
    const __m512 e = _mm512_permutex2var_ps(l0, ev, l1), o = _mm512_permutex2var_ps(l0, od, l1);
    const __m512 left = _mm512_set1_ps(b0 ? xr[2 * b0 - 1] : -INFINITY);
    const __m512 c = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(o), _mm512_castps_si512(left), 15));
    if (!t1) return _mm512_max_ps(o, _mm512_max_ps(e, c));
    *t1 = _mm512_cmp_ps_mask(e, c, _CMP_GT_OQ) | (b0 ? 0 : 1);
    const __m512 m = _mm512_mask_mov_ps(c, *t1, e);
    *t2 = _mm512_cmp_ps_mask(o, m, _CMP_GT_OQ);
    return _mm512_mask_mov_ps(m, *t2, o);
}
/* dx's row at columns 2b0 .. 2b0 + 2n - 1 from the even columns e and the odd ones o */
PG_PL_AVX512 static inline __attribute__((always_inline)) void pg__m3_put(float *d, __m512 e, __m512 o,
                                                                          __mmask16 ml, __mmask16 mh) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    _mm512_mask_storeu_ps(d, ml, _mm512_permutex2var_ps(e, lo, o));
    _mm512_mask_storeu_ps(d + 16, mh, _mm512_permutex2var_ps(e, hi, o));
}
/* one window row's share of dx's row for the 16 windows: q the upstream where this row wins, t1, t2 its row
 * stage's takes; *e (column 2b) += the column 2b winners, *o (column 2b + 1) += the column 2b + 1 winners,
 * then += window b + 1's column 2b - 1 winners (*carry: the vector to the right's, its lane 0 next to this
 * one's lane 15), in that order; *carry = this vector's column 2b - 1 winners */
PG_PL_AVX512 static inline __attribute__((always_inline)) void pg__m3_add(__m512 *e, __m512 *o, __m512 *carry,
                                                                          __m512 q, __mmask16 t1, __mmask16 t2) {
    const __m512 z0 = _mm512_maskz_mov_ps((__mmask16) ~(t1 | t2), q);
    *e = _mm512_add_ps(*e, _mm512_maskz_mov_ps(t1 & (__mmask16)~t2, q));
    *o = _mm512_add_ps(*o, _mm512_maskz_mov_ps(t2, q));
    *o = _mm512_add_ps(*o, _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(*carry),
                                                                     _mm512_castps_si512(z0), 1)));
    *carry = z0;
}
/* the indices (planes [lo, hi) of x, idx as pg__maxpool_idx_f32's: the window's first maximum, in row-major
 * order, as the row stage then the column stage find it), through tile when not NULL; a plane holding a
 * NaN by pg__maxpool_idx_f32 */
PG_PL_AVX512 static void pg__m3_idx(const pg_pl *pl, int64_t *idx, const void *xv, int64_t *tile, int64_t lo,
                                    int64_t hi) {
    const int64_t w = pl->w, ow = pl->ow, oh = pl->oh, hw = pl->h * w, ohw = oh * ow, nb = (ow + 15) / 16;
    const __m512i one = _mm512_set1_epi32(1), two = _mm512_set1_epi32(2);
    const __m512i odd = _mm512_setr_epi32(-1, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29);
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    for (int64_t p = lo; p < hi; p++) {
        const float *x = (const float *)xv + p * hw, *pf = x + 512, *pe = x + hw + 512;
        int64_t *out = idx + p * ohw, *d = tile ? tile : out;
        __mmask16 nan = 0;
        __m512 sh[PG_M3_NB];
        __m512i si[PG_M3_NB]; /* row 2a + 1's stage: its maxima, their flat indices */
        for (int64_t a = 0; a < oh; a++) {
            const float *r1 = x + 2 * a * w, *r2 = r1 + w;
            for (; pf < r2 + w + 512 && pf < pe; pf += 16) _mm_prefetch((const char *)pf, _MM_HINT_T0);
            for (int64_t k = 0; k < nb; k++) {
                __mmask16 u1, u2, v1, v2;
                const __mmask16 ml = pg__max32_mask(2 * (ow - 16 * k)), mh = pg__max32_mask(2 * (ow - 16 * k) - 16);
                const __m512 h1 = pg__m3_row(r1, 16 * k, ml, mh, &u1, &u2, &nan);
                const __m512 h2 = pg__m3_row(r2, 16 * k, ml, mh, &v1, &v2, &nan);
                const __m512i c = _mm512_add_epi32(odd, _mm512_set1_epi32((int32_t)(2 * a * w + 32 * k)));
                const __m512i i1 = _mm512_mask_mov_epi32(_mm512_mask_mov_epi32(c, u1, _mm512_add_epi32(c, one)), u2,
                                                         _mm512_add_epi32(c, two));
                __m512i i2 = _mm512_mask_mov_epi32(_mm512_mask_mov_epi32(c, v1, _mm512_add_epi32(c, one)), v2,
                                                   _mm512_add_epi32(c, two));
                i2 = _mm512_add_epi32(i2, _mm512_set1_epi32((int32_t)w));
                const __m512 h0 = a ? sh[k] : ninf;
                const __mmask16 k1 = a ? _mm512_cmp_ps_mask(h1, h0, _CMP_GT_OQ) : 0xffff;
                const __mmask16 k2 = _mm512_cmp_ps_mask(h2, _mm512_mask_mov_ps(h0, k1, h1), _CMP_GT_OQ);
                const __m512i f = _mm512_mask_mov_epi32(_mm512_mask_mov_epi32(a ? si[k] : c, k1, i1), k2, i2);
                const __mmask16 mn = pg__max32_mask(ow - 16 * k);
                int64_t *dr = d + a * ow + 16 * k;
                _mm512_mask_storeu_epi64(dr, (__mmask8)mn, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(f)));
                _mm512_mask_storeu_epi64(dr + 8, (__mmask8)(mn >> 8),
                                         _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(f, 1)));
                sh[k] = h2, si[k] = i2;
            }
        }
        if (nan) pg__maxpool_idx_f32(pl, idx, (const float *)xv, p, p + 1);
        else if (tile) pg__stream_copy(out, tile, sizeof(int64_t) * (size_t)ohw);
    }
    if (tile) pg__stream_fence();
}
/* planes [lo, hi) forward (bwd false: y) or backward (dx from the upstream j->in and the saved x); false
 * when the scratch cannot be had */
PG_PL_AVX512 static bool pg__m3(const pg_pl_job *j, bool bwd, int64_t lo, int64_t hi) {
    const pg_pl pl_ = *j->pl, *pl = &pl_;
    const int64_t w = pl->w, ow = pl->ow, oh = pl->oh, hw = pl->h * w, ohw = oh * ow, nb = (ow + 15) / 16;
    const int64_t outn = bwd ? hw : ohw, es = j->idx ? sizeof(int64_t) : sizeof(float);
    const bool stream = (uint64_t)pl->planes * (uint64_t)(outn * es) >= (bwd ? PG_PL_STREAM_MIN : PG_PL_STREAM_FWD_MIN) &&
                        outn * es <= ((int64_t)1 << 18);
    void *tile = NULL;
    if (stream && !(tile = malloc((size_t)(es * outn)))) return false;
    if (j->idx) {
        pg__m3_idx(pl, j->idx, j->x, tile, lo, hi);
        free(tile);
        return true;
    }
    __mmask16 ml[PG_M3_NB], mh[PG_M3_NB], mn[PG_M3_NB];
    for (int64_t k = 0; k < nb; k++) {
        ml[k] = pg__max32_mask(2 * (ow - 16 * k)), mh[k] = pg__max32_mask(2 * (ow - 16 * k) - 16);
        mn[k] = pg__max32_mask(ow - 16 * k);
    }
    const __m512 ninf = _mm512_set1_ps(-INFINITY), zero = _mm512_setzero_ps();
    for (int64_t p = lo; p < hi; p++) {
        const float *x = (const float *)(bwd ? j->x : j->in) + p * hw, *pf = x + 512, *pe = x + hw + 512;
        float *out = (float *)j->out + p * outn, *d = tile ? tile : out;
        __mmask16 nan = 0;
        __m512 sh[PG_M3_NB], se[PG_M3_NB], so[PG_M3_NB]; /* row 2a + 1's stage, dx's row 2a + 1 so far */
        __mmask16 s1[PG_M3_NB], s2[PG_M3_NB];
        if (!bwd) {
            for (int64_t a = 0; a < oh; a++) {
                const float *r1 = x + 2 * a * w, *r2 = r1 + w;
                for (; pf < r2 + w + 512 && pf < pe; pf += 16) _mm_prefetch((const char *)pf, _MM_HINT_T0);
                for (int64_t k = 0; k < nb; k++) {
                    const __m512 h1 = pg__m3_row(r1, 16 * k, ml[k], mh[k], NULL, NULL, &nan);
                    const __m512 h2 = pg__m3_row(r2, 16 * k, ml[k], mh[k], NULL, NULL, &nan);
                    _mm512_mask_storeu_ps(d + a * ow + 16 * k, mn[k],
                                          _mm512_max_ps(h2, _mm512_max_ps(h1, a ? sh[k] : ninf)));
                    sh[k] = h2;
                }
            }
            if (nan) {
                pg__max32_fwd((void *)j, p, p + 1);
                continue;
            }
            if (tile) pg__stream_copy(out, tile, sizeof(float) * (size_t)ohw);
            continue;
        }
        const float *g = (const float *)j->in + p * ohw;
        for (int64_t a = 0; a < oh; a++) {
            const float *r1 = x + 2 * a * w, *r2 = r1 + w, *gr = g + a * ow;
            for (; pf < r2 + w + 512 && pf < pe; pf += 16) _mm_prefetch((const char *)pf, _MM_HINT_T0);
            float *d1 = d + 2 * a * w;
            __m512 c0 = zero, c1 = zero, c2 = zero;
            for (int64_t k = nb - 1; k >= 0; k--) {
                __mmask16 u1, u2, v1, v2;
                const __m512 h1 = pg__m3_row(r1, 16 * k, ml[k], mh[k], &u1, &u2, &nan);
                const __m512 h2 = pg__m3_row(r2, 16 * k, ml[k], mh[k], &v1, &v2, &nan);
                const __m512 h0 = a ? sh[k] : ninf;
                const __mmask16 k1 = a ? _mm512_cmp_ps_mask(h1, h0, _CMP_GT_OQ) : 0xffff;
                const __mmask16 k2 = _mm512_cmp_ps_mask(h2, _mm512_mask_mov_ps(h0, k1, h1), _CMP_GT_OQ);
                const __m512 gv = _mm512_maskz_loadu_ps(mn[k], gr + 16 * k);
                __m512 e = zero, o = zero; /* dx's row 2a: this output row alone */
                pg__m3_add(&e, &o, &c1, _mm512_maskz_mov_ps(k1 & (__mmask16)~k2, gv), u1, u2);
                pg__m3_put(d1 + 32 * k, e, o, ml[k], mh[k]);
                if (a) { /* dx's row 2a - 1: output row a - 1's share, then this one's */
                    e = se[k], o = so[k];
                    pg__m3_add(&e, &o, &c0, _mm512_maskz_mov_ps((__mmask16) ~(k1 | k2), gv), s1[k], s2[k]);
                    pg__m3_put(d1 - w + 32 * k, e, o, ml[k], mh[k]);
                }
                se[k] = zero, so[k] = zero;
                pg__m3_add(&se[k], &so[k], &c2, _mm512_maskz_mov_ps(k2, gv), v1, v2);
                sh[k] = h2, s1[k] = v1, s2[k] = v2;
            }
        }
        for (int64_t k = 0; k < nb; k++) pg__m3_put(d + (pl->h - 1) * w + 32 * k, se[k], so[k], ml[k], mh[k]);
        if (nan) {
            pg__max32_bwd((void *)j, p, p + 1);
            continue;
        }
        if (tile) pg__stream_copy(out, tile, sizeof(float) * (size_t)hw);
    }
    if (tile) pg__stream_fence();
    free(tile);
    return true;
}
static void pg__m3_fwd(void *ctx, int64_t lo, int64_t hi) {
    if (!pg__m3(ctx, false, lo, hi)) pg__max32_fwd(ctx, lo, hi);
}
static void pg__m3_bwd(void *ctx, int64_t lo, int64_t hi) {
    if (!pg__m3(ctx, true, lo, hi)) pg__max32_bwd(ctx, lo, hi);
}
static void pg__m3_idx_job(void *ctx, int64_t lo, int64_t hi) {
    if (!pg__m3(ctx, false, lo, hi)) pg__maxpool_idx_job_f32(ctx, lo, hi);
}
#else
static bool pg__max32_ok(const pg_pl *pl, bool f64) { return (void)pl, (void)f64, false; }
static void pg__max32_fwd(void *ctx, int64_t lo, int64_t hi) { pg__maxsep_fwd_f32(ctx, lo, hi); }
static void pg__max32_bwd(void *ctx, int64_t lo, int64_t hi) { pg__maxsep_bwd_f32(ctx, lo, hi); }
static bool pg__m3_ok(const pg_pl *pl) { return (void)pl, false; }
static void pg__m3_fwd(void *ctx, int64_t lo, int64_t hi) { pg__max32_fwd(ctx, lo, hi); }
static void pg__m3_bwd(void *ctx, int64_t lo, int64_t hi) { pg__max32_bwd(ctx, lo, hi); }
static void pg__m3_idx_job(void *ctx, int64_t lo, int64_t hi) { pg__maxpool_idx_job_f32(ctx, lo, hi); }
#endif

/* max_pool2d 2x2/2 forward in float with AVX-512 (pg__pl_22 and pg__max22_avx512 checked by the caller):
 * planes [lo, hi), a row at a time */
static void pg__max22_fwd32(void *ctx, int64_t lo, int64_t hi) {
    const pg_pl_job *j = ctx;
    const pg_pl pl_ = *j->pl, *pl = &pl_;
    const int64_t ohw = pl->oh * pl->ow;
    /* a large output: each plane built in a tile in the caches, then streamed out */
    float *tile = (uint64_t)pl->planes * (uint64_t)ohw * sizeof(float) >= PG_PL_STREAM_FWD_MIN &&
                  ohw * (int64_t)sizeof(float) <= ((int64_t)1 << 18) ? malloc(sizeof(float) * (size_t)ohw) : NULL;
    for (int64_t p = lo; p < hi; p++) {
        const float *x = (const float *)j->in + p * pl->h * pl->w;
        float *y = (float *)j->out + p * ohw, *d = tile ? tile : y;
        for (int64_t a = 0; a < pl->oh; a++)
            pg__max22_fwd_row32(x + 2 * a * pl->w, x + (2 * a + 1) * pl->w, d + a * pl->ow, pl->ow);
        if (tile) pg__stream_copy(y, tile, sizeof(float) * (size_t)ohw);
    }
    if (tile) pg__stream_fence();
    free(tile);
}
/* 2x2 windows at stride 2, no padding or dilation, every window inside the input */
static bool pg__pl_22(const pg_pl *pl) {
    return pl->kh == 2 && pl->kw == 2 && pl->sh == 2 && pl->sw == 2 && pl->ph == 0 && pl->pw == 0 && pl->dh == 1 &&
           pl->dw == 1 && !pl->adaptive && 2 * pl->oh <= pl->h && 2 * pl->ow <= pl->w;
}

enum { PG_PL_MAX, PG_PL_MAX_BWD, PG_PL_AVG, PG_PL_AVG_BWD, PG_PL_MAX_IDX };

/* runs one kernel over all planes on the thread pool */
static void pg__pl_run(int kind, const pg_pl *pl, bool f64, void *out, const void *in, const void *x, int64_t *idx) {
    static const pg_range_fn fns[2][5] = {
        {pg__maxpool_fwd_f32, pg__maxpool_bwd_f32, pg__avgpool_fwd_f32, pg__avgpool_bwd_f32, pg__maxpool_idx_job_f32},
        {pg__maxpool_fwd_f64, pg__maxpool_bwd_f64, pg__avgpool_fwd_f64, pg__avgpool_bwd_f64, pg__maxpool_idx_job_f64},
    };
    pg_pl_job j = {pl, out, in, x, idx};
    int64_t per = pl->h * pl->w + pl->oh * pl->ow;
    pg_range_fn fn = fns[f64][kind];
    if ((kind == PG_PL_MAX || kind == PG_PL_MAX_BWD) && pg__max32_ok(pl, f64)) {
        pg__parallel_range(pl->planes, 1, PG_NDITER_GRAIN / (per ? per : 1) + 1,
                           kind == PG_PL_MAX ? (pg__m3_ok(pl) ? pg__m3_fwd : pg__max32_fwd)
                                             : (pg__m3_ok(pl) ? pg__m3_bwd : pg__max32_bwd), &j);
        return;
    }
    if (kind == PG_PL_MAX && !f64 && pg__pl_22(pl) && pg__max22_avx512())
        fn = pg__max22_fwd32;
    else if (kind == PG_PL_AVG || kind == PG_PL_AVG_BWD) { /* separable; x marks the transpose */
        fn = f64 ? pg__avgpool_sep_f64 : pg__avgpool_sep_f32;
        j.x = kind == PG_PL_AVG_BWD ? in : NULL;
    } else if (kind == PG_PL_MAX_BWD && pg__pl_22(pl))
        fn = f64 ? pg__maxpool_bwd22_f64 : pg__maxpool_bwd22_f32;
    else if ((kind == PG_PL_MAX || kind == PG_PL_MAX_BWD) && pl->dh == 1 && pl->dw == 1 &&
             pl->h * pl->w < ((int64_t)1 << 31) && !(kind == PG_PL_MAX && pl->kh == 2 && pl->kw == 2 &&
                                                      pl->sh == 2 && pl->sw == 2 && pl->ph == 0 && pl->pw == 0))
        fn = kind == PG_PL_MAX ? (f64 ? pg__maxsep_fwd_f64 : pg__maxsep_fwd_f32)
                               : (f64 ? pg__maxsep_bwd_f64 : pg__maxsep_bwd_f32);
    pg__parallel_range(pl->planes, 1, PG_NDITER_GRAIN / (per ? per : 1) + 1, fn, &j);
}

/* ---- the ops ---- */

static bool pg__pl_is_grad(int op) { return op == PG_OP_AVG_POOL2D_INPUT_GRAD; }

/* the pooling's geometry from the op's input meta (the input, or for the gradient op the upstream) */
static pg_status pg__pl_plan_op(int op, pg_pl *pl, const pg_meta *in, const pg_params *p) {
    const char *name = pg_optable[op]->name;
    if (!pg__pl_is_grad(op)) return pg__pl_plan(name, pl, in, p);
    char b[PG_SHAPE_BUF];
    if (in->ndim != 4)
        return pg__fail(PG_ERR_SHAPE, "%s: expected a 4-d gradient (N, C, OH, OW), got %s", name,
                        pg__shape_str(in->ndim, in->shape, b, sizeof b));
    pg_meta xm = {.dtype = in->dtype, .ndim = 4, .shape = {in->shape[0], in->shape[1], p->pool.size[0],
                                                             p->pool.size[1]}};
    if (pg__pl_plan(name, pl, &xm, p)) return pg_last_status();
    if (in->shape[2] != pl->oh || in->shape[3] != pl->ow)
        return pg__fail(PG_ERR_SHAPE, "%s: gradient of shape %s, expected (%lld, %lld, %lld, %lld) for an input of "
                        "%lld x %lld", name, pg__shape_str(in->ndim, in->shape, b, sizeof b),
                        (long long)in->shape[0], (long long)in->shape[1], (long long)pl->oh, (long long)pl->ow,
                        (long long)pl->h, (long long)pl->w);
    return PG_OK;
}

static pg_status pool_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    if (pg__check_float(pg_optable[p->op]->name, in[0])) return PG_ERR_TYPE;
    pg_meta m;
    pg__meta_of(&m, in[0]);
    pg_pl pl;
    if (pg__pl_plan_op(p->op, &pl, &m, p)) return pg_last_status();
    *out = m;
    out->shape[2] = pg__pl_is_grad(p->op) ? pl.h : pl.oh;
    out->shape[3] = pg__pl_is_grad(p->op) ? pl.w : pl.ow;
    return PG_OK;
}

static pg_status pool_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg_meta m;
    pg__meta_of(&m, in[0]);
    pg_pl pl;
    if (pg__pl_plan_op(p->op, &pl, &m, p)) return pg_last_status();
    if (out->numel == 0) return PG_OK;
    int kind = p->op == PG_OP_MAX_POOL2D ? PG_PL_MAX : pg__pl_is_grad(p->op) ? PG_PL_AVG_BWD : PG_PL_AVG;
    pg__pl_run(kind, &pl, out->dtype == PG_DTYPE_F64, out->data, in[0]->data, NULL, NULL);
    return PG_OK;
}

/* the node's geometry: from its input, or for the gradient op from its output (the input it transposes to) */
static void pg__pl_node_geom(pg_pl *pl, const pg_node *n) {
    if (!pg__pl_is_grad(n->op)) pg__pl_plan(pg_optable[n->op]->name, pl, &n->edges[0].meta, &n->p);
    else pg__pl_plan(pg_optable[n->op]->name, pl, &n->out_meta, &n->p);
}

static pg_status pool_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_pl pl;
    pg__pl_node_geom(&pl, n);
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return PG_ERR_MEMORY;
    dx[0] = d;
    if (d->numel == 0) return PG_OK;
    bool f64 = d->dtype == PG_DTYPE_F64;
    if (n->op == PG_OP_MAX_POOL2D) pg__pl_run(PG_PL_MAX_BWD, &pl, f64, d->data, g->data, n->saved[0]->data, NULL);
    else if (pg__pl_is_grad(n->op)) pg__pl_run(PG_PL_AVG, &pl, f64, d->data, g->data, NULL, NULL);
    else pg__pl_run(PG_PL_AVG_BWD, &pl, f64, d->data, g->data, NULL, NULL);
    return PG_OK;
}

static pg_tensor *pg__pool_apply(int op, pg_tensor *x, const pg_params *p0) {
    pg_params p = *p0;
    p.op = op;
    return pg__apply(op, &x, 1, &p);
}

/* max_pool2d's rule: dx = scatter_add(g, x's shape, plane·H·W + argmax), whose rule is the gather back;
 * a window with nothing inside the input (idx -1) sends its gradient nowhere: g is zeroed there first */
static pg_status pg__maxpool_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n, const pg_pl *pl) {
    const pg_tensor *x = pg__saved_input(n, 0);
    int64_t per = pl->oh * pl->ow, total = pl->planes * per;
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(total > 0 ? total : 1));
    if (!off) return pg__fail(PG_ERR_MEMORY, "max_pool2d: out of memory for the indices of the rule");
    if (x->dtype == PG_DTYPE_F64) pg__maxpool_idx_f64(pl, off, x->data, 0, pl->planes);
    else pg__maxpool_idx_f32(pl, off, x->data, 0, pl->planes);
    pg_keep keep = {0};
    pg_tensor *src = g, *mask = NULL;
    for (int64_t i = 0; i < total; i++) {
        if (off[i] < 0) { /* g · mask, the mask 0 at the empty windows */
            if (!mask && !(mask = pg__keep(&keep, pg__const(&n->out_meta, 1.0)))) goto fail;
            if (x->dtype == PG_DTYPE_F64) ((double *)mask->data)[i] = 0;
            else ((float *)mask->data)[i] = 0;
            off[i] = 0;
        }
        off[i] += (i / per) * pl->h * pl->w;
    }
    if (mask && !(src = pg__keep(&keep, pg_mul(g, mask)))) goto fail;
    dx[0] = pg_scatter_add(src, n->edges[0].meta.ndim, n->edges[0].meta.shape, off);
    free(off);
    pg__keep_free(&keep);
    return dx[0] ? PG_OK : pg__rule_status();
fail:
    free(off);
    pg__keep_free(&keep);
    return pg__rule_status();
}

/* each average's rule is the other: avg_pool2d (or adaptive) <-> avg_pool2d_input_grad */
static pg_status pool_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_pl pl;
    pg__pl_node_geom(&pl, n);
    if (n->op == PG_OP_MAX_POOL2D) return pg__maxpool_rule(dx, g, n, &pl);
    pg_params p = n->p;
    int op;
    if (pg__pl_is_grad(n->op)) op = p.pool.adaptive ? PG_OP_ADAPTIVE_AVG_POOL2D : PG_OP_AVG_POOL2D;
    else {
        op = PG_OP_AVG_POOL2D_INPUT_GRAD;
        p.pool.size[0] = pl.h;
        p.pool.size[1] = pl.w;
    }
    dx[0] = pg__pool_apply(op, g, &p);
    return dx[0] ? PG_OK : pg__rule_status();
}

/* ---- entry points ---- */

static bool pg__pl_args(const char *op, pg_tensor *x, const int64_t *a, const int64_t *b, const int64_t *c) {
    if (pg__check_tensor(op, x)) return false;
    if (!a || !b || !c) {
        pg__fail(PG_ERR_VALUE, "%s: a NULL parameter array", op);
        return false;
    }
    return true;
}

pg_tensor *pg_max_pool2d(pg_tensor *x, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                         const int64_t *dilation, int ceil_mode, pg_tensor **indices) {
    if (indices) *indices = NULL;
    if (!pg__pl_args("max_pool2d", x, kernel, stride, padding) || !pg__pl_args("max_pool2d", x, dilation, dilation,
                                                                                 dilation))
        return NULL;
    pg_params p = {0};
    memcpy(p.pool.kernel, kernel, sizeof p.pool.kernel);
    memcpy(p.pool.stride, stride, sizeof p.pool.stride);
    memcpy(p.pool.pad, padding, sizeof p.pool.pad);
    memcpy(p.pool.dilation, dilation, sizeof p.pool.dilation);
    p.pool.ceil_mode = ceil_mode != 0;
    pg_tensor *y = pg__pool_apply(PG_OP_MAX_POOL2D, x, &p);
    if (!y || !indices) return y;
    pg_meta m;
    pg__meta_of(&m, x);
    pg_pl pl;
    pg__pl_plan("max_pool2d", &pl, &m, &p);
    pg_tensor *idx = pg__tensor_new(PG_DTYPE_I64, y->ndim, y->shape);
    if (!idx) {
        pg_tensor_release(y);
        return NULL;
    }
    if (idx->numel) {
        pg_pl_job j = {&pl, NULL, NULL, x->data, idx->data};
        int64_t per = pl.h * pl.w + pl.oh * pl.ow;
        pg__parallel_range(pl.planes, 1, PG_NDITER_GRAIN / (per ? per : 1) + 1,
                           x->dtype == PG_DTYPE_F64       ? pg__maxpool_idx_job_f64
                           : pg__max32_ok(&pl, false) && pg__m3_ok(&pl) ? pg__m3_idx_job
                                                                        : pg__maxpool_idx_job_f32, &j);
    }
    *indices = idx;
    return y;
}

static void pg__avg_params(pg_params *p, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                           int ceil_mode, int count_include_pad, int64_t divisor_override) {
    memcpy(p->pool.kernel, kernel, sizeof p->pool.kernel);
    memcpy(p->pool.stride, stride, sizeof p->pool.stride);
    memcpy(p->pool.pad, padding, sizeof p->pool.pad);
    p->pool.dilation[0] = p->pool.dilation[1] = 1;
    p->pool.ceil_mode = ceil_mode != 0;
    p->pool.count_include_pad = count_include_pad != 0;
    p->pool.divisor = divisor_override;
}

pg_tensor *pg_avg_pool2d(pg_tensor *x, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                         int ceil_mode, int count_include_pad, int64_t divisor_override) {
    if (!pg__pl_args("avg_pool2d", x, kernel, stride, padding)) return NULL;
    pg_params p = {0};
    pg__avg_params(&p, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override);
    return pg__pool_apply(PG_OP_AVG_POOL2D, x, &p);
}

pg_tensor *pg_adaptive_avg_pool2d(pg_tensor *x, const int64_t *output_hw) {
    if (!pg__pl_args("adaptive_avg_pool2d", x, output_hw, output_hw, output_hw)) return NULL;
    pg_params p = {0};
    p.pool.adaptive = true;
    p.pool.out[0] = output_hw[0];
    p.pool.out[1] = output_hw[1];
    return pg__pool_apply(PG_OP_ADAPTIVE_AVG_POOL2D, x, &p);
}

pg_tensor *pg_avg_pool2d_input_grad(pg_tensor *g, const int64_t *input_hw, const int64_t *kernel,
                                    const int64_t *stride, const int64_t *padding, int ceil_mode,
                                    int count_include_pad, int64_t divisor_override) {
    if (!pg__pl_args("avg_pool2d_input_grad", g, input_hw, kernel, stride) ||
        !pg__pl_args("avg_pool2d_input_grad", g, padding, padding, padding))
        return NULL;
    pg_params p = {0};
    pg__avg_params(&p, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override);
    p.pool.size[0] = input_hw[0];
    p.pool.size[1] = input_hw[1];
    return pg__pool_apply(PG_OP_AVG_POOL2D_INPUT_GRAD, g, &p);
}

pg_tensor *pg_adaptive_avg_pool2d_input_grad(pg_tensor *g, const int64_t *input_hw) {
    if (!pg__pl_args("avg_pool2d_input_grad", g, input_hw, input_hw, input_hw)) return NULL;
    if (pg__check_tensor("avg_pool2d_input_grad", g)) return NULL;
    pg_params p = {0};
    p.pool.adaptive = true;
    p.pool.size[0] = input_hw[0];
    p.pool.size[1] = input_hw[1];
    p.pool.out[0] = g->ndim == 4 ? g->shape[2] : 0;
    p.pool.out[1] = g->ndim == 4 ? g->shape[3] : 0;
    return pg__pool_apply(PG_OP_AVG_POOL2D_INPUT_GRAD, g, &p);
}

PG_OPDEF(max_pool2d, pool_infer, pool_forward, pool_backward, pool_rule);
PG_OPDEF(avg_pool2d, pool_infer, pool_forward, pool_backward, pool_rule);
PG_OPDEF(adaptive_avg_pool2d, pool_infer, pool_forward, pool_backward, pool_rule);
PG_OPDEF(avg_pool2d_input_grad, pool_infer, pool_forward, pool_backward, pool_rule);
