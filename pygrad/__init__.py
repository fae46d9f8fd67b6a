"""pygrad: reverse-mode automatic differentiation with a C engine.

    >>> import pygrad as pg
    >>> x = pg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])

The engine (tensors, op table, tape, backward sweep, kernels) is the C library
in csrc/; this package is a thin layer over it. ``pygrad.nn`` (layers and
losses), ``pygrad.optim`` (optimizers with fused C updates) and ``pygrad.data``
(minibatches and small datasets) train networks with it; ``python -m pygrad demo``
shows them at work. ``pygrad.reference`` is an independent pure-Python engine
with the same API, to check results against.
"""

from pygrad import data, nn, optim
from pygrad._engine import (
    OP_NAMES,
    GradFn,
    Tensor,
    abs,
    add,
    arange,
    bool_,
    cat,
    clamp,
    concatenate,
    cross_entropy,
    div,
    elu,
    enable_grad,
    exp,
    eye,
    float32,
    float64,
    from_numpy,
    full,
    is_grad_enabled,
    leaky_relu,
    live_objects,
    log,
    log_softmax,
    manual_seed,
    matmul,
    max,
    maximum,
    maxout,
    mean,
    min,
    minimum,
    mul,
    neg,
    no_grad,
    ones,
    permute,
    pow,
    prelu,
    rand,
    randn,
    reciprocal,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    stack,
    sub,
    sum,
    tanh,
    tensor,
    transpose,
    where,
    zeros,
)
from pygrad.errors import (
    PygradError,
    PygradIndexError,
    PygradMemoryError,
    PygradRuntimeError,
    PygradTypeError,
    PygradValueError,
    ShapeError,
)

__version__ = "0.1.0"

__all__ = [
    "OP_NAMES", "GradFn", "Tensor", "abs", "add", "arange", "bool_", "cat", "clamp", "concatenate", "cross_entropy",
    "div", "elu", "enable_grad", "exp", "eye", "float32", "float64", "from_numpy", "full", "is_grad_enabled",
    "leaky_relu", "live_objects", "log", "log_softmax", "manual_seed", "matmul", "max", "maximum", "maxout", "mean",
    "min", "minimum", "mul", "neg", "no_grad", "ones", "permute", "pow", "prelu", "rand", "randn", "reciprocal",
    "relu", "reshape", "sigmoid", "softmax", "sqrt", "stack", "sub", "sum", "tanh", "tensor", "transpose", "where",
    "zeros", "PygradError", "PygradIndexError", "PygradMemoryError", "PygradRuntimeError", "PygradTypeError",
    "PygradValueError", "ShapeError", "data", "nn", "optim",
]
