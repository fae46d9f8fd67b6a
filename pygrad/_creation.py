"""Making tensors of the C engine: from data, filled, random, ranges."""

from __future__ import annotations

import math
import numbers
import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from pygrad import _dlpack, _engines, _recording
from pygrad._args import (
    _all_ints,
    _check_dims,
    _default_dtype_of,
    _numpy_alloc,
    _real,
    _resolve_dtype,
    _scalar_kind,
    _shape_arg,
)
from pygrad._bindings import _CODE_OF_DTYPE, _MAX_DIMS, _wrap, bool_, external_tensor, float32, int64, lib
from pygrad._tensor import Tensor
from pygrad.errors import PygradMemoryError, PygradTypeError, PygradValueError, ShapeError


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Create a tensor holding a copy of ``data``.

    ``data``: a Python number, nested lists, a numpy array or a Tensor. As in
    PyTorch, Python floats become float32, Python ints int64 and bools bool;
    numpy arrays keep float64, float32, int64, int32 and bool (other integer
    types widen to int64, float16 to float32; see docs/semantics.md).
    ``dtype`` overrides. A Tensor (of either engine) is
    copied, with a UserWarning that the copy is detached from its graph (use
    ``t.detach()`` to share the values without the graph).
    """
    if isinstance(data, Tensor):
        _engines.copy_warning("tensor")
        arr = data.numpy()
    elif _engines.is_tensor(data):  # a tensor of the reference engine: its values, as for a C tensor
        _engines.copy_warning("tensor")
        arr = np.asarray(data.numpy())
    else:
        try:
            arr = np.asarray(data)
        except (ValueError, TypeError) as exc:
            raise PygradTypeError(f"tensor: cannot convert {type(data).__name__} to a tensor: {exc}") from None
    if arr.dtype.kind not in "biuf":
        if arr.dtype.kind == "O" and _all_ints(data):
            raise PygradValueError("tensor: an integer in the data does not fit int64")
        raise PygradTypeError(f"tensor: cannot make a tensor from data of dtype {arr.dtype}")
    d = _resolve_dtype(dtype) if dtype is not None else (
        data.dtype if _engines.is_tensor(data) else _default_dtype_of(data, arr))
    if arr.ndim > _MAX_DIMS:
        raise ShapeError(f"tensor: tensors have at most {_MAX_DIMS} dims, got shape {arr.shape}")
    if d.kind in "iu" and arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
        raise PygradValueError(f"tensor: cannot convert NaN or infinity to {d}")
    t = _wrap(lib.pg_tensor_empty(_CODE_OF_DTYPE[d], arr.ndim, list(arr.shape)))
    if arr.size:
        with np.errstate(invalid="ignore"):
            np.copyto(t._host_view(), arr, casting="unsafe")
    if _recording.RECORDING:
        # a Python number is a constant of the step (an argument's value is guarded); an array or a
        # list may change between calls unseen, so a program cannot take it (the op that uses it refuses)
        if isinstance(data, (numbers.Number, np.number, np.bool_)) and not isinstance(data, complex):
            _record_fill(t, t._host_view().item(), requires_grad)
    if requires_grad:
        t.requires_grad = True
    return t


def _record_fill(t: Tensor, value: Any, requires_grad: bool) -> None:
    """pygrad.compile is recording: t, made by a creation function, is ``value`` everywhere."""
    if requires_grad:
        _recording.refuse("a tensor created with requires_grad=True inside the function")
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool) and abs(int(value)) > 2**53:
        _recording.refuse(f"a tensor filled with the integer {int(value)}, beyond 2**53")
    else:
        lib.pg_program_record_fill(t._p, float(value))


def _record_data(t: Tensor, requires_grad: bool) -> None:
    """pygrad.compile is recording: t, made from Python numbers by a creation function (arange, eye),
    is a constant of the step; the program keeps a copy."""
    if requires_grad:
        _recording.refuse("a tensor created with requires_grad=True inside the function")
    else:
        lib.pg_program_record_data(t._p)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor with a copy of ``array``'s values; float32, float64, int64, int32 and bool keep their dtype.

    (The C engine owns its buffers, so this copies; ``Tensor.numpy()`` is the
    zero-copy direction.)
    """
    if not isinstance(array, np.ndarray):
        raise PygradTypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return tensor(array, dtype=array.dtype if array.dtype in _CODE_OF_DTYPE else None)

def full(shape: int | Sequence[int], fill_value: float, dtype: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of the given shape filled with ``fill_value``; without ``dtype``,
    PyTorch's inference from the value (bool, int64 for ints, else float32)."""
    dims = _shape_arg("full", (shape,) if isinstance(shape, numbers.Integral) else (tuple(shape),), PygradMemoryError)
    if isinstance(fill_value, (bool, np.bool_)):
        fill_value = bool(fill_value)
    elif not isinstance(fill_value, (numbers.Real, np.integer, np.floating)):
        raise PygradTypeError(f"full: fill_value must be a real number, got {type(fill_value).__name__}")
    d = _resolve_dtype(dtype) if dtype is not None else (bool_, int64, float32)[_scalar_kind(fill_value)]
    if d.kind == "i":
        if isinstance(fill_value, float) and not math.isfinite(fill_value):
            raise PygradValueError(f"full: cannot fill a {d} tensor with {fill_value}")
        v = int(fill_value)
        info = np.iinfo(d)
        if not info.min <= v <= info.max:
            raise PygradValueError(f"full: value {v} does not fit {d}")
        t = _wrap(lib.pg_tensor_full_int(_CODE_OF_DTYPE[d], len(dims), dims, v))
    else:
        v = float(fill_value) if isinstance(fill_value, bool) else _real("full", "fill_value", fill_value)
        t = _wrap(lib.pg_tensor_full(_CODE_OF_DTYPE[d], len(dims), dims, v))
    if _recording.RECORDING:
        _record_fill(t, v, requires_grad)
    if requires_grad:
        t.requires_grad = True
    return t


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; ``zeros(2, 3)`` and ``zeros((2, 3))`` are the same."""
    return full(_shape_arg("zeros", shape, PygradMemoryError), 0.0, dtype if dtype is not None else float32,
                requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones; ``ones(2, 3)`` and ``ones((2, 3))`` are the same."""
    return full(_shape_arg("ones", shape, PygradMemoryError), 1.0, dtype if dtype is not None else float32,
                requires_grad)


_rng_lock = threading.Lock()
_rng = np.random.default_rng()

# fork: hold the lock across it, so no thread is inside rand/randn (nor inside the
# generator, whose own lock numpy takes under ours) when the process is copied; a
# child would otherwise inherit a lock held by a thread it does not have, and its
# first randn would block forever.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_rng_lock.acquire, after_in_parent=_rng_lock.release,
                        after_in_child=_rng_lock.release)


def manual_seed(seed: int) -> None:
    """Seed the generator behind the random ops (:func:`rand`, :func:`randn`, :func:`randint`, bernoulli,
    dropout): ``numpy.random.default_rng(seed)``, the reference engine's recipe."""
    global _rng
    with _rng_lock:
        _rng = np.random.default_rng(seed)


def _draw_seed(generator: Any = None, op: str = "dropout") -> int:
    """A 63-bit seed for a random op (dropout, rand, randn, randint, bernoulli): ``generator.integers(0, 2**63)``
    from ``generator`` (a ``numpy.random.Generator``), else from the generator behind :func:`manual_seed`
    (same recipe as the reference, so one seed gives the same values on both engines)."""
    if generator is not None:
        if not isinstance(generator, np.random.Generator):
            raise PygradTypeError(f"{op}: generator must be a numpy.random.Generator, got "
                                  f"{type(generator).__name__}")
        return int(generator.integers(0, 2**63))
    with _rng_lock:
        return int(_rng.integers(0, 2**63))


_RANDOM_KINDS = {"uniform": 0, "normal": 1}


def _random_seeded(kind: str, shape: Sequence[int], dtype: Any, seed: int) -> Tensor:
    """The random op: rand (``kind`` "uniform") or randn ("normal") values of ``seed`` (docs/semantics.md)."""
    dims = [int(d) for d in shape]
    return _wrap(lib.pg_random(_CODE_OF_DTYPE[_resolve_dtype(dtype)], len(dims), dims, _RANDOM_KINDS[kind],
                               int(seed)))


def _random(op: str, kind: str, shape: tuple, dtype: Any, requires_grad: bool, generator: Any) -> Tensor:
    """rand/randn: the shape and dtype checked, a fresh seed drawn (and noted when pygrad.compile records,
    so each replay draws the next one as the eager call would)."""
    dims = _check_dims(op, _shape_arg(op, shape, PygradMemoryError))
    d = float32 if dtype is None else _resolve_dtype(dtype)
    if d.kind != "f":
        raise PygradTypeError(f"{op}: expected a float dtype (float32 or float64), got {d}")
    seed = _draw_seed(generator, op)
    if _recording.RECORDING:
        if requires_grad:
            _recording.refuse("a tensor created with requires_grad=True inside the function")
        _recording.note_seed(generator)
    t = _random_seeded(kind, dims, d, seed)
    if requires_grad:
        t.requires_grad = True
    return t


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False, generator: Any = None) -> Tensor:
    """Uniform samples in [0, 1), float32 unless ``dtype`` (float64: 53 random bits, float32: 24).

    One 63-bit seed is drawn from ``generator`` (a ``numpy.random.Generator``) or the generator
    :func:`manual_seed` seeds; the values are a counter-based hash of (seed, flat index), the same on
    both engines and any thread count (docs/semantics.md, "Random numbers"). Recordable by
    :func:`pygrad.compile`: each replay draws a fresh seed."""
    return _random("rand", "uniform", shape, dtype, requires_grad, generator)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False, generator: Any = None) -> Tensor:
    """Standard normal samples, float32 unless ``dtype``: Box-Muller on pairs of the counter-based hash
    of one seed drawn as :func:`rand` draws it (docs/semantics.md, "Random numbers"); float32 values are
    the float64 ones rounded. Recordable by :func:`pygrad.compile`: each replay draws a fresh seed."""
    return _random("randn", "normal", shape, dtype, requires_grad, generator)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop), like ``numpy.arange``; int64 when start,
    stop and step are all integers, else float32 (PyTorch's rule), unless ``dtype``."""
    a = _real("arange", "start", start)
    b = None if stop is None else _real("arange", "stop", stop)
    d = _real("arange", "step", step)
    if d == 0:
        raise PygradValueError("arange: step must not be zero")
    lo, hi = (0.0, a) if b is None else (a, b)
    span = (hi - lo) / d
    if not math.isfinite(span):
        raise PygradValueError(f"arange: cannot make a range from {lo} to {hi} with step {d}")
    _check_dims("arange", [max(0, math.ceil(span))])
    data = np.arange(start, step=step) if stop is None else np.arange(start, stop, step)
    if dtype is None:
        ints = all(_scalar_kind(v) == 1 for v in (start, step) + (() if stop is None else (stop,)))
        dtype = int64 if ints else float32
    t = tensor(data, dtype=dtype)
    if _recording.RECORDING:
        _record_data(t, requires_grad)
    if requires_grad:
        t.requires_grad = True
    return t


def _randint_args(low: Any, high: Any, size: Any) -> tuple[int, int, Any]:
    """randint's (low, high, size), PyTorch's overloads resolved: ``randint(high, size)`` means low = 0;
    the bounds ints of int64 with low < high."""
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
    return low, high, size


def randint(low: int, high: int | None = None, size: Sequence[int] = (), dtype: Any = None,
            requires_grad: bool = False, generator: Any = None) -> Tensor:
    """Uniform integers in [low, high) (``randint(high, size)`` means low = 0), int64 unless ``dtype``.

    One 63-bit seed is drawn as :func:`rand` draws it; element i is ``low + ⌊x·span/2⁶⁴⌋`` with
    span = high − low and x the 64 bits of the counter-based hash at i, drawn again (from a key of the
    attempt) in the rare cases Lemire's test rejects, so every value is exactly equally likely
    (docs/semantics.md, "Random numbers"). Any dtype: int32 and bool need the range within theirs;
    float32/float64 round values beyond 2²⁴/2⁵³. Recordable by :func:`pygrad.compile`: each replay
    draws a fresh seed."""
    low, high, size = _randint_args(low, high, size)
    dims = _check_dims("randint", _shape_arg("randint", (tuple(size),) if not isinstance(size, numbers.Integral)
                                              else (size,), PygradMemoryError))
    d = int64 if dtype is None else _resolve_dtype(dtype)
    seed = _draw_seed(generator, "randint")
    if _recording.RECORDING:
        if requires_grad:
            _recording.refuse("a tensor created with requires_grad=True inside the function")
        _recording.note_seed(generator)
    t = _randint_seeded(low, high, dims, d, seed)
    if requires_grad:
        t.requires_grad = True
    return t


def _randint_seeded(low: int, high: int, shape: Sequence[int], dtype: Any, seed: int) -> Tensor:
    """The random op of kind "int": randint values in [low, high) of ``seed`` (docs/semantics.md)."""
    dims = [int(d) for d in shape]
    return _wrap(lib.pg_randint(_CODE_OF_DTYPE[_resolve_dtype(dtype)], len(dims), dims, low, high, int(seed)))


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The n×m identity matrix (m = n by default)."""
    dims = _check_dims("eye", _shape_arg("eye", (n, n if m is None else m), PygradMemoryError))
    data = _numpy_alloc("eye", dims, lambda: np.eye(*dims))
    t = tensor(data, dtype=dtype if dtype is not None else float32)
    if _recording.RECORDING:
        _record_data(t, requires_grad)
    if requires_grad:
        t.requires_grad = True
    return t


def from_dlpack(ext: Any, *, copy: bool | None = None) -> Tensor:
    """A tensor over the memory of ``ext`` (DLPack; PyTorch's ``torch.from_dlpack``).

    ``ext``: anything with ``__dlpack__`` (numpy arrays, torch and JAX CPU
    tensors, pygrad tensors) or a DLPack capsule. Zero-copy when the data is
    row-major contiguous, not marked read-only and float32, float64, int64, int32 or bool:
    the tensor reads and writes the producer's buffer, which stays alive until
    the tensor and every view of it are gone. Otherwise (strided, read-only,
    empty, or another dtype: int8/uint8/int16 widen to int64, float16 to
    float32 as :func:`tensor` does) the values are copied into a new tensor.
    ``copy=True`` always copies, ``copy=False`` raises BufferError where a
    copy would be needed (PyTorch's keyword). A leaf that does not require
    grad (set ``requires_grad`` after). TypeError for complex and other dtypes
    pygrad has no counterpart for; BufferError for memory off the CPU.
    """
    arr, read_only = _dlpack.borrow(ext)
    if not _dlpack.check_copy(arr, read_only, copy):
        return external_tensor(arr)
    return tensor(arr, dtype=arr.dtype if arr.dtype in _CODE_OF_DTYPE else None)
