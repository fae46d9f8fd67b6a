/* ops_elementwise.c: op-table rows for elementwise ops (unary, scalar,
 * broadcasting binary, clamp, where, cast), plus comparisons and in-place
 * updates, which are never recorded. Each op's forward formula sits right
 * above its backward formula. Reductions: ops_reduce.c. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* type-generic math: the float32 kernels call the float functions */
#define PG_EXP(v) _Generic((v), float: expf, default: exp)(v)
#define PG_EXPM1(v) _Generic((v), float: expm1f, default: expm1)(v)
#define PG_LOG(v) _Generic((v), float: logf, default: log)(v)
#define PG_SQRT(v) _Generic((v), float: sqrtf, default: sqrt)(v)
#define PG_FABS(v) _Generic((v), float: fabsf, default: fabs)(v)
#define PG_TANH(v) _Generic((v), float: tanhf, default: tanh)(v)
#define PG_POW(v, e) _Generic((v), float: powf, default: pow)((v), (e))

/* ======================================================================
 * Unary ops: out and x have one shape; flat loops.
 * Forward EXPR sees x and the params p; backward EXPR sees g (upstream),
 * x (the saved input, when the row saves it), y (the saved output), p.
 * ====================================================================== */

/* fn over [0, n): a direct call when one thread does it all (tiny tensors
 * then skip the dispatch), else split over the pool */
#define PG_UNARY_RUN(n, fn, ctx)                                     \
    do {                                                             \
        if ((n) < 2 * PG_NDITER_GRAIN) fn((ctx), 0, (n));            \
        else pg__parallel_range((n), 64, PG_NDITER_GRAIN, fn, (ctx)); \
    } while (0)

#define PG_UNARY_KERNELS(NAME, FWD, BWD)                                                         \
    PG_CLONES static void NAME##_fwd_f32(float *o, const float *xs, int64_t n, const pg_params *p_in) {       \
        typedef float T;                                                                         \
        /* a local copy: stores to o cannot change it, so its scalars stay in registers */    \
        const pg_params p_ = p_in ? *p_in : (pg_params){0}, *p = &p_; /* NULL: no params */      \
        (void)p;                                                                                 \
        PG_IVDEP for (int64_t i = 0; i < n; i++) {                                               \
            T x = xs[i];                                                                         \
            o[i] = (FWD);                                                                        \
        }                                                                                        \
    }                                                                                            \
    PG_CLONES static void NAME##_fwd_f64(double *o, const double *xs, int64_t n, const pg_params *p_in) {     \
        typedef double T;                                                                        \
        /* a local copy: stores to o cannot change it, so its scalars stay in registers */    \
        const pg_params p_ = p_in ? *p_in : (pg_params){0}, *p = &p_; /* NULL: no params */      \
        (void)p;                                                                                 \
        PG_IVDEP for (int64_t i = 0; i < n; i++) {                                               \
            T x = xs[i];                                                                         \
            o[i] = (FWD);                                                                        \
        }                                                                                        \
    }                                                                                            \
    PG_CLONES static void NAME##_bwd_f32(float *dx, const float *gs, const float *xs, const float *ys,     \
                               int64_t n, const pg_params *p) {                                  \
        typedef float T;                                                                         \
        (void)p, (void)xs, (void)ys;                                                             \
        PG_IVDEP for (int64_t i = 0; i < n; i++) {                                               \
            T g = gs[i], x = xs ? xs[i] : 0, y = ys ? ys[i] : 0;                                 \
            (void)x, (void)y;                                                                    \
            dx[i] = (BWD);                                                                       \
        }                                                                                        \
    }                                                                                            \
    PG_CLONES static void NAME##_bwd_f64(double *dx, const double *gs, const double *xs, const double *ys, \
                               int64_t n, const pg_params *p) {                                  \
        typedef double T;                                                                        \
        (void)p, (void)xs, (void)ys;                                                             \
        PG_IVDEP for (int64_t i = 0; i < n; i++) {                                               \
            T g = gs[i], x = xs ? xs[i] : 0, y = ys ? ys[i] : 0;                                 \
            (void)x, (void)y;                                                                    \
            dx[i] = (BWD);                                                                       \
        }                                                                                        \
    }                                                                                            \
    /* [lo, hi) of a forward (gs == NULL) or backward, for pg__parallel_range */                 \
    static void NAME##_range(void *ctx, int64_t lo, int64_t hi) {                                \
        const pg_unary_job *j = ctx;                                                             \
        if (j->f64) {                                                                            \
            const double *xs = j->xs, *ys = j->ys;                                               \
            if (!j->gs)                                                                          \
                NAME##_fwd_f64((double *)j->o + lo, xs + lo, hi - lo, j->p);                     \
            else                                                                                 \
                NAME##_bwd_f64((double *)j->o + lo, (const double *)j->gs + lo,                  \
                               xs ? xs + lo : NULL, ys ? ys + lo : NULL, hi - lo, j->p);         \
        } else {                                                                                 \
            const float *xs = j->xs, *ys = j->ys;                                                \
            if (!j->gs)                                                                          \
                NAME##_fwd_f32((float *)j->o + lo, xs + lo, hi - lo, j->p);                      \
            else                                                                                 \
                NAME##_bwd_f32((float *)j->o + lo, (const float *)j->gs + lo,                    \
                               xs ? xs + lo : NULL, ys ? ys + lo : NULL, hi - lo, j->p);         \
        }                                                                                        \
    }                                                                                            \
    static pg_status NAME##_forward(pg_tensor *out, pg_tensor *const *in, int n_in,              \
                                    const pg_params *p) {                                        \
        (void)n_in;                                                                              \
        pg_unary_job j = {out->dtype == PG_DTYPE_F64, out->data, NULL, in[0]->data, NULL, p};    \
        PG_UNARY_RUN(out->numel, NAME##_range, &j);                                              \
        return PG_OK;                                                                            \
    }                                                                                            \
    static pg_status NAME##_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {     \
        const void *xs = NULL, *ys = NULL;                                                       \
        for (int k = 0; k < PG_MAX_SAVED; k++) {                                                 \
            if (n->saved_from[k] == 0) xs = n->saved[k]->data;                                   \
            if (n->saved_from[k] == -1) ys = n->saved[k]->data;                                  \
        }                                                                                        \
        pg_tensor *d = pg__grad_buffer(g, n, 0); /* may be g itself: the loop runs in place */    \
        if (!d) return PG_ERR_MEMORY;                                                            \
        pg_unary_job j = {d->dtype == PG_DTYPE_F64, d->data, g->data, xs, ys, &n->p};            \
        PG_UNARY_RUN(d->numel, NAME##_range, &j);                                                \
        dx[0] = d;                                                                               \
        return PG_OK;                                                                            \
    }

/* A unary kernel's operands, for running it over ranges on several threads. */
typedef struct pg_unary_job {
    bool f64;
    void *o;               /* [n] output (forward) or dx (backward) */
    const void *gs;        /* [n] upstream gradient; NULL: run the forward */
    const void *xs, *ys;   /* [n] input and output (either may be NULL in backward) */
    const pg_params *p;
} pg_unary_job;

/* y = -x */
PG_UNARY_KERNELS(neg, -x, -g)
/* y = x + c */
PG_UNARY_KERNELS(add_scalar, x + (T)p->f[0], g)
/* y = c x */
PG_UNARY_KERNELS(mul_scalar, x *(T)p->f[0], g *(T)p->f[0])
/* y = x^e;  dy/dx = e x^(e-1) */
PG_UNARY_KERNELS(pow_scalar, PG_POW(x, (T)p->f[0]), g *(T)p->f[0] * PG_POW(x, (T)(p->f[0] - 1.0)))
/* y = e^x;  dy/dx = y */
PG_UNARY_KERNELS(exp, PG_EXP(x), g *y)
/* y = log x;  dy/dx = 1/x */
PG_UNARY_KERNELS(log, PG_LOG(x), g / x)
/* y = sqrt x;  dy/dx = 1/(2y) */
PG_UNARY_KERNELS(sqrt, PG_SQRT(x), g / ((T)2 * y))
/* y = 1/x;  dy/dx = -1/x^2 = -y^2 */
PG_UNARY_KERNELS(reciprocal, (T)1 / x, -g * (y * y))
/* y = |x|;  dy/dx = sign(x), 0 at 0 */
PG_UNARY_KERNELS(abs, PG_FABS(x), x > 0 ? g : (x < 0 ? -g : (T)0))
/* y = 1/(1+e^-x), evaluated without overflow;  dy/dx = (1-y) y  (seed 000) */
PG_UNARY_KERNELS(sigmoid, x >= 0 ? (T)1 / ((T)1 + PG_EXP(-x)) : PG_EXP(x) / ((T)1 + PG_EXP(x)),
                 g *y *((T)1 - y))
/* y = tanh x;  dy/dx = 1 - y^2 */
PG_UNARY_KERNELS(tanh, PG_TANH(x), g *((T)1 - y * y))
/* y = max(0, x);  dy/dx = 1 if x > 0 else 0 (ReLU'(0) = 0, as in the notes) */
PG_UNARY_KERNELS(relu, x > 0 ? x : (T)0, x > 0 ? g : (T)0)
/* y = x if x > 0 else s x;  slope s at 0 (left branch) */
PG_UNARY_KERNELS(leaky_relu, x > 0 ? x : (T)p->f[0] * x, x > 0 ? g : g * (T)p->f[0])
/* y = x if x > 0 else a (e^x - 1);  dy/dx = a e^x for x <= 0 */
PG_UNARY_KERNELS(elu, x > 0 ? x : (T)p->f[0] * PG_EXPM1(x), x > 0 ? g : g * (T)p->f[0] * PG_EXP(x))
/* y = min(max(x, lo), hi) (lo > hi gives hi everywhere, as numpy);
 * dy/dx = 1 for lo <= x <= hi (bounds inside), else 0 */
PG_UNARY_KERNELS(clamp,
                 (p->i[1] && ((p->i[0] && x < (T)p->f[0]) ? (T)p->f[0] : x) > (T)p->f[1])
                     ? (T)p->f[1]
                     : ((p->i[0] && x < (T)p->f[0]) ? (T)p->f[0] : x),
                 ((p->i[0] && x < (T)p->f[0]) || (p->i[1] && x > (T)p->f[1])) ? (T)0 : g)

pg_status pg__infer_same(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in, (void)p;
    pg__meta_of(out, in[0]);
    return PG_OK;
}

/* ---- cast: y = (dtype) x;  dx = (dtype of x) g ---- */

static void pg__convert_serial(void *dst, pg_dtype dt, const void *src, pg_dtype st, int64_t n) {
    if (dt == st) {
        memcpy(dst, src, (size_t)n * pg__dtype_size(dt));
        return;
    }
#define PG_CONV(DT, ST)                                         \
    do {                                                        \
        DT *d = dst;                                            \
        const ST *s = src;                                      \
        for (int64_t i = 0; i < n; i++) d[i] = (DT)s[i];        \
    } while (0)
    if (dt == PG_DTYPE_F32 && st == PG_DTYPE_F64) PG_CONV(float, double);
    else if (dt == PG_DTYPE_F64 && st == PG_DTYPE_F32) PG_CONV(double, float);
    else if (dt == PG_DTYPE_F32 && st == PG_DTYPE_BOOL) PG_CONV(float, uint8_t);
    else if (dt == PG_DTYPE_F64 && st == PG_DTYPE_BOOL) PG_CONV(double, uint8_t);
    else if (dt == PG_DTYPE_BOOL && st == PG_DTYPE_F32) {
        uint8_t *d = dst;
        const float *s = src;
        for (int64_t i = 0; i < n; i++) d[i] = s[i] != 0;
    } else if (dt == PG_DTYPE_BOOL && st == PG_DTYPE_F64) {
        uint8_t *d = dst;
        const double *s = src;
        for (int64_t i = 0; i < n; i++) d[i] = s[i] != 0;
    }
#undef PG_CONV
}

typedef struct pg_convert_job {
    char *dst;
    const char *src;
    pg_dtype dt, st;
} pg_convert_job;

static void pg__convert_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_convert_job *j = ctx;
    pg__convert_serial(j->dst + lo * (int64_t)pg__dtype_size(j->dt), j->dt,
                       j->src + lo * (int64_t)pg__dtype_size(j->st), j->st, hi - lo);
}

/* dst[0:n] = (dt) src[0:n] */
static void pg__convert(void *dst, pg_dtype dt, const void *src, pg_dtype st, int64_t n) {
    pg_convert_job j = {dst, src, dt, st};
    pg__parallel_range(n, 64, PG_NDITER_GRAIN, pg__convert_range, &j);
}

static pg_status cast_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg__meta_of(out, in[0]);
    out->dtype = (pg_dtype)p->i[0];
    if (pg__dtype_size(out->dtype) == 0) return pg__fail(PG_ERR_TYPE, "cast: unknown dtype %d", (int)p->i[0]);
    return PG_OK;
}

static pg_status cast_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in, (void)p;
    pg__convert(out->data, out->dtype, in[0]->data, in[0]->dtype, out->numel);
    return PG_OK;
}

static pg_status cast_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return PG_ERR_MEMORY;
    pg__convert(d->data, d->dtype, g->data, g->dtype, d->numel);
    dx[0] = d;
    return PG_OK;
}

/* ======================================================================
 * Broadcasting binary ops.
 * Forward row: o = EXPR(a, b). Backward rows compute each input's gradient
 * at the output's shape, from g (same shape as out) and the broadcast
 * inputs; pg__sum_to then folds the broadcast dims back.
 * ====================================================================== */

#define PG_ROW2(NAME, TT, EXPR)                                                   \
    PG_CLONES static void NAME(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        typedef TT T;                                                             \
        T *o = (T *)ptr[0];                                                       \
        const T *as = (const T *)ptr[1], *bs = (const T *)ptr[2];                 \
        int64_t sa = st[1], sb = st[2];                                           \
        (void)ctx;                                                                \
        if (sa == 1 && sb == 1) {                                                 \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                     \
                T a = as[i], b = bs[i];                                           \
                o[i] = (EXPR);                                                    \
            }                                                                     \
        } else if (sa == 1 && sb == 0) {                                          \
            const T b = bs[0];                                                    \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                     \
                T a = as[i];                                                      \
                o[i] = (EXPR);                                                    \
            }                                                                     \
        } else if (sa == 0 && sb == 1) {                                          \
            const T a = as[0];                                                    \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                     \
                T b = bs[i];                                                      \
                o[i] = (EXPR);                                                    \
            }                                                                     \
        } else {                                                                  \
            for (int64_t i = 0; i < n; i++) {                                     \
                T a = as[i * sa], b = bs[i * sb];                                 \
                o[i] = (EXPR);                                                    \
            }                                                                     \
        }                                                                         \
    }

/* backward rows: operand 0 = result, 1 = g (stride of out), 2 = a, 3 = b */
#define PG_ROW3(NAME, TT, EXPR)                                                   \
    PG_CLONES static void NAME(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        typedef TT T;                                                             \
        T *o = (T *)ptr[0];                                                       \
        const T *gs = (const T *)ptr[1], *as = (const T *)ptr[2];                 \
        const T *bs = (const T *)ptr[3];                                          \
        (void)ctx;                                                                \
        if (st[1] == 1 && st[2] == 1 && st[3] == 1) {                             \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                            \
                T g = gs[i], a = as[i], b = bs[i];                                \
                (void)a, (void)b;                                                 \
                o[i] = (EXPR);                                                    \
            }                                                                     \
            return;                                                               \
        }                                                                         \
        for (int64_t i = 0; i < n; i++) {                                         \
            T g = gs[i * st[1]], a = as[i * st[2]], b = bs[i * st[3]];            \
            (void)a, (void)b;                                                     \
            o[i] = (EXPR);                                                        \
        }                                                                         \
    }

#define PG_BINARY_ROWS(NAME, FWD, DA, DB) \
    PG_ROW2(NAME##_row_f32, float, FWD)   \
    PG_ROW2(NAME##_row_f64, double, FWD)  \
    PG_ROW3(NAME##_da_f32, float, DA)     \
    PG_ROW3(NAME##_da_f64, double, DA)    \
    PG_ROW3(NAME##_db_f32, float, DB)     \
    PG_ROW3(NAME##_db_f64, double, DB)

/* z = a + b */
PG_BINARY_ROWS(add, a + b, g, g)
/* z = a - b */
PG_BINARY_ROWS(sub, a - b, g, -g)
/* z = a b;  "mul switches": dz/da = b, dz/db = a */
PG_BINARY_ROWS(mul, a *b, g *b, g *a)
/* z = a / b;  dz/da = 1/b, dz/db = -a/b^2 */
PG_BINARY_ROWS(div, a / b, g / b, -g * a / (b * b))
/* z = a^b;  dz/da = b a^(b-1), dz/db = a^b log a (0 where a == 0) */
PG_BINARY_ROWS(pow, PG_POW(a, b), g *b *PG_POW(a, b - (T)1), a == 0 ? (T)0 : g * PG_POW(a, b) * PG_LOG(a))
/* z = max(a, b), NaN if either is (numpy's rule);  "max routes": the larger input gets g, ties
 * split it, a NaN sends nothing */
PG_BINARY_ROWS(maximum, (a > b || isnan(a)) ? a : ((b > a || isnan(b)) ? b : a),
               a > b ? g : (a == b ? g * (T)0.5 : (T)0), b > a ? g : (a == b ? g * (T)0.5 : (T)0))
/* z = min(a, b), NaN if either is */
PG_BINARY_ROWS(minimum, (a < b || isnan(a)) ? a : ((b < a || isnan(b)) ? b : a),
               a < b ? g : (a == b ? g * (T)0.5 : (T)0), b < a ? g : (a == b ? g * (T)0.5 : (T)0))

typedef struct pg_binrows {
    pg_row_fn fwd[2], da[2], db[2]; /* [0]: float32, [1]: float64 */
} pg_binrows;

#define PG_BINROWS(NAME)                                                                   \
    {                                                                                      \
        {NAME##_row_f32, NAME##_row_f64}, {NAME##_da_f32, NAME##_da_f64}, {                \
            NAME##_db_f32, NAME##_db_f64                                                   \
        }                                                                                  \
    }

static const pg_binrows pg_binary_rows[] = {
    PG_BINROWS(add), PG_BINROWS(sub), PG_BINROWS(mul), PG_BINROWS(div),
    PG_BINROWS(pow), PG_BINROWS(maximum), PG_BINROWS(minimum),
};
enum { PG_B_ADD, PG_B_SUB, PG_B_MUL, PG_B_DIV, PG_B_POW, PG_B_MAXIMUM, PG_B_MINIMUM };

static int pg__binary_kind(int op) {
    switch (op) {
    case PG_OP_ADD: return PG_B_ADD;
    case PG_OP_SUB: return PG_B_SUB;
    case PG_OP_MUL: return PG_B_MUL;
    case PG_OP_DIV: return PG_B_DIV;
    case PG_OP_POW: return PG_B_POW;
    case PG_OP_MAXIMUM: return PG_B_MAXIMUM;
    default: return PG_B_MINIMUM;
    }
}

pg_status pg__broadcast_shapes(const char *op, pg_meta *out, pg_tensor *const *in, int n_in) {
    int nd = 0;
    for (int k = 0; k < n_in; k++)
        if (in[k]->ndim > nd) nd = in[k]->ndim;
    out->ndim = nd;
    for (int d = 0; d < nd; d++) {
        int64_t s = 1;
        for (int k = 0; k < n_in; k++) {
            int j = d - (nd - in[k]->ndim);
            if (j < 0) continue;
            int64_t v = in[k]->shape[j];
            if (v == s || v == 1) continue;
            if (s != 1) {
                char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF], b3[PG_SHAPE_BUF];
                if (n_in == 2)
                    return pg__fail(PG_ERR_SHAPE, "%s: shapes %s and %s cannot be broadcast together", op,
                                    pg__shape_str(in[0]->ndim, in[0]->shape, b1, sizeof b1),
                                    pg__shape_str(in[1]->ndim, in[1]->shape, b2, sizeof b2));
                return pg__fail(PG_ERR_SHAPE, "%s: shapes %s, %s and %s cannot be broadcast together", op,
                                pg__shape_str(in[0]->ndim, in[0]->shape, b1, sizeof b1),
                                pg__shape_str(in[1]->ndim, in[1]->shape, b2, sizeof b2),
                                pg__shape_str(in[2]->ndim, in[2]->shape, b3, sizeof b3));
            }
            s = v;
        }
        out->shape[d] = s;
    }
    return PG_OK;
}

static pg_status binary_infer_named(const char *op, pg_meta *out, pg_tensor *const *in) {
    if (pg__check_float(op, in[0]) || pg__check_float(op, in[1])) return PG_ERR_TYPE;
    if (in[0]->dtype != in[1]->dtype)
        return pg__fail(PG_ERR_TYPE, "%s: dtypes %s and %s differ (promote first)", op,
                        pg__dtype_name(in[0]->dtype), pg__dtype_name(in[1]->dtype));
    if (pg__broadcast_shapes(op, out, in, 2)) return PG_ERR_SHAPE;
    out->dtype = in[0]->dtype;
    return PG_OK;
}

/* Runs a row kernel over up to 4 operands broadcast to `shape`. Operand 0
 * is the contiguous result. */
static void pg__ew_run(pg_tensor *res, const pg_meta *shape_of, const pg_tensor *const *ops, int nops,
                       pg_row_fn fn, void *ctx) {
    int64_t st[PG_NDITER_MAX_OPS][PG_MAX_DIMS];
    char *base[PG_NDITER_MAX_OPS];
    size_t es[PG_NDITER_MAX_OPS];
    pg_meta rm;
    pg__meta_of(&rm, res);
    pg__bcast_strides(&rm, shape_of->ndim, shape_of->shape, st[0]);
    base[0] = res->data;
    es[0] = pg__dtype_size(res->dtype);
    for (int k = 0; k < nops; k++) {
        pg_meta m;
        pg__meta_of(&m, ops[k]);
        pg__bcast_strides(&m, shape_of->ndim, shape_of->shape, st[k + 1]);
        base[k + 1] = ops[k]->data;
        es[k + 1] = pg__dtype_size(ops[k]->dtype);
    }
    pg_nditer it;
    pg__nditer_init(&it, shape_of->ndim, shape_of->shape, nops + 1, st);
    pg__nditer_run(&it, base, es, fn, ctx);
}

static pg_status binary_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    return binary_infer_named(pg_optable[p->op]->name, out, in);
}

static pg_status binary_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_binrows *r = &pg_binary_rows[pg__binary_kind(p->op)];
    pg_meta m;
    pg__meta_of(&m, out);
    const pg_tensor *ops[2] = {in[0], in[1]};
    pg__ew_run(out, &m, ops, 2, r->fwd[out->dtype == PG_DTYPE_F64], NULL);
    return PG_OK;
}

static bool pg__same_shape(const pg_meta *a, const pg_meta *b) {
    return a->ndim == b->ndim && pg__same_dims(a->ndim, a->shape, b->shape);
}

static pg_status binary_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    int kind = pg__binary_kind(n->op);
    const pg_binrows *r = &pg_binary_rows[kind];
    int f64 = g->dtype == PG_DTYPE_F64;
    const pg_tensor *a = n->saved[0], *b = n->saved[1];
    for (int i = 0; i < 2; i++) {
        if (!pg__node_needs(n, i)) continue;
        const pg_meta *target = &n->edges[i].meta;
        pg_tensor *full;
        if (kind == PG_B_ADD || (kind == PG_B_SUB && i == 0)) {
            full = PG_NEW_REF((pg_tensor *)g);
        } else {
            full = pg__tensor_new_like(&n->out_meta);
            if (!full) return PG_ERR_MEMORY;
            if (kind == PG_B_SUB) {
                if (f64) neg_fwd_f64(full->data, g->data, g->numel, NULL);
                else neg_fwd_f32(full->data, g->data, g->numel, NULL);
            } else {
                const pg_tensor *ops[3] = {g, a, b};
                pg__ew_run(full, &n->out_meta, ops, 3, i == 0 ? r->da[f64] : r->db[f64], NULL);
            }
        }
        if (pg__same_shape(target, &n->out_meta)) {
            dx[i] = full;
        } else {
            dx[i] = pg__sum_to(full, target);
            pg_tensor_release(full);
            if (!dx[i]) return PG_ERR_MEMORY;
        }
    }
    return PG_OK;
}

pg_tensor *pg__binary_local(const pg_node *n, int i) {
    const pg_binrows *r = &pg_binary_rows[pg__binary_kind(n->op)];
    int f64 = n->out_meta.dtype == PG_DTYPE_F64;
    pg_tensor *ones = pg_tensor_full(n->out_meta.dtype, n->out_meta.ndim, n->out_meta.shape, 1.0);
    pg_tensor *full = ones ? pg__tensor_new_like(&n->out_meta) : NULL;
    if (full) {
        const pg_tensor *ops[3] = {ones, n->saved[0], n->saved[1]};
        pg__ew_run(full, &n->out_meta, ops, 3, i == 0 ? r->da[f64] : r->db[f64], NULL);
    }
    pg_tensor_release(ones);
    return full;
}

/* ---- where(cond, x, y): z = cond ? x : y;  dx = cond ? g : 0, dy = cond ? 0 : g ---- */

#define PG_WHERE_ROW(TT, SUF)                                                               \
    static void where_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {  \
        TT *o = (TT *)ptr[0];                                                               \
        const uint8_t *c = (const uint8_t *)ptr[1];                                         \
        const TT *x = (const TT *)ptr[2], *y = (const TT *)ptr[3];                          \
        (void)ctx;                                                                          \
        for (int64_t i = 0; i < n; i++) o[i] = c[i * st[1]] ? x[i * st[2]] : y[i * st[3]];  \
    }
#define PG_WHERE_MASK_ROW(TT, SUF)                                                          \
    static void where_mask_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        TT *o = (TT *)ptr[0];                                                               \
        const TT *g = (const TT *)ptr[1];                                                   \
        const uint8_t *c = (const uint8_t *)ptr[2];                                         \
        int take = *(int *)ctx;                                                             \
        for (int64_t i = 0; i < n; i++) o[i] = (!c[i * st[2]] == !take) ? g[i * st[1]] : 0; \
    }
PG_WHERE_ROW(float, f32)
PG_WHERE_ROW(double, f64)
PG_WHERE_ROW(uint8_t, b8)
PG_WHERE_MASK_ROW(float, f32)
PG_WHERE_MASK_ROW(double, f64)

static pg_status where_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in, (void)p;
    if (in[0]->dtype != PG_DTYPE_BOOL)
        return pg__fail(PG_ERR_TYPE, "where: the condition must be a bool tensor, got %s",
                        pg__dtype_name(in[0]->dtype));
    bool both_bool = in[1]->dtype == PG_DTYPE_BOOL && in[2]->dtype == PG_DTYPE_BOOL;
    if (!both_bool && (pg__check_float("where", in[1]) || pg__check_float("where", in[2]))) return PG_ERR_TYPE;
    if (in[1]->dtype != in[2]->dtype)
        return pg__fail(PG_ERR_TYPE, "where: dtypes %s and %s differ (promote first)",
                        pg__dtype_name(in[1]->dtype), pg__dtype_name(in[2]->dtype));
    if (pg__broadcast_shapes("where", out, in, 3)) return PG_ERR_SHAPE;
    out->dtype = in[1]->dtype;
    return PG_OK;
}

static pg_status where_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in, (void)p;
    pg_meta m;
    pg__meta_of(&m, out);
    const pg_tensor *ops[3] = {in[0], in[1], in[2]};
    pg_row_fn fn = out->dtype == PG_DTYPE_F64 ? where_row_f64 : out->dtype == PG_DTYPE_F32 ? where_row_f32 : where_row_b8;
    pg__ew_run(out, &m, ops, 3, fn, NULL);
    return PG_OK;
}

static pg_status where_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    for (int i = 1; i < 3; i++) {
        if (!pg__node_needs(n, i)) continue;
        pg_tensor *full = pg__tensor_new_like(&n->out_meta);
        if (!full) return PG_ERR_MEMORY;
        int take = i == 1;
        const pg_tensor *ops[2] = {g, n->saved[0]};
        pg__ew_run(full, &n->out_meta, ops, 2, g->dtype == PG_DTYPE_F64 ? where_mask_f64 : where_mask_f32,
                   &take);
        if (pg__same_shape(&n->edges[i].meta, &n->out_meta)) {
            dx[i] = full;
        } else {
            dx[i] = pg__sum_to(full, &n->edges[i].meta);
            pg_tensor_release(full);
            if (!dx[i]) return PG_ERR_MEMORY;
        }
    }
    return PG_OK;
}

/* ---- unary infer with checks ---- */

static pg_status unary_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    if (pg__check_float(pg_optable[p->op]->name, in[0])) return PG_ERR_TYPE;
    pg__meta_of(out, in[0]);
    return PG_OK;
}

/* ======================================================================
 * Public entry points
 * ====================================================================== */

/* Runs a float op on x; a bool x is first cast to float32 (numpy's promotion). */
pg_tensor *pg__apply_float1(int op, pg_tensor *x, const pg_params *p) {
    if (!x || x->dtype != PG_DTYPE_BOOL) return pg__apply(op, &x, 1, p);
    pg_tensor *f = pg_cast(x, PG_DTYPE_F32);
    if (!f) return NULL;
    pg_tensor *out = pg__apply(op, &f, 1, p);
    pg_tensor_release(f);
    return out;
}

static pg_tensor *pg__unary(int op, pg_tensor *x, pg_params *p) { return pg__apply_float1(op, x, p); }

/* Brings two operands to one dtype (numpy promotion: float64 wins; bool takes
 * the other's dtype) with a differentiable cast. Returns new references. */
static pg_status pg__promote2(const char *op, pg_tensor **a, pg_tensor **b) {
    pg_tensor *x = *a, *y = *b;
    if (pg__check_tensor(op, x) || pg__check_tensor(op, y)) return PG_ERR_VALUE;
    pg_dtype target = x->dtype;
    if (x->dtype != y->dtype) {
        if (x->dtype == PG_DTYPE_BOOL) target = y->dtype;
        else if (y->dtype == PG_DTYPE_BOOL) target = x->dtype;
        else target = PG_DTYPE_F64;
    } else if (x->dtype == PG_DTYPE_BOOL) {
        target = PG_DTYPE_F32;
    }
    *a = x->dtype == target ? PG_NEW_REF(x) : pg_cast(x, target);
    if (!*a) return pg_last_status();
    *b = y->dtype == target ? PG_NEW_REF(y) : pg_cast(y, target);
    if (!*b) {
        pg_tensor_release(*a);
        return pg_last_status();
    }
    return PG_OK;
}

static pg_tensor *pg__binary(int op, pg_tensor *a, pg_tensor *b) {
    pg_params p = {0};
    p.op = op;
    if (a && b && a->dtype == b->dtype && a->dtype != PG_DTYPE_BOOL) {
        pg_tensor *in[2] = {a, b};
        return pg__apply(op, in, 2, &p);
    }
    pg_tensor *x = a, *y = b;
    if (pg__promote2(pg_optable[op]->name, &x, &y)) return NULL;
    pg_tensor *in[2] = {x, y};
    pg_tensor *out = pg__apply(op, in, 2, &p);
    pg_tensor_release(x);
    pg_tensor_release(y);
    return out;
}

pg_tensor *pg_add(pg_tensor *a, pg_tensor *b) { return pg__binary(PG_OP_ADD, a, b); }
pg_tensor *pg_sub(pg_tensor *a, pg_tensor *b) { return pg__binary(PG_OP_SUB, a, b); }
pg_tensor *pg_mul(pg_tensor *a, pg_tensor *b) { return pg__binary(PG_OP_MUL, a, b); }
pg_tensor *pg_div(pg_tensor *a, pg_tensor *b) { return pg__binary(PG_OP_DIV, a, b); }
pg_tensor *pg_pow(pg_tensor *a, pg_tensor *b) { return pg__binary(PG_OP_POW, a, b); }
pg_tensor *pg_maximum(pg_tensor *a, pg_tensor *b) { return pg__binary(PG_OP_MAXIMUM, a, b); }
pg_tensor *pg_minimum(pg_tensor *a, pg_tensor *b) { return pg__binary(PG_OP_MINIMUM, a, b); }

#define PG_UNARY_ENTRY(NAME, OP)                  \
    pg_tensor *pg_##NAME(pg_tensor *x) {          \
        pg_params p = {0};                        \
        p.op = OP;                                \
        return pg__unary(OP, x, &p);              \
    }
PG_UNARY_ENTRY(neg, PG_OP_NEG)
PG_UNARY_ENTRY(exp, PG_OP_EXP)
PG_UNARY_ENTRY(log, PG_OP_LOG)
PG_UNARY_ENTRY(sqrt, PG_OP_SQRT)
PG_UNARY_ENTRY(reciprocal, PG_OP_RECIPROCAL)
PG_UNARY_ENTRY(abs, PG_OP_ABS)
PG_UNARY_ENTRY(sigmoid, PG_OP_SIGMOID)
PG_UNARY_ENTRY(tanh, PG_OP_TANH)
PG_UNARY_ENTRY(relu, PG_OP_RELU)

#define PG_UNARY1_ENTRY(NAME, OP, ARG)            \
    pg_tensor *pg_##NAME(pg_tensor *x, double ARG) { \
        pg_params p = {0};                        \
        p.op = OP;                                \
        p.f[0] = ARG;                             \
        return pg__unary(OP, x, &p);              \
    }
PG_UNARY1_ENTRY(add_scalar, PG_OP_ADD_SCALAR, c)
PG_UNARY1_ENTRY(mul_scalar, PG_OP_MUL_SCALAR, c)
PG_UNARY1_ENTRY(pow_scalar, PG_OP_POW_SCALAR, e)
PG_UNARY1_ENTRY(leaky_relu, PG_OP_LEAKY_RELU, negative_slope)
PG_UNARY1_ENTRY(elu, PG_OP_ELU, alpha)

pg_tensor *pg_clamp(pg_tensor *x, double lo, double hi, int has_lo, int has_hi) {
    if (!has_lo && !has_hi) {
        pg__fail(PG_ERR_VALUE, "clamp: at least one of min and max must be given");
        return NULL;
    }
    if ((has_lo && isnan(lo)) || (has_hi && isnan(hi))) {
        pg__fail(PG_ERR_VALUE, "clamp: a bound is NaN");
        return NULL;
    }
    pg_params p = {0};
    p.f[0] = lo;
    p.f[1] = hi;
    p.i[0] = has_lo != 0;
    p.i[1] = has_hi != 0;
    return pg__unary(PG_OP_CLAMP, x, &p);
}

pg_tensor *pg_where(pg_tensor *cond, pg_tensor *x, pg_tensor *y) {
    pg_params p = {0};
    if (pg__check_tensor("where", cond)) return NULL;
    pg_tensor *a = x, *b = y;
    if (x && y && x->dtype == PG_DTYPE_BOOL && y->dtype == PG_DTYPE_BOOL) { /* bool stays bool */
        pg_tensor_retain(a);
        pg_tensor_retain(b);
    } else if (pg__promote2("where", &a, &b)) {
        return NULL;
    }
    pg_tensor *in[3] = {cond, a, b};
    pg_tensor *out = pg__apply(PG_OP_WHERE, in, 3, &p);
    pg_tensor_release(a);
    pg_tensor_release(b);
    return out;
}

pg_tensor *pg_cast(pg_tensor *x, pg_dtype dtype) {
    if (pg__check_tensor("cast", x)) return NULL;
    if (pg__dtype_size(dtype) == 0) {
        pg__fail(PG_ERR_TYPE, "cast: unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (dtype == PG_DTYPE_BOOL && x->requires_grad && pg_grad_enabled()) {
        /* a bool result carries no gradient: cut the graph */
        int prev = pg_set_grad_enabled(0);
        pg_params p = {0};
        p.i[0] = dtype;
        pg_tensor *out = pg__apply(PG_OP_CAST, &x, 1, &p);
        pg_set_grad_enabled(prev);
        return out;
    }
    pg_params p = {0};
    p.i[0] = dtype;
    return pg__apply(PG_OP_CAST, &x, 1, &p);
}

/* ---- comparisons (bool result, never recorded) ---- */

#define PG_CMP_ROW(TT, SUF)                                                                   \
    static void cmp_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {    \
        uint8_t *o = (uint8_t *)ptr[0];                                                       \
        const TT *a = (const TT *)ptr[1], *b = (const TT *)ptr[2];                            \
        int c = *(int *)ctx;                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                     \
            TT x = a[i * st[1]], y = b[i * st[2]];                                            \
            uint8_t r;                                                                        \
            switch (c) {                                                                      \
            case PG_CMP_LT: r = x < y; break;                                                 \
            case PG_CMP_LE: r = x <= y; break;                                                \
            case PG_CMP_GT: r = x > y; break;                                                 \
            case PG_CMP_GE: r = x >= y; break;                                                \
            case PG_CMP_EQ: r = x == y; break;                                                \
            default: r = x != y; break;                                                       \
            }                                                                                 \
            o[i] = r;                                                                         \
        }                                                                                     \
    }
PG_CMP_ROW(float, f32)
PG_CMP_ROW(double, f64)
PG_CMP_ROW(uint8_t, b8)

pg_tensor *pg_compare(pg_tensor *a, pg_tensor *b, pg_cmp cmp) {
    if (pg__check_tensor("compare", a) || pg__check_tensor("compare", b)) return NULL;
    if ((unsigned)cmp > PG_CMP_NE) {
        pg__fail(PG_ERR_VALUE, "compare: unknown comparison %d", (int)cmp);
        return NULL;
    }
    pg_tensor *x = a, *y = b;
    if (a->dtype == b->dtype) {
        pg_tensor_retain(x);
        pg_tensor_retain(y);
    } else {
        int prev = pg_set_grad_enabled(0), prev_anomaly = pg_set_detect_anomaly(0); /* not a graph op */
        pg_status st = pg__promote2("compare", &x, &y);
        pg_set_grad_enabled(prev);
        pg_set_detect_anomaly(prev_anomaly);
        if (st) return NULL;
    }
    pg_meta m;
    pg_tensor *in[2] = {x, y};
    pg_tensor *out = NULL;
    if (pg__broadcast_shapes("compare", &m, in, 2) == PG_OK) {
        m.dtype = PG_DTYPE_BOOL;
        out = pg__tensor_new_like(&m);
        if (out) {
            const pg_tensor *ops[2] = {x, y};
            int c = (int)cmp;
            pg_row_fn fn = x->dtype == PG_DTYPE_F32 ? cmp_row_f32 : x->dtype == PG_DTYPE_F64 ? cmp_row_f64 : cmp_row_b8;
            pg__ew_run(out, &m, ops, 2, fn, &c);
        }
    }
    pg_tensor_release(x);
    pg_tensor_release(y);
    return out;
}

pg_tensor *pg_compare_scalar(pg_tensor *a, double c, pg_cmp cmp) {
    if (pg__check_tensor("compare", a)) return NULL;
    /* a scalar takes the tensor's dtype; a bool tensor compares as float32, as in arithmetic */
    pg_dtype dt = a->dtype == PG_DTYPE_BOOL ? PG_DTYPE_F32 : a->dtype;
    pg_tensor *s = pg_tensor_full(dt, 0, NULL, c);
    if (!s) return NULL;
    pg_tensor *out = pg_compare(a, s, cmp);
    pg_tensor_release(s);
    return out;
}

/* ======================================================================
 * In-place updates (not recorded; bump the version)
 * ====================================================================== */

/* Refuses what can never be done in place; *record says whether the update
 * must be recorded (grad mode on, and t or the operand requires grad). */
static pg_status pg__check_inplace(const char *op, pg_tensor *t, const pg_tensor *other, bool *record) {
    pg_status st = pg__check_float(op, t);
    if (st) return st;
    bool on = pg_grad_enabled();
    if (on && t->requires_grad && !t->grad_fn) {
        char b[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_RUNTIME,
                        "%s: a leaf tensor that requires grad (shape %s) cannot be modified in place while "
                        "grad mode is on; do the update under no_grad()",
                        op, pg__shape_str(t->ndim, t->shape, b, sizeof b));
    }
    *record = on && (t->requires_grad || (other && other->requires_grad));
    return PG_OK;
}

static void pg__bump(pg_tensor *t) { atomic_fetch_add(&t->storage->version, 1); }

enum { PG_IP_ADD, PG_IP_MUL, PG_IP_ADD_SCALAR, PG_IP_MUL_SCALAR, PG_IP_FILL };

/* Records `t (op)= operand` as the out-of-place op applied to a snapshot of
 * t's values (which takes t's place in the graph), writes the result into t's
 * storage and makes t the output of the new node, as PyTorch does. Nodes that
 * saved t's old values see its bumped version and refuse to run. */
static pg_status pg__inplace_record(pg_tensor *t, int kind, pg_tensor *operand, double c) {
    pg_tensor *before = pg_tensor_clone(t);
    if (!before) return PG_ERR_MEMORY;
    before->grad_fn = t->grad_fn;
    if (before->grad_fn) atomic_fetch_add(&before->grad_fn->refcount, 1);
    before->requires_grad = t->requires_grad;
    pg_tensor *o = operand == t ? before : operand, *out = NULL;
    switch (kind) {
    case PG_IP_ADD:
        if (c == 1.0) {
            out = pg_add(before, o);
        } else if (c == -1.0) {
            out = pg_sub(before, o);
        } else {
            pg_tensor *scaled = pg_mul_scalar(o, c);
            out = scaled ? pg_add(before, scaled) : NULL;
            pg_tensor_release(scaled);
        }
        break;
    case PG_IP_MUL: out = pg_mul(before, o); break;
    case PG_IP_ADD_SCALAR: out = pg_add_scalar(before, c); break;
    case PG_IP_MUL_SCALAR: out = pg_mul_scalar(before, c); break;
    default: /* fill: a constant, so d out / d before = 0 */
        out = pg_mul_scalar(before, 0.0);
        if (out) {
            if (out->dtype == PG_DTYPE_F32)
                for (int64_t i = 0; i < out->numel; i++) ((float *)out->data)[i] = (float)c;
            else
                for (int64_t i = 0; i < out->numel; i++) ((double *)out->data)[i] = c;
        }
    }
    pg_tensor_release(before);
    if (!out) return pg_last_status();
    memcpy(t->data, out->data, t->storage->nbytes < out->storage->nbytes ? t->storage->nbytes : out->storage->nbytes);
    pg_node *old = t->grad_fn, *fresh = out->grad_fn;
    out->grad_fn = NULL; /* t takes over out's reference to the new node */
    fresh->out = t;
    if (old && old->out == t) old->out = NULL;
    t->grad_fn = fresh;
    t->requires_grad = true;
    pg_tensor_release(out);
    pg__node_release(old);
    pg__bump(t);
    return PG_OK;
}

#define PG_AXPY_ROW(TT, SUF)                                                                \
    PG_CLONES static void axpy_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        TT *o = (TT *)ptr[0];                                                               \
        const TT *b = (const TT *)ptr[1];                                                   \
        TT alpha = (TT) * (double *)ctx;                                                    \
        if (st[1] == 1) {                                                                   \
            PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] += alpha * b[i];                  \
        } else if (st[1] == 0) {                                                            \
            const TT ab = alpha * b[0];                                                     \
            for (int64_t i = 0; i < n; i++) o[i] += ab;                                     \
        } else {                                                                            \
            for (int64_t i = 0; i < n; i++) o[i] += alpha * b[i * st[1]];                   \
        }                                                                                   \
    }                                                                                       \
    PG_CLONES static void scale_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        TT *o = (TT *)ptr[0];                                                               \
        const TT *b = (const TT *)ptr[1];                                                   \
        (void)ctx;                                                                          \
        if (st[1] == 1) {                                                                   \
            PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] *= b[i];                          \
        } else {                                                                            \
            for (int64_t i = 0; i < n; i++) o[i] *= b[i * st[1]];                           \
        }                                                                                   \
    }
PG_AXPY_ROW(float, f32)
PG_AXPY_ROW(double, f64)

/* Brings `other` to t's dtype and checks it broadcasts to t's shape. */
static pg_status pg__inplace_operand(const char *op, pg_tensor *t, pg_tensor *other, pg_tensor **o) {
    if (pg__check_tensor(op, other)) return PG_ERR_VALUE;
    pg_meta m;
    pg_tensor *in[2] = {t, other};
    if (pg__broadcast_shapes(op, &m, in, 2)) return PG_ERR_SHAPE;
    if (m.ndim != t->ndim || memcmp(m.shape, t->shape, sizeof(int64_t) * (size_t)t->ndim)) {
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "%s: operand of shape %s does not broadcast to the tensor's shape %s",
                        op, pg__shape_str(other->ndim, other->shape, b1, sizeof b1),
                        pg__shape_str(t->ndim, t->shape, b2, sizeof b2));
    }
    *o = other->dtype == t->dtype ? PG_NEW_REF(other) : pg_cast(other, t->dtype); /* differentiable */
    return *o ? PG_OK : pg_last_status();
}

static pg_status pg__inplace2(const char *op, int kind, pg_tensor *t, pg_tensor *other, pg_row_fn f32,
                              pg_row_fn f64, double alpha) {
    bool record = false;
    pg_status st = pg__check_tensor(op, other);
    if (st || (st = pg__check_inplace(op, t, other, &record))) return st;
    pg_tensor *o;
    int prev_anomaly = record ? pg_detect_anomaly() : pg_set_detect_anomaly(0); /* unrecorded: no graph op */
    st = pg__inplace_operand(op, t, other, &o);
    pg_set_detect_anomaly(prev_anomaly);
    if (st) return st;
    if (record) {
        st = pg__inplace_record(t, kind, o, alpha);
    } else {
        pg_meta m;
        pg__meta_of(&m, t);
        const pg_tensor *ops[1] = {o};
        pg__ew_run(t, &m, ops, 1, t->dtype == PG_DTYPE_F64 ? f64 : f32, &alpha);
        pg__bump(t);
    }
    pg_tensor_release(o);
    return st;
}

pg_status pg_add_(pg_tensor *t, pg_tensor *other, double alpha) {
    return pg__inplace2("add_", PG_IP_ADD, t, other, axpy_row_f32, axpy_row_f64, alpha);
}

pg_status pg_mul_(pg_tensor *t, pg_tensor *other) {
    return pg__inplace2("mul_", PG_IP_MUL, t, other, scale_row_f32, scale_row_f64, 1.0);
}

static pg_status pg__inplace_scalar(const char *op, int kind, pg_tensor *t, double c) {
    bool record = false;
    pg_status st = pg__check_tensor(op, t);
    if (st || (st = pg__check_inplace(op, t, NULL, &record))) return st;
    if (record) return pg__inplace_record(t, kind, NULL, c);
    pg_params p = {0};
    p.f[0] = c;
    pg_unary_job j = {t->dtype == PG_DTYPE_F64, t->data, NULL, t->data, NULL, &p};
    if (kind == PG_IP_ADD_SCALAR) pg__parallel_range(t->numel, 64, PG_NDITER_GRAIN, add_scalar_range, &j);
    else if (kind == PG_IP_MUL_SCALAR) pg__parallel_range(t->numel, 64, PG_NDITER_GRAIN, mul_scalar_range, &j);
    else pg__fill(t, c);
    pg__bump(t);
    return PG_OK;
}

pg_status pg_add_scalar_(pg_tensor *t, double c) { return pg__inplace_scalar("add_", PG_IP_ADD_SCALAR, t, c); }
pg_status pg_mul_scalar_(pg_tensor *t, double c) { return pg__inplace_scalar("mul_", PG_IP_MUL_SCALAR, t, c); }

static void pg__fill_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_unary_job *j = ctx;
    double value = j->p->f[0];
    if (j->f64) {
        double *d = j->o;
        for (int64_t i = lo; i < hi; i++) d[i] = value;
    } else {
        float v = (float)value, *d = j->o;
        for (int64_t i = lo; i < hi; i++) d[i] = v;
    }
}

/* Fills without bumping the version: for tensors nobody has seen yet. */
void pg__fill(pg_tensor *t, double value) {
    if (t->dtype == PG_DTYPE_BOOL) {
        memset(t->data, value != 0, (size_t)t->numel);
        return;
    }
    pg_params p = {0};
    p.f[0] = value;
    pg_unary_job j = {t->dtype == PG_DTYPE_F64, t->data, NULL, NULL, NULL, &p};
    pg__parallel_range(t->numel, 64, PG_NDITER_GRAIN, pg__fill_range, &j);
}

pg_status pg_fill_(pg_tensor *t, double value) {
    if (pg__check_tensor("fill_", t)) return PG_ERR_VALUE;
    if (t->dtype == PG_DTYPE_BOOL) {
        pg__fill(t, value);
        pg__bump(t);
        return PG_OK;
    }
    return pg__inplace_scalar("fill_", PG_IP_FILL, t, value);
}

pg_status pg_copy_(pg_tensor *dst, pg_tensor *src) {
    if (pg__check_tensor("copy_", dst) || pg__check_tensor("copy_", src)) return PG_ERR_VALUE;
    if (pg_grad_enabled() && (dst->requires_grad || src->requires_grad))
        return pg__fail(PG_ERR_RUNTIME,
                        "copy_: copying into or from a tensor that requires grad is not recorded; do it "
                        "under no_grad() (e.g. when loading parameters)");
    if (dst->numel != src->numel) {
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "copy_: source of shape %s has %lld elements, destination %s has %lld",
                        pg__shape_str(src->ndim, src->shape, b1, sizeof b1), (long long)src->numel,
                        pg__shape_str(dst->ndim, dst->shape, b2, sizeof b2), (long long)dst->numel);
    }
    if (dst->data != src->data) pg__convert(dst->data, dst->dtype, src->data, src->dtype, dst->numel);
    pg__bump(dst);
    return PG_OK;
}

static void pg__add_into_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_unary_job *j = ctx;
    if (j->f64) {
        double *d = j->o;
        const double *s = j->xs;
        PG_IVDEP for (int64_t i = lo; i < hi; i++) d[i] += s[i];
    } else {
        float *d = j->o;
        const float *s = j->xs;
        PG_IVDEP for (int64_t i = lo; i < hi; i++) d[i] += s[i];
    }
}

/* dst += src, same shape and dtype (gradient accumulation) */
void pg__add_into(pg_tensor *dst, const pg_tensor *src) {
    pg_unary_job j = {dst->dtype == PG_DTYPE_F64, dst->data, NULL, src->data, NULL, NULL};
    pg__parallel_range(dst->numel, 64, PG_NDITER_GRAIN, pg__add_into_range, &j);
}

/* ---- op-table rows of this file ---- */

PG_OPDEF(neg, unary_infer, neg_forward, neg_backward);
PG_OPDEF(add_scalar, unary_infer, add_scalar_forward, add_scalar_backward);
PG_OPDEF(mul_scalar, unary_infer, mul_scalar_forward, mul_scalar_backward);
PG_OPDEF(pow_scalar, unary_infer, pow_scalar_forward, pow_scalar_backward);
PG_OPDEF(exp, unary_infer, exp_forward, exp_backward);
PG_OPDEF(log, unary_infer, log_forward, log_backward);
PG_OPDEF(sqrt, unary_infer, sqrt_forward, sqrt_backward);
PG_OPDEF(reciprocal, unary_infer, reciprocal_forward, reciprocal_backward);
PG_OPDEF(abs, unary_infer, abs_forward, abs_backward);
PG_OPDEF(sigmoid, unary_infer, sigmoid_forward, sigmoid_backward);
PG_OPDEF(tanh, unary_infer, tanh_forward, tanh_backward);
PG_OPDEF(relu, unary_infer, relu_forward, relu_backward);
PG_OPDEF(leaky_relu, unary_infer, leaky_relu_forward, leaky_relu_backward);
PG_OPDEF(elu, unary_infer, elu_forward, elu_backward);
PG_OPDEF(clamp, unary_infer, clamp_forward, clamp_backward);
PG_OPDEF(cast, cast_infer, cast_forward, cast_backward);
PG_OPDEF(add, binary_infer, binary_forward, binary_backward);
PG_OPDEF(sub, binary_infer, binary_forward, binary_backward);
PG_OPDEF(mul, binary_infer, binary_forward, binary_backward);
PG_OPDEF(div, binary_infer, binary_forward, binary_backward);
PG_OPDEF(pow, binary_infer, binary_forward, binary_backward);
PG_OPDEF(maximum, binary_infer, binary_forward, binary_backward);
PG_OPDEF(minimum, binary_infer, binary_forward, binary_backward);
PG_OPDEF(where, where_infer, where_forward, where_backward);
