/* kern_ewise.c: raw elementwise loops shared by the tape and the ops, below
 * both: fill (tensor creation), add-into (gradient accumulation), dtype
 * conversion (cast, copy_), broadcast shapes and the broadcast row runner
 * every elementwise op uses. No checks beyond shapes, nothing recorded. */
#include "internal.h"

#include <string.h>
#if PG_STREAM_STORES
#include <immintrin.h>
#endif

#if PG_STREAM_STORES
__attribute__((target("avx512f"))) static void pg__stream512(char *d, const char *s, size_t n) {
    size_t head = (64 - ((uintptr_t)d & 63)) & 63, i = head < n ? head : n;
    memcpy(d, s, i);
    for (; i + 64 <= n; i += 64) _mm512_stream_si512((void *)(d + i), _mm512_loadu_si512(s + i));
    memcpy(d + i, s + i, n - i);
}
void pg__stream_copy(void *d, const void *s, size_t n) {
    char *dc = d;
    const char *sc = s;
    if (__builtin_cpu_supports("avx512f")) {
        pg__stream512(dc, sc, n);
        return;
    }
    size_t head = (16 - ((uintptr_t)dc & 15)) & 15, i = head < n ? head : n;
    memcpy(dc, sc, i);
    for (; i + 16 <= n; i += 16) _mm_stream_si128((__m128i *)(dc + i), _mm_loadu_si128((const __m128i *)(sc + i)));
    memcpy(dc + i, sc + i, n - i);
}
void pg__stream_fence(void) { _mm_sfence(); }
#else
void pg__stream_copy(void *d, const void *s, size_t n) { memcpy(d, s, n); }
void pg__stream_fence(void) {}
#endif

/* A flat loop's operands, for running it over ranges on several threads. */
typedef struct pg_flat_job {
    bool f64;
    void *o;          /* [n] written */
    const void *xs;   /* [n] read (add-into) */
    double value;     /* fill */
} pg_flat_job;

static void pg__fill_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_flat_job *j = ctx;
    double value = j->value;
    if (j->f64) {
        double *d = j->o;
        for (int64_t i = lo; i < hi; i++) d[i] = value;
    } else {
        float v = (float)value, *d = j->o;
        for (int64_t i = lo; i < hi; i++) d[i] = v;
    }
}

/* Fills without bumping the version: for tensors nobody has seen yet. */
void pg__fill(pg_tensor *t, double value) {
    if (t->dtype == PG_DTYPE_BOOL) {
        memset(t->data, value != 0, (size_t)t->numel);
        return;
    }
    if (pg__is_int(t->dtype)) { /* one element converted, then repeated */
        int64_t v;
        pg__convert(&v, PG_DTYPE_I64, &value, PG_DTYPE_F64, 1);
        pg__fill_int(t, v);
        return;
    }
    pg_flat_job j = {t->dtype == PG_DTYPE_F64, t->data, NULL, value};
    pg__parallel_range(t->numel, 64, PG_NDITER_GRAIN, pg__fill_range, &j);
}

void pg__fill_int(pg_tensor *t, int64_t v) {
    if (t->dtype == PG_DTYPE_I64) {
        int64_t *d = t->data;
        for (int64_t i = 0; i < t->numel; i++) d[i] = v;
    } else if (t->dtype == PG_DTYPE_I32) {
        int32_t w = (int32_t)(uint32_t)(uint64_t)v, *d = t->data;
        for (int64_t i = 0; i < t->numel; i++) d[i] = w;
    } else {
        pg__fill(t, (double)v);
    }
}

static void pg__add_into_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_flat_job *j = ctx;
    if (j->f64) {
        double *d = j->o;
        const double *s = j->xs;
        PG_IVDEP for (int64_t i = lo; i < hi; i++) d[i] += s[i];
    } else {
        float *d = j->o;
        const float *s = j->xs;
        PG_IVDEP for (int64_t i = lo; i < hi; i++) d[i] += s[i];
    }
}

/* dst += src, same shape and dtype (gradient accumulation) */
void pg__add_into(pg_tensor *dst, const pg_tensor *src) {
    pg_flat_job j = {dst->dtype == PG_DTYPE_F64, dst->data, src->data, 0.0};
    pg__parallel_range(dst->numel, 64, PG_NDITER_GRAIN, pg__add_into_range, &j);
}

/* A float to an integer type: truncation toward zero; NaN and values out of
 * the type's range give its minimum (what x86's conversion instructions and
 * numpy give), never undefined behaviour. */
#define PG_F2I(DT, LO, v) (((v) >= -(LO) || (v) < (LO) || (v) != (v)) ? (DT)(LO) : (DT)(v))
/* one element of source type ST to DT: the bool target tests != 0; integer
 * narrowing wraps (two's complement) */
#define PG_CONV_EL(DT, ST, v)                                                                  \
    _Generic((DT)0, uint8_t: (uint8_t)((v) != 0),                                              \
             int64_t: _Generic((v), float: PG_F2I(int64_t, -9223372036854775808.0, (double)(v)), \
                               double: PG_F2I(int64_t, -9223372036854775808.0, (double)(v)),     \
                               default: (int64_t)(v)),                                               \
             int32_t: _Generic((v), float: PG_F2I(int32_t, -2147483648.0, (double)(v)),           \
                               double: PG_F2I(int32_t, -2147483648.0, (double)(v)),              \
                               default: (int32_t)(uint32_t)(uint64_t)(int64_t)(v)),                   \
             default: (DT)(v))
#define PG_CONV_LOOP(DT, ST)                                      \
    do {                                                          \
        DT *d = dst;                                              \
        const ST *s = src;                                        \
        for (int64_t i = 0; i < n; i++) d[i] = PG_CONV_EL(DT, ST, s[i]); \
    } while (0)
#define PG_CONV_FROM(DT)                                                   \
    do {                                                                   \
        switch (st) {                                                      \
        case PG_DTYPE_F32: PG_CONV_LOOP(DT, float); break;                 \
        case PG_DTYPE_F64: PG_CONV_LOOP(DT, double); break;                \
        case PG_DTYPE_BOOL: PG_CONV_LOOP(DT, uint8_t); break;              \
        case PG_DTYPE_I64: PG_CONV_LOOP(DT, int64_t); break;               \
        case PG_DTYPE_I32: PG_CONV_LOOP(DT, int32_t); break;               \
        }                                                                  \
    } while (0)

static void pg__convert_serial(void *dst, pg_dtype dt, const void *src, pg_dtype st, int64_t n) {
    if (dt == st) {
        memcpy(dst, src, (size_t)n * pg__dtype_size(dt));
        return;
    }
    switch (dt) {
    case PG_DTYPE_F32: PG_CONV_FROM(float); break;
    case PG_DTYPE_F64: PG_CONV_FROM(double); break;
    case PG_DTYPE_BOOL: PG_CONV_FROM(uint8_t); break;
    case PG_DTYPE_I64: PG_CONV_FROM(int64_t); break;
    case PG_DTYPE_I32: PG_CONV_FROM(int32_t); break;
    }
}
#undef PG_CONV_FROM
#undef PG_CONV_LOOP
#undef PG_CONV_EL
#undef PG_F2I

typedef struct pg_convert_job {
    char *dst;
    const char *src;
    pg_dtype dt, st;
} pg_convert_job;

static void pg__convert_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_convert_job *j = ctx;
    pg__convert_serial(j->dst + lo * (int64_t)pg__dtype_size(j->dt), j->dt,
                       j->src + lo * (int64_t)pg__dtype_size(j->st), j->st, hi - lo);
}

void pg__convert(void *dst, pg_dtype dt, const void *src, pg_dtype st, int64_t n) {
    pg_convert_job j = {dst, src, dt, st};
    pg__parallel_range(n, 64, PG_NDITER_GRAIN, pg__convert_range, &j);
}

pg_status pg__broadcast_shapes(const char *op, pg_meta *out, pg_tensor *const *in, int n_in) {
    int nd = 0;
    for (int k = 0; k < n_in; k++)
        if (in[k]->ndim > nd) nd = in[k]->ndim;
    out->ndim = nd;
    for (int d = 0; d < nd; d++) {
        int64_t s = 1;
        for (int k = 0; k < n_in; k++) {
            int j = d - (nd - in[k]->ndim);
            if (j < 0) continue;
            int64_t v = in[k]->shape[j];
            if (v == s || v == 1) continue;
            if (s != 1) {
                char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF], b3[PG_SHAPE_BUF];
                if (n_in == 2)
                    return pg__fail(PG_ERR_SHAPE, "%s: shapes %s and %s cannot be broadcast together", op,
                                    pg__shape_str(in[0]->ndim, in[0]->shape, b1, sizeof b1),
                                    pg__shape_str(in[1]->ndim, in[1]->shape, b2, sizeof b2));
                return pg__fail(PG_ERR_SHAPE, "%s: shapes %s, %s and %s cannot be broadcast together", op,
                                pg__shape_str(in[0]->ndim, in[0]->shape, b1, sizeof b1),
                                pg__shape_str(in[1]->ndim, in[1]->shape, b2, sizeof b2),
                                pg__shape_str(in[2]->ndim, in[2]->shape, b3, sizeof b3));
            }
            s = v;
        }
        out->shape[d] = s;
    }
    return PG_OK;
}

void pg__ew_run(pg_tensor *res, const pg_meta *shape_of, const pg_tensor *const *ops, int nops,
                       pg_row_fn fn, void *ctx) {
    int64_t st[PG_NDITER_MAX_OPS][PG_MAX_DIMS];
    char *base[PG_NDITER_MAX_OPS];
    size_t es[PG_NDITER_MAX_OPS];
    pg_meta rm;
    pg__meta_of(&rm, res);
    pg__bcast_strides(&rm, shape_of->ndim, shape_of->shape, st[0]);
    base[0] = res->data;
    es[0] = pg__dtype_size(res->dtype);
    for (int k = 0; k < nops; k++) {
        pg_meta m;
        pg__meta_of(&m, ops[k]);
        pg__bcast_strides(&m, shape_of->ndim, shape_of->shape, st[k + 1]);
        base[k + 1] = ops[k]->data;
        es[k + 1] = pg__dtype_size(ops[k]->dtype);
    }
    pg_nditer it;
    pg__nditer_init(&it, shape_of->ndim, shape_of->shape, nops + 1, st);
    pg__nditer_run(&it, base, es, fn, ctx);
}
