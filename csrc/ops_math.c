/* ops_math.c: the plain elementwise functions of one float tensor (family
 * "math" in ops.def): exp, log, sin, cos. Each op is one block: its forward
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

/* sin: y = sin x;  dy/dx = cos x */
PG_UNARY_KERNELS(sin, PG_SIN(x), g * PG_COS(x))
PG_UNARY_RULE(sin,
              TRY(c, pg_cos(x));
              r = pg_mul(g, c);)
PG_UNARY_ENTRY(sin, PG_OP_SIN)
PG_OPDEF(sin, unary_infer, sin_forward, sin_backward, sin_rule);

/* cos: y = cos x;  dy/dx = -sin x */
PG_UNARY_KERNELS(cos, PG_COS(x), -g * PG_SIN(x))
PG_UNARY_RULE(cos,
              TRY(s, pg_sin(x));
              TRY(t, pg_mul(g, s));
              r = pg__r1(PG_OP_NEG, t, 0);)
PG_UNARY_ENTRY(cos, PG_OP_COS)
PG_OPDEF(cos, unary_infer, cos_forward, cos_backward, cos_rule);
