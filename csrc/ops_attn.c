/* ops_attn.c: scaled dot-product attention (PyTorch's
 * F.scaled_dot_product_attention without dropout), fused:
 *
 *   s[i, j] = scale · q[i]·k[j] + bias[i, j]     (−∞ where causal and j > i)
 *   p[i, :] = softmax(s[i, :]),  o[i] = Σ_j p[i, j] v[j]
 *
 * q (B..., L, E), k (B..., S, E), v (B..., S, Ev) -> o (B..., L, Ev); bias (B..., L, S) or a 0-d zero
 * (no mask; Python turns a bool mask into 0/−∞ and broadcasts a float mask). The forward streams key
 * blocks with an online softmax (running max and sum, rescaled per block): no L×S matrix is made.
 * The backward recomputes, per query row, the logsumexp lse[i] = log Σ_j e^s[i, j] (one pass of q·k;
 * a node keeps only inputs and output, so the logsumexp is recomputed rather than saved) and then,
 * block by block (flash-attention's backward):
 *
 *   p = e^(s − lse),  D[i] = do[i]·o[i],  dv[j] += p[i, j] do[i],  dp = do[i]·v[j],
 *   ds = p (dp − D[i]),  dq[i] += scale ds k[j],  dk[j] += scale ds q[i],  dbias[i, j] = ds.
 *
 * A row whose every key is masked out gives zeros and zero gradients (PyTorch's fused result). The rule
 * (double backward) is the same backward made of matmul, softmax and elementwise ops. Sums run in double. */
#include "rules_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pg_attn {
    int64_t b, l, s, e, ev; /* batch (the leading dims' product), query rows, keys, q/k width, v width */
    bool has_bias, causal;
    double scale;
} pg_attn;

static pg_status pg__attn_plan(pg_attn *a, const pg_meta *q, const pg_meta *k, const pg_meta *v, const pg_meta *bias,
                               const pg_params *p) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF], b3[PG_SHAPE_BUF];
    const char *op = "scaled_dot_product_attention";
    pg__shape_str(q->ndim, q->shape, b1, sizeof b1);
    pg__shape_str(k->ndim, k->shape, b2, sizeof b2);
    pg__shape_str(v->ndim, v->shape, b3, sizeof b3);
    if (q->ndim < 2 || k->ndim != q->ndim || v->ndim != q->ndim)
        return pg__fail(PG_ERR_SHAPE, "%s: query %s, key %s and value %s must have the same number of dims (at least "
                        "2)", op, b1, b2, b3);
    int nd = q->ndim;
    int64_t bt = 1;
    for (int d = 0; d < nd - 2; d++) {
        if (k->shape[d] != q->shape[d] || v->shape[d] != q->shape[d])
            return pg__fail(PG_ERR_SHAPE, "%s: the batch dims of query %s, key %s and value %s differ", op, b1, b2, b3);
        bt = pg__mul_sat(bt, q->shape[d]);
    }
    if (k->shape[nd - 1] != q->shape[nd - 1])
        return pg__fail(PG_ERR_SHAPE, "%s: query %s and key %s must have the same last dim", op, b1, b2);
    if (v->shape[nd - 2] != k->shape[nd - 2])
        return pg__fail(PG_ERR_SHAPE, "%s: key %s and value %s must have as many rows", op, b2, b3);
    *a = (pg_attn){.b = bt, .l = q->shape[nd - 2], .s = k->shape[nd - 2], .e = q->shape[nd - 1],
                   .ev = v->shape[nd - 1], .causal = p->attn.causal, .scale = p->attn.scale};
    if (bias->ndim != 0) {
        bool ok = bias->ndim == nd && bias->shape[nd - 2] == a->l && bias->shape[nd - 1] == a->s;
        for (int d = 0; ok && d < nd - 2; d++) ok = bias->shape[d] == q->shape[d];
        if (!ok) {
            pg__shape_str(bias->ndim, bias->shape, b3, sizeof b3);
            return pg__fail(PG_ERR_SHAPE, "%s: the mask %s must have the shape (batch..., L, S) of query %s and key "
                            "%s", op, b3, b1, b2);
        }
        a->has_bias = true;
    }
    if (!isfinite(a->scale)) return pg__fail(PG_ERR_VALUE, "%s: scale %g is not finite", op, a->scale);
    return PG_OK;
}

static pg_status attn_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const char *op = "scaled_dot_product_attention";
    for (int i = 0; i < 4; i++)
        if (pg__check_float(op, in[i])) return PG_ERR_TYPE;
    for (int i = 1; i < 4; i++)
        if (in[i]->dtype != in[0]->dtype)
            return pg__fail(PG_ERR_TYPE, "%s: dtypes %s and %s differ", op, pg__dtype_name(in[0]->dtype),
                            pg__dtype_name(in[i]->dtype));
    pg_meta m[4];
    for (int i = 0; i < 4; i++) pg__meta_of(&m[i], in[i]);
    pg_attn a;
    if (pg__attn_plan(&a, &m[0], &m[1], &m[2], &m[3], p)) return pg_last_status();
    *out = m[0];
    out->shape[out->ndim - 1] = a.ev;
    return PG_OK;
}

/* ---- kernels: one batch element at a time, T the storage type, sums in double ---- */

enum { PG_ATTN_BR = 16, PG_ATTN_BC = 64 };

typedef struct pg_attn_job {
    const pg_attn *a;
    void *o;                                  /* (B, L, Ev) */
    const void *q, *k, *v, *bias;             /* (B, L, E), (B, S, E), (B, S, Ev), (B, L, S) or NULL */
    const void *g;                            /* backward: the upstream (B, L, Ev) */
    void *dq, *dk, *dv, *dbias;               /* backward: the gradients wanted, else NULL */
    bool f64;
    pg_status st;
} pg_attn_job;

#define PG_ATTN_KERNELS(T, sfx)                                                                                  \
    /* s[i, j] for one row i over keys [j0, j1) into srow; returns the row's max (−∞ if all masked) */        \
    static double pg__attn_scores_##sfx(const pg_attn *a, double *srow, const T *qi, const T *kb, const T *bi, \
                                        int64_t i, int64_t j0, int64_t j1) {                                  \
        double mx = -INFINITY;                                                                                \
        for (int64_t j = j0; j < j1; j++) {                                                                   \
            double s;                                                                                         \
            if (a->causal && j > i) s = -INFINITY;                                                            \
            else {                                                                                            \
                const T *kj = kb + j * a->e;                                                                  \
                double d = 0;                                                                                 \
                for (int64_t c = 0; c < a->e; c++) d += (double)qi[c] * (double)kj[c];                        \
                s = a->scale * d + (bi ? (double)bi[j] : 0.0);                                                \
            }                                                                                                 \
            srow[j - j0] = s;                                                                                 \
            if (s > mx || isnan(s)) mx = isnan(mx) ? mx : s; /* NaN sticks */                                 \
        }                                                                                                     \
        return mx;                                                                                            \
    }                                                                                                         \
    /* o = softmax(s) v for batch element bb, streaming key blocks (online softmax) */                        \
    static void pg__attn_fwd_##sfx(const pg_attn_job *jb, int64_t bb, double *work) {                          \
        const pg_attn *a = jb->a;                                                                             \
        const T *q = (const T *)jb->q + bb * a->l * a->e, *k = (const T *)jb->k + bb * a->s * a->e;           \
        const T *v = (const T *)jb->v + bb * a->s * a->ev;                                                    \
        const T *bias = jb->bias ? (const T *)jb->bias + bb * a->l * a->s : NULL;                             \
        T *o = (T *)jb->o + bb * a->l * a->ev;                                                                \
        double *srow = work, *acc = work + PG_ATTN_BC; /* [BC], [Ev] */                                        \
        for (int64_t i = 0; i < a->l; i++) {                                                                  \
            const T *qi = q + i * a->e, *bi = bias ? bias + i * a->s : NULL;                                  \
            double m = -INFINITY, sum = 0;                                                                    \
            memset(acc, 0, sizeof(double) * (size_t)a->ev);                                                   \
            int64_t jend = a->causal ? (i + 1 < a->s ? i + 1 : a->s) : a->s;                                  \
            for (int64_t j0 = 0; j0 < jend; j0 += PG_ATTN_BC) {                                               \
                int64_t j1 = j0 + PG_ATTN_BC < jend ? j0 + PG_ATTN_BC : jend;                                 \
                double mb = pg__attn_scores_##sfx(a, srow, qi, k, bi, i, j0, j1);                             \
                double mn = (mb > m || isnan(mb)) ? mb : m;                                                   \
                if (mn == -INFINITY) continue; /* nothing taking part yet */                                  \
                double alpha = m == -INFINITY ? 0.0 : exp(m - mn);                                            \
                if (alpha != 1.0) {                                                                           \
                    sum *= alpha;                                                                             \
                    for (int64_t c = 0; c < a->ev; c++) acc[c] *= alpha;                                      \
                }                                                                                             \
                for (int64_t j = j0; j < j1; j++) {                                                           \
                    double pj = exp(srow[j - j0] - mn);                                                       \
                    if (pj == 0.0) continue;                                                                  \
                    sum += pj;                                                                                \
                    const T *vj = v + j * a->ev;                                                              \
                    for (int64_t c = 0; c < a->ev; c++) acc[c] += pj * (double)vj[c];                         \
                }                                                                                             \
                m = mn;                                                                                       \
            }                                                                                                 \
            T *oi = o + i * a->ev;                                                                            \
            /* no key taking part: zeros (PyTorch's fused result); NaN propagates through acc / sum */       \
            for (int64_t c = 0; c < a->ev; c++) oi[c] = (T)(sum == 0 ? 0.0 : acc[c] / sum);                   \
        }                                                                                                     \
    }                                                                                                         \
    /* the gradients for batch element bb: lse recomputed per row, then one pass over the keys */            \
    static void pg__attn_bwd_##sfx(const pg_attn_job *jb, int64_t bb, double *work) {                          \
        const pg_attn *a = jb->a;                                                                             \
        const T *q = (const T *)jb->q + bb * a->l * a->e, *k = (const T *)jb->k + bb * a->s * a->e;           \
        const T *v = (const T *)jb->v + bb * a->s * a->ev, *o = (const T *)jb->o + bb * a->l * a->ev;         \
        const T *g = (const T *)jb->g + bb * a->l * a->ev;                                                    \
        const T *bias = jb->bias ? (const T *)jb->bias + bb * a->l * a->s : NULL;                             \
        T *dbias = jb->dbias ? (T *)jb->dbias + bb * a->l * a->s : NULL;                                      \
        double *srow = work, *dqi = work + PG_ATTN_BC;              /* [BC], [E] */                           \
        double *dk = dqi + a->e, *dv = dk + a->s * a->e;            /* [S, E], [S, Ev] */                     \
        memset(dk, 0, sizeof(double) * (size_t)(a->s * (a->e + a->ev)));                                      \
        for (int64_t i = 0; i < a->l; i++) {                                                                  \
            const T *qi = q + i * a->e, *bi = bias ? bias + i * a->s : NULL, *gi = g + i * a->ev;             \
            int64_t jend = a->causal ? (i + 1 < a->s ? i + 1 : a->s) : a->s;                                  \
            if (dbias) memset(dbias + i * a->s, 0, sizeof(T) * (size_t)a->s);                                 \
            memset(dqi, 0, sizeof(double) * (size_t)a->e);                                                    \
            double m = -INFINITY, sum = 0; /* lse = m + log(sum), streamed as in the forward */               \
            for (int64_t j0 = 0; j0 < jend; j0 += PG_ATTN_BC) {                                               \
                int64_t j1 = j0 + PG_ATTN_BC < jend ? j0 + PG_ATTN_BC : jend;                                 \
                double mb = pg__attn_scores_##sfx(a, srow, qi, k, bi, i, j0, j1);                             \
                double mn = (mb > m || isnan(mb)) ? mb : m;                                                   \
                if (mn == -INFINITY) continue;                                                                \
                sum = (m == -INFINITY ? 0.0 : sum * exp(m - mn));                                             \
                for (int64_t j = j0; j < j1; j++) sum += exp(srow[j - j0] - mn);                              \
                m = mn;                                                                                       \
            }                                                                                                 \
            if (sum == 0) { /* no key taking part: the output is the constant 0, every gradient 0 */         \
                if (jb->dq) memset((T *)jb->dq + (bb * a->l + i) * a->e, 0, sizeof(T) * (size_t)a->e);        \
                continue;                                                                                     \
            }                                                                                                 \
            double lse = m + log(sum), di = 0;                                                                \
            for (int64_t c = 0; c < a->ev; c++) di += (double)gi[c] * (double)o[i * a->ev + c];               \
            for (int64_t j0 = 0; j0 < jend; j0 += PG_ATTN_BC) {                                               \
                int64_t j1 = j0 + PG_ATTN_BC < jend ? j0 + PG_ATTN_BC : jend;                                 \
                pg__attn_scores_##sfx(a, srow, qi, k, bi, i, j0, j1);                                         \
                for (int64_t j = j0; j < j1; j++) {                                                           \
                    double pj = exp(srow[j - j0] - lse); /* p = softmax(s)[i, j] */                           \
                    if (pj == 0.0) continue;                                                                  \
                    const T *vj = v + j * a->ev, *kj = k + j * a->e;                                          \
                    double dp = 0; /* dp = do[i]·v[j] */                                                      \
                    double *dvj = dv + j * a->ev, *dkj = dk + j * a->e;                                       \
                    for (int64_t c = 0; c < a->ev; c++) {                                                     \
                        dp += (double)gi[c] * (double)vj[c];                                                  \
                        dvj[c] += pj * (double)gi[c]; /* o = p v  =>  dv += pᵀ do */                          \
                    }                                                                                         \
                    double ds = pj * (dp - di); /* softmax's backward */                                      \
                    if (dbias) dbias[i * a->s + j] = (T)ds;                                                   \
                    double sd = a->scale * ds; /* s = scale q·k  =>  dq += scale ds k, dk += scale ds q */    \
                    for (int64_t c = 0; c < a->e; c++) {                                                      \
                        dqi[c] += sd * (double)kj[c];                                                         \
                        dkj[c] += sd * (double)qi[c];                                                         \
                    }                                                                                         \
                }                                                                                             \
            }                                                                                                 \
            if (jb->dq) {                                                                                     \
                T *dq = (T *)jb->dq + (bb * a->l + i) * a->e;                                                 \
                for (int64_t c = 0; c < a->e; c++) dq[c] = (T)dqi[c];                                         \
            }                                                                                                 \
        }                                                                                                     \
        if (jb->dk) {                                                                                         \
            T *dko = (T *)jb->dk + bb * a->s * a->e;                                                          \
            for (int64_t c = 0; c < a->s * a->e; c++) dko[c] = (T)dk[c];                                      \
        }                                                                                                     \
        if (jb->dv) {                                                                                         \
            T *dvo = (T *)jb->dv + bb * a->s * a->ev;                                                         \
            for (int64_t c = 0; c < a->s * a->ev; c++) dvo[c] = (T)dv[c];                                     \
        }                                                                                                     \
    }
PG_ATTN_KERNELS(float, f32)
PG_ATTN_KERNELS(double, f64)

static void pg__attn_fwd_range(void *ctx, int64_t lo, int64_t hi) {
    pg_attn_job *jb = ctx;
    double *work = malloc(sizeof(double) * (size_t)(PG_ATTN_BC + jb->a->ev + 1));
    if (!work) {
        jb->st = PG_ERR_MEMORY;
        return;
    }
    for (int64_t bb = lo; bb < hi; bb++) {
        if (jb->f64) pg__attn_fwd_f64(jb, bb, work);
        else pg__attn_fwd_f32(jb, bb, work);
    }
    free(work);
}

static void pg__attn_bwd_range(void *ctx, int64_t lo, int64_t hi) {
    pg_attn_job *jb = ctx;
    const pg_attn *a = jb->a;
    double *work = malloc(sizeof(double) * (size_t)(PG_ATTN_BC + a->e + a->s * (a->e + a->ev) + 1));
    if (!work) {
        jb->st = PG_ERR_MEMORY;
        return;
    }
    for (int64_t bb = lo; bb < hi; bb++) {
        if (jb->f64) pg__attn_bwd_f64(jb, bb, work);
        else pg__attn_bwd_f32(jb, bb, work);
    }
    free(work);
}

/* work units of one batch element, for the thread split */
static int64_t pg__attn_grain(const pg_attn *a) {
    int64_t w = pg__mul_sat(pg__mul_sat(a->l, a->s), a->e + a->ev) + 1;
    return w >= PG_NDITER_GRAIN ? 1 : PG_NDITER_GRAIN / w + 1;
}

static pg_status attn_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg_meta m[4];
    for (int i = 0; i < 4; i++) pg__meta_of(&m[i], in[i]);
    pg_attn a;
    if (pg__attn_plan(&a, &m[0], &m[1], &m[2], &m[3], p)) return pg_last_status();
    if (out->numel == 0) return PG_OK;
    pg_attn_job jb = {.a = &a, .o = out->data, .q = in[0]->data, .k = in[1]->data, .v = in[2]->data,
                      .bias = a.has_bias ? in[3]->data : NULL, .f64 = out->dtype == PG_DTYPE_F64};
    pg__parallel_range(a.b, 1, pg__attn_grain(&a), pg__attn_fwd_range, &jb);
    if (jb.st) return pg__fail(jb.st, "scaled_dot_product_attention: out of memory");
    return PG_OK;
}

static pg_status attn_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_tensor *q = pg__saved_input(n, 0), *k = pg__saved_input(n, 1), *v = pg__saved_input(n, 2);
    pg_tensor *bias = pg__saved_input(n, 3), *o = NULL;
    for (int s = 0; s < PG_MAX_SAVED; s++)
        if (n->saved_from[s] == -1) o = n->saved[s];
    pg_attn a;
    if (pg__attn_plan(&a, &n->edges[0].meta, &n->edges[1].meta, &n->edges[2].meta, &n->edges[3].meta, &n->p))
        return pg_last_status();
    for (int i = 0; i < 4; i++) {
        if (!pg__node_needs(n, i)) continue;
        dx[i] = pg__tensor_new_like(&n->edges[i].meta);
        if (!dx[i]) return PG_ERR_MEMORY;
        memset(dx[i]->data, 0, pg__dtype_size(dx[i]->dtype) * (size_t)dx[i]->numel);
    }
    if (a.b == 0 || a.l == 0 || a.s == 0 || g->numel == 0) return PG_OK;
    if (dx[3] && !a.has_bias) { /* a 0-d bias: the sum of every ds, which is 0 (softmax rows sum to 1) */ }
    pg_attn_job jb = {.a = &a, .o = o->data, .q = q->data, .k = k->data, .v = v->data,
                      .bias = a.has_bias ? bias->data : NULL, .g = g->data, .dq = dx[0] ? dx[0]->data : NULL,
                      .dk = dx[1] ? dx[1]->data : NULL, .dv = dx[2] ? dx[2]->data : NULL,
                      .dbias = a.has_bias && dx[3] ? dx[3]->data : NULL, .f64 = g->dtype == PG_DTYPE_F64};
    pg__parallel_range(a.b, 1, pg__attn_grain(&a), pg__attn_bwd_range, &jb);
    if (jb.st) return pg__fail(jb.st, "scaled_dot_product_attention: out of memory");
    return PG_OK;
}

/* the same backward made of differentiable ops (for create_graph):
 *   s = scale q kᵀ + bias (+ the causal −∞), p = softmax(s), dv = pᵀ g, dp = g vᵀ,
 *   ds = p (dp − Σ_j dp p), dq = scale ds k, dk = scale dsᵀ q, dbias = ds summed to bias's shape */
static pg_status attn_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *q = pg__saved_input(n, 0), *k = pg__saved_input(n, 1), *v = pg__saved_input(n, 2);
    pg_tensor *bias = pg__saved_input(n, 3);
    pg_attn a;
    if (pg__attn_plan(&a, &n->edges[0].meta, &n->edges[1].meta, &n->edges[2].meta, &n->edges[3].meta, &n->p))
        return pg_last_status();
    int nd = q->ndim, perm[PG_MAX_DIMS];
    for (int d = 0; d < nd; d++) perm[d] = d;
    perm[nd - 2] = nd - 1;
    perm[nd - 1] = nd - 2;
    TRY(kt, pg_permute(k, nd, perm));
    TRY(qk, pg_matmul(q, kt));
    TRY(s0, pg_mul_scalar(qk, a.scale));
    pg_tensor *s = s0;
    if (a.has_bias) {
        TRY(sb, pg_add(s0, bias));
        s = sb;
    }
    if (a.causal) {
        pg_meta cm = {.dtype = q->dtype, .ndim = 2, .shape = {a.l, a.s}};
        TRY(cmask, pg__tensor_new_like(&cm));
        for (int64_t i = 0; i < a.l; i++)
            for (int64_t j = 0; j < a.s; j++) {
                double val = j > i ? -INFINITY : 0.0;
                if (q->dtype == PG_DTYPE_F64) ((double *)cmask->data)[i * a.s + j] = val;
                else ((float *)cmask->data)[i * a.s + j] = (float)val;
            }
        TRY(sc, pg_add(s, cmask));
        s = sc;
    }
    /* rows with no key taking part (from the bias, numerically): their s becomes 0 and their p 0 */
    pg_tensor *rowok = NULL;
    if (a.has_bias && a.s > 0) {
        pg_meta rm = n->edges[3].meta;
        rm.shape[nd - 1] = 1;
        rm.dtype = PG_DTYPE_BOOL;
        TRY(ok, pg__tensor_new_like(&rm));
        bool any_masked = false;
        for (int64_t r = 0; r < a.b * a.l; r++) {
            int64_t i = r % a.l, jend = a.causal ? (i + 1 < a.s ? i + 1 : a.s) : a.s;
            bool live = false;
            for (int64_t j = 0; j < jend && !live; j++) {
                double bv = q->dtype == PG_DTYPE_F64 ? ((const double *)bias->data)[r * a.s + j]
                                                      : (double)((const float *)bias->data)[r * a.s + j];
                live = bv != -INFINITY;
            }
            ((bool *)ok->data)[r] = live;
            any_masked |= !live;
        }
        if (any_masked) {
            rowok = ok;
            TRY(zero, pg__scalar(q->dtype, 0.0));
            TRY(sf, pg_where(ok, s, zero));
            s = sf;
        }
    }
    TRY(p0, pg_softmax(s, -1));
    pg_tensor *p = p0;
    if (rowok) {
        TRY(zero2, pg__scalar(q->dtype, 0.0));
        TRY(pz, pg_where(rowok, p0, zero2));
        p = pz;
    }
    if (pg__node_needs(n, 2)) {
        TRY(pt, pg_permute(p, nd, perm));
        dx[2] = pg_matmul(pt, g);
        if (!dx[2]) goto fail;
    }
    if (pg__node_needs(n, 0) || pg__node_needs(n, 1) || pg__node_needs(n, 3)) {
        TRY(vt, pg_permute(v, nd, perm));
        TRY(dp, pg_matmul(g, vt));
        TRY(dpp, pg_mul(dp, p));
        TRY(rs, pg_sum(dpp, 1u << (nd - 1), 1));
        TRY(dd, pg_sub(dp, rs));
        TRY(ds, pg_mul(p, dd));
        if (pg__node_needs(n, 0)) {
            TRY(dqk, pg_matmul(ds, k));
            dx[0] = pg_mul_scalar(dqk, a.scale);
            if (!dx[0]) goto fail;
        }
        if (pg__node_needs(n, 1)) {
            TRY(dst, pg_permute(ds, nd, perm));
            TRY(dkq, pg_matmul(dst, q));
            dx[1] = pg_mul_scalar(dkq, a.scale);
            if (!dx[1]) goto fail;
        }
        if (pg__node_needs(n, 3)) {
            dx[3] = pg__sum_to_rec(ds, &n->edges[3].meta);
            if (!dx[3]) goto fail;
        }
    }
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

pg_tensor *pg_scaled_dot_product_attention(pg_tensor *q, pg_tensor *k, pg_tensor *v, pg_tensor *bias, double scale,
                                           int is_causal) {
    const char *op = "scaled_dot_product_attention";
    if (pg__check_tensor(op, q) || pg__check_tensor(op, k) || pg__check_tensor(op, v) || pg__check_tensor(op, bias))
        return NULL;
    pg_params p = {0};
    p.op = PG_OP_SCALED_DOT_PRODUCT_ATTENTION;
    p.attn.scale = scale;
    p.attn.causal = is_causal != 0;
    pg_tensor *in[4] = {q, k, v, bias};
    return pg__apply(PG_OP_SCALED_DOT_PRODUCT_ATTENTION, in, 4, &p);
}

PG_OPDEF(scaled_dot_product_attention, attn_infer, attn_forward, attn_backward, attn_rule);
