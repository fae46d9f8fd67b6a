/* ops_reduce.c: the ops sum, mean, max and min over any set of axes (with
 * keepdims): rows, shape inference, forward (pg__reduce_into, kern_reduce.c),
 * backward kernels, rule and entry points. */
#include "rules_util.h"

#include <stdlib.h>

#define PG_RED_BWD_ROWS(TT, SUF)                                                                 \
    /* count of elements equal to the extreme they produced */                                   \
    static void tie_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {       \
        TT *cnt = (TT *)ptr[0];                                                                  \
        const TT *x = (const TT *)ptr[1], *m = (const TT *)ptr[2];                               \
        (void)ctx;                                                                               \
        for (int64_t i = 0; i < n; i++)                                                          \
            if (x[i * st[1]] == m[i * st[2]]) cnt[i * st[0]] += 1;                               \
    }                                                                                            \
    /* dx = x == m ? g / count : 0   (ties split the gradient equally) */                        \
    static void argext_bwd_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        TT *dx = (TT *)ptr[0];                                                                   \
        const TT *x = (const TT *)ptr[1], *m = (const TT *)ptr[2], *gc = (const TT *)ptr[3];     \
        (void)ctx;                                                                               \
        for (int64_t i = 0; i < n; i++)                                                          \
            dx[i * st[0]] = x[i * st[1]] == m[i * st[2]] ? gc[i * st[3]] : (TT)0;                \
    }                                                                                            \
    /* dx = g broadcast, times a scale */                                                        \
    static void bcast_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {     \
        TT *dx = (TT *)ptr[0];                                                                   \
        const TT *g = (const TT *)ptr[1];                                                        \
        const double *div = ctx;                                                                 \
        if (div)                                                                                 \
            for (int64_t i = 0; i < n; i++) dx[i * st[0]] = g[i * st[1]] / (TT)*div;             \
        else                                                                                     \
            for (int64_t i = 0; i < n; i++) dx[i * st[0]] = g[i * st[1]];                        \
    }
PG_RED_BWD_ROWS(float, f32)
PG_RED_BWD_ROWS(double, f64)

static const char *pg__reduce_name(int op) { return pg_optable[op]->name; }

static pg_status reduce_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const char *name = pg__reduce_name(p->op);
    const pg_tensor *x = in[0];
    if (p->op == PG_OP_MEAN && pg__check_float(name, x)) return PG_ERR_TYPE;
    if (p->reduce.axes >> x->ndim) {
        char b[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "%s: axis %d is out of range for a tensor of shape %s", name,
                        31 - __builtin_clz(p->reduce.axes), pg__shape_str(x->ndim, x->shape, b, sizeof b));
    }
    pg_meta xm;
    pg__meta_of(&xm, x);
    pg__reduced_meta(out, &xm, p->reduce.axes, p->reduce.keepdims);
    if (p->op == PG_OP_SUM && !pg__is_float(x->dtype)) out->dtype = PG_DTYPE_I64; /* PyTorch's rule */
    /* numpy's rule: an empty reduced axis has no extreme, even when the result is empty too */
    if ((p->op == PG_OP_MAX || p->op == PG_OP_MIN) && pg__reduced_count(&xm, p->reduce.axes) == 0) {
        char b[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_VALUE, "%s: reduction over zero elements of a tensor of shape %s has no identity",
                        name, pg__shape_str(x->ndim, x->shape, b, sizeof b));
    }
    return PG_OK;
}

static pg_status reduce_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    int kind = p->op == PG_OP_MAX ? PG_R_MAX : p->op == PG_OP_MIN ? PG_R_MIN : PG_R_SUM;
    if (!pg__is_float(in[0]->dtype)) return pg__reduce_int_into(out, in[0], p->reduce.axes, kind);
    return pg__reduce_into(out, in[0], p->reduce.axes, kind, p->op == PG_OP_MEAN);
}

/* sum: dx = g broadcast back;  mean: dx = g / count broadcast back */
static pg_status sum_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_meta *xm = &n->edges[0].meta;
    pg_tensor *d = pg__tensor_new_like(xm);
    if (!d) return PG_ERR_MEMORY;
    double cnt = (double)pg__reduced_count(xm, n->p.reduce.axes);
    char *gp = g->data;
    size_t es = pg__dtype_size(g->dtype);
    /* d (full layout) <- g (reduced layout, stride 0 on reduced dims) */
    int64_t st[2][PG_MAX_DIMS];
    pg__strides(xm->ndim, xm->shape, st[0]);
    pg__reduced_strides(xm, n->p.reduce.axes, st[1]);
    char *base[2] = {d->data, gp};
    size_t esz[2] = {es, es};
    pg_nditer it;
    pg__nditer_init(&it, xm->ndim, xm->shape, 2, st);
    pg__nditer_run(&it, base, esz, g->dtype == PG_DTYPE_F64 ? bcast_row_f64 : bcast_row_f32,
                   n->op == PG_OP_MEAN ? &cnt : NULL);
    dx[0] = d;
    return PG_OK;
}

/* max/min: the gradient goes to the elements equal to the result, split
 * equally among ties ("max routes", seed 000) */
static pg_status extreme_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_meta *xm = &n->edges[0].meta;
    const pg_tensor *x = n->saved[0], *m = n->saved[1];
    int f64 = g->dtype == PG_DTYPE_F64;
    size_t es = pg__dtype_size(g->dtype);
    pg_tensor *cnt = pg__tensor_zeros_like(&n->out_meta);
    pg_tensor *d = pg__tensor_new_like(xm);
    if (!cnt || !d) {
        pg_tensor_release(cnt);
        pg_tensor_release(d);
        return pg__fail(PG_ERR_MEMORY, "%s backward: out of memory", pg_optable[n->op]->name);
    }
    char *ops[2] = {x->data, m->data};
    size_t ess[2] = {es, es};
    bool lay[2] = {false, true};
    pg__reduce_run(xm, n->p.reduce.axes, cnt->data, es, 2, ops, ess, lay, f64 ? tie_row_f64 : tie_row_f32, NULL);
    /* cnt <- g / cnt */
    if (f64) {
        double *c = cnt->data;
        const double *gg = g->data;
        for (int64_t i = 0; i < cnt->numel; i++) c[i] = gg[i] / c[i];
    } else {
        float *c = cnt->data;
        const float *gg = g->data;
        for (int64_t i = 0; i < cnt->numel; i++) c[i] = gg[i] / c[i];
    }
    int64_t st[4][PG_MAX_DIMS];
    pg__strides(xm->ndim, xm->shape, st[0]);
    pg__strides(xm->ndim, xm->shape, st[1]);
    pg__reduced_strides(xm, n->p.reduce.axes, st[2]);
    pg__reduced_strides(xm, n->p.reduce.axes, st[3]);
    char *base[4] = {d->data, x->data, m->data, cnt->data};
    size_t esz[4] = {es, es, es, es};
    pg_nditer it;
    pg__nditer_init(&it, xm->ndim, xm->shape, 4, st);
    pg__nditer_run(&it, base, esz, f64 ? argext_bwd_row_f64 : argext_bwd_row_f32, NULL);
    pg_tensor_release(cnt);
    dx[0] = d;
    return PG_OK;
}

static pg_tensor *pg__reduce(int op, pg_tensor *x, unsigned axes, int keepdims) {
    if (pg__check_tensor(pg__reduce_name(op), x)) return NULL;
    pg_params p = {0};
    if (axes == PG_AXES_ALL) axes = x->ndim ? (unsigned)((1u << x->ndim) - 1) : 0u;
    p.reduce.axes = axes;
    p.reduce.keepdims = keepdims != 0;
    if (op == PG_OP_MEAN) return pg__apply_float1(op, x, &p); /* the mean of integers is float32 */
    return pg__apply(op, &x, 1, &p);
}

pg_tensor *pg_sum(pg_tensor *x, unsigned axes, int keepdims) { return pg__reduce(PG_OP_SUM, x, axes, keepdims); }
pg_tensor *pg_mean(pg_tensor *x, unsigned axes, int keepdims) { return pg__reduce(PG_OP_MEAN, x, axes, keepdims); }
pg_tensor *pg_max(pg_tensor *x, unsigned axes, int keepdims) { return pg__reduce(PG_OP_MAX, x, axes, keepdims); }
pg_tensor *pg_min(pg_tensor *x, unsigned axes, int keepdims) { return pg__reduce(PG_OP_MIN, x, axes, keepdims); }

/* ---- differentiable rules (create_graph) ---- */

/* sum: g broadcast back; mean: divided by the count; max/min: to the extremes */
static pg_status reduce_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    const pg_meta *xm = &n->edges[0].meta;
    pg_meta km;
    pg__keepdims_meta(&km, xm, n->p.reduce.axes);
    TRY(gk, pg_reshape(g, km.ndim, km.shape));
    TRY(full, pg__expand_rec(gk, xm));
    pg_tensor *r;
    if (n->op == PG_OP_SUM) {
        r = PG_NEW_REF(full);
    } else if (n->op == PG_OP_MEAN) { /* g / count */
        int64_t cnt = 1;
        for (int d = 0; d < xm->ndim; d++)
            if (n->p.reduce.axes & (1u << d)) cnt *= xm->shape[d];
        TRY(c, pg__scalar(g->dtype, (double)cnt));
        r = pg__apply2(PG_OP_DIV, full, c);
    } else { /* max/min: g to the extremes, split among ties (a constant mask) */
        TRY(mask, pg__local(n));
        r = pg__apply2(PG_OP_MUL, full, mask);
    }
    if (!r) goto fail;
    dx[0] = r;
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

PG_OPDEF(sum, reduce_infer, reduce_forward, sum_backward, reduce_rule);
PG_OPDEF(mean, reduce_infer, reduce_forward, sum_backward, reduce_rule);
PG_OPDEF(max, reduce_infer, reduce_forward, extreme_backward, reduce_rule);
PG_OPDEF(min, reduce_infer, reduce_forward, extreme_backward, reduce_rule);
