/* ops_compare.c: comparisons (pg_compare, pg_compare_scalar): a bool result,
 * never recorded, so no op-table row. Operands are promoted and broadcast as
 * in arithmetic. */
#include "internal.h"

#define PG_CMP_ROW(TT, SUF)                                                                   \
    static void cmp_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {    \
        uint8_t *o = (uint8_t *)ptr[0];                                                       \
        const TT *a = (const TT *)ptr[1], *b = (const TT *)ptr[2];                            \
        int c = *(int *)ctx;                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                     \
            TT x = a[i * st[1]], y = b[i * st[2]];                                            \
            uint8_t r;                                                                        \
            switch (c) {                                                                      \
            case PG_CMP_LT: r = x < y; break;                                                 \
            case PG_CMP_LE: r = x <= y; break;                                                \
            case PG_CMP_GT: r = x > y; break;                                                 \
            case PG_CMP_GE: r = x >= y; break;                                                \
            case PG_CMP_EQ: r = x == y; break;                                                \
            default: r = x != y; break;                                                       \
            }                                                                                 \
            o[i] = r;                                                                         \
        }                                                                                     \
    }
PG_CMP_ROW(float, f32)
PG_CMP_ROW(double, f64)
PG_CMP_ROW(uint8_t, b8)

pg_tensor *pg_compare(pg_tensor *a, pg_tensor *b, pg_cmp cmp) {
    if (pg__check_tensor("compare", a) || pg__check_tensor("compare", b)) return NULL;
    if ((unsigned)cmp > PG_CMP_NE) {
        pg__fail(PG_ERR_VALUE, "compare: unknown comparison %d", (int)cmp);
        return NULL;
    }
    pg_tensor *x = a, *y = b;
    if (a->dtype == b->dtype) {
        pg_tensor_retain(x);
        pg_tensor_retain(y);
    } else {
        int prev = pg_set_grad_enabled(0), prev_anomaly = pg_set_detect_anomaly(0); /* not a graph op */
        pg_status st = pg__promote2("compare", &x, &y);
        pg_set_grad_enabled(prev);
        pg_set_detect_anomaly(prev_anomaly);
        if (st) return NULL;
    }
    pg_meta m;
    pg_tensor *in[2] = {x, y};
    pg_tensor *out = NULL;
    if (pg__broadcast_shapes("compare", &m, in, 2) == PG_OK) {
        m.dtype = PG_DTYPE_BOOL;
        out = pg__tensor_new_like(&m);
        if (out) {
            const pg_tensor *ops[2] = {x, y};
            int c = (int)cmp;
            pg_row_fn fn = x->dtype == PG_DTYPE_F32 ? cmp_row_f32 : x->dtype == PG_DTYPE_F64 ? cmp_row_f64 : cmp_row_b8;
            pg__ew_run(out, &m, ops, 2, fn, &c);
        }
    }
    pg_tensor_release(x);
    pg_tensor_release(y);
    return out;
}

pg_tensor *pg_compare_scalar(pg_tensor *a, double c, pg_cmp cmp) {
    if (pg__check_tensor("compare", a)) return NULL;
    /* a scalar takes the tensor's dtype; a bool tensor compares as float32, as in arithmetic */
    pg_dtype dt = a->dtype == PG_DTYPE_BOOL ? PG_DTYPE_F32 : a->dtype;
    pg_tensor *s = pg_tensor_full(dt, 0, NULL, c);
    if (!s) return NULL;
    pg_tensor *out = pg_compare(a, s, cmp);
    pg_tensor_release(s);
    return out;
}
