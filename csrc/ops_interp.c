/* ops_interp.c: resampling (PyTorch's interpolate: nearest, nearest-exact, linear, bilinear, bicubic,
 * and bilinear and bicubic antialiased) of (N, C, L) and (N, C, H, W), and its gradient op:
 *
 *   interpolate(x)             y[p] = Ah x[p] Awᵀ     x (N, C, H, W) -> (N, C, OH, OW)
 *   interpolate_input_grad(g)  dx[p] = Ahᵀ g[p] Aw    g (N, C, OH, OW) -> (N, C, H, W)
 *
 * over the planes p = n·C + c; a 3-d input is a plane of one row (H = OH = 1, Ah = [1]). Ah (OH, H) and
 * Aw (OW, W) are the resampling maps of each spatial dim: a row o holds one 1 (nearest: at the source
 * index) or two weights (linear: 1 - l at i, l at i + 1), from PyTorch's CPU arithmetic in the dtype
 * (pg__ip_taps). A call computes each map once, as per-row source indices and weights; the kernels then
 * run plane by plane on the thread pool:
 *
 *   forward    each input row the H map reads is resampled along W once and kept while the next output
 *              rows read it (a cache of two: the source rows never decrease); an output row is the
 *              weighted sum of its (at most two) resampled rows, or a copy; an output of 16 MiB or more
 *              is written with streaming stores (x86-64)
 *   transpose  the scatter-add: each upstream row is added, weighted, into the (at most two) input rows
 *              it came from, held at the output's width; a row no later upstream row reaches is spread
 *              along W into dx (the adjoint of the W map, its sums per input column run in registers),
 *              once
 *
 * Cubic and antialiased maps hold more taps per output (4 for cubic, up to the filter's support for
 * antialiased; pg__ip_taps_k): their kernels (pg__ip_tfwd, pg__ip_tbwd) resample every input row of a
 * plane along W into scratch and combine those rows along H, and transpose that.
 *
 * Both ops are linear; each one's gradient and rule is the other, so double backward is exact. Not here:
 * the output size from scale_factor, recompute_scale_factor, the mode names (pygrad/nn/functional.py). */
#include "rules_util.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* what one spatial dim's map is */
enum {
    PG_IP_COPY,   /* out == in and y[o] = x[o] */
    PG_IP_GATHER, /* y[o] = x[i0[o]] (nearest) */
    PG_IP_LINEAR, /* y[o] = x[i0[o]] l0[o] + x[i1[o]] l1[o] */
    PG_IP_TAPS    /* y[o] = Σ_{t < nt[o]} x[idx[o·k + t]] wt[o·k + t] (cubic, antialiased) */
};

typedef struct pg_ip_map {
    int kind;
    int64_t n, on;         /* input and output size along the dim */
    int64_t *i0, *i1;      /* [on] source indices, non-decreasing in o; i1 = min(i0 + 1, n - 1) (linear) */
    void *l0, *l1;         /* [on] their weights in the dtype (linear) */
    int64_t k;             /* taps: the row stride of idx and wt (the most taps of an output) */
    int64_t *nt, *idx;     /* taps: [on] the taps of each output, [on, k] their sources */
    void *wt;              /* taps: [on, k] their weights in the dtype */
    int64_t *tptr, *tout;  /* taps, transposed: input j's taps are tout[tptr[j] .. tptr[j + 1]) (the outputs, */
    void *twt;             /* in (o, t) order) with weights twt: [n + 1], [Σ nt], [Σ nt] */
} pg_ip_map;

/* one resampling: planes of H x W <-> OH x OW */
typedef struct pg_ip {
    int64_t planes;
    pg_ip_map h, w;
    void *mem;     /* the maps' arrays */
    void *tmem[2]; /* the taps maps' arrays (h, w) */
} pg_ip;

/* PyTorch's guard_index_and_lambda: min(floor((float)v), n - 1) for v >= 0; v at or past n (an infinity
 * included) gives n - 1 without converting it */
static inline int64_t pg__ip_floor(double v, int64_t n) {
    if (!(v < (double)n)) return n - 1;
    int64_t i = (int64_t)floorf((float)v);
    return i < n - 1 ? i : n - 1;
}

/* Source indices and weights of one dim, n -> on, in T (PyTorch's opmath of float and double): the scale
 * s = 1/sc when sc > 0 (a scale_factor kept), else n/on (align_corners: (n-1)/(on-1), 0 when on is 1);
 *   nearest        i = floor(s·o)                      (PyTorch's HelperInterpNearest)
 *   nearest-exact  i = floor(max(s·(o + ½) - ½, 0) + ½)
 *   linear         src = max(s·(o + ½) - ½, 0), or s·o with align_corners; i = floor(src),
 *                  l1 = clamp(src - i, 0, 1), l0 = 1 - l1; out == in copies
 * each index then capped at n - 1. Returns the map's kind. */
#define PG_IP_TAPS(T, SUF)                                                                                  \
    static int pg__ip_taps_##SUF(int mode, bool align, double sc, int64_t n, int64_t on, int64_t *i0,      \
                                 int64_t *i1, T *l0, T *l1) {                                              \
        if (mode == PG_INTERP_LINEAR) {                                                                     \
            if (on == n) {                                                                                  \
                for (int64_t o = 0; o < on; o++) i0[o] = i1[o] = o, l0[o] = (T)1, l1[o] = (T)0;             \
                return PG_IP_COPY;                                                                          \
            }                                                                                               \
            T s = align ? (on > 1 ? (T)(n - 1) / (T)(on - 1) : (T)0) : sc > 0 ? (T)(1.0 / sc) : (T)n / (T)on; \
            for (int64_t o = 0; o < on; o++) {                                                              \
                T src = align ? s * (T)o : s * ((T)o + (T)0.5) - (T)0.5;                                    \
                if (src < (T)0) src = (T)0;                                                                 \
                int64_t i = pg__ip_floor((double)src, n);                                                   \
                T l = src - (T)i;                                                                           \
                l = l < (T)0 ? (T)0 : l > (T)1 ? (T)1 : l;                                                  \
                i0[o] = i;                                                                                  \
                i1[o] = i < n - 1 ? i + 1 : i;                                                              \
                l1[o] = l;                                                                                  \
                l0[o] = (T)1 - l;                                                                           \
            }                                                                                               \
            return PG_IP_LINEAR;                                                                            \
        }                                                                                                   \
        T s = sc > 0 ? (T)(1.0 / sc) : (T)n / (T)on;                                                        \
        bool identity = on == n;                                                                            \
        for (int64_t o = 0; o < on; o++) {                                                                  \
            if (mode == PG_INTERP_NEAREST) i0[o] = pg__ip_floor((double)(s * (T)o), n);                     \
            else {                                                                                          \
                T src = s * ((T)o + (T)0.5) - (T)0.5;                                                       \
                if (src < (T)0) src = (T)0;                                                                 \
                i0[o] = pg__ip_floor((double)src + 0.5, n);                                                 \
            }                                                                                               \
            identity &= i0[o] == o;                                                                         \
        }                                                                                                   \
        return identity ? PG_IP_COPY : PG_IP_GATHER;                                                        \
    }
PG_IP_TAPS(float, f32)
PG_IP_TAPS(double, f64)

/* The cubic convolution (Keys) with parameter A, PyTorch's cubic_convolution1 (|x| <= 1) and
 * cubic_convolution2 (1 < |x| < 2):
 *   c1(x) = ((A + 2) x - (A + 3)) x² + 1        c2(x) = ((A x - 5A) x + 8A) x - 4A */
#define PG_IP_CUBIC(T, SUF)                                                                                 \
    static inline T pg__ip_c1_##SUF(T x, T A) { return ((A + (T)2) * x - (A + (T)3)) * x * x + (T)1; }     \
    static inline T pg__ip_c2_##SUF(T x, T A) { return ((A * x - (T)5 * A) * x + (T)8 * A) * x - (T)4 * A; }
PG_IP_CUBIC(float, f32)
PG_IP_CUBIC(double, f64)

/* PyTorch's static_cast<int64_t>(v) of the antialiased window's ends, held to [0, n] (an end outside
 * falls back on the input's edge, as PyTorch's max(·, 0) and min(·, n) do; no cast of a value past them) */
static inline int64_t pg__ip_trunc(double v, int64_t n) {
    if (!(v > 0)) return 0;
    if (!(v < (double)n)) return n;
    return (int64_t)v;
}

/* the taps per output of a taps map of mode (cubic or antialiased) n -> on with scale s: 4, or PyTorch's
 * ceil(support)·2 + 1, support = (2 or 4)/2 · max(s, 1) in the dtype (support: support's value as
 * computed in it), capped at n (no window holds more) */
static int64_t pg__ip_ntaps(int mode, double support, int64_t n) {
    if (!(mode & PG_INTERP_ANTIALIAS)) return 4;
    if (!(support < (double)n)) return n;
    int64_t k = (int64_t)ceil(support) * 2 + 1;
    return k < n ? k : n;
}

/* The taps of one dim n -> on in T, s as in pg__ip_taps (align_corners: (n-1)/(on-1)):
 *   cubic        src = s·(o + ½) - ½ (s·o with align_corners), not raised to 0; i = floor(src) capped at
 *                n - 1, l = clamp(src - i, 0, 1); taps clamp(i - 1 + t, 0, n - 1), t = 0..3, weights
 *                c2(l + 1), c1(l), c1(1 - l), c2(2 - l) with A = -0.75 (PyTorch's
 *                get_cubic_upsample_coefficients)
 *   antialiased  centre c = s·(o + ½), support σ = (1 linear, 2 cubic)·max(s, 1); the window
 *                [max(trunc(c - σ + ½), 0), min(trunc(c + σ + ½), n)), each j in it weighted
 *                f((j - c + ½)/max(s, 1)), f(x) = max(1 - |x|, 0) (linear) or c1(|x|), c2(|x|), 0 by |x|
 *                with A = -0.5 (cubic), then divided by their sum (when not 0)
 * (PyTorch's HelperInterpCubic and _compute_indices_min_size_weights_aa). */
#define PG_IP_TAPS_K(T, SUF)                                                                                \
    static T pg__ip_scale_##SUF(bool align, double sc, int64_t n, int64_t on) {                             \
        return align ? (on > 1 ? (T)(n - 1) / (T)(on - 1) : (T)0) : sc > 0 ? (T)(1.0 / sc) : (T)n / (T)on;  \
    }                                                                                                       \
    static void pg__ip_taps_k_##SUF(int mode, bool align, double sc, int64_t n, int64_t on, int64_t k,      \
                                    int64_t *nt, int64_t *idx, T *wt) {                                     \
        T s = pg__ip_scale_##SUF(align, sc, n, on);                                                         \
        if (!(mode & PG_INTERP_ANTIALIAS)) {                                                                \
            const T A = (T)-0.75;                                                                           \
            for (int64_t o = 0; o < on; o++) {                                                              \
                T src = align ? s * (T)o : s * ((T)o + (T)0.5) - (T)0.5;                                    \
                int64_t i = pg__ip_floor((double)src, n);                                                   \
                T l = src - (T)i;                                                                           \
                l = l < (T)0 ? (T)0 : l > (T)1 ? (T)1 : l;                                                  \
                T c[4] = {pg__ip_c2_##SUF(l + (T)1, A), pg__ip_c1_##SUF(l, A), pg__ip_c1_##SUF((T)1 - l, A), \
                          pg__ip_c2_##SUF(((T)1 - l) + (T)1, A)};                                           \
                nt[o] = 4;                                                                                  \
                for (int t = 0; t < 4; t++) {                                                               \
                    int64_t j = i - 1 + t;                                                                  \
                    idx[o * k + t] = j < 0 ? 0 : j > n - 1 ? n - 1 : j;                                     \
                    wt[o * k + t] = c[t];                                                                   \
                }                                                                                           \
            }                                                                                               \
            return;                                                                                         \
        }                                                                                                   \
        const bool cubic = (mode & ~PG_INTERP_ANTIALIAS) == PG_INTERP_CUBIC;                                \
        const T support = (cubic ? (T)2 : (T)1) * (s >= (T)1 ? s : (T)1);                                   \
        const T inv = s >= (T)1 ? (T)1 / s : (T)1, A = (T)-0.5;                                             \
        for (int64_t o = 0; o < on; o++) {                                                                  \
            T c = s * ((T)o + (T)0.5);                                                                      \
            int64_t lo = pg__ip_trunc((double)(c - support + (T)0.5), n);                                   \
            int64_t m = pg__ip_trunc((double)(c + support + (T)0.5), n) - lo;                               \
            m = m < 0 ? 0 : m > k ? k : m;                                                                  \
            T *w = wt + o * k, total = (T)0;                                                                \
            for (int64_t t = 0; t < m; t++) {                                                               \
                T x = ((T)(t + lo) - c + (T)0.5) * inv;                                                     \
                x = x < (T)0 ? -x : x;                                                                      \
                T f = cubic ? (x < (T)1 ? pg__ip_c1_##SUF(x, A) : x < (T)2 ? pg__ip_c2_##SUF(x, A) : (T)0)  \
                            : (x < (T)1 ? (T)1 - x : (T)0);                                                 \
                w[t] = f;                                                                                   \
                total += f;                                                                                 \
                idx[o * k + t] = t + lo;                                                                    \
            }                                                                                               \
            if (total != (T)0)                                                                              \
                for (int64_t t = 0; t < m; t++) w[t] /= total;                                              \
            nt[o] = m;                                                                                      \
        }                                                                                                   \
    }
PG_IP_TAPS_K(float, f32)
PG_IP_TAPS_K(double, f64)

static void pg__ip_free(pg_ip *ip) {
    free(ip->mem), free(ip->tmem[0]), free(ip->tmem[1]);
    ip->mem = ip->tmem[0] = ip->tmem[1] = NULL;
}

/* the maps of a resampling of planes (in spatial sizes) -> (out spatial sizes), nd spatial dims, scales
 * and mode from p; frees with pg__ip_free */
static pg_status pg__ip_plan(pg_ip *ip, const pg_params *p, pg_dtype dt, int nd, int64_t planes, const int64_t *in,
                             const int64_t *out) {
    *ip = (pg_ip){.planes = planes};
    ip->h.n = nd == 2 ? in[0] : 1, ip->h.on = nd == 2 ? out[0] : 1;
    ip->w.n = in[nd - 1], ip->w.on = out[nd - 1];
    size_t el = dt == PG_DTYPE_F64 ? sizeof(double) : sizeof(float);
    size_t per = 2 * sizeof(int64_t) + 2 * el, cnt = (size_t)(ip->h.on + ip->w.on);
    if (!(ip->mem = malloc(per * cnt)))
        return pg__fail(PG_ERR_MEMORY, "interpolate: out of memory for the maps of %lld output rows and columns",
                        (long long)cnt);
    char *m = ip->mem;
    pg_ip_map *maps[2] = {&ip->h, &ip->w};
    double sc[2] = {nd == 2 ? p->interp.scale[0] : 0, p->interp.scale[nd - 1]};
    int mode = p->interp.mode;
    bool taps = (mode & PG_INTERP_ANTIALIAS) || mode == PG_INTERP_CUBIC;
    for (int d = 0; d < 2 && taps; d++) { /* cubic and antialiased: the taps maps */
        pg_ip_map *mp = maps[d];
        if (d == 0 && nd == 1) continue; /* the one row */
        if ((mode & PG_INTERP_ANTIALIAS) && mp->n == mp->on) continue; /* PyTorch skips the dim: a copy */
        bool al = p->interp.align_corners;
        double f = (mode & ~PG_INTERP_ANTIALIAS) == PG_INTERP_CUBIC ? 2 : 1, support;
        if (dt == PG_DTYPE_F64) {
            double s = pg__ip_scale_f64(al, sc[d], mp->n, mp->on);
            support = f * (s >= 1 ? s : 1);
        } else {
            float s = pg__ip_scale_f32(al, sc[d], mp->n, mp->on);
            support = (double)((float)f * (s >= 1 ? s : 1.0f));
        }
        mp->k = pg__ip_ntaps(mode, support, mp->n);
        int64_t cells = pg__mul_sat(mp->on, mp->k);
        if (cells > ((int64_t)1 << 30) || /* only a kept scale far from the sizes' ratio asks for more */
            !(ip->tmem[d] = malloc((size_t)(mp->on + mp->n + 1) * sizeof(int64_t) +
                                   2 * (size_t)cells * (sizeof(int64_t) + el)))) {
            pg__ip_free(ip);
            return pg__fail(PG_ERR_MEMORY, "interpolate: out of memory for the %lld x %lld taps of a map %lld -> %lld",
                            (long long)mp->on, (long long)mp->k, (long long)mp->n, (long long)mp->on);
        }
        /* the int64 arrays first, then the weights: an odd count of float32 weights would misalign them */
        mp->nt = ip->tmem[d], mp->idx = mp->nt + mp->on, mp->tptr = mp->idx + cells;
        mp->tout = mp->tptr + mp->n + 1, mp->wt = mp->tout + cells;
        mp->twt = (char *)mp->wt + el * (size_t)cells;
        if (dt == PG_DTYPE_F64)
            pg__ip_taps_k_f64(mode, p->interp.align_corners, sc[d], mp->n, mp->on, mp->k, mp->nt, mp->idx, mp->wt);
        else
            pg__ip_taps_k_f32(mode, p->interp.align_corners, sc[d], mp->n, mp->on, mp->k, mp->nt, mp->idx, mp->wt);
        /* the transpose, a counting sort of the taps by source that keeps their (o, t) order */
        memset(mp->tptr, 0, sizeof(int64_t) * (size_t)(mp->n + 1));
        for (int64_t o = 0; o < mp->on; o++)
            for (int64_t t = 0; t < mp->nt[o]; t++) mp->tptr[mp->idx[o * mp->k + t] + 1]++;
        for (int64_t j = 0; j < mp->n; j++) mp->tptr[j + 1] += mp->tptr[j];
        for (int64_t o = 0; o < mp->on; o++)
            for (int64_t t = 0; t < mp->nt[o]; t++) {
                int64_t j = mp->idx[o * mp->k + t], e = mp->tptr[j]++;
                mp->tout[e] = o;
                memcpy((char *)mp->twt + el * (size_t)e, (char *)mp->wt + el * (size_t)(o * mp->k + t), el);
            }
        for (int64_t j = mp->n; j > 0; j--) mp->tptr[j] = mp->tptr[j - 1]; /* the cursors back to the starts */
        mp->tptr[0] = 0;
    }
    for (int d = 0; d < 2; d++) {
        pg_ip_map *mp = maps[d];
        size_t k = (size_t)mp->on;
        mp->i0 = (int64_t *)m, mp->i1 = mp->i0 + k;
        mp->l0 = m + 2 * sizeof(int64_t) * k, mp->l1 = (char *)mp->l0 + el * k;
        m += per * k;
        if (mp->idx) mp->kind = PG_IP_TAPS;
        else if (taps) { /* an antialiased dim whose size stays: a copy (its i0 for the naive kernels) */
            for (int64_t o = 0; o < mp->on; o++) mp->i0[o] = mp->i1[o] = o;
            mp->kind = PG_IP_COPY;
        } else if (dt == PG_DTYPE_F64)
            mp->kind = pg__ip_taps_f64(p->interp.mode, p->interp.align_corners, sc[d], mp->n, mp->on, mp->i0,
                                       mp->i1, mp->l0, mp->l1);
        else
            mp->kind = pg__ip_taps_f32(p->interp.mode, p->interp.align_corners, sc[d], mp->n, mp->on, mp->i0,
                                       mp->i1, mp->l0, mp->l1);
    }
    if (nd == 1) ip->h.kind = PG_IP_COPY; /* the one row */
    return PG_OK;
}


/* the kernels' helpers, inlined into each clone (PG_CLONES) with its target */
#if defined(__GNUC__)
#define PG_IP_INLINE static inline __attribute__((always_inline))
#else
#define PG_IP_INLINE static inline
#endif

/* x86-64: a forward output of 16 MiB or more is stored with SSE2's streaming stores (every x86-64 has
 * them), which write whole lines without reading them first: a third less traffic for a y that leaves
 * the caches anyway. Each helper stores y[b] for b from 0 (plainly up to y's first 16-byte boundary, then
 * streamed) and returns the first b left to the caller's plain loop (the tail); the same operations as
 * that loop, so the same values. Elsewhere they store nothing and return 0. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#define PG_IP_STREAM_MIN ((uint64_t)16 << 20)
/* y[b] = t0[b] · u + t1[b] · v */
PG_IP_INLINE int64_t pg__ip_blend_stream_f32(float *y, const float *t0, const float *t1, float u, float v,
                                              int64_t n) {
    int64_t b = 0;
    for (; b < n && ((uintptr_t)(y + b) & 15); b++) y[b] = t0[b] * u + t1[b] * v;
    const __m128 uu = _mm_set1_ps(u), vv = _mm_set1_ps(v);
    for (; b + 4 <= n; b += 4)
        _mm_stream_ps(y + b, _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(t0 + b), uu), _mm_mul_ps(_mm_loadu_ps(t1 + b), vv)));
    return b;
}
PG_IP_INLINE int64_t pg__ip_blend_stream_f64(double *y, const double *t0, const double *t1, double u, double v,
                                              int64_t n) {
    int64_t b = 0;
    for (; b < n && ((uintptr_t)(y + b) & 15); b++) y[b] = t0[b] * u + t1[b] * v;
    const __m128d uu = _mm_set1_pd(u), vv = _mm_set1_pd(v);
    for (; b + 2 <= n; b += 2)
        _mm_stream_pd(y + b, _mm_add_pd(_mm_mul_pd(_mm_loadu_pd(t0 + b), uu), _mm_mul_pd(_mm_loadu_pd(t1 + b), vv)));
    return b;
}
/* y[b] = s[b] */
PG_IP_INLINE int64_t pg__ip_copy_stream_f32(float *y, const float *s, int64_t n) {
    int64_t b = 0;
    for (; b < n && ((uintptr_t)(y + b) & 15); b++) y[b] = s[b];
    for (; b + 4 <= n; b += 4) _mm_stream_ps(y + b, _mm_loadu_ps(s + b));
    return b;
}
PG_IP_INLINE int64_t pg__ip_copy_stream_f64(double *y, const double *s, int64_t n) {
    int64_t b = 0;
    for (; b < n && ((uintptr_t)(y + b) & 15); b++) y[b] = s[b];
    for (; b + 2 <= n; b += 2) _mm_stream_pd(y + b, _mm_loadu_pd(s + b));
    return b;
}
PG_IP_INLINE void pg__ip_sfence(void) { _mm_sfence(); } /* the streamed stores ordered before the pool's join */
#else
#define PG_IP_STREAM_MIN UINT64_MAX
#define PG_IP_NO_STREAM(T, SUF)                                                                             \
    static inline int64_t pg__ip_blend_stream_##SUF(T *y, const T *t0, const T *t1, T u, T v, int64_t n) {  \
        (void)y, (void)t0, (void)t1, (void)u, (void)v, (void)n;                                             \
        return 0;                                                                                           \
    }                                                                                                       \
    static inline int64_t pg__ip_copy_stream_##SUF(T *y, const T *s, int64_t n) {                           \
        (void)y, (void)s, (void)n;                                                                          \
        return 0;                                                                                           \
    }
PG_IP_NO_STREAM(float, f32)
PG_IP_NO_STREAM(double, f64)
static inline void pg__ip_sfence(void) {}
#endif

typedef struct pg_ip_job {
    const pg_ip *ip;
    void *out;       /* forward: y (planes, OH, OW); transpose: dx (planes, H, W) */
    const void *in;  /* forward: x (planes, H, W); transpose: g (planes, OH, OW) */
} pg_ip_job;

/* The kernels, for float and double:
 *   hrow      dst[b] = Σ_j Aw[b, j] src[j]: one row resampled along W (the forward of the W map)
 *   hadj      dst[j] += Σ_b Aw[b, j] src[b]: its adjoint, added into an input row of dx
 *   fwd       y[p] = Ah x[p] Awᵀ over planes [lo, hi)
 *   bwd       dx[p] = Ahᵀ g[p] Aw over planes [lo, hi)
 *   *_naive   the same element by element, without scratch rows: the fallback when there is no memory
 *             for them (fwd_naive computes exactly what fwd does), bwd_naive a scatter-add */
#define PG_IP_KERNELS(T, SUF)                                                                               \
    PG_IP_INLINE void pg__ip_hrow_##SUF(T *restrict dst, const T *restrict src, const pg_ip_map *m) {      \
        const int64_t ow = m->on, *i0 = m->i0, *i1 = m->i1;                                                 \
        const T *l0 = m->l0, *l1 = m->l1;                                                                   \
        if (m->kind == PG_IP_COPY) memcpy(dst, src, sizeof(T) * (size_t)ow);                                \
        else if (m->kind == PG_IP_GATHER)                                                                   \
            for (int64_t b = 0; b < ow; b++) dst[b] = src[i0[b]];                                           \
        else                                                                                                \
            for (int64_t b = 0; b < ow; b++) dst[b] = src[i0[b]] * l0[b] + src[i1[b]] * l1[b];              \
    }                                                                                                       \
    /* dst[i0[b]] += src[b] · l0[b], dst[i1[b]] += src[b] · l1[b] in b order (gather: unweighted): the      \
     * sums of the current index j = i0[b] and of j + 1 run in registers and are added into dst when j      \
     * moves on (the indices never decrease, so each is added once; any order would still be right) */     \
    PG_IP_INLINE void pg__ip_hadj_##SUF(T *restrict dst, const T *restrict src, const pg_ip_map *m) {       \
        const int64_t ow = m->on, *i0 = m->i0, *i1 = m->i1;                                                 \
        const T *l0 = m->l0, *l1 = m->l1;                                                                   \
        if (m->kind == PG_IP_COPY) {                                                                        \
            for (int64_t b = 0; b < ow; b++) dst[b] += src[b];                                              \
            return;                                                                                         \
        }                                                                                                   \
        int64_t cur = i0[0];                                                                                \
        T a0 = (T)0, a1 = (T)0;                                                                             \
        if (m->kind == PG_IP_GATHER) {                                                                      \
            for (int64_t b = 0; b < ow; b++) {                                                              \
                if (i0[b] != cur) {                                                                         \
                    dst[cur] += a0;                                                                         \
                    a0 = (T)0;                                                                              \
                    cur = i0[b];                                                                            \
                }                                                                                           \
                a0 += src[b];                                                                               \
            }                                                                                               \
            dst[cur] += a0;                                                                                 \
            return;                                                                                         \
        }                                                                                                   \
        bool used = false; /* a1 was added to */                                                            \
        for (int64_t b = 0; b < ow; b++) {                                                                  \
            const int64_t j = i0[b];                                                                        \
            if (j != cur) {                                                                                 \
                dst[cur] += a0;                                                                             \
                if (j == cur + 1) a0 = a1;                                                                  \
                else {                                                                                      \
                    if (used) dst[cur + 1] += a1;                                                           \
                    a0 = (T)0;                                                                              \
                }                                                                                           \
                a1 = (T)0, used = false, cur = j;                                                           \
            }                                                                                               \
            const T v = src[b];                                                                             \
            a0 += v * l0[b];                                                                                \
            if (i1[b] == j) a0 += v * l1[b];                                                                \
            else a1 += v * l1[b], used = true;                                                              \
        }                                                                                                   \
        dst[cur] += a0;                                                                                     \
        if (used) dst[cur + 1] += a1;                                                                       \
    }                                                                                                       \
    /* x[r] resampled along W, from the two-row cache c (tags: the rows held) or into the entry the other   \
     * row the caller needs does not hold; a copying W map reads x[r] itself */                            \
    PG_IP_INLINE const T *pg__ip_row_##SUF(const pg_ip *ip, const T *x, int64_t r, int64_t other, T **c,   \
                                            int64_t *tag) {                                                 \
        if (ip->w.kind == PG_IP_COPY) return x + r * ip->w.n;                                               \
        if (tag[0] == r) return c[0];                                                                       \
        if (tag[1] == r) return c[1];                                                                       \
        int k = tag[0] == other ? 1 : 0;                                                                    \
        pg__ip_hrow_##SUF(c[k], x + r * ip->w.n, &ip->w);                                                   \
        tag[k] = r;                                                                                         \
        return c[k];                                                                                        \
    }                                                                                                       \
    static inline T pg__ip_hval_##SUF(const T *xr, const pg_ip_map *m, int64_t b) {                         \
        if (m->kind == PG_IP_COPY) return xr[b];                                                            \
        if (m->kind == PG_IP_GATHER) return xr[m->i0[b]];                                                   \
        return xr[m->i0[b]] * ((const T *)m->l0)[b] + xr[m->i1[b]] * ((const T *)m->l1)[b];                 \
    }                                                                                                       \
    static void pg__ip_fwd_naive_##SUF(const pg_ip_job *j, int64_t lo, int64_t hi) {                        \
        const pg_ip *ip = j->ip;                                                                            \
        const int64_t h = ip->h.n, w = ip->w.n, oh = ip->h.on, ow = ip->w.on;                               \
        const T *l0 = ip->h.l0, *l1 = ip->h.l1;                                                             \
        for (int64_t p = lo; p < hi; p++) {                                                                 \
            const T *x = (const T *)j->in + p * h * w;                                                      \
            T *y = (T *)j->out + p * oh * ow;                                                               \
            for (int64_t a = 0; a < oh; a++)                                                                \
                for (int64_t b = 0; b < ow; b++) {                                                          \
                    T v = pg__ip_hval_##SUF(x + ip->h.i0[a] * w, &ip->w, b);                                \
                    if (ip->h.kind == PG_IP_LINEAR)                                                         \
                        v = v * l0[a] + pg__ip_hval_##SUF(x + ip->h.i1[a] * w, &ip->w, b) * l1[a];          \
                    y[a * ow + b] = v;                                                                      \
                }                                                                                           \
        }                                                                                                   \
    }                                                                                                       \
    static void pg__ip_fwd_##SUF(void *ctx, int64_t lo, int64_t hi) {                                       \
        const pg_ip_job *j = ctx;                                                                           \
        const pg_ip *ip = j->ip;                                                                            \
        const int64_t h = ip->h.n, w = ip->w.n, oh = ip->h.on, ow = ip->w.on;                               \
        const int64_t *hi0 = ip->h.i0, *hi1 = ip->h.i1;                                                     \
        const T *hl0 = ip->h.l0, *hl1 = ip->h.l1;                                                           \
        /* a y past the caches: stored around them, each row from a resampled row kept in scratch */        \
        const bool stream = (uint64_t)ip->planes * (uint64_t)(oh * ow) * sizeof(T) >= PG_IP_STREAM_MIN;     \
        T *buf = NULL;                                                                                      \
        if (ip->w.kind != PG_IP_COPY && (ip->h.kind == PG_IP_LINEAR || stream) &&                           \
            !(buf = malloc(2 * sizeof(T) * (size_t)ow))) {                                                  \
            pg__ip_fwd_naive_##SUF(j, lo, hi);                                                              \
            return;                                                                                         \
        }                                                                                                   \
        for (int64_t p = lo; p < hi; p++) {                                                                 \
            const T *x = (const T *)j->in + p * h * w;                                                      \
            T *y = (T *)j->out + p * oh * ow;                                                               \
            if (ip->h.kind != PG_IP_LINEAR && !stream) { /* each output row: an input row resampled, or a   \
                                                          * copy of the row above */                        \
                for (int64_t a = 0; a < oh; a++) {                                                          \
                    if (a > 0 && hi0[a] == hi0[a - 1]) memcpy(y + a * ow, y + (a - 1) * ow, sizeof(T) * (size_t)ow); \
                    else pg__ip_hrow_##SUF(y + a * ow, x + hi0[a] * w, &ip->w);                             \
                }                                                                                           \
                continue;                                                                                   \
            }                                                                                               \
            if (ip->h.kind != PG_IP_LINEAR) { /* the same, each row streamed from the resampled row */      \
                const T *s = NULL;                                                                          \
                for (int64_t a = 0; a < oh; a++) {                                                          \
                    if (a == 0 || hi0[a] != hi0[a - 1]) {                                                   \
                        s = x + hi0[a] * w;                                                                 \
                        if (ip->w.kind != PG_IP_COPY) {                                                     \
                            pg__ip_hrow_##SUF(buf, s, &ip->w);                                              \
                            s = buf;                                                                        \
                        }                                                                                   \
                    }                                                                                       \
                    T *yr = y + a * ow;                                                                     \
                    for (int64_t b = pg__ip_copy_stream_##SUF(yr, s, ow); b < ow; b++) yr[b] = s[b];        \
                }                                                                                           \
                continue;                                                                                   \
            }                                                                                               \
            T *c[2] = {buf, buf ? buf + ow : NULL};                                                         \
            int64_t tag[2] = {-1, -1};                                                                      \
            for (int64_t a = 0; a < oh; a++) {                                                              \
                /* y[a] = t0 · l0 + t1 · l1, t the W-resampled rows (PyTorch's order of operations) */      \
                const T *t0 = pg__ip_row_##SUF(ip, x, hi0[a], hi1[a], c, tag);                              \
                const T *t1 = pg__ip_row_##SUF(ip, x, hi1[a], hi0[a], c, tag);                              \
                const T u = hl0[a], v = hl1[a];                                                             \
                T *yr = y + a * ow;                                                                         \
                int64_t b = stream ? pg__ip_blend_stream_##SUF(yr, t0, t1, u, v, ow) : 0;                   \
                for (; b < ow; b++) yr[b] = t0[b] * u + t1[b] * v;                                          \
            }                                                                                               \
        }                                                                                                   \
        free(buf);                                                                                          \
        if (stream) pg__ip_sfence();                                                                        \
    }                                                                                                       \
    static void pg__ip_bwd_naive_##SUF(const pg_ip_job *j, int64_t lo, int64_t hi) {                        \
        const pg_ip *ip = j->ip;                                                                            \
        const int64_t h = ip->h.n, w = ip->w.n, oh = ip->h.on, ow = ip->w.on;                               \
        for (int64_t p = lo; p < hi; p++) {                                                                 \
            T *dx = (T *)j->out + p * h * w;                                                                \
            const T *g = (const T *)j->in + p * oh * ow;                                                    \
            memset(dx, 0, sizeof(T) * (size_t)(h * w));                                                     \
            for (int64_t a = 0; a < oh; a++) {                                                              \
                bool lin = ip->h.kind == PG_IP_LINEAR;                                                      \
                T u = lin ? ((const T *)ip->h.l0)[a] : (T)1, v = lin ? ((const T *)ip->h.l1)[a] : (T)0;     \
                for (int t = 0; t < (lin ? 2 : 1); t++) /* dx[i_t(a)] += Awᵀ (g[a] · l_t(a)) */             \
                    pg__ip_hadj_scaled_##SUF(dx + (t ? ip->h.i1[a] : ip->h.i0[a]) * w, g + a * ow, &ip->w,  \
                                             t ? v : u, lin);                                               \
            }                                                                                               \
        }                                                                                                   \
    }                                                                                                       \
    /* rows [*zeroed, r] of the plane dx zeroed (rows below *zeroed were reached already), then the row      \
     * s (OW) spread into dx[r] along W */                                                                  \
    PG_IP_INLINE void pg__ip_flush_##SUF(T *dx, const pg_ip *ip, int64_t r, const T *s, int64_t *zeroed) { \
        const int64_t w = ip->w.n;                                                                          \
        if (r >= *zeroed) {                                                                                 \
            memset(dx + *zeroed * w, 0, sizeof(T) * (size_t)((r + 1 - *zeroed) * w));                      \
            *zeroed = r + 1;                                                                                \
        }                                                                                                   \
        pg__ip_hadj_##SUF(dx + r * w, s, &ip->w);                                                           \
    }                                                                                                       \
    static void pg__ip_bwd_##SUF(void *ctx, int64_t lo, int64_t hi) {                                       \
        const pg_ip_job *j = ctx;                                                                           \
        const pg_ip *ip = j->ip;                                                                            \
        const int64_t h = ip->h.n, w = ip->w.n, oh = ip->h.on, ow = ip->w.on;                               \
        const int64_t *hi0 = ip->h.i0, *hi1 = ip->h.i1;                                                     \
        const T *hl0 = ip->h.l0, *hl1 = ip->h.l1;                                                           \
        T *buf = malloc(2 * sizeof(T) * (size_t)ow);                                                        \
        if (!buf) {                                                                                         \
            pg__ip_bwd_naive_##SUF(j, lo, hi);                                                              \
            return;                                                                                         \
        }                                                                                                   \
        for (int64_t p = lo; p < hi; p++) {                                                                 \
            T *dx = (T *)j->out + p * h * w;                                                                \
            const T *g = (const T *)j->in + p * oh * ow;                                                    \
            int64_t zeroed = 0;                                                                             \
            if (ip->h.kind != PG_IP_LINEAR) { /* the upstream rows of one source row summed, then spread */ \
                T *s = buf;                                                                                 \
                for (int64_t a = 0; a < oh; a++) {                                                          \
                    const T *gr = g + a * ow;                                                               \
                    if (a > 0 && hi0[a] == hi0[a - 1])                                                      \
                        for (int64_t b = 0; b < ow; b++) s[b] += gr[b];                                     \
                    else {                                                                                  \
                        if (a > 0) pg__ip_flush_##SUF(dx, ip, hi0[a - 1], s, &zeroed);                      \
                        memcpy(s, gr, sizeof(T) * (size_t)ow);                                              \
                    }                                                                                       \
                }                                                                                           \
                pg__ip_flush_##SUF(dx, ip, hi0[oh - 1], s, &zeroed);                                        \
            } else {                                                                                        \
                /* forward: y[a] = t(i0) · l0 + t(i1) · l1  =>  rows i0, i1 (at width OW) += g[a] · l0,      \
                 * g[a] · l1; A holds row r, B row r + 1 (busy: B was added to) */                          \
                T *A = buf, *B = buf + ow;                                                                  \
                int64_t r = hi0[0];                                                                         \
                bool busy = false;                                                                          \
                memset(buf, 0, 2 * sizeof(T) * (size_t)ow);                                                 \
                for (int64_t a = 0; a < oh; a++) {                                                          \
                    const T *gr = g + a * ow;                                                               \
                    const T u = hl0[a], v = hl1[a];                                                         \
                    if (hi0[a] != r) {                                                                      \
                        pg__ip_flush_##SUF(dx, ip, r, A, &zeroed);                                          \
                        if (hi0[a] == r + 1) {                                                              \
                            T *t = A;                                                                       \
                            A = B, B = t;                                                                   \
                        } else if (busy) {                                                                  \
                            pg__ip_flush_##SUF(dx, ip, r + 1, B, &zeroed);                                  \
                            memset(A, 0, sizeof(T) * (size_t)ow);                                           \
                        } else memset(A, 0, sizeof(T) * (size_t)ow);                                        \
                        memset(B, 0, sizeof(T) * (size_t)ow);                                               \
                        busy = false;                                                                       \
                        r = hi0[a];                                                                         \
                    }                                                                                       \
                    if (hi1[a] == r)                                                                        \
                        for (int64_t b = 0; b < ow; b++) A[b] = A[b] + gr[b] * u + gr[b] * v;               \
                    else {                                                                                  \
                        for (int64_t b = 0; b < ow; b++) {                                                  \
                            A[b] += gr[b] * u;                                                              \
                            B[b] += gr[b] * v;                                                              \
                        }                                                                                   \
                        busy = true;                                                                        \
                    }                                                                                       \
                }                                                                                           \
                pg__ip_flush_##SUF(dx, ip, r, A, &zeroed);                                                  \
                if (busy) pg__ip_flush_##SUF(dx, ip, r + 1, B, &zeroed);                                    \
            }                                                                                               \
            if (zeroed < h) memset(dx + zeroed * w, 0, sizeof(T) * (size_t)((h - zeroed) * w));             \
        }                                                                                                   \
        free(buf);                                                                                          \
    }

/* dst[j] += Σ_b Aw[b, j] (src[b] · c) (c applied when scaled) */
#define PG_IP_HADJ_SCALED(T, SUF)                                                                           \
    static inline void pg__ip_hadj_scaled_##SUF(T *dst, const T *src, const pg_ip_map *m, T c, bool scaled) { \
        for (int64_t b = 0; b < m->on; b++) {                                                               \
            T s = scaled ? src[b] * c : src[b];                                                             \
            if (m->kind == PG_IP_LINEAR) {                                                                  \
                dst[m->i0[b]] += s * ((const T *)m->l0)[b];                                                 \
                dst[m->i1[b]] += s * ((const T *)m->l1)[b];                                                 \
            } else dst[m->kind == PG_IP_COPY ? b : m->i0[b]] += s;                                          \
        }                                                                                                   \
    }
PG_IP_HADJ_SCALED(float, f32)
PG_IP_HADJ_SCALED(double, f64)
PG_IP_KERNELS(float, f32)
PG_IP_KERNELS(double, f64)

/* the prologue of the taps kernels tfwd and tbwd (planes [lo, hi) of the job ctx): the geometry, and buf,
 * scratch (H, OW) when both maps resample; NAIVE runs instead when it cannot be had */
#define PG_IP_TAPS_PROLOGUE(T, NAIVE)                                                                       \
    const pg_ip_job *j = ctx;                                                                               \
    const pg_ip *ip = j->ip;                                                                                \
    const pg_ip_map *mh = &ip->h;                                                                           \
    const int64_t h = mh->n, w = ip->w.n, oh = mh->on, ow = ip->w.on;                                       \
    const bool copy_h = mh->kind == PG_IP_COPY, copy_w = ip->w.kind == PG_IP_COPY;                          \
    T *buf = NULL;                                                                                          \
    if (!copy_h && !copy_w && !(buf = malloc(sizeof(T) * (size_t)(h * ow)))) {                              \
        NAIVE(j, lo, hi);                                                                                   \
        return;                                                                                             \
    }

/* The taps kernels, for a cubic or antialiased resampling (each map a taps map or, antialiased, a copy),
 * for float and double:
 *   trow      dst[b] = Σ_t src[idx[b, t]] wt[b, t] (a copy: src[b]), the forward of one row along W
 *   tadj      dst[idx[b, t]] += src[b] wt[b, t] (a copy: dst[b] += src[b]), its adjoint
 *   tfwd      y[p] = Ah x[p] Awᵀ: the input rows resampled along W into scratch (H, OW), then each output
 *             row y[a] = Σ_t r[idx_h[a, t]] wt_h[a, t] over those rows r (PyTorch's order: W, then H;
 *             its first product assigned, the others added, as PyTorch's loops do)
 *   tbwd      dx[p] = Ahᵀ g[p] Aw: scratch (H, OW) row idx_h[a, t] += g[a] wt_h[a, t], then each scratch
 *             row spread along W into dx
 *   *_naive   the same element by element without scratch (no memory for it) */
#define PG_IP_TAPS_KERNELS(T, SUF)                                                                          \
    static inline void pg__ip_trow_##SUF(T *restrict dst, const T *restrict src, const pg_ip_map *m) {     \
        if (m->kind == PG_IP_COPY) {                                                                        \
            memcpy(dst, src, sizeof(T) * (size_t)m->on);                                                    \
            return;                                                                                         \
        }                                                                                                   \
        const int64_t k = m->k, *nt = m->nt, *idx = m->idx;                                                 \
        const T *wt = m->wt;                                                                                \
        if (k == 4 && nt[0] == 4 && nt[m->on - 1] == 4) { /* cubic (every row 4 taps) */                   \
            for (int64_t b = 0; b < m->on; b++) {                                                           \
                const int64_t *ib = idx + 4 * b;                                                            \
                const T *wb = wt + 4 * b;                                                                   \
                T acc = src[ib[0]] * wb[0];                                                                 \
                acc += src[ib[1]] * wb[1];                                                                  \
                acc += src[ib[2]] * wb[2];                                                                  \
                acc += src[ib[3]] * wb[3];                                                                  \
                dst[b] = acc;                                                                               \
            }                                                                                               \
            return;                                                                                         \
        }                                                                                                   \
        for (int64_t b = 0; b < m->on; b++) {                                                               \
            const int64_t *ib = idx + b * k;                                                                \
            const T *wb = wt + b * k;                                                                       \
            T acc = (T)0;                                                                                   \
            if (nt[b] > 0) {                                                                                \
                acc = src[ib[0]] * wb[0];                                                                   \
                for (int64_t t = 1; t < nt[b]; t++) acc += src[ib[t]] * wb[t];                              \
            }                                                                                               \
            dst[b] = acc;                                                                                   \
        }                                                                                                   \
    }                                                                                                       \
    static inline void pg__ip_tadj_##SUF(T *restrict dst, const T *restrict src, const pg_ip_map *m, T c) { \
        if (m->kind == PG_IP_COPY) {                                                                        \
            for (int64_t b = 0; b < m->on; b++) dst[b] += src[b] * c;                                       \
            return;                                                                                         \
        }                                                                                                   \
        const int64_t k = m->k, *nt = m->nt, *idx = m->idx;                                                 \
        const T *wt = m->wt;                                                                                \
        for (int64_t b = 0; b < m->on; b++) {                                                               \
            const T v = src[b] * c;                                                                         \
            for (int64_t t = 0; t < nt[b]; t++) dst[idx[b * k + t]] += v * wt[b * k + t];                   \
        }                                                                                                   \
    }                                                                                                       \
    /* dst[j] = Σ src[b] wt[b, t] over the taps (b, t) of source j, in (b, t) order: tadj into a zeroed    \
     * dst as a gather (the same additions in the same order per element, without the scatter's stores) */ \
    static inline void pg__ip_tadj0_##SUF(T *restrict dst, const T *restrict src, const pg_ip_map *m) {    \
        if (m->kind == PG_IP_COPY) {                                                                        \
            for (int64_t b = 0; b < m->on; b++) dst[b] = (T)0 + src[b];                                     \
            return;                                                                                         \
        }                                                                                                   \
        const int64_t *tp = m->tptr, *to = m->tout;                                                         \
        const T *tw = m->twt;                                                                               \
        for (int64_t j = 0; j < m->n; j++) {                                                                \
            T acc = (T)0;                                                                                   \
            for (int64_t e = tp[j]; e < tp[j + 1]; e++) acc += src[to[e]] * tw[e];                          \
            dst[j] = acc;                                                                                   \
        }                                                                                                   \
    }                                                                                                       \
    static void pg__ip_tfwd_naive_##SUF(const pg_ip_job *j, int64_t lo, int64_t hi) {                       \
        const pg_ip *ip = j->ip;                                                                            \
        const int64_t h = ip->h.n, w = ip->w.n, oh = ip->h.on, ow = ip->w.on;                               \
        for (int64_t p = lo; p < hi; p++) {                                                                 \
            const T *x = (const T *)j->in + p * h * w;                                                      \
            T *y = (T *)j->out + p * oh * ow;                                                               \
            for (int64_t a = 0; a < oh; a++)                                                                \
                for (int64_t b = 0; b < ow; b++) {                                                          \
                    T v = (T)0;                                                                             \
                    int64_t n_t = ip->h.kind == PG_IP_COPY ? 1 : ip->h.nt[a];                               \
                    for (int64_t t = 0; t < n_t; t++) {                                                     \
                        int64_t r = ip->h.kind == PG_IP_COPY ? a : ip->h.idx[a * ip->h.k + t];              \
                        T u = ip->h.kind == PG_IP_COPY ? (T)1 : ((const T *)ip->h.wt)[a * ip->h.k + t];     \
                        const T *xr = x + r * w;                                                            \
                        T e = (T)0;                                                                         \
                        if (ip->w.kind == PG_IP_COPY) e = xr[b];                                            \
                        else                                                                                \
                            for (int64_t q = 0; q < ip->w.nt[b]; q++)                                       \
                                e = q ? e + xr[ip->w.idx[b * ip->w.k + q]] * ((const T *)ip->w.wt)[b * ip->w.k + q] \
                                      : xr[ip->w.idx[b * ip->w.k]] * ((const T *)ip->w.wt)[b * ip->w.k];    \
                        if (ip->h.kind == PG_IP_COPY) v = e;                                                \
                        else v = t ? v + e * u : e * u;                                                     \
                    }                                                                                       \
                    y[a * ow + b] = v;                                                                      \
                }                                                                                           \
        }                                                                                                   \
    }                                                                                                       \
    static void pg__ip_tfwd_##SUF(void *ctx, int64_t lo, int64_t hi) {                                      \
        PG_IP_TAPS_PROLOGUE(T, pg__ip_tfwd_naive_##SUF)                                                     \
        for (int64_t p = lo; p < hi; p++) {                                                                 \
            const T *x = (const T *)j->in + p * h * w;                                                      \
            T *y = (T *)j->out + p * oh * ow;                                                               \
            if (copy_h) { /* H stays: each row resampled along W */                                         \
                for (int64_t a = 0; a < oh; a++) pg__ip_trow_##SUF(y + a * ow, x + a * w, &ip->w);          \
                continue;                                                                                   \
            }                                                                                               \
            const T *rows = x;                                                                              \
            if (!copy_w) {                                                                                  \
                for (int64_t r = 0; r < h; r++) pg__ip_trow_##SUF(buf + r * ow, x + r * w, &ip->w);        \
                rows = buf;                                                                                 \
            }                                                                                               \
            for (int64_t a = 0; a < oh; a++) {                                                              \
                const int64_t n_t = mh->nt[a], *ia = mh->idx + a * mh->k;                                   \
                const T *wa = (const T *)mh->wt + a * mh->k;                                                \
                T *yr = y + a * ow;                                                                         \
                if (n_t == 0) {                                                                             \
                    memset(yr, 0, sizeof(T) * (size_t)ow);                                                  \
                    continue;                                                                               \
                }                                                                                           \
                const T *r0 = rows + ia[0] * ow, u0 = wa[0];                                                \
                if (n_t == 4) { /* cubic: the four rows in one sweep, the same operations per element */    \
                    const T *r1 = rows + ia[1] * ow, *r2 = rows + ia[2] * ow, *r3 = rows + ia[3] * ow;       \
                    const T u1 = wa[1], u2 = wa[2], u3 = wa[3];                                             \
                    for (int64_t b = 0; b < ow; b++) {                                                      \
                        T v = r0[b] * u0;                                                                   \
                        v += r1[b] * u1;                                                                    \
                        v += r2[b] * u2;                                                                    \
                        v += r3[b] * u3;                                                                    \
                        yr[b] = v;                                                                          \
                    }                                                                                       \
                    continue;                                                                               \
                }                                                                                           \
                for (int64_t b = 0; b < ow; b++) yr[b] = r0[b] * u0;                                        \
                for (int64_t t = 1; t < n_t; t++) {                                                         \
                    const T *rt = rows + ia[t] * ow, u = wa[t];                                             \
                    for (int64_t b = 0; b < ow; b++) yr[b] += rt[b] * u;                                    \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
        free(buf);                                                                                          \
    }                                                                                                       \
    static void pg__ip_tbwd_naive_##SUF(const pg_ip_job *j, int64_t lo, int64_t hi) {                       \
        const pg_ip *ip = j->ip;                                                                            \
        const pg_ip_map *mh = &ip->h;                                                                       \
        const int64_t h = mh->n, w = ip->w.n, oh = mh->on, ow = ip->w.on;                                   \
        for (int64_t p = lo; p < hi; p++) {                                                                 \
            T *dx = (T *)j->out + p * h * w;                                                                \
            const T *g = (const T *)j->in + p * oh * ow;                                                    \
            memset(dx, 0, sizeof(T) * (size_t)(h * w));                                                     \
            for (int64_t a = 0; a < oh; a++) {                                                              \
                int64_t n_t = mh->kind == PG_IP_COPY ? 1 : mh->nt[a];                                       \
                for (int64_t t = 0; t < n_t; t++) { /* dx[r] += Awᵀ (g[a] · u) */                           \
                    int64_t r = mh->kind == PG_IP_COPY ? a : mh->idx[a * mh->k + t];                        \
                    T u = mh->kind == PG_IP_COPY ? (T)1 : ((const T *)mh->wt)[a * mh->k + t];               \
                    pg__ip_tadj_##SUF(dx + r * w, g + a * ow, &ip->w, u);                                   \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }                                                                                                       \
    static void pg__ip_tbwd_##SUF(void *ctx, int64_t lo, int64_t hi) {                                      \
        PG_IP_TAPS_PROLOGUE(T, pg__ip_tbwd_naive_##SUF)                                                     \
        for (int64_t p = lo; p < hi; p++) {                                                                 \
            T *dx = (T *)j->out + p * h * w;                                                                \
            const T *g = (const T *)j->in + p * oh * ow;                                                    \
            if (copy_h) { /* H stays: each upstream row spread along W */                                   \
                for (int64_t a = 0; a < oh; a++) pg__ip_tadj0_##SUF(dx + a * w, g + a * ow, &ip->w);        \
                continue;                                                                                   \
            }                                                                                               \
            /* forward: y[a] = Σ_t r[idx_h[a, t]] wt_h[a, t]  =>  r[idx_h[a, t]] += g[a] wt_h[a, t] */      \
            T *acc = copy_w ? dx : buf;                                                                     \
            memset(acc, 0, sizeof(T) * (size_t)(h * ow));                                                   \
            for (int64_t a = 0; a < oh; a++) {                                                              \
                const int64_t n_t = mh->nt[a], *ia = mh->idx + a * mh->k;                                   \
                const T *wa = (const T *)mh->wt + a * mh->k, *gr = g + a * ow;                              \
                if (n_t == 4) { /* cubic: one sweep; per element the same additions in the same order (the    \
                                 * rows may coincide at the borders) */                                      \
                    T *r0 = acc + ia[0] * ow, *r1 = acc + ia[1] * ow, *r2 = acc + ia[2] * ow;                \
                    T *r3 = acc + ia[3] * ow;                                                               \
                    const T u0 = wa[0], u1 = wa[1], u2 = wa[2], u3 = wa[3];                                 \
                    for (int64_t b = 0; b < ow; b++) {                                                      \
                        const T v = gr[b];                                                                  \
                        r0[b] += v * u0;                                                                    \
                        r1[b] += v * u1;                                                                    \
                        r2[b] += v * u2;                                                                    \
                        r3[b] += v * u3;                                                                    \
                    }                                                                                       \
                    continue;                                                                               \
                }                                                                                           \
                for (int64_t t = 0; t < n_t; t++) {                                                         \
                    T *rt = acc + ia[t] * ow;                                                               \
                    const T u = wa[t];                                                                      \
                    for (int64_t b = 0; b < ow; b++) rt[b] += gr[b] * u;                                    \
                }                                                                                           \
            }                                                                                               \
            if (!copy_w)                                                                                    \
                for (int64_t r = 0; r < h; r++) pg__ip_tadj0_##SUF(dx + r * w, acc + r * ow, &ip->w);       \
        }                                                                                                   \
        free(buf);                                                                                          \
    }
PG_IP_TAPS_KERNELS(float, f32)
PG_IP_TAPS_KERNELS(double, f64)

/* runs the resampling (transpose: its adjoint) over all planes on the thread pool */
static void pg__ip_run(const pg_ip *ip, bool transpose, bool f64, void *out, const void *in) {
    static const pg_range_fn fns[2][2] = {{pg__ip_fwd_f32, pg__ip_bwd_f32}, {pg__ip_fwd_f64, pg__ip_bwd_f64}};
    static const pg_range_fn tfns[2][2] = {{pg__ip_tfwd_f32, pg__ip_tbwd_f32}, {pg__ip_tfwd_f64, pg__ip_tbwd_f64}};
    pg_ip_job j = {ip, out, in};
    bool taps = ip->h.kind == PG_IP_TAPS || ip->w.kind == PG_IP_TAPS;
    int64_t per = ip->h.n * ip->w.n + ip->h.on * ip->w.on;
    if (taps) per += ip->h.n * ip->w.on + ip->h.on * ip->w.on * (ip->h.k > 1 ? ip->h.k : 1); /* the taps' work */
    pg__parallel_range(ip->planes, 1, PG_NDITER_GRAIN / (per ? per : 1) + 1, (taps ? tfns : fns)[f64][transpose],
                       &j);
}

/* ---- the ops ---- */

static bool pg__ip_is_grad(int op) { return op == PG_OP_INTERPOLATE_INPUT_GRAD; }

/* checks the op's input meta (interpolate: x; interpolate_input_grad: the upstream) and parameters */
static pg_status pg__ip_check(int op, const pg_meta *m, const pg_params *p) {
    const char *name = pg_optable[op]->name, *what = pg__ip_is_grad(op) ? "gradient" : "input";
    char b[PG_SHAPE_BUF];
    pg__shape_str(m->ndim, m->shape, b, sizeof b);
    if (m->ndim != 3 && m->ndim != 4)
        return pg__fail(PG_ERR_SHAPE, "%s: expected a 3-d (N, C, L) or 4-d (N, C, H, W) %s, got %s", name, what, b);
    for (int d = 1; d < m->ndim; d++)
        if (m->shape[d] == 0)
            return pg__fail(PG_ERR_SHAPE, "%s: expected non-zero channels and spatial sizes (only the batch may be "
                            "empty), got %s %s", name, what, b);
    int mode = p->interp.mode, nd = m->ndim - 2, base = mode & ~PG_INTERP_ANTIALIAS;
    bool aa = (mode & PG_INTERP_ANTIALIAS) != 0;
    if (mode < 0 || base > PG_INTERP_CUBIC)
        return pg__fail(PG_ERR_VALUE, "%s: mode %d is not nearest (0), linear (1), nearest-exact (2) or cubic (3), "
                        "antialiased or not (| 8), %s %s", name, mode, what, b);
    if (aa && base != PG_INTERP_LINEAR && base != PG_INTERP_CUBIC)
        return pg__fail(PG_ERR_VALUE, "%s: antialias is for the linear and cubic modes only (4-d), got mode %d, %s %s",
                        name, base, what, b);
    if ((aa || base == PG_INTERP_CUBIC) && m->ndim != 4)
        return pg__fail(PG_ERR_SHAPE, "%s: the %s mode expects a 4-d (N, C, H, W) %s, got %s", name,
                        aa ? "antialiased" : "cubic", what, b);
    if (p->interp.align_corners && base != PG_INTERP_LINEAR && base != PG_INTERP_CUBIC)
        return pg__fail(PG_ERR_VALUE, "%s: align_corners is for the linear and cubic modes only, %s %s", name, what,
                        b);
    const int64_t big = (int64_t)1 << 40; /* keeps sizes and offsets far from overflow */
    char sb[PG_SHAPE_BUF];
    pg__shape_str(nd, p->interp.size, sb, sizeof sb);
    for (int d = 0; d < nd; d++) {
        if (p->interp.size[d] < 1)
            return pg__fail(PG_ERR_VALUE, "%s: %s size %s must be positive, %s %s", name,
                            pg__ip_is_grad(op) ? "input" : "output", sb, what, b);
        if (p->interp.size[d] > big || m->shape[2 + d] > big)
            return pg__fail(PG_ERR_MEMORY, "%s: sizes %s and %s %s are too large", name, sb, what, b);
        double sc = p->interp.scale[d];
        if (!(sc == 0 || (isfinite(sc) && sc > 0 && 1.0 / sc <= FLT_MAX)))
            return pg__fail(PG_ERR_VALUE, "%s: scale_factor %g must be positive and finite (0: none), %s %s", name, sc,
                            what, b);
    }
    return PG_OK;
}

static pg_status interp_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    if (pg__check_float(pg_optable[p->op]->name, in[0])) return PG_ERR_TYPE;
    pg_meta m;
    pg__meta_of(&m, in[0]);
    if (pg__ip_check(p->op, &m, p)) return pg_last_status();
    *out = m;
    for (int d = 0; d < m.ndim - 2; d++) out->shape[2 + d] = p->interp.size[d];
    return PG_OK;
}

/* the resampling that takes `small` (x's spatial sizes) to `large` (y's), dtype and planes from m */
static pg_status pg__ip_plan_meta(pg_ip *ip, const pg_params *p, const pg_meta *m, const int64_t *small,
                                  const int64_t *large) {
    return pg__ip_plan(ip, p, m->dtype, m->ndim - 2, pg__mul_sat(m->shape[0], m->shape[1]), small, large);
}

static pg_status interp_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    if (out->numel == 0) return PG_OK;
    pg_ip ip;
    const int64_t *src = in[0]->shape + 2, *dst = out->shape + 2;
    bool grad = pg__ip_is_grad(p->op);
    pg_meta m;
    pg__meta_of(&m, in[0]);
    if (pg__ip_plan_meta(&ip, p, &m, grad ? dst : src, grad ? src : dst)) return pg_last_status();
    pg__ip_run(&ip, grad, out->dtype == PG_DTYPE_F64, out->data, in[0]->data);
    pg__ip_free(&ip);
    return PG_OK;
}

/* interpolate: dx = its transpose of g; interpolate_input_grad: dg = the resampling of g */
static pg_status interp_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    if (!pg__node_needs(n, 0)) return PG_OK;
    const pg_meta *im = &n->edges[0].meta;
    pg_tensor *d = pg__tensor_new_like(im);
    if (!d) return PG_ERR_MEMORY;
    if (d->numel == 0) {
        dx[0] = d;
        return PG_OK;
    }
    bool grad = pg__ip_is_grad(n->op);
    const int64_t *x_sizes = im->shape + 2, *y_sizes = n->out_meta.shape + 2;
    pg_ip ip;
    if (pg__ip_plan_meta(&ip, &n->p, im, grad ? y_sizes : x_sizes, grad ? x_sizes : y_sizes)) {
        pg_tensor_release(d);
        return pg_last_status();
    }
    pg__ip_run(&ip, !grad, d->dtype == PG_DTYPE_F64, d->data, g->data);
    pg__ip_free(&ip);
    dx[0] = d;
    return PG_OK;
}

/* each op's rule is the other, to the node input's spatial sizes */
static pg_status interp_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    if (!pg__node_needs(n, 0)) return PG_OK;
    const pg_meta *im = &n->edges[0].meta;
    pg_params p = n->p;
    p.op = pg__ip_is_grad(n->op) ? PG_OP_INTERPOLATE : PG_OP_INTERPOLATE_INPUT_GRAD;
    for (int d = 0; d < im->ndim - 2; d++) p.interp.size[d] = im->shape[2 + d];
    dx[0] = pg__apply(p.op, &g, 1, &p);
    return dx[0] ? PG_OK : pg__rule_status();
}

/* ---- entry points ---- */

static pg_tensor *pg__ip_entry(int op, pg_tensor *x, int mode, const int64_t *size, const double *scale,
                               int align_corners) {
    const char *name = pg_optable[op]->name;
    if (pg__check_tensor(name, x)) return NULL;
    if (!size) {
        pg__fail(PG_ERR_VALUE, "%s: a NULL size array", name);
        return NULL;
    }
    pg_params p = {0};
    p.op = op;
    p.interp.mode = mode;
    p.interp.align_corners = align_corners != 0;
    int nd = x->ndim == 3 || x->ndim == 4 ? x->ndim - 2 : 0; /* another ndim fails in the shape inference */
    for (int d = 0; d < nd; d++) {
        p.interp.size[d] = size[d];
        p.interp.scale[d] = scale ? scale[d] : 0;
    }
    return pg__apply(op, &x, 1, &p);
}

pg_tensor *pg_interpolate(pg_tensor *x, int mode, const int64_t *size, const double *scale, int align_corners) {
    return pg__ip_entry(PG_OP_INTERPOLATE, x, mode, size, scale, align_corners);
}

pg_tensor *pg_interpolate_input_grad(pg_tensor *g, int mode, const int64_t *input_size, const double *scale,
                                     int align_corners) {
    return pg__ip_entry(PG_OP_INTERPOLATE_INPUT_GRAD, g, mode, input_size, scale, align_corners);
}

PG_OPDEF(interpolate, interp_infer, interp_forward, interp_backward, interp_rule);
PG_OPDEF(interpolate_input_grad, interp_infer, interp_forward, interp_backward, interp_rule);
