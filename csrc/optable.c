/* optable.c: the op table. One row per op; each row (name, arity, what it saves,
 * shape inference, forward kernel, backward kernel) is defined next to its
 * kernels in ops_*.c. The order follows enum pg_op in pygrad.h. */
#include "internal.h"

extern const pg_opdef pg_op_add;
extern const pg_opdef pg_op_sub;
extern const pg_opdef pg_op_mul;
extern const pg_opdef pg_op_div;
extern const pg_opdef pg_op_neg;
extern const pg_opdef pg_op_add_scalar;
extern const pg_opdef pg_op_mul_scalar;
extern const pg_opdef pg_op_pow_scalar;
extern const pg_opdef pg_op_pow;
extern const pg_opdef pg_op_exp;
extern const pg_opdef pg_op_log;
extern const pg_opdef pg_op_sqrt;
extern const pg_opdef pg_op_reciprocal;
extern const pg_opdef pg_op_abs;
extern const pg_opdef pg_op_maximum;
extern const pg_opdef pg_op_minimum;
extern const pg_opdef pg_op_clamp;
extern const pg_opdef pg_op_where;
extern const pg_opdef pg_op_sigmoid;
extern const pg_opdef pg_op_tanh;
extern const pg_opdef pg_op_relu;
extern const pg_opdef pg_op_leaky_relu;
extern const pg_opdef pg_op_elu;
extern const pg_opdef pg_op_matmul;
extern const pg_opdef pg_op_sum;
extern const pg_opdef pg_op_mean;
extern const pg_opdef pg_op_max;
extern const pg_opdef pg_op_min;
extern const pg_opdef pg_op_reshape;
extern const pg_opdef pg_op_permute;
extern const pg_opdef pg_op_getitem;
extern const pg_opdef pg_op_concatenate;
extern const pg_opdef pg_op_stack;
extern const pg_opdef pg_op_softmax;
extern const pg_opdef pg_op_log_softmax;
extern const pg_opdef pg_op_cast;
extern const pg_opdef pg_op_custom;
extern const pg_opdef pg_op_scatter_add;
extern const pg_opdef pg_op_prelu;
extern const pg_opdef pg_op_maxout;
extern const pg_opdef pg_op_cross_entropy;

const pg_opdef *const pg_optable[PG_OP_COUNT] = {
    [PG_OP_ADD] = &pg_op_add,
    [PG_OP_SUB] = &pg_op_sub,
    [PG_OP_MUL] = &pg_op_mul,
    [PG_OP_DIV] = &pg_op_div,
    [PG_OP_NEG] = &pg_op_neg,
    [PG_OP_ADD_SCALAR] = &pg_op_add_scalar,
    [PG_OP_MUL_SCALAR] = &pg_op_mul_scalar,
    [PG_OP_POW_SCALAR] = &pg_op_pow_scalar,
    [PG_OP_POW] = &pg_op_pow,
    [PG_OP_EXP] = &pg_op_exp,
    [PG_OP_LOG] = &pg_op_log,
    [PG_OP_SQRT] = &pg_op_sqrt,
    [PG_OP_RECIPROCAL] = &pg_op_reciprocal,
    [PG_OP_ABS] = &pg_op_abs,
    [PG_OP_MAXIMUM] = &pg_op_maximum,
    [PG_OP_MINIMUM] = &pg_op_minimum,
    [PG_OP_CLAMP] = &pg_op_clamp,
    [PG_OP_WHERE] = &pg_op_where,
    [PG_OP_SIGMOID] = &pg_op_sigmoid,
    [PG_OP_TANH] = &pg_op_tanh,
    [PG_OP_RELU] = &pg_op_relu,
    [PG_OP_LEAKY_RELU] = &pg_op_leaky_relu,
    [PG_OP_ELU] = &pg_op_elu,
    [PG_OP_MATMUL] = &pg_op_matmul,
    [PG_OP_SUM] = &pg_op_sum,
    [PG_OP_MEAN] = &pg_op_mean,
    [PG_OP_MAX] = &pg_op_max,
    [PG_OP_MIN] = &pg_op_min,
    [PG_OP_RESHAPE] = &pg_op_reshape,
    [PG_OP_PERMUTE] = &pg_op_permute,
    [PG_OP_GETITEM] = &pg_op_getitem,
    [PG_OP_CONCATENATE] = &pg_op_concatenate,
    [PG_OP_STACK] = &pg_op_stack,
    [PG_OP_SOFTMAX] = &pg_op_softmax,
    [PG_OP_LOG_SOFTMAX] = &pg_op_log_softmax,
    [PG_OP_CAST] = &pg_op_cast,
    [PG_OP_CUSTOM] = &pg_op_custom,
    [PG_OP_SCATTER_ADD] = &pg_op_scatter_add,
    [PG_OP_PRELU] = &pg_op_prelu,
    [PG_OP_MAXOUT] = &pg_op_maxout,
    [PG_OP_CROSS_ENTROPY] = &pg_op_cross_entropy,
};
