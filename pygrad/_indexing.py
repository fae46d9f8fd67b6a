"""The index ops along a dim, written once for both engines (PyTorch's names,
signatures and semantics): argmax/argmin, max/min over a dim with indices,
sort/argsort/topk, cummax/cummin, any/all/count_nonzero, nonzero and
where(cond), gather/scatter/scatter_add (as Tensor methods of each engine),
index_select, take_along_dim, masked_fill.

Each engine's Tensor provides six primitives: ``_argext(dim, keepdim,
want_max)``, ``_argsort(dim, descending)``, ``_topk_indices(dim, k, largest)``
(argsort's first k, found without a full sort), ``_cumext_indices(dim,
want_max)`` and ``_nonzero()`` (int64 results, never recorded) and
``gather(dim, index)`` (differentiable). Everything here is composed from them and the ordinary
differentiable ops, so values that carry a gradient (the values of max, sort,
topk, cummax) are gathers: their gradient goes to the selected elements only.
"""

from __future__ import annotations

import numbers
from collections import namedtuple
from typing import Any

import numpy as np

from pygrad import _engines
from pygrad.errors import PygradIndexError, PygradTypeError, PygradValueError, ShapeError

# PyTorch's torch.return_types: tuples with .values and .indices
MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])
SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])
CummaxResult = namedtuple("cummax", ["values", "indices"])
CumminResult = namedtuple("cummin", ["values", "indices"])

_AXES_ALL = 255  # the engines' "all dims" (PG_AXES_ALL)


def _dim(op: str, dim: Any, t: Any) -> int:
    """A single dim in range for t, normalised (a 0-d tensor takes 0 and -1)."""
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (numbers.Integral, np.integer)):
        raise PygradTypeError(f"{op}: dim must be an int, got {dim!r}")
    nd = max(t.ndim, 1)
    if not -nd <= dim < nd:
        raise ShapeError(f"{op}: dim {dim} is out of range for a tensor of shape {t.shape}")
    return int(dim) % nd if t.ndim else 0


def _squeeze_dim(t: Any, d: int) -> Any:
    """t without its (size-1) dim d."""
    return t.reshape(tuple(s for i, s in enumerate(t.shape) if i != d)) if t.ndim else t


def _index_tensor(op: str, like: Any, index: Any) -> Any:
    """index as an integer tensor of like's engine (int arrays and lists converted)."""
    mod = _engines.engine_of(like, op)
    if _engines.is_tensor(index):
        if _engines.name_of(index) != _engines.name_of(like):
            raise _engines.mix_error(op, like, index)
        t = index
    else:
        t = mod.tensor(np.asarray(index))
    if t.dtype.kind not in "iu":
        raise PygradTypeError(f"{op}: index must be an int64 or int32 tensor, got {t.dtype}")
    return t


# ---- argmax, argmin, max and min over a dim ----


def argmax(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Index of the first maximum along ``dim`` (None: of the flattened tensor); NaN counts as the maximum."""
    return _argext("argmax", x, dim, keepdim, True)


def argmin(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Index of the first minimum along ``dim`` (None: of the flattened tensor); NaN counts as the minimum."""
    return _argext("argmin", x, dim, keepdim, False)


def _argext(op: str, x: Any, dim: Any, keepdim: bool, want_max: bool) -> Any:
    if dim is None:
        return x._argext(_AXES_ALL, bool(keepdim), want_max)
    return x._argext(_dim(op, dim, x), bool(keepdim), want_max)


def extreme_over_dim(x: Any, dim: Any, keepdim: bool, want_max: bool) -> Any:
    """``(values, indices)`` of the max (min) along one dim, as ``torch.max(x, dim)``: the
    first extreme's index; the values' gradient goes to that element only."""
    op = "max" if want_max else "min"
    d = _dim(op, dim, x)
    idx = x._argext(d, True, want_max)
    values = x.gather(d, idx) if x.ndim else x
    if not keepdim:
        values, idx = _squeeze_dim(values, d), _squeeze_dim(idx, d)
    return (MaxResult if want_max else MinResult)(values, idx)


# ---- sort, argsort, topk, cummax, cummin ----


def argsort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """The permutation that sorts ``x`` along ``dim`` (always stable; NaN sorts as the largest value)."""
    return x._argsort(_dim("argsort", dim, x), bool(descending))


def sort(x: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """``(values, indices)`` of ``x`` sorted along ``dim`` (stable; NaN last ascending, first descending)."""
    d = _dim("sort", dim, x)
    idx = x._argsort(d, bool(descending))
    return SortResult(x.gather(d, idx) if x.ndim else x, idx)


def topk(x: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:  # noqa: A002
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) elements along ``dim``,
    in sorted order (ties keep the earlier index first)."""
    d = _dim("topk", dim, x)
    n = x.shape[d] if x.ndim else 1
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (numbers.Integral, np.integer)):
        raise PygradTypeError(f"topk: k must be an int, got {k!r}")
    if not 0 <= k <= n:
        raise PygradValueError(f"topk: k = {k} is out of range for dim {d} of size {n} (tensor of shape {x.shape})")
    if x.ndim:
        idx = x._topk_indices(d, int(k), bool(largest))
        return TopkResult(x.gather(d, idx), idx)
    idx = x._argsort(d, bool(largest))
    return TopkResult(x if k else x.reshape(0)[:0], idx if k else idx.reshape(0)[:0])


def cummax(x: Any, dim: int) -> Any:
    """``(values, indices)``: the running maximum along ``dim`` and where it was (the latest index on ties)."""
    return _cumext("cummax", x, dim, True)


def cummin(x: Any, dim: int) -> Any:
    """``(values, indices)``: the running minimum along ``dim`` and where it was (the latest index on ties)."""
    return _cumext("cummin", x, dim, False)


def _cumext(op: str, x: Any, dim: Any, want_max: bool) -> Any:
    d = _dim(op, dim, x)
    idx = x._cumext_indices(d, want_max)
    values = x.gather(d, idx) if x.ndim else x
    return (CummaxResult if want_max else CumminResult)(values, idx)


# ---- any, all, count_nonzero, nonzero, where(cond) ----


def count_nonzero(x: Any, dim: Any = None) -> Any:
    """Number of nonzero elements (over ``dim``: an int, a tuple or None for all), int64."""
    return (x != 0).sum(dim=dim)


def any(x: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001 - PyTorch's name
    """Whether any element (along ``dim``) is nonzero, a bool tensor."""
    return (x != 0).sum(dim=dim, keepdim=keepdim) > 0


def all(x: Any, dim: Any = None, keepdim: bool = False) -> Any:  # noqa: A001 - PyTorch's name
    """Whether every element (along ``dim``) is nonzero, a bool tensor (True over zero elements)."""
    return (x == 0).sum(dim=dim, keepdim=keepdim) == 0


def nonzero(x: Any, as_tuple: bool = False) -> Any:
    """The coordinates of the nonzero elements: an ``(n, ndim)`` int64 tensor, or with
    ``as_tuple=True`` one 1-d tensor per dim (usable as an index)."""
    nz = x._nonzero()
    if not as_tuple:
        return nz
    if x.ndim == 0:
        return (nz.reshape(-1),)
    return tuple(nz[:, k] for k in range(x.ndim))


def where_cond(cond: Any) -> Any:
    """``where(cond)`` with one argument: ``nonzero(cond, as_tuple=True)``."""
    return nonzero(cond, as_tuple=True)


# ---- index_select, take_along_dim, masked_fill ----


def index_select(x: Any, dim: int, index: Any) -> Any:
    """The slices of ``x`` along ``dim`` at the 1-d integer ``index`` (repeats allowed)."""
    d = _dim("index_select", dim, x)
    idx = _index_tensor("index_select", x, index)
    if idx.ndim > 1:
        raise ShapeError(f"index_select: index must be 0-d or 1-d, got shape {idx.shape}")
    n = x.shape[d] if x.ndim else 1
    v = idx.numpy()
    if v.size and (v.min() < -n or v.max() >= n):
        bad = int(v[(v < -n) | (v >= n)][0])
        raise PygradIndexError(f"index_select: index {bad} is out of range for dim {d} of size {n}")
    if x.ndim == 0:
        return x.reshape(1)[idx.reshape(-1)].reshape(()) if idx.ndim == 0 else x.reshape(1)[idx]
    return x[(slice(None),) * d + (idx.reshape(-1),)]


def take_along_dim(x: Any, indices: Any, dim: Any = None) -> Any:
    """``gather`` with broadcasting: ``indices`` and ``x`` broadcast on every dim but ``dim``;
    with ``dim=None`` both are flattened."""
    idx = _index_tensor("take_along_dim", x, indices)
    if dim is None:
        return x.reshape(-1).gather(0, idx.reshape(-1))
    d = _dim("take_along_dim", dim, x)
    if idx.ndim != x.ndim:
        raise ShapeError(f"take_along_dim: indices of shape {idx.shape} must have as many dims as the tensor "
                         f"of shape {x.shape}")
    xs, js = list(x.shape), list(idx.shape)
    try:
        shape = np.broadcast_shapes(tuple(xs[:d] + [1] + xs[d + 1:]), tuple(js[:d] + [1] + js[d + 1:]))
    except ValueError:
        raise ShapeError(f"take_along_dim: shapes {x.shape} and {idx.shape} cannot be broadcast outside dim {d}") \
            from None
    xt = _broadcast(x, tuple(shape[:d]) + (xs[d],) + tuple(shape[d + 1:]))
    it = _broadcast(idx, tuple(shape[:d]) + (js[d],) + tuple(shape[d + 1:]))
    return xt.gather(d, it)


def _broadcast(t: Any, shape: tuple[int, ...]) -> Any:
    """t broadcast to shape (a differentiable add of zeros when it must grow)."""
    if tuple(t.shape) == tuple(shape):
        return t
    mod = _engines.engine_of(t, "broadcast")
    return t + mod.zeros(shape, dtype=t.dtype)


def masked_fill(x: Any, mask: Any, value: Any) -> Any:
    """``x`` with ``value`` (a number or a 0-d tensor) where the bool ``mask`` (broadcast) is True."""
    mod = _engines.engine_of(x, "masked_fill")
    m = mask if _engines.is_tensor(mask) else mod.tensor(np.asarray(mask))
    if m.dtype != np.bool_:
        raise PygradTypeError(f"masked_fill: mask must be a bool tensor, got {m.dtype}")
    if _engines.is_tensor(value):
        if value.ndim != 0:
            raise ShapeError(f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}")
        v = value.astype(x.dtype) if value.dtype != x.dtype else value
    else:
        v = mod.full((), value, dtype=x.dtype)
    out = mod.where(m, v, x)
    if out.shape != x.shape:
        raise ShapeError(f"masked_fill: mask of shape {m.shape} does not broadcast to the tensor's shape {x.shape}")
    return out


def lerp(x: Any, end: Any, weight: Any) -> Any:
    """``x + weight·(end - x)`` (weight a number or a tensor; all broadcast), differentiable in all three."""
    return x + (end - x) * weight


# the methods both Tensor classes get, and the module functions both engines export
METHODS = ("lerp", "argmax", "argmin", "argsort", "sort", "topk", "cummax", "cummin", "count_nonzero", "any", "all",
           "nonzero", "index_select", "take_along_dim", "masked_fill")
FUNCTIONS = METHODS + ("gather", "scatter", "scatter_add_dim")


def install(tensor_class: type) -> None:
    """Attach the methods above to an engine's Tensor class."""
    for name in METHODS:
        setattr(tensor_class, name, globals()[name])


def gather(x: Any, dim: int, index: Any) -> Any:
    """``out[i][j][k] = x[i][index[i][j][k]][k]`` for dim 1 (any dim alike), PyTorch's gather."""
    return x.gather(dim, index)


def scatter(x: Any, dim: int, index: Any, src: Any = None, value: Any = None) -> Any:
    """``x`` with ``src`` (or the number ``value``) written at ``index`` along ``dim`` (out of place)."""
    return x.scatter(dim, index, src if src is not None else value)


def scatter_add_dim(x: Any, dim: int, index: Any, src: Any) -> Any:
    """``x`` with ``src`` added at ``index`` along ``dim`` (repeats add), PyTorch's scatter_add."""
    return x.scatter_add(dim, index, src)
