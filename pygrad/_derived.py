"""Ops derived from the op table, written once for both engines.

Each op here is a composition of the engines' own differentiable ops
(``reshape``, ``permute``, ``getitem``, ``where``, ``mul``, ``sum``, ``max``,
``matmul`` ...), applied through the public Tensor API of the engine its
input belongs to, so its gradient and its double backward come from those
ops' rules and the reference engine computes it with its own numerics.

Data-moving ops (``flip``, ``roll``, ``repeat``, ``tile``, ``expand``,
``pad`` in its reflect, replicate and circular modes, ``clone``) compute, in numpy, one index vector per dim (the op
applied to ``arange(n)``) and apply the ``index_map`` op:
``y[i, j, ...] = x[map₀[i], map₁[j], ...]``, one C kernel moving elements
by their size, a scatter-add backward, and a scatter-add (whose own rule
gathers) as its double backward. ``diagonal`` computes the flat offsets of
its result and gathers with ``getitem``. ``pad``'s constant mode and
``tril``/``triu`` are op-table ops of their own (one pass: a fill and a copy).

``logsumexp``, ``cumsum`` and ``cumprod`` are op-table ops (C kernels, reference
twins); here they check their arguments. The other reductions (``var``,
``std``, ``norm``, ``prod``) are written so that their gradients are exact where
a textbook formula would divide by zero: ``prod`` multiplies in a tree (no
division by the input; the op ``cumprod``'s backward divides by nothing
either), ``norm`` has gradient 0 at 0 (as PyTorch's).

This module imports no engine: it asks :mod:`pygrad._engines` for the
engine of the tensors it is given.
"""

from __future__ import annotations

import math
import numbers
import string
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from pygrad import _device, _engines
from pygrad.errors import (
    PygradIndexError,
    PygradMemoryError,
    PygradRuntimeError,
    PygradTypeError,
    PygradValueError,
    ShapeError,
)

# ---------------------------------------------------------------- helpers


def _tensor(op: str, x: Any) -> Any:
    if not _engines.is_tensor(x):
        raise PygradTypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    return x


def _eng(x: Any) -> Any:
    return _engines.engine_of(x)


def _int(op: str, what: str, v: Any) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise PygradTypeError(f"{op}: {what} must be an int, got {v!r}")
    return int(v)


def _dim(op: str, d: Any, ndim: int, shape: tuple[int, ...] | None = None) -> int:
    """``d`` normalised to [0, ndim) (a 0-d tensor accepts -1 and 0, as PyTorch)."""
    d = _int(op, "dim", d)
    n = max(ndim, 1)
    if not -n <= d < n:
        where = f"a tensor of shape {shape}" if shape is not None else f"{ndim} dims"
        raise ShapeError(f"{op}: dim {d} is out of range for {where} (expected -{n} to {n - 1})")
    return d % n


def _dims(op: str, dim: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """``dim`` (None: all; an int; a tuple or list of ints) as sorted distinct dims."""
    ndim = len(shape)
    if dim is None:
        return tuple(range(ndim))
    seq = dim if isinstance(dim, (tuple, list)) else (dim,)
    ds = [_dim(op, d, ndim, shape) for d in seq]
    if ndim == 0:
        ds = []
    if len(set(ds)) != len(ds):
        raise ShapeError(f"{op}: dim {tuple(dim)} names a dim twice (tensor of shape {shape})")
    return tuple(sorted(ds))


def _float(op: str, x: Any) -> None:
    if x.dtype.kind != "f":
        raise PygradTypeError(f"{op}: expected a float32 or float64 tensor, got dtype {x.dtype}")


def _sizes(op: str, args: tuple[Any, ...], what: str = "sizes") -> tuple[int, ...]:
    """``f(2, 3)`` and ``f((2, 3))`` both give (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list, np.ndarray)):
        args = tuple(args[0])
    return tuple(_int(op, what, a) for a in args)


def interp_sizes(op: str, t: Any, modes: Any, mode: str, size: Any,
                 scale: Any) -> tuple[int, list[Any], list[Any]]:
    """interpolate's op arguments as both engines take them: checks ``mode`` against ``modes`` and
    returns (nd, sizes, scales), one size and scale per spatial dim of a 3-d or 4-d ``t`` (nd 0 for a
    tensor of another ndim: the engine's shape check names it; its lists then hold placeholders)."""
    if mode not in modes:
        raise PygradValueError(f"{op}: mode must be one of {', '.join(modes)}, got {mode!r}")
    nd = t.ndim - 2 if t.ndim in (3, 4) else 0
    sz = list(size) if isinstance(size, (tuple, list)) else [size] * max(nd, 1)
    sc = [0.0] * max(nd, 1) if scale is None else (list(scale) if isinstance(scale, (tuple, list)) else [scale] * nd)
    if nd and (len(sz) != nd or len(sc) != nd):
        raise PygradValueError(f"{op}: size {size!r} and scale {scale!r} must have {nd} value(s) for a tensor of "
                               f"shape {t.shape}")
    return nd, sz, sc


def _const(x: Any, arr: Any) -> Any:
    """A constant tensor of ``x``'s engine and dtype."""
    return _eng(x).tensor(np.asarray(arr, dtype=x.dtype))


def _offsets(shape: tuple[int, ...]) -> np.ndarray:
    return np.arange(math.prod(shape), dtype=np.int64).reshape(shape)


def _gather(x: Any, off: np.ndarray) -> Any:
    """y with y[i] = x.flat[off[i]]: the getitem op (backward: scatter-add)."""
    return x._take_flat(np.ascontiguousarray(off, dtype=np.int64))


def _take(x: Any, maps: Sequence[np.ndarray]) -> Any:
    """y[i, j, ...] = x[maps[0][i], maps[1][j], ...]: the index_map op (backward: scatter-add)."""
    return x._index_map([np.asarray(m, dtype=np.int64) for m in maps])


def _maps(op: str, shape: Sequence[int], build: Any) -> Any:
    """``build()`` (the index vectors of a result of ``shape``), or PygradMemoryError when the
    result could not be held (checked before numpy is asked for the vectors)."""
    n = math.prod(shape)
    if n > _MAX_ELEMENTS or any(s > _MAX_ELEMENTS for s in shape):
        raise PygradMemoryError(f"{op}: the result's shape {tuple(shape)} is too large")
    try:
        return build()
    except MemoryError:
        raise PygradMemoryError(f"{op}: the result's shape {tuple(shape)} is too large") from None


_MAX_ELEMENTS = 2**40


def _ids(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.int64)


def _cycle(n: int, length: int, shift: int = 0) -> np.ndarray:
    """(i - shift) mod n for i < length (empty when n is 0)."""
    return (_ids(length) - shift) % n if n else _ids(0)


def _lead(x: Any, ndim: int) -> Any:
    """x with size-1 dims in front up to ``ndim`` dims."""
    return x if x.ndim == ndim else x.reshape((1,) * (ndim - x.ndim) + tuple(x.shape))


def _reshape(x: Any, shape: Sequence[int]) -> Any:
    return x.reshape(tuple(shape))


# ---------------------------------------------------------------- views and reshapes


def squeeze(x: Any, dim: Any = None) -> Any:
    """x without dims of size 1 (``dim``: only those of the given dims that have size 1)."""
    x = _tensor("squeeze", x)
    ds = _dims("squeeze", dim, x.shape)
    return _reshape(x, [s for d, s in enumerate(x.shape) if not (d in ds and s == 1)])


def unsqueeze(x: Any, dim: int) -> Any:
    """x with a new dim of size 1 at ``dim`` (in [-ndim-1, ndim])."""
    x = _tensor("unsqueeze", x)
    d = _dim("unsqueeze", dim, x.ndim + 1, x.shape)
    s = list(x.shape)
    s.insert(d, 1)
    return _reshape(x, s)


def flatten(x: Any, start_dim: int = 0, end_dim: int = -1) -> Any:
    """Dims ``start_dim..end_dim`` merged into one (a 0-d tensor becomes shape (1,))."""
    x = _tensor("flatten", x)
    if x.ndim == 0:
        _dim("flatten", start_dim, 0, x.shape), _dim("flatten", end_dim, 0, x.shape)
        return _reshape(x, (1,))
    a, b = _dim("flatten", start_dim, x.ndim, x.shape), _dim("flatten", end_dim, x.ndim, x.shape)
    if a > b:
        raise ShapeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (tensor of shape {x.shape})")
    s = x.shape
    return _reshape(x, s[:a] + (math.prod(s[a:b + 1]),) + s[b + 1:])


def unflatten(x: Any, dim: int, sizes: Sequence[int]) -> Any:
    """Dim ``dim`` split into ``sizes`` (one of them may be -1)."""
    x = _tensor("unflatten", x)
    d = _dim("unflatten", dim, x.ndim, x.shape)
    if x.ndim == 0:
        raise ShapeError("unflatten: a 0-d tensor has no dim to unflatten")
    sz = _sizes("unflatten", (sizes,))
    if not sz:
        raise ShapeError("unflatten: sizes must not be empty")
    n = x.shape[d]
    if sz.count(-1) > 1 or any(s < -1 for s in sz):
        raise ShapeError(f"unflatten: invalid sizes {sz}")
    known = math.prod(s for s in sz if s != -1)
    if -1 in sz:
        if known == 0 or n % known:
            raise ShapeError(f"unflatten: sizes {sz} do not divide dim {d} of size {n} (tensor of shape {x.shape})")
        sz = tuple(n // known if s == -1 else s for s in sz)
    elif known != n:
        raise ShapeError(f"unflatten: sizes {sz} multiply to {known}, not to dim {d} of size {n} "
                         f"(tensor of shape {x.shape})")
    return _reshape(x, x.shape[:d] + sz + x.shape[d + 1:])


def _expanded_shape(op: str, shape: tuple[int, ...], sizes: tuple[int, ...]) -> tuple[int, ...]:
    if len(sizes) < len(shape):
        raise ShapeError(f"{op}: the number of sizes ({len(sizes)}) must be at least the number of dims "
                         f"of the tensor ({len(shape)}); shape {shape}, sizes {sizes}")
    lead = len(sizes) - len(shape)
    out = []
    for i, s in enumerate(sizes):
        if i < lead:
            if s < 0:
                raise ShapeError(f"{op}: size {s} is not allowed for a new leading dim (sizes {sizes})")
            out.append(s)
            continue
        have = shape[i - lead]
        if s == -1:
            out.append(have)
        elif s < 0 or (have != 1 and have != s):
            raise ShapeError(f"{op}: cannot expand shape {shape} to {sizes}: the size of dim {i - lead} "
                             f"({have}) must be 1 or equal {s}")
        else:
            out.append(s)
    return tuple(out)


def expand(x: Any, *sizes: Any) -> Any:
    """x broadcast to ``sizes`` (-1 keeps a dim; new dims go in front). Gradient: summed back."""
    x = _tensor("expand", x)
    shape = _expanded_shape("expand", x.shape, _sizes("expand", sizes))
    if shape == x.shape:
        return x
    y = _lead(x, len(shape))
    return _take(y, _maps("expand", shape, lambda: [np.zeros(s, np.int64) if y.shape[d] == 1 and s != 1 else _ids(s)
                                                   for d, s in enumerate(shape)]))


def broadcast_to(x: Any, shape: Sequence[int]) -> Any:
    """x broadcast to ``shape`` (numpy's and PyTorch's rules; -1 keeps a dim)."""
    x = _tensor("broadcast_to", x)
    s = _expanded_shape("broadcast_to", x.shape, _sizes("broadcast_to", (shape,), "shape"))
    return x if s == x.shape else expand(x, s)


def expand_as(x: Any, other: Any) -> Any:
    """x broadcast to ``other.shape``."""
    return broadcast_to(x, _tensor("expand_as", other).shape)


def movedim(x: Any, source: Any, destination: Any) -> Any:
    """x with dims ``source`` moved to positions ``destination`` (ints or sequences), the others in order."""
    x = _tensor("movedim", x)
    src = source if isinstance(source, (tuple, list)) else (source,)
    dst = destination if isinstance(destination, (tuple, list)) else (destination,)
    if len(src) != len(dst):
        raise ShapeError(f"movedim: source {tuple(src)} and destination {tuple(dst)} differ in length")
    n = x.ndim
    s = [_dim("movedim", d, n, x.shape) for d in src]
    t = [_dim("movedim", d, n, x.shape) for d in dst]
    if len(set(s)) != len(s) or len(set(t)) != len(t):
        raise ShapeError(f"movedim: repeated dim in source {tuple(src)} or destination {tuple(dst)}")
    if n == 0:
        return x
    perm = [-1] * n
    for a, b in zip(s, t):
        perm[b] = a
    rest = iter(d for d in range(n) if d not in s)
    perm = [p if p >= 0 else next(rest) for p in perm]
    return x.permute(*perm)


moveaxis = movedim


def _slice(ndim: int, d: int, sl: Any) -> tuple[Any, ...]:
    return (slice(None),) * d + (sl,)


def narrow(x: Any, dim: int, start: int, length: int) -> Any:
    """The slice ``start:start+length`` of dim ``dim`` (``start`` may be negative)."""
    x = _tensor("narrow", x)
    if x.ndim == 0:
        raise ShapeError("narrow: a 0-d tensor cannot be narrowed")
    d = _dim("narrow", dim, x.ndim, x.shape)
    start, length = _int("narrow", "start", start), _int("narrow", "length", length)
    n = x.shape[d]
    if not -n <= start <= n:
        raise PygradIndexError(f"narrow: start {start} is out of range for dim {d} of size {n}")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise ShapeError(f"narrow: start {start} + length {length} exceeds dim {d} of size {n} "
                         f"(tensor of shape {x.shape})")
    return x[_slice(x.ndim, d, slice(start, start + length))]


def split(x: Any, split_size_or_sections: Any, dim: int = 0) -> tuple[Any, ...]:
    """Pieces along ``dim``: of size ``split_size_or_sections`` each (an int; the last may be
    smaller), or of the given sizes (a sequence summing to the dim's size)."""
    x = _tensor("split", x)
    if x.ndim == 0:
        raise ShapeError("split: a 0-d tensor cannot be split")
    d = _dim("split", dim, x.ndim, x.shape)
    n = x.shape[d]
    if isinstance(split_size_or_sections, (tuple, list)):
        sizes = [_int("split", "a section size", s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ShapeError(f"split: sizes {tuple(sizes)} must be non-negative and sum to {n}, the size of dim {d} "
                             f"(tensor of shape {x.shape})")
    else:
        k = _int("split", "split_size", split_size_or_sections)
        if k < 0 or (k == 0 and n > 0):
            raise PygradValueError(f"split: split_size must be positive, got {k}")
        sizes = [k] * (n // k) + ([n % k] if n % k else []) if n else [0]
    out, at = [], 0
    for s in sizes:
        out.append(x[_slice(x.ndim, d, slice(at, at + s))])
        at += s
    return tuple(out)


def chunk(x: Any, chunks: int, dim: int = 0) -> tuple[Any, ...]:
    """At most ``chunks`` pieces along ``dim``, each of size ceil(n / chunks) (the last smaller)."""
    x = _tensor("chunk", x)
    c = _int("chunk", "chunks", chunks)
    if c <= 0:
        raise PygradValueError(f"chunk: chunks must be positive, got {c}")
    if x.ndim == 0:
        raise ShapeError("chunk: a 0-d tensor cannot be chunked")
    d = _dim("chunk", dim, x.ndim, x.shape)
    n = x.shape[d]
    return split(x, max(-(-n // c), 1), d)


def unbind(x: Any, dim: int = 0) -> tuple[Any, ...]:
    """The slices ``x.select(dim, i)`` for every i, as a tuple."""
    x = _tensor("unbind", x)
    if x.ndim == 0:
        raise ShapeError("unbind: a 0-d tensor cannot be unbound")
    d = _dim("unbind", dim, x.ndim, x.shape)
    return tuple(x[_slice(x.ndim, d, i)] for i in range(x.shape[d]))


def clone(x: Any) -> Any:
    """A copy of x (its own storage), differentiable (gradient: the identity)."""
    x = _tensor("clone", x)
    return x._copy()


def contiguous(x: Any) -> Any:
    """x itself: pygrad tensors are always contiguous (row-major)."""
    return _tensor("contiguous", x)


# ---------------------------------------------------------------- data movement by offsets


def flip(x: Any, dims: Any) -> Any:
    """x reversed along ``dims`` (an int or a sequence)."""
    x = _tensor("flip", x)
    ds = _dims("flip", dims, x.shape) if dims is not None else None
    if ds is None:
        raise PygradTypeError("flip: dims must be given (an int or a sequence of ints)")
    return _take(x, [_ids(n)[::-1] if d in ds else _ids(n) for d, n in enumerate(x.shape)])


def roll(x: Any, shifts: Any, dims: Any = None) -> Any:
    """x shifted cyclically by ``shifts`` along ``dims`` (None: the flattened tensor, reshaped back)."""
    x = _tensor("roll", x)
    sh = shifts if isinstance(shifts, (tuple, list)) else (shifts,)
    sh = tuple(_int("roll", "shifts", s) for s in sh)
    if dims is None:
        if len(sh) != 1:
            raise ShapeError(f"roll: {len(sh)} shifts need as many dims, got dims=None")
        n = x.numel()
        return _take(x.reshape(-1), [_cycle(n, n, sh[0] % n if n else 0)]).reshape(x.shape)
    dd = dims if isinstance(dims, (tuple, list)) else (dims,)
    if len(dd) != len(sh):
        raise ShapeError(f"roll: shifts {sh} and dims {tuple(dd)} differ in length")
    ds = tuple(_dim("roll", d, x.ndim, x.shape) for d in dd)
    shift = [0] * x.ndim
    for d, k in zip(ds, sh):
        shift[d] += k
    return _take(x, [_cycle(n, n, k % n if n else 0) for n, k in zip(x.shape, shift)])


def repeat(x: Any, *sizes: Any) -> Any:
    """x tiled ``sizes[i]`` times along dim i (at least ``x.ndim`` sizes; extra ones add leading dims)."""
    x = _tensor("repeat", x)
    r = _sizes("repeat", sizes)
    if len(r) < x.ndim:
        raise ShapeError(f"repeat: the number of repeats ({len(r)}) must be at least the number of dims "
                         f"of the tensor ({x.ndim}); shape {x.shape}")
    if any(k < 0 for k in r):
        raise ShapeError(f"repeat: repeats must be non-negative, got {r}")
    y = _lead(x, len(r))
    shape = [n * k for n, k in zip(y.shape, r)]
    return _take(y, _maps("repeat", shape, lambda: [_cycle(n, n * k) for n, k in zip(y.shape, r)]))


def tile(x: Any, dims: Sequence[int]) -> Any:
    """x tiled ``dims[i]`` times along dim i; fewer dims than x has are padded with 1s in front."""
    x = _tensor("tile", x)
    r = _sizes("tile", (dims,), "dims")
    if any(k < 0 for k in r):
        raise ShapeError(f"tile: repeats must be non-negative, got {r}")
    r = (1,) * (x.ndim - len(r)) + r
    y = _lead(x, len(r))
    shape = [n * k for n, k in zip(y.shape, r)]
    return _take(y, _maps("tile", shape, lambda: [_cycle(n, n * k) for n, k in zip(y.shape, r)]))


def diagonal(x: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Any:
    """The diagonal of dims ``dim1`` and ``dim2`` (``offset`` above it, below if negative), as the last dim."""
    x = _tensor("diagonal", x)
    if x.ndim < 2:
        raise ShapeError(f"diagonal: needs at least 2 dims, got shape {x.shape}")
    a, b = _dim("diagonal", dim1, x.ndim, x.shape), _dim("diagonal", dim2, x.ndim, x.shape)
    if a == b:
        raise ShapeError(f"diagonal: dim1 and dim2 are the same dim {a}")
    k = _int("diagonal", "offset", offset)
    st = [math.prod(x.shape[d + 1:]) for d in range(x.ndim)]
    length = max(0, min(x.shape[a] - max(-k, 0), x.shape[b] - max(k, 0)))
    rest = [d for d in range(x.ndim) if d not in (a, b)]
    off = np.asarray(max(-k, 0) * st[a] + max(k, 0) * st[b], dtype=np.int64)
    nr = len(rest) + 1
    for i, d in enumerate(rest):  # offsets of the result only: O(result), not O(x)
        off = off + (_ids(x.shape[d]) * st[d]).reshape([-1 if j == i else 1 for j in range(nr)])
    off = off + (_ids(length) * (st[a] + st[b])).reshape([1] * (nr - 1) + [-1])
    return _gather(x, np.broadcast_to(off, [x.shape[d] for d in rest] + [length]))


def _tri(op: str, x: Any, diagonal: int, upper: bool) -> Any:
    x = _tensor(op, x)
    if x.ndim < 2:
        raise ShapeError(f"{op}: needs at least 2 dims, got shape {x.shape}")
    k = _int(op, "diagonal", diagonal)
    k = min(max(k, -x.shape[-2]), x.shape[-1])  # beyond the matrix: all or nothing
    return x._tri(k, upper)


def tril(x: Any, diagonal: int = 0) -> Any:
    """x with the elements above diagonal ``diagonal`` of its last two dims set to 0."""
    return _tri("tril", x, diagonal, False)


def triu(x: Any, diagonal: int = 0) -> Any:
    """x with the elements below diagonal ``diagonal`` of its last two dims set to 0."""
    return _tri("triu", x, diagonal, True)


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input: Any, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Any:
    """x padded: ``pad = (left_last, right_last, left_2nd_last, right_2nd_last, ...)``, PyTorch's order
    (last dim first). ``mode``: ``"constant"`` (``value``, default 0; negative pads crop),
    ``"reflect"`` (mirror without repeating the edge; pads < the dim's size), ``"replicate"``
    (repeat the edge), ``"circular"`` (wrap around)."""
    x = _tensor("pad", input)
    p = _sizes("pad", (pad,), "pad")
    if len(p) % 2 or len(p) // 2 > x.ndim:
        raise ShapeError(f"pad: the pad must have an even length of at most 2·ndim = {2 * x.ndim}, "
                         f"got {len(p)} for a tensor of shape {x.shape}")
    if mode not in _PAD_MODES:
        raise PygradValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if mode != "constant" and value not in (None, 0, 0.0):
        raise PygradValueError(f"pad: a value ({value}) is only meaningful in constant mode, not {mode!r}")
    widths = [[0, 0] for _ in range(x.ndim)]
    for i in range(len(p) // 2):
        widths[x.ndim - 1 - i] = [p[2 * i], p[2 * i + 1]]
    out_shape = [max(n + lo + hi, 0) for n, (lo, hi) in zip(x.shape, widths)]
    if mode == "constant":
        if any(max(-lo, 0) + max(-hi, 0) > n for (lo, hi), n in zip(widths, x.shape)):
            raise ShapeError(f"pad: negative pads {p} crop more than the tensor of shape {x.shape} has")
        _maps("pad", out_shape, lambda: None)  # a result too large to hold fails here, as the other modes
        fill = np.asarray(0.0 if value is None else value, dtype=x.dtype).item()  # the value as x's dtype holds it
        try:
            return x._pad([lo for lo, _ in widths], [hi for _, hi in widths], float(fill))
        except PygradMemoryError:
            raise PygradMemoryError(f"pad: the result's shape {tuple(out_shape)} is too large") from None
    for d, ((lo, hi), n) in enumerate(zip(widths, x.shape)):
        if lo < 0 or hi < 0:
            raise ShapeError(f"pad: negative pads {p} are only allowed in constant mode, not {mode!r}")
        if (lo or hi) and n == 0:
            raise ShapeError(f"pad: cannot pad dim {d} of size 0 in {mode!r} mode (tensor of shape {x.shape})")
        if mode == "reflect" and (lo >= n or hi >= n) and (lo or hi):
            raise ShapeError(f"pad: reflect pads ({lo}, {hi}) of dim {d} must be less than its size {n} "
                             f"(tensor of shape {x.shape})")
        if mode == "circular" and (lo > n or hi > n):
            raise ShapeError(f"pad: circular pads ({lo}, {hi}) of dim {d} must be at most its size {n} "
                             f"(tensor of shape {x.shape})")
    return _take(x, _maps("pad", out_shape, lambda: [np.pad(_ids(n), w, mode=_PAD_MODES[mode])
                                                     for n, w in zip(x.shape, widths)]))


# ---------------------------------------------------------------- products


def dot(a: Any, b: Any) -> Any:
    """Σᵢ aᵢbᵢ of two 1-d tensors of one size and dtype (a 0-d result)."""
    a, b = _tensor("dot", a), _tensor("dot", b)
    _engines.common("dot", (a, b))
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise ShapeError(f"dot: expected two 1-d tensors of one size, got shapes {a.shape} and {b.shape}")
    if a.dtype != b.dtype:
        raise PygradTypeError(f"dot: expected both tensors to have the same dtype, got {a.dtype} and {b.dtype}")
    return a @ b


def outer(a: Any, b: Any) -> Any:
    """The outer product aᵢbⱼ of two 1-d tensors, shape (len(a), len(b))."""
    a, b = _tensor("outer", a), _tensor("outer", b)
    _engines.common("outer", (a, b))
    if a.ndim != 1 or b.ndim != 1:
        raise ShapeError(f"outer: expected two 1-d tensors, got shapes {a.shape} and {b.shape}")
    return a.reshape(-1, 1) * b.reshape(1, -1)


ger = outer


def _einsum_parse(eq: str, operands: Sequence[Any]) -> tuple[list[list[Any]], list[Any]]:
    """Labels per operand dim and of the output; ``...`` dims become ('.', k), k counted from the right."""
    if not isinstance(eq, str):
        raise PygradTypeError(f"einsum: the equation must be a string, got {type(eq).__name__}")
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise PygradValueError(f"einsum: the equation {eq!r} has {len(terms)} operand(s) but "
                               f"{len(operands)} tensor(s) were given")
    letters = set(string.ascii_letters)

    def parse(term: str, ndim: int | None) -> list[Any]:
        if term.count("...") > 1 or term.replace("...", "").strip(string.ascii_letters):
            raise PygradValueError(f"einsum: invalid subscripts {term!r} in {eq!r}")
        head, dots, tail = term.partition("...")
        if ndim is None:
            return list(head) + (["..."] if dots else []) + list(tail)
        n_ell = ndim - len(head) - len(tail)
        if (n_ell != 0 and not dots) or n_ell < 0:
            raise ShapeError(f"einsum: subscripts {term!r} do not fit an operand of {ndim} dims")
        return list(head) + [(".", n_ell - 1 - k) for k in range(n_ell)] + list(tail)

    ins = [parse(t, op.ndim) for t, op in zip(terms, operands)]
    n_ell = max((sum(isinstance(lb, tuple) for lb in lab) for lab in ins), default=0)
    ell = [(".", n_ell - 1 - k) for k in range(n_ell)]
    if arrow:
        raw = parse(rhs, None)
        out: list[Any] = []
        for lb in raw:
            if lb == "...":
                out.extend(ell)
            else:
                if lb not in letters or not any(lb in lab for lab in ins):
                    raise PygradValueError(f"einsum: output subscript {lb!r} does not appear in the inputs of {eq!r}")
                if lb in out:
                    raise PygradValueError(f"einsum: output subscript {lb!r} appears twice in {eq!r}")
                out.append(lb)
    else:
        counts: dict[str, int] = {}
        for lab in ins:
            for lb in lab:
                if not isinstance(lb, tuple):
                    counts[lb] = counts.get(lb, 0) + 1
        out = ell + sorted((lb for lb, c in counts.items() if c == 1), key=lambda c: (c.islower(), c))
    return ins, out


def _sum_labels(t: Any, lab: list[Any], drop: set[Any]) -> tuple[Any, list[Any]]:
    ax = tuple(i for i, lb in enumerate(lab) if lb in drop)
    if not ax:
        return t, lab
    return t.sum(ax), [lb for lb in lab if lb not in drop]


def _take_diagonals(t: Any, lab: list[Any]) -> tuple[Any, list[Any]]:
    """Repeated labels in one operand: keep their diagonal (the trace-like part of einsum)."""
    while True:
        seen = {}
        for i, lb in enumerate(lab):
            if lb in seen:
                j = seen[lb]
                if t.shape[i] != t.shape[j]:
                    raise ShapeError(f"einsum: subscript {lb!r} repeated in an operand has sizes "
                                     f"{t.shape[j]} and {t.shape[i]} (shape {t.shape})")
                t = diagonal(t, 0, j, i)
                lab = [lb2 for k, lb2 in enumerate(lab) if k not in (i, j)] + [lb]
                break
            seen[lb] = i
        else:
            return t, lab


def einsum(equation: str, *operands: Any) -> Any:
    """Einstein summation, PyTorch's and numpy's subscripts: ``'ij,jk->ik'``, ``'...ij,...jk'``,
    ``'ii->i'`` (a repeated subscript takes a diagonal), ``'ii'`` (trace), implicit output
    (the subscripts seen once, sorted, after the ``...`` dims). Operands contract pairwise,
    left to right, each pair as one batched matmul after a permute and a reshape; subscripts
    no later operand or the output needs are summed first. Size-1 dims broadcast."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise PygradValueError("einsum: at least one operand is needed")
    ts = [_tensor("einsum", t) for t in operands]
    _engines.common("einsum", ts)
    ins, out = _einsum_parse(equation, ts)
    size: dict[Any, int] = {}
    for t, lab in zip(ts, ins):
        for lb, s in zip(lab, t.shape):
            if size.get(lb, 1) != 1 and s != 1 and size[lb] != s:
                raise ShapeError(f"einsum: subscript {lb!r} has sizes {size[lb]} and {s} in {equation!r} "
                                 f"(shapes {[t.shape for t in ts]})")
            size[lb] = max(size.get(lb, 1), s) if s != 0 and size.get(lb, 1) != 0 else 0
    items = []
    for t, lab in zip(ts, ins):
        items.append(_take_diagonals(t, list(lab)))

    def needed(k: int) -> set[Any]:
        return set(out).union(*(set(lab) for _, lab in items[k:]))

    cur, clab = items[0]
    cur, clab = _sum_labels(cur, clab, set(clab) - needed(1))
    for k in range(1, len(items)):
        b, blab = items[k]
        keep = needed(k + 1)
        cur, clab = _sum_labels(cur, clab, set(clab) - keep - set(blab))
        b, blab = _sum_labels(b, blab, set(blab) - keep - set(clab))
        batch = [lb for lb in clab if lb in blab and lb in keep]
        contr = [lb for lb in clab if lb in blab and lb not in keep]
        aonly = [lb for lb in clab if lb not in blab]
        bonly = [lb for lb in blab if lb not in clab]
        # a contracted subscript of size 1 on one side: sum the other side over it first
        for lb in contr:
            sa, sb = cur.shape[clab.index(lb)], b.shape[blab.index(lb)]
            if sa != sb:
                if sa == 1:
                    b = b.sum(blab.index(lb), keepdims=True)
                else:
                    cur = cur.sum(clab.index(lb), keepdims=True)
        pa = [clab.index(lb) for lb in batch + aonly + contr]
        pb = [blab.index(lb) for lb in batch + contr + bonly]
        A = cur.permute(*pa) if pa != list(range(len(pa))) else cur
        B = b.permute(*pb) if pb != list(range(len(pb))) else b
        nb = len(batch)
        A_kept = A.shape[nb:nb + len(aonly)]
        B_kept = B.shape[nb + len(contr):]
        M, K, N = math.prod(A_kept), math.prod(A.shape[nb + len(aonly):]), math.prod(B_kept)
        A = A.reshape(*A.shape[:nb], M, K)
        B = B.reshape(*B.shape[:nb], K, N)
        C = A @ B
        shape = (*C.shape[:nb], *A_kept, *B_kept)
        cur = C if C.shape == shape else C.reshape(*shape)
        clab = batch + aonly + bonly
    cur, clab = _sum_labels(cur, clab, set(clab) - set(out))
    perm = [clab.index(lb) for lb in out]
    if perm != list(range(len(perm))):
        cur = cur.permute(*perm)
    want = tuple(size[lb] for lb in out)
    if cur.shape != want:  # a size-1 dim broadcast against a larger one of another operand
        cur = expand(cur, want)
    return cur


# ---------------------------------------------------------------- creation and comparison


def linspace(engine: Any, start: float, end: float, steps: int, *, dtype: Any = None,
             requires_grad: bool = False) -> Any:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive (PyTorch's rule: the
    first half counted up from ``start``, the second half down from ``end``)."""
    steps = _int("linspace", "steps", steps)
    if steps < 0:
        raise PygradValueError(f"linspace: number of steps must be non-negative, got {steps}")
    for what, v in (("start", start), ("end", end)):
        if _engines.is_tensor(v):
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise PygradTypeError(f"linspace: {what} must be a real number, got {v!r}")
    start = float(start.item() if _engines.is_tensor(start) else start)
    end = float(end.item() if _engines.is_tensor(end) else end)
    i = _maps("linspace", (steps,), lambda: np.arange(steps, dtype=np.float64))
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    vals = np.where(i < steps // 2, start + step * i, end - step * (steps - 1 - i)) if steps > 1 else i + start
    return engine.tensor(vals, dtype=engine.float32 if dtype is None else dtype, requires_grad=requires_grad)


def _recording_now() -> bool:
    """pygrad.compile records on some thread (values read now would be frozen into a program)."""
    from pygrad import _recording

    return _recording.RECORDING > 0


def _like(engine: Any, op: str, input: Any, dtype: Any) -> tuple[tuple[int, ...], Any]:
    """The shape of ``input`` (a tensor of ``engine``) and the dtype of a ``*_like`` result."""
    if not _engines.is_tensor(input):
        raise PygradTypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    return tuple(input.shape), input.dtype if dtype is None else dtype


def creation_functions(engine_name: str) -> dict[str, Any]:
    """PyTorch's creation functions made of the engine's own ``zeros``/``full``/``rand``/``randn``/
    ``randint``/``tensor``: ``empty``, ``zeros_like``, ``ones_like``, ``full_like``, ``empty_like``,
    ``rand_like``, ``randn_like``, ``randint_like``, ``normal``, ``as_tensor``, ``logspace``, bound to one engine."""
    from importlib import import_module

    def eng() -> Any:
        return import_module(engine_name)

    def empty(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
        """A tensor of the given shape (PyTorch's ``empty``); pygrad fills it with zeros, so its
        contents are defined."""
        return eng().zeros(*size, dtype=dtype, requires_grad=requires_grad)

    def zeros_like(input: Any, *, dtype: Any = None, requires_grad: bool = False) -> Any:
        """Zeros of ``input``'s shape and (unless ``dtype``) dtype."""
        shape, dt = _like(eng(), "zeros_like", input, dtype)
        return eng().zeros(shape, dtype=dt, requires_grad=requires_grad)

    def ones_like(input: Any, *, dtype: Any = None, requires_grad: bool = False) -> Any:
        """Ones of ``input``'s shape and (unless ``dtype``) dtype."""
        shape, dt = _like(eng(), "ones_like", input, dtype)
        return eng().ones(shape, dtype=dt, requires_grad=requires_grad)

    def full_like(input: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Any:
        """``fill_value`` in ``input``'s shape and (unless ``dtype``) dtype."""
        shape, dt = _like(eng(), "full_like", input, dtype)
        return eng().full(shape, fill_value, dtype=dt, requires_grad=requires_grad)

    def empty_like(input: Any, *, dtype: Any = None, requires_grad: bool = False) -> Any:
        """A tensor of ``input``'s shape and (unless ``dtype``) dtype, filled with zeros (see ``empty``)."""
        shape, dt = _like(eng(), "empty_like", input, dtype)
        return eng().zeros(shape, dtype=dt, requires_grad=requires_grad)

    def rand_like(input: Any, *, dtype: Any = None, requires_grad: bool = False) -> Any:
        """Uniform samples in [0, 1) of ``input``'s shape and (unless ``dtype``) dtype, from the
        generator behind ``manual_seed``."""
        shape, dt = _like(eng(), "rand_like", input, dtype)
        return eng().rand(*shape, dtype=dt, requires_grad=requires_grad)

    def randn_like(input: Any, *, dtype: Any = None, requires_grad: bool = False) -> Any:
        """Standard normal samples of ``input``'s shape and (unless ``dtype``) dtype."""
        shape, dt = _like(eng(), "randn_like", input, dtype)
        return eng().randn(*shape, dtype=dt, requires_grad=requires_grad)

    def randint_like(input: Any, low: int, high: int | None = None, *, dtype: Any = None,
                     requires_grad: bool = False) -> Any:
        """Integers in [low, high) (``randint_like(x, high)``: low = 0) of ``input``'s shape and
        (unless ``dtype``) dtype."""
        shape, dt = _like(eng(), "randint_like", input, dtype)
        if high is None:
            low, high = 0, low
        return eng().randint(low, high, shape, dtype=dt, requires_grad=requires_grad)

    def normal(mean: Any = 0.0, std: Any = 1.0, size: Any = None, *, generator: Any = None, dtype: Any = None,
               requires_grad: bool = False) -> Any:
        """Normal samples, PyTorch's ``normal`` forms: ``normal(mean, std)`` with a tensor mean and/or std
        (broadcast; the result has their shape and float dtype), or ``normal(mean, std, size)`` with
        numbers (float32 unless ``dtype``). Values: mean + std · z, z the engine's randn (one seed from
        ``generator`` or manual_seed's generator). As PyTorch's, no gradient flows to mean or std (the
        result does not require grad unless ``requires_grad``). std < 0 raises ValueError (a tensor
        std is checked when not recording for pygrad.compile, which cannot read its values)."""
        e = eng()
        tm, ts = _engines.is_tensor(mean), _engines.is_tensor(std)
        if not tm and not ts:
            m, sd = _real("normal", "mean", mean), _real("normal", "std", std)
            if not sd >= 0:
                raise PygradValueError(f"normal: expects std >= 0.0, but got std={sd}")
            if size is None:
                raise PygradTypeError("normal: with a number mean and std, size is required")
            z = e.randn(*(size if isinstance(size, (tuple, list)) else (size,)), dtype=dtype, generator=generator,
                        requires_grad=False)
            y = z if (m, sd) == (0.0, 1.0) else z * sd + m
        else:
            if size is not None:
                raise PygradTypeError("normal: size is only taken with a number mean and std")
            mt = mean if tm else None
            st = std if ts else None
            for name, t in (("mean", mt), ("std", st)):
                if t is not None and np.dtype(t.dtype).kind != "f":
                    raise PygradTypeError(f"normal: {name} must be a float tensor, got {t.dtype}")
            if st is None:
                sd = _real("normal", "std", std)
                if not sd >= 0:
                    raise PygradValueError(f"normal: expects std >= 0.0, but got std={sd}")
            elif not _recording_now() and not bool((st.numpy() >= 0).all()):
                raise PygradValueError("normal: expects all elements of std >= 0.0")
            if mt is None:
                _real("normal", "mean", mean)
            with e.no_grad():
                ref = mt if st is None else st if mt is None else mt + st
            shape = tuple(ref.shape)
            z = e.randn(*shape, dtype=dtype if dtype is not None else ref.dtype, generator=generator)
            with e.no_grad():  # no gradient to mean or std (and no detach, which pygrad.compile cannot record)
                y = (z * (st if st is not None else float(std))) + (mt if mt is not None else float(mean))
        if requires_grad:
            y.requires_grad = True
        return y

    def as_tensor(data: Any, dtype: Any = None) -> Any:
        """``data`` itself when it is already a tensor of this engine with that dtype (no copy, the
        graph kept), else a converted tensor (PyTorch's ``as_tensor``)."""
        e = eng()
        if _engines.is_tensor(data) and _engines.engine_of(data) is e:
            return data if dtype is None or np.dtype(data.dtype) == np.dtype(dtype) else data.astype(dtype)
        return e.tensor(data.numpy() if _engines.is_tensor(data) else data, dtype=dtype)

    def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype: Any = None,
                 requires_grad: bool = False) -> Any:
        """``base ** linspace(start, end, steps)``, computed in float64 and cast (PyTorch's ``logspace``)."""
        if isinstance(base, bool) or not isinstance(base, numbers.Real):
            raise PygradTypeError(f"logspace: base must be a real number, got {base!r}")
        e = eng()
        exps = linspace(e, start, end, steps, dtype=e.float64).numpy()
        with np.errstate(over="ignore"):
            vals = np.power(float(base), exps)
        return e.tensor(vals, dtype=e.float32 if dtype is None else dtype, requires_grad=requires_grad)

    return {f.__name__: f for f in (empty, zeros_like, ones_like, full_like, empty_like, rand_like, randn_like,
                                    randint_like, normal, as_tensor, logspace)}


def _close_pair(op: str, a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    a = _tensor(op, a)
    if not _engines.is_tensor(b):
        raise PygradTypeError(f"{op}: other must be a Tensor, got {type(b).__name__}")
    _engines.common(op, (a, b))
    if a.dtype != b.dtype:
        raise PygradTypeError(f"{op}: expected both tensors to have the same dtype, got {a.dtype} and {b.dtype}")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None
    return a.detach().numpy(), b.detach().numpy()


def _tolerances(op: str, rtol: Any, atol: Any) -> None:
    for what, v in (("rtol", rtol), ("atol", atol)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
            raise PygradValueError(f"{op}: {what} must be a non-negative number, got {v!r}")


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Any:
    """|a - b| ≤ atol + rtol·|b| elementwise (equal infinities are close; NaNs only with
    ``equal_nan``), broadcasting; a bool tensor, not differentiable."""
    _tolerances("isclose", rtol, atol)
    x, y = _close_pair("isclose", a, b)
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.isclose(x, y, rtol=rtol, atol=atol, equal_nan=bool(equal_nan))
    return _eng(a).tensor(np.asarray(r, dtype=bool))


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when :func:`isclose` holds for every element."""
    _tolerances("allclose", rtol, atol)
    x, y = _close_pair("allclose", a, b)
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=bool(equal_nan)))


# ---------------------------------------------------------------- reductions


def _finish(y: Any, shape: tuple[int, ...], ds: tuple[int, ...], keepdim: bool) -> Any:
    """y computed with keepdim=True: squeezed unless ``keepdim``."""
    want = tuple(s for d, s in enumerate(shape) if d not in ds)
    return y if keepdim or y.shape == want else y.reshape(want)


def _keep(op: str, keepdim: Any) -> bool:
    if not isinstance(keepdim, (bool, np.bool_)):
        raise PygradTypeError(f"{op}: keepdim must be a bool, got {keepdim!r}")
    return bool(keepdim)


def logsumexp(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """log Σ exp(x) over ``dim`` (None: all; an int or a tuple), the op ``logsumexp``:
    m + log Σ exp(x - m) with m the maximum, so it neither overflows nor underflows;
    gradient g·exp(x - y) = g·softmax(x). Over no elements: -inf."""
    x = _tensor("logsumexp", x)
    _float("logsumexp", x)
    return x._logsumexp(_dims("logsumexp", dim, x.shape), _keep("logsumexp", keepdim))


def _count(shape: tuple[int, ...], ds: tuple[int, ...]) -> int:
    return math.prod(shape[d] for d in ds)


def var(x: Any, dim: Any = None, *, correction: float = 1, keepdim: bool = False,
        unbiased: bool | None = None, _op: str = "var") -> Any:
    """Σ (x - mean)² / max(0, N - correction) over ``dim`` (None: all); ``correction=1`` is
    Bessel's (PyTorch's default), ``unbiased=False`` means ``correction=0``."""
    x = _tensor(_op, x)
    _float(_op, x)
    if unbiased is not None:
        correction = 1 if unbiased else 0
    if isinstance(correction, bool) or not isinstance(correction, numbers.Real):
        raise PygradTypeError(f"{_op}: correction must be a number, got {correction!r}")
    ds = _dims(_op, dim, x.shape)
    keepdim = _keep(_op, keepdim)
    n = _count(x.shape, ds)
    d = x - x.mean(ds, keepdims=True)
    s = (d * d).sum(ds, keepdims=True)
    denom = max(0.0, n - float(correction))
    y = s * (1.0 / denom) if denom > 0 else s * float("nan") if n == 0 else s / _const(x, 0.0)
    return _finish(y, x.shape, ds, keepdim)


def std(x: Any, dim: Any = None, *, correction: float = 1, keepdim: bool = False,
        unbiased: bool | None = None) -> Any:
    """√var (see :func:`var`); its gradient is infinite where the variance is 0."""
    return var(x, dim, correction=correction, keepdim=keepdim, unbiased=unbiased, _op="std").sqrt()


def _safe_root(s: Any, p: float) -> Any:
    """s^(1/p) with value 0 and gradient 0 where s == 0 (PyTorch's norm gradient at 0)."""
    e = _eng(s)
    zero = s == 0  # a comparison: no gradient flows through the mask
    safe = e.where(zero, 1.0, s)
    return e.where(zero, 0.0, safe ** (1.0 / p))


def norm(x: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Any:
    """The vector p-norm over ``dim`` (None: all elements), ``torch.linalg.vector_norm``'s
    semantics: p = 2 or ``'fro'``: √Σx² (the op ``norm``: one pass, the sum in float64, so a
    float32 norm neither overflows nor underflows); 1: Σ|x|; ``inf``: max|x|; ``-inf``: min|x|;
    0: the count of non-zeros; any other p > 0: (Σ|x|ᵖ)^(1/p). The gradient at x = 0 is 0."""
    x = _tensor("norm", x)
    _float("norm", x)
    if p == "fro":
        p = 2.0
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise PygradValueError(f"norm: p must be a number, 'fro', inf or -inf, got {p!r}")
    p = float(p)
    if math.isnan(p) or p < 0 and p != -math.inf:
        raise PygradValueError(f"norm: p must be positive, 0, inf or -inf, got {p}")
    ds = _dims("norm", dim, x.shape)
    keepdim = _keep("norm", keepdim)
    if math.isinf(p):
        if _count(x.shape, ds) == 0:
            raise PygradValueError(f"norm: the {'max' if p > 0 else 'min'} of an empty dim is undefined "
                                   f"(shape {x.shape}, dim {ds})")
        y = x.abs().max(ds, keepdims=True) if p > 0 else x.abs().min(ds, keepdims=True)
    elif p == 0:  # a count: no gradient
        y = (x != 0).sum(ds, keepdims=True).astype(x.dtype)
    elif p == 1:
        y = x.abs().sum(ds, keepdims=True)
    elif p == 2:  # the norm op: one pass, the sum of squares in float64
        return x._norm2(ds, keepdim)
    else:
        y = _safe_root((x.abs() ** p).sum(ds, keepdims=True), p)
    return _finish(y, x.shape, ds, keepdim)


def _to_last(x: Any, ds: tuple[int, ...]) -> tuple[Any, tuple[int, ...]]:
    """x with ``ds`` moved to the end and merged: shape (rest..., n); and the kept shape."""
    rest = [d for d in range(x.ndim) if d not in ds]
    if rest + list(ds) != list(range(x.ndim)):
        x = x.permute(*rest, *ds)
    kept = tuple(x.shape[: len(rest)])
    return x.reshape(*kept, _count(tuple(x.shape[len(rest):]), tuple(range(len(ds))))), kept


def _last(k: Any) -> tuple[Any, ...]:
    return (Ellipsis, k)


def prod(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Π x over ``dim`` (None: all; an int or a tuple), multiplied as a balanced tree of
    elementwise products, so the gradient Π_{j≠i} xⱼ is exact with zeros in x."""
    x = _tensor("prod", x)
    _float("prod", x)
    ds = _dims("prod", dim, x.shape)
    keepdim = _keep("prod", keepdim)
    y, kept = _to_last(x, ds)
    e = _eng(x)
    n = y.shape[-1]
    if n == 0:
        y = e.tensor(np.ones(kept + (1,), dtype=x.dtype))
    while n > 1:
        if n % 2:
            y = e.concatenate([y, _const(x, np.ones(kept + (1,)))], axis=-1)
            n += 1
        y = y[_last(slice(0, n // 2))] * y[_last(slice(n // 2, n))]
        n //= 2
    y = y.reshape(kept)
    if keepdim:
        return y.reshape(tuple(1 if d in ds else s for d, s in enumerate(x.shape)))
    return y


def cumsum(x: Any, dim: int) -> Any:
    """Running sum along ``dim``, the op ``cumsum``: yᵢ = Σ_{j≤i} xⱼ; gradient: the running
    sum of g from the other end."""
    x = _tensor("cumsum", x)
    _float("cumsum", x)
    return x._cumsum(_dim("cumsum", dim, x.ndim, x.shape))


def cumprod(x: Any, dim: int) -> Any:
    """Running product along ``dim``, the op ``cumprod``: yᵢ = Π_{j≤i} xⱼ; gradient yᵢ₋₁·rᵢ with
    rᵢ = gᵢ + xᵢ₊₁·rᵢ₊₁ (no division: exact with zeros in x)."""
    x = _tensor("cumprod", x)
    _float("cumprod", x)
    return x._cumprod(_dim("cumprod", dim, x.ndim, x.shape))


def _logaddexp(a: Any, b: Any) -> Any:
    """log(eᵃ + eᵇ) = m + log(e^(a-m) + e^(b-m)), m = max(a, b) taken as a constant (0 where
    infinite): the value does not depend on m, so neither does the gradient eᵃ⁻ʸ, eᵇ⁻ʸ."""
    e = _eng(a)
    m = np.maximum(a.detach().numpy(), b.detach().numpy())
    mt = e.tensor(np.where(np.isinf(m), 0, m).astype(a.dtype))
    with np.errstate(divide="ignore"):
        return ((a - mt).exp() + (b - mt).exp()).log() + mt


def logcumsumexp(x: Any, dim: int) -> Any:
    """Running log Σ exp along ``dim``: yᵢ = log Σ_{j≤i} exp(xⱼ), without overflow or underflow
    (an inclusive scan of ``logaddexp`` in ⌈log₂ n⌉ steps); gradient Σ_{i≥j} gᵢ·exp(xⱼ - yᵢ)."""
    x = _tensor("logcumsumexp", x)
    _float("logcumsumexp", x)
    d = _dim("logcumsumexp", dim, x.ndim, x.shape)
    n = x.shape[d] if x.ndim else 1
    if n <= 1:
        return clone(x)
    e = _eng(x)
    y, k = x, 1
    while k < n:
        pad_shape = list(x.shape)
        pad_shape[d] = k
        fill = _const(x, np.full(pad_shape, -np.inf))
        y = _logaddexp(y, e.concatenate([fill, y[_slice(x.ndim, d, slice(0, n - k))]], axis=d))
        k *= 2
    return y


# ---------------------------------------------------------------- PyTorch's Tensor conveniences


def _new_shape(op: str, sizes: tuple[Any, ...]) -> tuple[int, ...]:
    s = _sizes(op, sizes, "size")
    if any(n < 0 for n in s):
        raise ShapeError(f"{op}: sizes must be non-negative, got {s}")
    return s


def new_zeros(x: Any, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """Zeros of shape ``size`` with x's engine and (unless ``dtype``) dtype."""
    x = _tensor("new_zeros", x)
    return _eng(x).zeros(_new_shape("new_zeros", size), dtype=x.dtype if dtype is None else dtype,
                         requires_grad=requires_grad)


def new_ones(x: Any, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """Ones of shape ``size`` with x's engine and (unless ``dtype``) dtype."""
    x = _tensor("new_ones", x)
    return _eng(x).ones(_new_shape("new_ones", size), dtype=x.dtype if dtype is None else dtype,
                        requires_grad=requires_grad)


def new_full(x: Any, size: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Any:
    """``fill_value`` in a tensor of shape ``size`` with x's engine and (unless ``dtype``) dtype."""
    x = _tensor("new_full", x)
    return _eng(x).full(_new_shape("new_full", (size,)), fill_value, dtype=x.dtype if dtype is None else dtype,
                        requires_grad=requires_grad)


def new_empty(x: Any, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
    """A tensor of shape ``size`` with x's engine and (unless ``dtype``) dtype, zero-filled (pygrad
    never hands out uninitialised memory)."""
    x = _tensor("new_empty", x)
    return _eng(x).zeros(_new_shape("new_empty", size), dtype=x.dtype if dtype is None else dtype,
                         requires_grad=requires_grad)


def new_tensor(x: Any, data: Any, *, dtype: Any = None, requires_grad: bool = False) -> Any:
    """A new leaf holding a copy of ``data`` (a tensor's data is copied, its graph not kept), with x's
    engine and (unless ``dtype``) x's dtype."""
    x = _tensor("new_tensor", x)
    arr = np.array(data.detach().numpy() if _engines.is_tensor(data) else data)
    return _eng(x).tensor(arr, dtype=x.dtype if dtype is None else dtype, requires_grad=requires_grad)


def type_as(x: Any, other: Any) -> Any:
    """x cast to ``other``'s dtype (x itself when they agree)."""
    x, other = _tensor("type_as", x), _tensor("type_as", other)
    return x if x.dtype == other.dtype else x.to(other.dtype)


def view_as(x: Any, other: Any) -> Any:
    """x reshaped to ``other.shape``."""
    x, other = _tensor("view_as", x), _tensor("view_as", other)
    return x.reshape(tuple(other.shape))


def reshape_as(x: Any, other: Any) -> Any:
    """x reshaped to ``other.shape``."""
    x, other = _tensor("reshape_as", x), _tensor("reshape_as", other)
    return x.reshape(tuple(other.shape))


def t(x: Any) -> Any:
    """The transpose of a 2-d tensor; a 0-d or 1-d tensor is returned as is."""
    x = _tensor("t", x)
    if x.ndim > 2:
        raise ShapeError(f"t: expects a tensor of at most 2 dims, got shape {x.shape}; use transpose or mT")
    return x.permute(1, 0) if x.ndim == 2 else x


def _mT(x: Any) -> Any:
    """x with its last two dims swapped (a batch of matrices transposed)."""
    if x.ndim < 2:
        raise ShapeError(f"mT: needs at least 2 dims, got shape {x.shape}")
    perm = list(range(x.ndim))
    perm[-2], perm[-1] = perm[-1], perm[-2]
    return x.permute(*perm)


def _same(op: str, a: Any, b: Any, names: tuple[str, str] = ("input", "other")) -> None:
    _engines.common(op, (a, b))
    if a.dtype != b.dtype:
        raise PygradTypeError(f"{op}: expected {names[0]} and {names[1]} to have the same dtype, got {a.dtype} "
                              f"and {b.dtype}")


def mm(input: Any, mat2: Any) -> Any:
    """The matrix product of (n, m) and (m, p) tensors (no broadcasting)."""
    a, b = _tensor("mm", input), _tensor("mm", mat2)
    _same("mm", a, b, ("input", "mat2"))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ShapeError(f"mm: expected (n, m) and (m, p) matrices, got shapes {a.shape} and {b.shape}")
    return a @ b


def bmm(input: Any, mat2: Any) -> Any:
    """Batched matrix products of (b, n, m) and (b, m, p) tensors (no broadcasting)."""
    a, b = _tensor("bmm", input), _tensor("bmm", mat2)
    _same("bmm", a, b, ("input", "mat2"))
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ShapeError(f"bmm: expected (b, n, m) and (b, m, p) tensors, got shapes {a.shape} and {b.shape}")
    return a @ b


def mv(input: Any, vec: Any) -> Any:
    """The product of an (n, m) matrix and an (m,) vector: shape (n,)."""
    a, v = _tensor("mv", input), _tensor("mv", vec)
    _same("mv", a, v, ("input", "vec"))
    if a.ndim != 2 or v.ndim != 1 or a.shape[1] != v.shape[0]:
        raise ShapeError(f"mv: expected an (n, m) matrix and an (m,) vector, got shapes {a.shape} and {v.shape}")
    return a @ v


def _real(op: str, what: str, v: Any) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise PygradTypeError(f"{op}: {what} must be a real number, got {v!r}")
    return float(v)


def addmm(input: Any, mat1: Any, mat2: Any, *, beta: float = 1, alpha: float = 1) -> Any:
    """β·input + α·(mat1 @ mat2), ``input`` broadcast to (n, p); with β = 0 ``input`` is ignored
    (its NaNs do not propagate, as PyTorch)."""
    x = _tensor("addmm", input)
    beta, alpha = _real("addmm", "beta", beta), _real("addmm", "alpha", alpha)
    p = mm(mat1, mat2)
    _same("addmm", x, p, ("input", "mat1"))
    try:
        if np.broadcast_shapes(x.shape, p.shape) != p.shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"addmm: input of shape {x.shape} does not broadcast to the product's shape "
                         f"{p.shape}") from None
    prod_ = p if alpha == 1 else p * alpha
    if beta == 0:
        return prod_
    return (x if beta == 1 else x * beta) + prod_


def _bound(op: str, x: Any, b: Any, what: str) -> Any:
    """A clamp bound: None, a number, or a tensor of x's engine and dtype broadcasting with x."""
    if b is None:
        return None
    if not _engines.is_tensor(b):
        return _real(op, what, b)
    _same(op, x, b, ("input", what))
    try:
        np.broadcast_shapes(x.shape, b.shape)
    except ValueError:
        raise ShapeError(f"{op}: {what} of shape {b.shape} does not broadcast with input {x.shape}") from None
    return b


def _clamp(op: str, x: Any, lo: Any, hi: Any) -> Any:
    x = _tensor(op, x)
    lo, hi = _bound(op, x, lo, "min"), _bound(op, x, hi, "max")
    if lo is None and hi is None:
        raise PygradValueError(f"{op}: at least one of min and max must be given")
    if not (_engines.is_tensor(lo) or _engines.is_tensor(hi)):
        return x.clamp(lo, hi)
    e = _eng(x)
    # min(max(x, lo), hi): the gradient reaches x where lo ≤ x ≤ hi, a bound where it is taken
    y = x if lo is None else e.where(x >= lo, x, lo if _engines.is_tensor(lo) else _const(x, lo))
    return y if hi is None else e.where(y <= hi, y, hi if _engines.is_tensor(hi) else _const(x, hi))


def clamp_min(x: Any, min: Any) -> Any:
    """max(x, min) (``clamp(x, min=min)``); ``min`` a number or a tensor broadcasting with x."""
    return _clamp("clamp_min", x, min, None)


def clamp_max(x: Any, max: Any) -> Any:
    """min(x, max) (``clamp(x, max=max)``); ``max`` a number or a tensor broadcasting with x."""
    return _clamp("clamp_max", x, None, max)


def clip(x: Any, min: Any = None, max: Any = None) -> Any:
    """An alias of ``clamp``: min(max(x, min), max), the bounds numbers or tensors."""
    return _clamp("clip", x, min, max)


def _extreme(op: str, x: Any, dim: Any, keepdim: Any, top: bool) -> Any:
    x = _tensor(op, x)
    ds = _dims(op, None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim, x.shape)
    keepdim = _keep(op, keepdim)
    if _count(x.shape, ds) == 0:
        raise PygradValueError(f"{op}: the {'max' if top else 'min'} of an empty dim is undefined "
                               f"(shape {x.shape}, dim {ds})")
    if x.dtype.kind != "f":  # integers and bools: no gradient to route
        v = x.detach().numpy()
        return _eng(x).tensor((np.max if top else np.min)(v, axis=ds, keepdims=keepdim))
    if not ds:  # a 0-d tensor: a copy of itself
        return x._copy()
    # the max/min reduction op: the gradient split evenly between ties (PyTorch's amax/amin),
    # between the NaNs where the extreme is NaN
    return x.max(axis=ds, keepdims=keepdim) if top else x.min(axis=ds, keepdims=keepdim)


def amax(x: Any, dim: Any = (), keepdim: bool = False) -> Any:
    """The maximum over ``dim`` (an int or a tuple; () or None: all), the gradient split evenly
    between equal maxima."""
    return _extreme("amax", x, dim, keepdim, True)


def amin(x: Any, dim: Any = (), keepdim: bool = False) -> Any:
    """The minimum over ``dim`` (an int or a tuple; () or None: all), the gradient split evenly
    between equal minima."""
    return _extreme("amin", x, dim, keepdim, False)


def _test(op: str, x: Any, f: Any, other: bool) -> Any:
    x = _tensor(op, x)
    v = x.detach().numpy()
    return _eng(x).tensor(np.asarray(f(v) if v.dtype.kind in "fc" else np.full(v.shape, other), dtype=bool))


def isnan(x: Any) -> Any:
    """A bool tensor: True where x is NaN."""
    return _test("isnan", x, np.isnan, False)


def isinf(x: Any) -> Any:
    """A bool tensor: True where x is ±inf."""
    return _test("isinf", x, np.isinf, False)


def isfinite(x: Any) -> Any:
    """A bool tensor: True where x is neither NaN nor ±inf."""
    return _test("isfinite", x, np.isfinite, True)


def nan_to_num(x: Any, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Any:
    """x with NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (defaults: 0, the
    dtype's largest and lowest finite value); gradient 1 where x is finite, else 0."""
    x = _tensor("nan_to_num", x)
    if x.dtype.kind != "f":  # integers and bools hold no NaN or infinity
        return clone(x)
    fi = np.finfo(x.dtype)
    vals = [_real("nan_to_num", w, v) for w, v in (("nan", nan), ("posinf", fi.max if posinf is None else posinf),
                                                    ("neginf", fi.min if neginf is None else neginf))]
    v = x.detach().numpy()
    if np.isfinite(v).all():
        return x * 1.0
    e = _eng(x)
    fill = np.where(np.isnan(v), vals[0], np.where(v > 0, vals[1], vals[2])).astype(x.dtype)
    return e.where(e.tensor(np.isfinite(v)), x, _const(x, fill))


def _where_method(x: Any, condition: Any, other: Any) -> Any:
    """``x.where(condition, other)``: x where ``condition``, else ``other``."""
    x = _tensor("where", x)
    return _eng(x).where(condition, x, other)


def neg(x: Any) -> Any:
    """-x."""
    return -_tensor("neg", x)


def _ndim(x: Any) -> int:
    """The number of dims (PyTorch's ``dim()``)."""
    return int(x.ndim)


def nelement(x: Any) -> int:
    """The number of elements (``numel()``)."""
    return int(x.numel())


def element_size(x: Any) -> int:
    """The size of one element in bytes."""
    return int(np.dtype(x.dtype).itemsize)


def is_contiguous(x: Any, memory_format: Any = None) -> bool:
    """True: pygrad tensors always hold their own row-major storage (see ``contiguous``)."""
    return True


def cpu(x: Any) -> Any:
    """x itself: pygrad tensors live in host memory."""
    return x


def masked_select(x: Any, mask: Any) -> Any:
    """The elements of x where the bool ``mask`` is True (both broadcast), as a 1-d tensor in
    row-major order; gradient: scattered back."""
    x = _tensor("masked_select", x)
    m = mask.detach().numpy() if _engines.is_tensor(mask) else np.asarray(mask)
    if _engines.is_tensor(mask):
        _engines.common("masked_select", (x, mask))
    if m.dtype != np.bool_:
        raise PygradTypeError(f"masked_select: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        shape = np.broadcast_shapes(x.shape, m.shape)
    except ValueError:
        raise ShapeError(f"masked_select: the shapes of input {x.shape} and mask {m.shape} do not broadcast") from None
    xb = broadcast_to(x, shape)
    return _gather(xb.reshape(-1), np.flatnonzero(np.broadcast_to(m, shape)))


def repeat_interleave(x: Any, repeats: Any, dim: int | None = None, *, output_size: int | None = None) -> Any:
    """Each element (``dim`` None: of the flattened x) or each slice along ``dim`` repeated ``repeats``
    times (an int, or one count per slice); gradient: the copies summed."""
    x = _tensor("repeat_interleave", x)
    if dim is None:
        x, d = x.reshape(-1), 0
    else:
        if x.ndim == 0:
            x = x.reshape(1)
        d = _dim("repeat_interleave", dim, x.ndim, x.shape)
    n = x.shape[d]
    r = repeats.detach().numpy() if _engines.is_tensor(repeats) else np.asarray(repeats)
    if r.dtype.kind not in "iu" or r.ndim > 1:
        raise PygradTypeError(f"repeat_interleave: repeats must be an int or a 1-d integer tensor, got {repeats!r}")
    if r.ndim == 1 and r.size not in (1, n):
        raise ShapeError(f"repeat_interleave: {r.size} repeats for dim {d} of size {n}")
    if (r < 0).any():
        raise PygradValueError(f"repeat_interleave: repeats must be non-negative, got {r.tolist()}")
    idx = np.repeat(_ids(n), r.reshape(-1) if r.ndim else int(r))
    if output_size is not None and output_size != idx.size:
        raise PygradValueError(f"repeat_interleave: output_size {output_size} does not match the result's "
                               f"{idx.size} slices")
    return _take(x, [idx if i == d else _ids(s) for i, s in enumerate(x.shape)])


def _binary(op: str, a: Any, b: Any) -> tuple[Any, Any]:
    a, b = _tensor(op, a), _tensor(op, b)
    _same(op, a, b)
    _float(op, a)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None
    return a, b


def logaddexp(input: Any, other: Any) -> Any:
    """log(eᵃ + eᵇ), without overflow (see :func:`logcumsumexp`); gradients eᵃ⁻ʸ and eᵇ⁻ʸ."""
    a, b = _binary("logaddexp", input, other)
    return _logaddexp(a, b)


def hypot(input: Any, other: Any) -> Any:
    """√(a² + b²), scaled by the constant s = max(|a|, |b|) so that it neither overflows nor
    underflows: s·√((a/s)² + (b/s)²); gradients a/y and b/y."""
    a, b = _binary("hypot", input, other)
    s = np.maximum(np.abs(a.detach().numpy()), np.abs(b.detach().numpy()))
    s = np.where((s > 0) & np.isfinite(s), s, 1).astype(a.dtype)
    st = _const(a, s)
    u, v = a / st, b / st
    return (u * u + v * v).sqrt() * st


def diag(x: Any, diagonal: int = 0) -> Any:
    """A 1-d x: the square matrix with x on diagonal ``diagonal`` (above the main one if positive),
    zeros elsewhere; a 2-d x: its diagonal ``diagonal`` as a 1-d tensor."""
    x = _tensor("diag", x)
    k = _int("diag", "diagonal", diagonal)
    if x.ndim == 2:
        return globals()["diagonal"](x, k)
    if x.ndim != 1:
        raise ShapeError(f"diag: expects a 1-d or 2-d tensor, got shape {x.shape}")
    n = x.shape[0]
    m = n + abs(k)
    off = np.full(m * m, n, dtype=np.int64)
    i = _ids(n)
    off[(i + max(-k, 0)) * m + i + max(k, 0)] = i
    xz = _eng(x).concatenate([x, _const(x, np.zeros(1))], axis=0)
    return _gather(xz, off).reshape(m, m)


def cross(input: Any, other: Any, dim: int | None = None) -> Any:
    """The cross product of 3-vectors along ``dim`` (None: -1, ``torch.linalg.cross``'s default),
    the two tensors broadcast: (a₁b₂ - a₂b₁, a₂b₀ - a₀b₂, a₀b₁ - a₁b₀)."""
    a, b = _tensor("cross", input), _tensor("cross", other)
    _same("cross", a, b)
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"cross: shapes {a.shape} and {b.shape} do not broadcast") from None
    if not shape:
        raise ShapeError("cross: expects tensors of at least 1 dim")
    d = _dim("cross", -1 if dim is None else dim, len(shape), shape)
    if a.shape != shape:
        a = broadcast_to(a, shape)
    if b.shape != shape:
        b = broadcast_to(b, shape)
    if shape[d] != 3:
        raise ShapeError(f"cross: dim {d} must have size 3, got shapes {input.shape} and {other.shape}")
    n = len(shape)
    A = [a[_slice(n, d, slice(i, i + 1))] for i in range(3)]
    B = [b[_slice(n, d, slice(i, i + 1))] for i in range(3)]
    parts = [A[1] * B[2] - A[2] * B[1], A[2] * B[0] - A[0] * B[2], A[0] * B[1] - A[1] * B[0]]
    return _eng(a).concatenate(parts, axis=d)


def index_add(x: Any, dim: int, index: Any, source: Any, *, alpha: float = 1) -> Any:
    """x with ``alpha·source`` added along ``dim`` at rows ``index`` (a 1-d integer tensor, one per
    slice of ``source`` along ``dim``; repeated indices accumulate)."""
    x, src = _tensor("index_add", x), _tensor("index_add", source)
    _same("index_add", x, src, ("input", "source"))
    d = _dim("index_add", dim, x.ndim, x.shape)
    idx = index.detach().numpy() if _engines.is_tensor(index) else np.asarray(index)
    if idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise PygradTypeError(f"index_add: index must be a 1-d integer tensor, got dtype {idx.dtype} and "
                              f"shape {idx.shape}")
    idx = idx.reshape(-1).astype(np.int64)
    xs, ss = tuple(x.shape) or (1,), tuple(src.shape) or (1,)
    if len(ss) != len(xs) or ss[d] != idx.size or any(ss[i] != xs[i] for i in range(len(xs)) if i != d):
        raise ShapeError(f"index_add: source of shape {src.shape} must match input {x.shape} except in dim {d}, "
                         f"which must have the index's length {idx.size}")
    if idx.size and (idx.min() < -xs[d] or idx.max() >= xs[d]):
        raise PygradIndexError(f"index_add: index out of range for dim {d} of size {xs[d]}")
    idx = idx % max(xs[d], 1)
    full = np.broadcast_to(idx.reshape([-1 if i == d else 1 for i in range(len(ss))]), ss)
    alpha = _real("index_add", "alpha", alpha)
    s = src.reshape(ss) if alpha == 1 else src.reshape(ss) * alpha
    y = x.reshape(xs).scatter_add(d, _eng(x).tensor(np.ascontiguousarray(full)), s)
    return y.reshape(x.shape)


def swapaxes(x: Any, axis0: int, axis1: int) -> Any:
    """x with dims ``axis0`` and ``axis1`` exchanged (``transpose``; alias ``swapdims``)."""
    x = _tensor("swapaxes", x)
    a, b = _dim("swapaxes", axis0, x.ndim, x.shape), _dim("swapaxes", axis1, x.ndim, x.shape)
    if x.ndim < 2 or a == b:
        return x
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return x.permute(*perm)


swapdims = swapaxes


def _compare(op: str, sym: str) -> Any:
    def f(input: Any, other: Any) -> Any:
        x = _tensor(op, input)
        return {"eq": x.__eq__, "ne": x.__ne__, "lt": x.__lt__, "le": x.__le__, "gt": x.__gt__,
                "ge": x.__ge__}[op](other)

    f.__name__ = f.__qualname__ = op
    f.__doc__ = f"input {sym} other elementwise (broadcasting), a bool tensor: the operator's method form."
    return f


eq, ne, lt, le, gt, ge = (_compare(o, s) for o, s in (("eq", "=="), ("ne", "!="), ("lt", "<"), ("le", "<="),
                                                      ("gt", ">"), ("ge", ">=")))


def equal(input: Any, other: Any) -> bool:
    """True when the two tensors have one shape and equal elements (NaN is not equal to NaN)."""
    a, b = _tensor("equal", input), _tensor("equal", other)
    _engines.common("equal", (a, b))
    return a.shape == b.shape and bool(np.array_equal(a.detach().numpy(), b.detach().numpy()))


def _logical_not(x: Any) -> Any:
    """The elementwise logical not, a bool tensor."""
    return _eng(x).logical_not(_tensor("logical_not", x))


def sgn(x: Any) -> Any:
    """sign(x) (for real tensors PyTorch's ``sgn`` is ``sign``)."""
    return _tensor("sgn", x).sign()


def frac(x: Any) -> Any:
    """x - trunc(x), the fractional part with x's sign; gradient 1."""
    x = _tensor("frac", x)
    _float("frac", x)
    return x - x.trunc()


def _scale(t: Any, s: float) -> Any:
    return t if s == 1 else t * s


def addcmul(input: Any, tensor1: Any, tensor2: Any, *, value: float = 1) -> Any:
    """input + value · tensor1 · tensor2 (broadcasting)."""
    x, a, b = _tensor("addcmul", input), _tensor("addcmul", tensor1), _tensor("addcmul", tensor2)
    _same("addcmul", x, a, ("input", "tensor1"))
    _same("addcmul", x, b, ("input", "tensor2"))
    return x + _scale(a * b, _real("addcmul", "value", value))


def addcdiv(input: Any, tensor1: Any, tensor2: Any, *, value: float = 1) -> Any:
    """input + value · tensor1 / tensor2 (broadcasting; float tensors)."""
    x, a, b = _tensor("addcdiv", input), _tensor("addcdiv", tensor1), _tensor("addcdiv", tensor2)
    _same("addcdiv", x, a, ("input", "tensor1"))
    _same("addcdiv", x, b, ("input", "tensor2"))
    _float("addcdiv", a)
    return x + _scale(a / b, _real("addcdiv", "value", value))


def _addprod(op: str, x: Any, p: Any, beta: Any, alpha: Any) -> Any:
    x = _tensor(op, x)
    beta, alpha = _real(op, "beta", beta), _real(op, "alpha", alpha)
    _same(op, x, p)
    try:
        if np.broadcast_shapes(x.shape, p.shape) != p.shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"{op}: input of shape {x.shape} does not broadcast to the product's shape "
                         f"{p.shape}") from None
    return _scale(p, alpha) if beta == 0 else _scale(x, beta) + _scale(p, alpha)


def baddbmm(input: Any, batch1: Any, batch2: Any, *, beta: float = 1, alpha: float = 1) -> Any:
    """β·input + α·bmm(batch1, batch2) (β = 0 ignores input)."""
    return _addprod("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addbmm(input: Any, batch1: Any, batch2: Any, *, beta: float = 1, alpha: float = 1) -> Any:
    """β·input + α·Σ_b batch1[b] @ batch2[b] (β = 0 ignores input)."""
    return _addprod("addbmm", input, bmm(batch1, batch2).sum(0), beta, alpha)


def addmv(input: Any, mat: Any, vec: Any, *, beta: float = 1, alpha: float = 1) -> Any:
    """β·input + α·mat @ vec (β = 0 ignores input)."""
    return _addprod("addmv", input, mv(mat, vec), beta, alpha)


def inner(input: Any, other: Any) -> Any:
    """Σ over the last dims: y[i..., j...] = Σₖ a[i..., k] b[j..., k] (a product with a 0-d operand)."""
    a, b = _tensor("inner", input), _tensor("inner", other)
    _same("inner", a, b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.shape[-1] != b.shape[-1]:
        raise ShapeError(f"inner: the last dims of shapes {a.shape} and {b.shape} differ")
    n = a.shape[-1]
    y = a.reshape(-1, n) @ b.reshape(-1, n).permute(1, 0)
    return y.reshape(*a.shape[:-1], *b.shape[:-1])


def kron(input: Any, other: Any) -> Any:
    """The Kronecker product: y[i·q + k, ...] = a[i, ...] b[k, ...] per dim (the fewer dims padded in front)."""
    a, b = _tensor("kron", input), _tensor("kron", other)
    _same("kron", a, b)
    n = max(a.ndim, b.ndim)
    a, b = _lead(a, n), _lead(b, n)
    y = a.reshape(*(v for s in a.shape for v in (s, 1))) * b.reshape(*(v for s in b.shape for v in (1, s)))
    return y.reshape(*(p * q for p, q in zip(a.shape, b.shape)))


def trace(x: Any) -> Any:
    """Σᵢ x[i, i] of a 2-d tensor."""
    x = _tensor("trace", x)
    if x.ndim != 2:
        raise ShapeError(f"trace: expects a 2-d tensor, got shape {x.shape}")
    return diagonal(x).sum()


def select(x: Any, dim: int, index: int) -> Any:
    """The slice at ``index`` of dim ``dim`` (that dim removed)."""
    x = _tensor("select", x)
    if x.ndim == 0:
        raise ShapeError("select: a 0-d tensor has no dim to select from")
    d = _dim("select", dim, x.ndim, x.shape)
    i = _int("select", "index", index)
    if not -x.shape[d] <= i < x.shape[d]:
        raise PygradIndexError(f"select: index {i} is out of range for dim {d} of size {x.shape[d]}")
    return x[_slice(x.ndim, d, i)]


def rot90(x: Any, k: int = 1, dims: Sequence[int] = (0, 1)) -> Any:
    """x rotated by k·90° in the plane of ``dims``, from the first dim towards the second."""
    x = _tensor("rot90", x)
    k = _int("rot90", "k", k) % 4
    if not isinstance(dims, (tuple, list)) or len(dims) != 2:
        raise ShapeError(f"rot90: dims must be 2 dims, got {dims!r}")
    if x.ndim < 2:
        raise ShapeError(f"rot90: expects at least 2 dims, got shape {x.shape}")
    a, b = _dim("rot90", dims[0], x.ndim, x.shape), _dim("rot90", dims[1], x.ndim, x.shape)
    if a == b:
        raise ShapeError(f"rot90: dims must differ, got {tuple(dims)}")
    if k == 1:
        return swapaxes(flip(x, b), a, b)
    if k == 2:
        return flip(x, (a, b))
    if k == 3:
        return swapaxes(flip(x, a), a, b)
    return clone(x)


def diag_embed(x: Any, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Any:
    """Each vector along x's last dim placed on diagonal ``offset`` of a new square matrix in dims
    ``dim1``, ``dim2`` of the result (zeros elsewhere)."""
    x = _tensor("diag_embed", x)
    k = _int("diag_embed", "offset", offset)
    nd = x.ndim + 1
    d1, d2 = _dim("diag_embed", dim1, nd), _dim("diag_embed", dim2, nd)
    if d1 == d2:
        raise ShapeError(f"diag_embed: dim1 and dim2 are the same dim {d1}")
    if x.ndim == 0:
        x = x.reshape(1)
        nd = 2
    *lead, n = x.shape
    m = n + abs(k)
    batch = math.prod(lead)
    i = _ids(n)
    cell = np.full((batch, m * m), batch * n, dtype=np.int64)
    cell[:, (i + max(-k, 0)) * m + i + max(k, 0)] = _ids(batch).reshape(-1, 1) * n + i
    xz = _eng(x).concatenate([x.reshape(-1), _const(x, np.zeros(1))], axis=0)
    y = _gather(xz, cell).reshape(*lead, m, m)
    return y if (d1, d2) == (nd - 2, nd - 1) else movedim(y, (-2, -1), (d1, d2))


def diagflat(x: Any, offset: int = 0) -> Any:
    """The flattened x on diagonal ``offset`` of a square matrix."""
    return diag(flatten(_tensor("diagflat", x)), offset)


def dist(input: Any, other: Any, p: float = 2) -> Any:
    """‖input - other‖_p over all elements (broadcasting)."""
    a, b = _tensor("dist", input), _tensor("dist", other)
    _same("dist", a, b)
    return norm(a - b, p)


def xlogy(input: Any, other: Any) -> Any:
    """x·log(y), and 0 where x = 0 (unless y is NaN), broadcasting; gradients log(y) and x/y (0 where x = 0)."""
    x, y = _binary("xlogy", input, other)
    e = _eng(x)
    zero = e.tensor(np.broadcast_to((x.detach().numpy() == 0) & ~np.isnan(y.detach().numpy()),
                                    np.broadcast_shapes(x.shape, y.shape)).copy())
    ys = e.where(zero, _const(x, 1.0), y)
    return e.where(zero, _const(x, 0.0), x * ys.log())


def logit(x: Any, eps: float | None = None) -> Any:
    """log(z / (1 - z)) with z = x, or x clamped to [eps, 1 - eps] when ``eps`` is given."""
    x = _tensor("logit", x)
    _float("logit", x)
    z = x if eps is None else x.clamp(_real("logit", "eps", eps), 1.0 - float(eps))
    return (z / (1.0 - z)).log()


def sinc(x: Any) -> Any:
    """sin(πx) / (πx), 1 at x = 0 (gradient 0 there)."""
    x = _tensor("sinc", x)
    _float("sinc", x)
    e = _eng(x)
    zero = e.tensor(x.detach().numpy() == 0)
    px = e.where(zero, _const(x, 1.0), x) * math.pi
    return e.where(zero, _const(x, 1.0), px.sin() / px)


def nansum(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Σ x over ``dim`` with NaNs counted as 0."""
    x = _tensor("nansum", x)
    _float("nansum", x)
    ds = _dims("nansum", dim, x.shape)
    keepdim = _keep("nansum", keepdim)
    e = _eng(x)
    y = e.where(isnan(x), _const(x, 0.0), x).sum(ds, keepdims=True)
    return _finish(y, x.shape, ds, keepdim)


def nanmean(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """The mean over ``dim`` of the elements that are not NaN (NaN where all are)."""
    x = _tensor("nanmean", x)
    _float("nanmean", x)
    ds = _dims("nanmean", dim, x.shape)
    keepdim = _keep("nanmean", keepdim)
    cnt = (~np.isnan(x.detach().numpy())).sum(axis=ds, keepdims=True)
    with np.errstate(divide="ignore"):
        inv = np.where(cnt > 0, 1.0 / np.maximum(cnt, 1), np.nan)
    y = nansum(x, ds, True) * _const(x, inv)
    return _finish(y, x.shape, ds, keepdim)


MedianResult = namedtuple("median", ["values", "indices"])
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])


def _order_stat(op: str, x: Any, dim: int, keepdim: Any, pick: Any) -> Any:
    """The element of rank ``pick(n)`` (0-based, ascending; a NaN in a line is its result, as PyTorch) along
    ``dim``, gathered (the gradient goes to it), with its int64 index."""
    x = _tensor(op, x)
    _float(op, x)
    keepdim = _keep(op, keepdim)
    d = _dim(op, dim, x.ndim, x.shape)
    xs = x if x.ndim else x.reshape(1)
    n = xs.shape[d]
    if n == 0:
        raise PygradIndexError(f"{op}: dim {d} of shape {x.shape} is empty")
    k = pick(n)
    v = xs.detach().numpy()
    idx = np.take(np.argsort(v, axis=d, kind="stable"), [k], axis=d)
    nan = np.isnan(v)
    if nan.any():
        idx = np.where(nan.any(axis=d, keepdims=True), np.expand_dims(nan.argmax(axis=d), d), idx)
    e = _eng(x)
    vals = e.take_along_dim(xs, e.tensor(idx), d)
    if not keepdim or not x.ndim:
        vals, idx = squeeze(vals, d), np.squeeze(idx, d)
    return vals, e.tensor(np.asarray(idx, dtype=np.int64))


def median(x: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """The lower median (rank ⌊(n-1)/2⌋); over all elements (``dim`` None) a 0-d tensor, along ``dim`` a
    (values, indices) pair. A line holding NaN has median NaN. The gradient goes to the chosen element."""
    if dim is None:
        x = _tensor("median", x)
        return _order_stat("median", x.reshape(-1), 0, False, lambda n: (n - 1) // 2)[0]
    return MedianResult(*_order_stat("median", x, dim, keepdim, lambda n: (n - 1) // 2))


def kthvalue(x: Any, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """The k-th smallest element along ``dim`` (k from 1), as a (values, indices) pair."""
    x = _tensor("kthvalue", x)
    k = _int("kthvalue", "k", k)

    def pick(n: int) -> int:
        if not 1 <= k <= n:
            raise PygradIndexError(f"kthvalue: k {k} is out of range for a dim of size {n}")
        return k - 1

    return KthvalueResult(*_order_stat("kthvalue", x, dim, keepdim, pick))


_QUANTILE_MODES = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(x: Any, q: Any, dim: int | None = None, keepdim: bool = False, *, interpolation: str = "linear") -> Any:
    """The q-quantiles of x along ``dim`` (None: all elements): with s the sorted values and r = q·(n - 1),
    s[⌊r⌋] + (r - ⌊r⌋)(s[⌈r⌉] - s[⌊r⌋]) (``linear``), or s[⌊r⌋], s[⌈r⌉], their mean, s[round(r)]. ``q`` a
    number in [0, 1] or a 1-d tensor (its dim comes first in the result). A line holding NaN gives NaN."""
    op = "quantile"
    x = _tensor(op, x)
    _float(op, x)
    keepdim = _keep(op, keepdim)
    if interpolation not in _QUANTILE_MODES:
        raise PygradValueError(f"{op}: interpolation must be one of {', '.join(_QUANTILE_MODES)}, "
                               f"got {interpolation!r}")
    qv = q.detach().numpy() if _engines.is_tensor(q) else np.asarray(q, dtype=np.float64)
    if qv.ndim > 1 or qv.dtype.kind not in "fiu" or not ((qv >= 0) & (qv <= 1)).all():
        raise PygradValueError(f"{op}: q must be a number or a 1-d tensor of numbers in [0, 1], got {q!r}")
    if dim is None:
        xs, d = x.reshape(-1), 0
    else:
        d = _dim(op, dim, x.ndim, x.shape)
        xs = x if x.ndim else x.reshape(1)
    n = xs.shape[d]
    if n == 0:
        raise PygradIndexError(f"{op}: cannot take a quantile of an empty dim (shape {x.shape})")
    e = _eng(x)
    s = e.sort(xs, d).values
    r = qv.reshape(-1).astype(np.float64) * (n - 1)
    lo, hi = np.floor(r).astype(np.int64), np.ceil(r).astype(np.int64)
    if interpolation == "nearest":
        lo = hi = np.round(r).astype(np.int64)
    elif interpolation == "lower":
        hi = lo
    elif interpolation == "higher":
        lo = hi
    s_lo, s_hi = index_select_(s, d, lo), index_select_(s, d, hi)
    if interpolation == "linear":
        shape = [1] * s.ndim
        shape[d] = -1
        y = s_lo + (s_hi - s_lo) * _const(x, (r - np.floor(r)).reshape(shape))
    elif interpolation == "midpoint":
        y = (s_lo + s_hi) * 0.5
    else:
        y = s_lo
    nan = np.isnan(xs.detach().numpy()).any(axis=d, keepdims=True)
    if nan.any():
        y = e.where(e.tensor(np.broadcast_to(nan, y.shape).copy()), _const(x, np.nan), y)
    y = movedim(y, d, 0)  # (len(q), rest...)
    if keepdim:
        kept = [1] * x.ndim if dim is None else [1 if i == d else s_ for i, s_ in enumerate(x.shape)]
        y = y.reshape(len(r), *kept)
    else:
        y = y.reshape(len(r), *([] if dim is None else [s_ for i, s_ in enumerate(x.shape) if i != d]))
    return y.reshape(tuple(y.shape[1:])) if qv.ndim == 0 else y


def index_select_(x: Any, d: int, idx: np.ndarray) -> Any:
    return _take(x, [idx if i == d else _ids(s) for i, s in enumerate(x.shape)])


def _index_mask(op: str, x: Any, dim: int, index: Any) -> tuple[int, np.ndarray]:
    d = _dim(op, dim, x.ndim, x.shape)
    idx = index.detach().numpy() if _engines.is_tensor(index) else np.asarray(index)
    if idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise PygradTypeError(f"{op}: index must be a 1-d integer tensor, got dtype {idx.dtype} and shape {idx.shape}")
    idx = idx.reshape(-1).astype(np.int64)
    n = x.shape[d] if x.ndim else 1
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise PygradIndexError(f"{op}: index out of range for dim {d} of size {n}")
    return d, idx % max(n, 1)


def index_fill(x: Any, dim: int, index: Any, value: Any) -> Any:
    """x with the slices ``index`` along ``dim`` set to ``value`` (a number or a 0-d tensor)."""
    x = _tensor("index_fill", x)
    d, idx = _index_mask("index_fill", x, dim, index)
    sel = np.zeros(x.shape[d] if x.ndim else 1, dtype=bool)
    sel[idx] = True
    mask = sel.reshape([-1 if i == d else 1 for i in range(x.ndim)]) if x.ndim else sel.reshape(())
    e = _eng(x)
    fill = value if _engines.is_tensor(value) else _const(x, _real("index_fill", "value", value))
    return e.where(e.tensor(np.broadcast_to(mask, x.shape).copy()), fill, x)


def index_copy(x: Any, dim: int, index: Any, source: Any) -> Any:
    """x with slice ``index[i]`` along ``dim`` replaced by slice i of ``source`` (the last wins on repeats)."""
    x, src = _tensor("index_copy", x), _tensor("index_copy", source)
    _same("index_copy", x, src, ("input", "source"))
    d, idx = _index_mask("index_copy", x, dim, index)
    if src.ndim != x.ndim or src.shape[d] != idx.size or any(
            src.shape[i] != x.shape[i] for i in range(x.ndim) if i != d):
        raise ShapeError(f"index_copy: source of shape {src.shape} must match input {x.shape} except in dim {d}, "
                         f"which must have the index's length {idx.size}")
    n = x.shape[d]
    pos = np.zeros(n, dtype=np.int64)
    pos[idx] = np.arange(idx.size)
    sel = np.zeros(n, dtype=bool)
    sel[idx] = True
    e = _eng(x)
    if idx.size == 0:
        return clone(x)
    moved = _take(src, [pos if i == d else _ids(s) for i, s in enumerate(src.shape)])
    mask = np.broadcast_to(sel.reshape([-1 if i == d else 1 for i in range(x.ndim)]), x.shape).copy()
    return e.where(e.tensor(mask), moved, x)


def _prob(op: str, p: Any) -> float:
    """A probability argument, checked to lie in [0, 1]."""
    v = _real(op, "p", p)
    if not 0.0 <= v <= 1.0:
        raise PygradValueError(f"{op}: p must lie in [0, 1], got {v!r}")
    return v


def bernoulli(x: Any, p: float | None = None, *, generator: Any = None) -> Any:
    """0/1 samples of x's shape and dtype: y[i] = 1 with probability x[i] (or ``p`` for all), the engine's
    bernoulli op (y[i] = u(seed, i) < x[i], u the uniform of docs/semantics.md) with one seed drawn from
    ``generator`` or the generator ``manual_seed`` seeds. Probabilities outside [0, 1] or NaN raise
    ValueError. Not differentiable: the result never requires grad. Recordable by pygrad.compile."""
    x = _tensor("bernoulli", x)
    _float("bernoulli", x)
    if p is not None:
        x = _eng(x).full(tuple(x.shape), _prob("bernoulli", p), dtype=x.dtype)
    return x._bernoulli(generator)


def _random_into(op: str, x: Any, y: Any) -> Any:
    """x's values := y's, outside the graph (the in-place random fills); returns x."""
    with _eng(x).no_grad():
        x.copy_(y)
    return x


def _uniform_(x: Any, a: float = 0.0, b: float = 1.0, *, generator: Any = None) -> Any:
    """Fill x in place with U(a, b) samples, outside the graph: x = a + (b − a) · u, u the engine's rand
    in x's dtype (one seed from ``generator`` or manual_seed's generator); returns x. Recordable."""
    _float("uniform_", x)
    a, b = _real("uniform_", "a", a), _real("uniform_", "b", b)
    if not a <= b:
        raise PygradValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    u = _eng(x).rand(*x.shape, dtype=x.dtype, generator=generator)
    return _random_into("uniform_", x, u if (a, b) == (0.0, 1.0) else u * (b - a) + a)


def _normal_(x: Any, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Any:
    """Fill x in place with N(mean, std²) samples, outside the graph: x = mean + std · z, z the engine's
    randn in x's dtype; returns x. Recordable."""
    _float("normal_", x)
    mean, std = _real("normal_", "mean", mean), _real("normal_", "std", std)
    if not std >= 0:
        raise PygradValueError(f"normal_: std must be non-negative, got {std}")
    z = _eng(x).randn(*x.shape, dtype=x.dtype, generator=generator)
    return _random_into("normal_", x, z if (mean, std) == (0.0, 1.0) else z * std + mean)


def _bernoulli_(x: Any, p: Any = 0.5, *, generator: Any = None) -> Any:
    """Fill x in place with 0/1 samples, 1 with probability ``p`` (a number, or a tensor broadcast to x's
    shape), outside the graph; returns x. Recordable."""
    _float("bernoulli_", x)
    e = _eng(x)
    if _engines.is_tensor(p):
        with e.no_grad():
            probs = p.astype(x.dtype).broadcast_to(tuple(x.shape)).contiguous()
    else:
        probs = e.full(tuple(x.shape), _prob("bernoulli_", p), dtype=x.dtype)
    return _random_into("bernoulli_", x, probs._bernoulli(generator))


# ---------------------------------------------------------------- devices and .data, for PyTorch code


def _to(x: Any, *args: Any, **kwargs: Any) -> Any:
    """PyTorch's ``Tensor.to``: ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` (its
    dtype and device), with ``dtype=``, ``device=``, ``copy=``, ``non_blocking=`` (ignored) and
    ``memory_format=`` (ignored). The device must be the CPU. Returns x itself when nothing changes
    (unless ``copy=True``); a cast is differentiable."""
    dtype, dev = kwargs.pop("dtype", None), kwargs.pop("device", None)
    copy = bool(kwargs.pop("copy", False))
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise PygradTypeError(f"to: unexpected keyword argument {next(iter(kwargs))!r}")
    if len(args) > 2:
        raise PygradTypeError(f"to: expected at most 2 positional arguments, got {len(args)}")
    for a in args:
        if _engines.is_tensor(a):
            dtype, dev = a.dtype, "cpu"
        elif _device.is_device(a):
            dev = a
        else:
            dtype = a
    if dev is not None:
        _device.check("to", dev)
    y = x if dtype is None else x.astype(dtype)
    return y.clone() if copy and y is x else y


def _type(x: Any, dtype: Any = None) -> Any:
    """``type()``: the tensor's type name (``'pygrad.FloatTensor'`` ...); ``type(dtype)``: x cast."""
    if dtype is None:
        names = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
                 "int32": "IntTensor", "bool": "BoolTensor"}
        return f"pygrad.{names[np.dtype(x.dtype).name]}"
    return _to(x, dtype)


def _cuda(x: Any, *args: Any, **kwargs: Any) -> Any:
    """Always raises: pygrad runs on the CPU."""
    raise PygradRuntimeError("cuda: pygrad runs on the CPU only (pygrad.cuda.is_available() is False)")


def _ndimension(x: Any) -> int:
    """The number of dims (``ndim``)."""
    return int(x.ndim)


def _stride(x: Any, dim: Any = None) -> Any:
    """The strides in elements of x's row-major (contiguous) layout, or one dim's."""
    shape = tuple(x.shape)
    st = tuple(math.prod(shape[i + 1:]) for i in range(len(shape)))
    if dim is None:
        return st
    return st[_dim("stride", dim, x.ndim)]


def _sum_to_size(x: Any, *size: Any) -> Any:
    """x summed to ``size``, a shape x broadcasts from (PyTorch's ``sum_to_size``)."""
    want = _sizes("sum_to_size", size, "size")
    shape = tuple(x.shape)
    try:
        ok = np.broadcast_shapes(want, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"sum_to_size: size {want} is not expandable to the tensor's shape {shape}")
    lead = len(shape) - len(want)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(want) if n == 1 and shape[lead + i] != 1)
    y = x.sum(axis=axes, keepdims=True) if axes else x
    return y.reshape(want)


def _device_of(x: Any) -> Any:
    """The CPU: pygrad's tensors live in host memory."""
    return _device.CPU


def _is_cuda(x: Any) -> bool:
    """False."""
    return False


def _data_get(x: Any) -> Any:
    """A tensor sharing x's storage, cut from the graph (``detach()``): in-place updates through it
    change x without being recorded, as PyTorch's ``.data``."""
    return x.detach()


def _data_set(x: Any, value: Any) -> None:
    """``x.data = value``: x's values become value's, outside the graph (same shape and dtype)."""
    if not _engines.is_tensor(value):
        raise PygradTypeError(f"data: expected a Tensor, got {type(value).__name__}")
    if tuple(value.shape) != tuple(x.shape) or value.dtype != x.dtype:
        raise ShapeError(f"data: pygrad assigns .data in place, so the new value must have the tensor's shape "
                         f"{tuple(x.shape)} and dtype {x.dtype}, got {tuple(value.shape)} {value.dtype}")
    x.detach().copy_(value.detach())


# ---------------------------------------------------------------- the engines' names

METHODS: dict[str, Any] = {
    "squeeze": squeeze, "unsqueeze": unsqueeze, "flatten": flatten, "unflatten": unflatten,
    "expand": expand, "expand_as": expand_as, "broadcast_to": broadcast_to, "movedim": movedim,
    "moveaxis": moveaxis, "narrow": narrow, "split": split, "chunk": chunk, "unbind": unbind,
    "clone": clone, "contiguous": contiguous, "flip": flip, "roll": roll, "repeat": repeat, "tile": tile,
    "diagonal": diagonal, "tril": tril, "triu": triu, "dot": dot, "outer": outer, "isclose": isclose,
    "allclose": allclose, "logsumexp": logsumexp, "var": var, "std": std, "norm": norm, "prod": prod,
    "cumsum": cumsum, "cumprod": cumprod, "logcumsumexp": logcumsumexp,
    "new_zeros": new_zeros, "new_ones": new_ones, "new_full": new_full, "new_empty": new_empty,
    "new_tensor": new_tensor, "type_as": type_as, "view_as": view_as, "reshape_as": reshape_as, "t": t,
    "mm": mm, "bmm": bmm, "mv": mv, "addmm": addmm, "clamp_min": clamp_min, "clamp_max": clamp_max, "clip": clip,
    "amax": amax, "amin": amin, "isnan": isnan, "isinf": isinf, "isfinite": isfinite, "nan_to_num": nan_to_num,
    "where": _where_method, "neg": neg, "dim": _ndim, "nelement": nelement, "element_size": element_size,
    "is_contiguous": is_contiguous, "cpu": cpu, "masked_select": masked_select,
    "repeat_interleave": repeat_interleave, "logaddexp": logaddexp, "hypot": hypot, "diag": diag, "cross": cross,
    "index_add": index_add, "swapaxes": swapaxes, "swapdims": swapdims, "eq": eq, "ne": ne, "lt": lt, "le": le,
    "gt": gt, "ge": ge, "equal": equal, "logical_not": _logical_not, "sgn": sgn, "frac": frac, "addcmul": addcmul,
    "addcdiv": addcdiv, "baddbmm": baddbmm, "addbmm": addbmm, "addmv": addmv, "inner": inner, "kron": kron,
    "trace": trace, "select": select, "rot90": rot90, "diag_embed": diag_embed, "diagflat": diagflat, "dist": dist,
    "xlogy": xlogy, "logit": logit, "sinc": sinc, "nansum": nansum, "nanmean": nanmean, "median": median,
    "kthvalue": kthvalue, "quantile": quantile, "index_fill": index_fill, "index_copy": index_copy,
    "bernoulli": bernoulli, "to": _to, "type": _type, "cuda": _cuda, "ndimension": _ndimension, "stride": _stride,
    "sum_to_size": _sum_to_size, "uniform_": _uniform_, "normal_": _normal_, "bernoulli_": _bernoulli_,
}
"""Tensor methods: ``x.flip(0)`` is ``flip(x, 0)``."""

_METHOD_ONLY = ("contiguous", "expand", "expand_as", "repeat", "new_zeros", "new_ones", "new_full", "new_empty",
                "new_tensor", "type_as", "view_as", "reshape_as", "where", "neg", "dim", "nelement", "element_size",
                "is_contiguous", "cpu", "logical_not", "to", "type", "cuda", "ndimension", "stride", "sum_to_size",
                "uniform_", "normal_", "bernoulli_")

FUNCTIONS: dict[str, Any] = {**{k: v for k, v in METHODS.items() if k not in _METHOD_ONLY},
                             "einsum": einsum, "ger": ger}
"""Module functions of both engines (``pygrad.flip``, ``pygrad.einsum`` ...), the ones PyTorch has as
functions (not ``repeat``, ``expand``, ``contiguous``); ``linspace`` is bound per engine."""


def _method(name: str, fn: Any) -> Any:
    if name in ("repeat", "expand"):
        def m(self: Any, *sizes: Any) -> Any:
            return fn(self, *sizes)
    else:
        def m(self: Any, *args: Any, **kw: Any) -> Any:
            return fn(self, *args, **kw)
    m.__name__ = m.__qualname__ = name
    m.__doc__ = fn.__doc__
    return m


PROPERTIES: dict[str, Any] = {"mT": _mT, "device": _device_of, "is_cuda": _is_cuda}
"""Tensor properties: ``x.mT`` is ``_mT(x)``."""


def install(tensor_class: type) -> None:
    """Bind :data:`METHODS` and :data:`PROPERTIES` on an engine's Tensor class."""
    for name, fn in METHODS.items():
        setattr(tensor_class, name, _method(name, fn))
    for name, fn in PROPERTIES.items():
        setattr(tensor_class, name, property(fn, doc=fn.__doc__))
    tensor_class.data = property(_data_get, _data_set, doc=_data_get.__doc__)  # type: ignore[attr-defined]


def linspace_of(engine_name: str) -> Any:
    """``linspace`` bound to one engine (its ``tensor`` makes the result)."""
    from importlib import import_module

    def linspace_(start: float, end: float, steps: int, *, dtype: Any = None, requires_grad: bool = False) -> Any:
        return linspace(import_module(engine_name), start, end, steps, dtype=dtype, requires_grad=requires_grad)

    linspace_.__name__ = linspace_.__qualname__ = "linspace"
    linspace_.__doc__ = linspace.__doc__
    return linspace_
