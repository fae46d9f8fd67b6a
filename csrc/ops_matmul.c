/* ops_matmul.c: the matmul op (numpy matmul semantics: 1-d promotion,
 * broadcast batch dims): row, shape inference, forward, backward, rule and
 * entry point. It runs on the GEMM of gemm.c; the backward calls GEMM with
 * transposed operand flags instead of materialising transposes. */
#include "rules_util.h"

#include <string.h>

/* The operands seen as stacks of matrices. */
typedef struct pg_mm {
    int nb;                       /* batch dims of the output */
    int64_t bshape[PG_MAX_DIMS];  /* [nb] */
    int64_t ast[PG_MAX_DIMS];     /* a's batch strides in matrices (0: broadcast), [nb] */
    int64_t bst[PG_MAX_DIMS];
    int64_t nbatch;
    int64_t m, k, n;
} pg_mm;

static void pg__mm_batch_strides(const pg_meta *x, int nb, const int64_t *bshape, int64_t *st) {
    int xb = x->ndim - 2; /* batch dims of x (after 1-d promotion x->ndim >= 2) */
    int64_t s = 1;
    for (int d = nb - 1; d >= 0; d--) {
        int j = d - (nb - xb);
        if (j < 0 || (x->shape[j] == 1 && bshape[d] != 1)) {
            st[d] = 0;
        } else {
            st[d] = s;
        }
        if (j >= 0) s = pg__mul_sat(s, x->shape[j]);
    }
}

/* 1-d promotion: (k) as a is (1, k), as b is (k, 1) */
static void pg__mm_promote(pg_meta *a, pg_meta *b) {
    if (a->ndim == 1) {
        a->shape[1] = a->shape[0];
        a->shape[0] = 1;
        a->ndim = 2;
    }
    if (b->ndim == 1) {
        b->shape[1] = 1;
        b->ndim = 2;
    }
}

static pg_status pg__mm_plan(pg_mm *mm, pg_meta *out, const pg_meta *a0, const pg_meta *b0) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (a0->ndim == 0 || b0->ndim == 0)
        return pg__fail(PG_ERR_SHAPE, "matmul: both operands need at least 1 dim, got shapes %s and %s",
                        pg__shape_str(a0->ndim, a0->shape, b1, sizeof b1),
                        pg__shape_str(b0->ndim, b0->shape, b2, sizeof b2));
    pg_meta a = *a0, b = *b0;
    pg__mm_promote(&a, &b);
    mm->m = a.shape[a.ndim - 2];
    mm->k = a.shape[a.ndim - 1];
    mm->n = b.shape[b.ndim - 1];
    if (b.shape[b.ndim - 2] != mm->k)
        return pg__fail(PG_ERR_SHAPE, "matmul: inner dimensions differ: %s @ %s (%lld != %lld)",
                        pg__shape_str(a0->ndim, a0->shape, b1, sizeof b1),
                        pg__shape_str(b0->ndim, b0->shape, b2, sizeof b2), (long long)mm->k,
                        (long long)b.shape[b.ndim - 2]);
    int ab = a.ndim - 2, bb = b.ndim - 2;
    int nb = ab > bb ? ab : bb;
    mm->nb = nb;
    mm->nbatch = 1;
    for (int d = 0; d < nb; d++) {
        int ja = d - (nb - ab), jb = d - (nb - bb);
        int64_t sa = ja >= 0 ? a.shape[ja] : 1, sb = jb >= 0 ? b.shape[jb] : 1;
        if (sa != sb && sa != 1 && sb != 1)
            return pg__fail(PG_ERR_SHAPE, "matmul: batch dimensions of %s and %s cannot be broadcast together",
                            pg__shape_str(a0->ndim, a0->shape, b1, sizeof b1),
                            pg__shape_str(b0->ndim, b0->shape, b2, sizeof b2));
        mm->bshape[d] = sa == 1 ? sb : sa;
        mm->nbatch = pg__mul_sat(mm->nbatch, mm->bshape[d]);
    }
    pg__mm_batch_strides(&a, nb, mm->bshape, mm->ast);
    pg__mm_batch_strides(&b, nb, mm->bshape, mm->bst);
    if (out) {
        out->dtype = a0->dtype;
        int n = 0;
        for (int d = 0; d < nb; d++) out->shape[n++] = mm->bshape[d];
        if (a0->ndim > 1) out->shape[n++] = mm->m;
        if (b0->ndim > 1) out->shape[n++] = mm->n;
        out->ndim = n;
    }
    return PG_OK;
}

/* offsets, in matrices, of batch t in a and b; *first_a (*first_b) tells
 * whether t is the first batch that reaches a's (b's) matrix: the one whose
 * index is 0 along every dim where that operand is broadcast */
static void pg__mm_offsets(const pg_mm *mm, int64_t t, int64_t *oa, int64_t *ob, bool *first_a, bool *first_b) {
    int64_t ia = 0, ib = 0;
    bool fa = true, fb = true;
    for (int d = mm->nb - 1; d >= 0; d--) {
        int64_t i = t % mm->bshape[d];
        t /= mm->bshape[d];
        ia += i * mm->ast[d];
        ib += i * mm->bst[d];
        if (i && !mm->ast[d]) fa = false;
        if (i && !mm->bst[d]) fb = false;
    }
    *oa = ia;
    *ob = ib;
    if (first_a) *first_a = fa;
    if (first_b) *first_b = fb;
}

static pg_status matmul_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in, (void)p;
    if (pg__check_float("matmul", in[0]) || pg__check_float("matmul", in[1])) return PG_ERR_TYPE;
    if (in[0]->dtype != in[1]->dtype)
        return pg__fail(PG_ERR_TYPE, "matmul: dtypes %s and %s differ (promote first)",
                        pg__dtype_name(in[0]->dtype), pg__dtype_name(in[1]->dtype));
    pg_meta a, b;
    pg__meta_of(&a, in[0]);
    pg__meta_of(&b, in[1]);
    pg_mm mm;
    return pg__mm_plan(&mm, out, &a, &b);
}

/* C[t] = A[t] B[t] for every batch t */
static pg_status matmul_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in, (void)p;
    if (out->numel == 0) return PG_OK; /* the batch count may still be huge: (2^31, 2^31, 0, k) */
    pg_meta am, bm;
    pg__meta_of(&am, in[0]);
    pg__meta_of(&bm, in[1]);
    pg_mm mm;
    pg__mm_plan(&mm, NULL, &am, &bm);
    int64_t sa = mm.m * mm.k, sb = mm.k * mm.n, sc = mm.m * mm.n;
    for (int64_t t = 0; t < mm.nbatch; t++) {
        int64_t oa, ob;
        pg__mm_offsets(&mm, t, &oa, &ob, NULL, NULL);
        if (out->dtype == PG_DTYPE_F32)
            pg__gemm_f32(false, false, mm.m, mm.n, mm.k, (const float *)in[0]->data + oa * sa, mm.k,
                         (const float *)in[1]->data + ob * sb, mm.n, (float *)out->data + t * sc, mm.n, false);
        else
            pg__gemm_f64(false, false, mm.m, mm.n, mm.k, (const double *)in[0]->data + oa * sa, mm.k,
                         (const double *)in[1]->data + ob * sb, mm.n, (double *)out->data + t * sc, mm.n,
                         false);
    }
    return PG_OK;
}

/* One matrix's dA (part 0) and dB (part 1), for the two at once on two threads. */
typedef struct pg_mm_pair {
    bool f64;
    int64_t m, k, n;
    const void *a, *b, *g; /* [m, k], [k, n], [m, n] */
    void *da, *db;         /* [m, k], [k, n] */
} pg_mm_pair;

static void pg__mm_pair_part(void *ctx, const pg_team *team) {
    const pg_mm_pair *p = ctx;
    if (p->f64 && team->tid == 0)
        pg__gemm_f64(false, true, p->m, p->k, p->n, p->g, p->n, p->b, p->n, p->da, p->k, false);
    else if (p->f64)
        pg__gemm_f64(true, false, p->k, p->n, p->m, p->a, p->k, p->g, p->n, p->db, p->n, false);
    else if (team->tid == 0)
        pg__gemm_f32(false, true, p->m, p->k, p->n, p->g, p->n, p->b, p->n, p->da, p->k, false);
    else
        pg__gemm_f32(true, false, p->k, p->n, p->m, p->a, p->k, p->g, p->n, p->db, p->n, false);
}

/* C = A B  =>  dA = dC B^T,  dB = A^T dC; summed over broadcast batches.
 * The first batch that reaches a gradient matrix writes it (the GEMM with
 * acc = false), the later ones add into it: no zero-fill pass. One matrix's
 * two products, of M N K multiply-adds each, run at once on two threads, one
 * on each, from PG_GEMM_PAIR_MIN (internal.h) on. */
static pg_status matmul_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_tensor *a = n->saved[0], *b = n->saved[1];
    pg_mm mm;
    bool need_a = pg__node_needs(n, 0), need_b = pg__node_needs(n, 1);
    /* nothing flows back from an empty output: the gradients are zero */
    pg_tensor *(*alloc)(const pg_meta *) = g->numel == 0 ? pg__tensor_zeros_like : pg__tensor_new_like;
    pg_tensor *da = need_a ? alloc(&n->edges[0].meta) : NULL;
    pg_tensor *db = need_b ? alloc(&n->edges[1].meta) : NULL;
    if ((need_a && !da) || (need_b && !db)) {
        pg_tensor_release(da);
        pg_tensor_release(db);
        return PG_ERR_MEMORY;
    }
    dx[0] = da;
    dx[1] = db;
    if (g->numel == 0) return PG_OK;
    pg__mm_plan(&mm, NULL, &n->edges[0].meta, &n->edges[1].meta);
    int64_t sa = mm.m * mm.k, sb = mm.k * mm.n, sc = mm.m * mm.n;
    bool f64 = g->dtype == PG_DTYPE_F64;
    if (mm.nbatch == 1 && da && db && pg_get_num_threads() == 2 &&
        (double)mm.m * (double)mm.n * (double)mm.k >= PG_GEMM_PAIR_MIN) {
        pg_mm_pair pr = {f64, mm.m, mm.k, mm.n, a->data, b->data, g->data, da->data, db->data};
        pg__parallel(pg__mm_pair_part, &pr, 2);
        return PG_OK;
    }
    for (int64_t t = 0; t < mm.nbatch; t++) {
        int64_t oa, ob;
        bool first_a, first_b;
        pg__mm_offsets(&mm, t, &oa, &ob, &first_a, &first_b);
        if (f64) {
            const double *G = (const double *)g->data + t * sc;
            if (da) /* dA[m,k] (+)= G[m,n] B[k,n]^T */
                pg__gemm_f64(false, true, mm.m, mm.k, mm.n, G, mm.n, (const double *)b->data + ob * sb, mm.n,
                             (double *)da->data + oa * sa, mm.k, !first_a);
            if (db) /* dB[k,n] (+)= A[m,k]^T G[m,n] */
                pg__gemm_f64(true, false, mm.k, mm.n, mm.m, (const double *)a->data + oa * sa, mm.k, G, mm.n,
                             (double *)db->data + ob * sb, mm.n, !first_b);
        } else {
            const float *G = (const float *)g->data + t * sc;
            if (da)
                pg__gemm_f32(false, true, mm.m, mm.k, mm.n, G, mm.n, (const float *)b->data + ob * sb, mm.n,
                             (float *)da->data + oa * sa, mm.k, !first_a);
            if (db)
                pg__gemm_f32(true, false, mm.k, mm.n, mm.m, (const float *)a->data + oa * sa, mm.k, G, mm.n,
                             (float *)db->data + ob * sb, mm.n, !first_b);
        }
    }
    return PG_OK;
}

pg_tensor *pg_matmul(pg_tensor *a, pg_tensor *b) {
    pg_params p = {0};
    if (pg__check_tensor("matmul", a) || pg__check_tensor("matmul", b)) return NULL;
    if (a->dtype == b->dtype && pg__is_float(a->dtype)) {
        pg_tensor *in[2] = {a, b};
        return pg__apply(PG_OP_MATMUL, in, 2, &p);
    }
    /* float64 wins; bool and integer operands are cast to float32 (a float op, like exp) */
    pg_dtype t = (a->dtype == PG_DTYPE_F64 || b->dtype == PG_DTYPE_F64) ? PG_DTYPE_F64 : PG_DTYPE_F32;
    pg_tensor *x = a->dtype == t ? PG_NEW_REF(a) : pg_cast(a, t);
    pg_tensor *y = b->dtype == t ? PG_NEW_REF(b) : pg_cast(b, t);
    pg_tensor *out = NULL;
    if (x && y) {
        pg_tensor *in[2] = {x, y};
        out = pg__apply(PG_OP_MATMUL, in, 2, &p);
    }
    pg_tensor_release(x);
    pg_tensor_release(y);
    return out;
}

/* ---- differentiable rules (create_graph) ---- */

static pg_tensor *pg__swap_last2(pg_tensor *t) {
    int perm[PG_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) perm[d] = d;
    perm[t->ndim - 1] = t->ndim - 2;
    perm[t->ndim - 2] = t->ndim - 1;
    return pg_permute(t, t->ndim, perm);
}

/* C = A B  =>  dA = dC B^T, dB = A^T dC (batch dims summed back) */
static pg_status matmul_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *a = pg__saved_input(n, 0), *b = pg__saved_input(n, 1);
    pg_meta ma = n->edges[0].meta, mb = n->edges[1].meta, mg = n->out_meta;
    bool a1 = ma.ndim == 1, b1 = mb.ndim == 1;
    /* the 2-d views of numpy's 1-d promotion */
    if (a1) ma = (pg_meta){.dtype = ma.dtype, .ndim = 2, .shape = {1, ma.shape[0]}};
    if (b1) mb = (pg_meta){.dtype = mb.dtype, .ndim = 2, .shape = {mb.shape[0], 1}};
    if (a1) { /* insert the removed m = 1 before the last dim (or as the only one before n) */
        int at = b1 ? mg.ndim : mg.ndim - 1;
        memmove(mg.shape + at + 1, mg.shape + at, sizeof(int64_t) * (size_t)(mg.ndim - at));
        mg.shape[at] = 1;
        mg.ndim++;
    }
    if (b1) mg.shape[mg.ndim++] = 1;
    TRY(A, pg_reshape(a, ma.ndim, ma.shape));
    TRY(B, pg_reshape(b, mb.ndim, mb.shape));
    TRY(G, pg_reshape(g, mg.ndim, mg.shape));
    if (pg__node_needs(n, 0)) {
        TRY(BT, pg__swap_last2(B));
        TRY(dA, pg_matmul(G, BT));
        TRY(dAs, pg__sum_to_rec(dA, &ma));
        dx[0] = pg_reshape(dAs, n->edges[0].meta.ndim, n->edges[0].meta.shape);
        if (!dx[0]) goto fail;
    }
    if (pg__node_needs(n, 1)) {
        TRY(AT, pg__swap_last2(A));
        TRY(dB, pg_matmul(AT, G));
        TRY(dBs, pg__sum_to_rec(dB, &mb));
        dx[1] = pg_reshape(dBs, n->edges[1].meta.ndim, n->edges[1].meta.shape);
        if (!dx[1]) goto fail;
    }
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

PG_OPDEF(matmul, matmul_infer, matmul_forward, matmul_backward, matmul_rule);
