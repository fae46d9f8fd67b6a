"""The C engine's public namespace: what ``import pygrad`` serves by default.

``pygrad._c`` and ``pygrad.reference`` are the two engine modules, with the
same names; :mod:`pygrad._engines` tells which one a tensor belongs to. Like
the reference, it has ``nn`` (layers building C parameters), ``optim`` (the
optimizers with fused C updates) and ``gates``, whatever ``PYGRAD_BACKEND``
says.
"""

# ruff: noqa: F401 - the names below are re-exported through __all__, built from the op table

from pygrad import _derived, _functions, _indexing, _optable
from pygrad._autograd import autograd_run as _autograd_run
from pygrad._autograd import (
    custom_op,
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_anomaly_enabled,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
)
from pygrad._bindings import OP_NAMES, bool_, float32, float64, int32, int64
from pygrad._creation import (
    arange,
    eye,
    from_dlpack,
    from_numpy,
    full,
    manual_seed,
    ones,
    rand,
    randint,
    randn,
    tensor,
    zeros,
)
from pygrad._device import cuda, device  # the CPU, for code written for PyTorch
from pygrad._functions import (
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
)
from pygrad._graph import graph_of as _graph_of  # noqa: F401 - for pygrad.viz
from pygrad._graph import leaf_key as _leaf_key  # noqa: F401
from pygrad._runtime import (
    empty_cache,
    get_cache_limit,
    get_num_threads,
    live_objects,
    memory_stats,
    set_cache_limit,
    set_num_threads,
)
from pygrad._tensor import GradFn, Tensor
from pygrad.errors import (
    PygradError,
    PygradIndexError,
    PygradMemoryError,
    PygradRuntimeError,
    PygradTypeError,
    PygradValueError,
    ShapeError,
)

long, double = int64, float64  # PyTorch's aliases
globals().update({_n: getattr(_functions, _n) for _n in _indexing.METHODS + ("gather", "scatter")})

# the module-level op functions: written out in _functions or built there from the op table
globals().update({_n: getattr(_functions, _n) for _n in _optable.FUNCTIONS if _n not in globals()})

globals().update(_derived.FUNCTIONS)  # flip, einsum, var ...: written once for both engines
linspace = _derived.linspace_of(__name__)
globals().update(_derived.creation_functions(__name__))  # zeros_like, empty, logspace ...

__all__ = _optable.c_all()  # the names imported above; tests/ops/test_optable.py checks each exists


def __getattr__(name: str):  # noqa: ANN202 - PEP 562 module attribute hook
    """``nn``, ``optim`` and ``gates`` of the C engine, on first use."""
    import importlib

    if name == "nn":
        return importlib.import_module("pygrad.nn._c")
    if name == "optim":
        return importlib.import_module("pygrad.optim._c")
    if name == "gates":
        return importlib.import_module("pygrad.gates")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
