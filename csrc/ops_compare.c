/* ops_compare.c: comparisons (pg_compare, pg_compare_scalar: a bool result)
 * and the bitwise/logical ops of bool and integer tensors (pg_bitwise,
 * pg_bitwise_not). Not graph ops, so no op-table rows: a recording program
 * (pygrad.compile) hears of each through its recorder's aux hook and replays
 * it by calling the entry point again. Operands are promoted and broadcast as
 * in arithmetic. */
#include "internal.h"

/* o[i] = a[i sa] OP b[i sb], the comparison picked once per row; rows of contiguous operands, or of one
 * operand against a single value (a scalar), in loops over constant strides the compiler vectorises */
#define PG_CMP_LOOP(TT, SA, SB)                                                               \
    switch (c) {                                                                              \
    case PG_CMP_LT: for (int64_t i = 0; i < n; i++) o[i] = a[i * (SA)] < b[i * (SB)]; break;  \
    case PG_CMP_LE: for (int64_t i = 0; i < n; i++) o[i] = a[i * (SA)] <= b[i * (SB)]; break; \
    case PG_CMP_GT: for (int64_t i = 0; i < n; i++) o[i] = a[i * (SA)] > b[i * (SB)]; break;  \
    case PG_CMP_GE: for (int64_t i = 0; i < n; i++) o[i] = a[i * (SA)] >= b[i * (SB)]; break; \
    case PG_CMP_EQ: for (int64_t i = 0; i < n; i++) o[i] = a[i * (SA)] == b[i * (SB)]; break; \
    default: for (int64_t i = 0; i < n; i++) o[i] = a[i * (SA)] != b[i * (SB)]; break;        \
    }
#define PG_CMP_ROW(TT, SUF)                                                                   \
    static void cmp_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {    \
        uint8_t *o = (uint8_t *)ptr[0];                                                       \
        const TT *a = (const TT *)ptr[1], *b = (const TT *)ptr[2];                            \
        int c = *(int *)ctx;                                                                  \
        int64_t sa = st[1], sb = st[2];                                                       \
        if (sa == 1 && sb == 1) {                                                             \
            PG_CMP_LOOP(TT, 1, 1)                                                             \
        } else if (sa == 1 && sb == 0) {                                                      \
            PG_CMP_LOOP(TT, 1, 0)                                                             \
        } else if (sa == 0 && sb == 1) {                                                      \
            PG_CMP_LOOP(TT, 0, 1)                                                             \
        } else {                                                                              \
            PG_CMP_LOOP(TT, sa, sb)                                                           \
        }                                                                                     \
    }
PG_CMP_ROW(float, f32)
PG_CMP_ROW(double, f64)
PG_CMP_ROW(uint8_t, b8)
PG_CMP_ROW(int32_t, i32)
PG_CMP_ROW(int64_t, i64)

static pg_row_fn pg__cmp_row(pg_dtype dt) {
    switch (dt) {
    case PG_DTYPE_F32: return cmp_row_f32;
    case PG_DTYPE_F64: return cmp_row_f64;
    case PG_DTYPE_I32: return cmp_row_i32;
    case PG_DTYPE_I64: return cmp_row_i64;
    case PG_DTYPE_BOOL: break;
    }
    return cmp_row_b8;
}

/* x, y promoted to one dtype outside grad mode (not a graph op) */
static pg_status pg__promote_nograd(const char *op, pg_tensor **x, pg_tensor **y) {
    if ((*x)->dtype == (*y)->dtype) {
        pg_tensor_retain(*x);
        pg_tensor_retain(*y);
        return PG_OK;
    }
    int prev = pg_set_grad_enabled(0), prev_anomaly = pg_set_detect_anomaly(0);
    pg_status st = pg__promote2(op, x, y);
    pg_set_grad_enabled(prev);
    pg_set_detect_anomaly(prev_anomaly);
    return st;
}

/* a recording program hears of a result (pygrad.compile) */
static pg_tensor *pg__aux_rec(pg_tensor *out, int kind, int code, pg_tensor *a, pg_tensor *b, double c) {
    if (out && pg_tls.recorder) pg_tls.recorder->ops->aux(pg_tls.recorder, kind, code, out, a, b, c);
    return out;
}

static pg_tensor *pg__compare(pg_tensor *a, pg_tensor *b, pg_cmp cmp) {
    if (pg__check_tensor("compare", a) || pg__check_tensor("compare", b)) return NULL;
    if ((unsigned)cmp > PG_CMP_NE) {
        pg__fail(PG_ERR_VALUE, "compare: unknown comparison %d", (int)cmp);
        return NULL;
    }
    pg_tensor *x = a, *y = b;
    if (pg__promote_nograd("compare", &x, &y)) return NULL;
    pg_meta m;
    pg_tensor *in[2] = {x, y};
    pg_tensor *out = NULL;
    if (pg__broadcast_shapes("compare", &m, in, 2) == PG_OK) {
        m.dtype = PG_DTYPE_BOOL;
        out = pg__tensor_new_like(&m);
        if (out) {
            const pg_tensor *ops[2] = {x, y};
            int c = (int)cmp;
            pg__ew_run(out, &m, ops, 2, pg__cmp_row(x->dtype), &c);
        }
    }
    pg_tensor_release(x);
    pg_tensor_release(y);
    return out;
}

pg_tensor *pg_compare(pg_tensor *a, pg_tensor *b, pg_cmp cmp) {
    return pg__aux_rec(pg__compare(a, b, cmp), PG_REC_CMP, (int)cmp, a, b, 0.0);
}

pg_tensor *pg_compare_scalar(pg_tensor *a, double c, pg_cmp cmp) {
    if (pg__check_tensor("compare", a)) return NULL;
    /* a scalar takes the tensor's dtype when it is exact there; a bool tensor
     * compares as float32, as in arithmetic; an integer tensor against a
     * fractional or out-of-range scalar compares in float64 */
    pg_dtype dt = a->dtype == PG_DTYPE_BOOL ? PG_DTYPE_F32 : a->dtype;
    if (pg__is_int(dt)) {
        double lim = dt == PG_DTYPE_I32 ? 2147483648.0 : 9223372036854775808.0;
        if (!(c == trunc(c) && c >= -lim && c < lim)) dt = PG_DTYPE_F64;
    }
    pg_tensor *s = pg_tensor_full(dt, 0, NULL, c);
    if (!s) return NULL;
    pg_tensor *x = a;
    if (x->dtype != dt && !(x = pg__to_dtype(a, dt))) {
        pg_tensor_release(s);
        return NULL;
    }
    pg_tensor *out = pg__compare(x, s, cmp);
    if (x != a) pg_tensor_release(x);
    pg_tensor_release(s);
    return pg__aux_rec(out, PG_REC_CMP_SCALAR, (int)cmp, a, NULL, c);
}

/* ---- bitwise and logical ops ---- */

#define PG_BIT_ROW(TT, SUF)                                                                \
    static void bit_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        TT *o = (TT *)ptr[0];                                                              \
        const TT *a = (const TT *)ptr[1], *b = (const TT *)ptr[2];                         \
        int k = *(int *)ctx;                                                               \
        for (int64_t i = 0; i < n; i++) {                                                  \
            TT x = a[i * st[1]], y = b[i * st[2]];                                         \
            o[i] = (TT)(k == PG_BIT_AND ? (x & y) : k == PG_BIT_OR ? (x | y) : (x ^ y));   \
        }                                                                                  \
    }
PG_BIT_ROW(uint8_t, b8)
PG_BIT_ROW(uint32_t, b32)
PG_BIT_ROW(uint64_t, b64)

static const char *const pg_bit_names[] = {"bitwise_and", "bitwise_or", "bitwise_xor"};

static pg_status pg__check_bits(const char *op, const pg_tensor *t) {
    if (pg__is_float(t->dtype))
        return pg__fail(PG_ERR_TYPE, "%s: defined for bool and integer tensors, got %s", op,
                        pg__dtype_name(t->dtype));
    return PG_OK;
}

pg_tensor *pg_bitwise(pg_tensor *a, pg_tensor *b, pg_bitop op) {
    if ((unsigned)op > PG_BIT_XOR) {
        pg__fail(PG_ERR_VALUE, "bitwise: unknown operation %d", (int)op);
        return NULL;
    }
    const char *name = pg_bit_names[op];
    if (pg__check_tensor(name, a) || pg__check_tensor(name, b)) return NULL;
    if (pg__check_bits(name, a) || pg__check_bits(name, b)) return NULL;
    pg_tensor *x = a, *y = b;
    if (pg__promote_nograd(name, &x, &y)) return NULL;
    pg_meta m;
    pg_tensor *in[2] = {x, y};
    pg_tensor *out = NULL;
    if (pg__broadcast_shapes(name, &m, in, 2) == PG_OK) {
        m.dtype = x->dtype;
        out = pg__tensor_new_like(&m);
        if (out) {
            const pg_tensor *ops[2] = {x, y};
            int k = (int)op;
            size_t es = pg__dtype_size(x->dtype);
            pg__ew_run(out, &m, ops, 2, es == 8 ? bit_row_b64 : es == 4 ? bit_row_b32 : bit_row_b8, &k);
        }
    }
    pg_tensor_release(x);
    pg_tensor_release(y);
    return pg__aux_rec(out, PG_REC_BITWISE, (int)op, a, b, 0.0);
}

pg_tensor *pg_bitwise_not(pg_tensor *x) {
    if (pg__check_tensor("bitwise_not", x) || pg__check_bits("bitwise_not", x)) return NULL;
    pg_tensor *out = pg__tensor_new(x->dtype, x->ndim, x->shape);
    if (!out) return NULL;
    int64_t n = x->numel;
    if (x->dtype == PG_DTYPE_BOOL) {
        const uint8_t *s = x->data;
        uint8_t *d = out->data;
        for (int64_t i = 0; i < n; i++) d[i] = !s[i];
    } else if (x->dtype == PG_DTYPE_I32) {
        const uint32_t *s = x->data;
        uint32_t *d = out->data;
        for (int64_t i = 0; i < n; i++) d[i] = ~s[i];
    } else {
        const uint64_t *s = x->data;
        uint64_t *d = out->data;
        for (int64_t i = 0; i < n; i++) d[i] = ~s[i];
    }
    return pg__aux_rec(out, PG_REC_BITWISE_NOT, 0, x, NULL, 0.0);
}
