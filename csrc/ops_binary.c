/* ops_binary.c: the broadcasting ops of two inputs (add, sub, mul, div, pow,
 * maximum, minimum) and where(cond, x, y). Each op is one block: its forward
 * row above its two backward rows (one PG_BINARY_ROWS line, for float32 and
 * float64), its differentiable rule (PG_BINARY_RULE), its entry point and its
 * row (PG_OPDEF). The ops share shape inference and the forward and backward
 * drivers (after the blocks): backward rows compute each input's gradient at
 * the output's shape; pg__sum_to then folds the broadcast dims back. */
#include "rules_util.h"

#include <string.h>

/* Forward row: o = EXPR(a, b). Backward rows: from g (same shape as out)
 * and the broadcast inputs. */

#define PG_ROW2(NAME, TT, EXPR)                                                   \
    PG_CLONES static void NAME(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        typedef TT T;                                                             \
        T *o = (T *)ptr[0];                                                       \
        const T *as = (const T *)ptr[1], *bs = (const T *)ptr[2];                 \
        int64_t sa = st[1], sb = st[2];                                           \
        (void)ctx;                                                                \
        if (sa == 1 && sb == 1) {                                                 \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                     \
                T a = as[i], b = bs[i];                                           \
                o[i] = (EXPR);                                                    \
            }                                                                     \
        } else if (sa == 1 && sb == 0) {                                          \
            const T b = bs[0];                                                    \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                     \
                T a = as[i];                                                      \
                o[i] = (EXPR);                                                    \
            }                                                                     \
        } else if (sa == 0 && sb == 1) {                                          \
            const T a = as[0];                                                    \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                                     \
                T b = bs[i];                                                      \
                o[i] = (EXPR);                                                    \
            }                                                                     \
        } else {                                                                  \
            for (int64_t i = 0; i < n; i++) {                                     \
                T a = as[i * sa], b = bs[i * sb];                                 \
                o[i] = (EXPR);                                                    \
            }                                                                     \
        }                                                                         \
    }

/* backward rows: operand 0 = result, 1 = g (stride of out), 2 = a, 3 = b */
#define PG_ROW3(NAME, TT, EXPR)                                                   \
    PG_CLONES static void NAME(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        typedef TT T;                                                             \
        T *o = (T *)ptr[0];                                                       \
        const T *gs = (const T *)ptr[1], *as = (const T *)ptr[2];                 \
        const T *bs = (const T *)ptr[3];                                          \
        (void)ctx;                                                                \
        if (st[1] == 1 && st[2] == 1 && st[3] == 1) {                             \
            PG_IVDEP for (int64_t i = 0; i < n; i++) {                            \
                T g = gs[i], a = as[i], b = bs[i];                                \
                (void)a, (void)b;                                                 \
                o[i] = (EXPR);                                                    \
            }                                                                     \
            return;                                                               \
        }                                                                         \
        for (int64_t i = 0; i < n; i++) {                                         \
            T g = gs[i * st[1]], a = as[i * st[2]], b = bs[i * st[3]];            \
            (void)a, (void)b;                                                     \
            o[i] = (EXPR);                                                        \
        }                                                                         \
    }

/* the same formulas on one element (pg_fuse_one): forward o = {out, a, b},
 * backward o = {dx, g, a, b} */
#define PG_ONE2(NAME, TT, EXPR)                                                   \
    static void NAME(char *w, const int32_t *o, int64_t n, const void *ctx) {     \
        typedef TT T;                                                             \
        (void)ctx;                                                                \
        for (int64_t j = 0; j < n; j++, o += 4) {                                 \
            T a = *(const T *)(w + o[1]), b = *(const T *)(w + o[2]);             \
            *(T *)(w + o[0]) = (EXPR);                                            \
        }                                                                         \
    }
#define PG_ONE3(NAME, TT, EXPR)                                                   \
    static void NAME(char *w, const int32_t *o, int64_t n, const void *ctx) {     \
        typedef TT T;                                                             \
        (void)ctx;                                                                \
        for (int64_t j = 0; j < n; j++, o += 4) {                                 \
            T g = *(const T *)(w + o[1]), a = *(const T *)(w + o[2]);             \
            T b = *(const T *)(w + o[3]);                                         \
            (void)a, (void)b;                                                     \
            *(T *)(w + o[0]) = (EXPR);                                            \
        }                                                                         \
    }

/* an op's rows without fused replay */
#define PG_BINARY_ROWS_ONLY(NAME, FWD, DA, DB) \
    PG_ROW2(NAME##_row_f32, float, FWD)   \
    PG_ROW2(NAME##_row_f64, double, FWD)  \
    PG_ROW3(NAME##_da_f32, float, DA)     \
    PG_ROW3(NAME##_da_f64, double, DA)    \
    PG_ROW3(NAME##_db_f32, float, DB)     \
    PG_ROW3(NAME##_db_f64, double, DB)
/* an op's rows and their one-element forms, for PG_BINARY_OPDEF */
#define PG_BINARY_ROWS(NAME, FWD, DA, DB)   \
    PG_BINARY_ROWS_ONLY(NAME, FWD, DA, DB)  \
    PG_ONE2(NAME##_one_f32, float, FWD)     \
    PG_ONE2(NAME##_one_f64, double, FWD)    \
    PG_ONE3(NAME##_oneda_f32, float, DA)    \
    PG_ONE3(NAME##_oneda_f64, double, DA)   \
    PG_ONE3(NAME##_onedb_f32, float, DB)    \
    PG_ONE3(NAME##_onedb_f64, double, DB)

/* the row of an op of PG_BINARY_ROWS, with its rows for fused replay: the
 * backward rows read ptr = {dx, g, a, b} as backward_rows does (strides 1) */
#define PG_BINARY_OPDEF(NAME, rule)                                                                       \
    static const pg_fuse NAME##_fuse = {{NAME##_row_f32, NAME##_row_f64},                                 \
                                        {{NAME##_da_f32, NAME##_da_f64}, {NAME##_db_f32, NAME##_db_f64}},  \
                                        {NAME##_one_f32, NAME##_one_f64},                                 \
                                        {{NAME##_oneda_f32, NAME##_oneda_f64}, {NAME##_onedb_f32, NAME##_onedb_f64}}}; \
    PG_OPDEF_FUSE(NAME, binary_infer, binary_forward, binary_backward, rule, &NAME##_fuse)

/* the drivers the rows share, defined after the blocks */
static pg_status binary_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p);
static pg_status binary_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p);
static pg_status binary_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n);
static pg_tensor *pg__binary_local(const pg_node *n, int i);

/* A broadcasting binary op's rule: for each input i that needs a gradient,
 * the body sets full, its gradient at the output's shape, from g, a, b and i
 * (TRY for temporaries); it is then summed back to input i's shape. */
#define PG_BINARY_RULE(NAME, ...)                                                   \
    static pg_status NAME##_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {  \
        pg_keep keep = {0};                                                         \
        pg_tensor *a = pg__saved_input(n, 0), *b = pg__saved_input(n, 1);           \
        (void)a, (void)b;                                                           \
        for (int i = 0; i < 2; i++) {                                               \
            if (!pg__node_needs(n, i)) continue;                                    \
            pg_tensor *full = NULL;                                                 \
            __VA_ARGS__                                                             \
            dx[i] = pg__sum_to_rec(full, &n->edges[i].meta);                        \
            if (!dx[i]) goto fail;                                                  \
        }                                                                           \
        pg__keep_free(&keep);                                                       \
        return PG_OK;                                                               \
    fail:                                                                           \
        pg__keep_free(&keep);                                                       \
        return pg__rule_status();                                                   \
    }

/* ---- the ops ---- */

/* add: z = a + b;  dz/da = dz/db = 1 */
PG_BINARY_ROWS(add, a + b, g, g)
PG_BINARY_RULE(add, full = g;)
pg_tensor *pg_add(pg_tensor *a, pg_tensor *b) { return pg__apply2(PG_OP_ADD, a, b); }
PG_BINARY_OPDEF(add, add_rule);

/* sub: z = a - b;  dz/da = 1, dz/db = -1 */
PG_BINARY_ROWS(sub, a - b, g, -g)
PG_BINARY_RULE(sub,
               if (i == 0) {
                   full = g;
               } else {
                   TRY(t, pg__r1(PG_OP_NEG, g, 0.0));
                   full = t;
               })
pg_tensor *pg_sub(pg_tensor *a, pg_tensor *b) { return pg__apply2(PG_OP_SUB, a, b); }
PG_BINARY_OPDEF(sub, sub_rule);

/* mul: z = a b;  "mul switches": dz/da = b, dz/db = a */
PG_BINARY_ROWS(mul, a *b, g *b, g *a)
PG_BINARY_RULE(mul,
               TRY(t, pg_mul(g, i == 0 ? b : a));
               full = t;)
pg_tensor *pg_mul(pg_tensor *a, pg_tensor *b) { return pg__apply2(PG_OP_MUL, a, b); }
PG_BINARY_OPDEF(mul, mul_rule);

/* div: z = a / b;  dz/da = 1/b, dz/db = -a/b^2 */
PG_BINARY_ROWS(div, a / b, g / b, -g * a / (b * b))
PG_BINARY_RULE(div,
               if (i == 0) {
                   TRY(t, pg_div(g, b));
                   full = t;
               } else {
                   TRY(ga, pg_mul(g, a));
                   TRY(bb, pg_mul(b, b));
                   TRY(q, pg_div(ga, bb));
                   TRY(t, pg__r1(PG_OP_NEG, q, 0.0));
                   full = t;
               })
pg_tensor *pg_div(pg_tensor *a, pg_tensor *b) { return pg__apply2(PG_OP_DIV, a, b); }
PG_BINARY_OPDEF(div, div_rule);

/* pow: z = a^b;  dz/da = b a^(b-1), 0 where b == 0 (a^0 is 1 everywhere, also at a = 0);
 * dz/db = a^b log a, 0 where a == 0 and b >= 0 (0^b is 0 or 1 there); at a == 0, b < 0
 * it is inf * -inf = -inf, the limit. PyTorch's rules. */
PG_BINARY_ROWS(pow, PG_POW(a, b), b == 0 ? (T)0 : g * b * PG_POW(a, b - (T)1),
               (a == 0 && b >= 0) ? (T)0 : g * PG_POW(a, b) * PG_LOG(a))
PG_BINARY_RULE(pow,
               TRY(z, pg__scalar(g->dtype, 0.0));
               if (i == 0) {
                   TRY(e, pg__r1(PG_OP_ADD_SCALAR, b, -1.0));
                   TRY(p, pg_pow(a, e));
                   TRY(gb, pg_mul(g, b));
                   TRY(t, pg_mul(gb, p));
                   TRY(b0, pg_compare_scalar(b, 0.0, PG_CMP_EQ));
                   TRY(w, pg_where(b0, z, t));
                   full = w;
               } else {
                   TRY(y, pg_pow(a, b));
                   TRY(l, pg__r1(PG_OP_LOG, a, 0.0));
                   TRY(gy, pg_mul(g, y));
                   TRY(t, pg_mul(gy, l));
                   TRY(a0, pg_compare_scalar(a, 0.0, PG_CMP_EQ));
                   TRY(bneg, pg_compare_scalar(b, 0.0, PG_CMP_LT));
                   TRY(edge, pg_where(bneg, t, z)); /* a == 0: -inf for b < 0, else 0 */
                   TRY(w, pg_where(a0, edge, t));
                   full = w;
               })
pg_tensor *pg_pow(pg_tensor *a, pg_tensor *b) { return pg__apply2(PG_OP_POW, a, b); }
PG_BINARY_OPDEF(pow, pow_rule);

/* maximum and minimum: their rule routes g with a constant mask (the numeric local derivative) */
PG_BINARY_RULE(route,
               TRY(mask, pg__binary_local(n, i));
               TRY(t, pg_mul(g, mask));
               full = t;)

/* maximum: z = max(a, b), NaN if either is (numpy's rule);  "max routes": the larger input gets g,
 * ties split it, a NaN sends nothing */
PG_BINARY_ROWS(maximum, (a > b || isnan(a)) ? a : ((b > a || isnan(b)) ? b : a),
               a > b ? g : (a == b ? g * (T)0.5 : (T)0), b > a ? g : (a == b ? g * (T)0.5 : (T)0))
pg_tensor *pg_maximum(pg_tensor *a, pg_tensor *b) { return pg__apply2(PG_OP_MAXIMUM, a, b); }
PG_BINARY_OPDEF(maximum, route_rule);

/* minimum: z = min(a, b), NaN if either is */
PG_BINARY_ROWS(minimum, (a < b || isnan(a)) ? a : ((b < a || isnan(b)) ? b : a),
               a < b ? g : (a == b ? g * (T)0.5 : (T)0), b < a ? g : (a == b ? g * (T)0.5 : (T)0))
pg_tensor *pg_minimum(pg_tensor *a, pg_tensor *b) { return pg__apply2(PG_OP_MINIMUM, a, b); }
PG_BINARY_OPDEF(minimum, route_rule);

/* atan2: z = atan2(a, b);  dz/da = b / (a^2 + b^2), dz/db = -a / (a^2 + b^2) */
PG_BINARY_ROWS(atan2, PG_ATAN2(a, b), g * b / (a * a + b * b), -g * a / (a * a + b * b))
PG_BINARY_RULE(atan2,
               TRY(aa, pg_mul(a, a));
               TRY(bb, pg_mul(b, b));
               TRY(r2, pg_add(aa, bb));
               TRY(gv, pg_mul(g, i == 0 ? b : a));
               TRY(q, pg_div(gv, r2));
               if (i == 0) {
                   full = q;
               } else {
                   TRY(nq, pg__r1(PG_OP_NEG, q, 0.0));
                   full = nq;
               })
pg_tensor *pg_atan2(pg_tensor *a, pg_tensor *b) { return pg__apply2(PG_OP_ATAN2, a, b); }
PG_BINARY_OPDEF(atan2, atan2_rule);

/* fmod: z = a - trunc(a/b) b (C's fmod: the sign of a);  dz/da = 1, dz/db = -trunc(a/b) */
PG_BINARY_ROWS(fmod, PG_FMOD(a, b), g, -g * PG_TRUNC(a / b))
PG_BINARY_RULE(fmod,
               if (i == 0) {
                   full = g;
               } else {
                   TRY(q, pg_div(a, b));
                   TRY(t, pg__r1(PG_OP_TRUNC, q, 0.0)); /* through the tape: ops_math calls this file */
                   TRY(gt, pg_mul(g, t));
                   TRY(n_, pg__r1(PG_OP_NEG, gt, 0.0));
                   full = n_;
               })
pg_tensor *pg_fmod(pg_tensor *a, pg_tensor *b) { return pg__apply2(PG_OP_FMOD, a, b); }
PG_BINARY_OPDEF(fmod, fmod_rule);

/* remainder: z = a - floor_divide(a, b) b (Python's %: the sign of b);
 * dz/da = 1, dz/db = -floor_divide(a, b) */
PG_BINARY_ROWS(remainder, PG_REMAINDER(a, b), g, -g * PG_FLOORDIV(a, b))
PG_BINARY_RULE(remainder,
               if (i == 0) {
                   full = g;
               } else {
                   TRY(q, pg_floor_divide(a, b));
                   TRY(gq, pg_mul(g, q));
                   TRY(n_, pg__r1(PG_OP_NEG, gq, 0.0));
                   full = n_;
               })
pg_tensor *pg_remainder(pg_tensor *a, pg_tensor *b) { return pg__apply2(PG_OP_REMAINDER, a, b); }
PG_BINARY_OPDEF(remainder, remainder_rule);

/* floor_divide: z = floor(a / b) (numpy's floor division: the quotient of
 * remainder's identity a = b z + remainder);  piecewise constant: zero gradients */
PG_BINARY_ROWS_ONLY(floor_divide, PG_FLOORDIV(a, b), (T)0 * g, (T)0 * g)
PG_BINARY_RULE(floor_divide,
               (void)g;
               TRY(z, pg__tensor_zeros_like(&n->out_meta));
               full = z;)
pg_tensor *pg_floor_divide(pg_tensor *a, pg_tensor *b) { return pg__apply2(PG_OP_FLOOR_DIVIDE, a, b); }
PG_OPDEF(floor_divide, binary_infer, binary_forward, binary_backward, floor_divide_rule);

/* ---- integer and bool forward rows (never recorded: no backward) ----
 * Integer arithmetic wraps around (two's complement, as in PyTorch and
 * numpy), computed in unsigned so that overflow is defined. pow: b < 0 gives
 * the truncated 1 / a^|b| (1 for a = 1, +-1 for a = -1, else 0). Bool: add and
 * maximum are or, mul and minimum are and (PyTorch's rules). */
static inline int64_t pg__ipow(int64_t a, int64_t b) {
    if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
    uint64_t r = 1, base = (uint64_t)a;
    while (b) {
        if (b & 1) r *= base;
        base *= base;
        b >>= 1;
    }
    return (int64_t)r;
}
#define PG_INT_ROWS(NAME, EXPR)              \
    PG_ROW2(NAME##_row_i32, int32_t, EXPR)   \
    PG_ROW2(NAME##_row_i64, int64_t, EXPR)
PG_INT_ROWS(add, (T)((uint64_t)a + (uint64_t)b))
PG_INT_ROWS(sub, (T)((uint64_t)a - (uint64_t)b))
PG_INT_ROWS(mul, (T)((uint64_t)a * (uint64_t)b))
PG_INT_ROWS(pow, (T)pg__ipow(a, b))
PG_INT_ROWS(maximum, a > b ? a : b)
PG_INT_ROWS(minimum, a < b ? a : b)
/* integer division (a zero divisor is refused before the rows run; b = -1
 * is its own case: INT_MIN / -1 overflows) */
static inline int64_t pg__ifmod(int64_t a, int64_t b) { return b == -1 ? 0 : a % b; }
static inline int64_t pg__iremainder(int64_t a, int64_t b) {
    int64_t r = pg__ifmod(a, b);
    return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
static inline int64_t pg__ifloordiv(int64_t a, int64_t b) {
    if (b == -1) return (int64_t)(0 - (uint64_t)a);
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
PG_INT_ROWS(fmod, (T)pg__ifmod(a, b))
PG_INT_ROWS(remainder, (T)pg__iremainder(a, b))
PG_INT_ROWS(floor_divide, (T)pg__ifloordiv(a, b))
PG_ROW2(or_row_b8, uint8_t, (uint8_t)(a | b))
PG_ROW2(and_row_b8, uint8_t, (uint8_t)(a & b))

/* ---- the drivers the rows share ---- */

typedef struct pg_binrows {
    pg_row_fn fwd[2], da[2], db[2]; /* [0]: float32, [1]: float64 */
    pg_row_fn ifwd[2];              /* [0]: int32, [1]: int64; NULL: float only */
    pg_row_fn bfwd;                 /* bool; NULL: no bool rows */
} pg_binrows;

#define PG_BINROWS(NAME, I32, I64, B8)                                                             \
    {{NAME##_row_f32, NAME##_row_f64}, {NAME##_da_f32, NAME##_da_f64}, {NAME##_db_f32, NAME##_db_f64}, \
     {I32, I64}, B8}
#define PG_BINROWS_INT(NAME, B8) PG_BINROWS(NAME, NAME##_row_i32, NAME##_row_i64, B8)

static const pg_binrows pg_binary_rows[] = {
    PG_BINROWS_INT(add, or_row_b8), PG_BINROWS_INT(sub, NULL),     PG_BINROWS_INT(mul, and_row_b8),
    PG_BINROWS(div, NULL, NULL, NULL), PG_BINROWS_INT(pow, NULL), PG_BINROWS_INT(maximum, or_row_b8),
    PG_BINROWS_INT(minimum, and_row_b8), PG_BINROWS(atan2, NULL, NULL, NULL), PG_BINROWS_INT(fmod, NULL),
    PG_BINROWS_INT(remainder, NULL), PG_BINROWS_INT(floor_divide, NULL),
};
enum {
    PG_B_ADD, PG_B_SUB, PG_B_MUL, PG_B_DIV, PG_B_POW, PG_B_MAXIMUM, PG_B_MINIMUM,
    PG_B_ATAN2, PG_B_FMOD, PG_B_REMAINDER, PG_B_FLOOR_DIVIDE
};

static int pg__binary_kind(int op) {
    switch (op) {
    case PG_OP_ADD: return PG_B_ADD;
    case PG_OP_SUB: return PG_B_SUB;
    case PG_OP_MUL: return PG_B_MUL;
    case PG_OP_DIV: return PG_B_DIV;
    case PG_OP_POW: return PG_B_POW;
    case PG_OP_MAXIMUM: return PG_B_MAXIMUM;
    case PG_OP_ATAN2: return PG_B_ATAN2;
    case PG_OP_FMOD: return PG_B_FMOD;
    case PG_OP_REMAINDER: return PG_B_REMAINDER;
    case PG_OP_FLOOR_DIVIDE: return PG_B_FLOOR_DIVIDE;
    default: return PG_B_MINIMUM;
    }
}

/* the forward row of kind for dtype dt, NULL when the op has none */
static pg_row_fn pg__binary_row(const pg_binrows *r, pg_dtype dt) {
    switch (dt) {
    case PG_DTYPE_F32: return r->fwd[0];
    case PG_DTYPE_F64: return r->fwd[1];
    case PG_DTYPE_I32: return r->ifwd[0];
    case PG_DTYPE_I64: return r->ifwd[1];
    case PG_DTYPE_BOOL: return r->bfwd;
    }
    return NULL;
}

static pg_status binary_infer_named(const char *op, pg_meta *out, pg_tensor *const *in, int kind) {
    if (!pg__binary_row(&pg_binary_rows[kind], in[0]->dtype))
        return pg__fail(PG_ERR_TYPE, "%s: not defined for %s tensors", op, pg__dtype_name(in[0]->dtype));
    if (in[0]->dtype != in[1]->dtype)
        return pg__fail(PG_ERR_TYPE, "%s: dtypes %s and %s differ (promote first)", op,
                        pg__dtype_name(in[0]->dtype), pg__dtype_name(in[1]->dtype));
    if (pg__broadcast_shapes(op, out, in, 2)) return PG_ERR_SHAPE;
    out->dtype = in[0]->dtype;
    return PG_OK;
}

/* o = -g: sub's gradient of b */
PG_CLONES static void neg_f32(float *o, const float *gs, int64_t n) {
    PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] = -gs[i];
}
PG_CLONES static void neg_f64(double *o, const double *gs, int64_t n) {
    PG_IVDEP for (int64_t i = 0; i < n; i++) o[i] = -gs[i];
}

static pg_status binary_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    return binary_infer_named(pg_optable[p->op]->name, out, in, pg__binary_kind(p->op));
}

static pg_status binary_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in;
    int kind = pg__binary_kind(p->op);
    const pg_binrows *r = &pg_binary_rows[kind];
    if ((kind == PG_B_FMOD || kind == PG_B_REMAINDER || kind == PG_B_FLOOR_DIVIDE) && pg__is_int(in[1]->dtype)) {
        size_t es = pg__dtype_size(in[1]->dtype);
        for (int64_t i = 0; i < in[1]->numel; i++) {
            const char *e = (const char *)in[1]->data + (size_t)i * es;
            if (es == 8 ? *(const int64_t *)e == 0 : *(const int32_t *)e == 0)
                return pg__fail(PG_ERR_VALUE, "%s: integer division by zero", pg_optable[p->op]->name);
        }
    }
    pg_meta m;
    pg__meta_of(&m, out);
    const pg_tensor *ops[2] = {in[0], in[1]};
    pg__ew_run(out, &m, ops, 2, pg__binary_row(r, out->dtype), NULL);
    return PG_OK;
}

static bool pg__same_shape(const pg_meta *a, const pg_meta *b) {
    return a->ndim == b->ndim && pg__same_dims(a->ndim, a->shape, b->shape);
}

static pg_status binary_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    int kind = pg__binary_kind(n->op);
    const pg_binrows *r = &pg_binary_rows[kind];
    int f64 = g->dtype == PG_DTYPE_F64;
    const pg_tensor *a = n->saved[0], *b = n->saved[1];
    for (int i = 0; i < 2; i++) {
        if (!pg__node_needs(n, i)) continue;
        const pg_meta *target = &n->edges[i].meta;
        pg_tensor *full;
        if (kind == PG_B_FLOOR_DIVIDE) { /* piecewise constant; saves nothing */
            if (!(dx[i] = pg__tensor_zeros_like(target))) return PG_ERR_MEMORY;
            continue;
        }
        if (kind == PG_B_ADD || (kind == PG_B_SUB && i == 0)) {
            full = PG_NEW_REF((pg_tensor *)g);
        } else {
            full = pg__tensor_new_like(&n->out_meta);
            if (!full) return PG_ERR_MEMORY;
            if (kind == PG_B_SUB) {
                if (f64) neg_f64(full->data, g->data, g->numel);
                else neg_f32(full->data, g->data, g->numel);
            } else {
                const pg_tensor *ops[3] = {g, a, b};
                pg__ew_run(full, &n->out_meta, ops, 3, i == 0 ? r->da[f64] : r->db[f64], NULL);
            }
        }
        if (pg__same_shape(target, &n->out_meta)) {
            dx[i] = full;
        } else {
            dx[i] = pg__sum_to(full, target);
            pg_tensor_release(full);
            if (!dx[i]) return PG_ERR_MEMORY;
        }
    }
    return PG_OK;
}

/* d out / d input i at the output's shape, as a constant (the numeric local
 * derivative, from an upstream gradient of ones; the rule's max/min routing) */
static pg_tensor *pg__binary_local(const pg_node *n, int i) {
    const pg_binrows *r = &pg_binary_rows[pg__binary_kind(n->op)];
    int f64 = n->out_meta.dtype == PG_DTYPE_F64;
    pg_tensor *ones = pg_tensor_full(n->out_meta.dtype, n->out_meta.ndim, n->out_meta.shape, 1.0);
    pg_tensor *full = ones ? pg__tensor_new_like(&n->out_meta) : NULL;
    if (full) {
        const pg_tensor *ops[3] = {ones, n->saved[0], n->saved[1]};
        pg__ew_run(full, &n->out_meta, ops, 3, i == 0 ? r->da[f64] : r->db[f64], NULL);
    }
    pg_tensor_release(ones);
    return full;
}

/* ---- where(cond, x, y): z = cond ? x : y;  dx = cond ? g : 0, dy = cond ? 0 : g ---- */

#define PG_WHERE_ROW(TT, SUF)                                                               \
    PG_CLONES static void where_row_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        TT *o = (TT *)ptr[0];                                                               \
        const uint8_t *c = (const uint8_t *)ptr[1];                                         \
        const TT *x = (const TT *)ptr[2], *y = (const TT *)ptr[3];                          \
        (void)ctx;                                                                          \
        if (st[1] == 1 && st[2] == 1 && st[3] == 1) /* both read, then one kept: no branch */ \
            for (int64_t i = 0; i < n; i++) {                                               \
                TT a = x[i], b = y[i];                                                      \
                o[i] = c[i] ? a : b;                                                        \
            }                                                                               \
        else if (st[1] == 1 && st[2] == 1 && st[3] == 0) { /* y a scalar (where(c, x, 0.0)) */ \
            const TT b = y[0];                                                              \
            for (int64_t i = 0; i < n; i++) {                                               \
                TT a = x[i];                                                                \
                o[i] = c[i] ? a : b;                                                        \
            }                                                                               \
        } else if (st[1] == 1 && st[2] == 0 && st[3] == 1) { /* x a scalar */               \
            const TT a = x[0];                                                              \
            for (int64_t i = 0; i < n; i++) {                                               \
                TT b = y[i];                                                                \
                o[i] = c[i] ? a : b;                                                        \
            }                                                                               \
        } else if (st[1] == 1 && st[2] == 0 && st[3] == 0) {                                \
            const TT a = x[0], b = y[0];                                                    \
            for (int64_t i = 0; i < n; i++) o[i] = c[i] ? a : b;                            \
        } else                                                                              \
            for (int64_t i = 0; i < n; i++) o[i] = c[i * st[1]] ? x[i * st[2]] : y[i * st[3]]; \
    }
#define PG_WHERE_MASK_ROW(TT, SUF)                                                          \
    PG_CLONES static void where_mask_##SUF(char *const *ptr, const int64_t *st, int64_t n, void *ctx) { \
        TT *o = (TT *)ptr[0];                                                               \
        const TT *g = (const TT *)ptr[1];                                                   \
        const uint8_t *c = (const uint8_t *)ptr[2];                                         \
        int take = *(int *)ctx;                                                             \
        if (st[1] == 1 && st[2] == 1)                                                       \
            for (int64_t i = 0; i < n; i++) {                                               \
                TT v = g[i];                                                                \
                o[i] = (!c[i] == !take) ? v : (TT)0;                                        \
            }                                                                               \
        else                                                                                \
            for (int64_t i = 0; i < n; i++) o[i] = (!c[i * st[2]] == !take) ? g[i * st[1]] : 0; \
    }
PG_WHERE_ROW(uint8_t, b8) /* by element size: values are moved, not computed */
PG_WHERE_ROW(uint32_t, b32)
PG_WHERE_ROW(uint64_t, b64)
PG_WHERE_MASK_ROW(float, f32)
PG_WHERE_MASK_ROW(double, f64)

static pg_status where_infer(pg_meta *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in, (void)p;
    if (in[0]->dtype != PG_DTYPE_BOOL)
        return pg__fail(PG_ERR_TYPE, "where: the condition must be a bool tensor, got %s",
                        pg__dtype_name(in[0]->dtype));
    if (in[1]->dtype != in[2]->dtype)
        return pg__fail(PG_ERR_TYPE, "where: dtypes %s and %s differ (promote first)",
                        pg__dtype_name(in[1]->dtype), pg__dtype_name(in[2]->dtype));
    if (pg__broadcast_shapes("where", out, in, 3)) return PG_ERR_SHAPE;
    out->dtype = in[1]->dtype;
    return PG_OK;
}

static pg_status where_forward(pg_tensor *out, pg_tensor *const *in, int n_in, const pg_params *p) {
    (void)n_in, (void)p;
    pg_meta m;
    pg__meta_of(&m, out);
    const pg_tensor *ops[3] = {in[0], in[1], in[2]};
    size_t es = pg__dtype_size(out->dtype);
    pg_row_fn fn = es == 8 ? where_row_b64 : es == 4 ? where_row_b32 : where_row_b8;
    pg__ew_run(out, &m, ops, 3, fn, NULL);
    return PG_OK;
}

static pg_status where_backward(pg_tensor **dx, const pg_tensor *g, const pg_node *n) {
    for (int i = 1; i < 3; i++) {
        if (!pg__node_needs(n, i)) continue;
        pg_tensor *full = pg__tensor_new_like(&n->out_meta);
        if (!full) return PG_ERR_MEMORY;
        int take = i == 1;
        const pg_tensor *ops[2] = {g, n->saved[0]};
        pg__ew_run(full, &n->out_meta, ops, 2, g->dtype == PG_DTYPE_F64 ? where_mask_f64 : where_mask_f32,
                   &take);
        if (pg__same_shape(&n->edges[i].meta, &n->out_meta)) {
            dx[i] = full;
        } else {
            dx[i] = pg__sum_to(full, &n->edges[i].meta);
            pg_tensor_release(full);
            if (!dx[i]) return PG_ERR_MEMORY;
        }
    }
    return PG_OK;
}

/* where: dx = cond ? g : 0, dy = cond ? 0 : g */
static pg_status where_rule(pg_tensor **dx, pg_tensor *g, const pg_node *n) {
    pg_keep keep = {0};
    pg_tensor *cond = pg__saved_input(n, 0);
    TRY(z, pg__scalar(g->dtype, 0.0));
    for (int i = 1; i < 3; i++) {
        if (!pg__node_needs(n, i)) continue;
        TRY(w, i == 1 ? pg_where(cond, g, z) : pg_where(cond, z, g));
        dx[i] = pg__sum_to_rec(w, &n->edges[i].meta);
        if (!dx[i]) goto fail;
    }
    pg__keep_free(&keep);
    return PG_OK;
fail:
    pg__keep_free(&keep);
    return pg__rule_status();
}

pg_tensor *pg_where(pg_tensor *cond, pg_tensor *x, pg_tensor *y) {
    pg_params p = {0};
    if (pg__check_tensor("where", cond)) return NULL;
    pg_tensor *a = x, *b = y;
    if (pg__promote2("where", &a, &b)) return NULL;
    pg_tensor *in[3] = {cond, a, b};
    pg_tensor *out = pg__apply(PG_OP_WHERE, in, 3, &p);
    pg_tensor_release(a);
    pg_tensor_release(b);
    return out;
}

PG_OPDEF(where, where_infer, where_forward, where_backward, where_rule);
