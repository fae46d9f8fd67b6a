/* ops_conv.c: 2-d convolution (PyTorch's conv2d, NCHW, cross-correlation)
 * and its two gradient ops, lowered onto the GEMM of gemm.c by im2col /
 * col2im, a group of images and one channel group at a time, the image
 * groups split between threads:
 *
 *   conv2d(x, w)                     y = conv(x, w)        x (N, C, H, W), w (O, C/G, KH, KW)
 *   conv2d_input_grad(g, w)          dx = conv^T(g, w)     g (N, O, OH, OW) -> (N, C, H, W)
 *   conv2d_weight_grad(x, g)         dw = Σ_n g ⋆ x        -> (O, C/G, KH, KW)
 *
 * Each is linear in each of its two inputs, and the backward of each is made
 * of the other two: the three close under differentiation, so the rules give
 * double backward exactly. float32 stride-1 convolutions of small images on
 * AVX-512 CPUs skip the GEMM: an implicit GEMM from padded image copies
 * (pg__cvi_run, below the GEMM drivers), and for 3 x 3 kernels the weight
 * gradient of more than 4 input channels (or of small images) as a GEMM over
 * all pixels straight from the padded images (pg__cvw_run) and the input
 * gradient (and small images' y) as a direct convolution broadcasting the
 * padded image's pixels (pg__cvd_run); with few
 * input channels, the three read the tensors in place through masked loads
 * (pg__cvs_run: no copy, no col, no transpose), and so do y and dx of few
 * result channels, by tiles of rows (pg__cvr_run). Not here:
 * bias (an add in Python), conv1d (a height-1 view of conv2d, in Python). */
#include "rules_util.h"

#include <stdlib.h>
#include <string.h>

/* Output widths up to this go through the padded plane (see pg__cv_plan). */
#define PG_CV_PLANE_OW 16

/* The geometry of one convolution. */
typedef struct pg_cv {
    int64_t n, c, h, w;        /* input (N, C, H, W) */
    int64_t o, kh, kw;         /* weight (O, C/G, KH, KW) */
    int64_t oh, ow;            /* output (N, O, OH, OW) */
    int64_t g, cg, og;         /* groups, channels per group in and out */
    int64_t sh, sw, dh, dw, pt, pl;
    int64_t k, l;              /* col rows cg*kh*kw, col columns oh*ow */
    int64_t hq, wq;            /* the padded plane: the input rows -pt .. hq-pt-1 and columns -pl .. wq-pl-1
                                  that the windows reach, (oh-1)*sh + dh*(kh-1) + 1 by (ow-1)*sw + dw*(kw-1) + 1 */
    bool plane;                /* im2col / col2im go through a padded plane (cg, hq, wq) (pg__cv_plane) */
    int32_t idx16[2][32][16];  /* images of 16 pixels (pg__cv_img16): the lane permutations of im2col [0] and
                                  col2im [1] per window, filled by pg__cv_run (pg__cv_idx16) */
} pg_cv;

/* checks the parameters and the shapes (x: NCHW, w: OIHW as metas), fills cv */
static pg_status pg__cv_plan(const char *op, pg_cv *cv, const pg_meta *x, const pg_meta *w, const pg_params *p) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    /* the shapes' strings, for the messages: formatted only on the way to one (PG_CV_B1, PG_CV_B2) */
#define PG_CV_B1 (pg__shape_str(w->ndim, w->shape, b2, sizeof b2), pg__shape_str(x->ndim, x->shape, b1, sizeof b1))
#define PG_CV_B2 (pg__shape_str(x->ndim, x->shape, b1, sizeof b1), pg__shape_str(w->ndim, w->shape, b2, sizeof b2))
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
                        "got input %s and weight %s", op, PG_CV_B1, b2);
    *cv = (pg_cv){.n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3], .o = w->shape[0],
                  .kh = w->shape[2], .kw = w->shape[3], .g = p->conv.groups, .sh = s[0], .sw = s[1], .dh = d[0],
                  .dw = d[1], .pt = pd[0], .pl = pd[2]};
    if (cv->c % cv->g || cv->o % cv->g)
        return pg__fail(PG_ERR_SHAPE, "%s: groups %lld must divide the input channels and the output channels "
                        "(input %s, weight %s)", op, (long long)cv->g, PG_CV_B1, b2);
    cv->cg = cv->c / cv->g;
    cv->og = cv->o / cv->g;
    if (w->shape[1] != cv->cg)
        return pg__fail(PG_ERR_SHAPE, "%s: the weight %s expects %lld input channels per group, the input %s has %lld "
                        "(%lld groups)", op, PG_CV_B2, (long long)w->shape[1], b1, (long long)cv->cg, (long long)cv->g);
    if (cv->kh < 1 || cv->kw < 1)
        return pg__fail(PG_ERR_SHAPE, "%s: the kernel of weight %s is empty", op, PG_CV_B2);
    int64_t eh = cv->h + pd[0] + pd[1] - cv->dh * (cv->kh - 1) - 1;
    int64_t ew = cv->w + pd[2] + pd[3] - cv->dw * (cv->kw - 1) - 1;
    if (eh < 0 || ew < 0)
        return pg__fail(PG_ERR_SHAPE, "%s: the kernel of weight %s (dilation (%lld, %lld)) is larger than the padded "
                        "input %s (padding (%lld, %lld, %lld, %lld))", op, PG_CV_B2, (long long)cv->dh, (long long)cv->dw,
                        b1, (long long)pd[0], (long long)pd[1], (long long)pd[2], (long long)pd[3]);
    cv->oh = eh / cv->sh + 1;
    cv->ow = ew / cv->sw + 1;
    cv->k = cv->cg * cv->kh * cv->kw;
    cv->l = pg__mul_sat(cv->oh, cv->ow);
    cv->hq = (cv->oh - 1) * cv->sh + cv->dh * (cv->kh - 1) + 1;
    cv->wq = (cv->ow - 1) * cv->sw + cv->dw * (cv->kw - 1) + 1;
    /* the plane is worth it when it is no larger than one channel's col rows (a large stride or dilation
     * could make it much larger than what the windows read) and the images are small, where the direct
     * im2col's per-row calls and edge loops cost more than its copies */
    cv->plane = cv->ow <= PG_CV_PLANE_OW && pg__mul_sat(cv->hq, cv->wq) <= pg__mul_sat(cv->kh * cv->kw, cv->l);
    if ((uint64_t)pg__mul_sat(cv->k, cv->l) > PG_MAX_BYTES / 8 ||
        (uint64_t)pg__mul_sat(pg__mul_sat(cv->n, cv->o), cv->l) > PG_MAX_BYTES / 8)
        return pg__fail(PG_ERR_MEMORY, "%s: the unfolded input or the output of input %s and weight %s is too large",
                        op, PG_CV_B1, b2);
    return PG_OK;
#undef PG_CV_B1
#undef PG_CV_B2
}

static void pg__cv_out_meta(pg_meta *m, const pg_cv *cv, pg_dtype dt) {
    *m = (pg_meta){.dtype = dt, .ndim = 4, .shape = {cv->n, cv->o, cv->oh, cv->ow}};
}

/* ---- im2col / col2im and the three GEMM drivers, for float and double ----
 * col (k, l): col[(c*KH + i)*KW + j, oy*OW + ox] = x[c, oy*sh - pt + i*dh, ox*sw - pl + j*dw] (0 outside).
 *
 * Images go in groups of nb consecutive images (pg__cv_group: one for large images; for small ones,
 * as many as give about PG_CV_COLS columns): the group's unfolded images sit side by side in one col
 * (k, nb*l), so that the group makes one GEMM instead of nb narrow ones (an 8 x 8 image has 64
 * columns). y's and gy's rows of a group are not one strided matrix (image b's start o*l elements
 * after image b-1's), so they pass through a (og, nb*l) buffer, copied row by row.
 *
 * Small images (OW <= PG_CV_PLANE_OW) unfold from a zero-padded copy of the image (its plane): every
 * window is inside it, so each col row is a few fixed-width runs with no edge cases. The forward's
 * col and the input gradient's G are written straight into the packed panels the GEMM's micro-kernel
 * reads (pg__gemm_packed_*), instead of into a matrix the GEMM would then copy into them. The weight
 * gradient is computed transposed, dw^T = col G^T, so that col is packed as the GEMM's A (8 rows side
 * by side) rather than as a transposed B (32 rows side by side).
 *
 * Threads split the batch, not the products: each team member takes groups in turn (an atomic
 * counter, so a member the machine descheduled delays nobody) and runs im2col, the GEMM and col2im of
 * its group alone, on its own buffers. One hand-off per op instead of two per group, and the GEMMs
 * run on one thread each, where the packed kernel is at its best. dw sums over the images: groups are
 * dealt to S fixed slots (slot s: groups s, s + S, s + 2S, ...; pg__cv_slots), each summed in its own
 * buffer in group order, then the slots in order: since nb depends on the geometry alone, the result
 * does not depend on the team size or on which member took which group. */

/* The first and last+1 output column whose input column ox*sw - pl + off lies in [0, w). */
static void pg__cv_span(int64_t ow, int64_t sw, int64_t w, int64_t start, int64_t *lo, int64_t *hi) {
    /* ix = start + ox*sw: ix >= 0 from ox >= ceil(-start / sw); ix < w up to ox < ceil((w - start) / sw) */
    int64_t a, b;
    if (sw == 1) { /* the common case, without dividing */
        a = start >= 0 ? 0 : -start;
        b = w - start <= 0 ? 0 : w - start;
    } else {
        a = start >= 0 ? 0 : (-start + sw - 1) / sw;
        b = w - start <= 0 ? 0 : (w - start + sw - 1) / sw;
    }
    if (b > ow) b = ow;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* (c, i, j) of col row r + 1 from that of row r: r = (c*KH + i)*KW + j, without dividing */
static inline void pg__cv_next(const pg_cv *cv, int64_t *c, int64_t *i, int64_t *j) {
    if (++*j < cv->kw) return;
    *j = 0;
    if (++*i < cv->kh) return;
    *i = 0;
    ++*c;
}

/* The plane's rows [y0, y1) and columns [x0, x1) that hold the input (input row y - pt, column x - pl). */
static void pg__cv_inside(const pg_cv *cv, int64_t *y0, int64_t *y1, int64_t *x0, int64_t *x1) {
    *y0 = cv->pt < cv->hq ? cv->pt : cv->hq;
    *y1 = cv->pt + cv->h < cv->hq ? cv->pt + cv->h : cv->hq;
    *x0 = cv->pl < cv->wq ? cv->pl : cv->wq;
    *x1 = cv->pl + cv->w < cv->wq ? cv->pl + cv->w : cv->wq;
}

/* Whether the plane holds all of the input (else a stride leaves its last rows or columns unread). */
static bool pg__cv_covers(const pg_cv *cv) { return cv->pt + cv->h <= cv->hq && cv->pl + cv->w <= cv->wq; }

/* The distance between two rows of a group's col (and tmp) for n columns: whole 64-byte lines, an odd
 * number of them. Rows of 512 floats, 2 KiB apart, fall in a few sets of the L1 cache, and the GEMM's
 * packing, which reads down the rows, missed it on every line (8 x 8 images: pack 2x slower). */
static int64_t pg__cv_ld(int64_t n, size_t es) {
    int64_t lines = (n * (int64_t)es + 63) / 64;
    return (lines | 1) * 64 / (int64_t)es;
}

/* dw's slots: at least PG_CV_SLOTS (when there are as many groups), and more while their partial sums
 * fit PG_CV_SLOT_BYTES: a slot is what a thread takes at a time, and a member the machine has
 * descheduled holds up the others for as long as the rest of its slot (4 groups of 8 x 8 images in
 * 8 slots, against 1 group in 32: 2 threads on 2 shared cores ran dw slower than 1). */
#define PG_CV_SLOTS 8
#define PG_CV_SLOT_BYTES (1 << 20)

/* The number of dw's slots: a function of the geometry alone, as the group size. */
static int64_t pg__cv_slots(const pg_cv *cv, int64_t ngroups, size_t es) {
    int64_t fit = (int64_t)(PG_CV_SLOT_BYTES / (es * (size_t)(cv->o * cv->k) + 64));
    int64_t s = fit > PG_CV_SLOTS ? fit : PG_CV_SLOTS;
    return s < ngroups ? s : ngroups;
}

enum { PG_CV_FWD, PG_CV_DX, PG_CV_DW };

typedef struct pg_cv_batch {
    const pg_cv *cv;
    int kind;              /* PG_CV_FWD, PG_CV_DX, PG_CV_DW */
    void *out;
    const void *a, *b;
    char *work;            /* [team][workbytes]: each member's col (k, nb*l), its tmp (og, nb*l) when nb > 1,
                              and its plane (cg, hq, wq) when cv->plane */
    char *slots;           /* DW: [units][k*o] partial sums of dw transposed (dwt) */
    int64_t nb;            /* images per group */
    int64_t units;         /* FWD, DX: the groups, ceil(n / nb); DW: the slots (pg__cv_slots) */
    int64_t colbytes, tmpbytes, workbytes, slotbytes;
    atomic_llong next;     /* the next unit */
} pg_cv_batch;

/* rows of n elements: d[r*ldd + e] = s[r*lds + e], and d[r*ldd + e] += s[r*lds + e], for r < rows. The
 * widths of small images are cases of their own, so that the compiler turns each row into a few vector
 * moves instead of a call (memcpy of a variable size) or a loop with a remainder. */
#define PG_CV_ROWS_COPY(T, d, ldd, s, lds, rows, n)                                                          \
    for (int64_t r_ = 0; r_ < (rows); r_++) memcpy((d) + r_ * (ldd), (s) + r_ * (lds), sizeof(T) * (size_t)(n))
/* GCC 12 leaves a fully unrolled 8-wide add scalar; the loop kept rolled is vectorised */
#if defined(__GNUC__)
#define PG_CV_ROLLED _Pragma("GCC unroll 1")
#else
#define PG_CV_ROLLED
#endif
#define PG_CV_ROWS_ADD(T, d, ldd, s, lds, rows, n)                                                           \
    for (int64_t r_ = 0; r_ < (rows); r_++) {                                                                 \
        T *d_ = (d) + r_ * (ldd);                                                                             \
        const T *s_ = (s) + r_ * (lds);                                                                       \
        PG_CV_ROLLED for (int64_t e_ = 0; e_ < (n); e_++) d_[e_] += s_[e_];                                   \
    }
/* The loops that only move data (the plane, im2col, col2im) are compiled also for AVX2 and AVX-512
 * (PG_CLONES: the same operations in the same order, so the same results); a clone may not be inlined
 * into its caller, which would drop the clones, and its helpers are inlined into each clone. */
#if defined(__GNUC__)
#define PG_CV_INLINE static inline __attribute__((always_inline))
#define PG_NOINLINE __attribute__((noinline))
#else
#define PG_CV_INLINE static inline
#define PG_NOINLINE
#endif
#if defined(__GNUC__)
#define PG_CV_UNROLL _Pragma("GCC unroll 32")
#else
#define PG_CV_UNROLL
#endif
#define PG_CV_BY_WIDTH(OP, T, d, ldd, s, lds, rows, n)                                                       \
    switch (n) {                                                                                              \
    case 4: OP(T, d, ldd, s, lds, rows, 4); break;                                                            \
    case 8: OP(T, d, ldd, s, lds, rows, 8); break;                                                            \
    case 16: OP(T, d, ldd, s, lds, rows, 16); break;                                                          \
    case 32: OP(T, d, ldd, s, lds, rows, 32); break;                                                          \
    default: OP(T, d, ldd, s, lds, rows, n); break;                                                           \
    }

/* col2im over images 8 wide in vectors of 8 (GCC's vector extensions): stride 1, the output as large as
 * the input (OH = H, OW = W = 8), so each image row is one sum of shifted output rows */
#if defined(__GNUC__) && !defined(__clang__)
typedef float pg_cv_v8_f32 __attribute__((vector_size(32)));
typedef int32_t pg_cv_i8_f32 __attribute__((vector_size(32)));
typedef double pg_cv_v8_f64 __attribute__((vector_size(64)));
typedef int64_t pg_cv_i8_f64 __attribute__((vector_size(64)));
static bool pg__cv_rows8(const pg_cv *cv) {
    return cv->plane && cv->sh == 1 && cv->sw == 1 && cv->w == 8 && cv->ow == 8 && cv->oh == cv->h && cv->kw <= 16;
}
#define PG_CV_ROWS8_FN(T, SUF)                                                                                \
    static inline __attribute__((always_inline)) void pg__col2im_rows8_k_##SUF(                               \
        const pg_cv *cv, const T *col, int64_t ldc, T *x, const pg_cv_i8_##SUF *idx, const int64_t kh,        \
        const int64_t kw) {                                                                                   \
        const pg_cv_v8_##SUF zero = {0};                                                                      \
        for (int64_t c = 0; c < cv->cg; c++, col += kh * kw * ldc)                                            \
            for (int64_t y = 0; y < cv->h; y++) {                                                             \
                pg_cv_v8_##SUF acc = zero, v;                                                                 \
                for (int64_t jj = 0; jj < kw; jj++)                                                           \
                    for (int64_t i = 0; i < kh; i++) {                                                        \
                        const int64_t oy = y + cv->pt - i * cv->dh;                                           \
                        if (oy < 0 || oy >= cv->oh) continue;                                                 \
                        memcpy(&v, col + (i * kw + jj) * ldc + oy * 8, sizeof v);                             \
                        acc += __builtin_shuffle(v, zero, idx[jj]);                                           \
                    }                                                                                         \
                memcpy(x + (c * cv->h + y) * 8, &acc, sizeof acc);                                            \
            }                                                                                                 \
    }                                                                                                         \
    PG_CLONES PG_NOINLINE static void pg__col2im_rows8_##SUF(const pg_cv *cv, const T *col, int64_t ldc,     \
                                                             T *x) {                                          \
        pg_cv_i8_##SUF idx[16]; /* per kernel column: lane e takes lane e + pl - j*dw, or a zero (lane 8) */  \
        for (int64_t jj = 0; jj < cv->kw; jj++)                                                               \
            for (int e = 0; e < 8; e++) {                                                                     \
                const int64_t s = e + cv->pl - jj * cv->dw;                                                   \
                idx[jj][e] = s >= 0 && s < 8 ? s : 8;                                                         \
            }                                                                                                 \
        if (cv->kh == 3 && cv->kw == 3) pg__col2im_rows8_k_##SUF(cv, col, ldc, x, idx, 3, 3); /* unrolled */  \
        else pg__col2im_rows8_k_##SUF(cv, col, ldc, x, idx, cv->kh, cv->kw);                                  \
    }
typedef float pg_cv_v16_f32 __attribute__((vector_size(64)));
typedef int32_t pg_cv_i16_f32 __attribute__((vector_size(64)));
typedef double pg_cv_v16_f64 __attribute__((vector_size(128)));
typedef int64_t pg_cv_i16_f64 __attribute__((vector_size(128)));
/* images of 16 pixels in and out (4 x 4): an image channel, and a row of col, are one vector of 16 */
static bool pg__cv_img16(const pg_cv *cv) { return cv->h * cv->w == 16 && cv->l == 16 && cv->kh * cv->kw <= 32; }
/* the lane permutations of the kh*kw windows: im2col's (fwd: col row lane (oy, ox) takes image lane */
/* (oy*sh - pt + i*dh, ox*sw - pl + j*dw)) or col2im's (image lane (y, x) takes col lane (oy, ox) with */
/* oy*sh = y + pt - i*dh, ox*sw = x + pl - j*dw); lane 16, a zero, where there is none */
static void pg__cv_idx16(const pg_cv *cv, bool fwd, int32_t idx[][16]) {
    for (int64_t i = 0; i < cv->kh; i++)
        for (int64_t jj = 0; jj < cv->kw; jj++)
            for (int64_t e = 0; e < 16; e++) {
                int64_t v = 16;
                if (fwd) {
                    int64_t oy = e / cv->ow, ox = e % cv->ow;
                    int64_t iy = oy * cv->sh - cv->pt + i * cv->dh, ix = ox * cv->sw - cv->pl + jj * cv->dw;
                    if (iy >= 0 && iy < cv->h && ix >= 0 && ix < cv->w) v = iy * cv->w + ix;
                } else {
                    int64_t y = e / cv->w, x = e % cv->w;
                    int64_t ty = y + cv->pt - i * cv->dh, tx = x + cv->pl - jj * cv->dw;
                    if (ty >= 0 && tx >= 0 && ty % cv->sh == 0 && tx % cv->sw == 0 && ty / cv->sh < cv->oh &&
                        tx / cv->sw < cv->ow)
                        v = ty / cv->sh * cv->ow + tx / cv->sw;
                }
                idx[i * cv->kw + jj][e] = (int32_t)v;
            }
}
#define PG_CV_IMG16_FN(T, SUF)                                                                                \
    /* col rows (k, 16) at dst + r*rstep = im2col(img (cg, 16)): one permutation and store per row */        \
    PG_CLONES PG_NOINLINE static void pg__im2col16_##SUF(const pg_cv *cv, T *dst, int64_t rstep, const T *x) { \
        const int64_t kk = cv->kh * cv->kw;                                                                   \
        pg_cv_i16_##SUF idx[32];                                                                              \
        if (sizeof(idx[0][0]) == 4) memcpy(idx, cv->idx16[0], sizeof(idx[0]) * (size_t)kk);                   \
        else                                                                                                  \
            for (int64_t q = 0; q < kk; q++)                                                                  \
                for (int e = 0; e < 16; e++) idx[q][e] = cv->idx16[0][q][e];                                  \
        const pg_cv_v16_##SUF zero = {0};                                                                     \
        for (int64_t c = 0; c < cv->cg; c++, x += 16, dst += kk * rstep) {                                    \
            pg_cv_v16_##SUF v, o;                                                                             \
            memcpy(&v, x, sizeof v);                                                                          \
            for (int64_t q = 0; q < kk; q++) {                                                                \
                o = __builtin_shuffle(v, zero, idx[q]);                                                       \
                memcpy(dst + q * rstep, &o, sizeof o);                                                        \
            }                                                                                                 \
        }                                                                                                     \
    }                                                                                                         \
    /* img (cg, 16) = col2im(col (k, 16), rows ldc apart), whole: per image channel one vector summing its */ \
    /* windows in the plane's order (kernel column j outer, row i inner: the same bits) */                   \
    PG_CLONES PG_NOINLINE static void pg__col2im16_##SUF(const pg_cv *cv, const T *col, int64_t ldc, T *x) {   \
        const int64_t kk = cv->kh * cv->kw;                                                                   \
        pg_cv_i16_##SUF idx[32];                                                                              \
        if (sizeof(idx[0][0]) == 4) memcpy(idx, cv->idx16[1], sizeof(idx[0]) * (size_t)kk);                   \
        else                                                                                                  \
            for (int64_t q = 0; q < kk; q++)                                                                  \
                for (int e = 0; e < 16; e++) idx[q][e] = cv->idx16[1][q][e];                                  \
        const pg_cv_v16_##SUF zero = {0};                                                                     \
        for (int64_t c = 0; c < cv->cg; c++, x += 16, col += kk * ldc) {                                      \
            pg_cv_v16_##SUF acc = zero, v;                                                                    \
            for (int64_t jj = 0; jj < cv->kw; jj++)                                                           \
                for (int64_t i = 0; i < cv->kh; i++) {                                                        \
                    memcpy(&v, col + (i * cv->kw + jj) * ldc, sizeof v);                                      \
                    acc += __builtin_shuffle(v, zero, idx[i * cv->kw + jj]);                                  \
                }                                                                                             \
            memcpy(x, &acc, sizeof acc);                                                                      \
        }                                                                                                     \
    }
/* stride 1, the output as wide as the input, rows of a width dividing 16 (8 x 8 images, pad 1): 16
 * output pixels are 16 consecutive input pixels shifted by the window's offset, the lanes whose
 * column falls outside the image masked to zero; the image channel copied into a zero-bordered flat
 * row first, so that rows above and below read zeros (PG_CV_FLAT elements at most) */
#define PG_CV_FLAT 1024
static int64_t pg__cv_flat_pad(const pg_cv *cv) {
    return (cv->pt + (cv->kh - 1) * cv->dh + 1) * cv->w + cv->pl + (cv->kw - 1) * cv->dw + 16;
}
static bool pg__cv_flat(const pg_cv *cv) {
    return cv->sh == 1 && cv->sw == 1 && cv->ow == cv->w && 16 % cv->w == 0 && cv->l % 16 == 0 && cv->l >= 32 &&
           cv->kw <= 16 && cv->h * cv->w + 2 * pg__cv_flat_pad(cv) <= PG_CV_FLAT;
}
#define PG_CV_FLAT_FN(T, SUF)                                                                                 \
    /* col(r, j) at dst[(j / P)*PS + r*RS + j % P], j < l (P a multiple of 16) = im2col(img (cg, H, W)) */    \
    PG_CLONES PG_NOINLINE static void pg__im2col_flat_##SUF(const pg_cv *cv, T *dst, int64_t P, int64_t PS,  \
                                                            int64_t RS, const T *x) {                         \
        T flat[PG_CV_FLAT];                                                                                   \
        const int64_t pad = pg__cv_flat_pad(cv), hw = cv->h * cv->w, kk = cv->kh * cv->kw;                    \
        memset(flat, 0, sizeof(T) * (size_t)(hw + 2 * pad));                                                  \
        pg_cv_i16_##SUF mask[16]; /* per kernel column: all ones on the lanes whose column is inside */      \
        for (int64_t jj = 0; jj < cv->kw; jj++)                                                               \
            for (int e = 0; e < 16; e++) {                                                                    \
                const int64_t sx = e % cv->w - cv->pl + jj * cv->dw;                                          \
                mask[jj][e] = sx >= 0 && sx < cv->w ? -1 : 0;                                                 \
            }                                                                                                 \
        for (int64_t c = 0; c < cv->cg; c++, x += hw) {                                                       \
            memcpy(flat + pad, x, sizeof(T) * (size_t)hw);                                                    \
            for (int64_t i = 0, q = 0; i < cv->kh; i++)                                                       \
                for (int64_t jj = 0; jj < cv->kw; jj++, q++) {                                                \
                    const T *src = flat + pad + (-cv->pt + i * cv->dh) * cv->w - cv->pl + jj * cv->dw;        \
                    T *d = dst + (c * kk + q) * RS;                                                           \
                    const pg_cv_i16_##SUF m = mask[jj];                                                       \
                    for (int64_t j = 0, t = 0; j < cv->l; j += 16) {                                          \
                        pg_cv_v16_##SUF v;                                                                    \
                        pg_cv_i16_##SUF u;                                                                    \
                        memcpy(&v, src + j, sizeof v);                                                        \
                        memcpy(&u, &v, sizeof u);                                                             \
                        u &= m;                                                                               \
                        memcpy(d + t, &u, sizeof u);                                                          \
                        if ((t += 16) == P) { /* on to the next panel */                                      \
                            t = 0;                                                                            \
                            d += PS;                                                                          \
                        }                                                                                     \
                    }                                                                                         \
                }                                                                                             \
        }                                                                                                     \
    }
#else
static bool pg__cv_flat(const pg_cv *cv) { (void)cv; return false; }
#define PG_CV_FLAT_FN(T, SUF)                                                                                 \
    static void pg__im2col_flat_##SUF(const pg_cv *cv, T *dst, int64_t P, int64_t PS, int64_t RS,             \
                                      const T *x) {                                                           \
        (void)cv; (void)dst; (void)P; (void)PS; (void)RS; (void)x;                                            \
    }
static bool pg__cv_img16(const pg_cv *cv) { (void)cv; return false; }
static void pg__cv_idx16(const pg_cv *cv, bool fwd, int32_t idx[][16]) { (void)cv; (void)fwd; (void)idx; }
#define PG_CV_IMG16_FN(T, SUF)                                                                                \
    static void pg__im2col16_##SUF(const pg_cv *cv, T *dst, int64_t rstep, const T *x) {                      \
        (void)cv; (void)dst; (void)rstep; (void)x;                                                            \
    }                                                                                                         \
    static void pg__col2im16_##SUF(const pg_cv *cv, const T *col, int64_t ldc, T *x) {                        \
        (void)cv; (void)col; (void)ldc; (void)x;                                                              \
    }
static bool pg__cv_rows8(const pg_cv *cv) { (void)cv; return false; }
#define PG_CV_ROWS8_FN(T, SUF)                                                                                \
    static void pg__col2im_rows8_##SUF(const pg_cv *cv, const T *col, int64_t ldc, T *x) {                    \
        (void)cv; (void)col; (void)ldc; (void)x;                                                              \
    }
#endif

#define PG_CONV_KERNELS(T, SUF)                                                                               \
    /* col (k, l), rows ldc apart, from img (cg, H, W): one image of one group */                             \
    static void pg__im2col_##SUF(const pg_cv *cv, T *col, int64_t ldc, const T *x) {                          \
        const bool block = cv->sh == 1 && cv->sw == 1 && cv->ow == cv->w;                                     \
        for (int64_t r = 0, c = 0, i = 0, jj = 0; r < cv->k; r++, pg__cv_next(cv, &c, &i, &jj)) {             \
            T *row = col + r * ldc;                                                                           \
            const T *xc = x + c * cv->h * cv->w;                                                              \
            int64_t start = -cv->pl + jj * cv->dw, lo, hi;                                                    \
            pg__cv_span(cv->ow, cv->sw, cv->w, start, &lo, &hi);                                              \
            if (block) { /* the valid rows oy0..oy1 are one shifted run of the plane */                       \
                int64_t oy0 = cv->pt - i * cv->dh, oy1 = oy0 + cv->h;                                         \
                oy0 = oy0 < 0 ? 0 : oy0 > cv->oh ? cv->oh : oy0;                                              \
                oy1 = oy1 > cv->oh ? cv->oh : oy1 < oy0 ? oy0 : oy1;                                          \
                memset(row, 0, sizeof(T) * (size_t)(oy0 * cv->ow));                                           \
                memset(row + oy1 * cv->ow, 0, sizeof(T) * (size_t)((cv->oh - oy1) * cv->ow));                 \
                if (oy1 > oy0 && hi > lo) {                                                                   \
                    /* dst[oy*OW + ox] = x[(oy - pt + i*dh)*W + start + ox]: OW == W, so one copy from the */ \
                    /* first valid element to the last, then the columns outside [lo, hi) zeroed */           \
                    T *d0 = row + oy0 * cv->ow;                                                               \
                    const T *s0 = xc + (oy0 - cv->pt + i * cv->dh) * cv->w + start;                           \
                    memcpy(d0 + lo, s0 + lo, sizeof(T) * (size_t)((oy1 - oy0 - 1) * cv->ow + hi - lo));       \
                    for (int64_t oy = oy0; oy < oy1; oy++) {                                                  \
                        T *dst = row + oy * cv->ow;                                                           \
                        for (int64_t ox = 0; ox < lo; ox++) dst[ox] = 0;                                      \
                        for (int64_t ox = hi; ox < cv->ow; ox++) dst[ox] = 0;                                 \
                    }                                                                                         \
                } else                                                                                        \
                    memset(row + oy0 * cv->ow, 0, sizeof(T) * (size_t)((oy1 - oy0) * cv->ow));                \
                continue;                                                                                     \
            }                                                                                                 \
            for (int64_t oy = 0; oy < cv->oh; oy++) {                                                         \
                int64_t iy = oy * cv->sh - cv->pt + i * cv->dh;                                               \
                T *dst = row + oy * cv->ow;                                                                   \
                if (iy < 0 || iy >= cv->h) {                                                                  \
                    memset(dst, 0, sizeof(T) * (size_t)cv->ow);                                               \
                    continue;                                                                                 \
                }                                                                                             \
                const T *xr = xc + iy * cv->w + start;                                                        \
                for (int64_t ox = 0; ox < lo; ox++) dst[ox] = 0;                                              \
                if (cv->sw == 1) memcpy(dst + lo, xr + lo, sizeof(T) * (size_t)(hi - lo));                    \
                else                                                                                          \
                    for (int64_t ox = lo; ox < hi; ox++) dst[ox] = xr[ox * cv->sw];                           \
                for (int64_t ox = hi; ox < cv->ow; ox++) dst[ox] = 0;                                         \
            }                                                                                                 \
        }                                                                                                     \
    }                                                                                                         \
    /* img (cg, H, W) += col2im(col (k, l), rows ldc apart); col is scratch, and may be overwritten */        \
    static void pg__col2im_##SUF(const pg_cv *cv, T *col, int64_t ldc, T *x) {                                \
        const bool block = cv->sh == 1 && cv->sw == 1 && cv->ow == cv->w;                                     \
        for (int64_t r = 0, c = 0, i = 0, jj = 0; r < cv->k; r++, pg__cv_next(cv, &c, &i, &jj)) {             \
            T *row = col + r * ldc;                                                                           \
            T *xc = x + c * cv->h * cv->w;                                                                    \
            int64_t start = -cv->pl + jj * cv->dw, lo, hi;                                                    \
            pg__cv_span(cv->ow, cv->sw, cv->w, start, &lo, &hi);                                              \
            if (block) { /* as in im2col: the valid rows are one run once the columns outside are zero */     \
                int64_t oy0 = cv->pt - i * cv->dh, oy1 = oy0 + cv->h;                                         \
                oy0 = oy0 < 0 ? 0 : oy0 > cv->oh ? cv->oh : oy0;                                              \
                oy1 = oy1 > cv->oh ? cv->oh : oy1 < oy0 ? oy0 : oy1;                                          \
                if (oy1 <= oy0 || hi <= lo) continue;                                                         \
                for (int64_t oy = oy0; oy < oy1; oy++) {                                                      \
                    T *src = row + oy * cv->ow;                                                               \
                    for (int64_t ox = 0; ox < lo; ox++) src[ox] = 0;                                          \
                    for (int64_t ox = hi; ox < cv->ow; ox++) src[ox] = 0;                                     \
                }                                                                                             \
                const T *s0 = row + oy0 * cv->ow + lo;                                                        \
                T *d0 = xc + (oy0 - cv->pt + i * cv->dh) * cv->w + start + lo;                                \
                const int64_t len = (oy1 - oy0 - 1) * cv->ow + hi - lo;                                       \
                PG_IVDEP for (int64_t e = 0; e < len; e++) d0[e] += s0[e];                                    \
                continue;                                                                                     \
            }                                                                                                 \
            for (int64_t oy = 0; oy < cv->oh; oy++) {                                                         \
                int64_t iy = oy * cv->sh - cv->pt + i * cv->dh;                                               \
                if (iy < 0 || iy >= cv->h) continue;                                                          \
                const T *src = row + oy * cv->ow;                                                             \
                T *xr = xc + iy * cv->w + start;                                                              \
                if (cv->sw == 1) {                                                                            \
                    PG_IVDEP for (int64_t ox = lo; ox < hi; ox++) xr[ox] += src[ox];                          \
                } else                                                                                        \
                    for (int64_t ox = lo; ox < hi; ox++) xr[ox * cv->sw] += src[ox];                          \
            }                                                                                                 \
        }                                                                                                     \
    }                                                                                                         \
    /* the two row loops on pointers that do not alias, for the compiler to vectorise */                      \
    PG_CV_INLINE void pg__cv_copy_##SUF(T *restrict d, int64_t ldd, const T *restrict s, int64_t lds,         \
                                        int64_t rows, int64_t n) {                                            \
        PG_CV_BY_WIDTH(PG_CV_ROWS_COPY, T, d, ldd, s, lds, rows, n)                                           \
    }                                                                                                         \
    PG_CV_INLINE void pg__cv_add_##SUF(T *restrict d, int64_t ldd, const T *restrict s, int64_t lds,          \
                                       int64_t rows, int64_t n) {                                             \
        PG_CV_BY_WIDTH(PG_CV_ROWS_ADD, T, d, ldd, s, lds, rows, n)                                            \
    }                                                                                                         \
    /* plane (cg, hq, wq) = img (cg, H, W) padded: the interior only; the border stays as it was (zero) */    \
    PG_CLONES PG_NOINLINE static void pg__cv_fill_##SUF(const pg_cv *cv, T *plane, const T *x) {              \
        int64_t y0, y1, x0, x1;                                                                               \
        pg__cv_inside(cv, &y0, &y1, &x0, &x1);                                                                \
        if (y1 <= y0 || x1 <= x0) return;                                                                     \
        for (int64_t c = 0; c < cv->cg; c++) {                                                                \
            T *d = plane + (c * cv->hq + y0) * cv->wq + x0;                                                   \
            const T *sx = x + (c * cv->h + y0 - cv->pt) * cv->w + x0 - cv->pl;                                \
            pg__cv_copy_##SUF(d, cv->wq, sx, cv->w, y1 - y0, x1 - x0);                                        \
        }                                                                                                     \
    }                                                                                                         \
    /* col (k, l), rows ldc apart, from the padded plane (cg, hq, wq): every window inside, no edges */       \
    PG_CLONES PG_NOINLINE static void pg__im2col_plane_##SUF(const pg_cv *cv, T *col, int64_t ldc,            \
                                                             const T *plane) {                                \
        for (int64_t r = 0, c = 0, i = 0, jj = 0; r < cv->k; r++, pg__cv_next(cv, &c, &i, &jj)) {             \
            T *row = col + r * ldc;                                                                           \
            const T *src = plane + (c * cv->hq + i * cv->dh) * cv->wq + jj * cv->dw;                          \
            if (cv->sw == 1) {                                                                                \
                pg__cv_copy_##SUF(row, cv->ow, src, cv->sh * cv->wq, cv->oh, cv->ow);                         \
                continue;                                                                                     \
            }                                                                                                 \
            for (int64_t oy = 0; oy < cv->oh; oy++)                                                           \
                for (int64_t ox = 0; ox < cv->ow; ox++)                                                       \
                    row[oy * cv->ow + ox] = src[oy * cv->sh * cv->wq + ox * cv->sw];                          \
        }                                                                                                     \
    }                                                                                                         \
    /* img (cg, H, W) = the interior of col2im(col (k, l), rows ldc apart), through the zeroed plane. Per */  \
    /* channel, kernel column j outermost: consecutive adds go to other plane rows, or to the same */         \
    /* elements, never to a shifted overlap of the last store (which would wait on it); each plane element */ \
    /* sums its windows in the order (j, i), the same whatever the batch or the team */                       \
    PG_CLONES PG_NOINLINE static void pg__col2im_plane_##SUF(const pg_cv *cv, const T *col, int64_t ldc,      \
                                                             T *plane, T *x) {                                \
        memset(plane, 0, sizeof(T) * (size_t)(cv->cg * cv->hq * cv->wq));                                     \
        for (int64_t c = 0; c < cv->cg; c++)                                                                  \
            for (int64_t jj = 0; jj < cv->kw; jj++)                                                           \
                for (int64_t i = 0; i < cv->kh; i++) {                                                        \
                    const T *row = col + ((c * cv->kh + i) * cv->kw + jj) * ldc;                              \
                    T *dst = plane + (c * cv->hq + i * cv->dh) * cv->wq + jj * cv->dw;                        \
                    if (cv->sw == 1) {                                                                        \
                        pg__cv_add_##SUF(dst, cv->sh * cv->wq, row, cv->ow, cv->oh, cv->ow);                  \
                        continue;                                                                             \
                    }                                                                                         \
                    for (int64_t oy = 0; oy < cv->oh; oy++)                                                   \
                        for (int64_t ox = 0; ox < cv->ow; ox++)                                               \
                            dst[oy * cv->sh * cv->wq + ox * cv->sw] += row[oy * cv->ow + ox];                 \
                }                                                                                             \
        int64_t y0, y1, x0, x1;                                                                               \
        pg__cv_inside(cv, &y0, &y1, &x0, &x1);                                                                \
        if (y1 <= y0 || x1 <= x0) return;                                                                     \
        for (int64_t c = 0; c < cv->cg; c++) {                                                                \
            T *d = x + (c * cv->h + y0 - cv->pt) * cv->w + x0 - cv->pl;                                       \
            const T *sp = plane + (c * cv->hq + y0) * cv->wq + x0;                                            \
            pg__cv_copy_##SUF(d, cv->w, sp, cv->wq, y1 - y0, x1 - x0);                                        \
        }                                                                                                     \
    }                                                                                                         \
    /* img (cg, H, W) = col2im(col (k, l), rows ldc apart), whole, for images 8 wide (pg__cv_rows8): */     \
    /* each image row summed in one vector, kernel column j outer, row i inner, as the plane sums each */     \
    /* element (the same bits); window (i, j)'s output row shifted into place by a lane permutation */       \
    /* that brings in zeros where the window hangs over the padding, so no plane and no stores to reload */   \
    PG_CV_ROWS8_FN(T, SUF)                                                                                    \
    PG_CV_IMG16_FN(T, SUF)                                                                                    \
    PG_CV_FLAT_FN(T, SUF)                                                                                     \
    /* col (k, l), rows ldc apart, from image (cg, H, W), through the plane when cv->plane */                 \
    static void pg__cv_unfold_##SUF(const pg_cv *cv, T *col, int64_t ldc, const T *x, T *plane) {             \
        if (pg__cv_img16(cv)) {                                                                               \
            pg__im2col16_##SUF(cv, col, ldc, x);                                                              \
            return;                                                                                           \
        }                                                                                                     \
        if (pg__cv_flat(cv)) {                                                                                \
            pg__im2col_flat_##SUF(cv, col, cv->l, 0, ldc, x);                                                 \
            return;                                                                                           \
        }                                                                                                     \
        if (!cv->plane) {                                                                                     \
            pg__im2col_##SUF(cv, col, ldc, x);                                                                \
            return;                                                                                           \
        }                                                                                                     \
        pg__cv_fill_##SUF(cv, plane, x);                                                                      \
        pg__im2col_plane_##SUF(cv, col, ldc, plane);                                                          \
    }                                                                                                         \
    /* image (cg, H, W): (+)= col2im(col); the direct col2im adds into a zeroed image, the plane's writes */  \
    /* the image's covered part whole (pg__cv_covers: all of it) */                                           \
    static void pg__cv_fold_##SUF(const pg_cv *cv, T *col, int64_t ldc, T *x, T *plane) {                     \
        if (pg__cv_img16(cv)) pg__col2im16_##SUF(cv, col, ldc, x);                                            \
        else if (!cv->plane) pg__col2im_##SUF(cv, col, ldc, x);                                               \
        else if (pg__cv_rows8(cv)) pg__col2im_rows8_##SUF(cv, col, ldc, x);                                   \
        else pg__col2im_plane_##SUF(cv, col, ldc, plane, x);                                                  \
    }                                                                                                         \
    /* The GEMM's packed B written directly (pg__gemm_packed_*): bp (K, nc) in panels of nr columns, */      \
    /* B(p, j) at bp[((j / nr)*K + p)*nr + j % nr]. Image b's col (k, l) from its plane, as the columns */    \
    /* b*l .. b*l + l - 1: each output row a run of ow columns inside one panel (nr % ow == 0, sw == 1) */    \
    PG_CV_INLINE void pg__im2col_panels_w_##SUF(const pg_cv *cv, T *bp, int64_t nr, int64_t j0,               \
                                                const T *plane, const int64_t ow) {                           \
        const int64_t K = cv->k, oh = cv->oh, rs = cv->sh * cv->wq, q0 = j0 / nr, t0 = j0 - q0 * nr;          \
        for (int64_t r = 0, c = 0, i = 0, jj = 0; r < K; r++, pg__cv_next(cv, &c, &i, &jj)) {                \
            const T *src = plane + (c * cv->hq + i * cv->dh) * cv->wq + jj * cv->dw;                          \
            T *dst = bp + (q0 * K + r) * nr + t0;                                                             \
            for (int64_t oy = 0, t = t0; oy < oh; oy++, src += rs) {                                          \
                memcpy(dst, src, sizeof(T) * (size_t)ow);                                                     \
                dst += ow;                                                                                    \
                if ((t += ow) == nr) { /* on to the same row of the next panel */                             \
                    t = 0;                                                                                    \
                    dst += (K - 1) * nr;                                                                      \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
    }                                                                                                         \
    PG_CLONES PG_NOINLINE static void pg__im2col_panels_##SUF(const pg_cv *cv, T *bp, int64_t nr, int64_t j0, \
                                                              const T *plane) {                               \
        switch (cv->ow) { /* fixed widths: each run a few vector moves */                                     \
        case 4: pg__im2col_panels_w_##SUF(cv, bp, nr, j0, plane, 4); break;                                   \
        case 8: pg__im2col_panels_w_##SUF(cv, bp, nr, j0, plane, 8); break;                                   \
        case 16: pg__im2col_panels_w_##SUF(cv, bp, nr, j0, plane, 16); break;                                 \
        default: pg__im2col_panels_w_##SUF(cv, bp, nr, j0, plane, cv->ow); break;                            \
        }                                                                                                     \
    }                                                                                                         \
    /* columns j .. j+n-1 of row p of a packed B (K rows, panels of nr) = s[0 .. n): a head up to a */      \
    /* panel's edge, whole panels (fixed-size copies for the kernels' widths), a tail */                      \
    static void pg__cv_put_##SUF(T *bp, int64_t K, int64_t nr, int64_t p, int64_t j, const T *s, int64_t n) { \
        const int64_t q = j / nr, t = j - q * nr, step = K * nr;                                              \
        T *d = bp + (q * K + p) * nr + t;                                                                     \
        if (t > 0) {                                                                                          \
            const int64_t m = nr - t < n ? nr - t : n;                                                        \
            memcpy(d, s, sizeof(T) * (size_t)m);                                                              \
            s += m;                                                                                           \
            n -= m;                                                                                           \
            d += step - t;                                                                                    \
        }                                                                                                     \
        const int64_t full = n / nr, rest = n - full * nr;                                                    \
        switch (nr) {                                                                                         \
        case 8: PG_CV_ROWS_COPY(T, d, step, s, 8, full, 8); break;                                            \
        case 16: PG_CV_ROWS_COPY(T, d, step, s, 16, full, 16); break;                                         \
        case 32: PG_CV_ROWS_COPY(T, d, step, s, 32, full, 32); break;                                         \
        default: PG_CV_ROWS_COPY(T, d, step, s, nr, full, nr); break;                                         \
        }                                                                                                     \
        if (rest > 0) memcpy(d + full * step, s + full * nr, sizeof(T) * (size_t)rest);                       \
    }                                                                                                         \
    /* the columns nc .. of a packed B's last panel: zero (they are computed, and dropped) */                 \
    static void pg__cv_tail_##SUF(T *bp, int64_t K, int64_t nr, int64_t nc) {                                 \
        const int64_t q = nc / nr, t = nc - q * nr;                                                           \
        if (t > 0)                                                                                            \
            for (int64_t p = 0; p < K; p++)                                                                   \
                memset(bp + (q * K + p) * nr + t, 0, sizeof(T) * (size_t)(nr - t));                          \
    }                                                                                                         \
    /* rows p0 .. p0+n-1 of a packed B (K rows, panels of nr; the columns past m zero) = s^T, s (m, n) */   \
    /* rows n apart: B(p0 + q, j) = s[j*n + q], each row of B written whole, its panels in turn */            \
    PG_CV_INLINE void pg__cv_put_t_w_##SUF(T *restrict d, const T *restrict sj, int64_t n, int64_t nr) {    \
        for (int64_t q = 0; q < n; q++, d += nr)                                                              \
            PG_CV_UNROLL for (int64_t j = 0; j < nr; j++) d[j] = sj[j * n + q];                               \
    }                                                                                                         \
    PG_CLONES PG_NOINLINE static void pg__cv_put_t_##SUF(T *bp, int64_t K, int64_t nr, int64_t p0,           \
                                                         const T *s, int64_t n, int64_t m) {                  \
        for (int64_t j0 = 0; j0 < m; j0 += nr) {                                                              \
            const int64_t w = m - j0 < nr ? m - j0 : nr;                                                      \
            T *d = bp + (j0 / nr * K + p0) * nr;                                                              \
            const T *sj = s + j0 * n;                                                                         \
            if (w == nr) { /* whole panels: the fixed widths unrolled */                                      \
                switch (nr) {                                                                                 \
                case 8: pg__cv_put_t_w_##SUF(d, sj, n, 8); break;                                             \
                case 16: pg__cv_put_t_w_##SUF(d, sj, n, 16); break;                                           \
                case 32: pg__cv_put_t_w_##SUF(d, sj, n, 32); break;                                           \
                default: pg__cv_put_t_w_##SUF(d, sj, n, nr); break;                                           \
                }                                                                                             \
                continue;                                                                                     \
            }                                                                                                 \
            for (int64_t q = 0; q < n; q++, d += nr) {                                                        \
                for (int64_t j = 0; j < w; j++) d[j] = sj[j * n + q];                                         \
                for (int64_t j = w; j < nr; j++) d[j] = 0;                                                    \
            }                                                                                                 \
        }                                                                                                     \
    }                                                                                                         \
    /* gy's rows of group g for images n0 .. n0+nb-1, side by side: dst (og, nb*l), rows ld apart */         \
    static void pg__cv_gather_##SUF(const pg_cv *cv, T *dst, int64_t ld, const T *gy, int64_t n0, int64_t nb, \
                                    int64_t g) {                                                              \
        const int64_t l = cv->l;                                                                              \
        for (int64_t b = 0; b < nb; b++)                                                                      \
            pg__cv_copy_##SUF(dst + b * l, ld, gy + ((n0 + b) * cv->o + g * cv->og) * l, l, cv->og, l);       \
    }                                                                                                         \
    /* images n0 .. n0+nb-1 of y (N, O, OH, OW) = conv(x (N, C, H, W), w (O, cg, KH, KW)) */                  \
    static void pg__conv_fwd_##SUF(const pg_cv *cv, int64_t n0, int64_t nb, T *y, const T *x, const T *w,     \
                                   T *col, T *tmp, T *plane) {                                                \
        const int64_t l = cv->l, nc = nb * l, ld = pg__cv_ld(nc, sizeof(T));                                  \
        /* col straight into the GEMM's panels when the plane's runs fit them */                              \
        const bool img16 = pg__cv_img16(cv);                                                                  \
        const int64_t pnr = pg__gemm_panel_##SUF(nc);                                                         \
        const bool flat = !img16 && pg__cv_flat(cv) && pnr >= 16 && pnr % 16 == 0 && cv->l % pnr == 0;       \
        const int64_t nr = (cv->plane && cv->sw == 1) || img16 || flat ? pnr : 0;                            \
        const bool packed = nr > 0 && (img16 ? nr % 16 == 0 : flat || (cv->plane && cv->sw == 1 && nr % cv->ow == 0)); \
        for (int64_t g = 0; g < cv->g; g++) {                                                                 \
            /* col (k, nb*l): the images' unfolded columns side by side */                                    \
            for (int64_t b = 0; b < nb; b++) {                                                                \
                const T *xb = x + ((n0 + b) * cv->c + g * cv->cg) * cv->h * cv->w;                            \
                if (!packed) {                                                                                \
                    pg__cv_unfold_##SUF(cv, col + b * l, ld, xb, plane);                                      \
                    continue;                                                                                 \
                }                                                                                             \
                if (img16) { /* image b's 16 columns inside one panel */                                     \
                    pg__im2col16_##SUF(cv, col + (b * l / nr * cv->k) * nr + b * l % nr, nr, xb);            \
                    continue;                                                                                 \
                }                                                                                             \
                if (flat) { /* image b's columns whole panels */                                              \
                    pg__im2col_flat_##SUF(cv, col + b * l / nr * cv->k * nr, nr, cv->k * nr, nr, xb);         \
                    continue;                                                                                 \
                }                                                                                             \
                pg__cv_fill_##SUF(cv, plane, xb);                                                             \
                pg__im2col_panels_##SUF(cv, col, nr, b * l, plane);                                           \
            }                                                                                                 \
            /* Y_g (og, nb*l) = W_g (og, k) col (k, nb*l): straight into y for one image, or when each */    \
            /* image's columns are whole panels (image b's block of l columns at y's image n0 + b), else */   \
            /* through tmp */                                                                                 \
            T *yg = y + (n0 * cv->o + g * cv->og) * l;                                                        \
            const T *wg = w + g * cv->og * cv->k;                                                             \
            if (packed && (nb == 1 || l % nr == 0)) {                                                         \
                pg__cv_tail_##SUF(col, cv->k, nr, nc);                                                        \
                pg__gemm_packed_##SUF(false, cv->og, nc, cv->k, wg, cv->k, col, nr, yg, l, l, cv->o * l, false); \
                continue;                                                                                     \
            }                                                                                                 \
            const int64_t ldy = nb == 1 ? l : ld;                                                             \
            if (nb > 1) yg = tmp;                                                                             \
            if (packed) {                                                                                     \
                pg__cv_tail_##SUF(col, cv->k, nr, nc);                                                        \
                pg__gemm_packed_##SUF(false, cv->og, nc, cv->k, wg, cv->k, col, nr, yg, ldy, 0, 0, false);    \
            } else                                                                                            \
                pg__gemm_##SUF(false, false, cv->og, nc, cv->k, wg, cv->k, col, ld, yg, ldy, false);          \
            if (nb == 1) continue;                                                                            \
            for (int64_t b = 0; b < nb; b++)                                                                  \
                pg__cv_copy_##SUF(y + ((n0 + b) * cv->o + g * cv->og) * l, l, tmp + b * l, ld, cv->og, l);    \
        }                                                                                                     \
    }                                                                                                         \
    /* images n0 .. n0+nb-1 of dx (N, C, H, W) = conv^T(gy (N, O, OH, OW), w): col2im(W_g^T G_g), whole */  \
    static void pg__conv_dx_##SUF(const pg_cv *cv, int64_t n0, int64_t nb, T *dx, const T *gy, const T *w,    \
                                  T *col, T *tmp, T *plane) {                                                 \
        const int64_t l = cv->l, nc = nb * l, ld = pg__cv_ld(nc, sizeof(T)), chw = cv->c * cv->h * cv->w;    \
        if (!cv->plane || !pg__cv_covers(cv)) memset(dx + n0 * chw, 0, sizeof(T) * (size_t)(nb * chw));       \
        const int64_t nr = pg__gemm_panel_##SUF(nc);                                                          \
        for (int64_t g = 0; g < cv->g; g++) {                                                                 \
            /* y = W col  =>  dcol (k, nb*l) = W_g^T (k, og) G_g (og, nb*l) */                                \
            const T *wg = w + g * cv->og * cv->k;                                                             \
            if (nr > 0) { /* G_g's rows straight into the GEMM's panels */                                    \
                for (int64_t b = 0; b < nb; b++)                                                              \
                    for (int64_t o = 0; o < cv->og; o++)                                                      \
                        pg__cv_put_##SUF(tmp, cv->og, nr, o, b * l,                                           \
                                         gy + ((n0 + b) * cv->o + g * cv->og + o) * l, l);                    \
                pg__cv_tail_##SUF(tmp, cv->og, nr, nc);                                                       \
                pg__gemm_packed_##SUF(true, cv->k, nc, cv->og, wg, cv->k, tmp, nr, col, ld, 0, 0, false);           \
            } else {                                                                                          \
                const T *gg = gy + (n0 * cv->o + g * cv->og) * l;                                             \
                if (nb > 1) {                                                                                 \
                    pg__cv_gather_##SUF(cv, tmp, ld, gy, n0, nb, g);                                          \
                    gg = tmp;                                                                                 \
                }                                                                                             \
                pg__gemm_##SUF(true, false, cv->k, nc, cv->og, wg, cv->k, gg, nb == 1 ? l : ld, col, ld,      \
                               false);                                                                        \
            }                                                                                                 \
            for (int64_t b = 0; b < nb; b++)                                                                  \
                pg__cv_fold_##SUF(cv, col + b * l, ld, dx + (n0 + b) * chw + g * cv->cg * cv->h * cv->w,      \
                                  plane);                                                                     \
        }                                                                                                     \
    }                                                                                                         \
    /* dwt (k, O), dw transposed: dw[o, r] = dwt[r, o], (+)= (G_g col^T)^T over images n0 .. n0+nb-1 */       \
    static void pg__conv_dw_##SUF(const pg_cv *cv, int64_t n0, int64_t nb, T *dwt, const T *x, const T *gy,   \
                                  T *col, T *tmp, T *plane, bool acc) {                                       \
        const int64_t l = cv->l, nc = nb * l, ld = pg__cv_ld(nc, sizeof(T)), nr = pg__gemm_panel_##SUF(cv->og); \
        for (int64_t g = 0; g < cv->g; g++) {                                                                 \
            for (int64_t b = 0; b < nb; b++)                                                                  \
                pg__cv_unfold_##SUF(cv, col + b * l, ld, x + ((n0 + b) * cv->c + g * cv->cg) * cv->h * cv->w, \
                                    plane);                                                                   \
            /* y = W col  =>  dW_g (og, k) (+)= G_g (og, nb*l) col^T (nb*l, k), computed transposed, */       \
            /* dW_g^T (k, og) (+)= col (k, nb*l) G_g^T (nb*l, og): col packs as the GEMM's A (8 rows side */  \
            /* by side) faster than as a transposed B (32), and k >= og fills the tiles better */             \
            if (nr > 0) { /* G_g^T straight into the GEMM's panels: one pass over gy, no gather */            \
                for (int64_t b = 0; b < nb; b++)                                                              \
                    pg__cv_put_t_##SUF(tmp, nc, nr, b * l, gy + ((n0 + b) * cv->o + g * cv->og) * l, l, cv->og); \
                pg__gemm_packed_##SUF(false, cv->k, cv->og, nc, col, ld, tmp, nr, dwt + g * cv->og, cv->o, 0, 0, \
                                      acc);                                                                   \
                continue;                                                                                     \
            }                                                                                                 \
            const T *gg = gy + (n0 * cv->o + g * cv->og) * l;                                                 \
            if (nb > 1) {                                                                                     \
                pg__cv_gather_##SUF(cv, tmp, ld, gy, n0, nb, g);                                              \
                gg = tmp;                                                                                     \
            }                                                                                                 \
            pg__gemm_##SUF(false, true, cv->k, cv->og, nc, col, ld, gg, nb == 1 ? l : ld, dwt + g * cv->og,   \
                           cv->o, acc);                                                                       \
        }                                                                                                     \
    }                                                                                                         \
    static void pg__conv_job_##SUF(void *ctx, const pg_team *team) {                                          \
        pg_cv_batch *jb = ctx;                                                                                \
        const pg_cv *cv = jb->cv;                                                                             \
        char *ws = jb->work + team->tid * jb->workbytes;                                                      \
        T *col = (T *)ws, *tmp = (T *)(ws + jb->colbytes), *plane = (T *)(ws + jb->colbytes + jb->tmpbytes);  \
        /* the plane's border is zero for im2col from here on (col2im zeroes the plane itself) */             \
        if (cv->plane && jb->kind != PG_CV_DX)                                                                \
            memset(plane, 0, sizeof(T) * (size_t)(cv->cg * cv->hq * cv->wq));                                 \
        const int64_t nb = jb->nb, ngroups = (cv->n + nb - 1) / nb;                                           \
        for (;;) {                                                                                            \
            int64_t i = atomic_fetch_add_explicit(&jb->next, 1, memory_order_relaxed);                        \
            if (i >= jb->units) return;                                                                       \
            if (jb->kind != PG_CV_DW) {                                                                       \
                int64_t n0 = i * nb, cnt = cv->n - n0 < nb ? cv->n - n0 : nb;                                 \
                if (jb->kind == PG_CV_FWD)                                                                    \
                    pg__conv_fwd_##SUF(cv, n0, cnt, jb->out, jb->a, jb->b, col, tmp, plane);                  \
                else pg__conv_dx_##SUF(cv, n0, cnt, jb->out, jb->a, jb->b, col, tmp, plane);                  \
                continue;                                                                                     \
            }                                                                                                 \
            /* slot i: groups i, i + units, ... in order */                                                   \
            T *dwt = (T *)(jb->slots + i * jb->slotbytes);                                                    \
            for (int64_t q = i; q < ngroups; q += jb->units) {                                                \
                int64_t n0 = q * nb, cnt = cv->n - n0 < nb ? cv->n - n0 : nb;                                 \
                pg__conv_dw_##SUF(cv, n0, cnt, dwt, jb->a, jb->b, col, tmp, plane, q > i);                    \
            }                                                                                                 \
        }                                                                                                     \
    }                                                                                                         \
    /* dw (O, cg, KH, KW) = the slots' sum, in slot order, transposed back (slot s: dwt (k, O)) */            \
    static void pg__conv_dw_sum_##SUF(const pg_cv *cv, T *dw, const char *slots, int64_t slotbytes,           \
                                      int64_t nslots) {                                                       \
        for (int64_t r = 0; r < cv->k; r++)                                                                   \
            for (int64_t o = 0; o < cv->o; o++) {                                                             \
                T v = ((const T *)slots)[r * cv->o + o];                                                      \
                for (int64_t s = 1; s < nslots; s++)                                                          \
                    v += ((const T *)(slots + s * slotbytes))[r * cv->o + o];                                 \
                dw[o * cv->k + r] = v;                                                                        \
            }                                                                                                 \
    }

PG_CONV_KERNELS(float, f32)
PG_CONV_KERNELS(double, f64)

/* Multiply-adds per team member below which a convolution stays on one thread. */
#define PG_CV_GRAIN 65536.0
/* Images of few output pixels are unfolded side by side into one col of about this many columns (and
 * one GEMM per group of images), so that each GEMM is wide enough for the packed kernel; see
 * pg__cv_group. */
#define PG_CV_COLS 512
/* ... but a batch gives at least this many groups when it has the images, for the team to share */
#define PG_CV_MIN_GROUPS 8

/* Images per group: a function of the geometry alone (never of the team size), so results do not
 * depend on the thread count. */
static int64_t pg__cv_group(const pg_cv *cv) {
    int64_t nb = cv->l >= PG_CV_COLS ? 1 : PG_CV_COLS / cv->l;
    int64_t spread = (cv->n + PG_CV_MIN_GROUPS - 1) / PG_CV_MIN_GROUPS; /* the group size giving MIN_GROUPS */
    if (nb > spread) nb = spread;
    return nb < 1 ? 1 : nb;
}

/* ---- implicit GEMM: float32 on AVX-512, stride 1, dilation 1, one group, small images ----
 * The three products computed straight from copies of the images, with no col matrix and no GEMM
 * packing. A source image S (CS, HS, WS) (x for y and dw, gy for dx) is copied once per kernel column
 * j into blocks of width OW (the result's width), zero where the window leaves the image:
 *
 *   copy[c, j][r*OW + x] = S[c, r - pt, x + j - pl]   (r < OH + KH - 1; 0 outside S)
 *
 * so that the KH*KW window taps of 16 consecutive result pixels p (flattened oy*OW + ox, rows
 * included) are 16 consecutive floats: S[c, oy + i - pt, ox + j - pl] = copy[c, j][i*OW + p]. Then
 *
 *   y  = conv(x, w):     y[o, p]  = Σ_(c,i,j) w[o, c, i, j] copy_x[c, j][i*OW + p]
 *   dx = conv^T(gy, w):  dx[c, p] = Σ_(o,i',j') w[o, c, KH-1-i', KW-1-j'] copy_gy[o, j'][i'*W + p]
 *                        (the "full" convolution: gy padded by KH-1-pt, KW-1-pl, the kernel flipped)
 *   dw = (x, gy):        dw[o, c, i, j] = Σ_n Σ_p gy[n, o, p] copy_x[c, j][i*OW + p]
 *
 * y and dx: register tiles of MR result channels (the weights broadcast) by NV vectors of 16 pixels,
 * each vector anywhere in the unit's images, accumulated over the (c, i, j) in order and stored once
 * (masked past the image's last pixel). dw: tiles of 4 channels o by 6 taps (c, i, j), gy read as it
 * lies (no transpose), blocks of 64 vectors of 16 pixels of one image at a time (every tile of a block
 * before the next block), summed lane by lane over the images and pixels in order, into a lane buffer (O, K, 16) per
 * slot; the slots (a fixed number, dealt the image chunks in turn as in the GEMM path) are added in
 * order and each element's 16 lanes summed last. The geometry alone fixes every sum's order: the
 * result does not depend on the number of threads. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define PG_CVI 1
#define PG_CVI_TARGET __attribute__((target("avx512f")))
#define PG_CVI_INLINE static inline __attribute__((always_inline, target("avx512f")))
#define PG_CVI_MAXW 64 /* result widths up to this (4 vectors a row) */
#define PG_CVI_MAXK 16 /* kernel heights and widths up to this */
#define PG_CVI_SLOTS 4 /* dw's slots (fewer when there are fewer chunks) */

typedef struct pg_cvi {
    int64_t cs, hs, ws;     /* the source image (CS, HS, WS) */
    int64_t co, oh, ow, l;  /* the result's channels and image (OH, OW), l = OH*OW */
    int64_t kh, kw, pt, pl; /* the kernel; the source's padding at the top and left (negative: cropped) */
    int64_t bs;             /* floats of one copy block (c, j): (OH + KH - 1)*OW, the reads past it, 16 spare */
    int64_t nvec, k;        /* vectors of 16 pixels per image, ceil(l / 16); taps CS*KH*KW */
    int64_t csz;            /* floats of one image's copies (CS, KW, bs) */
} pg_cvi;

static void pg__cvi_geom(pg_cvi *q, int64_t cs, int64_t hs, int64_t ws, int64_t co, int64_t oh, int64_t ow,
                         int64_t kh, int64_t kw, int64_t pt, int64_t pl) {
    *q = (pg_cvi){.cs = cs, .hs = hs, .ws = ws, .co = co, .oh = oh, .ow = ow, .l = oh * ow, .kh = kh, .kw = kw,
                  .pt = pt, .pl = pl};
    q->nvec = (q->l + 15) / 16;
    q->k = cs * kh * kw;
    int64_t reach = (kh - 1) * ow + q->nvec * 16, rows = (oh + kh - 1) * ow;
    q->bs = ((reach > rows ? reach : rows) + 15) / 16 * 16 + 16;
    q->csz = cs * kw * q->bs;
}

/* the copies of one image: dst (CS, KW, bs) from src (CS, HS, WS); blocks in order, as each row's and
 * block's last vector store runs into what comes after it (written next), the last into 16 spare */
PG_CVI_TARGET static void pg__cvi_copy(const pg_cvi *q, float *dst, const float *src) {
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512 zero = _mm512_setzero_ps();
    const int64_t nx = (q->ow + 15) / 16, rows = q->oh + q->kh - 1;
    __mmask16 m[PG_CVI_MAXK][PG_CVI_MAXW / 16]; /* per kernel column and vector: the lanes inside S */
    for (int64_t j = 0; j < q->kw; j++)
        for (int64_t t = 0; t < nx; t++) {
            __m512i sx = _mm512_add_epi32(iota, _mm512_set1_epi32((int)(t * 16 + j - q->pl)));
            __m512i dx = _mm512_add_epi32(iota, _mm512_set1_epi32((int)(t * 16)));
            m[j][t] = _mm512_cmpge_epi32_mask(sx, _mm512_setzero_si512()) &
                      _mm512_cmplt_epi32_mask(sx, _mm512_set1_epi32((int)q->ws)) &
                      _mm512_cmplt_epi32_mask(dx, _mm512_set1_epi32((int)q->ow));
        }
    if (q->ws == q->ow && q->ow <= 16 && 16 % q->ow == 0) {
        /* rows as wide as the source's, 16 a whole number of them: copy[c, j] is the channel's rows one
         * after the other, shifted by (j - pl) - pt*WS, the lanes whose column or row falls outside
         * masked (one mask per kernel column: every vector starts a row) */
        __mmask16 mc[PG_CVI_MAXK];
        for (int64_t j = 0; j < q->kw; j++) {
            mc[j] = 0;
            for (int e = 0; e < 16; e++) {
                const int64_t sx = e % q->ow + j - q->pl;
                if (sx >= 0 && sx < q->ws) mc[j] |= (__mmask16)(1u << e);
            }
        }
        const int64_t lo = q->pt * q->ow, hi = (q->pt + q->hs) * q->ow; /* the copy's elements in S's rows */
        const __m512i vlo = _mm512_set1_epi32((int)lo), vhi = _mm512_set1_epi32((int)hi);
        for (int64_t c = 0; c < q->cs; c++)
            for (int64_t j = 0; j < q->kw; j++, dst += q->bs) {
                const uintptr_t s = (uintptr_t)(src + c * q->hs * q->ws) + (uintptr_t)((j - q->pl - lo) * (int64_t)sizeof(float));
                for (int64_t e = 0; e < q->bs; e += 16) {
                    __mmask16 mk = mc[j];
                    if (e < lo || e + 16 > hi) {
                        const __m512i ev = _mm512_add_epi32(iota, _mm512_set1_epi32((int)e));
                        mk &= _mm512_cmpge_epi32_mask(ev, vlo) & _mm512_cmplt_epi32_mask(ev, vhi);
                    }
                    _mm512_store_ps(dst + e, _mm512_maskz_loadu_ps(mk, (const void *)(s + (uintptr_t)e * 4)));
                }
            }
        return;
    }
    for (int64_t c = 0; c < q->cs; c++)
        for (int64_t j = 0; j < q->kw; j++, dst += q->bs) {
            const float *s = src + c * q->hs * q->ws;
            for (int64_t r = 0; r < rows; r++) {
                const int64_t sy = r - q->pt;
                float *d = dst + r * q->ow;
                if (sy < 0 || sy >= q->hs) {
                    for (int64_t t = 0; t < nx; t++) _mm512_storeu_ps(d + t * 16, zero);
                    continue;
                }
                /* lanes outside the row are masked (never read), so the address may precede it */
                const uintptr_t row = (uintptr_t)(s + sy * q->ws) + (uintptr_t)((j - q->pl) * (int64_t)sizeof(float));
                for (int64_t t = 0; t < nx; t++)
                    _mm512_storeu_ps(d + t * 16, _mm512_maskz_loadu_ps(m[j][t], (const void *)(row + (uintptr_t)t * 64)));
            }
            for (int64_t e = rows * q->ow; e < q->bs; e += 16) _mm512_storeu_ps(dst + e, zero);
        }
}

/* dst[v] + dofs + m*ldd (masked by mask[v]) = Σ_t wp[t*MR + m] src[v][offs[t] .. + 16], m < MR, v < NV */
#if defined(__GNUC__) && !defined(__clang__)
#define PG_CVI_UNROLL _Pragma("GCC unroll 8")
#define PG_CVI_UNROLL16 _Pragma("GCC unroll 16")
#else
#define PG_CVI_UNROLL
#define PG_CVI_UNROLL16
#endif
PG_CVI_INLINE void pg__cvi_tile(const int mr, const int nv, int64_t k, const float *wp, const int32_t *offs,
                                const float *const *src, float *const *dst, const __mmask16 *mask, int64_t dofs,
                                int64_t ldd) {
    __m512 acc[8][8];
    const float *s[8];
    PG_CVI_UNROLL for (int v = 0; v < nv; v++) s[v] = src[v];
    PG_CVI_UNROLL for (int m = 0; m < mr; m++)
        PG_CVI_UNROLL for (int v = 0; v < nv; v++) acc[m][v] = _mm512_setzero_ps();
    for (int64_t t = 0; t < k; t++, wp += mr) {
        const int64_t off = offs[t];
        __m512 xv[8];
        PG_CVI_UNROLL for (int v = 0; v < nv; v++) xv[v] = _mm512_loadu_ps(s[v] + off);
        PG_CVI_UNROLL for (int m = 0; m < mr; m++) {
            const __m512 wv = _mm512_set1_ps(wp[m]);
            PG_CVI_UNROLL for (int v = 0; v < nv; v++) acc[m][v] = _mm512_fmadd_ps(wv, xv[v], acc[m][v]);
        }
    }
    PG_CVI_UNROLL for (int m = 0; m < mr; m++)
        PG_CVI_UNROLL for (int v = 0; v < nv; v++) _mm512_mask_storeu_ps(dst[v] + dofs + m * ldd, mask[v], acc[m][v]);
}

/* vectors [0, nvt) (the list runs on to nvt + 7 with vectors that store nothing) by result channels
 * o0 .. o0 + nob*MR - 1, weights wp (nob, K, MR): groups of NV vectors outer, so that their copies stay
 * in the cache while the weights stream past */
#define PG_CVI_PASS(MR, NV)                                                                                  \
    PG_CVI_TARGET PG_NOINLINE static void pg__cvi_pass_##MR(const pg_cvi *q, const int32_t *offs, int64_t nvt, \
                                                            const float *const *src, float *const *dst,      \
                                                            const __mmask16 *mask, int64_t o0, int64_t nob,  \
                                                            const float *wp) {                               \
        for (int64_t b = 0; b < nob; b++) {                                                                  \
            const float *wb = wp + b * q->k * MR;                                                            \
            const int64_t dofs = (o0 + b * MR) * q->l;                                                       \
            int64_t v0 = 0;                                                                                  \
            for (; v0 + NV <= nvt; v0 += NV)                                                                 \
                pg__cvi_tile(MR, NV, q->k, wb, offs, src + v0, dst + v0, mask + v0, dofs, q->l);             \
            switch (nvt - v0) { /* the last vectors, fewer than NV */                                        \
            case 0: break;                                                                                   \
            case 1: pg__cvi_tile(MR, 1, q->k, wb, offs, src + v0, dst + v0, mask + v0, dofs, q->l); break;    \
            case 2: if (NV > 2) pg__cvi_tile(MR, 2, q->k, wb, offs, src + v0, dst + v0, mask + v0, dofs, q->l); break; \
            case 3: if (NV > 3) pg__cvi_tile(MR, 3, q->k, wb, offs, src + v0, dst + v0, mask + v0, dofs, q->l); break; \
            case 4: if (NV > 4) pg__cvi_tile(MR, 4, q->k, wb, offs, src + v0, dst + v0, mask + v0, dofs, q->l); break; \
            case 5: if (NV > 5) pg__cvi_tile(MR, 5, q->k, wb, offs, src + v0, dst + v0, mask + v0, dofs, q->l); break; \
            case 6: if (NV > 6) pg__cvi_tile(MR, 6, q->k, wb, offs, src + v0, dst + v0, mask + v0, dofs, q->l); break; \
            default: if (NV > 7) pg__cvi_tile(MR, 7, q->k, wb, offs, src + v0, dst + v0, mask + v0, dofs, q->l); break; \
            }                                                                                                \
        }                                                                                                    \
    }
PG_CVI_PASS(8, 3)
PG_CVI_PASS(7, 3)
PG_CVI_PASS(6, 4)
PG_CVI_PASS(5, 4)
PG_CVI_PASS(4, 6)
PG_CVI_PASS(3, 8)
PG_CVI_PASS(2, 8)
PG_CVI_PASS(1, 8)

typedef void (*pg_cvi_pass_fn)(const pg_cvi *, const int32_t *, int64_t, const float *const *, float *const *,
                               const __mmask16 *, int64_t, int64_t, const float *);
static const pg_cvi_pass_fn pg__cvi_passes[9] = {NULL,           pg__cvi_pass_1, pg__cvi_pass_2, pg__cvi_pass_3,
                                                 pg__cvi_pass_4, pg__cvi_pass_5, pg__cvi_pass_6, pg__cvi_pass_7,
                                                 pg__cvi_pass_8};

/* lane buffer (CO, K, 16) rows o0 .. o0+MO-1, taps k0 .. k0+NK-1 (those that exist) += the lanes of
 * gy[o, p] copy[offs[t] + p] over the vectors u0 .. u1-1 of one image's pixels; gy (CO, l) and the
 * image's copies cb (csz), both read along the pixels as they lie. Per vector: the NK taps' vectors of
 * the copies, then each result channel's vector of gy times each (MO*NK sums, NK taps and 1 gradient in
 * registers: 4 x 6 is 24 sums from 10 loads); the image's last vector masked (gy and the copies) when
 * l % 16. The tile's shape does not change any sum's order (each lane adds its pixels in order). */
PG_CVI_INLINE void pg__cvi_dw_tile_k(const int mo, const int NK, const pg_cvi *q, float *lane, const int32_t *offs,
                                     int64_t o0, int64_t k0, const float *gy, const float *cb, int64_t u0, int64_t u1,
                                     const float *pf) {
    const int64_t nk = q->k - k0 < NK ? q->k - k0 : NK, l = q->l, nfull = l / 16;
    const int64_t ue = u1 < nfull ? u1 : nfull;
    const __mmask16 lastm = (__mmask16)(l % 16 ? (1u << (l % 16)) - 1 : 0xffffu);
    const float *xs[8];
    PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++) xs[kk] = cb + offs[k0 + (kk < nk ? kk : 0)];
    __m512 acc[8][8];
    PG_CVI_UNROLL for (int m = 0; m < mo; m++)
        PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++)
            acc[m][kk] = kk < nk ? _mm512_load_ps(lane + ((o0 + m) * q->k + k0 + kk) * 16) : _mm512_setzero_ps();
    const float *gb = gy + o0 * l;
    for (int64_t u = u0; u < ue; u++) {
        __m512 xv[8];
        PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++) xv[kk] = _mm512_loadu_ps(xs[kk] + u * 16);
        const float *g = gb + u * 16;
        if (pf) _mm_prefetch((const char *)(pf + (u - u0) * 16), _MM_HINT_T1);
        PG_CVI_UNROLL for (int m = 0; m < mo; m++) {
            __m512 gv = _mm512_loadu_ps(g + m * l);
            __asm__("" : "+v"(gv)); /* one load into a register, not one memory operand per multiply-add */
            PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++) acc[m][kk] = _mm512_fmadd_ps(gv, xv[kk], acc[m][kk]);
        }
    }
    if (u1 > nfull) { /* the image's last vector, l % 16 pixels */
        __m512 xv[8];
        PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++) xv[kk] = _mm512_maskz_loadu_ps(lastm, xs[kk] + nfull * 16);
        const float *g = gb + nfull * 16;
        PG_CVI_UNROLL for (int m = 0; m < mo; m++) {
            const __m512 gv = _mm512_maskz_loadu_ps(lastm, g + m * l);
            PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++) acc[m][kk] = _mm512_fmadd_ps(gv, xv[kk], acc[m][kk]);
        }
    }
    PG_CVI_UNROLL for (int m = 0; m < mo; m++)
        PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++)
            if (kk < nk) _mm512_store_ps(lane + ((o0 + m) * q->k + k0 + kk) * 16, acc[m][kk]);
}
/* one image's pixels into the lane buffer (+=): blocks of PG_CVI_DWB vectors; per block, the result
 * channels PG_CVI_DWO at a time outer (their gy stays in the L1 cache while the taps pass), the taps
 * PG_CVI_DWK at a time inner (the last 3 or fewer by a tile of 3; the copies, small for few input
 * channels, come from the L2 cache); gnext, xnext: the gy and x of the image the slot takes next (asked
 * into the L2 cache meanwhile, x a share per block of channels), or NULL. Measured (1 thread, 32 x 32
 * images, 3 -> 32 channels): blocks of 64 vectors beat 32 by 5-10%, 16 by 15-20% (each tile loads and
 * stores its sums once a block), and the prefetch of the next block's gy gains 4-8% (of the slot's next
 * image's gy and x, rather than of image n + 1, which another slot takes: 2-5% more). Tiles of 4
 * channels by 6 taps beat 8 by 3 by 7-10% (2 -> 32 channels: 15%): gy's rows of 1024 pixels lie 4 KiB
 * apart, so a vector's 8 rows all fall in one set of the L1 cache, 8 of its 12 ways, and the taps'
 * copies pushed them out; 4 rows leave the copies room (and a vector feeds its 24 sums from 10 loads
 * instead of 11). 4 x 7 and 3 x 8 need more than the 32 registers. */
#define PG_CVI_DWB 64
#define PG_CVI_DWO 4 /* result channels per tile */
#define PG_CVI_DWK 6 /* taps per tile */
PG_CVI_TARGET PG_NOINLINE static void pg__cvi_dw_image(const pg_cvi *q, float *lane, const int32_t *offs,
                                                       const float *gy, const float *cb, const float *gnext,
                                                       const float *xnext) {
    const int64_t xb = (int64_t)sizeof(float) * q->cs * q->hs * q->ws;
    const int64_t nst = (q->nvec + PG_CVI_DWB - 1) / PG_CVI_DWB * ((q->co + PG_CVI_DWO - 1) / PG_CVI_DWO);
    const int64_t per = ((xb + 63) / 64 + nst - 1) / nst * 64;
    int64_t xo = 0;
    for (int64_t u0 = 0; u0 < q->nvec; u0 += PG_CVI_DWB) {
        const int64_t u1 = q->nvec - u0 < PG_CVI_DWB ? q->nvec : u0 + PG_CVI_DWB;
        for (int64_t o0 = 0; o0 < q->co; o0 += PG_CVI_DWO) {
            /* the next block's gy, rows o0 + MO .. (or the next block of pixels, or the next image): into the
             * L2 cache, a row per tile of taps while this block's gy is read from the L1 cache */
            if (xnext)
                for (int64_t e = xo + per; xo < e && xo < xb; xo += 64) _mm_prefetch((const char *)xnext + xo, _MM_HINT_T1);
            const int64_t mo = q->co - o0 < PG_CVI_DWO ? q->co - o0 : PG_CVI_DWO, on = o0 + PG_CVI_DWO;
            const float *nb = on < q->co ? gy + on * q->l + u0 * 16 : u1 < q->nvec ? gy + u1 * 16 : gnext;
            const int64_t nrows = on < q->co ? (q->co - on < PG_CVI_DWO ? q->co - on : PG_CVI_DWO)
                                             : q->co < PG_CVI_DWO ? q->co : PG_CVI_DWO;
            for (int64_t k0 = 0, kb = 0; k0 < q->k; k0 += PG_CVI_DWK, kb++) {
                const float *pf = nb && kb < nrows ? nb + kb * q->l : NULL;
                /* the last taps, 3 or fewer, by a tile of 3 */
                switch (mo + (q->k - k0 <= 3 ? 4 : 0)) {
                case 1: pg__cvi_dw_tile_k(1, PG_CVI_DWK, q, lane, offs, o0, k0, gy, cb, u0, u1, pf); break;
                case 2: pg__cvi_dw_tile_k(2, PG_CVI_DWK, q, lane, offs, o0, k0, gy, cb, u0, u1, pf); break;
                case 3: pg__cvi_dw_tile_k(3, PG_CVI_DWK, q, lane, offs, o0, k0, gy, cb, u0, u1, pf); break;
                case 4: pg__cvi_dw_tile_k(4, PG_CVI_DWK, q, lane, offs, o0, k0, gy, cb, u0, u1, pf); break;
                case 5: pg__cvi_dw_tile_k(1, 3, q, lane, offs, o0, k0, gy, cb, u0, u1, pf); break;
                case 6: pg__cvi_dw_tile_k(2, 3, q, lane, offs, o0, k0, gy, cb, u0, u1, pf); break;
                case 7: pg__cvi_dw_tile_k(3, 3, q, lane, offs, o0, k0, gy, cb, u0, u1, pf); break;
                default: pg__cvi_dw_tile_k(4, 3, q, lane, offs, o0, k0, gy, cb, u0, u1, pf); break;
                }
            }
        }
    }
}

typedef struct pg_cvi_job {
    const pg_cvi *q;
    int kind;
    float *out;             /* FWD, DX: the result (N, CO, OH, OW); DW: the slots' lane buffers */
    const float *src;       /* the source images (N, CS, HS, WS) */
    const float *gy;        /* DW: (N, CO, l) */
    const float *wp;        /* FWD, DX: the weights by blocks of 8 result channels, (K, 8) each, then the rest */
    const int32_t *offs;    /* (K): tap (c, i, j) at c*KW*bs + j*bs + i*OW */
    char *work;             /* [team][workbytes]: the copies (ch, csz), then the vector lists */
    int64_t n, ch, units, workbytes, lanebytes;
    atomic_llong next;
} pg_cvi_job;

static void pg__cvi_job(void *ctx, const pg_team *team) {
    pg_cvi_job *jb = ctx;
    const pg_cvi *q = jb->q;
    float *cbuf = (float *)(jb->work + team->tid * jb->workbytes);
    const int64_t cap = jb->ch * q->nvec + 8;
    const float **srcv = (const float **)(cbuf + jb->ch * q->csz + 16);
    float **dstv = (float **)(srcv + cap);
    __mmask16 *mask = (__mmask16 *)(dstv + cap);
    const int64_t nchunks = (jb->n + jb->ch - 1) / jb->ch;
    const __mmask16 last = (__mmask16)(q->l % 16 ? (1u << (q->l % 16)) - 1 : 0xffffu);
    for (;;) {
        const int64_t i = atomic_fetch_add_explicit(&jb->next, 1, memory_order_relaxed);
        if (i >= jb->units) return;
        if (jb->kind == PG_CV_DW) { /* slot i: chunks i, i + units, ... in order */
            float *lane = (float *)((char *)jb->out + i * jb->lanebytes);
            for (int64_t qc = i; qc < nchunks; qc += jb->units) {
                const int64_t n0 = qc * jb->ch, cnt = jb->n - n0 < jb->ch ? jb->n - n0 : jb->ch;
                if (qc == i) memset(lane, 0, (size_t)jb->lanebytes);
                for (int64_t b = 0; b < cnt; b++) {
                    pg__cvi_copy(q, cbuf, jb->src + (n0 + b) * q->cs * q->hs * q->ws);
                    const float *g = jb->gy + (n0 + b) * q->co * q->l;
                    /* the slot's next image: the next of this chunk, or the first of its next chunk */
                    const int64_t nn = b + 1 < cnt ? n0 + b + 1 : qc + jb->units < nchunks ? (qc + jb->units) * jb->ch : -1;
                    pg__cvi_dw_image(q, lane, jb->offs, g, cbuf, nn >= 0 ? jb->gy + nn * q->co * q->l : NULL,
                                     nn >= 0 ? jb->src + nn * q->cs * q->hs * q->ws : NULL);
                }
            }
            continue;
        }
        const int64_t n0 = i * jb->ch, cnt = jb->n - n0 < jb->ch ? jb->n - n0 : jb->ch;
        int64_t nvt = 0;
        for (int64_t b = 0; b < cnt; b++) {
            pg__cvi_copy(q, cbuf + b * q->csz, jb->src + (n0 + b) * q->cs * q->hs * q->ws);
            for (int64_t u = 0; u < q->nvec; u++, nvt++) {
                srcv[nvt] = cbuf + b * q->csz + u * 16;
                dstv[nvt] = jb->out + (n0 + b) * q->co * q->l + u * 16;
                mask[nvt] = u == q->nvec - 1 ? last : (__mmask16)0xffffu;
            }
        }
        for (int64_t v = nvt; v < nvt + 8; v++) { /* vectors that fill the last group and store nothing */
            srcv[v] = srcv[0];
            dstv[v] = dstv[0];
            mask[v] = 0;
        }
        const int64_t nfull = q->co / 8, rest = q->co % 8;
        if (nfull) pg__cvi_pass_8(q, jb->offs, nvt, srcv, dstv, mask, 0, nfull, jb->wp);
        if (rest) pg__cvi_passes[rest](q, jb->offs, nvt, srcv, dstv, mask, nfull * 8, 1, jb->wp + nfull * 8 * q->k);
    }
}

/* dw (E elements) = the sum of each element's 16 lanes of the slots' lane buffers added in slot order */
PG_CVI_TARGET static void pg__cvi_dw_sum(float *dw, const float *lanes, int64_t e, int64_t nslots, int64_t lanebytes) {
    for (int64_t r = 0; r < e; r++) {
        __m512 v = _mm512_load_ps(lanes + r * 16);
        for (int64_t s = 1; s < nslots; s++)
            v = _mm512_add_ps(v, _mm512_load_ps((const float *)((const char *)lanes + s * lanebytes) + r * 16));
        dw[r] = _mm512_reduce_add_ps(v);
    }
}

/* The end of the drivers whose dw sums in lane buffers (pg__cvi_run, pg__cvs_run): the team runs job
 * over jb with the host unlocked; then, when dw is not NULL, dw (e elements) = the units' lane buffers
 * summed (pg__cvi_dw_sum); buf (the drivers' one allocation) is freed. */
static pg_status pg__cv_lanes_run(pg_job_fn job, void *jb, int nthr, double macs, float *dw, const float *lanes,
                                  int64_t e, int64_t units, int64_t lanebytes, void *buf) {
    pg_unlocked u = pg__unlock_host(macs < 9e18 ? (int64_t)macs : INT64_MAX);
    pg__parallel_dynamic(job, jb, nthr);
    if (dw) pg__cvi_dw_sum(dw, lanes, e, units, lanebytes);
    pg__relock_host(u);
    free(buf);
    return PG_OK;
}

/* ---- the weight gradient of 3 x 3 kernels: float32 on AVX-512, stride 1, dilation 1, one group ----
 * dw^T (K, O) = Σ_n Σ_p patch_n[:, p] gy[n, :, p]^T is a GEMM whose long dimension is the reduction over
 * every image's pixels. No col matrix: at result pixel p = (oy, ox) the 9 taps (i, j) of input channel c
 * are plane[c, oy + i, ox + j] of the zero-padded image (pg__cv_fill), broadcast straight from it, and
 * gy's O channels at p are vectors of a transposed copy gyT (l, OP) of the image's gradient, OP = O
 * rounded up to 16 (zeros past O). A register tile of one input channel's 9 taps by 32 result channels
 * (18 accumulators; 1 to 3 input channels by the last 16 result channels) accumulates from zero over a
 * block of pixels (the images of a chunk, or a few rows of one large image, so that gyT's block stays in
 * the L1 cache), then is added into its slot's dwt (K, OP). Chunks (nb images, nb a function of the
 * geometry) are dealt to a fixed number of slots as in the GEMM path, each slot summing its chunks in
 * order, the slots added in order: the result does not depend on the number of threads. */
#define PG_CVW_BLOCK 8192 /* floats of gyT per block of pixels (32 KiB) */
#define PG_CVW_SLOTS 4

typedef struct pg_cvw {
    const pg_cv *cv;
    const float *x, *gy;   /* x (N, C, H, W), gy (N, O, OH, OW) */
    char *work;            /* [team][workbytes]: planes (nb, C, HQ, WQ) (psz floats each), gyT (nb, l, OP) */
    char *slots;           /* [units][slotbytes]: dwt (K, OP) */
    int64_t op, psz, nb, rows, units, workbytes, slotbytes;
    atomic_llong next;
} pg_cvw;

/* dst (l, op) rows op apart, columns 0 .. o-1 = src (o, l)^T: 16 x 16 blocks transposed in registers */
PG_CVI_INLINE void pg__cvw_tr16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) { /* per 128-bit lane: a0 b0 a1 b1 and a2 b2 a3 b3 */
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* r[4i + k], lane q: rows 4i .. 4i+3 of column 4q + k */
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
    }
    for (int k = 0; k < 4; k++) { /* column 4q + k: lane q of r[k], r[4 + k], r[8 + k], r[12 + k] */
        const __m512 u0 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0x88), u1 = _mm512_shuffle_f32x4(r[k], r[4 + k], 0xdd);
        const __m512 u2 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0x88);
        const __m512 u3 = _mm512_shuffle_f32x4(r[8 + k], r[12 + k], 0xdd);
        t[k] = _mm512_shuffle_f32x4(u0, u2, 0x88);
        t[8 + k] = _mm512_shuffle_f32x4(u0, u2, 0xdd);
        t[4 + k] = _mm512_shuffle_f32x4(u1, u3, 0x88);
        t[12 + k] = _mm512_shuffle_f32x4(u1, u3, 0xdd);
    }
    for (int i = 0; i < 16; i++) r[i] = t[i];
}
/* dst[p*ldd + c] = src[c*lds + p], c < o, p < l; with zero (when o is not a multiple of 16) up to the next
 * multiple of 16 columns (stride ldd >= those, as in gyT (l, OP)) when pad. The blocks in the order that
 * runs along the rows of the side whose rows are far apart (4 KiB apart, 16 rows share an L1 set): 64
 * rows of y written a block at a time ran at a quarter of the speed */
PG_CVI_INLINE void pg__cvw_tr_block(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t o, int64_t l,
                                    bool pad, int64_t c0, int64_t p0) {
    const int64_t nc = o - c0 < 16 ? o - c0 : 16, np = l - p0 < 16 ? l - p0 : 16;
    const __mmask16 m = (__mmask16)((1u << np) - 1), mc = pad ? 0xffffu : (__mmask16)((1u << nc) - 1);
    __m512 r[16];
    for (int64_t i = 0; i < 16; i++)
        r[i] = i < nc ? _mm512_maskz_loadu_ps(m, src + (c0 + i) * lds + p0) : _mm512_setzero_ps();
    pg__cvw_tr16(r);
    for (int64_t i = 0; i < np; i++) _mm512_mask_storeu_ps(dst + (p0 + i) * ldd + c0, mc, r[i]);
}
PG_CVI_TARGET static void pg__cvw_transpose(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t o,
                                            int64_t l, bool pad) {
    if (lds >= ldd)
        for (int64_t c0 = 0; c0 < o; c0 += 16)
            for (int64_t p0 = 0; p0 < l; p0 += 16) pg__cvw_tr_block(dst, ldd, src, lds, o, l, pad, c0, p0);
    else
        for (int64_t p0 = 0; p0 < l; p0 += 16)
            for (int64_t c0 = 0; c0 < o; c0 += 16) pg__cvw_tr_block(dst, ldd, src, lds, o, l, pad, c0, p0);
}

/* dwt rows c0*9 .. (c0 + CT)*9 - 1, columns o0 .. o0 + 16*NV - 1 += Σ over the block's pixels (images
 * b < nimg, rows y0 .. y1 - 1) of plane[b, c, y + i, x + j] gyT[b, y*ow + x, o] */
PG_CVI_INLINE void pg__cvw_tile(const int ct, const int nv, const int64_t fixw, const pg_cv *cv, float *dwt,
                                int64_t op, const float *planes, int64_t psz, const float *gyt, int64_t nimg,
                                int64_t y0, int64_t y1, int64_t c0, int64_t o0) {
    /* fixw: the result's width when a constant (4 or 8: each row one unrolled run), else 0 */
    const int64_t wq = cv->wq, hw = cv->hq * cv->wq, ow = fixw ? fixw : cv->ow, l = cv->l;
    __m512 acc[27][2];
    PG_CVI_UNROLL for (int t = 0; t < 9 * ct; t++)
        PG_CVI_UNROLL for (int v = 0; v < nv; v++) acc[t][v] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nimg; b++)
        for (int64_t y = y0; y < y1; y++) {
            const float *s = planes + b * psz + c0 * hw + y * wq;
            const float *g = gyt + (b * l + y * ow) * op + o0;
            for (int64_t x = 0; x < ow; x++, s++, g += op) {
                __m512 gv[2];
                PG_CVI_UNROLL for (int v = 0; v < nv; v++) gv[v] = _mm512_loadu_ps(g + 16 * v);
                PG_CVI_UNROLL for (int c = 0; c < ct; c++)
                    PG_CVI_UNROLL for (int i = 0; i < 3; i++)
                        PG_CVI_UNROLL for (int j = 0; j < 3; j++) {
                            const __m512 bv = _mm512_set1_ps(s[c * hw + i * wq + j]);
                            PG_CVI_UNROLL for (int v = 0; v < nv; v++)
                                acc[c * 9 + i * 3 + j][v] = _mm512_fmadd_ps(bv, gv[v], acc[c * 9 + i * 3 + j][v]);
                        }
            }
        }
    PG_CVI_UNROLL for (int t = 0; t < 9 * ct; t++)
        PG_CVI_UNROLL for (int v = 0; v < nv; v++) {
            float *d = dwt + (c0 * 9 + t) * op + o0 + 16 * v;
            _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), acc[t][v]));
        }
}

/* one block of pixels: every tile, 32 result channels at a time (the channels c inner, so that gyT's
 * block stays in the cache while the planes stream past), then the last 16 by 3 input channels */
PG_CVI_INLINE void pg__cvw_block_w(const int64_t fixw, const pg_cv *cv, float *dwt, int64_t op, const float *planes,
                                   int64_t psz, const float *gyt, int64_t nimg, int64_t y0, int64_t y1) {
    int64_t o0 = 0;
    for (; o0 + 32 <= op; o0 += 32)
        for (int64_t c = 0; c < cv->c; c++)
            pg__cvw_tile(1, 2, fixw, cv, dwt, op, planes, psz, gyt, nimg, y0, y1, c, o0);
    if (o0 == op) return;
    int64_t c = 0;
    for (; c + 3 <= cv->c; c += 3) pg__cvw_tile(3, 1, fixw, cv, dwt, op, planes, psz, gyt, nimg, y0, y1, c, o0);
    if (cv->c - c == 2) pg__cvw_tile(2, 1, fixw, cv, dwt, op, planes, psz, gyt, nimg, y0, y1, c, o0);
    else if (cv->c - c == 1) pg__cvw_tile(1, 1, fixw, cv, dwt, op, planes, psz, gyt, nimg, y0, y1, c, o0);
}
PG_CVI_TARGET PG_NOINLINE static void pg__cvw_block(const pg_cv *cv, float *dwt, int64_t op, const float *planes,
                                                    int64_t psz, const float *gyt, int64_t nimg, int64_t y0,
                                                    int64_t y1) {
    if (cv->ow == 4) pg__cvw_block_w(4, cv, dwt, op, planes, psz, gyt, nimg, y0, y1);
    else if (cv->ow == 8) pg__cvw_block_w(8, cv, dwt, op, planes, psz, gyt, nimg, y0, y1);
    else pg__cvw_block_w(0, cv, dwt, op, planes, psz, gyt, nimg, y0, y1);
}

static void pg__cvw_job(void *ctx, const pg_team *team) {
    pg_cvw *jb = ctx;
    const pg_cv *cv = jb->cv;
    float *planes = (float *)(jb->work + team->tid * jb->workbytes), *gyt = planes + jb->nb * jb->psz;
    memset(planes, 0, sizeof(float) * (size_t)(jb->nb * jb->psz)); /* the borders stay zero */
    const int64_t nchunks = (cv->n + jb->nb - 1) / jb->nb, chw = cv->c * cv->h * cv->w, ol = cv->o * cv->l;
    for (;;) {
        const int64_t i = atomic_fetch_add_explicit(&jb->next, 1, memory_order_relaxed);
        if (i >= jb->units) return;
        float *dwt = (float *)(jb->slots + i * jb->slotbytes); /* slot i: chunks i, i + units, ... in order */
        memset(dwt, 0, sizeof(float) * (size_t)(cv->k * jb->op));
        for (int64_t qc = i; qc < nchunks; qc += jb->units) {
            const int64_t n0 = qc * jb->nb, cnt = cv->n - n0 < jb->nb ? cv->n - n0 : jb->nb;
            for (int64_t b = 0; b < cnt; b++) {
                pg__cv_fill_f32(cv, planes + b * jb->psz, jb->x + (n0 + b) * chw);
                pg__cvw_transpose(gyt + b * cv->l * jb->op, jb->op, jb->gy + (n0 + b) * ol, cv->l, cv->o, cv->l,
                                  true);
            }
            if (cnt > 1) pg__cvw_block(cv, dwt, jb->op, planes, jb->psz, gyt, cnt, 0, cv->oh);
            else
                for (int64_t y = 0; y < cv->oh; y += jb->rows)
                    pg__cvw_block(cv, dwt, jb->op, planes, jb->psz, gyt, 1, y,
                                  y + jb->rows < cv->oh ? y + jb->rows : cv->oh);
        }
    }
}

/* dw (O, C, 3, 3) = the slots' dwt (K, OP) added in slot order (into the first), transposed */
PG_CVI_TARGET static void pg__cvw_sum(const pg_cv *cv, float *dw, char *slots, int64_t slotbytes, int64_t op,
                                      int64_t units) {
    float *d = (float *)slots;
    for (int64_t s = 1; s < units; s++) {
        const float *a = (const float *)(slots + s * slotbytes);
        for (int64_t e = 0; e < cv->k * op; e += 16)
            _mm512_storeu_ps(d + e, _mm512_add_ps(_mm512_loadu_ps(d + e), _mm512_loadu_ps(a + e)));
    }
    pg__cvw_transpose(dw, cv->k, d, op, cv->k, cv->o, false);
}

static bool pg__cvi_ok(const pg_cv *cv);

/* Whether the weight gradient goes through pg__cvw_run: pg__cvi_ok's conditions and a 3 x 3 kernel */
static bool pg__cvw_ok(const pg_cv *cv) {
    return cv->kh == 3 && cv->kw == 3 && cv->c <= (1 << 16) && cv->o <= (1 << 16) &&
           pg__mul_sat(cv->c, pg__mul_sat(cv->hq, cv->wq)) <= ((int64_t)1 << 26) && cv->l <= ((int64_t)1 << 20) &&
           pg__cvi_ok(cv);
}

/* dw = conv2d_weight_grad(x, gy), float32, nonempty, pg__cvw_ok */
static pg_status pg__cvw_run(const pg_cv *cv, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    const int64_t op = (cv->o + 15) / 16 * 16, psz = (cv->c * cv->hq * cv->wq + 15) / 16 * 16;
    int64_t nb = PG_CVW_BLOCK / (cv->l * op);
    if (nb < 1) nb = 1;
    const int64_t spread = (cv->n + 2 * PG_CVW_SLOTS - 1) / (2 * PG_CVW_SLOTS); /* two chunks a slot, if the images */
    if (nb > spread) nb = spread;
    if (nb < 1) nb = 1;
    int64_t rows = PG_CVW_BLOCK / (cv->ow * op);
    if (rows < 1) rows = 1;
    const int64_t nchunks = (cv->n + nb - 1) / nb, units = nchunks < PG_CVW_SLOTS ? nchunks : PG_CVW_SLOTS;
    double macs = (double)cv->n * (double)cv->o * (double)cv->k * (double)cv->l;
    int nthr = pg__threads_for(macs < 9e18 ? (int64_t)macs : INT64_MAX, (int64_t)PG_CV_GRAIN);
    if (nthr > units) nthr = (int)units;
    if (nthr < 1) nthr = 1;
    const int64_t workbytes = ((int64_t)sizeof(float) * nb * (psz + cv->l * op) + 63) / 64 * 64;
    const int64_t slotbytes = ((int64_t)sizeof(float) * cv->k * op + 63) / 64 * 64;
    char *buf = malloc((size_t)(workbytes * nthr + slotbytes * units) + 64);
    if (!buf) return pg__fail(PG_ERR_MEMORY, "%s: out of memory for the padded images", pg_optable[PG_OP_CONV2D_WEIGHT_GRAD]->name);
    char *base = (char *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
    pg_cvw jb = {.cv = cv, .x = a->data, .gy = b->data, .work = base, .slots = base + workbytes * nthr, .op = op,
                 .psz = psz, .nb = nb, .rows = rows, .units = units, .workbytes = workbytes, .slotbytes = slotbytes};
    atomic_init(&jb.next, 0);
    pg_unlocked u = pg__unlock_host(macs < 9e18 ? (int64_t)macs : INT64_MAX);
    pg__parallel_dynamic(pg__cvw_job, &jb, nthr);
    pg__cvw_sum(cv, out->data, jb.slots, slotbytes, op, units);
    pg__relock_host(u);
    free(buf);
    return PG_OK;
}

/* A software prefetch into the L2 cache of the bytes [p, p + bytes), spread over the steps of a
 * computation: each step asks for its share of the lines. The drivers whose unit is an image (or a
 * chunk of them) read the next unit's source this way while they compute on this one: its copy into
 * the plane or the copies, a burst of reads from memory the hardware prefetchers do not see coming,
 * then finds it in the cache. */
typedef struct pg_cv_pf {
    const char *p, *end; /* the lines still to ask for; p NULL: none */
    int64_t per;         /* bytes per step, whole lines */
} pg_cv_pf;

static void pg__cv_pf_init(pg_cv_pf *f, const void *p, int64_t bytes, int64_t steps) {
    f->p = p;
    f->end = p ? (const char *)p + bytes : NULL;
    f->per = p ? ((bytes + 63) / 64 + steps - 1) / (steps > 0 ? steps : 1) * 64 : 0;
}

PG_CVI_INLINE void pg__cv_pf_step(pg_cv_pf *f) {
    if (!f->p) return;
    const char *e = f->end - f->p > f->per ? f->p + f->per : f->end;
    for (; f->p < e; f->p += 64) _mm_prefetch(f->p, _MM_HINT_T1);
}

/* ---- y and dx of 3 x 3 kernels: float32 on AVX-512, stride 1, dilation 1, one group ----
 * Both products are one direct convolution of a zero-padded source plane P (CS, HQ, WQ) with 3 x 3
 * taps, into CO result channels:
 *
 *   r[o, y, x] = Σ_(c, i, j) wt[(c, i, j), o] P[c, y + i, x + j]
 *   y  = conv(x, w):     P = x padded by (pt, pl),             wt[(c, i, j), o] = w[o, c, i, j]
 *   dx = conv^T(gy, w):  P = gy padded by (2 - pt, 2 - pl),    wt[(o, i, j), c] = w[o, c, 2 - i, 2 - j]
 *
 * computed transposed, pixels by result channels: a register tile of 8 pixels (one row of 8, or two
 * rows of 4) by 32 result channels (the weights' rows vectors, the pixels broadcast straight from the
 * plane; the last 16 channels by 16 pixels) accumulates over every tap in order and is stored once
 * into rt (l, COP), COP = CO rounded up to 16, which is transposed into the image's result. One image
 * is one unit of work; each result element is one sum in a fixed order: the result does not depend on
 * the number of threads. */
typedef struct pg_cvd {
    pg_cv g;                /* the plane's geometry: cg = CS source channels (h, w), padding pt, pl, (hq, wq); */
                            /* the result (oh, ow), l = oh*ow */
    int64_t co, cop, psz;   /* result channels, rounded up to 16; floats of one plane */
    const float *src;       /* (N, CS, h, w) */
    float *out;             /* (N, CO, oh, ow) */
    const float *wt;        /* blocks of 32 result channels (then the last 16): (CS*9, 32) each */
    char *work;             /* [team][workbytes]: the plane (psz), rt (l, COP) */
    int64_t n, workbytes;
    atomic_llong next;
} pg_cvd;

/* rt rows p0 + r*ow + m (r < R, m < MC), columns o0 .. o0 + 16*NV - 1 = Σ_t wt[t, o] P[c, y + i, x + j] */
PG_CVI_INLINE void pg__cvd_tile(const int R, const int MC, const int nv, const float *s, int64_t wq, int64_t hw,
                                int64_t cs, const float *wt, int64_t cop, float *rt, int64_t ow, bool first) {
    __m512 acc[16][2];
    PG_CVI_UNROLL for (int r = 0; r < R; r++)
        PG_CVI_UNROLL for (int m = 0; m < MC; m++)
            PG_CVI_UNROLL for (int v = 0; v < nv; v++)
                acc[r * MC + m][v] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(rt + (r * ow + m) * cop + 16 * v);
    /* per source channel and kernel row i: the 3 taps' weight vectors, then each plane value of the
     * tile's rows broadcast once and multiplied into every pixel whose window holds it (tap j = q - m) */
    for (int64_t c = 0; c < cs; c++, s += hw)
        PG_CVI_UNROLL for (int i = 0; i < 3; i++, wt += 3 * 16 * nv) {
            __m512 wv[3][2];
            PG_CVI_UNROLL for (int j = 0; j < 3; j++)
                PG_CVI_UNROLL for (int v = 0; v < nv; v++) wv[j][v] = _mm512_loadu_ps(wt + (j * nv + v) * 16);
            PG_CVI_UNROLL for (int r = 0; r < R; r++) {
                const float *row = s + (r + i) * wq;
                PG_CVI_UNROLL16 for (int q = 0; q < MC + 2; q++) {
                    const __m512 b = _mm512_set1_ps(row[q]);
                    PG_CVI_UNROLL for (int j = 0; j < 3; j++) {
                        const int m = q - j;
                        if (m < 0 || m >= MC) continue;
                        PG_CVI_UNROLL for (int v = 0; v < nv; v++)
                            acc[r * MC + m][v] = _mm512_fmadd_ps(b, wv[j][v], acc[r * MC + m][v]);
                    }
                }
            }
        }
    PG_CVI_UNROLL for (int r = 0; r < R; r++)
        PG_CVI_UNROLL for (int m = 0; m < MC; m++)
            PG_CVI_UNROLL for (int v = 0; v < nv; v++) _mm512_storeu_ps(rt + (r * ow + m) * cop + 16 * v, acc[r * MC + m][v]);
}

/* rt (l, COP) of one image from its plane: 32 result channels at a time, then the last 16; the source
 * channels in blocks of PG_CVD_CB (the block's weights, 9*PG_CVD_CB rows of 32, stay in the L1 cache
 * while the pixel tiles run over them), each block's tile adding to the partial sums of the last */
#define PG_CVD_CB 16
#define PG_CVD_AHEAD 65536
PG_CVI_TARGET PG_NOINLINE static void pg__cvd_image(const pg_cvd *q, const float *plane, float *rt, const float *next) {
    const pg_cv *g = &q->g;
    const int64_t wq = g->wq, hw = g->hq * g->wq, ow = g->ow, oh = g->oh, k = g->cg * 9;
    pg_cv_pf pf; /* next (the next image's source) asked for a share per row step */
    pg__cv_pf_init(&pf, next, (int64_t)sizeof(float) * g->cg * g->h * g->w,
                   (q->cop + 31) / 32 * ((g->cg + PG_CVD_CB - 1) / PG_CVD_CB) * oh * ((ow + 7) / 8));
    for (int64_t o0 = 0; o0 < q->cop; o0 += 32) {
        const bool two = o0 + 32 <= q->cop; /* 32 channels, or the last 16 */
        for (int64_t c0 = 0; c0 < g->cg; c0 += PG_CVD_CB) {
            const int64_t cs = g->cg - c0 < PG_CVD_CB ? g->cg - c0 : PG_CVD_CB;
            const float *wt = q->wt + o0 * k + c0 * 9 * (two ? 32 : 16), *p = plane + c0 * hw;
            for (int64_t y = 0; y < oh; y += ow == 4 ? (two ? 2 : 4) : (two ? 1 : 2))
                for (int64_t x = 0; x < ow; x += 8) {
                    pg__cv_pf_step(&pf);
                    const float *s = p + y * wq + x;
                    float *d = rt + (y * ow + x) * q->cop + o0;
                    if (two && ow == 4) pg__cvd_tile(2, 4, 2, s, wq, hw, cs, wt, q->cop, d, ow, c0 == 0);
                    else if (two) pg__cvd_tile(1, 8, 2, s, wq, hw, cs, wt, q->cop, d, ow, c0 == 0);
                    else if (ow == 4) pg__cvd_tile(4, 4, 1, s, wq, hw, cs, wt, q->cop, d, ow, c0 == 0);
                    else pg__cvd_tile(2, 8, 1, s, wq, hw, cs, wt, q->cop, d, ow, c0 == 0);
                }
        }
    }
}

static void pg__cvd_job(void *ctx, const pg_team *team) {
    pg_cvd *q = ctx;
    const pg_cv *g = &q->g;
    float *plane = (float *)(q->work + team->tid * q->workbytes), *rt = plane + q->psz;
    memset(plane, 0, sizeof(float) * (size_t)q->psz); /* the border stays zero */
    const int64_t shw = g->cg * g->h * g->w, ol = q->co * g->l;
    /* a member whose images' sources are large (PG_CVD_AHEAD bytes and more) takes its next image before
     * it computes this one, and reads that image's source into the cache meanwhile (32 x 32 images, 64 ->
     * 32 channels (dx of 32 -> 64): 6-11% faster); small ones are in the cache already, and one image
     * taken ahead is one the other members cannot share at the end */
    const bool ahead = (int64_t)sizeof(float) * shw >= PG_CVD_AHEAD;
    for (int64_t i = atomic_fetch_add_explicit(&q->next, 1, memory_order_relaxed); i < q->n;) {
        const int64_t nx = ahead ? atomic_fetch_add_explicit(&q->next, 1, memory_order_relaxed) : q->n;
        pg__cv_fill_f32(g, plane, q->src + i * shw);
        pg__cvd_image(q, plane, rt, nx < q->n ? q->src + nx * shw : NULL);
        pg__cvw_transpose(q->out + i * ol, g->l, rt, q->cop, g->l, q->co, false);
        i = ahead ? nx : atomic_fetch_add_explicit(&q->next, 1, memory_order_relaxed);
    }
}

/* Whether y (kind FWD) or dx (DX) goes through pg__cvd_run: pg__cvi_ok's conditions, a 3 x 3 kernel,
 * padding 0 to 2, at least 16 result channels, rows of 4 (an even number of them... four) or of a
 * multiple of 8 */
static bool pg__cvd_ok(int kind, const pg_cv *cv) {
    /* at least 16 result channels, and 8 source channels: with fewer taps, rt's transpose costs more than
     * the implicit path's edge work */
    if (cv->kh != 3 || cv->kw != 3 || (kind == PG_CV_FWD ? cv->o : cv->c) < 16 || (kind == PG_CV_FWD ? cv->c : cv->o) < 8)
        return false;
    if (cv->pt > 2 || cv->pl > 2 || cv->oh < 1 || cv->ow < 1) return false;
    const int64_t rh = kind == PG_CV_FWD ? cv->oh : cv->h, rw = kind == PG_CV_FWD ? cv->ow : cv->w;
    if (!(rw == 4 ? rh % 4 == 0 : rw % 8 == 0 && rh % 2 == 0)) return false;
    const int64_t cmax = cv->c > cv->o ? cv->c : cv->o;
    return cmax <= (1 << 16) && rh * rw <= ((int64_t)1 << 20) &&
           pg__mul_sat(cmax, pg__mul_sat(rh + 2, rw + 2)) <= ((int64_t)1 << 26) && pg__cvi_ok(cv);
}

/* out = FWD y = conv(a=x, b=w), DX dx = conv^T(a=gy, b=w), float32, nonempty, pg__cvd_ok */
static pg_status pg__cvd_run(int kind, const pg_cv *cv, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    pg_cvd q = {.src = a->data, .out = out->data, .n = cv->n};
    pg_cv *g = &q.g;
    if (kind == PG_CV_FWD) {
        *g = (pg_cv){.cg = cv->c, .h = cv->h, .w = cv->w, .pt = cv->pt, .pl = cv->pl, .oh = cv->oh, .ow = cv->ow,
                     .hq = cv->oh + 2, .wq = cv->ow + 2};
        q.co = cv->o;
    } else { /* the full convolution of gy: the source gy (O, OH, OW), the result (C, H, W) */
        *g = (pg_cv){.cg = cv->o, .h = cv->oh, .w = cv->ow, .pt = 2 - cv->pt, .pl = 2 - cv->pl, .oh = cv->h,
                     .ow = cv->w, .hq = cv->h + 2, .wq = cv->w + 2};
        q.co = cv->c;
    }
    g->l = g->oh * g->ow;
    q.cop = (q.co + 15) / 16 * 16;
    q.psz = (g->cg * g->hq * g->wq + 15) / 16 * 16;
    const int64_t k = g->cg * 9;
    double macs = (double)cv->n * (double)cv->o * (double)cv->k * (double)cv->l;
    int nthr = pg__threads_for(macs < 9e18 ? (int64_t)macs : INT64_MAX, (int64_t)PG_CV_GRAIN);
    if (nthr > cv->n) nthr = (int)cv->n;
    if (nthr < 1) nthr = 1;
    q.workbytes = ((int64_t)sizeof(float) * (q.psz + g->l * q.cop) + 63) / 64 * 64;
    const int64_t wtbytes = ((int64_t)sizeof(float) * k * q.cop + 63) / 64 * 64;
    char *buf = malloc((size_t)(q.workbytes * nthr + wtbytes) + 64);
    if (!buf)
        return pg__fail(PG_ERR_MEMORY, "%s: out of memory for the padded images",
                        pg_optable[kind == PG_CV_FWD ? PG_OP_CONV2D : PG_OP_CONV2D_INPUT_GRAD]->name);
    char *base = (char *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
    float *wt = (float *)(base + q.workbytes * nthr);
    const float *w = b->data;
    memset(wt, 0, (size_t)wtbytes);
    /* result channel r's column of its block: r0 = r rounded down to 32, width wb = 32 or the last 16;
     * row (c, t) of FWD holds w[o = r, c, t], row (o, t) of DX w[o, c = r, 8 - t] (one loop each, with no
     * index arithmetic per weight: this runs on one thread before the team starts) */
    for (int64_t r = 0; r < q.co; r++) {
        const int64_t r0 = r / 32 * 32, wb = r0 + 32 <= q.cop ? 32 : 16;
        float *d = wt + r0 * k + r - r0;
        if (kind == PG_CV_FWD)
            for (int64_t e = 0; e < k; e++) d[e * wb] = w[r * k + e];
        else
            for (int64_t o = 0; o < cv->o; o++, d += 9 * wb)
                for (int64_t t = 0; t < 9; t++) d[(8 - t) * wb] = w[(o * cv->c + r) * 9 + t];
    }
    q.wt = wt;
    q.work = base;
    atomic_init(&q.next, 0);
    pg_unlocked u = pg__unlock_host(macs < 9e18 ? (int64_t)macs : INT64_MAX);
    pg__parallel_dynamic(pg__cvd_job, &q, nthr);
    pg__relock_host(u);
    free(buf);
    return PG_OK;
}

/* ---- few channels, read in place: float32 on AVX-512, stride 1, dilation 1, one group, OW = W ----
 * When the result's rows are as wide as the source's (a "same" padding in width), 16 consecutive result
 * pixels p (flattened oy*OW + ox, rows included) read, for each tap (i, j), 16 consecutive source
 * pixels p + (i - pt)*WS + (j - pl), some of them outside the image (a column past the edge, a row
 * above or below): a masked load reads the others straight from the tensor, the mask (per vector of
 * the image and tap) zeroing the rest. So these products need no copy of either operand, no col
 * matrix, no packing and no transpose, which is what they cost most when the taps are few (C = 1 or 3
 * input channels: K = 9 or 27 taps, where a GEMM's packing costs as much as its multiply-adds):
 *
 *   y  = conv(x, w):     y[o, p]  = Σ_(c,i,j) w[o, c, i, j] x[c, p + (i - pt)*W + (j - pl)]
 *   dx = conv^T(gy, w):  dx[c, p] = Σ_(o,i,j) w[o, c, KH-1-i, KW-1-j] gy[o, p + (i - pt')*W + (j - pl')]
 *                        (the "full" convolution: pt' = KH-1-pt, pl' = KW-1-pl)
 *   dw = (x, gy):        dw[o, c, i, j] = Σ_n Σ_p gy[n, o, p] x[n, c, p + (i - pt)*W + (j - pl)]
 *
 * y and dx: register tiles of MR result channels (the weights broadcast) by NV vectors of 16 pixels
 * (anywhere in the unit's images), summed over the taps (c, i, j) in order and stored once, straight
 * into NCHW. dw: tiles of 8 result channels by 3 taps whose vectors
 * of 16 pixels are summed lane by lane, as the implicit path's (a lane buffer per slot, the slots dealt
 * the chunks of images in turn, added in order, each element's 16 lanes summed last). Every sum's
 * order is fixed by the geometry: the result does not depend on the number of threads. */

typedef struct pg_cvs {
    int64_t cs, hs, ws;     /* the source (CS, HS, WS) */
    int64_t co, oh, ow, l;  /* the result (CO, OH, OW), OW = WS, l = OH*OW */
    int64_t kh, kw, kk, k;  /* the kernel, KH*KW taps, K = CS*KH*KW */
    int64_t nvec;           /* vectors of 16 pixels per image, ceil(l / 16) */
    const int64_t *toff;    /* (K): tap (c, i, j) at c*HS*WS + (i - pt)*WS + (j - pl) from the result pixel, in bytes */
    const __mmask16 *masks; /* (nvec + 1, K): the lanes of vector u whose tap (c, i, j) is inside the source
                               (the same for every c); a last row of zeros */
} pg_cvs;

/* dst[v] + m*l (masked by smask[v]) = Σ_t wp[t*MR + m] src[v][toff[t]], m < MR, v < NV */
PG_CVI_INLINE void pg__cvs_tile(const int mr, const int nv, const pg_cvs *q, const float *wp, const float *const *src,
                                float *const *dst, const __mmask16 *const *lm, const __mmask16 *smask) {
    __m512 acc[8][8], xv[8];
    const int64_t k = q->k, l = q->l;
    const int64_t *toff = q->toff;
    uintptr_t s[8];
    const __mmask16 *mrow[8];
    PG_CVI_UNROLL for (int v = 0; v < nv; v++) {
        s[v] = (uintptr_t)src[v];
        mrow[v] = lm[v];
    }
    /* the first tap's products start the sums (0 + a*b rounds as a*b: the same bits as from zero) */
    PG_CVI_UNROLL for (int v = 0; v < nv; v++) xv[v] = _mm512_maskz_loadu_ps(mrow[v][0], (const void *)(s[v] + (uintptr_t)toff[0]));
    PG_CVI_UNROLL for (int m = 0; m < mr; m++) {
        const __m512 wv = _mm512_set1_ps(wp[m]);
        PG_CVI_UNROLL for (int v = 0; v < nv; v++) acc[m][v] = _mm512_mul_ps(wv, xv[v]);
    }
    wp += mr;
    for (int64_t t = 1; t < k; t++, wp += mr) {
        /* lanes outside the source are masked (never read), so the address may leave it */
        const uintptr_t off = (uintptr_t)toff[t];
        PG_CVI_UNROLL for (int v = 0; v < nv; v++) xv[v] = _mm512_maskz_loadu_ps(mrow[v][t], (const void *)(s[v] + off));
        PG_CVI_UNROLL for (int m = 0; m < mr; m++) {
            const __m512 wv = _mm512_set1_ps(wp[m]);
            PG_CVI_UNROLL for (int v = 0; v < nv; v++) acc[m][v] = _mm512_fmadd_ps(wv, xv[v], acc[m][v]);
        }
    }
    PG_CVI_UNROLL for (int v = 0; v < nv; v++) {
        const __mmask16 sm = smask[v];
        float *d = dst[v];
        PG_CVI_UNROLL for (int m = 0; m < mr; m++) _mm512_mask_storeu_ps(d + m * l, sm, acc[m][v]);
    }
}

/* vectors [0, nvt) of a unit (the lists run on to a multiple of NV with vectors that read and store
 * nothing) by result channels o0 .. o0 + nob*MR - 1, weights wp (nob, K, MR) */
#define PG_CVS_PASS(MR, NV)                                                                                   \
    PG_CVI_TARGET PG_NOINLINE static void pg__cvs_pass_##MR(const pg_cvs *q, int64_t nvt, const float *const *src, \
                                                            float *const *dst, const __mmask16 *const *lm,     \
                                                            const __mmask16 *smask, int64_t o0, int64_t nob,   \
                                                            const float *wp) {                                 \
        for (int64_t b = 0; b < nob; b++) {                                                                    \
            float *dd[NV];                                                                                     \
            for (int64_t v0 = 0; v0 < nvt; v0 += NV) {                                                         \
                for (int v = 0; v < NV; v++) dd[v] = dst[v0 + v] + (o0 + b * MR) * q->l;                       \
                pg__cvs_tile(MR, NV, q, wp + b * q->k * MR, src + v0, dd, lm + v0, smask + v0);                \
            }                                                                                                  \
        }                                                                                                      \
    }
PG_CVS_PASS(8, 3)
PG_CVS_PASS(7, 3)
PG_CVS_PASS(6, 4)
PG_CVS_PASS(5, 4)
PG_CVS_PASS(4, 6)
PG_CVS_PASS(3, 8)
PG_CVS_PASS(2, 8)
PG_CVS_PASS(1, 8)
#define PG_CVS_NVMAX 8 /* the lists' padding */

typedef void (*pg_cvs_pass_fn)(const pg_cvs *, int64_t, const float *const *, float *const *, const __mmask16 *const *,
                               const __mmask16 *, int64_t, int64_t, const float *);
static const pg_cvs_pass_fn pg__cvs_passes[9] = {NULL,           pg__cvs_pass_1, pg__cvs_pass_2, pg__cvs_pass_3,
                                                 pg__cvs_pass_4, pg__cvs_pass_5, pg__cvs_pass_6, pg__cvs_pass_7,
                                                 pg__cvs_pass_8};

/* lane buffer (CO, K, 16) rows o0 .. o0+MO-1, taps k0 .. k0+2 (those that exist) (+)= the lanes of
 * gy[b, o, p] x[b, c, p + toff[(c, i, j)]] over images b < cnt and their pixels; gy (cnt, CO, l), x (cnt, CS, HS, WS).
 * Per vector of pixels: the 3 taps' vectors of x, then each result channel's vector of gy times each
 * (24 sums, 3 taps and 1 gradient in registers) */
PG_CVI_INLINE void pg__cvs_dw_tile_k(const int mo, const pg_cvs *q, float *lane, int64_t o0, int64_t k0,
                                     const float *gy, const float *x, int64_t cnt, bool acc_in) {
    enum { NK = 3 };
    const int64_t nk = q->k - k0 < NK ? q->k - k0 : NK, l = q->l, nt = q->k;
    const int64_t xstep = q->cs * q->hs * q->ws, gstep = q->co * l, last = l % 16 ? q->nvec - 1 : q->nvec;
    const __mmask16 lastm = (__mmask16)(l % 16 ? (1u << (l % 16)) - 1 : 0xffffu);
    int64_t ko[NK], kt[NK];
    PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++) {
        kt[kk] = k0 + (kk < nk ? kk : 0);
        ko[kk] = q->toff[kt[kk]];
    }
    __m512 acc[8][NK];
    PG_CVI_UNROLL for (int m = 0; m < mo; m++)
        PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++)
            acc[m][kk] = acc_in && kk < nk ? _mm512_load_ps(lane + ((o0 + m) * q->k + k0 + kk) * 16) : _mm512_setzero_ps();
    const float *gb = gy + o0 * l;
    for (int64_t b = 0; b < cnt; b++, x += xstep, gb += gstep) {
        const __mmask16 *lm = q->masks;
        for (int64_t u = 0; u < q->nvec; u++, lm += nt) {
            const __mmask16 gm = u < last ? (__mmask16)0xffffu : lastm;
            __m512 xv[NK];
            PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++)
                xv[kk] = _mm512_maskz_loadu_ps(lm[kt[kk]], (const void *)((uintptr_t)(x + u * 16) + (uintptr_t)ko[kk]));
            const float *g = gb + u * 16;
            PG_CVI_UNROLL for (int m = 0; m < mo; m++, g += l) {
                const __m512 gv = _mm512_maskz_loadu_ps(gm, g);
                PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++) acc[m][kk] = _mm512_fmadd_ps(gv, xv[kk], acc[m][kk]);
            }
        }
    }
    PG_CVI_UNROLL for (int m = 0; m < mo; m++)
        PG_CVI_UNROLL for (int kk = 0; kk < NK; kk++)
            if (kk < nk) _mm512_store_ps(lane + ((o0 + m) * q->k + k0 + kk) * 16, acc[m][kk]);
}
PG_CVI_TARGET PG_NOINLINE static void pg__cvs_dw_tile(const pg_cvs *q, float *lane, int64_t o0, int64_t k0,
                                                      const float *gy, const float *x, int64_t cnt, bool acc_in) {
    switch (q->co - o0 < 8 ? q->co - o0 : 8) { /* 8 result channels, or the last few */
    case 1: pg__cvs_dw_tile_k(1, q, lane, o0, k0, gy, x, cnt, acc_in); break;
    case 2: pg__cvs_dw_tile_k(2, q, lane, o0, k0, gy, x, cnt, acc_in); break;
    case 3: pg__cvs_dw_tile_k(3, q, lane, o0, k0, gy, x, cnt, acc_in); break;
    case 4: pg__cvs_dw_tile_k(4, q, lane, o0, k0, gy, x, cnt, acc_in); break;
    case 5: pg__cvs_dw_tile_k(5, q, lane, o0, k0, gy, x, cnt, acc_in); break;
    case 6: pg__cvs_dw_tile_k(6, q, lane, o0, k0, gy, x, cnt, acc_in); break;
    case 7: pg__cvs_dw_tile_k(7, q, lane, o0, k0, gy, x, cnt, acc_in); break;
    default: pg__cvs_dw_tile_k(8, q, lane, o0, k0, gy, x, cnt, acc_in); break;
    }
}

typedef struct pg_cvs_job {
    const pg_cvs *q;
    int kind;
    float *out;             /* FWD, DX: the result (N, CO, OH, OW); DW: the slots' lane buffers */
    const float *src;       /* the source images (N, CS, HS, WS) */
    const float *gy;        /* DW: (N, CO, l) */
    const float *wp;        /* FWD, DX: the weights by blocks of 8 result channels, (K, 8) each, then the rest */
    char *work;             /* FWD, DX: [team][workbytes]: the vector lists */
    int64_t n, ch, units, workbytes, lanebytes;
    atomic_llong next;
} pg_cvs_job;

static void pg__cvs_job(void *ctx, const pg_team *team) {
    pg_cvs_job *jb = ctx;
    const pg_cvs *q = jb->q;
    const int64_t cap = jb->ch * q->nvec + PG_CVS_NVMAX, nchunks = (jb->n + jb->ch - 1) / jb->ch;
    const float **srcv = (const float **)(jb->work + team->tid * jb->workbytes);
    float **dstv = (float **)(srcv + cap);
    const __mmask16 **lmv = (const __mmask16 **)(dstv + cap);
    __mmask16 *smask = (__mmask16 *)(lmv + cap);
    const __mmask16 last = (__mmask16)(q->l % 16 ? (1u << (q->l % 16)) - 1 : 0xffffu);
    const int64_t shw = q->cs * q->hs * q->ws, ol = q->co * q->l;
    for (;;) {
        const int64_t i = atomic_fetch_add_explicit(&jb->next, 1, memory_order_relaxed);
        if (i >= jb->units) return;
        if (jb->kind == PG_CV_DW) { /* slot i: chunks i, i + units, ... in order */
            float *lane = (float *)((char *)jb->out + i * jb->lanebytes);
            for (int64_t qc = i; qc < nchunks; qc += jb->units) {
                const int64_t n0 = qc * jb->ch, cnt = jb->n - n0 < jb->ch ? jb->n - n0 : jb->ch;
                for (int64_t o0 = 0; o0 < q->co; o0 += 8)
                    for (int64_t k0 = 0; k0 < q->k; k0 += 3)
                        pg__cvs_dw_tile(q, lane, o0, k0, jb->gy + n0 * ol, jb->src + n0 * shw, cnt, qc > i);
            }
            continue;
        }
        const int64_t n0 = i * jb->ch, cnt = jb->n - n0 < jb->ch ? jb->n - n0 : jb->ch;
        int64_t nvt = 0;
        for (int64_t b = 0; b < cnt; b++)
            for (int64_t u = 0; u < q->nvec; u++, nvt++) {
                srcv[nvt] = jb->src + (n0 + b) * shw + u * 16;
                dstv[nvt] = jb->out + (n0 + b) * ol + u * 16;
                lmv[nvt] = q->masks + u * q->k;
                smask[nvt] = u == q->nvec - 1 ? last : (__mmask16)0xffffu;
            }
        /* vectors that fill the last tile: every load masked off (the row of zero masks past the table), no store */
        for (int64_t v = nvt; v < nvt + PG_CVS_NVMAX; v++) {
            srcv[v] = srcv[0];
            dstv[v] = dstv[0];
            lmv[v] = q->masks + q->nvec * q->k;
            smask[v] = 0;
        }
        const int64_t nfull = q->co / 8, rest = q->co % 8;
        if (nfull) pg__cvs_pass_8(q, nvt, srcv, dstv, lmv, smask, 0, nfull, jb->wp);
        if (rest) pg__cvs_passes[rest](q, nvt, srcv, dstv, lmv, smask, nfull * 8, 1, jb->wp + nfull * 8 * q->k);
    }
}

/* Whether a product goes through pg__cvs_run: pg__cvi_ok's conditions, rows of the result as wide as the
 * source's, and few input channels (at most PG_CVS_MAXC: the products' K, or dx's result channels, are
 * few; dw's lane buffers are small). Measured (1 thread, 3 x 3, 1 or 3 input channels): dx beats the
 * implicit path by 25-55% at every size, and so does dx of 4 x 4 images with more channels (by 5%); y
 * and dw beat the implicit path and the planes' dw on 8 x 8 images (by 10-30%: their copies and
 * transposes cost as much as the few taps' multiply-adds) but not on 32 x 32 ones (by 5-15%: there
 * the copies are cheap next to the work, and the masked loads, one mask each, cost more than plain
 * loads of the copies) */
#define PG_CVS_MAXC 4
static bool pg__cvs_ok(int kind, const pg_cv *cv) {
    if (cv->ow != cv->w || cv->o > 4096 || cv->c > 4096 || cv->kh * cv->kw > 64) return false;
    const bool few = cv->c <= PG_CVS_MAXC;
    if (kind == PG_CV_DX ? !few && cv->l > 16 : !few || cv->l >= 256) return false;
    return pg__cvi_ok(cv);
}

/* out = FWD y = conv(a=x, b=w), DX dx = conv^T(a=gy, b=w), DW dw = (a=x, b=gy), float32, nonempty, pg__cvs_ok */
static pg_status pg__cvs_run(int kind, const pg_cv *cv, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    pg_cvs q;
    int64_t pt, pl;
    if (kind == PG_CV_DX) {
        q = (pg_cvs){.cs = cv->o, .hs = cv->oh, .ws = cv->ow, .co = cv->c, .oh = cv->h, .ow = cv->w};
        pt = cv->kh - 1 - cv->pt;
        pl = cv->kw - 1 - cv->pl;
    } else {
        q = (pg_cvs){.cs = cv->c, .hs = cv->h, .ws = cv->w, .co = cv->o, .oh = cv->oh, .ow = cv->ow};
        pt = cv->pt;
        pl = cv->pl;
    }
    q.l = q.oh * q.ow;
    q.kh = cv->kh;
    q.kw = cv->kw;
    q.kk = q.kh * q.kw;
    q.k = q.cs * q.kk;
    q.nvec = (q.l + 15) / 16;
    /* images per unit: about 256 pixels (y, dx: a unit's vector lists), 1024 (dw: a chunk, each of whose
     * tiles keeps its sums in registers over the chunk's pixels and reads its 8 result channels' gradient
     * from L1) */
    const int64_t px = kind == PG_CV_DW ? 1024 : 256;
    int64_t ch = q.l >= px ? 1 : px / q.l;
    if (kind != PG_CV_DW) { /* a multiple of 24 vectors when it takes few images: no tile of NV = 3, 4, 6 or 8 runs short */
        int64_t gcd = 24, r = q.nvec;
        while (r) {
            const int64_t t = gcd % r;
            gcd = r;
            r = t;
        }
        ch = (ch + 24 / gcd - 1) / (24 / gcd) * (24 / gcd);
    }
    const int64_t nchunks = (cv->n + ch - 1) / ch;
    const int64_t units = kind == PG_CV_DW ? (nchunks < PG_CVI_SLOTS ? nchunks : PG_CVI_SLOTS) : nchunks;
    double macs = (double)cv->n * (double)cv->o * (double)cv->k * (double)cv->l;
    int nthr = pg__threads_for(macs < 9e18 ? (int64_t)macs : INT64_MAX, (int64_t)PG_CV_GRAIN);
    if (nthr > units) nthr = (int)units;
    if (nthr < 1) nthr = 1;
    const int64_t cap = ch * q.nvec + PG_CVS_NVMAX;
    const int64_t workbytes = kind == PG_CV_DW ? 0 : (cap * (int64_t)(3 * sizeof(void *) + sizeof(__mmask16)) + 63) / 64 * 64;
    const int64_t wpbytes = kind == PG_CV_DW ? 0 : ((int64_t)sizeof(float) * q.co * q.k + 63) / 64 * 64;
    const int64_t lanebytes = kind == PG_CV_DW ? (int64_t)sizeof(float) * q.co * q.k * 16 : 0;
    const int64_t maskbytes = ((int64_t)sizeof(__mmask16) * (q.nvec + 1) * q.k + 63) / 64 * 64;
    const int64_t offbytes = ((int64_t)sizeof(int64_t) * q.k + 63) / 64 * 64;
    char *buf = malloc((size_t)(lanebytes * units + workbytes * nthr + wpbytes + maskbytes + offbytes) + 64);
    if (!buf)
        return pg__fail(PG_ERR_MEMORY, "%s: out of memory for the weights and masks",
                        pg_optable[kind == PG_CV_FWD ? PG_OP_CONV2D : kind == PG_CV_DX ? PG_OP_CONV2D_INPUT_GRAD
                                                                                        : PG_OP_CONV2D_WEIGHT_GRAD]->name);
    char *base = (char *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
    float *lanes = (float *)base, *wp = (float *)(base + lanebytes * units + workbytes * nthr);
    __mmask16 *masks = (__mmask16 *)((char *)wp + wpbytes);
    int64_t *toff = (int64_t *)((char *)masks + maskbytes);
    for (int64_t c = 0, t = 0; c < q.cs; c++)
        for (int64_t i = 0; i < q.kh; i++)
            for (int64_t j = 0; j < q.kw; j++, t++)
                toff[t] = (c * q.hs * q.ws + (i - pt) * q.ws + (j - pl)) * (int64_t)sizeof(float);
    /* the masks of the first channel, then copied to the others': per vector, the lanes whose window row
     * i - pt is inside the source (a range of pixels, as the rows are) and those whose column j - pl is
     * (lane by lane, each lane's column counted on from the last), ANDed per tap; each mask is built in a
     * register (an OR into the table per pixel and tap chained every tap's sum through memory: the
     * setup cost as much as the products of 8 x 8 images with one input channel) */
    memset(masks, 0, (size_t)maskbytes);
    for (int64_t u = 0, ox = 0; u < q.nvec; u++) {
        uint32_t colm[PG_CVI_MAXK] = {0};
        const int64_t p0 = u * 16;
        for (int e = 0; e < 16 && p0 + e < q.l; e++) {
            for (int64_t j = 0; j < q.kw; j++) {
                const int64_t sx = ox + j - pl;
                if (sx >= 0 && sx < q.ws) colm[j] |= 1u << e;
            }
            if (++ox == q.ow) ox = 0;
        }
        for (int64_t i = 0; i < q.kh; i++) {
            /* the pixels p of rows oy = p / OW with 0 <= oy + i - pt < HS, and p < l */
            int64_t lo = (pt - i) * q.ow - p0, hi = (q.hs + pt - i) * q.ow - p0;
            if (hi > q.l - p0) hi = q.l - p0;
            if (lo < 0) lo = 0;
            if (hi > 16) hi = 16;
            const uint32_t rm = hi > lo ? (uint32_t)(((1ull << hi) - 1) & ~((1ull << lo) - 1)) : 0;
            for (int64_t j = 0; j < q.kw; j++) masks[u * q.k + i * q.kw + j] = (__mmask16)(rm & colm[j]);
        }
    }
    for (int64_t u = 0; u < q.nvec; u++)
        for (int64_t c = 1; c < q.cs; c++) memcpy(masks + u * q.k + c * q.kk, masks + u * q.k, sizeof(__mmask16) * (size_t)q.kk);
    q.toff = toff;
    q.masks = masks;
    if (kind != PG_CV_DW) { /* wp: blocks of 8 result channels, then the rest (mr), each in the tiles' order */
        const float *w = b->data;
        for (int64_t r = 0; r < q.co; r++) {
            const int64_t blk = r / 8, mr = blk < q.co / 8 ? 8 : q.co % 8;
            float *d = wp + blk * 8 * q.k + r % 8;
            for (int64_t c = 0; c < q.cs; c++)
                for (int64_t t = 0; t < q.kk; t++, d += mr)
                    *d = kind == PG_CV_FWD ? w[(r * q.cs + c) * q.kk + t] /* W[o, (c, t)] = w[o, c, t] */
                                           : w[(c * q.co + r) * q.kk + q.kk - 1 - t]; /* w[o, c, flipped t] */
        }
    }
    pg_cvs_job jb = {.q = &q, .kind = kind, .out = kind == PG_CV_DW ? lanes : out->data, .src = a->data,
                     .gy = kind == PG_CV_DW ? b->data : NULL, .wp = wp, .work = base + lanebytes * units, .n = cv->n,
                     .ch = ch, .units = units, .workbytes = workbytes, .lanebytes = lanebytes};
    atomic_init(&jb.next, 0);
    return pg__cv_lanes_run(pg__cvs_job, &jb, nthr, macs, kind == PG_CV_DW ? out->data : NULL, lanes, q.co * q.k,
                            units, lanebytes, buf);
}

/* ---- y and dx by rows: float32 on AVX-512, 3 x 3 kernels, stride 1, dilation 1, one group, results
 * whose rows are whole vectors of 16 pixels (OW a multiple of 16), or half vectors (OW = WS = 8) ----
 * The same direct convolution as pg__cvd_run (the source S: x for y, gy padded by 2 - pt, 2 - pl for dx,
 * the weights flipped), read in place through masked loads as pg__cvs_run, but the tile is R result rows
 * by one vector of 16 columns by CO result channels: for each source channel c and kernel column j, the
 * R + 2 source rows the tile's windows reach are loaded once each (a masked load: the lanes whose column,
 * or the whole row, fall outside S are zeros) and each is multiplied into the up to 3 result rows whose
 * window holds it (kernel row i), by the 3*CO weights of (c, i, j) broadcast. So a load feeds up to
 * 3*CO multiply-adds, where pg__cvs_run's feed MR: with few result channels (dx of a first layer, CO = 3)
 * its tile is mostly empty, and here it is full:
 *
 *   r[m, y, x] = Σ_c Σ_j Σ_i W[(c, i, j), m] S[c, y + i - pt, x + j - pl]      (in this order)
 *
 * Rows of 8 (8 x 8 images) go two a vector: the loads are of two source rows, 2R + 1 of them, vector y
 * reading loads 2y + i (a load feeds the vector of kernel row 0 and the one above it of kernel row 2).
 * A last row tile that would run past the result computes R rows and keeps those inside it. One image is one unit of work: the result does
 * not depend on the number of threads. */
typedef struct pg_cvr {
    int64_t cs, hs, ws;    /* the source (CS, HS, WS) */
    int64_t co, oh, ow;    /* the result (CO, OH, OW), OW a multiple of 16 */
    int64_t pt, pl;        /* the source's padding at the top and left (0 to 2) */
    int64_t k;             /* CS*9 */
    const float *src;      /* (N, CS, HS, WS) */
    float *out;            /* (N, CO, OH, OW) */
    const float *wp;       /* blocks of result channels (pg__cvr_blocks), (K, CO_b) each, row (c*3 + i)*3 + j */
    int64_t n;
    atomic_llong next;
} pg_cvr;

/* the result channels of block b of the blocking of co: blocks of 4, the last the rest (co % 4), or
 * blocks of 3 when co is 3 */
static int64_t pg__cvr_width(int64_t co, int64_t b) { return co - b * 4 < 4 ? co - b * 4 : 4; }

/* rows y0 .. y0+nr-1 (nr <= R: the tile computes R, keeps nr), columns x0 .. x0+15, channels m0 ..
 * m0+CO-1 of r (image s -> d); EDGE: some of the source rows the tile reaches lie outside S */
PG_CVI_INLINE void pg__cvr_tile(const int R, const int CO, const int S, const bool edge, const pg_cvr *q, const float *s,
                                float *d, const float *wp, int64_t y0, int64_t nr, int64_t x0, const __mmask16 *cm) {
    const int64_t ohw = q->oh * q->ow;
    const int nl = (R - 1) * S + 3; /* the loads per (c, j): vector y reads loads y*S + i */
    /* sums per kernel row i when the tile has few (an 8 x 8 image's 4 vectors by 1 or 2 channels: 4 or 8
     * chains of dependent multiply-adds would leave the FMA units waiting), added in order at the end */
    const int NS = S == 2 && CO <= 2 ? 3 : 1;
    __m512 acc[3][8][4];
    PG_CVI_UNROLL for (int h = 0; h < NS; h++)
        PG_CVI_UNROLL for (int y = 0; y < R; y++)
            PG_CVI_UNROLL for (int m = 0; m < CO; m++) acc[h][y][m] = _mm512_setzero_ps();
    const int64_t ws = q->ws, hws = q->hs * q->ws, sy0 = y0 - q->pt;
    __mmask16 rm[24]; /* per load (S source rows from row sy0 + r): the lanes of the rows inside the source */
    if (edge)
        PG_CVI_UNROLL16 for (int r = 0; r < nl; r++) {
            rm[r] = 0;
            PG_CVI_UNROLL for (int h = 0; h < S; h++)
                if (sy0 + r + h >= 0 && sy0 + r + h < q->hs) rm[r] |= (__mmask16)((0xffffu >> (16 - 16 / S)) << (h * 16 / S));
        }
    const uintptr_t base = (uintptr_t)s + (uintptr_t)((sy0 * ws + x0 - q->pl) * (int64_t)sizeof(float));
    for (int64_t c = 0; c < q->cs; c++)
        PG_CVI_UNROLL for (int j = 0; j < 3; j++) {
            /* lanes outside S are masked (never read), so the address may leave it */
            const uintptr_t p = base + (uintptr_t)((c * hws + j) * (int64_t)sizeof(float));
            const float *wt = wp + (c * 9 + j) * CO; /* W[(c, i, j), m] at wt[i*3*CO + m] */
            __m512 wv[3][4];
            PG_CVI_UNROLL for (int i = 0; i < 3; i++)
                PG_CVI_UNROLL for (int m = 0; m < CO; m++) wv[i][m] = _mm512_set1_ps(wt[i * 3 * CO + m]);
            PG_CVI_UNROLL16 for (int r = 0; r < nl; r++) {
                const __mmask16 mk = edge ? (__mmask16)(cm[j] & rm[r]) : cm[j];
                const __m512 v = _mm512_maskz_loadu_ps(mk, (const void *)(p + (uintptr_t)(r * ws * (int64_t)sizeof(float))));
                PG_CVI_UNROLL for (int i = 0; i < 3; i++) {
                    if ((r - i) % S) continue;
                    const int y = (r - i) / S;
                    if (r < i || y >= R) continue;
                    PG_CVI_UNROLL for (int m = 0; m < CO; m++)
                        acc[NS == 3 ? i : 0][y][m] = _mm512_fmadd_ps(wv[i][m], v, acc[NS == 3 ? i : 0][y][m]);
                }
            }
        }
    if (NS == 3)
        PG_CVI_UNROLL for (int y = 0; y < R; y++)
            PG_CVI_UNROLL for (int m = 0; m < CO; m++)
                acc[0][y][m] = _mm512_add_ps(_mm512_add_ps(acc[0][y][m], acc[1 % NS][y][m]), acc[2 % NS][y][m]);
    PG_CVI_UNROLL for (int y = 0; y < R; y++)
        if (y < nr)
            PG_CVI_UNROLL for (int m = 0; m < CO; m++) _mm512_storeu_ps(d + m * ohw + (y0 + y * S) * q->ow + x0, acc[0][y][m]);
}

/* one block of CO result channels (d: its first channel) of one image: every row tile, every column; a
 * vector is one row of 16 columns (S = 1) or two rows of 8 (S = 2: OW = WS = 8) */
PG_CVI_INLINE void pg__cvr_block(const int R, const int CO, const int S, const pg_cvr *q, const float *s, float *d,
                                 const float *wp) {
    const int64_t nx = S == 1 ? q->ow / 16 : 1;
    for (int64_t y0 = 0; y0 < q->oh; y0 += R * S) {
        const int64_t nr = (q->oh - y0) / S < R ? (q->oh - y0) / S : R;
        const bool edge = y0 - q->pt < 0 || y0 - q->pt + (R - 1) * S + 3 + S - 1 > q->hs;
        for (int64_t t = 0; t < nx; t++) {
            __mmask16 cm[3]; /* per kernel column: the lanes whose source column is inside S */
            for (int j = 0; j < 3; j++) {
                cm[j] = 0;
                for (int e = 0; e < 16; e++) {
                    const int64_t sx = (S == 1 ? t * 16 + e : e % 8) + j - q->pl;
                    if (sx >= 0 && sx < q->ws) cm[j] |= (__mmask16)(1u << e);
                }
            }
            if (edge) pg__cvr_tile(R, CO, S, true, q, s, d, wp, y0, nr, t * 16, cm);
            else pg__cvr_tile(R, CO, S, false, q, s, d, wp, y0, nr, t * 16, cm);
        }
    }
}

/* the rows of a tile per block width CO (R*CO sums, 3*CO weights and a row in registers) */
#define PG_CVR_R4 4
#define PG_CVR_R3 6
#define PG_CVR_R2 8
#define PG_CVR_R1 8
PG_CVI_TARGET PG_NOINLINE static void pg__cvr_image(const pg_cvr *q, const float *s, float *d) {
    const int64_t ohw = q->oh * q->ow;
    for (int64_t b = 0, m0 = 0; m0 < q->co; b++) {
        const int64_t cw = pg__cvr_width(q->co, b);
        const float *wp = q->wp + m0 * q->k;
        if (q->ow == 8) /* rows of 8, two a vector: tiles of 4 vectors (an 8 x 8 image) */
            switch (cw) {
            case 4: pg__cvr_block(4, 4, 2, q, s, d + m0 * ohw, wp); break;
            case 3: pg__cvr_block(4, 3, 2, q, s, d + m0 * ohw, wp); break;
            case 2: pg__cvr_block(4, 2, 2, q, s, d + m0 * ohw, wp); break;
            default: pg__cvr_block(4, 1, 2, q, s, d + m0 * ohw, wp); break;
            }
        else
            switch (cw) {
            case 4: pg__cvr_block(PG_CVR_R4, 4, 1, q, s, d + m0 * ohw, wp); break;
            case 3: pg__cvr_block(PG_CVR_R3, 3, 1, q, s, d + m0 * ohw, wp); break;
            case 2: pg__cvr_block(PG_CVR_R2, 2, 1, q, s, d + m0 * ohw, wp); break;
            default: pg__cvr_block(PG_CVR_R1, 1, 1, q, s, d + m0 * ohw, wp); break;
            }
        m0 += cw;
    }
}

static void pg__cvr_job(void *ctx, const pg_team *team) {
    (void)team;
    pg_cvr *q = ctx;
    const int64_t shw = q->cs * q->hs * q->ws, ol = q->co * q->oh * q->ow;
    for (;;) {
        const int64_t i = atomic_fetch_add_explicit(&q->next, 1, memory_order_relaxed);
        if (i >= q->n) return;
        pg__cvr_image(q, q->src + i * shw, q->out + i * ol);
    }
}

/* Whether y (kind FWD) or dx (DX) goes through pg__cvr_run: pg__cvi_ok's conditions, a 3 x 3 kernel,
 * padding 0 to 2, few result channels (at most PG_CVR_MAXC), the result's rows whole vectors (up to
 * PG_CVI_MAXW), or rows of 8 as the source's, an even number of them. Measured (1 thread, N = 64): dx of
 * 32 -> 3 channels on 32 x 32 images 23-32% faster than pg__cvs_run (whose tile has 3 rows there), dx of
 * 16 -> 1 channel on 8 x 8 images 20% faster; with 32 or 64 result channels the implicit path is 12-22%
 * faster (its copies' aligned loads and tiles of 8 channels by 3 vectors) */
#define PG_CVR_MAXC 4
static bool pg__cvr_ok(int kind, const pg_cv *cv) {
    if (kind == PG_CV_DW || cv->kh != 3 || cv->kw != 3 || cv->pt > 2 || cv->pl > 2) return false;
    if ((kind == PG_CV_FWD ? cv->o : cv->c) > PG_CVR_MAXC) return false;
    const int64_t rh = kind == PG_CV_FWD ? cv->oh : cv->h, rw = kind == PG_CV_FWD ? cv->ow : cv->w;
    const int64_t sw = kind == PG_CV_FWD ? cv->w : cv->ow; /* rows of 8: two a vector, as wide as the source's */
    if (rw == 8 ? sw != 8 || rh % 2 : rw % 16 || rw > PG_CVI_MAXW) return false;
    if (rh > 4096) return false;
    return cv->c <= (1 << 16) && cv->o <= (1 << 16) && pg__cvi_ok(cv);
}

/* out = FWD y = conv(a=x, b=w), DX dx = conv^T(a=gy, b=w), float32, nonempty, pg__cvr_ok */
static pg_status pg__cvr_run(int kind, const pg_cv *cv, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    pg_cvr q = {.src = a->data, .out = out->data, .n = cv->n};
    if (kind == PG_CV_FWD) {
        q.cs = cv->c, q.hs = cv->h, q.ws = cv->w, q.co = cv->o, q.oh = cv->oh, q.ow = cv->ow;
        q.pt = cv->pt, q.pl = cv->pl;
    } else { /* the full convolution of gy: the source gy (O, OH, OW), the result (C, H, W) */
        q.cs = cv->o, q.hs = cv->oh, q.ws = cv->ow, q.co = cv->c, q.oh = cv->h, q.ow = cv->w;
        q.pt = 2 - cv->pt, q.pl = 2 - cv->pl;
    }
    q.k = q.cs * 9;
    double macs = (double)cv->n * (double)cv->o * (double)cv->k * (double)cv->l;
    int nthr = pg__threads_for(macs < 9e18 ? (int64_t)macs : INT64_MAX, (int64_t)PG_CV_GRAIN);
    if (nthr > cv->n) nthr = (int)cv->n;
    if (nthr < 1) nthr = 1;
    float *wp = malloc(sizeof(float) * (size_t)(q.k * q.co) + 64);
    if (!wp)
        return pg__fail(PG_ERR_MEMORY, "%s: out of memory for the weights",
                        pg_optable[kind == PG_CV_FWD ? PG_OP_CONV2D : PG_OP_CONV2D_INPUT_GRAD]->name);
    const float *w = b->data;
    for (int64_t bl = 0, m0 = 0; m0 < q.co; bl++) {
        const int64_t cw = pg__cvr_width(q.co, bl);
        float *d = wp + m0 * q.k;
        for (int64_t c = 0; c < q.cs; c++)
            for (int64_t t = 0; t < 9; t++)
                for (int64_t m = 0; m < cw; m++) /* FWD: w[o = m0 + m, c, t]; DX: w[o = c, m0 + m, 8 - t] */
                    d[(c * 9 + t) * cw + m] = kind == PG_CV_FWD ? w[((m0 + m) * q.cs + c) * 9 + t]
                                                                : w[(c * q.co + m0 + m) * 9 + 8 - t];
        m0 += cw;
    }
    q.wp = wp;
    atomic_init(&q.next, 0);
    pg_unlocked u = pg__unlock_host(macs < 9e18 ? (int64_t)macs : INT64_MAX);
    pg__parallel_dynamic(pg__cvr_job, &q, nthr);
    pg__relock_host(u);
    free(wp);
    return PG_OK;
}

/* Whether a product goes through the implicit GEMM: float32, an AVX-512 CPU with the GEMM on its AVX-512
 * kernel (a kernel chosen by hand keeps the GEMM path), stride 1, dilation 1, one group, small images */
static bool pg__cvi_ok(const pg_cv *cv) {
    if (cv->sh != 1 || cv->sw != 1 || cv->dh != 1 || cv->dw != 1 || cv->g != 1) return false;
    if (cv->ow > PG_CVI_MAXW || cv->w > PG_CVI_MAXW || cv->kh > PG_CVI_MAXK || cv->kw > PG_CVI_MAXK) return false;
    if (cv->l > 4096 || cv->h * cv->w > 4096 || cv->h > 4096 || cv->oh > 4096) return false;
    /* the offsets (int32) of the larger copy, gy's (dx) or x's */
    int64_t cmax = cv->c > cv->o ? cv->c : cv->o;
    if (cmax > (1 << 16) || cmax * cv->kw * ((cv->h + 2 * cv->kh) * PG_CVI_MAXW + 64) > ((int64_t)1 << 30)) return false;
    if (strcmp(pg_gemm_kernel(), "avx512") != 0) return false;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/* out = FWD y = conv(a=x, b=w), DX dx = conv^T(a=gy, b=w), DW dw = (a=x, b=gy), float32; nonempty */
static pg_status pg__cvi_run(int kind, const pg_cv *cv, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    pg_cvi q;
    if (kind == PG_CV_DX)
        pg__cvi_geom(&q, cv->o, cv->oh, cv->ow, cv->c, cv->h, cv->w, cv->kh, cv->kw, cv->kh - 1 - cv->pt,
                     cv->kw - 1 - cv->pl);
    else pg__cvi_geom(&q, cv->c, cv->h, cv->w, cv->o, cv->oh, cv->ow, cv->kh, cv->kw, cv->pt, cv->pl);
    /* images per unit: about 256 pixels (dw), 128 (y, dx) */
    const int64_t px = kind == PG_CV_DW ? 256 : 128;
    int64_t ch = q.l >= px ? 1 : px / q.l;
    const int64_t nchunks = (cv->n + ch - 1) / ch;
    const int64_t units = kind == PG_CV_DW ? (nchunks < PG_CVI_SLOTS ? nchunks : PG_CVI_SLOTS) : nchunks;
    double macs = (double)cv->n * (double)cv->o * (double)cv->k * (double)cv->l;
    int nthr = pg__threads_for(macs < 9e18 ? (int64_t)macs : INT64_MAX, (int64_t)PG_CV_GRAIN);
    if (nthr > units) nthr = (int)units;
    if (nthr < 1) nthr = 1;
    const int64_t cap = ch * q.nvec + 8;
    int64_t workbytes = (int64_t)sizeof(float) * (ch * q.csz + 16) + cap * (int64_t)(2 * sizeof(void *) + sizeof(__mmask16));
    workbytes = (workbytes + 63) / 64 * 64;
    const int64_t wpbytes = kind == PG_CV_DW ? 0 : ((int64_t)sizeof(float) * q.co * q.k + 63) / 64 * 64;
    const int64_t offbytes = ((int64_t)sizeof(int32_t) * q.k + 63) / 64 * 64;
    const int64_t lanebytes = kind == PG_CV_DW ? (int64_t)sizeof(float) * q.co * q.k * 16 : 0;
    char *buf = malloc((size_t)(workbytes * nthr + wpbytes + offbytes + lanebytes * units) + 64);
    if (!buf)
        return pg__fail(PG_ERR_MEMORY, "%s: out of memory for the image copies",
                        pg_optable[kind == PG_CV_FWD ? PG_OP_CONV2D : kind == PG_CV_DX ? PG_OP_CONV2D_INPUT_GRAD
                                                                                        : PG_OP_CONV2D_WEIGHT_GRAD]->name);
    char *base = (char *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
    float *lanes = (float *)(base + workbytes * nthr), *wp = (float *)((char *)lanes + lanebytes * units);
    int32_t *offs = (int32_t *)((char *)wp + wpbytes);
    for (int64_t c = 0, t = 0; c < q.cs; c++)
        for (int64_t i = 0; i < q.kh; i++)
            for (int64_t j = 0; j < q.kw; j++, t++) offs[t] = (int32_t)((c * q.kw + j) * q.bs + i * q.ow);
    if (kind != PG_CV_DW) { /* wp: blocks of 8 result channels (K, 8), then the rest (K, co % 8) */
        const float *w = b->data;
        for (int64_t r = 0; r < q.co; r++) {
            const int64_t blk = r / 8, mr = blk < q.co / 8 ? 8 : q.co % 8, m = r % 8;
            float *d = wp + blk * 8 * q.k + m;
            if (kind == PG_CV_FWD) /* W[o, t] = w[o, t] */
                for (int64_t t = 0; t < q.k; t++) d[t * mr] = w[r * q.k + t];
            else /* W[c, (o, i', j')] = w[o, c, KH-1-i', KW-1-j'] */
                for (int64_t o = 0, t = 0; o < q.cs; o++)
                    for (int64_t i = 0; i < q.kh; i++)
                        for (int64_t j = 0; j < q.kw; j++, t++)
                            d[t * mr] = w[((o * q.co + r) * q.kh + q.kh - 1 - i) * q.kw + q.kw - 1 - j];
        }
    }
    pg_cvi_job jb = {.q = &q, .kind = kind, .out = kind == PG_CV_DW ? lanes : out->data, .src = a->data,
                     .gy = kind == PG_CV_DW ? b->data : NULL, .wp = wp, .offs = offs, .work = base, .n = cv->n,
                     .ch = ch, .units = units, .workbytes = workbytes, .lanebytes = lanebytes};
    atomic_init(&jb.next, 0);
    return pg__cv_lanes_run(pg__cvi_job, &jb, nthr, macs, kind == PG_CV_DW ? out->data : NULL, lanes, q.co * q.k,
                            units, lanebytes, buf);
}
#else
static bool pg__cvi_ok(const pg_cv *cv) { (void)cv; return false; }
static bool pg__cvw_ok(const pg_cv *cv) { (void)cv; return false; }
static bool pg__cvs_ok(int kind, const pg_cv *cv) { (void)kind; (void)cv; return false; }
static pg_status pg__cvs_run(int kind, const pg_cv *cv, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    (void)kind; (void)cv; (void)out; (void)a; (void)b;
    return PG_OK;
}
static bool pg__cvd_ok(int kind, const pg_cv *cv) { (void)kind; (void)cv; return false; }
static bool pg__cvr_ok(int kind, const pg_cv *cv) { (void)kind; (void)cv; return false; }
static pg_status pg__cvr_run(int kind, const pg_cv *cv, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    (void)kind; (void)cv; (void)out; (void)a; (void)b;
    return PG_OK;
}
static pg_status pg__cvd_run(int kind, const pg_cv *cv, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    (void)kind; (void)cv; (void)out; (void)a; (void)b;
    return PG_OK;
}
static pg_status pg__cvw_run(const pg_cv *cv, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    (void)cv; (void)out; (void)a; (void)b;
    return PG_OK;
}
static pg_status pg__cvi_run(int kind, const pg_cv *cv, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    (void)kind; (void)cv; (void)out; (void)a; (void)b;
    return PG_OK;
}
#endif

/* out = one of the three products: FWD y = conv(a=x, b=w), DX dx = conv^T(a=g, b=w), DW dw = (a=x, b=g) */
static pg_status pg__cv_run(int kind, const pg_cv *cv0, pg_tensor *out, const pg_tensor *a, const pg_tensor *b) {
    if (out->numel == 0) return PG_OK;
    const pg_cv *cv = cv0;
    if (a->numel == 0 || b->numel == 0 || (kind == PG_CV_DW && (cv->n == 0 || cv->l == 0))) {
        /* bilinear: an empty operand (C, H or O zero) or an empty sum gives zeros */
        memset(out->data, 0, pg__dtype_size(out->dtype) * (size_t)out->numel);
        return PG_OK;
    }
    bool f64 = out->dtype == PG_DTYPE_F64;
    /* measured (1 thread, float32, 3 x 3): dw from the planes and gyT beats both other paths at every size
     * (4 x 4 to 32 x 32: 41-47% of the FMA peak to 60-73%); the pixel-broadcast direct convolution beats
     * the implicit path for dx at every size and for y up to 8 x 8 images (above, its result's transpose
     * costs more than it gains: 32 x 32, 32 -> 64 channels, 70% against 64%); the implicit path wins from
     * 8 x 8 images on for the rest of y and dx, and from about 16 x 16 on for the rest of dw (below, the
     * GEMM path's weight gradient, one GEMM per group of images, keeps its registers busier) */
    if (!f64 && pg__cvr_ok(kind, cv)) return pg__cvr_run(kind, cv, out, a, b);
    if (!f64 && pg__cvs_ok(kind, cv)) return pg__cvs_run(kind, cv, out, a, b);
    /* dw of few input channels (at most 4) on images of 256 pixels or more: the implicit path, which reads
     * gy as it lies, where the planes' path spends about a quarter of its time transposing it (1-thread
     * CPU time, N = 64: 32 x 32 images, 3 -> 32 channels -5 to -9%, 3 -> 16 -30%; 28 x 28, 1 -> 16 -30%;
     * 16 x 16, 4 -> 8 -50%) */
    if (!f64 && kind == PG_CV_DW && pg__cvw_ok(cv) && !(cv->c <= PG_CVS_MAXC && cv->l >= 256))
        return pg__cvw_run(cv, out, a, b);
    if (!f64 && (kind == PG_CV_DX || (kind == PG_CV_FWD && cv->l <= 64)) && pg__cvd_ok(kind, cv))
        return pg__cvd_run(kind, cv, out, a, b);
    if (!f64 && cv->l >= (kind == PG_CV_DW ? 256 : 64) && pg__cvi_ok(cv)) return pg__cvi_run(kind, cv, out, a, b);
    /* the GEMM path's own copy of the geometry (4 KiB, with the lane permutations it fills): taken here,
     * after the paths above, which read cv0 as it is */
    pg_cv cvi = *cv0;
    cv = &cvi;
    if (pg__cv_img16(cv)) {
        pg__cv_idx16(cv, true, cvi.idx16[0]);
        pg__cv_idx16(cv, false, cvi.idx16[1]);
    }
    size_t es = f64 ? 8 : 4;
    double macs = (double)cv->n * (double)cv->g * (double)cv->og * (double)cv->k * (double)cv->l;
    const int64_t nb = pg__cv_group(cv), ngroups = (cv->n + nb - 1) / nb;
    int64_t units = kind == PG_CV_DW ? pg__cv_slots(cv, ngroups, es) : ngroups;
    int nthr = pg__threads_for(macs < 9e18 ? (int64_t)macs : INT64_MAX, (int64_t)PG_CV_GRAIN);
    if (nthr > units) nthr = (int)units;
    if (nthr < 1) nthr = 1;
    /* a row of col or tmp: ld, or the columns rounded up to whole panels of at most 32 */
    const int64_t ld = pg__cv_ld(nb * cv->l, es), nc32 = (nb * cv->l + 31) / 32 * 32, width = ld > nc32 ? ld : nc32;
    int64_t colbytes = (int64_t)es * cv->k * width;
    colbytes = (colbytes + 63) / 64 * 64; /* the buffers after it stay 64-byte aligned, as packed panels must */
    int64_t tmpbytes = nb > 1 || kind == PG_CV_DX ? ((int64_t)es * cv->og * width + 63) / 64 * 64 : 0;
    if (kind == PG_CV_DW) /* G_g^T in panels (pg__conv_dw_*): og rounded up to whole panels (of at most 32) */
        tmpbytes = ((int64_t)es * ((cv->og + 31) / 32 * 32) * width + 63) / 64 * 64;
    int64_t planebytes = cv->plane ? (int64_t)(es * (size_t)(cv->cg * cv->hq * cv->wq) + 63) / 64 * 64 : 0;
    int64_t workbytes = colbytes + tmpbytes + planebytes;
    int64_t slotbytes = kind == PG_CV_DW ? (int64_t)(es * (size_t)(cv->o * cv->k) + 63) / 64 * 64 : 0; /* dwt */
    char *buf = malloc((size_t)(workbytes * nthr + slotbytes * units) + 64);
    if (!buf) return pg__fail(PG_ERR_MEMORY, "%s: out of memory for the unfolded input", pg_optable[kind == PG_CV_FWD
                              ? PG_OP_CONV2D : kind == PG_CV_DX ? PG_OP_CONV2D_INPUT_GRAD : PG_OP_CONV2D_WEIGHT_GRAD]->name);
    char *base = (char *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
    pg_cv_batch jb = {.cv = cv, .kind = kind, .out = out->data, .a = a->data, .b = b->data, .work = base,
                      .slots = base + workbytes * nthr, .nb = nb, .units = units, .colbytes = colbytes,
                      .tmpbytes = tmpbytes, .workbytes = workbytes, .slotbytes = slotbytes};
    atomic_init(&jb.next, 0);
    pg_unlocked u = pg__unlock_host(macs < 9e18 ? (int64_t)macs : INT64_MAX);
    pg__parallel_dynamic(f64 ? pg__conv_job_f64 : pg__conv_job_f32, &jb, nthr);
    if (kind == PG_CV_DW) {
        if (f64) pg__conv_dw_sum_f64(cv, out->data, jb.slots, slotbytes, units);
        else pg__conv_dw_sum_f32(cv, out->data, jb.slots, slotbytes, units);
    }
    pg__relock_host(u);
    free(buf);
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
