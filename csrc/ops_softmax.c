/* ops_softmax.c: softmax and log_softmax along one axis, computed stably
 * (the maximum along the axis is subtracted before exponentiating). The
 * tensor is viewed as [outer, n, inner] with the axis in the middle. */
#include "rules_util.h"

#include <math.h>

#define PG_SOFTMAX_KERNELS(TT, SUF)                                                                \
    /* y_j = e^(x_j - m) / sum_k e^(x_k - m)   or   y_j = (x_j - m) - log sum_k e^(x_k - m) */     \
    static void softmax_fwd_##SUF(TT *y, const TT *x, int64_t outer, int64_t n, int64_t inner,     \
                                  bool logsm) {                                                    \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                const TT *xs = x + o * n * inner + i;                                              \
                TT *ys = y + o * n * inner + i;                                                    \
                TT m = -INFINITY;                                                                  \
                for (int64_t j = 0; j < n; j++)                                                    \
                    if (xs[j * inner] > m || isnan(xs[j * inner])) m = xs[j * inner];              \
                if (isinf(m)) m = 0; /* all -inf (or +inf): let the arithmetic give nan/0 */      \
                TT s = 0;                                                                          \
                for (int64_t j = 0; j < n; j++) {                                                  \
                    TT e = PG_EXP(xs[j * inner] - m);                                              \
                    if (!logsm) ys[j * inner] = e;                                                 \
                    s += e;                                                                        \
                }                                                                                  \
                if (logsm) {                                                                       \
                    TT ls = PG_LOG(s);                                                             \
                    for (int64_t j = 0; j < n; j++) ys[j * inner] = (xs[j * inner] - m) - ls;      \
                } else {                                                                           \
                    for (int64_t j = 0; j < n; j++) ys[j * inner] /= s;                            \
                }                                                                                  \
            }                                                                                      \
    }                                                                                              \
    /* softmax:     dx_j = y_j (g_j - sum_k g_k y_k)                                               \
     * log_softmax: dx_j = g_j - e^(y_j) sum_k g_k */                                              \
    static void softmax_bwd_##SUF(TT *dx, const TT *g, const TT *y, int64_t outer, int64_t n,      \
                                  int64_t inner, bool logsm) {                                     \
        for (int64_t o = 0; o < outer; o++)                                                        \
            for (int64_t i = 0; i < inner; i++) {                                                  \
                int64_t b = o * n * inner + i;                                                     \
                TT s = 0;                                                                          \
                for (int64_t j = 0; j < n; j++) s += logsm ? g[b + j * inner] : g[b + j * inner] * y[b + j * inner]; \
                for (int64_t j = 0; j < n; j++) {                                                  \
                    int64_t q = b + j * inner;                                                     \
                    dx[q] = logsm ? g[q] - PG_EXP(y[q]) * s : y[q] * (g[q] - s);                   \
                }                                                                                  \
            }                                                                                      \
    }
PG_SOFTMAX_KERNELS(float, f32)
PG_SOFTMAX_KERNELS(double, f64)

static void pg__softmax_dims(const pg_meta *m, int axis, int64_t *outer, int64_t *n, int64_t *inner) {
    *outer = pg__numel(axis, m->shape);
    *n = m->shape[axis];
    *inner = pg__numel(m->ndim - axis - 1, m->shape + axis + 1);
}

static pg_status softmax_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const char *name = pg_optable[p->op]->name;
    if (pg__check_float(name, in[0])) return PG_ERR_TYPE;
    int nd = in[0]->ndim;
    if (p->axis.axis < 0 || p->axis.axis >= nd) {
        char b[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "%s: axis %d is out of range for a tensor of shape %s", name,
                        p->axis.given, pg__shape_str(nd, in[0]->shape, b, sizeof b));
    }
    pg__meta_of(out, in[0]);
    return PG_OK;
}

static pg_status softmax_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    if (out->numel == 0) return PG_OK; /* outer may still be huge: (2^31, 2^31, 0) */
    int64_t outer, n, inner;
    pg_meta m;
    pg__meta_of(&m, in[0]);
    pg__softmax_dims(&m, p->axis.axis, &outer, &n, &inner);
    bool logsm = p->op == PG_OP_LOG_SOFTMAX;
    pg_unlocked u = pg__unlock_host(out->numel);
    if (out->dtype == PG_DTYPE_F32) softmax_fwd_f32(out->data, in[0]->data, outer, n, inner, logsm);
    else softmax_fwd_f64(out->data, in[0]->data, outer, n, inner, logsm);
    pg__relock_host(u);
    return PG_OK;
}

static pg_status softmax_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_meta m = n->edges[0].meta;
    pg_tensor *d = pg__tensor_new_like(&m);
    if (!d) return PG_ERR_MEMORY;
    dx[0] = d;
    if (d->numel == 0) return PG_OK;
    int64_t outer, len, inner;
    pg__softmax_dims(&m, n->p.axis.axis, &outer, &len, &inner);
    bool logsm = n->op == PG_OP_LOG_SOFTMAX;
    pg_unlocked u = pg__unlock_host(d->numel);
    if (g->dtype == PG_DTYPE_F32) softmax_bwd_f32(d->data, g->data, n->saved[0]->data, outer, len, inner, logsm);
    else softmax_bwd_f64(d->data, g->data, n->saved[0]->data, outer, len, inner, logsm);
    pg__relock_host(u);
    return PG_OK;
}

static pg_tensor *pg__softmax(int op, pg_tensor *x, int axis) {
    if (pg__check_tensor(pg_optable[op]->name, x)) return NULL;
    pg_params p = {0};
    p.axis.axis = axis < 0 ? axis + x->ndim : axis;
    p.axis.given = axis;
    return pg__apply_float1(op, x, &p); /* a bool x is taken as float32, as by the other float ops */
}

pg_tensor *pg_softmax(pg_tensor *x, int axis) { return pg__softmax(PG_OP_SOFTMAX, x, axis); }
pg_tensor *pg_log_softmax(pg_tensor *x, int axis) { return pg__softmax(PG_OP_LOG_SOFTMAX, x, axis); }

/* ---- differentiable rules (create_graph) ---- */

static pg_status softmax_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    unsigned axis = 1u << n->p.axis.axis;
    TRY(y, pg__out_diff(n));
    pg_tensor *r;
    if (n->op == PG_OP_SOFTMAX) { /* y (g - sum(g y)) */
        TRY(gy, pg_mul(g, y));
        TRY(s, pg_sum(gy, axis, 1));
        TRY(t, pg_sub(g, s));
        r = pg_mul(y, t);
    } else { /* g - e^y sum(g) */
        TRY(s, pg_sum(g, axis, 1));
        TRY(e, pg_exp(y));
        TRY(t, pg_mul(e, s));
        r = pg_sub(g, t);
    }
    if (!r) goto fail;
    dx[0] = r;
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

PG_OPDEF(softmax, softmax_infer, softmax_forward, softmax_backward, softmax_rule);
PG_OPDEF(log_softmax, softmax_infer, softmax_forward, softmax_backward, softmax_rule);
