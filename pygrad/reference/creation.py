"""Factories of the reference engine: zeros, ones, full, rand, randn, arange, eye, from_numpy.

Shapes may be given as ints or as one tuple/list (``zeros(2, 3)`` ==
``zeros((2, 3))``). The default dtype is float32. Random numbers start from
one module-level ``numpy.random.Generator``: ``rand`` and ``randn`` draw one
63-bit seed from it (or from a ``generator`` argument) and compute their
values from a counter-based hash of (seed, flat index) (``ops.random_values``,
the C engine's pg_random bit for bit), and so does ``randint``
(``ops.randint_values``, pg_randint's). So one seed gives the same tensors in
both engines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from pygrad import _dlpack
from pygrad.errors import PygradMemoryError, PygradTypeError, PygradValueError, ShapeError

from . import ops
from .tensor import (
    Tensor,
    _check_ndim,
    _grad_allowed,
    _is_int,
    _number,
    _scalar_kind,
    array_from,
    bool_,
    float32,
    float64,
    int32,
    int64,
    parse_dtype,
    parse_shape,
)

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Replace the generator with ``numpy.random.default_rng(seed)``."""
    global _generator
    if not _is_int(seed):
        raise PygradTypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed))


def _draw_seed(generator: Any = None, op: str = "dropout") -> int:
    """A 63-bit seed for a random op (dropout, rand, randn, bernoulli): ``generator.integers(0, 2**63)``
    from ``generator``, else from the module's generator (the C engine's recipe)."""
    if generator is not None:
        if not isinstance(generator, np.random.Generator):
            raise PygradTypeError(f"{op}: generator must be a numpy.random.Generator, got "
                                  f"{type(generator).__name__}")
        return int(generator.integers(0, 2**63))
    return int(_generator.integers(0, 2**63))


def _make(
    opname: str, shape: tuple[int, ...], fill: Callable[[tuple[int, ...], np.dtype], np.ndarray],
    dtype: object, requires_grad: bool,
) -> Tensor:
    """A tensor from ``fill(shape, dtype)``, turning allocation failures into PygradMemoryError."""
    dt = float32 if dtype is None else parse_dtype(dtype, opname)
    grad = _grad_allowed(dt, requires_grad, opname)
    try:
        arr = fill(shape, dt)
    except MemoryError:
        raise PygradMemoryError(f"{opname}: cannot allocate a tensor of shape {shape}") from None
    except ValueError as exc:
        if "too big" in str(exc) or "maximum" in str(exc):
            raise PygradMemoryError(f"{opname}: shape {shape} is too large") from None
        raise
    t = Tensor._wrap(np.array(arr, dtype=dt, order="C", copy=False))
    t._requires_grad = grad
    return t


def zeros(*shape: Any, dtype: object = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros with the given shape."""
    s = parse_shape(shape, "zeros")
    return _make("zeros", s, lambda sh, dt: np.zeros(sh, dtype=dt), dtype, requires_grad)


def ones(*shape: Any, dtype: object = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones with the given shape."""
    s = parse_shape(shape, "ones")
    return _make("ones", s, lambda sh, dt: np.ones(sh, dtype=dt), dtype, requires_grad)


def full(
    shape: Any, fill_value: float, dtype: object = None, requires_grad: bool = False
) -> Tensor:
    """A tensor of ``shape`` (int or tuple) filled with ``fill_value``; without
    ``dtype``, PyTorch's inference from the value (bool, int64 for ints, else float32)."""
    s = parse_shape((shape,), "full")
    kind = _scalar_kind(fill_value)
    if dtype is None:
        dtype = (bool_, int64, float32)[kind]
    dt = parse_dtype(dtype, "full")
    if kind == 0:
        value: Any = bool(fill_value)
    else:
        value = _number(fill_value, "full", "fill_value")
    if dt.kind == "i":
        if not math.isfinite(value):
            raise PygradValueError(f"full: cannot fill a {dt} tensor with {value}")
        value = int(fill_value) if kind == 1 else int(value)
        info = np.iinfo(dt)
        if not info.min <= value <= info.max:
            raise PygradValueError(f"full: value {value} does not fit {dt}")
    return _make("full", s, lambda sh, d: np.full(sh, value, dtype=d), dt, requires_grad)


def _random(op: str, kind: str, shape: tuple, dtype: object, requires_grad: bool, generator: Any) -> Tensor:
    """rand/randn: one seed drawn, the values ops.random_values of it (the C engine's, bit for bit)."""
    s = parse_shape(shape, op)
    dt = float32 if dtype is None else parse_dtype(dtype, op)
    if np.dtype(dt).kind != "f":
        raise PygradTypeError(f"{op}: expected a float dtype (float32 or float64), got {np.dtype(dt)}")
    if math.prod(s) > 2**62 // np.dtype(dt).itemsize:
        raise PygradMemoryError(f"{op}: shape {s} is too large to allocate")
    seed = _draw_seed(generator, op)
    return _make(op, s, lambda sh, d: ops.Random(kind, seed, sh).run([np.zeros((), d)]), dt, requires_grad)


def rand(*shape: Any, dtype: object = None, requires_grad: bool = False, generator: Any = None) -> Tensor:
    """Uniform [0, 1) samples of one seed drawn from ``generator`` or the module's generator:
    ``ops.random_values("uniform", seed, shape, dtype)``."""
    return _random("rand", "uniform", shape, dtype, requires_grad, generator)


def randn(*shape: Any, dtype: object = None, requires_grad: bool = False, generator: Any = None) -> Tensor:
    """Standard normal samples of one seed drawn as :func:`rand` draws it:
    ``ops.random_values("normal", seed, shape, dtype)`` (Box-Muller)."""
    return _random("randn", "normal", shape, dtype, requires_grad, generator)


def arange(
    start: float, stop: float | None = None, step: float = 1, dtype: object = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values ``start + i·step`` for i in 0..n-1, n = max(0, ceil((stop - start)/step)).

    With one argument it is ``stop`` and ``start`` is 0. Values are computed in
    float64, then cast to ``dtype`` (exactly in int64 when start, stop and step
    are all integers; the default dtype is then int64, else float32).
    """
    ints = all(_scalar_kind(v) == 1 for v in (start, step) + (() if stop is None else (stop,)))
    if dtype is None:
        dtype = int64 if ints else float32
    a = _number(start, "arange", "start")
    if stop is None:
        a, b = 0.0, a
    else:
        b = _number(stop, "arange", "stop")
    d = _number(step, "arange", "step")
    if d == 0:
        raise PygradValueError("arange: step must not be zero")
    span = (b - a) / d
    if not math.isfinite(span):
        raise PygradValueError(f"arange: cannot make a range from {a} to {b} with step {d}")
    n = max(0, math.ceil(span))

    def fill(sh: tuple[int, ...], dt: np.dtype) -> np.ndarray:
        if ints:
            lo = 0 if stop is None else int(start)  # type: ignore[call-overload]
            return (lo + np.arange(sh[0], dtype=np.int64) * int(step)).astype(dt)  # type: ignore[call-overload]
        return (a + np.arange(sh[0], dtype=float64) * d).astype(dt)

    return _make("arange", (n,), fill, dtype, requires_grad)


def randint(low: int, high: int | None = None, size: Any = (), dtype: object = None,
            requires_grad: bool = False, generator: Any = None) -> Tensor:
    """Uniform integers in [low, high) (``randint(high, size)`` means low = 0), int64 unless ``dtype``:
    one seed drawn as :func:`rand` draws it, the values ``ops.randint_values(seed, low, high, size, dtype)``
    (Lemire's multiply-shift with rejection on the counter-based hash; the C engine's, bit for bit)."""
    if isinstance(high, (tuple, list)) and not size:  # randint(high, size), PyTorch's overload
        high, size = None, high
    if high is None:
        low, high = 0, low
    for name, v in (("low", low), ("high", high)):
        if _scalar_kind(v) != 1:
            raise PygradTypeError(f"randint: {name} must be an int, got {v!r}")
    low, high = int(low), int(high)
    if not low < high:
        raise PygradValueError(f"randint: empty range [{low}, {high})")
    if low < -2**63 or high > 2**63 - 1:
        raise PygradValueError(f"randint: the range [{low}, {high}) is beyond int64 (low >= -2**63, "
                               f"high <= 2**63 - 1)")
    s = parse_shape((size,), "randint")
    dt = int64 if dtype is None else parse_dtype(dtype, "randint")
    if dt.kind != "f":
        lo, hi = (0, 1) if dt.kind == "b" else (int(np.iinfo(dt).min), int(np.iinfo(dt).max))
        if low < lo or high - 1 > hi:
            raise PygradValueError(f"randint: the range [{low}, {high}) does not fit {dt} ([{lo}, {hi}])")
    if math.prod(s) > 2**62 // np.dtype(dt).itemsize:
        raise PygradMemoryError(f"randint: shape {s} is too large to allocate")
    seed = _draw_seed(generator, "randint")
    return _make("randint", s, lambda sh, d: ops.Random("int", seed, sh, low, high).run([np.zeros((), d)]), dt,
                 requires_grad)


def eye(n: int, m: int | None = None, dtype: object = None, requires_grad: bool = False) -> Tensor:
    """An n×m matrix (m defaults to n) with ones on the diagonal."""
    cols = n if m is None else m
    for v in (n, cols):
        if not _is_int(v):
            raise PygradTypeError(f"eye: sizes must be ints, got {type(v).__name__}")
        if v < 0:
            raise ShapeError(f"eye: negative dimension in ({n}, {cols})")
    shape = (int(n), int(cols))
    return _make("eye", shape, lambda sh, dt: np.eye(sh[0], sh[1], dtype=dt), dtype, requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor over ``array``: a contiguous float32/float64/int64/int32/bool array is shared, not copied.

    Other arrays are converted (copied) with the ``tensor()`` dtype rules.
    """
    if not isinstance(array, np.ndarray):
        raise PygradTypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype in (float32, float64, int64, int32, bool_):
        _check_ndim(array.shape, "from_numpy")
        if not array.flags.c_contiguous:
            array = np.array(array, order="C", copy=True)
        return Tensor._wrap(array)
    return Tensor._wrap(array_from(array, None, "from_numpy"))


def from_dlpack(ext: Any, *, copy: bool | None = None) -> Tensor:
    """A tensor over the memory of ``ext`` (DLPack; PyTorch's ``torch.from_dlpack``).

    ``ext``: anything with ``__dlpack__`` or a DLPack capsule. The tensor's
    array is ``numpy.from_dlpack(ext)`` itself (zero-copy) when it is
    row-major contiguous, not marked read-only and float32, float64, int64, int32 or bool;
    otherwise the values are copied with :func:`from_numpy`'s dtype rules.
    ``copy=True`` always copies, ``copy=False`` raises BufferError where a copy
    would be needed.
    """
    arr, read_only = _dlpack.borrow(ext)
    if not _dlpack.check_copy(arr, read_only, copy):
        return Tensor._wrap(_dlpack.writable(arr))
    return from_numpy(np.array(arr, order="C", copy=True) if arr.dtype in _dlpack.SHARED_DTYPES else arr)
