/* anomaly.c: anomaly detection. With the per-thread flag on, the output of
 * every forward kernel (pg__apply) and every gradient a backward kernel
 * returns (the sweep in autograd.c) is scanned for NaN and infinity; the
 * first non-finite value fails the op with PG_ERR_RUNTIME and a message
 * naming the op. Off by default: the scan is one extra pass over each result.
 * This file only inspects results; it never changes a value. */
#include "internal.h"

#include <math.h>

/* the per-thread flag is pg_tls.anomaly: 0, off, by default */

int pg_detect_anomaly(void) { return pg_tls.anomaly; }

int pg_set_detect_anomaly(int flag) {
    int prev = pg_tls.anomaly;
    pg_tls.anomaly = flag != 0;
    return prev;
}

/* Index of t's first non-finite element, or -1 (bool and integer tensors: always -1).
 * *is_nan says whether that element is a NaN (else an infinity). */
static int64_t pg__nonfinite_at(const pg_tensor *t, bool *is_nan) {
    int64_t at = pg__first_nonfinite(t);
    if (at >= 0)
        *is_nan = t->dtype == PG_DTYPE_F64 ? isnan(((const double *)t->data)[at]) : isnan(((const float *)t->data)[at]);
    return at;
}

pg_status pg__anomaly_check_forward(int op, const pg_tensor *out) {
    if (!pg_tls.anomaly) return PG_OK;
    bool is_nan = false;
    int64_t at = pg__nonfinite_at(out, &is_nan);
    if (at < 0) return PG_OK;
    char b[PG_SHAPE_BUF];
    return pg__fail(PG_ERR_RUNTIME,
                    "Function '%s' returned %s values in its 0th output (output of shape %s, first at flat "
                    "index %lld); anomaly detection is on",
                    pg_optable[op]->name, is_nan ? "nan" : "inf",
                    pg__shape_str(out->ndim, out->shape, b, sizeof b), (long long)at);
}

pg_status pg__anomaly_check_backward(const pg_node *n, pg_tensor *const *dx) {
    if (!pg_tls.anomaly) return PG_OK;
    for (int i = 0; i < n->n_in; i++) {
        if (!dx[i]) continue;
        bool is_nan = false;
        int64_t at = pg__nonfinite_at(dx[i], &is_nan);
        if (at < 0) continue;
        const char *name = pg_optable[n->op]->name;
        char b[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_RUNTIME,
                        "Function '%s_backward' returned %s values in its %dth output (the gradient of "
                        "input %d, of shape %s, first at flat index %lld); the node was created by the "
                        "forward op '%s'; anomaly detection is on",
                        name, is_nan ? "nan" : "inf", i, i,
                        pg__shape_str(dx[i]->ndim, dx[i]->shape, b, sizeof b), (long long)at, name);
    }
    return PG_OK;
}
