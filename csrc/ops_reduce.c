/* ops_reduce.c: the ops sum, mean, max, min, logsumexp and norm (the 2-norm)
 * over any set of axes (with keepdims), and the running sum cumsum and
 * product cumprod along one axis: rows, shape inference, forward
 * (pg__reduce_into, kern_reduce.c), backward kernels, rule and entry points. */
#include "rules_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PG_RED_BWD_ROWS(TT, SUF)                                                                 \
    /* count of elements equal to the extreme they produced (a NaN extreme: the NaNs) */         \
    static void tie_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {       \
        TT *cnt = (TT *)ptr[0];                                                                  \
        const TT *x = (const TT *)ptr[1], *m = (const TT *)ptr[2];                               \
        (void)ctx;                                                                               \
        if (st[0] == 0 && st[2] == 0 && st[1] == 1) { /* one count along a contiguous row */    \
            const TT b = m[0];                                                                   \
            const bool bn = b != b;                                                              \
            int64_t c = 0;                                                                       \
            PG_IVDEP for (int64_t i = 0; i < n; i++) c += x[i] == b || (bn && x[i] != x[i]);     \
            cnt[0] += (TT)c;                                                                     \
            return;                                                                              \
        }                                                                                        \
        if (st[0] == 1 && st[1] == 1 && st[2] == 1) { /* elementwise over contiguous rows */     \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                           \
                TT a = x[i], b = m[i];                                                           \
                cnt[i] += a == b || (a != a && b != b) ? (TT)1 : (TT)0;                          \
            }                                                                                    \
            return;                                                                              \
        }                                                                                        \
        if (st[0] == 0 && st[2] == 0) { /* one count: in a register */                          \
            TT c = cnt[0], b = m[0];                                                             \
            for (int64_t i = 0; i < n; i++) {                                                    \
                TT a = x[i * st[1]];                                                             \
                if (a == b || (a != a && b != b)) c += 1;                                        \
            }                                                                                    \
            cnt[0] = c;                                                                          \
            return;                                                                              \
        }                                                                                        \
        for (int64_t i = 0; i < n; i++) {                                                        \
            TT a = x[i * st[1]], b = m[i * st[2]];                                               \
            if (a == b || (a != a && b != b)) cnt[i * st[0]] += 1;                               \
        }                                                                                        \
    }                                                                                            \
    /* dx = x ties m ? g / count : 0   (ties split the gradient equally) */                      \
    static void argext_bwd_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        TT *dx = (TT *)ptr[0];                                                                   \
        const TT *x = (const TT *)ptr[1], *m = (const TT *)ptr[2], *gc = (const TT *)ptr[3];     \
        (void)ctx;                                                                               \
        if (st[0] == 1 && st[1] == 1 && st[2] == 0 && st[3] == 0) { /* one extreme along a row */ \
            const TT b = m[0], v = gc[0];                                                        \
            const bool bn = b != b;                                                              \
            PG_IVDEP for (int64_t i = 0; i < n; i++) dx[i] = x[i] == b || (bn && x[i] != x[i]) ? v : (TT)0; \
            return;                                                                              \
        }                                                                                        \
        if (st[0] == 1 && st[1] == 1 && st[2] == 1 && st[3] == 1) { /* elementwise */           \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                           \
                TT a = x[i], b = m[i], v = gc[i]; /* read whatever the test: a select, vectorised */ \
                dx[i] = a == b || (a != a && b != b) ? v : (TT)0;                                \
            }                                                                                    \
            return;                                                                              \
        }                                                                                        \
        for (int64_t i = 0; i < n; i++) {                                                        \
            TT a = x[i * st[1]], b = m[i * st[2]];                                               \
            dx[i * st[0]] = a == b || (a != a && b != b) ? gc[i * st[3]] : (TT)0;                \
        }                                                                                        \
    }                                                                                            \
    /* dx = g broadcast, times a scale */                                                        \
    static void bcast_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {     \
        TT *dx = (TT *)ptr[0];                                                                   \
        const TT *g = (const TT *)ptr[1];                                                        \
        const double *div = ctx;                                                                 \
        if (st[0] == 1 && st[1] == 0) { /* a value spread over a row: one constant, stored */    \
            const TT v = div ? g[0] / (TT)*div : g[0];                                           \
            for (int64_t i = 0; i < n; i++) dx[i] = v;                                           \
        } else if (st[0] == 1 && st[1] == 1) { /* a row of g itself (a reduction over outer dims) */ \
            if (div)                                                                             \
                for (int64_t i = 0; i < n; i++) dx[i] = g[i] / (TT)*div;                         \
            else                                                                                 \
                memcpy(dx, g, sizeof(TT) * (size_t)n);                                           \
        } else if (div)                                                                          \
            for (int64_t i = 0; i < n; i++) dx[i * st[0]] = g[i * st[1]] / (TT)*div;             \
        else                                                                                     \
            for (int64_t i = 0; i < n; i++) dx[i * st[0]] = g[i * st[1]];                        \
    }
PG_RED_BWD_ROWS(float, f32)
PG_RED_BWD_ROWS(double, f64)

/* norm's backward: dx = x s, s (reduced layout, as y and g) = g / y of x's result; where that overflowed
 * (y tiny, g finite), dx = (x / y) g (|x / y| <= 1). ctx: any overflowed (else the plain product) */
#define PG_NORM_BWD_ROW(TT, SUF)                                                                 \
    static void norm_bwd_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {  \
        TT *dx = (TT *)ptr[0];                                                                   \
        const TT *x = (const TT *)ptr[1], *s = (const TT *)ptr[2];                               \
        const TT *y = (const TT *)ptr[3], *g = (const TT *)ptr[4];                               \
        if (*(const bool *)ctx) {                                                                \
            for (int64_t i = 0; i < n; i++) {                                                    \
                TT si = s[i * st[2]], yi = y[i * st[3]], gi = g[i * st[4]];                      \
                dx[i * st[0]] = isinf(si) && isfinite(gi) ? x[i * st[1]] / yi * gi : x[i * st[1]] * si; \
            }                                                                                    \
            return;                                                                              \
        }                                                                                        \
        if (st[0] == 1 && st[1] == 1 && st[2] == 0) { /* along a row of one result */            \
            const TT v = s[0];                                                                   \
            PG_IVDEP for (int64_t i = 0; i < n; i++) dx[i] = x[i] * v;                           \
        } else if (st[0] == 1 && st[1] == 1 && st[2] == 1) { /* across results */                \
            PG_IVDEP for (int64_t i = 0; i < n; i++) dx[i] = x[i] * s[i];                        \
        } else {                                                                                 \
            for (int64_t i = 0; i < n; i++) dx[i * st[0]] = x[i * st[1]] * s[i * st[2]];         \
        }                                                                                        \
    }
PG_NORM_BWD_ROW(float, f32)
PG_NORM_BWD_ROW(double, f64)

/* logsumexp's rows take e^t from kern_vmath's vector exp, PG_LSE_CHUNK
 * elements at a time through a buffer on the stack (the operands may be
 * strided), in the same order as one at a time */
#define PG_LSE_CHUNK 256
#define PG_LSE_ROWS(TT, SUF)                                                                      \
    /* s += e^(x - m)   (s: the float64 accumulator, m: the row's maximum, 0 if not finite) */    \
    static void lse_sum_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {    \
        double *s = (double *)ptr[0];                                                            \
        const TT *x = (const TT *)ptr[1], *m = (const TT *)ptr[2];                               \
        TT t[PG_LSE_CHUNK]; /* x - m, then e^(x - m) */                                           \
        (void)ctx;                                                                               \
        for (int64_t i0 = 0; i0 < n; i0 += PG_LSE_CHUNK) {                                       \
            int64_t c = n - i0 < PG_LSE_CHUNK ? n - i0 : PG_LSE_CHUNK;                           \
            if (st[1] == 1 && st[2] == 0)                                                        \
                for (int64_t k = 0; k < c; k++) t[k] = x[i0 + k] - m[0];                         \
            else                                                                                 \
                for (int64_t k = 0; k < c; k++) t[k] = x[(i0 + k) * st[1]] - m[(i0 + k) * st[2]]; \
            pg__vm_##SUF(PG_VM_EXP, t, NULL, t, c, 1.0);                                         \
            if (st[0] == 0) { /* one sum: in a register, the same additions in order */          \
                double a = s[0];                                                                 \
                for (int64_t k = 0; k < c; k++) a += (double)t[k];                               \
                s[0] = a;                                                                        \
            } else {                                                                             \
                for (int64_t k = 0; k < c; k++) s[(i0 + k) * st[0]] += (double)t[k];              \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    /* forward y = m + log s;  backward dx = g e^(x - y) (softmax of x times g) */               \
    static void lse_bwd_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {    \
        TT *dx = (TT *)ptr[0];                                                                   \
        const TT *x = (const TT *)ptr[1], *y = (const TT *)ptr[2], *g = (const TT *)ptr[3];      \
        TT t[PG_LSE_CHUNK], gb[PG_LSE_CHUNK]; /* x - y and g, then g e^(x - y) */                 \
        (void)ctx;                                                                               \
        for (int64_t i0 = 0; i0 < n; i0 += PG_LSE_CHUNK) {                                       \
            int64_t c = n - i0 < PG_LSE_CHUNK ? n - i0 : PG_LSE_CHUNK;                           \
            for (int64_t k = 0; k < c; k++) {                                                    \
                t[k] = x[(i0 + k) * st[1]] - y[(i0 + k) * st[2]];                                \
                gb[k] = g[(i0 + k) * st[3]];                                                     \
            }                                                                                    \
            pg__vm_##SUF(PG_VM_EXP, t, gb, t, c, 1.0);                                           \
            for (int64_t k = 0; k < c; k++) dx[(i0 + k) * st[0]] = t[k];                         \
        }                                                                                        \
    }
PG_LSE_ROWS(float, f32)
PG_LSE_ROWS(double, f64)

static const char *pg__reduce_name(int op) { return pg_optable[op]->name; }

static pg_status reduce_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const char *name = pg__reduce_name(p->op);
    const pg_tensor *x = in[0];
    if ((p->op == PG_OP_MEAN || p->op == PG_OP_NORM) && pg__check_float(name, x)) return PG_ERR_TYPE;
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
    int kind = p->op == PG_OP_MAX ? PG_R_MAX : p->op == PG_OP_MIN ? PG_R_MIN : p->op == PG_OP_NORM ? PG_R_NORM2 : PG_R_SUM;
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

/* ---- logsumexp: y = m + log Σ e^(x - m), m the maximum over the axes (0 where it is
 * not finite, so all -inf gives -inf and +inf gives +inf);  dx = g e^(x - y) ---- */

static pg_status lse_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    pg_meta xm;
    pg__meta_of(&xm, x);
    unsigned axes = p->reduce.axes;
    int f64 = x->dtype == PG_DTYPE_F64;
    if (out->numel == 0) return PG_OK;
    if (pg__reduced_count(&xm, axes) == 0) { /* log of an empty sum */
        for (int64_t i = 0; i < out->numel; i++) {
            if (f64) ((double *)out->data)[i] = -INFINITY;
            else ((float *)out->data)[i] = -INFINITY;
        }
        return PG_OK;
    }
    pg_status st = pg__reduce_into(out, x, axes, PG_R_MAX, false); /* out <- m */
    if (st) return st;
    double *s = calloc((size_t)out->numel, sizeof(double));
    if (!s) return pg__fail(PG_ERR_MEMORY, "logsumexp: out of memory");
    pg_unlocked u = pg__unlock_host(x->numel);
    for (int64_t i = 0; i < out->numel; i++) {
        if (f64) {
            double *m = out->data;
            if (!isfinite(m[i]) && !isnan(m[i])) m[i] = 0;
        } else {
            float *m = out->data;
            if (!isfinite(m[i]) && !isnan(m[i])) m[i] = 0;
        }
    }
    char *ops[2] = {x->data, out->data};
    size_t es = pg__dtype_size(x->dtype), ess[2] = {es, es};
    bool lay[2] = {false, true};
    pg__reduce_run(&xm, axes, (char *)s, sizeof(double), 2, ops, ess, lay, f64 ? lse_sum_row_f64 : lse_sum_row_f32,
                   NULL);
    pg__vm_f64(PG_VM_LOG, s, NULL, s, out->numel, 1.0); /* s <- log s, vectorised */
    for (int64_t i = 0; i < out->numel; i++) {
        if (f64) {
            double *y = out->data;
            y[i] += s[i];
        } else {
            float *y = out->data;
            y[i] = (float)((double)y[i] + s[i]);
        }
    }
    pg__relock_host(u);
    free(s);
    return PG_OK;
}

static pg_status lse_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_meta *xm = &n->edges[0].meta;
    const pg_tensor *x = n->saved[0], *y = n->saved[1];
    pg_tensor *d = pg__tensor_new_like(xm);
    if (!d) return PG_ERR_MEMORY;
    size_t es = pg__dtype_size(g->dtype);
    int64_t st[4][PG_MAX_DIMS];
    pg__strides(xm->ndim, xm->shape, st[0]);
    pg__strides(xm->ndim, xm->shape, st[1]);
    pg__reduced_strides(xm, n->p.reduce.axes, st[2]);
    pg__reduced_strides(xm, n->p.reduce.axes, st[3]);
    char *base[4] = {d->data, x->data, y->data, g->data};
    size_t esz[4] = {es, es, es, es};
    pg_nditer it;
    pg__nditer_init(&it, xm->ndim, xm->shape, 4, st);
    pg__nditer_run(&it, base, esz, g->dtype == PG_DTYPE_F64 ? lse_bwd_row_f64 : lse_bwd_row_f32, NULL);
    dx[0] = d;
    return PG_OK;
}

pg_tensor *pg_logsumexp(pg_tensor *x, unsigned axes, int keepdims) {
    return pg__reduce(PG_OP_LOGSUMEXP, x, axes, keepdims);
}

/* ---- norm: y = √Σ x² over the axes, the sum in double (pg__reduce_into's PG_R_NORM2: neither
 * overflows nor underflows);  dx = x (g / y), 0 where y = 0 (x is all 0 there: PyTorch's rule), and
 * (x / y) g where g / y overflows (y tiny: |x / y| <= 1, so dx does not) ---- */

static pg_status norm_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_meta *xm = &n->edges[0].meta;
    const pg_tensor *x = n->saved[0], *y = n->saved[1];
    bool f64 = g->dtype == PG_DTYPE_F64;
    pg_tensor *s = pg__tensor_new_like(&n->out_meta), *d = pg__tensor_new_like(xm);
    if (!s || !d) {
        pg_tensor_release(s);
        pg_tensor_release(d);
        return pg__fail(PG_ERR_MEMORY, "norm backward: out of memory");
    }
    bool over = false; /* s = g / y, 0 where y = 0; over: it overflowed somewhere */
    for (int64_t i = 0; i < s->numel; i++) {
        if (f64) {
            double yi = ((const double *)y->data)[i], gi = ((const double *)g->data)[i];
            double si = ((double *)s->data)[i] = yi == 0 ? 0.0 : gi / yi;
            over |= isinf(si) && isfinite(gi);
        } else {
            float yi = ((const float *)y->data)[i], gi = ((const float *)g->data)[i];
            float si = ((float *)s->data)[i] = yi == 0 ? 0.0f : gi / yi;
            over |= isinf(si) && isfinite(gi);
        }
    }
    size_t es = pg__dtype_size(g->dtype);
    int64_t st[5][PG_MAX_DIMS];
    pg__strides(xm->ndim, xm->shape, st[0]);
    pg__strides(xm->ndim, xm->shape, st[1]);
    for (int k = 2; k < 5; k++) pg__reduced_strides(xm, n->p.reduce.axes, st[k]);
    char *base[5] = {d->data, x->data, s->data, y->data, g->data};
    size_t esz[5] = {es, es, es, es, es};
    pg_nditer it;
    pg__nditer_init(&it, xm->ndim, xm->shape, 5, st);
    pg__nditer_run(&it, base, esz, f64 ? norm_bwd_row_f64 : norm_bwd_row_f32, &over);
    pg_tensor_release(s);
    dx[0] = d;
    return PG_OK;
}

pg_tensor *pg_norm(pg_tensor *x, unsigned axes, int keepdims) { return pg__reduce(PG_OP_NORM, x, axes, keepdims); }

/* ---- cumsum: y_i = Σ_{j≤i} x_j along the axis (reverse: Σ_{j≥i});  dx = the running sum
 * of g in the other direction. The tensor is viewed as [outer, n, inner]. ---- */

/* cumsum's and cumprod's: a float tensor, a dim in range */
static pg_status scan_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    const char *name = pg_optable[p->op]->name;
    if (pg__check_float(name, x)) return PG_ERR_TYPE;
    int nd = x->ndim ? x->ndim : 1;
    if (p->scan.axis < 0 || p->scan.axis >= nd) {
        char b[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "%s: dim %d is out of range for a tensor of shape %s", name, p->scan.axis,
                        pg__shape_str(x->ndim, x->shape, b, sizeof b));
    }
    pg__meta_of(out, x);
    return PG_OK;
}

/* The running sum in each row's order, one add per element (y_0 = x_0, y_k = y_{k-1} + x_k), whatever the
 * path: the same bits on every path and thread count. Along a contiguous dim (inner 1) a row is one tight
 * loop, a chain of adds one add's latency apart (running 8 rows side by side was 5x slower: a row's loads
 * then wait on the stores to the row before, 4 KiB away when rows are); along another dim a unit is
 * one outer slice, its rows added as vectors, whole rows: one sweep of memory (blocks of 512 columns of
 * 4096 x 1024 ran 2.5 ms against 1.2, on one thread or two). Rows or slices over the threads. */
typedef struct pg_scan_job {
    void *y;
    const void *x;
    int64_t outer, n, inner;
    bool rev;
} pg_scan_job;

#define PG_SCAN_KERNEL(TT, SUF)                                                                      \
    /* rows [r0, r1) of length n, contiguous: y[r, j] = y[r, j -/+ 1] + x[r, j] */                 \
    static void cumsum_rows_##SUF(void *ctx, int64_t r0, int64_t r1) {                             \
        const pg_scan_job *q = ctx;                                                                \
        const int64_t n = q->n;                                                                    \
        for (int64_t r = r0; r < r1; r++) {                                                        \
            TT *y = (TT *)q->y + r * n;                                                            \
            const TT *x = (const TT *)q->x + r * n;                                                \
            TT acc = 0;                                                                            \
            if (q->rev) {                                                                          \
                y[n - 1] = acc = x[n - 1];                                                         \
                for (int64_t k = n - 2; k >= 0; k--) y[k] = acc = acc + x[k];                      \
            } else {                                                                               \
                y[0] = acc = x[0];                                                                 \
                for (int64_t k = 1; k < n; k++) y[k] = acc = acc + x[k];                           \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* slices [u0, u1) (inner > 1): y[o, j, c] = y[o, j -/+ 1, c] + x[o, j, c] */                 \
    static void cumsum_cols_##SUF(void *ctx, int64_t u0, int64_t u1) {                             \
        const pg_scan_job *q = ctx;                                                                \
        const int64_t n = q->n, inner = q->inner;                                                  \
        for (int64_t o = u0; o < u1; o++) {                                                        \
            for (int64_t k = 0; k < n; k++) {                                                      \
                int64_t j = q->rev ? n - 1 - k : k;                                                \
                TT *restrict yr = (TT *)q->y + (o * n + j) * inner;                                \
                const TT *restrict xr = (const TT *)q->x + (o * n + j) * inner;                    \
                if (k == 0) {                                                                      \
                    for (int64_t i = 0; i < inner; i++) yr[i] = xr[i];                             \
                } else {                                                                           \
                    const TT *restrict prev = q->rev ? yr + inner : yr - inner;                    \
                    for (int64_t i = 0; i < inner; i++) yr[i] = prev[i] + xr[i];                   \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }
PG_SCAN_KERNEL(float, f32)
PG_SCAN_KERNEL(double, f64)

static void pg__cumsum_run(pg_tensor *y, const pg_tensor *x, int axis, bool rev) {
    if (x->numel == 0) return;
    pg_scan_job q = {.y = y->data, .x = x->data, .rev = rev};
    q.outer = x->ndim ? pg__numel(axis, x->shape) : 1;
    q.n = x->ndim ? x->shape[axis] : 1;
    q.inner = x->ndim ? pg__numel(x->ndim - axis - 1, x->shape + axis + 1) : 1;
    bool f64 = x->dtype == PG_DTYPE_F64;
    if (q.inner == 1) {
        int64_t grain = PG_NDITER_GRAIN / q.n;
        pg__parallel_range(q.outer, 1, grain > 1 ? grain : 1, f64 ? cumsum_rows_f64 : cumsum_rows_f32, &q);
    } else {
        int64_t grain = PG_NDITER_GRAIN / (q.n * q.inner);
        pg__parallel_range(q.outer, 1, grain > 1 ? grain : 1, f64 ? cumsum_cols_f64 : cumsum_cols_f32, &q);
    }
}

static pg_status cumsum_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg__cumsum_run(out, in[0], p->scan.axis, p->scan.reverse);
    return PG_OK;
}

static pg_status cumsum_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return PG_ERR_MEMORY;
    pg__cumsum_run(d, g, n->p.scan.axis, !n->p.scan.reverse);
    dx[0] = d;
    return PG_OK;
}

pg_tensor *pg_cumsum(pg_tensor *x, int axis, int reverse) {
    if (pg__check_tensor("cumsum", x)) return NULL;
    int nd = x->ndim ? x->ndim : 1;
    if (axis < -nd || axis >= nd) {
        char b[PG_SHAPE_BUF];
        pg__fail(PG_ERR_SHAPE, "cumsum: dim %d is out of range for a tensor of shape %s", axis,
                 pg__shape_str(x->ndim, x->shape, b, sizeof b));
        return NULL;
    }
    pg_params p = {0};
    p.scan.axis = axis < 0 ? axis + nd : axis;
    p.scan.reverse = reverse != 0;
    return pg__apply_float1(PG_OP_CUMSUM, x, &p);
}

/* ---- differentiable rules (create_graph) ---- */

/* logsumexp: g e^(x - y), with y the differentiable output */
static pg_status lse_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    const pg_meta *xm = &n->edges[0].meta;
    pg_meta km;
    pg__keepdims_meta(&km, xm, n->p.reduce.axes);
    pg_tensor *x = pg__saved_input(n, 0);
    TRY(y, pg__out_diff(n));
    TRY(yk, pg_reshape(y, km.ndim, km.shape));
    TRY(gk, pg_reshape(g, km.ndim, km.shape));
    TRY(t, pg__apply2(PG_OP_SUB, x, yk));
    TRY(e, pg__r1(PG_OP_EXP, t, 0));
    pg_tensor *r = pg__apply2(PG_OP_MUL, e, gk);
    if (!r) goto fail;
    dx[0] = r;
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

/* norm: dx = x (g / (y + m)), m = [y = 0] a constant (x is 0 where y is: there dx = x g = 0, as the kernel's) */
static pg_status norm_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    const pg_meta *xm = &n->edges[0].meta;
    pg_meta km;
    pg__keepdims_meta(&km, xm, n->p.reduce.axes);
    pg_tensor *x = pg__saved_input(n, 0);
    TRY(y, pg__out_diff(n));
    TRY(m, pg__const(&n->out_meta, 0.0));
    for (int64_t i = 0; i < m->numel; i++) {
        if (m->dtype == PG_DTYPE_F64) ((double *)m->data)[i] = ((const double *)y->data)[i] == 0;
        else ((float *)m->data)[i] = ((const float *)y->data)[i] == 0;
    }
    TRY(ym, pg__apply2(PG_OP_ADD, y, m));
    TRY(q, pg__apply2(PG_OP_DIV, g, ym));
    TRY(qk, pg_reshape(q, km.ndim, km.shape));
    pg_tensor *r = pg__apply2(PG_OP_MUL, x, qk);
    if (!r) goto fail;
    dx[0] = r;
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

/* cumsum: the running sum of g the other way */
static pg_status cumsum_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    dx[0] = pg_cumsum(g, n->p.scan.axis, !n->p.scan.reverse);
    return dx[0] ? PG_OK : pg_last_status();
}

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
PG_OPDEF(logsumexp, reduce_infer, lse_forward, lse_backward, lse_rule);
PG_OPDEF(norm, reduce_infer, reduce_forward, norm_backward, norm_rule);
PG_OPDEF(cumsum, scan_infer, cumsum_forward, cumsum_backward, cumsum_rule);


/* ---- cumprod: y_i = Π_{j≤i} x_j along the axis ([outer, n, inner] as cumsum). Backward divides by
 * nothing, so it is exact with zeros in x:
 *   dx_i = Σ_{j≥i} g_j Π_{k≤j, k≠i} x_k = y_{i-1} · r_i,   r_i = Σ_{j≥i} g_j Π_{i<k≤j} x_k,
 * r_{n-1} = g_{n-1}, r_i = g_i + x_{i+1} r_{i+1} (a running sum from the end), y_{-1} = 1. ---- */

typedef struct pg_cumprod_job {
    void *dx;                          /* backward: [outer, n, inner] */
    void *y;                           /* forward: written; backward: read */
    const void *x, *g;                 /* [outer, n, inner] */
    int64_t n, inner;
} pg_cumprod_job;

#define PG_CUMPROD_KERNELS(TT, SUF)                                                                     \
    /* y[o, j, i] = y[o, j - 1, i] · x[o, j, i], for o in [o0, o1) */                                   \
    static void cumprod_forward_##SUF(void *ctx, int64_t o0, int64_t o1) {                               \
        const pg_cumprod_job *q = ctx;                                                                    \
        const int64_t n = q->n, inner = q->inner;                                                         \
        for (int64_t o = o0; o < o1; o++) {                                                               \
            TT *restrict y = (TT *)q->y + o * n * inner;                                                  \
            const TT *restrict x = (const TT *)q->x + o * n * inner;                                      \
            if (inner == 1) {                                                                             \
                TT acc = 1;                                                                               \
                for (int64_t j = 0; j < n; j++) y[j] = acc = acc * x[j];                                  \
                continue;                                                                                 \
            }                                                                                             \
            for (int64_t i = 0; i < inner; i++) y[i] = x[i];                                              \
            for (int64_t j = 1; j < n; j++) {                                                             \
                TT *restrict yr = y + j * inner;                                                          \
                const TT *restrict prev = y + (j - 1) * inner, *restrict xr = x + j * inner;              \
                for (int64_t i = 0; i < inner; i++) yr[i] = prev[i] * xr[i];                              \
            }                                                                                             \
        }                                                                                                 \
    }                                                                                                     \
    /* r = g_j + x_{j+1} r (from the end), dx[o, j, i] = y[o, j - 1, i] · r (1 for j = 0); the running  \
     * r of a row with inner > 1 lives in dx's row j + 1 until dx_{j+1} is written from it */            \
    static void cumprod_backward_##SUF(void *ctx, int64_t o0, int64_t o1) {                              \
        const pg_cumprod_job *q = ctx;                                                                    \
        const int64_t n = q->n, inner = q->inner;                                                         \
        for (int64_t o = o0; o < o1; o++) {                                                               \
            TT *restrict dx = (TT *)q->dx + o * n * inner;                                                \
            const TT *restrict x = (const TT *)q->x + o * n * inner;                                      \
            const TT *restrict y = (const TT *)q->y + o * n * inner;                                      \
            const TT *restrict g = (const TT *)q->g + o * n * inner;                                      \
            if (inner == 1) {                                                                             \
                TT r = g[n - 1];                                                                          \
                for (int64_t j = n - 1;; j--) {                                                           \
                    dx[j] = j ? y[j - 1] * r : r;                                                         \
                    if (j == 0) break;                                                                    \
                    r = g[j - 1] + x[j] * r;                                                              \
                }                                                                                         \
                continue;                                                                                 \
            }                                                                                             \
            /* dx row j holds r_j first, then y_{j-1} r_j once row j - 1's r is made from it */           \
            TT *restrict last = dx + (n - 1) * inner;                                                     \
            const TT *restrict gl = g + (n - 1) * inner;                                                  \
            for (int64_t i = 0; i < inner; i++) last[i] = gl[i];                                          \
            for (int64_t j = n - 1; j > 0; j--) {                                                         \
                TT *restrict rj = dx + j * inner, *restrict rp = dx + (j - 1) * inner;                    \
                const TT *restrict xj = x + j * inner, *restrict gp = g + (j - 1) * inner;                \
                const TT *restrict yp = y + (j - 1) * inner;                                               \
                for (int64_t i = 0; i < inner; i++) {                                                     \
                    TT r = rj[i];                                                                         \
                    rp[i] = gp[i] + xj[i] * r;                                                            \
                    rj[i] = yp[i] * r;                                                                    \
                }                                                                                         \
            }                                                                                             \
        }                                                                                                 \
    }
PG_CUMPROD_KERNELS(float, f32)
PG_CUMPROD_KERNELS(double, f64)

static void pg__cumprod_run(bool fwd, pg_cumprod_job *q, const pg_tensor *t, int axis) {
    if (t->numel == 0) return;
    int64_t outer = t->ndim ? pg__numel(axis, t->shape) : 1;
    q->n = t->ndim ? t->shape[axis] : 1;
    q->inner = t->ndim ? pg__numel(t->ndim - axis - 1, t->shape + axis + 1) : 1;
    int64_t grain = PG_NDITER_GRAIN / (q->n * q->inner);
    bool f64 = t->dtype == PG_DTYPE_F64;
    pg_range_fn fn = fwd ? (f64 ? cumprod_forward_f64 : cumprod_forward_f32)
                         : (f64 ? cumprod_backward_f64 : cumprod_backward_f32);
    pg_unlocked u = pg__unlock_host(t->numel);
    pg__parallel_range(outer, 1, grain > 1 ? grain : 1, fn, q);
    pg__relock_host(u);
}

static pg_status cumprod_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg_cumprod_job q = {.y = out->data, .x = in[0]->data};
    pg__cumprod_run(true, &q, in[0], p->scan.axis);
    return PG_OK;
}

static pg_status cumprod_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return pg__fail(PG_ERR_MEMORY, "cumprod backward: out of memory");
    pg_cumprod_job q = {.dx = d->data, .y = n->saved[1]->data, .x = n->saved[0]->data, .g = g->data};
    pg__cumprod_run(false, &q, g, n->p.scan.axis);
    dx[0] = d;
    return PG_OK;
}

pg_tensor *pg_cumprod(pg_tensor *x, int axis) {
    if (pg__check_tensor("cumprod", x)) return NULL;
    int nd = x->ndim ? x->ndim : 1;
    if (axis < -nd || axis >= nd) {
        char b[PG_SHAPE_BUF];
        pg__fail(PG_ERR_SHAPE, "cumprod: dim %d is out of range for a tensor of shape %s", axis,
                 pg__shape_str(x->ndim, x->shape, b, sizeof b));
        return NULL;
    }
    pg_params p = {0};
    p.scan.axis = axis < 0 ? axis + nd : axis;
    return pg__apply_float1(PG_OP_CUMPROD, x, &p);
}

/* cumprod: dx = y_{i-1} · r with r_i = g_i + x_{i+1} r_{i+1}, the recurrence run as a scan of its affine
 * steps r_i = B_i + A_i r_{i+s} in ⌈log₂ n⌉ doublings (B ← B + A·B₊ₛ, A ← A·A₊ₛ; ₊ₛ: shifted by s
 * towards the start, zeros in from the end), with differentiable ops and no division */
static pg_status cumprod_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    const pg_meta *xm = &n->edges[0].meta;
    int axis = n->p.scan.axis;
    int64_t len = xm->ndim ? xm->shape[axis] : 1;
    if (len <= 1) { /* y_{-1} = 1: dx = g */
        dx[0] = pg__r1(PG_OP_MUL_SCALAR, g, 1.0);
        return dx[0] ? PG_OK : pg_last_status();
    }
    int64_t lo[PG_MAX_DIMS] = {0}, hi[PG_MAX_DIMS] = {0};
    pg_tensor *x = pg__saved_input(n, 0), *a = NULL, *b = NULL, *t = NULL, *u = NULL;
    lo[axis] = -1, hi[axis] = 1;
    if (!(a = pg_pad(x, lo, hi, 0.0))) goto fail; /* A_i = x_{i+1} */
    b = g;
    pg_tensor_retain(b);
    for (int64_t s = 1; s < len; s *= 2) { /* each step's a and b replace the last (few tensors held) */
        lo[axis] = -s, hi[axis] = s;
        if (!(t = pg_pad(b, lo, hi, 0.0)) || !(u = pg__apply2(PG_OP_MUL, a, t))) goto fail;
        pg_tensor_release(t);
        t = pg__apply2(PG_OP_ADD, b, u);
        pg_tensor_release(u);
        u = NULL;
        if (!t) goto fail;
        pg_tensor_release(b);
        b = t;
        t = NULL;
        if (2 * s < len) {
            if (!(t = pg_pad(a, lo, hi, 0.0)) || !(u = pg__apply2(PG_OP_MUL, a, t))) goto fail;
            pg_tensor_release(t);
            t = NULL;
            pg_tensor_release(a);
            a = u;
            u = NULL;
        }
    }
    lo[axis] = 1, hi[axis] = -1;
    {
        TRY(y, pg__out_diff(n));
        TRY(prev, pg_pad(y, lo, hi, 1.0)); /* y_{i-1}, 1 at i = 0 */
        dx[0] = pg__apply2(PG_OP_MUL, prev, b);
        if (!dx[0]) goto fail;
    }
    pg_tensor_release(a);
    pg_tensor_release(b);
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg_tensor_release(a);
    pg_tensor_release(b);
    pg_tensor_release(t);
    pg_tensor_release(u);
    pg__keep_free(&keep);
    return pg__rule_status();
}

PG_OPDEF(cumprod, scan_infer, cumprod_forward, cumprod_backward, cumprod_rule);
