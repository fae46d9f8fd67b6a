/* ops_dropout.c: dropout (PyTorch's F.dropout in training mode), one fused
 * pass, with its mask drawn from a counter-based hash keyed by a 64-bit seed:
 *
 *   y[i] = x[i] · keep(seed, i) / (1 - p),    keep(seed, i) = hash(seed, i) >= ⌊p · 2³²⌋
 *
 * The mask is never stored: backward recomputes it from the seed recorded in
 * the node (dx = g · keep / (1 - p), the same kernel applied to g), and the
 * differentiable rule is the op itself applied to g with the same seed, so
 * double backward is exact. The hash (pg__dropout_hash) is reimplemented bit
 * for bit by the reference engine, so the same seed gives the same mask on
 * both engines. Not here: drawing the seed (Python draws it from the
 * generator behind manual_seed, or from a generator argument), eval mode and
 * p = 0 (identity, in Python). */
#include "rules_util.h"
#include "kernels.h"

#include <string.h>

typedef struct pg_dropout_job {
    void *y;           /* [n] */
    const void *x;     /* [n] */
    uint64_t seed;
    uint32_t thr;      /* keep when hash >= thr */
    double scale;      /* 1 / (1 - p) */
    bool f64;
} pg_dropout_job;

#define PG_DROPOUT_KERNEL(T, sfx)                                                                         \
    PG_CLONES static void pg__dropout_run_##sfx(T *restrict y, const T *restrict x, int64_t lo, int64_t hi, \
                                                uint64_t seed, uint32_t thr, T s) {                       \
        uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);                                        \
        while (lo < hi) { /* one block of constant hi32(i) at a time */                                  \
            uint32_t blk = (uint32_t)((uint64_t)lo >> 32);                                                \
            int64_t end = (int64_t)(((uint64_t)blk + 1) << 32);                                           \
            if (end > hi) end = hi;                                                                       \
            uint32_t c = k1 + blk * 0x9e3779b9u;                                                          \
            uint32_t j0 = (uint32_t)lo;                                                                   \
            int64_t m = end - lo;                                                                         \
            T *yy = y + lo;                                                                               \
            const T *xx = x + lo;                                                                         \
            for (int64_t j = 0; j < m; j++) {                                                             \
                uint32_t h = pg__dropout_hash(k0, c, j0 + (uint32_t)j);                                   \
                yy[j] = h >= thr ? xx[j] * s : (T)0;                                                      \
            }                                                                                             \
            lo = end;                                                                                     \
        }                                                                                                 \
    }
PG_DROPOUT_KERNEL(float, f32)
PG_DROPOUT_KERNEL(double, f64)

static void pg__dropout_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_dropout_job *j = ctx;
    if (j->f64) pg__dropout_run_f64(j->y, j->x, lo, hi, j->seed, j->thr, j->scale);
    else pg__dropout_run_f32(j->y, j->x, lo, hi, j->seed, j->thr, (float)j->scale);
}

/* y = dropout(x) with the node's or call's parameters: forward (x the input) and backward (x the upstream) */
static void pg__dropout_apply(pg_tensor *y, const pg_tensor *x, const pg_params *p) {
    if (y->numel == 0) return;
    if (p->dropout.p >= 1.0) { /* nothing kept (thr would be 2³²) */
        memset(y->data, 0, pg__dtype_size(y->dtype) * (size_t)y->numel);
        return;
    }
    pg_dropout_job j = {.y = y->data, .x = x->data, .seed = p->dropout.seed,
                        .thr = (uint32_t)(p->dropout.p * 4294967296.0), .scale = 1.0 / (1.0 - p->dropout.p),
                        .f64 = y->dtype == PG_DTYPE_F64};
    pg__parallel_range(y->numel, 16, PG_NDITER_GRAIN, pg__dropout_range, &j);
}

static pg_status dropout_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    if (pg__check_float("dropout", in[0])) return PG_ERR_TYPE;
    if (!(p->dropout.p >= 0.0 && p->dropout.p <= 1.0))
        return pg__fail(PG_ERR_VALUE, "dropout: probability has to be between 0 and 1, but got %g", p->dropout.p);
    pg__meta_of(out, in[0]);
    return PG_OK;
}

static pg_status dropout_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg__dropout_apply(out, in[0], p);
    return PG_OK;
}

/* y = x · keep / (1 - p)  =>  dx = g · keep / (1 - p): the forward kernel on g, the mask regenerated */
static pg_status dropout_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    if (!pg__node_needs(n, 0)) return PG_OK;
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return PG_ERR_MEMORY;
    pg__dropout_apply(d, g, &n->p);
    dx[0] = d;
    return PG_OK;
}

/* dropout is linear in x: its backward is itself, with the same seed */
static pg_status dropout_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    if (!pg__node_needs(n, 0)) return PG_OK;
    pg_params p = n->p;
    dx[0] = pg__apply(PG_OP_DROPOUT, &g, 1, &p);
    return dx[0] ? PG_OK : pg__rule_status();
}

pg_tensor *pg_dropout(pg_tensor *x, double p, uint64_t seed) {
    if (pg__check_tensor("dropout", x)) return NULL;
    pg_params prm = {0};
    prm.op = PG_OP_DROPOUT;
    prm.dropout.p = p;
    prm.dropout.seed = seed;
    return pg__apply(PG_OP_DROPOUT, &x, 1, &prm);
}

PG_OPDEF(dropout, dropout_infer, dropout_forward, dropout_backward, dropout_rule);
