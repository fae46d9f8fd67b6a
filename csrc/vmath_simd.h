/* vmath_simd.h: the vector math of kern_vmath.c, written once over a vector
 * of doubles (GCC/Clang vector extensions plus the ISA's FMA) and included by
 * kern_vmath.c once per instruction set, with
 *   PGV_VD, PGV_VI, PGV_VF  the vector of doubles, of int64 and of floats (same lane count)
 *   PGV_N                   the lane count
 *   PGV_FMA(a, b, c)        a*b + c rounded once
 *   PGV_ANY(m)              some lane of the mask m (all ones / zeros per lane) is set
 *   PGV_TARGET              the function attribute that enables the ISA
 *   PGV_SFX                 the suffix of the names it defines (avx2, avx512)
 *   PGV_LUT16_D(t, i)       t[i & 15] per lane (a permutation on AVX-512, a gather on AVX2)
 *   PGV_MIN_D/_S, PGV_MAX_D the ISA's min and max (b where a or b is NaN)
 * Not a header to include anywhere else. float32 through doubles is computed
 * in float64 with shorter polynomials and rounded once at the end, so float32
 * special values, overflow and subnormal results fall out of the float64
 * code; most functions also have a float-native form (the second half), which
 * the loops take where it is accurate. The maths of
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
    VD v = {0};
    for (int l = 0; l < PGV_N; l++) v[l] = c;
    return v;
}
INL VI FN(splati)(int64_t c) {
    VI v = {0};
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

/* a/d: on AVX-512 from the 14-bit reciprocal estimate, two Newton steps and
 * one correction of the quotient (within an ulp, NaN and inf as the
 * division gives them for the finite positive d of this file), else a division */
INL VD FN(vdiv)(VD a, VD d) {
#ifdef PGV_RCP14_D
    VD y = PGV_RCP14_D(d);
    y = PGV_FMA(y, PGV_FMA(-d, y, S(1.0)), y);
    y = PGV_FMA(y, PGV_FMA(-d, y, S(1.0)), y);
    VD q = a * y;
    return PGV_FMA(PGV_FMA(-d, q, a), y, q);
#else
    return a / d;
#endif
}

/* exp: k = round(16 x / ln 2) = 16 m + j, r = x - k ln2/16 (ln 2 in two
 * parts; the first product is exact inside the FMA), |r| <= ln2/32; e^x =
 * 2^m 2^(j/16) e^r with 2^(j/16) from pgv_exp2_t (a two-register
 * permutation on AVX-512, else gathered) and e^r - 1 = r (1 + r/2 + ...)
 * by its Taylor polynomial (ne terms: 7 for float64, truncation < 2^-60),
 * then scaled by 2^m (on AVX-512 by scalef, which floors k/16 itself; on
 * AVX2 as 2^m1 2^m2 with m1 + m2 = m, each in the normal range), so a
 * subnormal result is rounded once and overflow gives inf. The clamps let
 * NaN through (min/max return their second operand for a NaN), and NaN
 * stays NaN to the end, whatever the integer parts make of it. k's bits are
 * the low bits of round(16 x / ln 2) + MAGIC. */
INL VD FN(vexp)(VD x, int ne) {
    VD xc = PGV_MIN_D(S(710.0), PGV_MAX_D(S(-746.0), x));
    VD kdm = PGV_FMA(xc, S(16.0 * PGV_LOG2E), S(PGV_MAGIC));
    VD kd = kdm - S(PGV_MAGIC);
    VD r = PGV_FMA(-kd, S(PGV_LN2_HI / 16), xc);
    r = PGV_FMA(-kd, S(PGV_LN2_LO / 16), r);
    VD t = PGV_LUT16_D(pgv_exp2_t, (VI)kdm);
    VD p = r * FN(poly)(r, pgv_exp_c + 1, ne);
    p = PGV_FMA(t, p, t);
#ifdef PGV_SCALEF_D
    return PGV_SCALEF_D(p, kd * S(1.0 / 16)); /* p 2^floor(k/16), rounded once */
#else
    VD md = (VD)((((VI)kdm - (VI)S(PGV_MAGIC)) >> 4) + (VI)S(PGV_MAGIC)) - S(PGV_MAGIC);
    VD k1 = (md * S(0.5) + S(PGV_MAGIC)) - S(PGV_MAGIC);
    return p * FN(pow2)(k1) * FN(pow2)(md - k1);
#endif
}

/* log: x = 2^k z, z in [T, 2T) (T = 0.705..., see kern_vmath.c), taken
 * from x's bits: z's interval j gives invc ~ 1/z and logc = -log(invc)
 * (gathered), r = z invc - 1 (one rounding, |r| < 2^-8), and
 * log x = k ln 2 + logc + log1p(r), log1p(r) = r + r^2 P(r). k ln2_hi + logc
 * is exact for k = 0 (and for x near 1 it is 0: the interval around 1 has
 * invc = 1, where r = z - 1 is exact), the sum with r is compensated, the
 * small parts added last. Positive normal x only; kadj is added to k (the
 * subnormals' scaling, in vlog). */
INL VD FN(vlog_core)(VD x, VI kadj) {
    VI ix = (VI)x;
    VI tmp = ix - FN(splati)(PGV_LOG_T);
    VI k = (tmp >> 52) + kadj;
    VI j = (tmp >> 45) & 127;
    VD z = (VD)(ix - (tmp & FN(splati)((int64_t)0xfff0000000000000ULL)));
    VD invc = PGV_GATHER_D(pgv_log_inv, j), logc = PGV_GATHER_D(pgv_log_logc, j);
    VD r = PGV_FMA(z, invc, S(-1.0));
    VD kd = (VD)(k + (VI)S(PGV_MAGIC)) - S(PGV_MAGIC);
    VD hi = PGV_FMA(kd, S(PGV_LN2_HI32), logc);
    VD t = hi + r;
    VD lo = PGV_FMA(kd, S(PGV_LN2_LO32), (hi - t) + r);
    return t + PGV_FMA(r * r, FN(poly)(r, pgv_log1p_c, 6), lo);
}
/* the lanes off the fast path: subnormals scaled by 2^52 first; 0, negative, inf, NaN as libm */
static PGV_TARGET __attribute__((noinline)) VD FN(vlog_slow)(VD x) {
    VI sub = (VI)(x < S(0x1p-1022)) & (VI)(x > S(0.0));
    /* the lanes whose result is set below compute log 1, so no bit pattern meets the integer arithmetic */
    VD xs = FN(sel)((VI)(x > S(0.0)) & (VI)(x < S(INFINITY)), FN(sel)(sub, x * S(0x1p52), x), S(1.0));
    VD y = FN(vlog_core)(xs, sub & FN(splati)(-52));
    y = FN(sel)((VI)(x == S(INFINITY)), x, y);
    y = FN(sel)((VI)(x == S(0.0)), S(-INFINITY), y);
    y = FN(sel)((VI)(x < S(0.0)), S(NAN), y);
    return FN(sel)((VI)(x != x), x + x, y);
}
/* one test per vector: every lane a positive normal number (bits in [2^-1022, inf)) takes the fast path */
INL VD FN(vlog)(VD x) {
    VI ix = (VI)x;
    if (PGV_ANY((ix < FN(splati)(0x0010000000000000LL)) | (ix >= FN(splati)(0x7ff0000000000000LL))))
        return FN(vlog_slow)(x);
    return FN(vlog_core)(x, FN(splati)(0));
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

/* tanh: below |x| = 0.3 an odd polynomial x + x^3 T(x^2) (tc: nt terms;
 * for float64 the near-minimax pgv_tanh_m64, for float32 Taylor's); above, (1 - E)/(1 + E) with
 * E = e^-2|x| <= 0.55, where the subtraction at most doubles E's error; the
 * sign of x (and -0) put back at the end. */
INL VD FN(vtanh)(VD x, const double *tc, int nt, int ne) {
    VD a = FN(vabs)(x), z = x * x;
    VD ts = PGV_FMA(x * z, FN(poly)(z, tc, nt), x);
    VD e = FN(vexp)(S(-2.0) * a, ne);
    VD tl = FN(vdiv)(S(1.0) - e, S(1.0) + e);
    return FN(copysign)(FN(sel)((VI)(a < S(0.3)), ts, tl), x);
}

/* a/(dh + dl), |dl| <= ulp(dh)/2 and dh in [1, 2]: y ~ 1/dh (as in vdiv, or
 * one division), q = a y, and q corrected by the residual a - dh q - dl q
 * (within an ulp; NaN and inf as the division gives them) */
INL VD FN(vdiv2)(VD a, VD dh, VD dl) {
#ifdef PGV_RCP14_D
    VD y = PGV_RCP14_D(dh);
    y = PGV_FMA(y, PGV_FMA(-dh, y, S(1.0)), y);
    y = PGV_FMA(y, PGV_FMA(-dh, y, S(1.0)), y);
#else
    VD y = S(1.0) / dh;
#endif
    VD q = a * y;
    return PGV_FMA(PGV_FMA(-dl, q, PGV_FMA(-dh, q, a)), y, q);
}

/* sigmoid: e = e^-|x|, 1/(1 + e) for x >= 0 and e/(1 + e) below (one
 * division, by 1 + e as a rounded sum and its exact error), never overflowing */
INL VD FN(vsigmoid)(VD x, int ne) {
    VD e = FN(vexp)(-FN(vabs)(x), ne);
    VD dh = S(1.0) + e, dl = (S(1.0) - dh) + e;
    return FN(vdiv2)(FN(sel)((VI)(x < S(0.0)), e, S(1.0)), dh, dl);
}

/* erfc(z) e^(z^2) = G(s)/d for z in [0, ZMAX], d = 1 + 2z (given by the caller, rounded once):
 * G from pgv_gelu_c64 (see kern_vmath.c) */
INL VD FN(verfcx)(VD z, VD d) {
    VD t = FN(vdiv)(z - S(PGV_GELU_K), z + S(PGV_GELU_K));
    return FN(vdiv)(FN(poly)(PGV_FMA(t + S(1.0), S(PGV_GELU_A64), S(-1.0)), pgv_gelu_c64, 25), d);
}

/* gelu = x Phi(x), Phi(x) = erfc(-x/sqrt 2)/2: with z = |x|/sqrt(2),
 * erfc(z) = e^-z^2 Q, Q = erfcx(z) (verfcx), and
 * Phi = erfc(z)/2 for x < 0, 1 - erfc(z)/2 above (no cancellation either
 * way). e^-z^2 = e^-(h + l) = e^-h (1 - l), with x^2/2 = h + l exactly (FMA):
 * rounding z^2 would cost up to z^2 2^-53 relative (hundreds of ulps in
 * the tail). |x| is clamped to 40, where e^-x^2/2 is 0. grad: the derivative
 * Phi(x) + x e^(-x^2/2)/sqrt(2 pi) instead. gelu(-inf) is NaN (-inf * 0),
 * as x (1 + erf(x/sqrt 2))/2 gives it. */
INL VD FN(vgelu)(VD x, int grad) {
    VD xc = FN(sel)((VI)(FN(vabs)(x) > S(40.0)), FN(copysign)(S(40.0), x), x); /* e^-800 = 0 */
    VD z = FN(vabs)(xc) * S(PGV_SQRT1_2);
    z = FN(sel)((VI)(z > S(PGV_GELU_Z64)), S(PGV_GELU_Z64), z);
    /* 1 + 2z as 1 + sqrt(2) |x|, rounded once */
    VD Q = FN(verfcx)(z, FN(sel)((VI)(z < S(PGV_GELU_Z64)), PGV_FMA(FN(vabs)(xc), S(PGV_SQRT2), S(1.0)),
                                 S(1.0 + 2.0 * PGV_GELU_Z64)));
    VD hx = S(0.5) * xc;
    VD h = hx * xc, l = PGV_FMA(hx, xc, -h);
    VD e = FN(vexp)(-h, 7);
    e = PGV_FMA(e, -l, e);
    VI neg = (VI)(x < S(0.0)), small = (VI)(z < S(0.5));
    /* |z| < 1/2: Phi = 1/2 + erf(z)/2 by erf's Taylor polynomial, where erfc's
     * value near 1 would carry its few ulps of error into Phi */
    VD zs = xc * S(PGV_SQRT1_2);
    VD phi_small = S(0.5) + S(0.5) * (zs * FN(poly)(zs * zs, pgv_erf_c, 13));
    if (!grad) /* below 0 the tiny factor e last, so a subnormal result is rounded once */
        return FN(sel)(small, x * phi_small, FN(sel)(neg, (S(0.5) * x * Q) * e, x * (S(1.0) - S(0.5) * (e * Q))));
    VD phi = FN(sel)(small, phi_small, FN(sel)(neg, S(0.5) * (e * Q), S(1.0) - S(0.5) * (e * Q)));
    return phi + x * (e * S(PGV_1_SQRT2PI));
}

/* erf: below |x| = 1/2 erf's Taylor polynomial; above, 1 - erfc(|x|) = 1 - e^-x^2 erfcx(|x|)
 * with the sign of x (x^2 = h + l exactly, as in gelu; |x| clamped to 6, where erf rounds to 1;
 * min lets NaN through). The derivative 2/sqrt(pi) e^-x^2 the same way (|x| clamped to 27.5,
 * where it is 0; NaN stays NaN). */
INL VD FN(verf)(VD x) {
    VD a = FN(vabs)(x), ac = PGV_MIN_D(S(6.0), a);
    VD h = ac * ac, l = PGV_FMA(ac, ac, -h);
    VD e = FN(vexp)(-h, 7);
    e = PGV_FMA(e, -l, e);
    VD yl = S(1.0) - e * FN(verfcx)(ac, PGV_FMA(ac, S(2.0), S(1.0)));
    VD ys = x * FN(poly)(x * x, pgv_erf_c, 13);
    return FN(sel)((VI)(a < S(0.5)), ys, FN(copysign)(yl, x));
}
INL VD FN(verf_grad)(VD x) {
    VD ac = PGV_MIN_D(S(27.5), FN(vabs)(x));
    VD h = ac * ac, l = PGV_FMA(ac, ac, -h);
    VD e = FN(vexp)(-h, 7);
    return S(PGV_2_SQRTPI) * PGV_FMA(e, -l, e);
}

/* ---- float32 natively (twice the lanes), where float arithmetic keeps
 * the 2-ulp bound: exp, log, tanh, sigmoid, gelu, erf and their derivatives, and sin
 * and cos while |x| <= PGV_TRIG32_MAX.
 * The same algorithms as above, with float constants and shorter polynomials. */
#define VS PGV_VS
#define VSI PGV_VSI
INL VS FN(splats)(float c) {
    VS v = {0};
    for (int l = 0; l < PGV_NS; l++) v[l] = c;
    return v;
}
INL VSI FN(splatsi)(int32_t c) {
    VSI v = {0};
    for (int l = 0; l < PGV_NS; l++) v[l] = c;
    return v;
}
#define SS(c) FN(splats)(c)
INL VS FN(sels)(VSI m, VS a, VS b) { return (VS)((m & (VSI)a) | (~m & (VSI)b)); }
INL VS FN(vabss)(VS x) { return (VS)((VSI)x & FN(splatsi)(INT32_MAX)); }
INL VS FN(polys)(VS x, const float *c, int n) {
    VS r = SS(c[n - 1]);
    PGV_UNROLL for (int i = n - 2; i >= 0; i--) r = PGV_FMAS(r, x, SS(c[i]));
    return r;
}
INL VSI FN(toints)(VS k) { return (VSI)(k + SS(PGV_MAGICF)) - (VSI)SS(PGV_MAGICF); }
INL VS FN(pow2s)(VS k) { return (VS)((FN(toints)(k) + 127) << 23); }

/* exp: as vexp; 8 terms (truncation < 2^-27); the clamps are where the
 * float result is inf (e^89) and 0 (e^-104 < 2^-150) */
INL VS FN(vexps)(VS x) {
    VS xc = FN(sels)((VSI)(x < SS(-104.0f)), SS(-104.0f), x);
    xc = FN(sels)((VSI)(xc > SS(89.0f)), SS(89.0f), xc);
    VS kd = PGV_FMAS(xc, SS(0x1.715476p+0f), SS(PGV_MAGICF)) - SS(PGV_MAGICF);
    VS r = PGV_FMAS(-kd, SS(0x1.62e430p-1f), xc);
    r = PGV_FMAS(-kd, SS(-0x1.05c610p-29f), r);
    VS p = FN(polys)(r, pgv_exp_cf, 8);
#ifdef PGV_SCALEF_S
    VS y = PGV_SCALEF_S(p, kd); /* p 2^k, rounded once */
#else
    VS k1 = (kd * SS(0.5f) + SS(PGV_MAGICF)) - SS(PGV_MAGICF);
    VS y = p * FN(pow2s)(k1) * FN(pow2s)(kd - k1);
#endif
    return FN(sels)((VSI)(x != x), x + x, y);
}

/* log: as vlog, from a 16-entry table (picked by a permutation, no
 * gather) and log1p's Taylor polynomial to r^5; logc in two float parts */
INL VS FN(vlogs_core)(VS x, VSI kadj) {
    VSI ix = (VSI)x;
    VSI tmp = ix - FN(splatsi)(PGV_LOGF_T);
    VSI k = (tmp >> 23) + kadj;
    VSI j = (tmp >> 19) & 15;
    VS z = (VS)(ix - (tmp & FN(splatsi)((int32_t)0xff800000u)));
    VS r = PGV_FMAS(z, PGV_LUT16_S(pgv_logf_inv, j), SS(-1.0f));
    VS kf = __builtin_convertvector(k, VS);
    VS t = PGV_FMAS(kf, SS(0x1.62e4p-1f), PGV_LUT16_S(pgv_logf_hi, j));
    VS lo = PGV_FMAS(kf, SS(0x1.7f7d1cp-20f), PGV_LUT16_S(pgv_logf_lo, j));
    return t + (r + PGV_FMAS(r * r, FN(polys)(r, pgv_log1p_cf, 4), lo));
}
static PGV_TARGET __attribute__((noinline)) VS FN(vlogs_slow)(VS x) {
    VSI sub = (VSI)(x < SS(0x1p-126f)) & (VSI)(x > SS(0.0f));
    VS xs = FN(sels)((VSI)(x > SS(0.0f)) & (VSI)(x < SS(INFINITY)), FN(sels)(sub, x * SS(0x1p23f), x), SS(1.0f));
    VS y = FN(vlogs_core)(xs, sub & FN(splatsi)(-23));
    y = FN(sels)((VSI)(x == SS(INFINITY)), x, y);
    y = FN(sels)((VSI)(x == SS(0.0f)), SS(-INFINITY), y);
    y = FN(sels)((VSI)(x < SS(0.0f)), SS(NAN), y);
    return FN(sels)((VSI)(x != x), x + x, y);
}
INL VS FN(vlogs)(VS x) {
    VSI ix = (VSI)x;
    if (PGV_ANYS((ix < FN(splatsi)(0x00800000)) | (ix >= FN(splatsi)(0x7f800000)))) return FN(vlogs_slow)(x);
    return FN(vlogs_core)(x, FN(splatsi)(0));
}

/* sin and cos: as vsincos, pi/2 in four float parts, each product exact
 * inside its FMA, so r is within an ulp of its float (|x| <= PGV_TRIG32_MAX;
 * applying the small parts together would round k p2 instead, which ruins r
 * near multiples of pi/2) */
INL VS FN(vsincoss)(VS x, int cosine) {
    VS kd = PGV_FMAS(x, SS(0x1.45f306p-1f), SS(PGV_MAGICF)) - SS(PGV_MAGICF);
    VS r = PGV_FMAS(-kd, SS(0x1.921fb6p+0f), x);
    r = PGV_FMAS(-kd, SS(-0x1.777a5cp-25f), r);
    r = PGV_FMAS(-kd, SS(-0x1.ee59dap-50f), r);
    r = PGV_FMAS(-kd, SS(0x1.98a2e0p-77f), r);
    VSI q = FN(toints)(kd) + cosine;
    VS z = r * r;
    VS s = PGV_FMAS(r * z, FN(polys)(z, pgv_sin_cf, 5), r);
    VS hz = SS(0.5f) * z, w = SS(1.0f) - hz;
    VS c = w + (((SS(1.0f) - w) - hz) + (z * z) * FN(polys)(z, pgv_cos_cf, 4));
    VS y = FN(sels)(-(q & 1), c, s);
    y = (VS)((VSI)y ^ ((-((q >> 1) & 1)) & FN(splatsi)(INT32_MIN)));
    if (!cosine) y = FN(sels)((VSI)(x == SS(0.0f)), x, y);
    return y;
}

/* tanh: below |x| = 0.55 the odd near-minimax polynomial (5 terms, < 2^-27);
 * above, 1 - 2E/(1 + E), E = e^-2|x|, where 2E/(1 + E) <= 1/2 sits in the
 * binade below the result and its error counts half. E for |x| clamped to
 * 9.1 (beyond, tanh rounds to 1; min lets NaN through) as exp above with
 * 16 intervals: k = round(-32 |x| / ln 2) = 16 m + j, r = -2|x| - k ln2/16
 * (|r| <= ln2/32), E = 2^m 2^(j/16) e^r with 2^(j/16) = hi + lo from
 * pgv_expf2_t and _lo (permutations), e^r - 1 = p by Taylor to r^4
 * (truncation < 2^-34), and (hi + lo) e^r = hi + (hi p + lo) rounded once
 * at the end (lo p, below 2^-29 relative, dropped);
 * m >= -27 keeps E normal. 1/(1 + E) from the 14-bit reciprocal estimate
 * and one Newton step (2^-27) where the ISA has it. */
INL VS FN(vtanhs)(VS x) {
    VS a = FN(vabss)(x), z = x * x;
    VS ts = PGV_FMAS(x * z, FN(polys)(z, pgv_tanh_m32, 5), x);
    VS ac = PGV_MIN_S(SS(9.1f), a);
    VS kdm = PGV_FMAS(ac, SS(-32.0f * 0x1.715476p+0f), SS(PGV_MAGICF));
    VS kd = kdm - SS(PGV_MAGICF);
    VS r = PGV_FMAS(-kd, SS(0x1.62e430p-1f / 16), SS(-2.0f) * ac);
    r = PGV_FMAS(-kd, SS(-0x1.05c610p-29f / 16), r);
    VS t = PGV_LUT16_S(pgv_expf2_t, (VSI)kdm), tlo = PGV_LUT16_S(pgv_expf2_lo, (VSI)kdm);
    VS e = t + PGV_FMAS(t, r * FN(polys)(r, pgv_exp_cf + 1, 4), tlo);
#ifdef PGV_SCALEF_S
    e = PGV_SCALEF_S(e, kd * SS(1.0f / 16)); /* e 2^floor(k/16) */
#else
    e = e * (VS)(((((VSI)kdm - (VSI)SS(PGV_MAGICF)) >> 4) + 127) << 23); /* times 2^m: NaN stays NaN */
#endif
#ifdef PGV_RCP14_S
    VS d = SS(1.0f) + e, y0 = PGV_RCP14_S(d);
    y0 = PGV_FMAS(y0, PGV_FMAS(-d, y0, SS(1.0f)), y0);
    VS tl = PGV_FMAS(-(e + e), y0, SS(1.0f));
#else
    VS tl = SS(1.0f) - (e + e) / (SS(1.0f) + e);
#endif
    VS t2 = FN(sels)((VSI)(a < SS(0.55f)), ts, tl);
    return (VS)(((VSI)t2 & FN(splatsi)(INT32_MAX)) | ((VSI)x & FN(splatsi)(INT32_MIN)));
}

INL VS FN(vsigmoids)(VS x) {
    VS e = FN(vexps)(-FN(vabss)(x));
    return FN(sels)((VSI)(x < SS(0.0f)), e, SS(1.0f)) / (SS(1.0f) + e);
}

/* e^-(h + l) for h in [0, 170], |l| <= ulp(h)/2, as (t + d) 2^floor(k/16), t + d within 0.51 ulp:
 * k = round(-16 h / ln 2) (kdm = k + MAGIC, whose low bits are k), r = -h - k ln2/16 - l (ln 2/16
 * in two parts, the first product exact inside the FMA: r within 2^-28 of its value, |r| <= ln2/32),
 * 2^(j/16) = t + tlo (j = k mod 16, from pgv_expf2_t and _lo as in vtanhs), e^r - 1 = p by Taylor to
 * r^4 (truncation < 2^-34), and d = t p + tlo (tlo p dropped). The caller multiplies t + d into its
 * factor before the power of two (vscale16s), so that the product is rounded once and a subnormal
 * result once more. */
INL VS FN(vexpns)(VS h, VS l, VS *d, VS *kdm) {
    VS km = PGV_FMAS(h, SS(-16.0f * 0x1.715476p+0f), SS(PGV_MAGICF));
    VS kd = km - SS(PGV_MAGICF);
    VS r = PGV_FMAS(-kd, SS(0x1.62e430p-1f / 16), -h);
    r = PGV_FMAS(-kd, SS(-0x1.05c610p-29f / 16), r) - l;
    VS t = PGV_LUT16_S(pgv_expf2_t, (VSI)km);
    *d = PGV_FMAS(t, r * FN(polys)(r, pgv_exp_cf + 1, 4), PGV_LUT16_S(pgv_expf2_lo, (VSI)km));
    *kdm = km;
    return t;
}
/* y 2^floor(k/16), kdm = k + MAGIC as vexpns gives it (0 >= k/16 >= -240): rounded once (scalef),
 * or y 2^m1 2^m2 with m1 + m2 = floor(k/16), both factors normal, the first product exact */
INL VS FN(vscale16s)(VS y, VS kdm) {
#ifdef PGV_SCALEF_S
    return PGV_SCALEF_S(y, (kdm - SS(PGV_MAGICF)) * SS(1.0f / 16));
#else
    VSI m = ((VSI)kdm - (VSI)SS(PGV_MAGICF)) >> 4, m1 = m >> 1;
    return (y * (VS)((m1 + 127) << 23)) * (VS)((m - m1 + 127) << 23);
#endif
}
/* p(w) = tb[1] + (tb[2] + w (tb[3] + w (tb[4] + ...))) at slot j (tb: a table of kern_vmath.c,
 * row 0 the centres, rows 1 to nc the coefficients): the value at the centre, tb[1] (*hi), and
 * the rest (*lo), to be added last */
INL void FN(vtables)(VS *hi, VS *lo, const float (*tb)[16], int nc, VSI j, VS w) {
    VS p = PGV_LUT16_S(tb[nc], j);
    PGV_UNROLL for (int k = nc - 1; k >= 2; k--) p = PGV_FMAS(p, w, PGV_LUT16_S(tb[k], j));
    *hi = PGV_LUT16_S(tb[1], j);
    *lo = p;
}
/* (hi + lo)(t + d) 2^floor(k/16), hi t (the large product) added last, exact inside the FMA:
 * within an ulp of the rounding of the product of the two sums (d <= t/40) */
INL VS FN(vmul2s)(VS hi, VS lo, VS t, VS d, VS kdm) {
    return FN(vscale16s)(PGV_FMAS(hi, t, PGV_FMAS(lo, t, (hi + lo) * d)), kdm);
}

/* gelu float32, every x natively: with a = |x|, gelu(-a) = -K(a) e^(-a^2/2) and
 * gelu(a) = a - K(a) e^(-a^2/2) (Phi(a) = 1 - Phi(-a)), K from pgv_gelu_kt, the product
 * s = K e^-a^2/2 by vmul2s (the power of two last, so a subnormal s is rounded once);
 * s <= 0.4 a where a - s is taken (a >= 1/4). For a < 1/4, x (1/2 + x H(x^2)). e^-a^2/2
 * as vexpns of h + l = a^2/2 exactly (FMA). a is clamped to 18 (e^-162 = 0 below float's
 * subnormals) with NaN going through the polynomial (ac) but not into the exponential's integer
 * parts (ae: the min gives 18 for NaN). gelu(+inf) = inf - 0, gelu(-inf) = NaN (-inf * 0, as
 * x (1 + erf(x/sqrt 2))/2 gives it), gelu(-0) = -0.
 * grad: gelu'(-a) = L(a) e^(-a^2/2), gelu'(a) = 1 - gelu'(-a), L from pgv_gelu_lt; for a < 1/4,
 * 1/2 + x M(x^2); NaN at +-inf (inf * 0, as Phi(x) + x phi(x) gives it). */
INL VS FN(vgelus)(VS x, int grad) {
    VS a = FN(vabss)(x);
    VS ae = PGV_MIN_S(a, SS(18.0f)), ac = PGV_MIN_S(SS(18.0f), a);
    const float(*tb)[16] = grad ? pgv_gelu_lt : pgv_gelu_kt;
    VSI j = (VSI)(ae + SS(1.0f)) >> 21; /* the interval (see the tables) */
    VS phi, plo;
    FN(vtables)(&phi, &plo, tb, 8, j, ac - PGV_LUT16_S(tb[0], j));
    VS hx = SS(0.5f) * ae, h = hx * ae;
    VS d, kdm, t = FN(vexpns)(h, PGV_FMAS(hx, ae, -h), &d, &kdm);
    VS s = FN(vmul2s)(phi, plo, t, d, kdm);
    VSI neg = (VSI)(x < SS(0.0f)), small = (VSI)(a < SS(0.25f));
    VS u = x * x;
    if (!grad)
        return FN(sels)(small, x * PGV_FMAS(x, FN(polys)(u, pgv_gelu_h, 4), SS(0.5f)),
                        FN(sels)(neg, x * SS(0.0f), a) - s);
    VS y = FN(sels)(neg, SS(0.0f), SS(1.0f)) - (VS)((VSI)s ^ (neg & FN(splatsi)(INT32_MIN)));
    y = FN(sels)(small, PGV_FMAS(x, FN(polys)(u, pgv_gelu_m, 4), SS(0.5f)), y);
    return y + (x - x);
}

/* erf float32, every x natively: for |x| < 1/2, x (2/sqrt(pi) + x^2 E(x^2)) with 2/sqrt(pi) in
 * two floats, its large part multiplied in last (within 0.6 ulp); above, erf's polynomial of the
 * interval from pgv_erf_t (its value at the centre in two floats: within 0.6 ulp) with the sign
 * of x put back. |x| clamped to 4.4 (erf rounds to 1 from 3.92; min lets NaN through).
 * The derivative 2/sqrt(pi) e^-x^2: vexpns of h + l = x^2 (|x| clamped to 11, where it is 0;
 * NaN put back at the end). */
INL VS FN(verfs)(VS x) {
    VS a = FN(vabss)(x), ac = PGV_MIN_S(SS(4.4f), a);
    VSI j = (VSI)(ac + SS(1.0f)) >> 20;
    VS phi, plo;
    FN(vtables)(&phi, &plo, pgv_erf_t, 7, j, ac - PGV_LUT16_S(pgv_erf_t[0], j));
    VS u = x * x;
    VS q = PGV_FMAS(u, FN(polys)(u, pgv_erf_e, 5), SS(PGV_2_SQRTPI_LO));
    VS y = FN(sels)((VSI)(a < SS(0.5f)), PGV_FMAS(x, SS(PGV_2_SQRTPI_HI), x * q), phi + plo);
    return (VS)((VSI)y | ((VSI)x & FN(splatsi)(INT32_MIN))); /* the sign, and -0 for -0 */
}
INL VS FN(verf_grads)(VS x) {
    VS ae = PGV_MIN_S(FN(vabss)(x), SS(11.0f)), h = ae * ae;
    VS d, kdm, t = FN(vexpns)(h, PGV_FMAS(ae, ae, -h), &d, &kdm);
    VS y = FN(vmul2s)(SS(PGV_2_SQRTPI_HI), SS(PGV_2_SQRTPI_LO), t, d, kdm);
    return FN(sels)((VSI)(x != x), x, y);
}

/* The lines PGV_PREFETCH bytes ahead of the one vector's (64 bytes: one
 * line) input, output and gradient: the hardware prefetchers alone leave the
 * compute-heavy loops waiting on memory (a third of float64 tanh's time on
 * 16M elements). A prefetch past the end of an array is harmless. */
INL void FN(prefetch)(const void *o, const void *g, const void *x) {
    __builtin_prefetch((const char *)x + PGV_PREFETCH, 0, 3);
    __builtin_prefetch((const char *)o + PGV_PREFETCH, 1, 3);
    if (g) __builtin_prefetch((const char *)g + PGV_PREFETCH, 0, 3);
}

/* The array loops: o[i] = f(x[i]), or g[i] * scale * f(x[i]) when g is
 * given (a backward's local derivative times the upstream gradient; o may be
 * g or x itself). NAME_vec does one vector of PGV_N elements; a tail shorter
 * than that runs through padded copies, so an element's result never
 * depends on where it sits. Lanes whose |x| exceeds BIG (NaN included) are
 * recomputed with the scalar LIBM64/LIBM32; where BIG is inf, the vector
 * code gives NaN for NaN itself and no lane is checked. */
#define PGV_LOOPS(NAME, EXPR64, EXPR32, BIG, LIBM64, LIBM32, NATIVE_OK, EXPRS)                                               \
    INL void FN(NAME##_vec_f64)(double *o, const double *g, const double *x, double scale) {               \
        VD v;                                                                                             \
        memcpy(&v, x, sizeof v);                                                                          \
        VD r = (EXPR64);                                                                                  \
        if ((BIG) < INFINITY && PGV_ANY(~(VI)(FN(vabs)(v) <= S(BIG)))) {                                                      \
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
        for (; i + PGV_N <= n; i += PGV_N) {                                                              \
            FN(prefetch)(o + i, g ? g + i : NULL, x + i);                                                 \
            FN(NAME##_vec_f64)(o + i, g ? g + i : NULL, x + i, scale);                                    \
        }                                                                                                 \
        if (i < n) {                                                                                      \
            size_t m = (size_t)(n - i) * sizeof(double);                                                  \
            double ob[PGV_N], gb[PGV_N] = {0}, xb[PGV_N] = {0};                                           \
            memcpy(xb, x + i, m);                                                                         \
            if (g) memcpy(gb, g + i, m);                                                                  \
            FN(NAME##_vec_f64)(ob, g ? gb : NULL, xb, scale);                                             \
            memcpy(o + i, ob, m);                                                                         \
        }                                                                                                 \
    }                                                                                                     \
    INL void FN(NAME##_vecd_f32)(float *o, const float *g, const float *x, double scale) {                 \
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
        if ((BIG) < INFINITY && PGV_ANY(~(VI)(FN(vabs)(v) <= S(BIG)))) {                                                      \
            float ob[PGV_N];                                                                              \
            memcpy(ob, &rf, sizeof rf);                                                                   \
            for (int l = 0; l < PGV_N; l++)                                                               \
                if (!(fabsf(x[l]) <= (float)(BIG)))                                                       \
                    ob[l] = g ? (float)((double)g[l] * scale * (double)LIBM32(x[l])) : LIBM32(x[l]);      \
            memcpy(&rf, ob, sizeof rf);                                                                   \
        }                                                                                                 \
        memcpy(o, &rf, sizeof rf);                                                                        \
    }                                                                                                     \
    /* PGV_NS floats: natively when NATIVE_OK(v) (v: the vector), else through doubles */                \
    INL void FN(NAME##_vec_f32)(float *o, const float *g, const float *x, double scale) {                  \
        VS v;                                                                                             \
        memcpy(&v, x, sizeof v);                                                                          \
        if (NATIVE_OK(v)) {                                                                               \
            VS r = (EXPRS);                                                                               \
            if (g) {                                                                                      \
                VS gv;                                                                                    \
                memcpy(&gv, g, sizeof gv);                                                                \
                r = (gv * SS((float)scale)) * r;                                                          \
            }                                                                                             \
            memcpy(o, &r, sizeof r);                                                                      \
        } else {                                                                                          \
            for (int h = 0; h < PGV_NS; h += PGV_N)                                                       \
                FN(NAME##_vecd_f32)(o + h, g ? g + h : NULL, x + h, scale);                               \
        }                                                                                                 \
    }                                                                                                     \
    static PGV_TARGET void FN(NAME##_f32)(float *o, const float *g, const float *x, int64_t n,           \
                                          double scale) {                                                 \
        int64_t i = 0;                                                                                    \
        for (; i + PGV_NS <= n; i += PGV_NS) {                                                            \
            FN(prefetch)(o + i, g ? g + i : NULL, x + i);                                                 \
            FN(NAME##_vec_f32)(o + i, g ? g + i : NULL, x + i, scale);                                    \
        }                                                                                                 \
        if (i < n) {                                                                                      \
            size_t m = (size_t)(n - i) * sizeof(float);                                                   \
            float ob[PGV_NS], gb[PGV_NS] = {0}, xb[PGV_NS] = {0};                                         \
            memcpy(xb, x + i, m);                                                                         \
            if (g) memcpy(gb, g + i, m);                                                                  \
            FN(NAME##_vec_f32)(ob, g ? gb : NULL, xb, scale);                                             \
            memcpy(o + i, ob, m);                                                                         \
        }                                                                                                 \
    }

/* the scalar stand-ins where no lane is ever handed over */
#define PGV_NOLIBM(v) (v)
#define PGV_ALWAYS(v) 1
#define PGV_TRIG32(v) (!PGV_ANYS(~(VSI)(FN(vabss)(v) <= SS(PGV_TRIG32_MAX))))

PGV_LOOPS(exp, FN(vexp)(v, 7), FN(vexp)(v, 4), INFINITY, PGV_NOLIBM, PGV_NOLIBM, PGV_ALWAYS, FN(vexps)(v))
PGV_LOOPS(log, FN(vlog)(v), FN(vlog)(v), INFINITY, PGV_NOLIBM, PGV_NOLIBM, PGV_ALWAYS, FN(vlogs)(v))
PGV_LOOPS(tanh, FN(vtanh)(v, pgv_tanh_m64, 8, 7), FN(vtanh)(v, pgv_tanh_c, 7, 4), INFINITY, PGV_NOLIBM, PGV_NOLIBM, PGV_ALWAYS, FN(vtanhs)(v))
PGV_LOOPS(sigmoid, FN(vsigmoid)(v, 7), FN(vsigmoid)(v, 4), INFINITY, PGV_NOLIBM, PGV_NOLIBM, PGV_ALWAYS,
          FN(vsigmoids)(v))
PGV_LOOPS(sin, FN(vsincos)(v, 8, 7, 0), FN(vsincos)(v, 5, 4, 0), PGV_TRIG_MAX, sin, sinf, PGV_TRIG32,
          FN(vsincoss)(v, 0))
PGV_LOOPS(cos, FN(vsincos)(v, 8, 7, 1), FN(vsincos)(v, 5, 4, 1), PGV_TRIG_MAX, cos, cosf, PGV_TRIG32,
          FN(vsincoss)(v, 1))
/* gelu, gelu', erf and erf' natively in float32 for every x: no lane goes through doubles, so a
 * value never depends on its neighbours (the float64 formulas stand in the path never taken) */
PGV_LOOPS(gelu, FN(vgelu)(v, 0), FN(vgelu)(v, 0), INFINITY, PGV_NOLIBM, PGV_NOLIBM, PGV_ALWAYS, FN(vgelus)(v, 0))
PGV_LOOPS(gelu_grad, FN(vgelu)(v, 1), FN(vgelu)(v, 1), INFINITY, PGV_NOLIBM, PGV_NOLIBM, PGV_ALWAYS,
          FN(vgelus)(v, 1))
PGV_LOOPS(erf, FN(verf)(v), FN(verf)(v), INFINITY, PGV_NOLIBM, PGV_NOLIBM, PGV_ALWAYS, FN(verfs)(v))
PGV_LOOPS(erf_grad, FN(verf_grad)(v), FN(verf_grad)(v), INFINITY, PGV_NOLIBM, PGV_NOLIBM, PGV_ALWAYS,
          FN(verf_grads)(v))

static const pgv_table FN(pgv_table) = {
    {FN(exp_f64), FN(log_f64), FN(tanh_f64), FN(sigmoid_f64), FN(sin_f64), FN(cos_f64), FN(gelu_f64),
     FN(gelu_grad_f64), FN(erf_f64), FN(erf_grad_f64)},
    {FN(exp_f32), FN(log_f32), FN(tanh_f32), FN(sigmoid_f32), FN(sin_f32), FN(cos_f32), FN(gelu_f32),
     FN(gelu_grad_f32), FN(erf_f32), FN(erf_grad_f32)},
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
#undef PGV_ALWAYS
#undef PGV_TRIG32
#undef VS
#undef VSI
#undef SS
