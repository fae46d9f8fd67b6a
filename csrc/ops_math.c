/* ops_math.c: the plain elementwise functions of one float tensor (family
 * "math" in ops.def): exp, log. Each op is one block: its forward
 * formula right above its backward formula (one PG_UNARY_KERNELS line, for
 * float32 and float64), its differentiable rule, its entry point and its row.
 * Python builds everything else of these ops from their rows in
 * pygrad/_optable.py (elementwise=True), and tests/c/test_pygrad.c checks
 * every op of this family against finite differences without naming it.
 * Rules here use ops_binary's entry points; anything of ops_unary goes through
 * the tape (pg__r1), since ops_unary calls into this file. */
#include "unary_kernels.h"

/* exp: y = e^x;  dy/dx = y */
PG_UNARY_KERNELS(exp, PG_EXP(x), g *y)
PG_UNARY_RULE(exp,
              TRY(y, pg__out_diff(n));
              r = pg_mul(g, y);)
PG_UNARY_ENTRY(exp, PG_OP_EXP)
PG_OPDEF(exp, unary_infer, exp_forward, exp_backward, exp_rule);

/* log: y = log x;  dy/dx = 1/x */
PG_UNARY_KERNELS(log, PG_LOG(x), g / x)
PG_UNARY_RULE(log, r = pg_div(g, x);)
PG_UNARY_ENTRY(log, PG_OP_LOG)
PG_OPDEF(log, unary_infer, log_forward, log_backward, log_rule);
