/* ops_softmax.c: softmax and log_softmax along one axis, computed stably
 * (the maximum along the axis is subtracted before exponentiating). The
 * tensor is viewed as [outer, n, inner] with the axis in the middle. */
#include "rules_util.h"

#include <math.h>

/* The kernels run over units of work that do not depend on the number of threads: a row of length n when
 * the axis is the last (inner = 1), else a block of up to `w` columns of one [n, inner] slice, whose
 * passes run along rows of w elements (the maximum, then e^(x - m) by kern_vmath's vector exp and the
 * sums, then the result); each unit's values come from one thread. The sums run in double. */
#define PG_SM_BLOCK 512 /* columns of a strided block at most */
#define PG_SM_SHORT 64  /* rows shorter than this run several at once */

typedef struct pg_sm_job {
    void *y;          /* forward: y; backward: dx */
    const void *x, *g; /* forward: x; backward: y (x) and g */
    int64_t outer, n, inner, w, nblk; /* nblk: blocks of w columns per slice */
    bool logsm;
} pg_sm_job;

/* columns per block: the block's n rows within about 1 MiB (a core's L2, where the later passes find them;
 * longer rows for the vector exp than a smaller budget gives), between 16 and PG_SM_BLOCK columns */
static int64_t pg__sm_width(int64_t n, int64_t inner, size_t elem) {
    int64_t w = (int64_t)((1024u << 10) / elem) / (n > 0 ? n : 1);
    w = w < 16 ? 16 : w > PG_SM_BLOCK ? PG_SM_BLOCK : w & ~(int64_t)15;
    return w > inner ? inner : w;
}

#define PG_SOFTMAX_KERNELS(TT, SUF)                                                                \
    /* Σ g[0:n) y[0:n) in double, as pg__sum_contig */                                                    \
    static double sm_dot_##SUF(const TT *g, const TT *y, int64_t n) {                              \
        double lane[16] = {0};                                                                     \
        int64_t i = 0;                                                                             \
        for (; i + 16 <= n; i += 16)                                                               \
            for (int l = 0; l < 16; l++) lane[l] += (double)g[i + l] * (double)y[i + l];           \
        for (int w = 8; w > 0; w /= 2)                                                             \
            for (int l = 0; l < w; l++) lane[l] += lane[l + w];                                    \
        double s = lane[0];                                                                        \
        for (; i < n; i++) s += (double)g[i] * (double)y[i];                                       \
        return s;                                                                                  \
    }                                                                                              \
    /* y_j = e^(x_j - m) / Σ_k e^(x_k - m)   or   y_j = (x_j - m) - log Σ_k e^(x_k - m), m the row's  \
     * maximum, 0 when it is -inf (a row of -inf gives 0/0 = NaN, as the formula); a +inf or NaN       \
     * maximum makes the sum NaN, and the whole row NaN (PyTorch's values) */                      \
    static void sm_fwd_row_##SUF(TT *restrict y, const TT *restrict x, int64_t n, bool logsm) {    \
        TT m = pg__max_contig_##SUF(x, n, -INFINITY);                                              \
        if (m == -INFINITY) m = 0;                                                                 \
        const double s = pg__expsum_##SUF(x, n, m, logsm ? NULL : y);                              \
        if (logsm) {                                                                               \
            const TT ls = (TT)log(s);                                                              \
            PG_IVDEP for (int64_t j = 0; j < n; j++) y[j] = (x[j] - m) - ls;                       \
            return;                                                                                \
        }                                                                                          \
        const TT st = (TT)s;                                                                       \
        PG_IVDEP for (int64_t j = 0; j < n; j++) y[j] /= st;                                       \
    }                                                                                              \
    /* the same over a block of w columns of a [n, inner] slice: x, y at its first element */      \
    static void sm_fwd_cols_##SUF(TT *restrict y, const TT *restrict x, int64_t n, int64_t inner,  \
                                  int64_t w, bool logsm) {                                         \
        TT m[PG_SM_BLOCK], t[PG_SM_BLOCK];                                                         \
        double s[PG_SM_BLOCK];                                                                     \
        for (int64_t i = 0; i < w; i++) m[i] = -INFINITY, s[i] = 0;                                \
        for (int64_t j = 0; j < n; j++) {                                                          \
            const TT *xr = x + j * inner;                                                          \
            PG_IVDEP for (int64_t i = 0; i < w; i++) {                                             \
                TT v = xr[i], b = m[i];                                                            \
                m[i] = v > b || v != v ? v : b;                                                    \
            }                                                                                      \
        }                                                                                          \
        for (int64_t i = 0; i < w; i++)                                                            \
            if (m[i] == -INFINITY) m[i] = 0;                                                       \
        for (int64_t j = 0; j < n; j++) {                                                          \
            const TT *xr = x + j * inner;                                                          \
            TT *e = logsm ? t : y + j * inner;                                                     \
            PG_IVDEP for (int64_t i = 0; i < w; i++) e[i] = xr[i] - m[i];                          \
            pg__vm_##SUF(PG_VM_EXP, e, NULL, e, w, 1.0);                                           \
            for (int64_t i = 0; i < w; i++) s[i] += e[i];                                          \
        }                                                                                          \
        if (logsm)                                                                                 \
            for (int64_t i = 0; i < w; i++) t[i] = (TT)log(s[i]);                                  \
        else                                                                                       \
            for (int64_t i = 0; i < w; i++) t[i] = (TT)s[i];                                       \
        for (int64_t j = 0; j < n; j++) {                                                          \
            const TT *xr = x + j * inner;                                                          \
            TT *yr = y + j * inner;                                                                \
            if (logsm) {                                                                           \
                PG_IVDEP for (int64_t i = 0; i < w; i++) yr[i] = (xr[i] - m[i]) - t[i];            \
            } else {                                                                               \
                PG_IVDEP for (int64_t i = 0; i < w; i++) yr[i] /= t[i];                            \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* softmax:     dx_j = y_j (g_j - Σ_k g_k y_k)                                                \
     * log_softmax: dx_j = g_j - e^(y_j) Σ_k g_k */                                               \
    static void sm_bwd_row_##SUF(TT *restrict dx, const TT *restrict g, const TT *restrict y,      \
                                 int64_t n, bool logsm) {                                          \
        if (logsm) {                                                                               \
            const TT s = (TT)pg__sum_contig_##SUF(g, n);                                           \
            pg__vm_##SUF(PG_VM_EXP, dx, NULL, y, n, 1.0);                                          \
            PG_IVDEP for (int64_t j = 0; j < n; j++) dx[j] = g[j] - dx[j] * s;                     \
            return;                                                                                \
        }                                                                                          \
        const TT s = (TT)sm_dot_##SUF(g, y, n);                                                    \
        PG_IVDEP for (int64_t j = 0; j < n; j++) dx[j] = y[j] * (g[j] - s);                        \
    }                                                                                              \
    static void sm_bwd_cols_##SUF(TT *restrict dx, const TT *restrict g, const TT *restrict y,     \
                                  int64_t n, int64_t inner, int64_t w, bool logsm) {               \
        double s[PG_SM_BLOCK];                                                                     \
        TT t[PG_SM_BLOCK];                                                                         \
        for (int64_t i = 0; i < w; i++) s[i] = 0;                                                  \
        for (int64_t j = 0; j < n; j++) {                                                          \
            const TT *gr = g + j * inner, *yr = y + j * inner;                                     \
            if (logsm)                                                                             \
                for (int64_t i = 0; i < w; i++) s[i] += gr[i];                                     \
            else                                                                                   \
                for (int64_t i = 0; i < w; i++) s[i] += (double)gr[i] * (double)yr[i];             \
        }                                                                                          \
        for (int64_t i = 0; i < w; i++) t[i] = (TT)s[i];                                           \
        for (int64_t j = 0; j < n; j++) {                                                          \
            const TT *gr = g + j * inner, *yr = y + j * inner;                                     \
            TT *dr = dx + j * inner;                                                               \
            if (logsm) {                                                                           \
                pg__vm_##SUF(PG_VM_EXP, dr, NULL, yr, w, 1.0);                                     \
                PG_IVDEP for (int64_t i = 0; i < w; i++) dr[i] = gr[i] - dr[i] * t[i];             \
            } else {                                                                               \
                PG_IVDEP for (int64_t i = 0; i < w; i++) dr[i] = yr[i] * (gr[i] - t[i]);           \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* rows [0, rows) of n < PG_SM_SHORT elements at once: one vector exp over them all            \
     * (pg__rows_expsum), where a row's own call would cost more than its arithmetic */           \
    static void sm_short_##SUF(TT *restrict y, const TT *restrict x, const TT *restrict g, int64_t rows, \
                               int64_t n, bool logsm) {                                            \
        TT m[PG_ROWS_EXPSUM_MAX], t[PG_ROWS_EXPSUM_MAX];                                           \
        double s[PG_ROWS_EXPSUM_MAX];                                                              \
        if (g) { /* backward: x holds y */                                                         \
            if (!logsm) {                                                                          \
                for (int64_t r = 0; r < rows; r++) sm_bwd_row_##SUF(y + r * n, g + r * n, x + r * n, n, false); \
                return;                                                                            \
            }                                                                                      \
            pg__vm_##SUF(PG_VM_EXP, y, NULL, x, rows * n, 1.0);                                    \
            for (int64_t r = 0; r < rows; r++) {                                                   \
                const TT sr = (TT)pg__sum_contig_##SUF(g + r * n, n);                              \
                for (int64_t k = r * n; k < (r + 1) * n; k++) y[k] = g[k] - y[k] * sr;             \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        pg__rows_expsum_##SUF(x, rows, n, false, m, s, logsm ? t : y);                             \
        for (int64_t r = 0; r < rows; r++) {                                                       \
            if (logsm) {                                                                           \
                const TT ls = (TT)log(s[r]);                                                       \
                for (int64_t k = r * n; k < (r + 1) * n; k++) y[k] = (x[k] - m[r]) - ls;           \
            } else {                                                                               \
                const TT st = (TT)s[r];                                                            \
                for (int64_t k = r * n; k < (r + 1) * n; k++) y[k] /= st;                          \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* units [lo, hi): rows (inner = 1), or blocks (slice u / nblk, columns (u % nblk) w on) */    \
    PG_CLONES static void sm_run_##SUF(void *ctx, int64_t lo, int64_t hi, bool bwd) {              \
        const pg_sm_job *j = ctx;                                                                  \
        const int64_t n = j->n, inner = j->inner;                                                  \
        if (inner == 1 && n < PG_SM_SHORT) {                                                       \
            for (int64_t u = lo; u < hi; u += PG_ROWS_EXPSUM_MAX / n) {                            \
                const int64_t rows = hi - u < PG_ROWS_EXPSUM_MAX / n ? hi - u : PG_ROWS_EXPSUM_MAX / n; \
                sm_short_##SUF((TT *)j->y + u * n, (const TT *)j->x + u * n,                       \
                               bwd ? (const TT *)j->g + u * n : NULL, rows, n, j->logsm);          \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        for (int64_t u = lo; u < hi; u++) {                                                        \
            int64_t off, w = 0;                                                                    \
            if (inner == 1) {                                                                      \
                off = u * n;                                                                       \
            } else {                                                                               \
                int64_t c0 = (u % j->nblk) * j->w;                                                 \
                off = (u / j->nblk) * n * inner + c0;                                              \
                w = inner - c0 < j->w ? inner - c0 : j->w;                                         \
            }                                                                                      \
            TT *y = (TT *)j->y + off;                                                              \
            const TT *x = (const TT *)j->x + off;                                                  \
            if (!bwd) {                                                                            \
                if (inner == 1) sm_fwd_row_##SUF(y, x, n, j->logsm);                               \
                else sm_fwd_cols_##SUF(y, x, n, inner, w, j->logsm);                               \
            } else {                                                                               \
                const TT *g = (const TT *)j->g + off;                                              \
                if (inner == 1) sm_bwd_row_##SUF(y, g, x, n, j->logsm);                            \
                else sm_bwd_cols_##SUF(y, g, x, n, inner, w, j->logsm);                            \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void sm_fwd_##SUF(void *ctx, int64_t lo, int64_t hi) { sm_run_##SUF(ctx, lo, hi, false); } \
    static void sm_bwd_##SUF(void *ctx, int64_t lo, int64_t hi) { sm_run_##SUF(ctx, lo, hi, true); }
PG_SOFTMAX_KERNELS(float, f32)
PG_SOFTMAX_KERNELS(double, f64)

/* the units of [outer, n, inner] (see pg_sm_job), run over the pool: a unit's grain is its elements */
static void pg__sm_parallel(pg_sm_job *j, bool f64, bool bwd) {
    int64_t units, per;
    if (j->inner == 1) {
        units = j->outer;
        per = j->n;
    } else {
        j->w = pg__sm_width(j->n, j->inner, f64 ? sizeof(double) : sizeof(float));
        j->nblk = (j->inner + j->w - 1) / j->w;
        units = j->outer * j->nblk;
        per = j->n * j->w;
    }
    int64_t grain = per > 0 && PG_NDITER_GRAIN / per > 1 ? PG_NDITER_GRAIN / per : 1;
    pg__parallel_range(units, 1, grain, f64 ? (bwd ? sm_bwd_f64 : sm_fwd_f64) : (bwd ? sm_bwd_f32 : sm_fwd_f32), j);
}

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
    pg_sm_job j = {.y = out->data, .x = in[0]->data, .outer = outer, .n = n, .inner = inner,
                   .logsm = p->op == PG_OP_LOG_SOFTMAX};
    pg_unlocked u = pg__unlock_host(out->numel);
    pg__sm_parallel(&j, out->dtype == PG_DTYPE_F64, false);
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
    pg_sm_job j = {.y = d->data, .x = n->saved[0]->data, .g = g->data, .outer = outer, .n = len, .inner = inner,
                   .logsm = n->op == PG_OP_LOG_SOFTMAX};
    pg_unlocked u = pg__unlock_host(d->numel);
    pg__sm_parallel(&j, g->dtype == PG_DTYPE_F64, true);
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
