/* ops_random.c: the random ops that draw values (rand, randn, randint, bernoulli) from a counter-based
 * generator keyed by a 64-bit seed (pg__rng_bits in kernels.h), so element i's value depends on
 * (seed, i) alone: any split over threads gives the same bits, and pygrad.compile replays a draw
 * by giving the op a fresh seed (program.c's random ops), as dropout does.
 *
 *   random (uniform):  u[i] = (bits(i) >> 11) · 2⁻⁵³ (float64), (bits(i) >> 40) · 2⁻²⁴ (float32)
 *   random (normal):   Box-Muller on pair k = ⌊i / 2⌋:
 *                        u1 = ((bits(2k) >> 11) + 1) · 2⁻⁵³ ∈ (0, 1]   (never 0: log u1 is finite)
 *                        u2 = (bits(2k+1) >> 11) · 2⁻⁵³ ∈ [0, 1)
 *                        z[2k] = r cos(2π u2), z[2k+1] = r sin(2π u2), r = √(−2 log u1)
 *                      in float64 (float32: that value rounded once)
 *   random (int):      y[i] = low + ⌊x · span / 2⁶⁴⌋, span = high − low ∈ [1, 2⁶⁴), x = bits(i), redrawn as
 *                      x = bits_j(i) (the key fmix64(key + j)) at attempts j = 1, 2, … while
 *                      (x · span) mod 2⁶⁴ < 2⁶⁴ mod span (Lemire's multiply-shift with rejection: exactly
 *                      unbiased), then converted to the dtype
 *   bernoulli:         y[i] = (bits(i) >> 11) · 2⁻⁵³ < p[i] ? 1 : 0
 *
 * log, cos and sin are this file's own polynomials of IEEE +, −, ×, ÷ (no libm, no FMA: the build
 * turns contraction off), so the reference engine (pygrad/reference/ops.py random_values) reproduces
 * every bit in numpy. Accuracy: a few ulps, far below what sampling can see. Where the CPU has
 * AVX-512 (F and DQ), randn computes eight pairs per vector with the same operations (the same bits).
 *
 * The ops have no gradient: random's input is a 0-d tensor that only gives the dtype (its shape is
 * in the parameters), and bernoulli's output is piecewise constant in p (PyTorch's zero gradient).
 * Not here: drawing the seed (Python draws it from the generator behind manual_seed, or from a
 * generator argument), the affine maps of uniform_/normal_/normal (Python, composed of ops). */
#include "rules_util.h"
#include "kernels.h"

#include <string.h>

/* (b >> 11) · 2⁻⁵³ exactly, from two int32 conversions (the sum of a 31-bit and a 22-bit part is the
 * 53-bit value, so it is exact): vectorisable without AVX-512 DQ's 64-bit conversions */
static inline double pg__u53(uint64_t b) {
    return (double)(int32_t)(b >> 33) * 0x1p-31 + (double)(int32_t)((b >> 11) & 0x3fffff) * 0x1p-53;
}

/* ---- the engine's log, cos, sin: plain polynomials, mirrored by the reference ---- */

/* log u for u in (0, 1] (a normal float64): u = m · 2^e, m in [√½, √2); log m = 2 atanh s,
 * s = (m − 1) / (m + 1), |s| ≤ 0.1716, atanh s = s Σ s^2j / (2j + 1) to j = 11 */
static inline double pg__rng_log(double u) {
    uint64_t b;
    memcpy(&b, &u, sizeof b);
    uint64_t eb = ((b >> 52) & 0x7ff) | 0x4330000000000000u;     /* the biased exponent as 2⁵² + eb */
    b = (b & 0x000fffffffffffffu) | 0x3fe0000000000000u;          /* u = m · 2^e, m in [0.5, 1) */
    double m, fe;
    memcpy(&m, &b, sizeof m);
    memcpy(&fe, &eb, sizeof fe);
    fe = (fe - 0x1p52) - 1022.0;                                  /* e, exactly */
    bool small = m < 0.70710678118654752440;
    m = small ? m * 2.0 : m;
    fe = small ? fe - 1.0 : fe;
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double q = 2.0 / 23.0;
    q = 2.0 / 21.0 + s2 * q;
    q = 2.0 / 19.0 + s2 * q;
    q = 2.0 / 17.0 + s2 * q;
    q = 2.0 / 15.0 + s2 * q;
    q = 2.0 / 13.0 + s2 * q;
    q = 2.0 / 11.0 + s2 * q;
    q = 2.0 / 9.0 + s2 * q;
    q = 2.0 / 7.0 + s2 * q;
    q = 2.0 / 5.0 + s2 * q;
    q = 2.0 / 3.0 + s2 * q;
    q = 2.0 + s2 * q;
    return fe * 0x1.62e42fefa3800p-1 + (fe * 0x1.ef35793c76730p-45 + s * q); /* ln 2 = hi + lo */
}

/* (cos, sin)(2π u) for u = j · 2⁻⁵³ in [0, 1): quadrant q = rint(4u), x = (4u − q) · π/2 in [−π/4, π/4]
 * (4u − q exact), Taylor polynomials of x to x¹⁸ (cos) and x¹⁷ (sin), rotated by q quarter turns */
static inline void pg__rng_cossin(double u, double *c, double *s) {
    double t = 4.0 * u;
    double q = __builtin_rint(t);
    double x = (t - q) * 0x1.921fb54442d18p+0, x2 = x * x;
    double pc = -1.0 / 6402373705728000.0;                       /* -1/18! */
    pc = 1.0 / 20922789888000.0 + x2 * pc;
    pc = -1.0 / 87178291200.0 + x2 * pc;
    pc = 1.0 / 479001600.0 + x2 * pc;
    pc = -1.0 / 3628800.0 + x2 * pc;
    pc = 1.0 / 40320.0 + x2 * pc;
    pc = -1.0 / 720.0 + x2 * pc;
    pc = 1.0 / 24.0 + x2 * pc;
    pc = 1.0 / 2.0 - x2 * pc;                                    /* cos x = 1 − x²(½ − x²/24 + …) */
    double co = 1.0 - x2 * pc;
    double ps = 1.0 / 355687428096000.0;                         /* 1/17! */
    ps = -1.0 / 1307674368000.0 + x2 * ps;
    ps = 1.0 / 6227020800.0 + x2 * ps;
    ps = -1.0 / 39916800.0 + x2 * ps;
    ps = 1.0 / 362880.0 + x2 * ps;
    ps = -1.0 / 5040.0 + x2 * ps;
    ps = 1.0 / 120.0 + x2 * ps;
    ps = 1.0 / 6.0 - x2 * ps;                                    /* sin x = x − x³(⅙ − x²/120 + …) */
    double si = x - x * x2 * ps;
    bool q1 = q == 1.0, q2 = q == 2.0, q3 = q == 3.0;              /* q = 4 is a whole turn: as q = 0 */
    *c = q1 ? -si : q2 ? -co : q3 ? si : co;
    *s = q1 ? co : q2 ? -si : q3 ? -co : si;
}

/* the two normals of pair k */
static inline void pg__normal_pair(uint64_t key, uint64_t k, double *z0, double *z1) {
    double u1 = pg__u53(pg__rng_bits(key, 2 * k)) + 0x1p-53;     /* exact: ((bits >> 11) + 1) · 2⁻⁵³ */
    double u2 = pg__u53(pg__rng_bits(key, 2 * k + 1));
    double r = __builtin_sqrt(-2.0 * pg__rng_log(u1)), c, s;
    pg__rng_cossin(u2, &c, &s);
    *z0 = r * c;
    *z1 = r * s;
}

/* the 128-bit product a · b: its high 64 bits returned, its low ones in *lo */
static inline uint64_t pg__mul_wide(uint64_t a, uint64_t b, uint64_t *lo) {
#ifdef __SIZEOF_INT128__
    unsigned __int128 m = (unsigned __int128)a * b;
    *lo = (uint64_t)m;
    return (uint64_t)(m >> 64);
#else
    uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    *lo = a * b;
    return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
}

/* randint's element i: low + ⌊x · span / 2⁶⁴⌋. A product whose low half is below t = 2⁶⁴ mod span is
 * one of the surplus ones that would make some results more likely, and is drawn again (probability
 * t / 2⁶⁴ < span / 2⁶⁴) */
static inline int64_t pg__randint_one(uint64_t key, uint64_t i, int64_t low, uint64_t span, uint64_t t) {
    uint64_t lo, hi = pg__mul_wide(pg__rng_bits(key, i), span, &lo);
    for (uint64_t j = 1; __builtin_expect(lo < t, 0); j++)
        hi = pg__mul_wide(pg__rng_bits(pg__fmix64(key + j), i), span, &lo);
    return (int64_t)((uint64_t)low + hi); /* mod 2⁶⁴: low + hi lies in [low, high) */
}

/* ---- randn's pairs eight at a time (AVX-512) ----
 * The same operations as pg__normal_pair in the same order, on eight pairs per vector: the hash's
 * 64-bit products with AVX-512 DQ's vpmullq, (bits >> 11) converted exactly by vcvtqq2pd, IEEE
 * +, −, ×, ÷ and √ of each lane rounding as the scalar ones do (no FMA: written without contraction,
 * built with it off), rint as vrndscalepd to nearest, the selects as masked moves. So every value is
 * the scalar kernel's (and the reference's), bit for bit, whichever path computed it; chosen at run
 * time where the CPU has AVX-512 F and DQ. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    (!defined(__clang__) || __clang_major__ >= 10) && (defined(__clang__) || __GNUC__ >= 9)
#define PG_RNG_X86 1
#include <immintrin.h>
#define PG_RNG_TARGET __attribute__((target("avx512f,avx512dq")))

PG_RNG_TARGET static inline __m512i pg__fmix64_v(__m512i z) {
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 30));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9u));
    z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 27));
    z = _mm512_mullo_epi64(z, _mm512_set1_epi64((long long)0x94d049bb133111ebu));
    return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

/* (b >> 11) · 2⁻⁵³, exactly (pg__u53) */
PG_RNG_TARGET static inline __m512d pg__u53_v(__m512i b) {
    return _mm512_mul_pd(_mm512_cvtepi64_pd(_mm512_srli_epi64(b, 11)), _mm512_set1_pd(0x1p-53));
}

#define PG_V(c) _mm512_set1_pd(c)
/* pg__rng_log, lane by lane */
PG_RNG_TARGET static inline __m512d pg__rng_log_v(__m512d u) {
    __m512i b = _mm512_castpd_si512(u);
    __m512i eb = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi64(b, 52), _mm512_set1_epi64(0x7ff)),
                                 _mm512_set1_epi64(0x4330000000000000));
    __m512i mb = _mm512_or_si512(_mm512_and_si512(b, _mm512_set1_epi64(0x000fffffffffffff)),
                                 _mm512_set1_epi64(0x3fe0000000000000));
    __m512d m = _mm512_castsi512_pd(mb);
    __m512d fe = _mm512_sub_pd(_mm512_sub_pd(_mm512_castsi512_pd(eb), PG_V(0x1p52)), PG_V(1022.0));
    __mmask8 small = _mm512_cmp_pd_mask(m, PG_V(0.70710678118654752440), _CMP_LT_OQ);
    m = _mm512_mask_mul_pd(m, small, m, PG_V(2.0));
    fe = _mm512_mask_sub_pd(fe, small, fe, PG_V(1.0));
    __m512d s = _mm512_div_pd(_mm512_sub_pd(m, PG_V(1.0)), _mm512_add_pd(m, PG_V(1.0))), s2 = _mm512_mul_pd(s, s);
    __m512d q = PG_V(2.0 / 23.0);
    q = _mm512_add_pd(PG_V(2.0 / 21.0), _mm512_mul_pd(s2, q));
    q = _mm512_add_pd(PG_V(2.0 / 19.0), _mm512_mul_pd(s2, q));
    q = _mm512_add_pd(PG_V(2.0 / 17.0), _mm512_mul_pd(s2, q));
    q = _mm512_add_pd(PG_V(2.0 / 15.0), _mm512_mul_pd(s2, q));
    q = _mm512_add_pd(PG_V(2.0 / 13.0), _mm512_mul_pd(s2, q));
    q = _mm512_add_pd(PG_V(2.0 / 11.0), _mm512_mul_pd(s2, q));
    q = _mm512_add_pd(PG_V(2.0 / 9.0), _mm512_mul_pd(s2, q));
    q = _mm512_add_pd(PG_V(2.0 / 7.0), _mm512_mul_pd(s2, q));
    q = _mm512_add_pd(PG_V(2.0 / 5.0), _mm512_mul_pd(s2, q));
    q = _mm512_add_pd(PG_V(2.0 / 3.0), _mm512_mul_pd(s2, q));
    q = _mm512_add_pd(PG_V(2.0), _mm512_mul_pd(s2, q));
    return _mm512_add_pd(_mm512_mul_pd(fe, PG_V(0x1.62e42fefa3800p-1)),
                         _mm512_add_pd(_mm512_mul_pd(fe, PG_V(0x1.ef35793c76730p-45)), _mm512_mul_pd(s, q)));
}

/* pg__rng_cossin, lane by lane */
PG_RNG_TARGET static inline void pg__rng_cossin_v(__m512d u, __m512d *c, __m512d *s) {
    __m512d t = _mm512_mul_pd(PG_V(4.0), u);
    __m512d q = _mm512_roundscale_pd(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512d x = _mm512_mul_pd(_mm512_sub_pd(t, q), PG_V(0x1.921fb54442d18p+0)), x2 = _mm512_mul_pd(x, x);
    __m512d pc = PG_V(-1.0 / 6402373705728000.0);
    pc = _mm512_add_pd(PG_V(1.0 / 20922789888000.0), _mm512_mul_pd(x2, pc));
    pc = _mm512_add_pd(PG_V(-1.0 / 87178291200.0), _mm512_mul_pd(x2, pc));
    pc = _mm512_add_pd(PG_V(1.0 / 479001600.0), _mm512_mul_pd(x2, pc));
    pc = _mm512_add_pd(PG_V(-1.0 / 3628800.0), _mm512_mul_pd(x2, pc));
    pc = _mm512_add_pd(PG_V(1.0 / 40320.0), _mm512_mul_pd(x2, pc));
    pc = _mm512_add_pd(PG_V(-1.0 / 720.0), _mm512_mul_pd(x2, pc));
    pc = _mm512_add_pd(PG_V(1.0 / 24.0), _mm512_mul_pd(x2, pc));
    pc = _mm512_sub_pd(PG_V(1.0 / 2.0), _mm512_mul_pd(x2, pc));
    __m512d co = _mm512_sub_pd(PG_V(1.0), _mm512_mul_pd(x2, pc));
    __m512d ps = PG_V(1.0 / 355687428096000.0);
    ps = _mm512_add_pd(PG_V(-1.0 / 1307674368000.0), _mm512_mul_pd(x2, ps));
    ps = _mm512_add_pd(PG_V(1.0 / 6227020800.0), _mm512_mul_pd(x2, ps));
    ps = _mm512_add_pd(PG_V(-1.0 / 39916800.0), _mm512_mul_pd(x2, ps));
    ps = _mm512_add_pd(PG_V(1.0 / 362880.0), _mm512_mul_pd(x2, ps));
    ps = _mm512_add_pd(PG_V(-1.0 / 5040.0), _mm512_mul_pd(x2, ps));
    ps = _mm512_add_pd(PG_V(1.0 / 120.0), _mm512_mul_pd(x2, ps));
    ps = _mm512_sub_pd(PG_V(1.0 / 6.0), _mm512_mul_pd(x2, ps));
    __m512d si = _mm512_sub_pd(x, _mm512_mul_pd(_mm512_mul_pd(x, x2), ps));
    __m512i sign = _mm512_set1_epi64((long long)0x8000000000000000u);
    __m512d nco = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(co), sign));
    __m512d nsi = _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(si), sign));
    __mmask8 q1 = _mm512_cmp_pd_mask(q, PG_V(1.0), _CMP_EQ_OQ), q2 = _mm512_cmp_pd_mask(q, PG_V(2.0), _CMP_EQ_OQ),
             q3 = _mm512_cmp_pd_mask(q, PG_V(3.0), _CMP_EQ_OQ);
    *c = _mm512_mask_mov_pd(_mm512_mask_mov_pd(_mm512_mask_mov_pd(co, q3, si), q2, nco), q1, nsi);
    *s = _mm512_mask_mov_pd(_mm512_mask_mov_pd(_mm512_mask_mov_pd(si, q3, nco), q2, nsi), q1, co);
}

/* the normals of pairs k .. k + 7, as pg__normal_pair: z0 (lane l: pair k + l's first), z1 its second */
PG_RNG_TARGET static inline void pg__normal_pairs8(uint64_t key, int64_t k, __m512d *z0, __m512d *z1) {
    /* counters 2k + 2l (l = 0..7) and one more: key + (c + 1) · 0x9e3779b97f4a7c15 */
    __m512i c = _mm512_add_epi64(_mm512_set1_epi64(2 * k + 1), _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14));
    __m512i gold = _mm512_set1_epi64((long long)0x9e3779b97f4a7c15u);
    __m512i a0 = _mm512_add_epi64(_mm512_set1_epi64((long long)key), _mm512_mullo_epi64(c, gold));
    __m512i a1 = _mm512_add_epi64(a0, gold);
    __m512d u1 = _mm512_add_pd(pg__u53_v(pg__fmix64_v(a0)), PG_V(0x1p-53));
    __m512d u2 = pg__u53_v(pg__fmix64_v(a1));
    __m512d r = _mm512_sqrt_pd(_mm512_mul_pd(PG_V(-2.0), pg__rng_log_v(u1))), co, si;
    pg__rng_cossin_v(u2, &co, &si);
    *z0 = _mm512_mul_pd(r, co);
    *z1 = _mm512_mul_pd(r, si);
}

/* pairs [k0, k1) in whole groups of eight, stored interleaved (z[2k], z[2k + 1]); returns the first
 * pair not done */
PG_RNG_TARGET static int64_t pg__normal_pairs_f64_v(double *restrict y, int64_t k0, int64_t k1, uint64_t key) {
    const __m512i lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    int64_t k = k0;
    for (; k + 8 <= k1; k += 8) {
        __m512d z0, z1;
        pg__normal_pairs8(key, k, &z0, &z1);
        _mm512_storeu_pd(y + 2 * k, _mm512_permutex2var_pd(z0, lo, z1));
        _mm512_storeu_pd(y + 2 * k + 8, _mm512_permutex2var_pd(z0, hi, z1));
    }
    return k;
}

PG_RNG_TARGET static int64_t pg__normal_pairs_f32_v(float *restrict y, int64_t k0, int64_t k1, uint64_t key) {
    const __m512i mix = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    int64_t k = k0;
    for (; k + 8 <= k1; k += 8) {
        __m512d z0, z1;
        pg__normal_pairs8(key, k, &z0, &z1);
        __m512 both = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(z0)), _mm512_cvtpd_ps(z1), 1);
        _mm512_storeu_ps(y + 2 * k, _mm512_permutexvar_ps(mix, both)); /* rounded once, as (float)z */
    }
    return k;
}
#undef PG_V

static bool pg__normal_simd(void) { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq"); }
#define PG_NORMAL_SIMD(sfx, y, k0, k1, key) (pg__normal_simd() ? pg__normal_pairs_##sfx##_v(y, k0, k1, key) : (k0))
#else
#define PG_NORMAL_SIMD(sfx, y, k0, k1, key) (k0)
#endif

/* ---- kernels ---- */

typedef struct pg_random_job {
    void *y;           /* [n] */
    const void *p;     /* bernoulli: the probabilities [n]; NULL: random */
    uint64_t key;      /* pg__rng_key(seed) */
    int kind;
    bool f64;
    pg_dtype dtype;    /* randint: the output's */
    int64_t low;       /* randint: the range [low, low + span) */
    uint64_t span;
    uint64_t reject;   /* randint: 2⁶⁴ mod span, the low halves below it are drawn again */
} pg_random_job;

PG_CLONES static void pg__uniform_f64(double *restrict y, int64_t lo, int64_t hi, uint64_t key) {
    for (int64_t i = lo; i < hi; i++) y[i] = pg__u53(pg__rng_bits(key, (uint64_t)i));
}
PG_CLONES static void pg__uniform_f32(float *restrict y, int64_t lo, int64_t hi, uint64_t key) {
    for (int64_t i = lo; i < hi; i++) y[i] = (float)(int32_t)(pg__rng_bits(key, (uint64_t)i) >> 40) * 0x1p-24f;
}

/* the whole pairs k in [k0, k1): z[2k], z[2k + 1] */
#define PG_NORMAL_PAIRS(T, sfx)                                                                     \
    static void pg__normal_pairs_##sfx(T *restrict y, int64_t k0, int64_t k1, uint64_t key) {      \
        for (int64_t k = PG_NORMAL_SIMD(sfx, y, k0, k1, key); k < k1; k++) { /* the rest: scalar */   \
            double z0, z1;                                                                          \
            pg__normal_pair(key, (uint64_t)k, &z0, &z1);                                            \
            y[2 * k] = (T)z0;                                                                       \
            y[2 * k + 1] = (T)z1;                                                                   \
        }                                                                                           \
    }                                                                                               \
    static void pg__normal_##sfx(T *restrict y, int64_t lo, int64_t hi, uint64_t key) {             \
        double z0, z1;                                                                              \
        int64_t i = lo;                                                                             \
        if (i < hi && (i & 1)) { /* an odd start: the second of its pair */                         \
            pg__normal_pair(key, (uint64_t)i >> 1, &z0, &z1);                                       \
            y[i++] = (T)z1;                                                                         \
        }                                                                                           \
        pg__normal_pairs_##sfx(y, i >> 1, hi >> 1, key);                                            \
        if (hi & 1 && hi - 1 >= i) { /* an odd end: the first of its pair */                        \
            pg__normal_pair(key, (uint64_t)(hi - 1) >> 1, &z0, &z1);                                \
            y[hi - 1] = (T)z0;                                                                      \
        }                                                                                           \
    }
PG_NORMAL_PAIRS(float, f32)
PG_NORMAL_PAIRS(double, f64)

#define PG_BERNOULLI_KERNEL(T, sfx)                                                                   \
    static const T pg__01_##sfx[2] = {0, 1};                                                          \
    PG_CLONES static void pg__bernoulli_##sfx(T *restrict y, const T *restrict p, int64_t lo, int64_t hi, \
                                             uint64_t key) {                                          \
        for (int64_t i = lo; i < hi; i++) {                                                           \
            double u = pg__u53(pg__rng_bits(key, (uint64_t)i));                                        \
            y[i] = pg__01_##sfx[u < (double)p[i]]; /* an index, not a branch: the outcome is random */ \
        }                                                                                             \
    }
PG_BERNOULLI_KERNEL(float, f32)
PG_BERNOULLI_KERNEL(double, f64)

#define PG_RANDINT_KERNEL(T, sfx)                                                                  \
    static void pg__randint_##sfx(T *restrict y, int64_t lo, int64_t hi, const pg_random_job *j) { \
        uint64_t key = j->key, span = j->span, reject = j->reject;                                 \
        int64_t low = j->low;                                                                      \
        for (int64_t i = lo; i < hi; i++) y[i] = (T)pg__randint_one(key, (uint64_t)i, low, span, reject); \
    }
PG_RANDINT_KERNEL(int64_t, i64)
PG_RANDINT_KERNEL(int32_t, i32)
PG_RANDINT_KERNEL(bool, b)
PG_RANDINT_KERNEL(float, f32)
PG_RANDINT_KERNEL(double, f64)

static void pg__random_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_random_job *j = ctx;
    if (j->kind == PG_RANDOM_INT) {
        switch (j->dtype) {
        case PG_DTYPE_I64: pg__randint_i64(j->y, lo, hi, j); break;
        case PG_DTYPE_I32: pg__randint_i32(j->y, lo, hi, j); break;
        case PG_DTYPE_BOOL: pg__randint_b(j->y, lo, hi, j); break;
        case PG_DTYPE_F32: pg__randint_f32(j->y, lo, hi, j); break;
        case PG_DTYPE_F64: pg__randint_f64(j->y, lo, hi, j); break;
        }
    } else if (j->p) {
        if (j->f64) pg__bernoulli_f64(j->y, j->p, lo, hi, j->key);
        else pg__bernoulli_f32(j->y, j->p, lo, hi, j->key);
    } else if (j->kind == PG_RANDOM_NORMAL) {
        if (j->f64) pg__normal_f64(j->y, lo, hi, j->key);
        else pg__normal_f32(j->y, lo, hi, j->key);
    } else {
        if (j->f64) pg__uniform_f64(j->y, lo, hi, j->key);
        else pg__uniform_f32(j->y, lo, hi, j->key);
    }
}

static void pg__random_run(pg_tensor *y, const pg_tensor *p, const pg_params *prm) {
    if (y->numel == 0) return;
    int kind = p ? PG_RANDOM_UNIFORM : prm->random.kind;
    pg_random_job j = {.y = y->data, .p = p ? p->data : NULL, .key = pg__rng_key(prm->random.seed), .kind = kind,
                       .f64 = y->dtype == PG_DTYPE_F64, .dtype = y->dtype, .low = prm->random.low,
                       .span = (uint64_t)prm->random.high - (uint64_t)prm->random.low};
    if (kind == PG_RANDOM_INT) j.reject = -j.span % j.span;
    /* ranges start at even indices (align 16), so randn's pairs are split only at the end */
    int64_t grain = kind == PG_RANDOM_NORMAL ? PG_NDITER_GRAIN / 8 : kind == PG_RANDOM_INT ? PG_NDITER_GRAIN / 4
                                                                                           : PG_NDITER_GRAIN / 2;
    pg__parallel_range(y->numel, 16, grain, pg__random_range, &j);
}

/* ---- random: the shape in the parameters, the dtype of the 0-d input ---- */

static const char *pg__random_name(int kind) {
    return kind == PG_RANDOM_NORMAL ? "randn" : kind == PG_RANDOM_INT ? "randint" : "rand";
}

/* randint's range: not empty, and within int32 or bool for those dtypes (high − 1 is the largest value) */
static pg_status pg__check_int_range(pg_dtype dtype, int64_t low, int64_t high) {
    if (low >= high)
        return pg__fail(PG_ERR_VALUE, "randint: empty range [%lld, %lld)", (long long)low, (long long)high);
    int64_t lo = dtype == PG_DTYPE_I32 ? INT32_MIN : dtype == PG_DTYPE_BOOL ? 0 : INT64_MIN;
    int64_t hi = dtype == PG_DTYPE_I32 ? INT32_MAX : dtype == PG_DTYPE_BOOL ? 1 : INT64_MAX;
    if (low < lo || high - 1 > hi)
        return pg__fail(PG_ERR_VALUE, "randint: the range [%lld, %lld) does not fit %s ([%lld, %lld])", (long long)low,
                        (long long)high, pg__dtype_name(dtype), (long long)lo, (long long)hi);
    return PG_OK;
}

static pg_status random_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const char *name = pg__random_name(p->random.kind);
    if (p->random.kind != PG_RANDOM_UNIFORM && p->random.kind != PG_RANDOM_NORMAL && p->random.kind != PG_RANDOM_INT)
        return pg__fail(PG_ERR_VALUE, "random: unknown kind %d", p->random.kind);
    if (p->random.kind == PG_RANDOM_INT) {
        if (pg__check_int_range(in[0]->dtype, p->random.low, p->random.high)) return PG_ERR_VALUE;
    } else if (pg__check_float(name, in[0])) {
        return PG_ERR_TYPE;
    }
    if (p->random.ndim < 0 || p->random.ndim > PG_MAX_DIMS)
        return pg__fail(PG_ERR_SHAPE, "%s: tensors have 0 to %d dims, got %d", name, PG_MAX_DIMS, p->random.ndim);
    for (int d = 0; d < p->random.ndim; d++)
        if (p->random.dims[d] < 0)
            return pg__fail(PG_ERR_SHAPE, "%s: negative dimension %lld", name, (long long)p->random.dims[d]);
    if (pg__numel(p->random.ndim, p->random.dims) > INT64_MAX / 8)
        return pg__fail(PG_ERR_MEMORY, "%s: the shape has too many elements", name);
    out->dtype = in[0]->dtype;
    out->ndim = p->random.ndim;
    memcpy(out->shape, p->random.dims, (size_t)p->random.ndim * sizeof *out->shape);
    return PG_OK;
}

static pg_status random_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)in;
    (void)n_in;
    pg__random_run(out, NULL, p);
    return PG_OK;
}

/* random's input only gives the dtype, and bernoulli's y is piecewise constant in p (PyTorch's zeros):
 * neither op passes a gradient back */
static pg_status nograd_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    (void)dx;
    (void)g;
    (void)n;
    return PG_OK;
}
static pg_status nograd_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    (void)dx;
    (void)g;
    (void)n;
    return PG_OK;
}

/* the random op of prm (kind, seed, range set) in shape[ndim] and dtype */
static pg_tensor *pg__random_apply(pg_dtype dtype, int ndim, const int64_t *shape, pg_params *prm) {
    const char *name = pg__random_name(prm->random.kind);
    if (ndim < 0 || ndim > PG_MAX_DIMS || (ndim && !shape)) {
        pg__fail(PG_ERR_SHAPE, "%s: tensors have 0 to %d dims, got %d", name, PG_MAX_DIMS, ndim);
        return NULL;
    }
    prm->op = PG_OP_RANDOM;
    prm->random.ndim = ndim;
    if (ndim) memcpy(prm->random.dims, shape, (size_t)ndim * sizeof *shape);
    pg_tensor *carrier = pg_tensor_full(dtype, 0, NULL, 0.0); /* 0-d: the dtype, a constant of a program */
    if (!carrier) return NULL;
    if (pg_tls.recorder) pg_tls.recorder->ops->constant(pg_tls.recorder, carrier, 0.0); /* pygrad.compile: a fill */
    pg_tensor *out = pg__apply(PG_OP_RANDOM, &carrier, 1, prm);
    pg_tensor_release(carrier);
    return out;
}

pg_tensor *pg_random(pg_dtype dtype, int ndim, const int64_t *shape, int kind, uint64_t seed) {
    const char *name = pg__random_name(kind);
    if (kind == PG_RANDOM_INT) {
        pg__fail(PG_ERR_VALUE, "randint: the integer kind takes a range: use pg_randint");
        return NULL;
    }
    if (dtype != PG_DTYPE_F32 && dtype != PG_DTYPE_F64) {
        pg__fail(PG_ERR_TYPE, "%s: expected float32 or float64, got %s", name, pg__dtype_name(dtype));
        return NULL;
    }
    pg_params prm = {0};
    prm.random.kind = kind;
    prm.random.seed = seed;
    return pg__random_apply(dtype, ndim, shape, &prm);
}

pg_tensor *pg_randint(pg_dtype dtype, int ndim, const int64_t *shape, int64_t low, int64_t high, uint64_t seed) {
    if (dtype != PG_DTYPE_F32 && dtype != PG_DTYPE_F64 && dtype != PG_DTYPE_I64 && dtype != PG_DTYPE_I32 &&
        dtype != PG_DTYPE_BOOL) {
        pg__fail(PG_ERR_TYPE, "randint: unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (pg__check_int_range(dtype, low, high)) return NULL;
    pg_params prm = {0};
    prm.random.kind = PG_RANDOM_INT;
    prm.random.seed = seed;
    prm.random.low = low;
    prm.random.high = high;
    return pg__random_apply(dtype, ndim, shape, &prm);
}

PG_OPDEF(random, random_infer, random_forward, nograd_backward, nograd_rule);

/* ---- bernoulli: probabilities in, 0/1 of their dtype out ---- */

static pg_status bernoulli_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    (void)p;
    if (pg__check_float("bernoulli", in[0])) return PG_ERR_TYPE;
    pg__meta_of(out, in[0]);
    return PG_OK;
}


static pg_status bernoulli_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    bool f64 = x->dtype == PG_DTYPE_F64;
    int64_t bad = pg__outside_unit(x);
    if (bad >= 0) {
        double v = f64 ? ((const double *)x->data)[bad] : (double)((const float *)x->data)[bad];
        return pg__fail(PG_ERR_VALUE, "bernoulli: probabilities must lie in [0, 1], got %g at flat index %lld",
                        isnan(v) ? fabs(v) : v, (long long)bad); /* fabs: "nan", whatever its sign bit */
    }
    pg__random_run(out, x, p);
    return PG_OK;
}


pg_tensor *pg_bernoulli(pg_tensor *p, uint64_t seed) {
    if (pg__check_tensor("bernoulli", p)) return NULL;
    pg_params prm = {0};
    prm.op = PG_OP_BERNOULLI;
    prm.random.seed = seed;
    int prev = pg_set_grad_enabled(0); /* samples, not a function of p: never requires grad */
    pg_tensor *out = pg__apply(PG_OP_BERNOULLI, &p, 1, &prm);
    pg_set_grad_enabled(prev);
    return out;
}

PG_OPDEF(bernoulli, bernoulli_infer, bernoulli_forward, nograd_backward, nograd_rule);
