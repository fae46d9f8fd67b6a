/* kern_vmath.c: the transcendental kernels over arrays (exp, log, tanh,
 * sigmoid, sin, cos, gelu and gelu's derivative): explicit SIMD for AVX-512 and AVX2+FMA, picked at run
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
/* dgelu/dx = Phi(x) + x phi(x) */
static double pgv_gelu_grad_d(double x) {
    return 0.5 * erfc(-x * 0x1.6a09e667f3bcdp-1) + x * (exp(-0.5 * x * x) * 0x1.9884533d43651p-2);
}
static float pgv_gelu_grad_f(float x) { return (float)pgv_gelu_grad_d(x); }

PGV_SCALAR(exp, exp, expf)
PGV_SCALAR(log, log, logf)
PGV_SCALAR(tanh, tanh, tanhf)
PGV_SCALAR(sigmoid, pgv_sigmoid_d, pgv_sigmoid_f)
PGV_SCALAR(sin, sin, sinf)
PGV_SCALAR(cos, cos, cosf)
PGV_SCALAR(gelu, pgv_gelu_d, pgv_gelu_f)
PGV_SCALAR(gelu_grad, pgv_gelu_grad_d, pgv_gelu_grad_f)

static const pgv_table pgv_table_scalar = {
    {exp_f64_scalar, log_f64_scalar, tanh_f64_scalar, sigmoid_f64_scalar, sin_f64_scalar, cos_f64_scalar,
     gelu_f64_scalar, gelu_grad_f64_scalar},
    {exp_f32_scalar, log_f32_scalar, tanh_f32_scalar, sigmoid_f32_scalar, sin_f32_scalar, cos_f32_scalar,
     gelu_f32_scalar, gelu_grad_f32_scalar},
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

/* Taylor coefficients: 1/k!; 2/(2k+1) (k >= 1); (-1)^k/(2k+1)! (k >= 1);
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
static const double pgv_log_c[] = {0x1.5555555555555p-1, 0x1.999999999999ap-2, 0x1.2492492492492p-2,
                                   0x1.c71c71c71c71cp-3, 0x1.745d1745d1746p-3, 0x1.3b13b13b13b14p-3,
                                   0x1.1111111111111p-3, 0x1.e1e1e1e1e1e1ep-4, 0x1.af286bca1af28p-4,
                                   0x1.8618618618618p-4, 0x1.642c8590b2164p-4};
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

/* gelu: G(s) = (1 + 2z) e^(z^2) erfc(z), z = |x|/sqrt(2), as a polynomial
 * in s, where t = (z - K)/(z + K) (K = 3.75) maps z in [0, ZMAX] to s in
 * [-1, 1] by s = (t + 1) A - 1: G lies in [1, 1.2] there, so its
 * polynomial is well conditioned. Fitted (Chebyshev interpolation at 120
 * nodes in 160-bit arithmetic, converted to monomials) for ZMAX = 28 (float64:
 * gelu underflows beyond |x| = 38.6, z = 27.3) and 10.5 (float32: 14.4,
 * 10.2); truncation below 2^-61 and 2^-35 relative. */
#define PGV_GELU_K 3.75
#define PGV_GELU_A64 0x1.2249249249249p+0 /* 2/(t(ZMAX) + 1) */
#define PGV_GELU_A32 0x1.5b6db6db6db6ep+0
#define PGV_GELU_Z64 28.0
#define PGV_GELU_Z32 10.5
#define PGV_SQRT1_2 0x1.6a09e667f3bcdp-1
#define PGV_SQRT2 0x1.6a09e667f3bcdp+0
#define PGV_1_SQRT2PI 0x1.9884533d43651p-2
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
static const double pgv_gelu_c32[] = {
    0x1.45c2faea0de50p+0, -0x1.592f9c967b852p-4, -0x1.1db3b09a9c720p-4,
    0x1.d74ce97de4996p-4, -0x1.79ba4f356188bp-4, 0x1.a5deea3b8834fp-5,
    -0x1.5a43255d61d3ap-6, 0x1.92d3f45cc5571p-8, -0x1.123cdcfca0ca3p-10,
    -0x1.ee61014e17be5p-17, 0x1.db58399cc5176p-15, -0x1.34d0c88df5814p-17,
    -0x1.d18b02cddd9fbp-20, 0x1.478b5f0950e52p-21};

/* erf(z) = z E(z^2) for |z| < 1/2 (Taylor: 2/sqrt(pi) (-1)^n/(n! (2n + 1)); truncation < 2^-57) */
static const double pgv_erf_c[] = {0x1.20dd750429b6dp+0, -0x1.812746b0379e7p-2, 0x1.ce2f21a042be2p-4, -0x1.b82ce31288b51p-6, 0x1.565bcd0e6a53fp-8, -0x1.c02db40040b86p-11, 0x1.f9a326f9b89b7p-14, -0x1.f4d25c3e0c2ebp-17, 0x1.b9e6c9dc651a3p-20, -0x1.5f742ec43e71ap-23, 0x1.fcc5720624c1cp-27, -0x1.51d7181c5d36dp-30, 0x1.9e6ad5e55a730p-34};

#define PGV_UNROLL _Pragma("GCC unroll 24")

/* float32 natively: its constants and coefficients (the same series, rounded to float) */
#define PGV_MAGICF 0x1.8p23f
#define PGV_TRIG32_MAX 0x1p13f /* |x| beyond which float sin and cos go through doubles */
static const float pgv_exp_cf[] = {1.0f, 1.0f, 0.5f, 0x1.555556p-3f, 0x1.555556p-5f, 0x1.111112p-7f, 0x1.6c16c2p-10f,
                                   0x1.a01a02p-13f};
static const float pgv_log_cf[] = {0x1.555556p-1f, 0x1.99999ap-2f, 0x1.24924ap-2f, 0x1.c71c72p-3f, 0x1.745d18p-3f};
static const float pgv_sin_cf[] = {-0x1.555556p-3f, 0x1.111112p-7f, -0x1.a01a02p-13f, 0x1.71de3ap-19f, -0x1.ae6456p-26f};
static const float pgv_tanh_cf[] = {-0x1.555556p-2f, 0x1.111112p-3f, -0x1.ba1ba2p-5f, 0x1.664f48p-6f, -0x1.226e36p-7f,
                                    0x1.d6d3d0p-9f, -0x1.7da364p-10f, 0x1.355824p-11f, -0x1.f57d78p-13f};
static const float pgv_cos_cf[] = {0x1.555556p-5f, -0x1.6c16c2p-10f, 0x1.a01a02p-16f, -0x1.27e4fcp-22f};
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
