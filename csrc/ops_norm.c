/* ops_norm.c: the normalisation ops, PyTorch's batch_norm, layer_norm and
 * group_norm, each one fused forward kernel and one fused backward kernel
 * (norm_kernels.h, float32 and float64), sharing one geometry:
 *
 *   batch_norm(x, w, stats, b)   x (N, C, *): a statistic per channel c, over (N, *)
 *   group_norm(x, w, stats, b)   x (N, C, *): a statistic per (n, group), over (C/G, *)
 *   layer_norm(x, w, stats, b)   x (..., *normalized_shape): a statistic per leading index
 *
 *   y = (x - mean) rstd w + b,   rstd = 1 / sqrt(var + eps)   (var biased)
 *
 * w and b have a value per channel (layer_norm: per element of the normalized
 * shape); the entry points pass ones and zeros when the caller gives none.
 *
 * stats (2, R) holds each statistic's mean and biased variance: what backward
 * needs from forward. The entry point makes it, so it belongs to the op's node
 * alone; in training the forward kernel fills it (the only input an op here
 * writes), in batch_norm's eval mode it is a copy of the running statistics.
 * It is an input rather than a second output because the tape records one
 * output per op; saving it as input 2 (PG_SAVE_IN2) keeps the node, the tape
 * and the version checks as they are. Inputs are ordered (x, w, stats, b)
 * because the save mask has bits for inputs 0..2 only and b is not needed by
 * backward. batch_norm's running statistics are updated by its entry point
 * after the op, from stats, without recording. */
#include "rules_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The geometry of one normalisation. A statistic r in [0, R) covers nseg
 * contiguous segments of len elements of x (cnt = nseg · len in all). */
typedef struct pg_nm {
    int64_t n, c, s;   /* x as (N, C, S) (layer_norm: (M, K, 1)); w, b [C] */
    int64_t g, cg;     /* group_norm: groups and channels per group */
    int64_t r;         /* statistics: batch C, group N·G, layer M */
    int64_t nseg, len; /* segments per statistic and their length */
    int64_t cnt;       /* elements per statistic */
    int kind;          /* 0 batch, 1 group, 2 layer */
    bool vec;          /* layer_norm: w, b indexed by the position in the segment */
    bool training;     /* statistics from x (else batch_norm's running statistics in stats) */
    int stream;        /* the kernels' stores: pg__nm_stream, set by the op's forward and backward */
    double eps;
} pg_nm;

enum { PG_NM_BATCH, PG_NM_GROUP, PG_NM_LAYER };

/* element offset of segment k of statistic r */
static inline int64_t pg__nm_off(const pg_nm *nm, int64_t r, int64_t k) {
    if (nm->kind == PG_NM_BATCH) return (k * nm->c + r) * nm->s; /* x[k, r, :] */
    return r * nm->cnt + k * nm->len;                             /* row r, channel k of its group */
}

/* channel of segment k of statistic r (not for layer_norm) */
static inline int64_t pg__nm_channel(const pg_nm *nm, int64_t r, int64_t k) {
    if (nm->kind == PG_NM_BATCH) return r;
    return (r % nm->g) * nm->cg + k;
}

/* the kernels' vector type (GCC and clang) and loads of 4 elements as doubles; a clone (PG_CLONES) may not
 * be inlined into its caller, which would drop the clones */
#if defined(__GNUC__)
#define PG_NM_VECTORS 1
#define PG_NOINLINE __attribute__((noinline))
#define PG_NM_INLINE static inline __attribute__((always_inline)) /* into each clone, with its target */
typedef double pg_v4d __attribute__((vector_size(32)));
typedef float pg_v4f __attribute__((vector_size(16)));
PG_NM_INLINE void pg__nm_load4_f32(pg_v4d *out, const float *p) { /* through a pointer: no vector ABI */
    pg_v4f v;
    memcpy(&v, p, sizeof v);
    *out = __builtin_convertvector(v, pg_v4d);
}
PG_NM_INLINE void pg__nm_load4_f64(pg_v4d *out, const double *p) { memcpy(out, p, sizeof *out); }
/* float64's vectors of 8 (one AVX-512 register; two AVX2 ones, four SSE2 ones) */
typedef double pg_v8d __attribute__((vector_size(64)));
typedef float pg_v8f __attribute__((vector_size(32)));
/* float32 sums run in blocks of PG_NM_BLOCK elements in float vectors of 8, each block's sums then added
 * into double accumulators: *acc += the 8 lanes of *v, pairwise into 4 */
#define PG_NM_BLOCK 256
/* the first pass over a statistic (moments, gradient sums) prefetches 2 KiB ahead of what it reads */
#define PG_NM_PREFETCH(p) __builtin_prefetch((const char *)(p) + 2048, 0, 3)
/* float32 layer_norm's backward adds its dw, db contributions in float over groups of PG_NM_ROWS rows */
#define PG_NM_ROWS 16
PG_NM_INLINE void pg__nm_add8(pg_v4d *acc, const pg_v8f *v) { /* through a pointer: no vector ABI */
    pg_v4f lo, hi;
    memcpy(&lo, v, sizeof lo);
    memcpy(&hi, (const char *)v + sizeof lo, sizeof hi);
    *acc += __builtin_convertvector(lo, pg_v4d) + __builtin_convertvector(hi, pg_v4d);
}
#else
#define PG_NM_VECTORS 0
#define PG_NM_PREFETCH(p) ((void)0)
#define PG_NOINLINE
#define PG_NM_INLINE static inline
#endif

/* x86-64: the forward's y and the backward's dx, when large, are stored with streaming stores, which write
 * whole lines without first reading them: a third less traffic for a result that leaves the caches anyway.
 * AVX-512's where the CPU has them (a line a store, in functions compiled for AVX-512 alone, chosen at run
 * time), else SSE2's, which every x86-64 has */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__SSE2__)
#include <immintrin.h>
#define PG_NM_STREAM 1
#define PG_NM_AVX512 __attribute__((target("avx512f")))
#else
#define PG_NM_STREAM 0
#endif

/* how the kernels store their result (forward's y, backward's dx): streaming stores for a tensor of 8 MiB
 * or more (2: AVX-512's, 1: SSE2's), else plain ones (0). Measured on 1 thread with a following relu: at
 * 12.8 MB streaming is faster whether x comes from the caches or from memory (a plain store first reads
 * its line, and the op's read and write phases alternate); at 8 MB it is even; at 6.4 MB and below plain
 * stores win when x was cached, the result staying in the caches for the next op */
static int pg__nm_stream(const pg_nm *nm, size_t elem) {
#if PG_NM_STREAM
    if ((uint64_t)nm->r * (uint64_t)nm->cnt * elem < ((uint64_t)8 << 20)) return 0;
    return __builtin_cpu_supports("avx512f") ? 2 : 1;
#else
    (void)nm, (void)elem;
    return 0;
#endif
}

#define T float
#define PG_NM(name) pg__nm_##name##_f32
#define PG_NM_F32 1
#include "norm_kernels.h"
#undef T
#undef PG_NM
#undef PG_NM_F32
#define T double
#define PG_NM(name) pg__nm_##name##_f64
#define PG_NM_F32 0
#include "norm_kernels.h"
#undef PG_NM_F32
#undef T
#undef PG_NM

/* batch_norm by rows of memory (forward_rows, backward_rows) rather than by channels: when its segments,
 * runs of H·W elements C·H·W apart, are shorter than 64 KiB. Taken a channel at a time, each short run
 * restarts the hardware prefetch, and with huge pages a stride of a multiple of 128 KiB sends every run to
 * the same sets of L2, which then cannot keep the channel for the second read: 32x64x32x32 on 1 thread ran
 * at half the copy roofline. Both orders give the same bits (each channel's sums over n, in order of n);
 * without the scratch (malloc failed) the kernels take the channel order. */
static bool pg__nm_by_rows(const pg_nm *nm, size_t elem) {
    return nm->kind == PG_NM_BATCH && nm->nseg > 1 && nm->len * (int64_t)elem < ((int64_t)64 << 10);
}

static int pg__nm_kind(int op) {
    return op == PG_OP_BATCH_NORM ? PG_NM_BATCH : op == PG_OP_GROUP_NORM ? PG_NM_GROUP : PG_NM_LAYER;
}

/* the geometry from x's meta and the params; checks x's shape against them */
static pg_status pg__nm_plan(pg_nm *nm, int op, const pg_meta *x, const pg_params *p) {
    const char *name = pg_optable[op]->name;
    char b1[PG_SHAPE_BUF];
    memset(nm, 0, sizeof *nm);
    nm->kind = pg__nm_kind(op);
    nm->eps = p->norm.eps;
    nm->training = nm->kind != PG_NM_BATCH || p->norm.training;
    if (nm->kind == PG_NM_LAYER) {
        int k = p->norm.nrm;
        if (k < 1 || k > x->ndim)
            return pg__fail(PG_ERR_SHAPE, "%s: normalized_shape of %d dims for input %s", name, k,
                            pg__shape_str(x->ndim, x->shape, b1, sizeof b1));
        nm->n = pg__numel(x->ndim - k, x->shape);
        nm->c = pg__numel(k, x->shape + x->ndim - k);
        nm->s = 1;
        nm->g = 1;
        nm->cg = nm->c;
        nm->r = nm->n;
        nm->nseg = 1;
        nm->len = nm->c;
        nm->vec = true;
    } else {
        if (x->ndim < 2)
            return pg__fail(PG_ERR_SHAPE, "%s: expected an input of 2 or more dims (N, C, *), got %s", name,
                            pg__shape_str(x->ndim, x->shape, b1, sizeof b1));
        nm->n = x->shape[0];
        nm->c = x->shape[1];
        nm->s = pg__numel(x->ndim - 2, x->shape + 2);
        if (nm->kind == PG_NM_BATCH) {
            nm->r = nm->c;
            nm->nseg = nm->n;
            nm->len = nm->s;
        } else {
            int64_t g = p->norm.groups;
            if (g < 1 || nm->c % g != 0)
                return pg__fail(PG_ERR_VALUE,
                                "%s: expected the number of channels of input %s to be divisible by num_groups, "
                                "got num_groups=%lld", name, pg__shape_str(x->ndim, x->shape, b1, sizeof b1),
                                (long long)g);
            nm->g = g;
            nm->cg = nm->c / g;
            nm->r = pg__mul_sat(nm->n, g);
            nm->nseg = nm->cg;
            nm->len = nm->s;
        }
    }
    nm->cnt = pg__mul_sat(nm->nseg, nm->len);
    return PG_OK;
}

/* w and b: one value per channel ((C,); layer_norm: the normalized shape); stats (2, R) */
static pg_status pg__nm_check_param(const char *name, const char *what, const pg_tensor *t, const pg_meta *x,
                                    const pg_nm *nm, int nrm) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (t->dtype != x->dtype)
        return pg__fail(PG_ERR_TYPE, "%s: %s of dtype %s, expected the input's %s", name, what,
                        pg__dtype_name(t->dtype), pg__dtype_name(x->dtype));
    bool ok;
    if (nm->kind == PG_NM_LAYER)
        ok = t->ndim == nrm && pg__same_dims(nrm, t->shape, x->shape + x->ndim - nrm);
    else
        ok = t->ndim == 1 && t->shape[0] == nm->c;
    if (!ok) {
        if (nm->kind == PG_NM_LAYER)
            return pg__fail(PG_ERR_SHAPE, "%s: %s of shape %s, expected normalized_shape %s", name, what,
                            pg__shape_str(t->ndim, t->shape, b1, sizeof b1),
                            pg__shape_str(nrm, x->shape + x->ndim - nrm, b2, sizeof b2));
        return pg__fail(PG_ERR_SHAPE, "%s: %s of shape %s, expected (%lld,) for input %s", name, what,
                        pg__shape_str(t->ndim, t->shape, b1, sizeof b1), (long long)nm->c,
                        pg__shape_str(x->ndim, x->shape, b2, sizeof b2));
    }
    return PG_OK;
}

static pg_status norm_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const char *name = pg_optable[p->op]->name;
    if (pg__check_float(name, in[0])) return PG_ERR_TYPE;
    pg_meta xm;
    pg__meta_of(&xm, in[0]);
    pg_nm nm;
    if (pg__nm_plan(&nm, p->op, &xm, p)) return pg_last_status();
    if (pg__nm_check_param(name, "weight", in[1], &xm, &nm, p->norm.nrm) ||
        pg__nm_check_param(name, "bias", in[3], &xm, &nm, p->norm.nrm))
        return pg_last_status();
    const pg_tensor *st = in[2];
    if (st->dtype != xm.dtype || st->ndim != 2 || st->shape[0] != 2 || st->shape[1] != nm.r) {
        char b1[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "%s: statistics of shape %s and dtype %s, expected (2, %lld) of %s", name,
                        pg__shape_str(st->ndim, st->shape, b1, sizeof b1), pg__dtype_name(st->dtype),
                        (long long)nm.r, pg__dtype_name(xm.dtype));
    }
    if (nm.kind == PG_NM_BATCH && nm.training && nm.cnt == 1) {
        char b1[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_VALUE, "%s: expected more than 1 value per channel when training, got input %s",
                        name, pg__shape_str(xm.ndim, xm.shape, b1, sizeof b1));
    }
    *out = xm;
    return PG_OK;
}

/* ---- the kernels over the pool ----
 * Forward: member tid takes statistics [R·tid/n, R·(tid+1)/n); each statistic's results come from one
 * member, so they do not depend on the number of members.
 * Backward: dw and db sum over statistics (group_norm's and layer_norm's over every row). So that they do
 * not depend on the number of members either, the statistics are cut into P chunks fixed by the geometry
 * alone (pg__nm_chunks), chunk k = [R·k/P, R·(k+1)/P) summing into its own partials [2][C], which are added
 * in chunk order after the join; member tid takes chunks [P·tid/n, P·(tid+1)/n). batch_norm needs no
 * chunks: a channel is one statistic, its dw, db summed by one member into one shared pair (P = 1, and the
 * members' split of the statistics as in forward). */

#define PG_NM_CHUNKS 64

/* P: up to PG_NM_CHUNKS chunks (at most R), their partials no larger than max(1 MiB, half of x) */
static int64_t pg__nm_chunks(const pg_nm *nm, size_t elem) {
    if (nm->kind == PG_NM_BATCH || nm->r < 1) return 1;
    int64_t p = nm->r < PG_NM_CHUNKS ? nm->r : PG_NM_CHUNKS;
    uint64_t cap = (uint64_t)nm->r * (uint64_t)nm->cnt * elem / 2, min = (uint64_t)1 << 20;
    if (cap < min) cap = min;
    while (p > 1 && (uint64_t)p * 2 * sizeof(double) * (uint64_t)nm->c > cap) p /= 2;
    return p;
}

typedef struct pg_nm_job {
    const pg_nm *nm;
    bool f64, bwd;
    void *y;            /* forward: the output; backward: dx (NULL when not needed) */
    const void *x, *g;  /* g: the upstream gradient (backward) */
    const void *w, *b;
    void *stats;
    double *part;       /* backward: [P][2][C] partial sums of dw, db (batch_norm: P = 1, shared) */
    float *scr;         /* backward, float32 layer_norm: [nthr][2][C] float partials of a few rows */
    int64_t chunks;     /* backward: P */
    int nthr;
    double *acc;        /* by rows (pg__nm_by_rows): [3][C] scratch, else NULL */
} pg_nm_job;

static void pg__nm_bwd(const pg_nm_job *j, int tid, double *pw, int64_t lo, int64_t hi) {
    double *pb = pw + j->nm->c;
    float *scr = j->scr ? j->scr + (size_t)tid * 2 * (size_t)j->nm->c : NULL;
    if (j->f64) pg__nm_backward_f64(j->nm, j->y, j->g, j->x, j->w, j->stats, pw, pb, scr, lo, hi);
    else pg__nm_backward_f32(j->nm, j->y, j->g, j->x, j->w, j->stats, pw, pb, scr, lo, hi);
}

static void pg__nm_run(void *ctx, const pg_team *team) {
    const pg_nm_job *j = ctx;
    int64_t R = j->nm->r;
    if (j->bwd && j->nm->kind != PG_NM_BATCH) {
        int64_t P = j->chunks;
        for (int64_t k = P * team->tid / j->nthr; k < P * (team->tid + 1) / j->nthr; k++)
            if (R * k / P < R * (k + 1) / P)
                pg__nm_bwd(j, team->tid, j->part + (size_t)k * 2 * (size_t)j->nm->c, R * k / P, R * (k + 1) / P);
        return;
    }
    int64_t lo = R * team->tid / j->nthr, hi = R * (team->tid + 1) / j->nthr;
    if (lo >= hi) return;
    if (j->bwd && j->acc) {
        if (j->f64) pg__nm_backward_rows_f64(j->nm, j->y, j->g, j->x, j->w, j->stats, j->part, j->part + j->nm->c,
                                             j->acc, lo, hi);
        else pg__nm_backward_rows_f32(j->nm, j->y, j->g, j->x, j->w, j->stats, j->part, j->part + j->nm->c,
                                      j->acc, lo, hi);
    } else if (j->bwd) pg__nm_bwd(j, team->tid, j->part, lo, hi);
    else if (j->acc && j->f64) pg__nm_forward_rows_f64(j->nm, j->y, j->x, j->w, j->b, j->stats, j->acc, lo, hi);
    else if (j->acc) pg__nm_forward_rows_f32(j->nm, j->y, j->x, j->w, j->b, j->stats, j->acc, lo, hi);
    else if (j->f64) pg__nm_forward_f64(j->nm, j->y, j->x, j->w, j->b, j->stats, lo, hi);
    else pg__nm_forward_f32(j->nm, j->y, j->x, j->w, j->b, j->stats, lo, hi);
}

static int pg__nm_threads(const pg_nm *nm) {
    int nthr = pg__threads_for(pg__mul_sat(nm->r, nm->cnt), PG_NDITER_GRAIN);
    return nthr > nm->r ? (int)(nm->r > 0 ? nm->r : 1) : nthr;
}

static pg_status norm_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg_meta xm;
    pg__meta_of(&xm, in[0]);
    pg_nm nm;
    if (pg__nm_plan(&nm, p->op, &xm, p)) return pg_last_status();
    nm.stream = pg__nm_stream(&nm, pg__dtype_size(xm.dtype));
    pg_nm_job j = {.nm = &nm, .f64 = xm.dtype == PG_DTYPE_F64, .y = out->data, .x = in[0]->data,
                   .w = in[1]->data, .b = in[3]->data, .stats = in[2]->data};
    if (nm.cnt == 0 || nm.r == 0) { /* empty: zero statistics, nothing to normalise */
        if (nm.training) memset(in[2]->data, 0, pg__dtype_size(xm.dtype) * (size_t)in[2]->numel);
        return PG_OK;
    }
    j.nthr = pg__nm_threads(&nm);
    if (pg__nm_by_rows(&nm, pg__dtype_size(xm.dtype))) j.acc = malloc(3 * (size_t)nm.c * sizeof(double));
    pg__parallel(pg__nm_run, &j, j.nthr);
    free(j.acc);
    return PG_OK;
}

static pg_status norm_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_nm nm;
    pg_params p = n->p;
    pg__nm_plan(&nm, n->op, &n->edges[0].meta, &p);
    const pg_tensor *x = pg__saved_input(n, 0), *w = pg__saved_input(n, 1), *st = pg__saved_input(n, 2);
    bool f64 = x->dtype == PG_DTYPE_F64;
    nm.stream = pg__nm_stream(&nm, pg__dtype_size(x->dtype));
    if (pg__node_needs(n, 0)) {
        dx[0] = pg__grad_buffer(g, n, 0);
        if (!dx[0]) return PG_ERR_MEMORY;
    }
    for (int i = 1; i < 4; i++)
        if (i != 2 && pg__node_needs(n, i)) {
            dx[i] = pg__tensor_new_like(&n->edges[i].meta);
            if (!dx[i]) return PG_ERR_MEMORY;
        }
    int nthr = nm.cnt == 0 || nm.r == 0 ? 0 : pg__nm_threads(&nm);
    int64_t chunks = pg__nm_chunks(&nm, pg__dtype_size(x->dtype));
    if (nm.kind != PG_NM_BATCH && nthr > chunks) nthr = (int)chunks; /* batch_norm: one shared pair, threads over R */
    size_t np = (size_t)chunks * 2 * (size_t)nm.c;
    size_t ns = !f64 && nm.vec ? (size_t)(nthr > 0 ? nthr : 1) * 2 * (size_t)nm.c : 0; /* float scratch */
    double *part = calloc((np ? np : 1) + (ns + 1) / 2, sizeof(double));
    if (!part) return pg__fail(PG_ERR_MEMORY, "%s: out of memory for the backward's partial sums",
                               pg_optable[n->op]->name);
    if (nthr > 0) {
        pg_nm_job j = {.nm = &nm, .f64 = f64, .bwd = true, .y = dx[0] ? dx[0]->data : NULL, .x = x->data,
                       .g = g->data, .w = w->data, .stats = st->data, .part = part,
                       .scr = ns ? (float *)(part + np) : NULL, .chunks = chunks, .nthr = nthr};
        if (pg__nm_by_rows(&nm, pg__dtype_size(x->dtype))) j.acc = malloc(3 * (size_t)nm.c * sizeof(double));
        pg__parallel(pg__nm_run, &j, nthr);
        free(j.acc);
    }
    for (int64_t k = 1; k < chunks; k++) /* the chunks' partial sums, in order */
        for (int64_t c = 0; c < 2 * nm.c; c++) part[c] += part[(size_t)k * 2 * (size_t)nm.c + (size_t)c];
    for (int i = 1; i < 4; i += 2) {
        if (!dx[i]) continue;
        const double *src = part + (i == 1 ? 0 : nm.c);
        for (int64_t c = 0; c < nm.c; c++) {
            if (f64) ((double *)dx[i]->data)[c] = src[c];
            else ((float *)dx[i]->data)[c] = (float)src[c];
        }
    }
    free(part);
    return PG_OK;
}

/* The same backward made of differentiable ops (recorded), x seen as
 *   affine view A = (N, C, S) (layer_norm (M, K, 1)), w as (1, C, 1);
 *   statistics view V = batch (N, C, S) over dims {0, 2}; group (N, G, C/G·S) and layer (M, 1, K) over dim 2:
 *   xhat = (x - mean) rstd (training: mean, rstd functions of x; eval: constants from stats)
 *   dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat))  (eval: rstd dxhat),  dxhat = g w
 *   dw = Σ_{0,2} g xhat,  db = Σ_{0,2} g */
static pg_status norm_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_nm nm;
    pg_params p = n->p;
    pg__nm_plan(&nm, n->op, &n->edges[0].meta, &p);
    pg_keep keep = {.n = 0};
    pg_tensor *x = pg__saved_input(n, 0), *w = pg__saved_input(n, 1), *st = pg__saved_input(n, 2);
    int64_t A[3] = {nm.n, nm.c, nm.s}, W3[3] = {1, nm.c, 1};
    int64_t V[3];
    unsigned vaxes = 4u;
    if (nm.kind == PG_NM_BATCH) {
        memcpy(V, A, sizeof V);
        vaxes = 5u;
    } else if (nm.kind == PG_NM_GROUP) {
        V[0] = nm.n, V[1] = nm.g, V[2] = nm.cnt;
    } else {
        V[0] = nm.n, V[1] = 1, V[2] = nm.c;
    }
    TRY(xv, pg_reshape(x, 3, V));
    pg_tensor *mean, *rstd;
    if (nm.training) {
        TRY(mu, pg_mean(xv, vaxes, 1));
        TRY(xc0, pg_sub(xv, mu));
        TRY(sq, pg_square(xc0));
        TRY(var, pg_mean(sq, vaxes, 1));
        TRY(ve, pg_add_scalar(var, nm.eps));
        TRY(rs, pg_rsqrt(ve));
        mean = mu, rstd = rs;
    } else { /* the running statistics: constants (1, C, 1), as the forward used them */
        int64_t c3[3] = {1, nm.c, 1};
        TRY(mu, pg__tensor_new(x->dtype, 3, c3));
        TRY(rs, pg__tensor_new(x->dtype, 3, c3));
        for (int64_t c = 0; c < nm.c; c++) {
            if (x->dtype == PG_DTYPE_F64) {
                const double *s = st->data;
                ((double *)mu->data)[c] = s[c];
                ((double *)rs->data)[c] = 1.0 / sqrt(s[nm.c + c] + nm.eps);
            } else {
                const float *s = st->data;
                ((float *)mu->data)[c] = s[c];
                ((float *)rs->data)[c] = (float)(1.0 / sqrt((double)s[nm.c + c] + nm.eps));
            }
        }
        mean = mu, rstd = rs;
    }
    TRY(xc, pg_sub(xv, mean));
    TRY(xhat, pg_mul(xc, rstd));
    TRY(xha, pg_reshape(xhat, 3, A));
    TRY(ga, pg_reshape(g, 3, A));
    if (pg__node_needs(n, 1)) {
        TRY(gx, pg_mul(ga, xha));
        TRY(s, pg_sum(gx, 5u, 0));
        dx[1] = pg_reshape(s, n->edges[1].meta.ndim, n->edges[1].meta.shape);
        if (!dx[1]) goto fail;
    }
    if (pg__node_needs(n, 3)) {
        TRY(s, pg_sum(ga, 5u, 0));
        dx[3] = pg_reshape(s, n->edges[3].meta.ndim, n->edges[3].meta.shape);
        if (!dx[3]) goto fail;
    }
    if (pg__node_needs(n, 0)) {
        TRY(w3, pg_reshape(w, 3, W3));
        TRY(dxh, pg_mul(ga, w3));
        TRY(dxv, pg_reshape(dxh, 3, V));
        pg_tensor *r;
        if (nm.training) {
            TRY(m1, pg_mean(dxv, vaxes, 1));
            TRY(dxx, pg_mul(dxv, xhat));
            TRY(m2, pg_mean(dxx, vaxes, 1));
            TRY(t2, pg_mul(xhat, m2));
            TRY(d1, pg_sub(dxv, m1));
            TRY(d2, pg_sub(d1, t2));
            TRY(rr, pg_mul(rstd, d2));
            r = rr;
        } else {
            TRY(rr, pg_mul(dxv, rstd));
            r = rr;
        }
        dx[0] = pg_reshape(r, n->edges[0].meta.ndim, n->edges[0].meta.shape);
        if (!dx[0]) goto fail;
    }
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

/* ---- entry points ---- */

/* t, or a new tensor of meta filled with v when t is NULL */
static pg_tensor *pg__nm_or(pg_tensor *t, const pg_meta *m, double v) {
    if (t) return PG_NEW_REF(t);
    pg_tensor *c = pg__const(m, v);
    if (c && pg_tls.recorder) pg_tls.recorder->ops->constant(pg_tls.recorder, c, v); /* pygrad.compile */
    return c;
}

/* the statistics an op of this file fills in its forward: scratch for a recording */
static pg_tensor *pg__nm_stats(pg_dtype dt, int64_t c) {
    int64_t shape[2] = {2, c};
    pg_tensor *t = pg__tensor_new(dt, 2, shape);
    if (t && pg_tls.recorder) pg_tls.recorder->ops->constant(pg_tls.recorder, t, 0.0); /* pygrad.compile */
    return t;
}

static pg_tensor *pg__nm_apply(int op, pg_tensor *x, pg_tensor *w, pg_tensor *b, const pg_meta *wm,
                               pg_tensor *stats, const pg_params *p0) {
    pg_params p = *p0;
    p.op = op;
    pg_tensor *ww = pg__nm_or(w, wm, 1.0), *bb = pg__nm_or(b, wm, 0.0), *out = NULL;
    if (ww && bb) {
        pg_tensor *in[4] = {x, ww, stats, bb};
        out = pg__apply(op, in, 4, &p);
    }
    pg_tensor_release(ww);
    pg_tensor_release(bb);
    return out;
}

/* the optional tensors' checks before anything is computed */
static pg_status pg__nm_check_opt(const char *name, const pg_tensor *t) {
    return t ? pg__check_tensor(name, t) : PG_OK;
}

/* batch_norm's statistics in eval mode: (running_mean; running_var) into stats (2, C) */
void pg__bn_stats_from_running(pg_tensor *stats, const pg_tensor *rm, const pg_tensor *rv, bool record) {
    pg_recorder *rec = pg_tls.recorder;
    if (record && rec) rec->ops->bn_stats(rec, 0, (pg_tensor *)rm, (pg_tensor *)rv, stats, 0, 0); /* pygrad.compile */
    size_t bytes = pg__dtype_size(stats->dtype) * (size_t)rm->numel;
    memcpy(stats->data, rm->data, bytes);
    memcpy((char *)stats->data + bytes, rv->data, bytes);
}

/* running = (1 - momentum) running + momentum batch, the variance made unbiased by unb
 * (n / (n - 1)), in place (a version each), from the batch's stats (2, C) */
void pg__bn_update_running(pg_tensor *rm, pg_tensor *rv, const pg_tensor *stats, double momentum, double unb,
                           bool record) {
    pg_recorder *rec = pg_tls.recorder;
    if (record && rec) rec->ops->bn_stats(rec, 1, rm, rv, (pg_tensor *)stats, momentum, unb); /* pygrad.compile */
    int64_t nc = rm->numel;
    for (int64_t c = 0; c < nc; c++) {
        if (stats->dtype == PG_DTYPE_F64) {
            const double *s = stats->data;
            double *m = rm->data, *v = rv->data;
            m[c] = (1.0 - momentum) * m[c] + momentum * s[c];
            v[c] = (1.0 - momentum) * v[c] + momentum * (s[nc + c] * unb);
        } else {
            const float *s = stats->data;
            float *m = rm->data, *v = rv->data;
            m[c] = (float)((1.0 - momentum) * m[c] + momentum * s[c]);
            v[c] = (float)((1.0 - momentum) * v[c] + momentum * ((double)s[nc + c] * unb));
        }
    }
    atomic_fetch_add(&rm->storage->version, 1);
    atomic_fetch_add(&rv->storage->version, 1);
}

pg_tensor *pg_batch_norm(pg_tensor *x, pg_tensor *running_mean, pg_tensor *running_var, pg_tensor *weight,
                         pg_tensor *bias, int training, double momentum, double eps) {
    const char *name = "batch_norm";
    if (pg__check_tensor(name, x) || pg__nm_check_opt(name, running_mean) || pg__nm_check_opt(name, running_var) ||
        pg__nm_check_opt(name, weight) || pg__nm_check_opt(name, bias) || pg__check_float(name, x))
        return NULL;
    if ((running_mean == NULL) != (running_var == NULL)) {
        pg__fail(PG_ERR_VALUE, "%s: running_mean and running_var must be given together", name);
        return NULL;
    }
    if (!training && !running_mean) {
        pg__fail(PG_ERR_VALUE, "%s: running_mean and running_var must be given when training is False", name);
        return NULL;
    }
    if (training ? !(eps > 0) : !(eps >= 0)) {
        pg__fail(PG_ERR_VALUE, "%s: eps must be %s, got %g", name,
                 training ? "positive during training" : "non-negative", eps);
        return NULL;
    }
    pg_params p = {0};
    p.op = PG_OP_BATCH_NORM;
    p.norm.eps = eps;
    p.norm.training = training != 0;
    pg_meta xm;
    pg__meta_of(&xm, x);
    pg_nm nm;
    if (pg__nm_plan(&nm, PG_OP_BATCH_NORM, &xm, &p)) return NULL;
    pg_tensor *rs[2] = {running_mean, running_var};
    const char *rn[2] = {"running_mean", "running_var"};
    for (int i = 0; i < 2; i++)
        if (rs[i] && pg__nm_check_param(name, rn[i], rs[i], &xm, &nm, 0)) return NULL;
    pg_tensor *stats = pg__nm_stats(x->dtype, nm.c);
    if (!stats) return NULL;
    if (!training) pg__bn_stats_from_running(stats, running_mean, running_var, true);
    pg_meta wm = {.dtype = x->dtype, .ndim = 1, .shape = {nm.c}};
    pg_tensor *y = pg__nm_apply(PG_OP_BATCH_NORM, x, weight, bias, &wm, stats, &p);
    if (y && training && running_mean && nm.cnt > 0)
        pg__bn_update_running(running_mean, running_var, stats, momentum,
                              nm.cnt > 1 ? (double)nm.cnt / (double)(nm.cnt - 1) : 1.0, true);
    pg_tensor_release(stats);
    return y;
}

pg_tensor *pg_layer_norm(pg_tensor *x, int normalized_ndim, const int64_t *normalized_shape, pg_tensor *weight,
                         pg_tensor *bias, double eps) {
    const char *name = "layer_norm";
    if (pg__check_tensor(name, x) || pg__nm_check_opt(name, weight) || pg__nm_check_opt(name, bias) ||
        pg__check_float(name, x))
        return NULL;
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (normalized_ndim < 1 || normalized_ndim > PG_MAX_DIMS || !normalized_shape) {
        pg__fail(PG_ERR_SHAPE, "%s: normalized_shape must have 1 to %d dims, got %d", name, PG_MAX_DIMS,
                 normalized_ndim);
        return NULL;
    }
    if (normalized_ndim > x->ndim ||
        !pg__same_dims(normalized_ndim, normalized_shape, x->shape + x->ndim - normalized_ndim)) {
        pg__fail(PG_ERR_SHAPE, "%s: normalized_shape %s does not match the last dims of input %s", name,
                 pg__shape_str(normalized_ndim, normalized_shape, b1, sizeof b1),
                 pg__shape_str(x->ndim, x->shape, b2, sizeof b2));
        return NULL;
    }
    pg_params p = {0};
    p.op = PG_OP_LAYER_NORM;
    p.norm.eps = eps;
    p.norm.nrm = normalized_ndim;
    pg_meta xm;
    pg__meta_of(&xm, x);
    pg_nm nm;
    if (pg__nm_plan(&nm, PG_OP_LAYER_NORM, &xm, &p)) return NULL;
    pg_tensor *stats = pg__nm_stats(x->dtype, nm.r);
    if (!stats) return NULL;
    pg_meta wm = {.dtype = x->dtype, .ndim = normalized_ndim};
    memcpy(wm.shape, normalized_shape, sizeof(int64_t) * (size_t)normalized_ndim);
    pg_tensor *y = pg__nm_apply(PG_OP_LAYER_NORM, x, weight, bias, &wm, stats, &p);
    pg_tensor_release(stats);
    return y;
}

pg_tensor *pg_group_norm(pg_tensor *x, int64_t num_groups, pg_tensor *weight, pg_tensor *bias, double eps) {
    const char *name = "group_norm";
    if (pg__check_tensor(name, x) || pg__nm_check_opt(name, weight) || pg__nm_check_opt(name, bias) ||
        pg__check_float(name, x))
        return NULL;
    pg_params p = {0};
    p.op = PG_OP_GROUP_NORM;
    p.norm.eps = eps;
    p.norm.groups = num_groups;
    pg_meta xm;
    pg__meta_of(&xm, x);
    pg_nm nm;
    if (pg__nm_plan(&nm, PG_OP_GROUP_NORM, &xm, &p)) return NULL;
    pg_tensor *stats = pg__nm_stats(x->dtype, nm.r);
    if (!stats) return NULL;
    pg_meta wm = {.dtype = x->dtype, .ndim = 1, .shape = {nm.c}};
    pg_tensor *y = pg__nm_apply(PG_OP_GROUP_NORM, x, weight, bias, &wm, stats, &p);
    pg_tensor_release(stats);
    return y;
}

PG_OPDEF(batch_norm, norm_infer, norm_forward, norm_backward, norm_rule);
PG_OPDEF(layer_norm, norm_infer, norm_forward, norm_backward, norm_rule);
PG_OPDEF(group_norm, norm_infer, norm_forward, norm_backward, norm_rule);
