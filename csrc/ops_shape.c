/* ops_shape.c: op-table rows that move elements without arithmetic:
 * reshape (a view), permute, gather (the engine of x[key]), concatenate,
 * stack and index_map (an index vector per dim: flip, roll, repeat, tile,
 * expand, pad). These accept every dtype, bool included. */
#include "rules_util.h"

#include <stdlib.h>
#include <string.h>

/* strided copy rows by element size: dst (operand 0) <- src (operand 1) */
#define PG_COPY_ROW(BITS)                                                                  \
    static void copy_row_##BITS(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        uint##BITS##_t *d = (uint##BITS##_t *)ptr[0];                                      \
        const uint##BITS##_t *s = (const uint##BITS##_t *)ptr[1];                          \
        (void)ctx;                                                                         \
        if (st[0] == 1 && st[1] == 1)                                                      \
            memcpy(d, s, sizeof *d * (size_t)n);                                           \
        else if (st[0] == 1 && st[1] == 0)                                                 \
            for (int64_t i = 0; i < n; i++) d[i] = s[0];                                   \
        else                                                                               \
            for (int64_t i = 0; i < n; i++) d[i * st[0]] = s[i * st[1]];                   \
    }
PG_COPY_ROW(8)
PG_COPY_ROW(32)
PG_COPY_ROW(64)

static pg_row_fn pg__copy_row(size_t es) { return es == 1 ? copy_row_8 : es == 4 ? copy_row_32 : copy_row_64; }

/* ---- reshape: y = x viewed with another shape (shares storage);  dx = g viewed back ---- */

static pg_status reshape_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    *out = (pg_meta){.dtype = x->dtype, .ndim = p->shape.ndim};
    memcpy(out->shape, p->shape.dims, sizeof out->shape);
    int neg = -1;
    int64_t known = 1;
    for (int d = 0; d < out->ndim; d++) {
        if (out->shape[d] == -1) {
            if (neg >= 0)
                return pg__fail(PG_ERR_SHAPE, "reshape: only one dimension can be -1, got %s",
                                pg__shape_str(out->ndim, out->shape, b1, sizeof b1));
            neg = d;
        } else if (out->shape[d] < 0) {
            return pg__fail(PG_ERR_SHAPE, "reshape: invalid dimension %lld in %s", (long long)out->shape[d],
                            pg__shape_str(out->ndim, out->shape, b1, sizeof b1));
        } else if (__builtin_mul_overflow(known, out->shape[d], &known)) {
            return pg__fail(PG_ERR_SHAPE, "reshape: shape %s is too large",
                            pg__shape_str(out->ndim, out->shape, b1, sizeof b1));
        }
    }
    if (neg >= 0) {
        if (known == 0 || x->numel % known != 0)
            return pg__fail(PG_ERR_SHAPE, "reshape: cannot reshape %s (%lld elements) into %s",
                            pg__shape_str(x->ndim, x->shape, b1, sizeof b1), (long long)x->numel,
                            pg__shape_str(out->ndim, out->shape, b2, sizeof b2));
        out->shape[neg] = x->numel / known;
        known = x->numel;
    }
    if (known != x->numel)
        return pg__fail(PG_ERR_SHAPE, "reshape: cannot reshape %s (%lld elements) into %s",
                        pg__shape_str(x->ndim, x->shape, b1, sizeof b1), (long long)x->numel,
                        pg__shape_str(out->ndim, out->shape, b2, sizeof b2));
    return PG_OK;
}

static pg_status reshape_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_meta *m = &n->edges[0].meta;
    dx[0] = pg__alias((pg_tensor *)g, m->ndim, m->shape);
    return dx[0] ? PG_OK : PG_ERR_MEMORY;
}

pg_tensor *pg_reshape(pg_tensor *x, int ndim, const int64_t *shape) {
    if (pg__check_tensor("reshape", x)) return NULL;
    if (ndim < 0 || ndim > PG_MAX_DIMS) {
        pg__fail(PG_ERR_SHAPE, "reshape: tensors have 0 to %d dims, got %d", PG_MAX_DIMS, ndim);
        return NULL;
    }
    if (ndim && !shape) {
        pg__fail(PG_ERR_VALUE, "reshape: shape pointer is NULL");
        return NULL;
    }
    pg_params p = {0};
    p.shape.ndim = ndim;
    if (ndim) memcpy(p.shape.dims, shape, sizeof(int64_t) * (size_t)ndim);
    return pg__apply(PG_OP_RESHAPE, &x, 1, &p);
}

/* ---- permute: y = x with dims reordered, y.shape[i] = x.shape[dims[i]];  dx = g permuted back ---- */

/* A permuted copy whose last dim is not x's last: y's dim b reads x's contiguous last dim, y's last dim a
 * reads x with stride xas. Done in tiles of PG_TILE_B rows of y (along b) by PG_TILE_A elements (along a):
 * a tile reads PG_TILE_A rows of x, few enough to share an L1 set when x's rows are a power of two apart
 * (4096 x 1024 float32, 1 thread: 32 x 32 tiles 12.2 ms, 16 x 16 8.9, 64 x 8 3.2; the n-d iterator's copy,
 * a column of x at a time, 26). The other dims are iterated outside; units of PG_TILE_B rows over threads. */
#define PG_TILE_A 8
#define PG_TILE_B 64
#define PG_TILE_MIN 8 /* a and b both at least this long, else the iterator's copy */
typedef struct pg_tcopy_job {
    char *y;
    const char *x;
    int nd;                                     /* the other dims */
    int64_t shape[PG_MAX_DIMS];                 /* [nd] their sizes */
    int64_t ys[PG_MAX_DIMS], xs[PG_MAX_DIMS];   /* [nd] their element strides in y and in x */
    int64_t nb, ybs;                            /* dim b: size, y's stride (x's is 1) */
    int64_t na, xas;                            /* dim a: size, x's stride (y's is 1) */
    int64_t tiles;                              /* ceil(nb / PG_TILE_B): units per outer position */
    size_t es;
} pg_tcopy_job;

/* rows [0, rows) along b, all of a: y[i * ybs + j] = x[i + j * xas], a tile (rows x PG_TILE_A) at a time */
#define PG_TCOPY(T, BITS)                                                                                      \
    static void pg__tcopy_##BITS(T *restrict y, const T *restrict x, int64_t rows, int64_t na, int64_t ybs,     \
                                 int64_t xas) {                                                                \
        for (int64_t a0 = 0; a0 < na; a0 += PG_TILE_A) {                                                       \
            const int64_t w = na - a0 < PG_TILE_A ? na - a0 : PG_TILE_A;                                       \
            for (int64_t i = 0; i < rows; i++) {                                                               \
                T *restrict yr = y + i * ybs + a0;                                                             \
                const T *restrict xc = x + i + a0 * xas;                                                       \
                for (int64_t j = 0; j < w; j++) yr[j] = xc[j * xas];                                           \
            }                                                                                                  \
        }                                                                                                      \
    }
PG_TCOPY(uint8_t, 8)
PG_TCOPY(uint32_t, 32)
PG_TCOPY(uint64_t, 64)

/* units [lo, hi): unit u is the rows [t * PG_TILE_B, ...) along b, t = u % tiles, at outer position u / tiles */
static void pg__tcopy_units(void *ctx, int64_t lo, int64_t hi) {
    const pg_tcopy_job *q = ctx;
    for (int64_t u = lo; u < hi; u++) {
        int64_t o = u / q->tiles, b0 = (u % q->tiles) * PG_TILE_B, yo = b0 * q->ybs, xo = b0;
        for (int d = q->nd - 1; d >= 0; d--) {
            int64_t i = o % q->shape[d];
            o /= q->shape[d];
            yo += i * q->ys[d];
            xo += i * q->xs[d];
        }
        int64_t rows = q->nb - b0 < PG_TILE_B ? q->nb - b0 : PG_TILE_B;
        if (q->es == 4)
            pg__tcopy_32((uint32_t *)q->y + yo, (const uint32_t *)q->x + xo, rows, q->na, q->ybs, q->xas);
        else if (q->es == 8)
            pg__tcopy_64((uint64_t *)q->y + yo, (const uint64_t *)q->x + xo, rows, q->na, q->ybs, q->xas);
        else
            pg__tcopy_8((uint8_t *)q->y + yo, (const uint8_t *)q->x + xo, rows, q->na, q->ybs, q->xas);
    }
}

/* the tiled copy when y's last dim is not x's last and both are long enough; false to leave it to the iterator.
 * ys: y's strides, xst: x's strides in y's dim order */
static bool pg__tcopy(char *y, const char *x, int nd, const int64_t *shape, const int64_t *ys, const int64_t *xst,
                      size_t es) {
    int a = nd - 1, b = -1;
    for (int d = 0; d < nd; d++)
        if (xst[d] == 1 && shape[d] > 1) b = d;
    if (nd < 2 || b < 0 || b == a || shape[a] < PG_TILE_MIN || shape[b] < PG_TILE_MIN) return false;
    pg_tcopy_job q = {.y = y, .x = x, .nb = shape[b], .ybs = ys[b], .na = shape[a], .xas = xst[a], .es = es};
    int64_t outer = 1;
    for (int d = 0; d < nd; d++)
        if (d != a && d != b && shape[d] > 1) {
            q.shape[q.nd] = shape[d];
            q.ys[q.nd] = ys[d];
            q.xs[q.nd++] = xst[d];
            outer *= shape[d];
        }
    q.tiles = (q.nb + PG_TILE_B - 1) / PG_TILE_B;
    int64_t per = PG_TILE_B * q.na, grain = PG_NDITER_GRAIN / per;
    pg__parallel_range(outer * q.tiles, 1, grain > 1 ? grain : 1, pg__tcopy_units, &q);
    return true;
}

static void pg__permute_copy(pg_tensor *out, const pg_tensor *x, const int64_t *dims) {
    int64_t xs[PG_MAX_DIMS], st[2][PG_MAX_DIMS];
    pg__strides(x->ndim, x->shape, xs);
    pg__strides(out->ndim, out->shape, st[0]);
    for (int d = 0; d < x->ndim; d++) st[1][d] = xs[dims[d]];
    size_t es = pg__dtype_size(x->dtype);
    if (out->numel && pg__tcopy(out->data, x->data, out->ndim, out->shape, st[0], st[1], es)) return;
    char *base[2] = {out->data, x->data};
    size_t esz[2] = {es, es};
    pg_nditer it;
    pg__nditer_init(&it, out->ndim, out->shape, 2, st);
    pg__nditer_run(&it, base, esz, pg__copy_row(es), NULL);
}

static pg_status permute_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    char b[PG_SHAPE_BUF];
    if (p->shape.ndim != x->ndim)
        return pg__fail(PG_ERR_SHAPE, "permute: got %d dims for a tensor of shape %s", p->shape.ndim,
                        pg__shape_str(x->ndim, x->shape, b, sizeof b));
    unsigned seen = 0;
    out->dtype = x->dtype;
    out->ndim = x->ndim;
    for (int d = 0; d < x->ndim; d++) {
        int64_t s = p->shape.dims[d];
        if (s < 0 || s >= x->ndim || (seen & (1u << s)))
            return pg__fail(PG_ERR_SHAPE, "permute: dims must be a permutation of 0..%d for a tensor of shape %s",
                            x->ndim - 1, pg__shape_str(x->ndim, x->shape, b, sizeof b));
        seen |= 1u << s;
        out->shape[d] = x->shape[s];
    }
    return PG_OK;
}

static pg_status permute_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg__permute_copy(out, in[0], p->shape.dims);
    return PG_OK;
}

static pg_status permute_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    int64_t inv[PG_MAX_DIMS];
    for (int d = 0; d < g->ndim; d++) inv[n->p.shape.dims[d]] = d;
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return PG_ERR_MEMORY;
    pg__permute_copy(d, g, inv);
    dx[0] = d;
    return PG_OK;
}

pg_tensor *pg_permute(pg_tensor *x, int ndim, const int *dims) {
    if (pg__check_tensor("permute", x)) return NULL;
    if (ndim < 0 || ndim > PG_MAX_DIMS || (ndim && !dims)) {
        pg__fail(PG_ERR_SHAPE, "permute: got %d dims for a tensor with %d dims", ndim, x->ndim);
        return NULL;
    }
    pg_params p = {0};
    p.shape.ndim = ndim;
    for (int d = 0; d < ndim; d++) {
        p.shape.dims[d] = dims[d] < 0 ? dims[d] + ndim : dims[d];
    }
    return pg__apply(PG_OP_PERMUTE, &x, 1, &p);
}

/* ---- gather: y.flat[i] = x.flat[offsets[i]];  dx.flat[offsets[i]] += g.flat[i] (scatter-add) ---- */

static pg_status gather_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    *out = (pg_meta){.dtype = x->dtype, .ndim = p->shape.ndim};
    memcpy(out->shape, p->shape.dims, sizeof out->shape);
    int64_t n;
    for (int d = 0; d < out->ndim; d++)
        if (out->shape[d] < 0) return pg__fail(PG_ERR_SHAPE, "getitem: negative dimension in the result shape");
    n = pg__numel(out->ndim, out->shape);
    if ((uint64_t)n > PG_MAX_BYTES / pg__dtype_size(x->dtype)) { /* before reading [n] offsets */
        char b[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_MEMORY, "getitem: the result's shape %s is too large",
                        pg__shape_str(out->ndim, out->shape, b, sizeof b));
    }
    if (n > 0 && !p->offsets) return pg__fail(PG_ERR_VALUE, "getitem: offsets pointer is NULL");
    int64_t bad = -1;
    pg_unlocked u = pg__unlock_host(n);
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (p->offsets[i] < 0 || p->offsets[i] >= x->numel) bad = i;
    pg__relock_host(u);
    if (bad >= 0) {
        char b[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_INDEX, "getitem: element offset %lld is out of range for a tensor of shape %s",
                        (long long)p->offsets[bad], pg__shape_str(x->ndim, x->shape, b, sizeof b));
    }
    return PG_OK;
}

static pg_status gather_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const int64_t *off = p->offsets;
    int64_t n = out->numel;
    pg_unlocked u = pg__unlock_host(n);
    switch (pg__dtype_size(out->dtype)) {
    case 1: {
        uint8_t *o = out->data;
        const uint8_t *x = in[0]->data;
        for (int64_t i = 0; i < n; i++) o[i] = x[off[i]];
        break;
    }
    case 4: {
        float *o = out->data;
        const float *x = in[0]->data;
        for (int64_t i = 0; i < n; i++) o[i] = x[off[i]];
        break;
    }
    default: {
        double *o = out->data;
        const double *x = in[0]->data;
        for (int64_t i = 0; i < n; i++) o[i] = x[off[i]];
    }
    }
    pg__relock_host(u);
    return PG_OK;
}

static pg_status gather_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_tensor *d = pg__tensor_zeros_like(&n->edges[0].meta);
    if (!d) return PG_ERR_MEMORY;
    const int64_t *off = n->p.offsets;
    pg_unlocked u = pg__unlock_host(g->numel);
    if (g->dtype == PG_DTYPE_F32) {
        float *o = d->data;
        const float *gg = g->data;
        for (int64_t i = 0; i < g->numel; i++) o[off[i]] += gg[i];
    } else {
        double *o = d->data;
        const double *gg = g->data;
        for (int64_t i = 0; i < g->numel; i++) o[off[i]] += gg[i];
    }
    pg__relock_host(u);
    dx[0] = d;
    return PG_OK;
}

pg_tensor *pg_gather(pg_tensor *x, int ndim, const int64_t *shape, const int64_t *offsets) {
    if (pg__check_tensor("getitem", x)) return NULL;
    if (ndim < 0 || ndim > PG_MAX_DIMS || (ndim && !shape)) {
        pg__fail(PG_ERR_SHAPE, "getitem: the result would have %d dims (0 to %d supported)", ndim, PG_MAX_DIMS);
        return NULL;
    }
    pg_params p = {0};
    p.shape.ndim = ndim;
    if (ndim) memcpy(p.shape.dims, shape, sizeof(int64_t) * (size_t)ndim);
    p.offsets = offsets;
    p.n_offsets = pg__numel(ndim, shape); /* trusted only once gather_infer accepted the shape */
    return pg__apply(PG_OP_GETITEM, &x, 1, &p);
}

/* ---- scatter_add: y = zeros(shape); y.flat[offsets[i]] += x.flat[i];  dx.flat[i] = g.flat[offsets[i]] ---- */

static pg_status scatter_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    if (pg__check_float("scatter_add", x)) return PG_ERR_TYPE;
    *out = (pg_meta){.dtype = x->dtype, .ndim = p->shape.ndim};
    memcpy(out->shape, p->shape.dims, sizeof out->shape);
    for (int d = 0; d < out->ndim; d++)
        if (out->shape[d] < 0) return pg__fail(PG_ERR_SHAPE, "scatter_add: negative dimension in the result shape");
    int64_t n = pg__numel(out->ndim, out->shape);
    if (x->numel > 0 && !p->offsets) return pg__fail(PG_ERR_VALUE, "scatter_add: offsets pointer is NULL");
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t o = p->offsets[i];
        if (o < 0 || o >= n) {
            char b[PG_SHAPE_BUF];
            return pg__fail(PG_ERR_INDEX, "scatter_add: element offset %lld is out of range for a result of shape %s",
                            (long long)o, pg__shape_str(out->ndim, out->shape, b, sizeof b));
        }
    }
    return PG_OK;
}

static pg_status scatter_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg_unlocked u = pg__unlock_host(in[0]->numel > out->numel ? in[0]->numel : out->numel);
    memset(out->data, 0, out->storage->nbytes);
    const int64_t *off = p->offsets;
    if (out->dtype == PG_DTYPE_F32) {
        float *o = out->data;
        const float *x = in[0]->data;
        for (int64_t i = 0; i < in[0]->numel; i++) o[off[i]] += x[i];
    } else {
        double *o = out->data;
        const double *x = in[0]->data;
        for (int64_t i = 0; i < in[0]->numel; i++) o[off[i]] += x[i];
    }
    pg__relock_host(u);
    return PG_OK;
}

static pg_status scatter_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return PG_ERR_MEMORY;
    const int64_t *off = n->p.offsets;
    pg_unlocked u = pg__unlock_host(d->numel);
    if (g->dtype == PG_DTYPE_F32) {
        float *o = d->data;
        const float *gg = g->data;
        for (int64_t i = 0; i < d->numel; i++) o[i] = gg[off[i]];
    } else {
        double *o = d->data;
        const double *gg = g->data;
        for (int64_t i = 0; i < d->numel; i++) o[i] = gg[off[i]];
    }
    pg__relock_host(u);
    dx[0] = d;
    return PG_OK;
}

pg_tensor *pg_scatter_add(pg_tensor *src, int ndim, const int64_t *shape, const int64_t *offsets) {
    if (pg__check_tensor("scatter_add", src)) return NULL;
    if (ndim < 0 || ndim > PG_MAX_DIMS || (ndim && !shape)) {
        pg__fail(PG_ERR_SHAPE, "scatter_add: the result would have %d dims (0 to %d supported)", ndim, PG_MAX_DIMS);
        return NULL;
    }
    pg_params p = {0};
    p.shape.ndim = ndim;
    if (ndim) memcpy(p.shape.dims, shape, sizeof(int64_t) * (size_t)ndim);
    p.offsets = offsets;
    p.n_offsets = src->numel; /* one offset per source element */
    return pg__apply(PG_OP_SCATTER_ADD, &src, 1, &p);
}

/* ---- concatenate / stack ----
 * Both lay their inputs side by side: out viewed as [outer, sum_k w_k] with
 * input k viewed as [outer, w_k]. For concatenate along axis a,
 * w_k = x_k.shape[a] * prod(shape[a+1:]); for stack, w_k = prod(shape[a:]).
 * Backward copies each input's columns back out of g. */

static int64_t pg__outer(const pg_meta *m, int axis) { return pg__numel(axis, m->shape); }

static pg_status pg__cat_check(const char *op, pg_tensor *const *xs, int n, int axis, bool stack, pg_meta *out) {
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (n < 1) return pg__fail(PG_ERR_VALUE, "%s: need at least one tensor", op);
    const pg_tensor *x0 = xs[0];
    for (int k = 0; k < n; k++) {
        if (xs[k]->dtype != x0->dtype)
            return pg__fail(PG_ERR_TYPE, "%s: tensor %d has dtype %s but tensor 0 has %s", op, k,
                            pg__dtype_name(xs[k]->dtype), pg__dtype_name(x0->dtype));
        if (xs[k]->ndim != x0->ndim)
            return pg__fail(PG_ERR_SHAPE, "%s: tensor %d has shape %s but tensor 0 has shape %s", op, k,
                            pg__shape_str(xs[k]->ndim, xs[k]->shape, b1, sizeof b1),
                            pg__shape_str(x0->ndim, x0->shape, b2, sizeof b2));
        for (int d = 0; d < x0->ndim; d++)
            if ((stack || d != axis) && xs[k]->shape[d] != x0->shape[d])
                return pg__fail(PG_ERR_SHAPE, "%s: tensor %d has shape %s but tensor 0 has shape %s%s", op, k,
                                pg__shape_str(xs[k]->ndim, xs[k]->shape, b1, sizeof b1),
                                pg__shape_str(x0->ndim, x0->shape, b2, sizeof b2),
                                stack ? " (stack needs equal shapes)" : "");
    }
    out->dtype = x0->dtype;
    if (stack) {
        if (x0->ndim + 1 > PG_MAX_DIMS)
            return pg__fail(PG_ERR_SHAPE, "stack: the result would have more than %d dims", PG_MAX_DIMS);
        out->ndim = x0->ndim + 1;
        for (int d = 0, s = 0; d < out->ndim; d++) out->shape[d] = d == axis ? n : x0->shape[s++];
    } else {
        *out = (pg_meta){.dtype = x0->dtype, .ndim = x0->ndim};
        memcpy(out->shape, x0->shape, sizeof out->shape);
        int64_t tot = 0;
        for (int k = 0; k < n; k++)
            if (__builtin_add_overflow(tot, xs[k]->shape[axis], &tot))
                return pg__fail(PG_ERR_MEMORY, "%s: the result's dimension %d is too large", op, axis);
        out->shape[axis] = tot;
    }
    return PG_OK;
}

static pg_status cat_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    return pg__cat_check(pg_optable[p->op]->name, in, n_in, p->axis.axis, p->op == PG_OP_STACK, out);
}

/* w_k of input k: prod(shape[axis:]) (for stack, axis is where the new dim goes) */
static int64_t pg__cat_width(const pg_meta *m, int axis) { return pg__numel(m->ndim - axis, m->shape + axis); }

static pg_status cat_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    int axis = p->axis.axis;
    if (out->numel == 0) return PG_OK; /* outer may still be huge: (2^31, 2^31, 0) */
    pg_meta m0;
    pg__meta_of(&m0, in[0]);
    int64_t outer = pg__outer(&m0, axis);
    size_t es = pg__dtype_size(out->dtype);
    int64_t total = outer ? out->numel / outer : 0;
    int64_t col = 0;
    pg_unlocked u = pg__unlock_host(out->numel);
    for (int k = 0; k < n_in; k++) {
        pg_meta m;
        pg__meta_of(&m, in[k]);
        int64_t w = pg__cat_width(&m, axis);
        for (int64_t o = 0; o < outer; o++)
            memcpy((char *)out->data + (size_t)(o * total + col) * es, (char *)in[k]->data + (size_t)(o * w) * es,
                   (size_t)w * es);
        col += w;
    }
    pg__relock_host(u);
    return PG_OK;
}

static pg_status cat_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    int axis = n->p.axis.axis;
    int64_t outer = pg__outer(&n->edges[0].meta, axis);
    size_t es = pg__dtype_size(g->dtype);
    int64_t total = outer ? g->numel / outer : 0;
    int64_t col = 0;
    for (int k = 0; k < n->n_in; k++) {
        const pg_meta *m = &n->edges[k].meta;
        int64_t w = pg__cat_width(m, axis);
        if (pg__node_needs(n, k)) {
            pg_tensor *d = pg__tensor_new_like(m);
            if (!d) return PG_ERR_MEMORY;
            pg_unlocked u = pg__unlock_host(d->numel);
            for (int64_t o = 0; g->numel && o < outer; o++)
                memcpy((char *)d->data + (size_t)(o * w) * es, (const char *)g->data + (size_t)(o * total + col) * es,
                       (size_t)w * es);
            pg__relock_host(u);
            dx[k] = d;
        }
        col += w;
    }
    return PG_OK;
}

static pg_tensor *pg__cat(int op, pg_tensor **xs, int n, int axis) {
    const char *name = pg_optable[op]->name;
    if (n < 1 || !xs) {
        pg__fail(PG_ERR_VALUE, "%s: need at least one tensor", name);
        return NULL;
    }
    for (int k = 0; k < n; k++)
        if (pg__check_tensor(name, xs[k])) return NULL;
    int nd = xs[0]->ndim + (op == PG_OP_STACK);
    if (op == PG_OP_CONCATENATE && xs[0]->ndim == 0) {
        pg__fail(PG_ERR_SHAPE, "concatenate: zero-dimensional tensors cannot be concatenated (use stack)");
        return NULL;
    }
    if (axis < -nd || axis >= nd) {
        pg__fail(PG_ERR_SHAPE, "%s: axis %d is out of range for %d dims", name, axis, nd);
        return NULL;
    }
    pg_params p = {0};
    p.axis.axis = axis < 0 ? axis + nd : axis;
    return pg__apply(op, xs, n, &p);
}

pg_tensor *pg_concatenate(pg_tensor **xs, int n, int axis) { return pg__cat(PG_OP_CONCATENATE, xs, n, axis); }
pg_tensor *pg_stack(pg_tensor **xs, int n, int axis) { return pg__cat(PG_OP_STACK, xs, n, axis); }


/* ---- index_map: y[i_0, ..., i_{n-1}] = x[map_0[i_0], ..., map_{n-1}[i_{n-1}]], one index
 * vector per dim (maps: map_0 then map_1 ..., shape[d] entries each, in [0, x.shape[d]));
 * dx[map_0[i_0], ...] += g[i_0, ...] (indices may repeat: expand, repeat, pad). ---- */

/* modes: copy by element size; add g into dx by float type; put g into dx (each element of dx is written
 * exactly once: the maps are permutations, as flip's and roll's); write the flat offsets */
enum { PG_IMAP_COPY1, PG_IMAP_COPY4, PG_IMAP_COPY8, PG_IMAP_ADD32, PG_IMAP_ADD64, PG_IMAP_PUT32, PG_IMAP_PUT64,
       PG_IMAP_OFFSETS };

/* src[d][i] = maps[d][i] * (x's element stride of dim d): [sum(shape)] */
static int64_t *pg__imap_src(const pg_meta *xm, const int64_t *oshape, const int64_t *maps) {
    int64_t xs[PG_MAX_DIMS], total = 0;
    pg__strides(xm->ndim, xm->shape, xs);
    for (int d = 0; d < xm->ndim; d++) total += oshape[d];
    int64_t *src = malloc(sizeof(int64_t) * (size_t)(total ? total : 1));
    if (!src) return NULL;
    for (int d = 0, k = 0; d < xm->ndim; d++)
        for (int64_t i = 0; i < oshape[d]; i++, k++) src[k] = maps[k] * xs[d];
    return src;
}

/* The shape of the inner map src_last (x offsets of a row's elements): runs (src_last[j + 1] =
 * src_last[j] + 1 within each, as clone, expand of outer dims, repeat, roll and pad's middle give; at
 * least PG_IMAP_RUN_MIN elements a run on average), one element repeated (expand or repeat of the last
 * dim's single element), one run backwards (src_last[j] = src_last[0] - j: flip of the last dim), or none
 * of these (a gather) */
enum { PG_IMAP_GATHER, PG_IMAP_RUNS, PG_IMAP_SAME, PG_IMAP_REV };
#define PG_IMAP_RUN_MIN 8

/* the runs of last[0 .. inner): run k starts at element seg[2k] and has seg[2k + 1] elements, read from
 * last[seg[2k]] on; their count, or -1 if there are more than inner / PG_IMAP_RUN_MIN (seg holds that many) */
static int64_t pg__imap_runs(const int64_t *last, int64_t inner, int64_t *seg) {
    int64_t n = 0, cap = inner / PG_IMAP_RUN_MIN;
    for (int64_t j = 0; j < inner;) {
        int64_t e = j + 1;
        while (e < inner && last[e] == last[e - 1] + 1) e++;
        if (n == cap) return -1;
        seg[2 * n] = j;
        seg[2 * n + 1] = e - j;
        n++;
        j = e;
    }
    return n;
}

static bool pg__imap_same(const int64_t *last, int64_t inner) {
    for (int64_t j = 1; j < inner; j++)
        if (last[j] != last[0]) return false;
    return inner > 1;
}

static bool pg__imap_rev(const int64_t *last, int64_t inner) {
    for (int64_t j = 1; j < inner; j++)
        if (last[j] != last[0] - j) return false;
    return inner > 1;
}

typedef struct pg_imap_job {
    char *y, *x;
    const pg_meta *om;
    const int64_t *dsrc[PG_MAX_DIMS];
    const int64_t *seg; /* PG_IMAP_RUNS: the runs (pg__imap_runs) */
    int64_t inner, nseg;
    int mode, kind;
} pg_imap_job;

/* One row's copy (T by element size) into o from x (o, x at the row's start and base), or its adds into
 * dx from g (T: float or double): a run is one copy or one add, a repeated element one fill or one sum in
 * the elements' order (the same result as one at a time), anything else one element at a time */
#define PG_IMAP_COPY_ROW(T, SUF)                                                                            \
    static void pg__imap_copy_##SUF(const pg_imap_job *q, T *o, const T *x, const int64_t *last) {          \
        const int64_t n = q->inner, ns = q->nseg; /* locals: the stores below may alias q (no strict aliasing) */ \
        if (q->kind == PG_IMAP_RUNS) {                                                                      \
            for (int64_t k = 0; k < ns; k++) { /* a loop, not memcpy: rep movsb ran 6x slower */            \
                int64_t j = q->seg[2 * k], len = q->seg[2 * k + 1]; /* when o and x differ in alignment */  \
                T *restrict d = o + j;                                                                      \
                const T *restrict s = x + last[j];                                                          \
                for (int64_t i = 0; i < len; i++) d[i] = s[i];                                              \
            }                                                                                               \
        } else if (q->kind == PG_IMAP_SAME) {                                                               \
            T v = x[last[0]];                                                                               \
            for (int64_t j = 0; j < n; j++) o[j] = v;                                                       \
        } else if (q->kind == PG_IMAP_REV) {                                                                \
            T *restrict d = o;                                                                              \
            const T *restrict s = x + last[0];                                                              \
            for (int64_t j = 0; j < n; j++) d[j] = s[-j];                                                   \
        } else {                                                                                            \
            for (int64_t j = 0; j < n; j++) o[j] = x[last[j]];                                              \
        }                                                                                                   \
    }
/* OP: += (add) or = (put: every element of dx written once, so dx need not be zeroed first) */
#define PG_IMAP_ADD_ROW(T, SUF, OP)                                                                         \
    static void pg__imap_##SUF(const pg_imap_job *q, T *dx, const T *g, const int64_t *last) {              \
        const int64_t n = q->inner, ns = q->nseg;                                                           \
        if (q->kind == PG_IMAP_RUNS) {                                                                      \
            for (int64_t k = 0; k < ns; k++) {                                                              \
                int64_t j = q->seg[2 * k], len = q->seg[2 * k + 1];                                         \
                T *restrict d = dx + last[j];                                                               \
                const T *restrict s = g + j;                                                                \
                for (int64_t i = 0; i < len; i++) d[i] OP s[i];                                             \
            }                                                                                               \
        } else if (q->kind == PG_IMAP_SAME) { /* never put: its elements repeat */                          \
            T acc = dx[last[0]];                                                                            \
            for (int64_t j = 0; j < n; j++) acc += g[j];                                                    \
            dx[last[0]] = acc;                                                                              \
        } else if (q->kind == PG_IMAP_REV) {                                                                \
            T *restrict d = dx + last[0];                                                                   \
            const T *restrict s = g;                                                                        \
            for (int64_t j = 0; j < n; j++) d[-j] OP s[j];                                                  \
        } else {                                                                                            \
            for (int64_t j = 0; j < n; j++) dx[last[j]] OP g[j];                                            \
        }                                                                                                   \
    }
PG_IMAP_COPY_ROW(uint8_t, 1)
PG_IMAP_COPY_ROW(uint32_t, 4)
PG_IMAP_COPY_ROW(uint64_t, 8)
PG_IMAP_ADD_ROW(float, add_f32, +=)
PG_IMAP_ADD_ROW(double, add_f64, +=)
PG_IMAP_ADD_ROW(float, put_f32, =)
PG_IMAP_ADD_ROW(double, put_f64, =)

/* rows [r0, r1) of y: element j of a row reads x at base + src_last[j] (mode: copy by element size, add
 * into dx by float type (backward: y is g, read, and x is dx), or write the flat offsets) */
static void pg__imap_rows(void *ctx, int64_t r0, int64_t r1) {
    const pg_imap_job *q = ctx;
    int nd = q->om->ndim;
    int64_t inner = q->inner, idx[PG_MAX_DIMS] = {0};
    static const int64_t zero = 0;
    const int64_t *last = nd ? q->dsrc[nd - 1] : &zero;
    for (int64_t d = nd - 2, r = r0; d >= 0; d--) { /* the odometer at row r0 */
        idx[d] = r % q->om->shape[d];
        r /= q->om->shape[d];
    }
    char *y = q->y, *x = q->x;
    for (int64_t r = r0; r < r1; r++) {
        int64_t base = 0;
        for (int d = 0; d < nd - 1; d++) base += q->dsrc[d][idx[d]];
        int64_t at = r * inner;
        switch (q->mode) {
        case PG_IMAP_COPY1: pg__imap_copy_1(q, (uint8_t *)y + at, (const uint8_t *)x + base, last); break;
        case PG_IMAP_COPY4: pg__imap_copy_4(q, (uint32_t *)y + at, (const uint32_t *)x + base, last); break;
        case PG_IMAP_COPY8: pg__imap_copy_8(q, (uint64_t *)y + at, (const uint64_t *)x + base, last); break;
        case PG_IMAP_ADD32: pg__imap_add_f32(q, (float *)x + base, (const float *)y + at, last); break;
        case PG_IMAP_ADD64: pg__imap_add_f64(q, (double *)x + base, (const double *)y + at, last); break;
        case PG_IMAP_PUT32: pg__imap_put_f32(q, (float *)x + base, (const float *)y + at, last); break;
        case PG_IMAP_PUT64: pg__imap_put_f64(q, (double *)x + base, (const double *)y + at, last); break;
        default: for (int64_t j = 0; j < inner; j++) ((int64_t *)y)[at + j] = base + last[j];
        }
        for (int d = nd - 2; d >= 0; d--) { /* odometer over the outer dims */
            if (++idx[d] < q->om->shape[d]) break;
            idx[d] = 0;
        }
    }
}

/* walks y row by row (pg__imap_rows); the copies on several threads (rows are disjoint in y), the adds
 * and puts into dx too when no two elements of y come from one of x (disjoint: each map's indices are
 * distinct), else on one (indices may repeat across rows: the adds stay in y's order) */
static void pg__imap_run(char *y, char *x, const pg_meta *om, const int64_t *src, int mode, bool disjoint) {
    int nd = om->ndim;
    int64_t n = pg__numel(nd, om->shape);
    if (n == 0) return;
    pg_imap_job q = {.y = y, .x = x, .om = om, .mode = mode, .inner = nd ? om->shape[nd - 1] : 1};
    for (int d = 0, k = 0; d < nd; k += om->shape[d], d++) q.dsrc[d] = src + k;
    int64_t *seg = NULL;
    q.kind = PG_IMAP_GATHER;
    if (nd && pg__imap_same(q.dsrc[nd - 1], q.inner)) {
        q.kind = PG_IMAP_SAME;
    } else if (nd && pg__imap_rev(q.dsrc[nd - 1], q.inner)) {
        q.kind = PG_IMAP_REV;
    } else if (nd && q.inner >= PG_IMAP_RUN_MIN && (seg = malloc(sizeof(int64_t) * 2 * (size_t)(q.inner / PG_IMAP_RUN_MIN)))) {
        q.nseg = pg__imap_runs(q.dsrc[nd - 1], q.inner, seg);
        q.seg = seg;
        if (q.nseg > 0) q.kind = PG_IMAP_RUNS;
    }
    int64_t rows = n / q.inner;
    if (mode <= PG_IMAP_COPY8 || (disjoint && mode != PG_IMAP_OFFSETS)) {
        int64_t grain = PG_NDITER_GRAIN / q.inner;
        pg__parallel_range(rows, 1, grain > 1 ? grain : 1, pg__imap_rows, &q);
    } else {
        pg__imap_rows(&q, 0, rows);
    }
    free(seg);
}

static pg_status imap_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    char b1[PG_SHAPE_BUF], b2[PG_SHAPE_BUF];
    if (p->shape.ndim != x->ndim)
        return pg__fail(PG_ERR_SHAPE, "index_map: got %d index vectors for a tensor of shape %s", p->shape.ndim,
                        pg__shape_str(x->ndim, x->shape, b1, sizeof b1));
    *out = (pg_meta){.dtype = x->dtype, .ndim = p->shape.ndim};
    memcpy(out->shape, p->shape.dims, sizeof out->shape);
    int64_t n = 1;
    for (int d = 0; d < out->ndim; d++) {
        if (out->shape[d] < 0) return pg__fail(PG_ERR_SHAPE, "index_map: negative dimension in the result shape");
        if (__builtin_mul_overflow(n, out->shape[d], &n) || (uint64_t)n > PG_MAX_BYTES / pg__dtype_size(x->dtype))
            return pg__fail(PG_ERR_MEMORY, "index_map: the result's shape %s is too large",
                            pg__shape_str(out->ndim, out->shape, b1, sizeof b1));
    }
    if (p->n_offsets > 0 && !p->offsets) return pg__fail(PG_ERR_VALUE, "index_map: index pointer is NULL");
    for (int d = 0, k = 0; d < out->ndim; d++)
        for (int64_t i = 0; i < out->shape[d]; i++, k++)
            if (p->offsets[k] < 0 || p->offsets[k] >= x->shape[d])
                return pg__fail(PG_ERR_INDEX, "index_map: index %lld is out of range for dim %d of a tensor of shape %s "
                                "(result shape %s)", (long long)p->offsets[k], d,
                                pg__shape_str(x->ndim, x->shape, b1, sizeof b1),
                                pg__shape_str(out->ndim, out->shape, b2, sizeof b2));
    return PG_OK;
}

static pg_status imap_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg_meta xm, om;
    pg__meta_of(&xm, in[0]);
    pg__meta_of(&om, out);
    int64_t *src = pg__imap_src(&xm, om.shape, p->offsets);
    if (!src) return pg__fail(PG_ERR_MEMORY, "index_map: out of memory");
    size_t es = pg__dtype_size(out->dtype);
    pg_unlocked u = pg__unlock_host(out->numel);
    pg__imap_run(out->data, in[0]->data, &om, src, es == 1 ? PG_IMAP_COPY1 : es == 4 ? PG_IMAP_COPY4 : PG_IMAP_COPY8, false);
    pg__relock_host(u);
    free(src);
    return PG_OK;
}

/* Whether the maps (shape[d] indices each, into dims of size xshape[d]) have distinct indices in every
 * dim (so no two elements of y read one of x), and whether each is a permutation (every element of x read
 * once); -1 without memory */
static int pg__imap_distinct(const int64_t *maps, int nd, const int64_t *shape, const int64_t *xshape, bool *perm) {
    int64_t most = 0;
    for (int d = 0; d < nd; d++) most = xshape[d] > most ? xshape[d] : most;
    uint8_t *seen = malloc((size_t)(most ? most : 1));
    if (!seen) return -1;
    bool distinct = true;
    *perm = true;
    for (int d = 0; d < nd && distinct; maps += shape[d], d++) {
        memset(seen, 0, (size_t)xshape[d]);
        for (int64_t i = 0; i < shape[d] && distinct; i++) {
            distinct = !seen[maps[i]];
            seen[maps[i]] = 1;
        }
        *perm &= shape[d] == xshape[d];
    }
    free(seen);
    *perm &= distinct;
    return distinct;
}

static pg_status imap_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    const pg_meta *xm = &n->edges[0].meta;
    bool perm = false;
    int distinct = pg__imap_distinct(n->p.offsets, xm->ndim, n->out_meta.shape, xm->shape, &perm);
    pg_tensor *d = distinct < 0 ? NULL : perm ? pg__tensor_new_like(xm) : pg__tensor_zeros_like(xm);
    int64_t *src = d ? pg__imap_src(xm, n->out_meta.shape, n->p.offsets) : NULL;
    if (!src) {
        pg_tensor_release(d);
        return pg__fail(PG_ERR_MEMORY, "index_map backward: out of memory");
    }
    bool f64 = g->dtype == PG_DTYPE_F64;
    int mode = perm ? (f64 ? PG_IMAP_PUT64 : PG_IMAP_PUT32) : (f64 ? PG_IMAP_ADD64 : PG_IMAP_ADD32);
    pg_unlocked u = pg__unlock_host(g->numel);
    pg__imap_run(g->data, d->data, &n->out_meta, src, mode, distinct > 0);
    pg__relock_host(u);
    free(src);
    dx[0] = d;
    return PG_OK;
}

pg_tensor *pg_index_map(pg_tensor *x, int ndim, const int64_t *shape, const int64_t *maps) {
    if (pg__check_tensor("index_map", x)) return NULL;
    if (ndim < 0 || ndim > PG_MAX_DIMS || (ndim && !shape)) {
        pg__fail(PG_ERR_SHAPE, "index_map: got %d index vectors (0 to %d supported)", ndim, PG_MAX_DIMS);
        return NULL;
    }
    pg_params p = {0};
    p.shape.ndim = ndim;
    if (ndim) memcpy(p.shape.dims, shape, sizeof(int64_t) * (size_t)ndim);
    int64_t total = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0 || __builtin_add_overflow(total, shape[d], &total)) {
            pg__fail(PG_ERR_SHAPE, "index_map: negative dimension in the result shape");
            return NULL;
        }
    }
    p.offsets = maps;
    p.n_offsets = total; /* one index per result position of each dim */
    return pg__apply(PG_OP_INDEX_MAP, &x, 1, &p);
}

/* index_map: its adjoint, a scatter-add at the flat offsets it read (whose own rule gathers) */
static pg_status imap_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    const pg_meta *xm = &n->edges[0].meta;
    int64_t *src = pg__imap_src(xm, n->out_meta.shape, n->p.offsets);
    int64_t *off = malloc(sizeof(int64_t) * (size_t)(g->numel ? g->numel : 1));
    if (!src || !off) {
        free(src);
        free(off);
        return pg__fail(PG_ERR_MEMORY, "index_map: out of memory");
    }
    pg__imap_run((char *)off, NULL, &n->out_meta, src, PG_IMAP_OFFSETS, false);
    dx[0] = pg_scatter_add(g, xm->ndim, xm->shape, off);
    free(src);
    free(off);
    return dx[0] ? PG_OK : pg_last_status();
}

/* ---- differentiable rules (create_graph) ---- */

/* reshape, permute: the inverse; getitem and scatter_add: each other (adjoints) */
static pg_status shape_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    const pg_meta *m = &n->edges[0].meta;
    switch (n->op) {
    case PG_OP_RESHAPE: dx[0] = pg_reshape(g, m->ndim, m->shape); break;
    case PG_OP_PERMUTE: {
        int inv[PG_MAX_DIMS];
        for (int d = 0; d < m->ndim; d++) inv[n->p.shape.dims[d]] = d;
        dx[0] = pg_permute(g, m->ndim, inv);
        break;
    }
    case PG_OP_GETITEM: dx[0] = pg_scatter_add(g, m->ndim, m->shape, n->p.offsets); break;
    default: /* scatter_add */ dx[0] = pg_gather(g, m->ndim, m->shape, n->p.offsets);
    }
    return dx[0] ? PG_OK : pg_last_status();
}

/* concatenate / stack: input k's gradient is its block of g, gathered */
static pg_status cat_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    int axis = n->p.axis.axis;
    int64_t outer = pg__numel(axis, n->edges[0].meta.shape);
    int64_t total = outer ? g->numel / outer : 0, col = 0;
    for (int k = 0; k < n->n_in; k++) {
        const pg_meta *m = &n->edges[k].meta;
        int64_t w = pg__numel(m->ndim - axis, m->shape + axis);
        if (pg__node_needs(n, k)) {
            int64_t cnt = outer * w;
            int64_t *off = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
            if (!off) return pg__fail(PG_ERR_MEMORY, "%s: out of memory", pg_optable[n->op]->name);
            for (int64_t o = 0; o < outer; o++)
                for (int64_t j = 0; j < w; j++) off[o * w + j] = o * total + col + j;
            dx[k] = pg_gather(g, m->ndim, m->shape, off);
            free(off);
            if (!dx[k]) return pg_last_status();
        }
        col += w;
    }
    return PG_OK;
}

PG_OPDEF(reshape, reshape_infer, NULL, reshape_backward, shape_rule);
PG_OPDEF(permute, permute_infer, permute_forward, permute_backward, shape_rule);
PG_OPDEF(getitem, gather_infer, gather_forward, gather_backward, shape_rule);
PG_OPDEF(scatter_add, scatter_infer, scatter_forward, scatter_backward, shape_rule);
PG_OPDEF(concatenate, cat_infer, cat_forward, cat_backward, cat_rule);
PG_OPDEF(stack, cat_infer, cat_forward, cat_backward, cat_rule);
PG_OPDEF(index_map, imap_infer, imap_forward, imap_backward, imap_rule);


/* ---- pad (constant mode): y[o] = x[o - lo] where every o_d - lo_d is in [0, x.shape[d]), else
 * value; lo_d < 0 crops. dx = g cropped back: dx[i] = g[i + lo], the same op with -lo and 0 (its
 * adjoint), so backward and the rule are this op again. ---- */

typedef struct pg_pad_job {
    char *y;                           /* [numel(ys)] */
    const char *x;                     /* [numel(xs)] */
    int ndim;
    const int64_t *ys, *xs, *lo;       /* [ndim] */
    int64_t xst[PG_MAX_DIMS];          /* x's element strides */
    int64_t inner;                     /* ys[ndim - 1] (1 for 0-d) */
    size_t es;
    uint64_t fill;                     /* the value's bytes (its low es bytes) */
} pg_pad_job;

/* a row of n elements of value (by element size), then the copy of n elements */
#define PG_PAD_ROWS(T, SUF)                                                                    \
    static void pg__pad_fill_##SUF(T *restrict o, int64_t n, uint64_t bits) {                  \
        T v;                                                                                   \
        memcpy(&v, &bits, sizeof v);                                                           \
        for (int64_t j = 0; j < n; j++) o[j] = v;                                              \
    }                                                                                          \
    static void pg__pad_copy_##SUF(T *restrict o, const T *restrict s, int64_t n) {            \
        for (int64_t j = 0; j < n; j++) o[j] = s[j];                                           \
    }
PG_PAD_ROWS(uint8_t, 1)
PG_PAD_ROWS(uint32_t, 4)
PG_PAD_ROWS(uint64_t, 8)

static void pg__pad_fill(const pg_pad_job *q, char *o, int64_t n) {
    if (n <= 0) return;
    if (q->es == 1) pg__pad_fill_1((uint8_t *)o, n, q->fill);
    else if (q->es == 4) pg__pad_fill_4((uint32_t *)o, n, q->fill);
    else pg__pad_fill_8((uint64_t *)o, n, q->fill);
}

static void pg__pad_copy(const pg_pad_job *q, char *o, const char *s, int64_t n) {
    if (n <= 0) return;
    if (q->es == 1) pg__pad_copy_1((uint8_t *)o, (const uint8_t *)s, n);
    else if (q->es == 4) pg__pad_copy_4((uint32_t *)o, (const uint32_t *)s, n);
    else pg__pad_copy_8((uint64_t *)o, (const uint64_t *)s, n);
}

/* rows [r0, r1) of y (a row: the last dim): all value where an outer index falls outside x, else value,
 * the row of x that lands inside, value */
static void pg__pad_rows(void *ctx, int64_t r0, int64_t r1) {
    const pg_pad_job *q = ctx;
    int nd = q->ndim, last = nd - 1;
    int64_t idx[PG_MAX_DIMS] = {0}, n = q->inner;
    for (int64_t d = nd - 2, r = r0; d >= 0; d--) { /* the odometer at row r0 */
        idx[d] = r % q->ys[d];
        r /= q->ys[d];
    }
    /* the last dim: y[j] = x[j - lo] for j in [a, b) */
    int64_t a = 0, b = n, lo_last = 0;
    if (nd) {
        lo_last = q->lo[last];
        a = lo_last > 0 ? lo_last : 0;
        b = lo_last + q->xs[last] < n ? lo_last + q->xs[last] : n;
        if (b < a) b = a;
    }
    for (int64_t r = r0; r < r1; r++) {
        char *o = q->y + (size_t)(r * n) * q->es;
        int64_t base = 0;
        bool inside = b > a;
        for (int d = 0; d < nd - 1 && inside; d++) {
            int64_t i = idx[d] - q->lo[d];
            inside = i >= 0 && i < q->xs[d];
            base += i * q->xst[d];
        }
        if (!inside) {
            pg__pad_fill(q, o, n);
        } else {
            pg__pad_fill(q, o, a);
            pg__pad_copy(q, o + (size_t)a * q->es, q->x + (size_t)(base + a - lo_last) * q->es, b - a);
            pg__pad_fill(q, o + (size_t)b * q->es, n - b);
        }
        for (int d = nd - 2; d >= 0; d--) { /* odometer over the outer dims */
            if (++idx[d] < q->ys[d]) break;
            idx[d] = 0;
        }
    }
}

/* the bytes of v in dtype dt (v representable there: the entry point converts it) */
static uint64_t pg__pad_bits(pg_dtype dt, double v) {
    uint64_t bits = 0;
    if (dt == PG_DTYPE_F32) {
        float f = (float)v;
        memcpy(&bits, &f, sizeof f);
    } else if (dt == PG_DTYPE_F64) {
        memcpy(&bits, &v, sizeof v);
    } else if (dt == PG_DTYPE_BOOL) {
        uint8_t c = v != 0;
        memcpy(&bits, &c, sizeof c);
    } else {
        int64_t i = v != v ? 0 : v >= 0x1p63 ? INT64_MAX : v < -0x1p63 ? INT64_MIN : (int64_t)v;
        if (dt == PG_DTYPE_I32) {
            int32_t k = (int32_t)(uint32_t)(uint64_t)i; /* int32's range wraps */
            memcpy(&bits, &k, sizeof k);
        } else {
            memcpy(&bits, &i, sizeof i);
        }
    }
    return bits;
}

/* y (shape ys) <- x (shape xs) shifted by lo, value elsewhere */
static void pg__pad_run(pg_tensor *y, const pg_tensor *x, const int64_t *lo, double value) {
    if (y->numel == 0) return;
    pg_pad_job q = {.y = y->data, .x = x->data, .ndim = y->ndim, .ys = y->shape, .xs = x->shape, .lo = lo,
                    .inner = y->ndim ? y->shape[y->ndim - 1] : 1, .es = pg__dtype_size(y->dtype),
                    .fill = pg__pad_bits(y->dtype, value)};
    pg__strides(x->ndim, x->shape, q.xst);
    int64_t rows = q.inner ? y->numel / q.inner : 0, grain = PG_NDITER_GRAIN / (q.inner ? q.inner : 1);
    pg_unlocked u = pg__unlock_host(y->numel);
    pg__parallel_range(rows, 1, grain > 1 ? grain : 1, pg__pad_rows, &q);
    pg__relock_host(u);
}

static pg_status pad_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    char b1[PG_SHAPE_BUF];
    if (p->pad.ndim != x->ndim)
        return pg__fail(PG_ERR_SHAPE, "pad: got pads for %d dims for a tensor of shape %s", p->pad.ndim,
                        pg__shape_str(x->ndim, x->shape, b1, sizeof b1));
    *out = (pg_meta){.dtype = x->dtype, .ndim = x->ndim};
    memcpy(out->shape, p->pad.dims, sizeof out->shape);
    int64_t n = 1;
    for (int d = 0; d < out->ndim; d++)
        if (__builtin_mul_overflow(n, out->shape[d], &n) || (uint64_t)n > PG_MAX_BYTES / pg__dtype_size(x->dtype))
            return pg__fail(PG_ERR_MEMORY, "pad: the result's shape %s is too large",
                            pg__shape_str(out->ndim, out->shape, b1, sizeof b1));
    return PG_OK;
}

static pg_status pad_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg__pad_run(out, in[0], p->pad.lo, p->pad.value);
    return PG_OK;
}

static pg_status pad_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return pg__fail(PG_ERR_MEMORY, "pad backward: out of memory");
    int64_t neg[PG_MAX_DIMS] = {0};
    for (int k = 0; k < n->p.pad.ndim; k++) neg[k] = -n->p.pad.lo[k];
    pg__pad_run(d, g, neg, 0.0); /* dx[i] = g[i + lo], 0 where i + lo falls in the padding's gap */
    dx[0] = d;
    return PG_OK;
}

pg_tensor *pg_pad(pg_tensor *x, const int64_t *lo, const int64_t *hi, double value) {
    if (pg__check_tensor("pad", x)) return NULL;
    if (x->ndim && (!lo || !hi)) {
        pg__fail(PG_ERR_VALUE, "pad: pad pointer is NULL");
        return NULL;
    }
    pg_params p = {0};
    p.pad.ndim = x->ndim;
    p.pad.value = value;
    char b[PG_SHAPE_BUF];
    for (int d = 0; d < x->ndim; d++) {
        int64_t l = lo[d], h = hi[d], n = x->shape[d];
        /* the pads are at most the largest tensor apart; beyond that (or cropping more than n) fails */
        const int64_t big = (int64_t)PG_MAX_BYTES;
        if (l > big || h > big || l < -n || h < -n || (l < 0 ? -l : 0) + (h < 0 ? -h : 0) > n) {
            pg__fail(l > big || h > big ? PG_ERR_MEMORY : PG_ERR_SHAPE,
                     "pad: pads (%lld, %lld) of dim %d do not fit a tensor of shape %s (negative pads crop at most "
                     "the dim's size in all)", (long long)l, (long long)h, d, pg__shape_str(x->ndim, x->shape, b, sizeof b));
            return NULL;
        }
        p.pad.lo[d] = l;
        p.pad.dims[d] = n + l + h;
    }
    return pg__apply(PG_OP_PAD, &x, 1, &p);
}

/* pad: the crop back, pad(g, -lo, -hi, 0) (its adjoint; itself linear) */
static pg_status pad_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    const pg_meta *xm = &n->edges[0].meta;
    int64_t lo[PG_MAX_DIMS] = {0}, hi[PG_MAX_DIMS] = {0};
    for (int d = 0; d < xm->ndim; d++) {
        lo[d] = -n->p.pad.lo[d];
        hi[d] = xm->shape[d] - n->out_meta.shape[d] - lo[d];
    }
    dx[0] = pg_pad(g, lo, hi, 0.0);
    return dx[0] ? PG_OK : pg_last_status();
}

PG_OPDEF(pad, pad_infer, pad_forward, pad_backward, pad_rule);


/* ---- tril / triu: x with the elements above / below diagonal k of its last two dims zeroed: tril keeps
 * x[..., i, j] for j - i <= k, triu for j - i >= k. Linear and self-adjoint: dx = tril(g) / triu(g). ---- */

typedef struct pg_tri_job {
    char *y;
    const char *x;                     /* [batch, R, C], y alike */
    int64_t rows, cols, k;             /* R, C; k clamped to [-R, C] */
    size_t es;
    bool upper;
} pg_tri_job;

/* rows [r0, r1) of the (batch·R) rows: row i keeps [0, i + k + 1) (tril) or [i + k, C) (triu) */
static void pg__tri_rows(void *ctx, int64_t r0, int64_t r1) {
    const pg_tri_job *q = ctx;
    for (int64_t r = r0; r < r1; r++) {
        int64_t i = r % q->rows, c = q->cols;
        int64_t edge = q->upper ? i + q->k : i + q->k + 1;
        edge = edge < 0 ? 0 : edge > c ? c : edge;
        int64_t keep0 = q->upper ? edge : 0, keep1 = q->upper ? c : edge; /* kept: [keep0, keep1) */
        char *o = q->y + (size_t)(r * c) * q->es;
        const char *s = q->x + (size_t)(r * c) * q->es;
        memset(o, 0, (size_t)keep0 * q->es); /* 0 is all zero bytes in every dtype */
        if (o != s) memcpy(o + (size_t)keep0 * q->es, s + (size_t)keep0 * q->es, (size_t)(keep1 - keep0) * q->es);
        memset(o + (size_t)keep1 * q->es, 0, (size_t)(c - keep1) * q->es);
    }
}

static void pg__tri_run(pg_tensor *y, const pg_tensor *x, int64_t k, bool upper) {
    if (y->numel == 0) return;
    pg_tri_job q = {.y = y->data, .x = x->data, .rows = x->shape[x->ndim - 2], .cols = x->shape[x->ndim - 1],
                    .k = k, .es = pg__dtype_size(x->dtype), .upper = upper};
    int64_t nrows = y->numel / q.cols, grain = PG_NDITER_GRAIN / q.cols;
    pg_unlocked u = pg__unlock_host(y->numel);
    pg__parallel_range(nrows, 1, grain > 1 ? grain : 1, pg__tri_rows, &q);
    pg__relock_host(u);
}

static pg_status tri_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    const pg_tensor *x = in[0];
    if (x->ndim < 2) {
        char b[PG_SHAPE_BUF];
        return pg__fail(PG_ERR_SHAPE, "%s: needs at least 2 dims, got shape %s", pg_optable[p->op]->name,
                        pg__shape_str(x->ndim, x->shape, b, sizeof b));
    }
    pg__meta_of(out, x);
    return PG_OK;
}

static pg_status tri_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    pg__tri_run(out, in[0], p->diagonal, p->op == PG_OP_TRIU);
    return PG_OK;
}

static pg_status tri_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    pg_tensor *d = pg__tensor_new_like(&n->edges[0].meta);
    if (!d) return pg__fail(PG_ERR_MEMORY, "%s backward: out of memory", pg_optable[n->op]->name);
    pg__tri_run(d, g, n->p.diagonal, n->op == PG_OP_TRIU);
    dx[0] = d;
    return PG_OK;
}

static pg_tensor *pg__tri(int op, pg_tensor *x, int64_t k) {
    if (pg__check_tensor(op == PG_OP_TRIU ? "triu" : "tril", x)) return NULL;
    pg_params p = {0};
    if (x->ndim >= 2) { /* beyond the matrix: all or nothing */
        int64_t r = x->shape[x->ndim - 2], c = x->shape[x->ndim - 1];
        k = k < -r ? -r : k > c ? c : k;
    }
    p.diagonal = k;
    return pg__apply(op, &x, 1, &p);
}

pg_tensor *pg_tril(pg_tensor *x, int64_t k) { return pg__tri(PG_OP_TRIL, x, k); }
pg_tensor *pg_triu(pg_tensor *x, int64_t k) { return pg__tri(PG_OP_TRIU, x, k); }

/* tril / triu: the same op on g (self-adjoint) */
static pg_status tri_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    dx[0] = pg__tri(n->op, g, n->p.diagonal);
    return dx[0] ? PG_OK : pg_last_status();
}

PG_OPDEF(tril, tri_infer, tri_forward, tri_backward, tri_rule);
PG_OPDEF(triu, tri_infer, tri_forward, tri_backward, tri_rule);
