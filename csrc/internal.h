/* internal.h: the engine's private structures (storage, tensor, node, edge,
 * op parameters, the op-table row) and the tape's API, shared by the csrc
 * sources; kernels.h (included at the end) holds the kernel layer below the
 * tape. Not installed, not part of the API: pygrad.h is the contract. */
#ifndef PG_INTERNAL_H
#define PG_INTERNAL_H

#include "pygrad.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nothing declared here leaves the shared library: calls between the engine's
 * files go straight to their target, not through the symbol table. */
#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

#define PG_MAX_SAVED 5
/* The largest buffer the engine tries to allocate; beyond it the size
 * arithmetic of callers could overflow, and no machine would satisfy it. */
#define PG_MAX_BYTES ((size_t)1 << 46)
/* Save masks (the save column of ops.def): what the tape keeps for backward. */
#define PG_SAVE_NONE 0u
#define PG_SAVE_IN0 0x01u /* input 0 */
#define PG_SAVE_IN1 0x02u /* input 1 */
#define PG_SAVE_IN2 0x04u /* input 2 */
#define PG_SAVE_IN3 0x08u /* input 3 */
#define PG_SAVE_OUT 0x80u /* the op's output */

typedef struct pg_node pg_node;

/* A tensor's hooks (pg_tensor_set_hooks): the binding's callback, its
 * context, and which kinds are registered (PG_HOOK_GRAD, PG_HOOK_POST_ACCUMULATE).
 * A leaf owns its hooks; a non-leaf's hooks belong to its node (grad_fn), so
 * they fire even after the tensor itself is freed, as PyTorch's do. */
typedef struct pg_tensor_hooks {
    pg_hook_fn fn;
    void *ctx;
    pg_custom_release_fn release; /* called once, when the owner is freed */
    int kinds;
} pg_tensor_hooks;

/* Storage: a reference-counted, 64-byte aligned buffer, allocated in one block
 * with its header. Views (detach, reshape) share it, and its version.
 * An external storage (pg_tensor_from_external, external set): its
 * header is a block of its own, data is memory somebody else owns (aligned to
 * the element size only), and release(release_ctx) runs once when the last
 * reference goes. The engine never takes such a buffer over as scratch
 * (pg__exclusive in autograd.c): its owner may still be reading it. */
typedef struct pg_storage {
    atomic_long refcount;
    atomic_ulong version; /* bumped by every in-place op */
    atomic_long graph_views; /* live views of it made by recorded view ops (their tensors' graph_view) */
    size_t nbytes;
    void *data;           /* [nbytes], inside the same allocation (or external) */
    bool external;         /* data is not the engine's: see above */
    pg_release_fn release; /* external only; may be NULL */
    void *release_ctx;
} pg_storage;

/* Shape and dtype of a tensor, without its data. */
typedef struct pg_meta {
    pg_dtype dtype;
    int ndim;
    int64_t shape[PG_MAX_DIMS];
} pg_meta;

struct pg_tensor {
    atomic_long refcount;
    pg_dtype dtype;
    int ndim;
    int64_t shape[PG_MAX_DIMS]; /* [ndim] */
    int64_t numel;
    pg_storage *storage;        /* owned reference */
    void *data;                 /* == storage->data */
    bool requires_grad;
    bool retains_grad;
    bool inference;             /* made under inference mode: never saved for backward */
    bool graph_view;            /* made by a recorded view op (counted in storage->graph_views) */
    atomic_int recorder_refs;   /* of refcount, the references a recording holds (program.c pg__hold) to
                                 * keep the address its own: not counted when the tape asks whether a
                                 * tensor is its holder's alone (pg__exclusive) */
    pg_tensor_hooks *hooks;            /* owned; a leaf's hooks, NULL when none */
    pg_node *grad_fn;           /* owned; NULL for leaves */
    pg_tensor *grad;            /* owned; accumulated gradient, shape and dtype of this */
    pg_tensor *free_next;       /* intrusive link of the release worklist */
};

/* Where an input's gradient goes: the node that produced it, or the leaf
 * tensor that accumulates it. Both NULL: the input needs no gradient. */
typedef struct pg_edge {
    pg_node *fn;     /* owned */
    pg_tensor *leaf; /* owned */
    pg_meta meta;    /* the input's shape and dtype */
} pg_edge;

/* Op parameters, recorded in the node so a step can be replayed and its
 * backward can read them. One named view per op family (the union): an op
 * reads only its own. */
typedef struct pg_params {
    int op; /* the op-table row (set by pg__apply) */
    union {
        struct {                         /* reshape, getitem, scatter_add: the target shape; */
            int ndim;                    /* permute: the permutation (dims[d] = source dim of d) */
            int64_t dims[PG_MAX_DIMS];   /* [ndim] */
        } shape;
        double c;                        /* add_scalar, mul_scalar: the scalar; pow_scalar: the
                                          * exponent; leaky_relu: the slope; elu: alpha */
        struct {
            double lo, hi;               /* the bounds, when given */
            bool has_lo, has_hi;
        } clamp;
        struct {
            unsigned axes;               /* bit d set: dim d reduced (never PG_AXES_ALL here) */
            bool keepdims;
        } reduce;                        /* sum, mean, max, min */
        struct {
            int axis;                    /* normalised to [0, ndim) (softmax: once checked) */
            int given;                   /* softmax: the axis as the caller gave it (messages) */
        } axis;                          /* softmax, log_softmax, concatenate, stack */
        pg_dtype cast;                   /* cast: the target dtype */
        struct {
            int axis;                    /* normalised to [0, ndim) */
            bool reverse;                /* from the end of the axis towards its start */
        } scan;                          /* cumsum */
        int64_t pieces;                  /* maxout */
        int64_t classes;                 /* one_hot: the number of classes, >= 0 */
        struct {
            pg_reduction reduction;      /* mean, sum or none */
            bool ignore;                 /* rows labelled ignore_index count for nothing (loss 0,
                                          * gradient 0, not in the mean's denominator) */
            bool ce;                     /* nll_loss: messages name cross_entropy (F.cross_entropy's) */
            int64_t ignore_index;
            double smoothing;            /* nll_loss: label smoothing in [0, 1] */
        } loss;                          /* cross_entropy, nll_loss (their labels in offsets) */
        struct {
            int64_t stride[2], dilation[2]; /* (h, w), >= 1 */
            int64_t pad[4];              /* top, bottom, left, right, >= 0 */
            int64_t groups;              /* >= 1 */
            int64_t size[2];             /* conv2d_input_grad: the input's (H, W);
                                          * conv2d_weight_grad: the kernel's (KH, KW) */
        } conv;                          /* conv2d and its two gradient ops */
        struct {
            double eps;                  /* added to the variance */
            int64_t groups;              /* group_norm: num_groups */
            int nrm;                     /* layer_norm: dims of normalized_shape (the last of x) */
            bool training;               /* batch_norm: batch statistics (else the running ones) */
        } norm;                          /* batch_norm, layer_norm, group_norm */
        struct {
            double p;                    /* the probability of zeroing, in [0, 1] */
            uint64_t seed;               /* keys the mask's counter-based hash */
        } dropout;                       /* dropout */
        struct {
            uint64_t seed;               /* keys the counter-based generator (pg__rng_bits) */
            int kind;                    /* random: pg_random_kind */
            int ndim;                    /* random: the output's shape (the 0-d input gives its dtype) */
            int64_t dims[PG_MAX_DIMS];   /* [ndim] */
            int64_t low, high;           /* random of kind PG_RANDOM_INT: the range [low, high) */
        } random;                        /* random, bernoulli (seed only) */
        struct {
            int ndim;                    /* the indices' shape: the output is (dims..., D) */
            int64_t dims[PG_MAX_DIMS];   /* [ndim] */
            int64_t padding_idx;         /* the row that gets no gradient, -1: none */
            bool freq;                   /* scale_grad_by_freq: row v's gradient divided by v's count */
        } embed;                         /* embedding (the indices in offsets) */
        struct {
            double scale;                /* the factor of q·k */
            bool causal;                 /* key j > query i masked out (top-left aligned) */
            double dropout;              /* the probability of zeroing a weight, in [0, 1]; 0: none */
            uint64_t seed;               /* keys the dropout mask's hash (as dropout's) */
        } attn;                          /* scaled_dot_product_attention */
        struct {
            int64_t kernel[2], stride[2], pad[2], dilation[2]; /* (h, w): >= 1, >= 1, >= 0, >= 1 */
            int64_t out[2];              /* adaptive: the output's (OH, OW) */
            int64_t size[2];             /* avg_pool2d_input_grad: the input's (H, W) */
            int64_t divisor;             /* avg: divisor_override, 0 when none */
            bool ceil_mode, count_include_pad;
            bool adaptive;               /* adaptive windows (avg_pool2d_input_grad: of which forward) */
        } pool;                          /* max_pool2d, avg_pool2d, adaptive_avg_pool2d, avg_pool2d_input_grad */
        struct {
            int64_t size[2];             /* interpolate: the output's spatial sizes; interpolate_input_grad:
                                          * the input's ((L) or (H, W): [0] only for a 3-d input) */
            double scale[2];             /* the scale_factor of each spatial dim's source map, 0: none (in/out) */
            int mode;                    /* pg_interp_mode */
            bool align_corners;          /* linear: the corner pixels' centres map onto each other */
        } interp;                        /* interpolate, interpolate_input_grad */
        struct {
            int ndim;                    /* the output's shape (x's ndim) */
            int64_t dims[PG_MAX_DIMS];   /* [ndim] */
            int64_t lo[PG_MAX_DIMS];     /* [ndim] elements added before x's along each dim (< 0: cropped) */
            double value;                /* the fill, already representable in the dtype */
        } pad;                           /* pad */
        int64_t diagonal;                /* tril, triu: 0 the main diagonal, > 0 above it, < 0 below */
        struct {
            pg_reduction reduction;      /* mean, sum or none */
            double delta;                /* huber_loss's delta > 0, or smooth_l1_loss's beta >= 0 */
            bool smooth_l1;              /* smooth_l1_loss = huber_loss(beta) / beta (beta = 0: l1) */
        } huber;                         /* huber_loss */
    };
    const int64_t *offsets;      /* getitem/scatter_add offsets [numel(out)], cross_entropy and nll_loss
                                  * labels [N], embedding indices [numel(indices)]:
                                  * [n_offsets], copied into the node when recorded */
    int64_t n_offsets;
    pg_custom_backward_fn custom_backward; /* custom: the user's backward, its context and release */
    pg_custom_release_fn custom_release;
    void *custom_ctx;
} pg_params;

struct pg_node {
    atomic_long refcount;
    int op;
    int n_in;
    bool released;               /* saved values dropped by a backward */
    bool gout_reusable;          /* only while its backward kernel runs: the sweep holds the
                                  * only reference to gout, so the kernel may write its result
                                  * into gout and return it (retained) as dx[i], when the shapes
                                  * and dtypes match */
    _Atomic(struct pg_thread *) owner; /* the thread whose sweep holds the node (claimed while
                                  * collecting, let go when that sweep ends), NULL when none: a
                                  * sweep alone writes mark, pending, gacc and the saved values */
    uint64_t mark;               /* id of the backward sweep that last visited it */
    int64_t pending;             /* consumers not yet swept, during backward */
    bool needed;                 /* pg_grad only: the sweep must reach it (an input or on the way to one) */
    bool run;                    /* pg_grad only: its backward kernel must run (leads on to an input) */
    int capture;                 /* pg_grad only: 1 + the index of the input whose grad_fn it is, else 0 */
    pg_tensor_hooks *hooks;             /* owned: hooks of the output tensor (a non-leaf), NULL when none */
    pg_tensor *out;              /* weak: the output tensor, NULL once freed */
    pg_tensor *gacc;             /* owned: gradient w.r.t. the output, during backward */
    pg_meta out_meta;
    pg_tensor *saved[PG_MAX_SAVED]; /* owned */
    uint64_t saved_version[PG_MAX_SAVED];
    int saved_from[PG_MAX_SAVED];   /* input index, or -1 for the output */
    pg_params p;
    int64_t *owned_offsets;      /* the node's copy of p.offsets, [p.n_offsets] */
    pg_node *free_next;          /* intrusive link of the release worklist */
    pg_edge edges[];             /* [n_in] */
};

/* One row of the op table. */
typedef struct pg_opdef {
    const char *name;
    int n_in;      /* -1: variadic (concatenate, stack) */
    unsigned save; /* bit i: save input i; PG_SAVE_OUT: save the output */
    /* checks inputs and params, fills the output's shape and dtype */
    pg_status (*infer)(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p);
    /* out: allocated with the inferred meta; writes every element */
    pg_status (*forward)(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p);
    /* dx[i]: set to a new tensor with edges[i].meta for every input that
     * needs a gradient (pg_node_needs(n, i)); gout: gradient of the output */
    pg_status (*backward)(pg_tensor **dx, const pg_tensor *gout, const pg_node *n);
    /* the same backward as a rule made of differentiable ops, run with grad
     * mode on by pg_backward_ex(create_graph=1) so it is itself recorded;
     * same contract as backward (gout is then differentiable) */
    pg_status (*rule)(pg_tensor **dx, pg_tensor *gout, const pg_node *n);
    /* NULL, or the op's kernels as rows over same-shape contiguous operands,
     * which a compiled program (program.c) runs block by block, fused with its
     * neighbours; they must compute what forward and backward compute */
    const struct pg_fuse *fuse;
} pg_opdef;

/* An elementwise op's rows for fused replay (rows as kernels.h's pg_row_fn, strides all 1, ctx: the
 * op's pg_params). fwd[d] (d = 0 float32, 1 float64): ptr = {out, in0, in1, ...}.
 * bwd[i][d]: the gradient of input i, ptr = {dx_i, g, in0, in1, out}, where an
 * operand the node did not save points at g instead; NULL: not fusable. */
typedef void (*pg_fuse_row)(char *const *ptr, const int64_t *st, int64_t n, void *ctx); /* a pg_row_fn */
/* The same on n values of one element each (a program's scalar values, in 8-byte
 * words), one after the other: value j's operand k is at w + o[4 j + k], with
 * {out, in0, in1, in2}; a backward reads {dx_i, g, in0, in1} (a binary op) or
 * {dx, g, in0, out} (a unary op), again g where the node did not save the
 * operand. The row's formula on each, so the same bits as the row on one element. */
typedef void (*pg_fuse_one)(char *w, const int32_t *o, int64_t n, const void *ctx);
typedef struct pg_fuse {
    pg_fuse_row fwd[2];
    pg_fuse_row bwd[2][2];
    pg_fuse_one fwd1[2];    /* NULL: the group runs its rows */
    pg_fuse_one bwd1[2][2];
} pg_fuse;

extern const pg_opdef *const pg_optable[PG_OP_COUNT];

/* Each op's arity and save mask, from ops.def: PG_NIN_<name>, PG_SAVES_<name>. */
#define X(NAME, name, n_in, save, family) enum { PG_NIN_##name = n_in, PG_SAVES_##name = (int)(save) };
#include "ops.def"
#undef X

/* An op's row, in its ops_<family>.c: the name, arity and save mask come
 * from its ops.def line, the kernels from the arguments. */
#define PG_OPDEF(name, infer, forward, backward, rule) \
    const pg_opdef pg_op_##name = {#name, PG_NIN_##name, (unsigned)PG_SAVES_##name, infer, forward, backward, rule, NULL}
/* the same, for an elementwise op that gives its rows for fused replay (fuse: a pg_fuse) */
#define PG_OPDEF_FUSE(name, infer, forward, backward, rule, fuse)                                               \
    const pg_opdef pg_op_##name = {#name, PG_NIN_##name, (unsigned)PG_SAVES_##name, infer, forward, backward, rule, \
                                   fuse}

/* Per-thread state of the per-op paths (grad mode, anomaly flag, free lists,
 * release worklists, live counts), in one block: when the engine is a shared
 * library every thread-local lookup is a call into the dynamic loader, and one
 * block costs one lookup per function instead of one per variable. The error
 * state (errors.c) and the worker pool's state (threads.c) live apart. */
typedef struct pg_freelist {
    void *head; /* blocks linked through their first word */
    int n;
} pg_freelist;

typedef struct pg_nodevec {
    pg_node **v; /* [cap] */
    size_t n, cap;
} pg_nodevec;

typedef struct pg_thread {
    int grad_disabled;           /* 0: grad mode on (the default) */
    int inference;               /* nonzero: inference mode (tensors made are marked inference) */
    int anomaly;                 /* nonzero: anomaly detection on (off by default) */
    bool registered;             /* the clean-up at thread exit is arranged */
    bool counts_spill;           /* no count block for this thread: count in the shared spill */
    bool draining;               /* a release worklist is being drained */
    struct pg_counts *counts;    /* this thread's live counts, NULL until claimed */
    pg_freelist tensors, storages, nodes;
    pg_tensor *dead_tensors;     /* release worklists, linked through free_next */
    pg_node *dead_nodes;
    pg_nodevec sweep[2];         /* backward's node lists, kept between sweeps (autograd.c) */
    int sweep_depth;             /* backward sweeps running on this thread (nested from user backwards) */
    bool grad_graph_chained;     /* pg_take_grad_graph_chained's answer */
    uint64_t recording_sweep;    /* id of the create_graph sweep running on this thread (0: none),
                                  * stamped as the mark of the nodes its rules record */
    struct pg_recorder *recorder; /* the program being recorded on this thread (program.c), NULL when none */
} pg_thread;

extern _Thread_local pg_thread pg_tls;

/* ---- recording a program (program.c, pygrad.compile) ----
 * While a thread records, the tape (each op applied, each backward step and
 * accumulation), set_grad, the in-place ops and the optimizer updates tell its
 * recorder what they did. They reach it through its function table, as the
 * tape reaches the ops through pg_optable, so no lower file calls up into
 * program.c; when nothing records, each event costs one branch on
 * pg_tls.recorder. A hook never fails the eager work: a recorder that cannot
 * follow marks itself refused (refuse) and the step stays eager. */
typedef struct pg_recorder pg_recorder;
typedef struct pg_rec_ops {
    void (*apply)(pg_recorder *r, pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p);
    void (*seed)(pg_recorder *r, pg_tensor *seed, const pg_tensor *root, const pg_tensor *grad);
    void (*backward)(pg_recorder *r, const pg_node *n, pg_tensor *gout, pg_tensor *const *dx);
    void (*accumulate)(pg_recorder *r, pg_tensor *before, pg_tensor *after, pg_tensor *g); /* a node's gradient */
    void (*accumulate_leaf)(pg_recorder *r, pg_tensor *leaf, pg_tensor *g, const pg_tensor *keep);
    void (*set_grad)(pg_recorder *r, pg_tensor *t, pg_tensor *grad);
    void (*optim)(pg_recorder *r, int kind, pg_tensor *const *t, const double *s); /* PG_REC_SGD ... */
    /* an in-place update that the graph does not record (no_grad, or nothing requires grad):
     * t (kind)= operand, c (PG_REC_IP_ADD ...) */
    void (*inplace)(pg_recorder *r, int kind, pg_tensor *t, pg_tensor *operand, double c);
    /* a tensor an entry point made for its op: filled with value, or scratch the op's kernel
     * fills (value 0; the normalisations' statistics) */
    void (*constant)(pg_recorder *r, pg_tensor *t, double value);
    /* batch_norm's running statistics: update 0 fills stats from (rm, rv) (eval), 1 updates
     * rm and rv from the batch's stats with momentum and unb (training) */
    void (*bn_stats)(pg_recorder *r, int update, pg_tensor *rm, pg_tensor *rv, pg_tensor *stats, double momentum,
                     double unb);
    /* an op outside the op table (ops_compare.c), or a constant a creation function made:
     * out = kind(code; a, b, c), PG_REC_CMP ... */
    void (*aux)(pg_recorder *r, int kind, int code, pg_tensor *out, pg_tensor *a, pg_tensor *b, double c);
    void (*refuse)(pg_recorder *r, const char *what);
    /* an op is about to make its output of m (before its buffer is allocated) */
    void (*make)(pg_recorder *r, const pg_meta *m);
    /* pg_embedding_renorm_(weight, indices, max_norm, norm_type) (ops_embedding.c), outside the graph */
    void (*renorm)(pg_recorder *r, pg_tensor *weight, pg_tensor *indices, double max_norm, double norm_type);
} pg_rec_ops;
/* aux's kinds: compare(a, b), compare_scalar(a, c), bitwise(a, b), bitwise_not(a), a private copy of
 * the constant out (a: NULL) */
enum { PG_REC_CMP, PG_REC_CMP_SCALAR, PG_REC_BITWISE, PG_REC_BITWISE_NOT, PG_REC_DATA };
/* the unrecorded in-place updates (ops_inplace.c): t += c operand, t *= operand, t += c, t *= c,
 * t = c, t = operand converted (copy_), t = operand's values (pg_inplace_commit) */
enum { PG_REC_IP_ADD, PG_REC_IP_MUL, PG_REC_IP_ADD_SCALAR, PG_REC_IP_MUL_SCALAR, PG_REC_IP_FILL, PG_REC_IP_COPY,
       PG_REC_IP_COMMIT, PG_REC_IP_BN_FILL, PG_REC_IP_BN_UPDATE /* program.c's own: bn_stats */,
       PG_REC_IP_RENORM /* program.c's own: renorm */ };
struct pg_recorder {
    const pg_rec_ops *ops;
};
/* the optimizer updates (optim.c) as the recorder sees them: tensors, then scalars (as doubles) */
enum { PG_REC_SGD, PG_REC_ADAGRAD, PG_REC_RMSPROP, PG_REC_ADAM, PG_REC_ADAMAX, PG_REC_NADAM, PG_REC_RADAM,
       PG_REC_ADADELTA, PG_REC_RPROP };
#define PG_REC_MAX_T 5
#define PG_REC_MAX_S 10
/* A matmul backward's dA and dB run at once, one on each of two threads, from this many
 * multiply-adds each (ops_matmul.c, program.c): below, a worker woken for the second product
 * starts it about when the caller could (some 30 us on one thread), and one preempted while
 * holding it makes the caller wait. */
#define PG_GEMM_PAIR_MIN 4e6
/* pg_sgd_step over the parameter's elements [lo, hi) on this thread, from the recorded scalars s,
 * without recording it or bumping the version (optim.c) */
pg_status pg__sgd_piece(pg_tensor *param, pg_tensor *grad, pg_tensor *momentum_buf, const double *s, int64_t lo,
                        int64_t hi);

/* batch_norm's running statistics (ops_norm.c), also replayed by program.c; record:
 * tell a recording program (the entry point's call), not a replay's */
void pg__bn_stats_from_running(pg_tensor *stats, const pg_tensor *rm, const pg_tensor *rv, bool record);
void pg__bn_update_running(pg_tensor *rm, pg_tensor *rv, const pg_tensor *stats, double momentum, double unb,
                           bool record);

/* arranges the clean-up of ts (this thread's pg_tls) at thread exit */
void pg__thread_register(pg_thread *ts);

/* This thread's pg_tls, looked up once: the empty asm hides where the pointer
 * comes from, so the compiler keeps it in a register rather than repeating the
 * lookup (a call, in a shared library) at each use. */
static inline pg_thread *pg__thread(void) {
    pg_thread *ts = &pg_tls;
#if defined(__GNUC__)
    __asm__("" : "+r"(ts));
#endif
    return ts;
}


/* errors.c */
pg_status pg__fail(pg_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pg__clear_error(void);
const char *pg__shape_str(int ndim, const int64_t *shape, char *buf, size_t cap);
#define PG_SHAPE_BUF 96
/* p as Python prints a float ("2.0", "1e-05", "inf", "nan"): messages about float arguments */
const char *pg__py_float(double p, char *buf, size_t cap);
#define PG_FLOAT_BUF 32

/* tensor.c */
pg_tensor *pg__tensor_new(pg_dtype dtype, int ndim, const int64_t *shape);
pg_tensor *pg__tensor_new_like(const pg_meta *m);
/* like's dtype and shape (valid: no checks); ts: this thread's pg_tls */
pg_tensor *pg__tensor_new_as(pg_thread *ts, const pg_tensor *like);
pg_tensor *pg__tensor_zeros_like(const pg_meta *m);
pg_tensor *pg__alias(pg_tensor *t, int ndim, const int64_t *shape);
const char *pg__dtype_name(pg_dtype dtype);
int64_t pg__numel(int ndim, const int64_t *shape); /* INT64_MAX if the product overflows */
pg_status pg__check_tensor(const char *op, const pg_tensor *t);
pg_status pg__check_float(const char *op, const pg_tensor *t);
void pg__node_release(pg_node *n);
void pg__node_drop(pg_thread *ts, pg_node *n); /* ts: this thread's pg_tls */
/* header fields cleared (not the params or metas); from ts's free list when small */
pg_node *pg__node_alloc(pg_thread *ts, int n_in);
void pg__count_node(pg_thread *ts, int delta);
/* A leaf's .grad is read, replaced and added into only under its lock (one of
 * a small table of locks, picked by the tensor's address); never held while
 * anything is released (a release can run a user callback). */
void pg__grad_lock(const pg_tensor *t);
void pg__grad_unlock(const pg_tensor *t);
void pg__hooks_free(pg_tensor_hooks *h); /* calls its release (a user callback) */

/* alloc.c: storage buffers. From 1 MiB up they are recycled through the
 * process-wide cache (pg_empty_cache); pg__buf_free takes the nbytes that
 * pg__buf_alloc was given. Not zeroed. */
void *pg__buf_alloc(size_t nbytes); /* NULL without memory */
void pg__buf_free(void *p, size_t nbytes);
/* the cache's fields of pg_memory_stats (all but allocated_bytes) */
void pg__cache_stats(pg_memory_stats *stats);
/* Asks for transparent huge pages over the whole pages of [p, p + bytes) when bytes is 4 MiB or
 * more (a fresh block's first touch then faults once per 2 MB, not per 4 KB). Advice only; a no-op
 * where the system has none. */
void pg__advise_huge(void *p, size_t bytes);

/* dtype kinds: float32/float64 carry gradients; bool and the integers never do */
static inline bool pg__is_float(pg_dtype d) { return d == PG_DTYPE_F32 || d == PG_DTYPE_F64; }
static inline bool pg__is_int(pg_dtype d) { return d == PG_DTYPE_I64 || d == PG_DTYPE_I32; }

/* autograd.c */
pg_tensor *pg__apply(int op, pg_tensor *const *in, int n_in, const pg_params *p);
/* pg__apply after a bool or integer x is cast to float32 (PyTorch's rule for
 * float ops: exp of an int64 tensor is float32): the entry of the float ops of
 * one input; inline so the common case costs no call */
pg_tensor *pg__apply_float1_cast(int op, pg_tensor *x, const pg_params *p);
static inline pg_tensor *pg__apply_float1(int op, pg_tensor *x, const pg_params *p) {
    if (!x || pg__is_float(x->dtype)) return pg__apply(op, &x, 1, p);
    return pg__apply_float1_cast(op, x, p);
}
/* The dtype two operands meet in (PyTorch's rule): the higher kind wins
 * (bool < integer < float); within one kind, a tensor with dims wins over a
 * 0-d one (a 0-d tensor is a scalar: float32 x + float64 0-d stays float32),
 * and between equals the wider dtype. */
pg_dtype pg__result_dtype(const pg_tensor *a, const pg_tensor *b);
/* Brings two operands to pg__result_dtype with a differentiable cast (float
 * targets) or a plain conversion. Returns new references. */
pg_status pg__promote2(const char *op, pg_tensor **a, pg_tensor **b);
/* x converted to dtype dt: recorded (a differentiable cast) when both are float */
pg_tensor *pg__to_dtype(pg_tensor *x, pg_dtype dt);
/* A broadcasting binary op: pg__apply after promotion (the entry of add, mul, ...) */
pg_tensor *pg__apply2_mixed(int op, pg_tensor *a, pg_tensor *b);
static inline pg_tensor *pg__apply2(int op, pg_tensor *a, pg_tensor *b) {
    if (a && b && a->dtype == b->dtype && pg__is_float(a->dtype)) {
        pg_params p = {0};
        p.op = op;
        pg_tensor *in[2] = {a, b};
        return pg__apply(op, in, 2, &p);
    }
    return pg__apply2_mixed(op, a, b); /* promotion, integer and bool operands */
}
pg_status pg__record(pg_tensor *out, int op, pg_tensor *const *in, int n_in, const pg_params *p);
bool pg__node_needs(const pg_node *n, int i);
/* For a backward kernel: a tensor to write input i's gradient into (a new
 * reference, NULL without memory). It is gout itself when the sweep allows
 * (n->gout_reusable), nothing has taken gout yet, and gout has input i's shape
 * and dtype: the kernel then reads gout and writes the result in the same
 * buffer, so each element must be read before it is written. Else a new tensor. */
pg_tensor *pg__grad_buffer(const pg_tensor *g, const pg_node *n, int i);
pg_status pg__check_saved(const pg_node *n);
pg_status pg__accumulate(pg_tensor **slot, pg_tensor *g);
/* leaf->grad += g, as backward does it (keep: a gradient never written into) */
pg_status pg__accumulate_leaf(pg_tensor *leaf, pg_tensor *g, const pg_tensor *keep, bool create);

/* anomaly.c: PG_OK when anomaly detection is off or every value is finite */
pg_status pg__anomaly_check_forward(int op, const pg_tensor *out);
pg_status pg__anomaly_check_backward(const pg_node *n, pg_tensor *const *dx);

#define PG_NEW_REF(t) (pg_tensor_retain(t), (t))

static inline size_t pg__dtype_size(pg_dtype dtype) {
    switch (dtype) {
    case PG_DTYPE_F32: return 4;
    case PG_DTYPE_F64: return 8;
    case PG_DTYPE_BOOL: return 1;
    case PG_DTYPE_I64: return 8;
    case PG_DTYPE_I32: return 4;
    }
    return 0;
}

static inline void pg__meta_of(pg_meta *m, const pg_tensor *t) {
    m->dtype = t->dtype;
    m->ndim = t->ndim;
    for (int d = 0; d < PG_MAX_DIMS; d++) m->shape[d] = t->shape[d];
}

/* shape a == shape b, both [ndim] */
static inline bool pg__same_dims(int ndim, const int64_t *a, const int64_t *b) {
    for (int d = 0; d < ndim; d++)
        if (a[d] != b[d]) return false;
    return true;
}

/* a * b for sizes (a, b >= 0), INT64_MAX when it overflows. Products of dims
 * overflow only beside a zero dim (in an empty tensor), where no loop uses
 * them, but the arithmetic itself must stay defined. */
static inline int64_t pg__mul_sat(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#include "kernels.h"

/* g (a broadcast result's gradient) summed back to target's shape, in a new
 * tensor (NULL without memory); the sum is the kernel layer's pg__sum_into */
static inline pg_tensor *pg__sum_to(const pg_tensor *g, const pg_meta *target) {
    pg_tensor *out = pg__tensor_new_like(target);
    if (out && pg__sum_into(out, g) != PG_OK) {
        pg_tensor_release(out);
        return NULL;
    }
    return out;
}

#endif /* PG_INTERNAL_H */
