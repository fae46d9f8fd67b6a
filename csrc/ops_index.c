/* ops_index.c: the index ops along one dim (PyTorch's semantics): argmax and
 * argmin, the sorting permutation (argsort) and its first k (topk), the running-extreme indices of
 * cummax/cummin, nonzero, and gather / scatter_add / scatter along a dim.
 * Index results are int64 and never recorded; the differentiable ones
 * (gather, scatter_add, scatter) are built on the tape's getitem and
 * scatter_add rows (flat element offsets), so their backward and double
 * backward are those rows' rules. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* x viewed as [outer, n, inner] around dim */
typedef struct pg_rows {
    int64_t outer, n, inner;
} pg_rows;

static pg_rows pg__rows(const pg_tensor *x, int dim) {
    pg_rows r = {1, x->ndim ? x->shape[dim] : 1, 1};
    for (int d = 0; d < dim; d++) r.outer *= x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++) r.inner *= x->shape[d];
    return r;
}

/* dim in [-ndim, ndim) (a 0-d tensor takes 0 and -1), normalised; -1 and an error otherwise */
static int pg__dim_arg(const char *op, const pg_tensor *x, int dim) {
    int nd = x->ndim ? x->ndim : 1;
    if (dim < -nd || dim >= nd) {
        char b[PG_SHAPE_BUF];
        pg__fail(PG_ERR_SHAPE, "%s: dim %d is out of range for a tensor of shape %s", op, dim,
                 pg__shape_str(x->ndim, x->shape, b, sizeof b));
        return -1;
    }
    return x->ndim ? (dim + nd) % nd : 0;
}

/* element i of x (any dtype) as a double, and whether it is NaN */
static double pg__value(const pg_tensor *x, int64_t i) {
    switch (x->dtype) {
    case PG_DTYPE_F32: return ((const float *)x->data)[i];
    case PG_DTYPE_F64: return ((const double *)x->data)[i];
    case PG_DTYPE_I32: return ((const int32_t *)x->data)[i];
    case PG_DTYPE_BOOL: return ((const uint8_t *)x->data)[i];
    case PG_DTYPE_I64: break;
    }
    return (double)((const int64_t *)x->data)[i];
}

/* a < b in x's order, exactly also for int64 beyond 2^53 */
static bool pg__less(const pg_tensor *x, int64_t i, int64_t j) {
    if (x->dtype == PG_DTYPE_I64) return ((const int64_t *)x->data)[i] < ((const int64_t *)x->data)[j];
    return pg__value(x, i) < pg__value(x, j);
}

static bool pg__isnan_at(const pg_tensor *x, int64_t i) { return pg__is_float(x->dtype) && isnan(pg__value(x, i)); }

/* ---- argmax / argmin: the first index of the extreme; NaN is the extreme (PyTorch) ---- */

/* float rows: along a contiguous row, the extreme by the vector kernel (kern_reduce.c; NaN if there is one),
 * then the first element equal to it (or the first NaN); across `inner` columns, blocks of up to 64 columns
 * whose best value and index are kept by selects, row after row (a column whose best is NaN keeps it).
 * Each row or block from one thread */
typedef struct pg_argext_job {
    const void *x;
    int64_t *o;
    pg_rows r;
    bool want_max;
} pg_argext_job;

#define PG_ARGEXT_FLOAT(TT, SUF)                                                                          \
    static void argext_rows_##SUF(void *ctx, int64_t lo, int64_t hi) { /* inner == 1 */                \
        const pg_argext_job *j = ctx;                                                                     \
        const int64_t n = j->r.n;                                                                         \
        for (int64_t u = lo; u < hi; u++) {                                                               \
            const TT *x = (const TT *)j->x + u * n;                                                       \
            TT m = j->want_max ? pg__max_contig_##SUF(x, n, -INFINITY) : pg__min_contig_##SUF(x, n, INFINITY); \
            int64_t k = 0;                                                                                \
            if (m != m)                                                                                   \
                while (x[k] == x[k]) k++;                                                                 \
            else                                                                                          \
                while (x[k] != m) k++;                                                                    \
            j->o[u] = k;                                                                                  \
        }                                                                                                 \
    }                                                                                                     \
    /* columns [c0, c0 + w) of slice a */                                                                 \
    static void argext_cols_##SUF(const pg_argext_job *j, int64_t a, int64_t c0, int64_t w) {             \
        const int64_t n = j->r.n, inner = j->r.inner;                                                     \
        const TT *x = (const TT *)j->x + a * n * inner + c0;                                              \
        TT bv[64];                                                                                        \
        int64_t bi[64];                                                                                   \
        for (int64_t c = 0; c < w; c++) bv[c] = x[c], bi[c] = 0;                                          \
        for (int64_t k = 1; k < n; k++) {                                                                 \
            const TT *row = x + k * inner;                                                                \
            if (j->want_max)                                                                              \
                for (int64_t c = 0; c < w; c++) {                                                         \
                    TT v = row[c], b = bv[c];                                                             \
                    bool take = b == b && (v > b || v != v);                                              \
                    bv[c] = take ? v : b;                                                                 \
                    bi[c] = take ? k : bi[c];                                                             \
                }                                                                                         \
            else                                                                                          \
                for (int64_t c = 0; c < w; c++) {                                                         \
                    TT v = row[c], b = bv[c];                                                             \
                    bool take = b == b && (v < b || v != v);                                              \
                    bv[c] = take ? v : b;                                                                 \
                    bi[c] = take ? k : bi[c];                                                             \
                }                                                                                         \
        }                                                                                                 \
        memcpy(j->o + a * inner + c0, bi, sizeof(int64_t) * (size_t)w);                                   \
    }                                                                                                     \
    static void argext_blocks_##SUF(void *ctx, int64_t lo, int64_t hi) {                                  \
        const pg_argext_job *j = ctx;                                                                     \
        const int64_t nb = (j->r.inner + 63) / 64;                                                        \
        for (int64_t u = lo; u < hi; u++) {                                                               \
            int64_t a = u / nb, c0 = (u % nb) * 64;                                                       \
            argext_cols_##SUF(j, a, c0, j->r.inner - c0 < 64 ? j->r.inner - c0 : 64);                     \
        }                                                                                                 \
    }
PG_ARGEXT_FLOAT(float, f32)
PG_ARGEXT_FLOAT(double, f64)

static void pg__argext_float(const pg_tensor *x, int64_t *o, pg_rows r, bool want_max) {
    pg_argext_job j = {x->data, o, r, want_max};
    bool f64 = x->dtype == PG_DTYPE_F64;
    if (r.inner == 1) {
        int64_t grain = PG_NDITER_GRAIN / r.n > 1 ? PG_NDITER_GRAIN / r.n : 1;
        pg__parallel_range(r.outer, 1, grain, f64 ? argext_rows_f64 : argext_rows_f32, &j);
    } else {
        int64_t nb = (r.inner + 63) / 64, per = 64 * r.n, grain = PG_NDITER_GRAIN / per > 1 ? PG_NDITER_GRAIN / per : 1;
        pg__parallel_range(r.outer * nb, 1, grain, f64 ? argext_blocks_f64 : argext_blocks_f32, &j);
    }
}

pg_tensor *pg_argext(pg_tensor *x, int dim, int keepdim, int want_max) {
    const char *op = want_max ? "argmax" : "argmin";
    if (pg__check_tensor(op, x)) return NULL;
    bool all = dim == PG_AXES_ALL;
    int d = all ? 0 : pg__dim_arg(op, x, dim);
    if (d < 0) return NULL;
    pg_rows r = all ? (pg_rows){1, x->numel, 1} : pg__rows(x, d);
    if (r.n == 0) {
        char b[PG_SHAPE_BUF];
        pg__fail(PG_ERR_VALUE, "%s: cannot take the %s over zero elements (tensor of shape %s)", op, op,
                 pg__shape_str(x->ndim, x->shape, b, sizeof b));
        return NULL;
    }
    int64_t shape[PG_MAX_DIMS];
    int nd = 0;
    if (!all)
        for (int k = 0; k < x->ndim; k++) {
            if (k != d) shape[nd++] = x->shape[k];
            else if (keepdim) shape[nd++] = 1;
        }
    else if (keepdim)
        for (int k = 0; k < x->ndim; k++) shape[nd++] = 1;
    pg_tensor *out = pg__tensor_new(PG_DTYPE_I64, nd, shape);
    if (!out) return NULL;
    int64_t *o = out->data;
    pg_unlocked u = pg__unlock_host(x->numel);
    if (pg__is_float(x->dtype)) {
        pg__argext_float(x, o, r, want_max != 0);
        pg__relock_host(u);
        return out;
    }
    for (int64_t a = 0; a < r.outer; a++)
        for (int64_t c = 0; c < r.inner; c++) {
            int64_t base = a * r.n * r.inner + c, best = 0;
            bool nan = pg__isnan_at(x, base);
            for (int64_t k = 1; k < r.n && !nan; k++) {
                int64_t i = base + k * r.inner, b = base + best * r.inner;
                if (pg__isnan_at(x, i)) {
                    best = k;
                    nan = true;
                } else if (want_max ? pg__less(x, b, i) : pg__less(x, i, b)) {
                    best = k;
                }
            }
            o[a * r.inner + c] = best;
        }
    pg__relock_host(u);
    return out;
}

/* ---- argsort: a stable merge sort of each row's indices ---- */

typedef struct pg_sort_ctx {
    const pg_tensor *x;
    int64_t base, stride;
    bool descending;
} pg_sort_ctx;

/* element k of the row comes strictly before element j: NaN is the largest value */
static bool pg__before(const pg_sort_ctx *s, int64_t k, int64_t j) {
    int64_t a = s->base + k * s->stride, b = s->base + j * s->stride;
    bool na = pg__isnan_at(s->x, a), nb = pg__isnan_at(s->x, b);
    if (na || nb) return s->descending ? (na && !nb) : (!na && nb);
    return s->descending ? pg__less(s->x, b, a) : pg__less(s->x, a, b);
}

static void pg__merge_sort(const pg_sort_ctx *s, int64_t *idx, int64_t *tmp, int64_t n) {
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = pg__before(s, idx[j], idx[i]) ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, sizeof(int64_t) * (size_t)n);
    }
}

pg_tensor *pg_argsort(pg_tensor *x, int dim, int descending) {
    if (pg__check_tensor("argsort", x)) return NULL;
    int d = pg__dim_arg("argsort", x, dim);
    if (d < 0) return NULL;
    pg_rows r = pg__rows(x, d);
    pg_tensor *out = pg__tensor_new(PG_DTYPE_I64, x->ndim, x->shape);
    if (!out) return NULL;
    int64_t *buf = malloc(sizeof(int64_t) * (size_t)(2 * r.n + 1));
    if (!buf) {
        pg_tensor_release(out);
        pg__fail(PG_ERR_MEMORY, "argsort: out of memory for rows of %lld elements", (long long)r.n);
        return NULL;
    }
    int64_t *o = out->data;
    pg_unlocked u = pg__unlock_host(x->numel);
    for (int64_t a = 0; a < r.outer; a++)
        for (int64_t c = 0; c < r.inner; c++) {
            pg_sort_ctx s = {x, a * r.n * r.inner + c, r.inner, descending != 0};
            for (int64_t k = 0; k < r.n; k++) buf[k] = k;
            pg__merge_sort(&s, buf, buf + r.n, r.n);
            for (int64_t k = 0; k < r.n; k++) o[s.base + k * r.inner] = buf[k];
        }
    pg__relock_host(u);
    free(buf);
    return out;
}

/* ---- topk: the first k of argsort's order along dim, found without sorting the row ----
 *
 * Each element gets an unsigned key that orders as argsort does: -0 as +0, every NaN one value above +inf,
 * and for largest (descending) the key's complement; the stable order is then (key, index) ascending,
 * a strict order, so any exact selection gives argsort's first k. Small k (k <= PG_TOPK_SMALL and
 * k * k <= n): the best k so far, sorted, and a scan of the row that skips each block of 16 elements with
 * no key below the k-th best (vectorised), inserting the rest (an equal key never passes an earlier
 * index). Otherwise the row's (key, index) pairs, an introselect to bring the k best in front, and an
 * introsort of those k (heapsort past 2 log2 n levels of either). Rows over the threads. */
#define PG_TOPK_SMALL 64
#define PG_TOPK_BLOCK 16

typedef struct pg_kv {
    uint64_t key;
    int64_t idx;
} pg_kv;

static inline bool pg__kv_less(pg_kv a, pg_kv b) { return a.key < b.key || (a.key == b.key && a.idx < b.idx); }

static inline void pg__kv_swap(pg_kv *a, pg_kv *b) {
    pg_kv t = *a;
    *a = *b;
    *b = t;
}

static void pg__kv_sift(pg_kv *a, int64_t i, int64_t n) {
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && pg__kv_less(a[c], a[c + 1])) c++;
        if (!pg__kv_less(a[i], a[c])) return;
        pg__kv_swap(a + i, a + c);
        i = c;
    }
}

static void pg__kv_heapsort(pg_kv *a, int64_t n) {
    for (int64_t i = n / 2 - 1; i >= 0; i--) pg__kv_sift(a, i, n);
    for (int64_t e = n - 1; e > 0; e--) {
        pg__kv_swap(a, a + e);
        pg__kv_sift(a, 0, e);
    }
}

static void pg__kv_insertion(pg_kv *a, int64_t n) {
    for (int64_t i = 1; i < n; i++) {
        pg_kv v = a[i];
        int64_t j = i;
        for (; j > 0 && pg__kv_less(v, a[j - 1]); j--) a[j] = a[j - 1];
        a[j] = v;
    }
}

/* Hoare's partition of a[0, n) (n > 16, distinct pairs) around the median of three: s with
 * a[0, s) <= pivot <= a[s, n), 0 < s < n */
static int64_t pg__kv_partition(pg_kv *a, int64_t n) {
    pg_kv x = a[0], y = a[n / 2], z = a[n - 1], p;
    if (pg__kv_less(x, y)) p = pg__kv_less(y, z) ? y : (pg__kv_less(x, z) ? z : x);
    else p = pg__kv_less(x, z) ? x : (pg__kv_less(y, z) ? z : y);
    int64_t i = -1, j = n;
    for (;;) {
        do i++; while (pg__kv_less(a[i], p));
        do j--; while (pg__kv_less(p, a[j]));
        if (i >= j) return j + 1;
        pg__kv_swap(a + i, a + j);
    }
}

static void pg__kv_sort(pg_kv *a, int64_t n, int depth) {
    while (n > 16) {
        if (depth-- == 0) {
            pg__kv_heapsort(a, n);
            return;
        }
        int64_t s = pg__kv_partition(a, n);
        if (s < n - s) {
            pg__kv_sort(a, s, depth);
            a += s;
            n -= s;
        } else {
            pg__kv_sort(a + s, n - s, depth);
            n = s;
        }
    }
    pg__kv_insertion(a, n);
}

/* the k smallest pairs of a[0, n) into a[0, k), in any order */
static void pg__kv_select(pg_kv *a, int64_t n, int64_t k, int depth) {
    while (n > 16 && k > 0 && k < n) {
        if (depth-- == 0) {
            pg__kv_heapsort(a, n);
            return;
        }
        int64_t s = pg__kv_partition(a, n);
        if (k <= s) {
            n = s;
        } else {
            a += s;
            n -= s;
            k -= s;
        }
    }
    if (k > 0 && k < n) pg__kv_insertion(a, n);
}

/* keys: the (key, index) order is argsort's; desc (largest) complements */
static inline uint64_t pg__key_f32(float v) {
    uint32_t b;
    v = v + 0.0f; /* -0 -> +0 */
    memcpy(&b, &v, sizeof b);
    b = v != v ? 0x7fc00000u : b;
    return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}
static inline uint64_t pg__key_f64(double v) {
    uint64_t b;
    v = v + 0.0;
    memcpy(&b, &v, sizeof b);
    b = v != v ? 0x7ff8000000000000u : b;
    return (b & 0x8000000000000000u) ? ~b : b | 0x8000000000000000u;
}
static inline uint64_t pg__key_i64(int64_t v) { return (uint64_t)v ^ 0x8000000000000000u; }
static inline uint64_t pg__key_i32(int32_t v) { return (uint32_t)v ^ 0x80000000u; }
static inline uint64_t pg__key_b(uint8_t v) { return v; }

typedef struct pg_topk_job {
    const void *x;
    int64_t *o;
    pg_rows r;
    int64_t k;
    uint64_t flip; /* 0, or all ones for largest */
    int depth;
    atomic_int failed; /* a thread without memory for a row's pairs */
} pg_topk_job;

#define PG_TOPK_ROWS(TT, SUF)                                                                                 \
    static void topk_rows_##SUF(void *ctx, int64_t lo, int64_t hi) {                                          \
        pg_topk_job *q = ctx;                                                                                 \
        const int64_t n = q->r.n, inner = q->r.inner, k = q->k;                                               \
        const uint64_t flip = q->flip;                                                                        \
        bool small = k <= PG_TOPK_SMALL && k * k <= n;                                                        \
        pg_kv *pairs = small ? NULL : pg__scratch(0, sizeof(pg_kv) * (size_t)n);                              \
        if (!small && !pairs) {                                                                               \
            atomic_store(&q->failed, 1);                                                                      \
            return;                                                                                           \
        }                                                                                                     \
        for (int64_t u = lo; u < hi; u++) {                                                                   \
            int64_t a = u / inner, c = u % inner;                                                             \
            const TT *x = (const TT *)q->x + a * n * inner + c;                                               \
            int64_t *o = q->o + a * k * inner + c;                                                            \
            if (!small) {                                                                                     \
                for (int64_t j = 0; j < n; j++) pairs[j] = (pg_kv){pg__key_##SUF(x[j * inner]) ^ flip, j};    \
                pg__kv_select(pairs, n, k, q->depth);                                                         \
                pg__kv_sort(pairs, k, q->depth);                                                              \
                for (int64_t t = 0; t < k; t++) o[t * inner] = pairs[t].idx;                                  \
                continue;                                                                                     \
            }                                                                                                 \
            uint64_t bk[PG_TOPK_SMALL];                                                                       \
            int64_t bi[PG_TOPK_SMALL], cnt = 0, j = 0;                                                        \
            while (j < n) {                                                                                   \
                if (cnt == k && inner == 1 && j + PG_TOPK_BLOCK <= n) { /* skip a block with nothing better */ \
                    const uint64_t thr = bk[k - 1];                                                           \
                    int any = 0;                                                                              \
                    for (int t = 0; t < PG_TOPK_BLOCK; t++) any |= (pg__key_##SUF(x[j + t]) ^ flip) < thr;    \
                    if (!any) {                                                                               \
                        j += PG_TOPK_BLOCK;                                                                   \
                        continue;                                                                             \
                    }                                                                                         \
                }                                                                                             \
                const int64_t e = inner == 1 && j + PG_TOPK_BLOCK <= n ? j + PG_TOPK_BLOCK : j + 1;           \
                for (; j < e; j++) {                                                                          \
                    uint64_t kj = pg__key_##SUF(x[j * inner]) ^ flip;                                         \
                    int64_t p = cnt;                                                                          \
                    if (cnt == k) {                                                                           \
                        if (!(kj < bk[k - 1])) continue;                                                      \
                        p = k - 1;                                                                            \
                    } else {                                                                                  \
                        cnt++;                                                                                \
                    }                                                                                         \
                    for (; p > 0 && kj < bk[p - 1]; p--) bk[p] = bk[p - 1], bi[p] = bi[p - 1];               \
                    bk[p] = kj;                                                                               \
                    bi[p] = j;                                                                                \
                }                                                                                             \
            }                                                                                                 \
            for (int64_t t = 0; t < k; t++) o[t * inner] = bi[t];                                             \
        }                                                                                                     \
    }
PG_TOPK_ROWS(float, f32)
PG_TOPK_ROWS(double, f64)
PG_TOPK_ROWS(int64_t, i64)
PG_TOPK_ROWS(int32_t, i32)
PG_TOPK_ROWS(uint8_t, b)

pg_tensor *pg_topk_indices(pg_tensor *x, int dim, int64_t k, int largest) {
    if (pg__check_tensor("topk", x)) return NULL;
    int d = pg__dim_arg("topk", x, dim);
    if (d < 0) return NULL;
    pg_rows r = pg__rows(x, d);
    if (k < 0 || k > r.n) {
        char b[PG_SHAPE_BUF];
        pg__fail(PG_ERR_VALUE, "topk: k = %lld is out of range for dim %d of size %lld (tensor of shape %s)",
                 (long long)k, d, (long long)r.n, pg__shape_str(x->ndim, x->shape, b, sizeof b));
        return NULL;
    }
    int64_t shape[PG_MAX_DIMS] = {k};
    int nd = x->ndim ? x->ndim : 1; /* a 0-d tensor: (k,) */
    for (int i = 0; i < x->ndim; i++) shape[i] = i == d ? k : x->shape[i];
    pg_tensor *out = pg__tensor_new(PG_DTYPE_I64, nd, shape);
    if (!out || out->numel == 0) return out;
    pg_topk_job q = {.x = x->data, .o = out->data, .r = r, .k = k, .flip = largest ? ~(uint64_t)0 : 0};
    for (int64_t m = r.n; m > 1; m /= 2) q.depth += 2;
    atomic_init(&q.failed, 0);
    static const pg_range_fn fns[] = {[PG_DTYPE_F32] = topk_rows_f32, [PG_DTYPE_F64] = topk_rows_f64,
                                      [PG_DTYPE_BOOL] = topk_rows_b, [PG_DTYPE_I64] = topk_rows_i64,
                                      [PG_DTYPE_I32] = topk_rows_i32};
    int64_t grain = PG_NDITER_GRAIN / r.n;
    pg__parallel_range(r.outer * r.inner, 1, grain > 1 ? grain : 1, fns[x->dtype], &q);
    if (atomic_load(&q.failed)) {
        pg_tensor_release(out);
        pg__fail(PG_ERR_MEMORY, "topk: out of memory for rows of %lld elements", (long long)r.n);
        return NULL;
    }
    return out;
}

/* ---- cummax / cummin indices: the latest index of the running extreme (ties and NaN update it) ---- */

pg_tensor *pg_cumext_indices(pg_tensor *x, int dim, int want_max) {
    const char *op = want_max ? "cummax" : "cummin";
    if (pg__check_tensor(op, x)) return NULL;
    int d = pg__dim_arg(op, x, dim);
    if (d < 0) return NULL;
    pg_rows r = pg__rows(x, d);
    pg_tensor *out = pg__tensor_new(PG_DTYPE_I64, x->ndim, x->shape);
    if (!out) return NULL;
    int64_t *o = out->data;
    for (int64_t a = 0; a < r.outer; a++)
        for (int64_t c = 0; c < r.inner; c++) {
            int64_t base = a * r.n * r.inner + c, best = 0;
            for (int64_t k = 0; k < r.n; k++) {
                int64_t i = base + k * r.inner, b = base + best * r.inner;
                bool bnan = pg__isnan_at(x, b);
                if (k == 0 || pg__isnan_at(x, i) ||
                    (!bnan && !(want_max ? pg__less(x, i, b) : pg__less(x, b, i))))
                    best = k;
                o[i] = best;
            }
        }
    return out;
}

/* ---- nonzero: the (n, ndim) int64 indices of the nonzero elements, in row-major order ---- */

pg_tensor *pg_nonzero(pg_tensor *x) {
    if (pg__check_tensor("nonzero", x)) return NULL;
    int64_t n = 0;
    for (int64_t i = 0; i < x->numel; i++) n += pg__value(x, i) != 0;
    pg_tensor *out = pg__tensor_new(PG_DTYPE_I64, 2, (int64_t[]){n, x->ndim});
    if (!out) return NULL;
    int64_t *o = out->data, idx[PG_MAX_DIMS] = {0};
    for (int64_t i = 0; i < x->numel; i++) {
        if (pg__value(x, i) != 0)
            for (int k = 0; k < x->ndim; k++) *o++ = idx[k];
        for (int k = x->ndim - 1; k >= 0; k--) { /* the next multi-index */
            if (++idx[k] < x->shape[k]) break;
            idx[k] = 0;
        }
    }
    return out;
}

/* ---- gather / scatter along a dim, through flat element offsets ---- */

/* Flat offsets into a tensor of shape `into` for each element of index (shape
 * index's, row-major): coordinate dim from index's value (negative values
 * are refused, as by PyTorch), the others from
 * the element's own position. Checks PyTorch's shape rule: same ndim, and
 * index's size at most into's on every dim but dim. */
static int64_t *pg__dim_offsets(const char *op, const pg_tensor *index, const pg_tensor *into, int dim) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (!pg__is_int(index->dtype)) {
        pg__fail(PG_ERR_TYPE, "%s: index must be an int64 or int32 tensor, got %s", op, pg__dtype_name(index->dtype));
        return NULL;
    }
    if (index->ndim != into->ndim && !(index->ndim <= 1 && into->ndim <= 1)) {
        pg__fail(PG_ERR_SHAPE, "%s: index of shape %s must have as many dims as the tensor of shape %s", op,
                 pg__shape_str(index->ndim, index->shape, b1, sizeof b1),
                 pg__shape_str(into->ndim, into->shape, b2, sizeof b2));
        return NULL;
    }
    for (int d = 0; d < index->ndim; d++)
        if (d != dim && index->shape[d] > into->shape[d]) {
            pg__fail(PG_ERR_SHAPE, "%s: index of shape %s is larger than the tensor of shape %s at dim %d", op,
                     pg__shape_str(index->ndim, index->shape, b1, sizeof b1),
                     pg__shape_str(into->ndim, into->shape, b2, sizeof b2), d);
            return NULL;
        }
    int64_t n = index->numel, st[PG_MAX_DIMS], idx[PG_MAX_DIMS] = {0};
    pg__strides(into->ndim, into->shape, st);
    int64_t size = into->ndim ? into->shape[dim] : 1;
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!off) {
        pg__fail(PG_ERR_MEMORY, "%s: out of memory for %lld offsets", op, (long long)n);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t v = index->dtype == PG_DTYPE_I64 ? ((const int64_t *)index->data)[i]
                                                 : ((const int32_t *)index->data)[i];
        if (v < 0 || v >= size) {
            free(off);
            pg__fail(PG_ERR_INDEX, "%s: index %lld is out of bounds for dim %d with size %lld", op, (long long)v, dim,
                     (long long)size);
            return NULL;
        }
        int64_t o = 0;
        for (int k = 0; k < index->ndim; k++) o += (k == dim ? v : idx[k]) * st[k];
        if (!index->ndim) o = v;
        off[i] = o;
        for (int k = index->ndim - 1; k >= 0; k--) {
            if (++idx[k] < index->shape[k]) break;
            idx[k] = 0;
        }
    }
    return off;
}

pg_tensor *pg_gather_dim(pg_tensor *x, int dim, pg_tensor *index) {
    if (pg__check_tensor("gather", x) || pg__check_tensor("gather", index)) return NULL;
    int d = pg__dim_arg("gather", x, dim);
    if (d < 0) return NULL;
    int64_t *off = pg__dim_offsets("gather", index, x, d);
    if (!off) return NULL;
    pg_tensor *out = pg_gather(x, index->ndim, index->shape, off);
    free(off);
    return out;
}

/* src's leading block of index's shape (all of src when the shapes match) */
static pg_tensor *pg__src_block(const char *op, pg_tensor *src, const pg_tensor *index) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (src->ndim != index->ndim) {
        pg__fail(PG_ERR_SHAPE, "%s: src of shape %s must have as many dims as index of shape %s", op,
                 pg__shape_str(src->ndim, src->shape, b1, sizeof b1),
                 pg__shape_str(index->ndim, index->shape, b2, sizeof b2));
        return NULL;
    }
    bool same = true;
    for (int d = 0; d < src->ndim; d++) {
        if (index->shape[d] > src->shape[d]) {
            pg__fail(PG_ERR_SHAPE, "%s: index of shape %s is larger than src of shape %s at dim %d", op,
                     pg__shape_str(index->ndim, index->shape, b1, sizeof b1),
                     pg__shape_str(src->ndim, src->shape, b2, sizeof b2), d);
            return NULL;
        }
        same &= index->shape[d] == src->shape[d];
    }
    if (same) return PG_NEW_REF(src);
    int64_t n = index->numel, st[PG_MAX_DIMS], idx[PG_MAX_DIMS] = {0};
    pg__strides(src->ndim, src->shape, st);
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!off) {
        pg__fail(PG_ERR_MEMORY, "%s: out of memory", op);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t o = 0;
        for (int k = 0; k < src->ndim; k++) o += idx[k] * st[k];
        off[i] = o;
        for (int k = index->ndim - 1; k >= 0; k--) {
            if (++idx[k] < index->shape[k]) break;
            idx[k] = 0;
        }
    }
    pg_tensor *out = pg_gather(src, index->ndim, index->shape, off);
    free(off);
    return out;
}

/* out = a copy of x with block's elements added (add) or written (else, in
 * order: the last write wins) at the offsets: the integer and bool path, not
 * recorded. Bool addition is or. */
static pg_tensor *pg__scatter_plain(pg_tensor *x, const pg_tensor *block, const int64_t *off, bool add) {
    pg_tensor *out = pg_tensor_clone(x), *b = out ? pg__to_dtype((pg_tensor *)block, x->dtype) : NULL;
    if (!b) {
        pg_tensor_release(out);
        return NULL;
    }
    int64_t n = b->numel;
    if (x->dtype == PG_DTYPE_I64) {
        int64_t *o = out->data;
        const int64_t *v = b->data;
        for (int64_t i = 0; i < n; i++) o[off[i]] = add ? (int64_t)((uint64_t)o[off[i]] + (uint64_t)v[i]) : v[i];
    } else if (x->dtype == PG_DTYPE_I32) {
        int32_t *o = out->data;
        const int32_t *v = b->data;
        for (int64_t i = 0; i < n; i++) o[off[i]] = add ? (int32_t)((uint32_t)o[off[i]] + (uint32_t)v[i]) : v[i];
    } else {
        uint8_t *o = out->data;
        const uint8_t *v = b->data;
        for (int64_t i = 0; i < n; i++) o[off[i]] = add ? (uint8_t)(o[off[i]] | v[i]) : v[i];
    }
    pg_tensor_release(b);
    return out;
}

/* the float path of scatter: where(written, src's last writes scattered, x) */
static pg_tensor *pg__scatter_float(pg_tensor *x, pg_tensor *block, const int64_t *off) {
    int64_t n = block->numel, kept = 0;
    int64_t *last = malloc(sizeof(int64_t) * (size_t)(x->numel ? x->numel : 1));
    int64_t *ks = malloc(sizeof(int64_t) * (size_t)(n ? n : 1)), *koff = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    pg_tensor *mask = pg__tensor_new(PG_DTYPE_BOOL, x->ndim, x->shape), *out = NULL;
    if (!last || !ks || !koff || !mask) {
        pg__fail(PG_ERR_MEMORY, "scatter: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < x->numel; i++) last[i] = -1;
    for (int64_t i = 0; i < n; i++) last[off[i]] = i;
    memset(mask->data, 0, (size_t)mask->numel);
    for (int64_t i = 0; i < n; i++)
        if (last[off[i]] == i) {
            ks[kept] = i;
            koff[kept++] = off[i];
            ((uint8_t *)mask->data)[off[i]] = 1;
        }
    pg_tensor *flat = pg_reshape(block, 1, (int64_t[]){n});
    pg_tensor *sel = flat ? pg_gather(flat, 1, (int64_t[]){kept}, ks) : NULL;
    pg_tensor *s = sel ? pg_scatter_add(sel, x->ndim, x->shape, koff) : NULL;
    if (s) out = pg_where(mask, s, x);
    pg_tensor_release(flat);
    pg_tensor_release(sel);
    pg_tensor_release(s);
done:
    pg_tensor_release(mask);
    free(last);
    free(ks);
    free(koff);
    return out;
}

static pg_tensor *pg__scatter(const char *op, pg_tensor *x, int dim, pg_tensor *index, pg_tensor *src, bool add) {
    if (pg__check_tensor(op, x) || pg__check_tensor(op, index) || pg__check_tensor(op, src)) return NULL;
    int d = pg__dim_arg(op, x, dim);
    if (d < 0) return NULL;
    int64_t *off = pg__dim_offsets(op, index, x, d);
    if (!off) return NULL;
    pg_tensor *block = pg__src_block(op, src, index), *b = NULL, *out = NULL;
    if (block && !pg__is_float(x->dtype)) {
        out = pg__scatter_plain(x, block, off, add);
    } else if (block) {
        b = pg__to_dtype(block, x->dtype); /* src takes x's dtype (a recorded cast between floats) */
        if (b && add) {
            pg_tensor *flat = pg_reshape(b, 1, (int64_t[]){b->numel});
            pg_tensor *s = flat ? pg_scatter_add(flat, x->ndim, x->shape, off) : NULL;
            if (s) out = pg_add(x, s);
            pg_tensor_release(flat);
            pg_tensor_release(s);
        } else if (b) {
            out = pg__scatter_float(x, b, off);
        }
    }
    pg_tensor_release(b);
    pg_tensor_release(block);
    free(off);
    return out;
}

pg_tensor *pg_scatter_add_dim(pg_tensor *x, int dim, pg_tensor *index, pg_tensor *src) {
    return pg__scatter("scatter_add", x, dim, index, src, true);
}

pg_tensor *pg_scatter_dim(pg_tensor *x, int dim, pg_tensor *index, pg_tensor *src) {
    return pg__scatter("scatter", x, dim, index, src, false);
}
