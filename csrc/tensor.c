/* tensor.c: tensor and storage lifetime, shape queries, leaf/grad bookkeeping.
 * No numeric kernels here (ops_*.c), no graph sweep (autograd.c). */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- live counts (pg_live_*) ----
 * Every tensor, node and storage byte made or freed is counted in a block of
 * the thread that does it. Only that thread writes its block (a plain load and
 * store, no atomic read-modify-write on the per-op path); pg_live_* add up all
 * blocks, and a tensor made on one thread and freed on another is +1 in one
 * block and -1 in the other. Blocks are static and never cleared: at thread
 * exit a block goes back to the pool with its counts, and the next thread to
 * claim it carries on from them, so the sum stays right. A thread without a
 * block (all taken, or past its exit) counts in the shared spill block with
 * atomic adds. */

#define PG_COUNT_BLOCKS 256

typedef struct pg_counts {
    atomic_llong tensors, nodes, bytes;
    atomic_bool in_use;
    char pad[64 - 3 * sizeof(atomic_llong) - sizeof(atomic_bool)]; /* one cache line per block */
} pg_counts;

static pg_counts pg_count_blocks[PG_COUNT_BLOCKS];
static pg_counts pg_count_spill;

_Thread_local pg_thread pg_tls;

static pg_counts *pg__counts_claim(pg_thread *ts) {
    if (ts->counts_spill) return NULL;
    for (int i = 0; i < PG_COUNT_BLOCKS; i++) {
        bool expected = false;
        if (!atomic_load_explicit(&pg_count_blocks[i].in_use, memory_order_relaxed) &&
            atomic_compare_exchange_strong(&pg_count_blocks[i].in_use, &expected, true)) {
            ts->counts = &pg_count_blocks[i];
            pg__thread_register(ts); /* hands the block back at thread exit */
            return ts->counts;
        }
    }
    ts->counts_spill = true;
    return NULL;
}

/* At thread exit: later counts of this thread go to the spill. */
static void pg__counts_at_exit(pg_thread *ts) {
    pg_counts *c = ts->counts;
    ts->counts = NULL;
    ts->counts_spill = true;
    if (c) atomic_store_explicit(&c->in_use, false, memory_order_release);
}

static inline void pg__count_add(atomic_llong *mine, atomic_llong *spill, long long delta) {
    if (mine) atomic_store_explicit(mine, atomic_load_explicit(mine, memory_order_relaxed) + delta, memory_order_relaxed);
    else atomic_fetch_add(spill, delta);
}

/* counts delta in the field of ts's block (ts: this thread's pg_tls) */
#define PG_COUNT(ts, field, delta)                                                       \
    do {                                                                                 \
        pg_counts *c_ = (ts)->counts ? (ts)->counts : pg__counts_claim(ts);              \
        pg__count_add(c_ ? &c_->field : NULL, &pg_count_spill.field, (long long)(delta)); \
    } while (0)

static int64_t pg__count_sum(size_t offset) {
    long long sum = atomic_load((atomic_llong *)((char *)&pg_count_spill + offset));
    for (int i = 0; i < PG_COUNT_BLOCKS; i++)
        sum += atomic_load((atomic_llong *)((char *)&pg_count_blocks[i] + offset));
    return sum;
}

int64_t pg_live_tensors(void) { return pg__count_sum(offsetof(pg_counts, tensors)); }
int64_t pg_live_nodes(void) { return pg__count_sum(offsetof(pg_counts, nodes)); }
int64_t pg_live_bytes(void) { return pg__count_sum(offsetof(pg_counts, bytes)); }

/* the live bytes counted here, the cache's figures from alloc.c */
pg_status pg_get_memory_stats(pg_memory_stats *stats) {
    if (!stats) return pg__fail(PG_ERR_VALUE, "memory_stats: stats pointer is NULL");
    stats->allocated_bytes = pg_live_bytes();
    pg__cache_stats(stats);
    return PG_OK;
}
void pg__count_node(pg_thread *ts, int delta) { PG_COUNT(ts, nodes, delta); }

/* Drops one reference; true when it was the last. Holding the only reference
 * (count 1), nobody else can take one, so a plain load settles it without a
 * read-modify-write; the count is then set to 0 with a plain store, so that a
 * weak reference (a node's output, read by pg_node_output while the release
 * list drains) sees it dead. */
static inline bool pg__unref(atomic_long *refcount) {
    if (atomic_load_explicit(refcount, memory_order_acquire) == 1) {
        atomic_store_explicit(refcount, 0, memory_order_relaxed);
        return true;
    }
    return atomic_fetch_sub_explicit(refcount, 1, memory_order_acq_rel) == 1;
}

const char *pg__dtype_name(pg_dtype dtype) {
    switch (dtype) {
    case PG_DTYPE_F32: return "float32";
    case PG_DTYPE_F64: return "float64";
    case PG_DTYPE_BOOL: return "bool";
    case PG_DTYPE_I64: return "int64";
    case PG_DTYPE_I32: return "int32";
    }
    return "unknown";
}

int64_t pg__numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n = pg__mul_sat(n, shape[i]);
    return n;
}

/* ---- per-thread free lists ----
 * Small storages, tensor headers and nodes of up to two inputs are recycled
 * through per-thread lists instead of malloc/free: a training step or a long
 * graph allocates and frees them by the thousand. Each list is capped; a
 * thread's lists are freed when it exits (pthread key destructor). */

#define PG_CACHE_MAX 4096
#define PG_SMALL_BYTES 256 /* storages up to this many data bytes share one block size */
#define PG_NODE_SMALL_IN 2

static pthread_key_t pg_cache_key;
static pthread_once_t pg_cache_once = PTHREAD_ONCE_INIT;

static void pg__cache_drain(pg_freelist *c) {
    while (c->head) {
        void *p = c->head;
        c->head = *(void **)p;
        free(p);
    }
    c->n = 0;
}

static void pg__thread_at_exit(void *arg) {
    pg_thread *ts = arg;
    pg__cache_drain(&ts->tensors);
    pg__cache_drain(&ts->storages);
    pg__cache_drain(&ts->nodes);
    for (int i = 0; i < 2; i++) {
        free(ts->sweep[i].v);
        ts->sweep[i].v = NULL;
        ts->sweep[i].n = ts->sweep[i].cap = 0;
    }
    pg__counts_at_exit(ts);
}

static void pg__cache_key_init(void) { pthread_key_create(&pg_cache_key, pg__thread_at_exit); }

/* first use on this thread: arrange the clean-up at thread exit */
void pg__thread_register(pg_thread *ts) {
    if (ts->registered) return;
    pthread_once(&pg_cache_once, pg__cache_key_init);
    pthread_setspecific(pg_cache_key, ts);
    ts->registered = true;
}

static inline void *pg__cache_get(pg_freelist *c) {
    void *p = c->head;
    if (p) {
        c->head = *(void **)p;
        c->n--;
    }
    return p;
}

/* c: a free list of ts */
static inline void pg__cache_put(pg_thread *ts, pg_freelist *c, void *p) {
    if (c->n >= PG_CACHE_MAX) {
        free(p);
        return;
    }
    if (!ts->registered) pg__thread_register(ts);
    *(void **)p = c->head;
    c->head = p;
    c->n++;
}

pg_node *pg__node_alloc(pg_thread *ts, int n_in) {
    size_t bytes = sizeof(pg_node) + sizeof(pg_edge) * (size_t)(n_in > PG_NODE_SMALL_IN ? n_in : PG_NODE_SMALL_IN);
    pg_node *n = n_in <= PG_NODE_SMALL_IN ? pg__cache_get(&ts->nodes) : NULL;
    if (!n) n = malloc(bytes);
    if (!n) return NULL;
    /* every field but the parameters and the metas, which pg__record copies in whole */
    atomic_init(&n->refcount, 0);
    n->op = 0;
    n->n_in = 0;
    n->released = false;
    n->gout_reusable = false;
    atomic_init(&n->owner, NULL);
    n->mark = 0;
    n->pending = 0;
    n->out = NULL;
    n->gacc = NULL;
    n->needed = n->run = false;
    n->capture = 0;
    n->hooks = NULL;
    for (int k = 0; k < PG_MAX_SAVED; k++) {
        n->saved[k] = NULL;
        n->saved_version[k] = 0;
        n->saved_from[k] = -2;
    }
    n->owned_offsets = NULL;
    n->free_next = NULL;
    for (int i = 0; i < n_in; i++) {
        n->edges[i].fn = NULL;
        n->edges[i].leaf = NULL;
    }
    return n;
}

static void pg__node_free(pg_thread *ts, pg_node *n) {
    if (n->n_in <= PG_NODE_SMALL_IN) pg__cache_put(ts, &ts->nodes, n);
    else free(n);
}

/* ---- storage ---- */

#define PG_ALIGN 64
/* The largest buffer we try to allocate; beyond it the size arithmetic of
 * callers could overflow, and no machine would satisfy it anyway. */
#define PG_MAX_BYTES ((size_t)1 << 46)
/* the size of a storage's block: header, alignment slack, data */
#define PG_STORAGE_BLOCK(nbytes) \
    (sizeof(pg_storage) + PG_ALIGN + ((nbytes) <= PG_SMALL_BYTES ? PG_SMALL_BYTES : (nbytes)))

static pg_storage *pg__storage_new(size_t nbytes) {
    pg_thread *ts = pg__thread();
    pg_storage *s = nbytes <= PG_SMALL_BYTES ? pg__cache_get(&ts->storages) : NULL;
    if (!s) s = pg__buf_alloc(PG_STORAGE_BLOCK(nbytes)); /* large blocks: alloc.c's cache */
    if (!s) return NULL;
    atomic_init(&s->refcount, 1);
    atomic_init(&s->version, 0);
    atomic_init(&s->graph_views, 0);
    s->nbytes = nbytes;
    s->external = false;
    s->release = NULL;
    s->release_ctx = NULL;
    uintptr_t p = (uintptr_t)(s + 1);
    s->data = (void *)((p + PG_ALIGN - 1) & ~(uintptr_t)(PG_ALIGN - 1));
    PG_COUNT(ts, bytes, nbytes);
    return s;
}

static void pg__storage_release(pg_thread *ts, pg_storage *s) {
    if (s && s->external) {
        if (pg__unref(&s->refcount)) { /* the owner's memory: hand it back, free only the header */
            pg_release_fn release = s->release;
            void *ctx = s->release_ctx;
            free(s);
            if (release) release(ctx);
        }
        return;
    }
    if (s && pg__unref(&s->refcount)) {
        PG_COUNT(ts, bytes, -(long long)s->nbytes);
        if (s->nbytes <= PG_SMALL_BYTES) pg__cache_put(ts, &ts->storages, s);
        else pg__buf_free(s, PG_STORAGE_BLOCK(s->nbytes));
    }
}

/* ---- tensors ---- */

static pg_status pg__check_shape(const char *op, int ndim, const int64_t *shape, size_t elsize,
                                 int64_t *numel_out) {
    if (ndim < 0 || ndim > PG_MAX_DIMS)
        return pg__fail(PG_ERR_SHAPE, "%s: tensors have 0 to %d dims, got %d", op, PG_MAX_DIMS, ndim);
    if (ndim > 0 && !shape) return pg__fail(PG_ERR_VALUE, "%s: shape pointer is NULL", op);
    int64_t n = 1;
    bool overflow = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) {
            char b[PG_SHAPE_BUF];
            return pg__fail(PG_ERR_SHAPE, "%s: negative dimension in shape %s", op,
                            pg__shape_str(ndim, shape, b, sizeof b));
        }
        if (!overflow && __builtin_mul_overflow(n, shape[i], &n)) overflow = true;
    }
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) overflow = false, n = 0; /* an empty tensor is never too large */
    if (overflow || (uint64_t)n > PG_MAX_BYTES / elsize) {
        char b[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_MEMORY, "%s: shape %s is too large to allocate", op,
                        pg__shape_str(ndim, shape, b, sizeof b));
    }
    *numel_out = n;
    return PG_OK;
}

static pg_tensor *pg__tensor_header(pg_thread *ts, pg_dtype dtype, int ndim, const int64_t *shape, int64_t numel,
                                    pg_storage *storage) {
    pg_tensor *t = pg__cache_get(&ts->tensors);
    if (!t) t = malloc(sizeof *t);
    if (!t) {
        pg__fail(PG_ERR_MEMORY, "out of memory allocating a tensor header");
        return NULL;
    }
    atomic_init(&t->refcount, 1);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < PG_MAX_DIMS; d++) t->shape[d] = d < ndim ? shape[d] : 0; /* no call for a few dims */
    t->numel = numel;
    t->storage = storage;
    t->data = storage->data;
    t->requires_grad = false;
    t->retains_grad = false;
    t->inference = ts->inference != 0;
    t->graph_view = false;
    atomic_init(&t->recorder_refs, 0);
    t->hooks = NULL;
    t->grad_fn = NULL;
    t->grad = NULL;
    t->free_next = NULL;
    PG_COUNT(ts, tensors, 1);
    return t;
}

pg_tensor *pg__tensor_new(pg_dtype dtype, int ndim, const int64_t *shape) {
    int64_t numel = 0;
    size_t es = pg__dtype_size(dtype);
    if (!es) {
        pg__fail(PG_ERR_TYPE, "tensor: unknown dtype %d", (int)dtype);
        return NULL;
    }
    if (pg__check_shape("tensor", ndim, shape, es, &numel) != PG_OK) return NULL;
    pg_storage *s = pg__storage_new((size_t)numel * es);
    if (!s) {
        char b[PG_SHAPE_BUF];
        pg__fail(PG_ERR_MEMORY, "tensor: out of memory allocating %s %s (%lld bytes)",
                 pg__dtype_name(dtype), pg__shape_str(ndim, shape, b, sizeof b),
                 (long long)((size_t)numel * es));
        return NULL;
    }
    pg_thread *ts = pg__thread();
    pg_tensor *t = pg__tensor_header(ts, dtype, ndim, shape, numel, s);
    if (!t) pg__storage_release(ts, s);
    return t;
}

pg_tensor *pg__tensor_new_as(pg_thread *ts, const pg_tensor *like) {
    size_t nbytes = (size_t)like->numel * pg__dtype_size(like->dtype);
    pg_storage *s = pg__storage_new(nbytes);
    if (!s) {
        char b[PG_SHAPE_BUF];
        pg__fail(PG_ERR_MEMORY, "tensor: out of memory allocating %s %s (%lld bytes)", pg__dtype_name(like->dtype),
                 pg__shape_str(like->ndim, like->shape, b, sizeof b), (long long)nbytes);
        return NULL;
    }
    pg_tensor *t = pg__tensor_header(ts, like->dtype, like->ndim, like->shape, like->numel, s);
    if (!t) pg__storage_release(ts, s);
    return t;
}

pg_tensor *pg__tensor_new_like(const pg_meta *m) { return pg__tensor_new(m->dtype, m->ndim, m->shape); }

pg_tensor *pg__tensor_zeros_like(const pg_meta *m) {
    pg_tensor *t = pg__tensor_new_like(m);
    if (t) memset(t->data, 0, t->storage->nbytes);
    return t;
}

/* ---- tensors over external memory (pygrad.h: pg_tensor_from_external) ---- */

pg_tensor *pg_tensor_from_external(void *data, pg_dtype dtype, int ndim, const int64_t *shape,
                                   pg_release_fn release, void *ctx) {
    int64_t numel = 0;
    size_t es = pg__dtype_size(dtype);
    pg_storage *s = NULL;
    pg_tensor *t = NULL;
    if (!es) {
        pg__fail(PG_ERR_TYPE, "from_external: unknown dtype %d", (int)dtype);
    } else if (pg__check_shape("from_external", ndim, shape, es, &numel) != PG_OK) {
        /* message set */
    } else if (!data) {
        pg__fail(PG_ERR_VALUE, "from_external: data pointer is NULL");
    } else if ((uintptr_t)data % es) {
        pg__fail(PG_ERR_VALUE, "from_external: data %p is not aligned to the %s element size (%zu bytes)", data,
                 pg__dtype_name(dtype), es);
    } else if (!(s = malloc(sizeof *s))) {
        pg__fail(PG_ERR_MEMORY, "from_external: out of memory allocating a storage header");
    } else {
        atomic_init(&s->refcount, 1);
        atomic_init(&s->version, 0);
        s->nbytes = (size_t)numel * es;
        s->data = data;
        s->external = true;
        s->release = release;
        s->release_ctx = ctx;
        t = pg__tensor_header(pg__thread(), dtype, ndim, shape, numel, s);
        if (t) return t;
        free(s);
    }
    if (release) release(ctx); /* on failure too: ctx was handed over with the call */
    return NULL;
}

int pg_tensor_is_external(const pg_tensor *t) { return t && t->storage->external; }

/* A new header over t's storage with another shape of the same numel. */
pg_tensor *pg__alias(pg_tensor *t, int ndim, const int64_t *shape) {
    atomic_fetch_add_explicit(&t->storage->refcount, 1, memory_order_relaxed);
    pg_thread *ts = pg__thread();
    pg_tensor *a = pg__tensor_header(ts, t->dtype, ndim, shape, t->numel, t->storage);
    if (!a) pg__storage_release(ts, t->storage);
    return a;
}

pg_tensor *pg_tensor_empty(pg_dtype dtype, int ndim, const int64_t *shape) {
    return pg__tensor_new(dtype, ndim, shape);
}

pg_tensor *pg_tensor_full(pg_dtype dtype, int ndim, const int64_t *shape, double value) {
    pg_tensor *t = pg__tensor_new(dtype, ndim, shape);
    if (t) pg__fill(t, value);
    return t;
}

pg_tensor *pg_tensor_full_int(pg_dtype dtype, int ndim, const int64_t *shape, int64_t value) {
    if (!pg__is_int(dtype)) {
        pg__fail(PG_ERR_TYPE, "full_int: expected int64 or int32, got %s", pg__dtype_name(dtype));
        return NULL;
    }
    pg_tensor *t = pg__tensor_new(dtype, ndim, shape);
    if (t) pg__fill_int(t, value);
    return t;
}

pg_status pg__check_tensor(const char *op, const pg_tensor *t) {
    if (!t) return pg__fail(PG_ERR_VALUE, "%s: got a NULL tensor", op);
    return PG_OK;
}

pg_status pg__check_float(const char *op, const pg_tensor *t) {
    if (!t) return pg__fail(PG_ERR_VALUE, "%s: got a NULL tensor", op);
    if (t->dtype != PG_DTYPE_F32 && t->dtype != PG_DTYPE_F64)
        return pg__fail(PG_ERR_TYPE, "%s: expected a float32 or float64 tensor, got %s", op,
                        pg__dtype_name(t->dtype));
    return PG_OK;
}

pg_tensor *pg_tensor_detach(pg_tensor *t) {
    if (pg__check_tensor("detach", t)) return NULL;
    pg_tensor *a = pg__alias(t, t->ndim, t->shape);
    if (a) a->inference |= t->inference;
    return a;
}

pg_tensor *pg_tensor_clone(pg_tensor *t) {
    if (pg__check_tensor("clone", t)) return NULL;
    pg_tensor *c = pg__tensor_new(t->dtype, t->ndim, t->shape);
    if (c) memcpy(c->data, t->data, t->storage->nbytes < c->storage->nbytes ? t->storage->nbytes
                                                                            : c->storage->nbytes);
    return c;
}

/* ---- release without recursion ----
 * Dropping the last reference to the tail of a long graph frees a chain of
 * tensors and nodes. Each is pushed on a per-thread worklist (linked through
 * free_next, so releasing never allocates) and the outermost release drains it. */

/* Drops one reference to t; the last one puts t on ts's worklist. */
static inline void pg__push_tensor(pg_thread *ts, pg_tensor *t) {
    if (t && pg__unref(&t->refcount)) {
        t->free_next = ts->dead_tensors;
        ts->dead_tensors = t;
    }
}

static inline void pg__push_node(pg_thread *ts, pg_node *n) {
    if (n && pg__unref(&n->refcount)) {
        n->free_next = ts->dead_nodes;
        ts->dead_nodes = n;
    }
}

/* Drops the node's saved values and the rest of what only backward needs;
 * the saved tensors go on ts's worklist. */
static void pg__node_drop_to(pg_thread *ts, pg_node *n) {
    for (int k = 0; k < PG_MAX_SAVED; k++) {
        pg__push_tensor(ts, n->saved[k]);
        n->saved[k] = NULL;
    }
    if (n->owned_offsets) {
        free(n->owned_offsets);
        n->owned_offsets = NULL;
    }
    n->p.offsets = NULL;
    if (n->p.custom_release) { /* a user op's context: released exactly once */
        pg_custom_release_fn release = n->p.custom_release;
        n->p.custom_release = NULL;
        release(n->p.custom_ctx);
    }
    n->p.custom_ctx = NULL;
    n->released = true;
}

void pg__hooks_free(pg_tensor_hooks *h) {
    if (!h) return;
    if (h->release) h->release(h->ctx);
    free(h);
}

static void pg__destroy_tensor(pg_thread *ts, pg_tensor *t) {
    if (t->grad_fn && t->grad_fn->out == t) t->grad_fn->out = NULL;
    if (t->graph_view) atomic_fetch_sub(&t->storage->graph_views, 1);
    if (t->hooks) { /* a release from inside (the callback) only adds to the worklists */
        pg_tensor_hooks *h = t->hooks;
        t->hooks = NULL;
        pg__hooks_free(h);
    }
    pg__push_node(ts, t->grad_fn);
    pg__push_tensor(ts, t->grad);
    pg__storage_release(ts, t->storage);
    PG_COUNT(ts, tensors, -1);
    pg__cache_put(ts, &ts->tensors, t);
}

static void pg__destroy_node(pg_thread *ts, pg_node *n) {
    pg__node_drop_to(ts, n);
    if (n->hooks) {
        pg_tensor_hooks *h = n->hooks;
        n->hooks = NULL;
        pg__hooks_free(h);
    }
    for (int i = 0; i < n->n_in; i++) {
        pg__push_node(ts, n->edges[i].fn);
        pg__push_tensor(ts, n->edges[i].leaf);
    }
    pg__push_tensor(ts, n->gacc);
    PG_COUNT(ts, nodes, -1);
    pg__node_free(ts, n);
}

/* Frees everything on ts's worklists, and what that frees in turn. A release
 * from inside (a user op's release callback) only adds to the lists. */
static void pg__drain(pg_thread *ts) {
    if (ts->draining) return;
    ts->draining = true;
    while (ts->dead_tensors || ts->dead_nodes) {
        if (ts->dead_tensors) {
            pg_tensor *t = ts->dead_tensors;
            ts->dead_tensors = t->free_next;
            pg__destroy_tensor(ts, t);
        } else {
            pg_node *n = ts->dead_nodes;
            ts->dead_nodes = n->free_next;
            pg__destroy_node(ts, n);
        }
    }
    ts->draining = false;
}

void pg_tensor_retain(pg_tensor *t) {
    if (t) atomic_fetch_add_explicit(&t->refcount, 1, memory_order_relaxed);
}

void pg_tensor_release(pg_tensor *t) {
    if (!t || !pg__unref(&t->refcount)) return;
    pg_thread *ts = pg__thread();
    t->free_next = ts->dead_tensors;
    ts->dead_tensors = t;
    pg__drain(ts);
}

void pg__node_release(pg_node *n) {
    if (!n || !pg__unref(&n->refcount)) return;
    pg_thread *ts = pg__thread();
    n->free_next = ts->dead_nodes;
    ts->dead_nodes = n;
    pg__drain(ts);
}

/* Drops what a node keeps only for backward (saved values, the gather
 * index, a user op's context). The edges stay until the node is freed, so the
 * graph's structure can still be walked (and drawn) after a backward; they
 * hold nodes and leaves, never activations. */
void pg__node_drop(pg_thread *ts, pg_node *n) {
    pg__node_drop_to(ts, n);
    pg__drain(ts);
}

/* ---- queries ---- */

/* Queries are total: on NULL they answer -1 (0 for flags and the version,
 * NULL for data) and leave the error state alone. */
pg_dtype pg_tensor_dtype(const pg_tensor *t) { return t ? t->dtype : (pg_dtype)-1; }
int pg_tensor_ndim(const pg_tensor *t) { return t ? t->ndim : -1; }
int64_t pg_tensor_dim(const pg_tensor *t, int i) { return (t && i >= 0 && i < t->ndim) ? t->shape[i] : -1; }
void pg_tensor_shape(const pg_tensor *t, int64_t *shape) {
    if (t && shape && t->ndim) memcpy(shape, t->shape, sizeof(int64_t) * (size_t)t->ndim);
}
int64_t pg_tensor_numel(const pg_tensor *t) { return t ? t->numel : -1; }
void *pg_tensor_data(pg_tensor *t) { return t ? t->data : NULL; }
uint64_t pg_tensor_version(const pg_tensor *t) { return t ? atomic_load(&t->storage->version) : 0; }
int pg_tensor_requires_grad(const pg_tensor *t) { return t && t->requires_grad; }
int pg_tensor_is_leaf(const pg_tensor *t) { return t && t->grad_fn == NULL; }
int pg_tensor_grad_fn(const pg_tensor *t) { return (t && t->grad_fn) ? t->grad_fn->op : -1; }
int pg_tensor_storage_shared(const pg_tensor *a, const pg_tensor *b) { return a && b && a->storage == b->storage; }

/* ---- leaf and grad bookkeeping ---- */

pg_status pg_tensor_set_requires_grad(pg_tensor *t, int flag) {
    pg_status st = pg__check_tensor("requires_grad", t);
    if (st) return st;
    if (t->grad_fn && flag) return PG_OK; /* a non-leaf already requires grad */
    if (t->grad_fn)
        return pg__fail(PG_ERR_RUNTIME,
                        "requires_grad: can only be changed on leaf tensors; this tensor was made "
                        "by %s (use .detach() to get a leaf)",
                        pg_optable[t->grad_fn->op]->name);
    if (flag && !pg__is_float(t->dtype))
        return pg__fail(PG_ERR_TYPE, "requires_grad: only float tensors can require grad, got %s",
                        pg__dtype_name(t->dtype));
    if (flag && t->inference && !pg__thread()->inference)
        return pg__fail(PG_ERR_RUNTIME,
                        "requires_grad: setting requires_grad=True on an inference tensor outside "
                        "inference_mode is not allowed; clone() it first");
    t->requires_grad = flag != 0;
    return PG_OK;
}

pg_status pg_tensor_retain_grad(pg_tensor *t) {
    pg_status st = pg__check_tensor("retain_grad", t);
    if (st) return st;
    if (!t->requires_grad)
        return pg__fail(PG_ERR_RUNTIME, "retain_grad: the tensor does not require grad");
    if (t->grad_fn) t->retains_grad = true;
    return PG_OK;
}

pg_status pg_tensor_set_hooks(pg_tensor *t, int kinds, pg_hook_fn fn, void *ctx, pg_custom_release_fn release) {
    pg_status st = pg__check_tensor("register_hook", t);
    if (st == PG_OK && !t->requires_grad)
        st = pg__fail(PG_ERR_RUNTIME,
                      "register_hook: cannot register a hook on a tensor that doesn't require gradient");
    if (st == PG_OK && (kinds & PG_HOOK_POST_ACCUMULATE) && t->grad_fn)
        st = pg__fail(PG_ERR_RUNTIME,
                      "register_post_accumulate_grad_hook: post accumulate grad hooks cannot be registered "
                      "on non-leaf tensors");
    if (st == PG_OK && (!fn || (kinds & ~(PG_HOOK_GRAD | PG_HOOK_POST_ACCUMULATE))))
        st = pg__fail(PG_ERR_VALUE, "register_hook: bad hook function or kinds %d", kinds);
    pg_tensor_hooks **slot = t && t->grad_fn ? &t->grad_fn->hooks : t ? &t->hooks : NULL;
    if (st == PG_OK && *slot && (*slot)->ctx != ctx)
        st = pg__fail(PG_ERR_VALUE, "register_hook: the tensor has hooks of another context");
    if (st == PG_OK && *slot) {
        (*slot)->kinds = kinds;
        return PG_OK;
    }
    pg_tensor_hooks *h = st == PG_OK ? malloc(sizeof *h) : NULL;
    if (!h) {
        if (st == PG_OK) st = pg__fail(PG_ERR_MEMORY, "register_hook: out of memory");
        if (release) release(ctx);
        return st;
    }
    h->fn = fn;
    h->ctx = ctx;
    h->release = release;
    h->kinds = kinds;
    *slot = h;
    return PG_OK;
}

void *pg_tensor_hooks_ctx(const pg_tensor *t) {
    const pg_tensor_hooks *h = !t ? NULL : t->grad_fn ? t->grad_fn->hooks : t->hooks;
    return h ? h->ctx : NULL;
}

pg_status pg_tensor_detach_(pg_tensor *t) {
    pg_status st = pg__check_tensor("detach_", t);
    if (st) return st;
    if (t->grad_fn && !pg_optable[t->grad_fn->op]->forward)
        return pg__fail(PG_ERR_RUNTIME, "detach_: can't detach views in place (the tensor was made by %s); use detach()",
                        pg_optable[t->grad_fn->op]->name);
    pg_node *old = t->grad_fn;
    if (old && old->out == t) old->out = NULL;
    t->grad_fn = NULL;
    t->requires_grad = false;
    t->retains_grad = false;
    pg__node_release(old);
    return PG_OK;
}

int pg_tensor_is_inference(const pg_tensor *t) { return t && t->inference; }

int pg_inference_mode(void) { return pg_tls.inference != 0; }

int pg_set_inference_mode(int flag) {
    int prev = pg_tls.inference != 0;
    pg_tls.inference = flag != 0;
    return prev;
}

/* ---- the leaves' gradient locks ---- */

#define PG_GRAD_LOCKS 64

static pthread_mutex_t pg_grad_locks[PG_GRAD_LOCKS] = {[0 ... PG_GRAD_LOCKS - 1] = PTHREAD_MUTEX_INITIALIZER};

/* A child of fork has one thread: a lock another thread of the parent held
 * at the fork would stay held forever, so the child starts with them fresh.
 * (Not taken around fork instead: a thread holding one may be waiting for the
 * thread pool, whose own fork handler the forking thread may hold.) */
static void pg__grad_locks_after_fork(void) {
    for (int i = 0; i < PG_GRAD_LOCKS; i++) pthread_mutex_init(&pg_grad_locks[i], NULL);
}
__attribute__((constructor)) static void pg__grad_locks_register(void) {
    pthread_atfork(NULL, NULL, pg__grad_locks_after_fork);
}

static pthread_mutex_t *pg__grad_mutex(const pg_tensor *t) {
    uintptr_t a = (uintptr_t)t >> 6; /* headers are at least this far apart */
    return &pg_grad_locks[(a ^ (a >> 6)) % PG_GRAD_LOCKS];
}

void pg__grad_lock(const pg_tensor *t) { pg__mutex_lock(pg__grad_mutex(t)); }
void pg__grad_unlock(const pg_tensor *t) { pthread_mutex_unlock(pg__grad_mutex(t)); }

pg_tensor *pg_tensor_grad(pg_tensor *t) {
    if (!t) return NULL;
    pg__grad_lock(t);
    pg_tensor *g = t->grad;
    if (g) pg_tensor_retain(g);
    pg__grad_unlock(t);
    return g;
}

pg_status pg_tensor_set_grad(pg_tensor *t, pg_tensor *grad) {
    pg_status st = pg__check_tensor("grad", t);
    if (st) return st;
    if (grad) {
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        if (grad->dtype != t->dtype)
            return pg__fail(PG_ERR_TYPE, "grad: assigned gradient has dtype %s but the tensor is %s",
                            pg__dtype_name(grad->dtype), pg__dtype_name(t->dtype));
        if (grad->ndim != t->ndim || memcmp(grad->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim))
            return pg__fail(PG_ERR_SHAPE, "grad: assigned gradient has shape %s but the tensor has shape %s",
                            pg__shape_str(grad->ndim, grad->shape, b1, sizeof b1),
                            pg__shape_str(t->ndim, t->shape, b2, sizeof b2));
        if (grad == t) return pg__fail(PG_ERR_VALUE, "grad: a tensor cannot be its own gradient");
        pg_tensor_retain(grad);
    }
    pg_recorder *rec = pg_tls.recorder; /* pygrad.compile */
    if (rec) rec->ops->set_grad(rec, t, grad);
    pg__grad_lock(t);
    pg_tensor *old = t->grad;
    t->grad = grad;
    pg__grad_unlock(t);
    pg_tensor_release(old);
    return PG_OK;
}
