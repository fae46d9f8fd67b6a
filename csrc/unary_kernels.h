/* unary_kernels.h: the machinery of the ops of one input with the input's shape
 * (ops_unary.c, ops_math.c): flat loops for float32 and float64 over ranges of
 * the thread pool, the differentiable-rule wrapper, the entry points, shape
 * inference. Private to the ops layer. */
#ifndef PG_UNARY_KERNELS_H
#define PG_UNARY_KERNELS_H

#include "rules_util.h"

/*
 * PG_UNARY_KERNELS(NAME, FWD, BWD): forward EXPR sees x and the params p;
 * backward EXPR sees g (upstream), x (the saved input, when the row saves
 * it), y (the saved output), p. It is PG_UNARY_FWD_LOOPS + PG_UNARY_BWD_LOOPS
 * (the flat loops) + PG_UNARY_DRIVERS (the ranges, forward and backward);
 * the transcendental ops take their loops from kern_vmath instead
 * (PG_UNARY_VM_KERNELS, PG_UNARY_VM2_KERNELS, below). */

/* Kernels that take a transcendental function from kern_vmath over chunks of PG_VM_CHUNK elements
 * (through the stack), then finish each chunk in plain loops: PG_UNARY_CHUNKED(NAME, FWD, BWD) defines
 * NAME's forward and backward loops with FWD(TT, SUF, o, x, t, c) and BWD(TT, SUF, dx, g, x, y, t, c)
 * statements over chunks of c elements (t: a scratch chunk); the one-element functions run the same
 * statements on one element, so fused replay gives the same values */
#define PG_VM_CHUNK 256
#define PG_UNARY_CHUNKED_T(NAME, TT, SUF, FWD, BWD)                                                      \
    PG_CLONES static void NAME##_fwd_##SUF(TT *o, const TT *xs, int64_t n, const pg_params *p_in) {      \
        const pg_params p_ = p_in ? *p_in : (pg_params){0}, *p = &p_;                                    \
        (void)p;                                                                                         \
        TT t[PG_VM_CHUNK];                                                                               \
        for (int64_t j0 = 0; j0 < n; j0 += PG_VM_CHUNK) {                                                \
            const int64_t c = n - j0 < PG_VM_CHUNK ? n - j0 : PG_VM_CHUNK;                               \
            TT *o_ = o + j0;                                                                             \
            const TT *x_ = xs + j0;                                                                      \
            FWD(TT, SUF, o_, x_, t, c)                                                                   \
        }                                                                                                \
    }                                                                                                    \
    PG_CLONES static void NAME##_bwd_##SUF(TT *dx, const TT *gs, const TT *xs, const TT *ys, int64_t n,  \
                                           const pg_params *p_in) {                                      \
        const pg_params p_ = p_in ? *p_in : (pg_params){0}, *p = &p_;                                    \
        (void)p, (void)ys;                                                                               \
        TT t[PG_VM_CHUNK];                                                                               \
        for (int64_t j0 = 0; j0 < n; j0 += PG_VM_CHUNK) {                                                \
            const int64_t c = n - j0 < PG_VM_CHUNK ? n - j0 : PG_VM_CHUNK;                               \
            TT *d_ = dx + j0;                                                                            \
            const TT *g_ = gs + j0, *x_ = xs + j0;                                                       \
            BWD(TT, SUF, d_, g_, x_, t, c)                                                               \
        }                                                                                                \
    }                                                                                                    \
    static void NAME##_one_##SUF(char *w, const int32_t *o, int64_t n, const void *ctx) {                \
        for (int64_t j = 0; j < n; j++, o += 4)                                                          \
            NAME##_fwd_##SUF((TT *)(w + o[0]), (const TT *)(w + o[1]), 1, ctx);                          \
    }                                                                                                    \
    static void NAME##_bone_##SUF(char *w, const int32_t *o, int64_t n, const void *ctx) {               \
        for (int64_t j = 0; j < n; j++, o += 4)                                                          \
            NAME##_bwd_##SUF((TT *)(w + o[0]), (const TT *)(w + o[1]), (const TT *)(w + o[2]),           \
                             (const TT *)(w + o[3]), 1, ctx);                                            \
    }
#define PG_UNARY_CHUNKED(NAME, FWD, BWD)                                                                 \
    PG_UNARY_CHUNKED_T(NAME, float, f32, FWD, BWD) PG_UNARY_CHUNKED_T(NAME, double, f64, FWD, BWD)      \
    PG_UNARY_DRIVERS(NAME) PG_UNARY_FUSE_ROWS(NAME)

/* fn over [0, n): a direct call when one thread does it all (tiny tensors
 * then skip the dispatch), else split over the pool */
#define PG_UNARY_RUN(n, fn, ctx)                                     \
    do {                                                             \
        if ((n) < 2 * PG_NDITER_GRAIN) fn((ctx), 0, (n));            \
        else pg__parallel_range((n), 64, PG_NDITER_GRAIN, fn, (ctx)); \
    } while (0)

/* the loops' formulas on one element (pg_fuse_one): NAME##_one_f32 / _f64 (forward,
 * o = {out, x}) and NAME##_bone_f32 / _f64 (backward, o = {dx, g, x, y}) */
#define PG_UNARY_SFX_float f32
#define PG_UNARY_SFX_double f64
#define PG_UNARY_CAT_(a, b) a##b
#define PG_UNARY_CAT(a, b) PG_UNARY_CAT_(a, b)
#define PG_UNARY_ONE_FWD(NAME, TT, FWD)                                                               \
    static void PG_UNARY_CAT(NAME##_one_, PG_UNARY_SFX_##TT)(char *w, const int32_t *o, int64_t n,    \
                                                             const void *ctx) {                       \
        typedef TT T;                                                                                 \
        const pg_params *p = ctx;                                                                     \
        (void)p;                                                                                      \
        for (int64_t j = 0; j < n; j++, o += 4) {                                                     \
            T x = *(const T *)(w + o[1]);                                                             \
            *(T *)(w + o[0]) = (FWD);                                                                 \
        }                                                                                             \
    }
#define PG_UNARY_ONE_BWD(NAME, TT, BWD)                                                               \
    static void PG_UNARY_CAT(NAME##_bone_, PG_UNARY_SFX_##TT)(char *w, const int32_t *o, int64_t n,   \
                                                              const void *ctx) {                      \
        typedef TT T;                                                                                 \
        const pg_params *p = ctx;                                                                     \
        (void)p;                                                                                      \
        for (int64_t j = 0; j < n; j++, o += 4) {                                                     \
            T g = *(const T *)(w + o[1]), x = *(const T *)(w + o[2]), y = *(const T *)(w + o[3]);     \
            (void)x, (void)y;                                                                         \
            *(T *)(w + o[0]) = (BWD);                                                                 \
        }                                                                                             \
    }

#define PG_UNARY_FWD_LOOPS(NAME, FWD)                                                              \
    PG_CLONES static void NAME##_fwd_f32(float *o, const float *xs, int64_t n, const pg_params *p_in) {       \
        typedef float T;                                                                         \
        /* a local copy: stores to o cannot change it, so its scalars stay in registers */    \
        const pg_params p_ = p_in ? *p_in : (pg_params){0}, *p = &p_; /* NULL: no params */      \
        (void)p;                                                                                 \
        PG_IVDEP for (int64_t i = 0; i < n; i++) {                                               \
            T x = xs[i];                                                                         \
            o[i] = (FWD);                                                                        \
        }                                                                                        \
    }                                                                                            \
    PG_CLONES static void NAME##_fwd_f64(double *o, const double *xs, int64_t n, const pg_params *p_in) {     \
        typedef double T;                                                                        \
        /* a local copy: stores to o cannot change it, so its scalars stay in registers */    \
        const pg_params p_ = p_in ? *p_in : (pg_params){0}, *p = &p_; /* NULL: no params */      \
        (void)p;                                                                                 \
        PG_IVDEP for (int64_t i = 0; i < n; i++) {                                               \
            T x = xs[i];                                                                         \
            o[i] = (FWD);                                                                        \
        }                                                                                        \
    }                                                                                            \
    PG_UNARY_ONE_FWD(NAME, float, FWD) PG_UNARY_ONE_FWD(NAME, double, FWD)

#define PG_UNARY_BWD_LOOPS(NAME, BWD)                                                           \
    PG_CLONES static void NAME##_bwd_f32(float *dx, const float *gs, const float *xs, const float *ys,     \
                               int64_t n, const pg_params *p) {                                  \
        typedef float T;                                                                         \
        (void)p, (void)xs, (void)ys;                                                             \
        PG_IVDEP for (int64_t i = 0; i < n; i++) {                                               \
            T g = gs[i], x = xs ? xs[i] : 0, y = ys ? ys[i] : 0;                                 \
            (void)x, (void)y;                                                                    \
            dx[i] = (BWD);                                                                       \
        }                                                                                        \
    }                                                                                            \
    PG_CLONES static void NAME##_bwd_f64(double *dx, const double *gs, const double *xs, const double *ys, \
                               int64_t n, const pg_params *p) {                                  \
        typedef double T;                                                                        \
        (void)p, (void)xs, (void)ys;                                                             \
        PG_IVDEP for (int64_t i = 0; i < n; i++) {                                               \
            T g = gs[i], x = xs ? xs[i] : 0, y = ys ? ys[i] : 0;                                 \
            (void)x, (void)y;                                                                    \
            dx[i] = (BWD);                                                                       \
        }                                                                                        \
    }                                                                                            \
    PG_UNARY_ONE_BWD(NAME, float, BWD) PG_UNARY_ONE_BWD(NAME, double, BWD)

#define PG_UNARY_DRIVERS(NAME)                                                                   \
    /* [lo, hi) of a forward (gs == NULL) or backward, for pg__parallel_range */                 \
    static void NAME##_range(void *ctx, int64_t lo, int64_t hi) {                                \
        const pg_unary_job *j = ctx;                                                             \
        if (j->f64) {                                                                            \
            const double *xs = j->xs, *ys = j->ys;                                               \
            if (!j->gs)                                                                          \
                NAME##_fwd_f64((double *)j->o + lo, xs + lo, hi - lo, j->p);                     \
            else                                                                                 \
                NAME##_bwd_f64((double *)j->o + lo, (const double *)j->gs + lo,                  \
                               xs ? xs + lo : NULL, ys ? ys + lo : NULL, hi - lo, j->p);         \
        } else {                                                                                 \
            const float *xs = j->xs, *ys = j->ys;                                                \
            if (!j->gs)                                                                          \
                NAME##_fwd_f32((float *)j->o + lo, xs + lo, hi - lo, j->p);                      \
            else                                                                                 \
                NAME##_bwd_f32((float *)j->o + lo, (const float *)j->gs + lo,                    \
                               xs ? xs + lo : NULL, ys ? ys + lo : NULL, hi - lo, j->p);         \
        }                                                                                        \
    }                                                                                            \
    static pg_status NAME##_forward(pg_tensor *out, pg_tensor *const *in, int n_in,              \
                                    const pg_params *p) {                                        \
        (void)n_in;                                                                              \
        pg_unary_job j = {out->dtype == PG_DTYPE_F64, out->data, NULL, in[0]->data, NULL, p};    \
        PG_UNARY_RUN(out->numel, NAME##_range, &j);                                              \
        return PG_OK;                                                                            \
    }                                                                                            \
    static pg_status NAME##_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {     \
        const void *xs = NULL, *ys = NULL;                                                       \
        for (int k = 0; k < PG_MAX_SAVED; k++) {                                                 \
            if (n->saved_from[k] == 0) xs = n->saved[k]->data;                                   \
            if (n->saved_from[k] == -1) ys = n->saved[k]->data;                                  \
        }                                                                                        \
        pg_tensor *d = pg__grad_buffer(g, n, 0); /* may be g itself: the loop runs in place */    \
        if (!d) return PG_ERR_MEMORY;                                                            \
        pg_unary_job j = {d->dtype == PG_DTYPE_F64, d->data, g->data, xs, ys, &n->p};            \
        PG_UNARY_RUN(d->numel, NAME##_range, &j);                                                \
        dx[0] = d;                                                                               \
        return PG_OK;                                                                            \
    }

/* the loops as rows for fused replay (pg_fuse): the forward reads ptr[1], the
 * backward g = ptr[1], x = ptr[2], y = ptr[4] */
#define PG_UNARY_FUSE_ROWS(NAME)                                                                      \
    static void NAME##_ffwd_f32(char *const *ptr, const int64_t *st, int64_t n, void *p) {            \
        (void)st;                                                                                     \
        NAME##_fwd_f32((float *)ptr[0], (const float *)ptr[1], n, p);                                 \
    }                                                                                                 \
    static void NAME##_ffwd_f64(char *const *ptr, const int64_t *st, int64_t n, void *p) {            \
        (void)st;                                                                                     \
        NAME##_fwd_f64((double *)ptr[0], (const double *)ptr[1], n, p);                               \
    }                                                                                                 \
    static void NAME##_fbwd_f32(char *const *ptr, const int64_t *st, int64_t n, void *p) {            \
        (void)st;                                                                                     \
        NAME##_bwd_f32((float *)ptr[0], (const float *)ptr[1], (const float *)ptr[2],                 \
                       (const float *)ptr[4], n, p);                                                  \
    }                                                                                                 \
    static void NAME##_fbwd_f64(char *const *ptr, const int64_t *st, int64_t n, void *p) {            \
        (void)st;                                                                                     \
        NAME##_bwd_f64((double *)ptr[0], (const double *)ptr[1], (const double *)ptr[2],              \
                       (const double *)ptr[4], n, p);                                                 \
    }                                                                                                 \
    static const pg_fuse NAME##_fuse = {{NAME##_ffwd_f32, NAME##_ffwd_f64},                          \
                                        {{NAME##_fbwd_f32, NAME##_fbwd_f64}, {NULL, NULL}},           \
                                        {NAME##_one_f32, NAME##_one_f64},                             \
                                        {{NAME##_bone_f32, NAME##_bone_f64}, {NULL, NULL}}};

/* the row of an op made by PG_UNARY_KERNELS or PG_UNARY_VM*_KERNELS, fusable */
#define PG_UNARY_OPDEF(NAME, infer, rule) \
    PG_OPDEF_FUSE(NAME, infer, NAME##_forward, NAME##_backward, rule, &NAME##_fuse)

#define PG_UNARY_KERNELS(NAME, FWD, BWD) \
    PG_UNARY_FWD_LOOPS(NAME, FWD) PG_UNARY_BWD_LOOPS(NAME, BWD) PG_UNARY_DRIVERS(NAME) PG_UNARY_FUSE_ROWS(NAME)

/* The forward by kern_vmath's function VM (PG_VM_EXP, ...): vector code */
#define PG_UNARY_VM_FWD(NAME, VM)                                                                     \
    static void NAME##_fwd_f32(float *o, const float *xs, int64_t n, const pg_params *p) {           \
        (void)p;                                                                                      \
        pg__vm_f32((VM), o, NULL, xs, n, 1.0);                                                        \
    }                                                                                                 \
    static void NAME##_fwd_f64(double *o, const double *xs, int64_t n, const pg_params *p) {         \
        (void)p;                                                                                      \
        pg__vm_f64((VM), o, NULL, xs, n, 1.0);                                                        \
    }                                                                                                 \
    static void NAME##_one_f32(char *w, const int32_t *o, int64_t n, const void *ctx) {              \
        (void)ctx;                                                                                    \
        for (int64_t j = 0; j < n; j++, o += 4)                                                       \
            pg__vm_f32((VM), (float *)(w + o[0]), NULL, (const float *)(w + o[1]), 1, 1.0);               \
    }                                                                                                 \
    static void NAME##_one_f64(char *w, const int32_t *o, int64_t n, const void *ctx) {              \
        (void)ctx;                                                                                    \
        for (int64_t j = 0; j < n; j++, o += 4)                                                       \
            pg__vm_f64((VM), (double *)(w + o[0]), NULL, (const double *)(w + o[1]), 1, 1.0);             \
    }
/* The backward dx = g * SCALE * VM(x), kern_vmath's function VM of the saved input */
#define PG_UNARY_VM_BWD(NAME, VM, SCALE)                                                              \
    static void NAME##_bwd_f32(float *dx, const float *gs, const float *xs, const float *ys, int64_t n, \
                               const pg_params *p) {                                                  \
        (void)ys, (void)p;                                                                            \
        pg__vm_f32((VM), dx, gs, xs, n, (SCALE));                                                     \
    }                                                                                                 \
    static void NAME##_bwd_f64(double *dx, const double *gs, const double *xs, const double *ys,     \
                               int64_t n, const pg_params *p) {                                       \
        (void)ys, (void)p;                                                                            \
        pg__vm_f64((VM), dx, gs, xs, n, (SCALE));                                                     \
    }                                                                                                 \
    static void NAME##_bone_f32(char *w, const int32_t *o, int64_t n, const void *ctx) {             \
        (void)ctx;                                                                                    \
        for (int64_t j = 0; j < n; j++, o += 4)                                                       \
            pg__vm_f32((VM), (float *)(w + o[0]), (const float *)(w + o[1]), (const float *)(w + o[2]), 1, \
                   (SCALE));                                                                          \
    }                                                                                                 \
    static void NAME##_bone_f64(char *w, const int32_t *o, int64_t n, const void *ctx) {             \
        (void)ctx;                                                                                    \
        for (int64_t j = 0; j < n; j++, o += 4)                                                       \
            pg__vm_f64((VM), (double *)(w + o[0]), (const double *)(w + o[1]), (const double *)(w + o[2]), \
                   1, (SCALE));                                                                       \
    }
/* PG_UNARY_VM_KERNELS(NAME, VM, BWD): forward VM(x) by kern_vmath, backward EXPR as PG_UNARY_KERNELS's;
 * PG_UNARY_VM2_KERNELS(NAME, VM, VMB, SCALE): forward VM(x), backward g * SCALE * VMB(x), both by kern_vmath */
#define PG_UNARY_VM_KERNELS(NAME, VM, BWD) \
    PG_UNARY_VM_FWD(NAME, VM) PG_UNARY_BWD_LOOPS(NAME, BWD) PG_UNARY_DRIVERS(NAME) PG_UNARY_FUSE_ROWS(NAME)
#define PG_UNARY_VM2_KERNELS(NAME, VM, VMB, SCALE) \
    PG_UNARY_VM_FWD(NAME, VM) PG_UNARY_VM_BWD(NAME, VMB, SCALE) PG_UNARY_DRIVERS(NAME) PG_UNARY_FUSE_ROWS(NAME)

/* A unary kernel's operands, for running it over ranges on several threads. */
typedef struct pg_unary_job {
    bool f64;
    void *o;               /* [n] output (forward) or dx (backward) */
    const void *gs;        /* [n] upstream gradient; NULL: run the forward */
    const void *xs, *ys;   /* [n] input and output (either may be NULL in backward) */
    const pg_params *p;
} pg_unary_job;

/* A unary op's rule: the body sets r (a new reference) from g, x (the saved
 * input, when saved), y (pg__out_diff), n and p, with TRY for temporaries. */
#define PG_UNARY_RULE(NAME, ...)                                                    \
    static pg_status NAME##_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {  \
        pg_keep keep = {0};                                                         \
        pg_tensor *x = pg__saved_input(n, 0), *r = NULL;                            \
        const pg_params *p = &n->p;                                                 \
        (void)x, (void)p;                                                           \
        __VA_ARGS__                                                                 \
        if (!r) goto fail;                                                          \
        dx[0] = r;                                                                  \
        pg__keep_free(&keep);                                                       \
        return PG_OK;                                                               \
    fail:                                                                           \
        pg__keep_free(&keep);                                                       \
        return pg__rule_status();                                                   \
    }

/* The entry point of an op of one float input, without or with a scalar
 * parameter: sets the params, casts a bool x to float32, applies the row. */
#define PG_UNARY_ENTRY(NAME, OP)                 \
    pg_tensor *pg_##NAME(pg_tensor *x) {         \
        pg_params p = {0};                       \
        p.op = OP;                               \
        return pg__apply_float1(OP, x, &p);      \
    }
#define PG_UNARY1_ENTRY(NAME, OP, ARG)                   \
    pg_tensor *pg_##NAME(pg_tensor *x, double ARG) {     \
        pg_params p = {0};                               \
        p.op = OP;                                       \
        p.c = ARG;                                       \
        return pg__apply_float1(OP, x, &p);              \
    }

/* shape inference: a float input, the output of its shape */
static inline pg_status unary_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    if (pg__check_float(pg_optable[p->op]->name, in[0])) return PG_ERR_TYPE;
    pg__meta_of(out, in[0]);
    return PG_OK;
}

#endif
