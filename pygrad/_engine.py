"""The bridge to the C engine: the one module that talks to cffi's ``ffi``/``lib``.

It wraps C tensor handles in :class:`Tensor` objects (each handle released when
its wrapper dies), turns C status codes into Python exceptions, and converts
Python arguments (scalars, numpy arrays, index keys, axis lists) into what the C
API takes. It holds no numeric loops and no graph: both live in csrc/.
Every other pygrad module imports from here.
"""

from __future__ import annotations

import math
import numbers
import threading
import types
from collections.abc import Iterator, Sequence
from typing import Any, Callable

import numpy as np

from pygrad.errors import (
    PygradIndexError,
    PygradMemoryError,
    PygradRuntimeError,
    PygradTypeError,
    PygradValueError,
    ShapeError,
)

try:
    from pygrad._pygrad import ffi
    from pygrad._pygrad import lib as _cffi_lib
except ImportError as exc:  # pragma: no cover - exercised only on broken installs
    import os as _os

    _here = _os.path.dirname(_os.path.abspath(__file__))
    if _os.path.isfile(_os.path.join(_here, "..", "pybind", "build_ffi.py")):
        raise ImportError(
            f"pygrad is being imported from its source tree ({_here}), which has no compiled extension: "
            "run from another directory or use the installed `pygrad` command, or build in place with "
            "`pip install -e .`"
        ) from exc
    raise ImportError(
        "pygrad's C extension (pygrad._pygrad) could not be loaded: "
        f"{exc}. Reinstall with `pip install .` from the source tree (a C compiler is needed), "
        "or run on the pure-Python reference engine deliberately with PYGRAD_BACKEND=python."
    ) from exc


def _flat_namespace(source: Any) -> types.ModuleType:
    """The C API's functions and constants as attributes of a plain module.

    cffi's ``lib`` looks every attribute up through a generic dictionary call
    that saves and restores the exception state; a module attribute is a
    direct dictionary hit. On an op of a 4-element tensor the two lookups per
    op (the op and the release of a dead tensor) were a tenth of the time.
    """
    ns = types.ModuleType("pygrad._pygrad.lib")
    for name in dir(source):
        setattr(ns, name, getattr(source, name))
    return ns


lib = _flat_namespace(_cffi_lib)
lib.pg_py_install_blocking_hooks()  # the engine lets the GIL go around its long kernels

float32: np.dtype = np.dtype(np.float32)
float64: np.dtype = np.dtype(np.float64)
bool_: np.dtype = np.dtype(np.bool_)

_DTYPE_OF_CODE = {lib.PG_DTYPE_F32: float32, lib.PG_DTYPE_F64: float64, lib.PG_DTYPE_BOOL: bool_}
_CODE_OF_DTYPE = {float32: lib.PG_DTYPE_F32, float64: lib.PG_DTYPE_F64, bool_: lib.PG_DTYPE_BOOL}
_TYPESTR = {lib.PG_DTYPE_F32: "<f4", lib.PG_DTYPE_F64: "<f8", lib.PG_DTYPE_BOOL: "|b1"}

_ERRORS = {
    lib.PG_ERR_SHAPE: ShapeError,
    lib.PG_ERR_VALUE: PygradValueError,
    lib.PG_ERR_TYPE: PygradTypeError,
    lib.PG_ERR_INDEX: PygradIndexError,
    lib.PG_ERR_MEMORY: PygradMemoryError,
    lib.PG_ERR_RUNTIME: PygradRuntimeError,
    lib.PG_ERR_CALLBACK: PygradRuntimeError,
}

OP_NAMES: tuple[str, ...] = tuple(ffi.string(lib.pg_op_name(i)).decode() for i in range(lib.pg_op_count()))
"""Names of the C op table's rows, in op-id order."""

_NULL = ffi.NULL
_AXES_ALL = lib.PG_AXES_ALL
_MAX_DIMS = lib.PG_MAX_DIMS


_grad_cycle_warned = []  # once per process, as PyTorch does


def _warn_grad_cycle() -> None:
    if not _grad_cycle_warned:
        _grad_cycle_warned.append(True)
        import warnings
        warnings.warn("backward(create_graph=True) added to a .grad that already holds a graph: each leaf's "
                      "recorded .grad refers back to the leaf, a reference cycle that Python's garbage collector "
                      "cannot see, so both are never freed; set x.grad = None after using it, or use "
                      "pygrad.functional.grad", UserWarning, stacklevel=3)


_callback_state = threading.local()  # an exception raised inside a C-called Python function


def _raise_last() -> None:
    """Raise the exception that describes the last C failure on this thread.

    When the failure was a user backward raising inside the C sweep, that
    exception itself is re-raised, with its traceback.
    """
    code = lib.pg_last_status()
    if code == lib.PG_ERR_CALLBACK:
        exc = getattr(_callback_state, "exc", None)
        _callback_state.exc = None
        if exc is not None:
            raise exc
    msg = ffi.string(lib.pg_last_error()).decode("utf-8", "replace") or "unknown error in the C engine"
    raise _ERRORS.get(code, PygradRuntimeError)(msg)


def _check(status: int) -> None:
    if status:
        _raise_last()


_new_tensor = object.__new__
# the C functions of the hot methods written out below, bound once
_add_scalar, _sub, _matmul = lib.pg_add_scalar, lib.pg_sub, lib.pg_matmul


def _wrap(p: Any) -> Tensor:
    """Own a new C reference (NULL means the call failed)."""
    if not p:
        _raise_last()
    t = _new_tensor(Tensor)
    t._p = p
    return t


# The operators and activations are the per-op hot path: the methods made
# here (and __sub__, __matmul__) build their result inline rather than through
# _wrap, which saves a Python call (about 6% of an op on a small tensor); the C
# function is a closure cell, as cheap to reach as a global.


def _method(name: str, doc: str, fn: Callable) -> Callable:
    fn.__name__, fn.__qualname__, fn.__doc__ = name, f"Tensor.{name}", doc
    return fn


def _unary_method(name: str, cfn: Callable, doc: str) -> Callable:
    """``Tensor.<name>()``: the tensor ``cfn`` makes of self."""

    def method(self: Tensor) -> Tensor:
        p = cfn(self._p)
        if not p:
            _raise_last()
        r = _new_tensor(Tensor)
        r._p = p
        return r

    return _method(name, doc, method)


def _binary_method(name: str, cfn: Callable, cfn_scalar: Callable, reflected: bool) -> Callable:
    """An arithmetic operator: ``cfn`` on two tensors, ``cfn_scalar`` for a
    Python number (commutative ops only); ``reflected`` for ``o (op) self``."""

    def method(self: Tensor, o: Any) -> Tensor:
        t = type(o)
        if t is Tensor and not reflected:
            p = cfn(self._p, o._p)
        elif t is float or _is_scalar(o):
            p = cfn_scalar(self._p, o)
        else:
            t = _operand(o)
            if t is None:
                return NotImplemented
            return _wrap(cfn(t._p, self._p) if reflected else cfn(self._p, t._p))
        if not p:
            _raise_last()
        r = _new_tensor(Tensor)
        r._p = p
        return r

    return _method(name, "", method)


# ---------------------------------------------------------------------------
# dtypes and conversion
# ---------------------------------------------------------------------------


def _resolve_dtype(dtype: Any) -> np.dtype:
    """Accept pygrad/numpy dtypes, numpy scalar types and their names."""
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise PygradTypeError(f"dtype: cannot interpret {dtype!r} as a dtype") from None
    if d not in _CODE_OF_DTYPE:
        raise PygradTypeError(f"dtype: pygrad tensors are float32, float64 or bool, got {d}")
    return d


def _default_dtype_of(data: Any, arr: np.ndarray) -> np.dtype:
    """numpy floats keep their width; everything else becomes float32 (bool stays bool)."""
    k = arr.dtype.kind
    if k == "b":
        return bool_
    if k in "iuf":
        if isinstance(data, (np.ndarray, np.generic)) and arr.dtype == float64:
            return float64
        return float32
    raise PygradTypeError(f"tensor: cannot make a tensor from data of dtype {arr.dtype}")


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Create a tensor holding a copy of ``data``.

    ``data``: a Python number, nested lists, a numpy array or a Tensor. Python
    numbers and lists become float32; numpy float64 stays float64 (see
    docs/semantics.md). ``dtype`` overrides.
    """
    if isinstance(data, Tensor):
        arr = data.numpy()
    else:
        try:
            arr = np.asarray(data)
        except (ValueError, TypeError) as exc:
            raise PygradTypeError(f"tensor: cannot convert {type(data).__name__} to a tensor: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise PygradTypeError(f"tensor: cannot make a tensor from data of dtype {arr.dtype}")
    d = _resolve_dtype(dtype) if dtype is not None else (
        data.dtype if isinstance(data, Tensor) else _default_dtype_of(data, arr))
    if arr.ndim > _MAX_DIMS:
        raise ShapeError(f"tensor: tensors have at most {_MAX_DIMS} dims, got shape {arr.shape}")
    t = _wrap(lib.pg_tensor_empty(_CODE_OF_DTYPE[d], arr.ndim, list(arr.shape)))
    if arr.size:
        np.copyto(t.numpy(), arr, casting="unsafe")
    if requires_grad:
        t.requires_grad = True
    return t


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor with a copy of ``array``'s values; float32/float64 keep their dtype.

    (The C engine owns its buffers, so this copies; ``Tensor.numpy()`` is the
    zero-copy direction.)
    """
    if not isinstance(array, np.ndarray):
        raise PygradTypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return tensor(array, dtype=array.dtype if array.dtype in (float32, float64, bool_) else None)


def _as_tensor(x: Any, like: Tensor | None = None, op: str = "tensor") -> Tensor:
    """Tensors pass through; Python scalars take ``like``'s float dtype (weak
    scalars, as in numpy); numpy arrays and scalars go through :func:`tensor`.
    Anything else (lists included, as in the reference engine) raises TypeError."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (bool, numbers.Real)) and not isinstance(x, np.generic):
        dt = like.dtype if like is not None and like.dtype != bool_ else float32
        return full((), _real(op, "a scalar operand", x), dtype=dt)
    if isinstance(x, (np.ndarray, np.generic)):
        return tensor(x)
    raise PygradTypeError(f"{op}: unsupported operand type {type(x).__name__}; "
                          "expected a Tensor, a Python scalar or a numpy array")


def _operand(x: Any) -> Tensor | None:
    """The tensor for a non-scalar operator operand (Tensors and numpy arrays or
    scalars), or None for types operators do not take (lists, strings...)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, np.generic)):
        return tensor(x)
    return None


_MAX_BYTES = 1 << 46  # the C engine's allocation cap


def _check_dims(op: str, dims: list[int]) -> list[int]:
    """Refuse negative and unallocatable shapes before numpy sees them."""
    if any(d < 0 for d in dims):
        raise ShapeError(f"{op}: negative dimension in shape {tuple(dims)}")
    if math.prod(dims) * 8 > _MAX_BYTES:
        raise PygradMemoryError(f"{op}: shape {tuple(dims)} is too large to allocate")
    return dims


def _shape_arg(op: str, shape: tuple, too_large: type[Exception] = ShapeError) -> list[int]:
    """``f(2, 3)`` and ``f((2, 3))`` both mean shape (2, 3).

    Entries must fit the C engine's int64; larger ones raise ``too_large``
    (MemoryError for the creation functions), more negative ones ShapeError.
    """
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    out = []
    for s in shape:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (numbers.Integral,)):
            raise PygradTypeError(f"{op}: shape entries must be ints, got {s!r} in {shape!r}")
        out.append(int(s))
    if len(out) > _MAX_DIMS:
        raise ShapeError(f"{op}: tensors have at most {_MAX_DIMS} dims, got shape {tuple(out)}")
    for s in out:
        if s < -(2**63):
            raise ShapeError(f"{op}: negative dimension in shape {tuple(out)}")
        if s >= 2**63:
            raise too_large(f"{op}: dimension {s} in shape {tuple(out)} is too large")
    return out


def _numpy_alloc(op: str, dims: list[int], make: Callable[[], np.ndarray]) -> np.ndarray:
    """Run a numpy allocation; its failures (MemoryError, "array is too big") become PygradMemoryError."""
    try:
        return make()
    except (MemoryError, ValueError) as exc:
        raise PygradMemoryError(f"{op}: cannot allocate shape {tuple(dims)}: {exc}") from None


def _real(op: str, what: str, v: Any) -> float:
    """A real-number argument (Python or numpy int/float, not a bool array or a tensor) as a float."""
    if isinstance(v, np.bool_) or not isinstance(v, (numbers.Real, np.integer, np.floating)):
        raise PygradTypeError(f"{op}: {what} must be a real number, got {type(v).__name__}")
    try:
        return float(v)
    except OverflowError:
        raise PygradValueError(f"{op}: {what} of {int(v).bit_length()} bits does not fit a float") from None


def full(shape: int | Sequence[int], fill_value: float, dtype: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of the given shape filled with ``fill_value`` (float32 unless ``dtype``)."""
    dims = _shape_arg("full", (shape,) if isinstance(shape, numbers.Integral) else (tuple(shape),), PygradMemoryError)
    d = _resolve_dtype(dtype) if dtype is not None else float32
    t = _wrap(lib.pg_tensor_full(_CODE_OF_DTYPE[d], len(dims), dims, float(fill_value)))
    if requires_grad:
        t.requires_grad = True
    return t


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` and ``zeros((2, 3))`` are the same."""
    return full(_shape_arg("zeros", shape, PygradMemoryError), 0.0, dtype, requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones; ``ones(2, 3)`` and ``ones((2, 3))`` are the same."""
    return full(_shape_arg("ones", shape, PygradMemoryError), 1.0, dtype, requires_grad)


_rng_lock = threading.Lock()
_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator behind :func:`rand` and :func:`randn` (same recipe as the reference)."""
    global _rng
    with _rng_lock:
        _rng = np.random.default_rng(seed)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1): ``generator.random(shape)`` cast to ``dtype``."""
    dims = _check_dims("rand", _shape_arg("rand", shape, PygradMemoryError))
    with _rng_lock:
        data = _numpy_alloc("rand", dims, lambda: _rng.random(dims))
    return tensor(data, dtype=dtype if dtype is not None else float32, requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples: ``generator.standard_normal(shape)`` cast to ``dtype``."""
    dims = _check_dims("randn", _shape_arg("randn", shape, PygradMemoryError))
    with _rng_lock:
        data = _numpy_alloc("randn", dims, lambda: _rng.standard_normal(dims))
    return tensor(data, dtype=dtype if dtype is not None else float32, requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop), like ``numpy.arange`` (float32 unless ``dtype``)."""
    if step == 0:
        raise PygradValueError("arange: step must not be zero")
    data = np.arange(start, step=step) if stop is None else np.arange(start, stop, step)
    return tensor(data, dtype=dtype if dtype is not None else float32, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The n×m identity matrix (m = n by default)."""
    dims = _check_dims("eye", _shape_arg("eye", (n, n if m is None else m), PygradMemoryError))
    data = _numpy_alloc("eye", dims, lambda: np.eye(*dims))
    return tensor(data, dtype=dtype if dtype is not None else float32, requires_grad=requires_grad)


# ---------------------------------------------------------------------------
# grad mode
# ---------------------------------------------------------------------------


def is_grad_enabled() -> bool:
    """Whether ops record the graph on this thread."""
    return bool(lib.pg_grad_enabled())


class _GradMode:
    _flag = 0

    def __enter__(self) -> None:
        self._prev = lib.pg_set_grad_enabled(self._flag)

    def __exit__(self, *exc: object) -> None:
        lib.pg_set_grad_enabled(self._prev)

    def __call__(self, fn: Callable) -> Callable:
        import functools

        flag = self._flag

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = lib.pg_set_grad_enabled(flag)
            try:
                return fn(*args, **kwargs)
            finally:
                lib.pg_set_grad_enabled(prev)

        return wrapper


class no_grad(_GradMode):
    """Context manager (and decorator): ops inside record nothing, on this thread."""

    _flag = 0


class enable_grad(_GradMode):
    """Context manager (and decorator): turn grad mode back on inside a ``no_grad`` block."""

    _flag = 1


# ---------------------------------------------------------------------------
# anomaly detection
# ---------------------------------------------------------------------------


def is_anomaly_enabled() -> bool:
    """Whether ops on this thread check their results for NaN/inf."""
    return bool(lib.pg_detect_anomaly())


def set_detect_anomaly(mode: bool) -> bool:
    """Turn anomaly detection on or off for this thread; returns the previous mode.

    When on, every op checks its forward output, and during backward every
    node checks the gradients it produces, for NaN and infinity; the first
    non-finite value raises :class:`RuntimeError` naming the op, e.g.
    ``Function 'log' returned nan values in its 0th output ...`` or
    ``Function 'div_backward' returned inf values in its 1th output ...; the
    node was created by the forward op 'div'``. Each check is one extra pass
    over the result, so leave it off outside debugging.
    """
    return bool(lib.pg_set_detect_anomaly(bool(mode)))


class detect_anomaly:  # noqa: N801 - the name users know from PyTorch
    """Context manager (and decorator): anomaly detection on inside, on this thread.

    >>> with detect_anomaly():
    ...     loss = model(x)        # raises at the first op that makes a NaN/inf
    ...     loss.backward()        # raises at the first node whose gradient has one

    See :func:`set_detect_anomaly` for what is checked.
    """

    def __init__(self, mode: bool = True) -> None:
        self._mode = bool(mode)
        self._saved: list[int] = []

    def __enter__(self) -> detect_anomaly:
        self._saved.append(lib.pg_set_detect_anomaly(self._mode))
        return self

    def __exit__(self, *exc: object) -> None:
        lib.pg_set_detect_anomaly(self._saved.pop())

    def __call__(self, fn: Callable) -> Callable:
        import functools

        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = lib.pg_set_detect_anomaly(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                lib.pg_set_detect_anomaly(prev)

        return wrapper


# ---------------------------------------------------------------------------
# helpers for axis and index arguments
# ---------------------------------------------------------------------------


def _axes_mask(op: str, axis: Any, t: Tensor) -> int:
    if axis is None:  # before t.shape: its first read costs more than a whole-tensor sum
        return _AXES_ALL
    shape = t.shape
    ndim = len(shape)
    axes = (axis,) if isinstance(axis, numbers.Integral) else axis
    mask = 0
    try:
        it = iter(axes)
    except TypeError:
        raise PygradTypeError(f"{op}: axis must be an int, a tuple of ints or None, got {axis!r}") from None
    for a in it:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise PygradTypeError(f"{op}: axis must be an int, a tuple of ints or None, got {axis!r}")
        a = int(a)
        if ndim == 0 or not -ndim <= a < ndim:
            raise ShapeError(f"{op}: axis {a} is out of range for a tensor of shape {shape}")
        a %= ndim
        if mask & (1 << a):
            raise ShapeError(f"{op}: axis {a} is repeated in {axis!r} (tensor of shape {shape})")
        mask |= 1 << a
    return mask


def _reduce_args(op: str, axis: Any, keepdims: bool, dim: Any, keepdim: Any) -> tuple[Any, bool]:
    if dim is not None:
        if axis is not None:
            raise PygradTypeError(f"{op}: give axis= or dim=, not both")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return axis, bool(keepdims)


def _index_offsets(shape: tuple[int, ...], key: Any) -> np.ndarray:
    """Flat element offsets selected by ``x[key]``, with numpy's exact indexing
    rules: the sum over dims of ``arange(n_d) * stride_d`` broadcast to the
    shape (a zero-copy view), each indexed by ``key``."""
    try:
        key = tuple(_index_part(k) for k in key) if isinstance(key, tuple) else _index_part(key)
    except (TypeError, ValueError) as exc:  # e.g. a ragged list
        raise PygradTypeError(f"getitem: invalid index {key!r} for a tensor of shape {shape}: {exc}") from None
    strides = [0] * len(shape)
    s = 1
    for d in range(len(shape) - 1, -1, -1):
        strides[d] = s
        s *= shape[d]
    try:
        off = np.broadcast_to(np.int64(0), shape)[key]
        for d, n in enumerate(shape if 0 not in shape else ()):  # an empty tensor gives an empty result
            if n == 1 or strides[d] == 0:
                continue
            view = (np.arange(n, dtype=np.int64) * strides[d]).reshape((n,) + (1,) * (len(shape) - d - 1))
            off = off + np.broadcast_to(view, shape)[key]
    except MemoryError as exc:
        raise PygradMemoryError(f"getitem: out of memory computing the index of a tensor of shape {shape}: "
                                f"{exc}") from None
    except IndexError as exc:
        raise PygradIndexError(f"getitem: {exc} (tensor of shape {shape})") from None
    except (TypeError, ValueError) as exc:
        raise PygradTypeError(f"getitem: invalid index {key!r} for a tensor of shape {shape}: {exc}") from None
    off = np.asarray(off, dtype=np.int64)  # keeps 0-d results 0-d
    return off if off.flags.c_contiguous else off.copy()


def _index_part(k: Any) -> Any:
    """One entry of an index key: Tensors and lists become numpy arrays; float
    arrays holding whole numbers become int64 (pygrad has no integer dtype)."""
    if isinstance(k, Tensor):
        k = k.numpy()
    elif isinstance(k, list):
        k = np.asarray(k)
    if isinstance(k, np.ndarray) and k.dtype.kind == "f":
        if not np.all(np.isfinite(k)) or np.any(k != np.round(k)):
            raise PygradIndexError("getitem: float index arrays must hold whole numbers")
        k = k.astype(np.int64)
    return k


class GradFn:
    """What made a non-leaf tensor: ``name`` is the op-table row of the node."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<GradFn {self.name}>"


_CMP = {"lt": lib.PG_CMP_LT, "le": lib.PG_CMP_LE, "gt": lib.PG_CMP_GT, "ge": lib.PG_CMP_GE,
        "eq": lib.PG_CMP_EQ, "ne": lib.PG_CMP_NE}


class _BufferView:
    """Carries ``__array_interface__`` for a zero-copy numpy view and keeps the
    tensor (and so its C storage) alive for as long as the view exists."""

    __slots__ = ("__array_interface__", "_owner")

    def __init__(self, owner: Tensor) -> None:
        p = owner._p
        self._owner = owner
        self.__array_interface__ = {
            "shape": owner.shape,
            "typestr": _TYPESTR[lib.pg_tensor_dtype(p)],
            "data": (int(ffi.cast("uintptr_t", lib.pg_tensor_data(p))), False),
            "version": 3,
        }


def _is_scalar(x: Any) -> bool:
    """Python numbers are weak scalars (they take the tensor's dtype); numpy
    scalars are not: they convert like arrays (NEP 50)."""
    t = type(x)
    if t is float or t is bool:
        return True
    if t is int:
        if not -_FLOAT_MAX <= x <= _FLOAT_MAX:
            raise PygradValueError(f"a scalar operand of {x.bit_length()} bits is too large for a float")
        return True
    if t is Tensor or t is np.ndarray:  # the common operands: no abstract-class check
        return False
    return isinstance(x, numbers.Real) and not isinstance(x, np.generic)


_FLOAT_MAX = float(np.finfo(np.float64).max)


# ---------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------


class Tensor:
    """An n-d float32/float64 (or bool) array in C memory that records the ops
    applied to it for reverse-mode differentiation.

    Create tensors with :func:`pygrad.tensor`, :func:`zeros`, :func:`randn`...
    Arithmetic operators accept Tensors, Python numbers and numpy arrays on
    either side and broadcast like numpy. See docs/semantics.md.
    """

    __slots__ = ("_p", "_shape", "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operator
    __hash__ = object.__hash__

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> None:
        src = tensor(data, dtype, requires_grad)
        lib.pg_tensor_retain(src._p)
        self._p = src._p

    def __del__(self, _release: Callable = lib.pg_tensor_release) -> None:
        # _release is bound at definition: module globals may be gone at shutdown
        try:
            p = self._p
        except AttributeError:  # __init__ failed before taking a handle
            return
        _release(p)

    # ---- properties ----
    @property
    def shape(self) -> tuple[int, ...]:
        """The tensor's dimensions, a tuple of ints."""
        try:
            return self._shape
        except AttributeError:  # first use: ask C once
            p = self._p
            s = self._shape = tuple(lib.pg_tensor_dim(p, i) for i in range(lib.pg_tensor_ndim(p)))
            return s

    @property
    def dtype(self) -> np.dtype:
        """``pygrad.float32``, ``pygrad.float64`` or ``pygrad.bool_`` (numpy dtypes)."""
        return _DTYPE_OF_CODE[lib.pg_tensor_dtype(self._p)]

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return lib.pg_tensor_ndim(self._p)

    @property
    def size(self) -> int:
        """Number of elements (numpy's ``size``)."""
        return lib.pg_tensor_numel(self._p)

    def numel(self) -> int:
        """Number of elements."""
        return lib.pg_tensor_numel(self._p)

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor. Settable on leaves only."""
        return bool(lib.pg_tensor_requires_grad(self._p))

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        _check(lib.pg_tensor_set_requires_grad(self._p, bool(flag)))

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return self."""
        self.requires_grad = flag
        return self

    @property
    def is_leaf(self) -> bool:
        """True unless the tensor was made by a recorded op."""
        return bool(lib.pg_tensor_is_leaf(self._p))

    @property
    def grad_fn(self) -> GradFn | None:
        """The recorded op that made this tensor, or None for leaves."""
        op = lib.pg_tensor_grad_fn(self._p)
        return None if op < 0 else GradFn(OP_NAMES[op])

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (same shape and dtype), or None."""
        g = lib.pg_tensor_grad(self._p)
        return None if g == _NULL else _wrap(g)

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None and not isinstance(value, Tensor):
            raise PygradTypeError(f"grad: expected a Tensor or None, got {type(value).__name__}")
        _check(lib.pg_tensor_set_grad(self._p, _NULL if value is None else value._p))

    @property
    def version(self) -> int:
        """In-place modification counter of this tensor's storage."""
        return lib.pg_tensor_version(self._p)

    @property
    def T(self) -> Tensor:
        """All dims reversed (numpy's ``.T``)."""
        n = lib.pg_tensor_ndim(self._p)
        return _wrap(lib.pg_permute(self._p, n, list(range(n - 1, -1, -1))))

    # ---- autograd ----
    def backward(self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) · grad into ``.grad`` of every leaf that requires grad.

        ``grad`` (the upstream gradient, same shape as self) may be omitted for
        one-element tensors. The graph's saved values are released afterwards
        unless ``retain_graph`` (default: ``create_graph``). With
        ``create_graph=True`` the backward computation is itself recorded: the
        gradients have a ``grad_fn`` and can be differentiated again. As in
        PyTorch, a leaf's recorded ``.grad`` then refers back to the leaf (a
        reference cycle): set ``x.grad = None`` when done with it, or use
        :func:`pygrad.functional.grad`, which does.
        """
        if grad is None:
            gp = _NULL
        else:
            g = grad if isinstance(grad, Tensor) else tensor(grad, dtype=self.dtype)
            if g.dtype == bool_ and self.dtype != bool_:  # converted like an array, as the reference does
                g = g.astype(self.dtype)
            gp = g._p
        retain = create_graph if retain_graph is None else retain_graph
        _check(lib.pg_backward_ex(self._p, gp, bool(retain), bool(create_graph)))
        if create_graph and lib.pg_take_grad_graph_chained():
            _warn_grad_cycle()

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        _check(lib.pg_tensor_retain_grad(self._p))

    def detach(self) -> Tensor:
        """A tensor sharing this one's storage, cut from the graph."""
        return _wrap(lib.pg_tensor_detach(self._p))

    # ---- conversion ----
    def numpy(self) -> np.ndarray:
        """A zero-copy numpy view of the C buffer (writes show in the tensor).

        The view keeps the tensor's storage alive. Writes through it are not
        seen by the version counter.
        """
        try:
            return np.asarray(_BufferView(self))
        except ValueError as exc:  # an empty tensor whose other dims multiply past numpy's limit
            raise PygradMemoryError(f"numpy: a tensor of shape {self.shape} cannot be viewed by numpy: {exc}") from None

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return a.copy() if copy else a

    def item(self) -> float | bool:
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise PygradValueError(f"item: only one-element tensors can be converted, got shape {self.shape}")
        return self.numpy().reshape(-1)[0].item()

    def tolist(self) -> Any:
        """Nested Python lists of the values."""
        return self.numpy().tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise PygradValueError(
                f"bool: the truth value of a tensor with shape {self.shape} is ambiguous; use .any()/.all()")
        return bool(self.item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise PygradTypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = "" if self.dtype == float32 else f", dtype={self.dtype}"
        if lib.pg_tensor_requires_grad(self._p):
            op = self.grad_fn
            extra += f", grad_fn={op.name}" if op is not None else ", requires_grad=True"
        return f"tensor({body}{extra})"

    def astype(self, dtype: Any) -> Tensor:
        """A differentiable cast (returns self when the dtype already matches)."""
        d = _resolve_dtype(dtype)
        if d == self.dtype:
            return self
        return _wrap(lib.pg_cast(self._p, _CODE_OF_DTYPE[d]))

    to = astype

    def float(self) -> Tensor:
        """Cast to float32."""
        return self.astype(float32)

    def double(self) -> Tensor:
        """Cast to float64."""
        return self.astype(float64)

    # ---- arithmetic ----
    # Every temporary Tensor is held in a local while its handle is passed to C:
    # `lib.f(_operand(o)._p)` would let the temporary die (and free its C
    # tensor) before the call.
    __add__ = _binary_method("__add__", lib.pg_add, lib.pg_add_scalar, reflected=False)
    __radd__ = _binary_method("__radd__", lib.pg_add, lib.pg_add_scalar, reflected=True)

    def __sub__(self, o: Any) -> Tensor:
        t = type(o)
        if t is Tensor:
            p = _sub(self._p, o._p)
        elif t is float or _is_scalar(o):  # x - c = x + (-c)
            p = _add_scalar(self._p, -float(o))
        else:
            t = _operand(o)
            return NotImplemented if t is None else _wrap(_sub(self._p, t._p))
        if not p:
            _raise_last()
        r = _new_tensor(Tensor)
        r._p = p
        return r

    def __rsub__(self, o: Any) -> Tensor:
        if _is_scalar(o):  # c - x = (-x) + c
            n = _wrap(lib.pg_neg(self._p))
            return _wrap(lib.pg_add_scalar(n._p, o))
        t = _operand(o)
        return NotImplemented if t is None else _wrap(lib.pg_sub(t._p, self._p))

    __mul__ = _binary_method("__mul__", lib.pg_mul, lib.pg_mul_scalar, reflected=False)
    __rmul__ = _binary_method("__rmul__", lib.pg_mul, lib.pg_mul_scalar, reflected=True)

    def __truediv__(self, o: Any) -> Tensor:
        if type(o) is Tensor:
            return _wrap(lib.pg_div(self._p, o._p))
        if _is_scalar(o):  # x / c = x * (1/c)
            c = float(o)
            inv = 1.0 / c if c != 0 else math.copysign(math.inf, c)
            return _wrap(lib.pg_mul_scalar(self._p, inv))
        t = _operand(o)
        return NotImplemented if t is None else _wrap(lib.pg_div(self._p, t._p))

    def __rtruediv__(self, o: Any) -> Tensor:
        if _is_scalar(o):  # c / x = c * (1/x)
            r = _wrap(lib.pg_reciprocal(self._p))
            return _wrap(lib.pg_mul_scalar(r._p, o))
        t = _operand(o)
        return NotImplemented if t is None else _wrap(lib.pg_div(t._p, self._p))

    def __pow__(self, o: Any) -> Tensor:
        if type(o) is Tensor:
            return _wrap(lib.pg_pow(self._p, o._p))
        if _is_scalar(o):
            return _wrap(lib.pg_pow_scalar(self._p, o))
        t = _operand(o)
        return NotImplemented if t is None else _wrap(lib.pg_pow(self._p, t._p))

    def __rpow__(self, o: Any) -> Tensor:
        if _is_scalar(o):
            c = float(o)
            if c > 0:  # c ** x = exp(x log c)
                s = _wrap(lib.pg_mul_scalar(self._p, math.log(c)))
                return _wrap(lib.pg_exp(s._p))
            t = _as_tensor(o, self)
        else:
            t = _operand(o)
        return NotImplemented if t is None else _wrap(lib.pg_pow(t._p, self._p))

    def __matmul__(self, o: Any) -> Tensor:
        if type(o) is not Tensor:
            t = _operand(o)
            return NotImplemented if t is None else _wrap(_matmul(self._p, t._p))
        p = _matmul(self._p, o._p)
        if not p:
            _raise_last()
        r = _new_tensor(Tensor)
        r._p = p
        return r

    def __rmatmul__(self, o: Any) -> Tensor:
        t = _operand(o)
        return NotImplemented if t is None else _wrap(lib.pg_matmul(t._p, self._p))

    def __neg__(self) -> Tensor:
        return _wrap(lib.pg_neg(self._p))

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _wrap(lib.pg_abs(self._p))

    # ---- comparisons: bool tensors, no graph ----
    def _cmp(self, o: Any, how: str) -> Tensor:
        if _is_scalar(o):
            return _wrap(lib.pg_compare_scalar(self._p, float(o), _CMP[how]))
        t = _operand(o)
        if t is None:
            return NotImplemented  # type: ignore[return-value]
        return _wrap(lib.pg_compare(self._p, t._p, _CMP[how]))

    def __lt__(self, o: Any) -> Tensor:
        return self._cmp(o, "lt")

    def __le__(self, o: Any) -> Tensor:
        return self._cmp(o, "le")

    def __gt__(self, o: Any) -> Tensor:
        return self._cmp(o, "gt")

    def __ge__(self, o: Any) -> Tensor:
        return self._cmp(o, "ge")

    def __eq__(self, o: Any) -> Tensor:  # type: ignore[override]
        return self._cmp(o, "eq")

    def __ne__(self, o: Any) -> Tensor:  # type: ignore[override]
        return self._cmp(o, "ne")

    # ---- in place ----
    def add_(self, o: Any, alpha: float = 1.0) -> Tensor:
        """self += alpha * o, in place; bumps the version.

        With grad mode on and self (a non-leaf) or ``o`` requiring grad, the
        update is recorded like its out-of-place form and self becomes the
        output of that node; on a leaf that requires grad it raises.
        """
        if _is_scalar(o):
            _check(lib.pg_add_scalar_(self._p, float(alpha) * float(o)))
        else:
            t = _as_tensor(o, self, "add_")
            _check(lib.pg_add_(self._p, t._p, float(alpha)))
        return self

    def sub_(self, o: Any, alpha: float = 1.0) -> Tensor:
        """self -= alpha * o, in place."""
        return self.add_(o, -float(alpha))

    def mul_(self, o: Any) -> Tensor:
        """self *= o, in place."""
        if _is_scalar(o):
            _check(lib.pg_mul_scalar_(self._p, float(o)))
        else:
            t = _as_tensor(o, self, "mul_")
            _check(lib.pg_mul_(self._p, t._p))
        return self

    def fill_(self, value: float) -> Tensor:
        """Set every element to ``value``, in place."""
        _check(lib.pg_fill_(self._p, _real("fill_", "value", value)))
        return self

    def zero_(self) -> Tensor:
        """Set every element to 0, in place."""
        return self.fill_(0.0)

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src``'s values (same number of elements) into self, in place."""
        t = _as_tensor(src, self, "copy_")
        _check(lib.pg_copy_(self._p, t._p))
        return self

    def __iadd__(self, o: Any) -> Tensor:
        if type(o) is Tensor:
            _check(lib.pg_add_(self._p, o._p, 1.0))
            return self
        return self.add_(o) if _is_scalar(o) or _operand(o) is not None else NotImplemented

    def __isub__(self, o: Any) -> Tensor:
        if type(o) is Tensor:
            _check(lib.pg_add_(self._p, o._p, -1.0))
            return self
        return self.sub_(o) if _is_scalar(o) or _operand(o) is not None else NotImplemented

    def __imul__(self, o: Any) -> Tensor:
        return self.mul_(o) if _is_scalar(o) or _operand(o) is not None else NotImplemented

    # ---- elementwise ----
    exp = _unary_method("exp", lib.pg_exp, "eˣ.")

    log = _unary_method("log", lib.pg_log, "Natural log.")

    def sqrt(self) -> Tensor:
        """√x."""
        return _wrap(lib.pg_sqrt(self._p))

    def reciprocal(self) -> Tensor:
        """1/x."""
        return _wrap(lib.pg_reciprocal(self._p))

    def abs(self) -> Tensor:
        """|x| (derivative 0 at 0)."""
        return _wrap(lib.pg_abs(self._p))

    sigmoid = _unary_method("sigmoid", lib.pg_sigmoid, "σ(x) = 1/(1+e⁻ˣ); σ' = (1-σ)σ.")

    tanh = _unary_method("tanh", lib.pg_tanh, "tanh x; derivative 1 - tanh²x.")

    relu = _unary_method("relu", lib.pg_relu, "max(0, x); derivative 0 at 0.")

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        """x for x > 0, negative_slope·x otherwise."""
        return _wrap(lib.pg_leaky_relu(self._p, _real("leaky_relu", "negative_slope", negative_slope)))

    def elu(self, alpha: float = 1.0) -> Tensor:
        """x for x > 0, alpha·(eˣ - 1) otherwise."""
        return _wrap(lib.pg_elu(self._p, _real("elu", "alpha", alpha)))

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """Clip to [min, max]; the gradient passes where min ≤ x ≤ max."""
        lo = 0.0 if min is None else _real("clamp", "min", min)
        hi = 0.0 if max is None else _real("clamp", "max", max)
        return _wrap(lib.pg_clamp(self._p, lo, hi, min is not None, max is not None))

    def pow(self, p: Any) -> Tensor:
        """xᵖ for a scalar or tensor exponent."""
        r = self.__pow__(p)
        if r is NotImplemented:
            raise PygradTypeError(f"pow: unsupported exponent type {type(p).__name__}; expected a Tensor, a Python "
                                  "scalar or a numpy array")
        return r

    def maximum(self, o: Any) -> Tensor:
        """Elementwise max; on ties each input gets half the gradient."""
        t = _as_tensor(o, self, "maximum")
        return _wrap(lib.pg_maximum(self._p, t._p))

    def minimum(self, o: Any) -> Tensor:
        """Elementwise min; on ties each input gets half the gradient."""
        t = _as_tensor(o, self, "minimum")
        return _wrap(lib.pg_minimum(self._p, t._p))

    def matmul(self, o: Any) -> Tensor:
        """Matrix product with numpy's ``matmul`` rules."""
        r = self.__matmul__(o)
        if r is NotImplemented:
            raise PygradTypeError(f"matmul: unsupported operand type {type(o).__name__}; expected a Tensor or a "
                                  "numpy array")
        return r

    def softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """exp(x - max) / sum(exp(x - max)) along ``axis``."""
        return _wrap(lib.pg_softmax(self._p, _axis_arg("softmax", axis if dim is None else dim, self.shape)))

    def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> Tensor:
        """(x - max) - log(sum(exp(x - max))) along ``axis``."""
        return _wrap(lib.pg_log_softmax(self._p, _axis_arg("log_softmax", axis if dim is None else dim, self.shape)))

    # ---- reductions ----
    def sum(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None) -> Tensor:
        """Sum over ``axis`` (None: all)."""
        axis, keepdims = _reduce_args("sum", axis, keepdims, dim, keepdim)
        return _wrap(lib.pg_sum(self._p, _axes_mask("sum", axis, self), keepdims))

    def mean(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None) -> Tensor:
        """Mean over ``axis`` (None: all); nan over zero elements."""
        axis, keepdims = _reduce_args("mean", axis, keepdims, dim, keepdim)
        return _wrap(lib.pg_mean(self._p, _axes_mask("mean", axis, self), keepdims))

    def max(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None) -> Tensor:
        """Maximum over ``axis`` (values only); ties share the gradient equally."""
        axis, keepdims = _reduce_args("max", axis, keepdims, dim, keepdim)
        return _wrap(lib.pg_max(self._p, _axes_mask("max", axis, self), keepdims))

    def min(self, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None) -> Tensor:
        """Minimum over ``axis`` (values only); ties share the gradient equally."""
        axis, keepdims = _reduce_args("min", axis, keepdims, dim, keepdim)
        return _wrap(lib.pg_min(self._p, _axes_mask("min", axis, self), keepdims))

    # ---- shape ----
    def reshape(self, *shape: Any) -> Tensor:
        """The same elements with another shape (one -1 allowed); shares storage."""
        dims = _shape_arg("reshape", shape)
        return _wrap(lib.pg_reshape(self._p, len(dims), dims))

    view = reshape

    def permute(self, *dims: Any) -> Tensor:
        """Reorder dims: ``y.shape[i] == x.shape[dims[i]]``."""
        d = _shape_arg("permute", dims)
        if any(not -(2**31) < v < 2**31 for v in d):
            raise ShapeError(f"permute: dims {tuple(d)} are not a permutation of the dims of shape {self.shape}")
        return _wrap(lib.pg_permute(self._p, len(d), d))

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dims."""
        n = self.ndim
        a, b = _axis_arg("transpose", dim0, self.shape), _axis_arg("transpose", dim1, self.shape)
        perm = list(range(n))
        perm[a], perm[b] = perm[b], perm[a]
        return _wrap(lib.pg_permute(self._p, n, perm))

    def __getitem__(self, key: Any) -> Tensor:
        off = _index_offsets(self.shape, key)
        return _wrap(lib.pg_gather(self._p, off.ndim, list(off.shape), ffi.from_buffer("int64_t[]", off)))


def _axis_arg(op: str, axis: Any, shape: tuple[int, ...]) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise PygradTypeError(f"{op}: axis must be an int, got {axis!r}")
    ndim = len(shape)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis} is out of range for a tensor of shape {shape}")
    return int(axis) % ndim


# ---------------------------------------------------------------------------
# functions
# ---------------------------------------------------------------------------


def _t(x: Any, like: Any = None, op: str = "tensor") -> Tensor:
    return _as_tensor(x, like if isinstance(like, Tensor) else None, op)


def _binary(a: Any, b: Any, op: Callable, rop: Callable, name: str = "tensor") -> Tensor:
    """The function form of a binary operator: same dispatch as ``a op b``."""
    if isinstance(a, Tensor):
        r = op(a, b)
    elif isinstance(b, Tensor):
        r = rop(b, a)
    else:
        r = op(_as_tensor(a, None, name), b)
    if r is NotImplemented:
        raise PygradTypeError(f"unsupported operand types {type(a).__name__} and {type(b).__name__}")
    return r


def add(a: Any, b: Any) -> Tensor:
    """a + b, broadcasting."""
    return _binary(a, b, Tensor.__add__, Tensor.__radd__, "add")


def sub(a: Any, b: Any) -> Tensor:
    """a - b, broadcasting."""
    return _binary(a, b, Tensor.__sub__, Tensor.__rsub__, "sub")


def mul(a: Any, b: Any) -> Tensor:
    """a · b, broadcasting."""
    return _binary(a, b, Tensor.__mul__, Tensor.__rmul__, "mul")


def div(a: Any, b: Any) -> Tensor:
    """a / b, broadcasting."""
    return _binary(a, b, Tensor.__truediv__, Tensor.__rtruediv__, "div")


def neg(x: Any) -> Tensor:
    """-x."""
    return -_t(x, op="neg")


def pow(x: Any, p: Any) -> Tensor:  # noqa: A001
    """xᵖ (p a scalar or a tensor)."""
    return _binary(x, p, Tensor.__pow__, Tensor.__rpow__, "pow")


def exp(x: Any) -> Tensor:
    """eˣ."""
    return _t(x, op="exp").exp()


def log(x: Any) -> Tensor:
    """Natural log."""
    return _t(x, op="log").log()


def sqrt(x: Any) -> Tensor:
    """√x."""
    return _t(x, op="sqrt").sqrt()


def reciprocal(x: Any) -> Tensor:
    """1/x."""
    return _t(x, op="reciprocal").reciprocal()


def abs(x: Any) -> Tensor:  # noqa: A001
    """|x|."""
    return _t(x, op="abs").abs()


def sigmoid(x: Any) -> Tensor:
    """σ(x) = 1/(1+e⁻ˣ)."""
    return _t(x, op="sigmoid").sigmoid()


def tanh(x: Any) -> Tensor:
    """tanh x."""
    return _t(x, op="tanh").tanh()


def relu(x: Any) -> Tensor:
    """max(0, x)."""
    return _t(x, op="relu").relu()


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope·x otherwise."""
    return _t(x, op="leaky_relu").leaky_relu(negative_slope)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha·(eˣ - 1) otherwise."""
    return _t(x, op="elu").elu(alpha)


def clamp(x: Any, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Clip to [min, max]."""
    return _t(x, op="clamp").clamp(min, max)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max, broadcasting; ties split the gradient."""
    return _t(a, b, "maximum").maximum(b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min, broadcasting; ties split the gradient."""
    return _t(a, b, "minimum").minimum(b)


def _where_condition(cond: Any) -> Tensor:
    """A bool tensor, or a bool array (numpy array, list, tuple, bool); nothing is cast to bool."""
    if isinstance(cond, Tensor):
        c = cond
    elif isinstance(cond, (np.ndarray, np.generic, list, tuple, bool)):
        try:
            arr = np.asarray(cond)
        except (ValueError, TypeError) as exc:
            raise PygradTypeError(f"where: cannot make a bool array of the condition: {exc}") from None
        if arr.dtype != np.bool_:
            raise PygradTypeError(f"where: the condition must be bool, got {arr.dtype}")
        c = tensor(arr)
    else:
        raise PygradTypeError(f"where: the condition must be a bool tensor or array, got {type(cond).__name__}")
    if c.dtype != bool_:
        raise PygradTypeError(f"where: the condition must be bool, got {c.dtype}")
    return c


def where(cond: Any, x: Any, y: Any) -> Tensor:
    """cond ? x : y elementwise, broadcasting all three (no gradient to cond).

    ``cond`` is a bool tensor or bool array; a Python scalar branch takes the
    other branch's dtype (arrays are converted first, as by :func:`tensor`).
    """
    c = _where_condition(cond)
    tx = x if isinstance(x, Tensor) else None if _is_scalar(x) else _as_tensor(x, None, "where")
    ty = y if isinstance(y, Tensor) else None if _is_scalar(y) else _as_tensor(y, None, "where")
    like = tx if tx is not None else ty
    tx = tx if tx is not None else _as_tensor(x, like, "where")
    ty = ty if ty is not None else _as_tensor(y, like, "where")
    return _wrap(lib.pg_where(c._p, tx._p, ty._p))


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with numpy's ``matmul`` rules (1-d promotion, batch broadcasting)."""
    return _t(a, op="matmul").matmul(b)


def sum(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (None: all)."""
    return _t(x, op="sum").sum(axis, keepdims, dim=dim, keepdim=keepdim)


def mean(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None) -> Tensor:
    """Mean over ``axis`` (None: all)."""
    return _t(x, op="mean").mean(axis, keepdims, dim=dim, keepdim=keepdim)


def max(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None) -> Tensor:  # noqa: A001
    """Maximum over ``axis``."""
    return _t(x, op="max").max(axis, keepdims, dim=dim, keepdim=keepdim)


def min(x: Any, axis: Any = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None) -> Tensor:  # noqa: A001
    """Minimum over ``axis``."""
    return _t(x, op="min").min(axis, keepdims, dim=dim, keepdim=keepdim)


def reshape(x: Any, shape: Sequence[int]) -> Tensor:
    """The same elements with another shape."""
    return _t(x, op="reshape").reshape(shape)


def transpose(x: Any, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    return _t(x, op="transpose").transpose(dim0, dim1)


def permute(x: Any, dims: Sequence[int]) -> Tensor:
    """Reorder dims."""
    return _t(x, op="permute").permute(dims)


def softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """Softmax along ``axis``."""
    return _t(x, op="softmax").softmax(axis, dim=dim)


def log_softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """Log-softmax along ``axis``."""
    return _t(x, op="log_softmax").log_softmax(axis, dim=dim)


def prelu(x: Any, weight: Any) -> Tensor:
    """Parametric ReLU: ``y = x`` where ``x > 0``, else ``w_c · x``.

    ``weight`` has shape (1,) (one slope shared by every element) or (C,) with
    C = ``x.shape[1]`` (one slope per channel, channel axis 1). At the kink
    x = 0 the slope w_c is used. d/dx = 1 or w_c; d/dw_c = Σ over channel c of
    x where x ≤ 0.
    """
    a = _t(x)
    w = _t(weight, a)
    return _wrap(lib.pg_prelu(a._p, w._p))


def maxout(x: Any, pieces: int) -> Tensor:
    """Maxout over the last axis: ``y[..., c] = max_k x[..., c·pieces + k]``.

    ``x``: (..., C·pieces) → (..., C). The gradient goes to the maximum of each
    group ("max routes"); k tied maxima each get g/k.
    """
    if isinstance(pieces, bool) or not isinstance(pieces, numbers.Integral):
        raise PygradTypeError(f"maxout: pieces must be an int, got {pieces!r}")
    a = _t(x)
    return _wrap(lib.pg_maxout(a._p, int(pieces)))


_REDUCTIONS = {"none": lib.PG_REDUCTION_NONE, "mean": lib.PG_REDUCTION_MEAN, "sum": lib.PG_REDUCTION_SUM}


def _reduction_arg(op: str, reduction: Any) -> int:
    if reduction not in _REDUCTIONS:
        raise PygradValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return _REDUCTIONS[reduction]


def _labels_arg(op: str, labels: Any) -> np.ndarray:
    """Class labels as a contiguous 1-d int64 array. Integer arrays and lists
    pass; float arrays and tensors must hold whole numbers (pygrad tensors have
    no integer dtype). The range is checked by the op itself."""
    if isinstance(labels, Tensor):
        arr = labels.numpy()
    else:
        try:
            arr = np.asarray(labels)
        except (TypeError, ValueError) as exc:
            raise PygradTypeError(f"{op}: cannot read labels from {type(labels).__name__}: {exc}") from None
    if arr.dtype.kind not in "iuf":
        raise PygradTypeError(f"{op}: labels must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and (not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr))):
        raise PygradTypeError(f"{op}: labels must be whole numbers, got non-integer values")
    if arr.ndim != 1:
        raise ShapeError(f"{op}: labels must be 1-d (one class index per row), got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of integer class labels, one fused op.

    ``logits``: (N, C); ``labels``: N ints in [0, C) (an array, a list, or a
    tensor of whole numbers). Per row, computed stably with m = maxⱼ xᵢⱼ:

        Lᵢ = -log softmax(xᵢ)[yᵢ] = log Σⱼ exp(xᵢⱼ - m) - (xᵢ,yᵢ - m)

    ``reduction``: ``"mean"`` (1/N Σ Lᵢ, the default), ``"sum"``, or ``"none"``
    (the (N,) losses). Gradient: dL/dxᵢⱼ = softmax(xᵢ)ⱼ - [j = yᵢ] (over N for
    the mean). A label out of range raises IndexError.
    """
    a = _t(logits)
    r = _reduction_arg("cross_entropy", reduction)
    y = _labels_arg("cross_entropy", labels)
    return _wrap(lib.pg_cross_entropy(a._p, ffi.from_buffer("int64_t[]", y), y.size, r))


def _tensor_list(op: str, tensors: Sequence[Any]) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise PygradTypeError(f"{op}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    ts = [_as_tensor(t, None, op) for t in tensors]
    if not ts:
        raise PygradValueError(f"{op}: need at least one tensor")
    dts = {t.dtype for t in ts}
    if len(dts) > 1:
        target = float64 if float64 in dts else float32
        ts = [t.astype(target) for t in ts]
    return ts


def _join_axis(op: str, axis: Any) -> int:
    """An int axis for concatenate/stack (its range is checked by the C engine)."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise PygradTypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -(2**31) < axis < 2**31:
        raise ShapeError(f"{op}: axis {axis} is out of range")
    return int(axis)


def concatenate(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis."""
    ts = _tensor_list("concatenate", tensors)
    ax = _join_axis("concatenate", axis if dim is None else dim)
    arr = ffi.new("pg_tensor *[]", [t._p for t in ts])
    return _wrap(lib.pg_concatenate(arr, len(ts), ax))


cat = concatenate


def stack(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join equal-shape tensors along a new axis."""
    ts = _tensor_list("stack", tensors)
    ax = _join_axis("stack", axis if dim is None else dim)
    arr = ffi.new("pg_tensor *[]", [t._p for t in ts])
    return _wrap(lib.pg_stack(arr, len(ts), ax))


def scatter_add(src: Tensor, shape: Sequence[int], offsets: Any) -> Tensor:
    """``out = zeros(shape); out.flat[offsets[i]] += src.flat[i]`` (repeated offsets add).

    ``offsets`` holds one flat element offset per element of ``src``. This is
    the adjoint of indexing (``x[key]`` gathers, its backward scatter-adds);
    its own backward gathers.
    """
    t = _as_tensor(src)
    dims = _shape_arg("scatter_add", (tuple(shape),))
    off = np.ascontiguousarray(np.asarray(offsets), dtype=np.int64).reshape(-1)
    if off.size != t.numel():
        raise ShapeError(f"scatter_add: {off.size} offsets for a source of shape {t.shape} ({t.numel()} elements)")
    return _wrap(lib.pg_scatter_add(t._p, len(dims), dims, ffi.from_buffer("int64_t[]", off)))


def live_objects() -> dict[str, int]:
    """Counts of C tensors, graph nodes and data bytes alive now (for leak checks)."""
    return {"tensors": lib.pg_live_tensors(), "nodes": lib.pg_live_nodes(), "bytes": lib.pg_live_bytes()}


# ---------------------------------------------------------------------------
# user-defined ops: Python backward functions called from the C sweep
# ---------------------------------------------------------------------------

_handles: dict[int, Any] = {}  # keeps each backward function alive while C holds its handle


@ffi.def_extern()
def _pg_py_custom_backward(ctx: Any, gout: Any, dx: Any, n_in: int, needs: Any) -> int:
    try:
        fn = ffi.from_handle(ctx)
        lib.pg_tensor_retain(gout)
        grads = fn(_wrap(gout), [bool(needs[i]) for i in range(n_in)])
        for i, gi in enumerate(grads):
            if gi is not None and needs[i]:
                lib.pg_tensor_retain(gi._p)
                dx[i] = gi._p
        return 0
    except BaseException as exc:  # handed to the thread that called backward
        _callback_state.exc = exc
        lib.pg_set_error(lib.PG_ERR_CALLBACK, f"custom: backward raised {type(exc).__name__}: {exc}"[:900].encode())
        return 1


@ffi.def_extern()
def _pg_py_custom_release(ctx: Any) -> None:
    _handles.pop(int(ffi.cast("uintptr_t", ctx)), None)


def custom_op(inputs: Sequence[Tensor], value: Any, backward: Callable[[Tensor, list[bool]], Sequence[Any]]) -> Tensor:
    """Apply a user-defined op whose forward result ``value`` the caller computed.

    ``backward(g, needs)`` is called from the C backward sweep with the
    output's gradient (a Tensor) and one flag per input saying whether that
    input needs a gradient; it returns one gradient (a Tensor of the input's
    shape and dtype, or None) per input. Exceptions it raises reach the caller
    of ``backward()`` with their traceback. This is the hook behind
    user-defined gates (:mod:`pygrad.gates`).
    """
    ins = list(inputs)
    for t in ins:
        if not isinstance(t, Tensor):
            raise PygradTypeError(f"custom: inputs must be Tensors, got {type(t).__name__}")
    v = value if isinstance(value, Tensor) else tensor(value)
    v = _wrap(lib.pg_tensor_clone(v._p))  # the output must not alias the caller's tensor

    def fn(g: Tensor, needs: list[bool]) -> list[Any]:
        grads = backward(g, needs)
        return [None if gi is None else gi if isinstance(gi, Tensor) else tensor(gi, dtype=t.dtype)
                for gi, t in zip(grads, ins)]

    h = ffi.new_handle(fn)
    _handles[int(ffi.cast("uintptr_t", h))] = h
    arr = ffi.new("pg_tensor *[]", [t._p for t in ins]) if ins else _NULL
    return _wrap(lib.pg_custom(arr, len(ins), v._p, lib._pg_py_custom_backward, lib._pg_py_custom_release, h))


def graph_of(t: Tensor) -> list[dict[str, Any]]:
    """The recorded graph behind ``t``, for drawing: one dict per node
    reachable from t (t's own node first) with its ``id``, ``op`` name, its
    ``inputs`` as ``("node", id)``, ``("leaf", Tensor)`` or ``("const", None)``
    (an input that needs no gradient), and its ``output`` Tensor when that
    tensor is still alive (else None)."""
    root = lib.pg_tensor_node(t._p)
    if root == _NULL:
        return []
    root = ffi.gc(root, lib.pg_node_release)
    key = int(ffi.cast("uintptr_t", root))
    seen = {key: root}
    stack, out = [root], []
    while stack:
        n = stack.pop()
        inputs: list[tuple[str, Any]] = []
        for i in range(lib.pg_node_n_inputs(n)):
            m = lib.pg_node_input_node(n, i)
            if m != _NULL:
                m = ffi.gc(m, lib.pg_node_release)
                k = int(ffi.cast("uintptr_t", m))
                inputs.append(("node", k))
                if k not in seen:
                    seen[k] = m
                    stack.append(m)
                continue
            leaf = lib.pg_node_input_leaf(n, i)
            inputs.append(("leaf", _wrap(leaf)) if leaf != _NULL else ("const", None))
        o = lib.pg_node_output(n)
        out.append({"id": int(ffi.cast("uintptr_t", n)), "op": OP_NAMES[lib.pg_node_op(n)], "inputs": inputs,
                    "output": _wrap(o) if o != _NULL else None})
    return out

def set_num_threads(n: int) -> None:
    """Let the C kernels use ``n`` threads (``1 <= n <= 256``).

    GEMM (matmul and its backward) and elementwise ops and reductions over
    large tensors split their work over a pool of ``n - 1`` worker threads
    plus the calling one. Process-wide; the default is the number of online
    cores. Results do not depend on ``n``. While one Python thread's kernel
    holds the pool, kernels called from other threads run on their own thread.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise PygradTypeError(f"set_num_threads: expected an int, got {type(n).__name__}")
    n = int(n)
    if not 1 <= n <= lib.PG_MAX_THREADS:
        raise PygradValueError(
            f"set_num_threads: the number of threads must be between 1 and {lib.PG_MAX_THREADS}, got {n}")
    _check(lib.pg_set_num_threads(n))


def get_num_threads() -> int:
    """The number of threads the C kernels may use (see :func:`set_num_threads`)."""
    return int(lib.pg_get_num_threads())


def _gemm_kernel() -> str:
    """The GEMM kernel matmul runs on: "avx512", "avx2", "generic" or "naive" (for tests)."""
    return ffi.string(lib.pg_gemm_kernel()).decode()


def _set_gemm_kernel(name: str) -> None:
    """Force a GEMM kernel ("auto", "avx512", "avx2", "generic", "naive"); for tests and diagnosis.

    Raises ValueError for an unknown name or a kernel this CPU cannot run.
    """
    _check(lib.pg_set_gemm_kernel(str(name).encode()))

# fused optimizer updates (used by pygrad.optim; not recorded on the tape)
# ---------------------------------------------------------------------------


def _state_arg(op: str, what: str, t: Any) -> Any:
    """The C handle of an optimizer tensor argument (None: NULL)."""
    if t is None:
        return _NULL
    if not isinstance(t, Tensor):
        raise PygradTypeError(f"{op}: {what} must be a pygrad Tensor, got {type(t).__name__}")
    return t._p


def sgd_step(param: Tensor, grad: Tensor, momentum_buf: Tensor | None, step: int, lr: float,
             momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
             nesterov: bool = False) -> None:
    """One SGD update of ``param`` in place (PyTorch's rule), not recorded.

    g = grad + wd·p; with momentum μ: b = g at step 1, else μ·b + (1 - dampening)·g,
    and d = g + μ·b (Nesterov) or b; p ← p - lr·d. ``momentum_buf`` (param's shape
    and dtype) is needed when μ ≠ 0 and is updated in place.
    """
    _check(lib.pg_sgd_step(_state_arg("sgd_step", "param", param), _state_arg("sgd_step", "grad", grad),
                           _state_arg("sgd_step", "momentum_buf", momentum_buf), int(step), float(lr),
                           float(momentum), float(dampening), float(weight_decay), bool(nesterov)))


def adagrad_step(param: Tensor, grad: Tensor, state_sum: Tensor, step: int, lr: float, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, eps: float = 1e-10) -> None:
    """One AdaGrad update in place: g = grad + wd·p, s ← s + g², p ← p - clr·g/(√s + eps),
    clr = lr / (1 + (step - 1)·lr_decay)."""
    _check(lib.pg_adagrad_step(_state_arg("adagrad_step", "param", param), _state_arg("adagrad_step", "grad", grad),
                               _state_arg("adagrad_step", "state_sum", state_sum), int(step), float(lr),
                               float(lr_decay), float(weight_decay), float(eps)))


def rmsprop_step(param: Tensor, grad: Tensor, square_avg: Tensor, momentum_buf: Tensor | None,
                 grad_avg: Tensor | None, lr: float, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False) -> None:
    """One RMSProp update in place: v ← α·v + (1 - α)·g², den = √(v - ḡ²) + eps (centered, with
    ḡ the running mean of g) or √v + eps; p ← p - lr·g/den, or through a momentum buffer
    b ← μ·b + g/den, p ← p - lr·b."""
    op = "rmsprop_step"
    _check(lib.pg_rmsprop_step(_state_arg(op, "param", param), _state_arg(op, "grad", grad),
                               _state_arg(op, "square_avg", square_avg), _state_arg(op, "momentum_buf", momentum_buf),
                               _state_arg(op, "grad_avg", grad_avg), float(lr), float(alpha), float(eps),
                               float(weight_decay), float(momentum), bool(centered)))


def adam_step(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, max_exp_avg_sq: Tensor | None,
              step: int, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
              weight_decay: float = 0.0, decoupled_weight_decay: bool = False, amsgrad: bool = False) -> None:
    """One Adam (or AdamW, ``decoupled_weight_decay=True``) update in place:
    m ← β₁m + (1 - β₁)g, v ← β₂v + (1 - β₂)g², p ← p - lr/(1 - β₁ᵗ) · m / (√v/√(1 - β₂ᵗ) + eps).
    Adam adds wd·p to g; AdamW first scales p by (1 - lr·wd). ``amsgrad`` uses the running
    maximum of v (kept in ``max_exp_avg_sq``)."""
    op = "adamw_step" if decoupled_weight_decay else "adam_step"
    _check(lib.pg_adam_step(_state_arg(op, "param", param), _state_arg(op, "grad", grad),
                            _state_arg(op, "exp_avg", exp_avg), _state_arg(op, "exp_avg_sq", exp_avg_sq),
                            _state_arg(op, "max_exp_avg_sq", max_exp_avg_sq), int(step), float(lr), float(beta1),
                            float(beta2), float(eps), float(weight_decay), bool(decoupled_weight_decay),
                            bool(amsgrad)))


# ---------------------------------------------------------------------------
# memory: the C engine's cache of large storage buffers (csrc/alloc.c)
# ---------------------------------------------------------------------------

_INT64_MAX = 2**63 - 1


def empty_cache() -> None:
    """Return every cached buffer to the system (``memory_stats()["cached_bytes"]`` becomes 0).

    Freed tensor buffers of 1 MiB or more are kept for reuse by later tensors of
    a similar size (see :func:`set_cache_limit`); tensors still alive are not
    affected. Like ``torch.cuda.empty_cache``: call it to give memory back to
    other processes, never needed for correctness.
    """
    lib.pg_empty_cache()


def set_cache_limit(nbytes: int) -> None:
    """Hold at most ``nbytes`` bytes of freed buffers for reuse (0 turns the cache off).

    A freed buffer of at least 1 MiB is kept, by size class (four per power of
    two), and handed to the next tensor of its class: the op then writes
    memory that is already mapped, instead of paying page faults and the
    kernel's zeroing of fresh memory. When a freed buffer would take the cache
    over the limit, the least recently freed ones go back to the system; lowering
    the limit frees the excess at once. Process-wide. The default is
    min(1 GiB, RAM / 4), or ``PYGRAD_CACHE_BYTES`` when set (a number of bytes,
    optionally with a unit K, M, G or T: powers of 1024, e.g. ``512M``).
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, numbers.Integral):
        raise PygradTypeError(f"set_cache_limit: expected an int number of bytes, got {type(nbytes).__name__}")
    nbytes = int(nbytes)
    if not 0 <= nbytes <= _INT64_MAX:
        raise PygradValueError(f"set_cache_limit: the limit must be between 0 and 2**63 - 1 bytes, got {nbytes}")
    _check(lib.pg_set_cache_limit(nbytes))


def get_cache_limit() -> int:
    """The most bytes the buffer cache may hold (see :func:`set_cache_limit`)."""
    return int(lib.pg_get_cache_limit())


def memory_stats() -> dict[str, int]:
    """The C engine's memory counters, as a dict of ints.

    - ``allocated_bytes``: storage bytes of the tensors alive now;
    - ``cached_bytes``, ``cached_blocks``: freed buffers kept for reuse, and how many;
    - ``cache_limit``: the most ``cached_bytes`` may reach (:func:`set_cache_limit`);
    - ``cache_hits``, ``cache_misses``: allocations of 1 MiB or more served from
      the cache, and those that asked the system (since the process started);
    - ``num_alloc_retries``: allocations the system refused that were tried
      again after emptying the cache.
    """
    s = ffi.new("pg_memory_stats *")
    _check(lib.pg_get_memory_stats(s))
    return {name: int(getattr(s, name)) for name in (
        "allocated_bytes", "cached_bytes", "cached_blocks", "cache_limit", "cache_hits", "cache_misses",
        "num_alloc_retries")}


_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def _parse_bytes(text: str) -> int | None:
    """``"1073741824"``, ``"512M"``, ``"1GiB"``, ``"64 kb"`` as bytes (units are powers of 1024); None if malformed."""
    import re

    m = re.fullmatch(r"\s*(\d+)\s*(?:([KMGT])(?:I?B)?|B)?\s*", text, re.I)
    if m is None:
        return None
    return int(m.group(1)) * _UNITS[(m.group(2) or "").upper()]


def _cache_limit_from_env() -> None:
    """Apply PYGRAD_CACHE_BYTES, if set; a malformed value leaves the default and warns."""
    import os
    import warnings

    text = os.environ.get("PYGRAD_CACHE_BYTES")
    if text is None:
        return
    nbytes = _parse_bytes(text)
    if nbytes is None or nbytes > _INT64_MAX:
        warnings.warn(f"PYGRAD_CACHE_BYTES={text!r}: expected a number of bytes >= 0, optionally with a unit "
                      f"K, M, G or T (powers of 1024), e.g. 536870912 or 512M; using the default limit "
                      f"({get_cache_limit()} bytes)", RuntimeWarning, stacklevel=2)
        return
    set_cache_limit(nbytes)


_cache_limit_from_env()
