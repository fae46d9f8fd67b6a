/* ops_embedding.c: embedding (PyTorch's F.embedding): a gather of whole rows
 * of a table, and its backward, a scatter-add of rows; and embedding_renorm_,
 * its max_norm renorm, an in-place update outside the graph (at the end).
 *
 *   y[i, :] = weight[idx[i], :]                       weight (V, D), idx (...) -> y (..., D)
 *   dweight[v, :] = Σ_{i: idx[i] = v} s_v g[i, :]     s_v = 1, or 1 / count(v) with scale_grad_by_freq
 *
 * (the padding_idx row gets no gradient). The indices travel in the node's
 * offsets (as pg_gather's do), checked in [0, V) by the shape inference. When
 * they are an int64 tensor's own data, a compiled step follows that tensor
 * (program.c) and checks them at every run: the shape inference before the
 * forward, pg__embed_check before the backward (an in-place update of the
 * indices between the two must not make the scatter write outside dweight).
 * The differentiable rule is scatter_add of the upstream times a per-row
 * factor (0 on padding rows, s_v elsewhere), made of ops_shape.c's
 * scatter_add (whose own backward is a gather). Not here: index tensors and
 * arrays of other kinds (Python turns them into int64). */
#include "rules_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static pg_status embedding_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *w = in[0];
    char b[PG_SHAPE_BUF];
    if (pg__check_float("embedding", w)) return PG_ERR_TYPE;
    if (w->ndim != 2)
        return pg__fail(PG_ERR_SHAPE, "embedding: weight must be 2-d (num_embeddings, embedding_dim), got shape %s",
                        pg__shape_str(w->ndim, w->shape, b, sizeof b));
    int nd = p->embed.ndim;
    if (nd < 0 || nd >= PG_MAX_DIMS)
        return pg__fail(PG_ERR_SHAPE, "embedding: indices of %d dims, at most %d allowed", nd, PG_MAX_DIMS - 1);
    int64_t n = 1, v = w->shape[0];
    for (int d = 0; d < nd; d++) {
        if (p->embed.dims[d] < 0) return pg__fail(PG_ERR_SHAPE, "embedding: negative index shape");
        n = pg__mul_sat(n, p->embed.dims[d]);
    }
    if (n != p->n_offsets)
        return pg__fail(PG_ERR_SHAPE, "embedding: %lld indices for an index shape of %lld elements",
                        (long long)p->n_offsets, (long long)n);
    if (n && !p->offsets) return pg__fail(PG_ERR_VALUE, "embedding: NULL indices");
    for (int64_t i = 0; i < n; i++)
        if (p->offsets[i] < 0 || p->offsets[i] >= v)
            return pg__fail(PG_ERR_INDEX, "embedding: index %lld is out of range for a table of %lld rows "
                            "(weight %s)", (long long)p->offsets[i], (long long)v,
                            pg__shape_str(w->ndim, w->shape, b, sizeof b));
    if (p->embed.padding_idx < -1 || p->embed.padding_idx >= v)
        return pg__fail(PG_ERR_INDEX, "embedding: padding_idx %lld is out of range for a table of %lld rows",
                        (long long)p->embed.padding_idx, (long long)v);
    out->dtype = w->dtype;
    out->ndim = nd + 1;
    memcpy(out->shape, p->embed.dims, sizeof(int64_t) * (size_t)nd);
    out->shape[nd] = w->shape[1];
    return PG_OK;
}

typedef struct pg_embed_job {
    char *y;             /* [n, D] */
    const char *w;       /* [V, D] */
    const int64_t *idx;  /* [n] */
    size_t row;          /* bytes per row */
} pg_embed_job;

static void pg__embed_rows(void *ctx, int64_t lo, int64_t hi) {
    const pg_embed_job *j = ctx;
    for (int64_t i = lo; i < hi; i++) memcpy(j->y + (size_t)i * j->row, j->w + (size_t)j->idx[i] * j->row, j->row);
}

static pg_status embedding_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *w = in[0];
    if (out->numel == 0) return PG_OK;
    pg_embed_job j = {.y = out->data, .w = w->data, .idx = p->offsets,
                      .row = pg__dtype_size(w->dtype) * (size_t)w->shape[1]};
    int64_t grain = (int64_t)(PG_NDITER_GRAIN / (w->shape[1] ? w->shape[1] : 1)) + 1;
    pg__parallel_range(p->n_offsets, 1, grain, pg__embed_rows, &j);
    return PG_OK;
}

/* the node's indices in [0, v): a replay reads them again for the backward */
static pg_status pg__embed_check(const pg_node *n, int64_t v) {
    for (int64_t i = 0; i < n->p.n_offsets; i++)
        if (n->p.offsets[i] < 0 || n->p.offsets[i] >= v)
            return pg__fail(PG_ERR_INDEX, "embedding: index %lld is out of range for a table of %lld rows "
                            "(in backward)", (long long)n->p.offsets[i], (long long)v);
    return PG_OK;
}

/* The counts of each row in idx (scale_grad_by_freq), NULL when not asked for or out of memory (*err set) */
static int64_t *pg__embed_counts(const pg_node *n, int64_t v, bool *err) {
    *err = false;
    if (!n->p.embed.freq) return NULL;
    int64_t *c = calloc((size_t)(v > 0 ? v : 1), sizeof(int64_t));
    if (!c) {
        *err = true;
        pg__fail(PG_ERR_MEMORY, "embedding: out of memory for the counts of %lld rows", (long long)v);
        return NULL;
    }
    for (int64_t i = 0; i < n->p.n_offsets; i++) c[n->p.offsets[i]]++;
    return c;
}

/* y[i, :] = weight[idx[i], :]  =>  dweight[idx[i], :] += s g[i, :], in index order (repeats add);
 * s = 1, or 1 / count(idx[i]) computed in T (as PyTorch scales) */
#define PG_EMBED_BWD(T, sfx)                                                                            \
    static void pg__embed_bwd_##sfx(T *dw, const T *g, const int64_t *idx, int64_t n, int64_t d,        \
                                    int64_t pad, const int64_t *cnt) {                                  \
        for (int64_t i = 0; i < n; i++) {                                                                \
            if (idx[i] == pad) continue;                                                                 \
            T *r = dw + idx[i] * d;                                                                      \
            const T *s = g + i * d;                                                                      \
            if (cnt) {                                                                                   \
                T f = (T)1 / (T)cnt[idx[i]];                                                             \
                for (int64_t k = 0; k < d; k++) r[k] += s[k] * f;                                        \
            } else {                                                                                     \
                for (int64_t k = 0; k < d; k++) r[k] += s[k];                                            \
            }                                                                                            \
        }                                                                                                \
    }
PG_EMBED_BWD(float, f32)
PG_EMBED_BWD(double, f64)

static pg_status embedding_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    if (!pg__node_needs(n, 0)) return PG_OK;
    if (pg__embed_check(n, n->edges[0].meta.shape[0])) return PG_ERR_INDEX;
    bool err;
    int64_t *cnt = pg__embed_counts(n, n->edges[0].meta.shape[0], &err);
    if (err) return PG_ERR_MEMORY;
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) {
        free(cnt);
        return PG_ERR_MEMORY;
    }
    dx[0] = d;
    if (d->numel == 0) {
        free(cnt);
        return PG_OK;
    }
    memset(d->data, 0, pg__dtype_size(d->dtype) * (size_t)d->numel);
    int64_t dim = d->shape[1];
    pg_unlocked u = pg__unlock_host(pg__mul_sat(n->p.n_offsets, dim));
    if (d->dtype == PG_DTYPE_F64)
        pg__embed_bwd_f64(d->data, g->data, n->p.offsets, n->p.n_offsets, dim, n->p.embed.padding_idx, cnt);
    else pg__embed_bwd_f32(d->data, g->data, n->p.offsets, n->p.n_offsets, dim, n->p.embed.padding_idx, cnt);
    pg__relock_host(u);
    free(cnt);
    return PG_OK;
}

/* dweight = scatter_add(g · keep, (V, D), idx·D + k), keep = 0 on the rows whose index is padding_idx and
 * s_v (1, or 1 / count(v) with scale_grad_by_freq) elsewhere.
 *
 * With scale_grad_by_freq the scaled gradient is not a derivative, and the exact transpose of the scaled
 * scatter would scale a second time on the way back through the (scaled) forward: the input of the
 * scatter is sg(g·keep) + (g·pad − sg(g·pad)) (sg: detached, pad = keep without the scale), equal to
 * g·keep for finite g, whose derivative in g is the unscaled gather. Double backward is then consistent
 * with finite differences of the first (gradgradcheck), as PyTorch's embedding double backward. */
static pg_status embedding_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    if (!pg__node_needs(n, 0)) return PG_OK;
    pg_keep keep = {0};
    const pg_meta *wm = &n->edges[0].meta;
    int64_t cnt = n->p.n_offsets, dim = wm->shape[1], pad = n->p.embed.padding_idx;
    if (pg__embed_check(n, wm->shape[0])) return PG_ERR_INDEX;
    bool err;
    int64_t *counts = pg__embed_counts(n, wm->shape[0], &err);
    if (err) return PG_ERR_MEMORY;
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(cnt * dim > 0 ? cnt * dim : 1));
    if (!off) {
        free(counts);
        return pg__fail(PG_ERR_MEMORY, "embedding: out of memory for the rule's offsets");
    }
    bool scaled = counts != NULL;
    for (int64_t i = 0; i < cnt; i++) {
        scaled |= n->p.offsets[i] == pad;
        for (int64_t k = 0; k < dim; k++) off[i * dim + k] = n->p.offsets[i] * dim + k;
    }
    pg_tensor *src = g;
    if (scaled) {
        /* mask: keep; pmask: 0 on padding rows, 1 elsewhere */
        TRY(mask, pg__tensor_new(g->dtype, g->ndim, g->shape));
        TRY(pmask, pg__tensor_new(g->dtype, g->ndim, g->shape));
        for (int64_t i = 0; i < cnt; i++) {
            int64_t v = n->p.offsets[i];
            for (int64_t k = 0; k < dim; k++) {
                if (g->dtype == PG_DTYPE_F64) {
                    ((double *)mask->data)[i * dim + k] = v == pad ? 0.0 : counts ? 1.0 / (double)counts[v] : 1.0;
                    ((double *)pmask->data)[i * dim + k] = v == pad ? 0.0 : 1.0;
                } else {
                    ((float *)mask->data)[i * dim + k] = v == pad ? 0.0f : counts ? 1.0f / (float)counts[v] : 1.0f;
                    ((float *)pmask->data)[i * dim + k] = v == pad ? 0.0f : 1.0f;
                }
            }
        }
        TRY(gm, pg__apply2(PG_OP_MUL, g, counts ? pmask : mask));
        src = gm;
        if (counts) {
            TRY(gs, pg__apply2(PG_OP_MUL, g, mask));
            TRY(gs_sg, pg_tensor_detach(gs));
            TRY(gm_sg, pg_tensor_detach(gm));
            TRY(zero, pg__apply2(PG_OP_SUB, gm, gm_sg));
            TRY(st, pg__apply2(PG_OP_ADD, gs_sg, zero));
            src = st;
        }
    }
    pg_tensor *flat = pg__r_reshape(src, 1, (const int64_t[]){cnt * dim});
    if (!flat) goto fail;
    dx[0] = pg_scatter_add(flat, 2, wm->shape, off);
    pg_tensor_release(flat);
    if (!dx[0]) goto fail;
    free(off);
    free(counts);
    pg__keep_free(&keep);
    return PG_OK;
fail:
    free(off);
    free(counts);
    pg__keep_free(&keep);
    return pg__rule_status();
}

pg_tensor *pg_embedding(pg_tensor *weight, int ndim, const int64_t *shape, const int64_t *indices,
                        int64_t padding_idx, int scale_grad_by_freq) {
    if (pg__check_tensor("embedding", weight)) return NULL;
    if (ndim < 0 || ndim >= PG_MAX_DIMS || (ndim && !shape)) {
        pg__fail(PG_ERR_SHAPE, "embedding: indices of %d dims, at most %d allowed", ndim, PG_MAX_DIMS - 1);
        return NULL;
    }
    pg_params p = {0};
    p.op = PG_OP_EMBEDDING;
    p.embed.ndim = ndim;
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        p.embed.dims[d] = shape[d];
        n = pg__mul_sat(n, shape[d] > 0 ? shape[d] : 0);
    }
    p.embed.padding_idx = padding_idx;
    p.embed.freq = scale_grad_by_freq != 0;
    p.offsets = indices;
    p.n_offsets = n;
    return pg__apply(PG_OP_EMBEDDING, &weight, 1, &p);
}

PG_OPDEF(embedding, embedding_infer, embedding_forward, embedding_backward, embedding_rule);

/* ---- embedding_renorm_: PyTorch's max_norm renorm (F.embedding runs it before the lookup) ----
 *
 *   for each distinct v in idx:  n = ||weight[v, :]||_p;  if n > max_norm: weight[v, :] *= max_norm / (n + 1e-7)
 *
 * in place, outside the graph (as PyTorch runs it under no_grad: no node, no gradient through the
 * scale), bumping the weight's version. The numbers follow PyTorch's CPU kernel: the norm is a value
 * of the weight's dtype (row.norm(p)), compared with max_norm and turned into the scale in double
 * (.item<double>()), and the row multiplied by the scale rounded to the weight's dtype (row *= scale).
 * Here the norm is accumulated in double over the row in order and then rounded to the dtype, where
 * PyTorch accumulates float32 rows in float32: the two agree to a few float32 ulps, and the scale to
 * one. p = 2: sqrt(Σ x²); 1: Σ|x|; inf: max |x|; -inf: min |x|; 0: the count of non-zeros; other p:
 * (Σ |x|^p)^(1/p). A NaN in a row makes its norm NaN, which is not > max_norm: the row is left as
 * it is (as PyTorch). Rows are independent, so the threads' split changes no bit. */
#define PG_RENORM_ROWS(T, sfx)                                                                          \
    static double pg__row_norm_##sfx(const T *x, int64_t d, double p) {                                 \
        double a = 0.0;                                                                                 \
        if (p == 2.0) {                                                                                 \
            for (int64_t k = 0; k < d; k++) a += (double)x[k] * (double)x[k];                           \
            return sqrt(a);                                                                             \
        }                                                                                               \
        if (p == 1.0) {                                                                                 \
            for (int64_t k = 0; k < d; k++) a += fabs((double)x[k]);                                    \
            return a;                                                                                   \
        }                                                                                               \
        if (p == 0.0) {                                                                                 \
            for (int64_t k = 0; k < d; k++) a += x[k] != 0;                                             \
            return a;                                                                                   \
        }                                                                                               \
        if (isinf(p)) {                                                                                 \
            a = fabs((double)x[0]);                                                                     \
            for (int64_t k = 1; k < d && a == a; k++) {                                                 \
                double v = fabs((double)x[k]);                                                          \
                if (v != v || (p > 0 ? v > a : v < a)) a = v;                                           \
            }                                                                                           \
            return a;                                                                                   \
        }                                                                                               \
        for (int64_t k = 0; k < d; k++) a += pow(fabs((double)x[k]), p);                                \
        return pow(a, 1.0 / p);                                                                         \
    }                                                                                                   \
    static void pg__renorm_rows_##sfx(T *w, const int64_t *rows, int64_t lo, int64_t hi, int64_t d,     \
                                      double max_norm, double p) {                                      \
        for (int64_t r = lo; r < hi; r++) {                                                             \
            T *x = w + rows[r] * d;                                                                     \
            double n = (double)(T)pg__row_norm_##sfx(x, d, p); /* the norm as a value of the dtype */  \
            if (n > max_norm) {                                                                         \
                T s = (T)(max_norm / (n + 1e-7));                                                       \
                for (int64_t k = 0; k < d; k++) x[k] = x[k] * s;                                        \
            }                                                                                           \
        }                                                                                               \
    }
PG_RENORM_ROWS(float, f32)
PG_RENORM_ROWS(double, f64)

typedef struct pg_renorm_job {
    void *w;              /* [V, D] */
    const int64_t *rows;  /* [n] distinct rows of w */
    int64_t d;
    double max_norm, p;
    bool f64;
} pg_renorm_job;

static void pg__renorm_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_renorm_job *j = ctx;
    if (j->f64) pg__renorm_rows_f64(j->w, j->rows, lo, hi, j->d, j->max_norm, j->p);
    else pg__renorm_rows_f32(j->w, j->rows, lo, hi, j->d, j->max_norm, j->p);
}

pg_status pg_embedding_renorm_(pg_tensor *weight, pg_tensor *indices, double max_norm, double norm_type) {
    static const char op[] = "embedding_renorm_";
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (pg__check_tensor(op, weight) || pg__check_tensor(op, indices)) return PG_ERR_VALUE;
    if (weight->dtype != PG_DTYPE_F32 && weight->dtype != PG_DTYPE_F64)
        return pg__fail(PG_ERR_TYPE, "%s: weight must be a float32 or float64 tensor, got %s", op,
                        pg__dtype_name(weight->dtype));
    if (weight->ndim != 2)
        return pg__fail(PG_ERR_SHAPE, "%s: weight must be 2-d (num_embeddings, embedding_dim), got shape %s", op,
                        pg__shape_str(weight->ndim, weight->shape, b1, sizeof b1));
    if (indices->dtype != PG_DTYPE_I64)
        return pg__fail(PG_ERR_TYPE, "%s: indices must be an int64 tensor, got %s of shape %s", op,
                        pg__dtype_name(indices->dtype), pg__shape_str(indices->ndim, indices->shape, b1, sizeof b1));
    if (!(max_norm >= 0.0))
        return pg__fail(PG_ERR_VALUE, "%s: max_norm must be a non-negative number, got %g", op, max_norm);
    if (norm_type != norm_type) return pg__fail(PG_ERR_VALUE, "%s: norm_type must be a number, got nan", op);
    if (weight->inference && !pg_inference_mode())
        return pg__fail(PG_ERR_RUNTIME, "%s: in-place update to an inference tensor outside inference_mode is not "
                        "allowed; clone() it first", op);
    const int64_t *idx = indices->data, n = indices->numel, v = weight->shape[0], d = weight->shape[1];
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= v)
            return pg__fail(PG_ERR_INDEX, "%s: index %lld (at position %lld of indices %s) is out of range for a "
                            "table of %lld rows (weight %s)", op, (long long)idx[i], (long long)i,
                            pg__shape_str(indices->ndim, indices->shape, b1, sizeof b1), (long long)v,
                            pg__shape_str(weight->ndim, weight->shape, b2, sizeof b2));
    /* the distinct rows, in the order they first occur (a bit per row of the table marks those met) */
    int64_t *rows = NULL, nr = 0;
    uint8_t *seen = NULL;
    if (n && d) {
        rows = malloc(sizeof *rows * (size_t)n);
        seen = calloc((size_t)(v + 7) / 8, 1);
        if (!rows || !seen) {
            free(rows);
            free(seen);
            return pg__fail(PG_ERR_MEMORY, "%s: out of memory for the rows of %lld indices", op, (long long)n);
        }
        for (int64_t i = 0; i < n; i++) {
            uint8_t bit = (uint8_t)(1u << (idx[i] & 7));
            if (seen[idx[i] >> 3] & bit) continue;
            seen[idx[i] >> 3] |= bit;
            rows[nr++] = idx[i];
        }
        free(seen);
    }
    pg_recorder *rec = pg_tls.recorder; /* pygrad.compile: the program runs this again, on the indices then */
    if (rec) rec->ops->renorm(rec, weight, indices, max_norm, norm_type);
    if (nr) {
        pg_renorm_job j = {weight->data, rows, d, max_norm, norm_type, weight->dtype == PG_DTYPE_F64};
        pg__parallel_range(nr, 1, PG_NDITER_GRAIN / d + 1, pg__renorm_range, &j);
    }
    free(rows);
    atomic_fetch_add(&weight->storage->version, 1);
    return PG_OK;
}
