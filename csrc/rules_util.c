/* rules_util.c: helpers of the differentiable backward rules (see
 * rules_util.h): constants, saved values, the recorded sum-to and expand. */
#include "rules_util.h"

#include <string.h>

pg_tensor *pg__r_sum(pg_tensor *x, unsigned axes) {
    pg_params p = {0};
    p.reduce.axes = axes;
    p.reduce.keepdims = true;
    return pg__apply_float1(PG_OP_SUM, x, &p);
}

pg_tensor *pg__r_reshape(pg_tensor *x, int ndim, const int64_t *shape) {
    pg_params p = {0};
    p.shape.ndim = ndim; /* as pg_reshape */
    if (ndim) memcpy(p.shape.dims, shape, sizeof(int64_t) * (size_t)ndim);
    return pg__apply(PG_OP_RESHAPE, &x, 1, &p);
}

pg_tensor *pg__const(const pg_meta *m, double v) { return pg_tensor_full(m->dtype, m->ndim, m->shape, v); }

pg_tensor *pg__scalar(pg_dtype dt, double v) { return pg_tensor_full(dt, 0, NULL, v); }

pg_tensor *pg__saved_input(const pg_node *n, int i) {
    for (int k = 0; k < PG_MAX_SAVED; k++)
        if (n->saved_from[k] == i) return n->saved[k];
    return NULL;
}

pg_tensor *pg__out_diff(const pg_node *n) {
    for (int k = 0; k < PG_MAX_SAVED; k++) {
        if (n->saved_from[k] != -1) continue;
        pg_tensor *s = n->saved[k], *y = pg__alias(s, s->ndim, s->shape);
        if (!y) return NULL;
        y->grad_fn = (pg_node *)n;
        atomic_fetch_add_explicit(&y->grad_fn->refcount, 1, memory_order_relaxed);
        y->requires_grad = true;
        return y;
    }
    pg__fail(PG_ERR_RUNTIME, "%s: the output was not saved", pg_optable[n->op]->name);
    return NULL;
}

pg_tensor *pg__local(const pg_node *n) {
    pg_tensor *ones = pg__const(&n->out_meta, 1.0), *d[1] = {NULL};
    if (!ones) return NULL;
    pg_status st = pg_optable[n->op]->backward(d, ones, n);
    pg_tensor_release(ones);
    return st == PG_OK ? d[0] : NULL;
}

pg_tensor *pg__sum_to_rec(pg_tensor *g, const pg_meta *target) {
    if (g->ndim == target->ndim && !memcmp(g->shape, target->shape, sizeof(int64_t) * (size_t)g->ndim))
        return PG_NEW_REF(g);
    int lead = g->ndim - target->ndim;
    unsigned axes = 0;
    for (int d = 0; d < g->ndim; d++)
        if (d < lead || (target->shape[d - lead] == 1 && g->shape[d] != 1)) axes |= 1u << d;
    pg_tensor *s = pg__r_sum(g, axes);
    if (!s) return NULL;
    pg_tensor *r = pg__r_reshape(s, target->ndim, target->shape);
    pg_tensor_release(s);
    return r;
}

pg_tensor *pg__expand_rec(pg_tensor *g, const pg_meta *target) {
    pg_tensor *z = pg__const(target, 0.0);
    if (!z) return NULL;
    pg_tensor *r = pg__apply2(PG_OP_ADD, z, g);
    pg_tensor_release(z);
    return r;
}

void pg__keepdims_meta(pg_meta *k, const pg_meta *x, unsigned axes) {
    *k = *x;
    for (int d = 0; d < x->ndim; d++)
        if (axes & (1u << d)) k->shape[d] = 1;
}
