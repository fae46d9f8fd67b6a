/* kern_vmath.c: the transcendental kernels over arrays (exp, log, tanh,
 * sigmoid, sin, cos, gelu and gelu's derivative, erf and erf's derivative):
 * explicit SIMD for AVX-512 and AVX2+FMA, picked at run
 * time by the CPU's features (pg_set_vmath_kernel can force one), and the
 * portable scalar loops over libm kept as the fallback on other CPUs and
 * compilers. The vector maths itself is vmath_simd.h; this file holds its
 * constants, the scalar loops and the choice. Accuracy (tested by
 * tests/kernels/test_vmath.py against a correctly rounded oracle): within 2
 * ulp for float32 and 4 ulp for float64 over the whole domain, with libm's
 * special values. Nothing here checks arguments or records anything. */
#include "internal.h"

#include <stdatomic.h>
#include <string.h>

/* one array kernel: o[0:n] = f(x[0:n]), or g * scale * f(x) when g is not NULL */
typedef void (*pgv_f64_fn)(double *o, const double *g, const double *x, int64_t n, double scale);
typedef void (*pgv_f32_fn)(float *o, const float *g, const float *x, int64_t n, double scale);
typedef struct pgv_table {
    pgv_f64_fn f64[PG_VM_COUNT];
    pgv_f32_fn f32[PG_VM_COUNT];
} pgv_table;

/* ---- the scalar fallback: libm, one element at a time ---- */

static double pgv_sigmoid_d(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }
static float pgv_sigmoid_f(float x) { return (float)pgv_sigmoid_d(x); } /* rounded once: within an ulp */

#define PGV_SCALAR(NAME, F64, F32)                                                                   \
    static void NAME##_f64_scalar(double *o, const double *g, const double *x, int64_t n, double scale) { \
        if (g)                                                                                       \
            for (int64_t i = 0; i < n; i++) o[i] = (g[i] * scale) * F64(x[i]);                       \
        else                                                                                         \
            for (int64_t i = 0; i < n; i++) o[i] = F64(x[i]);                                        \
    }                                                                                                \
    static void NAME##_f32_scalar(float *o, const float *g, const float *x, int64_t n, double scale) {   \
        if (g)                                                                                       \
            for (int64_t i = 0; i < n; i++) o[i] = (float)(((double)g[i] * scale) * (double)F32(x[i])); \
        else                                                                                         \
            for (int64_t i = 0; i < n; i++) o[i] = F32(x[i]);                                        \
    }
/* gelu = x Phi(x) = x erfc(-x/sqrt 2)/2 in long double: where that is x86's
 * 64-bit format, the rounding of x/sqrt 2 (which costs up to 2 z^2 u
 * relative) and subnormal erfc values stay below float64's ulp; where long
 * double is double, the far negative tail (x < -20) loses up to hundreds of
 * ulps in this fallback. |x| > 40: x, or -0 (x * 0: NaN for -inf, as
 * x (1 + erf(x/sqrt 2))/2 gives it). */
static double pgv_gelu_d(double x) {
    if (!(fabs(x) <= 40.0)) return x > 0 ? x : x * 0.0;
    return (double)(0.5L * (long double)x * erfcl(-(long double)x * 0.707106781186547524400844362104849039L));
}
static float pgv_gelu_f(float x) { return (float)pgv_gelu_d(x); }
/* dgelu/dx = Phi(x) + x phi(x): float64 in long double as gelu (rounding x^2/2 and x/sqrt 2 in
 * float64 would cost up to x^2 2^-53 relative in the tail), float32 in float64 (that error stays far
 * below float32's ulp) */
static double pgv_gelu_grad_d(double x) {
    long double xl = x;
    return (double)(0.5L * erfcl(-xl * 0.707106781186547524400844362104849039L) +
                    xl * (expl(-0.5L * xl * xl) * 0.398942280401432677939946059934381868L));
}
static float pgv_gelu_grad_f(float x) {
    double xd = x;
    return (float)(0.5 * erfc(-xd * 0x1.6a09e667f3bcdp-1) + xd * (exp(-0.5 * xd * xd) * 0x1.9884533d43651p-2));
}
/* derf/dx = 2/sqrt(pi) e^-x^2, with x^2 = h + l exactly (rounding x^2 would cost up to x^2 2^-53
 * relative): 0 beyond |x| = 28, where it underflows (infinities included), NaN for NaN */
static double pgv_erf_grad_d(double x) {
    if (!(fabs(x) <= 28.0)) return x != x ? x : 0.0;
    double h = x * x, l = fma(x, x, -h), e = exp(-h);
    return 0x1.20dd750429b6dp+0 * (e - e * l);
}
static float pgv_erf_grad_f(float x) { return (float)pgv_erf_grad_d(x); }

PGV_SCALAR(exp, exp, expf)
PGV_SCALAR(log, log, logf)
PGV_SCALAR(tanh, tanh, tanhf)
PGV_SCALAR(sigmoid, pgv_sigmoid_d, pgv_sigmoid_f)
PGV_SCALAR(sin, sin, sinf)
PGV_SCALAR(cos, cos, cosf)
PGV_SCALAR(gelu, pgv_gelu_d, pgv_gelu_f)
PGV_SCALAR(gelu_grad, pgv_gelu_grad_d, pgv_gelu_grad_f)
PGV_SCALAR(erf, erf, erff)
PGV_SCALAR(erf_grad, pgv_erf_grad_d, pgv_erf_grad_f)

static const pgv_table pgv_table_scalar = {
    {exp_f64_scalar, log_f64_scalar, tanh_f64_scalar, sigmoid_f64_scalar, sin_f64_scalar, cos_f64_scalar,
     gelu_f64_scalar, gelu_grad_f64_scalar, erf_f64_scalar, erf_grad_f64_scalar},
    {exp_f32_scalar, log_f32_scalar, tanh_f32_scalar, sigmoid_f32_scalar, sin_f32_scalar, cos_f32_scalar,
     gelu_f32_scalar, gelu_grad_f32_scalar, erf_f32_scalar, erf_grad_f32_scalar},
};

/* ---- the vector kernels ---- */

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    (!defined(__clang__) || __clang_major__ >= 10) && (defined(__clang__) || __GNUC__ >= 9)
#define PGV_X86 1
#include <immintrin.h>

/* the constants of vmath_simd.h (hex: exact) */
#define PGV_MAGIC 0x1.8p52 /* x + MAGIC - MAGIC rounds x to an integer; its low bits hold it */
#define PGV_LOG2E 0x1.71547652b82fep+0
#define PGV_LN2_HI 0x1.62e42fefa39efp-1 /* ln 2 = HI + LO to 106 bits */
#define PGV_LN2_LO 0x1.abc9e3b39803fp-56
#define PGV_LN2_HI32 0x1.62e42fee00000p-1 /* ln 2 = HI32 + LO32, HI32 with 32 bits */
#define PGV_LN2_LO32 0x1.a39ef35793c76p-33
#define PGV_2_PI 0x1.45f306dc9c883p-1 /* 2/pi */
#define PGV_PIO2_1 0x1.921fb54442d18p+0 /* pi/2 = 1 + 2 + 3 to 160 bits */
#define PGV_PIO2_2 0x1.1a62633145c07p-54
#define PGV_PIO2_3 -0x1.f1976b7ed8fbcp-110
#define PGV_TRIG_MAX 0x1p20 /* |x| beyond which sin and cos go to libm */

/* Taylor coefficients: exp's 1/k!; sin's (-1)^k/(2k+1)! (k >= 1); cos's
 * (-1)^k/(2k)! (k >= 2); tanh's from x^3 on (its Bernoulli-number series) */
static const double pgv_exp_c[] = {1.0,
                                   1.0,
                                   0.5,
                                   0x1.5555555555555p-3,
                                   0x1.5555555555555p-5,
                                   0x1.1111111111111p-7,
                                   0x1.6c16c16c16c17p-10,
                                   0x1.a01a01a01a01ap-13,
                                   0x1.a01a01a01a01ap-16,
                                   0x1.71de3a556c734p-19,
                                   0x1.27e4fb7789f5cp-22,
                                   0x1.ae64567f544e4p-26,
                                   0x1.1eed8eff8d898p-29,
                                   0x1.6124613a86d09p-33};
static const double pgv_sin_c[] = {-0x1.5555555555555p-3, 0x1.1111111111111p-7,  -0x1.a01a01a01a01ap-13,
                                   0x1.71de3a556c734p-19, -0x1.ae64567f544e4p-26, 0x1.6124613a86d09p-33,
                                   -0x1.ae7f3e733b81fp-41, 0x1.952c77030ad4ap-49};
static const double pgv_cos_c[] = {0x1.5555555555555p-5,  -0x1.6c16c16c16c17p-10, 0x1.a01a01a01a01ap-16,
                                   -0x1.27e4fb7789f5cp-22, 0x1.1eed8eff8d898p-29,  -0x1.93974a8c07c9dp-37,
                                   0x1.ae7f3e733b81fp-45};
static const double pgv_tanh_c[] = {
    -0x1.5555555555555p-2, 0x1.1111111111111p-3,  -0x1.ba1ba1ba1ba1cp-5,  0x1.664f4882c10fap-6,
    -0x1.226e355e6c23dp-7, 0x1.d6d3d0e157de0p-9,  -0x1.7da36452b75e3p-10, 0x1.3558248036744p-11,
    -0x1.f57d7734d1664p-13, 0x1.967e18afcafadp-14, -0x1.497d8eea25259p-15, 0x1.0b132d39a6050p-16,
    -0x1.b0f72d3ee24e9p-18, 0x1.5ef2da474e5b7p-19, -0x1.1c77df95c1c0dp-20, 0x1.cd299de4ae6bbp-22,
    -0x1.75cde6563fed9p-23, 0x1.2efe8db3aff1fp-24, -0x1.eb3229047434cp-26, 0x1.8e25ff9327e2cp-27};

/* erfc, float64 (gelu, erf): G(s) = (1 + 2z) e^(z^2) erfc(z) as a polynomial
 * in s, where t = (z - K)/(z + K) (K = 3.75) maps z in [0, ZMAX] to s in
 * [-1, 1] by s = (t + 1) A - 1: G lies in [1, 1.2] there, so its
 * polynomial is well conditioned. Fitted (Chebyshev interpolation at 120
 * nodes in 160-bit arithmetic, converted to monomials) for ZMAX = 28 (gelu
 * underflows beyond |x| = 38.6, z = 27.3; erf rounds to 1 from z = 5.9);
 * truncation below 2^-61 relative. */
#define PGV_GELU_K 3.75
#define PGV_GELU_A64 0x1.2249249249249p+0 /* 2/(t(ZMAX) + 1) */
#define PGV_GELU_Z64 28.0
#define PGV_SQRT1_2 0x1.6a09e667f3bcdp-1
#define PGV_SQRT2 0x1.6a09e667f3bcdp+0
#define PGV_1_SQRT2PI 0x1.9884533d43651p-2
#define PGV_2_SQRTPI 0x1.20dd750429b6dp+0
static const double pgv_gelu_c64[] = {
    0x1.4104031efd333p+0, -0x1.ee416599e8790p-4, -0x1.cf9502f5295fap-6,
    0x1.a1bd1a0535236p-4, -0x1.b76f8d4d82efbp-4, 0x1.38c31120e2061p-4,
    -0x1.4c1994ef8d0e0p-5, 0x1.04d78885e9c51p-6, -0x1.1006b84ef2a98p-8,
    0x1.8c2c4f8410a2bp-12, 0x1.a50733227543dp-13, -0x1.5e070ab8afadfp-14,
    0x1.e6b6d99011903p-21, 0x1.f57cc55d44e55p-18, -0x1.3dc6fd0fac46fp-20,
    -0x1.49520d2ad5378p-21, 0x1.796db77a47771p-23, 0x1.e18adb02364ebp-25,
    -0x1.702fce2900d0dp-26, -0x1.a20fd7229f153p-28, 0x1.4cac062a9ed6bp-29,
    0x1.78cc601bdbb84p-31, -0x1.04c93eb5b0d53p-32, -0x1.cb73dbddb0db9p-35,
    0x1.05393850dd986p-36};

/* erf(z) = z E(z^2) for |z| < 1/2 (Taylor: 2/sqrt(pi) (-1)^n/(n! (2n + 1)); truncation < 2^-57) */
static const double pgv_erf_c[] = {0x1.20dd750429b6dp+0, -0x1.812746b0379e7p-2, 0x1.ce2f21a042be2p-4, -0x1.b82ce31288b51p-6, 0x1.565bcd0e6a53fp-8, -0x1.c02db40040b86p-11, 0x1.f9a326f9b89b7p-14, -0x1.f4d25c3e0c2ebp-17, 0x1.b9e6c9dc651a3p-20, -0x1.5f742ec43e71ap-23, 0x1.fcc5720624c1cp-27, -0x1.51d7181c5d36dp-30, 0x1.9e6ad5e55a730p-34};

/* log, float64: x = 2^k z with z in [T, 2T), T = 0.705078125 (PGV_LOG_T's
 * bits), cut into 128 intervals of equal width in z's bits; interval j holds
 * invc_j, a float64 within 2^-36 of 1/c_j (c_j its midpoint; exactly 1 for
 * the interval [1 - 2^-9, 1 + 2^-8) around 1), picked among those neighbours
 * so that logc_j = -log(invc_j) rounded to float64 is within 1/30 ulp of
 * the exact value; r = z invc_j - 1 then has |r| < 2^-8 + 2^-36. Computed
 * in 200-bit arithmetic. */
#define PGV_LOG_T 0x3FE6900000000000LL
static const double pgv_log_inv[128] = {
    0x1.6a13cd153728dp+0, 0x1.6816816816811p+0, 0x1.661ec6a5122f8p+0, 0x1.642c8590a2166p+0,
    0x1.623fa77016224p+0, 0x1.605816058160bp+0, 0x1.5e75bb8cf15e8p+0, 0x1.5c9882b92105bp+0,
    0x1.5ac056b025aa9p+0, 0x1.58ed2308058f6p+0, 0x1.571ed3c506b28p+0, 0x1.5555555545556p+0,
    0x1.5390948f40ff0p+0, 0x1.51d07eae2f824p+0, 0x1.501501502500ep+0, 0x1.4e5e0a72f0532p+0,
    0x1.4cab88724af8cp+0, 0x1.4afd6a051bf66p+0, 0x1.49539e3b2d06ep+0, 0x1.47ae147ae147ap+0,
    0x1.460cbc7f5cfa4p+0, 0x1.446f86563d9f3p+0, 0x1.42d6625d51f8bp+0, 0x1.4141414141417p+0,
    0x1.3fb013fb013fcp+0, 0x1.3e22cbce4a909p+0, 0x1.3c995a47babe5p+0, 0x1.3b13b13b13b13p+0,
    0x1.3991c2c197f5ep+0, 0x1.381381382380ep+0, 0x1.3698df3df0739p+0, 0x1.3521cfb2b78c2p+0,
    0x1.33ae45b57bcb8p+0, 0x1.323e34a2b10c2p+0, 0x1.30d190131d18ep+0, 0x1.2f684bda12f68p+0,
    0x1.2e025c04c8089p+0, 0x1.2c9fb4d812c9ap+0, 0x1.2b404ad022b3dp+0, 0x1.29e4129e312a1p+0,
    0x1.288b01288b009p+0, 0x1.27350b880273ap+0, 0x1.25e22707f92fcp+0, 0x1.2492492492492p+0,
    0x1.234567899bcefp+0, 0x1.21fb78121fb7bp+0, 0x1.20b470c67c0d1p+0, 0x1.1f7047dc21f6fp+0,
    0x1.1e2ef3b3fb875p+0, 0x1.1cf06ada2811bp+0, 0x1.1bb4a4046ed23p+0, 0x1.1a7b961197b97p+0,
    0x1.19453808ca29ep+0, 0x1.1811811811810p+0, 0x1.16e0689427378p+0, 0x1.15b1e5f742711p+0,
    0x1.1485f0e0acd41p+0, 0x1.135c81134c814p+0, 0x1.12358e75e302dp+0, 0x1.1111111111111p+0,
    0x1.0fef010fef012p+0, 0x1.0ecf56be79c8ep+0, 0x1.0db20a88f4695p+0, 0x1.0c9714fbdda3ap+0,
    0x1.0b7e6ec269dc6p+0, 0x1.0a6810a6910a6p+0, 0x1.0953f39010955p+0, 0x1.0842108411085p+0,
    0x1.073260a46f7cap+0, 0x1.0624dd2f2a9fbp+0, 0x1.05197f7d63406p+0, 0x1.0410410400411p+0,
    0x1.03091b51e5e1cp+0, 0x1.0204081010409p+0, 0x1.01010100f1011p+0, 0x1.0000000000000p+0,
    0x1.fc07f01fb07f1p-1, 0x1.f81f81f82f81fp-1, 0x1.f44659e494275p-1, 0x1.f07c1f07c1f08p-1,
    0x1.ecc07b301ecc1p-1, 0x1.e9131abf0b767p-1, 0x1.e573ac901e572p-1, 0x1.e1e1e1e1e1e1ep-1,
    0x1.de5d6e3f98687p-1, 0x1.dae6076ba81d9p-1, 0x1.d77b654b72c35p-1, 0x1.d41d41d41d41ep-1,
    0x1.d0cb58f6ec07bp-1, 0x1.cd85689039b0dp-1, 0x1.ca4b3055ee18fp-1, 0x1.c71c71c70c71dp-1,
    0x1.c3f8f01c4f8ebp-1, 0x1.c0e070381c0e6p-1, 0x1.bdd2b89940707p-1, 0x1.bacf914c1bad2p-1,
    0x1.b7d6c3dda338bp-1, 0x1.b4e81b4e81b52p-1, 0x1.b2036406c80ccp-1, 0x1.af286bca1af29p-1,
    0x1.ac5701ac47022p-1, 0x1.a98ef606b63bap-1, 0x1.a6d01a6d01a76p-1, 0x1.a41a41a40a41cp-1,
    0x1.a16d3f97a4affp-1, 0x1.9ec8e951133d2p-1, 0x1.9c2d14ee4a0fbp-1, 0x1.99999999a9999p-1,
    0x1.970e4f80cb86bp-1, 0x1.948b0fcd7e9dfp-1, 0x1.920fb49d0e22ep-1, 0x1.8f9c18f9c18fcp-1,
    0x1.8d3018d2f18ebp-1, 0x1.8acb90f6cf3a4p-1, 0x1.886e5f0abb04ap-1, 0x1.8618618618618p-1,
    0x1.83c977ab2bee7p-1, 0x1.8181818181824p-1, 0x1.7f405fd007f48p-1, 0x1.7d05f417e05eep-1,
    0x1.7ad2208dfeccep-1, 0x1.78a4c8177a4cfp-1, 0x1.767dce434a9c1p-1, 0x1.745d1745e1742p-1,
    0x1.724287f47dea7p-1, 0x1.702e05c0b8169p-1, 0x1.6e1f76b4337d7p-1, 0x1.6c16c16c16c19p-1
};
static const double pgv_log_logc[128] = {
    -0x1.630030b3aac40p-2, -0x1.5d5bddf595f20p-2, -0x1.57bf753c8d1f8p-2, -0x1.522ae0735c3ddp-2,
    -0x1.4c9e09e172becp-2, -0x1.4718dc271c42bp-2, -0x1.419b423d2fcc9p-2, -0x1.3c2527730418fp-2,
    -0x1.36b6776c104d2p-2, -0x1.314f1e1d064fep-2, -0x1.2bef07cdc931fp-2, -0x1.269621131db94p-2,
    -0x1.214456d0eb8e4p-2, -0x1.1bf99635a6bc2p-2, -0x1.16b5ccbb0075ep-2, -0x1.1178e8227e465p-2,
    -0x1.0c42d675e4f3ep-2, -0x1.07138604a4086p-2, -0x1.01eae5626c6a7p-2, -0x1.f991c6cb3b374p-3,
    -0x1.ef5ade4dd0024p-3, -0x1.e530effed5fe0p-3, -0x1.db13db0d4895ap-3, -0x1.d1037f2655e8ep-3,
    -0x1.c6ffbc6f00f77p-3, -0x1.bd087383bd8d7p-3, -0x1.b31d8575bce2ep-3, -0x1.a93ed3c8ad9dfp-3,
    -0x1.9f6c4070f1e42p-3, -0x1.95a5adcfd915bp-3, -0x1.8beafeb3f962cp-3, -0x1.823c16551a3c7p-3,
    -0x1.7898d85444c9cp-3, -0x1.6f0128b756acdp-3, -0x1.6574ebe92cb2cp-3, -0x1.5bf406b543db0p-3,
    -0x1.527e5e4a87d2ep-3, -0x1.4913d8333b53ap-3, -0x1.3fb45a5a000b5p-3, -0x1.365fcb00eb029p-3,
    -0x1.2d1610c8680f8p-3, -0x1.23d712a42d224p-3, -0x1.1aa2b7e1cff76p-3, -0x1.1178e8227e47ap-3,
    -0x1.08598b5973277p-3, -0x1.fe89139dbd58fp-4, -0x1.ec739830a10b5p-4, -0x1.da72763928690p-4,
    -0x1.c885801bc4b2ep-4, -0x1.b6ac88dad5b00p-4, -0x1.a4e7640b1bbe1p-4, -0x1.9335e5d4ac996p-4,
    -0x1.8197e2f40e40dp-4, -0x1.700d30aeac0cbp-4, -0x1.5e95a4d9791bep-4, -0x1.4d3115d11bee7p-4,
    -0x1.3bdf5a7d1eeb7p-4, -0x1.2aa04a43837cep-4, -0x1.1973bd1554507p-4, -0x1.08598b59e3a06p-4,
    -0x1.eea31c006b89ap-5, -0x1.ccb73cdfbf293p-5, -0x1.aaef2d0fb10eap-5, -0x1.894aa14be332cp-5,
    -0x1.67c94f2f35b28p-5, -0x1.466aed44ca3dap-5, -0x1.252f32f8d185fp-5, -0x1.0415d89c8445fp-5,
    -0x1.c63d2ebd66bd0p-6, -0x1.8492529074a86p-6, -0x1.432a925594d39p-6, -0x1.0205658545876p-6,
    -0x1.82448a30a2380p-7, -0x1.010157509dee8p-7, -0x1.0080558598c24p-8, 0x0.0p+0, 0x1.fe02a6b916718p-8,
    0x1.fc0a8b0bb0405p-7, 0x1.7b91b07f670a3p-6, 0x1.f829b0e7832f8p-6, 0x1.39e87b9febd57p-5,
    0x1.77458f632dcffp-5, 0x1.b42dd711971dbp-5, 0x1.f0a30c01162a8p-5, 0x1.16536ee9aeafdp-4,
    0x1.341d7961331e1p-4, 0x1.51b073f0ec833p-4, 0x1.6f0d28ae56b45p-4, 0x1.8c345d6319ae5p-4,
    0x1.a926d3a4ad550p-4, 0x1.c5e548f5bc755p-4, 0x1.e27076e33f2e1p-4, 0x1.fec9131d2dae9p-4,
    0x1.0d77e7cd08e40p-3, 0x1.1b72ad52f6758p-3, 0x1.29552f81ff518p-3, 0x1.371fc201e8f75p-3,
    0x1.44d2b6ccb7d0ep-3, 0x1.526e5e3a1b475p-3, 0x1.5ff3070a793d1p-3, 0x1.6d60fe71e99fap-3,
    0x1.7ab89020c091ap-3, 0x1.87fa06520c8e5p-3, 0x1.9525a9cf936acp-3, 0x1.a23bc1fe2b570p-3,
    0x1.af3c94e7bd016p-3, 0x1.bc286742d8cf7p-3, 0x1.c8ff7c7959a25p-3, 0x1.d5c216b4fbbb7p-3,
    0x1.e27076e25e2edp-3, 0x1.ef0adcbdc591cp-3, 0x1.fb9186d5e3e1fp-3, 0x1.0402594b76403p-2,
    0x1.0a324e270f8f2p-2, 0x1.1058bf9ae4ad4p-2, 0x1.1675cababa60fp-2, 0x1.1c898c16999e1p-2,
    0x1.22941fbcf7946p-2, 0x1.2895a13e1328fp-2, 0x1.2e8e2bade6d41p-2, 0x1.347dd9a9b3138p-2,
    0x1.3a64c556bfdd7p-2, 0x1.404308686a7b8p-2, 0x1.4618bc2199ecdp-2, 0x1.4be5f9574b4dbp-2,
    0x1.51aad872df841p-2, 0x1.5767717455a3fp-2, 0x1.5d1bdbf5809c4p-2
};
/* exp, float64: 2^(j/16), j = 0..15, rounded to float64 */
static const double pgv_exp2_t[16] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
    0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
    0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0
};
/* log, float32: as float64's with 16 intervals from T = 0.703125
 * (PGV_LOGF_T's bits; the interval [0.984375, 1.03125) around 1 has
 * invc = 1), invc_j = 1/c_j rounded to float, -log(invc_j) = hi_j + lo_j
 * (|r| < 2^-5) */
#define PGV_LOGF_T 0x3f340000
static const float pgv_logf_inv[16] = {
    0x1.642c86p+0f, 0x1.555556p+0f, 0x1.47ae14p+0f, 0x1.3b13b2p+0f, 0x1.2f684cp+0f, 0x1.24924ap+0f,
    0x1.1a7b96p+0f, 0x1.111112p+0f, 0x1.08421p+0f, 0x1p+0f, 0x1.e1e1e2p-1f, 0x1.c71c72p-1f, 0x1.af286cp-1f,
    0x1.99999ap-1f, 0x1.861862p-1f, 0x1.745d18p-1f
};
static const float pgv_logf_hi[16] = {
    -0x1.522ae2p-2f, -0x1.269624p-2f, -0x1.f991c4p-3f, -0x1.a93ed8p-3f, -0x1.5bf408p-3f, -0x1.1178eep-3f,
    -0x1.9335e4p-4f, -0x1.08599ap-4f, -0x1.0415c8p-5f, 0.0f, 0x1.f0a30ap-5f, 0x1.e27074p-4f, 0x1.5ff306p-3f,
    0x1.c8ff7ap-3f, 0x1.1675cap-2f, 0x1.4618bap-2f
};
static const float pgv_logf_lo[16] = {
    0x1.31d70ap-28f, 0x1.d9648ep-27f, 0x1.a62648p-30f, -0x1.915b3ap-28f, 0x1.2af094p-29f, -0x1.13f22cp-30f,
    -0x1.ab2932p-29f, 0x1.4c38ccp-29f, -0x1.3ce88p-30f, 0.0f, 0x1.162a76p-37f, 0x1.c55e5cp-29f,
    0x1.4f27aap-32f, 0x1.e6a68ap-29f, -0x1.0a8b3ep-27f, 0x1.0e2f66p-29f
};
/* log1p(r) = r + r^2 (-1/2 + r/3 - ...): Taylor, 6 terms after r (float64,
 * |r| < 2^-8: truncation < 2^-59 relative) and 4 (float32, |r| < 2^-5: < 2^-27) */
static const double pgv_log1p_c[] = {-0.5, 0x1.5555555555555p-2, -0.25, 0x1.999999999999ap-3, -0x1.5555555555555p-3,
                                     0x1.2492492492492p-3};
static const float pgv_log1p_cf[] = {-0.5f, 0x1.555556p-2f, -0.25f, 0x1.99999ap-3f};

#define PGV_UNROLL _Pragma("GCC unroll 24")
#ifndef PGV_PREFETCH
#define PGV_PREFETCH 2048 /* bytes ahead: the loops' software prefetch distance */
#endif

/* float32 natively: its constants and coefficients (the same series, rounded to float) */
#define PGV_MAGICF 0x1.8p23f
#define PGV_TRIG32_MAX 0x1p13f /* |x| beyond which float sin and cos go through doubles */
static const float pgv_exp_cf[] = {1.0f, 1.0f, 0.5f, 0x1.555556p-3f, 0x1.555556p-5f, 0x1.111112p-7f, 0x1.6c16c2p-10f,
                                   0x1.a01a02p-13f};
/* 2^(j/16) = hi_j + lo_j, j = 0..15, in two floats (float32 tanh's e^-2|x|) */
static const float pgv_expf2_t[16] = {
    0x1.000000p+0f, 0x1.0b5586p+0f, 0x1.172b84p+0f, 0x1.2387a6p+0f, 0x1.306fe0p+0f, 0x1.3dea64p+0f,
    0x1.4bfdaep+0f, 0x1.5ab07ep+0f, 0x1.6a09e6p+0f, 0x1.7a1148p+0f, 0x1.8ace54p+0f, 0x1.9c4918p+0f,
    0x1.ae89fap+0f, 0x1.c199bep+0f, 0x1.d5818ep+0f, 0x1.ea4afap+0f};
static const float pgv_expf2_lo[16] = {
    0.0f, 0x1.9f3122p-25f, -0x1.c15742p-27f, 0x1.ceac48p-25f, 0x1.4636e2p-25f, 0x1.824684p-25f,
    -0x1.593abcp-25f, -0x1.5bd5ecp-27f, 0x1.9fcef4p-26f, -0x1.829fd0p-25f, 0x1.15506ep-27f, 0x1.51f848p-27f,
    -0x1.a94b14p-26f, -0x1.3d56b2p-27f, -0x1.822dbcp-27f, 0x1.52486cp-27f};
static const float pgv_sin_cf[] = {-0x1.555556p-3f, 0x1.111112p-7f, -0x1.a01a02p-13f, 0x1.71de3ap-19f, -0x1.ae6456p-26f};
/* tanh(x) = x + x^3 T(x^2): T near-minimax (Chebyshev fit, 40 digits) over
 * x^2 <= 0.09 with 8 terms (error < 2^-57 relative) for float64, and over
 * x^2 <= 0.3025 with 5 (< 2^-27) for float32 */
static const double pgv_tanh_m64[] = {-0x1.5555555555555p-2, 0x1.1111111110b9fp-3,  -0x1.ba1ba1b8dd76fp-5,
                                      0x1.664f47a52e33ep-6,  -0x1.226de973098b5p-7, 0x1.d6b77a084310dp-9,
                                      -0x1.7ab0c8b40a0eep-10, 0x1.0bdf304f99aafp-11};
static const float pgv_tanh_m32[] = {-0x1.555554p-2f, 0x1.110feap-3f, -0x1.b9a044p-5f, 0x1.5d220ep-6f, -0x1.b13538p-8f};
static const float pgv_cos_cf[] = {0x1.555556p-5f, -0x1.6c16c2p-10f, 0x1.a01a02p-16f, -0x1.27e4fcp-22f};
/* gelu, erf, float32: tables of polynomials over intervals of a = |x|, the
 * interval picked by the bits of a + 1 (its exponent and top mantissa bits, so
 * the intervals widen with a; 16 slots, one permutation per coefficient).
 * Row 0 is each interval's centre c, rows 1 and 2 the value at c in two
 * floats (hi + lo), rows 3.. the coefficients of w, w^2, ... (w = a - c,
 * exact). Near-minimax relative fits (Lawson's iteration on 400 Chebyshev
 * nodes, values from mpmath at 40 digits), coefficients rounded to float.
 * gelu: K(a) = a erfcx(a/sqrt 2)/2 (gelu(-a) = -K(a) e^(-a^2/2)) over
 * [0.25, 19) in 15 intervals of a + 1's exponent and 2 mantissa bits, degree 6
 * (fit < 2^-29 relative); gelu': L(a) = erfcx(a/sqrt 2)/2 - a/sqrt(2 pi)
 * (gelu'(-a) = L(a) e^(-a^2/2)), the same intervals, degree 6, and in the two
 * about L's zero r = 0.75179 ([0.5, 0.75) and [0.75, 1)) polynomials in
 * w = a - r (their centre is r rounded to float, where w is exact, the tiny
 * L(r) in row 2, row 1 zero), so that
 * L keeps its relative accuracy near the zero (fit < 2^-29); erf over
 * [0.5, 4.5) in 14 intervals of a + 1 (3 mantissa bits; slot 11, below 0.5,
 * unused), degree 5 (< 2^-28). */
static const float pgv_gelu_kt[9][16] = {
    {0x1.400000p+0f, 0x1.c00000p+0f, 0x1.200000p+1f, 0x1.600000p+1f, 0x1.c00000p+1f, 0x1.200000p+2f, 0x1.600000p+2f, 0x1.a00000p+2f, 0x1.000000p+3f, 0x1.400000p+3f, 0x1.800000p+3f, 0x1.c00000p+3f, 0x1.100000p+4f, 0x1.800000p-2f, 0x1.400000p-1f, 0x1.c00000p-1f},
    {0x1.275f8ap-2f, 0x1.4bef66p-2f, 0x1.62039ap-2f, 0x1.701ef0p-2f, 0x1.7d241ap-2f, 0x1.86c626p-2f, 0x1.8c2b88p-2f, 0x1.8f76dep-2f, 0x1.926972p-2f, 0x1.948c6ep-2f, 0x1.95bcb4p-2f, 0x1.9676b8p-2f, 0x1.971e26p-2f, 0x1.238944p-3f, 0x1.9de55ap-3f, 0x1.f55950p-3f},
    {0x1.8e3aecp-27f, -0x1.d7bedep-28f, -0x1.407644p-28f, 0x1.b2bbf4p-30f, 0x1.2cb33cp-27f, 0x1.c55268p-27f, 0x1.27803cp-27f, 0x1.5406eap-27f, 0x1.7e2f54p-29f, -0x1.899720p-28f, -0x1.4e81e2p-28f, -0x1.fda16cp-29f, 0x1.9eb0d0p-33f, 0x1.c67d3ap-29f, -0x1.1fe7b2p-28f, -0x1.f81920p-28f},
    {0x1.7b79d4p-4f, 0x1.bd45f6p-5f, 0x1.15aa6cp-5f, 0x1.6c5e3ep-6f, 0x1.a29f14p-7f, 0x1.bfbaf4p-8f, 0x1.07e3eap-8f, 0x1.4ea508p-9f, 0x1.7625f0p-10f, 0x1.8af246p-11f, 0x1.d0fb68p-12f, 0x1.27e806p-12f, 0x1.4db0bep-13f, 0x1.222f24p-2f, 0x1.9a45b2p-3f, 0x1.28beeep-3f},
    {-0x1.aece08p-5f, -0x1.be1474p-6f, -0x1.ee9850p-7f, -0x1.22a93ep-7f, -0x1.1ee1b4p-8f, -0x1.004d0ap-9f, -0x1.01ffa8p-10f, -0x1.1c87ccp-11f, -0x1.092700p-12f, -0x1.c8804ap-14f, -0x1.c4cf7cp-15f, -0x1.f15cfap-16f, -0x1.d0c484p-17f, -0x1.a0adb6p-3f, -0x1.12ed86p-3f, -0x1.73b7a0p-4f},
    {0x1.8fed10p-6f, 0x1.721b2ep-7f, 0x1.70c2c2p-8f, 0x1.87b534p-9f, 0x1.4fa4c8p-10f, 0x1.fa2e60p-12f, 0x1.b63d54p-13f, 0x1.a67046p-14f, 0x1.49b2fep-15f, 0x1.d0dd30p-17f, 0x1.8576eep-18f, 0x1.71c43ep-19f, 0x1.1eaa84p-20f, 0x1.dc320cp-4f, 0x1.27b7a6p-4f, 0x1.78a7a4p-5f},
    {-0x1.4466fep-7f, -0x1.0ee656p-8f, -0x1.e92a2ap-10f, -0x1.d8f636p-11f, -0x1.62f57ep-12f, -0x1.c7c204p-14f, -0x1.557efap-15f, -0x1.21070ap-16f, -0x1.7ba542p-18f, -0x1.b80980p-20f, -0x1.381bd0p-21f, -0x1.008538p-22f, -0x1.4a7b36p-24f, -0x1.d244d0p-5f, -0x1.12274ap-5f, -0x1.4ad500p-6f},
    {0x1.e10738p-9f, 0x1.6c822ap-10f, 0x1.2bbeb2p-11f, 0x1.0903e4p-12f, 0x1.64871ep-14f, 0x1.866d36p-16f, 0x1.fb29dep-18f, 0x1.795e54p-19f, 0x1.ab4db4p-21f, 0x1.94be8ap-23f, 0x1.e464eep-25f, 0x1.57e4ccp-26f, 0x1.78367cp-28f, 0x1.97df6ap-6f, 0x1.c8034cp-7f, 0x1.05bb7ap-7f},
    {-0x1.464f3cp-10f, -0x1.c388bap-12f, -0x1.544bdcp-13f, -0x1.14b0e8p-14f, -0x1.4b9854p-16f, -0x1.392456p-18f, -0x1.637858p-20f, -0x1.d3db98p-22f, -0x1.c38812p-24f, -0x1.615d62p-26f, -0x1.672990p-28f, -0x1.ba6492p-30f, -0x1.952ed2p-32f, -0x1.4599a8p-7f, -0x1.5a59ccp-8f, -0x1.7b2bdcp-9f},
};
static const float pgv_gelu_lt[9][16] = {
    {0x1.400000p+0f, 0x1.c00000p+0f, 0x1.200000p+1f, 0x1.600000p+1f, 0x1.c00000p+1f, 0x1.200000p+2f, 0x1.600000p+2f, 0x1.a00000p+2f, 0x1.000000p+3f, 0x1.400000p+3f, 0x1.800000p+3f, 0x1.c00000p+3f, 0x1.100000p+4f, 0x1.800000p-2f, 0x1.80ead2p-1f, 0x1.80ead2p-1f},
    {-0x1.1258fap-2f, -0x1.069d1ap-1f, -0x1.7ce966p-1f, -0x1.eec798p-1f, -0x1.4a3a5ap+0f, -0x1.b5df30p+0f, -0x1.0fd9fcp+1f, -0x1.443cecp+1f, -0x1.923aaep+1f, -0x1.f996dap+1f, -0x1.304642p+2f, -0x1.63a342p+2f, -0x1.b08d6ep+2f, 0x1.d70acep-3f, 0.0f, 0.0f},
    {0x1.ed3778p-27f, 0x1.d8ca50p-27f, -0x1.44739cp-28f, -0x1.03125ep-27f, 0x1.8de710p-25f, -0x1.a299acp-25f, 0x1.e18b8cp-28f, 0x1.5e93d4p-25f, 0x1.16b5d8p-24f, 0x1.ef895ep-27f, -0x1.a76fd8p-23f, 0x1.afa5e2p-23f, 0x1.fbe75ap-23f, -0x1.29d82ap-28f, -0x1.dc8700p-28f, -0x1.dc8700p-28f},
    {-0x1.04d48ep-1f, -0x1.e51942p-2f, -0x1.cf050cp-2f, -0x1.c0e9b6p-2f, -0x1.b3e48cp-2f, -0x1.aa4280p-2f, -0x1.a4dd1ep-2f, -0x1.a191c8p-2f, -0x1.9e9f34p-2f, -0x1.9c7c38p-2f, -0x1.9b4bf2p-2f, -0x1.9a91eep-2f, -0x1.99ea80p-2f, -0x1.4fa202p-1f, -0x1.25126cp-1f, -0x1.25126cp-1f},
    {0x1.7b79e2p-5f, 0x1.bd45fap-6f, 0x1.15aa6ep-6f, 0x1.6c5e3ep-7f, 0x1.a29f24p-8f, 0x1.bfbafap-9f, 0x1.07e3ecp-9f, 0x1.4ea508p-10f, 0x1.762600p-11f, 0x1.8af24cp-12f, 0x1.d0fb6ap-13f, 0x1.27e806p-13f, 0x1.4db0ccp-14f, 0x1.222f24p-3f, 0x1.5b2986p-4f, 0x1.5b297ap-4f},
    {-0x1.1f318ap-6f, -0x1.296136p-7f, -0x1.49b98cp-8f, -0x1.838b40p-9f, -0x1.7e77f0p-10f, -0x1.55b72ap-11f, -0x1.57fcc4p-12f, -0x1.7b5de8p-13f, -0x1.617b3ep-14f, -0x1.305002p-15f, -0x1.2ddcdap-16f, -0x1.4b9198p-17f, -0x1.35cbb4p-18f, -0x1.15c8d4p-4f, -0x1.2baa98p-5f, -0x1.2babcep-5f},
    {0x1.8fdb6ep-8f, 0x1.7215bep-9f, 0x1.70c026p-10f, 0x1.87b3a6p-11f, 0x1.4f9a16p-12f, 0x1.fa271cp-14f, 0x1.b63a1ap-15f, 0x1.a66e88p-16f, 0x1.49a844p-17f, 0x1.d0d69ep-19f, 0x1.85742ep-20f, 0x1.71c2ccp-21f, 0x1.1ea1dap-22f, 0x1.dc3540p-6f, 0x1.d5ae3cp-7f, 0x1.d4a674p-7f},
    {-0x1.060b9ep-9f, -0x1.b4f5acp-11f, -0x1.89fcecp-12f, -0x1.7c87b2p-13f, -0x1.21246cp-14f, -0x1.717f0ap-16f, -0x1.13f916p-17f, -0x1.d21934p-19f, -0x1.36c454p-20f, -0x1.658c8cp-22f, -0x1.f8fc0ap-24f, -0x1.9de36ap-25f, -0x1.0eb67ap-26f, -0x1.76487ap-7f, -0x1.48db80p-8f, -0x1.4c4ab8p-8f},
    {0x1.469084p-11f, 0x1.e9a364p-13f, 0x1.91676ap-14f, 0x1.6263f2p-15f, 0x1.deefa8p-17f, 0x1.057ee2p-18f, 0x1.532f4ep-20f, 0x1.f85264p-22f, 0x1.1ea820p-23f, 0x1.0eecc8p-25f, 0x1.43d8a6p-27f, 0x1.cb7cc2p-29f, 0x1.f880c6p-31f, 0x1.0dc66cp-8f, 0x1.23b3e8p-9f, 0x1.6a80a4p-10f},
};
static const float pgv_erf_t[8][16] = {
    {0x1.200000p+0f, 0x1.600000p+0f, 0x1.a00000p+0f, 0x1.e00000p+0f, 0x1.100000p+1f, 0x1.300000p+1f, 0x1.500000p+1f, 0x1.700000p+1f, 0x1.a00000p+1f, 0x1.e00000p+1f, 0x1.100000p+2f, 0.0f, 0x1.200000p-1f, 0x1.600000p-1f, 0x1.a00000p-1f, 0x1.e00000p-1f},
    {0x1.c6dad2p-1f, 0x1.e5768cp-1f, 0x1.f4f694p-1f, 0x1.fbe61ep-1f, 0x1.fea422p-1f, 0x1.ff9960p-1f, 0x1.ffe514p-1f, 0x1.fff9bap-1f, 0x1.ffff70p-1f, 0x1.fffffcp-1f, 0x1.000000p+0f, 0.0f, 0x1.25b8a8p-1f, 0x1.569244p-1f, 0x1.7fb9c0p-1f, 0x1.a1551ap-1f},
    {0x1.24c76ep-26f, 0x1.47942cp-27f, -0x1.d6241ep-28f, 0x1.e70ef8p-26f, -0x1.d1abd8p-27f, 0x1.e17eb4p-26f, 0x1.731ebap-26f, 0x1.038aaep-27f, -0x1.c9b82ap-27f, 0x1.6dfc40p-28f, -0x1.fe5cb0p-30f, 0.0f, 0x1.155e86p-26f, -0x1.6ecee8p-28f, -0x1.45d0bcp-27f, 0x1.6a10d0p-29f},
    {0x1.45e99cp-2f, 0x1.5ce596p-3f, 0x1.499d46p-4f, 0x1.12ceb2p-5f, 0x1.94624cp-7f, 0x1.06918cp-8f, 0x1.2ce8a0p-10f, 0x1.3053aap-12f, 0x1.e9d808p-16f, 0x1.d9a2d6p-21f, 0x1.15fd84p-26f, 0.0f, 0x1.a5074ep-1f, 0x1.681ff2p-1f, 0x1.2a8dcep-1f, 0x1.dfca26p-2f},
    {-0x1.6ea75ep-2f, -0x1.dfbd44p-3f, -0x1.0bd0d4p-3f, -0x1.01a260p-4f, -0x1.ada76cp-6f, -0x1.37c944p-7f, -0x1.8ae6eep-9f, -0x1.b5630cp-11f, -0x1.8b6394p-14f, -0x1.b5a27cp-19f, -0x1.1f30c8p-24f, 0.0f, -0x1.d9a81ep-2f, -0x1.ef2bdap-2f, -0x1.e52666p-2f, -0x1.c1cd84p-2f},
    {0x1.4cb2ccp-3f, 0x1.437560p-3f, 0x1.d6652ep-4f, 0x1.143ea0p-4f, 0x1.0ea598p-5f, 0x1.c1ebc6p-7f, 0x1.407c72p-8f, 0x1.89d736p-10f, 0x1.98f574p-13f, 0x1.08c448p-17f, 0x1.8de730p-23f, 0.0f, -0x1.9c42aep-4f, -0x1.a42abap-7f, 0x1.fe0694p-5f, 0x1.e4c940p-4f},
    {0x1.d03d9ep-6f, -0x1.eb3d48p-6f, -0x1.9487f0p-5f, -0x1.596672p-5f, -0x1.b095bap-6f, -0x1.b0bb84p-7f, -0x1.664812p-8f, -0x1.f44ff8p-10f, -0x1.46fa7ap-12f, -0x1.07d214p-16f, -0x1.e51988p-22f, 0.0f, 0x1.752fa0p-3f, 0x1.52b9d8p-3f, 0x1.0f68f4p-3f, 0x1.746edep-4f},
    {-0x1.f44300p-5f, -0x1.f6aba4p-6f, -0x1.32442cp-9f, 0x1.728844p-7f, 0x1.978a2ap-7f, 0x1.11fa1ap-7f, 0x1.15cfd2p-8f, 0x1.c57306p-10f, 0x1.5fa00cp-12f, 0x1.5782bcp-16f, 0x1.704894p-21f, 0.0f, -0x1.5d32e2p-7f, -0x1.53e43ap-5f, -0x1.f8aec0p-5f, -0x1.1c8f88p-4f},
};
/* near 0: gelu(x) = x (1/2 + x H(x^2)), gelu'(x) = 1/2 + x M(x^2) for |x| < 1/4 (relative fits
 * < 2^-30 apart from H(0) and M(0) rounded to float); erf(x) = x (2/sqrt(pi) + x^2 E(x^2)) for
 * |x| < 1/2 (< 2^-30), 2/sqrt(pi) in two floats */
static const float pgv_gelu_h[] = {0x1.988454p-2f, -0x1.105836p-4f, 0x1.46cb92p-7f, -0x1.337e5ep-10f};
static const float pgv_gelu_m[] = {0x1.988454p-1f, -0x1.105832p-2f, 0x1.ea2cacp-5f, -0x1.328ee4p-7f};
static const float pgv_erf_e[] = {-0x1.812746p-2f, 0x1.ce2f16p-4f, -0x1.b8271ap-6f, 0x1.5557aap-8f, -0x1.9a83acp-11f};
#define PGV_2_SQRTPI_HI 0x1.20dd76p+0f
#define PGV_2_SQRTPI_LO -0x1.f7ac92p-25f
typedef int32_t pgv_i32x16 __attribute__((vector_size(64)));
typedef int32_t pgv_i32x8 __attribute__((vector_size(32)));

/* AVX-512: 8 doubles (8 floats in a 256-bit half) */
#define PGV_VD __m512d
#define PGV_VI __m512i
#define PGV_VF __m256
#define PGV_N 8
#define PGV_TARGET __attribute__((target("avx512f,fma")))
#define PGV_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define PGV_ANY(m) (_mm512_test_epi64_mask((m), (m)) != 0)
#define PGV_VS __m512
#define PGV_VSI pgv_i32x16
#define PGV_NS 16
#define PGV_FMAS(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define PGV_ANYS(m) (_mm512_test_epi32_mask((__m512i)(m), (__m512i)(m)) != 0)
#define PGV_SCALEF_S(p, k) _mm512_scalef_ps((p), (k))
#define PGV_SCALEF_D(p, k) _mm512_scalef_pd((p), (k))
#define PGV_RCP14_D(d) _mm512_rcp14_pd(d)
#define PGV_RCP14_S(d) _mm512_rcp14_ps(d)
#define PGV_GATHER_D(t, i) _mm512_i64gather_pd((i), (t), 8)
#define PGV_LUT16_S(t, i) _mm512_permutexvar_ps((__m512i)(i), _mm512_loadu_ps(t))
/* t[i & 15] for a 16-entry table of doubles: one two-register permutation */
#define PGV_LUT16_D(t, i) _mm512_permutex2var_pd(_mm512_loadu_pd(t), (i), _mm512_loadu_pd((t) + 8))
/* min and max that return b where a or b is NaN (so a NaN b passes through) */
#define PGV_MIN_D(a, b) _mm512_min_pd((a), (b))
#define PGV_MIN_S(a, b) _mm512_min_ps((a), (b))
#define PGV_MAX_D(a, b) _mm512_max_pd((a), (b))
#define PGV_SFX avx512
#include "vmath_simd.h"
#undef PGV_VD
#undef PGV_VI
#undef PGV_VF
#undef PGV_N
#undef PGV_TARGET
#undef PGV_FMA
#undef PGV_ANY
#undef PGV_SFX
#undef PGV_VS
#undef PGV_VSI
#undef PGV_NS
#undef PGV_FMAS
#undef PGV_ANYS
#undef PGV_SCALEF_S
#undef PGV_SCALEF_D
#undef PGV_RCP14_D
#undef PGV_RCP14_S
#undef PGV_GATHER_D
#undef PGV_LUT16_D
#undef PGV_MIN_D
#undef PGV_MIN_S
#undef PGV_MAX_D
#undef PGV_LUT16_S

/* AVX2 + FMA: 4 doubles (4 floats in a 128-bit half) */
#define PGV_VD __m256d
#define PGV_VI __m256i
#define PGV_VF __m128
#define PGV_N 4
#define PGV_TARGET __attribute__((target("avx2,fma")))
#define PGV_FMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define PGV_ANY(m) (!_mm256_testz_si256((m), (m)))
#define PGV_VS __m256
#define PGV_VSI pgv_i32x8
#define PGV_NS 8
#define PGV_FMAS(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define PGV_ANYS(m) (!_mm256_testz_si256((__m256i)(m), (__m256i)(m)))
#define PGV_GATHER_D(t, i) _mm256_i64gather_pd((t), (i), 8)
#define PGV_LUT16_D(t, i) _mm256_i64gather_pd((t), (i) & 15, 8)
#define PGV_MIN_D(a, b) _mm256_min_pd((a), (b))
#define PGV_MIN_S(a, b) _mm256_min_ps((a), (b))
#define PGV_MAX_D(a, b) _mm256_max_pd((a), (b))
/* t[i] for 16 entries: each half by a permutation, picked by bit 3 of i */
#define PGV_LUT16_S(t, i)                                                                 \
    _mm256_blendv_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(t), (__m256i)(i)),         \
                     _mm256_permutevar8x32_ps(_mm256_loadu_ps((t) + 8), (__m256i)(i)), (__m256)((i) << 28))
#define PGV_SFX avx2
#include "vmath_simd.h"
#undef PGV_VD
#undef PGV_VI
#undef PGV_VF
#undef PGV_N
#undef PGV_TARGET
#undef PGV_FMA
#undef PGV_ANY
#undef PGV_SFX
#undef PGV_VS
#undef PGV_VSI
#undef PGV_NS
#undef PGV_FMAS
#undef PGV_ANYS
#undef PGV_SCALEF_S
#undef PGV_SCALEF_D
#undef PGV_RCP14_D
#undef PGV_RCP14_S
#undef PGV_GATHER_D
#undef PGV_LUT16_D
#undef PGV_MIN_D
#undef PGV_MIN_S
#undef PGV_MAX_D
#undef PGV_LUT16_S
#else
#define PGV_X86 0
#endif

/* ---- the choice ---- */

enum { PGV_SCALAR_K, PGV_AVX2_K, PGV_AVX512_K, PGV_AUTO_K };
static const char *const pgv_names[] = {"scalar", "avx2", "avx512", "auto"};
static atomic_int pgv_choice = PGV_AUTO_K;

static bool pgv_supported(int kind) {
#if PGV_X86
    __builtin_cpu_init();
    if (kind == PGV_AVX512_K) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    if (kind == PGV_AVX2_K) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return kind == PGV_SCALAR_K || kind == PGV_AUTO_K;
}

static int pgv_kind(void) {
    int k = atomic_load_explicit(&pgv_choice, memory_order_relaxed);
    if (k != PGV_AUTO_K) return k;
    static atomic_int best = -1;
    k = atomic_load_explicit(&best, memory_order_relaxed);
    if (k < 0) {
        k = pgv_supported(PGV_AVX512_K) ? PGV_AVX512_K : pgv_supported(PGV_AVX2_K) ? PGV_AVX2_K : PGV_SCALAR_K;
        atomic_store_explicit(&best, k, memory_order_relaxed);
    }
    return k;
}

static const pgv_table *pgv_table_of(int kind) {
#if PGV_X86
    if (kind == PGV_AVX512_K) return &pgv_table_avx512;
    if (kind == PGV_AVX2_K) return &pgv_table_avx2;
#endif
    (void)kind;
    return &pgv_table_scalar;
}

pg_status pg_set_vmath_kernel(const char *name) {
    if (!name) return pg__fail(PG_ERR_VALUE, "set_vmath_kernel: the kernel name is NULL");
    for (int k = 0; k <= PGV_AUTO_K; k++) {
        if (strcmp(name, pgv_names[k]) != 0) continue;
        if (!pgv_supported(k))
            return pg__fail(PG_ERR_VALUE, "set_vmath_kernel: this CPU cannot run the %s kernels", name);
        atomic_store(&pgv_choice, k);
        return PG_OK;
    }
    return pg__fail(PG_ERR_VALUE,
                    "set_vmath_kernel: unknown kernels \"%.64s\" (expected auto, avx512, avx2 or scalar)", name);
}

const char *pg_vmath_kernel(void) { return pgv_names[pgv_kind()]; }

void pg__vm_f64(int f, double *o, const double *g, const double *x, int64_t n, double scale) {
    pgv_table_of(pgv_kind())->f64[f](o, g, x, n, scale);
}

void pg__vm_f32(int f, float *o, const float *g, const float *x, int64_t n, double scale) {
    pgv_table_of(pgv_kind())->f32[f](o, g, x, n, scale);
}
