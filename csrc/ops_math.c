/* ops_math.c: the plain elementwise functions of one float tensor (family
 * "math" in ops.def): exp, log, the trigonometric and hyperbolic functions,
 * log1p, expm1, log2, log10, exp2, square, rsqrt, the roundings, erf and the
 * smooth activations (silu, logsigmoid, softplus, mish, hardsigmoid, gelu).
 * Each op is one block: its forward formula right above its backward formula
 * (one PG_UNARY_KERNELS line, for float32 and float64), its differentiable
 * rule, its entry point and its row.
 * Python builds everything else of these ops from their rows in
 * pygrad/_optable.py (elementwise=True), and tests/c/test_pygrad.c checks
 * every op of this family against finite differences without naming it.
 * Rules here use ops_binary's and ops_compare's entry points; anything of
 * ops_unary goes through the tape (pg__r1), since ops_unary calls into this
 * file. */
#include "unary_kernels.h"

/* constants of the formulas below (M_LN2 and friends are not C11) */
#define PG_LN2 0.693147180559945309417232121458176568
#define PG_LN10 2.30258509299404568401799145468436421
#define PG_2_SQRTPI 1.12837916709551257389615890312154517   /* 2/sqrt(pi) */
#define PG_SQRT1_2 0.707106781186547524400844362104849039  /* 1/sqrt(2) */
#define PG_1_SQRT2PI 0.398942280401432677939946059934381868 /* 1/sqrt(2 pi) */

/* sigmoid(x) without overflow, as ops_unary's sigmoid computes it */
static inline float sigm_f(float x) { return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)); }
static inline double sigm_d(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }
#define PG_SIGM(v) _Generic((v), float: sigm_f, default: sigm_d)(v)
/* log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|) (NaN stays NaN) */
static inline float softplus_f(float x) { return (x > 0 ? x : 0.0f) + log1pf(expf(-fabsf(x))); }
static inline double softplus_d(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }
#define PG_SOFTPLUS(v) _Generic((v), float: softplus_f, default: softplus_d)(v)
/* mish's dy/dx: t + x sigmoid(x) (1 - t^2), t = tanh(softplus(x)) */
static inline float mish_local_f(float x) {
    float t = tanhf(softplus_f(x));
    return t + x * sigm_f(x) * (1.0f - t * t);
}
static inline double mish_local_d(double x) {
    double t = tanh(softplus_d(x));
    return t + x * sigm_d(x) * (1.0 - t * t);
}
#define PG_MISH_LOCAL(v) _Generic((v), float: mish_local_f, default: mish_local_d)(v)
/* min(max(x + 3, 0), 6) / 6, with NaN kept (the comparisons are false for NaN) */
static inline float hardsigmoid_f(float x) {
    float t = x + 3.0f;
    t = t < 0.0f ? 0.0f : t;
    return (t > 6.0f ? 6.0f : t) / 6.0f;
}
static inline double hardsigmoid_d(double x) {
    double t = x + 3.0;
    t = t < 0.0 ? 0.0 : t;
    return (t > 6.0 ? 6.0 : t) / 6.0;
}
#define PG_HARDSIGMOID(v) _Generic((v), float: hardsigmoid_f, default: hardsigmoid_d)(v)
/* exp: y = e^x;  dy/dx = y */
PG_UNARY_VM_KERNELS(exp, PG_VM_EXP, g *y)
PG_UNARY_RULE(exp,
              TRY(y, pg__out_diff(n));
              r = pg_mul(g, y);)
PG_UNARY_ENTRY(exp, PG_OP_EXP)
PG_UNARY_OPDEF(exp, unary_infer, exp_rule);

/* log: y = log x;  dy/dx = 1/x */
PG_UNARY_VM_KERNELS(log, PG_VM_LOG, g / x)
PG_UNARY_RULE(log, r = pg_div(g, x);)
PG_UNARY_ENTRY(log, PG_OP_LOG)
PG_UNARY_OPDEF(log, unary_infer, log_rule);

/* sin: y = sin x;  dy/dx = cos x */
PG_UNARY_VM2_KERNELS(sin, PG_VM_SIN, PG_VM_COS, 1.0)
PG_UNARY_RULE(sin,
              TRY(c, pg_cos(x));
              r = pg_mul(g, c);)
PG_UNARY_ENTRY(sin, PG_OP_SIN)
PG_UNARY_OPDEF(sin, unary_infer, sin_rule);

/* cos: y = cos x;  dy/dx = -sin x */
PG_UNARY_VM2_KERNELS(cos, PG_VM_COS, PG_VM_SIN, -1.0)
PG_UNARY_RULE(cos,
              TRY(s, pg_sin(x));
              TRY(t, pg_mul(g, s));
              r = pg__r1(PG_OP_NEG, t, 0);)
PG_UNARY_ENTRY(cos, PG_OP_COS)
PG_UNARY_OPDEF(cos, unary_infer, cos_rule);

/* tan: y = tan x;  dy/dx = 1 + y^2 */
PG_UNARY_KERNELS(tan, PG_TAN(x), g *((T)1 + y * y))
PG_UNARY_RULE(tan,
              TRY(y, pg__out_diff(n));
              TRY(yy, pg_mul(y, y));
              TRY(loc, pg__r1(PG_OP_ADD_SCALAR, yy, 1.0));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(tan, PG_OP_TAN)
PG_UNARY_OPDEF(tan, unary_infer, tan_rule);

/* atan: y = atan x;  dy/dx = 1/(1 + x^2) */
PG_UNARY_KERNELS(atan, PG_ATAN(x), g / ((T)1 + x * x))
PG_UNARY_RULE(atan,
              TRY(xx, pg_mul(x, x));
              TRY(den, pg__r1(PG_OP_ADD_SCALAR, xx, 1.0));
              r = pg_div(g, den);)
PG_UNARY_ENTRY(atan, PG_OP_ATAN)
PG_UNARY_OPDEF(atan, unary_infer, atan_rule);

/* sinh: y = sinh x;  dy/dx = cosh x */
PG_UNARY_KERNELS(sinh, PG_SINH(x), g * PG_COSH(x))
PG_UNARY_RULE(sinh,
              TRY(c, pg_cosh(x));
              r = pg_mul(g, c);)
PG_UNARY_ENTRY(sinh, PG_OP_SINH)
PG_UNARY_OPDEF(sinh, unary_infer, sinh_rule);

/* cosh: y = cosh x;  dy/dx = sinh x */
PG_UNARY_KERNELS(cosh, PG_COSH(x), g * PG_SINH(x))
PG_UNARY_RULE(cosh,
              TRY(s, pg_sinh(x));
              r = pg_mul(g, s);)
PG_UNARY_ENTRY(cosh, PG_OP_COSH)
PG_UNARY_OPDEF(cosh, unary_infer, cosh_rule);

/* asin: y = asin x;  dy/dx = 1/sqrt(1 - x^2) (NaN outside [-1, 1]) */
PG_UNARY_KERNELS(asin, PG_ASIN(x), g / PG_SQRT((T)1 - x * x))
PG_UNARY_RULE(asin,
              TRY(xx, pg_mul(x, x));
              TRY(u, pg__r1(PG_OP_NEG, xx, 0));
              TRY(v, pg__r1(PG_OP_ADD_SCALAR, u, 1.0));
              TRY(s, pg__r1(PG_OP_SQRT, v, 0));
              r = pg_div(g, s);)
PG_UNARY_ENTRY(asin, PG_OP_ASIN)
PG_UNARY_OPDEF(asin, unary_infer, asin_rule);

/* acos: y = acos x;  dy/dx = -1/sqrt(1 - x^2) (NaN outside [-1, 1]) */
PG_UNARY_KERNELS(acos, PG_ACOS(x), -g / PG_SQRT((T)1 - x * x))
PG_UNARY_RULE(acos,
              TRY(xx, pg_mul(x, x));
              TRY(u, pg__r1(PG_OP_NEG, xx, 0));
              TRY(v, pg__r1(PG_OP_ADD_SCALAR, u, 1.0));
              TRY(s, pg__r1(PG_OP_SQRT, v, 0));
              TRY(t, pg_div(g, s));
              r = pg__r1(PG_OP_NEG, t, 0);)
PG_UNARY_ENTRY(acos, PG_OP_ACOS)
PG_UNARY_OPDEF(acos, unary_infer, acos_rule);

/* log1p: y = log(1 + x), accurate for small x;  dy/dx = 1/(1 + x) */
PG_UNARY_KERNELS(log1p, PG_LOG1P(x), g / (x + (T)1))
PG_UNARY_RULE(log1p,
              TRY(den, pg__r1(PG_OP_ADD_SCALAR, x, 1.0));
              r = pg_div(g, den);)
PG_UNARY_ENTRY(log1p, PG_OP_LOG1P)
PG_UNARY_OPDEF(log1p, unary_infer, log1p_rule);

/* expm1: y = e^x - 1, accurate for small x;  dy/dx = y + 1 */
PG_UNARY_KERNELS(expm1, PG_EXPM1(x), g *(y + (T)1))
PG_UNARY_RULE(expm1,
              TRY(y, pg__out_diff(n));
              TRY(loc, pg__r1(PG_OP_ADD_SCALAR, y, 1.0));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(expm1, PG_OP_EXPM1)
PG_UNARY_OPDEF(expm1, unary_infer, expm1_rule);

/* log2: y = log2 x;  dy/dx = 1/(x ln 2) */
PG_UNARY_KERNELS(log2, PG_LOG2(x), g / (x * (T)PG_LN2))
PG_UNARY_RULE(log2,
              TRY(den, pg__r1(PG_OP_MUL_SCALAR, x, PG_LN2));
              r = pg_div(g, den);)
PG_UNARY_ENTRY(log2, PG_OP_LOG2)
PG_UNARY_OPDEF(log2, unary_infer, log2_rule);

/* log10: y = log10 x;  dy/dx = 1/(x ln 10) */
PG_UNARY_KERNELS(log10, PG_LOG10(x), g / (x * (T)PG_LN10))
PG_UNARY_RULE(log10,
              TRY(den, pg__r1(PG_OP_MUL_SCALAR, x, PG_LN10));
              r = pg_div(g, den);)
PG_UNARY_ENTRY(log10, PG_OP_LOG10)
PG_UNARY_OPDEF(log10, unary_infer, log10_rule);

/* exp2: y = 2^x;  dy/dx = y ln 2 */
PG_UNARY_KERNELS(exp2, PG_EXP2(x), g * y * (T)PG_LN2)
PG_UNARY_RULE(exp2,
              TRY(y, pg__out_diff(n));
              TRY(loc, pg__r1(PG_OP_MUL_SCALAR, y, PG_LN2));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(exp2, PG_OP_EXP2)
PG_UNARY_OPDEF(exp2, unary_infer, exp2_rule);

/* square: y = x^2;  dy/dx = 2x */
PG_UNARY_KERNELS(square, x * x, g *((T)2 * x))
PG_UNARY_RULE(square,
              TRY(loc, pg__r1(PG_OP_MUL_SCALAR, x, 2.0));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(square, PG_OP_SQUARE)
PG_UNARY_OPDEF(square, unary_infer, square_rule);

/* rsqrt: y = 1/sqrt x;  dy/dx = -y^3/2 (inf at 0, NaN below) */
PG_UNARY_KERNELS(rsqrt, (T)1 / PG_SQRT(x), (T)-0.5 * g * (y * y * y))
PG_UNARY_RULE(rsqrt,
              TRY(y, pg__out_diff(n));
              TRY(yy, pg_mul(y, y));
              TRY(y3, pg_mul(yy, y));
              TRY(t, pg_mul(g, y3));
              r = pg__r1(PG_OP_MUL_SCALAR, t, -0.5);)
PG_UNARY_ENTRY(rsqrt, PG_OP_RSQRT)
PG_UNARY_OPDEF(rsqrt, unary_infer, rsqrt_rule);

/* sign, floor, ceil, round, trunc: dy/dx = 0. Their rule records the zeros
 * as where(false, x, 0), a function of x (so the gradient has a graph, as
 * every rule's), finite whatever g and x hold. */
PG_UNARY_RULE(zero,
              (void)g;
              TRY(never, pg_compare_scalar(x, NAN, PG_CMP_EQ)); /* false everywhere, NaN included */
              TRY(zero, pg__scalar(x->dtype, 0.0));
              r = pg_where(never, x, zero);)

/* sign: y = -1, 0 (at ±0) or 1, NaN for NaN;  dy/dx = 0 */
PG_UNARY_KERNELS(sign, x > 0 ? (T)1 : (x < 0 ? (T)-1 : x), ((void)g, (T)0))
PG_UNARY_ENTRY(sign, PG_OP_SIGN)
PG_UNARY_OPDEF(sign, unary_infer, zero_rule);

/* floor: y = the largest integer <= x;  dy/dx = 0 */
PG_UNARY_KERNELS(floor, PG_FLOOR(x), ((void)g, (T)0))
PG_UNARY_ENTRY(floor, PG_OP_FLOOR)
PG_UNARY_OPDEF(floor, unary_infer, zero_rule);

/* ceil: y = the smallest integer >= x;  dy/dx = 0 */
PG_UNARY_KERNELS(ceil, PG_CEIL(x), ((void)g, (T)0))
PG_UNARY_ENTRY(ceil, PG_OP_CEIL)
PG_UNARY_OPDEF(ceil, unary_infer, zero_rule);

/* round: y = the nearest integer, halves to even (rint in the default rounding mode);  dy/dx = 0 */
PG_UNARY_KERNELS(round, PG_RINT(x), ((void)g, (T)0))
PG_UNARY_ENTRY(round, PG_OP_ROUND)
PG_UNARY_OPDEF(round, unary_infer, zero_rule);

/* trunc: y = x rounded toward zero;  dy/dx = 0 */
PG_UNARY_KERNELS(trunc, PG_TRUNC(x), ((void)g, (T)0))
PG_UNARY_ENTRY(trunc, PG_OP_TRUNC)
PG_UNARY_OPDEF(trunc, unary_infer, zero_rule);

/* erf: y = erf x, by kern_vmath;  dy/dx = 2/sqrt(pi) e^(-x^2), by kern_vmath (x^2 split exactly) */
PG_UNARY_VM2_KERNELS(erf, PG_VM_ERF, PG_VM_ERF_GRAD, 1.0)
PG_UNARY_RULE(erf,
              TRY(xx, pg_mul(x, x));
              TRY(nxx, pg__r1(PG_OP_NEG, xx, 0));
              TRY(e, pg_exp(nxx));
              TRY(loc, pg__r1(PG_OP_MUL_SCALAR, e, PG_2_SQRTPI));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(erf, PG_OP_ERF)
PG_UNARY_OPDEF(erf, unary_infer, erf_rule);

/* log1p(u) from w = 1 + u and log w (kern_vmath's log): log w · u / (w - 1), which corrects the rounding
 * of 1 + u (Goldberg), and u itself where 1 + u rounds to 1 */
#define PG_LOG1P_OF(TT, u, w, lw) ((w) == (TT)1 ? (u) : (lw) * (u) / ((w) - (TT)1))

/* silu: y = x sigmoid(x);  dy/dx = s (1 + x (1 - s)), s = sigmoid(x) by kern_vmath */
#define PG_SILU_F(TT, SUF, o, x, t, c)                                                                   \
    pg__vm_##SUF(PG_VM_SIGMOID, t, NULL, x, c, 1.0);                                                     \
    PG_IVDEP for (int64_t k = 0; k < c; k++) o[k] = x[k] * t[k];
#define PG_SILU_B(TT, SUF, d, g, x, t, c)                                                                \
    pg__vm_##SUF(PG_VM_SIGMOID, t, NULL, x, c, 1.0);                                                     \
    PG_IVDEP for (int64_t k = 0; k < c; k++) d[k] = g[k] * t[k] * ((TT)1 + x[k] * ((TT)1 - t[k]));
PG_UNARY_CHUNKED(silu, PG_SILU_F, PG_SILU_B)
PG_UNARY_RULE(silu,
              TRY(s, pg__r1(PG_OP_SIGMOID, x, 0));
              TRY(ns, pg__r1(PG_OP_NEG, s, 0));
              TRY(oms, pg__r1(PG_OP_ADD_SCALAR, ns, 1.0));
              TRY(t, pg_mul(x, oms));
              TRY(u, pg__r1(PG_OP_ADD_SCALAR, t, 1.0));
              TRY(loc, pg_mul(s, u));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(silu, PG_OP_SILU)
PG_UNARY_OPDEF(silu, unary_infer, silu_rule);

/* logsigmoid: y = log sigmoid(x) = min(x, 0) - log(1 + e^-|x|), without overflow;  dy/dx = sigmoid(-x);
 * e^t, log and sigmoid by kern_vmath */
#define PG_LOGSIG_F(TT, SUF, o, x, t, c)                                                                 \
    PG_IVDEP for (int64_t k = 0; k < c; k++) t[k] = -PG_FABS(x[k]);                                     \
    pg__vm_##SUF(PG_VM_EXP, t, NULL, t, c, 1.0);                                                         \
    PG_IVDEP for (int64_t k = 0; k < c; k++) o[k] = (TT)1 + t[k];                                        \
    pg__vm_##SUF(PG_VM_LOG, o, NULL, o, c, 1.0);                                                         \
    PG_IVDEP for (int64_t k = 0; k < c; k++) {                                                           \
        const TT u = t[k], w = (TT)1 + u;                                                                \
        o[k] = PG_SEL(x[k] < 0, x[k], (TT)0) - PG_LOG1P_OF(TT, u, w, o[k]);                              \
    }
#define PG_LOGSIG_B(TT, SUF, d, g, x, t, c)                                                              \
    PG_IVDEP for (int64_t k = 0; k < c; k++) t[k] = -x[k];                                               \
    pg__vm_##SUF(PG_VM_SIGMOID, d, g, t, c, 1.0);
PG_UNARY_CHUNKED(logsigmoid, PG_LOGSIG_F, PG_LOGSIG_B)
PG_UNARY_RULE(logsigmoid,
              TRY(nx, pg__r1(PG_OP_NEG, x, 0));
              TRY(s, pg__r1(PG_OP_SIGMOID, nx, 0));
              r = pg_mul(g, s);)
PG_UNARY_ENTRY(logsigmoid, PG_OP_LOGSIGMOID)
PG_UNARY_OPDEF(logsigmoid, unary_infer, logsigmoid_rule);

/* softplus: y = log(1 + e^x), and x itself above 20 (PyTorch's beta = 1, threshold = 20);
 * dy/dx = e^x/(1 + e^x), 1 above 20 */
#define PG_SOFTPLUS_F(TT, SUF, o, x, t, c)                                                               \
    pg__vm_##SUF(PG_VM_EXP, t, NULL, x, c, 1.0);                                                         \
    PG_IVDEP for (int64_t k = 0; k < c; k++) o[k] = (TT)1 + t[k];                                        \
    pg__vm_##SUF(PG_VM_LOG, o, NULL, o, c, 1.0);                                                         \
    PG_IVDEP for (int64_t k = 0; k < c; k++) {                                                           \
        const TT u = t[k], w = (TT)1 + u;                                                                \
        o[k] = PG_SEL(x[k] > (TT)20, x[k], PG_LOG1P_OF(TT, u, w, o[k]));                                 \
    }
#define PG_SOFTPLUS_B(TT, SUF, d, g, x, t, c)                                                            \
    pg__vm_##SUF(PG_VM_EXP, t, NULL, x, c, 1.0);                                                         \
    PG_IVDEP for (int64_t k = 0; k < c; k++) d[k] = PG_SEL(x[k] > (TT)20, g[k], g[k] * (t[k] / (t[k] + (TT)1)));
PG_UNARY_CHUNKED(softplus, PG_SOFTPLUS_F, PG_SOFTPLUS_B)
PG_UNARY_RULE(softplus,
              TRY(above, pg_compare_scalar(x, 20.0, PG_CMP_GT));
              TRY(s, pg__r1(PG_OP_SIGMOID, x, 0));
              TRY(one, pg__scalar(x->dtype, 1.0));
              TRY(loc, pg_where(above, one, s));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(softplus, PG_OP_SOFTPLUS)
PG_UNARY_OPDEF(softplus, unary_infer, softplus_rule);

/* mish: y = x tanh(softplus(x)), softplus without overflow;
 * dy/dx = t + x sigmoid(x) (1 - t^2), t = tanh(softplus(x)) */
PG_UNARY_KERNELS(mish, x * PG_TANH(PG_SOFTPLUS(x)), g * PG_MISH_LOCAL(x))
PG_UNARY_RULE(mish,
              TRY(sp, pg_softplus(x));
              TRY(t, pg__r1(PG_OP_TANH, sp, 0));
              TRY(tt, pg_mul(t, t));
              TRY(ntt, pg__r1(PG_OP_NEG, tt, 0));
              TRY(sech2, pg__r1(PG_OP_ADD_SCALAR, ntt, 1.0));
              TRY(s, pg__r1(PG_OP_SIGMOID, x, 0));
              TRY(xs_, pg_mul(x, s));
              TRY(u, pg_mul(xs_, sech2));
              TRY(loc, pg_add(t, u));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(mish, PG_OP_MISH)
PG_UNARY_OPDEF(mish, unary_infer, mish_rule);

/* hardsigmoid: y = min(max(x + 3, 0), 6) / 6 (NaN stays NaN);  dy/dx = 1/6 for -3 < x < 3, else 0 */
PG_UNARY_KERNELS(hardsigmoid, PG_HARDSIGMOID(x), PG_SEL(x > (T)-3 && x < (T)3, g * ((T)1 / (T)6), (T)0))
PG_UNARY_RULE(hardsigmoid, /* piecewise linear: the local derivative as a constant, the result
                            * recorded as where(false, x, .) so it is a function of x, as zero's */
              TRY(loc, pg__local(n));
              TRY(gl, pg_mul(g, loc));
              TRY(never, pg_compare_scalar(x, NAN, PG_CMP_EQ));
              r = pg_where(never, x, gl);)
PG_UNARY_ENTRY(hardsigmoid, PG_OP_HARDSIGMOID)
PG_UNARY_OPDEF(hardsigmoid, unary_infer, hardsigmoid_rule);

/* gelu (exact): y = x Phi(x) = x (1 + erf(x/sqrt 2))/2, by kern_vmath (through erfc, accurate in the tail);
 * dy/dx = Phi(x) + x phi(x), phi(x) = e^(-x^2/2)/sqrt(2 pi) */
PG_UNARY_VM2_KERNELS(gelu, PG_VM_GELU, PG_VM_GELU_GRAD, 1.0)
PG_UNARY_RULE(gelu,
              TRY(u, pg__r1(PG_OP_MUL_SCALAR, x, PG_SQRT1_2));
              TRY(e, pg_erf(u));
              TRY(e1, pg__r1(PG_OP_ADD_SCALAR, e, 1.0));
              TRY(cdf, pg__r1(PG_OP_MUL_SCALAR, e1, 0.5));
              TRY(xx, pg_mul(x, x));
              TRY(h, pg__r1(PG_OP_MUL_SCALAR, xx, -0.5));
              TRY(ex, pg_exp(h));
              TRY(pdf, pg__r1(PG_OP_MUL_SCALAR, ex, PG_1_SQRT2PI));
              TRY(xp, pg_mul(x, pdf));
              TRY(loc, pg_add(cdf, xp));
              r = pg_mul(g, loc);)
PG_UNARY_ENTRY(gelu, PG_OP_GELU)
PG_UNARY_OPDEF(gelu, unary_infer, gelu_rule);
