/* ops_custom.c: the op-table row for user-defined ops (gates written in
 * Python), and read-only graph introspection for drawing circuits.
 * A custom op's forward value is computed by the caller; its backward calls
 * the caller's function from inside the sweep, and every gradient it
 * returns is checked here before the sweep uses it. */
#include "rules_util.h"

#include <stdlib.h>
#include <string.h>

static pg_status custom_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)out, (void)in, (void)n_in, (void)p;
    return pg__fail(PG_ERR_VALUE, "custom: user-defined ops are applied through pg_custom");
}

static pg_status custom_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    int small[8], *needs = n->n_in <= 8 ? small : malloc(sizeof(int) * (size_t)n->n_in);
    if (!needs) return pg__fail(PG_ERR_MEMORY, "custom: out of memory");
    for (int i = 0; i < n->n_in; i++) needs[i] = pg__node_needs(n, i);
    pg_status st = PG_OK;
    if (!n->p.custom_backward) {
        st = pg__fail(PG_ERR_RUNTIME, "custom: the op has no backward");
    } else if (n->p.custom_backward(n->p.custom_ctx, (pg_tensor *)g, dx, n->n_in, needs) != 0) {
        st = pg_last_status() != PG_OK ? pg_last_status() : pg__fail(PG_ERR_CALLBACK, "custom: backward failed");
    }
    for (int i = 0; st == PG_OK && i < n->n_in; i++) {
        const pg_meta *m = &n->edges[i].meta;
        pg_tensor *d = dx[i];
        if (!d) continue;
        if (!needs[i]) {
            pg_tensor_release(d);
            dx[i] = NULL;
            continue;
        }
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        if (d->dtype != m->dtype || d->ndim != m->ndim ||
            memcmp(d->shape, m->shape, sizeof(int64_t) * (size_t)m->ndim))
            st = pg__fail(PG_ERR_SHAPE, "custom: the gradient for input %d is %s %s but the input is %s %s", i,
                          pg__dtype_name(d->dtype), pg__shape_str(d->ndim, d->shape, b1, sizeof b1),
                          pg__dtype_name(m->dtype), pg__shape_str(m->ndim, m->shape, b2, sizeof b2));
    }
    if (st != PG_OK)
        for (int i = 0; i < n->n_in; i++) {
            pg_tensor_release(dx[i]);
            dx[i] = NULL;
        }
    if (needs != small) free(needs);
    return st;
}

pg_tensor *pg_custom(pg_tensor **inputs, int n_in, pg_tensor *value, pg_custom_backward_fn backward,
                     pg_custom_release_fn release, void *ctx) {
    pg_tensor *out = NULL;
    pg_status st = PG_OK;
    pg_recorder *rec = pg_tls.recorder; /* pygrad.compile cannot replay a Python backward */
    if (rec) rec->ops->refuse(rec, "a custom op (a user gate or custom_op, whose backward is Python)");
    if (n_in < 0 || (n_in > 0 && !inputs)) st = pg__fail(PG_ERR_VALUE, "custom: bad input list");
    for (int i = 0; st == PG_OK && i < n_in; i++) st = pg__check_tensor("custom", inputs[i]);
    if (st == PG_OK) st = pg__check_float("custom", value);
    if (st == PG_OK && !backward) st = pg__fail(PG_ERR_VALUE, "custom: backward function is NULL");
    if (st == PG_OK) out = pg__alias(value, value->ndim, value->shape);
    if (out && pg__anomaly_check_forward(PG_OP_CUSTOM, out) != PG_OK) {
        pg_tensor_release(out);
        out = NULL;
    }
    bool need = false;
    for (int i = 0; out && i < n_in; i++) need |= inputs[i]->requires_grad;
    if (out && need && pg_grad_enabled()) {
        pg_params p = {0};
        p.op = PG_OP_CUSTOM;
        p.custom_backward = backward;
        p.custom_release = release;
        p.custom_ctx = ctx;
        if (pg__record(out, PG_OP_CUSTOM, inputs, n_in, &p) == PG_OK) return out; /* the node owns ctx now */
        pg_tensor_release(out);
        out = NULL;
    }
    if (release) release(ctx);
    return out;
}

/* ---- differentiable rules (create_graph) ---- */

/* ---- custom: the user's backward, called with grad mode on ---- */

static pg_status custom_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    return pg_optable[PG_OP_CUSTOM]->backward(dx, g, n);
}

PG_OPDEF(custom, custom_infer, NULL, custom_backward, custom_rule);

/* ---- introspection ---- */

pg_node *pg_tensor_node(pg_tensor *t) {
    if (!t || !t->grad_fn) return NULL;
    atomic_fetch_add_explicit(&t->grad_fn->refcount, 1, memory_order_relaxed);
    return t->grad_fn;
}

void pg_node_release(pg_node *n) { pg__node_release(n); }
int pg_node_op(const pg_node *n) { return n ? n->op : -1; }
int pg_node_n_inputs(const pg_node *n) { return n ? n->n_in : 0; }
int pg_node_is_released(const pg_node *n) { return n ? n->released : 1; }

pg_node *pg_node_input_node(pg_node *n, int i) {
    if (!n || i < 0 || i >= n->n_in || !n->edges[i].fn) return NULL;
    atomic_fetch_add_explicit(&n->edges[i].fn->refcount, 1, memory_order_relaxed);
    return n->edges[i].fn;
}

pg_tensor *pg_node_input_leaf(pg_node *n, int i) {
    if (!n || i < 0 || i >= n->n_in || !n->edges[i].leaf) return NULL;
    return PG_NEW_REF(n->edges[i].leaf);
}

/* The output is a weak reference: once its count reached zero it is only
 * waiting on a release list to be freed (a callback run by that release can
 * get here), and must not be handed out again. */
pg_tensor *pg_node_output(pg_node *n) {
    pg_tensor *t = n ? n->out : NULL;
    if (!t) return NULL;
    long c = atomic_load_explicit(&t->refcount, memory_order_relaxed);
    while (c > 0)
        if (atomic_compare_exchange_weak_explicit(&t->refcount, &c, c + 1, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return t;
    return NULL;
}
