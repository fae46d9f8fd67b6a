"""The C engine's module-level op functions (``pygrad.add``, ``pygrad.where`` ...); the one-liners over a
Tensor method (``exp``, ``sum``, ``maximum`` ...) are built from the op table, :mod:`pygrad._optable`."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from pygrad import _engines, _indexing, _optable, _recording
from pygrad._args import _join_axis, _reduction_arg, _shape_arg
from pygrad._bindings import _wrap, address, bool_, float32, float64, int64_buffer, lib, tensor_array
from pygrad._creation import tensor
from pygrad._derived import cumsum, logsumexp  # noqa: F401 - op-table rows whose functions check in one place
from pygrad._tensor import Tensor, _as_tensor, _is_scalar
from pygrad.errors import PygradTypeError, PygradValueError, ShapeError


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


def bitwise_and(a: Any, b: Any) -> Tensor:
    """a & b of bool or integer tensors (logical and for bool)."""
    return _binary(a, b, Tensor.__and__, Tensor.__rand__, "bitwise_and")


def bitwise_or(a: Any, b: Any) -> Tensor:
    """a | b of bool or integer tensors (logical or for bool)."""
    return _binary(a, b, Tensor.__or__, Tensor.__ror__, "bitwise_or")


def bitwise_xor(a: Any, b: Any) -> Tensor:
    """a ^ b of bool or integer tensors (logical xor for bool)."""
    return _binary(a, b, Tensor.__xor__, Tensor.__rxor__, "bitwise_xor")


def bitwise_not(x: Any) -> Tensor:
    """~x: logical not of a bool tensor, bitwise not of an integer one."""
    return ~_t(x, op="bitwise_not")


def _truth(x: Any, op: str) -> Tensor:
    t = _t(x, op=op)
    return t if t.dtype == bool_ else t != 0


def logical_and(a: Any, b: Any) -> Tensor:
    """(a != 0) and (b != 0), a bool tensor, for any dtypes."""
    return _truth(a, "logical_and") & _truth(b, "logical_and")


def logical_or(a: Any, b: Any) -> Tensor:
    """(a != 0) or (b != 0), a bool tensor, for any dtypes."""
    return _truth(a, "logical_or") | _truth(b, "logical_or")


def logical_xor(a: Any, b: Any) -> Tensor:
    """(a != 0) xor (b != 0), a bool tensor, for any dtypes."""
    return _truth(a, "logical_xor") ^ _truth(b, "logical_xor")


def logical_not(x: Any) -> Tensor:
    """x == 0, a bool tensor, for any dtype."""
    return ~_truth(x, "logical_not")


def neg(x: Any) -> Tensor:
    """-x."""
    return -_t(x, op="neg")


def pow(x: Any, p: Any) -> Tensor:  # noqa: A001
    """xᵖ (p a scalar or a tensor)."""
    return _binary(x, p, Tensor.__pow__, Tensor.__rpow__, "pow")




























def _where_condition(cond: Any) -> Tensor:
    """A bool tensor, or a bool array (numpy array, list, tuple, bool); nothing is cast to bool."""
    if isinstance(cond, Tensor):
        c = cond
    elif _engines.is_tensor(cond):
        raise _engines.mix_error("where", _engines.C, cond)
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


def where(cond: Any, x: Any = None, y: Any = None) -> Any:
    """cond ? x : y elementwise, broadcasting all three (no gradient to cond).

    ``cond`` is a bool tensor or bool array; a scalar branch is weak (it takes
    the other branch's dtype when of its kind or a lower one; arrays are
    converted first, as by :func:`tensor`). ``where(cond)`` alone is
    ``nonzero(cond, as_tuple=True)``.
    """
    if x is None and y is None:
        return _indexing.where_cond(cond if isinstance(cond, Tensor) else _as_tensor(cond, None, "where"))
    if x is None or y is None:
        raise PygradTypeError("where: give both x and y, or neither (where(cond) is nonzero(cond, as_tuple=True))")
    c = _where_condition(cond)
    tx = x if isinstance(x, Tensor) else None if _is_scalar(x) else _as_tensor(x, None, "where")
    ty = y if isinstance(y, Tensor) else None if _is_scalar(y) else _as_tensor(y, None, "where")
    like = tx if tx is not None else ty
    tx = tx if tx is not None else _as_tensor(x, like, "where")
    ty = ty if ty is not None else _as_tensor(y, like, "where")
    return _wrap(lib.pg_where(c._p, tx._p, ty._p))












def reshape(x: Any, shape: Sequence[int]) -> Tensor:
    """The same elements with another shape."""
    return _t(x, op="reshape").reshape(shape)


def transpose(x: Any, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    return _t(x, op="transpose").transpose(dim0, dim1)


def permute(x: Any, dims: Sequence[int]) -> Tensor:
    """Reorder dims."""
    return _t(x, op="permute").permute(dims)






def prelu(x: Any, weight: Any) -> Tensor:
    """Parametric ReLU: ``y = x`` where ``x > 0``, else ``w_c · x``.

    ``weight`` has shape (1,) (one slope shared by every element) or (C,) with
    C = ``x.shape[1]`` (one slope per channel, channel axis 1). At the kink
    x = 0 the slope w_c is used. d/dx = 1 or w_c; d/dw_c = Σ over channel c of
    x where x ≤ 0.
    """
    a = _t(x, op="prelu")
    w = _t(weight, a, "prelu")
    if a.ndim == 0 and a.dtype != w.dtype and {a.dtype, w.dtype} <= {float32, float64}:
        a = a.to(w.dtype)  # the promotion rule (as x * w): a tensor with dims wins over a 0-d one
    return _wrap(lib.pg_prelu(a._p, w._p))


def maxout(x: Any, pieces: int) -> Tensor:
    """Maxout over the last axis: ``y[..., c] = max_k x[..., c·pieces + k]``.

    ``x``: (..., C·pieces) → (..., C). The gradient goes to the maximum of each
    group ("max routes"); k tied maxima each get g/k.
    """
    if isinstance(pieces, bool) or not isinstance(pieces, numbers.Integral):
        raise PygradTypeError(f"maxout: pieces must be an int, got {pieces!r}")
    a = _t(x, op="maxout")
    if pieces >= 2**63:  # beyond the C engine's int64: no last dim divides by it
        raise ShapeError(f"maxout: the last dim of shape {a.shape} is not divisible by pieces = {pieces}")
    return _wrap(lib.pg_maxout(a._p, int(pieces)))

def _labels_arg(op: str, labels: Any) -> np.ndarray:
    """Class labels as a contiguous 1-d int64 array. Integer arrays and lists
    pass, as do integer tensors; float arrays and tensors must hold whole
    numbers. The range is checked by the op itself."""
    if isinstance(labels, Tensor):
        if _recording.RECORDING and labels.dtype.kind in "iu" and labels.dtype != np.int64:
            labels = labels.long()  # a recorded cast (int32 labels, say): the program follows its result
        arr = labels._host_view()  # a compiled step follows the labels' own buffer (checked below)
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
    out = np.ascontiguousarray(arr, dtype=np.int64)
    if _recording.RECORDING:  # pygrad.compile follows an int64 tensor's own buffer, nothing else
        followed = isinstance(labels, Tensor) and out.ctypes.data == address(lib.pg_tensor_data(labels._p))
        if not followed:
            _recording.refuse(f"{op} labels that are not an int64 tensor (their values would be frozen)")
    return out


def cross_entropy(logits: Any, labels: Any, reduction: str = "mean", *, ignore_index: int | None = None) -> Tensor:
    """Softmax cross-entropy of integer class labels, one fused op.

    ``logits``: (N, C); ``labels``: N ints in [0, C) (an array, a list, or a
    tensor of whole numbers). Per row, computed stably with m = maxⱼ xᵢⱼ:

        Lᵢ = -log softmax(xᵢ)[yᵢ] = log Σⱼ exp(xᵢⱼ - m) - (xᵢ,yᵢ - m)

    ``reduction``: ``"mean"`` (1/N Σ Lᵢ, the default), ``"sum"``, or ``"none"``
    (the (N,) losses). Gradient: dL/dxᵢⱼ = softmax(xᵢ)ⱼ - [j = yᵢ] (over N for
    the mean). A label out of range raises IndexError. ``ignore_index`` (PyTorch's, None
    here by default): rows with that label give Lᵢ = 0 and no gradient, and the mean is
    over the other rows (NaN when there are none).
    """
    a = _t(logits, op="cross_entropy")
    r = _reduction_arg("cross_entropy", reduction)
    y = _labels_arg("cross_entropy", labels)
    if ignore_index is None:
        return _wrap(lib.pg_cross_entropy(a._p, int64_buffer(y), y.size, r))
    return _wrap(lib.pg_cross_entropy_ignore(a._p, int64_buffer(y), y.size, r, _ignore_index_arg(ignore_index)))


def _ignore_index_arg(ignore_index: Any) -> int:
    """An int64 ignore_index (one no label can equal when beyond int64: the labels are int64)."""
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral):
        raise PygradTypeError(f"ignore_index must be an int, got {ignore_index!r}")
    return int(np.clip(int(ignore_index), -(2**63), 2**63 - 1))


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

def concatenate(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis."""
    ts = _tensor_list("concatenate", tensors)
    ax = _join_axis("concatenate", axis if dim is None else dim)
    arr = tensor_array(ts)
    return _wrap(lib.pg_concatenate(arr, len(ts), ax))


cat = concatenate


def stack(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join equal-shape tensors along a new axis."""
    ts = _tensor_list("stack", tensors)
    ax = _join_axis("stack", axis if dim is None else dim)
    arr = tensor_array(ts)
    return _wrap(lib.pg_stack(arr, len(ts), ax))


def scatter_add(src: Any, shape: Any, offsets: Any, src_: Any = None) -> Tensor:
    """Two forms. PyTorch's ``scatter_add(input, dim, index, src)``: ``input`` with
    ``src`` added at ``index`` along ``dim`` (repeats add; see Tensor.scatter_add).

    The flat form ``scatter_add(src, shape, offsets)``: ``out = zeros(shape);
    out.flat[offsets[i]] += src.flat[i]`` (repeated offsets add); ``offsets``
    holds one flat element offset per element of ``src``. This is the adjoint
    of indexing (``x[key]`` gathers, its backward scatter-adds); its own
    backward gathers.
    """
    if src_ is not None or (isinstance(shape, (numbers.Integral, np.integer)) and not isinstance(shape, bool)):
        return _indexing.scatter_add_dim(_t(src, op="scatter_add"), shape, offsets, src_)
    t = _as_tensor(src, None, "scatter_add")
    dims = _shape_arg("scatter_add", (tuple(shape),))
    off = np.ascontiguousarray(np.asarray(offsets), dtype=np.int64).reshape(-1)
    if off.size != t.numel():
        raise ShapeError(f"scatter_add: {off.size} offsets for a source of shape {t.shape} ({t.numel()} elements)")
    return _wrap(lib.pg_scatter_add(t._p, len(dims), dims, int64_buffer(off)))


# ---------------------------------------------------------------------------
# the functions that are one-liners over a Tensor method, built from the op table
# ---------------------------------------------------------------------------


def _one_liner(op: _optable.Op, name: str) -> Callable[..., Tensor]:
    """``name(x, ...)`` = ``_t(x).<method>(...)``, with the method's signature (self named x).

    For ``op.one_liner == "like"`` a Python scalar first argument takes the
    second argument's float dtype, as in ``maximum(2.0, t)``.
    """
    method = getattr(Tensor, op.methods[0])
    opname = op.name
    if op.one_liner == "like":
        def fn(x: Any, other: Any, *args: Any, **kwargs: Any) -> Tensor:
            return method(_t(x, other, opname), other, *args, **kwargs)
    else:
        def fn(x: Any, *args: Any, **kwargs: Any) -> Tensor:
            return method(_t(x, op=opname), *args, **kwargs)
    sig = inspect.signature(method)
    params = list(sig.parameters.values())
    fn.__signature__ = sig.replace(parameters=[params[0].replace(name="x"), *params[1:]])  # type: ignore[attr-defined]
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = op.doc
    return fn


for _op in _optable.OPS:
    if _op.one_liner is not None:
        for _name in _op.functions:
            globals()[_name] = _one_liner(_op, _name)


# ---------------------------------------------------------------------------
# the index ops along a dim (pygrad._indexing, shared with the reference engine)
# ---------------------------------------------------------------------------


def _indexing_function(name: str) -> Callable[..., Any]:
    fn = getattr(_indexing, name)

    def function(x: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(_t(x, op=name), *args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = fn.__doc__
    function.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return function


for _name in _indexing.METHODS + ("gather", "scatter"):
    globals()[_name] = _indexing_function(_name)
