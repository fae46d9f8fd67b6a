"""pygrad.reference: the pure-Python (numpy) reference engine.

The same public Tensor API as the C engine ``pygrad``, written to be simple
and obviously correct rather than fast. It is the oracle of the parity
tests, and users can run their programs on it to check the C engine:

>>> import pygrad.reference as pg
>>> x = pg.tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4.])

It implements docs/semantics.md exactly (dtype promotion, tie rules, error
types) and imports nothing from pygrad except :mod:`pygrad.errors`,
:mod:`pygrad._engines` and, on first use of ``pygrad.reference.nn``, the
engine-neutral layer code of :mod:`pygrad.nn`; it never loads the C extension.
Layout: ``ops.py`` (op table: forward/backward on numpy arrays),
``autograd.py`` (grad mode, nodes, the backward sweep), ``tensor.py``
(Tensor and argument rules), ``functional.py`` (module-level op functions),
``creation.py`` (factories and the random generator), ``optim.py``
(optimizers, schedules and gradient descent in numpy), ``nn.py`` (the layers
of pygrad.nn, building their parameters on this engine).
"""

# ruff: noqa: F401 - the names below are re-exported through __all__, built from the op table

from __future__ import annotations

from pygrad import _derived, _indexing, _optable
from pygrad._device import cuda, device  # the CPU, for code written for PyTorch
from pygrad.errors import (
    PygradError,
    PygradIndexError,
    PygradMemoryError,
    PygradRuntimeError,
    PygradTypeError,
    PygradValueError,
    ShapeError,
)

from . import functional as _functional
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .autograd import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .autograd import graph_of as _graph_of  # noqa: F401 - for pygrad.viz
from .autograd import leaf_key as _leaf_key  # noqa: F401
from .creation import arange, eye, from_dlpack, from_numpy, full, manual_seed, ones, rand, randint, randn, zeros
from .functional import ELEMENTWISE as _ELEMENTWISE
from .functional import (
    abs,
    add,
    atan2,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    cat,
    clamp,
    concatenate,
    cross_entropy,
    div,
    elu,
    floor_divide,
    fmod,
    leaky_relu,
    log_softmax,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    matmul,
    max,
    maximum,
    maxout,
    mean,
    min,
    minimum,
    mul,
    neg,
    permute,
    pow,
    prelu,
    reciprocal,
    relu,
    remainder,
    reshape,
    scatter_add,
    sigmoid,
    softmax,
    sqrt,
    stack,
    sub,
    sum,
    tanh,
    transpose,
    where,
)
from .ops import OP_NAMES, OPS
from .tensor import (
    Tensor,
    _autograd_run,  # noqa: F401 - for pygrad.autograd
    bool_,
    custom_op,
    double,
    float32,
    float64,
    int32,
    int64,
    long,
    tensor,
)

globals().update(_ELEMENTWISE)  # exp, log, sin ...: built from the op table
globals().update({_n: getattr(_functional, _n) for _n in _indexing.METHODS + ("gather", "scatter")})
globals().update(_derived.FUNCTIONS)  # flip, einsum, var ...: written once for both engines
linspace = _derived.linspace_of(__name__)
globals().update(_derived.creation_functions(__name__))  # zeros_like, empty, logspace ...

_SUBMODULES = {"nn", "optim", "gates", "utils"}


def __getattr__(name: str):  # noqa: ANN202 - PEP 562 module attribute hook
    """``nn``, ``optim``, ``gates`` and ``utils`` import on first use (``nn`` uses pygrad.nn, which uses this
    engine)."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = _optable.reference_all()
