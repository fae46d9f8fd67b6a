/* ops_attn.c: scaled dot-product attention (PyTorch's
 * F.scaled_dot_product_attention), fused:
 *
 *   s[i, j] = scale · q[i]·k[j] + bias[i, j]     (−∞ where causal and j > i)
 *   p[i, :] = softmax(s[i, :]),  o[i] = Σ_j p̃[i, j] v[j]
 *
 * p̃ = p without dropout; with dropout probability δ > 0, p̃[i, j] = p[i, j] · keep[i, j] / (1 − δ), the
 * mask dropout's hash of the seed at the flat index (b·L + i)·S + j of the (B..., L, S) weights, so the
 * same seed gives the mask of dropout(softmax(s)) (the composed form, and the reference engine's).
 *
 * q (B..., L, E), k (B..., S, E), v (B..., S, Ev) -> o (B..., L, Ev); bias (B..., L, S) or a 0-d zero
 * (no mask; Python turns a bool mask into 0/−∞ and broadcasts a float mask). Blocks of query rows
 * are computed against every key they see with the GEMM (below); no L×S matrix is made. The backward
 * recomputes each block's softmax (a node keeps only inputs and output) and, per block:
 *
 *   D[i] = do[i]·o[i],  dv += p̃ᵀ do,  dp̃ = do vᵀ,  dp = dp̃ · keep / (1 − δ) (dp̃ without dropout),
 *   ds = p (dp − D),  dq = scale ds k,  dk += scale dsᵀ q,  dbias = ds
 *
 * (D[i] = Σ_j p[i, j] dp[i, j] = Σ_j p̃[i, j] dp̃[i, j] = do[i]·o[i] with or without the mask).
 *
 * A row whose every key is masked out gives zeros and zero gradients (PyTorch's fused result). The rule
 * (double backward) is the same backward made of matmul, softmax and elementwise ops. */
#include "rules_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pg_attn {
    int64_t b, l, s, e, ev; /* batch (the leading dims' product), query rows, keys, q/k width, v width */
    bool has_bias, causal;
    double scale;
    double dropout;         /* δ: 0 none, 1 every weight dropped */
    uint64_t seed;          /* the dropout mask's */
    uint32_t thr;           /* keep where hash >= thr (δ < 1) */
} pg_attn;

static pg_status pg__attn_plan(pg_attn *a, const pg_meta *q, const pg_meta *k, const pg_meta *v, const pg_meta *bias,
                               const pg_params *p) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF], b3[PG_SHAPE_BUF];
    const char *op = "scaled_dot_product_attention";
    pg__shape_str(q->ndim, q->shape, b1, sizeof b1);
    pg__shape_str(k->ndim, k->shape, b2, sizeof b2);
    pg__shape_str(v->ndim, v->shape, b3, sizeof b3);
    if (q->ndim < 2 || k->ndim != q->ndim || v->ndim != q->ndim)
        return pg__fail(PG_ERR_SHAPE, "%s: query %s, key %s and value %s must have the same number of dims (at least "
                        "2)", op, b1, b2, b3);
    int nd = q->ndim;
    int64_t bt = 1;
    for (int d = 0; d < nd - 2; d++) {
        if (k->shape[d] != q->shape[d] || v->shape[d] != q->shape[d])
            return pg__fail(PG_ERR_SHAPE, "%s: the batch dims of query %s, key %s and value %s differ", op, b1, b2, b3);
        bt = pg__mul_sat(bt, q->shape[d]);
    }
    if (k->shape[nd - 1] != q->shape[nd - 1])
        return pg__fail(PG_ERR_SHAPE, "%s: query %s and key %s must have the same last dim", op, b1, b2);
    if (v->shape[nd - 2] != k->shape[nd - 2])
        return pg__fail(PG_ERR_SHAPE, "%s: key %s and value %s must have as many rows", op, b2, b3);
    *a = (pg_attn){.b = bt, .l = q->shape[nd - 2], .s = k->shape[nd - 2], .e = q->shape[nd - 1],
                   .ev = v->shape[nd - 1], .causal = p->attn.causal, .scale = p->attn.scale};
    if (bias->ndim != 0) {
        bool ok = bias->ndim == nd && bias->shape[nd - 2] == a->l && bias->shape[nd - 1] == a->s;
        for (int d = 0; ok && d < nd - 2; d++) ok = bias->shape[d] == q->shape[d];
        if (!ok) {
            pg__shape_str(bias->ndim, bias->shape, b3, sizeof b3);
            return pg__fail(PG_ERR_SHAPE, "%s: the mask %s must have the shape (batch..., L, S) of query %s and key "
                            "%s", op, b3, b1, b2);
        }
        a->has_bias = true;
    }
    if (!isfinite(a->scale)) return pg__fail(PG_ERR_VALUE, "%s: scale %g is not finite", op, a->scale);
    if (!(p->attn.dropout >= 0.0 && p->attn.dropout <= 1.0))
        return pg__fail(PG_ERR_VALUE, "%s: dropout_p has to be between 0 and 1, but got %g", op, p->attn.dropout);
    a->dropout = p->attn.dropout;
    a->seed = p->attn.seed;
    a->thr = a->dropout < 1.0 ? (uint32_t)(a->dropout * 4294967296.0) : 0;
    return PG_OK;
}

static pg_status attn_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const char *op = "scaled_dot_product_attention";
    for (int i = 0; i < 4; i++)
        if (pg__check_float(op, in[i])) return PG_ERR_TYPE;
    for (int i = 1; i < 4; i++)
        if (in[i]->dtype != in[0]->dtype)
            return pg__fail(PG_ERR_TYPE, "%s: dtypes %s and %s differ", op, pg__dtype_name(in[0]->dtype),
                            pg__dtype_name(in[i]->dtype));
    pg_meta m[4];
    for (int i = 0; i < 4; i++) pg__meta_of(&m[i], in[i]);
    pg_attn a;
    if (pg__attn_plan(&a, &m[0], &m[1], &m[2], &m[3], p)) return pg_last_status();
    *out = m[0];
    out->shape[out->ndim - 1] = a.ev;
    return PG_OK;
}

/* ---- kernels: blocks of query rows against every key they see, on the GEMM ----
 * For one batch element and query rows [i0, i1) the block's scores S = Q Kᵀ (r × su, su the keys any of
 * its rows sees: i1 under the causal mask) come from one GEMM into a per-thread scratch; each row is
 * scaled, biased, masked and turned into its softmax in place (vector exp); O = P V is a second GEMM.
 * The backward recomputes P the same way (bit for bit the forward's P) and runs four more GEMMs:
 * dP = dO Vᵀ, dS = P ∘ (dP − D) with D[i] = dO[i]·O[i], dQ = scale dS K, dK += scale dSᵀ Q, dV += Pᵀ dO.
 * The scratch is 2 · BR · S elements per thread: no L × S matrix. Row sums and D run in double. */

/* query rows per block: 64 under the causal mask (a block computes the keys of its last row, so small
 * blocks skip most of the masked triangle); else at least 64, more while the block's scores fit 32K
 * elements (128 KiB in float32), so short sequences run fewer, larger GEMMs and repack K and V less */
enum { PG_ATTN_BR = 64, PG_ATTN_SCRATCH = 32768 };
static int64_t pg__attn_br(const pg_attn *a) {
    int64_t l = a->l, s = a->s;
    int64_t br = a->causal ? PG_ATTN_BR : s > 0 ? PG_ATTN_SCRATCH / s : l;
    br = br < PG_ATTN_BR ? PG_ATTN_BR : br;
    return br < l ? br : (l > 0 ? l : 1);
}

typedef struct pg_attn_job {
    const pg_attn *a;
    void *o;                                  /* (B, L, Ev) */
    const void *q, *k, *v, *bias;             /* (B, L, E), (B, S, E), (B, S, Ev), (B, L, S) or NULL */
    const void *g;                            /* backward: the upstream (B, L, Ev) */
    void *dq, *dk, *dv, *dbias;               /* backward: the gradients wanted, else NULL */
    bool f64;
    int64_t nblk, br;                         /* query blocks per batch element, rows per block */
    pg_status st;
} pg_attn_job;

/* the keys query row i sees: [0, su(i)) */
static inline int64_t pg__attn_keys(const pg_attn *a, int64_t i) {
    return a->causal ? (i + 1 < a->s ? i + 1 : a->s) : a->s;
}

/* The row loops of the softmax, compiled also for AVX2 and AVX-512 (PG_CLONES) and written with
 * independent lanes (max, NaN flag, sum) so that they vectorise without reassociating anything the
 * lanes do not already hold apart. */
#define PG_ATTN_ROWS(T, sfx)                                                                                 \
    /* row[j] = row[j]·sc + bias[j] for j < n; returns the row's max over its non-NaN values (a NaN    \
     * elsewhere in the row makes the row NaN through the sum; a row whose other keys are all masked   \
     * out is found by the caller) */                                                                    \
    PG_CLONES static T pg__attn_scale_max_##sfx(T *restrict row, const T *restrict bi, T sc, int64_t n) {   \
        T mx[16];                                                                                            \
        for (int l = 0; l < 16; l++) mx[l] = (T)-INFINITY;                                                   \
        if (bi) {                                                                                            \
            PG_IVDEP for (int64_t j = 0; j < n; j++) row[j] = row[j] * sc + bi[j];                           \
        } else {                                                                                             \
            PG_IVDEP for (int64_t j = 0; j < n; j++) row[j] = row[j] * sc;                                   \
        }                                                                                                    \
        int64_t j = 0;                                                                                       \
        for (; j + 16 <= n; j += 16)                                                                         \
            for (int l = 0; l < 16; l++) mx[l] = row[j + l] > mx[l] ? row[j + l] : mx[l];                    \
        for (; j < n; j++) mx[0] = row[j] > mx[0] ? row[j] : mx[0];                                          \
        T m = (T)-INFINITY;                                                                                  \
        for (int l = 0; l < 16; l++) m = mx[l] > m ? mx[l] : m;                                              \
        return m;                                                                                            \
    }                                                                                                        \
    PG_CLONES static void pg__attn_sub_##sfx(T *restrict row, T m, int64_t n) {                              \
        PG_IVDEP for (int64_t j = 0; j < n; j++) row[j] -= m;                                                \
    }                                                                                                        \
    /* Σ row[j] in double, 8 lanes */                                                                         \
    PG_CLONES static double pg__attn_sum_##sfx(const T *restrict row, int64_t n) {                           \
        double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                                              \
        int64_t j = 0;                                                                                       \
        for (; j + 8 <= n; j += 8)                                                                           \
            for (int l = 0; l < 8; l++) s[l] += (double)row[j + l];                                          \
        for (; j < n; j++) s[0] += (double)row[j];                                                           \
        return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));                            \
    }                                                                                                        \
    PG_CLONES static void pg__attn_mul_##sfx(T *restrict row, T f, int64_t n) {                              \
        PG_IVDEP for (int64_t j = 0; j < n; j++) row[j] *= f;                                                \
    }                                                                                                        \
    /* row[j] = keep(at + j) ? row[j] · f : 0, the dropout mask of flat indices at, at + 1, …             \
     * (f = 1 / (1 − δ); thr the keep threshold; δ = 1 is handled by the caller) */                        \
    PG_CLONES static void pg__attn_drop_##sfx(T *restrict row, T f, int64_t n, uint64_t seed, uint64_t at,  \
                                              uint32_t thr) {                                                \
        uint32_t k0 = (uint32_t)seed;                                                                        \
        while (n > 0) { /* runs of indices with the same high 32 bits: uint32 lanes */                      \
            uint32_t lo = (uint32_t)at, c = (uint32_t)(seed >> 32) + (uint32_t)(at >> 32) * 0x9e3779b9u;     \
            int64_t m = (int64_t)(((at >> 32) + 1) << 32) - (int64_t)at;                                     \
            m = m < n ? m : n;                                                                               \
            PG_IVDEP for (int64_t j = 0; j < m; j++)                                                         \
                row[j] = pg__dropout_hash(k0, c, lo + (uint32_t)j) >= thr ? row[j] * f : (T)0;               \
            row += m;                                                                                        \
            at += (uint64_t)m;                                                                               \
            n -= m;                                                                                          \
        }                                                                                                    \
    }
PG_ATTN_ROWS(float, f32)
PG_ATTN_ROWS(double, f64)

#define PG_ATTN_KERNELS(T, sfx)                                                                                  \
    /* P for rows [i0, i1) of batch element bb into p (r × su, row stride su): softmax of the scaled, biased,  \
     * masked scores; a row with no key taking part is zeros; NaN in a row makes the row NaN */               \
    static void pg__attn_probs_##sfx(const pg_attn *a, const T *q, const T *k, const T *bias, int64_t i0,     \
                                     int64_t i1, int64_t su, T *p) {                                          \
        int64_t r = i1 - i0;                                                                                  \
        pg__gemm_##sfx(false, true, r, su, a->e, q + i0 * a->e, a->e, k, a->e, p, su, false);                 \
        for (int64_t i = i0; i < i1; i++) {                                                                   \
            T *row = p + (i - i0) * su;                                                                       \
            const T *bi = bias ? bias + i * a->s : NULL;                                                      \
            int64_t n = pg__attn_keys(a, i);                                                                  \
            T mx = pg__attn_scale_max_##sfx(row, bi, (T)a->scale, n);                                         \
            for (int64_t j = n; j < su; j++) row[j] = 0;                                                      \
            if (mx == (T)-INFINITY) { /* no key taking part: zeros (PyTorch's fused result); NaN: NaN */     \
                bool nan = false;                                                                             \
                for (int64_t j = 0; j < n; j++) nan |= row[j] != row[j];                                      \
                for (int64_t j = 0; j < n; j++) row[j] = nan ? (T)NAN : (T)0;                                 \
                continue;                                                                                     \
            }                                                                                                 \
            pg__attn_sub_##sfx(row, mx, n);                                                                   \
            pg__vm_##sfx(PG_VM_EXP, row, NULL, row, n, 1.0);                                                  \
            pg__attn_mul_##sfx(row, (T)(1.0 / pg__attn_sum_##sfx(row, n)), n);                                \
        }                                                                                                     \
    }                                                                                                         \
    /* p̃ from p in place for rows [i0, i1) of batch element bb (p: r × su, row stride su) */                 \
    static void pg__attn_dropped_##sfx(const pg_attn *a, int64_t bb, int64_t i0, int64_t i1, int64_t su, T *p) { \
        if (a->dropout >= 1.0) {                                                                              \
            memset(p, 0, sizeof(T) * (size_t)((i1 - i0) * su));                                               \
            return;                                                                                           \
        }                                                                                                     \
        T f = (T)(1.0 / (1.0 - a->dropout));                                                                  \
        for (int64_t i = i0; i < i1; i++)                                                                     \
            pg__attn_drop_##sfx(p + (i - i0) * su, f, su, a->seed, (uint64_t)((bb * a->l + i) * a->s), a->thr); \
    }                                                                                                         \
    static void pg__attn_fwd_##sfx(const pg_attn_job *jb, int64_t bb, int64_t blk, T *p) {                    \
        const pg_attn *a = jb->a;                                                                             \
        const T *q = (const T *)jb->q + bb * a->l * a->e, *k = (const T *)jb->k + bb * a->s * a->e;           \
        const T *v = (const T *)jb->v + bb * a->s * a->ev;                                                    \
        const T *bias = jb->bias ? (const T *)jb->bias + bb * a->l * a->s : NULL;                             \
        T *o = (T *)jb->o + bb * a->l * a->ev;                                                                \
        int64_t br = jb->br, i0 = blk * br, i1 = i0 + br < a->l ? i0 + br : a->l;                              \
        int64_t su = pg__attn_keys(a, i1 - 1);                                                                \
        if (su == 0) { /* no keys: zeros */                                                                   \
            memset(o + i0 * a->ev, 0, sizeof(T) * (size_t)((i1 - i0) * a->ev));                               \
            return;                                                                                           \
        }                                                                                                     \
        pg__attn_probs_##sfx(a, q, k, bias, i0, i1, su, p);                                                   \
        if (a->dropout > 0) pg__attn_dropped_##sfx(a, bb, i0, i1, su, p);                                      \
        pg__gemm_##sfx(false, false, i1 - i0, a->ev, su, p, su, v, a->ev, o + i0 * a->ev, a->ev, false);       \
    }                                                                                                         \
    /* the gradients for batch element bb (dk, dv accumulate over its query blocks) */                        \
    static void pg__attn_bwd_##sfx(const pg_attn_job *jb, int64_t bb, T *p, T *dp) {                          \
        const pg_attn *a = jb->a;                                                                             \
        const T *q = (const T *)jb->q + bb * a->l * a->e, *k = (const T *)jb->k + bb * a->s * a->e;           \
        const T *v = (const T *)jb->v + bb * a->s * a->ev, *o = (const T *)jb->o + bb * a->l * a->ev;         \
        const T *g = (const T *)jb->g + bb * a->l * a->ev;                                                    \
        const T *bias = jb->bias ? (const T *)jb->bias + bb * a->l * a->s : NULL;                             \
        T *dbias = jb->dbias ? (T *)jb->dbias + bb * a->l * a->s : NULL;                                      \
        T *dq = jb->dq ? (T *)jb->dq + bb * a->l * a->e : NULL;                                               \
        T *dk = jb->dk ? (T *)jb->dk + bb * a->s * a->e : NULL;                                               \
        T *dv = jb->dv ? (T *)jb->dv + bb * a->s * a->ev : NULL;                                              \
        bool need_ds = dq || dk || dbias;                                                                     \
        for (int64_t i0 = 0; i0 < a->l; i0 += jb->br) {                                                       \
            int64_t i1 = i0 + jb->br < a->l ? i0 + jb->br : a->l, r = i1 - i0;                                \
            int64_t su = pg__attn_keys(a, i1 - 1);                                                            \
            if (su == 0) continue; /* dq rows and dbias stay zero */                                          \
            pg__attn_probs_##sfx(a, q, k, bias, i0, i1, su, p);                                               \
            if (need_ds) { /* ds into dp, from p (the mask applied to dp̃) */                                 \
                pg__gemm_##sfx(false, true, r, su, a->ev, g + i0 * a->ev, a->ev, v, a->ev, dp, su, false);    \
                if (a->dropout > 0) pg__attn_dropped_##sfx(a, bb, i0, i1, su, dp);                             \
                T sc = (T)a->scale;                                                                           \
                for (int64_t i = i0; i < i1; i++) {                                                           \
                    const T *gi = g + i * a->ev, *oi = o + i * a->ev, *pi = p + (i - i0) * su;                \
                    T *di = dp + (i - i0) * su;                                                               \
                    double dd = 0;                                                                            \
                    for (int64_t c = 0; c < a->ev; c++) dd += (double)gi[c] * (double)oi[c];                  \
                    T d = (T)dd;                                                                              \
                    for (int64_t j = 0; j < su; j++) di[j] = pi[j] * (di[j] - d); /* ds (0 where p is 0) */   \
                    if (dbias) memcpy(dbias + i * a->s, di, sizeof(T) * (size_t)su);                          \
                    for (int64_t j = 0; j < su; j++) di[j] *= sc;                                             \
                }                                                                                             \
            }                                                                                                 \
            if (dv) {                                                                                         \
                if (a->dropout > 0) pg__attn_dropped_##sfx(a, bb, i0, i1, su, p);                              \
                pg__gemm_##sfx(true, false, su, a->ev, r, p, su, g + i0 * a->ev, a->ev, dv, a->ev, true);     \
            }                                                                                                 \
            if (!need_ds) continue;                                                                           \
            if (dq) pg__gemm_##sfx(false, false, r, a->e, su, dp, su, k, a->e, dq + i0 * a->e, a->e, false);  \
            if (dk) pg__gemm_##sfx(true, false, su, a->e, r, dp, su, q + i0 * a->e, a->e, dk, a->e, true);    \
        }                                                                                                     \
    }
PG_ATTN_KERNELS(float, f32)
PG_ATTN_KERNELS(double, f64)

static void pg__attn_fwd_range(void *ctx, int64_t lo, int64_t hi) {
    pg_attn_job *jb = ctx;
    size_t es = jb->f64 ? sizeof(double) : sizeof(float);
    void *p = malloc(es * (size_t)(jb->br * jb->a->s) + 64);
    if (!p) {
        jb->st = PG_ERR_MEMORY;
        return;
    }
    for (int64_t u = lo; u < hi; u++) {
        if (jb->f64) pg__attn_fwd_f64(jb, u / jb->nblk, u % jb->nblk, p);
        else pg__attn_fwd_f32(jb, u / jb->nblk, u % jb->nblk, p);
    }
    free(p);
}

static void pg__attn_bwd_range(void *ctx, int64_t lo, int64_t hi) {
    pg_attn_job *jb = ctx;
    size_t es = jb->f64 ? sizeof(double) : sizeof(float), n = (size_t)(jb->br * jb->a->s);
    void *p = malloc(es * n + 64), *dp = malloc(es * n + 64);
    if (!p || !dp) {
        free(p);
        free(dp);
        jb->st = PG_ERR_MEMORY;
        return;
    }
    for (int64_t bb = lo; bb < hi; bb++) {
        if (jb->f64) pg__attn_bwd_f64(jb, bb, p, dp);
        else pg__attn_bwd_f32(jb, bb, p, dp);
    }
    free(p);
    free(dp);
}

/* units of work (query blocks or batch elements) per thread-split grain */
static int64_t pg__attn_grain(const pg_attn *a, int64_t rows) {
    int64_t w = pg__mul_sat(pg__mul_sat(rows, a->s), a->e + a->ev) + 1;
    return w >= PG_NDITER_GRAIN ? 1 : PG_NDITER_GRAIN / w + 1;
}

static pg_status attn_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg_meta m[4];
    for (int i = 0; i < 4; i++) pg__meta_of(&m[i], in[i]);
    pg_attn a;
    if (pg__attn_plan(&a, &m[0], &m[1], &m[2], &m[3], p)) return pg_last_status();
    if (out->numel == 0) return PG_OK;
    int64_t br = pg__attn_br(&a), nblk = (a.l + br - 1) / br;
    pg_attn_job jb = {.a = &a, .o = out->data, .q = in[0]->data, .k = in[1]->data, .v = in[2]->data,
                      .bias = a.has_bias ? in[3]->data : NULL, .f64 = out->dtype == PG_DTYPE_F64, .nblk = nblk,
                      .br = br};
    pg__parallel_range(pg__mul_sat(a.b, nblk), 1, pg__attn_grain(&a, br), pg__attn_fwd_range, &jb);
    if (jb.st) return pg__fail(jb.st, "scaled_dot_product_attention: out of memory");
    return PG_OK;
}

static pg_status attn_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_tensor *q = pg__saved_input(n, 0), *k = pg__saved_input(n, 1), *v = pg__saved_input(n, 2);
    pg_tensor *bias = pg__saved_input(n, 3), *o = NULL;
    for (int s = 0; s < PG_MAX_SAVED; s++)
        if (n->saved_from[s] == -1) o = n->saved[s];
    pg_attn a;
    if (pg__attn_plan(&a, &n->edges[0].meta, &n->edges[1].meta, &n->edges[2].meta, &n->edges[3].meta, &n->p))
        return pg_last_status();
    for (int i = 0; i < 4; i++) {
        if (!pg__node_needs(n, i)) continue;
        dx[i] = pg__tensor_new_like(&n->edges[i].meta);
        if (!dx[i]) return PG_ERR_MEMORY;
        memset(dx[i]->data, 0, pg__dtype_size(dx[i]->dtype) * (size_t)dx[i]->numel);
    }
    if (a.b == 0 || a.l == 0 || a.s == 0 || g->numel == 0) return PG_OK;
    if (dx[3] && !a.has_bias) { /* a 0-d bias: the sum of every ds, which is 0 (softmax rows sum to 1) */ }
    pg_attn_job jb = {.a = &a, .o = o->data, .q = q->data, .k = k->data, .v = v->data,
                      .bias = a.has_bias ? bias->data : NULL, .g = g->data, .dq = dx[0] ? dx[0]->data : NULL,
                      .dk = dx[1] ? dx[1]->data : NULL, .dv = dx[2] ? dx[2]->data : NULL,
                      .dbias = a.has_bias && dx[3] ? dx[3]->data : NULL, .f64 = g->dtype == PG_DTYPE_F64,
                      .br = pg__attn_br(&a)};
    pg__parallel_range(a.b, 1, pg__attn_grain(&a, a.l), pg__attn_bwd_range, &jb);
    if (jb.st) return pg__fail(jb.st, "scaled_dot_product_attention: out of memory");
    return PG_OK;
}

/* the same backward made of differentiable ops (for create_graph):
 *   s = scale q kᵀ + bias (+ the causal −∞), p = softmax(s), p̃ = dropout(p) (the same seed; p without
 *   dropout), dv = p̃ᵀ g, dp = dropout(g vᵀ),
 *   ds = p (dp − Σ_j dp p), dq = scale ds k, dk = scale dsᵀ q, dbias = ds summed to bias's shape */
static pg_status attn_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *q = pg__saved_input(n, 0), *k = pg__saved_input(n, 1), *v = pg__saved_input(n, 2);
    pg_tensor *bias = pg__saved_input(n, 3);
    pg_attn a;
    if (pg__attn_plan(&a, &n->edges[0].meta, &n->edges[1].meta, &n->edges[2].meta, &n->edges[3].meta, &n->p))
        return pg_last_status();
    int nd = q->ndim, perm[PG_MAX_DIMS];
    for (int d = 0; d < nd; d++) perm[d] = d;
    perm[nd - 2] = nd - 1;
    perm[nd - 1] = nd - 2;
    TRY(kt, pg_permute(k, nd, perm));
    TRY(qk, pg_matmul(q, kt));
    TRY(s0, pg_mul_scalar(qk, a.scale));
    pg_tensor *s = s0;
    if (a.has_bias) {
        TRY(sb, pg_add(s0, bias));
        s = sb;
    }
    if (a.causal) {
        pg_meta cm = {.dtype = q->dtype, .ndim = 2, .shape = {a.l, a.s}};
        TRY(cmask, pg__tensor_new_like(&cm));
        for (int64_t i = 0; i < a.l; i++)
            for (int64_t j = 0; j < a.s; j++) {
                double val = j > i ? -INFINITY : 0.0;
                if (q->dtype == PG_DTYPE_F64) ((double *)cmask->data)[i * a.s + j] = val;
                else ((float *)cmask->data)[i * a.s + j] = (float)val;
            }
        TRY(sc, pg_add(s, cmask));
        s = sc;
    }
    /* rows with no key taking part (from the bias, numerically): their s becomes 0 and their p 0 */
    pg_tensor *rowok = NULL;
    if (a.has_bias && a.s > 0) {
        pg_meta rm = n->edges[3].meta;
        rm.shape[nd - 1] = 1;
        rm.dtype = PG_DTYPE_BOOL;
        TRY(ok, pg__tensor_new_like(&rm));
        bool any_masked = false;
        for (int64_t r = 0; r < a.b * a.l; r++) {
            int64_t i = r % a.l, jend = a.causal ? (i + 1 < a.s ? i + 1 : a.s) : a.s;
            bool live = false;
            for (int64_t j = 0; j < jend && !live; j++) {
                double bv = q->dtype == PG_DTYPE_F64 ? ((const double *)bias->data)[r * a.s + j]
                                                      : (double)((const float *)bias->data)[r * a.s + j];
                live = bv != -INFINITY;
            }
            ((bool *)ok->data)[r] = live;
            any_masked |= !live;
        }
        if (any_masked) {
            rowok = ok;
            TRY(zero, pg__scalar(q->dtype, 0.0));
            TRY(sf, pg_where(ok, s, zero));
            s = sf;
        }
    }
    TRY(p0, pg_softmax(s, -1));
    pg_tensor *p = p0;
    if (rowok) {
        TRY(zero2, pg__scalar(q->dtype, 0.0));
        TRY(pz, pg_where(rowok, p0, zero2));
        p = pz;
    }
    pg_tensor *pd = p; /* p̃ */
    if (a.dropout > 0) {
        TRY(pdrop, pg_dropout(p, a.dropout, a.seed));
        pd = pdrop;
    }
    if (pg__node_needs(n, 2)) {
        TRY(pt, pg_permute(pd, nd, perm));
        dx[2] = pg_matmul(pt, g);
        if (!dx[2]) goto fail;
    }
    if (pg__node_needs(n, 0) || pg__node_needs(n, 1) || pg__node_needs(n, 3)) {
        TRY(vt, pg_permute(v, nd, perm));
        TRY(dp0, pg_matmul(g, vt));
        pg_tensor *dp = dp0;
        if (a.dropout > 0) {
            TRY(dpdrop, pg_dropout(dp0, a.dropout, a.seed));
            dp = dpdrop;
        }
        TRY(dpp, pg_mul(dp, p));
        TRY(rs, pg_sum(dpp, 1u << (nd - 1), 1));
        TRY(dd, pg_sub(dp, rs));
        TRY(ds, pg_mul(p, dd));
        if (pg__node_needs(n, 0)) {
            TRY(dqk, pg_matmul(ds, k));
            dx[0] = pg_mul_scalar(dqk, a.scale);
            if (!dx[0]) goto fail;
        }
        if (pg__node_needs(n, 1)) {
            TRY(dst, pg_permute(ds, nd, perm));
            TRY(dkq, pg_matmul(dst, q));
            dx[1] = pg_mul_scalar(dkq, a.scale);
            if (!dx[1]) goto fail;
        }
        if (pg__node_needs(n, 3)) {
            dx[3] = pg__sum_to_rec(ds, &n->edges[3].meta);
            if (!dx[3]) goto fail;
        }
    }
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

pg_tensor *pg_scaled_dot_product_attention(pg_tensor *q, pg_tensor *k, pg_tensor *v, pg_tensor *bias, double scale,
                                           int is_causal, double dropout_p, uint64_t seed) {
    const char *op = "scaled_dot_product_attention";
    if (pg__check_tensor(op, q) || pg__check_tensor(op, k) || pg__check_tensor(op, v) || pg__check_tensor(op, bias))
        return NULL;
    pg_params p = {0};
    p.op = PG_OP_SCALED_DOT_PRODUCT_ATTENTION;
    p.attn.scale = scale;
    p.attn.causal = is_causal != 0;
    p.attn.dropout = dropout_p;
    p.attn.seed = seed;
    pg_tensor *in[4] = {q, k, v, bias};
    return pg__apply(PG_OP_SCALED_DOT_PRODUCT_ATTENTION, in, 4, &p);
}

PG_OPDEF(scaled_dot_product_attention, attn_infer, attn_forward, attn_backward, attn_rule);
