/* vmath_simd.h: the vector math of kern_vmath.c, written once over a vector
 * of doubles (GCC/Clang vector extensions plus the ISA's FMA) and included by
 * kern_vmath.c once per instruction set, with
 *   PGV_VD, PGV_VI, PGV_VF  the vector of doubles, of int64 and of floats (same lane count)
 *   PGV_N                   the lane count
 *   PGV_FMA(a, b, c)        a*b + c rounded once
 *   PGV_ANY(m)              some lane of the mask m (all ones / zeros per lane) is set
 *   PGV_TARGET              the function attribute that enables the ISA
 *   PGV_SFX                 the suffix of the names it defines (avx2, avx512)
 * Not a header to include anywhere else. float32 is computed in float64 with
 * shorter polynomials and rounded once at the end, so float32 special values,
 * overflow and subnormal results fall out of the float64 code. The maths of
 * each function is in the comment above it; the constants and the
 * coefficient tables are kern_vmath.c's. */

#define VD PGV_VD
#define VI PGV_VI
#define VF PGV_VF
#define PGV_CAT2(a, b) a##_##b
#define PGV_CAT(a, b) PGV_CAT2(a, b)
#define FN(name) PGV_CAT(name, PGV_SFX)
#define INL static inline __attribute__((always_inline)) PGV_TARGET

INL VD FN(splat)(double c) {
    VD v;
    for (int l = 0; l < PGV_N; l++) v[l] = c;
    return v;
}
INL VI FN(splati)(int64_t c) {
    VI v;
    for (int l = 0; l < PGV_N; l++) v[l] = c;
    return v;
}
#define S(c) FN(splat)(c)
/* m ? a : b per lane, m all ones or all zeros */
INL VD FN(sel)(VI m, VD a, VD b) { return (VD)((m & (VI)a) | (~m & (VI)b)); }
INL VD FN(vabs)(VD x) { return (VD)((VI)x & FN(splati)(INT64_MAX)); }
/* |t| with the sign of s */
INL VD FN(copysign)(VD t, VD s) { return (VD)(((VI)t & FN(splati)(INT64_MAX)) | ((VI)s & FN(splati)(INT64_MIN))); }
/* c[0] + c[1] x + ... + c[n-1] x^(n-1), Horner with FMA */
INL VD FN(poly)(VD x, const double *c, int n) {
    VD r = S(c[n - 1]);
    PGV_UNROLL for (int i = n - 2; i >= 0; i--) r = PGV_FMA(r, x, S(c[i]));
    return r;
}
/* k (an integer-valued double, |k| < 2^51) as int64: its bits after adding 1.5 * 2^52 */
INL VI FN(toint)(VD k) { return (VI)(k + S(PGV_MAGIC)) - (VI)S(PGV_MAGIC); }
/* 2^k for an integer-valued k in [-1022, 1023] */
INL VD FN(pow2)(VD k) { return (VD)((FN(toint)(k) + 1023) << 52); }

/* exp: k = round(x / ln 2), r = x - k ln 2 (ln 2 in two parts; the first
 * product is exact inside the FMA), |r| <= ln2/2, e^r by its Taylor
 * polynomial of degree ne-1 (13 for float64: truncation < 2^-57 relative),
 * then scaled by 2^k1 2^k2 with k1 + k2 = k, each in the normal range, so a
 * subnormal result is rounded once and overflow gives inf. */
INL VD FN(vexp)(VD x, int ne) {
    VD xc = FN(sel)((VI)(x < S(-746.0)), S(-746.0), x);
    xc = FN(sel)((VI)(xc > S(710.0)), S(710.0), xc);
    VD kd = PGV_FMA(xc, S(PGV_LOG2E), S(PGV_MAGIC)) - S(PGV_MAGIC);
    VD r = PGV_FMA(-kd, S(PGV_LN2_HI), xc);
    r = PGV_FMA(-kd, S(PGV_LN2_LO), r);
    VD p = FN(poly)(r, pgv_exp_c, ne);
    VD k1 = (kd * S(0.5) + S(PGV_MAGIC)) - S(PGV_MAGIC);
    VD y = p * FN(pow2)(k1) * FN(pow2)(kd - k1);
    return FN(sel)((VI)(x != x), x + x, y);
}

/* log: x = 2^e m, m in (sqrt(2)/2, sqrt(2)] (subnormals scaled by 2^54 first),
 * f = m - 1, s = f/(2 + f), log(1 + f) = 2 atanh(s) = 2s + s R(s^2) with
 * R(z) = z (2/3 + 2z/5 + ...) (nl terms; |s| < 0.172 so 11 terms leave
 * < 2^-60), evaluated as f - (f^2/2 - s (f^2/2 + R)); then + e ln 2, with a
 * ln 2 whose first part has 32 bits so e ln2_hi is exact. */
INL VD FN(vlog)(VD x, int nl) {
    VI sub = (VI)(x < S(0x1p-1022));
    VD xs = FN(sel)(sub, x * S(0x1p54), x);
    VI bits = (VI)xs;
    VI e = ((bits >> 52) & 0x7ff) - 1023 - (sub & 54);
    VD m = (VD)((bits & FN(splati)(0xfffffffffffffLL)) | FN(splati)(0x3ff0000000000000LL));
    VI big = (VI)(m > S(0x1.6a09e667f3bcdp+0));
    m = FN(sel)(big, m * S(0.5), m);
    e = e - big; /* big is -1 where true */
    VD ed = (VD)(e + (VI)S(PGV_MAGIC)) - S(PGV_MAGIC);
    VD f = m - S(1.0);
    VD s = f / (f + S(2.0));
    VD z = s * s;
    VD R = z * FN(poly)(z, pgv_log_c, nl);
    VD hfsq = S(0.5) * f * f;
    VD y = ed * S(PGV_LN2_HI32) - ((hfsq - (s * (hfsq + R) + ed * S(PGV_LN2_LO32))) - f);
    y = FN(sel)((VI)(x == S(INFINITY)), x, y);
    y = FN(sel)((VI)(x == S(0.0)), S(-INFINITY), y);
    y = FN(sel)((VI)(x < S(0.0)), S(NAN), y);
    return FN(sel)((VI)(x != x), x + x, y);
}

/* sin and cos: k = round(2x/pi), r = x - k pi/2 with pi/2 in three float64
 * parts (the first product is exact inside the FMA and x - k p1 is exact,
 * which keeps r accurate for |k| up to 2^20 and more: beyond PGV_TRIG_MAX
 * the loop hands the lane to libm), |r| <= pi/4; sin r and cos r by their
 * Taylor polynomials (to r^17 and r^16 for float64), cos as
 * w + ((1 - w) - r^2/2) + r^4 Q with w = 1 - r^2/2; the quadrant k (+1 for
 * cos) picks sin r or cos r and the sign. */
INL VD FN(vsincos)(VD x, int ns, int nc, int cosine) {
    VD kd = PGV_FMA(x, S(PGV_2_PI), S(PGV_MAGIC)) - S(PGV_MAGIC);
    VD r = PGV_FMA(-kd, S(PGV_PIO2_1), x);
    r = PGV_FMA(-kd, S(PGV_PIO2_2), r);
    r = PGV_FMA(-kd, S(PGV_PIO2_3), r);
    VI q = FN(toint)(kd) + cosine;
    VD z = r * r;
    VD s = PGV_FMA(r * z, FN(poly)(z, pgv_sin_c, ns), r);
    VD hz = S(0.5) * z, w = S(1.0) - hz;
    VD c = w + (((S(1.0) - w) - hz) + (z * z) * FN(poly)(z, pgv_cos_c, nc));
    VD y = FN(sel)(-(q & 1), c, s);
    y = (VD)((VI)y ^ ((-((q >> 1) & 1)) & FN(splati)(INT64_MIN)));
    if (!cosine) y = FN(sel)((VI)(x == S(0.0)), x, y); /* sin(-0) = -0 */
    return y;
}

/* tanh: below |x| = 0.55 its odd Taylor polynomial x + x^3 T(x^2) (nt terms;
 * 20 for float64, truncation < 2^-60); above, 1 - 2/(e^(2|x|) + 1), where
 * 2/(e^2|x| + 1) <= 1/2 so the subtraction loses nothing; the sign of x
 * (and -0) put back at the end. */
INL VD FN(vtanh)(VD x, int nt, int ne) {
    VD a = FN(vabs)(x), z = x * x;
    VD ts = PGV_FMA(x * z, FN(poly)(z, pgv_tanh_c, nt), x);
    VD tl = S(1.0) - S(2.0) / (FN(vexp)(a + a, ne) + S(1.0));
    return FN(copysign)(FN(sel)((VI)(a < S(0.55)), ts, tl), x);
}

/* sigmoid: e = e^-|x|, 1/(1 + e) for x >= 0 and e/(1 + e) below, never overflowing */
INL VD FN(vsigmoid)(VD x, int ne) {
    VD e = FN(vexp)(-FN(vabs)(x), ne);
    VD s = S(1.0) / (S(1.0) + e);
    return FN(sel)((VI)(x < S(0.0)), e * s, s);
}

/* The array loops: o[i] = f(x[i]), or g[i] * scale * f(x[i]) when g is
 * given (a backward's local derivative times the upstream gradient; o may be
 * g or x itself). NAME_vec does one vector of PGV_N elements; a tail shorter
 * than that runs through padded copies, so an element's result never
 * depends on where it sits. Lanes whose |x| exceeds BIG (NaN included) are
 * recomputed with the scalar LIBM64/LIBM32. */
#define PGV_LOOPS(NAME, EXPR64, EXPR32, BIG, LIBM64, LIBM32)                                               \
    INL void FN(NAME##_vec_f64)(double *o, const double *g, const double *x, double scale) {               \
        VD v;                                                                                             \
        memcpy(&v, x, sizeof v);                                                                          \
        VD r = (EXPR64);                                                                                  \
        if (PGV_ANY(~(VI)(FN(vabs)(v) <= S(BIG)))) {                                                      \
            double ob[PGV_N];                                                                             \
            memcpy(ob, &r, sizeof r);                                                                     \
            for (int l = 0; l < PGV_N; l++)                                                               \
                if (!(fabs(x[l]) <= (BIG))) ob[l] = LIBM64(x[l]);                                         \
            memcpy(&r, ob, sizeof r);                                                                     \
        }                                                                                                 \
        if (g) {                                                                                          \
            VD gv;                                                                                        \
            memcpy(&gv, g, sizeof gv);                                                                    \
            r = (gv * S(scale)) * r;                                                                      \
        }                                                                                                 \
        memcpy(o, &r, sizeof r);                                                                          \
    }                                                                                                     \
    static PGV_TARGET void FN(NAME##_f64)(double *o, const double *g, const double *x, int64_t n,        \
                                          double scale) {                                                 \
        int64_t i = 0;                                                                                    \
        for (; i + PGV_N <= n; i += PGV_N) FN(NAME##_vec_f64)(o + i, g ? g + i : NULL, x + i, scale);     \
        if (i < n) {                                                                                      \
            size_t m = (size_t)(n - i) * sizeof(double);                                                  \
            double ob[PGV_N], gb[PGV_N] = {0}, xb[PGV_N] = {0};                                           \
            memcpy(xb, x + i, m);                                                                         \
            if (g) memcpy(gb, g + i, m);                                                                  \
            FN(NAME##_vec_f64)(ob, g ? gb : NULL, xb, scale);                                             \
            memcpy(o + i, ob, m);                                                                         \
        }                                                                                                 \
    }                                                                                                     \
    INL void FN(NAME##_vec_f32)(float *o, const float *g, const float *x, double scale) {                  \
        VF vf;                                                                                            \
        memcpy(&vf, x, sizeof vf);                                                                        \
        VD v = __builtin_convertvector(vf, VD);                                                           \
        VD r = (EXPR32);                                                                                  \
        if (g) {                                                                                          \
            VF gf;                                                                                        \
            memcpy(&gf, g, sizeof gf);                                                                    \
            r = (__builtin_convertvector(gf, VD) * S(scale)) * r;                                         \
        }                                                                                                 \
        VF rf = __builtin_convertvector(r, VF);                                                           \
        if (PGV_ANY(~(VI)(FN(vabs)(v) <= S(BIG)))) {                                                      \
            float ob[PGV_N];                                                                              \
            memcpy(ob, &rf, sizeof rf);                                                                   \
            for (int l = 0; l < PGV_N; l++)                                                               \
                if (!(fabsf(x[l]) <= (float)(BIG)))                                                       \
                    ob[l] = g ? (float)((double)g[l] * scale * (double)LIBM32(x[l])) : LIBM32(x[l]);      \
            memcpy(&rf, ob, sizeof rf);                                                                   \
        }                                                                                                 \
        memcpy(o, &rf, sizeof rf);                                                                        \
    }                                                                                                     \
    static PGV_TARGET void FN(NAME##_f32)(float *o, const float *g, const float *x, int64_t n,           \
                                          double scale) {                                                 \
        int64_t i = 0;                                                                                    \
        for (; i + PGV_N <= n; i += PGV_N) FN(NAME##_vec_f32)(o + i, g ? g + i : NULL, x + i, scale);     \
        if (i < n) {                                                                                      \
            size_t m = (size_t)(n - i) * sizeof(float);                                                   \
            float ob[PGV_N], gb[PGV_N] = {0}, xb[PGV_N] = {0};                                            \
            memcpy(xb, x + i, m);                                                                         \
            if (g) memcpy(gb, g + i, m);                                                                  \
            FN(NAME##_vec_f32)(ob, g ? gb : NULL, xb, scale);                                             \
            memcpy(o + i, ob, m);                                                                         \
        }                                                                                                 \
    }

/* the scalar stand-ins where no lane is ever handed over */
#define PGV_NOLIBM(v) (v)

PGV_LOOPS(exp, FN(vexp)(v, 14), FN(vexp)(v, 9), INFINITY, PGV_NOLIBM, PGV_NOLIBM)
PGV_LOOPS(log, FN(vlog)(v, 11), FN(vlog)(v, 5), INFINITY, PGV_NOLIBM, PGV_NOLIBM)
PGV_LOOPS(tanh, FN(vtanh)(v, 20, 14), FN(vtanh)(v, 9, 9), INFINITY, PGV_NOLIBM, PGV_NOLIBM)
PGV_LOOPS(sigmoid, FN(vsigmoid)(v, 14), FN(vsigmoid)(v, 9), INFINITY, PGV_NOLIBM, PGV_NOLIBM)
PGV_LOOPS(sin, FN(vsincos)(v, 8, 7, 0), FN(vsincos)(v, 5, 4, 0), PGV_TRIG_MAX, sin, sinf)
PGV_LOOPS(cos, FN(vsincos)(v, 8, 7, 1), FN(vsincos)(v, 5, 4, 1), PGV_TRIG_MAX, cos, cosf)

static const pgv_table FN(pgv_table) = {
    {FN(exp_f64), FN(log_f64), FN(tanh_f64), FN(sigmoid_f64), FN(sin_f64), FN(cos_f64)},
    {FN(exp_f32), FN(log_f32), FN(tanh_f32), FN(sigmoid_f32), FN(sin_f32), FN(cos_f32)},
};

#undef S
#undef INL
#undef FN
#undef PGV_CAT
#undef PGV_CAT2
#undef VD
#undef VI
#undef VF
#undef PGV_LOOPS
#undef PGV_NOLIBM
