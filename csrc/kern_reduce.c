/* kern_reduce.c: the reduction kernels: sum, max, min and the 2-norm of a
 * tensor over any set of axes into an already shaped result (pg__reduce_into),
 * the row runner that lays operand 0 out as the reduced tensor
 * (pg__reduce_run), and pg__sum_into, which folds a broadcast gradient back to
 * an input's shape (for the backward kernels of broadcasting ops). float32
 * sums accumulate in float64. Sums over leading dims (column sums, broadcast
 * gradients) add rows in order. A sum along a contiguous row runs in
 * PG_SUM_LANES interleaved partial sums (that order vectorises); a reduction
 * to one element takes fixed PG_SUM_CHUNK pieces (pg__run_pieces: on several
 * threads when large, also for the fused losses) and combines them in order.
 * Results do not depend on the number of threads. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Column sums of a contiguous x[R, C] into acc[C]. */
typedef struct pg_rows_job {
    double *acc;   /* [C] */
    const void *x; /* [R, C] */
    int64_t R, C;
} pg_rows_job;

/* Sums of a contiguous x[R, C, S] over R and S into acc[C] (a bias gradient: N, C, H, W). */
typedef struct pg_mid_job {
    double *acc;   /* [C] */
    const void *x; /* [R, C, S] */
    int64_t R, C, S;
} pg_mid_job;

/* part[c] = fn(ctx, the c-th piece of [0, n)), one value per PG_SUM_CHUNK elements. */
typedef struct pg_pieces_job {
    pg_piece_fn fn;
    void *ctx;
    int64_t n;
    double *part;  /* [pg__piece_count(n)] */
} pg_pieces_job;

/* A reduction of a whole contiguous tensor, a piece at a time. */
typedef struct pg_chunks_job {
    const void *x; /* [n] */
    int kind;
} pg_chunks_job;

/* The reduced tensor's shape: keepdims keeps reduced dims as 1. */
void pg__reduced_meta(pg_meta *out, const pg_meta *x, unsigned axes, bool keepdims) {
    out->dtype = x->dtype;
    int n = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (axes & (1u << d)) {
            if (keepdims) out->shape[n++] = 1;
        } else {
            out->shape[n++] = x->shape[d];
        }
    }
    out->ndim = n;
}

int64_t pg__reduced_count(const pg_meta *x, unsigned axes) {
    int64_t c = 1;
    for (int d = 0; d < x->ndim; d++)
        if (axes & (1u << d)) c = pg__mul_sat(c, x->shape[d]);
    return c;
}

/* element strides of the kept-dims shape, 0 on reduced dims: where x's
 * element i lands in the reduced tensor */
void pg__reduced_strides(const pg_meta *x, unsigned axes, int64_t *st) {
    int64_t s = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        if (axes & (1u << d)) {
            st[d] = 0;
        } else {
            st[d] = s;
            s = pg__mul_sat(s, x->shape[d]);
        }
    }
}

#define PG_SUM_LANES 16
#define PG_SUM_CHUNK 4096

/* The extreme of a, x[0], ..., x[n-1] taken in order by the rule a = v when v OP a or v is NaN (OP >: max,
 * <: min; a NaN wins, numpy's rule, and the last NaN is the one kept): what the plain loop gives, by a
 * vectorised pass (a lane per element of a 64-byte vector, v OP lane ? v : lane, which is the vector max/min
 * instruction, and a flag for NaNs) whose result is that value whenever the extreme is found once with no
 * NaN about; a NaN in x or a, or an extreme of 0 (+0 and -0 compare equal, and the first met is kept), takes
 * the plain loop */
/* lane = v where v OP lane, lane elsewhere (the vector max / min instruction) */
#define PG_EXT_MERGE(VI, OP, lane, v)                                                            \
    do {                                                                                         \
        VI take_ = (v) OP lane;                                                                  \
        lane = (__typeof__(lane))(((VI)(v) & take_) | ((VI)lane & ~take_));                      \
    } while (0)
/* the same with v the vector at p; nanv takes its lanes that are NaN (not >= -inf; a select, which AVX-512F
 * makes from a comparison's mask register, where an AND of comparisons is lowered lane by lane) */
#define PG_EXT_STEP(VT, VI, OP, lane, p, nanv, ninf)                                             \
    do {                                                                                         \
        VT v_;                                                                                   \
        memcpy(&v_, p, sizeof v_);                                                               \
        PG_EXT_MERGE(VI, OP, lane, v_);                                                          \
        VI num_ = v_ >= ninf;                                                                    \
        nanv = (VT)(((VI)nanv & num_) | ((VI)v_ & ~num_));                                       \
    } while (0)
#define PG_EXT_CONTIG(TT, VT, VI, NAME, OP, INIT)                                                \
    PG_CLONES TT NAME(const TT *restrict x, int64_t n, TT a) {                                   \
        enum { L = sizeof(VT) / sizeof(TT) };                                                    \
        VT l0, l1, l2, l3;                                                                       \
        VT nanv = {0}; /* a NaN in a lane that met one */                                        \
        for (int l = 0; l < L; l++) l0[l] = INIT;                                                \
        l1 = l2 = l3 = l0;                                                                       \
        VT ninf;                                                                                 \
        for (int l = 0; l < L; l++) ninf[l] = -INFINITY;                                         \
        int64_t i = 0;                                                                           \
        for (; i + 4 * L <= n; i += 4 * L) { /* four vectors a step: four chains */              \
            PG_EXT_STEP(VT, VI, OP, l0, x + i, nanv, ninf);                                             \
            PG_EXT_STEP(VT, VI, OP, l1, x + i + L, nanv, ninf);                                         \
            PG_EXT_STEP(VT, VI, OP, l2, x + i + 2 * L, nanv, ninf);                                     \
            PG_EXT_STEP(VT, VI, OP, l3, x + i + 3 * L, nanv, ninf);                                     \
        }                                                                                        \
        for (; i + L <= n; i += L) PG_EXT_STEP(VT, VI, OP, l0, x + i, nanv, ninf);                      \
        PG_EXT_MERGE(VI, OP, l0, l1);                                                            \
        PG_EXT_MERGE(VI, OP, l0, l2);                                                            \
        PG_EXT_MERGE(VI, OP, l0, l3);                                                            \
        const VT lane = l0;                                                                      \
        TT m = INIT;                                                                             \
        int bad = 0;                                                                             \
        for (int l = 0; l < L; l++) {                                                            \
            m = lane[l] OP m ? lane[l] : m;                                                      \
            bad |= nanv[l] != nanv[l];                                                           \
        }                                                                                        \
        for (; i < n; i++) {                                                                     \
            m = x[i] OP m ? x[i] : m;                                                            \
            bad |= x[i] != x[i];                                                                 \
        }                                                                                        \
        if (!bad && m != 0 && a == a) return m OP a ? m : a;                                     \
        for (i = 0; i < n; i++)                                                                  \
            if (x[i] OP a || isnan(x[i])) a = x[i];                                              \
        return a;                                                                                \
    }

/* acc = max(acc, x) (OP >) or min (OP <), NaN wins (numpy's rule) */
#define PG_EXT_ROW(TT, NAME, CONTIG, OP)                                                         \
    static void NAME(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {                \
        TT *acc = (TT *)ptr[0];                                                                  \
        const TT *x = (const TT *)ptr[1];                                                        \
        (void)ctx;                                                                               \
        if (st[0] == 0 && st[1] == 1) { /* along a contiguous row */                             \
            acc[0] = CONTIG(x, n, acc[0]);                                                       \
            return;                                                                              \
        }                                                                                        \
        if (st[0] == 0) { /* one accumulator: kept in a register, the same comparisons in order */ \
            TT a = acc[0];                                                                       \
            for (int64_t i = 0; i < n; i++) {                                                    \
                TT v = x[i * st[1]];                                                             \
                if (__builtin_expect(v OP a || isnan(v), 0)) a = v; /* rare: a branch, not a chain */ \
            }                                                                                    \
            acc[0] = a;                                                                          \
            return;                                                                              \
        }                                                                                        \
        if (st[0] == 1 && st[1] == 1) { /* elementwise over contiguous rows: a select, vectorised */ \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                           \
                TT v = x[i], b = acc[i];                                                         \
                acc[i] = v OP b || v != v ? v : b;                                               \
            }                                                                                    \
            return;                                                                              \
        }                                                                                        \
        for (int64_t i = 0; i < n; i++) {                                                        \
            TT v = x[i * st[1]], *a = &acc[i * st[0]];                                           \
            if (v OP *a || isnan(v)) *a = v;                                                     \
        }                                                                                        \
    }

typedef float pg_ext_v16f __attribute__((vector_size(64)));
typedef int32_t pg_ext_v16i __attribute__((vector_size(64)));
typedef double pg_ext_v8d __attribute__((vector_size(64)));
typedef int64_t pg_ext_v8i __attribute__((vector_size(64)));
PG_EXT_CONTIG(float, pg_ext_v16f, pg_ext_v16i, pg__max_contig_f32, >, -INFINITY)
PG_EXT_CONTIG(float, pg_ext_v16f, pg_ext_v16i, pg__min_contig_f32, <, INFINITY)
PG_EXT_CONTIG(double, pg_ext_v8d, pg_ext_v8i, pg__max_contig_f64, >, -INFINITY)
PG_EXT_CONTIG(double, pg_ext_v8d, pg_ext_v8i, pg__min_contig_f64, <, INFINITY)

/* an element's term of a sum (SQ 0) or of a sum of squares (SQ 1), in double: a float32 square is exact */
#define PG_TERM(SQ, v) ((SQ) ? (double)(v) * (double)(v) : (double)(v))
/* CONTIG: Σ of the terms of x[0:n] (contiguous): lane l adds x[l], x[l + LANES], ...; lanes are added
 * pairwise at the end. ROW: acc (double) += the terms of x, a row kernel of pg__reduce_run */
#define PG_SUM_ROWS(TT, CONTIG, ROW, SQ)                                                         \
    PG_CLONES double CONTIG(const TT *x, int64_t n) {                                            \
        double lane[PG_SUM_LANES] = {0};                                                         \
        int64_t i = 0;                                                                           \
        for (; i + PG_SUM_LANES <= n; i += PG_SUM_LANES)                                         \
            for (int l = 0; l < PG_SUM_LANES; l++) lane[l] += PG_TERM(SQ, x[i + l]);             \
        for (int w = PG_SUM_LANES / 2; w > 0; w /= 2)                                            \
            for (int l = 0; l < w; l++) lane[l] += lane[l + w];                                  \
        double s = lane[0];                                                                      \
        for (; i < n; i++) s += PG_TERM(SQ, x[i]);                                               \
        return s;                                                                                \
    }                                                                                            \
    static void ROW(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {                 \
        double *acc = (double *)ptr[0];                                                          \
        const TT *x = (const TT *)ptr[1];                                                        \
        (void)ctx;                                                                               \
        if (st[0] == 0 && st[1] == 1) {                                                          \
            acc[0] += CONTIG(x, n);                                                              \
        } else if (st[0] == 0) {                                                                 \
            double s = 0;                                                                        \
            for (int64_t i = 0; i < n; i++) s += PG_TERM(SQ, x[i * st[1]]);                      \
            acc[0] += s;                                                                         \
        } else if (st[0] == 1 && st[1] == 1) {                                                   \
            PG_IVDEP for (int64_t i = 0; i < n; i++) acc[i] += PG_TERM(SQ, x[i]);                \
        } else {                                                                                 \
            for (int64_t i = 0; i < n; i++) acc[i * st[0]] += PG_TERM(SQ, x[i * st[1]]);         \
        }                                                                                        \
    }
#define PG_RED_ROWS(TT, SUF)                                                                     \
    PG_SUM_ROWS(TT, pg__sum_contig_##SUF, sum_row_##SUF, 0)                                      \
    PG_SUM_ROWS(TT, pg__sumsq_contig_##SUF, sumsq_row_##SUF, 1)                                  \
    /* the value of the piece [lo, hi) of x: sum, sum of squares, max or min */                  \
    static double chunk_##SUF(void *arg, int64_t lo, int64_t hi) {                               \
        const pg_chunks_job *j = arg;                                                            \
        const TT *x = (const TT *)j->x + lo;                                                     \
        switch (j->kind) {                                                                       \
        case PG_R_SUM: return pg__sum_contig_##SUF(x, hi - lo);                                  \
        case PG_R_NORM2: return pg__sumsq_contig_##SUF(x, hi - lo);                              \
        case PG_R_MAX: return pg__max_contig_##SUF(x, hi - lo, -INFINITY);                       \
        default: return pg__min_contig_##SUF(x, hi - lo, INFINITY);                              \
        }                                                                                        \
    }                                                                                            \
    PG_EXT_ROW(TT, max_row_##SUF, pg__max_contig_##SUF, >)                                       \
    PG_EXT_ROW(TT, min_row_##SUF, pg__min_contig_##SUF, <)
PG_RED_ROWS(float, f32)
PG_RED_ROWS(double, f64)

/* The float64 2-norm's second pass (pg__norm2_finish). acc (double) = max(acc, |x|), a NaN kept */
static void absmax_row_f64(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {
    double *acc = (double *)ptr[0];
    const double *x = (const double *)ptr[1];
    (void)ctx;
    for (int64_t i = 0; i < n; i++) {
        double v = fabs(x[i * st[1]]), *a = &acc[i * st[0]];
        if (v > *a || isnan(v)) *a = v;
    }
}
/* acc (double) += (x / m)^2, m (reduced layout) the largest |x| of x's result */
static void scaledsq_row_f64(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {
    double *acc = (double *)ptr[0];
    const double *x = (const double *)ptr[1], *m = (const double *)ptr[2];
    (void)ctx;
    for (int64_t i = 0; i < n; i++) {
        double q = x[i * st[1]] / m[i * st[2]];
        acc[i * st[0]] += q * q;
    }
}

/* Σ e^(x_j - m) over x[0:n), in double: e^t by kern_vmath's vector exp, PG_EXPSUM_CHUNK elements at a time
 * (into e[0:n) when e is not NULL, else through the stack), each chunk summed as pg__sum_contig, the chunks
 * in order */
#define PG_EXPSUM_CHUNK 256
#define PG_EXPSUM(TT, SUF)                                                                       \
    PG_CLONES double pg__expsum_##SUF(const TT *x, int64_t n, TT m, TT *e) {                     \
        TT buf[PG_EXPSUM_CHUNK];                                                                 \
        double s = 0;                                                                            \
        for (int64_t j0 = 0; j0 < n; j0 += PG_EXPSUM_CHUNK) {                                    \
            const int64_t c = n - j0 < PG_EXPSUM_CHUNK ? n - j0 : PG_EXPSUM_CHUNK;               \
            TT *t = e ? e + j0 : buf;                                                            \
            PG_IVDEP for (int64_t k = 0; k < c; k++) t[k] = x[j0 + k] - m;                       \
            pg__vm_##SUF(PG_VM_EXP, t, NULL, t, c, 1.0);                                         \
            s += pg__sum_contig_##SUF(t, c);                                                     \
        }                                                                                        \
        return s;                                                                                \
    }
PG_EXPSUM(float, f32)
PG_EXPSUM(double, f64)

/* Short rows (softmax, cross_entropy): rows [0, rows) of n contiguous elements, taken together so that the
 * vector exp runs once over all of them: m[r] the row's maximum by the rule of pg__max_contig (a NaN wins),
 * then 0 where it is -inf (and +inf too with both_inf); e[r n + j] = e^(x - m[r]); s[r] = Σ_j e, in double,
 * in order */
#define PG_ROWS_EXPSUM(TT, SUF)                                                                  \
    PG_CLONES void pg__rows_expsum_##SUF(const TT *x, int64_t rows, int64_t n, bool both_inf, TT *m, \
                                         double *s, TT *e) {                                     \
        for (int64_t r = 0; r < rows; r++) {                                                     \
            const TT *xr = x + r * n;                                                            \
            TT a = -(TT)INFINITY;                                                                \
            for (int64_t j = 0; j < n; j++)                                                      \
                if (xr[j] > a || isnan(xr[j])) a = xr[j];                                        \
            m[r] = a == -(TT)INFINITY || (both_inf && isinf(a)) ? (TT)0 : a;                     \
            TT *er = e + r * n;                                                                  \
            const TT mr = m[r];                                                                  \
            for (int64_t j = 0; j < n; j++) er[j] = xr[j] - mr;                                  \
        }                                                                                        \
        pg__vm_##SUF(PG_VM_EXP, e, NULL, e, rows * n, 1.0);                                      \
        for (int64_t r = 0; r < rows; r++) {                                                     \
            double t = 0;                                                                        \
            for (int64_t j = 0; j < n; j++) t += e[r * n + j];                                   \
            s[r] = t;                                                                            \
        }                                                                                        \
    }
PG_ROWS_EXPSUM(float, f32)
PG_ROWS_EXPSUM(double, f64)

#define PG_RED_COLS(TT, SUF)                                                                     \
    /* acc[lo:hi] += column sums of x[R, C], rows added in order (as a row at a time             \
     * would), 8 rows per pass over acc: storing acc after every row stalls the loads of         \
     * the next rows (same address bits 0-11 when rows are 4 KB apart) */                        \
    PG_CLONES static void rows_##SUF(void *arg, int64_t lo, int64_t hi) {                        \
        const pg_rows_job *j = arg;                                                              \
        const int64_t C = j->C;                                                                  \
        const TT *x = j->x;                                                                      \
        double *acc = j->acc;                                                                    \
        int64_t r = 0;                                                                           \
        for (; r + 8 <= j->R; r += 8) {                                                          \
            const TT *p = x + r * C;                                                             \
            PG_IVDEP for (int64_t i = lo; i < hi; i++) {                                         \
                double s = acc[i];                                                               \
                s += p[i];                                                                       \
                s += p[i + C];                                                                   \
                s += p[i + 2 * C];                                                               \
                s += p[i + 3 * C];                                                               \
                s += p[i + 4 * C];                                                               \
                s += p[i + 5 * C];                                                               \
                s += p[i + 6 * C];                                                               \
                s += p[i + 7 * C];                                                               \
                acc[i] = s;                                                                      \
            }                                                                                    \
        }                                                                                        \
        for (; r < j->R; r++) {                                                                  \
            const TT *p = x + r * C;                                                             \
            PG_IVDEP for (int64_t i = lo; i < hi; i++) acc[i] += p[i];                           \
        }                                                                                        \
    }
PG_RED_COLS(float, f32)
PG_RED_COLS(double, f64)

/* Channels per block of pg_mid_job's sums, kept in a local array: written to acc once, so two
 * threads' blocks never share a cache line of acc while they add (sharing one, the threads spent
 * most of a 4M-element float64 sum passing it back and forth: 2.9x the one-thread time). */
#define PG_MID_BLOCK 128

#define PG_RED_MID(TT, SUF)                                                                      \
    /* acc[lo:hi] = sums of x[:, lo:hi, :], each channel's rows of S added in r order: the      \
     * order of the row-at-a-time loop (acc[c] += row sum, rows in order) */                     \
    static void mid_##SUF(void *arg, int64_t lo, int64_t hi) {                                   \
        const pg_mid_job *j = arg;                                                               \
        const TT *x = j->x;                                                                      \
        double part[PG_MID_BLOCK];                                                               \
        for (int64_t c0 = lo; c0 < hi; c0 += PG_MID_BLOCK) {                                     \
            const int64_t nb = hi - c0 < PG_MID_BLOCK ? hi - c0 : PG_MID_BLOCK;                  \
            for (int64_t c = 0; c < nb; c++) part[c] = j->acc[c0 + c];                           \
            for (int64_t r = 0; r < j->R; r++) {                                                 \
                const TT *p = x + (r * j->C + c0) * j->S;                                        \
                for (int64_t c = 0; c < nb; c++) part[c] += pg__sum_contig_##SUF(p + c * j->S, j->S); \
            }                                                                                    \
            for (int64_t c = 0; c < nb; c++) j->acc[c0 + c] = part[c];                           \
        }                                                                                        \
    }
PG_RED_MID(float, f32)
PG_RED_MID(double, f64)

/* Runs a row over x's index space with operand 0 laid out as the reduced
 * tensor (reduced dims stride 0), and operands 1.. given. */
void pg__reduce_run(const pg_meta *xm, unsigned axes, char *acc, size_t acc_es, int nops,
                           char *const *ops, const size_t *es, const bool *reduced_layout, pg_row_fn fn,
                           void *ctx) {
    int64_t st[PG_NDITER_MAX_OPS][PG_MAX_DIMS], rst[PG_MAX_DIMS], cst[PG_MAX_DIMS];
    char *base[PG_NDITER_MAX_OPS];
    size_t esz[PG_NDITER_MAX_OPS];
    pg__reduced_strides(xm, axes, rst);
    pg__strides(xm->ndim, xm->shape, cst);
    memcpy(st[0], rst, sizeof rst);
    base[0] = acc;
    esz[0] = acc_es;
    for (int k = 0; k < nops; k++) {
        memcpy(st[k + 1], reduced_layout[k] ? rst : cst, sizeof rst);
        base[k + 1] = ops[k];
        esz[k + 1] = es[k];
    }
    pg_nditer it;
    pg__nditer_init(&it, xm->ndim, xm->shape, nops + 1, st);
    pg__nditer_run(&it, base, esz, fn, ctx);
}

int64_t pg__piece_count(int64_t n) { return (n + PG_SUM_CHUNK - 1) / PG_SUM_CHUNK; }

static void pg__pieces_range(void *arg, int64_t lo, int64_t hi) {
    const pg_pieces_job *j = arg;
    for (int64_t c = lo; c < hi; c++) {
        int64_t a = c * PG_SUM_CHUNK, b = a + PG_SUM_CHUNK < j->n ? a + PG_SUM_CHUNK : j->n;
        j->part[c] = j->fn(j->ctx, a, b);
    }
}

void pg__run_pieces(int64_t n, pg_piece_fn fn, void *ctx, double *part) {
    pg_pieces_job j = {fn, ctx, n, part};
    pg__parallel_range(pg__piece_count(n), 1, (PG_NDITER_GRAIN + PG_SUM_CHUNK - 1) / PG_SUM_CHUNK,
                       pg__pieces_range, &j);
}

pg_status pg__sum_pieces(const char *op, int64_t n, pg_piece_fn fn, void *ctx, double *sum) {
    int64_t nc = pg__piece_count(n);
    double one, *part = nc <= 1 ? &one : malloc(sizeof(double) * (size_t)nc);
    if (!part) return pg__fail(PG_ERR_MEMORY, "%s: out of memory", op);
    pg__run_pieces(n, fn, ctx, part);
    double s = 0;
    for (int64_t c = 0; c < nc; c++) s += part[c];
    if (part != &one) free(part);
    *sum = s;
    return PG_OK;
}

static const char *pg__kind_name(int kind) {
    return kind == PG_R_SUM ? "sum" : kind == PG_R_NORM2 ? "norm" : "max/min";
}

/* The 2-norms r[0:nr) of x's results over axes from their sums of squares s (r may be s): √s, except where
 * float64 squares may have left the range (s infinite, or below 2^-960, where the squares of small
 * elements lose bits or vanish): there a second pass takes m = max |x| and r = m √Σ (x/m)^2 (inf where an
 * element is infinite, 0 where all are). float32 elements square exactly in double: never there. */
static pg_status pg__norm2_finish(double *r, const double *s, int64_t nr, const pg_tensor *x, unsigned axes) {
    bool rescale = false;
    for (int64_t i = 0; i < nr; i++) {
        rescale |= x->dtype == PG_DTYPE_F64 && (isinf(s[i]) || s[i] < 0x1p-960);
        r[i] = sqrt(s[i]);
    }
    if (!rescale) return PG_OK;
    double *m = calloc((size_t)nr, sizeof(double)), *q = calloc((size_t)nr, sizeof(double));
    if (!m || !q) {
        free(m);
        free(q);
        return pg__fail(PG_ERR_MEMORY, "norm: out of memory");
    }
    pg_meta xm;
    pg__meta_of(&xm, x);
    char *ops[2] = {x->data, (char *)m};
    size_t es[2] = {sizeof(double), sizeof(double)};
    bool lay[2] = {false, true};
    pg__reduce_run(&xm, axes, (char *)m, sizeof(double), 1, ops, es, lay, absmax_row_f64, NULL);
    pg__reduce_run(&xm, axes, (char *)q, sizeof(double), 2, ops, es, lay, scaledsq_row_f64, NULL);
    for (int64_t i = 0; i < nr; i++)
        if (isinf(r[i]) || r[i] < 0x1p-480) r[i] = isinf(m[i]) || m[i] == 0 ? m[i] : m[i] * sqrt(q[i]);
    free(m);
    free(q);
    return PG_OK;
}

/* out (one element) = reduction of all of x: per-piece values (on several
 * threads when x is large), combined in piece order with the same rule */
static pg_status pg__reduce_all(pg_tensor *out, const pg_tensor *x, int kind, bool mean) {
    int64_t n = x->numel, nc = pg__piece_count(n);
    int f64 = x->dtype == PG_DTYPE_F64;
    double one, *part = nc <= 1 ? &one : malloc(sizeof(double) * (size_t)nc);
    if (!part) return pg__fail(PG_ERR_MEMORY, "%s: out of memory", pg__kind_name(kind));
    pg_chunks_job j = {x->data, kind};
    pg__run_pieces(n, f64 ? chunk_f64 : chunk_f32, &j, part);
    bool sum = kind == PG_R_SUM || kind == PG_R_NORM2;
    double r = sum ? 0.0 : kind == PG_R_MAX ? -INFINITY : INFINITY;
    for (int64_t c = 0; c < nc; c++) {
        double v = part[c];
        if (sum) r += v;
        else if ((kind == PG_R_MAX ? v > r : v < r) || isnan(v)) r = v;
    }
    if (part != &one) free(part);
    if (mean) r /= (double)n;
    if (kind == PG_R_NORM2) {
        pg_status st = pg__norm2_finish(&r, &r, 1, x, x->ndim ? (unsigned)((1u << x->ndim) - 1) : 0u);
        if (st) return st;
    }
    if (f64) *(double *)out->data = r;
    else *(float *)out->data = (float)r;
    return PG_OK;
}

/* out (already shaped) = reduction of x over axes */
pg_status pg__reduce_into(pg_tensor *out, const pg_tensor *x, unsigned axes, int kind, bool mean) {
    pg_meta xm;
    pg__meta_of(&xm, x);
    int f64 = x->dtype == PG_DTYPE_F64;
    size_t es = pg__dtype_size(x->dtype);
    char *xp = x->data;
    bool no = false;
    if (out->numel == 1 && x->numel > 0) return pg__reduce_all(out, x, kind, mean);
    if (kind == PG_R_NORM2) { /* Σ x^2 by rows in double, then the roots */
        double *acc = f64 ? out->data : calloc((size_t)(out->numel ? out->numel : 1), sizeof(double));
        if (!acc) return pg__fail(PG_ERR_MEMORY, "norm: out of memory");
        if (f64) memset(acc, 0, sizeof(double) * (size_t)out->numel);
        pg__reduce_run(&xm, axes, (char *)acc, sizeof(double), 1, &xp, &es, &no,
                       f64 ? sumsq_row_f64 : sumsq_row_f32, NULL);
        pg_status st = pg__norm2_finish(acc, acc, out->numel, x, axes);
        if (!f64) {
            float *o = out->data;
            for (int64_t i = 0; i < out->numel; i++) o[i] = (float)acc[i];
            free(acc);
        }
        return st;
    }
    if (kind == PG_R_SUM) {
        double *acc = f64 ? out->data : calloc((size_t)(out->numel ? out->numel : 1), sizeof(double));
        if (!acc) return pg__fail(PG_ERR_MEMORY, "sum: out of memory");
        if (f64) memset(acc, 0, sizeof(double) * (size_t)out->numel);
        /* the reduced dims all come before the kept ones (size-1 dims aside): x is [R, C] */
        int64_t R = 1, C = 1;
        bool leading = x->numel > 0; /* then R * C = numel: no overflow */
        for (int d = 0; leading && d < xm.ndim; d++) {
            if (xm.shape[d] == 1) continue;
            if (axes & (1u << d)) {
                if (C > 1) leading = false;
                R *= xm.shape[d];
            } else {
                C *= xm.shape[d];
            }
        }
        /* or x is [R, C, S]: reduced dims, then kept ones, then reduced ones (size-1 dims aside) */
        int64_t R3 = 1, C3 = 1, S3 = 1;
        int stage = 0; /* 0: leading reduced dims, 1: kept dims, 2: trailing reduced dims, 3: neither */
        for (int d = 0; x->numel > 0 && stage < 3 && d < xm.ndim; d++) {
            if (xm.shape[d] == 1) continue;
            bool red = axes & (1u << d);
            if (stage == 0 && !red) stage = 1;
            else if (stage == 1 && red) stage = 2;
            else if (stage == 2 && !red) stage = 3;
            if (stage == 3) break;
            if (stage == 1) C3 *= xm.shape[d];
            else if (stage == 0) R3 *= xm.shape[d];
            else S3 *= xm.shape[d];
        }
        if (leading && R > 1 && C > 1) {
            pg_rows_job j = {acc, xp, R, C};
            int64_t grain = PG_NDITER_GRAIN / R > 64 ? PG_NDITER_GRAIN / R : 64;
            pg__parallel_range(C, 64, grain, f64 ? rows_f64 : rows_f32, &j);
        } else if (stage == 2 && C3 > 1 && S3 > 1) {
            pg_mid_job j = {acc, xp, R3, C3, S3};
            int64_t per = R3 * S3, grain = PG_NDITER_GRAIN / per > 1 ? PG_NDITER_GRAIN / per : 1;
            pg__parallel_range(C3, 8, grain, f64 ? mid_f64 : mid_f32, &j);
        } else {
            pg__reduce_run(&xm, axes, (char *)acc, sizeof(double), 1, &xp, &es, &no,
                           f64 ? sum_row_f64 : sum_row_f32, NULL);
        }
        double cnt = (double)pg__reduced_count(&xm, axes);
        if (f64) {
            if (mean)
                for (int64_t i = 0; i < out->numel; i++) acc[i] /= cnt;
        } else {
            float *o = out->data;
            for (int64_t i = 0; i < out->numel; i++) o[i] = (float)(mean ? acc[i] / cnt : acc[i]);
            free(acc);
        }
        return PG_OK;
    }
    bool mx = kind == PG_R_MAX;
    if (f64) {
        double *o = out->data;
        for (int64_t i = 0; i < out->numel; i++) o[i] = mx ? -INFINITY : INFINITY;
    } else {
        float *o = out->data;
        for (int64_t i = 0; i < out->numel; i++) o[i] = mx ? -INFINITY : INFINITY;
    }
    pg_row_fn fn = mx ? (f64 ? max_row_f64 : max_row_f32) : (f64 ? min_row_f64 : min_row_f32);
    pg__reduce_run(&xm, axes, out->data, es, 1, &xp, &es, &no, fn, NULL);
    return PG_OK;
}

/* Folds g (a broadcast result's gradient) into out, of the target's shape,
 * by summing over the dims broadcasting added or stretched. Not recorded. */
pg_status pg__sum_into(pg_tensor *out, const pg_tensor *g) {
    int lead = g->ndim - out->ndim;
    unsigned axes = 0;
    for (int d = 0; d < g->ndim; d++)
        if (d < lead || (out->shape[d - lead] == 1 && g->shape[d] != 1)) axes |= 1u << d;
    /* the reduced tensor with keepdims has the target's numel and layout */
    return pg__reduce_into(out, g, axes, PG_R_SUM, false);
}

/* ---- integer and bool reductions (never recorded): in int64, wrapping ---- */

#define PG_IRED_ROW(TT, SUF)                                                                    \
    static void ired_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {     \
        int64_t *acc = (int64_t *)ptr[0];                                                       \
        const TT *x = (const TT *)ptr[1];                                                       \
        int kind = *(const int *)ctx;                                                           \
        for (int64_t i = 0; i < n; i++) {                                                       \
            int64_t v = (int64_t)x[i * st[1]], *a = &acc[i * st[0]];                            \
            if (kind == PG_R_SUM) *a = (int64_t)((uint64_t)*a + (uint64_t)v);                   \
            else if (kind == PG_R_MAX ? v > *a : v < *a) *a = v;                                \
        }                                                                                       \
    }
PG_IRED_ROW(uint8_t, b8)
PG_IRED_ROW(int32_t, i32)
PG_IRED_ROW(int64_t, i64)

pg_status pg__reduce_int_into(pg_tensor *out, const pg_tensor *x, unsigned axes, int kind) {
    pg_meta xm;
    pg__meta_of(&xm, x);
    int64_t *acc = out->dtype == PG_DTYPE_I64 ? out->data : malloc(sizeof(int64_t) * (size_t)(out->numel ? out->numel : 1));
    if (!acc) return pg__fail(PG_ERR_MEMORY, "%s: out of memory", kind == PG_R_SUM ? "sum" : "max/min");
    int64_t init = kind == PG_R_SUM ? 0 : kind == PG_R_MAX ? INT64_MIN : INT64_MAX;
    for (int64_t i = 0; i < out->numel; i++) acc[i] = init;
    char *xp = x->data;
    size_t es = pg__dtype_size(x->dtype);
    bool no = false;
    pg_row_fn fn = x->dtype == PG_DTYPE_BOOL ? ired_row_b8 : x->dtype == PG_DTYPE_I32 ? ired_row_i32 : ired_row_i64;
    pg__reduce_run(&xm, axes, (char *)acc, sizeof(int64_t), 1, &xp, &es, &no, fn, &kind);
    if ((void *)acc != out->data) {
        pg__convert(out->data, out->dtype, acc, PG_DTYPE_I64, out->numel);
        free(acc);
    }
    return PG_OK;
}

/* the flat index of the first value outside [0, 1] (or NaN), -1 when none: one branch-free pass, then a
 * search (bernoulli's probabilities, binary_cross_entropy's input and target) */
#define PG_UNIT_SCAN(T, sfx)                                                                  \
    PG_CLONES static int64_t pg__outside_unit_##sfx(const T *restrict p, int64_t n) {        \
        int bad = 0;                                                                          \
        for (int64_t i = 0; i < n; i++) bad |= !(p[i] >= 0 && p[i] <= 1);                     \
        if (!bad) return -1;                                                                  \
        for (int64_t i = 0; i < n; i++)                                                       \
            if (!(p[i] >= 0 && p[i] <= 1)) return i;                                          \
        return -1;                                                                            \
    }
PG_UNIT_SCAN(float, f32)
PG_UNIT_SCAN(double, f64)

int64_t pg__outside_unit(const pg_tensor *t) {
    return t->dtype == PG_DTYPE_F64 ? pg__outside_unit_f64(t->data, t->numel) : pg__outside_unit_f32(t->data, t->numel);
}

/* the flat index of the first NaN or infinity, -1 when none (anomaly detection, check_finite_norm) */
#define PG_FINITE_SCAN(T, sfx)                                                                \
    PG_CLONES static int64_t pg__first_nonfinite_##sfx(const T *restrict p, int64_t n) {     \
        int bad = 0;                                                                          \
        for (int64_t i = 0; i < n; i++) bad |= !(p[i] - p[i] == 0);                           \
        if (!bad) return -1;                                                                  \
        for (int64_t i = 0; i < n; i++)                                                       \
            if (!isfinite(p[i])) return i;                                                    \
        return -1;                                                                            \
    }
PG_FINITE_SCAN(float, f32)
PG_FINITE_SCAN(double, f64)

int64_t pg__first_nonfinite(const pg_tensor *t) {
    if (t->dtype == PG_DTYPE_F64) return pg__first_nonfinite_f64(t->data, t->numel);
    if (t->dtype == PG_DTYPE_F32) return pg__first_nonfinite_f32(t->data, t->numel);
    return -1;
}

