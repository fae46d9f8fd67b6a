/* gemm.c: the GEMM matmul runs on, forward and backward: packed, cache
 * blocked, SIMD, threaded. Contract (see kernels.h): C[M,N] = op(A) op(B),
 * or C += op(A) op(B) when acc. The naive kernel (at the top of this file) has
 * the same contract; it is the fallback and the oracle of tests/test_gemm.py.
 *
 * Blocking, in the BLIS manner (Van Zee & van de Geijn, "BLIS: A Framework for
 * Rapidly Instantiating BLAS Functionality", 2015):
 *
 *   for jc over N in NC blocks
 *     for pc over K in KC blocks
 *       pack op(B)[pc:+KC, jc:+NC] into KC x NR panels    shared by the team; L3
 *       for ic over this thread's rows in MC blocks
 *         pack op(A)[ic:+MC, pc:+KC] into MR x KC panels  private; L2
 *         for jr over NR panels, ir over MR panels         B panel stays in L1
 *           micro-kernel: C[MR,NR] (+)= Apanel[MR,KC] Bpanel[KC,NR]
 *
 * The packing routines read through the transpose flags, so matmul's backward
 * (dA = G B^T, dB = A^T G) never materialises a transpose. Micro-kernels exist
 * for AVX-512 and AVX2+FMA (per-function target attributes, picked at run time
 * from cpuid; the library is never compiled for a particular CPU) and in
 * portable C; products of at most one vector of columns (N <= 16 in float32
 * with AVX-512) use a narrow kernel of the same ISA, one vector wide, instead
 * of computing a tile of padding. Tiny products skip packing (the naive
 * kernel is faster there), and so do matrix-vector products (M or N is 1),
 * which are memory-bound. Small untransposed products on one thread (up to
 * about 130^3, K within one K block) run the micro-kernel over A and B in
 * place (pg__gemm_direct), with the same bits.
 *
 * Threads: products up to about 115^3 multiply-adds run on one thread.
 * Larger ones below PG_GEMM_SPLIT_MAX whose op(A), packed, fits a core's L2
 * and whose columns give each member enough work take chunks of C's columns
 * in turn, each member packing its own copy of A once and its chunks' B
 * panels (pg__gemm_cols: a 256^3 float32 product); the others split C's
 * longer side into chunks of whole tiles that the team takes in turn (each
 * chunk a one-thread product, which packs its A or B again). In both no
 * member waits for another: a worker the machine has not scheduled delays
 * nobody. The largest run the team's blocked driver with a shared packed B,
 * whose members wait for each other at each K block only when the grid has
 * more than one row group. (On the 2-core host, with both cores free, the
 * blocked driver ran the MLP 784-512-512-10's products 5-25% faster than
 * column chunks: its A block stays hot, where the chunks keep all of A.)
 *
 * Each element of C is computed by one thread, with the same k-blocking and
 * the same micro-kernel whatever the team size: results do not depend on the
 * number of threads. pg__gemm_epi_* runs a caller's epilogue on each tile of
 * C once it is final (compiled programs fuse a bias add, a ReLU or ReLU's
 * backward into the product this way: program.c). Not here: batching and
 * broadcasting (ops_matmul.c). */
#include "internal.h"

#include <string.h>

/* ---- the naive GEMM: the fallback and the test oracle ---- */

/* C[M,N] = op(A)[M,K] op(B)[K,N]  (+ C[M,N] when acc)
 *   op(A)(i,p) = ta ? A[p*lda + i] : A[i*lda + p]
 *   op(B)(p,j) = tb ? B[j*ldb + p] : B[p*ldb + j]
 * The loop orders keep the innermost loop on contiguous memory. */
#define PG_GEMM_NAIVE_KERNEL(TT, SUF)                                                                     \
    void pg__gemm_naive_##SUF(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const TT *A, int64_t lda, \
                        const TT *B, int64_t ldb, TT *C, int64_t ldc, bool acc) {                    \
        if (!acc)                                                                                    \
            for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, sizeof(TT) * (size_t)N);         \
        if (!tb) {                                                                                   \
            /* C[i,:] += op(A)(i,p) * B[p,:] */                                                      \
            for (int64_t i = 0; i < M; i++) {                                                        \
                TT *c = C + i * ldc;                                                                 \
                for (int64_t p = 0; p < K; p++) {                                                    \
                    TT a = ta ? A[p * lda + i] : A[i * lda + p];                                     \
                    const TT *b = B + p * ldb;                                                       \
                    for (int64_t j = 0; j < N; j++) c[j] += a * b[j];                                \
                }                                                                                    \
            }                                                                                        \
        } else if (!ta) {                                                                            \
            /* C[i,j] += dot(A[i,:], B[j,:]) */                                                      \
            for (int64_t i = 0; i < M; i++) {                                                        \
                const TT *a = A + i * lda;                                                           \
                for (int64_t j = 0; j < N; j++) {                                                    \
                    const TT *b = B + j * ldb;                                                       \
                    TT s = 0;                                                                        \
                    for (int64_t p = 0; p < K; p++) s += a[p] * b[p];                                \
                    C[i * ldc + j] += s;                                                             \
                }                                                                                    \
            }                                                                                        \
        } else {                                                                                     \
            for (int64_t i = 0; i < M; i++)                                                          \
                for (int64_t j = 0; j < N; j++) {                                                    \
                    TT s = 0;                                                                        \
                    for (int64_t p = 0; p < K; p++) s += A[p * lda + i] * B[j * ldb + p];            \
                    C[i * ldc + j] += s;                                                             \
                }                                                                                    \
        }                                                                                            \
    }
PG_GEMM_NAIVE_KERNEL(float, f32)
PG_GEMM_NAIVE_KERNEL(double, f64)

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define PG_GEMM_X86 1
#include <immintrin.h>
#define PG_TARGET_AVX512 __attribute__((target("avx512f")))
#define PG_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define PG_GEMM_X86 0
#endif

#define PG_PRAGMA(x) _Pragma(#x)
#define PG_UNROLL(n) PG_PRAGMA(GCC unroll n)

enum { PG_GEMM_NAIVE, PG_GEMM_GENERIC, PG_GEMM_AVX2, PG_GEMM_AVX512, PG_GEMM_AUTO };
static const char *const pg_gemm_names[] = {"naive", "generic", "avx2", "avx512", "auto"};

/* Largest micro-tile (MR*NR elements) of any kernel below: the edge buffer. */
#define PG_GEMM_MAX_TILE 512
/* Below this many multiply-adds (M*N*K) the naive kernel, which packs
 * nothing, is faster: on the project's machine the packed path costs about
 * 0.1 us more and wins from about 8 x 8 x 8 on. */
#define PG_GEMM_SMALL 512.0
/* Each thread gets at least this many multiply-adds. A second thread's
 * hand-off costs about 0.5 us while it is awake and has its core, but on a
 * machine shared with other work its core is often taken. Products up to
 * PG_GEMM_SPLIT_MAX split into chunks the team takes in turn, so a worker that
 * is not scheduled delays nobody (the caller runs the chunks left); below
 * about 115^3 (15 us at 1 thread) the second thread gains less than the
 * chunks cost (each packs its share of A or B again). */
#define PG_GEMM_GRAIN 0.75e6
/* Multi-threaded products below this many multiply-adds split into chunks
 * that members take in turn (pg__parallel_dynamic: a worker that is not
 * scheduled delays nobody); larger ones run the team's blocked driver with a
 * shared packed B. */
#define PG_GEMM_SPLIT_MAX 6.4e7
/* chunks per team member in the split */
#define PG_GEMM_SPLIT_CHUNKS 4

/* ======================================================================
 * Micro-kernels: c[MR, NR] = (acc ? c : 0) + sum_p a[p][0:MR]^T b[p][0:NR]
 *   a: packed A panel [k][MR];  b: packed B panel [k][NR];  c: row stride ldc
 * ====================================================================== */

/* A tile's accumulators r[MR][NV] written to c (row stride ldc): added to c when acc, else stored. */
#define PG_UKR_WRITE(T, W, MR, NV, LOADU, STOREU, ADD)                                                      \
    if (acc) {                                                                                              \
        PG_UNROLL(16) for (int i = 0; i < MR; i++)                                                          \
            PG_UNROLL(4) for (int v = 0; v < NV; v++) {                                                     \
                T *cp = c + i * ldc + v * W;                                                                \
                STOREU(cp, ADD(LOADU(cp), r[i][v]));                                                        \
            }                                                                                               \
    } else {                                                                                                \
        PG_UNROLL(16) for (int i = 0; i < MR; i++)                                                          \
            PG_UNROLL(4) for (int v = 0; v < NV; v++) STOREU(c + i * ldc + v * W, r[i][v]);                 \
    }

/* SIMD: NR = NV vectors of W lanes; the MR x NV accumulators stay in registers. */
#define PG_UKR_SIMD(NAME, TGT, T, V, W, MR, NV, ZERO, LOAD, LOADU, STOREU, SET1, FMA, ADD)                  \
    PG_UKR_SIMD_S(NAME, TGT, T, V, W, MR, MR, NV, ZERO, LOAD, LOADU, STOREU, SET1, FMA, ADD)

/* The same over the first MR rows of panels packed MRS rows wide (MR <= MRS): the rows of an edge
 * tile past M computed no more. Each element of C is the same sum in the same order whatever the
 * tile's rows: the same bits. */
#define PG_UKR_SIMD_S(NAME, TGT, T, V, W, MR, MRS, NV, ZERO, LOAD, LOADU, STOREU, SET1, FMA, ADD)           \
    TGT static void NAME(int64_t k, const T *restrict a, const T *restrict b, T *restrict c, int64_t ldc,   \
                         bool acc) {                                                                        \
        V r[MR][NV];                                                                                        \
        PG_UNROLL(16) for (int i = 0; i < MR; i++) {                                                        \
            PG_UNROLL(4) for (int v = 0; v < NV; v++) r[i][v] = ZERO();                                     \
            __builtin_prefetch(c + i * ldc, 1, 3);                                                          \
            __builtin_prefetch(c + i * ldc + NV * W - 1, 1, 3);                                             \
        }                                                                                                   \
        PG_UNROLL(2) for (int64_t p = 0; p < k; p++) {                                                      \
            V bv[NV];                                                                                       \
            PG_UNROLL(4) for (int v = 0; v < NV; v++) bv[v] = LOAD(b + v * W);                              \
            PG_UNROLL(16) for (int i = 0; i < MR; i++) {                                                    \
                V ai = SET1(a[i]);                                                                          \
                PG_UNROLL(4) for (int v = 0; v < NV; v++) r[i][v] = FMA(ai, bv[v], r[i][v]);                \
            }                                                                                               \
            a += MRS;                                                                                       \
            b += NV * W;                                                                                    \
        }                                                                                                   \
        PG_UKR_WRITE(T, W, MR, NV, LOADU, STOREU, ADD)                                                      \
    }

/* The same tile over operands in place (no packing): a[i*lda + p] (MR rows of A, row-major) and
 * b[p*ldb + v*W] (NV vectors of B, row-major, unaligned). The same operations in the same order as
 * the packed kernel with k = K: the same bits. */
#define PG_UKR_SIMD_U(NAME, TGT, T, V, W, MR, NV, ZERO, LOADU, STOREU, SET1, FMA, ADD)                      \
    TGT static void NAME(int64_t k, const T *restrict a, int64_t lda, const T *restrict b, int64_t ldb,     \
                         T *restrict c, int64_t ldc, bool acc) {                                            \
        V r[MR][NV];                                                                                        \
        PG_UNROLL(16) for (int i = 0; i < MR; i++) {                                                        \
            PG_UNROLL(4) for (int v = 0; v < NV; v++) r[i][v] = ZERO();                                     \
        }                                                                                                   \
        PG_UNROLL(2) for (int64_t p = 0; p < k; p++) {                                                      \
            V bv[NV];                                                                                       \
            PG_UNROLL(4) for (int v = 0; v < NV; v++) bv[v] = LOADU(b + v * W);                             \
            PG_UNROLL(16) for (int i = 0; i < MR; i++) {                                                    \
                V ai = SET1(a[i * lda + p]);                                                                \
                PG_UNROLL(4) for (int v = 0; v < NV; v++) r[i][v] = FMA(ai, bv[v], r[i][v]);                \
            }                                                                                               \
            b += ldb;                                                                                       \
        }                                                                                                   \
        PG_UKR_WRITE(T, W, MR, NV, LOADU, STOREU, ADD)                                                      \
    }

/* Portable C: the compiler vectorises the j loops for the baseline ISA. */
#define PG_UKR_C(NAME, T, MR, NR)                                                                           \
    static void NAME(int64_t k, const T *restrict a, const T *restrict b, T *restrict c, int64_t ldc,       \
                     bool acc) {                                                                            \
        T r[MR][NR];                                                                                        \
        memset(r, 0, sizeof r);                                                                             \
        for (int64_t p = 0; p < k; p++) {                                                                   \
            for (int i = 0; i < MR; i++) {                                                                  \
                T ai = a[i];                                                                                \
                for (int j = 0; j < NR; j++) r[i][j] += ai * b[j];                                          \
            }                                                                                               \
            a += MR;                                                                                        \
            b += NR;                                                                                        \
        }                                                                                                   \
        for (int i = 0; i < MR; i++)                                                                        \
            for (int j = 0; j < NR; j++) c[i * ldc + j] = acc ? c[i * ldc + j] + r[i][j] : r[i][j];         \
    }

/* ======================================================================
 * Packing. A points at op(A)(i0, p0), B at op(B)(p0, j0).
 * ====================================================================== */

/* dst: ceil(mc/MR) panels of [kc][MR]; rows past mc are zero */
#define PG_PACK_A(NAME, TGT, T, MR)                                                                         \
    TGT static void NAME(bool ta, int64_t mc, int64_t kc, const T *A, int64_t lda, T *restrict dst) {       \
        for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {                                           \
            int64_t m = mc - i0 < MR ? mc - i0 : MR;                                                        \
            if (ta) { /* op(A)(i,p) = A[p*lda + i]: each p gives MR contiguous values */                    \
                const T *s = A + i0;                                                                        \
                if (m == MR) {                                                                              \
                    for (int64_t p = 0; p < kc; p++)                                                        \
                        PG_UNROLL(16) for (int i = 0; i < MR; i++) dst[p * MR + i] = s[p * lda + i];        \
                } else {                                                                                    \
                    for (int64_t p = 0; p < kc; p++)                                                        \
                        for (int i = 0; i < MR; i++) dst[p * MR + i] = i < m ? s[p * lda + i] : (T)0;       \
                }                                                                                           \
            } else { /* op(A)(i,p) = A[i*lda + p]: MR rows read side by side */                             \
                const T *s = A + i0 * lda;                                                                  \
                if (m == MR) {                                                                              \
                    for (int64_t p = 0; p < kc; p++)                                                        \
                        PG_UNROLL(16) for (int i = 0; i < MR; i++) dst[p * MR + i] = s[i * lda + p];        \
                } else {                                                                                    \
                    for (int64_t p = 0; p < kc; p++)                                                        \
                        for (int i = 0; i < MR; i++) dst[p * MR + i] = i < m ? s[i * lda + p] : (T)0;       \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }

/* dst: ceil(nc/NR) panels of [kc][NR]; columns past nc are zero */
#define PG_PACK_B(NAME, TGT, T, NR)                                                                         \
    TGT static void NAME(bool tb, int64_t kc, int64_t nc, const T *B, int64_t ldb, T *restrict dst) {       \
        for (int64_t j0 = 0; j0 < nc; j0 += NR, dst += NR * kc) {                                           \
            int64_t n = nc - j0 < NR ? nc - j0 : NR;                                                        \
            if (!tb) { /* op(B)(p,j) = B[p*ldb + j]: each p gives NR contiguous values */                   \
                const T *s = B + j0;                                                                        \
                if (n == NR) { /* unrolled: as a loop it would become a memcpy call per row */             \
                    for (int64_t p = 0; p < kc; p++)                                                        \
                        PG_UNROLL(32) for (int j = 0; j < NR; j++) dst[p * NR + j] = s[p * ldb + j];        \
                } else {                                                                                    \
                    for (int64_t p = 0; p < kc; p++)                                                        \
                        for (int j = 0; j < NR; j++) dst[p * NR + j] = j < n ? s[p * ldb + j] : (T)0;       \
                }                                                                                           \
            } else { /* op(B)(p,j) = B[j*ldb + p]: NR rows of B read side by side */                        \
                const T *s = B + j0 * ldb;                                                                  \
                if (n == NR) {                                                                              \
                    for (int64_t p = 0; p < kc; p++)                                                        \
                        PG_UNROLL(32) for (int j = 0; j < NR; j++) dst[p * NR + j] = s[j * ldb + p];        \
                } else {                                                                                    \
                    for (int64_t p = 0; p < kc; p++)                                                        \
                        for (int j = 0; j < NR; j++) dst[p * NR + j] = j < n ? s[j * ldb + p] : (T)0;       \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }

/* ======================================================================
 * Kernel instances: micro-kernel, packers and block sizes per ISA and dtype.
 * KC x NR of B fits L1 (48 KB here), MC x KC of A fits L2, KC x NC of B fits
 * the shared L3.
 * ====================================================================== */

#define PG_KERNEL_TYPE(T, SUF)                                                                              \
    typedef struct pg_gemm_kern_##SUF {                                                                     \
        int mr, nr;                                                                                         \
        int64_t kc, mc, nc;                                                                                 \
        void (*ukr)(int64_t, const T *restrict, const T *restrict, T *restrict, int64_t, bool);             \
        void (*pack_a)(bool, int64_t, int64_t, const T *, int64_t, T *restrict);                            \
        void (*pack_b)(bool, int64_t, int64_t, const T *, int64_t, T *restrict);                            \
        const struct pg_gemm_kern_##SUF *narrow; /* for N <= narrow->nr, or NULL */                         \
        /* the tile over operands in place (pg__gemm_direct), or NULL */                                   \
        void (*ukr_u)(int64_t, const T *restrict, int64_t, const T *restrict, int64_t, T *restrict, int64_t, bool); \
        int mru; /* ukr_u's rows, when not mr */                                                            \
        /* kernels over the first mre[e] < mr rows of the packed panels (mre[0] > mre[1]), for tiles    \
         * past M, or NULL */                                                                               \
        int mre[2];                                                                                         \
        void (*ukr_e[2])(int64_t, const T *restrict, const T *restrict, T *restrict, int64_t, bool);        \
    } pg_gemm_kern_##SUF;

/* One tile: C[m, n] (+)= the packed panels' product, by the whole-tile kernel or, for a tile past M
 * or N, by the narrowest row kernel into an edge buffer then added or stored. */
#define PG_GEMM_TILE(kn, kc, ap, bp, cp, ldc, beta, m, n, MR, NR, edge)                                     \
    do {                                                                                                    \
        if ((n) == (NR) && (m) == (MR)) {                                                                   \
            (kn)->ukr(kc, ap, bp, cp, ldc, beta);                                                           \
            break;                                                                                          \
        }                                                                                                   \
        int e_ = -1;                                                                                        \
        if ((kn)->ukr_e[0] && (m) <= (kn)->mre[0]) e_ = (kn)->ukr_e[1] && (m) <= (kn)->mre[1] ? 1 : 0;     \
        if (e_ >= 0 && (n) == (NR) && (m) == (kn)->mre[e_]) {                                               \
            (kn)->ukr_e[e_](kc, ap, bp, cp, ldc, beta);                                                     \
            break;                                                                                          \
        }                                                                                                   \
        if (e_ >= 0)                                                                                        \
            (kn)->ukr_e[e_](kc, ap, bp, edge, NR, false);                                                   \
        else                                                                                                \
            (kn)->ukr(kc, ap, bp, edge, NR, false);                                                         \
        for (int64_t i_ = 0; i_ < (m); i_++)                                                                \
            for (int64_t j_ = 0; j_ < (n); j_++)                                                            \
                (cp)[i_ * (ldc) + j_] = (beta) ? (cp)[i_ * (ldc) + j_] + (edge)[i_ * (NR) + j_]             \
                                               : (edge)[i_ * (NR) + j_];                                    \
    } while (0)
PG_KERNEL_TYPE(float, f32)
PG_KERNEL_TYPE(double, f64)

#define PG_NO_TARGET
PG_UKR_C(ukr_f32_c, float, 4, 8)
PG_PACK_A(pack_a_f32_c, PG_NO_TARGET, float, 4)
PG_PACK_B(pack_b_f32_c, PG_NO_TARGET, float, 8)
PG_UKR_C(ukr_f64_c, double, 4, 4)
PG_PACK_A(pack_a_f64_c, PG_NO_TARGET, double, 4)
PG_PACK_B(pack_b_f64_c, PG_NO_TARGET, double, 4)
static const pg_gemm_kern_f32 pg_kern_f32_c = {4,    8,    256, 128, 4096, ukr_f32_c, pack_a_f32_c, pack_b_f32_c,
                                               NULL, NULL, 0,   {0, 0},   {NULL, NULL}};
static const pg_gemm_kern_f64 pg_kern_f64_c = {4,    4,    256, 128, 4096, ukr_f64_c, pack_a_f64_c, pack_b_f64_c,
                                               NULL, NULL, 0,   {0, 0},   {NULL, NULL}};

#if PG_GEMM_X86
/* AVX2 + FMA: 16 ymm registers; 6 x 2 accumulators, 2 B vectors, 1 broadcast */
PG_UKR_SIMD(ukr_f32_avx2, PG_TARGET_AVX2, float, __m256, 8, 6, 2, _mm256_setzero_ps, _mm256_load_ps,
            _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps)
PG_PACK_A(pack_a_f32_avx2, PG_TARGET_AVX2, float, 6)
PG_PACK_B(pack_b_f32_avx2, PG_TARGET_AVX2, float, 16)
PG_UKR_SIMD(ukr_f64_avx2, PG_TARGET_AVX2, double, __m256d, 4, 6, 2, _mm256_setzero_pd, _mm256_load_pd,
            _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd)
PG_PACK_A(pack_a_f64_avx2, PG_TARGET_AVX2, double, 6)
PG_PACK_B(pack_b_f64_avx2, PG_TARGET_AVX2, double, 8)
/* narrow: one vector of B per row, for products with at most 8 (f32) or 4
 * (f64) columns, where the 16-wide tile would compute mostly padding */
PG_UKR_SIMD(ukr_f32_avx2n, PG_TARGET_AVX2, float, __m256, 8, 12, 1, _mm256_setzero_ps, _mm256_load_ps,
            _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps)
PG_PACK_A(pack_a_f32_avx2n, PG_TARGET_AVX2, float, 12)
PG_PACK_B(pack_b_f32_avx2n, PG_TARGET_AVX2, float, 8)
PG_UKR_SIMD(ukr_f64_avx2n, PG_TARGET_AVX2, double, __m256d, 4, 12, 1, _mm256_setzero_pd, _mm256_load_pd,
            _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd, _mm256_fmadd_pd, _mm256_add_pd)
PG_PACK_A(pack_a_f64_avx2n, PG_TARGET_AVX2, double, 12)
PG_PACK_B(pack_b_f64_avx2n, PG_TARGET_AVX2, double, 4)
static const pg_gemm_kern_f32 pg_kern_f32_avx2n = {12, 8, 256, 144, 4096, ukr_f32_avx2n, pack_a_f32_avx2n,
                                                   pack_b_f32_avx2n, NULL, NULL, 0, {0, 0}, {NULL, NULL}};
static const pg_gemm_kern_f64 pg_kern_f64_avx2n = {12, 4, 256, 144, 4096, ukr_f64_avx2n, pack_a_f64_avx2n,
                                                   pack_b_f64_avx2n, NULL, NULL, 0, {0, 0}, {NULL, NULL}};
static const pg_gemm_kern_f32 pg_kern_f32_avx2 = {6, 16, 256, 144, 4096, ukr_f32_avx2, pack_a_f32_avx2,
                                                  pack_b_f32_avx2, &pg_kern_f32_avx2n, NULL, 0, {0, 0}, {NULL, NULL}};
static const pg_gemm_kern_f64 pg_kern_f64_avx2 = {6, 8, 256, 144, 4096, ukr_f64_avx2, pack_a_f64_avx2,
                                                  pack_b_f64_avx2, &pg_kern_f64_avx2n, NULL, 0, {0, 0}, {NULL, NULL}};

/* AVX-512: 32 zmm registers; 12 x 2 accumulators, 2 B vectors, one
 * broadcast. On an earlier Zen 5 machine 8 x 32 beat 12 x 32, 14 x 32,
 * 10 x 32, 8 x 48 and 6 x 64, and KC = 256, MC = 240, NC = 4096 beat the
 * neighbouring block sizes (bench/RESULTS.md); on the Sapphire Rapids host
 * 12 x 32 ran 1-thread products 3-10% faster than 8 x 32 (256^3 to 1024^3,
 * the MLP's layers; best of 5 interleaved runs, thread CPU time): each
 * broadcast feeds two FMAs more and each C tile is loaded and stored for 1.5
 * times the work. Tiles past M run 8- or 4-row kernels over the first rows of
 * the panels (ukr_e), so M = 256, 512 or 784 computes no padding rows beyond
 * 4; the direct path (untransposed, small) keeps 8-row tiles, whose edge rows
 * it copies. Row counts change no element's sum: the same bits. float64
 * runs the same shapes, 12 x 16 (1024^3 on 1 thread 3% faster than 8 x 16). */
#define PG_MR_AVX512 12
#define PG_MRU_AVX512 8
#define PG_MR64_AVX512 12
#define PG_NV_AVX512 2
#define PG_KC_AVX512 256
#define PG_MC_AVX512 240
#define PG_NC_AVX512 4096
/* Each dtype's AVX-512 kernels: the full tile, the 8- and 4-row tiles past M, and the untransposed
 * direct tile; P is the intrinsics' suffix (ps, pd). */
#define PG_AVX512_UKRS(SUF, T, V, W, MR, P)                                                                \
    PG_UKR_SIMD(ukr_##SUF##_avx512, PG_TARGET_AVX512, T, V, W, MR, PG_NV_AVX512, _mm512_setzero_##P,       \
                _mm512_load_##P, _mm512_loadu_##P, _mm512_storeu_##P, _mm512_set1_##P, _mm512_fmadd_##P,  \
                _mm512_add_##P)                                                                            \
    PG_UKR_SIMD_S(ukr_##SUF##_avx512e8, PG_TARGET_AVX512, T, V, W, 8, MR, PG_NV_AVX512, _mm512_setzero_##P, \
                  _mm512_load_##P, _mm512_loadu_##P, _mm512_storeu_##P, _mm512_set1_##P,                  \
                  _mm512_fmadd_##P, _mm512_add_##P)                                                        \
    PG_UKR_SIMD_S(ukr_##SUF##_avx512e4, PG_TARGET_AVX512, T, V, W, 4, MR, PG_NV_AVX512, _mm512_setzero_##P, \
                  _mm512_load_##P, _mm512_loadu_##P, _mm512_storeu_##P, _mm512_set1_##P,                  \
                  _mm512_fmadd_##P, _mm512_add_##P)                                                        \
    PG_UKR_SIMD_U(ukru_##SUF##_avx512, PG_TARGET_AVX512, T, V, W, PG_MRU_AVX512, PG_NV_AVX512,             \
                  _mm512_setzero_##P, _mm512_loadu_##P, _mm512_storeu_##P, _mm512_set1_##P,               \
                  _mm512_fmadd_##P, _mm512_add_##P)
PG_AVX512_UKRS(f32, float, __m512, 16, PG_MR_AVX512, ps)
PG_PACK_A(pack_a_f32_avx512s, PG_TARGET_AVX512, float, PG_MR_AVX512)
PG_PACK_B(pack_b_f32_avx512s, PG_TARGET_AVX512, float, 16 * PG_NV_AVX512)
PG_AVX512_UKRS(f64, double, __m512d, 8, PG_MR64_AVX512, pd)
PG_PACK_A(pack_a_f64_avx512s, PG_TARGET_AVX512, double, PG_MR64_AVX512)
PG_PACK_B(pack_b_f64_avx512s, PG_TARGET_AVX512, double, 8 * PG_NV_AVX512)
/* narrow: one vector of B per row (N <= 16 in float32, N <= 8 in float64,
 * e.g. a 10-class output layer), 16 rows per tile */
#define PG_MRN_AVX512 16
PG_UKR_SIMD(ukr_f32_avx512n, PG_TARGET_AVX512, float, __m512, 16, PG_MRN_AVX512, 1, _mm512_setzero_ps,
            _mm512_load_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps)
PG_PACK_A(pack_a_f32_avx512ns, PG_TARGET_AVX512, float, PG_MRN_AVX512)
PG_PACK_B(pack_b_f32_avx512n, PG_TARGET_AVX512, float, 16)

/* Packing the operand whose panel rows are strided (A untransposed, B transposed) is a transpose:
 * R rows of the source read side by side, dst[p*R + r] = s[r*ld + p]. Eight rows by eight
 * columns at a time in AVX registers (the scalar loops above move one element per load and
 * store); the ends of the rows and partial panels by the scalar packers. A copy: the same bits. */
PG_TARGET_AVX512 static inline void pg__tr8x8_f32(const float *s, int64_t ld, float *d, int64_t dld) {
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ld), r2 = _mm256_loadu_ps(s + 2 * ld);
    __m256 r3 = _mm256_loadu_ps(s + 3 * ld), r4 = _mm256_loadu_ps(s + 4 * ld), r5 = _mm256_loadu_ps(s + 5 * ld);
    __m256 r6 = _mm256_loadu_ps(s + 6 * ld), r7 = _mm256_loadu_ps(s + 7 * ld);
    /* t: pairs of rows interleaved; u: columns c and c + 4 of four rows; then the halves joined */
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + dld, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * dld, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * dld, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * dld, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * dld, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * dld, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * dld, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* four rows by eight columns: d[c*dld + r] = s[r*ld + c], r < 4, c < 8 */
PG_TARGET_AVX512 static inline void pg__tr4x8_f32(const float *s, int64_t ld, float *d, int64_t dld) {
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ld), r2 = _mm256_loadu_ps(s + 2 * ld);
    __m256 r3 = _mm256_loadu_ps(s + 3 * ld);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    /* u: columns c (low half) and c + 4 (high half) of the four rows */
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    _mm_storeu_ps(d, _mm256_castps256_ps128(u0));
    _mm_storeu_ps(d + dld, _mm256_castps256_ps128(u1));
    _mm_storeu_ps(d + 2 * dld, _mm256_castps256_ps128(u2));
    _mm_storeu_ps(d + 3 * dld, _mm256_castps256_ps128(u3));
    _mm_storeu_ps(d + 4 * dld, _mm256_extractf128_ps(u0, 1));
    _mm_storeu_ps(d + 5 * dld, _mm256_extractf128_ps(u1, 1));
    _mm_storeu_ps(d + 6 * dld, _mm256_extractf128_ps(u2, 1));
    _mm_storeu_ps(d + 7 * dld, _mm256_extractf128_ps(u3, 1));
}

/* one whole panel of R rows, kc columns: dst[p*R + r] = s[r*ld + p] */
PG_TARGET_AVX512 static void pg__pack_tr_f32(int64_t R, int64_t kc, const float *s, int64_t ld,
                                             float *restrict dst) {
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        int64_t r = 0;
        for (; r + 8 <= R; r += 8) pg__tr8x8_f32(s + r * ld + p, ld, dst + p * R + r, R);
        if (r + 4 <= R) pg__tr4x8_f32(s + r * ld + p, ld, dst + p * R + r, R), r += 4;
        for (; r < R; r++)
            for (int64_t q = p; q < p + 8; q++) dst[q * R + r] = s[r * ld + q];
    }
    for (; p < kc; p++)
        for (int64_t r = 0; r < R; r++) dst[p * R + r] = s[r * ld + p];
}

/* Packing the operand whose panel rows are contiguous (A transposed, B untransposed) is a copy of
 * rows of R values, R a multiple of 16: dst[p*R + c] = s[p*ld + c] for c < n, zero past n. The
 * source rows are ld apart (a page or more in a large matrix, beyond the strides the hardware
 * prefetchers follow): each row is asked for PG_PACK_AHEAD rows ahead. */
#define PG_PACK_AHEAD 8
PG_TARGET_AVX512 static void pg__pack_cp_f32(int64_t R, int64_t n, int64_t kc, const float *s, int64_t ld,
                                             float *restrict dst) {
    if (n == R && R == 32) {
        for (int64_t p = 0; p < kc; p++, s += ld, dst += 32) {
            __builtin_prefetch(s + PG_PACK_AHEAD * ld);
            __builtin_prefetch(s + PG_PACK_AHEAD * ld + 31);
            _mm512_store_ps(dst, _mm512_loadu_ps(s));
            _mm512_store_ps(dst + 16, _mm512_loadu_ps(s + 16));
        }
        return;
    }
    for (int64_t p = 0; p < kc; p++, s += ld, dst += R) {
        __builtin_prefetch(s + PG_PACK_AHEAD * ld);
        if (n > 16) __builtin_prefetch(s + PG_PACK_AHEAD * ld + n - 1);
        for (int64_t c = 0; c < R; c += 16) {
            const int64_t left = n - c;
            const __mmask16 k = left >= 16 ? (__mmask16)0xFFFF : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
            _mm512_store_ps(dst + c, _mm512_maskz_loadu_ps(k, s + c));
        }
    }
}

/* The float64 packers, the same way: eight rows by eight columns in zmm registers. Packing is
 * bound by the reads of the operand: a 240 x 256 block of A from L2 took 11.1 us against the scalar
 * loops' 12.6, and in a 1024^3 product on one thread A's packing 2.6% of the time instead of 3.2. */
PG_TARGET_AVX512 static inline void pg__tr8x8_f64(const double *s, int64_t ld, double *d, int64_t dld) {
    __m512d r0 = _mm512_loadu_pd(s), r1 = _mm512_loadu_pd(s + ld), r2 = _mm512_loadu_pd(s + 2 * ld);
    __m512d r3 = _mm512_loadu_pd(s + 3 * ld), r4 = _mm512_loadu_pd(s + 4 * ld), r5 = _mm512_loadu_pd(s + 5 * ld);
    __m512d r6 = _mm512_loadu_pd(s + 6 * ld), r7 = _mm512_loadu_pd(s + 7 * ld);
    /* t: pairs of rows interleaved, 128-bit lane l of t0 holding column 2l of rows 0 and 1 (of t1:
     * column 2l + 1); u: lanes 0 and 2 (0x88) or 1 and 3 (0xDD) of two t; then of two u */
    __m512d t0 = _mm512_unpacklo_pd(r0, r1), t1 = _mm512_unpackhi_pd(r0, r1);
    __m512d t2 = _mm512_unpacklo_pd(r2, r3), t3 = _mm512_unpackhi_pd(r2, r3);
    __m512d t4 = _mm512_unpacklo_pd(r4, r5), t5 = _mm512_unpackhi_pd(r4, r5);
    __m512d t6 = _mm512_unpacklo_pd(r6, r7), t7 = _mm512_unpackhi_pd(r6, r7);
    __m512d u0 = _mm512_shuffle_f64x2(t0, t2, 0x88), u1 = _mm512_shuffle_f64x2(t0, t2, 0xDD);
    __m512d u2 = _mm512_shuffle_f64x2(t1, t3, 0x88), u3 = _mm512_shuffle_f64x2(t1, t3, 0xDD);
    __m512d u4 = _mm512_shuffle_f64x2(t4, t6, 0x88), u5 = _mm512_shuffle_f64x2(t4, t6, 0xDD);
    __m512d u6 = _mm512_shuffle_f64x2(t5, t7, 0x88), u7 = _mm512_shuffle_f64x2(t5, t7, 0xDD);
    _mm512_storeu_pd(d, _mm512_shuffle_f64x2(u0, u4, 0x88));
    _mm512_storeu_pd(d + dld, _mm512_shuffle_f64x2(u2, u6, 0x88));
    _mm512_storeu_pd(d + 2 * dld, _mm512_shuffle_f64x2(u1, u5, 0x88));
    _mm512_storeu_pd(d + 3 * dld, _mm512_shuffle_f64x2(u3, u7, 0x88));
    _mm512_storeu_pd(d + 4 * dld, _mm512_shuffle_f64x2(u0, u4, 0xDD));
    _mm512_storeu_pd(d + 5 * dld, _mm512_shuffle_f64x2(u2, u6, 0xDD));
    _mm512_storeu_pd(d + 6 * dld, _mm512_shuffle_f64x2(u1, u5, 0xDD));
    _mm512_storeu_pd(d + 7 * dld, _mm512_shuffle_f64x2(u3, u7, 0xDD));
}

/* four rows by eight columns: d[c*dld + r] = s[r*ld + c], r < 4, c < 8 */
PG_TARGET_AVX512 static inline void pg__tr4x8_f64(const double *s, int64_t ld, double *d, int64_t dld) {
    __m512d r0 = _mm512_loadu_pd(s), r1 = _mm512_loadu_pd(s + ld), r2 = _mm512_loadu_pd(s + 2 * ld);
    __m512d r3 = _mm512_loadu_pd(s + 3 * ld);
    __m512d t0 = _mm512_unpacklo_pd(r0, r1), t1 = _mm512_unpackhi_pd(r0, r1);
    __m512d t2 = _mm512_unpacklo_pd(r2, r3), t3 = _mm512_unpackhi_pd(r2, r3);
    /* lanes l of t0 and t2 side by side: columns 2l (2l + 1 from t1, t3) of the four rows */
    const __m512i lo = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), hi = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    __m512d c02 = _mm512_permutex2var_pd(t0, lo, t2), c46 = _mm512_permutex2var_pd(t0, hi, t2);
    __m512d c13 = _mm512_permutex2var_pd(t1, lo, t3), c57 = _mm512_permutex2var_pd(t1, hi, t3);
    _mm256_storeu_pd(d, _mm512_castpd512_pd256(c02));
    _mm256_storeu_pd(d + dld, _mm512_castpd512_pd256(c13));
    _mm256_storeu_pd(d + 2 * dld, _mm512_extractf64x4_pd(c02, 1));
    _mm256_storeu_pd(d + 3 * dld, _mm512_extractf64x4_pd(c13, 1));
    _mm256_storeu_pd(d + 4 * dld, _mm512_castpd512_pd256(c46));
    _mm256_storeu_pd(d + 5 * dld, _mm512_castpd512_pd256(c57));
    _mm256_storeu_pd(d + 6 * dld, _mm512_extractf64x4_pd(c46, 1));
    _mm256_storeu_pd(d + 7 * dld, _mm512_extractf64x4_pd(c57, 1));
}

/* one whole panel of R rows, kc columns: dst[p*R + r] = s[r*ld + p] */
PG_TARGET_AVX512 static void pg__pack_tr_f64(int64_t R, int64_t kc, const double *s, int64_t ld,
                                             double *restrict dst) {
    int64_t p = 0;
    for (; p + 8 <= kc; p += 8) {
        int64_t r = 0;
        for (; r + 8 <= R; r += 8) pg__tr8x8_f64(s + r * ld + p, ld, dst + p * R + r, R);
        if (r + 4 <= R) pg__tr4x8_f64(s + r * ld + p, ld, dst + p * R + r, R), r += 4;
        for (; r < R; r++)
            for (int64_t q = p; q < p + 8; q++) dst[q * R + r] = s[r * ld + q];
    }
    for (; p < kc; p++)
        for (int64_t r = 0; r < R; r++) dst[p * R + r] = s[r * ld + p];
}

/* rows of R values, R a multiple of 8: dst[p*R + c] = s[p*ld + c] for c < n, zero past n */
PG_TARGET_AVX512 static void pg__pack_cp_f64(int64_t R, int64_t n, int64_t kc, const double *s, int64_t ld,
                                             double *restrict dst) {
    if (n == R && R == 16) {
        for (int64_t p = 0; p < kc; p++, s += ld, dst += 16) {
            __builtin_prefetch(s + PG_PACK_AHEAD * ld);
            __builtin_prefetch(s + PG_PACK_AHEAD * ld + 15);
            _mm512_store_pd(dst, _mm512_loadu_pd(s));
            _mm512_store_pd(dst + 8, _mm512_loadu_pd(s + 8));
        }
        return;
    }
    for (int64_t p = 0; p < kc; p++, s += ld, dst += R) {
        __builtin_prefetch(s + PG_PACK_AHEAD * ld);
        if (n > 8) __builtin_prefetch(s + PG_PACK_AHEAD * ld + n - 1);
        for (int64_t c = 0; c < R; c += 8) {
            const int64_t left = n - c;
            const __mmask8 k = left >= 8 ? (__mmask8)0xFF : left > 0 ? (__mmask8)((1u << left) - 1) : 0;
            _mm512_store_pd(dst + c, _mm512_maskz_loadu_pd(k, s + c));
        }
    }
}

#define PG_PACK_TR(NAME, SCALAR, T, SUF, R)                                                                 \
    PG_TARGET_AVX512 static void NAME(bool t, int64_t mc, int64_t kc, const T *S, int64_t ld,               \
                                      T *restrict dst) {                                                    \
        if (t) { /* rows of the panel contiguous: the scalar loops are copies already */                   \
            SCALAR(t, mc, kc, S, ld, dst);                                                                  \
            return;                                                                                         \
        }                                                                                                   \
        int64_t i0 = 0;                                                                                     \
        for (; i0 + (R) <= mc; i0 += (R), dst += (R) * kc)                                                  \
            pg__pack_tr_##SUF((R), kc, S + i0 * ld, ld, dst);                                               \
        if (i0 < mc) SCALAR(t, mc - i0, kc, S + i0 * ld, ld, dst);                                          \
    }
/* B's packer is called (tb, kc, nc, B, ldb, dst) and transposes when tb: the flag flipped */
#define PG_PACK_TR_B(NAME, SCALAR, T, SUF, R)                                                               \
    PG_TARGET_AVX512 static void NAME(bool tb, int64_t kc, int64_t nc, const T *S, int64_t ld,              \
                                      T *restrict dst) {                                                    \
        if (!tb) { /* rows of the panel contiguous: copies */                                               \
            for (int64_t j0 = 0; j0 < nc; j0 += (R), dst += (R) * kc)                                       \
                pg__pack_cp_##SUF((R), nc - j0 < (R) ? nc - j0 : (R), kc, S + j0, ld, dst);                 \
            return;                                                                                         \
        }                                                                                                   \
        int64_t j0 = 0;                                                                                     \
        for (; j0 + (R) <= nc; j0 += (R), dst += (R) * kc)                                                  \
            pg__pack_tr_##SUF((R), kc, S + j0 * ld, ld, dst);                                               \
        if (j0 < nc) SCALAR(tb, kc, nc - j0, S + j0 * ld, ld, dst);                                         \
    }
PG_PACK_TR(pack_a_f32_avx512, pack_a_f32_avx512s, float, f32, PG_MR_AVX512)
PG_PACK_TR_B(pack_b_f32_avx512, pack_b_f32_avx512s, float, f32, 16 * PG_NV_AVX512)
PG_PACK_TR(pack_a_f32_avx512n, pack_a_f32_avx512ns, float, f32, PG_MRN_AVX512)
PG_PACK_TR(pack_a_f64_avx512, pack_a_f64_avx512s, double, f64, PG_MR64_AVX512)
PG_PACK_TR_B(pack_b_f64_avx512, pack_b_f64_avx512s, double, f64, 8 * PG_NV_AVX512)
PG_UKR_SIMD(ukr_f64_avx512n, PG_TARGET_AVX512, double, __m512d, 8, PG_MRN_AVX512, 1, _mm512_setzero_pd,
            _mm512_load_pd, _mm512_loadu_pd, _mm512_storeu_pd, _mm512_set1_pd, _mm512_fmadd_pd, _mm512_add_pd)
PG_PACK_A(pack_a_f64_avx512n, PG_TARGET_AVX512, double, PG_MRN_AVX512)
PG_PACK_B(pack_b_f64_avx512n, PG_TARGET_AVX512, double, 8)
static const pg_gemm_kern_f32 pg_kern_f32_avx512n = {PG_MRN_AVX512, 16, PG_KC_AVX512, PG_MC_AVX512,
                                                     PG_NC_AVX512,  ukr_f32_avx512n, pack_a_f32_avx512n,
                                                     pack_b_f32_avx512n, NULL, NULL, 0, {0, 0}, {NULL, NULL}};
static const pg_gemm_kern_f64 pg_kern_f64_avx512n = {PG_MRN_AVX512, 8, PG_KC_AVX512, PG_MC_AVX512,
                                                     PG_NC_AVX512,  ukr_f64_avx512n, pack_a_f64_avx512n,
                                                     pack_b_f64_avx512n, NULL, NULL, 0, {0, 0}, {NULL, NULL}};
static const pg_gemm_kern_f32 pg_kern_f32_avx512 = {PG_MR_AVX512,      16 * PG_NV_AVX512, PG_KC_AVX512,
                                                    PG_MC_AVX512,      PG_NC_AVX512,      ukr_f32_avx512,
                                                    pack_a_f32_avx512, pack_b_f32_avx512, &pg_kern_f32_avx512n,
                                                    ukru_f32_avx512,   PG_MRU_AVX512,
                                                    {8, 4},            {ukr_f32_avx512e8, ukr_f32_avx512e4}};
static const pg_gemm_kern_f64 pg_kern_f64_avx512 = {PG_MR64_AVX512,      8 * PG_NV_AVX512, PG_KC_AVX512,
                                                    PG_MC_AVX512,      PG_NC_AVX512,     ukr_f64_avx512,
                                                    pack_a_f64_avx512, pack_b_f64_avx512, &pg_kern_f64_avx512n,
                                                    ukru_f64_avx512,    PG_MRU_AVX512,
                                                    {8, 4},             {ukr_f64_avx512e8, ukr_f64_avx512e4}};
#endif

/* ======================================================================
 * Kernel choice
 * ====================================================================== */

static atomic_int pg_gemm_choice = PG_GEMM_AUTO;

static bool pg__gemm_supported(int kind) {
#if PG_GEMM_X86
    __builtin_cpu_init();
    if (kind == PG_GEMM_AVX512) return __builtin_cpu_supports("avx512f");
    if (kind == PG_GEMM_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return kind == PG_GEMM_NAIVE || kind == PG_GEMM_GENERIC || kind == PG_GEMM_AUTO;
}

static int pg__gemm_kind(void) {
    int k = atomic_load_explicit(&pg_gemm_choice, memory_order_relaxed);
    if (k != PG_GEMM_AUTO) return k;
    static atomic_int best = -1;
    k = atomic_load_explicit(&best, memory_order_relaxed);
    if (k < 0) {
        k = pg__gemm_supported(PG_GEMM_AVX512) ? PG_GEMM_AVX512
            : pg__gemm_supported(PG_GEMM_AVX2) ? PG_GEMM_AVX2
                                               : PG_GEMM_GENERIC;
        atomic_store_explicit(&best, k, memory_order_relaxed);
    }
    return k;
}

pg_status pg_set_gemm_kernel(const char *name) {
    if (!name) return pg__fail(PG_ERR_VALUE, "set_gemm_kernel: the kernel name is NULL");
    for (int k = 0; k <= PG_GEMM_AUTO; k++) {
        if (strcmp(name, pg_gemm_names[k]) != 0) continue;
        if (!pg__gemm_supported(k))
            return pg__fail(PG_ERR_VALUE, "set_gemm_kernel: this CPU cannot run the %s kernel", name);
        atomic_store(&pg_gemm_choice, k);
        return PG_OK;
    }
    return pg__fail(PG_ERR_VALUE,
                    "set_gemm_kernel: unknown kernel \"%.64s\" (expected auto, avx512, avx2, generic or naive)", name);
}

const char *pg_gemm_kernel(void) { return pg_gemm_names[pg__gemm_kind()]; }

static const pg_gemm_kern_f32 *pg__kern_f32(int kind) {
    switch (kind) {
#if PG_GEMM_X86
    case PG_GEMM_AVX512: return &pg_kern_f32_avx512;
    case PG_GEMM_AVX2: return &pg_kern_f32_avx2;
#endif
    case PG_GEMM_GENERIC: return &pg_kern_f32_c;
    default: return NULL;
    }
}

static const pg_gemm_kern_f64 *pg__kern_f64(int kind) {
    switch (kind) {
#if PG_GEMM_X86
    case PG_GEMM_AVX512: return &pg_kern_f64_avx512;
    case PG_GEMM_AVX2: return &pg_kern_f64_avx2;
#endif
    case PG_GEMM_GENERIC: return &pg_kern_f64_c;
    default: return NULL;
    }
}

/* ======================================================================
 * The blocked driver
 * ====================================================================== */

/* Team layout: tm row groups x tn column groups (tm * tn = nthr), the one
 * that gives the fewest micro-tiles to the busiest thread. On a tie, when K
 * is long enough for packing to count (K >= PG_GEMM_GRID_K), the one whose
 * threads touch the fewest operand elements per K step: a thread packs its
 * rows of A (M / tm) and reads the B panels of its columns (N / tn), which
 * other threads packed when tm > 1. Small M and wide N (a 64-row batch, a
 * 256 x 512 layer) thus split the columns: each thread packs all of the
 * small A and only the B panels it uses (2 threads, 64 x 256 @ 256 x 256:
 * 46 -> 30 us). Otherwise ties go to more row groups (with K = 10, 256 x
 * 512 outputs were written faster as whole rows: 21 against 36 us). On a full tie, one row group:
 * its members never wait for each other (pg__gemm_job). */
#define PG_GEMM_GRID_K 32
static void pg__gemm_grid(int64_t M, int64_t N, int64_t K, int64_t mr, int64_t nr, int64_t nc, int nthr, int *tm,
                          int *tn) {
    int64_t pm = (M + mr - 1) / mr, pn = ((N < nc ? N : nc) + nr - 1) / nr;
    int64_t best = -1, best_touch = -1;
    for (int a = nthr; a >= 1; a--) {
        if (nthr % a) continue;
        int b = nthr / a;
        int64_t rows = (pm + a - 1) / a, cols = (pn + b - 1) / b;
        int64_t load = rows * cols, touch = K >= PG_GEMM_GRID_K ? rows * mr + cols * nr : a == nthr ? 0 : 1;
        if (best < 0 || load < best || (load == best && (touch < best_touch || (touch == best_touch && a == 1)))) {
            best = load;
            best_touch = touch;
            *tm = a;
            *tn = b;
        }
    }
}

/* ======================================================================
 * Matrix-vector products (M == 1 or N == 1). Each matrix element is used
 * once, so packing would only add a copy of the matrix: these run on a
 * matrix R whose rows are contiguous, in one of two forms,
 *   dot:   y[r] (+)= sum_p R[r, p] x[p]    (16 interleaved partial sums)
 *   axpy:  y[j] (+)= sum_r x[r] R[r, j]    (rows added in order, 8 per pass)
 * threaded over the output.
 * ====================================================================== */

/* Multiply-adds per thread below which a matrix-vector product stays on one
 * thread (it is memory-bound, like an elementwise op). */
#define PG_GEMV_GRAIN 32768

typedef struct pg_gemv_job {
    const void *R;   /* [rows][len], row stride ld */
    int64_t rows, len, ld;
    const void *x;   /* dot: [len]; axpy: [rows]; contiguous */
    void *y;         /* dot: [rows], stride incy; axpy: [len], contiguous */
    int64_t incy;
    bool acc;
} pg_gemv_job;

#define PG_GEMV(T, SUF)                                                                                     \
    static void pg__gemv_dot_##SUF(void *ctx, int64_t lo, int64_t hi) {                                     \
        const pg_gemv_job *j = ctx;                                                                         \
        const T *x = j->x;                                                                                  \
        T *y = j->y;                                                                                        \
        for (int64_t r = lo; r < hi; r++) {                                                                 \
            const T *row = (const T *)j->R + r * j->ld;                                                     \
            T lane[16] = {0};                                                                               \
            int64_t p = 0;                                                                                  \
            for (; p + 16 <= j->len; p += 16)                                                               \
                for (int l = 0; l < 16; l++) lane[l] += row[p + l] * x[p + l];                              \
            for (int w = 8; w > 0; w /= 2)                                                                  \
                for (int l = 0; l < w; l++) lane[l] += lane[l + w];                                         \
            T s = lane[0];                                                                                  \
            for (; p < j->len; p++) s += row[p] * x[p];                                                     \
            y[r * j->incy] = j->acc ? y[r * j->incy] + s : s;                                               \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    static void pg__gemv_axpy_##SUF(void *ctx, int64_t lo, int64_t hi) {                                    \
        const pg_gemv_job *j = ctx;                                                                         \
        const T *x = j->x, *R = j->R;                                                                       \
        T *y = j->y;                                                                                        \
        const int64_t ld = j->ld;                                                                           \
        if (!j->acc)                                                                                        \
            for (int64_t i = lo; i < hi; i++) y[i] = 0;                                                     \
        int64_t r = 0;                                                                                      \
        for (; r + 8 <= j->rows; r += 8) {                                                                  \
            const T *p = R + r * ld;                                                                        \
            const T x0 = x[r], x1 = x[r + 1], x2 = x[r + 2], x3 = x[r + 3];                                 \
            const T x4 = x[r + 4], x5 = x[r + 5], x6 = x[r + 6], x7 = x[r + 7];                             \
            PG_IVDEP for (int64_t i = lo; i < hi; i++) {                                                    \
                T s = y[i];                                                                                 \
                s += x0 * p[i];                                                                             \
                s += x1 * p[i + ld];                                                                        \
                s += x2 * p[i + 2 * ld];                                                                    \
                s += x3 * p[i + 3 * ld];                                                                    \
                s += x4 * p[i + 4 * ld];                                                                    \
                s += x5 * p[i + 5 * ld];                                                                    \
                s += x6 * p[i + 6 * ld];                                                                    \
                s += x7 * p[i + 7 * ld];                                                                    \
                y[i] = s;                                                                                   \
            }                                                                                               \
        }                                                                                                   \
        for (; r < j->rows; r++) {                                                                          \
            const T *p = R + r * ld, xr = x[r];                                                             \
            PG_IVDEP for (int64_t i = lo; i < hi; i++) y[i] += xr * p[i];                                   \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    /* C[M,N] (+)= op(A) op(B) with M == 1 or N == 1; false without scratch memory */                      \
    static bool pg__gemv_##SUF(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,  \
                               const T *B, int64_t ldb, T *C, int64_t ldc, bool acc) {                      \
        const T *vec;                                                                                       \
        int64_t vinc;                                                                                       \
        pg_gemv_job j = {0};                                                                                \
        bool dot;                                                                                           \
        if (M == 1) { /* C[0,j] = sum_p op(A)(0,p) op(B)(p,j); op(A)(0,p) = A[p * (ta ? lda : 1)] */        \
            vec = A, vinc = ta ? lda : 1;                                                                   \
            dot = tb; /* tb: row j of B holds op(B)(:,j) */                                                 \
            j = (pg_gemv_job){B, tb ? N : K, tb ? K : N, ldb, NULL, C, 1, acc};                             \
        } else { /* C[i,0] = sum_p op(A)(i,p) op(B)(p,0); op(B)(p,0) = B[p * (tb ? 1 : ldb)] */             \
            vec = B, vinc = tb ? 1 : ldb;                                                                   \
            dot = !ta; /* !ta: row i of A holds op(A)(i,:) */                                               \
            j = (pg_gemv_job){A, ta ? K : M, ta ? M : K, lda, NULL, C, ldc, acc};                           \
        }                                                                                                   \
        int64_t nvec = dot ? j.len : j.rows, nout = dot ? j.rows : j.len;                                   \
        bool gather = vinc != 1, scatter = !dot && j.incy != 1;                                             \
        T *tmp = NULL;                                                                                      \
        if (gather || scatter) {                                                                            \
            tmp = pg__scratch(1, sizeof(T) * (size_t)(nvec + nout));                                        \
            if (!tmp) return false;                                                                         \
        }                                                                                                   \
        if (gather) {                                                                                       \
            for (int64_t i = 0; i < nvec; i++) tmp[i] = vec[i * vinc];                                      \
            vec = tmp;                                                                                      \
        }                                                                                                   \
        j.x = vec;                                                                                          \
        if (dot) {                                                                                          \
            int64_t grain = (PG_GEMV_GRAIN + j.len - 1) / j.len;                                            \
            pg__parallel_range(j.rows, 1, grain, pg__gemv_dot_##SUF, &j);                                   \
            return true;                                                                                    \
        }                                                                                                   \
        if (scatter) { /* the output column is strided: sum into tmp, then add or store */                  \
            j.y = tmp + nvec;                                                                               \
            j.acc = false;                                                                                  \
        }                                                                                                   \
        int64_t grain = (PG_GEMV_GRAIN + j.rows - 1) / j.rows;                                              \
        pg__parallel_range(j.len, 64, grain < 64 ? 64 : grain, pg__gemv_axpy_##SUF, &j);                    \
        if (scatter)                                                                                        \
            for (int64_t i = 0; i < nout; i++) C[i * ldc] = acc ? C[i * ldc] + tmp[nvec + i] : tmp[nvec + i]; \
        return true;                                                                                        \
    }

PG_GEMV(float, f32)
PG_GEMV(double, f64)

/* Products up to this many multiply-adds, of untransposed operands with K at most one K block,
 * run their tiles over the operands in place (pg__gemm_direct): packing A and B cost about 9% of a
 * 64^3 float32 product, where each packed element is used only N / NR or M / MR times. */
#define PG_GEMM_DIRECT_MAX 2.2e6

/* C (+)= A B on this thread, A and B untransposed, K <= KC: each tile by the kernel over A and B
 * in place; a tile past M or N over copies of its rows of A or columns of B zero-padded to a
 * whole tile. The operations of the packed path with one K block, in the same order: the same
 * bits. False without scratch memory for the copies. */
#define PG_GEMM_DIRECT(T, SUF)                                                                              \
    static bool pg__gemm_direct_##SUF(const pg_gemm_kern_##SUF *kn, int64_t M, int64_t N, int64_t K,        \
                                      const T *A, int64_t lda, const T *B, int64_t ldb, T *C, int64_t ldc, \
                                      bool acc) {                                                           \
        const int64_t MR = kn->mru ? kn->mru : kn->mr, NR = kn->nr, Mf = M / MR * MR;                       \
        T *abuf = NULL, *bbuf = NULL;                                                                       \
        if (Mf < M || N % NR) {                                                                             \
            const int64_t asize = (MR * K + 15) / 16 * 16;                                                  \
            abuf = pg__scratch(0, sizeof(T) * (size_t)(asize + NR * K));                                    \
            if (!abuf) return false;                                                                        \
            bbuf = abuf + asize;                                                                            \
            for (int64_t i = 0; i < MR; i++) /* the last rows of A, zero-padded: [MR][K] */               \
                for (int64_t p = 0; p < K; p++) abuf[i * K + p] = Mf + i < M ? A[(Mf + i) * lda + p] : (T)0; \
        }                                                                                                   \
        _Alignas(64) T edge[PG_GEMM_MAX_TILE];                                                              \
        for (int64_t j = 0; j < N; j += NR) {                                                               \
            const int64_t n = N - j < NR ? N - j : NR;                                                      \
            const T *bp = B + j;                                                                            \
            int64_t bld = ldb;                                                                              \
            if (n < NR) { /* the last columns of B, zero-padded: [K][NR] */                                 \
                for (int64_t p = 0; p < K; p++)                                                             \
                    for (int64_t c = 0; c < NR; c++) bbuf[p * NR + c] = c < n ? B[p * ldb + j + c] : (T)0;  \
                bp = bbuf;                                                                                  \
                bld = NR;                                                                                   \
            }                                                                                               \
            for (int64_t i = 0; i < M; i += MR) {                                                           \
                const int64_t m = M - i < MR ? M - i : MR;                                                  \
                const T *ap = m < MR ? abuf : A + i * lda;                                                  \
                const int64_t ald = m < MR ? K : lda;                                                       \
                T *cp = C + i * ldc + j;                                                                    \
                if (m == MR && n == NR) {                                                                   \
                    kn->ukr_u(K, ap, ald, bp, bld, cp, ldc, acc);                                           \
                    continue;                                                                               \
                }                                                                                           \
                kn->ukr_u(K, ap, ald, bp, bld, edge, NR, false);                                            \
                for (int64_t r = 0; r < m; r++)                                                             \
                    for (int64_t c = 0; c < n; c++)                                                         \
                        cp[r * ldc + c] = acc ? cp[r * ldc + c] + edge[r * NR + c] : edge[r * NR + c];      \
            }                                                                                               \
        }                                                                                                   \
        return true;                                                                                        \
    }

PG_GEMM_DIRECT(float, f32)
PG_GEMM_DIRECT(double, f64)

/* The column-chunk driver (pg__gemm_cols_*): op(A), packed whole, at most this many bytes (a
 * thread's copy stays in its core's L2, 2 MB here, beside the B panels), and each member's share
 * of the columns at least this wide: every member packs all of A, so a narrow share would pay a
 * whole A for little work. */
#define PG_GEMM_COLS_A (1.25 * 1024 * 1024)
#define PG_GEMM_COLS_REUSE 96
/* Larger teams run the blocked driver, which packs A and B once for all (the copies of A would
 * take as many times its size in scratch memory and in memory traffic). */
#define PG_GEMM_COLS_THREADS 8

#define PG_EPI_ALL(epi)                                                                                     \
    do {                                                                                                    \
        if (epi) (epi)->fn((epi)->ctx, 0, 0, M, N);                                                         \
    } while (0)

#define PG_GEMM_DRIVER(T, SUF)                                                                              \
    typedef struct pg_gemm_job_##SUF {                                                                      \
        const pg_gemm_kern_##SUF *kn;                                                                       \
        bool ta, tb, acc;                                                                                   \
        int64_t M, N, K, lda, ldb, ldc;                                                                     \
        const T *A, *B;                                                                                     \
        T *C;                                                                                               \
        int64_t kcb;     /* K block: K split evenly into ceil(K / KC) blocks of at most KC */               \
        T *bbuf;         /* [KC][ceil(min(N, NC), NR)]: the packed B block, shared */                       \
        T *abuf;         /* [nthr][MC x KC]: each thread's packed A block */                                \
        int64_t astride; /* elements between two threads' A blocks */                                       \
        const pg_gemm_epi *epi; /* run on each tile of C once it is final, or NULL */                      \
    } pg_gemm_job_##SUF;                                                                                    \
                                                                                                            \
    static void pg__gemm_job_##SUF(void *ctx, const pg_team *team) {                                        \
        const pg_gemm_job_##SUF *jb = ctx;                                                                  \
        const pg_gemm_kern_##SUF *kn = jb->kn;                                                              \
        const int64_t MR = kn->mr, NR = kn->nr, M = jb->M, N = jb->N, K = jb->K;                            \
        const int tid = team->tid, nthr = team->nthr;                                                       \
        int tm = 1, tn = 1;                                                                                 \
        pg__gemm_grid(M, N, K, MR, NR, kn->nc, nthr, &tm, &tn);                                                \
        const int ti = tid / tn, tj = tid % tn;                                                             \
        const int64_t pm = (M + MR - 1) / MR;                                                               \
        const int64_t m0 = pm * ti / tm * MR, m1e = pm * (ti + 1) / tm * MR, m1 = m1e < M ? m1e : M;        \
        /* this thread's rows in ceil(rows / MC) blocks of whole panels, as even as can be */              \
        const int64_t nmb = (m1 - m0 + kn->mc - 1) / kn->mc, rp = (m1 - m0 + MR - 1) / MR;                  \
        const int64_t mcb = nmb > 0 ? (rp + nmb - 1) / nmb * MR : MR;                                       \
        T *abuf = jb->abuf + tid * jb->astride;                                                             \
        _Alignas(64) T edge[PG_GEMM_MAX_TILE];                                                              \
        for (int64_t jc = 0; jc < N; jc += kn->nc) {                                                        \
            const int64_t nc = N - jc < kn->nc ? N - jc : kn->nc, pn = (nc + NR - 1) / NR;                  \
            for (int64_t pc = 0; pc < K; pc += jb->kcb) {                                                   \
                const int64_t kc = K - pc < jb->kcb ? K - pc : jb->kcb;                                     \
                /* the team packs the B block: panels q0..q1 are this thread's share */                     \
                const int64_t q0 = pn * tid / nthr, q1 = pn * (tid + 1) / nthr;                             \
                for (int64_t q = q0; q < q1; q++) {                                                         \
                    const int64_t j0 = jc + q * NR, w = nc - q * NR < NR ? nc - q * NR : NR;                \
                    const T *bs = jb->tb ? jb->B + j0 * jb->ldb + pc : jb->B + pc * jb->ldb + j0;           \
                    kn->pack_b(jb->tb, kc, w, bs, jb->ldb, jb->bbuf + q * NR * jb->kcb);                    \
                }                                                                                           \
                /* one row group: the panels a member packs are the ones it reads (q = r), no wait;     \
                 * panel q sits at q NR KC whatever this block's kc, so no member's next block       \
                 * overwrites another's panels */                                                   \
                if (tm > 1) pg__team_sync(team);                                                            \
                const bool beta = jb->acc || pc > 0, last = jb->epi && pc + kc >= K;                        \
                const int64_t r0 = pn * tj / tn, r1 = pn * (tj + 1) / tn;                                   \
                for (int64_t ic = m0; ic < m1; ic += mcb) {                                                 \
                    const int64_t mc = m1 - ic < mcb ? m1 - ic : mcb;                                       \
                    const T *as = jb->ta ? jb->A + pc * jb->lda + ic : jb->A + ic * jb->lda + pc;           \
                    kn->pack_a(jb->ta, mc, kc, as, jb->lda, abuf);                                          \
                    for (int64_t jr = r0; jr < r1; jr++) {                                                  \
                        const int64_t col = jc + jr * NR, n = nc - jr * NR < NR ? nc - jr * NR : NR;        \
                        const T *bp = jb->bbuf + jr * NR * jb->kcb;                                         \
                        for (int64_t ir = 0; ir < mc; ir += MR) {                                           \
                            const int64_t m = mc - ir < MR ? mc - ir : MR;                                  \
                            T *cp = jb->C + (ic + ir) * jb->ldc + col;                                      \
                            const T *ap = abuf + ir * kc;                                                   \
                            PG_GEMM_TILE(kn, kc, ap, bp, cp, jb->ldc, beta, m, n, MR, NR, edge);            \
                            if (last) jb->epi->fn(jb->epi->ctx, ic + ir, col, m, n); /* the tile, in L1 */  \
                        }                                                                                   \
                    }                                                                                       \
                }                                                                                           \
                /* the B block is repacked next; with one row group only before another N block, whose \
                 * shares of the panels may differ */                                                \
                if (tm > 1 || (pc + kc >= K && jc + nc < N)) pg__team_sync(team);                          \
            }                                                                                               \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    /* the column chunks: every member packs all of op(A) once, into its own buffer, then takes    \
     * chunks of C's columns in turn, packing their B panels itself: nothing is shared but the     \
     * counter, so no member waits for another (a worker the machine has not scheduled delays     \
     * nobody) and no two members write the same cache line of a buffer */                        \
    typedef struct pg_gemm_cols_##SUF {                                                                     \
        const pg_gemm_kern_##SUF *kn;                                                                       \
        bool ta, tb, acc;                                                                                   \
        int64_t M, N, K, lda, ldb, ldc;                                                                     \
        const T *A, *B;                                                                                     \
        T *C;                                                                                               \
        int64_t kcb;     /* K block, as in the blocked driver */                                            \
        int64_t step;    /* columns per chunk: whole NR panels */                                           \
        int64_t nchunks; /* the last chunk takes the remainder */                                           \
        T *buf;          /* [nthr][stride]: op(A) packed [K blocks][M panels][kc][MR], then [kcb][step] */  \
        int64_t stride, apack;                                                                              \
        const pg_gemm_epi *epi;                                                                             \
        atomic_llong next;                                                                                  \
    } pg_gemm_cols_##SUF;                                                                                   \
                                                                                                            \
    static void pg__gemm_cols_job_##SUF(void *ctx, const pg_team *team) {                                   \
        pg_gemm_cols_##SUF *s = ctx;                                                                        \
        const pg_gemm_kern_##SUF *kn = s->kn;                                                               \
        const int64_t MR = kn->mr, NR = kn->nr, M = s->M, N = s->N, K = s->K, ldc = s->ldc;                 \
        const int64_t mp = (M + MR - 1) / MR * MR;                                                          \
        T *abuf = s->buf + team->tid * s->stride, *bbuf = abuf + s->apack;                                  \
        _Alignas(64) T edge[PG_GEMM_MAX_TILE];                                                              \
        bool packed = false;                                                                                \
        for (;;) {                                                                                          \
            const int64_t ci = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);                \
            if (ci >= s->nchunks) return;                                                                   \
            if (!packed) { /* all of op(A), K block after K block */                                        \
                for (int64_t pc = 0; pc < K; pc += s->kcb) {                                                \
                    const int64_t kc = K - pc < s->kcb ? K - pc : s->kcb;                                   \
                    kn->pack_a(s->ta, M, kc, s->ta ? s->A + pc * s->lda : s->A + pc, s->lda, abuf + pc * mp); \
                }                                                                                           \
                packed = true;                                                                              \
            }                                                                                               \
            const int64_t lo = ci * s->step, nc = ci == s->nchunks - 1 ? N - lo : s->step;                  \
            const int64_t pn = (nc + NR - 1) / NR;                                                          \
            for (int64_t pc = 0; pc < K; pc += s->kcb) {                                                    \
                const int64_t kc = K - pc < s->kcb ? K - pc : s->kcb;                                       \
                const T *bs = s->tb ? s->B + lo * s->ldb + pc : s->B + pc * s->ldb + lo;                    \
                kn->pack_b(s->tb, kc, nc, bs, s->ldb, bbuf);                                                \
                const bool beta = s->acc || pc > 0, last = s->epi && pc + kc >= K;                          \
                const T *ab = abuf + pc * mp;                                                               \
                for (int64_t jr = 0; jr < pn; jr++) {                                                       \
                    const int64_t col = lo + jr * NR, n = nc - jr * NR < NR ? nc - jr * NR : NR;            \
                    const T *bp = bbuf + jr * NR * kc;                                                      \
                    for (int64_t ir = 0; ir < M; ir += MR) {                                                \
                        const int64_t m = M - ir < MR ? M - ir : MR;                                        \
                        T *cp = s->C + ir * ldc + col;                                                      \
                        const T *ap = ab + ir * kc;                                                         \
                        PG_GEMM_TILE(kn, kc, ap, bp, cp, ldc, beta, m, n, MR, NR, edge);                    \
                        if (last) s->epi->fn(s->epi->ctx, ir, col, m, n); /* the tile, in L1 */             \
                    }                                                                                       \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    /* C (+)= op(A) op(B) by column chunks (above) when op(A), packed, fits the private L2 and      \
     * each member's columns use every packed element of A at least PG_GEMM_COLS_REUSE times;    \
     * false otherwise, or without scratch memory */                                              \
    static bool pg__gemm_cols_##SUF(const pg_gemm_kern_##SUF *kn, int nthr, bool ta, bool tb, int64_t M,    \
                                    int64_t N, int64_t K, const T *A, int64_t lda, const T *B, int64_t ldb, \
                                    T *C, int64_t ldc, bool acc, const pg_gemm_epi *epi) {                  \
        const int64_t MR = kn->mr, NR = kn->nr, mp = (M + MR - 1) / MR * MR, units = (N + NR - 1) / NR;     \
        if (nthr > PG_GEMM_COLS_THREADS || N < PG_GEMM_COLS_REUSE * nthr || units < 2 * nthr ||             \
            (double)sizeof(T) * (double)mp * (double)K > PG_GEMM_COLS_A)                                    \
            return false;                                                                                   \
        const int64_t want = (int64_t)nthr * PG_GEMM_SPLIT_CHUNKS, per = (units + want - 1) / want;         \
        const int64_t nkb = (K + kn->kc - 1) / kn->kc, kcb = (K + nkb - 1) / nkb;                           \
        const int64_t apack = (mp * K + 15) / 16 * 16, stride = apack + (kcb * 2 * per * NR + 15) / 16 * 16; \
        T *buf = pg__scratch(0, sizeof(T) * (size_t)(stride * nthr));                                       \
        if (!buf) return false;                                                                             \
        pg_gemm_cols_##SUF s = {.kn = kn, .ta = ta, .tb = tb, .acc = acc, .M = M, .N = N, .K = K,           \
                                .lda = lda, .ldb = ldb, .ldc = ldc, .A = A, .B = B, .C = C, .kcb = kcb,     \
                                .step = per * NR, .nchunks = units / per, .buf = buf, .stride = stride,     \
                                .apack = apack, .epi = epi};                                                \
        atomic_init(&s.next, 0);                                                                            \
        pg__parallel_dynamic(pg__gemm_cols_job_##SUF, &s, nthr);                                            \
        return true;                                                                                        \
    }                                                                                                       \
                                                                                                            \
    /* the split: C's columns (or rows) in chunks of whole micro-tiles, each chunk a product of its own */ \
    typedef struct pg_gemm_split_##SUF {                                                                    \
        bool ta, tb, acc, cols;                                                                             \
        int64_t M, N, K, lda, ldb, ldc, step, nchunks;                                                      \
        const T *A, *B;                                                                                     \
        T *C;                                                                                               \
        atomic_llong next;                                                                                  \
        const pg_gemm_epi *epi;                                                                             \
    } pg_gemm_split_##SUF;                                                                                  \
                                                                                                            \
    static void pg__gemm_split_job_##SUF(void *ctx, const pg_team *team) {                                  \
        (void)team;                                                                                         \
        pg_gemm_split_##SUF *s = ctx;                                                                       \
        for (;;) {                                                                                          \
            int64_t i = atomic_fetch_add_explicit(&s->next, 1, memory_order_relaxed);                       \
            if (i >= s->nchunks) return;                                                                    \
            /* the last chunk takes the remainder: no chunk is a vector or a sliver of a tile */           \
            int64_t lo = i * s->step, n = i == s->nchunks - 1 ? (s->cols ? s->N : s->M) - lo : s->step;     \
            /* inside a job: runs on this thread alone; each element is computed as it would be whole */   \
            if (s->cols)                                                                                    \
                pg__gemm_##SUF(s->ta, s->tb, s->M, n, s->K, s->A, s->lda, s->tb ? s->B + lo * s->ldb        \
                               : s->B + lo, s->ldb, s->C + lo, s->ldc, s->acc);                             \
            else                                                                                            \
                pg__gemm_##SUF(s->ta, s->tb, n, s->N, s->K, s->ta ? s->A + lo : s->A + lo * s->lda, s->lda, \
                               s->B, s->ldb, s->C + lo * s->ldc, s->ldc, s->acc);                           \
            if (s->epi) s->epi->fn(s->epi->ctx, s->cols ? 0 : lo, s->cols ? lo : 0, s->cols ? s->M : n,     \
                                   s->cols ? n : s->N);                                                     \
        }                                                                                                   \
    }                                                                                                       \
                                                                                                            \
    void pg__gemm_##SUF(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,         \
                        const T *B, int64_t ldb, T *C, int64_t ldc, bool acc) {                             \
        pg__gemm_epi_##SUF(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc, NULL);                             \
    }                                                                                                       \
                                                                                                            \
    /* the paths that do not run it per panel run the epilogue once over all of C */                      \
    void pg__gemm_epi_##SUF(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,     \
                            const T *B, int64_t ldb, T *C, int64_t ldc, bool acc, const pg_gemm_epi *epi) { \
        if (M <= 0 || N <= 0) return;                                                                       \
        if (K <= 0) {                                                                                       \
            if (!acc)                                                                                       \
                for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, sizeof(T) * (size_t)N);              \
            PG_EPI_ALL(epi);                                                                                \
            return;                                                                                         \
        }                                                                                                   \
        const pg_gemm_kern_##SUF *kn = pg__kern_##SUF(pg__gemm_kind());                                     \
        if (kn && kn->narrow && N <= kn->narrow->nr) kn = kn->narrow;                                       \
        double work = (double)M * (double)N * (double)K;                                                    \
        if (!kn || work < PG_GEMM_SMALL) {                                                                  \
            pg__gemm_naive_##SUF(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc);                             \
            PG_EPI_ALL(epi);                                                                                \
            return;                                                                                         \
        }                                                                                                   \
        if ((M == 1 || N == 1) && pg__gemv_##SUF(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc)) {           \
            PG_EPI_ALL(epi);                                                                                \
            return;                                                                                         \
        }                                                                                                   \
        int64_t tiles = ((M + kn->mr - 1) / kn->mr) * ((N + kn->nr - 1) / kn->nr);                          \
        int nthr = pg__threads_for(work < 9e18 ? (int64_t)work : INT64_MAX, (int64_t)PG_GEMM_GRAIN);        \
        if (nthr > tiles) nthr = (int)tiles;                                                                \
        if (nthr <= 1 && kn->ukr_u && !ta && !tb && K <= kn->kc && work <= PG_GEMM_DIRECT_MAX &&            \
            pg__gemm_direct_##SUF(kn, M, N, K, A, lda, B, ldb, C, ldc, acc)) {                              \
            PG_EPI_ALL(epi);                                                                                \
            return;                                                                                         \
        }                                                                                                   \
        if (nthr > 1 && work < PG_GEMM_SPLIT_MAX &&                                                         \
            pg__gemm_cols_##SUF(kn, nthr, ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc, epi))                 \
            return;                                                                                         \
        if (nthr > 1 && work < PG_GEMM_SPLIT_MAX) {                                                         \
            /* split the longer side (in whole tiles, at least 2 tiles per chunk) */                        \
            bool cols = N >= M;                                                                             \
            int64_t unit = cols ? kn->nr : kn->mr, len = cols ? N : M, units = (len + unit - 1) / unit;     \
            int64_t want = (int64_t)nthr * PG_GEMM_SPLIT_CHUNKS, per = (units + want - 1) / want;           \
            if (per < 2) per = 2;                                                                           \
            pg_gemm_split_##SUF sp = {.ta = ta, .tb = tb, .acc = acc, .cols = cols, .M = M, .N = N, .K = K, \
                                      .lda = lda, .ldb = ldb, .ldc = ldc, .step = per * unit,               \
                                      .nchunks = units / per, .A = A, .B = B, .C = C, .epi = epi};          \
            atomic_init(&sp.next, 0);                                                                       \
            if (sp.nchunks > 1) {                                                                           \
                pg__parallel_dynamic(pg__gemm_split_job_##SUF, &sp, nthr);                                  \
                return;                                                                                     \
            }                                                                                               \
        }                                                                                                   \
        const int64_t nkb = (K + kn->kc - 1) / kn->kc, kc = (K + nkb - 1) / nkb;                            \
        const int64_t ncw = ((N < kn->nc ? N : kn->nc) + kn->nr - 1) / kn->nr * kn->nr;                     \
        const int64_t mcw = ((M < kn->mc ? M : kn->mc) + kn->mr - 1) / kn->mr * kn->mr;                     \
        const int64_t bsize = (kc * ncw + 15) / 16 * 16, asize = (kc * mcw + 15) / 16 * 16;                 \
        T *buf = pg__scratch(0, sizeof(T) * (size_t)(bsize + asize * nthr));                                \
        if (!buf) {                                                                                         \
            pg__gemm_naive_##SUF(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc);                             \
            PG_EPI_ALL(epi);                                                                                \
            return;                                                                                         \
        }                                                                                                   \
        pg_gemm_job_##SUF jb = {kn,  ta, tb, acc, M, N, K, lda, ldb, ldc, A, B, C, kc, buf, buf + bsize, asize, \
                                epi};                                                                       \
        pg__parallel_team(pg__gemm_job_##SUF, &jb, nthr);                                                        \
    }

PG_GEMM_DRIVER(float, f32)
PG_GEMM_DRIVER(double, f64)

/* ======================================================================
 * Products over a B its caller packed (kernels.h): the blocked driver's
 * loops on the calling thread, minus B's packing and its N blocks. The
 * caller (conv2d's im2col) writes op(B) straight into panels instead of
 * writing a matrix that would then be copied into them.
 * ====================================================================== */

#define PG_GEMM_PACKED(T, SUF)                                                                              \
    static const pg_gemm_kern_##SUF *pg__packed_kern_##SUF(int64_t N) {                                     \
        const pg_gemm_kern_##SUF *kn = pg__kern_##SUF(pg__gemm_kind());                                     \
        return kn && kn->narrow && N <= kn->narrow->nr ? kn->narrow : kn;                                   \
    }                                                                                                       \
                                                                                                            \
    int64_t pg__gemm_panel_##SUF(int64_t N) {                                                               \
        const pg_gemm_kern_##SUF *kn = pg__packed_kern_##SUF(N);                                            \
        return kn ? kn->nr : 0;                                                                             \
    }                                                                                                       \
                                                                                                            \
    void pg__gemm_packed_##SUF(bool ta, int64_t M, int64_t N, int64_t K, const T *A, int64_t lda,           \
                               const T *Bp, int64_t nr, T *C, int64_t ldc, int64_t cw, int64_t cstep,       \
                               bool acc) {                                                                  \
        if (M <= 0 || N <= 0) return;                                                                       \
        if (cw <= 0 || cw >= N) { /* one block */                                                           \
            cw = N;                                                                                         \
            cstep = 0;                                                                                      \
        }                                                                                                   \
        const pg_gemm_kern_##SUF *kn = pg__packed_kern_##SUF(N);                                            \
        T *abuf = NULL;                                                                                     \
        int64_t MR = 1, kcb = 1, mcb = 1;                                                                   \
        if (kn && kn->nr == nr && (double)M * (double)N * (double)K >= PG_GEMM_SMALL) {                     \
            /* the blocked driver's K blocks and M blocks */                                                \
            const int64_t nkb = (K + kn->kc - 1) / kn->kc, nmb = (M + kn->mc - 1) / kn->mc;                 \
            MR = kn->mr;                                                                                    \
            kcb = (K + nkb - 1) / nkb;                                                                      \
            mcb = ((M + MR - 1) / MR + nmb - 1) / nmb * MR;                                                 \
            abuf = pg__scratch(0, sizeof(T) * (size_t)(kcb * mcb));                                         \
        }                                                                                                   \
        if (!abuf) { /* the naive kernel, a tiny product, or no memory to pack A: the sums read in place */ \
            for (int64_t i = 0; i < M; i++)                                                                 \
                for (int64_t j = 0; j < N; j++) {                                                           \
                    const T *b = Bp + j / nr * K * nr + j % nr;                                             \
                    T *c = C + i * ldc + j / cw * cstep + j % cw;                                           \
                    T sum = acc ? *c : (T)0;                                                                \
                    for (int64_t p = 0; p < K; p++)                                                         \
                        sum += (ta ? A[p * lda + i] : A[i * lda + p]) * b[p * nr];                          \
                    *c = sum;                                                                               \
                }                                                                                           \
            return;                                                                                         \
        }                                                                                                   \
        const int64_t NR = nr, pn = (N + NR - 1) / NR;                                                      \
        _Alignas(64) T edge[PG_GEMM_MAX_TILE];                                                              \
        for (int64_t pc = 0; pc < K; pc += kcb) {                                                           \
            const int64_t kc = K - pc < kcb ? K - pc : kcb;                                                 \
            const bool beta = acc || pc > 0;                                                                \
            for (int64_t ic = 0; ic < M; ic += mcb) {                                                       \
                const int64_t mc = M - ic < mcb ? M - ic : mcb;                                             \
                kn->pack_a(ta, mc, kc, ta ? A + pc * lda + ic : A + ic * lda + pc, lda, abuf);              \
                for (int64_t jr = 0; jr < pn; jr++) {                                                       \
                    const int64_t col = jr * NR, n = N - col < NR ? N - col : NR;                           \
                    const T *bp = Bp + (jr * K + pc) * NR;                                                  \
                    for (int64_t ir = 0; ir < mc; ir += MR) {                                               \
                        const int64_t m = mc - ir < MR ? mc - ir : MR;                                      \
                        T *cr = C + (ic + ir) * ldc; /* the tile's first row */                             \
                        const T *ap = abuf + ir * kc;                                                       \
                        if (n == NR && col % cw + NR <= cw) { /* inside one block */                        \
                            PG_GEMM_TILE(kn, kc, ap, bp, cr + col / cw * cstep + col % cw, ldc, beta, m, n, \
                                         MR, NR, edge);                                                     \
                            continue;                                                                       \
                        }                                                                                   \
                        int e = -1;                                                                         \
                        if (kn->ukr_e[0] && m <= kn->mre[0]) e = kn->ukr_e[1] && m <= kn->mre[1] ? 1 : 0;   \
                        if (e >= 0)                                                                         \
                            kn->ukr_e[e](kc, ap, bp, edge, NR, false);                                      \
                        else                                                                                \
                            kn->ukr(kc, ap, bp, edge, NR, false);                                           \
                        for (int64_t j = 0; j < n; j++) {                                                   \
                            T *cj = cr + (col + j) / cw * cstep + (col + j) % cw;                           \
                            for (int64_t i = 0; i < m; i++)                                                 \
                                cj[i * ldc] = beta ? cj[i * ldc] + edge[i * NR + j] : edge[i * NR + j];     \
                        }                                                                                   \
                    }                                                                                       \
                }                                                                                           \
            }                                                                                               \
        }                                                                                                   \
    }

PG_GEMM_PACKED(float, f32)
PG_GEMM_PACKED(double, f64)
