/* tensor.c: tensor and storage lifetime, shape queries, leaf/grad bookkeeping.
 * No numeric kernels here (ops_*.c), no graph sweep (autograd.c). */
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static atomic_llong pg_n_tensors, pg_n_nodes, pg_n_bytes;

int64_t pg_live_tensors(void) { return atomic_load(&pg_n_tensors); }
int64_t pg_live_nodes(void) { return atomic_load(&pg_n_nodes); }
int64_t pg_live_bytes(void) { return atomic_load(&pg_n_bytes); }
void pg__count_node(int delta) { atomic_fetch_add(&pg_n_nodes, delta); }

size_t pg__dtype_size(pg_dtype dtype) {
    switch (dtype) {
    case PG_DTYPE_F32: return 4;
    case PG_DTYPE_F64: return 8;
    case PG_DTYPE_BOOL: return 1;
    }
    return 0;
}

const char *pg__dtype_name(pg_dtype dtype) {
    switch (dtype) {
    case PG_DTYPE_F32: return "float32";
    case PG_DTYPE_F64: return "float64";
    case PG_DTYPE_BOOL: return "bool";
    }
    return "unknown";
}

int64_t pg__numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n = pg__mul_sat(n, shape[i]);
    return n;
}

void pg__strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s = pg__mul_sat(s, shape[i]);
    }
}

void pg__meta_of(pg_meta *m, const pg_tensor *t) {
    m->dtype = t->dtype;
    m->ndim = t->ndim;
    memcpy(m->shape, t->shape, sizeof m->shape);
}

/* ---- per-thread free lists ----
 * Small storages, tensor headers and nodes of up to two inputs are recycled
 * through per-thread lists instead of malloc/free: a training step or a long
 * graph allocates and frees them by the thousand. Each list is capped; a
 * thread's lists are freed when it exits (pthread key destructor). */

#define PG_CACHE_MAX 4096
#define PG_SMALL_BYTES 256 /* storages up to this many data bytes share one block size */
#define PG_NODE_SMALL_IN 2

typedef struct pg_cache {
    void *head;
    int n;
} pg_cache;

typedef struct pg_caches {
    pg_cache tensors, storages, nodes;
} pg_caches;

static _Thread_local pg_caches pg_tls_caches;
static _Thread_local bool pg_tls_cache_registered;
static pthread_key_t pg_cache_key;
static pthread_once_t pg_cache_once = PTHREAD_ONCE_INIT;

static void pg__cache_drain(pg_cache *c) {
    while (c->head) {
        void *p = c->head;
        c->head = *(void **)p;
        free(p);
    }
    c->n = 0;
}

static void pg__caches_at_exit(void *arg) {
    (void)arg;
    pg__cache_drain(&pg_tls_caches.tensors);
    pg__cache_drain(&pg_tls_caches.storages);
    pg__cache_drain(&pg_tls_caches.nodes);
}

static void pg__cache_key_init(void) { pthread_key_create(&pg_cache_key, pg__caches_at_exit); }

static void *pg__cache_get(pg_cache *c) {
    void *p = c->head;
    if (p) {
        c->head = *(void **)p;
        c->n--;
    }
    return p;
}

static void pg__cache_put(pg_cache *c, void *p) {
    if (c->n >= PG_CACHE_MAX) {
        free(p);
        return;
    }
    if (!pg_tls_cache_registered) { /* first use on this thread: arrange the drain at thread exit */
        pthread_once(&pg_cache_once, pg__cache_key_init);
        pthread_setspecific(pg_cache_key, &pg_tls_caches);
        pg_tls_cache_registered = true;
    }
    *(void **)p = c->head;
    c->head = p;
    c->n++;
}

pg_node *pg__node_alloc(int n_in) {
    size_t bytes = sizeof(pg_node) + sizeof(pg_edge) * (size_t)(n_in > PG_NODE_SMALL_IN ? n_in : PG_NODE_SMALL_IN);
    pg_node *n = n_in <= PG_NODE_SMALL_IN ? pg__cache_get(&pg_tls_caches.nodes) : NULL;
    if (!n) n = malloc(bytes);
    if (n) memset(n, 0, bytes);
    return n;
}

static void pg__node_free(pg_node *n) {
    if (n->n_in <= PG_NODE_SMALL_IN) pg__cache_put(&pg_tls_caches.nodes, n);
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
    pg_storage *s = nbytes <= PG_SMALL_BYTES ? pg__cache_get(&pg_tls_caches.storages) : NULL;
    if (!s) s = pg__buf_alloc(PG_STORAGE_BLOCK(nbytes)); /* large blocks: alloc.c's cache */
    if (!s) return NULL;
    atomic_init(&s->refcount, 1);
    atomic_init(&s->version, 0);
    s->nbytes = nbytes;
    uintptr_t p = (uintptr_t)(s + 1);
    s->data = (void *)((p + PG_ALIGN - 1) & ~(uintptr_t)(PG_ALIGN - 1));
    atomic_fetch_add(&pg_n_bytes, (long long)nbytes);
    return s;
}

static void pg__storage_release(pg_storage *s) {
    if (s && atomic_fetch_sub_explicit(&s->refcount, 1, memory_order_acq_rel) == 1) {
        atomic_fetch_sub(&pg_n_bytes, (long long)s->nbytes);
        if (s->nbytes <= PG_SMALL_BYTES) pg__cache_put(&pg_tls_caches.storages, s);
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

static pg_tensor *pg__tensor_header(pg_dtype dtype, int ndim, const int64_t *shape, int64_t numel,
                                    pg_storage *storage) {
    pg_tensor *t = pg__cache_get(&pg_tls_caches.tensors);
    if (!t) t = malloc(sizeof *t);
    if (!t) {
        pg__fail(PG_ERR_MEMORY, "out of memory allocating a tensor header");
        return NULL;
    }
    atomic_init(&t->refcount, 1);
    t->dtype = dtype;
    t->ndim = ndim;
    memset(t->shape, 0, sizeof t->shape);
    if (ndim) memcpy(t->shape, shape, sizeof(int64_t) * (size_t)ndim);
    t->numel = numel;
    t->storage = storage;
    t->data = storage->data;
    t->requires_grad = false;
    t->retains_grad = false;
    t->grad_fn = NULL;
    t->grad = NULL;
    t->free_next = NULL;
    atomic_fetch_add(&pg_n_tensors, 1);
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
    pg_tensor *t = pg__tensor_header(dtype, ndim, shape, numel, s);
    if (!t) pg__storage_release(s);
    return t;
}

pg_tensor *pg__tensor_new_like(const pg_meta *m) { return pg__tensor_new(m->dtype, m->ndim, m->shape); }

pg_tensor *pg__tensor_zeros_like(const pg_meta *m) {
    pg_tensor *t = pg__tensor_new_like(m);
    if (t) memset(t->data, 0, t->storage->nbytes);
    return t;
}

/* A new header over t's storage with another shape of the same numel. */
pg_tensor *pg__alias(pg_tensor *t, int ndim, const int64_t *shape) {
    atomic_fetch_add_explicit(&t->storage->refcount, 1, memory_order_relaxed);
    pg_tensor *a = pg__tensor_header(t->dtype, ndim, shape, t->numel, t->storage);
    if (!a) pg__storage_release(t->storage);
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
    return pg__alias(t, t->ndim, t->shape);
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

static _Thread_local pg_tensor *pg_dead_tensors;
static _Thread_local pg_node *pg_dead_nodes;
static _Thread_local bool pg_draining;

static void pg__destroy_node(pg_node *n);

static void pg__destroy_tensor(pg_tensor *t) {
    if (t->grad_fn && t->grad_fn->out == t) t->grad_fn->out = NULL;
    pg__node_release(t->grad_fn);
    pg_tensor_release(t->grad);
    pg__storage_release(t->storage);
    atomic_fetch_sub(&pg_n_tensors, 1);
    pg__cache_put(&pg_tls_caches.tensors, t);
}

static void pg__drain(void) {
    if (pg_draining) return;
    pg_draining = true;
    while (pg_dead_tensors || pg_dead_nodes) {
        if (pg_dead_tensors) {
            pg_tensor *t = pg_dead_tensors;
            pg_dead_tensors = t->free_next;
            pg__destroy_tensor(t);
        } else {
            pg_node *n = pg_dead_nodes;
            pg_dead_nodes = n->free_next;
            pg__destroy_node(n);
        }
    }
    pg_draining = false;
}

void pg_tensor_retain(pg_tensor *t) {
    if (t) atomic_fetch_add_explicit(&t->refcount, 1, memory_order_relaxed);
}

void pg_tensor_release(pg_tensor *t) {
    if (!t || atomic_fetch_sub_explicit(&t->refcount, 1, memory_order_acq_rel) != 1) return;
    t->free_next = pg_dead_tensors;
    pg_dead_tensors = t;
    pg__drain();
}

void pg__node_release(pg_node *n) {
    if (!n || atomic_fetch_sub_explicit(&n->refcount, 1, memory_order_acq_rel) != 1) return;
    n->free_next = pg_dead_nodes;
    pg_dead_nodes = n;
    pg__drain();
}

/* Drops what a node keeps only for backward (saved values, the gather
 * index, a user op's context). The edges stay until the node is freed, so the
 * graph's structure can still be walked (and drawn) after a backward; they
 * hold nodes and leaves, never activations. */
void pg__node_drop(pg_node *n) {
    for (int k = 0; k < PG_MAX_SAVED; k++) {
        pg_tensor_release(n->saved[k]);
        n->saved[k] = NULL;
    }
    free(n->owned_offsets);
    n->owned_offsets = NULL;
    n->p.offsets = NULL;
    if (n->p.custom_release) { /* a user op's context: released exactly once */
        pg_custom_release_fn release = n->p.custom_release;
        n->p.custom_release = NULL;
        release(n->p.custom_ctx);
    }
    n->p.custom_ctx = NULL;
    n->released = true;
}

static void pg__destroy_node(pg_node *n) {
    pg__node_drop(n);
    for (int i = 0; i < n->n_in; i++) {
        pg__node_release(n->edges[i].fn);
        pg_tensor_release(n->edges[i].leaf);
    }
    pg_tensor_release(n->gacc);
    pg__count_node(-1);
    pg__node_free(n);
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
    if (flag && t->dtype == PG_DTYPE_BOOL)
        return pg__fail(PG_ERR_TYPE, "requires_grad: only float tensors can require grad, got bool");
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

pg_tensor *pg_tensor_grad(pg_tensor *t) {
    if (!t || !t->grad) return NULL;
    pg_tensor_retain(t->grad);
    return t->grad;
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
    pg_tensor *old = t->grad;
    t->grad = grad;
    pg_tensor_release(old);
    return PG_OK;
}
