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

# ruff: noqa: F401 - the errors are re-exported through __all__, built from the op table

import sys as _sys

from pygrad import _engines, _optable
from pygrad.errors import (
    PygradError,
    PygradIndexError,
    PygradMemoryError,
    PygradRuntimeError,
    PygradTypeError,
    PygradValueError,
    ShapeError,
)
from pygrad.serialization import load, save

_BACKEND = _engines.backend()  # ImportError for a PYGRAD_BACKEND it does not know

if _BACKEND == "python":
    # The whole program runs on the pure-Python reference engine, deliberately.
    print("pygrad: PYGRAD_BACKEND=python: serving the pure-Python reference engine (slow; for checking results)",
          file=_sys.stderr)
    from pygrad import reference as _reference

    # its names, but not its nn and optim: pygrad.nn and pygrad.optim serve the reference themselves
    globals().update({_k: getattr(_reference, _k) for _k in _reference.__all__ if _k not in ("nn", "optim")})
    from pygrad.reference import OP_NAMES, custom_op, scatter_add  # noqa: F401


def _load_c_engine() -> None:
    """Import the C engine (the compiled extension) and bind its names here, once.

    Deferred to the first use of one of them, so that ``import pygrad.reference``
    (which runs this file first) never loads the extension.
    """
    from pygrad import _c

    globals().update({k: getattr(_c, k) for k in _c.__all__})


__version__ = "0.1.0"


_SUBMODULES = {"autograd", "data", "functional", "gates", "gradcheck", "nn", "optim", "reference", "testing", "utils",
               "viz"}


def __getattr__(name: str):  # noqa: ANN202 - PEP 562 module attribute hook
    """``pygrad.functional``, ``pygrad.gates`` ... import on first use; so does the C
    engine, at the first use of one of its names (``pygrad.tensor`` ...)."""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"pygrad.{name}")
    if name == "compile" and _BACKEND == "c":  # PyTorch's name: record a step once, replay it in C
        from pygrad._compile import compile

        return compile
    if name == "gradgradcheck":  # beside the gradcheck module, as in PyTorch's namespace
        from pygrad.gradcheck import gradgradcheck

        return gradgradcheck
    if _BACKEND == "c" and name in _C_NAMES:
        _load_c_engine()
        return globals()[name]
    raise AttributeError(f"module 'pygrad' has no attribute {name!r}")


def backend() -> str:
    """Which engine ``import pygrad`` serves: ``"c"`` or ``"python"`` (``PYGRAD_BACKEND=python``)."""
    return _BACKEND

__all__ = sorted({*_SUBMODULES, "backend", "save", "load", *(
    _optable.c_all() if _BACKEND == "c" else (n for n in _optable.reference_all() if n not in ("nn", "optim")))})

_C_NAMES = frozenset(_optable.c_all())  # what _load_c_engine binds: pygrad._c.__all__
