/* nditer.c: walks an n-d index space over several operands with their own
 * element strides (0 on broadcast dims), calling a row kernel per innermost
 * row. Every elementwise, broadcasting and reduction kernel runs on it.
 * Dims are collapsed first, so same-shape operands become one long row.
 * Large index spaces are split over the thread pool along a dim where
 * operand 0 (the only one row kernels write) moves, so threads write
 * disjoint elements and each element is computed as it would be alone. */
#include "internal.h"

#include <string.h>

void pg__strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s = pg__mul_sat(s, shape[i]);
    }
}

void pg__bcast_strides(const pg_meta *m, int ndim, const int64_t *shape, int64_t *st) {
    int64_t cs[PG_MAX_DIMS];
    pg__strides(m->ndim, m->shape, cs);
    int off = ndim - m->ndim;
    for (int d = 0; d < ndim; d++) {
        int k = d - off;
        st[d] = (k < 0 || (m->shape[k] == 1 && shape[d] != 1)) ? 0 : cs[k];
    }
}

void pg__nditer_init(pg_nditer *it, int ndim, const int64_t *shape, int nops,
                     int64_t st[][PG_MAX_DIMS]) {
    it->nops = nops;
    it->empty = false;
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0) { /* nothing to visit; strides of empty shapes may be meaningless */
            it->empty = true;
            it->ndim = 1;
            it->shape[0] = 0;
            return;
        }
    int n = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0) it->empty = true;
        if (shape[d] == 1) continue; /* size-1 dims never move a pointer */
        if (n > 0) {
            bool merge = true; /* dim d continues dim n-1 for every operand */
            for (int k = 0; k < nops; k++)
                if (it->st[k][n - 1] != st[k][d] * shape[d]) merge = false;
            if (merge) {
                it->shape[n - 1] *= shape[d];
                for (int k = 0; k < nops; k++) it->st[k][n - 1] = st[k][d];
                continue;
            }
        }
        it->shape[n] = shape[d];
        for (int k = 0; k < nops; k++) it->st[k][n] = st[k][d];
        n++;
    }
    if (n == 0) { /* a single element */
        it->shape[0] = 1;
        for (int k = 0; k < nops; k++) it->st[k][0] = 0;
        n = 1;
    }
    it->ndim = n;
}

static void pg__nditer_serial(const pg_nditer *it, char *const *base, const size_t *elsize, pg_row_fn fn,
                              void *ctx) {
    int nd = it->ndim, nops = it->nops;
    int64_t inner = it->shape[nd - 1];
    int64_t ist[PG_NDITER_MAX_OPS];
    char *ptr[PG_NDITER_MAX_OPS];
    int64_t idx[PG_MAX_DIMS] = {0};
    for (int k = 0; k < nops; k++) {
        ist[k] = it->st[k][nd - 1];
        ptr[k] = base[k];
    }
    for (;;) {
        fn(ptr, ist, inner, ctx);
        int d = nd - 2;
        for (; d >= 0; d--) { /* odometer over the outer dims */
            for (int k = 0; k < nops; k++) ptr[k] += it->st[k][d] * (int64_t)elsize[k];
            if (++idx[d] < it->shape[d]) break;
            for (int k = 0; k < nops; k++) ptr[k] -= it->st[k][d] * it->shape[d] * (int64_t)elsize[k];
            idx[d] = 0;
        }
        if (d < 0) return;
    }
}

/* Splitting: chunks of the innermost dim are whole multiples of this many
 * elements (whole cache lines of the written operand, aligned vectors). */
#define PG_NDITER_ALIGN 64

typedef struct pg_nditer_job {
    const pg_nditer *it;
    char *const *base;
    const size_t *elsize;
    pg_row_fn fn;
    void *ctx;
    int dim; /* the dim split between the team */
} pg_nditer_job;

static void pg__nditer_part(void *arg, const pg_team *team) {
    const pg_nditer_job *j = arg;
    const pg_nditer *it = j->it;
    int d = j->dim;
    int64_t n = it->shape[d], unit = d == it->ndim - 1 ? PG_NDITER_ALIGN : 1;
    int64_t units = (n + unit - 1) / unit;
    int64_t lo = units * team->tid / team->nthr * unit, hi = units * (team->tid + 1) / team->nthr * unit;
    if (hi > n) hi = n;
    if (lo >= hi) return;
    pg_nditer sub = *it;
    sub.shape[d] = hi - lo;
    char *base[PG_NDITER_MAX_OPS];
    for (int k = 0; k < it->nops; k++) base[k] = j->base[k] + lo * it->st[k][d] * (int64_t)j->elsize[k];
    pg__nditer_serial(&sub, base, j->elsize, j->fn, j->ctx);
}

void pg__nditer_run(const pg_nditer *it, char *const *base, const size_t *elsize, pg_row_fn fn,
                    void *ctx) {
    if (it->empty) return;
    int64_t total = 1;
    for (int d = 0; d < it->ndim; d++) total *= it->shape[d];
    int nthr = pg__threads_for(total, PG_NDITER_GRAIN);
    if (nthr > 1) {
        /* the outermost dim operand 0 moves along that has work for every
         * thread, else the longest one it moves along */
        int dim = -1;
        for (int d = 0; d < it->ndim && dim < 0; d++)
            if (it->st[0][d] != 0 && it->shape[d] >= 4 * nthr) dim = d;
        for (int d = 0; d < it->ndim && dim < 0; d++)
            if (it->st[0][d] != 0 && it->shape[d] > 1 && (dim < 0 || it->shape[d] > it->shape[dim])) dim = d;
        if (dim >= 0) {
            pg_nditer_job job = {it, base, elsize, fn, ctx, dim};
            pg__parallel(pg__nditer_part, &job, nthr);
            return;
        }
    }
    pg_unlocked u = pg__unlock_host(total); /* one thread, but long: still let the host's lock go */
    pg__nditer_serial(it, base, elsize, fn, ctx);
    pg__relock_host(u);
}

typedef struct pg_range_job {
    int64_t n, align;
    pg_range_fn fn;
    void *ctx;
} pg_range_job;

static void pg__range_part(void *arg, const pg_team *team) {
    const pg_range_job *j = arg;
    int64_t units = (j->n + j->align - 1) / j->align;
    int64_t lo = units * team->tid / team->nthr * j->align, hi = units * (team->tid + 1) / team->nthr * j->align;
    if (hi > j->n) hi = j->n;
    if (lo < hi) j->fn(j->ctx, lo, hi);
}

void pg__parallel_range(int64_t n, int64_t align, int64_t grain, pg_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (n < 2 * grain) { /* one thread's worth (pg__threads_for would say 1): skip asking */
        fn(ctx, 0, n);
        return;
    }
    int nthr = pg__threads_for(n, grain);
    if (nthr <= 1) { /* two grains or more on one thread: long, let the host's lock go */
        pg_unlocked u = pg__unlock_host(PG_UNLOCK_MIN);
        fn(ctx, 0, n);
        pg__relock_host(u);
        return;
    }
    pg_range_job job = {n, align, fn, ctx};
    pg__parallel(pg__range_part, &job, nthr);
}
