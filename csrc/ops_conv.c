/* ops_conv.c: 2-d convolution (PyTorch's conv2d, NCHW, cross-correlation)
 * and its two gradient ops, lowered onto the GEMM of gemm.c by im2col /
 * col2im, one image and one group at a time:
 *
 *   conv2d(x, w)                     y = conv(x, w)        x (N, C, H, W), w (O, C/G, KH, KW)
 *   conv2d_input_grad(g, w)          dx = conv^T(g, w)     g (N, O, OH, OW) -> (N, C, H, W)
 *   conv2d_weight_grad(x, g)         dw = Σ_n g ⋆ x        -> (O, C/G, KH, KW)
 *
 * Each is linear in each of its two inputs, and the backward of each is made
 * of the other two: the three close under differentiation, so the rules give
 * double backward exactly. Not here: bias (an add in Python), conv1d (a
 * height-1 view of conv2d, in Python). */
#include "rules_util.h"

#include <stdlib.h>
#include <string.h>

/* The geometry of one convolution. */
typedef struct pg_cv {
    int64_t n, c, h, w;        /* input (N, C, H, W) */
    int64_t o, kh, kw;         /* weight (O, C/G, KH, KW) */
    int64_t oh, ow;            /* output (N, O, OH, OW) */
    int64_t g, cg, og;         /* groups, channels per group in and out */
    int64_t sh, sw, dh, dw, pt, pl;
    int64_t k, l;              /* col rows cg*kh*kw, col columns oh*ow */
} pg_cv;

/* checks the parameters and the shapes (x: NCHW, w: OIHW as metas), fills cv */
static pg_status pg__cv_plan(const char *op, pg_cv *cv, const pg_meta *x, const pg_meta *w, const pg_params *p) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    pg__shape_str(x->ndim, x->shape, b1, sizeof b1);
    pg__shape_str(w->ndim, w->shape, b2, sizeof b2);
    const int64_t *s = p->conv.stride, *d = p->conv.dilation, *pd = p->conv.pad;
    if (s[0] < 1 || s[1] < 1 || d[0] < 1 || d[1] < 1 || p->conv.groups < 1)
        return pg__fail(PG_ERR_VALUE, "%s: stride (%lld, %lld), dilation (%lld, %lld) and groups %lld must be positive",
                        op, (long long)s[0], (long long)s[1], (long long)d[0], (long long)d[1],
                        (long long)p->conv.groups);
    const int64_t big = (int64_t)1 << 40; /* keeps the geometry's sums and products far from overflow */
    if (s[0] > big || s[1] > big || d[0] > big || d[1] > big || pd[0] > big || pd[1] > big || pd[2] > big ||
        pd[3] > big || p->conv.groups > big)
        return pg__fail(PG_ERR_VALUE, "%s: stride, dilation, padding or groups too large", op);
    if (pd[0] < 0 || pd[1] < 0 || pd[2] < 0 || pd[3] < 0)
        return pg__fail(PG_ERR_VALUE, "%s: padding (%lld, %lld, %lld, %lld) must not be negative", op,
                        (long long)pd[0], (long long)pd[1], (long long)pd[2], (long long)pd[3]);
    if (x->ndim != 4 || w->ndim != 4)
        return pg__fail(PG_ERR_SHAPE, "%s: expected a 4-d input (N, C, H, W) and a 4-d weight (O, C/groups, KH, KW), "
                        "got input %s and weight %s", op, b1, b2);
    *cv = (pg_cv){.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3], .o = w->shape[0],
                  .kh = w->shape[2], .kw = w->shape[3], .g = p->conv.groups, .sh = s[0], .sw = s[1], .dh = d[0],
                  .dw = d[1], .pt = pd[0], .pl = pd[2]};
    if (cv->c % cv->g || cv->o % cv->g)
        return pg__fail(PG_ERR_SHAPE, "%s: groups %lld must divide the input channels and the output channels "
                        "(input %s, weight %s)", op, (long long)cv->g, b1, b2);
    cv->cg = cv->c / cv->g;
    cv->og = cv->o / cv->g;
    if (w->shape[1] != cv->cg)
        return pg__fail(PG_ERR_SHAPE, "%s: the weight %s expects %lld input channels per group, the input %s has %lld "
                        "(%lld groups)", op, b2, (long long)w->shape[1], b1, (long long)cv->cg, (long long)cv->g);
    if (cv->kh < 1 || cv->kw < 1)
        return pg__fail(PG_ERR_SHAPE, "%s: the kernel of weight %s is empty", op, b2);
    int64_t eh = cv->h + pd[0] + pd[1] - cv->dh * (cv->kh - 1) - 1;
    int64_t ew = cv->w + pd[2] + pd[3] - cv->dw * (cv->kw - 1) - 1;
    if (eh < 0 || ew < 0)
        return pg__fail(PG_ERR_SHAPE, "%s: the kernel of weight %s (dilation (%lld, %lld)) is larger than the padded "
                        "input %s (padding (%lld, %lld, %lld, %lld))", op, b2, (long long)cv->dh, (long long)cv->dw,
                        b1, (long long)pd[0], (long long)pd[1], (long long)pd[2], (long long)pd[3]);
    cv->oh = eh / cv->sh + 1;
    cv->ow = ew / cv->sw + 1;
    cv->k = cv->cg * cv->kh * cv->kw;
    cv->l = pg__mul_sat(cv->oh, cv->ow);
    if ((uint64_t)pg__mul_sat(cv->k, cv->l) > PG_MAX_BYTES / 8 ||
        (uint64_t)pg__mul_sat(pg__mul_sat(cv->n, cv->o), cv->l) > PG_MAX_BYTES / 8)
        return pg__fail(PG_ERR_MEMORY, "%s: the unfolded input or the output of input %s and weight %s is too large",
                        op, b1, b2);
    return PG_OK;
}

static void pg__cv_out_meta(pg_meta *m, const pg_cv *cv, pg_dtype dt) {
    *m = (pg_meta){.dtype = dt, .ndim = 4, .shape = {cv->n, cv->o, cv->oh, cv->ow}};
}

/* ---- im2col / col2im and the three GEMM drivers, for float and double ----
 * col (k, l): col[(c*KH + i)*KW + j, oy*OW + ox] = x[c, oy*sh - pt + i*dh, ox*sw - pl + j*dw] (0 outside). */

typedef struct pg_cv_job {
    const pg_cv *cv;
    void *col;       /* (k, l) */
    void *img;       /* one group of one image: (cg, H, W) */
} pg_cv_job;

#define PG_CONV_KERNELS(T, SUF)                                                                               \
    /* rows [lo, hi) of col from img */                                                                       \
    static void pg__im2col_##SUF(void *ctx, int64_t lo, int64_t hi) {                                         \
        const pg_cv_job *j = ctx;                                                                             \
        const pg_cv *cv = j->cv;                                                                              \
        const T *x = j->img;                                                                                  \
        for (int64_t r = lo; r < hi; r++) {                                                                   \
            int64_t c = r / (cv->kh * cv->kw), i = r / cv->kw % cv->kh, jj = r % cv->kw;                      \
            T *row = (T *)j->col + r * cv->l;                                                                 \
            const T *xc = x + c * cv->h * cv->w;                                                              \
            for (int64_t oy = 0; oy < cv->oh; oy++) {                                                         \
                int64_t iy = oy * cv->sh - cv->pt + i * cv->dh;                                               \
                T *dst = row + oy * cv->ow;                                                                   \
                if (iy < 0 || iy >= cv->h) {                                                                  \
                    memset(dst, 0, sizeof(T) * (size_t)cv->ow);                                               \
                    continue;                                                                                 \
                }                                                                                             \
                const T *xr = xc + iy * cv->w;                                                                \
                int64_t ix = -cv->pl + jj * cv->dw;                                                           \
                for (int64_t ox = 0; ox < cv->ow; ox++, ix += cv->sw)                                         \
                    dst[ox] = (ix >= 0 && ix < cv->w) ? xr[ix] : (T)0;                                        \
            }                                                                                                 \
        }                                                                                                     \
    }                                                                                                         \
    /* channels [lo, hi) of img += col2im(col): a channel reads only its own col rows */                      \
    static void pg__col2im_##SUF(void *ctx, int64_t lo, int64_t hi) {                                         \
        const pg_cv_job *j = ctx;                                                                             \
        const pg_cv *cv = j->cv;                                                                              \
        T *x = j->img;                                                                                        \
        for (int64_t r = lo * cv->kh * cv->kw; r < hi * cv->kh * cv->kw; r++) {                               \
            int64_t c = r / (cv->kh * cv->kw), i = r / cv->kw % cv->kh, jj = r % cv->kw;                      \
            const T *row = (const T *)j->col + r * cv->l;                                                     \
            T *xc = x + c * cv->h * cv->w;                                                                    \
            for (int64_t oy = 0; oy < cv->oh; oy++) {                                                         \
                int64_t iy = oy * cv->sh - cv->pt + i * cv->dh;                                               \
                if (iy < 0 || iy >= cv->h) continue;                                                          \
                const T *src = row + oy * cv->ow;                                                             \
                T *xr = xc + iy * cv->w;                                                                      \
                int64_t ix = -cv->pl + jj * cv->dw;                                                           \
                for (int64_t ox = 0; ox < cv->ow; ox++, ix += cv->sw)                                         \
                    if (ix >= 0 && ix < cv->w) xr[ix] += src[ox];                                             \
            }                                                                                                 \
        }                                                                                                     \
    }                                                                                                         \
    static void pg__im2col_run_##SUF(const pg_cv *cv, T *col, const T *img) {                                 \
        pg_cv_job j = {cv, col, (void *)img};                                                                 \
        pg__parallel_range(cv->k, 1, PG_NDITER_GRAIN / (cv->l ? cv->l : 1) + 1, pg__im2col_##SUF, &j);       \
    }                                                                                                         \
    static void pg__col2im_run_##SUF(const pg_cv *cv, const T *col, T *img) {                                 \
        pg_cv_job j = {cv, (void *)col, img};                                                                 \
        int64_t per = cv->kh * cv->kw * cv->l;                                                                \
        pg__parallel_range(cv->cg, 1, PG_NDITER_GRAIN / (per ? per : 1) + 1, pg__col2im_##SUF, &j);          \
    }                                                                                                         \
    /* y (N, O, OH, OW) = conv(x (N, C, H, W), w (O, cg, KH, KW)); col: (k, l) scratch */                    \
    static void pg__conv_fwd_##SUF(const pg_cv *cv, T *y, const T *x, const T *w, T *col) {                  \
        for (int64_t n = 0; n < cv->n; n++)                                                                   \
            for (int64_t g = 0; g < cv->g; g++) {                                                             \
                pg__im2col_run_##SUF(cv, col, x + (n * cv->c + g * cv->cg) * cv->h * cv->w);                  \
                /* Y_g (og, l) = W_g (og, k) col (k, l) */                                                    \
                pg__gemm_##SUF(false, false, cv->og, cv->l, cv->k, w + g * cv->og * cv->k, cv->k, col, cv->l, \
                               y + (n * cv->o + g * cv->og) * cv->l, cv->l, false);                           \
            }                                                                                                 \
    }                                                                                                         \
    /* dx (N, C, H, W) = conv^T(gy (N, O, OH, OW), w): col2im(W_g^T G_g); dx written whole */                \
    static void pg__conv_dx_##SUF(const pg_cv *cv, T *dx, const T *gy, const T *w, T *col) {                 \
        memset(dx, 0, sizeof(T) * (size_t)(cv->n * cv->c * cv->h * cv->w));                                   \
        for (int64_t n = 0; n < cv->n; n++)                                                                   \
            for (int64_t g = 0; g < cv->g; g++) {                                                             \
                /* y = W col  =>  dcol (k, l) = W_g^T (k, og) G_g (og, l) */                                  \
                pg__gemm_##SUF(true, false, cv->k, cv->l, cv->og, w + g * cv->og * cv->k, cv->k,              \
                               gy + (n * cv->o + g * cv->og) * cv->l, cv->l, col, cv->l, false);              \
                pg__col2im_run_##SUF(cv, col, dx + (n * cv->c + g * cv->cg) * cv->h * cv->w);                 \
            }                                                                                                 \
    }                                                                                                         \
    /* dw (O, cg, KH, KW) = Σ_n G_g col^T; dw written whole (0 for an empty batch) */                         \
    static void pg__conv_dw_##SUF(const pg_cv *cv, T *dw, const T *x, const T *gy, T *col) {                 \
        if (cv->n == 0 || cv->l == 0) memset(dw, 0, sizeof(T) * (size_t)(cv->o * cv->k));                     \
        for (int64_t n = 0; n < cv->n; n++)                                                                   \
            for (int64_t g = 0; g < cv->g; g++) {                                                             \
                pg__im2col_run_##SUF(cv, col, x + (n * cv->c + g * cv->cg) * cv->h * cv->w);                  \
                /* y = W col  =>  dW_g (og, k) += G_g (og, l) col^T (l, k) */                                 \
                pg__gemm_##SUF(false, true, cv->og, cv->k, cv->l, gy + (n * cv->o + g * cv->og) * cv->l,      \
                               cv->l, col, cv->l, dw + g * cv->og * cv->k, cv->k, n > 0);                     \
            }                                                                                                 \
    }

PG_CONV_KERNELS(float, f32)
PG_CONV_KERNELS(double, f64)

enum { PG_CV_FWD, PG_CV_DX, PG_CV_DW };

/* out = one of the three products: FWD y = conv(a=x, b=w), DX dx = conv^T(a=g, b=w), DW dw = (a=x, b=g) */
static pg_status pg__cv_run(int kind, const pg_cv *cv, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    if (out->numel == 0) return PG_OK;
    if (a->numel == 0 || b->numel == 0) { /* bilinear: an empty operand (C, H or O zero) gives zeros */
        memset(out->data, 0, pg__dtype_size(out->dtype) * (size_t)out->numel);
        return PG_OK;
    }
    bool f64 = out->dtype == PG_DTYPE_F64;
    size_t es = f64 ? 8 : 4;
    void *col = malloc(es * (size_t)((cv->k * cv->l) > 0 ? cv->k * cv->l : 1));
    if (!col) return pg__fail(PG_ERR_MEMORY, "%s: out of memory for the unfolded input", pg_optable[kind == PG_CV_FWD
                              ? PG_OP_CONV2D : kind == PG_CV_DX ? PG_OP_CONV2D_INPUT_GRAD : PG_OP_CONV2D_WEIGHT_GRAD]->name);
    pg_unlocked u = pg__unlock_host(pg__mul_sat(cv->n * cv->g, pg__mul_sat(cv->og * cv->k, cv->l)));
    if (f64) {
        if (kind == PG_CV_FWD) pg__conv_fwd_f64(cv, out->data, a->data, b->data, col);
        else if (kind == PG_CV_DX) pg__conv_dx_f64(cv, out->data, a->data, b->data, col);
        else pg__conv_dw_f64(cv, out->data, a->data, b->data, col);
    } else {
        if (kind == PG_CV_FWD) pg__conv_fwd_f32(cv, out->data, a->data, b->data, col);
        else if (kind == PG_CV_DX) pg__conv_dx_f32(cv, out->data, a->data, b->data, col);
        else pg__conv_dw_f32(cv, out->data, a->data, b->data, col);
    }
    pg__relock_host(u);
    free(col);
    return PG_OK;
}

/* ---- the geometry of each op from its two inputs ---- */

static pg_status pg__cv_check_dtypes(const char *op, pg_tensor *const *in) {
    if (pg__check_float(op, in[0]) || pg__check_float(op, in[1])) return PG_ERR_TYPE;
    if (in[0]->dtype != in[1]->dtype)
        return pg__fail(PG_ERR_TYPE, "%s: dtypes %s and %s differ", op, pg__dtype_name(in[0]->dtype),
                        pg__dtype_name(in[1]->dtype));
    return PG_OK;
}

/* conv2d_input_grad(g, w): x's meta from g, w and the params' size; checks g's shape */
static pg_status pg__cv_plan_dx(pg_cv *cv, const pg_meta *gm, const pg_meta *wm, const pg_params *p) {
    const char *op = "conv2d_input_grad";
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (gm->ndim != 4 || wm->ndim != 4)
        return pg__fail(PG_ERR_SHAPE, "%s: expected a 4-d gradient and a 4-d weight, got %s and %s", op,
                        pg__shape_str(gm->ndim, gm->shape, b1, sizeof b1),
                        pg__shape_str(wm->ndim, wm->shape, b2, sizeof b2));
    pg_meta xm = {.dtype = gm->dtype, .ndim = 4,
                  .shape = {gm->shape[0], pg__mul_sat(wm->shape[1], p->conv.groups), p->conv.size[0], p->conv.size[1]}};
    if (p->conv.size[0] < 0 || p->conv.size[1] < 0)
        return pg__fail(PG_ERR_SHAPE, "%s: negative input size (%lld, %lld)", op, (long long)p->conv.size[0],
                        (long long)p->conv.size[1]);
    if (pg__cv_plan(op, cv, &xm, wm, p)) return pg_last_status();
    if (gm->shape[1] != cv->o || gm->shape[2] != cv->oh || gm->shape[3] != cv->ow)
        return pg__fail(PG_ERR_SHAPE, "%s: gradient of shape %s, expected (%lld, %lld, %lld, %lld) for weight %s", op,
                        pg__shape_str(gm->ndim, gm->shape, b1, sizeof b1), (long long)cv->n, (long long)cv->o,
                        (long long)cv->oh, (long long)cv->ow, pg__shape_str(wm->ndim, wm->shape, b2, sizeof b2));
    return PG_OK;
}

/* conv2d_weight_grad(x, g): w's meta from x, g and the params' size; checks g's shape */
static pg_status pg__cv_plan_dw(pg_cv *cv, const pg_meta *xm, const pg_meta *gm, const pg_params *p) {
    const char *op = "conv2d_weight_grad";
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (xm->ndim != 4 || gm->ndim != 4)
        return pg__fail(PG_ERR_SHAPE, "%s: expected a 4-d input and a 4-d gradient, got %s and %s", op,
                        pg__shape_str(xm->ndim, xm->shape, b1, sizeof b1),
                        pg__shape_str(gm->ndim, gm->shape, b2, sizeof b2));
    int64_t g = p->conv.groups > 0 ? p->conv.groups : 1;
    pg_meta wm = {.dtype = xm->dtype, .ndim = 4, .shape = {gm->shape[1], xm->shape[1] / g, p->conv.size[0],
                                                            p->conv.size[1]}};
    if (pg__cv_plan(op, cv, xm, &wm, p)) return pg_last_status();
    if (gm->shape[0] != cv->n || gm->shape[2] != cv->oh || gm->shape[3] != cv->ow)
        return pg__fail(PG_ERR_SHAPE, "%s: gradient of shape %s, expected (%lld, %lld, %lld, %lld) for input %s", op,
                        pg__shape_str(gm->ndim, gm->shape, b2, sizeof b2), (long long)cv->n, (long long)cv->o,
                        (long long)cv->oh, (long long)cv->ow, pg__shape_str(xm->ndim, xm->shape, b1, sizeof b1));
    return PG_OK;
}

static pg_status pg__cv_plan_op(int op, pg_cv *cv, const pg_meta *a, const pg_meta *b, const pg_params *p) {
    if (op == PG_OP_CONV2D) return pg__cv_plan("conv2d", cv, a, b, p);
    if (op == PG_OP_CONV2D_INPUT_GRAD) return pg__cv_plan_dx(cv, a, b, p);
    return pg__cv_plan_dw(cv, a, b, p);
}

static pg_status conv_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    if (pg__cv_check_dtypes(pg_optable[p->op]->name, in)) return PG_ERR_TYPE;
    pg_meta a, b;
    pg__meta_of(&a, in[0]);
    pg__meta_of(&b, in[1]);
    pg_cv cv;
    if (pg__cv_plan_op(p->op, &cv, &a, &b, p)) return pg_last_status();
    if (p->op == PG_OP_CONV2D) pg__cv_out_meta(out, &cv, a.dtype);
    else if (p->op == PG_OP_CONV2D_INPUT_GRAD)
        *out = (pg_meta){.dtype = a.dtype, .ndim = 4, .shape = {cv.n, cv.c, cv.h, cv.w}};
    else *out = (pg_meta){.dtype = a.dtype, .ndim = 4, .shape = {cv.o, cv.cg, cv.kh, cv.kw}};
    return PG_OK;
}

static pg_status conv_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg_meta a, b;
    pg__meta_of(&a, in[0]);
    pg__meta_of(&b, in[1]);
    pg_cv cv;
    if (pg__cv_plan_op(p->op, &cv, &a, &b, p)) return pg_last_status();
    int kind = p->op == PG_OP_CONV2D ? PG_CV_FWD : p->op == PG_OP_CONV2D_INPUT_GRAD ? PG_CV_DX : PG_CV_DW;
    return pg__cv_run(kind, &cv, out, in[0], in[1]);
}

/* The backward of each op, by the adjoints (<conv(x, w), g> = <x, conv^T(g, w)> = <w, dw(x, g)>):
 *   y = conv(x, w):          dx = conv^T(gy, w),  dw = dw(x, gy)
 *   y = conv^T(g, w):        dg = conv(gy, w),    dw = dw(gy, g)
 *   y = dw(x, g):            dx = conv^T(g, gy),  dg = conv(x, gy)
 * each as (kind, first operand, second operand), an operand being 'G' (the upstream) or an input index. */
typedef struct pg_cv_step {
    int kind;
    int a, b; /* -1: the upstream gradient; else the saved input of that index */
} pg_cv_step;

static const pg_cv_step pg__cv_steps[3][2] = {
    {{PG_CV_DX, -1, 1}, {PG_CV_DW, 0, -1}},
    {{PG_CV_FWD, -1, 1}, {PG_CV_DW, -1, 0}},
    {{PG_CV_DX, 1, -1}, {PG_CV_FWD, 0, -1}},
};

static int pg__cv_index(int op) { return op == PG_OP_CONV2D ? 0 : op == PG_OP_CONV2D_INPUT_GRAD ? 1 : 2; }

/* the geometry of the conv that all three ops of a node share: x and w metas from its edges and output */
static void pg__cv_node_geom(pg_cv *cv, const pg_node *n) {
    const pg_meta *a = &n->edges[0].meta, *b = &n->edges[1].meta, *o = &n->out_meta;
    if (n->op == PG_OP_CONV2D) pg__cv_plan("conv2d", cv, a, b, &n->p);
    else if (n->op == PG_OP_CONV2D_INPUT_GRAD) pg__cv_plan("conv2d", cv, o, b, &n->p);
    else pg__cv_plan("conv2d", cv, a, o, &n->p);
}

static pg_status conv_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_cv cv;
    pg__cv_node_geom(&cv, n);
    const pg_cv_step *steps = pg__cv_steps[pg__cv_index(n->op)];
    for (int i = 0; i < 2; i++) {
        if (!pg__node_needs(n, i)) continue;
        pg_tensor *d = pg__tensor_new_like(&n->edges[i].meta);
        if (!d) return PG_ERR_MEMORY;
        dx[i] = d;
        const pg_tensor *a = steps[i].a < 0 ? g : n->saved[steps[i].a];
        const pg_tensor *b = steps[i].b < 0 ? g : n->saved[steps[i].b];
        if (d->numel == 0) continue;
        if (g->numel == 0) {
            memset(d->data, 0, pg__dtype_size(d->dtype) * (size_t)d->numel);
            continue;
        }
        pg_status st = pg__cv_run(steps[i].kind, &cv, d, a, b);
        if (st) return st;
    }
    return PG_OK;
}

static pg_tensor *pg__conv_apply(int op, pg_tensor *a, pg_tensor *b, const pg_params *p0) {
    pg_params p = *p0;
    p.op = op;
    pg_tensor *in[2] = {a, b};
    return pg__apply(op, in, 2, &p);
}

/* the same products as the backward, made of the ops themselves (recorded) */
static pg_status conv_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_cv cv;
    pg__cv_node_geom(&cv, n);
    const pg_cv_step *steps = pg__cv_steps[pg__cv_index(n->op)];
    for (int i = 0; i < 2; i++) {
        if (!pg__node_needs(n, i)) continue;
        pg_tensor *a = steps[i].a < 0 ? g : pg__saved_input(n, steps[i].a);
        pg_tensor *b = steps[i].b < 0 ? g : pg__saved_input(n, steps[i].b);
        pg_params p = n->p;
        int op = PG_OP_CONV2D;
        if (steps[i].kind == PG_CV_DX) {
            op = PG_OP_CONV2D_INPUT_GRAD;
            p.conv.size[0] = cv.h;
            p.conv.size[1] = cv.w;
        } else if (steps[i].kind == PG_CV_DW) {
            op = PG_OP_CONV2D_WEIGHT_GRAD;
            p.conv.size[0] = cv.kh;
            p.conv.size[1] = cv.kw;
        }
        dx[i] = pg__conv_apply(op, a, b, &p);
        if (!dx[i]) return pg__rule_status();
    }
    return PG_OK;
}

/* ---- entry points ---- */

static pg_tensor *pg__conv_entry(int op, pg_tensor *a, pg_tensor *b, const int64_t *stride, const int64_t *padding,
                                 const int64_t *dilation, int64_t groups, const int64_t *size) {
    const char *name = pg_optable[op]->name;
    if (pg__check_tensor(name, a) || pg__check_tensor(name, b)) return NULL;
    if (!stride || !padding || !dilation || (op != PG_OP_CONV2D && !size)) {
        pg__fail(PG_ERR_VALUE, "%s: a NULL parameter array", name);
        return NULL;
    }
    pg_params p = {0};
    memcpy(p.conv.stride, stride, sizeof p.conv.stride);
    memcpy(p.conv.dilation, dilation, sizeof p.conv.dilation);
    memcpy(p.conv.pad, padding, sizeof p.conv.pad);
    p.conv.groups = groups;
    if (size) memcpy(p.conv.size, size, sizeof p.conv.size);
    return pg__conv_apply(op, a, b, &p);
}

pg_tensor *pg_conv2d(pg_tensor *x, pg_tensor *w, const int64_t *stride, const int64_t *padding,
                     const int64_t *dilation, int64_t groups) {
    return pg__conv_entry(PG_OP_CONV2D, x, w, stride, padding, dilation, groups, NULL);
}

pg_tensor *pg_conv2d_input_grad(pg_tensor *g, pg_tensor *w, const int64_t *input_hw, const int64_t *stride,
                                const int64_t *padding, const int64_t *dilation, int64_t groups) {
    return pg__conv_entry(PG_OP_CONV2D_INPUT_GRAD, g, w, stride, padding, dilation, groups, input_hw);
}

pg_tensor *pg_conv2d_weight_grad(pg_tensor *x, pg_tensor *g, const int64_t *kernel_hw, const int64_t *stride,
                                 const int64_t *padding, const int64_t *dilation, int64_t groups) {
    return pg__conv_entry(PG_OP_CONV2D_WEIGHT_GRAD, x, g, stride, padding, dilation, groups, kernel_hw);
}

PG_OPDEF(conv2d, conv_infer, conv_forward, conv_backward, conv_rule);
PG_OPDEF(conv2d_input_grad, conv_infer, conv_forward, conv_backward, conv_rule);
PG_OPDEF(conv2d_weight_grad, conv_infer, conv_forward, conv_backward, conv_rule);
