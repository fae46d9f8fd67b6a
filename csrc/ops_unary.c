/* ops_unary.c: the ops of one input with the input's shape: neg, the scalar
 * ops (add_scalar, mul_scalar, pow_scalar), exp, log, sqrt, reciprocal, abs,
 * the activations (sigmoid, tanh, relu, leaky_relu, elu), clamp and cast.
 * Flat loops: out and x have one shape. Each op is one block: its forward
 * formula right above its backward formula (one PG_UNARY_KERNELS line, for
 * float32 and float64), its differentiable rule (PG_UNARY_RULE), its entry
 * point and its row (PG_OPDEF). */
#include "rules_util.h"

#include <string.h>

/* ---- the machinery the blocks share ----
 * PG_UNARY_KERNELS(NAME, FWD, BWD): forward EXPR sees x and the params p;
 * backward EXPR sees g (upstream), x (the saved input, when the row saves
 * it), y (the saved output), p. */

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

/* A unary op's rule: the body sets r (a new reference) from g, x (the saved
 * input, when saved), y (pg__out_diff), n and p, with TRY for temporaries. */
#define PG_UNARY_RULE(NAME, ...)                                                    \
    static pg_status NAME##_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {  \
        pg_keep keep = {0};                                                         \
        pg_tensor *x = pg__saved_input(n, 0), *r = NULL;                            \
        const pg_params *p = &n->p;                                                 \
        (void)x, (void)p;                                                           \
        __VA_ARGS__                                                                 \
        if (!r) goto fail;                                                          \
        dx[0] = r;                                                                  \
        pg__keep_free(&keep);                                                       \
        return PG_OK;                                                               \
    fail:                                                                           \
        pg__keep_free(&keep);                                                       \
        return pg__rule_status();                                                   \
    }

/* abs, relu, leaky_relu, clamp: piecewise linear, the local derivative as a constant */
PG_UNARY_RULE(piecewise,
              TRY(loc, pg__local(n));
              r = pg_mul(g, loc);)

/* The entry point of an op of one float input, without or with a scalar
 * parameter: sets the params, casts a bool x to float32, applies the row. */
#define PG_UNARY_ENTRY(NAME, OP)                 \
    pg_tensor *pg_##NAME(pg_tensor *x) {         \
        pg_params p = {0};                       \
        p.op = OP;                               \
        return pg__apply_float1(OP, x, &p);      \
    }
#define PG_UNARY1_ENTRY(NAME, OP, ARG)                   \
    pg_tensor *pg_##NAME(pg_tensor *x, double ARG) {     \
        pg_params p = {0};                               \
        p.op = OP;                                       \
        p.c = ARG;                                       \
        return pg__apply_float1(OP, x, &p);              \
    }

/* shape inference: a float input, the output of its shape */
static pg_status unary_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    if (pg__check_float(pg_optable[p->op]->name, in[0])) return PG_ERR_TYPE;
    pg__meta_of(out, in[0]);
    return PG_OK;
}

/* ---- the ops ---- */

/* neg: y = -x */
PG_UNARY_KERNELS(neg, -x, -g)
PG_UNARY_RULE(neg, r = pg_neg(g);)
PG_UNARY_ENTRY(neg, PG_OP_NEG)
PG_OPDEF(neg, unary_infer, neg_forward, neg_backward, neg_rule);

/* add_scalar: y = x + c */
PG_UNARY_KERNELS(add_scalar, x + (T)p->c, g)
PG_UNARY_RULE(add_scalar, r = PG_NEW_REF(g);)
PG_UNARY1_ENTRY(add_scalar, PG_OP_ADD_SCALAR, c)
PG_OPDEF(add_scalar, unary_infer, add_scalar_forward, add_scalar_backward, add_scalar_rule);

/* mul_scalar: y = c x */
PG_UNARY_KERNELS(mul_scalar, x *(T)p->c, g *(T)p->c)
PG_UNARY_RULE(mul_scalar, r = pg_mul_scalar(g, p->c);)
PG_UNARY1_ENTRY(mul_scalar, PG_OP_MUL_SCALAR, c)
PG_OPDEF(mul_scalar, unary_infer, mul_scalar_forward, mul_scalar_backward, mul_scalar_rule);

/* pow_scalar: y = x^e;  dy/dx = e x^(e-1), and 0 for e = 0 (x^0 is 1 everywhere, also at
 * x = 0 where x^(e-1) is infinite: PyTorch's rule) */
PG_UNARY_KERNELS(pow_scalar, PG_POW(x, (T)p->c),
                 p->c == 0.0 ? (T)0 : g * (T)p->c * PG_POW(x, (T)(p->c - 1.0)))
PG_UNARY_RULE(pow_scalar,
              if (p->c == 0.0) {
                  r = pg__tensor_zeros_like(&n->edges[0].meta);
              } else {
                  TRY(t, pg_pow_scalar(x, p->c - 1.0));
                  TRY(u, pg_mul_scalar(t, p->c));
                  r = pg_mul(g, u);
              })
PG_UNARY1_ENTRY(pow_scalar, PG_OP_POW_SCALAR, e)
PG_OPDEF(pow_scalar, unary_infer, pow_scalar_forward, pow_scalar_backward, pow_scalar_rule);

/* div_scalar: y = x / c, a true division in x's dtype (x * (1/c) would round twice,
 * and overflow 1/c for a subnormal c);  dy/dx = 1/c */
PG_UNARY_KERNELS(div_scalar, x / (T)p->c, g / (T)p->c)
PG_UNARY_RULE(div_scalar, r = pg_div_scalar(g, p->c);)
PG_UNARY1_ENTRY(div_scalar, PG_OP_DIV_SCALAR, c)
PG_OPDEF(div_scalar, unary_infer, div_scalar_forward, div_scalar_backward, div_scalar_rule);

/* rdiv_scalar: y = c / x;  dy/dx = -c/x^2 = -y/x */
PG_UNARY_KERNELS(rdiv_scalar, (T)p->c / x, -g * (y / x))
PG_UNARY_RULE(rdiv_scalar,
              TRY(y, pg__out_diff(n));
              TRY(q, pg_div(y, x));
              TRY(t, pg_mul(g, q));
              r = pg_neg(t);)
PG_UNARY1_ENTRY(rdiv_scalar, PG_OP_RDIV_SCALAR, c)
PG_OPDEF(rdiv_scalar, unary_infer, rdiv_scalar_forward, rdiv_scalar_backward, rdiv_scalar_rule);

/* rpow_scalar: y = c^x with pow (exp(x log c) is off by ulps: 10^3 would not be 1000);
 * dy/dx = c^x log c, and 0 where c = 0 and x >= 0 (PyTorch's rule: 0^x is 0 or 1 there;
 * for x < 0 it is inf * -inf = -inf, the limit) */
PG_UNARY_KERNELS(rpow_scalar, PG_POW((T)p->c, x),
                 (p->c == 0.0 && x >= 0) ? (T)0 : g * y * PG_LOG((T)p->c))
PG_UNARY_RULE(rpow_scalar,
              TRY(y, pg__out_diff(n));
              TRY(gy, pg_mul(g, y));
              double lc = p->c;
              TRY(t, pg_mul_scalar(gy, n->edges[0].meta.dtype == PG_DTYPE_F32 ? (double)logf((float)lc) : log(lc)));
              if (p->c == 0.0) {
                  TRY(nonneg, pg_compare_scalar(x, 0.0, PG_CMP_GE));
                  TRY(z, pg__scalar(g->dtype, 0.0));
                  r = pg_where(nonneg, z, t);
              } else {
                  r = PG_NEW_REF(t);
              })
PG_UNARY1_ENTRY(rpow_scalar, PG_OP_RPOW_SCALAR, c)
PG_OPDEF(rpow_scalar, unary_infer, rpow_scalar_forward, rpow_scalar_backward, rpow_scalar_rule);

/* exp: y = e^x;  dy/dx = y */
PG_UNARY_KERNELS(exp, PG_EXP(x), g *y)
PG_UNARY_RULE(exp,
              TRY(y, pg__out_diff(n));
              r = pg_mul(g, y);)
PG_UNARY_ENTRY(exp, PG_OP_EXP)
PG_OPDEF(exp, unary_infer, exp_forward, exp_backward, exp_rule);

/* log: y = log x;  dy/dx = 1/x */
PG_UNARY_KERNELS(log, PG_LOG(x), g / x)
PG_UNARY_RULE(log, r = pg_div(g, x);)
PG_UNARY_ENTRY(log, PG_OP_LOG)
PG_OPDEF(log, unary_infer, log_forward, log_backward, log_rule);

/* sqrt: y = sqrt x;  dy/dx = 1/(2y) */
PG_UNARY_KERNELS(sqrt, PG_SQRT(x), g / ((T)2 * y))
PG_UNARY_RULE(sqrt,
              TRY(y, pg__out_diff(n));
              TRY(y2, pg_mul_scalar(y, 2.0));
              r = pg_div(g, y2);)
PG_UNARY_ENTRY(sqrt, PG_OP_SQRT)
PG_OPDEF(sqrt, unary_infer, sqrt_forward, sqrt_backward, sqrt_rule);

/* reciprocal: y = 1/x;  dy/dx = -1/x^2 = -y^2 */
PG_UNARY_KERNELS(reciprocal, (T)1 / x, -g * (y * y))
PG_UNARY_RULE(reciprocal,
              TRY(y, pg__out_diff(n));
              TRY(yy, pg_mul(y, y));
              TRY(t, pg_mul(g, yy));
              r = pg_neg(t);)
PG_UNARY_ENTRY(reciprocal, PG_OP_RECIPROCAL)
PG_OPDEF(reciprocal, unary_infer, reciprocal_forward, reciprocal_backward, reciprocal_rule);

/* abs: y = |x|;  dy/dx = sign(x), 0 at 0 */
PG_UNARY_KERNELS(abs, PG_FABS(x), x > 0 ? g : (x < 0 ? -g : (T)0))
PG_UNARY_ENTRY(abs, PG_OP_ABS)
PG_OPDEF(abs, unary_infer, abs_forward, abs_backward, piecewise_rule);

/* sigmoid: y = 1/(1+e^-x), evaluated without overflow;  dy/dx = (1-y) y  (seed 000) */
PG_UNARY_KERNELS(sigmoid, x >= 0 ? (T)1 / ((T)1 + PG_EXP(-x)) : PG_EXP(x) / ((T)1 + PG_EXP(x)),
                 g *y *((T)1 - y))
PG_UNARY_RULE(sigmoid,
              TRY(y, pg__out_diff(n));
              TRY(ny, pg_neg(y));
              TRY(one_minus, pg_add_scalar(ny, 1.0));
              TRY(loc, pg_mul(y, one_minus));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(sigmoid, PG_OP_SIGMOID)
PG_OPDEF(sigmoid, unary_infer, sigmoid_forward, sigmoid_backward, sigmoid_rule);

/* tanh: y = tanh x;  dy/dx = 1 - y^2 */
PG_UNARY_KERNELS(tanh, PG_TANH(x), g *((T)1 - y * y))
PG_UNARY_RULE(tanh,
              TRY(y, pg__out_diff(n));
              TRY(yy, pg_mul(y, y));
              TRY(nyy, pg_neg(yy));
              TRY(loc, pg_add_scalar(nyy, 1.0));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(tanh, PG_OP_TANH)
PG_OPDEF(tanh, unary_infer, tanh_forward, tanh_backward, tanh_rule);

/* relu: y = max(0, x);  dy/dx = 1 if x > 0 else 0 (ReLU'(0) = 0, as in the notes) */
PG_UNARY_KERNELS(relu, x > 0 ? x : (T)0, x > 0 ? g : (T)0)
PG_UNARY_ENTRY(relu, PG_OP_RELU)
PG_OPDEF(relu, unary_infer, relu_forward, relu_backward, piecewise_rule);

/* leaky_relu: y = x if x > 0 else s x;  slope s at 0 (left branch) */
PG_UNARY_KERNELS(leaky_relu, x > 0 ? x : (T)p->c * x, x > 0 ? g : g * (T)p->c)
PG_UNARY1_ENTRY(leaky_relu, PG_OP_LEAKY_RELU, negative_slope)
PG_OPDEF(leaky_relu, unary_infer, leaky_relu_forward, leaky_relu_backward, piecewise_rule);

/* elu: y = x if x > 0 else a (e^x - 1);  dy/dx = a e^x for x <= 0 */
PG_UNARY_KERNELS(elu, x > 0 ? x : (T)p->c * PG_EXPM1(x), x > 0 ? g : g * (T)p->c * PG_EXP(x))
PG_UNARY_RULE(elu, /* 1 for x > 0, a e^x otherwise */
              TRY(pos, pg_compare_scalar(x, 0.0, PG_CMP_GT));
              TRY(ex, pg_exp(x));
              TRY(aex, pg_mul_scalar(ex, p->c));
              TRY(one, pg__scalar(x->dtype, 1.0));
              TRY(loc, pg_where(pos, one, aex));
              r = pg_mul(g, loc);)
PG_UNARY1_ENTRY(elu, PG_OP_ELU, alpha)
PG_OPDEF(elu, unary_infer, elu_forward, elu_backward, elu_rule);

/* clamp: y = min(max(x, lo), hi) (lo > hi gives hi everywhere, as numpy);
 * dy/dx = 1 for lo <= x <= hi (bounds inside), else 0 */
#define PG_CLAMP_LO(x) ((p->clamp.has_lo && (x) < (T)p->clamp.lo) ? (T)p->clamp.lo : (x)) /* x raised to lo */
PG_UNARY_KERNELS(clamp, (p->clamp.has_hi && PG_CLAMP_LO(x) > (T)p->clamp.hi) ? (T)p->clamp.hi : PG_CLAMP_LO(x),
                 ((p->clamp.has_lo && x < (T)p->clamp.lo) || (p->clamp.has_hi && x > (T)p->clamp.hi)) ? (T)0 : g)

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
    p.clamp.lo = lo;
    p.clamp.hi = hi;
    p.clamp.has_lo = has_lo != 0;
    p.clamp.has_hi = has_hi != 0;
    return pg__apply_float1(PG_OP_CLAMP, x, &p);
}

PG_OPDEF(clamp, unary_infer, clamp_forward, clamp_backward, piecewise_rule);

/* cast: y = (dtype) x;  dx = (dtype of x) g */

static pg_status cast_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg__meta_of(out, in[0]);
    out->dtype = p->cast;
    if (pg__dtype_size(out->dtype) == 0) return pg__fail(PG_ERR_TYPE, "cast: unknown dtype %d", (int)p->cast);
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

PG_UNARY_RULE(cast, r = pg_cast(g, n->edges[0].meta.dtype);)

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
        p.cast = dtype;
        pg_tensor *out = pg__apply(PG_OP_CAST, &x, 1, &p);
        pg_set_grad_enabled(prev);
        return out;
    }
    pg_params p = {0};
    p.cast = dtype;
    return pg__apply(PG_OP_CAST, &x, 1, &p);
}

PG_OPDEF(cast, cast_infer, cast_forward, cast_backward, cast_rule);
