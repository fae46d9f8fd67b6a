/* kernels.h: the kernel layer, below the tape: the n-d iterator, the thread
 * pool, GEMM, the raw loops shared by the tape and the ops (kern_ewise.c:
 * fill, add-into, convert, broadcast runs; kern_reduce.c: reductions and
 * sum-to; kern_vmath.c: the transcendental functions), the per-ISA clone
 * and vectorisation annotations, and the type-generic math macros. Nothing
 * here records on the tape or calls an op. Included by internal.h after the
 * structures it works on; see csrc/README.md for the layers. */
#ifndef PG_KERNELS_H
#define PG_KERNELS_H

#include <pthread.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* Type-generic math: a float32 kernel calls the float functions. */
#define PG_EXP(v) _Generic((v), float: expf, default: exp)(v)
#define PG_EXPM1(v) _Generic((v), float: expm1f, default: expm1)(v)
#define PG_LOG(v) _Generic((v), float: logf, default: log)(v)
#define PG_SQRT(v) _Generic((v), float: sqrtf, default: sqrt)(v)
#define PG_FABS(v) _Generic((v), float: fabsf, default: fabs)(v)
#define PG_TANH(v) _Generic((v), float: tanhf, default: tanh)(v)
#define PG_SIN(v) _Generic((v), float: sinf, default: sin)(v)
#define PG_COS(v) _Generic((v), float: cosf, default: cos)(v)
#define PG_TAN(v) _Generic((v), float: tanf, default: tan)(v)
#define PG_ASIN(v) _Generic((v), float: asinf, default: asin)(v)
#define PG_ACOS(v) _Generic((v), float: acosf, default: acos)(v)
#define PG_ATAN(v) _Generic((v), float: atanf, default: atan)(v)
#define PG_SINH(v) _Generic((v), float: sinhf, default: sinh)(v)
#define PG_COSH(v) _Generic((v), float: coshf, default: cosh)(v)
#define PG_LOG1P(v) _Generic((v), float: log1pf, default: log1p)(v)
#define PG_LOG2(v) _Generic((v), float: log2f, default: log2)(v)
#define PG_LOG10(v) _Generic((v), float: log10f, default: log10)(v)
#define PG_EXP2(v) _Generic((v), float: exp2f, default: exp2)(v)
#define PG_FLOOR(v) _Generic((v), float: floorf, default: floor)(v)
#define PG_CEIL(v) _Generic((v), float: ceilf, default: ceil)(v)
#define PG_RINT(v) _Generic((v), float: rintf, default: rint)(v)
#define PG_TRUNC(v) _Generic((v), float: truncf, default: trunc)(v)
#define PG_ERF(v) _Generic((v), float: erff, default: erf)(v)
#define PG_POW(v, e) _Generic((v), float: powf, default: pow)((v), (e))
#define PG_ATAN2(a, b) _Generic((a), float: atan2f, default: atan2)((a), (b))
#define PG_FMOD(a, b) _Generic((a), float: fmodf, default: fmod)((a), (b))

/* c ? a : b with a and b evaluated whatever c (function arguments): a select the compiler can vectorise
 * where `c ? a : f(x)` would keep a branch (it will not compute a float operation the C code skips) */
static inline float pg__sel_f32(int c, float a, float b) { return c ? a : b; }
static inline double pg__sel_f64(int c, double a, double b) { return c ? a : b; }
#define PG_SEL(c, a, b) _Generic((a), float: pg__sel_f32, default: pg__sel_f64)((c), (a), (b))

/* numpy's floor division and remainder (npy_divmod): the remainder takes the
 * divisor's sign, the quotient is floor((a - mod) / b) rounded to the nearest
 * integer, so that b * q + mod == a as closely as floats allow */
#define PG_DIVMOD(T, SUF, FMOD, FLOOR, COPYSIGN)                                \
    static inline T pg__divmod_##SUF(T a, T b, T *modp) {                       \
        T mod = FMOD(a, b);                                                     \
        if (!b) {                                                               \
            *modp = mod;                                                        \
            return a / b;                                                       \
        }                                                                       \
        T div = (a - mod) / b;                                                  \
        if (mod) {                                                              \
            if ((b < 0) != (mod < 0)) {                                         \
                mod += b;                                                       \
                div -= (T)1;                                                    \
            }                                                                   \
        } else {                                                                \
            mod = COPYSIGN((T)0, b);                                            \
        }                                                                       \
        T q;                                                                    \
        if (div) {                                                              \
            q = FLOOR(div);                                                     \
            if (div - q > (T)0.5) q += (T)1;                                    \
        } else {                                                                \
            q = COPYSIGN((T)0, a / b);                                          \
        }                                                                       \
        *modp = mod;                                                            \
        return q;                                                               \
    }
PG_DIVMOD(float, f32, fmodf, floorf, copysignf)
PG_DIVMOD(double, f64, fmod, floor, copysign)
#undef PG_DIVMOD
/* The dropout mask's counter-based hash (ops_dropout.c; the fused attention's dropout uses it too):
 * hash(seed, i) for i = hi·2³² + lo is mix(mix(lo ^ k0) ^ c), c = k1 + hi · 0x9e3779b9, seed = k1·2³² + k0;
 * mix is a 32-bit xor-shift-multiply finaliser (full avalanche, a bijection). Index i is kept when
 * hash >= ⌊p · 2³²⌋. The reference engine reimplements it bit for bit. */
static inline uint32_t pg__mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x21f0aaadu;
    x ^= x >> 15;
    x *= 0x735a2d97u;
    x ^= x >> 15;
    return x;
}
static inline uint32_t pg__dropout_hash(uint32_t k0, uint32_t c, uint32_t lo) {
    return pg__mix32(pg__mix32(lo ^ k0) ^ c);
}
/* The random ops' counter-based generator (ops_random.c: rand, randn, bernoulli): 64 bits for
 * counter c under a seed, SplitMix64's output c:
 *   bits(seed, c) = fmix64(key + (c + 1) · 0x9e3779b97f4a7c15),  key = fmix64(seed ^ 0x6a09e667f3bcc909),
 * fmix64 its xor-shift-multiply finaliser (a bijection of 64 bits). Counters are flat indices (rand,
 * bernoulli) or 2k and 2k + 1 for the pair k of randn's Box-Muller. The reference engine
 * reimplements it bit for bit. */
static inline uint64_t pg__fmix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static inline uint64_t pg__rng_key(uint64_t seed) { return pg__fmix64(seed ^ 0x6a09e667f3bcc909u); }
static inline uint64_t pg__rng_bits(uint64_t key, uint64_t c) {
    return pg__fmix64(key + (c + 1) * 0x9e3779b97f4a7c15u);
}

static inline float pg__floordiv_f32(float a, float b) { float m; return pg__divmod_f32(a, b, &m); }
static inline double pg__floordiv_f64(double a, double b) { double m; return pg__divmod_f64(a, b, &m); }
static inline float pg__remainder_f32(float a, float b) { float m; (void)pg__divmod_f32(a, b, &m); return m; }
static inline double pg__remainder_f64(double a, double b) { double m; (void)pg__divmod_f64(a, b, &m); return m; }
#define PG_FLOORDIV(a, b) _Generic((a), float: pg__floordiv_f32, default: pg__floordiv_f64)((a), (b))
#define PG_REMAINDER(a, b) _Generic((a), float: pg__remainder_f32, default: pg__remainder_f64)((a), (b))

/* nditer.c */
/* row-major element strides of a contiguous shape */
void pg__strides(int ndim, const int64_t *shape, int64_t *strides);
#define PG_NDITER_MAX_OPS 5
typedef struct pg_nditer {
    int ndim;                                       /* after collapsing */
    int nops;
    bool empty;                                     /* some dim is 0: nothing to visit */
    int64_t shape[PG_MAX_DIMS];                     /* [ndim] */
    int64_t st[PG_NDITER_MAX_OPS][PG_MAX_DIMS];     /* element strides, [nops][ndim] */
} pg_nditer;
/* one innermost row: ptr[k] points at operand k's first element, st[k] is its
 * element stride along the row, n the row length. A row kernel writes only
 * operand 0 and only reads ctx: pg__nditer_run may call it from several
 * threads at once on disjoint parts of operand 0. */
typedef void (*pg_row_fn)(char *const *ptr, const int64_t *st, int64_t n, void *ctx);
void pg__bcast_strides(const pg_meta *m, int ndim, const int64_t *shape, int64_t *st);
void pg__nditer_init(pg_nditer *it, int ndim, const int64_t *shape, int nops, int64_t st[][PG_MAX_DIMS]);
void pg__nditer_run(const pg_nditer *it, char *const *base, const size_t *elsize, pg_row_fn fn, void *ctx);
/* Elements per thread below which elementwise work stays on one thread. */
#define PG_NDITER_GRAIN 32768
/* fn(ctx, lo, hi) over [0, n) in disjoint ranges whose bounds are multiples
 * of align (or n), on several threads when n is at least 2 grains */
typedef void (*pg_range_fn)(void *ctx, int64_t lo, int64_t hi);
void pg__parallel_range(int64_t n, int64_t align, int64_t grain, pg_range_fn fn, void *ctx);

/* Memory-bound loops (elementwise, column sums, optimizer steps) compiled
 * also for AVX2 and AVX-512 and picked at load time by the CPU's features:
 * the baseline build is SSE2. The same IEEE operations in the same order, so
 * the same results (no FMA contraction). Not under ThreadSanitizer, whose
 * runtime is not ready when the loader runs the resolvers. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && \
    (!defined(__clang__) || __clang_major__ >= 14) && !defined(__SANITIZE_THREAD__)
#define PG_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PG_CLONES
#endif

/* Loop annotation for elementwise loops whose operands are either the same
 * buffer or disjoint (tensors never partly overlap): lets the compiler
 * vectorise without a run-time overlap check. */
#if defined(__clang__)
#define PG_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define PG_IVDEP _Pragma("GCC ivdep")
#else
#define PG_IVDEP
#endif

/* gemm.c: the naive GEMM, kept as the fallback and the test oracle, and the packed, blocked, threaded GEMM matmul runs on (same contract).
 *   C[M,N] = op(A)[M,K] op(B)[K,N]  (+ C[M,N] when acc)
 *   op(A)(i,p) = ta ? A[p*lda + i] : A[i*lda + p]
 *   op(B)(p,j) = tb ? B[j*ldb + p] : B[p*ldb + j]
 * Never fails: without memory for packing it runs the naive kernel. */
void pg__gemm_naive_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                        const float *B, int64_t ldb, float *C, int64_t ldc, bool acc);
void pg__gemm_naive_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                        const double *B, int64_t ldb, double *C, int64_t ldc, bool acc);
void pg__gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B,
                  int64_t ldb, float *C, int64_t ldc, bool acc);
void pg__gemm_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                  const double *B, int64_t ldb, double *C, int64_t ldc, bool acc);
/* The same product with an epilogue: fn(ctx, i0, j0, m, n) runs once on each block C[i0:+m, j0:+n]
 * of a partition of C, after those elements are final (every K block added), on the thread that
 * computed them, while they are in cache (the blocked driver calls it per micro-tile). It may
 * rewrite the block in place or read it into other buffers; blocks of one product may run on
 * different threads at once, never overlapping. C's bits are those of pg__gemm_* before fn runs. */
typedef struct pg_gemm_epi {
    void (*fn)(void *ctx, int64_t i0, int64_t j0, int64_t m, int64_t n);
    void *ctx;
} pg_gemm_epi;
void pg__gemm_epi_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                      const float *B, int64_t ldb, float *C, int64_t ldc, bool acc, const pg_gemm_epi *epi);
void pg__gemm_epi_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda,
                      const double *B, int64_t ldb, double *C, int64_t ldc, bool acc, const pg_gemm_epi *epi);
/* The same product over a B its caller has packed (conv2d's im2col writes the panels itself), on the
 * calling thread only:  C[M,N] = op(A)[M,K] B[K,N]  (+ C[M,N] when acc), Bp holding B in panels of nr
 * columns, 64-byte aligned: B(p, j) = Bp[((j / nr)*K + p)*nr + j % nr], the columns past N zero.
 * nr = pg__gemm_panel_*(N) is the panel width of the kernel products of N columns run on; 0 means
 * the naive kernel is chosen (use pg__gemm_*). Any nr >= 1 is accepted: when it is not the kernel's
 * (the kernel was changed in between) or the product is tiny, the sums are read from Bp in place.
 * C's columns lie in blocks of cw: C(i, j) at C[i*ldc + (j / cw)*cstep + j % cw] (cw <= 0 or >= N:
 * one block, C(i, j) = C[i*ldc + j]), e.g. the images of a batch side by side written into their
 * own rows of an NCHW output; tiles run straight into C when cw is a multiple of nr. */
int64_t pg__gemm_panel_f32(int64_t N);
int64_t pg__gemm_panel_f64(int64_t N);
void pg__gemm_packed_f32(bool ta, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *Bp,
                         int64_t nr, float *C, int64_t ldc, int64_t cw, int64_t cstep, bool acc);
void pg__gemm_packed_f64(bool ta, int64_t M, int64_t N, int64_t K, const double *A, int64_t lda, const double *Bp,
                         int64_t nr, double *C, int64_t ldc, int64_t cw, int64_t cstep, bool acc);

/* threads.c: the host's lock (the GIL, through pg_set_blocking_hooks) let go
 * around long work on the calling thread, pooled or not: pg__unlock_host(work)
 * lets it go when work (elements, or an equivalent count) is at least
 * PG_UNLOCK_MIN, the hooks are set, and nothing on this thread has let it go
 * already (never on a worker); pg__relock_host takes it back. Between the two
 * the code must not call back into the host. pg__parallel does this itself, as
 * do pg__parallel_range and pg__nditer_run when the work is large but runs on
 * one thread. */
#define PG_UNLOCK_MIN (2 * PG_NDITER_GRAIN)
typedef struct pg_unlocked {
    void *token;
    pg_lock_fn lock; /* NULL: nothing was let go */
} pg_unlocked;
pg_unlocked pg__unlock_host(int64_t work);
void pg__relock_host(pg_unlocked u);

/* threads.c: a persistent worker pool.
 * pg__parallel: a job of nthr parts, fn(ctx, {part, nthr}) once per part, each
 * part run by whichever member (the calling thread or a worker) takes it first:
 * the caller never waits for a worker that has not started (asleep, or its
 * core taken by other work), it runs the parts left itself. Run alone (nthr 1
 * aside: from inside a job, or while another thread's job holds the pool) it
 * runs every part in order on the caller, so a part's result never depends on
 * who ran it. fn must not call pg__team_sync.
 * pg__parallel_team: nthr members at once, member tid on its own thread (tid 0
 * the caller), which may wait for each other (pg__team_sync); run alone it is
 * {0, 1}, a team of one. */
typedef struct pg_team {
    int tid;  /* 0 .. nthr-1 */
    int nthr; /* team size */
} pg_team;
typedef void (*pg_job_fn)(void *ctx, const pg_team *team);
void pg__parallel(pg_job_fn fn, void *ctx, int nthr);
void pg__parallel_team(pg_job_fn fn, void *ctx, int nthr);
/* the same for a job whose members take their work from a shared counter and never wait for each
 * other (no pg__team_sync): workers that have not joined when the caller has finished its own part
 * stay out, so a worker the machine has not scheduled delays nobody */
void pg__parallel_dynamic(pg_job_fn fn, void *ctx, int nthr);
void pg__team_sync(const pg_team *team); /* barrier of the team; no-op for one thread */
/* threads worth using for `work` units when one thread should get at least
 * `grain` of them (at most pg_get_num_threads()) */
int pg__threads_for(int64_t work, int64_t grain);
/* Blocking on an engine lock (or its condition variable) after letting the
 * host's lock (the GIL, pg_set_blocking_hooks) go, taken back before return;
 * an uncontended lock costs one trylock. */
void pg__mutex_lock(pthread_mutex_t *m);
void pg__cond_wait(pthread_cond_t *c, pthread_mutex_t *m);
/* per-thread cached buffer, 64-byte aligned, at least nbytes; valid until the
 * next call with the same slot on this thread; NULL without memory */
#define PG_SCRATCH_SLOTS 2
void *pg__scratch(int slot, size_t nbytes);

/* kern_ewise.c: raw elementwise loops shared by the tape (gradient
 * accumulation), tensor creation and the ops. No checks, no recording. */
/* out's shape from broadcasting in[0..n_in) (numpy rules); fails naming op */
pg_status pg__broadcast_shapes(const char *op, pg_meta *out, pg_tensor *const *in, int n_in);
void pg__add_into(pg_tensor *dst, const pg_tensor *src); /* dst += src, same shape and dtype */
void pg__fill(pg_tensor *t, double value);                /* no version bump */
void pg__fill_int(pg_tensor *t, int64_t value);           /* exact for integer tensors */
/* dst[0:n] = (dt) src[0:n], on several threads when large */
void pg__convert(void *dst, pg_dtype dt, const void *src, pg_dtype st, int64_t n);
/* d[0, n) = s[0, n), n bytes, with streaming stores where the CPU has them (x86-64: whole lines written
 * without first reading them, a third less memory traffic for a result that leaves the caches anyway;
 * AVX-512's, a line a store, where available, else SSE2's); memcpy elsewhere. d and s aligned to their
 * element (4 or 8 bytes). pg__stream_fence orders the streamed stores before another thread's reads (call
 * it before a job returns to the pool's join). PG_STREAM_STORES: 1 where they stream. */
void pg__stream_copy(void *d, const void *s, size_t n);
void pg__stream_fence(void);
#if defined(__GNUC__) && defined(__x86_64__) && defined(__SSE2__)
#define PG_STREAM_STORES 1
#else
#define PG_STREAM_STORES 0
#endif
/* Runs a row kernel over up to 4 operands broadcast to shape_of's shape.
 * Operand 0 is res, contiguous, written; ops[0..nops) are read. */
void pg__ew_run(pg_tensor *res, const pg_meta *shape_of, const pg_tensor *const *ops, int nops, pg_row_fn fn,
                void *ctx);

/* kern_vmath.c: exp, log, tanh, sigmoid, sin, cos, gelu (exact) and gelu's
 * derivative, erf and erf's derivative over arrays, with
 * explicit SIMD (AVX-512, AVX2+FMA) picked at run time and libm loops as the
 * fallback (pg_set_vmath_kernel forces one). o[0:n] = f(x[0:n]), or, when g
 * is not NULL, g[0:n] * scale * f(x[0:n]) (a backward's local derivative
 * times the upstream gradient); o may be x or g itself. Within 2 ulp
 * (float32) and 4 ulp (float64) of the correctly rounded result, with libm's
 * special values. No threads: callers split the work. */
enum { PG_VM_EXP, PG_VM_LOG, PG_VM_TANH, PG_VM_SIGMOID, PG_VM_SIN, PG_VM_COS, PG_VM_GELU, PG_VM_GELU_GRAD,
       PG_VM_ERF, PG_VM_ERF_GRAD, PG_VM_COUNT };
void pg__vm_f64(int f, double *o, const double *g, const double *x, int64_t n, double scale);
void pg__vm_f32(int f, float *o, const float *g, const float *x, int64_t n, double scale);

/* kern_reduce.c: reductions over a set of axes (bit d of axes: dim d) */
/* the flat index of a float tensor's first value outside [0, 1] (or NaN), -1 when none */
int64_t pg__outside_unit(const pg_tensor *t);
/* the flat index of a tensor's first NaN or infinity, -1 when none (and for integer and bool tensors) */
int64_t pg__first_nonfinite(const pg_tensor *t);
enum { PG_R_SUM, PG_R_MAX, PG_R_MIN, PG_R_NORM2 }; /* PG_R_NORM2: √Σ x², float (pg__reduce_into) */
/* the extreme of a, x[0], ..., x[n-1] taken in order by the rule a = v when v > a (max; min: v < a) or v
 * is NaN: numpy's rule, the last NaN kept, of +0 and -0 the first met; vectorised */
float pg__max_contig_f32(const float *x, int64_t n, float a);
float pg__min_contig_f32(const float *x, int64_t n, float a);
double pg__max_contig_f64(const double *x, int64_t n, double a);
double pg__min_contig_f64(const double *x, int64_t n, double a);
/* Σ x[0:n) in double: 16 lanes (lane l adds x[l], x[l + 16], ...) added pairwise, then the tail */
double pg__sum_contig_f32(const float *x, int64_t n);
double pg__sum_contig_f64(const double *x, int64_t n);
/* Σ x[0:n)² in double, in the same order (a float32 element's square is exact in double) */
double pg__sumsq_contig_f32(const float *x, int64_t n);
double pg__sumsq_contig_f64(const double *x, int64_t n);
/* A reduction of n elements in fixed pieces: piece c is [c·4096, (c+1)·4096) ∩ [0, n), and
 * pg__run_pieces sets part[c] = fn(ctx, lo, hi) for each (on several threads when n is large);
 * combined in piece order by the caller, the result does not depend on the number of threads.
 * pg__sum_pieces adds them (in double: *sum); op names the caller in an out-of-memory error. */
typedef double (*pg_piece_fn)(void *ctx, int64_t lo, int64_t hi);
int64_t pg__piece_count(int64_t n);
void pg__run_pieces(int64_t n, pg_piece_fn fn, void *ctx, double *part); /* part: [pg__piece_count(n)] */
pg_status pg__sum_pieces(const char *op, int64_t n, pg_piece_fn fn, void *ctx, double *sum);
/* Σ e^(x_j - m) over x[0:n) in double, e^(x_j - m) also stored into e[0:n) when e is not NULL (softmax,
 * cross_entropy): vector exp in chunks, each summed as pg__sum_contig, in order */
double pg__expsum_f32(const float *x, int64_t n, float m, float *e);
double pg__expsum_f64(const double *x, int64_t n, double m, double *e);
/* short rows, several at once: rows [0, rows) of n contiguous elements of x; m[r] the row's maximum (as
 * pg__max_contig's, then 0 where -inf, and where +inf too with both_inf), e[r n + j] = e^(x - m[r]) by one
 * vector exp, s[r] = Σ_j e in double, in order */
#define PG_ROWS_EXPSUM_MAX 1024 /* rows · n at most, by the callers' buffers */
void pg__rows_expsum_f32(const float *x, int64_t rows, int64_t n, bool both_inf, float *m, double *s, float *e);
void pg__rows_expsum_f64(const double *x, int64_t rows, int64_t n, bool both_inf, double *m, double *s, double *e);
/* the reduced tensor's shape: keepdims keeps reduced dims as 1 */
void pg__reduced_meta(pg_meta *out, const pg_meta *x, unsigned axes, bool keepdims);
int64_t pg__reduced_count(const pg_meta *x, unsigned axes); /* elements folded into each result */
/* element strides of the kept-dims shape, 0 on reduced dims: where x's element i lands */
void pg__reduced_strides(const pg_meta *x, unsigned axes, int64_t *st);
/* Runs a row over x's index space with operand 0 (acc) laid out as the
 * reduced tensor (reduced dims stride 0), and operands 1.. (ops[0..nops)) in
 * x's layout, or in the reduced one where reduced_layout[k]. */
void pg__reduce_run(const pg_meta *xm, unsigned axes, char *acc, size_t acc_es, int nops, char *const *ops,
                    const size_t *es, const bool *reduced_layout, pg_row_fn fn, void *ctx);
/* out (already shaped) = reduction (kind: PG_R_*) of x over axes; mean divides sums by the count.
 * PG_R_NORM2 (float x): √Σ x² with the sum in double, its root taken before rounding to x's dtype (a
 * float32 norm neither overflows nor underflows); float64 sums out of the squares' safe range (infinite,
 * or below 2^-960) are taken again scaled by the largest |x|, so they do not either. */
pg_status pg__reduce_into(pg_tensor *out, const pg_tensor *x, unsigned axes, int kind, bool mean);
/* the same for bool and integer x (sum, max, min; out is int64 for sums, x's
 * dtype for extremes), computed in int64 with wrap-around */
pg_status pg__reduce_int_into(pg_tensor *out, const pg_tensor *x, unsigned axes, int kind);
/* out = g (a broadcast result's gradient) summed back to out's shape over the
 * dims broadcasting added or stretched; not recorded (pg__sum_to allocates out) */
pg_status pg__sum_into(pg_tensor *out, const pg_tensor *g);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif /* PG_KERNELS_H */
