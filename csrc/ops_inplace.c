/* ops_inplace.c: in-place updates (add_, mul_, add_scalar_, mul_scalar_,
 * fill_, copy_, and any other through pg_inplace_begin/pg_inplace_commit):
 * they write the tensor's storage and bump its version. Under grad mode, on a
 * tensor of a graph, the update is recorded as the out-of-place op applied to
 * a snapshot standing for the tensor (pg__inplace_record), and the tensor
 * becomes the output of its node, as PyTorch does. Not recorded on views in
 * the graph, or on tensors such a view shares memory with. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* A recorded update of a tensor that is a view, or whose storage a view in
 * the graph shares, would leave the other tensor's graph stale (its values
 * change, its history does not): refused, where PyTorch rewrites the view's
 * history. Updating a clone() is the way out. */
static pg_status pg__check_views(const char *op, const pg_tensor *t) {
    long others = atomic_load(&t->storage->graph_views) - (t->graph_view ? 1 : 0);
    if (t->graph_view || (t->grad_fn && !pg_optable[t->grad_fn->op]->forward))
        return pg__fail(PG_ERR_RUNTIME,
                        "%s: the tensor is a view (made by %s) of a tensor of the graph; an in-place update of it "
                        "cannot be recorded: update a clone() instead",
                        op, t->grad_fn ? pg_optable[t->grad_fn->op]->name : "a view op");
    if (others > 0)
        return pg__fail(PG_ERR_RUNTIME,
                        "%s: the tensor has %ld view(s) (reshape) in the graph sharing its memory; an in-place "
                        "update of it cannot be recorded: update a clone() instead",
                        op, others);
    return PG_OK;
}

/* Refuses what can never be done in place; *record says whether the update
 * must be recorded (grad mode on, and t or the operand requires grad). */
static pg_status pg__check_inplace(const char *op, pg_tensor *t, const pg_tensor *other, bool *record) {
    pg_status st = pg__check_float(op, t);
    if (st) return st;
    bool on = pg_grad_enabled();
    if (t->inference && !pg_inference_mode())
        return pg__fail(PG_ERR_RUNTIME,
                        "%s: in-place update to an inference tensor outside inference_mode is not allowed; "
                        "clone() it first",
                        op);
    if (on && t->requires_grad && !t->grad_fn) {
        char b[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_RUNTIME,
                        "%s: a leaf tensor that requires grad (shape %s) cannot be modified in place while "
                        "grad mode is on; do the update under no_grad()",
                        op, pg__shape_str(t->ndim, t->shape, b, sizeof b));
    }
    *record = on && (t->requires_grad || (other && other->requires_grad));
    return *record ? pg__check_views(op, t) : PG_OK;
}

static void pg__bump(pg_tensor *t) { atomic_fetch_add(&t->storage->version, 1); }

/* pygrad.compile: an update the graph does not record becomes an instruction of
 * the program (its replay calls the same entry point); one the graph records
 * (grad mode, on a tensor of the graph) is not replayable yet */
static void pg__rec_inplace(int kind, pg_tensor *t, pg_tensor *operand, double c) {
    pg_recorder *rec = pg_tls.recorder;
    if (rec) rec->ops->inplace(rec, kind, t, operand, c);
}

static void pg__rec_refuse_graph(void) {
    pg_recorder *rec = pg_tls.recorder;
    if (rec)
        rec->ops->refuse(rec, "an in-place update recorded in the graph (grad mode on, on a tensor that requires "
                              "grad); do it out of place, or under no_grad");
}

/* A copy of t's values that stands for t in the graph (shares t's grad_fn):
 * the input of an in-place op's recorded out-of-place form, so that the
 * values it saves are not the ones the update overwrites. */
static pg_tensor *pg__snapshot(pg_tensor *t) {
    pg_tensor *before = pg_tensor_clone(t);
    if (!before) return NULL;
    before->grad_fn = t->grad_fn;
    if (before->grad_fn) atomic_fetch_add(&before->grad_fn->refcount, 1);
    before->requires_grad = t->requires_grad;
    return before;
}

/* t takes out's values (same shape and dtype) into its own storage and, when
 * out was recorded, out's node: t is then the output of the in-place op's
 * node, as PyTorch does. Nodes that saved t's old values see the bumped
 * version and refuse to run. */
static void pg__take_over(pg_tensor *t, pg_tensor *out) {
    if (out->grad_fn) pg__rec_refuse_graph();
    else pg__rec_inplace(PG_REC_IP_COMMIT, t, out, 0);
    memcpy(t->data, out->data, t->storage->nbytes < out->storage->nbytes ? t->storage->nbytes : out->storage->nbytes);
    pg_node *fresh = out->grad_fn;
    if (fresh) {
        pg_node *old = t->grad_fn;
        out->grad_fn = NULL; /* t takes over out's reference to the new node */
        out->requires_grad = false;
        fresh->out = t;
        if (old && old->out == t) old->out = NULL;
        t->grad_fn = fresh;
        t->requires_grad = true;
        pg__node_release(old);
    }
    pg__bump(t);
}

/* the kinds are the recorder's (PG_REC_IP_*) */
enum { PG_IP_ADD = PG_REC_IP_ADD, PG_IP_MUL = PG_REC_IP_MUL, PG_IP_ADD_SCALAR = PG_REC_IP_ADD_SCALAR,
       PG_IP_MUL_SCALAR = PG_REC_IP_MUL_SCALAR, PG_IP_FILL = PG_REC_IP_FILL };

/* Records `t (op)= operand` as the out-of-place op applied to a snapshot of
 * t's values (which takes t's place in the graph), writes the result into t's
 * storage and makes t the output of the new node, as PyTorch does. Nodes that
 * saved t's old values see its bumped version and refuse to run. */
static pg_status pg__inplace_record(pg_tensor *t, int kind, pg_tensor *operand, double c) {
    pg__rec_refuse_graph();
    pg_tensor *before = pg__snapshot(t);
    if (!before) return PG_ERR_MEMORY;
    pg_tensor *o = operand == t ? before : operand, *out = NULL;
    switch (kind) {
    case PG_IP_ADD:
        if (c == 1.0) {
            out = pg_add(before, o);
        } else if (c == -1.0) {
            out = pg_sub(before, o);
        } else {
            pg_tensor *scaled = pg_mul_scalar(o, c);
            out = scaled ? pg_add(before, scaled) : NULL;
            pg_tensor_release(scaled);
        }
        break;
    case PG_IP_MUL: out = pg_mul(before, o); break;
    case PG_IP_ADD_SCALAR: out = pg_add_scalar(before, c); break;
    case PG_IP_MUL_SCALAR: out = pg_mul_scalar(before, c); break;
    default: /* fill: a constant, so d out / d before = 0 */
        out = pg_mul_scalar(before, 0.0);
        if (out) {
            if (out->dtype == PG_DTYPE_F32)
                for (int64_t i = 0; i < out->numel; i++) ((float *)out->data)[i] = (float)c;
            else
                for (int64_t i = 0; i < out->numel; i++) ((double *)out->data)[i] = c;
        }
    }
    pg_tensor_release(before);
    if (!out) return pg_last_status();
    pg__take_over(t, out);
    pg_tensor_release(out);
    return PG_OK;
}

#define PG_AXPY_ROW(TT, SUF)                                                                \
    PG_CLONES static void axpy_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        TT *o = (TT *)ptr[0];                                                               \
        const TT *b = (const TT *)ptr[1];                                                   \
        TT alpha = (TT) * (double *)ctx;                                                    \
        if (st[1] == 1) {                                                                   \
            PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] += alpha * b[i];                  \
        } else if (st[1] == 0) {                                                            \
            const TT ab = alpha * b[0];                                                     \
            for (int64_t i = 0; i < n; i++) o[i] += ab;                                     \
        } else {                                                                            \
            for (int64_t i = 0; i < n; i++) o[i] += alpha * b[i * st[1]];                   \
        }                                                                                   \
    }                                                                                       \
    PG_CLONES static void scale_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        TT *o = (TT *)ptr[0];                                                               \
        const TT *b = (const TT *)ptr[1];                                                   \
        (void)ctx;                                                                          \
        if (st[1] == 1) {                                                                   \
            PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] *= b[i];                          \
        } else {                                                                            \
            for (int64_t i = 0; i < n; i++) o[i] *= b[i * st[1]];                           \
        }                                                                                   \
    }
PG_AXPY_ROW(float, f32)
PG_AXPY_ROW(double, f64)

/* Brings `other` to t's dtype and checks it broadcasts to t's shape. */
static pg_status pg__inplace_operand(const char *op, pg_tensor *t, pg_tensor *other, pg_tensor **o) {
    if (pg__check_tensor(op, other)) return PG_ERR_VALUE;
    pg_meta m;
    pg_tensor *in[2] = {t, other};
    if (pg__broadcast_shapes(op, &m, in, 2)) return PG_ERR_SHAPE;
    if (m.ndim != t->ndim || memcmp(m.shape, t->shape, sizeof(int64_t) * (size_t)t->ndim)) {
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "%s: operand of shape %s does not broadcast to the tensor's shape %s",
                        op, pg__shape_str(other->ndim, other->shape, b1, sizeof b1),
                        pg__shape_str(t->ndim, t->shape, b2, sizeof b2));
    }
    *o = other->dtype == t->dtype ? PG_NEW_REF(other) : pg_cast(other, t->dtype); /* differentiable */
    return *o ? PG_OK : pg_last_status();
}

static pg_status pg__inplace2(const char *op, int kind, pg_tensor *t, pg_tensor *other, pg_row_fn f32,
                              pg_row_fn f64, double alpha) {
    bool record = false;
    pg_status st = pg__check_tensor(op, other);
    if (st || (st = pg__check_inplace(op, t, other, &record))) return st;
    pg_tensor *o;
    int prev_anomaly = record ? pg_detect_anomaly() : pg_set_detect_anomaly(0); /* unrecorded: no graph op */
    st = pg__inplace_operand(op, t, other, &o);
    pg_set_detect_anomaly(prev_anomaly);
    if (st) return st;
    if (record) {
        st = pg__inplace_record(t, kind, o, alpha);
    } else {
        pg_meta m;
        pg__meta_of(&m, t);
        const pg_tensor *ops[1] = {o};
        pg__rec_inplace(kind, t, o, alpha);
        pg__ew_run(t, &m, ops, 1, t->dtype == PG_DTYPE_F64 ? f64 : f32, &alpha);
        pg__bump(t);
    }
    pg_tensor_release(o);
    return st;
}

pg_status pg_add_(pg_tensor *t, pg_tensor *other, double alpha) {
    return pg__inplace2("add_", PG_IP_ADD, t, other, axpy_row_f32, axpy_row_f64, alpha);
}

pg_status pg_mul_(pg_tensor *t, pg_tensor *other) {
    return pg__inplace2("mul_", PG_IP_MUL, t, other, scale_row_f32, scale_row_f64, 1.0);
}

/* t = t + c or t * c over [lo, hi), unrecorded */
typedef struct pg_scalar_job {
    bool f64, mul;
    void *o;
    double c;
} pg_scalar_job;

#define PG_SCALAR_LOOPS(TT, SUF)                                                    \
    PG_CLONES static void add_scalar_##SUF(TT *o, int64_t n, TT c) {                \
        PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] = o[i] + c;                   \
    }                                                                               \
    PG_CLONES static void mul_scalar_##SUF(TT *o, int64_t n, TT c) {                \
        PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] = o[i] * c;                   \
    }
PG_SCALAR_LOOPS(float, f32)
PG_SCALAR_LOOPS(double, f64)

static void pg__scalar_range(void *ctx, int64_t lo, int64_t hi) {
    const pg_scalar_job *j = ctx;
    if (j->f64) {
        double *o = (double *)j->o + lo;
        if (j->mul) mul_scalar_f64(o, hi - lo, j->c);
        else add_scalar_f64(o, hi - lo, j->c);
    } else {
        float *o = (float *)j->o + lo;
        if (j->mul) mul_scalar_f32(o, hi - lo, (float)j->c);
        else add_scalar_f32(o, hi - lo, (float)j->c);
    }
}

/* t += c or t *= c on an integer tensor (never part of a graph): c must be an
 * integer; the arithmetic wraps around, computed unsigned as the integer ops do */
static pg_status pg__inplace_scalar_int(const char *op, int kind, pg_tensor *t, double c) {
    if (t->inference && !pg_inference_mode())
        return pg__fail(PG_ERR_RUNTIME, "%s: in-place update to an inference tensor outside inference_mode is not "
                                        "allowed; clone() it first", op);
    if (!(c == floor(c)) || fabs(c) > 9007199254740992.0)
        return pg__fail(PG_ERR_TYPE, "%s: a %s tensor takes an integer operand in place, got %g", op,
                        pg__dtype_name(t->dtype), c);
    pg__rec_inplace(kind, t, NULL, c);
    uint64_t k = (uint64_t)(int64_t)c;
    if (t->dtype == PG_DTYPE_I64) {
        uint64_t *v = t->data;
        for (int64_t i = 0; i < t->numel; i++) v[i] = kind == PG_IP_MUL_SCALAR ? v[i] * k : v[i] + k;
    } else {
        uint32_t *v = t->data;
        for (int64_t i = 0; i < t->numel; i++) v[i] = kind == PG_IP_MUL_SCALAR ? v[i] * (uint32_t)k : v[i] + (uint32_t)k;
    }
    pg__bump(t);
    return PG_OK;
}

static pg_status pg__inplace_scalar(const char *op, int kind, pg_tensor *t, double c) {
    bool record = false;
    pg_status st = pg__check_tensor(op, t);
    if (st) return st;
    if ((t->dtype == PG_DTYPE_I64 || t->dtype == PG_DTYPE_I32) && kind != PG_IP_FILL)
        return pg__inplace_scalar_int(op, kind, t, c);
    if ((st = pg__check_inplace(op, t, NULL, &record))) return st;
    if (record) return pg__inplace_record(t, kind, NULL, c);
    pg__rec_inplace(kind, t, NULL, c);
    if (kind == PG_IP_FILL) {
        pg__fill(t, c);
    } else {
        pg_scalar_job j = {t->dtype == PG_DTYPE_F64, kind == PG_IP_MUL_SCALAR, t->data, c};
        pg__parallel_range(t->numel, 64, PG_NDITER_GRAIN, pg__scalar_range, &j);
    }
    pg__bump(t);
    return PG_OK;
}

pg_status pg_add_scalar_(pg_tensor *t, double c) { return pg__inplace_scalar("add_", PG_IP_ADD_SCALAR, t, c); }
pg_status pg_mul_scalar_(pg_tensor *t, double c) { return pg__inplace_scalar("mul_", PG_IP_MUL_SCALAR, t, c); }

pg_status pg_fill_(pg_tensor *t, double value) {
    if (pg__check_tensor("fill_", t)) return PG_ERR_VALUE;
    if (t->dtype == PG_DTYPE_BOOL) {
        pg__rec_inplace(PG_REC_IP_FILL, t, NULL, value);
        pg__fill(t, value);
        pg__bump(t);
        return PG_OK;
    }
    return pg__inplace_scalar("fill_", PG_IP_FILL, t, value);
}

pg_status pg_copy_(pg_tensor *dst, pg_tensor *src) {
    if (pg__check_tensor("copy_", dst) || pg__check_tensor("copy_", src)) return PG_ERR_VALUE;
    if (dst->inference && !pg_inference_mode())
        return pg__fail(PG_ERR_RUNTIME, "copy_: in-place update to an inference tensor outside inference_mode is not "
                                        "allowed; clone() it first");
    if (pg_grad_enabled() && (dst->requires_grad || src->requires_grad))
        return pg__fail(PG_ERR_RUNTIME,
                        "copy_: copying into or from a tensor that requires grad is not recorded; do it "
                        "under no_grad() (e.g. when loading parameters)");
    if (dst->numel != src->numel) {
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "copy_: source of shape %s has %lld elements, destination %s has %lld",
                        pg__shape_str(src->ndim, src->shape, b1, sizeof b1), (long long)src->numel,
                        pg__shape_str(dst->ndim, dst->shape, b2, sizeof b2), (long long)dst->numel);
    }
    pg__rec_inplace(PG_REC_IP_COPY, dst, src, 0);
    if (dst->data != src->data) pg__convert(dst->data, dst->dtype, src->data, src->dtype, dst->numel);
    pg__bump(dst);
    return PG_OK;
}

/* ---- the general in-place update: begin, the out-of-place op, commit ---- */

pg_tensor *pg_inplace_begin(pg_tensor *t, int operand_requires_grad, const char *op) {
    if (!op) op = "in-place op";
    bool record = false;
    if (pg__check_tensor(op, t)) return NULL;
    if (pg__check_inplace(op, t, NULL, &record)) return NULL;
    record = pg_grad_enabled() && (t->requires_grad || operand_requires_grad);
    if (record && pg__check_views(op, t)) return NULL;
    if (record) pg__rec_refuse_graph();
    return record ? pg__snapshot(t) : PG_NEW_REF(t);
}

pg_status pg_inplace_commit(pg_tensor *t, pg_tensor *value, const char *op) {
    if (!op) op = "in-place op";
    if (pg__check_tensor(op, t) || pg__check_tensor(op, value)) return PG_ERR_VALUE;
    if (value->ndim != t->ndim || !pg__same_dims(t->ndim, value->shape, t->shape)) {
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "%s: the result has shape %s, which does not match the tensor's shape %s", op,
                        pg__shape_str(value->ndim, value->shape, b1, sizeof b1),
                        pg__shape_str(t->ndim, t->shape, b2, sizeof b2));
    }
    pg_tensor *v = value->dtype == t->dtype ? PG_NEW_REF(value) : pg_cast(value, t->dtype);
    if (!v) return pg_last_status();
    if (v->storage == t->storage && v->grad_fn == t->grad_fn) { /* t itself (an update that left it as it was) */
        pg__rec_inplace(PG_REC_IP_COMMIT, t, v, 0);
        pg_tensor_release(v);
        pg__bump(t);
        return PG_OK;
    }
    if (v->storage == t->storage)
        return pg_tensor_release(v),
               pg__fail(PG_ERR_RUNTIME, "%s: the result shares the tensor's storage; cannot update in place", op);
    pg__take_over(t, v);
    pg_tensor_release(v);
    return PG_OK;
}
