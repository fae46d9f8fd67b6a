/* norm_kernels.h: the float32 / float64 kernels of the normalisation ops,
 * included twice by ops_norm.c with T the element type and PG_NM(name) the
 * name with its dtype suffix. Not a header of its own: no include guard, no
 * declarations used elsewhere. Sums run in double, in vector accumulators
 * of 4 (GCC/clang vector extensions: no fast-math is needed to vectorise a
 * reduction written this way; elsewhere plain loops); float32's per-channel
 * sums add blocks of 256 elements summed in float vectors; the two kernels are
 * compiled also for AVX2 and AVX-512 (PG_CLONES), their helpers inlined. */

/* Σ (x - K) and Σ (x - K)² over x[0..n), added to *s1, *s2: the moments about a shift K taken from
 * the data, so that one pass gives mean = K + s1/cnt and var = s2/cnt - (s1/cnt)² without the
 * cancellation of Σx² - (Σx)²/cnt when the mean is large against the spread */
PG_NM_INLINE void PG_NM(moments)(const T *x, int64_t n, double K, double *s1, double *s2) {
    int64_t i = 0;
    double s = 0, q = 0;
#if PG_NM_VECTORS && PG_NM_F32
    /* float32: blocks of PG_NM_BLOCK in float accumulators (16 terms a lane; K is a float32 of x, so
     * x - K is within half an ulp of the exact difference), each block's sums added in double: a third
     * of the arithmetic of converting every element, which made this pass compute-bound */
    const float kf = (float)K;
    const pg_v8f k = {kf, kf, kf, kf, kf, kf, kf, kf};
    pg_v4d sa = {0}, qa = {0};
    for (; i + PG_NM_BLOCK <= n; i += PG_NM_BLOCK) {
        pg_v8f a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};
        for (int64_t j = i; j < i + PG_NM_BLOCK; j += 16) {
            pg_v8f d0, d1;
            memcpy(&d0, x + j, sizeof d0);
            memcpy(&d1, x + j + 8, sizeof d1);
            d0 -= k;
            d1 -= k;
            a0 += d0;
            a1 += d1;
            b0 += d0 * d0;
            b1 += d1 * d1;
        }
        a0 += a1;
        b0 += b1;
        pg__nm_add8(&sa, &a0);
        pg__nm_add8(&qa, &b0);
    }
    s = (sa[0] + sa[1]) + (sa[2] + sa[3]);
    q = (qa[0] + qa[1]) + (qa[2] + qa[3]);
#elif PG_NM_VECTORS /* 16 elements a step in 4 + 4 vector accumulators */
    const pg_v4d k = {K, K, K, K};
    pg_v4d a[4] = {{0}}, b[4] = {{0}};
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 4; l++) {
            pg_v4d d;
            PG_NM(load4)(&d, x + i + 4 * l);
            d -= k;
            a[l] += d;
            b[l] += d * d;
        }
    pg_v4d av = (a[0] + a[1]) + (a[2] + a[3]), bv = (b[0] + b[1]) + (b[2] + b[3]);
    s = (av[0] + av[1]) + (av[2] + av[3]);
    q = (bv[0] + bv[1]) + (bv[2] + bv[3]);
#endif
    for (; i < n; i++) {
        double d = (double)x[i] - K;
        s += d;
        q += d * d;
    }
    *s1 += s;
    *s2 += q;
}

/* Σ g and Σ g (x - m) over [0..n), added to *sg, *sgx */
PG_NM_INLINE void PG_NM(gsums)(const T *g, const T *x, int64_t n, double m, double *sg, double *sgx) {
    int64_t i = 0;
    double s = 0, t = 0;
#if PG_NM_VECTORS && PG_NM_F32
    /* float32: blocks in float accumulators as in moments, about mf = (float)m; then
     * Σ g (x - m) = Σ g (x - mf) + (mf - m) Σ g, in double */
    const float mf = (float)m;
    const pg_v8f mv = {mf, mf, mf, mf, mf, mf, mf, mf};
    pg_v4d sa = {0}, ta = {0};
    for (; i + PG_NM_BLOCK <= n; i += PG_NM_BLOCK) {
        pg_v8f a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};
        for (int64_t j = i; j < i + PG_NM_BLOCK; j += 16) {
            pg_v8f g0, g1, x0, x1;
            memcpy(&g0, g + j, sizeof g0);
            memcpy(&g1, g + j + 8, sizeof g1);
            memcpy(&x0, x + j, sizeof x0);
            memcpy(&x1, x + j + 8, sizeof x1);
            a0 += g0;
            a1 += g1;
            b0 += g0 * (x0 - mv);
            b1 += g1 * (x1 - mv);
        }
        a0 += a1;
        b0 += b1;
        pg__nm_add8(&sa, &a0);
        pg__nm_add8(&ta, &b0);
    }
    s = (sa[0] + sa[1]) + (sa[2] + sa[3]);
    t = (ta[0] + ta[1]) + (ta[2] + ta[3]) + ((double)mf - m) * s;
#elif PG_NM_VECTORS
    const pg_v4d mv = {m, m, m, m};
    pg_v4d a[4] = {{0}}, b[4] = {{0}};
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 4; l++) {
            pg_v4d gv, xv;
            PG_NM(load4)(&gv, g + i + 4 * l);
            PG_NM(load4)(&xv, x + i + 4 * l);
            a[l] += gv;
            b[l] += gv * (xv - mv);
        }
    pg_v4d av = (a[0] + a[1]) + (a[2] + a[3]), bv = (b[0] + b[1]) + (b[2] + b[3]);
    s = (av[0] + av[1]) + (av[2] + av[3]);
    t = (bv[0] + bv[1]) + (bv[2] + bv[3]);
#endif
    for (; i < n; i++) {
        s += (double)g[i];
        t += (double)g[i] * ((double)x[i] - m);
    }
    *sg += s;
    *sgx += t;
}

#if PG_NM_STREAM
/* y[j] = (x[j] - m) · a + bb with streaming (non-temporal) stores: the same operations as the caller's loop
 * (the same values), from the first element at which y is 16-byte aligned, the ones before it stored plainly;
 * returns the first element left to the caller's loop (the tail) */
PG_NM_INLINE int64_t PG_NM(affine_stream)(T *y, const T *x, int64_t n, T m, T a, T bb) {
    int64_t j = 0;
    while (j < n && ((uintptr_t)(y + j) & 15)) {
        y[j] = (x[j] - m) * a + bb;
        j++;
    }
#if PG_NM_F32
    const __m128 mv = _mm_set1_ps(m), av = _mm_set1_ps(a), bv = _mm_set1_ps(bb);
    for (; j + 4 <= n; j += 4)
        _mm_stream_ps(y + j, _mm_add_ps(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(x + j), mv), av), bv));
#else
    const __m128d mv = _mm_set1_pd(m), av = _mm_set1_pd(a), bv = _mm_set1_pd(bb);
    for (; j + 2 <= n; j += 2)
        _mm_stream_pd(y + j, _mm_add_pd(_mm_mul_pd(_mm_sub_pd(_mm_loadu_pd(x + j), mv), av), bv));
#endif
    return j;
}
#endif

/* Forward of the statistics r in [lo, hi):
 *   training: mean = Σx / cnt, var = Σ(x - mean)² / cnt, written to stats[r], stats[R + r]
 *   y = (x - mean) · rstd · w + b,   rstd = 1 / sqrt(var + eps) */
PG_CLONES PG_NOINLINE static void PG_NM(forward)(const pg_nm *nm, T *y, const T *x, const T *w, const T *b,
                                                 T *stats, int64_t lo, int64_t hi) {
    /* the geometry in locals: the stores through y could alias *nm (no strict aliasing), which would
     * keep the compiler from knowing the loops' trip counts */
    const int64_t len = nm->len, nseg = nm->nseg;
#if PG_NM_STREAM
    /* y past the caches: stored around them (no read of y's lines before they are written) */
    const bool stream = !nm->vec && (uint64_t)nm->r * (uint64_t)nm->cnt * sizeof(T) >= PG_NM_STREAM_MIN;
#endif
    for (int64_t r = lo; r < hi; r++) {
        if (nm->training) { /* one read of the statistic's elements: the moments about its first element */
            const double K = (double)x[pg__nm_off(nm, r, 0)];
            double s1 = 0, s2 = 0;
            for (int64_t k = 0; k < nseg; k++) PG_NM(moments)(x + pg__nm_off(nm, r, k), len, K, &s1, &s2);
            const double d = s1 / (double)nm->cnt, var = s2 / (double)nm->cnt - d * d;
            stats[r] = (T)(K + d);
            stats[nm->r + r] = (T)(var > 0 ? var : 0.0);
        }
        const T m = stats[r];
        const T rs = (T)(1.0 / sqrt((double)stats[nm->r + r] + nm->eps));
        for (int64_t k = 0; k < nseg; k++) {
            int64_t off = pg__nm_off(nm, r, k);
            const T *xs = x + off;
            T *ys = y + off;
            if (nm->vec) { /* layer_norm: an affine pair per element */
                PG_IVDEP
                for (int64_t j = 0; j < len; j++) ys[j] = (xs[j] - m) * rs * w[j] + b[j];
            } else {
                int64_t ch = pg__nm_channel(nm, r, k);
                const T a = rs * w[ch], bb = b[ch];
                int64_t j0 = 0;
#if PG_NM_STREAM
                if (stream) j0 = PG_NM(affine_stream)(ys, xs, len, m, a, bb);
#endif
                PG_IVDEP
                for (int64_t j = j0; j < len; j++) ys[j] = (xs[j] - m) * a + bb;
            }
        }
    }
#if PG_NM_STREAM
    if (stream) _mm_sfence(); /* the streamed stores ordered before the pool's join */
#endif
}

/* Backward of the statistics r in [lo, hi), with xhat = (x - mean) rstd and dxhat = g w:
 *   training: dx = rstd (dxhat - Σdxhat / cnt - xhat Σ(dxhat xhat) / cnt)
 *   eval (batch_norm's running statistics, constants): dx = rstd dxhat
 *   dw[ch] += Σ g xhat, db[ch] += Σ g, into the double partials pw, pb [C] of this thread.
 * dx may be g itself: each element is read (pass 1, then pass 2) before it is written. */
PG_CLONES PG_NOINLINE static void PG_NM(backward)(const pg_nm *nm, T *dx, const T *g, const T *x, const T *w,
                                                  const T *stats, double *pw, double *pb, int64_t lo, int64_t hi) {
    const int64_t len = nm->len, nseg = nm->nseg; /* in locals: see forward */
    for (int64_t r = lo; r < hi; r++) {
        const double m = (double)stats[r];
        const double rs = (double)(T)(1.0 / sqrt((double)stats[nm->r + r] + nm->eps));
        double sd = 0, sdx = 0; /* Σ dxhat, Σ dxhat (x - mean) */
        for (int64_t k = 0; k < nseg; k++) {
            int64_t off = pg__nm_off(nm, r, k);
            const T *gs = g + off, *xs = x + off;
            if (nm->vec) { /* layer_norm: w per element; dw, db partials per element */
                int64_t j = 0;
#if PG_NM_VECTORS
                const pg_v4d mv = {m, m, m, m}, rv = {rs, rs, rs, rs};
                pg_v4d a = {0}, c = {0};
                for (; j + 4 <= len; j += 4) {
                    pg_v4d gv, xv, wv, pwv, pbv;
                    PG_NM(load4)(&gv, gs + j);
                    PG_NM(load4)(&xv, xs + j);
                    PG_NM(load4)(&wv, w + j);
                    xv -= mv;
                    pg_v4d gw = gv * wv;
                    a += gw;
                    c += gw * xv;
                    memcpy(&pwv, pw + j, sizeof pwv);
                    memcpy(&pbv, pb + j, sizeof pbv);
                    pwv += gv * xv * rv;
                    pbv += gv;
                    memcpy(pw + j, &pwv, sizeof pwv);
                    memcpy(pb + j, &pbv, sizeof pbv);
                }
                sd += (a[0] + a[1]) + (a[2] + a[3]);
                sdx += (c[0] + c[1]) + (c[2] + c[3]);
#endif
                for (; j < len; j++) {
                    double gv = (double)gs[j], xc = (double)xs[j] - m, gw = gv * (double)w[j];
                    sd += gw;
                    sdx += gw * xc;
                    pw[j] += gv * xc * rs;
                    pb[j] += gv;
                }
            } else {
                int64_t ch = pg__nm_channel(nm, r, k);
                double sg = 0, sgx = 0;
                PG_NM(gsums)(gs, xs, len, m, &sg, &sgx);
                sd += sg * (double)w[ch];
                sdx += sgx * (double)w[ch];
                pw[ch] += sgx * rs;
                pb[ch] += sg;
            }
        }
        if (!dx) continue;
        const double inv = nm->cnt > 0 ? 1.0 / (double)nm->cnt : 0.0;
        const T trs = (T)rs;
        const T c1 = nm->training ? (T)(sd * inv) : (T)0;                 /* mean of dxhat */
        const T c2 = nm->training ? (T)(sdx * rs * rs * inv) : (T)0;      /* mean of dxhat xhat, over rstd */
        for (int64_t k = 0; k < nseg; k++) {
            int64_t off = pg__nm_off(nm, r, k);
            const T *gs = g + off, *xs = x + off;
            T *ds = dx + off;
            const T mm = (T)m;
            if (nm->vec) {
                PG_IVDEP
                for (int64_t j = 0; j < len; j++) ds[j] = trs * (gs[j] * w[j] - c1 - (xs[j] - mm) * c2);
            } else {
                const T wc = w[pg__nm_channel(nm, r, k)];
                PG_IVDEP
                for (int64_t j = 0; j < len; j++) ds[j] = trs * (gs[j] * wc - c1 - (xs[j] - mm) * c2);
            }
        }
    }
}
