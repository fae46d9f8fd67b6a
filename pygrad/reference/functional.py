"""Module-level op functions of the reference engine (``pygrad.reference.add`` ...).

Each function accepts Tensors, and where it makes sense Python scalars and
numpy arrays (converted with ``tensor()``), and follows docs/semantics.md.
Shapes: ``a``, ``b`` broadcast with numpy rules unless stated otherwise.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from pygrad import _indexing, _optable
from pygrad.errors import PygradIndexError, PygradTypeError, PygradValueError, ShapeError

from . import ops
from .tensor import (
    Tensor,
    _add,
    _apply,
    _bitwise,
    _bitwise_not,
    _clamp,
    _concatenate,
    _div,
    _division_op,
    _extreme2,
    _floating,
    _is_int,
    _matmul,
    _mul,
    _number,
    _permute,
    _pow,
    _promote,
    _reduce,
    _reshape,
    _softmax,
    _sole_tuple,
    _stack,
    _sub,
    _transpose,
    _unary,
    _where,
    as_tensor,
)
from .tensor import scatter_add as _flat_scatter_add


def add(a: object, b: object) -> Tensor:
    """a + b (broadcast). With a Python scalar c: ``add_scalar(x, c)``."""
    return _add(a, b)


def sub(a: object, b: object) -> Tensor:
    """a - b (broadcast). ``x - c`` = ``add_scalar(x, -c)``; ``c - x`` = ``add_scalar(neg(x), c)``."""
    return _sub(a, b)


def mul(a: object, b: object) -> Tensor:
    """a * b (broadcast). With a Python scalar c: ``mul_scalar(x, c)``."""
    return _mul(a, b)


def div(a: object, b: object) -> Tensor:
    """a / b (broadcast).

    ``x / c`` = ``mul_scalar(x, 1.0/c)``; ``c / x`` = ``mul_scalar(reciprocal(x), c)``.
    """
    return _div(a, b)


def neg(x: object) -> Tensor:
    """-x."""
    return _unary(ops.Neg(), x)


def pow(x: object, p: object) -> Tensor:  # noqa: A001 - the op's public name
    """x ** p: ``pow_scalar`` for a scalar p, ``pow`` (broadcast) for a tensor p.

    A scalar base c with a tensor exponent: ``exp(p · log c)`` for c > 0.
    """
    return _pow(x, p)


def sqrt(x: object) -> Tensor:
    """√x elementwise; d/dx = 1/(2√x)."""
    return _unary(ops.Sqrt(), x)


def reciprocal(x: object) -> Tensor:
    """1/x elementwise; d/dx = -1/x²."""
    return _unary(ops.Reciprocal(), x)


def abs(x: object) -> Tensor:  # noqa: A001 - the op's public name
    """|x| elementwise; d/dx = sign(x) (0 at 0)."""
    return _unary(ops.Abs(), x)


def bitwise_and(a: object, b: object) -> Tensor:
    """a & b of bool or integer tensors (logical and for bool)."""
    return _bitwise("bitwise_and", np.bitwise_and, a, b)


def bitwise_or(a: object, b: object) -> Tensor:
    """a | b of bool or integer tensors (logical or for bool)."""
    return _bitwise("bitwise_or", np.bitwise_or, a, b)


def bitwise_xor(a: object, b: object) -> Tensor:
    """a ^ b of bool or integer tensors (logical xor for bool)."""
    return _bitwise("bitwise_xor", np.bitwise_xor, a, b)


def bitwise_not(x: object) -> Tensor:
    """~x: logical not of a bool tensor, bitwise not of an integer one."""
    return _bitwise_not(x)


def _truth(x: object, opname: str) -> Tensor:
    t = as_tensor(x, opname)
    return t if t.dtype == np.bool_ else t != 0


def logical_and(a: object, b: object) -> Tensor:
    """(a != 0) and (b != 0), a bool tensor, for any dtypes."""
    return _truth(a, "logical_and") & _truth(b, "logical_and")


def logical_or(a: object, b: object) -> Tensor:
    """(a != 0) or (b != 0), a bool tensor, for any dtypes."""
    return _truth(a, "logical_or") | _truth(b, "logical_or")


def logical_xor(a: object, b: object) -> Tensor:
    """(a != 0) xor (b != 0), a bool tensor, for any dtypes."""
    return _truth(a, "logical_xor") ^ _truth(b, "logical_xor")


def logical_not(x: object) -> Tensor:
    """x == 0, a bool tensor, for any dtype."""
    return ~_truth(x, "logical_not")


def atan2(a: object, b: object) -> Tensor:
    """atan2(a, b), broadcasting: the angle of the point (b, a); float32 for integer inputs."""
    return _division_op("atan2", a, b)


def fmod(a: object, b: object) -> Tensor:
    """C's fmod, broadcasting: a - trunc(a / b)·b, the sign of a."""
    return _division_op("fmod", a, b)


def remainder(a: object, b: object) -> Tensor:
    """Python's %, broadcasting: a - floor(a / b)·b, the sign of b."""
    return _division_op("remainder", a, b)


def floor_divide(a: object, b: object) -> Tensor:
    """Python's //, broadcasting: floor(a / b) (zero gradient)."""
    return _division_op("floor_divide", a, b)


def maximum(a: object, b: object) -> Tensor:
    """Elementwise max (broadcast); on a == b each input gets half the gradient."""
    return _extreme2(ops.Maximum, "maximum", a, b)


def minimum(a: object, b: object) -> Tensor:
    """Elementwise min (broadcast); on a == b each input gets half the gradient."""
    return _extreme2(ops.Minimum, "minimum", a, b)


def clamp(x: object, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """min(max(x, min), max) with scalar bounds (at least one); gradient passes where min <= x <= max."""
    return _clamp(x, min, max)


def where(cond: object, x: object = None, y: object = None) -> Any:
    """cond ? x : y (cond: bool tensor or array; all three broadcast; no gradient to cond);
    ``where(cond)`` alone is ``nonzero(cond, as_tuple=True)``."""
    if x is None and y is None:
        return _indexing.where_cond(as_tensor(cond, "where"))
    if x is None or y is None:
        raise PygradTypeError("where: give both x and y, or neither (where(cond) is nonzero(cond, as_tuple=True))")
    return _where(cond, x, y)


def scatter_add(src: Any, shape: Any, offsets: Any, src_: Any = None) -> Tensor:
    """PyTorch's ``scatter_add(input, dim, index, src)``, or the flat form
    ``scatter_add(src, shape, offsets)`` (``zeros(shape)`` with ``src.flat[i]`` added at ``offsets[i]``)."""
    if src_ is not None or _is_int(shape):
        return _indexing.scatter_add_dim(as_tensor(src, "scatter_add"), shape, offsets, src_)
    return _flat_scatter_add(src, shape, offsets)


def _indexing_function(name: str) -> Any:
    fn = getattr(_indexing, name)

    def function(x: object, *args: Any, **kwargs: Any) -> Any:
        return fn(as_tensor(x, name), *args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = fn.__doc__
    return function


for _name in _indexing.METHODS + ("gather", "scatter"):
    globals()[_name] = _indexing_function(_name)


def sigmoid(x: object) -> Tensor:
    """σ(x) = 1/(1+e⁻ˣ); d/dx = σ(1-σ)."""
    return _unary(ops.Sigmoid(), x)


def tanh(x: object) -> Tensor:
    """tanh x; d/dx = 1 - tanh²x."""
    return _unary(ops.Tanh(), x)


def relu(x: object) -> Tensor:
    """x > 0 ? x : 0; derivative 0 at x <= 0."""
    return _unary(ops.Relu(), x)


def leaky_relu(x: object, negative_slope: float = 0.01) -> Tensor:
    """x > 0 ? x : s·x; derivative s at x <= 0."""
    return _unary(ops.LeakyRelu(_number(negative_slope, "leaky_relu", "negative_slope")), x)


def elu(x: object, alpha: float = 1.0) -> Tensor:
    """x > 0 ? x : α(eˣ - 1); derivative α·eˣ at x <= 0."""
    return _unary(ops.Elu(_number(alpha, "elu", "alpha")), x)


def matmul(a: object, b: object) -> Tensor:
    """a @ b with numpy ``matmul`` rules: (..., m, k) @ (..., k, n) -> (..., m, n), 1-d promoted."""
    return _matmul(a, b)


def sum(  # noqa: A001 - the op's public name
    x: object, axis: object = None, keepdims: bool = False, *, dim: object = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Σ over ``axis`` (None: all axes; int or tuple; negative allowed)."""
    return _reduce(ops.Sum, "sum", x, axis, keepdims, dim, keepdim)


def mean(
    x: object, axis: object = None, keepdims: bool = False, *, dim: object = None,
    keepdim: bool | None = None,
) -> Tensor:
    """Σ over ``axis`` divided by the number of reduced elements (nan for zero elements)."""
    return _reduce(ops.Mean, "mean", x, axis, keepdims, dim, keepdim)


def max(  # noqa: A001 - the op's public name
    x: object, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None,
) -> Any:
    """With one int ``dim``: ``(values, indices)`` (PyTorch's ``max(x, dim)``); otherwise the max
    over ``axis``/``dim`` (values only; k tied maxima each get g/k). ValueError over zero elements."""
    return as_tensor(x, "max").max(dim, keepdim, axis=axis, keepdims=keepdims)


def min(  # noqa: A001 - the op's public name
    x: object, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: Any = None,
) -> Any:
    """With one int ``dim``: ``(values, indices)``; otherwise the min over ``axis``/``dim``
    (values only; k tied minima each get g/k). ValueError over zero elements."""
    return as_tensor(x, "min").min(dim, keepdim, axis=axis, keepdims=keepdims)


def reshape(x: object, *shape: Any) -> Tensor:
    """``x`` with a new shape (``reshape(x, (2, 3))`` or ``reshape(x, 2, 3)``; one -1 allowed)."""
    return _reshape(x, shape)


def transpose(x: object, dim0: int, dim1: int) -> Tensor:
    """Swap dims ``dim0`` and ``dim1`` (op ``permute``)."""
    return _transpose(x, dim0, dim1)


def permute(x: object, *dims: Any) -> Tensor:
    """Reorder dims: out.shape[i] = x.shape[dims[i]] (``permute(x, (1, 0))`` or ``permute(x, 1, 0)``)."""
    return _permute(x, _sole_tuple(dims), "permute")


def concatenate(tensors: Sequence[object], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along existing ``axis``; other dims must match. Mixed dtypes promote."""
    return _concatenate(tensors, axis if dim is None else dim, "concatenate")


def cat(tensors: Sequence[object], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Alias of :func:`concatenate`."""
    return _concatenate(tensors, axis if dim is None else dim, "concatenate")


def stack(tensors: Sequence[object], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new ``axis`` (in [-ndim-1, ndim])."""
    return _stack(tensors, axis if dim is None else dim)


def softmax(x: object, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """exp(x - m) / Σ exp(x - m) along ``axis`` (m = max along axis)."""
    return _softmax(ops.Softmax, "softmax", x, axis, dim)


def log_softmax(x: object, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """(x - m) - log Σ exp(x - m) along ``axis`` (m = max along axis)."""
    return _softmax(ops.LogSoftmax, "log_softmax", x, axis, dim)


def prelu(x: object, weight: object) -> Tensor:
    """x > 0 ? x : w_c·x, w of shape (1,) (shared) or (C,) with C = x.shape[1] (per channel)."""
    t = _floating(as_tensor(x, "prelu"))
    w = as_tensor(weight, "prelu")
    if w.dtype == np.bool_:
        raise PygradTypeError("prelu: expected a float32 or float64 weight, got bool")
    t, w = _promote((t, w))
    if not (w.ndim == 1 and (w.shape[0] == 1 or (t.ndim >= 2 and w.shape[0] == t.shape[1]))):
        raise ShapeError(
            f"prelu: weight of shape {w.shape} does not fit input of shape {t.shape}: expected (1,) for one "
            "shared slope, or (C,) with C = input.shape[1] for one slope per channel"
        )
    return _apply(ops.Prelu(), (t, w))


def maxout(x: object, pieces: int) -> Tensor:
    """y[..., c] = max_k x[..., c·pieces + k]: (..., C·pieces) -> (..., C); ties share the gradient."""
    if not _is_int(pieces):
        raise PygradTypeError(f"maxout: pieces must be an int, got {pieces!r}")
    t = _floating(as_tensor(x, "maxout"))
    if pieces < 1:
        raise PygradValueError(f"maxout: pieces must be at least 1, got {pieces}")
    if t.ndim < 1:
        raise ShapeError(f"maxout: the input needs at least one dim, got shape {t.shape}")
    if t.shape[-1] % pieces:
        raise ShapeError(f"maxout: the last dim of shape {t.shape} is not divisible by pieces = {pieces}")
    return _apply(ops.Maxout(int(pieces)), (t,))


def _labels(opname: str, labels: object) -> np.ndarray:
    """Labels as a 1-d int64 array (integer data, or floats holding whole numbers)."""
    arr = labels.numpy() if isinstance(labels, Tensor) else np.asarray(labels)
    if arr.dtype.kind not in "iuf":
        raise PygradTypeError(f"{opname}: labels must be integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr) & (arr == np.floor(arr))):
        raise PygradTypeError(f"{opname}: labels must be whole numbers, got non-integer values")
    if arr.ndim != 1:
        raise ShapeError(f"{opname}: labels must be 1-d (one class index per row), got shape {arr.shape}")
    return np.array(arr, dtype=np.int64, copy=True)


def cross_entropy(logits: object, labels: object, reduction: str = "mean", *,
                  ignore_index: int | None = None) -> Tensor:
    """Softmax cross-entropy: L_i = log Σ_j exp(x_ij - m_i) - (x_i,y_i - m_i), m_i = max_j x_ij.

    ``logits`` (N, C), ``labels`` N ints in [0, C); ``reduction`` "mean", "sum" or "none";
    rows labelled ``ignore_index`` (when given) give 0 and are left out of the mean.
    """
    t = _floating(as_tensor(logits, "cross_entropy"))
    if reduction not in ("mean", "sum", "none"):
        raise PygradValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    y = _labels("cross_entropy", labels)
    if t.ndim != 2:
        raise ShapeError(f"cross_entropy: logits must be 2-d (N, C), got shape {t.shape}")
    n, c = t.shape
    if y.size != n:
        raise ShapeError(f"cross_entropy: logits of shape {t.shape} need {n} labels, got {y.size}")
    if n == 0 or c == 0:
        raise PygradValueError(
            f"cross_entropy: {'empty batch' if n == 0 else 'no classes'}: logits of shape {t.shape}")
    if ignore_index is not None and (isinstance(ignore_index, bool) or not isinstance(ignore_index, numbers.Integral)):
        raise PygradTypeError(f"ignore_index must be an int, got {ignore_index!r}")
    out_of_range = (y < 0) | (y >= c)
    if ignore_index is not None:
        out_of_range &= y != ignore_index
    bad = np.flatnonzero(out_of_range)
    if bad.size:
        i = int(bad[0])
        raise PygradIndexError(
            f"cross_entropy: label {int(y[i])} at position {i} is out of range for {c} classes "
            f"(logits of shape {t.shape})"
        )
    return _apply(ops.CrossEntropy(y, reduction, ignore_index), (t,))


def _elementwise_function(op_class: type[ops.Op], doc: str) -> Any:
    def fn(x: object) -> Tensor:
        return _unary(op_class(), x)

    fn.__name__ = fn.__qualname__ = op_class.name
    fn.__doc__ = doc
    return fn


ELEMENTWISE: dict[str, Any] = {row.name: _elementwise_function(ops.OPS[row.name], row.doc)
                               for row in _optable.ELEMENTWISE}
"""exp, log, sin ...: the module functions of the plain elementwise ops, built from the op table."""
globals().update(ELEMENTWISE)
