/* pygrad.h: the public C API of pygrad's engine (tensors, op table, tape, backward).
 *
 * This header is the one contract between the C library and everything above it.
 * It is pure C11 and knows nothing of Python; pybind/build_ffi.py reads the part
 * between the PG_CDEF markers as cffi's cdef, so that part holds only plain
 * declarations.
 *
 * Overview
 *   A pg_tensor is an n-d (0 to PG_MAX_DIMS dims), contiguous, row-major array of
 *   float32, float64 or bool, reference counted. Every op (pg_add, pg_matmul, ...)
 *   returns a new tensor. When grad mode is on and an input requires grad, the op
 *   also records a node on the tape: op id, edges to where its inputs' gradients
 *   go, saved values, parameters: plain data, no closures. pg_backward collects
 *   the nodes reachable from a tensor, orders them topologically without
 *   recursion, sweeps them in reverse through the op table's backward kernels,
 *   and adds gradients where a value fans out. Leaves accumulate into .grad.
 *
 * Example
 *   int64_t shape[1] = {3};
 *   pg_tensor *x = pg_tensor_full(PG_DTYPE_F64, 1, shape, 2.0);
 *   pg_tensor_set_requires_grad(x, 1);
 *   pg_tensor *y = pg_mul(x, x);                 // y = x*x
 *   pg_tensor *s = pg_sum(y, PG_AXES_ALL, 0);    // s = sum(x*x)
 *   if (!s || pg_backward(s, NULL, 0) != PG_OK) { puts(pg_last_error()); }
 *   pg_tensor *g = pg_tensor_grad(x);            // 2*x = [4, 4, 4]
 *   pg_tensor_release(g); pg_tensor_release(s);
 *   pg_tensor_release(y); pg_tensor_release(x);
 *
 * Ownership rules
 *   - Every function returning pg_tensor * returns a NEW reference (or NULL on
 *     error): the caller releases it with pg_tensor_release. Arguments are
 *     borrowed: the library takes its own references where it keeps them.
 *   - pg_tensor_data returns a pointer into the tensor's storage, valid while
 *     the caller holds a reference to the tensor (or to a tensor sharing its
 *     storage: pg_tensor_detach, pg_reshape).
 *   - pg_tensor_release(NULL) does nothing. Releasing never recurses, however
 *     long the graph hanging off a tensor.
 *
 * Errors
 *   Functions return a pg_status (PG_OK == 0) or NULL on failure; the reason is
 *   in pg_last_status() and pg_last_error(), both thread-local. The library
 *   never aborts, exits or prints.
 *
 * Threads
 *   Grad mode and the error state are per thread. Reference counts are atomic.
 *   Independent graphs may be built and differentiated in different threads.
 *   Large kernels (GEMM, elementwise ops and reductions over many elements)
 *   split their work over a pool of worker threads (pg_set_num_threads); one
 *   caller uses the pool at a time, others run their kernels on their own
 *   thread. A kernel's result does not depend on the number of threads.
 */
#ifndef PYGRAD_H
#define PYGRAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* PG_CDEF_BEGIN */
#define PG_MAX_DIMS 8
#define PG_AXES_ALL 255

typedef enum pg_dtype {
    PG_DTYPE_F32 = 0,
    PG_DTYPE_F64 = 1,
    PG_DTYPE_BOOL = 2,
    PG_DTYPE_I64 = 3, /* integer tensors never require grad */
    PG_DTYPE_I32 = 4
} pg_dtype;

typedef enum pg_status {
    PG_OK = 0,
    PG_ERR_SHAPE = 1,   /* shapes do not fit the op */
    PG_ERR_VALUE = 2,   /* an argument has a bad value */
    PG_ERR_TYPE = 3,    /* wrong dtype */
    PG_ERR_INDEX = 4,   /* index out of range */
    PG_ERR_MEMORY = 5,  /* allocation failed or too large */
    PG_ERR_RUNTIME = 6, /* graph state: backward twice, stale saved value ... */
    PG_ERR_CALLBACK = 7 /* a user callback (custom op backward) failed */
} pg_status;

/* The op ids, one per line of ops.def (the op list), in its order. The cdef
 * reader (pybind/build_ffi.py) expands this include itself. An includer's
 * own macro X is saved and restored around it. */
typedef enum pg_op {
#pragma push_macro("X")
#undef X
#define X(NAME, name, n_in, save, family) PG_OP_##NAME,
#include "ops.def"
#pragma pop_macro("X")
    PG_OP_COUNT
} pg_op;

typedef enum pg_cmp {
    PG_CMP_LT = 0, PG_CMP_LE = 1, PG_CMP_GT = 2, PG_CMP_GE = 3, PG_CMP_EQ = 4, PG_CMP_NE = 5
} pg_cmp;

typedef enum pg_bitop { PG_BIT_AND = 0, PG_BIT_OR = 1, PG_BIT_XOR = 2 } pg_bitop;

/* How a loss op folds its per-example losses: keep them (N,), or their mean or sum (a 0-d tensor). */
typedef enum pg_reduction {
    PG_REDUCTION_NONE = 0, PG_REDUCTION_MEAN = 1, PG_REDUCTION_SUM = 2
} pg_reduction;

/* How pg_interpolate maps an output index to input indices (PyTorch's interpolate modes): the nearest
 * sample ('nearest', 'nearest-exact'), the two neighbours weighted ('linear', 'bilinear' in 2-d) or the
 * four of the cubic convolution ('bicubic', 4-d only). PG_INTERP_ANTIALIAS, or-ed into LINEAR or CUBIC
 * (4-d only), selects PyTorch's antialiased filter instead (antialias=True). */
typedef enum pg_interp_mode {
    PG_INTERP_NEAREST = 0, PG_INTERP_LINEAR = 1, PG_INTERP_NEAREST_EXACT = 2, PG_INTERP_CUBIC = 3,
    PG_INTERP_ANTIALIAS = 8
} pg_interp_mode;

/* What the random op draws: uniform in [0, 1) (rand) or standard normal (randn), both made by pg_random,
 * or integers in [low, high) (randint: pg_randint, which alone gives the range). */
typedef enum pg_random_kind { PG_RANDOM_UNIFORM = 0, PG_RANDOM_NORMAL = 1, PG_RANDOM_INT = 2 } pg_random_kind;

typedef struct pg_tensor pg_tensor;
typedef struct pg_node pg_node;

/* Backward of a user-defined op (pg_custom). gout: the output's gradient
 * (borrowed). For each input i with needs[i] != 0 set dx[i] to a NEW
 * reference with input i's shape and dtype (or leave it NULL: no gradient).
 * Return 0, or nonzero after pg_set_error(). */
typedef int (*pg_custom_backward_fn)(void *ctx, pg_tensor *gout, pg_tensor **dx, int n_in, const int *needs);
/* Called exactly once when the op no longer needs ctx. */
typedef void (*pg_custom_release_fn)(void *ctx);

/* Tensor hooks (pg_tensor_set_hooks), called from the backward sweep.
 * PG_HOOK_GRAD: t's gradient is complete (grad: borrowed); the hook may set
 * *replace to a NEW reference of grad's shape and dtype, which takes grad's
 * place (what flows on and, for a leaf, what is accumulated). t is the
 * tensor (borrowed), or NULL when a non-leaf tensor was freed meanwhile.
 * PG_HOOK_POST_ACCUMULATE: leaf t's .grad was just accumulated (grad and
 * replace are NULL). Return 0, or nonzero after pg_set_error(): the sweep
 * stops with that error. */
typedef enum pg_hook_kind { PG_HOOK_GRAD = 1, PG_HOOK_POST_ACCUMULATE = 2 } pg_hook_kind;
typedef int (*pg_hook_fn)(void *ctx, int kind, pg_tensor *t, pg_tensor *grad, pg_tensor **replace);

/* ---- errors (thread-local) ---- */
pg_status pg_last_status(void);
const char *pg_last_error(void);          /* borrowed; valid until the next failing call on this thread */
void pg_set_error(pg_status code, const char *message);  /* for callbacks reporting a failure */

/* ---- op table introspection ---- */
int pg_op_count(void);
const char *pg_op_name(int op);           /* static string, or NULL for an unknown id */

/* ---- creation ---- */
pg_tensor *pg_tensor_empty(pg_dtype dtype, int ndim, const int64_t *shape);   /* uninitialised */
pg_tensor *pg_tensor_full(pg_dtype dtype, int ndim, const int64_t *shape, double value);
/* an integer tensor filled exactly (values beyond 2^53 too); a value out of
 * int32's range wraps for PG_DTYPE_I32 */
pg_tensor *pg_tensor_full_int(pg_dtype dtype, int ndim, const int64_t *shape, int64_t value);
pg_tensor *pg_tensor_detach(pg_tensor *t);        /* shares storage, no graph, no grad */
pg_tensor *pg_tensor_clone(pg_tensor *t);         /* fresh storage, no graph, no grad */
void pg_tensor_retain(pg_tensor *t);
void pg_tensor_release(pg_tensor *t);

/* A tensor over memory the engine does not own (zero-copy import, as DLPack
 * does): data: [numel] elements of dtype, contiguous and row-major, aligned
 * to the element size, non-NULL. The tensor (and every view of it: detach,
 * reshape) reads and writes data in place; the engine never frees it and never
 * reuses it as scratch space. Ownership: the caller hands ctx over with the
 * call. release(ctx) is called exactly once: when the last reference to the
 * storage is dropped (on whichever thread drops it), or before this function
 * returns NULL on a bad argument. Until then the caller keeps data valid
 * (release is where it lets go of it). release may be NULL (data then outlives
 * every tensor over it by other means). release must not fail; it may call
 * pg_tensor_release. External bytes are not counted in pg_live_bytes. */
typedef void (*pg_release_fn)(void *ctx);
pg_tensor *pg_tensor_from_external(void *data, pg_dtype dtype, int ndim, const int64_t *shape,
                                   pg_release_fn release, void *ctx);
int pg_tensor_is_external(const pg_tensor *t);            /* 1 if t's storage is external (above), else 0 */

/* ---- queries (total: on NULL they return -1, or 0 for flags and the version, NULL for data) ---- */
pg_dtype pg_tensor_dtype(const pg_tensor *t);
int pg_tensor_ndim(const pg_tensor *t);
int64_t pg_tensor_dim(const pg_tensor *t, int i);         /* shape[i] */
void pg_tensor_shape(const pg_tensor *t, int64_t *shape); /* shape: [ndim] */
int64_t pg_tensor_numel(const pg_tensor *t);
void *pg_tensor_data(pg_tensor *t);                       /* borrowed, see ownership rules */
uint64_t pg_tensor_version(const pg_tensor *t);
int pg_tensor_requires_grad(const pg_tensor *t);
int pg_tensor_is_leaf(const pg_tensor *t);
int pg_tensor_grad_fn(const pg_tensor *t);                /* op id of the node that made t, or -1 */
int pg_tensor_storage_shared(const pg_tensor *a, const pg_tensor *b);

/* ---- autograd ---- */
pg_status pg_tensor_set_requires_grad(pg_tensor *t, int flag);   /* leaves only */
pg_status pg_tensor_retain_grad(pg_tensor *t);
/* Installs t's hooks: kinds is a mask of pg_hook_kind. A leaf keeps them, a
 * non-leaf's node (grad_fn) does. The first call sets fn, ctx and release
 * (release(ctx) runs once when the owner is freed, or at once on failure);
 * later calls must pass the same ctx (PG_ERR_VALUE otherwise) and only
 * change kinds. t must require grad (PG_ERR_RUNTIME); POST_ACCUMULATE needs
 * a leaf (PG_ERR_RUNTIME). pg_tensor_hooks_ctx: the ctx installed, or NULL. */
pg_status pg_tensor_set_hooks(pg_tensor *t, int kinds, pg_hook_fn fn, void *ctx, pg_custom_release_fn release);
void *pg_tensor_hooks_ctx(const pg_tensor *t);
/* t becomes a leaf that does not require grad (its node is let go); not for views */
pg_status pg_tensor_detach_(pg_tensor *t);
pg_tensor *pg_tensor_grad(pg_tensor *t);                  /* new reference, or NULL if none (not an error) */
pg_status pg_tensor_set_grad(pg_tensor *t, pg_tensor *grad);     /* grad may be NULL */
int pg_grad_enabled(void);
int pg_set_grad_enabled(int flag);                        /* returns the previous mode */
pg_status pg_backward(pg_tensor *root, pg_tensor *grad, int retain_graph);
/* create_graph: record the backward computation itself (each op's backward
 * rule made of differentiable ops), so the gradients can be differentiated
 * again; the graph is then always retained. A leaf's recorded grad refers
 * back to the leaf through its graph: pg_tensor_set_grad(leaf, NULL) when
 * done, or the two are never freed. */
pg_status pg_backward_ex(pg_tensor *root, pg_tensor *grad, int retain_graph, int create_graph);
/* 1 when this thread's last pg_backward_ex (create_graph) added a recorded
 * gradient to a leaf's .grad that already held one (the cycle above, grown
 * by a backward that did not clear it first), else 0; clears the answer. */
int pg_take_grad_graph_chained(void);
/* The general sweep: from n_roots outputs (roots[i] with upstream gradient
 * grads[i], or NULL for a one-element root: ones). inputs == NULL: every
 * leaf that requires grad accumulates into .grad (pg_backward_ex with several
 * roots). inputs != NULL (torch.autograd.grad): no .grad is written; results[j]
 * is set to a new reference to d(roots)/d(inputs[j]) (a leaf or not; NULL
 * when the sweep does not reach it), and only the nodes on the way to an
 * input run. Every input must require grad (PG_ERR_RUNTIME). */
pg_status pg_autograd_run(pg_tensor **roots, pg_tensor **grads, int n_roots, pg_tensor **inputs, int n_inputs,
                          int retain_graph, int create_graph, pg_tensor **results);

/* inference mode (per thread, off by default): tensors made while it is on
 * are inference tensors, which a recorded op refuses to save for backward */
int pg_inference_mode(void);
int pg_set_inference_mode(int flag);                       /* returns the previous mode */
int pg_tensor_is_inference(const pg_tensor *t);

/* anomaly detection (per thread, off by default): when on, every op's forward
 * output and every backward kernel's gradients are scanned for NaN/inf, and
 * the first non-finite value fails the op with PG_ERR_RUNTIME */
int pg_detect_anomaly(void);
int pg_set_detect_anomaly(int flag);                      /* returns the previous mode */

/* ---- in-place (bump the version; refused on tensors that take part in autograd) ---- */
pg_status pg_add_(pg_tensor *t, pg_tensor *other, double alpha);  /* t += alpha*other */
pg_status pg_mul_(pg_tensor *t, pg_tensor *other);                /* t *= other */
pg_status pg_add_scalar_(pg_tensor *t, double c);
pg_status pg_mul_scalar_(pg_tensor *t, double c);
pg_status pg_fill_(pg_tensor *t, double value);
pg_status pg_copy_(pg_tensor *dst, pg_tensor *src);               /* same numel; casts */
/* Any in-place update t = f(t, ...), in three steps: x = pg_inplace_begin(t,
 * operand_requires_grad, "exp_") checks that t may be updated (a float
 * tensor; not a leaf requiring grad while grad mode is on; not an inference
 * tensor outside inference mode; not a view, when recorded) and returns a
 * new reference to what stands for t: a copy of its values sharing its
 * grad_fn when the update is recorded (grad mode on, and t or an operand
 * requires grad), else t itself. The caller computes value = f(x, ...) with
 * the ordinary ops; pg_inplace_commit(t, value, "exp_") writes value (t's
 * shape; cast to t's dtype) into t's storage, bumps its version and makes t
 * the output of value's node, so later uses see the update and backward goes
 * through it. op names the update in messages. */
pg_tensor *pg_inplace_begin(pg_tensor *t, int operand_requires_grad, const char *op);
pg_status pg_inplace_commit(pg_tensor *t, pg_tensor *value, const char *op);

/* ---- ops (each returns a new tensor, NULL on error) ---- */
pg_tensor *pg_add(pg_tensor *a, pg_tensor *b);
pg_tensor *pg_sub(pg_tensor *a, pg_tensor *b);
pg_tensor *pg_mul(pg_tensor *a, pg_tensor *b);
pg_tensor *pg_div(pg_tensor *a, pg_tensor *b);
pg_tensor *pg_neg(pg_tensor *x);
pg_tensor *pg_add_scalar(pg_tensor *x, double c);
pg_tensor *pg_mul_scalar(pg_tensor *x, double c);
pg_tensor *pg_pow_scalar(pg_tensor *x, double p);
pg_tensor *pg_div_scalar(pg_tensor *x, double c);  /* x / c, a true division (not x * (1/c)) */
pg_tensor *pg_rdiv_scalar(pg_tensor *x, double c); /* c / x */
pg_tensor *pg_rpow_scalar(pg_tensor *x, double c); /* c ** x, with pow (not exp(x log c)) */
pg_tensor *pg_pow(pg_tensor *x, pg_tensor *y);
pg_tensor *pg_atan2(pg_tensor *a, pg_tensor *b);        /* atan2(a, b), the angle of (b, a) */
pg_tensor *pg_fmod(pg_tensor *a, pg_tensor *b);         /* C's fmod: the sign of a */
pg_tensor *pg_remainder(pg_tensor *a, pg_tensor *b);    /* Python's %: the sign of b */
pg_tensor *pg_floor_divide(pg_tensor *a, pg_tensor *b); /* Python's //: floor(a / b), zero gradient */
/* x (op) c for an integer scalar c (reflected: c (op) x), op one of
 * PG_OP_ADD, SUB, MUL, DIV, POW: a weak scalar (PyTorch's rule). A float x
 * runs the float scalar op with (double)c; an integer x computes in its dtype
 * (int64 for bool x), exactly for every int64 c; division is true division
 * (float32). An integer x to a negative power c is refused. */
pg_tensor *pg_binary_scalar_int(pg_tensor *x, pg_op op, int64_t c, int reflected);
pg_tensor *pg_exp(pg_tensor *x);
pg_tensor *pg_log(pg_tensor *x);
pg_tensor *pg_sin(pg_tensor *x);
pg_tensor *pg_cos(pg_tensor *x);
pg_tensor *pg_tan(pg_tensor *x);
pg_tensor *pg_atan(pg_tensor *x);
pg_tensor *pg_sinh(pg_tensor *x);
pg_tensor *pg_cosh(pg_tensor *x);
pg_tensor *pg_asin(pg_tensor *x);
pg_tensor *pg_acos(pg_tensor *x);
pg_tensor *pg_log1p(pg_tensor *x);
pg_tensor *pg_expm1(pg_tensor *x);
pg_tensor *pg_log2(pg_tensor *x);
pg_tensor *pg_log10(pg_tensor *x);
pg_tensor *pg_exp2(pg_tensor *x);
pg_tensor *pg_square(pg_tensor *x);
pg_tensor *pg_rsqrt(pg_tensor *x);
pg_tensor *pg_sign(pg_tensor *x);
pg_tensor *pg_floor(pg_tensor *x);
pg_tensor *pg_ceil(pg_tensor *x);
pg_tensor *pg_round(pg_tensor *x);
pg_tensor *pg_trunc(pg_tensor *x);
pg_tensor *pg_erf(pg_tensor *x);
pg_tensor *pg_silu(pg_tensor *x);
pg_tensor *pg_logsigmoid(pg_tensor *x);
pg_tensor *pg_softplus(pg_tensor *x);
pg_tensor *pg_mish(pg_tensor *x);
pg_tensor *pg_hardsigmoid(pg_tensor *x);
pg_tensor *pg_gelu(pg_tensor *x);
pg_tensor *pg_sqrt(pg_tensor *x);
pg_tensor *pg_reciprocal(pg_tensor *x);
pg_tensor *pg_abs(pg_tensor *x);
pg_tensor *pg_maximum(pg_tensor *a, pg_tensor *b);
pg_tensor *pg_minimum(pg_tensor *a, pg_tensor *b);
pg_tensor *pg_clamp(pg_tensor *x, double lo, double hi, int has_lo, int has_hi);
/* min(max(x, min_val), max_val), min_val <= max_val (else PG_ERR_VALUE); the gradient passes strictly
 * inside, min_val < x < max_val (0 at the bounds and at NaN), PyTorch's hardtanh: relu6 is (0, 6) */
pg_tensor *pg_hardtanh(pg_tensor *x, double min_val, double max_val);
pg_tensor *pg_where(pg_tensor *cond, pg_tensor *x, pg_tensor *y);
pg_tensor *pg_sigmoid(pg_tensor *x);
pg_tensor *pg_tanh(pg_tensor *x);
pg_tensor *pg_relu(pg_tensor *x);
pg_tensor *pg_leaky_relu(pg_tensor *x, double negative_slope);
pg_tensor *pg_elu(pg_tensor *x, double alpha);
pg_tensor *pg_matmul(pg_tensor *a, pg_tensor *b);
/* axes: bit i set = reduce dim i; PG_AXES_ALL = every dim */
pg_tensor *pg_sum(pg_tensor *x, unsigned axes, int keepdims);
pg_tensor *pg_mean(pg_tensor *x, unsigned axes, int keepdims);
pg_tensor *pg_max(pg_tensor *x, unsigned axes, int keepdims);
pg_tensor *pg_min(pg_tensor *x, unsigned axes, int keepdims);
/* √Σ x² over axes (float x): the 2-norm, its sum of squares in double (a float32 norm neither overflows
 * nor underflows; a float64 one out of the squares' range is taken again, scaled by max |x|); the
 * gradient x g / y, 0 where y = 0 */
pg_tensor *pg_norm(pg_tensor *x, unsigned axes, int keepdims);
/* log Σ e^x over axes, computed stably (the maximum subtracted first) */
pg_tensor *pg_logsumexp(pg_tensor *x, unsigned axes, int keepdims);
/* running sum along axis (reverse != 0: from the end); a 0-d x takes axis 0 or -1 */
pg_tensor *pg_cumsum(pg_tensor *x, int axis, int reverse);
/* running product along axis (a 0-d x takes axis 0 or -1); its gradient divides by nothing (exact with zeros) */
pg_tensor *pg_cumprod(pg_tensor *x, int axis);
pg_tensor *pg_reshape(pg_tensor *x, int ndim, const int64_t *shape);  /* one -1 allowed */
pg_tensor *pg_permute(pg_tensor *x, int ndim, const int *dims);
/* out.flat[i] = x.flat[offsets[i]]; out has the given shape; offsets: [numel(shape)] */
pg_tensor *pg_gather(pg_tensor *x, int ndim, const int64_t *shape, const int64_t *offsets);
/* out = zeros(shape); out.flat[offsets[i]] += src.flat[i] (repeats add); offsets: [numel(src)].
 * The adjoint of pg_gather. */
pg_tensor *pg_scatter_add(pg_tensor *src, int ndim, const int64_t *shape, const int64_t *offsets);

/* ---- index ops along a dim (ops_index.c; PyTorch's semantics) ----
 * Index results are int64 and never recorded. dim may be negative. */
/* the first index of the max (want_max) or min along dim (PG_AXES_ALL: over
 * all elements, flattened); NaN counts as the extreme; keepdim keeps dim as 1 */
pg_tensor *pg_argext(pg_tensor *x, int dim, int keepdim, int want_max);
/* the permutation sorting each row along dim: stable; NaN after every number
 * ascending, before every number descending */
pg_tensor *pg_argsort(pg_tensor *x, int dim, int descending);
/* argsort's first k along dim, descending when largest (x.shape with dim k; a 0-d x: (k,)), found
 * without sorting the rows; 0 <= k <= x.shape[dim] */
pg_tensor *pg_topk_indices(pg_tensor *x, int dim, int64_t k, int largest);
/* index of the running max (want_max) or min along dim: the latest on ties; a NaN holds from where it appears */
pg_tensor *pg_cumext_indices(pg_tensor *x, int dim, int want_max);
/* (n, ndim) int64 coordinates of the nonzero elements, row-major */
pg_tensor *pg_nonzero(pg_tensor *x);
/* out[i][j][k] = x[i][index[i][j][k]][k] for dim 1 (any dim alike); index
 * (int64/int32) has x's ndim and is no larger than x except along dim;
 * recorded as getitem (differentiable in x) */
pg_tensor *pg_gather_dim(pg_tensor *x, int dim, pg_tensor *index);
/* out = x with src[i][j][k] added into out[i][index[i][j][k]][k] (dim 1;
 * repeats add); src's leading block of index's shape is used; differentiable
 * in x and src for float x */
pg_tensor *pg_scatter_add_dim(pg_tensor *x, int dim, pg_tensor *index, pg_tensor *src);
/* the same, writing instead of adding: for a repeated position the last
 * element in index's row-major order wins */
pg_tensor *pg_scatter_dim(pg_tensor *x, int dim, pg_tensor *index, pg_tensor *src);
/* out[i_0, ..., i_{n-1}] = x[map_0[i_0], ..., map_{n-1}[i_{n-1}]]: one index vector per dim of x
 * (ndim == x's), maps = map_0 then map_1 ..., shape[d] entries each, in [0, x.shape[d]) */
pg_tensor *pg_index_map(pg_tensor *x, int ndim, const int64_t *shape, const int64_t *maps);
/* x padded with value: lo[d], hi[d] elements before and after x's along dim d (one entry per dim of x;
 * negative: that many cropped, at most x.shape[d] in all); y[o] = x[o - lo] where that is inside x, else
 * value (converted to x's dtype; NaN is 0 in an integer dtype) */
pg_tensor *pg_pad(pg_tensor *x, const int64_t *lo, const int64_t *hi, double value);
/* x with the elements above (tril) / below (triu) diagonal k of its last two dims set to 0:
 * tril keeps x[..., i, j] for j - i <= k, triu for j - i >= k (x of at least 2 dims, any dtype) */
pg_tensor *pg_tril(pg_tensor *x, int64_t k);
pg_tensor *pg_triu(pg_tensor *x, int64_t k);
/* 2-d convolution (cross-correlation, PyTorch's conv2d without bias): x (N, C, H, W), w (O, C/groups, KH, KW)
 * -> (N, O, OH, OW), OH = (H + pad[0] + pad[1] - dilation[0]*(KH-1) - 1) / stride[0] + 1 (likewise OW with
 * pad[2], pad[3]); stride[2], dilation[2] (h, w) >= 1, padding[4] (top, bottom, left, right) >= 0. */
pg_tensor *pg_conv2d(pg_tensor *x, pg_tensor *w, const int64_t *stride, const int64_t *padding,
                     const int64_t *dilation, int64_t groups);
/* the gradient of pg_conv2d w.r.t. x, for an input of height and width input_hw[2] (the transposed
 * convolution): g (N, O, OH, OW), w as pg_conv2d's -> (N, C, H, W) */
pg_tensor *pg_conv2d_input_grad(pg_tensor *g, pg_tensor *w, const int64_t *input_hw, const int64_t *stride,
                                const int64_t *padding, const int64_t *dilation, int64_t groups);
/* the gradient of pg_conv2d w.r.t. w, for a kernel of kernel_hw[2]: x (N, C, H, W), g (N, O, OH, OW)
 * -> (O, C/groups, KH, KW), summed over the batch */
pg_tensor *pg_conv2d_weight_grad(pg_tensor *x, pg_tensor *g, const int64_t *kernel_hw, const int64_t *stride,
                                 const int64_t *padding, const int64_t *dilation, int64_t groups);
/* Normalisation (PyTorch's), y = (x - mean) / sqrt(var + eps) * weight + bias, var biased; weight and
 * bias may be NULL (ones, zeros), else of x's dtype.
 * batch_norm: x (N, C, *), statistics per channel over (N, *); weight, bias, running_mean, running_var (C,).
 * training: the batch's statistics (more than one value per channel), and running_mean/var (both or
 * neither) updated in place, not recorded: r = (1 - momentum) r + momentum s, the variance unbiased;
 * else the running statistics (required). */
pg_tensor *pg_batch_norm(pg_tensor *x, pg_tensor *running_mean, pg_tensor *running_var, pg_tensor *weight,
                         pg_tensor *bias, int training, double momentum, double eps);
/* layer_norm: statistics over the last normalized_ndim dims of x, which must equal normalized_shape;
 * weight, bias of normalized_shape */
pg_tensor *pg_layer_norm(pg_tensor *x, int normalized_ndim, const int64_t *normalized_shape, pg_tensor *weight,
                         pg_tensor *bias, double eps);
/* group_norm: x (N, C, *), C divisible by num_groups, statistics per (n, group); weight, bias (C,) */
pg_tensor *pg_group_norm(pg_tensor *x, int64_t num_groups, pg_tensor *weight, pg_tensor *bias, double eps);
/* dropout in training mode: y = x · keep / (1 - p), keep[i] = hash(seed, i) >= floor(p · 2^32), with
 * p in [0, 1] (p = 1: zeros); the mask is a counter-based hash of (seed, flat index), recomputed by
 * backward, never stored. Float x. */
pg_tensor *pg_dropout(pg_tensor *x, double p, uint64_t seed);
/* A float tensor of shape[ndim] drawn from a counter-based generator keyed by seed (the bits of flat
 * index i depend on (seed, i) alone, so any thread count gives the same values):
 *   PG_RANDOM_UNIFORM: u = (bits >> 11) · 2^-53 in [0, 1) (float64), (bits >> 40) · 2^-24 (float32);
 *   PG_RANDOM_NORMAL:  Box-Muller on the pair k = i / 2: u1 = ((bits(2k) >> 11) + 1) · 2^-53 in (0, 1],
 *                      u2 = (bits(2k+1) >> 11) · 2^-53; z = sqrt(-2 log u1) · (cos, sin)(2π u2) for
 *                      i even, odd; log, cos, sin are the engine's own polynomials (so the reference
 *                      engine gets the same bits); computed in float64, rounded once for float32.
 * Never requires grad. Under pygrad.compile each run sets a fresh seed (pg_program_set_seeds). */
pg_tensor *pg_random(pg_dtype dtype, int ndim, const int64_t *shape, int kind, uint64_t seed);
/* Integers in [low, high) (low < high) of shape[ndim], uniform and unbiased, from the generator of
 * pg_random: y[i] = low + floor(x · span / 2^64), span = high - low, x = bits(seed, i), the draw of
 * element i repeated with x = bits of the key fmix64(key + j) at attempt j = 1, 2, ... while
 * (x · span) mod 2^64 < 2^64 mod span (Lemire's rejection). Any dtype: the int64 value converted
 * (int32 and bool need [low, high - 1] within their range, else PG_ERR_VALUE; float32 and float64
 * round values beyond 2^24 and 2^53). Never requires grad; under pygrad.compile each run sets a
 * fresh seed, as for pg_random. */
pg_tensor *pg_randint(pg_dtype dtype, int ndim, const int64_t *shape, int64_t low, int64_t high, uint64_t seed);
/* y[i] = 1 if (bits(seed, i) >> 11) · 2^-53 < p[i] else 0, in p's dtype and shape: Bernoulli samples
 * with probabilities p (float, each in [0, 1]; else PG_ERR_VALUE). Never requires grad (no gradient to p). */
pg_tensor *pg_bernoulli(pg_tensor *p, uint64_t seed);
/* y[i, :] = weight[indices[i], :]: weight (V, D), indices [numel(shape)] in [0, V), shape[ndim] the
 * indices' shape (ndim < PG_MAX_DIMS) -> (shape..., D); padding_idx in [0, V) gets no gradient (-1: none);
 * scale_grad_by_freq: the gradient of row v is divided by the number of times v occurs in indices */
pg_tensor *pg_embedding(pg_tensor *weight, int ndim, const int64_t *shape, const int64_t *indices,
                        int64_t padding_idx, int scale_grad_by_freq);
/* PyTorch's embedding_renorm_ (F.embedding's max_norm), in place on weight (V, D, float) and outside the
 * graph (no node, whatever the grad mode; the version moves): each distinct row v in indices (an int64
 * tensor of any shape, each in [0, V)) whose norm_type-norm n exceeds max_norm (>= 0) is multiplied by
 * max_norm / (n + 1e-7). n is a value of the weight's dtype (accumulated in double, then rounded), the
 * scale is computed in double and rounded to the dtype. norm_type: any number (inf: max |x|, 0: the
 * count of non-zeros). Errors: PG_ERR_VALUE (NULL, max_norm < 0 or NaN, norm_type NaN), PG_ERR_TYPE
 * (weight not float, indices not int64), PG_ERR_SHAPE (weight not 2-d), PG_ERR_INDEX (an index out of
 * range; nothing is changed). Under pygrad.compile each run reads the indices' tensor again. */
pg_status pg_embedding_renorm_(pg_tensor *weight, pg_tensor *indices, double max_norm, double norm_type);
/* softmax(scale · q kᵀ + bias) v, fused (blocks of query rows; no L×S matrix kept): q (B..., L, E),
 * k (B..., S, E), v (B..., S, Ev) -> (B..., L, Ev); bias (B..., L, S) additive (−inf: masked out) or a 0-d
 * tensor (none); is_causal masks key j > query i. A row with every key masked out gives zeros. Same float
 * dtype throughout. dropout_p in [0, 1] drops attention weights (the rest scaled by 1 / (1 - dropout_p))
 * with pg_dropout's mask of seed over the (B..., L, S) weights; 0: no dropout. */
pg_tensor *pg_scaled_dot_product_attention(pg_tensor *q, pg_tensor *k, pg_tensor *v, pg_tensor *bias, double scale,
                                           int is_causal, double dropout_p, uint64_t seed);
/* 2-d pooling over the H x W planes of x (N, C, H, W) (PyTorch's semantics). kernel[2], stride[2],
 * padding[2], dilation[2] are (h, w); padding at most half the kernel; OH = (H + 2*pad - dil*(KH-1) - 1) / stride
 * + 1, rounded up with ceil_mode (a last window must start inside the input or its left padding).
 * max_pool2d: each window's maximum (NaN propagates); indices, when not NULL, receives a new int64 tensor of
 * the output's shape: each maximum's flat index in its H*W plane (the first maximum, the last NaN). */
pg_tensor *pg_max_pool2d(pg_tensor *x, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                         const int64_t *dilation, int ceil_mode, pg_tensor **indices);
/* each window's sum over its size: the window clipped to the padded input (count_include_pad) or to the
 * input, or divisor_override when it is not 0 */
pg_tensor *pg_avg_pool2d(pg_tensor *x, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                         int ceil_mode, int count_include_pad, int64_t divisor_override);
/* the mean over PyTorch's adaptive windows: rows [floor(i*H/OH), ceil((i+1)*H/OH)), likewise columns;
 * output_hw[2] = (OH, OW) >= 1 */
pg_tensor *pg_adaptive_avg_pool2d(pg_tensor *x, const int64_t *output_hw);
/* the gradients of pg_avg_pool2d and pg_adaptive_avg_pool2d w.r.t. x (the transposed averages), for an
 * input of input_hw[2]: g (N, C, OH, OW) -> (N, C, H, W); one op, avg_pool2d_input_grad */
pg_tensor *pg_avg_pool2d_input_grad(pg_tensor *g, const int64_t *input_hw, const int64_t *kernel,
                                    const int64_t *stride, const int64_t *padding, int ceil_mode,
                                    int count_include_pad, int64_t divisor_override);
pg_tensor *pg_adaptive_avg_pool2d_input_grad(pg_tensor *g, const int64_t *input_hw);
/* Resampling of x (N, C, L) or (N, C, H, W) to size[1] = (OL) or size[2] = (OH, OW), PyTorch's interpolate
 * (its CPU kernels' index and weight arithmetic, in x's dtype). Per spatial dim, in -> out, the source map
 * uses s = 1/scale[d] when scale is not NULL and scale[d] > 0, else in/out:
 *   PG_INTERP_NEAREST        y[o] = x[min(floor(o*s), in-1)]
 *   PG_INTERP_NEAREST_EXACT  y[o] = x[min(floor(max(s*(o+1/2) - 1/2, 0) + 1/2), in-1)]
 *   PG_INTERP_LINEAR         y[o] = (1-l) x[i] + l x[min(i+1, in-1)], i = floor(src), l = src - i,
 *                            src = max(s*(o+1/2) - 1/2, 0), or o*(in-1)/(out-1) with align_corners
 *                            (which only linear and cubic take); out == in copies
 *   PG_INTERP_CUBIC          y[o] = sum_k c_k(l) x[clamp(i-1+k, 0, in-1)], k = 0..3, i, l as linear but src
 *                            not raised to 0; c_k Keys' cubic convolution weights with A = -0.75
 *   | PG_INTERP_ANTIALIAS    y[o] = sum_j w_j x[j] over the inputs within the filter's support of the
 *                            centre s*(o+1/2) (support 1 or 2, times s when s > 1: downsampling widens
 *                            it), w_j = f((j + 1/2 - centre)/max(s, 1)) normalised to sum 1, f the triangle
 *                            (linear) or the cubic with A = -0.5; a dim whose size does not change copies
 * 2-d applies the map of W to each needed row, then that of H. Float x; N may be 0. */
pg_tensor *pg_interpolate(pg_tensor *x, int mode, const int64_t *size, const double *scale, int align_corners);
/* its gradient w.r.t. x (the transposed resampling, a scatter-add): g (N, C, out...) -> (N, C, input_size...)
 * for the pg_interpolate of an input of spatial sizes input_size with the same mode, scale, align_corners;
 * one op, interpolate_input_grad, whose own gradient is pg_interpolate */
pg_tensor *pg_interpolate_input_grad(pg_tensor *g, int mode, const int64_t *input_size, const double *scale,
                                     int align_corners);
pg_tensor *pg_concatenate(pg_tensor **xs, int n, int axis);
pg_tensor *pg_stack(pg_tensor **xs, int n, int axis);
pg_tensor *pg_softmax(pg_tensor *x, int axis);
pg_tensor *pg_log_softmax(pg_tensor *x, int axis);
pg_tensor *pg_cast(pg_tensor *x, pg_dtype dtype);
/* y = x where x > 0, else w[c] x, with c the element's channel (axis 1);
 * weight: (1,) (one shared slope) or (C,) with C = x.shape[1] */
pg_tensor *pg_prelu(pg_tensor *x, pg_tensor *weight);
/* y[..., c] = max_k x[..., c*pieces + k];  x: (..., C*pieces) -> y: (..., C) */
pg_tensor *pg_maxout(pg_tensor *x, int64_t pieces);
/* loss_i = log sum_j e^(logits[i, j]) - logits[i, labels[i]], computed stably;
 * logits: (N, C), labels: [n_labels] (n_labels == N, each in [0, C); copied
 * into the node); result (N,) for PG_REDUCTION_NONE, else 0-d */
pg_tensor *pg_cross_entropy(pg_tensor *logits, const int64_t *labels, int64_t n_labels, pg_reduction reduction);
/* the same, rows labelled ignore_index counting for nothing (loss 0, gradient 0, left out of the
 * mean, which is NaN when every row is ignored): PyTorch's F.cross_entropy */
pg_tensor *pg_cross_entropy_ignore(pg_tensor *logits, const int64_t *labels, int64_t n_labels, pg_reduction reduction,
                                   int64_t ignore_index);
/* loss_i = -(1 - s) w[y_i] x[i, y_i] - (s / C) sum_j w[j] x[i, j] (s = 0: -w[y_i] x[i, y_i]) on
 * the rows whose label y_i is not ignore_index, 0 on the others: PyTorch's nll_loss, with label
 * smoothing s in [0, 1] (F.cross_entropy's, over a log_softmax). x: (N, C) log-probabilities;
 * weight: (C,) class weights of x's dtype, or 0-d for none (all 1), never differentiated (as PyTorch,
 * one that requires grad is refused while grad mode is on, PG_ERR_RUNTIME); labels: [n_labels]
 * (n_labels == N, each in [0, C) or ignore_index; copied into the node); result (N,) for
 * PG_REDUCTION_NONE, else 0-d; the mean divides by the sum of w[y_i] over the rows kept.
 * as_cross_entropy: messages name cross_entropy. */
pg_tensor *pg_nll_loss(pg_tensor *x, pg_tensor *weight, const int64_t *labels, int64_t n_labels,
                       pg_reduction reduction, int64_t ignore_index, double label_smoothing, int as_cross_entropy);
/* y[..., c] = 1 where labels[...] == c, else 0: an int64 tensor of shape labels.shape + (num_classes,)
 * (PyTorch's F.one_hot with num_classes >= 0). labels: int64 or int32, any shape (at most
 * PG_MAX_DIMS - 1 dims), each in [0, num_classes) (else PG_ERR_VALUE naming the label and the count);
 * read from the tensor, so a compiled step checks them at each run. No gradient. */
pg_tensor *pg_one_hot(pg_tensor *labels, int64_t num_classes);
/* l = w ((t - 1) max(log(1 - p), -100) - t max(log p, -100)): PyTorch's F.binary_cross_entropy of
 * probabilities p (input, float) and targets t (target, p's shape and dtype), each loss times weight
 * (p's dtype, broadcasting to p's shape; NULL: none); result p's shape for PG_REDUCTION_NONE, else 0-d
 * (the mean over numel(p), NaN when empty). p must lie in [0, 1] (NaN refused): checked at each run,
 * PG_ERR_VALUE. Gradients (PyTorch's): dp = g (p - t) / max((1 - p) p, 1e-12) w, dt = -logit(p) g w,
 * divided by numel for the mean; none to the weight: as PyTorch, a weight that requires grad is refused
 * while grad mode is on (PG_ERR_RUNTIME). */
pg_tensor *pg_binary_cross_entropy(pg_tensor *input, pg_tensor *target, pg_tensor *weight, pg_reduction reduction);
/* PyTorch's F.huber_loss (smooth_l1 0: delta > 0) and F.smooth_l1_loss (smooth_l1 1: delta is its beta
 * >= 0) of input and target (float, one shape and dtype), d = x - t, z = |d|:
 *   huber_loss      l = z < delta ? z z / 2 : delta (z - delta / 2)
 *   smooth_l1_loss  l = z < beta ? z z / 2 / beta : z - beta / 2    (beta = 0: l = z)
 * in x's dtype; result x's shape for PG_REDUCTION_NONE, else 0-d (summed in double; the mean over numel,
 * NaN when empty), computed in one pass. dx = u g (over numel for the mean), dt = -dx, u = clamp(d, -delta,
 * delta), clamp(d / beta, -1, 1) or, for beta = 0, sign(d) (0 at 0). A bad delta: PG_ERR_VALUE. */
pg_tensor *pg_huber_loss(pg_tensor *input, pg_tensor *target, pg_reduction reduction, double delta, int smooth_l1);
/* y = x (float, any shape; a fresh tensor), x being a total norm of order norm_type: refused with
 * PG_ERR_RUNTIME, at each run (a compiled program's included), when x holds a NaN or an infinity, in
 * PyTorch's words for nn.utils.clip_grad_norm_(..., error_if_nonfinite=True). dx = g. */
pg_tensor *pg_check_finite_norm(pg_tensor *x, double norm_type);
/* comparisons: bool result, never recorded */
pg_tensor *pg_compare(pg_tensor *a, pg_tensor *b, pg_cmp cmp);
pg_tensor *pg_compare_scalar(pg_tensor *a, double c, pg_cmp cmp);
/* bitwise and, or, xor of bool or integer tensors (logical for bool), with
 * arithmetic's promotion and broadcasting, and not (~x: logical not for
 * bool); never recorded */
pg_tensor *pg_bitwise(pg_tensor *a, pg_tensor *b, pg_bitop op);
pg_tensor *pg_bitwise_not(pg_tensor *x);

/* User-defined op: the caller computed `value` (the forward result); the
 * returned tensor shares value's storage and, when an input requires grad,
 * records a node whose backward calls backward(ctx, ...). release(ctx) is
 * called once when the node is freed or its graph released (at once if
 * nothing is recorded, and on failure). */
pg_tensor *pg_custom(pg_tensor **inputs, int n_in, pg_tensor *value, pg_custom_backward_fn backward,
                     pg_custom_release_fn release, void *ctx);

/* ---- graph introspection (for drawing circuits) ---- */
pg_node *pg_tensor_node(pg_tensor *t);            /* new reference to t's grad_fn, or NULL for a leaf */
void pg_node_release(pg_node *n);
int pg_node_op(const pg_node *n);
int pg_node_n_inputs(const pg_node *n);
int pg_node_is_released(const pg_node *n);        /* saved values dropped by a backward */
pg_node *pg_node_input_node(pg_node *n, int i);   /* new reference to the producer of input i, or NULL */
pg_tensor *pg_node_input_leaf(pg_node *n, int i); /* new reference to leaf input i (requires grad), or NULL */
pg_tensor *pg_node_output(pg_node *n);            /* new reference to the output if still alive, or NULL */

/* ---- threads and kernels ---- */
/* Threads the kernels may use (GEMM, large elementwise ops and reductions);
 * default: the number of online cores (usable by this process).
 * 1 <= n <= PG_MAX_THREADS, else PG_ERR_VALUE. Process-wide. */
#define PG_MAX_THREADS 256
pg_status pg_set_num_threads(int n);
int pg_get_num_threads(void);
/* A binding that calls the engine while holding a lock of its own (Python's
 * GIL) installs these: the engine calls unlock() before work it hands to the
 * thread pool (GEMM beyond the small-matrix path, elementwise and reduction
 * work of at least two grains) and lock(token) after it, so long kernels let
 * other threads of the host run while cheap calls pay nothing. NULL, NULL
 * uninstalls. Neither hook may call back into the engine. */
typedef void *(*pg_unlock_fn)(void);
typedef void (*pg_lock_fn)(void *token);
void pg_set_blocking_hooks(pg_unlock_fn unlock, pg_lock_fn lock);
/* The GEMM kernel matmul uses: "auto" (the default: the best this CPU runs),
 * "avx512", "avx2", "generic" (portable C) or "naive" (the unblocked oracle).
 * For tests and diagnosis; PG_ERR_VALUE for an unknown name or a kernel this
 * CPU cannot run. pg_gemm_kernel names the kernel in use (static string). */
pg_status pg_set_gemm_kernel(const char *name);
const char *pg_gemm_kernel(void);
/* The kernels of exp, log, tanh, sigmoid, sin and cos (and of their
 * backward where it evaluates one): "auto" (the default: the best this CPU
 * runs), "avx512", "avx2" or "scalar" (libm, one element at a time). For
 * tests and diagnosis; PG_ERR_VALUE for an unknown name or kernels this CPU
 * cannot run. pg_vmath_kernel names the kernels in use (static string). */
pg_status pg_set_vmath_kernel(const char *name);
const char *pg_vmath_kernel(void);

/* ---- memory: the cache of large storage buffers (alloc.c) ----
 * A freed storage buffer of at least 1 MiB is kept and handed to the next
 * tensor of its size class (four classes per power of two), instead of going
 * back to the system: a fresh large buffer costs page faults and the kernel
 * zeroing it, often more than the op that fills it. The cache is process-wide
 * and thread-safe, holds at most the limit (default min(1 GiB, RAM / 4);
 * pygrad's Python package reads PYGRAD_CACHE_BYTES at import), drops its least
 * recently freed blocks to stay under it, and is emptied before an allocation
 * the system refuses is tried again. A limit of 0 turns caching off. */
typedef struct pg_memory_stats {
    int64_t allocated_bytes;   /* storage bytes of live tensors (pg_live_bytes) */
    int64_t cached_bytes;      /* bytes of freed buffers kept for reuse */
    int64_t cached_blocks;     /* how many such buffers */
    int64_t cache_limit;       /* the most cached_bytes may reach */
    int64_t cache_hits;        /* large allocations served from the cache */
    int64_t cache_misses;      /* large allocations that asked the system */
    int64_t num_alloc_retries; /* allocations the system refused, tried again after emptying the cache */
} pg_memory_stats;
void pg_empty_cache(void);                           /* every cached buffer back to the system */
pg_status pg_set_cache_limit(int64_t nbytes);        /* nbytes >= 0, else PG_ERR_VALUE; evicts at once */
int64_t pg_get_cache_limit(void);
pg_status pg_get_memory_stats(pg_memory_stats *stats); /* PG_ERR_VALUE on NULL */

/* ---- optimizer updates (optim.c) ----
 * Each is one fused pass over a parameter's buffer, with PyTorch's update rule.
 * They write param and the state buffers in place, bump param's version, and
 * are never recorded (whatever the grad mode). param, grad and every state
 * buffer they use have one shape and one float dtype (float32 params are
 * updated in double precision and rounded once per element). All tensors are
 * borrowed. step is the 1-based count of updates including this one; a state
 * buffer that the settings do not use may be NULL. */
pg_status pg_sgd_step(pg_tensor *param, pg_tensor *grad, pg_tensor *momentum_buf, int64_t step, double lr,
                      double momentum, double dampening, double weight_decay, int nesterov, int maximize);
pg_status pg_adagrad_step(pg_tensor *param, pg_tensor *grad, pg_tensor *state_sum, int64_t step, double lr,
                          double lr_decay, double weight_decay, double eps, int maximize);
pg_status pg_rmsprop_step(pg_tensor *param, pg_tensor *grad, pg_tensor *square_avg, pg_tensor *momentum_buf,
                          pg_tensor *grad_avg, double lr, double alpha, double eps, double weight_decay,
                          double momentum, int centered, int maximize);
pg_status pg_adam_step(pg_tensor *param, pg_tensor *grad, pg_tensor *exp_avg, pg_tensor *exp_avg_sq,
                       pg_tensor *max_exp_avg_sq, int64_t step, double lr, double beta1, double beta2, double eps,
                       double weight_decay, int decoupled_weight_decay, int amsgrad, int maximize);
/* Every update's maximize ascends (the gradient is negated first). NAdam's
 * mu_product is the caller's running product of the momentum factors
 * beta1 (1 - 0.5 * 0.96^(i momentum_decay)), i = 1 .. step.
 * Rprop's step_size buffer starts filled with lr, prev with zeros. */
pg_status pg_adamax_step(pg_tensor *param, pg_tensor *grad, pg_tensor *exp_avg, pg_tensor *exp_inf, int64_t step,
                         double lr, double beta1, double beta2, double eps, double weight_decay, int maximize);
pg_status pg_nadam_step(pg_tensor *param, pg_tensor *grad, pg_tensor *exp_avg, pg_tensor *exp_avg_sq, int64_t step,
                        double mu_product, double lr, double beta1, double beta2, double eps, double weight_decay,
                        double momentum_decay, int decoupled_weight_decay, int maximize);
pg_status pg_radam_step(pg_tensor *param, pg_tensor *grad, pg_tensor *exp_avg, pg_tensor *exp_avg_sq, int64_t step,
                        double lr, double beta1, double beta2, double eps, double weight_decay,
                        int decoupled_weight_decay, int maximize);
pg_status pg_adadelta_step(pg_tensor *param, pg_tensor *grad, pg_tensor *square_avg, pg_tensor *acc_delta, double lr,
                           double rho, double eps, double weight_decay, int maximize);
pg_status pg_rprop_step(pg_tensor *param, pg_tensor *grad, pg_tensor *prev, pg_tensor *step_size, double etaminus,
                        double etaplus, double step_size_min, double step_size_max, int maximize);

/* ---- compiled programs (program.c: pygrad.compile) ----
 * A program records one eager run of a step on this thread (forward ops,
 * the backward sweep, gradient accumulation, set_grad, the optimizer updates)
 * between record_begin and record_end, and replays it later in one call with
 * new input tensors of the recorded shapes and dtypes. captured: the tensors
 * (parameters, optimizer state) the step may use besides its inputs; they are
 * held by the program and used by pointer. record_end fails (PG_ERR_RUNTIME,
 * the message naming the first reason) when the step did something a program
 * cannot replay; it always ends the recording. run writes n_outputs new
 * tensors (copies of the recorded outputs' values, NULL for a None .grad).
 * set_optim_scalars replaces the scalars of the k-th optimizer update (in the
 * order of the pg_*_step arguments after the tensors, as doubles). line
 * writes instruction i as text (snprintf's return). The program is owned by
 * the caller (pg_program_free). */
typedef struct pg_program pg_program;
pg_program *pg_program_new(void);
void pg_program_free(pg_program *g);
pg_status pg_program_record_begin(pg_program *g, pg_tensor **inputs, int n_inputs, pg_tensor **captured,
                                  int n_captured);
pg_status pg_program_record_refuse(pg_program *g, const char *what);
pg_status pg_program_record_end(pg_program *g, pg_tensor **outputs, int n_outputs);
pg_status pg_program_run(pg_program *g, pg_tensor **inputs, int n_inputs, pg_tensor **outputs);
int pg_program_size(const pg_program *g);
int pg_program_n_optim(const pg_program *g);
pg_status pg_program_set_optim_scalars(pg_program *g, int k, const double *s, int n);
/* every update's scalars in one call: s holds them update after update, n in all */
pg_status pg_program_set_all_optim_scalars(pg_program *g, const double *s, int n);
/* the random ops (dropout, random, bernoulli) of a program, in recording order: n_seeds counts them,
 * set_seeds gives each its seed for the next runs (forward and backward) */
int pg_program_n_seeds(const pg_program *g);
pg_status pg_program_set_seeds(pg_program *g, const uint64_t *seeds, int n);
int pg_program_line(const pg_program *g, int i, char *buf, int cap);
/* A tensor a creation function made while this thread records a program: record_fill says it is
 * `value` everywhere (full, zeros, ones: each run fills a new one), record_data that its values are
 * the constant they are now (tensor(data), arange, eye: the program keeps a private copy and each
 * run copies it). Both do nothing when nothing is recording. */
pg_status pg_program_record_fill(pg_tensor *t, double value);
pg_status pg_program_record_data(pg_tensor *t);

/* ---- accounting (for leak tests) ---- */
int64_t pg_live_tensors(void);
int64_t pg_live_nodes(void);
int64_t pg_live_bytes(void);
/* PG_CDEF_END */

#ifdef __cplusplus
}
#endif
#endif /* PYGRAD_H */
