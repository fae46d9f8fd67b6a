/* optim.c: fused optimizer updates (SGD with momentum and Nesterov, AdaGrad,
 * RMSProp, Adam and AdamW, Adamax, NAdam, RAdam, Adadelta, Rprop), one pass
 * over a parameter's buffer each, with PyTorch's update rules. They change param and its state in place, bump
 * param's version, and are never recorded on the tape: they are not ops.
 *
 * Every kernel reads float32 or float64 and computes in double precision
 * (a float32 parameter or state value is rounded once, when stored). Each
 * formula is evaluated in the order of its comment, which is the order the
 * reference (pygrad/reference/optim.py, pygrad/_optim_rules.py) and PyTorch
 * use. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* sqrt (and sqrtf) as functions without side effects. C's sqrt may set errno (a domain
 * error, for x < 0), so GCC keeps each call a call and will not vectorise a
 * loop holding one, whatever -fno-math-errno says in a function's optimize
 * attribute (GCC 12). Nothing here reads errno; with this declaration the
 * loops below take the vector square root, which is IEEE's correctly rounded
 * sqrt as the scalar one is: the results do not change. */
#if defined(__GNUC__)
extern double sqrt(double) __attribute__((const));
extern float sqrtf(float) __attribute__((const));
#endif

/* ---- argument checks ---- */

static pg_status pg__check_param(const char *op, const pg_tensor *param, const pg_tensor *grad) {
    if (pg__check_float(op, param)) return pg_last_status();
    if (!grad) return pg__fail(PG_ERR_VALUE, "%s: got a NULL gradient", op);
    if (grad->dtype != param->dtype)
        return pg__fail(PG_ERR_TYPE, "%s: the gradient is %s but the parameter is %s", op,
                        pg__dtype_name(grad->dtype), pg__dtype_name(param->dtype));
    if (grad->ndim != param->ndim || memcmp(grad->shape, param->shape, sizeof(int64_t) * (size_t)param->ndim)) {
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "%s: the gradient has shape %s but the parameter has shape %s", op,
                        pg__shape_str(grad->ndim, grad->shape, b1, sizeof b1),
                        pg__shape_str(param->ndim, param->shape, b2, sizeof b2));
    }
    return PG_OK;
}

/* A state buffer the update needs: present, of param's dtype and shape. */
static pg_status pg__check_state(const char *op, const char *what, const pg_tensor *param, const pg_tensor *s) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (!s) return pg__fail(PG_ERR_VALUE, "%s: the %s buffer is NULL but the settings need it", op, what);
    if (s->dtype != param->dtype)
        return pg__fail(PG_ERR_TYPE, "%s: the %s buffer is %s but the parameter is %s", op, what,
                        pg__dtype_name(s->dtype), pg__dtype_name(param->dtype));
    if (s->ndim != param->ndim || memcmp(s->shape, param->shape, sizeof(int64_t) * (size_t)param->ndim))
        return pg__fail(PG_ERR_SHAPE, "%s: the %s buffer has shape %s but the parameter has shape %s", op, what,
                        pg__shape_str(s->ndim, s->shape, b1, sizeof b1),
                        pg__shape_str(param->ndim, param->shape, b2, sizeof b2));
    return PG_OK;
}

/* v >= lo, and not NaN */
static pg_status pg__check_min(const char *op, const char *what, double v, double lo) {
    if (!(v >= lo)) return pg__fail(PG_ERR_VALUE, "%s: invalid %s %g (must be >= %g)", op, what, v, lo);
    return PG_OK;
}

static pg_status pg__check_step(const char *op, int64_t step) {
    if (step < 1) return pg__fail(PG_ERR_VALUE, "%s: invalid step %lld (steps count from 1)", op, (long long)step);
    return PG_OK;
}

static pg_status pg__check_betas(const char *op, double beta1, double beta2) {
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
        return pg__fail(PG_ERR_VALUE, "%s: invalid betas (%g, %g) (each must be in [0, 1))", op, beta1, beta2);
    return PG_OK;
}

/* ---- running an update ----
 * Each update is one typed loop per dtype over elements [lo, hi) (its
 * job struct holds the buffers and the loop-invariant scalars), run by
 * pg__parallel_range: each element is independent, so any split between
 * threads, and the PG_CLONES builds, give the same results. Every stored
 * value is read back rounded to the buffer's type T. */

/* The tail every entry point shares, once its arguments are checked and its
 * job filled: record the update for pygrad.compile (tensors t and scalars s,
 * as the replay (program.c) hands them back to the entry point), run the
 * loop of param's dtype over its elements, bump its version. */
static pg_status pg__opt_run(int kind, pg_tensor *const *t, const double *s, void *job, pg_range_fn f32,
                             pg_range_fn f64) {
    pg_tensor *param = t[0];
    if (pg_tls.recorder) pg_tls.recorder->ops->optim(pg_tls.recorder, kind, t, s);
    pg__parallel_range(param->numel, 64, PG_NDITER_GRAIN, param->dtype == PG_DTYPE_F64 ? f64 : f32, job);
    atomic_fetch_add(&param->storage->version, 1);
    return PG_OK;
}
/* the recorded tensors and scalars (padded with NULL and 0), as pg__opt_run's arguments */
#define PG_OPT_T(...) ((pg_tensor *[PG_REC_MAX_T]){__VA_ARGS__})
#define PG_OPT_S(...) ((double[PG_REC_MAX_S]){__VA_ARGS__})

/* The gradient as the rules start from it: negated (maximize), then with
 * weight decay added (L2) or p scaled by decay (decoupled); p is rounded to T
 * after the decoupled scaling, as the parameter would store it. Written as
 * selects on loop-invariant flags (the multiplication by +-1 is exact), so
 * that the loops vectorise. */
#define PG_OPT_GRAD(T, p, g, j)                                           \
    do {                                                                  \
        g = (j)->sign * g;                                                \
        g = (j)->l2 ? g + (j)->wd * p : g;                                \
        p = (j)->decoupled ? (double)(T)(p * (j)->decay) : p;             \
    } while (0)
/* the job fields PG_OPT_GRAD reads, set by pg__opt_grad_init */
#define PG_OPT_GRAD_FIELDS \
    double sign, wd, decay; \
    int l2, decoupled
#define pg__opt_grad_init(j, lr, weight_decay, decoupled_wd, maximize)   \
    do {                                                                  \
        (j)->sign = (maximize) ? -1.0 : 1.0;                              \
        (j)->wd = (weight_decay);                                         \
        (j)->decay = 1.0 - (lr) * (weight_decay);                         \
        (j)->l2 = (weight_decay) != 0 && !(decoupled_wd);                 \
        (j)->decoupled = (weight_decay) != 0 && (decoupled_wd);           \
    } while (0)

/* The update loops evaluate both sides of their selects. Without the
 * assumption that a floating-point exception may trap (no loop reads the
 * exception flags, and no value changes), GCC if-converts them; with sqrt
 * declared free of side effects (above) every loop vectorises, and PG_CLONES
 * builds each for AVX2 and AVX-512. A division stays a division, or becomes
 * pg__div_inv where that gives its bits (never a product by a reciprocal
 * alone), so the results equal the reference's. */
#if defined(__GNUC__) && !defined(__clang__)
#define PG_OPT_LOOP __attribute__((optimize("no-trapping-math")))
#else
#define PG_OPT_LOOP
#endif

/* the first operand when it is larger, or NaN (torch.maximum propagates NaN) */
PG_OPT_LOOP static inline double pg__max_nan(double a, double b) { return (isnan(a) | (a > b)) ? a : b; }

/* start + w (end - start), in PyTorch's two-sided form (exact at w = 0 and w = 1); of the loops'
 * options, so that it is inlined into them */
PG_OPT_LOOP static inline double pg__lerp_v(double start, double end, double w) {
    return w < 0.5 ? start + w * (end - start) : end - (end - start) * (1.0 - w);
}

/* a / b for a divisor b fixed over the loop, without the divider (which
 * bounds these loops), from y = 1 / b divided once: q0 = a y is within two
 * ulps of a / b, one correction q1 = q0 + (a - b q0) y brings it within one,
 * and by Markstein's theorem (y within half an ulp of 1 / b, q1 within one
 * ulp of a / b) q1 + (a - b q1) y, each step one fused multiply-add, is a / b
 * correctly rounded: the bits of the division. The theorem asks for no
 * overflow or underflow on the way, which the callers' ranges give (each
 * says why); a = +-0, inf and NaN take q0, which is then a / b. (GCC 12
 * does not vectorise these loops in a clone for AVX2 with FMA under the
 * loops' options, so only AVX-512 has them: PG_FMA_CLONES below.) */
PG_OPT_LOOP static inline double pg__div_inv(double a, double b, double y) {
    double q0 = a * y;
    double q1 = fma(fma(-q0, b, a), y, q0);
    double q2 = fma(fma(-q1, b, a), y, q1);
    return (a == 0) | !isfinite(a) ? q0 : q2;
}
#define PG_DIV_PLAIN(a, b, y) ((a) / (b))
#define PG_DIV_FMA(a, b, y) pg__div_inv(a, b, y)

/* sqrt(x) for x a float32 value (held as a double), correctly rounded to
 * double, without the double divider: from the float square root g ~ sqrt(x)
 * and h ~ 1 / (2 g) (float operations, several times cheaper), a Newton step
 * g + (x - g^2) h, one for h (h + 2h (1/2 - g h)), and a last g + (x - g^2) h,
 * each a fused multiply-add. Checked against sqrt for each of the 2^32 float32
 * bit patterns (every one equal); +-0, inf and NaN take the float result.
 * It shortens AdaGrad's and RMSProp's loops (about 12%), not Adam's or
 * RAdam's, whose multiply-adds then bound them. */
PG_OPT_LOOP static inline double pg__sqrt_f32(double x) {
    float xf = (float)x, sf = sqrtf(xf), hf = 0.5f / sf;
    double g = sf, h = hf;
    g = fma(fma(-g, g, x), h, g);
    h = fma(h + h, fma(-g, h, 0.5), h);
    g = fma(fma(-g, g, x), h, g);
    return (xf == 0) | !isfinite(x) ? (double)sf : g;
}
#define PG_SQRT_F32(x) pg__sqrt_f32(x)

/* The loops that use pg__div_inv or pg__sqrt_f32 (suffix _fma) are built for
 * AVX-512 (whose FMA they need; the default clone is never chosen) and run
 * where PG_FMA_LOOPS(); elsewhere their twins with sqrt and the division. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && \
    (!defined(__clang__) || __clang_major__ >= 14) && !defined(__SANITIZE_THREAD__)
#define PG_FMA_CLONES __attribute__((target_clones("avx512f", "default")))
#define PG_FMA_LOOPS() __builtin_cpu_supports("avx512f")
#else
#define PG_FMA_CLONES
#define PG_FMA_LOOPS() 0
#endif

/* ======================================================================
 * SGD
 *   g = -grad (maximize) or grad;  g = g + wd p
 *   b = g at step 1, else mu b + (1 - dampening) g      (momentum != 0)
 *   d = g + mu b (nesterov) or b                       (momentum != 0), else g
 *   p = p - lr d
 * (seed 001: "Parameter = parameter - learning rate * gradient"; momentum
 * keeps an exponentially decaying sum of past gradients; Nesterov applies
 * the gradient step after the momentum step as a correction.)
 * ====================================================================== */

typedef struct pg_sgd_job {
    void *p;        /* [n] parameter */
    const void *g;  /* [n] gradient */
    void *b;        /* [n] momentum buffer, or NULL without momentum */
    int64_t step;
    double lr, momentum, dampening, weight_decay, sign;
    int nesterov;
} pg_sgd_job;

/* The usual float32 case on AVX-512 (momentum after the first step; no
 * dampening, weight decay, Nesterov or maximize): b = mu b + g, p = p - lr b,
 * the formula below without its multiplications by 1 (exact), so the same
 * bits. Written with intrinsics so that each vector of 8 floats is converted
 * as it is loaded or stored: the compiler's loop loads 16 and splits them, a
 * shuffle on the port the conversions need, and the conversions bound the
 * loop (six a vector: p, g, b in; b out and back; p out). Each line of p, b
 * and g is prefetched 2 KiB ahead: the update of a large layer usually finds
 * p and b only in the last-level cache or memory, which the hardware
 * prefetchers alone do not keep up with (784 x 512 float32, one thread: 0.29
 * ns an element in L1, 0.41 from the last-level cache, 0.45-0.6 from memory,
 * against 0.37, 0.46 and 0.75-0.9 for the compiler's loop). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__SANITIZE_THREAD__)
#include <immintrin.h>
#define PG_SGD_AHEAD 512 /* elements */
#define PG_SGD_MOM8(i)                                                                                            \
    do {                                                                                                          \
        __m512d b_ = _mm512_add_pd(_mm512_mul_pd(mu, _mm512_cvtps_pd(_mm256_loadu_ps(B + (i)))),                   \
                                   _mm512_cvtps_pd(_mm256_loadu_ps(G + (i))));                                    \
        __m256 bf_ = _mm512_cvtpd_ps(b_);                                                                         \
        _mm256_storeu_ps(B + (i), bf_);                                                                           \
        __m512d p_ = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(P + (i))), _mm512_mul_pd(lr, _mm512_cvtps_pd(bf_))); \
        _mm256_storeu_ps(P + (i), _mm512_cvtpd_ps(p_));                                                           \
    } while (0)
__attribute__((target("avx512f"))) static void pg__sgd_momentum_f32_avx512(const pg_sgd_job *j, int64_t lo,
                                                                            int64_t hi) {
    float *P = j->p, *B = j->b;
    const float *G = j->g;
    const __m512d mu = _mm512_set1_pd(j->momentum), lr = _mm512_set1_pd(j->lr);
    int64_t i = lo;
    for (; i + 16 <= hi; i += 16) { /* a line of each buffer */
        _mm_prefetch((const char *)(B + i + PG_SGD_AHEAD), _MM_HINT_T0);
        _mm_prefetch((const char *)(G + i + PG_SGD_AHEAD), _MM_HINT_T0);
        _mm_prefetch((const char *)(P + i + PG_SGD_AHEAD), _MM_HINT_T0);
        PG_SGD_MOM8(i);
        PG_SGD_MOM8(i + 8);
    }
    for (; i + 8 <= hi; i += 8) PG_SGD_MOM8(i);
    for (; i < hi; i++) {
        double b = (double)(float)(j->momentum * (double)B[i] + (double)G[i]);
        B[i] = (float)b;
        P[i] = (float)((double)P[i] - j->lr * b);
    }
}
#undef PG_SGD_MOM8
static bool pg__sgd_avx512(void) { return __builtin_cpu_supports("avx512f"); }
#define PG_SGD_MOMENTUM_F32(T, j, lo, hi)                                                                     \
    (sizeof(T) == 4 && (j)->b && (j)->step > 1 && !(j)->nesterov && (j)->weight_decay == 0 &&                 \
     (j)->sign == 1 && (j)->dampening == 0 && pg__sgd_avx512() && (pg__sgd_momentum_f32_avx512(j, lo, hi), 1))
#else
#define PG_SGD_MOMENTUM_F32(T, j, lo, hi) 0
#endif

/* The update of elements [lo, hi), in the order of the formula above, in
 * double precision; one pass over p, g and b. The float/double conversions
 * and double arithmetic bound the loop: PG_CLONES (kernels.h) builds it also
 * for wider vectors, with the same IEEE results. */
#define PG_SGD_RANGE(T, SUF)                                                                        \
    PG_CLONES static void sgd_range_##SUF(void *ctx, int64_t lo, int64_t hi) {                      \
        const pg_sgd_job *j = ctx;                                                                  \
        T *P = j->p, *B = j->b;                                                                     \
        const T *G = j->g;                                                                          \
        const double lr = j->lr, mu = j->momentum, keep = 1.0 - j->dampening, wd = j->weight_decay; \
        const double sign = j->sign;                                                                \
        if (PG_SGD_MOMENTUM_F32(T, j, lo, hi)) return;                                              \
        if (B && j->step > 1 && !j->nesterov && wd == 0) { /* the usual case, without branches */  \
            PG_IVDEP for (int64_t i = lo; i < hi; i++) {                                            \
                double b = (double)(T)(mu * (double)B[i] + keep * (sign * (double)G[i]));           \
                B[i] = (T)b;                                                                        \
                P[i] = (T)((double)P[i] - lr * b);                                                  \
            }                                                                                       \
            return;                                                                                 \
        }                                                                                           \
        for (int64_t i = lo; i < hi; i++) {                                                         \
            double p = P[i], g = sign * (double)G[i];                                               \
            if (wd != 0) g = g + wd * p;                                                            \
            if (B) {                                                                                \
                double b = (double)(T)(j->step == 1 ? g : mu * (double)B[i] + keep * g);            \
                B[i] = (T)b;                                                                        \
                g = j->nesterov ? g + mu * b : b;                                                   \
            }                                                                                       \
            P[i] = (T)(p - lr * g);                                                                 \
        }                                                                                           \
    }
PG_SGD_RANGE(float, f32)
PG_SGD_RANGE(double, f64)

/* pg_sgd_step's checks and job */
static pg_status pg__sgd_job_of(pg_sgd_job *j, pg_tensor *param, pg_tensor *grad, pg_tensor *momentum_buf,
                                int64_t step, double lr, double momentum, double dampening, double weight_decay,
                                int nesterov, int maximize) {
    const char *op = "sgd_step";
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_step(op, step)) ||
        (st = pg__check_min(op, "learning rate", lr, 0)) || (st = pg__check_min(op, "momentum", momentum, 0)) ||
        (st = pg__check_min(op, "weight_decay", weight_decay, 0)))
        return st;
    if (!isfinite(dampening)) return pg__fail(PG_ERR_VALUE, "%s: invalid dampening %g", op, dampening);
    if (nesterov && (momentum <= 0 || dampening != 0))
        return pg__fail(PG_ERR_VALUE, "%s: Nesterov momentum requires a momentum > 0 and zero dampening", op);
    bool mom = momentum != 0;
    if (mom && (st = pg__check_state(op, "momentum", param, momentum_buf))) return st;
    *j = (pg_sgd_job){param->data, grad->data, mom ? momentum_buf->data : NULL, step, lr, momentum, dampening,
                      weight_decay, maximize ? -1.0 : 1.0, nesterov};
    return PG_OK;
}

pg_status pg_sgd_step(pg_tensor *param, pg_tensor *grad, pg_tensor *momentum_buf, int64_t step, double lr,
                      double momentum, double dampening, double weight_decay, int nesterov, int maximize) {
    pg_sgd_job j;
    pg_status st = pg__sgd_job_of(&j, param, grad, momentum_buf, step, lr, momentum, dampening, weight_decay,
                                  nesterov, maximize);
    if (st) return st;
    return pg__opt_run(PG_REC_SGD, PG_OPT_T(param, grad, momentum_buf),
                       PG_OPT_S((double)step, lr, momentum, dampening, weight_decay, nesterov != 0, maximize != 0),
                       &j, sgd_range_f32, sgd_range_f64);
}

/* pg_sgd_step over elements [lo, hi) of the parameter alone, on this thread, from its
 * recorded scalars s (step, lr, momentum, dampening, weight_decay, nesterov, maximize),
 * neither recorded nor bumping the parameter's version: a replay running one update in
 * pieces (program.c) checks it first with lo = hi and bumps the version once. Each
 * element's update is the same whatever the pieces. */
pg_status pg__sgd_piece(pg_tensor *param, pg_tensor *grad, pg_tensor *momentum_buf, const double *s, int64_t lo,
                        int64_t hi) {
    pg_sgd_job j;
    pg_status st = pg__sgd_job_of(&j, param, grad, momentum_buf, (int64_t)s[0], s[1], s[2], s[3], s[4], (int)s[5],
                                  (int)s[6]);
    if (st) return st;
    if (lo < 0 || hi > param->numel) return pg__fail(PG_ERR_VALUE, "sgd_step: elements [%lld, %lld) out of range",
                                                     (long long)lo, (long long)hi);
    if (lo < hi) (param->dtype == PG_DTYPE_F64 ? sgd_range_f64 : sgd_range_f32)(&j, lo, hi);
    return PG_OK;
}

/* ======================================================================
 * AdaGrad
 *   g = -grad (maximize) or grad;  g = g + wd p
 *   clr = lr / (1 + (step - 1) lr_decay)
 *   s = s + g^2
 *   p = p - clr (g / (sqrt(s) + eps))
 * (seed 001: "learning rate x gradient / sqrt(accumulated gradient norms)")
 * ====================================================================== */

typedef struct pg_adagrad_job {
    void *p;       /* [n] parameter */
    const void *g; /* [n] gradient */
    void *s;       /* [n] sum */
    double clr, eps;
    PG_OPT_GRAD_FIELDS;
} pg_adagrad_job;

/* Cold buffers. AdaGrad's and RMSProp's loops are bound by the divider (a
 * division and a square root per element, which the results need), so few
 * iterations are in flight at once. When the buffers are in no cache (a step
 * over parameters larger than the last-level cache, or after other work),
 * the hardware prefetchers stop at every 4 KiB page boundary and restart
 * only after misses, and the page walks miss too, so the loop waits on memory
 * it does not overlap with its divisions: on 1M float32 elements in 4 KiB
 * pages, 3.5 ms a step cold against 1.5 ms warm (with 2 MiB pages, 1.9 ms).
 * So these loops run in blocks of PG_PF_BLOCK bytes of each buffer, each block
 * first prefetching the lines PG_PF_AHEAD bytes further on in every buffer it
 * reads or writes (walking the next page early): cold steps then take about
 * the warm time. A prefetch changes no value, and each element's arithmetic
 * is the same whatever the blocks: the results do not change. Adam (AdamW),
 * Adamax, NAdam, RAdam and Adadelta, also bound by divisions or square roots,
 * run in the same blocks (PG_PF_NEXT): 1M float32, 1 thread, 20-35% less time
 * a step when their buffers start cold. */
#define PG_PF_BLOCK 1024
#define PG_PF_AHEAD 2048
/* the end e of the block [b, e) of [b, hi), for elements of type T */
#define PG_PF_N(T) ((int64_t)(PG_PF_BLOCK / sizeof(T)))
#define PG_PF_END(T, b, hi) ((hi) - (b) > PG_PF_N(T) ? (b) + PG_PF_N(T) : (hi))
/* prefetch buffer X's lines of elements [b, e) moved PG_PF_AHEAD bytes on, up to hi (for writing when W) */
#define PG_PF(T, X, b, e, hi, W)                                                               \
    do {                                                                                       \
        if (X) {                                                                               \
            int64_t k1 = (e) + (int64_t)(PG_PF_AHEAD / sizeof(T));                             \
            k1 = k1 < (hi) ? k1 : (hi);                                                        \
            for (int64_t k = (b) + (int64_t)(PG_PF_AHEAD / sizeof(T)); k < k1;                 \
                 k += (int64_t)(64 / sizeof(T)))                                               \
                __builtin_prefetch((X) + k, W, 3);                                             \
        }                                                                                      \
    } while (0)
/* one block step: e = the end of the block [b, e) of [b, hi), prefetching ahead
 * G (read) and X1..X4 (written; (T *)NULL for none) */
#define PG_PF_NEXT(T, b, e, hi, G, X1, X2, X3, X4)                                             \
    do {                                                                                       \
        e = PG_PF_END(T, b, hi);                                                               \
        PG_PF(T, X1, b, e, hi, 1);                                                             \
        PG_PF(T, X2, b, e, hi, 1);                                                             \
        PG_PF(T, G, b, e, hi, 0);                                                              \
        PG_PF(T, X3, b, e, hi, 1);                                                             \
        PG_PF(T, X4, b, e, hi, 1);                                                             \
    } while (0)

#define PG_ADAGRAD_RANGE(T, SUF, CLONES, SQRTS)                                                \
    CLONES PG_OPT_LOOP static void adagrad_range_##SUF(void *ctx, int64_t lo, int64_t hi) {    \
        const pg_adagrad_job *j = ctx;                                                         \
        T *P = j->p, *S = j->s;                                                                \
        const T *G = j->g;                                                                     \
        for (int64_t b = lo, e; b < hi; b = e) {                                               \
            PG_PF_NEXT(T, b, e, hi, G, P, S, (T *)NULL, (T *)NULL);                            \
            PG_IVDEP for (int64_t i = b; i < e; i++) {                                         \
                double p = P[i], g = G[i];                                                     \
                PG_OPT_GRAD(T, p, g, j);                                                       \
                double s = (double)(T)((double)S[i] + g * g);                                  \
                S[i] = (T)s;                                                                   \
                P[i] = (T)(p - j->clr * (g / (SQRTS(s) + j->eps)));                            \
            }                                                                                  \
        }                                                                                      \
    }
PG_ADAGRAD_RANGE(float, f32, PG_CLONES, sqrt)
PG_ADAGRAD_RANGE(double, f64, PG_CLONES, sqrt)
PG_ADAGRAD_RANGE(float, f32_fma, PG_FMA_CLONES, PG_SQRT_F32) /* s is a float32 value */

pg_status pg_adagrad_step(pg_tensor *param, pg_tensor *grad, pg_tensor *state_sum, int64_t step, double lr,
                          double lr_decay, double weight_decay, double eps, int maximize) {
    const char *op = "adagrad_step";
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_step(op, step)) ||
        (st = pg__check_min(op, "learning rate", lr, 0)) || (st = pg__check_min(op, "lr_decay", lr_decay, 0)) ||
        (st = pg__check_min(op, "weight_decay", weight_decay, 0)) || (st = pg__check_min(op, "eps", eps, 0)) ||
        (st = pg__check_state(op, "sum", param, state_sum)))
        return st;
    pg_adagrad_job j = {.p = param->data, .g = grad->data, .s = state_sum->data,
                        .clr = lr / (1.0 + (double)(step - 1) * lr_decay), .eps = eps};
    pg__opt_grad_init(&j, lr, weight_decay, 0, maximize);
    return pg__opt_run(PG_REC_ADAGRAD, PG_OPT_T(param, grad, state_sum),
                       PG_OPT_S((double)step, lr, lr_decay, weight_decay, eps, maximize != 0), &j,
                       PG_FMA_LOOPS() ? adagrad_range_f32_fma : adagrad_range_f32, adagrad_range_f64);
}

/* ======================================================================
 * RMSProp
 *   g = -grad (maximize) or grad;  g = g + wd p
 *   v = alpha v + (1 - alpha) g^2
 *   centered: a = lerp(a, g, 1 - alpha);  den = sqrt(v - a^2) + eps
 *   else:                                 den = sqrt(v) + eps
 *   momentum > 0: b = mu b + g / den;  p = p - lr b
 *   else:                              p = p - lr (g / den)
 * ====================================================================== */

typedef struct pg_rmsprop_job {
    void *p;       /* [n] parameter */
    const void *g; /* [n] gradient */
    void *v;       /* [n] square_avg */
    void *a, *b;   /* [n] grad_avg (centered) and momentum buffer (momentum > 0), else NULL */
    double lr, alpha, eps, momentum;
    PG_OPT_GRAD_FIELDS;
} pg_rmsprop_job;

/* one loop per setting (CENTERED and MOM constants), so that each is branch-free */
#define PG_RMSPROP_LOOP(T, CENTERED, MOM, SQRTV)                                               \
    PG_IVDEP for (int64_t i = b; i < e; i++) {                                                 \
        double p = P[i], g = G[i], den;                                                        \
        PG_OPT_GRAD(T, p, g, j);                                                               \
        double v = (double)(T)(alpha * (double)V[i] + (1.0 - alpha) * (g * g));                \
        V[i] = (T)v;                                                                           \
        if (CENTERED) {                                                                        \
            double a = (double)(T)pg__lerp_v(A[i], g, 1.0 - alpha);                            \
            A[i] = (T)a;                                                                       \
            den = sqrt(v - a * a) + eps;                                                       \
        } else {                                                                               \
            den = SQRTV(v) + eps;                                                              \
        }                                                                                      \
        if (MOM) {                                                                             \
            double b = (double)(T)(j->momentum * (double)B[i] + g / den);                      \
            B[i] = (T)b;                                                                       \
            P[i] = (T)(p - j->lr * b);                                                         \
        } else {                                                                               \
            P[i] = (T)(p - j->lr * (g / den));                                                 \
        }                                                                                      \
    }
#define PG_RMSPROP_RANGE(T, SUF, CLONES, SQRTV)                                                \
    CLONES PG_OPT_LOOP static void rmsprop_range_##SUF(void *ctx, int64_t lo, int64_t hi) {    \
        const pg_rmsprop_job *j = ctx;                                                         \
        T *P = j->p, *V = j->v, *A = j->a, *B = j->b;                                          \
        const T *G = j->g;                                                                     \
        const double alpha = j->alpha, eps = j->eps;                                           \
        for (int64_t b = lo, e; b < hi; b = e) { /* blocks: see "Cold buffers" under AdaGrad */  \
            PG_PF_NEXT(T, b, e, hi, G, P, V, A, B);                                            \
            if (A && B) PG_RMSPROP_LOOP(T, 1, 1, SQRTV)                                        \
            else if (A) PG_RMSPROP_LOOP(T, 1, 0, SQRTV)                                        \
            else if (B) PG_RMSPROP_LOOP(T, 0, 1, SQRTV)                                        \
            else PG_RMSPROP_LOOP(T, 0, 0, SQRTV)                                               \
        }                                                                                      \
    }
PG_RMSPROP_RANGE(float, f32, PG_CLONES, sqrt)
PG_RMSPROP_RANGE(double, f64, PG_CLONES, sqrt)
PG_RMSPROP_RANGE(float, f32_fma, PG_FMA_CLONES, PG_SQRT_F32) /* v (not centered) is a float32 value */

pg_status pg_rmsprop_step(pg_tensor *param, pg_tensor *grad, pg_tensor *square_avg, pg_tensor *momentum_buf,
                          pg_tensor *grad_avg, double lr, double alpha, double eps, double weight_decay,
                          double momentum, int centered, int maximize) {
    const char *op = "rmsprop_step";
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_min(op, "learning rate", lr, 0)) ||
        (st = pg__check_min(op, "alpha", alpha, 0)) || (st = pg__check_min(op, "eps", eps, 0)) ||
        (st = pg__check_min(op, "weight_decay", weight_decay, 0)) ||
        (st = pg__check_min(op, "momentum", momentum, 0)) ||
        (st = pg__check_state(op, "square_avg", param, square_avg)) ||
        (momentum > 0 && (st = pg__check_state(op, "momentum", param, momentum_buf))) ||
        (centered && (st = pg__check_state(op, "grad_avg", param, grad_avg))))
        return st;
    pg_rmsprop_job j = {.p = param->data, .g = grad->data, .v = square_avg->data,
                        .a = centered ? grad_avg->data : NULL, .b = momentum > 0 ? momentum_buf->data : NULL,
                        .lr = lr, .alpha = alpha, .eps = eps, .momentum = momentum};
    pg__opt_grad_init(&j, lr, weight_decay, 0, maximize);
    return pg__opt_run(PG_REC_RMSPROP, PG_OPT_T(param, grad, square_avg, momentum_buf, grad_avg),
                       PG_OPT_S(lr, alpha, eps, weight_decay, momentum, centered != 0, maximize != 0), &j,
                       PG_FMA_LOOPS() ? rmsprop_range_f32_fma : rmsprop_range_f32, rmsprop_range_f64);
}

/* ======================================================================
 * Adam / AdamW
 *   g = -grad (maximize) or grad
 *   AdamW (decoupled): p = p (1 - lr wd);   Adam: g = g + wd p
 *   m = lerp(m, g, 1 - beta1)
 *   v = beta2 v + (1 - beta2) g^2
 *   amsgrad: vmax = max(vmax, v), and vmax replaces v below
 *   den = sqrt(v) / sqrt(1 - beta2^step) + eps
 *   p = p - (lr / (1 - beta1^step)) (m / den)
 * ====================================================================== */

/* Adam's moments of element i, shared by Adam, NAdam and RAdam: declares double m, v,
 *   m = lerp(m, g, 1 - beta1),  v = beta2 v + (1 - beta2) g^2,
 * each rounded to T, and stores them in M[i], V[i] */
#define PG_ADAM_MOMENTS(T, M, V, i, g, j, m, v)                                                  \
    double m = (double)(T)pg__lerp_v((M)[i], g, 1.0 - (j)->beta1);                              \
    double v = (double)(T)((j)->beta2 * (double)(V)[i] + (1.0 - (j)->beta2) * ((g) * (g)));     \
    (M)[i] = (T)m;                                                                               \
    (V)[i] = (T)v

typedef struct pg_adam_job {
    void *p;          /* [n] parameter */
    const void *g;    /* [n] gradient */
    void *m, *v, *vm; /* [n] exp_avg, exp_avg_sq, max_exp_avg_sq (NULL without amsgrad) */
    double beta1, beta2, eps, step_size, bc2_sqrt, inv_bc2_sqrt;
    PG_OPT_GRAD_FIELDS;
} pg_adam_job;

#define PG_ADAM_LOOP(T, AMSGRAD, DIV)                                                            \
    PG_IVDEP for (int64_t i = b; i < e; i++) {                                               \
        double p = P[i], g = G[i];                                                             \
        PG_OPT_GRAD(T, p, g, j);                                                               \
        PG_ADAM_MOMENTS(T, M, V, i, g, j, m, v);                                               \
        if (AMSGRAD) {                                                                         \
            v = pg__max_nan(v, VM[i]);                                                         \
            VM[i] = (T)v;                                                                      \
        }                                                                                      \
        double den = DIV(sqrt(v), j->bc2_sqrt, j->inv_bc2_sqrt) + j->eps;                      \
        P[i] = (T)(p - j->step_size * (m / den));                                              \
    }
#define PG_ADAM_RANGE(T, SUF, CLONES, DIV)                                                     \
    CLONES PG_OPT_LOOP static void adam_range_##SUF(void *ctx, int64_t lo, int64_t hi) {       \
        const pg_adam_job *j = ctx;                                                            \
        T *P = j->p, *M = j->m, *V = j->v, *VM = j->vm;                                        \
        const T *G = j->g;                                                                     \
        for (int64_t b = lo, e; b < hi; b = e) { /* blocks: see "Cold buffers" under AdaGrad */  \
            PG_PF_NEXT(T, b, e, hi, G, P, M, V, VM);                                           \
            if (VM) PG_ADAM_LOOP(T, 1, DIV)                                                    \
            else PG_ADAM_LOOP(T, 0, DIV)                                                       \
        }                                                                                      \
    }
PG_ADAM_RANGE(float, f32, PG_CLONES, PG_DIV_PLAIN)
PG_ADAM_RANGE(double, f64, PG_CLONES, PG_DIV_PLAIN)
/* sqrt(v) / sqrt(1 - beta2^t) by pg__div_inv: sqrt(v) is 0, inf, NaN or in
 * [2^-537, 2^512] (v a double >= 0 or NaN), the divisor in [2^-27, 1] */
PG_ADAM_RANGE(float, f32_fma, PG_FMA_CLONES, PG_DIV_FMA)
PG_ADAM_RANGE(double, f64_fma, PG_FMA_CLONES, PG_DIV_FMA)

pg_status pg_adam_step(pg_tensor *param, pg_tensor *grad, pg_tensor *exp_avg, pg_tensor *exp_avg_sq,
                       pg_tensor *max_exp_avg_sq, int64_t step, double lr, double beta1, double beta2, double eps,
                       double weight_decay, int decoupled_weight_decay, int amsgrad, int maximize) {
    const char *op = decoupled_weight_decay ? "adamw_step" : "adam_step";
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_step(op, step)) ||
        (st = pg__check_min(op, "learning rate", lr, 0)) || (st = pg__check_min(op, "eps", eps, 0)) ||
        (st = pg__check_min(op, "weight_decay", weight_decay, 0)) ||
        (st = pg__check_state(op, "exp_avg", param, exp_avg)) ||
        (st = pg__check_state(op, "exp_avg_sq", param, exp_avg_sq)) ||
        (amsgrad && (st = pg__check_state(op, "max_exp_avg_sq", param, max_exp_avg_sq))) ||
        (st = pg__check_betas(op, beta1, beta2)))
        return st;
    pg_adam_job j = {.p = param->data, .g = grad->data, .m = exp_avg->data, .v = exp_avg_sq->data,
                     .vm = amsgrad ? max_exp_avg_sq->data : NULL, .beta1 = beta1, .beta2 = beta2, .eps = eps,
                     .step_size = lr / (1.0 - pow(beta1, (double)step)),
                     .bc2_sqrt = sqrt(1.0 - pow(beta2, (double)step))};
    j.inv_bc2_sqrt = 1.0 / j.bc2_sqrt;
    pg__opt_grad_init(&j, lr, weight_decay, decoupled_weight_decay, maximize);
    bool fma = PG_FMA_LOOPS();
    return pg__opt_run(PG_REC_ADAM, PG_OPT_T(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq),
                       PG_OPT_S((double)step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay != 0,
                                amsgrad != 0, maximize != 0),
                       &j, fma ? adam_range_f32_fma : adam_range_f32, fma ? adam_range_f64_fma : adam_range_f64);
}

/* ======================================================================
 * Adamax
 *   g = -grad (maximize) or grad;  g = g + wd p
 *   m = lerp(m, g, 1 - beta1)
 *   u = max(beta2 u, |g| + eps)                 (NaN wins, as torch.maximum)
 *   p = p - (lr / (1 - beta1^step)) (m / u)
 * ====================================================================== */

typedef struct pg_adamax_job {
    void *p;       /* [n] parameter */
    const void *g; /* [n] gradient */
    void *m, *u;   /* [n] exp_avg, exp_inf */
    double clr, beta1, beta2, eps;
    PG_OPT_GRAD_FIELDS;
} pg_adamax_job;

#define PG_ADAMAX_RANGE(T, SUF)                                                              \
    PG_CLONES PG_OPT_LOOP static void adamax_range_##SUF(void *ctx, int64_t lo, int64_t hi) {            \
        const pg_adamax_job *j = ctx;                                                        \
        T *P = j->p, *M = j->m, *U = j->u;                                                   \
        const T *G = j->g;                                                                   \
        for (int64_t b = lo, e; b < hi; b = e) { /* blocks: see "Cold buffers" under AdaGrad */ \
            PG_PF_NEXT(T, b, e, hi, G, P, M, U, (T *)NULL);                                  \
            PG_IVDEP for (int64_t i = b; i < e; i++) {                                       \
                double p = P[i], g = G[i];                                                   \
                PG_OPT_GRAD(T, p, g, j);                                                     \
                double m = (double)(T)pg__lerp_v(M[i], g, 1.0 - j->beta1);                   \
                double u = (double)(T)pg__max_nan(j->beta2 * (double)U[i], fabs(g) + j->eps); \
                M[i] = (T)m;                                                                 \
                U[i] = (T)u;                                                                 \
                P[i] = (T)(p - j->clr * (m / u));                                            \
            }                                                                                \
        }                                                                                    \
    }
PG_ADAMAX_RANGE(float, f32)
PG_ADAMAX_RANGE(double, f64)

pg_status pg_adamax_step(pg_tensor *param, pg_tensor *grad, pg_tensor *exp_avg, pg_tensor *exp_inf, int64_t step,
                         double lr, double beta1, double beta2, double eps, double weight_decay, int maximize) {
    const char *op = "adamax_step";
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_step(op, step)) ||
        (st = pg__check_min(op, "learning rate", lr, 0)) || (st = pg__check_min(op, "eps", eps, 0)) ||
        (st = pg__check_min(op, "weight_decay", weight_decay, 0)) || (st = pg__check_betas(op, beta1, beta2)) ||
        (st = pg__check_state(op, "exp_avg", param, exp_avg)) || (st = pg__check_state(op, "exp_inf", param, exp_inf)))
        return st;
    pg_adamax_job j = {.p = param->data, .g = grad->data, .m = exp_avg->data, .u = exp_inf->data,
                       .clr = lr / (1.0 - pow(beta1, (double)step)), .beta1 = beta1, .beta2 = beta2, .eps = eps};
    pg__opt_grad_init(&j, lr, weight_decay, 0, maximize);
    return pg__opt_run(PG_REC_ADAMAX, PG_OPT_T(param, grad, exp_avg, exp_inf),
                       PG_OPT_S((double)step, lr, beta1, beta2, eps, weight_decay, maximize != 0), &j,
                       adamax_range_f32, adamax_range_f64);
}

/* ======================================================================
 * NAdam and RAdam (Adam's moments, then their own steps)
 *   g = -grad (maximize) or grad
 *   decoupled: p = p (1 - lr wd);   else: g = g + wd p
 *   m = lerp(m, g, 1 - beta1)
 *   v = beta2 v + (1 - beta2) g^2
 * NAdam, with mu_t = beta1 (1 - 0.5 * 0.96^(t psi)) and mu_product = mu_1 ... mu_t
 * (the caller's running product, this step's factor included):
 *   d = sqrt(v / (1 - beta2^t)) + eps
 *   p = p - (lr (1 - mu_t) / (1 - mu_product)) (g / d)
 *   p = p - (lr mu_{t+1} / (1 - mu_product mu_{t+1})) (m / d)
 * RAdam, with rho_inf = 2 / (1 - beta2) - 1, rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t):
 *   rho_t > 5: p = p - ((m / (1 - beta1^t)) lr (sqrt(1 - beta2^t) / (sqrt(v) + eps))) r,
 *              r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
 *   else:      p = p - (m / (1 - beta1^t)) lr
 * ====================================================================== */

typedef struct pg_nradam_job {
    void *p;       /* [n] parameter */
    const void *g; /* [n] gradient */
    void *m, *v;   /* [n] exp_avg, exp_avg_sq */
    double beta1, beta2, eps;
    PG_OPT_GRAD_FIELDS;
    double bc1, bc2, c_grad, c_avg; /* NAdam: the two step sizes; RAdam: c_grad = lr, c_avg = r (0: no rectification) */
    double inv_bc1, inv_bc2;        /* 1 / bc1, 1 / bc2 */
} pg_nradam_job;

#define PG_NRADAM_RANGE(T, SUF, CLONES, DIV)                                                            \
    CLONES PG_OPT_LOOP static void nadam_range_##SUF(void *ctx, int64_t lo, int64_t hi) {                        \
        const pg_nradam_job *j = ctx;                                                                   \
        T *P = j->p, *M = j->m, *V = j->v;                                                              \
        const T *G = j->g;                                                                              \
        for (int64_t b = lo, e; b < hi; b = e) { /* blocks: see "Cold buffers" under AdaGrad */         \
            PG_PF_NEXT(T, b, e, hi, G, P, M, V, (T *)NULL);                                             \
            PG_IVDEP for (int64_t i = b; i < e; i++) {                                                  \
                double p = P[i], g = G[i];                                                              \
                PG_OPT_GRAD(T, p, g, j);                                                                \
                PG_ADAM_MOMENTS(T, M, V, i, g, j, m, v);                                                \
                double d = sqrt(DIV(v, j->bc2, j->inv_bc2)) + j->eps;                                   \
                p = p - j->c_grad * (g / d);                                                            \
                P[i] = (T)(p - j->c_avg * (m / d));                                                     \
            }                                                                                           \
        }                                                                                               \
    }                                                                                                   \
    CLONES PG_OPT_LOOP static void radam_range_##SUF(void *ctx, int64_t lo, int64_t hi) {                        \
        const pg_nradam_job *j = ctx;                                                                   \
        T *P = j->p, *M = j->m, *V = j->v;                                                              \
        const T *G = j->g;                                                                              \
        const double sqrt_bc2 = sqrt(j->bc2), lr = j->c_grad, rect = j->c_avg;                          \
        for (int64_t b = lo, e; b < hi; b = e) { /* blocks: see "Cold buffers" under AdaGrad */         \
            PG_PF_NEXT(T, b, e, hi, G, P, M, V, (T *)NULL);                                             \
            if (rect != 0) {                                                                            \
                PG_IVDEP for (int64_t i = b; i < e; i++) {                                              \
                    double p = P[i], g = G[i];                                                          \
                    PG_OPT_GRAD(T, p, g, j);                                                            \
                    PG_ADAM_MOMENTS(T, M, V, i, g, j, m, v);                                            \
                    P[i] = (T)(p - DIV(m, j->bc1, j->inv_bc1) * lr * (sqrt_bc2 / (sqrt(v) + j->eps)) * rect); \
                }                                                                                       \
            } else {                                                                                    \
                PG_IVDEP for (int64_t i = b; i < e; i++) {                                              \
                    double p = P[i], g = G[i];                                                          \
                    PG_OPT_GRAD(T, p, g, j);                                                            \
                    PG_ADAM_MOMENTS(T, M, V, i, g, j, m, v);                                            \
                    P[i] = (T)(p - DIV(m, j->bc1, j->inv_bc1) * lr);                                    \
                }                                                                                       \
            }                                                                                           \
        }                                                                                               \
    }
PG_NRADAM_RANGE(float, f32, PG_CLONES, PG_DIV_PLAIN)
PG_NRADAM_RANGE(double, f64, PG_CLONES, PG_DIV_PLAIN)
/* float32 only: v / (1 - beta2^t) and m / (1 - beta1^t) by pg__div_inv, v and
 * m 0, inf, NaN or within 2^+-150 (float32 values), the divisors in [2^-53, 1]
 * (beta < 1); a float64 v or m could overflow or be subnormal */
PG_NRADAM_RANGE(float, f32_fma, PG_FMA_CLONES, PG_DIV_FMA)

static pg_status pg__check_nradam(const char *op, pg_tensor *param, pg_tensor *grad, pg_tensor *exp_avg,
                                  pg_tensor *exp_avg_sq, int64_t step, double lr, double beta1, double beta2,
                                  double eps, double weight_decay) {
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_step(op, step)) ||
        (st = pg__check_min(op, "learning rate", lr, 0)) || (st = pg__check_min(op, "eps", eps, 0)) ||
        (st = pg__check_min(op, "weight_decay", weight_decay, 0)) || (st = pg__check_betas(op, beta1, beta2)) ||
        (st = pg__check_state(op, "exp_avg", param, exp_avg)) ||
        (st = pg__check_state(op, "exp_avg_sq", param, exp_avg_sq)))
        return st;
    return PG_OK;
}

pg_status pg_nadam_step(pg_tensor *param, pg_tensor *grad, pg_tensor *exp_avg, pg_tensor *exp_avg_sq, int64_t step,
                        double mu_product, double lr, double beta1, double beta2, double eps, double weight_decay,
                        double momentum_decay, int decoupled_weight_decay, int maximize) {
    const char *op = "nadam_step";
    pg_status st;
    if ((st = pg__check_nradam(op, param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay)) ||
        (st = pg__check_min(op, "momentum_decay", momentum_decay, 0)))
        return st;
    if (!(mu_product >= 0 && mu_product < 1))
        return pg__fail(PG_ERR_VALUE, "%s: invalid mu_product %g (the product of the momentum factors, in [0, 1))", op,
                        mu_product);
    double mu = beta1 * (1.0 - 0.5 * pow(0.96, (double)step * momentum_decay));
    double mu_next = beta1 * (1.0 - 0.5 * pow(0.96, (double)(step + 1) * momentum_decay));
    pg_nradam_job j = {.p = param->data, .g = grad->data, .m = exp_avg->data, .v = exp_avg_sq->data,
                       .beta1 = beta1, .beta2 = beta2, .eps = eps, .bc1 = 1.0 - pow(beta1, (double)step),
                       .bc2 = 1.0 - pow(beta2, (double)step), .c_grad = lr * (1.0 - mu) / (1.0 - mu_product),
                       .c_avg = lr * mu_next / (1.0 - mu_product * mu_next)};
    j.inv_bc1 = 1.0 / j.bc1;
    j.inv_bc2 = 1.0 / j.bc2;
    pg__opt_grad_init(&j, lr, weight_decay, decoupled_weight_decay, maximize);
    return pg__opt_run(PG_REC_NADAM, PG_OPT_T(param, grad, exp_avg, exp_avg_sq),
                       PG_OPT_S((double)step, mu_product, lr, beta1, beta2, eps, weight_decay, momentum_decay,
                                decoupled_weight_decay != 0, maximize != 0),
                       &j, PG_FMA_LOOPS() ? nadam_range_f32_fma : nadam_range_f32, nadam_range_f64);
}

pg_status pg_radam_step(pg_tensor *param, pg_tensor *grad, pg_tensor *exp_avg, pg_tensor *exp_avg_sq, int64_t step,
                        double lr, double beta1, double beta2, double eps, double weight_decay,
                        int decoupled_weight_decay, int maximize) {
    const char *op = "radam_step";
    pg_status st;
    if ((st = pg__check_nradam(op, param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay)))
        return st;
    double t = (double)step, bc2 = 1.0 - pow(beta2, t);
    double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
    double rho_t = rho_inf - 2.0 * t * pow(beta2, t) / bc2;
    double rect = rho_t > 5.0 ? sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                              : 0.0;
    pg_nradam_job j = {.p = param->data, .g = grad->data, .m = exp_avg->data, .v = exp_avg_sq->data,
                       .beta1 = beta1, .beta2 = beta2, .eps = eps, .bc1 = 1.0 - pow(beta1, t), .bc2 = bc2,
                       .c_grad = lr, .c_avg = rect};
    j.inv_bc1 = 1.0 / j.bc1;
    j.inv_bc2 = 1.0 / j.bc2;
    pg__opt_grad_init(&j, lr, weight_decay, decoupled_weight_decay, maximize);
    return pg__opt_run(PG_REC_RADAM, PG_OPT_T(param, grad, exp_avg, exp_avg_sq),
                       PG_OPT_S((double)step, lr, beta1, beta2, eps, weight_decay, decoupled_weight_decay != 0,
                                maximize != 0),
                       &j, PG_FMA_LOOPS() ? radam_range_f32_fma : radam_range_f32, radam_range_f64);
}

/* ======================================================================
 * Adadelta
 *   g = -grad (maximize) or grad;  g = g + wd p
 *   v = rho v + (1 - rho) g^2
 *   delta = sqrt(a + eps) / sqrt(v + eps) g         (a: the old acc_delta)
 *   a = rho a + (1 - rho) delta^2
 *   p = p - lr delta
 * ====================================================================== */

typedef struct pg_adadelta_job {
    void *p;       /* [n] parameter */
    const void *g; /* [n] gradient */
    void *v, *a;   /* [n] square_avg, acc_delta */
    double lr, rho, eps;
    PG_OPT_GRAD_FIELDS;
} pg_adadelta_job;

#define PG_ADADELTA_RANGE(T, SUF)                                                                \
    PG_CLONES PG_OPT_LOOP static void adadelta_range_##SUF(void *ctx, int64_t lo, int64_t hi) {              \
        const pg_adadelta_job *j = ctx;                                                          \
        T *P = j->p, *V = j->v, *A = j->a;                                                       \
        const T *G = j->g;                                                                       \
        const double rho = j->rho, eps = j->eps;                                                 \
        for (int64_t b = lo, e; b < hi; b = e) { /* blocks: see "Cold buffers" under AdaGrad */           \
            PG_PF_NEXT(T, b, e, hi, G, P, V, A, (T *)NULL);                                               \
            PG_IVDEP for (int64_t i = b; i < e; i++) {                                                    \
                double p = P[i], g = G[i], a = A[i];                                                      \
                PG_OPT_GRAD(T, p, g, j);                                                                  \
                double v = (double)(T)(rho * (double)V[i] + (1.0 - rho) * (g * g));                       \
                V[i] = (T)v;                                                                              \
                double delta = sqrt(a + eps) / sqrt(v + eps) * g;                                         \
                A[i] = (T)(rho * a + (1.0 - rho) * (delta * delta));                                      \
                P[i] = (T)(p - j->lr * delta);                                                            \
            }                                                                                             \
        }                                                                                                 \
    }
PG_ADADELTA_RANGE(float, f32)
PG_ADADELTA_RANGE(double, f64)

pg_status pg_adadelta_step(pg_tensor *param, pg_tensor *grad, pg_tensor *square_avg, pg_tensor *acc_delta, double lr,
                           double rho, double eps, double weight_decay, int maximize) {
    const char *op = "adadelta_step";
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_min(op, "learning rate", lr, 0)) ||
        (st = pg__check_min(op, "eps", eps, 0)) || (st = pg__check_min(op, "weight_decay", weight_decay, 0)) ||
        (st = pg__check_state(op, "square_avg", param, square_avg)) ||
        (st = pg__check_state(op, "acc_delta", param, acc_delta)))
        return st;
    if (!(rho >= 0 && rho <= 1)) return pg__fail(PG_ERR_VALUE, "%s: invalid rho %g (must be in [0, 1])", op, rho);
    pg_adadelta_job j = {.p = param->data, .g = grad->data, .v = square_avg->data, .a = acc_delta->data, .lr = lr,
                         .rho = rho, .eps = eps};
    pg__opt_grad_init(&j, lr, weight_decay, 0, maximize);
    return pg__opt_run(PG_REC_ADADELTA, PG_OPT_T(param, grad, square_avg, acc_delta),
                       PG_OPT_S(lr, rho, eps, weight_decay, maximize != 0), &j,
                       adadelta_range_f32, adadelta_range_f64);
}

/* ======================================================================
 * Rprop (resilient backpropagation)
 *   g = -grad (maximize) or grad;  s = g prev   (in double)
 *   size = clamp(size * (eta+ if s > 0, eta- if s < 0, 1 if s = 0, NaN if NaN), min, max)
 *   g = 0 where s < 0
 *   p = p - sign(g) size;  prev = g
 * step_size starts at lr (the caller fills it) and prev at 0.
 * ====================================================================== */

typedef struct pg_rprop_job {
    void *p;          /* [n] parameter */
    const void *g;    /* [n] gradient */
    void *prev, *size; /* [n] prev, step_size */
    double etaminus, etaplus, lo, hi, sign;
} pg_rprop_job;

#define PG_RPROP_RANGE(T, SUF)                                                                            \
    PG_CLONES PG_OPT_LOOP static void rprop_range_##SUF(void *ctx, int64_t lo, int64_t hi) {                          \
        const pg_rprop_job *j = ctx;                                                                      \
        T *P = j->p, *PREV = j->prev, *S = j->size;                                                       \
        const T *G = j->g;                                                                                \
        PG_IVDEP for (int64_t i = lo; i < hi; i++) {                                                      \
            double g = j->sign * (double)G[i];                                                            \
            double s = g * (double)PREV[i];                                                               \
            double f = s < 0 ? j->etaminus : 1.0; /* one select at a time: the loop vectorises */        \
            f = s > 0 ? j->etaplus : f;                                                                   \
            f = isnan(s) ? s : f;                                                                         \
            double size = (double)S[i] * f;                                                               \
            size = size < j->lo ? j->lo : size;                                                           \
            size = (double)(T)(size > j->hi ? j->hi : size);                                              \
            g = s < 0 ? 0.0 : g;                                                                          \
            double sg = g < 0 ? -1.0 : 0.0; /* sign(g), NaN for NaN */                                    \
            sg = g > 0 ? 1.0 : sg;                                                                        \
            sg = isnan(g) ? g : sg;                                                                       \
            S[i] = (T)size;                                                                               \
            PREV[i] = (T)g;                                                                               \
            P[i] = (T)((double)P[i] - sg * size);                                                         \
        }                                                                                                 \
    }
PG_RPROP_RANGE(float, f32)
PG_RPROP_RANGE(double, f64)

pg_status pg_rprop_step(pg_tensor *param, pg_tensor *grad, pg_tensor *prev, pg_tensor *step_size, double etaminus,
                        double etaplus, double step_size_min, double step_size_max, int maximize) {
    const char *op = "rprop_step";
    pg_status st;
    if ((st = pg__check_param(op, param, grad)) || (st = pg__check_state(op, "prev", param, prev)) ||
        (st = pg__check_state(op, "step_size", param, step_size)))
        return st;
    if (!(0 < etaminus && etaminus < 1 && 1 < etaplus))
        return pg__fail(PG_ERR_VALUE, "%s: invalid etas (%g, %g) (need 0 < eta- < 1 < eta+)", op, etaminus, etaplus);
    if (!(0 <= step_size_min && step_size_min <= step_size_max))
        return pg__fail(PG_ERR_VALUE, "%s: invalid step_sizes (%g, %g) (need 0 <= min <= max)", op, step_size_min,
                        step_size_max);
    pg_rprop_job j = {param->data, grad->data, prev->data, step_size->data, etaminus, etaplus, step_size_min,
                      step_size_max, maximize ? -1.0 : 1.0};
    return pg__opt_run(PG_REC_RPROP, PG_OPT_T(param, grad, prev, step_size),
                       PG_OPT_S(etaminus, etaplus, step_size_min, step_size_max, maximize != 0), &j,
                       rprop_range_f32, rprop_range_f64);
}
