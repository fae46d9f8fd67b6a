"""Argument conversion for the C engine: dtypes, shapes, axes, indices, real numbers.

Cheap checks in Python before the C call give the best messages (the C engine
still checks everything). Nothing here makes a tensor.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np

from pygrad._bindings import _AXES_ALL, _CODE_OF_DTYPE, _MAX_DIMS, bool_, float32, float64, int32, int64, lib
from pygrad.errors import PygradIndexError, PygradMemoryError, PygradTypeError, PygradValueError, ShapeError


def _resolve_dtype(dtype: Any) -> np.dtype:
    """Accept pygrad/numpy dtypes, numpy scalar types and their names."""
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise PygradTypeError(f"dtype: cannot interpret {dtype!r} as a dtype") from None
    if d not in _CODE_OF_DTYPE:
        raise PygradTypeError(f"dtype: pygrad tensors are float32, float64, int64, int32 or bool, got {d}")
    return d


# dtype kinds in promotion order (PyTorch's categories): bool < integer < float
KIND = {bool_: 0, int32: 1, int64: 1, float32: 2, float64: 2}


def _default_dtype_of(data: Any, arr: np.ndarray) -> np.dtype:
    """PyTorch's inference: bools stay bool; integers become int64 (numpy int32
    stays int32); Python floats become float32, numpy floats keep float64 (and
    float16 widens to float32)."""
    k = arr.dtype.kind
    if k == "b":
        return bool_
    if k in "iu":
        if arr.dtype == int32 and isinstance(data, (np.ndarray, np.generic)):
            return int32
        if k == "u" and arr.dtype.itemsize == 8 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            raise PygradValueError(f"tensor: value {int(arr.max())} does not fit int64")
        return int64
    if k == "f":
        if isinstance(data, (np.ndarray, np.generic)) and arr.dtype == float64:
            return float64
        return float32
    if k == "O" and _all_ints(data):
        raise PygradValueError("tensor: an integer in the data does not fit int64")
    raise PygradTypeError(f"tensor: cannot make a tensor from data of dtype {arr.dtype}")


def _all_ints(data: Any) -> bool:
    if isinstance(data, (list, tuple)):
        return all(_all_ints(v) for v in data)
    return isinstance(data, int)


def _scalar_kind(c: Any) -> int:
    """A weak scalar's kind (KIND): 0 for bools, 1 for integers, 2 for floats."""
    if isinstance(c, (bool, np.bool_)):
        return 0
    if isinstance(c, (numbers.Integral, np.integer)):
        return 1
    return 2


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

def _axes_mask(op: str, axis: Any, t: Any) -> int:
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
    """Flat element offsets selected by ``x[key]``, with numpy's exact indexing rules.

    Basic keys (ints, slices, None, Ellipsis) cost O(result): the offsets are
    computed arithmetically from a start and a stride per result dim. Other
    keys (arrays, lists, tensors, bools) index the sum over dims of
    ``arange(n_d) * stride_d`` broadcast to the shape (a zero-copy view).
    """
    basic = _basic_offsets(shape, key)
    if basic is not None:
        return basic
    try:
        key = tuple(_index_part(k) for k in key) if isinstance(key, tuple) else _index_part(key)
    except (TypeError, ValueError) as exc:  # e.g. a ragged list
        raise PygradTypeError(f"getitem: invalid index {key!r} for a tensor of shape {shape}: {exc}") from None
    strides = _strides(shape)
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


def _strides(shape: tuple[int, ...]) -> list[int]:
    strides = [0] * len(shape)
    s = 1
    for d in range(len(shape) - 1, -1, -1):
        strides[d] = s
        s *= shape[d]
    return strides


def _basic_parse(shape: tuple[int, ...], key: Any) -> list[tuple[Any, ...]] | None:
    """A basic key (ints, slices, None, one Ellipsis) as one item per part, in the result's order:
    ``("new",)`` for None, ``("int", d, i)`` and ``("slice", d, start, step, n)`` for input dim d
    (every input dim once; i in [0, shape[d])); None for any other key and for any error (the
    general path then raises numpy's)."""
    parts = key if type(key) is tuple else (key,)
    ints = 0
    ellipsis = False
    for k in parts:
        t = type(k)
        if t is slice:
            ints += 1
        elif k is None:
            pass
        elif k is Ellipsis:
            if ellipsis:
                return None
            ellipsis = True
        elif t is int or (isinstance(k, np.integer) and t is not np.bool_):
            ints += 1
        else:
            return None
    nd = len(shape)
    if ints > nd:
        return None
    items: list[tuple[Any, ...]] = []
    d = 0
    for k in parts:
        if k is None:
            items.append(("new",))
        elif k is Ellipsis:
            for _ in range(nd - ints):
                items.append(("slice", d, 0, 1, shape[d]))
                d += 1
        elif type(k) is slice:
            try:
                start, stop, step = k.indices(shape[d])
            except (TypeError, ValueError):
                return None
            items.append(("slice", d, start, step, len(range(start, stop, step))))
            d += 1
        else:
            i = int(k)
            if not -shape[d] <= i < shape[d]:
                return None
            items.append(("int", d, i % shape[d]))
            d += 1
    while d < nd:
        items.append(("slice", d, 0, 1, shape[d]))
        d += 1
    if sum(it[0] != "int" for it in items) > _MAX_DIMS:
        return None
    return items


def _select_parse(shape: tuple[int, ...], key: Any) -> tuple[int, np.ndarray] | None:
    """``(d, idx)`` when ``x[key]`` selects whole slices along one dim d: key is a 1-d integer
    array or tensor, or a tuple of full slices ``:`` followed by one (as index_select builds);
    idx is in range and normalised to [0, shape[d]). None for any other key and for an index out
    of range (the general path then raises numpy's)."""
    parts = key if type(key) is tuple else (key,)
    d = len(parts) - 1
    full = all(type(k) is slice and k.start is None and k.stop is None and k.step is None for k in parts[:-1])
    if d < 0 or d >= len(shape) or not full:
        return None
    k = parts[d]
    if not isinstance(k, np.ndarray):
        if not hasattr(k, "numpy") or isinstance(k, (list, tuple)):
            return None
        k = k.numpy()
    if not isinstance(k, np.ndarray) or k.ndim != 1 or k.dtype.kind not in "iu" or k.size == 0:
        return None
    n = shape[d]
    lo, hi = int(k.min()), int(k.max())
    if lo < -n or hi >= n:
        return None
    idx = k.astype(np.int64)
    return d, (idx % n if lo < 0 else idx)


def _basic_offsets(shape: tuple[int, ...], key: Any) -> np.ndarray | None:
    """The offsets of a basic key (ints, slices, None, one Ellipsis) in O(result), or
    None for any other key and for any error (the general path then raises numpy's)."""
    items = _basic_parse(shape, key)
    return None if items is None else _items_offsets(shape, items)


def _items_offsets(shape: tuple[int, ...], items: list[tuple[Any, ...]]) -> np.ndarray:
    """The flat offsets of a parsed basic key (_basic_parse), in the result's shape."""
    strides = _strides(shape)
    base = 0
    dims: list[tuple[int, int]] = []  # (length, stride) per result dim
    for it in items:
        if it[0] == "new":
            dims.append((1, 0))
        elif it[0] == "int":
            base += it[2] * strides[it[1]]
        else:
            _, d, start, step, n = it
            if n:
                base += start * strides[d]
            dims.append((n, step * strides[d]))
    out_shape = tuple(n for n, _ in dims)
    if 0 in out_shape:
        return np.zeros(out_shape, dtype=np.int64)
    off = np.full((), base, dtype=np.int64)
    for j, (n, st) in enumerate(dims):
        if n > 1:
            off = off + (np.arange(n, dtype=np.int64) * st).reshape((n,) + (1,) * (len(dims) - j - 1))
    return off if off.shape == out_shape else np.array(np.broadcast_to(off, out_shape), dtype=np.int64)


def _items_maps(shape: tuple[int, ...], items: list[tuple[Any, ...]]) -> tuple[list[np.ndarray], tuple[int, ...]]:
    """A parsed basic key (_basic_parse) as one index vector per input dim (an int: that one
    index; a slice: its range) and the result's shape (the ints' dims dropped, None's added):
    ``x[key]`` is the index_map of those vectors, reshaped."""
    maps: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(shape)
    out: list[int] = []
    for it in items:
        if it[0] == "new":
            out.append(1)
        elif it[0] == "int":
            maps[it[1]] = np.array([it[2]], dtype=np.int64)
        else:
            _, d, start, step, n = it
            maps[d] = np.arange(start, start + n * step, step, dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
            out.append(n)
    return maps, tuple(out)


def _index_part(k: Any) -> Any:
    """One entry of an index key for the general path: Tensors and lists become
    numpy arrays. PyTorch's rule for floats: a float number, list or numpy
    array raises IndexError; an integer or bool Tensor indexes as its array
    does; a float Tensor must hold whole numbers, and becomes int64."""
    if type(k) is int and not -(2**63) <= k < 2**63:
        raise PygradIndexError(f"getitem: index {k} is out of range")
    if not isinstance(k, np.ndarray) and hasattr(k, "numpy"):  # a Tensor
        k = k.numpy()
        if k.dtype.kind == "f":
            if not np.all(np.isfinite(k)) or np.any(k != np.round(k)):
                raise PygradIndexError("getitem: an index tensor must hold whole numbers")
            k = k.astype(np.int64)
        return k
    if isinstance(k, list):
        k = np.asarray(k)
        if k.size == 0:
            k = k.astype(np.int64)
    if isinstance(k, np.ndarray) and k.dtype.kind not in "biu":
        raise PygradIndexError(f"getitem: index arrays and lists must hold integers or bools, got {k.dtype} "
                               "(pass a Tensor of whole numbers, or an int array)")
    return k


# types that are never scalars, checked first (pygrad._tensor adds its Tensor)
_NOT_SCALAR: set[type] = {np.ndarray}


def _is_scalar(x: Any) -> bool:
    """Python and numpy numbers are weak scalars (PyTorch's rule): combined with a
    tensor they take its dtype when they are of its kind or a lower one, so
    ``float32_tensor * np.float64(0.5)`` stays float32 (docs/semantics.md)."""
    t = type(x)
    if t is float or t is bool:
        return True
    if t is int:
        if not -_FLOAT_MAX <= x <= _FLOAT_MAX:
            raise PygradValueError(f"a scalar operand of {x.bit_length()} bits is too large for a float")
        return True
    if t in _NOT_SCALAR:  # the common operands (Tensor, ndarray): no abstract-class check
        return False
    if isinstance(x, np.generic):
        return x.dtype.kind in "biuf"
    return isinstance(x, numbers.Real)


_FLOAT_MAX = float(np.finfo(np.float64).max)

def _axis_arg(op: str, axis: Any, shape: tuple[int, ...]) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise PygradTypeError(f"{op}: axis must be an int, got {axis!r}")
    ndim = len(shape)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis} is out of range for a tensor of shape {shape}")
    return int(axis) % ndim

_REDUCTIONS = {"none": lib.PG_REDUCTION_NONE, "mean": lib.PG_REDUCTION_MEAN, "sum": lib.PG_REDUCTION_SUM}


def _reduction_arg(op: str, reduction: Any) -> int:
    if reduction not in _REDUCTIONS:
        raise PygradValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return _REDUCTIONS[reduction]

def _join_axis(op: str, axis: Any) -> int:
    """An int axis for concatenate/stack (its range is checked by the C engine)."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise PygradTypeError(f"{op}: axis must be an int, got {axis!r}")
    if not -(2**31) < axis < 2**31:
        raise ShapeError(f"{op}: axis {axis} is out of range")
    return int(axis)
