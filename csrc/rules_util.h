/* rules_util.h: what the differentiable backward rules share. A rule (the
 * .rule of an op-table row, beside its op in ops_<family>.c) computes its op's
 * backward with differentiable ops, for pg_backward_ex(create_graph=1): it
 * runs with grad mode on, so the backward computation is itself recorded and
 * gradients can be differentiated again (Hessians). Each rule computes the
 * same formula as its op's numeric kernel; piecewise-constant local
 * derivatives (relu, abs, clamp, max routing) enter as constants, which is
 * exact almost everywhere. The tests check both forms agree. */
#ifndef PG_RULES_UTIL_H
#define PG_RULES_UTIL_H

#include "internal.h"

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility push(hidden)
#endif

/* Temporaries of one rule, released together. */
typedef struct pg_keep {
    pg_tensor *t[32];
    int n;
} pg_keep;

static inline pg_tensor *pg__keep(pg_keep *k, pg_tensor *x) {
    if (x) k->t[k->n++] = x;
    return x;
}

static inline void pg__keep_free(pg_keep *k) {
    for (int i = 0; i < k->n; i++) pg_tensor_release(k->t[i]);
    k->n = 0;
}

/* TRY(var, expr): var = expr, kept in `keep` for release; on NULL jump to `fail`. */
#define TRY(var, expr)                        \
    pg_tensor *var = pg__keep(&keep, (expr)); \
    if (!var) goto fail

/* the status a failed rule returns: the failing op's, else out of memory */
static inline pg_status pg__rule_status(void) { return pg_last_status() ? pg_last_status() : PG_ERR_MEMORY; }

/* Ops for rules, through the tape as their entry points run them (same
 * params, same promotion), for the rules of files that their entry points'
 * files call: an op file calling back into one that calls it would close a
 * cycle in the call graph between files (tests/c/test_c_layers.py). Rules pass
 * valid arguments, so the entry points' argument checks are not repeated. */
/* an op of one float input with at most one scalar parameter c (neg, exp,
 * log, add_scalar, mul_scalar, pow_scalar): as pg_neg(x), pg_add_scalar(x, c), ... */
static inline pg_tensor *pg__r1(int op, pg_tensor *x, double c) {
    pg_params p = {0};
    p.op = op;
    p.c = c;
    return pg__apply_float1(op, x, &p);
}
/* as pg_sum(x, axes, 1) and pg_reshape(x, ndim, shape) */
pg_tensor *pg__r_sum(pg_tensor *x, unsigned axes);
pg_tensor *pg__r_reshape(pg_tensor *x, int ndim, const int64_t *shape);

/* a tensor of m's shape and dtype filled with v; a 0-d tensor of dtype dt */
pg_tensor *pg__const(const pg_meta *m, double v);
pg_tensor *pg__scalar(pg_dtype dt, double v);
/* the saved input i (borrowed), NULL if not saved */
pg_tensor *pg__saved_input(const pg_node *n, int i);
/* The saved output as a differentiable tensor (a new reference): it shares
 * the saved storage and has n as grad_fn, so the rule's result depends on n's inputs. */
pg_tensor *pg__out_diff(const pg_node *n);
/* The local derivative of a piecewise-linear op of one input as a constant:
 * the numeric backward kernel applied to an upstream gradient of ones. */
pg_tensor *pg__local(const pg_node *n);
/* g summed over the dims broadcasting added, reshaped to target (recorded). */
pg_tensor *pg__sum_to_rec(pg_tensor *g, const pg_meta *target);
/* g broadcast to target's shape (recorded): zeros(target) + g. */
pg_tensor *pg__expand_rec(pg_tensor *g, const pg_meta *target);
/* x's shape with the reduced axes kept as 1 */
void pg__keepdims_meta(pg_meta *k, const pg_meta *x, unsigned axes);

#if defined(__GNUC__) && !defined(_WIN32)
#pragma GCC visibility pop
#endif

#endif /* PG_RULES_UTIL_H */
