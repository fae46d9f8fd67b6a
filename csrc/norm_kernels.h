/* norm_kernels.h: the float32 / float64 kernels of the normalisation ops,
 * included twice by ops_norm.c with T the element type and PG_NM(name) the
 * name with its dtype suffix. Not a header of its own: no include guard, no
 * declarations used elsewhere. Sums run in double, in vector accumulators
 * of 4 or 8 (GCC/clang vector extensions: no fast-math is needed to vectorise
 * a reduction written this way; elsewhere plain loops); float32's sums add
 * blocks of 256 elements summed in float vectors; the two kernels are
 * compiled also for AVX2 and AVX-512 (PG_CLONES), their helpers inlined, and
 * a large result is written by streaming-store helpers (AVX-512 or SSE2). */

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
            PG_NM_PREFETCH(x + j);
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
    for (; i + 16 <= n; i += 16) {
        PG_NM_PREFETCH(x + i);
        PG_NM_PREFETCH(x + i + 8);
        for (int l = 0; l < 4; l++) {
            pg_v4d d;
            PG_NM(load4)(&d, x + i + 4 * l);
            d -= k;
            a[l] += d;
            b[l] += d * d;
        }
    }
    pg_v4d av = (a[0] + a[1]) + (a[2] + a[3]), bv = (b[0] + b[1]) + (b[2] + b[3]);
    s = (av[0] + av[1]) + (av[2] + av[3]);
    q = (bv[0] + bv[1]) + (bv[2] + bv[3]);
#endif
    for (int64_t j = i; j < n; j += 64 / (int64_t)sizeof(T)) PG_NM_PREFETCH(x + j);
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
            PG_NM_PREFETCH(g + j);
            PG_NM_PREFETCH(x + j);
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
    for (; i + 16 <= n; i += 16) {
        PG_NM_PREFETCH(g + i);
        PG_NM_PREFETCH(x + i);
        PG_NM_PREFETCH(g + i + 8);
        PG_NM_PREFETCH(x + i + 8);
        for (int l = 0; l < 4; l++) {
            pg_v4d gv, xv;
            PG_NM(load4)(&gv, g + i + 4 * l);
            PG_NM(load4)(&xv, x + i + 4 * l);
            a[l] += gv;
            b[l] += gv * (xv - mv);
        }
    }
    pg_v4d av = (a[0] + a[1]) + (a[2] + a[3]), bv = (b[0] + b[1]) + (b[2] + b[3]);
    s = (av[0] + av[1]) + (av[2] + av[3]);
    t = (bv[0] + bv[1]) + (bv[2] + bv[3]);
#endif
    for (int64_t j = i; j < n; j += 64 / (int64_t)sizeof(T)) {
        PG_NM_PREFETCH(g + j);
        PG_NM_PREFETCH(x + j);
    }
    for (; i < n; i++) {
        s += (double)g[i];
        t += (double)g[i] * ((double)x[i] - m);
    }
    *sg += s;
    *sgx += t;
}

#if !(PG_NM_VECTORS && PG_NM_F32)
/* Σ g w and Σ g w (x - m) over one row of layer_norm, added to *sd, *sdx, and each element's
 * contributions to dw and db, g (x - m) rs and g, added to the double partials pw, pb [n]:
 * 8 elements a step in double vectors of 8 (one AVX-512 register) */
PG_NM_INLINE void PG_NM(row_sums)(const T *g, const T *x, const T *w, int64_t n, double m, double rs, double *pw,
                                  double *pb, double *sd, double *sdx) {
    int64_t j = 0;
    double a = 0, c = 0;
#if PG_NM_VECTORS
    const pg_v8d mv = {m, m, m, m, m, m, m, m}, rv = {rs, rs, rs, rs, rs, rs, rs, rs};
    pg_v8d av = {0}, cv = {0};
    for (; j + 8 <= n; j += 8) {
        pg_v8d gv, xv, wv, pwv, pbv;
        memcpy(&gv, g + j, sizeof gv); /* float64 here: float32 has its own (below) */
        memcpy(&xv, x + j, sizeof xv);
        memcpy(&wv, w + j, sizeof wv);
        xv -= mv;
        pg_v8d gw = gv * wv;
        av += gw;
        cv += gw * xv;
        memcpy(&pwv, pw + j, sizeof pwv);
        memcpy(&pbv, pb + j, sizeof pbv);
        pwv += gv * xv * rv;
        pbv += gv;
        memcpy(pw + j, &pwv, sizeof pwv);
        memcpy(pb + j, &pbv, sizeof pbv);
    }
    a = ((av[0] + av[1]) + (av[2] + av[3])) + ((av[4] + av[5]) + (av[6] + av[7]));
    c = ((cv[0] + cv[1]) + (cv[2] + cv[3])) + ((cv[4] + cv[5]) + (cv[6] + cv[7]));
#endif
    for (; j < n; j++) {
        double gv = (double)g[j], xc = (double)x[j] - m, gw = gv * (double)w[j];
        a += gw;
        c += gw * xc;
        pw[j] += gv * xc * rs;
        pb[j] += gv;
    }
    *sd += a;
    *sdx += c;
}
#endif

#if PG_NM_VECTORS && PG_NM_F32
/* float32's row_sums: the sums in float vectors of 16 in blocks of PG_NM_BLOCK about mf = (float)m, each
 * block's added in double (as gsums: Σ g w (x - m) = Σ g w (x - mf) + (mf - m) Σ g w), and the contributions
 * to dw, db added into the float partials fpw, fpb [n] of the last few rows (the caller adds them into its
 * double ones every PG_NM_ROWS rows): float arithmetic throughout, a third of the double kernel's */
typedef float pg_v16f __attribute__((vector_size(64)));
PG_NM_INLINE void pg__nm_fold16(pg_v4d *acc, const pg_v16f *v) { /* *acc += the 16 lanes of *v */
    pg_v8f lo, hi;
    memcpy(&lo, v, sizeof lo);
    memcpy(&hi, (const char *)v + sizeof lo, sizeof hi);
    lo += hi;
    pg__nm_add8(acc, &lo);
}
PG_NM_INLINE void pg__nm_row_sums_f(const float *g, const float *x, const float *w, int64_t n, double m, float rs,
                                    float *fpw, float *fpb, double *sd, double *sdx) {
    const float mf = (float)m;
    const pg_v16f mv = {mf, mf, mf, mf, mf, mf, mf, mf, mf, mf, mf, mf, mf, mf, mf, mf};
    const pg_v16f rv = {rs, rs, rs, rs, rs, rs, rs, rs, rs, rs, rs, rs, rs, rs, rs, rs};
    pg_v4d sa = {0}, ta = {0};
    int64_t j = 0;
    while (j + 16 <= n) {
        const int64_t e = n - j >= PG_NM_BLOCK ? j + PG_NM_BLOCK : j + ((n - j) & ~(int64_t)15);
        pg_v16f a = {0}, c = {0};
        for (; j < e; j += 16) {
            pg_v16f gv, xv, wv, pwv, pbv;
            memcpy(&gv, g + j, sizeof gv);
            memcpy(&xv, x + j, sizeof xv);
            memcpy(&wv, w + j, sizeof wv);
            memcpy(&pwv, fpw + j, sizeof pwv);
            memcpy(&pbv, fpb + j, sizeof pbv);
            xv -= mv;
            pg_v16f gw = gv * wv;
            a += gw;
            c += gw * xv;
            pwv += gv * xv * rv;
            pbv += gv;
            memcpy(fpw + j, &pwv, sizeof pwv);
            memcpy(fpb + j, &pbv, sizeof pbv);
        }
        pg__nm_fold16(&sa, &a);
        pg__nm_fold16(&ta, &c);
    }
    double s = (sa[0] + sa[1]) + (sa[2] + sa[3]);
    double t = (ta[0] + ta[1]) + (ta[2] + ta[3]);
    for (; j < n; j++) {
        float xc = x[j] - mf, gw = g[j] * w[j];
        s += (double)gw;
        t += (double)gw * (double)xc;
        fpw[j] += g[j] * xc * rs;
        fpb[j] += g[j];
    }
    *sd += s;
    *sdx += t + ((double)mf - m) * s;
}
#endif

#if PG_NM_STREAM
/* Streaming (non-temporal) stores of a large result: the same operations as the callers' plain loops (the
 * same values), from the first element at which the destination is aligned to a vector, the ones before it
 * stored plainly; each returns the first element left to the caller's loop (the tail). Two sets: AVX-512's
 * 64-byte vectors, a whole cache line a store (chosen at run time, nm->stream == 2: much faster than four
 * stores a line, which keep the line's write-combining buffer open longer), and SSE2's 16-byte ones, which
 * every x86-64 has (nm->stream == 1). At these sizes the loops wait on memory, not on arithmetic. */
#if PG_NM_F32
#define PG_NM_STREAM_SET(X) X(_z, PG_NM_AVX512, __m512, 16, _mm512_loadu_ps, _mm512_set1_ps, _mm512_sub_ps, \
                              _mm512_mul_ps, _mm512_add_ps, _mm512_stream_ps) \
                            X(_x, , __m128, 4, _mm_loadu_ps, _mm_set1_ps, _mm_sub_ps, _mm_mul_ps, _mm_add_ps, \
                              _mm_stream_ps)
#else
#define PG_NM_STREAM_SET(X) X(_z, PG_NM_AVX512, __m512d, 8, _mm512_loadu_pd, _mm512_set1_pd, _mm512_sub_pd, \
                              _mm512_mul_pd, _mm512_add_pd, _mm512_stream_pd) \
                            X(_x, , __m128d, 2, _mm_loadu_pd, _mm_set1_pd, _mm_sub_pd, _mm_mul_pd, _mm_add_pd, \
                              _mm_stream_pd)
#endif

/* y[j] = (x[j] - m) · a + bb (batch_norm, group_norm) */
#define PG_NM_AFFINE_STREAM(SFX, TGT, V, L, LOAD, SET, SUB, MUL, ADD, STREAM)                                \
    TGT PG_NOINLINE static int64_t PG_NM(affine_stream##SFX)(T *y, const T *x, int64_t n, T m, T a, T bb) {  \
        int64_t j = 0;                                                                                     \
        for (; j < n && ((uintptr_t)(y + j) & (sizeof(V) - 1)); j++) y[j] = (x[j] - m) * a + bb;           \
        const V mv = SET(m), av = SET(a), bv = SET(bb);                                                    \
        for (; j + L <= n; j += L) STREAM(y + j, ADD(MUL(SUB(LOAD(x + j), mv), av), bv));                  \
        return j;                                                                                          \
    }
PG_NM_STREAM_SET(PG_NM_AFFINE_STREAM)

/* y[j] = (x[j] - m) · rs · w[j] + b[j] (layer_norm) */
#define PG_NM_AFFINE_VEC_STREAM(SFX, TGT, V, L, LOAD, SET, SUB, MUL, ADD, STREAM)                            \
    TGT PG_NOINLINE static int64_t PG_NM(affine_vec_stream##SFX)(T *y, const T *x, const T *w, const T *b,  \
                                                                 int64_t n, T m, T rs) {                   \
        int64_t j = 0;                                                                                     \
        for (; j < n && ((uintptr_t)(y + j) & (sizeof(V) - 1)); j++) y[j] = (x[j] - m) * rs * w[j] + b[j]; \
        const V mv = SET(m), rv = SET(rs);                                                                 \
        for (; j + L <= n; j += L)                                                                         \
            STREAM(y + j, ADD(MUL(MUL(SUB(LOAD(x + j), mv), rv), LOAD(w + j)), LOAD(b + j)));              \
        return j;                                                                                          \
    }
PG_NM_STREAM_SET(PG_NM_AFFINE_VEC_STREAM)

/* dx[j] = rs · (g[j] · w[j] - c1 - (x[j] - m) · c2), with w[0] for every element when !vec */
#define PG_NM_DX_STREAM(SFX, TGT, V, L, LOAD, SET, SUB, MUL, ADD, STREAM)                                    \
    TGT PG_NOINLINE static int64_t PG_NM(dx_stream##SFX)(T *dx, const T *g, const T *x, const T *w, bool vec, \
                                                         int64_t n, T m, T rs, T c1, T c2) {               \
        int64_t j = 0;                                                                                     \
        for (; j < n && ((uintptr_t)(dx + j) & (sizeof(V) - 1)); j++)                                      \
            dx[j] = rs * (g[j] * w[vec ? j : 0] - c1 - (x[j] - m) * c2);                                   \
        const V mv = SET(m), rv = SET(rs), c1v = SET(c1), c2v = SET(c2), wc = SET(w[0]);                   \
        if (vec)                                                                                           \
            for (; j + L <= n; j += L)                                                                     \
                STREAM(dx + j, MUL(rv, SUB(SUB(MUL(LOAD(g + j), LOAD(w + j)), c1v),                        \
                                           MUL(SUB(LOAD(x + j), mv), c2v))));                              \
        else                                                                                               \
            for (; j + L <= n; j += L)                                                                     \
                STREAM(dx + j, MUL(rv, SUB(SUB(MUL(LOAD(g + j), wc), c1v), MUL(SUB(LOAD(x + j), mv), c2v)))); \
        return j;                                                                                          \
    }
PG_NM_STREAM_SET(PG_NM_DX_STREAM)
#undef PG_NM_AFFINE_STREAM
#undef PG_NM_AFFINE_VEC_STREAM
#undef PG_NM_DX_STREAM
#undef PG_NM_STREAM_SET
#endif

/* y[j] = (x[j] - m) · a + bb over one segment (batch_norm, group_norm), with streaming stores when stream */
PG_NM_INLINE void PG_NM(affine_segment)(T *ys, const T *xs, int64_t len, T m, T a, T bb, int stream) {
    int64_t j0 = 0;
#if PG_NM_STREAM
    if (stream) j0 = stream == 2 ? PG_NM(affine_stream_z)(ys, xs, len, m, a, bb)
                                 : PG_NM(affine_stream_x)(ys, xs, len, m, a, bb);
#else
    (void)stream;
#endif
    PG_IVDEP
    for (int64_t j = j0; j < len; j++) ys[j] = (xs[j] - m) * a + bb;
}

/* Forward of the statistics r in [lo, hi):
 *   training: mean = Σx / cnt, var = Σ(x - mean)² / cnt, written to stats[r], stats[R + r]
 *   y = (x - mean) · rstd · w + b,   rstd = 1 / sqrt(var + eps)
 * A statistic's elements are read twice, for the moments and for y: the second read finds them in the
 * caches when they fit (a row; a batch_norm channel of up to a few MiB), and takes the segments in reverse
 * order, so that a statistic a little larger than the cache still finds there the segments read last
 * (in order, each segment's read would evict the next one before it is reached) */
PG_CLONES PG_NOINLINE static void PG_NM(forward)(const pg_nm *nm, T *y, const T *x, const T *w, const T *b,
                                                 T *stats, int64_t lo, int64_t hi) {
    /* the geometry in locals: the stores through y could alias *nm (no strict aliasing), which would
     * keep the compiler from knowing the loops' trip counts */
    const int64_t len = nm->len, nseg = nm->nseg;
    const int stream = nm->stream; /* y past the caches: stored around them (0 without streaming stores) */
    for (int64_t r = lo; r < hi; r++) {
        if (nm->training) { /* one read of the statistic's elements: the moments about its first element */
            const double K = (double)x[pg__nm_off(nm, r, 0)];
            double s1 = 0, s2 = 0;
            for (int64_t k = 0; k < nseg; k++)
                PG_NM(moments)(x + pg__nm_off(nm, r, k), len, K, &s1, &s2);
            const double d = s1 / (double)nm->cnt, var = s2 / (double)nm->cnt - d * d;
            stats[r] = (T)(K + d);
            stats[nm->r + r] = (T)(var > 0 ? var : 0.0);
        }
        const T m = stats[r];
        const T rs = (T)(1.0 / sqrt((double)stats[nm->r + r] + nm->eps));
        for (int64_t k = nseg - 1; k >= 0; k--) { /* the last segments read first: still cached */
            int64_t off = pg__nm_off(nm, r, k);
            const T *xs = x + off;
            T *ys = y + off;
            int64_t j0 = 0;
            if (nm->vec) { /* layer_norm: an affine pair per element */
#if PG_NM_STREAM
                if (stream) j0 = stream == 2 ? PG_NM(affine_vec_stream_z)(ys, xs, w, b, len, m, rs)
                                             : PG_NM(affine_vec_stream_x)(ys, xs, w, b, len, m, rs);
#endif
                PG_IVDEP
                for (int64_t j = j0; j < len; j++) ys[j] = (xs[j] - m) * rs * w[j] + b[j];
            } else {
                int64_t ch = pg__nm_channel(nm, r, k);
                PG_NM(affine_segment)(ys, xs, len, m, rs * w[ch], b[ch], stream);
            }
        }
    }
#if PG_NM_STREAM
    if (stream) _mm_sfence(); /* the streamed stores ordered before the pool's join */
#endif
}

/* batch_norm's forward of the channels [lo, hi) in the order of memory: for each n, the segments x[n, lo..hi)
 * one after another, a run of (hi - lo) · len contiguous elements, where the channel order of forward
 * starts a new stream every len elements, C · len apart. For short segments (pg__nm_by_rows), which the
 * hardware prefetch cannot follow from one to the next. Each channel's moments add its segments in the
 * order of n, as forward does: the same sums, the same bits. acc [2][C] is the caller's scratch. */
PG_CLONES PG_NOINLINE static void PG_NM(forward_rows)(const pg_nm *nm, T *y, const T *x, const T *w, const T *b,
                                                      T *stats, double *acc, int64_t lo, int64_t hi) {
    const int64_t len = nm->len, nseg = nm->nseg, C = nm->c;
    const int stream = nm->stream;
    double *a1 = acc, *a2 = acc + C;
    if (nm->training) {
        for (int64_t c = lo; c < hi; c++) a1[c] = a2[c] = 0;
        for (int64_t k = 0; k < nseg; k++) {
            const T *xk = x + k * C * len;
            if (len == 1) { /* (N, C): one element a segment, the moments' tail loop */
                for (int64_t c = lo; c < hi; c++) {
                    double d = (double)xk[c] - (double)x[c];
                    a1[c] += d;
                    a2[c] += d * d;
                }
            } else {
                for (int64_t c = lo; c < hi; c++)
                    PG_NM(moments)(xk + c * len, len, (double)x[c * len], a1 + c, a2 + c);
            }
        }
        for (int64_t c = lo; c < hi; c++) {
            const double K = (double)x[c * len], d = a1[c] / (double)nm->cnt, var = a2[c] / (double)nm->cnt - d * d;
            stats[c] = (T)(K + d);
            stats[nm->r + c] = (T)(var > 0 ? var : 0.0);
        }
    }
    for (int64_t c = lo; c < hi; c++) /* each channel's scale rstd · w, as forward computes it */
        a1[c] = (double)((T)(1.0 / sqrt((double)stats[nm->r + c] + nm->eps)) * w[c]);
    for (int64_t k = 0; k < nseg; k++) {
        if (len == 1) {
            T *yk = y + k * C;
            const T *xk = x + k * C;
            for (int64_t c = lo; c < hi; c++) yk[c] = (xk[c] - stats[c]) * (T)a1[c] + b[c];
            continue;
        }
        for (int64_t c = lo; c < hi; c++) {
            const int64_t off = (k * C + c) * len;
            PG_NM(affine_segment)(y + off, x + off, len, stats[c], (T)a1[c], b[c], stream);
        }
    }
#if PG_NM_STREAM
    if (stream) _mm_sfence();
#endif
}

/* dx over one segment: rs (g w - c1 - (x - m) c2), w per element (vec) or w[0] for all */
PG_NM_INLINE void PG_NM(dx_segment)(T *ds, const T *gs, const T *xs, const T *w, bool vec, int stream, int64_t len,
                                    T m, T rs, T c1, T c2) {
    int64_t j0 = 0;
#if PG_NM_STREAM
    if (stream) j0 = stream == 2 ? PG_NM(dx_stream_z)(ds, gs, xs, w, vec, len, m, rs, c1, c2)
                                 : PG_NM(dx_stream_x)(ds, gs, xs, w, vec, len, m, rs, c1, c2);
#else
    (void)stream;
#endif
    if (vec) {
        PG_IVDEP
        for (int64_t j = j0; j < len; j++) ds[j] = rs * (gs[j] * w[j] - c1 - (xs[j] - m) * c2);
    } else {
        const T wc = w[0];
        PG_IVDEP
        for (int64_t j = j0; j < len; j++) ds[j] = rs * (gs[j] * wc - c1 - (xs[j] - m) * c2);
    }
}

/* batch_norm's backward of the channels [lo, hi) in the order of memory, as forward_rows: the same sums
 * in the same order as backward's, so the same bits. acc [3][C]: each channel's Σ dxhat, Σ dxhat (x - mean)
 * (then c1, c2) and rstd */
PG_CLONES PG_NOINLINE static void PG_NM(backward_rows)(const pg_nm *nm, T *dx, const T *g, const T *x, const T *w,
                                                       const T *stats, double *pw, double *pb, double *acc,
                                                       int64_t lo, int64_t hi) {
    const int64_t len = nm->len, nseg = nm->nseg, C = nm->c;
    const bool training = nm->training;
    const int stream = dx ? nm->stream : 0;
    const double inv = nm->cnt > 0 ? 1.0 / (double)nm->cnt : 0.0;
    double *sd = acc, *sdx = acc + C, *rsv = acc + 2 * C;
    for (int64_t c = lo; c < hi; c++) {
        sd[c] = sdx[c] = 0;
        rsv[c] = (double)(T)(1.0 / sqrt((double)stats[nm->r + c] + nm->eps));
    }
    for (int64_t k = 0; k < nseg; k++) {
        if (len == 1) { /* (N, C): gsums of one element, and eval's dx */
            const T *gk = g + k * C, *xk = x + k * C;
            for (int64_t c = lo; c < hi; c++) {
                const double sg = (double)gk[c], sgx = sg * ((double)xk[c] - (double)stats[c]);
                sd[c] += sg * (double)w[c];
                sdx[c] += sgx * (double)w[c];
                pw[c] += sgx * rsv[c];
                pb[c] += sg;
            }
            if (dx && !training) {
                T *dk = dx + k * C;
                for (int64_t c = lo; c < hi; c++) dk[c] = (T)rsv[c] * (gk[c] * w[c] - 0 - (xk[c] - stats[c]) * 0);
            }
            continue;
        }
        for (int64_t c = lo; c < hi; c++) {
            const int64_t off = (k * C + c) * len;
            const double m = (double)stats[c];
            double sg = 0, sgx = 0;
            PG_NM(gsums)(g + off, x + off, len, m, &sg, &sgx);
            sd[c] += sg * (double)w[c];
            sdx[c] += sgx * (double)w[c];
            pw[c] += sgx * rsv[c];
            pb[c] += sg;
            if (dx && !training)
                PG_NM(dx_segment)(dx + off, g + off, x + off, w + c, false, stream, len, (T)m, (T)rsv[c], 0, 0);
        }
    }
    if (dx && training) {
        for (int64_t c = lo; c < hi; c++) { /* sd, sdx become c1, c2 */
            sd[c] = (double)(T)(sd[c] * inv);
            sdx[c] = (double)(T)(sdx[c] * rsv[c] * rsv[c] * inv);
        }
        for (int64_t k = 0; k < nseg; k++) {
            if (len == 1) {
                T *dk = dx + k * C;
                const T *gk = g + k * C, *xk = x + k * C;
                for (int64_t c = lo; c < hi; c++)
                    dk[c] = (T)rsv[c] * (gk[c] * w[c] - (T)sd[c] - (xk[c] - stats[c]) * (T)sdx[c]);
                continue;
            }
            for (int64_t c = lo; c < hi; c++) {
                const int64_t off = (k * C + c) * len;
                PG_NM(dx_segment)(dx + off, g + off, x + off, w + c, false, stream, len, stats[c], (T)rsv[c],
                                  (T)sd[c], (T)sdx[c]);
            }
        }
    }
#if PG_NM_STREAM
    if (stream) _mm_sfence();
#endif
}

/* Backward of the statistics r in [lo, hi), with xhat = (x - mean) rstd and dxhat = g w:
 *   training: dx = rstd (dxhat - Σdxhat / cnt - xhat Σ(dxhat xhat) / cnt)
 *   eval (batch_norm's running statistics, constants): dx = rstd dxhat
 *   dw[ch] += Σ g xhat, db[ch] += Σ g, into the double partials pw, pb [C].
 * Training reads a statistic's g and x twice (the sums, then dx in reverse order of segments: from the
 * caches when they fit, as in forward); eval
 * writes each segment's dx right after its sums, while the segment is in the caches.
 * dx may be g itself: each element is read before it is written. */
PG_CLONES PG_NOINLINE static void PG_NM(backward)(const pg_nm *nm, T *dx, const T *g, const T *x, const T *w,
                                                  const T *stats, double *pw, double *pb, float *scr, int64_t lo,
                                                  int64_t hi) {
    const int64_t len = nm->len, nseg = nm->nseg; /* in locals: see forward */
#if PG_NM_VECTORS && PG_NM_F32
    /* float32 layer_norm: dw, db partials of up to PG_NM_ROWS rows in float, scr [2][len], then added into
     * pw, pb (rows counted from lo: the same groups on any number of threads) */
    float *fpw = nm->vec ? scr : NULL, *fpb = fpw ? fpw + len : NULL;
#else
    (void)scr;
#endif
    const bool vec = nm->vec, training = nm->training;
    const int stream = dx ? nm->stream : 0; /* dx past the caches */
    const double inv = nm->cnt > 0 ? 1.0 / (double)nm->cnt : 0.0;
    for (int64_t r = lo; r < hi; r++) {
        const double m = (double)stats[r];
        const double rs = (double)(T)(1.0 / sqrt((double)stats[nm->r + r] + nm->eps));
        const T trs = (T)rs, mm = (T)m;
        double sd = 0, sdx = 0; /* Σ dxhat, Σ dxhat (x - mean) */
        for (int64_t k = 0; k < nseg; k++) {
            int64_t off = pg__nm_off(nm, r, k);
            const T *gs = g + off, *xs = x + off;
            if (vec) { /* layer_norm: w per element; dw, db partials per element */
#if PG_NM_VECTORS && PG_NM_F32
                if ((r - lo) % PG_NM_ROWS == 0) memset(fpw, 0, 2 * (size_t)len * sizeof(float));
                pg__nm_row_sums_f(gs, xs, w, len, m, trs, fpw, fpb, &sd, &sdx);
                if ((r - lo) % PG_NM_ROWS == PG_NM_ROWS - 1 || r == hi - 1)
                    for (int64_t j = 0; j < len; j++) {
                        pw[j] += (double)fpw[j];
                        pb[j] += (double)fpb[j];
                    }
#else
                PG_NM(row_sums)(gs, xs, w, len, m, rs, pw, pb, &sd, &sdx);
#endif
            } else {
                int64_t ch = pg__nm_channel(nm, r, k);
                double sg = 0, sgx = 0;
                PG_NM(gsums)(gs, xs, len, m, &sg, &sgx);
                sd += sg * (double)w[ch];
                sdx += sgx * (double)w[ch];
                pw[ch] += sgx * rs;
                pb[ch] += sg;
                if (dx && !training) PG_NM(dx_segment)(dx + off, gs, xs, w + ch, false, stream, len, mm, trs, 0, 0);
            }
        }
        if (!dx || !training) continue;
        const T c1 = (T)(sd * inv);            /* mean of dxhat */
        const T c2 = (T)(sdx * rs * rs * inv); /* mean of dxhat xhat, over rstd */
        for (int64_t k = nseg - 1; k >= 0; k--) { /* the last segments read first: still cached */
            int64_t off = pg__nm_off(nm, r, k);
            const T *wk = vec ? w : w + pg__nm_channel(nm, r, k);
            PG_NM(dx_segment)(dx + off, g + off, x + off, wk, vec, stream, len, mm, trs, c1, c2);
        }
    }
#if PG_NM_STREAM
    if (stream) _mm_sfence();
#endif
}
