/* ops_nn.c: op-table rows for the neural-network ops that are more than a
 * composition of others: prelu (a leaky ReLU whose slopes are learned),
 * maxout (the max over groups of units), cross_entropy (softmax and the
 * negative log-likelihood of integer labels, fused and computed stably) and
 * nll_loss (the negative log-likelihood of log-probabilities, with class
 * weights, an ignored label and label smoothing), one_hot (integer labels
 * as rows of 0s and 1s), binary_cross_entropy (of probabilities, fused,
 * checked to lie in [0, 1]) and huber_loss (also smooth_l1_loss, fused with
 * its reduction).
 * Optimizer updates are not ops (they are never recorded): optim.c. */
#include "rules_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a loss's reduction: PG_ERR_VALUE naming the op unless none, mean or sum */
static pg_status pg__check_reduction(const char *op, pg_reduction red) {
    if (red != PG_REDUCTION_NONE && red != PG_REDUCTION_MEAN && red != PG_REDUCTION_SUM)
        return pg__fail(PG_ERR_VALUE, "%s: unknown reduction %d", op, (int)red);
    return PG_OK;
}

/* ======================================================================
 * prelu(x, w): y = x if x > 0 else w_c x  (seed 004, "Parametric ReLU")
 * x is viewed as [outer, C, inner] with C = x.shape[1]; a shared slope
 * (w of shape (1,)) views x as [1, 1, numel].
 * ====================================================================== */

static void pg__prelu_dims(const pg_meta *x, int64_t wn, int64_t *outer, int64_t *ch, int64_t *inner) {
    if (wn == 1) {
        *outer = 1;
        *ch = 1;
        *inner = pg__numel(x->ndim, x->shape);
    } else {
        *outer = x->shape[0];
        *ch = x->shape[1];
        *inner = pg__numel(x->ndim - 2, x->shape + 2);
    }
}

#define PG_PRELU_KERNELS(TT, SUF)                                                                      \
    /* y = x > 0 ? x : w_c x;  y, x: [outer, ch, inner], w: [ch] */                                    \
    static void prelu_fwd_##SUF(TT *y, const TT *x, const TT *w, int64_t outer, int64_t ch,            \
                                int64_t inner) {                                                       \
        for (int64_t o = 0; o < outer; o++)                                                            \
            for (int64_t c = 0; c < ch; c++) {                                                         \
                const TT a = w[c];                                                                     \
                const int64_t b = (o * ch + c) * inner;                                                \
                for (int64_t i = 0; i < inner; i++) y[b + i] = x[b + i] > 0 ? x[b + i] : a * x[b + i]; \
            }                                                                                          \
    }                                                                                                  \
    /* dx = x > 0 ? g : w_c g  (slope w_c at the kink x = 0, as leaky_relu);                          \
     * dw_c = sum over channel c of (x > 0 ? 0 : g x).  dx, g, x: [outer, ch, inner], dw, w: [ch];   \
     * dx or dw may be NULL (not needed). */                                                          \
    static void prelu_bwd_##SUF(TT *dx, TT *dw, const TT *g, const TT *x, const TT *w, int64_t outer,  \
                                int64_t ch, int64_t inner) {                                           \
        for (int64_t c = 0; c < ch; c++) {                                                             \
            const TT a = w[c];                                                                         \
            double acc = 0;                                                                            \
            for (int64_t o = 0; o < outer; o++) {                                                      \
                const int64_t b = (o * ch + c) * inner;                                                \
                for (int64_t i = 0; i < inner; i++) {                                                  \
                    const int64_t q = b + i;                                                           \
                    if (x[q] > 0) {                                                                    \
                        if (dx) dx[q] = g[q];                                                          \
                    } else {                                                                           \
                        if (dx) dx[q] = a * g[q];                                                      \
                        acc += (double)(g[q] * x[q]);                                                  \
                    }                                                                                  \
                }                                                                                      \
            }                                                                                          \
            if (dw) dw[c] = (TT)acc;                                                                   \
        }                                                                                              \
    }
PG_PRELU_KERNELS(float, f32)
PG_PRELU_KERNELS(double, f64)

static pg_status prelu_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in, (void)p;
    const pg_tensor *x = in[0], *w = in[1];
    if (pg__check_float("prelu", x) || pg__check_float("prelu", w)) return PG_ERR_TYPE;
    if (x->dtype != w->dtype)
        return pg__fail(PG_ERR_TYPE, "prelu: input is %s but weight is %s (promote first)", pg__dtype_name(x->dtype),
                        pg__dtype_name(w->dtype));
    bool shared = w->ndim == 1 && w->shape[0] == 1;
    bool per_channel = w->ndim == 1 && x->ndim >= 2 && w->shape[0] == x->shape[1];
    if (!shared && !per_channel) {
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE,
                        "prelu: weight of shape %s does not fit input of shape %s: expected (1,) for one shared "
                        "slope, or (C,) with C = input.shape[1] for one slope per channel",
                        pg__shape_str(w->ndim, w->shape, b1, sizeof b1),
                        pg__shape_str(x->ndim, x->shape, b2, sizeof b2));
    }
    pg__meta_of(out, x);
    return PG_OK;
}

static pg_status prelu_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in, (void)p;
    pg_meta m;
    pg__meta_of(&m, in[0]);
    int64_t outer, ch, inner;
    pg__prelu_dims(&m, in[1]->numel, &outer, &ch, &inner);
    if (out->dtype == PG_DTYPE_F32) prelu_fwd_f32(out->data, in[0]->data, in[1]->data, outer, ch, inner);
    else prelu_fwd_f64(out->data, in[0]->data, in[1]->data, outer, ch, inner);
    return PG_OK;
}

static pg_status prelu_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_tensor *x = n->saved[0], *w = n->saved[1];
    pg_meta m = n->edges[0].meta;
    int64_t outer, ch, inner;
    pg__prelu_dims(&m, w->numel, &outer, &ch, &inner);
    pg_tensor *d0 = NULL, *d1 = NULL;
    if (pg__node_needs(n, 0) && !(d0 = pg__tensor_new_like(&n->edges[0].meta))) return PG_ERR_MEMORY;
    if (pg__node_needs(n, 1) && !(d1 = pg__tensor_new_like(&n->edges[1].meta))) {
        pg_tensor_release(d0);
        return PG_ERR_MEMORY;
    }
    if (g->dtype == PG_DTYPE_F32)
        prelu_bwd_f32(d0 ? d0->data : NULL, d1 ? d1->data : NULL, g->data, x->data, w->data, outer, ch, inner);
    else
        prelu_bwd_f64(d0 ? d0->data : NULL, d1 ? d1->data : NULL, g->data, x->data, w->data, outer, ch, inner);
    dx[0] = d0;
    dx[1] = d1;
    return PG_OK;
}

pg_tensor *pg_prelu(pg_tensor *x, pg_tensor *weight) {
    if (pg__check_tensor("prelu", x) || pg__check_float("prelu", weight)) return NULL;
    /* numpy promotion: a bool input computes in float32, float32 meets float64 in float64 */
    pg_dtype target = (x->dtype == PG_DTYPE_F64 || weight->dtype == PG_DTYPE_F64) ? PG_DTYPE_F64 : PG_DTYPE_F32;
    pg_tensor *a = x->dtype == target ? PG_NEW_REF(x) : pg_cast(x, target);
    if (!a) return NULL;
    pg_tensor *w = weight->dtype == target ? PG_NEW_REF(weight) : pg_cast(weight, target);
    pg_tensor *out = NULL;
    if (w) {
        pg_params p = {0};
        pg_tensor *in[2] = {a, w};
        out = pg__apply(PG_OP_PRELU, in, 2, &p);
    }
    pg_tensor_release(a);
    pg_tensor_release(w);
    return out;
}

/* ======================================================================
 * maxout(x, pieces): y[r, c] = max_k x[r, c*pieces + k]  (seed 004, "Maxout")
 * x is viewed as [rows, C*pieces]; the output as [rows, C].
 * "max routes": the gradient goes to the maximum of each group; k tied
 * maxima each get g/k (as the max reduction).
 * ====================================================================== */

#define PG_MAXOUT_KERNELS(TT, SUF)                                                                 \
    /* y = max over each group of `pieces` consecutive elements (a NaN in the group wins);         \
     * y: [groups], x: [groups, pieces] */                                                         \
    static void maxout_fwd_##SUF(TT *y, const TT *x, int64_t groups, int64_t pieces) {             \
        for (int64_t r = 0; r < groups; r++) {                                                     \
            const TT *xs = x + r * pieces;                                                         \
            TT m = xs[0];                                                                          \
            for (int64_t k = 1; k < pieces; k++)                                                   \
                if (xs[k] > m || isnan(xs[k])) m = xs[k];                                          \
            y[r] = m;                                                                              \
        }                                                                                          \
    }                                                                                              \
    /* dx[r*pieces + k] = x == y[r] ? g[r] / (number of k with x == y[r]) : 0;                     \
     * dx, x: [groups, pieces], g, y: [groups] */                                                  \
    static void maxout_bwd_##SUF(TT *dx, const TT *g, const TT *x, const TT *y, int64_t groups,    \
                                 int64_t pieces) {                                                 \
        for (int64_t r = 0; r < groups; r++) {                                                     \
            const TT *xs = x + r * pieces;                                                         \
            TT *ds = dx + r * pieces;                                                              \
            int64_t ties = 0;                                                                      \
            for (int64_t k = 0; k < pieces; k++) ties += xs[k] == y[r];                            \
            const TT share = ties ? g[r] / (TT)ties : (TT)0;                                       \
            for (int64_t k = 0; k < pieces; k++) ds[k] = xs[k] == y[r] ? share : (TT)0;            \
        }                                                                                          \
    }
PG_MAXOUT_KERNELS(float, f32)
PG_MAXOUT_KERNELS(double, f64)

static pg_status maxout_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    int64_t pieces = p->pieces;
    char b[PG_SHAPE_BUF];
    if (pg__check_float("maxout", x)) return PG_ERR_TYPE;
    if (pieces < 1) return pg__fail(PG_ERR_VALUE, "maxout: pieces must be at least 1, got %lld", (long long)pieces);
    if (x->ndim < 1)
        return pg__fail(PG_ERR_SHAPE, "maxout: the input needs at least one dim, got shape %s",
                        pg__shape_str(x->ndim, x->shape, b, sizeof b));
    if (x->shape[x->ndim - 1] % pieces != 0)
        return pg__fail(PG_ERR_SHAPE, "maxout: the last dim of shape %s is not divisible by pieces = %lld",
                        pg__shape_str(x->ndim, x->shape, b, sizeof b), (long long)pieces);
    pg__meta_of(out, x);
    out->shape[x->ndim - 1] /= pieces;
    return PG_OK;
}

static pg_status maxout_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    if (out->dtype == PG_DTYPE_F32) maxout_fwd_f32(out->data, in[0]->data, out->numel, p->pieces);
    else maxout_fwd_f64(out->data, in[0]->data, out->numel, p->pieces);
    return PG_OK;
}

static pg_status maxout_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_tensor *x = n->saved[0], *y = n->saved[1];
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return PG_ERR_MEMORY;
    if (g->dtype == PG_DTYPE_F32) maxout_bwd_f32(d->data, g->data, x->data, y->data, g->numel, n->p.pieces);
    else maxout_bwd_f64(d->data, g->data, x->data, y->data, g->numel, n->p.pieces);
    dx[0] = d;
    return PG_OK;
}

pg_tensor *pg_maxout(pg_tensor *x, int64_t pieces) {
    pg_params p = {0};
    p.pieces = pieces;
    return pg__apply_float1(PG_OP_MAXOUT, x, &p);
}

/* ======================================================================
 * cross_entropy(logits, labels): softmax cross-entropy of integer labels
 *   loss_i = -log softmax(x_i)[y_i] = log sum_j e^(x_ij - m_i) - (x_iy - m_i),
 *   m_i = max_j x_ij, so no exponential overflows; reduced by mean, sum or none.
 * The labels are an int64 array parameter (p.offsets), copied into the node
 * (a compiled step reads them from their int64 tensor at each run). With
 * p.loss.ignore, rows labelled p.loss.ignore_index count for nothing: loss 0,
 * gradient 0, and the mean is over the other rows (NaN when there are none).
 * ====================================================================== */

/* Rows [lo, hi) of a cross-entropy forward (loss per row) or backward. */
typedef struct pg_ce_job {
    void *out;          /* forward: [N] losses (dtype of x, or double for a reduction); backward: dx [N, C] */
    const void *x;      /* [N, C] logits */
    const void *g;      /* backward: [N] (none) or [1] upstream gradient */
    const int64_t *y;   /* [N] labels in [0, C), or ig */
    int64_t N, C;
    int reduction;
    bool ignore;        /* rows labelled ig are ignored */
    int64_t ig;
    double kept;        /* the mean's denominator: the rows not ignored */
} pg_ce_job;

#define PG_CE_IGNORED(j, i) ((j)->ignore && (j)->y[i] == (j)->ig)
#define PG_CE_SHORT 64 /* rows of fewer classes run several at once (pg__rows_expsum) */

#define PG_CE_KERNELS(TT, SUF)                                                                      \
    /* m = max of the row (a NaN wins; an infinite max is replaced by 0 so the                       \
     * arithmetic, not a special case, gives inf or nan); s = Σ_j e^(x_j - m) in double;            \
     * e[j] = e^(x_j - m) when e is not NULL (vector max and exp: kern_reduce.c)                    \
     */                                                                                             \
    static TT ce_row_##SUF(const TT *x, int64_t C, double *s_out, TT *e) {                          \
        TT m = pg__max_contig_##SUF(x + 1, C - 1, x[0]);                                            \
        if (isinf(m)) m = 0;                                                                        \
        *s_out = pg__expsum_##SUF(x, C, m, e);                                                      \
        return m;                                                                                   \
    }                                                                                               \
    /* loss_i = log s_i - (x_iy - m_i) for rows [lo, hi): into out[i] as TT (none) or                \
     * as double (a reduction, summed afterwards in row order) */                                   \
    static void ce_fwd_rows_##SUF(void *ctx, int64_t lo, int64_t hi) {                              \
        const pg_ce_job *j = ctx;                                                                   \
        const TT *x = j->x;                                                                         \
        if (j->C < PG_CE_SHORT) { /* short rows, several at once: one vector exp over them all */   \
            TT m[PG_ROWS_EXPSUM_MAX], e[PG_ROWS_EXPSUM_MAX];                                        \
            double s[PG_ROWS_EXPSUM_MAX];                                                           \
            const int64_t C = j->C, R = PG_ROWS_EXPSUM_MAX / C;                                     \
            for (int64_t i0 = lo; i0 < hi; i0 += R) {                                               \
                const int64_t rows = hi - i0 < R ? hi - i0 : R;                                     \
                pg__rows_expsum_##SUF(x + i0 * C, rows, C, true, m, s, e);                          \
                for (int64_t r = 0; r < rows; r++) {                                                \
                    const int64_t i = i0 + r;                                                       \
                    const TT loss = PG_CE_IGNORED(j, i) ? (TT)0                                     \
                                    : (TT)log(s[r]) - (x[i * C + j->y[i]] - m[r]);                  \
                    if (j->reduction == PG_REDUCTION_NONE) ((TT *)j->out)[i] = loss;                \
                    else ((double *)j->out)[i] = (double)loss;                                      \
                }                                                                                   \
            }                                                                                       \
            return;                                                                                 \
        }                                                                                           \
        for (int64_t i = lo; i < hi; i++) {                                                         \
            double s;                                                                               \
            TT loss = 0;                                                                            \
            const TT *row = x + i * j->C;                                                           \
            if (!PG_CE_IGNORED(j, i)) {                                                             \
                TT m = ce_row_##SUF(row, j->C, &s, NULL);                                           \
                loss = (TT)log(s) - (row[j->y[i]] - m);                                             \
            }                                                                                       \
            if (j->reduction == PG_REDUCTION_NONE) ((TT *)j->out)[i] = loss;                        \
            else ((double *)j->out)[i] = (double)loss;                                              \
        }                                                                                           \
    }                                                                                               \
    /* row i of dx from drow = e^(x_i - m_i) and s = Σ of it (not an ignored row) */                \
    static void ce_scale_row_##SUF(const pg_ce_job *j, int64_t i, TT *drow, double s) {             \
        const TT *g = j->g;                                                                         \
        const int64_t C = j->C;                                                                     \
        if (PG_CE_IGNORED(j, i)) {                                                                  \
            for (int64_t k = 0; k < C; k++) drow[k] = 0;                                            \
            return;                                                                                 \
        }                                                                                           \
        TT c = j->reduction == PG_REDUCTION_NONE ? g[i]                                             \
               : j->reduction == PG_REDUCTION_SUM ? g[0]                                            \
                                                  : g[0] / (TT)j->kept;                             \
        const TT st = (TT)s, ey = drow[j->y[i]];                                                    \
        PG_IVDEP for (int64_t k = 0; k < C; k++) drow[k] = c * (drow[k] / st);                      \
        drow[j->y[i]] = c * (ey / st - (TT)1);                                                      \
    }                                                                                               \
    /* dx_ij = c_i (softmax(x_i)_j - [j == y_i]),                                                   \
     * c_i = g_i (none), g (sum), g / kept (mean), 0 on ignored rows;                               \
     * dx, x: [N, C], g: [N] or [1], y: [N].                                                        \
     * Each e^(x_ij - m_i) is computed once, into dx, then scaled in place. */                      \
    static void ce_bwd_rows_##SUF(void *ctx, int64_t lo, int64_t hi) {                              \
        const pg_ce_job *j = ctx;                                                                   \
        const TT *x = j->x;                                                                         \
        const int64_t C = j->C;                                                                     \
        if (C < PG_CE_SHORT) { /* short rows: e^(x - m) of several at once, into dx */              \
            TT m[PG_ROWS_EXPSUM_MAX];                                                               \
            double s[PG_ROWS_EXPSUM_MAX];                                                           \
            const int64_t R = PG_ROWS_EXPSUM_MAX / C;                                               \
            for (int64_t i0 = lo; i0 < hi; i0 += R) {                                               \
                const int64_t rows = hi - i0 < R ? hi - i0 : R;                                     \
                pg__rows_expsum_##SUF(x + i0 * C, rows, C, true, m, s, (TT *)j->out + i0 * C);      \
                for (int64_t r = 0; r < rows; r++)                                                  \
                    ce_scale_row_##SUF(j, i0 + r, (TT *)j->out + (i0 + r) * C, s[r]);               \
            }                                                                                       \
            return;                                                                                 \
        }                                                                                           \
        for (int64_t i = lo; i < hi; i++) {                                                         \
            double s;                                                                               \
            const TT *row = x + i * C;                                                              \
            TT *drow = (TT *)j->out + i * C;                                                        \
            if (PG_CE_IGNORED(j, i)) {                                                              \
                for (int64_t k = 0; k < C; k++) drow[k] = 0;                                        \
                continue;                                                                           \
            }                                                                                       \
            ce_row_##SUF(row, C, &s, drow);                                                         \
            ce_scale_row_##SUF(j, i, drow, s);                                                      \
        }                                                                                           \
    }
PG_CE_KERNELS(float, f32)
PG_CE_KERNELS(double, f64)

static pg_status ce_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    char b[PG_SHAPE_BUF];
    if (pg__check_float("cross_entropy", x)) return PG_ERR_TYPE;
    pg_reduction red = p->loss.reduction;
    if (pg__check_reduction("cross_entropy", red)) return PG_ERR_VALUE;
    if (x->ndim != 2)
        return pg__fail(PG_ERR_SHAPE, "cross_entropy: logits must be 2-d (N, C), got shape %s",
                        pg__shape_str(x->ndim, x->shape, b, sizeof b));
    int64_t N = x->shape[0], C = x->shape[1];
    if (p->n_offsets != N)
        return pg__fail(PG_ERR_SHAPE, "cross_entropy: logits of shape %s need %lld labels, got %lld",
                        pg__shape_str(x->ndim, x->shape, b, sizeof b), (long long)N, (long long)p->n_offsets);
    if (N == 0 || C == 0)
        return pg__fail(PG_ERR_VALUE, "cross_entropy: %s: logits of shape %s",
                        N == 0 ? "empty batch" : "no classes", pg__shape_str(x->ndim, x->shape, b, sizeof b));
    if (!p->offsets) return pg__fail(PG_ERR_VALUE, "cross_entropy: labels pointer is NULL");
    for (int64_t i = 0; i < N; i++) {
        int64_t y = p->offsets[i];
        if ((y < 0 || y >= C) && !(p->loss.ignore && y == p->loss.ignore_index))
            return pg__fail(PG_ERR_INDEX,
                            "cross_entropy: label %lld at position %lld is out of range for %lld classes "
                            "(logits of shape %s)",
                            (long long)y, (long long)i, (long long)C, pg__shape_str(x->ndim, x->shape, b, sizeof b));
    }
    *out = (pg_meta){.dtype = x->dtype, .ndim = red == PG_REDUCTION_NONE ? 1 : 0};
    out->shape[0] = red == PG_REDUCTION_NONE ? N : 0;
    return PG_OK;
}

/* the rows not ignored (N without ignore_index) */
static double pg__ce_kept(const pg_params *p, int64_t N) {
    if (!p->loss.ignore) return (double)N;
    int64_t k = 0;
    for (int64_t i = 0; i < N; i++) k += p->offsets[i] != p->loss.ignore_index;
    return (double)k;
}

/* Rows run on several threads when there are enough elements; a reduction
 * adds the per-row losses in row order (in double), so the result does not
 * depend on the number of threads. */
static pg_status ce_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    int64_t N = x->shape[0], C = x->shape[1];
    int reduction = (int)p->loss.reduction;
    double *losses = NULL;
    if (reduction != PG_REDUCTION_NONE && !(losses = malloc(sizeof(double) * (size_t)N)))
        return pg__fail(PG_ERR_MEMORY, "cross_entropy: out of memory for %lld row losses", (long long)N);
    pg_ce_job j = {losses ? (void *)losses : out->data, x->data, NULL, p->offsets, N, C, reduction,
                   p->loss.ignore, p->loss.ignore_index, pg__ce_kept(p, N)};
    bool f64 = out->dtype == PG_DTYPE_F64;
    pg__parallel_range(N, 1, (PG_NDITER_GRAIN + C - 1) / C, f64 ? ce_fwd_rows_f64 : ce_fwd_rows_f32, &j);
    if (losses) {
        double total = 0;
        for (int64_t i = 0; i < N; i++) total += losses[i];
        if (reduction == PG_REDUCTION_MEAN) total /= j.kept;
        if (f64) *(double *)out->data = total;
        else *(float *)out->data = (float)total;
        free(losses);
    }
    return PG_OK;
}

static pg_status ce_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_tensor *x = n->saved[0];
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return PG_ERR_MEMORY;
    int64_t N = x->shape[0], C = x->shape[1];
    pg_ce_job j = {d->data, x->data, g->data, n->p.offsets, N, C, (int)n->p.loss.reduction,
                   n->p.loss.ignore, n->p.loss.ignore_index, pg__ce_kept(&n->p, N)};
    pg__parallel_range(N, 1, (PG_NDITER_GRAIN + C - 1) / C, g->dtype == PG_DTYPE_F64 ? ce_bwd_rows_f64 : ce_bwd_rows_f32,
                       &j);
    dx[0] = d;
    return PG_OK;
}

static pg_tensor *pg__cross_entropy(pg_tensor *logits, const int64_t *labels, int64_t n_labels,
                                    pg_reduction reduction, bool ignore, int64_t ignore_index) {
    if (n_labels < 0) {
        pg__fail(PG_ERR_SHAPE, "cross_entropy: negative number of labels %lld", (long long)n_labels);
        return NULL;
    }
    pg_params p = {0};
    p.loss.reduction = reduction;
    p.loss.ignore = ignore;
    p.loss.ignore_index = ignore_index;
    p.offsets = labels;
    p.n_offsets = n_labels;
    return pg__apply_float1(PG_OP_CROSS_ENTROPY, logits, &p);
}

pg_tensor *pg_cross_entropy(pg_tensor *logits, const int64_t *labels, int64_t n_labels, pg_reduction reduction) {
    return pg__cross_entropy(logits, labels, n_labels, reduction, false, 0);
}

pg_tensor *pg_cross_entropy_ignore(pg_tensor *logits, const int64_t *labels, int64_t n_labels, pg_reduction reduction,
                                   int64_t ignore_index) {
    return pg__cross_entropy(logits, labels, n_labels, reduction, true, ignore_index);
}

/* PyTorch 2.13 refuses a loss weight that requires grad while grad mode is on
 * (its losses do not differentiate their weights; under no_grad the weight is a
 * constant): PG_ERR_RUNTIME in PyTorch's sentences, function the name its
 * message gives, with the weight's shape and the fix. nll_loss and
 * binary_cross_entropy call it; pygrad._engines.refuse_grad_weight words it
 * alike for the reference engine and the composed losses. */
static pg_status pg__refuse_grad_weight(const char *op, const char *function, const pg_tensor *weight) {
    if (!weight || !weight->requires_grad || pg_tls.grad_disabled) return PG_OK;
    char b[PG_SHAPE_BUF];
    pg__fail(PG_ERR_RUNTIME, "%s: the function '%s' is not differentiable with respect to argument 'weight' (of "
             "shape %s). This input cannot have requires_grad True; pass weight.detach()", op, function,
             pg__shape_str(weight->ndim, weight->shape, b, sizeof b));
    return PG_ERR_RUNTIME;
}

/* ======================================================================
 * nll_loss(x, weight, labels): the negative log-likelihood of log-probabilities
 * x (N, C) at integer labels (PyTorch's F.nll_loss, and F.cross_entropy's
 * class weights and label smoothing over a log_softmax), with ε the smoothing:
 *
 *   L_i = -(1 - ε) w_{y_i} x_{i,y_i} - (ε / C) Σ_j w_j x_ij      (ε = 0: L_i = -w_{y_i} x_{i,y_i})
 *
 * on the rows whose label is not ignore_index, 0 on the others; w_j = 1 when
 * weight is 0-d (none). mean: Σ_i L_i / W, W = Σ over the kept rows of w_{y_i}
 * (NaN when W = 0, as PyTorch), sum, or none. The labels travel as
 * cross_entropy's (p.offsets); weight is a constant, never differentiated
 * (the entry point refuses one that requires grad while grad mode is on, as
 * PyTorch's nll_loss_forward). L is linear in x:
 *
 *   dx_ij = -c_i m_ij,  m_ij = (ε / C) w_j + [j = y_i] (1 - ε) w_{y_i}  on kept rows, 0 elsewhere,
 *   c_i = g_i (none), g (sum), g / W (mean).
 * ====================================================================== */

static const char *pg__nll_name(const pg_params *p) { return p->loss.ce ? "cross_entropy" : "nll_loss"; }

static bool pg__nll_ignored(const pg_params *p, int64_t i) {
    return p->loss.ignore && p->offsets[i] == p->loss.ignore_index;
}

static pg_status nll_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    const char *op = pg__nll_name(p);
    char b[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (n_in != 2) return pg__fail(PG_ERR_VALUE, "%s: expected (scores, weight), got %d inputs", op, n_in);
    const pg_tensor *x = in[0], *w = in[1];
    if (pg__check_float(op, x) || pg__check_float(op, w)) return PG_ERR_TYPE;
    pg_reduction red = p->loss.reduction;
    if (pg__check_reduction(op, red)) return PG_ERR_VALUE;
    if (!(p->loss.smoothing >= 0.0 && p->loss.smoothing <= 1.0))
        return pg__fail(PG_ERR_VALUE, "%s: label_smoothing must be in [0, 1], got %g", op, p->loss.smoothing);
    if (x->ndim != 2)
        return pg__fail(PG_ERR_SHAPE, "%s: scores must be 2-d (N, C), got shape %s", op,
                        pg__shape_str(x->ndim, x->shape, b, sizeof b));
    int64_t N = x->shape[0], C = x->shape[1];
    if (N == 0 || C == 0)
        return pg__fail(PG_ERR_VALUE, "%s: %s: scores of shape %s", op, N == 0 ? "empty batch" : "no classes",
                        pg__shape_str(x->ndim, x->shape, b, sizeof b));
    if (w->dtype != x->dtype || !(w->ndim == 0 || (w->ndim == 1 && w->shape[0] == C)))
        return pg__fail(PG_ERR_SHAPE, "%s: weight must have one entry per class (%lld) and the scores' dtype, got "
                        "%s %s for scores %s %s", op, (long long)C, pg__dtype_name(w->dtype),
                        pg__shape_str(w->ndim, w->shape, b2, sizeof b2), pg__dtype_name(x->dtype),
                        pg__shape_str(x->ndim, x->shape, b, sizeof b));
    if (p->n_offsets != N)
        return pg__fail(PG_ERR_SHAPE, "%s: scores of shape %s need %lld labels, got %lld", op,
                        pg__shape_str(x->ndim, x->shape, b, sizeof b), (long long)N, (long long)p->n_offsets);
    if (!p->offsets) return pg__fail(PG_ERR_VALUE, "%s: labels pointer is NULL", op);
    for (int64_t i = 0; i < N; i++) {
        int64_t y = p->offsets[i];
        if ((y < 0 || y >= C) && !pg__nll_ignored(p, i))
            return pg__fail(PG_ERR_INDEX, "%s: label %lld at position %lld is out of range for %lld classes "
                            "(scores of shape %s)", op, (long long)y, (long long)i, (long long)C,
                            pg__shape_str(x->ndim, x->shape, b, sizeof b));
    }
    *out = (pg_meta){.dtype = x->dtype, .ndim = red == PG_REDUCTION_NONE ? 1 : 0};
    out->shape[0] = red == PG_REDUCTION_NONE ? N : 0;
    return PG_OK;
}

/* out: [N] losses (none) or the 0-d reduction; x [N, C]; w [C] or NULL (ones); W: the mean's denominator.
 * A reduction adds the row losses in row order in double, as cross_entropy's. */
#define PG_NLL_KERNELS(TT, SUF)                                                                     \
    static double nll_fwd_##SUF(void *out, const TT *x, const TT *w, const pg_params *p, int64_t N,  \
                                int64_t C) {                                                        \
        const double eps = p->loss.smoothing;                                                       \
        const TT e1 = (TT)(1.0 - eps), ec = (TT)(eps / (double)C);                                  \
        double total = 0, W = 0;                                                                    \
        for (int64_t i = 0; i < N; i++) {                                                           \
            TT loss = 0;                                                                            \
            if (!pg__nll_ignored(p, i)) {                                                           \
                int64_t y = p->offsets[i];                                                          \
                const TT *row = x + i * C;                                                          \
                TT wy = w ? w[y] : (TT)1;                                                           \
                W += (double)wy;                                                                    \
                if (eps == 0) {                                                                     \
                    loss = -(wy * row[y]);                                                          \
                } else {                                                                            \
                    TT b = 0;                                                                       \
                    for (int64_t k = 0; k < C; k++) b += w ? w[k] * row[k] : row[k];               \
                    loss = -(e1 * (wy * row[y])) - ec * b;                                          \
                }                                                                                   \
            }                                                                                       \
            if (p->loss.reduction == PG_REDUCTION_NONE) ((TT *)out)[i] = loss;                      \
            else total += (double)loss;                                                             \
        }                                                                                           \
        if (p->loss.reduction != PG_REDUCTION_NONE)                                                 \
            *(TT *)out = (TT)(p->loss.reduction == PG_REDUCTION_MEAN ? total / W : total);          \
        return W;                                                                                   \
    }                                                                                               \
    /* dx [N, C] = -c_i m_ij (see above); g [N] (none) or [1] */                                    \
    static void nll_bwd_##SUF(TT *dx, const TT *g, const TT *w, const pg_params *p, int64_t N,       \
                              int64_t C, double W) {                                                \
        const double eps = p->loss.smoothing;                                                       \
        const TT e1 = (TT)(1.0 - eps), ec = (TT)(eps / (double)C);                                  \
        for (int64_t i = 0; i < N; i++) {                                                           \
            TT *drow = dx + i * C;                                                                  \
            for (int64_t k = 0; k < C; k++) drow[k] = 0;                                            \
            if (pg__nll_ignored(p, i)) continue;                                                    \
            int64_t y = p->offsets[i];                                                              \
            TT wy = w ? w[y] : (TT)1;                                                               \
            TT c = p->loss.reduction == PG_REDUCTION_NONE ? g[i]                                    \
                   : p->loss.reduction == PG_REDUCTION_SUM ? g[0]                                   \
                                                           : g[0] / (TT)W;                          \
            if (eps == 0) {                                                                         \
                drow[y] = -(c * wy);                                                                \
                continue;                                                                           \
            }                                                                                       \
            for (int64_t k = 0; k < C; k++) {                                                       \
                TT m = ec * (w ? w[k] : (TT)1);                                                     \
                if (k == y) m += e1 * wy;                                                           \
                drow[k] = -(c * m);                                                                 \
            }                                                                                       \
        }                                                                                           \
    }
PG_NLL_KERNELS(float, f32)
PG_NLL_KERNELS(double, f64)

static pg_status nll_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0], *w = in[1];
    const void *wd = w->ndim ? w->data : NULL;
    if (x->dtype == PG_DTYPE_F64) nll_fwd_f64(out->data, x->data, wd, p, x->shape[0], x->shape[1]);
    else nll_fwd_f32(out->data, x->data, wd, p, x->shape[0], x->shape[1]);
    return PG_OK;
}

/* W = Σ over the kept rows of w_{y_i}, added in row order in double (as the forward adds it) */
static double pg__nll_denominator(const pg_params *p, const pg_tensor *w, int64_t N) {
    double W = 0;
    for (int64_t i = 0; i < N; i++) {
        if (pg__nll_ignored(p, i)) continue;
        if (!w->ndim) W += 1.0;
        else if (w->dtype == PG_DTYPE_F64) W += ((const double *)w->data)[p->offsets[i]];
        else W += (double)((const float *)w->data)[p->offsets[i]];
    }
    return W;
}

/* the node's labels in range (a replay reads them again for the backward) */
static pg_status pg__nll_check(const pg_node *n) {
    int64_t C = n->edges[0].meta.shape[1];
    for (int64_t i = 0; i < n->p.n_offsets; i++)
        if ((n->p.offsets[i] < 0 || n->p.offsets[i] >= C) && !pg__nll_ignored(&n->p, i))
            return pg__fail(PG_ERR_INDEX, "%s: label %lld at position %lld is out of range for %lld classes "
                            "(in backward)", pg__nll_name(&n->p), (long long)n->p.offsets[i], (long long)i,
                            (long long)C);
    return PG_OK;
}

static pg_status nll_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    if (!pg__node_needs(n, 0)) return PG_OK;
    if (pg__nll_check(n)) return PG_ERR_INDEX;
    const pg_tensor *w = pg__saved_input(n, 1);
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return PG_ERR_MEMORY;
    int64_t N = d->shape[0], C = d->shape[1];
    double W = n->p.loss.reduction == PG_REDUCTION_MEAN ? pg__nll_denominator(&n->p, w, N) : 1.0;
    const void *wd = w->ndim ? w->data : NULL;
    if (d->dtype == PG_DTYPE_F64) nll_bwd_f64(d->data, g->data, wd, &n->p, N, C, W);
    else nll_bwd_f32(d->data, g->data, wd, &n->p, N, C, W);
    dx[0] = d;
    return PG_OK;
}

pg_tensor *pg_nll_loss(pg_tensor *x, pg_tensor *weight, const int64_t *labels, int64_t n_labels,
                       pg_reduction reduction, int64_t ignore_index, double label_smoothing, int as_cross_entropy) {
    const char *op = as_cross_entropy ? "cross_entropy" : "nll_loss";
    if (pg__check_tensor(op, x) || pg__check_tensor(op, weight)) return NULL;
    if (n_labels < 0) {
        pg__fail(PG_ERR_SHAPE, "%s: negative number of labels %lld", op, (long long)n_labels);
        return NULL;
    }
    if (pg__refuse_grad_weight(op, "nll_loss_forward", weight)) return NULL;
    pg_params p = {0};
    p.loss.reduction = reduction;
    p.loss.ignore = true;
    p.loss.ignore_index = ignore_index;
    p.loss.smoothing = label_smoothing;
    p.loss.ce = as_cross_entropy != 0;
    p.offsets = labels;
    p.n_offsets = n_labels;
    pg_tensor *in[2] = {x, weight};
    return pg__apply(PG_OP_NLL_LOSS, in, 2, &p);
}

/* ======================================================================
 * one_hot(labels, C): y[..., c] = 1 where labels[...] == c, else 0; int64, of
 * shape labels.shape + (C,) (PyTorch's F.one_hot; its num_classes = -1, read
 * from the labels' values, is Python's). The labels are the op's input, an
 * int64 or int32 tensor of any shape, so a compiled step reads them at each
 * run; each must lie in [0, C), checked by infer at each run (eager or
 * replayed) before anything is written. An integer result: the tape never
 * records it, no gradient.
 * ====================================================================== */

/* the flat position of the first label outside [0, C), -1 when none */
#define PG_LABEL_SCAN(TT, SUF)                                                   \
    static int64_t pg__bad_label_##SUF(const TT *y, int64_t n, int64_t C) {      \
        for (int64_t i = 0; i < n; i++)                                          \
            if (y[i] < 0 || (int64_t)y[i] >= C) return i;                        \
        return -1;                                                               \
    }
PG_LABEL_SCAN(int64_t, i64)
PG_LABEL_SCAN(int32_t, i32)

static pg_status one_hot_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *y = in[0];
    char b[PG_SHAPE_BUF];
    if (!pg__is_int(y->dtype))
        return pg__fail(PG_ERR_TYPE, "one_hot: labels must be an integer tensor (int64 or int32), got %s",
                        pg__dtype_name(y->dtype));
    int64_t C = p->classes;
    if (C < 0) return pg__fail(PG_ERR_VALUE, "one_hot: num_classes must be >= 0, got %lld", (long long)C);
    if (y->ndim >= PG_MAX_DIMS)
        return pg__fail(PG_ERR_SHAPE, "one_hot: labels of %d dims, at most %d allowed (the result has one more)",
                        y->ndim, PG_MAX_DIMS - 1);
    bool i64 = y->dtype == PG_DTYPE_I64;
    int64_t bad = i64 ? pg__bad_label_i64(y->data, y->numel, C) : pg__bad_label_i32(y->data, y->numel, C);
    if (bad >= 0)
        return pg__fail(PG_ERR_VALUE, "one_hot: label %lld at position %lld is out of range for %lld classes "
                        "(labels of shape %s)",
                        i64 ? (long long)((const int64_t *)y->data)[bad] : (long long)((const int32_t *)y->data)[bad],
                        (long long)bad, (long long)C, pg__shape_str(y->ndim, y->shape, b, sizeof b));
    *out = (pg_meta){.dtype = PG_DTYPE_I64, .ndim = y->ndim + 1};
    for (int d = 0; d < y->ndim; d++) out->shape[d] = y->shape[d];
    out->shape[y->ndim] = C;
    return PG_OK;
}

static pg_status one_hot_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *y = in[0];
    int64_t C = p->classes, *o = out->data;
    if (out->numel) memset(o, 0, sizeof(int64_t) * (size_t)out->numel);
    if (y->dtype == PG_DTYPE_I64)
        for (int64_t i = 0; i < y->numel; i++) o[i * C + ((const int64_t *)y->data)[i]] = 1;
    else
        for (int64_t i = 0; i < y->numel; i++) o[i * C + ((const int32_t *)y->data)[i]] = 1;
    return PG_OK;
}

/* never called: an integer result is not recorded */
static pg_status one_hot_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    (void)dx, (void)g, (void)n;
    return PG_OK;
}

pg_tensor *pg_one_hot(pg_tensor *labels, int64_t num_classes) {
    if (pg__check_tensor("one_hot", labels)) return NULL;
    pg_params p = {0};
    p.classes = num_classes;
    return pg__apply(PG_OP_ONE_HOT, &labels, 1, &p);
}

/* ======================================================================
 * binary_cross_entropy(p, t, w): PyTorch's F.binary_cross_entropy of
 * probabilities p and targets t of one shape, each loss times an elementwise
 * weight w that broadcasts to p's shape (the entry point's 0-d 1 for none):
 *
 *   l = w ((t - 1) max(log(1 - p), -100) - t max(log p, -100))
 *
 * in p's dtype, as PyTorch's kernel computes it (log(1 - p) as log1p(-p); the
 * clamps keep p = 0 and p = 1 finite), reduced by mean (the losses added in
 * element order in double, over numel: NaN for an empty input, as PyTorch),
 * sum or none. p must lie in [0, 1]; the forward checks it at each run
 * (eager or replayed) and refuses NaN too (PyTorch's check 0 <= p <= 1 fails
 * for it). Backward, PyTorch's formulas:
 *
 *   dp = g (p - t) / max((1 - p) p, eps) w,  eps = 1e-12 in p's dtype
 *   dt = -logit(p) g w = -log(p / (1 - p)) g w   (unclamped: -inf at p = 1, inf at p = 0)
 *
 * each divided by numel for the mean (g, 0-d, broadcast). The weight is not
 * differentiated: as PyTorch, the entry point refuses one that requires grad
 * while grad mode is on (PG_ERR_RUNTIME), so no node ever needs its gradient.
 * ====================================================================== */


typedef struct pg_bce_ctx {
    bool mean; /* divide by n */
    double n;  /* numel(p) */
} pg_bce_ctx;

/* rows over operands broadcast to p's shape (kernels.h's pg_row_fn): the forward,
 * ptr = {l, p, t, w}; dp, ptr = {dp, g, p, t, w}; dt, ptr = {dt, g, p, w} */
#define PG_BCE_ROWS(TT, SUF)                                                                      \
    static inline TT bce_loss_##SUF(TT p, TT t) {                                                 \
        TT a = PG_LOG1P(-p), b = PG_LOG(p);                                                       \
        a = a > (TT)-100 ? a : (TT)-100;                                                          \
        b = b > (TT)-100 ? b : (TT)-100;                                                          \
        return (t - (TT)1) * a - t * b;                                                           \
    }                                                                                             \
    static void bce_fwd_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {    \
        TT *l = (TT *)ptr[0];                                                                     \
        const TT *p = (const TT *)ptr[1], *t = (const TT *)ptr[2], *w = (const TT *)ptr[3];       \
        (void)ctx;                                                                                \
        for (int64_t i = 0; i < n; i++)                                                           \
            l[i * st[0]] = bce_loss_##SUF(p[i * st[1]], t[i * st[2]]) * w[i * st[3]];             \
    }                                                                                             \
    static void bce_dp_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {     \
        TT *d = (TT *)ptr[0];                                                                     \
        const TT *g = (const TT *)ptr[1], *p = (const TT *)ptr[2], *t = (const TT *)ptr[3];       \
        const TT *w = (const TT *)ptr[4];                                                         \
        const pg_bce_ctx *c = ctx;                                                                \
        const TT eps = (TT)1e-12, cnt = (TT)c->n;                                                 \
        for (int64_t i = 0; i < n; i++) {                                                         \
            TT x = p[i * st[2]], den = ((TT)1 - x) * x;                                           \
            TT v = g[i * st[1]] * (x - t[i * st[3]]) / (den > eps ? den : eps) * w[i * st[4]];    \
            d[i * st[0]] = c->mean ? v / cnt : v;                                                 \
        }                                                                                         \
    }                                                                                             \
    static void bce_dt_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {     \
        TT *d = (TT *)ptr[0];                                                                     \
        const TT *g = (const TT *)ptr[1], *p = (const TT *)ptr[2], *w = (const TT *)ptr[3];       \
        const pg_bce_ctx *c = ctx;                                                                \
        const TT cnt = (TT)c->n;                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                         \
            TT x = p[i * st[2]];                                                                  \
            TT v = -PG_LOG(x / ((TT)1 - x)) * g[i * st[1]] * w[i * st[3]];                        \
            d[i * st[0]] = c->mean ? v / cnt : v;                                                 \
        }                                                                                         \
    }
PG_BCE_ROWS(float, f32)
PG_BCE_ROWS(double, f64)

static pg_status bce_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    const char *op = "binary_cross_entropy";
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (n_in != 3) return pg__fail(PG_ERR_VALUE, "%s: expected (input, target, weight), got %d inputs", op, n_in);
    const pg_tensor *x = in[0], *t = in[1], *w = in[2];
    if (pg__check_float(op, x) || pg__check_float(op, t) || pg__check_float(op, w)) return PG_ERR_TYPE;
    if (t->dtype != x->dtype || w->dtype != x->dtype)
        return pg__fail(PG_ERR_TYPE, "%s: input, target and weight must have one dtype, got %s, %s and %s "
                        "(promote first)", op, pg__dtype_name(x->dtype), pg__dtype_name(t->dtype),
                        pg__dtype_name(w->dtype));
    pg_reduction red = p->loss.reduction;
    if (pg__check_reduction(op, red)) return PG_ERR_VALUE;
    if (t->ndim != x->ndim || !pg__same_dims(x->ndim, x->shape, t->shape))
        return pg__fail(PG_ERR_SHAPE, "%s: target of shape %s differs from the input's shape %s", op,
                        pg__shape_str(t->ndim, t->shape, b1, sizeof b1), pg__shape_str(x->ndim, x->shape, b2, sizeof b2));
    bool fits = w->ndim <= x->ndim;
    for (int d = 0; fits && d < w->ndim; d++) {
        int64_t wd = w->shape[w->ndim - 1 - d], xd = x->shape[x->ndim - 1 - d];
        fits = wd == 1 || wd == xd;
    }
    if (!fits)
        return pg__fail(PG_ERR_SHAPE, "%s: weight of shape %s does not broadcast to the input's shape %s", op,
                        pg__shape_str(w->ndim, w->shape, b1, sizeof b1), pg__shape_str(x->ndim, x->shape, b2, sizeof b2));
    if (red == PG_REDUCTION_NONE) pg__meta_of(out, x);
    else *out = (pg_meta){.dtype = x->dtype, .ndim = 0};
    return PG_OK;
}

/* The first element of t outside [0, 1] (NaN too) as "<value> at flat index <i>" into buf; false if none. */
static bool pg__bce_outside(const pg_tensor *t, char *buf, size_t cap) {
    bool f64 = t->dtype == PG_DTYPE_F64;
    int64_t bad = pg__outside_unit(t);
    if (bad < 0) return false;
    double v = f64 ? ((const double *)t->data)[bad] : (double)((const float *)t->data)[bad];
    snprintf(buf, cap, "%g at flat index %lld", isnan(v) ? fabs(v) : v, (long long)bad); /* "nan", any sign */
    return true;
}

static pg_status bce_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    bool f64 = x->dtype == PG_DTYPE_F64;
    char where[64];
    if (pg__bce_outside(x, where, sizeof where))
        return pg__fail(PG_ERR_VALUE, "binary_cross_entropy: input must hold probabilities in [0, 1]; use "
                        "binary_cross_entropy_with_logits for logits (got %s)", where);
    if (pg__bce_outside(in[1], where, sizeof where))
        return pg__fail(PG_ERR_VALUE, "binary_cross_entropy: target must hold values in [0, 1] (got %s)", where);
    pg_meta xm;
    pg__meta_of(&xm, x);
    const pg_tensor *ops[3] = {in[0], in[1], in[2]};
    pg_row_fn row = f64 ? bce_fwd_row_f64 : bce_fwd_row_f32;
    if (p->loss.reduction == PG_REDUCTION_NONE) {
        pg__ew_run(out, &xm, ops, 3, row, NULL);
        return PG_OK;
    }
    pg_tensor *l = pg__tensor_new_like(&xm);
    if (!l) return PG_ERR_MEMORY;
    pg__ew_run(l, &xm, ops, 3, row, NULL);
    double total = 0;
    if (f64)
        for (int64_t i = 0; i < l->numel; i++) total += ((const double *)l->data)[i];
    else
        for (int64_t i = 0; i < l->numel; i++) total += (double)((const float *)l->data)[i];
    if (p->loss.reduction == PG_REDUCTION_MEAN) total /= (double)l->numel;
    if (f64) *(double *)out->data = total;
    else *(float *)out->data = (float)total;
    pg_tensor_release(l);
    return PG_OK;
}

static pg_status bce_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_tensor *x = pg__saved_input(n, 0), *t = pg__saved_input(n, 1), *w = pg__saved_input(n, 2);
    const pg_meta *xm = &n->edges[0].meta;
    bool f64 = x->dtype == PG_DTYPE_F64;
    pg_bce_ctx c = {n->p.loss.reduction == PG_REDUCTION_MEAN, (double)x->numel};
    if (pg__node_needs(n, 0)) {
        if (!(dx[0] = pg__tensor_new_like(xm))) return PG_ERR_MEMORY;
        const pg_tensor *ops[4] = {g, x, t, w};
        pg__ew_run(dx[0], xm, ops, 4, f64 ? bce_dp_row_f64 : bce_dp_row_f32, &c);
    }
    if (pg__node_needs(n, 1)) {
        if (!(dx[1] = pg__tensor_new_like(&n->edges[1].meta))) return PG_ERR_MEMORY;
        const pg_tensor *ops[3] = {g, x, w};
        pg__ew_run(dx[1], xm, ops, 3, f64 ? bce_dt_row_f64 : bce_dt_row_f32, &c);
    }
    return PG_OK; /* no gradient to the weight: see the entry point */
}

pg_tensor *pg_binary_cross_entropy(pg_tensor *input, pg_tensor *target, pg_tensor *weight, pg_reduction reduction) {
    const char *op = "binary_cross_entropy";
    if (pg__check_tensor(op, input) || pg__check_tensor(op, target)) return NULL;
    if (pg__refuse_grad_weight(op, "binary_cross_entropy", weight)) return NULL;
    pg_tensor *one = NULL;
    if (!weight) { /* none: a 0-d 1 of the input's dtype, a constant of a program */
        if (pg__check_float(op, input)) return NULL;
        if (!(one = pg_tensor_full(input->dtype, 0, NULL, 1.0))) return NULL;
        if (pg_tls.recorder) pg_tls.recorder->ops->constant(pg_tls.recorder, one, 1.0);
        weight = one;
    }
    pg_params p = {0};
    p.loss.reduction = reduction;
    pg_tensor *in[3] = {input, target, weight};
    pg_tensor *out = pg__apply(PG_OP_BINARY_CROSS_ENTROPY, in, 3, &p);
    pg_tensor_release(one);
    return out;
}

/* ======================================================================
 * huber_loss(x, t): PyTorch's F.huber_loss (delta δ > 0) and, with smooth_l1, its
 * F.smooth_l1_loss (beta β >= 0) of an input and a target of one shape and
 * float dtype, one op. With d = x - t and z = |d|:
 *
 *   huber      l = z < δ ? ½ z z : δ (z - ½ δ)
 *   smooth_l1  l = z < β ? ½ z z / β : z - ½ β      (β = 0: l = z, the L1 loss)
 *
 * in x's dtype, δ rounded to it, as PyTorch's kernels compute them; reduced by
 * mean (the losses added in double, in pieces of 4096 added in order, over
 * numel: NaN when empty), sum or none, in the pass that computes them.
 * Backward, u = dl/dd (both branches agree at z = δ, PyTorch's convention):
 *
 *   huber      u = clamp(d, -δ, δ)
 *   smooth_l1  u = clamp(d / β, -1, 1);  β = 0: sign(d), 0 at 0 (PyTorch's l1_loss)
 *
 * dx = u c, dt = -dx, c = g (none: elementwise; sum) or g / numel (mean): one
 * pass reads x and t and writes dx and dt. A NaN in d gives NaN (but for β = 0:
 * 0, as PyTorch).
 * ====================================================================== */

enum { PG_HUBER_KIND_HUBER, PG_HUBER_KIND_SMOOTH_L1, PG_HUBER_KIND_L1 };
#define PG_HUBER_BLOCK 256 /* elements a block: u (backward) or the losses to sum (forward) on the stack */

typedef struct pg_huber_job {
    void *o;             /* forward: [n] losses (none) or NULL (a reduction); backward: dx, or dt alone */
    void *neg;           /* backward: dt when o is dx, else NULL */
    const void *x, *t;   /* [n] */
    const void *g;       /* backward: [n] upstream (none), else NULL */
    double c;            /* backward: the upstream factor when g is NULL; forward: unused */
    double delta;
    int kind;
    bool f64;
} pg_huber_job;

#define PG_HUBER_KERNELS(TT, SUF)                                                                     \
    /* l[0:n) = the losses of x - t */                                                                \
    PG_CLONES static void huber_fwd_##SUF(TT *l, const TT *x, const TT *t, int64_t n, int kind, TT D) {  \
        const TT h = (TT)0.5;                                                                         \
        if (kind == PG_HUBER_KIND_HUBER) {                                                            \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                                \
                TT z = PG_FABS(x[i] - t[i]);                                                          \
                l[i] = PG_SEL(z < D, h * z * z, D * (z - h * D));                                     \
            }                                                                                         \
        } else if (kind == PG_HUBER_KIND_SMOOTH_L1) {                                                 \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                                \
                TT z = PG_FABS(x[i] - t[i]);                                                          \
                l[i] = PG_SEL(z < D, h * z * z / D, z - h * D);                                       \
            }                                                                                         \
        } else {                                                                                      \
            PG_IVDEP for (int64_t i = 0; i < n; i++) l[i] = PG_FABS(x[i] - t[i]);                     \
        }                                                                                             \
    }                                                                                                 \
    /* u[0:n) = dl/dd of x - t */                                                                     \
    PG_CLONES static void huber_u_##SUF(TT *u, const TT *x, const TT *t, int64_t n, int kind, TT D) { \
        if (kind == PG_HUBER_KIND_HUBER) {                                                            \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                                \
                TT d = x[i] - t[i], a = PG_SEL(d < -D, -D, d);                                        \
                u[i] = PG_SEL(a > D, D, a);                                                           \
            }                                                                                         \
        } else if (kind == PG_HUBER_KIND_SMOOTH_L1) {                                                 \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                                \
                TT d = x[i] - t[i];                                                                   \
                u[i] = PG_SEL(d < -D, (TT)-1, PG_SEL(d > D, (TT)1, d / D));                           \
            }                                                                                         \
        } else {                                                                                      \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                                \
                TT d = x[i] - t[i];                                                                   \
                u[i] = PG_SEL(d > 0, (TT)1, PG_SEL(d < 0, (TT)-1, (TT)0));                            \
            }                                                                                         \
        }                                                                                             \
    }                                                                                                 \
    /* o[0:n) = u c (c = g[i], or cs where g is NULL), neg = -o when not NULL; o may be g */          \
    PG_CLONES static void huber_scale_##SUF(TT *o, TT *neg, const TT *u, const TT *g, TT cs, int64_t n) { \
        if (g && neg) {                                                                               \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                                \
                TT v = u[i] * g[i];                                                                   \
                o[i] = v;                                                                             \
                neg[i] = -v;                                                                          \
            }                                                                                         \
        } else if (g) {                                                                               \
            PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] = u[i] * g[i];                              \
        } else if (neg) {                                                                             \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                                \
                TT v = u[i] * cs;                                                                     \
                o[i] = v;                                                                             \
                neg[i] = -v;                                                                          \
            }                                                                                         \
        } else {                                                                                      \
            PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] = u[i] * cs;                                \
        }                                                                                             \
    }                                                                                                 \
    /* the sum of the losses of [lo, hi), in double (a piece of a reduction) */                      \
    static double huber_piece_##SUF(void *ctx, int64_t lo, int64_t hi) {                              \
        const pg_huber_job *j = ctx;                                                                  \
        TT l[PG_HUBER_BLOCK];                                                                         \
        double s = 0;                                                                                 \
        for (int64_t a = lo; a < hi; a += PG_HUBER_BLOCK) {                                           \
            int64_t c = hi - a < PG_HUBER_BLOCK ? hi - a : PG_HUBER_BLOCK;                            \
            huber_fwd_##SUF(l, (const TT *)j->x + a, (const TT *)j->t + a, c, j->kind, (TT)j->delta); \
            s += pg__sum_contig_##SUF(l, c);                                                          \
        }                                                                                             \
        return s;                                                                                     \
    }                                                                                                 \
    /* [lo, hi): the losses (forward, none), or dx and dt (backward: g or c given) */                 \
    static void huber_range_##SUF(void *ctx, int64_t lo, int64_t hi, bool backward) {                 \
        const pg_huber_job *j = ctx;                                                                  \
        const TT *x = (const TT *)j->x + lo, *t = (const TT *)j->t + lo;                              \
        if (!backward) {                                                                              \
            huber_fwd_##SUF((TT *)j->o + lo, x, t, hi - lo, j->kind, (TT)j->delta);                   \
            return;                                                                                   \
        }                                                                                             \
        TT u[PG_HUBER_BLOCK];                                                                         \
        for (int64_t a = 0; a < hi - lo; a += PG_HUBER_BLOCK) {                                       \
            int64_t c = hi - lo - a < PG_HUBER_BLOCK ? hi - lo - a : PG_HUBER_BLOCK;                  \
            huber_u_##SUF(u, x + a, t + a, c, j->kind, (TT)j->delta);                                 \
            huber_scale_##SUF((TT *)j->o + lo + a, j->neg ? (TT *)j->neg + lo + a : NULL, u,          \
                              j->g ? (const TT *)j->g + lo + a : NULL, (TT)j->c, c);                  \
        }                                                                                             \
    }
PG_HUBER_KERNELS(float, f32)
PG_HUBER_KERNELS(double, f64)

static void huber_fwd_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_huber_job *j = ctx;
    if (j->f64) huber_range_f64(ctx, lo, hi, false);
    else huber_range_f32(ctx, lo, hi, false);
}

static void huber_bwd_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_huber_job *j = ctx;
    if (j->f64) huber_range_f64(ctx, lo, hi, true);
    else huber_range_f32(ctx, lo, hi, true);
}

static const char *pg__huber_name(const pg_params *p) { return p->huber.smooth_l1 ? "smooth_l1_loss" : "huber_loss"; }

static int pg__huber_kind(const pg_params *p) {
    if (!p->huber.smooth_l1) return PG_HUBER_KIND_HUBER;
    return p->huber.delta == 0 ? PG_HUBER_KIND_L1 : PG_HUBER_KIND_SMOOTH_L1;
}

static pg_status huber_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    const char *op = pg__huber_name(p);
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (n_in != 2) return pg__fail(PG_ERR_VALUE, "%s: expected (input, target), got %d inputs", op, n_in);
    const pg_tensor *x = in[0], *t = in[1];
    if (pg__check_float(op, x) || pg__check_float(op, t)) return PG_ERR_TYPE;
    if (t->dtype != x->dtype)
        return pg__fail(PG_ERR_TYPE, "%s: input and target must have one dtype, got %s and %s (promote first)", op,
                        pg__dtype_name(x->dtype), pg__dtype_name(t->dtype));
    pg_reduction red = p->huber.reduction;
    if (pg__check_reduction(op, red)) return PG_ERR_VALUE;
    if (t->ndim != x->ndim || !pg__same_dims(x->ndim, x->shape, t->shape))
        return pg__fail(PG_ERR_SHAPE, "%s: input of shape %s and target of shape %s differ", op,
                        pg__shape_str(x->ndim, x->shape, b1, sizeof b1), pg__shape_str(t->ndim, t->shape, b2, sizeof b2));
    if (red == PG_REDUCTION_NONE) pg__meta_of(out, x);
    else *out = (pg_meta){.dtype = x->dtype, .ndim = 0};
    return PG_OK;
}

static pg_status huber_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    bool f64 = x->dtype == PG_DTYPE_F64;
    pg_huber_job j = {.o = out->data, .x = x->data, .t = in[1]->data, .delta = p->huber.delta,
                      .kind = pg__huber_kind(p), .f64 = f64};
    if (p->huber.reduction == PG_REDUCTION_NONE) {
        pg__parallel_range(x->numel, 64, PG_NDITER_GRAIN, huber_fwd_range, &j);
        return PG_OK;
    }
    double s;
    pg_status st = pg__sum_pieces(pg__huber_name(p), x->numel, f64 ? huber_piece_f64 : huber_piece_f32, &j, &s);
    if (st) return st;
    if (p->huber.reduction == PG_REDUCTION_MEAN) s /= (double)x->numel;
    if (f64) *(double *)out->data = s;
    else *(float *)out->data = (float)s;
    return PG_OK;
}

static pg_status huber_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_tensor *x = pg__saved_input(n, 0), *t = pg__saved_input(n, 1);
    bool f64 = x->dtype == PG_DTYPE_F64, need_x = pg__node_needs(n, 0), need_t = pg__node_needs(n, 1);
    if (!need_x && !need_t) return PG_OK;
    pg_tensor *a = need_x ? pg__grad_buffer(g, n, 0) : pg__tensor_new_like(&n->edges[1].meta);
    pg_tensor *b = need_x && need_t ? pg__tensor_new_like(&n->edges[1].meta) : NULL;
    if (!a || (need_x && need_t && !b)) {
        pg_tensor_release(a);
        return pg__fail(PG_ERR_MEMORY, "%s backward: out of memory", pg__huber_name(&n->p));
    }
    pg_huber_job j = {.o = a->data, .neg = b ? b->data : NULL, .x = x->data, .t = t->data, .delta = n->p.huber.delta,
                      .kind = pg__huber_kind(&n->p), .f64 = f64};
    pg_reduction red = n->p.huber.reduction;
    if (red == PG_REDUCTION_NONE) {
        j.g = g->data;
    } else { /* the 0-d upstream, over numel for the mean, in x's dtype */
        double g0 = f64 ? *(const double *)g->data : (double)*(const float *)g->data;
        if (red == PG_REDUCTION_MEAN) g0 = f64 ? g0 / (double)x->numel : (double)((float)g0 / (float)x->numel);
        j.c = need_x ? g0 : -g0; /* dt alone: -u c, as -(u c) */
    }
    if (!need_x && j.g) { /* dt alone, elementwise upstream: dx into a, then negated */
        pg__parallel_range(x->numel, 64, PG_NDITER_GRAIN, huber_bwd_range, &j);
        if (f64)
            for (int64_t i = 0; i < a->numel; i++) ((double *)a->data)[i] = -((double *)a->data)[i];
        else
            for (int64_t i = 0; i < a->numel; i++) ((float *)a->data)[i] = -((float *)a->data)[i];
    } else {
        pg__parallel_range(x->numel, 64, PG_NDITER_GRAIN, huber_bwd_range, &j);
    }
    if (need_x) dx[0] = a;
    else dx[1] = a;
    if (b) dx[1] = b;
    return PG_OK;
}

/* dl/dd as differentiable ops: clamp(d, -δ, δ), clamp(d / β, -1, 1), or sign(d) as a constant (β = 0) */
static pg_tensor *pg__huber_u(pg_tensor *d, const pg_tensor *x, const pg_tensor *t, const pg_params *p) {
    double D = p->huber.delta;
    switch (pg__huber_kind(p)) {
    case PG_HUBER_KIND_HUBER: return pg_clamp(d, -D, D, 1, 1);
    case PG_HUBER_KIND_SMOOTH_L1: {
        pg_tensor *q = pg_div_scalar(d, D), *u = q ? pg_clamp(q, -1.0, 1.0, 1, 1) : NULL;
        pg_tensor_release(q);
        return u;
    }
    default: {
        pg_meta m;
        pg__meta_of(&m, x);
        pg_tensor *u = pg__const(&m, 0.0);
        if (!u) return NULL;
        if (m.dtype == PG_DTYPE_F64) huber_u_f64(u->data, x->data, t->data, u->numel, PG_HUBER_KIND_L1, 0.0);
        else huber_u_f32(u->data, x->data, t->data, u->numel, PG_HUBER_KIND_L1, 0.0f);
        return u;
    }
    }
}

pg_tensor *pg_huber_loss(pg_tensor *input, pg_tensor *target, pg_reduction reduction, double delta, int smooth_l1) {
    const char *op = smooth_l1 ? "smooth_l1_loss" : "huber_loss";
    if (pg__check_tensor(op, input) || pg__check_tensor(op, target)) return NULL;
    if (smooth_l1 ? !(delta >= 0) : !(delta > 0)) {
        char b[PG_FLOAT_BUF];
        pg__fail(PG_ERR_VALUE, "%s: %s, got %s", op, smooth_l1 ? "beta must be >= 0" : "delta must be positive",
                 pg__py_float(delta, b, sizeof b));
        return NULL;
    }
    pg_params p = {0};
    p.huber.reduction = reduction;
    p.huber.delta = delta;
    p.huber.smooth_l1 = smooth_l1 != 0;
    pg_tensor *in[2] = {input, target};
    return pg__apply(PG_OP_HUBER_LOSS, in, 2, &p);
}

/* ---- differentiable rules (create_graph) ---- */

/* ---- prelu: dx = g (x > 0 ? 1 : w_c), dw_c = sum over c's elements of g (x > 0 ? 0 : x) ---- */

static pg_status prelu_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
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
    return pg__rule_status();
}

/* ---- maxout: g to each group's maximum (ties share), as a constant mask ---- */

static pg_status maxout_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
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
    return pg__rule_status();
}

/* The upstream of a loss over N rows as each row's factor (a new reference, or NULL): the (N, 1)
 * column of g for "none", g for "sum", g / den for "mean" (den: the kept rows, or their weights). */
static pg_tensor *pg__row_upstream(pg_tensor *g, pg_reduction reduction, int64_t N, double den) {
    if (reduction == PG_REDUCTION_NONE) {
        int64_t col[2] = {N, 1};
        return pg_reshape(g, 2, col);
    }
    if (reduction == PG_REDUCTION_SUM) return PG_NEW_REF(g);
    pg_tensor *d = pg__scalar(g->dtype, den);
    if (!d) return NULL;
    pg_tensor *c = pg_div(g, d);
    pg_tensor_release(d);
    return c;
}

/* ---- cross_entropy: dx_i = c_i (softmax(x_i) - onehot(y_i)), c_i = g_i, g or g/N ---- */

static pg_status cross_entropy_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *x = pg__saved_input(n, 0);
    int64_t N = x->shape[0], C = x->shape[1];
    TRY(onehot, pg__const(&n->edges[0].meta, 0.0));
    bool ignored = false;
    for (int64_t i = 0; i < N; i++) {
        if (n->p.loss.ignore && n->p.offsets[i] == n->p.loss.ignore_index) {
            ignored = true;
            continue;
        }
        if (onehot->dtype == PG_DTYPE_F32) ((float *)onehot->data)[i * C + n->p.offsets[i]] = 1.0f;
        else ((double *)onehot->data)[i * C + n->p.offsets[i]] = 1.0;
    }
    TRY(sm, pg_softmax(x, 1));
    TRY(diff, pg_sub(sm, onehot));
    if (ignored) { /* the ignored rows' gradient is 0: diff times a (N, 1) mask of the kept rows */
        pg_meta km = {.dtype = x->dtype, .ndim = 2, .shape = {N, 1}};
        TRY(kmask, pg__const(&km, 1.0));
        for (int64_t i = 0; i < N; i++)
            if (n->p.offsets[i] == n->p.loss.ignore_index) {
                if (kmask->dtype == PG_DTYPE_F32) ((float *)kmask->data)[i] = 0.0f;
                else ((double *)kmask->data)[i] = 0.0;
            }
        TRY(kept, pg_mul(diff, kmask));
        diff = kept;
    }
    TRY(c, pg__row_upstream(g, n->p.loss.reduction, N, pg__ce_kept(&n->p, N)));
    dx[0] = pg_mul(diff, c);
    if (!dx[0]) goto fail;
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

/* ---- nll_loss: dx = c · M, M_ij = -m_ij a constant (the weight is one), c = g (N, 1), g or g / W ---- */

static pg_status nll_loss_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    if (!pg__node_needs(n, 0)) return PG_OK;
    if (pg__nll_check(n)) return PG_ERR_INDEX;
    pg_keep keep = {0};
    const pg_meta *xm = &n->edges[0].meta;
    const pg_tensor *w = pg__saved_input(n, 1);
    int64_t N = xm->shape[0], C = xm->shape[1];
    TRY(m, pg__const(xm, 0.0));
    TRY(one, pg__scalar(xm->dtype, 1.0));
    pg_params q = n->p; /* M = the kernel's dx for c = 1 */
    q.loss.reduction = PG_REDUCTION_SUM;
    if (xm->dtype == PG_DTYPE_F64) nll_bwd_f64(m->data, one->data, w->ndim ? w->data : NULL, &q, N, C, 1.0);
    else nll_bwd_f32(m->data, one->data, w->ndim ? w->data : NULL, &q, N, C, 1.0);
    TRY(c, pg__row_upstream(g, n->p.loss.reduction, N, pg__nll_denominator(&n->p, w, N)));
    dx[0] = pg_mul(c, m);
    if (!dx[0]) goto fail;
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

/* ---- binary_cross_entropy: the kernels' formulas with differentiable ops (the clamps as clamp,
 * 1 inside), c = 1/n for the mean ----
 *   dp = g (p - t) / clamp((1 - p) p, min=eps) w c,  dt = -log(p / (1 - p)) g w c */

static pg_status bce_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *x = pg__saved_input(n, 0), *t = pg__saved_input(n, 1), *w = pg__saved_input(n, 2);
    pg_tensor *cnt = NULL;
    if (n->p.loss.reduction == PG_REDUCTION_MEAN) {
        TRY(c, pg__scalar(x->dtype, (double)x->numel));
        cnt = c;
    }
    TRY(nx, pg__r1(PG_OP_NEG, x, 0));
    TRY(omx, pg__r1(PG_OP_ADD_SCALAR, nx, 1.0)); /* 1 - p */
    if (pg__node_needs(n, 0)) {
        TRY(d, pg_sub(x, t));
        TRY(gd, pg_mul(g, d));
        TRY(den, pg_mul(omx, x));
        TRY(denc, pg_clamp(den, x->dtype == PG_DTYPE_F64 ? 1e-12 : (double)1e-12f, 0, 1, 0));
        TRY(q, pg_div(gd, denc));
        TRY(qw, pg_mul(q, w));
        dx[0] = cnt ? pg_div(qw, cnt) : PG_NEW_REF(qw);
        if (!dx[0]) goto fail;
    }
    if (pg__node_needs(n, 1)) {
        TRY(odds, pg_div(x, omx));
        TRY(lo, pg__r1(PG_OP_LOG, odds, 0));
        TRY(nlo, pg__r1(PG_OP_NEG, lo, 0));
        TRY(a, pg_mul(nlo, g));
        TRY(aw, pg_mul(a, w));
        dx[1] = cnt ? pg_div(aw, cnt) : PG_NEW_REF(aw);
        if (!dx[1]) goto fail;
    }
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

/* ---- huber_loss: dx = u c, dt = -dx, u = dl/dd (pg__huber_u), c = g, or g / numel for the mean ---- */

static pg_status huber_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *x = pg__saved_input(n, 0), *t = pg__saved_input(n, 1);
    TRY(d, pg_sub(x, t));
    TRY(u, pg__huber_u(d, x, t, &n->p));
    pg_tensor *c = g;
    if (n->p.huber.reduction == PG_REDUCTION_MEAN) {
        TRY(cm, pg_div_scalar(g, (double)x->numel));
        c = cm;
    }
    TRY(r, pg_mul(u, c));
    if (pg__node_needs(n, 0) && !(dx[0] = PG_NEW_REF(r))) goto fail;
    if (pg__node_needs(n, 1) && !(dx[1] = pg_neg(r))) goto fail;
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

/* ---- one_hot: no gradient (an integer result) ---- */

static pg_status one_hot_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    (void)dx, (void)g, (void)n;
    return PG_OK;
}

PG_OPDEF(prelu, prelu_infer, prelu_forward, prelu_backward, prelu_rule);
PG_OPDEF(maxout, maxout_infer, maxout_forward, maxout_backward, maxout_rule);
PG_OPDEF(cross_entropy, ce_infer, ce_forward, ce_backward, cross_entropy_rule);
PG_OPDEF(nll_loss, nll_infer, nll_forward, nll_backward, nll_loss_rule);
PG_OPDEF(one_hot, one_hot_infer, one_hot_forward, one_hot_backward, one_hot_rule);
PG_OPDEF(binary_cross_entropy, bce_infer, bce_forward, bce_backward, bce_rule);
PG_OPDEF(huber_loss, huber_infer, huber_forward, huber_backward, huber_rule);
