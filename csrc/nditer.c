/* nditer.c: walks an n-d index space over several operands with their own
 * element strides (0 on broadcast dims), calling a row kernel per innermost
 * row. Every elementwise, broadcasting and reduction kernel runs on it.
 * Dims are collapsed first, so same-shape operands become one long row. */
#include "internal.h"

#include <string.h>

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

void pg__nditer_run(const pg_nditer *it, char *const *base, const size_t *elsize, pg_row_fn fn,
                    void *ctx) {
    if (it->empty) return;
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
