/* autograd.c: the tape. pg__apply runs an op-table row and records a node;
 * pg_backward sweeps the recorded nodes in reverse topological order,
 * through each row's backward kernel (or its differentiable rule, for
 * create_graph). Kernels and rules live in ops_*.c and are reached only
 * through the op table; this file only moves tensors between them. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* the per-thread grad mode is pg_tls.grad_disabled: 0, grad mode on, by default */

int pg_grad_enabled(void) { return !pg_tls.grad_disabled; }

int pg_set_grad_enabled(int flag) {
    int prev = !pg_tls.grad_disabled;
    pg_tls.grad_disabled = !flag;
    return prev;
}

int pg_op_count(void) { return PG_OP_COUNT; }

const char *pg_op_name(int op) { return (op >= 0 && op < PG_OP_COUNT) ? pg_optable[op]->name : NULL; }

bool pg__node_needs(const pg_node *n, int i) { return n->edges[i].fn || n->edges[i].leaf; }

pg_tensor *pg__grad_buffer(const pg_tensor *g, const pg_node *n, int i) {
    const pg_meta *m = &n->edges[i].meta;
    long refs = atomic_load_explicit(&g->refcount, memory_order_relaxed);
    if (n->gout_reusable && refs - atomic_load_explicit(&g->recorder_refs, memory_order_relaxed) == 1 &&
        g->dtype == m->dtype && g->ndim == m->ndim && pg__same_dims(m->ndim, g->shape, m->shape)) {
        /* the sweep's reference is the only one (but for a recording's) and nobody
         * can take another meanwhile: a plain store adds the caller's */
        pg_tensor *t = (pg_tensor *)g;
        atomic_store_explicit(&t->refcount, refs + 1, memory_order_relaxed);
        return t;
    }
    return pg__tensor_new_like(m);
}

/* ---- recording ---- */

static pg_status pg__record_ts(pg_thread *ts, pg_tensor *out, int op, pg_tensor *const *in, int n_in,
                               const pg_params *p) {
    const pg_opdef *d = pg_optable[op];
    pg_node *n = pg__node_alloc(ts, n_in);
    if (!n) return pg__fail(PG_ERR_MEMORY, "%s: out of memory recording the graph node", d->name);
    atomic_init(&n->refcount, 1); /* owned by out->grad_fn */
    n->op = op;
    n->n_in = n_in;
    n->mark = ts->recording_sweep;
    n->out = out;
    pg__meta_of(&n->out_meta, out);
    n->p = *p;
    for (int k = 0; k < PG_MAX_SAVED; k++) n->saved_from[k] = -2;
    if (p->offsets) {
        size_t bytes = sizeof(int64_t) * (size_t)p->n_offsets;
        n->owned_offsets = malloc(bytes ? bytes : 1);
        if (!n->owned_offsets) {
            free(n); /* never cached yet: plain free is right for any n_in */
            return pg__fail(PG_ERR_MEMORY, "%s: out of memory recording the index", d->name);
        }
        memcpy(n->owned_offsets, p->offsets, bytes);
        n->p.offsets = n->owned_offsets;
    }
    pg__count_node(ts, 1);
    for (int i = 0; i < n_in; i++) {
        pg_edge *e = &n->edges[i];
        pg__meta_of(&e->meta, in[i]);
        if (!in[i]->requires_grad) continue;
        if (in[i]->grad_fn) {
            e->fn = in[i]->grad_fn;
            atomic_fetch_add_explicit(&e->fn->refcount, 1, memory_order_relaxed);
        } else {
            e->leaf = PG_NEW_REF(in[i]);
        }
    }
    int k = 0;
    for (int i = 0; i < n_in && i < 7; i++) {
        if (!(d->save & (1u << i))) continue;
        if (in[i]->inference) {
            pg__node_release(n);
            out->grad_fn = NULL;
            return pg__fail(PG_ERR_RUNTIME,
                            "%s: inference tensors cannot be saved for backward (input %d was made under "
                            "inference_mode); clone() it outside inference_mode to get a normal tensor and "
                            "use that in autograd",
                            d->name, i);
        }
        n->saved[k] = PG_NEW_REF(in[i]);
        n->saved_version[k] = atomic_load(&in[i]->storage->version);
        n->saved_from[k++] = i;
    }
    if (d->save & PG_SAVE_OUT) {
        /* an alias without grad_fn: saving out itself would make a cycle */
        pg_tensor *alias = pg__alias(out, out->ndim, out->shape);
        if (!alias) {
            pg__node_release(n);
            return PG_ERR_MEMORY;
        }
        n->saved[k] = alias;
        n->saved_version[k] = atomic_load(&out->storage->version);
        n->saved_from[k++] = -1;
    }
    out->grad_fn = n;
    out->requires_grad = true;
    return PG_OK;
}

pg_status pg__record(pg_tensor *out, int op, pg_tensor *const *in, int n_in, const pg_params *p) {
    return pg__record_ts(pg__thread(), out, op, in, n_in, p);
}

pg_tensor *pg__apply(int op, pg_tensor *const *in, int n_in, const pg_params *params) {
    const pg_opdef *d = pg_optable[op];
    pg_params q;
    const pg_params *p = params;
    if (params->op != op) { /* callers that did not set it */
        q = *params;
        q.op = op;
        p = &q;
    }
    for (int i = 0; i < n_in; i++)
        if (pg__check_tensor(d->name, in[i])) return NULL;
    pg_meta m;
    if (d->infer(&m, in, n_in, p) != PG_OK) return NULL;
    pg_thread *ts = pg__thread();
    if (ts->recorder && d->forward) ts->recorder->ops->make(ts->recorder, &m); /* pygrad.compile */
    pg_tensor *out;
    if (!d->forward) /* a row without a forward kernel is a view: the output shares in[0]'s storage */
        out = pg__alias(in[0], m.ndim, m.shape);
    else if (m.dtype == in[0]->dtype && m.ndim == in[0]->ndim && pg__same_dims(m.ndim, m.shape, in[0]->shape))
        out = pg__tensor_new_as(ts, in[0]); /* elementwise: the input's shape was checked when it was made */
    else
        out = pg__tensor_new_like(&m);
    if (!out) return NULL;
    if (d->forward && (d->forward(out, in, n_in, p) != PG_OK ||
                       (ts->anomaly && pg__anomaly_check_forward(op, out) != PG_OK))) {
        pg_tensor_release(out);
        return NULL;
    }
    if (!ts->grad_disabled) {
        bool need = false;
        for (int i = 0; i < n_in; i++) need |= in[i]->requires_grad;
        if (need && pg__is_float(out->dtype) && pg__record_ts(ts, out, op, in, n_in, p) != PG_OK) {
            pg_tensor_release(out);
            return NULL;
        }
        if (need && !d->forward) { /* a view in the graph: in-place updates of its storage are refused */
            out->graph_view = true;
            atomic_fetch_add(&out->storage->graph_views, 1);
        }
    }
    if (ts->recorder) ts->recorder->ops->apply(ts->recorder, out, in, n_in, p); /* pygrad.compile */
    return out;
}

/* ---- the entry points' shared steps: promotion before pg__apply ---- */

/* x cast to the float dtype dt, recorded: pg_cast's path for float targets */
static pg_tensor *pg__cast_float(pg_tensor *x, pg_dtype dt) {
    pg_params p = {0};
    p.cast = dt;
    return pg__apply(PG_OP_CAST, &x, 1, &p);
}

pg_tensor *pg__to_dtype(pg_tensor *x, pg_dtype dt) {
    if (x->dtype == dt) return PG_NEW_REF(x);
    if (pg__is_float(dt)) return pg__cast_float(x, dt); /* recorded when x is float and requires grad */
    pg_tensor *out = pg__tensor_new(dt, x->ndim, x->shape);
    if (out) pg__convert(out->data, dt, x->data, x->dtype, x->numel);
    return out;
}

pg_tensor *pg__apply_float1_cast(int op, pg_tensor *x, const pg_params *p) {
    pg_tensor *f = pg__cast_float(x, PG_DTYPE_F32);
    if (!f) return NULL;
    pg_tensor *out = pg__apply(op, &f, 1, p);
    pg_tensor_release(f);
    return out;
}

static int pg__dtype_kind(pg_dtype d) { return pg__is_float(d) ? 2 : pg__is_int(d) ? 1 : 0; }

pg_dtype pg__result_dtype(const pg_tensor *a, const pg_tensor *b) {
    pg_dtype x = a->dtype, y = b->dtype;
    if (x == y) return x;
    int kx = pg__dtype_kind(x), ky = pg__dtype_kind(y);
    if (kx != ky) return kx > ky ? x : y;
    bool sx = a->ndim == 0, sy = b->ndim == 0;
    if (sx != sy) return sx ? y : x; /* same kind: the tensor with dims wins over a 0-d one */
    return pg__dtype_size(x) >= pg__dtype_size(y) ? x : y;
}

static pg_status pg__convert2(pg_tensor **a, pg_tensor **b, pg_dtype target) {
    pg_tensor *x = *a, *y = *b;
    *a = pg__to_dtype(x, target);
    if (!*a) return pg_last_status();
    *b = pg__to_dtype(y, target);
    if (!*b) {
        pg_tensor_release(*a);
        return pg_last_status();
    }
    return PG_OK;
}

pg_status pg__promote2(const char *op, pg_tensor **a, pg_tensor **b) {
    if (pg__check_tensor(op, *a) || pg__check_tensor(op, *b)) return PG_ERR_VALUE;
    return pg__convert2(a, b, pg__result_dtype(*a, *b));
}

/* The binary ops' dtype rules beyond float (x) float: div is true division
 * (float32 for integer and bool operands), as is atan2; pow, fmod, remainder
 * and floor_divide of bools are computed in int64;
 * bool - bool is refused (PyTorch's rule: use ^ or logical_xor). */
pg_tensor *pg__apply2_mixed(int op, pg_tensor *a, pg_tensor *b) {
    const char *name = pg_optable[op]->name;
    if (pg__check_tensor(name, a) || pg__check_tensor(name, b)) return NULL;
    pg_dtype target = pg__result_dtype(a, b);
    if ((op == PG_OP_DIV || op == PG_OP_ATAN2) && !pg__is_float(target)) target = PG_DTYPE_F32;
    if ((op == PG_OP_POW || op == PG_OP_FMOD || op == PG_OP_REMAINDER || op == PG_OP_FLOOR_DIVIDE) &&
        target == PG_DTYPE_BOOL)
        target = PG_DTYPE_I64;
    if (op == PG_OP_SUB && target == PG_DTYPE_BOOL) {
        pg__fail(PG_ERR_TYPE, "sub: subtracting two bool tensors is not supported; use ^ (logical xor) instead");
        return NULL;
    }
    pg_tensor *x = a, *y = b;
    if (pg__convert2(&x, &y, target)) return NULL;
    pg_params p = {0};
    p.op = op;
    pg_tensor *in[2] = {x, y};
    pg_tensor *out = pg__apply(op, in, 2, &p);
    pg_tensor_release(x);
    pg_tensor_release(y);
    return out;
}

/* ---- gradient accumulation: set the first contribution, add the others ---- */

/* nobody but the caller holds t or its storage (a recording's references to t, which only keep
 * its address the recording's own and never read it, do not count: the tape then takes over a
 * gradient as it does eagerly, instead of copying it) */
static bool pg__exclusive(const pg_tensor *t) {
    return atomic_load(&t->refcount) - atomic_load(&t->recorder_refs) == 1 && atomic_load(&t->storage->refcount) == 1 &&
           !t->storage->external;
}

/* *slot += g. g is borrowed. A slot nobody else sees is updated in place;
 * otherwise a fresh tensor replaces it, so no caller's buffer is changed. A value
 * a recording names (pygrad.compile) is never added into in place: its slot in the
 * program would stand for two values, before and after, which the replay does not
 * tell apart (the program then computed the wrong gradient) */
pg_status pg__accumulate(pg_tensor **slot, pg_tensor *g) {
    if (!*slot) {
        /* the caller's reference is its only one: take over g instead of copying */
        if (pg__exclusive(g)) {
            *slot = PG_NEW_REF(g);
            return PG_OK;
        }
        *slot = pg_tensor_clone(g);
        return *slot ? PG_OK : PG_ERR_MEMORY;
    }
    if (atomic_load(&(*slot)->recorder_refs) == 0 && pg__exclusive(*slot)) {
        pg__add_into(*slot, g);
        return PG_OK;
    }
    pg_tensor *sum = pg_tensor_clone(*slot);
    if (!sum) return PG_ERR_MEMORY;
    pg__add_into(sum, g);
    pg_tensor_release(*slot);
    *slot = sum;
    return PG_OK;
}

/* *slot += *g, taking over the reference *g when the slot is empty and
 * nobody else sees *g (then *g becomes NULL); else as pg__accumulate. */
static pg_status pg__accumulate_move(pg_tensor **slot, pg_tensor **g) {
    if (!*slot && pg__exclusive(*g)) {
        *slot = *g;
        *g = NULL;
        return PG_OK;
    }
    return pg__accumulate(slot, *g);
}

/* leaf->grad += g, under the leaf's lock (another thread may accumulate into
 * it, read it or replace it meanwhile). create: recorded, so the sum stays
 * differentiable. Otherwise a .grad accumulates in place even when Python
 * holds it (as PyTorch does), unless that could change a value the sweep still
 * reads or the caller passed in: when it is part of a graph (made by
 * create_graph), its storage is shared, it is g itself or the sweep's seed
 * (keep: the caller's gradient, may be NULL); then a fresh tensor replaces
 * it. An in-place update bumps its version, as any in-place op does. */
pg_status pg__accumulate_leaf(pg_tensor *leaf, pg_tensor *g, const pg_tensor *keep, bool create) {
    pg_status st = PG_OK;
    pg__grad_lock(leaf);
    pg_tensor *old = leaf->grad;
    if (create) {
        if (!old) {
            leaf->grad = PG_NEW_REF(g);
        } else {
            pg_thread *ts = pg__thread();
            if (old->grad_fn && old->grad_fn->mark != ts->recording_sweep) /* recorded before this sweep */
                ts->grad_graph_chained = true;
            pg_tensor *sum = pg__apply2(PG_OP_ADD, old, g);
            if (sum) leaf->grad = sum;
            else st = pg_last_status(), old = NULL;
        }
    } else if (!old) {
        /* the caller's reference is its only one: take over g instead of copying */
        leaf->grad = pg__exclusive(g) ? PG_NEW_REF(g) : pg_tensor_clone(g);
        if (!leaf->grad) st = PG_ERR_MEMORY;
    } else if (!old->grad_fn && atomic_load(&old->storage->refcount) == 1 && old->storage != g->storage &&
               (!keep || old->storage != keep->storage)) {
        pg__add_into(old, g);
        atomic_fetch_add(&old->storage->version, 1);
        old = NULL;
    } else {
        pg_tensor *sum = pg_tensor_clone(old);
        if (sum) {
            pg__add_into(sum, g);
            leaf->grad = sum;
        } else {
            st = PG_ERR_MEMORY;
            old = NULL;
        }
    }
    pg__grad_unlock(leaf);
    pg_tensor_release(old); /* the replaced .grad, outside the lock */
    return st;
}

/* create_graph: *slot = *slot + g, recorded, so the sum stays differentiable. */
static pg_status pg__accumulate_rec(pg_tensor **slot, pg_tensor *g) {
    if (!*slot) {
        *slot = PG_NEW_REF(g);
        return PG_OK;
    }
    pg_tensor *sum = pg__apply2(PG_OP_ADD, *slot, g);
    if (!sum) return pg_last_status();
    pg_tensor_release(*slot);
    *slot = sum;
    return PG_OK;
}

pg_status pg__check_saved(const pg_node *n) {
    for (int k = 0; k < PG_MAX_SAVED; k++) {
        const pg_tensor *s = n->saved[k];
        if (!s) break; /* saved values fill the slots from the first */
        uint64_t now = atomic_load(&s->storage->version);
        if (now != n->saved_version[k]) {
            char b[PG_SHAPE_BUF];
            const char *what = n->saved_from[k] < 0 ? "its output" : "an input";
            return pg__fail(PG_ERR_RUNTIME,
                            "backward: %s of %s, of shape %s, was modified in place after it was saved "
                            "for backward (version %llu when saved, now %llu); compute it out of "
                            "place, or detach/clone before modifying",
                            what, pg_optable[n->op]->name, pg__shape_str(s->ndim, s->shape, b, sizeof b),
                            (unsigned long long)n->saved_version[k], (unsigned long long)now);
        }
    }
    return PG_OK;
}

/* ---- backward ---- */

/* The two vectors of a sweep are kept per thread between sweeps (pg_tls.sweep).
 * A sweep takes them (a nested sweep, run from a user callback, finds none
 * and makes its own) and gives them back when done; the larger is kept. */
static pg_nodevec pg__vec_take(pg_nodevec *cache) {
    pg_nodevec v = *cache;
    cache->v = NULL;
    cache->n = cache->cap = 0;
    v.n = 0;
    return v;
}

static void pg__vec_give(pg_thread *ts, pg_nodevec *cache, pg_nodevec *v) {
    pg__thread_register(ts); /* frees them at thread exit */
    if (v->cap > cache->cap) {
        free(cache->v);
        *cache = *v;
    } else {
        free(v->v);
    }
    cache->n = 0;
}

static bool pg__vec_push(pg_nodevec *s, pg_node *x) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        pg_node **v = realloc(s->v, cap * sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return true;
}

static atomic_ulong pg_sweep_id;

/* ---- claims: one sweep at a time per node ----
 * A sweep claims every node it reaches (node->owner = its thread) before it
 * writes anything into them, and lets them all go when it ends. A sweep that
 * finds a node claimed by another thread lets its own claims go and waits for
 * that node; one that finds a node claimed by an outer sweep of its own
 * thread (a backward called from a user backward, through the graph being
 * swept) fails: the outer sweep cannot finish before it. */

#define PG_MAX_NESTED_SWEEPS 64

static pthread_mutex_t pg_claim_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pg_claim_cv = PTHREAD_COND_INITIALIZER;
static atomic_int pg_claim_waiters;

/* a fork's child starts with the claim lock fresh (see the gradient locks in tensor.c) */
static void pg__claims_after_fork(void) {
    pthread_mutex_init(&pg_claim_mu, NULL);
    pthread_cond_init(&pg_claim_cv, NULL);
    atomic_store(&pg_claim_waiters, 0);
}
__attribute__((constructor)) static void pg__claims_register(void) { pthread_atfork(NULL, NULL, pg__claims_after_fork); }

static void pg__unclaim(pg_nodevec *all) {
    for (size_t i = 0; i < all->n; i++) atomic_store_explicit(&all->v[i]->owner, NULL, memory_order_release);
    all->n = 0;
    /* a read-modify-write, not a load: a waiter that counts itself after it
     * (in the counter's order) then sees the stores above */
    if (atomic_fetch_add(&pg_claim_waiters, 0)) {
        pg__mutex_lock(&pg_claim_mu);
        pthread_cond_broadcast(&pg_claim_cv);
        pthread_mutex_unlock(&pg_claim_mu);
    }
}

/* waits (without the GIL) until n is claimed by nobody */
static void pg__wait_unclaimed(pg_node *n) {
    atomic_fetch_add(&pg_claim_waiters, 1);
    pg__mutex_lock(&pg_claim_mu);
    while (atomic_load(&n->owner) != NULL) pg__cond_wait(&pg_claim_cv, &pg_claim_mu);
    pthread_mutex_unlock(&pg_claim_mu);
    atomic_fetch_sub(&pg_claim_waiters, 1);
}

enum { PG_CLAIM_ERROR = -2, PG_CLAIM_BUSY = -1, PG_CLAIM_SEEN = 0, PG_CLAIM_NEW = 1 };
/* pg__collect's answer when a node is claimed by another thread's sweep */
#define PG_BUSY ((pg_status)-1)

/* Claims n for this sweep: NEW, SEEN (already ours), BUSY (claimed by another
 * thread; *busy = n) or ERROR (claimed by an outer sweep of this thread). */
static int pg__claim(pg_thread *ts, pg_node *n, uint64_t id, pg_node **busy) {
    struct pg_thread *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&n->owner, &expected, ts, memory_order_acquire,
                                                memory_order_acquire)) {
        n->mark = id;
        n->pending = 0;
        return PG_CLAIM_NEW;
    }
    if (expected == ts && n->mark == id) return PG_CLAIM_SEEN;
    if (expected == ts) {
        pg__fail(PG_ERR_RUNTIME,
                        "backward: the graph is being swept by a backward that has not finished (the node "
                        "%s is part of it): a backward called from a user backward cannot go through "
                        "the graph being swept; build the inner graph from detached tensors",
                        pg_optable[n->op]->name);
        return PG_CLAIM_ERROR;
    }
    *busy = n;
    return PG_CLAIM_BUSY;
}

/* Visits every node reachable from root, breadth first with `all` as the
 * queue (no recursion), claiming each and counting how many reachable
 * consumers will send it a gradient. Takes no references: the caller holds
 * root, whose edges hold the rest (edges change only when a node is freed).
 * Refuses released graphs and stale saved values before anything is changed. */
static pg_status pg__collect(pg_thread *ts, pg_node *root, uint64_t id, pg_nodevec *all, pg_node **busy) {
    pg_status st = PG_OK;
    int c = pg__claim(ts, root, id, busy);
    if (c == PG_CLAIM_BUSY) return PG_BUSY;
    if (c == PG_CLAIM_ERROR) return PG_ERR_RUNTIME;
    if (c == PG_CLAIM_SEEN) return PG_OK; /* one of several roots, reached from an earlier one */
    size_t start = all->n; /* the nodes before it were visited from earlier roots */
    if (!pg__vec_push(all, root)) {
        atomic_store(&root->owner, NULL);
        st = PG_ERR_MEMORY;
    }
    for (size_t q = start; st == PG_OK && q < all->n; q++) {
        pg_node *n = all->v[q];
        if (n->released) {
            st = pg__fail(PG_ERR_RUNTIME,
                          "backward: trying to backward through the graph a second time (the node "
                          "%s already released its saved values); pass retain_graph=True to the "
                          "first backward if you need to backward twice",
                          pg_optable[n->op]->name);
            break;
        }
        if ((st = pg__check_saved(n)) != PG_OK) break;
        for (int i = 0; i < n->n_in; i++) {
            pg_node *f = n->edges[i].fn;
            if (!f) continue;
            c = pg__claim(ts, f, id, busy);
            if (c == PG_CLAIM_BUSY || c == PG_CLAIM_ERROR) {
                st = c == PG_CLAIM_BUSY ? PG_BUSY : PG_ERR_RUNTIME;
                break;
            }
            if (c == PG_CLAIM_NEW && !pg__vec_push(all, f)) {
                atomic_store(&f->owner, NULL);
                st = PG_ERR_MEMORY;
                break;
            }
            f->pending++;
        }
    }
    if (st == PG_ERR_MEMORY && pg_last_status() != PG_ERR_MEMORY)
        pg__fail(PG_ERR_MEMORY, "backward: out of memory collecting the graph");
    return st;
}

static pg_status pg__seed(pg_tensor **seed, pg_tensor *root, pg_tensor *grad) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (!grad) {
        if (root->numel != 1)
            return pg__fail(PG_ERR_RUNTIME,
                            "backward: grad can be implicitly created only for one-element outputs, "
                            "but the output has shape %s; pass grad= of that shape",
                            pg__shape_str(root->ndim, root->shape, b1, sizeof b1));
        *seed = pg_tensor_full(root->dtype, root->ndim, root->shape, 1.0);
        return *seed ? PG_OK : PG_ERR_MEMORY;
    }
    if (grad->ndim != root->ndim || memcmp(grad->shape, root->shape, sizeof(int64_t) * (size_t)root->ndim))
        return pg__fail(PG_ERR_SHAPE, "backward: grad has shape %s but the output has shape %s",
                        pg__shape_str(grad->ndim, grad->shape, b1, sizeof b1),
                        pg__shape_str(root->ndim, root->shape, b2, sizeof b2));
    if (grad->dtype == root->dtype) {
        *seed = PG_NEW_REF(grad);
        return PG_OK;
    }
    if (pg__check_float("backward", grad)) return PG_ERR_TYPE;
    int prev = pg_set_grad_enabled(0), prev_anomaly = pg_set_detect_anomaly(0); /* not an op of the graph */
    *seed = pg__cast_float(grad, root->dtype);
    pg_set_grad_enabled(prev);
    pg_set_detect_anomaly(prev_anomaly);
    return *seed ? PG_OK : PG_ERR_MEMORY;
}

/* One sweep's state. Leaves with hooks, and every leaf in pg_grad (capture
 * mode), do not accumulate as each contribution arrives: their gradients are
 * summed here and handed on when the graph is done, so a hook sees the
 * leaf's whole gradient once, as in PyTorch. */
typedef struct pg_leafgrad {
    pg_tensor *leaf; /* borrowed: an edge of a swept node, or a root, holds it */
    pg_tensor *g;    /* owned: the sum so far */
} pg_leafgrad;

typedef struct pg_sweep {
    pg_thread *ts;
    pg_nodevec ready;
    const pg_tensor *keep; /* the caller's gradient: never written into */
    bool retain, create;
    bool capture;          /* pg_grad: no .grad written; the inputs' gradients go to results */
    pg_tensor **inputs;    /* capture: [n_inputs] */
    int n_inputs;
    pg_tensor **results;   /* capture: [n_inputs] */
    pg_leafgrad *leaves;   /* [n_leaves] deferred leaf gradients */
    size_t n_leaves, cap_leaves;
} pg_sweep;

/* Calls t's GRAD hook on *g; a gradient the hook returns replaces *g. */
static pg_status pg__run_grad_hook(const pg_tensor_hooks *h, pg_tensor *t, pg_tensor **g) {
    pg_tensor *rep = NULL;
    if (h->fn(h->ctx, PG_HOOK_GRAD, t, *g, &rep) != 0) {
        pg_tensor_release(rep);
        return pg_last_status() != PG_OK ? pg_last_status() : pg__fail(PG_ERR_CALLBACK, "hook: a hook failed");
    }
    if (!rep) return PG_OK;
    const pg_tensor *o = *g;
    if (rep->dtype != o->dtype || rep->ndim != o->ndim || !pg__same_dims(o->ndim, rep->shape, o->shape)) {
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        pg_status st = pg__fail(PG_ERR_RUNTIME, "hook: the hook returned a gradient of %s %s for a gradient of %s %s",
                                pg__dtype_name(rep->dtype), pg__shape_str(rep->ndim, rep->shape, b1, sizeof b1),
                                pg__dtype_name(o->dtype), pg__shape_str(o->ndim, o->shape, b2, sizeof b2));
        pg_tensor_release(rep);
        return st;
    }
    pg_tensor_release(*g);
    *g = rep;
    return PG_OK;
}

static int pg__input_index(const pg_sweep *sw, const pg_tensor *t) {
    for (int j = 0; j < sw->n_inputs; j++)
        if (sw->inputs[j] == t) return j;
    return -1;
}

/* leaf's gradient g (a reference the caller gives up, *g set NULL) waits in sw */
static pg_status pg__defer_leaf(pg_sweep *sw, pg_tensor *leaf, pg_tensor **g) {
    if (sw->capture && pg__input_index(sw, leaf) < 0) { /* not asked for: dropped */
        pg_tensor_release(*g);
        *g = NULL;
        return PG_OK;
    }
    for (size_t i = 0; i < sw->n_leaves; i++)
        if (sw->leaves[i].leaf == leaf) {
            pg_status st = sw->create ? pg__accumulate_rec(&sw->leaves[i].g, *g)
                                      : pg__accumulate_move(&sw->leaves[i].g, g);
            pg_tensor_release(*g);
            *g = NULL;
            return st;
        }
    if (sw->n_leaves == sw->cap_leaves) {
        size_t cap = sw->cap_leaves ? sw->cap_leaves * 2 : 8;
        pg_leafgrad *v = realloc(sw->leaves, cap * sizeof *v);
        if (!v) return pg__fail(PG_ERR_MEMORY, "backward: out of memory");
        sw->leaves = v;
        sw->cap_leaves = cap;
    }
    sw->leaves[sw->n_leaves].leaf = leaf;
    sw->leaves[sw->n_leaves++].g = *g;
    *g = NULL;
    return PG_OK;
}

/* g (borrowed) flows into leaf: now, or deferred when it has hooks or in capture mode */
static pg_status pg__to_leaf(pg_sweep *sw, pg_tensor *leaf, pg_tensor **g) {
    pg_recorder *rec = sw->ts->recorder; /* pygrad.compile */
    if (rec && leaf->hooks) rec->ops->refuse(rec, "a hook on a leaf tensor");
    else if (rec) rec->ops->accumulate_leaf(rec, leaf, *g, sw->keep);
    if (!sw->capture && !leaf->hooks) return pg__accumulate_leaf(leaf, *g, sw->keep, sw->create);
    pg_tensor *mine = PG_NEW_REF(*g);
    return pg__defer_leaf(sw, leaf, &mine);
}

/* The deferred leaves, once the graph is done: hooks, then .grad (or the result). */
static pg_status pg__finish_leaves(pg_sweep *sw, pg_status st) {
    for (size_t i = 0; i < sw->n_leaves; i++) {
        pg_tensor *leaf = sw->leaves[i].leaf, *g = sw->leaves[i].g;
        sw->leaves[i].g = NULL;
        const pg_tensor_hooks *h = leaf->hooks;
        if (st == PG_OK && h && (h->kinds & PG_HOOK_GRAD)) st = pg__run_grad_hook(h, leaf, &g);
        if (st == PG_OK && sw->capture) {
            int j = pg__input_index(sw, leaf);
            if (j >= 0 && !sw->results[j]) sw->results[j] = PG_NEW_REF(g);
        } else if (st == PG_OK) {
            st = pg__accumulate_leaf(leaf, g, sw->keep, sw->create);
            h = leaf->hooks;
            if (st == PG_OK && h && (h->kinds & PG_HOOK_POST_ACCUMULATE) &&
                h->fn(h->ctx, PG_HOOK_POST_ACCUMULATE, leaf, NULL, NULL) != 0)
                st = pg_last_status() != PG_OK ? pg_last_status() : pg__fail(PG_ERR_CALLBACK, "hook: a hook failed");
        }
        pg_tensor_release(g);
    }
    sw->n_leaves = 0;
    return st;
}

/* Runs one node's backward kernel and hands each input's gradient on. */
static pg_status pg__sweep_node(pg_sweep *sw, pg_node *n) {
    pg_thread *ts = sw->ts;
    bool create = sw->create;
    const pg_opdef *d = pg_optable[n->op];
    pg_tensor *g = n->gacc;
    n->gacc = NULL;
    bool run = !sw->capture || n->run;
    if (sw->capture && !n->needed) { /* not on the way to an input: skipped, kept */
        pg_tensor_release(g);
        g = NULL;
    }
    /* saved values are checked again as each node runs: a user backward that
     * ran before may have changed one in place */
    pg_status st = g && run ? pg__check_saved(n) : PG_OK;
    if (st == PG_OK && g && n->hooks && (n->hooks->kinds & PG_HOOK_GRAD)) st = pg__run_grad_hook(n->hooks, n->out, &g);
    if (st == PG_OK && g && sw->capture && n->capture && !sw->results[n->capture - 1])
        sw->results[n->capture - 1] = PG_NEW_REF(g);
    if (st == PG_OK && g && !sw->capture && n->out && n->out->retains_grad)
        st = pg__accumulate_leaf(n->out, g, sw->keep, create);
    if (!run) {
        pg_tensor_release(g);
        g = NULL;
    }
    pg_tensor *small[8];
    pg_tensor **dx = small;
    if (n->n_in <= 8)
        for (int i = 0; i < n->n_in; i++) small[i] = NULL;
    else if (!(dx = calloc((size_t)n->n_in, sizeof *dx)))
        st = pg__fail(PG_ERR_MEMORY, "backward: out of memory in %s", d->name);
    if (st == PG_OK && g) {
        if (create) {
            st = d->rule ? d->rule(dx, g, n)
                         : pg__fail(PG_ERR_RUNTIME,
                            "backward: %s has no differentiable backward rule (create_graph=True)", d->name);
        } else {
            /* g is nobody else's (not a retained .grad, a hook's argument, the
             * caller's seed): the kernel may write its result into it */
            n->gout_reusable = pg__exclusive(g) && !g->grad_fn;
            st = d->backward(dx, g, n);
            n->gout_reusable = false;
            if (ts->recorder && st == PG_OK) ts->recorder->ops->backward(ts->recorder, n, g, dx); /* pygrad.compile */
        }
    }
    if (st == PG_OK && g && ts->anomaly) st = pg__anomaly_check_backward(n, dx);
    if (g) {
        /* a kernel that wrote into g returns it as dx[i]: when those are the
         * only two references, both ours, fold them without an atomic op */
        for (int i = 0; i < n->n_in && dx; i++) {
            long refs = atomic_load_explicit(&g->refcount, memory_order_relaxed);
            if (dx[i] == g && refs - atomic_load_explicit(&g->recorder_refs, memory_order_relaxed) == 2) {
                atomic_store_explicit(&g->refcount, refs - 1, memory_order_relaxed);
                g = NULL;
                break;
            }
        }
        pg_tensor_release(g);
    }
    for (int i = 0; dx && i < n->n_in; i++) {
        pg_edge *e = &n->edges[i];
        if (st == PG_OK && dx[i]) {
            if (create && e->fn) st = pg__accumulate_rec(&e->fn->gacc, dx[i]);
            else if (e->fn && ts->recorder) { /* pygrad.compile: what the accumulation did */
                pg_tensor *before = e->fn->gacc, *gi = dx[i];
                st = pg__accumulate_move(&e->fn->gacc, &dx[i]);
                if (st == PG_OK) ts->recorder->ops->accumulate(ts->recorder, before, e->fn->gacc, gi);
            } else if (e->fn) st = pg__accumulate_move(&e->fn->gacc, &dx[i]);
            else if (e->leaf) st = pg__to_leaf(sw, e->leaf, &dx[i]);
        }
        if (dx[i]) pg_tensor_release(dx[i]);
        if (e->fn && --e->fn->pending == 0 && !pg__vec_push(&sw->ready, e->fn) && st == PG_OK)
            st = pg__fail(PG_ERR_MEMORY, "backward: out of memory scheduling nodes");
    }
    if (dx != small) free(dx);
    if (!sw->retain && run) pg__node_drop(ts, n);
    if (st == PG_ERR_MEMORY && pg_last_status() != PG_ERR_MEMORY)
        pg__fail(PG_ERR_MEMORY, "backward: out of memory in %s", d->name);
    return st;
}

/* capture mode: marks the nodes the sweep must reach (an input's grad_fn, or
 * on the way to an input) and those whose kernel must run, visiting `all` in
 * topological order (Kahn's, consumers first) and then in reverse; leaves
 * each node's pending count as it found it. Every collected node is in the
 * order (the graph is acyclic and all of it is reachable from the tops). */
static pg_status pg__mark_needed(pg_sweep *sw, pg_nodevec *all, pg_node **tops, int n_tops) {
    pg_nodevec order = {0};
    pg_status st = PG_OK;
    for (int r = 0; r < n_tops; r++) {
        bool dup = false;
        for (int q = 0; q < r; q++) dup |= tops[q] == tops[r];
        if (!dup && tops[r]->pending == 0 && !pg__vec_push(&order, tops[r])) st = PG_ERR_MEMORY;
    }
    for (size_t q = 0; st == PG_OK && q < order.n; q++) {
        pg_node *n = order.v[q];
        for (int i = 0; i < n->n_in; i++) {
            pg_node *f = n->edges[i].fn;
            if (f && --f->pending == 0 && !pg__vec_push(&order, f)) st = PG_ERR_MEMORY;
        }
    }
    /* producers first; each edge also gives its producer back the count it took */
    for (size_t q = order.n; st == PG_OK && q-- > 0;) {
        pg_node *n = order.v[q];
        bool run = false;
        for (int i = 0; i < n->n_in; i++) {
            const pg_edge *e = &n->edges[i];
            if (e->fn) e->fn->pending++;
            run = run || (e->fn && e->fn->needed) || (e->leaf && pg__input_index(sw, e->leaf) >= 0);
        }
        n->run = run;
        n->needed = run || n->capture;
    }
    if (st != PG_OK) /* the order is incomplete: count again from the edges */
        for (size_t q = 0; q < all->n; q++) all->v[q]->pending = 0;
    for (size_t q = 0; st != PG_OK && q < all->n; q++)
        for (int i = 0; i < all->v[q]->n_in; i++)
            if (all->v[q]->edges[i].fn) all->v[q]->edges[i].fn->pending++;
    free(order.v);
    if (st == PG_ERR_MEMORY) pg__fail(PG_ERR_MEMORY, "grad: out of memory ordering the graph");
    return st;
}

int pg_take_grad_graph_chained(void) {
    pg_thread *ts = pg__thread();
    bool was = ts->grad_graph_chained;
    ts->grad_graph_chained = false;
    return was;
}

pg_status pg_backward(pg_tensor *root, pg_tensor *grad, int retain_graph) {
    return pg_backward_ex(root, grad, retain_graph, 0);
}

pg_status pg_backward_ex(pg_tensor *root, pg_tensor *grad, int retain_graph, int create_graph) {
    pg_status st = pg__check_tensor("backward", root);
    if (st) return st;
    return pg_autograd_run(&root, &grad, 1, NULL, 0, retain_graph, create_graph, NULL);
}

static pg_status pg__check_roots(pg_tensor **roots, pg_tensor **grads, int n_roots, pg_tensor **inputs, int n_inputs,
                                 pg_tensor **results) {
    const char *op = inputs ? "grad" : "backward";
    if (n_roots < 1 || !roots || !grads) return pg__fail(PG_ERR_VALUE, "%s: no outputs given", op);
    if (inputs && (n_inputs < 1 || !results)) return pg__fail(PG_ERR_VALUE, "grad: no inputs given");
    for (int i = 0; i < n_roots; i++) {
        if (pg__check_tensor(op, roots[i])) return PG_ERR_VALUE;
        if (!roots[i]->requires_grad)
            return pg__fail(PG_ERR_RUNTIME,
                            n_roots == 1 ? "%s: the tensor does not require grad and has no grad_fn (set "
                                           "requires_grad=True on the inputs, outside no_grad())"
                                         : "%s: element %d of tensors does not require grad and does not have a "
                                           "grad_fn",
                            op, i);
    }
    for (int j = 0; inputs && j < n_inputs; j++) {
        if (pg__check_tensor(op, inputs[j])) return PG_ERR_VALUE;
        if (!inputs[j]->requires_grad)
            return pg__fail(PG_ERR_RUNTIME, "grad: one of the differentiated Tensors (input %d) does not require grad",
                            j);
    }
    return PG_OK;
}

pg_status pg_autograd_run(pg_tensor **roots, pg_tensor **grads, int n_roots, pg_tensor **inputs, int n_inputs,
                          int retain_graph, int create_graph, pg_tensor **results) {
    pg_status st = pg__check_roots(roots, grads, n_roots, inputs, n_inputs, results);
    if (st) return st;
    bool create = create_graph != 0;
    pg_thread *ts = pg__thread();
    ts->grad_graph_chained = false;
    for (int j = 0; inputs && j < n_inputs; j++) results[j] = NULL;
    pg_tensor *seed1[4] = {NULL, NULL, NULL, NULL}, **seeds = seed1;
    pg_node *tops1[4], **tops = tops1;
    if (n_roots > 4) {
        seeds = calloc((size_t)n_roots, sizeof *seeds);
        tops = calloc((size_t)n_roots, sizeof *tops);
        if (!seeds || !tops) {
            free(seeds == seed1 ? NULL : seeds);
            free(tops == tops1 ? NULL : tops);
            return pg__fail(PG_ERR_MEMORY, "backward: out of memory");
        }
    }
    for (int i = 0; st == PG_OK && i < n_roots; i++) {
        st = pg__seed(&seeds[i], roots[i], grads[i]);
        /* several roots: the seeds are never the caller's own buffers */
        if (st == PG_OK && n_roots > 1 && seeds[i] == grads[i]) {
            pg_tensor *c = pg_tensor_clone(grads[i]);
            pg_tensor_release(seeds[i]);
            seeds[i] = c;
            if (!c) st = PG_ERR_MEMORY;
        }
    }
    if (ts->recorder && st == PG_OK) { /* pygrad.compile: the plain backward only */
        if (inputs || create)
            ts->recorder->ops->refuse(ts->recorder, inputs ? "autograd.grad" : "backward(create_graph=True)");
        for (int i = 0; i < n_roots; i++) ts->recorder->ops->seed(ts->recorder, seeds[i], roots[i], grads[i]);
    }
    pg_sweep sw = {0};
    sw.ts = ts;
    sw.create = create;
    sw.retain = retain_graph || create;
    sw.capture = inputs != NULL;
    sw.inputs = inputs;
    sw.n_inputs = inputs ? n_inputs : 0;
    sw.results = results;
    /* the caller's gradient (the caller holds it): never written into */
    sw.keep = n_roots == 1 && seeds[0] && seeds[0] == grads[0] ? grads[0] : NULL;
    int n_tops = 0;
    for (int i = 0; i < n_roots; i++)
        if (roots[i]->grad_fn) tops[n_tops++] = roots[i]->grad_fn;
    if (st == PG_OK && ts->sweep_depth >= PG_MAX_NESTED_SWEEPS)
        st = pg__fail(PG_ERR_RUNTIME,
                      "backward: more than %d backward calls nested in one another (each called from "
                      "a user backward of the one before): unbounded recursion?",
                      PG_MAX_NESTED_SWEEPS);
    if (st != PG_OK) {
        for (int i = 0; i < n_roots; i++) pg_tensor_release(seeds[i]);
        if (seeds != seed1) free(seeds), free(tops);
        return st;
    }
    ts->sweep_depth++;
    /* rules must record; numeric kernels (and user callbacks) must not */
    int prev_mode = pg_set_grad_enabled(create ? 1 : 0);
    uint64_t id = atomic_fetch_add_explicit(&pg_sweep_id, 1, memory_order_relaxed) + 1;
    uint64_t prev_recording = ts->recording_sweep;
    ts->recording_sweep = create ? id : 0;
    for (int r = 0; r < n_tops; r++) atomic_fetch_add_explicit(&tops[r]->refcount, 1, memory_order_relaxed);
    pg_nodevec all = pg__vec_take(&ts->sweep[0]);
    sw.ready = pg__vec_take(&ts->sweep[1]);
    for (int r = 0; r < n_tops;) {
        pg_node *busy = NULL;
        st = pg__collect(ts, tops[r], id, &all, &busy);
        if (st == PG_OK) {
            r++;
            continue;
        }
        if (st != PG_BUSY) break;
        pg__unclaim(&all);
        if (ts->sweep_depth > 1) { /* waiting inside a user backward could wait on this thread's own sweep */
            st = pg__fail(PG_ERR_RUNTIME,
                          "backward: the graph is being swept by another thread, and this backward runs "
                          "inside a user backward (waiting for it could deadlock)");
            break;
        }
        pg__wait_unclaimed(busy);
        id = atomic_fetch_add_explicit(&pg_sweep_id, 1, memory_order_relaxed) + 1; /* start over */
        if (create) ts->recording_sweep = id;
        r = 0;
    }
    if (st == PG_OK && sw.capture) {
        for (size_t q = 0; q < all.n; q++) all.v[q]->capture = 0, all.v[q]->needed = all.v[q]->run = false;
        for (int j = n_inputs; j-- > 0;) /* the first of equal inputs wins */
            if (inputs[j]->grad_fn && inputs[j]->grad_fn->mark == id && atomic_load(&inputs[j]->grad_fn->owner) == ts)
                inputs[j]->grad_fn->capture = j + 1;
        st = pg__mark_needed(&sw, &all, tops, n_tops);
    }
    /* the seeds: into their nodes' gradients, or (leaf roots) straight to the leaf */
    for (int i = 0; st == PG_OK && i < n_roots; i++) {
        pg_node *t = roots[i]->grad_fn;
        if (!t) {
            st = pg__to_leaf(&sw, roots[i], &seeds[i]);
            continue;
        }
        if (!t->gacc) { /* the first seed of the node is taken over */
            t->gacc = seeds[i];
            seeds[i] = NULL;
        } else {
            st = create ? pg__accumulate_rec(&t->gacc, seeds[i]) : pg__accumulate_move(&t->gacc, &seeds[i]);
        }
        bool dup = false;
        for (int q = 0; q < i; q++) dup |= roots[q]->grad_fn == t;
        if (st == PG_OK && !dup && t->pending == 0 && !pg__vec_push(&sw.ready, t))
            st = pg__fail(PG_ERR_MEMORY, "backward: out of memory scheduling nodes");
    }
    while (st == PG_OK && sw.ready.n) st = pg__sweep_node(&sw, sw.ready.v[--sw.ready.n]);
    st = pg__finish_leaves(&sw, st);
    free(sw.leaves);
    pg_set_grad_enabled(prev_mode);
    ts->recording_sweep = prev_recording;
    for (int i = 0; i < n_roots; i++) pg_tensor_release(seeds[i]);
    if (st != PG_OK)
        for (size_t i = 0; i < all.n; i++) { /* some gradients were never consumed */
            pg_tensor_release(all.v[i]->gacc);
            all.v[i]->gacc = NULL;
        }
    if (st != PG_OK && sw.capture)
        for (int j = 0; j < n_inputs; j++) {
            pg_tensor_release(results[j]);
            results[j] = NULL;
        }
    if (st == PG_OK && sw.capture) /* equal inputs: equal results */
        for (int j = 0; j < n_inputs; j++)
            for (int q = 0; q < j && !results[j]; q++)
                if (inputs[q] == inputs[j] && results[q]) results[j] = PG_NEW_REF(results[q]);
    pg__unclaim(&all);
    ts->sweep_depth--;
    pg__vec_give(ts, &ts->sweep[0], &all);
    pg__vec_give(ts, &ts->sweep[1], &sw.ready);
    for (int r = 0; r < n_tops; r++) pg__node_release(tops[r]);
    if (seeds != seed1) free(seeds), free(tops);
    return st;
}
