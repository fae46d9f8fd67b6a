/* rules.c: every op's backward as a rule made of differentiable ops.
 *
 * pg_backward_ex(create_graph=1) runs these instead of the numeric backward
 * kernels (ops_*.c), with grad mode on, so the backward computation is itself
 * recorded and gradients can be differentiated again (Hessians). Each rule
 * computes the same formula as its op's numeric kernel; piecewise-constant
 * local derivatives (relu, abs, clamp, max routing) enter as constants, which
 * is exact almost everywhere. The tests check both forms agree.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Temporaries of one rule, released together. */
typedef struct pg_keep {
    pg_tensor *t[32];
    int n;
} pg_keep;

static pg_tensor *pg__keep(pg_keep *k, pg_tensor *x) {
    if (x) k->t[k->n++] = x;
    return x;
}

static void pg__keep_free(pg_keep *k) {
    for (int i = 0; i < k->n; i++) pg_tensor_release(k->t[i]);
    k->n = 0;
}

/* TRY(var, expr): var = expr, kept for release; on NULL jump to `fail`. */
#define TRY(var, expr)                                   \
    pg_tensor *var = pg__keep(&keep, (expr));            \
    if (!var) goto fail

static pg_tensor *pg__const(const pg_meta *m, double v) { return pg_tensor_full(m->dtype, m->ndim, m->shape, v); }

static pg_tensor *pg__scalar(pg_dtype dt, double v) { return pg_tensor_full(dt, 0, NULL, v); }

/* The saved input i (borrowed). */
static pg_tensor *pg__saved_input(const pg_node *n, int i) {
    for (int k = 0; k < PG_MAX_SAVED; k++)
        if (n->saved_from[k] == i) return n->saved[k];
    return NULL;
}

/* The saved output as a differentiable tensor: it shares the saved storage
 * and has n as grad_fn, so the rule's result depends on n's inputs. */
static pg_tensor *pg__out_diff(const pg_node *n) {
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

/* The local derivative of a piecewise-linear unary op as a constant: the
 * numeric backward kernel applied to an upstream gradient of ones. */
static pg_tensor *pg__local(const pg_node *n) {
    pg_tensor *ones = pg__const(&n->out_meta, 1.0), *d[1] = {NULL};
    if (!ones) return NULL;
    pg_status st = pg_optable[n->op]->backward(d, ones, n);
    pg_tensor_release(ones);
    return st == PG_OK ? d[0] : NULL;
}

/* g summed over the dims broadcasting added, reshaped to target (recorded). */
static pg_tensor *pg__sum_to_rec(pg_tensor *g, const pg_meta *target) {
    if (g->ndim == target->ndim && !memcmp(g->shape, target->shape, sizeof(int64_t) * (size_t)g->ndim))
        return PG_NEW_REF(g);
    int lead = g->ndim - target->ndim;
    unsigned axes = 0;
    for (int d = 0; d < g->ndim; d++)
        if (d < lead || (target->shape[d - lead] == 1 && g->shape[d] != 1)) axes |= 1u << d;
    pg_tensor *s = pg_sum(g, axes, 1);
    if (!s) return NULL;
    pg_tensor *r = pg_reshape(s, target->ndim, target->shape);
    pg_tensor_release(s);
    return r;
}

/* g broadcast to target's shape (recorded): zeros(target) + g. */
static pg_tensor *pg__expand_rec(pg_tensor *g, const pg_meta *target) {
    pg_tensor *z = pg__const(target, 0.0);
    if (!z) return NULL;
    pg_tensor *r = pg_add(z, g);
    pg_tensor_release(z);
    return r;
}

/* x's shape with the reduced axes kept as 1 */
static void pg__keepdims_meta(pg_meta *k, const pg_meta *x, unsigned axes) {
    *k = *x;
    for (int d = 0; d < x->ndim; d++)
        if (axes & (1u << d)) k->shape[d] = 1;
}

/* ---- binary ops (broadcasting) ---- */

static pg_status rule_binary(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *a = pg__saved_input(n, 0), *b = pg__saved_input(n, 1);
    for (int i = 0; i < 2; i++) {
        if (!pg__node_needs(n, i)) continue;
        pg_tensor *full = NULL;
        switch (n->op) {
        case PG_OP_ADD: full = g; break;                   /* dz/da = dz/db = 1 */
        case PG_OP_SUB: {                                  /* dz/db = -1 */
            if (i == 0) {
                full = g;
            } else {
                TRY(t, pg_neg(g));
                full = t;
            }
            break;
        }
        case PG_OP_MUL: {                                  /* dz/da = b, dz/db = a */
            TRY(t, pg_mul(g, i == 0 ? b : a));
            full = t;
            break;
        }
        case PG_OP_DIV: {                                  /* dz/da = 1/b, dz/db = -a/b^2 */
            if (i == 0) {
                TRY(t, pg_div(g, b));
                full = t;
            } else {
                TRY(ga, pg_mul(g, a));
                TRY(bb, pg_mul(b, b));
                TRY(q, pg_div(ga, bb));
                TRY(t, pg_neg(q));
                full = t;
            }
            break;
        }
        case PG_OP_POW: {                                  /* dz/da = b a^(b-1), dz/db = a^b log a (0 at a = 0) */
            if (i == 0) {
                TRY(e, pg_add_scalar(b, -1.0));
                TRY(p, pg_pow(a, e));
                TRY(gb, pg_mul(g, b));
                TRY(t, pg_mul(gb, p));
                full = t;
            } else {
                TRY(y, pg_pow(a, b));
                TRY(l, pg_log(a));
                TRY(gy, pg_mul(g, y));
                TRY(t, pg_mul(gy, l));
                TRY(zero_at, pg_compare_scalar(a, 0.0, PG_CMP_EQ));
                TRY(z, pg__scalar(g->dtype, 0.0));
                TRY(w, pg_where(zero_at, z, t));
                full = w;
            }
            break;
        }
        default: {                                         /* maximum/minimum: route with a constant mask */
            TRY(mask, pg__binary_local(n, i));
            TRY(t, pg_mul(g, mask));
            full = t;
        }
        }
        dx[i] = pg__sum_to_rec(full, &n->edges[i].meta);
        if (!dx[i]) goto fail;
    }
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg_last_status() ? pg_last_status() : PG_ERR_MEMORY;
}

/* ---- unary ops ---- */

static pg_status rule_unary(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *x = pg__saved_input(n, 0), *r = NULL;
    const pg_params *p = &n->p;
    switch (n->op) {
    case PG_OP_NEG: r = pg_neg(g); break;
    case PG_OP_ADD_SCALAR: r = PG_NEW_REF(g); break;
    case PG_OP_MUL_SCALAR: r = pg_mul_scalar(g, p->f[0]); break;
    case PG_OP_POW_SCALAR: { /* e x^(e-1) */
        TRY(t, pg_pow_scalar(x, p->f[0] - 1.0));
        TRY(u, pg_mul_scalar(t, p->f[0]));
        r = pg_mul(g, u);
        break;
    }
    case PG_OP_EXP: { /* y */
        TRY(y, pg__out_diff(n));
        r = pg_mul(g, y);
        break;
    }
    case PG_OP_LOG: r = pg_div(g, x); break; /* 1/x */
    case PG_OP_SQRT: { /* 1/(2y) */
        TRY(y, pg__out_diff(n));
        TRY(y2, pg_mul_scalar(y, 2.0));
        r = pg_div(g, y2);
        break;
    }
    case PG_OP_RECIPROCAL: { /* -y^2 */
        TRY(y, pg__out_diff(n));
        TRY(yy, pg_mul(y, y));
        TRY(t, pg_mul(g, yy));
        r = pg_neg(t);
        break;
    }
    case PG_OP_SIGMOID: { /* (1-y) y */
        TRY(y, pg__out_diff(n));
        TRY(ny, pg_neg(y));
        TRY(one_minus, pg_add_scalar(ny, 1.0));
        TRY(loc, pg_mul(y, one_minus));
        r = pg_mul(g, loc);
        break;
    }
    case PG_OP_TANH: { /* 1 - y^2 */
        TRY(y, pg__out_diff(n));
        TRY(yy, pg_mul(y, y));
        TRY(nyy, pg_neg(yy));
        TRY(loc, pg_add_scalar(nyy, 1.0));
        r = pg_mul(g, loc);
        break;
    }
    case PG_OP_ELU: { /* 1 for x > 0, a e^x otherwise */
        TRY(pos, pg_compare_scalar(x, 0.0, PG_CMP_GT));
        TRY(ex, pg_exp(x));
        TRY(aex, pg_mul_scalar(ex, p->f[0]));
        TRY(one, pg__scalar(x->dtype, 1.0));
        TRY(loc, pg_where(pos, one, aex));
        r = pg_mul(g, loc);
        break;
    }
    case PG_OP_CAST: r = pg_cast(g, n->edges[0].meta.dtype); break;
    default: { /* abs, relu, leaky_relu, clamp: piecewise linear */
        TRY(loc, pg__local(n));
        r = pg_mul(g, loc);
    }
    }
    if (!r) goto fail;
    dx[0] = r;
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg_last_status() ? pg_last_status() : PG_ERR_MEMORY;
}

/* ---- where: dx = cond ? g : 0, dy = cond ? 0 : g ---- */

static pg_status rule_where(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *cond = pg__saved_input(n, 0);
    TRY(z, pg__scalar(g->dtype, 0.0));
    for (int i = 1; i < 3; i++) {
        if (!pg__node_needs(n, i)) continue;
        TRY(w, i == 1 ? pg_where(cond, g, z) : pg_where(cond, z, g));
        dx[i] = pg__sum_to_rec(w, &n->edges[i].meta);
        if (!dx[i]) goto fail;
    }
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg_last_status() ? pg_last_status() : PG_ERR_MEMORY;
}

/* ---- matmul: C = A B  =>  dA = dC B^T, dB = A^T dC (batch dims summed back) ---- */

static pg_tensor *pg__swap_last2(pg_tensor *t) {
    int perm[PG_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) perm[d] = d;
    perm[t->ndim - 1] = t->ndim - 2;
    perm[t->ndim - 2] = t->ndim - 1;
    return pg_permute(t, t->ndim, perm);
}

static pg_status rule_matmul(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *a = pg__saved_input(n, 0), *b = pg__saved_input(n, 1);
    pg_meta ma = n->edges[0].meta, mb = n->edges[1].meta, mg = n->out_meta;
    bool a1 = ma.ndim == 1, b1 = mb.ndim == 1;
    /* the 2-d views of numpy's 1-d promotion */
    if (a1) ma = (pg_meta){.dtype = ma.dtype, .ndim = 2, .shape = {1, ma.shape[0]}};
    if (b1) mb = (pg_meta){.dtype = mb.dtype, .ndim = 2, .shape = {mb.shape[0], 1}};
    if (a1) { /* insert the removed m = 1 before the last dim (or as the only one before n) */
        int at = b1 ? mg.ndim : mg.ndim - 1;
        memmove(mg.shape + at + 1, mg.shape + at, sizeof(int64_t) * (size_t)(mg.ndim - at));
        mg.shape[at] = 1;
        mg.ndim++;
    }
    if (b1) mg.shape[mg.ndim++] = 1;
    TRY(A, pg_reshape(a, ma.ndim, ma.shape));
    TRY(B, pg_reshape(b, mb.ndim, mb.shape));
    TRY(G, pg_reshape(g, mg.ndim, mg.shape));
    if (pg__node_needs(n, 0)) {
        TRY(BT, pg__swap_last2(B));
        TRY(dA, pg_matmul(G, BT));
        TRY(dAs, pg__sum_to_rec(dA, &ma));
        dx[0] = pg_reshape(dAs, n->edges[0].meta.ndim, n->edges[0].meta.shape);
        if (!dx[0]) goto fail;
    }
    if (pg__node_needs(n, 1)) {
        TRY(AT, pg__swap_last2(A));
        TRY(dB, pg_matmul(AT, G));
        TRY(dBs, pg__sum_to_rec(dB, &mb));
        dx[1] = pg_reshape(dBs, n->edges[1].meta.ndim, n->edges[1].meta.shape);
        if (!dx[1]) goto fail;
    }
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg_last_status() ? pg_last_status() : PG_ERR_MEMORY;
}

/* ---- reductions ---- */

static pg_status rule_reduce(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    const pg_meta *xm = &n->edges[0].meta;
    pg_meta km;
    pg__keepdims_meta(&km, xm, n->p.axes);
    TRY(gk, pg_reshape(g, km.ndim, km.shape));
    TRY(full, pg__expand_rec(gk, xm));
    pg_tensor *r;
    if (n->op == PG_OP_SUM) {
        r = PG_NEW_REF(full);
    } else if (n->op == PG_OP_MEAN) { /* g / count */
        int64_t cnt = 1;
        for (int d = 0; d < xm->ndim; d++)
            if (n->p.axes & (1u << d)) cnt *= xm->shape[d];
        TRY(c, pg__scalar(g->dtype, (double)cnt));
        r = pg_div(full, c);
    } else { /* max/min: g to the extremes, split among ties (a constant mask) */
        TRY(mask, pg__local(n));
        r = pg_mul(full, mask);
    }
    if (!r) goto fail;
    dx[0] = r;
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg_last_status() ? pg_last_status() : PG_ERR_MEMORY;
}

/* ---- shape ops ---- */

static pg_status rule_shape(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    const pg_meta *m = &n->edges[0].meta;
    switch (n->op) {
    case PG_OP_RESHAPE: dx[0] = pg_reshape(g, m->ndim, m->shape); break;
    case PG_OP_PERMUTE: {
        int inv[PG_MAX_DIMS];
        for (int d = 0; d < m->ndim; d++) inv[n->p.i[d]] = d;
        dx[0] = pg_permute(g, m->ndim, inv);
        break;
    }
    case PG_OP_GETITEM: dx[0] = pg_scatter_add(g, m->ndim, m->shape, n->p.offsets); break;
    default: /* scatter_add */ dx[0] = pg_gather(g, m->ndim, m->shape, n->p.offsets);
    }
    return dx[0] ? PG_OK : pg_last_status();
}

/* concatenate / stack: input k's gradient is its block of g, gathered */
static pg_status rule_cat(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    int axis = (int)n->p.i[0];
    int64_t outer = pg__numel(axis, n->edges[0].meta.shape);
    int64_t total = outer ? g->numel / outer : 0, col = 0;
    for (int k = 0; k < n->n_in; k++) {
        const pg_meta *m = &n->edges[k].meta;
        int64_t w = pg__numel(m->ndim - axis, m->shape + axis);
        if (pg__node_needs(n, k)) {
            int64_t cnt = outer * w;
            int64_t *off = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
            if (!off) return pg__fail(PG_ERR_MEMORY, "%s: out of memory", pg_optable[n->op]->name);
            for (int64_t o = 0; o < outer; o++)
                for (int64_t j = 0; j < w; j++) off[o * w + j] = o * total + col + j;
            dx[k] = pg_gather(g, m->ndim, m->shape, off);
            free(off);
            if (!dx[k]) return pg_last_status();
        }
        col += w;
    }
    return PG_OK;
}

/* ---- softmax / log_softmax ---- */

static pg_status rule_softmax(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    unsigned axis = 1u << n->p.i[0];
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
    return pg_last_status() ? pg_last_status() : PG_ERR_MEMORY;
}

/* ---- prelu: dx = g (x > 0 ? 1 : w_c), dw_c = sum over c's elements of g (x > 0 ? 0 : x) ---- */

static pg_status rule_prelu(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *x = pg__saved_input(n, 0), *w = pg__saved_input(n, 1);
    const pg_meta *wm = &n->edges[1].meta;
    pg_meta wb = {.dtype = wm->dtype, .ndim = x->ndim}; /* w shaped to broadcast against x */
    for (int d = 0; d < x->ndim; d++) wb.shape[d] = (d == 1 && wm->shape[0] != 1) ? wm->shape[0] : 1;
    TRY(wr, pg_reshape(w, wb.ndim, wb.shape));
    TRY(pos, pg_compare_scalar(x, 0.0, PG_CMP_GT));
    if (pg__node_needs(n, 0)) {
        TRY(one, pg__scalar(x->dtype, 1.0));
        TRY(loc, pg_where(pos, one, wr));
        dx[0] = pg_mul(g, loc);
        if (!dx[0]) goto fail;
    }
    if (pg__node_needs(n, 1)) {
        TRY(zero, pg__scalar(x->dtype, 0.0));
        TRY(neg_part, pg_where(pos, zero, x));
        TRY(contrib, pg_mul(g, neg_part));
        TRY(dws, pg__sum_to_rec(contrib, &wb));
        dx[1] = pg_reshape(dws, wm->ndim, wm->shape);
        if (!dx[1]) goto fail;
    }
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg_last_status() ? pg_last_status() : PG_ERR_MEMORY;
}

/* ---- maxout: g to each group's maximum (ties share), as a constant mask ---- */

static pg_status rule_maxout(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    const pg_meta *xm = &n->edges[0].meta;
    pg_meta gm = n->out_meta, grp = n->out_meta; /* g as (..., C, 1), broadcast to (..., C, pieces) */
    gm.shape[gm.ndim++] = 1;
    grp.shape[grp.ndim++] = xm->shape[xm->ndim - 1] / (n->out_meta.ndim ? n->out_meta.shape[n->out_meta.ndim - 1] : 1);
    TRY(g1, pg_reshape(g, gm.ndim, gm.shape));
    TRY(ge, pg__expand_rec(g1, &grp));
    TRY(gx, pg_reshape(ge, xm->ndim, xm->shape));
    TRY(mask, pg__local(n));
    dx[0] = pg_mul(gx, mask);
    if (!dx[0]) goto fail;
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg_last_status() ? pg_last_status() : PG_ERR_MEMORY;
}

/* ---- cross_entropy: dx_i = c_i (softmax(x_i) - onehot(y_i)), c_i = g_i, g or g/N ---- */

static pg_status rule_cross_entropy(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *x = pg__saved_input(n, 0);
    int64_t N = x->shape[0], C = x->shape[1];
    TRY(onehot, pg__const(&n->edges[0].meta, 0.0));
    for (int64_t i = 0; i < N; i++) {
        if (onehot->dtype == PG_DTYPE_F32) ((float *)onehot->data)[i * C + n->p.offsets[i]] = 1.0f;
        else ((double *)onehot->data)[i * C + n->p.offsets[i]] = 1.0;
    }
    TRY(sm, pg_softmax(x, 1));
    TRY(diff, pg_sub(sm, onehot));
    pg_tensor *c;
    if (n->p.i[0] == PG_REDUCTION_NONE) {
        int64_t col[2] = {N, 1};
        TRY(gc, pg_reshape(g, 2, col));
        c = gc;
    } else if (n->p.i[0] == PG_REDUCTION_SUM) {
        c = g;
    } else {
        TRY(cnt, pg__scalar(g->dtype, (double)N));
        TRY(gm, pg_div(g, cnt));
        c = gm;
    }
    dx[0] = pg_mul(diff, c);
    if (!dx[0]) goto fail;
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg_last_status() ? pg_last_status() : PG_ERR_MEMORY;
}

/* ---- custom: the user's backward, called with grad mode on ---- */

static pg_status rule_custom(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    return pg_optable[PG_OP_CUSTOM]->backward(dx, g, n);
}

const pg_rule_fn pg_ruletable[PG_OP_COUNT] = {
    [PG_OP_ADD] = rule_binary, [PG_OP_SUB] = rule_binary, [PG_OP_MUL] = rule_binary, [PG_OP_DIV] = rule_binary,
    [PG_OP_POW] = rule_binary, [PG_OP_MAXIMUM] = rule_binary, [PG_OP_MINIMUM] = rule_binary,
    [PG_OP_NEG] = rule_unary, [PG_OP_ADD_SCALAR] = rule_unary, [PG_OP_MUL_SCALAR] = rule_unary,
    [PG_OP_POW_SCALAR] = rule_unary, [PG_OP_EXP] = rule_unary, [PG_OP_LOG] = rule_unary, [PG_OP_SQRT] = rule_unary,
    [PG_OP_RECIPROCAL] = rule_unary, [PG_OP_ABS] = rule_unary, [PG_OP_CLAMP] = rule_unary,
    [PG_OP_SIGMOID] = rule_unary, [PG_OP_TANH] = rule_unary, [PG_OP_RELU] = rule_unary,
    [PG_OP_LEAKY_RELU] = rule_unary, [PG_OP_ELU] = rule_unary, [PG_OP_CAST] = rule_unary,
    [PG_OP_WHERE] = rule_where, [PG_OP_MATMUL] = rule_matmul,
    [PG_OP_SUM] = rule_reduce, [PG_OP_MEAN] = rule_reduce, [PG_OP_MAX] = rule_reduce, [PG_OP_MIN] = rule_reduce,
    [PG_OP_RESHAPE] = rule_shape, [PG_OP_PERMUTE] = rule_shape, [PG_OP_GETITEM] = rule_shape,
    [PG_OP_SCATTER_ADD] = rule_shape, [PG_OP_CONCATENATE] = rule_cat, [PG_OP_STACK] = rule_cat,
    [PG_OP_SOFTMAX] = rule_softmax, [PG_OP_LOG_SOFTMAX] = rule_softmax, [PG_OP_CUSTOM] = rule_custom,
    [PG_OP_PRELU] = rule_prelu, [PG_OP_MAXOUT] = rule_maxout, [PG_OP_CROSS_ENTROPY] = rule_cross_entropy,
};
