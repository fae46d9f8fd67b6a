/* program.c: a recorded step (pygrad.compile), the layer above the op table.
 *
 * A program is a list of instructions over slots. A slot is a function
 * input (bound at each run), a captured tensor (a parameter, an optimizer
 * buffer: held by pointer, guarded by identity in Python), the .grad of such
 * a tensor (read at run time), or a value the program computes (its own).
 * Instructions: an op's forward (op id, a copy of its parameters, input
 * slots, output slot), an op's backward (a copy of the node as plain data,
 * its saved values as slots), gradient accumulation (into a node's gradient,
 * into a leaf's .grad), set_grad, and the fused optimizer updates, whose
 * scalars (lr, step, ...) the binding refreshes before each run.
 *
 * Recording: pg_program_record_begin installs the program as this thread's
 * recorder (pg_tls.recorder); the tape, set_grad, the in-place ops and the
 * optimizer updates report each thing they do through the recorder's
 * function table (internal.h) while the step runs eagerly. Anything the
 * program cannot replay faithfully (an in-place update, a custom op, a hook,
 * autograd.grad, a tensor made outside the recorded ops) refuses the
 * recording: pg_program_record_end then fails, naming the first reason.
 *
 * Replay (pg_program_run) is generic over the op table: it calls each row's
 * infer (which also validates parameters such as labels), forward and
 * backward, so every op of ops.def replays without code of its own. Values
 * are allocated as the eager step allocates them (from the same free lists
 * and buffer cache) and each is dropped right after its last use (pg__plan),
 * so a run's working set is the eager step's. A slot marked `buffer` keeps
 * its tensor between runs and a forward writes into it in place when nobody
 * else holds it; nothing marks one yet: kept buffers made the scalar programs
 * slower (their headers go cold between uses), and choosing which to keep,
 * with liveness-based reuse, is the next step. */
#if defined(__linux__)
#define _GNU_SOURCE /* mremap, MREMAP_MAYMOVE */
#endif
#include "internal.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* The two arrays a recording grows an entry at a time (its slots and its
 * instructions: some 200k of each for a program written scalar by scalar) are,
 * from PG_BIG_ARRAY bytes on, mappings of their own, grown by mremap: their pages
 * move rather than being copied into fresh memory (touching fresh memory, which
 * the kernel zeroes first, is most of what growing costs), and the copy made at
 * the threshold goes to memory advised for huge pages (pg__advise_huge) before it
 * is written.
 * pg__big_free frees what pg__big_grow returned, given its size. */
#define PG_BIG_ARRAY ((size_t)4 << 20)

static size_t pg__pages(size_t bytes) { return (bytes + 4095) & ~(size_t)4095; }

static void *pg__big_grow(void *p, size_t old, size_t bytes) {
#if defined(__linux__) && defined(MREMAP_MAYMOVE)
    if (bytes >= PG_BIG_ARRAY) {
        void *q;
        if (old >= PG_BIG_ARRAY) {
            q = mremap(p, pg__pages(old), pg__pages(bytes), MREMAP_MAYMOVE);
            if (q == MAP_FAILED) return NULL;
        } else {
            q = mmap(NULL, pg__pages(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (q == MAP_FAILED) return NULL;
            pg__advise_huge(q, pg__pages(bytes));
            if (old) memcpy(q, p, old);
            free(p);
            return q;
        }
        pg__advise_huge(q, pg__pages(bytes));
        return q;
    }
#else
    (void)old;
#endif
    void *q = realloc(p, bytes);
    pg__advise_huge(q, bytes);
    return q;
}

static void pg__big_free(void *p, size_t bytes) {
#if defined(__linux__) && defined(MREMAP_MAYMOVE)
    if (p && bytes >= PG_BIG_ARRAY) {
        munmap(p, pg__pages(bytes));
        return;
    }
#else
    (void)bytes;
#endif
    free(p);
}

enum { S_TEMP, S_INPUT, S_EXT, S_GRADOF };

typedef struct pg_slot {
    int kind;
    int of;        /* S_INPUT: the input index; S_GRADOF: the slot whose .grad it is */
    pg_tensor *t;  /* S_EXT: owned; S_INPUT: borrowed while running (and while recording);
                    * S_TEMP: owned, the current value (NULL between runs unless a kept buffer) */
    pg_meta meta;  /* as recorded */
    bool buffer;   /* S_TEMP written by a forward kernel: kept between runs */
    int gradof;    /* S_INPUT, S_EXT: the S_GRADOF slot of its .grad, -1 until needed */
} pg_slot;

enum { I_FWD, I_VIEW, I_FULL, I_BWD, I_ACC_INTO, I_ACC_NEW, I_ACC_LEAF, I_SET_GRAD, I_OPT, I_INPLACE, I_AUX };
static const char *const pg__iname[] = {"fwd",      "view",     "full",  "bwd",    "acc",    "acc",
                                        "acc_leaf", "set_grad", "optim", "inplace", "aux"};
static const char *const pg__cmpname[] = {"lt", "le", "gt", "ge", "eq", "ne"};
static const char *const pg__bitname[] = {"bitwise_and", "bitwise_or", "bitwise_xor"};
/* per optimizer kind (PG_REC_SGD ...): its name, how many tensors and scalars it takes, and
 * where its learning rate sits among the scalars (-1: none; printed by program_lines) */
static const char *const pg__optname[] = {"sgd_step",   "adagrad_step", "rmsprop_step",  "adam_step", "adamax_step",
                                          "nadam_step", "radam_step",   "adadelta_step", "rprop_step"};
static const int pg__opt_nt[] = {3, 3, 5, 5, 4, 4, 4, 4, 4}, pg__opt_ns[] = {7, 6, 7, 9, 7, 10, 8, 5, 5};
static const int pg__opt_lr[] = {1, 1, 0, 1, 1, 2, 1, 0, -1};

typedef struct pg_instr {
    int kind;
    int op;             /* I_FWD, I_VIEW, I_BWD: the op-table row */
    int out;            /* the slot written (I_FWD, I_VIEW, I_FULL, I_ACC_*) */
    int n_in;
    int *in;            /* [n_in] input slots; I_BWD: the dx slots (-1: none); in the program's pool */
    pg_params *p;       /* I_FWD, I_VIEW: the parameters (in the pool), offsets pointing at `offsets` */
    int64_t *offsets;   /* the copy of p.offsets, when they are a constant */
    int offsets_slot;   /* else the int64 slot whose data they are (labels), -1 when constant */
    int fwd;            /* I_BWD: the I_FWD instruction of its node */
    pg_node *node;      /* I_BWD: the node as plain data (edges, metas, params), in the pool; pointers set per run */
    int gout;           /* I_BWD: the output gradient's slot */
    int saved[PG_MAX_SAVED];
    int a, b, keep;     /* I_ACC_*: a (+)= b; I_ACC_LEAF: a.grad += b; I_SET_GRAD: a.grad = b (-1: None) */
    double value;       /* I_FULL; I_INPLACE: the scalar (batch_norm's update: momentum; renorm: max_norm) */
    double value2;      /* I_INPLACE, batch_norm's update: the variance's unbiasing factor; renorm: norm_type */
    int opt;            /* I_OPT: PG_REC_SGD ...; I_INPLACE: PG_REC_IP_ADD ... (a (op)= b, value);
                         * I_AUX: PG_REC_CMP ... (out = opt(op; a, b, value), op the comparison's code) */
    int t[PG_REC_MAX_T]; /* I_OPT: tensor slots (-1: NULL) */
    int scal;           /* I_OPT: its scalars' offset in scalars[] */
    int epi;            /* I_FWD, I_BWD of a matmul: how many of the next instructions its GEMM's
                         * epilogue runs (pg__epilogues); -1 on those instructions; 0 otherwise */
    bool epi_h;         /* I_BWD with an epilogue: ReLU's mask read from the ReLU's output, which is
                         * the matmul's saved A (h = relu(z): h > 0 exactly where z > 0) */
    bool epi_inplace;   /* I_FWD with the bias and ReLU in its epilogue, z = y + b read by nothing else
                         * than the ReLU and ReLU's backward: z is not kept, the GEMM writes into h's
                         * buffer and the epilogue makes each tile relu(tile + b) there; ReLU's
                         * backward reads h for z (pg__epilogues) */
    bool dw_halves;     /* I_BWD of a matmul wanting dW alone, epi 2: the leaf's accumulation of dW and
                         * its SGD update next; on two threads dW's rows run in two halves, each
                         * thread updating its half after its product (pg__epilogues) */
} pg_instr;

/* a growing int list */
typedef struct pg_ivec {
    int *v;
    int n, cap;
} pg_ivec;

/* one row call of a fused group: ref[k] is the slot of operand k (-1: none), its data at
 * g->base[ref[k]] or, in the per-thread scratch, at block g->off[ref[k]]. 64 bytes: a
 * program written scalar by scalar has some 250k, written once as fresh memory and
 * put in their running order */
typedef struct pg_uop {
    pg_fuse_row fn;
    void *ctx;
    pg_fuse_one one; /* the same on one element (NULL: none), its operands' slots oref (-1: none) */
    int ref[5];      /* the operands' slots, -1 for none */
    int oref[4];
    int ctx_bytes;   /* what ctx points at, compared when batching (0: ignored) */
} pg_uop;

/* micro-ops of a group of one element that run together: n values through fn,
 * their operands words of the arena, at the byte offsets bops[at, at + 4 n) */
typedef struct pg_batch {
    pg_fuse_one fn;
    const void *ctx;
    int64_t n, at;
} pg_batch;

/* a fused group: instructions [first, end) over numel elements of one float dtype */
typedef struct pg_group {
    int first, end;
    int64_t numel;
    int f64;
    int u0, u1;      /* its micro-ops */
    int b0, b1;      /* one element (b1 > b0): its batches of micro-ops on words of the arena */
    int n_scratch;   /* block-sized values per thread */
    /* glist[list[k], list_end[k]): 0 the tensors it reads or writes, 1 the tensors it
     * defines, 2 the tensors defined before it that it adds into, 3 the leaves whose
     * .grad it makes, 4 (leaf, adds, check) for the .grads it adds into, 5 those .grad slots;
     * one element: 6 the tensor and .grad slots whose value it reads into their words of
     * the arena first, 7 those whose value it writes back from their words at its end */
    int list[8], list_end[8];
} pg_group;

/* a growing list of tensors */
typedef struct pg_pvec {
    pg_tensor **v;
    int n, cap;
} pg_pvec;

/* pointer -> int, open addressing; the recorder holds a reference to each key */
typedef struct pg_pmap {
    const void **k;
    int *v;
    size_t n, cap;
} pg_pmap;

/* the backward nodes instructions share (pg__node_copy), by a hash of their bytes */
typedef struct pg_nodeset {
    pg_node **k;
    uint64_t *h;
    size_t n, cap;
} pg_nodeset;

/* a block of the program's pool (pg__pool_alloc), its bytes following */
typedef struct pg_chunk {
    struct pg_chunk *prev;
    size_t size;
} pg_chunk;

struct pg_program {
    pg_recorder rec; /* first: the recorder the hooks are handed is the program */
    pg_slot *slots;
    int n_slots, cap_slots;
    pg_instr *code;
    int n_code, cap_code;
    double *scalars;
    int n_scalars, cap_scalars;
    int n_inputs, n_outputs, n_opt;
    int *outputs;        /* [n_outputs] slots */
    pg_chunk *pool;      /* the instructions' input lists, parameters and node copies: bump-allocated */
    char *pool_at;       /* in the newest chunk */
    size_t pool_left;
    int *opt_at;         /* [n_opt] the instruction of each optimizer update */
    int *dead_at;        /* [n_code + 1] CSR offsets into dead: the values last read by instruction i */
    int *dead;           /* their slots, dropped after instruction i runs (not the forward buffers) */
    pg_tensor *dummy;    /* stands for the inputs that need a gradient in a backward's node */
    atomic_int busy;     /* a run or a recording is under way */
    bool recorded;       /* record_end succeeded: the program can run */
    /* while recording */
    bool recording, refused;
    char why[384];
    pg_pmap map;         /* tensor -> slot */
    pg_pmap nodes;       /* node -> its I_FWD (the recorder holds a reference to each node) */
    pg_nodeset shared;   /* the node copies backward instructions share */
    pg_pmap grads;       /* the .grad of each input and captured slot -> that slot; rebuilt when dirty */
    bool grads_dirty;    /* grads must be rebuilt from every leaf */
    pg_ivec grads_pending; /* leaves whose .grad may have changed (set_grad, accumulation) or that are new */
    pg_pvec held_big;    /* the values the map holds (not the inputs): storages of at least PG_HELD_BIG bytes */
    pg_pvec held_small;  /* and the others */
    int small_scan;      /* held_small's length that makes the next pass over it */
    int *leaves;         /* [n_leaves] the input and captured slots */
    int n_leaves, cap_leaves;
    pg_tensor **captured; /* [n_captured] the tensors that may become S_EXT slots */
    int n_captured;
    /* fused replay (pg__lower) */
    pg_group *groups;
    int n_groups, cap_groups, n_fused;
    int *group_at;       /* [n_code] the group that starts at instruction i, else -1 */
    pg_uop *uops;
    int n_uops, cap_uops;
    int *sorder;         /* [n_uops] a group of one element's micro-ops in the order they run */
    pg_batch *batches;
    int n_batches, cap_batches;
    int32_t *bops;
    int64_t n_bops, cap_bops;
    pg_ivec glist;       /* the groups' lists */
    int8_t *loc;         /* [n_slots] L_TENSOR, L_ARENA, L_SCRATCH */
    int64_t *off;        /* [n_slots] the arena offset, the scratch index */
    char **base;         /* [n_slots] the data of a slot's value (arena: fixed; tensors: set per group) */
    char *arena, *scratch;
    int64_t arena_bytes, scratch_bytes;
    pg_ivec rest;        /* the input and tensor slots that may still hold a value when a run ends */
    pg_ivec seed_fwd;    /* the dropout forwards, in recording order */
    pg_ivec seed_bwd;    /* (backward instruction, k): the backwards of seed_fwd[k] */
};

/* ---- the pointer map ---- */

static size_t pg__hash(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static int pg__pmap_get(const pg_pmap *m, const void *key) {
    if (!m->cap) return -1;
    for (size_t i = pg__hash(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (!m->k[i]) return -1;
        if (m->k[i] == key) return m->v[i];
    }
}

/* sets key -> v; returns 1 when the key is new, 0 when replaced, -1 without memory */
static int pg__pmap_put(pg_pmap *m, const void *key, int v) {
    if (2 * (m->n + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 256;
        const void **k = calloc(cap, sizeof *k);
        int *vv = calloc(cap, sizeof *vv);
        if (!k || !vv) {
            free(k);
            free(vv);
            return -1;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->k[i]) continue;
            size_t j = pg__hash(m->k[i]) & (cap - 1);
            while (k[j]) j = (j + 1) & (cap - 1);
            k[j] = m->k[i];
            vv[j] = m->v[i];
        }
        free(m->k);
        free(m->v);
        m->k = k;
        m->v = vv;
        m->cap = cap;
    }
    size_t i = pg__hash(key) & (m->cap - 1);
    while (m->k[i] && m->k[i] != key) i = (i + 1) & (m->cap - 1);
    int fresh = !m->k[i];
    m->k[i] = key;
    m->v[i] = v;
    m->n += (size_t)fresh;
    return fresh;
}

/* removes key from m (linear probing without tombstones: the entries after it that may
 * sit in its place move back) */
static void pg__pmap_del(pg_pmap *m, const void *key) {
    if (!m->cap) return;
    size_t mask = m->cap - 1, i = pg__hash(key) & mask;
    for (; m->k[i] != key; i = (i + 1) & mask)
        if (!m->k[i]) return;
    for (size_t j = (i + 1) & mask; m->k[j]; j = (j + 1) & mask) {
        size_t h = pg__hash(m->k[j]) & mask; /* the entry's home: it may fill the hole at i unless h is in (i, j] */
        if (i < j ? (h <= i || h > j) : (h <= i && h > j)) {
            m->k[i] = m->k[j];
            m->v[i] = m->v[j];
            i = j;
        }
    }
    m->k[i] = NULL;
    m->v[i] = 0;
    m->n--;
}

/* ---- building ---- */

static void pg__refuse(pg_program *g, const char *fmt, const char *what) {
    if (g->refused) return;
    g->refused = true;
    snprintf(g->why, sizeof g->why, fmt, what);
}

static int pg__ivec_push(pg_ivec *a, int x);

/* The program's pool: what each instruction keeps beside its record (its input
 * slots, a forward's parameters, a backward's node) lives as long as the program,
 * so it is carved from large blocks, 16-byte aligned, rather than malloc'd one
 * by one (some 250k blocks for a program written scalar by scalar), and freed
 * with the program. NULL when out of memory. */
#define PG_POOL_MIN ((size_t)64 << 10)
#define PG_POOL_MAX ((size_t)8 << 20)

static void *pg__pool_alloc(pg_program *g, size_t bytes) {
    bytes = (bytes + 15) & ~(size_t)15;
    if (bytes > g->pool_left) {
        size_t size = g->pool ? 2 * g->pool->size : PG_POOL_MIN;
        if (size > PG_POOL_MAX) size = PG_POOL_MAX;
        if (size < bytes) size = bytes;
        const size_t head = (sizeof(pg_chunk) + 15) & ~(size_t)15;
        pg_chunk *c = malloc(head + size);
        if (!c) return NULL;
        pg__advise_huge(c, head + size);
        c->prev = g->pool;
        c->size = size;
        g->pool = c;
        g->pool_at = (char *)c + head;
        g->pool_left = size;
    }
    void *p = g->pool_at;
    g->pool_at += bytes;
    g->pool_left -= bytes;
    return p;
}

static void pg__pool_free(pg_program *g) {
    while (g->pool) {
        pg_chunk *c = g->pool;
        g->pool = c->prev;
        free(c);
    }
    g->pool_at = NULL;
    g->pool_left = 0;
}

/* leaf slot s's .grad may have changed: the grads map takes it at the next lookup */
static void pg__grads_changed(pg_program *g, int s) {
    if (pg__ivec_push(&g->grads_pending, s) < 0) g->grads_dirty = true;
}

static int pg__new_slot(pg_program *g, int kind, int of, const pg_tensor *t) {
    if (g->n_slots == g->cap_slots) {
        int cap = g->cap_slots ? 2 * g->cap_slots : 64;
        pg_slot *v = pg__big_grow(g->slots, (size_t)g->cap_slots * sizeof *v, (size_t)cap * sizeof *v);
        if (!v) {
            pg__refuse(g, "%s", "out of memory");
            return -1;
        }
        g->slots = v;
        g->cap_slots = cap;
    }
    if (kind == S_INPUT || kind == S_EXT) {
        if (g->n_leaves == g->cap_leaves) {
            int cap = g->cap_leaves ? 2 * g->cap_leaves : 64;
            int *v = realloc(g->leaves, (size_t)cap * sizeof *v);
            if (!v) {
                pg__refuse(g, "%s", "out of memory");
                return -1;
            }
            g->leaves = v;
            g->cap_leaves = cap;
        }
        g->leaves[g->n_leaves++] = g->n_slots;
        pg__grads_changed(g, g->n_slots);
    }
    pg_slot *s = &g->slots[g->n_slots];
    memset(s, 0, sizeof *s);
    s->gradof = -1;
    s->kind = kind;
    s->of = of;
    if (t) pg__meta_of(&s->meta, t);
    return g->n_slots++;
}

static pg_instr *pg__emit(pg_program *g, int kind) {
    if (g->n_code == g->cap_code) {
        int cap = g->cap_code ? 2 * g->cap_code : 64;
        pg_instr *v = pg__big_grow(g->code, (size_t)g->cap_code * sizeof *v, (size_t)cap * sizeof *v);
        if (!v) {
            pg__refuse(g, "%s", "out of memory");
            return NULL;
        }
        g->code = v;
        g->cap_code = cap;
    }
    pg_instr *I = &g->code[g->n_code++];
    memset(I, 0, sizeof *I);
    I->kind = kind;
    I->out = I->a = I->b = I->keep = I->gout = I->fwd = I->offsets_slot = -1;
    for (int k = 0; k < PG_MAX_SAVED; k++) I->saved[k] = -1;
    for (int k = 0; k < PG_REC_MAX_T; k++) I->t[k] = -1;
    return I;
}

/* t's slot, or -1 without complaint */
static int pg__find(pg_program *g, const pg_tensor *t) {
    if (!t) return -1;
    /* the .grad of an input or a captured tensor is read where it is at run time. The
     * map from .grad tensors to their leaves takes the leaves whose .grad may have
     * changed since the last lookup; an entry whose leaf has another .grad now (the
     * old one freed, its address maybe reused) is stale and ignored */
    if (g->grads_dirty) {
        free(g->grads.k);
        free(g->grads.v);
        memset(&g->grads, 0, sizeof g->grads);
        g->grads_pending.n = 0;
        for (int k = 0; k < g->n_leaves; k++) pg__grads_changed(g, g->leaves[k]);
        g->grads_dirty = false;
    }
    for (int k = 0; k < g->grads_pending.n; k++) {
        const pg_tensor *x = g->slots[g->grads_pending.v[k]].t;
        if (x && x->grad && pg__pmap_put(&g->grads, x->grad, g->grads_pending.v[k]) < 0)
            return pg__refuse(g, "%s", "out of memory"), -1;
    }
    g->grads_pending.n = 0;
    int s = pg__pmap_get(&g->grads, t);
    if (s >= 0 && g->slots[s].t && g->slots[s].t->grad == t) {
        if (g->slots[s].gradof < 0) {
            int q = pg__new_slot(g, S_GRADOF, s, t);
            if (q < 0) return -1;
            g->slots[s].gradof = q;
        }
        return g->slots[s].gradof;
    }
    s = pg__pmap_get(&g->map, t);
    if (s >= 0) return s;
    for (int i = 0; i < g->n_captured; i++)
        if (g->captured[i] == t) {
            s = pg__new_slot(g, S_EXT, -1, t);
            if (s < 0) return -1;
            g->slots[s].t = PG_NEW_REF((pg_tensor *)t);
            if (pg__pmap_put(&g->map, t, s) < 0) return pg__refuse(g, "%s", "out of memory"), -1;
            pg_tensor_retain((pg_tensor *)t);
            return s;
        }
    /* the .grad of a captured tensor the program has not met yet */
    for (int i = 0; i < g->n_captured; i++)
        if (g->captured[i]->grad == t && pg__pmap_get(&g->map, g->captured[i]) < 0 && pg__find(g, g->captured[i]) >= 0) {
            g->grads_dirty = true;
            return pg__find(g, t);
        }
    return -1;
}

/* t's slot; a tensor the program does not know refuses the recording */
static int pg__use(pg_program *g, const pg_tensor *t) {
    int s = pg__find(g, t);
    if (s < 0 && !g->refused) {
        char b[PG_SHAPE_BUF], m[320];
        snprintf(m, sizeof m, "a %s tensor of shape %s that was made outside the recorded ops (by a creation, "
                 "copy or conversion inside the function, or captured from somewhere compile does not guard)",
                 pg__dtype_name(t->dtype), pg__shape_str(t->ndim, t->shape, b, sizeof b));
        pg__refuse(g, "%s", m);
    }
    return s;
}

#define PG_HELD_BIG ((size_t)1 << 20) /* the storage cache's smallest block (alloc.c) */
#define PG_HELD_SMALL_SCAN 4096        /* held_small's length for its first pass */
#define PG_HELD_RECENT 4               /* the newest values, looked at whenever a value is made */

/* The recorder holds each value it names, so that the address names nothing else while
 * it records. A value that nothing else holds any more (the step dropped it, and no node
 * saves it) is let go as soon as a pass over its list sees it, its key taken out of the
 * map: nothing can name it again (no reference to it is left), and its buffer goes back
 * to the storage cache as it does eagerly, for the next op to take, instead of each op
 * writing into fresh memory (whose page faults cost more than a memory-bound op: a chain
 * of ten ops on 16M floats recorded ten times slower than it ran). The large values are
 * looked at whenever a large one is made; the others when their list has doubled since
 * the last pass, so each value is looked at a bounded number of times on average. */
static void pg__let_go_from(pg_program *g, pg_pvec *L, int from) {
    int w = from;
    for (int k = from; k < L->n; k++) {
        pg_tensor *t = L->v[k];
        if (atomic_load(&t->refcount) == 1) {
            pg__pmap_del(&g->map, t);
            atomic_fetch_sub(&t->recorder_refs, 1);
            pg_tensor_release(t);
        } else {
            L->v[w++] = t;
        }
    }
    L->n = w;
}

static void pg__let_go(pg_program *g, pg_pvec *L) { pg__let_go_from(g, L, 0); }

/* the newest small values: most of those a step drops (a temporary of an expression, a
 * gradient once its node has run) are dropped soon after they were made, and going back
 * to the allocator at once they give the next op the block it takes eagerly rather than
 * fresh memory (the page faults of a small step's first recording) */
static void pg__let_go_recent(pg_program *g) {
    pg_pvec *L = &g->held_small;
    pg__let_go_from(g, L, L->n > PG_HELD_RECENT ? L->n - PG_HELD_RECENT : 0);
}

/* t was just put in the map: the recorder holds it (until the end, or until let go) */
static void pg__hold(pg_program *g, pg_tensor *t) {
    pg_tensor_retain(t);
    bool big = t->storage->nbytes >= PG_HELD_BIG;
    pg_pvec *L = big ? &g->held_big : &g->held_small;
    if (big) {
        pg__let_go(g, L);
    } else if (L->n >= g->small_scan) {
        pg__let_go(g, L);
        g->small_scan = 2 * L->n > PG_HELD_SMALL_SCAN ? 2 * L->n : PG_HELD_SMALL_SCAN;
    } else {
        pg__let_go_recent(g);
    }
    if (L->n == L->cap) {
        int cap = L->cap ? 2 * L->cap : 64;
        pg_tensor **v = realloc(L->v, (size_t)cap * sizeof *v);
        if (!v) return; /* held until the recording ends, and counted as anybody's reference */
        L->v = v;
        L->cap = cap;
    }
    L->v[L->n++] = t;
    atomic_fetch_add(&t->recorder_refs, 1); /* released by pg__let_go or pg__record_drop */
}

/* a new value t, computed by the program: a fresh slot (the recorder keeps t alive,
 * so its address names it while it is in the map) */
static int pg__def(pg_program *g, pg_tensor *t) {
    int s = pg__new_slot(g, S_TEMP, -1, t);
    if (s < 0) return -1;
    int r = pg__pmap_put(&g->map, t, s);
    if (r < 0) return pg__refuse(g, "%s", "out of memory"), -1;
    if (r == 1) pg__hold(g, t);
    return s;
}

/* ---- the recorder's hooks ---- */

static void rec_apply(pg_recorder *r, pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    pg_program *g = (pg_program *)r;
    if (g->refused || pg_tls.sweep_depth > 0) return; /* inside a backward kernel: the sweep's own events record it */
    if (p->op == PG_OP_CUSTOM) {
        pg__refuse(g, "%s", "a custom op (a user gate or custom_op with a Python backward)");
        return;
    }
    int ins[16], *inp = n_in <= 16 ? ins : malloc((size_t)n_in * sizeof *inp);
    if (!inp) return pg__refuse(g, "%s", "out of memory");
    for (int i = 0; i < n_in; i++)
        if ((inp[i] = pg__use(g, in[i])) < 0) goto done;
    pg_instr *I = pg__emit(g, pg_optable[p->op]->forward ? I_FWD : I_VIEW);
    if (!I) goto done;
    I->op = p->op;
    I->n_in = n_in;
    I->p = pg__pool_alloc(g, sizeof *I->p + (size_t)n_in * sizeof *I->in);
    if (!I->p) {
        pg__refuse(g, "%s", "out of memory");
        goto done;
    }
    *I->p = *p;
    I->in = (int *)(I->p + 1);
    memcpy(I->in, inp, (size_t)n_in * sizeof *inp);
    if (p->offsets && p->n_offsets > 0) {
        /* an int64 tensor's own data (the labels of cross_entropy and nll_loss, embedding's
         * indices) follows the slot at each run, the op's infer checking it each time;
         * other offsets were computed from Python values: a constant */
        for (size_t k = 0; k < g->map.cap && I->offsets_slot < 0; k++) {
            const pg_tensor *t = g->map.k[k];
            if (t && t->data == (const void *)p->offsets && t->dtype == PG_DTYPE_I64 && t->numel == p->n_offsets)
                I->offsets_slot = g->map.v[k];
        }
        if (I->offsets_slot < 0) {
            I->offsets = malloc((size_t)p->n_offsets * sizeof *I->offsets);
            if (!I->offsets) {
                pg__refuse(g, "%s", "out of memory");
                goto done;
            }
            memcpy(I->offsets, p->offsets, (size_t)p->n_offsets * sizeof *I->offsets);
        }
        I->p->offsets = I->offsets;
    }
    I->p->custom_backward = NULL;
    I->p->custom_release = NULL;
    I->p->custom_ctx = NULL;
    int idx = (int)(I - g->code);
    I->out = pg__def(g, out);
    pg_node *n = out->grad_fn;
    if (n && n->out == out) {
        if (pg__pmap_put(&g->nodes, n, idx) == 1) atomic_fetch_add(&n->refcount, 1);
        for (int k = 0; k < PG_MAX_SAVED; k++) /* the output, saved as an alias of itself */
            if (n->saved[k] && n->saved_from[k] == -1 && pg__pmap_put(&g->map, n->saved[k], I->out) == 1)
                pg__hold(g, n->saved[k]);
    }
done:
    if (inp != ins) free(inp);
}

static void rec_seed(pg_recorder *r, pg_tensor *seed, const pg_tensor *root, const pg_tensor *grad) {
    pg_program *g = (pg_program *)r;
    if (g->refused || !seed || pg__find(g, seed) >= 0) return;
    if (grad) {
        pg__use(g, grad);
        pg__refuse(g, "%s", "backward(gradient=...) with a gradient of another dtype");
        return;
    }
    (void)root;
    pg_instr *I = pg__emit(g, I_FULL);
    if (!I) return;
    I->value = 1.0;
    I->out = pg__def(g, seed);
}

/* A backward instruction keeps its node as plain data: its op, parameters, the
 * metas of its output and inputs, which inputs need a gradient (edges[i].leaf:
 * the program's dummy, or NULL), where each saved value came from; no pointer
 * into the graph. Many nodes are the same as plain data (a program written
 * scalar by scalar has some 65k backwards of a few kinds), and a run sets only
 * the saved values of a node, while its instruction runs, and its parameters
 * from those of its forward: instructions share one copy of each kind, found
 * by a hash of its bytes (all bytes set, padding zeroed). The random ops, whose
 * copy takes its seed at each run, and nodes with offsets (labels), which
 * point outside the copy, have one each. NULL when out of memory. */
#define PG_SHARE_MAX_IN 4

/* op with parameters p draws random numbers: dropout, attention with dropout, random, bernoulli
 * (a program sets their seeds at each run, pg_program_set_seeds) */
static bool pg__random_params(int op, const pg_params *p) {
    return op == PG_OP_DROPOUT || op == PG_OP_RANDOM || op == PG_OP_BERNOULLI ||
           (op == PG_OP_SCALED_DOT_PRODUCT_ATTENTION && p->attn.dropout > 0);
}

static uint64_t pg__bytes_hash(const void *p, size_t n) {
    const unsigned char *c = p;
    uint64_t h[4] = {0x9e3779b97f4a7c15ULL ^ n, 0xc2b2ae3d27d4eb4fULL, 0x165667b19e3779f9ULL, 0x27d4eb2f165667c5ULL};
    size_t k = 0;
    for (; k + 32 <= n; k += 32) /* four independent lanes */
        for (int j = 0; j < 4; j++) {
            uint64_t w;
            memcpy(&w, c + k + 8 * j, 8);
            h[j] = (h[j] ^ w) * 0xff51afd7ed558ccdULL;
            h[j] ^= h[j] >> 29;
        }
    for (; k < n; k++) h[0] = (h[0] ^ c[k]) * 1099511628211ULL;
    uint64_t r = h[0] ^ (h[1] * 0x9e3779b97f4a7c15ULL) ^ (h[2] * 0xc2b2ae3d27d4eb4fULL) ^ (h[3] * 0x165667b19e3779f9ULL);
    return r ^ (r >> 32);
}

static void pg__meta_plain(pg_meta *to, const pg_meta *m) {
    to->dtype = m->dtype;
    to->ndim = m->ndim;
    for (int d = 0; d < m->ndim && d < PG_MAX_DIMS; d++) to->shape[d] = m->shape[d];
}

/* c [bytes]: n as plain data */
static void pg__node_plain(const pg_program *g, pg_node *c, const pg_node *n, size_t bytes) {
    memset(c, 0, bytes);
    atomic_init(&c->refcount, 1);
    atomic_init(&c->owner, NULL);
    c->op = n->op;
    c->n_in = n->n_in;
    pg__meta_plain(&c->out_meta, &n->out_meta);
    for (int k = 0; k < PG_MAX_SAVED; k++) c->saved_from[k] = n->saved_from[k];
    memcpy(&c->p, &n->p, sizeof c->p);
    for (int i = 0; i < n->n_in; i++) {
        pg__meta_plain(&c->edges[i].meta, &n->edges[i].meta);
        c->edges[i].leaf = pg__node_needs(n, i) ? g->dummy : NULL;
    }
}

static pg_node *pg__node_copy(pg_program *g, const pg_node *n) {
    const size_t bytes = sizeof(pg_node) + (size_t)n->n_in * sizeof(pg_edge);
    if (n->n_in > PG_SHARE_MAX_IN || n->p.offsets || pg__random_params(n->op, &n->p)) { /* one of its own */
        pg_node *own = pg__pool_alloc(g, bytes);
        if (own) pg__node_plain(g, own, n, bytes);
        return own;
    }
    _Alignas(16) unsigned char buf[sizeof(pg_node) + PG_SHARE_MAX_IN * sizeof(pg_edge)];
    pg_node *c = (pg_node *)buf;
    pg__node_plain(g, c, n, bytes);
    uint64_t h = pg__bytes_hash(c, bytes);
    pg_nodeset *S = &g->shared;
    if (2 * (S->n + 1) > S->cap) {
        size_t cap = S->cap ? 2 * S->cap : 256;
        pg_node **k = calloc(cap, sizeof *k);
        uint64_t *hv = malloc(cap * sizeof *hv);
        if (!k || !hv) {
            free(k);
            free(hv);
            return NULL;
        }
        for (size_t j = 0; j < S->cap; j++)
            if (S->k[j]) {
                size_t at = (size_t)S->h[j] & (cap - 1);
                while (k[at]) at = (at + 1) & (cap - 1);
                k[at] = S->k[j];
                hv[at] = S->h[j];
            }
        free(S->k);
        free(S->h);
        S->k = k;
        S->h = hv;
        S->cap = cap;
    }
    size_t at = (size_t)h & (S->cap - 1);
    for (; S->k[at]; at = (at + 1) & (S->cap - 1))
        if (S->h[at] == h && S->k[at]->n_in == c->n_in && !memcmp(S->k[at], c, bytes)) return S->k[at];
    pg_node *keep = pg__pool_alloc(g, bytes);
    if (!keep) return NULL;
    memcpy(keep, c, bytes);
    S->k[at] = keep;
    S->h[at] = h;
    S->n++;
    return keep;
}

static void rec_backward(pg_recorder *r, const pg_node *n, pg_tensor *gout, pg_tensor *const *dx) {
    pg_program *g = (pg_program *)r;
    if (g->refused) return;
    if (n->hooks) return pg__refuse(g, "%s", "a hook on a tensor of the graph");
    if (n->out && n->out->retains_grad) return pg__refuse(g, "%s", "retain_grad()");
    int fwd = pg__pmap_get(&g->nodes, n);
    if (fwd < 0) return pg__refuse(g, "%s", "a backward through a graph built before the call");
    int go = pg__use(g, gout);
    int sv[PG_MAX_SAVED];
    for (int k = 0; k < PG_MAX_SAVED; k++) {
        sv[k] = -1;
        if (n->saved[k] && (sv[k] = pg__use(g, n->saved[k])) < 0) return;
    }
    if (go < 0) return;
    int *dxs = pg__pool_alloc(g, (size_t)n->n_in * sizeof *dxs);
    pg_node *copy = dxs ? pg__node_copy(g, n) : NULL;
    pg_instr *I = copy ? pg__emit(g, I_BWD) : NULL;
    if (!I) return pg__refuse(g, "%s", "out of memory");
    I->op = n->op;
    I->fwd = fwd;
    I->node = copy;
    I->gout = go;
    for (int k = 0; k < PG_MAX_SAVED; k++) I->saved[k] = sv[k];
    I->n_in = n->n_in;
    I->in = dxs;
    for (int i = 0; i < n->n_in; i++) dxs[i] = dx[i] ? pg__def(g, dx[i]) : -1;
}

static void rec_accumulate(pg_recorder *r, pg_tensor *before, pg_tensor *after, pg_tensor *gi) {
    pg_program *g = (pg_program *)r;
    if (g->refused) return;
    if (!before && after == gi) return; /* taken over: the same value, the same slot */
    int b = pg__use(g, gi), a = before ? pg__use(g, before) : -1;
    if (b < 0 || (before && a < 0)) return;
    if (!before) { /* a copy (gi was not the sweep's alone): the same value, the same slot; an
                    * add into it at run time copies first when the slot's tensor is shared */
        int r = pg__pmap_put(&g->map, after, b);
        if (r < 0) pg__refuse(g, "%s", "out of memory");
        if (r == 1) pg__hold(g, after);
        return;
    }
    pg_instr *I = pg__emit(g, after == before ? I_ACC_INTO : I_ACC_NEW);
    if (!I) return;
    if (after == before) {
        I->out = I->a = a;
        I->b = b;
    } else {
        I->a = a;
        I->b = b;
        I->out = pg__def(g, after);
    }
}

static void rec_accumulate_leaf(pg_recorder *r, pg_tensor *leaf, pg_tensor *gt, const pg_tensor *keep) {
    pg_program *g = (pg_program *)r;
    if (g->refused) return;
    int a = pg__use(g, leaf), b = pg__use(g, gt);
    if (a < 0 || b < 0) return;
    if (g->slots[a].kind != S_EXT && g->slots[a].kind != S_INPUT)
        return pg__refuse(g, "%s", "a backward into a leaf made inside the function");
    pg_instr *I = pg__emit(g, I_ACC_LEAF);
    if (!I) return;
    pg__grads_changed(g, a);
    I->a = a;
    I->b = b;
    I->keep = keep ? pg__find(g, keep) : -1;
}

static void rec_set_grad(pg_recorder *r, pg_tensor *t, pg_tensor *grad) {
    pg_program *g = (pg_program *)r;
    if (g->refused) return;
    int a = pg__use(g, t), b = grad ? pg__use(g, grad) : -1;
    if (a < 0 || (grad && b < 0)) return;
    if (g->slots[a].kind != S_EXT && g->slots[a].kind != S_INPUT)
        return pg__refuse(g, "%s", "setting .grad of a tensor made inside the function");
    pg_instr *I = pg__emit(g, I_SET_GRAD);
    if (!I) return;
    pg__grads_changed(g, a);
    I->a = a;
    I->b = b;
}

static void rec_optim(pg_recorder *r, int kind, pg_tensor *const *t, const double *s) {
    pg_program *g = (pg_program *)r;
    if (g->refused) return;
    int ts[PG_REC_MAX_T];
    for (int k = 0; k < PG_REC_MAX_T; k++) {
        ts[k] = -1;
        if (k < pg__opt_nt[kind] && t[k] && (ts[k] = pg__use(g, t[k])) < 0) return;
    }
    if (g->n_scalars + PG_REC_MAX_S > g->cap_scalars) {
        int cap = g->cap_scalars ? 2 * g->cap_scalars : 64;
        double *v = realloc(g->scalars, (size_t)cap * sizeof *v);
        if (!v) return pg__refuse(g, "%s", "out of memory");
        g->scalars = v;
        g->cap_scalars = cap;
    }
    pg_instr *I = pg__emit(g, I_OPT);
    if (!I) return;
    I->opt = kind;
    for (int k = 0; k < PG_REC_MAX_T; k++) I->t[k] = ts[k];
    I->scal = g->n_scalars;
    memcpy(g->scalars + g->n_scalars, s, PG_REC_MAX_S * sizeof *s);
    g->n_scalars += PG_REC_MAX_S;
    g->n_opt++;
}

/* an in-place update outside the graph: replayed by the same entry point, on
 * whatever tensor the target slot holds at run time (a parameter, a .grad, an
 * input, a value of the run) */
static void rec_inplace(pg_recorder *r, int kind, pg_tensor *t, pg_tensor *operand, double c) {
    pg_program *g = (pg_program *)r;
    if (g->refused || pg_tls.sweep_depth > 0) return;
    int a = pg__use(g, t), b = operand ? pg__use(g, operand) : -1;
    if (a < 0 || (operand && b < 0)) return;
    pg_instr *I = pg__emit(g, I_INPLACE);
    if (!I) return;
    I->opt = kind;
    I->a = a;
    I->b = b;
    I->value = c;
}

static void rec_constant(pg_recorder *r, pg_tensor *t, double value) {
    pg_program *g = (pg_program *)r;
    if (g->refused || pg_tls.sweep_depth > 0 || !t) return;
    pg_instr *I = pg__emit(g, I_FULL);
    if (!I) return;
    I->value = value;
    I->out = pg__def(g, t);
}

/* batch_norm's running statistics: a = running_mean, b = running_var, t[0] = the stats (2, C) */
static void rec_bn_stats(pg_recorder *r, int update, pg_tensor *rm, pg_tensor *rv, pg_tensor *stats, double momentum,
                         double unb) {
    pg_program *g = (pg_program *)r;
    if (g->refused || pg_tls.sweep_depth > 0) return;
    int a = pg__use(g, rm), b = pg__use(g, rv), s = pg__use(g, stats);
    if (a < 0 || b < 0 || s < 0) return;
    pg_instr *I = pg__emit(g, I_INPLACE);
    if (!I) return;
    I->opt = update ? PG_REC_IP_BN_UPDATE : PG_REC_IP_BN_FILL;
    I->a = a;
    I->b = b;
    I->t[0] = s;
    I->value = momentum;
    I->value2 = unb;
}

/* a comparison or bitwise op (ops_compare.c), or a constant made by a creation function */
static void rec_aux(pg_recorder *r, int kind, int code, pg_tensor *out, pg_tensor *a, pg_tensor *b, double c) {
    pg_program *g = (pg_program *)r;
    if (g->refused || pg_tls.sweep_depth > 0 || !out) return;
    int sa = -1, sb = -1;
    if (kind == PG_REC_DATA) { /* a private copy, held by the program as a captured constant */
        pg_tensor *copy = pg_tensor_clone(out);
        if (!copy) return pg__refuse(g, "%s", "out of memory");
        copy->requires_grad = false;
        if ((sa = pg__new_slot(g, S_EXT, -1, copy)) < 0) {
            pg_tensor_release(copy);
            return;
        }
        g->slots[sa].t = copy;
    } else {
        if ((sa = pg__use(g, a)) < 0) return;
        if (b && (sb = pg__use(g, b)) < 0) return;
    }
    pg_instr *I = pg__emit(g, I_AUX);
    if (!I) return;
    I->opt = kind;
    I->op = code;
    I->a = sa;
    I->b = sb;
    I->value = c;
    I->out = pg__def(g, out);
}

/* embedding's max_norm renorm: a = the weight, b = the int64 indices (read from their slot at each
 * run, as the embedding op reads them), value = max_norm, value2 = norm_type */
static void rec_renorm(pg_recorder *r, pg_tensor *weight, pg_tensor *indices, double max_norm, double norm_type) {
    pg_program *g = (pg_program *)r;
    int at = g->n_code;
    rec_inplace(r, PG_REC_IP_RENORM, weight, indices, max_norm);
    if (g->n_code > at) g->code[at].value2 = norm_type;
}

static void rec_refuse(pg_recorder *r, const char *what) { pg__refuse((pg_program *)r, "%s", what); }

/* before an op allocates its output: when it is large, the large values the step has dropped
 * since the last report go back to the storage cache first, so that the op takes one of them
 * as it does eagerly (the values a Python expression drops are dropped after its op reports);
 * else the newest small values the step has dropped */
static void rec_make(pg_recorder *r, const pg_meta *m) {
    pg_program *g = (pg_program *)r;
    if (g->held_big.n && pg__numel(m->ndim, m->shape) * (int64_t)pg__dtype_size(m->dtype) >= (int64_t)PG_HELD_BIG)
        pg__let_go(g, &g->held_big);
    else pg__let_go_recent(g);
}

static const pg_rec_ops pg__rec_ops = {rec_apply,    rec_seed,  rec_backward, rec_accumulate, rec_accumulate_leaf,
                                       rec_set_grad, rec_optim, rec_inplace,  rec_constant,   rec_bn_stats,
                                       rec_aux,      rec_refuse, rec_make,       rec_renorm};

pg_status pg_program_record_fill(pg_tensor *t, double value) {
    if (pg__check_tensor("record_fill", t)) return pg_last_status();
    if (pg_tls.recorder) pg_tls.recorder->ops->constant(pg_tls.recorder, t, value);
    return PG_OK;
}

pg_status pg_program_record_data(pg_tensor *t) {
    if (pg__check_tensor("record_data", t)) return pg_last_status();
    if (pg_tls.recorder) pg_tls.recorder->ops->aux(pg_tls.recorder, PG_REC_DATA, 0, t, NULL, NULL, 0.0);
    return PG_OK;
}

static pg_status pg__hoist_updates(pg_program *g);
static pg_status pg__plan(pg_program *g);
static pg_status pg__lower(pg_program *g);
static pg_status pg__epilogues(pg_program *g);
static pg_status pg__rest(pg_program *g);

/* ---- the program's life ---- */

static void pg__program_clear(pg_program *g) {
    for (int s = 0; s < g->n_slots; s++)
        if (g->slots[s].kind != S_INPUT) pg_tensor_release(g->slots[s].t);
    for (int i = 0; i < g->n_code; i++) free(g->code[i].offsets);
    pg__pool_free(g);
    pg__big_free(g->slots, (size_t)g->cap_slots * sizeof *g->slots);
    pg__big_free(g->code, (size_t)g->cap_code * sizeof *g->code);
    free(g->scalars);
    free(g->outputs);
    free(g->opt_at);
    g->opt_at = NULL;
    free(g->dead_at);
    free(g->dead);
    g->dead_at = g->dead = NULL;
    free(g->leaves);
    g->leaves = NULL;
    free(g->groups);
    free(g->group_at);
    free(g->uops);
    free(g->batches);
    free(g->bops);
    free(g->sorder);
    g->sorder = NULL;
    g->batches = NULL;
    g->bops = NULL;
    g->n_batches = g->cap_batches = 0;
    g->n_bops = g->cap_bops = 0;
    free(g->glist.v);
    free(g->loc);
    free(g->off);
    free(g->base);
    free(g->arena);
    free(g->scratch);
    g->groups = NULL;
    g->group_at = NULL;
    g->uops = NULL;
    g->loc = NULL;
    g->off = NULL;
    g->base = NULL;
    g->arena = g->scratch = NULL;
    free(g->rest.v);
    free(g->seed_fwd.v);
    free(g->seed_bwd.v);
    memset(&g->glist, 0, sizeof g->glist);
    memset(&g->rest, 0, sizeof g->rest);
    memset(&g->seed_fwd, 0, sizeof g->seed_fwd);
    memset(&g->seed_bwd, 0, sizeof g->seed_bwd);
    g->n_groups = g->cap_groups = g->n_fused = g->n_uops = g->cap_uops = 0;
    g->arena_bytes = g->scratch_bytes = 0;
    g->n_leaves = g->cap_leaves = 0;
    g->slots = NULL;
    g->code = NULL;
    g->scalars = NULL;
    g->outputs = NULL;
    g->n_slots = g->cap_slots = g->n_code = g->cap_code = g->n_scalars = g->cap_scalars = 0;
    g->n_inputs = g->n_outputs = g->n_opt = 0;
    g->recorded = false;
}

pg_program *pg_program_new(void) {
    pg_program *g = calloc(1, sizeof *g);
    if (!g) {
        pg__fail(PG_ERR_MEMORY, "compile: out of memory");
        return NULL;
    }
    g->rec.ops = &pg__rec_ops;
    int64_t one = 1;
    g->dummy = pg__tensor_new(PG_DTYPE_F32, 1, &one);
    if (!g->dummy) {
        free(g);
        return NULL;
    }
    return g;
}

/* the recorder's own references (tensors and nodes), dropped when recording ends */
static void pg__record_drop(pg_program *g) {
    for (int k = 0; k < g->held_big.n; k++) atomic_fetch_sub(&g->held_big.v[k]->recorder_refs, 1);
    for (int k = 0; k < g->held_small.n; k++) atomic_fetch_sub(&g->held_small.v[k]->recorder_refs, 1);
    for (size_t i = 0; i < g->map.cap; i++)
        if (g->map.k[i]) pg_tensor_release((pg_tensor *)g->map.k[i]);
    for (size_t i = 0; i < g->nodes.cap; i++)
        if (g->nodes.k[i]) pg__node_release((pg_node *)g->nodes.k[i]);
    free(g->map.k);
    free(g->map.v);
    free(g->nodes.k);
    free(g->nodes.v);
    free(g->shared.k);
    free(g->shared.h);
    memset(&g->shared, 0, sizeof g->shared);
    free(g->grads.k);
    free(g->grads.v);
    memset(&g->map, 0, sizeof g->map);
    memset(&g->nodes, 0, sizeof g->nodes);
    memset(&g->grads, 0, sizeof g->grads);
    g->grads_dirty = true;
    free(g->grads_pending.v);
    memset(&g->grads_pending, 0, sizeof g->grads_pending);
    free(g->held_big.v);
    free(g->held_small.v);
    memset(&g->held_big, 0, sizeof g->held_big);
    memset(&g->held_small, 0, sizeof g->held_small);
    g->small_scan = PG_HELD_SMALL_SCAN;
    free(g->captured);
    g->captured = NULL;
    g->n_captured = 0;
    for (int s = 0; s < g->n_slots; s++)
        if (g->slots[s].kind == S_INPUT) g->slots[s].t = NULL;
}

void pg_program_free(pg_program *g) {
    if (!g) return;
    if (g->recording && pg_tls.recorder == &g->rec) pg_tls.recorder = NULL;
    pg__record_drop(g);
    pg__program_clear(g);
    pg_tensor_release(g->dummy);
    free(g);
}

pg_status pg_program_record_begin(pg_program *g, pg_tensor **inputs, int n_inputs, pg_tensor **captured,
                                  int n_captured) {
    if (!g) return pg__fail(PG_ERR_VALUE, "compile: got a NULL program");
    if (n_inputs < 0 || n_captured < 0 || (n_inputs && !inputs) || (n_captured && !captured))
        return pg__fail(PG_ERR_VALUE, "compile: bad input or captured tensor list");
    if (pg_tls.recorder) return pg__fail(PG_ERR_RUNTIME, "compile: a compiled function cannot record inside another");
    int expected = 0;
    if (!atomic_compare_exchange_strong(&g->busy, &expected, 1))
        return pg__fail(PG_ERR_RUNTIME, "compile: the program is running or recording on another thread");
    pg__record_drop(g);
    pg__program_clear(g);
    g->refused = false;
    g->why[0] = 0;
    g->n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) {
        if (pg__check_tensor("compile", inputs[i])) goto fail;
        int s = pg__new_slot(g, S_INPUT, i, inputs[i]);
        if (s < 0) goto fail;
        g->slots[s].t = inputs[i]; /* borrowed while recording */
        int r = pg__pmap_put(&g->map, inputs[i], s);
        if (r < 0) goto fail;
        if (r == 1) pg_tensor_retain(inputs[i]);
    }
    if (n_captured) {
        g->captured = malloc((size_t)n_captured * sizeof *g->captured);
        if (!g->captured) goto fail;
        memcpy(g->captured, captured, (size_t)n_captured * sizeof *captured);
        g->n_captured = n_captured;
    }
    g->recording = true;
    pg_tls.recorder = &g->rec;
    return PG_OK;
fail:
    pg__record_drop(g);
    pg__program_clear(g);
    atomic_store(&g->busy, 0);
    return pg_last_status() != PG_OK ? pg_last_status() : pg__fail(PG_ERR_MEMORY, "compile: out of memory");
}

pg_status pg_program_record_refuse(pg_program *g, const char *what) {
    if (!g || !what) return pg__fail(PG_ERR_VALUE, "compile: got a NULL argument");
    pg__refuse(g, "%s", what);
    return PG_OK;
}

pg_status pg_program_record_end(pg_program *g, pg_tensor **outputs, int n_outputs) {
    if (!g || !g->recording) return pg__fail(PG_ERR_RUNTIME, "compile: the program is not recording");
    if (pg_tls.recorder == &g->rec) pg_tls.recorder = NULL;
    g->recording = false;
    if (n_outputs < 0 || (n_outputs && !outputs)) pg__refuse(g, "%s", "a bad output list");
    if (!g->refused) {
        g->outputs = malloc((size_t)(n_outputs ? n_outputs : 1) * sizeof *g->outputs);
        if (!g->outputs) pg__refuse(g, "%s", "out of memory");
        g->n_outputs = n_outputs;
    }
    for (int i = 0; !g->refused && i < n_outputs; i++) {
        pg_tensor *t = outputs[i];
        if (t && t->grad_fn && !t->grad_fn->released)
            pg__refuse(g, "%s", "returning a tensor whose graph is still alive (compile returns values, not "
                       "graphs: call backward inside the function, or run it under no_grad)");
        else g->outputs[i] = t ? pg__use(g, t) : -1;
    }
    pg__record_drop(g);
    for (int s = 0; s < g->n_slots; s++)
        if (g->slots[s].kind == S_TEMP) g->slots[s].t = NULL; /* nothing held until the first run */
    pg_status st = PG_OK;
    if (g->refused) {
        st = pg__fail(PG_ERR_RUNTIME, "compile: cannot record %s", g->why);
        pg__program_clear(g);
    } else if (g->n_opt && !(g->opt_at = malloc((size_t)g->n_opt * sizeof *g->opt_at))) {
        st = pg__fail(PG_ERR_MEMORY, "compile: out of memory");
        pg__program_clear(g);
    } else if ((st = pg__hoist_updates(g)) != PG_OK || (st = pg__plan(g)) != PG_OK || (st = pg__lower(g)) != PG_OK ||
               (st = pg__epilogues(g)) != PG_OK || (st = pg__rest(g)) != PG_OK) {
        pg__program_clear(g);
    } else {
        /* in the order they were recorded (their scalars' order), wherever pg__hoist_updates put them */
        for (int i = 0, k = 0; i < g->n_code; i++)
            if (g->code[i].kind == I_OPT) {
                int j = k++;
                for (; j > 0 && g->code[g->opt_at[j - 1]].scal > g->code[i].scal; j--) g->opt_at[j] = g->opt_at[j - 1];
                g->opt_at[j] = i;
            }
        g->recorded = true;
    }
    atomic_store(&g->busy, 0);
    return st;
}

int pg_program_size(const pg_program *g) { return g && g->recorded ? g->n_code : 0; }
/* the random ops' instructions; where their parameters keep the seed */
static bool pg__random_op(const pg_instr *I) {
    return pg__random_params(I->op, I->kind == I_FWD ? I->p : &I->node->p);
}
static uint64_t *pg__seed_of(pg_params *p, int op) {
    return op == PG_OP_DROPOUT ? &p->dropout.seed : op == PG_OP_SCALED_DOT_PRODUCT_ATTENTION ? &p->attn.seed
                                                                                           : &p->random.seed;
}

int pg_program_n_seeds(const pg_program *g) { return g && g->recorded ? g->seed_fwd.n : 0; }

pg_status pg_program_set_seeds(pg_program *g, const uint64_t *seeds, int n) {
    if (!g || !g->recorded) return pg__fail(PG_ERR_RUNTIME, "compile: the program has not been recorded");
    if (n != g->seed_fwd.n || (n && !seeds))
        return pg__fail(PG_ERR_VALUE, "compile: the program has %d random ops, got %d seeds", g->seed_fwd.n, n);
    if (atomic_load(&g->busy)) return pg__fail(PG_ERR_RUNTIME, "compile: the program is running");
    for (int k = 0; k < n; k++) {
        pg_instr *I = &g->code[g->seed_fwd.v[k]];
        *pg__seed_of(I->p, I->op) = seeds[k];
    }
    for (int k = 0; k < g->seed_bwd.n; k += 2) {
        pg_instr *I = &g->code[g->seed_bwd.v[k]];
        *pg__seed_of(&I->node->p, I->op) = seeds[g->seed_bwd.v[k + 1]];
    }
    return PG_OK;
}
int pg_program_n_optim(const pg_program *g) { return g && g->recorded ? g->n_opt : 0; }

pg_status pg_program_set_optim_scalars(pg_program *g, int k, const double *s, int n) {
    if (!g || !g->recorded || !s) return pg__fail(PG_ERR_VALUE, "compile: no recorded program");
    if (k < 0 || k >= g->n_opt) return pg__fail(PG_ERR_INDEX, "compile: no optimizer update %d", k);
    const pg_instr *I = &g->code[g->opt_at[k]];
    if (n != pg__opt_ns[I->opt])
        return pg__fail(PG_ERR_VALUE, "compile: %s takes %d scalars, got %d", pg__optname[I->opt], pg__opt_ns[I->opt],
                        n);
    memcpy(g->scalars + I->scal, s, (size_t)n * sizeof *s);
    return PG_OK;
}

pg_status pg_program_set_all_optim_scalars(pg_program *g, const double *s, int n) {
    if (!g || !g->recorded || (n && !s)) return pg__fail(PG_ERR_VALUE, "compile: no recorded program");
    int total = 0;
    for (int k = 0; k < g->n_opt; k++) total += pg__opt_ns[g->code[g->opt_at[k]].opt];
    if (n != total)
        return pg__fail(PG_ERR_VALUE, "compile: the program's %d optimizer updates take %d scalars, got %d", g->n_opt,
                        total, n);
    for (int k = 0; k < g->n_opt; k++) {
        const pg_instr *I = &g->code[g->opt_at[k]];
        memcpy(g->scalars + I->scal, s, (size_t)pg__opt_ns[I->opt] * sizeof *s);
        s += pg__opt_ns[I->opt];
    }
    return PG_OK;
}

/* The slots instruction I reads or writes, into v (at most cap); returns how many. */
static int pg__slots_of(const pg_instr *I, int *v, int cap) {
    int n = 0;
#define PG_ADD(s) \
    do {          \
        if ((s) >= 0 && n < cap) v[n++] = (s); \
    } while (0)
    PG_ADD(I->out);
    PG_ADD(I->a);
    PG_ADD(I->b);
    PG_ADD(I->keep);
    PG_ADD(I->gout);
    PG_ADD(I->offsets_slot);
    for (int k = 0; k < PG_MAX_SAVED; k++) PG_ADD(I->saved[k]);
    for (int k = 0; k < PG_REC_MAX_T; k++) PG_ADD(I->t[k]);
    for (int k = 0; k < I->n_in; k++) PG_ADD(I->in[k]);
#undef PG_ADD
    return n;
}

/* Optimizer updates, recorded after the whole backward, move up to just after
 * the last instruction that touches one of their tensors (the parameter, its
 * .grad, the optimizer's state): the update then reads a gradient the
 * backward has just written, while it is in cache, instead of after every
 * other layer's backward has gone through the cache. Only instructions that
 * share none of those slots are passed, so every instruction reads and
 * writes what it did in the recorded order. Nor does it pass a view of its
 * tensors, a captured tensor sharing their memory, or an instruction reading
 * a function input of their shape and dtype (the caller could pass the
 * parameter itself). PYGRAD_COMPILE_HOIST=0 in the environment turns this off. */
#define PG_HOIST_SCAN 64

static bool pg__update_blocked_by(const pg_program *g, const pg_instr *K, const pg_instr *O) {
    int a[64], b[64];
    int na = pg__slots_of(K, a, 64), nb = pg__slots_of(O, b, 64);
    if (na >= 64) return true;
    for (int x = 0; x < na; x++) {
        for (int y = 0; y < nb; y++)
            if (a[x] == b[y]) return true;
        const pg_slot *sx = &g->slots[a[x]];
        if (sx->kind == S_EXT && sx->t) /* a captured tensor that shares memory with one of the update's */
            for (int y = 0; y < nb; y++)
                if (g->slots[b[y]].kind == S_EXT && g->slots[b[y]].t && g->slots[b[y]].t->storage == sx->t->storage)
                    return true;
        if (sx->kind == S_INPUT) /* an input that may be one of the update's tensors */
            for (int y = 0; y < nb; y++)
                if (sx->meta.dtype == g->slots[b[y]].meta.dtype && sx->meta.ndim == g->slots[b[y]].meta.ndim &&
                    pg__same_dims(sx->meta.ndim, sx->meta.shape, g->slots[b[y]].meta.shape))
                    return true;
    }
    return false;
}

static pg_status pg__hoist_updates(pg_program *g) {
    const char *env = getenv("PYGRAD_COMPILE_HOIST");
    if ((env && env[0] == '0') || g->n_opt == 0) return PG_OK;
    const int n = g->n_code;
    int *ord = malloc((size_t)n * sizeof *ord), *at = malloc((size_t)n * sizeof *at);
    bool *viewed = calloc((size_t)g->n_slots + 1, sizeof *viewed);
    if (!ord || !at || !viewed) {
        free(ord);
        free(at);
        free(viewed);
        return pg__fail(PG_ERR_MEMORY, "compile: out of memory");
    }
    for (int k = 0; k < n; k++) /* the slots a view reads */
        if (g->code[k].kind == I_VIEW)
            for (int r = 0; r < g->code[k].n_in; r++)
                if (g->code[k].in[r] >= 0) viewed[g->code[k].in[r]] = true;
    int len = 0;
    for (int i = 0; i < n; i++) {
        const pg_instr *O = &g->code[i];
        int j = len;
        bool movable = O->kind == I_OPT;
        for (int t = 0; movable && t < PG_REC_MAX_T; t++)
            if (O->t[t] >= 0 && viewed[O->t[t]]) movable = false;
        /* a bounded look back: the updates of a program of many small parameters stay put */
        for (int stop = len - PG_HOIST_SCAN; movable && j > 0 && j > stop; j--)
            if (pg__update_blocked_by(g, &g->code[ord[j - 1]], O)) break;
        if (movable && j > 0 && j == len - PG_HOIST_SCAN) j = len; /* not found within the look back */
        memmove(ord + j + 1, ord + j, (size_t)(len - j) * sizeof *ord);
        ord[j] = i;
        len++;
    }
    /* the new order in place, cycle by cycle (ord[i] = -1 once position i holds its
     * instruction): no copy of the whole code, which a program of some 190k
     * instructions of 300 bytes would write to fresh memory */
    int moved = 0;
    for (int i = 0; i < n; i++) {
        at[ord[i]] = i;
        moved += ord[i] != i;
    }
    for (int i = 0; moved && i < n; i++) {
        if (ord[i] < 0 || ord[i] == i) continue;
        pg_instr tmp = g->code[i];
        int j = i;
        while (ord[j] != i) {
            int k = ord[j];
            g->code[j] = g->code[k];
            ord[j] = -1;
            j = k;
        }
        g->code[j] = tmp;
        ord[j] = -1;
    }
    for (int i = 0; moved && i < n; i++)
        if (g->code[i].kind == I_BWD && g->code[i].fwd >= 0) g->code[i].fwd = at[g->code[i].fwd];
    free(ord);
    free(at);
    free(viewed);
    return PG_OK;
}

/* Liveness: each computed value (not a kept forward buffer, not an output) is
 * dropped right after the last instruction that uses it, so a run's working
 * set stays what the eager step's is. A backward also reads the labels of its
 * forward, which the slot list of the backward does not show: they are inputs. */
static pg_status pg__plan(pg_program *g) {
    int *last = malloc((size_t)(g->n_slots ? g->n_slots : 1) * sizeof *last);
    int *count = calloc((size_t)g->n_code + 1, sizeof *count);
    int tmp[64];
    if (!last || !count) {
        free(last);
        free(count);
        return pg__fail(PG_ERR_MEMORY, "compile: out of memory");
    }
    for (int s = 0; s < g->n_slots; s++) last[s] = -1;
    for (int i = 0; i < g->n_code; i++) {
        int n = pg__slots_of(&g->code[i], tmp, 64);
        for (int k = 0; k < n; k++) last[tmp[k]] = i;
        if (g->code[i].kind == I_BWD && g->code[g->code[i].fwd].offsets_slot >= 0)
            last[g->code[g->code[i].fwd].offsets_slot] = i;
    }
    for (int i = 0; i < g->n_code; i++)
        if (g->code[i].n_in > 48)
            for (int k = 0; k < g->code[i].n_in; k++)
                if (g->code[i].in[k] >= 0) last[g->code[i].in[k]] = g->n_code; /* past tmp: kept to the end */
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] >= 0) last[g->outputs[k]] = g->n_code;
    int total = 0;
    for (int s = 0; s < g->n_slots; s++)
        if (g->slots[s].kind == S_TEMP && !g->slots[s].buffer && last[s] >= 0 && last[s] < g->n_code) {
            count[last[s]]++;
            total++;
        }
    g->dead_at = malloc(((size_t)g->n_code + 1) * sizeof *g->dead_at);
    g->dead = malloc((size_t)(total ? total : 1) * sizeof *g->dead);
    if (!g->dead_at || !g->dead) {
        free(last);
        free(count);
        return pg__fail(PG_ERR_MEMORY, "compile: out of memory");
    }
    g->dead_at[0] = 0;
    for (int i = 0; i < g->n_code; i++) g->dead_at[i + 1] = g->dead_at[i] + count[i];
    for (int i = 0; i < g->n_code; i++) count[i] = g->dead_at[i];
    for (int s = 0; s < g->n_slots; s++)
        if (g->slots[s].kind == S_TEMP && !g->slots[s].buffer && last[s] >= 0 && last[s] < g->n_code)
            g->dead[count[last[s]]++] = s;
    free(last);
    free(count);
    return PG_OK;
}

/* ---- fused elementwise runs ----
 *
 * pg__lower, after pg__plan: consecutive instructions that are elementwise over
 * the same number of elements and float dtype (an op whose row gives pg_fuse
 * rows, the accumulations, a seed, a leaf's .grad accumulation whose state is
 * known) form a group, run as micro-ops (one row call each) block by block:
 * every micro-op on a block of PG_FUSE_BLOCK bytes of each operand before the
 * next block. A value that only fused instructions touch lives in the
 * program's arena (planned once by liveness, reused exactly: a freed region
 * only takes a value of its own size, so values of one group never overlap
 * at different offsets), or, when its whole life is inside one group of more
 * than one block, in a block-sized scratch region per thread; no tensor is
 * made for it. The others are tensors as in the generic replay. The rows are
 * the ones the eager kernels run, so a fused run gives the same bits. */

#define PG_FUSE_BLOCK 8192 /* bytes of one operand per block */

enum { L_TENSOR, L_ARENA, L_SCRATCH };
enum { F_NO, F_YES, F_LEAF_NEW, F_LEAF_INTO };

static int64_t pg__meta_numel(const pg_meta *m) { return pg__numel(m->ndim, m->shape); }

/* a slot a fused instruction may read: not a .grad (its tensor may change inside a group) */
static bool pg__fuse_reads(const pg_program *g, int s, pg_dtype dt, int64_t n) {
    const pg_slot *x = &g->slots[s];
    return x->kind != S_GRADOF && x->meta.dtype == dt && pg__meta_numel(&x->meta) == n;
}

/* o = a (element size from ctx: 4 or 8); the copy of a leaf's first gradient */
static void pg__row_copy(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {
    (void)st;
    memcpy(ptr[0], ptr[1], (size_t)n * (size_t)(*(const int *)ctx));
}
static void pg__row_fill_f32(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {
    (void)st;
    float v = (float)*(const double *)ctx, *o = (float *)ptr[0];
    for (int64_t i = 0; i < n; i++) o[i] = v;
}
static void pg__row_fill_f64(char *const *ptr, const int64_t *st, int64_t n, void *ctx) {
    (void)st;
    double v = *(const double *)ctx, *o = (double *)ptr[0];
    for (int64_t i = 0; i < n; i++) o[i] = v;
}
static const int pg__esize4 = 4, pg__esize8 = 8;
/* the same on values of one element (pg_fuse_one) */
static void pg__one_copy_f32(char *w, const int32_t *o, int64_t n, const void *ctx) {
    (void)ctx;
    for (int64_t j = 0; j < n; j++, o += 4) *(float *)(w + o[0]) = *(const float *)(w + o[1]);
}
static void pg__one_copy_f64(char *w, const int32_t *o, int64_t n, const void *ctx) {
    (void)ctx;
    for (int64_t j = 0; j < n; j++, o += 4) *(double *)(w + o[0]) = *(const double *)(w + o[1]);
}
static void pg__one_fill_f32(char *w, const int32_t *o, int64_t n, const void *ctx) {
    for (int64_t j = 0; j < n; j++, o += 4) *(float *)(w + o[0]) = (float)*(const double *)ctx;
}
static void pg__one_fill_f64(char *w, const int32_t *o, int64_t n, const void *ctx) {
    for (int64_t j = 0; j < n; j++, o += 4) *(double *)(w + o[0]) = *(const double *)ctx;
}

/* whether instruction I can run fused, and over how many elements of which dtype;
 * leaf[s] is the state of leaf slot s's .grad at I (0 unknown, 1 None, 2 exists) */
static int pg__fusable(const pg_program *g, const pg_instr *I, const int8_t *leaf, int64_t *numel, pg_dtype *dt) {
    const pg_opdef *d = I->kind == I_FWD || I->kind == I_BWD ? pg_optable[I->op] : NULL;
    const pg_meta *m;
    switch (I->kind) {
    case I_FWD:
        if (!d->fuse || I->offsets_slot >= 0 || I->offsets || I->n_in > 4) return F_NO;
        m = &g->slots[I->out].meta;
        if (!pg__is_float(m->dtype) || !d->fuse->fwd[m->dtype == PG_DTYPE_F64]) return F_NO;
        *numel = pg__meta_numel(m);
        *dt = m->dtype;
        for (int k = 0; k < I->n_in; k++)
            if (!pg__fuse_reads(g, I->in[k], *dt, *numel)) return F_NO;
        return F_YES;
    case I_BWD: {
        if (!d->fuse || I->n_in > 2) return F_NO;
        m = &g->slots[I->gout].meta;
        if (!pg__is_float(m->dtype)) return F_NO;
        *numel = pg__meta_numel(m);
        *dt = m->dtype;
        if (!pg__fuse_reads(g, I->gout, *dt, *numel)) return F_NO;
        int any = 0;
        for (int k = 0; k < I->n_in; k++) {
            if (I->in[k] < 0) continue;
            const pg_meta *x = &g->slots[I->in[k]].meta;
            if (!d->fuse->bwd[k][*dt == PG_DTYPE_F64] || x->dtype != *dt || pg__meta_numel(x) != *numel) return F_NO;
            any = 1;
        }
        for (int k = 0; k < PG_MAX_SAVED; k++)
            if (I->saved[k] >= 0 && (I->node->saved_from[k] > 1 || !pg__fuse_reads(g, I->saved[k], *dt, *numel)))
                return F_NO;
        return any ? F_YES : F_NO;
    }
    case I_ACC_INTO:
    case I_ACC_NEW:
        m = &g->slots[I->a].meta;
        if (!pg__is_float(m->dtype) || g->slots[I->a].kind != S_TEMP) return F_NO;
        *numel = pg__meta_numel(m);
        *dt = m->dtype;
        if (!pg__fuse_reads(g, I->b, *dt, *numel) || !pg__fuse_reads(g, I->a, *dt, *numel)) return F_NO;
        if (I->kind == I_ACC_NEW && (g->slots[I->out].meta.dtype != *dt || pg__meta_numel(&g->slots[I->out].meta) != *numel))
            return F_NO;
        return F_YES;
    case I_FULL:
        m = &g->slots[I->out].meta;
        if (!pg__is_float(m->dtype)) return F_NO;
        *numel = pg__meta_numel(m);
        *dt = m->dtype;
        return F_YES;
    case I_ACC_LEAF:
        m = &g->slots[I->a].meta;
        if (I->keep >= 0 || !pg__is_float(m->dtype) || !leaf[I->a]) return F_NO;
        *numel = pg__meta_numel(m);
        *dt = m->dtype;
        if (!pg__fuse_reads(g, I->b, *dt, *numel)) return F_NO;
        return leaf[I->a] == 1 ? F_LEAF_NEW : F_LEAF_INTO;
    default: return F_NO;
    }
}


static int pg__ivec_push(pg_ivec *a, int x) {
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 64;
        int *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return 0;
}

/* free regions of the arena by size: exact reuse only. A value of 64 bytes or
 * more takes whole 64-byte lines, 64-aligned; a smaller one (a scalar program's
 * values) takes 8-byte words, so that such values pack into few lines */
typedef struct pg_sizefree {
    int64_t bytes;
    pg_ivec off; /* offsets / 8 */
} pg_sizefree;

static int64_t pg__arena_size(int64_t numel, int64_t esize) {
    int64_t b = numel * esize;
    return b < 64 ? (b + 7) / 8 * 8 : (b + 63) / 64 * 64;
}

static int pg__freelist_take(pg_sizefree **fl, int *nfl, int64_t bytes, int64_t *top) {
    for (int k = 0; k < *nfl; k++)
        if ((*fl)[k].bytes == bytes && (*fl)[k].off.n) return (*fl)[k].off.v[--(*fl)[k].off.n];
    if (bytes >= 64) *top = (*top + 63) / 64 * 64;
    int64_t at = *top / 8;
    *top += bytes;
    return at > INT32_MAX ? -1 : (int)at;
}

static int pg__freelist_give(pg_sizefree **fl, int *nfl, int64_t bytes, int at) {
    for (int k = 0; k < *nfl; k++)
        if ((*fl)[k].bytes == bytes) return pg__ivec_push(&(*fl)[k].off, at);
    pg_sizefree *v = realloc(*fl, (size_t)(*nfl + 1) * sizeof *v);
    if (!v) return -1;
    *fl = v;
    memset(&v[*nfl], 0, sizeof v[*nfl]);
    v[*nfl].bytes = bytes;
    (*nfl)++;
    return pg__ivec_push(&v[*nfl - 1].off, at);
}

static int pg__uops_push(pg_program *g, const pg_uop *u) {
    if (g->n_uops == g->cap_uops) {
        int cap = g->cap_uops ? 2 * g->cap_uops : 256;
        pg_uop *v = realloc(g->uops, (size_t)cap * sizeof *v);
        if (!v) return -1;
        g->uops = v;
        g->cap_uops = cap;
    }
    g->uops[g->n_uops++] = *u;
    return 0;
}

/* the micro-ops of fused instruction I (kind f) into g->uops */
static int pg__emit_uops(pg_program *g, pg_instr *I, int f, pg_dtype dt) {
    int f64 = dt == PG_DTYPE_F64;
    const pg_fuse *add = pg_optable[PG_OP_ADD]->fuse;
    pg_uop u;
    /* the row FN on operands R0..R4; its one-element form ONE on O0..O3 */
#define PG_UOP(FN, CTX, R0, R1, R2, R3, R4, ONE, O0, O1, O2, O3)                                    \
    do {                                                                                               \
        u.fn = (FN);                                                                                   \
        u.ctx = (void *)(CTX);                                                                         \
        u.ctx_bytes = I->kind == I_FWD || I->kind == I_BWD ? (int)sizeof(pg_params)                    \
                      : I->kind == I_FULL ? (int)sizeof(double) : 0;                                   \
        u.ref[0] = (R0), u.ref[1] = (R1), u.ref[2] = (R2), u.ref[3] = (R3), u.ref[4] = (R4);           \
        u.one = (ONE);                                                                                 \
        u.oref[0] = (O0), u.oref[1] = (O1), u.oref[2] = (O2), u.oref[3] = (O3);                        \
        if (pg__uops_push(g, &u) < 0) return -1;                                                      \
    } while (0)
    switch (I->kind) {
    case I_FWD: {
        int r[4] = {-1, -1, -1, -1};
        for (int k = 0; k < I->n_in; k++) r[k] = I->in[k];
        const pg_fuse *fu = pg_optable[I->op]->fuse;
        PG_UOP(fu->fwd[f64], I->p, I->out, r[0], r[1], r[2], r[3], I->n_in <= 3 ? fu->fwd1[f64] : NULL, I->out,
               r[0], r[1], r[2]);
        return 0;
    }
    case I_BWD: {
        int sv[3] = {I->gout, I->gout, I->gout}; /* in0, in1, out; g where not saved */
        for (int k = 0; k < PG_MAX_SAVED; k++)
            if (I->saved[k] >= 0) sv[I->node->saved_from[k] < 0 ? 2 : I->node->saved_from[k]] = I->saved[k];
        const pg_fuse *fu = pg_optable[I->op]->fuse;
        for (int k = 0; k < I->n_in; k++) /* one element: {dx, g, x, y} (one input), {dx, g, a, b} (two) */
            if (I->in[k] >= 0)
                PG_UOP(fu->bwd[k][f64], &I->node->p, I->in[k], I->gout, sv[0], sv[1], sv[2],
                       I->n_in <= 2 ? fu->bwd1[k][f64] : NULL, I->in[k], I->gout, sv[0], sv[I->n_in == 1 ? 2 : 1]);
        return 0;
    }
    case I_ACC_INTO: PG_UOP(add->fwd[f64], NULL, I->a, I->a, I->b, -1, -1, add->fwd1[f64], I->a, I->a, I->b, -1); return 0;
    case I_ACC_NEW:
        PG_UOP(add->fwd[f64], NULL, I->out, I->a, I->b, -1, -1, add->fwd1[f64], I->out, I->a, I->b, -1);
        return 0;
    case I_FULL:
        PG_UOP(f64 ? pg__row_fill_f64 : pg__row_fill_f32, &I->value, I->out, -1, -1, -1, -1,
               f64 ? pg__one_fill_f64 : pg__one_fill_f32, I->out, -1, -1, -1);
        return 0;
    default: {
        int q = g->slots[I->a].gradof;
        if (f == F_LEAF_NEW)
            PG_UOP(pg__row_copy, f64 ? &pg__esize8 : &pg__esize4, q, I->b, -1, -1, -1,
                   f64 ? pg__one_copy_f64 : pg__one_copy_f32, q, I->b, -1, -1);
        else PG_UOP(add->fwd[f64], NULL, q, q, I->b, -1, -1, add->fwd1[f64], q, q, I->b, -1);
        return 0;
    }
    }
#undef PG_UOP
}

/* the slots I touches, with the .grad slot a fused leaf accumulation writes */
static int pg__fused_slots_of(const pg_program *g, const pg_instr *I, int f, int *v, int cap) {
    int n = pg__slots_of(I, v, cap);
    if ((f == F_LEAF_NEW || f == F_LEAF_INTO) && n < cap) v[n++] = g->slots[I->a].gradof;
    return n;
}

/* Groups of one element (a program written scalar by scalar): their micro-ops run
 * on words of the arena, in batches. A micro-op's level is one more than the
 * levels of the micro-ops it must follow: the writers of the values it reads, the
 * previous writer of the value it writes and the readers of that value's previous
 * contents. Micro-ops of one level are independent; ordered by level, then by
 * what they run (their function and parameters), each run of one kind is one call
 * of the function over its values, so a call is made per kind and level rather
 * than per value. The arena is then planned in that order. */
typedef struct pg_sched {
    int level, key, u;
} pg_sched;

/* the function and the first 32 bytes of the parameters (the op and its scalars;
 * pg__uop_same compares them all) */
static uint64_t pg__uop_hash(const pg_uop *U) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)U->one;
    const unsigned char *c = U->ctx;
    int k = 0, n = U->ctx_bytes < 32 ? U->ctx_bytes : 32;
    for (; k + 8 <= n; k += 8) {
        uint64_t w;
        memcpy(&w, c + k, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    for (; k < n; k++) h = (h ^ c[k]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static bool pg__uop_same(const pg_uop *a, const pg_uop *b) {
    return a->one == b->one && a->ctx_bytes == b->ctx_bytes &&
           (!a->ctx_bytes || a->ctx == b->ctx || !memcmp(a->ctx, b->ctx, (size_t)a->ctx_bytes));
}

/* the group's micro-ops [u0, u1) in their order (sc, u1 - u0 of them); lw, mr, st:
 * scratch of the program's slot count, st set to -1 before the first group */
static int pg__schedule(const pg_program *g, int q, int u0, int u1, pg_sched *sc, int *lw, int *mr, int *st) {
    int n = u1 - u0, cap = 16, nk = 0, top = 0;
    while (cap < 2 * n) cap *= 2;
    int *tab = malloc((size_t)cap * sizeof *tab), *kid = malloc((size_t)cap * sizeof *kid); /* a kind's micro-op, id */
    pg_sched *tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
    int *cnt = NULL;
    if (!tab || !kid || !tmp) goto fail;
    for (int k = 0; k < cap; k++) tab[k] = -1;
    for (int u = u0; u < u1; u++) {
        const pg_uop *U = &g->uops[u];
        int level = 0, o = U->oref[0];
        for (int k = 0; k < 4; k++) {
            int x = U->oref[k];
            if (x >= 0 && st[x] != q) st[x] = q, lw[x] = mr[x] = -1;
        }
        for (int k = 1; k < 4; k++)
            if (U->oref[k] >= 0 && lw[U->oref[k]] + 1 > level) level = lw[U->oref[k]] + 1;
        if (lw[o] + 1 > level) level = lw[o] + 1;
        if (mr[o] + 1 > level) level = mr[o] + 1;
        for (int k = 1; k < 4; k++)
            if (U->oref[k] >= 0 && U->oref[k] != o && mr[U->oref[k]] < level) mr[U->oref[k]] = level;
        lw[o] = level;
        mr[o] = -1;
        size_t h = (size_t)pg__uop_hash(U) & (size_t)(cap - 1);
        while (tab[h] >= 0 && !pg__uop_same(&g->uops[tab[h]], U)) h = (h + 1) & (size_t)(cap - 1);
        if (tab[h] < 0) tab[h] = u, kid[h] = nk++;
        tmp[u - u0] = (pg_sched){level, kid[h], u};
        if (level >= top) top = level + 1;
    }
    /* by level, then kind, then position: a counting sort by kind, then a stable one by level */
    cnt = calloc((size_t)(nk > top ? nk : top) + 1, sizeof *cnt);
    if (!cnt) goto fail;
    for (int j = 0; j < n; j++) cnt[tmp[j].key + 1]++;
    for (int k = 0; k < nk; k++) cnt[k + 1] += cnt[k];
    for (int j = 0; j < n; j++) sc[cnt[tmp[j].key]++] = tmp[j];
    memset(cnt, 0, ((size_t)(nk > top ? nk : top) + 1) * sizeof *cnt);
    for (int j = 0; j < n; j++) cnt[sc[j].level + 1]++;
    for (int k = 0; k < top; k++) cnt[k + 1] += cnt[k];
    for (int j = 0; j < n; j++) tmp[cnt[sc[j].level]++] = sc[j];
    memcpy(sc, tmp, (size_t)n * sizeof *sc);
    free(cnt);
    free(tab);
    free(kid);
    free(tmp);
    return 0;
fail:
    free(cnt);
    free(tab);
    free(kid);
    free(tmp);
    return -1;
}

/* pushes s onto list L of group G unless stamp says it is there *//* pushes s onto list L of group G unless stamp says it is there */
static int pg__glist_add(pg_ivec *L, int *stamp, int s, int mark) {
    if (stamp[s] == mark) return 0;
    stamp[s] = mark;
    return pg__ivec_push(L, s);
}

/* Groups the fusable runs of the code and plans their values (see above).
 * PYGRAD_COMPILE_FUSE=0 in the environment turns it off (every instruction
 * then runs through the generic replay). */
static pg_status pg__lower(pg_program *g) {
    const char *env = getenv("PYGRAD_COMPILE_FUSE");
    if ((env && env[0] == '0') || !g->n_code) return PG_OK;
    int nc = g->n_code;
    int8_t *fz = calloc((size_t)nc, 1), *leaf = calloc((size_t)g->n_slots + 1, 1);
    int64_t *fn = malloc((size_t)nc * sizeof *fn);
    pg_dtype *fdt = malloc((size_t)nc * sizeof *fdt);
    int *gid = malloc((size_t)nc * sizeof *gid);
    int *first = NULL, *last = NULL, *stamp = NULL, *at = NULL, *cnt = NULL, *dies = NULL;
    int *stamp2 = NULL, *stamp3 = NULL, *stamp4 = NULL, *at4 = NULL, *rd = NULL, *wr = NULL;
    int *lastp = NULL, *pst = NULL;
    bool *ok = NULL, *one = NULL, *shadow = NULL;
    pg_sched *sc = NULL;
    pg_sizefree *fl = NULL;
    int nfl = 0;
    pg_ivec L[8] = {{0}}, sfree = {0};
    pg_status st = PG_ERR_MEMORY;
    if (!fz || !leaf || !fn || !fdt || !gid) goto done;
    /* which instructions fuse; the .grad state of each leaf as the code runs */
    for (int i = 0; i < nc; i++) {
        pg_instr *I = &g->code[i];
        gid[i] = -1;
        if (I->kind == I_SET_GRAD) {
            leaf[I->a] = I->b < 0 ? 1 : 2;
            continue;
        }
        fz[i] = (int8_t)pg__fusable(g, I, leaf, &fn[i], &fdt[i]);
        if (I->kind == I_ACC_LEAF) leaf[I->a] = 2;
    }
    /* a leaf's first gradient alone in its group would be a copy: the generic
     * replay adopts the gradient instead (no copy, no pass over it) */
    for (int i = 0; i < nc; i++) {
        if (fz[i] != F_LEAF_NEW) continue;
        bool prev = i > 0 && fz[i - 1] && fn[i - 1] == fn[i] && fdt[i - 1] == fdt[i];
        bool next = i + 1 < nc && fz[i + 1] && fn[i + 1] == fn[i] && fdt[i + 1] == fdt[i];
        if (!prev && !next) fz[i] = F_NO;
    }
    for (int i = 0; i < nc; i++) {
        pg_instr *I = &g->code[i];
        if ((fz[i] == F_LEAF_NEW || fz[i] == F_LEAF_INTO) && g->slots[I->a].gradof < 0) {
            int q = pg__new_slot(g, S_GRADOF, I->a, NULL);
            if (q < 0) goto done;
            g->slots[q].meta = g->slots[I->a].meta;
            g->slots[I->a].gradof = q;
        }
    }
    /* groups: runs of fused instructions over the same elements and dtype */
    for (int i = 0; i < nc; i++) {
        if (!fz[i]) continue;
        if (i > 0 && fz[i - 1] && fn[i - 1] == fn[i] && fdt[i - 1] == fdt[i]) {
            gid[i] = gid[i - 1];
            g->groups[gid[i]].end = i + 1;
            continue;
        }
        if (g->n_groups == g->cap_groups) {
            int cap = g->cap_groups ? 2 * g->cap_groups : 16;
            pg_group *v = realloc(g->groups, (size_t)cap * sizeof *v);
            if (!v) goto done;
            g->groups = v;
            g->cap_groups = cap;
        }
        pg_group *G = &g->groups[g->n_groups];
        memset(G, 0, sizeof *G);
        G->first = i;
        G->end = i + 1;
        G->numel = fn[i];
        G->f64 = fdt[i] == PG_DTYPE_F64;
        gid[i] = g->n_groups++;
    }
    if (!g->n_groups) {
        st = PG_OK;
        goto done;
    }
    int64_t nu = 0; /* the micro-ops, counted first (one allocation) */
    for (int q = 0; q < g->n_groups; q++)
        for (int i = g->groups[q].first; i < g->groups[q].end; i++) {
            const pg_instr *I = &g->code[i];
            if (I->kind != I_BWD) nu++;
            else
                for (int k = 0; k < I->n_in; k++) nu += I->in[k] >= 0;
        }
    if (nu > INT32_MAX / 4 || !(g->uops = malloc((size_t)(nu ? nu : 1) * sizeof *g->uops))) goto done;
    pg__advise_huge(g->uops, (size_t)(nu ? nu : 1) * sizeof *g->uops);
    g->cap_uops = (int)(nu ? nu : 1);
    for (int q = 0; q < g->n_groups; q++) { /* the micro-ops */
        pg_group *G = &g->groups[q];
        G->u0 = g->n_uops;
        for (int i = G->first; i < G->end; i++)
            if (pg__emit_uops(g, &g->code[i], fz[i], fdt[i]) < 0) goto done;
        G->u1 = g->n_uops;
    }
    /* where each value lives */
    int ns = g->n_slots;
    first = malloc((size_t)ns * sizeof *first);
    last = malloc((size_t)ns * sizeof *last);
    stamp = malloc((size_t)ns * sizeof *stamp);
    g->loc = malloc((size_t)ns);
    g->off = calloc((size_t)ns, sizeof *g->off);
    g->base = calloc((size_t)ns, sizeof *g->base);
    g->group_at = malloc((size_t)nc * sizeof *g->group_at);
    if (!first || !last || !stamp || !g->loc || !g->off || !g->base || !g->group_at) goto done;
    if (!(ok = calloc((size_t)ns, sizeof *ok))) goto done;
    for (int s = 0; s < ns; s++) {
        const pg_slot *x = &g->slots[s];
        first[s] = last[s] = -1;
        ok[s] = x->kind == S_TEMP && !x->buffer && pg__is_float(x->meta.dtype);
    }
    for (int i = 0; i < nc; i++) {
        int v[64], n = pg__fused_slots_of(g, &g->code[i], fz[i], v, 64);
        for (int k = 0; k < n; k++) {
            if (first[v[k]] < 0) first[v[k]] = i;
            last[v[k]] = i;
            if (!fz[i]) ok[v[k]] = false;
        }
        if (g->code[i].kind == I_BWD && g->code[g->code[i].fwd].offsets_slot >= 0)
            ok[g->code[g->code[i].fwd].offsets_slot] = false;
        for (int k = 0; k < g->code[i].n_in; k++) /* past v's 64 */
            if (!fz[i] && g->code[i].in[k] >= 0) ok[g->code[i].in[k]] = false;
    }
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] >= 0) ok[g->outputs[k]] = false;
    for (int s = 0; s < ns; s++) {
        g->loc[s] = L_TENSOR;
        if (!ok[s]) continue;
        if (first[s] < 0) continue;
        const pg_group *G = &g->groups[gid[first[s]]];
        int64_t es = G->f64 ? 8 : 4;
        g->loc[s] = gid[first[s]] == gid[last[s]] && G->numel * es > PG_FUSE_BLOCK ? L_SCRATCH : L_ARENA;
    }
    free(ok);
    ok = NULL;
    /* arena offsets and scratch indices, by liveness: a value takes its region
     * before the values its instruction last reads give theirs back */
    at = malloc(((size_t)nc + 1) * sizeof *at);
    cnt = calloc((size_t)nc + 1, sizeof *cnt);
    if (!at || !cnt) goto done;
    for (int s = 0; s < ns; s++)
        if (g->loc[s] != L_TENSOR) cnt[last[s]]++;
    at[0] = 0;
    for (int i = 0; i < nc; i++) at[i + 1] = at[i] + cnt[i];
    dies = malloc((size_t)(at[nc] ? at[nc] : 1) * sizeof *dies);
    if (!dies) goto done;
    for (int i = 0; i < nc; i++) cnt[i] = at[i];
    for (int s = 0; s < ns; s++)
        if (g->loc[s] != L_TENSOR) dies[cnt[last[s]]++] = s;
    /* the groups of one element and the order of their micro-ops */
    one = calloc((size_t)g->n_groups, sizeof *one);
    shadow = calloc((size_t)ns, sizeof *shadow);
    sc = malloc((size_t)(g->n_uops ? g->n_uops : 1) * sizeof *sc);
    lastp = malloc((size_t)ns * sizeof *lastp);
    pst = malloc((size_t)ns * sizeof *pst);
    rd = malloc((size_t)ns * sizeof *rd);
    wr = malloc((size_t)ns * sizeof *wr);
    if (!one || !shadow || !sc || !lastp || !pst || !rd || !wr) goto done;
    for (int s = 0; s < ns; s++) pst[s] = rd[s] = wr[s] = -1;
    for (int q = 0; q < g->n_groups; q++) {
        pg_group *G = &g->groups[q];
        one[q] = G->numel == 1;
        for (int u = G->u0; u < G->u1 && one[q]; u++) one[q] = g->uops[u].one != NULL;
        if (one[q] && pg__schedule(g, q, G->u0, G->u1, sc + G->u0, lastp, rd, pst) < 0) goto done;
    }
    /* a group of one element's micro-ops, moved into the order they run: the passes
     * below read them in sequence rather than all over the list */
    for (int q = 0; q < g->n_groups; q++) {
        pg_group *G = &g->groups[q];
        int n = G->u1 - G->u0;
        if (!one[q] || n < 2) continue;
        /* in place, cycle by cycle (sc[].u = -1 once its position holds its micro-op) */
        pg_uop *u = g->uops;
        for (int p = G->u0; p < G->u1; p++) {
            if (sc[p].u < 0 || sc[p].u == p) continue;
            pg_uop tmp = u[p];
            int j = p;
            while (sc[j].u != p) {
                int k = sc[j].u;
                u[j] = u[k];
                sc[j].u = -1;
                j = k;
            }
            u[j] = tmp;
            sc[j].u = -1;
        }
        for (int p = 0; p < n; p++) sc[G->u0 + p].u = G->u0 + p;
    }
    if (!(g->sorder = malloc((size_t)(g->n_uops ? g->n_uops : 1) * sizeof *g->sorder))) goto done;
    for (int q = 0; q < g->n_groups; q++)
        for (int u = g->groups[q].u0; u < g->groups[q].u1; u++)
            g->sorder[u] = one[q] ? sc[u].u : u;
    for (int s = 0; s < ns; s++) pst[s] = rd[s] = -1;
    int64_t top = 0;
    for (int i = 0; i < nc; i++) {
        if (gid[i] >= 0 && (i == 0 || gid[i - 1] != gid[i])) sfree.n = 0; /* a group's scratch starts empty */
        pg_group *G = gid[i] >= 0 ? &g->groups[gid[i]] : NULL;
        if (G && one[gid[i]]) { /* in the order its micro-ops run */
            if (i != G->first) continue;
            int q = gid[i], np = G->u1 - G->u0;
            for (int p = 0; p < np; p++)
                for (int k = 0; k < 4; k++) {
                    int x = g->uops[sc[G->u0 + p].u].oref[k];
                    if (x >= 0 && g->loc[x] == L_ARENA) lastp[x] = p, pst[x] = q;
                }
            for (int j = at[G->first]; j < at[G->end]; j++) { /* dead here, read by no micro-op of it */
                int x = dies[j];
                if (pst[x] == q || first[x] >= 0) continue;
                int64_t bytes = pg__arena_size(1, G->f64 ? 8 : 4); /* a fused value: the group's dtype */
                if (pg__freelist_give(&fl, &nfl, bytes, (int)(g->off[x] / 8)) < 0) goto done;
            }
            for (int p = 0; p < np; p++) {
                const pg_uop *U = &g->uops[sc[G->u0 + p].u];
                for (int k = 0; k < 4; k++) {
                    int x = U->oref[k];
                    if (x < 0 || g->loc[x] != L_ARENA || first[x] < 0) continue;
                    first[x] = -2 - i; /* placed */
                    int o = pg__freelist_take(&fl, &nfl, pg__arena_size(1, G->f64 ? 8 : 4), &top);
                    if (o < 0) goto done;
                    g->off[x] = (int64_t)o * 8;
                }
                for (int k = 0; k < 4; k++) {
                    int x = U->oref[k];
                    if (x < 0 || g->loc[x] != L_ARENA || pst[x] != q || lastp[x] != p || last[x] >= G->end) continue;
                    lastp[x] = -1; /* given back once */
                    if (pg__freelist_give(&fl, &nfl, pg__arena_size(1, G->f64 ? 8 : 4), (int)(g->off[x] / 8)) < 0)
                        goto done;
                }
            }
            continue;
        }
        int v[64], n = pg__fused_slots_of(g, &g->code[i], fz[i], v, 64);
        for (int k = 0; k < n; k++) {
            int s = v[k];
            if (first[s] != i || g->loc[s] == L_TENSOR) continue;
            first[s] = -2 - i; /* placed */
            int64_t bytes = pg__arena_size(pg__meta_numel(&g->slots[s].meta), G->f64 ? 8 : 4);
            if (g->loc[s] == L_SCRATCH) {
                g->off[s] = sfree.n ? sfree.v[--sfree.n] : G->n_scratch++;
            } else {
                int o = pg__freelist_take(&fl, &nfl, bytes, &top);
                if (o < 0) goto done;
                g->off[s] = (int64_t)o * 8;
            }
        }
        for (int k = at[i]; k < at[i + 1]; k++) {
            int s = dies[k];
            if (g->loc[s] == L_SCRATCH) {
                if (pg__ivec_push(&sfree, (int)g->off[s]) < 0) goto done;
            } else {
                int64_t bytes = pg__arena_size(pg__meta_numel(&g->slots[s].meta), pg__dtype_size(g->slots[s].meta.dtype));
                if (pg__freelist_give(&fl, &nfl, bytes, (int)(g->off[s] / 8)) < 0) goto done;
            }
        }
    }
    /* groups of one element run on words of the arena: the tensors and .grads they
     * use get a word each, which the group reads them into and writes them back from */
    for (int q = 0; q < g->n_groups; q++)
        for (int u = g->groups[q].u0; u < g->groups[q].u1 && one[q]; u++)
            for (int k = 0; k < 4; k++) {
                int x = g->uops[u].oref[k];
                if (x >= 0 && g->loc[x] == L_TENSOR && !shadow[x]) {
                    shadow[x] = true;
                    g->off[x] = top;
                    top += 8;
                }
            }
    if (top > INT32_MAX) /* offsets out of an int32_t: the rows */
        for (int q = 0; q < g->n_groups; q++) one[q] = false;
    int64_t n_one = 0; /* the batches' operands: one allocation */
    for (int q = 0; q < g->n_groups; q++) n_one += one[q] ? g->groups[q].u1 - g->groups[q].u0 : 0;
    if (n_one && !(g->bops = malloc((size_t)n_one * 4 * sizeof *g->bops))) goto done;
    pg__advise_huge(g->bops, (size_t)n_one * 4 * sizeof *g->bops);
    g->cap_bops = 4 * n_one;
    top = (top + 63) / 64 * 64;
    g->arena_bytes = top;
    if (top && !(g->arena = aligned_alloc(64, (size_t)top))) goto done;
    for (int s = 0; s < ns; s++)
        if (g->loc[s] == L_ARENA) g->base[s] = g->arena + g->off[s];
    /* micro-ops and the lists of tensors each group prepares */
    stamp2 = malloc((size_t)ns * sizeof *stamp2);
    stamp3 = malloc((size_t)ns * sizeof *stamp3);
    stamp4 = malloc((size_t)ns * sizeof *stamp4);
    at4 = malloc((size_t)ns * sizeof *at4);
    if (!stamp2 || !stamp3 || !stamp4 || !at4) goto done;
    for (int s = 0; s < ns; s++) stamp[s] = stamp2[s] = stamp3[s] = stamp4[s] = -1;
    for (int q = 0; q < g->n_groups; q++) {
        pg_group *G = &g->groups[q];
        for (int k = 0; k < 8; k++) L[k].n = 0;
        for (int i = G->first; i < G->end; i++) {
            pg_instr *I = &g->code[i];
            int v[64], n = pg__fused_slots_of(g, I, fz[i], v, 64);
            for (int k = 0; k < n; k++)
                if (g->loc[v[k]] == L_TENSOR && g->slots[v[k]].kind != S_GRADOF && pg__glist_add(&L[0], stamp, v[k], q) < 0)
                    goto done;
            /* tensors it defines, adds into, .grads it creates or adds into */
            int d[3] = {I->out, -1, -1};
            if (I->kind == I_BWD) d[0] = I->in[0], d[1] = I->n_in > 1 ? I->in[1] : -1;
            if (I->kind == I_ACC_INTO) d[0] = -1;
            for (int k = 0; k < 2; k++)
                if (d[k] >= 0 && g->loc[d[k]] == L_TENSOR && pg__ivec_push(&L[1], d[k]) < 0) goto done;
            /* stamp2/3/4 mark a slot listed in L[2], L[3], L[4] for group q; at4 is where in L[4] */
            if (I->kind == I_ACC_INTO && g->loc[I->a] == L_TENSOR && first[I->a] < G->first && stamp2[I->a] != q) {
                stamp2[I->a] = q;
                if (pg__ivec_push(&L[2], I->a) < 0) goto done;
            }
            if (fz[i] == F_LEAF_NEW) {
                stamp3[I->a] = q;
                if (pg__ivec_push(&L[3], I->a) < 0) goto done;
            }
            if (fz[i] == F_LEAF_INTO) {
                if (stamp4[I->a] == q) {
                    L[4].v[at4[I->a] + 1]++;
                } else {
                    stamp4[I->a] = q;
                    at4[I->a] = L[4].n;
                    if (pg__ivec_push(&L[4], I->a) < 0 || pg__ivec_push(&L[4], 1) < 0 ||
                        pg__ivec_push(&L[4], stamp3[I->a] != q) < 0)
                        goto done;
                }
            }
        }
        G->b0 = G->b1 = g->n_batches;
        for (int p = 0; p < G->u1 - G->u0 && one[q]; p++) { /* its batches */
            const pg_sched *c = &sc[G->u0 + p];
            const pg_uop *U = &g->uops[c->u];
            if (!p || c->level != c[-1].level || c->key != c[-1].key) {
                if (g->n_batches == g->cap_batches) {
                    int cap = g->cap_batches ? 2 * g->cap_batches : 64;
                    pg_batch *v = realloc(g->batches, (size_t)cap * sizeof *v);
                    if (!v) goto done;
                    g->batches = v;
                    g->cap_batches = cap;
                }
                g->batches[g->n_batches++] = (pg_batch){U->one, U->ctx, 0, g->n_bops};
            }
            if (g->n_bops + 4 > g->cap_bops) {
                int64_t cap = g->cap_bops ? 2 * g->cap_bops : 1024;
                int32_t *v = realloc(g->bops, (size_t)cap * sizeof *v);
                if (!v) goto done;
                g->bops = v;
                g->cap_bops = cap;
            }
            for (int k = 0; k < 4; k++) g->bops[g->n_bops++] = (int32_t)g->off[U->oref[k] >= 0 ? U->oref[k] : U->oref[0]];
            g->batches[g->n_batches - 1].n++;
            G->b1 = g->n_batches;
        }
        for (int u = G->u0; u < G->u1 && one[q]; u++) { /* rd: read before written, wr: written */
            const pg_uop *U = &g->uops[u];
            for (int k = 1; k < 4; k++) {
                int s = U->oref[k];
                if (s >= 0 && g->loc[s] == L_TENSOR && wr[s] != q && rd[s] != q) {
                    rd[s] = q;
                    if (pg__ivec_push(&L[6], s) < 0) goto done;
                }
            }
            int s = U->oref[0];
            if (g->loc[s] == L_TENSOR && wr[s] != q) {
                wr[s] = q;
                if (pg__ivec_push(&L[7], s) < 0) goto done;
            }
        }
        /* the .grad slots read: resolved after the new ones are made */
        for (int k = 0; k < L[3].n; k++)
            if (pg__ivec_push(&L[5], g->slots[L[3].v[k]].gradof) < 0) goto done;
        for (int k = 0; k < L[4].n; k += 3)
            if (pg__ivec_push(&L[5], g->slots[L[4].v[k]].gradof) < 0) goto done;
        for (int k = 0; k < 8; k++) {
            G->list[k] = g->glist.n;
            for (int j = 0; j < L[k].n; j++)
                if (pg__ivec_push(&g->glist, L[k].v[j]) < 0) goto done;
            G->list_end[k] = g->glist.n;
        }
        L[5].n = 0;
        for (int i = G->first; i < G->end; i++) g->group_at[i] = -1;
        g->group_at[G->first] = q;
        g->n_fused += G->end - G->first;
    }
    for (int i = 0; i < nc; i++)
        if (gid[i] < 0) g->group_at[i] = -1;
    /* planned values are never tensors: the lists of values to drop keep only tensors */
    int w = 0;
    for (int i = 0; i < nc; i++) {
        int lo = g->dead_at[i], hi = g->dead_at[i + 1];
        g->dead_at[i] = w;
        for (int k = lo; k < hi; k++)
            if (g->loc[g->dead[k]] == L_TENSOR) g->dead[w++] = g->dead[k];
    }
    g->dead_at[nc] = w;
    st = PG_OK;
done:
    free(dies);
    free(ok);
    free(one);
    free(shadow);
    free(sc);
    free(lastp);
    free(pst);
    free(fz);
    free(leaf);
    free(fn);
    free(fdt);
    free(gid);
    free(first);
    free(last);
    free(stamp);
    free(stamp2);
    free(stamp3);
    free(rd);
    free(wr);
    free(stamp4);
    free(at4);
    free(at);
    free(cnt);
    for (int k = 0; k < nfl; k++) free(fl[k].off.v);
    free(fl);
    for (int k = 0; k < 8; k++) free(L[k].v);
    free(sfree.v);
    if (st != PG_OK) return pg__fail(PG_ERR_MEMORY, "compile: out of memory");
    return PG_OK;
}

/* the slots a run's end looks at: inputs, and the tensor values no instruction
 * drops (forward buffers, outputs, values never read) */
static pg_status pg__rest(pg_program *g) {
    for (int i = 0; i < g->n_code; i++) { /* the random ops, whose seeds each run sets */
        const pg_instr *I = &g->code[i];
        if (I->kind == I_FWD && pg__random_op(I) && pg__ivec_push(&g->seed_fwd, i) < 0)
            return pg__fail(PG_ERR_MEMORY, "compile: out of memory");
        if (I->kind == I_BWD && pg__random_op(I))
            for (int k = 0; k < g->seed_fwd.n; k++)
                if (g->seed_fwd.v[k] == I->fwd && (pg__ivec_push(&g->seed_bwd, i) < 0 || pg__ivec_push(&g->seed_bwd, k) < 0))
                    return pg__fail(PG_ERR_MEMORY, "compile: out of memory");
    }
    bool *dropped = calloc((size_t)g->n_slots + 1, sizeof *dropped);
    if (!dropped) return pg__fail(PG_ERR_MEMORY, "compile: out of memory");
    for (int k = 0; k < g->dead_at[g->n_code]; k++) dropped[g->dead[k]] = true;
    pg_status st = PG_OK;
    for (int s = 0; s < g->n_slots && st == PG_OK; s++) {
        const pg_slot *x = &g->slots[s];
        bool tensor = !g->loc || g->loc[s] == L_TENSOR;
        if ((x->kind == S_INPUT || (x->kind == S_TEMP && tensor && !dropped[s])) && pg__ivec_push(&g->rest, s) < 0)
            st = pg__fail(PG_ERR_MEMORY, "compile: out of memory");
    }
    free(dropped);
    return st;
}

/* ---- GEMM epilogues ----
 *
 * pg__epilogues, after pg__lower: a 2-d matmul whose product only the next
 * instruction reads runs that instruction in its GEMM's epilogue, on each
 * tile of the product while it is in cache (gemm.c, pg__gemm_epi), instead of
 * in a pass of its own over memory:
 *   forward   y = x W; z = y + b [; h = relu(z)]   z (and h) written from the tile;
 *             y is never stored apart: the GEMM writes into z's buffer
 *   backward  dx, dW = matmul_backward(g); d = relu_backward(dx; saved z)
 *             d written over dx's tile (dx is not kept)
 * The epilogue does the ops' own arithmetic (add: y + b; relu: z > 0 ? z : 0;
 * its backward: z > 0 ? dx : 0) on the final sums, after every K block, so
 * the bits are those of the eager step. PYGRAD_COMPILE_EPILOGUE=0 in the
 * environment turns it off. */

enum { E_BIAS, E_BIAS_RELU, E_RELU_BWD };

static bool pg__touches(const pg_instr *I, int s);

/* the instructions (other than `except`) that name slot s, and the outputs that are s */
static int pg__readers(const pg_program *g, int s, int except) {
    int n = 0;
    for (int i = 0; i < g->n_code; i++)
        if (i != except && pg__touches(&g->code[i], s)) n++;
    for (int k = 0; k < g->n_outputs; k++)
        if (g->outputs[k] == s) n++;
    return n;
}

/* a computed value held as a tensor (not in the fused runs' arena or scratch) */
static bool pg__plain_temp(const pg_program *g, int s) {
    return s >= 0 && g->slots[s].kind == S_TEMP && !g->slots[s].buffer && (!g->loc || g->loc[s] == L_TENSOR);
}

/* instruction I names slot s (or names too many slots to tell) */
static bool pg__touches(const pg_instr *I, int s) {
    int v[64], n = pg__slots_of(I, v, 64);
    for (int k = 0; k < n; k++)
        if (v[k] == s) return true;
    return n >= 64;
}

/* instruction i is part of a fused group */
static bool pg__in_group(const pg_program *g, int i) {
    for (int q = 0; g->group_at && q < g->n_groups; q++)
        if (g->groups[q].first <= i && i < g->groups[q].end) return true;
    return false;
}

/* instruction i runs alone (not inside a fused group of more than itself) */
static bool pg__alone(const pg_program *g, int i) {
    if (!g->group_at) return true;
    for (int q = 0; q < g->n_groups; q++)
        if (g->groups[q].first <= i && i < g->groups[q].end) return g->groups[q].first == i && g->groups[q].end == i + 1;
    return true;
}

static bool pg__is_2d(const pg_meta *m, pg_dtype dt) { return m->ndim == 2 && m->dtype == dt; }

static pg_status pg__epilogues(pg_program *g) {
    const char *env = getenv("PYGRAD_COMPILE_EPILOGUE");
    if (env && env[0] == '0') return PG_OK;
    for (int i = 0; i + 1 < g->n_code; i++) {
        pg_instr *I = &g->code[i], *J = &g->code[i + 1];
        if (I->op != PG_OP_MATMUL || I->epi || J->epi) continue;
        if (I->kind == I_FWD && I->n_in == 2 && J->kind == I_FWD && J->op == PG_OP_ADD && J->n_in == 2 &&
            J->in[0] == I->out && J->in[1] != I->out && J->offsets_slot < 0 && !J->offsets) {
            const pg_meta *y = &g->slots[I->out].meta, *a = &g->slots[I->in[0]].meta, *w = &g->slots[I->in[1]].meta,
                          *b = &g->slots[J->in[1]].meta, *z = &g->slots[J->out].meta;
            pg_dtype dt = y->dtype;
            if (!pg__is_float(dt) || !pg__is_2d(y, dt) || !pg__is_2d(a, dt) || !pg__is_2d(w, dt) || b->ndim != 1 ||
                b->dtype != dt || b->shape[0] != y->shape[1] || !pg__is_2d(z, dt) ||
                !pg__same_dims(2, z->shape, y->shape) || !pg__plain_temp(g, I->out) || !pg__plain_temp(g, J->out) ||
                pg__readers(g, I->out, i) != 1 || !pg__alone(g, i + 1))
                continue;
            I->epi = 1;
            J->epi = -1;
            if (i + 2 < g->n_code) { /* and the ReLU after it */
                pg_instr *R = &g->code[i + 2];
                const pg_meta *h = R->out >= 0 ? &g->slots[R->out].meta : NULL;
                if (R->kind == I_FWD && R->op == PG_OP_RELU && R->n_in == 1 && R->in[0] == J->out && !R->epi &&
                    h && pg__is_2d(h, dt) && pg__same_dims(2, h->shape, y->shape) && pg__plain_temp(g, R->out) &&
                    R->out != J->out && pg__alone(g, i + 2)) {
                    I->epi = 2;
                    R->epi = -1;
                }
            }
            i += I->epi;
            continue;
        }
        /* the backward: dW's accumulation into the leaf and its update may sit between the two (they
         * run in their turn, after the GEMMs) */
        int j = i + 1;
        while (j < i + 4 && j + 1 < g->n_code && (J->kind == I_ACC_LEAF || J->kind == I_OPT) && !pg__in_group(g, j) &&
               !pg__touches(J, I->in[0]))
            J = &g->code[++j];
        if (I->kind == I_BWD && I->n_in == 2 && I->in[0] >= 0 && J->kind == I_BWD && J->op == PG_OP_RELU &&
            J->n_in == 1 && J->gout == I->in[0] && J->in[0] >= 0 && J->saved[0] >= 0 && !J->epi) {
            const pg_meta *dx = &g->slots[I->in[0]].meta, *d = &g->slots[J->in[0]].meta,
                          *z = &g->slots[J->saved[0]].meta, *gm = &g->slots[I->gout].meta;
            pg_dtype dt = dx->dtype;
            if (!pg__is_float(dt) || !pg__is_2d(dx, dt) || !pg__is_2d(gm, dt) || !pg__is_2d(d, dt) ||
                !pg__is_2d(z, dt) || !pg__same_dims(2, d->shape, dx->shape) || !pg__same_dims(2, z->shape, dx->shape) ||
                I->node->edges[0].meta.ndim != 2 || I->node->edges[1].meta.ndim != 2 ||
                !pg__plain_temp(g, I->in[0]) || !pg__plain_temp(g, J->in[0]) || J->saved[0] == I->in[0] ||
                pg__readers(g, I->in[0], i) != 1 || !pg__alone(g, j))
                continue;
            for (int k = 1; k < PG_MAX_SAVED; k++)
                if (J->saved[k] >= 0) goto next;
            for (int k = i + 1; k < j; k++)
                if (pg__touches(&g->code[k], J->saved[0]) || pg__touches(&g->code[k], J->in[0])) goto next;
            I->epi = j - i;
            J->epi = -1;
            for (int k = 0; k < i; k++) /* h = relu(z) saved as A: the mask from h, in cache after dW */
                if (g->code[k].kind == I_FWD && g->code[k].op == PG_OP_RELU && g->code[k].n_in == 1 &&
                    g->code[k].in[0] == J->saved[0] && g->code[k].out == I->saved[0] &&
                    pg__same_dims(2, g->slots[I->saved[0]].meta.shape, z->shape))
                    I->epi_h = true;
            i = j;
        }
    next:;
    }
    /* z = x W + b, h = relu(z) in a forward epilogue, and ReLU's backward reading h for its mask in
     * a backward one: when nothing else reads z, ReLU's backward reads h in z's place (z > 0 ? g : 0
     * and h > 0 ? g : 0 are the same: h > 0 exactly where z > 0) and z is never stored */
    for (int i = 0; i < g->n_code; i++) {
        const pg_instr *I = &g->code[i];
        if (I->kind != I_BWD || I->epi <= 0 || !I->epi_h) continue;
        pg_instr *R = &g->code[i + I->epi];
        const int z = R->saved[0], h = I->saved[0];
        for (int f = 0; f + 2 < i; f++) {
            pg_instr *F = &g->code[f];
            if (F->kind == I_FWD && F->epi == 2 && g->code[f + 1].out == z && g->code[f + 2].out == h &&
                pg__readers(g, z, f + 1) == 2 && pg__touches(&g->code[f + 2], z) && pg__touches(R, z)) {
                F->epi_inplace = true;
                R->saved[0] = h;
                break;
            }
        }
    }
    /* dW = A^T G alone (no dX wanted: the first layer's), then the accumulation into its leaf's
     * .grad and the leaf's SGD update (hoisted there): on two threads, each thread computes half
     * of dW's rows and updates those rows of the parameter at once, while its half is in its
     * cache, with no wait between the product and the update (pg__run_dw_halves) */
    for (int i = 0; i + 2 < g->n_code; i++) {
        pg_instr *I = &g->code[i], *L = &g->code[i + 1], *O = &g->code[i + 2];
        if (I->kind != I_BWD || I->op != PG_OP_MATMUL || I->epi || I->n_in != 2 || I->in[0] >= 0 || I->in[1] < 0 ||
            I->saved[0] < 0 || L->kind != I_ACC_LEAF || L->epi || L->b != I->in[1] || O->kind != I_OPT ||
            O->opt != PG_REC_SGD || O->epi || O->t[0] != L->a || O->t[1] < 0 || g->slots[O->t[1]].kind != S_GRADOF ||
            g->slots[O->t[1]].of != L->a || O->t[2] == L->a || O->t[2] == O->t[1])
            continue;
        const pg_meta *am = &I->node->edges[0].meta, *bm = &I->node->edges[1].meta;
        const pg_dtype dt = bm->dtype;
        if (!pg__is_float(dt) || !pg__is_2d(am, dt) || !pg__is_2d(bm, dt) || !pg__is_2d(&g->slots[I->gout].meta, dt) ||
            !pg__plain_temp(g, I->in[1]) || pg__readers(g, I->in[1], i) != 1 || !pg__alone(g, i) ||
            !pg__alone(g, i + 1) || !pg__alone(g, i + 2))
            continue;
        I->epi = 2;
        I->dw_halves = true;
        i += 2;
    }
    return PG_OK;
}

/* ---- printing ---- */

static int pg__sname(const pg_program *g, int s, char *b, size_t cap) {
    if (s < 0) return snprintf(b, cap, "None");
    const pg_slot *x = &g->slots[s];
    switch (x->kind) {
    case S_INPUT: return snprintf(b, cap, "in%d", x->of);
    case S_EXT: return snprintf(b, cap, "c%d", s);
    case S_GRADOF: return snprintf(b, cap, "c%d.grad", x->of);
    default: return snprintf(b, cap, "t%d", s);
    }
}

int pg_program_line(const pg_program *g, int i, char *buf, int cap) {
    if (!g || !buf || cap <= 0 || i < 0 || i >= pg_program_size(g)) return -1;
    const pg_instr *I = &g->code[i];
    char n[5][32], sh[PG_SHAPE_BUF];
    size_t c = (size_t)cap;
    int w = 0;
#define PG_NAME(k, s) (pg__sname(g, (s), n[k], sizeof n[k]), n[k])
#define PG_PUT(...) (w += snprintf(buf + (size_t)w, (size_t)w < c ? c - (size_t)w : 0, __VA_ARGS__))
    PG_PUT("%-8s ", pg__iname[I->kind]);
    switch (I->kind) {
    case I_FWD:
    case I_VIEW:
        PG_PUT("%s = %s(", PG_NAME(0, I->out), pg_optable[I->op]->name);
        for (int k = 0; k < I->n_in; k++) PG_PUT("%s%s", k ? ", " : "", PG_NAME(1, I->in[k]));
        if (I->offsets_slot >= 0)
            PG_PUT("; %s %s", I->op == PG_OP_EMBEDDING ? "indices" : "labels", PG_NAME(1, I->offsets_slot));
        {
            const pg_meta *m = &g->slots[I->out].meta;
            PG_PUT(")  %s %s", pg__dtype_name(m->dtype), pg__shape_str(m->ndim, m->shape, sh, sizeof sh));
        }
        break;
    case I_FULL: PG_PUT("%s = %g", PG_NAME(0, I->out), I->value); break;
    case I_BWD:
        for (int k = 0; k < I->n_in; k++) PG_PUT("%s%s", k ? ", " : "", PG_NAME(0, I->in[k]));
        PG_PUT(" = %s_backward(%s", pg_optable[I->op]->name, PG_NAME(1, I->gout));
        for (int k = 0; k < PG_MAX_SAVED; k++)
            if (I->saved[k] >= 0) PG_PUT("%s%s", k ? ", " : "; saved ", PG_NAME(2, I->saved[k]));
        PG_PUT(")");
        break;
    case I_ACC_INTO: PG_PUT("%s += %s", PG_NAME(0, I->a), PG_NAME(1, I->b)); break;
    case I_ACC_NEW: PG_PUT("%s = %s + %s", PG_NAME(0, I->out), PG_NAME(1, I->a), PG_NAME(2, I->b)); break;
    case I_ACC_LEAF: PG_PUT("%s.grad += %s", PG_NAME(0, I->a), PG_NAME(1, I->b)); break;
    case I_SET_GRAD: PG_PUT("%s.grad = %s", PG_NAME(0, I->a), PG_NAME(1, I->b)); break;
    case I_INPLACE:
        switch (I->opt) {
        case PG_REC_IP_ADD: PG_PUT("%s += %g * %s", PG_NAME(0, I->a), I->value, PG_NAME(1, I->b)); break;
        case PG_REC_IP_MUL: PG_PUT("%s *= %s", PG_NAME(0, I->a), PG_NAME(1, I->b)); break;
        case PG_REC_IP_ADD_SCALAR: PG_PUT("%s += %g", PG_NAME(0, I->a), I->value); break;
        case PG_REC_IP_MUL_SCALAR: PG_PUT("%s *= %g", PG_NAME(0, I->a), I->value); break;
        case PG_REC_IP_FILL: PG_PUT("%s[...] = %g", PG_NAME(0, I->a), I->value); break;
        case PG_REC_IP_COPY: PG_PUT("%s.copy_(%s)", PG_NAME(0, I->a), PG_NAME(1, I->b)); break;
        case PG_REC_IP_BN_FILL:
            PG_PUT("%s[...] = (%s; %s)", PG_NAME(2, I->t[0]), PG_NAME(0, I->a), PG_NAME(1, I->b));
            break;
        case PG_REC_IP_BN_UPDATE:
            PG_PUT("%s, %s = batch_norm_running(%s; momentum=%g)", PG_NAME(0, I->a), PG_NAME(1, I->b),
                   PG_NAME(2, I->t[0]), I->value);
            break;
        case PG_REC_IP_RENORM:
            PG_PUT("%s.embedding_renorm_(%s; max_norm=%g, norm_type=%g)", PG_NAME(0, I->a), PG_NAME(1, I->b),
                   I->value, I->value2);
            break;
        default: PG_PUT("%s[...] = %s", PG_NAME(0, I->a), PG_NAME(1, I->b));
        }
        break;
    case I_AUX:
        switch (I->opt) {
        case PG_REC_CMP:
            PG_PUT("%s = %s(%s, %s)", PG_NAME(0, I->out), pg__cmpname[I->op], PG_NAME(1, I->a), PG_NAME(2, I->b));
            break;
        case PG_REC_CMP_SCALAR:
            PG_PUT("%s = %s(%s, %g)", PG_NAME(0, I->out), pg__cmpname[I->op], PG_NAME(1, I->a), I->value);
            break;
        case PG_REC_BITWISE:
            PG_PUT("%s = %s(%s, %s)", PG_NAME(0, I->out), pg__bitname[I->op], PG_NAME(1, I->a), PG_NAME(2, I->b));
            break;
        case PG_REC_BITWISE_NOT: PG_PUT("%s = bitwise_not(%s)", PG_NAME(0, I->out), PG_NAME(1, I->a)); break;
        default: PG_PUT("%s = constant %s", PG_NAME(0, I->out), PG_NAME(1, I->a));
        }
        {
            const pg_meta *m = &g->slots[I->out].meta;
            PG_PUT("  %s %s", pg__dtype_name(m->dtype), pg__shape_str(m->ndim, m->shape, sh, sizeof sh));
        }
        break;
    case I_OPT:
        PG_PUT("%s(", pg__optname[I->opt]);
        for (int k = 0; k < pg__opt_nt[I->opt]; k++) PG_PUT("%s%s", k ? ", " : "", PG_NAME(0, I->t[k]));
        if (pg__opt_lr[I->opt] >= 0) PG_PUT("; lr=%g", g->scalars[I->scal + pg__opt_lr[I->opt]]);
        PG_PUT(")");
        break;
    }
    for (int q = 0; q < g->n_groups && I->epi >= 0; q++) /* an epilogue's instruction does not run its group */
        if (g->groups[q].first <= i && i < g->groups[q].end) PG_PUT("  [fused %d]", q);
    if (I->epi > 0 && I->kind == I_FWD)
        PG_PUT("  [its epilogue runs %d..%d%s]", i + 1, i + I->epi, I->epi_inplace ? ", in place" : "");
    if (I->epi > 0 && I->kind == I_BWD && !I->dw_halves) PG_PUT("  [its epilogue runs %d]", i + I->epi);
    if (I->dw_halves) PG_PUT("  [with %d..%d, in halves of its rows on two threads]", i + 1, i + 2);
    if (I->epi < 0) PG_PUT("%s", "  [in the matmul's epilogue]");
#undef PG_NAME
#undef PG_PUT
    return w;
}

/* ---- running ---- */

/* slot s's current value (borrowed), NULL when it has none */
static pg_tensor *pg__get(pg_program *g, int s) {
    if (s < 0) return NULL;
    pg_slot *x = &g->slots[s];
    if (x->kind == S_GRADOF) return g->slots[x->of].t->grad;
    return x->t;
}

static pg_tensor *pg__need(pg_program *g, int s, int i) {
    pg_tensor *t = pg__get(g, s);
    if (!t) {
        char b[32];
        pg__sname(g, s, b, sizeof b);
        pg__fail(PG_ERR_RUNTIME, "compile: instruction %d reads %s, which has no value at this run (a .grad "
                 "that was set when the step was recorded is None now?)", i, b);
    }
    return t;
}

static void pg__set(pg_program *g, int s, pg_tensor *t) {
    if (g->slots[s].t) pg_tensor_release(g->slots[s].t);
    g->slots[s].t = t;
}

/* whether instruction i is the last to read slot s (the plan drops it right after) */
static bool pg__dies_at(const pg_program *g, int s, int i) {
    for (int k = g->dead_at[i]; k < g->dead_at[i + 1]; k++)
        if (g->dead[k] == s) return true;
    return false;
}

static bool pg__mine(const pg_tensor *t) {
    return t && atomic_load(&t->refcount) == 1 && atomic_load(&t->storage->refcount) == 1 && !t->storage->external;
}

/* I's parameters for this run: labels read from their slot */
static pg_status pg__params(pg_program *g, const pg_instr *I, pg_params *q, int i) {
    *q = *I->p;
    if (I->offsets_slot < 0) return PG_OK;
    pg_tensor *t = pg__need(g, I->offsets_slot, i);
    if (!t) return pg_last_status();
    if (t->dtype != PG_DTYPE_I64 || t->numel != I->p->n_offsets)
        return pg__fail(PG_ERR_SHAPE, "compile: the %s of %s changed size",
                        I->op == PG_OP_EMBEDDING ? "indices" : "labels", pg_optable[I->op]->name);
    q->offsets = t->data;
    return PG_OK;
}

static pg_status pg__run_fwd(pg_program *g, const pg_instr *I, int i) {
    const pg_opdef *d = pg_optable[I->op];
    pg_tensor *small[8], **in = I->n_in <= 8 ? small : malloc((size_t)I->n_in * sizeof *in);
    if (!in) return pg__fail(PG_ERR_MEMORY, "compile: out of memory");
    pg_status st = PG_OK;
    for (int k = 0; k < I->n_in && st == PG_OK; k++)
        if (!(in[k] = pg__need(g, I->in[k], i))) st = pg_last_status();
    pg_params q;
    pg_meta m;
    if (st == PG_OK) st = pg__params(g, I, &q, i);
    if (st == PG_OK) st = d->infer(&m, in, I->n_in, &q);
    const pg_meta *want = &g->slots[I->out].meta;
    if (st == PG_OK && (m.dtype != want->dtype || m.ndim != want->ndim || !pg__same_dims(m.ndim, m.shape, want->shape)))
        st = pg__fail(PG_ERR_SHAPE, "compile: %s gives another shape than when recorded", d->name);
    if (st == PG_OK && I->kind == I_VIEW) {
        pg_tensor *a = pg__alias(in[0], m.ndim, m.shape);
        if (a) pg__set(g, I->out, a);
        else st = PG_ERR_MEMORY;
    } else if (st == PG_OK) {
        pg_tensor *out = g->slots[I->out].t;
        if (!pg__mine(out)) { /* somebody holds last run's value: a new buffer */
            out = pg__tensor_new_like(&m);
            if (out) pg__set(g, I->out, out);
            else st = PG_ERR_MEMORY;
        }
        if (st == PG_OK) st = d->forward(out, in, I->n_in, &q);
    }
    if (in != small) free(in);
    return st;
}

static pg_status pg__run_bwd(pg_program *g, const pg_instr *I, int i) {
    const pg_opdef *d = pg_optable[I->op];
    pg_node *n = I->node;
    pg_status st = pg__params(g, &g->code[I->fwd], &n->p, i);
    pg_tensor *gout = st == PG_OK ? pg__need(g, I->gout, i) : NULL;
    if (!gout) return pg_last_status();
    for (int k = 0; k < PG_MAX_SAVED; k++)
        if (I->saved[k] >= 0 && !(n->saved[k] = pg__need(g, I->saved[k], i))) return pg_last_status();
    pg_tensor *small[8], **dx = I->n_in <= 8 ? small : calloc((size_t)I->n_in, sizeof *dx);
    if (!dx) return pg__fail(PG_ERR_MEMORY, "compile: out of memory");
    for (int k = 0; k < I->n_in; k++) dx[k] = NULL;
    st = d->backward(dx, gout, n);
    for (int k = 0; k < I->n_in; k++) {
        if (st == PG_OK && I->in[k] >= 0) pg__set(g, I->in[k], dx[k]);
        else pg_tensor_release(dx[k]);
    }
    for (int k = 0; k < PG_MAX_SAVED; k++) n->saved[k] = NULL;
    if (dx != small) free(dx);
    return st;
}

static pg_status pg__run_opt(pg_program *g, const pg_instr *I, int i) {
    pg_tensor *t[PG_REC_MAX_T];
    for (int k = 0; k < PG_REC_MAX_T; k++) {
        t[k] = NULL;
        if (I->t[k] >= 0 && !(t[k] = pg__need(g, I->t[k], i))) return pg_last_status();
    }
    const double *s = g->scalars + I->scal;
    switch (I->opt) {
    case PG_REC_SGD: return pg_sgd_step(t[0], t[1], t[2], (int64_t)s[0], s[1], s[2], s[3], s[4], (int)s[5], (int)s[6]);
    case PG_REC_ADAGRAD: return pg_adagrad_step(t[0], t[1], t[2], (int64_t)s[0], s[1], s[2], s[3], s[4], (int)s[5]);
    case PG_REC_RMSPROP: return pg_rmsprop_step(t[0], t[1], t[2], t[3], t[4], s[0], s[1], s[2], s[3], s[4], (int)s[5],
                               (int)s[6]);
    case PG_REC_ADAM:
        return pg_adam_step(t[0], t[1], t[2], t[3], t[4], (int64_t)s[0], s[1], s[2], s[3], s[4], s[5], (int)s[6],
                            (int)s[7], (int)s[8]);
    case PG_REC_ADAMAX: return pg_adamax_step(t[0], t[1], t[2], t[3], (int64_t)s[0], s[1], s[2], s[3], s[4], s[5], (int)s[6]);
    case PG_REC_NADAM:
        return pg_nadam_step(t[0], t[1], t[2], t[3], (int64_t)s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], (int)s[8],
                             (int)s[9]);
    case PG_REC_RADAM:
        return pg_radam_step(t[0], t[1], t[2], t[3], (int64_t)s[0], s[1], s[2], s[3], s[4], s[5], (int)s[6], (int)s[7]);
    case PG_REC_ADADELTA: return pg_adadelta_step(t[0], t[1], t[2], t[3], s[0], s[1], s[2], s[3], (int)s[4]);
    default: return pg_rprop_step(t[0], t[1], t[2], t[3], s[0], s[1], s[2], s[3], (int)s[4]);
    }
}

static pg_status pg__run_inplace(pg_program *g, const pg_instr *I, int i) {
    pg_tensor *a = pg__need(g, I->a, i), *b = I->b >= 0 ? pg__need(g, I->b, i) : NULL;
    if (!a || (I->b >= 0 && !b)) return pg_last_status();
    const pg_meta *m = &g->slots[I->a].meta;
    if (a->dtype != m->dtype || a->ndim != m->ndim || !pg__same_dims(a->ndim, a->shape, m->shape)) {
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF], nm[32];
        pg__sname(g, I->a, nm, sizeof nm);
        return pg__fail(PG_ERR_SHAPE, "compile: instruction %d updates %s in place, which is %s %s at this run but "
                        "was %s %s when recorded", i, nm, pg__dtype_name(a->dtype),
                        pg__shape_str(a->ndim, a->shape, b1, sizeof b1), pg__dtype_name(m->dtype),
                        pg__shape_str(m->ndim, m->shape, b2, sizeof b2));
    }
    switch (I->opt) {
    case PG_REC_IP_ADD: return pg_add_(a, b, I->value);
    case PG_REC_IP_MUL: return pg_mul_(a, b);
    case PG_REC_IP_ADD_SCALAR: return pg_add_scalar_(a, I->value);
    case PG_REC_IP_MUL_SCALAR: return pg_mul_scalar_(a, I->value);
    case PG_REC_IP_FILL: return pg_fill_(a, I->value);
    case PG_REC_IP_COPY: return pg_copy_(a, b);
    case PG_REC_IP_BN_FILL:
    case PG_REC_IP_BN_UPDATE: {
        pg_tensor *st = pg__need(g, I->t[0], i);
        if (!st) return pg_last_status();
        if (b->dtype != a->dtype || st->dtype != a->dtype || b->numel != a->numel || st->numel != 2 * a->numel)
            return pg__fail(PG_ERR_SHAPE, "compile: instruction %d: batch_norm's running statistics changed shape "
                            "or dtype since the recording", i);
        if (I->opt == PG_REC_IP_BN_FILL) pg__bn_stats_from_running(st, a, b, false);
        else pg__bn_update_running(a, b, st, I->value, I->value2, false);
        return PG_OK;
    }
    case PG_REC_IP_RENORM: return pg_embedding_renorm_(a, b, I->value, I->value2);
    default: return pg_inplace_commit(a, b, "in-place update");
    }
}

static pg_status pg__run_one(pg_program *g, const pg_instr *I, int i) {
    pg_tensor *a, *b;
    switch (I->kind) {
    case I_FWD:
    case I_VIEW: return pg__run_fwd(g, I, i);
    case I_BWD: return pg__run_bwd(g, I, i);
    case I_FULL: {
        const pg_meta *m = &g->slots[I->out].meta;
        pg_tensor *t = pg_tensor_full(m->dtype, m->ndim, m->shape, I->value);
        if (!t) return pg_last_status();
        pg__set(g, I->out, t);
        return PG_OK;
    }
    case I_ACC_NEW: {
        if (!(a = pg__need(g, I->a, i)) || !(b = pg__need(g, I->b, i))) return pg_last_status();
        pg_tensor *t = pg_tensor_clone(a);
        if (!t) return pg_last_status();
        pg__add_into(t, b);
        pg__set(g, I->out, t);
        return PG_OK;
    }
    case I_ACC_INTO: {
        if (!(a = pg__need(g, I->a, i)) || !(b = pg__need(g, I->b, i))) return pg_last_status();
        if (!pg__mine(a)) { /* shared: a fresh sum, as the tape does */
            pg_tensor *t = pg_tensor_clone(a);
            if (!t) return pg_last_status();
            pg__set(g, I->a, t);
            a = t;
        }
        pg__add_into(a, b);
        return PG_OK;
    }
    case I_ACC_LEAF: {
        if (!(a = pg__need(g, I->a, i)) || !(b = pg__need(g, I->b, i))) return pg_last_status();
        /* A .grad-less leaf takes over a gradient its slot alone holds; when a later
         * instruction still reads that slot, it gets a copy instead, or a later in-place
         * accumulation into .grad would change the value that instruction reads. */
        pg_tensor *copy = NULL;
        if (!a->grad && !pg__dies_at(g, I->b, i)) {
            if (!(copy = pg_tensor_clone(b))) return pg_last_status();
            b = copy;
        }
        pg_status st = pg__accumulate_leaf(a, b, pg__get(g, I->keep), false);
        pg_tensor_release(copy);
        return st;
    }
    case I_SET_GRAD:
        if (!(a = pg__need(g, I->a, i))) return pg_last_status();
        if (I->b < 0) return pg_tensor_set_grad(a, NULL);
        if (!(b = pg__need(g, I->b, i))) return pg_last_status();
        return pg_tensor_set_grad(a, b);
    case I_INPLACE: return pg__run_inplace(g, I, i);
    case I_AUX: {
        pg_tensor *t;
        b = NULL;
        if (!(a = pg__need(g, I->a, i))) return pg_last_status();
        if (I->opt == PG_REC_CMP || I->opt == PG_REC_BITWISE)
            if (!(b = pg__need(g, I->b, i))) return pg_last_status();
        switch (I->opt) {
        case PG_REC_CMP: t = pg_compare(a, b, (pg_cmp)I->op); break;
        case PG_REC_CMP_SCALAR: t = pg_compare_scalar(a, I->value, (pg_cmp)I->op); break;
        case PG_REC_BITWISE: t = pg_bitwise(a, b, (pg_bitop)I->op); break;
        case PG_REC_BITWISE_NOT: t = pg_bitwise_not(a); break;
        default: t = pg_tensor_clone(a);
        }
        if (!t) return pg_last_status();
        pg__set(g, I->out, t);
        return PG_OK;
    }
    default: return pg__run_opt(g, I, i);
    }
}

/* ---- running a GEMM with its epilogue (pg__epilogues) ---- */

typedef struct pg_epi_ctx {
    int kind;       /* E_BIAS ... */
    char *c;        /* [M, N] the product, rewritten in place */
    const char *b;  /* [N] the bias (E_BIAS*) */
    char *h;        /* [M, N] relu of the sum (E_BIAS_RELU) */
    const char *z;  /* [M, N] the saved pre-activation (E_RELU_BWD) */
    int64_t ld;     /* N */
} pg_epi_ctx;

/* the ops' own expressions: add (ops_binary.c), relu and its backward (ops_unary.c) */
#define PG_EPI_FN(T, SUF)                                                                              \
    PG_CLONES static void pg__epi_##SUF(void *ctx, int64_t i0, int64_t j0, int64_t m, int64_t n) {     \
        const pg_epi_ctx *e = ctx;                                                                     \
        for (int64_t r = i0; r < i0 + m; r++) {                                                        \
            T *c = (T *)e->c + r * e->ld + j0;                                                         \
            if (e->kind == E_RELU_BWD) {                                                               \
                const T *z = (const T *)e->z + r * e->ld + j0;                                         \
                PG_IVDEP for (int64_t j = 0; j < n; j++) c[j] = z[j] > 0 ? c[j] : (T)0;                \
                continue;                                                                              \
            }                                                                                          \
            const T *b = (const T *)e->b + j0;                                                         \
            PG_IVDEP for (int64_t j = 0; j < n; j++) c[j] = c[j] + b[j];                               \
            if (e->kind == E_BIAS_RELU) {                                                              \
                T *h = (T *)e->h + r * e->ld + j0;                                                     \
                PG_IVDEP for (int64_t j = 0; j < n; j++) h[j] = c[j] > 0 ? c[j] : (T)0;                \
            }                                                                                          \
        }                                                                                              \
    }
PG_EPI_FN(float, f32)
PG_EPI_FN(double, f64)

static bool pg__meta_is(const pg_tensor *t, const pg_meta *m) {
    return t->dtype == m->dtype && t->ndim == m->ndim && pg__same_dims(t->ndim, t->shape, m->shape);
}

/* slot s's tensor to write, as pg__run_fwd makes it: last run's when nobody else holds it */
static pg_tensor *pg__out_for(pg_program *g, int s) {
    pg_tensor *t = g->slots[s].t;
    if (pg__mine(t)) return t;
    if (!(t = pg__tensor_new_like(&g->slots[s].meta))) return NULL;
    pg__set(g, s, t);
    return t;
}

static void pg__gemm_epi(bool f64, bool ta, bool tb, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda,
                         const void *B, int64_t ldb, void *C, pg_epi_ctx *e) {
    pg_gemm_epi epi = {f64 ? pg__epi_f64 : pg__epi_f32, e};
    if (f64) pg__gemm_epi_f64(ta, tb, M, N, K, A, lda, B, ldb, C, N, false, &epi);
    else pg__gemm_epi_f32(ta, tb, M, N, K, A, lda, B, ldb, C, N, false, &epi);
}

/* A 2-d matmul's backward with ReLU's backward in dA's epilogue: part 0 dA, part 1 dB.
 * The two products are independent and of the same size (M N K multiply-adds each);
 * with two threads they run at once, one on each, rather than one after the other on
 * both: a product of one thread wastes nothing on the other's packing or waits (each
 * product's bits do not depend on its threads), from PG_GEMM_PAIR_MIN multiply-adds
 * each (internal.h), as ops_matmul.c's backward. */
typedef struct pg_bwd_pair {
    bool f64;
    int64_t M, N, K;
    const void *A, *B, *G; /* [M, K], [K, N], [M, N] */
    void *da, *db;         /* [M, K], [K, N] (NULL: not wanted) */
    pg_epi_ctx e;
} pg_bwd_pair;

static void pg__bwd_pair_part(void *ctx, const pg_team *team) {
    const pg_bwd_pair *p = ctx;
    pg_epi_ctx e = p->e;
    if (team->tid == 0)
        pg__gemm_epi(p->f64, false, true, p->M, p->K, p->N, p->G, p->N, p->B, p->N, p->da, &e);
    else if (p->f64)
        pg__gemm_f64(true, false, p->K, p->N, p->M, p->A, p->K, p->G, p->N, p->db, p->N, false);
    else
        pg__gemm_f32(true, false, p->K, p->N, p->M, p->A, p->K, p->G, p->N, p->db, p->N, false);
}

/* dW's rows [0, mid) on part 0, [mid, K) on part 1, each then updated by SGD */
typedef struct pg_dw_halves {
    bool f64;
    int64_t M, N, K, mid;
    const void *A, *G; /* [M, K], [M, N] */
    void *db;          /* [K, N] = A^T G, the leaf's .grad */
    pg_tensor *t[3];   /* the update's parameter, .grad (db) and momentum buffer */
    const double *s;   /* its scalars */
    pg_status st[2];
} pg_dw_halves;

static void pg__dw_half(void *ctx, const pg_team *team) {
    pg_dw_halves *h = ctx;
    const int64_t r0 = team->tid ? h->mid : 0, r1 = team->tid ? h->K : h->mid, N = h->N;
    if (h->f64)
        pg__gemm_f64(true, false, r1 - r0, N, h->M, (const double *)h->A + r0, h->K, h->G, N, (double *)h->db + r0 * N,
                     N, false);
    else
        pg__gemm_f32(true, false, r1 - r0, N, h->M, (const float *)h->A + r0, h->K, h->G, N, (float *)h->db + r0 * N,
                     N, false);
    h->st[team->tid] = pg__sgd_piece(h->t[0], h->t[1], h->t[2], h->s, r0 * N, r1 * N);
}

/* instruction i (dw_halves: see pg__epilogues) and the two after it. On two threads, when the
 * leaf has no .grad (it takes dW over, so the update reads dW's rows as each half is made), the
 * halves run at once; each product's and each update's bits are those of the whole. Otherwise
 * the three one by one. */
static pg_status pg__run_dw_halves(pg_program *g, int i) {
    pg_instr *I = &g->code[i], *L = &g->code[i + 1], *O = &g->code[i + 2];
    const pg_meta *am = &I->node->edges[0].meta, *bm = &I->node->edges[1].meta;
    const int64_t M = am->shape[0], K = am->shape[1], N = bm->shape[1], mid = K / 2 / 16 * 16;
    pg_status st;
    pg_tensor *gt = pg__need(g, I->gout, i), *A = gt ? pg__need(g, I->saved[0], i) : NULL;
    pg_tensor *leaf = A ? pg__need(g, L->a, i + 1) : NULL;
    if (!leaf) return pg_last_status();
    if (pg_get_num_threads() == 2 && !leaf->grad && pg__meta_is(A, am) && pg__meta_is(gt, &g->slots[I->gout].meta) &&
        gt->shape[0] == M && gt->shape[1] == N && pg__dies_at(g, I->in[1], i + 1) &&
        (double)M * (double)N * (double)mid >= PG_GEMM_PAIR_MIN) {
        pg_tensor *db = pg__tensor_new_like(bm);
        if (!db) return PG_ERR_MEMORY;
        pg__set(g, I->in[1], db);
        if ((st = pg__run_one(g, L, i + 1)) != PG_OK) return st; /* .grad = db, taken over (not read) */
        pg_dw_halves h = {bm->dtype == PG_DTYPE_F64, M, N, K, mid, A->data, gt->data, db->data, {NULL, NULL, NULL},
                          g->scalars + O->scal, {PG_OK, PG_OK}};
        for (int k = 0; k < 3; k++)
            if (O->t[k] >= 0 && !(h.t[k] = pg__need(g, O->t[k], i + 2))) return pg_last_status();
        if (h.t[1] != db)
            return pg__fail(PG_ERR_RUNTIME, "compile: instruction %d: the update does not read the gradient just "
                            "made", i + 2);
        if ((st = pg__sgd_piece(h.t[0], h.t[1], h.t[2], h.s, 0, 0)) != PG_OK) return st; /* its checks, once */
        pg__parallel(pg__dw_half, &h, 2);
        if (h.st[0] != PG_OK || h.st[1] != PG_OK)
            return pg__fail(PG_ERR_RUNTIME, "compile: instruction %d: the update failed", i + 2);
        atomic_fetch_add(&h.t[0]->storage->version, 1);
        return PG_OK;
    }
    for (int k = i; k <= i + 2; k++)
        if ((st = pg__run_one(g, &g->code[k], k)) != PG_OK) return st;
    return PG_OK;
}

/* instruction i and the code[i].epi after it (see pg__epilogues); the instructions one
 * by one when this run's values are not what the lowering assumed */
static pg_status pg__run_epi(pg_program *g, int i) {
    pg_instr *I = &g->code[i], *J = &g->code[i + 1];
    pg_status st;
    if (I->dw_halves) return pg__run_dw_halves(g, i);
    if (I->kind == I_FWD) {
        pg_tensor *a = pg__need(g, I->in[0], i), *w = a ? pg__need(g, I->in[1], i) : NULL;
        pg_tensor *b = w ? pg__need(g, J->in[1], i + 1) : NULL;
        if (!b) return pg_last_status();
        const pg_meta *am = &g->slots[I->in[0]].meta, *wm = &g->slots[I->in[1]].meta, *bm = &g->slots[J->in[1]].meta;
        if (pg__meta_is(a, am) && pg__meta_is(w, wm) && pg__meta_is(b, bm) && am->shape[1] == wm->shape[0]) {
            const int64_t M = am->shape[0], K = am->shape[1], N = wm->shape[1];
            pg_tensor *z = I->epi_inplace ? pg__out_for(g, g->code[i + 2].out) : pg__out_for(g, J->out), *h = NULL;
            if (z && I->epi == 2) h = I->epi_inplace ? z : pg__out_for(g, g->code[i + 2].out);
            if (!z || (I->epi == 2 && !h)) return pg_last_status();
            pg_epi_ctx e = {I->epi == 2 ? E_BIAS_RELU : E_BIAS, z->data, b->data, h ? h->data : NULL, NULL, N};
            pg__gemm_epi(a->dtype == PG_DTYPE_F64, false, false, M, N, K, a->data, K, w->data, N, z->data, &e);
            return PG_OK;
        }
    } else {
        J = &g->code[i + I->epi]; /* relu's backward, after a leaf's accumulation or not */
        pg_node *n = I->node;
        pg_tensor *gt = pg__need(g, I->gout, i), *A = gt ? pg__need(g, I->saved[0], i) : NULL;
        pg_tensor *B = A ? pg__need(g, I->saved[1], i) : NULL, *z = B ? pg__need(g, J->saved[0], i + 1) : NULL;
        if (!z) return pg_last_status();
        const pg_meta *am = &n->edges[0].meta, *bm = &n->edges[1].meta;
        if (pg__meta_is(A, am) && pg__meta_is(B, bm) && pg__meta_is(gt, &g->slots[I->gout].meta) &&
            pg__meta_is(z, &g->slots[J->saved[0]].meta) && am->shape[1] == bm->shape[0] && gt->numel > 0 &&
            gt->shape[0] == am->shape[0] && gt->shape[1] == bm->shape[1]) {
            const int64_t M = am->shape[0], K = am->shape[1], N = bm->shape[1];
            const bool f64 = gt->dtype == PG_DTYPE_F64;
            pg_tensor *da = pg__tensor_new_like(am), *db = I->in[1] >= 0 ? pg__tensor_new_like(bm) : NULL;
            if (!da || (I->in[1] >= 0 && !db)) {
                pg_tensor_release(da);
                pg_tensor_release(db);
                return PG_ERR_MEMORY;
            }
            /* dB[k,n] = A[m,k]^T G[m,n]; dA[m,k] = G[m,n] B[k,n]^T, then relu's backward on each tile,
             * its mask from A = relu(z) (just read for dB) when A is ReLU's output, else from z */
            const bool mask_a = I->epi_h && A->numel == da->numel;
            pg_bwd_pair pr = {f64, M, N, K, A->data, B->data, gt->data, da->data, db ? db->data : NULL,
                              {E_RELU_BWD, da->data, NULL, NULL, mask_a ? A->data : z->data, K}};
            if (db && pg_get_num_threads() == 2 && (double)M * (double)N * (double)K >= PG_GEMM_PAIR_MIN) {
                pg__parallel(pg__bwd_pair_part, &pr, 2);
            } else {
                if (db) pg__bwd_pair_part(&pr, &(pg_team){1, 2});
                pg__bwd_pair_part(&pr, &(pg_team){0, 2});
            }
            if (db) pg__set(g, I->in[1], db);
            pg__set(g, J->in[0], da);
            for (int k = i + 1; k < i + I->epi; k++) /* the accumulation and update between the two */
                if ((st = pg__run_one(g, &g->code[k], k)) != PG_OK) return st;
            return PG_OK;
        }
    }
    for (int k = i; k <= i + I->epi; k++) /* one by one (the skipped ones are alone: pg__epilogues) */
        if ((st = pg__run_one(g, &g->code[k], k)) != PG_OK) return st;
    return PG_OK;
}

/* ---- running a fused group ---- */

#define PG_RUN_AHEAD 8 /* the bases loop prefetches the tensor this many entries on */

/* A group's tensors of this many bytes or more that it defines (up to PG_FUSE_STREAM_MAX of them) are
 * written block by block into the thread's scratch, then copied out with streaming stores
 * (pg__stream_copy): a plain store first reads its line from memory, a third more traffic for a result
 * that leaves the caches anyway. The same values; a chain of 10 ops on 16M float32, 9.2 -> 7.5 ms on 2
 * threads. */
#define PG_FUSE_STREAM_MIN ((int64_t)8 << 20)
#define PG_FUSE_STREAM_MAX 8

typedef struct pg_gjob {
    pg_program *g;
    const pg_group *G;
    int64_t chunk; /* elements per chunk, a multiple of the block */
    char *scratch; /* [chunks][n_scratch + nss][PG_FUSE_BLOCK] */
    int nss;       /* the slots streamed out, ss[0, nss): scratch blocks n_scratch + k */
    int ss[PG_FUSE_STREAM_MAX];
} pg_gjob;

/* G's micro-ops on elements [lo, lo + n) (n at most a block); scratch values at scr; the slots
 * ss[0, nss) in the scratch blocks after G's own, streamed out to their tensors at the end */
static void pg__group_block(const pg_program *g, const pg_group *G, int64_t lo, int64_t n, char *scr, const int *ss,
                            int nss) {
    static const int64_t ones[5] = {1, 1, 1, 1, 1};
    int64_t shift = lo * (G->f64 ? 8 : 4);
    for (int u = G->u0; u < G->u1; u++) {
        const pg_uop *U = &g->uops[g->sorder[u]]; /* one element: the order its words were planned in */
        char *ptr[5];
        for (int k = 0; k < 5; k++) {
            int s = U->ref[k];
            ptr[k] = s < 0 ? NULL : g->loc[s] == L_SCRATCH ? scr + g->off[s] * PG_FUSE_BLOCK : g->base[s] + shift;
            for (int q = 0; q < nss && s >= 0; q++)
                if (ss[q] == s) ptr[k] = scr + (int64_t)(G->n_scratch + q) * PG_FUSE_BLOCK;
        }
        U->fn(ptr, ones, n, U->ctx);
    }
    for (int q = 0; q < nss; q++)
        pg__stream_copy(g->base[ss[q]] + shift, scr + (int64_t)(G->n_scratch + q) * PG_FUSE_BLOCK,
                        (size_t)(n * (G->f64 ? 8 : 4)));
}

static void pg__group_chunks(void *ctx, int64_t c0, int64_t c1) {
    const pg_gjob *j = ctx;
    int64_t block = PG_FUSE_BLOCK / (j->G->f64 ? 8 : 4);
    for (int64_t c = c0; c < c1; c++) {
        char *scr = j->scratch ? j->scratch + c * (int64_t)(j->G->n_scratch + j->nss) * PG_FUSE_BLOCK : NULL;
        int64_t hi = (c + 1) * j->chunk < j->G->numel ? (c + 1) * j->chunk : j->G->numel;
        for (int64_t lo = c * j->chunk; lo < hi; lo += block)
            pg__group_block(j->g, j->G, lo, hi - lo < block ? hi - lo : block, scr, j->ss, j->nss);
    }
    if (j->nss) pg__stream_fence(); /* before the pool's join: the next instruction may read them */
}

/* the tensors G defines that it streams out (pg__group_block): PG_FUSE_STREAM_MIN bytes or more, none of
 * whose bytes another tensor or .grad of the group reads or writes (which would miss the scratch block) */
static int pg__group_streams(const pg_program *g, const pg_group *G, int *ss) {
    const int64_t bytes = G->numel * (G->f64 ? 8 : 4);
    const int *L = g->glist.v;
    int n = 0;
    if (!PG_STREAM_STORES || bytes < PG_FUSE_STREAM_MIN) return 0;
    for (int k = G->list[1]; k < G->list_end[1] && n < PG_FUSE_STREAM_MAX; k++) {
        const char *p = g->base[L[k]];
        bool alone = true;
        for (int j = 0; j < 6 && alone; j += 5)
            for (int i = G->list[j]; i < G->list_end[j] && alone; i++) {
                const char *o = g->base[L[i]];
                alone = L[i] == L[k] || o + bytes <= p || p + bytes <= o;
            }
        if (alone) ss[n++] = L[k];
    }
    return n;
}

/* a .grad or a value the group reads must be what was recorded */
static pg_status pg__group_check(const pg_program *g, const pg_group *G, int s, const pg_tensor *t) {
    pg_dtype dt = G->f64 ? PG_DTYPE_F64 : PG_DTYPE_F32;
    if (t && t->dtype == dt && t->numel == G->numel) return PG_OK;
    char b[32];
    pg__sname(g, s, b, sizeof b);
    if (!t)
        return pg__fail(PG_ERR_RUNTIME, "compile: instruction %d reads %s, which has no value at this run", G->first, b);
    return pg__fail(PG_ERR_SHAPE, "compile: %s is %s of %lld elements at this run but %s of %lld when recorded", b,
                    pg__dtype_name(t->dtype), (long long)t->numel, pg__dtype_name(dt), (long long)G->numel);
}

static pg_status pg__run_group(pg_program *g, const pg_group *G) {
    const int *L = g->glist.v;
    /* the .grads the group makes (none exists: the program set them to None) */
    for (int k = G->list[3]; k < G->list_end[3]; k++) {
        pg_tensor *leaf = g->slots[L[k]].t, *t = pg__tensor_new_like(&g->slots[L[k]].meta);
        if (!t) return PG_ERR_MEMORY;
        pg__grad_lock(leaf);
        pg_tensor *old = leaf->grad;
        leaf->grad = t;
        pg__grad_unlock(leaf);
        pg_tensor_release(old);
    }
    /* the .grads it adds into: its own, as the eager accumulation makes sure */
    for (int k = G->list[4]; k < G->list_end[4]; k += 3) {
        pg_tensor *leaf = g->slots[L[k]].t, *old = leaf->grad;
        if (!L[k + 2] || !old || (!old->grad_fn && atomic_load(&old->storage->refcount) == 1)) continue;
        pg_tensor *t = pg_tensor_clone(old);
        if (!t) return pg_last_status();
        pg__grad_lock(leaf);
        leaf->grad = t;
        pg__grad_unlock(leaf);
        pg_tensor_release(old);
    }
    for (int k = G->list[1]; k < G->list_end[1]; k++) { /* tensors it defines */
        pg_tensor *t = pg__tensor_new_like(&g->slots[L[k]].meta);
        if (!t) return PG_ERR_MEMORY;
        pg__set(g, L[k], t);
    }
    for (int k = G->list[2]; k < G->list_end[2]; k++) { /* tensors defined before that it adds into */
        pg_tensor *t = pg__get(g, L[k]);
        if (t && !pg__mine(t)) {
            if (!(t = pg_tensor_clone(t))) return pg_last_status();
            pg__set(g, L[k], t);
        }
    }
    for (int j = 0; j < 6; j += 5) /* the bases of its tensors and .grads */
        for (int k = G->list[j], e = G->list_end[j]; k < e; k++) {
            if (k + PG_RUN_AHEAD < e) { /* the tensor a few entries on, whose header is a miss */
                const pg_slot *x = &g->slots[L[k + PG_RUN_AHEAD]];
                if (x->kind != S_GRADOF && x->t) __builtin_prefetch((const char *)x->t + offsetof(pg_tensor, numel));
            }
            const pg_tensor *t = pg__get(g, L[k]);
            pg_status st = pg__group_check(g, G, L[k], t);
            if (st != PG_OK) return st;
            g->base[L[k]] = t->data;
            __builtin_prefetch(t->data); /* read into the arena below */
        }
    int64_t es = G->f64 ? 8 : 4, block = PG_FUSE_BLOCK / es;
    bool words = G->b1 > G->b0;
    /* one element on words of the arena: the tensors it writes are its own (made by
     * it, or held by nothing else), so their words cannot differ from memory that
     * another tensor it reads shares; a .grad held elsewhere runs the rows */
    for (int k = G->list[4]; k < G->list_end[4] && words; k += 3) words = pg__mine(g->slots[L[k]].t->grad);
    pg_gjob j = {.g = g, .G = G};
    int64_t nch = 1;
    if (!words && G->numel > block) {
        int nu = G->u1 - G->u0;
        int nt = pg__threads_for(G->numel * (nu < 16 ? nu : 16), PG_NDITER_GRAIN);
        j.chunk = (G->numel + nt - 1) / nt;
        j.chunk = (j.chunk + block - 1) / block * block;
        nch = (G->numel + j.chunk - 1) / j.chunk;
        j.nss = pg__group_streams(g, G, j.ss);
        int64_t need = nch * (G->n_scratch + j.nss) * PG_FUSE_BLOCK;
        if (need > g->scratch_bytes) {
            free(g->scratch);
            g->scratch_bytes = 0;
            if (!(g->scratch = aligned_alloc(64, (size_t)need))) return pg__fail(PG_ERR_MEMORY, "compile: out of memory");
            g->scratch_bytes = need;
        }
        j.scratch = G->n_scratch + j.nss ? g->scratch : NULL;
    }
    /* as many versions as eager in-place adds (nothing reads them before the group ends; the
     * .grads were just read, so this is no second trip to memory after the group's own) */
    for (int k = G->list[4]; k < G->list_end[4]; k += 3)
        atomic_fetch_add(&g->slots[L[k]].t->grad->storage->version, (uint64_t)L[k + 1]);
    if (words) {
        char *w = g->arena;
        const int *r0 = L + G->list[6], *r1 = L + G->list_end[6], *w0 = L + G->list[7], *w1 = L + G->list_end[7];
        if (G->f64) { /* the values in and out of their words: one load and store each */
            for (const int *s = r0; s < r1; s++) memcpy(w + g->off[*s], g->base[*s], 8);
        } else {
            for (const int *s = r0; s < r1; s++) memcpy(w + g->off[*s], g->base[*s], 4);
        }
        for (const pg_batch *B = g->batches + G->b0, *E = g->batches + G->b1; B < E; B++)
            B->fn(w, g->bops + B->at, B->n, B->ctx);
        if (G->f64) {
            for (const int *s = w0; s < w1; s++) memcpy(g->base[*s], w + g->off[*s], 8);
        } else {
            for (const int *s = w0; s < w1; s++) memcpy(g->base[*s], w + g->off[*s], 4);
        }
    } else if (G->numel <= block) {
        pg__group_block(g, G, 0, G->numel, NULL, NULL, 0);
    } else if (nch > 1) {
        pg__parallel_range(nch, 1, 1, pg__group_chunks, &j);
    } else {
        pg__group_chunks(&j, 0, 1);
    }
    return PG_OK;
}

pg_status pg_program_run(pg_program *g, pg_tensor **inputs, int n_inputs, pg_tensor **outputs) {
    if (!g || !g->recorded) return pg__fail(PG_ERR_RUNTIME, "compile: the program has not been recorded");
    if (n_inputs != g->n_inputs || (n_inputs && !inputs) || (g->n_outputs && !outputs))
        return pg__fail(PG_ERR_VALUE, "compile: the program takes %d inputs, got %d", g->n_inputs, n_inputs);
    for (int i = 0; i < g->n_leaves; i++) {
        const pg_slot *x = &g->slots[g->leaves[i]];
        if (x->kind != S_INPUT) continue;
        const pg_tensor *t = inputs[x->of];
        char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
        if (pg__check_tensor("compile", t)) return PG_ERR_VALUE;
        if (t->dtype != x->meta.dtype || t->ndim != x->meta.ndim || !pg__same_dims(t->ndim, t->shape, x->meta.shape))
            return pg__fail(PG_ERR_SHAPE, "compile: input %d is %s %s but the program was recorded for %s %s", x->of,
                            pg__dtype_name(t->dtype), pg__shape_str(t->ndim, t->shape, b1, sizeof b1),
                            pg__dtype_name(x->meta.dtype), pg__shape_str(x->meta.ndim, x->meta.shape, b2, sizeof b2));
    }
    if (pg_tls.recorder) return pg__fail(PG_ERR_RUNTIME, "compile: a compiled function cannot run while recording");
    int expected = 0;
    if (!atomic_compare_exchange_strong(&g->busy, &expected, 1))
        return pg__fail(PG_ERR_RUNTIME, "compile: the program is already running on another thread");
    for (int i = 0; i < g->n_leaves; i++)
        if (g->slots[g->leaves[i]].kind == S_INPUT) g->slots[g->leaves[i]].t = inputs[g->slots[g->leaves[i]].of];
    for (int k = 0; k < g->n_outputs; k++) outputs[k] = NULL;
    int prev = pg_set_grad_enabled(0); /* the kernels' own calls to ops record nothing, as in backward */
    pg_status st = PG_OK;
    /* the whole run lets the host's lock (the GIL) go: no instruction calls into
     * Python (hooks, custom ops and Python reads refused the recording); a
     * release callback of external memory, should a run drop the last
     * reference to one, takes the GIL itself (cffi's callbacks do) */
    pg_unlocked unlocked = pg__unlock_host(INT64_MAX);
    for (int i = 0; i < g->n_code && st == PG_OK; i++) {
        int q = g->group_at ? g->group_at[i] : -1, end = i + 1;
        if (g->code[i].epi > 0) {
            st = pg__run_epi(g, i);
            end = i + 1 + g->code[i].epi;
        } else if (q >= 0) {
            st = pg__run_group(g, &g->groups[q]);
            end = g->groups[q].end;
        } else {
            st = pg__run_one(g, &g->code[i], i);
        }
        for (int k = g->dead_at[i]; k < g->dead_at[end]; k++) pg__set(g, g->dead[k], NULL);
        i = end - 1;
    }
    pg__relock_host(unlocked);
    pg_set_grad_enabled(prev);
    for (int k = 0; k < g->n_outputs && st == PG_OK; k++) {
        int s = g->outputs[k];
        pg_tensor *t = pg__get(g, s);
        for (int j = 0; j < k; j++) /* an earlier output is the same slot: copy what it got */
            if (g->outputs[j] == s) t = outputs[j];
        if (t && t == g->slots[s].t && g->slots[s].kind == S_TEMP && pg__mine(t)) {
            outputs[k] = t; /* a value this run made and nothing else holds: handed over, not copied */
            g->slots[s].t = NULL;
        } else if (t && !(outputs[k] = pg_tensor_clone(t))) {
            st = pg_last_status();
        }
    }
    if (st != PG_OK)
        for (int k = 0; k < g->n_outputs; k++) {
            pg_tensor_release(outputs[k]);
            outputs[k] = NULL;
        }
    /* keep only the forward buffers (a failed run may have left any value set) */
    int n_end = st == PG_OK ? g->rest.n : g->n_slots;
    for (int k = 0; k < n_end; k++) {
        int s = st == PG_OK ? g->rest.v[k] : k;
        pg_slot *x = &g->slots[s];
        if (x->kind == S_INPUT) x->t = NULL;
        else if (x->kind == S_TEMP && !(x->buffer && pg__mine(x->t))) pg__set(g, s, NULL);
    }
    atomic_store(&g->busy, 0);
    return st;
}
