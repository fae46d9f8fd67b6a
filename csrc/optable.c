/* optable.c: the op table, expanded from the op list (ops.def). Each row
 * (name, arity, what it saves, shape inference, forward and backward kernels,
 * differentiable rule) is defined next to its kernels in ops_<family>.c with
 * PG_OPDEF. */
#include "internal.h"

#define X(NAME, name, n_in, save, family) extern const pg_opdef pg_op_##name;
#include "ops.def"
#undef X

const pg_opdef *const pg_optable[PG_OP_COUNT] = {
#define X(NAME, name, n_in, save, family) [PG_OP_##NAME] = &pg_op_##name,
#include "ops.def"
#undef X
};
