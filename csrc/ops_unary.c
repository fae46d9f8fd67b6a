/* ops_unary.c: the ops of one input with the input's shape: neg, the scalar
 * ops (add_scalar, mul_scalar, pow_scalar, div_scalar, rdiv_scalar, rpow_scalar), sqrt, reciprocal, abs,
 * the activations (sigmoid, tanh, relu, leaky_relu, elu, hardtanh), clamp, cast and check_finite_norm.
 * Flat loops: out and x have one shape. Each op is one block: its forward
 * formula right above its backward formula (one PG_UNARY_KERNELS line, for
 * float32 and float64), its differentiable rule (PG_UNARY_RULE), its entry
 * point and its row (PG_OPDEF). */
#include "unary_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* abs, relu, leaky_relu, clamp, hardtanh: piecewise linear, the local derivative as a constant */
PG_UNARY_RULE(piecewise,
              TRY(loc, pg__local(n));
              r = pg_mul(g, loc);)

/* -x (abs: |x|) of an integer tensor, from the integer rows of sub and where */
static pg_tensor *pg__int_neg_abs(pg_tensor *x, bool abs) {
    pg_tensor *zero = pg_tensor_full(x->dtype, 0, NULL, 0.0), *neg = NULL, *lt = NULL, *out = NULL;
    if (zero) neg = pg_sub(zero, x);
    if (neg && !abs) out = PG_NEW_REF(neg);
    if (neg && abs) lt = pg_compare(x, zero, PG_CMP_LT);
    if (lt) out = pg_where(lt, neg, x);
    pg_tensor_release(zero);
    pg_tensor_release(neg);
    pg_tensor_release(lt);
    return out;
}

/* ---- the ops ---- */

/* neg: y = -x */
PG_UNARY_KERNELS(neg, -x, -g)
PG_UNARY_RULE(neg, r = pg_neg(g);)
pg_tensor *pg_neg(pg_tensor *x) {
    if (x && pg__is_int(x->dtype)) return pg__int_neg_abs(x, false); /* 0 - x, wrapping */
    pg_params p = {0};
    p.op = PG_OP_NEG;
    return pg__apply_float1(PG_OP_NEG, x, &p);
}
PG_UNARY_OPDEF(neg, unary_infer, neg_rule);

/* add_scalar: y = x + c */
PG_UNARY_KERNELS(add_scalar, x + (T)p->c, g)
PG_UNARY_RULE(add_scalar, r = PG_NEW_REF(g);)
PG_UNARY1_ENTRY(add_scalar, PG_OP_ADD_SCALAR, c)
PG_UNARY_OPDEF(add_scalar, unary_infer, add_scalar_rule);

/* mul_scalar: y = c x */
PG_UNARY_KERNELS(mul_scalar, x *(T)p->c, g *(T)p->c)
PG_UNARY_RULE(mul_scalar, r = pg_mul_scalar(g, p->c);)
PG_UNARY1_ENTRY(mul_scalar, PG_OP_MUL_SCALAR, c)
PG_UNARY_OPDEF(mul_scalar, unary_infer, mul_scalar_rule);

/* pow_scalar: y = x^e;  dy/dx = e x^(e-1), and 0 for e = 0 (x^0 is 1 everywhere, also at
 * x = 0 where x^(e-1) is infinite: PyTorch's rule). As numpy's array power, the exponents 2, -1 and 0.5
 * take the correctly rounded operation, x x, 1 / x and sqrt x (with pow's +0 at -0 and +inf at -inf),
 * and 1 takes x, in loops of their own (vectorised); libm's pow rounds the exact ties of x x the other
 * way in a few elements in 10^4. Every other exponent takes the C library's pow */
/* float32 x^3, x^4 and x^-2, correctly rounded through double (PyTorch computes x x x, x x x x and
 * 1 / (x x), which round two or three times; the C library's powf is a scalar call, 30 times slower):
 * x x is exact in double, so (x x) x, (x x)(x x) and 1 / (x x) take one rounding in double, then one
 * to float. The second rounding can be wrong only where the double lands exactly on a midpoint of two
 * floats that the exact value is not on, where float's midpoints are coarser (subnormal results), or
 * at the overflow threshold: pg__ipow_rare flags these (and inf, NaN), and pg__ipow_exact takes the
 * side the exact residual of the last double operation (by fma) gives. Checked against __float128 over
 * every float. powf, within an ulp but not correctly rounded, differs in about 7 elements in 10^4. */
static inline double pg__ipow_d(double x, int e) {
    const double p = x * x;
    return e == 3 ? p * x : e == 4 ? p * p : 1.0 / p;
}
static inline int pg__ipow_rare(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    const uint64_t ex = (b >> 52) & 0x7ff; /* normal float results: biased exponents 897 ... 1150 */
    return ((b & 0x1fffffffu) == 0x10000000u) | ((ex - 897u >= 253u) & (d != 0));
}
#if defined(__GNUC__)
#define PG_IPOW_COLD __attribute__((noinline, cold))
#else
#define PG_IPOW_COLD
#endif
static PG_IPOW_COLD float pg__ipow_exact(float xf, int e) {
    const double x = xf, p = x * x;
    double d, r; /* r: the sign of the exact value less d */
    if (e == 3) d = p * x, r = fma(p, x, -d);
    else if (e == 4) d = p * p, r = fma(p, p, -d);
    else d = 1.0 / p, r = -fma(d, p, -1.0); /* 1/p - d has the sign of 1 - d p (p > 0) */
    const float f = (float)d;
    if (r == 0 || isnan(d) || isinf(d) || (double)f == d) return f;
    if (isinf(f)) /* past the largest float: inf from its midpoint with 2^128 on */
        return d == 0x1.ffffffp+127 && r < 0 ? 0x1.fffffep+127f : d == -0x1.ffffffp+127 && r > 0 ? -0x1.fffffep+127f : f;
    const float g = nextafterf(f, d > (double)f ? INFINITY : -INFINITY); /* the float on d's other side */
    if (isinf(g) || ((double)f + (double)g) / 2 != d) return f; /* not on a midpoint: rounded right */
    return (r > 0) == (g > f) ? g : f;
}
static inline float pg__ipow_f32(float x, int e) {
    const double d = pg__ipow_d(x, e);
    return pg__ipow_rare(d) ? pg__ipow_exact(x, e) : (float)d;
}
/* o[0:n) = xs[0:n)^E by blocks: vector loops, then the block again element by element if any was rare
 * (from a copy of the block: o may be xs) */
#define PG_IPOW_FLOOP(E)                                                                                 \
    {                                                                                                    \
        float xb[256];                                                                                   \
        for (int64_t i0 = 0; i0 < n; i0 += 256) {                                                        \
            const int64_t m = n - i0 < 256 ? n - i0 : 256;                                               \
            memcpy(xb, xs + i0, sizeof(float) * (size_t)m);                                              \
            int rare = 0;                                                                                \
            PG_IVDEP for (int64_t i = 0; i < m; i++) {                                                   \
                const double d = pg__ipow_d(xb[i], (E));                                                 \
                rare |= pg__ipow_rare(d);                                                                \
                o[i0 + i] = (float)d;                                                                    \
            }                                                                                            \
            if (rare)                                                                                    \
                for (int64_t i = 0; i < m; i++) o[i0 + i] = pg__ipow_f32(xb[i], (E));                    \
        }                                                                                                \
    }

#define PG_POW_ONE(TT, SUF)                                                                              \
    static inline TT pow_val_##SUF(TT x, double e) {                                                     \
        if (e == 2.0) return x * x;                                                                      \
        if (sizeof(TT) == 4 && (e == 3.0 || e == 4.0 || e == -2.0)) return (TT)pg__ipow_f32((float)x, (int)e); \
        if (e == 1.0) return x;                                                                          \
        if (e == -1.0) return (TT)1 / x;                                                                 \
        if (e == 0.5) return x == -(TT)INFINITY ? (TT)INFINITY : PG_SQRT(x) + (TT)0;                     \
        return PG_POW(x, (TT)e);                                                                         \
    }                                                                                                    \
    /* dx = (g e) x^(e - 1), 0 for e = 0 */                                                              \
    static inline TT pow_grad_##SUF(TT g, TT x, double e) {                                              \
        if (e == 0.0) return 0;                                                                          \
        return g * (TT)e * pow_val_##SUF(x, e - 1.0);                                                    \
    }
PG_POW_ONE(float, f32)
PG_POW_ONE(double, f64)
/* the loops: the exponents above each in a loop of its own, the call inlined with the constant */
#define PG_POW_CASES(LOOP, e) \
    if (e == 2.0) LOOP(2.0) else if (e == 1.0) LOOP(1.0) else if (e == -1.0) LOOP(-1.0) else if (e == 0.5) LOOP(0.5) \
    else if (e == 3.0) LOOP(3.0) else LOOP(e) /* not 0 as a constant: pow(sNaN, 0) is NaN, GCC would fold it to 1 */
#define PG_POW_KERNELS(TT, SUF)                                                                          \
    PG_CLONES static void pow_scalar_fwd_##SUF(TT *o, const TT *xs, int64_t n, const pg_params *p) {     \
        const double e = p->c;                                                                           \
        PG_POW_CASES(PG_POW_FLOOP_##SUF, e);                                                             \
    }                                                                                                    \
    PG_CLONES static void pow_scalar_bwd_##SUF(TT *dx, const TT *gs, const TT *xs, const TT *ys, int64_t n, \
                                               const pg_params *p) {                                     \
        (void)ys;                                                                                        \
        const double e = p->c;                                                                           \
        PG_POW_CASES(PG_POW_BLOOP_##SUF, e);                                                             \
    }
#define PG_POW_FLOOP_f32(E)                                                                              \
    if ((E) == 3.0) PG_IPOW_FLOOP(3) else if ((E) == 4.0) PG_IPOW_FLOOP(4) else if ((E) == -2.0) PG_IPOW_FLOOP(-2) \
    else { PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] = pow_val_f32(xs[i], (E)); }
#define PG_POW_FLOOP_f64(E) { PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] = pow_val_f64(xs[i], (E)); }
#define PG_POW_BLOOP_f32(E) { PG_IVDEP for (int64_t i = 0; i < n; i++) dx[i] = pow_grad_f32(gs[i], xs[i], (E)); }
#define PG_POW_BLOOP_f64(E) { PG_IVDEP for (int64_t i = 0; i < n; i++) dx[i] = pow_grad_f64(gs[i], xs[i], (E)); }
PG_POW_KERNELS(float, f32)
PG_POW_KERNELS(double, f64)
PG_UNARY_ONE_FWD(pow_scalar, float, pow_val_f32(x, p->c))
PG_UNARY_ONE_FWD(pow_scalar, double, pow_val_f64(x, p->c))
PG_UNARY_ONE_BWD(pow_scalar, float, pow_grad_f32(g, x, p->c))
PG_UNARY_ONE_BWD(pow_scalar, double, pow_grad_f64(g, x, p->c))
PG_UNARY_DRIVERS(pow_scalar)
PG_UNARY_FUSE_ROWS(pow_scalar)
PG_UNARY_RULE(pow_scalar,
              if (p->c == 0.0) {
                  r = pg__tensor_zeros_like(&n->edges[0].meta);
              } else {
                  TRY(t, pg_pow_scalar(x, p->c - 1.0));
                  TRY(u, pg_mul_scalar(t, p->c));
                  r = pg_mul(g, u);
              })
PG_UNARY1_ENTRY(pow_scalar, PG_OP_POW_SCALAR, e)
PG_UNARY_OPDEF(pow_scalar, unary_infer, pow_scalar_rule);

/* div_scalar: y = x / c, a true division in x's dtype (x * (1/c) would round twice,
 * and overflow 1/c for a subnormal c);  dy/dx = 1/c */
PG_UNARY_KERNELS(div_scalar, x / (T)p->c, g / (T)p->c)
PG_UNARY_RULE(div_scalar, r = pg_div_scalar(g, p->c);)
PG_UNARY1_ENTRY(div_scalar, PG_OP_DIV_SCALAR, c)
PG_UNARY_OPDEF(div_scalar, unary_infer, div_scalar_rule);

/* rdiv_scalar: y = c / x;  dy/dx = -c/x^2 = -y/x */
PG_UNARY_KERNELS(rdiv_scalar, (T)p->c / x, -g * (y / x))
PG_UNARY_RULE(rdiv_scalar,
              TRY(y, pg__out_diff(n));
              TRY(q, pg_div(y, x));
              TRY(t, pg_mul(g, q));
              r = pg_neg(t);)
PG_UNARY1_ENTRY(rdiv_scalar, PG_OP_RDIV_SCALAR, c)
PG_UNARY_OPDEF(rdiv_scalar, unary_infer, rdiv_scalar_rule);

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
PG_UNARY_OPDEF(rpow_scalar, unary_infer, rpow_scalar_rule);

/* sqrt: y = sqrt x;  dy/dx = 1/(2y) */
PG_UNARY_KERNELS(sqrt, PG_SQRT(x), g / ((T)2 * y))
PG_UNARY_RULE(sqrt,
              TRY(y, pg__out_diff(n));
              TRY(y2, pg_mul_scalar(y, 2.0));
              r = pg_div(g, y2);)
PG_UNARY_ENTRY(sqrt, PG_OP_SQRT)
PG_UNARY_OPDEF(sqrt, unary_infer, sqrt_rule);

/* reciprocal: y = 1/x;  dy/dx = -1/x^2 = -y^2 */
PG_UNARY_KERNELS(reciprocal, (T)1 / x, -g * (y * y))
PG_UNARY_RULE(reciprocal,
              TRY(y, pg__out_diff(n));
              TRY(yy, pg_mul(y, y));
              TRY(t, pg_mul(g, yy));
              r = pg_neg(t);)
PG_UNARY_ENTRY(reciprocal, PG_OP_RECIPROCAL)
PG_UNARY_OPDEF(reciprocal, unary_infer, reciprocal_rule);

/* abs: y = |x|;  dy/dx = sign(x), 0 at 0 */
PG_UNARY_KERNELS(abs, PG_FABS(x), x > 0 ? g : (x < 0 ? -g : (T)0))
pg_tensor *pg_abs(pg_tensor *x) {
    if (x && pg__is_int(x->dtype)) return pg__int_neg_abs(x, true); /* where(x < 0, 0 - x, x) */
    pg_params p = {0};
    p.op = PG_OP_ABS;
    return pg__apply_float1(PG_OP_ABS, x, &p);
}
PG_UNARY_OPDEF(abs, unary_infer, piecewise_rule);

/* sigmoid: y = 1/(1+e^-x), evaluated without overflow;  dy/dx = (1-y) y  (seed 000) */
PG_UNARY_VM_KERNELS(sigmoid, PG_VM_SIGMOID, g *y *((T)1 - y))
PG_UNARY_RULE(sigmoid,
              TRY(y, pg__out_diff(n));
              TRY(ny, pg_neg(y));
              TRY(one_minus, pg_add_scalar(ny, 1.0));
              TRY(loc, pg_mul(y, one_minus));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(sigmoid, PG_OP_SIGMOID)
PG_UNARY_OPDEF(sigmoid, unary_infer, sigmoid_rule);

/* tanh: y = tanh x;  dy/dx = 1 - y^2 */
PG_UNARY_VM_KERNELS(tanh, PG_VM_TANH, g *((T)1 - y * y))
PG_UNARY_RULE(tanh,
              TRY(y, pg__out_diff(n));
              TRY(yy, pg_mul(y, y));
              TRY(nyy, pg_neg(yy));
              TRY(loc, pg_add_scalar(nyy, 1.0));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(tanh, PG_OP_TANH)
PG_UNARY_OPDEF(tanh, unary_infer, tanh_rule);

/* relu: y = max(0, x);  dy/dx = 1 if x > 0 else 0 (ReLU'(0) = 0, as in the notes) */
PG_UNARY_KERNELS(relu, x > 0 ? x : (T)0, x > 0 ? g : (T)0)
PG_UNARY_ENTRY(relu, PG_OP_RELU)
PG_UNARY_OPDEF(relu, unary_infer, piecewise_rule);

/* leaky_relu: y = x if x > 0 else s x;  slope s at 0 (left branch) */
PG_UNARY_KERNELS(leaky_relu, PG_SEL(x > 0, x, (T)p->c * x), PG_SEL(x > 0, g, g * (T)p->c))
PG_UNARY1_ENTRY(leaky_relu, PG_OP_LEAKY_RELU, negative_slope)
PG_UNARY_OPDEF(leaky_relu, unary_infer, piecewise_rule);

/* elu: y = x if x > 0 else a (e^x - 1);  dy/dx = a e^x for x <= 0 */
/* e^x - 1 for x <= 0 as 2t / (1 - t), t = tanh(x/2) by kern_vmath (no cancellation: 1 - t is in [1, 2]),
 * e^x by kern_vmath; the x > 0 side selected */
#define PG_ELU_F(TT, SUF, o, x, t, c)                                                                    \
    PG_IVDEP for (int64_t k = 0; k < c; k++) t[k] = PG_SEL(x[k] > 0, (TT)0, x[k]) * (TT)0.5;            \
    pg__vm_##SUF(PG_VM_TANH, t, NULL, t, c, 1.0);                                                        \
    PG_IVDEP for (int64_t k = 0; k < c; k++)                                                             \
        o[k] = PG_SEL(x[k] > 0, x[k], (TT)p->c * (((TT)2 * t[k]) / ((TT)1 - t[k])));
#define PG_ELU_B(TT, SUF, d, g, x, t, c)                                                                 \
    pg__vm_##SUF(PG_VM_EXP, t, NULL, x, c, 1.0);                                                         \
    PG_IVDEP for (int64_t k = 0; k < c; k++) d[k] = PG_SEL(x[k] > 0, g[k], g[k] * (TT)p->c * t[k]);
PG_UNARY_CHUNKED(elu, PG_ELU_F, PG_ELU_B)
PG_UNARY_RULE(elu, /* 1 for x > 0, a e^x otherwise */
              TRY(pos, pg_compare_scalar(x, 0.0, PG_CMP_GT));
              TRY(ex, pg_exp(x));
              TRY(aex, pg_mul_scalar(ex, p->c));
              TRY(one, pg__scalar(x->dtype, 1.0));
              TRY(loc, pg_where(pos, one, aex));
              r = pg_mul(g, loc);)
PG_UNARY1_ENTRY(elu, PG_OP_ELU, alpha)
PG_UNARY_OPDEF(elu, unary_infer, elu_rule);

/* clamp: y = min(max(x, lo), hi) (lo > hi gives hi everywhere, as numpy);
 * dy/dx = 1 for lo <= x <= hi (bounds inside), else 0, and 0 at NaN (as PyTorch and
 * the reference engine). A bound not given is stored infinite, so the loops compare
 * without a branch on has_lo/has_hi and vectorise; NaN stays NaN (every comparison
 * with it is false). The backward's test is a select of both comparisons (`&&` left
 * GCC a branch per element) */
#define PG_CLAMP_LO(x) ((x) < (T)p->clamp.lo ? (T)p->clamp.lo : (x)) /* x raised to lo */
PG_UNARY_KERNELS(clamp, PG_CLAMP_LO(x) > (T)p->clamp.hi ? (T)p->clamp.hi : PG_CLAMP_LO(x),
                 PG_SEL((x >= (T)p->clamp.lo) & (x <= (T)p->clamp.hi), g, (T)0))

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
    p.clamp.lo = has_lo ? lo : -INFINITY;
    p.clamp.hi = has_hi ? hi : INFINITY;
    p.clamp.has_lo = has_lo != 0;
    p.clamp.has_hi = has_hi != 0;
    return pg__apply_float1(PG_OP_CLAMP, x, &p);
}

PG_UNARY_OPDEF(clamp, unary_infer, piecewise_rule);

/* hardtanh: y = min(max(x, lo), hi), lo <= hi (relu6 is lo = 0, hi = 6): clamp's values, NaN
 * staying NaN and -0 staying -0 at lo = 0 (x < lo is false for both);
 * dy/dx = 1 strictly inside, lo < x < hi, else 0 (clamp counts the bounds as inside): PyTorch's
 * hardtanh_backward, 0 at the bounds; and 0 at NaN, as its vector loop gives (its scalar loop, run on
 * the last elements of a tensor, passes g there). The test a select of both comparisons (`&&` left
 * GCC a branch per element: 6x slower on random signs) */
PG_UNARY_KERNELS(hardtanh, PG_CLAMP_LO(x) > (T)p->clamp.hi ? (T)p->clamp.hi : PG_CLAMP_LO(x),
                 PG_SEL((x > (T)p->clamp.lo) & (x < (T)p->clamp.hi), g, (T)0))

pg_tensor *pg_hardtanh(pg_tensor *x, double min_val, double max_val) {
    if (!(min_val <= max_val)) { /* NaN too */
        char lo[PG_FLOAT_BUF], hi[PG_FLOAT_BUF];
        pg__fail(PG_ERR_VALUE, "hardtanh: min_val %s is greater than max_val %s", pg__py_float(min_val, lo, sizeof lo),
                 pg__py_float(max_val, hi, sizeof hi));
        return NULL;
    }
    pg_params p = {0};
    p.clamp.lo = min_val;
    p.clamp.hi = max_val;
    p.clamp.has_lo = p.clamp.has_hi = true;
    return pg__apply_float1(PG_OP_HARDTANH, x, &p);
}

PG_UNARY_OPDEF(hardtanh, unary_infer, piecewise_rule);

/* ---- integer scalars (weak): the float scalar ops above, or the integer rows of the binary ops ---- */

pg_tensor *pg_binary_scalar_int(pg_tensor *x, pg_op op, int64_t c, int reflected) {
    if (op != PG_OP_ADD && op != PG_OP_SUB && op != PG_OP_MUL && op != PG_OP_DIV && op != PG_OP_POW) {
        pg__fail(PG_ERR_VALUE, "binary_scalar_int: op %d is not add, sub, mul, div or pow", (int)op);
        return NULL;
    }
    const char *name = pg_optable[op]->name;
    if (pg__check_tensor(name, x)) return NULL;
    if (pg__is_float(x->dtype)) {
        double v = (double)c;
        switch (op) {
        case PG_OP_ADD: return pg_add_scalar(x, v);
        case PG_OP_MUL: return pg_mul_scalar(x, v);
        case PG_OP_DIV: return reflected ? pg_rdiv_scalar(x, v) : pg_div_scalar(x, v);
        case PG_OP_POW: return reflected ? pg_rpow_scalar(x, v) : pg_pow_scalar(x, v);
        default: break;
        }
        if (!reflected) return pg_add_scalar(x, -v);
        pg_tensor *nx = pg_neg(x), *out = nx ? pg_add_scalar(nx, v) : NULL;
        pg_tensor_release(nx);
        return out;
    }
    if (op == PG_OP_POW && !reflected && c < 0) {
        pg__fail(PG_ERR_VALUE, "pow: integers to negative integer powers are not allowed (cast to float first)");
        return NULL;
    }
    pg_tensor *s = pg_tensor_full_int(x->dtype == PG_DTYPE_BOOL ? PG_DTYPE_I64 : x->dtype, 0, NULL, c);
    if (!s) return NULL;
    pg_tensor *out = reflected ? pg__apply2(op, s, x) : pg__apply2(op, x, s);
    pg_tensor_release(s);
    return out;
}

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

/* check_finite_norm: y = x, a total norm of order p (params c), refused at each run (eager or
 * replayed) when a value is NaN or infinite: nn.utils.clip_grad_norm_'s error_if_nonfinite=True,
 * checked in C so that a compiled step keeps the check. dx = g. */

static pg_status check_finite_norm_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in, (void)p;
    if (pg__check_float("check_finite_norm", in[0])) return PG_ERR_TYPE;
    pg__meta_of(out, in[0]);
    return PG_OK;
}

static pg_status check_finite_norm_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    int64_t at = pg__first_nonfinite(x);
    if (at >= 0) {
        double v = x->dtype == PG_DTYPE_F64 ? ((const double *)x->data)[at] : (double)((const float *)x->data)[at];
        char order[PG_FLOAT_BUF], got[PG_FLOAT_BUF];
        pg__py_float(p->c, order, sizeof order);
        pg__py_float(v, got, sizeof got); /* "nan", any sign */
        return pg__fail(PG_ERR_RUNTIME,
                        "clip_grad_norm_: the total norm of order %s for gradients from `parameters` is non-finite "
                        "(%s), so it cannot be clipped. To disable this error and scale the gradients by the "
                        "non-finite norm anyway, set `error_if_nonfinite=False`", order, got);
    }
    memcpy(out->data, x->data, (size_t)x->numel * pg__dtype_size(x->dtype));
    return PG_OK;
}

static pg_status check_finite_norm_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    if (!(dx[0] = pg__tensor_new_like(&n->edges[0].meta))) return PG_ERR_MEMORY;
    memcpy(dx[0]->data, g->data, (size_t)g->numel * pg__dtype_size(g->dtype));
    return PG_OK;
}

PG_UNARY_RULE(check_finite_norm, r = PG_NEW_REF(g);)

pg_tensor *pg_check_finite_norm(pg_tensor *x, double norm_type) {
    if (pg__check_tensor("check_finite_norm", x)) return NULL;
    pg_params p = {0};
    p.c = norm_type;
    return pg__apply(PG_OP_CHECK_FINITE_NORM, &x, 1, &p);
}

PG_OPDEF(check_finite_norm, check_finite_norm_infer, check_finite_norm_forward, check_finite_norm_backward,
         check_finite_norm_rule);
